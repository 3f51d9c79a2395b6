//! "Confirm access": what an owner sees when a change that needs sudo
//! mode is posted while the session is not in it (as GitHub asks). The
//! server renders this page in place of the change, with what was sent;
//! its form posts the same fields again, to the same place, with the
//! password — or after a passkey or the identity provider confirmed it.

use super::fields::{FormMessage, SudoField};
use super::security::{Section, SecurityPage};
use crate::model::{SessionInfo, SUDO_FIELD};
use leptos::prelude::*;

/// Where the page is routed (the server renders it for a post).
pub const CONFIRM_ACCESS: &str = "/profile/security/confirm-access";
/// The value naming where the form posts again (set by the server: the
/// path of the post it stands in for, never what a client sent).
pub const CONFIRM_ACTION: &str = "confirm_action";
/// The value saying what the change is ("make bob an owner of acme").
pub const CONFIRM_WHAT: &str = "confirm_what";
/// The value naming the page to go back to.
pub const CONFIRM_BACK: &str = "confirm_back";

/// Profile → Security → Confirm access.
#[component]
pub fn ConfirmAccess(
    /// The visitor, and what the post sent.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let action = fb.value(CONFIRM_ACTION);
    let back = Some(fb.value(CONFIRM_BACK))
        .filter(|b| b.starts_with("/profile/"))
        .unwrap_or_else(|| "/profile/security/tokens".to_owned());
    let section = if action.starts_with(super::orgs::ORGANIZATIONS) {
        Section::Organizations
    } else {
        Section::Tokens
    };
    let body = if action.starts_with("/profile/") {
        let what = fb.value(CONFIRM_WHAT);
        let hidden: Vec<(String, String)> = fb
            .values
            .iter()
            .filter(|(k, _)| {
                ![CONFIRM_ACTION, CONFIRM_WHAT, CONFIRM_BACK, SUDO_FIELD].contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let error = Signal::stored(fb.field(SUDO_FIELD));
        view! {
            <p class="lead">{format!("Confirm it is you to {what}.")}</p>
            <FormMessage message=fb.message.clone() />
            <form method="post" action=action class="stack narrow-form" aria-label="Confirm access">
                {hidden
                    .into_iter()
                    .map(|(name, value)| view! { <input type="hidden" name=name value=value /> })
                    .collect_view()}
                <SudoField error confirmed=false />
                <div class="button-row">
                    <button type="submit" class="button primary">"Confirm"</button>
                    <a class="button" href=back>"Cancel"</a>
                </div>
            </form>
        }
        .into_any()
    } else {
        view! {
            <p class="empty">"Nothing is waiting for confirmation."</p>
            <p><a href=back>"Back to your security settings"</a></p>
        }
        .into_any()
    };
    view! {
        <SecurityPage section=section title="Confirm access" heading_id="confirm-access-heading">
            {body}
        </SecurityPage>
    }
}
