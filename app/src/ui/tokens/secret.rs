//! The one time a secret is shown: after a create or a regenerate.

use super::BASE;
use crate::tokens::NewSecret;
use leptos::either::Either;
use leptos::{html, prelude::*};
use serde::{Deserialize, Serialize};

/// The id of the one-time view's heading on a page (not in the dialog).
pub const SECRET_TITLE: &str = "secret-title";

/// What the one-time view says, worked out by the server (so the browser
/// gets four strings, not the token).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// "Token created" / "Token regenerated".
    pub title: String,
    /// The sentence under it.
    pub lead: String,
    /// The secret itself.
    pub secret: String,
    /// What the token's reach warns about.
    pub warnings: Vec<String>,
    /// Where "Done" goes on a page (`None`: the token list).
    #[serde(default)]
    pub back: Option<String>,
}

impl Shown {
    /// The view of `secret`, new or `regenerated`.
    pub fn new(secret: &NewSecret, regenerated: bool) -> Self {
        let title = if regenerated {
            "Token regenerated"
        } else {
            "Token created"
        };
        let lead = if regenerated {
            let old = match secret.token.previous_valid_until {
                Some(until) => format!(
                    "The old one keeps working until {} {} UTC: switch over before then.",
                    crate::ui::token_form::fmt_date(until),
                    until.format("%H:%M")
                ),
                None => "The old one no longer works.".to_owned(),
            };
            format!(
                "The token \u{201c}{}\u{201d} has a new secret. {old}",
                secret.token.name
            )
        } else {
            format!("Your token \u{201c}{}\u{201d} is ready.", secret.token.name)
        };
        Shown {
            title: title.to_owned(),
            lead,
            secret: secret.secret.clone(),
            warnings: secret.warnings.clone(),
            back: None,
        }
    }
}

/// Shows a new secret once, with Copy (Clipboard API) and a select-all
/// fallback (an island). In the page's dialog "Done" closes it; on a page it
/// goes back to the list.
#[island]
pub fn SecretBox(shown: Shown, in_dialog: bool) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let input = NodeRef::<html::Input>::new();
    let value = shown.secret.clone();
    let select_all = move || {
        if let Some(i) = input.get() {
            let _ = i.focus();
            i.select();
        }
    };
    let copy = move |_| {
        let text = value.clone();
        leptos::task::spawn_local(async move {
            let ok = copy_to_clipboard(&text).await;
            if !ok {
                select_all();
            }
            copied.set(Some(ok));
        });
    };
    // in the page the dialog's title id stays free for the dialog
    let title_id = if in_dialog {
        "dialog-title"
    } else {
        SECRET_TITLE
    };
    let Shown {
        title,
        lead,
        secret,
        warnings,
        back,
    } = shown;
    view! {
        <h2 id=title_id>{title}</h2>
        <p>{lead}</p>
        <div class="alert warning" role="alert">
            <strong>"Copy your token now."</strong>
            " For your security it will not be shown again."
        </div>
        {warnings.iter().map(|w| view! { <p class="alert warning reach-warning" role="status">{w.clone()}</p> }).collect_view()}
        <label for="new-token-value" class="label">"Personal access token"</label>
        <div class="secret-row">
            <input
                id="new-token-value"
                node_ref=input
                class="secret-value"
                type="text"
                readonly=true
                value=secret
                spellcheck="false"
                autocomplete="off"
                on:focus=move |_| select_all()
                on:click=move |_| select_all()
            />
            <button type="button" class="button primary" on:click=copy autofocus=true>"Copy"</button>
        </div>
        <p class="copy-status" aria-live="polite">
            {move || match copied.get() {
                Some(true) => "Copied".to_string(),
                Some(false) => "Copying is not available here: the token is selected, press Ctrl+C (⌘C) to copy it.".to_string(),
                None => String::new(),
            }}
        </p>
        <div class="dialog-actions">
            {if in_dialog {
                Either::Left(view! { <button type="button" class="button" data-close="">"Done"</button> })
            } else {
                Either::Right(view! { <a class="button" href=back.unwrap_or_else(|| BASE.to_owned())>"Done"</a> })
            }}
        </div>
    }
}

async fn copy_to_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let promise = window.navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}
