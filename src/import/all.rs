//! `import --all`: the exceptions of a whole organization as rule files, one per security
//! group, `<account>/<region>/<group-name>.yaml`.
//!
//! Reading costs what a plan's reads do: per account one AssumeRole (shared by its regions,
//! through the engine's [`Pool`]), per account × region ⌈rules/1000⌉
//! DescribeSecurityGroupRules, plus one DescribeSecurityGroups for the names of the groups
//! that get a file (none when no group does). Every group is rendered by the same
//! [`rule_file`] as the one-group `import`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use jiff::civil::Date;

use super::render::{ImportOptions, Imported, rule_file};
use crate::aws::Aws;
use crate::config::{Config, folder_safe};
use crate::engine::{Pool, Progress};
use crate::live::aws::AwsEc2;
use crate::live::{LiveRule, Target};

/// What was read in one account × region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetRead {
    /// Every rule, by group id.
    pub by_group: BTreeMap<String, Vec<LiveRule>>,
    /// The names of the groups holding a rule to import, by id.
    pub names: BTreeMap<String, String>,
}

/// One rule file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFile {
    pub group_id: String,
    /// The group's name in AWS (untrusted text).
    pub group_name: String,
    /// `<account>/<region>/<name>.yaml`, relative to the output folder.
    pub path: PathBuf,
    pub imported: Imported,
}

/// Reads every target, `concurrency` calls at once: all its rules, and the names of the
/// groups where `chooses` picks a rule.
pub async fn read(
    aws: &Aws,
    config: &Config,
    targets: &[Target],
    chooses: &(dyn Fn(&LiveRule) -> bool + Sync),
) -> Vec<(Target, Result<TargetRead, String>)> {
    let pool = &Pool::new(aws, config, targets);
    let progress = &Progress::new(targets.len(), "reading");
    let out = futures::future::join_all(targets.iter().map(|t| async move {
        let read = read_one(pool, t, chooses).await;
        progress.done(t, if read.is_ok() { "read" } else { "failed" });
        (t.clone(), read)
    }))
    .await;
    progress.finish();
    out
}

async fn read_one(
    pool: &Pool<'_>,
    t: &Target,
    chooses: &(dyn Fn(&LiveRule) -> bool + Sync),
) -> Result<TargetRead, String> {
    let session = pool.session(t).await?;
    let _slot = pool.slot().await?;
    let ec2 = AwsEc2 {
        client: session.ec2(&t.region),
    };
    let by_group = ec2.rules_by_group().await?;
    let wanted: BTreeSet<String> = by_group
        .iter()
        .filter(|(_, rules)| rules.iter().any(chooses))
        .map(|(id, _)| id.clone())
        .collect();
    let names = if wanted.is_empty() {
        BTreeMap::new()
    } else {
        ec2.group_names(&wanted).await?
    };
    Ok(TargetRead { by_group, names })
}

/// The file name (without `.yaml`) of each group: its name made folder-safe, or its id where
/// two groups' names fold to one (groups of one name in two VPCs) or nothing of it is left.
pub fn file_stems(names: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for name in names.values() {
        *count.entry(folder_safe(name)).or_default() += 1;
    }
    names
        .iter()
        .map(|(id, name)| {
            let safe = folder_safe(name);
            let stem = if safe.is_empty() || count.get(&safe) != Some(&1) || safe.starts_with("sg-")
            {
                id.clone()
            } else {
                safe
            };
            (id.clone(), stem)
        })
        .collect()
}

/// The rule files of one account × region: one per group holding a rule `template` chooses,
/// rendered by [`rule_file`] (`template`'s `group_id` and `header` are set per group).
pub fn files(
    t: &Target,
    read: &TargetRead,
    template: &ImportOptions<'_>,
    today: Date,
) -> Vec<GroupFile> {
    let names: BTreeMap<String, String> = read
        .by_group
        .iter()
        .filter(|(_, rules)| rules.iter().any(|r| template.chooses(r)))
        .map(|(id, _)| {
            let name = read.names.get(id).cloned().unwrap_or_default();
            (id.clone(), name)
        })
        .collect();
    let stems = file_stems(&names);
    names
        .iter()
        .map(|(id, name)| {
            let rules = read.by_group.get(id).map(Vec::as_slice).unwrap_or_default();
            let header = format!(
                "Imported by `sgops import --all` from {} ({}) {} {id} (`{}`) on {today}.",
                t.account,
                t.account_id,
                t.region,
                crate::escape::terminal(name)
            );
            let imported = rule_file(
                rules,
                &ImportOptions {
                    group_id: id,
                    header: &header,
                    ..*template
                },
            );
            let stem = stems.get(id).cloned().unwrap_or_else(|| id.clone());
            GroupFile {
                group_id: id.clone(),
                group_name: name.clone(),
                path: PathBuf::from(&t.account)
                    .join(&t.region)
                    .join(format!("{stem}.yaml")),
                imported,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Direction, Peer, Ports, Protocol, RuleSpec};

    fn rule(group: &str, port: u16, tags: &[(&str, &str)]) -> LiveRule {
        LiveRule {
            rule_id: format!("sgr-{group}-{port}"),
            group_id: group.into(),
            spec: RuleSpec {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports: Ports::Range {
                    from: port,
                    to: port,
                },
                peer: Peer::Cidr("203.0.113.0/24".parse().expect("cidr")),
                description: Some(format!("Port {port}")),
            },
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn stems_are_folder_safe_names_or_ids_where_they_clash() {
        let names: BTreeMap<String, String> = [
            ("sg-1", "Web Servers"),
            ("sg-2", "web_servers"),
            ("sg-3", "Payments"),
            ("sg-4", "\u{65e5}\u{672c}"),
            ("sg-5", "sg-9"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let stems = file_stems(&names);
        let got: Vec<&str> = stems.values().map(String::as_str).collect();
        assert_eq!(got, ["sg-1", "sg-2", "payments", "sg-4", "sg-5"]);
    }

    #[test]
    fn a_file_per_group_with_a_tagged_rule_and_only_those_rules() {
        let mut cfg = Config::default();
        cfg.rule_tags
            .insert("vpcx:skip_enforcement".into(), "yes".into());
        let tags = cfg.rule_tags.clone();
        let t = Target {
            account: "itx-016".into(),
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
        };
        let mut read = TargetRead::default();
        read.by_group.insert(
            "sg-a".into(),
            vec![
                rule("sg-a", 80, &[]),
                rule("sg-a", 443, &[("vpcx:skip_enforcement", "yes")]),
            ],
        );
        // Only baseline rules: no file.
        read.by_group
            .insert("sg-b".into(), vec![rule("sg-b", 22, &[])]);
        read.by_group.insert("sg-c".into(), Vec::new());
        read.names.insert("sg-a".into(), "App\nServers".into());
        let template = ImportOptions {
            config: &cfg,
            group_id: "",
            ticket: "imported",
            tagged: Some(&tags),
            only_untagged: false,
            skip_default_egress: false,
            header: "",
        };
        let today: Date = "2026-11-27".parse().expect("date");
        let got = files(&t, &read, &template, today);
        assert_eq!(got.len(), 1);
        let f = &got[0];
        assert_eq!(f.path, PathBuf::from("itx-016/eu-west-1/app-servers.yaml"));
        assert_eq!((f.imported.written, f.imported.commented), (1, 0));
        assert!(f.imported.text.starts_with(
            "# Imported by `sgops import --all` from itx-016 (111111111111) eu-west-1 sg-a (`App\\nServers`) on 2026-11-27.\n"
        ), "{}", f.imported.text);
        assert!(f.imported.text.contains("security_group: sg-a\n"));
        assert!(
            f.imported.text.contains("  - id: port-443\n"),
            "{}",
            f.imported.text
        );
        assert!(!f.imported.text.contains("port-80"), "{}", f.imported.text);
        // The same rules through the one-group renderer give the same rules.
        let one = rule_file(
            &read.by_group["sg-a"],
            &ImportOptions {
                group_id: "sg-a",
                header: "x",
                ..template
            },
        );
        assert_eq!(
            one.text.split_once("security_group").map(|x| x.1),
            f.imported.text.split_once("security_group").map(|x| x.1)
        );
    }
}
