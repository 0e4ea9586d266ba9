//! `apply_group` against the in-memory EC2: how writes are batched, make-before-break, and
//! convergence when AWS already has (or no longer has) what a change asks for.

mod builders;

use std::collections::BTreeMap;
use std::sync::Mutex;

use builders::*;
use sgops::allowlist::Allowlist;
use sgops::apply::{ChangeResult, Ec2Write, Status, WriteError, apply_group_with};
use sgops::config::{Config, RULE_TAG, TAGS_TAG};
use sgops::live::LiveRule;
use sgops::live::memory::MemEc2;
use sgops::plan::{Action, Plan};
use sgops::render;
use sgops::rules::{Desired, Direction, RuleSpec};

const G: &str = "sg-0a1b2c3d4e5f67890";
const G2: &str = "sg-0fedcba9876543210";

/// One write as seen by [`Rec`], with the group's rules at the moment it was made.
#[derive(Debug, Clone)]
struct Call {
    what: String,
    rules_before: Vec<LiveRule>,
}

/// MemEc2 with a log of the calls in order, and optional faults.
struct Rec<'a> {
    mem: &'a MemEc2,
    log: Mutex<Vec<Call>>,
    /// Fail every authorize with this error code.
    fail_authorize: Option<&'static str>,
    /// Fail every revoke with this error code.
    fail_revoke: Option<&'static str>,
    /// Refuse a modify that would give the group two rules with the same meaning, as AWS
    /// does (it never holds two such rules); MemEc2 lets it through.
    strict_modify: bool,
}

impl<'a> Rec<'a> {
    fn new(mem: &'a MemEc2) -> Self {
        Rec {
            mem,
            log: Mutex::new(Vec::new()),
            fail_authorize: None,
            fail_revoke: None,
            strict_modify: false,
        }
    }

    fn note(&self, group: &str, what: String) {
        let rules_before = self.mem.rules(group);
        self.log
            .lock()
            .expect("log")
            .push(Call { what, rules_before });
    }

    fn calls(&self) -> Vec<Call> {
        self.log.lock().expect("log").clone()
    }

    fn names(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.what).collect()
    }
}

impl Ec2Write for Rec<'_> {
    async fn authorize(
        &self,
        group_id: &str,
        spec: &RuleSpec,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<String>, WriteError> {
        self.note(
            group_id,
            format!(
                "authorize {group_id} {} {}",
                spec.direction,
                tags.get(RULE_TAG).map_or("", String::as_str)
            ),
        );
        if let Some(code) = self.fail_authorize {
            return Err(WriteError {
                code: Some(code.to_string()),
                message: "refused".into(),
            });
        }
        self.mem.authorize(group_id, spec, tags).await
    }

    async fn revoke(
        &self,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
    ) -> Result<(), WriteError> {
        self.note(
            group_id,
            format!("revoke {group_id} {direction} {}", rule_ids.join(",")),
        );
        if let Some(code) = self.fail_revoke {
            return Err(WriteError {
                code: Some(code.to_string()),
                message: "refused".into(),
            });
        }
        self.mem.revoke(group_id, direction, rule_ids).await
    }

    async fn modify(&self, group_id: &str, rules: &[(String, RuleSpec)]) -> Result<(), WriteError> {
        let ids: Vec<&str> = rules.iter().map(|(id, _)| id.as_str()).collect();
        self.note(group_id, format!("modify {group_id} {}", ids.join(",")));
        if self.strict_modify {
            let live = self.mem.rules(group_id);
            for (id, spec) in rules {
                if live
                    .iter()
                    .any(|r| &r.rule_id != id && r.spec.meaning() == spec.meaning())
                {
                    return Err(WriteError {
                        code: Some("InvalidPermission.Duplicate".into()),
                        message: "the specified rule already exists".into(),
                    });
                }
            }
        }
        self.mem.modify(group_id, rules).await
    }

    async fn create_tags(
        &self,
        rule_ids: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<(), WriteError> {
        self.note("", format!("create_tags {} {tags:?}", rule_ids.join(",")));
        self.mem.create_tags(rule_ids, tags).await
    }

    async fn delete_tags(&self, rule_ids: &[String], keys: &[String]) -> Result<(), WriteError> {
        self.note("", format!("delete_tags {} {keys:?}", rule_ids.join(",")));
        self.mem.delete_tags(rule_ids, keys).await
    }
}

/// Memory EC2 holding the live state of `live` (one target).
fn mem_from(live: &LiveB) -> MemEc2 {
    let mem = MemEc2::default();
    for t in live.map.values() {
        let t = t.as_ref().expect("ok target");
        for g in t.groups.values().flatten().chain(t.orphans.iter()) {
            mem.add_group(&g.id, &g.id, "vpc-0123456789abcdef0");
            for r in &g.rules {
                mem.add_rule(&g.id, r.spec.clone(), r.tags.clone());
            }
        }
    }
    mem
}

async fn plan_mem(cfg: &Config, d: &Desired, mem: &MemEc2, allow: &Allowlist) -> Plan {
    run_plan(cfg, d, &read_mem(mem, d).await, allow)
}

fn statuses(results: &[ChangeResult]) -> Vec<(&str, Action, Status)> {
    results
        .iter()
        .map(|r| (r.change.rule.as_str(), r.change.action, r.status))
        .collect()
}

fn writes(mem: &MemEc2) -> Vec<(String, u64)> {
    mem.writes().into_iter().collect()
}

fn w(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[tokio::test]
async fn each_create_is_one_authorize_carrying_its_tags() {
    let cfg = config();
    let d = desired()
        .group(
            G,
            vec![
                rule("a").port(1).tag("team", "x"),
                rule("b").port(2),
                rule("c").egress().port(3),
            ],
        )
        .build();
    let mem = mem_from(&LiveB::empty(&d));
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    let results = apply_plan(&mem, &p).await;
    assert_eq!(
        statuses(&results),
        [
            ("a", Action::Create, Status::Applied),
            ("b", Action::Create, Status::Applied),
            ("c", Action::Create, Status::Applied),
        ]
    );
    assert_eq!(
        writes(&mem),
        w(&[
            ("authorize_security_group_egress", 1),
            ("authorize_security_group_ingress", 2)
        ])
    );
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
    // The id of each new rule is reported.
    let live_ids: Vec<String> = mem.rules(G).into_iter().map(|r| r.rule_id).collect();
    for r in &results {
        let id = r.new_rule_id.as_ref().expect("new rule id");
        assert!(live_ids.contains(id), "{id}");
    }
}

#[tokio::test]
async fn deletes_are_one_revoke_per_group_and_direction() {
    let cfg = config();
    let d = desired().group(G, vec![]).group(G2, vec![]).build();
    let mut live = LiveB::empty(&d);
    for g in [G, G2] {
        for (id, r) in [
            ("in1", rule("in1").port(1)),
            ("in2", rule("in2").port(2)),
            ("out1", rule("out1").egress().port(3)),
            ("out2", rule("out2").egress().port(4)),
        ] {
            live.add(g, r.spec(), full_tags(&cfg, &rule(id).0));
        }
        live.add_untagged(g, spec(22, cidr("10.0.0.0/8"), Some("baseline")));
    }
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert_eq!(p.summary.delete, 8);
    let rec = Rec::new(&mem);
    let results = apply_plan(&rec, &p).await;
    assert!(results.iter().all(|r| r.status == Status::Applied));
    assert_eq!(
        writes(&mem),
        w(&[
            ("revoke_security_group_egress", 2),
            ("revoke_security_group_ingress", 2)
        ])
    );
    for g in [G, G2] {
        let left = mem.rules(g);
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].tags.is_empty(), "the baseline rule stays");
    }
    // Each call names both rules of its direction.
    assert!(
        rec.names().iter().all(|n| n
            .split(' ')
            .nth(3)
            .is_some_and(|ids| ids.split(',').count() == 2)),
        "{:?}",
        rec.names()
    );
}

#[tokio::test]
async fn updates_are_one_modify_per_group() {
    let cfg = config();
    let d = desired()
        .group(
            G,
            vec![
                rule("a").port(1),
                rule("b").port(2),
                rule("c").egress().port(3),
            ],
        )
        .group(G2, vec![rule("d").port(4)])
        .build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec.description = Some("old".into());
    live.rule(G, "b").spec = rule("b").port(22).spec();
    live.rule(G, "c").spec = rule("c").egress().cidr("10.9.0.0/16").spec();
    live.rule(G2, "d").spec = rule("d").port(44).spec();
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert_eq!(p.summary.update, 4, "{}", render::text(&p, false));
    let results = apply_plan(&mem, &p).await;
    assert!(results.iter().all(|r| r.status == Status::Applied));
    assert_eq!(writes(&mem), w(&[("modify_security_group_rules", 2)]));
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
    assert_eq!(managed(&mem, G2), wanted(&cfg, &d, G2));
}

#[tokio::test]
async fn tag_writes_are_batched_by_identical_tag_set() {
    let mut cfg = config();
    let d = desired()
        .group(
            G,
            vec![
                rule("a").port(1),
                rule("b").port(2),
                rule("c").port(3).tag("team", "x"),
                rule("d").port(4),
                rule("e").port(5),
            ],
        )
        .build();
    // Live as it was under the old rule_tags, plus stray tags on two rules.
    cfg.rule_tags.insert(RULE_TAGS_KEY.into(), "no".into());
    let mut live = LiveB::from_desired(&cfg, &d);
    cfg.rule_tags.insert(RULE_TAGS_KEY.into(), "yes".into());
    live.rule(G, "c").tags.remove("team");
    // `old` was set by sgops earlier: the record lists it.
    for (r, v) in [("d", "1"), ("e", "2")] {
        let t = &mut live.rule(G, r).tags;
        t.insert("old".into(), v.into());
        t.insert(TAGS_TAG.into(), "old,vpcx:skip_enforcement".into());
    }
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert_eq!(p.summary.retag, 5, "{}", render::text(&p, false));
    let rec = Rec::new(&mem);
    let results = apply_plan(&rec, &p).await;
    assert!(results.iter().all(|r| r.status == Status::Applied));
    // {vpcx: yes} for a and b; {team, vpcx} for c; {vpcx, the record without `old`} for d
    // and e; delete `old` from d and e.
    assert_eq!(
        writes(&mem),
        w(&[("create_tags", 3), ("delete_tags", 1)]),
        "{:#?}",
        rec.names()
    );
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
}

#[tokio::test]
async fn deletes_go_before_creates_and_free_their_quota() {
    let cfg = config();
    let d = desired().group(G, vec![rule("new").port(2)]).build();
    let mut live = LiveB::empty(&d);
    let old = rule("old").port(1);
    live.add(G, old.spec(), full_tags(&cfg, &old.0));
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    let rec = Rec::new(&mem);
    apply_plan(&rec, &p).await;
    let names = rec.names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("revoke "), "{names:?}");
    assert!(names[1].starts_with("authorize "), "{names:?}");
}

/// The replaced rule's successor was in the group when the old rule was revoked.
fn made_before_broken(rec: &Rec, old_id: &str, new: &RuleSpec) {
    let calls = rec.calls();
    let revoke = calls
        .iter()
        .find(|c| c.what.starts_with("revoke ") && c.what.contains(old_id))
        .unwrap_or_else(|| panic!("no revoke of {old_id}: {calls:#?}"));
    assert!(
        revoke.rules_before.iter().any(|r| &r.spec == new),
        "the new rule did not exist when {old_id} was revoked: {revoke:#?}"
    );
    let authorize = calls
        .iter()
        .position(|c| c.what.starts_with("authorize "))
        .expect("authorize");
    let revoke_at = calls
        .iter()
        .position(|c| c.what == revoke.what)
        .expect("revoke");
    assert!(authorize < revoke_at);
}

#[tokio::test]
async fn replace_makes_the_new_rule_before_it_breaks_the_old() {
    let cfg = config();
    let a = rule("a").port(8443);
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec = rule("a").port(443).spec();
    let mem = mem_from(&live);
    let old_id = mem.rules(G)[0].rule_id.clone();
    let p = plan_mem(
        &cfg,
        &d,
        &mem,
        &allow_all_but(&["modify_security_group_rules"]),
    )
    .await;
    assert_eq!(p.summary.replace, 1);
    let rec = Rec::new(&mem);
    let results = apply_plan(&rec, &p).await;
    assert_eq!(
        statuses(&results),
        [("a", Action::Replace, Status::Applied)]
    );
    made_before_broken(&rec, &old_id, &a.spec());
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
    assert!(mem.rules(G).iter().all(|r| r.rule_id != old_id));
}

#[tokio::test]
async fn a_replace_stopped_between_make_and_break_leaves_its_new_rule_in_the_journal() {
    let cfg = config();
    let d = desired().group(G, vec![rule("a").port(8443)]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec = rule("a").port(443).spec();
    let mem = mem_from(&live);
    let p = plan_mem(
        &cfg,
        &d,
        &mem,
        &allow_all_but(&["modify_security_group_rules"]),
    )
    .await;
    let mut rec = Rec::new(&mem);
    rec.fail_revoke = Some("UnauthorizedOperation");
    let journal = Mutex::new(Vec::new());
    let results = apply_group_with(&rec, G, &p.changes, &|r| {
        journal
            .lock()
            .expect("journal")
            .push((r.status, r.new_rule_id.clone()))
    })
    .await;
    assert_eq!(statuses(&results), [("a", Action::Replace, Status::Failed)]);
    let journal = journal.into_inner().expect("journal");
    let new_id = journal
        .first()
        .and_then(|(_, id)| id.clone())
        .expect("the new rule's id");
    assert!(mem.rules(G).iter().any(|r| r.rule_id == new_id));
    assert_eq!(
        journal,
        [
            (Status::Partial, Some(new_id.clone())),
            (Status::Failed, Some(new_id))
        ]
    );
}

#[tokio::test]
async fn adoption_tags_the_rule_before_it_edits_it() {
    let cfg = config();
    let d = desired().group(G, vec![rule("a").port(443)]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec.description = Some("by hand".into());
    live.rule(G, "a").tags.clear();
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert_eq!(p.summary.adopt, 1);
    let rec = Rec::new(&mem);
    let results = apply_plan(&rec, &p).await;
    assert_eq!(statuses(&results), [("a", Action::Adopt, Status::Applied)]);
    let names = rec.names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("create_tags"), "{names:?}");
    assert!(names[1].starts_with("modify"), "{names:?}");
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
}

#[tokio::test]
async fn replace_on_direction_change_makes_before_it_breaks() {
    let cfg = config();
    let a = rule("a").egress();
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec.direction = Direction::Ingress;
    let mem = mem_from(&live);
    let old_id = mem.rules(G)[0].rule_id.clone();
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    let rec = Rec::new(&mem);
    let results = apply_plan(&rec, &p).await;
    assert_eq!(
        statuses(&results),
        [("a", Action::Replace, Status::Applied)]
    );
    made_before_broken(&rec, &old_id, &a.spec());
    assert_eq!(
        writes(&mem),
        w(&[
            ("authorize_security_group_egress", 1),
            ("revoke_security_group_ingress", 1)
        ])
    );
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
}

#[tokio::test]
async fn a_replace_whose_new_rule_fails_keeps_the_old_rule() {
    let cfg = config();
    let d = desired().group(G, vec![rule("a").port(8443)]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec = rule("a").port(443).spec();
    let mem = mem_from(&live);
    let before = mem.rules(G);
    let p = plan_mem(
        &cfg,
        &d,
        &mem,
        &allow_all_but(&["modify_security_group_rules"]),
    )
    .await;
    let mut rec = Rec::new(&mem);
    rec.fail_authorize = Some("RulesPerSecurityGroupLimitExceeded");
    let results = apply_plan(&rec, &p).await;
    assert_eq!(statuses(&results), [("a", Action::Replace, Status::Failed)]);
    assert!(
        results[0]
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("RulesPerSecurityGroupLimitExceeded")),
        "{:?}",
        results[0].message
    );
    assert!(
        rec.names().iter().all(|n| !n.starts_with("revoke")),
        "{:?}",
        rec.names()
    );
    assert_eq!(mem.rules(G), before);
}

#[tokio::test]
async fn a_duplicate_on_create_converges() {
    let cfg = config();
    let a = rule("a");
    let d = desired().group(G, vec![a.clone()]).build();
    let mem = mem_from(&LiveB::empty(&d));
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert_eq!(p.summary.create, 1);
    // Someone makes the same rule between plan and apply.
    mem.add_rule(G, a.spec(), BTreeMap::new());
    let results = apply_plan(&mem, &p).await;
    assert_eq!(
        statuses(&results),
        [("a", Action::Create, Status::Converged)]
    );
    assert!(
        results[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("InvalidPermission.Duplicate")),
        "{:?}",
        results[0].message
    );
    assert_eq!(mem.rules(G).len(), 1);
    // The next run adopts it, and the one after has nothing to do.
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert_eq!(p.summary.adopt, 1);
    apply_plan(&mem, &p).await;
    assert!(!plan_mem(&cfg, &d, &mem, &allow_all()).await.has_changes());
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
}

#[tokio::test]
async fn revoking_a_rule_already_gone_converges() {
    let cfg = config();
    let d = desired().group(G, vec![]).build();
    let mut live = LiveB::empty(&d);
    let x = rule("x").port(1);
    let y = rule("y").port(2);
    live.add(G, x.spec(), full_tags(&cfg, &x.0));
    live.add(G, y.spec(), full_tags(&cfg, &y.0));
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert_eq!(p.summary.delete, 2);
    // x goes by another hand before apply.
    let x_id = p.changes[0].live_rule_id.clone().expect("id");
    mem.revoke(G, Direction::Ingress, &[x_id])
        .await
        .expect("revoke");
    let results = apply_plan(&mem, &p).await;
    assert_eq!(
        statuses(&results),
        [
            ("x", Action::Delete, Status::Converged),
            ("y", Action::Delete, Status::Applied)
        ]
    );
    assert!(mem.rules(G).is_empty());
}

#[tokio::test]
async fn other_write_errors_fail_the_change() {
    let cfg = config();
    let d = desired()
        .group(G, vec![rule("a").port(1), rule("b").port(2)])
        .build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec.description = Some("old a".into());
    live.rule(G, "b").spec.description = Some("old b".into());
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert_eq!(p.summary.update, 2);
    // b is revoked behind sgops's back: its modify fails, a's still lands.
    let b_id = p.changes[1].live_rule_id.clone().expect("id");
    mem.revoke(G, Direction::Ingress, std::slice::from_ref(&b_id))
        .await
        .expect("revoke");
    let results = apply_plan(&mem, &p).await;
    assert_eq!(
        statuses(&results),
        [
            ("a", Action::Update, Status::Applied),
            ("b", Action::Update, Status::Failed)
        ]
    );
    assert_eq!(
        results[1].message.as_deref(),
        Some(format!("InvalidSecurityGroupRuleId.NotFound: {b_id}").as_str())
    );
    assert_eq!(mem.rules(G)[0].spec.description.as_deref(), Some("a"));

    // A group that is gone fails every change of it.
    let empty = MemEc2::default();
    let results = apply_plan(&empty, &p).await;
    assert!(results.iter().all(|r| r.status == Status::Failed));
    assert!(
        results[0]
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("InvalidGroup.NotFound")),
        "{:?}",
        results[0].message
    );
}

/// Desired and live with every action (modify allowed, so no replace but the direction one).
fn busy(cfg: &Config) -> (Desired, LiveB) {
    let d = desired()
        .group(
            G,
            vec![
                rule("create").port(1),
                rule("adopt").port(2).desc(Some("adopted")),
                rule("update").port(3),
                rule("replace").port(4).egress(),
                rule("retag").port(5).tag("team", "payments"),
                rule("same").port(6),
                rule("expired").port(7).expires(today()),
                rule("renamed").port(8),
            ],
        )
        .group(G2, vec![rule("other").port(9)])
        .build();
    let mut live = LiveB::from_desired(cfg, &d);
    live.remove(G, "create");
    live.remove(G, "adopt");
    live.add_untagged(G, rule("adopt").port(2).desc(Some("by hand")).spec());
    live.rule(G, "update").spec = rule("update").port(33).spec();
    live.rule(G, "replace").spec.direction = Direction::Ingress;
    let r = live.rule(G, "retag");
    r.tags.remove("team");
    // A tag sgops set earlier (it is in the record) and no longer wants.
    r.tags.insert("stale".into(), "1".into());
    r.tags
        .insert(TAGS_TAG.into(), "stale,team,vpcx:skip_enforcement".into());
    r.tags
        .insert("aws:cloudformation:stack-name".into(), "s".into());
    let x = rule("expired").port(7);
    live.add(G, x.spec(), full_tags(cfg, &x.0));
    live.rule(G, "renamed")
        .tags
        .insert(RULE_TAG.into(), "old-name".into());
    let gone = rule("gone").port(10).egress();
    live.add(G2, gone.spec(), full_tags(cfg, &gone.0));
    live.add_untagged(G, spec(22, cidr("10.0.0.0/8"), Some("baseline")));
    live.add_untagged(G2, spec(3389, cidr("10.0.0.0/8"), None));
    (d, live)
}

#[tokio::test]
async fn apply_then_plan_again_is_empty() {
    let cfg = config();
    let (d, live) = busy(&cfg);
    let mem = mem_from(&live);
    let baseline: Vec<LiveRule> = [G, G2]
        .iter()
        .flat_map(|g| mem.rules(g))
        .filter(|r| r.tags.is_empty())
        .filter(|r| r.spec.description.as_deref() != Some("by hand"))
        .collect();
    assert_eq!(baseline.len(), 2);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    let seen: std::collections::BTreeSet<Action> = p.changes.iter().map(|c| c.action).collect();
    assert_eq!(seen.len(), 6, "{}", render::text(&p, false));
    let results = apply_plan(&mem, &p).await;
    assert!(
        results.iter().all(|r| r.status == Status::Applied),
        "{results:#?}"
    );
    let again = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    assert!(
        !again.has_changes() && again.errors.is_empty(),
        "{}",
        render::text(&again, false)
    );
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
    assert_eq!(managed(&mem, G2), wanted(&cfg, &d, G2));
    // Baseline rules are exactly as they were; the `aws:` tag is still there.
    for b in &baseline {
        assert!(mem.rules(&b.group_id).contains(b), "{b:?}");
    }
    let retag = mem
        .rules(G)
        .into_iter()
        .find(|r| r.tags.get(RULE_TAG).map(String::as_str) == Some("retag"))
        .expect("retag");
    assert_eq!(
        retag
            .tags
            .get("aws:cloudformation:stack-name")
            .map(String::as_str),
        Some("s")
    );
    assert!(!retag.tags.contains_key("stale"));
}

#[tokio::test]
async fn a_new_rule_may_take_the_old_place_of_an_updated_rule() {
    let cfg = config();
    // b moves from 443 to 8443, and a new rule a takes 443.
    let d = desired()
        .group(G, vec![rule("a").desc(Some("new")), rule("b").port(8443)])
        .build();
    let live = LiveB::from_desired(&cfg, &desired().group(G, vec![rule("b").port(443)]).build());
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    // The live rule at 443 already is `a`: it is re-tagged (and its description updated)
    // rather than modified away and re-created; `b` is created at 8443.
    assert_eq!(
        p.changes.iter().map(|c| c.action).collect::<Vec<_>>(),
        [Action::Update, Action::Create]
    );
    let results = apply_plan(&mem, &p).await;
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G), "{results:#?}");
    assert!(
        results.iter().all(|r| r.status == Status::Applied),
        "{results:#?}"
    );
}

#[tokio::test]
async fn a_new_rule_may_take_the_old_place_of_a_replaced_rule() {
    let cfg = config();
    let d = desired()
        .group(G, vec![rule("a").desc(Some("b")), rule("b").egress()])
        .build();
    let live = LiveB::from_desired(&cfg, &desired().group(G, vec![rule("b")]).build());
    let mem = mem_from(&live);
    let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
    // The live ingress rule already is `a`: re-tagged, not replaced; `b` is created as egress.
    assert_eq!(
        p.changes.iter().map(|c| c.action).collect::<Vec<_>>(),
        [Action::Retag, Action::Create]
    );
    let results = apply_plan(&mem, &p).await;
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G), "{results:#?}");
}

#[tokio::test]
async fn an_update_onto_an_untagged_rule_converges() {
    let cfg = config();
    let d = desired().group(G, vec![rule("a").port(443)]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec = rule("a").port(8443).spec();
    live.add_untagged(G, rule("a").port(443).desc(Some("by hand")).spec());
    let mem = mem_from(&live);
    let mut rec = Rec::new(&mem);
    rec.strict_modify = true;
    for _ in 0..2 {
        let p = plan_mem(&cfg, &d, &mem, &allow_all()).await;
        let results = apply_plan(&rec, &p).await;
        assert!(
            results.iter().all(|r| r.status != Status::Failed),
            "{results:#?}"
        );
    }
    assert_eq!(managed(&mem, G), wanted(&cfg, &d, G));
    assert!(!plan_mem(&cfg, &d, &mem, &allow_all()).await.has_changes());
}
