//! Profile → Security: personal access tokens and the password.

use super::fields::{FormMessage, NewPasswordFields, PasswordField};
use crate::model::SessionInfo;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sections of the security settings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Tokens,
    Password,
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
        </nav>
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
                <FormMessage message=fb.message.clone() />
                <form method="post" action="/profile/security/password" class="stack narrow-form">
                    // lets password managers tie the new password to the account
                    <input type="text" name="username" value=username autocomplete="username" hidden=true readonly=true aria-hidden="true" tabindex="-1" />
                    <PasswordField label="Current password" name="current" fb=fb.clone() />
                    <NewPasswordFields
                        label="New password"
                        confirm_label="Confirm new password"
                        hint="At least 12 characters."
                        fb=fb.clone()
                    />
                    <button type="submit" class="button primary">"Change password"</button>
                </form>
            </section>
        </div>
    }
}
