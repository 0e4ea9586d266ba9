//! The world-open guardrail: ingress that opens a denied port (SSH, RDP) to the internet.
//!
//! "The internet" is measured, not matched: a peer counts by the public addresses it covers
//! (private and local ranges do not count), and a group's ingress peers count together per
//! protocol and denied port, so `0.0.0.0/1` plus `128.0.0.0/1`, or sixty-four scattered /8s,
//! are as world-open as `0.0.0.0/0`. Broader than `guardrails.world_open_prefix` (one /8 of
//! IPv4, one /16 of IPv6 by default) is world-open. Pure functions.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{Direction, Peer, Ports, Protocol, RuleSpec};
use crate::config::Guardrails;

/// Address ranges nobody on the internet connects from: RFC 1918, shared address space
/// (RFC 6598), loopback and link-local; for IPv6 unique-local, link-local and loopback.
const PRIVATE_V4: [(Ipv4Addr, u8); 6] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];
const PRIVATE_V6: [(Ipv6Addr, u8); 3] = [
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::LOCALHOST, 128),
];

/// Addresses in a network of `len` bits out of `bits`; ::/0 (2^128) saturates.
fn size(len: u8, bits: u8) -> u128 {
    let free = u32::from(bits - len.min(bits));
    1u128.checked_shl(free).unwrap_or(u128::MAX)
}

/// Public addresses covered by the union of `nets` (all of one family).
fn public(nets: &[IpNet]) -> u128 {
    let mut total = 0u128;
    for net in IpNet::aggregate(&nets.to_vec()) {
        let (len, bits) = (net.prefix_len(), net.max_prefix_len());
        let private: Vec<IpNet> = match net {
            IpNet::V4(_) => PRIVATE_V4
                .iter()
                .filter_map(|&(a, l)| Ipv4Net::new(a, l).ok().map(IpNet::V4))
                .collect(),
            IpNet::V6(_) => PRIVATE_V6
                .iter()
                .filter_map(|&(a, l)| Ipv6Net::new(a, l).ok().map(IpNet::V6))
                .collect(),
        };
        // Aggregated networks are disjoint, and so are the private ranges: each private
        // range lies inside the network, contains it, or misses it.
        let mut n = size(len, bits);
        for p in private {
            if net.contains(&p) {
                n = n.saturating_sub(size(p.prefix_len(), bits));
            } else if p.contains(&net) {
                n = 0;
            }
        }
        total = total.saturating_add(n);
    }
    total
}

fn cidr(peer: &Peer) -> Option<IpNet> {
    match peer {
        Peer::Cidr(n) => Some(IpNet::V4(*n)),
        Peer::CidrIpv6(n) => Some(IpNet::V6(*n)),
        _ => None,
    }
}

/// The most public addresses a peer (or a union of peers) may cover over a denied port.
fn limit(net: &IpNet, g: &Guardrails) -> (u128, &'static str, u8) {
    match net {
        IpNet::V4(_) => {
            let p = g.world_open_prefix.ipv4;
            (size(p, 32), "ipv4", p)
        }
        IpNet::V6(_) => {
            let p = g.world_open_prefix.ipv6;
            (size(p, 128), "ipv6", p)
        }
    }
}

/// The denied ports a rule opens, per protocol (`all` opens them over tcp and udp).
fn opened(spec: &RuleSpec, denied: &[u16]) -> Vec<(Protocol, u16)> {
    if spec.direction != Direction::Ingress {
        return Vec::new();
    }
    let protocols: &[Protocol] = match spec.protocol {
        Protocol::All => &[Protocol::Tcp, Protocol::Udp],
        Protocol::Tcp => &[Protocol::Tcp],
        Protocol::Udp => &[Protocol::Udp],
        _ => &[],
    };
    let mut out = Vec::new();
    for &proto in protocols {
        for &p in denied {
            if spec.protocol == Protocol::All || spec.ports.covers(p) {
                out.push((proto, p));
            }
        }
    }
    out
}

fn port_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one rule breaks of the guardrail on its own, without advice (`import` comments such
/// rules out with this reason); `None` when the rule keeps it.
pub fn breach(spec: &RuleSpec, g: &Guardrails) -> Option<String> {
    let net = cidr(&spec.peer)?;
    let (max, family, prefix) = limit(&net, g);
    if public(&[net]) <= max {
        return None;
    }
    let mut hit: Vec<u16> = opened(spec, &g.world_open_denied_ports)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    hit.sort_unstable();
    hit.dedup();
    if hit.is_empty() {
        return None;
    }
    let what = match spec.ports {
        Ports::Range { .. } => format!("{} {}", spec.protocol, spec.ports),
        _ => "every port".to_string(),
    };
    let source = if spec.peer.is_world() {
        format!("ingress from {}", net)
    } else {
        format!(
            "ingress from {net} (broader than a /{prefix}, guardrails.world_open_prefix.{family})"
        )
    };
    Some(format!(
        "{source} opens {what}, which includes denied port{} {} (guardrails.world_open_denied_ports)",
        if hit.len() == 1 { "" } else { "s" },
        port_list(&hit)
    ))
}

/// A breach by several rules of one group together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnionBreach {
    /// Indices into the rules given to [`union_breaches`], in order.
    pub rules: Vec<usize>,
    pub message: String,
}

/// Breaches by the union of one group's ingress rules, per protocol, denied port and address
/// family. Rules that break the guardrail on their own ([`breach`]) are left out: they are
/// reported alone. `rules` are (label, rule) pairs; labels name rules in messages.
pub fn union_breaches(rules: &[(&str, &RuleSpec)], g: &Guardrails) -> Vec<UnionBreach> {
    let alone: Vec<bool> = rules.iter().map(|(_, s)| breach(s, g).is_some()).collect();
    // (family is v6, the rules involved) → the (protocol, port) pairs they open together.
    type Involved = (bool, Vec<usize>);
    let mut found: BTreeMap<Involved, Vec<(Protocol, u16)>> = BTreeMap::new();
    for proto in [Protocol::Tcp, Protocol::Udp] {
        for &port in &g.world_open_denied_ports {
            for v6 in [false, true] {
                let (idx, nets): (Vec<usize>, Vec<IpNet>) = rules
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !alone[*i])
                    .filter_map(|(i, (_, s))| {
                        let net = cidr(&s.peer).filter(|n| matches!(n, IpNet::V6(_)) == v6)?;
                        opened(s, &[port])
                            .contains(&(proto, port))
                            .then_some((i, net))
                    })
                    .unzip();
                let Some(first) = nets.first() else {
                    continue;
                };
                if idx.len() > 1 && public(&nets) > limit(first, g).0 {
                    found.entry((v6, idx)).or_default().push((proto, port));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|((v6, idx), opens)| {
            let (family, prefix) = if v6 {
                ("ipv6", g.world_open_prefix.ipv6)
            } else {
                ("ipv4", g.world_open_prefix.ipv4)
            };
            let names: Vec<String> = idx
                .iter()
                .map(|&i| format!("`{}` ({})", rules[i].0, rules[i].1.peer.value()))
                .collect();
            let mut by_proto: BTreeMap<Protocol, Vec<u16>> = BTreeMap::new();
            for (proto, port) in opens {
                by_proto.entry(proto).or_default().push(port);
            }
            let opens: Vec<String> = by_proto
                .iter()
                .map(|(proto, ports)| format!("{proto} {}", port_list(ports)))
                .collect();
            UnionBreach {
                rules: idx,
                message: format!(
                    "ingress rules {} together open {} to more public addresses than a /{prefix} (guardrails.world_open_prefix.{family}): together they are world-open over a denied port (guardrails.world_open_denied_ports)",
                    names.join(", "),
                    opens.join(" and ")
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn rule(protocol: Protocol, ports: Ports, cidr: &str) -> RuleSpec {
        RuleSpec {
            direction: Direction::Ingress,
            protocol,
            ports,
            peer: if cidr.contains(':') {
                Peer::CidrIpv6(cidr.parse().expect("test CIDR"))
            } else {
                Peer::Cidr(cidr.parse().expect("test CIDR"))
            },
            description: None,
        }
    }

    fn tcp(port: u16, cidr: &str) -> RuleSpec {
        rule(
            Protocol::Tcp,
            Ports::Range {
                from: port,
                to: port,
            },
            cidr,
        )
    }

    fn g() -> Guardrails {
        Config::default().guardrails
    }

    #[test]
    fn a_peer_broader_than_the_prefix_is_world_open() {
        assert!(breach(&tcp(22, "0.0.0.0/0"), &g()).is_some());
        assert!(breach(&tcp(22, "0.0.0.0/1"), &g()).is_some());
        assert!(breach(&tcp(22, "8.0.0.0/7"), &g()).is_some());
        assert!(breach(&tcp(22, "2000::/3"), &g()).is_some());
        // One /8 (or /16 of IPv6) is the most allowed; private ranges never count.
        assert!(breach(&tcp(22, "3.0.0.0/8"), &g()).is_none());
        assert!(breach(&tcp(22, "10.0.0.0/8"), &g()).is_none());
        assert!(breach(&tcp(22, "10.0.0.0/7"), &g()).is_none());
        assert!(breach(&tcp(22, "fc00::/7"), &g()).is_none());
        assert!(breach(&tcp(22, "2001:db8::/16"), &g()).is_none());
        // Ports that are not denied, and egress, are not the guardrail's business.
        assert!(breach(&tcp(443, "0.0.0.0/0"), &g()).is_none());
        let mut egress = tcp(22, "0.0.0.0/0");
        egress.direction = Direction::Egress;
        assert!(breach(&egress, &g()).is_none());
        assert!(
            breach(
                &rule(Protocol::Icmp, Ports::NotApplicable, "0.0.0.0/0"),
                &g()
            )
            .is_none()
        );
    }

    #[test]
    fn the_prefix_is_configurable() {
        let mut strict = g();
        strict.world_open_prefix.ipv4 = 16;
        assert!(breach(&tcp(22, "3.0.0.0/8"), &strict).is_some());
        assert!(breach(&tcp(22, "3.3.0.0/16"), &strict).is_none());
        let mut loose = g();
        loose.world_open_prefix.ipv4 = 0;
        assert!(breach(&tcp(22, "0.0.0.0/1"), &loose).is_none());
        assert!(breach(&tcp(22, "0.0.0.0/0"), &loose).is_none());
    }

    #[test]
    fn messages_name_the_prefix_setting_only_when_it_decided() {
        assert_eq!(
            breach(&tcp(22, "0.0.0.0/0"), &g()).as_deref(),
            Some(
                "ingress from 0.0.0.0/0 opens tcp 22, which includes denied port 22 (guardrails.world_open_denied_ports)"
            )
        );
        assert_eq!(
            breach(
                &rule(Protocol::All, Ports::NotApplicable, "0.0.0.0/1"),
                &g()
            )
            .as_deref(),
            Some(
                "ingress from 0.0.0.0/1 (broader than a /8, guardrails.world_open_prefix.ipv4) opens every port, which includes denied ports 22, 3389 (guardrails.world_open_denied_ports)"
            )
        );
    }

    fn union(rules: &[(&str, RuleSpec)]) -> Vec<UnionBreach> {
        let refs: Vec<(&str, &RuleSpec)> = rules.iter().map(|(l, s)| (*l, s)).collect();
        union_breaches(&refs, &g())
    }

    #[test]
    fn halves_and_quarters_add_up() {
        let halves = union(&[("a", tcp(22, "0.0.0.0/1")), ("b", tcp(22, "128.0.0.0/1"))]);
        // Each half breaks the guardrail alone already: reported alone, not as a union.
        assert!(halves.is_empty(), "{halves:?}");
        let quarters: Vec<(String, RuleSpec)> = (0..256u32)
            .step_by(2)
            .map(|a| (format!("r{a}"), tcp(22, &format!("{a}.0.0.0/8"))))
            .collect();
        let refs: Vec<(&str, RuleSpec)> = quarters
            .iter()
            .map(|(l, s)| (l.as_str(), s.clone()))
            .collect();
        let b = union(&refs);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].rules.len(), 128);
        assert!(
            b[0].message.contains("together open tcp 22"),
            "{}",
            b[0].message
        );
    }

    #[test]
    fn two_slash_eights_of_public_space_are_a_breach_together_but_private_ones_are_not() {
        let b = union(&[("a", tcp(22, "3.0.0.0/8")), ("b", tcp(22, "4.0.0.0/8"))]);
        assert_eq!(
            b,
            [UnionBreach {
                rules: vec![0, 1],
                message: "ingress rules `a` (3.0.0.0/8), `b` (4.0.0.0/8) together open tcp 22 to more public addresses than a /8 (guardrails.world_open_prefix.ipv4): together they are world-open over a denied port (guardrails.world_open_denied_ports)".into(),
            }]
        );
        let private = union(&[
            ("a", tcp(22, "10.0.0.0/8")),
            ("b", tcp(22, "172.16.0.0/12")),
            ("c", tcp(22, "192.168.0.0/16")),
            ("d", tcp(22, "100.64.0.0/10")),
        ]);
        assert!(private.is_empty(), "{private:?}");
    }

    #[test]
    fn the_union_is_per_protocol_port_and_family() {
        // Half the internet over tcp and the other half over udp is neither world-open.
        let mixed = union(&[
            ("a", tcp(22, "3.0.0.0/8")),
            (
                "b",
                rule(
                    Protocol::Udp,
                    Ports::Range { from: 22, to: 22 },
                    "4.0.0.0/8",
                ),
            ),
        ]);
        assert!(mixed.is_empty(), "{mixed:?}");
        // Different denied ports do not add up; a range covering both ports does.
        let ports = union(&[("a", tcp(22, "3.0.0.0/8")), ("b", tcp(3389, "4.0.0.0/8"))]);
        assert!(ports.is_empty(), "{ports:?}");
        let range = union(&[
            (
                "a",
                rule(
                    Protocol::Tcp,
                    Ports::Range { from: 1, to: 4000 },
                    "3.0.0.0/8",
                ),
            ),
            ("b", rule(Protocol::All, Ports::NotApplicable, "4.0.0.0/8")),
        ]);
        assert_eq!(range.len(), 1, "{range:?}");
        assert!(
            range[0].message.contains("together open tcp 22, 3389"),
            "{}",
            range[0].message
        );
        let families = union(&[("a", tcp(22, "3.0.0.0/8")), ("b", tcp(22, "2001:db8::/16"))]);
        assert!(families.is_empty(), "{families:?}");
        let v6 = union(&[("a", tcp(22, "2001::/16")), ("b", tcp(22, "2002::/16"))]);
        assert_eq!(v6.len(), 1, "{v6:?}");
    }

    #[test]
    fn public_counts_subtract_private_ranges() {
        let n = |s: &str| -> IpNet { s.parse().expect("test CIDR") };
        assert_eq!(public(&[n("10.0.0.0/8")]), 0);
        assert_eq!(public(&[n("10.0.0.0/7")]), 1 << 24);
        assert_eq!(
            public(&[n("0.0.0.0/1"), n("128.0.0.0/1")]),
            public(&[n("0.0.0.0/0")])
        );
        assert_eq!(
            public(&[n("0.0.0.0/0")]),
            (1u128 << 32) - (1 << 24) - (1 << 22) - (1 << 24) - (1 << 16) - (1 << 20) - (1 << 16)
        );
        assert!(public(&[n("::/0")]) > 1 << 120);
    }
}
