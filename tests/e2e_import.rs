//! `sgops import` end to end against moto: import → validate → plan gives only `adopt`.

mod support;

use support::*;

#[tokio::test]
async fn import_round_trip_gives_only_adopt() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    repo.allow(ALL_ACTIONS).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    let peer_group = create_group(&ec2, &vpc, "peer").await;
    let pl = create_prefix_list(&ec2, "partners", 5).await;
    add_ingress(
        &ec2,
        &group,
        443,
        443,
        "203.0.113.0/24",
        Some("Partner API (CHG-1)"),
        &[("team", "web")],
    )
    .await;
    add_ingress(&ec2, &group, 8000, 8100, "198.51.100.0/24", None, &[]).await;
    add_ingress_peer(&ec2, &group, 443, "2001:db8::/32", "Partner v6").await;
    add_ingress_peer(&ec2, &group, 5432, &pl, "Partners").await;
    add_ingress_peer(&ec2, &group, 6379, &peer_group, "Cache clients").await;
    // Every protocol shape and both directions.
    let more = [
        (
            true,
            permission("tcp", Some((443, 443)), "10.0.0.0/8", Some("HTTPS out")),
        ),
        (false, permission("icmp", Some((8, -1)), "10.0.0.0/8", None)),
        (
            false,
            permission("icmpv6", Some((128, 0)), "2001:db8::/32", Some("Ping v6")),
        ),
        (
            false,
            permission("-1", None, "10.1.0.0/16", Some("Peered VPC")),
        ),
        // moto needs -1/-1 here (a 500 without them); AWS takes either.
        (
            false,
            permission("47", Some((-1, -1)), "192.0.2.0/24", Some("GRE tunnel")),
        ),
    ];
    for (egress, perm) in more {
        authorize(&ec2, &group, egress, perm, &[]).await;
    }
    // Already managed: keeps its id, and plans to nothing.
    add_ingress(
        &ec2,
        &group,
        22,
        22,
        "10.0.0.0/8",
        Some("Bastion"),
        &[
            ("sgops:rule", "bastion"),
            ("sgops:tags", "vpcx:skip_enforcement"),
            ("vpcx:skip_enforcement", "yes"),
        ],
    )
    .await;

    let (code, out, err) = repo.sgops(&[
        "import",
        "app",
        "us-east-1",
        &group,
        "--skip-default-egress",
        "--ticket",
        "CHG-9",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("  - id: bastion\n"), "{out}");
    assert!(out.contains("  - id: partner-api-chg-1\n"), "{out}");
    assert!(out.contains("ports: \"8000-8100\""), "{out}");
    assert!(out.contains(&format!("prefix_list: {pl}")), "{out}");
    assert!(
        out.contains(&format!("security_group: {peer_group}")),
        "{out}"
    );
    assert!(out.contains("cidr_ipv6: 2001:db8::/32"), "{out}");
    assert!(out.contains("ticket: \"CHG-9\""), "{out}");
    assert!(!out.contains("0.0.0.0/0"), "default egress skipped:\n{out}");
    for shape in [
        "  - id: https-out\n    direction: egress\n    protocol: tcp\n    ports: 443\n",
        "  - id: ingress-icmp-type8\n    direction: ingress\n    protocol: icmp\n    ports: { type: 8, code: -1 }\n",
        "  - id: ping-v6\n    direction: ingress\n    protocol: icmpv6\n    ports: { type: 128, code: 0 }\n",
        "  - id: peered-vpc\n    direction: ingress\n    protocol: all\n    cidr: 10.1.0.0/16\n",
        "  - id: gre-tunnel\n    direction: ingress\n    protocol: 47\n    cidr: 192.0.2.0/24\n",
    ] {
        assert!(out.contains(shape), "{shape}in\n{out}");
    }

    let path = repo.path().join("rules/app/us-east-1/imported.yaml");
    let (code, _, err) = repo.sgops(&[
        "import",
        &acct,
        "us-east-1",
        &group,
        "--skip-default-egress",
        "--out",
        path.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{err}");
    let written = std::fs::read_to_string(&path).expect("imported file");
    assert!(
        written.contains("    ticket: \"imported\"\n"),
        "default ticket:\n{written}"
    );
    assert!(!written.contains("CHG-9"), "{written}");
    // The same group imports to the same file, whatever order AWS lists its rules in.
    let (_, again, _) = repo.sgops(&[
        "import",
        "app",
        "us-east-1",
        &group,
        "--skip-default-egress",
    ]);
    assert_eq!(again, written);

    let (code, _, err) = repo.sgops(&["validate"]);
    assert_eq!(code, 0, "imported file validates: {err}");
    let (code, plan, err) = repo.plan_json();
    assert_eq!(code, 0, "{err}");
    let acts = actions(&plan);
    assert_eq!(acts.len(), 10, "{acts:?}");
    assert!(
        acts.iter().all(|a| a.ends_with(":adopt")),
        "only adopt: {acts:?}"
    );
    // After applying, the plan is empty and the rule ids are the same.
    let before: Vec<String> = rules(&ec2, &group)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    let (code, out, err) = repo.sgops(&["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let after: Vec<String> = rules(&ec2, &group)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(before, after);
    let (_, plan, _) = repo.plan_json();
    assert_eq!(actions(&plan), Vec::<String>::new());
}

#[tokio::test]
async fn import_only_untagged_takes_no_id_of_a_tagged_rule() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    repo.allow(ALL_ACTIONS).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    // `web` is managed already, declared in web.yaml; an untagged rule says "Web" too.
    add_ingress(
        &ec2,
        &group,
        80,
        80,
        "10.0.0.0/8",
        Some("Web"),
        &[
            ("sgops:rule", "web"),
            ("sgops:tags", "vpcx:skip_enforcement"),
            ("vpcx:skip_enforcement", "yes"),
        ],
    )
    .await;
    add_ingress(&ec2, &group, 443, 443, "10.0.0.0/8", Some("Web"), &[]).await;
    repo.file(
        "app",
        "us-east-1",
        "web",
        &format!(
            "security_group: {group}\nrules:\n  - {{ id: web, direction: ingress, protocol: tcp, ports: 80, cidr: 10.0.0.0/8, description: Web, ticket: T-1 }}\n"
        ),
    );
    let (code, plan, err) = repo.plan_json();
    assert_eq!((code, actions(&plan)), (0, vec![]), "{err}");

    let (code, out, err) = repo.sgops(&["import", "app", "us-east-1", &group, "--only-untagged"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("  - id: web\n") && out.contains("  - id: web-443\n"),
        "{out}"
    );
    assert!(
        out.contains("0.0.0.0/0"),
        "default egress kept without the flag:\n{out}"
    );
    let path = repo.path().join("rules/app/us-east-1/imported.yaml");
    let (code, _, err) = repo.sgops(&[
        "import",
        "app",
        "us-east-1",
        &group,
        "--only-untagged",
        "--skip-default-egress",
        "--out",
        path.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = repo.sgops(&["validate"]);
    assert_eq!(code, 0, "both files validate together: {err}");
    let (code, plan, err) = repo.plan_json();
    assert_eq!(code, 0, "{err}");
    assert_eq!(actions(&plan), ["web-443:adopt"]);
}

#[tokio::test]
async fn import_comments_out_what_validate_would_refuse() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    repo.allow(ALL_ACTIONS).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    let ssh = authorize(
        &ec2,
        &group,
        false,
        permission("tcp", Some((22, 22)), "0.0.0.0/0", Some("SSH")),
        &[],
    )
    .await;
    let all = authorize(
        &ec2,
        &group,
        false,
        permission("-1", None, "::/0", None),
        &[],
    )
    .await;
    // The emulator takes a description AWS would refuse.
    let cafe = authorize(
        &ec2,
        &group,
        false,
        permission("tcp", Some((8080, 8080)), "10.0.0.0/8", Some("caf\u{e9}")),
        &[],
    )
    .await;
    add_ingress(&ec2, &group, 443, 443, "10.0.0.0/8", Some("Web"), &[]).await;
    let before = rules(&ec2, &group).await;

    let path = repo.path().join("rules/app/us-east-1/imported.yaml");
    let (code, _, err) = repo.sgops(&[
        "import",
        "app",
        "us-east-1",
        &group,
        "--skip-default-egress",
        "--out",
        path.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&path).expect("imported file");
    assert!(
        text.contains("  # not imported: ingress from 0.0.0.0/0 opens tcp 22, which includes denied port 22 (guardrails.world_open_denied_ports)\n  # - id: ssh\n"),
        "{text}"
    );
    assert!(
        text.contains("  # not imported: ingress from ::/0 opens every port, which includes denied ports 22, 3389"),
        "{text}"
    );
    assert!(
        text.contains(
            "  # not imported: its description cannot be in a rule file: description contains 'é'"
        ),
        "{text}"
    );
    assert!(text.contains("  - id: web\n"), "{text}");
    for id in [&ssh, &all, &cafe] {
        assert!(
            err.contains(&format!("warning: {id} written commented out: ")),
            "{id}: {err}"
        );
    }
    assert!(
        err.contains("wrote 1 rules to")
            && err.contains("(3 more commented out, see the warnings)"),
        "{err}"
    );
    let (code, _, err) = repo.sgops(&["validate"]);
    assert_eq!(code, 0, "imported file validates: {err}");
    let (code, plan, err) = repo.plan_json();
    assert_eq!(code, 0, "{err}");
    assert_eq!(actions(&plan), ["web:adopt"]);
    let (code, out, err) = repo.sgops(&["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The rules left out stay as they were: unmanaged baseline rules.
    let after = rules(&ec2, &group).await;
    for id in [&ssh, &all, &cafe] {
        let was = before.iter().find(|r| &r.id == id);
        assert_eq!(after.iter().find(|r| &r.id == id), was, "{id}");
    }
}

#[tokio::test]
async fn import_warns_where_the_plan_will_retag() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    repo.allow(ALL_ACTIONS).await;
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    let ours = [("vpcx:skip_enforcement", "yes")];
    let tagged = |id: &'static str| {
        [
            ("sgops:rule", id),
            ("sgops:tags", "vpcx:skip_enforcement"),
            ours[0],
        ]
    };
    let perm = |port| permission("tcp", Some((port, port)), "10.0.0.0/8", None);
    // Two rules tagged `dup`: the first in order (port 443) keeps the id.
    let keeper = authorize(&ec2, &group, false, perm(443), &tagged("dup")).await;
    let second = authorize(&ec2, &group, false, perm(8443), &tagged("dup")).await;
    let bad = authorize(&ec2, &group, false, perm(80), &tagged("Not An Id")).await;
    let bare = authorize(&ec2, &group, false, perm(81), &[("sgops:rule", "bare")]).await;
    // Tagged by a version of sgops that kept no record of the tags it set.
    let old = authorize(
        &ec2,
        &group,
        false,
        perm(82),
        &[("sgops:rule", "old"), ours[0]],
    )
    .await;

    let path = repo.path().join("rules/app/us-east-1/imported.yaml");
    let (code, _, err) = repo.sgops(&[
        "import",
        "app",
        "us-east-1",
        &group,
        "--skip-default-egress",
        "--out",
        path.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(
        warnings,
        [
            format!(
                "warning: {bad} carries sgops:rule=\"Not An Id\", which is not a rule id: it is imported as `ingress-tcp-80`, so the plan will show a retag for it"
            ),
            format!(
                "warning: {bare} (`bare`) lacks rule_tags vpcx:skip_enforcement=yes of sgops.yaml, so the plan will show a retag for it"
            ),
            format!(
                "warning: {old} (`old`) has no sgops:tags record of the tags sgops set (it was tagged by an earlier version), so the plan will show a one-time retag that writes it"
            ),
            format!(
                "warning: {keeper} and {second} both carry sgops:rule=dup: {keeper} keeps `dup`, {second} is imported as `dup-2`, so the plan will show a retag for it"
            ),
        ],
        "{err}"
    );
    let (code, _, err) = repo.sgops(&["validate"]);
    assert_eq!(code, 0, "imported file validates: {err}");
    let (code, plan, err) = repo.plan_json();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        actions(&plan),
        [
            "bare:retag",
            "dup-2:retag",
            "ingress-tcp-80:retag",
            "old:retag"
        ]
    );
}

#[tokio::test]
async fn import_refuses_bad_arguments() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    let (code, _, err) = repo.sgops(&["import", "nope", "us-east-1", &group]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown account `nope`"), "{err}");
    let (code, _, err) = repo.sgops(&["import", "app", "us-east-1", "sg-0123456789abcdef0"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not exist"), "{err}");
    let (code, out, err) = repo.sgops(&["import", "app", "us-east-1", &group, "--ticket", " "]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("--ticket: ticket must be 1 to 128 printable characters"),
        "{err}"
    );
}

#[tokio::test]
async fn import_reads_with_the_read_role() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "read_role_name: sgops-reader\n");
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    add_ingress(
        &ec2,
        &group,
        443,
        443,
        "203.0.113.0/24",
        Some("Partner"),
        &[],
    )
    .await;
    let import = |proxy: &FaultProxy| {
        repo.sgops_via(
            &proxy.url,
            &["import", "app", "us-east-1", &group, "--ticket", "CHG-9"],
        )
    };
    // The write role (`role_name: sgops`) denied: import does not need it.
    let proxy = FaultProxy::start(&["--deny-role", "sgops"]);
    let (code, out, err) = import(&proxy);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("203.0.113.0/24"), "{out}");
    let reader = format!("arn:aws:iam::{acct}:role/sgops-reader");
    assert_eq!(
        proxy.stats()["assumed_roles"],
        serde_json::json!({ reader.clone(): 1 })
    );
    // The read role denied: import fails, naming it.
    let proxy = FaultProxy::start(&["--deny-role", "sgops-reader"]);
    let (code, _, err) = import(&proxy);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("cannot assume {reader}")), "{err}");
}
