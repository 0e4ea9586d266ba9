//! GitHub: one sticky comment per pull request, found by a hidden marker and edited in place,
//! and the pull request a commit on main was merged from. Only comments that sgops's own
//! identity wrote are ever edited (SPEC section 13): anyone can write the marker.
//!
//! I/O: the GitHub REST API at `GITHUB_API_URL` (GitHub Enterprise and tests), with the token
//! in `GITHUB_TOKEN`, which is never printed.

use std::future::Future;
use std::time::Duration;

mod issues;
mod reviews;

pub use issues::{EXPIRING_LABEL, EXPIRING_MARKER, ISSUE_LIMIT, IssueOutcome};
pub use reviews::{MergedPull, PullFile, Review};

use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::Deserialize;

/// Marks the plan comment; the version lets a future format find and replace old comments.
pub const PLAN_MARKER: &str = "<!-- sgops:plan v1 -->";
/// Marks the apply-result comment on the merged pull request.
pub const APPLY_MARKER: &str = "<!-- sgops:apply v1 -->";

/// GitHub's limit for one comment body, in characters. Bodies are measured in bytes, which
/// are never fewer, and kept under this with room to spare.
pub const COMMENT_LIMIT: usize = 65_536;

/// Who writes sgops's comments with the workflow's own token. A GitHub App's token writes as
/// `<app-slug>[bot]`, a personal token as its user: set `SGOPS_COMMENT_AUTHOR` to that login.
/// (`GET /user` would tell, but the Actions token may not read it.)
pub const DEFAULT_COMMENT_AUTHOR: &str = "github-actions[bot]";

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{0} is not set: {1}")]
    MissingEnv(&'static str, &'static str),
    #[error("GITHUB_REPOSITORY `{0}` is not `owner/name`")]
    BadRepository(String),
    #[error("GITHUB_API_URL `{0}` is not a URL")]
    BadUrl(String),
    #[error("GitHub rejected the token (401 Unauthorized) while trying to {0}: check GITHUB_TOKEN")]
    Unauthorized(String),
    #[error(
        "GitHub rate limit reached while trying to {op}{}: try again later",
        reset.map(|r| format!(" (resets at unix time {r})")).unwrap_or_default()
    )]
    RateLimited { op: String, reset: Option<u64> },
    #[error(
        "GitHub refused to {op} (403 Forbidden: {message}): the workflow's token needs `pull-requests: write` (and `issues: write` for issues)"
    )]
    Forbidden { op: String, message: String },
    #[error(
        "GitHub could not {0} (404 Not Found): check GITHUB_REPOSITORY, the number, and that the token can see the repository"
    )]
    NotFound(String),
    #[error("GitHub could not {op}: {message}")]
    Other { op: String, message: String },
    #[error(
        "cannot list the members of team @{org}/{slug} ({status}): approvals.require_codeowners counts a team's approval through its members, and reading them needs a token with the organization permission `members: read` (a GitHub App installation token, or a personal token with read:org); the workflow's GITHUB_TOKEN cannot. Set SGOPS_MEMBERS_TOKEN to such a token"
    )]
    TeamMembers {
        org: String,
        slug: String,
        status: String,
    },
}

/// Attempts for one call that is safe to repeat (a read, an edit to a given body): GitHub's
/// 5xx answers and dropped connections are usually momentary.
const ATTEMPTS: u32 = 3;

/// A 5xx answer or a transport failure: the call may or may not have happened.
fn transient(e: &octocrab::Error) -> bool {
    match e {
        octocrab::Error::GitHub { source, .. } => source.status_code.is_server_error(),
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => true,
        _ => false,
    }
}

/// The pause after failed attempt `n` (1-based): 0.5 s, then 1 s.
async fn back_off(n: u32) {
    tokio::time::sleep(Duration::from_millis(250 << n)).await;
}

/// Runs an idempotent call up to [`ATTEMPTS`] times while it fails transiently.
async fn idempotent<T, F, Fut>(mut call: F) -> Result<T, octocrab::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, octocrab::Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                tracing::debug!("GitHub call failed ({e}), attempt {attempt} of {ATTEMPTS}");
                back_off(attempt).await;
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// What [`GitHub::upsert_comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Created(u64),
    Updated(u64),
    /// The body was already exactly this: no call made.
    Unchanged(u64),
}

#[derive(Debug, Clone, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    /// The author (missing or `null` in some answers: then never sgops).
    #[serde(default)]
    user: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
struct User {
    login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    kind: String,
}

impl Comment {
    /// Whether the body starts with `marker`, of this version or another
    /// (`<!-- sgops:plan v1 -->` is found by a later v2, which then edits it); a reply
    /// quoting it does not.
    fn is_marked(&self, marker: &str) -> bool {
        starts_with_marker(self.body.as_deref(), marker)
    }

    /// Whether `author` (a login) wrote it (see [`written_by`]).
    fn is_by(&self, author: &str) -> bool {
        written_by(self.user.as_ref(), author)
    }
}

/// Whether `user` is `author` (a login): logins compare without case, and a bot's login
/// (`…[bot]`) must also be of a bot account.
fn written_by(user: Option<&User>, author: &str) -> bool {
    user.is_some_and(|u| {
        u.login.eq_ignore_ascii_case(author)
            && (!author.to_ascii_lowercase().ends_with("[bot]") || u.kind == "Bot")
    })
}

/// Whether `body` starts with `marker`, of this version or another (see
/// [`Comment::is_marked`]).
fn starts_with_marker(body: Option<&str>, marker: &str) -> bool {
    let kind = marker.rsplit_once(" v").map_or(marker, |(kind, _)| kind);
    body.is_some_and(|b| {
        b.trim_start()
            .strip_prefix(kind)
            .is_some_and(|rest| rest.starts_with(" v"))
    })
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    number: u64,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    user: Option<User>,
}

/// A GitHub repository to comment on.
pub struct GitHub {
    api: String,
    token: String,
    /// Built on first use: octocrab starts a background task at build time, so the client
    /// must be made inside the Tokio runtime that uses it (not in `from_env`).
    crab: tokio::sync::OnceCell<Octocrab>,
    owner: String,
    repo: String,
    /// The login whose comments are sgops's own (see [`DEFAULT_COMMENT_AUTHOR`]).
    author: String,
    /// `SGOPS_MEMBERS_TOKEN`: a token that may read team membership, for approvals by teams.
    members_token: Option<String>,
    members_crab: tokio::sync::OnceCell<Octocrab>,
}

impl GitHub {
    /// From `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, `GITHUB_API_URL` (default api.github.com)
    /// and `SGOPS_COMMENT_AUTHOR` (default [`DEFAULT_COMMENT_AUTHOR`]).
    pub fn from_env() -> Result<GitHub, GithubError> {
        GitHub::from_env_for(None)
    }

    /// [`GitHub::from_env`], with `repository` (`owner/name`) instead of GITHUB_REPOSITORY
    /// when given.
    pub fn from_env_for(repository: Option<&str>) -> Result<GitHub, GithubError> {
        let token = std::env::var("GITHUB_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or(GithubError::MissingEnv(
                "GITHUB_TOKEN",
                "pass the workflow's token (secrets.GITHUB_TOKEN)",
            ))?;
        let repository = match repository {
            Some(r) => r.to_string(),
            None => std::env::var("GITHUB_REPOSITORY").map_err(|_| {
                GithubError::MissingEnv("GITHUB_REPOSITORY", "set it to owner/name")
            })?,
        };
        let api = std::env::var("GITHUB_API_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "https://api.github.com".into());
        let author = std::env::var("SGOPS_COMMENT_AUTHOR")
            .ok()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| DEFAULT_COMMENT_AUTHOR.into());
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| GithubError::BadRepository(repository.clone()))?;
        // Checked now, so a bad URL stops before any other work.
        Octocrab::builder()
            .base_uri(api.as_str())
            .map_err(|_| GithubError::BadUrl(api.clone()))?;
        Ok(GitHub {
            owner: owner.to_string(),
            repo: repo.to_string(),
            api,
            token,
            crab: tokio::sync::OnceCell::new(),
            author,
            members_token: std::env::var("SGOPS_MEMBERS_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
            members_crab: tokio::sync::OnceCell::new(),
        })
    }

    /// The client; must be first called inside the runtime that makes the calls. Its own
    /// retries are off: they would resend a POST whose reply was lost and post a second
    /// comment. sgops retries what is safe to repeat and checks before posting again.
    async fn crab(&self) -> Result<&Octocrab, GithubError> {
        self.crab
            .get_or_try_init(|| async { self.client(&self.token) })
            .await
    }

    /// The client for team membership: `SGOPS_MEMBERS_TOKEN`, else the usual token.
    async fn members_crab(&self) -> Result<&Octocrab, GithubError> {
        match &self.members_token {
            None => self.crab().await,
            Some(t) => {
                self.members_crab
                    .get_or_try_init(|| async { self.client(t) })
                    .await
            }
        }
    }

    fn client(&self, token: &str) -> Result<Octocrab, GithubError> {
        Octocrab::builder()
            .add_retry_config(RetryConfig::None)
            .base_uri(self.api.as_str())
            .map_err(|_| GithubError::BadUrl(self.api.clone()))?
            .personal_token(token.to_string())
            .build()
            .map_err(|e| GithubError::Other {
                op: "set up the client".into(),
                message: e.to_string(),
            })
    }

    /// Creates the comment starting with `marker` on issue/PR `number`, or edits the one that
    /// sgops wrote (every page of comments is searched); no call when the body is unchanged.
    /// A marked comment by anyone else is never edited: sgops posts its own beside it.
    ///
    /// A POST that fails transiently may still have posted: before posting again, the
    /// comments are listed once more, so a lost reply never leaves two sticky comments.
    pub async fn upsert_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<Upsert, GithubError> {
        let crab = self.crab().await?;
        let mut posts = 0;
        loop {
            match self.find_marked(crab, number, marker).await? {
                Some(c) if c.body.as_deref() == Some(body) => {
                    return Ok(if posts > 0 {
                        Upsert::Created(c.id)
                    } else {
                        Upsert::Unchanged(c.id)
                    });
                }
                Some(c) => {
                    let op = format!("edit comment {} on #{number}", c.id);
                    let route = format!(
                        "/repos/{}/{}/issues/comments/{}",
                        self.owner, self.repo, c.id
                    );
                    let edit = serde_json::json!({ "body": body });
                    let updated: Comment = idempotent(|| crab.patch(route.as_str(), Some(&edit)))
                        .await
                        .map_err(|e| classify(&op, e))?;
                    return Ok(if posts > 0 {
                        Upsert::Created(updated.id)
                    } else {
                        Upsert::Updated(updated.id)
                    });
                }
                None => {
                    let op = format!("comment on #{number}");
                    let route = format!(
                        "/repos/{}/{}/issues/{number}/comments",
                        self.owner, self.repo
                    );
                    posts += 1;
                    let created: Result<Comment, _> = crab
                        .post(route, Some(&serde_json::json!({ "body": body })))
                        .await;
                    match created {
                        Ok(c) => return Ok(Upsert::Created(c.id)),
                        Err(e) if posts < ATTEMPTS && transient(&e) => {
                            tracing::debug!(
                                "posting the comment failed ({e}): checking whether it landed"
                            );
                            back_off(posts).await;
                        }
                        Err(e) => return Err(classify(&op, e)),
                    }
                }
            }
        }
    }

    /// sgops's own comment on `number` whose body starts with `marker` (every page searched).
    async fn find_marked(
        &self,
        crab: &Octocrab,
        number: u64,
        marker: &str,
    ) -> Result<Option<Comment>, GithubError> {
        let op = format!("list the comments of #{number}");
        let route = format!(
            "/repos/{}/{}/issues/{number}/comments?per_page=100",
            self.owner, self.repo
        );
        let first: octocrab::Page<Comment> = idempotent(|| crab.get(route.as_str(), None::<&()>))
            .await
            .map_err(|e| classify(&op, e))?;
        let comments = idempotent(|| crab.all_pages(first.clone()))
            .await
            .map_err(|e| classify(&op, e))?;
        let mut ours = None;
        for c in comments.into_iter().filter(|c| c.is_marked(marker)) {
            if c.is_by(&self.author) {
                ours = ours.or(Some(c));
            } else {
                // Someone wrote the marker (to have the plan written into a comment they can
                // edit), or sgops runs as another identity than SGOPS_COMMENT_AUTHOR says.
                let by = c.user.as_ref().map_or("a deleted account", |u| &u.login);
                tracing::warn!(
                    "comment {} on #{number} carries the sgops marker but was written by {by}, not {}: left alone (set SGOPS_COMMENT_AUTHOR to the login sgops comments as)",
                    c.id,
                    self.author
                );
            }
        }
        Ok(ours)
    }

    /// The pull request that was merged as commit `sha`, if any.
    pub async fn merged_pull_request(&self, sha: &str) -> Result<Option<u64>, GithubError> {
        let op = format!("find the pull request of commit {sha}");
        let route = format!("/repos/{}/{}/commits/{sha}/pulls", self.owner, self.repo);
        let crab = self.crab().await?;
        let prs: Vec<PullRequest> = idempotent(|| crab.get(route.as_str(), None::<&()>))
            .await
            .map_err(|e| classify(&op, e))?;
        // Only a merged one: an open pull request may contain the commit too, and must not
        // be told that its changes were applied.
        Ok(prs.iter().find(|p| p.merged_at.is_some()).map(|p| p.number))
    }
}

/// Turns an octocrab error into one that says what to do. Never includes the token.
fn classify(op: &str, e: octocrab::Error) -> GithubError {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let remaining = source
                .headers
                .as_ref()
                .and_then(|h| h.get("x-ratelimit-remaining"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match status {
                401 => GithubError::Unauthorized(op.into()),
                429 => GithubError::RateLimited {
                    op: op.into(),
                    reset: source.rate_limit_reset,
                },
                403 if remaining.as_deref() == Some("0")
                    || source.message.to_ascii_lowercase().contains("rate limit") =>
                {
                    GithubError::RateLimited {
                        op: op.into(),
                        reset: source.rate_limit_reset,
                    }
                }
                403 => GithubError::Forbidden {
                    op: op.into(),
                    message: source.message.clone(),
                },
                404 => GithubError::NotFound(op.into()),
                _ => GithubError::Other {
                    op: op.into(),
                    message: format!("{status} {}", source.message),
                },
            }
        }
        other => GithubError::Other {
            op: op.into(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(login: &str, kind: &str) -> Comment {
        Comment {
            id: 1,
            body: Some(PLAN_MARKER.into()),
            user: Some(User {
                login: login.into(),
                kind: kind.into(),
            }),
        }
    }

    #[test]
    fn only_the_configured_author_is_ours() {
        let bot = DEFAULT_COMMENT_AUTHOR;
        assert!(by("github-actions[bot]", "Bot").is_by(bot));
        assert!(
            by("GitHub-Actions[bot]", "Bot").is_by(bot),
            "logins ignore case"
        );
        assert!(
            !by("github-actions[bot]", "User").is_by(bot),
            "a bot's login, not a bot"
        );
        assert!(!by("github-actions", "User").is_by(bot));
        assert!(!by("other[bot]", "Bot").is_by(bot));
        assert!(by("my-app[bot]", "Bot").is_by("my-app[BOT]"));
        assert!(
            by("Ops-Robot", "User").is_by("ops-robot"),
            "a personal token's user"
        );
        let ghost = Comment {
            user: None,
            ..by("x", "User")
        };
        assert!(!ghost.is_by(bot));
    }
}
