//! The inventory of exceptions (SPEC section 11): every rule of the rule files with its
//! ticket, expiry and owners, and with `--live` its status in AWS. Also the plan's list of
//! rules expiring soon, which is the same walk over the rule files.
//!
//! Pure: the caller reads AWS (the plan's reads, [`crate::engine::read`]) and passes what
//! was read to [`add_status`]. Renderers are in [`render`].

pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde::Serialize;

use crate::config::{Config, RULE_TAG};
use crate::live::{LiveTarget, Target};
use crate::plan::{Expiring, PlanError};
use crate::repo::Repo;
use crate::rules::{GroupRef, RuleSpec};

pub const REPORT_VERSION: u32 = 1;

/// A rule's state in AWS, as `report --live` finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In force: a rule tagged `sgops:rule` with this id is in AWS, with the same direction,
    /// protocol, ports, peer and description.
    Applied,
    /// Not in AWS yet: no rule carries `sgops:rule` with this id (apply will create or adopt
    /// it).
    Pending,
    /// In AWS but different: a rule tagged with this id exists, and none of them matches the
    /// file in direction, protocol, ports, peer or description (edited by hand, or a change
    /// not applied yet). Tags are not compared: `sgops plan` shows a retag.
    Drifted,
    /// Past its `expires` date and still in AWS (tagged with this id): apply revokes it.
    Expired,
    /// Past its date and no longer in AWS: apply did its part; the rule can leave the file.
    Revoked,
    /// Its account and region, or its security group, could not be read (see the errors).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Pending => "pending",
            Status::Drifted => "drifted",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
            Status::Unknown => "unknown",
        }
    }
}

/// One exception of the rule files: SPEC section 11's fields, `status` with `--live`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub account: String,
    pub account_id: String,
    pub region: String,
    /// As the rule file names it: an id, or `name in vpc-…`.
    pub security_group: String,
    pub rule: String,
    pub direction: String,
    pub protocol: String,
    /// `443`, `8000-8100`, `all`, or `type 8 code -1` for ICMP.
    pub ports: String,
    /// The CIDR, prefix list id or security group id on the other end.
    pub peer: String,
    pub description: Option<String>,
    pub ticket: String,
    /// `YYYY-MM-DD`, or absent for a rule without an end.
    pub expires: Option<String>,
    /// Days from today to `expires`; 0 or less: expired.
    pub days_left: Option<i64>,
    pub owners: Vec<String>,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip)]
    group: GroupRef,
    #[serde(skip)]
    spec: RuleSpec,
}

impl Entry {
    pub fn is_expired(&self) -> bool {
        self.days_left.is_some_and(|d| d <= 0)
    }
}

/// Which rules a report lists.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Only rules that expire at most this many days ahead (expired ones included).
    pub expiring_within: Option<u32>,
    /// Only these accounts (empty: all).
    pub accounts: &'a [String],
}

/// A report: the rules listed and, with `--live`, what could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    /// The date the report is made for (days_left counts from it).
    pub today: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiring_within: Option<u32>,
    pub live: bool,
    pub rules: Vec<Entry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<PlanError>,
}

/// Checks `--account` names against sgops.yaml.
pub fn check_accounts(cfg: &Config, accounts: &[String]) -> Result<(), String> {
    for name in accounts {
        if !cfg.accounts.contains_key(name) {
            return Err(format!(
                "--account {name}: no such account in sgops.yaml (known: {})",
                cfg.accounts.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}

/// Every rule of the repository that `filter` lets through, sorted by account, region,
/// group, rule.
pub fn entries(repo: &Repo, cfg: &Config, today: Date, filter: &Filter<'_>) -> Vec<Entry> {
    let mut out = Vec::new();
    for f in &repo.desired.files {
        if !filter.accounts.is_empty() && !filter.accounts.contains(&f.account) {
            continue;
        }
        let owners: Vec<String> = repo.owners_of(f).iter().map(ToString::to_string).collect();
        let account_id = cfg
            .accounts
            .get(&f.account)
            .map_or_else(String::new, |a| a.id.clone());
        for r in &f.rules {
            let days_left = r.expires.map(|d| days_between(today, d));
            if let Some(n) = filter.expiring_within
                && days_left.is_none_or(|d| d > i64::from(n))
            {
                continue;
            }
            out.push(Entry {
                account: f.account.clone(),
                account_id: account_id.clone(),
                region: f.region.clone(),
                security_group: f.group.to_string(),
                rule: r.id.clone(),
                direction: r.spec.direction.to_string(),
                protocol: r.spec.protocol.to_string(),
                ports: r.spec.ports.to_string(),
                peer: r.spec.peer.value(),
                description: r.spec.description.clone(),
                ticket: r.ticket.clone(),
                expires: r.expires.map(|d| d.to_string()),
                days_left,
                owners: owners.clone(),
                file: f.path.clone(),
                status: None,
                group: f.group.clone(),
                spec: r.spec.clone(),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.account, &a.region, &a.security_group, &a.rule, &a.file).cmp(&(
            &b.account,
            &b.region,
            &b.security_group,
            &b.rule,
            &b.file,
        ))
    });
    out
}

/// Whole days from `today` to `day` (negative when past).
pub fn days_between(today: Date, day: Date) -> i64 {
    (day - today).get_days().into()
}

/// The rules of the planned `targets` (account, region) that expire within
/// `expiry.warn_days` and are not expired yet, soonest first: the plan's `expiring`.
pub fn expiring(
    repo: &Repo,
    cfg: &Config,
    today: Date,
    targets: &BTreeSet<(String, String)>,
) -> Vec<Expiring> {
    let warn = cfg.expiry.warn_days;
    if warn == 0 {
        return Vec::new();
    }
    let filter = Filter {
        expiring_within: Some(warn),
        accounts: &[],
    };
    let mut list: Vec<Expiring> = entries(repo, cfg, today, &filter)
        .into_iter()
        .filter(|e| !e.is_expired())
        .filter(|e| targets.contains(&(e.account.clone(), e.region.clone())))
        .map(|e| Expiring {
            account: e.account,
            account_id: e.account_id,
            region: e.region,
            security_group: e.security_group,
            rule: e.rule,
            expires: e.expires.unwrap_or_default(),
            days_left: e.days_left.unwrap_or_default(),
            ticket: e.ticket,
            owners: e.owners,
            file: e.file,
        })
        .collect();
    crate::plan::sort_expiring(&mut list);
    list
}

/// The (account, region) pairs that `entries` lie in: what `--live` reads.
pub fn targets_of(cfg: &Config, entries: &[Entry]) -> Vec<Target> {
    let pairs: BTreeSet<(&str, &str)> = entries
        .iter()
        .map(|e| (e.account.as_str(), e.region.as_str()))
        .collect();
    pairs
        .into_iter()
        .filter_map(|(a, r)| {
            cfg.accounts.get(a).map(|acct| Target {
                account: a.to_string(),
                account_id: acct.id.clone(),
                region: r.to_string(),
            })
        })
        .collect()
}

/// Sets each entry's status from the live state read (see [`Status`]); returns the errors of
/// what could not be read, one per account × region or group.
pub fn add_status(
    entries: &mut [Entry],
    live: &BTreeMap<Target, Result<LiveTarget, String>>,
) -> Vec<PlanError> {
    let mut errors = BTreeSet::new();
    let by_place: BTreeMap<(&str, &str), &Result<LiveTarget, String>> = live
        .iter()
        .map(|(t, l)| ((t.account.as_str(), t.region.as_str()), l))
        .collect();
    for e in entries.iter_mut() {
        let err = |message: String| PlanError {
            account: e.account.clone(),
            region: e.region.clone(),
            message,
        };
        let group = match by_place.get(&(e.account.as_str(), e.region.as_str())) {
            None => {
                errors.insert(err("not read".into()));
                None
            }
            Some(Err(m)) => {
                errors.insert(err(m.clone()));
                None
            }
            Some(Ok(t)) => match t.groups.get(&e.group) {
                Some(Ok(g)) => Some(g),
                Some(Err(m)) => {
                    errors.insert(err(if m.starts_with("security group ") {
                        m.clone()
                    } else {
                        format!("security group {}: {m}", e.group)
                    }));
                    None
                }
                None => {
                    errors.insert(err(format!("security group {} was not read", e.group)));
                    None
                }
            },
        };
        let Some(group) = group else {
            e.status = Some(Status::Unknown);
            continue;
        };
        let managed: Vec<_> = group
            .rules
            .iter()
            .filter(|r| r.tags.get(RULE_TAG) == Some(&e.rule))
            .collect();
        e.status = Some(if e.is_expired() {
            if managed.is_empty() {
                Status::Revoked
            } else {
                Status::Expired
            }
        } else if managed.is_empty() {
            Status::Pending
        } else if managed.iter().any(|r| r.spec == e.spec) {
            Status::Applied
        } else {
            Status::Drifted
        });
    }
    errors.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{LiveGroup, LiveRule};

    fn repo_with(rules: &str, today: Date) -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("sgops.yaml"),
            "accounts:\n  a: \"111111111111\"\nexpiry: { warn_days: 10 }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("CODEOWNERS"),
            "rules/ @org/secops\nrules/a/us-east-1/b.yaml @alice bob@example.com\n",
        )
        .unwrap();
        let d = dir.path().join("rules/a/us-east-1");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("a.yaml"),
            format!("security_group: sg-0123456789abcdef0\nrules:\n{rules}"),
        )
        .unwrap();
        std::fs::write(
            d.join("b.yaml"),
            "security_group: sg-0123456789abcdef1\nrules:\n  - { id: other, direction: ingress, protocol: tcp, ports: 22, cidr: 10.0.0.0/8, ticket: T-2, expires: 2026-12-01 }\n",
        )
        .unwrap();
        let repo = Repo::load(
            &dir.path().join("sgops.yaml"),
            &dir.path().join("rules"),
            today,
        );
        assert!(!repo.has_problems(), "{:#?}", repo.diagnostics);
        (dir, repo)
    }

    const RULES: &str = "  - { id: soon, direction: ingress, protocol: tcp, ports: 443, cidr: 203.0.113.0/24, description: '=SUM(1,2)', ticket: T-1, expires: 2026-12-07 }\n  - { id: later, direction: ingress, protocol: tcp, ports: 444, cidr: 203.0.113.0/24, ticket: T-1, expires: 2027-03-01 }\n  - { id: forever, direction: egress, protocol: all, cidr: 10.0.0.0/8, ticket: T-1 }\n  - { id: gone, direction: ingress, protocol: udp, ports: 53, cidr: 10.0.0.0/8, ticket: T-1, expires: 2026-11-27 }\n";

    fn today() -> Date {
        "2026-11-27".parse().unwrap()
    }

    #[test]
    fn entries_carry_owners_and_days_left() {
        let (_d, repo) = repo_with(RULES, today());
        let cfg = repo.config.clone().unwrap();
        let all = entries(&repo, &cfg, today(), &Filter::default());
        let names: Vec<(&str, Option<i64>, &[String])> = all
            .iter()
            .map(|e| (e.rule.as_str(), e.days_left, e.owners.as_slice()))
            .collect();
        let secops = ["@org/secops".to_string()];
        let alice = ["@alice".to_string(), "bob@example.com".to_string()];
        assert_eq!(
            names,
            [
                ("forever", None, &secops[..]),
                ("gone", Some(0), &secops[..]),
                ("later", Some(94), &secops[..]),
                ("soon", Some(10), &secops[..]),
                ("other", Some(4), &alice[..]),
            ]
        );
        let within = entries(
            &repo,
            &cfg,
            today(),
            &Filter {
                expiring_within: Some(10),
                accounts: &[],
            },
        );
        let ids: Vec<&str> = within.iter().map(|e| e.rule.as_str()).collect();
        assert_eq!(ids, ["gone", "soon", "other"], "expired ones included");
        let none = entries(
            &repo,
            &cfg,
            today(),
            &Filter {
                expiring_within: None,
                accounts: &["b".to_string()],
            },
        );
        assert!(none.is_empty());
    }

    #[test]
    fn the_plan_lists_what_expires_within_warn_days_for_planned_targets() {
        let (_d, repo) = repo_with(RULES, today());
        let cfg = repo.config.clone().unwrap();
        let targets = BTreeSet::from([("a".to_string(), "us-east-1".to_string())]);
        let list = expiring(&repo, &cfg, today(), &targets);
        let got: Vec<(&str, i64)> = list
            .iter()
            .map(|e| (e.rule.as_str(), e.days_left))
            .collect();
        assert_eq!(
            got,
            [("other", 4), ("soon", 10)],
            "soonest first, not the expired one"
        );
        assert_eq!(list[0].owners, ["@alice", "bob@example.com"]);
        assert_eq!(list[0].account_id, "111111111111");
        assert!(
            list[0].file.ends_with("rules/a/us-east-1/b.yaml"),
            "{}",
            list[0].file
        );
        let elsewhere = BTreeSet::from([("a".to_string(), "eu-west-1".to_string())]);
        assert!(expiring(&repo, &cfg, today(), &elsewhere).is_empty());
        let mut off = cfg.clone();
        off.expiry.warn_days = 0;
        assert!(expiring(&repo, &off, today(), &targets).is_empty());
    }

    #[test]
    fn status_follows_what_aws_holds() {
        let (_d, repo) = repo_with(RULES, today());
        let cfg = repo.config.clone().unwrap();
        let mut list = entries(&repo, &cfg, today(), &Filter::default());
        let spec_of = |id: &str| list.iter().find(|e| e.rule == id).unwrap().spec.clone();
        let tagged = |n: u32, id: &str, spec: RuleSpec| LiveRule {
            rule_id: format!("sgr-{n:017}"),
            group_id: "sg-0123456789abcdef0".into(),
            spec,
            tags: BTreeMap::from([(RULE_TAG.to_string(), id.to_string())]),
        };
        let mut edited = spec_of("later");
        edited.description = Some("edited by hand".into());
        let group = LiveGroup {
            id: "sg-0123456789abcdef0".into(),
            rules: vec![
                tagged(1, "soon", spec_of("soon")),
                tagged(2, "later", edited),
                tagged(3, "gone", spec_of("gone")),
            ],
        };
        let t = |region: &str| Target {
            account: "a".into(),
            account_id: "111111111111".into(),
            region: region.into(),
        };
        let mut lt = LiveTarget::default();
        lt.groups
            .insert(GroupRef::Id("sg-0123456789abcdef0".into()), Ok(group));
        lt.groups.insert(
            GroupRef::Id("sg-0123456789abcdef1".into()),
            Err("security group sg-0123456789abcdef1 does not exist".into()),
        );
        let live = BTreeMap::from([(t("us-east-1"), Ok(lt))]);
        let errors = add_status(&mut list, &live);
        let got: Vec<(&str, Status)> = list
            .iter()
            .map(|e| (e.rule.as_str(), e.status.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("forever", Status::Pending),
                ("gone", Status::Expired),
                ("later", Status::Drifted),
                ("soon", Status::Applied),
                ("other", Status::Unknown),
            ]
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].message,
            "security group sg-0123456789abcdef1 does not exist"
        );
        // Revoked: expired and gone from AWS.
        let mut list = entries(&repo, &cfg, today(), &Filter::default());
        let mut lt = LiveTarget::default();
        for g in ["sg-0123456789abcdef0", "sg-0123456789abcdef1"] {
            lt.groups.insert(
                GroupRef::Id(g.into()),
                Ok(LiveGroup {
                    id: g.into(),
                    rules: vec![],
                }),
            );
        }
        let live = BTreeMap::from([(t("us-east-1"), Ok(lt))]);
        assert!(add_status(&mut list, &live).is_empty());
        assert_eq!(
            list.iter().find(|e| e.rule == "gone").unwrap().status,
            Some(Status::Revoked)
        );
    }
}
