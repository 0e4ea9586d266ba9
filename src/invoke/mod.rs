//! `sgops invoke`: one allow-listed EC2 security-group action with a boto3-shaped JSON body,
//! the ad-hoc path of the old central API.
//!
//! One file per seam, each used by `sgops invoke` (`commands::invoke`: allow-list, STS,
//! output) and by `sgops serve` (`serve`), which answer the same requests:
//!
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

mod admit;
mod answer;
mod body;
mod call;
mod check;
mod sdk;
#[cfg(test)]
mod tests;

use std::fmt;

pub use admit::{Refusal, action, request, service, target};
pub use answer::{group_json, ip_permission_json, rule_json, tags_json};
pub use body::*;
pub use call::{CallError, Called, Outcome, call};

/// The only service sgops can invoke actions of.
pub const SERVICE: &str = "ec2";

/// The resource type that `Authorize*` accepts in TagSpecifications.
const RULE_RESOURCE_TYPE: &str = "security-group-rule";

/// An EC2 action that `sgops invoke` can run; its name is boto3's (and the allow-list's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AuthorizeIngress,
    AuthorizeEgress,
    RevokeIngress,
    RevokeEgress,
    ModifyRules,
    UpdateDescriptionsIngress,
    UpdateDescriptionsEgress,
    CreateTags,
    DeleteTags,
    DescribeRules,
    DescribeGroups,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::AuthorizeIngress,
        Action::AuthorizeEgress,
        Action::RevokeIngress,
        Action::RevokeEgress,
        Action::ModifyRules,
        Action::UpdateDescriptionsIngress,
        Action::UpdateDescriptionsEgress,
        Action::CreateTags,
        Action::DeleteTags,
        Action::DescribeRules,
        Action::DescribeGroups,
    ];

    /// The boto3 spelling, as the allow-list lists it.
    pub fn name(self) -> &'static str {
        match self {
            Action::AuthorizeIngress => "authorize_security_group_ingress",
            Action::AuthorizeEgress => "authorize_security_group_egress",
            Action::RevokeIngress => "revoke_security_group_ingress",
            Action::RevokeEgress => "revoke_security_group_egress",
            Action::ModifyRules => "modify_security_group_rules",
            Action::UpdateDescriptionsIngress => "update_security_group_rule_descriptions_ingress",
            Action::UpdateDescriptionsEgress => "update_security_group_rule_descriptions_egress",
            Action::CreateTags => "create_tags",
            Action::DeleteTags => "delete_tags",
            Action::DescribeRules => "describe_security_group_rules",
            Action::DescribeGroups => "describe_security_groups",
        }
    }

    /// `ec2:Operation`, as call accounting and error messages name it.
    pub fn operation(self) -> &'static str {
        match self {
            Action::AuthorizeIngress => "ec2:AuthorizeSecurityGroupIngress",
            Action::AuthorizeEgress => "ec2:AuthorizeSecurityGroupEgress",
            Action::RevokeIngress => "ec2:RevokeSecurityGroupIngress",
            Action::RevokeEgress => "ec2:RevokeSecurityGroupEgress",
            Action::ModifyRules => "ec2:ModifySecurityGroupRules",
            Action::UpdateDescriptionsIngress => "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
            Action::UpdateDescriptionsEgress => "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
            Action::CreateTags => "ec2:CreateTags",
            Action::DeleteTags => "ec2:DeleteTags",
            Action::DescribeRules => "ec2:DescribeSecurityGroupRules",
            Action::DescribeGroups => "ec2:DescribeSecurityGroups",
        }
    }

    /// The action of `service` named exactly `name`, if sgops can run it.
    pub fn find(service: &str, name: &str) -> Option<Action> {
        (service == SERVICE)
            .then(|| Action::ALL.into_iter().find(|a| a.name() == name))
            .flatten()
    }

    /// Every supported name, comma-separated, for error messages.
    pub fn supported() -> String {
        Action::ALL.map(Action::name).join(", ")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem in a body, at a JSON path (`IpPermissions[0].FromPort`; empty for the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths and messages quote the caller's body: shown escaped.
        let message = crate::escape::terminal(&self.message);
        if self.path.is_empty() {
            f.write_str(&message)
        } else {
            write!(f, "{}: {message}", crate::escape::terminal(&self.path))
        }
    }
}

/// Why a body was refused: the first parse error, or every value problem at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BodyError(pub Vec<Problem>);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}
