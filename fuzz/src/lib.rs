//! The parsing and validation modules of sgops, compiled on their own for fuzzing.
//! They only refer to each other (`crate::diag`, `crate::yaml`, `crate::config`,
//! `crate::rules`, `crate::escape`, `crate::invoke`, `crate::allowlist`), so including the same
//! source files here gives the same code; `invoke` and `allowlist` without their AWS parts.
#![allow(dead_code, unused_imports)]

pub mod allowlist;
#[path = "../../src/config/mod.rs"]
pub mod config;
#[path = "../../src/diag.rs"]
pub mod diag;
#[path = "../../src/escape.rs"]
pub mod escape;
pub mod invoke;
#[path = "../../src/rules/mod.rs"]
pub mod rules;
pub mod serve;
#[path = "../../src/yaml.rs"]
pub mod yaml;

pub use serve::serve_one;

use std::sync::Arc;

/// Feeds one input to everything that reads user files: sgops.yaml parsing, rule-file
/// parsing and validation, the cross-file checks, and diagnostic rendering.
pub fn fuzz_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sources = diag::Sources::default();
    sources.insert("f.yaml", Arc::from(text));
    let mut diags = match config::parse("f.yaml", text) {
        Ok(_) => Vec::new(),
        Err(d) => d,
    };
    let mut cfg = config::Config::default();
    cfg.accounts.insert(
        "a".into(),
        config::Account {
            id: "111111111111".into(),
            role_name: None,
            regions: None,
        },
    );
    let opts = rules::LoadOptions {
        config: &cfg,
        today: jiff::civil::Date::constant(2026, 11, 27),
    };
    let file = rules::parse_file("f.yaml", text, "a", "us-east-1", &opts, &mut diags);
    if let Some(f) = file {
        rules::cross_file(&[f.clone(), f], &cfg.guardrails, &mut diags);
    }
    diag::sort(&mut diags);
    for d in &diags {
        let _ = diag::render(d, &sources);
        let _ = diag::github_annotation(d);
    }
}
