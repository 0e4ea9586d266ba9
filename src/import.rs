//! `import`: turns the live rules of one security group into a rule file, for teams adopting
//! sgops on groups that already carry exceptions. Pure: live rules in, YAML text out.
//!
//! Planning right after an import shows only `adopt` (untagged rules) or nothing (rules
//! already tagged): ids, descriptions and tags are carried over exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::config::{Config, RULE_TAG};
use crate::live::LiveRule;
use crate::rules::{Direction, Peer, Ports, Protocol, is_valid_rule_id};

/// What to import and how.
pub struct ImportOptions<'a> {
    pub config: &'a Config,
    pub group_id: &'a str,
    pub ticket: &'a str,
    /// Leave out rules already tagged `sgops:rule`.
    pub only_untagged: bool,
    /// Leave out the allow-all egress rule every new group gets.
    pub skip_default_egress: bool,
    /// First comment line (where the rules came from).
    pub header: &'a str,
}

/// The allow-all egress rule AWS puts in every new group.
fn is_default_egress(r: &LiveRule) -> bool {
    r.spec.direction == Direction::Egress
        && r.spec.protocol == Protocol::All
        && r.spec.peer.is_world()
}

/// `Partner API (CHG-1)` → `partner-api-chg-1`: lowercase words joined by dashes, ≤ 40 chars.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(40).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// A readable id from what the rule says: its description, else direction, protocol, ports.
fn base_id(r: &LiveRule) -> String {
    let from_desc = r.spec.description.as_deref().map(slug).unwrap_or_default();
    if !from_desc.is_empty() {
        return from_desc;
    }
    let s = &r.spec;
    let mut id = format!("{}-{}", s.direction, s.protocol);
    match s.ports {
        Ports::Range { from: 0, to: 65535 } | Ports::NotApplicable => {}
        Ports::Range { from, to } if from == to => {
            let _ = write!(id, "-{from}");
        }
        Ports::Range { from, to } => {
            let _ = write!(id, "-{from}-{to}");
        }
        Ports::Icmp { icmp_type, .. } if icmp_type >= 0 => {
            let _ = write!(id, "-type{icmp_type}");
        }
        Ports::Icmp { .. } => {}
    }
    slug(&id)
}

/// YAML double-quoted scalar (JSON string syntax is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The rule file for `rules` (all of one group), and the number of rules written.
pub fn rule_file(rules: &[LiveRule], opts: &ImportOptions<'_>) -> (String, usize) {
    let chosen: Vec<&LiveRule> = rules
        .iter()
        .filter(|r| !(opts.only_untagged && r.tags.contains_key(RULE_TAG)))
        .filter(|r| !(opts.skip_default_egress && is_default_egress(r)))
        .collect();
    // Ids already in AWS are kept and reserved first.
    let mut used: BTreeSet<String> = chosen
        .iter()
        .filter_map(|r| r.tags.get(RULE_TAG))
        .filter(|id| is_valid_rule_id(id))
        .cloned()
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "# {}", opts.header);
    let _ = writeln!(
        out,
        "# Review each rule and its ticket, then open a pull request: its plan adopts these rules."
    );
    let _ = writeln!(out, "security_group: {}", opts.group_id);
    if chosen.is_empty() {
        out.push_str("rules: []\n");
        return (out, 0);
    }
    out.push_str("rules:\n");
    for r in &chosen {
        let id = match r.tags.get(RULE_TAG).filter(|id| is_valid_rule_id(id)) {
            Some(id) => id.clone(),
            None => {
                let base = base_id(r);
                let mut id = base.clone();
                let mut n = 2;
                while used.contains(&id) {
                    id = format!("{base}-{n}");
                    n += 1;
                }
                used.insert(id.clone());
                id
            }
        };
        let s = &r.spec;
        let _ = writeln!(out, "  - id: {id}");
        let _ = writeln!(out, "    direction: {}", s.direction);
        let _ = writeln!(out, "    protocol: {}", s.protocol);
        match s.ports {
            Ports::NotApplicable
            | Ports::Range { from: 0, to: 65535 }
            | Ports::Icmp {
                icmp_type: -1,
                code: -1,
            } => {}
            Ports::Range { from, to } if from == to => {
                let _ = writeln!(out, "    ports: {from}");
            }
            Ports::Range { from, to } => {
                let _ = writeln!(out, "    ports: \"{from}-{to}\"");
            }
            Ports::Icmp { icmp_type, code } => {
                let _ = writeln!(out, "    ports: {{ type: {icmp_type}, code: {code} }}");
            }
        }
        let _ = match &s.peer {
            Peer::Cidr(n) => writeln!(out, "    cidr: {n}"),
            Peer::CidrIpv6(n) => writeln!(out, "    cidr_ipv6: {n}"),
            Peer::PrefixList(p) => writeln!(out, "    prefix_list: {p}"),
            Peer::SecurityGroup(g) => writeln!(out, "    security_group: {g}"),
        };
        if let Some(d) = &s.description {
            let _ = writeln!(out, "    description: {}", q(d));
        }
        let _ = writeln!(out, "    ticket: {}", q(opts.ticket));
        // Tags other than the ones sgops sets itself, so the plan keeps them.
        let own: BTreeMap<&String, &String> = r
            .tags
            .iter()
            .filter(|(k, _)| {
                k.as_str() != RULE_TAG
                    && !k.starts_with("aws:")
                    && !opts.config.rule_tags.contains_key(k.as_str())
            })
            .collect();
        if !own.is_empty() {
            let body: Vec<String> = own
                .iter()
                .map(|(k, v)| format!("{}: {}", q(k), q(v)))
                .collect();
            let _ = writeln!(out, "    tags: {{ {} }}", body.join(", "));
        }
    }
    (out, chosen.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSpec;

    fn live(desc: Option<&str>, ports: Ports, tags: &[(&str, &str)]) -> LiveRule {
        LiveRule {
            rule_id: "sgr-1".into(),
            group_id: "sg-12345678".into(),
            spec: RuleSpec {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports,
                peer: Peer::Cidr("203.0.113.0/24".parse().unwrap()),
                description: desc.map(String::from),
            },
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn opts(cfg: &Config) -> ImportOptions<'_> {
        ImportOptions {
            config: cfg,
            group_id: "sg-12345678",
            ticket: "imported",
            only_untagged: false,
            skip_default_egress: false,
            header: "test",
        }
    }

    #[test]
    fn ids_come_from_descriptions_and_stay_unique() {
        let cfg = Config::default();
        let rules = vec![
            live(
                Some("Partner API (CHG-1)"),
                Ports::Range { from: 443, to: 443 },
                &[],
            ),
            live(
                Some("Partner API (CHG-1)"),
                Ports::Range {
                    from: 8443,
                    to: 8443,
                },
                &[],
            ),
            live(None, Ports::Range { from: 80, to: 90 }, &[]),
            live(
                Some("x"),
                Ports::Range { from: 1, to: 1 },
                &[("sgops:rule", "kept-id")],
            ),
        ];
        let (text, n) = rule_file(&rules, &opts(&cfg));
        assert_eq!(n, 4);
        for id in [
            "partner-api-chg-1",
            "partner-api-chg-1-2",
            "ingress-tcp-80-90",
            "kept-id",
        ] {
            assert!(text.contains(&format!("  - id: {id}\n")), "{id} in\n{text}");
        }
    }

    #[test]
    fn only_untagged_and_foreign_tags() {
        let mut cfg = Config::default();
        cfg.rule_tags
            .insert("vpcx:skip_enforcement".into(), "yes".into());
        let rules = vec![
            live(
                Some("a"),
                Ports::Range { from: 1, to: 1 },
                &[("sgops:rule", "a")],
            ),
            live(
                Some("b"),
                Ports::Range { from: 2, to: 2 },
                &[
                    ("team", "web"),
                    ("vpcx:skip_enforcement", "yes"),
                    ("aws:x", "y"),
                ],
            ),
        ];
        let mut o = opts(&cfg);
        o.only_untagged = true;
        let (text, n) = rule_file(&rules, &o);
        assert_eq!(n, 1);
        assert!(text.contains("tags: { \"team\": \"web\" }"), "{text}");
        assert!(!text.contains("vpcx") && !text.contains("aws:x"), "{text}");
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("  Hello, World!! "), "hello-world");
        assert_eq!(slug("___"), "");
        assert_eq!(slug(&"a".repeat(80)).len(), 40);
    }
}
