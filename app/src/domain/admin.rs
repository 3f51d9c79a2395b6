//! The organization's side: administrators, accounts, policies and the
//! credentials inventory. The admin CLI, the admin pages and the API call
//! these; each change is audited in its own transaction, and what other
//! instances must see (a disabled account, a revoked token, a new policy)
//! reaches them through the change feed.

use super::{
    audit::{audited, record_in, By, Event},
    db::{is_unique_violation, now, on_db, Db},
    sessions::Client,
    tokens::{self as token_service, TokenError},
    Core,
};
pub use crate::admin::{InventoryFilter, InventoryRow, StatusFilter, UserRow};
use crate::model::rules;
use crate::scopes::Scopes;
use crate::tokens::{
    policy::{Policies, PolicyBook},
    Status,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// Why an administrative action did not go through.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No such user, token or policy; the sentence says which.
    #[error("{0}")]
    NotFound(String),
    /// Bad input; the sentence says what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Hashing the new password failed.
    #[error("password hashing failed: {0}")]
    Hash(#[from] super::passwords::HashError),
}

/// How a page answers each administration failure (the CLI prints the
/// error's own sentence).
impl From<AdminError> for super::refusal::Refusal {
    fn from(e: AdminError) -> Self {
        use super::refusal::Refusal;
        use http::StatusCode;
        match e {
            AdminError::NotFound(m) => Refusal::new(StatusCode::NOT_FOUND, m),
            AdminError::Invalid(m) => Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            AdminError::Hash(super::passwords::HashError::Busy) => Refusal::busy(),
            e @ (AdminError::Database(_) | AdminError::Hash(_)) => Refusal::ours(&e),
        }
    }
}

impl From<TokenError> for AdminError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Database(e) => AdminError::Database(e),
            TokenError::NotFound => AdminError::NotFound("No such token.".into()),
            other => AdminError::Invalid(other.message()),
        }
    }
}

/// Who performs an administrative action, and from where.
#[derive(Clone, Debug)]
pub struct Admin {
    /// The administrator's user id (`None`: the admin CLI on the server).
    pub user_id: Option<i64>,
    /// The request's client (`None` for the CLI).
    pub client: Option<Client>,
    /// An organization's owner managing it from their page (audited as
    /// that person, not as an administrator).
    pub org_owner: bool,
}

impl Admin {
    /// The operator at the admin CLI.
    pub fn cli() -> Admin {
        Admin {
            user_id: None,
            client: None,
            org_owner: false,
        }
    }

    /// Signed-in `user_id`, acting as an owner of one of their
    /// organizations (the caller checks that they are one).
    pub fn org_owner(user_id: i64, client: Client) -> Admin {
        Admin {
            user_id: Some(user_id),
            client: Some(client),
            org_owner: true,
        }
    }

    pub(crate) fn event(
        &self,
        event: &'static str,
        user_id: Option<i64>,
        token_id: Option<i64>,
    ) -> Event {
        Event::new(
            event,
            user_id,
            token_id,
            match (self.org_owner, self.user_id) {
                (true, Some(id)) => By::User(id),
                _ => By::Admin(self.user_id),
            },
            self.client.as_ref(),
        )
    }
}

/// Reads the stored policies.
pub async fn load_policies(db: &Db) -> Result<Policies, sqlx::Error> {
    let rows: Vec<(String, String)> = on_db!(db, pool => sqlx::query_as("SELECT key, value FROM policies").fetch_all(pool).await)?;
    Ok(Policies::from_rows(
        rows.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// Reads the stored policies: the server's and every organization's.
pub async fn load_policy_book(db: &Db) -> Result<PolicyBook, sqlx::Error> {
    let server = load_policies(db).await?;
    let rows: Vec<(String, String, String)> = on_db!(db, pool => sqlx::query_as(super::orgs::sql::ALL_ORG_POLICIES).fetch_all(pool).await)?;
    let mut orgs: Vec<(String, Policies)> = Vec::new();
    for (org, key, value) in &rows {
        if orgs.last().is_none_or(|(o, _)| o != org) {
            orgs.push((org.clone(), Policies::default()));
        }
        if let Some((_, p)) = orgs.last_mut() {
            // approval_required_for lives here too, and is not a token key
            let _ = p.set(key, value);
        }
    }
    Ok(PolicyBook::new(server, orgs))
}

/// Sets the policy `key` to `value` (`none` clears it); returns the
/// policies now in force. Audited as `policy.changed` with before → after.
pub async fn set_policy(
    core: &Core,
    admin: &Admin,
    key: &str,
    value: &str,
) -> Result<Policies, AdminError> {
    let mut policies = load_policies(&core.db).await?;
    let before = policies.get(key);
    policies.set(key, value).map_err(AdminError::Invalid)?;
    let after = policies.get(key);
    let key = crate::tokens::policy::KEYS
        .iter()
        .find(|k| **k == key)
        .copied()
        .unwrap_or("");
    let event = admin
        .event("policy.changed", None, None)
        .with(json!({ key: {"before": before, "after": after} }));
    let at = now();
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        if after == "none" || after == "false" {
            sqlx::query("DELETE FROM policies WHERE key = $1").bind(key).execute(&mut *tx).await?;
        } else {
            sqlx::query(
                "INSERT INTO policies (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(&after)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        record_in!(&mut *tx, event)?;
        tx.commit().await
    }.await)?;
    core.reload_policies().await;
    core.verifier.evict_all();
    Ok(policies)
}

/// Every account whose name contains `search` (case-insensitive), by name.
pub async fn users(db: &Db, search: &str) -> Result<Vec<UserRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as(super::users::ACCOUNTS_LIKE)
        .bind(now())
        .bind(token_service::like_pattern(search))
        .fetch_all(pool)
        .await)
}

/// The account named `username` (case-insensitive).
pub async fn user(db: &Db, username: &str) -> Result<UserRow, AdminError> {
    let key = username.trim().to_lowercase();
    if rules::username_problem(username.trim()).is_some() {
        return Err(no_user(username));
    }
    let row: Option<UserRow> = on_db!(db, pool => sqlx::query_as(super::users::ACCOUNT_BY_KEY)
        .bind(now())
        .bind(&key)
        .fetch_optional(pool)
        .await)?;
    row.ok_or_else(|| no_user(username))
}

fn no_user(username: &str) -> AdminError {
    AdminError::NotFound(format!(
        "There is no user \u{201c}{}\u{201d}.",
        username
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
    ))
}

/// Makes `username` an administrator (`true`) or not; returns the account.
pub async fn set_admin(
    core: &Core,
    admin: &Admin,
    username: &str,
    grant: bool,
) -> Result<UserRow, AdminError> {
    change_account(core, admin, username, AccountChange::Admin(grant)).await
}

/// Disables (`true`) or enables an account. Disabling signs the user out
/// everywhere and stops their tokens (on every instance, through the
/// change feed); enabling brings the tokens back (revoked ones stay revoked).
pub async fn set_disabled(
    core: &Core,
    admin: &Admin,
    username: &str,
    disable: bool,
) -> Result<UserRow, AdminError> {
    change_account(core, admin, username, AccountChange::Disabled(disable)).await
}

/// What an administrator changes about an account.
#[derive(Clone, Copy)]
enum AccountChange {
    /// Administrator or not.
    Admin(bool),
    /// Disabled or enabled.
    Disabled(bool),
}

/// Applies `change` to `username`, audited (only when it changed
/// something), and drops the cached answers for the account's tokens.
async fn change_account(
    core: &Core,
    admin: &Admin,
    username: &str,
    change: AccountChange,
) -> Result<UserRow, AdminError> {
    let target = user(&core.db, username).await?;
    if matches!(change, AccountChange::Admin(true)) && target.is_service {
        // its trust rules could then hand administrators' scopes to a CI job
        return Err(AdminError::Invalid(format!(
            "{} is a service account: it cannot be an administrator.",
            target.username
        )));
    }
    let name = match change {
        AccountChange::Admin(true) => "admin.granted",
        AccountChange::Admin(false) => "admin.revoked",
        AccountChange::Disabled(true) => "admin.user_disabled",
        AccountChange::Disabled(false) => "admin.user_enabled",
    };
    let event = admin.event(name, Some(target.id), None);
    let at = now();
    audited!(&core.db, event, |tx| match change {
        AccountChange::Admin(grant) => {
            sqlx::query(super::users::SET_ADMIN)
                .bind(grant)
                .bind(target.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
        AccountChange::Disabled(true) => {
            // signed out everywhere, in the same transaction
            sqlx::query(super::sessions::DELETE_ALL_OF_USER)
                .bind(target.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(super::users::DISABLE)
                .bind(at)
                .bind(target.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
        AccountChange::Disabled(false) => sqlx::query(super::users::ENABLE)
            .bind(target.id)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
    })?;
    core.verifier.evict(target.id, None);
    user(&core.db, username).await
}

/// Creates an account with `password` (the same username and password
/// rules as sign-up); returns it. With `one_time`, the user must choose a
/// new password at the first sign-in.
pub async fn create_user(
    core: &Core,
    admin: &Admin,
    username: &str,
    password: &str,
    one_time: bool,
) -> Result<UserRow, AdminError> {
    let username = username.trim();
    if let Some(problem) = rules::username_problem(username) {
        return Err(AdminError::Invalid(problem));
    }
    if let Some(problem) = rules::password_problem(password, username) {
        return Err(AdminError::Invalid(problem));
    }
    let weak = core
        .hasher
        .strength_problem(password.to_owned(), username.to_owned())
        .await?;
    if let Some(problem) = weak {
        return Err(AdminError::Invalid(problem));
    }
    let hash = core.hasher.hash(password.to_owned()).await?;
    let event = admin
        .event("admin.user_created", None, None)
        .with(json!({ "one_time_password": one_time }));
    insert_account(core, username, Some(&hash), one_time, event).await?;
    user(&core.db, username).await
}

/// Writes a new account and its audit `event` in one transaction: a
/// person's with password `hash`, or a service account's (`None`: no
/// password, no sign-in); its id. A taken name is a sentence.
pub(crate) async fn insert_account(
    core: &Core,
    username: &str,
    hash: Option<&str>,
    one_time: bool,
    mut event: Event,
) -> Result<i64, AdminError> {
    let (at, key) = (now(), username.to_lowercase());
    let inserted: Result<i64, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let query = match hash {
            Some(hash) => sqlx::query_as(super::users::INSERT)
                .bind(username)
                .bind(&key)
                .bind(hash)
                .bind(at)
                .bind(one_time),
            None => sqlx::query_as(super::users::INSERT_SERVICE)
                .bind(username)
                .bind(&key)
                .bind(at),
        };
        let (id,): (i64,) = query.fetch_one(&mut *tx).await?;
        event.user_id = Some(id);
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok(id)
    }.await);
    match inserted {
        Ok(id) => Ok(id),
        Err(e) if is_unique_violation(&e) => Err(username_taken(username)),
        Err(e) => Err(e.into()),
    }
}

/// A new account's name is in use (any case).
pub(crate) fn username_taken(username: &str) -> AdminError {
    AdminError::Invalid(format!(
        "The username \u{201c}{username}\u{201d} is already taken."
    ))
}

/// A password for an account an administrator creates: 20 characters from
/// an alphabet without look-alikes (~115 bits), shown once.
pub fn generate_password() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The most rows one inventory query returns.
pub const INVENTORY_MAX: usize = 5_000;

/// Every token matching `f`, newest first (at most [`INVENTORY_MAX`]),
/// flagged with the policies that block them.
pub async fn inventory(core: &Core, f: &InventoryFilter) -> Result<Vec<InventoryRow>, AdminError> {
    let at = now();
    let scope = match f.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some("full") => Some(Scopes::Full),
        Some(s) => Some(Scopes::parse(s).map_err(|e| AdminError::Invalid(e.to_string()))?),
    };
    // no limit: the last second of year 9999 (a date both stores compare
    // as later than any real one; chrono's maximum is not, as text)
    let never = DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(at);
    let unused_before = f
        .unused_days
        .map_or(never, |d| at - Duration::days(i64::from(d)));
    let rows =
        token_service::of_everyone(&core.db, f.user_id, unused_before, INVENTORY_MAX * 4).await?;
    let policies = core.policies();
    let mut uses = if f.overgranted {
        let ids: Vec<i64> = rows.iter().map(|(_, _, t)| t.id).collect();
        token_service::scope_uses(&core.db, None, &ids, token_service::usage_since()).await?
    } else {
        Default::default()
    };
    let mut out = Vec::new();
    for (user_id, username, mut token) in rows {
        let status = token.status(at);
        if !f.status.admits(status) {
            continue;
        }
        if let Some(days) = f.expiring_days {
            if status != Status::Active || token.expires_at - at > Duration::days(i64::from(days)) {
                continue;
            }
        }
        match &scope {
            Some(Scopes::Full) if !token.scopes.is_full() => continue,
            Some(s) if !token.scopes.covers(s) => continue,
            _ => {}
        }
        if f.overgranted {
            if status != Status::Active {
                continue;
            }
            let u = uses.remove(&token.id).unwrap_or_default();
            let report = crate::tokens::used::UsageReport::of(
                &token.scopes,
                &token.resources,
                &u,
                token_service::usage_since(),
            );
            if report.never_used.is_empty() {
                continue;
            }
            token.usage = Some(report);
        }
        token.apply_policies(policies.for_owner(token.owner.as_deref()), at);
        out.push(InventoryRow {
            user_id,
            username,
            token,
            status,
        });
        if out.len() >= INVENTORY_MAX {
            break;
        }
    }
    Ok(out)
}

/// The longest reason accepted, in characters.
pub const REASON_MAX: usize = 500;

/// The reason, trimmed, or why it cannot be one.
pub fn reason(text: &str) -> Result<String, AdminError> {
    let r = text.trim();
    if r.is_empty() {
        return Err(AdminError::Invalid(
            "Give a reason: the token's owner sees it.".into(),
        ));
    }
    if r.chars().count() > REASON_MAX {
        return Err(AdminError::Invalid(format!(
            "The reason must be at most {REASON_MAX} characters."
        )));
    }
    if r.chars().any(char::is_control) {
        return Err(AdminError::Invalid(
            "The reason must not contain control characters.".into(),
        ));
    }
    Ok(r.to_owned())
}

/// The owner of token `id`.
async fn owner_of(db: &Db, id: i64) -> Result<i64, AdminError> {
    let row: Option<(i64,)> = on_db!(db, pool => sqlx::query_as(super::tokens::sql::OWNER)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.map(|(u,)| u)
        .ok_or_else(|| AdminError::NotFound(format!("There is no token {id}.")))
}

/// Revokes any user's token `id` with `reason` (shown to its owner as
/// "Revoked by an administrator: REASON").
pub async fn revoke_token(
    core: &Core,
    admin: &Admin,
    id: i64,
    reason_text: &str,
) -> Result<InventoryRow, AdminError> {
    let reason = reason(reason_text)?;
    let owner = owner_of(&core.db, id).await?;
    let event = admin.event("token.revoked", Some(owner), Some(id));
    let token = token_service::revoke_as(core, event, owner, id, &reason).await?;
    let username = username_of(&core.db, owner).await?;
    Ok(InventoryRow {
        user_id: owner,
        username,
        status: token.status(now()),
        token,
    })
}

/// Revokes every token of `username` that is not revoked yet; returns how many.
pub async fn revoke_user_tokens(
    core: &Core,
    admin: &Admin,
    username: &str,
    reason_text: &str,
) -> Result<u64, AdminError> {
    let reason = reason(reason_text)?;
    let target = user(&core.db, username).await?;
    let event = admin.event("token.revoked", Some(target.id), None);
    Ok(token_service::revoke_all_as(core, event, target.id, &reason).await?)
}

async fn username_of(db: &Db, id: i64) -> Result<String, sqlx::Error> {
    let (name,): (String,) = on_db!(db, pool => sqlx::query_as(super::users::USERNAME)
        .bind(id)
        .fetch_one(pool)
        .await)?;
    Ok(name)
}
