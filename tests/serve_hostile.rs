//! Hostile requests through the real `sgops::serve::router`, in process: thousands of random
//! requests (encoded slashes and dots in every path segment, non-UTF-8, wrong methods, missing
//! or bad tokens, headers over 8 KiB, malformed JSON, wrong types, huge numbers, deep nesting,
//! unknown keys, bodies over 64 KiB) must each get an answer in the seed's shape with one of
//! the statuses of SPEC section 12, and must reach AWS only when the request is one that
//! `invoke` admits. AWS is a local stand-in that serves the allow-list (SSM GetParameter) and
//! records every other call (STS, EC2), refusing it; the OIDC issuer is the e2e tests' one.

mod serve_support;

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use serve_support::{AUDIENCE, Issuer, Key};
use tower::ServiceExt as _;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ALLOWED: &[&str] = &[
    "authorize_security_group_ingress",
    "describe_security_group_rules",
    "revoke_security_group_ingress",
    "create_tags",
    "run_instances",
];
const GROUP: &str = "sg-0123456789abcdef0";

/// The AWS stand-in: GetParameter answers the allow-list; every other call is refused with
/// AccessDenied (a 4xx, not retried) and counted.
async fn aws_stand_in() -> MockServer {
    let server = MockServer::start().await;
    let value = format!(
        "{{{}}}",
        ALLOWED
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    Mock::given(method("POST"))
        .and(header("x-amz-target", "AmazonSSM.GetParameter"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_string(
                    json!({"Parameter": {"Name": "/vpcx/aws/boto3-proxy/allowed-actions/ec2",
                    "Type": "String", "Value": value, "Version": 1}})
                    .to_string(),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("content-type", "text/xml")
                .set_body_string(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                     <Message>refused by the test</Message></Error><RequestId>t</RequestId></ErrorResponse>",
                ),
        )
        .mount(&server)
        .await;
    server
}

/// Calls that reached AWS beyond the allow-list read.
async fn aws_calls(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            r.headers
                .get("x-amz-target")
                .is_none_or(|t| t != "AmazonSSM.GetParameter")
        })
        .count()
}

/// One generated request.
#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    segments: [String; 4],
    raw_path: Option<String>,
    token: Token,
    long_header: bool,
    body: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Valid,
    OtherSubject,
    Missing,
    Garbage,
}

/// Percent-decoding as axum decodes a path parameter (a `%` not followed by two hex digits is
/// kept as it is); `None` when the result is not UTF-8.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn segment(valid: &'static [&'static str]) -> impl Strategy<Value = String> {
    let hostile = prop_oneof![
        Just("%2E%2E".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("%2F".to_string()),
        Just("..%2F..%2Fssm".to_string()),
        Just("%FF%FE".to_string()),
        Just("%00".to_string()),
        Just("%".to_string()),
        Just("%zz".to_string()),
        "[a-z0-9%._~-]{0,24}",
        "[A-Za-z0-9%./:@!$&'()*+,;=-]{0,40}",
    ];
    let valid_enc = proptest::sample::select(valid).prop_flat_map(|v| {
        // The valid value, as is or with one byte percent-encoded (still the same value),
        // or with an encoded slash or dot appended or prepended.
        let len = v.len();
        (0..len.max(1), 0..4u8).prop_map(move |(i, how)| match how {
            0 | 1 => v.to_string(),
            2 if len > 0 => format!("{}%{:02X}{}", &v[..i], v.as_bytes()[i], &v[i + 1..]),
            2 => v.to_string(),
            _ => format!("{v}%2F..%2F{v}"),
        })
    });
    prop_oneof![3 => valid_enc, 2 => hostile]
}

fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
    let valid_authorize = |port: i64, cidr: &str| {
        format!(
            r#"{{"GroupId": "{GROUP}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": {port}, "ToPort": {port}, "IpRanges": [{{"CidrIp": "{cidr}"}}]}}]}}"#
        )
    };
    let valid_describe =
        format!(r#"{{"Filters": [{{"Name": "group-id", "Values": ["{GROUP}"]}}]}}"#);
    let valid = prop_oneof![
        (
            1i64..65535,
            proptest::sample::select(
                &["10.0.0.0/8", "203.0.113.0/24", "0.0.0.0/0", "10.0.0.1/24"][..]
            )
        )
            .prop_map(move |(p, c)| valid_authorize(p, c)),
        Just(valid_describe.clone()),
        Just(format!(
            r#"{{"GroupId": "{GROUP}", "SecurityGroupRuleIds": ["sgr-0123456789abcdef0"]}}"#
        )),
        Just(
            r#"{"Resources": ["sgr-0123456789abcdef0"], "Tags": [{"Key": "team", "Value": "x"}]}"#
                .to_string()
        ),
    ];
    let truncated = (valid.clone(), any::<prop::sample::Index>()).prop_map(|(b, i)| {
        let cut = i.index(b.len());
        b[..cut].to_string()
    });
    let wrong_types = proptest::sample::select(
        &[
            r#""443""#, "4.5", "-1", "true", "null", "[]", "{}", "99999999999999999999",
            "-99999999999999999999", "1e400", "1.7976931348623157e309", r#""\u0000""#, r#""\ud800""#,
        ][..],
    )
    .prop_map(|v| {
        format!(
            r#"{{"GroupId": "{GROUP}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": {v}, "ToPort": 443, "IpRanges": [{{"CidrIp": "10.0.0.0/8", "Description": {v}}}]}}]}}"#
        )
    });
    let nested = (1usize..20_000, any::<bool>()).prop_map(|(d, obj)| {
        let (open, close) = if obj { (r#"{"a":"#, "}") } else { ("[", "]") };
        format!(r#"{{"Filters": {}1{}}}"#, open.repeat(d), close.repeat(d))
    });
    let unknown = "[A-Za-z_]{1,12}".prop_map(|k| {
        format!(r#"{{"GroupId": "{GROUP}", "{k}": "0.0.0.0/0", "IpPermissions": []}}"#)
    });
    let bytes = proptest::collection::vec(any::<u8>(), 0..512);
    let huge = (64 * 1024 - 8..64 * 1024 + 64usize).prop_map(|n| {
        let pad = "x".repeat(n.saturating_sub(60));
        format!(r#"{{"Filters": [{{"Name": "group-id", "Values": ["{pad}"]}}]}}"#)
    });
    prop_oneof![
        3 => valid.prop_map(String::into_bytes),
        3 => truncated.prop_map(String::into_bytes),
        3 => wrong_types.prop_map(String::into_bytes),
        1 => nested.prop_map(String::into_bytes),
        2 => unknown.prop_map(String::into_bytes),
        2 => bytes,
        1 => huge.prop_map(String::into_bytes),
    ]
}

/// A request of a granted action with a body of its shape, its path segments as is or with
/// bytes percent-encoded: most are admitted (some hit the guardrails or a value check).
fn likely_admitted() -> impl Strategy<Value = Case> {
    let bodies = (1i64..65535, proptest::sample::select(&["10.0.0.0/8", "203.0.113.0/24", "0.0.0.0/0"][..]))
        .prop_flat_map(|(port, cidr)| {
            proptest::sample::select(vec![
                (
                    "authorize_security_group_ingress",
                    format!(
                        r#"{{"GroupId": "{GROUP}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": {port}, "ToPort": {port}, "IpRanges": [{{"CidrIp": "{cidr}", "Description": "x"}}]}}]}}"#
                    ),
                ),
                (
                    "describe_security_group_rules",
                    format!(r#"{{"Filters": [{{"Name": "group-id", "Values": ["{GROUP}"]}}], "MaxResults": {}}}"#, 5 + port % 995),
                ),
                (
                    "create_tags",
                    format!(r#"{{"Resources": ["sgr-0123456789abcdef0"], "Tags": [{{"Key": "team", "Value": "{port}"}}]}}"#),
                ),
            ])
        });
    (
        segment(&["itx-016", "111111111111"]),
        segment(&["us-east-1"]),
        segment(&["ec2"]),
        bodies,
    )
        .prop_map(|(a, r, s, (action, body))| Case {
            method: "POST",
            segments: [a, r, s, action.to_string()],
            raw_path: None,
            token: Token::Valid,
            long_header: false,
            body: body.into_bytes(),
        })
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![4 => hostile(), 1 => likely_admitted()]
}

fn hostile() -> impl Strategy<Value = Case> {
    (
        prop_oneof![8 => Just("POST"), 1 => Just("GET"), 1 => Just("PUT"), 1 => Just("DELETE")],
        segment(&["itx-016", "111111111111", "other"]),
        segment(&["us-east-1", "eu-central-2"]),
        segment(&["ec2", "ssm"]),
        segment(&[
            "authorize_security_group_ingress",
            "describe_security_group_rules",
            "revoke_security_group_ingress",
            "create_tags",
            "run_instances",
            "delete_tags",
        ]),
        prop::option::weighted(0.05, "/[ -~]{0,80}"),
        prop_oneof![12 => Just(Token::Valid), 1 => Just(Token::OtherSubject), 1 => Just(Token::Missing), 1 => Just(Token::Garbage)],
        prop::bool::weighted(0.05),
        hostile_body(),
    )
        .prop_map(|(method, a, r, s, act, raw_path, token, long_header, body)| Case {
            method,
            segments: [a, r, s, act],
            raw_path,
            token,
            long_header,
            body,
        })
}

/// Whether `invoke` admits this request: the only requests that may reach AWS.
fn admitted(c: &Case, cfg: &sgops::config::Config) -> bool {
    if c.raw_path.is_some() || c.method != "POST" || c.long_header {
        return false;
    }
    if !matches!(c.token, Token::Valid) || c.body.len() > 64 * 1024 {
        return false;
    }
    let Some([account, region, service, action]) = c
        .segments
        .iter()
        .map(|s| decode(s))
        .collect::<Option<Vec<_>>>()
        .and_then(|v| <[String; 4]>::try_from(v).ok())
    else {
        return false;
    };
    let Ok((name, _)) = sgops::invoke::target(cfg, &account, &region) else {
        return false;
    };
    let granted = [
        "authorize_security_group_ingress",
        "describe_security_group_rules",
        "create_tags",
    ];
    if name != "itx-016" || !granted.contains(&action.as_str()) || service != "ec2" {
        return false;
    }
    let Some(a) = sgops::invoke::Action::find(&service, &action) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&c.body) else {
        return false;
    };
    sgops::invoke::request(a, text, &cfg.guardrails).is_ok()
}

const STATUSES: &[u16] = &[400, 401, 403, 404, 405, 413, 431, 500];

#[test]
fn hostile_requests_are_answered_in_the_seeds_shape_and_reach_aws_only_when_admitted() {
    // Each request writes its audit line on standard output, which the test harness does not
    // capture: the cases run in a child (this test again) whose standard output is dropped.
    const NAME: &str =
        "hostile_requests_are_answered_in_the_seeds_shape_and_reach_aws_only_when_admitted";
    if std::env::var_os("SGOPS_HOSTILE_CHILD").is_none() {
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env("SGOPS_HOSTILE_CHILD", "1")
            .stdout(std::process::Stdio::null())
            .output()
            .expect("run the cases");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let key = Key::rsa("rsa-1");
    let (issuer, aws) = rt.block_on(async { (Issuer::start(&[&key]).await, aws_stand_in().await) });
    // This test binary is its own process: the environment is the AWS SDK's configuration.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", aws.uri());
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let yaml = format!(
        "accounts:\n  itx-016: \"111111111111\"\n  other: \"222222222222\"\n\
         serve:\n  issuer: {}\n  audience: {AUDIENCE}\n  clients:\n    - subject: app-1\n      accounts: [itx-016]\n      actions: [authorize_security_group_ingress, describe_security_group_rules, create_tags]\n",
        issuer.uri()
    );
    let cfg = sgops::config::parse("sgops.yaml", &yaml).expect("config");
    let api = rt
        .block_on(sgops::serve::Api::new(cfg.clone()))
        .expect("the API starts");
    let router = sgops::serve::router(Arc::new(api));
    let valid = format!("Bearer {}", key.token(&issuer.claims("app-1")));
    let other = format!("Bearer {}", key.token(&issuer.claims("stranger")));

    let mut runner = TestRunner::new(RunConfig {
        cases: 3000,
        failure_persistence: None,
        ..RunConfig::default()
    });
    let admitted_seen = std::cell::Cell::new(0usize);
    let result = runner.run(&case(), |c| {
        let path = c.raw_path.clone().unwrap_or_else(|| {
            let [a, r, s, act] = &c.segments;
            format!("/v1/accounts/{a}/regions/{r}/services/{s}/actions/{act}")
        });
        let mut req = http::Request::builder().method(c.method).uri(&path);
        match c.token {
            Token::Valid => req = req.header("authorization", &valid),
            Token::OtherSubject => req = req.header("authorization", &other),
            Token::Missing => {}
            Token::Garbage => req = req.header("authorization", "Bearer a.b.c"),
        }
        if c.long_header {
            req = req.header("x-padding", "a".repeat(8 * 1024 + 1));
        }
        let Ok(req) = req
            .header("content-type", "application/json")
            .body(Body::from(c.body.clone()))
        else {
            return Ok(()); // not an HTTP request at all (hyper refuses it before sgops)
        };
        let expect_aws = admitted(&c, &cfg);
        let (status, body, calls) = rt.block_on(async {
            let before = aws_calls(&aws).await;
            let resp = router.clone().oneshot(req).await.expect("infallible");
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, body, aws_calls(&aws).await - before)
        });
        let doc: Value = serde_json::from_slice(&body).map_err(|e| {
            TestCaseError::fail(format!(
                "{status}: not JSON ({e}): {:?}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        prop_assert_eq!(&doc["statusCode"], &json!(status), "{:?}", doc);
        if expect_aws {
            admitted_seen.set(admitted_seen.get() + 1);
            // The stand-in refuses AssumeRole: the one call made, answered as AWS's refusal.
            prop_assert_eq!(status, 500, "{:?} {:?}", c, doc);
            prop_assert_eq!(calls, 1, "{:?}", c);
        } else {
            prop_assert!(
                STATUSES.contains(&status) && status != 500,
                "{status} for {c:?}: {doc}"
            );
            prop_assert_eq!(calls, 0, "reached AWS: {:?} {}", c, doc);
            prop_assert!(doc["errorCode"].is_string(), "{:?}", doc);
            prop_assert_eq!(&doc["errorMessage"], &doc["errorMsg"]);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The oracle is not vacuous: some generated requests were admissible and did reach AWS.
    let seen = admitted_seen.get();
    assert!(seen > 20, "only {seen} admissible requests");
}

/// The fuzz target's copy of the route (the fuzz crate compiles without sgops's AWS modules).
#[test]
fn the_fuzz_target_routes_what_the_server_routes() {
    let fuzz = include_str!("../fuzz/src/serve.rs");
    assert!(
        fuzz.contains(&format!("\"{}\"", sgops::serve::INVOKE_ROUTE)),
        "fuzz/src/serve.rs must use INVOKE_ROUTE = {:?}",
        sgops::serve::INVOKE_ROUTE
    );
    assert_eq!(sgops::serve::BODY_LIMIT, 64 * 1024);
    assert!(fuzz.contains("pub const BODY_LIMIT: usize = 64 * 1024;"));
}
