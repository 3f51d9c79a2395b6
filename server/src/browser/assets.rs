//! The static bundle: `/pkg` (WASM, JS and CSS) and the favicon.

use app::server::AppState;
use axum::{
    http::{header, HeaderValue},
    Router,
};
use std::path::Path;
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

/// `/pkg` and `/favicon.svg`. Names carry a content hash in release builds,
/// so they may be cached for a year; brotli and gzip copies made at build
/// time are served to clients that accept them.
pub fn router(state: &AppState) -> Router<AppState> {
    let root = Path::new(state.leptos.site_root.as_ref());
    let cache = if state.leptos.hash_files {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let pkg = ServeDir::new(root.join(state.leptos.site_pkg_dir.as_ref()))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .nest_service("/pkg", pkg)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache),
        ))
        .route_service("/favicon.svg", ServeFile::new(root.join("favicon.svg")))
}
