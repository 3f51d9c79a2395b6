//! The layers every request goes through, machine or browser: the request
//! id and the request log (tower-http's request-id and trace layers), the
//! client address, response compression and the security headers.

use app::domain::AppState;
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, Response},
    middleware::Next,
    response::Response as AxumResponse,
};
use rand::RngCore as _;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};
use tower_http::{
    request_id::{MakeRequestId, RequestId},
    trace::{MakeSpan, OnResponse},
};
use tracing::Span;

/// The request-id header, read from clients and echoed in every response.
pub const REQUEST_ID: &str = "x-request-id";

/// The request's id (set or screened by the shared layers), or empty.
pub fn request_id_of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The client of a request as the services record it: the trusted
/// address, the user agent and the request id.
pub fn client_of(parts: &axum::http::request::Parts) -> app::domain::sessions::Client {
    let ip = parts
        .extensions
        .get::<ClientIp>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.0);
    client_from(ip, &parts.headers)
}

/// The client at `ip` that sent `headers`.
pub fn client_from(ip: IpAddr, headers: &HeaderMap) -> app::domain::sessions::Client {
    app::domain::sessions::Client {
        ip,
        agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        request_id: request_id_of(headers),
    }
}

/// The address of the client, after trusted proxies are peeled off.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// Makes request ids: 16 hex digits from the thread-local CSPRNG (no system
/// call per request; ids are correlation handles, not secrets).
#[derive(Clone, Copy, Default)]
pub struct RandomId;

impl MakeRequestId for RandomId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand::thread_rng().next_u64());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn acceptable_request_id(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Drops a client's `X-Request-Id` unless it is 1–64 of `[A-Za-z0-9_-]`, so
/// the request-id layer makes a fresh one (logs never carry client junk).
pub async fn screen_request_id(mut req: Request, next: Next) -> AxumResponse {
    if req
        .headers()
        .get(REQUEST_ID)
        .is_some_and(|v| !acceptable_request_id(v.as_bytes()))
    {
        req.headers_mut().remove(REQUEST_ID);
    }
    next.run(req).await
}

/// The request's span: its id, method and path (never the query, which may
/// carry a token in a badly written client).
#[derive(Clone, Copy, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &http::Request<B>) -> Span {
        let id = req
            .extensions()
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "request",
            request_id = %id,
            method = %req.method(),
            path = %req.uri().path(),
        )
    }
}

/// One log line per request: status and duration; 5xx at error level.
#[derive(Clone, Copy, Default)]
pub struct RequestLine;

impl<B> OnResponse<B> for RequestLine {
    fn on_response(self, res: &Response<B>, latency: Duration, _span: &Span) {
        let status = res.status().as_u16();
        let elapsed_ms = latency.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::error!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request");
        }
    }
}

/// Works out the client address: the TCP peer, or — when the peer is a
/// trusted proxy — the right-most `X-Forwarded-For` hop that is not one.
/// Hops may carry a port (`198.51.100.7:443`, `[2001:db8::1]:443`, as some
/// proxies write them). The walk stops at a hop it cannot read: that hop is
/// the client, whose address is then unknown (`0.0.0.0`, which no allowlist
/// short of "anywhere" admits) — never a forged hop further left.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| {
        let ip = app::tokens::reach::plain(ip);
        trusted.iter().any(|n| n.contains(&ip))
    };
    if !is_trusted(peer) {
        return peer;
    }
    let mut values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    values.reverse();
    for value in values {
        for hop in value.rsplit(',') {
            match forwarded_hop(hop) {
                Some(ip) if is_trusted(ip) => continue,
                Some(ip) => return ip,
                None => return IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            }
        }
    }
    peer
}

/// One `X-Forwarded-For` hop: `ip`, `ip:port`, `[v6]` or `[v6]:port`.
fn forwarded_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok());
        return port_ok.then(|| inside.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    let (ip, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Puts the [`ClientIp`] into the request's extensions.
pub async fn client_address(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> AxumResponse {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let ip = client_ip(peer, req.headers(), &state.core.config.trusted_proxies);
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

/// True when the request would change something (not GET, HEAD or OPTIONS)
/// and the browser says it comes from another site (`Sec-Fetch-Site:
/// cross-site`), or its `Origin` is neither the public URL nor the host it
/// was sent to.
pub fn is_cross_site_change(req: &Request, public_url: &str) -> bool {
    is_cross_site(req.method(), req.headers(), public_url)
}

/// [`is_cross_site_change`] on a request's method and headers.
pub fn is_cross_site(method: &Method, headers: &http::HeaderMap, public_url: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            origin == public_url || origin.split_once("://").is_some_and(|(_, h)| h == host)
        }
    };
    cross_site || !origin_ok
}

/// Security headers on every response; pages that set their own CSP (with
/// the hydration nonce) keep it, everything else gets a deny-all policy.
pub async fn security_headers(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> AxumResponse {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // room for these seven and the request id without growing twice
    h.reserve(8);
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
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
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

/// Counts every request in the metrics: its route pattern (never the raw
/// path), method, status and time to the response head.
pub async fn measure(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let start = std::time::Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let res = next.run(req).await;
    state.core.metrics.request(
        route.as_ref().map(axum::extract::MatchedPath::as_str),
        &method,
        res.status().as_u16(),
        start.elapsed(),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(items: &[&str]) -> Vec<ipnet::IpNet> {
        items
            .iter()
            .map(|i| {
                i.parse()
                    .unwrap_or_else(|_| ipnet::IpNet::from(i.parse::<IpAddr>().unwrap()))
            })
            .collect()
    }

    #[test]
    fn forwarded_hops_with_ports_are_read_and_an_unreadable_one_stops_the_walk() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let trusted = nets(&["10.0.0.1"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut h = HeaderMap::new();
        // a proxy that writes ip:port: the forged 10.1.1.1 to the left is not the client
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.1.1.1, 198.51.100.7:443"),
        );
        assert_eq!(client_ip(proxy, &h, &trusted), ip("198.51.100.7"));
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.1.1.1, [2001:db8::7]:443"),
        );
        assert_eq!(client_ip(proxy, &h, &trusted), ip("2001:db8::7"));
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.1.1.1, [2001:db8::8]"),
        );
        assert_eq!(client_ip(proxy, &h, &trusted), ip("2001:db8::8"));
        for unreadable in [
            "10.1.1.1, unknown",
            "10.1.1.1, 198.51.100.7:99999",
            "10.1.1.1, [::1",
            "10.1.1.1, ",
        ] {
            h.insert("x-forwarded-for", HeaderValue::from_static(unreadable));
            assert_eq!(
                client_ip(proxy, &h, &trusted),
                ip("0.0.0.0"),
                "{unreadable}"
            );
        }
    }

    #[test]
    fn trusted_proxies_are_ranges_and_match_mapped_ipv4_peers() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let ranges = nets(&["10.0.0.0/8"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(ip("10.9.8.7"), &h, &ranges), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("11.0.0.1"), &h, &ranges), ip("11.0.0.1"));
        // an IPv4 proxy seen on a dual-stack socket
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h, &ranges),
            ip("203.0.113.9")
        );
        // a chain of trusted hops inside the range is peeled off
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.0.0.2, 10.0.0.3:8080"),
        );
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &ranges), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_for_is_only_believed_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
        );
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_ip(stranger, &h, &nets(&["10.0.0.1"])), stranger);
        assert_eq!(
            client_ip(proxy, &h, &nets(&["10.0.0.1"])),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let both = nets(&["10.0.0.1", "198.51.100.7"]);
        assert_eq!(
            client_ip(proxy, &h, &both),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn request_ids_from_clients_are_screened() {
        assert!(acceptable_request_id(b"abc-123_X"));
        assert!(!acceptable_request_id(b""));
        assert!(!acceptable_request_id(&[b'a'; 65]));
        assert!(!acceptable_request_id(b"a b"));
        assert!(!acceptable_request_id("é".as_bytes()));
    }
}
