//! The exception lifecycle from the command line (SPEC section 11): `sgops report` offline
//! and `--live` against moto (pending → applied → drifted, expired), CSV read back by a CSV
//! parser, bad input, CODEOWNERS warnings, and the plan's `expiring` list in JSON, text and
//! the PR comment's Markdown within its size budget.

mod support;

use serde_json::Value;
use support::*;

/// A rule file: `partner` (expires 2026-12-07, 10 days after SGOPS_TODAY), `forever`, and a
/// description that a spreadsheet would run as a formula.
fn rules_file(group: &str) -> String {
    format!(
        "security_group: {group}\nrules:\n  - id: partner\n    direction: ingress\n    protocol: tcp\n    ports: 8443\n    cidr: 203.0.113.0/24\n    description: \"=SUM(1,2)\"\n    ticket: CHG-1\n    expires: 2026-12-07\n  - id: forever\n    direction: ingress\n    protocol: tcp\n    ports: 9000-9001\n    cidr: 198.51.100.0/24\n    description: kept\n    ticket: CHG-2\n"
    )
}

const CODEOWNERS: &str = "# owners\n* @org/platform\nrules/ @org/secops\nrules/app/ @alice bob@example.com\n!rules/x/ @nobody\n";

fn offline_repo() -> Repo {
    let repo = Repo::new(&[("app", "111111111111"), ("other", "222222222222")], "");
    repo.file(
        "app",
        "us-east-1",
        "web",
        &rules_file("sg-0123456789abcdef0"),
    );
    repo.file(
        "other",
        "eu-west-1",
        "db",
        &rules_file("sg-0123456789abcdef1"),
    );
    std::fs::create_dir_all(repo.path().join(".github")).unwrap();
    std::fs::write(repo.path().join(".github/CODEOWNERS"), CODEOWNERS).unwrap();
    repo
}

/// A port where nothing listens: any AWS call would fail.
fn closed_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    format!("http://127.0.0.1:{port}")
}

#[test]
fn report_is_offline_by_default_in_every_format() {
    let repo = offline_repo();
    let aws = closed_endpoint();
    let (code, out, err) = repo.sgops_via(&aws, &["report", "--format", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["version"], 1);
    assert_eq!(v["live"], false);
    assert_eq!(v["today"], "2026-11-27");
    let rules = v["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    let p = &rules[1];
    assert_eq!(p["account"], "app");
    assert_eq!(p["account_id"], "111111111111");
    assert_eq!(p["rule"], "partner");
    assert_eq!(p["ports"], "8443");
    assert_eq!(p["peer"], "203.0.113.0/24");
    assert_eq!(p["expires"], "2026-12-07");
    assert_eq!(p["days_left"], 10);
    assert_eq!(
        p["owners"],
        serde_json::json!(["@alice", "bob@example.com"])
    );
    assert_eq!(p["file"], "rules/app/us-east-1/web.yaml");
    assert!(p.get("status").is_none());
    assert_eq!(rules[2]["owners"], serde_json::json!(["@org/secops"]));
    assert_eq!(rules[0]["expires"], Value::Null);
    // The broken CODEOWNERS line is a warning with its line, not a failure.
    assert!(
        err.contains(".github/CODEOWNERS:5:1: warning: `!` (negation) does not work in CODEOWNERS"),
        "{err}"
    );

    let (code, out, err) = repo.sgops_via(
        &aws,
        &["report", "--expiring-within", "30", "--account", "app"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ACCOUNT"), "{out}");
    assert!(out.contains("partner"), "{out}");
    assert!(!out.contains("forever"), "{out}");
    assert!(
        out.contains("1 rule expiring within 30 days (as of 2026-11-27)."),
        "{out}"
    );

    let (code, md, _) = repo.sgops_via(&aws, &["report", "--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(md.contains("`@alice` `bob@example.com`"), "{md}");
    assert!(!md.contains(" @alice"), "no mention in a report: {md}");
}

#[test]
fn csv_cells_that_look_like_formulas_are_defused_and_read_back() {
    let repo = offline_repo();
    let (code, out, err) = repo.sgops_via(&closed_endpoint(), &["report", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\r\n"), "RFC 4180 line ends");
    let mut rd = csv::ReaderBuilder::new().from_reader(out.as_bytes());
    let head: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        head,
        [
            "account",
            "account_id",
            "region",
            "security_group",
            "rule",
            "direction",
            "protocol",
            "ports",
            "peer",
            "description",
            "ticket",
            "expires",
            "days_left",
            "owners",
            "file"
        ]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 4);
    let partner = rows.iter().find(|r| &r[4] == "partner").unwrap();
    assert_eq!(&partner[9], "'=SUM(1,2)");
    assert_eq!(&partner[13], "'@alice bob@example.com");
    assert_eq!(&partner[12], "10");
    for r in &rows {
        for cell in r {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell}"
            );
        }
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let repo = offline_repo();
    let (code, _, err) = repo.sgops(&["report", "--expiring-within", "-1"]);
    assert_eq!(code, 1);
    assert!(err.contains("`-1` is negative"), "{err}");
    let (code, _, err) = repo.sgops(&["report", "--format", "xml"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("possible values: text, markdown, json, csv"),
        "{err}"
    );
    let (code, _, err) = repo.sgops(&["report", "--account", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("--account nope: no such account"), "{err}");
    let (code, _, err) = repo.sgops(&["report", "--mention-owners"]);
    assert_eq!(code, 1);
    assert!(err.contains("use it with --format markdown"), "{err}");
    // Invalid rule files: validate's errors, exit 1, nothing on standard output.
    repo.file(
        "app",
        "us-east-1",
        "broken",
        "security_group: sg-0123456789abcdef0\nrules:\n  - id: x\n    direction: sideways\n    protocol: tcp\n    cidr: 10.0.0.1/24\n    ticket: T\n",
    );
    let (code, out, err) = repo.sgops(&["report"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("rules/app/us-east-1/broken.yaml:4:"), "{err}");
    assert!(err.contains("validation failed: 2 errors"), "{err}");
    // expiry.warn_days is checked with its line.
    let bad = Repo::new(&[("app", "111111111111")], "expiry:\n  warn_days: many\n");
    let (code, _, err) = bad.sgops(&["validate"]);
    assert_eq!(code, 1);
    assert!(err.contains("sgops.yaml:"), "{err}");
}

/// One account with one group in moto, the rule file above and CODEOWNERS.
async fn live_world(extra: &str) -> (Repo, aws_sdk_ec2::Client, String) {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], extra);
    repo.allow(ALL_ACTIONS).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    repo.file("app", "us-east-1", "web", &rules_file(&group));
    std::fs::create_dir_all(repo.path().join(".github")).unwrap();
    std::fs::write(repo.path().join(".github/CODEOWNERS"), CODEOWNERS).unwrap();
    (repo, ec2, group)
}

fn statuses(repo: &Repo, today: &str) -> (i32, Vec<(String, String)>, String) {
    let (code, out, err) = repo.sgops_with_env(
        &["report", "--live", "--format", "json"],
        &[("SGOPS_TODAY", today)],
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"));
    assert_eq!(v["live"], true);
    let s = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (code, s, err)
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn live_status_follows_apply_and_hand_edits() {
    let (repo, ec2, group) = live_world("").await;
    let (code, s, err) = statuses(&repo, "2026-11-27");
    assert_eq!(code, 0, "{err}");
    assert_eq!(s, pairs(&[("forever", "pending"), ("partner", "pending")]));

    let (code, out, err) = repo.sgops(&["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, s, _) = statuses(&repo, "2026-11-27");
    assert_eq!(code, 0);
    assert_eq!(s, pairs(&[("forever", "applied"), ("partner", "applied")]));

    // Someone widens the rule's port by hand in the console.
    let live = rules(&ec2, &group).await;
    let id = live
        .iter()
        .find(|r| r.tags.get("sgops:rule").map(String::as_str) == Some("partner"))
        .map(|r| r.id.clone())
        .expect("the applied rule");
    ec2.modify_security_group_rules()
        .group_id(&group)
        .security_group_rules(
            aws_sdk_ec2::types::SecurityGroupRuleUpdate::builder()
                .security_group_rule_id(&id)
                .security_group_rule(
                    aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
                        .ip_protocol("tcp")
                        .from_port(8000)
                        .to_port(8443)
                        .cidr_ipv4("203.0.113.0/24")
                        .description("=SUM(1,2)")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("modify by hand");
    let (code, s, _) = statuses(&repo, "2026-11-27");
    assert_eq!(code, 0);
    assert_eq!(s, pairs(&[("forever", "applied"), ("partner", "drifted")]));

    // Past its date and still in AWS: expired; once apply revoked it: revoked.
    let (_, s, _) = statuses(&repo, "2026-12-07");
    assert_eq!(s, pairs(&[("forever", "applied"), ("partner", "expired")]));
    let (code, out, err) = repo.sgops_with_env(&["apply"], &[("SGOPS_TODAY", "2026-12-07")]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (_, s, _) = statuses(&repo, "2026-12-07");
    assert_eq!(s, pairs(&[("forever", "applied"), ("partner", "revoked")]));
}

#[tokio::test]
async fn live_reports_make_no_more_calls_than_a_plan() {
    let (repo, _, _) = live_world("").await;
    let (code, _, plan_err) = repo.sgops(&["plan", "--stats"]);
    assert_eq!(code, 0, "{plan_err}");
    let (code, _, report_err) = repo.sgops(&["report", "--live", "--stats"]);
    assert_eq!(code, 0, "{report_err}");
    let total = |s: &str| -> u64 {
        s.lines()
            .find_map(|l| l.trim().strip_prefix("total")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no total in {s}"))
    };
    assert!(total(&report_err) > 0, "{report_err}");
    assert!(
        total(&report_err) <= total(&plan_err),
        "report:\n{report_err}\nplan:\n{plan_err}"
    );
    assert!(
        !report_err.contains("GetParameter"),
        "no allow-list read: {report_err}"
    );
}

#[tokio::test]
async fn a_live_report_names_accounts_it_could_not_read() {
    let (repo, _, _) = live_world("").await;
    repo.file(
        "app",
        "us-west-2",
        "gone",
        &rules_file("sg-0123456789abcdef9"),
    );
    let (code, out, err) = repo.sgops(&["report", "--live"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("unknown"), "{out}");
    assert!(
        err.contains("error: app us-west-2: security group sg-0123456789abcdef9"),
        "{err}"
    );
}

#[tokio::test]
async fn the_plan_lists_rules_expiring_soon() {
    let (repo, _, group) = live_world("expiry:\n  warn_days: 14\n").await;
    let (code, v, err) = repo.plan_json();
    assert_eq!(code, 0, "{err}");
    let exp = v["expiring"].as_array().expect("expiring");
    assert_eq!(exp.len(), 1, "{v}");
    let e = &exp[0];
    for (k, want) in [
        ("account", "app"),
        ("region", "us-east-1"),
        ("rule", "partner"),
        ("expires", "2026-12-07"),
        ("ticket", "CHG-1"),
        ("file", "rules/app/us-east-1/web.yaml"),
    ] {
        assert_eq!(e[k], want, "{k}: {e}");
    }
    assert_eq!(e["security_group"], group.as_str());
    assert_eq!(e["days_left"], 10);
    assert_eq!(
        e["owners"],
        serde_json::json!(["@alice", "bob@example.com"])
    );
    assert!(e["account_id"].as_str().unwrap().len() == 12);

    let (_, text, _) = repo.sgops(&["plan"]);
    assert!(text.contains("Expiring soon"), "{text}");
    assert!(
        text.contains(
            "partner: expires 2026-12-07 (in 10 days), ticket CHG-1, owners @alice bob@example.com"
        ),
        "{text}"
    );
    let (_, md, _) = repo.sgops(&["plan", "--format", "markdown"]);
    let summary = md.find("to create").unwrap();
    let section = md.find("#### ⏳ Expiring soon: 1 rule").expect(&md);
    assert!(section > summary, "after the summary");
    assert!(md.contains("| `@alice` `bob@example.com` |"), "{md}");
    assert!(!md.contains(" @alice"), "no mention in a plan comment");

    // Outside the window: not listed (key absent).
    let (_, v, _) = {
        let (c, out, e) = repo.sgops_with_env(
            &["plan", "--format", "json"],
            &[("SGOPS_TODAY", "2026-10-01")],
        );
        (c, serde_json::from_str::<Value>(&out).unwrap(), e)
    };
    assert!(v.get("expiring").is_none(), "{v}");
}

#[test]
fn the_comment_budget_holds_thousands_of_expiring_rules() {
    use sgops::plan::{Expiring, Plan};
    use sgops::render::{MdOptions, markdown_with};
    let mut plan = Plan::not_made(Vec::new());
    plan.expiring = (0..5000)
        .map(|i| Expiring {
            account: format!("acct-{i:04}"),
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            security_group: "sg-0123456789abcdef0".into(),
            rule: format!("rule-{i}"),
            expires: "2026-12-07".into(),
            days_left: 10,
            ticket: "@mallory <b>".into(),
            owners: vec!["@alice".into(), "x`y|z".into()],
            file: "rules/x.yaml".into(),
        })
        .collect();
    let limit = sgops::github::COMMENT_LIMIT - 2048;
    let md = markdown_with(
        &plan,
        &MdOptions {
            limit,
            cut_note: "See the job summary.",
            ..MdOptions::default()
        },
    );
    assert!(md.len() <= limit, "{}", md.len());
    assert!(
        md.contains("more expiring rules not shown.** See the job summary."),
        "{}",
        &md[md.len() - 300..]
    );
    assert!(!md.contains("@mallory"));
    assert!(!md.contains("<b>"));
    assert!(
        md.contains("`x'y\\|z`"),
        "a code span that stays in its cell"
    );
}
