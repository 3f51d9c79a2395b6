//! Profile → Security: personal access tokens and the password.

use super::fields::{Field, FormMessage};
use crate::model::{rules, SessionInfo};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Tokens,
    Password,
}

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

#[component]
pub fn ChangePassword(info: SessionInfo) -> impl IntoView {
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
                    <Field
                        label="Current password"
                        name="current"
                        input_type="password"
                        error=fb.field("current")
                        autocomplete="current-password"
                    />
                    <Field
                        label="New password"
                        name="password"
                        input_type="password"
                        error=fb.field("password")
                        hint="At least 12 characters."
                        autocomplete="new-password"
                        minlength=rules::PASSWORD_MIN
                        maxlength=rules::PASSWORD_MAX
                    />
                    <Field
                        label="Confirm new password"
                        name="confirm"
                        input_type="password"
                        error=fb.field("confirm")
                        autocomplete="new-password"
                    />
                    <button type="submit" class="button primary">"Change password"</button>
                </form>
            </section>
        </div>
    }
}
