//! [`LiveRead`] over EC2: one DescribeSecurityGroupRules for the whole account and region
//! (1000 rules a page), plus DescribeSecurityGroups only where needed: names to resolve, and
//! named groups that showed no rule (to tell an empty group from a missing one).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, SecurityGroupRule};

use super::{LiveGroup, LiveRead, LiveRule, LiveTarget, PrefixList, spec_from_aws};
use crate::aws::describe_sdk_error;
use crate::config::RULE_TAG;
use crate::rules::GroupRef;

/// EC2 in one account × region, through an assumed-role session.
#[derive(Debug, Clone)]
pub struct AwsEc2 {
    pub client: aws_sdk_ec2::Client,
}

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

impl AwsEc2 {
    /// `(id, name, vpc)` of groups matching the filters.
    async fn describe_groups(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<(String, String, String)>, String> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_security_groups()
                .set_filters(Some(filters.clone()))
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| format!("DescribeSecurityGroups: {}", describe_sdk_error(&e)))?;
            for g in resp.security_groups() {
                out.push((
                    g.group_id().unwrap_or_default().to_string(),
                    g.group_name().unwrap_or_default().to_string(),
                    g.vpc_id().unwrap_or_default().to_string(),
                ));
            }
            token = resp
                .next_token()
                .map(str::to_string)
                .filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// The managed prefix lists among `ids` (AWS-managed and shared ones included); ids not
    /// found are absent. One DescribeManagedPrefixLists per 200 ids (a filter's limit).
    pub async fn prefix_lists(
        &self,
        ids: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, PrefixList>, String> {
        let ids: Vec<String> = ids.iter().cloned().collect();
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(200) {
            let mut token: Option<String> = None;
            loop {
                let resp = self
                    .client
                    .describe_managed_prefix_lists()
                    .filters(filter("prefix-list-id", chunk.iter().cloned()))
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        format!("DescribeManagedPrefixLists: {}", describe_sdk_error(&e))
                    })?;
                for p in resp.prefix_lists() {
                    if let Some(id) = p.prefix_list_id() {
                        let max = p.max_entries().and_then(|m| u32::try_from(m).ok());
                        out.insert(
                            id.to_string(),
                            PrefixList {
                                max_entries: max.unwrap_or(1).max(1),
                                ipv6: p
                                    .address_family()
                                    .is_some_and(|f| f.eq_ignore_ascii_case("IPv6")),
                            },
                        );
                    }
                }
                token = resp
                    .next_token()
                    .map(str::to_string)
                    .filter(|t| !t.is_empty());
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Every rule of the account and region by group id, each group's rules sorted. A group
    /// whose rules are all of shapes sgops does not manage is there with no rule, so it is
    /// known to exist.
    pub async fn rules_by_group(&self) -> Result<BTreeMap<String, Vec<LiveRule>>, String> {
        let mut by_group: BTreeMap<String, Vec<LiveRule>> = BTreeMap::new();
        for r in &self.describe_rules().await? {
            if let Some(l) = live_rule(r) {
                by_group.entry(l.group_id.clone()).or_default().push(l);
            } else if let Some(g) = r.group_id() {
                by_group.entry(g.to_string()).or_default();
            }
        }
        by_group.values_mut().for_each(|rules| rules.sort());
        Ok(by_group)
    }

    /// The names of the groups `ids`, by id; a group not found is absent. One
    /// DescribeSecurityGroups per 200 ids (a filter's limit).
    pub async fn group_names(
        &self,
        ids: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, String> {
        let ids: Vec<String> = ids.iter().cloned().collect();
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(200) {
            for (id, name, _) in self
                .describe_groups(vec![filter("group-id", chunk.iter().cloned())])
                .await?
            {
                out.insert(id, name);
            }
        }
        Ok(out)
    }

    /// Every rule in the account and region, 1000 a page, following NextToken.
    pub async fn describe_rules(&self) -> Result<Vec<SecurityGroupRule>, String> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_security_group_rules()
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| format!("DescribeSecurityGroupRules: {}", describe_sdk_error(&e)))?;
            out.extend(resp.security_group_rules().iter().cloned());
            token = resp
                .next_token()
                .map(str::to_string)
                .filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

/// Converts an AWS rule; `None` for shapes sgops does not manage.
pub fn live_rule(r: &SecurityGroupRule) -> Option<LiveRule> {
    let spec = spec_from_aws(
        r.is_egress().unwrap_or(false),
        r.ip_protocol()?,
        r.from_port(),
        r.to_port(),
        r.cidr_ipv4(),
        r.cidr_ipv6(),
        r.prefix_list_id(),
        r.referenced_group_info().and_then(|g| g.group_id()),
        r.description(),
    )?;
    Some(LiveRule {
        rule_id: r.security_group_rule_id()?.to_string(),
        group_id: r.group_id()?.to_string(),
        spec,
        tags: r
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    })
}

impl LiveRead for AwsEc2 {
    async fn read(&self, groups: &[GroupRef]) -> Result<LiveTarget, String> {
        let mut resolved: BTreeMap<GroupRef, Result<String, String>> = BTreeMap::new();
        let named: Vec<(&String, &String)> = groups
            .iter()
            .filter_map(|g| match g {
                GroupRef::Name { name, vpc } => Some((name, vpc)),
                GroupRef::Id(_) => None,
            })
            .collect();
        if !named.is_empty() {
            let names: BTreeSet<String> = named.iter().map(|(n, _)| (*n).clone()).collect();
            let vpcs: BTreeSet<String> = named.iter().map(|(_, v)| (*v).clone()).collect();
            let found = self
                .describe_groups(vec![filter("group-name", names), filter("vpc-id", vpcs)])
                .await?;
            for (name, vpc) in named {
                let hits: Vec<&String> = found
                    .iter()
                    .filter(|(_, n, v)| n == name && v == vpc)
                    .map(|(id, _, _)| id)
                    .collect();
                let r = match hits.as_slice() {
                    [id] => Ok((*id).clone()),
                    [] => Err(format!("no security group named `{name}` in {vpc}")),
                    many => Err(format!(
                        "{} security groups are named `{name}` in {vpc}: name the group by id",
                        many.len()
                    )),
                };
                resolved.insert(
                    GroupRef::Name {
                        name: name.clone(),
                        vpc: vpc.clone(),
                    },
                    r,
                );
            }
        }
        for g in groups {
            if let GroupRef::Id(id) = g {
                resolved.insert(g.clone(), Ok(id.clone()));
            }
        }
        let ids: BTreeSet<String> = resolved
            .values()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        // One paginated read of every rule in the account and region: the named groups and
        // any other group that still carries rules sgops manages (a deleted rule file).
        let by_group = self.rules_by_group().await?;
        // A group with no rules at all may not exist: ask, once, for all such groups.
        let unseen: Vec<String> = ids
            .iter()
            .filter(|id| !by_group.contains_key(*id))
            .cloned()
            .collect();
        let mut missing = BTreeSet::new();
        if !unseen.is_empty() {
            let exist: BTreeSet<String> = self
                .describe_groups(vec![filter("group-id", unseen.clone())])
                .await?
                .into_iter()
                .map(|(id, _, _)| id)
                .collect();
            missing = unseen
                .into_iter()
                .filter(|id| !exist.contains(id))
                .collect();
        }
        let mut out = LiveTarget::default();
        for (id, rules) in &by_group {
            if !ids.contains(id) && rules.iter().any(|r| r.tags.contains_key(RULE_TAG)) {
                out.orphans.push(LiveGroup {
                    id: id.clone(),
                    rules: rules.clone(),
                });
            }
        }
        for (g, r) in resolved {
            let entry = r.and_then(|id| {
                if missing.contains(&id) {
                    Err(format!("security group {id} does not exist"))
                } else {
                    let rules = by_group.get(&id).cloned().unwrap_or_default();
                    Ok(LiveGroup { id, rules })
                }
            });
            out.groups.insert(g, entry);
        }
        Ok(out)
    }
}
