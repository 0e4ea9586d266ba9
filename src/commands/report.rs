//! `sgops report`: the inventory of exceptions, offline by default; `--live` adds each
//! rule's status with the plan's reads (no allow-list read, only the accounts and regions
//! listed).

use std::path::Path;

use jiff::civil::Date;

use crate::aws::Aws;
use crate::cli::{PolicyArgs, ReportArgs, ReportFormat};
use crate::engine;
use crate::error::{Error, Exit};
use crate::repo::Repo;
use crate::report::{self, Filter, Report, render};

use super::{print_stdout, runtime, validate};

/// Loads the repository; invalid rule files stop with validate's errors (exit 1).
pub(super) fn load_valid(config: &Path, rules: &Path, today: Date) -> Result<Repo, Error> {
    let repo = super::load_repo(config, rules, today, &PolicyArgs { policy_from: None })?;
    validate::report(&repo, false)?;
    let c = repo.counts();
    if c.errors > 0 || c.guardrails > 0 {
        return Err(Error::Invalid {
            errors: c.errors,
            guardrails: c.guardrails,
        });
    }
    Ok(repo)
}

/// The report `filter` selects, offline.
pub(super) fn make(repo: &Repo, today: Date, filter: &Filter<'_>) -> Result<Report, Error> {
    let cfg = repo
        .config
        .as_ref()
        .ok_or_else(|| Error::Usage("sgops.yaml could not be read".into()))?;
    report::check_accounts(cfg, filter.accounts).map_err(Error::Usage)?;
    Ok(Report {
        version: report::REPORT_VERSION,
        today: today.to_string(),
        expiring_within: filter.expiring_within,
        live: false,
        rules: report::entries(repo, cfg, today, filter),
        errors: Vec::new(),
    })
}

pub fn run(config: &Path, rules: &Path, today: Date, args: &ReportArgs) -> Result<Exit, Error> {
    if args.mention_owners && args.format != ReportFormat::Markdown {
        return Err(Error::Usage(
            "--mention-owners writes the reminder issue's Markdown: use it with --format markdown"
                .into(),
        ));
    }
    let repo = load_valid(config, rules, today)?;
    let filter = Filter {
        expiring_within: args.expiring_within,
        accounts: &args.accounts,
    };
    let mut r = make(&repo, today, &filter)?;
    if args.live {
        let cfg = repo
            .config
            .as_ref()
            .ok_or_else(|| Error::Usage("sgops.yaml could not be read".into()))?;
        let targets = report::targets_of(cfg, &r.rules);
        let rt = runtime()?;
        let calls = rt.block_on(async {
            let aws = Aws::load(cfg).await.with_access(crate::aws::Access::Read);
            let read = engine::read(&aws, cfg, &repo.desired, &targets).await;
            r.errors = report::add_status(&mut r.rules, &read.live);
            aws.calls.snapshot().render()
        });
        r.live = true;
        if args.stats {
            crate::errp!("{calls}");
        }
    }
    let out = match args.format {
        ReportFormat::Text => render::text(&r),
        ReportFormat::Json => render::json(&r),
        ReportFormat::Csv => render::csv(&r).map_err(|e| Error::Usage(format!("CSV: {e}")))?,
        ReportFormat::Markdown if args.mention_owners => render::reminder(
            &r,
            args.expiring_within
                .or(repo.config.as_ref().map(|c| c.expiry.warn_days))
                .unwrap_or(30),
            usize::MAX,
        ),
        ReportFormat::Markdown => render::markdown(&r),
    };
    print_stdout(&out)?;
    if r.errors.is_empty() {
        Ok(Exit::Ok)
    } else {
        for e in crate::plan::errors_by_account(&r.errors) {
            crate::errln!(
                "error: {} {}: {}",
                crate::escape::terminal(&e.account),
                crate::escape::terminal(&e.region),
                crate::escape::terminal(&e.message)
            );
        }
        Ok(Exit::Error)
    }
}
