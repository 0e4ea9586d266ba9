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
