//! Labelled form fields with their error message wired up for assistive tech.

use crate::model::{rules, FormFeedback};
use leptos::prelude::*;

/// A labelled input with its hint and error message wired to it.
#[component]
pub fn Field(
    /// Visible label text.
    label: &'static str,
    /// Form field name (the element id is `field-` and the name).
    name: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional, into)] value: String,
    #[prop(default = None)] error: Option<String>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(default = true)] required: bool,
    #[prop(optional)] minlength: Option<usize>,
    #[prop(optional)] maxlength: Option<usize>,
    #[prop(optional)] pattern: Option<&'static str>,
    #[prop(default = false)] autofocus: bool,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let mut described = Vec::new();
    if hint.is_some() {
        described.push(hint_id.clone());
    }
    if error.is_some() {
        described.push(error_id.clone());
    }
    let describedby = (!described.is_empty()).then(|| described.join(" "));
    let invalid = error.is_some().then_some("true");
    let has_error = error.is_some();
    view! {
        <div class="field" class:has-error=has_error>
            <label for=id.clone()>{label}</label>
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{h}</p> })}
            <input
                id=id
                name=name
                type=input_type
                value=value
                autocomplete=autocomplete
                required=required
                minlength=minlength
                maxlength=maxlength
                pattern=pattern
                autofocus=autofocus
                aria-invalid=invalid
                aria-describedby=describedby
            />
            {error.map(|e| view! { <p class="field-error" id=error_id.clone()>{e}</p> })}
        </div>
    }
}

/// A form-level message (e.g. wrong credentials), announced when it appears.
#[component]
pub fn FormMessage(
    /// The message, if any.
    message: Option<String>,
) -> impl IntoView {
    message.map(|m| {
        view! {
            <div class="alert error" role="alert">
                {m}
            </div>
        }
    })
}

/// A password input for an existing password (sign-in, current password).
#[component]
pub fn PasswordField(
    /// Visible label text.
    label: &'static str,
    /// Form field name.
    name: &'static str,
    /// The last submission's messages.
    fb: FormFeedback,
    /// `current-password` or `new-password`.
    #[prop(default = "current-password")]
    autocomplete: &'static str,
) -> impl IntoView {
    view! { <Field label name input_type="password" error=fb.field(name) autocomplete /> }
}

/// A new password and its confirmation (sign-up, change password), with the
/// length rules as browser hints.
#[component]
pub fn NewPasswordFields(
    /// Label of the first field ("Password", "New password").
    label: &'static str,
    /// Label of the confirmation.
    confirm_label: &'static str,
    /// Help under the label.
    hint: &'static str,
    /// The last submission's messages.
    fb: FormFeedback,
) -> impl IntoView {
    view! {
        <Field
            label
            name="password"
            input_type="password"
            error=fb.field("password")
            hint
            autocomplete="new-password"
            minlength=rules::PASSWORD_MIN
            maxlength=rules::PASSWORD_MAX
        />
        <PasswordField label=confirm_label name="confirm" fb autocomplete="new-password" />
    }
}

/// Sudo mode's password confirmation inside a form that needs it (a
/// full-access token, revoke all, signing other sessions out). Always in the
/// markup so a refusal has a place to show; hidden by CSS while the session
/// is in sudo mode (`confirmed`) and has no error, and — with `for_full` —
/// unless "Full access" is chosen, so it works without JavaScript.
#[component]
pub fn SudoField(
    /// The field's message from the last attempt.
    #[prop(into)]
    error: Signal<Option<String>>,
    /// The session entered its password in the last 10 minutes.
    confirmed: bool,
    /// Only needed when the form's "Full access" is chosen.
    #[prop(default = false)]
    for_full: bool,
    /// Keeps ids unique when a page has more than one such field.
    #[prop(into, default = String::new())]
    id_suffix: String,
) -> impl IntoView {
    let has_error = move || error.with(Option::is_some);
    let id = format!("field-sudo_password{id_suffix}");
    view! {
        <div class="field sudo-field" class:has-error=has_error class:sudo-ok=confirmed class:for-full=for_full>
            <label for=id.clone()>"Confirm your password"</label>
            <p class="hint" id=format!("{id}-hint")>
                "Needed for this action. You won't be asked again for 10 minutes."
            </p>
            <input
                id=id.clone()
                name=crate::model::SUDO_FIELD
                type="password"
                autocomplete="current-password"
                maxlength=rules::PASSWORD_MAX
                aria-invalid=move || has_error().then_some("true")
                aria-describedby=format!("{id}-hint {id}-error")
            />
            <p class="field-error" id=format!("{id}-error") hidden=move || !has_error()>{error}</p>
            <p class="sso-confirm">
                <a href="/auth/oidc/start?sudo=1">"Confirm with your organization's sign-in instead"</a>
            </p>
            <div class="passkey-confirm">
                <super::passkeys::PasskeyButton purpose="sudo".to_string() label="Confirm with a passkey instead".to_string() />
            </div>
        </div>
    }
}
