//! `sgops.yaml`: which accounts exist, how to reach them, and the policies every plan obeys.
//!
//! Loading reads the one file; everything else here is pure. Problems come back as
//! [`Diagnostic`]s pointing into the file, all of them at once.

mod organization;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Pos, Sources};
use crate::rules::{check_rule_tag, is_valid_region};
use crate::yaml;

mod serve;
pub use organization::{Organization, is_valid_ou_id};
pub use serve::{Client, ServeConfig, url_allowed};
pub mod lifecycle;

/// The tag that marks a rule as managed by sgops; its value is the rule id.
pub const RULE_TAG: &str = "sgops:rule";

/// The tag in which sgops records the keys of the other tags it set on a rule,
/// comma-separated and sorted: sgops deletes only tags listed there, so the tags others put
/// on a rule (Firewall Manager's, a team's) survive adoption and every later change.
pub const TAGS_TAG: &str = "sgops:tags";

/// Validated configuration with every default resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub allowlist: AllowlistConfig,
    /// The role that writes (apply, invoke, serve): assumed in each account.
    pub role_name: String,
    /// The role that only reads (plan, import, drift), when it is not `role_name`: a role
    /// that cannot change security groups, so what plans pull requests never holds write
    /// access. `None`: reads use `role_name`, as before the split.
    pub read_role_name: Option<String>,
    pub external_id: Option<String>,
    /// Account name → account, sorted by name so every walk over accounts is deterministic.
    pub accounts: BTreeMap<String, Account>,
    pub rule_tags: BTreeMap<String, String>,
    pub guardrails: Guardrails,
    pub quotas: Quotas,
    pub concurrency: usize,
    /// Regions read in every account even without rule files there, so that deleting the
    /// last rule file of an account and region still revokes what sgops manages in it.
    pub regions: Vec<String>,
    /// `sgops serve`: whose tokens it accepts, who may call what.
    pub serve: Option<ServeConfig>,
    /// Where and how `sgops accounts` reads AWS Organizations.
    pub organization: Organization,
    pub expiry: lifecycle::Expiry,
    pub approvals: lifecycle::Approvals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowlistConfig {
    pub parameter_prefix: String,
    pub region: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    /// Overrides the top-level `role_name` for this account.
    pub role_name: Option<String>,
    /// Overrides the top-level `read_role_name` for this account.
    pub read_role_name: Option<String>,
    /// Overrides the top-level `regions` for this account.
    pub regions: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrails {
    pub world_open_denied_ports: Vec<u16>,
    /// Ingress peers broader than these prefixes over a denied port count as world-open.
    pub world_open_prefix: WorldOpenPrefix,
    pub max_changes: usize,
    pub max_expiry_days: u32,
}

/// The broadest ingress peers (prefix lengths) allowed over a denied port: a single peer, or
/// the union of a group's peers, covering more public addresses than one such network is
/// world-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorldOpenPrefix {
    pub ipv4: u8,
    pub ipv6: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    pub rules_per_group: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allowlist: AllowlistConfig {
                parameter_prefix: "/vpcx/aws/boto3-proxy/allowed-actions/".into(),
                region: "us-east-1".into(),
            },
            role_name: "sgops-reconciler".into(),
            read_role_name: None,
            external_id: None,
            accounts: BTreeMap::new(),
            rule_tags: BTreeMap::new(),
            guardrails: Guardrails {
                world_open_denied_ports: vec![22, 3389],
                world_open_prefix: WorldOpenPrefix { ipv4: 8, ipv6: 16 },
                max_changes: 200,
                max_expiry_days: 366,
            },
            quotas: Quotas {
                rules_per_group: 60,
            },
            concurrency: 16,
            regions: Vec::new(),
            serve: None,
            organization: Organization::default(),
            expiry: Default::default(),
            approvals: Default::default(),
        }
    }
}

/// What a command does in the accounts: which of their two roles it assumes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// Reads only (plan, import, drift): the read role.
    #[default]
    Read,
    /// Changes security-group rules (apply, invoke, serve): the write role.
    Write,
}

impl Config {
    /// The write role's ARN in `account` (what apply, invoke and serve assume).
    pub fn role_arn(&self, account: &Account) -> String {
        self.role_arn_for(account, Access::Write)
    }

    /// The name of the role to assume in `account` for `access`. Writes: the account's
    /// `role_name`, else the top-level one. Reads: the account's `read_role_name`, else the
    /// top-level `read_role_name`, else the write role (a configuration without a read role
    /// reads with the one role it names).
    pub fn role_name_for<'a>(&'a self, account: &'a Account, access: Access) -> &'a str {
        let write = account.role_name.as_deref().unwrap_or(&self.role_name);
        match access {
            Access::Write => write,
            Access::Read => account
                .read_role_name
                .as_deref()
                .or(self.read_role_name.as_deref())
                .unwrap_or(write),
        }
    }

    /// The role ARN to assume in `account` for `access`.
    pub fn role_arn_for(&self, account: &Account, access: Access) -> String {
        format!(
            "arn:aws:iam::{}:role/{}",
            account.id,
            self.role_name_for(account, access)
        )
    }

    /// The regions always read in `account`, rule files or not.
    pub fn regions_of<'a>(&'a self, account: &'a Account) -> &'a [String] {
        account.regions.as_deref().unwrap_or(&self.regions)
    }

    /// Finds an account by its name or its 12-digit id.
    pub fn account(&self, name_or_id: &str) -> Option<(&str, &Account)> {
        self.accounts
            .get_key_value(name_or_id)
            .or_else(|| self.accounts.iter().find(|(_, a)| a.id == name_or_id))
            .map(|(n, a)| (n.as_str(), a))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    allowlist: Option<RawAllowlist>,
    role_name: Option<Spanned<String>>,
    read_role_name: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
    accounts: Option<Spanned<BTreeMap<String, Spanned<RawAccount>>>>,
    rule_tags: Option<Spanned<BTreeMap<String, String>>>,
    guardrails: Option<RawGuardrails>,
    quotas: Option<RawQuotas>,
    concurrency: Option<Spanned<i64>>,
    regions: Option<Spanned<Vec<Spanned<String>>>>,
    serve: Option<Spanned<serve::RawServe>>,
    organization: Option<organization::RawOrganization>,
    expiry: Option<lifecycle::RawExpiry>,
    approvals: Option<lifecycle::RawApprovals>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    parameter_prefix: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuardrails {
    world_open_denied_ports: Option<Vec<Spanned<i64>>>,
    world_open_prefix: Option<RawPrefix>,
    max_changes: Option<Spanned<i64>>,
    max_expiry_days: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrefix {
    ipv4: Option<Spanned<i64>>,
    ipv6: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuotas {
    rules_per_group: Option<Spanned<i64>>,
}

/// An account entry: `"111111111111"` or
/// `{ id: "…", role_name: …, read_role_name: …, regions: […] }`.
#[derive(Default)]
struct RawAccount {
    id: Option<String>,
    role_name: Option<String>,
    read_role_name: Option<String>,
    regions: Option<Vec<String>>,
    /// What is wrong with an id written as a number. The entry is kept (with the id it
    /// probably meant), so the account's rule folder is still known and its files checked.
    problem: Option<String>,
}

impl<'de> Deserialize<'de> for RawAccount {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAccount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a quoted 12-digit account id, or { id, role_name, read_role_name, regions }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawAccount, E> {
                Ok(RawAccount {
                    id: Some(v.to_string()),
                    ..RawAccount::default()
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawAccount, E> {
                Ok(RawAccount {
                    id: Some(format!("{v:012}")),
                    problem: Some(format!(
                        "account id {v} must be quoted (\"{v:012}\"): unquoted numbers lose leading zeros"
                    )),
                    ..RawAccount::default()
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawAccount, E> {
                // YAML reads `011111111111` (a leading zero) as a decimal number, not an integer.
                if v.fract() == 0.0 && (0.0..1e12).contains(&v) {
                    return self.visit_u64(v as u64);
                }
                Ok(RawAccount {
                    problem: Some(format!("account id {v} must be a quoted 12-digit string")),
                    ..RawAccount::default()
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawAccount, E> {
                Ok(RawAccount {
                    problem: Some(format!("account id {v} must be a quoted 12-digit string")),
                    ..RawAccount::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawAccount, A::Error> {
                let mut out = RawAccount::default();
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "id" => out.id = Some(m.next_value::<String>()?),
                        "role_name" => out.role_name = Some(m.next_value::<String>()?),
                        "read_role_name" => {
                            out.read_role_name = Some(m.next_value::<String>()?);
                        }
                        "regions" => out.regions = Some(m.next_value::<Vec<String>>()?),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["id", "role_name", "read_role_name", "regions"],
                            ));
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

/// Loads and validates `sgops.yaml`. The text is added to `sources` for diagnostics.
pub fn load(path: &Path, sources: &mut Sources) -> Result<Config, Vec<Diagnostic>> {
    match load_partial(path, sources) {
        (Some(cfg), diags) if diags.is_empty() => Ok(cfg),
        (_, diags) => Err(diags),
    }
}

/// Loads `sgops.yaml` as far as it can be used, with every problem found: the configuration
/// comes back whenever the file parses and names its `accounts`, even with problems (a
/// refused value keeps its default), so that `validate` can still check the rule files.
pub fn load_partial(path: &Path, sources: &mut Sources) -> (Option<Config>, Vec<Diagnostic>) {
    let display = path.display().to_string();
    if !path.exists() {
        let d = Diagnostic::error(
            Pos::file(&display),
            format!(
                "configuration file not found: create {display} (see README) or pass --config FILE"
            ),
        );
        return (None, vec![d]);
    }
    let text = match yaml::read_source(path, &display, yaml::Links::WithinFolder) {
        Ok(t) => t,
        Err(d) => return (None, vec![d]),
    };
    sources.insert(display.clone(), text.clone());
    parse_partial(&display, &text)
}

/// Parses and validates configuration text; `path` names it in diagnostics.
pub fn parse(path: &str, text: &str) -> Result<Config, Vec<Diagnostic>> {
    match parse_partial(path, text) {
        (Some(cfg), diags) if diags.is_empty() => Ok(cfg),
        (_, diags) => Err(diags),
    }
}

/// [`parse`], keeping the configuration when it is usable despite its problems (see
/// [`load_partial`]).
pub fn parse_partial(path: &str, text: &str) -> (Option<Config>, Vec<Diagnostic>) {
    let raw: RawConfig = match yaml::parse(path, text) {
        Ok(raw) => raw,
        Err(mut d) => {
            if d.message.starts_with("file is empty") {
                d.message = "file is empty: sgops.yaml needs at least `accounts`".into();
            }
            return (None, vec![d]);
        }
    };
    let mut diags = Vec::new();
    let mut cfg = Config::default();
    let at = |s: &Pos| s.clone();

    if let Some(a) = raw.allowlist {
        if let Some(p) = a.parameter_prefix {
            if let Some(c) = crate::escape::forbidden_char(&p.value) {
                diags.push(Diagnostic::error(
                    yaml::pos(path, &p),
                    format!("allowlist.parameter_prefix contains the control character {c:?}"),
                ));
            } else if !p.value.starts_with('/') || !p.value.ends_with('/') {
                diags.push(Diagnostic::error(
                    yaml::pos(path, &p),
                    "allowlist.parameter_prefix must start and end with `/` (the service name is appended)",
                ));
            }
            cfg.allowlist.parameter_prefix = p.value;
        }
        if let Some(r) = a.region {
            if !is_valid_region(&r.value) {
                diags.push(Diagnostic::error(
                    yaml::pos(path, &r),
                    format!("`{}` is not an AWS region name (like us-east-1)", r.value),
                ));
            }
            cfg.allowlist.region = r.value;
        }
    }
    if let Some(r) = raw.role_name {
        check_role_name(&r.value, yaml::pos(path, &r), &mut diags);
        cfg.role_name = r.value;
    }
    if let Some(r) = raw.read_role_name {
        check_role_name(&r.value, yaml::pos(path, &r), &mut diags);
        cfg.read_role_name = Some(r.value);
    }
    if let Some(e) = raw.external_id {
        // STS: 2 to 1224 characters of [\w+=,.@:/-].
        if e.value.len() < 2
            || e.value.len() > 1224
            || !e
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
        {
            diags.push(Diagnostic::error(
                yaml::pos(path, &e),
                "external_id must be 2 to 1224 characters of letters, digits and _+=,.@:/-",
            ));
        }
        cfg.external_id = Some(e.value);
    }
    let has_accounts = raw.accounts.is_some();
    match raw.accounts {
        None => diags.push(Diagnostic::error(
            Pos::file(path),
            "missing `accounts`: map each account name to its 12-digit id",
        )),
        Some(accounts) => {
            let mut seen_ids: BTreeMap<String, Pos> = BTreeMap::new();
            for (name, acct) in accounts.value {
                let p = yaml::pos(path, &acct);
                if !is_valid_account_name(&name) {
                    diags.push(Diagnostic::error(
                        at(&p),
                        format!(
                            "account name `{name}` must be a folder name of [A-Za-z0-9._-] (it names rules/{name}/)"
                        ),
                    ));
                }
                if let Some(problem) = &acct.value.problem {
                    diags.push(Diagnostic::error(at(&p), problem.clone()));
                }
                let Some(id) = acct.value.id else {
                    if acct.value.problem.is_some() {
                        continue;
                    }
                    diags.push(Diagnostic::error(
                        at(&p),
                        format!("account `{name}` has no `id`"),
                    ));
                    continue;
                };
                if !is_valid_account_id(&id) {
                    diags.push(Diagnostic::error(
                        at(&p),
                        format!("account `{name}`: id `{id}` is not a 12-digit AWS account id"),
                    ));
                }
                if let Some(first) = seen_ids.get(&id) {
                    diags.push(
                        Diagnostic::error(at(&p), format!("account id {id} is listed twice"))
                            .with_related(first.clone(), "first listed here"),
                    );
                } else {
                    seen_ids.insert(id.clone(), p.clone());
                }
                for r in [&acct.value.role_name, &acct.value.read_role_name]
                    .into_iter()
                    .flatten()
                {
                    check_role_name(r, at(&p), &mut diags);
                }
                if let Some(regions) = &acct.value.regions {
                    let named: Vec<(&str, Pos)> =
                        regions.iter().map(|r| (r.as_str(), at(&p))).collect();
                    check_regions(&format!("accounts.{name}.regions"), &named, &mut diags);
                }
                cfg.accounts.insert(
                    name,
                    Account {
                        id,
                        role_name: acct.value.role_name,
                        read_role_name: acct.value.read_role_name,
                        regions: acct.value.regions,
                    },
                );
            }
        }
    }
    if let Some(tags) = raw.rule_tags {
        let p = yaml::pos(path, &tags);
        for (k, v) in &tags.value {
            if k == RULE_TAG {
                diags.push(Diagnostic::error(
                    at(&p),
                    format!("rule_tags must not set `{RULE_TAG}`: sgops sets it to the rule id"),
                ));
            } else if let Err(m) = check_rule_tag(k, v) {
                diags.push(Diagnostic::error(at(&p), format!("rule_tags: {m}")));
            }
        }
        cfg.rule_tags = tags.value;
    }
    if let Some(g) = raw.guardrails {
        if let Some(ports) = g.world_open_denied_ports {
            cfg.guardrails.world_open_denied_ports.clear();
            for p in ports {
                match u16::try_from(p.value) {
                    Ok(v) => cfg.guardrails.world_open_denied_ports.push(v),
                    Err(_) => diags.push(Diagnostic::error(
                        yaml::pos(path, &p),
                        format!("port {} is outside 0-65535", p.value),
                    )),
                }
            }
        }
        if let Some(p) = g.world_open_prefix {
            let mut bits = |v: Option<Spanned<i64>>, max: i64, key: &str, out: &mut u8| {
                if let Some(v) = v {
                    if (0..=max).contains(&v.value) {
                        *out = v.value as u8;
                    } else {
                        diags.push(Diagnostic::error(
                            yaml::pos(path, &v),
                            format!(
                                "guardrails.world_open_prefix.{key} must be a prefix length from 0 to {max}, not {}",
                                v.value
                            ),
                        ));
                    }
                }
            };
            let w = &mut cfg.guardrails.world_open_prefix;
            bits(p.ipv4, 32, "ipv4", &mut w.ipv4);
            bits(p.ipv6, 128, "ipv6", &mut w.ipv6);
        }
        if let Some(m) = g.max_changes {
            cfg.guardrails.max_changes = positive(path, &m, "guardrails.max_changes", &mut diags);
        }
        if let Some(m) = g.max_expiry_days {
            cfg.guardrails.max_expiry_days =
                positive(path, &m, "guardrails.max_expiry_days", &mut diags) as u32;
        }
    }
    if let Some(q) = raw.quotas
        && let Some(r) = q.rules_per_group
    {
        cfg.quotas.rules_per_group = positive(path, &r, "quotas.rules_per_group", &mut diags);
    }
    if let Some(c) = raw.concurrency {
        cfg.concurrency = positive(path, &c, "concurrency", &mut diags).min(256);
    }
    if let Some(regions) = raw.regions {
        let named: Vec<(&str, Pos)> = regions
            .value
            .iter()
            .map(|r| (r.value.as_str(), yaml::pos(path, r)))
            .collect();
        check_regions("regions", &named, &mut diags);
        cfg.regions = regions.value.into_iter().map(|r| r.value).collect();
    }
    if let Some(s) = raw.serve {
        cfg.serve = Some(serve::check(path, s, &cfg.accounts, &mut diags));
    }
    if let Some(o) = raw.organization {
        cfg.organization = organization::check(path, o, &mut diags);
    }
    cfg.expiry = lifecycle::expiry(path, raw.expiry, &mut diags);
    cfg.approvals = lifecycle::approvals(raw.approvals);
    (has_accounts.then_some(cfg), diags)
}

fn positive(path: &str, v: &Spanned<i64>, name: &str, diags: &mut Vec<Diagnostic>) -> usize {
    if v.value < 1 || v.value > 1_000_000 {
        diags.push(Diagnostic::error(
            yaml::pos(path, v),
            format!("{name} must be between 1 and 1000000, not {}", v.value),
        ));
        1
    } else {
        v.value as usize
    }
}

/// Region lists: AWS region names, each once.
fn check_regions(key: &str, regions: &[(&str, Pos)], diags: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::BTreeSet::new();
    for (r, pos) in regions {
        if !is_valid_region(r) {
            diags.push(Diagnostic::error(
                pos.clone(),
                format!("{key}: `{r}` is not an AWS region name (like us-east-1)"),
            ));
        } else if !seen.insert(*r) {
            diags.push(Diagnostic::error(
                pos.clone(),
                format!("{key}: `{r}` is listed twice"),
            ));
        }
    }
}

/// A 12-digit AWS account id.
pub fn is_valid_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The folder-safe form of a name (SPEC section 10): lower case, every run of characters
/// outside `[a-z0-9-]` one `-`, no `-` at either end (`ITX 016` → `itx-016`). Empty when
/// nothing of the name is left.
pub fn folder_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    out.trim_matches('-').to_string()
}

/// A name that can be a key of `accounts` (it names the folder rules/<name>/).
pub fn is_valid_account_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// IAM role names: 1–64 characters of `[\w+=,.@-]`.
fn check_role_name(s: &str, pos: Pos, diags: &mut Vec<Diagnostic>) {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if !ok {
        diags.push(Diagnostic::error(
            pos,
            format!(
                "`{s}` is not an IAM role name (1-64 characters of letters, digits and _+=,.@-)"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
allowlist:
  parameter_prefix: /vpcx/aws/boto3-proxy/allowed-actions/
  region: us-east-1
role_name: sgops-reconciler
external_id: null
accounts:
  itx-016: "111111111111"
  itx-046: { id: "222222222222", role_name: other-role }
rule_tags:
  vpcx:skip_enforcement: "yes"
guardrails:
  world_open_denied_ports: [22, 3389]
  max_changes: 200
  max_expiry_days: 366
quotas:
  rules_per_group: 60
concurrency: 16
"#;

    #[test]
    fn parses_the_spec_example() {
        let c = parse("sgops.yaml", FULL).expect("valid");
        assert_eq!(c.accounts.len(), 2);
        assert_eq!(
            c.role_arn(&c.accounts["itx-046"]),
            "arn:aws:iam::222222222222:role/other-role"
        );
        assert_eq!(
            c.role_arn(&c.accounts["itx-016"]),
            "arn:aws:iam::111111111111:role/sgops-reconciler"
        );
        assert_eq!(c.rule_tags["vpcx:skip_enforcement"], "yes");
        assert_eq!(c.external_id, None);
        assert_eq!(c.account("222222222222").map(|a| a.0), Some("itx-046"));
    }

    #[test]
    fn reads_use_the_read_role_and_writes_the_write_role() {
        let c = parse(
            "sgops.yaml",
            "role_name: writer\nread_role_name: reader\naccounts:\n  a: \"111111111111\"\n  b: { id: \"222222222222\", role_name: b-writer }\n  c: { id: \"333333333333\", read_role_name: c-reader }\n  d: { id: \"444444444444\", role_name: d-writer, read_role_name: d-reader }\n",
        )
        .expect("valid");
        let arns = |name: &str| {
            let a = &c.accounts[name];
            (
                c.role_arn_for(a, Access::Read),
                c.role_arn_for(a, Access::Write),
            )
        };
        let pair = |id: &str, read: &str, write: &str| {
            (
                format!("arn:aws:iam::{id}:role/{read}"),
                format!("arn:aws:iam::{id}:role/{write}"),
            )
        };
        assert_eq!(arns("a"), pair("111111111111", "reader", "writer"));
        // An account's own write role does not become its read role: the top-level
        // read_role_name still applies.
        assert_eq!(arns("b"), pair("222222222222", "reader", "b-writer"));
        assert_eq!(arns("c"), pair("333333333333", "c-reader", "writer"));
        assert_eq!(arns("d"), pair("444444444444", "d-reader", "d-writer"));
        // `role_arn` is the write role, as before the split.
        assert_eq!(c.role_arn(&c.accounts["a"]), arns("a").1);
        assert_eq!(Access::default(), Access::Read);
    }

    #[test]
    fn without_a_read_role_reads_use_the_write_role() {
        let c = parse("sgops.yaml", FULL).expect("valid");
        assert_eq!(c.read_role_name, None);
        for (name, role) in [("itx-016", "sgops-reconciler"), ("itx-046", "other-role")] {
            let a = &c.accounts[name];
            assert_eq!(c.role_name_for(a, Access::Read), role);
            assert_eq!(c.role_name_for(a, Access::Write), role);
        }
        // Only one account with a read role: the others read with their write role.
        let c = parse(
            "sgops.yaml",
            "accounts:\n  a: \"111111111111\"\n  b: { id: \"222222222222\", read_role_name: b-reader }\n",
        )
        .expect("valid");
        assert_eq!(
            c.role_name_for(&c.accounts["a"], Access::Read),
            "sgops-reconciler"
        );
        assert_eq!(c.role_name_for(&c.accounts["b"], Access::Read), "b-reader");
        assert_eq!(
            c.role_name_for(&c.accounts["b"], Access::Write),
            "sgops-reconciler"
        );
    }

    #[test]
    fn bad_read_role_names_are_errors_with_their_line() {
        let e = parse(
            "sgops.yaml",
            "read_role_name: 'bad role'\naccounts:\n  a: \"111111111111\"\n  b: { id: \"222222222222\", read_role_name: 'x/y' }\n",
        )
        .expect_err("invalid");
        let msgs: Vec<(u32, &str)> = e.iter().map(|d| (d.pos.line, d.message.as_str())).collect();
        assert_eq!(
            msgs,
            [
                (
                    1,
                    "`bad role` is not an IAM role name (1-64 characters of letters, digits and _+=,.@-)"
                ),
                (
                    4,
                    "`x/y` is not an IAM role name (1-64 characters of letters, digits and _+=,.@-)"
                ),
            ]
        );
        let e = parse(
            "sgops.yaml",
            "accounts:\n  a: { id: \"111111111111\", reader: x }\n",
        )
        .expect_err("unknown");
        assert!(e[0].message.contains("read_role_name"), "{}", e[0].message);
    }

    #[test]
    fn defaults_fill_what_is_absent() {
        let c = parse("sgops.yaml", "accounts:\n  a: \"111111111111\"\n").expect("valid");
        assert_eq!(c.guardrails.world_open_denied_ports, vec![22, 3389]);
        assert_eq!(c.quotas.rules_per_group, 60);
        assert_eq!(c.concurrency, 16);
    }

    #[test]
    fn unquoted_account_id_is_explained() {
        for (text, shown) in [
            ("011111111111", "11111111111"),
            ("111111111111", "111111111111"),
        ] {
            let e = parse("sgops.yaml", &format!("accounts:\n  a: {text}\n")).expect_err(text);
            assert_eq!(
                e[0].message,
                format!(
                    "account id {shown} must be quoted (\"{text}\"): unquoted numbers lose leading zeros"
                ),
            );
            assert_eq!(e[0].pos.line, 2);
        }
    }

    #[test]
    fn all_problems_are_reported_together() {
        let e = parse(
            "sgops.yaml",
            "role_name: 'bad role'\naccounts:\n  a: \"12\"\n  b: \"111111111111\"\n  c: \"111111111111\"\nconcurrency: 0\n",
        )
        .expect_err("invalid");
        assert_eq!(e.len(), 4, "{e:#?}");
    }

    #[test]
    fn regions_default_to_none_and_accounts_override_them() {
        let c = parse(
            "sgops.yaml",
            "regions: [us-east-1, eu-west-1]\naccounts:\n  a: \"111111111111\"\n  b: { id: \"222222222222\", regions: [ap-south-1] }\n",
        )
        .expect("valid");
        assert_eq!(c.regions_of(&c.accounts["a"]), ["us-east-1", "eu-west-1"]);
        assert_eq!(c.regions_of(&c.accounts["b"]), ["ap-south-1"]);
        let d = parse("sgops.yaml", "accounts:\n  a: \"111111111111\"\n").expect("valid");
        assert!(d.regions_of(&d.accounts["a"]).is_empty());
    }

    #[test]
    fn bad_regions_are_errors_with_their_line() {
        let e = parse(
            "sgops.yaml",
            "accounts:\n  a: { id: \"111111111111\", regions: [eu-west-1, eu-west-1] }\nregions:\n  - us-east-1\n  - US-EAST-1\n",
        )
        .expect_err("invalid");
        let msgs: Vec<(u32, &str)> = e.iter().map(|d| (d.pos.line, d.message.as_str())).collect();
        assert_eq!(
            msgs,
            [
                (2, "accounts.a.regions: `eu-west-1` is listed twice"),
                (
                    5,
                    "regions: `US-EAST-1` is not an AWS region name (like us-east-1)"
                ),
            ]
        );
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = parse("sgops.yaml", "accounts: {}\nrole: x\n").expect_err("unknown");
        assert_eq!(e[0].pos.line, 2);
    }

    #[test]
    fn a_configuration_with_problems_is_still_usable_when_its_accounts_are_known() {
        let (cfg, d) = parse_partial(
            "sgops.yaml",
            "accounts:\n  a: \"111111111111\"\n  b: 022222222222\nconcurrency: 0\nguardrails: { world_open_denied_ports: [22, 70000] }\n",
        );
        let cfg = cfg.expect("usable");
        assert_eq!(d.len(), 3, "{d:#?}");
        assert_eq!(cfg.accounts.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(cfg.guardrails.world_open_denied_ports, [22]);
        assert!(parse("sgops.yaml", "accounts: {}\nconcurrency: 0\n").is_err());
        // Without `accounts`, or when the file does not parse, nothing is usable.
        assert!(parse_partial("sgops.yaml", "concurrency: 4\n").0.is_none());
        assert!(
            parse_partial("sgops.yaml", "accounts: {}\nrole: x\n")
                .0
                .is_none()
        );
    }

    #[test]
    fn names_are_made_folder_safe() {
        for (name, safe) in [
            ("ITX 016", "itx-016"),
            ("itx-016", "itx-016"),
            ("  Payments (Prod) ", "payments-prod"),
            ("a__b..c", "a-b-c"),
            ("-edge-", "edge"),
            ("Caf\u{e9} Ops", "caf-ops"),
            ("\u{65e5}\u{672c}", ""),
        ] {
            assert_eq!(folder_safe(name), safe, "{name:?}");
            assert!(safe.is_empty() || is_valid_account_name(safe));
        }
    }

    #[test]
    fn missing_accounts_is_an_error() {
        let e = parse("sgops.yaml", "concurrency: 4\n").expect_err("no accounts");
        assert!(e[0].message.contains("accounts"));
    }
}
