//! Apply: the only code that writes to AWS. Executes the ops of a plan, batched per security
//! group, make-before-break, converging on duplicates and rules already gone.
//!
//! Order within a group: revoke rules no longer desired (frees quota), authorize new rules
//! (each with its own tags), tag, modify in place, and last revoke the rules that replaced
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
    /// Journal only: some writes of the change landed (a replace's new rule) and more are
    /// to come. A later line for the same change gives its final status; when none does,
    /// the apply stopped in between and this line says what it left behind.
    Partial,
}

impl Status {
    /// The word the reports show: a failure in capitals, so it stands out.
    pub fn label(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Converged => "converged",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
            Status::Partial => "partial",
        }
    }
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
                // Never a final status; counted as unfinished should one get here.
                Status::Partial => &mut summary.failed,
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

/// The steps of a group's apply, in order. A change is finished after the last step that
/// holds one of its writes; its result is reported right then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Deletes,
    Authorize,
    /// Before modify: an adopted rule carries `sgops:rule` before sgops edits it.
    Tags,
    Modify,
    /// Authorizes of rules that take the old place of a modified rule.
    AuthorizeAfterModify,
    ReplacedRevokes,
    /// Authorizes of rules that take the old place of a replaced rule.
    AuthorizeAfterReplace,
}

/// Per-change outcome while a group is being applied, reported as each change finishes.
struct Tracker<'a> {
    changes: &'a [Change],
    status: Vec<Status>,
    message: Vec<Option<String>>,
    new_id: Vec<Option<String>>,
    last: Vec<Step>,
    reported: Vec<bool>,
    on_result: &'a (dyn Fn(&ChangeResult) + Sync),
}

impl Tracker<'_> {
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

    fn result(&self, i: usize) -> ChangeResult {
        ChangeResult {
            change: self.changes[i].clone(),
            status: self.status[i],
            message: self.message[i].clone(),
            new_rule_id: self.new_id[i].clone(),
        }
    }

    /// Journals a write of change `i` that landed at step `now` when the change has more
    /// writes to come, so an apply stopped in between still records the new rule.
    fn progress(&self, i: usize, now: Step) {
        if self.last[i] > now && !self.reported[i] {
            let mut r = self.result(i);
            r.status = Status::Partial;
            r.message = Some("new rule created; the rest of the change is pending".into());
            (self.on_result)(&r);
        }
    }

    /// Reports change `i` if `done` was its last step (or it failed).
    fn settle_one(&mut self, i: usize, done: Step) {
        if !self.reported[i] && (self.last[i] <= done || self.status[i] == Status::Failed) {
            self.reported[i] = true;
            (self.on_result)(&self.result(i));
        }
    }

    /// Reports every change finished by the end of `done`.
    fn settle(&mut self, done: Step) {
        for i in 0..self.changes.len() {
            self.settle_one(i, done);
        }
    }
}

/// Applies the changes of one security group. `changes` all belong to `group_id`.
pub async fn apply_group<W: Ec2Write>(
    ec2: &W,
    group_id: &str,
    changes: &[Change],
) -> Vec<ChangeResult> {
    apply_group_with(ec2, group_id, changes, &|_| {}).await
}

/// As [`apply_group`], handing each change's result to `on_result` the moment its last
/// write lands (the journal), so an apply killed midway still leaves what it did.
pub async fn apply_group_with<W: Ec2Write>(
    ec2: &W,
    group_id: &str,
    changes: &[Change],
    on_result: &(dyn Fn(&ChangeResult) + Sync),
) -> Vec<ChangeResult> {
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
    let authorize_step = |spec: &RuleSpec| {
        let m = spec.meaning();
        if after_replace.contains(&m) {
            Step::AuthorizeAfterReplace
        } else if after_modify.contains(&m) {
            Step::AuthorizeAfterModify
        } else {
            Step::Authorize
        }
    };
    let last = changes
        .iter()
        .map(|c| {
            c.ops
                .iter()
                .map(|op| match op {
                    Op::Revoke { .. } if c.action == Action::Delete => Step::Deletes,
                    Op::Revoke { .. } => Step::ReplacedRevokes,
                    Op::Authorize { spec, .. } => authorize_step(spec),
                    Op::Modify { .. } => Step::Modify,
                    Op::CreateTags { .. } | Op::DeleteTags { .. } => Step::Tags,
                })
                .max()
                .unwrap_or(Step::Deletes)
        })
        .collect();
    let n = changes.len();
    let mut t = Tracker {
        changes,
        status: vec![Status::Applied; n],
        message: vec![None; n],
        new_id: vec![None; n],
        last,
        reported: vec![false; n],
        on_result,
    };

    // 1. Revoke what is no longer desired, per direction, in one call each.
    for dir in [Direction::Ingress, Direction::Egress] {
        let items = revokes(changes, dir, |c| c.action == Action::Delete, &t);
        revoke_batch(ec2, group_id, dir, &items, &mut t).await;
    }
    t.settle(Step::Deletes);

    // 2. Authorize: one call per rule, so each carries its own sgops:rule tag from birth.
    authorize(ec2, group_id, &authorize_step, Step::Authorize, &mut t).await;

    // 3. Tags: one call per distinct tag set (rule_tags changes batch across rules). Before
    //    modify, so that sgops never edits a rule that does not yet carry its tag.
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
    t.settle(Step::Tags);

    // 4. Modify in place: one call for the group; on failure, one by one to find the culprit.
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
    t.settle(Step::Modify);
    authorize(
        ec2,
        group_id,
        &authorize_step,
        Step::AuthorizeAfterModify,
        &mut t,
    )
    .await;

    // 5. Break after make: revoke replaced rules whose successor now exists.
    for dir in [Direction::Ingress, Direction::Egress] {
        let items = revokes(changes, dir, |c| c.action == Action::Replace, &t);
        revoke_batch(ec2, group_id, dir, &items, &mut t).await;
    }
    t.settle(Step::ReplacedRevokes);
    authorize(
        ec2,
        group_id,
        &authorize_step,
        Step::AuthorizeAfterReplace,
        &mut t,
    )
    .await;
    t.settle(Step::AuthorizeAfterReplace);

    (0..n).map(|i| t.result(i)).collect()
}

/// `(change, rule id)` of the revokes in `dir` of the changes `which` selects and that
/// have not failed.
fn revokes(
    changes: &[Change],
    dir: Direction,
    which: impl Fn(&Change) -> bool,
    t: &Tracker<'_>,
) -> Vec<(usize, String)> {
    changes
        .iter()
        .enumerate()
        .filter(|(i, c)| which(c) && t.status[*i] != Status::Failed)
        .flat_map(|(i, c)| {
            c.ops.iter().filter_map(move |o| match o {
                Op::Revoke { direction, rule_id } if *direction == dir => {
                    Some((i, rule_id.clone()))
                }
                _ => None,
            })
        })
        .collect()
}

/// Runs the authorizes that belong to step `now`, one call per rule, reporting each
/// change whose last write this was.
async fn authorize<W: Ec2Write>(
    ec2: &W,
    group_id: &str,
    step_of: &impl Fn(&RuleSpec) -> Step,
    now: Step,
    t: &mut Tracker<'_>,
) {
    let changes = t.changes;
    for (i, c) in changes.iter().enumerate() {
        for op in &c.ops {
            if let Op::Authorize { spec, tags } = op {
                if step_of(spec) != now || t.status[i] == Status::Failed {
                    continue;
                }
                match ec2.authorize(group_id, spec, tags).await {
                    Ok(id) => {
                        t.new_id[i] = id;
                        t.progress(i, now);
                    }
                    Err(e) if e.is(DUPLICATE) => {
                        t.converge(i, "the rule already existed (InvalidPermission.Duplicate)")
                    }
                    Err(e) => t.fail(i, &e),
                }
                t.settle_one(i, now);
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
    t: &mut Tracker<'_>,
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
