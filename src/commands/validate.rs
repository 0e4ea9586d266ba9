//! `sgops validate`: offline checks of every file, all problems in one run.

use std::path::Path;

use jiff::civil::Date;

use crate::cli::PolicyArgs;
use crate::diag;
use crate::error::{Error, Exit};
use crate::repo::Repo;

pub fn run(config: &Path, rules: &Path, today: Date, policy: &PolicyArgs) -> Result<Exit, Error> {
    let repo = super::load_repo(config, rules, today, policy)?;
    report(&repo, true)?;
    let c = repo.counts();
    if c.errors > 0 || c.guardrails > 0 {
        return Err(Error::Invalid {
            errors: c.errors,
            guardrails: c.guardrails,
        });
    }
    crate::errln!(
        "ok: {} in {}{}",
        plural(repo.desired.rule_count(), "rule"),
        plural(repo.desired.files.len(), "file"),
        match c.warnings {
            0 => String::new(),
            n => format!(", {}", plural(n, "warning")),
        }
    );
    Ok(Exit::Ok)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Prints every diagnostic on standard error and, when `annotate` is set inside GitHub
/// Actions, as workflow annotations on standard output (where the runner picks them up).
/// Only `validate` annotates: the standard output of `plan` and `apply` is their result.
pub fn report(repo: &Repo, annotate: bool) -> Result<(), Error> {
    crate::errp!("{}", diag::render_all(&repo.diagnostics, &repo.sources));
    if annotate && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        super::print_stdout(&diag::github_annotations(&repo.diagnostics))?;
    }
    Ok(())
}
