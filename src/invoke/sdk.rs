//! A parsed body as the SDK's types. Protocols are sent in AWS's canonical spelling (`6` →
//! `tcp`, `all` → `-1`). Pure.

use aws_sdk_ec2::types as ec2;

use crate::rules::Protocol;

use super::*;

impl IpPermission {
    pub(super) fn sdk(&self) -> ec2::IpPermission {
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

pub(super) fn permissions(p: &Option<Vec<IpPermission>>) -> Option<Vec<ec2::IpPermission>> {
    p.as_ref()
        .map(|v| v.iter().map(IpPermission::sdk).collect())
}

pub(super) fn sdk_tags(tags: &[Tag]) -> Vec<ec2::Tag> {
    tags.iter()
        .map(|t| {
            ec2::Tag::builder()
                .key(&t.key)
                .set_value(t.value.clone())
                .build()
        })
        .collect()
}

pub(super) fn tag_specifications(
    s: &Option<Vec<TagSpecification>>,
) -> Option<Vec<ec2::TagSpecification>> {
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

pub(super) fn filters(f: &Option<Vec<Filter>>) -> Option<Vec<ec2::Filter>> {
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
    pub(super) fn sdk(&self) -> ec2::SecurityGroupRuleRequest {
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
