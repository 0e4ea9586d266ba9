//! The reminder issue: one open issue with a label and a hidden marker, written by sgops's
//! own identity, kept in place (its body edited), and closed with a comment when there is
//! nothing left to say. An issue with the label written by anyone else is never touched.
//!
//! I/O: the GitHub REST API (issues and their comments).

use serde::Deserialize;

use super::{
    ATTEMPTS, GitHub, GithubError, User, back_off, classify, idempotent, starts_with_marker,
    transient, written_by,
};

/// The label of the issue that lists the rules expiring soon.
pub const EXPIRING_LABEL: &str = "sgops-expiring";
/// Marks that issue's body (the version lets a later format find it).
pub const EXPIRING_MARKER: &str = "<!-- sgops:expiring v1 -->";
/// GitHub's limit for an issue body, in characters (bodies are measured in bytes, never
/// fewer).
pub const ISSUE_LIMIT: usize = 65_536;

#[derive(Debug, Clone, Deserialize)]
struct Issue {
    number: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
    /// Present when the "issue" is a pull request (the issues list holds both).
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

/// What [`GitHub::keep_issue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    Created(u64),
    Updated(u64),
    /// The body was already this: no call made.
    Unchanged(u64),
    Closed(u64),
    /// Nothing to say and no open issue: no call made.
    Nothing,
}

impl GitHub {
    /// Keeps the one open issue labelled `label` whose body starts with `marker` and that
    /// sgops wrote: with `Some(body)`, created (titled `title`) or edited to it; with `None`,
    /// closed after a comment `closing`. Other labelled issues are left alone.
    pub async fn keep_issue(
        &self,
        label: &str,
        marker: &str,
        title: &str,
        body: Option<&str>,
        closing: &str,
    ) -> Result<IssueOutcome, GithubError> {
        let crab = self.crab().await?;
        let mut posts = 0;
        loop {
            let found = self.find_issue(label, marker).await?;
            match (found, body) {
                (None, None) => return Ok(IssueOutcome::Nothing),
                (Some(i), None) => {
                    let op = format!("close issue #{}", i.number);
                    let comments = format!(
                        "/repos/{}/{}/issues/{}/comments",
                        self.owner, self.repo, i.number
                    );
                    let c: serde_json::Value = crab
                        .post(comments, Some(&serde_json::json!({ "body": closing })))
                        .await
                        .map_err(|e| classify(&op, e))?;
                    let _ = c;
                    let route = format!("/repos/{}/{}/issues/{}", self.owner, self.repo, i.number);
                    let close =
                        serde_json::json!({ "state": "closed", "state_reason": "completed" });
                    let _: serde_json::Value =
                        idempotent(|| crab.patch(route.as_str(), Some(&close)))
                            .await
                            .map_err(|e| classify(&op, e))?;
                    return Ok(IssueOutcome::Closed(i.number));
                }
                (Some(i), Some(b)) if i.body.as_deref() == Some(b) => {
                    return Ok(if posts > 0 {
                        IssueOutcome::Created(i.number)
                    } else {
                        IssueOutcome::Unchanged(i.number)
                    });
                }
                (Some(i), Some(b)) => {
                    let op = format!("edit issue #{}", i.number);
                    let route = format!("/repos/{}/{}/issues/{}", self.owner, self.repo, i.number);
                    let edit = serde_json::json!({ "body": b });
                    let _: serde_json::Value =
                        idempotent(|| crab.patch(route.as_str(), Some(&edit)))
                            .await
                            .map_err(|e| classify(&op, e))?;
                    return Ok(if posts > 0 {
                        IssueOutcome::Created(i.number)
                    } else {
                        IssueOutcome::Updated(i.number)
                    });
                }
                (None, Some(b)) => {
                    let op = "open the reminder issue".to_string();
                    let route = format!("/repos/{}/{}/issues", self.owner, self.repo);
                    posts += 1;
                    let created: Result<Issue, _> = crab
                        .post(
                            route,
                            Some(&serde_json::json!({ "title": title, "body": b, "labels": [label] })),
                        )
                        .await;
                    match created {
                        Ok(i) => return Ok(IssueOutcome::Created(i.number)),
                        // The issue may have been created: look again before posting again.
                        Err(e) if posts < ATTEMPTS && transient(&e) => back_off(posts).await,
                        Err(e) => return Err(classify(&op, e)),
                    }
                }
            }
        }
    }

    /// sgops's own open issue labelled `label` and marked `marker` (every page searched).
    async fn find_issue(&self, label: &str, marker: &str) -> Result<Option<Issue>, GithubError> {
        let crab = self.crab().await?;
        let op = format!("list the open issues labelled {label}");
        let route = format!(
            "/repos/{}/{}/issues?labels={label}&state=open&per_page=100",
            self.owner, self.repo
        );
        let first: octocrab::Page<Issue> = idempotent(|| crab.get(route.as_str(), None::<&()>))
            .await
            .map_err(|e| classify(&op, e))?;
        let all = idempotent(|| crab.all_pages(first.clone()))
            .await
            .map_err(|e| classify(&op, e))?;
        let mut ours = None;
        for i in all.into_iter().filter(|i| i.pull_request.is_none()) {
            if written_by(i.user.as_ref(), &self.author)
                && starts_with_marker(i.body.as_deref(), marker)
            {
                ours = ours.or(Some(i));
            } else {
                let by = i.user.as_ref().map_or("a deleted account", |u| &u.login);
                tracing::warn!(
                    "issue #{} is labelled {label} but was written by {by} (or lacks sgops's marker), not by {}: left alone",
                    i.number,
                    self.author
                );
            }
        }
        Ok(ours)
    }
}
