//! Checks on single values (ids, regions, descriptions, tags) and across files (duplicates,
//! world-open ingress). Pure functions; each returns or pushes a message that says what to do.

use std::collections::{BTreeMap, HashMap};

use super::{DesiredRule, GroupRef, Meaning, RuleFile, RuleSpec};
use crate::config::Guardrails;
use crate::diag::{Diagnostic, Pos};

/// `[a-z0-9][a-z0-9._-]{0,62}`.
pub fn is_valid_rule_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// AWS region names: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-northwest-1`.
pub fn is_valid_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let n = parts.len();
    if !(3..=4).contains(&n) {
        return false;
    }
    let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    parts[0].len() == 2
        && letters(parts[0])
        && parts[1..n - 1].iter().all(|p| letters(p))
        && !parts[n - 1].is_empty()
        && parts[n - 1].len() <= 2
        && parts[n - 1].bytes().all(|b| b.is_ascii_digit())
}

/// `sg-`/`vpc-` followed by 8 or 17 lowercase hex digits.
pub fn is_resource_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|h| {
        (h.len() == 8 || h.len() == 17)
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `pl-` followed by hex digits (AWS-managed lists have 8, customer lists 17).
pub fn is_prefix_list_id(s: &str) -> bool {
    s.strip_prefix("pl-").is_some_and(|h| {
        (8..=17).contains(&h.len())
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Characters AWS accepts in a security-group rule description, besides letters and digits.
const DESCRIPTION_EXTRA: &str = " ._-:/()#,@[]+=&;{}!$*";

/// At most 255 characters of `a-zA-Z0-9` and ` ._-:/()#,@[]+=&;{}!$*`.
pub fn check_description(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n > 255 {
        return Err(format!(
            "description is {n} characters; AWS allows at most 255: shorten it"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || DESCRIPTION_EXTRA.contains(*c)))
    {
        return Err(format!(
            "description contains {c:?}, which AWS refuses: use letters, digits, spaces and {}",
            DESCRIPTION_EXTRA.trim()
        ));
    }
    Ok(())
}

/// A tag that sgops sets (rule files, `rule_tags`): AWS's limits ([`check_aws_tag`]), a key
/// without `,` (sgops lists the keys it set, comma-separated, in [`crate::config::TAGS_TAG`])
/// and not under `sgops:`, which sgops reserves.
pub fn check_rule_tag(key: &str, value: &str) -> Result<(), String> {
    check_aws_tag(key, value)?;
    let shown = crate::escape::terminal(key);
    if key.to_ascii_lowercase().starts_with("sgops:") {
        return Err(format!(
            "tag key `{shown}`: the prefix `sgops:` is reserved: sgops sets `{}` and `{}` itself",
            crate::config::RULE_TAG,
            crate::config::TAGS_TAG
        ));
    }
    if key.contains(',') {
        return Err(format!(
            "tag key `{shown}` contains `,`: sgops lists the keys it sets, comma-separated, in the tag `{}`; rename the key",
            crate::config::TAGS_TAG
        ));
    }
    Ok(())
}

/// AWS tag limits: key 1–128 characters not starting with `aws:`, value at most 256, no
/// control characters.
pub fn check_aws_tag(key: &str, value: &str) -> Result<(), String> {
    let shown = crate::escape::terminal(key);
    if key.is_empty() || key.chars().count() > 128 {
        return Err(format!("tag key `{shown}` must be 1 to 128 characters"));
    }
    if let Some(c) = crate::escape::forbidden_char(key) {
        return Err(format!(
            "tag key `{shown}` contains the control character {c:?}, which no output may carry: remove it"
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(format!(
            "tag key `{shown}`: the prefix `aws:` is reserved by AWS"
        ));
    }
    if value.chars().count() > 256 {
        return Err(format!(
            "tag `{shown}`: the value must be at most 256 characters"
        ));
    }
    if let Some(c) = crate::escape::forbidden_char(value) {
        return Err(format!(
            "tag `{shown}`: the value contains the control character {c:?}, which no output may carry: remove it"
        ));
    }
    Ok(())
}

/// A security group's name, as AWS allows it in a VPC: 1–255 characters of `a-zA-Z0-9`,
/// space and `._-:/()#,@[]+=&;{}!$*` (so never a control character).
pub fn check_group_name(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n == 0 || n > 255 {
        return Err("security group name must be 1 to 255 characters".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || DESCRIPTION_EXTRA.contains(*c)))
    {
        return Err(format!(
            "security group name contains {c:?}, which AWS does not allow in a VPC group name: use letters, digits, spaces and {}",
            DESCRIPTION_EXTRA.trim()
        ));
    }
    Ok(())
}

/// Guardrail: ingress that opens a denied port to more of the internet than
/// `guardrails.world_open_prefix` allows (see [`super::world_open`]).
pub fn world_open(spec: &RuleSpec, at: &Pos, g: &Guardrails, diags: &mut Vec<Diagnostic>) {
    if let Some(m) = super::world_open::breach(spec, g) {
        diags.push(Diagnostic::guardrail(
            at.clone(),
            format!("{m}: narrow the source or the ports"),
        ));
    }
}

/// A ticket: 1 to 128 printable characters, not blank.
pub fn check_ticket(s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.chars().count() > 128 || s.chars().any(char::is_control) {
        return Err("ticket must be 1 to 128 printable characters".into());
    }
    Ok(())
}

/// Duplicate rule ids and duplicate meanings among all files that name the same group, and
/// the world-open guardrail over the union of each group's ingress rules.
pub fn cross_file(files: &[RuleFile], guardrails: &Guardrails, diags: &mut Vec<Diagnostic>) {
    type GroupKey<'a> = (&'a str, &'a str, &'a GroupRef);
    let mut ids: HashMap<(GroupKey, &str), &Pos> = HashMap::new();
    let mut meanings: HashMap<(GroupKey, Meaning), (&Pos, &str)> = HashMap::new();
    let mut groups: BTreeMap<GroupKey, Vec<&DesiredRule>> = BTreeMap::new();
    for f in files {
        let g: GroupKey = (&f.account, &f.region, &f.group);
        groups.entry(g).or_default().extend(&f.rules);
        for r in &f.rules {
            let first_id_pos = ids.get(&(g, r.id.as_str())).copied();
            if let Some(first) = first_id_pos {
                diags.push(
                    Diagnostic::error(
                        r.pos.clone(),
                        format!(
                            "rule id `{}` is used twice for security group {}: ids must be unique within a group",
                            r.id, f.group
                        ),
                    )
                    .with_related((*first).clone(), "first used here"),
                );
            } else {
                ids.insert((g, r.id.as_str()), &r.pos);
            }
            let m = r.spec.meaning();
            // A copy of the same rule under the same id (a pasted block, a YAML alias) is one
            // mistake: the duplicate id says it; "`web` is the same AWS rule as `web`" adds nothing.
            if let Some((first, first_id)) = meanings.get(&(g, m.clone()))
                && !(*first_id == r.id && first_id_pos == Some(*first))
            {
                diags.push(
                    Diagnostic::error(
                        r.pos.clone(),
                        format!(
                            "rule `{}` is the same AWS rule as `{first_id}` ({} {} {} {}): AWS keeps only one; remove one of them",
                            r.id, m.direction, m.protocol, m.ports, m.peer
                        ),
                    )
                    .with_related((*first).clone(), format!("`{first_id}` is here")),
                );
            } else {
                meanings.insert((g, m), (&r.pos, &r.id));
            }
        }
    }
    for rules in groups.values() {
        let labelled: Vec<(&str, &RuleSpec)> =
            rules.iter().map(|r| (r.id.as_str(), &r.spec)).collect();
        for b in super::world_open::union_breaches(&labelled, guardrails) {
            let first = rules[b.rules[0]];
            let mut d = Diagnostic::guardrail(
                first.pos.clone(),
                format!("{}: narrow the sources or the ports", b.message),
            );
            for &i in &b.rules[1..] {
                d = d.with_related(rules[i].pos.clone(), format!("`{}` is here", rules[i].id));
            }
            diags.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Direction, Peer, Ports, Protocol};

    #[test]
    fn rule_ids() {
        assert!(is_valid_rule_id("partner-callbacks-https"));
        assert!(is_valid_rule_id("0.a_b-c"));
        assert!(!is_valid_rule_id("-leading"));
        assert!(!is_valid_rule_id("Upper"));
        assert!(!is_valid_rule_id(""));
        assert!(!is_valid_rule_id(&"a".repeat(64)));
        assert!(is_valid_rule_id(&"a".repeat(63)));
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-northwest-1",
            "ap-southeast-3",
        ] {
            assert!(is_valid_region(ok), "{ok}");
        }
        for bad in [
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-1a",
            "u-east-1",
            "us--1",
            "x",
        ] {
            assert!(!is_valid_region(bad), "{bad}");
        }
    }

    #[test]
    fn ids_of_resources() {
        assert!(is_resource_id("sg-0a1b2c3d4e5f67890", "sg-"));
        assert!(is_resource_id("sg-12345678", "sg-"));
        assert!(!is_resource_id("sg-0A1B2C3D4E5F67890", "sg-"));
        assert!(!is_resource_id("sg-123", "sg-"));
        assert!(is_prefix_list_id("pl-63a5400a"));
        assert!(!is_prefix_list_id("pl-xyz"));
    }

    #[test]
    fn descriptions() {
        assert!(check_description("Partner callbacks (CHG-1) #2 [x]").is_ok());
        assert!(
            check_description(&"a".repeat(256))
                .unwrap_err()
                .contains("255")
        );
        assert!(check_description("café").unwrap_err().contains("'é'"));
        assert!(check_description("a<b>").is_err());
    }

    #[test]
    fn tags() {
        assert!(check_aws_tag("team", "payments").is_ok());
        assert!(check_aws_tag("AWS:x", "y").is_err());
        assert!(check_aws_tag("", "y").is_err());
        assert!(check_aws_tag("k", &"v".repeat(257)).is_err());
        assert!(check_rule_tag("a,b", "v").unwrap_err().contains("`,`"));
        assert!(
            check_rule_tag("sgops:tags", "v")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(check_aws_tag("a,b", "v").is_ok() && check_aws_tag("sgops:rule", "v").is_ok());
        assert!(check_rule_tag("k\u{7}", "v").is_err());
        let e = check_aws_tag("k\n::error::x", "v").unwrap_err();
        assert!(
            e.contains("control character '\\n'") && !e.contains('\n'),
            "{e}"
        );
        let e = check_aws_tag("k", "\u{1b}[2J").unwrap_err();
        assert!(e.contains("control character '\\u{1b}'"), "{e}");
    }

    #[test]
    fn group_names() {
        assert!(check_group_name("payments-app (prod) #2").is_ok());
        assert!(check_group_name("").is_err());
        let e =
            check_group_name("x\n::error file=sgops.yaml,line=1::plan reviewed OK").unwrap_err();
        assert!(e.contains("'\\n'"), "{e}");
    }

    fn spec(protocol: Protocol, ports: Ports, cidr: &str) -> RuleSpec {
        RuleSpec {
            direction: Direction::Ingress,
            protocol,
            ports,
            peer: if cidr.contains(':') {
                Peer::CidrIpv6(cidr.parse().unwrap())
            } else {
                Peer::Cidr(cidr.parse().unwrap())
            },
            description: None,
        }
    }

    fn guard(s: &RuleSpec) -> usize {
        let mut d = Vec::new();
        world_open(
            s,
            &Pos::file("x"),
            &crate::config::Config::default().guardrails,
            &mut d,
        );
        d.len()
    }

    fn file(rules: &[(&str, RuleSpec)]) -> RuleFile {
        RuleFile {
            path: "f.yaml".into(),
            account: "a".into(),
            region: "us-east-1".into(),
            group: GroupRef::Id("sg-12345678".into()),
            group_pos: Pos::file("f.yaml"),
            rules: rules
                .iter()
                .enumerate()
                .map(|(i, (id, spec))| crate::rules::DesiredRule {
                    id: id.to_string(),
                    spec: spec.clone(),
                    ticket: "T".into(),
                    expires: None,
                    tags: Default::default(),
                    pos: Pos::new("f.yaml", i as u64 + 1, 1, 1),
                })
                .collect(),
        }
    }

    fn cross(rules: &[(&str, RuleSpec)]) -> Vec<String> {
        let mut d = Vec::new();
        cross_file(
            &[file(rules)],
            &crate::config::Config::default().guardrails,
            &mut d,
        );
        d.into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn duplicates_by_id_and_by_meaning() {
        let https = spec(
            Protocol::Tcp,
            Ports::Range { from: 443, to: 443 },
            "10.0.0.0/8",
        );
        let http = spec(
            Protocol::Tcp,
            Ports::Range { from: 80, to: 80 },
            "10.0.0.0/8",
        );
        assert!(cross(&[("a", https.clone()), ("b", http.clone())]).is_empty());
        let e = cross(&[("a", https.clone()), ("a", http)]);
        assert!(
            e.len() == 1 && e[0].starts_with("rule id `a` is used twice"),
            "{e:?}"
        );
        let e = cross(&[("a", https.clone()), ("b", https.clone())]);
        assert!(
            e.len() == 1 && e[0].starts_with("rule `b` is the same AWS rule as `a`"),
            "{e:?}"
        );
        // The same rule twice under the same id is one mistake, reported once.
        let e = cross(&[("a", https.clone()), ("a", https)]);
        assert!(
            e.len() == 1 && e[0].starts_with("rule id `a` is used twice"),
            "{e:?}"
        );
    }

    #[test]
    fn world_open_names_the_denied_ports() {
        let mut d = Vec::new();
        world_open(
            &spec(Protocol::All, Ports::NotApplicable, "::/0"),
            &Pos::file("x"),
            &crate::config::Config::default().guardrails,
            &mut d,
        );
        world_open(
            &spec(
                Protocol::Tcp,
                Ports::Range { from: 20, to: 30 },
                "0.0.0.0/0",
            ),
            &Pos::file("x"),
            &crate::config::Config::default().guardrails,
            &mut d,
        );
        assert_eq!(
            d.iter().map(|d| d.message.as_str()).collect::<Vec<_>>(),
            [
                "ingress from ::/0 opens every port, which includes denied ports 22, 3389 (guardrails.world_open_denied_ports): narrow the source or the ports",
                "ingress from 0.0.0.0/0 opens tcp 20-30, which includes denied port 22 (guardrails.world_open_denied_ports): narrow the source or the ports",
            ]
        );
    }

    #[test]
    fn world_open_counts_ranges_and_all() {
        let r = |from, to| Ports::Range { from, to };
        assert_eq!(guard(&spec(Protocol::Tcp, r(22, 22), "0.0.0.0/0")), 1);
        assert_eq!(guard(&spec(Protocol::Tcp, r(20, 30), "::/0")), 1);
        assert_eq!(guard(&spec(Protocol::Udp, r(3000, 4000), "0.0.0.0/0")), 1);
        assert_eq!(
            guard(&spec(Protocol::All, Ports::NotApplicable, "0.0.0.0/0")),
            1
        );
        assert_eq!(guard(&spec(Protocol::Tcp, r(443, 443), "0.0.0.0/0")), 0);
        assert_eq!(guard(&spec(Protocol::Tcp, r(22, 22), "10.0.0.0/8")), 0);
        let mut egress = spec(Protocol::Tcp, r(22, 22), "0.0.0.0/0");
        egress.direction = Direction::Egress;
        assert_eq!(guard(&egress), 0);
    }
}
