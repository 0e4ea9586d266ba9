//! `sgops remind`: keeps the one `sgops-expiring` issue that lists the rules expiring within
//! `expiry.warn_days`, grouped by CODEOWNERS owner (who are mentioned); edits it in place,
//! closes it with a comment when nothing is expiring. Offline as to AWS.

use std::path::Path;

use jiff::civil::Date;

use crate::cli::RemindArgs;
use crate::error::{Error, Exit};
use crate::github::{EXPIRING_LABEL, EXPIRING_MARKER, GitHub, ISSUE_LIMIT, IssueOutcome};
use crate::report::{Filter, render};

use super::print_stdout;
use super::report::{load_valid, make};

/// The issue's title; constant, so people can search for it.
pub const TITLE: &str = "sgops: security-group exceptions expiring soon";

/// Most bytes of the body: room for the marker and for multi-byte characters GitHub counts
/// as one.
const BODY_LIMIT: usize = ISSUE_LIMIT - EXPIRING_MARKER.len() - 1024;

/// The issue body for `within` days (`None`: nothing expires, the issue is to be closed),
/// and the closing comment.
pub fn body(
    repo: &crate::repo::Repo,
    today: Date,
    within: u32,
) -> Result<(Option<String>, String), Error> {
    let r = make(
        repo,
        today,
        &Filter {
            expiring_within: Some(within),
            accounts: &[],
        },
    )?;
    let closing = format!(
        "Nothing expires within {within} days any more (as of {today}): closing. sgops opens a new issue when a rule nears its expiry date."
    );
    if r.rules.is_empty() {
        return Ok((None, closing));
    }
    let md = render::reminder(&r, within, BODY_LIMIT);
    Ok((Some(format!("{EXPIRING_MARKER}\n{md}")), closing))
}

pub fn run(config: &Path, rules: &Path, today: Date, args: &RemindArgs) -> Result<Exit, Error> {
    let repo = load_valid(config, rules, today)?;
    let within = args
        .within
        .unwrap_or_else(|| repo.config.as_ref().map_or(30, |c| c.expiry.warn_days));
    let (body, closing) = body(&repo, today, within)?;
    if args.dry_run {
        match &body {
            Some(b) => print_stdout(b)?,
            None => crate::errln!(
                "nothing expires within {within} days: an open {EXPIRING_LABEL} issue would be closed"
            ),
        }
        return Ok(Exit::Ok);
    }
    let gh = GitHub::from_env_for(args.repo.as_deref())?;
    let rt = super::runtime()?;
    let done = rt.block_on(gh.keep_issue(
        EXPIRING_LABEL,
        EXPIRING_MARKER,
        TITLE,
        body.as_deref(),
        &closing,
    ))?;
    let said = match done {
        IssueOutcome::Created(n) => format!("opened issue #{n}"),
        IssueOutcome::Updated(n) => format!("updated issue #{n}"),
        IssueOutcome::Unchanged(n) => format!("issue #{n} already up to date"),
        IssueOutcome::Closed(n) => {
            format!("nothing expires within {within} days: closed issue #{n}")
        }
        IssueOutcome::Nothing => format!("nothing expires within {within} days; no open issue"),
    };
    crate::errln!("{said}");
    Ok(Exit::Ok)
}
