//! The gateway check used by nginx `auth_request` and Traefik `forwardAuth`
//! (`/gateway/check`, every method: proxies forward the original one).

use super::{
    error::ApiError,
    pat::{authenticate, refused},
};
use app::server::AppState;
use axum::{
    extract::{Request, State},
    http::{request::Parts, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
    Router,
};
use std::borrow::Cow;

/// The routes under `/gateway`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/check", any(check))
        .fallback(super::error::no_endpoint)
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
fn required_scope(parts: &Parts) -> Option<Cow<'_, str>> {
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

/// 204 with identity headers when the request's token is valid and has the
/// required scope (`?scope=` or `X-Tessera-Scope`), 401 with
/// `WWW-Authenticate: Basic` (so git asks for credentials), or 403.
async fn check(State(state): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let (verified, client) = match authenticate(&state, &parts).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    if let Some(scope) = required_scope(&parts) {
        if !verified.scopes.allows(&scope) {
            refused(&state.core, &verified, &client, "token.denied", &scope);
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
