//! `sgops invoke`: one allow-listed EC2 security-group action with a boto3-shaped JSON body,
//! the ad-hoc path of the old central API.
//!
//! One file per seam, each used by `sgops invoke` (`commands::invoke`: allow-list, STS,
//! output) and by `sgops serve` (`serve`), which answer the same requests:
//!
//! - `action`: the actions ([`Action`]), and what a refused body says ([`Problem`],
//!   [`BodyError`]);
//! - [`admit`]: whether a request may be made (account, region, service, allow-list, body,
//!   guardrails), one function per check;
//! - [`body`]: boto3's request shapes, parsed strictly into a [`Request`] ([`parse`]), and what
//!   a request means for ownership and the guardrails;
//! - [`check`]: the value checks of a parsed body, every problem with its JSON path;
//! - [`sdk`]: a body as the SDK's types;
//! - [`call`]: the one EC2 call ([`call()`]), the only I/O here;
//! - [`answer`]: the SDK's answers in boto3's response shape.
//!
//! Bodies are parsed strictly, because a key that boto3 would reject but a lenient parser
//! dropped would silently widen or narrow what is changed: every struct denies unknown keys,
//! types are exact (`"443"` is not a port), and each problem names its JSON path
//! (`IpPermissions[0].FromPort`). Values are then checked the way `validate` checks rule files
//! (ports, protocols, canonical CIDRs, descriptions, ids), since the local emulator accepts
//! what AWS refuses and a wrong value in an ad-hoc call is easy to make.
//!
//! `action`, `admit`, `body` and `check` need no AWS SDK: the fuzz crate (`fuzz/`) compiles
//! them on their own, so they must not `use` the SDK or the files that do (`call`, `sdk`,
//! `answer`).

mod action;
mod admit;
mod answer;
mod body;
mod call;
mod check;
mod sdk;
#[cfg(test)]
mod tests;

pub use action::*;
pub use admit::{Refusal, action, request, service, target};
pub use answer::{group_json, ip_permission_json, rule_json, tags_json};
pub use body::*;
pub use call::{CallError, Called, Outcome, call};
