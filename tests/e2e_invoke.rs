//! `sgops invoke` end to end against a moto server: the allow-list check before anything is
//! called, strict bodies, dry runs, boto3-shaped responses and AWS error codes.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

/// One account with one empty group, and a repo whose allow-list is `allow` (None: no
/// parameter at all).
struct World {
    repo: Repo,
    acct: String,
    ec2: aws_sdk_ec2::Client,
    group: String,
}

async fn world(allow: Option<&str>) -> World {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    if let Some(a) = allow {
        repo.allow(a).await;
    }
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    World {
        repo,
        acct,
        ec2,
        group,
    }
}

impl World {
    /// `sgops invoke app us-east-1 <service> <action> --body body.json [extra…]`.
    fn invoke(&self, service: &str, action: &str, body: &str, extra: &[&str]) -> Run {
        std::fs::write(self.repo.path().join("body.json"), body).expect("write body");
        let mut args = vec![
            "invoke",
            "app",
            "us-east-1",
            service,
            action,
            "--body",
            "body.json",
        ];
        args.extend_from_slice(extra);
        Run::from(self.repo.sgops(&args))
    }

    fn authorize_body(&self, port: u16, cidr: &str) -> String {
        format!(
            r#"{{
  "GroupId": "{}",
  "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": {port}, "ToPort": {port},
    "IpRanges": [{{"CidrIp": "{cidr}", "Description": "Partner callbacks"}}]}}],
  "TagSpecifications": [{{"ResourceType": "security-group-rule",
    "Tags": [{{"Key": "team", "Value": "payments"}}, {{"Key": "ticket", "Value": "CHG-1"}}]}}]
}}"#,
            self.group
        )
    }
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl From<(i32, String, String)> for Run {
    fn from((code, out, err): (i32, String, String)) -> Run {
        Run { code, out, err }
    }
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.out)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", self.out, self.err))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.out, self.err
        )
    }
}

const ALLOW_INGRESS: &str =
    r#"{"authorize_security_group_ingress","describe_security_group_rules"}"#;

#[tokio::test]
async fn an_allowed_action_creates_the_rule_with_the_body_tags() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let before = rules(&w.ec2, &w.group).await;
    let r = w.invoke(
        "ec2",
        "authorize_security_group_ingress",
        &w.authorize_body(443, "203.0.113.0/24"),
        &["-v"],
    );
    assert_eq!(r.code, 0, "{r:?}");

    let out = r.json();
    assert_eq!(out["Return"], true, "{r:?}");
    let rule = &out["SecurityGroupRules"][0];
    assert_eq!(rule["GroupId"], w.group.as_str());
    assert_eq!(rule["IsEgress"], false);
    assert_eq!(rule["IpProtocol"], "tcp");
    assert_eq!(rule["FromPort"], 443);
    assert_eq!(rule["ToPort"], 443);
    assert_eq!(rule["CidrIpv4"], "203.0.113.0/24");
    assert!(
        rule["SecurityGroupRuleId"]
            .as_str()
            .is_some_and(|s| s.starts_with("sgr-")),
        "{r:?}"
    );

    let after = rules(&w.ec2, &w.group).await;
    assert_eq!(after.len(), before.len() + 1, "{after:#?}");
    let new = after.iter().find(|r| r.from == 443).expect("the new rule");
    assert_eq!(new.peer, "203.0.113.0/24");
    assert_eq!(new.desc, "Partner callbacks");
    assert_eq!(
        new.tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        [("team", "payments"), ("ticket", "CHG-1")],
        "only the body's tags"
    );
    assert_eq!(rule["SecurityGroupRuleId"], new.id.as_str());

    // -v logs what was done on standard error, never on standard output.
    assert!(r.err.contains("authorize_security_group_ingress"), "{r:?}");
    assert!(r.err.contains("app"), "{r:?}");
    assert!(r.err.contains("us-east-1"), "{r:?}");
}

#[tokio::test]
async fn an_action_not_listed_is_refused_before_anything_is_called() {
    // Matching is exact: `authorize_security_group` does not allow the ingress action.
    let w = world(Some(
        r#"{"authorize_security_group","describe_security_group_rules"}"#,
    ))
    .await;
    let before = rules(&w.ec2, &w.group).await;
    let r = w.invoke(
        "ec2",
        "authorize_security_group_ingress",
        &w.authorize_body(443, "203.0.113.0/24"),
        &[],
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.err.contains("not in the allow-list"), "{r:?}");
    assert!(
        r.err.contains(&format!("{}ec2", w.repo.prefix)),
        "names the parameter: {r:?}"
    );
    assert!(r.out.is_empty(), "{r:?}");
    assert_eq!(rules(&w.ec2, &w.group).await, before, "nothing changed");

    // The refusal comes before the body is even read.
    let r = Run::from(w.repo.sgops(&[
        "invoke",
        "app",
        "us-east-1",
        "ec2",
        "revoke_security_group_ingress",
        "--body",
        "missing.json",
    ]));
    assert_eq!(r.code, 3, "{r:?}");
}

#[tokio::test]
async fn a_service_without_a_parameter_is_an_invalid_service() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let r = w.invoke("ssm", "get_parameter", "{}", &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.err.contains(&format!(
            "invalid service: ssm (no allow-list parameter {}ssm)",
            w.repo.prefix
        )),
        "{r:?}"
    );

    let r = w.invoke("../ec2", "create_tags", "{}", &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.err.contains("invalid service: ../ec2"), "{r:?}");
}

#[tokio::test]
async fn an_unknown_account_or_region_is_an_error() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let body = w.authorize_body(443, "203.0.113.0/24");
    std::fs::write(w.repo.path().join("body.json"), &body).expect("write body");
    let run = |account: &str, region: &str| {
        Run::from(w.repo.sgops(&[
            "invoke",
            account,
            region,
            "ec2",
            "authorize_security_group_ingress",
            "--body",
            "body.json",
        ]))
    };
    let r = run("nope", "us-east-1");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("unknown account `nope`"), "{r:?}");
    assert!(r.err.contains("app"), "lists the known accounts: {r:?}");

    let r = run("999999999999", "us-east-1");
    assert_eq!(r.code, 1, "{r:?}");

    let r = run("app", "us-east1");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("not an AWS region"), "{r:?}");

    // The account's 12-digit id works as well as its name.
    let r = run(&w.acct, "us-east-1");
    assert_eq!(r.code, 0, "{r:?}");
}

#[tokio::test]
async fn a_malformed_body_is_refused_naming_the_json_path() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let before = rules(&w.ec2, &w.group).await;
    let good = w.authorize_body(443, "203.0.113.0/24");

    let r = w.invoke(
        "ec2",
        "authorize_security_group_ingress",
        &good.replace(r#""FromPort": 443"#, r#""FromPort": "443""#),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("IpPermissions[0].FromPort"), "{r:?}");
    assert!(r.err.contains("invalid type"), "{r:?}");

    let r = w.invoke(
        "ec2",
        "authorize_security_group_ingress",
        &good.replace(r#""Description""#, r#""Descripton""#),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.err.contains("IpPermissions[0].IpRanges[0].Descripton"),
        "{r:?}"
    );
    assert!(r.err.contains("unknown field"), "{r:?}");

    // Values moto would accept but AWS refuses are caught here, all at once.
    let r = w.invoke(
        "ec2",
        "authorize_security_group_ingress",
        &good
            .replace(r#""ToPort": 443"#, r#""ToPort": 70000"#)
            .replace("203.0.113.0/24", "203.0.113.7/24"),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("IpPermissions[0].ToPort"), "{r:?}");
    assert!(
        r.err.contains("IpPermissions[0].IpRanges[0].CidrIp"),
        "{r:?}"
    );
    assert!(r.err.contains("did you mean 203.0.113.0/24"), "{r:?}");

    // boto3 refuses None, so an explicit null is refused too, at its path.
    let r = w.invoke(
        "ec2",
        "authorize_security_group_ingress",
        &good.replace(
            r#""Description": "Partner callbacks""#,
            r#""Description": null"#,
        ),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.err
            .contains("IpPermissions[0].IpRanges[0].Description: is null"),
        "{r:?}"
    );

    assert_eq!(rules(&w.ec2, &w.group).await, before, "nothing changed");
}

#[tokio::test]
async fn an_allow_listed_but_unsupported_action_lists_what_is_supported() {
    let w = world(Some(r#"{"create_security_group"}"#)).await;
    let r = w.invoke(
        "ec2",
        "create_security_group",
        r#"{"GroupName": "x", "Description": "y"}"#,
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.err
            .contains("cannot run ec2 action create_security_group"),
        "{r:?}"
    );
    for a in [
        "authorize_security_group_ingress",
        "revoke_security_group_egress",
        "modify_security_group_rules",
        "update_security_group_rule_descriptions_ingress",
        "create_tags",
        "delete_tags",
        "describe_security_group_rules",
        "describe_security_groups",
    ] {
        assert!(r.err.contains(a), "{a}: {r:?}");
    }
}

#[tokio::test]
async fn the_body_can_come_from_standard_input() {
    let w = world(Some(r#"{"create_tags"}"#)).await;
    add_ingress(&w.ec2, &w.group, 8443, 8443, "198.51.100.0/24", None, &[]).await;
    let rule = ingress(&w.ec2, &w.group).await.remove(0);
    let body = format!(
        r#"{{"Resources": ["{}"], "Tags": [{{"Key": "owner", "Value": "payments"}}]}}"#,
        rule.id
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sgops"));
    cmd.current_dir(w.repo.path())
        .args([
            "invoke",
            "app",
            "us-east-1",
            "ec2",
            "create_tags",
            "--body",
            "-",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run sgops");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.json(),
        serde_json::json!({}),
        "CreateTags answers nothing"
    );
    let tagged = ingress(&w.ec2, &w.group).await.remove(0);
    assert_eq!(tagged.id, rule.id);
    assert_eq!(
        tagged.tags.get("owner").map(String::as_str),
        Some("payments")
    );
}

#[tokio::test]
async fn a_dry_run_answers_dry_run_operation_and_creates_nothing() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let before = rules(&w.ec2, &w.group).await;
    let r = w.invoke(
        "ec2",
        "authorize_security_group_ingress",
        &w.authorize_body(443, "203.0.113.0/24"),
        &["--dry-run"],
    );
    // moto answers DryRunOperation for Authorize*, Revoke*, ModifySecurityGroupRules,
    // DescribeSecurityGroupRules, CreateTags and DeleteTags, as AWS does.
    assert_eq!(r.code, 0, "{r:?}");
    let out = r.json();
    assert_eq!(out["DryRun"], true, "{r:?}");
    assert_eq!(out["Code"], "DryRunOperation", "{r:?}");
    assert_eq!(rules(&w.ec2, &w.group).await, before, "nothing created");

    // DryRun in the body counts too.
    let body = w
        .authorize_body(443, "203.0.113.0/24")
        .replacen('{', r#"{"DryRun": true,"#, 1);
    let r = w.invoke("ec2", "authorize_security_group_ingress", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["Code"], "DryRunOperation", "{r:?}");
    assert_eq!(rules(&w.ec2, &w.group).await, before, "nothing created");
}

#[tokio::test]
async fn describe_security_group_rules_returns_the_rules_as_json() {
    let w = world(Some(
        r#"describe_security_group_rules,describe_security_groups"#,
    ))
    .await;
    add_ingress(
        &w.ec2,
        &w.group,
        22,
        22,
        "10.0.0.0/8",
        Some("baseline ssh"),
        &[("team", "platform")],
    )
    .await;
    let body = format!(
        r#"{{"Filters": [{{"Name": "group-id", "Values": ["{}"]}}]}}"#,
        w.group
    );
    let r = w.invoke("ec2", "describe_security_group_rules", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let out = r.json();
    let list = out["SecurityGroupRules"].as_array().expect("rules");
    let live = rules(&w.ec2, &w.group).await;
    assert_eq!(list.len(), live.len(), "{r:?}");
    let ssh = list
        .iter()
        .find(|r| r["FromPort"] == 22)
        .expect("the ssh rule");
    let seen = live.iter().find(|r| r.from == 22).expect("live ssh rule");
    assert_eq!(ssh["SecurityGroupRuleId"], seen.id.as_str());
    assert_eq!(ssh["GroupId"], w.group.as_str());
    assert_eq!(ssh["IsEgress"], false);
    assert_eq!(ssh["IpProtocol"], "tcp");
    assert_eq!(ssh["ToPort"], 22);
    assert_eq!(ssh["CidrIpv4"], "10.0.0.0/8");
    assert_eq!(ssh["Description"], "baseline ssh");
    assert_eq!(
        ssh["Tags"],
        serde_json::json!([{"Key": "team", "Value": "platform"}])
    );
    assert!(
        ssh.get("CidrIpv6").is_none(),
        "absent fields are left out: {ssh}"
    );
    // The default egress rule is there too.
    assert!(list.iter().any(|r| r["IsEgress"] == true), "{r:?}");

    // DescribeSecurityGroups gives groups with their IpPermissions, boto3-shaped.
    let body = format!(r#"{{"GroupIds": ["{}"]}}"#, w.group);
    let r = w.invoke("ec2", "describe_security_groups", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let g = &r.json()["SecurityGroups"][0];
    assert_eq!(g["GroupId"], w.group.as_str());
    assert_eq!(g["GroupName"], "app");
    assert_eq!(g["IpPermissions"][0]["FromPort"], 22, "{r:?}");
    assert_eq!(
        g["IpPermissions"][0]["IpRanges"][0]["CidrIp"], "10.0.0.0/8",
        "{r:?}"
    );
}

#[tokio::test]
async fn a_second_identical_authorize_fails_with_the_aws_code() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let body = w.authorize_body(443, "203.0.113.0/24");
    let r = w.invoke("ec2", "authorize_security_group_ingress", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let after_first = rules(&w.ec2, &w.group).await;

    let r = w.invoke("ec2", "authorize_security_group_ingress", &body, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("InvalidPermission.Duplicate"), "{r:?}");
    assert!(
        r.err.contains("ec2:AuthorizeSecurityGroupIngress"),
        "names the operation: {r:?}"
    );
    assert!(r.err.contains(&w.acct), "names the account: {r:?}");
    assert!(r.out.is_empty(), "{r:?}");
    assert_eq!(rules(&w.ec2, &w.group).await, after_first);
}

#[tokio::test]
async fn revoke_by_rule_id_removes_the_rule() {
    let w = world(Some(r#"{"revoke_security_group_ingress"}"#)).await;
    add_ingress(&w.ec2, &w.group, 8443, 8443, "198.51.100.0/24", None, &[]).await;
    let rule = ingress(&w.ec2, &w.group).await.remove(0);
    let body = format!(
        r#"{{"GroupId": "{}", "SecurityGroupRuleIds": ["{}"]}}"#,
        w.group, rule.id
    );
    let r = w.invoke("ec2", "revoke_security_group_ingress", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["Return"], true, "{r:?}");
    assert!(ingress(&w.ec2, &w.group).await.is_empty());
}

#[tokio::test]
async fn a_successful_invoke_says_one_line_and_stats_count_the_calls() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let r = w.invoke(
        "ec2",
        "authorize_security_group_ingress",
        &w.authorize_body(443, "203.0.113.0/24"),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        without_request_id(&r.err),
        format!(
            "invoke: app ({}) us-east-1 ec2:authorize_security_group_ingress: ok, 1 rule created\n",
            w.acct
        ),
        "one line on standard error, nothing else"
    );
    assert!(
        r.err.contains(" (request "),
        "EC2's request id is named: {r:?}"
    );

    let body = format!(
        r#"{{"Filters": [{{"Name": "group-id", "Values": ["{}"]}}]}}"#,
        w.group
    );
    let r = w.invoke("ec2", "describe_security_group_rules", &body, &["--stats"]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut lines = r.err.lines();
    assert_eq!(
        lines.next().map(without_request_id),
        Some(format!(
            "invoke: app ({}) us-east-1 ec2:describe_security_group_rules: ok, 2 rules",
            w.acct
        )),
        "{r:?}"
    );
    assert_eq!(
        lines.next(),
        Some("API calls by operation (attempts incl. retries):"),
        "{r:?}"
    );
    let counted: Vec<(String, String)> = lines
        .map(|l| {
            let mut f = l.split_whitespace();
            (
                f.next().unwrap_or_default().to_string(),
                f.next().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = [
        ("ec2:DescribeSecurityGroupRules", "1"),
        ("ssm:GetParameter", "1"),
        ("sts:AssumeRole", "1"),
        ("total", "3"),
    ];
    assert_eq!(
        counted,
        want.map(|(a, b)| (a.to_string(), b.to_string())),
        "{r:?}"
    );

    // A refusal prints its counts too: one GetParameter, nothing in the account.
    let r = w.invoke(
        "ec2",
        "delete_tags",
        r#"{"Resources": ["sgr-0123456789abcdef0"]}"#,
        &["--stats"],
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.err.contains("ssm:GetParameter") && !r.err.contains("sts:") && !r.err.contains("ec2:"),
        "{r:?}"
    );
}

#[tokio::test]
async fn refusals_make_no_call_in_the_account() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let proxy = FaultProxy::start(&[]);
    std::fs::write(
        w.repo.path().join("body.json"),
        w.authorize_body(443, "203.0.113.0/24"),
    )
    .expect("write body");
    let invoke = |service: &str, action: &str| {
        Run::from(w.repo.sgops_via(
            &proxy.url,
            &[
                "invoke",
                "app",
                "us-east-1",
                service,
                action,
                "--body",
                "body.json",
            ],
        ))
    };
    // Not in the allow-list: the allow-list is read, nothing else.
    let r = invoke("ec2", "authorize_security_group_egress");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.err.contains("not in the allow-list"), "{r:?}");
    assert_eq!(
        proxy.stats()["by_action"],
        serde_json::json!({"GetParameter": 1})
    );
    // A service without an allow-list parameter: the same.
    let r = invoke("ssm", "get_parameter");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.err.contains("invalid service: ssm"), "{r:?}");
    assert_eq!(
        proxy.stats()["by_action"],
        serde_json::json!({"GetParameter": 2})
    );
    // Not a service name at all: not even the allow-list is read.
    let r = invoke("../ec2", "create_tags");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.err.contains("invalid service: ../ec2"), "{r:?}");
    let stats = proxy.stats();
    assert_eq!(stats["requests"], 2, "{stats:#}");
    assert_eq!(stats["by_action"], serde_json::json!({"GetParameter": 2}));

    // The proxy counts what an allowed call makes, so the zeros above mean something.
    let r = invoke("ec2", "authorize_security_group_ingress");
    assert_eq!(r.code, 0, "{r:?}");
    let by = &proxy.stats()["by_action"];
    assert_eq!(by["AssumeRole"], 1, "{by:#}");
    assert_eq!(by["AuthorizeSecurityGroupIngress"], 1, "{by:#}");
}

#[tokio::test]
async fn a_duplicate_after_a_lost_reply_says_the_rule_was_probably_created() {
    let w = world(Some(ALLOW_INGRESS)).await;
    // The first attempt reaches moto and creates the rule; its reply is lost; the SDK retries.
    let proxy = FaultProxy::start(&[
        "--fault-rate",
        "1.0",
        "--faults",
        "lost",
        "--only-actions",
        "AuthorizeSecurityGroupIngress",
        "--max-attempt",
        "1",
    ]);
    std::fs::write(
        w.repo.path().join("body.json"),
        w.authorize_body(443, "203.0.113.0/24"),
    )
    .expect("write body");
    let before = ingress(&w.ec2, &w.group).await.len();
    let r = Run::from(w.repo.sgops_via(
        &proxy.url,
        &[
            "invoke",
            "app",
            "us-east-1",
            "ec2",
            "authorize_security_group_ingress",
            "--body",
            "body.json",
        ],
    ));
    let stats = proxy.stats();
    assert_eq!(stats["faults"]["lost"], 1, "{stats:#}");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("InvalidPermission.Duplicate"), "{r:?}");
    assert!(
        r.err.contains(
            "(the call was sent 2 times: an earlier attempt probably created the rule and its reply was lost; describe_security_group_rules shows it)"
        ),
        "{r:?}"
    );
    let now = ingress(&w.ec2, &w.group).await;
    assert_eq!(now.len(), before + 1, "created once: {now:#?}");
}

#[tokio::test]
async fn egress_rules_are_authorized_and_revoked() {
    let w = world(Some(
        r#"{"authorize_security_group_egress","revoke_security_group_egress"}"#,
    ))
    .await;
    let body = format!(
        r#"{{"GroupId": "{}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
            "IpRanges": [{{"CidrIp": "10.20.0.0/16", "Description": "Database"}}]}}]}}"#,
        w.group
    );
    let r = w.invoke("ec2", "authorize_security_group_egress", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.err.contains("ok, 1 rule created"), "{r:?}");
    let id = r.json()["SecurityGroupRules"][0]["SecurityGroupRuleId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let made = rules(&w.ec2, &w.group).await;
    let rule = made.iter().find(|r| r.id == id).expect("the new rule");
    assert!(rule.egress, "{rule:?}");
    assert_eq!(
        (rule.proto.as_str(), rule.from, rule.to, rule.peer.as_str()),
        ("tcp", 5432, 5432, "10.20.0.0/16")
    );
    assert_eq!(rule.desc, "Database");

    let body = format!(
        r#"{{"GroupId": "{}", "SecurityGroupRuleIds": ["{id}"]}}"#,
        w.group
    );
    let r = w.invoke("ec2", "revoke_security_group_egress", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["Return"], true, "{r:?}");
    let left = rules(&w.ec2, &w.group).await;
    assert!(!left.iter().any(|r| r.id == id), "{left:#?}");
    assert!(
        left.iter().any(|r| r.egress && r.peer == "0.0.0.0/0"),
        "the default egress rule stays: {left:#?}"
    );
}

#[tokio::test]
async fn revoke_ingress_by_ip_permissions_removes_only_that_rule() {
    let w = world(Some(r#"{"revoke_security_group_ingress"}"#)).await;
    add_ingress(&w.ec2, &w.group, 8443, 8443, "198.51.100.0/24", None, &[]).await;
    add_ingress(&w.ec2, &w.group, 443, 443, "198.51.100.0/24", None, &[]).await;
    let body = format!(
        r#"{{"GroupId": "{}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443,
            "IpRanges": [{{"CidrIp": "198.51.100.0/24"}}]}}]}}"#,
        w.group
    );
    let r = w.invoke("ec2", "revoke_security_group_ingress", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["Return"], true, "{r:?}");
    let left: Vec<i32> = ingress(&w.ec2, &w.group)
        .await
        .iter()
        .map(|r| r.from)
        .collect();
    assert_eq!(left, [443]);
}

#[tokio::test]
async fn modify_security_group_rules_changes_the_rule_in_place() {
    let w = world(Some(r#"{"modify_security_group_rules"}"#)).await;
    add_ingress(
        &w.ec2,
        &w.group,
        443,
        443,
        "198.51.100.0/24",
        Some("Web"),
        &[],
    )
    .await;
    let rule = ingress(&w.ec2, &w.group).await.remove(0);
    let body = format!(
        r#"{{"GroupId": "{}", "SecurityGroupRules": [{{"SecurityGroupRuleId": "{}",
            "SecurityGroupRule": {{"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443,
                "CidrIpv4": "198.51.100.0/24", "Description": "Web on 8443"}}}}]}}"#,
        w.group, rule.id
    );
    let r = w.invoke("ec2", "modify_security_group_rules", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["Return"], true, "{r:?}");
    let now = ingress(&w.ec2, &w.group).await;
    assert_eq!(now.len(), 1, "{now:#?}");
    assert_eq!(now[0].id, rule.id, "same rule");
    assert_eq!((now[0].from, now[0].to), (8443, 8443));
    assert_eq!(now[0].desc, "Web on 8443");
}

#[tokio::test]
async fn update_descriptions_by_ip_permissions_in_both_directions() {
    let w = world(Some(
        r#"{"update_security_group_rule_descriptions_ingress","update_security_group_rule_descriptions_egress"}"#,
    ))
    .await;
    add_ingress(
        &w.ec2,
        &w.group,
        443,
        443,
        "198.51.100.0/24",
        Some("old"),
        &[],
    )
    .await;
    authorize(
        &w.ec2,
        &w.group,
        true,
        permission("tcp", Some((5432, 5432)), "10.20.0.0/16", Some("old")),
        &[],
    )
    .await;
    for (action, port, cidr) in [
        (
            "update_security_group_rule_descriptions_ingress",
            443,
            "198.51.100.0/24",
        ),
        (
            "update_security_group_rule_descriptions_egress",
            5432,
            "10.20.0.0/16",
        ),
    ] {
        let body = format!(
            r#"{{"GroupId": "{}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": {port}, "ToPort": {port},
                "IpRanges": [{{"CidrIp": "{cidr}", "Description": "new"}}]}}]}}"#,
            w.group
        );
        let r = w.invoke("ec2", action, &body, &[]);
        assert_eq!(r.code, 0, "{action}: {r:?}");
        assert!(r.err.contains(&format!("ec2:{action}: ok")), "{r:?}");
        let now = rules(&w.ec2, &w.group).await;
        let rule = now.iter().find(|r| r.from == port).expect("the rule");
        assert_eq!(rule.desc, "new", "{action}: {now:#?}");
    }
}

#[tokio::test]
async fn delete_tags_removes_only_the_named_tag() {
    let w = world(Some(r#"{"delete_tags"}"#)).await;
    add_ingress(
        &w.ec2,
        &w.group,
        443,
        443,
        "198.51.100.0/24",
        None,
        &[("team", "web"), ("owner", "payments")],
    )
    .await;
    let rule = ingress(&w.ec2, &w.group).await.remove(0);
    let body = format!(
        r#"{{"Resources": ["{}"], "Tags": [{{"Key": "team"}}]}}"#,
        rule.id
    );
    let r = w.invoke("ec2", "delete_tags", &body, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json(), serde_json::json!({}), "{r:?}");
    let now = ingress(&w.ec2, &w.group).await.remove(0);
    assert_eq!(
        now.tags.into_iter().collect::<Vec<_>>(),
        [("owner".to_string(), "payments".to_string())]
    );
}

#[tokio::test]
async fn the_world_open_guardrail_holds_for_invoke_bodies_and_nothing_is_called() {
    let w = world(Some(
        r#"{"authorize_security_group_ingress","modify_security_group_rules"}"#,
    ))
    .await;
    let proxy = FaultProxy::start(&[]);
    let invoke = |action: &str, body: &str| {
        std::fs::write(w.repo.path().join("body.json"), body).expect("write body");
        Run::from(w.repo.sgops_via(
            &proxy.url,
            &[
                "invoke",
                "app",
                "us-east-1",
                "ec2",
                action,
                "--body",
                "body.json",
            ],
        ))
    };
    // The whole internet over SSH, then in halves, then as two public /8s in one body.
    let world_open = w.authorize_body(22, "0.0.0.0/0");
    let halves = format!(
        r#"{{"GroupId": "{}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
            "IpRanges": [{{"CidrIp": "0.0.0.0/1"}}, {{"CidrIp": "128.0.0.0/1"}}]}}]}}"#,
        w.group
    );
    let slash_eights = format!(
        r#"{{"GroupId": "{}", "IpPermissions": [
            {{"IpProtocol": "-1", "IpRanges": [{{"CidrIp": "3.0.0.0/8"}}]}},
            {{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{{"CidrIp": "4.0.0.0/8"}}]}}]}}"#,
        w.group
    );
    for (body, says) in [
        (
            &world_open,
            "IpPermissions[0].IpRanges[0]: ingress from 0.0.0.0/0 opens tcp 22",
        ),
        (
            &halves,
            "IpPermissions[0].IpRanges[1]: ingress from 128.0.0.0/1 (broader than a /8",
        ),
        (
            &slash_eights,
            "ingress rules `IpPermissions[0].IpRanges[0]` (3.0.0.0/8), `IpPermissions[1].IpRanges[0]` (4.0.0.0/8) together open tcp 3389",
        ),
    ] {
        let r = invoke("authorize_security_group_ingress", body);
        assert_eq!(r.code, 3, "{r:?}");
        assert!(r.err.contains("refused by guardrails"), "{r:?}");
        assert!(r.err.contains(says), "{says}\n{r:?}");
    }
    // A modify that would turn a rule into world-open RDP: refused the same way.
    let modify = r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRules": [{"SecurityGroupRuleId": "sgr-0123456789abcdef0",
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "CidrIpv4": "0.0.0.0/0"}}]}"#;
    let r = invoke("modify_security_group_rules", modify);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.err.contains("ingress from 0.0.0.0/0 opens tcp 3389"),
        "{r:?}"
    );
    // Each refusal read the allow-list and nothing else: no AssumeRole, no EC2 call.
    assert_eq!(
        proxy.stats()["by_action"],
        serde_json::json!({"GetParameter": 4})
    );
    assert!(ingress(&w.ec2, &w.group).await.is_empty());
    // Private and narrow sources stay allowed.
    let r = invoke(
        "authorize_security_group_ingress",
        &w.authorize_body(22, "10.0.0.0/8"),
    );
    assert_eq!(r.code, 0, "{r:?}");
}

#[tokio::test]
async fn create_tags_takes_only_security_group_rule_ids() {
    let w = world(Some(r#"{"create_tags"}"#)).await;
    for id in [
        w.group.as_str(),
        "i-0123456789abcdef0",
        "vpc-0123456789abcdef0",
        "*",
    ] {
        let body = format!(
            r#"{{"Resources": ["{id}"], "Tags": [{{"Key": "vpcx:skip_enforcement", "Value": "yes"}}]}}"#
        );
        let r = w.invoke("ec2", "create_tags", &body, &[]);
        assert_eq!(r.code, 1, "{id}: {r:?}");
        assert!(
            r.err.contains("Resources[0]: `") && r.err.contains("is not a security group rule id"),
            "{id}: {r:?}"
        );
    }
    // The group was not tagged.
    let groups = w
        .ec2
        .describe_security_groups()
        .group_ids(&w.group)
        .send()
        .await
        .expect("describe");
    let tags = groups.security_groups()[0].tags();
    assert!(
        tags.iter()
            .all(|t| t.key() != Some("vpcx:skip_enforcement")),
        "{tags:?}"
    );
}

/// The line with its ` (request <id>)` suffix cut off (ids differ from run to run).
fn without_request_id(line: &str) -> String {
    match line.rfind(" (request ") {
        Some(i) => {
            let rest = &line[i..];
            let tail = &rest[rest.find(')').map_or(rest.len(), |j| j + 1)..];
            format!("{}{tail}", &line[..i])
        }
        None => line.to_string(),
    }
}

#[tokio::test]
async fn invoke_assumes_the_write_role() {
    let w = world(Some(ALLOW_INGRESS)).await;
    let cfg = std::fs::read_to_string(w.repo.path().join("sgops.yaml")).expect("read");
    std::fs::write(
        w.repo.path().join("sgops.yaml"),
        format!("{cfg}read_role_name: sgops-reader\n"),
    )
    .expect("write sgops.yaml");
    std::fs::write(
        w.repo.path().join("body.json"),
        w.authorize_body(443, "203.0.113.0/24"),
    )
    .expect("write body");
    let args = [
        "invoke",
        "app",
        "us-east-1",
        "ec2",
        "authorize_security_group_ingress",
        "--body",
        "body.json",
    ];
    // The read role denied: invoke does not use it.
    let proxy = FaultProxy::start(&["--deny-role", "sgops-reader"]);
    let r = Run::from(w.repo.sgops_via(&proxy.url, &args));
    assert_eq!(r.code, 0, "{r:?}");
    let writer = format!("arn:aws:iam::{}:role/sgops", w.acct);
    assert_eq!(
        proxy.stats()["assumed_roles"],
        serde_json::json!({ writer.clone(): 1 })
    );
    assert_eq!(
        rules(&w.ec2, &w.group)
            .await
            .iter()
            .filter(|r| r.from == 443)
            .count(),
        1
    );
    // The write role denied: refused by AWS, naming the role; nothing created.
    let proxy = FaultProxy::start(&["--deny-role", "sgops"]);
    std::fs::write(
        w.repo.path().join("body.json"),
        w.authorize_body(8443, "203.0.113.0/24"),
    )
    .expect("write body");
    let r = Run::from(w.repo.sgops_via(&proxy.url, &args));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.err.contains(&format!("cannot assume {writer}")), "{r:?}");
    assert!(!rules(&w.ec2, &w.group).await.iter().any(|r| r.from == 8443));
}
