//! Plain-form handlers for the tokens page: the same flows as its dialogs,
//! for browsers without (or before) the WASM. Creating and regenerating
//! answer with the page itself, showing the secret once; the other actions
//! redirect back to the list (post/redirect/get).

use super::pages::render_page;
use app::{
    domain::{
        accounts::SUDO_FIELD,
        sessions::{Client, Session},
        tokens::{self as service, Actor, TokenError},
        AppState,
    },
    model::FormFeedback,
    tokens::TokenForm,
    ui::tokens::BASE,
};
use axum::{
    extract::{FromRequest, FromRequestParts, Path, Request, State},
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

/// The sudo-mode password as sent with the form (empty when not).
fn sudo_password(pairs: &Pairs) -> &str {
    pairs
        .iter()
        .find(|(k, _)| k == SUDO_FIELD)
        .map_or("", |(_, v)| v.as_str())
}

/// Renders `page` again with the error explained; the status says why.
async fn answer_error(
    state: &AppState,
    parts: &Parts,
    page: &str,
    err: TokenError,
    sent: Option<&Pairs>,
) -> Response {
    // what was typed comes back, except the password
    let typed = FormFeedback {
        values: sent
            .map(|p| p.iter().filter(|(k, _)| k != SUDO_FIELD).cloned().collect())
            .unwrap_or_default(),
        ..FormFeedback::default()
    };
    super::pages::refuse(state, parts, page, typed, err).await
}

/// A form posted by the signed-in person: its fields, the session and
/// where it came from, and the request's parts (to render a page again).
pub struct PersonForm {
    session: Session,
    client: Client,
    parts: Parts,
    pairs: Pairs,
}

impl FromRequest<AppState> for PersonForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, pairs) = read_pairs(state, req).await?;
        let found = (
            parts.extensions.get::<Session>().cloned(),
            parts.extensions.get::<Client>().cloned(),
        );
        let (Some(session), Some(client)) = found else {
            return Err(StatusCode::UNAUTHORIZED.into_response());
        };
        Ok(PersonForm {
            session,
            client,
            parts,
            pairs,
        })
    }
}

impl PersonForm {
    /// Runs `op` as the person: in sudo mode if the session is, or once the
    /// form's password proves it (a wrong one fails before `op` runs).
    async fn run<T, Fut>(
        &self,
        state: &AppState,
        op: impl FnOnce(Actor) -> Fut,
    ) -> Result<T, TokenError>
    where
        Fut: Future<Output = Result<T, TokenError>>,
    {
        let password = sudo_password(&self.pairs);
        op(Actor::for_session(&state.core, &self.client, &self.session, password).await?).await
    }
}

/// `POST /profile/security/tokens/new`: the page with the secret, once.
pub async fn create(State(state): State<AppState>, person: PersonForm) -> Response {
    let (core, form) = (&state.core, form_of(&person.pairs));
    let op = |actor| async move { service::create_from_form(core, &actor, &form).await };
    let parts = &person.parts;
    match person.run(&state, op).await {
        Ok(secret) => {
            let token_id = secret.token.id;
            tracing::info!(user_id = person.session.user.id, token_id, "token created");
            show_secret(&state, parts, secret, StatusCode::CREATED).await
        }
        Err(err @ TokenError::AlreadySubmitted(_)) => {
            answer_error(&state, parts, BASE, err, None).await
        }
        Err(err) => {
            let page = format!("{BASE}/new");
            answer_error(&state, parts, &page, err, Some(&person.pairs)).await
        }
    }
}

/// A plain action on one token: the session, the token id of the URL as
/// sent, and the request's parts (to render a page again).
pub struct OnToken {
    session: Session,
    client: Client,
    raw_id: String,
    parts: Parts,
}

impl FromRequestParts<AppState> for OnToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Extension(session) = Extension::<Session>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Extension(client) = Extension::<Client>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(raw_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(OnToken {
            session,
            client,
            raw_id,
            parts: parts.clone(),
        })
    }
}

impl OnToken {
    /// Runs `op` (given the actor and the id); a failure — a non-numeric id
    /// or a wrong sudo-mode password included — renders the token's
    /// `action` page again with the reason and what was `sent`.
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
        let password = sent.map_or("", |p| sudo_password(p));
        let result = match self.raw_id.parse::<i64>() {
            Ok(id) => {
                match Actor::for_session(&state.core, &self.client, &self.session, password).await {
                    Ok(actor) => op(actor, id).await,
                    Err(e) => Err(e),
                }
            }
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
        tracing::info!(user_id = self.session.user.id, token_id, "token {done}");
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

/// `POST /profile/security/tokens/{id}/narrow`: keeps only what the token
/// used in the last 30 days; a refusal is explained on the list.
pub async fn narrow(State(state): State<AppState>, on: OnToken) -> Response {
    let result = match on.raw_id.parse::<i64>() {
        Ok(id) => {
            let actor = Actor::in_session(on.session.user.id, false).from_client(on.client.clone());
            service::narrow(&state.core, &actor, id).await
        }
        Err(_) => Err(TokenError::NotFound),
    };
    match result {
        Ok(t) => on.back_to_list(t.id, "narrowed"),
        Err(err) => answer_error(&state, &on.parts, BASE, err, None).await,
    }
}

/// `POST /profile/security/tokens/{id}/derive`: a one-hour child with the
/// parent's scopes, allowlist and resources; the page with its secret, once.
/// Deriving from a token that reaches everything needs sudo mode: a refusal
/// renders `…/{id}/derive`, the confirmation with the password field.
pub async fn derive(State(state): State<AppState>, on: OnToken, req: Request) -> Response {
    let (_, pairs) = match read_pairs(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let core = &state.core;
    let op =
        |actor, id| async move { service::derive(core, &actor, id, &Default::default()).await };
    match on.run(&state, "derive", Some(&pairs), op).await {
        Ok(secret) => {
            tracing::info!(
                user_id = on.session.user.id,
                token_id = secret.token.id,
                "token derived"
            );
            show_secret(&state, &on.parts, secret, StatusCode::CREATED).await
        }
        Err(res) => res,
    }
}

/// `POST /profile/security/tokens/{id}/regenerate`: the page with the new
/// secret, once.
pub async fn regenerate(State(state): State<AppState>, on: OnToken, req: Request) -> Response {
    let (_, pairs) = match read_pairs(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let grace = pairs
        .iter()
        .find(|(k, _)| k == app::ui::tokens::GRACE_FIELD)
        .and_then(|(_, v)| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let core = &state.core;
    let op = |actor, id| async move {
        match grace {
            0 => service::regenerate(core, &actor, id).await,
            hours => service::rotate(core, &actor, id, hours).await,
        }
    };
    match on.run(&state, "regenerate", Some(&pairs), op).await {
        Ok(secret) => {
            let token_id = secret.token.id;
            tracing::info!(user_id = on.session.user.id, token_id, "token regenerated");
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

/// `POST /profile/security/tokens/revoke-all` (sudo mode).
pub async fn revoke_all(State(state): State<AppState>, person: PersonForm) -> Response {
    let core = &state.core;
    let op = |actor| async move { service::revoke_all(core, &actor).await };
    match person.run(&state, op).await {
        Ok(n) => {
            let user_id = person.session.user.id;
            tracing::info!(user_id, revoked = n, "all tokens revoked");
            Redirect::to(&format!("{BASE}?done=revoked-all")).into_response()
        }
        Err(err) => {
            let page = format!("{BASE}/revoke-all");
            answer_error(&state, &person.parts, &page, err, None).await
        }
    }
}

/// `POST /profile/security/organizations/{org}/service-accounts/new-token`:
/// an owner makes a token for one of the organization's service accounts;
/// the page with the secret, once. Anyone but an owner finds no such
/// organization.
pub async fn create_for_service_account(
    State(state): State<AppState>,
    Path(org): Path<String>,
    person: PersonForm,
) -> Response {
    use app::domain::orgs::{self, service_accounts};
    use app::ui::orgs::{new_token_path, ORGANIZATIONS};
    let core = &state.core;
    // the page to answer with names the organization: only once it is
    // known to be one the person owns
    let o = match orgs::as_owner(&core.db, &org, person.session.user.id).await {
        Ok(o) => o,
        Err(e) => {
            let typed = FormFeedback::default();
            return super::pages::refuse(&state, &person.parts, ORGANIZATIONS, typed, e).await;
        }
    };
    let page = new_token_path(&o.name);
    let form = form_of(&person.pairs);
    let account = person
        .pairs
        .iter()
        .find(|(k, _)| k == "service_account")
        .map_or(String::new(), |(_, v)| v.clone());
    let (name, form_ref, account_ref) = (&o.name, &form, &account);
    let op = |actor| async move {
        let spec = form_ref.parse()?;
        service_accounts::make_token(core, &actor, name, account_ref, spec, &form_ref.form_id).await
    };
    match person.run(&state, op).await {
        Ok(secret) => {
            tracing::info!(
                user_id = person.session.user.id,
                token_id = secret.token.id,
                "service account token created"
            );
            let fb = FormFeedback {
                secret: Some(secret),
                values: [("service_account".to_owned(), account)].into(),
                ..Default::default()
            };
            render_page(&state, &person.parts, &page, fb, StatusCode::CREATED).await
        }
        Err(TokenError::AlreadySubmitted(_)) => {
            let back = app::ui::orgs::section_link(&o.name);
            Redirect::to(&back).into_response()
        }
        Err(err) => answer_error(&state, &person.parts, &page, err, Some(&person.pairs)).await,
    }
}

/// `POST /profile/security/organizations/{org}/service-accounts/tokens/{id}/revoke`:
/// an owner revokes a service account's token (at once, for good).
pub async fn revoke_for_service_account(
    State(state): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    person: PersonForm,
) -> Response {
    use app::domain::orgs::service_accounts;
    use app::ui::orgs::ORGANIZATIONS;
    let core = &state.core;
    let org_ref = &org;
    let op = |actor| async move {
        let id: i64 = id.parse().map_err(|_| TokenError::NotFound)?;
        service_accounts::revoke_token(core, &actor, org_ref, id).await
    };
    match person.run(&state, op).await {
        Ok(_) => {
            Redirect::to(&format!("{ORGANIZATIONS}?done=service-token-revoked")).into_response()
        }
        Err(err) => answer_error(&state, &person.parts, ORGANIZATIONS, err, None).await,
    }
}
