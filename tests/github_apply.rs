//! GitHub end to end with moto (SPEC section 8): `apply --comment` posts the result to the pull
//! request merged as `GITHUB_SHA`, and plan shards over many accounts split them exactly once
//! and merge back into one comment.

mod github_shapes;
mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sgops::cli::Shard;
use sgops::engine::in_shard;
use sgops::github::{APPLY_MARKER, COMMENT_LIMIT, PLAN_MARKER};
use support::*;
use wiremock::matchers::{bearer_token, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "ghp_SECRETTOKEN123";
const SHA: &str = "abc123";

fn rule_file(group: &str, id: &str, port: u16) -> String {
    format!(
        "security_group: {group}\nrules:\n  - id: {id}\n    direction: ingress\n    protocol: tcp\n    ports: {port}\n    cidr: 203.0.113.0/24\n    description: Partner {id}\n    ticket: CHG-1\n"
    )
}

/// The GitHub environment for `server`, and `GITHUB_SHA`.
fn gh_env(server: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_TOKEN", TOKEN.into()),
        ("GITHUB_REPOSITORY", "o/r".into()),
        ("GITHUB_API_URL", server.uri()),
        ("GITHUB_SHA", SHA.into()),
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

async fn pulls(server: &MockServer, prs: Value) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/commits/{SHA}/pulls")))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(prs))
        .expect(1)
        .named("pulls of the commit")
        .mount(server)
        .await;
}

/// A comment on `pr` by sgops (the Actions token's bot), as GitHub returns it.
fn ours(pr: u64, id: u64, body: &str) -> Value {
    github_shapes::comment(pr, id, github_shapes::actions_bot(), body)
}

/// A comment on `pr` by a person, as GitHub returns it.
fn theirs(pr: u64, id: u64, body: &str) -> Value {
    github_shapes::comment(pr, id, github_shapes::person("someone"), body)
}

async fn comments_of(server: &MockServer, pr: u64, existing: Value, posts: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/issues/{pr}/comments")))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(existing))
        .expect(1)
        .named("list comments")
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/o/r/issues/{pr}/comments")))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(201).set_body_json(ours(pr, 7001, "")))
        .expect(posts)
        .named("create comment")
        .mount(server)
        .await;
}

/// Catch-all for anything the named mocks did not take: must not happen.
async fn nothing_else(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("unexpected call")
        .mount(server)
        .await;
}

async fn written(server: &MockServer, m: &str) -> Vec<(String, String)> {
    server
        .received_requests()
        .await
        .expect("recording")
        .into_iter()
        .filter(|r| r.method.as_str() == m)
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).expect("JSON body");
            (
                r.url.path().to_string(),
                v["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

struct World {
    repo: Repo,
    ec2: aws_sdk_ec2::Client,
    group: String,
}

async fn world() -> World {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    repo.allow(ALL_ACTIONS).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    repo.file(
        "app",
        "us-east-1",
        "app",
        &rule_file(&group, "partner", 8443),
    );
    World { repo, ec2, group }
}

#[tokio::test]
async fn apply_result_goes_to_the_merged_pull_request_and_is_edited_on_rerun() {
    let w = world().await;
    let server = MockServer::start().await;
    // An open PR that also contains the commit comes first; the merged one is #42.
    pulls(
        &server,
        json!([
            {"number": 41, "state": "open", "merged_at": null},
            {"number": 42, "state": "closed", "merged_at": "2026-11-27T09:00:00Z"}
        ]),
    )
    .await;
    comments_of(&server, 42, json!([theirs(42, 1, "LGTM")]), 1).await;
    nothing_else(&server).await;

    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("applied   create  app us-east-1"), "{out}");
    assert!(err.contains("apply result posted to #42"), "{err}");
    server.verify().await;
    let live = ingress(&w.ec2, &w.group).await;
    assert!(
        live.iter()
            .any(|r| r.from == 8443 && r.peer == "203.0.113.0/24"),
        "{live:#?}"
    );

    let posts = written(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    let (url, body) = &posts[0];
    assert_eq!(url, "/repos/o/r/issues/42/comments");
    assert!(body.starts_with(&format!("{APPLY_MARKER}\n")), "{body}");
    assert!(
        !body.contains(PLAN_MARKER),
        "not mistaken for the plan comment"
    );
    assert!(
        body.contains("1 applied, 0 converged, 0 failed, 0 skipped"),
        "{body}"
    );
    assert!(body.contains(&format!("Commit `{SHA}`")), "{body}");
    assert!(
        body.contains(&format!(
            "| applied | create | app | us-east-1 | {} | partner |",
            w.group
        )),
        "{body}"
    );
    assert!(body.len() < sgops::github::COMMENT_LIMIT);

    // Re-run (the workflow retried): nothing to apply, and the same comment is edited.
    let again = MockServer::start().await;
    pulls(
        &again,
        json!([{"number": 42, "state": "closed", "merged_at": "2026-11-27T09:00:00Z"}]),
    )
    .await;
    comments_of(&again, 42, json!([ours(42, 7001, body)]), 0).await;
    Mock::given(method("PATCH"))
        .and(path("/repos/o/r/issues/comments/7001"))
        .and(bearer_token(TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(ours(42, 7001, "")))
        .expect(1)
        .named("edit comment")
        .mount(&again)
        .await;
    nothing_else(&again).await;
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &gh_env(&again));
    assert_eq!(code, 0, "{out}\n{err}");
    again.verify().await;
    let patches = written(&again, "PATCH").await;
    assert_eq!(patches.len(), 1);
    assert!(patches[0].1.starts_with(APPLY_MARKER));
    assert!(
        patches[0]
            .1
            .contains("0 applied, 0 converged, 0 failed, 0 skipped"),
        "{}",
        patches[0].1
    );
}

#[tokio::test]
async fn apply_without_a_merged_pull_request_posts_nothing() {
    let w = world().await;
    let server = MockServer::start().await;
    pulls(&server, json!([])).await;
    nothing_else(&server).await;
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "no pull request was merged as {SHA}; the apply result is not posted"
        )),
        "{err}"
    );
    server.verify().await;
    assert_eq!(ingress(&w.ec2, &w.group).await.len(), 1, "still applied");
}

#[tokio::test]
async fn an_open_pull_request_with_the_commit_is_not_told() {
    let w = world().await;
    let server = MockServer::start().await;
    pulls(
        &server,
        json!([{"number": 41, "state": "open", "merged_at": null}]),
    )
    .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("no pull request was merged as"), "{err}");
    server.verify().await;
}

#[tokio::test]
async fn a_refused_apply_is_posted_to_the_merged_pull_request() {
    let w = world().await;
    // The allow-list lets sgops read but not authorize: the create is denied.
    w.repo
        .allow(r#"{"revoke_security_group_ingress","create_tags"}"#)
        .await;
    let server = MockServer::start().await;
    pulls(
        &server,
        json!([{"number": 42, "state": "closed", "merged_at": "2026-11-27T09:00:00Z"}]),
    )
    .await;
    comments_of(&server, 42, json!([]), 1).await;
    nothing_else(&server).await;
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &gh_env(&server));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    server.verify().await;
    let posts = written(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    let body = &posts[0].1;
    assert!(body.starts_with(&format!("{APPLY_MARKER}\n")), "{body}");
    assert!(
        body.contains("⛔ **Apply refused.** Nothing was changed."),
        "{body}"
    );
    assert!(body.contains(&format!("Commit `{SHA}`")), "{body}");
    assert!(
        body.contains("authorize\\_security\\_group\\_ingress")
            || body.contains("authorize_security_group_ingress"),
        "names the denied action: {body}"
    );
    assert!(
        ingress(&w.ec2, &w.group).await.is_empty(),
        "nothing changed"
    );
}

/// The pull request #42, merged.
fn merged_42() -> Value {
    json!([{"number": 42, "state": "closed", "merged_at": "2026-11-27T09:00:00Z"}])
}

#[tokio::test]
async fn a_marked_apply_comment_by_someone_else_is_left_alone() {
    let w = world().await;
    let server = MockServer::start().await;
    pulls(&server, merged_42()).await;
    // The pull request's author wrote the marker first, hoping the result lands in a comment
    // they can edit afterwards. Its PATCH would hit the catch-all.
    let fake = format!("{APPLY_MARKER}\n### sgops apply\n\n0 applied, 0 converged, 0 failed");
    comments_of(&server, 42, json!([theirs(42, 66, &fake)]), 1).await;
    nothing_else(&server).await;
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("comment 66 on #42 carries the sgops marker but was written by someone"),
        "{err}"
    );
    assert!(
        err.contains("apply result posted to #42 (Created(7001))"),
        "{err}"
    );
    server.verify().await;
    let posts = written(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0].1.contains("1 applied, 0 converged"),
        "{}",
        posts[0].1
    );
}

#[tokio::test]
async fn sgops_comment_author_makes_an_apps_apply_comment_ours() {
    let w = world().await;
    let server = MockServer::start().await;
    pulls(&server, merged_42()).await;
    let old = format!("{APPLY_MARKER}\n### sgops apply\n\nold result");
    let app = github_shapes::comment(42, 71, github_shapes::app_bot("my-app"), &old);
    // With an App's token, the Actions bot's marked comment is not sgops's.
    comments_of(&server, 42, json!([ours(42, 70, &old), app]), 0).await;
    Mock::given(method("PATCH"))
        .and(path("/repos/o/r/issues/comments/71"))
        .and(bearer_token(TOKEN))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(github_shapes::comment(
                42,
                71,
                github_shapes::app_bot("my-app"),
                "",
            )),
        )
        .expect(1)
        .named("edit the app's comment")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let mut env = gh_env(&server);
    env.push(("SGOPS_COMMENT_AUTHOR", "my-app[bot]".into()));
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("apply result posted to #42 (Updated(71))"),
        "{err}"
    );
    server.verify().await;
}

/// Matches a comment whose body GitHub refuses: over 65,536 characters.
struct TooLong;

impl wiremock::Match for TooLong {
    fn matches(&self, r: &Request) -> bool {
        serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| {
                v["body"]
                    .as_str()
                    .map(|b| b.chars().count() > COMMENT_LIMIT)
            })
            .unwrap_or(false)
    }
}

/// Answers a body over the limit as GitHub does (422), before any other mock can.
async fn refuse_too_long(server: &MockServer) {
    Mock::given(TooLong)
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{"resource": "IssueComment", "code": "custom", "field": "body",
                        "message": "body is too long (maximum is 65536 characters)"}],
            "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
            "status": "422"
        })))
        .with_priority(1)
        .expect(0)
        .named("a body over GitHub's limit")
        .mount(server)
        .await;
}

#[tokio::test]
async fn thousands_of_errors_still_fit_one_apply_comment() {
    let w = world().await;
    // 2,000 rule files in another region name groups that do not exist: an error each.
    for i in 0..2000 {
        let group = format!("sg-{:017x}", i + 1);
        let name = format!("gone-{i:04}");
        w.repo.file(
            "app",
            "us-west-2",
            &name,
            &rule_file(&group, "partner", 443),
        );
    }
    let server = MockServer::start().await;
    refuse_too_long(&server).await;
    pulls(&server, merged_42()).await;
    comments_of(&server, 42, json!([]), 1).await;
    nothing_else(&server).await;
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &gh_env(&server));
    // The errors make apply exit 1, cut or not; the comment is posted all the same.
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("2000 account/region errors"), "{err}");
    assert!(err.contains("apply result posted to #42"), "{err}");
    server.verify().await;
    let live = ingress(&w.ec2, &w.group).await;
    assert_eq!(live.len(), 1, "the other region was applied: {live:#?}");

    let posts = written(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    let body = &posts[0].1;
    assert!(
        body.chars().count() < COMMENT_LIMIT,
        "{} chars",
        body.chars().count()
    );
    assert!(body.starts_with(&format!("{APPLY_MARKER}\n")), "{body}");
    assert!(body.contains("**2000 account/region errors**"), "{body}");
    let shown = body
        .lines()
        .filter(|l| l.starts_with("- ❌ **app** us-west-2: security group sg-"))
        .count();
    assert!(shown > 100 && shown < 2000, "{shown} errors shown");
    assert!(
        body.contains(&format!("- … and {} more errors", 2000 - shown)),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "| applied | create | app | us-east-1 | {} | partner |",
            w.group
        )),
        "the results table keeps its room: {body}"
    );
    assert!(
        body.ends_with(&format!(
            "**Cut to fit: {shown} of 2000 errors shown.** The full report is in this run's job log; every change made is in the `sgops-apply` artifact.\n"
        )),
        "{}",
        &body[body.len().saturating_sub(400)..]
    );
}

#[tokio::test]
async fn a_refusal_listing_thousands_of_denied_changes_still_fits() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "quotas:\n  rules_per_group: 5000\n");
    // The allow-list lets sgops revoke and tag but not authorize: every create is denied.
    repo.allow(r#"{"revoke_security_group_ingress","create_tags"}"#)
        .await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    let mut file = format!("security_group: {group}\nrules:\n");
    for i in 0..2000 {
        file.push_str(&format!(
            "  - id: partner-{i:04}\n    direction: ingress\n    protocol: tcp\n    ports: {}\n    cidr: 203.0.113.0/24\n    description: Partner {i}\n    ticket: CHG-1\n",
            1000 + i
        ));
    }
    repo.file("app", "us-east-1", "app", &file);
    let server = MockServer::start().await;
    refuse_too_long(&server).await;
    pulls(&server, merged_42()).await;
    comments_of(&server, 42, json!([]), 1).await;
    nothing_else(&server).await;
    let (code, out, err) = run(&repo, &["apply", "--comment"], &gh_env(&server));
    // Refused by policy, as it is whether the comment is cut or not.
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("refused: 2000 changes need actions"), "{err}");
    assert!(err.contains("apply result posted to #42"), "{err}");
    server.verify().await;
    assert!(ingress(&ec2, &group).await.is_empty(), "nothing changed");

    let posts = written(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    let body = &posts[0].1;
    assert!(
        body.chars().count() < COMMENT_LIMIT,
        "{} chars",
        body.chars().count()
    );
    assert!(
        body.contains("⛔ **Apply refused.** Nothing was changed."),
        "{body}"
    );
    assert!(
        body.contains("> refused: 2000 changes need actions"),
        "{body}"
    );
    let quoted = body.lines().filter(|l| l.starts_with("> ")).count();
    assert!(quoted > 100, "{quoted} lines quoted");
    // 2,001 lines: the reason, then one per denied change.
    assert!(
        body.contains(&format!("> … and {} more lines", 2001 - (quoted - 1))),
        "{body}"
    );
    assert!(
        body.ends_with(&format!(
            "**Cut to fit: {} of 2001 lines shown.** The full message is in this run's job log.\n",
            quoted - 1
        )),
        "{}",
        &body[body.len().saturating_sub(400)..]
    );
}

#[tokio::test]
async fn apply_comment_without_a_token_changes_nothing() {
    let w = world().await;
    let server = MockServer::start().await;
    nothing_else(&server).await;
    let env: Vec<_> = gh_env(&server)
        .into_iter()
        .filter(|(k, _)| *k != "GITHUB_TOKEN")
        .collect();
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &env);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("GITHUB_TOKEN is not set"), "{err}");
    assert!(
        ingress(&w.ec2, &w.group).await.is_empty(),
        "refused before touching AWS"
    );
    server.verify().await;
}

#[tokio::test]
async fn apply_comment_rejected_token_is_a_clear_error() {
    let w = world().await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/commits/{SHA}/pulls")))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let (code, out, err) = run(&w.repo, &["apply", "--comment"], &gh_env(&server));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "GitHub rejected the token (401 Unauthorized) while trying to find the pull request of commit {SHA}: check GITHUB_TOKEN"
        )),
        "{err}"
    );
    // The apply itself happened and was reported before the comment failed.
    assert!(out.contains("applied   create"), "{out}");
    server.verify().await;
}

// ---------------------------------------------------------------------------------------------
// Shards.

#[tokio::test]
async fn shards_split_accounts_once_and_merge_into_one_comment() {
    let names: Vec<String> = (0..10).map(|i| format!("team-{i:02}")).collect();
    let ids: Vec<String> = names.iter().map(|_| account_id()).collect();
    let accounts: Vec<(&str, &str)> = names
        .iter()
        .zip(&ids)
        .map(|(n, i)| (n.as_str(), i.as_str()))
        .collect();
    let repo = Repo::new(&accounts, "");
    repo.allow(ALL_ACTIONS).await;
    for (name, id) in &accounts {
        let ec2 = ec2(id, "us-east-1").await;
        let vpc = create_vpc(&ec2).await;
        let group = create_group(&ec2, &vpc, "app").await;
        repo.file(name, "us-east-1", "app", &rule_file(&group, "partner", 443));
    }

    let mut seen: Vec<BTreeSet<String>> = Vec::new();
    let mut files = Vec::new();
    for index in 1..=3u32 {
        let shard = format!("{index}/3");
        let out_file = format!("shard-{index}.json");
        let (code, out, err) = repo.sgops(&[
            "plan", "--shard", &shard, "--format", "json", "--out", &out_file,
        ]);
        assert_eq!(code, 0, "{err}");
        let plan: Value = serde_json::from_str(&out).expect("plan JSON");
        assert_eq!(plan["errors"], json!([]), "{plan}");
        let got: BTreeSet<String> = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["account"].as_str().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = names
            .iter()
            .filter(|n| in_shard(n, Some(Shard { index, count: 3 })))
            .cloned()
            .collect();
        assert_eq!(got, want, "shard {shard} plans exactly its accounts");
        // Same shard again: same accounts, same bytes.
        let (_, again, _) = repo.sgops(&["plan", "--shard", &shard, "--format", "json"]);
        assert_eq!(out, again, "shard {shard} is stable");
        seen.push(got);
        files.push(repo.path().join(out_file));
    }
    let all: BTreeSet<String> = seen.iter().flatten().cloned().collect();
    assert_eq!(
        all,
        names.iter().cloned().collect(),
        "every account planned"
    );
    assert_eq!(
        seen.iter().map(BTreeSet::len).sum::<usize>(),
        names.len(),
        "no account in two shards"
    );

    // The three shard plans become one comment.
    let server = MockServer::start().await;
    comments_of(&server, 9, json!([]), 1).await;
    nothing_else(&server).await;
    let mut args = vec!["comment".to_string(), "--pr".into(), "9".into()];
    for f in &files {
        args.push("--plan".into());
        args.push(f.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run(&repo, &args, &gh_env(&server));
    assert_eq!(code, 0, "{out}\n{err}");
    server.verify().await;
    let posts = written(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    let body = &posts[0].1;
    assert!(body.starts_with(PLAN_MARKER));
    assert!(body.contains("10 to create, 0 to adopt"), "{body}");
    for n in &names {
        assert!(
            body.contains(&format!("| {n} | us-east-1 | 1 |")),
            "{n} missing:\n{body}"
        );
    }
}
