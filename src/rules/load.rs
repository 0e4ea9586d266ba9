//! Walks `rules/<account>/<region>/*.yaml`, parses each file and turns it into checked
//! [`RuleFile`]s, collecting every problem of every file on the way.
//!
//! I/O: reads the rules directory and its files; nothing else.

use std::collections::BTreeMap;
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use jiff::civil::Date;
use serde_saphyr::Spanned;

use super::check::{self, check_description, check_rule_tag, is_valid_region, is_valid_rule_id};
use super::raw::{self, Node, RawFile, RawGroupRef, RawPorts, RawRule, Reader, Scalar, Value};
use super::{Desired, DesiredRule, Direction, GroupRef, Peer, Ports, Protocol, RuleFile, RuleSpec};
use crate::config::{Config, RULE_TAG};
use crate::diag::{Diagnostic, Pos, Severity, Sources};
use crate::yaml;

/// What loading needs besides the files: the configuration and today's date (for expiry).
pub struct LoadOptions<'a> {
    pub config: &'a Config,
    pub today: Date,
}

/// Loads every rule file under `dir`. Rules with errors, and files whose group or rule list
/// is unusable, are left out of the returned [`Desired`]; their problems are in the
/// diagnostics, with warnings and guardrails. The returned state is fit to plan only when no
/// diagnostic is an error.
pub fn load_tree(
    dir: &Path,
    opts: &LoadOptions<'_>,
    sources: &mut Sources,
) -> (Desired, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut files = Vec::new();
    let root = dir.display().to_string();
    let shown = |rel: &str| {
        if root.is_empty() || root == "." {
            rel.to_string()
        } else {
            format!("{}/{rel}", root.trim_end_matches('/'))
        }
    };
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        diags.push(Diagnostic::error(
            Pos::file(&root),
            format!("{root} is a symbolic link: the rules directory must be a real folder in the repository"),
        ));
        return (Desired::default(), diags);
    }
    let accounts = match sorted_entries(dir) {
        Ok(a) => a,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            diags.push(Diagnostic::error(
                Pos::file(&root),
                format!("rules directory not found: {root} (create it or pass --rules DIR)"),
            ));
            return (Desired::default(), diags);
        }
        Err(e) => {
            diags.push(unreadable(&root, &e));
            return (Desired::default(), diags);
        }
    };
    for (account, account_path, kind) in accounts {
        let rel = account.clone();
        if kind != Kind::Dir {
            diags.push(misplaced(&shown(&rel), kind));
            continue;
        }
        if !opts.config.accounts.contains_key(&account) {
            diags.push(Diagnostic::error(
                Pos::file(shown(&rel)),
                format!(
                    "unknown account folder `{account}`: add `{account}` to `accounts` in sgops.yaml or rename the folder"
                ),
            ));
            continue;
        }
        let regions = match sorted_entries(&account_path) {
            Ok(r) => r,
            Err(e) => {
                diags.push(unreadable(&shown(&rel), &e));
                continue;
            }
        };
        for (region, region_path, kind) in regions {
            let rel = format!("{account}/{region}");
            if kind != Kind::Dir {
                diags.push(misplaced(&shown(&rel), kind));
                continue;
            }
            if !is_valid_region(&region) {
                diags.push(Diagnostic::error(
                    Pos::file(shown(&rel)),
                    format!(
                        "`{region}` is not an AWS region name (like us-east-1): rename the folder"
                    ),
                ));
                continue;
            }
            let entries = match sorted_entries(&region_path) {
                Ok(e) => e,
                Err(e) => {
                    diags.push(unreadable(&shown(&rel), &e));
                    continue;
                }
            };
            for (name, file_path, kind) in entries {
                let display = shown(&format!("{rel}/{name}"));
                if kind != Kind::File {
                    diags.push(misplaced(&display, kind));
                    continue;
                }
                if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                    diags.push(Diagnostic::error(
                        Pos::file(&display),
                        "not a rule file: files under rules/<account>/<region>/ must end in .yaml or .yml",
                    ));
                    continue;
                }
                let text = match yaml::read_source(&file_path, &display, yaml::Links::Refuse) {
                    Ok(t) => t,
                    Err(d) => {
                        diags.push(d);
                        continue;
                    }
                };
                sources.insert(display.clone(), text.clone());
                // A file with problems still brings the rules that loaded, so a duplicate of
                // one of them elsewhere is reported in this run, not the next.
                files.extend(parse_file(
                    &display, &text, &account, &region, opts, &mut diags,
                ));
            }
        }
    }
    check::cross_file(&files, &opts.config.guardrails, &mut diags);
    (Desired { files }, diags)
}

/// What a directory entry is, without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    /// A symbolic link, whatever it points at: links are never followed, so one cannot lead
    /// the walk out of the repository, into a loop, or to `/dev/zero`.
    Link,
    /// A FIFO, socket or device (named for the message).
    Other(&'static str),
}

/// The diagnostic for an entry that is not where it belongs or not what it should be.
fn misplaced(display: &str, kind: Kind) -> Diagnostic {
    let message = match kind {
        Kind::Link => "is a symbolic link: rule files must be regular files in the repository; put the file or folder itself here".to_string(),
        Kind::Other(what) => format!(
            "is {what}: rule files must be regular files in the repository; remove it"
        ),
        Kind::Dir | Kind::File => {
            "not where rule files go: put rule files in rules/<account>/<region>/<name>.yaml".into()
        }
    };
    Diagnostic::error(Pos::file(display), message)
}

fn unreadable(display: &str, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error(Pos::file(display), format!("cannot read folder: {e}"))
}

/// Directory entries sorted by name, hidden ones (`.gitkeep`) skipped, each with its own
/// type (links are not followed).
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<(String, std::path::PathBuf, Kind)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        let t = match e.file_type() {
            Ok(t) => t,
            Err(_) => std::fs::symlink_metadata(&path)?.file_type(),
        };
        let kind = if t.is_symlink() {
            Kind::Link
        } else if t.is_dir() {
            Kind::Dir
        } else if t.is_file() {
            Kind::File
        } else {
            Kind::Other(yaml::kind_of(t))
        };
        out.push((name, path, kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Parses one rule file's text. `None` when its structure is unusable; field problems
/// are pushed to `diags` and the rest of the file is still checked: every rule on its own,
/// whatever is wrong with the group or with the other rules.
pub fn parse_file(
    path: &str,
    text: &str,
    account: &str,
    region: &str,
    opts: &LoadOptions<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<RuleFile> {
    let raw: RawFile = match yaml::parse_rule_file(path, text) {
        Ok(r) => r,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let reader = Reader { path, text };
    let misspelt = raw::unknown_file_keys(&reader, &raw, diags);
    let missing = |key: &str, message: &str, diags: &mut Vec<Diagnostic>| {
        if !misspelt.contains(&key) {
            diags.push(Diagnostic::error(Pos::file(path), message));
        }
    };
    let group = match raw.security_group {
        Some(g) if g.value != Value::Null => reader.group(g, diags).and_then(|g| {
            let group_pos = yaml::pos(path, &g);
            convert_group(path, g, diags).map(|g| (g, group_pos))
        }),
        _ => {
            missing(
                "security_group",
                "missing `security_group`: the id (sg-…) or { name, vpc } of the group these rules belong to",
                diags,
            );
            None
        }
    };
    let rules = match raw.rules {
        Some(Spanned {
            value: Value::Seq(items),
            ..
        }) => Some(
            items
                .into_iter()
                .filter_map(|r| convert_rule(&reader, r, opts, diags))
                .collect(),
        ),
        Some(n) if n.value != Value::Null => {
            diags.push(reader.error(
                &n,
                format!(
                    "`rules` must be a list (`- id: …` lines or `[ … ]`), not {}",
                    n.value.kind()
                ),
            ));
            None
        }
        _ => {
            missing(
                "rules",
                "missing `rules`: a list of rules (an empty list `[]` removes every managed rule)",
                diags,
            );
            None
        }
    };
    let ((group, group_pos), rules) = (group?, rules?);
    Some(RuleFile {
        path: path.to_string(),
        account: account.to_string(),
        region: region.to_string(),
        group,
        group_pos,
        rules,
    })
}

fn convert_group(
    path: &str,
    g: Spanned<RawGroupRef>,
    diags: &mut Vec<Diagnostic>,
) -> Option<GroupRef> {
    let at = yaml::pos(path, &g);
    match g.value {
        RawGroupRef::Id(id) => {
            if check::is_resource_id(&id, "sg-") {
                Some(GroupRef::Id(id))
            } else {
                diags.push(Diagnostic::error(
                    at,
                    format!(
                        "`{id}` is not a security group id (sg- and 8 or 17 hex digits); to name a group write {{ name: …, vpc: vpc-… }}"
                    ),
                ));
                None
            }
        }
        RawGroupRef::Name { name, vpc } => {
            let mut ok = true;
            let name = match name {
                Some(n) => match check::check_group_name(&n.value) {
                    Ok(()) => Some(n.value),
                    Err(m) => {
                        diags.push(Diagnostic::error(yaml::pos(path, &n), m));
                        None
                    }
                },
                None => {
                    diags.push(Diagnostic::error(
                        at.clone(),
                        "security_group needs `name` beside `vpc`",
                    ));
                    None
                }
            };
            let vpc = match vpc {
                Some(v) if check::is_resource_id(&v.value, "vpc-") => Some(v.value),
                Some(v) => {
                    diags.push(Diagnostic::error(
                        yaml::pos(path, &v),
                        format!(
                            "`{}` is not a VPC id (vpc- and 8 or 17 hex digits)",
                            v.value
                        ),
                    ));
                    None
                }
                None => {
                    diags.push(Diagnostic::error(
                        at,
                        "security_group needs `vpc` beside `name`: names are unique only within a VPC",
                    ));
                    None
                }
            };
            ok &= name.is_some() && vpc.is_some();
            match (ok, name, vpc) {
                (true, Some(name), Some(vpc)) => Some(GroupRef::Name { name, vpc }),
                _ => None,
            }
        }
    }
}

/// Checks one rule; returns it when every field is usable. Guardrails and warnings do not
/// stop the rule from loading.
fn convert_rule(
    reader: &Reader<'_>,
    node: Node,
    opts: &LoadOptions<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<DesiredRule> {
    // The rule's own problems go to a list of their own, so that deciding whether this rule
    // failed costs its own errors, not every error of the run so far.
    let mut own = Vec::new();
    let rule = reader
        .rule(node, &mut own)
        .and_then(|r| check_rule(reader.path, r, opts, &mut own));
    let failed = own.iter().any(|d| d.severity == Severity::Error);
    // In the order of `diag::sort`, so a file's problems arrive as one sorted run.
    own.sort_by(|a, b| {
        let key = |d: &Diagnostic| (d.pos.line, d.pos.col, d.pos.len, d.severity);
        key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message))
    });
    diags.append(&mut own);
    rule.filter(|_| !failed)
}

/// [`convert_rule`] on a list that starts empty: `diags` holds this rule's problems only.
fn check_rule(
    path: &str,
    r: Spanned<RawRule>,
    opts: &LoadOptions<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<DesiredRule> {
    let at = yaml::pos(path, &r);
    let r = r.value;
    let err = |diags: &mut Vec<Diagnostic>, pos: Pos, msg: String| {
        diags.push(Diagnostic::error(pos, msg));
    };

    let id = match &r.id {
        None if r.has("id") => None,
        None => {
            err(
                diags,
                at.clone(),
                "rule has no `id`: give it a unique name like `partner-https`".into(),
            );
            None
        }
        Some(id) if !is_valid_rule_id(&id.value) => {
            err(
                diags,
                yaml::pos(path, id),
                format!(
                    "rule id `{}` must match [a-z0-9][a-z0-9._-]{{0,62}} (lowercase letters, digits, `.`, `_`, `-`; at most 63)",
                    id.value
                ),
            );
            None
        }
        Some(id) => Some(id.value.clone()),
    };
    let name = id.as_deref().unwrap_or("this rule");

    let direction = match &r.direction {
        None if r.has("direction") => None,
        None => {
            err(
                diags,
                at.clone(),
                format!("{name}: missing `direction` (ingress or egress)"),
            );
            None
        }
        Some(d) => match d.value.as_str() {
            "ingress" => Some(Direction::Ingress),
            "egress" => Some(Direction::Egress),
            other => {
                err(
                    diags,
                    yaml::pos(path, d),
                    format!("direction `{other}` must be `ingress` or `egress`"),
                );
                None
            }
        },
    };

    let protocol = match &r.protocol {
        None if r.has("protocol") => None,
        None => {
            err(
                diags,
                at.clone(),
                format!(
                    "{name}: missing `protocol` (tcp, udp, icmp, icmpv6, all or a number 0-255)"
                ),
            );
            None
        }
        Some(p) => {
            let parsed = match &p.value {
                Scalar::Int(n) if *n == -1 => Some(Protocol::All),
                Scalar::Int(n) => u8::try_from(*n).ok().map(Protocol::from_number),
                Scalar::Str(s) => Protocol::parse(s),
            };
            if parsed.is_none() {
                err(
                    diags,
                    yaml::pos(path, p),
                    format!(
                        "protocol `{}` must be tcp, udp, icmp, icmpv6, all or a number 0-255",
                        p.value
                    ),
                );
            }
            parsed
        }
    };

    // Ports written but refused are not "absent" (which would mean every port).
    let ports = protocol
        .filter(|_| r.ports.is_some() || !r.has("ports"))
        .and_then(|proto| convert_ports(path, proto, r.ports.as_ref(), diags));
    let peer = convert_peer(path, &r, &at, name, diags);

    let description = r
        .description
        .as_ref()
        .and_then(|d| match check_description(&d.value) {
            Ok(()) => Some(d.value.clone()),
            Err(m) => {
                err(diags, yaml::pos(path, d), m);
                None
            }
        });

    let ticket = match &r.ticket {
        None if r.has("ticket") => None,
        None => {
            err(
                diags,
                at.clone(),
                format!(
                    "{name}: missing `ticket`: every exception needs the approval it rests on (e.g. CHG-12345)"
                ),
            );
            None
        }
        Some(t) => {
            let s = t.value.clone();
            match check::check_ticket(&s) {
                Ok(()) => Some(s),
                Err(m) => {
                    err(diags, yaml::pos(path, t), m);
                    None
                }
            }
        }
    };

    let expires = r
        .expires
        .as_ref()
        .and_then(|e| match e.value.parse::<Date>() {
            Ok(d) if e.value.len() == 10 => Some((d, yaml::pos(path, e))),
            _ => {
                err(
                    diags,
                    yaml::pos(path, e),
                    format!("expires `{}` must be a date like 2027-06-30", e.value),
                );
                None
            }
        });
    if let Some((date, pos)) = &expires {
        let max_days = opts.config.guardrails.max_expiry_days;
        let limit = opts
            .today
            .checked_add(jiff::Span::new().days(i64::from(max_days)))
            .unwrap_or(Date::MAX);
        if *date <= opts.today {
            diags.push(Diagnostic::warning(
                pos.clone(),
                format!(
                    "{name} expired on {date}: the plan revokes it; remove it or renew it with a new ticket"
                ),
            ));
        } else if *date > limit {
            diags.push(Diagnostic::guardrail(
                pos.clone(),
                format!(
                    "expires {date} is more than {max_days} days ahead (limit {limit}, guardrails.max_expiry_days): pick an earlier date"
                ),
            ));
        }
    }

    let mut tags = BTreeMap::new();
    for (k, v) in r.tags.iter().flat_map(|t| &t.value) {
        let p = yaml::pos(path, k);
        let (k, v) = (&k.value, &v.value);
        if k == RULE_TAG {
            err(
                diags,
                p,
                format!("tag `{RULE_TAG}` is set by sgops to the rule id: remove it"),
            );
        } else if let Err(m) = check_rule_tag(k, v) {
            err(diags, p, m);
        } else if let Some(fixed) = opts.config.rule_tags.get(k).filter(|f| *f != v) {
            err(
                diags,
                p,
                format!(
                    "tag `{k}` is set to `{fixed}` for every rule by rule_tags in sgops.yaml: remove it here"
                ),
            );
        } else {
            tags.insert(k.clone(), v.clone());
        }
    }

    // The guardrail needs only what the rule opens: it is checked whatever else is wrong
    // with the rule (a bad description must not hide world-open SSH).
    if let (Some(direction), Some(protocol), Some(ports), Some(peer)) =
        (direction, protocol, ports, &peer)
    {
        let opens = RuleSpec {
            direction,
            protocol,
            ports,
            peer: peer.clone(),
            description: None,
        };
        check::world_open(&opens, &at, &opts.config.guardrails, diags);
    }

    let failed = diags.iter().any(|d| d.severity == Severity::Error);
    let (Some(id), Some(direction), Some(protocol), Some(ports), Some(peer), Some(ticket), false) =
        (id, direction, protocol, ports, peer, ticket, failed)
    else {
        return None;
    };
    let spec = RuleSpec {
        direction,
        protocol,
        ports,
        peer,
        description,
    };
    Some(DesiredRule {
        id,
        spec,
        ticket,
        expires: expires.map(|(d, _)| d),
        tags,
        pos: at,
    })
}

fn convert_ports(
    path: &str,
    proto: Protocol,
    ports: Option<&Spanned<RawPorts>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Ports> {
    let Some(p) = ports else {
        return Some(match proto {
            Protocol::Tcp | Protocol::Udp => Ports::Range { from: 0, to: 65535 },
            Protocol::Icmp | Protocol::Icmpv6 => Ports::Icmp {
                icmp_type: -1,
                code: -1,
            },
            Protocol::All | Protocol::Number(_) => Ports::NotApplicable,
        });
    };
    let at = yaml::pos(path, p);
    let fail = |diags: &mut Vec<Diagnostic>, pos: Pos, msg: String| {
        diags.push(Diagnostic::error(pos, msg));
        None
    };
    match (proto, &p.value) {
        (Protocol::All, _) => fail(
            diags,
            at,
            "protocol `all` opens every port and takes no `ports`: remove `ports`".into(),
        ),
        (Protocol::Number(n), _) => fail(
            diags,
            at,
            format!("protocol {n} has no ports: remove `ports` (only tcp and udp take ports)"),
        ),
        (Protocol::Tcp | Protocol::Udp, RawPorts::Icmp { .. }) => fail(
            diags,
            at,
            format!("{proto} takes a port (443) or a range (\"8000-8100\"), not {{ type, code }}"),
        ),
        (Protocol::Tcp | Protocol::Udp, RawPorts::Scalar(s)) => match parse_port_range(s) {
            Ok((from, to)) => Some(Ports::Range { from, to }),
            Err(m) => fail(diags, at, m),
        },
        (Protocol::Icmp | Protocol::Icmpv6, RawPorts::Scalar(_)) => fail(
            diags,
            at,
            format!("{proto} takes {{ type: 8, code: -1 }}, not port numbers"),
        ),
        (Protocol::Icmp | Protocol::Icmpv6, RawPorts::Icmp { icmp_type, code }) => {
            let mut one = |v: &Option<Spanned<i64>>, what: &str| -> Option<i16> {
                match v {
                    None => Some(-1),
                    Some(v) if (-1..=255).contains(&v.value) => Some(v.value as i16),
                    Some(v) => {
                        diags.push(Diagnostic::error(
                            yaml::pos(path, v),
                            format!("icmp {what} {} must be -1 (any) or 0-255", v.value),
                        ));
                        None
                    }
                }
            };
            let t = one(icmp_type, "type")?;
            let c = one(code, "code")?;
            if t == -1 && c != -1 {
                return fail(
                    diags,
                    at,
                    "icmp code needs a type: with `type: -1` (any) the code must be -1 too".into(),
                );
            }
            Some(Ports::Icmp {
                icmp_type: t,
                code: c,
            })
        }
    }
}

/// `443`, `"443"` or `"8000-8100"` → an inclusive range within 0-65535.
pub(crate) fn parse_port_range(s: &Scalar) -> Result<(u16, u16), String> {
    let one = |v: i64| -> Result<u16, String> {
        u16::try_from(v).map_err(|_| format!("port {v} is outside 0-65535"))
    };
    match s {
        Scalar::Int(n) => one(*n).map(|p| (p, p)),
        Scalar::Str(text) => {
            let t = text.trim();
            let bad = || {
                format!(
                    "ports `{text}` must be a port (443) or a range (\"8000-8100\") within 0-65535"
                )
            };
            let (a, b) = match t.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (t, t),
            };
            // Plain decimal digits only: `+22` or `0x16` is not a port, and `022` would be
            // octal 18 to some readers.
            let number = |p: &str| -> Result<u16, String> {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let digits = p.trim_start_matches('0');
                if digits.len() != p.len() && p != "0" {
                    let v = if digits.is_empty() { "0" } else { digits };
                    return Err(format!("port `{p}` has a leading zero: write {v}"));
                }
                match p.parse::<i64>() {
                    Ok(v) => one(v),
                    Err(_) => Err(format!("port {p} is outside 0-65535")),
                }
            };
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(format!(
                    "port range `{text}` runs backwards: write \"{b}-{a}\""
                ));
            }
            Ok((a, b))
        }
    }
}

fn convert_peer(
    path: &str,
    r: &RawRule,
    at: &Pos,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Peer> {
    let peers = [
        ("cidr", &r.cidr),
        ("cidr_ipv6", &r.cidr_ipv6),
        ("prefix_list", &r.prefix_list),
        ("security_group", &r.security_group),
    ];
    // A peer written with a refused value (a list, say) has its diagnostic already.
    if peers.iter().any(|(k, v)| v.is_none() && r.has(k)) {
        return None;
    }
    let given: Vec<(&str, &Spanned<String>)> = peers
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
    match given.as_slice() {
        [] => {
            diags.push(Diagnostic::error(
                at.clone(),
                format!(
                    "{name}: needs exactly one peer: cidr, cidr_ipv6, prefix_list or security_group"
                ),
            ));
            None
        }
        [(key, value)] => {
            let pos = yaml::pos(path, value);
            match peer_from(key, value.value.trim()) {
                Ok(p) => Some(p),
                Err(m) => {
                    diags.push(Diagnostic::error(pos, m));
                    None
                }
            }
        }
        [(k1, v1), (k2, v2), ..] => {
            diags.push(
                Diagnostic::error(
                    yaml::pos(path, *v2),
                    format!("a rule has exactly one peer, but this one has `{k1}` and `{k2}`: split it into two rules"),
                )
                .with_related(yaml::pos(path, *v1), format!("`{k1}` is here")),
            );
            None
        }
    }
}

/// Parses a peer value; the message says what was probably meant.
pub(crate) fn peer_from(key: &str, v: &str) -> Result<Peer, String> {
    match key {
        "cidr" => {
            if let Some(fixed) = without_leading_zeros(v) {
                return Err(format!(
                    "`{v}` has a number with a leading zero, which other tools read as octal (`010` as 8): write {fixed}"
                ));
            }
            if v.parse::<Ipv6Net>().is_ok() || v.parse::<std::net::Ipv6Addr>().is_ok() {
                return Err(format!(
                    "`{v}` is an IPv6 network: put it under `cidr_ipv6`"
                ));
            }
            let net: Ipv4Net = match v.parse() {
                Ok(n) => n,
                Err(_) => {
                    return Err(match v.parse::<std::net::Ipv4Addr>() {
                        Ok(_) => format!("`{v}` has no prefix length: write `{v}/32` for one host"),
                        Err(_) => format!("`{v}` is not an IPv4 CIDR like 203.0.113.0/24"),
                    });
                }
            };
            if net.trunc() != net {
                return Err(host_bits(v, &IpNet::V4(net)));
            }
            Ok(Peer::Cidr(net))
        }
        "cidr_ipv6" => {
            if v.parse::<Ipv4Net>().is_ok() || v.parse::<std::net::Ipv4Addr>().is_ok() {
                return Err(format!("`{v}` is an IPv4 network: put it under `cidr`"));
            }
            let net: Ipv6Net = match v.parse() {
                Ok(n) => n,
                Err(_) => {
                    return Err(match v.parse::<std::net::Ipv6Addr>() {
                        Ok(_) => {
                            format!("`{v}` has no prefix length: write `{v}/128` for one host")
                        }
                        Err(_) => format!("`{v}` is not an IPv6 CIDR like 2001:db8::/64"),
                    });
                }
            };
            if net.trunc() != net {
                return Err(host_bits(v, &IpNet::V6(net)));
            }
            Ok(Peer::CidrIpv6(net))
        }
        "prefix_list" => {
            if check::is_prefix_list_id(v) {
                Ok(Peer::PrefixList(v.to_string()))
            } else {
                Err(format!(
                    "`{v}` is not a prefix list id (pl- and hex digits)"
                ))
            }
        }
        _ => {
            if check::is_resource_id(v, "sg-") {
                Ok(Peer::SecurityGroup(v.to_string()))
            } else {
                Err(format!(
                    "`{v}` is not a security group id (sg- and 8 or 17 hex digits)"
                ))
            }
        }
    }
}

/// `v` with the leading zeros of its decimal numbers dropped (`010.0.0.0/08` →
/// `10.0.0.0/8`), when it looks like a dotted IPv4 address or CIDR that has any.
fn without_leading_zeros(v: &str) -> Option<String> {
    let (addr, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let numbers: Vec<&str> = addr.split('.').chain(prefix).collect();
    let decimal = |n: &&str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    if addr.split('.').count() != 4 || !numbers.iter().all(decimal) {
        return None;
    }
    if !numbers.iter().any(|n| n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    let strip = |n: &str| -> String {
        let t = n.trim_start_matches('0');
        if t.is_empty() { "0" } else { t }.to_string()
    };
    let addr: Vec<String> = addr.split('.').map(strip).collect();
    Some(match prefix {
        Some(p) => format!("{}/{}", addr.join("."), strip(p)),
        None => addr.join("."),
    })
}

fn host_bits(written: &str, net: &IpNet) -> String {
    let host = match net {
        IpNet::V4(n) => format!("{}/32", n.addr()),
        IpNet::V6(n) => format!("{}/128", n.addr()),
    };
    format!(
        "`{written}` has host bits set: did you mean {} (the network), or {host} (one host)?",
        net.trunc()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(cfg: &Config) -> LoadOptions<'_> {
        LoadOptions {
            config: cfg,
            today: Date::constant(2026, 11, 27),
        }
    }

    fn run(text: &str) -> (Option<RuleFile>, Vec<Diagnostic>) {
        let cfg = Config::default();
        let mut diags = Vec::new();
        let f = parse_file("r.yaml", text, "a", "us-east-1", &opts(&cfg), &mut diags);
        (f, diags)
    }

    fn rule(body: &str) -> String {
        format!(
            "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - id: r1\n    direction: ingress\n    ticket: CHG-1\n{body}"
        )
    }

    fn errors_of(body: &str) -> Vec<String> {
        let (_, d) = run(&rule(body));
        d.into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn a_full_rule_loads() {
        let (f, d) = run(&rule(
            "    protocol: tcp\n    ports: \"8000-8100\"\n    cidr: 203.0.113.0/24\n    description: Partner callbacks\n    expires: 2027-06-30\n    tags: { team: payments }\n",
        ));
        assert!(d.is_empty(), "{d:?}");
        let f = f.expect("file");
        let r = &f.rules[0];
        assert_eq!(
            r.spec.ports,
            Ports::Range {
                from: 8000,
                to: 8100
            }
        );
        assert_eq!(r.expires, Some(Date::constant(2027, 6, 30)));
        assert_eq!(r.tags["team"], "payments");
        assert_eq!((r.pos.line, r.pos.col), (3, 5));
    }

    #[test]
    fn host_bits_suggest_the_network() {
        let e = errors_of("    protocol: tcp\n    cidr: 10.0.0.1/24\n");
        assert!(e[0].contains("did you mean 10.0.0.0/24"), "{e:?}");
        let e = errors_of("    protocol: tcp\n    cidr_ipv6: 2001:db8::1/64\n");
        assert!(e[0].contains("2001:db8::/64"), "{e:?}");
    }

    #[test]
    fn cidr_in_the_wrong_field() {
        assert!(errors_of("    protocol: tcp\n    cidr: 2001:db8::/64\n")[0].contains("cidr_ipv6"));
        assert!(
            errors_of("    protocol: tcp\n    cidr_ipv6: 10.0.0.0/8\n")[0].contains("under `cidr`")
        );
        assert!(errors_of("    protocol: tcp\n    cidr: 10.0.0.1\n")[0].contains("/32"));
    }

    #[test]
    fn ports_are_checked() {
        assert!(
            errors_of("    protocol: tcp\n    ports: 70000\n    cidr: 10.0.0.0/8\n")[0]
                .contains("outside")
        );
        assert!(
            errors_of("    protocol: tcp\n    ports: \"90-80\"\n    cidr: 10.0.0.0/8\n")[0]
                .contains("backwards")
        );
        assert!(
            errors_of("    protocol: all\n    ports: 80\n    cidr: 10.0.0.0/8\n")[0]
                .contains("no `ports`")
        );
        assert!(
            errors_of("    protocol: icmp\n    ports: 80\n    cidr: 10.0.0.0/8\n")[0]
                .contains("type")
        );
        assert!(
            errors_of("    protocol: tcp\n    ports: { type: 8 }\n    cidr: 10.0.0.0/8\n")[0]
                .contains("not { type, code }")
        );
        assert!(
            errors_of(
                "    protocol: icmp\n    ports: { type: -1, code: 3 }\n    cidr: 10.0.0.0/8\n"
            )[0]
            .contains("code needs a type")
        );
        assert!(errors_of("    protocol: tcp\n    ports: 443\n    cidr: 10.0.0.0/8\n").is_empty());
        assert!(
            errors_of(
                "    protocol: icmp\n    ports: { type: 8, code: -1 }\n    cidr: 10.0.0.0/8\n"
            )
            .is_empty()
        );
    }

    #[test]
    fn leading_zero_numbers_are_refused_not_changed() {
        // YAML reads these as other numbers; `012345` would otherwise become ticket 12345.
        for (body, want) in [
            (
                "    protocol: 06\n    cidr: 10.0.0.0/8\n",
                "protocol `06` has a leading zero: write 6",
            ),
            (
                "    protocol: tcp\n    ports: 0443\n    cidr: 10.0.0.0/8\n",
                "port `0443` has a leading zero: write 443",
            ),
        ] {
            assert_eq!(errors_of(body), [want]);
        }
        let (_, d) = run(
            "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - id: r1\n    direction: ingress\n    protocol: tcp\n    cidr: 10.0.0.0/8\n    ticket: 012345\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("write the value in quotes"), "{d:?}");
        assert_eq!(d[0].pos.line, 7);
    }

    #[test]
    fn numbers_are_named_as_written_and_other_notations_refused() {
        let port = |p: &str| {
            errors_of(&format!(
                "    protocol: tcp\n    ports: {p}\n    cidr: 10.0.0.0/8\n"
            ))
        };
        assert_eq!(port("0x16"), ["port `0x16` is hexadecimal: write 22"]);
        assert_eq!(port("0o26"), ["port `0o26` is octal: write 22"]);
        assert_eq!(port("0b10110"), ["port `0b10110` is binary: write 22"]);
        assert_eq!(
            port("2_2"),
            ["port `2_2` has digit separators (`_`): write 22"]
        );
        assert_eq!(port("+22"), ["port `+22` has a plus sign: write 22"]);
        assert_eq!(
            port("2.2e1"),
            ["port `2.2e1` is in exponent notation: write 22"]
        );
        assert_eq!(
            port("22.5"),
            ["port `22.5` has a decimal point: a port must be a whole number (0-65535)"]
        );
        assert_eq!(
            port("99999999999999999999"),
            ["port 99999999999999999999 is outside 0-65535"]
        );
        assert_eq!(port("\"022\""), ["port `022` has a leading zero: write 22"]);
        assert_eq!(
            port("\"20-0x30\""),
            ["ports `20-0x30` must be a port (443) or a range (\"8000-8100\") within 0-65535"]
        );
        assert_eq!(port("\" 20 - 30 \""), Vec::<String>::new());
        let ticket = |t: &str| errors_of_ticket(t);
        assert_eq!(
            ticket("1e3"),
            [
                "`1e3` is in exponent notation, so YAML reads it as the number 1000: write the value in quotes (\"1e3\") to keep it as written"
            ]
        );
        assert_eq!(
            ticket("99999999999999999999"),
            [
                "`99999999999999999999` is too large a number for YAML to keep exactly: write the value in quotes (\"99999999999999999999\")"
            ]
        );
        assert_eq!(
            ticket("1.50"),
            [
                "`1.50` has a decimal point, so YAML reads it as the number 1.5: write the value in quotes (\"1.50\") to keep it as written"
            ]
        );
        assert_eq!(ticket("12345"), Vec::<String>::new());
        assert_eq!(
            errors_of("    protocol: 0x6\n    cidr: 10.0.0.0/8\n"),
            ["protocol `0x6` is hexadecimal: write 6"]
        );
    }

    fn errors_of_ticket(ticket: &str) -> Vec<String> {
        let (_, d) = run(&format!(
            "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - id: r1\n    direction: ingress\n    protocol: tcp\n    cidr: 10.0.0.0/8\n    ticket: {ticket}\n"
        ));
        d.into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn ipv4_numbers_with_leading_zeros_are_refused() {
        assert_eq!(
            errors_of("    protocol: tcp\n    cidr: 010.000.000.000/8\n"),
            [
                "`010.000.000.000/8` has a number with a leading zero, which other tools read as octal (`010` as 8): write 10.0.0.0/8"
            ]
        );
        assert!(
            errors_of("    protocol: tcp\n    cidr: 10.0.0.1/08\n")[0]
                .ends_with("write 10.0.0.1/8")
        );
        assert!(errors_of("    protocol: tcp\n    cidr: 10.0.0.0/8\n").is_empty());
        assert!(errors_of("    protocol: tcp\n    ports: 443\n    cidr: 0.0.0.0/0\n").is_empty());
    }

    #[test]
    fn empty_ports_do_not_mean_every_port() {
        let (f, d) = run(&rule(
            "    protocol: tcp\n    ports:\n    cidr: 0.0.0.0/0\n",
        ));
        assert!(f.is_some_and(|f| f.rules.is_empty()));
        let d: Vec<(u32, &str)> = d.iter().map(|d| (d.pos.line, d.message.as_str())).collect();
        assert_eq!(
            d,
            [(
                7,
                "`ports` is empty: write a port (443) or a range (\"8000-8100\"), or remove `ports` to mean every port"
            )]
        );
    }

    #[test]
    fn exactly_one_peer() {
        assert!(errors_of("    protocol: tcp\n")[0].contains("exactly one peer"));
        assert!(
            errors_of("    protocol: tcp\n    cidr: 10.0.0.0/8\n    prefix_list: pl-12345678\n")[0]
                .contains("`cidr` and `prefix_list`")
        );
    }

    #[test]
    fn every_missing_field_is_reported_at_once() {
        let (_, d) = run("security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - description: x\n");
        let text: Vec<_> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(d.len(), 5, "{text:?}");
    }

    #[test]
    fn expiry_is_a_warning_or_a_guardrail() {
        let (f, d) = run(&rule(
            "    protocol: tcp\n    cidr: 10.0.0.0/8\n    expires: 2026-11-27\n",
        ));
        assert!(f.is_some());
        assert_eq!(d[0].severity, Severity::Warning);
        let (_, d) = run(&rule(
            "    protocol: tcp\n    cidr: 10.0.0.0/8\n    expires: 2030-01-01\n",
        ));
        assert_eq!(d[0].severity, Severity::Guardrail);
        assert!(
            errors_of("    protocol: tcp\n    cidr: 10.0.0.0/8\n    expires: 2027-13-01\n")[0]
                .contains("date")
        );
    }

    #[test]
    fn group_by_name_needs_a_vpc() {
        let (f, d) = run("security_group: { name: web }\nrules: []\n");
        assert!(f.is_none());
        assert!(d[0].message.contains("vpc"));
        let (f, d) = run("security_group: { name: web, vpc: vpc-0123456789abcdef0 }\nrules: []\n");
        assert!(d.is_empty(), "{d:?}");
        assert!(matches!(f.map(|f| f.group), Some(GroupRef::Name { .. })));
    }

    #[test]
    fn reserved_tags_are_refused() {
        assert!(
            errors_of("    protocol: tcp\n    cidr: 10.0.0.0/8\n    tags: { 'sgops:rule': x }\n")
                [0]
            .contains("set by sgops")
        );
        assert!(
            errors_of("    protocol: tcp\n    cidr: 10.0.0.0/8\n    tags: { 'aws:x': y }\n")[0]
                .contains("aws:")
        );
    }
}
