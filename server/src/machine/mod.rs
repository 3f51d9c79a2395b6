//! Machine routes: the REST API (`/api`), the gateway check (`/gateway`),
//! RFC 7662 introspection (`/oauth`), the metrics (`/metrics`) and the
//! probes (`/healthz`, `/readyz`). Clients authenticate per request (a PAT, or the
//! introspection client's credentials), never with the session cookie, so
//! this router has no session lookup and no sign-in redirects, and every
//! error — unknown paths and methods included — is JSON ([`error::ApiError`]).

pub mod api;
pub mod error;
pub mod gateway;
pub mod metrics;
pub mod oauth;
pub mod pat;
pub mod scim;

use app::domain::AppState;
use axum::{
    extract::State, http::StatusCode, middleware::from_fn, response::IntoResponse, routing::get,
    Router,
};

/// Every machine route, each group with its own JSON fallback, with the
/// machine layers.
pub fn router(_state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .merge(api::router())
        .merge(gateway::router())
        .merge(oauth::router())
        .merge(scim::router())
        .route(
            "/metrics",
            get(metrics::with_token).layer(axum::Extension(pat::Required::scope(metrics::SCOPE))),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    with_layers(routes)
}

/// The layers of machine routes (applied to `routes`): panics answer JSON.
pub fn with_layers(routes: Router<AppState>) -> Router<AppState> {
    routes.layer(from_fn(crate::panics::json))
}

/// `GET /healthz`: the process is up.
async fn healthz() -> impl IntoResponse {
    "ok"
}

/// `GET /readyz`: the database answers.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.core.db.ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}
