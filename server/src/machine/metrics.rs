//! `GET /metrics`: Prometheus metrics (OpenMetrics text). Never public: on
//! the main address it needs an administrator's token with `metrics:read`;
//! `--metrics-addr` serves it without authentication on an address of the
//! operator's choosing (the monitoring network).

use super::{error::ApiError, pat::Pat};
use app::domain::{metrics::CONTENT_TYPE, AppState};
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

/// The scope that reads the metrics on the main address.
pub const SCOPE: &str = "metrics:read";

fn render(state: &AppState) -> Response {
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.core.render_metrics(),
    )
        .into_response()
}

/// `GET /metrics` on the main address: an administrator's token with
/// `metrics:read` (Full access included: administrators only).
pub async fn with_token(State(state): State<AppState>, pat: Pat) -> Result<Response, ApiError> {
    if !pat.verified().is_admin {
        return Err(ApiError::insufficient_scope(SCOPE)
            .saying("Only administrators' tokens with metrics:read may read the metrics."));
    }
    Ok(render(&state))
}

/// `GET /metrics` on `--metrics-addr`: no authentication.
pub async fn open(State(state): State<AppState>) -> Response {
    render(&state)
}
