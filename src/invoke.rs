//! `sgops invoke`: one allow-listed EC2 security-group action with a boto3-shaped JSON body,
//! the ad-hoc path of the old central API.
//!
//! Everything here is pure except [`call`], which makes the one EC2 call:
//! [`Action`] names what sgops can run; [`parse`] turns a body into a checked [`Request`];
//! the `*_json` converters give responses boto3's shape. The command (allow-list, STS, output)
//! lives in `commands::invoke`.
//!
//! Bodies are parsed strictly, because a key that boto3 would reject but a lenient parser
//! dropped would silently widen or narrow what is changed: every struct denies unknown keys,
//! types are exact (`"443"` is not a port), and each problem names its JSON path
//! (`IpPermissions[0].FromPort`). Values are then checked the way `validate` checks rule files
//! (ports, protocols, canonical CIDRs, descriptions, ids), since the local emulator accepts
//! what AWS refuses and a wrong value in an ad-hoc call is easy to make.

use std::fmt;

use aws_sdk_ec2::types as ec2;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::aws::{describe_sdk_error, error_code};
use crate::config::{Guardrails, RULE_TAG};
use crate::rules::world_open;
use crate::rules::{
    Direction, Peer, Ports, Protocol, RuleSpec, check_aws_tag, check_description, check_resource_id,
};

/// The only service sgops can invoke actions of.
pub const SERVICE: &str = "ec2";

/// The resource type that `Authorize*` accepts in TagSpecifications.
const RULE_RESOURCE_TYPE: &str = "security-group-rule";

/// An EC2 action that `sgops invoke` can run; its name is boto3's (and the allow-list's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AuthorizeIngress,
    AuthorizeEgress,
    RevokeIngress,
    RevokeEgress,
    ModifyRules,
    UpdateDescriptionsIngress,
    UpdateDescriptionsEgress,
    CreateTags,
    DeleteTags,
    DescribeRules,
    DescribeGroups,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::AuthorizeIngress,
        Action::AuthorizeEgress,
        Action::RevokeIngress,
        Action::RevokeEgress,
        Action::ModifyRules,
        Action::UpdateDescriptionsIngress,
        Action::UpdateDescriptionsEgress,
        Action::CreateTags,
        Action::DeleteTags,
        Action::DescribeRules,
        Action::DescribeGroups,
    ];

    /// The boto3 spelling, as the allow-list lists it.
    pub fn name(self) -> &'static str {
        match self {
            Action::AuthorizeIngress => "authorize_security_group_ingress",
            Action::AuthorizeEgress => "authorize_security_group_egress",
            Action::RevokeIngress => "revoke_security_group_ingress",
            Action::RevokeEgress => "revoke_security_group_egress",
            Action::ModifyRules => "modify_security_group_rules",
            Action::UpdateDescriptionsIngress => "update_security_group_rule_descriptions_ingress",
            Action::UpdateDescriptionsEgress => "update_security_group_rule_descriptions_egress",
            Action::CreateTags => "create_tags",
            Action::DeleteTags => "delete_tags",
            Action::DescribeRules => "describe_security_group_rules",
            Action::DescribeGroups => "describe_security_groups",
        }
    }

    /// `ec2:Operation`, as call accounting and error messages name it.
    pub fn operation(self) -> &'static str {
        match self {
            Action::AuthorizeIngress => "ec2:AuthorizeSecurityGroupIngress",
            Action::AuthorizeEgress => "ec2:AuthorizeSecurityGroupEgress",
            Action::RevokeIngress => "ec2:RevokeSecurityGroupIngress",
            Action::RevokeEgress => "ec2:RevokeSecurityGroupEgress",
            Action::ModifyRules => "ec2:ModifySecurityGroupRules",
            Action::UpdateDescriptionsIngress => "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
            Action::UpdateDescriptionsEgress => "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
            Action::CreateTags => "ec2:CreateTags",
            Action::DeleteTags => "ec2:DeleteTags",
            Action::DescribeRules => "ec2:DescribeSecurityGroupRules",
            Action::DescribeGroups => "ec2:DescribeSecurityGroups",
        }
    }

    /// The action of `service` named exactly `name`, if sgops can run it.
    pub fn find(service: &str, name: &str) -> Option<Action> {
        (service == SERVICE)
            .then(|| Action::ALL.into_iter().find(|a| a.name() == name))
            .flatten()
    }

    /// Every supported name, comma-separated, for error messages.
    pub fn supported() -> String {
        Action::ALL.map(Action::name).join(", ")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem in a body, at a JSON path (`IpPermissions[0].FromPort`; empty for the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths and messages quote the caller's body: shown escaped.
        let message = crate::escape::terminal(&self.message);
        if self.path.is_empty() {
            f.write_str(&message)
        } else {
            write!(f, "{}: {message}", crate::escape::terminal(&self.path))
        }
    }
}

/// Why a body was refused: the first parse error, or every value problem at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BodyError(pub Vec<Problem>);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Body types: boto3's request shapes, PascalCase keys, nothing else accepted.
//
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
    fn body_dry_run(&self) -> bool {
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
    let mut c = Checker::default();
    // Valid JSON by now: `strict` read it.
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        c.nulls(&v, "");
    }
    c.request(&req);
    if c.problems.is_empty() {
        Ok(req)
    } else {
        Err(BodyError(c.problems))
    }
}

/// Deserializes with the path of the first error (`IpPermissions[0].FromPort`).
fn strict<T: DeserializeOwned>(text: &str) -> Result<T, BodyError> {
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

/// Collects value problems with their paths.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// An explicit `null` is refused wherever it is: serde reads it as an absent optional
    /// key, but boto3 refuses None for every parameter, so the body would not run there.
    fn nulls(&mut self, v: &Value, path: &str) {
        match v {
            Value::Null => self.err(
                path,
                "is null, which boto3 refuses for every parameter: leave the key out",
            ),
            Value::Object(m) => {
                for (k, v) in m {
                    let at = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    self.nulls(v, &at);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.nulls(v, &format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }

    fn request(&mut self, req: &Request) {
        match req {
            Request::AuthorizeIngress(b) => {
                self.group(b.group_id.as_deref(), b.group_name.as_deref());
                self.permissions(&b.ip_permissions);
                self.tag_specifications(b.tag_specifications.as_deref());
            }
            Request::AuthorizeEgress(b) => {
                self.id("GroupId", &b.group_id, "sg-", "a security group");
                self.permissions(&b.ip_permissions);
                self.tag_specifications(b.tag_specifications.as_deref());
            }
            Request::RevokeIngress(b) => {
                self.group(b.group_id.as_deref(), b.group_name.as_deref());
                self.revoke(
                    b.ip_permissions.as_deref(),
                    b.security_group_rule_ids.as_deref(),
                );
            }
            Request::RevokeEgress(b) => {
                self.id("GroupId", &b.group_id, "sg-", "a security group");
                self.revoke(
                    b.ip_permissions.as_deref(),
                    b.security_group_rule_ids.as_deref(),
                );
            }
            Request::ModifyRules(b) => {
                self.id("GroupId", &b.group_id, "sg-", "a security group");
                if b.security_group_rules.is_empty() {
                    self.err("SecurityGroupRules", "is empty: give at least one rule");
                }
                for (i, u) in b.security_group_rules.iter().enumerate() {
                    let at = format!("SecurityGroupRules[{i}]");
                    self.rule_id(
                        &format!("{at}.SecurityGroupRuleId"),
                        &u.security_group_rule_id,
                    );
                    self.rule_request(&format!("{at}.SecurityGroupRule"), &u.security_group_rule);
                }
            }
            Request::UpdateDescriptionsIngress(b) | Request::UpdateDescriptionsEgress(b) => {
                self.group(b.group_id.as_deref(), b.group_name.as_deref());
                match (&b.ip_permissions, &b.security_group_rule_descriptions) {
                    (None, None) => self.err(
                        "",
                        "give IpPermissions or SecurityGroupRuleDescriptions: the rules to describe",
                    ),
                    (Some(_), Some(_)) => self.err(
                        "",
                        "give IpPermissions or SecurityGroupRuleDescriptions, not both",
                    ),
                    (Some(p), None) => self.permissions(p),
                    (None, Some(d)) => {
                        if d.is_empty() {
                            self.err("SecurityGroupRuleDescriptions", "is empty");
                        }
                        for (i, r) in d.iter().enumerate() {
                            let at = format!("SecurityGroupRuleDescriptions[{i}]");
                            self.rule_id(
                                &format!("{at}.SecurityGroupRuleId"),
                                &r.security_group_rule_id,
                            );
                            self.description(&format!("{at}.Description"), &r.description);
                        }
                    }
                }
            }
            Request::CreateTags(b) => {
                self.resources(&b.resources);
                if b.tags.is_empty() {
                    self.err("Tags", "is empty: give at least one tag");
                }
                self.tags("Tags", &b.tags);
            }
            Request::DeleteTags(b) => {
                self.resources(&b.resources);
                if let Some(t) = &b.tags {
                    self.tags("Tags", t);
                }
            }
            Request::DescribeRules(b) => {
                self.filters(b.filters.as_deref());
                for (i, id) in b.security_group_rule_ids.iter().flatten().enumerate() {
                    self.rule_id(&format!("SecurityGroupRuleIds[{i}]"), id);
                }
                self.max_results(b.max_results);
            }
            Request::DescribeGroups(b) => {
                self.filters(b.filters.as_deref());
                for (i, id) in b.group_ids.iter().flatten().enumerate() {
                    self.id(&format!("GroupIds[{i}]"), id, "sg-", "a security group");
                }
                self.max_results(b.max_results);
            }
        }
    }

    /// GroupId or GroupName (default VPC only), exactly one.
    fn group(&mut self, id: Option<&str>, name: Option<&str>) {
        match (id, name) {
            (Some(id), None) => self.id("GroupId", id, "sg-", "a security group"),
            (None, Some(name)) if name.trim().is_empty() => self.err("GroupName", "is empty"),
            (None, Some(_)) => {}
            (None, None) => self.err("", "give GroupId (or GroupName, in a default VPC)"),
            (Some(_), Some(_)) => self.err("", "give GroupId or GroupName, not both"),
        }
    }

    /// `prefix` followed by 8 or 17 lowercase hex digits, as EC2 ids are.
    fn id(&mut self, path: &str, s: &str, prefix: &str, what: &str) {
        if !check_resource_id(s, prefix) {
            self.err(
                path,
                format!("`{s}` is not {what} id ({prefix} and 8 or 17 hex digits)"),
            );
        }
    }

    fn rule_id(&mut self, path: &str, s: &str) {
        self.id(path, s, "sgr-", "a security group rule");
    }

    fn revoke(&mut self, perms: Option<&[IpPermission]>, ids: Option<&[String]>) {
        match (perms, ids) {
            (None, None) => self.err(
                "",
                "give SecurityGroupRuleIds or IpPermissions: the rules to revoke",
            ),
            (Some(_), Some(_)) => {
                self.err("", "give SecurityGroupRuleIds or IpPermissions, not both")
            }
            (Some(p), None) => self.permissions(p),
            (None, Some(ids)) => {
                if ids.is_empty() {
                    self.err("SecurityGroupRuleIds", "is empty");
                }
                for (i, id) in ids.iter().enumerate() {
                    self.rule_id(&format!("SecurityGroupRuleIds[{i}]"), id);
                }
            }
        }
    }

    fn permissions(&mut self, perms: &[IpPermission]) {
        if perms.is_empty() {
            self.err("IpPermissions", "is empty: give at least one permission");
        }
        for (i, p) in perms.iter().enumerate() {
            let at = format!("IpPermissions[{i}]");
            self.ports(&at, &p.ip_protocol, p.from_port, p.to_port);
            let mut peers = 0;
            for (j, r) in p.ip_ranges.iter().flatten().enumerate() {
                let at = format!("{at}.IpRanges[{j}]");
                self.cidr_v4(&format!("{at}.CidrIp"), &r.cidr_ip);
                self.description(&format!("{at}.Description"), &r.description);
                peers += 1;
            }
            for (j, r) in p.ipv6_ranges.iter().flatten().enumerate() {
                let at = format!("{at}.Ipv6Ranges[{j}]");
                self.cidr_v6(&format!("{at}.CidrIpv6"), &r.cidr_ipv6);
                self.description(&format!("{at}.Description"), &r.description);
                peers += 1;
            }
            for (j, r) in p.prefix_list_ids.iter().flatten().enumerate() {
                let at = format!("{at}.PrefixListIds[{j}]");
                self.prefix_list(&format!("{at}.PrefixListId"), &r.prefix_list_id);
                self.description(&format!("{at}.Description"), &r.description);
                peers += 1;
            }
            for (j, g) in p.user_id_group_pairs.iter().flatten().enumerate() {
                let at = format!("{at}.UserIdGroupPairs[{j}]");
                match (&g.group_id, &g.group_name) {
                    (Some(id), _) => {
                        self.id(&format!("{at}.GroupId"), id, "sg-", "a security group")
                    }
                    (None, Some(_)) => {}
                    (None, None) => self.err(&at, "give GroupId (or GroupName)"),
                }
                self.description(&format!("{at}.Description"), &g.description);
                peers += 1;
            }
            if peers == 0 {
                self.err(
                    &at,
                    "names no peer: give IpRanges, Ipv6Ranges, PrefixListIds or UserIdGroupPairs",
                );
            }
        }
    }

    /// Ports as AWS reads them for the protocol; the traps are refused with what to do:
    /// tcp/udp without a range, and ports on a protocol without ports (`-1` opens every
    /// port whatever FromPort/ToPort say, so a port there means a misunderstanding).
    fn ports(&mut self, at: &str, protocol: &str, from: Option<i32>, to: Option<i32>) {
        let Some(p) = Protocol::parse(protocol) else {
            self.err(
                format!("{at}.IpProtocol"),
                format!(
                    "unknown protocol `{protocol}`: use tcp, udp, icmp, icmpv6, -1 (all) or a number 0-255"
                ),
            );
            return;
        };
        match p {
            Protocol::Tcp | Protocol::Udp => {
                for (key, v) in [("FromPort", from), ("ToPort", to)] {
                    match v {
                        None => self.err(
                            format!("{at}.{key}"),
                            format!("is required for {p}: a port 0-65535"),
                        ),
                        Some(n) if !(0..=65535).contains(&n) => self.err(
                            format!("{at}.{key}"),
                            format!("{n} is not a port: use 0-65535"),
                        ),
                        Some(_) => {}
                    }
                }
                if let (Some(f), Some(t)) = (from, to)
                    && f > t
                {
                    self.err(
                        format!("{at}.ToPort"),
                        format!("{t} is below FromPort {f}: the range is backwards"),
                    );
                }
            }
            Protocol::Icmp | Protocol::Icmpv6 => {
                for (key, what, v) in [("FromPort", "type", from), ("ToPort", "code", to)] {
                    match v {
                        None => self.err(
                            format!("{at}.{key}"),
                            format!("is required for {p}: the ICMP {what}, -1 for any"),
                        ),
                        Some(n) if !(-1..=255).contains(&n) => self.err(
                            format!("{at}.{key}"),
                            format!("{n} is not an ICMP {what}: use -1 (any) or 0-255"),
                        ),
                        Some(_) => {}
                    }
                }
                if from == Some(-1) && to.is_some_and(|c| c != -1) {
                    self.err(
                        format!("{at}.ToPort"),
                        "a code needs a type: with FromPort -1 (any type) ToPort must be -1",
                    );
                }
            }
            Protocol::All | Protocol::Number(_) => {
                for (key, v) in [("FromPort", from), ("ToPort", to)] {
                    if let Some(n) = v
                        && n != -1
                    {
                        self.err(
                            format!("{at}.{key}"),
                            format!(
                                "protocol {protocol} has no ports: the rule covers every port whatever {key} says; leave FromPort and ToPort out, or use tcp or udp with a range"
                            ),
                        );
                    }
                }
            }
        }
    }

    fn cidr_v4(&mut self, path: &str, s: &str) {
        match s.parse::<Ipv4Net>() {
            Err(_) => self.err(
                path,
                format!("`{s}` is not an IPv4 CIDR like 203.0.113.0/24"),
            ),
            Ok(n) if n.trunc() != n => self.err(
                path,
                format!(
                    "`{s}` has host bits set: did you mean {} (the network), or {}/32 (one host)?",
                    n.trunc(),
                    n.addr()
                ),
            ),
            Ok(_) => {}
        }
    }

    fn cidr_v6(&mut self, path: &str, s: &str) {
        match s.parse::<Ipv6Net>() {
            Err(_) => self.err(
                path,
                format!("`{s}` is not an IPv6 CIDR like 2001:db8::/32"),
            ),
            Ok(n) if n.trunc() != n => self.err(
                path,
                format!(
                    "`{s}` has host bits set: did you mean {} (the network), or {}/128 (one host)?",
                    n.trunc(),
                    n.addr()
                ),
            ),
            Ok(_) => {}
        }
    }

    fn prefix_list(&mut self, path: &str, s: &str) {
        let ok = s.strip_prefix("pl-").is_some_and(|h| {
            (8..=17).contains(&h.len())
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if !ok {
            self.err(
                path,
                format!("`{s}` is not a prefix list id (pl- and 8 to 17 hex digits)"),
            );
        }
    }

    fn description(&mut self, path: &str, d: &Option<String>) {
        if let Some(d) = d
            && let Err(m) = check_description(d)
        {
            self.err(path, m);
        }
    }

    /// A rule for ModifySecurityGroupRules: at most one peer, and ports that fit the protocol.
    fn rule_request(&mut self, at: &str, r: &SecurityGroupRuleRequest) {
        if let Some(p) = &r.ip_protocol {
            self.ports(at, p, r.from_port, r.to_port);
        }
        if let Some(c) = &r.cidr_ipv4 {
            self.cidr_v4(&format!("{at}.CidrIpv4"), c);
        }
        if let Some(c) = &r.cidr_ipv6 {
            self.cidr_v6(&format!("{at}.CidrIpv6"), c);
        }
        if let Some(p) = &r.prefix_list_id {
            self.prefix_list(&format!("{at}.PrefixListId"), p);
        }
        if let Some(g) = &r.referenced_group_id {
            self.id(
                &format!("{at}.ReferencedGroupId"),
                g,
                "sg-",
                "a security group",
            );
        }
        let peers = [
            r.cidr_ipv4.is_some(),
            r.cidr_ipv6.is_some(),
            r.prefix_list_id.is_some(),
            r.referenced_group_id.is_some(),
        ];
        if peers.into_iter().filter(|p| *p).count() > 1 {
            self.err(
                at,
                "gives several peers: a rule has one of CidrIpv4, CidrIpv6, PrefixListId, ReferencedGroupId",
            );
        }
        self.description(&format!("{at}.Description"), &r.description);
    }

    fn tag_specifications(&mut self, specs: Option<&[TagSpecification]>) {
        for (i, s) in specs.into_iter().flatten().enumerate() {
            let at = format!("TagSpecifications[{i}]");
            if s.resource_type != RULE_RESOURCE_TYPE {
                self.err(
                    format!("{at}.ResourceType"),
                    format!(
                        "`{}`: the rules an authorize creates take only `{RULE_RESOURCE_TYPE}`",
                        s.resource_type
                    ),
                );
            }
            self.tags(&format!("{at}.Tags"), &s.tags);
        }
    }

    fn tags(&mut self, at: &str, tags: &[Tag]) {
        for (i, t) in tags.iter().enumerate() {
            if let Err(m) = check_aws_tag(&t.key, t.value.as_deref().unwrap_or("")) {
                self.err(format!("{at}[{i}]"), m);
            }
        }
    }

    /// Security-group rules only (`sgr-…`): tagging a whole group, an instance or anything
    /// else `vpcx:skip_enforcement` would exempt it from baseline enforcement.
    fn resources(&mut self, resources: &[String]) {
        if resources.is_empty() {
            self.err("Resources", "is empty: give the ids to tag");
        }
        for (i, r) in resources.iter().enumerate() {
            if !check_resource_id(r, "sgr-") {
                self.err(
                    format!("Resources[{i}]"),
                    format!(
                        "`{}` is not a security group rule id (sgr- and 8 or 17 hex digits): sgops tags only security-group rules",
                        crate::escape::terminal(r)
                    ),
                );
            }
        }
    }

    fn filters(&mut self, filters: Option<&[Filter]>) {
        for (i, f) in filters.into_iter().flatten().enumerate() {
            if f.name.trim().is_empty() {
                self.err(format!("Filters[{i}].Name"), "is empty");
            }
        }
    }

    fn max_results(&mut self, n: Option<i32>) {
        if let Some(n) = n
            && !(5..=1000).contains(&n)
        {
            self.err("MaxResults", format!("{n}: EC2 takes 5 to 1000"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Body → SDK. Protocols are sent in AWS's canonical spelling (`6` → `tcp`, `all` → `-1`).

impl IpPermission {
    fn sdk(&self) -> ec2::IpPermission {
        let protocol = Protocol::parse(&self.ip_protocol)
            .map(Protocol::aws)
            .unwrap_or_else(|| self.ip_protocol.clone());
        ec2::IpPermission::builder()
            .ip_protocol(protocol)
            .set_from_port(self.from_port)
            .set_to_port(self.to_port)
            .set_ip_ranges(self.ip_ranges.as_ref().map(|v| {
                v.iter()
                    .map(|r| {
                        ec2::IpRange::builder()
                            .cidr_ip(&r.cidr_ip)
                            .set_description(r.description.clone())
                            .build()
                    })
                    .collect()
            }))
            .set_ipv6_ranges(self.ipv6_ranges.as_ref().map(|v| {
                v.iter()
                    .map(|r| {
                        ec2::Ipv6Range::builder()
                            .cidr_ipv6(&r.cidr_ipv6)
                            .set_description(r.description.clone())
                            .build()
                    })
                    .collect()
            }))
            .set_prefix_list_ids(self.prefix_list_ids.as_ref().map(|v| {
                v.iter()
                    .map(|r| {
                        ec2::PrefixListId::builder()
                            .prefix_list_id(&r.prefix_list_id)
                            .set_description(r.description.clone())
                            .build()
                    })
                    .collect()
            }))
            .set_user_id_group_pairs(self.user_id_group_pairs.as_ref().map(|v| {
                v.iter()
                    .map(|g| {
                        ec2::UserIdGroupPair::builder()
                            .set_group_id(g.group_id.clone())
                            .set_group_name(g.group_name.clone())
                            .set_user_id(g.user_id.clone())
                            .set_vpc_id(g.vpc_id.clone())
                            .set_vpc_peering_connection_id(g.vpc_peering_connection_id.clone())
                            .set_peering_status(g.peering_status.clone())
                            .set_description(g.description.clone())
                            .build()
                    })
                    .collect()
            }))
            .build()
    }
}

fn permissions(p: &Option<Vec<IpPermission>>) -> Option<Vec<ec2::IpPermission>> {
    p.as_ref()
        .map(|v| v.iter().map(IpPermission::sdk).collect())
}

fn sdk_tags(tags: &[Tag]) -> Vec<ec2::Tag> {
    tags.iter()
        .map(|t| {
            ec2::Tag::builder()
                .key(&t.key)
                .set_value(t.value.clone())
                .build()
        })
        .collect()
}

fn tag_specifications(s: &Option<Vec<TagSpecification>>) -> Option<Vec<ec2::TagSpecification>> {
    s.as_ref().map(|v| {
        v.iter()
            .map(|s| {
                ec2::TagSpecification::builder()
                    .resource_type(ec2::ResourceType::from(s.resource_type.as_str()))
                    .set_tags(Some(sdk_tags(&s.tags)))
                    .build()
            })
            .collect()
    })
}

fn filters(f: &Option<Vec<Filter>>) -> Option<Vec<ec2::Filter>> {
    f.as_ref().map(|v| {
        v.iter()
            .map(|f| {
                ec2::Filter::builder()
                    .name(&f.name)
                    .set_values(Some(f.values.clone()))
                    .build()
            })
            .collect()
    })
}

impl SecurityGroupRuleRequest {
    fn sdk(&self) -> ec2::SecurityGroupRuleRequest {
        let protocol = self
            .ip_protocol
            .as_ref()
            .map(|p| Protocol::parse(p).map(Protocol::aws).unwrap_or(p.clone()));
        ec2::SecurityGroupRuleRequest::builder()
            .set_ip_protocol(protocol)
            .set_from_port(self.from_port)
            .set_to_port(self.to_port)
            .set_cidr_ipv4(self.cidr_ipv4.clone())
            .set_cidr_ipv6(self.cidr_ipv6.clone())
            .set_prefix_list_id(self.prefix_list_id.clone())
            .set_referenced_group_id(self.referenced_group_id.clone())
            .set_description(self.description.clone())
            .build()
    }
}

// ---------------------------------------------------------------------------------------------
// The call.

/// What EC2 answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The response, in boto3's shape.
    Done(Value),
    /// DryRun was set and EC2 answered `DryRunOperation`: the call would have succeeded.
    DryRun { message: String },
}

impl Outcome {
    /// What `sgops invoke` prints on standard output.
    pub fn to_json(&self) -> Value {
        match self {
            Outcome::Done(v) => v.clone(),
            Outcome::DryRun { message } => json!({
                "DryRun": true,
                "Code": DRY_RUN_OK,
                "Message": message,
            }),
        }
    }

    /// What happened, in a few words for standard error: `ok, 1 rule created`.
    pub fn summary(&self, action: Action) -> String {
        let Outcome::Done(v) = self else {
            return "dry run: the call would have succeeded (DryRunOperation)".into();
        };
        let len = |key: &str| v.get(key).and_then(Value::as_array).map(Vec::len);
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let mut parts: Vec<String> = Vec::new();
        match action {
            Action::AuthorizeIngress | Action::AuthorizeEgress => {
                parts.extend(len("SecurityGroupRules").map(|n| count(n, "rule") + " created"));
            }
            Action::RevokeIngress | Action::RevokeEgress => {
                parts.extend(
                    len("RevokedSecurityGroupRules").map(|n| count(n, "rule") + " revoked"),
                );
                parts.extend(
                    len("UnknownIpPermissions")
                        .filter(|n| *n > 0)
                        .map(|n| count(n, "permission") + " matched no rule"),
                );
            }
            Action::DescribeRules => {
                parts.extend(len("SecurityGroupRules").map(|n| count(n, "rule")))
            }
            Action::DescribeGroups => {
                parts.extend(len("SecurityGroups").map(|n| count(n, "group")))
            }
            _ => {}
        }
        if v.get("NextToken").is_some() {
            parts.push("more with NextToken".into());
        }
        // EC2 answers false where a call did nothing it was asked to; no exception then.
        let head = if v.get("Return") == Some(&Value::Bool(false)) {
            "EC2 answered Return: false"
        } else {
            "ok"
        };
        std::iter::once(head.to_string())
            .chain(parts)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The error code with which EC2 says a DryRun call would have succeeded.
const DRY_RUN_OK: &str = "DryRunOperation";

/// A failed call, with AWS's code kept in the message (`InvalidPermission.Duplicate: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

/// The code with which EC2 refuses to create a rule that exists.
const DUPLICATE: &str = "InvalidPermission.Duplicate";

impl CallError {
    /// The message to show, given how many HTTP attempts the call took: an authorize that
    /// was retried and then heard "duplicate" most likely created the rule on an attempt
    /// whose reply was lost, so the rule the caller asked for probably exists.
    pub fn explain(&self, attempts: u64) -> String {
        let authorize = matches!(
            self.operation,
            "ec2:AuthorizeSecurityGroupIngress" | "ec2:AuthorizeSecurityGroupEgress"
        );
        if authorize && attempts > 1 && self.code.as_deref() == Some(DUPLICATE) {
            format!(
                "{} (the call was sent {attempts} times: an earlier attempt probably created the rule and its reply was lost; describe_security_group_rules shows it)",
                self.message
            )
        } else {
            self.message.clone()
        }
    }
}

/// Makes the one EC2 call of `req`. `dry_run` (or the body's own `DryRun`) sets DryRun.
pub async fn call(
    ec2: &aws_sdk_ec2::Client,
    req: &Request,
    dry_run: bool,
) -> Result<Outcome, CallError> {
    let dry = dry_run || req.body_dry_run();
    let op = req.action().operation();
    let dry_flag = dry.then_some(true);
    match req {
        Request::AuthorizeIngress(b) => finish(
            op,
            dry,
            ec2.authorize_security_group_ingress()
                .set_group_id(b.group_id.clone())
                .set_group_name(b.group_name.clone())
                .set_ip_permissions(Some(
                    b.ip_permissions.iter().map(IpPermission::sdk).collect(),
                ))
                .set_tag_specifications(tag_specifications(&b.tag_specifications))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| {
                json!({
                    "Return": o.r#return,
                    "SecurityGroupRules": o.security_group_rules.as_deref().map(rules_json),
                })
            },
        ),
        Request::AuthorizeEgress(b) => finish(
            op,
            dry,
            ec2.authorize_security_group_egress()
                .group_id(&b.group_id)
                .set_ip_permissions(Some(
                    b.ip_permissions.iter().map(IpPermission::sdk).collect(),
                ))
                .set_tag_specifications(tag_specifications(&b.tag_specifications))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| {
                json!({
                    "Return": o.r#return,
                    "SecurityGroupRules": o.security_group_rules.as_deref().map(rules_json),
                })
            },
        ),
        Request::RevokeIngress(b) => finish(
            op,
            dry,
            ec2.revoke_security_group_ingress()
                .set_group_id(b.group_id.clone())
                .set_group_name(b.group_name.clone())
                .set_ip_permissions(permissions(&b.ip_permissions))
                .set_security_group_rule_ids(b.security_group_rule_ids.clone())
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| {
                revoke_json(
                    o.r#return,
                    o.unknown_ip_permissions.as_deref(),
                    o.revoked_security_group_rules.as_deref(),
                )
            },
        ),
        Request::RevokeEgress(b) => finish(
            op,
            dry,
            ec2.revoke_security_group_egress()
                .group_id(&b.group_id)
                .set_ip_permissions(permissions(&b.ip_permissions))
                .set_security_group_rule_ids(b.security_group_rule_ids.clone())
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| {
                revoke_json(
                    o.r#return,
                    o.unknown_ip_permissions.as_deref(),
                    o.revoked_security_group_rules.as_deref(),
                )
            },
        ),
        Request::ModifyRules(b) => finish(
            op,
            dry,
            ec2.modify_security_group_rules()
                .group_id(&b.group_id)
                .set_security_group_rules(Some(
                    b.security_group_rules
                        .iter()
                        .map(|u| {
                            ec2::SecurityGroupRuleUpdate::builder()
                                .security_group_rule_id(&u.security_group_rule_id)
                                .security_group_rule(u.security_group_rule.sdk())
                                .build()
                        })
                        .collect(),
                ))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| json!({ "Return": o.r#return }),
        ),
        Request::UpdateDescriptionsIngress(b) => finish(
            op,
            dry,
            ec2.update_security_group_rule_descriptions_ingress()
                .set_group_id(b.group_id.clone())
                .set_group_name(b.group_name.clone())
                .set_ip_permissions(permissions(&b.ip_permissions))
                .set_security_group_rule_descriptions(rule_descriptions(
                    &b.security_group_rule_descriptions,
                ))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| json!({ "Return": o.r#return }),
        ),
        Request::UpdateDescriptionsEgress(b) => finish(
            op,
            dry,
            ec2.update_security_group_rule_descriptions_egress()
                .set_group_id(b.group_id.clone())
                .set_group_name(b.group_name.clone())
                .set_ip_permissions(permissions(&b.ip_permissions))
                .set_security_group_rule_descriptions(rule_descriptions(
                    &b.security_group_rule_descriptions,
                ))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| json!({ "Return": o.r#return }),
        ),
        Request::CreateTags(b) => finish(
            op,
            dry,
            ec2.create_tags()
                .set_resources(Some(b.resources.clone()))
                .set_tags(Some(sdk_tags(&b.tags)))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |_| json!({}),
        ),
        Request::DeleteTags(b) => finish(
            op,
            dry,
            ec2.delete_tags()
                .set_resources(Some(b.resources.clone()))
                .set_tags(b.tags.as_deref().map(sdk_tags))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |_| json!({}),
        ),
        Request::DescribeRules(b) => finish(
            op,
            dry,
            ec2.describe_security_group_rules()
                .set_filters(filters(&b.filters))
                .set_security_group_rule_ids(b.security_group_rule_ids.clone())
                .set_next_token(b.next_token.clone())
                .set_max_results(b.max_results)
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| {
                json!({
                    "SecurityGroupRules": rules_json(o.security_group_rules()),
                    "NextToken": o.next_token,
                })
            },
        ),
        Request::DescribeGroups(b) => finish(
            op,
            dry,
            ec2.describe_security_groups()
                .set_filters(filters(&b.filters))
                .set_group_ids(b.group_ids.clone())
                .set_group_names(b.group_names.clone())
                .set_next_token(b.next_token.clone())
                .set_max_results(b.max_results)
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| {
                json!({
                    "SecurityGroups": o.security_groups().iter().map(group_json).collect::<Vec<_>>(),
                    "NextToken": o.next_token,
                })
            },
        ),
    }
}

fn rule_descriptions(
    d: &Option<Vec<SecurityGroupRuleDescription>>,
) -> Option<Vec<ec2::SecurityGroupRuleDescription>> {
    d.as_ref().map(|v| {
        v.iter()
            .map(|r| {
                ec2::SecurityGroupRuleDescription::builder()
                    .security_group_rule_id(&r.security_group_rule_id)
                    .set_description(r.description.clone())
                    .build()
            })
            .collect()
    })
}

/// Turns a call's result into an [`Outcome`]. Under DryRun only `DryRunOperation` is success:
/// a real answer means the endpoint ignored DryRun and acted, which the caller must hear.
fn finish<T, E, R>(
    operation: &'static str,
    dry: bool,
    result: Result<T, aws_sdk_ec2::error::SdkError<E, R>>,
    to_json: impl FnOnce(T) -> Value,
) -> Result<Outcome, CallError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match result {
        Ok(_) if dry => Err(CallError {
            operation,
            code: None,
            message: "DryRun was set, but the endpoint carried the call out instead of answering DryRunOperation (moto does so for some actions): check what it changed".into(),
        }),
        Ok(out) => Ok(Outcome::Done(strip_nulls(to_json(out)))),
        Err(e) if dry && error_code(&e).as_deref() == Some(DRY_RUN_OK) => Ok(Outcome::DryRun {
            message: e
                .message()
                .unwrap_or("Request would have succeeded, but DryRun flag is set.")
                .to_string(),
        }),
        Err(e) => Err(CallError {
            operation,
            code: error_code(&e),
            message: describe_sdk_error(&e),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// SDK → boto3's response shape. Absent fields are left out, as boto3 leaves them out.

/// Drops `null` members, recursively: boto3 has no key for a field AWS did not send.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

pub fn tags_json(tags: &[ec2::Tag]) -> Value {
    tags.iter()
        .map(|t| json!({ "Key": t.key(), "Value": t.value() }))
        .collect()
}

/// A SecurityGroupRule as boto3 returns it (DescribeSecurityGroupRules, Authorize*).
pub fn rule_json(r: &ec2::SecurityGroupRule) -> Value {
    json!({
        "SecurityGroupRuleId": r.security_group_rule_id(),
        "GroupId": r.group_id(),
        "GroupOwnerId": r.group_owner_id(),
        "IsEgress": r.is_egress(),
        "IpProtocol": r.ip_protocol(),
        "FromPort": r.from_port(),
        "ToPort": r.to_port(),
        "CidrIpv4": r.cidr_ipv4(),
        "CidrIpv6": r.cidr_ipv6(),
        "PrefixListId": r.prefix_list_id(),
        "ReferencedGroupInfo": r.referenced_group_info().map(|g| json!({
            "GroupId": g.group_id(),
            "PeeringStatus": g.peering_status(),
            "UserId": g.user_id(),
            "VpcId": g.vpc_id(),
            "VpcPeeringConnectionId": g.vpc_peering_connection_id(),
        })),
        "Description": r.description(),
        "Tags": r.tags.as_deref().map(tags_json),
        "SecurityGroupRuleArn": r.security_group_rule_arn(),
    })
}

fn rules_json(rules: &[ec2::SecurityGroupRule]) -> Value {
    rules.iter().map(rule_json).collect()
}

fn revoke_json(
    ret: Option<bool>,
    unknown: Option<&[ec2::IpPermission]>,
    revoked: Option<&[ec2::RevokedSecurityGroupRule]>,
) -> Value {
    json!({
        "Return": ret,
        "UnknownIpPermissions": unknown.map(|v| v.iter().map(ip_permission_json).collect::<Vec<_>>()),
        "RevokedSecurityGroupRules": revoked.map(|v| v.iter().map(|r| json!({
            "SecurityGroupRuleId": r.security_group_rule_id(),
            "GroupId": r.group_id(),
            "IsEgress": r.is_egress(),
            "IpProtocol": r.ip_protocol(),
            "FromPort": r.from_port(),
            "ToPort": r.to_port(),
            "CidrIpv4": r.cidr_ipv4(),
            "CidrIpv6": r.cidr_ipv6(),
            "PrefixListId": r.prefix_list_id(),
            "ReferencedSecurityGroupId": r.referenced_group_id(),
            "Description": r.description(),
        })).collect::<Vec<_>>()),
    })
}

/// An IpPermission as boto3 returns it (DescribeSecurityGroups, UnknownIpPermissions).
pub fn ip_permission_json(p: &ec2::IpPermission) -> Value {
    json!({
        "IpProtocol": p.ip_protocol(),
        "FromPort": p.from_port(),
        "ToPort": p.to_port(),
        "IpRanges": p.ip_ranges.as_deref().map(|v| v.iter().map(|r| json!({
            "CidrIp": r.cidr_ip(), "Description": r.description(),
        })).collect::<Vec<_>>()),
        "Ipv6Ranges": p.ipv6_ranges.as_deref().map(|v| v.iter().map(|r| json!({
            "CidrIpv6": r.cidr_ipv6(), "Description": r.description(),
        })).collect::<Vec<_>>()),
        "PrefixListIds": p.prefix_list_ids.as_deref().map(|v| v.iter().map(|r| json!({
            "PrefixListId": r.prefix_list_id(), "Description": r.description(),
        })).collect::<Vec<_>>()),
        "UserIdGroupPairs": p.user_id_group_pairs.as_deref().map(|v| v.iter().map(|g| json!({
            "GroupId": g.group_id(),
            "GroupName": g.group_name(),
            "UserId": g.user_id(),
            "VpcId": g.vpc_id(),
            "VpcPeeringConnectionId": g.vpc_peering_connection_id(),
            "PeeringStatus": g.peering_status(),
            "Description": g.description(),
        })).collect::<Vec<_>>()),
    })
}

/// A SecurityGroup as boto3 returns it (DescribeSecurityGroups).
pub fn group_json(g: &ec2::SecurityGroup) -> Value {
    json!({
        "GroupId": g.group_id(),
        "GroupName": g.group_name(),
        "Description": g.description(),
        "OwnerId": g.owner_id(),
        "VpcId": g.vpc_id(),
        "SecurityGroupArn": g.security_group_arn(),
        "IpPermissions": g.ip_permissions.as_deref().map(|v| v.iter().map(ip_permission_json).collect::<Vec<_>>()),
        "IpPermissionsEgress": g.ip_permissions_egress.as_deref().map(|v| v.iter().map(ip_permission_json).collect::<Vec<_>>()),
        "Tags": g.tags.as_deref().map(tags_json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(action: Action, body: &str) -> BodyError {
        parse(action, body).expect_err("body should be refused")
    }

    fn paths(e: &BodyError) -> Vec<&str> {
        e.0.iter().map(|p| p.path.as_str()).collect()
    }

    const AUTHORIZE: &str = r#"{
        "GroupId": "sg-0123456789abcdef0",
        "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "IpRanges": [{"CidrIp": "203.0.113.0/24", "Description": "Partner"}]}],
        "TagSpecifications": [{"ResourceType": "security-group-rule",
            "Tags": [{"Key": "team", "Value": "payments"}]}]
    }"#;

    #[test]
    fn a_boto3_body_parses() {
        let Request::AuthorizeIngress(b) = parse(Action::AuthorizeIngress, AUTHORIZE).unwrap()
        else {
            panic!("wrong request")
        };
        assert_eq!(b.group_id.as_deref(), Some("sg-0123456789abcdef0"));
        let p = b.ip_permissions[0].sdk();
        assert_eq!(p.ip_protocol(), Some("tcp"));
        assert_eq!(p.ip_ranges()[0].cidr_ip(), Some("203.0.113.0/24"));
        let t = tag_specifications(&b.tag_specifications).unwrap();
        assert_eq!(
            t[0].resource_type(),
            Some(&ec2::ResourceType::SecurityGroupRule)
        );
    }

    #[test]
    fn wrong_types_name_their_path() {
        let e = parse_err(
            Action::AuthorizeIngress,
            &AUTHORIZE.replace(r#""FromPort": 443"#, r#""FromPort": "443""#),
        );
        assert_eq!(paths(&e), ["IpPermissions[0].FromPort"]);
        assert!(
            e.to_string().contains("invalid type: string \"443\""),
            "{e}"
        );

        let e = parse_err(
            Action::AuthorizeIngress,
            &AUTHORIZE.replace(r#""FromPort": 443"#, r#""FromPort": 443.5"#),
        );
        assert_eq!(paths(&e), ["IpPermissions[0].FromPort"]);

        let e = parse_err(
            Action::CreateTags,
            r#"{"Resources": "sgr-0123456789abcdef0", "Tags": []}"#,
        );
        assert_eq!(paths(&e), ["Resources"]);
    }

    #[test]
    fn unknown_keys_are_errors_at_their_path() {
        let e = parse_err(
            Action::AuthorizeIngress,
            &AUTHORIZE.replace(r#""CidrIp""#, r#""CidrIP""#),
        );
        assert_eq!(paths(&e), ["IpPermissions[0].IpRanges[0].CidrIP"]);
        assert!(e.to_string().contains("unknown field `CidrIP`"), "{e}");

        // The EC2-Classic shorthand is refused: rules are written as IpPermissions.
        let e = parse_err(
            Action::AuthorizeIngress,
            r#"{"GroupId": "sg-0123456789abcdef0", "CidrIp": "10.0.0.0/8", "IpPermissions": []}"#,
        );
        assert_eq!(paths(&e), ["CidrIp"]);
    }

    #[test]
    fn missing_required_keys_and_bad_json_are_errors() {
        let e = parse_err(Action::AuthorizeEgress, r#"{"IpPermissions": []}"#);
        assert!(e.to_string().contains("missing field `GroupId`"), "{e}");
        let e = parse_err(Action::DescribeRules, r#"{} {}"#);
        assert!(e.to_string().contains("trailing characters"), "{e}");
        let e = parse_err(Action::DescribeRules, r#"[]"#);
        assert_eq!(paths(&e), [""]);
        let e = parse_err(
            Action::DescribeRules,
            r#"{"Filters": [{"Name": "group-id", "Values": ["a"]}], "Filters": []}"#,
        );
        assert!(e.to_string().contains("duplicate field `Filters`"), "{e}");
    }

    #[test]
    fn values_are_checked_all_at_once() {
        let body = r#"{
            "GroupId": "sg-nothex",
            "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 80,
                 "IpRanges": [{"CidrIp": "10.0.0.1/24"}]},
                {"IpProtocol": "-1", "FromPort": 443, "ToPort": 443,
                 "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32", "Description": "caf\u00e9"}]},
                {"IpProtocol": "tcpp", "FromPort": 1, "ToPort": 70000,
                 "PrefixListIds": [{"PrefixListId": "pl-1"}]},
                {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53}
            ],
            "TagSpecifications": [{"ResourceType": "security-group",
                "Tags": [{"Key": "aws:x", "Value": "y"}]}]
        }"#;
        let e = parse_err(Action::AuthorizeIngress, body);
        assert_eq!(
            paths(&e),
            [
                "GroupId",
                "IpPermissions[0].ToPort",
                "IpPermissions[0].IpRanges[0].CidrIp",
                "IpPermissions[1].FromPort",
                "IpPermissions[1].ToPort",
                "IpPermissions[1].Ipv6Ranges[0].Description",
                "IpPermissions[2].IpProtocol",
                "IpPermissions[2].PrefixListIds[0].PrefixListId",
                "IpPermissions[3]",
                "TagSpecifications[0].ResourceType",
                "TagSpecifications[0].Tags[0]",
            ],
            "{e}"
        );
        let text = e.to_string();
        assert!(text.starts_with("11 problems:"), "{text}");
        assert!(text.contains("did you mean 10.0.0.0/24"), "{text}");
    }

    #[test]
    fn ports_follow_the_protocol() {
        let perm =
            |p: &str| format!(r#"{{"GroupId": "sg-0123456789abcdef0", "IpPermissions": [{p}]}}"#);
        let ok = [
            r#"{"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
            r#"{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
            r#"{"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
            r#"{"IpProtocol": "6", "FromPort": 0, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef1"}]}"#,
        ];
        for p in ok {
            assert!(parse(Action::AuthorizeEgress, &perm(p)).is_ok(), "{p}");
        }
        let bad = [
            (
                r#"{"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
                "IpPermissions[0].FromPort",
            ),
            (
                r#"{"IpProtocol": "icmp", "FromPort": -1, "ToPort": 3, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
                "IpPermissions[0].ToPort",
            ),
            (
                r#"{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{}]}"#,
                "IpPermissions[0].UserIdGroupPairs[0]",
            ),
        ];
        for (p, path) in bad {
            let e = parse_err(Action::AuthorizeEgress, &perm(p));
            assert_eq!(paths(&e)[0], path, "{p}: {e}");
        }
    }

    #[test]
    fn protocols_are_sent_canonical() {
        let body = r#"{"GroupId": "sg-0123456789abcdef0", "IpPermissions": [
            {"IpProtocol": "6", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            {"IpProtocol": "all", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]}"#;
        let Request::AuthorizeEgress(b) = parse(Action::AuthorizeEgress, body).unwrap() else {
            panic!("wrong request")
        };
        assert_eq!(b.ip_permissions[0].sdk().ip_protocol(), Some("tcp"));
        assert_eq!(b.ip_permissions[1].sdk().ip_protocol(), Some("-1"));
    }

    #[test]
    fn group_and_rule_selection() {
        let e = parse_err(
            Action::RevokeIngress,
            r#"{"GroupId": "sg-0123456789abcdef0"}"#,
        );
        assert!(
            e.to_string()
                .contains("SecurityGroupRuleIds or IpPermissions")
        );
        let e = parse_err(
            Action::RevokeIngress,
            r#"{"SecurityGroupRuleIds": ["sgr-0123456789abcdef0"]}"#,
        );
        assert!(e.to_string().contains("give GroupId"), "{e}");
        assert!(
            parse(
                Action::RevokeEgress,
                r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRuleIds": ["sgr-0123456789abcdef0"]}"#,
            )
            .is_ok()
        );
        let e = parse_err(
            Action::RevokeEgress,
            r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRuleIds": ["sg-0123456789abcdef0"]}"#,
        );
        assert_eq!(paths(&e), ["SecurityGroupRuleIds[0]"]);
    }

    #[test]
    fn modify_rules_are_checked() {
        let body = r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRules": [
            {"SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule":
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv4": "10.0.0.0/8",
                 "PrefixListId": "pl-12345678"}},
            {"SecurityGroupRuleId": "sgr-0123456789abcdef1", "SecurityGroupRule":
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv6": "2001:db8::1/32"}}
        ]}"#;
        let e = parse_err(Action::ModifyRules, body);
        assert_eq!(
            paths(&e),
            [
                "SecurityGroupRules[0].SecurityGroupRule",
                "SecurityGroupRules[1].SecurityGroupRule.CidrIpv6"
            ],
            "{e}"
        );
        let e = parse_err(
            Action::ModifyRules,
            r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRules": [{"SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule": {"Foo": 1}}]}"#,
        );
        assert_eq!(paths(&e), ["SecurityGroupRules[0].SecurityGroupRule.Foo"]);
    }

    #[test]
    fn tags_and_describes() {
        assert!(
            parse(
                Action::CreateTags,
                r#"{"Resources": ["sgr-0123456789abcdef0"], "Tags": [{"Key": "team", "Value": "x"}]}"#
            )
            .is_ok()
        );
        let e = parse_err(Action::CreateTags, r#"{"Resources": [], "Tags": []}"#);
        assert_eq!(paths(&e), ["Resources", "Tags"]);
        assert!(
            parse(
                Action::DeleteTags,
                r#"{"Resources": ["sgr-0123456789abcdef0"]}"#
            )
            .is_ok()
        );
        // Only security-group rules: not a group, an instance, or anything else.
        for id in ["sg-0123456789abcdef0", "i-0123456789abcdef0", "*", ""] {
            for action in [Action::CreateTags, Action::DeleteTags] {
                let body = format!(r#"{{"Resources": ["{id}"], "Tags": [{{"Key": "k"}}]}}"#);
                let e = parse_err(action, &body);
                assert_eq!(paths(&e), ["Resources[0]"], "{id}");
            }
        }
        assert!(parse(Action::DescribeRules, "{}").is_ok());
        assert!(
            parse(
                Action::DescribeGroups,
                r#"{"GroupIds": ["sg-0123456789abcdef0"]}"#
            )
            .is_ok()
        );
        let e = parse_err(Action::DescribeRules, r#"{"MaxResults": 2000}"#);
        assert_eq!(paths(&e), ["MaxResults"]);
        let e = parse_err(
            Action::DescribeRules,
            r#"{"Filters": [{"Name": "group-id", "Values": "sg-1"}]}"#,
        );
        assert_eq!(paths(&e), ["Filters[0].Values"]);
    }

    #[test]
    fn an_explicit_null_is_refused_at_its_path() {
        let e = parse_err(
            Action::AuthorizeIngress,
            &AUTHORIZE.replace(
                r#""TagSpecifications": [{"ResourceType": "security-group-rule",
            "Tags": [{"Key": "team", "Value": "payments"}]}]"#,
                r#""TagSpecifications": null"#,
            ),
        );
        assert_eq!(paths(&e), ["TagSpecifications"], "{e}");
        assert_eq!(
            e.to_string(),
            "TagSpecifications: is null, which boto3 refuses for every parameter: leave the key out"
        );
        let e = parse_err(
            Action::AuthorizeIngress,
            &AUTHORIZE
                .replace(r#""Description": "Partner""#, r#""Description": null"#)
                .replace(r#""Value": "payments""#, r#""Value": null"#),
        );
        assert_eq!(
            paths(&e),
            [
                "IpPermissions[0].IpRanges[0].Description",
                "TagSpecifications[0].Tags[0].Value"
            ],
            "{e}"
        );
        let e = parse_err(
            Action::DescribeRules,
            r#"{"DryRun": null, "MaxResults": 1}"#,
        );
        assert_eq!(paths(&e), ["DryRun", "MaxResults"], "{e}");
        // A required key given as null is still a type error, from the parser.
        let e = parse_err(
            Action::AuthorizeEgress,
            r#"{"GroupId": null, "IpPermissions": []}"#,
        );
        assert_eq!(paths(&e), ["GroupId"], "{e}");
    }

    #[test]
    fn a_retried_authorize_that_meets_a_duplicate_says_why() {
        let e = CallError {
            operation: "ec2:AuthorizeSecurityGroupIngress",
            code: Some("InvalidPermission.Duplicate".into()),
            message: "InvalidPermission.Duplicate: the rule already exists".into(),
        };
        assert_eq!(
            e.explain(1),
            e.message,
            "sent once: it really existed before"
        );
        assert_eq!(
            e.explain(2),
            "InvalidPermission.Duplicate: the rule already exists (the call was sent 2 times: an earlier attempt probably created the rule and its reply was lost; describe_security_group_rules shows it)"
        );
        let other = CallError {
            code: Some("InvalidGroup.NotFound".into()),
            ..e.clone()
        };
        assert_eq!(other.explain(3), other.message);
        let modify = CallError {
            operation: "ec2:ModifySecurityGroupRules",
            ..e
        };
        assert_eq!(modify.explain(3), modify.message);
    }

    #[test]
    fn outcomes_sum_up_in_a_few_words() {
        let done = |v: Value| Outcome::Done(v);
        assert_eq!(
            done(json!({"Return": true, "SecurityGroupRules": [{}]}))
                .summary(Action::AuthorizeEgress),
            "ok, 1 rule created"
        );
        assert_eq!(
            done(json!({"Return": true, "UnknownIpPermissions": [{}, {}]}))
                .summary(Action::RevokeIngress),
            "ok, 2 permissions matched no rule"
        );
        assert_eq!(
            done(json!({"SecurityGroupRules": [{}, {}], "NextToken": "t"}))
                .summary(Action::DescribeRules),
            "ok, 2 rules, more with NextToken"
        );
        assert_eq!(
            done(json!({"Return": false})).summary(Action::ModifyRules),
            "EC2 answered Return: false"
        );
        assert_eq!(done(json!({})).summary(Action::CreateTags), "ok");
        assert_eq!(
            Outcome::DryRun {
                message: "m".into()
            }
            .summary(Action::DeleteTags),
            "dry run: the call would have succeeded (DryRunOperation)"
        );
    }

    #[test]
    fn dry_run_in_the_body_counts() {
        let r = parse(Action::DescribeRules, r#"{"DryRun": true}"#).unwrap();
        assert!(r.body_dry_run());
        let r = parse(Action::DescribeRules, r#"{}"#).unwrap();
        assert!(!r.body_dry_run());
        let e = parse_err(Action::DescribeRules, r#"{"DryRun": "yes"}"#);
        assert_eq!(paths(&e), ["DryRun"]);
    }

    #[test]
    fn ownership_warnings() {
        let tagged = AUTHORIZE.replace(r#""Key": "team""#, r#""Key": "sgops:rule""#);
        let r = parse(Action::AuthorizeIngress, &tagged).unwrap();
        assert_eq!(r.ownership_warnings().len(), 1);
        let r = parse(Action::AuthorizeIngress, AUTHORIZE).unwrap();
        assert!(r.ownership_warnings().is_empty());
        let r = parse(
            Action::DeleteTags,
            r#"{"Resources": ["sgr-0123456789abcdef0"]}"#,
        )
        .unwrap();
        assert_eq!(r.ownership_warnings().len(), 1, "deleting every tag");
    }

    #[test]
    fn actions_match_exactly() {
        assert_eq!(
            Action::find("ec2", "authorize_security_group_ingress"),
            Some(Action::AuthorizeIngress)
        );
        assert_eq!(Action::find("ec2", "authorize_security_group"), None);
        assert_eq!(Action::find("ssm", "create_tags"), None);
        assert!(Action::supported().contains("describe_security_groups"));
        for a in Action::ALL {
            assert_eq!(Action::find("ec2", a.name()), Some(a));
        }
    }

    #[test]
    fn responses_have_boto3_shape() {
        let r = ec2::SecurityGroupRule::builder()
            .security_group_rule_id("sgr-1")
            .group_id("sg-1")
            .is_egress(false)
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .cidr_ipv4("10.0.0.0/8")
            .tags(ec2::Tag::builder().key("team").value("x").build())
            .build();
        let v = strip_nulls(json!({"Return": true, "SecurityGroupRules": rules_json(&[r])}));
        assert_eq!(
            v,
            json!({"Return": true, "SecurityGroupRules": [{
                "SecurityGroupRuleId": "sgr-1", "GroupId": "sg-1", "IsEgress": false,
                "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv4": "10.0.0.0/8",
                "Tags": [{"Key": "team", "Value": "x"}]
            }]})
        );
        assert_eq!(
            Outcome::DryRun {
                message: "m".into()
            }
            .to_json(),
            json!({"DryRun": true, "Code": "DryRunOperation", "Message": "m"})
        );
    }
}
