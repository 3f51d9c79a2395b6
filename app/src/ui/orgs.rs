//! Profile → Security → Organizations: the visitor's organizations, their
//! members and teams; an owner sees the pending approval requests (who,
//! what, why) and approves or denies each with a reason — plain forms, so
//! it all works without JavaScript.

use super::fields::FormMessage;
use super::security::{Section, SecurityPage};
use super::token_form::fmt_date;
use crate::model::SessionInfo;
use crate::orgs::{OrgView, OrgsPage, RequestView};
use leptos::prelude::*;

/// Where the page lives.
pub const ORGANIZATIONS: &str = "/profile/security/organizations";

/// The signed-in user's organizations.
#[server(prefix = "/rpc", endpoint = "orgs/list")]
pub async fn list_organizations() -> Result<OrgsPage, ServerFnError> {
    use crate::domain::{orgs, sessions, AppState};
    let state =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
    let session = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<sessions::Session>().cloned())
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again to continue."))?;
    orgs::page(&state.core.db, session.user.id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "listing organizations failed");
            ServerFnError::new("Could not load your organizations. Please try again.")
        })
}

/// Profile → Security → Organizations.
#[component]
pub fn Organizations(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let done = crate::ui::done_notice(&[
        ("approved", "Request approved. The token works now."),
        (
            "denied",
            "Request denied. The token is revoked, and its maker reads your reason.",
        ),
    ]);
    let page = Resource::new_blocking(|| (), |_| list_organizations());
    view! {
        <SecurityPage section=Section::Organizations title="Organizations" heading_id="orgs-heading">
            <p class="lead">
                "A token made for an organization reaches only that organization's resources, and only while you are a member. Owners approve the tokens its policy asks them to."
            </p>
            {done.map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            <FormMessage message=fb.message.clone() />
            <Suspense fallback=|| view! { <p class="loading">"Loading organizations…"</p> }>
                {move || {
                    let fb = fb.clone();
                    Suspend::new(async move {
                        match page.await {
                            Ok(p) if p.orgs.is_empty() => view! {
                                <p class="empty">"You are not a member of an organization. An administrator adds members (tessera admin org add-member)."</p>
                            }.into_any(),
                            Ok(p) => view! {
                                <ul class="rule-list" aria-label="Your organizations">
                                    {p.orgs.into_iter().map(|o| view! { <OrgItem org=o fb=fb.clone() /> }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => crate::ui::load_failed(e),
                        }
                    })
                }}
            </Suspense>
        </SecurityPage>
    }
}

#[component]
fn OrgItem(org: OrgView, fb: crate::model::FormFeedback) -> impl IntoView {
    let heading_id = format!("org-{}", org.name);
    let members = org
        .members
        .iter()
        .map(|(n, r)| {
            if r == "owner" {
                format!("{n} (owner)")
            } else {
                n.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let owner = org.role == "owner";
    let requests = owner.then(|| {
        let label = format!("Pending requests of {}", org.name);
        let name = org.name.clone();
        view! {
            <section class="requests" aria-label=label>
                <h3>"Pending requests"</h3>
                {if org.requests.is_empty() {
                    view! { <p class="session-meta">"No pending requests."</p> }.into_any()
                } else {
                    view! {
                        <ul class="minted">
                            {org.requests.into_iter().map(|r| view! { <RequestItem org=name.clone() request=r fb=fb.clone() /> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
        }
    });
    view! {
        <li class="rule">
            <h2 class="rule-title" id=heading_id>{org.name.clone()}</h2>
            <dl class="rule-facts">
                {(!org.description.is_empty()).then(|| view! { <dt>"About"</dt><dd>{org.description.clone()}</dd> })}
                <dt>"Your role"</dt><dd>{org.role.clone()}</dd>
                <dt>"Members"</dt><dd>{members}</dd>
                <dt>"Teams"</dt>
                <dd>
                    {if org.teams.is_empty() {
                        "none".to_owned()
                    } else {
                        org.teams
                            .iter()
                            .map(|(t, m)| format!("{t} ({})", if m.is_empty() { "no members".to_owned() } else { m.join(", ") }))
                            .collect::<Vec<_>>()
                            .join("; ")
                    }}
                </dd>
                <dt>"Approval"</dt>
                <dd>{match org.approval_required_for.as_deref() {
                    None => "No token needs approval.".to_owned(),
                    Some("all") => "Every token made for it needs an owner's approval.".to_owned(),
                    Some(s) => format!("Tokens asking for {s} need an owner's approval."),
                }}</dd>
            </dl>
            {requests}
        </li>
    }
}

#[component]
fn RequestItem(org: String, request: RequestView, fb: crate::model::FormFeedback) -> impl IntoView {
    let r = request;
    let base = format!("{ORGANIZATIONS}/{org}/requests/{}", r.id);
    let reason_id = format!("deny-reason-{}", r.id);
    let error_id = format!("{reason_id}-error");
    // the error belongs to this request's form only
    let error = (fb.value("request") == r.id.to_string())
        .then(|| fb.field("reason"))
        .flatten();
    let resources = crate::tokens::Resources::from_stored(&r.resources);
    view! {
        <li class="request" data-request=r.id.to_string()>
            <p>
                <strong>{r.requester.clone()}</strong>
                {format!(" asks for the token \u{201c}{}\u{201d}", r.token_name)}
            </p>
            <dl class="rule-facts">
                <dt>"Scopes"</dt><dd>{r.scopes.clone()}</dd>
                {(!resources.is_empty()).then(|| view! { <dt>"Resources"</dt><dd>{resources.describe()}</dd> })}
                <dt>"Why"</dt><dd>{if r.justification.is_empty() { "(no description)".to_owned() } else { r.justification.clone() }}</dd>
                <dt>"Asked"</dt><dd>{fmt_date(r.created_at)}</dd>
                <dt>"Ends"</dt><dd>{fmt_date(r.expires_at)}</dd>
            </dl>
            <div class="request-actions">
                <form method="post" action=format!("{base}/approve") class="inline-form">
                    <button type="submit" class="button primary" aria-label=format!("Approve {} for {}", r.token_name, r.requester)>"Approve"</button>
                </form>
                <form method="post" action=format!("{base}/deny") class="stack narrow-form">
                    <input type="hidden" name="request" value=r.id.to_string() />
                    <div class="field" class:has-error=error.is_some()>
                        <label for=reason_id.clone()>{format!("Reason to deny {}", r.token_name)}</label>
                        <textarea id=reason_id name="reason" rows="2" maxlength="500" required=true
                            aria-invalid=error.is_some().then_some("true")
                            aria-describedby=error_id.clone()
                        ></textarea>
                        <p class="field-error" id=error_id hidden=error.is_none()>{error.clone()}</p>
                    </div>
                    <button type="submit" class="button danger" aria-label=format!("Deny {} for {}", r.token_name, r.requester)>"Deny"</button>
                </form>
            </div>
        </li>
    }
}
