//! `/scim/v2`: SCIM 2.0 provisioning (RFC 7644) for identity providers
//! (Entra, Okta, Keycloak with a SCIM plug-in). Authenticated by a Tessera
//! token with `scim:write` (administrators only) through the one path every
//! transport takes; every answer is `application/scim+json`, every refusal
//! a SCIM error (RFC 7644 §3.12).

use super::{
    error::ApiError,
    pat::{Pat, Required},
};
use app::domain::{
    audit::By,
    scim::{self, ScimError, USER_SCHEMA},
    AppState,
};
use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// The scope every SCIM call needs.
pub const SCOPE: &str = "scim:write";
const CONTENT_TYPE: &str = "application/scim+json";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn refusal(e: ScimError) -> Response {
    let mut body =
        json!({ "schemas": [ERROR], "status": e.status.to_string(), "detail": e.detail });
    if let Some(t) = e.scim_type {
        body["scimType"] = json!(t);
    }
    let mut res = answer(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    );
    if e.status == 401 {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"tessera-scim\""),
        );
    }
    res
}

/// The caller, or why not (a token refusal — 401, 403, 429… — in SCIM's shape).
fn caller(pat: Result<Pat, ApiError>) -> Result<By, ScimError> {
    let pat = pat.map_err(|e| ScimError {
        status: e.status.as_u16(),
        scim_type: None,
        detail: e.message,
    })?;
    let v = pat.verified();
    Ok(By::Token {
        user: v.user_id,
        token: v.token_id,
    })
}

fn base(state: &AppState) -> String {
    format!("{}/scim/v2", state.core.config.public_url)
}

fn body_json(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|e| ScimError {
        status: 400,
        scim_type: Some("invalidSyntax"),
        detail: format!("The body is not JSON: {e}"),
    })
}

fn list_of(resources: Vec<Value>, total: i64, start: i64) -> Value {
    json!({
        "schemas": [LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `?filter=…&startIndex=…&count=…`.
#[derive(Deserialize)]
pub struct ListQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<i64>,
    count: Option<i64>,
}

async fn list_users(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(e) = caller(pat) {
        return refusal(e);
    }
    let Ok(Query(q)) = query else {
        return refusal(ScimError {
            status: 400,
            scim_type: Some("invalidValue"),
            detail: "startIndex and count must be integers.".into(),
        });
    };
    let start = q.start_index.unwrap_or(1).max(1);
    let count = q.count.unwrap_or(100);
    match scim::list(&state.core, q.filter.as_deref(), start, count).await {
        Ok((total, rows)) => {
            let base = base(&state);
            let resources = rows.iter().map(|r| r.resource(&base)).collect();
            answer(StatusCode::OK, list_of(resources, total, start))
        }
        Err(e) => refusal(e),
    }
}

fn one(state: &AppState, status: StatusCode, row: &scim::Row) -> Response {
    let base = base(state);
    let mut res = answer(status, row.resource(&base));
    if let Ok(location) = header::HeaderValue::from_str(&format!("{base}/Users/{}", row.id)) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res
}

async fn get_user(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = caller(pat) {
        return refusal(e);
    }
    match scim::get(&state.core, &id).await {
        Ok(row) => one(&state, StatusCode::OK, &row),
        Err(e) => refusal(e),
    }
}

/// What a write does with its body.
enum Write {
    Create,
    Replace(String),
    Patch(String),
}

/// A POST, PUT or PATCH: the caller, the body, the change; the account.
async fn write(
    state: &AppState,
    pat: Result<Pat, ApiError>,
    body: &Bytes,
    what: Write,
) -> Response {
    let by = match caller(pat) {
        Ok(by) => by,
        Err(e) => return refusal(e),
    };
    let body = match body_json(body) {
        Ok(b) => b,
        Err(e) => return refusal(e),
    };
    let core = &state.core;
    let outcome = match &what {
        Write::Create => scim::create(core, by, &body).await,
        Write::Replace(id) => scim::replace(core, by, id, &body).await,
        Write::Patch(id) => scim::patch(core, by, id, &body).await,
    };
    let status = match what {
        Write::Create => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    match outcome {
        Ok(row) => one(state, status, &row),
        Err(e) => refusal(e),
    }
}

async fn create_user(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    body: Bytes,
) -> Response {
    write(&state, pat, &body, Write::Create).await
}

async fn replace_user(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    write(&state, pat, &body, Write::Replace(id)).await
}

async fn patch_user(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    write(&state, pat, &body, Write::Patch(id)).await
}

async fn delete_user(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let by = match caller(pat) {
        Ok(by) => by,
        Err(e) => return refusal(e),
    };
    match scim::delete(&state.core, by, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refusal(e),
    }
}

fn meta(base: &str, kind: &str, path: &str) -> Value {
    json!({ "resourceType": kind, "location": format!("{base}{path}") })
}

fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/tessera/tessera#provisioning-scim-20",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": scim::MAX_COUNT },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Tessera token",
            "description": "A Tessera personal access token with scim:write, made by an administrator, sent as a Bearer token.",
            "primary": true,
        }],
        "meta": meta(base, "ServiceProviderConfig", "/ServiceProviderConfig"),
    })
}

fn attribute(name: &str, kind: &str, description: &str, extra: Value) -> Value {
    let mut a = json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    });
    if let (Some(a), Some(extra)) = (a.as_object_mut(), extra.as_object()) {
        a.extend(extra.clone());
    }
    a
}

fn user_schema(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A Tessera account",
        "attributes": [
            attribute("userName", "string", "The account's name: letters, digits, '.', '_' and '-', 2 to 32, starting with a letter or digit; unique whatever its case.", json!({ "required": true, "uniqueness": "server" })),
            attribute("externalId", "string", "The identity provider's id for the person.", json!({ "caseExact": true })),
            attribute("active", "boolean", "False: the account is disabled (signed out, its tokens refused).", json!({})),
            attribute("emails", "complex", "The person's work address (the primary one is kept).", json!({
                "multiValued": true,
                "subAttributes": [
                    attribute("value", "string", "The address.", json!({})),
                    attribute("type", "string", "work", json!({ "canonicalValues": ["work"] })),
                    attribute("primary", "boolean", "The address kept.", json!({})),
                ],
            })),
        ],
        "meta": meta(base, "Schema", &format!("/Schemas/{USER_SCHEMA}")),
    })
}

fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "Tessera accounts",
        "schema": USER_SCHEMA,
        "meta": meta(base, "ResourceType", "/ResourceTypes/User"),
    })
}

async fn config(State(state): State<AppState>, pat: Result<Pat, ApiError>) -> Response {
    if let Err(e) = caller(pat) {
        return refusal(e);
    }
    answer(StatusCode::OK, service_provider_config(&base(&state)))
}

/// A discovery document: the list of them, or the one the path names
/// (`name` is the only one there is).
async fn discovery(
    state: &AppState,
    pat: Result<Pat, ApiError>,
    id: Option<&str>,
    name: &str,
    doc: fn(&str) -> Value,
) -> Response {
    if let Err(e) = caller(pat) {
        return refusal(e);
    }
    let doc = doc(&base(state));
    match id {
        None => answer(StatusCode::OK, list_of(vec![doc], 1, 1)),
        Some(id) if id == name => answer(StatusCode::OK, doc),
        Some(_) => refusal(ScimError {
            status: 404,
            scim_type: None,
            detail: format!("There is no such document; there is {name}."),
        }),
    }
}

async fn schemas(State(state): State<AppState>, pat: Result<Pat, ApiError>) -> Response {
    discovery(&state, pat, None, USER_SCHEMA, user_schema).await
}

async fn schema(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
) -> Response {
    discovery(&state, pat, Some(&id), USER_SCHEMA, user_schema).await
}

async fn resource_types(State(state): State<AppState>, pat: Result<Pat, ApiError>) -> Response {
    discovery(&state, pat, None, "User", user_resource_type).await
}

async fn resource_type(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
) -> Response {
    discovery(&state, pat, Some(&id), "User", user_resource_type).await
}

async fn unknown() -> Response {
    refusal(ScimError {
        status: 404,
        scim_type: None,
        detail: "There is no such SCIM endpoint; Tessera provisions /Users.".into(),
    })
}

async fn not_allowed() -> Response {
    refusal(ScimError {
        status: 405,
        scim_type: None,
        detail: "That method is not supported here.".into(),
    })
}

/// The SCIM routes (each needing `scim:write`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(config).fallback(not_allowed),
        )
        .route("/scim/v2/Schemas", get(schemas).fallback(not_allowed))
        .route("/scim/v2/Schemas/{id}", get(schema).fallback(not_allowed))
        .route(
            "/scim/v2/ResourceTypes",
            get(resource_types).fallback(not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes/{id}",
            get(resource_type).fallback(not_allowed),
        )
        .route(
            "/scim/v2/Users",
            get(list_users).post(create_user).fallback(not_allowed),
        )
        .route(
            "/scim/v2/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user)
                .fallback(not_allowed),
        )
        .route("/scim/v2", get(unknown))
        .route("/scim/v2/{*rest}", axum::routing::any(unknown))
        .layer(axum::Extension(Required::scope(SCOPE)))
}
