//! The three confirmations (revoke, regenerate, revoke all), each written
//! once and shown both in the dialog and on its plain page. The buttons are
//! a real form posting to the plain handler; in the dialog its submit is
//! taken over by the server function instead.

use super::BASE;
use crate::model::SUDO_FIELD;
use crate::tokens::TokenView;
use crate::ui::fields::SudoField;
use crate::ui::token_form::Errors;
use leptos::prelude::*;

/// What is to be confirmed.
#[derive(Clone, Debug, PartialEq)]
pub enum Confirm {
    /// Revoke one token.
    Revoke(TokenView),
    /// Give one token a new secret.
    Regenerate(TokenView),
    /// Revoke every token; the number of active ones when known.
    RevokeAll(Option<u64>),
}

impl Confirm {
    /// The heading.
    pub fn title(&self) -> &'static str {
        match self {
            Confirm::Revoke(_) => "Revoke token",
            Confirm::Regenerate(_) => "Regenerate token",
            Confirm::RevokeAll(_) => "Revoke all tokens",
        }
    }

    /// The words of the confirming button.
    pub fn button(&self) -> &'static str {
        match self {
            Confirm::Revoke(_) => "Revoke",
            Confirm::Regenerate(_) => "Regenerate",
            Confirm::RevokeAll(_) => "Revoke all",
        }
    }

    /// True when the action needs sudo mode (a recent password).
    pub fn needs_sudo(&self) -> bool {
        matches!(self, Confirm::RevokeAll(_))
    }

    /// Where the plain form posts.
    pub fn action(&self) -> String {
        match self {
            Confirm::Revoke(t) => format!("{BASE}/{}/revoke", t.id),
            Confirm::Regenerate(t) => format!("{BASE}/{}/regenerate", t.id),
            Confirm::RevokeAll(_) => format!("{BASE}/revoke-all"),
        }
    }

    fn text(&self) -> AnyView {
        let quoted = |t: &TokenView| format!("\u{201c}{}\u{201d}", t.name);
        match self {
            Confirm::Revoke(t) => view! {
                <p>"Revoke " <strong>{quoted(t)}</strong> "? Anything using it stops working at once."</p>
                <p class="danger-text">"This action cannot be undone."</p>
            }
            .into_any(),
            Confirm::Regenerate(t) => view! {
                <p>
                    "Give " <strong>{quoted(t)}</strong>
                    " a new secret? It keeps its name, description and scopes. Stopping the old secret at once starts its lifetime again from today; a grace period keeps its expiry and lets you swap the secret without downtime."
                </p>
            }
            .into_any(),
            Confirm::RevokeAll(count) => {
                let active = count.map(|n| format!(" ({n} active)")).unwrap_or_default();
                view! {
                    <p>{format!(
                        "Revoke every token you have{active}? Every tool and job using one of them stops working at once."
                    )}</p>
                    <p class="danger-text">"This action cannot be undone."</p>
                }
                .into_any()
            }
        }
    }
}

/// The regenerate form's field: hours the old secret keeps working.
pub const GRACE_FIELD: &str = "grace_hours";
/// The grace periods offered (hours, words).
pub const GRACE_CHOICES: [(u32, &str); 4] = [
    (0, "Stops at once"),
    (1, "For 1 hour"),
    (24, "For 24 hours"),
    (168, "For 7 days"),
];

/// How a dialog drives the confirmation (a page has none: its form posts).
#[derive(Clone, Copy)]
pub struct DialogHooks {
    /// True while the action runs.
    pub pending: Signal<bool>,
    /// Runs the action, given the sudo-mode password typed (or empty) and
    /// the grace chosen for the old secret (hours; regenerate only).
    pub on_confirm: Callback<(String, u32)>,
    /// Closes the dialog.
    pub on_cancel: Callback<()>,
}

/// A confirmation: heading, what happens, an error if the last try failed,
/// and Cancel / the confirming button.
#[component]
pub fn Confirmation(
    /// What is to be confirmed.
    confirm: Confirm,
    /// The message of a failed attempt.
    #[prop(into)]
    message: Signal<Option<String>>,
    /// The field messages of a failed attempt (the sudo password's).
    #[prop(into)]
    errors: Signal<Errors>,
    /// The session is in sudo mode (no password needed).
    sudo: bool,
    /// Set in a dialog; a page leaves it out.
    #[prop(optional)]
    hooks: Option<DialogHooks>,
) -> impl IntoView {
    let title = confirm.title();
    let heading = match hooks {
        Some(_) => view! { <h2 id="dialog-title">{title}</h2> }.into_any(),
        None => view! { <h1 id="dialog-title">{title}</h1> }.into_any(),
    };
    let on_submit = move |ev: web_sys::SubmitEvent| {
        if let Some(h) = hooks {
            ev.prevent_default();
            if !h.pending.get_untracked() {
                let form = ev.target().and_then(|t| {
                    wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlFormElement>(t).ok()
                });
                let password = form
                    .as_ref()
                    .map(crate::ui::token_form::read_sudo_password)
                    .unwrap_or_default();
                let grace = form
                    .and_then(|f| web_sys::FormData::new_with_form(&f).ok())
                    .and_then(|d| d.get(GRACE_FIELD).as_string())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0);
                h.on_confirm.run((password, grace));
            }
        }
    };
    let cancel = match hooks {
        Some(h) => view! {
            <button type="button" class="button" on:click=move |_| h.on_cancel.run(()) autofocus=true>"Cancel"</button>
        }
        .into_any(),
        None => view! { <a class="button" href=BASE>"Cancel"</a> }.into_any(),
    };
    let pending = move || hooks.is_some_and(|h| h.pending.get());
    let grace_field = matches!(confirm, Confirm::Regenerate(_)).then(|| {
        view! {
            <div class="field">
                <label for="field-grace_hours">"The old secret keeps working"</label>
                <select id="field-grace_hours" name=GRACE_FIELD>
                    {GRACE_CHOICES.iter().map(|(h, label)| view! { <option value=h.to_string() selected=*h == 0>{*label}</option> }).collect_view()}
                </select>
            </div>
        }
    });
    let sudo_field = confirm.needs_sudo().then(|| {
        let error = Signal::derive(move || errors.with(|e| e.get(SUDO_FIELD).cloned()));
        view! { <SudoField error confirmed=sudo /> }
    });
    view! {
        {heading}
        {move || message.get().map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
        {confirm.text()}
        <form method="post" action=confirm.action() class="confirm-form" on:submit=on_submit>
            {grace_field}
            {sudo_field}
            <div class="dialog-actions">
                {cancel}
                <button type="submit" class="button danger" disabled=pending>{confirm.button()}</button>
            </div>
        </form>
    }
}
