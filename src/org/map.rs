//! From the organization's accounts to sgops's account map, and what differs from
//! sgops.yaml. Pure.
//!
//! An account's name is its Organizations name made folder-safe ([`folder_safe`]) unless
//! `organization.names` gives one; `organization.exclude` (names or ids) are never listed;
//! only `ACTIVE` accounts are managed. Two accounts with one name are an error naming both.
//!
//! Accounts are matched with sgops.yaml by id first: the same id under another name is a
//! rename (its rule folder must move). An id the map does not know whose name sgops.yaml
//! has for an id the organization no longer lists is that name's id changing. Per-account
//! options (`role_name`, `regions`) stay with the account id: kept across a rename, not
//! carried over to the other account of an id change.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::OrgAccount;
use crate::config::{Config, Organization, folder_safe};
use crate::escape;

/// The accounts sgops manages, and those it does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Managed {
    /// Name → id of every ACTIVE account not excluded.
    pub accounts: BTreeMap<String, String>,
    /// Accounts that are not ACTIVE (suspended, closed), not excluded.
    pub inactive: Vec<Inactive>,
    /// Accounts left out by `organization.exclude`.
    pub excluded: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub name: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inactive {
    /// The name sgops would give it.
    pub name: String,
    pub id: String,
    /// Its state in Organizations.
    pub state: String,
}

/// Why two or more accounts cannot be named, one message each (names and ids in them are
/// escaped for a terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamingErrors(pub Vec<String>);

/// The sgops name of `a`: `organization.names`, else its folded Organizations name.
fn name_of(a: &OrgAccount, org: &Organization) -> String {
    org.names
        .get(&a.id)
        .cloned()
        .unwrap_or_else(|| folder_safe(&a.name))
}

/// Names the organization's accounts and sorts them into managed, inactive and excluded.
/// An account listed twice (it sits under two of the OUs asked for) counts once.
pub fn managed(accounts: &[OrgAccount], org: &Organization) -> Result<Managed, NamingErrors> {
    let mut out = Managed::default();
    let mut errors = Vec::new();
    // Name → the accounts that take it, for the collision messages.
    let mut holders: BTreeMap<String, Vec<&OrgAccount>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut sorted: Vec<&OrgAccount> = accounts.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for a in sorted {
        if !seen.insert(a.id.as_str()) {
            continue;
        }
        let name = name_of(a, org);
        if org.exclude.iter().any(|x| *x == a.id || *x == name) {
            out.excluded.push(Entry {
                name,
                id: a.id.clone(),
            });
            continue;
        }
        if !a.is_active() {
            out.inactive.push(Inactive {
                name,
                id: a.id.clone(),
                state: escape::terminal(&a.state),
            });
            continue;
        }
        if name.is_empty() {
            errors.push(format!(
                "account {} (`{}` in Organizations) has no letter or digit to make a folder name of: name it in organization.names (\"{}\": <name>) or exclude it",
                a.id,
                escape::terminal(&a.name),
                a.id
            ));
            continue;
        }
        holders.entry(name).or_default().push(a);
    }
    for (name, accounts) in holders {
        match accounts.as_slice() {
            [one] => {
                out.accounts.insert(name, one.id.clone());
            }
            many => {
                let who: Vec<String> = many
                    .iter()
                    .map(|a| format!("{} (`{}`)", a.id, escape::terminal(&a.name)))
                    .collect();
                errors.push(format!(
                    "accounts {} would all be named `{name}`: give all but one another name in organization.names (\"{}\": {name}-2), or exclude them in organization.exclude",
                    who.join(" and "),
                    many[1].id
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(NamingErrors(errors))
    }
}

/// An account in sgops.yaml that leaves the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub name: String,
    pub id: String,
    pub reason: String,
}

/// Same account id, new name: `rules/<from>/` must become `rules/<to>/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    pub id: String,
    pub from: String,
    pub to: String,
}

/// Same name, another account id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdChanged {
    pub name: String,
    pub from: String,
    pub to: String,
}

/// What differs between sgops.yaml and the organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub added: Vec<Entry>,
    pub removed: Vec<Removed>,
    pub renamed: Vec<Renamed>,
    pub id_changed: Vec<IdChanged>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.renamed.is_empty()
            && self.id_changed.is_empty()
    }
}

/// Compares the managed accounts with `accounts` of sgops.yaml. `scope` names what was read
/// (for the reason of a removal): `None` for the whole organization, else the OUs.
pub fn diff(managed: &Managed, config: &Config, scope: &[String]) -> Diff {
    let mut out = Diff::default();
    let config_by_id: BTreeMap<&str, &str> = config
        .accounts
        .iter()
        .map(|(n, a)| (a.id.as_str(), n.as_str()))
        .collect();
    let org_ids: BTreeSet<&str> = managed.accounts.values().map(String::as_str).collect();
    // Names of sgops.yaml whose id the organization no longer manages: free for an id change.
    let mut gone: BTreeMap<&str, &str> = config
        .accounts
        .iter()
        .filter(|(_, a)| !org_ids.contains(a.id.as_str()))
        .map(|(n, a)| (n.as_str(), a.id.as_str()))
        .collect();
    for (name, id) in &managed.accounts {
        match config_by_id.get(id.as_str()) {
            Some(old) if *old == name => {}
            Some(old) => out.renamed.push(Renamed {
                id: id.clone(),
                from: (*old).to_string(),
                to: name.clone(),
            }),
            None => match gone.remove(name.as_str()) {
                Some(old_id) => out.id_changed.push(IdChanged {
                    name: name.clone(),
                    from: old_id.to_string(),
                    to: id.clone(),
                }),
                None => out.added.push(Entry {
                    name: name.clone(),
                    id: id.clone(),
                }),
            },
        }
    }
    for (name, id) in gone {
        let reason = if let Some(i) = managed.inactive.iter().find(|i| i.id == id) {
            format!("{} in the organization", i.state)
        } else if managed.excluded.iter().any(|e| e.id == id) {
            "excluded by organization.exclude".to_string()
        } else if scope.is_empty() {
            "not in the organization".to_string()
        } else {
            format!("not in the organization under {}", scope.join(", "))
        };
        out.removed.push(Removed {
            name: name.to_string(),
            id: id.to_string(),
            reason,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Account;

    fn acct(id: &str, name: &str, state: &str) -> OrgAccount {
        OrgAccount {
            id: id.into(),
            name: name.into(),
            state: state.into(),
        }
    }

    fn config(accounts: &[(&str, &str)]) -> Config {
        let mut c = Config::default();
        for (n, id) in accounts {
            c.accounts.insert(
                n.to_string(),
                Account {
                    id: id.to_string(),
                    ..Account::default()
                },
            );
        }
        c
    }

    #[test]
    fn names_are_folded_overridden_and_excluded_and_only_active_accounts_managed() {
        let mut org = Organization::default();
        org.names.insert("333333333333".into(), "legacy".into());
        org.exclude = vec!["sandbox".into(), "555555555555".into()];
        let accounts = [
            acct("111111111111", "ITX 016", "ACTIVE"),
            acct("222222222222", "Payments (Prod)", "ACTIVE"),
            acct("333333333333", "old name", "ACTIVE"),
            acct("444444444444", "Sandbox", "ACTIVE"),
            acct("555555555555", "Anything", "ACTIVE"),
            acct("666666666666", "Closed One", "SUSPENDED"),
            // Under two of the OUs asked for: once.
            acct("111111111111", "ITX 016", "ACTIVE"),
        ];
        let m = managed(&accounts, &org).expect("no collision");
        let names: Vec<(&str, &str)> = m
            .accounts
            .iter()
            .map(|(n, i)| (n.as_str(), i.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("itx-016", "111111111111"),
                ("legacy", "333333333333"),
                ("payments-prod", "222222222222"),
            ]
        );
        assert_eq!(
            m.inactive,
            [Inactive {
                name: "closed-one".into(),
                id: "666666666666".into(),
                state: "SUSPENDED".into()
            }]
        );
        assert_eq!(
            m.excluded.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["444444444444", "555555555555"]
        );
    }

    #[test]
    fn collisions_and_empty_names_are_errors_naming_the_accounts() {
        let org = Organization::default();
        let e = managed(
            &[
                acct("111111111111", "ITX 016", "ACTIVE"),
                acct("222222222222", "itx_016", "ACTIVE"),
                acct("333333333333", "\u{65e5}\u{672c}", "ACTIVE"),
                // Not managed, so no collision.
                acct("444444444444", "ITX-016", "SUSPENDED"),
            ],
            &org,
        )
        .expect_err("collision");
        assert_eq!(e.0.len(), 2, "{e:?}");
        assert!(
            e.0[0].starts_with(
                "account 333333333333 (`\u{65e5}\u{672c}` in Organizations) has no letter or digit"
            ),
            "{e:?}"
        );
        assert!(
            e.0[1].starts_with(
                "accounts 111111111111 (`ITX 016`) and 222222222222 (`itx_016`) would all be named `itx-016`"
            ),
            "{e:?}"
        );
        // A name override resolves it.
        let mut org = Organization::default();
        org.names.insert("222222222222".into(), "itx-016-b".into());
        assert!(
            managed(
                &[
                    acct("111111111111", "ITX 016", "ACTIVE"),
                    acct("222222222222", "itx_016", "ACTIVE")
                ],
                &org
            )
            .is_ok()
        );
    }

    #[test]
    fn control_characters_in_aws_names_are_escaped_in_messages() {
        let e = managed(
            &[
                acct("111111111111", "a\nb", "ACTIVE"),
                acct("222222222222", "a b", "ACTIVE"),
            ],
            &Organization::default(),
        )
        .expect_err("collision");
        assert!(e.0[0].contains("(`a\\nb`)"), "{e:?}");
    }

    #[test]
    fn differences_are_added_removed_renamed_and_id_changed() {
        let cfg = config(&[
            ("same", "111111111111"),
            ("old-name", "222222222222"),
            ("moved", "333333333333"),
            ("suspended", "444444444444"),
            ("gone", "555555555555"),
            ("skipped", "777777777777"),
        ]);
        let mut m = Managed::default();
        for (n, id) in [
            ("same", "111111111111"),
            ("new-name", "222222222222"),
            ("moved", "999999999999"),
            ("fresh", "666666666666"),
        ] {
            m.accounts.insert(n.into(), id.into());
        }
        m.inactive.push(Inactive {
            name: "suspended".into(),
            id: "444444444444".into(),
            state: "SUSPENDED".into(),
        });
        m.excluded.push(Entry {
            name: "skipped".into(),
            id: "777777777777".into(),
        });
        let d = diff(&m, &cfg, &[]);
        assert_eq!(
            d.added,
            [Entry {
                name: "fresh".into(),
                id: "666666666666".into()
            }]
        );
        assert_eq!(
            d.renamed,
            [Renamed {
                id: "222222222222".into(),
                from: "old-name".into(),
                to: "new-name".into()
            }]
        );
        assert_eq!(
            d.id_changed,
            [IdChanged {
                name: "moved".into(),
                from: "333333333333".into(),
                to: "999999999999".into()
            }]
        );
        let removed: Vec<(&str, &str)> = d
            .removed
            .iter()
            .map(|r| (r.name.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            removed,
            [
                ("gone", "not in the organization"),
                ("skipped", "excluded by organization.exclude"),
                ("suspended", "SUSPENDED in the organization"),
            ]
        );
        assert!(!d.is_empty());
        let scoped = diff(&m, &cfg, &["ou-ab12-cdefgh34".into()]);
        assert_eq!(
            scoped.removed[0].reason,
            "not in the organization under ou-ab12-cdefgh34"
        );
        // In step: nothing differs.
        let same = config(&[("same", "111111111111")]);
        let mut only = Managed::default();
        only.accounts.insert("same".into(), "111111111111".into());
        assert!(diff(&only, &same, &[]).is_empty());
    }

    #[test]
    fn two_accounts_swapping_names_are_two_renames() {
        let cfg = config(&[("a", "111111111111"), ("b", "222222222222")]);
        let mut m = Managed::default();
        m.accounts.insert("a".into(), "222222222222".into());
        m.accounts.insert("b".into(), "111111111111".into());
        let d = diff(&m, &cfg, &[]);
        assert_eq!(d.renamed.len(), 2);
        assert!(d.added.is_empty() && d.removed.is_empty() && d.id_changed.is_empty());
    }
}
