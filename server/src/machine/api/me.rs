//! `GET /api/v1/me`: who the token speaks for, rendered once per
//! verification (a cache hit sends the same bytes).

use crate::machine::error::ApiError;
use crate::machine::pat::Pat;
use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// Who a token speaks for (`GET /api/v1/me`).
#[derive(Serialize, ToSchema)]
pub struct Me<'a> {
    /// The user's id.
    id: i64,
    /// The user's name.
    username: &'a str,
    /// The token making the request.
    token: MeToken<'a>,
}

/// The token making the request.
#[derive(Serialize, ToSchema)]
pub struct MeToken<'a> {
    /// Its id.
    id: i64,
    /// Its name.
    name: &'a str,
    /// Its scopes.
    scopes: &'a str,
    /// When it stops working.
    expires_at: DateTime<Utc>,
}

/// `GET /api/v1/me` (`profile:read`): who the token speaks for.
pub async fn me(pat: Pat) -> Result<Response, ApiError> {
    let v = pat.verified();
    let make = || {
        let me = Me {
            id: v.user_id,
            username: &v.username,
            token: MeToken {
                id: v.token_id,
                name: &v.token_name,
                scopes: &v.scope_text,
                expires_at: v.expires_at,
            },
        };
        axum::body::Bytes::from(serde_json::to_vec(&me).unwrap_or_default())
    };
    let body = match crate::machine::pat::renderings(v) {
        Some(r) => r.document.get_or_init(make).clone(),
        None => make(),
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        pat.expires(),
        body,
    )
        .into_response())
}
