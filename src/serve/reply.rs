//! The API's answers in the seed's JSON shapes: `{"statusCode": 200, "successMsg": …,
//! "response": …}`, and for every error `errorCode` with the message under both
//! `errorMessage` and `errorMsg` (the seed's callers read one or the other).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::invoke::Problem;

pub const SUCCESS: &str = "API action has been successfully completed";

/// Why a request was not carried out, as the caller hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 401, whatever the reason (the log has it).
    Unauthorized,
    /// 403: the client may not call that account or action.
    Forbidden(String),
    /// 404
    UnknownAccount,
    UnknownRegion,
    NoRoute,
    /// 405
    Method,
    /// 400
    InvalidService(String),
    ActionNotAllowed(String),
    InvalidBody(Vec<Problem>),
    Guardrails(Vec<String>),
    /// 413
    TooLarge,
    /// 431: a header over the limit.
    HeaderTooLarge,
    /// 500: AWS refused, with EC2's code when it sent one.
    Aws {
        code: Option<String>,
        message: String,
    },
    /// 503: AWS, SSM or the issuer could not be reached, or the request ran out of time.
    Unavailable,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownAccount | ApiError::UnknownRegion | ApiError::NoRoute => {
                StatusCode::NOT_FOUND
            }
            ApiError::Method => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidService(_)
            | ApiError::ActionNotAllowed(_)
            | ApiError::InvalidBody(_)
            | ApiError::Guardrails(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeaderTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Aws { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// `errorCode`: a name for programs; EC2's own code for its refusals.
    pub fn code(&self) -> String {
        match self {
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::UnknownAccount => "AccountNotFound",
            ApiError::UnknownRegion => "RegionNotFound",
            ApiError::NoRoute => "RouteNotFound",
            ApiError::Method => "MethodNotAllowed",
            ApiError::InvalidService(_) => "InvalidService",
            ApiError::ActionNotAllowed(_) => "ActionNotAllowed",
            ApiError::InvalidBody(_) => "InvalidRequestBody",
            ApiError::Guardrails(_) => "GuardrailViolation",
            ApiError::TooLarge => "PayloadTooLarge",
            ApiError::HeaderTooLarge => "RequestHeaderFieldsTooLarge",
            ApiError::Aws { code, .. } => return code.clone().unwrap_or_else(|| "AwsError".into()),
            ApiError::Unavailable => "ServiceUnavailable",
        }
        .to_string()
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => "Unauthorized".into(),
            ApiError::Forbidden(m) => m.clone(),
            ApiError::UnknownAccount => "No account for the project_id".into(),
            ApiError::UnknownRegion => "Please enter a valid region in the url path".into(),
            ApiError::NoRoute => "No such route: POST /v1/accounts/{account}/regions/{region}/services/{service}/actions/{action}".into(),
            ApiError::Method => "Method not allowed on this route".into(),
            ApiError::InvalidService(s) => format!("Service {s} is not an allowed action for the API"),
            ApiError::ActionNotAllowed(a) => format!("Action {a} is not an allowed action for the API"),
            ApiError::InvalidBody(problems) => format!(
                "Invalid request body: {}",
                problems
                    .iter()
                    .map(|p| if p.path.is_empty() {
                        p.message.clone()
                    } else {
                        format!("{}: {}", p.path, p.message)
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            ApiError::Guardrails(b) => format!(
                "Refused by guardrails: the body opens a denied port to the world: {}",
                b.join("; ")
            ),
            ApiError::TooLarge => "Request body over 64 KiB".into(),
            ApiError::HeaderTooLarge => "A request header is over 8 KiB".into(),
            ApiError::Aws { message, .. } => message.clone(),
            ApiError::Unavailable => "AWS could not be reached; try again later".into(),
        }
    }

    pub fn body(&self) -> Value {
        let message = self.message();
        let mut body = json!({
            "statusCode": self.status().as_u16(),
            "errorCode": self.code(),
            "errorMessage": message,
            "errorMsg": message,
        });
        if let ApiError::InvalidBody(problems) = self {
            body["errors"] = problems
                .iter()
                .map(|p| json!({ "path": p.path, "message": p.message }))
                .collect();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_response(self.status(), &self.body());
        if self == ApiError::Unauthorized {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// 200 with what `sgops invoke` prints under `response`.
pub fn success(response: Value) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "statusCode": 200,
            "successMsg": SUCCESS,
            "response": response,
        }),
    )
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_code_and_the_message_twice() {
        let b = ApiError::InvalidService("s3".into()).body();
        assert_eq!(
            b,
            json!({"statusCode": 400, "errorCode": "InvalidService",
                   "errorMessage": "Service s3 is not an allowed action for the API",
                   "errorMsg": "Service s3 is not an allowed action for the API"})
        );
        let e = ApiError::Aws {
            code: Some("InvalidPermission.Duplicate".into()),
            message: "InvalidPermission.Duplicate: the rule exists".into(),
        };
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.body()["errorCode"], "InvalidPermission.Duplicate");
        let body = ApiError::InvalidBody(vec![Problem {
            path: "IpPermissions[0].FromPort".into(),
            message: "expected a number".into(),
        }])
        .body();
        assert_eq!(body["errors"][0]["path"], "IpPermissions[0].FromPort");
        assert_eq!(
            body["errorMsg"],
            "Invalid request body: IpPermissions[0].FromPort: expected a number"
        );
    }

    #[test]
    fn unauthorized_says_nothing_more() {
        let b = ApiError::Unauthorized.body();
        assert_eq!(b["errorMessage"], "Unauthorized");
        assert_eq!(b.as_object().unwrap().len(), 4);
    }
}
