//! Server functions behind the tokens page (session-cookie authenticated).
//! They are thin: find the session's user, call the token service, map the
//! outcome.

// `#[server]` turns each function's arguments into the fields of a public
// struct of the same name (e.g. `CreateToken { form }`); the functions are
// documented, their generated fields cannot be.
#![allow(missing_docs)]

use crate::tokens::{ListQuery, NewSecret, TokenForm, TokenPage, TokenView};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The answer to a mutation: done, or rejected with messages to show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome<T> {
    /// It worked; here is the result.
    Done(T),
    /// The request was refused; show these messages.
    Rejected {
        /// Field name → message.
        fields: BTreeMap<String, String>,
        /// A message for the whole form.
        message: Option<String>,
    },
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::Outcome;
    use crate::domain::{
        sessions::{Client, Session},
        tokens::{Actor, TokenError},
        AppState,
    };
    use crate::model::CurrentUser;
    use leptos::prelude::*;

    /// The server state and the signed-in user, or "signed out" (401).
    pub fn context() -> Result<(AppState, CurrentUser), ServerFnError> {
        let state =
            use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
        let user = use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<CurrentUser>().cloned());
        match user {
            Some(user) => Ok((state, user)),
            None => {
                if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
                    res.set_status(http::StatusCode::UNAUTHORIZED);
                }
                Err(ServerFnError::new(
                    "You are signed out. Sign in again to continue.",
                ))
            }
        }
    }

    /// The service's answer as the dialogs take it: failures of the
    /// request become field and form messages; ours are logged.
    pub fn outcome<T>(result: Result<T, TokenError>) -> Result<Outcome<T>, ServerFnError> {
        match result {
            Ok(v) => Ok(Outcome::Done(v)),
            Err(err) if err.is_internal() => {
                tracing::error!(error = %err, "token operation failed");
                Err(ServerFnError::new(err.message()))
            }
            Err(err) => Ok(Outcome::Rejected {
                fields: err.fields(),
                message: err.form_message(),
            }),
        }
    }

    /// The signed-in person as the token service's actor: in sudo mode if
    /// the session is, or once `sudo_password` (empty: not sent) proves it.
    pub async fn actor(state: &AppState, sudo_password: &str) -> Result<Actor, TokenError> {
        let parts = use_context::<http::request::Parts>();
        let found = parts.as_ref().and_then(|p| {
            Some((
                p.extensions.get::<Session>()?.clone(),
                p.extensions.get::<Client>()?.clone(),
            ))
        });
        match found {
            Some((session, client)) => {
                Actor::for_session(&state.core, &client, &session, sudo_password).await
            }
            // `context` found the user, so the session is there
            None => Err(TokenError::NotFound),
        }
    }
}

/// One page of the signed-in user's tokens.
#[server(prefix = "/rpc", endpoint = "tokens/list", input = Json)]
pub async fn list_tokens(query: ListQuery) -> Result<TokenPage, ServerFnError> {
    let (state, user) = ssr::context()?;
    crate::domain::tokens::list(&state.core.db, user.id, &query)
        .await
        .map(|page| page.apply_policies(&state.core.policies()))
        .map_err(|e| {
            tracing::error!(error = %e, "listing tokens failed");
            ServerFnError::new("Could not load your tokens. Please try again.")
        })
}

/// One of the signed-in user's tokens (`None`: not theirs, or absent).
#[server(prefix = "/rpc", endpoint = "tokens/get", input = Json)]
pub async fn get_token(id: i64) -> Result<Option<TokenView>, ServerFnError> {
    let (state, user) = ssr::context()?;
    match crate::domain::tokens::get(&state.core.db, user.id, id).await {
        Ok(mut t) => {
            let book = state.core.policies();
            t.apply_policies(book.for_owner(t.owner.as_deref()), crate::domain::db::now());
            Ok(Some(t))
        }
        Err(crate::domain::tokens::TokenError::NotFound) => Ok(None),
        Err(e) => {
            tracing::error!(error = %e, "reading a token failed");
            Err(ServerFnError::new(
                "Could not load the token. Please try again.",
            ))
        }
    }
}

/// Creates a token from the add dialog's form (`sudo_password`: the
/// password confirmation a full-access token needs, or empty).
#[server(prefix = "/rpc", endpoint = "tokens/create", input = Json)]
pub async fn create_token(
    form: TokenForm,
    #[server(default)] sudo_password: String,
) -> Result<Outcome<NewSecret>, ServerFnError> {
    use crate::domain::tokens as service;
    let (state, _) = ssr::context()?;
    let created = async {
        let actor = ssr::actor(&state, &sudo_password).await?;
        service::create_from_form(&state.core, &actor, &form).await
    };
    ssr::outcome(created.await)
}

/// Applies the edit dialog's form to a token (`sudo_password` as for
/// create: giving a token full access needs it).
#[server(prefix = "/rpc", endpoint = "tokens/update", input = Json)]
pub async fn update_token(
    id: i64,
    form: TokenForm,
    #[server(default)] sudo_password: String,
) -> Result<Outcome<TokenView>, ServerFnError> {
    use crate::domain::tokens as service;
    let (state, _) = ssr::context()?;
    let updated = async {
        let actor = ssr::actor(&state, &sudo_password).await?;
        service::update_from_form(&state.core, &actor, id, &form).await
    };
    ssr::outcome(updated.await)
}

/// Revokes a token.
#[server(prefix = "/rpc", endpoint = "tokens/revoke", input = Json)]
pub async fn revoke_token(id: i64) -> Result<Outcome<TokenView>, ServerFnError> {
    use crate::domain::tokens as service;
    let (state, _) = ssr::context()?;
    let revoked = async {
        let actor = ssr::actor(&state, "").await?;
        service::revoke(&state.core, &actor, id).await
    };
    ssr::outcome(revoked.await)
}

/// Revokes every token of the signed-in user (sudo mode, or
/// `sudo_password`).
#[server(prefix = "/rpc", endpoint = "tokens/revoke_all", input = Json)]
pub async fn revoke_all_tokens(
    #[server(default)] sudo_password: String,
) -> Result<Outcome<u64>, ServerFnError> {
    use crate::domain::tokens as service;
    let (state, _) = ssr::context()?;
    let revoked = async {
        let actor = ssr::actor(&state, &sudo_password).await?;
        service::revoke_all(&state.core, &actor).await
    };
    ssr::outcome(revoked.await)
}

/// Gives a token a new secret: at once (its lifetime starts again), or
/// rotated with the old secret working for `grace_hours` more (the expiry
/// stays).
#[server(prefix = "/rpc", endpoint = "tokens/regenerate", input = Json)]
pub async fn regenerate_token(
    /// The token.
    id: i64,
    /// Hours the old secret keeps working (0: none).
    #[server(default)]
    grace_hours: u32,
    /// The password confirmation a token that reaches everything needs.
    #[server(default)]
    sudo_password: String,
) -> Result<Outcome<NewSecret>, ServerFnError> {
    use crate::domain::tokens as service;
    let (state, _) = ssr::context()?;
    let regenerated = async {
        let actor = ssr::actor(&state, &sudo_password).await?;
        match grace_hours {
            0 => service::regenerate(&state.core, &actor, id).await,
            hours => service::rotate(&state.core, &actor, id, hours).await,
        }
    };
    ssr::outcome(regenerated.await)
}

/// Derives a one-hour child of a token (`sudo_password` as for
/// regenerate: deriving from a token that reaches everything needs it).
#[server(prefix = "/rpc", endpoint = "tokens/derive", input = Json)]
pub async fn derive_token(
    id: i64,
    #[server(default)] sudo_password: String,
) -> Result<Outcome<NewSecret>, ServerFnError> {
    use crate::domain::tokens as service;
    let (state, _) = ssr::context()?;
    let derived = async {
        let actor = ssr::actor(&state, &sudo_password).await?;
        service::derive(&state.core, &actor, id, &Default::default()).await
    };
    ssr::outcome(derived.await)
}

/// What the expiry picker needs: the operator's maximum lifetime and the
/// server's clock (so server render and hydration compute the same dates).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenPolicy {
    /// The longest lifetime allowed, in days.
    pub max_days: u32,
    /// The server's clock.
    pub now: chrono::DateTime<chrono::Utc>,
    /// A fresh id for a create form rendered on the server.
    pub form_id: String,
    /// The organization's policies that apply to new tokens, in words.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The visitor is an administrator: the Administration scope is offered.
    #[serde(default)]
    pub admin: bool,
    /// The organizations the visitor may name as a new token's resource
    /// owner (those they are a member of), with their limits.
    #[serde(default)]
    pub owners: Vec<crate::tokens::OwnerLimit>,
}

/// The operator's limits and the server clock, for the expiry picker.
#[server(prefix = "/rpc", endpoint = "tokens/policy", input = Json)]
pub async fn get_token_policy() -> Result<TokenPolicy, ServerFnError> {
    let (state, user) = ssr::context()?;
    let book = state.core.policies();
    let owners = crate::domain::orgs::memberships(&state.core.db, user.id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading organization memberships failed");
            ServerFnError::new("Something went wrong on our side; try again.")
        })?
        .into_iter()
        .map(|(org, _)| {
            let (max_days, notes) = limits(&state, book.for_owner(Some(&org)));
            crate::tokens::OwnerLimit {
                org,
                max_days,
                notes,
            }
        })
        .collect();
    Ok(policy_answer(&state, &user, &book, owners))
}

/// What the page where an owner makes a token for one of organization
/// `org`'s service accounts needs, in one call: the limits of a token the
/// organization owns (the stricter of its policies and the server's) and
/// its service accounts. To anyone but an owner there is no such
/// organization.
#[server(prefix = "/rpc", endpoint = "orgs/service-token-setup", input = Json)]
pub async fn service_token_setup(org: String) -> Result<ServiceTokenData, ServerFnError> {
    use crate::domain::admin::AdminError;
    let (state, user) = ssr::context()?;
    let ours = |e: sqlx::Error| {
        tracing::error!(error = %e, "reading an organization failed");
        ServerFnError::new("Something went wrong on our side; try again.")
    };
    let o = crate::domain::orgs::as_owner(&state.core.db, &org, user.id)
        .await
        .map_err(|e| match e {
            AdminError::Database(e) => ours(e),
            e => ServerFnError::new(e.to_string()),
        })?;
    let accounts = crate::domain::orgs::service_accounts::of_org(&state.core.db, o.id)
        .await
        .map_err(ours)?;
    let book = state.core.policies();
    let mut policy = policy_answer(&state, &user, book.for_owner(Some(&o.name)), Vec::new());
    // a service account is never an administrator
    policy.admin = false;
    Ok(ServiceTokenData {
        org: o.name,
        policy,
        accounts,
    })
}

/// The answer of [`service_token_setup`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceTokenData {
    /// The organization's name.
    pub org: String,
    /// The limits of its tokens.
    pub policy: TokenPolicy,
    /// Its service accounts, by name.
    pub accounts: Vec<crate::orgs::ServiceAccount>,
}

#[cfg(feature = "ssr")]
fn policy_answer(
    state: &crate::domain::AppState,
    user: &crate::model::CurrentUser,
    p: &crate::tokens::policy::Policies,
    owners: Vec<crate::tokens::OwnerLimit>,
) -> TokenPolicy {
    let (max_days, notes) = limits(state, p);
    TokenPolicy {
        max_days,
        now: crate::domain::db::now(),
        form_id: crate::domain::secret::form_id(),
        notes,
        admin: user.is_admin,
        owners,
    }
}

/// The longest lifetime `p` and the operator allow, and `p`'s rules for
/// new tokens in words.
#[cfg(feature = "ssr")]
fn limits(
    state: &crate::domain::AppState,
    p: &crate::tokens::policy::Policies,
) -> (u32, Vec<String>) {
    let operator = state.core.config.max_token_days;
    let mut notes = Vec::new();
    let max_days = match p.max_lifetime_days {
        Some(d) if d < operator => {
            notes.push(format!("Tokens live at most {d} days."));
            d
        }
        _ => operator,
    };
    if p.forbid_full_access {
        notes.push("Full access is not allowed: choose the scopes the token needs.".into());
    }
    if let Some(s) = &p.allowed_scopes {
        let summary = s.summary();
        notes.push(if summary.is_empty() {
            crate::tokens::policy::NO_SCOPES_ALLOWED.to_owned()
        } else {
            format!("Tokens may be granted at most: {summary}.")
        });
    }
    if let Some(n) = p.max_active_tokens_per_user {
        notes.push(format!("You may have at most {n} active tokens."));
    }
    if let Some(n) = p.inactive_days {
        notes.push(format!("A token not used for {n} days stops working."));
    }
    (max_days, notes)
}
