//! The router inside AWS Lambda: API Gateway events (REST and HTTP APIs) become requests for
//! the same routes, by way of `lambda_http`.

use lambda_http::RequestExt as _;

/// The path as the caller sent it: `lambda_http` puts the stage in front of the path
/// (`/prod/v1/…`), which the routes do not have.
fn unstage(mut req: lambda_http::Request) -> lambda_http::Request {
    let raw = req.raw_http_path().to_string();
    if raw.is_empty() {
        return req;
    }
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    if let Ok(uri) = format!("{raw}{query}").parse() {
        *req.uri_mut() = uri;
    }
    req
}

/// Answers events from the Lambda Runtime API until the function is shut down.
pub async fn run(app: axum::Router) -> Result<(), lambda_http::Error> {
    let svc = tower::ServiceBuilder::new()
        .map_request(unstage)
        .service(app);
    lambda_http::run(svc).await
}
