//! Rendering Leptos pages from plain axum handlers (form answers, 404s).

use app::{
    domain::{refusal::Refusal, AppState},
    model::FormFeedback,
    shell,
};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{request::Parts, Method, StatusCode},
    response::{IntoResponse, Response},
};
use leptos::prelude::provide_context;

/// Renders the page at `path` as if it were fetched with GET, with
/// `feedback` available to its form, and answers with `status`.
pub async fn render_page(
    state: &AppState,
    parts: &Parts,
    path: &str,
    feedback: FormFeedback,
    status: StatusCode,
) -> Response {
    let mut builder = Request::builder().method(Method::GET).uri(path);
    for (name, value) in parts.headers.iter() {
        if name != "content-type" && name != "content-length" {
            builder = builder.header(name, value);
        }
    }
    let mut req = match builder.body(Body::empty()) {
        Ok(req) => req,
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "could not render").into_response(),
    };
    *req.extensions_mut() = parts.extensions.clone();
    let mut res = render(state, feedback, req).await;
    *res.status_mut() = status;
    res
}

/// Renders `page` again with `typed` and the refusal's sentences, its
/// status and `Retry-After`; a failure of ours is logged (never shown).
pub async fn refuse(
    state: &AppState,
    parts: &Parts,
    page: &str,
    typed: FormFeedback,
    refusal: impl Into<Refusal>,
) -> Response {
    let refusal = refusal.into();
    if let Some(error) = &refusal.internal {
        tracing::error!(%error, page, "request failed");
    }
    let (status, retry_after) = (refusal.status, refusal.retry_after);
    let mut res = render_page(state, parts, page, refusal.onto(typed), status).await;
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    res
}

async fn render(state: &AppState, feedback: FormFeedback, req: Request) -> Response {
    let context_state = state.clone();
    let options = (*state.leptos).clone();
    let handler = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(context_state.clone());
            provide_context(feedback.clone());
        },
        move || shell(options.clone()),
    );
    handler(req).await.into_response()
}

/// The app's "not found" page for `req` (also what a non-administrator
/// gets from an administration route: as if it did not exist).
pub async fn not_found_for(state: &AppState, req: Request) -> Response {
    let mut res = render(state, FormFeedback::default(), req).await;
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

/// The browser router's fallback: the app's "not found" page.
pub async fn not_found(State(state): State<AppState>, req: Request) -> Response {
    let mut res = render(&state, FormFeedback::default(), req).await;
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}
