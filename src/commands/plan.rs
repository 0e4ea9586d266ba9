//! `sgops plan` and `sgops apply`: load, read live state, plan; apply writes.

use std::io::{IsTerminal, Write};
use std::path::Path;

use jiff::civil::Date;

use crate::apply::{ApplyReport, ChangeResult};
use crate::aws::{Access, Aws};
use crate::cli::{ApplyArgs, Format, PlanArgs, PolicyArgs, Shard};
use crate::diag::Severity;
use crate::engine;
use crate::error::{Error, Exit};
use crate::escape::terminal;
use crate::github::{APPLY_MARKER, COMMENT_LIMIT, GitHub};
use crate::plan::{Plan, PlanError};
use crate::render;
use crate::repo::Repo;

use super::{print_stats, print_stdout, runtime, validate};

/// Loads the repository; any error or guardrail violation stops before AWS is called.
/// `invalid_out` then receives a plan whose errors are the problems, so a pull request's
/// comment shows them rather than a missing plan.
fn load(
    config: &Path,
    rules: &Path,
    today: Date,
    policy: &PolicyArgs,
    invalid_out: Option<&Path>,
) -> Result<Repo, Error> {
    let repo = super::load_repo(config, rules, today, policy)?;
    validate::report(&repo, false)?;
    let c = repo.counts();
    if c.errors > 0 || c.guardrails > 0 {
        if let Some(out) = invalid_out {
            let errors = repo
                .diagnostics
                .iter()
                .filter(|d| d.severity != Severity::Warning)
                .map(|d| PlanError {
                    account: "validate".into(),
                    region: d.pos.to_string(),
                    message: d.message.clone(),
                })
                .collect();
            let mut refused = Plan::not_made(errors);
            refused.policy_changes = repo.policy_changes.clone();
            write_file(out, &render::json(&refused))?;
        }
        return Err(Error::Invalid {
            errors: c.errors,
            guardrails: c.guardrails,
        });
    }
    Ok(repo)
}

/// Colour on a terminal unless NO_COLOR is set.
fn color() -> bool {
    crate::logging::colour(std::io::stdout().is_terminal())
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Everything both commands do before deciding: load, read, plan.
struct Planned {
    repo: Repo,
    read: engine::Read,
    plan: Plan,
    aws: Aws,
}

/// What to plan: the repository's accounts (`only` and `shard` narrow them), under which
/// policy, where a refused plan goes, and with which of the accounts' roles.
struct Scope<'a> {
    only: &'a [String],
    shard: Option<Shard>,
    policy: &'a PolicyArgs,
    invalid_out: Option<&'a Path>,
    /// The read role for a plan; the write role for apply, whose reads and writes share one
    /// session per account (one AssumeRole).
    access: Access,
}

/// The policy of `apply`: on main, its own sgops.yaml is the merged, reviewed policy.
const OWN_POLICY: PolicyArgs = PolicyArgs { policy_from: None };

impl<'a> Scope<'a> {
    /// `sgops plan` (and drift, which is a plan): reads only, with the read role.
    fn plan(args: &'a PlanArgs) -> Scope<'a> {
        Scope {
            only: &args.accounts,
            shard: args.shard,
            policy: &args.policy,
            invalid_out: args.out.as_deref(),
            access: Access::Read,
        }
    }

    /// `sgops apply`: no shard, its own policy, the write role.
    fn apply(args: &'a ApplyArgs) -> Scope<'a> {
        Scope {
            only: &args.accounts,
            shard: None,
            policy: &OWN_POLICY,
            invalid_out: None,
            access: Access::Write,
        }
    }
}

async fn make(
    config: &Path,
    rules: &Path,
    today: Date,
    scope: Scope<'_>,
) -> Result<Planned, Error> {
    let Scope {
        only,
        shard,
        policy,
        invalid_out,
        access,
    } = scope;
    let repo = load(config, rules, today, policy, invalid_out)?;
    let cfg = repo
        .config
        .clone()
        .ok_or_else(|| Error::Usage("sgops.yaml could not be read".into()))?;
    let targets = engine::targets(&cfg, &repo.desired, only, shard)?;
    let aws = Aws::load(&cfg).await.with_access(access);
    let allow = if targets.is_empty() {
        Default::default()
    } else {
        engine::allowlist(&aws, &cfg).await?
    };
    let read = engine::read(&aws, &cfg, &repo.desired, &targets).await;
    let mut plan = engine::make_plan(&cfg, &repo.desired, &read, &allow, today);
    plan.policy_changes = repo.policy_changes.clone();
    let planned: std::collections::BTreeSet<(String, String)> = targets
        .iter()
        .map(|t| (t.account.clone(), t.region.clone()))
        .collect();
    plan.expiring = crate::report::expiring(&repo, &cfg, today, &planned);
    Ok(Planned {
        repo,
        read,
        plan,
        aws,
    })
}

pub fn plan(config: &Path, rules: &Path, today: Date, args: &PlanArgs) -> Result<Exit, Error> {
    let p = runtime()?.block_on(make(config, rules, today, Scope::plan(args)))?;
    let plan = &p.plan;
    if let Some(out) = &args.out {
        write_file(out, &render::json(plan))?;
    }
    let text = match args.format {
        Format::Text => render::text(plan, color()),
        Format::Markdown => render::markdown(plan),
        Format::Json => render::json(plan),
    };
    print_stdout(&text)?;
    if args.stats {
        print_stats(&p.aws);
    }
    let max = p
        .repo
        .config
        .as_ref()
        .map_or(usize::MAX, |c| c.guardrails.max_changes);
    if plan.changes.len() > max {
        crate::errln!(
            "warning: {} changes is over guardrails.max_changes ({max}): apply will refuse unless --allow-many",
            plan.changes.len()
        );
    }
    Ok(if !plan.errors.is_empty() {
        crate::errp!("{}", errors_text(&plan.errors));
        Exit::Error
    } else if plan.summary.denied > 0 {
        crate::errln!(
            "refused: {} changes need actions the allow-list does not permit",
            plan.summary.denied
        );
        Exit::Policy
    } else if args.detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// Most bytes of an apply comment's Markdown: room for the marker and for multi-byte
/// characters that GitHub counts as one.
const APPLY_COMMENT_LIMIT: usize = COMMENT_LIMIT - APPLY_MARKER.len() - 1024;

pub fn apply(config: &Path, rules: &Path, today: Date, args: &ApplyArgs) -> Result<Exit, Error> {
    // Fail before touching AWS when the result could not be posted anyway.
    let github = if args.comment {
        let sha = std::env::var("GITHUB_SHA")
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::Usage(
                    "apply --comment needs GITHUB_SHA (the merge commit); nothing was changed"
                        .into(),
                )
            })?;
        Some((GitHub::from_env()?, sha))
    } else {
        None
    };
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        super::approvals::gate(config, rules, github.as_ref().map(|(g, _)| g)).await?;
        run_apply(config, rules, today, args).await
    });
    let (report, calls) = match outcome {
        Ok(done) => done,
        Err(e) => {
            // The merged pull request hears of a refusal too: its author awaits the apply.
            if let Some((gh, sha)) = &github {
                let body = render::apply_stopped_markdown(
                    &e.to_string(),
                    e.exit() == Exit::Policy,
                    sha,
                    APPLY_COMMENT_LIMIT,
                );
                if let Err(posted) = rt.block_on(post_apply(gh, sha, &body)) {
                    crate::errln!("error: {posted}");
                }
            }
            return Err(e);
        }
    };
    match args.format {
        Format::Json => print_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ))?,
        Format::Markdown => print_stdout(&render::apply_markdown(&report, None, usize::MAX))?,
        Format::Text => print_stdout(&report_text(&report))?,
    }
    if args.stats {
        crate::errp!("{calls}");
    }
    if let Some((gh, sha)) = &github {
        let body = render::apply_markdown(&report, Some(sha), APPLY_COMMENT_LIMIT);
        rt.block_on(post_apply(gh, sha, &body))?;
    }
    if report.is_success() {
        Ok(Exit::Ok)
    } else {
        crate::errp!("{}", errors_text(&report.errors));
        crate::errln!(
            "error: apply incomplete: {} failed, {} skipped, {} account/region errors; the journal {} lists every change made",
            report.summary.failed,
            report.summary.skipped,
            report.errors.len(),
            args.journal.display()
        );
        Ok(Exit::Error)
    }
}

/// Re-plans, then refuses (an `Err`: nothing was changed) or applies. Returns the report and
/// the API calls made, rendered.
async fn run_apply(
    config: &Path,
    rules: &Path,
    today: Date,
    args: &ApplyArgs,
) -> Result<(ApplyReport, String), Error> {
    let p = make(config, rules, today, Scope::apply(args)).await?;
    let plan = &p.plan;
    let cfg = p
        .repo
        .config
        .as_ref()
        .ok_or_else(|| Error::Usage("no configuration".into()))?;
    if let Some(saved) = &args.plan {
        let old = super::read_plan(saved)?;
        if old.fingerprint != plan.fingerprint {
            return Err(Error::Policy(format!(
                "stale plan: {} was made against other rules or live state ({}), now {}: rules or AWS changed since it was reviewed. Plan again and review the new plan (in CI: re-run the apply workflow, which plans afresh). Nothing was changed.",
                saved.display(),
                old.fingerprint,
                plan.fingerprint
            )));
        }
    }
    let denied: Vec<String> = plan
        .denied()
        .map(|c| {
            terminal(&format!(
                "  {} {} {} {}: {}",
                c.account,
                c.region,
                c.security_group,
                c.rule,
                c.api_actions.join(", ")
            ))
        })
        .collect();
    if !denied.is_empty() {
        crate::errp!("{}", render::text(plan, false));
        return Err(Error::Policy(format!(
            "refused: {} changes need actions the allow-list does not permit; nothing was changed:\n{}",
            denied.len(),
            denied.join("\n")
        )));
    }
    if plan.changes.len() > cfg.guardrails.max_changes && !args.allow_many {
        return Err(Error::Policy(format!(
            "refused: {} changes is over guardrails.max_changes ({}); review the plan and pass --allow-many. Nothing was changed.",
            plan.changes.len(),
            cfg.guardrails.max_changes
        )));
    }
    let journal = Journal::open(&args.journal)?;
    let report = engine::apply(cfg, &p.read, plan, &|r| journal.write(r)).await;
    journal.finish(&report);
    Ok((report, p.aws.calls.snapshot().render()))
}

/// One line per account × region that could not be planned, for standard error.
fn errors_text(errors: &[crate::plan::PlanError]) -> String {
    crate::plan::errors_by_account(errors)
        .iter()
        .map(|e| {
            format!(
                "error: {} {}: {}\n",
                terminal(&e.account),
                terminal(&e.region),
                terminal(&e.message)
            )
        })
        .collect()
}

/// Posts the apply result (`md`) to the pull request merged as `GITHUB_SHA`.
async fn post_apply(gh: &GitHub, sha: &str, md: &str) -> Result<(), Error> {
    let Some(pr) = gh.merged_pull_request(sha).await? else {
        crate::errln!(
            "warning: no pull request was merged as {sha}; the apply result is not posted"
        );
        return Ok(());
    };
    let body = format!("{APPLY_MARKER}\n{md}");
    let done = gh.upsert_comment(pr, APPLY_MARKER, &body).await?;
    crate::errln!("apply result posted to #{pr} ({done:?})");
    Ok(())
}

/// The human report of an apply.
pub fn report_text(r: &ApplyReport) -> String {
    let mut s = String::new();
    if r.results.is_empty() && r.errors.is_empty() {
        return "No changes. Live security-group rules match the rule files.\n".into();
    }
    for res in &r.results {
        let c = &res.change;
        s.push_str(&format!(
            "{:<9} {:<7} {} {} {} {}",
            res.status.label(),
            c.action.as_str(),
            terminal(&c.account),
            terminal(&c.region),
            terminal(&c.security_group),
            terminal(&c.rule)
        ));
        if let Some(id) = res.new_rule_id.as_ref().or(c.live_rule_id.as_ref()) {
            s.push_str(&format!(" ({})", terminal(id)));
        }
        if let Some(m) = &res.message {
            s.push_str(&format!(": {}", terminal(m)));
        }
        s.push('\n');
    }
    for e in &r.errors {
        s.push_str(&format!(
            "error     {} {}: {}\n",
            terminal(&e.account),
            terminal(&e.region),
            terminal(&e.message)
        ));
    }
    let m = &r.summary;
    s.push_str(&format!(
        "\nApply: {} applied, {} converged, {} failed, {} skipped.\n",
        m.applied, m.converged, m.failed, m.skipped
    ));
    s
}

/// Appends each result as one JSON line as soon as it lands, so a killed or failed apply
/// still leaves a record of every change it made.
struct Journal {
    file: std::sync::Mutex<std::fs::File>,
}

impl Journal {
    fn open(path: &Path) -> Result<Journal, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Journal {
            file: std::sync::Mutex::new(file),
        })
    }

    fn line(&self, v: &impl serde::Serialize) {
        if let (Ok(mut f), Ok(s)) = (self.file.lock(), serde_json::to_string(v)) {
            let _ = writeln!(f, "{s}");
            let _ = f.sync_data();
        }
    }

    fn write(&self, r: &ChangeResult) {
        self.line(r);
    }

    fn finish(&self, r: &ApplyReport) {
        self.line(&serde_json::json!({ "fingerprint": r.fingerprint, "summary": r.summary }));
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn command(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("sgops").chain(args.iter().copied()))
            .expect("valid command line")
            .command
    }

    #[test]
    fn plans_read_with_the_read_role_and_apply_uses_the_write_role() {
        for args in [
            &["plan"][..],
            &["plan", "--detailed-exitcode", "--policy-from", "abc123"],
            &["plan", "--shard", "1/2", "--out", "plan.json"],
        ] {
            let Command::Plan(a) = command(args) else {
                panic!("{args:?} is not a plan")
            };
            assert_eq!(Scope::plan(&a).access, Access::Read, "{args:?}");
        }
        let Command::Apply(a) = command(&["apply", "--plan", "plan.json", "--account", "a"]) else {
            panic!("not an apply")
        };
        let s = Scope::apply(&a);
        assert_eq!(s.access, Access::Write);
        // Apply's own sgops.yaml is the policy (it runs on main after review).
        assert_eq!(s.policy.policy_from, None);
        assert_eq!(s.only, ["a"]);
    }
}
