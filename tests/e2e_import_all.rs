//! `sgops import --all` end to end against moto: 3 accounts × 2 regions × 2 groups holding
//! exceptions tagged by the central API beside untagged baseline rules, and an account whose
//! role cannot be assumed. The files validate, the plan right after shows only adopt (and a
//! retag where a tag differs), apply converges, and a second import writes nothing.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use support::*;

const TAG: (&str, &str) = ("vpcx:skip_enforcement", "yes");

/// Two exceptions the central API made and one baseline rule.
async fn seed_group(ec2: &aws_sdk_ec2::Client, group: &str) {
    add_ingress(
        ec2,
        group,
        443,
        443,
        "203.0.113.0/24",
        Some("Partner API (CHG-1)"),
        &[TAG],
    )
    .await;
    add_ingress(
        ec2,
        group,
        8443,
        8443,
        "198.51.100.0/24",
        Some("Vendor"),
        &[TAG, ("team", "payments")],
    )
    .await;
    add_ingress(ec2, group, 80, 80, "10.0.0.0/8", Some("Baseline HTTP"), &[]).await;
}

/// API calls by operation from `--stats` output.
fn stats(stderr: &str) -> BTreeMap<String, u64> {
    stderr
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let op = w.next()?;
            let n = w.next()?.parse().ok()?;
            op.contains(':').then(|| (op.to_string(), n))
        })
        .collect()
}

fn files_under(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("under dir")
                    .display()
                    .to_string();
                out.insert(rel, std::fs::read_to_string(&p).expect("read file"));
            }
        }
    }
    out
}

#[tokio::test]
async fn import_all_adopts_a_whole_organization() {
    let ids: Vec<String> = (0..3).map(|_| account_id()).collect();
    let locked = account_id();
    let names = ["a1", "a2", "a3"];
    let mut accounts: Vec<(&str, &str)> = names
        .iter()
        .zip(&ids)
        .map(|(n, i)| (*n, i.as_str()))
        .collect();
    accounts.push(("locked", &locked));
    let repo = Repo::new(&accounts, "regions: [us-east-1, eu-west-1]\n");
    repo.allow(ALL_ACTIONS).await;
    let regions = ["us-east-1", "eu-west-1"];
    // (account, region) → the two file names expected.
    let mut expected: Vec<String> = Vec::new();
    for (name, id) in names.iter().zip(&ids) {
        for region in regions {
            let ec2 = ec2(id, region).await;
            let vpc = create_vpc(&ec2).await;
            if (*name, region) == ("a3", "eu-west-1") {
                // One name in two VPCs: each file is named by its group's id.
                let other_vpc = create_vpc(&ec2).await;
                for v in [&vpc, &other_vpc] {
                    let g = create_group(&ec2, v, "app").await;
                    seed_group(&ec2, &g).await;
                    expected.push(format!("{name}/{region}/{g}.yaml"));
                }
                continue;
            }
            let payments = create_group(&ec2, &vpc, "Payments App").await;
            seed_group(&ec2, &payments).await;
            let web = create_group(&ec2, &vpc, "web").await;
            seed_group(&ec2, &web).await;
            expected.push(format!("{name}/{region}/payments-app.yaml"));
            expected.push(format!("{name}/{region}/web.yaml"));
            if (*name, region) == ("a1", "us-east-1") {
                // Managed by an earlier sgops without its record of tags: a retag.
                add_ingress(
                    &ec2,
                    &web,
                    22,
                    22,
                    "10.0.0.0/8",
                    Some("Bastion"),
                    &[("sgops:rule", "bastion"), TAG],
                )
                .await;
            }
            if (*name, region) == ("a2", "us-east-1") {
                // Only baseline rules: no file.
                let g = create_group(&ec2, &vpc, "baseline-only").await;
                add_ingress(&ec2, &g, 80, 80, "10.0.0.0/8", None, &[]).await;
            }
        }
    }
    expected.sort();

    // The locked account's role cannot be assumed: it is named, the others are imported.
    let proxy = FaultProxy::start(&["--deny-assume", &locked]);
    let (code, out, err) = repo.sgops_via(
        &proxy.url,
        &[
            "import",
            "--all",
            "--out-dir",
            "rules",
            "--ticket",
            "CHG-1",
            "--stats",
        ],
    );
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains(&format!(
            "failed: locked ({locked}) eu-west-1: cannot assume"
        )) && err.contains(&format!(
            "failed: locked ({locked}) us-east-1: cannot assume"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "error: import --all failed for account locked ({locked}); the others were imported"
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "import --all: 6 of 8 accounts × regions read; 12 groups written, 0 skipped (files exist); 25 rules imported, 0 commented out"
        ),
        "{err}"
    );
    // The plan's floor plus one DescribeSecurityGroups per account × region: one AssumeRole
    // per account (its two regions share it), one page of rules per account × region.
    let calls = stats(&err);
    assert_eq!(calls.get("sts:AssumeRole"), Some(&4), "{err}");
    assert_eq!(
        calls.get("ec2:DescribeSecurityGroupRules"),
        Some(&6),
        "{err}"
    );
    assert_eq!(calls.get("ec2:DescribeSecurityGroups"), Some(&6), "{err}");
    assert_eq!(proxy.stats()["denied_assume"][&locked], 1);

    let rules_dir = repo.path().join("rules");
    let files = files_under(&rules_dir);
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), expected);
    let one = &files["a1/us-east-1/payments-app.yaml"];
    assert!(
        one.starts_with(&format!(
            "# Imported by `sgops import --all` from a1 ({}) us-east-1 sg-",
            ids[0]
        )),
        "{one}"
    );
    assert!(one.contains("  - id: partner-api-chg-1\n"), "{one}");
    assert!(one.contains("  - id: vendor\n"), "{one}");
    assert!(
        one.contains("    tags: { \"team\": \"payments\" }\n"),
        "{one}"
    );
    assert!(one.contains("    ticket: \"CHG-1\"\n"), "{one}");
    assert!(!one.contains("Baseline"), "baseline rules stay out:\n{one}");
    assert!(
        files["a1/us-east-1/web.yaml"].contains("  - id: bastion\n"),
        "{}",
        files["a1/us-east-1/web.yaml"]
    );
    assert!(
        err.contains("(`bastion`) has no sgops:tags record"),
        "the retag is announced: {err}"
    );

    // The files validate, and the plan right after adopts them (one retag).
    let (code, _, err) = repo.sgops(&["validate"]);
    assert_eq!(code, 0, "{err}");
    let (code, plan, err) = repo.plan_json();
    assert_eq!(code, 0, "{err}");
    let acts = actions(&plan);
    let adopts = acts.iter().filter(|a| a.ends_with(":adopt")).count();
    assert_eq!(adopts, 24, "{acts:?}");
    assert_eq!(
        acts.iter()
            .filter(|a| !a.ends_with(":adopt"))
            .collect::<Vec<_>>(),
        ["bastion:retag"]
    );
    assert_eq!(plan["errors"], serde_json::json!([]));

    // Apply converges: the next plan is empty.
    let (code, out, err) = repo.sgops(&["apply"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, plan, err) = repo.plan_json();
    assert_eq!(code, 0, "{err}");
    assert_eq!(actions(&plan), Vec::<String>::new());

    // A second import writes nothing: every file exists.
    let (code, _, err) =
        repo.sgops(&["import", "--all", "--out-dir", "rules", "--ticket", "CHG-1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "import --all: 8 of 8 accounts × regions read; 0 groups written, 12 skipped (files exist); 0 rules imported, 0 commented out"
        ),
        "{err}"
    );
    assert!(
        err.contains("skipped rules/a1/us-east-1/web.yaml: it exists (--force replaces it)"),
        "{err}"
    );
    assert_eq!(files_under(&rules_dir), files);
    // With --force, the same bytes again: the adopted rules import to the files they came from.
    let (code, _, err) = repo.sgops(&[
        "import",
        "--all",
        "--out-dir",
        "rules",
        "--ticket",
        "CHG-1",
        "--force",
        "--account",
        "a1",
        "--region",
        "us-east-1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 of 1 accounts × regions read; 2 groups written"),
        "{err}"
    );
    assert_eq!(files_under(&rules_dir), files);
}

#[tokio::test]
async fn import_all_refuses_bad_input_before_reading_anything() {
    let acct = account_id();
    let repo = Repo::new(&[("app", &acct)], "");
    let proxy = FaultProxy::start(&[]);
    let run = |args: &[&str]| repo.sgops_via(&proxy.url, args);

    let (code, _, err) = run(&["import", "--all", "--out-dir", "out", "--tagged", "vpcx"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`vpcx` is not KEY=VALUE: name a tag and its value"),
        "{err}"
    );
    // A folder that cannot be made (its parent is a file).
    let (code, _, err) = run(&[
        "import",
        "--all",
        "--out-dir",
        "sgops.yaml/out",
        "--region",
        "us-east-1",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--out-dir sgops.yaml/out: cannot write there")
            && err.contains("nothing was read or written"),
        "{err}"
    );
    let (code, _, err) = run(&["import", "--all", "--out-dir", "out"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no region to read for account app: pass --region R"),
        "{err}"
    );
    let (code, _, err) = run(&[
        "import",
        "--all",
        "--out-dir",
        "out",
        "--region",
        "us-east-1",
        "--account",
        "nope",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--account nope: no such account"), "{err}");
    let (code, _, err) = run(&["import", "--all"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--out-dir"), "{err}");
    let (code, _, err) = run(&["import", "app", "us-east-1", "--all", "--out-dir", "o"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    assert_eq!(proxy.stats()["requests"], 0, "nothing was read");
    assert!(!repo.path().join("out").exists(), "nothing was written");

    // Without rule_tags and --tagged there is nothing to tell exceptions by.
    std::fs::write(
        repo.path().join("sgops.yaml"),
        format!("accounts:\n  app: \"{acct}\"\n"),
    )
    .expect("write");
    let (code, _, err) = run(&[
        "import",
        "--all",
        "--out-dir",
        "out",
        "--region",
        "us-east-1",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no tag to find the exceptions by"), "{err}");
    assert_eq!(proxy.stats()["requests"], 0, "nothing was read");
}
