//! The token service: create, list, edit, revoke, regenerate. Every query is
//! scoped to the owner, so another user's token id behaves exactly like one
//! that does not exist. Every transport (plain forms, server functions, the
//! REST API) calls these functions with a typed [`TokenSpec`] and an
//! [`Actor`]; the rules are applied here, once ([`TokenSpec::check`]), and
//! failures carry their own status and code ([`TokenError`]).

mod error;
pub(crate) mod sql;

pub use error::TokenError;

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
    /// Where the request came from (for the audit log).
    pub client: Option<Client>,
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
            client: None,
        }
    }

    /// The same actor, acting from `client`.
    pub fn from_client(mut self, client: Client) -> Actor {
        self.client = Some(client);
        self
    }

    /// Who acts, as the audit log records it.
    pub fn by(&self) -> By {
        match self.acting_token {
            Some(token) => By::Token {
                user: self.user_id,
                token,
            },
            None => By::User(self.user_id),
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
            }),
            sudo: false,
            acting_token: Some(v.token_id),
            client: None,
        }
    }

    /// `Ok` when this actor may act on a token with `scopes`.
    fn may_touch(&self, scopes: &Scopes) -> Result<(), TokenError> {
        match &self.ceiling {
            Some(c) if !c.covers(scopes) => Err(TokenError::BeyondCaller(c.scopes.to_string())),
            _ => Ok(()),
        }
    }

    fn limits(&self, core: &Core) -> Limits {
        Limits {
            now: now(),
            max_days: core.config.max_token_days,
            ceiling: self.ceiling.clone(),
            policy: (*core.policies()).clone(),
        }
    }
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
    presented_after_end: i64,
    last_presented_at: Option<DateTime<Utc>>,
    last_presented_ip: Option<String>,
    last_presented_agent: Option<String>,
    allowed_networks: String,
    resources: String,
    parent_id: Option<i64>,
    created_by_token: Option<i64>,
}

impl Row {
    fn into_view(self) -> TokenView {
        // Stored scope strings were validated on the way in; an unparsable
        // one (catalog shrunk since) grants nothing rather than everything.
        let scopes =
            Scopes::parse(&self.scopes).unwrap_or_else(|_| Scopes::Custom(Default::default()));
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
            presented_after_end: self.presented_after_end,
            last_presented: self.last_presented_at.map(|at| {
                (
                    at,
                    self.last_presented_ip.unwrap_or_default(),
                    self.last_presented_agent.unwrap_or_default(),
                )
            }),
            blocked: None,
            usage: None,
            parent_id: self.parent_id,
            created_by_token: self.created_by_token,
            children: Vec::new(),
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
    Ok(rows
        .into_iter()
        .map(|r| (r.user_id, r.username, r.row.into_view()))
        .collect())
}

/// Refuses the administrators' areas (Administration, Metrics) to anyone
/// but an administrator.
async fn admin_scope_check(core: &Core, user_id: i64, scopes: &Scopes) -> Result<(), TokenError> {
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
    if !super::admin::is_admin(&core.db, user_id).await? {
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

/// Creates a token after applying the rules to `spec`. `form_id` (when not
/// empty) makes a repeated submission of the same form create nothing.
pub async fn create(
    core: &Core,
    actor: &Actor,
    spec: &TokenSpec,
    form_id: &str,
) -> Result<NewSecret, TokenError> {
    insert(core, actor, spec, form_id, None).await
}

/// The limits a token derived from `parent` must stay within.
fn ceiling_of(parent: &TokenView) -> Ceiling {
    Ceiling {
        scopes: parent.scopes.clone(),
        expires_at: parent.expires_at,
        networks: parent.allowed_networks.clone(),
        resources: parent.resources.clone(),
    }
}

/// What a derived token should be; what is `None` (or an empty name) is
/// taken from the parent: its scopes, allowlist and resources, a name made
/// from its own, and one hour (never past the parent's end).
#[derive(Clone, Debug, Default)]
pub struct DeriveSpec {
    /// Its name (empty: made from the parent's).
    pub name: String,
    /// Its description.
    pub description: String,
    /// When it ends (`None`: one hour, or what is left of the parent).
    pub expiry: Option<crate::tokens::Expiry>,
    /// Scopes within the parent's.
    pub scopes: Option<Scopes>,
    /// An allowlist within the parent's.
    pub networks: Option<crate::tokens::Networks>,
    /// Resource limits within the parent's.
    pub resources: Option<crate::tokens::Resources>,
}

/// Derives a child of the actor's token `parent_id`: within the parent's
/// scopes, networks and resources, ending no later than it (and, for a
/// token acting through the API, within that token's own limits too). The
/// secret is returned once.
pub async fn derive(
    core: &Core,
    actor: &Actor,
    parent_id: i64,
    asked: &DeriveSpec,
) -> Result<NewSecret, TokenError> {
    let mut parent = changeable(core, actor, parent_id).await?;
    parent.apply_policies(&core.policies(), now());
    if let Some(b) = &parent.blocked {
        return Err(TokenError::PolicyViolation(
            crate::tokens::policy::policy_key(&b.policy),
            b.sentence(),
        ));
    }
    let depth: Vec<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(sql::DEPTH)
        .bind(parent_id)
        .fetch_all(pool)
        .await)?;
    if depth.first().map_or(0, |d| d.0) + 1 > super::verify::MAX_DERIVATION_DEPTH {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "parent".to_owned(),
            format!(
                "Tokens can be derived at most {} levels deep.",
                super::verify::MAX_DERIVATION_DEPTH
            ),
        )])));
    }
    let scopes = asked
        .scopes
        .clone()
        .unwrap_or_else(|| parent.scopes.clone());
    let name = if asked.name.trim().is_empty() {
        let stem: String = parent.name.chars().take(40).collect();
        format!(
            "{stem} \u{b7} derived {:06x}",
            rand::random::<u32>() & 0xff_ffff
        )
    } else {
        asked.name.clone()
    };
    let left = (parent.expires_at - now()).num_minutes().clamp(1, 60);
    let spec = TokenSpec {
        name,
        description: asked.description.clone(),
        expiry: asked.expiry.unwrap_or(crate::tokens::Expiry::Minutes(
            u32::try_from(left).unwrap_or(60),
        )),
        networks: asked
            .networks
            .clone()
            .unwrap_or_else(|| parent.allowed_networks.clone()),
        resources: asked
            .resources
            .clone()
            .unwrap_or_else(|| parent.resources.granted(&scopes)),
        scopes,
    };
    // the caller's own limits first (a token acting through the API)
    if actor.ceiling.is_some() {
        spec.check(&actor.limits(core), false)?;
    }
    insert(core, actor, &spec, "", Some(&parent)).await
}

/// Creates a token (a child of `parent` when given) after applying the
/// rules to `spec`.
async fn insert(
    core: &Core,
    actor: &Actor,
    spec: &TokenSpec,
    form_id: &str,
    parent: Option<&TokenView>,
) -> Result<NewSecret, TokenError> {
    let mut limits = actor.limits(core);
    if let Some(p) = parent {
        limits.ceiling = Some(ceiling_of(p));
    }
    let input = spec.check(&limits, false)?;
    admin_scope_check(core, actor.user_id, &input.scopes).await?;
    // a secret that reaches everything needs the password, derived or not:
    // a borrowed browser must not mint one
    if input.scopes.is_powerful() {
        actor.confirmed(if parent.is_some() {
            FOR_POWERFUL_DERIVE
        } else {
            FOR_FULL_ACCESS
        })?;
    }
    let (db, user_id) = (&core.db, actor.user_id);
    // an idempotency key is a client's random id: letters, digits, '-', '_'
    let form_id: String = form_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    let form_id = (!form_id.is_empty()).then_some(form_id);
    if let Some(fid) = &form_id {
        if let Some(existing) = by_form_id(db, user_id, fid).await? {
            return Err(TokenError::AlreadySubmitted(existing));
        }
    }
    let created = now();
    let expires_at = input.expires_at.unwrap_or(created + Duration::days(30));
    let (plaintext, stored) = secret::generate();
    let scopes = input.scopes.to_string();
    let mut details = json!({
        "name": input.name,
        "scopes": scopes,
        "expires_at": expires_at,
    });
    if !input.networks.is_any() {
        details["allowed_networks"] = json!(input.networks.strings());
    }
    if !input.resources.is_empty() {
        details["resources"] = json!(input.resources.map());
    }
    if let Some(p) = parent {
        details["derived_from"] = json!(p.id);
    }
    let mut event = actor.event("token.created", None).with(details);
    let cap = core.policies().max_active_tokens_per_user;
    let inserted: Result<Result<Row, TokenError>, sqlx::Error> = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        if let Some(cap) = cap {
            let (active,): (i64,) = sqlx::query_as(sql::ACTIVE_COUNT)
                .bind(user_id)
                .bind(created)
                .fetch_one(&mut *tx)
                .await?;
            if active >= i64::from(cap) {
                return Ok(Err(TokenError::PolicyViolation(
                    crate::tokens::policy::MAX_ACTIVE_TOKENS_PER_USER,
                    format!("Your organization's policy (max_active_tokens_per_user) allows at most {cap} active tokens; revoke one you no longer use first."),
                )));
            }
        }
        let row: Row = sqlx::query_as(sql::INSERT)
            .bind(user_id)
            .bind(&input.name)
            .bind(&input.description)
            .bind(&stored.hash)
            .bind(&stored.hint)
            .bind(&scopes)
            .bind(created)
            .bind(expires_at)
            .bind(&form_id)
            .bind(input.networks.to_stored())
            .bind(input.resources.to_stored())
            .bind(parent.map(|p| p.id))
            .bind(actor.acting_token)
            .fetch_one(&mut *tx)
            .await?;
        event.token_id = Some(row.id);
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok(Ok(row))
    }.await);
    match inserted {
        Ok(Ok(row)) => {
            let token = row.into_view();
            Ok(NewSecret {
                warnings: reach_warnings(&token, actor.client.as_ref()),
                token,
                secret: plaintext.into_string(),
            })
        }
        Ok(Err(refused)) => Err(refused),
        Err(e) if is_unique_violation(&e) => {
            // A racing duplicate submit, or the name is in use.
            if let Some(fid) = &form_id {
                if let Some(existing) = by_form_id(db, user_id, fid).await? {
                    return Err(TokenError::AlreadySubmitted(existing));
                }
            }
            Err(name_taken(&input.name))
        }
        Err(e) => Err(e.into()),
    }
}

/// The token `id` of the actor's user, checked to be within the actor's
/// reach, and refused when it is revoked or expired.
async fn changeable(core: &Core, actor: &Actor, id: i64) -> Result<TokenView, TokenError> {
    let current = get(&core.db, actor.user_id, id).await?;
    actor.may_touch(&current.scopes)?;
    match current.status(now()) {
        Status::Revoked => Err(TokenError::Revoked),
        Status::Expired => Err(TokenError::Expired),
        Status::Active => Ok(current),
    }
}

/// Why a token could not be changed after all (its state changed between
/// reading it and the conditional UPDATE).
async fn why_unchangeable(db: &Db, user_id: i64, id: i64) -> TokenError {
    match get(db, user_id, id).await {
        Ok(t) if t.status(now()) == Status::Revoked => TokenError::Revoked,
        Ok(t) if t.status(now()) == Status::Expired => TokenError::Expired,
        Ok(_) => TokenError::NotFound,
        Err(e) => e,
    }
}

/// Edits an active token. `change` turns its current settings into the
/// wanted ones (a form ignores them; the API's partial edit starts from
/// them); the rules apply to the result.
pub async fn update(
    core: &Core,
    actor: &Actor,
    id: i64,
    change: impl FnOnce(&TokenView) -> Result<TokenSpec, FieldErrors>,
) -> Result<TokenView, TokenError> {
    let current = changeable(core, actor, id).await?;
    let limits = actor.limits(core);
    let input = change(&current)?.check(&limits, true)?;
    if input.scopes != current.scopes {
        admin_scope_check(core, actor.user_id, &input.scopes).await?;
    }
    if input.scopes.is_powerful() && !current.scopes.is_powerful() {
        actor.confirmed(FOR_FULL_ACCESS_EDIT)?;
    }
    // where a secret that reaches everything works from is as sensitive
    if input.scopes.is_powerful() && !input.networks.within(&current.allowed_networks) {
        actor.confirmed(FOR_POWERFUL_NETWORKS)?;
    }
    let at = now();
    if let (None, (max, true)) = (input.expires_at, limits.lifetime()) {
        if current.expires_at - at > Duration::days(i64::from(max) + 1) {
            return Err(TokenError::Invalid(FieldErrors::from([(
                "expiry".to_owned(),
                format!("Your organization's policy ({MAX_LIFETIME_DAYS}) allows tokens to live at most {max} days; this token expires later: choose a new expiration."),
            )])));
        }
    }
    let (db, user_id) = (&core.db, actor.user_id);
    let scopes = input.scopes.to_string();
    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, before: serde_json::Value, after: serde_json::Value| {
        if before != after {
            changed.insert(field.into(), json!({"before": before, "after": after}));
        }
    };
    note("name", json!(current.name), json!(input.name));
    note(
        "description",
        json!(current.description),
        json!(input.description),
    );
    note("scopes", json!(current.scopes.to_string()), json!(scopes));
    note(
        "allowed_networks",
        json!(current.allowed_networks.strings()),
        json!(input.networks.strings()),
    );
    note(
        "resources",
        json!(current.resources.map()),
        json!(input.resources.map()),
    );
    if let Some(e) = input.expires_at {
        note("expires_at", json!(current.expires_at), json!(e));
    }
    let event = actor
        .event("token.edited", Some(id))
        .with(serde_json::Value::Object(changed));
    let updated: Result<Option<Row>, sqlx::Error> = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let row: Option<Row> = sqlx::query_as(sql::UPDATE)
            .bind(&input.name)
            .bind(&input.description)
            .bind(&scopes)
            .bind(input.expires_at)
            .bind(at)
            .bind(id)
            .bind(user_id)
            .bind(input.networks.to_stored())
            .bind(input.resources.to_stored())
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some() {
            record_in!(&mut *tx, event)?;
        }
        tx.commit().await?;
        Ok(row)
    }.await);
    match updated {
        Ok(Some(row)) => {
            core.verifier.evict(user_id, Some(id));
            Ok(row.into_view())
        }
        Ok(None) => Err(why_unchangeable(db, user_id, id).await),
        Err(e) if is_unique_violation(&e) => Err(name_taken(&input.name)),
        Err(e) => Err(e.into()),
    }
}

/// Revokes every live descendant of token `$id` inside the open
/// transaction `$tx`, each with a copy of `$event` (revoked by `$by`, as
/// derived from `$id`). A macro: the transaction's type is per dialect.
macro_rules! revoke_descendants {
    ($tx:expr, $at:expr, $id:expr, $by:expr, $event:expr) => {{
        let children: Vec<(i64,)> = sqlx::query_as(sql::REVOKE_DESCENDANTS)
            .bind($at)
            .bind($id)
            .bind($by)
            .bind(DERIVED_REVOKED)
            .fetch_all($tx)
            .await?;
        for (child,) in children {
            let mut e = $event.clone();
            e.token_id = Some(child);
            e = e.with(json!({"by": $by, "reason": DERIVED_REVOKED, "derived_from": $id}));
            record_in!($tx, e)?;
        }
    }};
}

/// Revokes a token, for good. Revoking a revoked token changes nothing.
pub async fn revoke(core: &Core, actor: &Actor, id: i64) -> Result<TokenView, TokenError> {
    if actor.ceiling.is_some() {
        let current = get(&core.db, actor.user_id, id).await?;
        actor.may_touch(&current.scopes)?;
    }
    let event = actor.event("token.revoked", Some(id));
    revoke_as(core, event, actor.user_id, id, "").await
}

/// Revokes `owner`'s token `id` with `reason`, recording `event` (whose
/// actor says who revoked it) in the same transaction. Revoking a revoked
/// token changes nothing and records nothing.
pub async fn revoke_as(
    core: &Core,
    event: Event,
    owner: i64,
    id: i64,
    reason: &str,
) -> Result<TokenView, TokenError> {
    let db = &core.db;
    let at = now();
    let by = event.by.revoked_by();
    let event = event.with(json!({"by": by, "reason": reason}));
    let reason = (!reason.is_empty()).then_some(reason);
    let row: Option<Row> = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let row: Option<Row> = sqlx::query_as(sql::REVOKE)
            .bind(at)
            .bind(id)
            .bind(owner)
            .bind(by)
            .bind(reason)
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some() {
            // what was derived from it goes with it
            revoke_descendants!(&mut *tx, at, id, by, &event);
            record_in!(&mut *tx, event)?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }.await)?;
    core.verifier.evict(owner, Some(id));
    match row {
        Some(row) => Ok(row.into_view()),
        None => get(db, owner, id).await,
    }
}

/// The reason a descendant of a revoked token is revoked with.
pub const DERIVED_REVOKED: &str = "the token it was derived from was revoked";

/// Where a leaked-credential report came from (as its sender says).
#[derive(Clone, Debug, Default)]
pub struct LeakReport {
    /// Where the tokens were found (a URL), if given.
    pub url: String,
    /// Who or what found them (a scanner's name), if given.
    pub source: String,
}

/// The reason a reported token is revoked with.
pub const LEAKED: &str = "reported as leaked";

/// Revokes every live Tessera token among `candidates` (a report from a
/// secret scanner): malformed and bad-checksum entries are skipped without
/// a query; each token found is revoked "as leaked" by the system, in one
/// transaction with its audit event, and dropped from every instance's
/// cache. Returns how many were revoked (never shown to the reporter).
pub async fn revoke_leaked(
    core: &Core,
    candidates: &[String],
    report: &LeakReport,
    client: Option<&Client>,
) -> Result<u64, TokenError> {
    let hashes: Vec<[u8; 32]> = candidates
        .iter()
        .map(|c| c.trim())
        .filter(|c| secret::is_well_formed(c))
        .map(secret::digest)
        .collect();
    if hashes.is_empty() {
        return Ok(0);
    }
    let at = now();
    let details =
        json!({"by": "system", "reason": LEAKED, "url": report.url, "source": report.source});
    let revoked: Vec<(i64, i64)> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let mut revoked = Vec::new();
        for hash in &hashes {
            let row: Option<(i64, i64)> = sqlx::query_as(sql::REVOKE_LEAKED)
                .bind(at)
                .bind(LEAKED)
                .bind(&hash[..])
                .fetch_optional(&mut *tx)
                .await?;
            if let Some((id, user_id)) = row {
                let event = Event::new("token.revoked", Some(user_id), Some(id), By::System, client)
                    .with(details.clone());
                // what was derived from it goes with it, marked revoked
                revoke_descendants!(&mut *tx, at, id, "system", &event);
                record_in!(&mut *tx, event)?;
                revoked.push((id, user_id));
            }
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(revoked)
    }.await)?;
    for (id, user_id) in &revoked {
        core.verifier.evict(*user_id, Some(*id));
    }
    Ok(revoked.len() as u64)
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

/// Revokes every token of the actor's user that is not revoked yet (a
/// person needs sudo mode); returns how many.
pub async fn revoke_all(core: &Core, actor: &Actor) -> Result<u64, TokenError> {
    actor.confirmed(FOR_REVOKE_ALL)?;
    let event = actor.event("token.revoked", None);
    revoke_all_as(core, event, actor.user_id, "").await
}

/// Revokes every token of `owner` that is not revoked yet, with `reason`;
/// one `event` (its actor says who) per token, in the same transaction.
pub async fn revoke_all_as(
    core: &Core,
    event: Event,
    owner: i64,
    reason: &str,
) -> Result<u64, TokenError> {
    let db = &core.db;
    let at = now();
    let by = event.by.revoked_by();
    let event = event.with(json!({"by": by, "reason": reason}));
    let reason = (!reason.is_empty()).then_some(reason);
    let done = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let ids: Vec<(i64,)> = sqlx::query_as(sql::REVOKE_ALL)
            .bind(at)
            .bind(owner)
            .bind(by)
            .bind(reason)
            .fetch_all(&mut *tx)
            .await?;
        for (id,) in &ids {
            let mut one = event.clone();
            one.token_id = Some(*id);
            record_in!(&mut *tx, one)?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(ids.len() as u64)
    }.await)?;
    core.verifier.evict(owner, None);
    Ok(done)
}

/// Gives an active token a new secret (shown once) with the same name,
/// description and scopes. For a signed-in person its lifetime starts again
/// from now (same length, capped by the operator's maximum); a token acting
/// through the API never extends anything: the expiry stays as it is. The
/// old secret stops working at once, and a last use of it that is still
/// waiting to be written is dropped.
pub async fn regenerate(core: &Core, actor: &Actor, id: i64) -> Result<NewSecret, TokenError> {
    let current = changeable(core, actor, id).await?;
    if current.scopes.is_powerful() {
        actor.confirmed(FOR_POWERFUL_SECRET)?;
    }
    let policies = core.policies();
    if let Some((key, problem)) = policies.scope_problem(&current.scopes) {
        return Err(TokenError::PolicyViolation(key, problem));
    }
    let user_id = actor.user_id;
    let (max_days, _) = actor.limits(core).lifetime();
    let at = now();
    let expires_at = if actor.ceiling.is_some() {
        current
            .expires_at
            .min(at + Duration::days(i64::from(max_days)))
    } else {
        let lifetime =
            (current.expires_at - current.created_at).min(Duration::days(i64::from(max_days)));
        at + lifetime.max(Duration::days(1))
    };
    core.usage.forget(id);
    let event = |hint: &str| {
        actor.event("token.regenerated", Some(id)).with(
            json!({"hint": {"before": current.hint, "after": hint}, "expires_at": expires_at}),
        )
    };
    replace_secret(
        core,
        user_id,
        id,
        sql::REGENERATE,
        Some(expires_at),
        at,
        event,
    )
    .await
}

/// Gives token `id` of `user_id` a new secret with `statement` (REGENERATE
/// or ROTATE, whose `$3` is `third`), retiring the old one and recording
/// `event`, in one transaction; the new secret is returned once.
async fn replace_secret(
    core: &Core,
    user_id: i64,
    id: i64,
    statement: &'static str,
    third: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
    event: impl FnOnce(&str) -> Event,
) -> Result<NewSecret, TokenError> {
    let db = &core.db;
    let (plaintext, stored) = secret::generate();
    let event = event(&stored.hint);
    let row: Option<Row> = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query(sql::RETIRE).bind(id).bind(user_id).bind(at).execute(&mut *tx).await?;
        let row: Option<Row> = sqlx::query_as(statement)
            .bind(&stored.hash)
            .bind(&stored.hint)
            .bind(third)
            .bind(at)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some() {
            record_in!(&mut *tx, event)?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }.await)?;
    core.verifier.evict(user_id, Some(id));
    match row {
        Some(row) => Ok(NewSecret {
            token: row.into_view(),
            secret: plaintext.into_string(),
            warnings: Vec::new(),
        }),
        None => Err(why_unchangeable(db, user_id, id).await),
    }
}

/// The longest grace a rotation may give the old secret, in hours.
pub const MAX_GRACE_HOURS: u32 = 168;

/// Rotates an active token's secret: a new one (shown once), while the old
/// one keeps working for `grace_hours` (0: it stops at once); name,
/// scopes, expiry and history stay. Every secret rotated out is kept as
/// retired, so presenting it later is recognised as reuse.
pub async fn rotate(
    core: &Core,
    actor: &Actor,
    id: i64,
    grace_hours: u32,
) -> Result<NewSecret, TokenError> {
    if grace_hours > MAX_GRACE_HOURS {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "grace_hours".to_owned(),
            format!("The old secret can keep working for 0 to {MAX_GRACE_HOURS} hours."),
        )])));
    }
    let current = changeable(core, actor, id).await?;
    if current.scopes.is_powerful() {
        actor.confirmed(FOR_POWERFUL_SECRET)?;
    }
    if let Some((key, problem)) = core.policies().scope_problem(&current.scopes) {
        return Err(TokenError::PolicyViolation(key, problem));
    }
    let user_id = actor.user_id;
    let at = now();
    // never past the token's own expiry
    let grace_until = (grace_hours > 0)
        .then(|| (at + Duration::hours(i64::from(grace_hours))).min(current.expires_at));
    let event = |hint: &str| {
        actor.event("token.rotated", Some(id)).with(json!({
            "hint": {"before": current.hint, "after": hint},
            "grace_hours": grace_hours,
            "old_secret_until": grace_until,
        }))
    };
    replace_secret(core, user_id, id, sql::ROTATE, grace_until, at, event).await
}

/// A `LIKE` pattern (escape `\\`) matching names that contain `search`,
/// case-insensitively.
pub(crate) fn like_pattern(search: &str) -> String {
    let mut p = String::from("%");
    // names hold no control characters, so a search needs none either
    // (and Postgres refuses NUL in text)
    for c in search
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
    {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn list_statement(sort: Sort) -> &'static str {
    match sort {
        Sort::CreatedDesc => sql::LIST_CREATED_DESC,
        Sort::CreatedAsc => sql::LIST_CREATED_ASC,
        Sort::Name => sql::LIST_NAME,
        Sort::ExpiresAsc => sql::LIST_EXPIRES_ASC,
        Sort::ExpiresDesc => sql::LIST_EXPIRES_DESC,
    }
}

/// One page of the user's tokens.
pub async fn list(db: &Db, user_id: i64, q: &ListQuery) -> Result<TokenPage, TokenError> {
    let pattern = like_pattern(&q.search);
    let (total,): (i64,) = on_db!(db, pool => sqlx::query_as(sql::LIST_COUNT)
        .bind(user_id)
        .bind(q.include_revoked)
        .bind(&pattern)
        .fetch_one(pool)
        .await)?;
    let total = total.max(0) as u64;
    let pages = (total.div_ceil(u64::from(PAGE_SIZE))).max(1) as u32;
    let page = q.page.clamp(1, pages);
    let offset = i64::from((page - 1) * PAGE_SIZE);
    let rows: Vec<Row> = on_db!(db, pool => sqlx::query_as(list_statement(q.sort))
        .bind(user_id)
        .bind(q.include_revoked)
        .bind(&pattern)
        .bind(i64::from(PAGE_SIZE))
        .bind(offset)
        .fetch_all(pool)
        .await)?;
    let at = now();
    let (active,): (i64,) = on_db!(db, pool => sqlx::query_as(sql::ACTIVE_COUNT)
        .bind(user_id)
        .bind(at)
        .fetch_one(pool)
        .await)?;
    let children: Vec<Row> = on_db!(db, pool => sqlx::query_as(sql::LIVE_CHILDREN)
        .bind(user_id)
        .bind(at)
        .fetch_all(pool)
        .await)?;
    let mut by_parent: std::collections::HashMap<i64, Vec<TokenView>> = Default::default();
    for c in children.into_iter().map(Row::into_view) {
        if let Some(p) = c.parent_id {
            by_parent.entry(p).or_default().push(c);
        }
    }
    fn adopt(
        t: &mut TokenView,
        by_parent: &mut std::collections::HashMap<i64, Vec<TokenView>>,
        depth: u8,
    ) {
        if depth > 6 {
            return;
        }
        if let Some(mut kids) = by_parent.remove(&t.id) {
            for k in &mut kids {
                adopt(k, by_parent, depth + 1);
            }
            t.children = kids;
        }
    }
    let since = usage_since();
    let live: Vec<i64> = rows
        .iter()
        .filter(|r| r.revoked_at.is_none() && r.expires_at > at)
        .map(|r| r.id)
        .collect();
    let mut uses = scope_uses(db, Some(user_id), &live, since).await?;
    let items = rows
        .into_iter()
        .map(Row::into_view)
        .map(|mut t| {
            if t.status(at) == Status::Active {
                let u = uses.remove(&t.id).unwrap_or_default();
                t.usage = Some(UsageReport::of(&t.scopes, &t.resources, &u, since));
            }
            adopt(&mut t, &mut by_parent, 0);
            t
        })
        .collect();
    Ok(TokenPage {
        items,
        total,
        page,
        pages,
        active_count: active.max(0) as u64,
        now: at,
    })
}

/// Recorded scope uses since `since` of the tokens `only` (those of
/// `user_id` among them; of anyone's: `None`), per token.
pub(crate) async fn scope_uses(
    db: &Db,
    user_id: Option<i64>,
    only: &[i64],
    since: DateTime<Utc>,
) -> Result<std::collections::HashMap<i64, Vec<ScopeUse>>, sqlx::Error> {
    if only.is_empty() {
        return Ok(Default::default());
    }
    // the tokens asked about only (a page: at most 50), by primary key
    let ids = (0..only.len())
        .map(|i| format!("${}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT u.token_id, u.scope, u.resource, u.last_used_at FROM token_scope_uses u \
         JOIN tokens t ON t.id = u.token_id \
         WHERE ($1 = 0 OR t.user_id = $1) AND u.last_used_at >= $2 AND u.token_id IN ({ids})"
    );
    let rows: Vec<(i64, String, String, DateTime<Utc>)> = on_db!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(user_id.unwrap_or(0)).bind(since);
        for id in only {
            q = q.bind(*id);
        }
        q.fetch_all(pool).await
    })?;
    let mut map: std::collections::HashMap<i64, Vec<ScopeUse>> = Default::default();
    for (id, scope, resource, at) in rows {
        map.entry(id).or_default().push(ScopeUse {
            scope,
            resource: (!resource.is_empty()).then_some(resource),
            last_used_at: at,
        });
    }
    Ok(map)
}

/// The start of the usage report's window.
pub(crate) fn usage_since() -> DateTime<Utc> {
    now() - Duration::days(WINDOW_DAYS)
}

/// What token `id` of `user_id` used in the last 30 days, against what it
/// was granted.
pub async fn usage(db: &Db, user_id: i64, id: i64) -> Result<(TokenView, UsageReport), TokenError> {
    let token = get(db, user_id, id).await?;
    let since = usage_since();
    let uses = scope_uses(db, Some(user_id), &[id], since).await?;
    let report = UsageReport::of(
        &token.scopes,
        &token.resources,
        uses.get(&id).map_or(&[][..], Vec::as_slice),
        since,
    );
    Ok((token, report))
}

/// Narrows an active token to what it used in the last 30 days: scopes at
/// the levels used, areas limited to the resources named; name, expiry and
/// secret stay (an edit, audited as one).
pub async fn narrow(core: &Core, actor: &Actor, id: i64) -> Result<TokenView, TokenError> {
    let (_, report) = usage(&core.db, actor.user_id, id).await?;
    let Some((scopes, resources)) = report.narrowed else {
        let why = if report.used.is_empty() {
            "This token was not used in the last 30 days: there is nothing to narrow it to. Revoke it if nothing needs it."
        } else {
            "This token already has only what it used."
        };
        return Err(TokenError::Invalid(FieldErrors::from([(
            "scopes".to_owned(),
            why.to_owned(),
        )])));
    };
    update(core, actor, id, move |current| {
        let mut spec = TokenSpec::of(current);
        spec.scopes = scopes;
        spec.resources = resources;
        Ok(spec)
    })
    .await
}

/// Creates a token from the browser's form (plain post or server function).
pub async fn create_from_form(
    core: &Core,
    actor: &Actor,
    form: &crate::tokens::TokenForm,
) -> Result<NewSecret, TokenError> {
    create(core, actor, &form.parse()?, &form.form_id).await
}

/// Applies the browser's edit form to a token.
pub async fn update_from_form(
    core: &Core,
    actor: &Actor,
    id: i64,
    form: &crate::tokens::TokenForm,
) -> Result<TokenView, TokenError> {
    update(core, actor, id, |_| form.parse()).await
}
