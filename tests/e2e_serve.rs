//! `sgops serve` end to end: a local OIDC issuer, moto behind it, and the seed's API as its
//! callers use it: tokens, grants, the allow-list, bodies, AWS's answers, the audit trail,
//! key rotation, an unreachable AWS, graceful shutdown, and API Gateway events in Lambda.

mod serve_support;
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use serve_support::*;
use support::*;

const ALLOW: &str = r#"{"authorize_security_group_ingress","describe_security_group_rules","revoke_security_group_ingress"}"#;

/// Two accounts (one group in `app`), an allow-list, an issuer with an RSA and an EC key.
struct World {
    repo: Repo,
    acct: String,
    other: String,
    ec2: aws_sdk_ec2::Client,
    group: String,
    issuer: Issuer,
    rsa: Key,
    ec: Key,
}

async fn world() -> World {
    let (rsa, ec) = (Key::rsa("rsa-1"), Key::ec("ec-1"));
    let issuer = Issuer::start(&[&rsa, &ec]).await;
    let acct = account_id();
    let other = account_id();
    let serve = format!(
        "serve:\n  issuer: {}\n  audience: {AUDIENCE}\n  clients:\n    - subject: app-1\n      accounts: [app]\n      actions: [authorize_security_group_ingress, describe_security_group_rules, revoke_security_group_ingress, create_tags]\n    - subject: reader\n      accounts: [\"*\"]\n      actions: [describe_security_group_rules]\n",
        issuer.uri()
    );
    let repo = Repo::new(&[("app", &acct), ("other", &other)], &serve);
    repo.allow(ALLOW).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    World {
        repo,
        acct,
        other,
        ec2,
        group,
        issuer,
        rsa,
        ec,
    }
}

impl World {
    fn serve(&self) -> Server {
        self.serve_via(moto_url())
    }

    fn serve_via(&self, endpoint: &str) -> Server {
        let mut cmd = self
            .repo
            .sgops_command(endpoint, &["serve", "--listen", "127.0.0.1:0"]);
        cmd.env("RUST_LOG", "sgops=info");
        Server::start(cmd)
    }

    fn token(&self, sub: &str) -> String {
        self.rsa.token(&self.issuer.claims(sub))
    }

    fn authorize_body(&self, port: u16, cidr: &str) -> String {
        format!(
            r#"{{"GroupId": "{}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": {port}, "ToPort": {port}, "IpRanges": [{{"CidrIp": "{cidr}", "Description": "Partner callbacks"}}]}}]}}"#,
            self.group
        )
    }
}

fn route(account: &str, region: &str, service: &str, action: &str) -> String {
    format!("/v1/accounts/{account}/regions/{region}/services/{service}/actions/{action}")
}

async fn post(s: &Server, path: &str, token: Option<&str>, body: &str) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    send(
        "POST",
        &format!("{}{path}", s.url),
        &headers,
        body.as_bytes().to_vec(),
    )
    .await
}

/// The error shape: the status, `errorCode`, and the message under both keys.
fn assert_error(a: &Answer, status: u16, code: &str, message: &str) {
    assert_eq!(a.status, status, "{a:?}");
    let b = a.json();
    assert_eq!(b["statusCode"], status, "{a:?}");
    assert_eq!(b["errorCode"], code, "{a:?}");
    assert_eq!(b["errorMessage"], b["errorMsg"], "{a:?}");
    let m = b["errorMessage"].as_str().unwrap_or_default();
    assert!(m.starts_with(message), "{message:?} in {a:?}");
}

/// The audit lines so far, once at least `n` have been read from the server's output (they
/// are written as each answer leaves, and read by another thread).
fn audit_lines_at_least(s: &Server, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let lines = audit_lines(s);
        if lines.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn audit_lines(s: &Server) -> Vec<Value> {
    s.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
        .collect()
}

#[tokio::test]
async fn an_allowed_call_creates_the_rule_and_answers_in_the_seeds_shape() {
    let w = world().await;
    let s = w.serve();
    let token = w.token("app-1");
    let a = post(
        &s,
        &route(
            "app",
            "us-east-1",
            "ec2",
            "authorize_security_group_ingress",
        ),
        Some(&token),
        &w.authorize_body(443, "203.0.113.0/24"),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let b = a.json();
    assert_eq!(b["statusCode"], 200);
    assert_eq!(
        b["successMsg"],
        "API action has been successfully completed"
    );
    let rule = &b["response"]["SecurityGroupRules"][0];
    assert_eq!(rule["FromPort"], 443);
    let live = rules(&w.ec2, &w.group).await;
    assert!(
        live.iter()
            .any(|r| !r.egress && r.from == 443 && r.peer.contains("203.0.113.0/24")),
        "the rule exists in AWS: {live:?}"
    );

    // By account id too; the same call again is EC2's duplicate, a 500 with its code.
    let again = post(
        &s,
        &route(
            &w.acct,
            "us-east-1",
            "ec2",
            "authorize_security_group_ingress",
        ),
        Some(&token),
        &w.authorize_body(443, "203.0.113.0/24"),
    )
    .await;
    assert_error(
        &again,
        500,
        "InvalidPermission.Duplicate",
        "InvalidPermission.Duplicate: ",
    );

    // An ES256 token works as well as an RS256 one.
    let es = w.ec.token(&w.issuer.claims("reader"));
    let d = post(
        &s,
        &route("app", "us-east-1", "ec2", "describe_security_group_rules"),
        Some(&es),
        &format!(
            r#"{{"Filters": [{{"Name": "group-id", "Values": ["{}"]}}]}}"#,
            w.group
        ),
    )
    .await;
    assert_eq!(d.status, 200, "{d:?}");
    assert!(
        d.json()["response"]["SecurityGroupRules"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );

    // One audit line per request; never the token or the body.
    let lines = audit_lines_at_least(&s, 3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let first = &lines[0];
    assert_eq!(first["client"], "app-1");
    assert_eq!(first["account"], "app");
    assert_eq!(first["account_id"], w.acct.as_str());
    assert_eq!(first["region"], "us-east-1");
    assert_eq!(first["action"], "authorize_security_group_ingress");
    assert_eq!(first["status"], 200);
    assert!(first["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(
        first["aws_request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{first}"
    );
    assert!(first["time"].as_str().unwrap().contains('T'));
    assert_eq!(lines[1]["status"], 500);
    assert_eq!(lines[2]["client"], "reader");
    for text in [s.stdout(), s.stderr()] {
        assert!(
            !text.contains(&token) && !text.contains(&es),
            "a token was logged"
        );
        assert!(!text.contains("Partner callbacks"), "a body was logged");
        assert!(!text.contains("testing"), "a credential was logged");
    }
}

#[tokio::test]
async fn every_bad_token_is_a_401_that_says_nothing_more() {
    let w = world().await;
    let s = w.serve();
    let path = route("app", "us-east-1", "ec2", "describe_security_group_rules");
    let claims = w.issuer.claims("app-1");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        c
    };
    let stranger = Key::rsa("rsa-1"); // same kid, another key
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("not-a-token".into())),
        (
            "expired beyond the leeway",
            Some(w.rsa.token(&with(&|c| c["exp"] = json!(now() - 120)))),
        ),
        (
            "not yet valid",
            Some(w.rsa.token(&with(&|c| c["nbf"] = json!(now() + 120)))),
        ),
        (
            "no exp",
            Some(w.rsa.token(&with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }))),
        ),
        (
            "another issuer",
            Some(
                w.rsa
                    .token(&with(&|c| c["iss"] = json!("https://evil.example.com"))),
            ),
        ),
        (
            "another audience",
            Some(w.rsa.token(&with(&|c| c["aud"] = json!("api://other")))),
        ),
        (
            "no sub",
            Some(w.rsa.token(&with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }))),
        ),
        ("alg none", Some(none_token("rsa-1", &claims))),
        (
            "HS256 signed with the RSA public key",
            Some(hs256_token("rsa-1", &w.rsa.public_bytes(), &claims)),
        ),
        (
            "HS256 signed with the EC public key",
            Some(hs256_token("ec-1", &w.ec.public_bytes(), &claims)),
        ),
        (
            "signed by another key with a known kid",
            Some(stranger.token(&claims)),
        ),
        ("unknown kid", Some(Key::rsa("nope").token(&claims))),
        (
            "ES256 header on an RSA key",
            Some(w.ec.token_with(&json!({"alg": "ES256", "kid": "rsa-1"}), &claims)),
        ),
        (
            "RS384",
            Some(
                w.rsa
                    .token_with(&json!({"alg": "RS384", "kid": "rsa-1"}), &claims),
            ),
        ),
        (
            "tampered claims",
            Some({
                let t = w.token("reader");
                let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
                parts[1] = base64_claims(&with(&|c| c["sub"] = json!("app-1")));
                parts.join(".")
            }),
        ),
    ];
    for (what, token) in &cases {
        let a = post(&s, &path, token.as_deref(), "{}").await;
        assert_eq!(a.status, 401, "{what}: {a:?}");
        assert_eq!(
            a.json(),
            json!({"statusCode": 401, "errorCode": "Unauthorized", "errorMessage": "Unauthorized", "errorMsg": "Unauthorized"}),
            "{what}"
        );
        assert_eq!(
            a.headers.get("www-authenticate").unwrap(),
            "Bearer",
            "{what}"
        );
    }
    let a = send(
        "POST",
        &format!("{}{path}", s.url),
        &[("authorization", "Basic YTpi")],
        "{}",
    )
    .await;
    assert_eq!(a.status, 401, "Basic auth");

    // Within the leeway passes; an audience array holding ours passes.
    for c in [
        with(&|c| c["exp"] = json!(now() - 30)),
        with(&|c| c["nbf"] = json!(now() + 30)),
        with(&|c| c["aud"] = json!(["api://other", AUDIENCE])),
    ] {
        let a = post(&s, &path, Some(&w.rsa.token(&c)), "{}").await;
        assert_eq!(a.status, 200, "{c}: {a:?}");
    }
    // The reasons are in the log, for operators; nothing reached AWS for a 401.
    let lines = audit_lines_at_least(&s, cases.len() + 4);
    assert_eq!(lines.len(), cases.len() + 4, "one audit line per request");
    let log = s.stderr();
    assert!(
        log.contains("ExpiredSignature") || log.contains("expired"),
        "{log}"
    );
    assert!(log.contains("InvalidAudience"), "{log}");
    assert!(
        lines
            .iter()
            .filter(|l| l["status"] == 401)
            .all(|l| l["client"].is_null() && l["aws_request_id"].is_null())
    );
}

fn base64_claims(c: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string())
}

#[tokio::test]
async fn refusals_come_in_the_contracts_order_with_its_statuses() {
    let w = world().await;
    let s = w.serve();
    let app = w.token("app-1");
    let reader = w.token("reader");
    let body = w.authorize_body(8443, "198.51.100.0/24");
    let authorize = |account: &str, region: &str| {
        route(account, region, "ec2", "authorize_security_group_ingress")
    };

    // 404: account, region (before the grant is looked at).
    assert_error(
        &post(&s, &authorize("nope", "us-east-1"), Some(&reader), &body).await,
        404,
        "AccountNotFound",
        "No account for the project_id",
    );
    assert_error(
        &post(&s, &authorize("app", "mars-east-1"), Some(&app), &body).await,
        404,
        "RegionNotFound",
        "Please enter a valid region in the url path",
    );
    // Encoded slashes and dots in the path are names like any other: not found.
    for p in [
        "/v1/accounts/app%2F..%2Fother/regions/us-east-1/services/ec2/actions/describe_security_group_rules",
        "/v1/accounts/%2E%2E/regions/us-east-1/services/ec2/actions/describe_security_group_rules",
    ] {
        assert_eq!(post(&s, p, Some(&reader), "{}").await.status, 404, "{p}");
    }
    // 403: the account, the action, a subject with no grant at all.
    assert_error(
        &post(&s, &authorize("other", "us-east-1"), Some(&app), &body).await,
        403,
        "Forbidden",
        "this client may not call account other",
    );
    assert_error(
        &post(&s, &authorize("app", "us-east-1"), Some(&reader), &body).await,
        403,
        "Forbidden",
        "this client may not run authorize_security_group_ingress",
    );
    assert_error(
        &post(
            &s,
            &authorize("app", "us-east-1"),
            Some(&w.token("stranger")),
            &body,
        )
        .await,
        403,
        "Forbidden",
        "this client may not call the API",
    );
    // 400: the allow-list (create_tags is granted but not allow-listed), an invalid service.
    assert_error(
        &post(
            &s,
            &route("app", "us-east-1", "ec2", "create_tags"),
            Some(&app),
            "{}",
        )
        .await,
        400,
        "ActionNotAllowed",
        "Action create_tags is not an allowed action for the API",
    );
    let s3 = post(
        &s,
        &route("app", "us-east-1", "s3", "describe_security_group_rules"),
        Some(&reader),
        "{}",
    )
    .await;
    assert_error(
        &s3,
        400,
        "InvalidService",
        "Service s3 is not an allowed action for the API",
    );
    // 400: the body, every problem with its JSON path.
    let bad = format!(
        r#"{{"GroupId": "{}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": "443", "ToPort": 443, "Bogus": 1}}]}}"#,
        w.group
    );
    let a = post(&s, &authorize("app", "us-east-1"), Some(&app), &bad).await;
    assert_error(
        &a,
        400,
        "InvalidRequestBody",
        "Invalid request body: IpPermissions[0]",
    );
    assert!(
        a.json()["errors"][0]["path"]
            .as_str()
            .unwrap()
            .starts_with("IpPermissions[0]"),
        "{a:?}"
    );
    // The guardrails of rule files: SSH to the world, also split in halves.
    let open = format!(
        r#"{{"GroupId": "{}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{{"CidrIp": "0.0.0.0/1"}}, {{"CidrIp": "128.0.0.0/1"}}]}}]}}"#,
        w.group
    );
    assert_error(
        &post(&s, &authorize("app", "us-east-1"), Some(&app), &open).await,
        400,
        "GuardrailViolation",
        "Refused by guardrails",
    );
    // Hostile bodies: malformed, wrong types, huge numbers, deep nesting, not UTF-8.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (what, b) in [
        ("malformed", "{\"GroupId\": ".to_string()),
        ("wrong type", "[]".to_string()),
        (
            "huge number",
            format!(
                r#"{{"GroupId": "{}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": 1e400, "ToPort": 99999999999999999999999}}]}}"#,
                w.group
            ),
        ),
        (
            "deep nesting",
            format!(r#"{{"GroupId": {}}}"#, &deep[..60_000]),
        ),
    ] {
        let a = post(&s, &authorize("app", "us-east-1"), Some(&app), &b).await;
        assert_error(&a, 400, "InvalidRequestBody", "Invalid request body");
        let _ = what;
    }
    let latin1 = send(
        "POST",
        &format!("{}{}", s.url, authorize("app", "us-east-1")),
        &[("authorization", &format!("Bearer {app}"))],
        vec![b'{', 0xff, b'}'],
    )
    .await;
    assert_error(
        &latin1,
        400,
        "InvalidRequestBody",
        "Invalid request body: the body is not UTF-8",
    );
    // 413 over 64 KiB, with or without a length; 431 for a header over 8 KiB.
    let big = format!(
        r#"{{"GroupId": "{}", "x": "{}"}}"#,
        w.group,
        "a".repeat(70 * 1024)
    );
    assert_error(
        &post(&s, &authorize("app", "us-east-1"), Some(&app), &big).await,
        413,
        "PayloadTooLarge",
        "Request body over 64 KiB",
    );
    // Without a Content-Length (chunked), the limit holds while the body is read.
    let chunked = raw_chunked(&s, &authorize("app", "us-east-1"), &app, 70 * 1024);
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert!(
        chunked.contains("\"errorCode\":\"PayloadTooLarge\""),
        "{chunked}"
    );
    let long = "x".repeat(9 * 1024);
    let a = send(
        "POST",
        &format!("{}{}", s.url, authorize("app", "us-east-1")),
        &[("x-long", &long)],
        "{}",
    )
    .await;
    assert_error(
        &a,
        431,
        "RequestHeaderFieldsTooLarge",
        "A request header is over 8 KiB",
    );
    // Nothing above reached EC2: the group holds only its default egress rule.
    assert_eq!(rules(&w.ec2, &w.group).await.len(), 1);

    // Other routes: health without a token, the OpenAPI document, the rest 404/405 in shape.
    assert_eq!(
        send("GET", &format!("{}/healthz", s.url), &[], "")
            .await
            .status,
        200
    );
    let doc = send("GET", &format!("{}/openapi.json", s.url), &[], "")
        .await
        .json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(
        doc["paths"]["/v1/accounts/{account}/regions/{region}/services/{service}/actions/{action}"]
            ["post"]
            .is_object()
    );
    assert_error(
        &send("GET", &format!("{}/v2/x", s.url), &[], "").await,
        404,
        "RouteNotFound",
        "No such route",
    );
    assert_error(
        &send(
            "GET",
            &format!("{}{}", s.url, authorize("app", "us-east-1")),
            &[],
            "",
        )
        .await,
        405,
        "MethodNotAllowed",
        "Method not allowed",
    );
    let _ = (&w.acct, &w.other);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_unknown_kids_refetch_at_most_once_a_minute() {
    let w = world().await;
    let s = w.serve();
    let path = route("app", "us-east-1", "ec2", "describe_security_group_rules");
    let fetched = w.issuer.jwks_fetches().await;
    assert_eq!(fetched, 1, "the keys are read once at start");
    // The issuer rotates: a new key, the old one withdrawn.
    let next = Key::ec("ec-2");
    w.issuer.publish(&[&next]).await;
    let a = post(
        &s,
        &path,
        Some(&next.token(&w.issuer.claims("reader"))),
        "{}",
    )
    .await;
    assert_eq!(a.status, 200, "the new kid is fetched: {a:?}");
    assert_eq!(
        w.issuer.jwks_fetches().await,
        1,
        "one fetch after the reset"
    );
    // Made-up kids do not make sgops hammer the issuer.
    for i in 0..5 {
        let t = Key::rsa(&format!("made-up-{i}")).token(&w.issuer.claims("reader"));
        assert_eq!(post(&s, &path, Some(&t), "{}").await.status, 401);
    }
    assert_eq!(
        w.issuer.jwks_fetches().await,
        1,
        "no refetch within the minute"
    );
}

#[tokio::test]
async fn an_unreachable_aws_is_a_503_not_a_hang() {
    let w = world().await;
    let proxy = FaultProxy::start(&[]);
    let s = w.serve_via(&proxy.url);
    let path = route("app", "us-east-1", "ec2", "describe_security_group_rules");
    let token = w.token("reader");
    assert_eq!(
        post(&s, &path, Some(&token), "{}").await.status,
        200,
        "warm"
    );
    drop(proxy);
    let start = Instant::now();
    let a = post(&s, &path, Some(&token), "{}").await;
    assert_error(&a, 503, "ServiceUnavailable", "AWS could not be reached");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let w = world().await;
    let proxy = FaultProxy::start(&["--latency-ms", "1500"]);
    let mut s = w.serve_via(&proxy.url);
    let url = format!(
        "{}{}",
        s.url,
        route("app", "us-east-1", "ec2", "describe_security_group_rules")
    );
    let auth = format!("Bearer {}", w.token("reader"));
    let inflight =
        tokio::spawn(
            async move { send("POST", &url, &[("authorization", auth.as_str())], "{}").await },
        );
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.terminate();
    let a = inflight.await.expect("request task");
    assert_eq!(a.status, 200, "{a:?}\n{}", s.stderr());
    let status = s.child.wait().expect("wait");
    assert!(status.success(), "{status:?}\n{}", s.stderr());
    assert!(
        s.stderr().contains("sgops serve: stopped"),
        "{}",
        s.stderr()
    );
}

#[tokio::test]
async fn serve_refuses_to_start_without_its_section_or_its_issuer() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    let (code, _, err) = repo.sgops(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("sgops.yaml has no `serve` section"), "{err}");

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let repo = Repo::new(
        &[("app", &acct)],
        &format!(
            "serve:\n  issuer: http://{dead}\n  audience: a\n  clients:\n    - subject: s\n      accounts: [\"*\"]\n      actions: [create_tags]\n"
        ),
    );
    let (code, _, err) = repo.sgops(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot read the issuer's signing keys"),
        "{err}"
    );
}

/// API Gateway REST (v1) proxy event, with the stage `prod` as API Gateway sends it.
fn rest_event(path: &str, token: &str, body: &str) -> Value {
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "POST",
        "headers": {"Authorization": format!("Bearer {token}"), "Content-Type": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Authorization": [format!("Bearer {token}")], "Content-Type": ["application/json"], "Host": ["abc123.execute-api.us-east-1.amazonaws.com"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "us4z18", "stage": "prod",
            "requestId": "41b45ea3-70b5-11e6-b7bd-69b5aaebc7d9", "requestTimeEpoch": 1583798639428u64,
            "identity": {"sourceIp": "10.1.2.3", "userAgent": "caller/1.0"},
            "resourcePath": "/{proxy+}", "httpMethod": "POST", "apiId": "abc123",
            "path": format!("/prod{path}")
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// API Gateway HTTP API (v2) event.
fn http_event(path: &str, token: &str, body: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": format!("Bearer {token}"), "content-type": "application/json", "host": "xyz.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "xyz", "domainName": "xyz.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "xyz",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.1.2.3", "userAgent": "caller/1.0"},
            "requestId": "MIZRNhJtIAMEMDw=", "routeKey": "$default", "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000", "timeEpoch": 1796040000000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A stand-in for the Lambda Runtime API: hands out `events` in order on `next`, then
/// holds the next `next` open; records what sgops answered to each.
async fn runtime_api(events: &[Value]) -> wiremock::MockServer {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, ResponseTemplate};
    let server = wiremock::MockServer::start().await;
    let deadline = (std::time::SystemTime::now() + Duration::from_secs(60))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    for (i, e) in events.iter().enumerate() {
        Mock::given(method("GET"))
            .and(path("/2018-06-01/runtime/invocation/next"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("Lambda-Runtime-Aws-Request-Id", format!("inv-{i}").as_str())
                    .insert_header("Lambda-Runtime-Deadline-Ms", deadline.as_str())
                    .insert_header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:sgops",
                    )
                    .set_body_json(e),
            )
            .up_to_n_times(1)
            .with_priority(1 + i as u8)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/2018-06-01/runtime/invocation/next"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .with_priority(100)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/2018-06-01/runtime/invocation/[^/]+/(response|error)$",
        ))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn in_lambda_the_same_routes_answer_rest_and_http_api_events() {
    let w = world().await;
    let token = w.token("app-1");
    let reader = w.token("reader");
    let authorize = route(
        "app",
        "us-east-1",
        "ec2",
        "authorize_security_group_ingress",
    );
    let events = [
        rest_event(&authorize, &token, &w.authorize_body(9443, "192.0.2.0/24")),
        http_event(
            &route("other", "us-east-1", "ec2", "describe_security_group_rules"),
            &reader,
            "{}",
        ),
        http_event(&authorize, "forged", "{}"),
    ];
    let rt = runtime_api(&events).await;
    let addr = rt.uri().trim_start_matches("http://").to_string();
    let mut cmd = w.repo.sgops_command(moto_url(), &["serve"]);
    cmd.env("AWS_LAMBDA_RUNTIME_API", &addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "sgops")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/sgops")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("start sgops serve in Lambda mode");
    let start = Instant::now();
    let answers = loop {
        let posted: Vec<wiremock::Request> = rt
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method == wiremock::http::Method::POST)
            .collect();
        if posted.len() >= events.len() || start.elapsed() > Duration::from_secs(60) {
            break posted;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        answers.len(),
        events.len(),
        "answers: {answers:?}\n{stderr}"
    );
    let by_id = |id: &str| -> Value {
        let r = answers
            .iter()
            .find(|r| r.url.path() == format!("/2018-06-01/runtime/invocation/{id}/response"))
            .unwrap_or_else(|| panic!("no response for {id}: {answers:?}\n{stderr}"));
        serde_json::from_slice(&r.body).expect("response JSON")
    };
    // REST API: the rule is created, the answer is the seed's, in API Gateway's response shape.
    let rest = by_id("inv-0");
    assert_eq!(rest["statusCode"], 200, "{rest}\n{stderr}");
    let body: Value = serde_json::from_str(rest["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["successMsg"],
        "API action has been successfully completed"
    );
    assert!(rules(&w.ec2, &w.group).await.iter().any(|r| r.from == 9443));
    // HTTP API: the grant is checked (reader may describe anywhere), and a bad token is 401.
    let http = by_id("inv-1");
    assert_eq!(http["statusCode"], 200, "{http}");
    let forged = by_id("inv-2");
    assert_eq!(forged["statusCode"], 401, "{forged}");
    let body: Value = serde_json::from_str(forged["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["errorMessage"], "Unauthorized");
    // The audit lines are written in Lambda too (to CloudWatch through standard output).
    let audit = String::from_utf8_lossy(&out.stdout);
    assert_eq!(audit.lines().count(), 3, "{audit}");
    assert!(audit.contains("\"status\":401"), "{audit}");
}

/// Sends a chunked POST of `size` bytes by hand (no Content-Length) and returns the raw answer.
fn raw_chunked(s: &Server, path: &str, token: &str, size: usize) -> String {
    use std::io::{Read, Write};
    let addr = s.url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    c.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'a'; 8 * 1024];
    let mut sent = 0;
    while sent < size {
        // The server may answer and close before the whole body is sent.
        if c.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .is_err()
            || c.write_all(&chunk).is_err()
            || c.write_all(b"\r\n").is_err()
        {
            break;
        }
        sent += chunk.len();
    }
    let _ = c.write_all(b"0\r\n\r\n");
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

#[tokio::test]
async fn a_warm_request_costs_one_ec2_call() {
    let w = world().await;
    let proxy = FaultProxy::start(&[]);
    let s = w.serve_via(&proxy.url);
    let token = w.token("reader");
    for account in ["app", "other", "app", "other", "app"] {
        let path = route(account, "us-east-1", "ec2", "describe_security_group_rules");
        assert_eq!(post(&s, &path, Some(&token), "{}").await.status, 200);
    }
    // Another region of a known account: no new AssumeRole.
    let path = route("app", "eu-west-1", "ec2", "describe_security_group_rules");
    assert_eq!(post(&s, &path, Some(&token), "{}").await.status, 200);
    assert_eq!(
        proxy.stats()["by_action"],
        json!({"AssumeRole": 2, "GetParameter": 1, "DescribeSecurityGroupRules": 6}),
        "one role per account, one allow-list read, one EC2 call per request"
    );
}

#[tokio::test]
async fn the_server_assumes_the_write_role() {
    let w = world().await;
    let cfg = std::fs::read_to_string(w.repo.path().join("sgops.yaml")).expect("read");
    std::fs::write(
        w.repo.path().join("sgops.yaml"),
        format!("read_role_name: sgops-reader\n{cfg}"),
    )
    .expect("write sgops.yaml");
    // The read role denied: the server does not use it.
    let proxy = FaultProxy::start(&["--deny-role", "sgops-reader"]);
    let s = w.serve_via(&proxy.url);
    let a = post(
        &s,
        &route(
            "app",
            "us-east-1",
            "ec2",
            "authorize_security_group_ingress",
        ),
        Some(&w.token("app-1")),
        &w.authorize_body(443, "203.0.113.0/24"),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}\n{}", s.stderr());
    let writer = format!("arn:aws:iam::{}:role/sgops", w.acct);
    assert_eq!(proxy.stats()["assumed_roles"], json!({ writer.clone(): 1 }));
    assert!(
        ingress(&w.ec2, &w.group)
            .await
            .iter()
            .any(|r| r.from == 443)
    );
}
