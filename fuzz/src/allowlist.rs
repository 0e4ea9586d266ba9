//! The allow-list as data (`src/allowlist/list.rs`), without the SSM read.

#[path = "../../src/allowlist/list.rs"]
mod list;

pub use list::{Allowlist, parse_value};
