//! The `expiry` and `approvals` sections of sgops.yaml: when a rule counts as expiring soon,
//! and whether apply demands CODEOWNERS approval of the merged pull request. Both are
//! policy (an attacker's pull request must not switch them off): with `--policy-from` they
//! come from the base branch (see [`crate::policy`]).

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diag::Diagnostic;
use crate::yaml;

/// `expiry:` in sgops.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// A rule whose `expires` is at most this many days ahead is "expiring soon" (0: none).
    pub warn_days: u32,
}

impl Default for Expiry {
    fn default() -> Self {
        Expiry { warn_days: 30 }
    }
}

/// `approvals:` in sgops.yaml.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Approvals {
    /// `apply` refuses a merge whose rule files were not approved by their CODEOWNERS.
    pub require_codeowners: bool,
}

/// The most days `expiry.warn_days` may be: ten years.
pub const MAX_WARN_DAYS: i64 = 3650;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpiry {
    warn_days: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApprovals {
    require_codeowners: Option<Spanned<bool>>,
}

/// Checks `expiry:`; problems name the line.
pub(super) fn expiry(path: &str, raw: Option<RawExpiry>, diags: &mut Vec<Diagnostic>) -> Expiry {
    let mut out = Expiry::default();
    if let Some(w) = raw.and_then(|r| r.warn_days) {
        if (0..=MAX_WARN_DAYS).contains(&w.value) {
            out.warn_days = w.value as u32;
        } else {
            diags.push(Diagnostic::error(
                yaml::pos(path, &w),
                format!(
                    "expiry.warn_days must be a number of days from 0 to {MAX_WARN_DAYS}, not {}",
                    w.value
                ),
            ));
        }
    }
    out
}

/// Reads `approvals:`.
pub(super) fn approvals(raw: Option<RawApprovals>) -> Approvals {
    Approvals {
        require_codeowners: raw
            .and_then(|r| r.require_codeowners)
            .is_some_and(|v| v.value),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    #[test]
    fn defaults_and_values() {
        let c = parse("sgops.yaml", "accounts: {}\n").expect("valid");
        assert_eq!(c.expiry.warn_days, 30);
        assert!(!c.approvals.require_codeowners);
        let c = parse(
            "sgops.yaml",
            "accounts: {}\nexpiry:\n  warn_days: 14\napprovals:\n  require_codeowners: true\n",
        )
        .expect("valid");
        assert_eq!(c.expiry.warn_days, 14);
        assert!(c.approvals.require_codeowners);
    }

    #[test]
    fn bad_values_name_their_line() {
        let e = parse("sgops.yaml", "accounts: {}\nexpiry:\n  warn_days: -1\n").expect_err("bad");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].pos.line, 3);
        assert_eq!(
            e[0].message,
            "expiry.warn_days must be a number of days from 0 to 3650, not -1"
        );
        let e = parse(
            "sgops.yaml",
            "accounts: {}\napprovals:\n  require_codeowners: yes please\n",
        )
        .expect_err("not a bool");
        assert_eq!(e[0].pos.line, 3, "{e:#?}");
        let e = parse("sgops.yaml", "accounts: {}\nexpiry:\n  warn: 3\n").expect_err("unknown");
        assert_eq!(e[0].pos.line, 3, "{e:#?}");
    }
}
