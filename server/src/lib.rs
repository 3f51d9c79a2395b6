//! The Tessera server: configuration and the axum router. Requests part ways
//! by router, not by path sniffing: [`machine::router`] (API, gateway check,
//! introspection, probes; PAT or client credentials, JSON errors) and
//! [`browser::router`] (pages, forms, server functions, assets; session
//! cookie, HTML errors) each carry their own layers and fallback, and are
//! merged under the layers every request shares ([`middleware`]).

#![warn(missing_docs)]

pub mod admin_cli;
pub mod browser;
pub mod config;
pub mod machine;
pub mod middleware;
pub mod panics;
pub mod serve;

use app::domain::AppState;
use axum::{
    extract::DefaultBodyLimit,
    http::HeaderName,
    middleware::{from_fn, from_fn_with_state},
    Router,
};
use tower::ServiceBuilder;
use tower_http::{
    compression::{
        predicate::{NotForContentType, SizeAbove},
        CompressionLayer, Predicate as _,
    },
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

/// Answers smaller than this go out uncompressed (not worth the CPU).
const COMPRESS_ABOVE: u16 = 1024;

/// The largest request body read (forms and JSON are a few KiB at most).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole application: both routers under the shared layers.
pub fn router(state: AppState) -> Router {
    let browser = browser::router(&state);
    let machine = machine::router(&state);
    assemble(state, browser, machine)
}

/// `browser` and `machine` routes (each with its own layers) merged under
/// the layers every request shares.
pub fn assemble(state: AppState, browser: Router<AppState>, machine: Router<AppState>) -> Router {
    let request_id = HeaderName::from_static(middleware::REQUEST_ID);
    let compress = SizeAbove::new(COMPRESS_ABOVE)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::const_new("application/wasm"));
    let shared = ServiceBuilder::new()
        .layer(from_fn_with_state(state.clone(), middleware::measure))
        .layer(from_fn(middleware::screen_request_id))
        .layer(SetRequestIdLayer::new(
            request_id.clone(),
            middleware::RandomId,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(middleware::RequestSpan)
                .on_request(())
                .on_response(middleware::RequestLine)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(CompressionLayer::new().compress_when(compress))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::client_address,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    browser.merge(machine).layer(shared).with_state(state)
}

/// What `--metrics-addr` serves: `GET /metrics` without authentication
/// (bind it where only the monitoring system reaches), and JSON 404s.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(machine::metrics::open))
        .fallback(machine::error::no_endpoint)
        .with_state(state)
}
