//! The page's dialogs (with the WASM loaded): add, edit, the secret, and the
//! confirmations, all in one modal whose content follows [`Dialog`].

use super::confirm::{Confirm, Confirmation, DialogHooks};
use super::secret::SecretView;
use super::{Dialog, Toasts, BASE};
use crate::tokens::{NewSecret, TokenForm, TokenView};
use crate::ui::modal::Modal;
use crate::ui::token_api::*;
use crate::ui::token_form::{new_form_id, read_form, Errors, TokenFormFields};
use leptos::prelude::*;

/// Every dialog of the page, in one modal whose content follows `dialog`.
#[component]
pub fn TokenDialogs(
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    policy: TokenPolicy,
) -> impl IntoView {
    let close = Callback::new(move |_| dialog.set(Dialog::Closed));
    let open = Signal::derive(move || dialog.with(|d| *d != Dialog::Closed));
    let policy = StoredValue::new(policy);
    view! {
        <Modal open on_close=close title_id="dialog-title">
            {move || match dialog.get() {
                Dialog::Closed => ().into_any(),
                Dialog::New => view! { <CreateDialog dialog refresh toasts policy=policy.get_value() /> }.into_any(),
                Dialog::Edit(t) => view! { <EditDialog token=t dialog refresh toasts policy=policy.get_value() /> }.into_any(),
                Dialog::Confirm(confirm) => view! { <ConfirmDialog confirm dialog refresh toasts /> }.into_any(),
                Dialog::Secret { secret, regenerated } => view! {
                    <SecretView secret regenerated on_done=Some(close) />
                }.into_any(),
            }}
        </Modal>
    }
}

fn form_element(ev: &web_sys::SubmitEvent) -> Option<web_sys::HtmlFormElement> {
    use wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
}

#[component]
fn FormAlert(message: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        message
            .get()
            .map(|m| view! { <div class="alert error" role="alert">{m}</div> })
    }
}

/// Routes a mutation's answer: `done` on success; otherwise the field
/// messages (when the dialog has fields) and the form message.
fn on_outcome<T>(
    value: Option<Result<Outcome<T>, ServerFnError>>,
    errors: Option<RwSignal<Errors>>,
    message: RwSignal<Option<String>>,
    done: impl FnOnce(T),
) {
    match value {
        Some(Ok(Outcome::Done(v))) => done(v),
        Some(Ok(Outcome::Rejected { fields, message: m })) => {
            if let Some(errors) = errors {
                errors.set(fields);
            }
            message.set(m);
        }
        Some(Err(e)) => message.set(Some(e.to_string())),
        None => {}
    }
}

#[component]
fn CreateDialog(
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    policy: TokenPolicy,
) -> impl IntoView {
    let action = ServerAction::<CreateToken>::new();
    let errors = RwSignal::new(Errors::new());
    let message = RwSignal::new(None::<String>);
    let form = TokenForm {
        form_id: new_form_id(),
        ..Default::default()
    };
    Effect::new(move |_| {
        on_outcome(
            action.value().get(),
            Some(errors),
            message,
            |secret: NewSecret| {
                refresh.update(|v| *v += 1);
                toasts.push(format!(
                    "Token \u{201c}{}\u{201d} created.",
                    secret.token.name
                ));
                dialog.set(Dialog::Secret {
                    secret,
                    regenerated: false,
                });
            },
        )
    });
    let on_submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        if action.pending().get_untracked() {
            return;
        }
        if let Some(f) = form_element(&ev) {
            action.dispatch(CreateToken {
                form: read_form(&f),
            });
        }
    };
    view! {
        <form method="post" action=format!("{BASE}/new") class="token-form stack" on:submit=on_submit novalidate=true>
            <h2 id="dialog-title">"New personal access token"</h2>
            <FormAlert message />
            <TokenFormFields form errors max_days=policy.max_days now=policy.now />
            <div class="dialog-actions">
                <button type="button" class="button" on:click=move |_| dialog.set(Dialog::Closed)>"Cancel"</button>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Creating…" } else { "Create" }}
                </button>
            </div>
        </form>
    }
}

#[component]
fn EditDialog(
    token: TokenView,
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    policy: TokenPolicy,
) -> impl IntoView {
    let action = ServerAction::<UpdateToken>::new();
    let errors = RwSignal::new(Errors::new());
    let message = RwSignal::new(None::<String>);
    let id = token.id;
    Effect::new(move |_| {
        on_outcome(
            action.value().get(),
            Some(errors),
            message,
            |t: TokenView| {
                refresh.update(|v| *v += 1);
                toasts.push(format!("Token \u{201c}{}\u{201d} updated.", t.name));
                dialog.set(Dialog::Closed);
            },
        )
    });
    let on_submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        if action.pending().get_untracked() {
            return;
        }
        if let Some(f) = form_element(&ev) {
            action.dispatch(UpdateToken {
                id,
                form: read_form(&f),
            });
        }
    };
    view! {
        <form method="post" action=format!("{BASE}/{id}/edit") class="token-form stack" on:submit=on_submit novalidate=true>
            <h2 id="dialog-title">{format!("Edit \u{201c}{}\u{201d}", token.name)}</h2>
            <FormAlert message />
            <TokenFormFields
                form=TokenForm::from_token(&token)
                errors
                max_days=policy.max_days
                now=policy.now
                current_expiry=token.expires_at
            />
            <div class="dialog-actions">
                <button type="button" class="button" on:click=move |_| dialog.set(Dialog::Closed)>"Cancel"</button>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Save"</button>
            </div>
        </form>
    }
}

/// A confirmation in the dialog: the shared [`Confirmation`], driven by the
/// matching server function.
#[component]
fn ConfirmDialog(
    confirm: Confirm,
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    let done = move |toast: String| {
        refresh.update(|v| *v += 1);
        toasts.push(toast);
    };
    let (pending, on_confirm): (Signal<bool>, Callback<()>) = match &confirm {
        Confirm::Revoke(t) => {
            let (action, id) = (ServerAction::<RevokeToken>::new(), t.id);
            Effect::new(move |_| {
                on_outcome(action.value().get(), None, message, |t: TokenView| {
                    done(format!("Token \u{201c}{}\u{201d} revoked.", t.name));
                    dialog.set(Dialog::Closed);
                })
            });
            let run = Callback::new(move |_| {
                action.dispatch(RevokeToken { id });
            });
            (action.pending().into(), run)
        }
        Confirm::Regenerate(t) => {
            let (action, id) = (ServerAction::<RegenerateToken>::new(), t.id);
            Effect::new(move |_| {
                on_outcome(action.value().get(), None, message, |secret: NewSecret| {
                    done(format!(
                        "Token \u{201c}{}\u{201d} regenerated.",
                        secret.token.name
                    ));
                    dialog.set(Dialog::Secret {
                        secret,
                        regenerated: true,
                    });
                })
            });
            let run = Callback::new(move |_| {
                action.dispatch(RegenerateToken { id });
            });
            (action.pending().into(), run)
        }
        Confirm::RevokeAll(_) => {
            let action = ServerAction::<RevokeAllTokens>::new();
            Effect::new(move |_| {
                on_outcome(action.value().get(), None, message, |n: u64| {
                    done(format!(
                        "{n} token{} revoked.",
                        if n == 1 { "" } else { "s" }
                    ));
                    dialog.set(Dialog::Closed);
                })
            });
            let run = Callback::new(move |_| {
                action.dispatch(RevokeAllTokens {});
            });
            (action.pending().into(), run)
        }
    };
    let hooks = DialogHooks {
        pending,
        on_confirm,
        on_cancel: Callback::new(move |_| dialog.set(Dialog::Closed)),
    };
    view! { <Confirmation confirm message hooks /> }
}
