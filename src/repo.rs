//! The repository sgops reads: `sgops.yaml` plus the `rules/` tree, loaded together.
//!
//! I/O: reads those files. Every command that needs desired state starts here.

use std::path::Path;

use jiff::civil::Date;

use crate::config::{self, Config};
use crate::diag::{self, Diagnostic, Severity, Sources};
use crate::owners::{CodeOwners, Owner};
use crate::policy::{self, PolicyChange};
use crate::rules::{self, Desired, LoadOptions, RuleFile};

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
    /// The repository's CODEOWNERS (its problems are among the warnings).
    pub owners: CodeOwners,
    /// Where sgops.yaml and the rules folder are within the repository (the folder of
    /// sgops.yaml), `/`-separated, as CODEOWNERS and pull requests name them; `None` for a
    /// rules folder outside it.
    pub layout: Layout,
}

/// Paths within the repository (relative to the folder of sgops.yaml, `/`-separated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub config: Option<String>,
    pub rules: Option<String>,
}

impl Layout {
    /// Where `config` and `rules` lie within the repository rooted at `config`'s folder.
    pub fn of(config: &Path, rules: &Path) -> Layout {
        let root = repo_root(config);
        let rel = |p: &Path| -> Option<String> {
            let root = root.canonicalize().ok()?;
            let abs = match p.canonicalize() {
                Ok(a) => a,
                // Not there (yet): its folder, then the name.
                Err(_) => p
                    .parent()
                    .map_or_else(
                        || Some(root.clone()),
                        |d| {
                            let d = if d.as_os_str().is_empty() {
                                Path::new(".")
                            } else {
                                d
                            };
                            d.canonicalize().ok()
                        },
                    )?
                    .join(p.file_name()?),
            };
            let r = abs.strip_prefix(&root).ok()?;
            let parts: Vec<String> = r
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            Some(parts.join("/"))
        };
        Layout {
            config: rel(config),
            rules: rel(rules),
        }
    }

    /// `path`, a rule file as loaded (`<rules>/<account>/<region>/<name>`), within the
    /// repository.
    pub fn rule_file(&self, file: &RuleFile) -> Option<String> {
        let name = Path::new(&file.path).file_name()?.to_str()?;
        let rules = self.rules.as_deref()?;
        let prefix = if rules.is_empty() {
            String::new()
        } else {
            format!("{rules}/")
        };
        Some(format!("{prefix}{}/{}/{name}", file.account, file.region))
    }
}

/// The repository's root: the folder of sgops.yaml.
pub fn repo_root(config: &Path) -> &Path {
    match config.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
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
        let (owners, owner_diags, found) = CodeOwners::load(repo_root(config_path));
        if let Some(f) = found
            && !owner_diags.is_empty()
        {
            sources.insert(f.path, f.text);
        }
        diagnostics.extend(owner_diags);
        let layout = Layout::of(config_path, rules_dir);
        diag::sort(&mut diagnostics);
        Repo {
            config,
            desired,
            diagnostics,
            sources,
            files_read,
            policy_changes,
            owners,
            layout,
        }
    }

    /// The CODEOWNERS owners of a rule file (none when it lies outside the repository).
    pub fn owners_of(&self, file: &RuleFile) -> &[Owner] {
        self.layout
            .rule_file(file)
            .map_or(&[], |p| self.owners.owners_of(&p))
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
