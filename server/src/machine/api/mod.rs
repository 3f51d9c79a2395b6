//! The REST API (`/api/v1`, PAT-authenticated): one endpoint table from
//! which both the router and the OpenAPI document are built.

pub mod audit;
pub mod credentials;
mod endpoints;
pub mod me;
pub mod openapi;
pub mod orgs;
pub mod service_accounts;
pub mod tokens;
pub mod workloads;

pub use endpoints::{Endpoint, Needs, ENDPOINTS};

use app::domain::AppState;
use axum::{
    http::Method,
    routing::{any, get, MethodRouter},
    Router,
};
use std::collections::BTreeMap;

/// A route of the API, as the endpoint table names it.
type Route = fn() -> MethodRouter<AppState>;

/// Where the API is mounted; [`ENDPOINTS`] paths start with it.
pub const MOUNT: &str = "/api";

/// The API's routes: one method router per path, so an unserved method
/// gets the JSON 405 (axum still adds `Allow`) without a layer on every
/// request; any other path under [`MOUNT`] gets the JSON 404. Routed at
/// full paths (no `nest`: it rewrites every request's URI), and without a
/// layer: the cross-site refusal is part of the [`super::pat::Pat`]
/// extractor every route takes, which also enforces the route's row
/// ([`super::pat::set_table`]).
pub fn router() -> Router<AppState> {
    let mut paths: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    let extra: [(&str, Route); 1] = [("/api/v1/openapi.json", || get(openapi::openapi))];
    super::pat::set_table(|| {
        ENDPOINTS
            .iter()
            .filter_map(|e| {
                let method = Method::from_bytes(e.method.to_ascii_uppercase().as_bytes()).ok()?;
                Some(((method, e.path), e.required()))
            })
            .collect()
    });
    let table = ENDPOINTS.iter().map(|e| (e.path, (e.route)()));
    let all = table.chain(extra.map(|(path, route)| (path, route())));
    for (path, route) in all {
        let methods = match paths.remove(path) {
            Some(m) => m.merge(route),
            None => route,
        };
        paths.insert(path, methods);
    }
    paths
        .into_iter()
        .fold(Router::new(), |r, (path, m)| {
            r.route(path, m.fallback(super::error::method_not_allowed))
        })
        .route(MOUNT, any(super::error::no_endpoint))
        .route(
            &format!("{MOUNT}/{{*rest}}"),
            any(super::error::no_endpoint),
        )
}
