//! One JSON line per request on standard output: time, client (the token's `sub`), account,
//! region, action, status, duration and EC2's request id. Never a token, a body or a
//! credential: only what the handler chose to record, plus what the middleware measured.

use std::io::Write as _;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

/// What the handler learned about a request, attached to its response.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    pub client: Option<String>,
    pub account: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub action: Option<String>,
    pub aws_request_id: Option<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    method: &'a str,
    route: &'a str,
    client: Option<&'a str>,
    account: Option<&'a str>,
    account_id: Option<&'a str>,
    region: Option<&'a str>,
    action: Option<&'a str>,
    status: u16,
    duration_ms: f64,
    aws_request_id: Option<&'a str>,
}

/// Values from the path are the caller's: kept short in the log.
const MAX_FIELD: usize = 128;

/// The middleware: runs the request, then writes its line.
pub async fn record(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    // The route's pattern, not the path: paths are the caller's text.
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(none)".into());
    let mut response = next.run(req).await;
    let audit = response
        .extensions_mut()
        .remove::<Audit>()
        .unwrap_or_default();
    let short = |v: &Option<String>| -> Option<String> {
        v.as_ref().map(|s| s.chars().take(MAX_FIELD).collect())
    };
    let (client, account, region, action) = (
        short(&audit.client),
        short(&audit.account),
        short(&audit.region),
        short(&audit.action),
    );
    let line = Line {
        time: jiff::Timestamp::now().to_string(),
        method: method.as_str(),
        route: &route,
        client: client.as_deref(),
        account: account.as_deref(),
        account_id: audit.account_id.as_deref(),
        region: region.as_deref(),
        action: action.as_deref(),
        status: response.status().as_u16(),
        duration_ms: (start.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        aws_request_id: audit.aws_request_id.as_deref(),
    };
    if let Ok(mut text) = serde_json::to_string(&line) {
        text.push('\n');
        // A closed standard output must not take requests down with it.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    response
}
