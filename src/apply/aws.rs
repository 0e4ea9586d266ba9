//! [`Ec2Write`] over the EC2 API. Every rule is sent whole, in AWS's canonical form.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, SecurityGroupRuleRequest,
    SecurityGroupRuleUpdate, Tag, TagSpecification, UserIdGroupPair,
};

use super::{Ec2Write, WriteError};
use crate::aws::{describe_sdk_error, error_code};
use crate::live::aws::AwsEc2;
use crate::rules::{Direction, Peer, Ports, RuleSpec};

fn write_error<E, R>(e: &aws_sdk_ec2::error::SdkError<E, R>) -> WriteError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    WriteError {
        code: error_code(e),
        message: describe_sdk_error(e),
    }
}

/// The IpPermission that creates `spec` (the shape boto3 and the EC2 API take).
pub fn ip_permission(spec: &RuleSpec) -> IpPermission {
    let mut b = IpPermission::builder().ip_protocol(spec.protocol.aws());
    if spec.ports != Ports::NotApplicable {
        let (from, to) = spec.ports.aws_pair();
        b = b.from_port(from).to_port(to);
    }
    let desc = spec.description.clone();
    match &spec.peer {
        Peer::Cidr(n) => b.ip_ranges(
            IpRange::builder()
                .cidr_ip(n.to_string())
                .set_description(desc)
                .build(),
        ),
        Peer::CidrIpv6(n) => b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(n.to_string())
                .set_description(desc)
                .build(),
        ),
        Peer::PrefixList(p) => b.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(p)
                .set_description(desc)
                .build(),
        ),
        Peer::SecurityGroup(g) => b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(desc)
                .build(),
        ),
    }
    .build()
}

/// The full rule for ModifySecurityGroupRules.
pub fn rule_request(spec: &RuleSpec) -> SecurityGroupRuleRequest {
    let (from, to) = spec.ports.aws_pair();
    let b = SecurityGroupRuleRequest::builder()
        .ip_protocol(spec.protocol.aws())
        .from_port(from)
        .to_port(to)
        .set_description(spec.description.clone());
    match &spec.peer {
        Peer::Cidr(n) => b.cidr_ipv4(n.to_string()),
        Peer::CidrIpv6(n) => b.cidr_ipv6(n.to_string()),
        Peer::PrefixList(p) => b.prefix_list_id(p),
        Peer::SecurityGroup(g) => b.referenced_group_id(g),
    }
    .build()
}

fn tags(t: &BTreeMap<String, String>) -> Vec<Tag> {
    t.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

impl Ec2Write for AwsEc2 {
    async fn authorize(
        &self,
        group_id: &str,
        spec: &RuleSpec,
        t: &BTreeMap<String, String>,
    ) -> Result<Option<String>, WriteError> {
        let tag_spec = TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroupRule)
            .set_tags(Some(tags(t)))
            .build();
        let rules = match spec.direction {
            Direction::Ingress => self
                .client
                .authorize_security_group_ingress()
                .group_id(group_id)
                .ip_permissions(ip_permission(spec))
                .tag_specifications(tag_spec)
                .send()
                .await
                .map_err(|e| write_error(&e))?
                .security_group_rules
                .unwrap_or_default(),
            Direction::Egress => self
                .client
                .authorize_security_group_egress()
                .group_id(group_id)
                .ip_permissions(ip_permission(spec))
                .tag_specifications(tag_spec)
                .send()
                .await
                .map_err(|e| write_error(&e))?
                .security_group_rules
                .unwrap_or_default(),
        };
        Ok(rules
            .first()
            .and_then(|r| r.security_group_rule_id().map(str::to_string)))
    }

    async fn revoke(
        &self,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
    ) -> Result<(), WriteError> {
        let ids = Some(rule_ids.to_vec());
        match direction {
            Direction::Ingress => self
                .client
                .revoke_security_group_ingress()
                .group_id(group_id)
                .set_security_group_rule_ids(ids)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| write_error(&e)),
            Direction::Egress => self
                .client
                .revoke_security_group_egress()
                .group_id(group_id)
                .set_security_group_rule_ids(ids)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| write_error(&e)),
        }
    }

    async fn modify(&self, group_id: &str, rules: &[(String, RuleSpec)]) -> Result<(), WriteError> {
        let updates = rules
            .iter()
            .map(|(id, spec)| {
                SecurityGroupRuleUpdate::builder()
                    .security_group_rule_id(id)
                    .security_group_rule(rule_request(spec))
                    .build()
            })
            .collect();
        self.client
            .modify_security_group_rules()
            .group_id(group_id)
            .set_security_group_rules(Some(updates))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| write_error(&e))
    }

    async fn create_tags(
        &self,
        rule_ids: &[String],
        t: &BTreeMap<String, String>,
    ) -> Result<(), WriteError> {
        self.client
            .create_tags()
            .set_resources(Some(rule_ids.to_vec()))
            .set_tags(Some(tags(t)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| write_error(&e))
    }

    async fn delete_tags(&self, rule_ids: &[String], keys: &[String]) -> Result<(), WriteError> {
        self.client
            .delete_tags()
            .set_resources(Some(rule_ids.to_vec()))
            .set_tags(Some(
                keys.iter().map(|k| Tag::builder().key(k).build()).collect(),
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| write_error(&e))
    }
}
