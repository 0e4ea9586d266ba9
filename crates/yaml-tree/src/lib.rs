//! The typeless YAML tree that sgops reads a rule file into before checking it: every value
//! of any type, with where it is, so that one rule's wrongly typed value or unknown key is a
//! problem of that rule and not a parser error that ends the file.
//!
//! A crate of its own for one reason: serde's generic code is compiled where it is
//! instantiated, and here it is compiled optimised even in debug builds (see the root
//! Cargo.toml), so a 1 MiB rule file is read in about a second in tests too, not four.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML value of any type, with where it is.
pub type Node = Spanned<Value>;

/// A YAML value as the parser read it, before sgops knows what it should be.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// A whole number above `i64::MAX`.
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What this is, for "must be X, not Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "empty",
            Value::Bool(_) => "true or false",
            Value::Int(_) | Value::Uint(_) | Value::Float(_) => "a number",
            Value::Str(_) => "text",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Uint(v), Value::Int))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
                Ok(u64::try_from(v).map_or(Value::Float(v as f64), |v| {
                    i64::try_from(v).map_or(Value::Uint(v), Value::Int)
                }))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = s.next_element()? {
                    items.push(item);
                }
                Ok(Value::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    entries.push(entry);
                }
                Ok(Value::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// The top level of a rule file: its two keys as trees, and any other key.
pub struct RawFile {
    pub security_group: Option<Node>,
    pub rules: Option<Node>,
    /// Keys other than the two; their values are skipped unread (an alias bomb under a
    /// misspelt key is never expanded).
    pub unknown: Vec<Node>,
}

impl<'de> Deserialize<'de> for RawFile {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rule file (a mapping with `security_group` and `rules`)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawFile, A::Error> {
                let mut file = RawFile {
                    security_group: None,
                    rules: None,
                    unknown: Vec::new(),
                };
                while let Some(key) = m.next_key::<Node>()? {
                    match &key.value {
                        Value::Str(k) if k == "security_group" => {
                            file.security_group = Some(m.next_value()?);
                        }
                        Value::Str(k) if k == "rules" => file.rules = Some(m.next_value()?),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            file.unknown.push(key);
                        }
                    }
                }
                Ok(file)
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses a rule file's text into its tree with the given parser options.
///
/// Not generic on purpose: the parser's generic code is instantiated here, in this crate.
pub fn parse_rule_file(
    text: &str,
    options: serde_saphyr::Options,
) -> Result<RawFile, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options)
}
