//! Plain-form handlers for the tokens page: the same flows as its dialogs,
//! for browsers without (or before) the WASM. Creating and regenerating
//! answer with the page itself, showing the secret once; the other actions
//! redirect back to the list (post/redirect/get).

use super::pages::render_page;
use app::{
    model::{CurrentUser, FormFeedback},
    server::{
        tokens::{self as service, Actor, TokenError},
        AppState,
    },
    tokens::TokenForm,
    ui::tokens::BASE,
};
use axum::{
    extract::{FromRequestParts, Path, Request, State},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension,
};
use std::future::Future;

type Pairs = Vec<(String, String)>;

async fn read_pairs(state: &AppState, req: Request) -> Result<(Parts, Pairs), Response> {
    super::forms::parts_and_form::<Pairs>(state, req).await
}

fn form_of(pairs: &Pairs) -> TokenForm {
    TokenForm::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Renders `page` again with the error explained; the status says why.
async fn answer_error(
    state: &AppState,
    parts: &Parts,
    page: &str,
    err: TokenError,
    sent: Option<&Pairs>,
) -> Response {
    if err.is_internal() {
        tracing::error!(error = %err, "token operation failed");
    }
    let fb = FormFeedback {
        fields: err.fields(),
        message: err.form_message(),
        values: sent
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default(),
        secret: None,
    };
    render_page(state, parts, page, fb, err.status()).await
}

/// `POST /profile/security/tokens/new`: the page with the secret, once.
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    req: Request,
) -> Response {
    let (parts, pairs) = match read_pairs(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match service::create_from_form(&state.core, &Actor::user(user.id), &form_of(&pairs)).await {
        Ok(secret) => {
            let token_id = secret.token.id;
            tracing::info!(user_id = user.id, token_id, "token created");
            show_secret(&state, &parts, secret, StatusCode::CREATED).await
        }
        Err(err @ TokenError::AlreadySubmitted(_)) => {
            answer_error(&state, &parts, BASE, err, None).await
        }
        Err(err) => answer_error(&state, &parts, &format!("{BASE}/new"), err, Some(&pairs)).await,
    }
}

/// A plain action on one token: the signed-in user, the token id of the
/// URL as sent, and the request's parts (to render a page again).
pub struct OnToken {
    user: CurrentUser,
    raw_id: String,
    parts: Parts,
}

impl FromRequestParts<AppState> for OnToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Extension(user) = Extension::<CurrentUser>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(raw_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(OnToken {
            user,
            raw_id,
            parts: parts.clone(),
        })
    }
}

impl OnToken {
    /// Runs `op` (given the actor and the id); a failure — a non-numeric id
    /// included — renders the token's `action` page again with the reason
    /// and what was `sent`.
    async fn run<T, Fut>(
        &self,
        state: &AppState,
        action: &str,
        sent: Option<&Pairs>,
        op: impl FnOnce(Actor, i64) -> Fut,
    ) -> Result<T, Response>
    where
        Fut: Future<Output = Result<T, TokenError>>,
    {
        let result = match self.raw_id.parse::<i64>() {
            Ok(id) => op(Actor::user(self.user.id), id).await,
            Err(_) => Err(TokenError::NotFound),
        };
        match result {
            Ok(v) => Ok(v),
            Err(err) => {
                let page = format!("{BASE}/{}/{action}", self.raw_id);
                Err(answer_error(state, &self.parts, &page, err, sent).await)
            }
        }
    }

    /// Logs what was `done` and goes back to the list, which announces it.
    fn back_to_list(&self, token_id: i64, done: &str) -> Response {
        tracing::info!(user_id = self.user.id, token_id, "token {done}");
        Redirect::to(&format!("{BASE}?done={done}")).into_response()
    }
}

/// `POST /profile/security/tokens/{id}/edit`.
pub async fn edit(State(state): State<AppState>, on: OnToken, req: Request) -> Response {
    let (_, pairs) = match read_pairs(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let (core, form) = (&state.core, form_of(&pairs));
    let op = |actor, id| async move { service::update_from_form(core, &actor, id, &form).await };
    match on.run(&state, "edit", Some(&pairs), op).await {
        Ok(t) => on.back_to_list(t.id, "updated"),
        Err(res) => res,
    }
}

/// `POST /profile/security/tokens/{id}/revoke`.
pub async fn revoke(State(state): State<AppState>, on: OnToken) -> Response {
    let core = &state.core;
    let op = |actor, id| async move { service::revoke(core, &actor, id).await };
    match on.run(&state, "revoke", None, op).await {
        Ok(t) => on.back_to_list(t.id, "revoked"),
        Err(res) => res,
    }
}

/// `POST /profile/security/tokens/{id}/regenerate`: the page with the new
/// secret, once.
pub async fn regenerate(State(state): State<AppState>, on: OnToken) -> Response {
    let core = &state.core;
    let op = |actor, id| async move { service::regenerate(core, &actor, id).await };
    match on.run(&state, "regenerate", None, op).await {
        Ok(secret) => {
            let token_id = secret.token.id;
            tracing::info!(user_id = on.user.id, token_id, "token regenerated");
            show_secret(&state, &on.parts, secret, StatusCode::OK).await
        }
        Err(res) => res,
    }
}

/// The tokens page with `secret` shown once.
async fn show_secret(
    state: &AppState,
    parts: &Parts,
    secret: app::tokens::NewSecret,
    status: StatusCode,
) -> Response {
    let fb = FormFeedback {
        secret: Some(secret),
        ..Default::default()
    };
    render_page(state, parts, BASE, fb, status).await
}

/// `POST /profile/security/tokens/revoke-all`.
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
