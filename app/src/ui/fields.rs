//! Labelled form fields with their error message wired up for assistive tech.

use leptos::prelude::*;

#[component]
pub fn Field(
    /// Visible label text.
    label: &'static str,
    /// Form field name (also the element id, prefixed by `id_prefix`).
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
pub fn FormMessage(message: Option<String>) -> impl IntoView {
    message.map(|m| {
        view! {
            <div class="alert error" role="alert">
                {m}
            </div>
        }
    })
}
