//! The allow-list as data: what each service allows, and the parameter's value parsed. Pure:
//! the fuzz crate compiles this file (for `invoke`'s checks) without the AWS SDK.

use std::collections::{BTreeMap, BTreeSet};

/// Allowed actions by service, exactly as listed (matching is exact: `authorize_security_group`
/// does not allow `authorize_security_group_ingress`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    services: BTreeMap<String, BTreeSet<String>>,
}

impl Allowlist {
    /// An allow-list with one service, for tests and in-memory runs.
    pub fn with(service: &str, actions: &[&str]) -> Allowlist {
        let mut a = Allowlist::default();
        a.insert(service, actions.iter().map(|s| s.to_string()).collect());
        a
    }

    pub fn insert(&mut self, service: &str, actions: BTreeSet<String>) {
        self.services.insert(service.to_string(), actions);
    }

    /// Whether `action` of `service` is listed. A service never fetched allows nothing.
    pub fn allows(&self, service: &str, action: &str) -> bool {
        self.services
            .get(service)
            .is_some_and(|set| set.contains(action))
    }

    pub fn actions(&self, service: &str) -> Option<&BTreeSet<String>> {
        self.services.get(service)
    }
}

/// Parses a parameter value: `{"a","b"}` (the seed format), `a,b`, or an SSM StringList
/// (which SSM returns as `a,b`). Whitespace and quotes around names are dropped.
pub fn parse_value(value: &str) -> BTreeSet<String> {
    let v = value.trim();
    let v = v
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .or_else(|| v.strip_prefix('[').and_then(|s| s.strip_suffix(']')))
        .unwrap_or(v);
    v.split([',', '\n'])
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
