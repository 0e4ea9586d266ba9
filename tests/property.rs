//! Plan + apply as a property over random desired and live states, against the in-memory EC2:
//! afterwards the managed rules are exactly the desired ones, untagged rules are untouched
//! (unless adopted), and planning again finds nothing to do.

mod builders;

use std::collections::{BTreeMap, BTreeSet};

use builders::*;
use jiff::ToSpan;
use proptest::prelude::*;
use proptest::sample::select;
use sgops::apply::{Ec2Write, Status, WriteError};
use sgops::config::{RULE_TAG, TAGS_TAG};
use sgops::live::LiveRule;
use sgops::live::memory::MemEc2;
use sgops::render;
use sgops::rules::{Desired, Direction, GroupRef, Meaning, Peer, Ports, Protocol, RuleSpec};

const G1: &str = "sg-0000000000000000a";
/// Named by `{ name, vpc }` in its rule file.
const G2: &str = "sg-g2";
/// No rule file names it: its managed rules are to be revoked.
const ORPHAN: &str = "sg-0000000000000000c";
const VPC: &str = "vpc-0123456789abcdef0";

/// Rule ids; the last few are never desired, so live rules tagged with them are leftovers.
const IDS: &[&str] = &["r0", "r1", "r2", "r3", "r4", "r5", "x6", "x7", "x8"];
const DESIRABLE: usize = 6;

fn spec_strategy() -> impl Strategy<Value = RuleSpec> {
    let proto = select(vec![
        (Protocol::Tcp, Ports::Range { from: 22, to: 22 }),
        (Protocol::Tcp, Ports::Range { from: 443, to: 443 }),
        (
            Protocol::Tcp,
            Ports::Range {
                from: 8000,
                to: 8100,
            },
        ),
        (Protocol::Udp, Ports::Range { from: 53, to: 53 }),
        (
            Protocol::Icmp,
            Ports::Icmp {
                icmp_type: 8,
                code: -1,
            },
        ),
        (Protocol::All, Ports::NotApplicable),
    ]);
    let peer = select(vec![
        cidr("10.0.0.0/8"),
        cidr("192.168.1.0/24"),
        cidr6("2001:db8::/32"),
        Peer::PrefixList("pl-0123456789abcdef0".into()),
        Peer::SecurityGroup("sg-0123456789abcdef0".into()),
    ]);
    let desc = prop::option::of(select(vec!["a", "b"]));
    (any::<bool>(), proto, peer, desc).prop_map(|(egress, (protocol, ports), peer, desc)| {
        RuleSpec {
            direction: if egress {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            protocol,
            ports,
            peer,
            description: desc.map(str::to_string),
        }
    })
}

/// A desired rule: id, spec, own tags, expired or not.
#[derive(Debug, Clone)]
struct Want {
    id: &'static str,
    spec: RuleSpec,
    tags: BTreeMap<String, String>,
    expired: bool,
}

fn want_strategy() -> impl Strategy<Value = Want> {
    (
        select(IDS[..DESIRABLE].to_vec()),
        spec_strategy(),
        prop::option::of(select(vec!["x", "y"])),
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(id, spec, team, env, expired)| {
            let mut tags = BTreeMap::new();
            if let Some(t) = team {
                tags.insert("team".to_string(), t.to_string());
            }
            if env {
                tags.insert("env".to_string(), "prod".to_string());
            }
            Want {
                id,
                spec,
                tags,
                expired,
            }
        })
}

/// A live rule: spec and tags (with `sgops:rule`, or untagged).
fn have_strategy() -> impl Strategy<Value = (RuleSpec, BTreeMap<String, String>)> {
    (
        spec_strategy(),
        prop::option::of(select(IDS.to_vec())),
        prop::option::of(select(vec!["yes", "no"])),
        prop::option::of(select(vec!["x", "y"])),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(spec, id, vpcx, team, stray, aws)| {
            let mut t = BTreeMap::new();
            match id {
                Some(id) => {
                    t.insert(RULE_TAG.to_string(), id.to_string());
                    if let Some(v) = vpcx {
                        t.insert(RULE_TAGS_KEY.to_string(), v.to_string());
                    }
                    if let Some(v) = team {
                        t.insert("team".to_string(), v.to_string());
                    }
                }
                None if stray => {
                    t.insert("Name".to_string(), "fms".to_string());
                }
                None => {}
            }
            if stray && id.is_some() {
                t.insert("stray".to_string(), "1".to_string());
            }
            if aws {
                t.insert(
                    "aws:cloudformation:stack-name".to_string(),
                    "base".to_string(),
                );
            }
            (spec, t)
        })
}

#[derive(Debug, Clone)]
struct GroupCase {
    want: Vec<Want>,
    have: Vec<(RuleSpec, BTreeMap<String, String>)>,
}

fn group_strategy() -> impl Strategy<Value = GroupCase> {
    (
        prop::collection::vec(want_strategy(), 0..=8),
        prop::collection::vec(have_strategy(), 0..=8),
    )
        .prop_map(|(want, have)| {
            // What validation guarantees: ids and meanings unique among the desired rules.
            let mut ids = BTreeSet::new();
            let mut meanings = BTreeSet::new();
            let want = want
                .into_iter()
                .filter(|w| ids.insert(w.id) && meanings.insert(w.spec.meaning()))
                .collect();
            // What AWS guarantees: no two live rules of a group mean the same.
            let mut meanings = BTreeSet::new();
            let have = have
                .into_iter()
                .filter(|(s, _)| meanings.insert(s.meaning()))
                .collect();
            GroupCase { want, have }
        })
}

/// MemEc2 that, like AWS, refuses a modify that would make two rules of a group the same.
struct Strict<'a>(&'a MemEc2);

impl Ec2Write for Strict<'_> {
    async fn authorize(
        &self,
        group_id: &str,
        spec: &RuleSpec,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<String>, WriteError> {
        self.0.authorize(group_id, spec, tags).await
    }

    async fn revoke(
        &self,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
    ) -> Result<(), WriteError> {
        self.0.revoke(group_id, direction, rule_ids).await
    }

    async fn modify(&self, group_id: &str, rules: &[(String, RuleSpec)]) -> Result<(), WriteError> {
        let live = self.0.rules(group_id);
        let moving: BTreeSet<&String> = rules.iter().map(|(id, _)| id).collect();
        let staying: Vec<Meaning> = live
            .iter()
            .filter(|r| !moving.contains(&r.rule_id))
            .map(|r| r.spec.meaning())
            .collect();
        let mut after = BTreeSet::new();
        for (id, spec) in rules {
            let dir = live
                .iter()
                .find(|r| &r.rule_id == id)
                .map_or(spec.direction, |r| r.spec.direction);
            let m = Meaning {
                direction: dir,
                ..spec.meaning()
            };
            if staying.contains(&m) || !after.insert(m) {
                return Err(WriteError {
                    code: Some("InvalidPermission.Duplicate".into()),
                    message: format!("modify of {id} duplicates a rule"),
                });
            }
        }
        self.0.modify(group_id, rules).await
    }

    async fn create_tags(
        &self,
        rule_ids: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<(), WriteError> {
        self.0.create_tags(rule_ids, tags).await
    }

    async fn delete_tags(&self, rule_ids: &[String], keys: &[String]) -> Result<(), WriteError> {
        self.0.delete_tags(rule_ids, keys).await
    }
}

fn desired_of(g1: &GroupCase, g2: &GroupCase) -> Desired {
    let yesterday = today().checked_sub(1.day()).expect("date");
    let rules = |g: &GroupCase| -> Vec<R> {
        g.want
            .iter()
            .map(|w| {
                let mut r = rule(w.id);
                r.0.spec = w.spec.clone();
                r.0.tags = w.tags.clone();
                if w.expired {
                    r = r.expires(yesterday);
                }
                r
            })
            .collect()
    };
    desired()
        .group(G1, rules(g1))
        .file(
            ACCOUNT,
            REGION,
            GroupRef::Name {
                name: "g2".into(),
                vpc: VPC.into(),
            },
            rules(g2),
        )
        .build()
}

fn check(
    g1: GroupCase,
    g2: GroupCase,
    orphan: Vec<(RuleSpec, BTreeMap<String, String>)>,
) -> Result<(), TestCaseError> {
    let cfg = config();
    let d = desired_of(&g1, &g2);

    let mem = MemEc2::default();
    mem.add_group(G1, "g1", VPC);
    mem.add_group(G2, "g2", VPC);
    mem.add_group(ORPHAN, "old", VPC);
    for (g, have) in [(G1, &g1.have), (G2, &g2.have), (ORPHAN, &orphan)] {
        let mut seen = BTreeSet::new();
        for (s, t) in have {
            if seen.insert(s.meaning()) {
                mem.add_rule(g, s.clone(), t.clone());
            }
        }
    }
    let before: BTreeMap<String, LiveRule> = [G1, G2, ORPHAN]
        .iter()
        .flat_map(|g| mem.rules(g))
        .map(|r| (r.rule_id.clone(), r))
        .collect();

    futures::executor::block_on(async {
        let p = run_plan(&cfg, &d, &read_mem(&mem, &d).await, &allow_all());
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        prop_assert!(p.changes.iter().all(|c| c.allowed));
        let results = apply_plan(&Strict(&mem), &p).await;
        for r in &results {
            prop_assert_eq!(
                r.status,
                Status::Applied,
                "{:?} {}: {:?}\n{}",
                r.change.action,
                r.change.rule,
                r.message,
                render::text(&p, false)
            );
        }

        // Managed rules are exactly the desired ones, with every tag they should carry; the
        // only other tags they may carry are ones someone else put on that very rule before.
        for g in [G1, G2, ORPHAN] {
            let want = wanted(&cfg, &d, g);
            let mut have = Vec::new();
            for r in mem.rules(g) {
                let Some(id) = r.tags.get(RULE_TAG).cloned() else {
                    continue;
                };
                let mut tags = r.tags.clone();
                tags.retain(|k, _| !k.starts_with("aws:"));
                let wanted_keys: BTreeSet<&String> = want
                    .iter()
                    .filter(|w| w.0 == id)
                    .flat_map(|w| w.2.keys())
                    .collect();
                let extra: Vec<(String, String)> = tags
                    .iter()
                    .filter(|(k, _)| !wanted_keys.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, v) in &extra {
                    let had = before.get(&r.rule_id).and_then(|b| b.tags.get(k));
                    prop_assert_eq!(had, Some(v), "sgops set tag {} on {}", k, r.rule_id);
                    tags.remove(k);
                }
                have.push((id, r.spec, tags));
            }
            have.sort();
            prop_assert_eq!(have, want, "group {}\n{}", g, render::text(&p, false));
        }
        // Untagged rules are as they were, unless adopted; `aws:` tags are never removed.
        let after: BTreeMap<String, LiveRule> = [G1, G2, ORPHAN]
            .iter()
            .flat_map(|g| mem.rules(g))
            .map(|r| (r.rule_id.clone(), r))
            .collect();
        for (id, old) in &before {
            if !old.tags.contains_key(RULE_TAG) {
                let now = after.get(id);
                prop_assert!(now.is_some(), "untagged rule {} was revoked", id);
                let now = now.expect("checked");
                if now.tags.contains_key(RULE_TAG) {
                    prop_assert_eq!(now.spec.meaning(), old.spec.meaning(), "adopted {}", id);
                    prop_assert!(
                        p.changes.iter().any(|c| c.live_rule_id.as_ref() == Some(id)
                            && c.action == sgops::plan::Action::Adopt),
                        "{} tagged without an adopt",
                        id
                    );
                } else {
                    prop_assert_eq!(now, old, "untagged rule changed");
                }
            }
            if let Some(now) = after.get(id) {
                for (k, v) in old.tags.iter().filter(|(k, _)| k.starts_with("aws:")) {
                    prop_assert_eq!(now.tags.get(k), Some(v), "aws tag of {}", id);
                }
                // A tag sgops did not set (not in the rule's record; for a rule without one,
                // not a tag sgops wants) is never deleted.
                let recorded: BTreeSet<&str> = match old.tags.get(TAGS_TAG) {
                    Some(r) => r.split(',').collect(),
                    None => wanted_tag_keys(&cfg, &d, old),
                };
                for (k, _) in old
                    .tags
                    .iter()
                    .filter(|(k, _)| !recorded.contains(k.as_str()) && !k.starts_with("sgops:"))
                {
                    prop_assert!(now.tags.contains_key(k), "tag {} of {} deleted", k, id);
                }
            }
        }

        let again = run_plan(&cfg, &d, &read_mem(&mem, &d).await, &allow_all());
        prop_assert!(
            !again.has_changes() && again.errors.is_empty(),
            "second plan:\n{}\nfirst plan:\n{}",
            render::text(&again, false),
            render::text(&p, false)
        );
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn apply_converges_to_the_desired_state(
        g1 in group_strategy(),
        g2 in group_strategy(),
        orphan in prop::collection::vec(have_strategy(), 0..4),
    ) {
        check(g1, g2, orphan)?;
    }
}

/// The generator does reach every action (a property over cases that never adopt would
/// prove little).
#[test]
fn the_generator_reaches_every_action() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let cfg = config();
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..256 {
        let g1 = group_strategy()
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let g2 = group_strategy()
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let d = desired_of(&g1, &g2);
        let mem = MemEc2::default();
        mem.add_group(G1, "g1", VPC);
        mem.add_group(G2, "g2", VPC);
        for (g, have) in [(G1, &g1.have), (G2, &g2.have)] {
            for (s, t) in have {
                mem.add_rule(g, s.clone(), t.clone());
            }
        }
        let p = futures::executor::block_on(async {
            run_plan(&cfg, &d, &read_mem(&mem, &d).await, &allow_all())
        });
        seen.extend(p.changes.iter().map(|c| c.action));
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
}

/// The keys of the tags sgops sets on the desired rule whose id `r` carries (none when it
/// carries none, or no desired rule has it).
fn wanted_tag_keys<'a>(
    cfg: &'a sgops::config::Config,
    d: &'a Desired,
    r: &LiveRule,
) -> BTreeSet<&'a str> {
    let Some(id) = r.tags.get(RULE_TAG) else {
        return BTreeSet::new();
    };
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for rule in d
        .files
        .iter()
        .flat_map(|f| &f.rules)
        .filter(|x| &x.id == id)
    {
        keys.extend(rule.tags.keys().map(String::as_str));
        keys.extend(cfg.rule_tags.keys().map(String::as_str));
    }
    keys
}
