//! RFC 7662 token introspection (`POST /oauth/introspect`) for the one
//! gateway client named by `--introspection-client`.

use super::error::{ApiError, ApiForm};
use app::server::{verify::VerifyError, AppState};
use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;

/// The routes under `/oauth`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/introspect",
            post(introspect).fallback(super::error::method_not_allowed),
        )
        .fallback(super::error::no_endpoint)
}

#[derive(Deserialize)]
struct IntrospectForm {
    #[serde(default)]
    token: String,
}

/// True when `headers` carry the configured client's Basic credentials
/// (compared in constant time).
fn is_client(expected: &str, headers: &HeaderMap) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .unwrap_or_default();
    bool::from(presented.ct_eq(expected.as_bytes()))
}

/// An active token yields its claims; anything else exactly `{"active": false}`.
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiForm(form): ApiForm<IntrospectForm>,
) -> Response {
    let allowed = state
        .core
        .config
        .introspection_client
        .as_deref()
        .is_some_and(|expected| is_client(expected, &headers));
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
        Err(VerifyError::Rejected(_)) => Json(json!({ "active": false })).into_response(),
        Err(VerifyError::Database(e)) => {
            tracing::error!(error = %e, "introspection failed");
            ApiError::unavailable().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_exact_client_credentials_pass() {
        let mut h = HeaderMap::new();
        assert!(!is_client("gw:secret", &h));
        let basic =
            |s: &str| HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(s))).unwrap();
        h.insert(header::AUTHORIZATION, basic("gw:secret"));
        assert!(is_client("gw:secret", &h));
        for wrong in ["gw:secre", "gw:secret2", "gw:", ""] {
            h.insert(header::AUTHORIZATION, basic(wrong));
            assert!(!is_client("gw:secret", &h), "{wrong}");
        }
    }
}
