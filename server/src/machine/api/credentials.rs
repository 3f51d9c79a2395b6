//! `POST /api/v1/credentials/revoke`: leaked-token revocation for secret
//! scanners (the shape of GitHub's credential revocation API). No
//! authentication: whoever found a token in public may kill it. The answer
//! is the same whatever the list held (no oracle for which tokens exist),
//! the work happens after the answer, and reports are rate-limited per
//! client address.

use crate::machine::error::{ApiError, ApiJson};
use crate::middleware::client_of;
use app::domain::{
    client::Client,
    throttle::{address_key, Door},
    tokens::{self as service, LeakReport},
    AppState, Core,
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
        revoke_leaked(&core, &candidates, &leak, &client).await;
    });
    accepted(received)
}

/// Revokes the live tokens among `candidates` as leaked, and logs it.
async fn revoke_leaked(core: &Core, candidates: &[String], leak: &LeakReport, client: &Client) {
    match service::revoke_leaked(core, candidates, leak, Some(client)).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(revoked = n, source = %leak.source, "tokens revoked as leaked"),
        Err(e) => tracing::error!(error = %e, "leaked-token revocation failed"),
    }
}

/// 202: the report was read (the same answer whatever it held).
fn accepted(received: usize) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(AcceptedJson {
            status: "accepted",
            received,
        }),
    )
        .into_response()
}

/// One finding in a secret-scanning partner's report (GitHub's format).
#[derive(Deserialize, ToSchema)]
#[schema(as = SecretScanningMatch)]
pub struct ScanningMatchJson {
    /// The candidate token as found.
    #[schema(max_length = 200)]
    token: String,
    /// The pattern's name at the scanner.
    #[serde(default, rename = "type")]
    #[schema(max_length = 200)]
    kind: Option<String>,
    /// Where it was found.
    #[serde(default)]
    #[schema(max_length = 2048)]
    url: Option<String>,
    /// What kind of place it was found in (`content`, `commit`, …).
    #[serde(default)]
    #[schema(max_length = 200)]
    source: Option<String>,
}

/// The largest secret-scanning report read (GitHub's are a few matches,
/// each a token, a type, a URL and a source: well under this).
pub const SCANNING_REPORT_MAX: usize = 64 * 1024;

/// The header naming the partner's key.
pub const KEY_ID_HEADER: &str = "github-public-key-identifier";
/// The header with the base64 DER ECDSA signature of the body.
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// `POST /api/v1/secret-scanning/report`: a secret-scanning partner's
/// signed report (an array of matches). Verified against the keys of
/// `--secret-scanning-keys`; every live token in it is revoked as leaked,
/// as with `/api/v1/credentials/revoke`, with the same answer whatever it
/// held.
pub async fn scanning_report(State(state): State<AppState>, req: Request) -> Response {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if !json {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_body",
            "Expected request with `Content-Type: application/json`",
        )
        .into_response();
    }
    let Some(keys) = &state.core.lifecycle.scanning else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            "Secret-scanning reports are not configured on this server (--secret-scanning-keys).",
        )
        .into_response();
    };
    let (parts, body) = req.into_parts();
    let client = client_of(&parts);
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (key_id, signature) = (header(KEY_ID_HEADER), header(SIGNATURE_HEADER));
    // read no more than a report can be before its signature is checked
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_body",
            format!(
                "The report is larger than {} KiB.",
                SCANNING_REPORT_MAX / 1024
            ),
        )
        .into_response()
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > SCANNING_REPORT_MAX as u64) {
        return too_large();
    }
    let Ok(bytes) = axum::body::to_bytes(body, SCANNING_REPORT_MAX).await else {
        return too_large();
    };
    if !keys.verify(&key_id, &signature, &bytes) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "The report's signature does not verify with a configured partner key.",
        )
        .into_response();
    }
    let matches: Vec<ScanningMatchJson> = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("The report is not an array of matches: {e}"),
            )
            .into_response()
        }
    };
    if matches.len() > MAX_CREDENTIALS {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            format!("At most {MAX_CREDENTIALS} matches per report."),
        )
        .into_response();
    }
    let received = matches.len();
    let core = state.core.clone();
    let partner: String = key_id
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    tokio::spawn(async move {
        // one revocation pass per place the tokens were found
        let mut by_place: std::collections::BTreeMap<(String, String), Vec<String>> =
            Default::default();
        for m in matches {
            let source = match m.kind {
                Some(k) if !k.is_empty() => {
                    format!("secret scanning ({partner}, {})", printable(Some(k), 100))
                }
                _ => format!("secret scanning ({partner})"),
            };
            let place = match m.source {
                Some(s) if !s.is_empty() => {
                    format!("{} [{}]", printable(m.url, 2048), printable(Some(s), 100))
                }
                _ => printable(m.url, 2048),
            };
            by_place.entry((place, source)).or_default().push(m.token);
        }
        for ((url, source), candidates) in by_place {
            let leak = LeakReport { url, source };
            revoke_leaked(&core, &candidates, &leak, &client).await;
        }
    });
    accepted(received)
}
