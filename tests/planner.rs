//! The planner, exhaustively, with in-memory desired and live state: every action of SPEC
//! section 5, ownership, errors, the quota pre-flight, the allow-list, determinism and the
//! fingerprint; and the three renderers by snapshot.

mod builders;

use builders::*;
use jiff::ToSpan;
use sgops::allowlist::Allowlist;
use sgops::config::{RULE_TAG, TAGS_TAG};
use sgops::plan::{Action, Change, Op, Plan, PlanError, Summary};
use sgops::render;
use sgops::rules::{Direction, GroupRef, Peer, Ports, Protocol, RuleSpec};

const G: &str = "sg-0a1b2c3d4e5f67890";
const G2: &str = "sg-0fedcba9876543210";
const FILE: &str = "rules/app/us-east-1/sg-0a1b2c3d4e5f67890.yaml";

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The one change of a plan, with the plan shown when there is not exactly one.
fn only(p: &Plan) -> &Change {
    assert_eq!(p.changes.len(), 1, "{}", render::text(p, false));
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    &p.changes[0]
}

/// `(rule, action)` of every change, in plan order.
fn actions(p: &Plan) -> Vec<(&str, Action)> {
    p.changes
        .iter()
        .map(|c| (c.rule.as_str(), c.action))
        .collect()
}

fn plan_all(d: &sgops::rules::Desired, live: &LiveB) -> Plan {
    run_plan(&config(), d, &live.build(), &allow_all())
}

fn all_peer_kinds() -> Vec<R> {
    vec![
        rule("v4").tag("team", "payments"),
        rule("v6").peer(cidr6("2001:db8::/32")).port(8443),
        rule("pl")
            .peer(Peer::PrefixList("pl-0123456789abcdef0".into()))
            .egress(),
        rule("sg")
            .peer(Peer::SecurityGroup("sg-0123456789abcdef0".into()))
            .proto(Protocol::All, Ports::NotApplicable),
        rule("ping").proto(
            Protocol::Icmp,
            Ports::Icmp {
                icmp_type: 8,
                code: -1,
            },
        ),
        rule("dns")
            .egress()
            .proto(Protocol::Udp, Ports::Range { from: 53, to: 53 }),
    ]
}

#[test]
fn live_state_that_matches_plans_nothing() {
    let cfg = config();
    let d = desired().group(G, all_peer_kinds()).build();
    let live = LiveB::from_desired(&cfg, &d);
    let p = plan_all(&d, &live);
    assert!(!p.has_changes(), "{}", render::text(&p, false));
    assert!(p.errors.is_empty());
    assert_eq!(p.summary, Summary::default());
    assert_eq!(
        render::text(&p, false),
        "No changes. Live security-group rules match the rule files.\n"
    );
}

#[test]
fn create_authorizes_with_every_tag() {
    let cfg = config();
    let a = rule("a").tag("team", "payments");
    let b = rule("b").egress().port(53);
    let d = desired().group(G, vec![a.clone(), b.clone()]).build();
    let p = plan_all(&d, &LiveB::empty(&d));
    assert_eq!(actions(&p), [("a", Action::Create), ("b", Action::Create)]);
    let c = &p.changes[0];
    assert_eq!(c.account, ACCOUNT);
    assert_eq!(c.account_id, ACCOUNT_ID);
    assert_eq!(c.region, REGION);
    assert_eq!(c.security_group, G);
    assert_eq!(c.api_actions, strs(&["authorize_security_group_ingress"]));
    assert!(c.allowed);
    assert_eq!(c.live_rule_id, None);
    assert_eq!(c.before, None);
    assert_eq!(c.file.as_deref(), Some(FILE));
    let want_tags = tags(&[
        (RULE_TAG, "a"),
        (TAGS_TAG, "team,vpcx:skip_enforcement"),
        ("team", "payments"),
        (RULE_TAGS_KEY, "yes"),
    ]);
    assert_eq!(full_tags(&cfg, &a.0), want_tags);
    assert_eq!(
        c.ops,
        [Op::Authorize {
            spec: a.spec(),
            tags: want_tags.clone()
        }]
    );
    let after = c.after.as_ref().expect("after");
    assert_eq!(after.id.as_deref(), Some("a"));
    assert_eq!(after.ticket.as_deref(), Some("CHG-1"));
    assert_eq!(after.spec().expect("spec"), a.spec());
    assert_eq!(after.tags, want_tags);
    assert_eq!(
        p.changes[1].api_actions,
        strs(&["authorize_security_group_egress"])
    );
    assert_eq!(
        p.summary,
        Summary {
            create: 2,
            ..Summary::default()
        }
    );
}

#[test]
fn every_peer_kind_is_created() {
    let d = desired().group(G, all_peer_kinds()).build();
    let p = plan_all(&d, &LiveB::empty(&d));
    assert_eq!(p.summary.create, 6);
    for c in &p.changes {
        let want = d.files[0]
            .rules
            .iter()
            .find(|r| r.id == c.rule)
            .expect("desired");
        match &c.ops[..] {
            [Op::Authorize { spec, .. }] => assert_eq!(spec, &want.spec),
            ops => panic!("{ops:?}"),
        }
    }
}

#[test]
fn adopt_tags_an_untagged_rule_that_is_exactly_it() {
    let cfg = config();
    let a = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::empty(&d);
    let rid = live.add_untagged(G, a.spec());
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Adopt);
    assert_eq!(c.live_rule_id.as_deref(), Some(rid.as_str()));
    assert_eq!(
        c.ops,
        [Op::CreateTags {
            rule_id: rid,
            tags: full_tags(&cfg, &a.0)
        }]
    );
    assert_eq!(c.api_actions, strs(&["create_tags"]));
    assert_eq!(c.before.as_ref().map(|b| b.id.as_deref()), Some(None));
    assert_eq!(p.summary.adopt, 1);
}

#[test]
fn adopt_brings_a_different_description_in_line() {
    let cfg = config();
    let a = rule("a").desc(Some("Partner callbacks"));
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::empty(&d);
    let rid = live.add_untagged(G, a.clone().desc(Some("made by hand")).spec());
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Adopt);
    assert_eq!(
        c.ops,
        [
            Op::CreateTags {
                rule_id: rid.clone(),
                tags: full_tags(&cfg, &a.0)
            },
            Op::Modify {
                rule_id: rid,
                spec: a.spec()
            }
        ]
    );
    assert_eq!(
        c.api_actions,
        strs(&["create_tags", "modify_security_group_rules"])
    );
    assert!(c.allowed);

    // Without modify the adoption is denied, not turned into anything else.
    let p = run_plan(
        &cfg,
        &d,
        &live.build(),
        &allow_all_but(&["modify_security_group_rules"]),
    );
    let c = only(&p);
    assert_eq!(c.action, Action::Adopt);
    assert!(!c.allowed);
    assert_eq!(p.summary.denied, 1);
}

#[test]
fn adopt_keeps_aws_tags_of_the_adopted_rule() {
    let cfg = config();
    let a = rule("a");
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::empty(&d);
    let rid = live.add(
        G,
        a.spec(),
        tags(&[("aws:cloudformation:stack-name", "base")]),
    );
    let c = only(&plan_all(&d, &live)).clone();
    assert_eq!(c.action, Action::Adopt);
    assert_eq!(
        c.ops,
        [Op::CreateTags {
            rule_id: rid,
            tags: full_tags(&cfg, &a.0)
        }]
    );
}

#[test]
fn update_modifies_ports_peer_protocol_or_description_in_place() {
    let cfg = config();
    let a = rule("a").port(443).desc(Some("Partner"));
    let d = desired().group(G, vec![a.clone()]).build();
    let edits: Vec<(&str, RuleSpec)> = vec![
        ("ports", a.clone().port(8443).spec()),
        ("peer", a.clone().cidr("10.1.0.0/16").spec()),
        (
            "protocol",
            a.clone()
                .proto(Protocol::Udp, Ports::Range { from: 443, to: 443 })
                .spec(),
        ),
        ("description", a.clone().desc(Some("old words")).spec()),
        ("no description", a.clone().desc(None).spec()),
    ];
    for (what, live_spec) in edits {
        let mut live = LiveB::from_desired(&cfg, &d);
        live.rule(G, "a").spec = live_spec.clone();
        let rid = live.rule(G, "a").rule_id.clone();
        let p = plan_all(&d, &live);
        let c = only(&p);
        assert_eq!(c.action, Action::Update, "{what}");
        assert_eq!(
            c.ops,
            [Op::Modify {
                rule_id: rid.clone(),
                spec: a.spec()
            }],
            "{what}"
        );
        assert_eq!(
            c.api_actions,
            strs(&["modify_security_group_rules"]),
            "{what}"
        );
        assert_eq!(c.live_rule_id.as_deref(), Some(rid.as_str()));
        assert_eq!(
            c.before.as_ref().expect("before").spec().expect("spec"),
            live_spec
        );
        assert_eq!(
            c.after.as_ref().expect("after").spec().expect("spec"),
            a.spec()
        );
        assert_eq!(c.file.as_deref(), Some(FILE));
        assert_eq!(p.summary.update, 1);
    }
}

#[test]
fn update_also_fixes_tags() {
    let cfg = config();
    let a = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    let r = live.rule(G, "a");
    r.spec = a.clone().port(8443).spec();
    r.tags.remove("team");
    sgops_set(r, "stale", "1");
    let rid = r.rule_id.clone();
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Update);
    assert_eq!(
        c.ops,
        [
            Op::Modify {
                rule_id: rid.clone(),
                spec: a.spec()
            },
            Op::CreateTags {
                rule_id: rid.clone(),
                tags: tags(&[
                    ("team", "payments"),
                    (TAGS_TAG, "team,vpcx:skip_enforcement")
                ])
            },
            Op::DeleteTags {
                rule_id: rid,
                keys: strs(&["stale"])
            },
        ]
    );
    assert_eq!(
        c.api_actions,
        strs(&["modify_security_group_rules", "create_tags", "delete_tags"])
    );
}

#[test]
fn replace_when_modify_is_not_allowed() {
    let cfg = config();
    let a = rule("a").port(443);
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec = a.clone().port(8443).spec();
    let rid = live.rule(G, "a").rule_id.clone();
    let p = run_plan(
        &cfg,
        &d,
        &live.build(),
        &allow_all_but(&["modify_security_group_rules"]),
    );
    let c = only(&p);
    assert_eq!(c.action, Action::Replace);
    assert!(c.allowed);
    // Make before break: the new rule first, then the old one goes.
    assert_eq!(
        c.ops,
        [
            Op::Authorize {
                spec: a.spec(),
                tags: full_tags(&cfg, &a.0)
            },
            Op::Revoke {
                direction: Direction::Ingress,
                rule_id: rid
            }
        ]
    );
    assert_eq!(
        c.api_actions,
        strs(&[
            "authorize_security_group_ingress",
            "revoke_security_group_ingress"
        ])
    );
    assert_eq!(p.summary.replace, 1);

    // Neither modify nor revoke allowed: nothing can do it; the update is shown denied.
    let p = run_plan(
        &cfg,
        &d,
        &live.build(),
        &allow_all_but(&[
            "modify_security_group_rules",
            "revoke_security_group_ingress",
        ]),
    );
    let c = only(&p);
    assert_eq!(c.action, Action::Update);
    assert!(!c.allowed);
}

#[test]
fn replace_when_the_direction_changed_even_if_modify_is_allowed() {
    let cfg = config();
    let a = rule("a").egress();
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec.direction = Direction::Ingress;
    let rid = live.rule(G, "a").rule_id.clone();
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Replace);
    assert_eq!(
        c.ops,
        [
            Op::Authorize {
                spec: a.spec(),
                tags: full_tags(&cfg, &a.0)
            },
            Op::Revoke {
                direction: Direction::Ingress,
                rule_id: rid
            }
        ]
    );
    assert_eq!(
        c.api_actions,
        strs(&[
            "authorize_security_group_egress",
            "revoke_security_group_ingress"
        ])
    );
}

#[test]
fn retag_adds_changes_and_removes_tags_but_keeps_aws_tags() {
    let cfg = config();
    let a = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![a]).build();

    // A missing tag and a changed rule_tags value: one create_tags.
    let mut live = LiveB::from_desired(&cfg, &d);
    let r = live.rule(G, "a");
    r.tags.remove("team");
    r.tags.insert(RULE_TAGS_KEY.into(), "no".into());
    let rid = r.rule_id.clone();
    let c = only(&plan_all(&d, &live)).clone();
    assert_eq!(c.action, Action::Retag);
    assert_eq!(
        c.ops,
        [Op::CreateTags {
            rule_id: rid.clone(),
            tags: tags(&[("team", "payments"), (RULE_TAGS_KEY, "yes")])
        }]
    );
    assert_eq!(c.api_actions, strs(&["create_tags"]));

    // A tag sgops set that is no longer in the file goes; `aws:` tags stay.
    let mut live = LiveB::from_desired(&cfg, &d);
    let r = live.rule(G, "a");
    sgops_set(r, "owner", "bob");
    r.tags
        .insert("aws:cloudformation:stack-name".into(), "base".into());
    let rid = r.rule_id.clone();
    let c = only(&plan_all(&d, &live)).clone();
    assert_eq!(c.action, Action::Retag);
    assert_eq!(
        c.ops,
        [
            Op::CreateTags {
                rule_id: rid.clone(),
                tags: tags(&[(TAGS_TAG, "team,vpcx:skip_enforcement")])
            },
            Op::DeleteTags {
                rule_id: rid,
                keys: strs(&["owner"])
            }
        ]
    );
    assert_eq!(c.api_actions, strs(&["create_tags", "delete_tags"]));

    // Only an `aws:` tag extra: nothing to do.
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a")
        .tags
        .insert("aws:cloudformation:stack-name".into(), "base".into());
    assert!(!plan_all(&d, &live).has_changes());
}

#[test]
fn delete_revokes_a_managed_rule_no_longer_desired() {
    let cfg = config();
    let d = desired().group(G, vec![rule("keep")]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    let gone = rule("gone").port(8443).tag("team", "x");
    let rid = live.add(G, gone.spec(), full_tags(&cfg, &gone.0));
    let gone_out = rule("gone-out").egress().port(53);
    let rid_out = live.add(G, gone_out.spec(), full_tags(&cfg, &gone_out.0));
    let p = plan_all(&d, &live);
    assert_eq!(
        actions(&p),
        [("gone", Action::Delete), ("gone-out", Action::Delete)]
    );
    let c = &p.changes[0];
    assert_eq!(
        c.ops,
        [Op::Revoke {
            direction: Direction::Ingress,
            rule_id: rid.clone()
        }]
    );
    assert_eq!(c.api_actions, strs(&["revoke_security_group_ingress"]));
    assert_eq!(c.live_rule_id.as_deref(), Some(rid.as_str()));
    assert_eq!(c.after, None);
    assert_eq!(c.file, None);
    assert_eq!(
        c.before.as_ref().expect("before").spec().expect("spec"),
        gone.spec()
    );
    assert_eq!(
        p.changes[1].ops,
        [Op::Revoke {
            direction: Direction::Egress,
            rule_id: rid_out
        }]
    );
    assert_eq!(
        p.changes[1].api_actions,
        strs(&["revoke_security_group_egress"])
    );
    assert_eq!(p.summary.delete, 2);
}

#[test]
fn expired_rules_are_deleted_on_and_after_their_date() {
    let cfg = config();
    let t = today();
    let yesterday = t.checked_sub(1.day()).expect("date");
    let tomorrow = t.checked_add(1.day()).expect("date");
    let live_d = desired()
        .group(
            G,
            vec![
                rule("today").port(1),
                rule("yesterday").port(2),
                rule("tomorrow").port(3),
            ],
        )
        .build();
    let live = LiveB::from_desired(&cfg, &live_d);
    let d = desired()
        .group(
            G,
            vec![
                rule("today").port(1).expires(t),
                rule("yesterday").port(2).expires(yesterday),
                rule("tomorrow").port(3).expires(tomorrow),
                // Expired and never created: nothing to do.
                rule("long-gone").port(4).expires(yesterday),
            ],
        )
        .build();
    let p = plan_all(&d, &live);
    assert_eq!(
        actions(&p),
        [("today", Action::Delete), ("yesterday", Action::Delete)]
    );
    assert!(p.changes.iter().all(|c| matches!(
        c.ops[..],
        [Op::Revoke {
            direction: Direction::Ingress,
            ..
        }]
    )));
    // The delete of an expired rule still names the file that declares it.
    assert!(
        p.changes.iter().all(|c| c.file.is_some()),
        "{:?}",
        p.changes
    );
}

#[test]
fn a_renamed_id_is_retagged_not_replaced() {
    let cfg = config();
    let new = rule("new-name").desc(Some("same rule"));
    let d = desired().group(G, vec![new.clone()]).build();
    let mut live = LiveB::empty(&d);
    let old = rule("old-name").desc(Some("same rule"));
    let rid = live.add(G, old.spec(), full_tags(&cfg, &old.0));
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Retag);
    assert_eq!(c.rule, "new-name");
    assert_eq!(c.live_rule_id.as_deref(), Some(rid.as_str()));
    assert_eq!(
        c.ops,
        [Op::CreateTags {
            rule_id: rid.clone(),
            tags: tags(&[(RULE_TAG, "new-name")])
        }]
    );

    // Renamed and re-described: still the same AWS rule, so modified in place.
    let new = new.desc(Some("new words"));
    let d = desired().group(G, vec![new.clone()]).build();
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Update);
    assert_eq!(
        c.ops,
        [
            Op::Modify {
                rule_id: rid.clone(),
                spec: new.spec()
            },
            Op::CreateTags {
                rule_id: rid,
                tags: tags(&[(RULE_TAG, "new-name")])
            }
        ]
    );
}

#[test]
fn untagged_rules_are_never_changed_or_revoked() {
    let cfg = config();
    // Nothing desired any more in this group (a file with `rules: []`).
    let d = desired().group(G, vec![]).build();
    let mut live = LiveB::empty(&d);
    let baseline = [
        live.add_untagged(G, spec(22, cidr("10.0.0.0/8"), Some("baseline ssh"))),
        live.add_untagged(G, spec(443, cidr6("::/0"), None)),
        live.add(
            G,
            spec(80, cidr("0.0.0.0/0"), None),
            tags(&[("Name", "fms")]),
        ),
    ];
    let m = rule("managed");
    let managed = live.add(G, m.spec(), full_tags(&cfg, &m.0));
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Delete);
    assert_eq!(c.live_rule_id.as_deref(), Some(managed.as_str()));

    // Desired rules that differ from the baseline leave it alone too.
    let d = desired()
        .group(
            G,
            vec![rule("a").port(22).cidr("10.1.0.0/16"), rule("b").port(8080)],
        )
        .build();
    let p = plan_all(&d, &live);
    for c in &p.changes {
        assert!(
            c.live_rule_id
                .as_ref()
                .is_none_or(|id| !baseline.contains(id)),
            "{c:?}"
        );
    }
    assert_eq!(
        actions(&p),
        [
            ("a", Action::Create),
            ("b", Action::Create),
            ("managed", Action::Delete)
        ]
    );
}

#[test]
fn duplicate_live_copies_of_one_id_keep_one() {
    let cfg = config();
    let a = rule("a");
    let d = desired().group(G, vec![a.clone()]).build();

    // One copy matches: the other is revoked, the match is left alone.
    let mut live = LiveB::from_desired(&cfg, &d);
    let good = live.rule(G, "a").rule_id.clone();
    let extra = live.add(G, a.clone().port(8443).spec(), full_tags(&cfg, &a.0));
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Delete);
    assert_eq!(c.rule, "a");
    assert_eq!(c.live_rule_id.as_deref(), Some(extra.as_str()));
    assert_ne!(extra, good);

    // No copy matches: one is updated, the other revoked.
    let mut live = LiveB::empty(&d);
    let one = live.add(G, a.clone().port(1).spec(), full_tags(&cfg, &a.0));
    let two = live.add(G, a.clone().port(2).spec(), full_tags(&cfg, &a.0));
    let p = plan_all(&d, &live);
    assert_eq!(p.changes.len(), 2, "{}", render::text(&p, false));
    let upd = p
        .changes
        .iter()
        .find(|c| c.action == Action::Update)
        .expect("update");
    let del = p
        .changes
        .iter()
        .find(|c| c.action == Action::Delete)
        .expect("delete");
    let mut ids = vec![
        upd.live_rule_id.clone().expect("id"),
        del.live_rule_id.clone().expect("id"),
    ];
    ids.sort();
    assert_eq!(ids, [one, two]);
}

#[test]
fn managed_rules_of_orphan_groups_are_deleted() {
    let cfg = config();
    let d = desired().group(G, vec![rule("a")]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    let x = rule("x").egress();
    live.orphan(
        ACCOUNT,
        REGION,
        "sg-0000000000000dead",
        vec![
            (x.spec(), full_tags(&cfg, &x.0)),
            (spec(22, cidr("10.0.0.0/8"), Some("baseline")), tags(&[])),
        ],
    );
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Delete);
    assert_eq!(c.rule, "x");
    assert_eq!(c.security_group, "sg-0000000000000dead");
    assert_eq!(c.api_actions, strs(&["revoke_security_group_egress"]));
    assert_eq!(c.file, None);
}

#[test]
fn a_target_that_cannot_be_read_is_an_error_and_others_go_on() {
    let d = desired()
        .group(G, vec![rule("a")])
        .file(
            OTHER_ACCOUNT,
            REGION,
            GroupRef::Id(G2.into()),
            vec![rule("b")],
        )
        .build();
    let mut live = LiveB::empty(&d);
    live.fail_target(
        OTHER_ACCOUNT,
        REGION,
        "AssumeRole arn:aws:iam::222222222222:role/sgops-reconciler: AccessDenied",
    );
    let p = plan_all(&d, &live);
    assert_eq!(actions(&p), [("a", Action::Create)]);
    assert_eq!(
        p.errors,
        [PlanError {
            account: OTHER_ACCOUNT.into(),
            region: REGION.into(),
            message: "AssumeRole arn:aws:iam::222222222222:role/sgops-reconciler: AccessDenied"
                .into()
        }]
    );
}

#[test]
fn a_group_that_does_not_resolve_is_an_error_for_its_target() {
    let cfg = config();
    let named = GroupRef::Name {
        name: "payments".into(),
        vpc: "vpc-0123456789abcdef0".into(),
    };
    let d = desired()
        .group(G, vec![rule("a")])
        .group(G2, vec![rule("b")])
        .file(ACCOUNT, REGION, named.clone(), vec![rule("c")])
        .build();
    let mut live = LiveB::empty(&d);
    live.fail_group(
        ACCOUNT,
        REGION,
        GroupRef::Id(G2.into()),
        "security group sg-0fedcba9876543210 does not exist",
    );
    live.fail_group(
        ACCOUNT,
        REGION,
        named,
        "2 security groups are named `payments` in vpc-0123456789abcdef0: name the group by id",
    );
    let p = run_plan(&cfg, &d, &live.build(), &allow_all());
    assert_eq!(actions(&p), [("a", Action::Create)]);
    let msgs: Vec<&str> = p.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "security group payments in vpc-0123456789abcdef0: 2 security groups are named `payments` in vpc-0123456789abcdef0: name the group by id",
            "security group sg-0fedcba9876543210 does not exist",
        ]
    );
    assert!(
        p.errors
            .iter()
            .all(|e| e.account == ACCOUNT && e.region == REGION)
    );

    // A group the reader never returned is an error, not a panic.
    let mut live = LiveB::empty(&d);
    live.map
        .get_mut(&target(ACCOUNT, REGION))
        .and_then(|t| t.as_mut().ok())
        .expect("target")
        .groups
        .remove(&GroupRef::Id(G2.into()));
    let p = plan_all(&d, &live);
    assert!(
        p.errors
            .iter()
            .any(|e| e.message == format!("security group {G2} was not read")),
        "{:?}",
        p.errors
    );
}

fn quota_config(n: usize) -> sgops::config::Config {
    let mut c = config();
    c.quotas.rules_per_group = n;
    c
}

fn quota_errors(
    cfg: &sgops::config::Config,
    d: &sgops::rules::Desired,
    live: &LiveB,
    allow: &Allowlist,
) -> Vec<String> {
    run_plan(cfg, d, &live.build(), allow)
        .errors
        .into_iter()
        .map(|e| e.message)
        .collect()
}

#[test]
fn quota_counts_ipv4_and_ipv6_and_directions_apart() {
    let cfg = quota_config(3);
    let d = desired()
        .group(
            G,
            vec![
                rule("v6").peer(cidr6("2001:db8::/32")),
                rule("out").egress(),
            ],
        )
        .build();
    let mut live = LiveB::empty(&d);
    for p in 1..=3 {
        live.add_untagged(G, spec(p, cidr("10.0.0.0/8"), None));
    }
    assert_eq!(
        quota_errors(&cfg, &d, &live, &allow_all()),
        Vec::<String>::new()
    );

    // One more IPv4 ingress rule is over.
    let d = desired()
        .group(
            G,
            vec![
                rule("v6").peer(cidr6("2001:db8::/32")),
                rule("out").egress(),
                rule("v4"),
            ],
        )
        .build();
    let p = run_plan(&cfg, &d, &live.build(), &allow_all());
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert_eq!(p.errors[0].account, ACCOUNT);
    assert_eq!(p.errors[0].region, REGION);
    assert_eq!(
        p.errors[0].message,
        format!(
            "security group {G}: the change would need 4 ingress IPv4 rules, over the quota of 3 per direction and family (quotas.rules_per_group); nothing is applied to this account and region"
        )
    );

    // IPv6 is counted on its own.
    let d = desired()
        .group(G, vec![rule("v6").peer(cidr6("2001:db8::/32"))])
        .build();
    let mut live = LiveB::empty(&d);
    for p in 1..=3 {
        live.add_untagged(G, spec(p, cidr6("2001:db8:1::/48"), None));
    }
    let errs = quota_errors(&cfg, &d, &live, &allow_all());
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("4 ingress IPv6 rules"), "{errs:?}");
}

#[test]
fn quota_counts_prefix_lists_and_group_references_with_ipv4() {
    let cfg = quota_config(3);
    let d = desired()
        .group(
            G,
            vec![
                rule("pl").peer(Peer::PrefixList("pl-0123456789abcdef0".into())),
                rule("sg").peer(Peer::SecurityGroup("sg-0123456789abcdef0".into())),
            ],
        )
        .build();
    let mut live = LiveB::empty(&d);
    live.add_untagged(G, spec(22, cidr("10.0.0.0/8"), None));
    assert_eq!(
        quota_errors(&cfg, &d, &live, &allow_all()),
        Vec::<String>::new()
    );
    live.add_untagged(G, spec(23, cidr("10.0.0.0/8"), None));
    let errs = quota_errors(&cfg, &d, &live, &allow_all());
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("4 ingress IPv4 rules"), "{errs:?}");
}

/// AWS counts a prefix-list rule as the list's max entries, in the list's address family;
/// a list that was not found counts as one IPv4 rule.
#[test]
fn quota_weighs_prefix_lists_by_max_entries_and_family() {
    const PL: &str = "pl-0123456789abcdef0";
    let cfg = quota_config(10);
    let d = desired()
        .group(G, vec![rule("pl").peer(Peer::PrefixList(PL.into()))])
        .build();
    let mut live = LiveB::empty(&d);
    for p in 1..=5 {
        live.add_untagged(G, spec(p, cidr("10.0.0.0/8"), None));
    }
    assert_eq!(
        quota_errors(&cfg, &d, &live, &allow_all()),
        Vec::<String>::new(),
        "unknown size: one rule"
    );
    live.prefix_list(PL, 6, false);
    let errs = quota_errors(&cfg, &d, &live, &allow_all());
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("11 ingress IPv4 rules"), "{errs:?}");
    live.prefix_list(PL, 6, true);
    assert_eq!(
        quota_errors(&cfg, &d, &live, &allow_all()),
        Vec::<String>::new(),
        "an IPv6 list counts with IPv6 rules"
    );
    // Deleting a managed prefix-list rule frees its whole weight.
    let empty = desired().group(G, vec![]).build();
    let mut full = LiveB::empty(&empty);
    full.prefix_list(PL, 6, false);
    let pl_spec = rule("pl").peer(Peer::PrefixList(PL.into())).spec();
    full.add(G, pl_spec, tags(&[(RULE_TAG, "pl")]));
    for p in 1..=4 {
        full.add_untagged(G, spec(p, cidr("10.0.0.0/8"), None));
    }
    let d = desired()
        .group(
            G,
            (1..=5)
                .map(|i| rule(&format!("a{i}")).port(8080 + i))
                .collect(),
        )
        .build();
    let p = run_plan(&cfg, &d, &full.build(), &allow_all());
    assert_eq!(p.errors, [], "10 - 6 + 5 = 9 rules");
    assert_eq!(p.changes.len(), 6);
}

#[test]
fn a_group_over_the_quota_that_the_plan_does_not_grow_is_no_error() {
    let cfg = quota_config(3);
    let d = desired().group(G, vec![rule("a")]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    for p in 1..=3 {
        live.add_untagged(G, spec(p, cidr("10.0.0.0/8"), None));
    }
    // Four IPv4 ingress rules, nothing to change.
    let p = run_plan(&cfg, &d, &live.build(), &allow_all());
    assert!(!p.has_changes());
    assert_eq!(p.errors, []);
    // A retag does not add a rule either.
    live.rule(G, "a").tags.insert("stray".into(), "1".into());
    assert_eq!(
        quota_errors(&cfg, &d, &live, &allow_all()),
        Vec::<String>::new()
    );
}

#[test]
fn quota_counts_deletes_before_creates_and_replaced_rules_until_the_end() {
    let cfg = quota_config(3);
    let old = rule("old").port(9);
    let d = desired().group(G, vec![rule("new").port(10)]).build();
    let mut live = LiveB::empty(&d);
    live.add_untagged(G, spec(1, cidr("10.0.0.0/8"), None));
    live.add_untagged(G, spec(2, cidr("10.0.0.0/8"), None));
    live.add(G, old.spec(), full_tags(&cfg, &old.0));
    // 3 now, 2 after the delete, 3 after the create: fits.
    let p = run_plan(&cfg, &d, &live.build(), &allow_all());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        actions(&p),
        [("new", Action::Create), ("old", Action::Delete)]
    );

    // A replace holds both rules for a while: 4 at the fullest point.
    let d = desired().group(G, vec![rule("old").port(10)]).build();
    let no_modify = allow_all_but(&["modify_security_group_rules"]);
    let p = run_plan(&cfg, &d, &live.build(), &no_modify);
    assert_eq!(actions(&p), [("old", Action::Replace)]);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(p.errors[0].message.contains("4 ingress IPv4 rules"));
    // Modified in place instead, the count never rises.
    assert_eq!(
        quota_errors(&cfg, &d, &live, &allow_all()),
        Vec::<String>::new()
    );
}

#[test]
fn changes_whose_actions_are_not_listed_are_denied() {
    let cfg = config();
    let d = desired()
        .group(G, vec![rule("a"), rule("b").port(8443)])
        .build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.remove(G, "a");
    sgops_set(live.rule(G, "b"), "old", "x");

    // Matching is exact: a prefix of the action name allows nothing.
    let allow = Allowlist::with(
        "ec2",
        &["authorize_security_group", "create_tags", "delete_tag"],
    );
    let p = run_plan(&cfg, &d, &live.build(), &allow);
    assert_eq!(actions(&p), [("a", Action::Create), ("b", Action::Retag)]);
    assert!(p.changes.iter().all(|c| !c.allowed));
    assert_eq!(p.summary.denied, 2);
    assert_eq!(p.denied().count(), 2);

    // The same actions listed for another service allow nothing either.
    let other = Allowlist::with("ssm", ALL_ACTIONS);
    assert_eq!(run_plan(&cfg, &d, &live.build(), &other).summary.denied, 2);

    // Listed exactly: allowed.
    let allow = Allowlist::with(
        "ec2",
        &[
            "authorize_security_group_ingress",
            "create_tags",
            "delete_tags",
        ],
    );
    let p = run_plan(&cfg, &d, &live.build(), &allow);
    assert!(p.changes.iter().all(|c| c.allowed), "{p:?}");
    assert_eq!(p.summary.denied, 0);

    // A change is allowed only when every action it needs is.
    let d2 = desired().group(G, vec![rule("a").tag("team", "t")]).build();
    let mut live = LiveB::from_desired(&cfg, &d2);
    let r = live.rule(G, "a");
    r.tags.remove("team");
    sgops_set(r, "old", "x");
    let p = run_plan(
        &cfg,
        &d2,
        &live.build(),
        &Allowlist::with("ec2", &["create_tags"]),
    );
    let c = only(&p);
    assert_eq!(c.api_actions, strs(&["create_tags", "delete_tags"]));
    assert!(!c.allowed);
}

#[test]
fn a_description_only_change_without_modify_stays_a_denied_update() {
    let cfg = config();
    let a = rule("a").desc(Some("new words"));
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.rule(G, "a").spec.description = Some("old words".into());
    let p = run_plan(
        &cfg,
        &d,
        &live.build(),
        &allow_all_but(&["modify_security_group_rules"]),
    );
    let c = only(&p);
    // Authorizing the same AWS rule again would be a duplicate: no make-before-break.
    assert_eq!(c.action, Action::Update);
    assert!(!c.allowed);
    assert_eq!(c.api_actions, strs(&["modify_security_group_rules"]));
    assert_eq!(p.summary.denied, 1);
    assert_eq!(p.summary.replace, 0);
}

/// Desired and live state with something of everything, over two accounts.
fn busy_world() -> (sgops::rules::Desired, LiveB) {
    let cfg = config();
    let d = desired()
        .group(
            G,
            vec![
                rule("create").port(1),
                rule("adopt").port(2),
                rule("update").port(3),
                rule("replace").port(4).egress(),
                rule("retag").port(5).tag("team", "payments"),
                rule("same").port(6),
                rule("expired").port(7).expires(today()),
            ],
        )
        .group(G2, vec![rule("other").port(8), rule("also").port(9)])
        .file(
            OTHER_ACCOUNT,
            "eu-central-1",
            GroupRef::Id("sg-0000000000000000d".into()),
            vec![rule("data").cidr("172.16.0.0/12")],
        )
        .build();
    let mut live = LiveB::from_desired(&cfg, &d);
    live.remove(G, "create");
    live.remove(G, "adopt");
    live.add_untagged(G, rule("adopt").port(2).desc(Some("by hand")).spec());
    live.rule(G, "update").spec = rule("update").port(33).spec();
    live.rule(G, "replace").spec.direction = Direction::Ingress;
    live.rule(G, "retag").tags.remove("team");
    let x = rule("expired").port(7);
    live.add(G, x.spec(), full_tags(&cfg, &x.0));
    let gone = rule("gone").port(10);
    live.add(G2, gone.spec(), full_tags(&cfg, &gone.0));
    live.add_untagged(G2, spec(22, cidr("10.0.0.0/8"), Some("baseline")));
    (d, live)
}

#[test]
fn same_input_gives_the_same_bytes() {
    let cfg = config();
    let (d, live) = busy_world();
    let a = run_plan(&cfg, &d, &live.build(), &allow_all());
    let b = run_plan(&cfg, &d, &live.build(), &allow_all());
    assert!(a.changes.len() >= 7, "{}", render::text(&a, false));
    assert_eq!(render::json(&a), render::json(&b));
    assert_eq!(render::text(&a, false), render::text(&b, false));
    assert_eq!(render::markdown(&a), render::markdown(&b));
}

#[test]
fn input_order_does_not_change_the_plan() {
    let cfg = config();
    let (d, live) = busy_world();
    let want = render::json(&run_plan(&cfg, &d, &live.build(), &allow_all()));

    // Files and the rules in them in another order.
    let mut shuffled = d.clone();
    shuffled.files.reverse();
    for f in &mut shuffled.files {
        f.rules.reverse();
    }
    shuffled.files.rotate_left(1);
    assert_ne!(shuffled, d);
    assert_eq!(
        render::json(&run_plan(&cfg, &shuffled, &live.build(), &allow_all())),
        want
    );

    // The same rule file split in two.
    let mut split = d.clone();
    let mut second = split.files[0].clone();
    second.rules = split.files[0].rules.split_off(3);
    split.files.push(second);
    assert_eq!(
        render::json(&run_plan(&cfg, &split, &live.build(), &allow_all())),
        want
    );
}

#[test]
fn live_rule_order_does_not_change_the_plan() {
    let cfg = config();
    let (d, live) = busy_world();
    let want = render::json(&run_plan(&cfg, &d, &live.build(), &allow_all()));
    let mut reversed = live.build();
    for t in reversed.values_mut().filter_map(|t| t.as_mut().ok()) {
        for g in t.groups.values_mut().filter_map(|g| g.as_mut().ok()) {
            g.rules.reverse();
        }
    }
    assert_eq!(
        render::json(&run_plan(&cfg, &d, &reversed, &allow_all())),
        want
    );
}

#[test]
fn fingerprint_follows_desired_and_live_state_only() {
    let cfg = config();
    let (d, live) = busy_world();
    let fp = |cfg: &sgops::config::Config, d: &sgops::rules::Desired, l: &LiveB, a: &Allowlist| {
        run_plan(cfg, d, &l.build(), a).fingerprint
    };
    let base = fp(&cfg, &d, &live, &allow_all());
    assert!(base.starts_with("sha256:"), "{base}");
    assert_eq!(base.len(), "sha256:".len() + 64);
    assert_eq!(fp(&cfg, &d, &live, &allow_all()), base);

    // Not the allow-list: it decides what is allowed, not what the change is.
    assert_eq!(fp(&cfg, &d, &live, &allow_all_but(&["create_tags"])), base);

    // Each live edit changes it.
    let mut l = live.clone();
    l.rule(G, "same").spec.description = Some("edited".into());
    assert_ne!(fp(&cfg, &d, &l, &allow_all()), base, "live description");
    let mut l = live.clone();
    l.rule(G, "same").tags.insert("k".into(), "v".into());
    assert_ne!(fp(&cfg, &d, &l, &allow_all()), base, "live tag");
    let mut l = live.clone();
    l.add_untagged(G2, spec(3389, cidr("10.0.0.0/8"), None));
    assert_ne!(fp(&cfg, &d, &l, &allow_all()), base, "new unmanaged rule");
    let mut l = live.clone();
    l.rule(G, "same").rule_id = "sgr-0ffffffffffffffff".into();
    assert_ne!(fp(&cfg, &d, &l, &allow_all()), base, "live rule id");
    let mut l = live.clone();
    l.fail_target(OTHER_ACCOUNT, "eu-central-1", "AccessDenied");
    assert_ne!(fp(&cfg, &d, &l, &allow_all()), base, "read error");

    // Each desired edit changes it.
    let mut d2 = d.clone();
    d2.files[0].rules[0].spec.description = Some("edited".into());
    assert_ne!(
        fp(&cfg, &d2, &live, &allow_all()),
        base,
        "desired description"
    );
    let mut d2 = d.clone();
    d2.files[0].rules[0].tags.insert("team".into(), "x".into());
    assert_ne!(fp(&cfg, &d2, &live, &allow_all()), base, "desired tag");
    let mut d2 = d.clone();
    d2.files[1].rules.push(rule("more").port(11).0);
    assert_ne!(
        fp(&cfg, &d2, &live, &allow_all()),
        base,
        "desired rule added"
    );
}

#[test]
fn fingerprint_follows_rule_tags() {
    let cfg = config();
    let (d, live) = busy_world();
    let base = run_plan(&cfg, &d, &live.build(), &allow_all());
    let mut cfg2 = cfg.clone();
    cfg2.rule_tags.insert(RULE_TAGS_KEY.into(), "no".into());
    let other = run_plan(&cfg2, &d, &live.build(), &allow_all());
    assert_ne!(other.changes, base.changes, "the plans differ");
    assert_ne!(other.fingerprint, base.fingerprint);
}

// ---- renderers -------------------------------------------------------------------------------

/// One plan with every action, a denied change and an error.
fn representative_plan() -> Plan {
    let cfg = config();
    let (d, mut live) = busy_world();
    live.fail_target(
        OTHER_ACCOUNT,
        "eu-central-1",
        "AssumeRole arn:aws:iam::222222222222:role/sgops-reconciler: AccessDenied",
    );
    // An extra tag sgops set, whose removal is denied.
    sgops_set(live.rule(G2, "also"), "owner", "bob");
    let p = run_plan(&cfg, &d, &live.build(), &allow_all_but(&["delete_tags"]));
    let seen: std::collections::BTreeSet<Action> = p.changes.iter().map(|c| c.action).collect();
    assert_eq!(seen.len(), 6, "every action: {seen:?}");
    assert_eq!(p.summary.denied, 1);
    assert_eq!(p.errors.len(), 1);
    p
}

fn redacted(f: impl FnOnce()) {
    insta::with_settings!({
        filters => vec![(r"sha256:[0-9a-f]{64}", "sha256:[fingerprint]")],
        prepend_module_to_snapshot => false,
    }, { f() });
}

#[test]
fn text_snapshot() {
    let p = representative_plan();
    let out = render::text(&p, false);
    assert!(!out.contains('\u{1b}'), "no colour");
    redacted(|| insta::assert_snapshot!("planner_text", out));
    // In colour: the same text once the escapes are taken out, creates green, deletes red.
    let coloured = render::text(&p, true);
    assert!(coloured.contains("\u{1b}[32m  + create"), "{coloured}");
    assert!(coloured.contains("\u{1b}[31m  - delete"), "{coloured}");
    assert_eq!(strip_ansi(&coloured), out);
}

/// `text` without its ANSI colour escapes (`ESC [ … m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn markdown_snapshot() {
    let p = representative_plan();
    redacted(|| insta::assert_snapshot!("planner_markdown", render::markdown(&p)));
}

#[test]
fn json_snapshot() {
    let p = representative_plan();
    let out = render::json(&p);
    let back: Plan = serde_json::from_str(&out).expect("the JSON plan reads back");
    assert_eq!(back, p);
    redacted(|| insta::assert_snapshot!("planner_json", out));
}

#[test]
fn markdown_escapes_hostile_text() {
    assert_eq!(
        sgops::escape::markdown("<img src=x onerror=alert(1)>"),
        "&lt;img src=x onerror=alert(1)&gt;"
    );
    assert_eq!(sgops::escape::markdown("@octocat"), "@\u{200b}octocat");
    assert_eq!(sgops::escape::markdown("a|b"), "a&#124;b");
    assert_eq!(
        sgops::escape::markdown("**x** [l](u) `c`"),
        "\\*\\*x\\*\\* \\[l\\](u) \\`c\\`"
    );
    assert_eq!(sgops::escape::markdown("l1\nl2\r"), "l1 l2 ");

    let cfg = config();
    let hostile = "``` </details><script>x</script> @admins | [a](b)";
    let d = desired()
        .group(G, vec![rule("a").desc(Some(hostile))])
        .build();
    let mut p = run_plan(&cfg, &d, &LiveB::empty(&d).build(), &allow_all());
    // Account names and error text from AWS are not to be trusted either.
    p.changes[0].account = "evil|<b>@team</b>".into();
    p.errors.push(PlanError {
        account: "evil|<b>@team</b>".into(),
        region: REGION.into(),
        message: "AccessDenied for <img src=x> @here | `code`\n## heading".into(),
    });
    let md = render::markdown(&p);
    // The description stays inside its fence: only the renderer's own fences are there.
    assert_eq!(md.matches("```").count(), 2, "{md}");
    // Outside the fence, where Markdown and HTML are live, nothing hostile is left.
    for (i, part) in md.split("```").enumerate() {
        if i % 2 == 0 {
            for bad in ["<script", "<img", "<b>", "@here", "@team", "\n## heading"] {
                assert!(!part.contains(bad), "{bad} in {part}");
            }
        }
    }
    redacted(|| insta::assert_snapshot!("planner_markdown_hostile", md));
}

// ---- Tags sgops did not set (the record in `sgops:tags`) ------------------------------------

fn record(r: &sgops::live::LiveRule) -> Option<&str> {
    r.tags.get(TAGS_TAG).map(String::as_str)
}

#[test]
fn adopting_keeps_tags_sgops_did_not_set_and_says_so() {
    let a = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::empty(&d);
    // Firewall Manager's tag, the old API's rule tag (already right), and a team tag of its own.
    let rid = live.add(
        G,
        a.spec(),
        tags(&[
            ("fms:policy", "baseline"),
            (RULE_TAGS_KEY, "yes"),
            ("team", "platform"),
        ]),
    );
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Adopt);
    // Adopting only adds: `team` is overwritten (the file says so) and recorded; the rule tag
    // already had its value, so sgops did not set it and never records it.
    assert_eq!(
        c.ops,
        [Op::CreateTags {
            rule_id: rid.clone(),
            tags: tags(&[(RULE_TAG, "a"), (TAGS_TAG, "team"), ("team", "payments"),]),
        }]
    );
    let after = &c.after.as_ref().expect("after").tags;
    assert_eq!(
        after.get("fms:policy").map(String::as_str),
        Some("baseline")
    );
    assert_eq!(
        p.warnings,
        [PlanError {
            account: "app".into(),
            region: "us-east-1".into(),
            message: format!(
                "security group {G}: adopting {rid} as `a`, which carries tags sgops did not set (fms:policy): they are kept, and sgops will never delete them"
            ),
        }]
    );
    assert!(render::text(&p, false).contains("Warnings:\n  app us-east-1: security group"));
}

#[test]
fn adopting_a_rule_whose_tags_are_all_right_records_that_sgops_set_none_and_converges() {
    // The central API's rules carry the rule tags already: sgops sets only `sgops:rule`.
    let a = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::empty(&d);
    let rid = live.add(
        G,
        a.spec(),
        tags(&[(RULE_TAGS_KEY, "yes"), ("team", "payments")]),
    );
    let p = plan_all(&d, &live);
    let c = only(&p);
    assert_eq!(c.action, Action::Adopt);
    assert_eq!(
        c.ops,
        [Op::CreateTags {
            rule_id: rid.clone(),
            tags: tags(&[(RULE_TAG, "a"), (TAGS_TAG, "")]),
        }]
    );
    // Applied, the next plan has nothing to do (no retag to write a record).
    let after = c.after.as_ref().expect("after").tags.clone();
    let mut applied = LiveB::empty(&d);
    applied.add(G, a.spec(), after);
    assert_eq!(plan_all(&d, &applied).changes, []);
}

#[test]
fn a_tag_removed_from_the_file_is_deleted_only_when_sgops_set_it() {
    let cfg = config();
    let before = rule("a").tag("team", "payments").tag("cost", "42");
    let d0 = desired().group(G, vec![before.clone()]).build();
    let mut live = LiveB::from_desired(&cfg, &d0);
    // Someone else tags the managed rule too.
    live.rule(G, "a")
        .tags
        .insert("owner".into(), "someone-else".into());
    assert_eq!(
        record(live.rule(G, "a")),
        Some("cost,team,vpcx:skip_enforcement")
    );
    let after = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![after]).build();
    let p = plan_all(&d, &live);
    let c = only(&p);
    let rid = live.rule(G, "a").rule_id.clone();
    assert_eq!(c.action, Action::Retag);
    assert_eq!(
        c.ops,
        [
            Op::CreateTags {
                rule_id: rid.clone(),
                tags: tags(&[(TAGS_TAG, "team,vpcx:skip_enforcement")]),
            },
            Op::DeleteTags {
                rule_id: rid,
                keys: strs(&["cost"]),
            },
        ]
    );
    // `owner` was never sgops's: kept, and no warning (nothing is adopted).
    assert!(c.after.as_ref().expect("after").tags.contains_key("owner"));
    assert!(p.warnings.is_empty());
}

#[test]
fn a_rule_tag_dropped_from_sgops_yaml_is_deleted_where_sgops_set_it() {
    let cfg = config();
    let a = rule("a");
    let d = desired().group(G, vec![a]).build();
    let live = LiveB::from_desired(&cfg, &d);
    let mut without = config();
    without.rule_tags.clear();
    let p = run_plan(&without, &d, &live.build(), &allow_all());
    let c = only(&p);
    assert_eq!(c.action, Action::Retag);
    assert!(
        matches!(&c.ops[..], [Op::DeleteTags { keys, .. }] if keys == &strs(&[TAGS_TAG, RULE_TAGS_KEY])),
        "{:?}",
        c.ops
    );
}

#[test]
fn a_rule_managed_before_records_existed_gets_its_record_and_loses_nothing() {
    let cfg = config();
    let a = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![a]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    let r = live.rule(G, "a");
    r.tags.remove(TAGS_TAG);
    r.tags.insert("added-later".into(), "x".into());
    let rid = r.rule_id.clone();
    let c = only(&plan_all(&d, &live)).clone();
    assert_eq!(c.action, Action::Retag);
    assert_eq!(
        c.ops,
        [Op::CreateTags {
            rule_id: rid,
            tags: tags(&[(TAGS_TAG, "team,vpcx:skip_enforcement")]),
        }]
    );
}

#[test]
fn a_created_rule_carries_its_record_and_the_next_plan_is_empty() {
    let cfg = config();
    let a = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![a.clone()]).build();
    let p = plan_all(&d, &LiveB::empty(&d));
    let c = only(&p);
    match &c.ops[..] {
        [Op::Authorize { tags: t, .. }] => assert_eq!(t, &full_tags(&cfg, &a.0)),
        ops => panic!("{ops:?}"),
    }
    assert_eq!(
        full_tags(&cfg, &a.0).get(TAGS_TAG).map(String::as_str),
        Some("team,vpcx:skip_enforcement")
    );
}

// ---- Untrusted text in the terminal plan ------------------------------------------------------

#[test]
fn control_characters_from_aws_or_files_never_reach_the_terminal_raw() {
    let cfg = config();
    let a = rule("a").tag("team", "payments");
    let d = desired().group(G, vec![a.clone()]).build();
    let mut live = LiveB::from_desired(&cfg, &d);
    let r = live.rule(G, "a");
    r.tags.insert(
        "team".into(),
        "x\n::error file=sgops.yaml,line=1::plan reviewed OK".into(),
    );
    r.tags.insert("\u{1b}[2J".into(), "\r\u{7}".into());
    let mut live_map = live.build();
    live_map.insert(
        target(OTHER_ACCOUNT, "eu-west-1"),
        Err("AccessDenied: no\n::add-mask::secret\u{1b}]8;;http://evil\u{7}".into()),
    );
    let p = run_plan(&cfg, &d, &live_map, &allow_all());
    for text in [render::text(&p, false), render::text(&p, true)] {
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line:?}");
        }
        let stray: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && *c != '\n' && *c != '\u{1b}')
            .collect();
        assert!(stray.is_empty(), "{stray:?} in {text}");
        // The only escape sequences are sgops's own colours (`ESC [ … m`).
        for (i, _) in text.match_indices('\u{1b}') {
            let rest = &text[i + 1..];
            assert!(rest.starts_with('['), "{rest:?}");
            let end = rest.find('m').expect("colour ends with m");
            assert!(
                rest[1..end]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b';'),
                "{rest:?}"
            );
        }
        assert!(text.contains("x\\n::error file=sgops.yaml"), "{text}");
    }
}

#[test]
fn policy_changes_come_first_in_markdown_and_text_escaped() {
    let cfg = config();
    let d = desired().group(G, vec![rule("a")]).build();
    let mut p = run_plan(&cfg, &d, &LiveB::empty(&d).build(), &allow_all());
    p.policy_changes = vec![
        sgops::policy::PolicyChange {
            key: "guardrails.world_open_denied_ports".into(),
            base: "22, 3389".into(),
            proposed: String::new(),
        },
        sgops::policy::PolicyChange {
            key: "allowlist.parameter_prefix".into(),
            base: "/vpcx/".into(),
            proposed: "/x/<b>@admins</b>|https://evil.example/\n::error::".into(),
        },
    ];
    let md = render::markdown(&p);
    let policy = md
        .find("Policy changes in this pull request")
        .expect("policy section");
    assert!(policy < md.find("to create").expect("summary"), "{md}");
    assert!(
        md.contains("| guardrails.world\\_open\\_denied\\_ports | 22, 3389 |  |"),
        "{md}"
    );
    assert!(
        md.contains("| allowlist.parameter\\_prefix | /vpcx/ | /x/&lt;b&gt;@\u{200b}admins&lt;/b&gt;&#124;https:\u{200b}//evil.example/ ::error:: |"),
        "{md}"
    );
    let text = render::text(&p, false);
    assert!(
        text.starts_with("Policy changes in sgops.yaml (take effect after merge; this plan obeys the base branch's):\n  guardrails.world_open_denied_ports: 22, 3389 -> \n"),
        "{text}"
    );
    assert!(text.contains("https://evil.example/\\n::error::"), "{text}");
    // The JSON plan carries them, and reads back.
    let back: Plan = serde_json::from_str(&render::json(&p)).expect("JSON plan");
    assert_eq!(back.policy_changes, p.policy_changes);
    // A plan without them says nothing about policy, in any format.
    let plain = run_plan(&cfg, &d, &LiveB::empty(&d).build(), &allow_all());
    assert!(!render::markdown(&plain).contains("Policy"));
    assert!(!render::json(&plain).contains("policy_changes"));
}

#[test]
fn warnings_and_merged_errors_in_markdown() {
    let mut p = run_plan(
        &config(),
        &desired().build(),
        &LiveB::default().build(),
        &allow_all(),
    );
    for region in ["us-east-1", "eu-west-1"] {
        p.errors.push(PlanError {
            account: ACCOUNT.into(),
            region: region.into(),
            message: "cannot assume the role: AccessDenied".into(),
        });
    }
    p.warnings.push(PlanError {
        account: ACCOUNT.into(),
        region: REGION.into(),
        message: "adopting sgr-1 as `a`, which carries tags sgops did not set (fms:policy)".into(),
    });
    let md = render::markdown(&p);
    assert!(
        md.contains("#### Errors\n\n- **app** us-east-1, eu-west-1: cannot assume the role: AccessDenied\n\n#### Warnings\n\n- **app** us-east-1: adopting sgr-1 as \\`a\\`"),
        "{md}"
    );
}
