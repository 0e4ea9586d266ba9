//! Live state: the security groups and rules as they are in AWS, read-only.
//!
//! [`LiveRead`] is the one way the planner learns about AWS; `aws` implements it with
//! DescribeSecurityGroupRules, `memory` in memory for tests. Nothing here writes.

pub mod aws;
pub mod memory;

use std::collections::BTreeMap;

use crate::rules::{Direction, GroupRef, Peer, Ports, Protocol, RuleSpec};

/// One account × region that sgops works on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    /// Account name from sgops.yaml.
    pub account: String,
    pub account_id: String,
    pub region: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}) {}", self.account, self.account_id, self.region)
    }
}

/// A live security-group rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LiveRule {
    /// `sgr-…`.
    pub rule_id: String,
    pub group_id: String,
    #[serde(skip)]
    pub spec: RuleSpec,
    pub tags: BTreeMap<String, String>,
}

/// A live security group with all its rules (managed or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveGroup {
    pub id: String,
    pub rules: Vec<LiveRule>,
}

/// What was read in one target: each group asked for, or why it could not be resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveTarget {
    pub groups: BTreeMap<GroupRef, Result<LiveGroup, String>>,
    /// Groups no rule file names that still hold rules tagged `sgops:rule`, sorted by id:
    /// their file was deleted, so their managed rules are to be revoked.
    pub orphans: Vec<LiveGroup>,
    /// The prefix lists that desired or live rules of the named groups reference, by id: a
    /// rule referencing one counts as its max entries toward the rules quota, as AWS counts.
    /// Read only when some rule references a prefix list; a list not found is absent.
    pub prefix_lists: BTreeMap<String, PrefixList>,
}

/// What the quota pre-flight needs to know of a managed prefix list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixList {
    pub max_entries: u32,
    pub ipv6: bool,
}

/// Reads the live rules of groups in one account × region.
#[allow(async_fn_in_trait)]
pub trait LiveRead {
    /// Resolves each group (by id, or by name in its VPC) and reads all its rules.
    /// A group that does not resolve is an `Err` entry, not a failure of the call.
    async fn read(&self, groups: &[GroupRef]) -> Result<LiveTarget, String>;
}

/// Builds a [`RuleSpec`] from the parts of an AWS rule; `None` for shapes sgops does not
/// manage (no peer, unknown protocol), which are then left alone.
#[allow(clippy::too_many_arguments)]
pub fn spec_from_aws(
    is_egress: bool,
    ip_protocol: &str,
    from_port: Option<i32>,
    to_port: Option<i32>,
    cidr_ipv4: Option<&str>,
    cidr_ipv6: Option<&str>,
    prefix_list: Option<&str>,
    referenced_group: Option<&str>,
    description: Option<&str>,
) -> Option<RuleSpec> {
    let protocol = Protocol::parse(ip_protocol)?;
    let peer = if let Some(c) = cidr_ipv4 {
        Peer::Cidr(c.parse::<ipnet::Ipv4Net>().ok()?.trunc())
    } else if let Some(c) = cidr_ipv6 {
        Peer::CidrIpv6(c.parse::<ipnet::Ipv6Net>().ok()?.trunc())
    } else if let Some(p) = prefix_list {
        Peer::PrefixList(p.to_string())
    } else if let Some(g) = referenced_group {
        Peer::SecurityGroup(g.to_string())
    } else {
        return None;
    };
    Some(RuleSpec {
        direction: if is_egress {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        protocol,
        ports: Ports::from_aws(protocol, from_port, to_port),
        peer,
        description: description.filter(|d| !d.is_empty()).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_shapes_become_specs() {
        let s = spec_from_aws(
            false,
            "-1",
            Some(-1),
            Some(-1),
            Some("0.0.0.0/0"),
            None,
            None,
            None,
            Some(""),
        )
        .expect("spec");
        assert_eq!(s.protocol, Protocol::All);
        assert_eq!(s.ports, Ports::NotApplicable);
        assert_eq!(s.description, None);
        let s = spec_from_aws(
            true,
            "6",
            Some(443),
            Some(443),
            None,
            None,
            Some("pl-12345678"),
            None,
            Some("x"),
        )
        .expect("spec");
        assert_eq!(s.protocol, Protocol::Tcp);
        assert_eq!(s.direction, Direction::Egress);
        assert_eq!(s.peer, Peer::PrefixList("pl-12345678".into()));
        assert!(
            spec_from_aws(false, "tcp", Some(1), Some(1), None, None, None, None, None).is_none()
        );
    }
}
