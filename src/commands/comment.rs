//! `sgops comment`: post or update saved plans as one sticky pull-request comment.

use std::io::Write;

use crate::cli::CommentArgs;
use crate::error::{Error, Exit};
use crate::github::{COMMENT_LIMIT, GitHub, PLAN_MARKER, Upsert};
use crate::plan::{Plan, PlanError};
use crate::render::{self, MdOptions};

/// GitHub's limit for `$GITHUB_STEP_SUMMARY` is 1 MiB; keep room for other steps.
const STEP_SUMMARY_LIMIT: usize = 900 * 1024;

pub fn run(args: &CommentArgs) -> Result<Exit, Error> {
    let mut plans = Vec::new();
    for path in &args.plan {
        plans.push(super::read_plan(path)?);
    }
    let mut plan = Plan::merge(plans);
    for s in &args.missing_shard {
        plan.errors.push(PlanError {
            account: format!("shard {}/{}", s.index, s.count),
            region: "all regions".into(),
            message: "no plan: this shard's plan job failed before writing it, so its accounts are missing here; see the workflow run".into(),
        });
    }
    let commit = args
        .commit
        .clone()
        .or_else(|| std::env::var("GITHUB_SHA").ok())
        .filter(|c| !c.is_empty());
    let gh = GitHub::from_env()?;
    let body = comment_body(&plan, commit.as_deref());
    if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY")
        && !path.is_empty()
    {
        let full = render::markdown_with(
            &plan,
            &MdOptions {
                commit: commit.as_deref(),
                limit: STEP_SUMMARY_LIMIT,
                cut_note: "The full plan is in the `sgops-plan-*` artifacts of this run.",
                ..MdOptions::default()
            },
        );
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Write {
                path: path.clone().into(),
                source,
            })?;
        f.write_all(full.as_bytes())
            .map_err(|source| Error::Write {
                path: path.into(),
                source,
            })?;
    }
    let rt = super::runtime()?;
    let done = rt.block_on(gh.upsert_comment(args.pr, PLAN_MARKER, &body))?;
    let what = match done {
        Upsert::Created(id) => format!("created comment {id}"),
        Upsert::Updated(id) => format!("updated comment {id}"),
        Upsert::Unchanged(id) => format!("comment {id} already up to date"),
    };
    crate::errln!("#{}: {what}", args.pr);
    Ok(Exit::Ok)
}

/// The sticky comment: hidden marker, then the plan cut to fit one comment.
pub fn comment_body(plan: &Plan, commit: Option<&str>) -> String {
    let md = render::markdown_with(
        plan,
        &MdOptions {
            commit,
            // Room for the marker and for multi-byte characters counted by GitHub as one.
            limit: COMMENT_LIMIT - PLAN_MARKER.len() - 1024,
            cut_note: "The full plan is in this run's job summary and in the `sgops-plan-*` artifacts.",
            ..MdOptions::default()
        },
    );
    format!("{PLAN_MARKER}\n{md}")
}
