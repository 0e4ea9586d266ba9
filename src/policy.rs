//! Policy from the base branch: a pull request is untrusted until merged, so the parts of
//! sgops.yaml that decide what is allowed (the allow-list parameter, guardrails, quotas,
//! `rule_tags`, roles and external id) are taken from the commit the pull request targets,
//! and the pull request's own changes to them are only shown, to take effect after merge.
//!
//! I/O: [`read_at`] runs `git` to read sgops.yaml at a commit; the rest is pure.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::config::{self, Config};
use crate::diag::Diagnostic;

/// One policy setting that the pull request changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChange {
    /// The setting, as a path into sgops.yaml (`guardrails.world_open_denied_ports`).
    pub key: String,
    /// Its value on the base branch, which the plan obeys.
    pub base: String,
    /// Its value in the pull request, in effect after merge.
    pub proposed: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("--policy-from `{0}` is not a git revision (it may not start with `-`)")]
    BadRef(String),
    #[error("cannot run git to read the base branch's policy: {0}")]
    Git(std::io::Error),
    #[error(
        "commit `{reference}` (--policy-from) is not in this clone: {detail}; fetch it (actions/checkout with fetch-depth: 0)"
    )]
    UnknownCommit { reference: String, detail: String },
    #[error("cannot read {path} at `{reference}` (--policy-from): {detail}")]
    Read {
        path: String,
        reference: String,
        detail: String,
    },
    #[error(
        "{path} at `{reference}` (the base branch, --policy-from) is invalid, so no policy can come from it:\n{}",
        .problems.iter().map(|d| format!("  {}: {}", d.pos, crate::escape::terminal(&d.message))).collect::<Vec<_>>().join("\n")
    )]
    InvalidBase {
        path: String,
        reference: String,
        problems: Vec<Diagnostic>,
    },
}

/// The text of the configuration file `path` at commit `reference`, or `None` when the file
/// does not exist there (a repository's first sgops.yaml).
pub fn read_at(reference: &str, path: &Path) -> Result<Option<String>, PolicyError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sgops.yaml".into());
    read_in(reference, dir, &name, &path.display().to_string())
}

/// The text of `rel` (a `/`-separated path relative to `dir`, which must exist in the
/// working tree) at commit `reference`, or `None` when it does not exist there; `shown`
/// names it in errors.
pub fn read_in(
    reference: &str,
    dir: &Path,
    rel: &str,
    shown: &str,
) -> Result<Option<String>, PolicyError> {
    if reference.is_empty() || reference.starts_with('-') || reference.contains(':') {
        return Err(PolicyError::BadRef(crate::escape::terminal(reference)));
    }
    let name = rel;
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(PolicyError::Git)
    };
    // What git names `spec`, if it names anything (`rev-parse` reads trees, never blobs).
    let resolve = |spec: &str| -> Result<Option<String>, PolicyError> {
        let out = git(&["rev-parse", "--verify", "--quiet", "--end-of-options", spec])?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
    };
    let sha =
        resolve(&format!("{reference}^{{commit}}"))?.ok_or_else(|| PolicyError::UnknownCommit {
            reference: reference.to_string(),
            detail: "git rev-parse does not know it".into(),
        })?;
    // `./name` is relative to `dir`, wherever that is in the repository. Whether the path is
    // there is read from the trees alone (`rev-parse`), so a clone without blobs cannot pass
    // for "no sgops.yaml at the base": a blob it cannot read is an error below.
    let object = format!("{sha}:./{name}");
    if resolve(&object)?.is_none() {
        return Ok(None);
    }
    let out = git(&["cat-file", "blob", &object])?;
    if !out.status.success() {
        return Err(PolicyError::Read {
            path: shown.to_string(),
            reference: reference.to_string(),
            detail: crate::escape::terminal(String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    String::from_utf8(out.stdout)
        .map(Some)
        .map_err(|_| PolicyError::Read {
            path: shown.to_string(),
            reference: reference.to_string(),
            detail: "it is not UTF-8".into(),
        })
}

/// The base branch's configuration from its text (`None`: no sgops.yaml there, so the
/// built-in defaults are the policy).
pub fn base_config(
    text: Option<&str>,
    path: &Path,
    reference: &str,
) -> Result<Config, PolicyError> {
    let Some(text) = text else {
        return Ok(Config::default());
    };
    let shown = format!("{} at {reference}", path.display());
    config::parse(&shown, text).map_err(|problems| PolicyError::InvalidBase {
        path: path.display().to_string(),
        reference: reference.to_string(),
        problems,
    })
}

/// `proposed` (the pull request's configuration) with the policy of `base`: accounts,
/// regions and concurrency stay the pull request's; the role names (write and read) of an
/// account that the base also lists are the base's, and a new account uses the base's
/// default roles.
pub fn under_base(proposed: &Config, base: &Config) -> Config {
    let mut c = proposed.clone();
    c.allowlist = base.allowlist.clone();
    c.role_name = base.role_name.clone();
    c.read_role_name = base.read_role_name.clone();
    c.external_id = base.external_id.clone();
    c.rule_tags = base.rule_tags.clone();
    c.guardrails = base.guardrails.clone();
    c.quotas = base.quotas.clone();
    c.expiry = base.expiry;
    c.approvals = base.approvals;
    for (name, account) in &mut c.accounts {
        let at_base = base.accounts.get(name);
        account.role_name = at_base.and_then(|a| a.role_name.clone());
        account.read_role_name = at_base.and_then(|a| a.read_role_name.clone());
    }
    c
}

/// What the pull request changes in the policy, setting by setting, in a fixed order.
pub fn changes(base: &Config, proposed: &Config) -> Vec<PolicyChange> {
    let mut out = Vec::new();
    let mut diff = |key: &str, b: String, p: String| {
        if b != p {
            out.push(PolicyChange {
                key: key.to_string(),
                base: b,
                proposed: p,
            });
        }
    };
    diff(
        "allowlist.parameter_prefix",
        base.allowlist.parameter_prefix.clone(),
        proposed.allowlist.parameter_prefix.clone(),
    );
    diff(
        "allowlist.region",
        base.allowlist.region.clone(),
        proposed.allowlist.region.clone(),
    );
    diff(
        "role_name",
        base.role_name.clone(),
        proposed.role_name.clone(),
    );
    let read_role = |c: &Config| {
        c.read_role_name
            .clone()
            .unwrap_or_else(|| format!("(not set: reads use {})", c.role_name))
    };
    diff("read_role_name", read_role(base), read_role(proposed));
    // The external id is a shared secret of sorts: say that it changed, not what it is.
    let ext = |e: &Option<String>| match e {
        None => "(none)".to_string(),
        Some(_) => "(set)".to_string(),
    };
    if base.external_id != proposed.external_id {
        let (b, p) = match (&base.external_id, &proposed.external_id) {
            (Some(_), Some(_)) => ("(set)".to_string(), "(set, different)".to_string()),
            (b, p) => (ext(b), ext(p)),
        };
        out.push(PolicyChange {
            key: "external_id".into(),
            base: b,
            proposed: p,
        });
    }
    let mut diff = |key: &str, b: String, p: String| {
        if b != p {
            out.push(PolicyChange {
                key: key.to_string(),
                base: b,
                proposed: p,
            });
        }
    };
    let tags = |c: &Config| {
        c.rule_tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    diff("rule_tags", tags(base), tags(proposed));
    let g = |c: &Config| c.guardrails.clone();
    let (bg, pg) = (g(base), g(proposed));
    let ports = |p: &[u16]| p.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    diff(
        "guardrails.world_open_denied_ports",
        ports(&bg.world_open_denied_ports),
        ports(&pg.world_open_denied_ports),
    );
    diff(
        "guardrails.world_open_prefix.ipv4",
        format!("/{}", bg.world_open_prefix.ipv4),
        format!("/{}", pg.world_open_prefix.ipv4),
    );
    diff(
        "guardrails.world_open_prefix.ipv6",
        format!("/{}", bg.world_open_prefix.ipv6),
        format!("/{}", pg.world_open_prefix.ipv6),
    );
    diff(
        "guardrails.max_changes",
        bg.max_changes.to_string(),
        pg.max_changes.to_string(),
    );
    diff(
        "guardrails.max_expiry_days",
        bg.max_expiry_days.to_string(),
        pg.max_expiry_days.to_string(),
    );
    diff(
        "quotas.rules_per_group",
        base.quotas.rules_per_group.to_string(),
        proposed.quotas.rules_per_group.to_string(),
    );
    diff(
        "expiry.warn_days",
        base.expiry.warn_days.to_string(),
        proposed.expiry.warn_days.to_string(),
    );
    diff(
        "approvals.require_codeowners",
        base.approvals.require_codeowners.to_string(),
        proposed.approvals.require_codeowners.to_string(),
    );
    for (name, account) in &proposed.accounts {
        let at_base = base.accounts.get(name);
        let b = at_base.and_then(|a| a.role_name.clone());
        if account.role_name != b {
            let shown = |r: Option<&String>, c: &Config| {
                r.map_or_else(|| format!("{} (default)", c.role_name), String::clone)
            };
            diff(
                &format!("accounts.{name}.role_name"),
                shown(b.as_ref(), base),
                shown(account.role_name.as_ref(), proposed),
            );
        }
        let b = at_base.and_then(|a| a.read_role_name.clone());
        if account.read_role_name != b {
            // Without its own, an account reads with the role its configuration gives it
            // (a new account: that configuration's defaults).
            let shown = |a: Option<&config::Account>, c: &Config| match a
                .and_then(|a| a.read_role_name.clone())
            {
                Some(r) => r,
                None => {
                    let a = a.cloned().unwrap_or_default();
                    format!("{} (default)", c.role_name_for(&a, config::Access::Read))
                }
            };
            diff(
                &format!("accounts.{name}.read_role_name"),
                shown(at_base, base),
                shown(Some(account), proposed),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        config::parse("sgops.yaml", text).expect("valid test configuration")
    }

    const BASE: &str = "accounts:\n  a: \"111111111111\"\n  b: { id: \"222222222222\", role_name: base-role }\nrule_tags: { vpcx:skip_enforcement: \"yes\" }\napprovals: { require_codeowners: true }\n";

    #[test]
    fn the_base_decides_the_pull_request_shows() {
        let base = cfg(BASE);
        let pr = cfg(
            "accounts:\n  a: { id: \"111111111111\", role_name: admin }\n  b: \"222222222222\"\n  c: { id: \"333333333333\", role_name: admin }\nrule_tags: {}\nguardrails: { world_open_denied_ports: [], world_open_prefix: { ipv4: 0 } }\nallowlist: { parameter_prefix: /attacker/ }\nexternal_id: abcdef\nconcurrency: 4\napprovals: { require_codeowners: false }\nexpiry: { warn_days: 0 }\n",
        );
        let eff = under_base(&pr, &base);
        assert_eq!(eff.guardrails, base.guardrails);
        assert_eq!(eff.allowlist, base.allowlist);
        assert_eq!(eff.rule_tags, base.rule_tags);
        assert_eq!(eff.external_id, None);
        // The pull request cannot switch off approvals or the expiry warning for itself.
        assert!(eff.approvals.require_codeowners);
        assert_eq!(eff.expiry.warn_days, 30);
        // Accounts and their regions are the pull request's; roles are the base's.
        assert_eq!(eff.accounts.len(), 3);
        assert_eq!(eff.concurrency, 4);
        assert_eq!(
            eff.role_arn(&eff.accounts["a"]),
            "arn:aws:iam::111111111111:role/sgops-reconciler"
        );
        assert_eq!(
            eff.role_arn(&eff.accounts["b"]),
            "arn:aws:iam::222222222222:role/base-role"
        );
        assert_eq!(
            eff.role_arn(&eff.accounts["c"]),
            "arn:aws:iam::333333333333:role/sgops-reconciler"
        );

        let keys: Vec<(String, String, String)> = changes(&base, &pr)
            .into_iter()
            .map(|c| (c.key, c.base, c.proposed))
            .collect();
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            keys,
            [
                s(
                    "allowlist.parameter_prefix",
                    "/vpcx/aws/boto3-proxy/allowed-actions/",
                    "/attacker/"
                ),
                s("external_id", "(none)", "(set)"),
                s("rule_tags", "vpcx:skip_enforcement=yes", ""),
                s("guardrails.world_open_denied_ports", "22, 3389", ""),
                s("guardrails.world_open_prefix.ipv4", "/8", "/0"),
                s("expiry.warn_days", "30", "0"),
                s("approvals.require_codeowners", "true", "false"),
                s(
                    "accounts.a.role_name",
                    "sgops-reconciler (default)",
                    "admin"
                ),
                s(
                    "accounts.b.role_name",
                    "base-role",
                    "sgops-reconciler (default)"
                ),
                s(
                    "accounts.c.role_name",
                    "sgops-reconciler (default)",
                    "admin"
                ),
            ]
        );
        assert!(changes(&base, &base).is_empty());
    }

    #[test]
    fn the_read_role_is_the_bases_too() {
        use crate::config::Access;
        let base = cfg(
            "role_name: writer\nread_role_name: reader\naccounts:\n  a: \"111111111111\"\n  b: { id: \"222222222222\", read_role_name: b-reader }\n",
        );
        // A pull request that would plan with the write role (or any role of its choosing).
        let pr = cfg(
            "role_name: writer\nread_role_name: writer\naccounts:\n  a: { id: \"111111111111\", read_role_name: admin }\n  b: \"222222222222\"\n  c: { id: \"333333333333\", read_role_name: admin }\n",
        );
        let eff = under_base(&pr, &base);
        let read = |n: &str| eff.role_arn_for(&eff.accounts[n], Access::Read);
        assert_eq!(read("a"), "arn:aws:iam::111111111111:role/reader");
        assert_eq!(read("b"), "arn:aws:iam::222222222222:role/b-reader");
        assert_eq!(read("c"), "arn:aws:iam::333333333333:role/reader");
        assert_eq!(
            eff.role_arn_for(&eff.accounts["c"], Access::Write),
            "arn:aws:iam::333333333333:role/writer"
        );
        let keys: Vec<(String, String, String)> = changes(&base, &pr)
            .into_iter()
            .map(|c| (c.key, c.base, c.proposed))
            .collect();
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            keys,
            [
                s("read_role_name", "reader", "writer"),
                s("accounts.a.read_role_name", "reader (default)", "admin"),
                s("accounts.b.read_role_name", "b-reader", "writer (default)"),
                s("accounts.c.read_role_name", "reader (default)", "admin"),
            ]
        );

        // A base without a read role reads with its write role; a pull request that adds one
        // shows it, and it takes effect after merge.
        let base = cfg("accounts:\n  a: \"111111111111\"\n");
        let pr = cfg("read_role_name: sgops-reader\naccounts:\n  a: \"111111111111\"\n");
        let eff = under_base(&pr, &base);
        assert_eq!(eff.read_role_name, None);
        assert_eq!(
            eff.role_arn_for(&eff.accounts["a"], Access::Read),
            "arn:aws:iam::111111111111:role/sgops-reconciler"
        );
        let c = changes(&base, &pr);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (
                c[0].key.as_str(),
                c[0].base.as_str(),
                c[0].proposed.as_str()
            ),
            (
                "read_role_name",
                "(not set: reads use sgops-reconciler)",
                "sgops-reader"
            )
        );
    }

    #[test]
    fn no_sgops_yaml_at_the_base_means_the_defaults() {
        let c = base_config(None, Path::new("sgops.yaml"), "abc").expect("defaults");
        assert_eq!(c, Config::default());
        let e = base_config(
            Some("accounts: {}\nconcurrency: 0\n"),
            Path::new("sgops.yaml"),
            "abc",
        )
        .expect_err("invalid");
        assert!(
            e.to_string()
                .contains("sgops.yaml at `abc` (the base branch"),
            "{e}"
        );
    }

    #[test]
    fn option_like_references_are_refused() {
        for r in ["", "--output=/etc/passwd", "-x", "main:sgops.yaml"] {
            assert!(
                matches!(
                    read_at(r, Path::new("sgops.yaml")),
                    Err(PolicyError::BadRef(_))
                ),
                "{r}"
            );
        }
    }
}
