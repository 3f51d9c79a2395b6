//! Sign-in and sign-up. Both are plain forms posting to axum handlers, which
//! answer with a redirect on success or this page again with field messages.

use super::fields::{Field, FormMessage, NewPasswordFields, PasswordField};
use crate::model::{rules, SessionInfo};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Only a path on this site is accepted as a post-sign-in destination:
/// it starts with one `/`, and has no backslash, white space or control
/// character anywhere (browsers drop tabs and newlines from URLs, so
/// `/\t/evil.example` would become `//evil.example`, another site).
pub fn safe_next(next: &str) -> Option<String> {
    let ok = next.len() <= 2048
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control());
    ok.then(|| next.to_owned())
}

/// The sign-in page.
#[component]
pub fn SignIn(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let query = use_query_map();
    let fb = info.feedback.clone().unwrap_or_default();
    let next = fb
        .values
        .get("next")
        .cloned()
        .or_else(|| query.read_untracked().get("next"))
        .and_then(|n| safe_next(&n))
        .unwrap_or_default();
    let signup_href = if next.is_empty() {
        "/signup".to_string()
    } else {
        format!("/signup?next={}", urlencode(&next))
    };
    let notice = query
        .read_untracked()
        .get("signed_out")
        .map(|_| "You have been signed out.");
    let sso_href = if next.is_empty() {
        "/auth/oidc/start".to_string()
    } else {
        format!("/auth/oidc/start?next={}", urlencode(&next))
    };
    let sso = info.sso.clone();
    let required = sso.as_ref().is_some_and(|s| s.required);
    // with single sign-on required, the password form is the
    // administrators' break-glass: folded away, open after an attempt
    let tried = fb.message.is_some() || !fb.fields.is_empty();
    let form = view! {
        <form method="post" action="/signin" class="stack" novalidate=false>
            <input type="hidden" name="next" value=next.clone() />
            <Field label="Username" name="username" value=fb.value("username") error=fb.field("username") autocomplete="username" maxlength=rules::USERNAME_MAX autofocus=sso.is_none() />
            <PasswordField label="Password" name="password" fb=fb.clone() />
            <button type="submit" class=if sso.is_some() { "button" } else { "button primary" }>"Sign in"</button>
        </form>
    };
    view! {
        <Title text="Sign in · Tessera" />
        <section class="card narrow auth">
            <h1>"Sign in to Tessera"</h1>
            {notice.map(|n| view! { <div class="alert info" role="status">{n}</div> })}
            <FormMessage message=fb.message.clone() />
            {sso.clone().map(|s| view! {
                <p><a class="button primary sso" href=sso_href.clone()>{s.label}</a></p>
            })}
            {if required {
                view! {
                    <details class="break-glass" open=tried>
                        <summary>"Administrators: sign in with a password"</summary>
                        {form}
                    </details>
                }.into_any()
            } else if sso.is_some() {
                view! { <p class="or" aria-hidden="true">"or"</p> {form} }.into_any()
            } else {
                form.into_any()
            }}
            {(!required).then(|| view! {
                <form class="passkey-only passkey-signin" aria-label="Passkey">
                    <input type="hidden" name="next" value=next.clone() />
                    <super::passkeys::PasskeyButton purpose="signin".to_string() label="Sign in with a passkey".to_string() />
                </form>
            })}
            {info.signup_enabled.then(|| view! {
                <p class="switch">"New to Tessera? " <a href=signup_href.clone()>"Create an account"</a></p>
            })}
        </section>
    }
}

/// The sign-up page (or "closed" when the operator turned sign-up off).
#[component]
pub fn SignUp(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let query = use_query_map();
    let next = query
        .read_untracked()
        .get("next")
        .and_then(|n| safe_next(&n))
        .unwrap_or_default();
    if !info.signup_enabled {
        return view! {
            <Title text="Sign up · Tessera" />
            <section class="card narrow auth">
                <h1>"Sign-up is closed"</h1>
                <p>"This Tessera server does not accept new accounts. Ask its operator for one."</p>
                <p><a href="/signin">"Sign in"</a></p>
            </section>
        }
        .into_any();
    }
    view! {
        <Title text="Sign up · Tessera" />
        <section class="card narrow auth">
            <h1>"Create your account"</h1>
            <FormMessage message=fb.message.clone() />
            <form method="post" action="/signup" class="stack">
                <input type="hidden" name="next" value=next />
                <Field label="Username" name="username" value=fb.value("username") error=fb.field("username") hint="Letters, digits, '.', '_' and '-'; up to 32 characters." autocomplete="username" minlength=rules::USERNAME_MIN maxlength=rules::USERNAME_MAX pattern=rules::USERNAME_PATTERN autofocus=true />
                <NewPasswordFields label="Password" confirm_label="Confirm password" hint="At least 12 characters. A few unrelated words make a strong password." fb=fb.clone() />
                <button type="submit" class="button primary">"Create account"</button>
            </form>
            <p class="switch">"Already have an account? " <a href="/signin">"Sign in"</a></p>
        </section>
    }
    .into_any()
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_destinations() {
        assert_eq!(
            safe_next("/profile/security/tokens?x=1").as_deref(),
            Some("/profile/security/tokens?x=1")
        );
        for bad in [
            "",
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil",
            "/\u{85}x",
            "evil",
            "\t/x",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(3000))), None);
    }
}
