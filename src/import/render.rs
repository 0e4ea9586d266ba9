//! The rule file of one security group from its live rules: the one renderer of `import`
//! and `import --all`. Pure: live rules in, YAML text and warnings out.
//!
//! Planning right after an import shows only `adopt` (untagged rules) or nothing (rules
//! already tagged): ids, descriptions and tags are carried over exactly. The exceptions are
//! said on standard error: a tagged rule whose tags sgops would fix shows `retag`, and a rule
//! that a rule file cannot hold (it breaks a guardrail, or its description is outside what
//! AWS allows) is written commented out with the reason, so the file still validates.
//!
//! The same group always imports to the same file: rules are taken in a fixed order
//! (direction, protocol, ports, peer, rule id), not in the order AWS lists them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::config::{Config, RULE_TAG, TAGS_TAG};
use crate::live::LiveRule;
use crate::rules::world_open;
use crate::rules::{
    Direction, Peer, Ports, Protocol, RuleSpec, check_description, check_rule_tag, is_valid_rule_id,
};

/// Longest rule id (`[a-z0-9][a-z0-9._-]{0,62}`).
const MAX_ID: usize = 63;

/// What to import and how.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions<'a> {
    pub config: &'a Config,
    pub group_id: &'a str,
    pub ticket: &'a str,
    /// Only rules carrying every one of these tags, or `sgops:rule` (`import --all`: the
    /// exceptions the central API made); `None`: every rule of the group.
    pub tagged: Option<&'a BTreeMap<String, String>>,
    /// Leave out rules already tagged `sgops:rule`.
    pub only_untagged: bool,
    /// Leave out the allow-all egress rule every new group gets.
    pub skip_default_egress: bool,
    /// First comment line (where the rules came from).
    pub header: &'a str,
}

/// A rule file made from live rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub text: String,
    /// Rules written as rules.
    pub written: usize,
    /// Rules written commented out (with the reason): they stay in AWS as they are.
    pub commented: usize,
    /// For standard error: whatever makes the plan show more than `adopt`, or leaves a rule out.
    pub warnings: Vec<String>,
}

impl ImportOptions<'_> {
    /// Whether `r` is one of the rules to import (written, or commented out with the reason).
    pub fn chooses(&self, r: &LiveRule) -> bool {
        let managed = r.tags.contains_key(RULE_TAG);
        let tagged = self
            .tagged
            .is_none_or(|pairs| managed || pairs.iter().all(|(k, v)| r.tags.get(k) == Some(v)));
        tagged
            && !(self.only_untagged && managed)
            && !(self.skip_default_egress && is_default_egress(r))
    }
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

/// What a rule opens, as an id part: `443`, `8000-8100`, `type8`; nothing for every port.
fn ports_part(ports: Ports) -> Option<String> {
    match ports {
        Ports::Range { from: 0, to: 65535 } | Ports::NotApplicable => None,
        Ports::Range { from, to } if from == to => Some(from.to_string()),
        Ports::Range { from, to } => Some(format!("{from}-{to}")),
        Ports::Icmp { icmp_type, .. } if icmp_type >= 0 => Some(format!("type{icmp_type}")),
        Ports::Icmp { .. } => None,
    }
}

/// A readable id from what the rule says, and whether it came from the description (then a
/// ports suffix tells apart rules that share it).
fn base_id(r: &LiveRule) -> (String, bool) {
    let from_desc = r.spec.description.as_deref().map(slug).unwrap_or_default();
    if !from_desc.is_empty() {
        return (from_desc, true);
    }
    let s = &r.spec;
    let mut id = format!("{}-{}", s.direction, s.protocol);
    if let Some(p) = ports_part(s.ports) {
        let _ = write!(id, "-{p}");
    }
    (slug(&id), false)
}

/// The first of `base`, `base-<alt>`, `base-2`, `base-3`… not in `used` (and now in it),
/// `base` shortened where a suffix would make the id too long.
fn unique(base: &str, alt: Option<&str>, used: &mut BTreeSet<String>) -> String {
    let with = |suffix: &str| {
        let room = MAX_ID.saturating_sub(suffix.len() + 1);
        format!("{}-{suffix}", base.chars().take(room).collect::<String>())
    };
    let mut id = base.to_string();
    if used.contains(&id)
        && let Some(alt) = alt
    {
        id = with(alt);
    }
    let mut n = 2;
    while used.contains(&id) {
        id = with(&n.to_string());
        n += 1;
    }
    used.insert(id.clone());
    id
}

/// YAML double-quoted scalar (JSON string syntax is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The tags a rule file carries for `r`: all but sgops's own (`sgops:rule`, `sgops:tags`),
/// `aws:` ones and `rule_tags`, which sgops sets itself.
fn own_tags<'r>(r: &'r LiveRule, config: &Config) -> BTreeMap<&'r String, &'r String> {
    r.tags
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("sgops:")
                && !k.starts_with("aws:")
                && !config.rule_tags.contains_key(k.as_str())
        })
        .collect()
}

/// Why `r` cannot be written as a rule that validates beside the rules already `kept`, if it
/// cannot. The checks are the ones `validate` runs (the world-open guardrail over the union
/// of the group's ingress too); `expires` is never written, so its guardrail cannot be broken.
fn not_importable(
    r: &LiveRule,
    id: &str,
    config: &Config,
    kept: &[(String, RuleSpec)],
) -> Option<String> {
    if let Some(m) = world_open::breach(&r.spec, &config.guardrails) {
        return Some(m);
    }
    let mut with: Vec<(&str, &RuleSpec)> = kept.iter().map(|(id, s)| (id.as_str(), s)).collect();
    with.push((id, &r.spec));
    if let Some(b) = world_open::union_breaches(&with, &config.guardrails)
        .into_iter()
        .find(|b| b.rules.contains(&kept.len()))
    {
        return Some(b.message);
    }
    if let Some(Err(m)) = r.spec.description.as_deref().map(check_description) {
        return Some(format!("its description cannot be in a rule file: {m}"));
    }
    own_tags(r, config)
        .into_iter()
        .find_map(|(k, v)| check_rule_tag(k, v).err())
        .map(|m| format!("a tag cannot be in a rule file: {m}"))
}

/// The rule's lines in a rule file (the first one opens the list item).
fn rule_lines(r: &LiveRule, id: &str, opts: &ImportOptions<'_>) -> Vec<String> {
    let s = &r.spec;
    let mut lines = vec![
        format!("- id: {id}"),
        format!("  direction: {}", s.direction),
        format!("  protocol: {}", s.protocol),
    ];
    match s.ports {
        Ports::NotApplicable
        | Ports::Range { from: 0, to: 65535 }
        | Ports::Icmp {
            icmp_type: -1,
            code: -1,
        } => {}
        Ports::Range { from, to } if from == to => lines.push(format!("  ports: {from}")),
        Ports::Range { from, to } => lines.push(format!("  ports: \"{from}-{to}\"")),
        Ports::Icmp { icmp_type, code } => {
            lines.push(format!("  ports: {{ type: {icmp_type}, code: {code} }}"))
        }
    }
    lines.push(match &s.peer {
        Peer::Cidr(n) => format!("  cidr: {n}"),
        Peer::CidrIpv6(n) => format!("  cidr_ipv6: {n}"),
        Peer::PrefixList(p) => format!("  prefix_list: {p}"),
        Peer::SecurityGroup(g) => format!("  security_group: {g}"),
    });
    if let Some(d) = &s.description {
        lines.push(format!("  description: {}", q(d)));
    }
    lines.push(format!("  ticket: {}", q(opts.ticket)));
    // Tags other than the ones sgops sets itself, so the plan keeps them.
    let own = own_tags(r, opts.config);
    if !own.is_empty() {
        let body: Vec<String> = own
            .iter()
            .map(|(k, v)| format!("{}: {}", q(k), q(v)))
            .collect();
        lines.push(format!("  tags: {{ {} }}", body.join(", ")));
    }
    lines
}

/// The rule file for `rules` (all of one group, in any order).
pub fn rule_file(rules: &[LiveRule], opts: &ImportOptions<'_>) -> Imported {
    let mut all: Vec<&LiveRule> = rules.iter().collect();
    all.sort_by(|a, b| {
        let (x, y) = (&a.spec, &b.spec);
        (x.direction, x.protocol, x.ports, &x.peer, &a.rule_id).cmp(&(
            y.direction,
            y.protocol,
            y.ports,
            &y.peer,
            &b.rule_id,
        ))
    });
    // Every id the group's tagged rules carry is taken, imported or not: a rule file that
    // reused one would clash with the file that declares it. Of two rules with one id, the
    // first in order keeps it.
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut holder: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &all {
        if let Some(t) = r.tags.get(RULE_TAG).filter(|t| is_valid_rule_id(t)) {
            used.insert(t.clone());
            holder.entry(t).or_insert(&r.rule_id);
        }
    }
    let chosen = all.iter().filter(|r| opts.chooses(r));

    let mut out = Imported {
        text: String::new(),
        written: 0,
        commented: 0,
        warnings: Vec::new(),
    };
    let mut body = String::new();
    let mut kept: Vec<(String, RuleSpec)> = Vec::new();
    for r in chosen {
        let tag = r.tags.get(RULE_TAG);
        let fresh = |used: &mut BTreeSet<String>| {
            let (base, from_desc) = base_id(r);
            let alt = from_desc.then(|| ports_part(r.spec.ports)).flatten();
            unique(&base, alt.as_deref(), used)
        };
        // The id, and why the plan will retag the rule when it will.
        let (id, retag) = match tag {
            Some(t) if is_valid_rule_id(t) => match holder.get(t.as_str()) {
                Some(first) if *first != r.rule_id => {
                    let id = unique(t, None, &mut used);
                    let why = format!(
                        "{first} and {} both carry {RULE_TAG}={t}: {first} keeps `{t}`, {} is imported as `{id}`",
                        r.rule_id, r.rule_id
                    );
                    (id, Some(why))
                }
                _ => (t.clone(), None),
            },
            Some(t) => {
                let id = fresh(&mut used);
                let why = format!(
                    "{} carries {RULE_TAG}={}, which is not a rule id: it is imported as `{id}`",
                    r.rule_id,
                    q(t)
                );
                (id, Some(why))
            }
            None => (fresh(&mut used), None),
        };
        if let Some(reason) = not_importable(r, &id, opts.config, &kept) {
            let fate = if tag.is_some() {
                format!(
                    "it is tagged {RULE_TAG}, so the plan deletes it; remove that tag to keep it as a baseline rule sgops does not manage"
                )
            } else {
                "it stays in AWS as a baseline rule sgops does not manage".to_string()
            };
            out.warnings.push(format!(
                "{} written commented out: {reason}; {fate}",
                r.rule_id
            ));
            let _ = writeln!(
                body,
                "  # not imported: {}",
                crate::escape::terminal(&reason)
            );
            for line in rule_lines(r, &id, opts) {
                let _ = writeln!(body, "  # {}", crate::escape::terminal(&line));
            }
            out.commented += 1;
            continue;
        }
        if let Some(why) = retag {
            out.warnings
                .push(format!("{why}, so the plan will show a retag for it"));
        } else if tag.is_some() {
            let missing: Vec<String> = opts
                .config
                .rule_tags
                .iter()
                .filter(|(k, v)| r.tags.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !missing.is_empty() {
                out.warnings.push(format!(
                    "{} (`{id}`) lacks rule_tags {} of sgops.yaml, so the plan will show a retag for it",
                    r.rule_id,
                    missing.join(", ")
                ));
            } else if !r.tags.contains_key(TAGS_TAG) {
                out.warnings.push(format!(
                    "{} (`{id}`) has no {TAGS_TAG} record of the tags sgops set (it was tagged by an earlier version), so the plan will show a one-time retag that writes it",
                    r.rule_id
                ));
            }
        }
        for line in rule_lines(r, &id, opts) {
            let _ = writeln!(body, "  {line}");
        }
        kept.push((id, r.spec.clone()));
        out.written += 1;
    }

    let _ = writeln!(out.text, "# {}", opts.header);
    let _ = writeln!(
        out.text,
        "# Review each rule and its ticket, then open a pull request: its plan adopts these rules."
    );
    let _ = writeln!(out.text, "security_group: {}", opts.group_id);
    // An empty list, not a missing one, when every rule is commented out or there is none.
    out.text.push_str(if out.written == 0 {
        "rules: []\n"
    } else {
        "rules:\n"
    });
    out.text.push_str(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Severity;
    use crate::rules::{LoadOptions, RuleSpec, cross_file, parse_file};

    /// An ingress tcp rule from 203.0.113.0/24; the helpers below change the rest. A rule
    /// tagged `sgops:rule` carries the record of the other tags, as sgops sets them.
    fn live(desc: Option<&str>, ports: Ports, tags: &[(&str, &str)]) -> LiveRule {
        let mut tags: BTreeMap<String, String> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if tags.contains_key(RULE_TAG) {
            let record: Vec<&str> = tags
                .keys()
                .filter(|k| *k != RULE_TAG)
                .map(String::as_str)
                .collect();
            let record = record.join(",");
            tags.insert(TAGS_TAG.to_string(), record);
        }
        LiveRule {
            rule_id: format!("sgr-{:017x}", u64::from(ports.aws_pair().0 as u16)),
            group_id: "sg-12345678".into(),
            spec: RuleSpec {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports,
                peer: Peer::Cidr("203.0.113.0/24".parse().unwrap()),
                description: desc.map(String::from),
            },
            tags,
        }
    }

    fn port(p: u16) -> Ports {
        Ports::Range { from: p, to: p }
    }

    fn with_id(mut r: LiveRule, id: &str) -> LiveRule {
        r.rule_id = id.into();
        r
    }

    fn from(mut r: LiveRule, cidr: &str) -> LiveRule {
        r.spec.peer = if cidr.contains(':') {
            Peer::CidrIpv6(cidr.parse().unwrap())
        } else {
            Peer::Cidr(cidr.parse().unwrap())
        };
        r
    }

    fn opts(cfg: &Config) -> ImportOptions<'_> {
        ImportOptions {
            config: cfg,
            group_id: "sg-12345678",
            ticket: "imported",
            tagged: None,
            only_untagged: false,
            skip_default_egress: false,
            header: "test",
        }
    }

    fn ids(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.strip_prefix("  - id: "))
            .collect()
    }

    /// The text loads as a rule file with no error and no guardrail violation.
    fn assert_validates(text: &str, cfg: &Config) {
        let mut diags = Vec::new();
        let today = "2026-11-27".parse().unwrap();
        let lo = LoadOptions { config: cfg, today };
        let file = parse_file(
            "rules/a/us-east-1/x.yaml",
            text,
            "a",
            "us-east-1",
            &lo,
            &mut diags,
        );
        if let Some(f) = file {
            cross_file(&[f], &cfg.guardrails, &mut diags);
        }
        let bad: Vec<_> = diags
            .iter()
            .filter(|d| d.severity != Severity::Warning)
            .map(|d| &d.message)
            .collect();
        assert!(bad.is_empty(), "{bad:?}\n{text}");
    }

    #[test]
    fn ids_come_from_descriptions_and_stay_unique() {
        let cfg = Config::default();
        let rules = vec![
            live(Some("Partner API (CHG-1)"), port(8443), &[]),
            live(Some("Partner API (CHG-1)"), port(443), &[]),
            // Same description and port, another peer: the ports suffix is taken, so -2.
            from(
                with_id(live(Some("Partner API (CHG-1)"), port(443), &[]), "sgr-0"),
                "198.51.100.0/24",
            ),
            live(None, Ports::Range { from: 80, to: 90 }, &[]),
            live(Some("x"), port(1), &[("sgops:rule", "kept-id")]),
        ];
        let got = rule_file(&rules, &opts(&cfg));
        assert_eq!((got.written, got.commented), (5, 0));
        assert!(got.warnings.is_empty(), "{:?}", got.warnings);
        // In order: tcp 1, 80-90, 443 from 198.51.100.0/24, 443 from 203.0.113.0/24, 8443.
        assert_eq!(
            ids(&got.text),
            [
                "kept-id",
                "ingress-tcp-80-90",
                "partner-api-chg-1",
                "partner-api-chg-1-443",
                "partner-api-chg-1-8443",
            ],
            "{}",
            got.text
        );
        assert_validates(&got.text, &cfg);
    }

    #[test]
    fn the_same_group_imports_the_same_file_whatever_the_order() {
        let cfg = Config::default();
        let mut egress = live(Some("Web"), port(443), &[]);
        egress.spec.direction = Direction::Egress;
        let mut udp = live(Some("Web"), port(443), &[]);
        udp.spec.protocol = Protocol::Udp;
        let rules = vec![
            with_id(egress, "sgr-00000000000000001"),
            with_id(udp, "sgr-00000000000000002"),
            with_id(
                from(live(Some("Web"), port(443), &[]), "::/0"),
                "sgr-00000000000000003",
            ),
            with_id(live(Some("Web"), port(443), &[]), "sgr-00000000000000004"),
        ];
        let first = rule_file(&rules, &opts(&cfg));
        // Ingress before egress, tcp before udp, IPv4 before IPv6; not by sgr- id.
        assert_eq!(
            ids(&first.text),
            ["web", "web-443", "web-2", "web-3"],
            "{}",
            first.text
        );
        assert!(first.text.find("cidr: 203.0.113.0/24") < first.text.find("cidr_ipv6: ::/0"));
        assert!(first.text.find("protocol: udp") < first.text.find("direction: egress"));
        let mut shuffled = rules.clone();
        for i in 0..shuffled.len() {
            shuffled.rotate_left(1);
            if i % 2 == 1 {
                shuffled.reverse();
            }
            assert_eq!(rule_file(&shuffled, &opts(&cfg)), first);
        }
    }

    #[test]
    fn only_untagged_still_reserves_every_tagged_id() {
        let mut cfg = Config::default();
        cfg.rule_tags
            .insert("vpcx:skip_enforcement".into(), "yes".into());
        let rules = vec![
            live(Some("Web"), port(80), &[("sgops:rule", "web")]),
            live(
                Some("web"),
                port(443),
                &[
                    ("team", "web"),
                    ("vpcx:skip_enforcement", "yes"),
                    ("aws:x", "y"),
                ],
            ),
        ];
        let mut o = opts(&cfg);
        o.only_untagged = true;
        let got = rule_file(&rules, &o);
        assert_eq!(got.written, 1);
        // `web` belongs to the tagged rule, declared in some other file.
        assert_eq!(ids(&got.text), ["web-443"], "{}", got.text);
        assert!(
            got.text.contains("tags: { \"team\": \"web\" }"),
            "{}",
            got.text
        );
        assert!(
            !got.text.contains("vpcx") && !got.text.contains("aws:x"),
            "{}",
            got.text
        );
    }

    #[test]
    fn rules_that_together_are_world_open_are_commented_out_from_the_one_completing_it() {
        let cfg = Config::default();
        // Two public /8s over SSH are more than the one allowed; a private /8 counts for none.
        let rules = vec![
            from(live(Some("a"), port(22), &[]), "3.0.0.0/8"),
            from(live(Some("b"), port(22), &[]), "4.0.0.0/8"),
            from(live(Some("c"), port(22), &[]), "10.0.0.0/8"),
        ];
        let got = rule_file(&rules, &opts(&cfg));
        assert_eq!((got.written, got.commented), (2, 1), "{}", got.text);
        assert_validates(&got.text, &cfg);
        assert!(
            got.text.contains(
                "  # not imported: ingress rules `a` (3.0.0.0/8), `b` (4.0.0.0/8) together open tcp 22"
            ),
            "{}",
            got.text
        );
    }

    #[test]
    fn what_validate_would_refuse_is_commented_out_with_the_reason() {
        let cfg = Config::default();
        let mut all = from(live(None, Ports::NotApplicable, &[]), "::/0");
        all.spec.protocol = Protocol::All;
        let rules = vec![
            from(live(Some("SSH"), port(22), &[]), "0.0.0.0/0"),
            all,
            live(Some("caf\u{e9}\nx"), port(8080), &[]),
            live(Some(&"a".repeat(256)), port(8081), &[]),
            live(
                Some("ok"),
                port(8082),
                &[("sgops:rule", "ok"), ("bad", &"v".repeat(300))],
            ),
            live(Some("Web"), port(443), &[]),
        ];
        let got = rule_file(&rules, &opts(&cfg));
        assert_eq!((got.written, got.commented), (1, 5), "{}", got.text);
        assert_validates(&got.text, &cfg);
        assert!(
            got.text.contains(
                "  # not imported: ingress from 0.0.0.0/0 opens tcp 22, which includes denied port 22 (guardrails.world_open_denied_ports)\n  # - id: ssh\n  #   direction: ingress\n"
            ),
            "{}",
            got.text
        );
        assert!(
            got.text.contains(
                "# not imported: ingress from ::/0 opens every port, which includes denied ports 22, 3389"
            ),
            "{}",
            got.text
        );
        // The newline in the description stays inside the comment.
        assert!(
            got.text.contains("  #   description: \"caf\u{e9}\\nx\"\n"),
            "{}",
            got.text
        );
        assert!(got.text.contains("AWS allows at most 255"), "{}", got.text);
        assert_eq!(got.warnings.len(), 5, "{:?}", got.warnings);
        assert!(
            got.warnings[0]
                .starts_with("sgr-00000000000000016 written commented out: ingress from 0.0.0.0/0")
                && got.warnings[0]
                    .ends_with("it stays in AWS as a baseline rule sgops does not manage"),
            "{:?}",
            got.warnings
        );
        // A tagged rule left out is revoked by the next plan: said so.
        assert!(
            got.warnings[3].starts_with(
                "sgr-00000000000001f92 written commented out: a tag cannot be in a rule file: tag `bad`"
            ) && got.warnings[3].contains("it is tagged sgops:rule, so the plan deletes it"),
            "{:?}",
            got.warnings
        );
        // Nothing written: still a valid (empty) list, with the comments after it.
        let got = rule_file(&rules[..1], &opts(&cfg));
        assert!(
            got.text.contains("rules: []\n  # not imported:"),
            "{}",
            got.text
        );
        assert_validates(&got.text, &cfg);
    }

    #[test]
    fn a_duplicated_rule_tag_keeps_its_first_holder() {
        let cfg = Config::default();
        let rules = vec![
            with_id(live(None, port(8443), &[("sgops:rule", "dup")]), "sgr-a"),
            with_id(live(None, port(443), &[("sgops:rule", "dup")]), "sgr-b"),
            with_id(live(None, port(444), &[("sgops:rule", "dup-2")]), "sgr-c"),
        ];
        let got = rule_file(&rules, &opts(&cfg));
        assert_eq!(ids(&got.text), ["dup", "dup-2", "dup-3"], "{}", got.text);
        assert_eq!(
            got.warnings,
            [
                "sgr-b and sgr-a both carry sgops:rule=dup: sgr-b keeps `dup`, sgr-a is imported as `dup-3`, so the plan will show a retag for it"
            ]
        );
        assert_validates(&got.text, &cfg);
    }

    #[test]
    fn retags_are_announced() {
        let mut cfg = Config::default();
        cfg.rule_tags
            .insert("vpcx:skip_enforcement".into(), "yes".into());
        let rules = vec![
            with_id(
                live(Some("Web"), port(443), &[("sgops:rule", "Not An Id")]),
                "sgr-a",
            ),
            with_id(
                live(
                    None,
                    port(80),
                    &[("sgops:rule", "http"), ("vpcx:skip_enforcement", "no")],
                ),
                "sgr-b",
            ),
            with_id(
                live(
                    None,
                    port(81),
                    &[("sgops:rule", "fine"), ("vpcx:skip_enforcement", "yes")],
                ),
                "sgr-c",
            ),
        ];
        let got = rule_file(&rules, &opts(&cfg));
        assert_eq!(ids(&got.text), ["http", "fine", "web"], "{}", got.text);
        assert_eq!(
            got.warnings,
            [
                "sgr-b (`http`) lacks rule_tags vpcx:skip_enforcement=yes of sgops.yaml, so the plan will show a retag for it",
                "sgr-a carries sgops:rule=\"Not An Id\", which is not a rule id: it is imported as `web`, so the plan will show a retag for it",
            ]
        );
        assert_validates(&got.text, &cfg);
    }

    #[test]
    fn with_tags_only_the_tagged_rules_and_those_sgops_manages_are_imported() {
        let mut cfg = Config::default();
        cfg.rule_tags
            .insert("vpcx:skip_enforcement".into(), "yes".into());
        let tags = cfg.rule_tags.clone();
        let rules = vec![
            // Baseline: untagged, or tagged otherwise.
            live(Some("Baseline"), port(80), &[]),
            live(Some("Other"), port(81), &[("vpcx:skip_enforcement", "no")]),
            // Made by the central API.
            live(
                Some("Partner"),
                port(443),
                &[("vpcx:skip_enforcement", "yes")],
            ),
            // Already sgops's, so its id stays taken and it is written.
            live(Some("Web"), port(8443), &[("sgops:rule", "partner")]),
        ];
        let mut o = opts(&cfg);
        o.tagged = Some(&tags);
        let got = rule_file(&rules, &o);
        assert_eq!((got.written, got.commented), (2, 0), "{}", got.text);
        // `partner` is taken by the managed rule: the new one gets the ports suffix.
        assert_eq!(ids(&got.text), ["partner-443", "partner"], "{}", got.text);
        assert!(!got.text.contains("Baseline") && !got.text.contains("Other"));
        assert_validates(&got.text, &cfg);
        // Every pair must be carried.
        let mut two = tags.clone();
        two.insert("team".into(), "web".into());
        o.tagged = Some(&two);
        assert_eq!(ids(&rule_file(&rules, &o).text), ["partner"]);
    }

    #[test]
    fn suffixes_keep_ids_within_63_characters() {
        let long = "a".repeat(63);
        let mut used: BTreeSet<String> = [long.clone()].into();
        let id = unique(&long, Some("65535"), &mut used);
        assert_eq!(id.len(), 63);
        assert!(id.ends_with("-65535") && is_valid_rule_id(&id), "{id}");
        let id = unique(&long, None, &mut used);
        assert!(id.len() == 63 && id.ends_with("a-2"), "{id}");
    }

    #[test]
    fn the_whole_file() {
        let mut cfg = Config::default();
        cfg.rule_tags
            .insert("vpcx:skip_enforcement".into(), "yes".into());
        let mut icmp = live(
            None,
            Ports::Icmp {
                icmp_type: 8,
                code: -1,
            },
            &[],
        );
        icmp.spec.protocol = Protocol::Icmp;
        let mut gre = live(Some("GRE"), Ports::NotApplicable, &[]);
        gre.spec.protocol = Protocol::Number(47);
        let mut egress = from(live(None, Ports::NotApplicable, &[]), "0.0.0.0/0");
        egress.spec.protocol = Protocol::All;
        egress.spec.direction = Direction::Egress;
        let rules = vec![
            egress,
            gre,
            icmp,
            live(
                Some("Partner API"),
                Ports::Range {
                    from: 8000,
                    to: 8100,
                },
                &[("team", "web")],
            ),
            live(
                Some("ssh"),
                port(22),
                &[("sgops:rule", "ssh"), ("vpcx:skip_enforcement", "yes")],
            ),
        ];
        let mut o = opts(&cfg);
        o.ticket = "CHG-9";
        o.skip_default_egress = true;
        let got = rule_file(&rules, &o);
        assert_eq!(
            got.text,
            r#"# test
# Review each rule and its ticket, then open a pull request: its plan adopts these rules.
security_group: sg-12345678
rules:
  - id: ssh
    direction: ingress
    protocol: tcp
    ports: 22
    cidr: 203.0.113.0/24
    description: "ssh"
    ticket: "CHG-9"
  - id: partner-api
    direction: ingress
    protocol: tcp
    ports: "8000-8100"
    cidr: 203.0.113.0/24
    description: "Partner API"
    ticket: "CHG-9"
    tags: { "team": "web" }
  - id: ingress-icmp-type8
    direction: ingress
    protocol: icmp
    ports: { type: 8, code: -1 }
    cidr: 203.0.113.0/24
    ticket: "CHG-9"
  - id: gre
    direction: ingress
    protocol: 47
    cidr: 203.0.113.0/24
    description: "GRE"
    ticket: "CHG-9"
"#
        );
        assert_eq!((got.written, got.commented), (4, 0));
        assert!(got.warnings.is_empty());
        assert_validates(&got.text, &cfg);
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("  Hello, World!! "), "hello-world");
        assert_eq!(slug("___"), "");
        assert_eq!(slug(&"a".repeat(80)).len(), 40);
    }
}
