//! The central allow-list: per service, the API actions sgops may call, read from SSM
//! Parameter Store at `<parameter_prefix><service>`.
//!
//! Parsing and matching are pure; [`fetch`] does the one SSM read per service.

use crate::aws::{AwsError, describe_sdk_error, is_unreachable};

mod list;

pub use list::{Allowlist, parse_value};

/// Why the allow-list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    /// No parameter for the service: the service is not served at all (exit 3).
    #[error("invalid service: {service} (no allow-list parameter {parameter})")]
    InvalidService { service: String, parameter: String },

    #[error("allow-list parameter {parameter} is empty or unreadable: {reason}")]
    Malformed { parameter: String, reason: String },

    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl AllowlistError {
    /// Refusals by policy exit 3; failures to read exit 1.
    pub fn is_policy(&self) -> bool {
        matches!(self, AllowlistError::InvalidService { .. })
    }
}

/// Reads `<prefix><service>` for each service, once each.
pub async fn fetch(
    ssm: &aws_sdk_ssm::Client,
    prefix: &str,
    services: &[&str],
) -> Result<Allowlist, AllowlistError> {
    let mut list = Allowlist::default();
    for service in services {
        let parameter = format!("{prefix}{service}");
        let out = ssm.get_parameter().name(&parameter).send().await;
        let value = match out {
            Ok(o) => o.parameter.and_then(|p| p.value).unwrap_or_default(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                return Err(AllowlistError::InvalidService {
                    service: service.to_string(),
                    parameter,
                });
            }
            Err(e) => {
                return Err(AwsError::Call {
                    operation: "ssm:GetParameter",
                    target: parameter,
                    message: describe_sdk_error(&e),
                    unreachable: is_unreachable(&e),
                }
                .into());
            }
        };
        let actions = parse_value(&value);
        if actions.is_empty() {
            return Err(AllowlistError::Malformed {
                parameter,
                reason: "no action names in the value".into(),
            });
        }
        list.insert(service, actions);
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_three_formats_parse_alike() {
        let want = set(&[
            "authorize_security_group_ingress",
            "revoke_security_group_ingress",
        ]);
        assert_eq!(
            parse_value(r#"{"authorize_security_group_ingress","revoke_security_group_ingress"}"#),
            want
        );
        assert_eq!(
            parse_value("authorize_security_group_ingress,revoke_security_group_ingress"),
            want
        );
        assert_eq!(
            parse_value(" authorize_security_group_ingress , revoke_security_group_ingress\n"),
            want
        );
    }

    #[test]
    fn empty_values_give_nothing() {
        assert!(parse_value("{}").is_empty());
        assert!(parse_value("  ").is_empty());
    }

    #[test]
    fn matching_is_exact() {
        let a = Allowlist::with("ec2", &["authorize_security_group"]);
        assert!(a.allows("ec2", "authorize_security_group"));
        assert!(!a.allows("ec2", "authorize_security_group_ingress"));
        assert!(!a.allows("ssm", "authorize_security_group"));
    }

    #[test]
    fn invalid_service_is_policy() {
        let e = AllowlistError::InvalidService {
            service: "ec2".into(),
            parameter: "/p/ec2".into(),
        };
        assert!(e.is_policy());
        assert_eq!(
            e.to_string(),
            "invalid service: ec2 (no allow-list parameter /p/ec2)"
        );
    }
}
