//! The REST API (`/api/v1`, PAT-authenticated) and the gateway check used by
//! nginx `auth_request` and Traefik `forwardAuth`.

use crate::pat::{authenticate, ApiError, Pat};
use app::scopes::{ScopeError, Scopes};
use app::server::{tokens as service, tokens::TokenError, AppState};
use app::tokens::{ListQuery, Sort, TokenForm, TokenView};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, delete, get, patch, post, MethodRouter},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::{borrow::Cow, collections::BTreeMap};

/// One API operation: the router and the OpenAPI document are both built
/// from this table, so they cannot drift apart.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    /// The scope a token needs (`None`: not PAT-authenticated this way).
    pub scope: Option<&'static str>,
    pub summary: &'static str,
    /// Name of the request body schema, if any.
    pub body: Option<&'static str>,
    route: fn() -> MethodRouter<AppState>,
}

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/v1/me",
        scope: Some("profile:read"),
        summary: "The user and token making the request",
        body: None,
        route: || get(me),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/tokens",
        scope: Some("tokens:read"),
        summary: "List your tokens (never their secrets)",
        body: None,
        route: || get(list_tokens),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens",
        scope: Some("tokens:manage"),
        summary: "Create a token; the secret is in this response only",
        body: Some("TokenBody"),
        route: || post(create_token),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/tokens/{id}",
        scope: Some("tokens:read"),
        summary: "One token",
        body: None,
        route: || get(get_token),
    },
    Endpoint {
        method: "patch",
        path: "/api/v1/tokens/{id}",
        scope: Some("tokens:write"),
        summary: "Edit a token's name, description, expiration or scopes",
        body: Some("TokenBody"),
        route: || patch(edit_token),
    },
    Endpoint {
        method: "delete",
        path: "/api/v1/tokens/{id}",
        scope: Some("tokens:write"),
        summary: "Revoke a token",
        body: None,
        route: || delete(revoke_token),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/revoke",
        scope: Some("tokens:write"),
        summary: "Revoke a token",
        body: None,
        route: || post(revoke_token),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/regenerate",
        scope: Some("tokens:write"),
        summary: "A new secret for a token; in this response only",
        body: None,
        route: || post(regenerate_token),
    },
];

pub fn router() -> Router<AppState> {
    // one method router per path, so an unserved method gets the JSON 405
    // (axum still adds the `Allow` header) without a layer on every request
    let mut paths: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    let extra: [(&str, fn() -> MethodRouter<AppState>); 2] = [
        ("/api/v1/openapi.json", || get(openapi)),
        ("/oauth/introspect", || post(introspect)),
    ];
    let all = ENDPOINTS.iter().map(|e| (e.path, e.route)).chain(extra);
    for (path, route) in all {
        let methods = match paths.remove(path) {
            Some(m) => m.merge(route()),
            None => route(),
        };
        paths.insert(path, methods);
    }
    paths
        .into_iter()
        .fold(Router::new(), |r, (path, m)| {
            r.route(path, m.fallback(method_not_allowed))
        })
        // every method: nginx and Traefik forward the original one
        .route("/gateway/check", any(gateway_check))
}

/// A known API path called with a method it does not serve.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This endpoint does not accept that method.",
    )
}

/// True for paths served to machine clients, whose errors are JSON.
pub fn is_api_path(path: &str) -> bool {
    ["/api/", "/gateway/", "/oauth/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// `GET /api/v1/openapi.json`: an OpenAPI 3.1 document built from [`ENDPOINTS`].
async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

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
                    "error": {"type": "string", "enum": ["invalid_token", "token_expired", "token_revoked", "insufficient_scope", "invalid_request", "not_found", "unavailable"]},
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

fn token_json(t: &TokenView, now: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "scopes": t.scopes.to_string(),
        "hint": t.hint,
        "status": t.status(now).label().to_lowercase(),
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "last_used_at": t.last_used_at,
    })
}

fn service_error(e: TokenError) -> ApiError {
    match e {
        TokenError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such token."),
        other => match service::describe(&other) {
            Some((fields, message)) => {
                let status = if matches!(other, TokenError::Invalid(_)) {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::CONFLICT
                };
                let code = match other {
                    TokenError::Revoked => "token_revoked",
                    TokenError::Expired => "token_expired",
                    _ => "invalid_request",
                };
                ApiError::new(
                    status,
                    code,
                    message.unwrap_or_else(|| "The request is not valid.".into()),
                )
                .with("fields", json!(fields))
            }
            None => {
                tracing::error!(error = %other, "token operation failed");
                ApiError::internal()
            }
        },
    }
}

#[derive(Serialize)]
struct Me<'a> {
    id: i64,
    username: &'a str,
    token: MeToken<'a>,
}

#[derive(Serialize)]
struct MeToken<'a> {
    id: i64,
    name: &'a str,
    scopes: &'a str,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /api/v1/me` (`profile:read`): who the token speaks for.
async fn me(pat: Pat) -> Result<Response, ApiError> {
    pat.require("profile:read")?;
    let v = &pat.0;
    let body = v.document.get_or_init(|| {
        let me = Me {
            id: v.user_id,
            username: &v.username,
            token: MeToken {
                id: v.token_id,
                name: &v.token_name,
                scopes: &v.scope_text,
                expires_at: v.expires_at,
            },
        };
        serde_json::to_vec(&me).unwrap_or_default().into()
    });
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.clone(),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    include_revoked: bool,
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: Option<u32>,
}

/// `GET /api/v1/tokens` (`tokens:read`).
async fn list_tokens(
    State(state): State<AppState>,
    pat: Pat,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    pat.require("tokens:read")?;
    let q = ListQuery {
        include_revoked: p.include_revoked,
        search: p.q,
        sort: Sort::parse(&p.sort),
        page: p.page.unwrap_or(1),
    };
    let page = service::list(&state.core.db, pat.0.user_id, &q)
        .await
        .map_err(service_error)?;
    Ok(Json(json!({
        "tokens": page.items.iter().map(|t| token_json(t, page.now)).collect::<Vec<_>>(),
        "total": page.total,
        "page": page.page,
        "pages": page.pages,
    })))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such token."))
}

/// `GET /api/v1/tokens/{id}` (`tokens:read`).
async fn get_token(
    State(state): State<AppState>,
    pat: Pat,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    pat.require("tokens:read")?;
    let t = service::get(&state.core.db, pat.0.user_id, parse_id(&id)?)
        .await
        .map_err(service_error)?;
    Ok(Json(token_json(&t, app::server::db::now())))
}

/// `POST /api/v1/tokens/{id}/revoke` (`tokens:write`).
async fn revoke_token(
    State(state): State<AppState>,
    pat: Pat,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    pat.require("tokens:write")?;
    let t = service::revoke(&state.core, pat.0.user_id, parse_id(&id)?)
        .await
        .map_err(service_error)?;
    Ok(Json(token_json(&t, app::server::db::now())))
}

/// What the gateway check tells the proxy (names checked once, at compile time).
const IDENTITY_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-tessera-user-id"),
    HeaderName::from_static("x-tessera-token-id"),
    HeaderName::from_static("x-tessera-user"),
    HeaderName::from_static("x-tessera-scopes"),
];

/// The scope a gateway asks for: the first `?scope=`, else the
/// `X-Tessera-Scope` header; `None` when absent or blank (any valid token).
fn required_scope(parts: &axum::http::request::Parts) -> Option<Cow<'_, str>> {
    let from_query = parts.uri.query().map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v)
    });
    match from_query {
        Some(Some(scope)) => Some(scope),
        _ => parts
            .headers
            .get("x-tessera-scope")
            .and_then(|v| v.to_str().ok())
            .map(Cow::Borrowed),
    }
    .filter(|s| !s.trim().is_empty())
}

/// The gateway check: 204 with identity headers when the request's token is
/// valid and has the required scope (`?scope=` or `X-Tessera-Scope`), 401
/// with `WWW-Authenticate: Basic` (so git asks for credentials), or 403.
async fn gateway_check(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    let verified = match authenticate(&state, &parts).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    if let Some(scope) = required_scope(&parts) {
        if !verified.scopes.allows(&scope) {
            return ApiError::insufficient_scope(&scope).into_response();
        }
    }
    // made once per verification; a cache hit clones four shared values
    let values = verified.gateway_headers.get_or_init(|| {
        let text = |v: &str| HeaderValue::from_str(v).ok();
        [
            Some(HeaderValue::from(verified.user_id)),
            Some(HeaderValue::from(verified.token_id)),
            text(&verified.username),
            text(&verified.scope_text),
        ]
    });
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    for (name, value) in IDENTITY_HEADERS.into_iter().zip(values) {
        if let Some(v) = value {
            h.insert(name, v.clone());
        }
    }
    res
}

/// A token's settings as the API takes them. Absent fields keep their
/// current value when editing (and take the page's defaults when creating).
#[derive(Deserialize, Default)]
struct TokenBody {
    name: Option<String>,
    description: Option<String>,
    /// Days from now (7, 30, …, up to the operator's maximum).
    expires_in_days: Option<u32>,
    /// Or a date, `YYYY-MM-DD` (the token ends at 23:59:59 UTC that day).
    expires_on: Option<String>,
    /// `full`, or space-separated `area:level` scopes.
    scopes: Option<String>,
    /// Optional idempotency key: a repeated create with it creates nothing.
    request_id: Option<String>,
}

fn apply(body: &TokenBody, form: &mut TokenForm) -> Result<Option<Scopes>, ApiError> {
    if let Some(n) = &body.name {
        form.name = n.clone();
    }
    if let Some(d) = &body.description {
        form.description = d.clone();
    }
    if let Some(days) = body.expires_in_days {
        form.expiry = days.to_string();
    } else if let Some(date) = &body.expires_on {
        form.expiry = "custom".into();
        form.expiry_date = date.clone();
    }
    let Some(raw) = &body.scopes else {
        return Ok(None);
    };
    let scopes = Scopes::parse(raw).map_err(|e: ScopeError| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            e.to_string(),
        )
        .with("fields", json!({ "scopes": e.to_string() }))
    })?;
    match &scopes {
        Scopes::Full => {
            form.scope_mode = "full".into();
            form.levels.clear();
        }
        Scopes::Custom(map) => {
            form.scope_mode = "custom".into();
            form.levels = map
                .iter()
                .map(|(a, l)| (a.clone(), l.as_str().to_owned()))
                .collect();
        }
    }
    Ok(Some(scopes))
}

/// A token may only hand out what it has itself.
fn no_escalation(pat: &Pat, scopes: &Scopes) -> Result<(), ApiError> {
    if pat.0.scopes.covers(scopes) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "This token cannot grant or act on scopes beyond its own ({}).",
                pat.0.scopes
            ),
        )
        .with("required_scope", json!(scopes.to_string())))
    }
}

fn secret_json(s: &app::tokens::NewSecret) -> Value {
    let mut v = token_json(&s.token, app::server::db::now());
    v["token"] = json!(s.secret);
    v
}

/// `POST /api/v1/tokens` (`tokens:manage`): creates a token; its secret is
/// in this response only.
async fn create_token(
    State(state): State<AppState>,
    pat: Pat,
    Json(body): Json<TokenBody>,
) -> Result<Response, ApiError> {
    pat.require("tokens:manage")?;
    let mut form = TokenForm {
        expiry: app::tokens::DEFAULT_EXPIRY_DAYS.to_string(),
        ..Default::default()
    };
    let scopes = apply(&body, &mut form)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "Give the token scopes: \"full\" or area:level pairs.",
        )
        .with(
            "fields",
            json!({ "scopes": "Choose at least one scope, or Full access." }),
        )
    })?;
    no_escalation(&pat, &scopes)?;
    let input = app::tokens::validate(
        &form,
        app::server::db::now(),
        state.core.config.max_token_days,
        false,
    )
    .map_err(|f| service_error(TokenError::Invalid(f)))?;
    if input.expires_at.is_some_and(|at| at > pat.0.expires_at) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "A token cannot outlive the token that creates it.",
        )
        .with("fields", json!({ "expiry": format!("Choose an expiration on or before {}.", pat.0.expires_at.date_naive()) })));
    }
    let created = service::create(
        &state.core.db,
        pat.0.user_id,
        input,
        body.request_id.as_deref().unwrap_or(""),
    )
    .await
    .map_err(service_error)?;
    Ok((StatusCode::CREATED, Json(secret_json(&created))).into_response())
}

/// `PATCH /api/v1/tokens/{id}` (`tokens:write`).
async fn edit_token(
    State(state): State<AppState>,
    pat: Pat,
    Path(id): Path<String>,
    Json(body): Json<TokenBody>,
) -> Result<Json<Value>, ApiError> {
    pat.require("tokens:write")?;
    let id = parse_id(&id)?;
    let current = service::get(&state.core.db, pat.0.user_id, id)
        .await
        .map_err(service_error)?;
    no_escalation(&pat, &current.scopes)?;
    let mut form = TokenForm::from_token(&current);
    if let Some(scopes) = apply(&body, &mut form)? {
        no_escalation(&pat, &scopes)?;
    }
    let t = service::update_from_form(&state.core, pat.0.user_id, id, &form)
        .await
        .map_err(service_error)?;
    Ok(Json(token_json(&t, app::server::db::now())))
}

/// `POST /api/v1/tokens/{id}/regenerate` (`tokens:write`): a new secret,
/// in this response only.
async fn regenerate_token(
    State(state): State<AppState>,
    pat: Pat,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    pat.require("tokens:write")?;
    let id = parse_id(&id)?;
    let current = service::get(&state.core.db, pat.0.user_id, id)
        .await
        .map_err(service_error)?;
    no_escalation(&pat, &current.scopes)?;
    let s = service::regenerate(&state.core, pat.0.user_id, id)
        .await
        .map_err(service_error)?;
    Ok(Json(secret_json(&s)))
}

#[derive(Deserialize)]
struct IntrospectForm {
    #[serde(default)]
    token: String,
}

/// `POST /oauth/introspect` (RFC 7662), for the configured gateway client.
async fn introspect(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<IntrospectForm>,
) -> Response {
    let allowed = state
        .core
        .config
        .introspection_client
        .as_deref()
        .is_some_and(|expected| {
            let presented = headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Basic ")
                        .or_else(|| v.strip_prefix("basic "))
                })
                .and_then(|b| {
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b.trim())
                        .ok()
                })
                .unwrap_or_default();
            constant_time_eq(&presented, expected.as_bytes())
        });
    if !allowed {
        return ApiError::unauthorized(
            "invalid_client",
            "Introspection needs the configured client credentials.",
        )
        .into_response();
    }
    match state
        .core
        .verifier
        .verify(&state.core.db, form.token.trim())
        .await
    {
        Ok(v) => Json(json!({
            "active": true,
            "scope": v.scope_text,
            "exp": v.expires_at.timestamp(),
            "iat": v.created_at.timestamp(),
            "sub": v.user_id.to_string(),
            "username": v.username,
            "token_type": "bearer",
            "jti": v.token_id.to_string(),
        }))
        .into_response(),
        Err(app::server::verify::VerifyError::Rejected(_)) => {
            Json(json!({ "active": false })).into_response()
        }
        Err(app::server::verify::VerifyError::Database(e)) => {
            tracing::error!(error = %e, "introspection failed");
            ApiError::internal().into_response()
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
