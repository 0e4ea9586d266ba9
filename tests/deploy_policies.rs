//! The IAM of `deploy/`, read from the templates: every role grants exactly the AWS calls
//! sgops makes (found in `src/`), no wildcard action, writes scoped to security groups and
//! rules, and each role trusted only by whom the README says.
//!
//! The calls are found without a hand-kept list: every operation of the AWS SDK crates sgops
//! depends on (their `src/operation/` folders, located with `cargo metadata`) whose method is
//! called in `src/` (`.describe_security_groups()` and the like). A new SDK call without its
//! IAM action in the templates fails here.

mod cfn;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cfn::{Stack, allowed_actions, allows, strings};
use serde_json::{Value, json};

const CENTRAL: &str = "111111111111";
const MEMBER: &str = "222222222222";
const REPO: &str = "example-org/security-rules";

/// The SDK crates whose calls need IAM, and the IAM service prefix of each.
const SDKS: &[(&str, &str)] = &[
    ("aws-sdk-ec2", "ec2"),
    ("aws-sdk-ssm", "ssm"),
    ("aws-sdk-sts", "sts"),
    ("aws-sdk-organizations", "organizations"),
];

/// Operation method name (`describe_security_groups`) → IAM action (`ec2:DescribeSecurityGroups`),
/// for the SDK crates of [`SDKS`] in sgops's dependency graph.
fn sdk_operations() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let mut ops: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let Some((_, service)) = SDKS.iter().find(|(name, _)| p["name"] == *name) else {
            continue;
        };
        let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
        let dir = manifest.parent().expect("crate dir").join("src/operation");
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let e = e.expect("dir entry");
            if !e.file_type().expect("file type").is_dir() {
                continue;
            }
            let method = e.file_name().to_string_lossy().into_owned();
            let src = std::fs::read_to_string(dir.join(format!("{method}.rs")))
                .unwrap_or_else(|e| panic!("{method}.rs: {e}"));
            // `pub struct DescribeSecurityGroups;`: the operation's API name.
            let name = src
                .lines()
                .find_map(|l| l.strip_prefix("pub struct ")?.strip_suffix(';'))
                .unwrap_or_else(|| panic!("no operation struct in {method}.rs"));
            ops.entry(method)
                .or_default()
                .push(format!("{service}:{name}"));
        }
    }
    assert!(
        ops.contains_key("describe_security_groups"),
        "aws-sdk-ec2 not found by cargo metadata"
    );
    ops
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Method names called without arguments (`.name()`, spaces and line breaks allowed), outside
/// `//` comments.
fn called_methods(src: &str) -> BTreeSet<String> {
    let code: String = src
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    let b = code.as_bytes();
    let mut out = BTreeSet::new();
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    for (i, &c) in b.iter().enumerate() {
        if c != b'.' {
            continue;
        }
        let start = skip_ws(i + 1);
        let mut end = start;
        while end < b.len()
            && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'_')
        {
            end += 1;
        }
        if end == start || !b[start].is_ascii_lowercase() {
            continue;
        }
        let open = skip_ws(end);
        if open < b.len() && b[open] == b'(' {
            let close = skip_ws(open + 1);
            if close < b.len() && b[close] == b')' {
                out.insert(code[start..end].to_string());
            }
        }
    }
    out
}

/// The IAM actions of the SDK calls in `src/`, by service prefix, each with a file that calls it.
fn calls_in_src() -> &'static BTreeMap<String, BTreeMap<String, String>> {
    static CALLS: OnceLock<BTreeMap<String, BTreeMap<String, String>>> = OnceLock::new();
    CALLS.get_or_init(scan_src)
}

fn scan_src() -> BTreeMap<String, BTreeMap<String, String>> {
    let ops = sdk_operations();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in files {
        let src = std::fs::read_to_string(&f).expect("read source");
        for m in called_methods(&src) {
            let Some(actions) = ops.get(&m) else { continue };
            assert!(
                actions.len() == 1,
                "{}: .{m}() is an operation of several SDKs ({actions:?}): teach tests/deploy_policies.rs which one",
                f.display()
            );
            let (service, _) = actions[0].split_once(':').expect("service:action");
            found.entry(service.to_string()).or_default().insert(
                actions[0].clone(),
                f.strip_prefix(root).unwrap_or(&f).display().to_string(),
            );
        }
    }
    found
}

fn set<'a>(items: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    items.into_iter().cloned().collect()
}

/// deploy/member-role.yaml with `params` (besides the central account id).
fn member(params: &[(&str, &str)]) -> Stack {
    let mut p = vec![("CentralAccountId", CENTRAL)];
    p.extend_from_slice(params);
    Stack::new("member-role.yaml", MEMBER, "us-east-1", &p)
}

/// The member roles: the reader (plan, drift, import) and the writer (apply, invoke, serve).
const READER: &str = "ReaderRole";
const WRITER: &str = "Role";

fn central(params: &[(&str, &str)]) -> Stack {
    let mut p = vec![("GitHubRepository", REPO)];
    p.extend_from_slice(params);
    Stack::new("central.yaml", CENTRAL, "us-east-1", &p)
}

#[test]
fn the_scan_finds_sdk_calls_written_over_several_lines() {
    let src = "let x = self\n    .client\n    .describe_security_groups ( )\n    .send();\n// .create_tags()\nfoo.bar(1);";
    assert_eq!(
        called_methods(src),
        set(&["describe_security_groups".to_string(), "send".to_string()])
    );
}

#[test]
fn member_role_grants_exactly_the_ec2_calls_of_sgops() {
    let calls = calls_in_src();
    let ec2 = calls.get("ec2").expect("sgops calls EC2");
    let all: BTreeSet<String> = ec2.keys().cloned().collect();
    let reads: BTreeSet<String> = all
        .iter()
        .filter(|a| a.starts_with("ec2:Describe"))
        .cloned()
        .collect();
    // Sanity: the scan sees both halves.
    assert!(reads.contains("ec2:DescribeSecurityGroupRules"), "{all:?}");
    assert!(all.contains("ec2:AuthorizeSecurityGroupIngress"), "{all:?}");

    let m = member(&[]);
    let rw = allowed_actions(&m.permissions(WRITER));
    let missing: Vec<_> = all
        .iter()
        .filter(|a| !rw.contains(*a))
        .map(|a| format!("{a} (called in {})", ec2[a]))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/member-role.yaml (the writer) lacks: {missing:?}"
    );
    assert_eq!(
        rw, all,
        "deploy/member-role.yaml: the writer must grant exactly the EC2 calls in src/ (apply reads with it too)"
    );
    let ro = allowed_actions(&m.permissions(READER));
    assert_eq!(
        ro, reads,
        "deploy/member-role.yaml: the reader must grant exactly the EC2 describes in src/"
    );
    // Without the writer, only the reader is created.
    assert_eq!(
        member(&[("CreateWriterRole", "false")]).resources_of("AWS::IAM::Role"),
        [READER]
    );
    assert!(
        member(&[("CreateWriterRole", "false")])
            .resources_of("AWS::IAM::Policy")
            .is_empty()
    );
    let mut both = m.resources_of("AWS::IAM::Role");
    both.sort();
    assert_eq!(both, [READER, WRITER]);
}

#[test]
fn the_reader_grants_only_describes() {
    for params in [
        &[][..],
        &[("CreateWriterRole", "false")],
        &[("ExternalId", "x-1")],
    ] {
        let stmts = member(params).permissions(READER);
        assert!(!stmts.is_empty());
        for s in &stmts {
            assert!(s.allow, "{s:?}");
            for a in &s.actions {
                assert!(
                    a.starts_with("ec2:Describe"),
                    "the reader must only describe: {a} ({params:?})"
                );
            }
        }
    }
}

#[test]
fn central_and_server_roles_grant_exactly_the_ssm_and_sts_calls_of_sgops() {
    let calls = calls_in_src();
    let mut want: BTreeSet<String> = BTreeSet::new();
    for s in ["ssm", "sts"] {
        want.extend(calls.get(s).into_iter().flat_map(|m| m.keys().cloned()));
    }
    assert_eq!(
        want,
        set(&["ssm:GetParameter".to_string(), "sts:AssumeRole".to_string()]),
        "sgops's central calls changed: update deploy/central.yaml, deploy/serve-*.yaml and this test"
    );
    let c = central(&[]);
    for role in ["PlanRole", "ApplyRole"] {
        assert_eq!(
            allowed_actions(&c.permissions(role)),
            want,
            "deploy/central.yaml {role}"
        );
    }
    // The server's role: the same calls, plus its own log lines in Lambda.
    for (file, role, logs) in [
        (
            "serve-lambda.yaml",
            "FunctionRole",
            &["logs:CreateLogStream", "logs:PutLogEvents"][..],
        ),
        ("serve-ecs.yaml", "TaskRole", &[][..]),
    ] {
        let s = serve_stack(file);
        let granted = allowed_actions(&s.permissions(role));
        let (sgops, other): (BTreeSet<String>, BTreeSet<String>) =
            granted.into_iter().partition(|a| !a.starts_with("logs:"));
        assert_eq!(sgops, want, "deploy/{file} {role}");
        assert_eq!(
            other,
            logs.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            "deploy/{file} {role}"
        );
    }
}

fn serve_stack(file: &str) -> Stack {
    let params: &[(&str, &str)] = if file == "serve-ecs.yaml" {
        &[
            (
                "Image",
                "111111111111.dkr.ecr.us-east-1.amazonaws.com/sgops:1",
            ),
            ("VpcId", "vpc-0123456789abcdef0"),
            (
                "SubnetIds",
                "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
            ),
            (
                "CertificateArn",
                "arn:aws:acm:us-east-1:111111111111:certificate/x",
            ),
            ("AllowedCidr", "10.0.0.0/8"),
        ]
    } else {
        &[
            ("CodeS3Bucket", "bucket"),
            ("CodeS3Key", "sgops.zip"),
            ("VpcEndpointId", "vpce-0123456789abcdef0"),
        ]
    };
    Stack::new(file, CENTRAL, "us-east-1", params)
}

#[test]
fn organization_reader_grants_the_organizations_calls_of_sgops() {
    let reader = Stack::new(
        "organization-reader.yaml",
        CENTRAL,
        "us-east-1",
        &[("GitHubRepository", REPO)],
    );
    let granted = allowed_actions(&reader.permissions("Role"));
    for a in &granted {
        let (svc, name) = a.split_once(':').expect("service:action");
        assert!(
            svc == "organizations" && (name.starts_with("List") || name.starts_with("Describe")),
            "the organization reader must only read: {a}"
        );
    }
    let calls = calls_in_src();
    match calls.get("organizations") {
        Some(orgs) => assert_eq!(
            granted,
            set(orgs.keys()),
            "deploy/organization-reader.yaml must grant exactly the Organizations calls in src/ ({orgs:?})"
        ),
        // Before `sgops accounts` reads Organizations, there is nothing to compare with.
        None => eprintln!("no Organizations call in src/ yet: only read-only actions checked"),
    }
}

#[test]
fn no_wildcard_action_and_every_write_is_scoped() {
    let stacks = [
        (
            "member-role.yaml writer",
            member(&[("ExternalId", "x-1")]),
            WRITER,
        ),
        ("member-role.yaml reader", member(&[]), READER),
        ("central.yaml", central(&[]), "PlanRole"),
        ("central.yaml", central(&[]), "ApplyRole"),
        (
            "organization-reader.yaml",
            Stack::new(
                "organization-reader.yaml",
                CENTRAL,
                "us-east-1",
                &[("GitHubRepository", REPO)],
            ),
            "Role",
        ),
        (
            "serve-lambda.yaml",
            serve_stack("serve-lambda.yaml"),
            "FunctionRole",
        ),
        ("serve-ecs.yaml", serve_stack("serve-ecs.yaml"), "TaskRole"),
    ];
    for (name, stack, role) in &stacks {
        for s in stack.permissions(role) {
            assert!(s.allow, "{name} {role}: Deny statements are not expected");
            for a in &s.actions {
                assert!(
                    !a.contains('*') && !a.contains('?'),
                    "{name} {role}: wildcard action {a}"
                );
            }
            let read_only = s.actions.iter().all(|a| {
                let n = a.split_once(':').map_or("", |(_, n)| n);
                n.starts_with("Describe") || n.starts_with("List")
            });
            if !read_only {
                assert!(
                    !s.resources.iter().any(|r| r == "*"),
                    "{name} {role}: {:?} on every resource",
                    s.actions
                );
            }
        }
    }
    // Tags only on rules: never an instance, a volume, a group.
    let rw = member(&[]).permissions(WRITER);
    let ctx = BTreeMap::new();
    let rule =
        format!("arn:aws:ec2:eu-central-1:{MEMBER}:security-group-rule/sgr-0123456789abcdef0");
    assert!(allows(&rw, "ec2:CreateTags", &rule, &ctx));
    for other in [
        format!("arn:aws:ec2:eu-central-1:{MEMBER}:instance/i-0123456789abcdef0"),
        format!("arn:aws:ec2:eu-central-1:{MEMBER}:security-group/sg-0123456789abcdef0"),
        "arn:aws:ec2:eu-central-1:333333333333:security-group-rule/sgr-0123456789abcdef0"
            .to_string(),
    ] {
        assert!(!allows(&rw, "ec2:CreateTags", &other, &ctx), "{other}");
        assert!(!allows(&rw, "ec2:DeleteTags", &other, &ctx), "{other}");
    }
    let group = format!("arn:aws:ec2:eu-central-1:{MEMBER}:security-group/sg-0123456789abcdef0");
    assert!(allows(
        &rw,
        "ec2:AuthorizeSecurityGroupIngress",
        &group,
        &ctx
    ));
    assert!(!allows(
        &member(&[]).permissions(READER),
        "ec2:AuthorizeSecurityGroupIngress",
        &group,
        &ctx
    ));
}

/// Whether the trust policy lets `principal` assume the role with `context`.
fn trusts(trust: &Value, principal: (&str, &str), action: &str, context: &[(&str, &str)]) -> bool {
    let ctx: BTreeMap<&str, &str> = context.iter().copied().collect();
    let list = match &trust["Statement"] {
        Value::Array(a) => a.clone(),
        one => vec![one.clone()],
    };
    list.iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"]).iter().any(|a| a == action)
            && strings(&s["Principal"][principal.0])
                .iter()
                .any(|p| p == principal.1)
            && cfn::condition_holds(s.get("Condition").unwrap_or(&Value::Null), &ctx)
    })
}

/// Whether the member role `role` of `stack` lets the central role `principal` (an ARN)
/// assume it, passing `external_id` if any.
fn member_trusts(stack: &Stack, role: &str, principal: &str, external_id: Option<&str>) -> bool {
    let root = format!("arn:aws:iam::{CENTRAL}:root");
    let mut ctx = vec![("aws:PrincipalArn", principal)];
    if let Some(e) = external_id {
        ctx.push(("sts:ExternalId", e));
    }
    trusts(&stack.trust(role), ("AWS", &root), "sts:AssumeRole", &ctx)
}

#[test]
fn the_writer_trusts_the_apply_role_and_never_the_plan_role() {
    let plan = format!("arn:aws:iam::{CENTRAL}:role/sgops-plan");
    let apply = format!("arn:aws:iam::{CENTRAL}:role/sgops-apply");
    let server = format!("arn:aws:iam::{CENTRAL}:role/sgops-serve");
    let other = format!("arn:aws:iam::{CENTRAL}:role/admin");
    let elsewhere = "arn:aws:iam::333333333333:role/sgops-apply".to_string();

    let m = member(&[]);
    for role in [READER, WRITER] {
        let t = m.trust(role);
        assert_eq!(t["Statement"].as_array().map(Vec::len), Some(1), "{t}");
        assert!(
            t["Statement"][0]["Condition"].get("StringEquals").is_none(),
            "no external id condition unless set: {t}"
        );
        assert!(!member_trusts(&m, role, &other, None), "{role}");
        assert!(
            !member_trusts(&m, role, &server, None),
            "{role}: no server unless named"
        );
        assert!(
            !trusts(
                &t,
                ("AWS", "arn:aws:iam::333333333333:root"),
                "sts:AssumeRole",
                &[("aws:PrincipalArn", &elsewhere)]
            ),
            "{role}"
        );
    }
    // The reader: plan and apply. The writer: apply only.
    assert!(member_trusts(&m, READER, &plan, None));
    assert!(member_trusts(&m, READER, &apply, None));
    assert!(member_trusts(&m, WRITER, &apply, None));
    assert!(
        !member_trusts(&m, WRITER, &plan, None),
        "the plan role (which pull requests use) must not reach the writer"
    );

    // With a server: trusted by both, and still no plan role on the writer.
    let s = member(&[("ServerRoleName", "sgops-serve")]);
    for (role, who, want) in [
        (READER, &plan, true),
        (READER, &apply, true),
        (READER, &server, true),
        (WRITER, &plan, false),
        (WRITER, &apply, true),
        (WRITER, &server, true),
        (WRITER, &other, false),
        (READER, &other, false),
    ] {
        assert_eq!(member_trusts(&s, role, who, None), want, "{role} {who}");
    }

    // With an external id: it must be passed, and right; the plan role still never writes.
    let e = member(&[("ExternalId", "ext-42"), ("ServerRoleName", "sgops-serve")]);
    for role in [READER, WRITER] {
        assert!(member_trusts(&e, role, &apply, Some("ext-42")), "{role}");
        assert!(!member_trusts(&e, role, &apply, None), "{role}");
        assert!(!member_trusts(&e, role, &apply, Some("ext-43")), "{role}");
    }
    assert!(member_trusts(&e, READER, &plan, Some("ext-42")));
    assert!(!member_trusts(&e, WRITER, &plan, Some("ext-42")));
}

/// What a pull request can reach: the plan role's AssumeRole grants (central.yaml) meet the
/// member roles' trust (member-role.yaml). Every member role it reaches must only read, and
/// the writer must be out of reach from both sides.
#[test]
fn a_pull_request_cannot_reach_a_role_that_writes() {
    let plan = format!("arn:aws:iam::{CENTRAL}:role/sgops-plan");
    for central_params in [&[][..], &[("OrganizationId", "o-abcdefghij")]] {
        let c = central(central_params);
        let p = c.permissions("PlanRole");
        let ctx: BTreeMap<&str, &str> = central_params
            .iter()
            .map(|_| ("aws:ResourceOrgID", "o-abcdefghij"))
            .collect();
        for member_params in [
            &[][..],
            &[("ServerRoleName", "sgops-serve")],
            &[("ExternalId", "ext-42")],
        ] {
            let m = member(member_params);
            let mut reached = Vec::new();
            for role in m.resources_of("AWS::IAM::Role") {
                let name = m.resource(&role).expect("created")["RoleName"]
                    .as_str()
                    .expect("a name")
                    .to_string();
                let arn = format!("arn:aws:iam::{MEMBER}:role/{name}");
                let granted = allows(&p, "sts:AssumeRole", &arn, &ctx);
                let trusted = member_trusts(&m, &role, &plan, Some("ext-42"));
                if role == WRITER {
                    assert!(!granted, "central.yaml lets the plan role assume {arn}");
                    assert!(
                        !trusted,
                        "member-role.yaml {member_params:?}: the writer trusts the plan role"
                    );
                }
                if granted && trusted {
                    reached.push(role.clone());
                    for s in m.permissions(&role) {
                        for a in &s.actions {
                            assert!(
                                a.starts_with("ec2:Describe"),
                                "the plan role reaches {role}, which grants {a}"
                            );
                        }
                    }
                }
            }
            assert_eq!(reached, [READER], "{central_params:?} {member_params:?}");
        }
    }
}

#[test]
fn central_roles_are_trusted_by_the_repository_only_as_the_readme_says() {
    const GH: &str = "token.actions.githubusercontent.com";
    let provider = format!("arn:aws:iam::{CENTRAL}:oidc-provider/{GH}");
    for (stack, principal) in [
        (central(&[]), "<GitHubOIDCProvider>".to_string()),
        (
            central(&[("ExistingOIDCProviderArn", &provider)]),
            provider.clone(),
        ),
    ] {
        let plan = stack.trust("PlanRole");
        let apply = stack.trust("ApplyRole");
        let can = |t: &Value, sub: &str| {
            trusts(
                t,
                ("Federated", &principal),
                "sts:AssumeRoleWithWebIdentity",
                &[
                    (
                        "token.actions.githubusercontent.com:aud",
                        "sts.amazonaws.com",
                    ),
                    ("token.actions.githubusercontent.com:sub", sub),
                ],
            )
        };
        let pr = format!("repo:{REPO}:pull_request");
        let main = format!("repo:{REPO}:ref:refs/heads/main");
        let prod = format!("repo:{REPO}:environment:production");
        assert!(can(&plan, &pr) && can(&plan, &main));
        assert!(
            !can(&plan, &prod),
            "the plan role is not the production environment's"
        );
        assert!(can(&apply, &prod));
        assert!(
            !can(&apply, &pr) && !can(&apply, &main),
            "only the production environment applies"
        );
        for sub in [
            format!("repo:{REPO}:ref:refs/heads/feature"),
            format!("repo:{REPO}:environment:staging"),
            "repo:someone/else:pull_request".to_string(),
            "repo:someone/else:environment:production".to_string(),
        ] {
            assert!(!can(&plan, &sub) && !can(&apply, &sub), "{sub}");
        }
        // The audience is checked too.
        assert!(!trusts(
            &plan,
            ("Federated", &principal),
            "sts:AssumeRoleWithWebIdentity",
            &[
                ("token.actions.githubusercontent.com:aud", "other"),
                ("token.actions.githubusercontent.com:sub", &pr)
            ]
        ));
    }
    assert_eq!(
        central(&[]).resources_of("AWS::IAM::OIDCProvider"),
        ["GitHubOIDCProvider"]
    );
    assert!(
        central(&[("ExistingOIDCProviderArn", &provider)])
            .resources_of("AWS::IAM::OIDCProvider")
            .is_empty()
    );
}

#[test]
fn central_roles_read_the_allowlist_sgops_reads_and_assume_only_member_roles() {
    let defaults = sgops::config::Config::default();
    let c = central(&[]);
    assert_eq!(c.params["MemberRoleName"], defaults.role_name);
    assert_eq!(
        c.params["AllowlistParameterPrefix"],
        defaults.allowlist.parameter_prefix
    );
    let m = member(&[]);
    assert_eq!(m.params["RoleName"], defaults.role_name);
    assert_eq!(m.params["ReaderRoleName"], c.params["MemberReaderRoleName"]);
    assert_ne!(m.params["ReaderRoleName"], m.params["RoleName"]);
    assert_eq!(m.params["PlanRoleName"], c.params["PlanRoleName"]);
    assert_eq!(m.params["ApplyRoleName"], c.params["ApplyRoleName"]);
    // The central stack refuses a reader named like the writer (its Rules).
    let rule = &c.template["Rules"]["ReaderIsNotWriter"]["Assertions"][0]["Assert"];
    assert_eq!(
        rule,
        &json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "MemberReaderRoleName"}, {"Ref": "MemberRoleName"}]}]})
    );
    assert_eq!(c.eval(rule), Some(json!(true)));
    let same = central(&[("MemberReaderRoleName", "sgops-reconciler")]);
    assert_eq!(same.eval(rule), Some(json!(false)));

    let param = format!(
        "arn:aws:ssm:us-east-1:{CENTRAL}:parameter{}ec2",
        defaults.allowlist.parameter_prefix
    );
    let none = BTreeMap::new();
    for role in ["PlanRole", "ApplyRole"] {
        let p = c.permissions(role);
        assert!(allows(&p, "ssm:GetParameter", &param, &none));
        assert!(!allows(
            &p,
            "ssm:GetParameter",
            &param.replace("/ec2", "/s3"),
            &none
        ));
        assert!(!allows(
            &p,
            "ssm:GetParameter",
            &param.replace("us-east-1", "eu-west-1"),
            &none
        ));
        assert!(allows(
            &p,
            "sts:AssumeRole",
            &format!("arn:aws:iam::{MEMBER}:role/sgops-reader"),
            &none
        ));
        assert_eq!(
            allows(
                &p,
                "sts:AssumeRole",
                &format!("arn:aws:iam::{MEMBER}:role/sgops-reconciler"),
                &none
            ),
            role == "ApplyRole",
            "{role}: only the apply role may assume the writer"
        );
        assert!(!allows(
            &p,
            "sts:AssumeRole",
            &format!("arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole"),
            &none
        ));
    }
    // With an organization id: only roles of that organization.
    let c = central(&[("OrganizationId", "o-abcdefghij")]);
    let ctx = |org| BTreeMap::from([("aws:ResourceOrgID", org)]);
    for (role, member_role) in [
        ("PlanRole", "sgops-reader"),
        ("ApplyRole", "sgops-reader"),
        ("ApplyRole", "sgops-reconciler"),
    ] {
        let p = c.permissions(role);
        let arn = format!("arn:aws:iam::{MEMBER}:role/{member_role}");
        assert!(
            allows(&p, "sts:AssumeRole", &arn, &ctx("o-abcdefghij")),
            "{role}"
        );
        assert!(
            !allows(&p, "sts:AssumeRole", &arn, &ctx("o-zzzzzzzzzz")),
            "{role}"
        );
    }
    assert!(!allows(
        &c.permissions("PlanRole"),
        "sts:AssumeRole",
        &format!("arn:aws:iam::{MEMBER}:role/sgops-reconciler"),
        &ctx("o-abcdefghij")
    ));
}

#[test]
fn allowlist_parameter_is_in_the_seeds_format_and_lists_what_plan_and_apply_use() {
    let props = central(&[])
        .resource("AllowlistParameter")
        .expect("created by default");
    let value = props["Value"].as_str().expect("a string value");
    assert!(
        value.starts_with("{\"") && value.ends_with("\"}"),
        "{value}"
    );
    assert_eq!(
        props["Name"],
        json!("/vpcx/aws/boto3-proxy/allowed-actions/ec2")
    );
    assert_eq!(
        sgops::allowlist::parse_value(value),
        sgops::allowlist::parse_value(support::ALL_ACTIONS)
    );
    assert!(
        central(&[("CreateAllowlistParameter", "false")])
            .resource("AllowlistParameter")
            .is_none()
    );
}
