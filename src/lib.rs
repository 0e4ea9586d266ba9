//! sgops: approved exceptions to baseline security groups, kept in git and reconciled into
//! every account of an AWS Organization.
//!
//! Data flows one way: [`config`] + [`rules`] (desired state) → live state → allow-list →
//! plan → render / apply → GitHub. `main` only parses the command line and calls
//! [`commands::run`].

pub mod allowlist;
pub mod apply;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diag;
pub mod engine;
pub mod error;
pub mod github;
pub mod import;
pub mod invoke;
pub mod live;
pub mod logging;
pub mod plan;
pub mod render;
pub mod repo;
pub mod rules;
pub mod schema;
pub mod yaml;

pub use error::{Error, Exit};
