//! Behaviour under faults (SPEC section 9), end to end: the real binary against moto through
//! `scripts/faultproxy.py`, which throttles, fails, drops, delays and loses requests, refuses
//! a role, or slows every call down so that an apply can be killed midway.
//!
//! Every scenario ends the same way: the live rules equal the rule files (each desired rule
//! exactly once, tagged `sgops:rule`), and a plan straight to moto is empty.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// Every fault kind the proxy knows.
const KINDS: [&str; 5] = ["throttle", "500", "drop", "slow", "lost"];

/// Desired rule `i` of a file: mostly ingress, every fourth egress; one port each.
fn rule(i: usize) -> String {
    let (dir, cidr) = if i % 4 == 3 {
        ("egress", "198.51.100.0/24")
    } else {
        ("ingress", "203.0.113.0/24")
    };
    format!(
        "  - id: r{i}\n    direction: {dir}\n    protocol: tcp\n    ports: {port}\n    cidr: {cidr}\n    description: Rule {i}\n    ticket: CHG-9\n",
        port = port(i)
    )
}

fn port(i: usize) -> i32 {
    8000 + i32::try_from(i).expect("small")
}

/// One account of a world: a group and the indexes of the rules its file wants.
struct Account {
    name: String,
    id: String,
    ec2: aws_sdk_ec2::Client,
    group: String,
    rules: Vec<usize>,
}

struct World {
    repo: Repo,
    accounts: Vec<Account>,
}

/// Accounts named `names`, each with one fresh group and a rule file of `n` rules.
async fn world(names: &[&str], n: usize, extra_config: &str) -> World {
    let ids: Vec<String> = names.iter().map(|_| account_id()).collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .zip(&ids)
        .map(|(n, id)| (*n, id.as_str()))
        .collect();
    let repo = Repo::new(&pairs, extra_config);
    repo.allow(ALL_ACTIONS).await;
    let mut accounts = Vec::new();
    for (name, id) in names.iter().zip(ids) {
        let ec2 = ec2(&id, "us-east-1").await;
        let vpc = create_vpc(&ec2).await;
        let group = create_group(&ec2, &vpc, "app").await;
        let a = Account {
            name: name.to_string(),
            id,
            ec2,
            group,
            rules: (0..n).collect(),
        };
        write_rules(&repo, &a);
        accounts.push(a);
    }
    World { repo, accounts }
}

fn write_rules(repo: &Repo, a: &Account) {
    let body: String = a.rules.iter().map(|i| rule(*i)).collect();
    repo.file(
        &a.name,
        "us-east-1",
        "app",
        &format!("security_group: {}\nrules:\n{body}", a.group),
    );
}

/// Live rules carrying `sgops:rule`, by its value (several when a rule was applied twice).
async fn managed(a: &Account) -> BTreeMap<String, Vec<Seen>> {
    let mut out: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for r in rules(&a.ec2, &a.group).await {
        if let Some(id) = r.tags.get("sgops:rule") {
            out.entry(id.clone()).or_default().push(r);
        }
    }
    out
}

/// Live state equals desired: each desired rule exactly once with its tags and its meaning,
/// no other managed rule, no untagged twin; and a plan straight to moto is empty.
async fn assert_converged(w: &World) {
    for a in &w.accounts {
        let all = rules(&a.ec2, &a.group).await;
        let live = managed(a).await;
        let want: BTreeSet<String> = a.rules.iter().map(|i| format!("r{i}")).collect();
        let have: BTreeSet<String> = live.keys().cloned().collect();
        assert_eq!(have, want, "{}: managed rules\n{all:#?}", a.name);
        for i in &a.rules {
            let id = format!("r{i}");
            let [r] = live[&id].as_slice() else {
                panic!(
                    "{}: {id} applied {} times: {all:#?}",
                    a.name,
                    live[&id].len()
                );
            };
            assert_eq!(
                (r.egress, r.proto.as_str(), r.from, r.to, r.desc.clone()),
                (i % 4 == 3, "tcp", port(*i), port(*i), format!("Rule {i}")),
                "{}: {id}",
                a.name
            );
            assert_eq!(
                r.tags.get("vpcx:skip_enforcement").map(String::as_str),
                Some("yes"),
                "{}: {id} has the rule_tags from its creation",
                a.name
            );
            let twins = all
                .iter()
                .filter(|o| o.egress == r.egress && o.from == r.from && o.peer == r.peer)
                .count();
            assert_eq!(twins, 1, "{}: {id} exists once", a.name);
        }
    }
    let (code, plan, err) = w.repo.plan_json();
    assert_eq!(
        (code, actions(&plan)),
        (0, vec![]),
        "a plan after the apply is empty\n{err}"
    );
}

fn report(out: &str, err: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("apply JSON: {e}\n{out}\n{err}"))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn sum(v: &Value) -> u64 {
    v.as_object()
        .map_or(0, |m| m.values().map(|x| x.as_u64().unwrap_or(0)).sum())
}

/// `(operations, attempts)` summed over sgops's `--stats` lines on standard error.
fn sgops_attempts(err: &str) -> (u64, u64) {
    let mut ops = 0;
    let mut attempts = 0;
    for line in err.lines() {
        let Some((left, right)) = line.split_once(" (") else {
            continue;
        };
        let (Some(o), Some(a)) = (
            left.split_whitespace()
                .last()
                .and_then(|x| x.parse::<u64>().ok()),
            right
                .strip_suffix(" attempts)")
                .and_then(|x| x.parse::<u64>().ok()),
        ) else {
            continue;
        };
        ops += o;
        attempts += a;
    }
    (ops, attempts)
}

/// (a) 30 % of all requests fail, every kind of fault mixed: the apply still completes, each
/// failed attempt is retried, and nothing is applied twice.
#[tokio::test]
async fn apply_converges_with_30_percent_of_requests_faulted() {
    let w = world(&["alpha", "beta"], 8, "").await;
    let proxy = FaultProxy::start(&[
        "--fault-rate",
        "0.3",
        "--faults",
        "throttle,500,drop,slow,lost",
        "--slow-ms",
        "200",
        // This seed draws every kind within the first 21 requests (the fewest this apply
        // can make), starting on the reads: GetParameter lost, AssumeRole dropped…
        "--seed",
        "14",
    ]);
    let start = Instant::now();
    let (code, out, err) = w
        .repo
        .sgops_via(&proxy.url, &["apply", "--format", "json", "--stats"]);
    let took = start.elapsed();
    let stats = proxy.stats();
    assert_eq!(code, 0, "{out}\n{err}\n{stats:#}");
    let r = report(&out, &err);
    let s = &r["summary"];
    assert_eq!(
        (
            n(&s["applied"]) + n(&s["converged"]),
            n(&s["failed"]),
            n(&s["skipped"])
        ),
        (16, 0, 0),
        "{out}"
    );

    // The faults really happened, all kinds of them, on reads and writes alike.
    for kind in KINDS {
        assert!(n(&stats["faults"][kind]) >= 1, "no {kind} fault: {stats:#}");
    }
    let fba = &stats["faults_by_action"];
    assert!(
        sum(&fba["AuthorizeSecurityGroupIngress"]) + sum(&fba["AuthorizeSecurityGroupEgress"]) >= 1,
        "writes were faulted: {stats:#}"
    );
    // Every failed attempt (all faults but `slow`) was retried, once, and nothing else was.
    let failed_attempts = n(&stats["faults_total"]) - n(&stats["faults"]["slow"]);
    assert_eq!(sum(&stats["retries"]), failed_attempts, "{stats:#}");
    // sgops counted the same retries in its own statistics.
    let (ops, attempts) = sgops_attempts(&err);
    assert_eq!(attempts - ops, failed_attempts, "{err}\n{stats:#}");
    // A create whose reply was lost converges on the retry's Duplicate instead of failing.
    let lost_creates = n(&fba["AuthorizeSecurityGroupIngress"]["lost"])
        + n(&fba["AuthorizeSecurityGroupEgress"]["lost"]);
    let converged = n(&s["converged"]);
    assert!(
        converged <= lost_creates && (lost_creates == 0) == (converged == 0),
        "{converged} converged for {lost_creates} lost creates\n{out}"
    );
    assert!(took < Duration::from_secs(40), "apply took {took:?}");

    assert_converged(&w).await;
}

/// (b) One account's role cannot be assumed: the others are applied; the report names the
/// failed account and standard error counts it; exit 1; AccessDenied is not retried.
#[tokio::test]
async fn unassumable_role_fails_only_its_account() {
    let mut w = world(&["good", "locked"], 4, "").await;
    let locked = w.accounts.pop().expect("locked");
    let proxy = FaultProxy::start(&["--deny-assume", &locked.id]);
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["apply"]);
    let stats = proxy.stats();
    assert_eq!(code, 1, "{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("error") && l.contains("locked us-east-1"))
        .unwrap_or_else(|| panic!("the report names the failed account:\n{out}"));
    assert!(
        line.contains(&locked.id) && line.contains("AccessDenied"),
        "{line}"
    );
    assert!(
        out.contains("Apply: 4 applied, 0 converged, 0 failed, 0 skipped."),
        "{out}"
    );
    assert!(
        err.contains("apply incomplete") && err.contains("1 account/region errors"),
        "{err}"
    );
    assert_eq!(
        stats["denied_assume"],
        serde_json::json!({ locked.id.clone(): 1 }),
        "AccessDenied is not retried"
    );
    // The locked account is untouched; the good one is complete.
    assert!(managed(&locked).await.is_empty());
    for a in &w.accounts {
        let live: Vec<String> = managed(a).await.into_keys().collect();
        assert_eq!(live, vec!["r0", "r1", "r2", "r3"], "{}", a.name);
    }
}

/// Standard error names each account that failed, with the reason.
#[tokio::test]
async fn unassumable_role_is_named_on_stderr() {
    let w = world(&["good", "locked"], 1, "").await;
    let proxy = FaultProxy::start(&["--deny-assume", &w.accounts[1].id]);
    let (code, _, err) = w.repo.sgops_via(&proxy.url, &["apply"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("locked"),
        "stderr names the failed account:\n{err}"
    );
}

/// An account whose role cannot be assumed fails all its regions with one AssumeRole, and
/// is reported once, naming its regions; the other account's regions are all read.
#[tokio::test]
async fn unassumable_role_fails_all_its_regions_once() {
    let w = world(
        &["good", "locked"],
        1,
        "regions: [us-east-1, eu-west-1, ap-southeast-2]\n",
    )
    .await;
    let locked = &w.accounts[1];
    let proxy = FaultProxy::start(&["--deny-assume", &locked.id]);
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["plan", "--stats"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let stats = proxy.stats();
    assert_eq!(
        stats["denied_assume"],
        serde_json::json!({ locked.id.clone(): 1 }),
        "one AssumeRole for the locked account, not one per region"
    );
    assert_eq!(stats["by_action"]["AssumeRole"], 2, "{stats:#}");
    assert_eq!(
        stats["by_action"]["DescribeSecurityGroupRules"], 3,
        "{stats:#}"
    );
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with("error: locked ap-southeast-2, eu-west-1, us-east-1: cannot assume")
            && errors[0].contains(&locked.id)
            && errors[0].contains("AccessDenied"),
        "{err}"
    );
    // The JSON plan keeps one error per account × region, for tools.
    let (_, json, _) = w.repo.sgops_via(&proxy.url, &["plan", "--format", "json"]);
    let plan: Value = serde_json::from_str(&json).expect("JSON plan");
    assert_eq!(plan["errors"].as_array().map(Vec::len), Some(3), "{json}");
}

/// `(rule, status)` of each result line of a journal, and whether it has the final summary.
fn journal(path: &std::path::Path) -> (Vec<(String, String, String)>, bool) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut results = Vec::new();
    let mut finished = false;
    for line in text.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("journal line {line:?}: {e}"));
        if v.get("summary").is_some() {
            finished = true;
        } else {
            results.push((
                v["account"].as_str().unwrap_or_default().to_string(),
                v["rule"].as_str().unwrap_or_default().to_string(),
                v["status"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    (results, finished)
}

/// Starts `apply --journal killed.jsonl` through a slow proxy and SIGKILLs it as soon as
/// `ready` says so about the live managed rules (polled straight from moto).
async fn kill_apply_when(
    w: &World,
    latency_ms: &str,
    ready: impl Fn(&[BTreeMap<String, Vec<Seen>>]) -> bool,
) -> Vec<BTreeMap<String, Vec<Seen>>> {
    let proxy = FaultProxy::start(&["--latency-ms", latency_ms]);
    let mut child = w
        .repo
        .sgops_command(&proxy.url, &["apply", "--journal", "killed.jsonl"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sgops apply");
    let start = Instant::now();
    loop {
        let mut live = Vec::new();
        for a in &w.accounts {
            live.push(managed(a).await);
        }
        if ready(&live) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("apply ended ({status}) before it could be killed");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "apply made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), None, "killed by a signal, not exited");
    // A request sgops sent just before the kill may still be in the proxy or in moto and
    // land afterwards: stop the proxy, then read until two reads apart agree.
    drop(proxy);
    let mut after = live_state(w).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = live_state(w).await;
        if again == after {
            return after;
        }
        after = again;
    }
}

async fn live_state(w: &World) -> Vec<BTreeMap<String, Vec<Seen>>> {
    let mut live = Vec::new();
    for a in &w.accounts {
        live.push(managed(a).await);
    }
    live
}

/// (c) An apply killed with SIGKILL midway: its journal lists what it finished, and a
/// re-run converges without applying anything twice.
#[tokio::test]
async fn apply_killed_midway_converges_on_rerun() {
    // One account at a time, so the first finishes while the second is cut short.
    let w = world(&["alpha", "beta"], 8, "concurrency: 1\n").await;
    let after = kill_apply_when(&w, "100", |live| live[0].len() == 8 && !live[1].is_empty()).await;
    let beta_done = after[1].len();
    assert!(
        (1..8).contains(&beta_done),
        "killed midway: beta had {beta_done} of 8 rules"
    );

    let (lines, finished) = journal(&w.repo.path().join("killed.jsonl"));
    assert!(!finished, "the killed run never wrote its summary");
    // Every line is true: a result for a rule that is live, tagged, once.
    for (account, rule, status) in &lines {
        let i = w
            .accounts
            .iter()
            .position(|a| &a.name == account)
            .expect("known account");
        assert_eq!(status, "applied", "{account} {rule}");
        assert_eq!(
            after[i].get(rule).map(Vec::len),
            Some(1),
            "{account} {rule}"
        );
    }
    // The account finished before the kill is in the journal, whole.
    let alpha: BTreeSet<&str> = lines
        .iter()
        .filter(|(a, _, _)| a == "alpha")
        .map(|(_, r, _)| r.as_str())
        .collect();
    let want: BTreeSet<String> = (0..8).map(|i| format!("r{i}")).collect();
    assert_eq!(
        alpha,
        want.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );

    // The re-run, straight to moto, creates only what is missing.
    let (code, out, err) = w.repo.sgops(&["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "Apply: {} applied, 0 converged, 0 failed, 0 skipped.",
            8 - beta_done
        )),
        "{out}"
    );
    assert_converged(&w).await;
}

/// Results are journaled per change as its last write lands: rules created in a group that
/// was interrupted are in the journal.
#[tokio::test]
async fn journal_lists_rules_created_before_a_kill() {
    let w = world(&["alpha"], 8, "").await;
    let after = kill_apply_when(&w, "100", |live| live[0].len() >= 2).await;
    let (lines, _) = journal(&w.repo.path().join("killed.jsonl"));
    let journaled: BTreeSet<&str> = lines.iter().map(|(_, r, _)| r.as_str()).collect();
    let live: BTreeSet<&str> = after[0].keys().map(String::as_str).collect();
    // Writes in one group are sequential: at the kill at most one write can have landed in
    // AWS without its reply reaching sgops. Everything else that landed is journaled.
    assert!(
        journaled.is_subset(&live),
        "journal lists only what happened: {journaled:?} vs {live:?}"
    );
    assert!(
        live.len() - journaled.len() <= 1 && !journaled.is_empty(),
        "every rule created before the kill is journaled, but the one in flight: {journaled:?} vs {live:?}"
    );
}

/// (d) Writes whose reply is lost (the write happened, the connection dropped): the SDK
/// retries, AWS answers Duplicate / NotFound, and sgops converges without failing or
/// writing twice. Creates first, then a delete and an in-place update.
#[tokio::test]
async fn lost_write_responses_converge() {
    let mut w = world(&["alpha", "beta"], 6, "").await;
    let writes = "AuthorizeSecurityGroupIngress,AuthorizeSecurityGroupEgress,\
                  RevokeSecurityGroupIngress,ModifySecurityGroupRules";
    let proxy = FaultProxy::start(&[
        "--faults",
        "lost",
        "--fault-rate",
        "1.0",
        "--first-attempt-only",
        "--only-actions",
        writes,
    ]);
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["apply", "--format", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r = report(&out, &err);
    let results = r["results"].as_array().expect("results");
    assert_eq!(results.len(), 12, "{out}");
    for res in results {
        assert_eq!(res["status"], "converged", "{res:#}");
        assert!(
            res["message"]
                .as_str()
                .unwrap_or_default()
                .contains("InvalidPermission.Duplicate"),
            "{res:#}"
        );
    }
    let stats = proxy.stats();
    let authorize = |k: &str| {
        n(&stats[k]["AuthorizeSecurityGroupIngress"]) + n(&stats[k]["AuthorizeSecurityGroupEgress"])
    };
    assert_eq!(
        (
            n(&stats["faults"]["lost"]),
            authorize("forwarded"),
            authorize("retries")
        ),
        (12, 24, 12),
        "each create reached moto twice, its first reply lost: {stats:#}"
    );
    assert_converged(&w).await;

    // A delete (r0) and an update in place (r1 moves port, keeping its id), replies lost.
    let mut before = Vec::new();
    for a in &w.accounts {
        before.push(managed(a).await["r1"][0].id.clone());
    }
    for a in &mut w.accounts {
        a.rules.retain(|i| *i != 0);
    }
    for a in &w.accounts {
        let body: String = a
            .rules
            .iter()
            .map(|i| rule(*i).replace("ports: 8001", "ports: 9001"))
            .collect();
        w.repo.file(
            &a.name,
            "us-east-1",
            "app",
            &format!("security_group: {}\nrules:\n{body}", a.group),
        );
    }
    let (_, plan, _) = w.repo.plan_json();
    assert_eq!(
        actions(&plan),
        vec!["r0:delete", "r0:delete", "r1:update", "r1:update"]
    );
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["apply", "--format", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut statuses: Vec<String> = report(&out, &err)["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["rule"].as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec!["r0:converged", "r0:converged", "r1:applied", "r1:applied"],
        "{out}"
    );
    // A lost revoke: its retry gets NotFound, so sgops revokes one by one (lost again, the
    // retry NotFound again) and counts the rule as gone. A lost modify is simply re-sent.
    let stats = proxy.stats();
    assert_eq!(
        (
            n(&stats["faults_by_action"]["RevokeSecurityGroupIngress"]["lost"]),
            n(&stats["faults_by_action"]["ModifySecurityGroupRules"]["lost"]),
        ),
        (4, 2),
        "{stats:#}"
    );
    for (a, id) in w.accounts.iter().zip(&before) {
        let live = managed(a).await;
        assert!(!live.contains_key("r0"), "{}: r0 revoked", a.name);
        let r1 = &live["r1"];
        assert_eq!(
            (r1.len(), r1[0].id.as_str(), r1[0].from),
            (1, id.as_str(), 9001),
            "{}: r1 updated in place",
            a.name
        );
    }
}

/// Transient faults spread over many accounts do not exhaust retries: each write fails twice
/// (connection dropped) and goes through on its third attempt, well within AWS_MAX_ATTEMPTS.
/// Regression: the SDK's retry quota (500 tokens, 10 per transient retry, forgotten on every
/// retry after the first) was one bucket for the whole process, so retries in some accounts
/// used up the quota and later calls anywhere failed after one or two attempts.
#[tokio::test]
async fn retries_are_not_cut_short_by_a_shared_retry_quota() {
    let names = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"];
    let w = world(&names, 6, "").await;
    let proxy = FaultProxy::start(&[
        "--faults",
        "drop",
        "--fault-rate",
        "1.0",
        "--max-attempt",
        "2",
        "--only-actions",
        "AuthorizeSecurityGroupIngress,AuthorizeSecurityGroupEgress",
    ]);
    let (code, out, err) = w.repo.sgops_via(&proxy.url, &["apply"]);
    let stats = proxy.stats();
    assert_eq!(code, 0, "{out}\n{err}\n{stats:#}");
    assert!(
        out.contains("Apply: 60 applied, 0 converged, 0 failed, 0 skipped."),
        "{out}"
    );
    assert_eq!(
        (n(&stats["faults"]["drop"]), sum(&stats["retries"])),
        (120, 120),
        "every write dropped twice, retried twice: {stats:#}"
    );
    assert_converged(&w).await;
}
