//! `sgops accounts`: the account map of sgops.yaml kept in step with AWS Organizations.
//!
//! - [`read`]: lists the organization's accounts (all, or under some OUs, recursively) with
//!   the caller's own credentials; the only I/O.
//! - [`map`]: pure: names the accounts (folded, overridden, excluded), finds collisions, and
//!   compares the result with `accounts` of sgops.yaml.
//! - [`report`]: pure: what is printed, as text or JSON.
//! - [`rewrite`]: pure: the new text of sgops.yaml, with only its `accounts:` block changed.

pub mod map;
pub mod read;
pub mod report;
pub mod rewrite;

/// An account as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    /// Its name in Organizations (untrusted text).
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`…
    pub state: String,
}

impl OrgAccount {
    pub fn is_active(&self) -> bool {
        self.state == "ACTIVE"
    }
}
