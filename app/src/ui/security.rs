//! Profile → Security: personal access tokens, the password, and the
//! signed-in sessions.

use super::fields::{FormMessage, NewPasswordFields, PasswordField, SudoField};
use super::token_form::fmt_date;
use crate::model::{SessionInfo, SessionView, SUDO_FIELD};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sections of the security settings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Tokens,
    Password,
    TwoFactor,
    Sessions,
    Activity,
    Notifications,
    Workloads,
    Organizations,
}

/// The security settings' side navigation.
#[component]
pub(crate) fn SecurityNav(current: Section) -> impl IntoView {
    let aria = |s: Section| (s == current).then_some("page");
    view! {
        <nav class="side-nav" aria-label="Security settings">
            <p class="side-nav-heading">"Security"</p>
            <a href="/profile/security/tokens" aria-current=aria(Section::Tokens)>"Personal access tokens"</a>
            <a href="/profile/security/password" aria-current=aria(Section::Password)>"Password"</a>
            <a href="/profile/security/two-factor" aria-current=aria(Section::TwoFactor)>"Two-factor authentication"</a>
            <a href="/profile/security/workloads" aria-current=aria(Section::Workloads)>"Trusted workloads"</a>
            <a href="/profile/security/organizations" aria-current=aria(Section::Organizations)>"Organizations"</a>
            <a href="/profile/security/sessions" aria-current=aria(Section::Sessions)>"Sessions"</a>
            <a href="/profile/security/activity" aria-current=aria(Section::Activity)>"Activity"</a>
            <a href="/profile/security/notifications" aria-current=aria(Section::Notifications)>"Notifications"</a>
        </nav>
    }
}

/// The frame of a Security page: the title, the side navigation, and the
/// body under the page's heading (`title`, also the `<title>`).
#[component]
pub(crate) fn SecurityPage(
    section: Section,
    title: &'static str,
    /// The heading's id (what the body section is labelled by).
    heading_id: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Tessera") />
        <div class="settings">
            <SecurityNav current=section />
            <section class="settings-body" aria-labelledby=heading_id>
                <h1 id=heading_id>{title}</h1>
                {children()}
            </section>
        </div>
    }
}

/// Profile → Security → Password.
#[component]
pub fn ChangePassword(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let changed = use_query_map().read_untracked().get("changed").is_some();
    let required = info.user.as_ref().is_some_and(|u| u.must_change_password);
    let username = info.user.map(|u| u.username).unwrap_or_default();
    view! {
        <Title text="Password · Tessera" />
        <div class="settings">
            <SecurityNav current=Section::Password />
            <section class="settings-body">
                <h1>"Change password"</h1>
                {changed.then(|| view! {
                    <div class="alert success" role="status">
                        "Password changed. Every other session was signed out."
                    </div>
                })}
                {required.then(|| view! {
                    <div class="alert info" role="status">
                        "Choose your own password to continue: the one you were given works only once."
                    </div>
                })}
                <FormMessage message=fb.message.clone() />
                <form method="post" action="/profile/security/password" class="stack narrow-form">
                    // lets password managers tie the new password to the account
                    <input type="text" name="username" value=username autocomplete="username" hidden=true readonly=true aria-hidden="true" tabindex="-1" />
                    <PasswordField label="Current password" name="current" fb=fb.clone() />
                    <NewPasswordFields label="New password" confirm_label="Confirm new password" hint="At least 12 characters." fb=fb.clone() />
                    <button type="submit" class="button primary">"Change password"</button>
                </form>
            </section>
        </div>
    }
}

/// Where the Sessions section's form posts.
pub const SESSIONS_SIGNOUT: &str = "/profile/security/sessions/signout";
/// The `handle` value of "Sign out everywhere else".
pub const OTHERS: &str = "others";

/// The signed-in user's sessions (browsers), the current one marked.
#[server(prefix = "/rpc", endpoint = "sessions/list")]
pub async fn list_sessions() -> Result<Vec<SessionView>, ServerFnError> {
    use crate::domain::{sessions, AppState};
    let state =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
    let session = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<sessions::Session>().cloned())
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again to continue."))?;
    sessions::list(
        &state.core.db,
        session.user.id,
        &session.handle,
        state.core.config.session_idle,
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "listing sessions failed");
        ServerFnError::new("Could not load your sessions. Please try again.")
    })
}

/// "Last seen Dec 1, 2026 14:05 UTC".
fn seen(s: &SessionView) -> String {
    format!(
        "Last seen {} {} UTC from {} · signed in {}",
        fmt_date(s.last_seen_at),
        s.last_seen_at.format("%H:%M"),
        s.ip,
        fmt_date(s.created_at)
    )
}

/// Profile → Security → Sessions: every browser signed in to this account,
/// with "Sign out" for each other one and "Sign out everywhere else". One
/// plain form holds them all (each button names its session), so one
/// password confirmation serves them and it works without JavaScript.
#[component]
pub fn Sessions(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let done = crate::ui::done_notice(&[
        ("signed-out", "The session was signed out."),
        ("signed-out-others", "Every other session was signed out."),
        ("confirmed", "Password confirmed."),
    ]);
    let list = Resource::new_blocking(|| (), |_| list_sessions());
    let sudo_error = fb.field(SUDO_FIELD);
    view! {
        <SecurityPage section=Section::Sessions title="Sessions" heading_id="sessions-heading">
            <p class="lead">
                "Browsers signed in to your account. Sign out any you don't recognise, then change your password."
            </p>
            {done.map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            <FormMessage message=fb.message.clone() />
            <Suspense fallback=|| view! { <p class="loading">"Loading sessions…"</p> }>
                {move || {
                    let sudo_error = sudo_error.clone();
                    Suspend::new(async move {
                        let sessions = match list.await {
                            Ok(s) => s,
                            Err(e) => return crate::ui::load_failed(e),
                        };
                        let others = sessions.iter().filter(|s| !s.current).count();
                        view! {
                            <form method="post" action=SESSIONS_SIGNOUT class="stack">
                                // Enter in the password field presses the first button: it
                                // only confirms the password, it signs nobody out
                                <button type="submit" name="handle" value="" class="visually-hidden" tabindex="-1">
                                    "Confirm password"
                                </button>
                                <ul class="session-list">
                                    {sessions.into_iter().map(|s| view! { <SessionRow s /> }).collect_view()}
                                </ul>
                                {(others > 0).then(|| view! {
                                    <SudoField error=Signal::stored(sudo_error) confirmed=info.in_sudo />
                                    <div>
                                        <button type="submit" name="handle" value=OTHERS class="button danger">
                                            "Sign out everywhere else"
                                        </button>
                                    </div>
                                })}
                            </form>
                        }
                        .into_any()
                    })
                }}
            </Suspense>
        </SecurityPage>
    }
}

/// One session in the list: device, where and when, and its "Sign out"
/// button (none for this session: the profile menu signs it out).
#[component]
fn SessionRow(s: SessionView) -> impl IntoView {
    let label = format!("Sign out {} ({})", s.device, s.ip);
    view! {
        <li>
            <div>
                <strong title=s.user_agent.clone()>{s.device.clone()}</strong>
                {s.current.then(|| view! { " " <span class="badge">"This session"</span> })}
                <p class="session-meta">{seen(&s)}</p>
            </div>
            {(!s.current).then(|| view! {
                <button type="submit" name="handle" value=s.handle.clone() class="button" aria-label=label>
                    "Sign out"
                </button>
            })}
        </li>
    }
}

/// Where Security → Activity lives (`?token=ID`: one token's history).
pub const ACTIVITY: &str = "/profile/security/activity";

/// Profile → Security → Activity: what happened to your account and
/// tokens, who did it and from where (newest first); `?token=ID` narrows
/// it to one token's history.
#[component]
pub fn Activity(
    /// The visitor.
    info: SessionInfo,
) -> impl IntoView {
    let query = use_query_map();
    let token =
        Memo::new(move |_| query.with(|q| q.get("token").and_then(|t| t.parse::<i64>().ok())));
    let before =
        Memo::new(move |_| query.with(|q| q.get("before").and_then(|t| t.parse::<i64>().ok())));
    let events = Resource::new_blocking(
        move || (token.get(), before.get()),
        |(token, before)| super::events::list_activity(token, before),
    );
    let viewer = info.user.as_ref().map(|u| u.id);
    view! {
        <SecurityPage section=Section::Activity title="Activity" heading_id="activity-heading">
            <p class="lead">
                {move || match token.get() {
                    Some(t) => format!("The history of token {t}: who created, changed, used it from where and revoked it."),
                    None => "What happened to your account and tokens, who did it and from where.".to_string(),
                }}
            </p>
            {move || token.get().map(|_| view! { <p><a href=ACTIVITY>"All activity"</a></p> })}
            <Suspense fallback=|| view! { <p class="loading">"Loading activity…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(list) => {
                            let older = Callback::new(move |id: i64| match token.get_untracked() {
                                Some(t) => format!("{ACTIVITY}?token={t}&before={id}"),
                                None => format!("{ACTIVITY}?before={id}"),
                            });
                            view! { <super::events::EventList events=list viewer older /> }.into_any()
                        }
                        Err(e) => crate::ui::load_failed(e),
                    }
                })}
            </Suspense>
        </SecurityPage>
    }
}
