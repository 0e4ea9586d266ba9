//! The rule file as written, before any meaning is checked: every value keeps its position.
//!
//! Fields are optional here even when the format requires them, so that a missing `ticket` is
//! reported beside every other problem of the file instead of stopping the parse.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_saphyr::Spanned;

/// Keys of a rule, in the order the docs and the schema list them.
pub const RULE_KEYS: &[&str] = &[
    "id",
    "direction",
    "protocol",
    "ports",
    "cidr",
    "cidr_ipv6",
    "prefix_list",
    "security_group",
    "description",
    "ticket",
    "expires",
    "tags",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub security_group: Option<Spanned<RawGroupRef>>,
    pub rules: Option<Spanned<Vec<Spanned<RawRule>>>>,
}

/// `sg-…` or `{ name, vpc }`.
pub enum RawGroupRef {
    Id(String),
    Name {
        name: Option<Spanned<String>>,
        vpc: Option<Spanned<String>>,
    },
}

impl<'de> Deserialize<'de> for RawGroupRef {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawGroupRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a security group id (sg-…) or { name, vpc }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawGroupRef, E> {
                Ok(RawGroupRef::Id(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawGroupRef, A::Error> {
                let (mut name, mut vpc) = (None, None);
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "name" => name = Some(m.next_value()?),
                        "vpc" => vpc = Some(m.next_value()?),
                        other => return Err(de::Error::unknown_field(other, &["name", "vpc"])),
                    }
                }
                Ok(RawGroupRef::Name { name, vpc })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub id: Option<Spanned<String>>,
    pub direction: Option<Spanned<String>>,
    pub protocol: Option<Spanned<Scalar>>,
    pub ports: Option<Spanned<RawPorts>>,
    pub cidr: Option<Spanned<String>>,
    pub cidr_ipv6: Option<Spanned<String>>,
    pub prefix_list: Option<Spanned<String>>,
    pub security_group: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub ticket: Option<Spanned<Scalar>>,
    pub expires: Option<Spanned<String>>,
    pub tags: Option<Spanned<BTreeMap<String, Scalar>>>,
}

/// YAML reads `012345` (a leading zero) and `1.5` as decimal numbers: `ticket: 012345` would
/// lose its zero, so such values are refused with what to do instead of a type error.
const DECIMAL: &str = "this number reads as a decimal (YAML does so for a leading zero or a `.`): write the value in quotes";

/// A scalar that may be written as a word or a number (`protocol: 6`, `ticket: 12345`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    Str(String),
    Int(i64),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Int(i) => write!(f, "{i}"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a word or a whole number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom(format!("number {v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
                Err(E::custom(DECIMAL))
            }
        }
        d.deserialize_any(V)
    }
}

/// `443`, `"8000-8100"`, or `{ type: 8, code: -1 }` for icmp.
pub enum RawPorts {
    Scalar(Scalar),
    Icmp {
        icmp_type: Option<Spanned<i64>>,
        code: Option<Spanned<i64>>,
    },
}

impl<'de> Deserialize<'de> for RawPorts {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPorts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port (443), a range (\"8000-8100\") or { type, code } for icmp")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPorts, E> {
                Ok(RawPorts::Scalar(Scalar::Str(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPorts, E> {
                Ok(RawPorts::Scalar(Scalar::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPorts, E> {
                Ok(RawPorts::Scalar(Scalar::Int(
                    i64::try_from(v).unwrap_or(i64::MAX),
                )))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawPorts, E> {
                Err(E::custom(DECIMAL))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawPorts, A::Error> {
                let (mut icmp_type, mut code) = (None, None);
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "type" => icmp_type = Some(m.next_value()?),
                        "code" => code = Some(m.next_value()?),
                        other => return Err(de::Error::unknown_field(other, &["type", "code"])),
                    }
                }
                Ok(RawPorts::Icmp { icmp_type, code })
            }
        }
        d.deserialize_any(V)
    }
}
