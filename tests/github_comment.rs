//! `sgops comment` against a wiremock stand-in for the GitHub REST API (SPEC section 8): the
//! sticky comment is created once, then edited in place or left alone; it is found on any page
//! of comments; a huge plan stays one comment under GitHub's limit with intact Markdown; text
//! from rule files cannot inject HTML, mentions or table cells; GitHub errors say what to do;
//! the token is never printed.

mod github_shapes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sgops::github::{COMMENT_LIMIT, PLAN_MARKER};
use sgops::plan::{Action, Change, Plan, PlanError, Summary};
use sgops::rules::{Direction, RuleView};
use wiremock::matchers::{bearer_token, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "ghp_SECRETTOKEN123";
const COMMENTS: &str = "/repos/o/r/issues/7/comments";

// ---------------------------------------------------------------------------------------------
// Plans, built with the library and saved as `sgops plan --out` would.

fn view(id: &str, port: u16, cidr: &str, desc: &str) -> RuleView {
    RuleView {
        id: Some(id.into()),
        direction: Direction::Ingress,
        protocol: "tcp".into(),
        ports: Some(json!(port)),
        cidr: Some(cidr.into()),
        cidr_ipv6: None,
        prefix_list: None,
        security_group: None,
        description: Some(desc.into()),
        ticket: Some("CHG-1".into()),
        expires: None,
        tags: BTreeMap::from([
            ("sgops:rule".to_string(), id.to_string()),
            ("sgops:ticket".to_string(), "CHG-1".to_string()),
        ]),
    }
}

struct C<'a> {
    account: &'a str,
    region: &'a str,
    group: &'a str,
    rule: &'a str,
    action: Action,
    allowed: bool,
    desc: &'a str,
}

fn change(c: C<'_>) -> Change {
    let before = view(c.rule, 443, "10.0.0.0/8", "old description");
    let after = view(c.rule, 8443, "203.0.113.0/24", c.desc);
    let (before, after, live) = match c.action {
        Action::Create => (None, Some(after), None),
        Action::Delete => (Some(before), None, Some("sgr-0123456789abcdef0")),
        _ => (Some(before), Some(after), Some("sgr-0123456789abcdef0")),
    };
    let api = match c.action {
        Action::Create => vec!["authorize_security_group_ingress"],
        Action::Adopt | Action::Retag => vec!["create_tags"],
        Action::Update => vec!["modify_security_group_rules"],
        Action::Replace => vec![
            "authorize_security_group_ingress",
            "revoke_security_group_ingress",
        ],
        Action::Delete => vec!["revoke_security_group_ingress"],
    };
    Change {
        account: c.account.into(),
        account_id: format!("{:0>12}", c.account.len()),
        region: c.region.into(),
        security_group: c.group.into(),
        rule: c.rule.into(),
        action: c.action,
        api_actions: api.into_iter().map(String::from).collect(),
        allowed: c.allowed,
        live_rule_id: live.map(String::from),
        before,
        after,
        file: Some(format!("rules/{}/{}/app.yaml", c.account, c.region)),
        ops: Vec::new(),
    }
}

/// A plan with its summary counted, as the planner would write it.
fn plan_of(changes: Vec<Change>, errors: Vec<PlanError>, fingerprint: &str) -> Plan {
    let mut summary = Summary::default();
    for c in &changes {
        *match c.action {
            Action::Create => &mut summary.create,
            Action::Adopt => &mut summary.adopt,
            Action::Update => &mut summary.update,
            Action::Replace => &mut summary.replace,
            Action::Retag => &mut summary.retag,
            Action::Delete => &mut summary.delete,
        } += 1;
        if !c.allowed {
            summary.denied += 1;
        }
    }
    Plan {
        version: 1,
        fingerprint: fingerprint.into(),
        summary,
        changes,
        errors,
        warnings: Vec::new(),
        policy_changes: Vec::new(),
        expiring: Vec::new(),
    }
}

fn write_plan(dir: &Path, name: &str, plan: &Plan) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(plan).expect("plan JSON")).expect("write");
    p
}

/// A small plan: one create and one delete in one account.
fn small_plan(fingerprint: &str) -> Plan {
    let c = |rule, action| {
        change(C {
            account: "payments",
            region: "us-east-1",
            group: "sg-0a1b2c3d4e5f67890",
            rule,
            action,
            allowed: true,
            desc: "Partner callbacks",
        })
    };
    plan_of(
        vec![
            c("partner-callbacks", Action::Create),
            c("old-vendor", Action::Delete),
        ],
        vec![],
        fingerprint,
    )
}

const ACTIONS: [Action; 6] = [
    Action::Create,
    Action::Adopt,
    Action::Update,
    Action::Replace,
    Action::Retag,
    Action::Delete,
];

/// `n` changes spread evenly over `accounts` × two regions, every action, some denied.
fn big_plan(n: usize, accounts: &[&str]) -> Plan {
    let regions = ["eu-west-1", "us-east-1"];
    let slots = accounts.len() * regions.len();
    let rules: Vec<String> = (0..n).map(|i| format!("exception-{i:05}")).collect();
    let mut changes: Vec<Change> = (0..n)
        .map(|i| {
            let slot = i % slots;
            change(C {
                account: accounts[slot / regions.len()],
                region: regions[slot % regions.len()],
                group: "sg-0a1b2c3d4e5f67890",
                rule: &rules[i],
                action: ACTIONS[i % ACTIONS.len()],
                allowed: i % 97 != 0,
                desc: "Vendor callback range for the settlement service",
            })
        })
        .collect();
    changes.sort_by(|a, b| (&a.account, &a.region, &a.rule).cmp(&(&b.account, &b.region, &b.rule)));
    plan_of(
        changes,
        vec![],
        "sha256:5b7c2f0e9d1a4b3c8e6f7a2d1c0b9e8f7a6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b",
    )
}

// ---------------------------------------------------------------------------------------------
// Running the binary.

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs sgops with only the GitHub environment (plus `extra`), and checks that the token
/// never appears in what it printed.
fn sgops(server: &MockServer, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Out {
    sgops_raw(
        dir,
        args,
        &[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_API_URL", &server.uri()),
        ],
        extra,
    )
}

/// `sgops comment --pr 7 --plan PLAN` with only the GitHub environment.
fn comment_on_7(server: &MockServer, dir: &Path, plan: &Path) -> Out {
    let plan = plan.to_str().expect("UTF-8 temp path");
    sgops(server, dir, &["comment", "--pr", "7", "--plan", plan], &[])
}

fn sgops_raw(dir: &Path, args: &[&str], base: &[(&str, &str)], extra: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sgops"));
    cmd.current_dir(dir).args(args).env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("NO_COLOR", "1");
    for (k, v) in base.iter().chain(extra) {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run sgops");
    let out = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !text.contains(TOKEN) && !text.contains("SECRETTOKEN"),
            "the token leaked on {name}:\n{text}"
        );
    }
    out
}

/// A comment on #7 by sgops (the Actions token's bot), as GitHub returns it.
fn ours(id: u64, body: &str) -> Value {
    github_shapes::comment(7, id, github_shapes::actions_bot(), body)
}

/// A comment on #7 by a person, as GitHub returns it.
fn theirs(id: u64, body: &str) -> Value {
    github_shapes::comment(7, id, github_shapes::person("someone"), body)
}

/// `GET …/comments?per_page=100` answers `comments` on one page.
async fn list(server: &MockServer, comments: Vec<Value>, times: u64) {
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .and(query_param("per_page", "100"))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(comments))
        .expect(times)
        .named("list comments")
        .mount(server)
        .await;
}

async fn post(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(201).set_body_json(ours(9001, "")))
        .expect(times)
        .named("create comment")
        .mount(server)
        .await;
}

async fn patch(server: &MockServer, id: u64, times: u64) {
    Mock::given(method("PATCH"))
        .and(path(format!("/repos/o/r/issues/comments/{id}")))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(ours(id, "")))
        .expect(times)
        .named("edit comment")
        .mount(server)
        .await;
}

/// Any write at all (a catch-all mounted last: it only sees what the named mocks did not).
async fn no_other_writes(server: &MockServer) {
    for m in ["POST", "PATCH", "DELETE", "PUT"] {
        Mock::given(method(m))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .named(format!("unexpected {m}"))
            .mount(server)
            .await;
    }
}

/// The `body` of every request with this method.
async fn bodies(server: &MockServer, m: &str) -> Vec<String> {
    server
        .received_requests()
        .await
        .expect("recording on")
        .iter()
        .filter(|r: &&Request| r.method.as_str() == m)
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).expect("JSON request body");
            v["body"].as_str().expect("body field").to_string()
        })
        .collect()
}

async fn one_body(server: &MockServer, m: &str) -> String {
    let mut b = bodies(server, m).await;
    assert_eq!(b.len(), 1, "expected one {m}");
    b.remove(0)
}

// ---------------------------------------------------------------------------------------------
// Markdown structure, as GitHub would see it.

#[derive(Debug, Default)]
struct Md {
    /// Lines outside fenced code blocks.
    outside: Vec<String>,
    /// Contents of each fenced code block.
    blocks: Vec<String>,
    /// Lines that open or close a fence.
    fence_lines: usize,
}

/// Splits a Markdown body into text and fenced code blocks (CommonMark rules for backtick
/// fences) and checks that every block and every `<details>` is closed, in order.
fn parse_md(body: &str) -> Md {
    let mut md = Md::default();
    let mut open: Option<(usize, String)> = None;
    for line in body.split('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        let ticks = rest.len() - rest.trim_start_matches('`').len();
        match &mut open {
            None if indent <= 3 && ticks >= 3 => {
                md.fence_lines += 1;
                open = Some((ticks, String::new()));
            }
            None => md.outside.push(line.to_string()),
            Some((n, _)) if indent <= 3 && ticks >= *n && rest[ticks..].trim().is_empty() => {
                md.fence_lines += 1;
                let (_, text) = open.take().expect("open block");
                md.blocks.push(text);
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed:\n{body}");
    assert_eq!(md.fence_lines % 2, 0, "odd number of ``` fences");
    let mut depth = 0i32;
    for line in &md.outside {
        let mut rest = line.as_str();
        while let Some(i) = rest.find("details>") {
            if rest[..i].ends_with("</") {
                depth -= 1;
            } else if rest[..i].ends_with('<') {
                depth += 1;
            }
            assert!(
                (0..=1).contains(&depth),
                "<details> nested or closed twice at `{line}`"
            );
            rest = &rest[i + 8..];
        }
    }
    assert_eq!(depth, 0, "a <details> is never closed");
    md
}

impl Md {
    fn text(&self) -> String {
        self.outside.join("\n")
    }
}

/// Outside code, the only HTML is sgops's own; no `@` can mention anyone.
fn assert_inert(md: &Md) {
    let text = md.text();
    let mut rest = text.as_str();
    while let Some(i) = rest.find('<') {
        let tail = &rest[i..];
        assert!(
            [
                "<!-- sgops:plan v1 -->",
                "<!-- sgops:apply v1 -->",
                "<details>",
                "</details>",
                "<summary>",
                "</summary>"
            ]
            .iter()
            .any(|t| tail.starts_with(t)),
            "raw HTML outside code: `{}`",
            tail.chars().take(60).collect::<String>()
        );
        rest = &tail[1..];
    }
    for (i, _) in text.match_indices('@') {
        assert!(
            text[i + 1..].starts_with('\u{200b}'),
            "a live @mention outside code: `{}`",
            text[i..].chars().take(40).collect::<String>()
        );
    }
    let lower = text.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "{text}");
    assert!(!lower.contains("<img"), "{text}");
    // GitHub links `#12` (and `o/r#12`) to issues after rendering (`&#124;` is our `|`),
    // and GFM autolinks these.
    for (i, _) in text.match_indices('#') {
        assert!(
            text[..i].ends_with('&') || !text[i + 1..].starts_with(|c: char| c.is_ascii_digit()),
            "a live issue reference outside code: `{}`",
            text[i..].chars().take(40).collect::<String>()
        );
    }
    for link in ["www.", "://"] {
        assert!(
            !lower.contains(link),
            "a live autolink `{link}` outside code: {text}"
        );
    }
    for scheme in ["mailto:", "xmpp:"] {
        for (i, _) in lower.match_indices(scheme) {
            assert!(
                lower[i + scheme.len()..].starts_with('\u{200b}'),
                "a live `{scheme}` autolink outside code: {text}"
            );
        }
    }
}

/// The rows of the per-account summary table: cells split on `|`.
fn table_rows(md: &Md) -> Vec<Vec<String>> {
    md.outside
        .iter()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| account |"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Create, edit, leave alone.

#[tokio::test]
async fn first_run_creates_one_comment_with_summary_commit_and_fingerprint() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:aaaa1111"));
    // Someone else's comments are there already; none carries the marker.
    list(
        &server,
        vec![theirs(1, "LGTM"), theirs(2, "sgops plan looks fine to me")],
        1,
    )
    .await;
    post(&server, 1).await;
    no_other_writes(&server).await;

    let out = sgops(
        &server,
        dir.path(),
        &[
            "comment",
            "--pr",
            "7",
            "--plan",
            plan.to_str().unwrap(),
            "--commit",
            "0123456789abcdef0123456789abcdef01234567",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("#7: created comment 9001"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "", "comment prints nothing on stdout");
    server.verify().await;

    let body = one_body(&server, "POST").await;
    assert!(body.starts_with(&format!("{PLAN_MARKER}\n")), "{body}");
    assert!(
        body.contains(
            "Commit `0123456789abcdef0123456789abcdef01234567` · fingerprint `sha256:aaaa1111`"
        ),
        "{body}"
    );
    assert!(
        body.contains(
            "1 to create, 0 to adopt, 0 to update, 0 to replace, 0 to retag, 1 to delete"
        ),
        "{body}"
    );
    // Deletions stand out.
    assert!(body.contains("⚠️ **1 to delete, 0 to replace**"), "{body}");
    let md = parse_md(&body);
    assert_inert(&md);
    assert_eq!(
        table_rows(&md),
        vec![vec![
            "payments",
            "us-east-1",
            "1",
            "0",
            "0",
            "0",
            "0",
            "**1**",
            "0",
            "0"
        ]]
    );
    assert_eq!(md.blocks.len(), 1, "one <details> per account");
    assert!(md.blocks[0].contains("+ create sg-0a1b2c3d4e5f67890 partner-callbacks"));
    assert!(md.blocks[0].contains("- delete sg-0a1b2c3d4e5f67890 old-vendor"));
    assert!(!body.contains("Details cut"), "a small plan is not cut");
}

#[tokio::test]
async fn commit_defaults_to_github_sha() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:aaaa1111"));
    list(&server, vec![], 1).await;
    post(&server, 1).await;
    let out = sgops(
        &server,
        dir.path(),
        &["comment", "--pr", "7", "--plan", plan.to_str().unwrap()],
        &[("GITHUB_SHA", "feedbeef")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
    assert!(
        one_body(&server, "POST")
            .await
            .contains("Commit `feedbeef` · fingerprint `sha256:aaaa1111`")
    );
}

#[tokio::test]
async fn second_run_edits_the_comment_in_place() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:bbbb2222"));
    list(
        &server,
        vec![
            theirs(1, "LGTM"),
            ours(55, &format!("{PLAN_MARKER}\n### sgops plan\n\nold plan")),
            theirs(3, "one more"),
        ],
        1,
    )
    .await;
    patch(&server, 55, 1).await;
    no_other_writes(&server).await;

    let out = comment_on_7(&server, dir.path(), &plan);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("#7: updated comment 55"),
        "{}",
        out.stderr
    );
    server.verify().await;
    let body = one_body(&server, "PATCH").await;
    assert!(body.starts_with(PLAN_MARKER), "{body}");
    assert!(body.contains("Fingerprint `sha256:bbbb2222`"), "{body}");
    assert!(!body.contains("old plan"), "{body}");
}

#[tokio::test]
async fn a_comment_of_another_marker_version_is_edited_not_doubled() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:bbbb2222"));
    let other_version = PLAN_MARKER.replace(" v1 ", " v0 ");
    assert_ne!(other_version, PLAN_MARKER);
    list(
        &server,
        vec![
            // Not ours: another tool's marker that merely starts alike.
            ours(2, "<!-- sgops:planner v1 -->\nsomething else"),
            ours(56, &format!("{other_version}\n### sgops plan\n\nold plan")),
        ],
        1,
    )
    .await;
    patch(&server, 56, 1).await;
    no_other_writes(&server).await;
    let out = comment_on_7(&server, dir.path(), &plan);
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
    assert!(one_body(&server, "PATCH").await.starts_with(PLAN_MARKER));
}

#[tokio::test]
async fn unchanged_body_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:cccc3333"));
    let args = [
        "comment",
        "--pr",
        "7",
        "--plan",
        plan.to_str().unwrap(),
        "--commit",
        "abc",
    ];

    // First push: created.
    let first = MockServer::start().await;
    list(&first, vec![], 1).await;
    post(&first, 1).await;
    let out = sgops(&first, dir.path(), &args, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    first.verify().await;
    let posted = one_body(&first, "POST").await;

    // Same plan again: the comment GitHub holds is exactly that body, so no write at all.
    let second = MockServer::start().await;
    list(&second, vec![ours(9001, &posted)], 1).await;
    post(&second, 0).await;
    patch(&second, 9001, 0).await;
    no_other_writes(&second).await;
    let out = sgops(&second, dir.path(), &args, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("#7: comment 9001 already up to date"),
        "{}",
        out.stderr
    );
    second.verify().await;

    // A new commit changes the body: edited, not stacked.
    let third = MockServer::start().await;
    list(&third, vec![ours(9001, &posted)], 1).await;
    patch(&third, 9001, 1).await;
    no_other_writes(&third).await;
    let mut args2 = args;
    args2[6] = "def";
    let out = sgops(&third, dir.path(), &args2, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    third.verify().await;
    let edited = one_body(&third, "PATCH").await;
    assert_eq!(
        edited,
        posted.replace("Commit `abc`", "Commit `def`"),
        "only the commit changed"
    );
}

#[tokio::test]
async fn marker_on_page_two_is_found_and_edited() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:dddd4444"));
    let page1: Vec<Value> = (1..=100)
        .map(|i| theirs(i, &format!("review comment {i} about sgops plan")))
        .collect();
    let next = format!("{}{COMMENTS}?per_page=100&page=2", server.uri());
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .and(bearer_token(TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page1)
                .insert_header(
                    "link",
                    format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"").as_str(),
                ),
        )
        .expect(1)
        .named("page 1")
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .and(query_param("page", "2"))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(vec![
            theirs(101, "another"),
            ours(4242, &format!("{PLAN_MARKER}\nolder plan")),
        ]))
        .expect(1)
        .named("page 2")
        .mount(&server)
        .await;
    patch(&server, 4242, 1).await;
    no_other_writes(&server).await;

    let out = comment_on_7(&server, dir.path(), &plan);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("updated comment 4242"),
        "{}",
        out.stderr
    );
    server.verify().await;
}

#[tokio::test]
async fn a_quoted_marker_in_someone_elses_comment_is_not_taken_for_ours() {
    // A reviewer pasted the raw comment into a reply; sgops's own comment comes later.
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:eeee5555"));
    list(
        &server,
        vec![
            theirs(
                10,
                &format!("> why is this deleting?\n> {PLAN_MARKER}\n> ### sgops plan"),
            ),
            ours(11, &format!("{PLAN_MARKER}\n### sgops plan\n\nold")),
        ],
        1,
    )
    .await;
    patch(&server, 11, 1).await;
    patch(&server, 10, 0).await;
    no_other_writes(&server).await;
    let out = comment_on_7(&server, dir.path(), &plan);
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
}

/// A marked comment by `author` (id 66) and, when `mine` is given, sgops's own (id 67) after
/// it; runs `comment` with `env`. Returns stderr. `edited`: the id that must be edited, or
/// none, when sgops must post its own comment instead.
async fn marked_by(
    author: Value,
    mine: Option<Value>,
    env: &[(&str, &str)],
    edited: Option<u64>,
) -> String {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:abab"));
    let marked = format!("{PLAN_MARKER}\n### sgops plan\n\nNo changes.");
    let mut comments = vec![github_shapes::comment(7, 66, author, &marked)];
    if let Some(me) = mine {
        comments.push(github_shapes::comment(7, 67, me, &marked));
    }
    list(&server, comments, 1).await;
    for id in [66, 67] {
        patch(&server, id, u64::from(edited == Some(id))).await;
    }
    post(&server, u64::from(edited.is_none())).await;
    no_other_writes(&server).await;
    let file = plan.to_str().unwrap();
    let out = sgops(
        &server,
        dir.path(),
        &["comment", "--pr", "7", "--plan", file],
        env,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let done = match edited {
        Some(id) => format!("#7: updated comment {id}"),
        None => "#7: created comment 9001".into(),
    };
    assert!(out.stderr.contains(&done), "{}", out.stderr);
    server.verify().await;
    out.stderr
}

#[tokio::test]
async fn a_marked_comment_by_anyone_else_is_left_alone() {
    // A pull request's author writes the marker first: were sgops to write the plan into that
    // comment, its author could edit the plan afterwards and hide a delete or a denial.
    for author in [
        github_shapes::person("mallory"),
        // Only a bot account can have a `[bot]` login; sgops checks the type all the same.
        github_shapes::user("github-actions[bot]", 666, "User"),
        github_shapes::user("GitHub-Actions", 667, "Organization"),
        github_shapes::app_bot("other"),
        // A deleted account: GitHub shows its comments as by `ghost`, or with no user.
        github_shapes::user("ghost", 10_137, "User"),
        Value::Null,
    ] {
        let err = marked_by(author.clone(), None, &[], None).await;
        assert!(
            err.contains("comment 66 on #7 carries the sgops marker but was written by"),
            "{author}: {err}"
        );
        assert!(err.contains("left alone"), "{err}");
        // sgops's own comment after it is the one edited.
        marked_by(author, Some(github_shapes::actions_bot()), &[], Some(67)).await;
    }
}

#[tokio::test]
async fn sgops_comment_author_names_the_identity_of_another_token() {
    // A GitHub App's installation token comments as the app's bot.
    let app = [("SGOPS_COMMENT_AUTHOR", "My-App[bot]")];
    marked_by(github_shapes::app_bot("my-app"), None, &app, Some(66)).await;
    // Then the Actions bot's marked comment is someone else's.
    marked_by(github_shapes::actions_bot(), None, &app, None).await;
    marked_by(
        github_shapes::actions_bot(),
        Some(github_shapes::app_bot("my-app")),
        &app,
        Some(67),
    )
    .await;
    // A personal token comments as its user (no `[bot]`: any account type).
    let user = [("SGOPS_COMMENT_AUTHOR", "ops-robot")];
    marked_by(github_shapes::person("Ops-Robot"), None, &user, Some(66)).await;
    marked_by(github_shapes::person("mallory"), None, &user, None).await;
    // Empty is the default.
    let empty = [("SGOPS_COMMENT_AUTHOR", "")];
    marked_by(github_shapes::actions_bot(), None, &empty, Some(66)).await;
}

#[tokio::test]
async fn github_enterprise_api_path_is_kept() {
    // GITHUB_API_URL on GitHub Enterprise Server is https://HOST/api/v3.
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:ffff6666"));
    let api = format!("{}/api/v3", server.uri());
    Mock::given(method("GET"))
        .and(path(format!("/api/v3{COMMENTS}")))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(Vec::<Value>::new()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v3{COMMENTS}")))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(201).set_body_json(ours(5, "")))
        .expect(1)
        .mount(&server)
        .await;
    let out = sgops_raw(
        dir.path(),
        &["comment", "--pr", "7", "--plan", plan.to_str().unwrap()],
        &[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_API_URL", &api),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
}

// ---------------------------------------------------------------------------------------------
// Size.

#[tokio::test]
async fn five_thousand_changes_stay_one_comment_under_the_limit() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let accounts = ["itx-016", "itx-046", "payments", "shared-services"];
    let plan = big_plan(5000, &accounts);
    let file = write_plan(dir.path(), "plan.json", &plan);
    let summary = dir.path().join("step-summary.md");
    list(&server, vec![], 1).await;
    post(&server, 1).await;
    no_other_writes(&server).await;

    let out = sgops(
        &server,
        dir.path(),
        &["comment", "--pr", "7", "--plan", file.to_str().unwrap()],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;

    let body = one_body(&server, "POST").await;
    assert!(
        body.chars().count() < COMMENT_LIMIT && body.len() < COMMENT_LIMIT,
        "{} bytes",
        body.len()
    );
    // Cut, but not to nothing: most of the room is used.
    assert!(body.len() > COMMENT_LIMIT / 2, "{} bytes", body.len());
    assert!(body.starts_with(PLAN_MARKER));
    let md = parse_md(&body);
    commonmark_sees_only_our_structure(&body, md.blocks.len());
    assert_inert(&md);
    assert!(md.fence_lines >= 2, "some details are shown");
    assert_eq!(
        md.fence_lines / 2,
        md.text().matches("<details>").count(),
        "one code block per <details>"
    );

    // The cut is said outside code, and points to where the full plan is.
    let note = md
        .outside
        .iter()
        .find(|l| l.contains("Details cut to fit"))
        .unwrap_or_else(|| panic!("no cut note:\n{body}"));
    assert!(note.contains("of 8 accounts shown in full"), "{note}");
    assert!(note.contains("job summary"), "{note}");
    assert!(note.contains("`sgops-plan-*` artifacts"), "{note}");

    // The summary is whole: every account × region with its counts.
    let s = &plan.summary;
    assert!(body.contains(&format!(
        "{} to create, {} to adopt, {} to update, {} to replace, {} to retag, {} to delete; {} denied by the allow-list",
        s.create, s.adopt, s.update, s.replace, s.retag, s.delete, s.denied
    )));
    let rows = table_rows(&md);
    assert_eq!(rows.len(), 8, "{rows:?}");
    for row in &rows {
        let here: Vec<&Change> = plan
            .changes
            .iter()
            .filter(|c| c.account == row[0] && c.region == row[1])
            .collect();
        assert_eq!(here.len(), 625);
        let creates = here.iter().filter(|c| c.action == Action::Create).count();
        assert_eq!(row[2], creates.to_string(), "{row:?}");
        let loud = |n: usize| {
            if n > 0 {
                format!("**{n}**")
            } else {
                "0".into()
            }
        };
        let deletes = here.iter().filter(|c| c.action == Action::Delete).count();
        assert_eq!(row[7], loud(deletes), "{row:?}");
        let denied = here.iter().filter(|c| !c.allowed).count();
        assert_eq!(row[8], loud(denied), "{row:?}");
    }

    // The job summary holds far more than the comment, within its own limit, intact.
    let full = std::fs::read_to_string(&summary).expect("step summary written");
    assert!(full.len() > 4 * body.len(), "{} bytes", full.len());
    assert!(full.len() <= 1024 * 1024, "{} bytes", full.len());
    let fmd = parse_md(&full);
    assert_inert(&fmd);
}

#[tokio::test]
async fn step_summary_gets_the_full_plan_the_comment_cuts() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = big_plan(400, &["app", "data"]);
    let file = write_plan(dir.path(), "plan.json", &plan);
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "## validate\n\nall good\n").unwrap();
    list(&server, vec![], 1).await;
    post(&server, 1).await;

    let out = sgops(
        &server,
        dir.path(),
        &["comment", "--pr", "7", "--plan", file.to_str().unwrap()],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
    let body = one_body(&server, "POST").await;
    assert!(body.len() < COMMENT_LIMIT);
    assert!(
        body.contains("Details cut to fit"),
        "400 changes do not fit"
    );

    let full = std::fs::read_to_string(&summary).unwrap();
    assert!(
        full.starts_with("## validate\n\nall good\n"),
        "appended to the steps before"
    );
    let md = parse_md(&full);
    assert!(
        !full.contains("Details cut"),
        "nothing cut in the job summary"
    );
    assert!(
        !full.contains(PLAN_MARKER),
        "no comment marker in the job summary"
    );
    let shown: usize = md
        .blocks
        .iter()
        .map(|b| {
            b.lines()
                .filter(|l| {
                    ACTIONS
                        .iter()
                        .any(|a| l.contains(&format!(" {} sg-", a.as_str())))
                })
                .count()
        })
        .sum();
    assert_eq!(shown, 400, "every change is in the job summary");
    for c in &plan.changes {
        assert!(full.contains(&c.rule), "{} missing", c.rule);
    }
}

#[tokio::test]
async fn many_accounts_and_errors_still_fit() {
    // The summary table and error list grow with accounts, not only the details.
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..3000).map(|i| format!("account-{i:04}")).collect();
    let changes = names
        .iter()
        .map(|a| {
            change(C {
                account: a,
                region: "us-east-1",
                group: "sg-0a1b2c3d4e5f67890",
                rule: "partner",
                action: Action::Create,
                allowed: true,
                desc: "Partner",
            })
        })
        .collect();
    let errors = (0..200)
        .map(|i| PlanError {
            account: format!("broken-{i:03}"),
            region: "eu-west-1".into(),
            message: format!("cannot assume role: {}", "AccessDenied ".repeat(200)),
        })
        .collect();
    let plan = plan_of(changes, errors, "sha256:0000");
    let file = write_plan(dir.path(), "plan.json", &plan);
    list(&server, vec![], 1).await;
    post(&server, 1).await;
    let out = comment_on_7(&server, dir.path(), &file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
    let body = one_body(&server, "POST").await;
    assert!(body.len() < COMMENT_LIMIT, "{} bytes", body.len());
    let md = parse_md(&body);
    assert_inert(&md);
    assert!(
        body.contains("3000 to create") && body.contains("200 errors"),
        "the totals are always there"
    );
    let md_rows = table_rows(&md).len();
    assert!(md_rows > 10 && md_rows < 3000, "{md_rows} rows");
    assert!(
        body.contains(&format!(
            "**{} more account/region rows not shown.** The full plan is in this run's job summary",
            3200 - md_rows
        )),
        "the cut table says where the rest is"
    );
    let shown: Vec<&String> = md
        .outside
        .iter()
        .filter(|l| l.starts_with("- **broken-"))
        .collect();
    assert!(!shown.is_empty(), "some errors are listed");
    for l in &shown {
        assert!(l.chars().count() < 1100 && l.ends_with('…'), "{l}");
    }
    assert!(
        body.contains(&format!("- … and {} more errors", 200 - shown.len())),
        "the cut error list says how many are left"
    );
}

// ---------------------------------------------------------------------------------------------
// Escaping.

const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "cc @octocat please",
    "@acme/security-team",
    "a | b | c",
    "`code` and ```fence``` and ````four````",
    "</details></details></summary>",
    "line one\n```\n## Heading\n</details>\n@octocat",
    "[link](https://evil.example) ![img](https://evil.example/x.png)",
    "**bold** _it_ ~~strike~~ \\ back #1",
    "<!-- sgops:plan v1 -->",
    "&lt;already escaped&gt; &amp;",
    // GFM autolinks and GitHub's references.
    "see www.evil.example/login",
    "https://evil.example/x HTTP://EVIL.EXAMPLE ftp://evil.example/f",
    "(www.evil.example) _www.evil.example_ WWW.EVIL.EXAMPLE",
    "mailto:boss@evil.example xmpp:boss@evil.example/r boss@evil.example",
    "fixes #12 and o/r#34",
];

#[tokio::test]
async fn hostile_text_cannot_break_out() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for (i, h) in HOSTILE.iter().enumerate() {
        let rule = format!("r{i} {h}");
        changes.push(change(C {
            account: "evil|acct @root </details>",
            region: "us-east-1",
            group: h,
            rule: &rule,
            action: ACTIONS[i % ACTIONS.len()],
            allowed: i % 2 == 0,
            desc: h,
        }));
        errors.push(PlanError {
            account: format!("acct-{i}"),
            region: "eu-west-1".into(),
            message: format!("security group {h}: not found"),
        });
    }
    let plan = plan_of(changes, errors, "sha256:1234");
    let file = write_plan(dir.path(), "plan.json", &plan);
    list(&server, vec![], 1).await;
    post(&server, 1).await;
    let out = comment_on_7(&server, dir.path(), &file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
    let body = one_body(&server, "POST").await;

    let md = parse_md(&body);
    assert_inert(&md);
    assert_eq!(
        md.blocks.len(),
        1,
        "one account, one code block: no hostile fence opened or closed one"
    );
    assert_eq!(
        md.text().matches("<details>").count(),
        1,
        "no injected <details>"
    );
    assert_eq!(md.text().matches("</details>").count(), 1);

    // Table rows keep their 10 cells.
    let rows = table_rows(&md);
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(row.len(), 10, "{row:?}");
    }
    let evil = rows
        .iter()
        .find(|r| r[0].contains("evil"))
        .expect("hostile account row");
    assert_eq!(
        evil[0], "evil&#124;acct @\u{200b}root &lt;/details&gt;",
        "escaped, not dropped"
    );

    // Every error stays on its one list line, escaped, with no live markup.
    let items: Vec<&String> = md
        .outside
        .iter()
        .filter(|l| l.starts_with("- **"))
        .collect();
    assert_eq!(items.len(), HOSTILE.len(), "{items:#?}");
    for (i, item) in items.iter().enumerate() {
        let ours = format!("- **acct-{i}** eu-west-1: security group ");
        let rest = item
            .strip_prefix(&ours)
            .unwrap_or_else(|| panic!("`{item}` does not start `{ours}`"));
        assert!(!rest.contains('|'), "{item}");
        let mut chars = rest.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '\\' => {
                    chars.next();
                }
                '`' | '*' | '_' | '[' | ']' | '~' => {
                    panic!("unescaped `{ch}` in `{item}`")
                }
                _ => {}
            }
        }
    }
    let text = md.text();
    assert!(
        text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{text}"
    );
    assert!(text.contains("@\u{200b}octocat"), "{text}");
    assert!(text.contains("@\u{200b}acme/security-team"), "{text}");
    assert!(text.contains("a &#124; b &#124; c"), "{text}");
    assert!(text.contains("\\`code\\`"), "{text}");
    assert!(text.contains("&amp;lt;already escaped&amp;gt;"), "{text}");
    // No heading other than sgops's own.
    for l in &md.outside {
        if l.starts_with('#') {
            assert!(
                l == "### sgops plan" || l == "#### Errors",
                "injected heading `{l}`"
            );
        }
    }
    // Inside code, text is shown as it is, but cannot close the block.
    let code = &md.blocks[0];
    assert!(code.contains("<script>alert(1)</script>"), "{code}");
    assert!(code.contains("`\u{200b}``fence"), "{code}");
    commonmark_sees_only_our_structure(&body, 1);
}

/// Text that GitHub would turn into a link or a reference.
const LINKY: &[&str] = &[
    "www.evil.example",
    "https://evil.example/x",
    "HTTP://EVIL.EXAMPLE",
    "ftp://evil.example/f",
    "mailto:boss@evil.example",
    "xmpp:boss@evil.example/r",
    "boss@evil.example",
    "#12",
    "o/r#34",
    "_www.evil.example_",
    "(www.evil.example)",
];

#[tokio::test]
async fn links_in_accounts_groups_and_messages_are_not_links() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let changes = LINKY
        .iter()
        .enumerate()
        .map(|(i, l)| {
            change(C {
                account: l,
                region: "us-east-1",
                group: l,
                rule: l,
                action: ACTIONS[i % ACTIONS.len()],
                allowed: i % 2 == 0,
                desc: l,
            })
        })
        .collect();
    let errors = LINKY
        .iter()
        .map(|l| PlanError {
            account: l.to_string(),
            region: "eu-west-1".into(),
            message: format!("security group {l} not found: see {l}"),
        })
        .collect();
    let plan = plan_of(changes, errors, "sha256:1234");
    let file = write_plan(dir.path(), "plan.json", &plan);
    list(&server, vec![], 1).await;
    post(&server, 1).await;
    let out = comment_on_7(&server, dir.path(), &file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
    let body = one_body(&server, "POST").await;
    let md = parse_md(&body);
    assert_inert(&md);
    commonmark_sees_only_our_structure(&body, LINKY.len());
    // Escaped, not dropped: the text is all there.
    let rows = table_rows(&md);
    assert_eq!(rows.len(), 2 * LINKY.len(), "{rows:?}");
    assert!(
        rows.iter().any(|r| r[0] == "www\u{200b}.evil.example"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r[0] == "https:\u{200b}//evil.example/x"),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r[0] == "\\#\u{200b}12"), "{rows:?}");
}

#[test]
fn apply_comments_have_no_links_either() {
    use sgops::apply::{ApplyReport, ChangeResult, Status};
    use sgops::github::APPLY_MARKER;
    use sgops::render;

    let hostile: Vec<&str> = LINKY.iter().chain(HOSTILE).copied().collect();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (i, h) in hostile.iter().enumerate() {
        let failed = i % 2 == 1;
        results.push(ChangeResult {
            change: change(C {
                account: h,
                region: "us-east-1",
                group: h,
                rule: h,
                action: ACTIONS[i % ACTIONS.len()],
                allowed: true,
                desc: h,
            }),
            status: if failed {
                Status::Failed
            } else {
                Status::Applied
            },
            message: failed.then(|| format!("InvalidGroup.NotFound: {h}")),
            new_rule_id: None,
        });
        errors.push(PlanError {
            account: h.to_string(),
            region: "eu-west-1".into(),
            message: format!("cannot assume role: {h}"),
        });
    }
    // Ids and CIDRs are shown as they are: people copy them.
    results.push(ChangeResult {
        change: change(C {
            account: "plain",
            region: "us-east-1",
            group: "sg-0123456789abcdef0",
            rule: "partner-callbacks.https",
            action: Action::Create,
            allowed: true,
            desc: "x",
        }),
        status: Status::Applied,
        message: Some("rule sgr-0123456789abcdef0 for 203.0.113.0/24 and 2001:db8::/32".into()),
        new_rule_id: None,
    });
    let report = ApplyReport::new(&plan_of(vec![], vec![], "sha256:1234"), results, errors);
    let body = format!(
        "{APPLY_MARKER}\n{}",
        render::apply_markdown(&report, Some("abc"), 60_000)
    );
    assert!(!body.contains("Cut to fit"), "all shown: {body}");
    let md = parse_md(&body);
    assert_inert(&md);
    gfm_sees_no_link(&body);
    assert!(
        body.contains("| applied | create | plain | us-east-1 | sg-0123456789abcdef0 | partner-callbacks.https | rule sgr-0123456789abcdef0 for 203.0.113.0/24 and 2001:db8::/32 |"),
        "{body}"
    );
    let rows: Vec<&String> = md.outside.iter().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(
        rows.len(),
        hostile.len() + 2,
        "header and one row per result"
    );
    for row in rows {
        assert_eq!(row.trim_matches('|').split('|').count(), 7, "{row}");
    }

    let denied: Vec<String> = hostile
        .iter()
        .map(|h| format!("  {h} us-east-1 {h} {h}: authorize_security_group_ingress"))
        .collect();
    let message = format!(
        "refused: {} changes need actions the allow-list does not permit; nothing was changed:\n{}",
        denied.len(),
        denied.join("\n")
    );
    let body = format!(
        "{APPLY_MARKER}\n{}",
        render::apply_stopped_markdown(&message, true, "abc", 60_000)
    );
    let md = parse_md(&body);
    assert_inert(&md);
    gfm_sees_no_link(&body);
    assert!(md.blocks.is_empty(), "{body}");
}

#[test]
fn the_structure_check_catches_what_escaping_prevents() {
    let table = "| account | region | create | adopt | update | replace | retag | delete | denied | errors |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    let row = "| a | r | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |\n";
    let ok = format!("### sgops plan\n\n{table}{row}");
    commonmark_sees_only_our_structure(&ok, 0);
    for bad in [
        format!("{ok}\n<img src=x onerror=alert(1)>\n"),
        format!("{ok}\n[x](https://evil.example)\n"),
        format!("{ok}\n## Injected\n"),
        format!("### sgops plan\n\n{table}| a | r | b | c | 0 | 0 | 0 | 0 | 0 | 0 | 0 |\n"),
        format!("{ok}\n```\nopened\n"),
        format!("{ok}\nsee www.evil.example\n"),
        format!("{ok}\n- **a** r: (https://evil.example/x)\n"),
        format!("{ok}\nmailto:boss@evil.example\n"),
        format!(
            "### sgops plan\n\n{table}| www.evil.example | r | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |\n"
        ),
    ] {
        let caught = std::panic::catch_unwind(|| commonmark_sees_only_our_structure(&bad, 0));
        assert!(caught.is_err(), "not caught:\n{bad}");
    }
}

#[test]
fn the_gfm_check_catches_autolinks_that_commonmark_misses() {
    for bare in [
        "see www.evil.example",
        "(https://evil.example/x)",
        "\\_www.evil.example",
        "ftp://evil.example/f",
        "mailto:boss@evil.example",
        "boss@evil.example",
    ] {
        let body = format!("### sgops plan\n\n{bare}\n");
        let links = pulldown_cmark::Parser::new(&body)
            .filter(|e| {
                matches!(
                    e,
                    pulldown_cmark::Event::Start(pulldown_cmark::Tag::Link { .. })
                )
            })
            .count();
        assert_eq!(links, 0, "CommonMark alone sees no link in `{bare}`");
        let caught = std::panic::catch_unwind(|| gfm_sees_no_link(&body));
        assert!(caught.is_err(), "GFM autolink not caught: `{bare}`");
        // The same text escaped is no link for GFM either.
        gfm_sees_no_link(&format!(
            "### sgops plan\n\n{}\n",
            sgops::escape::markdown(bare)
        ));
    }
}

/// The comment as a CommonMark parser with GitHub's tables sees it: no HTML but sgops's own
/// marker and `<details>`/`<summary>` lines, no link or image, only sgops's headings, one
/// table whose rows all have its ten cells, and `blocks` code blocks.
fn commonmark_sees_only_our_structure(body: &str, blocks: usize) {
    use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
    let mut code_blocks = 0;
    let mut tables = 0;
    let mut in_heading = None::<HeadingLevel>;
    let mut heading = String::new();
    let mut cells: Vec<String> = Vec::new();
    for event in Parser::new_ext(body, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Html(h) | Event::InlineHtml(h) => {
                let mut rest = h.trim().to_string();
                for ours in [
                    "<!-- sgops:plan v1 -->",
                    "<details><summary>",
                    "</summary>",
                    "</details>",
                ] {
                    rest = rest.replace(ours, "");
                }
                assert!(!rest.contains('<'), "HTML that is not sgops's: {h}");
            }
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => {
                panic!("a link or image got through: {dest_url}")
            }
            Event::Start(Tag::CodeBlock(_)) => code_blocks += 1,
            Event::Start(Tag::Table(columns)) => {
                tables += 1;
                assert_eq!(columns.len(), 10, "summary table columns");
            }
            Event::Start(Tag::TableRow)
            | Event::Start(Tag::TableHead)
            | Event::End(TagEnd::Table) => cells.clear(),
            Event::Start(Tag::TableCell) => cells.push(String::new()),
            Event::Text(t) | Event::Code(t) if !cells.is_empty() => {
                if let Some(c) = cells.last_mut() {
                    c.push_str(&t)
                }
            }
            Event::End(TagEnd::TableRow) => {
                // A pipe that broke out shifts the counts (GFM drops or pads cells to fit).
                assert_eq!(cells.len(), 10, "{cells:?}");
                assert!(
                    cells[2..].iter().all(|c| c.parse::<usize>().is_ok()),
                    "a row broke out of its cells: {cells:?}"
                );
            }
            Event::Start(Tag::Heading { level, .. }) => {
                in_heading = Some(level);
                heading.clear();
            }
            Event::Text(t) if in_heading.is_some() => heading.push_str(&t),
            Event::End(TagEnd::Heading(_)) => {
                assert!(
                    heading == "sgops plan" || heading == "Errors",
                    "injected heading `{heading}` ({in_heading:?})"
                );
                in_heading = None;
            }
            _ => {}
        }
    }
    assert_eq!(tables, 1, "one summary table");
    assert_eq!(
        code_blocks, blocks,
        "code blocks opened or closed by hostile text"
    );
    gfm_sees_no_link(body);
}

/// The comment rendered as GitHub renders Markdown (GFM with its autolink extension, which
/// pulldown-cmark does not implement: `www.…`, `https://…`, e-mail addresses in plain text
/// become links there): not one link or image in the HTML.
fn gfm_sees_no_link(body: &str) {
    let mut options = comrak::Options::default();
    options.extension.autolink = true;
    options.extension.table = true;
    options.extension.strikethrough = true;
    // Raw HTML kept as written: an injected `<a href>` must show, not be left out.
    options.render.r#unsafe = true;
    let html = comrak::markdown_to_html(body, &options).to_ascii_lowercase();
    for (i, _) in html.match_indices("<a") {
        assert!(
            !html[i + 2..].starts_with(|c: char| c.is_whitespace() || c == '>'),
            "a link got through: `{}`",
            html[i..].chars().take(80).collect::<String>()
        );
    }
    assert!(!html.contains("<img"), "an image got through:\n{html}");
}

// ---------------------------------------------------------------------------------------------
// Several plans.

#[tokio::test]
async fn several_plans_merge_into_one_comment() {
    let dir = tempfile::tempdir().unwrap();
    let shard = |account: &str, rule: &str, action, fp: &str, errors: Vec<PlanError>| {
        plan_of(
            vec![change(C {
                account,
                region: "us-east-1",
                group: "sg-0a1b2c3d4e5f67890",
                rule,
                action,
                allowed: true,
                desc: "x",
            })],
            errors,
            fp,
        )
    };
    let a = shard("alpha", "a-rule", Action::Create, "sha256:1111", vec![]);
    let b = shard(
        "bravo",
        "b-rule",
        Action::Delete,
        "sha256:2222",
        vec![PlanError {
            account: "charlie".into(),
            region: "us-east-1".into(),
            message: "cannot assume role sgops".into(),
        }],
    );
    let c = plan_of(vec![], vec![], "sha256:3333");
    let fa = write_plan(dir.path(), "a.json", &a);
    let fb = write_plan(dir.path(), "b.json", &b);
    let fc = write_plan(dir.path(), "c.json", &c);
    let merged = Plan::merge(vec![a.clone(), b.clone(), c.clone()]);
    assert_ne!(merged.fingerprint, a.fingerprint);

    let mut posted = Vec::new();
    for order in [[&fa, &fb, &fc], [&fc, &fb, &fa]] {
        let server = MockServer::start().await;
        list(&server, vec![], 1).await;
        post(&server, 1).await;
        no_other_writes(&server).await;
        let mut args = vec!["comment", "--pr", "7"];
        for f in order {
            args.extend(["--plan", f.to_str().unwrap()]);
        }
        let out = sgops(&server, dir.path(), &args, &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        server.verify().await;
        posted.push(one_body(&server, "POST").await);
    }
    assert_eq!(posted[0], posted[1], "the order of --plan does not matter");
    let body = &posted[0];
    assert!(
        body.contains(&format!("Fingerprint `{}`", merged.fingerprint)),
        "{body}"
    );
    assert!(
        body.contains(
            "1 to create, 0 to adopt, 0 to update, 0 to replace, 0 to retag, 1 to delete; 1 errors"
        ),
        "{body}"
    );
    let md = parse_md(body);
    let accounts: Vec<String> = table_rows(&md).into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(accounts, ["alpha", "bravo", "charlie"]);
    assert_eq!(md.blocks.len(), 2, "details for both shards' accounts");
    assert!(body.contains("- **charlie** us-east-1: cannot assume role sgops"));
}

#[tokio::test]
async fn a_missing_shard_is_an_error_row_not_a_silent_gap() {
    let dir = tempfile::tempdir().unwrap();
    let one = write_plan(dir.path(), "1.json", &small_plan("sha256:1111"));
    for args in [
        vec!["--plan", one.to_str().unwrap(), "--missing-shard", "2/2"],
        // No shard wrote a plan: the comment still says so instead of going stale.
        vec!["--missing-shard", "2/2", "--missing-shard", "1/2"],
    ] {
        let server = MockServer::start().await;
        list(&server, vec![], 1).await;
        post(&server, 1).await;
        no_other_writes(&server).await;
        let mut all = vec!["comment", "--pr", "7"];
        all.extend(args.iter().copied());
        let out = sgops(&server, dir.path(), &all, &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        server.verify().await;
        let body = one_body(&server, "POST").await;
        let md = parse_md(&body);
        let rows = table_rows(&md);
        let missing: Vec<&Vec<String>> =
            rows.iter().filter(|r| r[0].starts_with("shard")).collect();
        let want = args.iter().filter(|a| **a == "--missing-shard").count();
        assert_eq!(missing.len(), want, "{body}");
        assert!(
            missing
                .iter()
                .all(|r| r.last().map(String::as_str) == Some("**1**")),
            "{rows:?}"
        );
        assert!(body.contains("plan job failed before writing it"), "{body}");
    }
    // Neither a plan nor a missing shard: nothing to post.
    let out = sgops_raw(dir.path(), &["comment", "--pr", "7"], &[], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[tokio::test]
async fn a_plan_in_the_shape_of_the_spec_is_commented() {
    // SPEC section 7's JSON plan as written there: no `ops` (an addition of sgops's own),
    // `before: null`, `after` the rule as in a rule file.
    let spec = r#"{
      "version": 1,
      "fingerprint": "sha256:5b7c2f0e9d1a",
      "summary": {"create": 1, "adopt": 0, "update": 0, "replace": 0, "retag": 0, "delete": 0, "denied": 0},
      "changes": [
        {"account": "itx-016", "account_id": "111111111111", "region": "us-east-1",
         "security_group": "sg-0a1b2c3d4e5f67890", "rule": "partner-callbacks-https", "action": "create",
         "api_actions": ["authorize_security_group_ingress"], "allowed": true,
         "live_rule_id": null, "before": null,
         "after": {"id": "partner-callbacks-https", "direction": "ingress", "protocol": "tcp",
                   "ports": 443, "cidr": "203.0.113.0/24", "description": "Partner callbacks",
                   "ticket": "CHG-12345", "expires": "2027-06-30", "tags": {"team": "payments"}},
         "file": "rules/itx-016/us-east-1/payments-app.yaml"}
      ],
      "errors": [ {"account": "itx-046", "region": "us-east-1", "message": "cannot assume role sgops"} ]
    }"#;
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    std::fs::write(&file, spec).unwrap();
    list(&server, vec![], 1).await;
    post(&server, 1).await;
    no_other_writes(&server).await;
    let out = comment_on_7(&server, dir.path(), &file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    server.verify().await;
    let body = one_body(&server, "POST").await;
    assert!(body.contains("Fingerprint `sha256:5b7c2f0e9d1a`"), "{body}");
    assert!(
        body.contains("+ create sg-0a1b2c3d4e5f67890 partner-callbacks-https"),
        "{body}"
    );
    assert!(body.contains("+     cidr: 203.0.113.0/24"), "{body}");
    assert!(
        body.contains("- **itx-046** us-east-1: cannot assume role sgops"),
        "{body}"
    );
    // A rule with only the keys every rule has reads as well (no id, ticket, expires, tags).
    let bare = spec.replace(r#""id": "partner-callbacks-https", "#, "");
    let bare = bare.replace(
        r#",
                   "ticket": "CHG-12345", "expires": "2027-06-30", "tags": {"team": "payments"}"#,
        "",
    );
    assert!(
        !bare.contains("ticket") && !bare.contains("\"id\""),
        "{bare}"
    );
    let plan: Plan = serde_json::from_str(&bare).expect("the SPEC's plan reads");
    assert!(plan.changes[0].ops.is_empty());
}

#[tokio::test]
async fn a_file_that_is_not_a_plan_is_refused_before_github() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("plan.json");
    std::fs::write(&bad, "No changes.\n").unwrap();
    let out = comment_on_7(&server, dir.path(), &bad);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("is not a JSON plan from `sgops plan --out`"),
        "{}",
        out.stderr
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Errors.

struct Failing {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    message: &'static str,
}

/// Runs `comment` against a server whose list call fails so; returns stderr.
async fn list_fails(f: Failing, extra: &[(&str, &str)]) -> (String, usize) {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:9999"));
    let mut resp = ResponseTemplate::new(f.status).set_body_json(json!({
        "message": f.message,
        "documentation_url": "https://docs.github.com/rest"
    }));
    for (k, v) in &f.headers {
        resp = resp.insert_header(*k, *v);
    }
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(resp)
        .mount(&server)
        .await;
    no_other_writes(&server).await;
    let out = sgops(
        &server,
        dir.path(),
        &["comment", "--pr", "7", "--plan", plan.to_str().unwrap()],
        extra,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    server.verify().await;
    let n = server.received_requests().await.unwrap().len();
    (out.stderr, n)
}

/// The first POST fails with `status`. When `landed`, it was posted all the same (its reply
/// was lost) and the next listing shows it: sgops must edit that comment, not post again.
/// Otherwise sgops posts once more. Either way: one comment, exit 0. When `hijacked`, someone
/// else posted a marked comment in between (listed first): it is not taken for the lost one.
async fn first_post_fails(status: u16, landed: bool, hijacked: bool) {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:1111"));
    let mut after: Vec<Value> = Vec::new();
    if hijacked {
        after.push(theirs(66, &format!("{PLAN_MARKER}\nas posted")));
    }
    if landed {
        after.push(ours(9001, &format!("{PLAN_MARKER}\nas posted")));
    }
    for (name, comments) in [("list before posting", vec![]), ("list after", after)] {
        Mock::given(method("GET"))
            .and(path(COMMENTS))
            .and(bearer_token(TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(comments))
            .up_to_n_times(1)
            .expect(1)
            .named(name)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .respond_with(ResponseTemplate::new(status).set_body_string("unavailable"))
        .up_to_n_times(1)
        .expect(1)
        .named("first POST")
        .mount(&server)
        .await;
    post(&server, u64::from(!landed)).await;
    patch(&server, 9001, u64::from(landed)).await;
    patch(&server, 66, 0).await;
    no_other_writes(&server).await;
    let out = comment_on_7(&server, dir.path(), &plan);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("created comment 9001"),
        "{}",
        out.stderr
    );
    server.verify().await;
}

#[tokio::test]
async fn a_lost_post_reply_does_not_post_twice() {
    first_post_fails(502, true, false).await;
}

#[tokio::test]
async fn a_failed_post_is_retried_after_checking() {
    first_post_fails(503, false, false).await;
}

#[tokio::test]
async fn after_a_failed_post_only_our_own_comment_is_taken_for_it() {
    first_post_fails(502, true, true).await;
    first_post_fails(503, false, true).await;
}

#[tokio::test]
async fn unauthorized_says_check_the_token() {
    let (err, n) = list_fails(
        Failing {
            status: 401,
            headers: vec![],
            message: "Bad credentials",
        },
        &[],
    )
    .await;
    assert_eq!(n, 1, "a 401 is not retried");
    assert!(
        err.contains(
            "error: GitHub rejected the token (401 Unauthorized) while trying to list the comments of #7: check GITHUB_TOKEN"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn forbidden_says_which_permission() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:9999"));
    list(&server, vec![], 1).await;
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let out = comment_on_7(&server, dir.path(), &plan);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "GitHub refused to comment on #7 (403 Forbidden: Resource not accessible by integration)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("`pull-requests: write`"),
        "{}",
        out.stderr
    );
    server.verify().await;
}

#[tokio::test]
async fn not_found_says_check_repository_and_number() {
    let (err, n) = list_fails(
        Failing {
            status: 404,
            headers: vec![],
            message: "Not Found",
        },
        &[],
    )
    .await;
    assert_eq!(n, 1);
    assert!(
        err.contains("GitHub could not list the comments of #7 (404 Not Found): check GITHUB_REPOSITORY, the number"),
        "{err}"
    );
}

#[tokio::test]
async fn edit_of_a_vanished_comment_is_not_found() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:9999"));
    list(&server, vec![ours(55, PLAN_MARKER)], 1).await;
    Mock::given(method("PATCH"))
        .and(path("/repos/o/r/issues/comments/55"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let out = comment_on_7(&server, dir.path(), &plan);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("GitHub could not edit comment 55 on #7 (404 Not Found)"),
        "{}",
        out.stderr
    );
    server.verify().await;
}

#[tokio::test]
async fn primary_rate_limit_says_when_it_resets() {
    let (err, n) = list_fails(
        Failing {
            status: 403,
            headers: vec![
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1893456000"),
            ],
            message: "API rate limit exceeded for installation ID 1.",
        },
        &[],
    )
    .await;
    assert_eq!(n, 1);
    assert!(
        err.contains(
            "GitHub rate limit reached while trying to list the comments of #7 (resets at unix time 1893456000): try again later"
        ),
        "{err}"
    );
    assert!(
        !err.contains("Forbidden"),
        "not mistaken for permissions: {err}"
    );
}

#[tokio::test]
async fn secondary_rate_limit_is_a_rate_limit() {
    let (err, _) = list_fails(
        Failing {
            status: 403,
            headers: vec![],
            message: "You have exceeded a secondary rate limit. Please wait a few minutes.",
        },
        &[],
    )
    .await;
    assert!(
        err.contains(
            "GitHub rate limit reached while trying to list the comments of #7: try again later"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn too_many_requests_is_a_rate_limit() {
    let (err, n) = list_fails(
        Failing {
            status: 429,
            headers: vec![("x-ratelimit-reset", "1893456000")],
            message: "Too Many Requests",
        },
        &[],
    )
    .await;
    assert!(
        (1..=4).contains(&n),
        "a few retries at most, then a clear error: {n} calls"
    );
    assert!(
        err.contains("GitHub rate limit reached while trying to list the comments of #7 (resets at unix time 1893456000)"),
        "{err}"
    );
}

#[tokio::test]
async fn server_errors_name_the_status() {
    let (err, _) = list_fails(
        Failing {
            status: 502,
            headers: vec![],
            message: "Server Error",
        },
        &[],
    )
    .await;
    assert!(
        err.contains("GitHub could not list the comments of #7: 502 Server Error"),
        "{err}"
    );
}

#[tokio::test]
async fn no_token_leaks_even_at_trace_level() {
    // -vvv turns on trace logs of every crate, HTTP client included.
    let (err, _) = list_fails(
        Failing {
            status: 401,
            headers: vec![],
            message: "Bad credentials",
        },
        &[("RUST_LOG", "trace")],
    )
    .await;
    assert!(err.contains("401 Unauthorized"), "{err}");

    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:9999"));
    list(&server, vec![], 1).await;
    post(&server, 1).await;
    let out = sgops(
        &server,
        dir.path(),
        &[
            "-vvv",
            "comment",
            "--pr",
            "7",
            "--plan",
            plan.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("TRACE"), "trace logs were on");
    server.verify().await;
}

#[tokio::test]
async fn unreachable_api_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:9999"));
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let out = sgops_raw(
        dir.path(),
        &["comment", "--pr", "7", "--plan", plan.to_str().unwrap()],
        &[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_API_URL", &format!("http://127.0.0.1:{port}")),
        ],
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("error: GitHub could not list the comments of #7: "),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn missing_or_malformed_environment_is_refused_before_any_call() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.json", &small_plan("sha256:9999"));
    let args = ["comment", "--pr", "7", "--plan", plan.to_str().unwrap()];
    let api = server.uri();

    let out = sgops_raw(
        dir.path(),
        &args,
        &[("GITHUB_REPOSITORY", "o/r"), ("GITHUB_API_URL", &api)],
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("GITHUB_TOKEN is not set: pass the workflow's token"),
        "{}",
        out.stderr
    );

    let out = sgops_raw(
        dir.path(),
        &args,
        &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", &api)],
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("GITHUB_REPOSITORY is not set"),
        "{}",
        out.stderr
    );

    for bad in ["o", "o/r/x", "/r", "o/"] {
        let out = sgops_raw(
            dir.path(),
            &args,
            &[
                ("GITHUB_TOKEN", TOKEN),
                ("GITHUB_REPOSITORY", bad),
                ("GITHUB_API_URL", &api),
            ],
            &[],
        );
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .contains(&format!("GITHUB_REPOSITORY `{bad}` is not `owner/name`")),
            "{}",
            out.stderr
        );
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing was sent"
    );
}

// ---------------------------------------------------------------------------------------------
// Shards (the moto run is in github_apply.rs).

#[test]
fn every_account_is_in_exactly_one_shard_and_stays_there() {
    use sgops::cli::Shard;
    use sgops::engine::in_shard;

    let mut names: Vec<String> = (0..1000).map(|i| format!("itx-{i:03}")).collect();
    names.extend(["payments", "shared-services", "", "ünïcode-account"].map(String::from));
    assert!(names.iter().all(|n| in_shard(n, None)), "no shard: all");
    for count in 1..=8u32 {
        let shard = |index| Some(Shard { index, count });
        let mut sizes = vec![0usize; count as usize];
        for n in &names {
            let hits: Vec<u32> = (1..=count).filter(|&i| in_shard(n, shard(i))).collect();
            assert_eq!(hits.len(), 1, "{n} is in shards {hits:?} of {count}");
            sizes[hits[0] as usize - 1] += 1;
            assert!(in_shard(n, shard(hits[0])), "{n} moved on a second call");
        }
        // A hash, not a cut of the sorted list: no shard is empty or swallows the rest.
        let even = names.len() / count as usize;
        for s in &sizes {
            assert!(*s > even / 2 && *s < even * 2, "{count} shards: {sizes:?}");
        }
    }
    // The answer depends on the name only, not on which other accounts exist or on the
    // version that computed it: pinned, so a change of hash (which would move accounts
    // between CI jobs) cannot slip in unnoticed.
    let pinned: Vec<u32> = ["itx-016", "itx-046", "payments", "shared-services"]
        .iter()
        .map(|n| {
            (1..=4)
                .find(|&i| in_shard(n, Some(Shard { index: i, count: 4 })))
                .expect("a shard")
        })
        .collect();
    assert_eq!(pinned, [2, 3, 1, 2]);
}
