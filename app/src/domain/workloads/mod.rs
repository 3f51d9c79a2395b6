//! Trusted workloads: trust rules, made by users for themselves and by
//! administrators for any account (service accounts included), and the
//! RFC 8693 exchange ([`exchange`]) that turns a CI job's OIDC ID token
//! into a minutes-long Tessera token. Removing a rule revokes what it
//! minted.

mod exchange;
mod keys;
pub(crate) mod sql;

pub use exchange::{
    exchange, ExchangeError, ExchangeRequest, Exchanged, ACCESS_TOKEN_TYPE, GRANT_TYPE,
    ID_TOKEN_TYPE, JWT_TYPE,
};
pub use keys::IssuerKeys;

use super::{
    audit::{record_in, By, Event},
    db::{now, on_db},
    sessions::Client,
    tokens::{self as token_service, Actor, TokenError},
    Core,
};
use crate::tokens::{Expiry, FieldErrors, Networks, Resources, TokenSpec};
use crate::workloads::{RuleSpec, TrustRule};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Duration;

/// How trust rules and exchanges reach issuers.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// Issuers may be `http://` URLs (tests and local issuers only).
    pub allow_insecure_issuers: bool,
    /// How long an issuer's keys are used before they are fetched again.
    pub key_ttl: Duration,
    /// The least time between two fetches of one issuer's keys (an
    /// unknown `kid`, or a failed fetch, waits this long to try again).
    pub key_refetch: Duration,
    /// How long one discovery or JWKS request may take.
    pub fetch_timeout: Duration,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            allow_insecure_issuers: false,
            key_ttl: Duration::from_secs(300),
            key_refetch: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// The most live rules one account may have.
pub const MAX_RULES_PER_USER: i64 = 100;

/// The reason tokens are revoked with when their rule goes.
pub const RULE_REMOVED: &str = "its trust rule was removed";

#[derive(sqlx_macros::FromRow)]
struct RuleRow {
    id: i64,
    user_id: i64,
    username: String,
    issuer: String,
    audience: String,
    conditions: String,
    scopes: String,
    allowed_networks: String,
    resources: String,
    max_minutes: i32,
    description: String,
    created_at: DateTime<Utc>,
    created_by: Option<i64>,
    active_tokens: i64,
}

impl RuleRow {
    fn into_rule(self) -> TrustRule {
        TrustRule {
            id: self.id,
            user_id: self.user_id,
            username: self.username,
            issuer: self.issuer,
            audience: self.audience,
            // written by `add_rule` from a checked map; unreadable, it
            // matches nothing (an empty map is refused at creation)
            conditions: serde_json::from_str(&self.conditions).unwrap_or_default(),
            scopes: self.scopes,
            allowed_networks: Networks::from_stored(&self.allowed_networks).strings(),
            resources: Resources::from_stored(&self.resources).map().clone(),
            max_minutes: u32::try_from(self.max_minutes).unwrap_or(1),
            description: self.description,
            created_at: self.created_at,
            created_by: self.created_by,
            active_tokens: self.active_tokens,
        }
    }
}

/// Who makes or removes a rule: a person for their own account (sudo
/// mode), or an administrator for any account (a page or the CLI).
#[derive(Clone, Debug)]
pub enum Maker {
    /// A signed-in person, for their own account.
    Owner(Actor),
    /// An administrator (`None`: the admin CLI), from `client`.
    Admin(Option<i64>, Option<Client>),
}

impl Maker {
    fn by(&self) -> By {
        match self {
            Maker::Owner(a) => a.by(),
            Maker::Admin(id, _) => By::Admin(*id),
        }
    }

    fn client(&self) -> Option<&Client> {
        match self {
            Maker::Owner(a) => a.client.as_ref(),
            Maker::Admin(_, c) => c.as_ref(),
        }
    }

    /// The account whose rules this maker sees (0: every account).
    fn scope(&self) -> i64 {
        match self {
            Maker::Owner(a) => a.user_id,
            Maker::Admin(..) => 0,
        }
    }
}

fn field(name: &str, message: String) -> TokenError {
    TokenError::Invalid(FieldErrors::from([(name.to_owned(), message)]))
}

/// The rules of `user_id` (0: of every account, for administrators).
pub async fn rules(core: &Core, user_id: i64) -> Result<Vec<TrustRule>, sqlx::Error> {
    let rows: Vec<RuleRow> = on_db!(&core.db, pool => sqlx::query_as(sql::LIST)
        .bind(now())
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(RuleRow::into_rule).collect())
}

/// One live rule the maker may see.
pub async fn rule(core: &Core, maker: &Maker, id: i64) -> Result<TrustRule, TokenError> {
    let row: Option<RuleRow> = on_db!(&core.db, pool => sqlx::query_as(sql::GET)
        .bind(now())
        .bind(id)
        .bind(maker.scope())
        .fetch_optional(pool)
        .await)?;
    row.map(RuleRow::into_rule).ok_or(TokenError::NotFound)
}

/// Makes a trust rule for `user_id` after applying every rule: the spec's
/// own, the policies (`allowed_workload_issuers`, and those any token of
/// the account must keep), and the account's reach (a person only for
/// themselves, in sudo mode; the administrators' scopes only for an
/// administrator's account). Audited as `workload.rule_created`.
pub async fn add_rule(
    core: &Core,
    maker: &Maker,
    user_id: i64,
    spec: &RuleSpec,
) -> Result<TrustRule, TokenError> {
    if let Maker::Owner(actor) = maker {
        if actor.user_id != user_id || actor.ceiling.is_some() {
            return Err(field(
                "user",
                "You can make trust rules only for your own account; an administrator makes them for others.".into(),
            ));
        }
        if !actor.sudo {
            return Err(TokenError::SudoRequired(FOR_RULE));
        }
    }
    let checked = spec.check(
        &core.config.public_url,
        core.config.workload.allow_insecure_issuers,
    )?;
    let policies = core.policies_for_write().await;
    // a rule mints tokens: making one is making tokens
    if let Maker::Owner(actor) = maker {
        actor.second_factor_ready(core, &policies).await?;
    }
    if let Some(p) = policies.issuer_problem(&checked.issuer) {
        return Err(TokenError::PolicyViolation(
            crate::tokens::policy::ALLOWED_WORKLOAD_ISSUERS,
            p,
        ));
    }
    // what the minted tokens may be is what any token of the account may
    // be: the same checks, on a token of the rule's longest lifetime
    let as_token = TokenSpec {
        name: "trust rule".into(),
        description: String::new(),
        expiry: Expiry::Minutes(checked.max_minutes),
        scopes: spec.scopes.clone(),
        networks: spec.networks.clone(),
        owner: None,
        resources: spec.resources.clone(),
    };
    let limits = crate::tokens::Limits {
        now: now(),
        max_days: core.config.max_token_days,
        ceiling: None,
        policy: policies.server.clone(),
    };
    as_token.check(&limits, false)?;
    token_service::admin_scope_check(core, user_id, &spec.scopes).await?;
    let (count,): (i64,) = on_db!(&core.db, pool => sqlx::query_as(sql::COUNT_OF_USER)
        .bind(user_id)
        .fetch_one(pool)
        .await)?;
    if count >= MAX_RULES_PER_USER {
        return Err(field(
            "issuer",
            format!(
                "An account can have at most {MAX_RULES_PER_USER} trust rules; remove one first."
            ),
        ));
    }
    let conditions = serde_json::to_string(&checked.conditions).unwrap_or_default();
    let scopes = spec.scopes.to_string();
    let created_by = match maker {
        Maker::Owner(a) => Some(a.user_id),
        Maker::Admin(id, _) => *id,
    };
    let event = Event::new(
        "workload.rule_created",
        Some(user_id),
        None,
        maker.by(),
        maker.client(),
    );
    let details = json!({
        "issuer": checked.issuer,
        "audience": checked.audience,
        "conditions": checked.conditions,
        "scopes": scopes,
        "max_minutes": checked.max_minutes,
    });
    let at = now();
    let id: i64 = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(sql::INSERT)
            .bind(user_id)
            .bind(created_by)
            .bind(&checked.issuer)
            .bind(&checked.audience)
            .bind(&conditions)
            .bind(&scopes)
            .bind(spec.networks.to_stored())
            .bind(spec.resources.granted(&spec.scopes).to_stored())
            .bind(i32::try_from(checked.max_minutes).unwrap_or(1))
            .bind(&checked.description)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
        let mut details = details.clone();
        details["rule"] = json!(id);
        record_in!(&mut *tx, event.clone().with(details))?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(id)
    }.await)?;
    rule(core, &Maker::Admin(None, None), id).await
}

/// Removes rule `id` (a person: only their own; sudo mode is not needed
/// to take trust away) and revokes every live token it minted. Audited as
/// `workload.rule_removed`, each revocation as `token.revoked`.
pub async fn remove_rule(core: &Core, maker: &Maker, id: i64) -> Result<u64, TokenError> {
    let at = now();
    let event = Event::new(
        "workload.rule_removed",
        None,
        None,
        maker.by(),
        maker.client(),
    );
    let removed: Option<(i64, String)> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let row: Option<(i64, String)> = sqlx::query_as(sql::REMOVE)
            .bind(at)
            .bind(id)
            .bind(maker.scope())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some((user_id, issuer)) = &row {
            let mut e = event.clone().with(json!({ "rule": id, "issuer": issuer }));
            e.user_id = Some(*user_id);
            record_in!(&mut *tx, e)?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }.await)?;
    let Some((user_id, _)) = removed else {
        return Err(TokenError::NotFound);
    };
    let revoke = Event::new(
        "token.revoked",
        Some(user_id),
        None,
        maker.by(),
        maker.client(),
    );
    token_service::revoke_minted_as(core, revoke, user_id, id, RULE_REMOVED).await
}

/// Whether rule `id` is still live.
pub(crate) async fn is_live(core: &Core, id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(sql::LIVE)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.is_some())
}

/// Revokes what removed rule `id` of account `user_id` still has live
/// (a token an exchange minted while the rule was being removed).
pub(crate) async fn sweep_removed(core: &Core, user_id: i64, id: i64) -> Result<u64, TokenError> {
    let revoke = Event::new("token.revoked", Some(user_id), None, By::System, None);
    token_service::revoke_minted_as(core, revoke, user_id, id, RULE_REMOVED).await
}

/// What sudo mode's message says making a trust rule needs.
pub const FOR_RULE: &str = "to trust a workload with your account";

/// Forgets exchanged ID tokens past their end (housekeeping).
pub async fn prune(core: &Core) -> Result<u64, sqlx::Error> {
    let done = on_db!(&core.db, pool => sqlx::query(sql::PRUNE_JTIS)
        .bind(now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done)
}

/// Makes a service account: a non-human user owned by administrators,
/// with no password (nothing ever signs in as it) — only trust rules and
/// tokens. Audited as `admin.service_account_created`.
pub async fn create_service_account(
    core: &Core,
    by: Option<i64>,
    name: &str,
) -> Result<i64, super::admin::AdminError> {
    use super::admin::AdminError;
    let name = name.trim();
    if let Some(problem) = crate::model::rules::username_problem(name) {
        return Err(AdminError::Invalid(problem));
    }
    let event = Event::new(
        "admin.service_account_created",
        None,
        None,
        By::Admin(by),
        None,
    );
    super::admin::insert_account(core, name, None, false, event).await
}
