//! What `approvals.require_codeowners` reads of a merged pull request: who wrote it, which
//! files it changed, its reviews, and the members of owning teams. Reads only.
//!
//! I/O: the GitHub REST API; team members with `SGOPS_MEMBERS_TOKEN` when set.

use serde::Deserialize;

use super::{GitHub, GithubError, PullRequest, classify, idempotent};

/// The pull request merged as a commit, and its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPull {
    pub number: u64,
    /// The author's login (empty for a deleted account).
    pub author: String,
}

/// One file of a pull request (`GET /pulls/{n}/files`).
#[derive(Debug, Clone, Deserialize)]
pub struct PullFile {
    pub filename: String,
    /// The old path of a renamed file: a rename changes both.
    #[serde(default)]
    pub previous_filename: Option<String>,
}

/// One review of a pull request (`GET /pulls/{n}/reviews`), in the order GitHub lists them
/// (oldest first).
#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    user: Option<super::User>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`.
    pub state: String,
}

impl Review {
    /// The reviewer's login (`None` for a deleted account).
    pub fn login(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.login.as_str())
    }

    /// A review as GitHub would list it (for tests of the decision).
    pub fn new(id: u64, login: &str, state: &str) -> Review {
        Review {
            id,
            user: Some(super::User {
                login: login.to_string(),
                kind: "User".into(),
            }),
            state: state.to_string(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Member {
    login: String,
}

impl GitHub {
    /// The pull request merged as `sha`, with its author.
    pub async fn merged_pull(&self, sha: &str) -> Result<Option<MergedPull>, GithubError> {
        let op = format!("find the pull request of commit {sha}");
        let route = format!("/repos/{}/{}/commits/{sha}/pulls", self.owner, self.repo);
        let crab = self.crab().await?;
        let prs: Vec<PullRequest> = idempotent(|| crab.get(route.as_str(), None::<&()>))
            .await
            .map_err(|e| classify(&op, e))?;
        Ok(prs
            .into_iter()
            .find(|p| p.merged_at.is_some())
            .map(|p| MergedPull {
                number: p.number,
                author: p.user.map(|u| u.login).unwrap_or_default(),
            }))
    }

    /// Every file pull request `number` changed (all pages; GitHub lists at most 3,000).
    pub async fn pull_files(&self, number: u64) -> Result<Vec<PullFile>, GithubError> {
        let route = format!(
            "/repos/{}/{}/pulls/{number}/files?per_page=100",
            self.owner, self.repo
        );
        self.all(&route, &format!("list the files of pull request #{number}"))
            .await
    }

    /// Every review of pull request `number`, oldest first (all pages).
    pub async fn pull_reviews(&self, number: u64) -> Result<Vec<Review>, GithubError> {
        let route = format!(
            "/repos/{}/{}/pulls/{number}/reviews?per_page=100",
            self.owner, self.repo
        );
        self.all(
            &route,
            &format!("list the reviews of pull request #{number}"),
        )
        .await
    }

    /// The logins of team `@org/slug` (all pages), read with `SGOPS_MEMBERS_TOKEN` when set.
    /// A token that may not read them (403, or 404 as GitHub answers for teams it hides) is
    /// the error that says which token is needed.
    pub async fn team_members(&self, org: &str, slug: &str) -> Result<Vec<String>, GithubError> {
        let crab = self.members_crab().await?;
        let op = format!("list the members of team @{org}/{slug}");
        let route = format!("/orgs/{org}/teams/{slug}/members?per_page=100");
        let members = async {
            let first: octocrab::Page<Member> =
                idempotent(|| crab.get(route.as_str(), None::<&()>)).await?;
            idempotent(|| crab.all_pages(first.clone())).await
        }
        .await;
        match members {
            Ok(m) => Ok(m.into_iter().map(|m| m.login).collect()),
            Err(e) => Err(match classify(&op, e) {
                GithubError::Forbidden { .. } => GithubError::TeamMembers {
                    org: org.into(),
                    slug: slug.into(),
                    status: "403 Forbidden".into(),
                },
                GithubError::NotFound(_) => GithubError::TeamMembers {
                    org: org.into(),
                    slug: slug.into(),
                    status: "404 Not Found: no such team, or the token may not see it".into(),
                },
                other => other,
            }),
        }
    }

    async fn all<T>(&self, route: &str, op: &str) -> Result<Vec<T>, GithubError>
    where
        T: serde::de::DeserializeOwned + Clone,
    {
        let crab = self.crab().await?;
        let first: octocrab::Page<T> = idempotent(|| crab.get(route, None::<&()>))
            .await
            .map_err(|e| classify(op, e))?;
        idempotent(|| crab.all_pages(first.clone()))
            .await
            .map_err(|e| classify(op, e))
    }
}
