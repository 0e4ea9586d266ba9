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
    // Already managed: keeps its id, and plans to nothing.
    add_ingress(
        &ec2,
        &group,
        22,
        22,
        "10.0.0.0/8",
        Some("Bastion"),
        &[("sgops:rule", "bastion"), ("vpcx:skip_enforcement", "yes")],
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
    let (code, _, err) = repo.sgops(&["validate"]);
    assert_eq!(code, 0, "imported file validates: {err}");
    let (code, plan, err) = repo.plan_json();
    assert_eq!(code, 0, "{err}");
    let acts = actions(&plan);
    assert_eq!(acts.len(), 5, "{acts:?}");
    assert!(
        acts.iter().all(|a| a.ends_with(":adopt")),
        "only adopt: {acts:?}"
    );
    // After applying, the plan is empty and the rule ids are the same.
    let before: Vec<String> = ingress(&ec2, &group)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(repo.sgops(&["apply"]).0, 0);
    let after: Vec<String> = ingress(&ec2, &group)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(before, after);
    let (_, plan, _) = repo.plan_json();
    assert_eq!(actions(&plan), Vec::<String>::new());
}

#[tokio::test]
async fn import_only_untagged_and_errors() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    let ec2 = ec2(&acct, "us-east-1").await;
    let vpc = create_vpc(&ec2).await;
    let group = create_group(&ec2, &vpc, "app").await;
    add_ingress(
        &ec2,
        &group,
        22,
        22,
        "10.0.0.0/8",
        Some("Bastion"),
        &[("sgops:rule", "bastion")],
    )
    .await;
    add_ingress(&ec2, &group, 443, 443, "10.0.0.0/8", Some("Web"), &[]).await;
    let (code, out, _) = repo.sgops(&["import", "app", "us-east-1", &group, "--only-untagged"]);
    assert_eq!(code, 0);
    assert!(
        !out.contains("bastion") && out.contains("  - id: web\n"),
        "{out}"
    );
    assert!(
        out.contains("0.0.0.0/0"),
        "default egress kept without the flag:\n{out}"
    );
    let (code, _, err) = repo.sgops(&["import", "nope", "us-east-1", &group]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown account `nope`"), "{err}");
    let (code, _, err) = repo.sgops(&["import", "app", "us-east-1", "sg-0123456789abcdef0"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not exist"), "{err}");
}
