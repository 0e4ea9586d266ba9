//! Drives plan and apply across accounts × regions: assume a role per target, read live
//! state, plan, and (for apply) write, up to `concurrency` targets at once, with progress.
//!
//! I/O: AWS through [`crate::aws`]; progress on standard error.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;
use sha2::{Digest, Sha256};

use crate::allowlist::{self, Allowlist};
use crate::apply::{self, ApplyReport, ChangeResult};
use crate::aws::{Aws, Session};
use crate::cli::Shard;
use crate::config::Config;
use crate::error::Error;
use crate::live::aws::AwsEc2;
use crate::live::{LiveRead, LiveTarget, Target};
use crate::plan::{self, Change, Plan, PlanInput};
use crate::rules::{Desired, GroupRef, Peer};

/// A live read, with the client to write through later.
pub struct Read {
    pub live: BTreeMap<Target, Result<LiveTarget, String>>,
    clients: BTreeMap<Target, AwsEc2>,
}

/// Progress over targets: a bar on a terminal, plain lines elsewhere (CI logs).
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    verb: &'static str,
}

impl Progress {
    pub(crate) fn new(len: usize, verb: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(len as u64);
            if let Ok(s) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}") {
                b.set_style(s.progress_chars("=> "));
            }
            b.set_prefix(verb);
            b
        });
        Progress { bar, verb }
    }

    pub(crate) fn done(&self, t: &Target, outcome: &str) {
        match &self.bar {
            Some(b) => {
                b.set_message(format!("{} {}", t.account, t.region));
                b.inc(1);
            }
            None => crate::errln!("{} {t}: {outcome}", self.verb),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Whether `account` falls in `shard`: a stable hash of the name, so every account is in
/// exactly one shard and stays there while N is unchanged.
pub fn in_shard(account: &str, shard: Option<Shard>) -> bool {
    let Some(s) = shard else {
        return true;
    };
    let h = Sha256::digest(account.as_bytes());
    let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    n % u64::from(s.count) == u64::from(s.index - 1)
}

/// The account × region pairs to work on: those with rule files and those `regions` in
/// sgops.yaml names for every account (so a deleted last file still plans its deletes),
/// limited to `only` accounts and to one shard.
pub fn targets(
    config: &Config,
    desired: &Desired,
    only: &[String],
    shard: Option<Shard>,
) -> Result<Vec<Target>, Error> {
    for name in only {
        if !config.accounts.contains_key(name) {
            return Err(Error::Usage(format!(
                "--account {name}: no such account in sgops.yaml (known: {})",
                config
                    .accounts
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut pairs = desired.targets();
    for (name, account) in &config.accounts {
        pairs.extend(
            config
                .regions_of(account)
                .iter()
                .map(|r| (name.clone(), r.clone())),
        );
    }
    pairs.sort();
    pairs.dedup();
    Ok(pairs
        .into_iter()
        .filter(|(a, _)| only.is_empty() || only.contains(a))
        .filter(|(a, _)| in_shard(a, shard))
        .filter_map(|(account, region)| {
            config.accounts.get(&account).map(|a| Target {
                account: account.clone(),
                account_id: a.id.clone(),
                region,
            })
        })
        .collect())
}

/// The accounts' sessions and the slots for calls in flight, shared by the targets of a run
/// (plan, apply, `import --all`).
///
/// Each account's role is assumed at most once per run, by the first of its targets to need
/// it; its other regions wait for that AssumeRole and share its credentials, or its failure.
/// Slots are held by calls, not by targets: a region waiting for its account's AssumeRole
/// holds none, so every slot is always busy with a call and a run takes (calls × latency ÷
/// concurrency), the latency floor. (Held by targets, each target would hold its slot for two
/// round trips, the wait for the AssumeRole included.)
pub struct Pool<'a> {
    aws: &'a Aws,
    config: &'a Config,
    sessions: BTreeMap<String, tokio::sync::OnceCell<Result<Session, String>>>,
    slots: tokio::sync::Semaphore,
}

impl<'a> Pool<'a> {
    /// A pool for the accounts of `targets`, `concurrency` calls at once.
    pub fn new(aws: &'a Aws, config: &'a Config, targets: &[Target]) -> Pool<'a> {
        Pool {
            aws,
            config,
            sessions: targets
                .iter()
                .map(|t| (t.account.clone(), tokio::sync::OnceCell::new()))
                .collect(),
            slots: tokio::sync::Semaphore::new(config.concurrency.max(1)),
        }
    }

    /// The session of `t`'s account: assumed by the first caller (holding a slot for the
    /// AssumeRole only), shared with the others.
    pub async fn session(&self, t: &Target) -> Result<Session, String> {
        let account = self
            .config
            .accounts
            .get(&t.account)
            .ok_or_else(|| format!("account {} is not in sgops.yaml", t.account))?;
        let cell = self
            .sessions
            .get(&t.account)
            .ok_or_else(|| format!("account {} has no session", t.account))?;
        cell.get_or_init(|| async {
            let _slot = self.slot().await?;
            self.aws
                .assume(self.config, &t.account, account)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .clone()
    }

    /// A slot for calls: hold it while they are in flight.
    pub async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, String> {
        self.slots
            .acquire()
            .await
            .map_err(|_| "the run was cancelled".to_string())
    }
}

/// Assumes each account's role once and reads the named groups of every target (account ×
/// region), with at most `concurrency` calls in flight (see [`Pool`]).
pub async fn read(aws: &Aws, config: &Config, desired: &Desired, targets: &[Target]) -> Read {
    let pool = &Pool::new(aws, config, targets);
    let progress = &Progress::new(targets.len(), "reading");
    let results: Vec<(Target, Result<LiveTarget, String>, Option<AwsEc2>)> =
        futures::future::join_all(targets.iter().map(|t| async move {
            let files: Vec<_> = desired
                .files
                .iter()
                .filter(|f| f.account == t.account && f.region == t.region)
                .collect();
            let mut groups: Vec<GroupRef> = files.iter().map(|f| f.group.clone()).collect();
            groups.sort();
            groups.dedup();
            let lists: BTreeSet<String> = files
                .iter()
                .flat_map(|f| &f.rules)
                .filter_map(|r| prefix_list_of(&r.spec.peer))
                .collect();
            let out = read_one(pool, t, &groups, lists).await;
            progress.done(
                t,
                match &out {
                    Ok(_) => "read",
                    Err(_) => "failed",
                },
            );
            match out {
                Ok((live, client)) => (t.clone(), Ok(live), Some(client)),
                Err(e) => (t.clone(), Err(e), None),
            }
        }))
        .await;
    progress.finish();
    let mut read = Read {
        live: BTreeMap::new(),
        clients: BTreeMap::new(),
    };
    for (t, live, client) in results {
        if let Some(c) = client {
            read.clients.insert(t.clone(), c);
        }
        read.live.insert(t, live);
    }
    read
}

fn prefix_list_of(peer: &Peer) -> Option<String> {
    match peer {
        Peer::PrefixList(id) => Some(id.clone()),
        _ => None,
    }
}

/// Reads one target; `lists` are the prefix lists its desired rules reference.
async fn read_one(
    pool: &Pool<'_>,
    t: &Target,
    groups: &[GroupRef],
    mut lists: BTreeSet<String>,
) -> Result<(LiveTarget, AwsEc2), String> {
    let session = pool.session(t).await?;
    let _slot = pool.slot().await?;
    let ec2 = AwsEc2 {
        client: session.ec2(&t.region),
    };
    let mut live = ec2.read(groups).await?;
    // Prefix-list rules weigh their list's max entries in the quota pre-flight: one more
    // read, only where some rule of a named group references a prefix list. A desired list
    // that does not exist here would fail at apply, part-way: it is a plan error instead.
    let desired_lists = lists.clone();
    lists.extend(
        live.groups
            .values()
            .flatten()
            .flat_map(|g| &g.rules)
            .filter_map(|r| prefix_list_of(&r.spec.peer)),
    );
    if !lists.is_empty() {
        live.prefix_lists = ec2.prefix_lists(&lists).await?;
        let missing: Vec<&str> = desired_lists
            .iter()
            .filter(|id| !live.prefix_lists.contains_key(*id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "prefix list {} named in rule files does not exist in this account and region (or is not shared with it)",
                missing.join(", ")
            ));
        }
    }
    Ok((live, ec2))
}

/// Reads the allow-list of the one service plans need (EC2), with the caller's credentials.
pub async fn allowlist(aws: &Aws, config: &Config) -> Result<Allowlist, Error> {
    let ssm = aws.ssm(&config.allowlist.region);
    Ok(allowlist::fetch(&ssm, &config.allowlist.parameter_prefix, &[plan::SERVICE]).await?)
}

/// Plans from what was read.
pub fn make_plan(
    config: &Config,
    desired: &Desired,
    read: &Read,
    allow: &Allowlist,
    today: Date,
) -> Plan {
    plan::plan(&PlanInput {
        config,
        desired,
        live: &read.live,
        allowlist: allow,
        today,
    })
}

/// Applies every change of the plan, target by target (`concurrency` at once), group by group.
/// Targets with a plan error are skipped whole. `on_result` sees each result as it lands.
pub async fn apply(
    config: &Config,
    read: &Read,
    plan: &Plan,
    on_result: &(dyn Fn(&ChangeResult) + Sync),
) -> ApplyReport {
    let mut per_target: BTreeMap<(String, String), Vec<Change>> = BTreeMap::new();
    for c in &plan.changes {
        per_target
            .entry((c.account.clone(), c.region.clone()))
            .or_default()
            .push(c.clone());
    }
    let progress = Progress::new(per_target.len(), "applying");
    let results: Vec<Vec<ChangeResult>> = futures::stream::iter(per_target)
        .map(|((account, region), changes)| {
            let progress = &progress;
            async move {
                let target = read
                    .clients
                    .keys()
                    .find(|t| t.account == account && t.region == region)
                    .cloned();
                let blocked = plan
                    .errors
                    .iter()
                    .any(|e| e.account == account && e.region == region);
                let results = match (target.as_ref().and_then(|t| read.clients.get(t)), blocked) {
                    (Some(ec2), false) => {
                        let mut by_group: BTreeMap<&str, Vec<Change>> = BTreeMap::new();
                        for c in &changes {
                            by_group
                                .entry(&c.security_group)
                                .or_default()
                                .push(c.clone());
                        }
                        let mut out = Vec::new();
                        for (group, cs) in by_group {
                            out.extend(apply::apply_group_with(ec2, group, &cs, on_result).await);
                        }
                        out
                    }
                    _ => {
                        let r = apply::skipped(
                            &changes,
                            "not applied: this account and region has a plan error",
                        );
                        r.iter().for_each(on_result);
                        r
                    }
                };
                if let Some(t) = &target {
                    let failed = results
                        .iter()
                        .filter(|r| {
                            matches!(r.status, apply::Status::Failed | apply::Status::Skipped)
                        })
                        .count();
                    let outcome = match failed {
                        0 => format!("{} changes applied", results.len()),
                        n => format!("{} changes, {n} failed or skipped", results.len()),
                    };
                    progress.done(t, &outcome);
                }
                results
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;
    progress.finish();
    ApplyReport::new(
        plan,
        results.into_iter().flatten().collect(),
        plan.errors.clone(),
    )
}
