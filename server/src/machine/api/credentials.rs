//! `POST /api/v1/credentials/revoke`: leaked-token revocation for secret
//! scanners (the shape of GitHub's credential revocation API). No
//! authentication: whoever found a token in public may kill it. The answer
//! is the same whatever the list held (no oracle for which tokens exist),
//! the work happens after the answer, and reports are rate-limited per
//! client address.

use crate::machine::error::{ApiError, ApiJson};
use crate::middleware::client_of;
use app::server::{
    throttle::{address_key, Door},
    tokens::{self as service, LeakReport},
    AppState,
};
use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most candidate tokens one report may hold.
pub const MAX_CREDENTIALS: usize = 1000;

/// A report of leaked credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LeakReport)]
pub struct LeakReportJson {
    /// Candidate tokens as found (`tsr_…`); anything else is skipped.
    #[schema(max_items = 1000)]
    credentials: Vec<String>,
    /// Where they were found (shown to the owners).
    #[schema(max_length = 2048)]
    #[serde(default)]
    url: Option<String>,
    /// Who found them, e.g. a scanner's name (shown to the owners).
    #[schema(max_length = 200)]
    #[serde(default)]
    source: Option<String>,
}

/// The answer to every accepted report, whatever it held.
#[derive(Serialize, ToSchema)]
#[schema(as = LeakReportAccepted)]
pub struct AcceptedJson {
    /// Always `accepted`.
    #[schema(pattern = "^accepted$")]
    status: &'static str,
    /// How many entries the report held.
    received: usize,
}

fn printable(text: Option<String>, max: usize) -> String {
    text.unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

/// `POST /api/v1/credentials/revoke`: 202 with the same body for any list;
/// every live Tessera token in it is revoked "as leaked" within a second.
pub async fn revoke(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = client_of(&parts);
    let address = address_key(client.ip);
    match state
        .core
        .throttle
        .hit(&[(Door::LeakReportAddress, &address)])
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(wait)) => {
            let mut res = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!(
                    "Too many reports from this address; try again in {} seconds.",
                    wait.seconds()
                ),
            )
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.seconds()));
            return res;
        }
        Err(e) => {
            tracing::error!(error = %e, "throttle check failed");
            return ApiError::unavailable().into_response();
        }
    }
    let req = Request::from_parts(parts, body);
    let report =
        match <ApiJson<LeakReportJson> as axum::extract::FromRequest<AppState>>::from_request(
            req, &state,
        )
        .await
        {
            Ok(ApiJson(r)) => r,
            Err(e) => return e.into_response(),
        };
    if report.credentials.len() > MAX_CREDENTIALS {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "Some fields are not valid; see the field messages.",
        )
        .with(
            "fields",
            serde_json::json!({"credentials": format!("At most {MAX_CREDENTIALS} credentials per report.")}),
        )
        .into_response();
    }
    let received = report.credentials.len();
    let leak = LeakReport {
        url: printable(report.url, 2048),
        source: printable(report.source, 200),
    };
    let core = state.core.clone();
    let candidates = report.credentials;
    // after the answer: its timing says nothing about what the list held
    tokio::spawn(async move {
        match service::revoke_leaked(&core, &candidates, &leak, Some(&client)).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(revoked = n, source = %leak.source, "tokens revoked as leaked"),
            Err(e) => tracing::error!(error = %e, "leaked-token revocation failed"),
        }
    });
    (
        StatusCode::ACCEPTED,
        Json(AcceptedJson {
            status: "accepted",
            received,
        }),
    )
        .into_response()
}
