//! No panic reaches a client as a dropped connection: a panic inside a
//! handler becomes a 500 — JSON on machine routes, a page on browser routes —
//! that carries the request id, and is logged with it.

use crate::machine::error::ApiError;
use axum::{
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::FutureExt as _;
use std::{any::Any, panic::AssertUnwindSafe};
use tower_http::request_id::RequestId;

fn request_id(req: &Request) -> String {
    req.extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn describe(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Runs the handler; on a panic, logs it and returns the request id.
async fn guarded(req: Request, next: Next) -> Result<Response, String> {
    let id = request_id(&req);
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(res) => Ok(res),
        Err(panic) => {
            tracing::error!(request_id = %id, panic = describe(panic.as_ref()), "handler panicked");
            Err(id)
        }
    }
}

/// Machine routes: a panic answers `500 {"error": "internal", …}`.
pub async fn json(req: Request, next: Next) -> Response {
    guarded(req, next).await.unwrap_or_else(|id| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("Something went wrong on our side. Quote request id {id} when you report it."),
        )
        .with("request_id", serde_json::json!(id))
        .into_response()
    })
}

/// Browser routes: a panic answers a plain error page.
pub async fn page(req: Request, next: Next) -> Response {
    guarded(req, next).await.unwrap_or_else(|id| {
        // the id is 1–64 of [A-Za-z0-9_-] (screened), safe in HTML as is
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Something went wrong · Tessera</title></head>\
             <body><main><h1>Something went wrong</h1>\
             <p>Tessera could not finish this request. Nothing you sent was lost on our side; \
             please try again.</p><p>If it happens again, quote request id <code>{id}</code>.</p>\
             <p><a href=\"/\">Go to the start page</a></p></main></body></html>"
        );
        let mut res = (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        res
    })
}
