//! The actions `sgops invoke` runs, by boto3 name, and what a refused body says. Pure: the
//! fuzz crate compiles this file with `admit`, `body` and `check`, without the AWS SDK.

use std::fmt;

/// The only service sgops can invoke actions of.
pub const SERVICE: &str = "ec2";

/// The resource type that `Authorize*` accepts in TagSpecifications.
pub(crate) const RULE_RESOURCE_TYPE: &str = "security-group-rule";

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
