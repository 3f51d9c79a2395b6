//! The REST API (`/api/v1`, PAT-authenticated): one endpoint table from
//! which both the router and the OpenAPI document are built.

mod endpoints;
pub mod openapi;
mod tokens;

pub use endpoints::{Endpoint, ENDPOINTS};

use app::server::AppState;
use axum::{
    routing::{get, MethodRouter},
    Router,
};
use std::collections::BTreeMap;

/// Where the API is mounted; [`ENDPOINTS`] paths start with it.
pub const MOUNT: &str = "/api";

/// The API's routes, relative to [`MOUNT`]: one method router per path, so
/// an unserved method gets the JSON 405 (axum still adds `Allow`) without a
/// layer on every request; unknown paths get the JSON 404.
pub fn router() -> Router<AppState> {
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
}
