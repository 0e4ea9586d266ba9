//! The JSON Schema of rule files, for editors (yaml-language-server) to check as people type.
//!
//! It mirrors the checks in `rules`; the loader stays the authority (host bits, duplicates,
//! guardrails are beyond a schema). A test keeps the two lists of keys in step.

use serde_json::{Value, json};

/// JSON Schema (draft 2020-12) of `rules/<account>/<region>/<name>.yaml`.
pub fn rule_file_schema() -> Value {
    let hex_id = |prefix: &str| format!("^{prefix}-([0-9a-f]{{8}}|[0-9a-f]{{17}})$");
    let peer = |key: &str| json!({ "required": [key] });
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
                            "name": { "type": "string", "minLength": 1, "maxLength": 255 },
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
                        "type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"
                    },
                    "direction": { "enum": ["ingress", "egress"] },
                    "protocol": {
                        "description": "tcp, udp, icmp, icmpv6, all, or an IP protocol number.",
                        "oneOf": [
                            { "enum": ["tcp", "udp", "icmp", "icmpv6", "all"] },
                            { "type": "integer", "minimum": -1, "maximum": 255 }
                        ]
                    },
                    "ports": {
                        "description": "443, \"8000-8100\", or { type, code } for icmp. Absent: all.",
                        "oneOf": [
                            { "type": "integer", "minimum": 0, "maximum": 65535 },
                            { "type": "string", "pattern": "^\\s*[0-9]{1,5}\\s*(-\\s*[0-9]{1,5}\\s*)?$" },
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
                        "type": "string", "maxLength": 255,
                        "pattern": "^[a-zA-Z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]*$"
                    },
                    "ticket": {
                        "description": "The approval this exception rests on.",
                        "type": ["string", "integer"], "minLength": 1, "maxLength": 128
                    },
                    "expires": {
                        "description": "On and after this date the rule is revoked.",
                        "type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
                    },
                    "tags": {
                        "type": "object",
                        "propertyNames": { "minLength": 1, "maxLength": 128, "not": { "pattern": "^(?i)aws:" } },
                        "additionalProperties": { "type": ["string", "integer"], "maxLength": 256 }
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
