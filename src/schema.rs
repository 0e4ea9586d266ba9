//! The JSON Schema of rule files, for editors (yaml-language-server) to check as people type.
//!
//! It mirrors the checks in `rules`; the loader stays the authority (host bits, duplicates,
//! guardrails are beyond a schema). A test keeps the two lists of keys in step.

use serde_json::{Value, json};

/// JSON Schema (draft 2020-12) of `rules/<account>/<region>/<name>.yaml`.
///
/// It accepts what `validate` accepts wherever JSON Schema can say so: names of protocols in
/// any case, protocol numbers as text, plain YAML numbers and booleans where `validate` takes
/// them as text (`id: 12`), empty optional values. Patterns are ECMA-262, as editors run them.
pub fn rule_file_schema() -> Value {
    let hex_id = |prefix: &str| format!("^{prefix}-([0-9a-f]{{8}}|[0-9a-f]{{17}})$");
    let peer = |key: &str| json!({ "required": [key] });
    // 0-65535 without leading zeros, as `validate` reads ports.
    let port =
        "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)";
    // A plain YAML number or boolean, which `validate` takes as the text it was written as.
    let plain_scalar = json!({ "type": ["number", "boolean"] });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://sgops.dev/schema/rule-file.json",
        "title": "sgops rule file",
        "description": "Approved exception rules for one security group in one account and region.",
        "type": "object",
        "additionalProperties": false,
        "required": ["security_group", "rules"],
        "properties": {
            "security_group": {
                "description": "The group these rules belong to: its id, or its name within a VPC.",
                "oneOf": [
                    { "type": "string", "pattern": hex_id("sg") },
                    {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["name", "vpc"],
                        "properties": {
                            "name": {
                                "anyOf": [
                                    { "type": "string", "minLength": 1, "maxLength": 255 },
                                    plain_scalar
                                ]
                            },
                            "vpc": { "type": "string", "pattern": hex_id("vpc") }
                        }
                    }
                ]
            },
            "rules": { "type": "array", "items": { "$ref": "#/$defs/rule" } }
        },
        "$defs": {
            "rule": {
                "type": "object",
                "additionalProperties": false,
                "required": ["id", "direction", "protocol", "ticket"],
                "oneOf": [peer("cidr"), peer("cidr_ipv6"), peer("prefix_list"), peer("security_group")],
                "properties": {
                    "id": {
                        "description": "Unique within its security group; becomes the sgops:rule tag.",
                        "anyOf": [
                            { "type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$" },
                            { "type": "number", "minimum": 0 },
                            { "type": "boolean" }
                        ]
                    },
                    "direction": { "enum": ["ingress", "egress"] },
                    "protocol": {
                        "description": "tcp, udp, icmp, icmpv6, all (any case), or an IP protocol number 0-255 (-1: all).",
                        "anyOf": [
                            { "enum": ["tcp", "udp", "icmp", "icmpv6", "all"] },
                            {
                                "type": "string",
                                "pattern": "^([Tt][Cc][Pp]|[Uu][Dd][Pp]|[Ii][Cc][Mm][Pp]|[Ii][Cc][Mm][Pp][Vv]6|[Aa][Ll][Ll]|-1|25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$"
                            },
                            { "type": "integer", "minimum": -1, "maximum": 255 }
                        ]
                    },
                    "ports": {
                        "description": "443, \"8000-8100\", or { type, code } for icmp. Absent: all.",
                        "oneOf": [
                            { "type": "integer", "minimum": 0, "maximum": 65535 },
                            { "type": "string", "pattern": format!("^\\s*{port}\\s*(-\\s*{port}\\s*)?$") },
                            {
                                "type": "object",
                                "additionalProperties": false,
                                "properties": {
                                    "type": { "type": "integer", "minimum": -1, "maximum": 255 },
                                    "code": { "type": "integer", "minimum": -1, "maximum": 255 }
                                }
                            }
                        ]
                    },
                    "cidr": { "type": "string", "description": "IPv4 network, e.g. 203.0.113.0/24 (no host bits)." },
                    "cidr_ipv6": { "type": "string", "description": "IPv6 network, e.g. 2001:db8::/64." },
                    "prefix_list": { "type": "string", "pattern": "^pl-[0-9a-f]{8,17}$" },
                    "security_group": { "type": "string", "pattern": hex_id("sg") },
                    "description": {
                        "anyOf": [
                            {
                                "type": "string", "maxLength": 255,
                                "pattern": "^[a-zA-Z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]*$"
                            },
                            plain_scalar,
                            { "type": "null" }
                        ]
                    },
                    "ticket": {
                        "description": "The approval this exception rests on.",
                        "type": ["string", "integer", "boolean"], "minLength": 1, "maxLength": 128,
                        "pattern": "\\S"
                    },
                    "expires": {
                        "description": "On and after this date the rule is revoked.",
                        "anyOf": [
                            { "type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" },
                            { "type": "null" }
                        ]
                    },
                    "tags": {
                        "type": ["object", "null"],
                        "propertyNames": { "minLength": 1, "maxLength": 128, "not": { "pattern": "^[Aa][Ww][Ss]:" } },
                        "additionalProperties": { "type": ["string", "integer", "boolean"], "maxLength": 256 }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RULE_KEYS;

    /// Every `pattern` in the schema, wherever it is.
    fn patterns(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("pattern", Value::String(p)) => out.push(p.clone()),
                        _ => patterns(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| patterns(v, out)),
            _ => {}
        }
    }

    #[test]
    fn patterns_use_no_syntax_that_ecma_262_lacks() {
        // Editors run patterns as JavaScript regular expressions: no inline flags such as
        // `(?i)`, no possessive or atomic groups, no `\A` or `\z`.
        let mut all = Vec::new();
        patterns(&rule_file_schema(), &mut all);
        assert!(all.len() >= 8, "{all:?}");
        for p in all {
            for bad in [
                "(?i", "(?s", "(?m", "(?x", "(?>", "++", "*+", "\\A", "\\z", "\\Z",
            ] {
                assert!(!p.contains(bad), "pattern {p} contains {bad}");
            }
        }
    }

    #[test]
    fn schema_lists_exactly_the_keys_the_loader_accepts() {
        let s = rule_file_schema();
        let props = s["$defs"]["rule"]["properties"]
            .as_object()
            .expect("rule properties");
        let mut from_schema: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut from_loader = RULE_KEYS.to_vec();
        from_schema.sort();
        from_loader.sort();
        assert_eq!(from_schema, from_loader);
    }
}
