//! The one route of the seed's API: `POST /v1/accounts/{account}/regions/{region}/services/
//! {service}/actions/{action}`, answered by `invoke`'s own checks and call.
//!
//! The order is the contract's, and the first failure answers: token (401), account and
//! region (404), the client's grant (403), service and action in the allow-list (400), the
//! body (400), then the call (500 on AWS's refusal, 503 when AWS cannot be reached).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{Request, header, request::Parts};
use axum::response::{IntoResponse, Response};

use super::audit::Audit;
use super::reply::{ApiError, success};
use super::{Api, BODY_LIMIT};
use crate::allowlist::AllowlistError;
use crate::invoke::{self, Problem, Refusal};

/// The route's parameters, in the order of the path.
type Params = (String, String, String, String);

pub async fn invoke_route(State(api): State<Arc<Api>>, req: Request<Body>) -> Response {
    let (mut parts, body) = req.into_parts();
    let mut audit = Audit::default();
    let result = handle(&api, &mut parts, body, &mut audit).await;
    let mut response = match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(audit);
    response
}

async fn handle(
    api: &Api,
    parts: &mut Parts,
    body: Body,
    audit: &mut Audit,
) -> Result<Response, ApiError> {
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let subject = match api.verifier.subject(authorization).await {
        Ok(s) => s,
        Err(e) if e.is_ours() => {
            tracing::error!("cannot check tokens: {e}");
            return Err(ApiError::Unavailable);
        }
        Err(e) => {
            tracing::info!("unauthorized: {e}");
            return Err(ApiError::Unauthorized);
        }
    };
    audit.client = Some(subject.clone());
    let Path((account, region, service, action)) = Path::<Params>::from_request_parts(parts, &())
        .await
        .map_err(|_| ApiError::NoRoute)?;
    audit.region = Some(region.clone());
    audit.action = Some(action.clone());
    let (name, acct) = invoke::target(&api.cfg, &account, &region).map_err(|r| match r {
        Refusal::UnknownRegion { .. } => ApiError::UnknownRegion,
        _ => ApiError::UnknownAccount,
    })?;
    audit.account = Some(name.to_string());
    audit.account_id = Some(acct.id.clone());

    let grant = api.serve.client(&subject);
    if !grant.is_some_and(|c| c.may(name, &action)) {
        let why = match grant {
            None => "this client may not call the API".to_string(),
            Some(c) if !c.may_call(name) => format!("this client may not call account {name}"),
            Some(_) => format!("this client may not run {action}"),
        };
        return Err(ApiError::Forbidden(why));
    }

    invoke::service(&service).map_err(|_| ApiError::InvalidService(service.clone()))?;
    let allow = api.allowlists.get(&service).await.map_err(|e| match e {
        AllowlistError::InvalidService { .. } => ApiError::InvalidService(service.clone()),
        AllowlistError::Aws(a) if a.is_unreachable() => {
            tracing::error!("allow-list: {a}");
            ApiError::Unavailable
        }
        other => {
            tracing::error!("allow-list: {other}");
            ApiError::Aws {
                code: None,
                message: format!("The allow-list could not be read: {other}"),
            }
        }
    })?;
    let action = invoke::action(&allow, &service, &action).map_err(|r| match r {
        Refusal::Unsupported { action, .. } => ApiError::ActionNotAllowed(format!(
            "{action} (sgops runs only security-group rule actions)"
        )),
        _ => ApiError::ActionNotAllowed(action.clone()),
    })?;

    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        ApiError::InvalidBody(vec![Problem {
            path: String::new(),
            message: "the body is not UTF-8 text".into(),
        }])
    })?;
    let request = invoke::request(action, text, &api.cfg.guardrails).map_err(|r| match r {
        Refusal::Body(e) => ApiError::InvalidBody(e.0),
        Refusal::Guardrails(b) => ApiError::Guardrails(b),
        other => ApiError::InvalidBody(vec![Problem {
            path: String::new(),
            message: other.to_string(),
        }]),
    })?;
    for w in request.ownership_warnings() {
        tracing::warn!(client = %subject, account = name, "{w}");
    }

    let ec2 = api
        .sessions
        .ec2(&api.aws, &api.cfg, name, acct, &region)
        .await
        .map_err(|e| {
            tracing::error!("{e}");
            if e.is_unreachable() {
                ApiError::Unavailable
            } else {
                ApiError::Aws {
                    code: None,
                    message: format!(
                        "sgops cannot act in account {name}: its role could not be assumed"
                    ),
                }
            }
        })?;
    match invoke::call(&ec2, &request, false).await {
        Ok(called) => {
            audit.aws_request_id = called.request_id;
            Ok(success(called.outcome.to_json()))
        }
        Err(e) => {
            audit.aws_request_id = e.request_id.clone();
            if e.unreachable {
                tracing::error!("{}: {}", e.operation, e.message);
                Err(ApiError::Unavailable)
            } else {
                Err(ApiError::Aws {
                    code: e.code,
                    message: e.message,
                })
            }
        }
    }
}
