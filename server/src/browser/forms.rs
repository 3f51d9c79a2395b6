//! Handlers for the account forms. They work as plain HTML form posts: on
//! success they set the cookie and redirect (post/redirect/get); on failure
//! they render the same page again with field-level messages and a status
//! that says what went wrong (422, 401, 429 with `Retry-After`).

use super::pages::render_page;
use super::session::{with_session, without_session, SessionCookie};
use app::{
    domain::{
        accounts::{self, AccountError, SignedIn},
        sessions::{self, Client, NewSession, Session},
        AppState,
    },
    model::{CurrentUser, FormFeedback},
    ui::{safe_next, SESSIONS_OTHERS as OTHERS},
};
use axum::{
    extract::{FromRequest, Request, State},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

/// Where a sign-in lands when it names no page.
pub(super) const HOME: &str = "/profile/security/tokens";

fn redirect_with_session(state: &AppState, to: &str, session: &NewSession) -> Response {
    let jar = with_session(state, CookieJar::new(), session);
    (jar, Redirect::to(to)).into_response()
}

/// Splits the request into its parts and its decoded form. Missing fields
/// decode as empty strings, so they get field messages rather than a 4xx.
pub(super) async fn parts_and_form<T>(
    state: &AppState,
    req: Request,
) -> Result<(Parts, T), Response>
where
    T: serde::de::DeserializeOwned + Send,
{
    let (parts, body) = req.into_parts();
    let rebuilt = Request::from_parts(parts.clone(), body);
    match Form::<T>::from_request(rebuilt, state).await {
        Ok(Form(form)) => Ok((parts, form)),
        Err(rejection) => Err((
            rejection.status(),
            format!("The form could not be read: {}", rejection.body_text()),
        )
            .into_response()),
    }
}

/// A post by a signed-in user, its body not read yet: the services, who,
/// from where, and the request.
pub struct Post {
    /// The services.
    pub state: AppState,
    /// Who is signed in.
    pub session: Session,
    /// Where the request came from.
    pub client: Client,
    /// The request, its body unread.
    pub req: Request,
}

/// A post with its form read: the services, who, from where, the
/// request's parts (to render a page again) and the form.
pub type Posted<T> = (AppState, Session, Client, Parts, T);

impl FromRequest<AppState> for Post {
    type Rejection = Response;

    /// The session and client are the sign-in guard's (a route without it
    /// is a mistake: 500, as `Extension` would answer).
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let session = req.extensions().get::<Session>().cloned();
        let client = req.extensions().get::<Client>().cloned();
        match (session, client) {
            (Some(session), Some(client)) => Ok(Post {
                state: state.clone(),
                session,
                client,
                req,
            }),
            _ => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        }
    }
}

impl Post {
    /// Reads the form (a body that is not one is answered at once).
    pub(super) async fn form<T>(self) -> Result<Posted<T>, Response>
    where
        T: serde::de::DeserializeOwned + Send,
    {
        let (parts, form) = parts_and_form::<T>(&self.state, self.req).await?;
        Ok((self.state, self.session, self.client, parts, form))
    }
}

/// What was typed (never the password), to show a form again.
pub(super) fn kept<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> FormFeedback {
    let mut fb = FormFeedback::default();
    for (k, v) in pairs {
        if k != accounts::SUDO_FIELD {
            fb.values.insert(k.clone(), v.clone());
        }
    }
    fb
}

/// What a form that needs sudo mode sent, and where to answer.
pub(super) struct SudoAsk<'a> {
    /// The password field as sent.
    pub password: &'a str,
    /// The page to show again when it is refused.
    pub page: &'a str,
    /// What was typed (never the password).
    pub typed: FormFeedback,
    /// For what, in the field's message ("to change accounts").
    pub for_what: &'a str,
}

/// Checks sudo mode, or the password sent with the form; otherwise the
/// answer to send: the page again with what was typed and the password
/// field's message ("Confirm your password {for_what}.").
pub(super) async fn confirm_sudo(
    state: &AppState,
    parts: &Parts,
    session: &Session,
    client: &Client,
    ask: SudoAsk<'_>,
) -> Result<(), Response> {
    let SudoAsk {
        password,
        page,
        typed,
        for_what,
    } = ask;
    match accounts::sudo(&state.core, client, session, password).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            let mut fb = typed;
            fb.fields.insert(
                accounts::SUDO_FIELD.into(),
                format!("Confirm your password {for_what}."),
            );
            Err(render_page(state, parts, page, fb, StatusCode::FORBIDDEN).await)
        }
        // a wrong password: its message, and everything else as typed
        Err(AccountError::Invalid(mut fb)) => {
            fb.values = typed.values;
            Err(answer_error(state, parts, page, AccountError::Invalid(fb)).await)
        }
        Err(e) => Err(answer_error(state, parts, page, e).await),
    }
}

/// [`confirm_sudo`] for a form read as name → value `pairs`: the
/// password is its sudo field, and `page` shows again with the rest.
pub(super) async fn confirm_sudo_in(
    state: &AppState,
    (parts, session, client): (&Parts, &Session, &Client),
    pairs: &std::collections::BTreeMap<String, String>,
    page: &str,
    for_what: &str,
) -> Result<(), Response> {
    let ask = SudoAsk {
        password: pairs.get(accounts::SUDO_FIELD).map_or("", String::as_str),
        page,
        typed: kept(pairs),
        for_what,
    };
    confirm_sudo(state, parts, session, client, ask).await
}

/// A change that needs sudo mode, asked as GitHub does: in sudo mode, or
/// with the right password sent, `Ok`; otherwise the "Confirm access"
/// page in its place (403), which posts the same fields again to this
/// post's path with the password — what the change is (`what`) said, and
/// `back` to go back to; a wrong password is its field's message there.
pub(super) async fn confirm_access(
    state: &AppState,
    (parts, session, client): (&Parts, &Session, &Client),
    pairs: &std::collections::BTreeMap<String, String>,
    what: &str,
    back: &str,
) -> Result<(), Response> {
    use app::ui::confirm_access::{CONFIRM_ACCESS, CONFIRM_ACTION, CONFIRM_BACK, CONFIRM_WHAT};
    let password = pairs.get(accounts::SUDO_FIELD).map_or("", String::as_str);
    let mut typed = kept(pairs);
    for (key, value) in [
        (CONFIRM_ACTION, parts.uri.path()),
        (CONFIRM_WHAT, what),
        (CONFIRM_BACK, back),
    ] {
        typed.values.insert(key.to_owned(), value.to_owned());
    }
    match accounts::sudo(&state.core, client, session, password).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            Err(render_page(state, parts, CONFIRM_ACCESS, typed, StatusCode::FORBIDDEN).await)
        }
        Err(AccountError::Invalid(mut fb)) => {
            fb.values = typed.values;
            Err(render_page(state, parts, CONFIRM_ACCESS, fb, StatusCode::FORBIDDEN).await)
        }
        Err(e) => Err(super::pages::refuse(state, parts, CONFIRM_ACCESS, typed, e).await),
    }
}

pub(super) async fn answer_error(
    state: &AppState,
    parts: &Parts,
    page: &str,
    err: AccountError,
) -> Response {
    super::pages::refuse(state, parts, page, FormFeedback::default(), err).await
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /signin`: a session cookie and a redirect to `next`, or the page
/// again with the reason.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    req: Request,
) -> Response {
    let (parts, form) = match parts_and_form::<SignInForm>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let next = safe_next(&form.next).unwrap_or_default();
    match accounts::sign_in(&state.core, &client, &form.username, &form.password, &next).await {
        Ok(SignedIn::Session(user, session)) => {
            tracing::info!(user_id = user.id, "signed in");
            let to = if next.is_empty() { HOME.into() } else { next };
            redirect_with_session(&state, &to, &session)
        }
        Ok(SignedIn::SecondFactor(cookie)) => super::session::to_second_step(&state, &cookie),
        Err(err) => {
            let err = keep_next(err, &form.next);
            answer_error(&state, &parts, "/signin", err).await
        }
    }
}

/// Carries the `next` destination through a failed attempt.
fn keep_next(err: AccountError, next: &str) -> AccountError {
    let Some(next) = safe_next(next) else {
        return err;
    };
    match err {
        AccountError::Invalid(mut fb) => {
            fb.values.insert("next".into(), next);
            AccountError::Invalid(fb)
        }
        AccountError::BadCredentials(mut fb) => {
            fb.values.insert("next".into(), next);
            AccountError::BadCredentials(fb)
        }
        AccountError::Throttled(w, mut fb) => {
            fb.values.insert("next".into(), next);
            AccountError::Throttled(w, fb)
        }
        other => other,
    }
}

/// The sign-up form.
#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    next: String,
}

/// `POST /signup`: a new account, signed in.
pub async fn sign_up(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    req: Request,
) -> Response {
    let (parts, form) = match parts_and_form::<SignUpForm>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match accounts::sign_up(
        &state.core,
        &client,
        &form.username,
        &form.password,
        &form.confirm,
    )
    .await
    {
        Ok((user, session)) => {
            tracing::info!(user_id = user.id, "signed up");
            let to = safe_next(&form.next).unwrap_or_else(|| HOME.into());
            redirect_with_session(&state, &to, &session)
        }
        Err(err) => answer_error(&state, &parts, "/signup", err).await,
    }
}

/// `POST /signout`: ends this session.
pub async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    cookie: Option<Extension<SessionCookie>>,
    session: Option<Extension<Session>>,
    Extension(client): Extension<Client>,
) -> Response {
    if let (Some(Extension(SessionCookie(value))), Some(Extension(session))) = (cookie, session) {
        if let Err(e) = sessions::delete(&state.core.db, session.user.id, &value, &client).await {
            tracing::error!(error = %e, "could not delete session");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "Could not sign out; please try again.",
            )
                .into_response();
        }
    }
    // the jar holds the request's cookies, so removing one expires it
    let jar = without_session(&state, jar);
    (jar, Redirect::to("/signin?signed_out=1")).into_response()
}

/// The change-password form.
#[derive(Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /profile/security/password`: a new password; every other session ends.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Extension(user): Extension<CurrentUser>,
    req: Request,
) -> Response {
    let (parts, form) = match parts_and_form::<ChangePasswordForm>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match accounts::change_password(
        &state.core,
        &client,
        &user,
        &form.current,
        &form.password,
        &form.confirm,
    )
    .await
    {
        Ok(session) => {
            tracing::info!(user_id = user.id, "password changed; sessions ended");
            redirect_with_session(&state, "/profile/security/password?changed=1", &session)
        }
        Err(err) => answer_error(&state, &parts, "/profile/security/password", err).await,
    }
}

/// The Sessions section's form: which session to sign out (a handle, or
/// "others"), and the sudo-mode password when the session needs one.
#[derive(Deserialize)]
pub struct SessionsForm {
    #[serde(default)]
    handle: String,
    #[serde(default)]
    sudo_password: String,
}

/// `POST /profile/security/sessions/signout`: signs out one other session,
/// or every other one; both need sudo mode. An unknown handle (another
/// user's included) changes nothing and says so.
pub async fn sign_out_sessions(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Extension(client): Extension<Client>,
    req: Request,
) -> Response {
    let (parts, form) = match parts_and_form::<SessionsForm>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let (core, user_id) = (&state.core, session.user.id);
    let page = "/profile/security/sessions";
    match accounts::sudo(core, &client, &session, &form.sudo_password).await {
        Ok(true) => {}
        Ok(false) => {
            let mut fb = FormFeedback::default();
            fb.fields.insert(
                accounts::SUDO_FIELD.into(),
                "Confirm your password to sign out other sessions.".into(),
            );
            return render_page(&state, &parts, page, fb, StatusCode::FORBIDDEN).await;
        }
        Err(err) => return answer_error(&state, &parts, page, err).await,
    }
    let handle = form.handle.trim();
    let ended = if handle.is_empty() {
        return Redirect::to(&format!("{page}?done=confirmed")).into_response();
    } else if handle == OTHERS {
        sessions::end_others(&core.db, user_id, &session.handle, &client)
            .await
            .map(|n| (n, "signed-out-others"))
    } else {
        sessions::end(&core.db, user_id, handle, &client)
            .await
            .map(|found| (u64::from(found), "signed-out"))
    };
    match ended {
        Ok((0, "signed-out")) => {
            let fb = FormFeedback {
                message: Some("That session has already ended.".into()),
                ..Default::default()
            };
            render_page(&state, &parts, page, fb, StatusCode::NOT_FOUND).await
        }
        Ok((n, done)) => {
            tracing::info!(user_id, ended = n, "sessions signed out");
            if handle == session.handle {
                return (
                    without_session(&state, CookieJar::new()),
                    Redirect::to("/signin?signed_out=1"),
                )
                    .into_response();
            }
            Redirect::to(&format!("{page}?done={done}")).into_response()
        }
        Err(e) => answer_error(&state, &parts, page, AccountError::Database(e)).await,
    }
}
