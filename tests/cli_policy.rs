//! Policy from the base branch (`--policy-from REF`), through the real binary in a git
//! repository made for each test: a pull request that loosens sgops.yaml is checked under the
//! base's policy, and its policy changes are shown apart. Also `plan --out` when the rules are
//! invalid: the plan file carries the problems, so the pull request's comment shows them.

mod support;

use std::path::Path;

use assert_cmd::Command;
use support::git;

const BASE_CONFIG: &str = "accounts:\n  itx-016: \"111111111111\"\nrule_tags:\n  vpcx:skip_enforcement: \"yes\"\nguardrails:\n  world_open_denied_ports: [22, 3389]\n";

/// The pull request's sgops.yaml: no denied ports, another allow-list, no rule tags.
const LOOSE_CONFIG: &str = "accounts:\n  itx-016: { id: \"111111111111\", role_name: admin }\nallowlist:\n  parameter_prefix: /attacker/\nguardrails:\n  world_open_denied_ports: []\n";

const WORLD_OPEN_SSH: &str = "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - id: ssh\n    direction: ingress\n    protocol: tcp\n    ports: 22\n    cidr: 0.0.0.0/0\n    ticket: CHG-1\n";

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A repository whose first commit (returned) has `base` as sgops.yaml (none when `None`),
/// with the working tree then changed to `proposed` and a world-open SSH rule.
fn pull_request(base: Option<&str>, proposed: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    git(d, &["init", "-q"]);
    write(d, "README", "rules\n");
    if let Some(base) = base {
        write(d, "sgops.yaml", base);
    }
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "base"]);
    let sha = git(d, &["rev-parse", "HEAD"]);
    write(d, "sgops.yaml", proposed);
    write(d, "rules/itx-016/us-east-1/ssh.yaml", WORLD_OPEN_SSH);
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "pull request"]);
    (dir, sha)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn sgops(dir: &Path, args: &[&str]) -> Run {
    let out = Command::cargo_bin("sgops")
        .expect("the sgops binary")
        .current_dir(dir)
        .args(args)
        .env("SGOPS_TODAY", "2026-11-27")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("RUST_LOG")
        // Nothing here may reach AWS: the rules are refused first.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .expect("run sgops");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_pull_request_cannot_loosen_the_guardrails_it_is_checked_under() {
    let (dir, base) = pull_request(Some(BASE_CONFIG), LOOSE_CONFIG);
    // Under its own sgops.yaml the world-open rule would pass.
    let own = sgops(dir.path(), &["validate"]);
    assert_eq!(own.code, Some(0), "{}", own.stderr);
    let r = sgops(dir.path(), &["validate", "--policy-from", &base]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("error[guardrail]: ingress from 0.0.0.0/0 opens tcp 22"),
        "{}",
        r.stderr
    );
    for change in [
        "policy: this sgops.yaml changes allowlist.parameter_prefix from `/vpcx/aws/boto3-proxy/allowed-actions/` to `/attacker/`",
        "policy: this sgops.yaml changes rule_tags from `vpcx:skip_enforcement=yes` to ``",
        "policy: this sgops.yaml changes guardrails.world_open_denied_ports from `22, 3389` to ``",
        "policy: this sgops.yaml changes accounts.itx-016.role_name from `sgops-reconciler (default)` to `admin`",
    ] {
        assert!(r.stderr.contains(change), "{change}\n{}", r.stderr);
    }
}

#[test]
fn an_invalid_plan_writes_its_problems_and_the_policy_changes_to_the_plan_file() {
    let (dir, base) = pull_request(Some(BASE_CONFIG), LOOSE_CONFIG);
    let r = sgops(
        dir.path(),
        &["plan", "--policy-from", &base, "--out", "plan.json"],
    );
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let text = std::fs::read_to_string(dir.path().join("plan.json")).expect("plan.json written");
    let plan: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["changes"], serde_json::json!([]));
    let errors = plan["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["account"], "validate");
    assert_eq!(errors[0]["region"], "rules/itx-016/us-east-1/ssh.yaml:3:5");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("ingress from 0.0.0.0/0 opens tcp 22")),
        "{errors:?}"
    );
    let keys: Vec<&str> = plan["policy_changes"]
        .as_array()
        .expect("policy_changes")
        .iter()
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "allowlist.parameter_prefix",
            "rule_tags",
            "guardrails.world_open_denied_ports",
            "accounts.itx-016.role_name"
        ]
    );
}

#[test]
fn a_base_without_sgops_yaml_means_the_default_policy() {
    let (dir, base) = pull_request(None, LOOSE_CONFIG);
    let r = sgops(dir.path(), &["validate", "--policy-from", &base]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "warning: sgops.yaml does not exist at {base} (--policy-from): the built-in default policy applies"
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unknown_or_invalid_base_is_an_error_that_says_what_to_do() {
    let (dir, _) = pull_request(Some(BASE_CONFIG), BASE_CONFIG);
    let r = sgops(
        dir.path(),
        &[
            "validate",
            "--policy-from",
            "0123456789abcdef0123456789abcdef01234567",
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("is not in this clone"), "{}", r.stderr);
    assert!(r.stderr.contains("fetch-depth: 0"), "{}", r.stderr);
    let r = sgops(dir.path(), &["validate", "--policy-from=--upload-pack=x"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("is not a git revision"), "{}", r.stderr);

    let (dir, base) = pull_request(Some("accounts: {}\nconcurrency: 0\n"), BASE_CONFIG);
    let r = sgops(dir.path(), &["validate", "--policy-from", &base]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "sgops.yaml at `{base}` (the base branch, --policy-from) is invalid"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("concurrency must be between 1 and 1000000"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_base_policy_is_read_beside_a_configuration_in_a_subfolder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    git(d, &["init", "-q"]);
    write(d, "infra/sgops.yaml", BASE_CONFIG);
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "base"]);
    let base = git(d, &["rev-parse", "HEAD"]);
    write(d, "infra/sgops.yaml", LOOSE_CONFIG);
    write(d, "infra/rules/itx-016/us-east-1/ssh.yaml", WORLD_OPEN_SSH);
    let r = sgops(
        d,
        &[
            "--config",
            "infra/sgops.yaml",
            "--rules",
            "infra/rules",
            "validate",
            "--policy-from",
            &base,
        ],
    );
    assert_eq!(r.code, Some(3), "{}", r.stderr);
}

#[test]
fn a_pull_request_cannot_switch_off_approvals_or_the_expiry_warning() {
    let base = "accounts:\n  itx-016: \"111111111111\"\napprovals:\n  require_codeowners: true\nexpiry:\n  warn_days: 45\n";
    let proposed = "accounts:\n  itx-016: \"111111111111\"\napprovals:\n  require_codeowners: false\nexpiry:\n  warn_days: 0\nguardrails:\n  world_open_denied_ports: []\n";
    let (dir, sha) = pull_request(Some(base), proposed);
    let r = sgops(dir.path(), &["validate", "--policy-from", &sha]);
    assert!(
        r.stderr.contains("policy: this sgops.yaml changes approvals.require_codeowners from `true` to `false`; the plan keeps the base's until merge"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("policy: this sgops.yaml changes expiry.warn_days from `45` to `0`"),
        "{}",
        r.stderr
    );
    // The plan file of a refused plan carries them too (the PR comment's policy section).
    let out = dir.path().join("plan.json");
    let r = sgops(
        dir.path(),
        &[
            "plan",
            "--policy-from",
            &sha,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, Some(3), "{}{}", r.stdout, r.stderr);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let keys: Vec<&str> = plan["policy_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"approvals.require_codeowners"), "{keys:?}");
    assert!(keys.contains(&"expiry.warn_days"), "{keys:?}");
}
