//! The repository sgops reads: `sgops.yaml` plus the `rules/` tree, loaded together.
//!
//! I/O: reads those files. Every command that needs desired state starts here.

use std::path::Path;

use jiff::civil::Date;

use crate::config::{self, Config};
use crate::diag::{self, Diagnostic, Severity, Sources};
use crate::policy::{self, PolicyChange};
use crate::rules::{self, Desired, LoadOptions};

/// What was loaded, with every problem found on the way.
#[derive(Debug)]
pub struct Repo {
    /// `None` when sgops.yaml is unusable (rules were then not read): it does not parse, or
    /// has no `accounts`. It may be `Some` despite problems in it, which are then among the
    /// diagnostics (and stop every command but `validate`, which reports them).
    pub config: Option<Config>,
    pub desired: Desired,
    /// Sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
    pub files_read: usize,
    /// How sgops.yaml here differs in policy from the base it was loaded under
    /// ([`Repo::load_under`]); empty otherwise.
    pub policy_changes: Vec<PolicyChange>,
}

impl Repo {
    /// Loads the configuration, then the rules against it, even when the configuration has
    /// problems of its own: one run shows them all.
    pub fn load(config_path: &Path, rules_dir: &Path, today: Date) -> Repo {
        Repo::load_under(config_path, rules_dir, today, None)
    }

    /// [`Repo::load`], with the policy of `base` (the base branch's configuration) in force:
    /// the rules are checked against the base's guardrails, and the configuration that comes
    /// back carries the base's policy. What this sgops.yaml changes in the policy is listed
    /// in `policy_changes`.
    pub fn load_under(
        config_path: &Path,
        rules_dir: &Path,
        today: Date,
        base: Option<&Config>,
    ) -> Repo {
        let mut sources = Sources::default();
        let (mut config, mut diagnostics) = config::load_partial(config_path, &mut sources);
        let mut policy_changes = Vec::new();
        if let (Some(proposed), Some(base)) = (&config, base) {
            policy_changes = policy::changes(base, proposed);
            config = Some(policy::under_base(proposed, base));
        }
        let mut desired = Desired::default();
        let mut files_read = 0;
        if let Some(cfg) = &config {
            let opts = LoadOptions { config: cfg, today };
            let (d, diags) = rules::load_tree(rules_dir, &opts, &mut sources);
            desired = d;
            diagnostics.extend(diags);
            files_read = sources.len().saturating_sub(1);
        }
        diag::sort(&mut diagnostics);
        Repo {
            config,
            desired,
            diagnostics,
            sources,
            files_read,
            policy_changes,
        }
    }

    pub fn counts(&self) -> diag::Counts {
        diag::count(&self.diagnostics)
    }

    /// Whether there is an error or a guardrail violation (warnings do not count).
    pub fn has_problems(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity != Severity::Warning)
    }
}
