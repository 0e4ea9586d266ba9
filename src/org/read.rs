//! Reads the accounts of AWS Organizations with the caller's own credentials: `ListAccounts`
//! for the whole organization, or, under OUs, `ListAccountsForParent` and
//! `ListOrganizationalUnitsForParent` down the tree. Every call goes through the SDK's
//! paginator, so no page is ever missed.

use std::collections::{BTreeSet, VecDeque};

use aws_sdk_organizations::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::OrgAccount;
use crate::aws::describe_sdk_error;

/// Why the organization could not be read, with what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OrgError {
    #[error(
        "AWS Organizations refused {operation} ({message}): run `sgops accounts` with credentials of the organization's management account, or of an account registered as a delegated administrator for AWS Organizations"
    )]
    AccessDenied {
        operation: &'static str,
        message: String,
    },
    #[error(
        "the caller's account is not in an AWS organization ({message}): run `sgops accounts` with credentials of the organization's management account or a delegated administrator"
    )]
    NotInUse { message: String },
    #[error(
        "OU {0} does not exist in this organization: check --ou and organization.ous in sgops.yaml (an OU id looks like ou-ab12-cdefgh34, a root id like r-ab12)"
    )]
    UnknownOu(String),
    #[error("{operation} failed: {message}")]
    Call {
        operation: &'static str,
        message: String,
    },
}

/// Sorts a failed call into an [`OrgError`]; `parent` is the OU or root it was about.
fn classify<E, R>(
    operation: &'static str,
    parent: Option<&str>,
    e: &aws_sdk_organizations::error::SdkError<E, R>,
) -> OrgError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = describe_sdk_error(e);
    match (e.code(), parent) {
        (Some("AccessDeniedException" | "AccessDenied"), _) => {
            OrgError::AccessDenied { operation, message }
        }
        (Some("AWSOrganizationsNotInUseException"), _) => OrgError::NotInUse { message },
        (Some("ParentNotFoundException" | "OrganizationalUnitNotFoundException"), Some(p)) => {
            OrgError::UnknownOu(crate::escape::terminal(p))
        }
        _ => OrgError::Call { operation, message },
    }
}

/// An account as sgops sees it; its state from `State`, else the older `Status`.
fn account(a: &aws_sdk_organizations::types::Account) -> Option<OrgAccount> {
    let state = a
        .state()
        .map(|s| s.as_str().to_string())
        .or_else(|| a.status().map(|s| s.as_str().to_string()))
        .unwrap_or_else(|| "UNKNOWN".into());
    Some(OrgAccount {
        id: a.id()?.to_string(),
        name: a.name().unwrap_or_default().to_string(),
        state,
    })
}

/// Every account of the organization, or those under `ous` (OU or root ids) and their
/// child OUs, recursively; an account under two of them once.
pub async fn read(client: &Client, ous: &[String]) -> Result<Vec<OrgAccount>, OrgError> {
    let mut out = Vec::new();
    if ous.is_empty() {
        let mut pages = client.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ListAccounts", None, &e))?;
            out.extend(page.accounts().iter().filter_map(account));
        }
        return Ok(out);
    }
    let mut queue: VecDeque<String> = ous.iter().cloned().collect();
    let mut visited = BTreeSet::new();
    while let Some(parent) = queue.pop_front() {
        if !visited.insert(parent.clone()) {
            continue;
        }
        let mut pages = client
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ListAccountsForParent", Some(&parent), &e))?;
            out.extend(page.accounts().iter().filter_map(account));
        }
        let mut pages = client
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| classify("ListOrganizationalUnitsForParent", Some(&parent), &e))?;
            queue.extend(
                page.organizational_units()
                    .iter()
                    .filter_map(|ou| ou.id().map(str::to_string)),
            );
        }
    }
    let mut seen = BTreeSet::new();
    out.retain(|a| seen.insert(a.id.clone()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_organizations::error::{ErrorMetadata, SdkError};
    use aws_sdk_organizations::operation::list_accounts::ListAccountsError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn failed(code: &str) -> SdkError<ListAccountsError, Response> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("from AWS")
            .build();
        SdkError::service_error(
            ListAccountsError::generic(meta),
            Response::new(StatusCode::try_from(400).expect("status"), SdkBody::empty()),
        )
    }

    #[test]
    fn refusals_say_where_to_run_from_and_unknown_ous_are_named() {
        let e = classify("ListAccounts", None, &failed("AccessDeniedException"));
        assert!(matches!(e, OrgError::AccessDenied { .. }), "{e}");
        assert!(e.to_string().contains("management account"), "{e}");
        let e = classify(
            "ListAccounts",
            None,
            &failed("AWSOrganizationsNotInUseException"),
        );
        assert!(
            e.to_string()
                .starts_with("the caller's account is not in an AWS organization (AWSOrganizationsNotInUseException: from AWS)"),
            "{e}"
        );
        let e = classify(
            "ListAccountsForParent",
            Some("ou-ab12-cdefgh34"),
            &failed("ParentNotFoundException"),
        );
        assert!(
            e.to_string()
                .starts_with("OU ou-ab12-cdefgh34 does not exist in this organization"),
            "{e}"
        );
        let e = classify("ListAccounts", None, &failed("ServiceException"));
        assert_eq!(
            e.to_string(),
            "ListAccounts failed: ServiceException: from AWS"
        );
    }
}
