//! The request path of `sgops serve` as far as it goes without AWS: the route's parameters as
//! axum matches and decodes them (percent-encoding, encoded slashes and dots, non-UTF-8), then
//! `invoke`'s checks in the order of `src/serve/api.rs` (account and region, service, the
//! allow-list, the body and the guardrails). Whatever passes every check is the one request
//! sgops would send to AWS: [`route`] asserts that it names a configured account, a region, the
//! `ec2` service, an allow-listed action and a body that parses strictly.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tower::ServiceExt as _;

use crate::allowlist::Allowlist;
use crate::config::Config;
use crate::invoke::{self, Action};

/// `sgops::serve::INVOKE_ROUTE` (tests/serve_hostile.rs checks that the two are the same).
pub const INVOKE_ROUTE: &str =
    "/v1/accounts/{account}/regions/{region}/services/{service}/actions/{action}";
/// `sgops::serve::BODY_LIMIT`.
pub const BODY_LIMIT: usize = 64 * 1024;

const CONFIG: &str = "accounts:\n  itx-016: \"111111111111\"\n  itx-046: \"222222222222\"\n\
guardrails:\n  world_open_denied_ports: [22, 3389]\n";

struct Env {
    cfg: Config,
    allow: Allowlist,
}

fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let cfg = crate::config::parse("sgops.yaml", CONFIG).expect("the fuzz config parses");
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        names.push("run_instances"); // allow-listed, but not an action sgops runs
        Arc::new(Env {
            cfg,
            allow: Allowlist::with(invoke::SERVICE, &names),
        })
    })
    .clone()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fn router() -> Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER
        .get_or_init(|| {
            Router::new()
                .route(INVOKE_ROUTE, post(route))
                .fallback(|| async { StatusCode::NOT_FOUND })
                .with_state(env())
        })
        .clone()
}

/// The route's handler up to the AWS call, with `src/serve/api.rs`'s extractor and checks.
async fn route(State(env): State<Arc<Env>>, req: Request<Body>) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(Path((account, region, service, action))) =
        Path::<(String, String, String, String)>::from_request_parts(&mut parts, &()).await
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok((name, acct)) = invoke::target(&env.cfg, &account, &region) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    assert!(
        account == name || account == acct.id,
        "{account:?} is not {name}"
    );
    assert!(env.cfg.accounts.contains_key(name));
    if invoke::service(&service).is_err() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    // The allow-list parameter is `<prefix><service>`: what passed cannot leave the prefix.
    assert!(
        service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "service {service:?}"
    );
    let Ok(action) = invoke::action(&env.allow, &service, &action) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    assert_eq!(service, invoke::SERVICE);
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match invoke::request(action, text, &env.cfg.guardrails) {
        Ok(request) => {
            // What would be sent: a strict parse of the same text gives the same request.
            assert!(invoke::parse(action, text).is_ok());
            assert!(request.guardrail_breaches(&env.cfg.guardrails).is_empty());
            let _ = request.ownership_warnings();
            StatusCode::OK.into_response()
        }
        Err(refusal) => {
            let _ = refusal.to_string();
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

/// A request written as text: `METHOD TARGET\n`, header lines `name: value\n`, an empty line,
/// then the body (all of it, any bytes). Lines the HTTP types refuse are dropped, as a server
/// would refuse them before routing.
pub struct RawRequest<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub body: &'a [u8],
}

impl<'a> RawRequest<'a> {
    pub fn split(data: &'a [u8]) -> RawRequest<'a> {
        let (first, mut rest) = split_line(data);
        let (method, target) = match first.iter().position(|&b| b == b' ') {
            Some(i) => (&first[..i], &first[i + 1..]),
            None => (first, &b""[..]),
        };
        let mut headers = Vec::new();
        loop {
            if rest.is_empty() {
                break;
            }
            let (line, after) = split_line(rest);
            rest = after;
            if line.is_empty() {
                break;
            }
            if let Some(i) = line.iter().position(|&b| b == b':') {
                let value = &line[i + 1..];
                let value = value.strip_prefix(b" ").unwrap_or(value);
                headers.push((&line[..i], value));
            }
        }
        RawRequest {
            method,
            target,
            headers,
            body: rest,
        }
    }

    fn to_http(&self) -> Option<Request<Body>> {
        let method = Method::from_bytes(self.method).ok()?;
        let uri = Uri::try_from(self.target).ok()?;
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k), HeaderValue::from_bytes(v)) {
                req = req.header(k, v);
            }
        }
        req.body(Body::from(self.body.to_vec())).ok()
    }
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    }
}

/// One fuzz input: its body through every action's parser and checks, then the whole request
/// through the route.
pub fn serve_one(data: &[u8]) {
    let raw = RawRequest::split(data);
    let env = env();
    if let Ok(text) = std::str::from_utf8(raw.body) {
        for action in Action::ALL {
            match invoke::request(action, text, &env.cfg.guardrails) {
                Ok(r) => {
                    let _ = r.ownership_warnings();
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        let _ = crate::allowlist::parse_value(text);
    }
    let Some(req) = raw.to_http() else {
        return;
    };
    let response = runtime()
        .block_on(router().oneshot(req))
        .expect("the router is infallible");
    let status = response.status();
    assert!(
        [
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::PAYLOAD_TOO_LARGE,
        ]
        .contains(&status),
        "unexpected {status}"
    );
}
