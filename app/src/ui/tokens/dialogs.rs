//! The page's dialogs, rendered by the server: `tokens/dialog` gives the
//! content a `data-dialog` link opens (the same components as the plain
//! pages — the token form, the confirmations), `tokens/dialog_submit` takes
//! its form's fields and answers with what to show next (the form again
//! with its field messages, the one-time secret, or nothing: close), a
//! toast, and whether the list changed. [`super::TokensApp`] only shows that
//! HTML in one native `<dialog>`, so the browser builds no view of its own.

#![allow(missing_docs)] // `#[server]` generates the argument structs

use crate::ui::token_api::Outcome;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

/// What the dialog shows after a submit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DialogAnswer {
    /// The dialog's new content (the form with its messages, or the
    /// secret); `None`: the dialog closes.
    pub html: Option<String>,
    /// A short confirmation for the toasts.
    pub toast: Option<String>,
    /// The list changed: reload it.
    pub changed: bool,
}

/// The dialog a `data-dialog` link opens, as HTML: `kind` is `new`,
/// `edit`, `revoke`, `regenerate`, `derive` or `revoke-all`; `id` the token's (0 for
/// the others). `Rejected` says why it cannot open (a toast): the token does
/// not exist (someone else's answers the same), or is no longer active.
#[server(prefix = "/rpc", endpoint = "tokens/dialog", input = Json)]
pub async fn token_dialog(
    kind: String,
    #[server(default)] id: i64,
) -> Result<Outcome<String>, ServerFnError> {
    ssr::open(&kind, id).await
}

/// Submits the dialog's form: `kind` as the form's `data-kind` (`create`,
/// `edit`, `revoke`, `regenerate`, `derive`, `revoke-all`), `id` the token's, `fields`
/// the form's fields in order.
#[server(prefix = "/rpc", endpoint = "tokens/dialog_submit", input = Json)]
pub async fn submit_token_dialog(
    kind: String,
    #[server(default)] id: i64,
    #[server(default)] fields: Vec<(String, String)>,
) -> Result<DialogAnswer, ServerFnError> {
    ssr::submit(&kind, id, fields).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::DialogAnswer;
    use crate::domain::sessions::Session;
    use crate::model::SUDO_FIELD;
    use crate::tokens::TokenForm;
    use crate::tokens::{ListQuery, NewSecret, Status, TokenView};
    use crate::ui::token_api::*;
    use crate::ui::token_form::Errors;
    use crate::ui::token_form::PlainTokenFields;
    use crate::ui::tokens::confirm::{Confirm, Confirmation, TokenRef, GRACE_FIELD};
    use crate::ui::tokens::kind::Dialog;
    use crate::ui::tokens::secret::{SecretBox, Shown};
    use crate::ui::tokens::BASE;
    use leptos::prelude::*;
    use leptos::tachys::view::RenderHtml;

    /// The add / edit form as the dialog shows it: a `<h2>`, the form's
    /// message, its fields (the plain pages' island) and Cancel / submit.
    #[component]
    fn DialogTokenForm(
        /// Create or Edit.
        kind: Dialog,
        /// The token's id when editing (0 otherwise).
        id: i64,
        /// Where the same form posts without JavaScript.
        action: String,
        title: String,
        message: Option<String>,
        /// The submit button's words, and while it is pending.
        submit: (&'static str, &'static str),
        children: Children,
    ) -> impl IntoView {
        view! {
            <form method="post" action=action class="token-form stack" data-kind=kind.as_str() data-token-id=id.to_string() novalidate=true>
                <h2 id="dialog-title">{title}</h2>
                {message.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
                {children()}
                <div class="dialog-actions">
                    <button type="button" class="button" data-close="">"Cancel"</button>
                    <button type="submit" class="button primary" data-pending=submit.1>{submit.0}</button>
                </div>
            </form>
        }
    }

    fn in_sudo() -> bool {
        use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Session>().map(|s| s.in_sudo))
            .unwrap_or(false)
    }

    /// One of the user's tokens, or what to say instead (the service's
    /// words for a missing one: someone else's is just as missing).
    async fn token(id: i64) -> Result<Result<TokenView, String>, ServerFnError> {
        Ok(get_token(id)
            .await?
            .ok_or_else(|| crate::domain::tokens::TokenError::NotFound.message()))
    }

    /// An active token of the user (only those can be edited or regenerated).
    async fn active_token(id: i64) -> Result<Result<TokenView, String>, ServerFnError> {
        let now = crate::domain::db::now();
        Ok(token(id).await?.and_then(|t| match t.status(now) {
            Status::Active => Ok(t),
            other => Err(format!(
                "\u{201c}{}\u{201d} is {}: only active tokens can be changed.",
                t.name,
                other.label().to_lowercase()
            )),
        }))
    }

    /// A request no dialog makes (400, with a message).
    fn bad_request(message: &str) -> ServerFnError {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(http::StatusCode::BAD_REQUEST);
        }
        ServerFnError::new(message)
    }

    fn refused(message: String) -> Outcome<String> {
        Outcome::Rejected {
            fields: Errors::new(),
            message: Some(message),
        }
    }

    async fn form_html(
        editing: Option<&TokenView>,
        form: TokenForm,
        errors: Errors,
        message: Option<String>,
    ) -> Result<String, ServerFnError> {
        let policy = get_token_policy().await?;
        let sudo = in_sudo();
        let (kind, id, action, title, submit) = match editing {
            Some(t) => (
                Dialog::Edit,
                t.id,
                format!("{BASE}/{}/edit", t.id),
                format!("Edit \u{201c}{}\u{201d}", t.name),
                ("Save", "Saving…"),
            ),
            None => (
                Dialog::Create,
                0,
                format!("{BASE}/new"),
                "New personal access token".to_owned(),
                ("Create", "Creating…"),
            ),
        };
        let current_expiry = editing.map(|t| t.expires_at);
        Ok(view! {
            <DialogTokenForm kind id action title message submit>
                <PlainTokenFields
                    form
                    errors
                    max_days=policy.max_days
                    notes=policy.notes.clone()
                    admin=policy.admin
                    owners=policy.owners.clone()
                    now=policy.now
                    current_expiry
                    sudo
                />
            </DialogTokenForm>
        }
        .to_html())
    }

    fn confirm_html(confirm: Confirm, message: Option<String>, errors: Errors) -> String {
        let sudo = in_sudo();
        view! {
            <Confirmation confirm message=Signal::stored(message) errors=Signal::stored(errors) sudo in_dialog=true />
        }
        .to_html()
    }

    fn secret_html(secret: &NewSecret, regenerated: bool) -> String {
        let shown = Shown::new(secret, regenerated);
        view! { <SecretBox shown in_dialog=true /> }.to_html()
    }

    async fn active_count() -> Result<u64, ServerFnError> {
        Ok(list_tokens(ListQuery::default()).await?.active_count)
    }

    pub async fn open(kind: &str, id: i64) -> Result<Outcome<String>, ServerFnError> {
        let html = match Dialog::parse(kind) {
            Some(Dialog::New) => {
                let form = TokenForm {
                    form_id: get_token_policy().await?.form_id,
                    ..Default::default()
                };
                form_html(None, form, Errors::new(), None).await?
            }
            Some(Dialog::Edit) => match active_token(id).await? {
                Ok(t) => {
                    form_html(Some(&t), TokenForm::from_token(&t), Errors::new(), None).await?
                }
                Err(m) => return Ok(refused(m)),
            },
            Some(Dialog::Revoke) => match token(id).await? {
                Ok(t) if t.revoked_at.is_some() => {
                    return Ok(refused(format!(
                        "\u{201c}{}\u{201d} is already revoked.",
                        t.name
                    )))
                }
                Ok(t) => confirm_html(Confirm::Revoke(TokenRef::from(&t)), None, Errors::new()),
                Err(m) => return Ok(refused(m)),
            },
            Some(Dialog::Regenerate) => match active_token(id).await? {
                Ok(t) => confirm_html(Confirm::Regenerate(TokenRef::from(&t)), None, Errors::new()),
                Err(m) => return Ok(refused(m)),
            },
            Some(Dialog::Derive) => match active_token(id).await? {
                Ok(t) => confirm_html(Confirm::Derive(TokenRef::from(&t)), None, Errors::new()),
                Err(m) => return Ok(refused(m)),
            },
            Some(Dialog::RevokeAll) => {
                let n = active_count().await?;
                confirm_html(Confirm::RevokeAll(Some(n)), None, Errors::new())
            }
            _ => return Err(bad_request("There is no such dialog.")),
        };
        Ok(Outcome::Done(html))
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn quoted(name: &str) -> String {
        format!("\u{201c}{name}\u{201d}")
    }

    fn done(html: Option<String>, toast: String) -> DialogAnswer {
        DialogAnswer {
            html,
            toast: Some(toast),
            changed: true,
        }
    }

    fn again(html: String) -> DialogAnswer {
        DialogAnswer {
            html: Some(html),
            toast: None,
            changed: false,
        }
    }

    /// The token went away meanwhile: the dialog closes, says why, and the
    /// list is reloaded.
    fn gone(message: String) -> DialogAnswer {
        DialogAnswer {
            html: None,
            toast: Some(message),
            changed: true,
        }
    }

    /// A confirmation refused: shown again with its messages, or — the
    /// token went away meanwhile — closed with the reason.
    async fn confirm_again(
        id: i64,
        make: fn(TokenRef) -> Confirm,
        message: Option<String>,
        errors: Errors,
    ) -> Result<DialogAnswer, ServerFnError> {
        Ok(match token(id).await? {
            Ok(t) => again(confirm_html(make(TokenRef::from(&t)), message, errors)),
            Err(m) => gone(m),
        })
    }

    /// The answer to a confirmation that yields a secret (regenerate,
    /// derive): the secret once, or the confirmation again.
    async fn with_secret(
        id: i64,
        answer: Outcome<NewSecret>,
        make: fn(TokenRef) -> Confirm,
        regenerated: bool,
    ) -> Result<DialogAnswer, ServerFnError> {
        let done_word = if regenerated {
            "regenerated"
        } else {
            "created"
        };
        Ok(match answer {
            Outcome::Done(secret) => done(
                Some(secret_html(&secret, regenerated)),
                format!("Token {} {done_word}.", quoted(&secret.token.name)),
            ),
            Outcome::Rejected {
                fields: errors,
                message,
            } => confirm_again(id, make, message, errors).await?,
        })
    }

    pub async fn submit(
        kind: &str,
        id: i64,
        fields: Vec<(String, String)>,
    ) -> Result<DialogAnswer, ServerFnError> {
        let form = || TokenForm::from_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sudo_password = field(&fields, SUDO_FIELD).to_owned();
        Ok(match Dialog::parse(kind) {
            Some(Dialog::Create) => match create_token(form(), sudo_password).await? {
                Outcome::Done(secret) => done(
                    Some(secret_html(&secret, false)),
                    format!("Token {} created.", quoted(&secret.token.name)),
                ),
                Outcome::Rejected {
                    fields: errors,
                    message,
                } => again(form_html(None, form(), errors, message).await?),
            },
            Some(Dialog::Edit) => match update_token(id, form(), sudo_password).await? {
                Outcome::Done(t) => done(None, format!("Token {} updated.", quoted(&t.name))),
                Outcome::Rejected {
                    fields: errors,
                    message,
                } => match token(id).await? {
                    Ok(t) => again(form_html(Some(&t), form(), errors, message).await?),
                    Err(m) => gone(m),
                },
            },
            Some(Dialog::Revoke) => match revoke_token(id).await? {
                Outcome::Done(t) => done(None, format!("Token {} revoked.", quoted(&t.name))),
                Outcome::Rejected {
                    fields: errors,
                    message,
                } => confirm_again(id, Confirm::Revoke, message, errors).await?,
            },
            Some(Dialog::Regenerate) => {
                let grace = field(&fields, GRACE_FIELD).parse().unwrap_or(0);
                let answer = regenerate_token(id, grace, sudo_password).await?;
                with_secret(id, answer, Confirm::Regenerate, true).await?
            }
            Some(Dialog::Derive) => {
                let answer = derive_token(id, sudo_password).await?;
                with_secret(id, answer, Confirm::Derive, false).await?
            }
            Some(Dialog::RevokeAll) => match revoke_all_tokens(sudo_password).await? {
                Outcome::Done(n) => done(
                    None,
                    format!("{n} token{} revoked.", if n == 1 { "" } else { "s" }),
                ),
                Outcome::Rejected {
                    fields: errors,
                    message,
                } => {
                    let n = active_count().await?;
                    again(confirm_html(Confirm::RevokeAll(Some(n)), message, errors))
                }
            },
            _ => return Err(bad_request("There is no such dialog.")),
        })
    }
}
