//! The rule file as written, before any meaning is checked: every value keeps its position.
//!
//! A file is read in two steps so that one rule's mistake cannot hide another's. The parser
//! builds a typeless tree ([`Node`]) of the file's two keys; then each rule is read out of its
//! tree on its own, where an unknown key or a value of the wrong type is a diagnostic for that
//! rule, not a parser error that ends the file. Fields are optional here even when the format
//! requires them, so that a missing `ticket` is reported beside every other problem of the file.

use std::collections::BTreeSet;
use std::fmt;

use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Pos};
use crate::yaml;

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

/// The keys of a rule file.
const FILE_KEYS: &[&str] = &["security_group", "rules"];

pub use sgops_yaml_tree::{Node, RawFile, Value};

/// `sg-…` or `{ name, vpc }`.
pub enum RawGroupRef {
    Id(String),
    Name {
        name: Option<Spanned<String>>,
        vpc: Option<Spanned<String>>,
    },
}

/// Each tag's key and value, with their places.
pub type Tags = Vec<(Spanned<String>, Spanned<String>)>;

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
    pub ticket: Option<Spanned<String>>,
    pub expires: Option<Spanned<String>>,
    pub tags: Option<Spanned<Tags>>,
    /// Keys written with a value (not empty), usable or not: a key whose value was refused
    /// has its diagnostic already and is not reported again as missing.
    pub given: BTreeSet<&'static str>,
}

impl RawRule {
    /// Whether `key` was written with a value, even one that was refused.
    pub fn has(&self, key: &str) -> bool {
        self.given.contains(key)
    }
}

/// A scalar that may be written as a word or a number (`protocol: 6`, `protocol: tcp`).
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

/// `443`, `"8000-8100"`, or `{ type: 8, code: -1 }` for icmp.
pub enum RawPorts {
    Scalar(Scalar),
    Icmp {
        icmp_type: Option<Spanned<i64>>,
        code: Option<Spanned<i64>>,
    },
}

/// What is unusual about how a plain number is written: YAML reads it as a number whose
/// digits differ from what was typed, or one too large to keep exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Odd {
    LeadingZero,
    Fraction,
    Exponent,
    Hex,
    Octal,
    Binary,
    Separators,
    Plus,
    TooLarge,
}

impl Odd {
    /// How `written` (a plain scalar that YAML read as a number) departs from a plain decimal
    /// whole number; `None` when it is one (`443`, `-1`, `0`).
    fn of(written: &str) -> Option<Odd> {
        let lower = written.to_ascii_lowercase();
        let digits = lower.strip_prefix(['-', '+']).unwrap_or(&lower);
        Some(if written.starts_with('+') {
            Odd::Plus
        } else if digits.starts_with("0x") {
            Odd::Hex
        } else if digits.starts_with("0o") {
            Odd::Octal
        } else if digits.starts_with("0b") {
            Odd::Binary
        } else if digits.contains('_') {
            Odd::Separators
        } else if digits.contains('e') {
            Odd::Exponent
        } else if digits.contains('.') {
            Odd::Fraction
        } else if digits.len() > 1 && digits.starts_with('0') {
            Odd::LeadingZero
        } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            // Plain digits: fine when they fit; the reader says TooLarge otherwise.
            return None;
        } else {
            Odd::Fraction
        })
    }

    fn what(self) -> &'static str {
        match self {
            Odd::LeadingZero => "has a leading zero",
            Odd::Fraction => "has a decimal point",
            Odd::Exponent => "is in exponent notation",
            Odd::Hex => "is hexadecimal",
            Odd::Octal => "is octal",
            Odd::Binary => "is binary",
            Odd::Separators => "has digit separators (`_`)",
            Odd::Plus => "has a plus sign",
            Odd::TooLarge => "is too large",
        }
    }
}

/// Reads typed values out of one file's [`Node`]s, with diagnostics that point into it.
pub struct Reader<'a> {
    pub path: &'a str,
    /// The file's text: a number is reported as it was written (`0x16`, `1e3`), not as the
    /// value YAML made of it.
    pub text: &'a str,
}

/// A number field's name and range, for messages (`port`, `0-65535`).
struct Whole<'k> {
    what: &'k str,
    range: &'k str,
}

impl<'a> Reader<'a> {
    pub fn pos(&self, n: &Node) -> Pos {
        yaml::pos(self.path, n)
    }

    pub fn error(&self, n: &Node, message: String) -> Diagnostic {
        Diagnostic::error(self.pos(n), message)
    }

    /// The characters of a scalar as written, where it is defined (for an alias, at its anchor).
    fn written(&self, n: &Node) -> Option<&'a str> {
        let span = n.defined.span();
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        self.text.get(start..start.checked_add(len)?)
    }

    /// A scalar that YAML read as a number or boolean, as it was written.
    fn plain(&self, n: &Node) -> String {
        match (self.written(n), &n.value) {
            (Some(w), _) => w.to_string(),
            (None, Value::Bool(b)) => b.to_string(),
            (None, Value::Int(i)) => i.to_string(),
            (None, Value::Uint(u)) => u.to_string(),
            (None, Value::Float(f)) => f.to_string(),
            (None, v) => v.kind().to_string(),
        }
    }

    /// How a number that YAML read from `n` departs from plain decimal digits, if it does.
    fn odd(&self, n: &Node) -> Option<Odd> {
        let written = self.plain(n);
        Odd::of(&written).or(match n.value {
            Value::Float(_) | Value::Uint(_) => Some(Odd::TooLarge),
            _ => None,
        })
    }

    /// The value YAML made of a number, for messages.
    fn number(n: &Node) -> String {
        match n.value {
            Value::Int(i) => i.to_string(),
            Value::Uint(u) => u.to_string(),
            Value::Float(f) => f.to_string(),
            _ => String::new(),
        }
    }

    /// A key of a mapping as text: scalars as written, anything else refused.
    fn key(&self, k: &Node) -> Result<Spanned<String>, Diagnostic> {
        match &k.value {
            Value::Str(s) => Ok(spanned(k, s.clone())),
            Value::Bool(_) | Value::Int(_) | Value::Uint(_) | Value::Float(_) => {
                Ok(spanned(k, self.plain(k)))
            }
            v => Err(self.error(
                k,
                format!("a key must be a word like `id`, not {}", v.kind()),
            )),
        }
    }

    /// Text as written: a plain number or boolean is taken as its characters (`id: 12`).
    /// Empty is absent.
    fn text(&self, key: &str, n: &Node) -> Result<Option<Spanned<String>>, Diagnostic> {
        match &n.value {
            Value::Null => Ok(None),
            Value::Str(s) => Ok(Some(spanned(n, s.clone()))),
            Value::Bool(_) | Value::Int(_) | Value::Uint(_) | Value::Float(_) => {
                Ok(Some(spanned(n, self.plain(n))))
            }
            v => Err(self.error(n, format!("`{key}` must be text, not {}", v.kind()))),
        }
    }

    /// Text where YAML would change a number (`ticket: 012345` is the number 12345 to every
    /// other YAML reader): a number is accepted only as plain decimal digits.
    fn exact_text(&self, key: &str, n: &Node) -> Result<Option<Spanned<String>>, Diagnostic> {
        if matches!(n.value, Value::Int(_) | Value::Uint(_) | Value::Float(_))
            && let Some(odd) = self.odd(n)
        {
            let w = self.plain(n);
            let message = match odd {
                Odd::TooLarge => format!(
                    "`{w}` is too large a number for YAML to keep exactly: write the value in quotes (\"{w}\")"
                ),
                odd => format!(
                    "`{w}` {}, so YAML reads it as the number {}: write the value in quotes (\"{w}\") to keep it as written",
                    odd.what(),
                    Self::number(n)
                ),
            };
            return Err(self.error(n, message));
        }
        self.text(key, n)
    }

    /// A whole number written in plain decimal digits.
    fn whole(&self, field: &Whole<'_>, n: &Node) -> Result<i64, Diagnostic> {
        let (what, range) = (field.what, field.range);
        match (&n.value, self.odd(n)) {
            (Value::Int(i), None) => Ok(*i),
            (Value::Int(_) | Value::Uint(_) | Value::Float(_), Some(odd)) => {
                let w = self.plain(n);
                let v = Self::number(n);
                // `0x16`, `0443`, `1e3` and `443.0` name a whole number: say which. A fraction
                // (`1.5`) or a huge number names none that fits.
                let fix = match odd {
                    Odd::TooLarge => format!("it must be {range}"),
                    _ if v.contains(['.', 'i', 'N']) => {
                        format!("a {what} must be a whole number ({range})")
                    }
                    _ => format!("write {v}"),
                };
                Err(self.error(n, format!("{what} `{w}` {}: {fix}", odd.what())))
            }
            (v, _) => Err(self.error(
                n,
                format!("{what} must be a whole number ({range}), not {}", v.kind()),
            )),
        }
    }

    /// The `security_group` of a file: an id or `{ name, vpc }`. Empty is absent.
    pub fn group(&self, n: Node, diags: &mut Vec<Diagnostic>) -> Option<Spanned<RawGroupRef>> {
        match &n.value {
            Value::Null => None,
            Value::Str(_) | Value::Int(_) | Value::Uint(_) | Value::Float(_) | Value::Bool(_) => {
                let id = self.text("security_group", &n).ok().flatten()?.value;
                Some(spanned(&n, RawGroupRef::Id(id)))
            }
            Value::Map(entries) => {
                let (mut name, mut vpc) = (None, None);
                let mut ok = true;
                for (k, v) in entries {
                    let key = match self.key(k) {
                        Ok(key) => key,
                        Err(d) => {
                            diags.push(d);
                            ok = false;
                            continue;
                        }
                    };
                    let slot = match key.value.as_str() {
                        "name" => &mut name,
                        "vpc" => &mut vpc,
                        other => {
                            diags.push(unknown_key(self.pos(k), other, &["name", "vpc"]));
                            ok = false;
                            continue;
                        }
                    };
                    match self.text(&key.value, v) {
                        Ok(t) => *slot = t,
                        Err(d) => {
                            diags.push(d);
                            ok = false;
                        }
                    }
                }
                ok.then(|| spanned(&n, RawGroupRef::Name { name, vpc }))
            }
            v => {
                diags.push(self.error(
                    &n,
                    format!(
                        "`security_group` must be a security group id (sg-…) or {{ name, vpc }}, not {}",
                        v.kind()
                    ),
                ));
                None
            }
        }
    }

    /// One element of `rules`, every problem of its shape reported; `None` when it is not a
    /// mapping. Fields whose value was refused are left out (and listed in `given`).
    pub fn rule(&self, n: Node, diags: &mut Vec<Diagnostic>) -> Option<Spanned<RawRule>> {
        let Value::Map(entries) = &n.value else {
            diags.push(self.error(
                &n,
                format!(
                    "a rule must be a mapping (`key: value` lines or `{{ key: value }}`), not {}",
                    n.value.kind()
                ),
            ));
            return None;
        };
        let mut r = RawRule {
            id: None,
            direction: None,
            protocol: None,
            ports: None,
            cidr: None,
            cidr_ipv6: None,
            prefix_list: None,
            security_group: None,
            description: None,
            ticket: None,
            expires: None,
            tags: None,
            given: BTreeSet::new(),
        };
        for (k, v) in entries {
            let key = match self.key(k) {
                Ok(key) => key,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            let Some(&name) = RULE_KEYS.iter().find(|&&known| known == key.value) else {
                diags.push(unknown_key(self.pos(k), &key.value, RULE_KEYS));
                // `cidrr: …` is the peer misspelt, not a rule without a peer: one mistake,
                // one message.
                r.given.extend(closest(&key.value, RULE_KEYS));
                continue;
            };
            let refused = self
                .field(&mut r, name, v)
                .map_err(|d| diags.push(d))
                .is_err();
            if refused || v.value != Value::Null {
                r.given.insert(name);
            }
        }
        Some(spanned(&n, r))
    }

    /// Reads the value of rule key `name` into `r`.
    fn field(&self, r: &mut RawRule, name: &'static str, v: &Node) -> Result<(), Diagnostic> {
        match name {
            "id" => r.id = self.text(name, v)?,
            "direction" => r.direction = self.text(name, v)?,
            "cidr" => r.cidr = self.text(name, v)?,
            "cidr_ipv6" => r.cidr_ipv6 = self.text(name, v)?,
            "prefix_list" => r.prefix_list = self.text(name, v)?,
            "security_group" => r.security_group = self.text(name, v)?,
            "description" => r.description = self.text(name, v)?,
            "expires" => r.expires = self.text(name, v)?,
            "ticket" => r.ticket = self.exact_text(name, v)?,
            "protocol" => r.protocol = self.protocol(v)?,
            "ports" => r.ports = self.ports(v)?,
            "tags" => r.tags = self.tags(v)?,
            _ => {}
        }
        Ok(())
    }

    fn protocol(&self, n: &Node) -> Result<Option<Spanned<Scalar>>, Diagnostic> {
        let scalar = match &n.value {
            Value::Null => return Ok(None),
            Value::Str(s) => Scalar::Str(s.clone()),
            Value::Int(_) | Value::Uint(_) | Value::Float(_) => {
                let field = Whole {
                    what: "protocol",
                    range: "a protocol number 0-255",
                };
                match self.whole(&field, n) {
                    Ok(i) => Scalar::Int(i),
                    Err(_) if self.odd(n) == Some(Odd::TooLarge) => Scalar::Str(self.plain(n)),
                    Err(d) => return Err(d),
                }
            }
            Value::Bool(_) => Scalar::Str(self.plain(n)),
            v => {
                return Err(self.error(
                    n,
                    format!(
                        "`protocol` must be tcp, udp, icmp, icmpv6, all or a number 0-255, not {}",
                        v.kind()
                    ),
                ));
            }
        };
        Ok(Some(spanned(n, scalar)))
    }

    fn ports(&self, n: &Node) -> Result<Option<Spanned<RawPorts>>, Diagnostic> {
        let port = Whole {
            what: "port",
            range: "0-65535",
        };
        let ports = match &n.value {
            // Not "absent": an empty `ports:` left to fill in later must not open every port.
            Value::Null => {
                return Err(self.error(
                    n,
                    "`ports` is empty: write a port (443) or a range (\"8000-8100\"), or remove `ports` to mean every port".into(),
                ));
            }
            Value::Str(s) => RawPorts::Scalar(Scalar::Str(s.clone())),
            Value::Int(_) | Value::Uint(_) | Value::Float(_) => match self.whole(&port, n) {
                Ok(i) => RawPorts::Scalar(Scalar::Int(i)),
                Err(_) if self.odd(n) == Some(Odd::TooLarge) => {
                    return Err(self.error(n, format!("port {} is outside 0-65535", self.plain(n))));
                }
                Err(d) => return Err(d),
            },
            Value::Map(entries) => {
                let (mut icmp_type, mut code) = (None, None);
                for (k, v) in entries {
                    let key = self.key(k)?;
                    let (slot, what) = match key.value.as_str() {
                        "type" => (&mut icmp_type, "icmp type"),
                        "code" => (&mut code, "icmp code"),
                        other => return Err(unknown_key(self.pos(k), other, &["type", "code"])),
                    };
                    if v.value != Value::Null {
                        let field = Whole {
                            what,
                            range: "-1 for any, or 0-255",
                        };
                        *slot = Some(spanned(v, self.whole(&field, v)?));
                    }
                }
                RawPorts::Icmp { icmp_type, code }
            }
            v => {
                return Err(self.error(
                    n,
                    format!(
                        "`ports` must be a port (443), a range (\"8000-8100\") or {{ type, code }} for icmp, not {}",
                        v.kind()
                    ),
                ));
            }
        };
        Ok(Some(spanned(n, ports)))
    }

    fn tags(&self, n: &Node) -> Result<Option<Spanned<Tags>>, Diagnostic> {
        let entries = match &n.value {
            Value::Null => return Ok(None),
            Value::Map(entries) => entries,
            v => {
                return Err(self.error(
                    n,
                    format!(
                        "`tags` must be a mapping ({{ team: payments }}), not {}",
                        v.kind()
                    ),
                ));
            }
        };
        let mut tags = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let key = self.key(k)?;
            let value = match &v.value {
                Value::Null => {
                    return Err(self.error(
                        k,
                        format!(
                            "tag `{}` has no value: write one, or \"\" for an empty value",
                            key.value
                        ),
                    ));
                }
                _ => self.exact_text(&format!("tags.{}", key.value), v)?,
            };
            tags.extend(value.map(|value| (key, value)));
        }
        Ok(Some(spanned(n, tags)))
    }
}

/// `value` at the place of `n`.
fn spanned<T>(n: &Node, value: T) -> Spanned<T> {
    Spanned::new(value, n.referenced, n.defined)
}

/// The known key that `key` is probably a typo of (at most two edits away).
fn closest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min()
        .map(|(_, k)| k)
}

/// An unknown key, with the known key it is closest to when it looks like a typo.
pub fn unknown_key(pos: Pos, key: &str, known: &[&'static str]) -> Diagnostic {
    let hint = closest(key, known).map_or(String::new(), |k| format!(" (did you mean `{k}`?)"));
    Diagnostic::error(
        pos,
        format!(
            "unknown field `{key}`{hint}, expected one of {}",
            known.join(", ")
        ),
    )
}

/// Levenshtein distance, for short keys only (the caller compares with known key names).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().take(64).collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The file's unknown top-level keys, as diagnostics; returns the known keys they are
/// probably typos of (`rule:` for `rules`), which are then not reported missing too.
pub fn unknown_file_keys(
    reader: &Reader<'_>,
    file: &RawFile,
    diags: &mut Vec<Diagnostic>,
) -> Vec<&'static str> {
    let mut meant = Vec::new();
    for k in &file.unknown {
        match reader.key(k) {
            Ok(key) => {
                diags.push(unknown_key(reader.pos(k), &key.value, FILE_KEYS));
                meant.extend(closest(&key.value, FILE_KEYS));
            }
            Err(d) => diags.push(d),
        }
    }
    meant
}
