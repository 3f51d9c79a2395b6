//! The token service: create, list, edit, revoke, regenerate. Every query is
//! scoped to the owner, so another user's token id behaves exactly like one
//! that does not exist. Every transport (plain forms, server functions, the
//! REST API) calls these functions with a typed [`TokenSpec`] and an
//! [`Actor`]; the rules are applied here, once ([`TokenSpec::check`]), and
//! failures carry their own status and code ([`TokenError`]).

mod error;
pub(crate) mod sql;

pub use error::TokenError;

/// How deep derivation may go (a child of a child of …): creation refuses
/// deeper, verification and the list's tree read no further.
pub const MAX_DERIVATION_DEPTH: i64 = sql::max_depth!();

mod change;
mod create;
mod list;
mod revoke;
mod secrets;

pub use change::*;
pub use create::*;
pub use list::*;
pub use revoke::*;
pub use secrets::*;

use super::{
    accounts,
    audit::{record_in, By, Event},
    db::{is_unique_violation, now, on_db, Db},
    secret,
    sessions::{Client, Session},
    verify::Verified,
    Core,
};
use crate::scopes::Scopes;
use crate::tokens::policy::MAX_LIFETIME_DAYS;
use crate::tokens::used::{ScopeUse, UsageReport, WINDOW_DAYS};
use crate::tokens::{
    Ceiling, FieldErrors, Limits, ListQuery, NewSecret, Sort, Status, TokenPage, TokenSpec,
    TokenView, PAGE_SIZE,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// Who acts on tokens: a signed-in user, or a token through the API, which
/// is bounded by its own scopes and expiry.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The user whose tokens are acted on.
    pub user_id: i64,
    /// The acting token's limits (`None` for a signed-in person).
    pub ceiling: Option<Ceiling>,
    /// For a signed-in person: whether the password was confirmed recently
    /// (sudo mode), which creating a full-access token and revoking every
    /// token need.
    pub sudo: bool,
    /// The token acting through the API, if one is.
    pub acting_token: Option<i64>,
    /// Whether that token was minted for a workload: it makes no tokens
    /// (they could outlive it and its rule).
    pub acting_minted: bool,
    /// Where the request came from (for the audit log).
    pub client: Option<Client>,
    /// For a token minted by a trust rule: the rule and the workload
    /// (the exchange acts for the rule's account).
    pub workload: Option<Box<WorkloadMint>>,
    /// An owner of an organization acting on its service account's
    /// tokens (`user_id` is the account's): the person, who is audited
    /// and recorded as the maker.
    pub on_behalf: Option<i64>,
}

/// What a trust rule minting a token records on it and in the audit log.
#[derive(Clone, Debug)]
pub struct WorkloadMint {
    /// The rule.
    pub rule_id: i64,
    /// The workload's `sub` claim.
    pub subject: String,
    /// The audit event's `workload` member: issuer, subject, the claims
    /// the rule matched.
    pub details: serde_json::Value,
}

impl Actor {
    /// A signed-in user who has confirmed their password (sudo mode).
    pub fn user(user_id: i64) -> Actor {
        Actor::in_session(user_id, true)
    }

    /// A signed-in user whose session is in sudo mode or not.
    pub fn in_session(user_id: i64, sudo: bool) -> Actor {
        Actor {
            user_id,
            ceiling: None,
            sudo,
            acting_token: None,
            acting_minted: false,
            client: None,
            workload: None,
            on_behalf: None,
        }
    }

    /// The same actor, acting from `client`.
    pub fn from_client(mut self, client: Client) -> Actor {
        self.client = Some(client);
        self
    }

    /// Who acts, as the audit log records it.
    pub fn by(&self) -> By {
        if let Some(person) = self.on_behalf {
            return match self.acting_token {
                Some(token) => By::Token {
                    user: person,
                    token,
                },
                None => By::User(person),
            };
        }
        match (self.acting_token, &self.workload) {
            (_, Some(_)) => By::System,
            (Some(token), None) => By::Token {
                user: self.user_id,
                token,
            },
            (None, None) => By::User(self.user_id),
        }
    }

    fn event(&self, event: &'static str, token_id: Option<i64>) -> Event {
        Event::new(
            event,
            Some(self.user_id),
            token_id,
            self.by(),
            self.client.as_ref(),
        )
    }

    /// The person signed in to `session`: in sudo mode if it is, or once
    /// `password` (the sudo field as sent; empty when not) proves it. A
    /// wrong password is a field error on the sudo field.
    pub async fn for_session(
        core: &Core,
        client: &Client,
        session: &Session,
        password: &str,
    ) -> Result<Actor, TokenError> {
        let sudo = accounts::sudo(core, client, session, password).await?;
        Ok(Actor::in_session(session.user.id, sudo).from_client(client.clone()))
    }

    /// `Ok` unless a person who has not confirmed their password recently
    /// attempts what needs it (`for_what`, as the message says it).
    fn confirmed(&self, for_what: &'static str) -> Result<(), TokenError> {
        if self.ceiling.is_none() && !self.sudo {
            return Err(TokenError::SudoRequired(for_what));
        }
        Ok(())
    }

    /// A token acting through the API: never beyond its own scopes and life.
    pub fn token(v: &Verified) -> Actor {
        Actor {
            user_id: v.user_id,
            ceiling: Some(Ceiling {
                scopes: v.scopes.clone(),
                expires_at: v.expires_at,
                networks: v.networks.clone(),
                resources: v.resources.clone(),
                owner: v.owner.clone(),
            }),
            sudo: false,
            acting_token: Some(v.token_id),
            acting_minted: v.minted,
            client: None,
            workload: None,
            on_behalf: None,
        }
    }

    /// `Ok` when this actor may act on a token with `scopes`.
    fn may_touch(&self, scopes: &Scopes) -> Result<(), TokenError> {
        match &self.ceiling {
            Some(c) if !c.covers(scopes) => Err(TokenError::BeyondCaller(c.scopes.to_string())),
            _ => Ok(()),
        }
    }

    /// `Ok` unless the organization requires a second factor
    /// (`require_two_factor`) and the person this actor acts for has none:
    /// then no token is made or given a new secret (a trust rule's mint
    /// is the rule's, made when it was set up).
    pub(crate) async fn second_factor_ready(
        &self,
        core: &Core,
        policy: &crate::tokens::policy::Policies,
    ) -> Result<(), TokenError> {
        if policy.require_two_factor
            && self.workload.is_none()
            && !super::two_factor::satisfied(core, self.on_behalf.unwrap_or(self.user_id)).await?
        {
            return Err(TokenError::TwoFactorRequired);
        }
        Ok(())
    }

    /// The limits a write by this actor of a token owned by `owner` (an
    /// organization, or `None`: the person) is checked against, with the
    /// policies as stored now ([`Core::policies_for_write`]): an
    /// organization's token is held to the stricter of its policies and
    /// the server's.
    async fn limits(&self, core: &Core, owner: Option<&str>) -> Limits {
        Limits {
            now: now(),
            max_days: core.config.max_token_days,
            ceiling: self.ceiling.clone(),
            policy: core.policies_for_write().await.for_owner(owner).clone(),
        }
    }
}

/// How often a token was presented after it ended, and the last time
/// (the columns `presented_after_end`, `last_presented_*`).
#[derive(sqlx_macros::FromRow)]
pub(crate) struct Presentations {
    pub presented_after_end: i64,
    pub last_presented_at: Option<DateTime<Utc>>,
    pub last_presented_ip: Option<String>,
    pub last_presented_agent: Option<String>,
}

#[derive(sqlx_macros::FromRow)]
struct Row {
    id: i64,
    name: String,
    description: String,
    hint: String,
    scopes: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    last_used_agent: Option<String>,
    revoked_by: Option<String>,
    revoked_reason: Option<String>,
    previous_valid_until: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    presented: Presentations,
    allowed_networks: String,
    resources: String,
    parent_id: Option<i64>,
    created_by_token: Option<i64>,
    workload_rule_id: Option<i64>,
    workload_subject: Option<String>,
    owner_org: Option<String>,
    approval_state: Option<String>,
    made_by: Option<String>,
}

impl Row {
    fn into_view(self) -> TokenView {
        // Stored scope strings were validated on the way in; an unparsable
        // one (catalog shrunk since) grants nothing rather than everything.
        let scopes = Scopes::from_stored(&self.scopes);
        TokenView {
            id: self.id,
            name: self.name,
            description: self.description,
            scopes,
            allowed_networks: crate::tokens::Networks::from_stored(&self.allowed_networks),
            resources: crate::tokens::Resources::from_stored(&self.resources),
            hint: self.hint,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            last_used_ip: self.last_used_ip,
            last_used_agent: self.last_used_agent,
            revoked_by: self.revoked_by,
            revoked_reason: self.revoked_reason,
            previous_valid_until: self.previous_valid_until,
            presented_after_end: self.presented.presented_after_end,
            last_presented: self.presented.last_presented_at.map(|at| {
                (
                    at,
                    self.presented.last_presented_ip.unwrap_or_default(),
                    self.presented.last_presented_agent.unwrap_or_default(),
                )
            }),
            blocked: None,
            usage: None,
            parent_id: self.parent_id,
            created_by_token: self.created_by_token,
            children: Vec::new(),
            owner: self.owner_org,
            approval: self.approval_state,
            made_by: self.made_by,
            workload: self
                .workload_rule_id
                .map(|rule_id| crate::tokens::WorkloadOrigin {
                    rule_id,
                    subject: self.workload_subject.unwrap_or_default(),
                }),
        }
    }
}

#[derive(sqlx_macros::FromRow)]
struct OwnedRow {
    #[sqlx(flatten)]
    row: Row,
    user_id: i64,
    username: String,
}

/// Tokens of every user (or of `user_id`), newest first, last used (or
/// created, when never used) before `unused_before`: (owner id, owner
/// name, token). For the credentials inventory.
pub async fn of_everyone(
    db: &Db,
    user_id: Option<i64>,
    unused_before: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(i64, String, TokenView)>, sqlx::Error> {
    let rows: Vec<OwnedRow> = on_db!(db, pool => sqlx::query_as(sql::INVENTORY)
        .bind(user_id.unwrap_or(0))
        .bind(unused_before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await)?;
    Ok(owned_views(rows))
}

/// (owner id, owner name, token) of each row.
fn owned_views(rows: Vec<OwnedRow>) -> Vec<(i64, String, TokenView)> {
    rows.into_iter()
        .map(|r| (r.user_id, r.username, r.row.into_view()))
        .collect()
}

/// The live tokens of organization `org_id`'s service accounts, by
/// account and name: (account id, account name, token).
pub async fn of_service_accounts(
    db: &Db,
    org_id: i64,
) -> Result<Vec<(i64, String, TokenView)>, sqlx::Error> {
    let rows: Vec<OwnedRow> = on_db!(db, pool => sqlx::query_as(sql::OF_ORG_SERVICE_ACCOUNTS)
        .bind(org_id)
        .bind(now())
        .fetch_all(pool)
        .await)?;
    Ok(owned_views(rows))
}

/// Refuses the administrators' areas (Administration, Metrics) to anyone
/// but an administrator.
pub(crate) async fn admin_scope_check(
    core: &Core,
    user_id: i64,
    scopes: &Scopes,
) -> Result<(), TokenError> {
    let Scopes::Custom(m) = scopes else {
        return Ok(());
    };
    let Some(area) = crate::scopes::ADMIN_ONLY_AREAS
        .iter()
        .find(|a| m.contains_key(**a))
        .and_then(|a| crate::scopes::area(a))
    else {
        return Ok(());
    };
    if !super::users::is_admin(&core.db, user_id).await? {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "scopes".to_owned(),
            format!(
                "Only administrators can give tokens the {} scope.",
                area.label
            ),
        )])));
    }
    Ok(())
}

fn name_taken(name: &str) -> TokenError {
    let mut e = FieldErrors::new();
    e.insert(
        "name".into(),
        format!("You already have a token named \u{201c}{name}\u{201d}. Choose another name."),
    );
    TokenError::Invalid(e)
}

/// What the person (or token) setting `token`'s allowlist from `client`
/// should know: that the list leaves their own address out. A warning,
/// not a refusal: a token made on a laptop for a CI runner is normal.
pub fn reach_warnings(token: &TokenView, client: Option<&Client>) -> Vec<String> {
    match client {
        Some(c) if !token.allowed_networks.allows(c.ip) => vec![format!(
            "The allowlist does not include {}, the address this request came from: the token will not work from here.",
            crate::tokens::reach::plain(c.ip)
        )],
        _ => Vec::new(),
    }
}

/// The live tokens trust rules minted for `user_id`, newest first.
pub async fn live_minted(db: &Db, user_id: i64) -> Result<Vec<TokenView>, sqlx::Error> {
    let rows: Vec<Row> = on_db!(db, pool => sqlx::query_as(sql::LIVE_MINTED).bind(user_id).bind(now()).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(Row::into_view).collect())
}

/// One token of `user_id` ([`TokenError::NotFound`] for anyone else's).
pub async fn get(db: &Db, user_id: i64, id: i64) -> Result<TokenView, TokenError> {
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(sql::GET).bind(id).bind(user_id).fetch_optional(pool).await)?;
    row.map(Row::into_view).ok_or(TokenError::NotFound)
}

async fn by_form_id(
    db: &Db,
    user_id: i64,
    form_id: &str,
) -> Result<Option<TokenView>, sqlx::Error> {
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(sql::BY_FORM_ID).bind(user_id).bind(form_id).fetch_optional(pool).await)?;
    Ok(row.map(Row::into_view))
}

/// What sudo mode's message says creating a full-access token needs.
pub const FOR_FULL_ACCESS: &str = "to create a full-access token";
/// What sudo mode's message says giving a token full access needs.
pub const FOR_FULL_ACCESS_EDIT: &str = "to give this token full access";
/// What sudo mode's message says deriving a token with full access needs.
pub const FOR_POWERFUL_DERIVE: &str = "to derive a token with full access";
/// What sudo mode's message says a new secret for a full-access token needs.
pub const FOR_POWERFUL_SECRET: &str = "to get a new secret for a full-access token";
/// What sudo mode's message says widening a full-access token's allowlist needs.
pub const FOR_POWERFUL_NETWORKS: &str = "to let a full-access token work from more addresses";
/// What sudo mode's message says revoking every token needs.
pub const FOR_REVOKE_ALL: &str = "to revoke all your tokens";
