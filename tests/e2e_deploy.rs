//! `deploy/` end to end against moto: the central stack and a member role stack deployed into
//! moto's CloudFormation, then `sgops plan` and `sgops apply` run with credentials of the roles
//! they created (the plan and apply roles by web identity, as GitHub's OIDC token would, and
//! through them the member roles of the workload account: the reader for the plan, the writer
//! for apply), through a proxy that records every AWS call sgops makes and every role it asks
//! for.
//!
//! moto evaluates no IAM policy (and creates no OIDC provider from a template): what this test
//! proves is that the stacks deploy, that the roles and the allow-list parameter exist as the
//! templates say (compared with tests/cfn's reading of them), that sgops plans and applies
//! through those roles with that parameter, and that each call it made is granted by the
//! template's policies for the role that made it (checked by tests/cfn's matcher, not by moto).

mod cfn;
mod support;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_ec2::config::{Credentials, Region};
use cfn::{Stack, Statement, allows};
use serde_json::Value;
use support::*;

const REPO: &str = "example-org/security-rules";
const EXTERNAL_ID: &str = "sgops-e2e-7";
const REGION: &str = "us-east-1";
const PARAMETER: &str = "/vpcx/aws/boto3-proxy/allowed-actions/ec2";

/// Runs tests/cfn/stacks.py against this binary's moto; its JSON answer.
fn stacks(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cfn/stacks.py");
    let (code, out, err) = run(std::process::Command::new(python())
        .arg(&script)
        .arg(moto_url())
        .args(args));
    assert_eq!(code, 0, "stacks.py {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("stacks.py JSON: {e}\n{out}\n{err}"))
}

fn deploy(account: &str, template: &str, name: &str, params: &[(&str, &str)]) -> Value {
    let path = cfn::path(template);
    let mut args = vec![
        "deploy".to_string(),
        account.to_string(),
        path.display().to_string(),
        name.to_string(),
    ];
    args.extend(params.iter().map(|(k, v)| format!("{k}={v}")));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = stacks(&refs);
    assert_eq!(out["status"], "CREATE_COMPLETE", "{template}: {out}");
    out
}

/// `v` without null list items: moto keeps an `AWS::NoValue` list item as null, where
/// CloudFormation drops it.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| !x.is_null())
                .map(without_nulls)
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Credentials of `role` by AssumeRoleWithWebIdentity, as configure-aws-credentials gets them
/// from GitHub's OIDC token (moto does not check the token).
async fn web_identity(role: &str) -> (String, String, String) {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let out = aws_sdk_sts::Client::new(&conf)
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("github-actions")
        .web_identity_token("header.payload.signature")
        .send()
        .await
        .expect("assume role with web identity");
    let who = out
        .assumed_role_user
        .as_ref()
        .map(|u| u.arn.clone())
        .unwrap_or_default();
    let name = role.rsplit('/').next().unwrap_or_default();
    assert!(
        who.ends_with(&format!(":assumed-role/{name}/github-actions")),
        "{who}"
    );
    let c = out.credentials.expect("credentials");
    (c.access_key_id, c.secret_access_key, c.session_token)
}

/// Runs sgops in `repo` through `proxy` with `creds`.
fn sgops_as(
    repo: &Repo,
    proxy: &FaultProxy,
    creds: &(String, String, String),
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = repo.sgops_command(&proxy.url, args);
    cmd.env("AWS_ACCESS_KEY_ID", &creds.0)
        .env("AWS_SECRET_ACCESS_KEY", &creds.1)
        .env("AWS_SESSION_TOKEN", &creds.2);
    run(&mut cmd)
}

/// Calls by action since `before` (the proxy's counters are cumulative).
fn calls_since(proxy: &FaultProxy, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let now = counts(proxy);
    now.into_iter()
        .map(|(a, n)| {
            let d = n - before.get(&a).copied().unwrap_or(0);
            (a, d)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn counts(proxy: &FaultProxy) -> BTreeMap<String, u64> {
    proxy.stats()["by_action"]
        .as_object()
        .expect("by_action")
        .iter()
        .map(|(a, n)| (a.clone(), n.as_u64().expect("a count")))
        .collect()
}

/// The policies that govern each call sgops makes: STS and SSM calls are the central role's,
/// EC2 calls the member role's (`member_role`, the one AssumeRole asked for).
struct Grants<'a> {
    central: &'a [Statement],
    member: &'a [Statement],
    member_role: &'a str,
    central_account: &'a str,
    workload: &'a str,
    group: &'a str,
}

impl Grants<'_> {
    /// The calls of `calls` these policies do not grant, each with the resource asked for.
    fn denied(&self, calls: &BTreeMap<String, u64>) -> Vec<String> {
        let none = BTreeMap::new();
        let mut denied = Vec::new();
        for action in calls.keys() {
            let (policy, action_arn, resource) = match action.as_str() {
                "AssumeRole" => (
                    self.central,
                    "sts:AssumeRole".to_string(),
                    format!("arn:aws:iam::{}:role/{}", self.workload, self.member_role),
                ),
                "GetParameter" => (
                    self.central,
                    "ssm:GetParameter".to_string(),
                    format!(
                        "arn:aws:ssm:{REGION}:{}:parameter{PARAMETER}",
                        self.central_account
                    ),
                ),
                a if a.starts_with("Describe") => (self.member, format!("ec2:{a}"), "*".into()),
                a @ ("CreateTags" | "DeleteTags") => (
                    self.member,
                    format!("ec2:{a}"),
                    format!(
                        "arn:aws:ec2:{REGION}:{}:security-group-rule/sgr-0123456789abcdef0",
                        self.workload
                    ),
                ),
                a => (
                    self.member,
                    format!("ec2:{a}"),
                    format!(
                        "arn:aws:ec2:{REGION}:{}:security-group/{}",
                        self.workload, self.group
                    ),
                ),
            };
            if !allows(policy, &action_arn, &resource, &none) {
                denied.push(format!("{action_arn} on {resource}"));
            }
        }
        denied
    }
}

#[tokio::test]
async fn sgops_plans_and_applies_through_the_roles_the_stacks_create() {
    let central_account = account_id();
    let workload = account_id();

    // The central stack, with the OIDC provider made beforehand (its Condition path for an
    // existing provider: moto would not create one from the template).
    let provider = stacks(&["oidc", &central_account])["arn"]
        .as_str()
        .expect("provider arn")
        .to_string();
    let central_params = [
        ("GitHubRepository", REPO),
        ("ExistingOIDCProviderArn", provider.as_str()),
    ];
    let central = deploy(
        &central_account,
        "central.yaml",
        "sgops-central",
        &central_params,
    );
    let expect = Stack::new("central.yaml", &central_account, REGION, &central_params);
    let plan_role = central["outputs"]["PlanRoleArn"]
        .as_str()
        .expect("PlanRoleArn")
        .to_string();
    let apply_role = central["outputs"]["ApplyRoleArn"]
        .as_str()
        .expect("ApplyRoleArn")
        .to_string();
    assert_eq!(
        plan_role,
        format!("arn:aws:iam::{central_account}:role/sgops-plan")
    );
    assert_eq!(
        apply_role,
        format!("arn:aws:iam::{central_account}:role/sgops-apply")
    );
    // The roles moto created carry the trust the templates say (GitHub's provider, this
    // repository's subjects), and the allow-list parameter holds the template's value.
    assert_eq!(
        central["roles"]["sgops-plan"]["trust"],
        expect.trust("PlanRole")
    );
    assert_eq!(
        central["roles"]["sgops-apply"]["trust"],
        expect.trust("ApplyRole")
    );
    assert_eq!(
        central["roles"]["sgops-plan"]["trust"]["Statement"][0]["Principal"]["Federated"],
        provider.as_str()
    );
    assert_eq!(
        central["parameters"][PARAMETER],
        expect.resource("AllowlistParameter").expect("parameter")["Value"]
    );

    // The member roles in the workload account (reader and writer), with an external id.
    let member_params = [
        ("CentralAccountId", central_account.as_str()),
        ("ExternalId", EXTERNAL_ID),
    ];
    let member = deploy(
        &workload,
        "member-role.yaml",
        "sgops-member",
        &member_params,
    );
    let member_expect = Stack::new("member-role.yaml", &workload, REGION, &member_params);
    assert_eq!(
        member["outputs"]["RoleArn"],
        format!("arn:aws:iam::{workload}:role/sgops-reconciler").as_str()
    );
    assert_eq!(
        member["outputs"]["ReaderRoleArn"],
        format!("arn:aws:iam::{workload}:role/sgops-reader").as_str()
    );
    assert_eq!(
        without_nulls(&member["roles"]["sgops-reconciler"]["trust"]),
        member_expect.trust("Role")
    );
    assert_eq!(
        without_nulls(&member["roles"]["sgops-reader"]["trust"]),
        member_expect.trust("ReaderRole")
    );
    assert_eq!(
        member["roles"]["sgops-reconciler"]["policies"],
        serde_json::json!(["sgops-read", "sgops-write"])
    );
    assert_eq!(
        member["roles"]["sgops-reader"]["policies"],
        serde_json::json!(["sgops-read"])
    );
    // As created in moto: the writer trusts the apply role and not the plan role; the reader
    // trusts both.
    let principals = |role: &str| {
        without_nulls(
            &member["roles"][role]["trust"]["Statement"][0]["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        )
    };
    assert_eq!(
        principals("sgops-reconciler"),
        serde_json::json!([apply_role.as_str()])
    );
    assert_eq!(
        principals("sgops-reader"),
        serde_json::json!([plan_role.as_str(), apply_role.as_str()])
    );

    // A workload: one group with a baseline rule and an exception made by hand.
    let ec2 = ec2(&workload, REGION).await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "web").await;
    add_ingress(&ec2, &group, 22, 22, "10.0.0.0/8", Some("baseline"), &[]).await;
    add_ingress(
        &ec2,
        &group,
        443,
        443,
        "198.51.100.0/24",
        Some("Partner"),
        &[],
    )
    .await;

    // The rules repository, configured for the stacks' defaults.
    let repo = Repo::new(&[("app", &workload)], "");
    std::fs::write(
        repo.path().join("sgops.yaml"),
        format!(
            "allowlist:\n  parameter_prefix: /vpcx/aws/boto3-proxy/allowed-actions/\n  region: {REGION}\nrole_name: sgops-reconciler\nread_role_name: sgops-reader\nexternal_id: {EXTERNAL_ID}\nrule_tags:\n  vpcx:skip_enforcement: \"yes\"\naccounts:\n  app: \"{workload}\"\nregions: [{REGION}]\n"
        ),
    )
    .expect("write sgops.yaml");
    repo.file(
        "app",
        REGION,
        "web",
        &format!(
            "security_group: {group}\nrules:\n  - id: partner\n    direction: ingress\n    protocol: tcp\n    ports: 443\n    cidr: 198.51.100.0/24\n    description: Partner\n    ticket: CHG-1\n  - id: monitoring\n    direction: ingress\n    protocol: tcp\n    ports: 9100\n    cidr: 192.0.2.0/24\n    description: Monitoring\n    ticket: CHG-2\n"
        ),
    );

    let plan_creds = web_identity(&plan_role).await;
    let apply_creds = web_identity(&apply_role).await;
    let proxy = FaultProxy::start(&[]);

    let central_expect = Stack::new("central.yaml", &central_account, REGION, &central_params);
    let plan_policy = central_expect.permissions("PlanRole");
    let apply_policy = central_expect.permissions("ApplyRole");
    let member_rw = member_expect.permissions("Role");
    let member_ro = member_expect.permissions("ReaderRole");
    let reader_arn = format!("arn:aws:iam::{workload}:role/sgops-reader");
    let writer_arn = format!("arn:aws:iam::{workload}:role/sgops-reconciler");

    // Plan with the plan role: the allow-list is the stack's parameter, the member reader is
    // reached through it.
    let before = counts(&proxy);
    let (code, out, err) = sgops_as(
        &repo,
        &proxy,
        &plan_creds,
        &["plan", "--format", "json", "--detailed-exitcode"],
    );
    assert_eq!(code, 2, "plan: {out}\n{err}");
    let plan: Value = serde_json::from_str(&out).expect("plan JSON");
    assert_eq!(
        actions(&plan),
        ["monitoring:create", "partner:adopt"],
        "{out}"
    );
    assert_eq!(
        plan["summary"]["denied"], 0,
        "the stack's allow-list allows the plan: {out}"
    );
    assert!(
        plan["changes"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["allowed"] == true)),
        "{out}"
    );
    let plan_calls = calls_since(&proxy, &before);
    eprintln!("plan's AWS calls: {plan_calls:?}");
    assert!(plan_calls.contains_key("AssumeRole"), "{plan_calls:?}");
    assert!(plan_calls.contains_key("GetParameter"), "{plan_calls:?}");
    assert!(
        plan_calls.contains_key("DescribeSecurityGroupRules"),
        "{plan_calls:?}"
    );
    // The plan asked for the reader, once, and for no other role.
    assert_eq!(
        proxy.assumed_roles(),
        BTreeMap::from([(reader_arn.clone(), 1)]),
        "the plan assumes the reader only"
    );
    // Every call of the plan is granted to the plan role and the member reader.
    let g = Grants {
        central: &plan_policy,
        member: &member_ro,
        member_role: "sgops-reader",
        central_account: &central_account,
        workload: &workload,
        group: &group,
    };
    assert_eq!(
        g.denied(&plan_calls),
        Vec::<String>::new(),
        "{plan_calls:?}"
    );
    // The plan role may not assume the writer: were the plan to ask for it, the check fails.
    let via_writer = Grants {
        member: &member_rw,
        member_role: "sgops-reconciler",
        ..g
    };
    assert_eq!(
        via_writer.denied(&plan_calls),
        [format!("sts:AssumeRole on {writer_arn}")],
        "{plan_calls:?}"
    );

    // Apply with the apply role.
    let before = counts(&proxy);
    let (code, out, err) = sgops_as(&repo, &proxy, &apply_creds, &["apply"]);
    assert_eq!(code, 0, "apply: {out}\n{err}");
    let apply_calls = calls_since(&proxy, &before);
    eprintln!("apply's AWS calls: {apply_calls:?}");
    // apply asked for the writer, once (its reads and writes share the session).
    assert_eq!(
        proxy.assumed_roles(),
        BTreeMap::from([(reader_arn.clone(), 1), (writer_arn.clone(), 1)]),
        "apply assumes the writer only"
    );
    let g = Grants {
        central: &apply_policy,
        member: &member_rw,
        member_role: "sgops-reconciler",
        central_account: &central_account,
        workload: &workload,
        group: &group,
    };
    assert_eq!(
        g.denied(&apply_calls),
        Vec::<String>::new(),
        "{apply_calls:?}"
    );
    // The check can fail: the member reader does not grant what apply called.
    let ro = Grants {
        member: &member_ro,
        member_role: "sgops-reader",
        ..g
    };
    let refused = ro.denied(&apply_calls);
    assert!(
        refused
            .iter()
            .any(|d| d.starts_with("ec2:AuthorizeSecurityGroupIngress"))
            && refused.iter().any(|d| d.starts_with("ec2:CreateTags")),
        "{refused:?} ({apply_calls:?})"
    );

    // Converged: the new rule exists, tagged; the next plan is empty.
    let live = ingress(&ec2, &group).await;
    let monitoring = live
        .iter()
        .find(|r| r.from == 9100)
        .expect("the new rule in AWS");
    assert_eq!(
        monitoring.tags.get("sgops:rule").map(String::as_str),
        Some("monitoring")
    );
    let partner = live
        .iter()
        .find(|r| r.from == 443)
        .expect("the adopted rule");
    assert_eq!(
        partner.tags.get("sgops:rule").map(String::as_str),
        Some("partner")
    );
    let (code, out, err) = sgops_as(&repo, &proxy, &plan_creds, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "plan after apply: {out}\n{err}");
}
