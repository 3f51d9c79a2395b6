//! Handlers for the account forms. They work as plain HTML form posts: on
//! success they set the cookie and redirect (post/redirect/get); on failure
//! they render the same page again with field-level messages and a status
//! that says what went wrong (422, 401, 429 with `Retry-After`).

use crate::middleware::{ClientIp, SessionCookie};
use crate::pages::render_page;
use app::{
    model::{CurrentUser, FormFeedback},
    server::{
        accounts::{self, AccountError},
        sessions::{self, NewSession},
        AppState,
    },
    ui::safe_next,
};
use axum::{
    extract::{FromRequest, Request, State},
    http::{header, request::Parts, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use serde::Deserialize;

const HOME: &str = "/profile/security/tokens";

fn session_cookie(state: &AppState, session: &NewSession) -> HeaderValue {
    let secure = if state.core.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let max_age = sessions::LIFETIME_DAYS * 24 * 3600;
    let value = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        sessions::COOKIE_NAME,
        session.cookie_value
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.core.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        sessions::COOKIE_NAME
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn redirect_with_session(state: &AppState, to: &str, session: &NewSession) -> Response {
    let mut res = Redirect::to(to).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(state, session));
    res
}

/// Splits the request into its parts and its decoded form. Missing fields
/// decode as empty strings, so they get field messages rather than a 4xx.
async fn parts_and_form<T>(state: &AppState, req: Request) -> Result<(Parts, T), Response>
where
    T: for<'de> Deserialize<'de> + Send,
{
    let (parts, body) = req.into_parts();
    let rebuilt = Request::from_parts(parts.clone(), body);
    match Form::<T>::from_request(rebuilt, state).await {
        Ok(Form(form)) => Ok((parts, form)),
        Err(rejection) => Err((
            StatusCode::BAD_REQUEST,
            format!("The form could not be read: {}", rejection.body_text()),
        )
            .into_response()),
    }
}

async fn answer_error(state: &AppState, parts: &Parts, page: &str, err: AccountError) -> Response {
    match err {
        AccountError::Invalid(fb) => {
            render_page(state, parts, page, fb, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        AccountError::BadCredentials(fb) => {
            render_page(state, parts, page, fb, StatusCode::UNAUTHORIZED).await
        }
        AccountError::Throttled(wait, fb) => {
            let mut res = render_page(state, parts, page, fb, StatusCode::TOO_MANY_REQUESTS).await;
            if let Ok(v) = HeaderValue::from_str(&wait.seconds().to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
        AccountError::SignupDisabled => {
            let fb = FormFeedback {
                message: Some("Sign-up is disabled on this server.".into()),
                ..Default::default()
            };
            render_page(state, parts, page, fb, StatusCode::FORBIDDEN).await
        }
        failure @ (AccountError::Database(_) | AccountError::Hash(_)) => {
            tracing::error!(error = %failure, "account service failure");
            let fb = FormFeedback {
                message: Some("Something went wrong on our side. Please try again.".into()),
                ..Default::default()
            };
            render_page(state, parts, page, fb, StatusCode::SERVICE_UNAVAILABLE).await
        }
    }
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(ip): Extension<ClientIp>,
    req: Request,
) -> Response {
    let (parts, form) = match parts_and_form::<SignInForm>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match accounts::sign_in(&state.core, ip.0, &form.username, &form.password).await {
        Ok((user, session)) => {
            tracing::info!(user_id = user.id, "signed in");
            let to = safe_next(&form.next).unwrap_or_else(|| HOME.into());
            redirect_with_session(&state, &to, &session)
        }
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

pub async fn sign_up(State(state): State<AppState>, req: Request) -> Response {
    let (parts, form) = match parts_and_form::<SignUpForm>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match accounts::sign_up(&state.core, &form.username, &form.password, &form.confirm).await {
        Ok((user, session)) => {
            tracing::info!(user_id = user.id, "signed up");
            let to = safe_next(&form.next).unwrap_or_else(|| HOME.into());
            redirect_with_session(&state, &to, &session)
        }
        Err(err) => answer_error(&state, &parts, "/signup", err).await,
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    cookie: Option<Extension<SessionCookie>>,
) -> Response {
    if let Some(Extension(SessionCookie(value))) = cookie {
        if let Err(e) = sessions::delete(&state.core.db, &value).await {
            tracing::error!(error = %e, "could not delete session");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "Could not sign out; please try again.",
            )
                .into_response();
        }
    }
    let mut res = Redirect::to("/signin?signed_out=1").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(&state));
    res
}

#[derive(Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    Extension(ip): Extension<ClientIp>,
    Extension(user): Extension<CurrentUser>,
    req: Request,
) -> Response {
    let (parts, form) = match parts_and_form::<ChangePasswordForm>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match accounts::change_password(
        &state.core,
        ip.0,
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
