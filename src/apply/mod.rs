//! Apply: the only code that writes to AWS. Executes the ops of a plan, batched per security
//! group, make-before-break, converging on duplicates and rules already gone.
//!
//! Order within a group: revoke rules no longer desired (frees quota), authorize new rules
//! (each with its own tags), modify in place, tag, and last revoke the rules that replaced
//! ones superseded. [`Ec2Write`] hides AWS so the same code runs against memory in tests.

pub mod aws;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::plan::{Action, Change, Op, Plan, PlanError};
use crate::rules::{Direction, Meaning, RuleSpec};

/// A failed write, with AWS's error code when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    pub code: Option<String>,
    pub message: String,
}

impl WriteError {
    fn is(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }
}

/// AWS error codes that mean "already done".
const DUPLICATE: &[&str] = &["InvalidPermission.Duplicate"];
const NOT_FOUND: &[&str] = &[
    "InvalidPermission.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",
    "InvalidSecurityGroupRuleId.Malformed",
];

/// The EC2 writes sgops makes, in one account × region.
#[allow(async_fn_in_trait)]
pub trait Ec2Write {
    /// Creates one rule carrying `tags` from its creation; returns its id when AWS says it.
    async fn authorize(
        &self,
        group_id: &str,
        spec: &RuleSpec,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<String>, WriteError>;
    /// Revokes rules of one direction by rule id.
    async fn revoke(
        &self,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
    ) -> Result<(), WriteError>;
    /// Rewrites rules in place (full rule each, so description-only changes work everywhere).
    async fn modify(&self, group_id: &str, rules: &[(String, RuleSpec)]) -> Result<(), WriteError>;
    async fn create_tags(
        &self,
        rule_ids: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<(), WriteError>;
    async fn delete_tags(&self, rule_ids: &[String], keys: &[String]) -> Result<(), WriteError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every write of the change succeeded.
    Applied,
    /// AWS already had it (duplicate on create, gone on revoke): the goal is reached.
    Converged,
    Failed,
    /// Not attempted: its account × region could not be planned or reached.
    Skipped,
}

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeResult {
    #[serde(flatten)]
    pub change: Change,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Id of the rule created, when the change created one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_rule_id: Option<String>,
}

/// The report of an apply (`apply --format json`, and the journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub version: u32,
    pub fingerprint: String,
    pub summary: ApplySummary,
    pub results: Vec<ChangeResult>,
    pub errors: Vec<PlanError>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplySummary {
    pub applied: usize,
    pub converged: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl ApplyReport {
    pub fn new(plan: &Plan, mut results: Vec<ChangeResult>, errors: Vec<PlanError>) -> Self {
        results.sort_by(|a, b| {
            (
                &a.change.account,
                &a.change.region,
                &a.change.security_group,
                &a.change.rule,
            )
                .cmp(&(
                    &b.change.account,
                    &b.change.region,
                    &b.change.security_group,
                    &b.change.rule,
                ))
        });
        let mut summary = ApplySummary::default();
        for r in &results {
            *match r.status {
                Status::Applied => &mut summary.applied,
                Status::Converged => &mut summary.converged,
                Status::Failed => &mut summary.failed,
                Status::Skipped => &mut summary.skipped,
            } += 1;
        }
        ApplyReport {
            version: plan.version,
            fingerprint: plan.fingerprint.clone(),
            summary,
            results,
            errors,
        }
    }

    pub fn is_success(&self) -> bool {
        self.summary.failed == 0 && self.summary.skipped == 0 && self.errors.is_empty()
    }
}

/// Per-change outcome while a group is being applied.
struct Tracker {
    status: Vec<Status>,
    message: Vec<Option<String>>,
    new_id: Vec<Option<String>>,
}

impl Tracker {
    fn fail(&mut self, i: usize, e: &WriteError) {
        self.status[i] = Status::Failed;
        let m = match &e.code {
            Some(c) if !e.message.starts_with(c.as_str()) => format!("{c}: {}", e.message),
            _ => e.message.clone(),
        };
        self.message[i] = Some(m);
    }

    fn converge(&mut self, i: usize, note: &str) {
        if self.status[i] == Status::Applied {
            self.status[i] = Status::Converged;
            self.message[i] = Some(note.to_string());
        }
    }
}

/// Applies the changes of one security group. `changes` all belong to `group_id`.
pub async fn apply_group<W: Ec2Write>(
    ec2: &W,
    group_id: &str,
    changes: &[Change],
) -> Vec<ChangeResult> {
    let n = changes.len();
    let mut t = Tracker {
        status: vec![Status::Applied; n],
        message: vec![None; n],
        new_id: vec![None; n],
    };

    // 1. Revoke what is no longer desired, per direction, in one call each.
    for dir in [Direction::Ingress, Direction::Egress] {
        let items: Vec<(usize, String)> = changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.action == Action::Delete)
            .flat_map(|(i, c)| {
                c.ops.iter().filter_map(move |o| match o {
                    Op::Revoke { direction, rule_id } if *direction == dir => {
                        Some((i, rule_id.clone()))
                    }
                    _ => None,
                })
            })
            .collect();
        revoke_batch(ec2, group_id, dir, &items, &mut t).await;
    }

    // 2. Authorize: one call per rule, so each carries its own sgops:rule tag from birth.
    // A new rule that takes the old place of a rule being modified or replaced must wait
    // for that rule to move: AWS refuses two rules with the same meaning in one group.
    let moved = |action: Action| -> HashSet<Meaning> {
        changes
            .iter()
            .filter(|c| {
                c.action == action || (action == Action::Update && c.action == Action::Adopt)
            })
            .filter_map(|c| {
                let before = c.before.as_ref()?.spec().ok()?.meaning();
                let after = c.after.as_ref()?.spec().ok()?.meaning();
                (before != after).then_some(before)
            })
            .collect()
    };
    let after_modify = moved(Action::Update);
    let after_replace = moved(Action::Replace);
    let phase = |spec: &RuleSpec| {
        let m = spec.meaning();
        if after_replace.contains(&m) {
            Phase::AfterReplace
        } else if after_modify.contains(&m) {
            Phase::AfterModify
        } else {
            Phase::First
        }
    };
    authorize(ec2, group_id, changes, &phase, Phase::First, &mut t).await;

    // 3. Modify in place: one call for the group; on failure, one by one to find the culprit.
    let mods: Vec<(usize, String, RuleSpec)> = changes
        .iter()
        .enumerate()
        .filter(|(i, _)| t.status[*i] != Status::Failed)
        .flat_map(|(i, c)| {
            c.ops.iter().filter_map(move |o| match o {
                Op::Modify { rule_id, spec } => Some((i, rule_id.clone(), spec.clone())),
                _ => None,
            })
        })
        .collect();
    if !mods.is_empty() {
        let all: Vec<(String, RuleSpec)> = mods
            .iter()
            .map(|(_, id, s)| (id.clone(), s.clone()))
            .collect();
        if ec2.modify(group_id, &all).await.is_err() {
            for (i, id, spec) in &mods {
                if let Err(e) = ec2.modify(group_id, &[(id.clone(), spec.clone())]).await {
                    t.fail(*i, &e);
                }
            }
        }
    }

    authorize(ec2, group_id, changes, &phase, Phase::AfterModify, &mut t).await;

    // 4. Tags: one call per distinct tag set (rule_tags changes batch across rules).
    let mut creates: BTreeMap<&BTreeMap<String, String>, Vec<(usize, String)>> = BTreeMap::new();
    let mut deletes: BTreeMap<&Vec<String>, Vec<(usize, String)>> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate() {
        if t.status[i] == Status::Failed {
            continue;
        }
        for op in &c.ops {
            match op {
                Op::CreateTags { rule_id, tags } => {
                    creates.entry(tags).or_default().push((i, rule_id.clone()))
                }
                Op::DeleteTags { rule_id, keys } => {
                    deletes.entry(keys).or_default().push((i, rule_id.clone()))
                }
                _ => {}
            }
        }
    }
    for (tags, items) in creates {
        let ids: Vec<String> = items.iter().map(|(_, id)| id.clone()).collect();
        if let Err(e) = ec2.create_tags(&ids, tags).await {
            items.iter().for_each(|(i, _)| t.fail(*i, &e));
        }
    }
    for (keys, items) in deletes {
        let ids: Vec<String> = items.iter().map(|(_, id)| id.clone()).collect();
        if let Err(e) = ec2.delete_tags(&ids, keys).await {
            items.iter().for_each(|(i, _)| t.fail(*i, &e));
        }
    }

    // 5. Break after make: revoke replaced rules whose successor now exists.
    for dir in [Direction::Ingress, Direction::Egress] {
        let items: Vec<(usize, String)> = changes
            .iter()
            .enumerate()
            .filter(|(i, c)| c.action == Action::Replace && t.status[*i] != Status::Failed)
            .flat_map(|(i, c)| {
                c.ops.iter().filter_map(move |o| match o {
                    Op::Revoke { direction, rule_id } if *direction == dir => {
                        Some((i, rule_id.clone()))
                    }
                    _ => None,
                })
            })
            .collect();
        revoke_batch(ec2, group_id, dir, &items, &mut t).await;
    }
    authorize(ec2, group_id, changes, &phase, Phase::AfterReplace, &mut t).await;

    changes
        .iter()
        .enumerate()
        .map(|(i, c)| ChangeResult {
            change: c.clone(),
            status: t.status[i],
            message: t.message[i].take(),
            new_rule_id: t.new_id[i].take(),
        })
        .collect()
}

/// When an authorize runs: first, or once the rule holding its meaning has moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    First,
    AfterModify,
    AfterReplace,
}

/// Runs the authorizes of `now`, one call per rule.
async fn authorize<W: Ec2Write>(
    ec2: &W,
    group_id: &str,
    changes: &[Change],
    phase: &impl Fn(&RuleSpec) -> Phase,
    now: Phase,
    t: &mut Tracker,
) {
    for (i, c) in changes.iter().enumerate() {
        for op in &c.ops {
            if let Op::Authorize { spec, tags } = op {
                if phase(spec) != now || t.status[i] == Status::Failed {
                    continue;
                }
                match ec2.authorize(group_id, spec, tags).await {
                    Ok(id) => t.new_id[i] = id,
                    Err(e) if e.is(DUPLICATE) => {
                        t.converge(i, "the rule already existed (InvalidPermission.Duplicate)")
                    }
                    Err(e) => t.fail(i, &e),
                }
            }
        }
    }
}

/// Revokes in one call; if AWS refuses the batch, one by one, treating "gone" as done.
async fn revoke_batch<W: Ec2Write>(
    ec2: &W,
    group_id: &str,
    dir: Direction,
    items: &[(usize, String)],
    t: &mut Tracker,
) {
    if items.is_empty() {
        return;
    }
    let ids: Vec<String> = items.iter().map(|(_, id)| id.clone()).collect();
    if ec2.revoke(group_id, dir, &ids).await.is_ok() {
        return;
    }
    for (i, id) in items {
        match ec2.revoke(group_id, dir, std::slice::from_ref(id)).await {
            Ok(()) => {}
            Err(e) if e.is(NOT_FOUND) => t.converge(*i, "the rule was already gone"),
            Err(e) => t.fail(*i, &e),
        }
    }
}

/// Results for changes that were not attempted.
pub fn skipped(changes: &[Change], why: &str) -> Vec<ChangeResult> {
    changes
        .iter()
        .map(|c| ChangeResult {
            change: c.clone(),
            status: Status::Skipped,
            message: Some(why.to_string()),
            new_rule_id: None,
        })
        .collect()
}
