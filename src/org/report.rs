//! What `sgops accounts` prints: one [`Report`], as text for people or as JSON. Pure.
//!
//! JSON (`--format json`), version 1:
//!
//! ```json
//! {"version": 1,
//!  "scope": {"ous": []},                                  // [] = the whole organization
//!  "accounts": {"itx-016": "111111111111"},               // the map sgops.yaml should hold
//!  "added": [{"name": "…", "id": "…"}],
//!  "removed": [{"name": "…", "id": "…", "reason": "SUSPENDED in the organization"}],
//!  "renamed": [{"id": "…", "from": "old", "to": "new",
//!               "rules_from": "rules/old/", "rules_to": "rules/new/"}],
//!  "id_changed": [{"name": "…", "from": "old id", "to": "new id"}],
//!  "inactive": [{"name": "…", "id": "…", "state": "SUSPENDED"}],
//!  "excluded": [{"name": "…", "id": "…"}],
//!  "differs": true,
//!  "written": false}
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::map::{Diff, Entry, IdChanged, Inactive, Managed, Removed};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub scope: Scope,
    pub accounts: BTreeMap<String, String>,
    pub added: Vec<Entry>,
    pub removed: Vec<Removed>,
    pub renamed: Vec<Rename>,
    pub id_changed: Vec<IdChanged>,
    pub inactive: Vec<Inactive>,
    pub excluded: Vec<Entry>,
    pub differs: bool,
    pub written: bool,
    /// What was done or must be done beside sgops.yaml (rule folders), for the text form.
    #[serde(skip)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub ous: Vec<String>,
}

/// A rename, with the rule folder that moves with it.
#[derive(Debug, Clone, Serialize)]
pub struct Rename {
    pub id: String,
    pub from: String,
    pub to: String,
    pub rules_from: String,
    pub rules_to: String,
}

impl Report {
    /// `rules` is the rule directory as the user named it (for folder paths).
    pub fn new(managed: &Managed, diff: &Diff, ous: &[String], rules: &str) -> Report {
        let folder = |name: &str| format!("{}/{name}/", rules.trim_end_matches('/'));
        Report {
            version: 1,
            scope: Scope { ous: ous.to_vec() },
            accounts: managed.accounts.clone(),
            added: diff.added.clone(),
            removed: diff.removed.clone(),
            renamed: diff
                .renamed
                .iter()
                .map(|r| Rename {
                    id: r.id.clone(),
                    from: r.from.clone(),
                    to: r.to.clone(),
                    rules_from: folder(&r.from),
                    rules_to: folder(&r.to),
                })
                .collect(),
            id_changed: diff.id_changed.clone(),
            inactive: managed.inactive.clone(),
            excluded: managed.excluded.clone(),
            differs: !diff.is_empty(),
            written: false,
            notes: Vec::new(),
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// For a terminal or a CI log; `config` names sgops.yaml.
    pub fn text(&self, config: &str) -> String {
        let mut s = String::new();
        let scope = if self.scope.ous.is_empty() {
            "the whole organization".to_string()
        } else {
            format!("under {}", self.scope.ous.join(", "))
        };
        let _ = writeln!(
            s,
            "AWS Organizations, {scope}: {} active accounts managed, {} not active, {} excluded",
            self.accounts.len(),
            self.inactive.len(),
            self.excluded.len()
        );
        for a in &self.added {
            let _ = writeln!(s, "  + added       {:<28} {}", a.name, a.id);
        }
        for r in &self.removed {
            let _ = writeln!(s, "  - removed     {:<28} {}  ({})", r.name, r.id, r.reason);
        }
        for r in &self.renamed {
            let _ = writeln!(
                s,
                "  ~ renamed     {:<28} {}  (the rule folder {} must move to {})",
                format!("{} -> {}", r.from, r.to),
                r.id,
                r.rules_from,
                r.rules_to
            );
        }
        for c in &self.id_changed {
            let _ = writeln!(s, "  ! id changed  {:<28} {} -> {}", c.name, c.from, c.to);
        }
        for i in &self.inactive {
            let _ = writeln!(s, "  not managed: {} ({}) is {}", i.name, i.id, i.state);
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        let _ = match (self.differs, self.written) {
            (false, _) => writeln!(s, "{config} is in step with the organization."),
            (true, true) => writeln!(s, "{config}: accounts: block rewritten."),
            (true, false) => writeln!(
                s,
                "{config} differs; `sgops accounts --write` rewrites its accounts: block."
            ),
        };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::map::Renamed;

    #[test]
    fn text_and_json_say_the_same() {
        let mut m = Managed::default();
        m.accounts.insert("new".into(), "222222222222".into());
        m.inactive.push(Inactive {
            name: "closed".into(),
            id: "333333333333".into(),
            state: "SUSPENDED".into(),
        });
        let d = Diff {
            renamed: vec![Renamed {
                id: "222222222222".into(),
                from: "old".into(),
                to: "new".into(),
            }],
            ..Diff::default()
        };
        let r = Report::new(&m, &d, &[], "rules/");
        let text = r.text("sgops.yaml");
        assert!(
            text.contains("~ renamed     old -> new                   222222222222  (the rule folder rules/old/ must move to rules/new/)"),
            "{text}"
        );
        assert!(
            text.contains("not managed: closed (333333333333) is SUSPENDED"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "sgops.yaml differs; `sgops accounts --write` rewrites its accounts: block.\n"
            ),
            "{text}"
        );
        let j: serde_json::Value = serde_json::from_str(&r.json()).expect("json");
        assert_eq!(j["version"], 1);
        assert_eq!(j["renamed"][0]["rules_to"], "rules/new/");
        assert_eq!(j["accounts"]["new"], "222222222222");
        assert_eq!(j["differs"], true);
        let same = Report::new(&m, &Diff::default(), &["r-ab12".into()], "rules");
        assert!(same.text("x.yaml").starts_with(
            "AWS Organizations, under r-ab12: 1 active accounts managed, 1 not active, 0 excluded\n"
        ));
        assert!(
            same.text("x.yaml")
                .ends_with("x.yaml is in step with the organization.\n")
        );
    }
}
