//! The OpenAPI 3.1 document, built from the same endpoint table as the
//! router ([`super::ENDPOINTS`]), so the two cannot drift apart.

use super::endpoints::ENDPOINTS;
use axum::Json;
use serde_json::{json, Value};

/// Every stable `error` code an API answer may carry.
pub const ERROR_CODES: [&str; 13] = [
    "invalid_token",
    "token_expired",
    "token_revoked",
    "insufficient_scope",
    "invalid_request",
    "invalid_body",
    "invalid_query",
    "already_submitted",
    "not_found",
    "method_not_allowed",
    "cross_site",
    "too_many_attempts",
    "unavailable",
];

/// `GET /api/v1/openapi.json`: an OpenAPI 3.1 document built from [`ENDPOINTS`].
pub async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 document of [`ENDPOINTS`].
pub fn openapi_document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let mut paths = serde_json::Map::new();
    for e in ENDPOINTS {
        let mut op = json!({
            "summary": e.summary,
            "operationId": format!("{}_{}", e.method, e.path.trim_start_matches("/api/v1/").replace(['/', '{', '}'], "_").trim_matches('_')),
            "security": [{"basic": []}, {"bearer": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                "401": {"description": "invalid_token, token_expired or token_revoked", "content": {"application/json": {"schema": error}}},
                "403": {"description": "insufficient_scope", "content": {"application/json": {"schema": error}}},
                "422": {"description": "invalid_request (with field messages)", "content": {"application/json": {"schema": error}}},
            },
        });
        if let Some(scope) = e.scope {
            op["x-required-scope"] = json!(scope);
            op["description"] = json!(format!(
                "Requires the scope `{scope}` (or a higher level of it, or full access)."
            ));
        }
        if e.path.contains("{id}") {
            op["parameters"] = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}]);
        }
        if let Some(body) = e.body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        if e.method == "post" && e.path == "/api/v1/tokens" {
            op["responses"]["201"] =
                json!({"description": "Created; `token` holds the secret, shown only here"});
        }
        let entry = paths.entry(e.path.to_owned()).or_insert_with(|| json!({}));
        entry[e.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Tessera API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Personal access tokens. Authenticate with a PAT as the HTTP Basic password or as a Bearer token."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "any user name, the PAT as password"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string", "enum": ERROR_CODES},
                    "message": {"type": "string"},
                    "required_scope": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                }},
                "TokenBody": {"type": "object", "properties": {
                    "name": {"type": "string", "maxLength": app::tokens::NAME_MAX},
                    "description": {"type": "string", "maxLength": app::tokens::DESCRIPTION_MAX},
                    "expires_in_days": {"type": "integer", "minimum": 1},
                    "expires_on": {"type": "string", "format": "date"},
                    "scopes": {"type": "string", "examples": ["full", "code:read wiki:write"]},
                    "request_id": {"type": "string", "description": "idempotency key for create"},
                }},
            },
        },
    })
}
