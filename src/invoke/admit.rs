//! Whether a request may be made: the checks that `sgops invoke` and `sgops serve` both run,
//! in the same functions, so the command line and the API can never disagree.
//!
//! Each step is its own function because the two callers interleave them with their own
//! (the API checks the caller's token and grants between [`target`] and [`action`]); every
//! refusal is a [`Refusal`] that each caller words for its audience.

use crate::allowlist::Allowlist;
use crate::config::{Account, Config, Guardrails};

use super::*;

/// Why a request was refused before anything was called in the target account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown account `{account}`")]
    UnknownAccount { account: String },

    #[error("`{region}` is not an AWS region name (like us-east-1)")]
    UnknownRegion { region: String },

    /// Not a service name, or no allow-list parameter for it: the service is not served.
    #[error("invalid service: {service}")]
    InvalidService { service: String },

    /// The allow-list of the service does not list the action.
    #[error("{service} action {action} is not in the allow-list")]
    NotAllowed { service: String, action: String },

    /// Allow-listed, but not an action sgops runs (sgops acts only on security-group rules).
    #[error("{service} action {action} is not an action sgops runs")]
    Unsupported { service: String, action: String },

    #[error("invalid body: {0}")]
    Body(BodyError),

    /// The world-open guardrail of rule files, each breach described.
    #[error("refused by guardrails")]
    Guardrails(Vec<String>),
}

/// The account (by name or 12-digit id) and region of a request.
pub fn target<'a>(
    cfg: &'a Config,
    account: &str,
    region: &str,
) -> Result<(&'a str, &'a Account), Refusal> {
    let found = cfg
        .account(account)
        .ok_or_else(|| Refusal::UnknownAccount {
            account: account.to_string(),
        })?;
    if !crate::rules::is_valid_region(region) {
        return Err(Refusal::UnknownRegion {
            region: region.to_string(),
        });
    }
    Ok(found)
}

/// `[a-z0-9-]`, as boto3 names services. Checked before the allow-list is read: any other
/// name would address some other parameter under the prefix.
pub fn service(service: &str) -> Result<(), Refusal> {
    let ok = !service.is_empty()
        && service.len() <= 64
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Refusal::InvalidService {
            service: service.to_string(),
        })
    }
}

/// The action, if the allow-list lists it for the service and sgops can run it.
pub fn action(allow: &Allowlist, service: &str, action: &str) -> Result<Action, Refusal> {
    if !allow.allows(service, action) {
        return Err(Refusal::NotAllowed {
            service: service.to_string(),
            action: action.to_string(),
        });
    }
    Action::find(service, action).ok_or_else(|| Refusal::Unsupported {
        service: service.to_string(),
        action: action.to_string(),
    })
}

/// The body, parsed strictly and held to the guardrails of rule files.
pub fn request(action: Action, body: &str, guardrails: &Guardrails) -> Result<Request, Refusal> {
    let request = parse(action, body).map_err(Refusal::Body)?;
    let breaches = request.guardrail_breaches(guardrails);
    if breaches.is_empty() {
        Ok(request)
    } else {
        Err(Refusal::Guardrails(breaches))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        crate::config::parse("sgops.yaml", "accounts:\n  itx-016: \"111111111111\"\n").unwrap()
    }

    #[test]
    fn accounts_are_found_by_name_or_id_and_regions_are_checked() {
        let c = cfg();
        assert_eq!(target(&c, "itx-016", "us-east-1").unwrap().0, "itx-016");
        assert_eq!(
            target(&c, "111111111111", "us-east-1").unwrap().0,
            "itx-016"
        );
        assert!(matches!(
            target(&c, "nope", "us-east-1"),
            Err(Refusal::UnknownAccount { .. })
        ));
        assert!(matches!(
            target(&c, "itx-016", "mars-1"),
            Err(Refusal::UnknownRegion { .. })
        ));
    }

    #[test]
    fn service_names_that_would_address_other_parameters_are_refused() {
        assert!(service("ec2").is_ok());
        for bad in ["", "../ssm", "EC2", "ec2/x", "ec2 ", &"a".repeat(65)] {
            assert!(service(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_allow_list_is_checked_before_what_sgops_can_run() {
        let allow = Allowlist::with(
            "ec2",
            &["authorize_security_group_ingress", "run_instances"],
        );
        assert_eq!(
            action(&allow, "ec2", "authorize_security_group_ingress").unwrap(),
            Action::AuthorizeIngress
        );
        assert!(matches!(
            action(&allow, "ec2", "revoke_security_group_ingress"),
            Err(Refusal::NotAllowed { .. })
        ));
        assert!(matches!(
            action(&allow, "ec2", "run_instances"),
            Err(Refusal::Unsupported { .. })
        ));
    }

    #[test]
    fn bodies_are_parsed_then_held_to_the_guardrails() {
        let g = cfg().guardrails;
        let open = r#"{"GroupId":"sg-0123456789abcdef0","IpPermissions":[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]}"#;
        assert!(matches!(
            request(Action::AuthorizeIngress, open, &g),
            Err(Refusal::Guardrails(b)) if b.len() == 1
        ));
        assert!(matches!(
            request(Action::AuthorizeIngress, "{\"GroupId\": 1}", &g),
            Err(Refusal::Body(_))
        ));
        let fine = open.replace("0.0.0.0/0", "10.0.0.0/8");
        assert!(request(Action::AuthorizeIngress, &fine, &g).is_ok());
    }
}
