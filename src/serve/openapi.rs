//! `GET /openapi.json`: the API's OpenAPI 3 document, built from the same route constants and
//! action list as the router, and every answer's status from [`ApiError`]'s own mapping, so
//! the document cannot drift from the code (a test compares them).

use serde_json::{Value, json};

use super::reply::{ApiError, SUCCESS};
use super::{HEALTH_ROUTE, INVOKE_ROUTE, OPENAPI_ROUTE};
use crate::invoke::Action;

/// The error answers of the invoke route, one example of each status.
pub fn invoke_errors() -> Vec<ApiError> {
    vec![
        ApiError::InvalidBody(Vec::new()),
        ApiError::Unauthorized,
        ApiError::Forbidden(String::new()),
        ApiError::UnknownAccount,
        ApiError::TooLarge,
        ApiError::HeaderTooLarge,
        ApiError::Aws {
            code: None,
            message: String::new(),
        },
        ApiError::Unavailable,
    ]
}

pub fn document() -> Value {
    let error_ref = json!({ "$ref": "#/components/schemas/Error" });
    let mut responses = serde_json::Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": SUCCESS,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Success" } } }
        }),
    );
    for e in invoke_errors() {
        responses.insert(
            e.status().as_u16().to_string(),
            json!({
                "description": e.status().canonical_reason().unwrap_or("error"),
                "content": { "application/json": { "schema": error_ref } }
            }),
        );
    }
    let param = |name: &str, description: &str, schema: Value| json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema });
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "sgops API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The central API's one route: an allow-listed EC2 security-group action with a boto3-shaped JSON body, under the allow-list in SSM Parameter Store and the guardrails of rule files."
        },
        "paths": {
            openapi_path(INVOKE_ROUTE): {
                "post": {
                    "operationId": "invoke",
                    "summary": "Run one allow-listed EC2 action in one account and region",
                    "security": [{ "bearer": [] }],
                    "parameters": [
                        param("account", "Account name in sgops.yaml, or its 12-digit id", json!({"type": "string"})),
                        param("region", "AWS region, like us-east-1", json!({"type": "string"})),
                        param("service", "The service; its allow-list is <prefix><service> in SSM", json!({"type": "string", "enum": [crate::invoke::SERVICE]})),
                        param("action", "The boto3 name of the action", json!({"type": "string", "enum": actions})),
                    ],
                    "requestBody": {
                        "required": true,
                        "description": "The boto3 request of the action, as JSON (at most 64 KiB); unknown keys are refused.",
                        "content": { "application/json": { "schema": { "type": "object" } } }
                    },
                    "responses": responses,
                }
            },
            HEALTH_ROUTE: {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness: the process answers",
                    "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } } }
                }
            },
            OPENAPI_ROUTE: {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } } }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }
            },
            "schemas": {
                "Success": {
                    "type": "object",
                    "required": ["statusCode", "successMsg", "response"],
                    "properties": {
                        "statusCode": { "type": "integer", "enum": [200] },
                        "successMsg": { "type": "string", "enum": [SUCCESS] },
                        "response": { "type": "object", "description": "EC2's answer in boto3's shape, as `sgops invoke` prints it" }
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["statusCode", "errorCode", "errorMessage", "errorMsg"],
                    "properties": {
                        "statusCode": { "type": "integer" },
                        "errorCode": { "type": "string", "description": "A name for programs; EC2's own code when AWS refused (500)" },
                        "errorMessage": { "type": "string" },
                        "errorMsg": { "type": "string", "description": "The same message (the seed's callers read one or the other)" },
                        "errors": {
                            "type": "array",
                            "description": "Body problems (400 InvalidRequestBody), each at its JSON path",
                            "items": {
                                "type": "object",
                                "properties": { "path": { "type": "string" }, "message": { "type": "string" } }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// axum's `{param}` is OpenAPI's too.
fn openapi_path(route: &str) -> String {
    route.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_and_status_of_the_code_is_documented() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
        documented.sort();
        let mut routes: Vec<&str> = super::super::ROUTES.iter().map(|(_, p)| *p).collect();
        routes.sort();
        assert_eq!(documented, routes);
        for (method, path) in super::super::ROUTES {
            assert!(
                paths[*path].get(method.to_lowercase()).is_some(),
                "{method} {path}"
            );
        }
        let statuses = paths[INVOKE_ROUTE]["post"]["responses"]
            .as_object()
            .unwrap();
        for code in [
            "200", "400", "401", "403", "404", "413", "431", "500", "503",
        ] {
            assert!(statuses.contains_key(code), "{code}");
        }
        let actions = &paths[INVOKE_ROUTE]["post"]["parameters"][3]["schema"]["enum"];
        assert_eq!(actions.as_array().unwrap().len(), Action::ALL.len());
    }
}
