//! The one error type that reaches `main`, and the exit code of each failure (SPEC section 7).

use std::path::PathBuf;

/// Process exit codes of SPEC section 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, or no changes.
    Ok = 0,
    /// An error: bad input, AWS or GitHub failure.
    Error = 1,
    /// `plan --detailed-exitcode` found changes.
    Changes = 2,
    /// Refused by policy: denied action, invalid service, guardrail, stale plan, too many changes.
    Policy = 3,
}

/// Everything that can stop a command. Each variant maps to one exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Problems in sgops.yaml or rule files; the diagnostics were already printed.
    #[error("{}", invalid_summary(*errors, *guardrails))]
    Invalid { errors: usize, guardrails: usize },

    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A user-facing problem with the command line or environment, with what to do.
    #[error("{0}")]
    Usage(String),

    /// Refused by policy (exit 3), with the reason.
    #[error("{0}")]
    Policy(String),

    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),

    #[error(transparent)]
    Allowlist(#[from] crate::allowlist::AllowlistError),

    #[error(transparent)]
    GitHub(#[from] crate::github::GithubError),

    #[error(transparent)]
    PolicyFrom(#[from] crate::policy::PolicyError),

    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),

    #[error(transparent)]
    Organizations(#[from] crate::org::read::OrgError),

    #[error(transparent)]
    Rewrite(#[from] crate::org::rewrite::RewriteError),
}

fn invalid_summary(errors: usize, guardrails: usize) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (errors, guardrails) {
        (0, g) => format!("refused by guardrails: {}", plural(g, "violation")),
        (e, 0) => format!("validation failed: {}", plural(e, "error")),
        (e, g) => format!(
            "validation failed: {} and {}",
            plural(e, "error"),
            plural(g, "guardrail violation")
        ),
    }
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Invalid { errors: 0, .. } => Exit::Policy,
            Error::Policy(_) => Exit::Policy,
            Error::Allowlist(e) if e.is_policy() => Exit::Policy,
            _ => Exit::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        assert_eq!(
            Error::Invalid {
                errors: 1,
                guardrails: 2
            }
            .exit(),
            Exit::Error
        );
        assert_eq!(
            Error::Invalid {
                errors: 0,
                guardrails: 2
            }
            .exit(),
            Exit::Policy
        );
        assert_eq!(Error::Usage("x".into()).exit(), Exit::Error);
        assert_eq!(Error::Policy("stale".into()).exit(), Exit::Policy);
    }

    #[test]
    fn summaries_read_well() {
        assert_eq!(
            Error::Invalid {
                errors: 1,
                guardrails: 0
            }
            .to_string(),
            "validation failed: 1 error"
        );
        assert_eq!(
            Error::Invalid {
                errors: 0,
                guardrails: 2
            }
            .to_string(),
            "refused by guardrails: 2 violations"
        );
    }
}
