//! The plain pages: the same flows as the dialogs, as server-rendered
//! forms, for browsers without (or before) the WASM. Each dialog's link
//! points at its page.

use super::confirm::{Confirm, Confirmation, TokenRef};
use super::BASE;
use crate::model::SessionInfo;
use crate::tokens::{Status, TokenForm, TokenView};
use crate::ui::security::{Section, SecurityNav};
use crate::ui::token_api::*;
use crate::ui::token_form::{Errors, PlainTokenFields};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// The frame of a plain page: the security navigation, a way back, a card.
/// Without `title`, the content sets the page title.
#[component]
fn PlainPage(#[prop(optional, into)] title: Option<String>, children: Children) -> impl IntoView {
    view! {
        {title.map(|t| view! { <Title text=format!("{t} · Tessera") /> })}
        <div class="settings">
            <SecurityNav current=Section::Tokens />
            <section class="settings-body">
                <p class="breadcrumb"><a href=BASE>"← Personal access tokens"</a></p>
                <div class="card">{children()}</div>
            </section>
        </div>
    }
}

/// What a failed plain-form post sent back: field and form messages, and
/// the form as sent (so nothing typed is lost).
#[derive(Clone, Default)]
struct Sent {
    errors: Errors,
    message: Option<String>,
    form: Option<TokenForm>,
}

fn sent_back(info: &SessionInfo) -> Sent {
    info.feedback
        .as_ref()
        .map(|fb| Sent {
            errors: fb.fields.clone(),
            message: fb.message.clone(),
            form: (!fb.values.is_empty()).then(|| {
                TokenForm::from_pairs(fb.values.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            }),
        })
        .unwrap_or_default()
}

/// The add/edit form as a plain page: heading, message, fields, Cancel and
/// the submit button.
#[component]
fn PlainTokenForm(
    action: String,
    title: String,
    message: Option<String>,
    submit: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <form method="post" action=action class="token-form stack">
            <h1 id="dialog-title">{title}</h1>
            {message.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
            {children()}
            <div class="dialog-actions">
                <a class="button" href=BASE>"Cancel"</a>
                <button type="submit" class="button primary">{submit}</button>
            </div>
        </form>
    }
}

fn loading() -> impl IntoView {
    view! { <p class="loading">"Loading…"</p> }
}

/// `…/new` without JavaScript.
#[component]
pub fn NewTokenPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let policy = Resource::new_blocking(|| (), |_| get_token_policy());
    let sent = sent_back(&info);
    view! {
        <PlainPage title="New personal access token">
            <Suspense fallback=loading>
                {move || {
                    let sent = sent.clone();
                    Suspend::new(async move {
                        let policy = match policy.await {
                            Ok(p) => p,
                            Err(e) => return crate::ui::load_failed(e),
                        };
                        let form = sent.form.unwrap_or(TokenForm { form_id: policy.form_id.clone(), ..Default::default() });
                        view! {
                            <PlainTokenForm action=format!("{BASE}/new") title="New personal access token".into() message=sent.message submit="Create">
                                <PlainTokenFields form errors=sent.errors max_days=policy.max_days notes=policy.notes.clone() admin=policy.admin owners=policy.owners.clone() now=policy.now current_expiry=None sudo=info.in_sudo />
                            </PlainTokenForm>
                        }
                        .into_any()
                    })
                }}
            </Suspense>
        </PlainPage>
    }
}

fn token_id_param() -> Memo<Option<i64>> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("id").and_then(|id| id.parse().ok()))
}

/// Loads the token of the URL (`None` when it is not the user's or absent).
fn token_resource() -> Resource<Result<Option<TokenView>, ServerFnError>> {
    let id = token_id_param();
    Resource::new_blocking(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_token(id).await,
                None => Ok(None),
            }
        },
    )
}

fn not_found_view() -> AnyView {
    view! {
        <h1>"Token not found"</h1>
        <p>"There is no such token among yours."</p>
        <p><a href=BASE>"Back to your tokens"</a></p>
    }
    .into_any()
}

/// `…/{id}/edit` without JavaScript.
#[component]
pub fn EditTokenPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let token = token_resource();
    let policy = Resource::new_blocking(|| (), |_| get_token_policy());
    let sent = sent_back(&info);
    view! {
        <PlainPage title="Edit token">
            <Suspense fallback=loading>
                {move || {
                    let sent = sent.clone();
                    Suspend::new(async move {
                        let (Ok(Some(t)), Ok(policy)) = (token.await, policy.await) else { return not_found_view() };
                        let now = policy.now;
                        if t.status(now) != Status::Active {
                            return view! {
                                <h1 id="dialog-title">{format!("\u{201c}{}\u{201d} cannot be edited", t.name)}</h1>
                                <p>{format!("This token is {}. Only active tokens can be edited.", t.status(now).label().to_lowercase())}</p>
                                <p><a href=BASE>"Back to your tokens"</a></p>
                            }.into_any();
                        }
                        let form = sent.form.unwrap_or_else(|| TokenForm::from_token(&t));
                        let (action, title) = (format!("{BASE}/{}/edit", t.id), format!("Edit \u{201c}{}\u{201d}", t.name));
                        view! {
                            <PlainTokenForm action title message=sent.message submit="Save">
                                <PlainTokenFields form errors=sent.errors max_days=policy.max_days notes=policy.notes.clone() admin=policy.admin owners=policy.owners.clone() now current_expiry=Some(t.expires_at) sudo=info.in_sudo />
                            </PlainTokenForm>
                        }
                        .into_any()
                    })
                }}
            </Suspense>
        </PlainPage>
    }
}

/// A confirmation page (revoke / regenerate) for the token of the URL.
#[component]
fn ConfirmTokenPage(info: SessionInfo, make: fn(TokenView) -> Confirm) -> impl IntoView {
    let token = token_resource();
    let sudo = info.in_sudo;
    let sent = sent_back(&info);
    let (message, errors) = (sent.message, sent.errors);
    view! {
        <PlainPage>
            <Suspense fallback=loading>
                {move || {
                    let (message, errors) = (message.clone(), errors.clone());
                    Suspend::new(async move {
                        let Ok(Some(t)) = token.await else { return not_found_view() };
                        let confirm = make(t);
                        view! {
                            <Title text=format!("{} · Tessera", confirm.title()) />
                            <Confirmation confirm message=Signal::stored(message) errors=Signal::stored(errors) sudo />
                        }
                        .into_any()
                    })
                }}
            </Suspense>
        </PlainPage>
    }
}

/// `…/{id}/revoke` without JavaScript.
#[component]
pub fn RevokeTokenPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    view! { <ConfirmTokenPage info make=|t| Confirm::Revoke(TokenRef::from(&t)) /> }
}

/// `…/{id}/regenerate` without JavaScript.
#[component]
pub fn RegenerateTokenPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    view! { <ConfirmTokenPage info make=|t| Confirm::Regenerate(TokenRef::from(&t)) /> }
}

/// `…/{id}/derive`: the confirmation a token that reaches everything asks
/// for (with the password when the session is not in sudo mode), and where
/// a refused derive is explained.
#[component]
pub fn DeriveTokenPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    view! { <ConfirmTokenPage info make=|t| Confirm::Derive(TokenRef::from(&t)) /> }
}

/// `…/revoke-all` without JavaScript.
#[component]
pub fn RevokeAllPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let sent = sent_back(&info);
    view! {
        <PlainPage title=Confirm::RevokeAll(None).title()>
            <Confirmation
                confirm=Confirm::RevokeAll(None)
                message=Signal::stored(sent.message)
                errors=Signal::stored(sent.errors)
                sudo=info.in_sudo
            />
        </PlainPage>
    }
}
