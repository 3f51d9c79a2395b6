//! The Notifications page's plain-form posts: the e-mail address (set and
//! confirm by link, remove), and webhooks (add, with the secret shown once;
//! send a test event; delete). Adding or removing an address and adding or
//! deleting an endpoint need sudo mode: they decide where news about your
//! tokens goes, and whether it goes anywhere.

use super::forms::{parts_and_form, Post};
use super::pages::render_page;
use app::{
    domain::{
        lifecycle::{self, NoticeError, Owner},
        sessions::{Client, Session},
        AppState,
    },
    model::FormFeedback,
    ui::notifications::{CONFIRM, EMAIL_POST, NOTIFICATIONS, WEBHOOKS_POST},
};
use axum::{
    extract::{Path, Query, Request, State},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post, MethodRouter},
    Extension,
};
use std::collections::BTreeMap;

type Pairs = BTreeMap<String, String>;

/// The posts of this page: path (axum syntax) and handler.
pub fn routes() -> Vec<(String, MethodRouter<AppState>)> {
    vec![
        (EMAIL_POST.into(), post(email)),
        (CONFIRM.into(), get(confirm)),
        (WEBHOOKS_POST.into(), post(add_webhook)),
        (format!("{WEBHOOKS_POST}/{{id}}/test"), post(test_webhook)),
        (
            format!("{WEBHOOKS_POST}/{{id}}/delete"),
            post(delete_webhook),
        ),
    ]
}

/// What was typed (never the password), to show the form again.
fn kept(pairs: &Pairs) -> FormFeedback {
    super::forms::kept(pairs)
}

fn done(what: &str) -> Response {
    Redirect::to(&format!("{NOTIFICATIONS}?done={what}")).into_response()
}

/// Renders the page with the refusal under its field.
async fn refused(state: &AppState, parts: &Parts, fb: FormFeedback, e: NoticeError) -> Response {
    super::pages::refuse(state, parts, NOTIFICATIONS, fb, e).await
}

/// Checks sudo mode (or the password sent); the answer to send otherwise.
async fn sudo(
    state: &AppState,
    parts: &Parts,
    session: &Session,
    client: &Client,
    pairs: &Pairs,
    for_what: &str,
) -> Result<(), Response> {
    let who = (parts, session, client);
    super::forms::confirm_sudo_in(state, who, pairs, NOTIFICATIONS, for_what).await
}

/// The answer for a webhook id that is not a number (as for one that is
/// not the user's).
async fn no_such_webhook(state: &AppState, parts: &Parts) -> Response {
    refused(state, parts, FormFeedback::default(), NoticeError::NotFound).await
}

/// `POST …/email`: `action=save` sends a confirmation link to `email`;
/// `action=remove` removes the address.
pub async fn email(post: Post) -> Response {
    let (state, session, client, parts, pairs) = match post.form::<Pairs>().await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let user = session.user.id;
    let removing = pairs.get("action").map(String::as_str) == Some("remove");
    // silencing the alarms is as sensitive as redirecting them
    let for_what = if removing {
        "to stop notices by mail"
    } else {
        "to change where notices go"
    };
    if let Err(res) = sudo(&state, &parts, &session, &client, &pairs, for_what).await {
        return res;
    }
    if removing {
        return match lifecycle::remove_email(&state.core, user, Some(&client)).await {
            Ok(()) => done("email-removed"),
            Err(e) => refused(&state, &parts, kept(&pairs), e).await,
        };
    }
    let address = pairs.get("email").map_or("", String::as_str);
    match lifecycle::set_email(&state.core, user, address, Some(&client)).await {
        Ok(_) => done("email-sent"),
        Err(e) => refused(&state, &parts, kept(&pairs), e).await,
    }
}

/// `GET …/confirm?code=`: the link in the confirmation mail.
pub async fn confirm(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Extension(client): Extension<Client>,
    Query(query): Query<BTreeMap<String, String>>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let code = query.get("code").map_or("", String::as_str);
    match lifecycle::confirm_email(&state.core, session.user.id, code, Some(&client)).await {
        Ok(_) => done("email-confirmed"),
        Err(NoticeError::Invalid(_, message)) => {
            let fb = FormFeedback {
                message: Some(message),
                ..Default::default()
            };
            render_page(&state, &parts, NOTIFICATIONS, fb, StatusCode::BAD_REQUEST).await
        }
        Err(e) => refused(&state, &parts, FormFeedback::default(), e).await,
    }
}

/// `POST …/webhooks`: adds an endpoint (`scope=all`: every user's events,
/// administrators only) and shows its secret once.
pub async fn add_webhook(post: Post) -> Response {
    let (state, session, client, parts, pairs) = match post.form::<Pairs>().await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let mut fb = kept(&pairs);
    fb.values.entry("url".into()).or_default();
    let everyone = pairs.get("scope").map(String::as_str) == Some("all");
    if everyone && !session.user.is_admin {
        fb.fields.insert(
            "url".into(),
            "Only administrators add webhooks for every user's events.".into(),
        );
        return render_page(&state, &parts, NOTIFICATIONS, fb, StatusCode::FORBIDDEN).await;
    }
    let mut with_url = pairs.clone();
    with_url.entry("url".into()).or_default();
    if let Err(res) = sudo(
        &state,
        &parts,
        &session,
        &client,
        &with_url,
        "to add a webhook",
    )
    .await
    {
        return res;
    }
    let owner = if everyone {
        Owner::Everyone
    } else {
        Owner::User(session.user.id)
    };
    let url = pairs.get("url").map_or("", String::as_str);
    let description = pairs.get("description").map_or("", String::as_str);
    match lifecycle::add_webhook(
        &state.core,
        owner,
        session.user.id,
        url,
        description,
        Some(&client),
    )
    .await
    {
        Ok((_, secret)) => {
            let fb = FormFeedback {
                shown_once: Some(secret),
                ..Default::default()
            };
            let mut res = render_page(&state, &parts, NOTIFICATIONS, fb, StatusCode::CREATED).await;
            res.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            res
        }
        Err(e) => refused(&state, &parts, fb, e).await,
    }
}

/// `POST …/webhooks/{id}/test`: queues a test event for the endpoint.
pub async fn test_webhook(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let Ok(id) = id.parse::<i64>() else {
        return no_such_webhook(&state, &parts).await;
    };
    let mut outcome = lifecycle::test_webhook(
        &state.core,
        Owner::User(session.user.id),
        session.user.id,
        id,
    )
    .await;
    if matches!(outcome, Err(NoticeError::NotFound)) && session.user.is_admin {
        outcome = lifecycle::test_webhook(&state.core, Owner::Everyone, session.user.id, id).await;
    }
    match outcome {
        Ok(()) => done("test-queued"),
        Err(e) => refused(&state, &parts, FormFeedback::default(), e).await,
    }
}

/// `POST …/webhooks/{id}/delete`: deletes the endpoint (sudo mode: it
/// silences the alarms).
pub async fn delete_webhook(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (parts, mut pairs) = match parts_and_form::<Pairs>(&state, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    pairs.insert(
        app::ui::notifications::DELETE_FIELD.into(),
        id.chars().take(20).collect(),
    );
    if let Err(res) = sudo(
        &state,
        &parts,
        &session,
        &client,
        &pairs,
        "to delete a webhook",
    )
    .await
    {
        return res;
    }
    let Ok(id) = id.parse::<i64>() else {
        return no_such_webhook(&state, &parts).await;
    };
    let user = session.user.id;
    let mut outcome =
        lifecycle::delete_webhook(&state.core, Owner::User(user), user, id, Some(&client)).await;
    if matches!(outcome, Err(NoticeError::NotFound)) && session.user.is_admin {
        outcome =
            lifecycle::delete_webhook(&state.core, Owner::Everyone, user, id, Some(&client)).await;
    }
    match outcome {
        Ok(()) => done("webhook-deleted"),
        Err(e) => refused(&state, &parts, FormFeedback::default(), e).await,
    }
}
