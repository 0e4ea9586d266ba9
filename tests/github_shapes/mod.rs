//! GitHub's REST shapes for the wiremock stand-ins: issue comments and their authors with
//! every field the API returns, so sgops is tested against what it really reads (the author's
//! `login` and `type` decide which comment is its own).
#![allow(dead_code)]

use serde_json::{Value, json};

/// The author of comments made with the Actions token (`secrets.GITHUB_TOKEN`).
pub fn actions_bot() -> Value {
    user("github-actions[bot]", 41_898_282, "Bot")
}

/// The bot of the GitHub App `slug` (a comment made with an installation token).
pub fn app_bot(slug: &str) -> Value {
    user(&format!("{slug}[bot]"), 190_000_001, "Bot")
}

/// A person's account.
pub fn person(login: &str) -> Value {
    user(login, 583_231, "User")
}

/// An account as GitHub shows it in `user` (`kind`: `User`, `Bot` or `Organization`).
pub fn user(login: &str, id: u64, kind: &str) -> Value {
    let api = format!(
        "https://api.github.com/users/{}",
        login.replace('[', "%5B").replace(']', "%5D")
    );
    let (html, avatar) = match login.strip_suffix("[bot]") {
        Some(app) if kind == "Bot" => (
            format!("https://github.com/apps/{app}"),
            format!("https://avatars.githubusercontent.com/in/{id}?v=4"),
        ),
        _ => (
            format!("https://github.com/{login}"),
            format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        ),
    };
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": avatar,
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false
    })
}

/// Comment `id` on issue or pull request `issue` of `o/r`, written by `author`.
pub fn comment(issue: u64, id: u64, author: Value, body: &str) -> Value {
    let app = author["login"]
        .as_str()
        .and_then(|l| l.strip_suffix("[bot]"))
        .filter(|_| author["type"] == "Bot")
        .map(|slug| {
            json!({
                "id": 15_368,
                "slug": slug,
                "node_id": "MDM6QXBwMTUzNjg=",
                "name": slug,
                "description": "",
                "external_url": format!("https://github.com/apps/{slug}"),
                "html_url": format!("https://github.com/apps/{slug}"),
                "created_at": "2018-07-30T09:30:17Z",
                "updated_at": "2024-04-10T20:33:16Z",
                "permissions": { "issues": "write", "pull_requests": "write", "metadata": "read" },
                "events": []
            })
        });
    let api = format!("https://api.github.com/repos/o/r/issues/comments/{id}");
    json!({
        "url": api,
        "html_url": format!("https://github.com/o/r/pull/{issue}#issuecomment-{id}"),
        "issue_url": format!("https://api.github.com/repos/o/r/issues/{issue}"),
        "id": id,
        "node_id": format!("IC_kwDOAbCdEf{id}"),
        "user": author,
        "created_at": "2026-11-27T09:00:00Z",
        "updated_at": "2026-11-27T09:05:00Z",
        "author_association": if app.is_some() { "NONE" } else { "CONTRIBUTOR" },
        "body": body,
        "reactions": {
            "url": format!("{api}/reactions"),
            "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
            "confused": 0, "heart": 0, "rocket": 0, "eyes": 0
        },
        "performed_via_github_app": app
    })
}

/// A label as GitHub shows it on an issue.
pub fn label(name: &str) -> Value {
    json!({
        "id": 208_045_946,
        "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
        "url": format!("https://api.github.com/repos/o/r/labels/{name}"),
        "name": name,
        "description": "",
        "color": "d93f0b",
        "default": false
    })
}

/// Issue `number` of `o/r` by `author`, open, with `labels`.
pub fn issue(number: u64, author: Value, body: &str, labels: &[&str]) -> Value {
    let api = format!("https://api.github.com/repos/o/r/issues/{number}");
    json!({
        "url": api,
        "repository_url": "https://api.github.com/repos/o/r",
        "labels_url": format!("{api}/labels{{/name}}"),
        "comments_url": format!("{api}/comments"),
        "events_url": format!("{api}/events"),
        "html_url": format!("https://github.com/o/r/issues/{number}"),
        "id": 1_000_000 + number,
        "node_id": format!("I_kwDOAbCdEf{number}"),
        "number": number,
        "title": "sgops: security-group exceptions expiring soon",
        "user": author,
        "labels": labels.iter().map(|l| label(l)).collect::<Vec<_>>(),
        "state": "open",
        "locked": false,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "comments": 0,
        "created_at": "2026-11-20T06:00:00Z",
        "updated_at": "2026-11-26T06:00:00Z",
        "closed_at": null,
        "author_association": "NONE",
        "active_lock_reason": null,
        "body": body,
        "closed_by": null,
        "reactions": {
            "url": format!("{api}/reactions"),
            "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
            "confused": 0, "heart": 0, "rocket": 0, "eyes": 0
        },
        "timeline_url": format!("{api}/timeline"),
        "performed_via_github_app": null,
        "state_reason": null
    })
}

/// A pull request as `GET /commits/{sha}/pulls` lists it (the fields sgops may read, and
/// the usual others).
pub fn pull(number: u64, author: Value, merged: bool) -> Value {
    let api = format!("https://api.github.com/repos/o/r/pulls/{number}");
    json!({
        "url": api,
        "id": 2_000_000 + number,
        "node_id": format!("PR_kwDOAbCdEf{number}"),
        "html_url": format!("https://github.com/o/r/pull/{number}"),
        "diff_url": format!("https://github.com/o/r/pull/{number}.diff"),
        "patch_url": format!("https://github.com/o/r/pull/{number}.patch"),
        "issue_url": format!("https://api.github.com/repos/o/r/issues/{number}"),
        "number": number,
        "state": if merged { "closed" } else { "open" },
        "locked": false,
        "title": "Open the partner port",
        "user": author,
        "body": "",
        "created_at": "2026-11-25T09:00:00Z",
        "updated_at": "2026-11-27T09:00:00Z",
        "closed_at": if merged { json!("2026-11-27T09:00:00Z") } else { Value::Null },
        "merged_at": if merged { json!("2026-11-27T09:00:00Z") } else { Value::Null },
        "merge_commit_sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [],
        "milestone": null,
        "draft": false,
        "head": { "label": "o:feature", "ref": "feature", "sha": "1111111111111111111111111111111111111111" },
        "base": { "label": "o:main", "ref": "main", "sha": "2222222222222222222222222222222222222222" },
        "author_association": "MEMBER",
        "auto_merge": null,
        "active_lock_reason": null
    })
}

/// One file of a pull request (`GET /pulls/{n}/files`).
pub fn pull_file(name: &str, previous: Option<&str>) -> Value {
    let mut f = json!({
        "sha": "bbcd538c8e72b8c175046e27cc8f907076331401",
        "filename": name,
        "status": if previous.is_some() { "renamed" } else { "modified" },
        "additions": 3,
        "deletions": 1,
        "changes": 4,
        "blob_url": format!("https://github.com/o/r/blob/1111111/{name}"),
        "raw_url": format!("https://github.com/o/r/raw/1111111/{name}"),
        "contents_url": format!("https://api.github.com/repos/o/r/contents/{name}?ref=1111111"),
        "patch": "@@ -1 +1 @@"
    });
    if let Some(p) = previous {
        f["previous_filename"] = json!(p);
    }
    f
}

/// Review `id` of pull request 42 by `reviewer` in `state`.
pub fn review(id: u64, reviewer: Value, state: &str) -> Value {
    json!({
        "id": id,
        "node_id": format!("PRR_kwDOAbCdEf{id}"),
        "user": reviewer,
        "body": "",
        "state": state,
        "html_url": format!("https://github.com/o/r/pull/42#pullrequestreview-{id}"),
        "pull_request_url": "https://api.github.com/repos/o/r/pulls/42",
        "author_association": "MEMBER",
        "_links": {
            "html": { "href": format!("https://github.com/o/r/pull/42#pullrequestreview-{id}") },
            "pull_request": { "href": "https://api.github.com/repos/o/r/pulls/42" }
        },
        "submitted_at": format!("2026-11-26T10:{:02}:00Z", id % 60),
        "commit_id": "1111111111111111111111111111111111111111"
    })
}
