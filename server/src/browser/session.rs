//! The browser side's layers and cookie: the signed-in user from the
//! session cookie, the sign-in guard for `/profile`, and the refusal of
//! cross-site form posts. Cookies are read and written with axum-extra's
//! cookie jar.

use crate::middleware::{is_cross_site_change, ClientIp};
use app::{
    domain::{
        sessions::{self, Client, NewSession},
        two_factor, AppState,
    },
    model::CurrentUser,
    ui::two_factor::{TWO_FACTOR, TWO_FACTOR_SIGNIN},
};
use axum::{
    extract::{Request, State},
    http::{header::USER_AGENT, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use std::net::{IpAddr, Ipv4Addr};

/// The raw session cookie of the request (never logged).
#[derive(Clone)]
pub struct SessionCookie(pub String);

/// Resolves the signed-in user (if any) from the session cookie into the
/// request's extensions, for handlers, pages and server functions: the
/// [`Client`] (address and user agent) always, the [`sessions::Session`] and its
/// [`CurrentUser`] when signed in.
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let client = Client {
        ip: req
            .extensions()
            .get::<ClientIp>()
            .map(|c| c.0)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        agent: req
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        request_id: crate::middleware::request_id_of(req.headers()),
    };
    let config = &state.core.config;
    let jar = CookieJar::from_headers(req.headers());
    if let Some(cookie) = jar.get(config.session_cookie()) {
        let value = cookie.value().to_owned();
        match sessions::lookup(&state.core.db, &value, config, &client).await {
            Ok(Some(session)) => {
                req.extensions_mut().insert(session.user.clone());
                req.extensions_mut().insert(session);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is unavailable.",
                )
                    .into_response();
            }
        }
        req.extensions_mut().insert(SessionCookie(value));
    }
    req.extensions_mut().insert(client);
    next.run(req).await
}

/// Pages under `/profile` need a session: others are sent to sign in and
/// brought back afterwards. Signed-in users skip the sign-in pages.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let signed_in = req.extensions().get::<CurrentUser>().is_some();
    let guarded = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if !signed_in && (guarded("/profile") || guarded("/admin")) {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(path);
        let to = format!("/signin?next={}", app::ui::urlencode(target));
        return Redirect::to(&to).into_response();
    }
    // a one-time password: nothing but choosing a new one (and signing out)
    let must_change = req
        .extensions()
        .get::<CurrentUser>()
        .is_some_and(|u| u.must_change_password);
    if must_change
        && !matches!(
            path,
            "/profile/security/password" | "/signout" | "/rpc/session_info"
        )
        && !path.starts_with("/pkg/")
    {
        return Redirect::to("/profile/security/password?required=1").into_response();
    }
    // the organization requires a second factor: nothing but adding one
    // (its page, its posts, sudo through the provider) and signing out
    let without_second_factor = req
        .extensions()
        .get::<sessions::Session>()
        .is_some_and(|s| !s.two_factor);
    if without_second_factor
        && state.core.policies().require_two_factor
        && !guarded(TWO_FACTOR)
        && !matches!(path, "/rpc/session_info" | "/rpc/two_factor/settings")
        && !path.starts_with("/rpc/passkeys/")
        && !path.starts_with("/pkg/")
        && !path.starts_with("/auth/oidc/")
        && path != "/signout"
    {
        return Redirect::to(&format!("{TWO_FACTOR}?required=1")).into_response();
    }
    if signed_in
        && req.method() == Method::GET
        && (path == "/signin" || path == "/signup" || path == "/" || path == TWO_FACTOR_SIGNIN)
    {
        return Redirect::to("/profile/security/tokens").into_response();
    }
    // the second step of a sign-in needs the first
    if !signed_in && req.method() == Method::GET && path == TWO_FACTOR_SIGNIN {
        let name = two_factor::challenge_cookie(state.core.config.secure_cookies());
        if CookieJar::from_headers(req.headers()).get(name).is_none() {
            return Redirect::to("/signin").into_response();
        }
    }
    next.run(req).await
}

/// Refuses state-changing requests that a browser marks as cross-site (or
/// whose `Origin` names another site): cookies alone never authorise them.
pub async fn same_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_cross_site_change(&req, &state.core.config.public_url) {
        return (
            StatusCode::FORBIDDEN,
            "Cross-site form submissions are not accepted.",
        )
            .into_response();
    }
    next.run(req).await
}

/// `jar` with the session cookie of `session` set: `HttpOnly`,
/// `SameSite=Lax`, `Path=/`; over https `Secure` and named `__Host-…`.
pub fn with_session(state: &AppState, jar: CookieJar, session: &NewSession) -> CookieJar {
    let name = state.core.config.session_cookie();
    let cookie = Cookie::build((name, session.cookie_value.clone()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.core.config.secure_cookies())
        .max_age(time::Duration::days(sessions::LIFETIME_DAYS));
    jar.add(cookie)
}

/// `jar` (the request's cookies) with the session cookie removed: the
/// answer expires it in the browser.
pub fn without_session(state: &AppState, jar: CookieJar) -> CookieJar {
    let cookie = Cookie::build((state.core.config.session_cookie(), ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.core.config.secure_cookies());
    jar.remove(cookie)
}

/// A short-lived cookie of a step on the way to a session (a sign-in at
/// the identity provider, one waiting for its second factor): `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, `Secure` over https; an empty `value` builds
/// the removal.
pub fn step_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.core.config.secure_cookies())
        .build()
}

/// The cookie of a sign-in waiting for its second factor.
pub fn challenge_name(state: &AppState) -> &'static str {
    two_factor::challenge_cookie(state.core.config.secure_cookies())
}

/// The answer to a right password of an account with a second factor: the
/// cookie of the waiting sign-in, and its page.
pub fn to_second_step(state: &AppState, cookie: &str) -> Response {
    let mut c = step_cookie(state, challenge_name(state), cookie.to_owned());
    c.set_max_age(time::Duration::minutes(two_factor::CHALLENGE_MINUTES));
    (CookieJar::new().add(c), Redirect::to(TWO_FACTOR_SIGNIN)).into_response()
}
