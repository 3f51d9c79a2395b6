//! RFC 7662 token introspection (`POST /oauth/introspect`) for the one
//! gateway client named by `--introspection-client`.

use super::error::{ApiError, ApiForm};
use crate::middleware::{client_from, ClientIp};
use app::domain::{
    authenticate::{Channel, Denied},
    throttle::{address_key, Door, RetryAfter},
    AppState,
};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, post},
    Extension, Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;

/// The routes under `/oauth`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/oauth/introspect",
            post(introspect).fallback(super::error::method_not_allowed),
        )
        .route("/oauth", any(super::error::no_endpoint))
        .route("/oauth/", any(super::error::no_endpoint))
        .route("/oauth/{*rest}", any(super::error::no_endpoint))
}

#[derive(Deserialize)]
struct IntrospectForm {
    #[serde(default)]
    token: String,
    /// The address the resource server saw the token come from (an
    /// extension: the caller is authenticated, so its word is taken);
    /// without it, a token with an allowlist is not active.
    #[serde(default)]
    client_ip: String,
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
/// Failed client authentications are throttled per client address.
async fn introspect(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    ApiForm(form): ApiForm<IntrospectForm>,
) -> Response {
    let throttle = &state.core.throttle;
    let address = address_key(ip);
    let door = Door::IntrospectionAddress;
    let allowed = state
        .core
        .config
        .introspection_client
        .as_ref()
        .is_some_and(|expected| is_client(expected.expose_secret(), &headers));
    // a failure is counted before it is answered: parallel guesses cannot
    // all slip past one check (the right client only reads the count)
    let gate = if allowed {
        throttle.check(door, &address).await
    } else {
        throttle.hit(&[(door, &address)]).await
    };
    match gate {
        Ok(Ok(())) => {}
        Ok(Err(wait)) => return too_many(wait),
        Err(e) => {
            tracing::error!(error = %e, "throttle check failed");
            return ApiError::unavailable().into_response();
        }
    }
    if !allowed {
        return ApiError::unauthorized(
            "invalid_client",
            "Introspection needs the configured client credentials.",
        )
        .into_response();
    }
    // where the resource server saw the token; without it, a token with an
    // allowlist is not active (the gateway's own address says nothing)
    let user_ip = match form.client_ip.trim() {
        "" => None,
        given => match given.parse::<std::net::IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "client_ip must be an IPv4 or IPv6 address.",
                )
                .into_response()
            }
        },
    };
    // the token's client, as the resource server names it (else the
    // resource server itself: the use is recorded without a place)
    let mut client = client_from(ip, &headers);
    let channel = Channel::Introspection {
        client_ip: user_ip.is_some(),
    };
    if let Some(user_ip) = user_ip {
        client.ip = user_ip;
    }
    let token = form.token.trim();
    let presented = (!token.is_empty()).then_some(token);
    match state.core.authenticate(presented, &client, channel).await {
        Ok(token) => {
            let v = &token.verified;
            let mut claims = json!({
                "active": true,
                "scope": v.scope_text,
                "exp": v.expires_at.timestamp(),
                "iat": v.created_at.timestamp(),
                "sub": v.user_id.to_string(),
                "username": v.username,
                "token_type": "bearer",
                "jti": v.token_id.to_string(),
            });
            if !v.networks.is_any() {
                claims["allowed_networks"] = json!(v.networks.strings());
            }
            if !v.resources.is_empty() {
                claims["resources"] = json!(v.resources.map());
            }
            Json(claims).into_response()
        }
        Err(Denied::Unavailable) => ApiError::unavailable().into_response(),
        // a token refused for any reason is not active (RFC 7662 says
        // nothing more)
        Err(_) => Json(json!({ "active": false })).into_response(),
    }
}

/// 429 with `Retry-After`.
fn too_many(wait: RetryAfter) -> Response {
    let mut res = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!(
            "Too many failed attempts; try again in {} seconds.",
            wait.seconds()
        ),
    )
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait.seconds()));
    res
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
