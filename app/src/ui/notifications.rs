//! Profile → Security → Notifications: the e-mail address notices go to,
//! webhooks (with their signing secret shown once, "Send test event" and
//! the delivery log), and the expiring-tokens banner of the tokens page.
//! Every control is a plain form: it works before the WASM loads and
//! without JavaScript.

use super::fields::{FormMessage, SudoField};
use super::security::{Section, SecurityPage};
use super::token_form::fmt_date;
use crate::model::{SessionInfo, SUDO_FIELD};
use crate::notify::{DeliveryView, NotificationSettings, WebhookView};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// Where the page lives; its forms post below it.
pub const NOTIFICATIONS: &str = "/profile/security/notifications";
/// Where the e-mail form posts.
pub const EMAIL_POST: &str = "/profile/security/notifications/email";
/// Where the add-webhook form posts.
pub const WEBHOOKS_POST: &str = "/profile/security/notifications/webhooks";
/// The confirmation link's path (`?code=`).
pub const CONFIRM: &str = "/profile/security/notifications/confirm";

/// Days ahead the tokens page warns about.
pub const BANNER_DAYS: i64 = 7;

/// What the Notifications page shows to the signed-in user.
#[server(prefix = "/rpc", endpoint = "notifications/settings")]
pub async fn load_notification_settings() -> Result<NotificationSettings, ServerFnError> {
    use crate::domain::{lifecycle, AppState};
    let state =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
    let user = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<crate::model::CurrentUser>().cloned())
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again to continue."))?;
    lifecycle::settings(&state.core, user.id, user.is_admin)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading the notification settings failed");
            ServerFnError::new("Could not load your notification settings. Please try again.")
        })
}

/// The signed-in user's active tokens that expire within a week: id,
/// name, expiry and how long is left in words (by the server's clock: the
/// browser build has none).
#[server(prefix = "/rpc", endpoint = "notifications/expiring")]
pub async fn list_expiring() -> Result<Expiring, ServerFnError> {
    use crate::domain::{lifecycle, AppState};
    let state =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
    let user = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<crate::model::CurrentUser>().cloned())
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again to continue."))?;
    let now = Utc::now();
    let left = |at: DateTime<Utc>| {
        let hours = (at - now).num_hours();
        if hours < 24 {
            "in less than a day".to_string()
        } else if hours < 48 {
            "in 1 day".to_string()
        } else {
            format!("in {} days", hours / 24)
        }
    };
    lifecycle::expiring(&state.core, user.id, BANNER_DAYS)
        .await
        .map(|list| {
            list.into_iter()
                .map(|(id, name, at)| (id, name, at, left(at)))
                .collect()
        })
        .map_err(|e| {
            tracing::error!(error = %e, "reading expiring tokens failed");
            ServerFnError::new("Could not check for expiring tokens.")
        })
}

/// What [`ExpiringBanner`] lists: id, name, when, and "in 3 days".
pub type Expiring = Vec<(i64, String, DateTime<Utc>, String)>;

/// "ci-deploy expires in 3 days (Dec 4, 2026)" for each token expiring
/// within a week, above the token list (the page loads `list` with
/// [`list_expiring`]).
#[component]
pub fn ExpiringBanner(
    /// The user's tokens expiring within a week.
    list: Expiring,
) -> impl IntoView {
    if list.is_empty() {
        return ().into_any();
    }
    let count = list.len();
    view! {
        <div class="alert warning expiring-banner" role="status" data-expiring=count.to_string()>
            <p><strong>{if count == 1 { "1 token expires within a week.".to_string() } else { format!("{count} tokens expire within a week.") }}</strong>
            " Extend or regenerate them before the jobs that use them start failing."</p>
            <ul>
                {list.into_iter().map(|(id, name, at, left)| {
                    view! {
                        <li>
                            <a href=format!("/profile/security/tokens/{id}/edit")>{name.clone()}</a>
                            {format!(" expires {left} ({})", fmt_date(at))}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
    .into_any()
}

fn when(at: DateTime<Utc>) -> String {
    format!("{} {} UTC", fmt_date(at), at.format("%H:%M:%S"))
}

/// A delivery log: event, status, attempts, last error, time.
#[component]
fn DeliveryLog(
    deliveries: Vec<DeliveryView>,
    /// The table's caption.
    caption: String,
    /// Show where each went (the mail log).
    #[prop(default = false)]
    show_target: bool,
) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="empty">"Nothing sent yet."</p> }.into_any();
    }
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label=caption.clone()>
            <table class="delivery-log">
                <caption>{caption.clone()}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Event"</th>
                        {show_target.then(|| view! { <th scope="col">"To"</th> })}
                        <th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last error"</th>
                        <th scope="col">"Made"</th>
                    </tr>
                </thead>
                <tbody>
                    {deliveries.into_iter().map(|d| {
                        let status = d.status_words();
                        let error = d.last_error.clone().unwrap_or_default();
                        let next = (d.state == "pending" && d.attempts > 0).then(|| format!(" · next attempt {}", when(d.next_attempt_at)));
                        view! {
                            <tr data-state=d.state.clone() data-event=d.event.clone()>
                                <td><code>{d.event.clone()}</code><br /><span class="muted">{d.subject.clone()}</span></td>
                                {show_target.then(|| view! { <td>{d.target.clone()}</td> })}
                                <td class=format!("delivery-{}", d.state)>{status}{next}</td>
                                <td>{d.attempts}</td>
                                <td>{error}</td>
                                <td><time datetime=d.created_at.to_rfc3339()>{when(d.created_at)}</time></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// One endpoint: its URL, test and delete buttons, and its delivery log.
#[component]
fn WebhookItem(
    hook: WebhookView,
    /// The session is in sudo mode (deleting needs it).
    in_sudo: bool,
    /// The sudo field's message when this endpoint's delete was refused.
    sudo_error: Option<String>,
) -> impl IntoView {
    let base = format!("{WEBHOOKS_POST}/{}", hook.id);
    let suffix = format!("-delete-{}", hook.id);
    let caption = format!("Delivery log of {}", hook.url);
    view! {
        <li class="webhook" data-webhook=hook.id.to_string()>
            <div class="webhook-head">
                <div>
                    <strong class="webhook-url">{hook.url.clone()}</strong>
                    {hook.global.then(|| view! { " " <span class="badge">"Every user's events"</span> })}
                    {(!hook.description.is_empty()).then(|| view! { <p class="token-desc">{hook.description.clone()}</p> })}
                    <p class="session-meta">{format!("Added {}", fmt_date(hook.created_at))}</p>
                </div>
                <div class="webhook-actions">
                    <form method="post" action=format!("{base}/test")>
                        <button type="submit" class="button" aria-label=format!("Send test event to {}", hook.url)>"Send test event"</button>
                    </form>
                    <form method="post" action=format!("{base}/delete") class="stack">
                        <input type="hidden" name=DELETE_FIELD value=hook.id.to_string() />
                        <SudoField error=Signal::stored(sudo_error) confirmed=in_sudo id_suffix=suffix />
                        <button type="submit" class="button danger" aria-label=format!("Delete webhook {}", hook.url)>"Delete webhook"</button>
                    </form>
                </div>
            </div>
            <DeliveryLog deliveries=hook.deliveries caption />
        </li>
    }
}

/// The delete form's field naming the endpoint (so a refusal shows under
/// the right one).
pub const DELETE_FIELD: &str = "delete_webhook";

/// Profile → Security → Notifications.
#[component]
pub fn Notifications(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let done = crate::ui::done_notice(&[
        ("email-sent", "We sent a confirmation link. Follow it to get notices by mail."),
        ("email-confirmed", "Your e-mail address is confirmed: notices about your tokens go to it."),
        ("email-removed", "Your e-mail address was removed; no more mail is sent to it."),
        ("test-queued", "Test event queued: its delivery shows in the log below within seconds (reload to see it)."),
        ("webhook-deleted", "Webhook deleted."),
    ]);
    let settings = Resource::new_blocking(|| (), |_| load_notification_settings());
    let in_sudo = info.in_sudo;
    view! {
        <SecurityPage section=Section::Notifications title="Notifications" heading_id="notifications-heading">
            <p class="lead">
                "Tessera tells you before a token expires, when it expired, when something still presents it after it ended, when someone else revokes it, when an old secret is reused and when it is used from a new network."
            </p>
            {done.map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            <FormMessage message=fb.message.clone() />
            {fb.shown_once.clone().map(|secret| view! {
                <div class="alert success secret-once" role="status">
                    <p><strong>"Webhook added. Copy its signing secret now: it is shown only once."</strong></p>
                    <p><code class="secret" data-webhook-secret=secret.clone()>{secret.clone()}</code></p>
                    <p>"Deliveries carry " <code>"webhook-id"</code> ", " <code>"webhook-timestamp"</code> " and " <code>"webhook-signature"</code> " (Standard Webhooks: HMAC-SHA256 of id.timestamp.body with the secret's base64 part)."</p>
                </div>
            })}
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let fb = fb.clone();
                    Suspend::new(async move {
                        match settings.await {
                            Ok(s) => view! { <SettingsView s fb in_sudo /> }.into_any(),
                            Err(e) => crate::ui::load_failed(e),
                        }
                    })
                }}
            </Suspense>
        </SecurityPage>
    }
}

#[component]
fn SettingsView(
    s: NotificationSettings,
    fb: crate::model::FormFeedback,
    in_sudo: bool,
) -> impl IntoView {
    let value = |k: &str| fb.values.get(k).cloned().unwrap_or_default();
    let field_error = |k: &str| fb.field(k);
    let email_error = field_error("email");
    let url_error = field_error("url");
    let description_error = field_error("description");
    // the message goes under the field of the form that was sent
    let webhook_form = fb.values.contains_key("url");
    let deleting = fb.values.get(DELETE_FIELD).cloned();
    let sudo_error = fb
        .field(SUDO_FIELD)
        .filter(|_| !webhook_form && deleting.is_none());
    let delete_error = |id: i64| {
        fb.field(SUDO_FIELD)
            .filter(|_| deleting.as_deref() == Some(id.to_string().as_str()))
    };
    let webhook_sudo_error = fb.field(SUDO_FIELD).filter(|_| webhook_form);
    let scope_all = value("scope") == "all";
    let email_value = if value("email").is_empty() {
        s.email.clone().unwrap_or_default()
    } else {
        value("email")
    };
    let has_email = s.email.is_some();
    view! {
        <h2 id="mail-heading">"E-mail"</h2>
        {if !s.mail_enabled {
            view! {
                <div class="alert info" role="status" data-mail="off">
                    "This server does not send mail: no SMTP server is configured. Webhooks below still work."
                </div>
            }.into_any()
        } else {
            let err = email_error.clone();
            view! {
                {s.email.clone().map(|e| { let shown = e.clone(); view! { <p data-email-confirmed=e>"Notices go to " <strong>{shown}</strong> "."</p> } })}
                {s.email_pending.clone().map(|e| view! { <p class="muted" data-email-pending=e.clone()>{format!("Waiting for confirmation: {e}. Follow the link in the mail.")}</p> })}
                <form method="post" action=EMAIL_POST class="stack narrow-form" aria-labelledby="mail-heading">
                    <div class="field" class:has-error=err.is_some()>
                        <label for="notify-email">"E-mail address"</label>
                        <input id="notify-email" name="email" type="email" autocomplete="email" maxlength="254" value=email_value
                            aria-invalid=err.is_some().then_some("true") aria-describedby="notify-email-error" />
                        <p id="notify-email-error" class="field-error" hidden=err.is_none()>{err.clone()}</p>
                    </div>
                    <SudoField error=Signal::stored(sudo_error.clone()) confirmed=in_sudo />
                    <div class="button-row">
                        <button type="submit" name="action" value="save" class="button primary">"Send confirmation link"</button>
                        {has_email.then(|| view! { <button type="submit" name="action" value="remove" class="button">"Remove address"</button> })}
                    </div>
                </form>
            }.into_any()
        }}
        <DeliveryLog deliveries=s.mail_deliveries caption="Mail log".to_string() show_target=true />

        <h2 id="webhooks-heading">"Webhooks"</h2>
        <p>"Each endpoint receives your token events as JSON (" <code>"token.expiring"</code> ", " <code>"token.expired"</code> ", " <code>"token.presented_after_end"</code> ", " <code>"token.revoked_by_admin"</code> ", " <code>"token.revoked_leaked"</code> ", " <code>"token.reused"</code> ", " <code>"token.new_network"</code> "; for organizations' owners " <code>"token.request_created"</code> " and " <code>"token.request_digest"</code> "; for requesters " <code>"token.request_approved"</code> " and " <code>"token.request_denied"</code> "), signed, retried with backoff for up to 24 hours."</p>
        {if s.webhooks.is_empty() {
            view! { <p class="empty">"No webhooks yet."</p> }.into_any()
        } else {
            view! { <ul class="webhook-list">{s.webhooks.into_iter().map(|hook| { let sudo_error = delete_error(hook.id); view! { <WebhookItem hook in_sudo sudo_error /> } }).collect_view()}</ul> }.into_any()
        }}
        {(s.is_admin && !s.global_webhooks.is_empty()).then(|| view! {
            <h3>"Webhooks for every user's events"</h3>
            <ul class="webhook-list">{s.global_webhooks.into_iter().map(|hook| { let sudo_error = delete_error(hook.id); view! { <WebhookItem hook in_sudo sudo_error /> } }).collect_view()}</ul>
        })}
        <h3 id="add-webhook-heading">"Add a webhook"</h3>
        <form method="post" action=WEBHOOKS_POST class="stack narrow-form" aria-labelledby="add-webhook-heading">
            <div class="field" class:has-error=url_error.is_some()>
                <label for="webhook-url">"Endpoint URL"</label>
                <input id="webhook-url" name="url" type="url" inputmode="url" required=true maxlength="2000" placeholder="https://ci.example.com/hooks/tessera"
                    value=value("url") aria-invalid=url_error.is_some().then_some("true") aria-describedby="webhook-url-error" />
                <p id="webhook-url-error" class="field-error" hidden=url_error.is_none()>{url_error.clone()}</p>
            </div>
            <div class="field" class:has-error=description_error.is_some()>
                <label for="webhook-description">"Description"</label>
                <input id="webhook-description" name="description" type="text" maxlength="200" value=value("description")
                    aria-invalid=description_error.is_some().then_some("true") aria-describedby="webhook-description-error" />
                <p id="webhook-description-error" class="field-error" hidden=description_error.is_none()>{description_error.clone()}</p>
            </div>
            {s.is_admin.then(|| view! {
                <div class="field checkbox-field">
                    <label><input type="checkbox" name="scope" value="all" checked=scope_all />" For every user's events (an organization webhook)"</label>
                </div>
            })}
            <SudoField error=Signal::stored(webhook_sudo_error) confirmed=in_sudo id_suffix="-webhook" />
            <div><button type="submit" class="button primary">"Add webhook"</button></div>
        </form>
    }
}
