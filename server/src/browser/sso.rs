//! Single sign-on's two browser routes: `GET /auth/oidc/start` sends the
//! browser to the identity provider with a cookie that binds the sign-in
//! to it; `GET /auth/oidc/callback` is where the provider sends it back.
//! A refusal is the sign-in page with a sentence (the audit log keeps the
//! provider's code).

use super::pages::refuse;
use super::session::with_session;
use app::{
    domain::{
        sessions::{Client, Session},
        sso::{self, Callback, Finished},
        AppState,
    },
    model::FormFeedback,
    ui::safe_next,
};
use axum::{
    extract::{Query, Request, State},
    response::{IntoResponse, Redirect, Response},
    Extension,
};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::Deserialize;

/// The cookie that binds a sign-in on its way to the browser that began it.
fn cookie_name(state: &AppState) -> &'static str {
    if state.core.config.secure_cookies() {
        "__Host-tessera_sso"
    } else {
        "tessera_sso"
    }
}

/// The login cookie with `value` (Lax: the provider brings the browser
/// back with a top-level GET).
fn login_cookie(state: &AppState, value: String) -> Cookie<'static> {
    super::session::step_cookie(state, cookie_name(state), value)
}

/// `?next=` of the start; `?sudo=1`: a signed-in person confirming it is
/// them (back to the page they came from).
#[derive(Deserialize)]
pub struct Start {
    #[serde(default)]
    next: String,
    #[serde(default)]
    sudo: String,
}

/// The path of a same-site `Referer` (the sudo field's link sends none of
/// its own).
fn came_from(state: &AppState, req: &Request) -> Option<String> {
    let referer = req
        .headers()
        .get(axum::http::header::REFERER)?
        .to_str()
        .ok()?;
    let path = referer.strip_prefix(state.core.config.public_url.as_str())?;
    safe_next(path)
}

/// `GET /auth/oidc/start`: to the provider, or the sign-in page with why not.
pub async fn start(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Query(q): Query<Start>,
    req: Request,
) -> Response {
    let session = req.extensions().get::<Session>().cloned();
    let sudo_for = session
        .as_ref()
        .filter(|_| q.sudo == "1")
        .map(|s| s.user.id);
    let next = match safe_next(&q.next) {
        Some(next) => next,
        None if sudo_for.is_some() => {
            came_from(&state, &req).unwrap_or_else(|| super::forms::HOME.into())
        }
        None => String::new(),
    };
    match sso::start(&state.core, &client, &next, sudo_for).await {
        Ok((url, value)) => {
            let mut cookie = login_cookie(&state, value);
            cookie.set_max_age(time::Duration::minutes(sso::LOGIN_MINUTES));
            (CookieJar::new().add(cookie), Redirect::to(&url)).into_response()
        }
        Err(e) => {
            let (parts, _) = req.into_parts();
            refuse(&state, &parts, "/signin", FormFeedback::default(), e).await
        }
    }
}

/// `GET /auth/oidc/callback`: signed in (a session cookie and the page the
/// sign-in began from), or the sign-in page with a sentence.
pub async fn callback(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Query(back): Query<Callback>,
    req: Request,
) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let name = cookie_name(&state);
    let value = jar.get(name).map(|c| c.value().to_owned());
    let session = req.extensions().get::<Session>().cloned();
    let outcome = sso::finish(
        &state.core,
        &client,
        value.as_deref(),
        &back,
        session.as_ref(),
    )
    .await;
    // the sign-in is used up either way
    let gone = login_cookie(&state, String::new());
    // (removing needs the request's cookie in the jar to send the removal)
    let jar = jar.remove(gone);
    match outcome {
        Ok(Finished::SignedIn(user, session, next)) => {
            tracing::info!(user_id = user.id, "signed in through single sign-on");
            let to = safe_next(&next).unwrap_or_else(|| super::forms::HOME.to_owned());
            (with_session(&state, jar, &session), Redirect::to(&to)).into_response()
        }
        Ok(Finished::Confirmed(next)) => {
            let to = safe_next(&next).unwrap_or_else(|| super::forms::HOME.to_owned());
            (jar, Redirect::to(&to)).into_response()
        }
        Err(e) => {
            let (parts, _) = req.into_parts();
            let page = refuse(&state, &parts, "/signin", FormFeedback::default(), e).await;
            (jar, page).into_response()
        }
    }
}
