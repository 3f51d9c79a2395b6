//! Audit events as a list: Security → Activity (your own) and
//! Administration → Audit log (everyone's) share it.

use super::token_form::fmt_date;
use crate::audit::AuditEvent;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Events per page of the activity and audit lists.
pub const EVENTS_PAGE: u32 = 50;

/// The signed-in user's own events, newest first: all of them, or one
/// token's history (`token`); `before` pages back.
#[server(prefix = "/rpc", endpoint = "activity/list", input = Json)]
pub async fn list_activity(
    /// One token's history, or everything.
    token: Option<i64>,
    /// Events older than this one (the next page).
    before: Option<i64>,
) -> Result<Vec<AuditEvent>, ServerFnError> {
    use crate::domain::{audit, AppState};
    let state =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
    let user = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<crate::model::CurrentUser>().cloned())
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again to continue."))?;
    let filter = audit::Filter {
        user_id: Some(user.id),
        token_id: token,
        since: None,
        before_id: before,
        limit: EVENTS_PAGE,
    };
    audit::list(&state.core.db, &filter).await.map_err(|e| {
        tracing::error!(error = %e, "reading the activity failed");
        ServerFnError::new("Could not load the activity. Please try again.")
    })
}

/// A list of events with "Older events" when the page is full; `older`
/// makes that link's URL from the last event's id. `viewer` makes their
/// own actions read "you".
#[component]
pub fn EventList(
    events: Vec<AuditEvent>,
    viewer: Option<i64>,
    /// Show whose account each event concerns (the audit log).
    #[prop(default = false)]
    show_user: bool,
    older: Callback<i64, String>,
) -> impl IntoView {
    if events.is_empty() {
        return view! { <p class="empty">"No events."</p> }.into_any();
    }
    let full = events.len() >= EVENTS_PAGE as usize;
    let last = events.last().map(|e| e.id).unwrap_or(0);
    view! {
        <ol class="event-list">
            {events.into_iter().map(|e| {
                let details = e.detail_words();
                let by = e.actor_words(viewer);
                let whose = (show_user).then(|| e.username.clone()).flatten();
                let from = if e.ip.is_empty() { String::new() } else if e.user_agent.is_empty() { format!("from {}", e.ip) } else { format!("from {} · {}", e.ip, e.user_agent) };
                view! {
                    <li data-event=e.event.clone()>
                        <div class="event-head">
                            <strong>{e.label()}</strong>
                            {e.token_id.map(|t| view! { <span class="badge">{format!("token {t}")}</span> })}
                            {whose.map(|u| view! { <span class="badge">{u}</span> })}
                        </div>
                        <p class="event-meta">
                            <time datetime=e.at.to_rfc3339()>{format!("{} {} UTC", fmt_date(e.at), e.at.format("%H:%M:%S"))}</time>
                            {format!(" · by {by}")}
                            {(!from.is_empty()).then(|| format!(" · {from}"))}
                        </p>
                        {(!details.is_empty()).then(|| view! { <p class="event-details">{details}</p> })}
                    </li>
                }
            }).collect_view()}
        </ol>
        {full.then(|| view! { <p><a class="button" href=older.run(last)>"Older events"</a></p> })}
    }
    .into_any()
}
