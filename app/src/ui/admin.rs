//! Administration: the credentials inventory (every user's tokens), the
//! accounts, the policies and the audit log. Only administrators reach
//! these pages (anyone else gets "Page not found"); every change is a
//! plain form post that needs sudo mode, so it all works without
//! JavaScript.

use super::events::EventList;
use super::fields::{FormMessage, SudoField};
use super::token_form::fmt_date;
use crate::admin::{InventoryFilter, InventoryRow, StatusFilter, UserRow};
use crate::model::{FormFeedback, SessionInfo, SUDO_FIELD};
use crate::tokens::policy::Policies;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Where the inventory's revoke form posts.
pub const ADMIN_TOKENS_REVOKE: &str = "/admin/tokens/revoke";
/// Where the accounts' action buttons post.
pub const ADMIN_USERS_ACTION: &str = "/admin/users/action";
/// Where the policies form posts (and the page).
pub const ADMIN_POLICIES: &str = "/admin/policies";
/// Every administration page.
pub const ADMIN_PAGES: [&str; 4] = [
    "/admin/tokens",
    "/admin/users",
    ADMIN_POLICIES,
    "/admin/audit",
];
/// Every administration form post, and the password confirmation's purpose.
pub const ADMIN_POSTS: [(&str, &str); 3] = [
    (ADMIN_TOKENS_REVOKE, "to revoke tokens"),
    (ADMIN_USERS_ACTION, "to change accounts"),
    (ADMIN_POLICIES, "to change the policies"),
];

#[cfg(feature = "ssr")]
mod ssr {
    use crate::domain::AppState;
    use crate::model::CurrentUser;
    use leptos::prelude::*;

    /// The state and the administrator of the request; anyone else gets
    /// the answer a missing page gets.
    pub fn admin() -> Result<(AppState, CurrentUser), ServerFnError> {
        let state =
            use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
        let user = use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<CurrentUser>().cloned())
            .filter(|u| u.is_admin);
        match user {
            Some(u) => Ok((state, u)),
            None => {
                if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
                    res.set_status(http::StatusCode::NOT_FOUND);
                }
                Err(ServerFnError::new("Not found."))
            }
        }
    }

    pub fn failed(what: &str, e: impl std::fmt::Display) -> ServerFnError {
        tracing::error!(error = %e, "{what} failed");
        ServerFnError::new(format!("Could not load {what}. Please try again."))
    }
}

/// Every user's tokens matching `filter` (administrators only).
#[server(prefix = "/rpc", endpoint = "admin/tokens", input = Json)]
pub async fn admin_tokens(
    /// Which tokens.
    filter: InventoryFilter,
) -> Result<Vec<InventoryRow>, ServerFnError> {
    let (state, _) = ssr::admin()?;
    crate::domain::admin::inventory(&state.core, &filter)
        .await
        .map_err(|e| match e {
            crate::domain::admin::AdminError::Invalid(m) => ServerFnError::new(m),
            other => ssr::failed("the tokens", other),
        })
}

/// Every account whose name contains `search` (administrators only).
#[server(prefix = "/rpc", endpoint = "admin/users", input = Json)]
pub async fn admin_users(
    /// A piece of the name.
    search: String,
) -> Result<Vec<UserRow>, ServerFnError> {
    let (state, _) = ssr::admin()?;
    crate::domain::admin::users(&state.core.db, &search)
        .await
        .map_err(|e| ssr::failed("the accounts", e))
}

/// The policies in force (administrators only).
#[server(prefix = "/rpc", endpoint = "admin/policies", input = Json)]
pub async fn admin_policies() -> Result<Policies, ServerFnError> {
    let (state, _) = ssr::admin()?;
    crate::domain::admin::load_policies(&state.core.db)
        .await
        .map_err(|e| ssr::failed("the policies", e))
}

/// Audit events of everyone, or of `user` / `token`, since `since`
/// (YYYY-MM-DD), before the event `before` (administrators only).
#[server(prefix = "/rpc", endpoint = "admin/audit", input = Json)]
pub async fn admin_audit(
    /// A user name, or empty for everyone.
    user: String,
    /// One token's events.
    token: Option<i64>,
    /// YYYY-MM-DD, or empty.
    since: String,
    /// Events older than this one (the next page).
    before: Option<i64>,
) -> Result<Vec<crate::audit::AuditEvent>, ServerFnError> {
    let (state, _) = ssr::admin()?;
    let user_id = match user.trim() {
        "" => None,
        name => match crate::domain::admin::user(&state.core.db, name).await {
            Ok(u) => Some(u.id),
            Err(_) => {
                return Err(ServerFnError::new(format!(
                    "There is no user \u{201c}{name}\u{201d}."
                )))
            }
        },
    };
    let since = match since.trim() {
        "" => None,
        s => Some(
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
                .ok_or_else(|| ServerFnError::new("Since must be a date, YYYY-MM-DD."))?,
        ),
    };
    let filter = crate::domain::audit::Filter {
        user_id,
        token_id: token,
        since,
        before_id: before,
        limit: super::events::EVENTS_PAGE,
    };
    crate::domain::audit::list(&state.core.db, &filter)
        .await
        .map_err(|e| ssr::failed("the audit log", e))
}

/// The administration pages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    Tokens,
    Users,
    Policies,
    Audit,
}

#[component]
fn AdminNav(current: Page) -> impl IntoView {
    let aria = |p: Page| (p == current).then_some("page");
    view! {
        <nav class="side-nav" aria-label="Administration">
            <p class="side-nav-heading">"Administration"</p>
            <a href="/admin/tokens" aria-current=aria(Page::Tokens)>"Tokens"</a>
            <a href="/admin/users" aria-current=aria(Page::Users)>"Users"</a>
            <a href="/admin/policies" aria-current=aria(Page::Policies)>"Policies"</a>
            <a href="/admin/audit" aria-current=aria(Page::Audit)>"Audit log"</a>
        </nav>
    }
}

/// The page around an administration section, or "Page not found" for
/// anyone who is not an administrator.
#[component]
fn AdminFrame(
    info: SessionInfo,
    current: Page,
    title: &'static str,
    children: Children,
) -> impl IntoView {
    if !info.user.as_ref().is_some_and(|u| u.is_admin) {
        // the same page as any address that does not exist
        return view! { <crate::ui::NotFound /> }.into_any();
    }
    view! {
        <Title text=format!("{title} · Administration · Tessera") />
        <div class="settings">
            <AdminNav current />
            <section class="settings-body">
                {children()}
            </section>
        </div>
    }
    .into_any()
}

fn done_message(done: Option<String>) -> Option<String> {
    let d = done?;
    Some(match d.as_str() {
        "policy" => "Policies saved.".into(),
        "disable" => {
            "The account was disabled: its sessions ended and its tokens stopped working.".into()
        }
        "enable" => "The account was enabled.".into(),
        "grant" => "The user is now an administrator.".into(),
        "revoke" => "The user is no longer an administrator.".into(),
        "unlink" => "Single sign-on was unlinked and the account disabled: its sessions ended and its tokens stopped working.".into(),
        n => match n.parse::<u64>() {
            Ok(1) => "1 token revoked.".into(),
            Ok(n) => format!("{n} tokens revoked."),
            Err(_) => return None,
        },
    })
}

fn sudo_error(fb: &FormFeedback) -> Signal<Option<String>> {
    Signal::stored(fb.field(SUDO_FIELD))
}

/// Administration → Tokens: the credentials inventory.
#[component]
pub fn AdminTokens(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| {
            let num = |k: &str| q.get(k).and_then(|v| v.trim().parse::<u32>().ok());
            (
                q.get("user").unwrap_or_default(),
                InventoryFilter {
                    user_id: None,
                    status: StatusFilter::parse(&q.get("status").unwrap_or_default())
                        .unwrap_or_default(),
                    scope: q.get("scope").filter(|s| !s.trim().is_empty()),
                    expiring_days: num("expiring"),
                    unused_days: num("unused"),
                    overgranted: q.get("overgranted").is_some_and(|v| v == "1"),
                },
            )
        })
    });
    let done = query.with_untracked(|q| done_message(q.get("done")));
    let rows = Resource::new_blocking(
        move || filter.get(),
        |(user, mut f)| async move {
            if !user.trim().is_empty() {
                // the user filter is a name: find its id among the accounts
                let users = admin_users(user.trim().to_owned()).await?;
                match users
                    .iter()
                    .find(|u| u.username.eq_ignore_ascii_case(user.trim()))
                {
                    Some(u) => f.user_id = Some(u.id),
                    None => return Ok(Vec::new()),
                }
            }
            admin_tokens(f).await
        },
    );
    let in_sudo = info.in_sudo;
    let fb2 = fb.clone();
    view! {
        <AdminFrame info current=Page::Tokens title="Tokens">
            <h1>"Tokens"</h1>
            <p class="lead">"Every token of every user, including expired and revoked ones. Revoke one or a selection; the owner sees your reason."</p>
            {done.clone().map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            <FormMessage message=fb.message.clone() />
            <form method="get" action="/admin/tokens" class="filters" role="search" aria-label="Filter tokens">
                <div class="field">
                    <label for="filter-user">"User"</label>
                    <input id="filter-user" name="user" type="search" value=move || filter.get().0 />
                </div>
                <div class="field">
                    <label for="filter-status">"Status"</label>
                    <select id="filter-status" name="status">
                        {[StatusFilter::Active, StatusFilter::Expired, StatusFilter::Revoked, StatusFilter::All].into_iter().map(|s| {
                            let label = match s { StatusFilter::Active => "Active", StatusFilter::Expired => "Expired", StatusFilter::Revoked => "Revoked", StatusFilter::All => "All" };
                            view! { <option value=s.as_str() selected=move || filter.get().1.status == s>{label}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="filter-scope">"Scope"</label>
                    <input id="filter-scope" name="scope" type="text" placeholder="code:write or full" value=move || filter.get().1.scope.unwrap_or_default() />
                </div>
                <div class="field">
                    <label for="filter-expiring">"Expiring within (days)"</label>
                    <input id="filter-expiring" name="expiring" type="number" min="1" max="3650" value=move || filter.get().1.expiring_days.map(|d| d.to_string()).unwrap_or_default() />
                </div>
                <div class="field">
                    <label for="filter-unused">"Not used for (days)"</label>
                    <input id="filter-unused" name="unused" type="number" min="1" max="3650" value=move || filter.get().1.unused_days.map(|d| d.to_string()).unwrap_or_default() />
                </div>
                <div class="field checkbox-field">
                    <input id="filter-overgranted" name="overgranted" type="checkbox" value="1" checked=move || filter.get().1.overgranted />
                    <label for="filter-overgranted">"Granted more than used (30 days)"</label>
                </div>
                <div class="filter-actions"><button type="submit" class="button">"Filter"</button></div>
            </form>
            <Suspense fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
                {move || {
                    let fb = fb2.clone();
                    Suspend::new(async move {
                        let rows = match rows.await {
                            Ok(r) => r,
                            Err(e) => return crate::ui::load_failed(e),
                        };
                        let count = rows.len();
                        let back = query.with_untracked(|q| {
                            ["user", "status", "scope", "expiring", "unused", "overgranted"]
                                .iter()
                                .filter_map(|k| q.get(k).map(|v| format!("{k}={}", super::urlencode(&v))))
                                .collect::<Vec<_>>()
                                .join("&")
                        });
                        view! {
                            <p class="count" role="status">{format!("{count} token{}", if count == 1 { "" } else { "s" })}</p>
                            <form method="post" action=ADMIN_TOKENS_REVOKE class="stack">
                                <input type="hidden" name="back" value=back />
                                <ul class="token-list admin-list">
                                    {rows.into_iter().map(|r| {
                                        let t = r.token;
                                        let status = r.status;
                                        let note = t.revoked_note().or_else(|| t.blocked.as_ref().map(|b| b.sentence()));
                                        let label = format!("Select {} of {}", t.name, r.username);
                                        view! {
                                            <li class="token-row" data-status=status.label().to_lowercase() data-token-id=t.id.to_string()>
                                                {(status != crate::tokens::Status::Revoked).then(|| view! {
                                                    <label class="select-box" for=format!("select-{}", t.id)>
                                                        <input type="checkbox" name="id" value=t.id.to_string() aria-label=label id=format!("select-{}", t.id) />
                                                    </label>
                                                })}
                                                <div class="token-main">
                                                    <div class="token-title">
                                                        <h2 class="token-name">{t.name.clone()}</h2>
                                                        <span class="badge">{r.username.clone()}</span>
                                                        <span class="badge">{status.label()}</span>
                                                    </div>
                                                    <p class="token-scopes"><span class="meta-label">"Scopes: "</span>{t.scopes.summary()}</p>
                                                    {t.workload.as_ref().map(|w| view! {
                                                        <p class="reach" data-workload-rule=w.rule_id.to_string()>{format!("Minted by trust rule {} for the workload {}", w.rule_id, w.subject)}</p>
                                                    })}
                                                    <p class="token-scopes"><span class="meta-label">"Expires: "</span>{fmt_date(t.expires_at)}
                                                        <span class="meta-label">" · Last used: "</span>{t.last_used_at.map(fmt_date).unwrap_or_else(|| "Never".into())}</p>
                                                    {note.map(|n| view! { <p class="token-flag revoked-note">{n}</p> })}
                                                    {t.usage.as_ref().map(|u| view! { <p class="reach usage">{u.sentence()}</p> })}
                                                </div>
                                                <div class="token-actions">
                                                    <a class="button" href=format!("/admin/audit?token={}", t.id)>"History"</a>
                                                    {(status != crate::tokens::Status::Revoked).then(|| view! {
                                                        <button type="submit" name="only" value=t.id.to_string() class="button danger" aria-label=format!("Revoke {} of {}", t.name, r.username)>"Revoke"</button>
                                                    })}
                                                </div>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                                {(count > 0).then(|| view! {
                                    <div class="field" class:has-error=fb.field("reason").is_some()>
                                        <label for="field-reason">"Reason"</label>
                                        <p class="hint" id="field-reason-hint">"The owner sees it on their tokens page, e.g. \u{201c}Leaked in a CI log\u{201d}."</p>
                                        <input id="field-reason" name="reason" type="text" maxlength="500" value=fb.value("reason")
                                            aria-describedby="field-reason-hint field-reason-error"
                                            aria-invalid=fb.field("reason").map(|_| "true") />
                                        <p class="field-error" id="field-reason-error" hidden=fb.field("reason").is_none()>{fb.field("reason")}</p>
                                    </div>
                                    <SudoField error=sudo_error(&fb) confirmed=in_sudo />
                                    <div><button type="submit" name="only" value="" class="button danger">"Revoke selected"</button></div>
                                })}
                            </form>
                        }
                        .into_any()
                    })
                }}
            </Suspense>
        </AdminFrame>
    }
}

/// Administration → Users: accounts, disable/enable, administrator rights.
#[component]
pub fn AdminUsers(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let query = use_query_map();
    let search = Memo::new(move |_| query.with(|q| q.get("q").unwrap_or_default()));
    let done = query.with_untracked(|q| done_message(q.get("done")));
    let users = Resource::new_blocking(move || search.get(), admin_users);
    let me = info.user.as_ref().map(|u| u.id);
    let in_sudo = info.in_sudo;
    let fb2 = fb.clone();
    view! {
        <AdminFrame info current=Page::Users title="Users">
            <h1>"Users"</h1>
            {done.map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            <FormMessage message=fb.message.clone() />
            <form method="get" action="/admin/users" class="filters" role="search" aria-label="Search users">
                <div class="field">
                    <label for="filter-q">"Name"</label>
                    <input id="filter-q" name="q" type="search" value=move || search.get() />
                </div>
                <div class="filter-actions"><button type="submit" class="button">"Search"</button></div>
            </form>
            <Suspense fallback=|| view! { <p class="loading">"Loading users…"</p> }>
                {move || {
                    let fb = fb2.clone();
                    Suspend::new(async move {
                        let users = match users.await {
                            Ok(u) => u,
                            Err(e) => return crate::ui::load_failed(e),
                        };
                        view! {
                            <form method="post" action=ADMIN_USERS_ACTION class="stack">
                                <input type="hidden" name="q" value=search.get_untracked() />
                                <ul class="session-list user-list">
                                    {users.into_iter().map(|u| {
                                        let mine = Some(u.id) == me;
                                        let name = u.username.clone();
                                        let toggle = if u.disabled_at.is_some() { ("enable", "Enable") } else { ("disable", "Disable") };
                                        let admin = if u.is_admin { ("revoke", "Remove administrator") } else { ("grant", "Make administrator") };
                                        view! {
                                            <li data-username=u.username.clone()>
                                                <div>
                                                    <strong>{u.username.clone()}</strong>
                                                    {u.is_admin.then(|| view! { " " <span class="badge">"Administrator"</span> })}
                                                    {u.is_service.then(|| view! { " " <span class="badge">"Service account"</span> })}
                                                    {(u.identities > 0).then(|| view! { " " <span class="badge">"Single sign-on"</span> })}
                                                    {u.provisioned.then(|| view! { " " <span class="badge">"Provisioned"</span> })}
                                                    {u.disabled_at.map(|_| view! { " " <span class="badge revoked">"Disabled"</span> })}
                                                    <p class="session-meta">{format!("{} active token{} · joined {}", u.active_tokens, if u.active_tokens == 1 { "" } else { "s" }, fmt_date(u.created_at))}</p>
                                                </div>
                                                {(!mine).then(|| view! {
                                                    <div class="token-actions">
                                                        <button type="submit" name="action" value=format!("{}:{name}", toggle.0) class="button" aria-label=format!("{} {name}", toggle.1)>{toggle.1}</button>
                                                        {(!u.is_service || u.is_admin).then(|| view! {
                                                            <button type="submit" name="action" value=format!("{}:{name}", admin.0) class="button" aria-label=format!("{} {name}", admin.1)>{admin.1}</button>
                                                        })}
                                                        {(u.identities > 0).then(|| view! {
                                                            <button type="submit" name="action" value=format!("unlink:{name}") class="button" aria-label=format!("Unlink single sign-on of {name}")>"Unlink single sign-on"</button>
                                                        })}
                                                        <a class="button" href=format!("/admin/tokens?user={}&status=all", super::urlencode(&name))>"Tokens"</a>
                                                    </div>
                                                })}
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                                <SudoField error=sudo_error(&fb) confirmed=in_sudo />
                            </form>
                        }
                        .into_any()
                    })
                }}
            </Suspense>
        </AdminFrame>
    }
}

/// Administration → Policies.
#[component]
pub fn AdminPolicies(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let done = use_query_map().with_untracked(|q| done_message(q.get("done")));
    let policies = Resource::new_blocking(|| (), |_| admin_policies());
    let in_sudo = info.in_sudo;
    let fb2 = fb.clone();
    view! {
        <AdminFrame info current=Page::Policies title="Policies">
            <h1>"Policies"</h1>
            <p class="lead">"Rules for every user's tokens. A token made before a stricter policy is blocked, not revoked: loosening the policy brings it back."</p>
            {done.map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            <FormMessage message=fb.message.clone() />
            <Suspense fallback=|| view! { <p class="loading">"Loading policies…"</p> }>
                {move || {
                    let fb = fb2.clone();
                    Suspend::new(async move {
                        let p = match policies.await {
                            Ok(p) => p,
                            Err(e) => return crate::ui::load_failed(e),
                        };
                        let value = |key: &str| {
                            if fb.values.contains_key(key) { fb.value(key) } else {
                                let v = p.get(key);
                                if v == "none" { String::new() } else { v }
                            }
                        };
                        let field = move |key: &'static str, label: &'static str, hint: &'static str, kind: &'static str, value: String, error: Option<String>| {
                            let id = format!("field-{key}");
                            view! {
                                <div class="field" class:has-error=error.is_some()>
                                    <label for=id.clone()>{label}</label>
                                    <p class="hint" id=format!("{id}-hint")>{hint}</p>
                                    <input id=id.clone() name=key type=kind value=value min="1"
                                        aria-describedby=format!("{id}-hint {id}-error")
                                        aria-invalid=error.as_ref().map(|_| "true") />
                                    <p class="field-error" id=format!("{id}-error") hidden=error.is_none()>{error.clone()}</p>
                                </div>
                            }
                        };
                        // a checkbox sends "false" (hidden) and, when ticked, "true"
                        let check = |key: &'static str, label: &'static str, stored: bool| {
                            let on = if fb.values.contains_key(key) { fb.value(key) == "true" } else { stored };
                            let id = format!("field-{key}");
                            view! {
                                <div class="field checkbox-field">
                                    <input type="hidden" name=key value="false" />
                                    <input id=id.clone() type="checkbox" name=key value="true" checked=on />
                                    <label for=id>{label}</label>
                                </div>
                            }
                        };
                        view! {
                            <form method="post" action=ADMIN_POLICIES class="stack narrow-form">
                                {field("max_lifetime_days", "Maximum lifetime (days)", "Empty: the operator's maximum applies.", "number", value("max_lifetime_days"), fb.field("max_lifetime_days"))}
                                {check("forbid_full_access", "Forbid full access", p.forbid_full_access)}
                                {field("allowed_scopes", "Allowed scopes", "The most a token may be granted, e.g. code:write wiki:read. Empty: any.", "text", value("allowed_scopes"), fb.field("allowed_scopes"))}
                                {field("max_active_tokens_per_user", "Active tokens per user", "Empty: no limit.", "number", value("max_active_tokens_per_user"), fb.field("max_active_tokens_per_user"))}
                                {field("inactive_days", "Stop tokens unused for (days)", "Empty: never.", "number", value("inactive_days"), fb.field("inactive_days"))}
                                {check("revoke_on_reuse", "Revoke a token when a secret rotated out of it is used again", p.revoke_on_reuse)}
                                {check("require_allowlist_for_write", "Require a network allowlist for tokens that can write or manage", p.require_allowlist_for_write)}
                                {field("allowed_workload_issuers", "Allowed workload issuers", "Space-separated issuer URLs trust rules may name. Empty: any.", "text", value("allowed_workload_issuers"), fb.field("allowed_workload_issuers"))}
                                {check("sso_required", "Require single sign-on (administrators may still use their password)", p.sso_required)}
                                {check("require_two_factor", "Require two-factor authentication (a passkey or an authenticator app) before anything else, and before any token", p.require_two_factor)}
                                <SudoField error=sudo_error(&fb) confirmed=in_sudo />
                                <div><button type="submit" class="button primary">"Save policies"</button></div>
                            </form>
                        }
                        .into_any()
                    })
                }}
            </Suspense>
        </AdminFrame>
    }
}

/// Administration → Audit log.
#[component]
pub fn AdminAudit(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| {
        query.with(|q| {
            (
                q.get("user").unwrap_or_default(),
                q.get("token").and_then(|t| t.trim().parse::<i64>().ok()),
                q.get("since").unwrap_or_default(),
                q.get("before").and_then(|t| t.parse::<i64>().ok()),
            )
        })
    });
    let events = Resource::new_blocking(
        move || params.get(),
        |(user, token, since, before)| admin_audit(user, token, since, before),
    );
    let viewer = info.user.as_ref().map(|u| u.id);
    view! {
        <AdminFrame info current=Page::Audit title="Audit log">
            <h1>"Audit log"</h1>
            <p class="lead">"Who created, changed, used from where and revoked every token; sign-ins, account and policy changes."</p>
            <form method="get" action="/admin/audit" class="filters" role="search" aria-label="Filter events">
                <div class="field">
                    <label for="filter-user">"User"</label>
                    <input id="filter-user" name="user" type="search" value=move || params.get().0 />
                </div>
                <div class="field">
                    <label for="filter-token">"Token ID"</label>
                    <input id="filter-token" name="token" type="number" min="1" value=move || params.get().1.map(|t| t.to_string()).unwrap_or_default() />
                </div>
                <div class="field">
                    <label for="filter-since">"Since"</label>
                    <input id="filter-since" name="since" type="date" value=move || params.get().2 />
                </div>
                <div class="filter-actions"><button type="submit" class="button">"Filter"</button></div>
            </form>
            <Suspense fallback=|| view! { <p class="loading">"Loading events…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(list) => {
                            let older = Callback::new(move |id: i64| {
                                let (user, token, since, _) = params.get_untracked();
                                let mut q = vec![format!("before={id}")];
                                if !user.is_empty() { q.push(format!("user={}", super::urlencode(&user))); }
                                if let Some(t) = token { q.push(format!("token={t}")); }
                                if !since.is_empty() { q.push(format!("since={}", super::urlencode(&since))); }
                                format!("/admin/audit?{}", q.join("&"))
                            });
                            view! { <EventList events=list viewer show_user=true older /> }.into_any()
                        }
                        Err(e) => crate::ui::load_failed(e),
                    }
                })}
            </Suspense>
        </AdminFrame>
    }
}
