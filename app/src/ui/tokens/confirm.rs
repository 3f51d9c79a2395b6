//! The confirmations (revoke, regenerate, derive, revoke all), each written
//! once and shown both in the dialog and on its plain page. The buttons are
//! a real form posting to the plain handler; in the dialog its submit is
//! taken over by the server function instead.

use super::BASE;
use crate::model::SUDO_FIELD;
use crate::tokens::TokenView;
use crate::ui::fields::SudoField;
use crate::ui::token_form::Errors;
use leptos::either::{Either, EitherOf4};
use leptos::prelude::*;

/// The token a confirmation is about: all it shows is the name.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRef {
    /// The token's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// It reaches everything (Full access, or every area at manage): a new
    /// secret for it, or one derived from it, needs sudo mode.
    pub powerful: bool,
}

impl From<&TokenView> for TokenRef {
    fn from(t: &TokenView) -> Self {
        TokenRef {
            id: t.id,
            name: t.name.clone(),
            powerful: t.scopes.is_powerful(),
        }
    }
}

/// What is to be confirmed.
#[derive(Clone, Debug, PartialEq)]
pub enum Confirm {
    /// Revoke one token.
    Revoke(TokenRef),
    /// Give one token a new secret.
    Regenerate(TokenRef),
    /// Derive a one-hour child of one token.
    Derive(TokenRef),
    /// Revoke every token; the number of active ones when known.
    RevokeAll(Option<u64>),
}

impl Confirm {
    /// The heading.
    pub fn title(&self) -> &'static str {
        match self {
            Confirm::Revoke(_) => "Revoke token",
            Confirm::Regenerate(_) => "Regenerate token",
            Confirm::Derive(_) => "Derive a token",
            Confirm::RevokeAll(_) => "Revoke all tokens",
        }
    }

    /// The words of the confirming button.
    pub fn button(&self) -> &'static str {
        match self {
            Confirm::Revoke(_) => "Revoke",
            Confirm::Regenerate(_) => "Regenerate",
            Confirm::Derive(_) => "Derive",
            Confirm::RevokeAll(_) => "Revoke all",
        }
    }

    /// True when the action needs sudo mode (a recent password).
    pub fn needs_sudo(&self) -> bool {
        match self {
            Confirm::RevokeAll(_) => true,
            Confirm::Regenerate(t) | Confirm::Derive(t) => t.powerful,
            Confirm::Revoke(_) => false,
        }
    }

    /// What the dialog's form does (`tokens/dialog_submit`'s `kind`).
    pub fn kind(&self) -> &'static str {
        use super::kind::Dialog;
        match self {
            Confirm::Revoke(_) => Dialog::Revoke,
            Confirm::Regenerate(_) => Dialog::Regenerate,
            Confirm::Derive(_) => Dialog::Derive,
            Confirm::RevokeAll(_) => Dialog::RevokeAll,
        }
        .as_str()
    }

    /// The token's id (0 for "revoke all").
    pub fn token_id(&self) -> i64 {
        match self {
            Confirm::Revoke(t) | Confirm::Regenerate(t) | Confirm::Derive(t) => t.id,
            Confirm::RevokeAll(_) => 0,
        }
    }

    /// Where the plain form posts.
    pub fn action(&self) -> String {
        match self {
            Confirm::Revoke(t) => format!("{BASE}/{}/revoke", t.id),
            Confirm::Regenerate(t) => format!("{BASE}/{}/regenerate", t.id),
            Confirm::Derive(t) => format!("{BASE}/{}/derive", t.id),
            Confirm::RevokeAll(_) => format!("{BASE}/revoke-all"),
        }
    }

    fn text(&self) -> impl IntoView {
        let quoted = |t: &TokenRef| format!("\u{201c}{}\u{201d}", t.name);
        match self {
            Confirm::Revoke(t) => EitherOf4::A(view! {
                <p>"Revoke " <strong>{quoted(t)}</strong> "? Anything using it stops working at once."</p>
                <p class="danger-text">"This action cannot be undone."</p>
            }),
            Confirm::Regenerate(t) => EitherOf4::B(view! {
                <p>
                    "Give " <strong>{quoted(t)}</strong>
                    " a new secret? It keeps its name, description and scopes. Stopping the old secret at once starts its lifetime again from today; a grace period keeps its expiry and lets you swap the secret without downtime."
                </p>
            }),
            Confirm::Derive(t) => EitherOf4::C(view! {
                <p>
                    "Derive a one-hour token from " <strong>{quoted(t)}</strong>
                    "? It gets the same scopes, allowed networks and resources, never outlives it, and is revoked with it. Its secret is shown once."
                </p>
            }),
            Confirm::RevokeAll(count) => {
                let active = count.map(|n| format!(" ({n} active)")).unwrap_or_default();
                EitherOf4::D(view! {
                    <p>{format!(
                        "Revoke every token you have{active}? Every tool and job using one of them stops working at once."
                    )}</p>
                    <p class="danger-text">"This action cannot be undone."</p>
                })
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
    /// Shown in the page's dialog (its form is posted by the island).
    #[prop(optional)]
    in_dialog: bool,
) -> impl IntoView {
    let title = confirm.title();
    let heading = if in_dialog {
        Either::Left(view! { <h2 id="dialog-title">{title}</h2> })
    } else {
        Either::Right(view! { <h1 id="dialog-title">{title}</h1> })
    };
    let cancel = if in_dialog {
        Either::Left(
            view! { <button type="button" class="button" data-close="" autofocus=true>"Cancel"</button> },
        )
    } else {
        Either::Right(view! { <a class="button" href=BASE>"Cancel"</a> })
    };
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
        <form method="post" action=confirm.action() class="confirm-form" data-kind=confirm.kind() data-token-id=confirm.token_id().to_string()>
            {grace_field}
            {sudo_field}
            <div class="dialog-actions">
                {cancel}
                <button type="submit" class=if matches!(confirm, Confirm::Derive(_)) { "button primary" } else { "button danger" }>{confirm.button()}</button>
            </div>
        </form>
    }
}
