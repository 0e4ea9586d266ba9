//! The SDK's answers in boto3's response shape: absent fields are left out, as boto3 leaves
//! them out. Pure.

use aws_sdk_ec2::types as ec2;
use serde_json::{Value, json};

/// Drops `null` members, recursively: boto3 has no key for a field AWS did not send.
pub(super) fn strip_nulls(v: Value) -> Value {
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

pub(super) fn rules_json(rules: &[ec2::SecurityGroupRule]) -> Value {
    rules.iter().map(rule_json).collect()
}

pub(super) fn revoke_json(
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
