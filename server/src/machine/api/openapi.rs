//! The OpenAPI 3.1 document, built from the same endpoint table as the
//! router ([`super::ENDPOINTS`]), so the two cannot drift apart.

use super::{audit, credentials, endpoints::ENDPOINTS, me, tokens};
use axum::Json;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// Every stable `error` code an API answer may carry.
pub const ERROR_CODES: [&str; 24] = [
    "invalid_token",
    "token_rotated",
    "token_expired",
    "token_revoked",
    "account_disabled",
    "policy_violation",
    "two_factor_required",
    "ip_not_allowed",
    "resource_not_allowed",
    "insufficient_scope",
    "invalid_scope",
    "invalid_resource",
    "invalid_request",
    "invalid_body",
    "invalid_query",
    "already_submitted",
    "not_found",
    "method_not_allowed",
    "cross_site",
    "too_many_attempts",
    "unavailable",
    "invalid_signature",
    "not_configured",
    "internal",
];

/// `GET /api/v1/openapi.json`: an OpenAPI 3.1 document built from [`ENDPOINTS`].
pub async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The schema of `T` (generated from the Rust type by utoipa), as JSON.
fn schema_of<T: ToSchema>() -> (String, Value) {
    let schema = serde_json::to_value(T::schema()).unwrap_or_else(|_| json!({}));
    (T::name().into_owned(), schema)
}

/// The response and request bodies' schemas, generated from the types the
/// handlers serialize and deserialize, so the document cannot drift from
/// the bodies.
fn body_schemas() -> serde_json::Map<String, Value> {
    [
        schema_of::<tokens::TokenJson>(),
        schema_of::<tokens::SecretJson>(),
        schema_of::<tokens::TokenListJson>(),
        schema_of::<me::Me<'static>>(),
        schema_of::<me::MeToken<'static>>(),
        schema_of::<tokens::TokenBody>(),
        schema_of::<tokens::RotateBody>(),
        schema_of::<tokens::UsageJson>(),
        schema_of::<tokens::DeriveBody>(),
        schema_of::<tokens::AreaUseJson>(),
        schema_of::<tokens::NarrowedJson>(),
        schema_of::<app::audit::AuditEvent>(),
        schema_of::<audit::AuditPageJson>(),
        schema_of::<credentials::LeakReportJson>(),
        schema_of::<credentials::AcceptedJson>(),
        schema_of::<credentials::ScanningMatchJson>(),
        schema_of::<app::workloads::TrustRule>(),
        schema_of::<super::workloads::RuleListJson>(),
        schema_of::<super::workloads::RemovedJson>(),
        schema_of::<super::orgs::RequestJson>(),
        schema_of::<super::orgs::RequestListJson>(),
        schema_of::<super::orgs::DecisionBody>(),
        schema_of::<super::orgs::PoliciesJson>(),
        schema_of::<super::orgs::PolicyBody>(),
        schema_of::<super::service_accounts::AccountJson>(),
        schema_of::<super::service_accounts::AccountListJson>(),
        schema_of::<super::service_accounts::AccountBody>(),
        (
            "SecretScanningReport".to_owned(),
            json!({"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/SecretScanningMatch"}}),
        ),
    ]
    .into_iter()
    .collect()
}

/// The OpenAPI 3.1 document of [`ENDPOINTS`].
pub fn openapi_document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let error_answer = |what: &str| json!({"description": what, "content": {"application/json": {"schema": error}}});
    let mut paths = serde_json::Map::new();
    for e in ENDPOINTS {
        let (status, answer) = e.answer;
        let mut op = json!({
            "summary": e.summary,
            "operationId": format!("{}_{}", e.method, e.path.trim_start_matches("/api/v1/").replace(['/', '{', '}'], "_").trim_matches('_')),
            "security": [{"basic": []}, {"bearer": []}],
            "responses": {
                status.to_string(): {
                    "description": match status { 201 => "Created; `token` holds the secret, shown only here", 202 => "Accepted", _ => "OK" },
                    "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{answer}")}}},
                    "headers": {"X-Tessera-Token-Expires": {
                        "description": "When the calling token stops working (RFC 3339, UTC)",
                        "required": true,
                        "schema": {"type": "string", "format": "date-time"},
                    }},
                },
                "401": error_answer("invalid_token, token_expired, token_revoked, token_rotated or account_disabled"),
                "403": {
                    "description": "insufficient_scope (with required_scope and accepted_scopes, also in the X-Tessera-Accepted-Scopes header), policy_violation (with policy), sudo_required, two_factor_required or cross_site",
                    "content": {"application/json": {"schema": error}},
                    "headers": {"X-Tessera-Accepted-Scopes": {
                        "description": "On insufficient_scope: every scope that would have worked, joined by \", \" (e.g. `code:write, code:manage, full`)",
                        "schema": {"type": "string"},
                    }},
                },
                "default": error_answer("any other refusal: see `error` (invalid_request with field messages, invalid_body, not_found, already_submitted, …)"),
            },
        });
        if e.scope().is_none() {
            op["security"] = json!([]);
            op["description"] = json!("No authentication.");
            if let Some(r) = op["responses"].as_object_mut() {
                if let Some(ok) = r
                    .get_mut(&status.to_string())
                    .and_then(Value::as_object_mut)
                {
                    ok.remove("headers");
                }
                r.remove("401");
                r.remove("403");
                r.insert("default".into(), error_answer("invalid_body, invalid_request (more than 1,000 credentials), too_many_attempts (with Retry-After); for secret-scanning reports invalid_signature (401) or not_configured (404)"));
            }
        }
        let needs = e.required();
        if let Some(scope) = needs.scope {
            op["x-required-scope"] = json!(scope);
            let mut text =
                format!("Requires the scope `{scope}` (or a higher level of it, or full access)");
            if needs.unless_itself {
                op["x-scope-waived-for-itself"] = json!(true);
                text.push_str(", unless the token acts on itself");
            }
            if let Some(wider) = needs.wider {
                op["x-wider-scope"] = json!(wider);
                text.push_str(&format!("; `{wider}` for the wider answer"));
            }
            op["description"] = json!(format!("{text}."));
        }
        let mut params = Vec::new();
        if e.path.contains("{org}") {
            params.push(json!({"name": "org", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 39}}));
        }
        if e.path.contains("{id}") {
            params.push(json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}));
        }
        if e.path.contains("{name}") {
            params.push(json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 64}}));
        }
        if e.path.contains("{key}") {
            params.push(json!({"name": "key", "in": "path", "required": true, "schema": {"type": "string", "enum": app::orgs::POLICY_KEYS}}));
        }
        if e.path == "/api/v1/orgs/{org}/audit" {
            params.push(json!({"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}, "description": "next_cursor of the previous page"}));
            params.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": audit::MAX_LIMIT}}));
        }
        if !params.is_empty() {
            op["parameters"] = json!(params);
        }
        if e.method == "get" && e.path == "/api/v1/tokens" {
            op["parameters"] = json!([
                {"name": "include_revoked", "in": "query", "schema": {"type": "boolean"}},
                {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "name search"},
                {"name": "sort", "in": "query", "schema": {"type": "string", "enum": app::tokens::Sort::ALL.map(|s| s.as_str())}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "format": "int32", "minimum": 1}},
            ]);
        }
        if e.path == "/api/v1/audit" {
            op["parameters"] = json!([
                {"name": "user", "in": "query", "schema": {"type": "string"}, "description": "administrators (admin:read): a user name, or * for everyone"},
                {"name": "token", "in": "query", "schema": {"type": "integer", "format": "int64", "minimum": 1}},
                {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"}, "description": "YYYY-MM-DD or RFC 3339"},
                {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}, "description": "next_cursor of the previous page"},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": audit::MAX_LIMIT}},
            ]);
        }
        if let Some(body) = e.body {
            op["requestBody"] = json!({"required": body != "RotateBody", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        let entry = paths.entry(e.path.to_owned()).or_insert_with(|| json!({}));
        entry[e.method] = op;
    }
    let mut schemas = body_schemas();
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string", "enum": ERROR_CODES},
            "message": {"type": "string"},
            "required_scope": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            "id": {"type": "integer", "description": "with already_submitted: the token that exists"},
            "policy": {"type": "string", "description": "with policy_violation: the policy's key"},
            "resource": {"type": "string", "description": "with resource_not_allowed: the resource asked for"},
        }}),
    );
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
            "schemas": schemas,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.rs` file under `dir`.
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_error_code_the_server_writes_is_in_the_documented_enum() {
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut found = 0;
        // (this file only names the pattern)
        for file in files.into_iter().filter(|f| !f.ends_with("api/openapi.rs")) {
            let text = std::fs::read_to_string(&file).unwrap();
            // `ApiError::new(StatusCode::…, "code", …)`: the literal after the first comma
            for (at, _) in text.match_indices("ApiError::new(") {
                let rest = &text[at..];
                let Some(comma) = rest.find(',') else {
                    continue;
                };
                let after = &rest[comma + 1..];
                let Some(open) = after.find('"') else {
                    continue;
                };
                // a call whose code is not a literal (a variable) is skipped
                if after[..open].trim().contains(|c: char| c.is_alphanumeric()) {
                    continue;
                }
                let code = after[open + 1..].split('"').next().unwrap_or("");
                assert!(
                    ERROR_CODES.contains(&code),
                    "{}: error code {code:?} is not in ERROR_CODES (the OpenAPI Error enum)",
                    file.display()
                );
                found += 1;
            }
        }
        assert!(found >= 10, "the scan found only {found} error codes");
    }

    #[test]
    fn body_limits_in_the_document_are_the_rules_limits() {
        let doc = openapi_document();
        let body = &doc["components"]["schemas"]["TokenBody"]["properties"];
        assert_eq!(body["name"]["maxLength"], json!(app::tokens::NAME_MAX));
        assert_eq!(
            body["description"]["maxLength"],
            json!(app::tokens::DESCRIPTION_MAX)
        );
        // every answer's schema is generated and present
        for e in ENDPOINTS {
            let name = e.answer.1;
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
        }
    }
}
