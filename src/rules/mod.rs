//! Desired state: the rule files under `rules/<account>/<region>/`, parsed and validated.
//!
//! The types here are the canonical, checked form of a rule, the shape the planner compares
//! with live AWS rules. `load` reads files; `check` holds the checks that span files.

mod check;
mod load;
pub(crate) mod raw;
pub mod world_open;

use std::collections::BTreeMap;
use std::fmt;

use ipnet::{Ipv4Net, Ipv6Net};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::diag::Pos;

pub use check::cross_file;
pub use check::{
    check_aws_tag, check_description, check_rule_tag, check_ticket,
    is_resource_id as check_resource_id, is_valid_region, is_valid_rule_id,
};
pub use load::{LoadOptions, load_tree, parse_file};
pub use raw::RULE_KEYS;

/// Which way traffic flows through a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// IP protocol, canonicalised: numbers with a name (6, 17, 1, 58) become the name,
/// as AWS itself does, so `6` and `tcp` compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Every protocol (`-1` in AWS).
    All,
    /// Any other IP protocol number.
    Number(u8),
}

impl Protocol {
    /// Parses the rule-file spelling (name or number).
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "icmp" => Some(Protocol::Icmp),
            "icmpv6" => Some(Protocol::Icmpv6),
            "all" | "-1" => Some(Protocol::All),
            // Plain decimal only: `06` or `+6` is refused rather than guessed.
            n if n == "0" || (!n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())) => {
                n.parse::<u8>().ok().map(Protocol::from_number)
            }
            _ => None,
        }
    }

    pub fn from_number(n: u8) -> Protocol {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            1 => Protocol::Icmp,
            58 => Protocol::Icmpv6,
            n => Protocol::Number(n),
        }
    }

    /// The `IpProtocol` value AWS uses.
    pub fn aws(self) -> String {
        match self {
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::Icmpv6 => "icmpv6".into(),
            Protocol::All => "-1".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }

    /// Whether this protocol has ports (tcp and udp only).
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::All => f.write_str("all"),
            p => f.write_str(&p.aws()),
        }
    }
}

/// What a rule opens within its protocol, in AWS's own canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ports {
    /// Protocols without ports (`all`, numbered ones): AWS shows -1/-1.
    NotApplicable,
    /// tcp/udp port range, inclusive; absent ports mean 0-65535.
    Range { from: u16, to: u16 },
    /// icmp/icmpv6 type and code; -1 means any.
    Icmp { icmp_type: i16, code: i16 },
}

impl Ports {
    /// `(FromPort, ToPort)` as AWS stores them.
    pub fn aws_pair(self) -> (i32, i32) {
        match self {
            Ports::NotApplicable => (-1, -1),
            Ports::Range { from, to } => (from.into(), to.into()),
            Ports::Icmp { icmp_type, code } => (icmp_type.into(), code.into()),
        }
    }

    /// Rebuilds from AWS's `(FromPort, ToPort)` for `protocol`.
    pub fn from_aws(protocol: Protocol, from: Option<i32>, to: Option<i32>) -> Ports {
        match protocol {
            Protocol::Tcp | Protocol::Udp => {
                let f = from.unwrap_or(0).clamp(0, 65535) as u16;
                let t = to.unwrap_or(65535).clamp(0, 65535) as u16;
                Ports::Range { from: f, to: t }
            }
            Protocol::Icmp | Protocol::Icmpv6 => Ports::Icmp {
                icmp_type: from.unwrap_or(-1).clamp(-1, 255) as i16,
                code: to.unwrap_or(-1).clamp(-1, 255) as i16,
            },
            Protocol::All | Protocol::Number(_) => Ports::NotApplicable,
        }
    }

    /// Whether `port` falls in this range (for the world-open guardrail).
    pub fn covers(self, port: u16) -> bool {
        match self {
            Ports::Range { from, to } => from <= port && port <= to,
            _ => false,
        }
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ports::NotApplicable => f.write_str("all"),
            Ports::Range { from, to } if from == to => write!(f, "{from}"),
            Ports::Range { from: 0, to: 65535 } => f.write_str("all"),
            Ports::Range { from, to } => write!(f, "{from}-{to}"),
            Ports::Icmp { icmp_type, code } => write!(f, "type {icmp_type} code {code}"),
        }
    }
}

/// The other end of a rule: exactly one of the four kinds AWS supports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    Cidr(Ipv4Net),
    CidrIpv6(Ipv6Net),
    PrefixList(String),
    SecurityGroup(String),
}

impl Peer {
    /// The rule-file key that holds this peer.
    pub fn key(&self) -> &'static str {
        match self {
            Peer::Cidr(_) => "cidr",
            Peer::CidrIpv6(_) => "cidr_ipv6",
            Peer::PrefixList(_) => "prefix_list",
            Peer::SecurityGroup(_) => "security_group",
        }
    }

    pub fn value(&self) -> String {
        match self {
            Peer::Cidr(n) => n.to_string(),
            Peer::CidrIpv6(n) => n.to_string(),
            Peer::PrefixList(s) | Peer::SecurityGroup(s) => s.clone(),
        }
    }

    /// 0.0.0.0/0 or ::/0.
    pub fn is_world(&self) -> bool {
        match self {
            Peer::Cidr(n) => n.prefix_len() == 0,
            Peer::CidrIpv6(n) => n.prefix_len() == 0,
            _ => false,
        }
    }

    /// Quota family: AWS counts IPv6 CIDR rules apart from the rest.
    pub fn is_ipv6(&self) -> bool {
        matches!(self, Peer::CidrIpv6(_))
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key(), self.value())
    }
}

/// The part of a rule that AWS stores: what the planner compares with live rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleSpec {
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: Ports,
    pub peer: Peer,
    pub description: Option<String>,
}

/// What makes two rules the same AWS rule: AWS refuses a second one as a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Meaning {
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: Ports,
    pub peer: Peer,
}

impl RuleSpec {
    pub fn meaning(&self) -> Meaning {
        Meaning {
            direction: self.direction,
            protocol: self.protocol,
            ports: self.ports,
            peer: self.peer.clone(),
        }
    }
}

/// Which security group a file is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupRef {
    Id(String),
    Name { name: String, vpc: String },
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupRef::Id(id) => f.write_str(id),
            GroupRef::Name { name, vpc } => write!(f, "{name} in {vpc}"),
        }
    }
}

/// One validated rule of a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredRule {
    pub id: String,
    pub spec: RuleSpec,
    pub ticket: String,
    pub expires: Option<Date>,
    /// The rule's own tags (without `sgops:rule` and `rule_tags`, which the planner adds).
    pub tags: BTreeMap<String, String>,
    /// Where the rule starts, for messages.
    pub pos: Pos,
}

impl DesiredRule {
    /// On and after its `expires` date a rule is no longer desired.
    pub fn is_expired(&self, today: Date) -> bool {
        self.expires.is_some_and(|d| d <= today)
    }
}

/// One validated rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFile {
    /// Path as shown to users (`rules/<account>/<region>/<file>.yaml`).
    pub path: String,
    pub account: String,
    pub region: String,
    pub group: GroupRef,
    pub group_pos: Pos,
    pub rules: Vec<DesiredRule>,
}

/// Every rule file of the repository that loaded without error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub files: Vec<RuleFile>,
}

impl Desired {
    /// The (account, region) pairs that have rule files, sorted.
    pub fn targets(&self) -> Vec<(String, String)> {
        let mut t: Vec<_> = self
            .files
            .iter()
            .map(|f| (f.account.clone(), f.region.clone()))
            .collect();
        t.sort();
        t.dedup();
        t
    }

    pub fn rule_count(&self) -> usize {
        self.files.iter().map(|f| f.rules.len()).sum()
    }
}

/// The rule in the shape of a rule file, for the JSON plan and for `import`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleView {
    /// Absent for a live rule that carries no `sgops:rule` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub direction: Direction,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_list: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The approval the desired rule rests on (absent for live rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl RuleView {
    /// The AWS rule this view describes (the inverse of [`RuleView::new`]).
    pub fn spec(&self) -> Result<RuleSpec, String> {
        let protocol = Protocol::parse(&self.protocol)
            .ok_or_else(|| format!("unknown protocol `{}`", self.protocol))?;
        let ports = match (&self.ports, protocol) {
            (None, p) => Ports::from_aws(p, None, None),
            (Some(serde_json::Value::Object(m)), Protocol::Icmp | Protocol::Icmpv6) => {
                let get = |k: &str| m.get(k).and_then(serde_json::Value::as_i64).unwrap_or(-1);
                Ports::from_aws(protocol, Some(get("type") as i32), Some(get("code") as i32))
            }
            (Some(serde_json::Value::Number(n)), Protocol::Tcp | Protocol::Udp) => {
                let (from, to) =
                    load::parse_port_range(&raw::Scalar::Int(n.as_i64().unwrap_or(-1)))?;
                Ports::Range { from, to }
            }
            (Some(serde_json::Value::String(s)), Protocol::Tcp | Protocol::Udp) => {
                let (from, to) = load::parse_port_range(&raw::Scalar::Str(s.clone()))?;
                Ports::Range { from, to }
            }
            (Some(v), p) => return Err(format!("ports {v} do not fit protocol {p}")),
        };
        let peers = [
            ("cidr", &self.cidr),
            ("cidr_ipv6", &self.cidr_ipv6),
            ("prefix_list", &self.prefix_list),
            ("security_group", &self.security_group),
        ];
        let mut given = peers
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)));
        let peer = match (given.next(), given.next()) {
            (Some((k, v)), None) => load::peer_from(k, v)?,
            _ => return Err("a rule needs exactly one peer".into()),
        };
        Ok(RuleSpec {
            direction: self.direction,
            protocol,
            ports,
            peer,
            description: self.description.clone(),
        })
    }

    pub fn new(id: &str, spec: &RuleSpec, tags: BTreeMap<String, String>) -> RuleView {
        let ports = match spec.ports {
            Ports::NotApplicable => None,
            Ports::Range { from: 0, to: 65535 } => None,
            Ports::Range { from, to } if from == to => Some(serde_json::json!(from)),
            Ports::Range { from, to } => Some(serde_json::json!(format!("{from}-{to}"))),
            Ports::Icmp {
                icmp_type: -1,
                code: -1,
            } => None,
            Ports::Icmp { icmp_type, code } => {
                Some(serde_json::json!({ "type": icmp_type, "code": code }))
            }
        };
        let (mut cidr, mut cidr_ipv6, mut prefix_list, mut security_group) =
            (None, None, None, None);
        match &spec.peer {
            Peer::Cidr(n) => cidr = Some(n.to_string()),
            Peer::CidrIpv6(n) => cidr_ipv6 = Some(n.to_string()),
            Peer::PrefixList(p) => prefix_list = Some(p.clone()),
            Peer::SecurityGroup(g) => security_group = Some(g.clone()),
        }
        RuleView {
            id: (!id.is_empty()).then(|| id.to_string()),
            direction: spec.direction,
            protocol: spec.protocol.to_string(),
            ports,
            cidr,
            cidr_ipv6,
            prefix_list,
            security_group,
            description: spec.description.clone(),
            ticket: None,
            expires: None,
            tags,
        }
    }

    /// The view of a desired rule: its id, the rule, its ticket and expiry, and `tags`.
    pub fn desired(rule: &DesiredRule, tags: BTreeMap<String, String>) -> RuleView {
        RuleView {
            ticket: Some(rule.ticket.clone()),
            expires: rule.expires.map(|d| d.to_string()),
            ..RuleView::new(&rule.id, &rule.spec, tags)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_numbers_canonicalise_like_aws() {
        assert_eq!(Protocol::parse("6"), Some(Protocol::Tcp));
        assert_eq!(Protocol::parse("TCP"), Some(Protocol::Tcp));
        assert_eq!(Protocol::parse("58"), Some(Protocol::Icmpv6));
        assert_eq!(Protocol::parse("-1"), Some(Protocol::All));
        assert_eq!(Protocol::parse("47"), Some(Protocol::Number(47)));
        assert_eq!(Protocol::parse("256"), None);
        assert_eq!(Protocol::parse("tcpp"), None);
        assert_eq!(Protocol::All.aws(), "-1");
    }

    #[test]
    fn ports_round_trip_through_aws_pairs() {
        for (proto, ports) in [
            (Protocol::Tcp, Ports::Range { from: 443, to: 443 }),
            (Protocol::Udp, Ports::Range { from: 0, to: 65535 }),
            (
                Protocol::Icmp,
                Ports::Icmp {
                    icmp_type: 8,
                    code: -1,
                },
            ),
            (Protocol::All, Ports::NotApplicable),
        ] {
            let (f, t) = ports.aws_pair();
            assert_eq!(Ports::from_aws(proto, Some(f), Some(t)), ports);
        }
    }

    #[test]
    fn world_peers() {
        assert!(Peer::Cidr("0.0.0.0/0".parse().unwrap()).is_world());
        assert!(Peer::CidrIpv6("::/0".parse().unwrap()).is_world());
        assert!(!Peer::Cidr("10.0.0.0/8".parse().unwrap()).is_world());
    }
}
