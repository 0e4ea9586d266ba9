//! EC2 security groups held in memory, behaving like AWS where sgops relies on it
//! (duplicates refused, revoking a missing rule fails, ids assigned on create).
//! For tests of the planner and of apply, and property tests over both.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::{LiveGroup, LiveRead, LiveRule, LiveTarget};
use crate::apply::{Ec2Write, WriteError};
use crate::config::RULE_TAG;
use crate::rules::{Direction, GroupRef, RuleSpec};

#[derive(Debug, Default)]
struct State {
    /// id → (name, vpc, rules)
    groups: BTreeMap<String, (String, String, Vec<LiveRule>)>,
    next_id: u64,
    /// Writes made, by API action name.
    writes: BTreeMap<String, u64>,
}

impl State {
    /// Adds a rule with a fresh `sgr-` id and returns the id.
    fn push_rule(
        &mut self,
        group_id: &str,
        spec: RuleSpec,
        tags: BTreeMap<String, String>,
    ) -> String {
        self.next_id += 1;
        let rule_id = format!("sgr-{:017x}", self.next_id);
        if let Some(g) = self.groups.get_mut(group_id) {
            g.2.push(LiveRule {
                rule_id: rule_id.clone(),
                group_id: group_id.to_string(),
                spec,
                tags,
            });
        }
        rule_id
    }
}

/// One account × region in memory.
#[derive(Debug, Default)]
pub struct MemEc2 {
    state: Mutex<State>,
}

fn err(code: &str, message: impl Into<String>) -> WriteError {
    WriteError {
        code: Some(code.to_string()),
        message: message.into(),
    }
}

impl MemEc2 {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    /// Adds an empty group.
    pub fn add_group(&self, id: &str, name: &str, vpc: &str) {
        self.with(|s| {
            s.groups.insert(
                id.to_string(),
                (name.to_string(), vpc.to_string(), Vec::new()),
            );
        });
    }

    /// Adds a rule directly, as someone outside sgops would; returns its id.
    pub fn add_rule(
        &self,
        group_id: &str,
        spec: RuleSpec,
        tags: BTreeMap<String, String>,
    ) -> String {
        self.with(|s| s.push_rule(group_id, spec, tags))
    }

    /// Every rule of a group, sorted.
    pub fn rules(&self, group_id: &str) -> Vec<LiveRule> {
        self.with(|s| {
            let mut r = s
                .groups
                .get(group_id)
                .map(|g| g.2.clone())
                .unwrap_or_default();
            r.sort();
            r
        })
    }

    /// Write calls made so far, by API action.
    pub fn writes(&self) -> BTreeMap<String, u64> {
        self.with(|s| s.writes.clone())
    }

    fn count(s: &mut State, action: &str) {
        *s.writes.entry(action.to_string()).or_default() += 1;
    }
}

impl LiveRead for MemEc2 {
    async fn read(&self, groups: &[GroupRef]) -> Result<LiveTarget, String> {
        self.with(|s| {
            let mut out = LiveTarget::default();
            let mut named = BTreeSet::new();
            for g in groups {
                let hits: Vec<&String> = s
                    .groups
                    .iter()
                    .filter(|(id, (n, v, _))| match g {
                        GroupRef::Id(want) => *id == want,
                        GroupRef::Name { name, vpc } => n == name && v == vpc,
                    })
                    .map(|(id, _)| id)
                    .collect();
                let r = match hits.as_slice() {
                    [id] => {
                        named.insert((*id).clone());
                        let mut rules = s.groups[*id].2.clone();
                        rules.sort();
                        Ok(LiveGroup {
                            id: (*id).clone(),
                            rules,
                        })
                    }
                    [] => Err(format!("security group {g} does not exist")),
                    _ => Err(format!("several security groups match {g}")),
                };
                out.groups.insert(g.clone(), r);
            }
            for (id, (_, _, rules)) in &s.groups {
                if !named.contains(id) && rules.iter().any(|r| r.tags.contains_key(RULE_TAG)) {
                    let mut rules = rules.clone();
                    rules.sort();
                    out.orphans.push(LiveGroup {
                        id: id.clone(),
                        rules,
                    });
                }
            }
            Ok(out)
        })
    }
}

impl Ec2Write for MemEc2 {
    async fn authorize(
        &self,
        group_id: &str,
        spec: &RuleSpec,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<String>, WriteError> {
        self.with(|s| {
            Self::count(s, &format!("authorize_security_group_{}", spec.direction));
            let g = s
                .groups
                .get(group_id)
                .ok_or_else(|| err("InvalidGroup.NotFound", group_id))?;
            if g.2.iter().any(|r| r.spec.meaning() == spec.meaning()) {
                return Err(err(
                    "InvalidPermission.Duplicate",
                    "the rule already exists",
                ));
            }
            Ok(Some(s.push_rule(group_id, spec.clone(), tags.clone())))
        })
    }

    async fn revoke(
        &self,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
    ) -> Result<(), WriteError> {
        self.with(|s| {
            Self::count(s, &format!("revoke_security_group_{direction}"));
            let g = s
                .groups
                .get_mut(group_id)
                .ok_or_else(|| err("InvalidGroup.NotFound", group_id))?;
            // All or nothing, like AWS.
            for id in rule_ids {
                if !g
                    .2
                    .iter()
                    .any(|r| &r.rule_id == id && r.spec.direction == direction)
                {
                    return Err(err("InvalidSecurityGroupRuleId.NotFound", id.clone()));
                }
            }
            g.2.retain(|r| !rule_ids.contains(&r.rule_id));
            Ok(())
        })
    }

    async fn modify(&self, group_id: &str, rules: &[(String, RuleSpec)]) -> Result<(), WriteError> {
        self.with(|s| {
            Self::count(s, "modify_security_group_rules");
            let g = s
                .groups
                .get_mut(group_id)
                .ok_or_else(|| err("InvalidGroup.NotFound", group_id))?;
            for (id, spec) in rules {
                let Some(r) = g.2.iter().find(|r| &r.rule_id == id) else {
                    return Err(err("InvalidSecurityGroupRuleId.NotFound", id.clone()));
                };
                // Like AWS: a rule cannot be moved onto the meaning another rule holds.
                let moved = RuleSpec {
                    direction: r.spec.direction,
                    ..spec.clone()
                };
                if g.2
                    .iter()
                    .any(|o| &o.rule_id != id && o.spec.meaning() == moved.meaning())
                {
                    return Err(err(
                        "InvalidPermission.Duplicate",
                        "the rule already exists",
                    ));
                }
            }
            for (id, spec) in rules {
                if let Some(r) = g.2.iter_mut().find(|r| &r.rule_id == id) {
                    r.spec = RuleSpec {
                        direction: r.spec.direction,
                        ..spec.clone()
                    };
                }
            }
            Ok(())
        })
    }

    async fn create_tags(
        &self,
        rule_ids: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<(), WriteError> {
        self.with(|s| {
            Self::count(s, "create_tags");
            for g in s.groups.values_mut() {
                for r in g.2.iter_mut().filter(|r| rule_ids.contains(&r.rule_id)) {
                    r.tags
                        .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            Ok(())
        })
    }

    async fn delete_tags(&self, rule_ids: &[String], keys: &[String]) -> Result<(), WriteError> {
        self.with(|s| {
            Self::count(s, "delete_tags");
            for g in s.groups.values_mut() {
                for r in g.2.iter_mut().filter(|r| rule_ids.contains(&r.rule_id)) {
                    r.tags.retain(|k, _| !keys.contains(k));
                }
            }
            Ok(())
        })
    }
}
