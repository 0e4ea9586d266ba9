//! Body types: boto3's request shapes for each action, PascalCase keys and nothing else,
//! parsed strictly ([`parse`]); and what a request means for sgops's ownership tags and for
//! the world-open guardrail. Pure.

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::{Guardrails, RULE_TAG};
use crate::rules::world_open;
use crate::rules::{Direction, Peer, Ports, Protocol, RuleSpec};

use super::check;
use super::*;

// boto3 also takes a top-level shorthand on Authorize/Revoke (CidrIp, FromPort, ToPort,
// IpProtocol, SourceSecurityGroupName, SourceSecurityGroupOwnerId), a leftover of EC2-Classic
// that AWS no longer supports on egress; it is refused here as an unknown key, so every rule
// is written one way: IpPermissions.

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AuthorizeIngress {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub ip_permissions: Vec<IpPermission>,
    pub tag_specifications: Option<Vec<TagSpecification>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AuthorizeEgress {
    pub group_id: String,
    pub ip_permissions: Vec<IpPermission>,
    pub tag_specifications: Option<Vec<TagSpecification>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RevokeIngress {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub ip_permissions: Option<Vec<IpPermission>>,
    pub security_group_rule_ids: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RevokeEgress {
    pub group_id: String,
    pub ip_permissions: Option<Vec<IpPermission>>,
    pub security_group_rule_ids: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ModifyRules {
    pub group_id: String,
    pub security_group_rules: Vec<SecurityGroupRuleUpdate>,
    pub dry_run: Option<bool>,
}

/// The body of both UpdateSecurityGroupRuleDescriptions actions (same shape).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UpdateDescriptions {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub ip_permissions: Option<Vec<IpPermission>>,
    pub security_group_rule_descriptions: Option<Vec<SecurityGroupRuleDescription>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct CreateTags {
    pub resources: Vec<String>,
    pub tags: Vec<Tag>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DeleteTags {
    pub resources: Vec<String>,
    /// Absent: EC2 deletes every user tag of the resources.
    pub tags: Option<Vec<Tag>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DescribeRules {
    pub filters: Option<Vec<Filter>>,
    pub security_group_rule_ids: Option<Vec<String>>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DescribeGroups {
    pub filters: Option<Vec<Filter>>,
    pub group_ids: Option<Vec<String>>,
    pub group_names: Option<Vec<String>>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct IpPermission {
    pub ip_protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub ip_ranges: Option<Vec<IpRange>>,
    pub ipv6_ranges: Option<Vec<Ipv6Range>>,
    pub prefix_list_ids: Option<Vec<PrefixListId>>,
    pub user_id_group_pairs: Option<Vec<UserIdGroupPair>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct IpRange {
    pub cidr_ip: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Ipv6Range {
    pub cidr_ipv6: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct PrefixListId {
    pub prefix_list_id: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UserIdGroupPair {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub user_id: Option<String>,
    pub vpc_id: Option<String>,
    pub vpc_peering_connection_id: Option<String>,
    pub peering_status: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct TagSpecification {
    pub resource_type: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct SecurityGroupRuleUpdate {
    pub security_group_rule_id: String,
    pub security_group_rule: SecurityGroupRuleRequest,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct SecurityGroupRuleRequest {
    pub ip_protocol: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_ipv4: Option<String>,
    pub cidr_ipv6: Option<String>,
    pub prefix_list_id: Option<String>,
    pub referenced_group_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct SecurityGroupRuleDescription {
    pub security_group_rule_id: String,
    pub description: Option<String>,
}

/// A parsed and checked body, ready to send.
#[derive(Debug, Clone)]
pub enum Request {
    AuthorizeIngress(AuthorizeIngress),
    AuthorizeEgress(AuthorizeEgress),
    RevokeIngress(RevokeIngress),
    RevokeEgress(RevokeEgress),
    ModifyRules(ModifyRules),
    UpdateDescriptionsIngress(UpdateDescriptions),
    UpdateDescriptionsEgress(UpdateDescriptions),
    CreateTags(CreateTags),
    DeleteTags(DeleteTags),
    DescribeRules(DescribeRules),
    DescribeGroups(DescribeGroups),
}

impl Request {
    pub fn action(&self) -> Action {
        match self {
            Request::AuthorizeIngress(_) => Action::AuthorizeIngress,
            Request::AuthorizeEgress(_) => Action::AuthorizeEgress,
            Request::RevokeIngress(_) => Action::RevokeIngress,
            Request::RevokeEgress(_) => Action::RevokeEgress,
            Request::ModifyRules(_) => Action::ModifyRules,
            Request::UpdateDescriptionsIngress(_) => Action::UpdateDescriptionsIngress,
            Request::UpdateDescriptionsEgress(_) => Action::UpdateDescriptionsEgress,
            Request::CreateTags(_) => Action::CreateTags,
            Request::DeleteTags(_) => Action::DeleteTags,
            Request::DescribeRules(_) => Action::DescribeRules,
            Request::DescribeGroups(_) => Action::DescribeGroups,
        }
    }

    /// `DryRun` as the body set it (boto3 bodies may carry it; `--dry-run` also sets it).
    pub(super) fn body_dry_run(&self) -> bool {
        match self {
            Request::AuthorizeIngress(b) => b.dry_run,
            Request::AuthorizeEgress(b) => b.dry_run,
            Request::RevokeIngress(b) => b.dry_run,
            Request::RevokeEgress(b) => b.dry_run,
            Request::ModifyRules(b) => b.dry_run,
            Request::UpdateDescriptionsIngress(b) | Request::UpdateDescriptionsEgress(b) => {
                b.dry_run
            }
            Request::CreateTags(b) => b.dry_run,
            Request::DeleteTags(b) => b.dry_run,
            Request::DescribeRules(b) => b.dry_run,
            Request::DescribeGroups(b) => b.dry_run,
        }
        .unwrap_or(false)
    }

    /// Consequences for sgops's ownership (the `sgops:rule` tag) worth a warning: a rule that
    /// gains the tag is managed from then on, and revoked by the next apply unless a rule file
    /// declares it; a rule that loses it is no longer sgops's.
    pub fn ownership_warnings(&self) -> Vec<String> {
        let gains = || {
            format!(
                "the body sets the {RULE_TAG} tag: sgops will manage the rule, and the next apply revokes it unless a rule file declares that id"
            )
        };
        let loses = |how: &str| {
            format!(
                "the body {how}: sgops will no longer manage the rule (the next plan adopts it again if a rule file still declares it)"
            )
        };
        let has_rule_tag = |tags: &[Tag]| tags.iter().any(|t| t.key == RULE_TAG);
        let specs =
            |s: &Option<Vec<TagSpecification>>| s.iter().flatten().any(|s| has_rule_tag(&s.tags));
        match self {
            Request::AuthorizeIngress(b) if specs(&b.tag_specifications) => vec![gains()],
            Request::AuthorizeEgress(b) if specs(&b.tag_specifications) => vec![gains()],
            Request::CreateTags(b) if has_rule_tag(&b.tags) => vec![gains()],
            Request::DeleteTags(b) => match b.tags.as_deref() {
                None => vec![loses(&format!(
                    "gives no Tags, so EC2 deletes every tag, {RULE_TAG} included"
                ))],
                Some(t) if has_rule_tag(t) => {
                    vec![loses(&format!("deletes the {RULE_TAG} tag"))]
                }
                Some(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

impl Request {
    /// The world-open guardrail of rule files, over what this body would open: each ingress
    /// peer alone, and all of the body's peers together (per protocol and denied port). A
    /// modify may target an ingress rule, so its new form is checked as one.
    pub fn guardrail_breaches(&self, g: &Guardrails) -> Vec<String> {
        let mut opened: Vec<(String, RuleSpec)> = Vec::new();
        let mut add = |at: String, protocol: Option<&str>, from, to, peer: Peer| {
            // No protocol (a modify that keeps it) could be any: checked as `all`.
            let protocol = protocol.map_or(Some(Protocol::All), Protocol::parse);
            if let Some(protocol) = protocol {
                opened.push((
                    at,
                    RuleSpec {
                        direction: Direction::Ingress,
                        protocol,
                        ports: Ports::from_aws(protocol, from, to),
                        peer,
                        description: None,
                    },
                ));
            }
        };
        match self {
            Request::AuthorizeIngress(b) => {
                for (i, p) in b.ip_permissions.iter().enumerate() {
                    let proto = Some(p.ip_protocol.as_str());
                    for (j, r) in p.ip_ranges.iter().flatten().enumerate() {
                        if let Ok(n) = r.cidr_ip.parse::<Ipv4Net>() {
                            let at = format!("IpPermissions[{i}].IpRanges[{j}]");
                            add(at, proto, p.from_port, p.to_port, Peer::Cidr(n));
                        }
                    }
                    for (j, r) in p.ipv6_ranges.iter().flatten().enumerate() {
                        if let Ok(n) = r.cidr_ipv6.parse::<Ipv6Net>() {
                            let at = format!("IpPermissions[{i}].Ipv6Ranges[{j}]");
                            add(at, proto, p.from_port, p.to_port, Peer::CidrIpv6(n));
                        }
                    }
                }
            }
            Request::ModifyRules(b) => {
                for (i, u) in b.security_group_rules.iter().enumerate() {
                    let r = &u.security_group_rule;
                    let at = format!("SecurityGroupRules[{i}].SecurityGroupRule");
                    let proto = r.ip_protocol.as_deref();
                    if let Some(n) = r.cidr_ipv4.as_deref().and_then(|c| c.parse().ok()) {
                        add(at.clone(), proto, r.from_port, r.to_port, Peer::Cidr(n));
                    }
                    if let Some(n) = r.cidr_ipv6.as_deref().and_then(|c| c.parse().ok()) {
                        add(at, proto, r.from_port, r.to_port, Peer::CidrIpv6(n));
                    }
                }
            }
            _ => {}
        }
        let mut out: Vec<String> = opened
            .iter()
            .filter_map(|(at, spec)| world_open::breach(spec, g).map(|m| format!("{at}: {m}")))
            .collect();
        let labelled: Vec<(&str, &RuleSpec)> =
            opened.iter().map(|(at, s)| (at.as_str(), s)).collect();
        out.extend(
            world_open::union_breaches(&labelled, g)
                .into_iter()
                .map(|b| b.message),
        );
        out
    }
}

/// Parses `text` as the body of `action`: strictly (unknown keys, wrong types, trailing text),
/// then checks the values, reporting every value problem at once.
pub fn parse(action: Action, text: &str) -> Result<Request, BodyError> {
    let req = match action {
        Action::AuthorizeIngress => Request::AuthorizeIngress(strict(text)?),
        Action::AuthorizeEgress => Request::AuthorizeEgress(strict(text)?),
        Action::RevokeIngress => Request::RevokeIngress(strict(text)?),
        Action::RevokeEgress => Request::RevokeEgress(strict(text)?),
        Action::ModifyRules => Request::ModifyRules(strict(text)?),
        Action::UpdateDescriptionsIngress => Request::UpdateDescriptionsIngress(strict(text)?),
        Action::UpdateDescriptionsEgress => Request::UpdateDescriptionsEgress(strict(text)?),
        Action::CreateTags => Request::CreateTags(strict(text)?),
        Action::DeleteTags => Request::DeleteTags(strict(text)?),
        Action::DescribeRules => Request::DescribeRules(strict(text)?),
        Action::DescribeGroups => Request::DescribeGroups(strict(text)?),
    };
    let problems = check::problems(text, &req);
    if problems.is_empty() {
        Ok(req)
    } else {
        Err(BodyError(problems))
    }
}

/// Deserializes with the path of the first error (`IpPermissions[0].FromPort`).
pub(super) fn strict<T: DeserializeOwned>(text: &str) -> Result<T, BodyError> {
    let fail = |path: String, message: String| BodyError(vec![Problem { path, message }]);
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        fail(path, e.into_inner().to_string())
    })?;
    de.end().map_err(|e| fail(String::new(), e.to_string()))?;
    Ok(value)
}
