//! Single sign-on's two browser routes: `GET /auth/oidc/start` sends the
//! browser to the identity provider with a cookie that binds the sign-in
//! to it; `GET /auth/oidc/callback` is where the provider sends it back.
//! A refusal is the sign-in page with a sentence (the audit log keeps the
//! provider's code).

use super::pages::refuse;
use super::session::with_session;
use app::{
    domain::{
        sessions::Client,
        sso::{self, Callback},
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
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

/// The cookie that binds a sign-in on its way to the browser that began it.
fn cookie_name(state: &AppState) -> &'static str {
    if state.core.config.secure_cookies() {
        "__Host-tessera_sso"
    } else {
        "tessera_sso"
    }
}

/// `?next=` of the start.
#[derive(Deserialize)]
pub struct Start {
    #[serde(default)]
    next: String,
}

/// `GET /auth/oidc/start`: to the provider, or the sign-in page with why not.
pub async fn start(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Query(q): Query<Start>,
    req: Request,
) -> Response {
    let next = safe_next(&q.next).unwrap_or_default();
    match sso::start(&state.core, &client, &next).await {
        Ok((url, value)) => {
            // Lax: the provider brings the browser back with a top-level GET
            let cookie = Cookie::build((cookie_name(&state), value))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.core.config.secure_cookies())
                .max_age(time::Duration::minutes(sso::LOGIN_MINUTES));
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
    let outcome = sso::finish(&state.core, &client, value.as_deref(), &back).await;
    // the sign-in is used up either way
    let gone = Cookie::build((name, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.core.config.secure_cookies());
    // (removing needs the request's cookie in the jar to send the removal)
    let jar = jar.remove(gone);
    match outcome {
        Ok((user, session, next)) => {
            tracing::info!(user_id = user.id, "signed in through single sign-on");
            let to = if next.is_empty() {
                super::forms::HOME.to_owned()
            } else {
                next
            };
            (with_session(&state, jar, &session), Redirect::to(&to)).into_response()
        }
        Err(e) => {
            let (parts, _) = req.into_parts();
            let page = refuse(&state, &parts, "/signin", FormFeedback::default(), e).await;
            (jar, page).into_response()
        }
    }
}
