//! sgops: approved exceptions to baseline security groups, kept in git and reconciled into
//! every account of an AWS Organization.
//!
//! Data flows one way: [`config`] + [`rules`] (desired state) → live state → allow-list →
//! plan → render / apply → GitHub. `main` only parses the command line and calls
//! [`commands::run`].

pub mod allowlist;
pub mod apply;
pub mod approvals;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diag;
pub mod engine;
pub mod error;
pub mod escape;
pub mod github;
pub mod import;
pub mod invoke;
pub mod live;
pub mod logging;
pub mod org;
pub mod owners;
pub mod plan;
pub mod policy;
pub mod render;
pub mod repo;
pub mod report;
pub mod rules;
pub mod schema;
pub mod serve;
pub mod yaml;

pub use error::{Error, Exit};

/// `eprintln!` that never panics: with standard error closed (`2>&-`), sgops still answers
/// with its exit code instead of crashing.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that never panics (see [`errln!`]).
#[macro_export]
macro_rules! errp {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}
