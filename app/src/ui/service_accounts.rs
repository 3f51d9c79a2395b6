//! The plain page where an owner makes a token for one of their
//! organization's service accounts — the same fields as a personal
//! token's, the secret shown once; it works without JavaScript. (The
//! accounts themselves are listed on Security → Organizations,
//! `orgs::ServiceAccounts`.)

use super::fields::FormMessage;
use super::orgs::{new_token_path, section_link, ORGANIZATIONS};
use super::security::{Section, SecurityNav};
use super::token_api::service_token_setup;
use super::token_form::PlainTokenFields;
use super::tokens::{SecretBox, Shown};
use crate::model::{FormFeedback, SessionInfo};
use crate::orgs::ServiceAccount;
use crate::tokens::TokenForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// `…/organizations/{org}/service-accounts/new-token`: an owner makes a
/// token for one of the organization's service accounts, within the
/// stricter of its policies and the server's; the secret is shown once.
#[component]
pub fn ServiceTokenPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let params = use_params_map();
    let org = params.with_untracked(|p| p.get("org").unwrap_or_default());
    let fb = info.feedback.clone().unwrap_or_default();
    let sudo = info.in_sudo;
    let data = Resource::new_blocking(move || org.clone(), service_token_setup);
    view! {
        <Title text="New service account token · Tessera" />
        <div class="settings">
            <SecurityNav current=Section::Organizations />
            <section class="settings-body">
                <p class="breadcrumb"><a href=ORGANIZATIONS>"← Organizations"</a></p>
                <div class="card">
                    <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                        {move || {
                            let fb = fb.clone();
                            Suspend::new(async move {
                                match data.await {
                                    Ok(setup) => token_page(setup.org, setup.policy, setup.accounts, fb, sudo),
                                    Err(e) => crate::ui::load_failed(e),
                                }
                            })
                        }}
                    </Suspense>
                </div>
            </section>
        </div>
    }
}

fn token_page(
    org: String,
    policy: super::token_api::TokenPolicy,
    accounts: Vec<ServiceAccount>,
    fb: FormFeedback,
    sudo: bool,
) -> AnyView {
    let account = fb.value("service_account");
    if let Some(secret) = &fb.secret {
        let mut shown = Shown::new(secret, false);
        shown.lead = format!(
            "The token \u{201c}{}\u{201d} of the service account {account} is ready. It belongs to {org}: it keeps working when you leave.",
            secret.token.name
        );
        shown.back = Some(section_link(&org));
        return view! {
            <section class="secret-panel" aria-labelledby=super::tokens::SECRET_TITLE>
                <SecretBox shown in_dialog=false />
            </section>
        }
        .into_any();
    }
    if accounts.is_empty() {
        return view! {
            <h1>"New service account token"</h1>
            <p>{format!("{org} has no service accounts yet: create one on the Organizations page first.")}</p>
            <p><a href=section_link(&org)>"Back to the service accounts"</a></p>
        }
        .into_any();
    }
    let form = if fb.values.is_empty() {
        TokenForm {
            form_id: policy.form_id.clone(),
            ..Default::default()
        }
    } else {
        TokenForm::from_pairs(fb.values.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    };
    let error = fb.field("service_account");
    view! {
        <form method="post" action=new_token_path(&org) class="token-form stack">
            <h1 id="dialog-title">"New service account token"</h1>
            <p class="lead">{format!("The token belongs to the service account and reaches only {org}'s resources. The list of {org}'s service accounts says you made it.")}</p>
            // a refusal of the organization itself (the account left it
            // meanwhile) has no field of its own here
            <FormMessage message=fb.message.clone().or_else(|| fb.field("resource_owner")) />
            <div class="field" class:has-error=error.is_some()>
                <label for="token-account">"Service account"</label>
                <select id="token-account" name="service_account"
                    aria-invalid=error.is_some().then_some("true")
                    aria-describedby="token-account-error"
                >
                    {accounts.into_iter().map(|a| {
                        let selected = a.username == account;
                        let label = match &a.team {
                            Some(t) => format!("{} (team {t})", a.username),
                            None => a.username.clone(),
                        };
                        view! { <option value=a.username.clone() selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
                <p class="field-error" id="token-account-error" hidden=error.is_none()>{error.clone()}</p>
            </div>
            <PlainTokenFields form errors=fb.fields.clone() max_days=policy.max_days notes=policy.notes.clone() admin=false owners=Vec::new() now=policy.now current_expiry=None sudo=sudo />
            <div class="dialog-actions">
                <a class="button" href=section_link(&org)>"Cancel"</a>
                <button type="submit" class="button primary">"Create"</button>
            </div>
        </form>
    }
    .into_any()
}
