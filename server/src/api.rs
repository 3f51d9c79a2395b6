//! The REST API (`/api/v1`, PAT-authenticated) and the gateway check used by
//! nginx `auth_request` and Traefik `forwardAuth`.

use crate::pat::{authenticate, ApiError, Pat};
use app::server::{tokens as service, tokens::TokenError, AppState};
use app::tokens::{ListQuery, Sort, TokenView};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/tokens", get(list_tokens))
        .route("/api/v1/tokens/{id}", get(get_token))
        .route("/api/v1/tokens/{id}/revoke", post(revoke_token))
        .route("/gateway/check", any(gateway_check))
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
                let status = if matches!(other, TokenError::Invalid(_)) { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::CONFLICT };
                let code = match other {
                    TokenError::Revoked => "token_revoked",
                    TokenError::Expired => "token_expired",
                    _ => "invalid_request",
                };
                ApiError::new(status, code, message.unwrap_or_else(|| "The request is not valid.".into()))
                    .with("fields", json!(fields))
            }
            None => {
                tracing::error!(error = %other, "token operation failed");
                ApiError::internal()
            }
        },
    }
}

/// `GET /api/v1/me` (`profile:read`): who the token speaks for.
async fn me(pat: Pat) -> Result<Json<Value>, ApiError> {
    pat.require("profile:read")?;
    let v = &pat.0;
    Ok(Json(json!({
        "id": v.user_id,
        "username": v.username,
        "token": { "id": v.token_id, "name": v.token_name, "scopes": v.scopes.to_string(), "expires_at": v.expires_at },
    })))
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
async fn list_tokens(State(state): State<AppState>, pat: Pat, Query(p): Query<ListParams>) -> Result<Json<Value>, ApiError> {
    pat.require("tokens:read")?;
    let q = ListQuery { include_revoked: p.include_revoked, search: p.q, sort: Sort::parse(&p.sort), page: p.page.unwrap_or(1) };
    let page = service::list(&state.core.db, pat.0.user_id, &q).await.map_err(service_error)?;
    Ok(Json(json!({
        "tokens": page.items.iter().map(|t| token_json(t, page.now)).collect::<Vec<_>>(),
        "total": page.total,
        "page": page.page,
        "pages": page.pages,
    })))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such token."))
}

/// `GET /api/v1/tokens/{id}` (`tokens:read`).
async fn get_token(State(state): State<AppState>, pat: Pat, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    pat.require("tokens:read")?;
    let t = service::get(&state.core.db, pat.0.user_id, parse_id(&id)?).await.map_err(service_error)?;
    Ok(Json(token_json(&t, app::server::db::now())))
}

/// `POST /api/v1/tokens/{id}/revoke` (`tokens:write`).
async fn revoke_token(State(state): State<AppState>, pat: Pat, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    pat.require("tokens:write")?;
    let t = service::revoke(&state.core, pat.0.user_id, parse_id(&id)?).await.map_err(service_error)?;
    Ok(Json(token_json(&t, app::server::db::now())))
}

#[derive(Deserialize)]
struct CheckParams {
    scope: Option<String>,
}

/// The gateway check: 204 with identity headers when the request's token is
/// valid and has the required scope (`?scope=` or `X-Tessera-Scope`), 401
/// with `WWW-Authenticate: Basic` (so git asks for credentials), or 403.
async fn gateway_check(State(state): State<AppState>, Query(p): Query<CheckParams>, req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    let headers = &parts.headers;
    let required = p
        .scope
        .or_else(|| headers.get("x-tessera-scope").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .filter(|s| !s.trim().is_empty());
    let verified = match authenticate(&state, &parts).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    if let Some(scope) = &required {
        if !verified.scopes.allows(scope) {
            return ApiError::insufficient_scope(scope).into_response();
        }
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    for (name, value) in [
        ("x-tessera-user", verified.username.clone()),
        ("x-tessera-user-id", verified.user_id.to_string()),
        ("x-tessera-token-id", verified.token_id.to_string()),
        ("x-tessera-scopes", verified.scopes.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    res
}
