//! `sgops plan` and `sgops apply` end to end against a moto server: every action of SPEC
//! section 5, the allow-list, exit codes, staleness, quotas and per-account failures.

mod support;

use support::*;

fn rule(id: &str, dir: &str, port: u16, cidr: &str, desc: &str) -> String {
    format!(
        "  - id: {id}\n    direction: {dir}\n    protocol: tcp\n    ports: {port}\n    cidr: {cidr}\n    description: {desc}\n    ticket: CHG-1\n"
    )
}

fn file(group: &str, rules: &[String]) -> String {
    format!("security_group: {group}\nrules:\n{}", rules.concat())
}

struct World {
    repo: Repo,
    acct: String,
    ec2: aws_sdk_ec2::Client,
    group: String,
}

/// One account with one group holding an untagged baseline rule.
async fn world(allow: &str, extra_config: &str) -> World {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], extra_config);
    repo.allow(allow).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    add_ingress(
        &ec2,
        &group,
        22,
        22,
        "10.0.0.0/8",
        Some("baseline ssh"),
        &[],
    )
    .await;
    World {
        repo,
        acct,
        ec2,
        group,
    }
}

#[tokio::test]
async fn create_and_adopt_then_converge() {
    let w = world(ALL_ACTIONS, "").await;
    // An exception made by hand before sgops: adopted, keeping its id.
    add_ingress(
        &w.ec2,
        &w.group,
        443,
        443,
        "198.51.100.0/24",
        Some("Partner"),
        &[],
    )
    .await;
    let before = ingress(&w.ec2, &w.group).await;
    let hand_made = before
        .iter()
        .find(|r| r.from == 443)
        .expect("hand-made rule")
        .id
        .clone();
    let baseline = before
        .iter()
        .find(|r| r.from == 22)
        .expect("baseline")
        .clone();
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[
                rule("partner", "ingress", 443, "198.51.100.0/24", "Partner"),
                rule("new-api", "ingress", 8443, "203.0.113.0/24", "New API"),
            ],
        ),
    );

    let (code, plan, err) = w.repo.plan_json();
    assert_eq!(code, 0, "{err}");
    assert_eq!(actions(&plan), vec!["new-api:create", "partner:adopt"]);
    assert_eq!(plan["summary"]["create"], 1);
    assert_eq!(plan["summary"]["adopt"], 1);
    assert_eq!(plan["changes"][0]["account_id"], w.acct.as_str());
    assert!(
        plan["fingerprint"]
            .as_str()
            .unwrap_or("")
            .starts_with("sha256:")
    );

    let (code, out, err) = w.repo.sgops(&["apply", "--stats"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("ec2:AuthorizeSecurityGroupIngress"), "{err}");

    let after = ingress(&w.ec2, &w.group).await;
    assert_eq!(after.len(), 3, "{after:#?}");
    let adopted = after.iter().find(|r| r.from == 443).expect("adopted");
    assert_eq!(adopted.id, hand_made, "adoption keeps the rule id");
    assert_eq!(
        adopted.tags.get("sgops:rule").map(String::as_str),
        Some("partner")
    );
    assert_eq!(
        adopted
            .tags
            .get("vpcx:skip_enforcement")
            .map(String::as_str),
        Some("yes")
    );
    let created = after.iter().find(|r| r.from == 8443).expect("created");
    assert_eq!(
        created.tags.get("sgops:rule").map(String::as_str),
        Some("new-api")
    );
    assert_eq!(created.desc, "New API");
    assert_eq!(
        after.iter().find(|r| r.from == 22),
        Some(&baseline),
        "baseline untouched"
    );

    // Plan again: nothing to do, exit 0 even with --detailed-exitcode.
    let (code, out, _) = w.repo.sgops(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes"), "{out}");
    // Re-apply changes nothing.
    let (code, out, _) = w.repo.sgops(&["apply"]);
    assert_eq!(code, 0);
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(ingress(&w.ec2, &w.group).await, after);
}

#[tokio::test]
async fn update_retag_replace_delete_and_recreate() {
    let w = world(ALL_ACTIONS, "").await;
    let initial = [
        rule("web", "ingress", 443, "203.0.113.0/24", "Web"),
        rule("tagged", "ingress", 8080, "203.0.113.0/24", "Tagged"),
        rule("flip", "ingress", 9000, "192.0.2.0/24", "Flip"),
        rule("gone", "ingress", 5432, "192.0.2.0/24", "Gone"),
        rule("lost", "ingress", 6379, "192.0.2.0/24", "Lost"),
    ];
    w.repo
        .file("app", "us-east-1", "app", &file(&w.group, &initial));
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    let ids: std::collections::BTreeMap<String, String> = ingress(&w.ec2, &w.group)
        .await
        .into_iter()
        .filter_map(|r| r.tags.get("sgops:rule").map(|t| (t.clone(), r.id.clone())))
        .collect();
    // Out of band: someone revokes `lost`.
    w.ec2
        .revoke_security_group_ingress()
        .group_id(&w.group)
        .security_group_rule_ids(&ids["lost"])
        .send()
        .await
        .expect("revoke");

    let tagged = "  - id: tagged\n    direction: ingress\n    protocol: tcp\n    ports: 8080\n    cidr: 203.0.113.0/24\n    description: Tagged\n    ticket: CHG-1\n    tags: { team: web }\n".to_string();
    let next = [
        rule("web", "ingress", 8443, "203.0.113.0/24", "Web"),
        tagged,
        rule("flip", "egress", 9000, "192.0.2.0/24", "Flip"),
        rule("lost", "ingress", 6379, "192.0.2.0/24", "Lost"),
    ];
    w.repo
        .file("app", "us-east-1", "app", &file(&w.group, &next));
    let (code, plan, err) = w.repo.plan_json();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        actions(&plan),
        vec![
            "flip:replace",
            "gone:delete",
            "lost:create",
            "tagged:retag",
            "web:update"
        ]
    );
    let (code, out, err) = w.repo.sgops(&["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");

    let all = rules(&w.ec2, &w.group).await;
    let by_id = |id: &str| {
        all.iter()
            .find(|r| r.tags.get("sgops:rule").map(String::as_str) == Some(id))
    };
    let web = by_id("web").expect("web");
    assert_eq!(
        (web.from, web.id.as_str()),
        (8443, ids["web"].as_str()),
        "update keeps the id"
    );
    assert_eq!(
        by_id("tagged")
            .expect("tagged")
            .tags
            .get("team")
            .map(String::as_str),
        Some("web")
    );
    let flip = by_id("flip").expect("flip");
    assert!(
        flip.egress && flip.id != ids["flip"],
        "replaced into egress with a new id"
    );
    assert!(by_id("gone").is_none());
    assert!(by_id("lost").is_some(), "out-of-band deletion re-created");
    assert!(
        all.iter().any(|r| r.from == 22 && r.tags.is_empty()),
        "baseline untouched"
    );
    let (code, plan, _) = w.repo.plan_json();
    assert_eq!((code, actions(&plan)), (0, vec![]));
}

#[tokio::test]
async fn replace_when_modify_is_not_allowed() {
    let allow =
        r#"{"authorize_security_group_ingress","revoke_security_group_ingress","create_tags"}"#;
    let w = world(allow, "").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    let old = ingress(&w.ec2, &w.group)
        .await
        .into_iter()
        .find(|r| r.from == 443)
        .expect("web");
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("web", "ingress", 8443, "203.0.113.0/24", "Web")],
        ),
    );
    let (_, plan, _) = w.repo.plan_json();
    assert_eq!(actions(&plan), vec!["web:replace"]);
    assert_eq!(
        plan["changes"][0]["api_actions"],
        serde_json::json!([
            "authorize_security_group_ingress",
            "revoke_security_group_ingress"
        ])
    );
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    let now = ingress(&w.ec2, &w.group).await;
    assert!(now.iter().all(|r| r.id != old.id));
    assert!(
        now.iter()
            .any(|r| r.from == 8443 && r.tags.get("sgops:rule").map(String::as_str) == Some("web"))
    );
}

#[tokio::test]
async fn denied_change_blocks_apply_with_nothing_changed() {
    // Exact matching: `authorize_security_group` does not allow the ingress action.
    let w = world(
        r#"{"authorize_security_group","revoke_security_group_ingress"}"#,
        "",
    )
    .await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let before = rules(&w.ec2, &w.group).await;
    let (code, plan, _) = w.repo.plan_json();
    assert_eq!(code, 3);
    assert_eq!(plan["summary"]["denied"], 1);
    assert_eq!(plan["changes"][0]["allowed"], false);
    let (code, _, err) = w.repo.sgops(&["apply"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(rules(&w.ec2, &w.group).await, before);
}

#[tokio::test]
async fn missing_allowlist_parameter_is_invalid_service() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let (code, _, err) = repo.sgops(&["plan"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!(
            "invalid service: ec2 (no allow-list parameter {}ec2)",
            repo.prefix
        )),
        "{err}"
    );
    let (code, _, err) = repo.sgops(&["apply"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("invalid service: ec2"), "{err}");
    assert!(ingress(&ec2, &group).await.is_empty(), "nothing changed");
    // A guardrail violation stops apply too, before AWS is asked anything.
    repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &group,
            &[rule("ssh", "ingress", 22, "0.0.0.0/0", "Open SSH")],
        ),
    );
    let (code, _, err) = repo.sgops(&["apply"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("world"), "{err}");
    assert!(ingress(&ec2, &group).await.is_empty(), "nothing changed");
}

#[tokio::test]
async fn allowlist_formats_string_list_and_comma() {
    for (value, string_list) in [
        ("authorize_security_group_ingress,create_tags", true),
        ("authorize_security_group_ingress, create_tags", false),
    ] {
        let w = world("{}", "").await;
        put_allowlist(&format!("{}ec2", w.repo.prefix), value, string_list).await;
        w.repo.file(
            "app",
            "us-east-1",
            "app",
            &file(
                &w.group,
                &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
            ),
        );
        let (code, plan, err) = w.repo.plan_json();
        assert_eq!(
            (code, plan["summary"]["denied"].as_u64()),
            (0, Some(0)),
            "{value}: {err}"
        );
    }
}

#[tokio::test]
async fn stale_plan_is_refused() {
    let w = world(ALL_ACTIONS, "").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let (code, _, err) = w.repo.sgops(&["plan", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    // Live state moves on after the plan.
    add_ingress(&w.ec2, &w.group, 80, 80, "10.1.0.0/16", None, &[]).await;
    let before = rules(&w.ec2, &w.group).await;
    let (code, _, err) = w.repo.sgops(&["apply", "--plan", "plan.json"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("stale plan"), "{err}");
    assert_eq!(rules(&w.ec2, &w.group).await, before);
    // A fresh plan applies.
    assert_eq!(w.repo.sgops(&["plan", "--out", "plan.json"]).0, 0);
    let (code, out, err) = w.repo.sgops(&["apply", "--plan", "plan.json"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn quota_preflight_refuses_the_group() {
    let w = world(ALL_ACTIONS, "quotas:\n  rules_per_group: 2\n").await;
    let many: Vec<String> = (0..3)
        .map(|i| {
            rule(
                &format!("r{i}"),
                "ingress",
                1000 + i,
                "203.0.113.0/24",
                "Many",
            )
        })
        .collect();
    w.repo
        .file("app", "us-east-1", "app", &file(&w.group, &many));
    let (code, plan, _) = w.repo.plan_json();
    assert_eq!(code, 1);
    let msg = plan["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("4 ingress IPv4 rules") && msg.contains("quota of 2"),
        "{msg}"
    );
    let before = rules(&w.ec2, &w.group).await;
    let (code, _, _) = w.repo.sgops(&["apply"]);
    assert_eq!(code, 1);
    assert_eq!(
        rules(&w.ec2, &w.group).await,
        before,
        "nothing applied to that group"
    );
}

/// A prefix-list rule weighs its list's max entries, as AWS counts it: read with one
/// DescribeManagedPrefixLists, only because a rule references a prefix list.
#[tokio::test]
async fn quota_preflight_weighs_prefix_lists() {
    let w = world(ALL_ACTIONS, "quotas:\n  rules_per_group: 10\n").await;
    let pl = create_prefix_list(&w.ec2, "partners", 8).await;
    let mut rules_yaml = vec![format!(
        "  - id: partners\n    direction: ingress\n    protocol: tcp\n    ports: 443\n    prefix_list: {pl}\n    ticket: CHG-1\n"
    )];
    w.repo
        .file("app", "us-east-1", "app", &file(&w.group, &rules_yaml));
    let (code, out, err) = w.repo.sgops(&["plan", "--format", "json", "--stats"]);
    assert_eq!(code, 0, "1 baseline + 8: under 10\n{out}\n{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("ec2:DescribeManagedPrefixLists") && l.contains(" 1 ")),
        "{err}"
    );
    let typo = "  - id: typo\n    direction: ingress\n    protocol: tcp\n    ports: 444\n    prefix_list: pl-00000000000000000\n    ticket: CHG-1\n".to_string();
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(&w.group, &[rules_yaml[0].clone(), typo]),
    );
    let (code, plan, _) = w.repo.plan_json();
    assert_eq!(code, 1, "a prefix list that is not there is a plan error");
    assert_eq!(
        plan["errors"][0]["message"],
        "prefix list pl-00000000000000000 named in rule files does not exist in this account and region (or is not shared with it)"
    );
    rules_yaml.push(rule("more", "ingress", 8443, "203.0.113.0/24", "More"));
    rules_yaml.push(rule("most", "ingress", 9443, "203.0.113.0/24", "Most"));
    w.repo
        .file("app", "us-east-1", "app", &file(&w.group, &rules_yaml));
    let (code, plan, _) = w.repo.plan_json();
    assert_eq!(code, 1);
    let msg = plan["errors"][0]["message"].as_str().unwrap_or("");
    assert!(msg.contains("11 ingress IPv4 rules"), "{msg}");
}

#[tokio::test]
async fn one_account_failing_does_not_stop_the_others() {
    let good = account_id();
    let bad = account_id();
    let repo = Repo::new(&[("good", &good), ("bad", &bad)], "");
    repo.allow(ALL_ACTIONS).await;
    let ec2_good = ec2(&good, "us-east-1").await;
    let vpc = create_vpc(&ec2_good).await;
    let group = create_group(&ec2_good, &vpc, "app").await;
    repo.file(
        "good",
        "us-east-1",
        "app",
        &file(
            &group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    repo.file(
        "bad",
        "us-east-1",
        "app",
        &file(
            "sg-0123456789abcdef0",
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let (code, plan, _) = repo.plan_json();
    assert_eq!(code, 1);
    assert_eq!(plan["errors"][0]["account"], "bad");
    assert!(
        plan["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("does not exist")
    );
    assert_eq!(actions(&plan), vec!["web:create"]);
    // `--account` plans only the accounts named: without the broken one, a clean plan.
    let (code, out, err) = repo.sgops(&["plan", "--account", "good", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let only: serde_json::Value = serde_json::from_str(&out).expect("plan JSON");
    assert_eq!(actions(&only), vec!["web:create"]);
    assert_eq!(only["errors"], serde_json::json!([]));
    let (code, out, err) = repo.sgops(&["plan", "--account", "bad", "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    let only: serde_json::Value = serde_json::from_str(&out).expect("plan JSON");
    assert_eq!(actions(&only), Vec::<String>::new());
    assert_eq!(only["errors"][0]["account"], "bad");
    let (code, _, err) = repo.sgops(&["plan", "--account", "nosuch"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nosuch"), "{err}");
    let (code, out, err) = repo.sgops(&["apply"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad us-east-1"), "{out}");
    // Not a terminal (CI logs): one plain progress line per account × region.
    assert!(
        err.contains(&format!("reading bad ({bad}) us-east-1: read\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!("reading good ({good}) us-east-1: read\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "applying good ({good}) us-east-1: 1 changes applied\n"
        )),
        "{err}"
    );
    assert!(
        ingress(&ec2_good, &group)
            .await
            .iter()
            .any(|r| r.from == 443),
        "the good account was applied"
    );
}

#[tokio::test]
async fn expired_rules_are_revoked() {
    let w = world(ALL_ACTIONS, "").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("temp", "ingress", 443, "203.0.113.0/24", "Temp")],
        ),
    );
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    let expiring = format!(
        "{}    expires: 2026-11-27\n",
        rule("temp", "ingress", 443, "203.0.113.0/24", "Temp")
    );
    w.repo
        .file("app", "us-east-1", "app", &file(&w.group, &[expiring]));
    let (code, _, err) = w.repo.sgops(&["validate"]);
    assert_eq!(code, 0);
    assert!(err.contains("expired on 2026-11-27"), "{err}");
    // In GitHub Actions the warning is an annotation of `validate`; the standard output of
    // `plan` stays the plan alone.
    let (code, out, err) = w
        .repo
        .sgops_with_env(&["plan", "--format", "json"], &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("plan JSON: {e}\n{out}"));
    assert_eq!(actions(&plan), vec!["temp:delete"]);
    assert!(err.contains("expired on 2026-11-27"), "{err}");
    let (_, out, _) = w
        .repo
        .sgops_with_env(&["validate"], &[("GITHUB_ACTIONS", "true")]);
    assert!(out.starts_with("::warning file="), "{out}");
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    assert!(
        ingress(&w.ec2, &w.group)
            .await
            .iter()
            .all(|r| r.from != 443)
    );
}

#[tokio::test]
async fn deleting_a_rule_file_revokes_its_rules() {
    let w = world(ALL_ACTIONS, "").await;
    let vpc = create_vpc(&w.ec2).await;
    let other = create_group(&w.ec2, &vpc, "other").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("keep", "ingress", 443, "203.0.113.0/24", "Keep")],
        ),
    );
    w.repo.file(
        "app",
        "us-east-1",
        "other",
        &file(
            &other,
            &[rule("drop", "ingress", 443, "203.0.113.0/24", "Drop")],
        ),
    );
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    w.repo.remove("app", "us-east-1", "other");
    let (_, plan, _) = w.repo.plan_json();
    assert_eq!(actions(&plan), vec!["drop:delete"]);
    assert_eq!(plan["changes"][0]["file"], serde_json::Value::Null);
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    assert!(ingress(&w.ec2, &other).await.is_empty());
}

/// The last rule file of an account and region gone: only `regions` in sgops.yaml makes sgops
/// read that account and region still, and revoke what it manages there.
#[tokio::test]
async fn deleting_the_last_rule_file_revokes_when_its_region_is_listed() {
    let w = world(ALL_ACTIONS, "").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("last", "ingress", 443, "203.0.113.0/24", "Last")],
        ),
    );
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    w.repo.remove("app", "us-east-1", "app");
    let (code, plan, _) = w.repo.plan_json();
    assert_eq!(code, 0);
    assert!(
        actions(&plan).is_empty(),
        "no file, no region listed: not read"
    );

    let cfg = w.repo.path().join("sgops.yaml");
    let text = std::fs::read_to_string(&cfg).expect("read sgops.yaml");
    std::fs::write(&cfg, format!("{text}regions: [us-east-1]\n")).expect("write sgops.yaml");
    let (_, plan, _) = w.repo.plan_json();
    assert_eq!(actions(&plan), vec!["last:delete"]);
    assert_eq!(w.repo.sgops(&["apply"]).0, 0);
    let left = ingress(&w.ec2, &w.group).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].from, 22, "the baseline rule stays");
    let (code, plan, _) = w.repo.plan_json();
    assert_eq!((code, actions(&plan).len()), (0, 0));
}

#[tokio::test]
async fn group_by_name_and_detailed_exit_codes() {
    let w = world(ALL_ACTIONS, "").await;
    let vpc = create_vpc(&w.ec2).await;
    create_group(&w.ec2, &vpc, "named").await;
    w.repo.file(
        "app",
        "us-east-1",
        "named",
        &file(
            &format!("{{ name: named, vpc: {vpc} }}"),
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let (code, out, _) = w.repo.sgops(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("+ create web"), "{out}");
    let (code, out, _) = w.repo.sgops(&["plan"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = w.repo.sgops(&["plan", "--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(out.contains("| app | us-east-1 | 1 |"), "{out}");
    // A name that matches nothing is an error for the account.
    w.repo.file(
        "app",
        "us-east-1",
        "named",
        &file(
            &format!("{{ name: nope, vpc: {vpc} }}"),
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let (code, plan, _) = w.repo.plan_json();
    assert_eq!(code, 1);
    assert!(
        plan["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no security group named `nope`")
    );
    // Invalid files stop before AWS: exit 1.
    w.repo.file(
        "app",
        "us-east-1",
        "named",
        "security_group: nope\nrules: []\n",
    );
    assert_eq!(w.repo.sgops(&["plan"]).0, 1);
}

#[tokio::test]
async fn too_many_changes_need_allow_many() {
    let w = world(ALL_ACTIONS, "guardrails:\n  max_changes: 1\n").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[
                rule("a", "ingress", 443, "203.0.113.0/24", "A"),
                rule("b", "ingress", 444, "203.0.113.0/24", "B"),
            ],
        ),
    );
    let (code, _, err) = w.repo.sgops(&["apply"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("max_changes"), "{err}");
    assert_eq!(ingress(&w.ec2, &w.group).await.len(), 1, "nothing changed");
    let (code, out, err) = w
        .repo
        .sgops(&["apply", "--allow-many", "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("### sgops apply\n\n2 applied, 0 converged"),
        "{out}"
    );
    assert_eq!(ingress(&w.ec2, &w.group).await.len(), 3);
    let journal =
        std::fs::read_to_string(w.repo.path().join("sgops-apply.jsonl")).expect("journal");
    assert_eq!(
        journal.lines().count(),
        3,
        "two results and a summary line:\n{journal}"
    );
}

#[tokio::test]
async fn a_pull_request_is_planned_under_the_base_branch_policy() {
    // The base allows creating ingress rules only.
    let w = world(r#"{"authorize_security_group_ingress","create_tags"}"#, "").await;
    let dir = w.repo.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let base = git(dir, &["rev-parse", "HEAD"]);
    // The pull request points the allow-list at a parameter of its choosing that allows
    // everything, and adds an egress rule.
    let theirs = format!("{}theirs/", w.repo.prefix);
    put_allowlist(&format!("{theirs}ec2"), ALL_ACTIONS, false).await;
    let cfg = std::fs::read_to_string(dir.join("sgops.yaml")).expect("read sgops.yaml");
    std::fs::write(dir.join("sgops.yaml"), cfg.replace(&w.repo.prefix, &theirs))
        .expect("write sgops.yaml");
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("out", "egress", 443, "10.0.0.0/8", "to the mesh")],
        ),
    );
    // Under its own sgops.yaml the change looks allowed.
    let (code, own, err) = w.repo.sgops(&["plan", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let own: serde_json::Value = serde_json::from_str(&own).expect("JSON");
    assert_eq!(own["summary"]["denied"], 0);
    // Under the base's it is denied, and the comment's data says what the PR changes.
    let (code, out, err) = w
        .repo
        .sgops(&["plan", "--format", "json", "--policy-from", &base]);
    assert_eq!(code, 3, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(plan["summary"]["create"], 1);
    assert_eq!(plan["summary"]["denied"], 1);
    assert_eq!(
        plan["policy_changes"],
        serde_json::json!([{
            "key": "allowlist.parameter_prefix",
            "base": w.repo.prefix,
            "proposed": theirs,
        }])
    );
    let (_, text, _) = w.repo.sgops(&["plan", "--policy-from", &base]);
    assert!(
        text.starts_with(&format!(
            "Policy changes in sgops.yaml (take effect after merge; this plan obeys the base branch's):\n  allowlist.parameter_prefix: {} -> {theirs}\n",
            w.repo.prefix
        )),
        "{text}"
    );
    assert!(
        text.contains("denied: needs authorize_security_group_egress"),
        "{text}"
    );
}

/// The roles sgops asked to assume, by ARN, with how often.
fn roles(pairs: &[(&str, u64)]) -> std::collections::BTreeMap<String, u64> {
    pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
}

#[tokio::test]
async fn plans_assume_the_read_role_and_apply_the_write_role() {
    // `role_name: sgops` (the writer, from Repo::new) and a read role beside it; a second
    // account with roles of its own.
    let w = world(ALL_ACTIONS, "read_role_name: sgops-reader\n").await;
    let own = account_id();
    let cfg = std::fs::read_to_string(w.repo.path().join("sgops.yaml")).expect("read");
    std::fs::write(
        w.repo.path().join("sgops.yaml"),
        cfg.replace(
            "accounts:\n",
            &format!(
                "accounts:\n  own: {{ id: \"{own}\", role_name: own-writer, read_role_name: own-reader }}\n"
            ),
        ),
    )
    .expect("write sgops.yaml");
    let own_ec2 = ec2(&own, "us-east-1").await;
    let own_vpc = create_vpc(&own_ec2).await;
    let own_group = create_group(&own_ec2, &own_vpc, "app").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    w.repo.file(
        "own",
        "us-east-1",
        "app",
        &file(
            &own_group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let reader = format!("arn:aws:iam::{}:role/sgops-reader", w.acct);
    let writer = format!("arn:aws:iam::{}:role/sgops", w.acct);
    let own_reader = format!("arn:aws:iam::{own}:role/own-reader");
    let own_writer = format!("arn:aws:iam::{own}:role/own-writer");

    // The write roles denied, as IAM denies them to the central plan role: a plan never
    // needs them, and never asks for them.
    let proxy = FaultProxy::start(&["--deny-role", "sgops", "--deny-role", "own-writer"]);
    let (code, out, err) = w.repo.sgops_via(
        &proxy.url,
        &["plan", "--detailed-exitcode", "--format", "json"],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).expect("plan JSON");
    assert_eq!(actions(&plan), ["web:create", "web:create"], "{out}");
    assert_eq!(
        proxy.assumed_roles(),
        roles(&[(&reader, 1), (&own_reader, 1)])
    );
    // apply asks for the write roles, denied here: it fails naming them, and nothing changes.
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["apply"]);
    assert_eq!(code, 1, "{out}\n{err}");
    for arn in [&writer, &own_writer] {
        assert!(
            err.contains(&format!("cannot assume {arn}")) && err.contains("AccessDenied"),
            "{arn}: {err}"
        );
    }
    assert_eq!(
        proxy.assumed_roles(),
        roles(&[
            (&reader, 1),
            (&own_reader, 1),
            (&writer, 1),
            (&own_writer, 1)
        ])
    );
    assert!(
        !ingress(&w.ec2, &w.group)
            .await
            .iter()
            .any(|r| r.from == 443)
    );

    // The read roles denied: the plan fails, naming the role it could not assume.
    let proxy = FaultProxy::start(&["--deny-role", "sgops-reader", "--deny-role", "own-reader"]);
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["plan", "--format", "json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).expect("plan JSON");
    let errors = plan["errors"].to_string();
    assert!(
        errors.contains(&format!(
            "cannot assume {reader} in account app ({})",
            w.acct
        )) && errors.contains(&format!(
            "cannot assume {own_reader} in account own ({own})"
        )),
        "{errors}"
    );
    assert!(err.contains(&format!("cannot assume {reader}")), "{err}");
    // apply needs no read role: one AssumeRole per account, of the write role, serves its
    // reads and its writes.
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        proxy.assumed_roles(),
        roles(&[
            (&reader, 1),
            (&own_reader, 1),
            (&writer, 1),
            (&own_writer, 1)
        ])
    );
    assert!(
        ingress(&w.ec2, &w.group)
            .await
            .iter()
            .any(|r| r.from == 443)
    );
    assert!(
        ingress(&own_ec2, &own_group)
            .await
            .iter()
            .any(|r| r.from == 443)
    );
}

#[tokio::test]
async fn without_a_read_role_plans_use_role_name() {
    let w = world(ALL_ACTIONS, "").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let proxy = FaultProxy::start(&[]);
    let (code, out, err) = w
        .repo
        .sgops_via(&proxy.url, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}\n{err}");
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let role = format!("arn:aws:iam::{}:role/sgops", w.acct);
    assert_eq!(proxy.assumed_roles(), roles(&[(&role, 2)]));
}

#[tokio::test]
async fn a_pull_request_cannot_point_the_plan_at_the_write_role() {
    let w = world(ALL_ACTIONS, "read_role_name: sgops-reader\n").await;
    w.repo.file(
        "app",
        "us-east-1",
        "app",
        &file(
            &w.group,
            &[rule("web", "ingress", 443, "203.0.113.0/24", "Web")],
        ),
    );
    let dir = w.repo.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let base = git(dir, &["rev-parse", "HEAD"]);
    // The pull request reads with the write role (`role_name: sgops`).
    let cfg = std::fs::read_to_string(dir.join("sgops.yaml")).expect("read sgops.yaml");
    std::fs::write(
        dir.join("sgops.yaml"),
        cfg.replace("read_role_name: sgops-reader", "read_role_name: sgops"),
    )
    .expect("write sgops.yaml");
    let proxy = FaultProxy::start(&["--deny-role", "sgops"]);
    // Under the base's policy the plan reads with the base's read role, and shows the change.
    let (code, out, err) = w.repo.sgops_via(
        &proxy.url,
        &["plan", "--detailed-exitcode", "--policy-from", &base],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        out.contains("read_role_name: sgops-reader -> sgops"),
        "{out}"
    );
    let reader = format!("arn:aws:iam::{}:role/sgops-reader", w.acct);
    assert_eq!(proxy.assumed_roles(), roles(&[(&reader, 1)]));
    // Had the workflow been edited to drop --policy-from, IAM would still refuse the write
    // role to the plan role (the proxy stands in for it here).
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["plan"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "cannot assume arn:aws:iam::{}:role/sgops in account app",
            w.acct
        )),
        "{err}"
    );
}
