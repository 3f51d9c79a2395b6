//! Plain-form handlers for the tokens page: the same flows as its dialogs,
//! for browsers without (or before) the WASM. Creating and regenerating
//! answer with the page itself, showing the secret once; the other actions
//! redirect back to the list (post/redirect/get).

use crate::pages::render_page;
use app::{
    model::{CurrentUser, FormFeedback},
    server::{
        tokens::{self as service, TokenError},
        AppState,
    },
    tokens::TokenForm,
    ui::tokens::BASE,
};
use axum::{
    extract::{FromRequest, Path, Request, State},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};

type Pairs = Vec<(String, String)>;

async fn read_pairs(state: &AppState, req: Request) -> Result<(Parts, Pairs), Response> {
    let (parts, body) = req.into_parts();
    match Form::<Pairs>::from_request(Request::from_parts(parts.clone(), body), state).await {
        Ok(Form(pairs)) => Ok((parts, pairs)),
        Err(rejection) => Err((
            StatusCode::BAD_REQUEST,
            format!("The form could not be read: {}", rejection.body_text()),
        )
            .into_response()),
    }
}

fn form_of(pairs: &Pairs) -> TokenForm {
    TokenForm::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn token_id(raw: &str) -> Option<i64> {
    raw.parse().ok()
}

/// Renders `page` again with the error explained; the status says why.
async fn answer_error(
    state: &AppState,
    parts: &Parts,
    page: &str,
    err: TokenError,
    sent: Option<&Pairs>,
) -> Response {
    let status = match &err {
        TokenError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        TokenError::NotFound => StatusCode::NOT_FOUND,
        TokenError::Revoked | TokenError::Expired | TokenError::AlreadySubmitted(_) => {
            StatusCode::CONFLICT
        }
        TokenError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut fb = FormFeedback::default();
    match service::describe(&err) {
        Some((fields, message)) => {
            fb.fields = fields;
            fb.message = message;
        }
        None => {
            tracing::error!(error = %err, "token operation failed");
            fb.message = Some("Something went wrong on our side. Please try again.".into());
        }
    }
    if let Some(pairs) = sent {
        fb.values = pairs.iter().cloned().collect();
    }
    render_page(state, parts, page, fb, status).await
}

pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    req: Request,
) -> Response {
    let (parts, pairs) = match read_pairs(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match service::create_from_form(&state.core, user.id, &form_of(&pairs)).await {
        Ok(secret) => {
            tracing::info!(
                user_id = user.id,
                token_id = secret.token.id,
                "token created"
            );
            let fb = FormFeedback {
                secret: Some(secret),
                ..Default::default()
            };
            render_page(&state, &parts, BASE, fb, StatusCode::CREATED).await
        }
        Err(err @ TokenError::AlreadySubmitted(_)) => {
            answer_error(&state, &parts, BASE, err, None).await
        }
        Err(err) => answer_error(&state, &parts, &format!("{BASE}/new"), err, Some(&pairs)).await,
    }
}

pub async fn edit(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (parts, pairs) = match read_pairs(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let page = format!("{BASE}/{id}/edit");
    let Some(id) = token_id(&id) else {
        return answer_error(&state, &parts, &page, TokenError::NotFound, None).await;
    };
    match service::update_from_form(&state.core, user.id, id, &form_of(&pairs)).await {
        Ok(_) => {
            tracing::info!(user_id = user.id, token_id = id, "token updated");
            Redirect::to(&format!("{BASE}?done=updated")).into_response()
        }
        Err(err) => answer_error(&state, &parts, &page, err, Some(&pairs)).await,
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let page = format!("{BASE}/{id}/revoke");
    let Some(id) = token_id(&id) else {
        return answer_error(&state, &parts, &page, TokenError::NotFound, None).await;
    };
    match service::revoke(&state.core, user.id, id).await {
        Ok(_) => {
            tracing::info!(user_id = user.id, token_id = id, "token revoked");
            Redirect::to(&format!("{BASE}?done=revoked")).into_response()
        }
        Err(err) => answer_error(&state, &parts, &page, err, None).await,
    }
}

pub async fn regenerate(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let page = format!("{BASE}/{id}/regenerate");
    let Some(id) = token_id(&id) else {
        return answer_error(&state, &parts, &page, TokenError::NotFound, None).await;
    };
    match service::regenerate(&state.core, user.id, id).await {
        Ok(secret) => {
            tracing::info!(user_id = user.id, token_id = id, "token regenerated");
            let fb = FormFeedback {
                secret: Some(secret),
                ..Default::default()
            };
            render_page(&state, &parts, BASE, fb, StatusCode::OK).await
        }
        Err(err) => answer_error(&state, &parts, &page, err, None).await,
    }
}

pub async fn revoke_all(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    match service::revoke_all(&state.core, user.id).await {
        Ok(n) => {
            tracing::info!(user_id = user.id, revoked = n, "all tokens revoked");
            Redirect::to(&format!("{BASE}?done=revoked-all")).into_response()
        }
        Err(err) => answer_error(&state, &parts, &format!("{BASE}/revoke-all"), err, None).await,
    }
}
