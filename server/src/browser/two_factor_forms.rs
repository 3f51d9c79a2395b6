//! Two-factor authentication's plain-form posts: the second step of a
//! sign-in (an authenticator app's code or a recovery code), and Security →
//! Two-factor authentication (add an app, new recovery codes, remove a
//! factor). Adding, removing and new codes need sudo mode; recovery codes
//! are shown once, in the answer to the post that made them.

use super::forms::{confirm_sudo_in, parts_and_form, Post};
use super::pages::{refuse, render_page};
use super::session::{step_cookie, with_session};
use app::{
    domain::{
        sessions::Client,
        two_factor::{self, TwoFactorError},
        AppState,
    },
    model::FormFeedback,
    ui::{
        safe_next,
        two_factor::{TWO_FACTOR, TWO_FACTOR_APP, TWO_FACTOR_RECOVERY, TWO_FACTOR_SIGNIN},
    },
};
use axum::{
    extract::{Path, Request, State},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{post, MethodRouter},
    Extension,
};
use axum_extra::extract::cookie::CookieJar;
use std::collections::BTreeMap;

type Pairs = BTreeMap<String, String>;

/// The posts of two-factor authentication: path (axum syntax) and handler.
pub fn routes() -> Vec<(String, MethodRouter<AppState>)> {
    vec![
        (TWO_FACTOR_SIGNIN.into(), post(second_step)),
        (TWO_FACTOR_APP.into(), post(app)),
        (TWO_FACTOR_RECOVERY.into(), post(recovery_codes)),
        (format!("{TWO_FACTOR}/{{id}}/remove"), post(remove)),
    ]
}

use super::session::challenge_name;

/// `POST /signin/two-factor`: `code` (an authenticator app's) or
/// `recovery_code`; a session and the page the sign-in was headed for, or
/// this page again with why not (the sign-in page when it is no longer
/// waiting).
pub async fn second_step(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    req: Request,
) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let cookie = jar
        .get(challenge_name(&state))
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let (parts, pairs) = match parts_and_form::<Pairs>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let field = |k: &str| pairs.get(k).map_or("", String::as_str);
    let outcome = two_factor::finish_sign_in(
        &state.core,
        &client,
        &cookie,
        field(two_factor::CODE_FIELD),
        field(two_factor::RECOVERY_FIELD),
    )
    .await;
    match outcome {
        Ok(done) => {
            tracing::info!(user_id = done.user.id, "signed in with a second factor");
            let to = safe_next(&done.next).unwrap_or_else(|| super::forms::HOME.into());
            let jar = jar.remove(step_cookie(&state, challenge_name(&state), String::new()));
            (with_session(&state, jar, &done.session), Redirect::to(&to)).into_response()
        }
        Err(TwoFactorError::NoSignIn) => {
            let gone = jar.remove(step_cookie(&state, challenge_name(&state), String::new()));
            let page = refuse(
                &state,
                &parts,
                "/signin",
                FormFeedback::default(),
                TwoFactorError::NoSignIn,
            )
            .await;
            (gone, page).into_response()
        }
        Err(e) => {
            refuse(
                &state,
                &parts,
                TWO_FACTOR_SIGNIN,
                FormFeedback::default(),
                e,
            )
            .await
        }
    }
}

/// What was typed (never a password or a code), to show the form again.
fn kept(pairs: &Pairs) -> FormFeedback {
    let mut fb = super::forms::kept(pairs);
    fb.values.remove(two_factor::CODE_FIELD);
    fb
}

fn done(what: &str) -> Response {
    Redirect::to(&format!("{TWO_FACTOR}?done={what}")).into_response()
}

/// The page with the recovery codes to write down (shown once: they are
/// in this answer only).
async fn show_codes(
    state: &AppState,
    parts: &Parts,
    codes: Vec<String>,
    message: &str,
) -> Response {
    let fb = FormFeedback {
        message: Some(message.into()),
        shown_once: Some(codes.join("\n")),
        ..Default::default()
    };
    let mut res = render_page(state, parts, TWO_FACTOR, fb, StatusCode::OK).await;
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

/// `POST …/two-factor/app`: `action=begin` makes a new key to scan (sudo
/// mode); `action=confirm` adds the app once `code` is one of its codes
/// (the first factor also makes the recovery codes, shown once);
/// `action=cancel` drops the key.
pub async fn app(post: Post) -> Response {
    let (state, session, client, parts, pairs) = match post.form::<Pairs>().await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let user = &session.user;
    let refused = |e: TwoFactorError| {
        let (state, parts, typed) = (state.clone(), parts.clone(), kept(&pairs));
        async move { refuse(&state, &parts, TWO_FACTOR, typed, e).await }
    };
    match pairs.get("action").map_or("", String::as_str) {
        "begin" => {
            let for_what = "to add an authenticator app";
            if let Err(res) = confirm_sudo_in(
                &state,
                (&parts, &session, &client),
                &pairs,
                TWO_FACTOR,
                for_what,
            )
            .await
            {
                return res;
            }
            match two_factor::begin_app(&state.core, user.id).await {
                Ok(()) => Redirect::to(&format!("{TWO_FACTOR}#add-app")).into_response(),
                Err(e) => refused(e).await,
            }
        }
        "cancel" => match two_factor::cancel_app(&state.core, user.id).await {
            Ok(()) => Redirect::to(TWO_FACTOR).into_response(),
            Err(e) => refused(e).await,
        },
        _ => {
            let field = |k: &str| pairs.get(k).map_or("", String::as_str);
            let added = two_factor::confirm_app(
                &state.core,
                user,
                &client,
                field("name"),
                field(two_factor::CODE_FIELD),
            )
            .await;
            match added {
                Ok(Some(codes)) => {
                    show_codes(
                        &state,
                        &parts,
                        codes,
                        "Authenticator app added. Save these recovery codes now: each signs you in once if you lose your app, and they are not shown again.",
                    )
                    .await
                }
                Ok(None) => done("app-added"),
                Err(e) => refused(e).await,
            }
        }
    }
}

/// The post's form, once sudo mode is confirmed (or the page again asking
/// for the password `for_what`).
async fn in_sudo(post: Post, for_what: &str) -> Result<super::forms::Posted<Pairs>, Response> {
    let (state, session, client, parts, pairs) = post.form::<Pairs>().await?;
    let who = (&parts, &session, &client);
    confirm_sudo_in(&state, who, &pairs, TWO_FACTOR, for_what).await?;
    Ok((state, session, client, parts, pairs))
}

/// `POST …/two-factor/recovery-codes`: new recovery codes (the old ones
/// stop working), shown once; sudo mode.
pub async fn recovery_codes(post: Post) -> Response {
    let (state, session, client, parts, pairs) =
        match in_sudo(post, "to make new recovery codes").await {
            Ok(p) => p,
            Err(res) => return res,
        };
    match two_factor::new_recovery_codes(&state.core, session.user.id, &client).await {
        Ok(codes) => {
            show_codes(
                &state,
                &parts,
                codes,
                "New recovery codes made; the old ones no longer work. Save these now: they are not shown again.",
            )
            .await
        }
        Err(e) => refuse(&state, &parts, TWO_FACTOR, kept(&pairs), e).await,
    }
}

/// `POST …/two-factor/{id}/remove`: removes one of the person's factors
/// (sudo mode); another's id, or one that is gone, is "not found".
pub async fn remove(Path(id): Path<String>, post: Post) -> Response {
    let (state, session, client, parts, pairs) =
        match in_sudo(post, "to remove a second factor").await {
            Ok(p) => p,
            Err(res) => return res,
        };
    let outcome = match id.parse::<i64>() {
        Ok(id) => two_factor::remove(&state.core, session.user.id, &client, id).await,
        Err(_) => Err(TwoFactorError::NotFound),
    };
    match outcome {
        Ok(()) => done("removed"),
        Err(e) => refuse(&state, &parts, TWO_FACTOR, kept(&pairs), e).await,
    }
}
