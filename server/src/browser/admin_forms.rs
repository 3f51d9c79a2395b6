//! The administration pages' plain-form posts: revoke tokens with a
//! reason, disable/enable accounts and change administrator rights, save
//! the policies. Each needs an administrator's session in sudo mode;
//! anyone else gets the "Page not found" answer a missing page gets.

use super::forms::{Post, Posted, SudoAsk};
use super::pages::{not_found_for, render_page};
use app::domain::refusal::Refusal;
use app::{
    domain::{
        accounts,
        admin::{self, Admin, AdminError},
        AppState,
    },
    model::FormFeedback,
    tokens::policy::KEYS,
    ui::admin::{ADMIN_POLICIES, ADMIN_TOKENS_REVOKE, ADMIN_USERS_ACTION},
};
use axum::{
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

type Pairs = Vec<(String, String)>;

fn first<'a>(pairs: &'a Pairs, key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// The admin's session and form, after the admin and sudo checks; or the
/// answer to send instead (404 for non-admins, the page with the sudo
/// field's message).
async fn admitted(
    post: Post,
    page: &str,
    for_what: &str,
) -> Result<(Posted<Pairs>, Admin), Response> {
    if !post.session.user.is_admin {
        return Err(not_found_for(&post.state, post.req).await);
    }
    let posted = post.form::<Pairs>().await?;
    let (state, session, client, parts, pairs) = &posted;
    let ask = SudoAsk {
        password: first(pairs, accounts::SUDO_FIELD),
        page,
        typed: keep(pairs),
        for_what,
    };
    super::forms::confirm_sudo(state, parts, session, client, ask).await?;
    let who = Admin {
        user_id: Some(session.user.id),
        client: Some(client.clone()),
        org_owner: false,
    };
    Ok((posted, who))
}

/// What the admin typed (never the password), to show the form again.
fn keep(pairs: &Pairs) -> FormFeedback {
    super::forms::kept(pairs.iter().map(|(k, v)| (k, v)))
}

async fn refused(
    state: &AppState,
    parts: &Parts,
    page: &str,
    fb: FormFeedback,
    e: AdminError,
    field: Option<&str>,
) -> Response {
    let refusal = Refusal::from(e).under(field);
    super::pages::refuse(state, parts, page, fb, refusal).await
}

/// The inventory's filters as the form sent them back (`back`), kept to
/// a query string of known keys.
fn back_query(back: &str) -> String {
    form_urlencoded::parse(back.as_bytes())
        .filter(|(k, _)| {
            matches!(
                k.as_ref(),
                "user" | "status" | "scope" | "expiring" | "unused"
            )
        })
        .fold(
            form_urlencoded::Serializer::new(String::new()),
            |mut s, (k, v)| {
                s.append_pair(&k, &v);
                s
            },
        )
        .finish()
}

/// `POST /admin/tokens/revoke`: revokes the token of the pressed row
/// (`only`) or every selected one (`id`…), with a reason.
pub async fn revoke_tokens(post: Post) -> Response {
    let back = |pairs: &Pairs| {
        let q = back_query(first(pairs, "back"));
        if q.is_empty() {
            "/admin/tokens".to_owned()
        } else {
            format!("/admin/tokens?{q}")
        }
    };
    let ((state, _, _, parts, pairs), who) =
        match admitted(post, "/admin/tokens", "to revoke tokens").await {
            Ok(v) => v,
            Err(res) => return res,
        };
    let page = back(&pairs);
    let fb = keep(&pairs);
    let only = first(&pairs, "only").trim();
    let ids: Vec<&str> = if only.is_empty() {
        pairs
            .iter()
            .filter(|(k, _)| k == "id")
            .map(|(_, v)| v.as_str())
            .collect()
    } else {
        vec![only]
    };
    if ids.is_empty() {
        let mut fb = fb;
        fb.message = Some("Select the tokens to revoke.".into());
        return render_page(&state, &parts, &page, fb, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    if let Err(e) = admin::reason(first(&pairs, "reason")) {
        return refused(&state, &parts, &page, fb, e, Some("reason")).await;
    }
    let mut done = 0u64;
    for id in ids.iter().take(admin::INVENTORY_MAX) {
        let Ok(id) = id.trim().parse::<i64>() else {
            continue;
        };
        match admin::revoke_token(&state.core, &who, id, first(&pairs, "reason")).await {
            Ok(r) if r.token.revoked_by.as_deref() == Some("admin") => done += 1,
            Ok(_) | Err(AdminError::NotFound(_)) => {}
            Err(e) => return refused(&state, &parts, &page, fb, e, None).await,
        }
    }
    let sep = if page.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{page}{sep}done={done}")).into_response()
}

/// `POST /admin/users/action`: `action` is `disable:NAME`, `enable:NAME`,
/// `grant:NAME` or `revoke:NAME`. An administrator cannot disable or
/// demote themselves here (the CLI can).
pub async fn user_action(post: Post) -> Response {
    let ((state, session, _, parts, pairs), who) =
        match admitted(post, "/admin/users", "to change accounts").await {
            Ok(v) => v,
            Err(res) => return res,
        };
    let q = first(&pairs, "q");
    let page = if q.is_empty() {
        "/admin/users".to_owned()
    } else {
        format!("/admin/users?q={}", app::ui::urlencode(q))
    };
    let fb = keep(&pairs);
    let (verb, name) = first(&pairs, "action").split_once(':').unwrap_or(("", ""));
    if name.trim().eq_ignore_ascii_case(&session.user.username) {
        let e = AdminError::Invalid("You cannot disable yourself or remove your own administrator rights here; another administrator (or tessera admin) can.".into());
        return refused(&state, &parts, &page, fb, e, None).await;
    }
    let core = &state.core;
    let outcome = match verb {
        "disable" => admin::set_disabled(core, &who, name, true).await,
        "enable" => admin::set_disabled(core, &who, name, false).await,
        "grant" => admin::set_admin(core, &who, name, true).await,
        "revoke" => admin::set_admin(core, &who, name, false).await,
        // every identity at the configured provider; the account is disabled
        "unlink" => match &core.sso {
            Some(sso) => app::domain::sso::unlink(core, &who, name, &sso.config.issuer, None)
                .await
                .and(admin::user(&core.db, name).await),
            None => Err(AdminError::Invalid(
                "Single sign-on is not set up on this server.".into(),
            )),
        },
        _ => Err(AdminError::Invalid("Choose an action for a user.".into())),
    };
    match outcome {
        Ok(_) => {
            let sep = if page.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{page}{sep}done={verb}")).into_response()
        }
        Err(e) => refused(&state, &parts, &page, fb, e, None).await,
    }
}

/// `POST /admin/policies`: saves every policy that changed; a bad value is
/// a field error and nothing is saved.
pub async fn save_policies(post: Post) -> Response {
    let ((state, _, _, parts, pairs), who) =
        match admitted(post, ADMIN_POLICIES, "to change the policies").await {
            Ok(v) => v,
            Err(res) => return res,
        };
    let mut fb = keep(&pairs);
    // a checkbox sends "false" (hidden) and, when ticked, "true" after it
    let ticked = |key: &str| {
        pairs
            .iter()
            .filter(|(k, _)| k == key)
            .any(|(_, v)| v == "true")
    };
    let checkboxes = [
        "forbid_full_access",
        "revoke_on_reuse",
        "require_allowlist_for_write",
        "sso_required",
        "require_two_factor",
    ];
    for key in checkboxes {
        fb.values.insert(key.into(), ticked(key).to_string());
    }
    let current = match admin::load_policies(&state.core.db).await {
        Ok(p) => p,
        Err(e) => return refused(&state, &parts, ADMIN_POLICIES, fb, e.into(), None).await,
    };
    let mut wanted = current.clone();
    for key in KEYS {
        // a key the form does not carry is left as it is (saving the page
        // once cleared a policy it did not show)
        if !checkboxes.contains(&key) && !pairs.iter().any(|(k, _)| k == key) {
            continue;
        }
        let value = if checkboxes.contains(&key) {
            ticked(key).to_string()
        } else {
            first(&pairs, key).trim().to_owned()
        };
        if let Err(m) = wanted.set(key, &value) {
            fb.fields.insert(key.into(), m);
        }
    }
    if !fb.fields.is_empty() {
        return render_page(
            &state,
            &parts,
            ADMIN_POLICIES,
            fb,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    for key in KEYS {
        if wanted.get(key) != current.get(key) {
            if let Err(e) = admin::set_policy(&state.core, &who, key, &wanted.get(key)).await {
                return refused(&state, &parts, ADMIN_POLICIES, fb, e, Some(key)).await;
            }
        }
    }
    Redirect::to(&format!("{ADMIN_POLICIES}?done=policy")).into_response()
}

/// The posts of the administration pages (for the browser router's table).
pub fn routes() -> [(&'static str, axum::routing::MethodRouter<AppState>); 3] {
    use axum::routing::post;
    [
        (ADMIN_TOKENS_REVOKE, post(revoke_tokens)),
        (ADMIN_USERS_ACTION, post(user_action)),
        (ADMIN_POLICIES, post(save_policies)),
    ]
}
