//! `approvals.require_codeowners`: before apply changes anything on main, every file of the
//! merged pull request under the rules folder, and sgops.yaml, must be approved by one of
//! its CODEOWNERS other than the pull request's author. Defence in depth behind branch
//! protection's "Require review from Code Owners", not instead of it.
//!
//! What counts, as on GitHub:
//! - each reviewer's latest review among `APPROVED`, `CHANGES_REQUESTED` and `DISMISSED`;
//!   `COMMENTED` (and `PENDING`) reviews change nothing, so a comment after an approval keeps
//!   the approval, and a dismissed approval (its state becomes `DISMISSED`) counts for nothing;
//! - the author's own reviews never count;
//! - a team owner is satisfied by the approval of any of its members;
//! - an email owner cannot be matched to a reviewer (GitHub maps verified emails; the API
//!   does not), so it satisfies nothing;
//! - a file no CODEOWNERS line owns (or owned only by an empty line) cannot be approved by
//!   an owner: it is refused (stricter than GitHub, which then asks for no owner at all).
//!
//! CODEOWNERS and the setting itself come from the base (the merge commit's first parent), so
//! the pull request cannot change who must approve it, nor switch the check off.
//!
//! [`decide`] is pure; [`check`] reads GitHub.

use std::collections::{BTreeMap, BTreeSet};

use crate::github::{GitHub, GithubError, Review};
use crate::owners::{CodeOwners, Owner};
use crate::repo::Layout;

/// GitHub lists at most this many files of a pull request: a longer list may hide files.
pub const MAX_LISTED_FILES: usize = 3000;

/// A changed file that lacks its owners' approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub file: String,
    /// Its owners at the base (empty: none).
    pub owners: Vec<Owner>,
}

/// The logins (lowercase) whose latest deciding review is an approval, the author left out.
pub fn approvers(reviews: &[Review], author: &str) -> BTreeSet<String> {
    let mut latest: BTreeMap<String, &str> = BTreeMap::new();
    for r in reviews {
        let Some(login) = r.login() else { continue };
        if matches!(
            r.state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        ) {
            latest.insert(login.to_ascii_lowercase(), r.state.as_str());
        }
    }
    latest
        .into_iter()
        .filter(|(login, state)| *state == "APPROVED" && !login.eq_ignore_ascii_case(author))
        .map(|(login, _)| login)
        .collect()
}

/// The files of a pull request that the check covers: under the rules folder, or
/// sgops.yaml (a rename counts for both its paths), sorted and each once.
pub fn covered(files: &[crate::github::PullFile], layout: &Layout) -> Vec<String> {
    let rules = layout.rules.as_deref().map(|r| format!("{r}/"));
    let hit = |p: &str| {
        rules.as_deref().is_some_and(|r| p.starts_with(r)) || layout.config.as_deref() == Some(p)
    };
    let mut out: BTreeSet<String> = BTreeSet::new();
    for f in files {
        for p in std::iter::once(&f.filename).chain(f.previous_filename.as_ref()) {
            if hit(p) {
                out.insert(p.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// The teams whose members must be known to decide: owners of files that no approving user
/// owns. None when nobody approved (nothing a team could satisfy).
pub fn teams_needed(
    files: &[(String, Vec<Owner>)],
    approvers: &BTreeSet<String>,
) -> BTreeSet<(String, String)> {
    if approvers.is_empty() {
        return BTreeSet::new();
    }
    files
        .iter()
        .filter(|(_, owners)| !owners.iter().any(|o| user_approved(o, approvers)))
        .flat_map(|(_, owners)| owners)
        .filter_map(|o| match o {
            Owner::Team { org, slug } => Some((org.clone(), slug.clone())),
            _ => None,
        })
        .collect()
}

fn user_approved(o: &Owner, approvers: &BTreeSet<String>) -> bool {
    matches!(o, Owner::User(l) if approvers.contains(&l.to_ascii_lowercase()))
}

/// Files that lack an approval by one of their owners. `members`: the logins (any case) of
/// each team in [`teams_needed`].
pub fn decide(
    files: &[(String, Vec<Owner>)],
    approvers: &BTreeSet<String>,
    members: &BTreeMap<(String, String), BTreeSet<String>>,
) -> Vec<Missing> {
    files
        .iter()
        .filter(|(_, owners)| {
            !owners.iter().any(|o| match o {
                Owner::User(_) => user_approved(o, approvers),
                Owner::Team { org, slug } => {
                    members.get(&(org.clone(), slug.clone())).is_some_and(|m| {
                        m.iter()
                            .any(|login| approvers.contains(&login.to_ascii_lowercase()))
                    })
                }
                Owner::Email(_) => false,
            })
        })
        .map(|(file, owners)| Missing {
            file: file.clone(),
            owners: owners.clone(),
        })
        .collect()
}

/// Why apply refuses, or why it could not check.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// Refused by policy (exit 3): the message lists what is missing.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    GitHub(#[from] GithubError),
}

/// Checks the pull request merged as `sha` against `codeowners` (the base's, found in
/// `codeowners_file`). Files are the pull request's own list (all pages).
pub async fn check(
    gh: &GitHub,
    sha: &str,
    layout: &Layout,
    codeowners: &CodeOwners,
) -> Result<String, ApprovalError> {
    let Some(pr) = gh.merged_pull(sha).await? else {
        return Err(ApprovalError::Refused(format!(
            "refused: approvals.require_codeowners is on, and commit {} is not the merge of a pull request: only reviewed pull requests are applied. Nothing was changed.",
            crate::escape::terminal(sha)
        )));
    };
    let files = gh.pull_files(pr.number).await?;
    if files.len() >= MAX_LISTED_FILES {
        return Err(ApprovalError::Refused(format!(
            "refused: approvals.require_codeowners: pull request #{} changes {} files or more, and GitHub lists no more than that, so the files beyond cannot be checked. Split the change into smaller pull requests. Nothing was changed.",
            pr.number, MAX_LISTED_FILES
        )));
    }
    let covered = covered(&files, layout);
    if covered.is_empty() {
        return Ok(format!(
            "approvals: pull request #{} changes no rule file and not sgops.yaml",
            pr.number
        ));
    }
    let reviews = gh.pull_reviews(pr.number).await?;
    let approvers = approvers(&reviews, &pr.author);
    let owned: Vec<(String, Vec<Owner>)> = covered
        .iter()
        .map(|f| (f.clone(), codeowners.owners_of(f).to_vec()))
        .collect();
    let mut members = BTreeMap::new();
    for (org, slug) in teams_needed(&owned, &approvers) {
        let logins = gh.team_members(&org, &slug).await?;
        members.insert((org, slug), logins.into_iter().collect());
    }
    let missing = decide(&owned, &approvers, &members);
    if missing.is_empty() {
        return Ok(format!(
            "approvals: all {} changed rule and configuration files of pull request #{} are approved by their CODEOWNERS",
            covered.len(),
            pr.number
        ));
    }
    let source = codeowners
        .file
        .as_deref()
        .unwrap_or("CODEOWNERS (none found)");
    let mut lines = vec![format!(
        "refused: approvals.require_codeowners: pull request #{} by {} lacks CODEOWNERS approval for {} of {} changed files (owners from {source} at the base, the merge's first parent; the author's own approval does not count). Nothing was changed:",
        pr.number,
        if pr.author.is_empty() {
            "a deleted account".to_string()
        } else {
            crate::escape::terminal(&pr.author)
        },
        missing.len(),
        covered.len()
    )];
    for m in &missing {
        let need = if m.owners.is_empty() {
            "no CODEOWNERS line owns it: add one, and have that owner approve".to_string()
        } else {
            let names: Vec<String> = m.owners.iter().map(ToString::to_string).collect();
            format!("needs an approval by one of {}", names.join(", "))
        };
        lines.push(format!("  {}: {need}", crate::escape::terminal(&m.file)));
    }
    lines.push(
        "Approve the pull request as one of those owners, then re-run the apply workflow.".into(),
    );
    Err(ApprovalError::Refused(lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &str) -> Owner {
        Owner::parse(s).expect("owner")
    }

    #[test]
    fn the_latest_deciding_review_counts() {
        let reviews = [
            Review::new(1, "alice", "APPROVED"),
            Review::new(2, "alice", "COMMENTED"),
            Review::new(3, "bob", "APPROVED"),
            Review::new(4, "bob", "CHANGES_REQUESTED"),
            Review::new(5, "carol", "CHANGES_REQUESTED"),
            Review::new(6, "carol", "APPROVED"),
            Review::new(7, "dave", "DISMISSED"),
            Review::new(8, "erin", "APPROVED"),
            Review::new(9, "erin", "DISMISSED"),
            Review::new(10, "Author", "APPROVED"),
            Review::new(11, "frank", "PENDING"),
            Review::new(12, "grace", "COMMENTED"),
        ];
        let a = approvers(&reviews, "author");
        assert_eq!(
            a.into_iter().collect::<Vec<_>>(),
            ["alice", "carol"],
            "a comment keeps an approval; a dismissal ends it; the author never counts"
        );
    }

    #[test]
    fn users_teams_and_emails() {
        let files = vec![
            ("rules/a/x.yaml".to_string(), vec![o("@Alice")]),
            ("rules/b/x.yaml".to_string(), vec![o("@org/secops")]),
            ("rules/c/x.yaml".to_string(), vec![o("c@example.com")]),
            ("rules/d/x.yaml".to_string(), vec![]),
            (
                "sgops.yaml".to_string(),
                vec![o("@bob"), o("@org/platform")],
            ),
        ];
        let approvers: BTreeSet<String> = ["alice".to_string(), "zed".to_string()].into();
        let teams = teams_needed(&files, &approvers);
        assert_eq!(
            teams.into_iter().collect::<Vec<_>>(),
            [
                ("org".to_string(), "platform".to_string()),
                ("org".to_string(), "secops".to_string())
            ]
        );
        let members = BTreeMap::from([
            (
                ("org".into(), "secops".into()),
                BTreeSet::from(["Zed".to_string()]),
            ),
            (
                ("org".into(), "platform".into()),
                BTreeSet::from(["yan".to_string()]),
            ),
        ]);
        let missing: Vec<String> = decide(&files, &approvers, &members)
            .into_iter()
            .map(|m| m.file)
            .collect();
        assert_eq!(missing, ["rules/c/x.yaml", "rules/d/x.yaml", "sgops.yaml"]);
        assert!(teams_needed(&files, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn covered_files_include_both_sides_of_a_rename() {
        let f = |n: &str, p: Option<&str>| crate::github::PullFile {
            filename: n.into(),
            previous_filename: p.map(str::to_string),
        };
        let layout = Layout {
            config: Some("sgops.yaml".into()),
            rules: Some("rules".into()),
        };
        let got = covered(
            &[
                f("README.md", None),
                f("rules/a/us-east-1/x.yaml", None),
                f("elsewhere/y.yaml", Some("rules/b/us-east-1/y.yaml")),
                f("sgops.yaml", None),
                f("rulesX/z.yaml", None),
            ],
            &layout,
        );
        assert_eq!(
            got,
            [
                "rules/a/us-east-1/x.yaml",
                "rules/b/us-east-1/y.yaml",
                "sgops.yaml"
            ]
        );
    }
}
