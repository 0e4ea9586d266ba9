//! `sgops serve`: the central API's route, served by sgops itself, so that the systems that
//! call it keep working while rules move to git. The route runs `invoke`'s checks and call
//! ([`crate::invoke`]) behind OIDC bearer tokens and per-client grants (`serve:` in
//! sgops.yaml); the same router answers HTTP on a socket or API Gateway events in Lambda.
//!
//! - [`auth`] and [`keys`]: who is calling (JWT, JWKS);
//! - [`api`]: the route; [`reply`]: the seed's answer shapes;
//! - [`cache`]: the allow-list and assumed roles kept between requests;
//! - [`audit`]: one JSON line per request; [`openapi`]: the API's document.

mod api;
mod audit;
mod auth;
mod cache;
mod keys;
mod lambda;
mod openapi;
mod reply;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::aws::{Access, Aws};
use crate::config::{Config, ServeConfig};

pub use keys::parse_jwks;
pub use reply::ApiError;

pub const INVOKE_ROUTE: &str =
    "/v1/accounts/{account}/regions/{region}/services/{service}/actions/{action}";
pub const HEALTH_ROUTE: &str = "/healthz";
pub const OPENAPI_ROUTE: &str = "/openapi.json";

/// Every route, as the router serves it and the OpenAPI document lists it.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", INVOKE_ROUTE),
    ("GET", HEALTH_ROUTE),
    ("GET", OPENAPI_ROUTE),
];

/// Request bodies are boto3 requests: 64 KiB is far beyond any real one.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A header longer than this is refused (431) before anything else is looked at.
pub const HEADER_LIMIT: usize = 8 * 1024;

/// The server changes security-group rules: it assumes the accounts' write role.
pub const ACCESS: Access = Access::Write;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "sgops.yaml has no `serve` section: add serve.issuer, serve.audience and serve.clients (see README, The API)"
    )]
    NotConfigured,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the issuer's signing keys: {0}")]
    Keys(#[from] keys::KeysError),
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
    #[error("the Lambda runtime stopped: {0}")]
    Lambda(String),
}

/// Everything a request needs, shared by all of them.
pub struct Api {
    cfg: Config,
    serve: ServeConfig,
    aws: Aws,
    verifier: auth::Verifier,
    allowlists: cache::Allowlists,
    sessions: cache::Sessions,
}

impl Api {
    /// Sets up the API: the issuer's keys are read now, so a wrong issuer stops the start,
    /// not the first request.
    pub async fn new(cfg: Config) -> Result<Api, ServeError> {
        let serve = cfg.serve.clone().ok_or(ServeError::NotConfigured)?;
        // Bounded retries and timeouts: a caller waits for an answer, and an unreachable AWS
        // is a 503 well within the request timeout, not a hang.
        let aws = Aws::load_bounded(&cfg, 3, serve.request_timeout / 2)
            .await
            .with_access(ACCESS);
        let verifier = auth::Verifier::new(&serve)?;
        let n = verifier.keys.load().await?;
        tracing::info!("{n} signing keys of {}", serve.issuer);
        let allowlists = cache::Allowlists::new(&aws, &cfg, serve.allowlist_ttl);
        Ok(Api {
            cfg,
            serve,
            aws,
            verifier,
            allowlists,
            sessions: cache::Sessions::default(),
        })
    }
}

/// The routes with their limits: body size (413), headers (431), time (503), requests in
/// flight, and the audit line of each request.
pub fn router(api: Arc<Api>) -> Router {
    let timeout = api.serve.request_timeout;
    let in_flight = api.serve.max_in_flight;
    Router::new()
        .route(INVOKE_ROUTE, post(api::invoke_route))
        .route(HEALTH_ROUTE, get(health))
        .route(OPENAPI_ROUTE, get(openapi_json))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::Method })
        .with_state(api)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(middleware::map_response(seed_shaped))
        .layer(GlobalConcurrencyLimitLayer::new(in_flight))
        .layer(middleware::from_fn(refuse_long_headers))
        .layer(middleware::from_fn(audit::record))
}

async fn health() -> Response {
    reply::json_response(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

async fn openapi_json() -> Response {
    reply::json_response(StatusCode::OK, &openapi::document())
}

/// 431 for a header over [`HEADER_LIMIT`]; such a request reaches nothing else.
async fn refuse_long_headers(req: Request, next: Next) -> Response {
    let too_long = req
        .headers()
        .iter()
        .any(|(k, v)| k.as_str().len() + v.len() > HEADER_LIMIT);
    if too_long {
        return seed_shaped(ApiError::HeaderTooLarge.into_response()).await;
    }
    next.run(req).await
}

/// Answers made by the layers (413 from the body limit, 503 from the timeout) in the seed's
/// shape too, so callers parse every answer the same way.
async fn seed_shaped(response: Response) -> Response {
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return response;
    }
    let error = match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => ApiError::Unavailable,
        StatusCode::NOT_FOUND => ApiError::NoRoute,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::Method,
        _ => return response,
    };
    let (parts, _) = response.into_parts();
    let mut fixed = error.into_response();
    // Keep what the handler recorded for the audit line.
    if let Some(a) = parts.extensions.get::<audit::Audit>() {
        fixed.extensions_mut().insert(a.clone());
    }
    fixed
}

/// Serves on `listen` until SIGTERM or Ctrl-C; requests in flight then finish.
pub async fn run(cfg: Config, listen: SocketAddr) -> Result<(), ServeError> {
    let api = Arc::new(Api::new(cfg).await?);
    let app = router(api);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    // The one line a supervisor (or a test) waits for.
    crate::errln!("sgops serve: listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    crate::errln!("sgops serve: stopped");
    Ok(())
}

/// Answers API Gateway events (REST and HTTP APIs) from the Lambda Runtime API.
pub async fn run_lambda(cfg: Config) -> Result<(), ServeError> {
    let api = Arc::new(Api::new(cfg).await?);
    lambda::run(router(api))
        .await
        .map_err(|e| ServeError::Lambda(e.to_string()))
}

/// Whether sgops runs inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some_and(|v| !v.is_empty())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    crate::errln!("sgops serve: shutting down; requests in flight finish");
}
