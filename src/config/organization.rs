//! `organization:` of sgops.yaml: where `sgops accounts` reads AWS Organizations, which part
//! of it, and how the accounts it finds are named. Pure: raw values in, [`Organization`] and
//! diagnostics out.
//!
//! ```yaml
//! organization:
//!   region: us-east-1                        # Organizations endpoint (default us-east-1)
//!   ous: [ou-ab12-cdefgh34]                  # only accounts under these OUs (recursively)
//!   names: { "123456789012": itx-016 }       # account id → name, instead of its folded name
//!   exclude: [sandbox, "210987654321"]       # names or ids never listed
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};
use serde_saphyr::Spanned;

use super::{is_valid_account_id, is_valid_account_name};
use crate::diag::{Diagnostic, Pos};
use crate::rules::is_valid_region;
use crate::yaml;

/// The validated `organization:` section, defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Region of the Organizations endpoint the caller's credentials are used in.
    pub region: String,
    /// OU (or root) ids whose accounts, recursively, are the managed set; empty: every account.
    pub ous: Vec<String>,
    /// Account id → the name sgops uses for it (overrides the folded Organizations name).
    pub names: BTreeMap<String, String>,
    /// Account names or ids never listed.
    pub exclude: Vec<String>,
}

impl Default for Organization {
    fn default() -> Self {
        Organization {
            region: "us-east-1".into(),
            ous: Vec::new(),
            names: BTreeMap::new(),
            exclude: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrganization {
    region: Option<Spanned<String>>,
    ous: Option<Vec<Spanned<Text>>>,
    names: Option<Pairs>,
    exclude: Option<Vec<Spanned<Text>>>,
}

/// A scalar that must be text: an unquoted number (an account id without quotes loses its
/// leading zeros) is kept with the problem, so the message can say to quote it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Text {
    text: String,
    unquoted_number: bool,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a name, or a quoted 12-digit account id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text {
                    text: v.to_string(),
                    unquoted_number: false,
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text {
                    text: v.to_string(),
                    unquoted_number: true,
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text {
                    text: v.to_string(),
                    unquoted_number: true,
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                // YAML reads `011111111111` (a leading zero) as a decimal number.
                let text = if v.fract() == 0.0 && (0.0..1e12).contains(&v) {
                    format!("{}", v as u64)
                } else {
                    v.to_string()
                };
                Ok(Text {
                    text,
                    unquoted_number: true,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping's entries in file order, keys with their place too (a problem with an account
/// id is shown at the id).
struct Pairs(Vec<(Spanned<Text>, Spanned<Text>)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of account ids to names")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<Spanned<Text>>()? {
                    out.push((k, m.next_value::<Spanned<Text>>()?));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// An OU id (`ou-ab12-cdefgh34`) or a root id (`r-ab12`), as Organizations spells them.
pub fn is_valid_ou_id(s: &str) -> bool {
    let lower_alnum = |p: &str, min: usize| {
        (min..=32).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    if let Some(rest) = s.strip_prefix("ou-") {
        return rest
            .split_once('-')
            .is_some_and(|(root, ou)| lower_alnum(root, 4) && lower_alnum(ou, 8));
    }
    s.strip_prefix("r-").is_some_and(|r| lower_alnum(r, 4))
}

fn quote_it(t: &Text) -> String {
    format!(
        "{} must be quoted (\"{:0>12}\"): unquoted numbers lose leading zeros",
        t.text, t.text
    )
}

/// Checks the raw section; every problem is one diagnostic at its value.
pub(super) fn check(path: &str, raw: RawOrganization, diags: &mut Vec<Diagnostic>) -> Organization {
    let mut org = Organization::default();
    if let Some(r) = raw.region {
        if !is_valid_region(&r.value) {
            diags.push(Diagnostic::error(
                yaml::pos(path, &r),
                format!(
                    "organization.region: `{}` is not an AWS region name (like us-east-1)",
                    r.value
                ),
            ));
        }
        org.region = r.value;
    }
    let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
    for ou in raw.ous.unwrap_or_default() {
        let p = yaml::pos(path, &ou);
        if !is_valid_ou_id(&ou.value.text) {
            diags.push(Diagnostic::error(
                p,
                format!(
                    "organization.ous: `{}` is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)",
                    ou.value.text
                ),
            ));
        } else if let Some(first) = seen.get(&ou.value.text) {
            diags.push(
                Diagnostic::error(
                    p,
                    format!("organization.ous: `{}` is listed twice", ou.value.text),
                )
                .with_related(first.clone(), "first listed here"),
            );
        } else {
            seen.insert(ou.value.text.clone(), p);
            org.ous.push(ou.value.text);
        }
    }
    let mut named: BTreeMap<String, (String, Pos)> = BTreeMap::new();
    for (id, name) in raw.names.map(|p| p.0).unwrap_or_default() {
        let p = yaml::pos(path, &name);
        let id_pos = yaml::pos(path, &id);
        let id = id.value;
        if id.unquoted_number {
            diags.push(Diagnostic::error(
                id_pos,
                format!("organization.names: account id {}", quote_it(&id)),
            ));
            continue;
        } else if !is_valid_account_id(&id.text) {
            diags.push(Diagnostic::error(
                id_pos,
                format!(
                    "organization.names: `{}` is not a 12-digit AWS account id (names maps account ids to names)",
                    id.text
                ),
            ));
            continue;
        }
        if name.value.unquoted_number {
            diags.push(Diagnostic::error(
                p,
                format!(
                    "organization.names: the name {} reads as a number: quote it",
                    name.value.text
                ),
            ));
            continue;
        }
        let n = name.value.text;
        if !is_valid_account_name(&n) {
            diags.push(Diagnostic::error(
                p,
                format!(
                    "organization.names: `{n}` must be a folder name of [A-Za-z0-9._-] (it names rules/<name>/)"
                ),
            ));
            continue;
        }
        if let Some((other, first)) = named.get(&n) {
            diags.push(
                Diagnostic::error(
                    p,
                    format!(
                        "organization.names: accounts {other} and {} are both named `{n}`",
                        id.text
                    ),
                )
                .with_related(first.clone(), "first named here"),
            );
            continue;
        }
        named.insert(n.clone(), (id.text.clone(), p));
        org.names.insert(id.text, n);
    }
    for x in raw.exclude.unwrap_or_default() {
        let p = yaml::pos(path, &x);
        if x.value.unquoted_number {
            diags.push(Diagnostic::error(
                p,
                format!("organization.exclude: account id {}", quote_it(&x.value)),
            ));
        } else if !is_valid_account_id(&x.value.text) && !is_valid_account_name(&x.value.text) {
            diags.push(Diagnostic::error(
                p,
                format!(
                    "organization.exclude: `{}` is neither an account name nor a 12-digit account id",
                    x.value.text
                ),
            ));
        } else {
            org.exclude.push(x.value.text);
        }
    }
    org
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    #[test]
    fn the_section_parses_with_its_defaults() {
        let c = parse(
            "sgops.yaml",
            "accounts: {}\norganization:\n  ous: [ou-ab12-cdefgh34, r-ab12]\n  names: { \"012345678901\": itx-016 }\n  exclude: [sandbox, \"210987654321\"]\n",
        )
        .expect("valid");
        let o = &c.organization;
        assert_eq!(o.region, "us-east-1");
        assert_eq!(o.ous, ["ou-ab12-cdefgh34", "r-ab12"]);
        assert_eq!(o.names["012345678901"], "itx-016");
        assert_eq!(o.exclude, ["sandbox", "210987654321"]);
        let d = parse("sgops.yaml", "accounts: {}\n").expect("valid");
        assert_eq!(d.organization, super::Organization::default());
    }

    #[test]
    fn mistakes_are_reported_at_their_line_and_column() {
        let e = parse(
            "sgops.yaml",
            "accounts: {}\norganization:\n  region: mars-1\n  ous: [ou-ab12-cdefgh34, OU-1, ou-ab12-cdefgh34]\n  names:\n    012345678901: a\n    \"12\": b\n    \"111111111111\": \"bad name\"\n    \"222222222222\": a\n    \"333333333333\": a\n  exclude: [210987654321, \"x/y\"]\n",
        )
        .expect_err("invalid");
        let got: Vec<(u32, u32, &str)> = e
            .iter()
            .map(|d| (d.pos.line, d.pos.col, d.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    3,
                    11,
                    "organization.region: `mars-1` is not an AWS region name (like us-east-1)"
                ),
                (
                    4,
                    27,
                    "organization.ous: `OU-1` is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)"
                ),
                (
                    4,
                    33,
                    "organization.ous: `ou-ab12-cdefgh34` is listed twice"
                ),
                (
                    6,
                    5,
                    "organization.names: account id 12345678901 must be quoted (\"012345678901\"): unquoted numbers lose leading zeros"
                ),
                (
                    7,
                    5,
                    "organization.names: `12` is not a 12-digit AWS account id (names maps account ids to names)"
                ),
                (
                    8,
                    21,
                    "organization.names: `bad name` must be a folder name of [A-Za-z0-9._-] (it names rules/<name>/)"
                ),
                (
                    10,
                    21,
                    "organization.names: accounts 222222222222 and 333333333333 are both named `a`"
                ),
                (
                    11,
                    13,
                    "organization.exclude: account id 210987654321 must be quoted (\"210987654321\"): unquoted numbers lose leading zeros"
                ),
                (
                    11,
                    27,
                    "organization.exclude: `x/y` is neither an account name nor a 12-digit account id"
                ),
            ],
            "{e:#?}"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = parse(
            "sgops.yaml",
            "accounts: {}\norganization:\n  ou: [r-ab12]\n",
        )
        .expect_err("unknown key");
        assert_eq!(e[0].pos.line, 3, "{e:#?}");
        assert!(e[0].message.contains("ou"), "{e:#?}");
    }

    #[test]
    fn ou_ids() {
        for ok in ["ou-ab12-cdefgh34", "r-ab12", "ou-abcd-1234567890ab"] {
            assert!(super::is_valid_ou_id(ok), "{ok}");
        }
        for bad in [
            "ou-ab12",
            "ou-AB12-cdefgh34",
            "r-a",
            "x-ab12",
            "ou-ab12-cdef",
            "",
        ] {
            assert!(!super::is_valid_ou_id(bad), "{bad}");
        }
    }
}
