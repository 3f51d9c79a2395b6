//! `GET /api/v1/audit`: the audit log through the API — the caller's own
//! events (`profile:read`), or, for an administrator's token with
//! `admin:read`, any user's (`?user=`) or everyone's (`?user=*`). Newest
//! first, paginated by an opaque cursor.

use crate::machine::error::{ApiError, ApiQuery};
use crate::machine::pat::{Answer, Pat};
use app::audit::AuditEvent;
use app::domain::{admin, audit, AppState};
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One page of audit events.
#[derive(Serialize, ToSchema)]
#[schema(as = AuditPage)]
pub struct AuditPageJson {
    /// Newest first.
    events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    next_cursor: Option<String>,
}

/// The audit list's query parameters.
#[derive(Deserialize)]
pub struct AuditParams {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    token: Option<i64>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// Events per page unless `limit` says otherwise (at most [`MAX_LIMIT`]).
pub const DEFAULT_LIMIT: u32 = 50;
/// The most events one page holds.
pub const MAX_LIMIT: u32 = 200;

fn bad(message: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "invalid_query",
        message,
    )
}

fn since(text: &str) -> Result<DateTime<Utc>, ApiError> {
    app::domain::audit::parse_since(text)
        .ok_or_else(|| bad("since must be a date (YYYY-MM-DD) or an RFC 3339 time."))
}

/// `GET /api/v1/audit` (`profile:read`; `admin:read` for other users).
pub async fn list(
    State(state): State<AppState>,
    pat: Pat,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Answer<AuditPageJson> {
    let me = pat.verified().user_id;
    let user_id = match p.user.as_deref().map(str::trim) {
        None | Some("") => Some(me),
        Some(other) => {
            pat.require_wider()?;
            if !pat.verified().is_admin {
                return Err(ApiError::insufficient_scope("admin:read").saying(
                    "Only administrators' tokens with admin:read may read other users' events.",
                ));
            }
            if other == "*" {
                None
            } else {
                Some(
                    admin::user(&state.core.db, other)
                        .await
                        .map_err(|_| {
                            ApiError::new(
                                axum::http::StatusCode::NOT_FOUND,
                                "not_found",
                                "There is no such user.",
                            )
                        })?
                        .id,
                )
            }
        }
    };
    let (before_id, limit) = paging(p.cursor.as_deref(), p.limit)?;
    let filter = audit::Filter {
        user_id,
        token_id: p.token,
        since: p.since.as_deref().map(since).transpose()?,
        before_id,
        limit: limit + 1,
    };
    let events = audit::list(&state.core.db, &filter).await;
    pat.answer(AuditPageJson::of(events, limit)?)
}

/// The event before which a page starts (`cursor`) and how many it holds
/// (`limit`), or why they are not acceptable.
pub(crate) fn paging(
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<(Option<i64>, u32), ApiError> {
    let before_id = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("cursor is not one this API gave out."))?,
        ),
    };
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(&format!("limit must be from 1 to {MAX_LIMIT}.")));
    }
    Ok((before_id, limit))
}

impl AuditPageJson {
    /// A page of at most `limit` of `events` (read with one more, to
    /// know whether an older page follows).
    pub(crate) fn of(
        events: Result<Vec<AuditEvent>, sqlx::Error>,
        limit: u32,
    ) -> Result<AuditPageJson, ApiError> {
        let mut events = events.map_err(|e| {
            tracing::error!(error = %e, "reading the audit log failed");
            ApiError::unavailable()
        })?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_cursor = more
            .then(|| events.last().map(|e| e.id.to_string()))
            .flatten();
        Ok(AuditPageJson {
            events,
            next_cursor,
        })
    }
}
