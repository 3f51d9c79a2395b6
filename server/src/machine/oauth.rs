//! RFC 7662 token introspection (`POST /oauth/introspect`) for the one
//! gateway client named by `--introspection-client`, and the RFC 8693
//! token exchange (`POST /oauth/token`) of trusted workloads.

use super::error::{ApiError, ApiForm};
use crate::middleware::{client_from, ClientIp};
use app::domain::{
    authenticate::{Channel, Denied},
    throttle::{address_key, Door, RetryAfter},
    workloads::{ExchangeError, ExchangeRequest, ACCESS_TOKEN_TYPE},
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
        .route(
            "/oauth/token",
            post(token_exchange).fallback(super::error::method_not_allowed),
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
    match state.core.authenticate(presented, client, channel).await {
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

/// An OAuth error answer (RFC 6749 §5.2): `error` and
/// `error_description`, never cached.
fn oauth_error(e: &ExchangeError) -> Response {
    let status = match e {
        ExchangeError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = json!({"error": e.code(), "error_description": e.to_string()});
    no_store((status, Json(body)).into_response())
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// The form's parameters, each once (RFC 6749 §3.2) except `resource`.
fn exchange_request(headers: &HeaderMap, body: &[u8]) -> Result<ExchangeRequest, ExchangeError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form {
        return Err(ExchangeError::InvalidRequest(
            "Send the parameters as application/x-www-form-urlencoded.".into(),
        ));
    }
    let mut req = ExchangeRequest::default();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "resource" => {
                req.resources.push(value.into_owned());
                continue;
            }
            "grant_type" => &mut req.grant_type,
            "subject_token" => &mut req.subject_token,
            "subject_token_type" => &mut req.subject_token_type,
            "requested_token_type" => &mut req.requested_token_type,
            "scope" => &mut req.scope,
            // the account to act as, when rules of several accept the token
            "audience" => &mut req.audience,
            // actor_token…: not used; ignored as RFC 6749 says
            _ => continue,
        };
        if seen.iter().any(|k| *k == key) {
            return Err(ExchangeError::InvalidRequest(format!(
                "{key} is given more than once."
            )));
        }
        seen.push(key.into_owned());
        *slot = value.into_owned();
    }
    Ok(req)
}

/// `POST /oauth/token`: a trusted workload's ID token for a minutes-long
/// token (RFC 8693). No client authentication: the ID token, signed by
/// the workload's platform, is the credential.
async fn token_exchange(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        // past the body limit (64 KiB): no ID token is that large
        return oauth_error(&ExchangeError::InvalidRequest(
            "The request is too large; an ID token is a few KiB.".into(),
        ));
    };
    let req = match exchange_request(&headers, &body) {
        Ok(r) => r,
        Err(e) => return oauth_error(&e),
    };
    let client = client_from(ip, &headers);
    match app::domain::workloads::exchange(&state.core, &req, &client).await {
        Ok(made) => no_store(
            Json(json!({
                "access_token": made.access_token,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": made.expires_in,
                "scope": made.scope,
            }))
            .into_response(),
        ),
        Err(e) => oauth_error(&e),
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
