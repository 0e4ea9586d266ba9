//! `sgops invoke`'s request checks (account, region, service, allow-list, body, guardrails),
//! compiled from the same files as sgops, without the modules that use the AWS SDK (`call`,
//! `sdk`, `answer`).

#[path = "../../src/invoke/action.rs"]
mod action;
#[path = "../../src/invoke/admit.rs"]
mod admit;
#[path = "../../src/invoke/body.rs"]
mod body;
#[path = "../../src/invoke/check.rs"]
mod check;

pub use action::*;
pub use admit::{Refusal, action, request, service, target};
pub use body::*;
