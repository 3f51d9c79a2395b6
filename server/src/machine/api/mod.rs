//! The REST API (`/api/v1`, PAT-authenticated): one endpoint table from
//! which both the router and the OpenAPI document are built.

mod endpoints;
pub mod openapi;
pub mod tokens;

pub use endpoints::{Endpoint, ENDPOINTS};

use super::error::ApiError;
use crate::middleware::is_cross_site_change;
use app::server::AppState;
use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::{from_fn_with_state, Next},
    response::{IntoResponse, Response},
    routing::{get, MethodRouter},
    Router,
};
use std::collections::BTreeMap;

/// Where the API is mounted; [`ENDPOINTS`] paths start with it.
pub const MOUNT: &str = "/api";

/// The API's routes, relative to [`MOUNT`]: one method router per path, so
/// an unserved method gets the JSON 405 (axum still adds `Allow`) without a
/// layer on every request; unknown paths get the JSON 404.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut paths: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    let extra: [(&str, fn() -> MethodRouter<AppState>); 1] =
        [("/api/v1/openapi.json", || get(openapi::openapi))];
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
            let relative = path.strip_prefix(MOUNT).unwrap_or(path);
            r.route(relative, m.fallback(super::error::method_not_allowed))
        })
        .fallback(super::error::no_endpoint)
        .layer(from_fn_with_state(state.clone(), refuse_cross_site))
}

/// Refuses state-changing API requests that a browser marks as cross-site
/// (`Sec-Fetch-Site: cross-site`, or an `Origin` of another site): a browser
/// that cached Basic credentials after the API's challenge would otherwise
/// send them along with a forged form post. Tools (git, curl, CI) send
/// neither header.
async fn refuse_cross_site(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_cross_site_change(&req, &state.core.config.public_url) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            "Cross-site requests cannot change anything through the API.",
        )
        .into_response();
    }
    next.run(req).await
}
