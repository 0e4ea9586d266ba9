//! The planner: desired rules + live rules + allow-list + today → [`Plan`]. A pure function.
//!
//! The JSON form of [`Plan`] is the contract of SPEC section 7 (`version` 1):
//! `fingerprint` (sha256 over the desired rules and the live rules read), `summary` (counts
//! per action and of denied changes), `changes` (one per rule, sorted by account, region,
//! group, rule), `errors` (per account × region). Each change also carries `ops`, the exact
//! EC2 writes apply will make, in order; `api_actions` are their allow-list names.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::allowlist::Allowlist;
use crate::config::{Config, RULE_TAG, TAGS_TAG};
use crate::live::{LiveGroup, LiveRule, LiveTarget, PrefixList, Target};
use crate::rules::{Desired, DesiredRule, Direction, GroupRef, Peer, RuleSpec, RuleView};

pub const PLAN_VERSION: u32 = 1;

/// The allow-list service that every security-group action belongs to.
pub const SERVICE: &str = "ec2";

/// A plan: what apply would do, and what stops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub fingerprint: String,
    pub summary: Summary,
    pub changes: Vec<Change>,
    pub errors: Vec<PlanError>,
    /// What a reviewer should know that stops nothing (an adopted rule that carries tags
    /// sgops did not set and keeps). An addition to SPEC's format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<PlanError>,
    /// How the pull request's sgops.yaml changes the policy the plan was made under (the
    /// base branch's): shown apart, in effect after merge. An addition to SPEC's format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_changes: Vec<crate::policy::PolicyChange>,
    /// Rules of the planned accounts that expire within `expiry.warn_days` (SPEC section
    /// 11), soonest first; absent when none. Not part of the fingerprint: it changes with
    /// the date, not with what apply would do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expiring: Vec<Expiring>,
}

/// A rule that expires soon: on its `expires` date the plan revokes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Expiring {
    pub account: String,
    pub account_id: String,
    pub region: String,
    /// The group as the rule file names it (an id, or `name in vpc-…`).
    pub security_group: String,
    pub rule: String,
    /// `YYYY-MM-DD`.
    pub expires: String,
    /// Whole days from today to `expires`: 1 means it expires tomorrow (today it is still in force).
    pub days_left: i64,
    pub ticket: String,
    /// CODEOWNERS owners of the file (`@user`, `@org/team`, emails).
    pub owners: Vec<String>,
    pub file: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub adopt: usize,
    pub update: usize,
    pub replace: usize,
    pub retag: usize,
    pub delete: usize,
    pub denied: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Adopt,
    Update,
    Replace,
    Retag,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Retag => "retag",
            Action::Delete => "delete",
        }
    }
}

/// One EC2 write. Apply batches these per security group; the order within a change is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create one rule with all its tags (TagSpecifications), so it is never untagged.
    Authorize {
        #[serde(with = "spec_view")]
        spec: RuleSpec,
        tags: BTreeMap<String, String>,
    },
    /// Change a rule in place, keeping its id.
    Modify {
        rule_id: String,
        #[serde(with = "spec_view")]
        spec: RuleSpec,
    },
    CreateTags {
        rule_id: String,
        tags: BTreeMap<String, String>,
    },
    DeleteTags {
        rule_id: String,
        keys: Vec<String>,
    },
    Revoke {
        direction: Direction,
        rule_id: String,
    },
}

impl Op {
    /// The allow-list name of the API action this op calls.
    pub fn api_action(&self) -> String {
        match self {
            Op::Authorize { spec, .. } => {
                format!("authorize_security_group_{}", spec.direction)
            }
            Op::Modify { .. } => "modify_security_group_rules".into(),
            Op::CreateTags { .. } => "create_tags".into(),
            Op::DeleteTags { .. } => "delete_tags".into(),
            Op::Revoke { direction, .. } => format!("revoke_security_group_{direction}"),
        }
    }
}

/// Serialises a [`RuleSpec`] as the rule-file view, and reads it back.
mod spec_view {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::rules::{RuleSpec, RuleView};

    pub fn serialize<S: Serializer>(spec: &RuleSpec, s: S) -> Result<S::Ok, S::Error> {
        RuleView::new("", spec, Default::default()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RuleSpec, D::Error> {
        let v = RuleView::deserialize(d)?;
        v.spec().map_err(serde::de::Error::custom)
    }
}

/// One difference between desired and live, for one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub account: String,
    pub account_id: String,
    pub region: String,
    pub security_group: String,
    pub rule: String,
    pub action: Action,
    pub api_actions: Vec<String>,
    pub allowed: bool,
    pub live_rule_id: Option<String>,
    pub before: Option<RuleView>,
    pub after: Option<RuleView>,
    pub file: Option<String>,
    /// The writes, in order (extension of the SPEC format; apply re-plans and uses its own).
    /// Optional when read: a plan in the SPEC's shape has none.
    #[serde(default)]
    pub ops: Vec<Op>,
}

/// A problem that keeps one account × region (or one group in it) from being planned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlanError {
    pub account: String,
    pub region: String,
    pub message: String,
}

impl Plan {
    /// Joins the plans of several shards into one (for one PR comment). The fingerprint of
    /// one plan is kept; several give a sha256 over theirs.
    pub fn merge(mut plans: Vec<Plan>) -> Plan {
        if plans.len() == 1 {
            return plans.remove(0);
        }
        plans.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        let mut h = Sha256::new();
        let mut changes = Vec::new();
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut policy_changes = Vec::new();
        let mut expiring = Vec::new();
        for p in plans {
            h.update(format!("{}\n", p.fingerprint));
            changes.extend(p.changes);
            errors.extend(p.errors);
            warnings.extend(p.warnings);
            expiring.extend(p.expiring);
            // Every shard plans under the same policy: one list says it.
            if policy_changes.is_empty() {
                policy_changes = p.policy_changes;
            }
        }
        let mut plan = finish(
            changes,
            errors,
            warnings,
            format!("sha256:{}", hex::encode(h.finalize())),
        );
        plan.policy_changes = policy_changes;
        sort_expiring(&mut expiring);
        expiring.dedup();
        plan.expiring = expiring;
        plan
    }

    /// The plan written when the rules could not be planned at all (they are invalid): no
    /// changes, only the errors, so a pull request's comment shows why.
    pub fn not_made(errors: Vec<PlanError>) -> Plan {
        finish(Vec::new(), errors, Vec::new(), "none".into())
    }

    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    pub fn denied(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| !c.allowed)
    }
}

/// Everything the planner looks at.
pub struct PlanInput<'a> {
    pub config: &'a Config,
    pub desired: &'a Desired,
    /// Live state per target planned; only these targets appear in the plan.
    pub live: &'a BTreeMap<Target, Result<LiveTarget, String>>,
    pub allowlist: &'a Allowlist,
    pub today: Date,
}

/// A desired rule with the file it came from.
struct Wanted<'a> {
    file: &'a str,
    rule: &'a DesiredRule,
}

/// Computes the plan. Same inputs, same plan, byte for byte.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut hasher = Sha256::new();
    // rule_tags go on every desired rule: a change to them changes what apply would do.
    hasher.update(format!("R {:?}\n", input.config.rule_tags));
    for (target, live) in input.live {
        hasher.update(format!(
            "T {} {} {}\n",
            target.account, target.account_id, target.region
        ));
        let err = |message: String| PlanError {
            account: target.account.clone(),
            region: target.region.clone(),
            message,
        };
        let live = match live {
            Ok(l) => l,
            Err(e) => {
                hasher.update(format!("E {e}\n"));
                errors.push(err(e.clone()));
                continue;
            }
        };
        // The quota pre-flight depends on prefix-list sizes.
        for (id, p) in &live.prefix_lists {
            hasher.update(format!("P {id} {} {}\n", p.max_entries, p.ipv6));
        }
        // Desired rules per named group.
        let mut by_ref: BTreeMap<&GroupRef, Vec<Wanted>> = BTreeMap::new();
        for f in &input.desired.files {
            if f.account == target.account && f.region == target.region {
                let list = by_ref.entry(&f.group).or_default();
                list.extend(f.rules.iter().map(|rule| Wanted {
                    file: &f.path,
                    rule,
                }));
            }
        }
        // Resolve to group ids; two references to one group merge.
        let mut by_id: BTreeMap<&str, (Vec<Wanted>, &LiveGroup)> = BTreeMap::new();
        for (gref, wanted) in by_ref {
            match live.groups.get(gref) {
                Some(Ok(g)) => by_id
                    .entry(g.id.as_str())
                    .or_insert_with(|| (Vec::new(), g))
                    .0
                    .extend(wanted),
                Some(Err(e)) => {
                    hasher.update(format!("E {gref} {e}\n"));
                    // Readers' messages mostly name the group already.
                    errors.push(err(if e.starts_with("security group ") {
                        e.clone()
                    } else {
                        format!("security group {gref}: {e}")
                    }));
                }
                None => errors.push(err(format!("security group {gref} was not read"))),
            }
        }
        for g in &live.orphans {
            by_id
                .entry(g.id.as_str())
                .or_insert_with(|| (Vec::new(), g));
        }
        for (group_id, (wanted, group)) in by_id {
            // Whatever order the reader returned, plan over the same sorted rules.
            let mut group = group.clone();
            group.rules.sort();
            let group = &group;
            let mut active: Vec<&Wanted> = wanted
                .iter()
                .filter(|w| !w.rule.is_expired(input.today))
                .collect();
            active.sort_by(|a, b| a.rule.id.cmp(&b.rule.id));
            fingerprint_group(&mut hasher, group, &active);
            if let Some(dup) = active.windows(2).find(|w| w[0].rule.id == w[1].rule.id) {
                errors.push(err(format!(
                    "security group {group_id}: rule id `{}` is in both {} and {} (the group is named two ways)",
                    dup[0].rule.id, dup[0].file, dup[1].file
                )));
                continue;
            }
            let ctx = GroupCtx {
                target,
                group,
                config: input.config,
                allow: input.allowlist,
                prefix_lists: &live.prefix_lists,
            };
            let mut group_changes = ctx.diff(&active);
            warnings.extend(ctx.kept_tags(&group_changes, &active).into_iter().map(err));
            // An expired rule's delete still names the file that declares it.
            for c in group_changes.iter_mut().filter(|c| c.file.is_none()) {
                c.file = wanted
                    .iter()
                    .find(|w| w.rule.id == c.rule)
                    .map(|w| w.file.to_string());
            }
            if let Some(e) = ctx.quota_error(&group_changes) {
                errors.push(err(e));
            }
            changes.extend(group_changes);
        }
    }
    finish(
        changes,
        errors,
        warnings,
        format!("sha256:{}", hex::encode(hasher.finalize())),
    )
}

/// Errors for reading: the same message in several regions of one account (its role could
/// not be assumed, say) is one error naming those regions (`eu-west-1, us-east-1`). The plan
/// keeps one error per account × region; this is how people are told.
pub fn errors_by_account(errors: &[PlanError]) -> Vec<PlanError> {
    let mut merged: Vec<PlanError> = Vec::new();
    for e in errors {
        match merged
            .iter_mut()
            .find(|m| m.account == e.account && m.message == e.message)
        {
            Some(m) => {
                m.region.push_str(", ");
                m.region.push_str(&e.region);
            }
            None => merged.push(e.clone()),
        }
    }
    merged
}

/// Sorts, counts and wraps changes, errors and warnings into a plan.
fn finish(
    mut changes: Vec<Change>,
    mut errors: Vec<PlanError>,
    mut warnings: Vec<PlanError>,
    fingerprint: String,
) -> Plan {
    changes.sort_by(|a, b| {
        (
            &a.account,
            &a.region,
            &a.security_group,
            &a.rule,
            a.action,
            &a.live_rule_id,
        )
            .cmp(&(
                &b.account,
                &b.region,
                &b.security_group,
                &b.rule,
                b.action,
                &b.live_rule_id,
            ))
    });
    errors.sort();
    warnings.sort();
    let mut summary = Summary::default();
    for c in &changes {
        *match c.action {
            Action::Create => &mut summary.create,
            Action::Adopt => &mut summary.adopt,
            Action::Update => &mut summary.update,
            Action::Replace => &mut summary.replace,
            Action::Retag => &mut summary.retag,
            Action::Delete => &mut summary.delete,
        } += 1;
        if !c.allowed {
            summary.denied += 1;
        }
    }
    Plan {
        version: PLAN_VERSION,
        fingerprint,
        summary,
        changes,
        errors,
        warnings,
        policy_changes: Vec::new(),
        expiring: Vec::new(),
    }
}

/// Soonest first, then by place.
pub fn sort_expiring(list: &mut [Expiring]) {
    list.sort_by(|a, b| {
        (
            a.days_left,
            &a.account,
            &a.region,
            &a.security_group,
            &a.rule,
        )
            .cmp(&(
                b.days_left,
                &b.account,
                &b.region,
                &b.security_group,
                &b.rule,
            ))
    });
}

fn fingerprint_group(h: &mut Sha256, group: &LiveGroup, active: &[&Wanted]) {
    h.update(format!("G {}\n", group.id));
    for w in active {
        h.update(format!(
            "D {} {:?} {:?}\n",
            w.rule.id, w.rule.spec, w.rule.tags
        ));
    }
    for r in &group.rules {
        h.update(format!("L {} {:?} {:?}\n", r.rule_id, r.spec, r.tags));
    }
}

/// The planning of one security group.
struct GroupCtx<'a> {
    target: &'a Target,
    group: &'a LiveGroup,
    config: &'a Config,
    allow: &'a Allowlist,
    prefix_lists: &'a BTreeMap<String, PrefixList>,
}

impl GroupCtx<'_> {
    /// The tags sgops sets on a desired rule: `rule_tags`, the rule's own, and `sgops:rule`
    /// (the record of set keys, `sgops:tags`, is added by [`Self::tag_ops`]).
    fn full_tags(&self, r: &DesiredRule) -> BTreeMap<String, String> {
        let mut t = self.config.rule_tags.clone();
        t.extend(r.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        t.insert(RULE_TAG.to_string(), r.id.clone());
        t
    }

    /// The tags of a rule sgops creates: all it sets, and their record.
    fn created_tags(want: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut t = want.clone();
        let keys: BTreeSet<&str> = want.keys().map(String::as_str).collect();
        let record = tag_record(&keys);
        if !record.is_empty() {
            t.insert(TAGS_TAG.to_string(), record);
        }
        t
    }

    /// For each adoption of a rule that carries tags sgops did not set: a warning that they
    /// are kept (sgops never deletes a tag it did not set).
    fn kept_tags(&self, changes: &[Change], wanted: &[&Wanted]) -> Vec<String> {
        changes
            .iter()
            .filter(|c| c.action == Action::Adopt)
            .filter_map(|c| {
                let before = c.before.as_ref()?;
                let w = wanted.iter().find(|w| w.rule.id == c.rule)?;
                let want = self.full_tags(w.rule);
                let others: Vec<&str> = before
                    .tags
                    .keys()
                    .filter(|k| !want.contains_key(*k))
                    .map(String::as_str)
                    .collect();
                (!others.is_empty()).then(|| {
                    format!(
                        "security group {}: adopting {} as `{}`, which carries tags sgops did not set ({}): they are kept, and sgops will never delete them",
                        c.security_group,
                        c.live_rule_id.as_deref().unwrap_or("?"),
                        c.rule,
                        others.join(", ")
                    )
                })
            })
            .collect()
    }

    fn allowed(&self, action: &str) -> bool {
        self.allow.allows(SERVICE, action)
    }

    fn change(
        &self,
        rule: &str,
        action: Action,
        live: Option<&LiveRule>,
        wanted: Option<&Wanted>,
        ops: Vec<Op>,
    ) -> Change {
        let mut api_actions: Vec<String> = Vec::new();
        for op in &ops {
            let a = op.api_action();
            if !api_actions.contains(&a) {
                api_actions.push(a);
            }
        }
        let allowed = api_actions.iter().all(|a| self.allowed(a));
        Change {
            account: self.target.account.clone(),
            account_id: self.target.account_id.clone(),
            region: self.target.region.clone(),
            security_group: self.group.id.clone(),
            rule: rule.to_string(),
            action,
            api_actions,
            allowed,
            live_rule_id: live.map(|l| l.rule_id.clone()),
            before: live.map(|l| {
                let id = l.tags.get(RULE_TAG).map_or("", String::as_str);
                RuleView::new(id, &l.spec, l.tags.clone())
            }),
            after: wanted.map(|w| RuleView::desired(w.rule, tags_after(live, &ops))),
            file: wanted.map(|w| w.file.to_string()),
            ops,
        }
    }

    /// Tag writes that give a live rule (tagged `have`) the tags sgops sets (`want`), with
    /// the record of what sgops set in `sgops:tags`.
    ///
    /// Only tags sgops set can be deleted: those the record lists (for a rule sgops managed
    /// before it kept records, the tags it wants that the rule carries). A tag someone else
    /// put on the rule stays, whatever the rule file says. The record afterwards: what it
    /// listed and sgops still sets, plus what this change writes; a tag that already had the
    /// wanted value was not set by sgops and is not recorded.
    fn tag_ops(
        rule_id: &str,
        have: &BTreeMap<String, String>,
        want: &BTreeMap<String, String>,
    ) -> Vec<Op> {
        let recorded: BTreeSet<&str> = match have.get(TAGS_TAG) {
            Some(r) => r.split(',').filter(|k| !k.is_empty()).collect(),
            None if have.contains_key(RULE_TAG) => want
                .keys()
                .filter(|k| have.contains_key(*k))
                .map(String::as_str)
                .collect(),
            None => BTreeSet::new(),
        };
        let mut add: BTreeMap<String, String> = want
            .iter()
            .filter(|(k, v)| have.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut remove: Vec<String> = recorded
            .iter()
            .filter(|k| {
                !want.contains_key(**k)
                    && have.contains_key(**k)
                    && !k.starts_with("aws:")
                    && **k != RULE_TAG
                    && **k != TAGS_TAG
            })
            .map(|k| k.to_string())
            .collect();
        let owned: BTreeSet<&str> = recorded
            .iter()
            .copied()
            .filter(|k| want.contains_key(*k))
            .chain(add.keys().map(String::as_str))
            .collect();
        let record = tag_record(&owned);
        // An empty record is written, not left out, when the rule carries tags sgops wants
        // but did not set (the central API's `rule_tags`): without a record, the next plan
        // would take them for tags an earlier sgops set and retag to record them.
        let keep_empty = want
            .keys()
            .any(|k| k != RULE_TAG && k != TAGS_TAG && have.contains_key(k));
        match have.get(TAGS_TAG) {
            Some(old) if *old == record => {}
            Some(_) if record.is_empty() && !keep_empty => remove.push(TAGS_TAG.to_string()),
            _ if record.is_empty() && !keep_empty => {}
            _ => {
                add.insert(TAGS_TAG.to_string(), record);
            }
        }
        remove.sort();
        let mut ops = Vec::new();
        if !add.is_empty() {
            ops.push(Op::CreateTags {
                rule_id: rule_id.to_string(),
                tags: add,
            });
        }
        if !remove.is_empty() {
            ops.push(Op::DeleteTags {
                rule_id: rule_id.to_string(),
                keys: remove,
            });
        }
        ops
    }

    /// Changes that turn the live group into the desired rules.
    ///
    /// Pairing, in order: a managed rule that already is the desired AWS rule (whatever id it
    /// carries: renamed ids and swapped ids become re-tags, never a modify onto a rule that
    /// exists); then the managed copy with the desired id (update or replace, or adoption of
    /// an untagged twin); then an untagged twin (adopt); else a create. Managed rules left
    /// unpaired are revoked.
    fn diff(&self, wanted: &[&Wanted]) -> Vec<Change> {
        let mut out = Vec::new();
        let (managed, unmanaged): (Vec<&LiveRule>, Vec<&LiveRule>) = self
            .group
            .rules
            .iter()
            .partition(|r| r.tags.contains_key(RULE_TAG));
        fn tag_of(l: &LiveRule) -> &str {
            l.tags.get(RULE_TAG).map_or("", String::as_str)
        }
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let mut pairs: Vec<Option<&LiveRule>> = vec![None; wanted.len()];

        // 1. A managed rule that means the desired rule (desired meanings are unique, so the
        //    pairing is too); the copy carrying the desired id first.
        for (i, w) in wanted.iter().enumerate() {
            let d = w.rule;
            let same = |l: &&&LiveRule| {
                l.spec.meaning() == d.spec.meaning() && !used.contains(l.rule_id.as_str())
            };
            let hit = managed
                .iter()
                .filter(same)
                .find(|l| tag_of(l) == d.id)
                .or_else(|| managed.iter().find(same))
                .copied();
            if let Some(l) = hit {
                used.insert(&l.rule_id);
                pairs[i] = Some(l);
            }
        }
        for (i, w) in wanted.iter().enumerate() {
            let d = w.rule;
            let want_tags = self.full_tags(d);
            if let Some(live) = pairs[i] {
                if let Some(c) = self.compare(live, w, &want_tags) {
                    out.push(c);
                }
                continue;
            }
            let twin = unmanaged.iter().copied().find(|l| {
                l.spec.meaning() == d.spec.meaning() && !used.contains(l.rule_id.as_str())
            });
            // 2. An untagged rule already is the desired rule: adopt it (copies with the id
            //    are revoked below). AWS would refuse to move a managed copy onto it.
            if let Some(live) = twin {
                used.insert(&live.rule_id);
                out.push(self.adopt(live, w, &want_tags));
                continue;
            }
            // 3. The managed copy with the desired id, moved to the desired rule.
            let own = managed
                .iter()
                .copied()
                .find(|l| tag_of(l) == d.id && !used.contains(l.rule_id.as_str()));
            if let Some(live) = own {
                used.insert(&live.rule_id);
                if let Some(c) = self.compare(live, w, &want_tags) {
                    out.push(c);
                }
                continue;
            }
            // 4. Nothing to reuse: create.
            let ops = vec![Op::Authorize {
                spec: d.spec.clone(),
                tags: Self::created_tags(&want_tags),
            }];
            out.push(self.change(&d.id, Action::Create, None, Some(w), ops));
        }
        for live in managed {
            if !used.contains(live.rule_id.as_str()) {
                out.push(self.delete(live, tag_of(live)));
            }
        }
        out
    }

    /// Tags an untagged live rule as this desired rule (and aligns its description).
    fn adopt(&self, live: &LiveRule, w: &Wanted, want_tags: &BTreeMap<String, String>) -> Change {
        let d = w.rule;
        let mut ops = Self::tag_ops(&live.rule_id, &live.tags, want_tags);
        if live.spec.description != d.spec.description {
            ops.push(Op::Modify {
                rule_id: live.rule_id.clone(),
                spec: d.spec.clone(),
            });
        }
        self.change(&d.id, Action::Adopt, Some(live), Some(w), ops)
    }

    fn delete(&self, live: &LiveRule, id: &str) -> Change {
        let ops = vec![Op::Revoke {
            direction: live.spec.direction,
            rule_id: live.rule_id.clone(),
        }];
        self.change(id, Action::Delete, Some(live), None, ops)
    }

    /// The change that brings one live rule to its desired form, if any.
    fn compare(
        &self,
        live: &LiveRule,
        w: &Wanted,
        want_tags: &BTreeMap<String, String>,
    ) -> Option<Change> {
        let d = w.rule;
        let tag_ops = Self::tag_ops(&live.rule_id, &live.tags, want_tags);
        if live.spec == d.spec {
            if tag_ops.is_empty() {
                return None;
            }
            return Some(self.change(&d.id, Action::Retag, Some(live), Some(w), tag_ops));
        }
        let replace_ops = || {
            vec![
                Op::Authorize {
                    spec: d.spec.clone(),
                    tags: Self::created_tags(want_tags),
                },
                Op::Revoke {
                    direction: live.spec.direction,
                    rule_id: live.rule_id.clone(),
                },
            ]
        };
        if live.spec.direction != d.spec.direction {
            return Some(self.change(&d.id, Action::Replace, Some(live), Some(w), replace_ops()));
        }
        let mut update_ops = vec![Op::Modify {
            rule_id: live.rule_id.clone(),
            spec: d.spec.clone(),
        }];
        update_ops.extend(tag_ops);
        let can_modify = update_ops.iter().all(|o| self.allowed(&o.api_action()));
        let replace = replace_ops();
        let can_replace = replace.iter().all(|o| self.allowed(&o.api_action()));
        // Make-before-break needs the new rule to differ from the old one in AWS's eyes;
        // a description-only change cannot be made that way.
        let meaning_changed = live.spec.meaning() != d.spec.meaning();
        if !can_modify && can_replace && meaning_changed {
            return Some(self.change(&d.id, Action::Replace, Some(live), Some(w), replace));
        }
        Some(self.change(&d.id, Action::Update, Some(live), Some(w), update_ops))
    }

    /// Rules per direction and address family at the fullest point of apply (deletes first,
    /// then creates, then the revokes of replaced rules), against the quota.
    fn quota_error(&self, changes: &[Change]) -> Option<String> {
        // AWS counts a prefix-list rule as the list's max entries, in the list's family.
        let weigh = |s: &RuleSpec| match &s.peer {
            Peer::PrefixList(id) => self
                .prefix_lists
                .get(id)
                .map_or(((s.direction, false), 1), |p| {
                    ((s.direction, p.ipv6), i64::from(p.max_entries))
                }),
            peer => ((s.direction, peer.is_ipv6()), 1),
        };
        let mut count: BTreeMap<(Direction, bool), i64> = BTreeMap::new();
        for r in &self.group.rules {
            let (k, w) = weigh(&r.spec);
            *count.entry(k).or_default() += w;
        }
        // A group already over the quota (raised in AWS, say) is only an error where the
        // change adds to it.
        let now = count.clone();
        for c in changes {
            for op in &c.ops {
                match op {
                    Op::Revoke { .. } if c.action == Action::Delete => {
                        if let Some(b) = &c.before
                            && let Ok(s) = b.spec()
                        {
                            let (k, w) = weigh(&s);
                            *count.entry(k).or_default() -= w;
                        }
                    }
                    Op::Authorize { spec, .. } => {
                        let (k, w) = weigh(spec);
                        *count.entry(k).or_default() += w;
                    }
                    _ => {}
                }
            }
        }
        let quota = self.config.quotas.rules_per_group as i64;
        let over: Vec<String> = count
            .iter()
            .filter(|(k, n)| **n > quota && **n > now.get(*k).copied().unwrap_or(0))
            .map(|((dir, v6), n)| format!("{n} {dir} {} rules", if *v6 { "IPv6" } else { "IPv4" }))
            .collect();
        if over.is_empty() {
            return None;
        }
        Some(format!(
            "security group {}: the change would need {}, over the quota of {quota} per direction and family (quotas.rules_per_group); nothing is applied to this account and region",
            self.group.id,
            over.join(" and ")
        ))
    }
}

/// The value of `sgops:tags` for the keys sgops set: sorted, comma-separated, without
/// `sgops:rule` (always sgops's) and the record itself.
fn tag_record(keys: &BTreeSet<&str>) -> String {
    keys.iter()
        .copied()
        .filter(|k| *k != RULE_TAG && *k != TAGS_TAG)
        .collect::<Vec<_>>()
        .join(",")
}

/// A rule's tags once `ops` are applied: a created rule has the tags it is created with; a
/// live one keeps what no op deletes.
fn tags_after(live: Option<&LiveRule>, ops: &[Op]) -> BTreeMap<String, String> {
    let mut t = live.map(|l| l.tags.clone()).unwrap_or_default();
    for op in ops {
        match op {
            Op::Authorize { tags, .. } => t = tags.clone(),
            Op::CreateTags { tags, .. } => {
                t.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())))
            }
            Op::DeleteTags { keys, .. } => keys.iter().for_each(|k| {
                t.remove(k);
            }),
            Op::Modify { .. } | Op::Revoke { .. } => {}
        }
    }
    t
}
