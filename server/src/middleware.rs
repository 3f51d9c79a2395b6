//! Request middleware: request ids and logs, the client address, the session
//! cookie, the sign-in guard, cross-site form protection and security headers.

use app::{
    model::CurrentUser,
    server::{sessions, AppState},
};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use rand::RngCore as _;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Instant,
};
use tracing::Instrument as _;

/// The id of the current request, echoed in `X-Request-Id` and every log line.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The address of the client, after trusted proxies are peeled off.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// The raw session cookie of the request (never logged).
#[derive(Clone)]
pub struct SessionCookie(pub String);

/// 16 hex digits from the thread-local CSPRNG (no system call per request;
/// request ids are correlation handles, not secrets).
fn new_request_id() -> String {
    format!("{:016x}", rand::thread_rng().next_u64())
}

fn acceptable_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Outermost layer: assigns the request id, opens the tracing span and logs
/// one line per request (method, path without query, status, duration).
pub async fn request_log(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Works out the client address: the TCP peer, or — when the peer is a
/// trusted proxy — the right-most `X-Forwarded-For` hop that is not one.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Paths that never use the session cookie (assets, probes, and the
/// token-authenticated API and gateway): no session lookup for them.
fn needs_no_session(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path == "/favicon.svg"
        || path == "/healthz"
        || path == "/readyz"
        || crate::api::is_api_path(path)
}

/// Resolves the client address and the signed-in user (if any) into
/// request extensions for handlers and pages.
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let ip = client_ip(peer, req.headers(), &state.core.config.trusted_proxies);
    req.extensions_mut().insert(ClientIp(ip));
    if !needs_no_session(req.uri().path()) {
        if let Some(cookie) = read_cookie(req.headers(), sessions::COOKIE_NAME) {
            match sessions::lookup(&state.core.db, &cookie).await {
                Ok(Some(user)) => {
                    req.extensions_mut().insert(user);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "session lookup failed");
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The database is unavailable.",
                    )
                        .into_response();
                }
            }
            req.extensions_mut().insert(SessionCookie(cookie));
        }
    }
    next.run(req).await
}

fn encode_next(path_and_query: &str) -> String {
    app::ui::urlencode(path_and_query)
}

/// Pages under `/profile` need a session: others are sent to sign in and
/// brought back afterwards. Signed-in users skip the sign-in pages.
pub async fn guard(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let signed_in = req.extensions().get::<CurrentUser>().is_some();
    if !signed_in && (path == "/profile" || path.starts_with("/profile/")) {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(path);
        return Redirect::to(&format!("/signin?next={}", encode_next(target))).into_response();
    }
    if signed_in
        && req.method() == Method::GET
        && (path == "/signin" || path == "/signup" || path == "/")
    {
        return Redirect::to("/profile/security/tokens").into_response();
    }
    next.run(req).await
}

/// Refuses state-changing requests that a browser marks as cross-site (or
/// whose `Origin` names another site): cookies alone never authorise them.
pub async fn same_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let token_authenticated = crate::api::is_api_path(req.uri().path());
    if unsafe_method && !token_authenticated {
        let headers = req.headers();
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site");
        let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            None => true,
            Some(origin) => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                origin == state.core.config.public_url
                    || origin.split_once("://").is_some_and(|(_, h)| h == host)
            }
        };
        if cross_site || !origin_ok {
            return (
                StatusCode::FORBIDDEN,
                "Cross-site form submissions are not accepted.",
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Security headers on every response; pages that set their own CSP (with
/// the hydration nonce) keep it, everything else gets a deny-all policy.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html && !h.contains_key(header::CACHE_CONTROL) {
        // pages show per-user data (and, once, a new token): never cache them
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.core.config.secure_cookies() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_only_believed_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
        );
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_ip(stranger, &h, &[proxy]), stranger);
        assert_eq!(
            client_ip(proxy, &h, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let both = [proxy, "198.51.100.7".parse().unwrap()];
        assert_eq!(
            client_ip(proxy, &h, &both),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tessera_session=xyz; b=2"),
        );
        assert_eq!(read_cookie(&h, "tessera_session").as_deref(), Some("xyz"));
        assert_eq!(read_cookie(&h, "tessera"), None);
    }
}
