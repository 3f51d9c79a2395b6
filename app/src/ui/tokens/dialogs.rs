//! The page's dialogs (with the WASM loaded): add, edit, the secret, and the
//! confirmations, all in one modal whose content follows [`Dialog`].

use super::confirm::{Confirm, Confirmation, DialogHooks};
use super::secret::SecretView;
use super::{Dialog, Toasts, BASE};
use crate::tokens::{NewSecret, TokenForm, TokenView};
use crate::ui::modal::Modal;
use crate::ui::token_api::*;
use crate::ui::token_form::{new_form_id, read_form, read_sudo_password, Errors, TokenFormFields};
use leptos::prelude::*;

/// What every dialog shares: which one is open, the list's refresh
/// counter, the toasts, the server's token policy and the session's sudo
/// mode.
#[derive(Clone, Copy)]
struct Ctx {
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    policy: StoredValue<TokenPolicy>,
    sudo: bool,
}

impl Ctx {
    fn close(&self) {
        self.dialog.set(Dialog::Closed);
    }

    /// The list shows the change and a toast says it.
    fn changed(&self, toast: String) {
        self.refresh.update(|v| *v += 1);
        self.toasts.push(toast);
    }
}

/// Every dialog of the page, in one modal whose content follows `dialog`.
#[component]
pub fn TokenDialogs(
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    policy: TokenPolicy,
    /// The session is in sudo mode.
    sudo: bool,
) -> impl IntoView {
    let close = Callback::new(move |_| dialog.set(Dialog::Closed));
    let open = Signal::derive(move || dialog.with(|d| *d != Dialog::Closed));
    let ctx = Ctx {
        dialog,
        refresh,
        toasts,
        policy: StoredValue::new(policy),
        sudo,
    };
    view! {
        <Modal open on_close=close title_id="dialog-title">
            {move || match dialog.get() {
                Dialog::Closed => ().into_any(),
                Dialog::New => view! { <CreateDialog ctx /> }.into_any(),
                Dialog::Edit(t) => view! { <EditDialog token=t ctx /> }.into_any(),
                Dialog::Confirm(confirm) => view! { <ConfirmDialog confirm ctx /> }.into_any(),
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
fn CreateDialog(ctx: Ctx) -> impl IntoView {
    let (policy, dialog) = (ctx.policy.get_value(), ctx.dialog);
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
                ctx.changed(format!(
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
                sudo_password: read_sudo_password(&f),
            });
        }
    };
    view! {
        <form method="post" action=format!("{BASE}/new") class="token-form stack" on:submit=on_submit novalidate=true>
            <h2 id="dialog-title">"New personal access token"</h2>
            <FormAlert message />
            <TokenFormFields form errors max_days=policy.max_days notes=policy.notes.clone() admin=policy.admin now=policy.now sudo=ctx.sudo />
            <div class="dialog-actions">
                <button type="button" class="button" on:click=move |_| ctx.close()>"Cancel"</button>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Creating…" } else { "Create" }}
                </button>
            </div>
        </form>
    }
}

#[component]
fn EditDialog(token: TokenView, ctx: Ctx) -> impl IntoView {
    let policy = ctx.policy.get_value();
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
                ctx.changed(format!("Token \u{201c}{}\u{201d} updated.", t.name));
                ctx.close();
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
                sudo_password: read_sudo_password(&f),
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
                notes=policy.notes.clone() admin=policy.admin
                now=policy.now
                current_expiry=Some(token.expires_at)
                sudo=ctx.sudo
            />
            <div class="dialog-actions">
                <button type="button" class="button" on:click=move |_| ctx.close()>"Cancel"</button>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Save"</button>
            </div>
        </form>
    }
}

/// A confirmation in the dialog: the shared [`Confirmation`], driven by the
/// matching server function.
#[component]
fn ConfirmDialog(confirm: Confirm, ctx: Ctx) -> impl IntoView {
    let (dialog, sudo) = (ctx.dialog, ctx.sudo);
    let message = RwSignal::new(None::<String>);
    let errors = RwSignal::new(Errors::new());
    let done = move |toast: String| ctx.changed(toast);
    let (pending, on_confirm): (Signal<bool>, Callback<(String, u32)>) = match &confirm {
        Confirm::Revoke(t) => {
            let (action, id) = (ServerAction::<RevokeToken>::new(), t.id);
            Effect::new(move |_| {
                on_outcome(action.value().get(), None, message, |t: TokenView| {
                    done(format!("Token \u{201c}{}\u{201d} revoked.", t.name));
                    dialog.set(Dialog::Closed);
                })
            });
            let run = Callback::new(move |_: (String, u32)| {
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
            let run = Callback::new(move |(_, grace_hours): (String, u32)| {
                action.dispatch(RegenerateToken { id, grace_hours });
            });
            (action.pending().into(), run)
        }
        Confirm::RevokeAll(_) => {
            let action = ServerAction::<RevokeAllTokens>::new();
            Effect::new(move |_| {
                on_outcome(action.value().get(), Some(errors), message, |n: u64| {
                    done(format!(
                        "{n} token{} revoked.",
                        if n == 1 { "" } else { "s" }
                    ));
                    dialog.set(Dialog::Closed);
                })
            });
            let run = Callback::new(move |(sudo_password, _): (String, u32)| {
                action.dispatch(RevokeAllTokens { sudo_password });
            });
            (action.pending().into(), run)
        }
    };
    let hooks = DialogHooks {
        pending,
        on_confirm,
        on_cancel: Callback::new(move |_| ctx.close()),
    };
    view! { <Confirmation confirm message errors sudo hooks /> }
}
