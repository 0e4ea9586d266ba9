//! The lifecycle's GitHub side against a wiremock stand-in with GitHub's full response shapes:
//! `sgops remind` keeps one `sgops-expiring` issue (created, edited in place, left alone when
//! unchanged, closed when nothing expires, never one written by someone else; mentions only
//! CODEOWNERS owners; within an issue's size), and `approvals.require_codeowners` makes apply
//! refuse a merge that its CODEOWNERS did not approve (files paginated past 100, reviews in
//! every state, a dismissed approval, a team, the author's own approval; CODEOWNERS and the
//! setting from the base).

mod github_shapes;
mod support;

use github_shapes::{actions_bot, issue, person, pull, pull_file, review};
use serde_json::{Value, json};
use sgops::github::{APPLY_MARKER, EXPIRING_MARKER, ISSUE_LIMIT};
use support::*;
use wiremock::matchers::{bearer_token, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_SECRETTOKEN123";

fn gh_env(server: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_TOKEN", TOKEN.into()),
        ("GITHUB_REPOSITORY", "o/r".into()),
        ("GITHUB_API_URL", server.uri()),
    ]
}

fn run(repo: &Repo, args: &[&str], env: &[(&'static str, String)]) -> (i32, String, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out, err) = repo.sgops_with_env(args, &env);
    for text in [&out, &err] {
        assert!(!text.contains(TOKEN), "the token leaked:\n{text}");
    }
    (code, out, err)
}

async fn nothing_else(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("unexpected call")
        .mount(server)
        .await;
}

async fn bodies(server: &MockServer, m: &str) -> Vec<(String, Value)> {
    server
        .received_requests()
        .await
        .expect("recording")
        .into_iter()
        .filter(|r| r.method.as_str() == m)
        .map(|r| {
            (
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).expect("JSON body"),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reminders.

fn expiring_rule(id: &str, days: u32, ticket: &str) -> String {
    let day = 27 + days; // November 27 + days, within December for days <= 34
    let date = if day <= 30 {
        format!("2026-11-{day:02}")
    } else {
        format!("2026-12-{:02}", day - 30)
    };
    format!(
        "  - id: {id}\n    direction: ingress\n    protocol: tcp\n    ports: 443\n    cidr: 203.0.113.{}/32\n    description: \"cc @mallory see www.evil.example\"\n    ticket: \"{ticket}\"\n    expires: {date}\n",
        days % 250
    )
}

fn remind_repo(owners: &str) -> Repo {
    let repo = Repo::new(&[("app", "111111111111"), ("db", "222222222222")], "");
    repo.file(
        "app",
        "us-east-1",
        "web",
        &format!(
            "security_group: sg-0123456789abcdef0\nrules:\n{}{}",
            expiring_rule("soon", 3, "CHG-1 @mallory #12"),
            expiring_rule("later", 20, "CHG-2")
        ),
    );
    repo.file(
        "db",
        "us-east-1",
        "db",
        &format!(
            "security_group: sg-0123456789abcdef1\nrules:\n{}",
            expiring_rule("db-port", 9, "CHG-3")
        ),
    );
    std::fs::write(repo.path().join("CODEOWNERS"), owners).unwrap();
    repo
}

const OWNERS: &str = "rules/ @org/secops\nrules/app/ @alice @org/secops ops@example.com\n";

async fn issues_list(server: &MockServer, listed: Value) {
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues"))
        .and(query_param("labels", "sgops-expiring"))
        .and(query_param("state", "open"))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .named("list labelled issues")
        .mount(server)
        .await;
}

#[tokio::test]
async fn remind_opens_one_issue_mentioning_each_owner_once() {
    let repo = remind_repo(OWNERS);
    let server = MockServer::start().await;
    // Someone else's labelled issue with the marker, and a pull request: both left alone.
    let theirs = issue(
        7,
        person("mallory"),
        &format!("{EXPIRING_MARKER}\nedit me"),
        &["sgops-expiring"],
    );
    let mut pr = issue(8, actions_bot(), EXPIRING_MARKER, &["sgops-expiring"]);
    pr["pull_request"] = json!({"url": "https://api.github.com/repos/o/r/pulls/8"});
    issues_list(&server, json!([theirs, pr])).await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues"))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue(
            9,
            actions_bot(),
            "",
            &["sgops-expiring"],
        )))
        .expect(1)
        .named("create issue")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&repo, &["remind"], &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("opened issue #9"), "{err}");
    assert!(
        err.contains("issue #7 is labelled sgops-expiring but was written by mallory"),
        "{err}"
    );
    server.verify().await;
    let posts = bodies(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    let sent = &posts[0].1;
    assert_eq!(sent["labels"], json!(["sgops-expiring"]));
    assert_eq!(
        sent["title"],
        "sgops: security-group exceptions expiring soon"
    );
    let body = sent["body"].as_str().unwrap();
    assert!(body.starts_with(&format!("{EXPIRING_MARKER}\n")), "{body}");
    assert!(body.contains("3 rules expire within 30 days"), "{body}");
    // Each owner mentioned once, as a heading; the email shown, not mentioned.
    for m in ["@alice", "@org/secops"] {
        assert_eq!(body.matches(m).count(), 1, "{m} in {body}");
    }
    assert!(body.contains("#### @alice\n"), "{body}");
    assert!(body.contains("#### `ops@example.com`"), "{body}");
    // Text from rule files mentions, references and links nothing.
    assert!(!body.contains("@mallory"), "{body}");
    assert!(
        body.contains("CHG-1 @\u{200b}mallory \\#\u{200b}12"),
        "{body}"
    );
    assert!(!body.contains("www.evil"), "{body}");
    // alice's group (3 days) comes before secops' own rules? Both hold `soon`: the soonest
    // group first, db-port (9 days) only under secops.
    let secops = body.find("#### @org/secops").unwrap();
    assert!(body[secops..].contains("db-port"));
    assert!(!body[..secops].contains("db-port"));
    let (code, dry, _) = run(&repo, &["remind", "--dry-run"], &gh_env(&server));
    assert_eq!(code, 0);
    assert_eq!(dry, body, "--dry-run prints the same body");
}

#[tokio::test]
async fn remind_edits_its_issue_in_place_and_leaves_it_when_unchanged() {
    let repo = remind_repo(OWNERS);
    // The body sgops would write.
    let (_, body, _) = repo.sgops(&["remind", "--dry-run"]);
    let server = MockServer::start().await;
    issues_list(
        &server,
        json!([issue(
            5,
            actions_bot(),
            &format!("{EXPIRING_MARKER}\nold list"),
            &["sgops-expiring"]
        )]),
    )
    .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/o/r/issues/5"))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue(
            5,
            actions_bot(),
            &body,
            &["sgops-expiring"],
        )))
        .expect(1)
        .named("edit issue")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&repo, &["remind"], &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("updated issue #5"), "{err}");
    server.verify().await;
    let patches = bodies(&server, "PATCH").await;
    assert_eq!(patches[0].1["body"].as_str(), Some(body.as_str()));
    assert!(patches[0].1.get("state").is_none());

    // Same body again: no call but the list.
    let again = MockServer::start().await;
    issues_list(
        &again,
        json!([issue(5, actions_bot(), &body, &["sgops-expiring"])]),
    )
    .await;
    nothing_else(&again).await;
    let (code, _, err) = run(&repo, &["remind"], &gh_env(&again));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("issue #5 already up to date"), "{err}");
    again.verify().await;
}

#[tokio::test]
async fn remind_closes_its_issue_when_nothing_expires() {
    let repo = remind_repo(OWNERS);
    let server = MockServer::start().await;
    issues_list(
        &server,
        json!([
            issue(
                5,
                actions_bot(),
                &format!("{EXPIRING_MARKER}\nold list"),
                &["sgops-expiring"]
            ),
            issue(
                6,
                person("someone"),
                &format!("{EXPIRING_MARKER}\nx"),
                &["sgops-expiring"]
            )
        ]),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/5/comments"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(github_shapes::comment(
                5,
                9001,
                actions_bot(),
                "closing",
            )),
        )
        .expect(1)
        .named("closing comment")
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/o/r/issues/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue(
            5,
            actions_bot(),
            "",
            &["sgops-expiring"],
        )))
        .expect(1)
        .named("close issue")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    // A week from the window's end: nothing within 2 days.
    let (code, out, err) = run(&repo, &["remind", "--within", "2"], &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("nothing expires within 2 days: closed issue #5"),
        "{err}"
    );
    server.verify().await;
    let posts = bodies(&server, "POST").await;
    assert!(
        posts[0].1["body"]
            .as_str()
            .unwrap()
            .starts_with("Nothing expires within 2 days any more (as of 2026-11-27): closing."),
        "{posts:?}"
    );
    let patches = bodies(&server, "PATCH").await;
    assert_eq!(patches[0].1["state"], "closed");
    assert_eq!(patches[0].1["state_reason"], "completed");

    // Nothing expiring and no issue of ours: no call but the list.
    let quiet = MockServer::start().await;
    issues_list(&quiet, json!([])).await;
    nothing_else(&quiet).await;
    let (code, _, err) = run(&repo, &["remind", "--within", "2"], &gh_env(&quiet));
    assert_eq!(code, 0);
    assert!(err.contains("no open issue"), "{err}");
}

#[tokio::test]
async fn a_huge_reminder_fits_one_issue() {
    let mut owners = String::from("rules/ @org/secops\n");
    let repo = Repo::new(
        &[("app", "111111111111")],
        "quotas:\n  rules_per_group: 5000\n",
    );
    for f in 0..400 {
        let mut file = format!("security_group: sg-{:017x}\nrules:\n", f + 1);
        for r in 0..8 {
            file.push_str(&expiring_rule(&format!("r{r}"), 1 + (r * 3) % 29, "CHG-1"));
        }
        repo.file("app", "us-east-1", &format!("f{f:03}"), &file);
        owners.push_str(&format!("rules/app/us-east-1/f{f:03}.yaml @owner-{f}\n"));
    }
    std::fs::write(repo.path().join("CODEOWNERS"), owners).unwrap();
    let server = MockServer::start().await;
    issues_list(&server, json!([])).await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue(
            9,
            actions_bot(),
            "",
            &["sgops-expiring"],
        )))
        .expect(1)
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&repo, &["remind"], &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    let posts = bodies(&server, "POST").await;
    let body = posts[0].1["body"].as_str().unwrap();
    assert!(
        body.chars().count() < ISSUE_LIMIT,
        "{}",
        body.chars().count()
    );
    assert!(
        body.contains("**Cut to fit one issue: "),
        "{}",
        &body[body.len() - 400..]
    );
    assert!(body.contains("Run `sgops report --expiring-within 30` for the full list."));
}

// ---------------------------------------------------------------------------------------------
// Approvals before apply.

const BASE_OWNERS: &str = "* @platform-lead\nrules/ @org/secops @alice @erin\n";

struct Merge {
    repo: Repo,
    ec2: aws_sdk_ec2::Client,
    group: String,
    sha: String,
}

/// A git repository whose base commit requires CODEOWNERS approval, and a merge commit (the
/// head) that adds a rule file and, as an attacker would, switches the requirement off.
async fn merged() -> Merge {
    let acct = account_id();
    let repo = Repo::new(
        &[("app", &acct)],
        "approvals:\n  require_codeowners: true\n",
    );
    repo.allow(ALL_ACTIONS).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    let dir = repo.path().to_path_buf();
    std::fs::create_dir_all(dir.join(".github")).unwrap();
    std::fs::write(dir.join(".github/CODEOWNERS"), BASE_OWNERS).unwrap();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "base"]);
    repo.file(
        "app",
        "us-east-1",
        "web",
        &format!(
            "security_group: {group}\nrules:\n  - id: partner\n    direction: ingress\n    protocol: tcp\n    ports: 8443\n    cidr: 203.0.113.0/24\n    ticket: CHG-1\n"
        ),
    );
    let cfg = std::fs::read_to_string(dir.join("sgops.yaml")).unwrap();
    std::fs::write(
        dir.join("sgops.yaml"),
        cfg.replace("require_codeowners: true", "require_codeowners: false"),
    )
    .unwrap();
    // The pull request also hands itself the rules in CODEOWNERS: the base's count.
    std::fs::write(dir.join(".github/CODEOWNERS"), "* @mallory\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "merge of #42"]);
    let sha = git(&dir, &["rev-parse", "HEAD"]);
    Merge {
        repo,
        ec2,
        group,
        sha,
    }
}

/// Mounts the merged pull request #42 by `author`, its files (100 elsewhere on the first
/// page, the covered ones on the second) and `reviews`.
async fn pull_request(server: &MockServer, sha: &str, author: &str, reviews: Value) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/commits/{sha}/pulls")))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            pull(41, person("someone"), false),
            pull(42, person(author), true)
        ])))
        .named("pulls of the commit")
        .mount(server)
        .await;
    let first: Vec<Value> = (0..100)
        .map(|i| pull_file(&format!("docs/page-{i:03}.md"), None))
        .collect();
    let next = format!(
        "<{}/repositories/1/pulls/42/files?per_page=100&page=2>; rel=\"next\", <{}/repositories/1/pulls/42/files?per_page=100&page=2>; rel=\"last\"",
        server.uri(),
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/repos/o/r/pulls/42/files"))
        .and(bearer_token(TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", next.as_str())
                .set_body_json(first),
        )
        .named("files, page 1")
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/1/pulls/42/files"))
        .and(query_param("page", "2"))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            pull_file("rules/app/us-east-1/web.yaml", None),
            pull_file("sgops.yaml", None),
            pull_file(".github/CODEOWNERS", None),
        ])))
        .expect(1)
        .named("files, page 2")
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/o/r/pulls/42/reviews"))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(reviews))
        .named("reviews")
        .mount(server)
        .await;
}

async fn team(server: &MockServer, status: u16, members: Value) {
    Mock::given(method("GET"))
        .and(path("/orgs/org/teams/secops/members"))
        .respond_with(ResponseTemplate::new(status).set_body_json(members))
        .named("team members")
        .mount(server)
        .await;
}

/// Reviews in every state: the author (alice, an owner) approves her own change; erin's
/// approval was dismissed; bob (no owner) approves; carol (in the team) only comments;
/// frank requests changes; gina's review is pending.
fn reviews_without_an_owner() -> Vec<Value> {
    vec![
        review(1, person("alice"), "APPROVED"),
        review(2, person("erin"), "DISMISSED"),
        review(3, person("bob"), "APPROVED"),
        review(4, person("carol"), "COMMENTED"),
        review(5, person("frank"), "CHANGES_REQUESTED"),
        review(6, person("gina"), "PENDING"),
    ]
}

fn env_for(server: &MockServer, sha: &str) -> Vec<(&'static str, String)> {
    let mut e = gh_env(server);
    e.push(("GITHUB_SHA", sha.to_string()));
    e
}

#[tokio::test]
async fn apply_refuses_a_merge_its_codeowners_did_not_approve() {
    let m = merged().await;
    let server = MockServer::start().await;
    pull_request(&server, &m.sha, "alice", json!(reviews_without_an_owner())).await;
    team(&server, 200, json!([person("carol"), person("dave")])).await;
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/42/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/42/comments"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(github_shapes::comment(
                42,
                7001,
                actions_bot(),
                "",
            )),
        )
        .expect(1)
        .named("refusal comment")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&m.repo, &["apply", "--comment"], &env_for(&server, &m.sha));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("refused: approvals.require_codeowners: pull request #42 by alice lacks CODEOWNERS approval for 2 of 2 changed files"),
        "{err}"
    );
    assert!(
        err.contains(
            "rules/app/us-east-1/web.yaml: needs an approval by one of @org/secops, @alice, @erin"
        ),
        "{err}"
    );
    assert!(
        err.contains("sgops.yaml: needs an approval by one of @platform-lead"),
        "{err}"
    );
    assert!(
        !err.contains("mallory"),
        "CODEOWNERS from the base, not the pull request: {err}"
    );
    server.verify().await;
    assert!(
        ingress(&m.ec2, &m.group).await.is_empty(),
        "nothing changed"
    );
    let posts = bodies(&server, "POST").await;
    let body = posts[0].1["body"].as_str().unwrap();
    assert!(body.starts_with(APPLY_MARKER), "{body}");
    assert!(
        body.contains("⛔ **Apply refused.** Nothing was changed."),
        "{body}"
    );
    assert!(
        body.contains(
            "rules/app/us-east-1/web.yaml: needs an approval by one of @\u{200b}org/secops"
        ),
        "{body}"
    );
    assert!(
        !body.contains(" @alice"),
        "the comment mentions nobody: {body}"
    );
}

#[tokio::test]
async fn an_approval_by_a_team_member_lets_apply_go_on() {
    let m = merged().await;
    let server = MockServer::start().await;
    let mut reviews = reviews_without_an_owner();
    // dave, in @org/secops, approves and comments afterwards: still an approval. The
    // platform lead approves sgops.yaml.
    reviews.push(review(7, person("dave"), "APPROVED"));
    reviews.push(review(8, person("dave"), "COMMENTED"));
    reviews.push(review(9, person("Platform-Lead"), "APPROVED"));
    pull_request(&server, &m.sha, "alice", json!(reviews)).await;
    team(&server, 200, json!([person("carol"), person("dave")])).await;
    nothing_else(&server).await;
    let (code, out, err) = run(&m.repo, &["apply"], &env_for(&server, &m.sha));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("approvals: all 2 changed rule and configuration files of pull request #42 are approved by their CODEOWNERS"),
        "{err}"
    );
    server.verify().await;
    assert_eq!(ingress(&m.ec2, &m.group).await.len(), 1, "applied");
}

#[tokio::test]
async fn a_token_that_cannot_read_team_members_is_told_what_it_needs() {
    let m = merged().await;
    let server = MockServer::start().await;
    pull_request(&server, &m.sha, "alice", json!(reviews_without_an_owner())).await;
    team(
        &server,
        403,
        json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/teams/members#list-team-members", "status": "403"}),
    )
    .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&m.repo, &["apply"], &env_for(&server, &m.sha));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("cannot list the members of team @org/secops (403 Forbidden)"),
        "{err}"
    );
    assert!(err.contains("`members: read`"), "{err}");
    assert!(err.contains("Set SGOPS_MEMBERS_TOKEN"), "{err}");
    assert!(
        ingress(&m.ec2, &m.group).await.is_empty(),
        "nothing changed"
    );
}

#[tokio::test]
async fn the_members_token_is_used_for_teams() {
    let m = merged().await;
    let server = MockServer::start().await;
    let mut reviews = reviews_without_an_owner();
    reviews.push(review(7, person("dave"), "APPROVED"));
    reviews.push(review(9, person("platform-lead"), "APPROVED"));
    pull_request(&server, &m.sha, "alice", json!(reviews)).await;
    Mock::given(method("GET"))
        .and(path("/orgs/org/teams/secops/members"))
        .and(bearer_token("ghs_MEMBERS"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([person("dave")])))
        .expect(1)
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let mut env = env_for(&server, &m.sha);
    env.push(("SGOPS_MEMBERS_TOKEN", "ghs_MEMBERS".into()));
    let (code, out, err) = run(&m.repo, &["apply"], &env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!err.contains("ghs_MEMBERS"));
    server.verify().await;
}

#[tokio::test]
async fn a_commit_that_is_no_pull_request_merge_is_refused() {
    let m = merged().await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/commits/{}/pulls", m.sha)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&m.repo, &["apply"], &env_for(&server, &m.sha));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("is not the merge of a pull request"), "{err}");
    assert!(ingress(&m.ec2, &m.group).await.is_empty());
}

/// 3,000 files in 30 pages, each page linking to the next, as GitHub paginates.
struct ThirtyPages(String);

impl wiremock::Respond for ThirtyPages {
    fn respond(&self, r: &wiremock::Request) -> ResponseTemplate {
        let page: usize = r
            .url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1);
        let files: Vec<Value> = (0..100)
            .map(|i| pull_file(&format!("docs/p{page:02}-{i:03}.md"), None))
            .collect();
        let mut t = ResponseTemplate::new(200).set_body_json(files);
        if page < 30 {
            t = t.insert_header(
                "link",
                format!(
                    "<{}/repos/o/r/pulls/42/files?per_page=100&page={}>; rel=\"next\"",
                    self.0,
                    page + 1
                )
                .as_str(),
            );
        }
        t
    }
}

#[tokio::test]
async fn a_pull_request_too_long_for_githubs_file_list_is_refused() {
    let m = merged().await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/commits/{}/pulls", m.sha)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([pull(
            42,
            person("alice"),
            true
        )])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/o/r/pulls/42/files"))
        .respond_with(ThirtyPages(server.uri()))
        .expect(30)
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&m.repo, &["apply"], &env_for(&server, &m.sha));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("changes 3000 files or more"), "{err}");
    server.verify().await;
    assert!(ingress(&m.ec2, &m.group).await.is_empty());
}
