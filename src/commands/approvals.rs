//! `approvals.require_codeowners` at the start of `sgops apply`: where the setting and
//! CODEOWNERS come from (the merge's first parent, read with git) and which GitHub client
//! checks them; the decision itself is [`crate::approvals`].

use std::path::Path;

use crate::error::Error;
use crate::escape::terminal;
use crate::github::GitHub;

/// `approvals.require_codeowners` (see [`crate::approvals`]): on main, with `GITHUB_SHA` the
/// merge of a pull request, the setting and CODEOWNERS are read at the merge's first parent
/// (the base: the pull request can change neither for itself), and apply refuses (exit 3)
/// unless every changed rule file and sgops.yaml was approved by an owner. Runs before any
/// AWS call.
pub(super) async fn gate(config: &Path, rules: &Path, gh: Option<&GitHub>) -> Result<(), Error> {
    let current = crate::config::load(config, &mut crate::diag::Sources::default()).ok();
    let wants = current
        .as_ref()
        .is_some_and(|c| c.approvals.require_codeowners);
    let Some(sha) = std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()) else {
        if wants {
            crate::errln!(
                "warning: approvals.require_codeowners: GITHUB_SHA is not set (not in GitHub Actions), so there is no merged pull request to check; applying without the check"
            );
        }
        return Ok(());
    };
    let base_ref = format!("{sha}^1");
    let base = crate::policy::read_at(&base_ref, config)
        .and_then(|text| crate::policy::base_config(text.as_deref(), config, &base_ref));
    let base = match base {
        Ok(b) => b,
        // Not required here and the base is out of reach: nothing to enforce.
        Err(_) if !wants => return Ok(()),
        Err(e) => {
            return Err(Error::Usage(format!(
                "approvals.require_codeowners: cannot read sgops.yaml at the merge's first parent ({e}); check out main with fetch-depth: 2 or more. Nothing was changed."
            )));
        }
    };
    if !base.approvals.require_codeowners {
        if wants {
            crate::errln!(
                "approvals.require_codeowners is turned on by this merge: it applies from the next one"
            );
        }
        return Ok(());
    }
    let root = crate::repo::repo_root(config);
    let mut codeowners = crate::owners::CodeOwners::default();
    for loc in crate::owners::LOCATIONS {
        if let Some(text) = crate::policy::read_in(&base_ref, root, loc, loc)? {
            let (co, warnings) = crate::owners::CodeOwners::parse(loc, &text);
            for w in &warnings {
                crate::errln!("warning: {} (at the base): {}", w.pos, terminal(&w.message));
            }
            codeowners = co;
            break;
        }
    }
    let owned;
    let gh = match gh {
        Some(g) => g,
        None => {
            owned = GitHub::from_env()?;
            &owned
        }
    };
    let layout = crate::repo::Layout::of(config, rules);
    match crate::approvals::check(gh, &sha, &layout, &codeowners).await {
        Ok(note) => {
            crate::errln!("{note}");
            Ok(())
        }
        Err(crate::approvals::ApprovalError::Refused(m)) => Err(Error::Policy(m)),
        Err(crate::approvals::ApprovalError::GitHub(e)) => Err(e.into()),
    }
}
