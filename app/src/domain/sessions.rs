//! Server-side sessions. The browser holds a random 256-bit id in an
//! `HttpOnly` cookie; the database holds only its sha256, so a leaked database
//! dump cannot be replayed as cookies. Each session also has a public
//! `handle` (random, unrelated to the id) by which the Sessions section
//! names it, the address and browser it was last seen from, and when its
//! password was last entered (sudo mode).
//!
//! A session ends at the first of: its absolute lifetime
//! ([`LIFETIME_DAYS`]), the operator's idle timeout (no request for that
//! long), sign-out, or a password change.

use super::audit::{record_in, By, Event};
use super::db::{now, on_db, Db};
use super::CoreConfig;
use crate::model::{CurrentUser, SessionView};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Name of the session cookie over plain http (development, loopback).
pub const COOKIE_NAME: &str = "tessera_session";
/// Name of the session cookie over https: the `__Host-` prefix makes the
/// browser refuse it unless it is `Secure`, has `Path=/` and no `Domain`,
/// so a sibling subdomain cannot plant or overwrite it.
pub const SECURE_COOKIE_NAME: &str = "__Host-tessera_session";
/// How long a session lasts at most, in days, however active it is.
pub const LIFETIME_DAYS: i64 = 30;
/// How long an entered password counts for sudo mode by default, in
/// minutes (`--sudo-minutes`).
pub const SUDO_MINUTES: u64 = 10;
/// A session's "last seen" is written at most this often (seconds), so a
/// page view is not a write.
const TOUCH_EVERY_SECS: i64 = 60;
/// Longest user agent kept for a session, in characters.
const AGENT_MAX: usize = 256;

/// The cookie name for a deployment: `__Host-` prefixed when it is `secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// A freshly issued session id: exists only to be put into a cookie.
pub struct NewSession {
    /// The session id, as the cookie carries it (base64url, 43 characters).
    pub cookie_value: String,
    /// When the session expires.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("cookie_value", &"<redacted>")
            .finish()
    }
}

pub use super::client::Client;

/// The `Set-Cookie` value of `session` for a deployment (as the browser
/// layer sets it: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` and
/// `__Host-` over https), for answers built without its cookie jar.
pub fn cookie_header(config: &CoreConfig, session: &NewSession) -> String {
    let secure = if config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        config.session_cookie(),
        session.cookie_value,
        LIFETIME_DAYS * 24 * 3600
    )
}

/// The `Set-Cookie` value that removes the cookie `name`.
pub fn removal_header(config: &CoreConfig, name: &str) -> String {
    let secure = if config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// A session as listed: handle, created, last seen, address, agent.
type SessionRow = (String, DateTime<Utc>, DateTime<Utc>, String, String);

/// The session of a request: who is signed in, and what sudo mode needs.
#[derive(Clone, Debug)]
pub struct Session {
    /// The signed-in user.
    pub user: CurrentUser,
    /// The session's public handle.
    pub handle: String,
    /// When the password was last entered in this session.
    pub password_at: DateTime<Utc>,
    /// True when that was within the operator's sudo window (10 minutes
    /// by default) as of this request: sensitive actions need no new
    /// confirmation.
    pub in_sudo: bool,
    /// The account has a second factor, or signs in through single
    /// sign-on (what `require_two_factor` asks for).
    pub two_factor: bool,
    /// The account has a passkey (sudo mode can be confirmed with it).
    pub passkey: bool,
}

fn hash_id(cookie_value: &str) -> Vec<u8> {
    Sha256::digest(cookie_value.as_bytes()).to_vec()
}

pub(crate) fn random_text(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The oldest "last seen" a live session can have at `at` (idle timeout).
fn seen_since(at: DateTime<Utc>, idle: std::time::Duration) -> DateTime<Utc> {
    at - Duration::from_std(idle).unwrap_or(Duration::days(LIFETIME_DAYS))
}

fn bounded_agent(agent: &str) -> String {
    agent.chars().take(AGENT_MAX).collect()
}

/// Creates a session for `user_id` with a brand-new id. It is in sudo mode
/// for as long as `authenticated_at` allows (a password just entered: now;
/// a single sign-on: when the provider last authenticated the person).
pub async fn create(
    db: &Db,
    user_id: i64,
    client: &Client,
    event: &'static str,
    method: &'static str,
    authenticated_at: DateTime<Utc>,
) -> Result<NewSession, sqlx::Error> {
    let cookie_value = random_text(32);
    let handle = random_text(12);
    let created = now();
    let expires_at = created + Duration::days(LIFETIME_DAYS);
    let id_hash = hash_id(&cookie_value);
    let event = Event::new(event, Some(user_id), None, By::User(user_id), Some(client))
        .with(serde_json::json!({ "session": handle, "method": method }));
    on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query(concat!(
            "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, handle, last_seen_at, ",
            "ip, user_agent, password_at) VALUES ($1, $2, $3, $4, $5, $3, $6, $7, $8)",
        ))
        .bind(&id_hash)
        .bind(user_id)
        .bind(created)
        .bind(expires_at)
        .bind(&handle)
        .bind(client.ip.to_string())
        .bind(bounded_agent(&client.agent))
        .bind(authenticated_at.min(created))
        .execute(&mut *tx)
        .await?;
        record_in!(&mut *tx, event)?;
        tx.commit().await
    }.await)?;
    Ok(NewSession {
        cookie_value,
        expires_at,
    })
}

/// The session a cookie value belongs to, if it exists, is within its
/// lifetime and has not been idle for the operator's idle timeout. Notes
/// where it was seen from (written at most once a minute, or when the
/// address or browser changed).
pub async fn lookup(
    db: &Db,
    cookie_value: &str,
    config: &CoreConfig,
    client: &Client,
) -> Result<Option<Session>, sqlx::Error> {
    // Anything that is not one of our ids cannot match; skip the query.
    if cookie_value.len() != 43 {
        return Ok(None);
    }
    let at = now();
    let id_hash = hash_id(cookie_value);
    type Found = (
        i64,
        String,
        String,
        DateTime<Utc>,
        DateTime<Utc>,
        String,
        String,
        bool,
        bool,
        bool,
        bool,
    );
    let row: Option<Found> = on_db!(db, pool => sqlx::query_as(concat!(
        "SELECT u.id, u.username, s.handle, s.password_at, s.last_seen_at, s.ip, s.user_agent, u.is_admin, ",
        "u.must_change_password, (EXISTS (SELECT 1 FROM second_factors f WHERE f.user_id = u.id ",
        "AND f.confirmed_at IS NOT NULL) OR (u.password_hash = '!' AND EXISTS (SELECT 1 FROM identities i ",
        "WHERE i.user_id = u.id))), ",
        "EXISTS (SELECT 1 FROM second_factors p WHERE p.user_id = u.id AND p.kind = 'passkey') ",
        "FROM sessions s JOIN users u ON u.id = s.user_id ",
        "WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.disabled_at IS NULL",
    ))
    .bind(&id_hash)
    .bind(at)
    .bind(seen_since(at, config.session_idle))
    .fetch_optional(pool)
    .await)?;
    let Some((
        id,
        username,
        handle,
        password_at,
        seen,
        ip,
        agent,
        is_admin,
        must_change,
        two_factor,
        passkey,
    )) = row
    else {
        return Ok(None);
    };
    let (ip_now, agent_now) = (client.ip.to_string(), bounded_agent(&client.agent));
    if at - seen >= Duration::seconds(TOUCH_EVERY_SECS) || ip != ip_now || agent != agent_now {
        on_db!(db, pool => sqlx::query(
            "UPDATE sessions SET last_seen_at = $1, ip = $2, user_agent = $3 WHERE id_hash = $4",
        )
        .bind(at)
        .bind(&ip_now)
        .bind(&agent_now)
        .bind(&id_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    }
    let sudo = Duration::from_std(config.sudo_window).unwrap_or(Duration::zero());
    Ok(Some(Session {
        user: CurrentUser {
            id,
            username,
            is_admin,
            must_change_password: must_change,
        },
        handle,
        password_at,
        in_sudo: at - password_at < sudo,
        two_factor,
        passkey,
    }))
}

/// Records that the password was entered in the session `handle` (sudo
/// mode starts again).
pub async fn password_entered(db: &Db, handle: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("UPDATE sessions SET password_at = $1 WHERE handle = $2")
        .bind(now())
        .bind(handle)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The signed-in browsers of `user_id`, most recently seen first; the one
/// whose handle is `current` is marked.
pub async fn list(
    db: &Db,
    user_id: i64,
    current: &str,
    idle: std::time::Duration,
) -> Result<Vec<SessionView>, sqlx::Error> {
    let at = now();
    let rows: Vec<SessionRow> = on_db!(db, pool => sqlx::query_as(concat!(
            "SELECT handle, created_at, last_seen_at, ip, user_agent FROM sessions ",
            "WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3 ",
            "ORDER BY last_seen_at DESC, created_at DESC",
        ))
        .bind(user_id)
        .bind(at)
        .bind(seen_since(at, idle))
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .map(
            |(handle, created_at, last_seen_at, ip, user_agent)| SessionView {
                current: handle == current,
                device: crate::model::describe_agent(&user_agent),
                handle,
                created_at,
                last_seen_at,
                ip,
                user_agent,
            },
        )
        .collect())
}

/// True when `handle` has the shape of one of ours (16 base64url
/// characters): anything else cannot match and needs no query.
fn is_handle(handle: &str) -> bool {
    handle.len() == 16
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Ends the session `handle` of `user_id` (from the Sessions page, by
/// `client`); `false` when there is none (also for another user's handle,
/// and for anything that is not a handle).
pub async fn end(
    db: &Db,
    user_id: i64,
    handle: &str,
    client: &Client,
) -> Result<bool, sqlx::Error> {
    if !is_handle(handle) {
        return Ok(false);
    }
    let event = signed_out(user_id, client, serde_json::json!({ "session": handle }));
    let done = delete_recorded(
        db,
        "DELETE FROM sessions WHERE user_id = $1 AND handle = $2",
        user_id,
        handle,
        event,
    )
    .await?;
    Ok(done > 0)
}

fn signed_out(user_id: i64, client: &Client, details: serde_json::Value) -> Event {
    Event::new(
        "session.signed_out",
        Some(user_id),
        None,
        By::User(user_id),
        Some(client),
    )
    .with(details)
}

/// Runs a `DELETE FROM sessions` with (`user_id`, `text`) and, when it
/// ended any session, records `event` in the same transaction.
async fn delete_recorded(
    db: &Db,
    sql: &'static str,
    user_id: i64,
    text: &str,
    event: Event,
) -> Result<u64, sqlx::Error> {
    on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let done = sqlx::query(sql)
            .bind(user_id)
            .bind(text)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done > 0 {
            record_in!(&mut *tx, event)?;
        }
        tx.commit().await?;
        Ok(done)
    }.await)
}

/// Ends every session of `user_id` but `keep` ("Sign out everywhere
/// else"); how many ended.
pub async fn end_others(
    db: &Db,
    user_id: i64,
    keep: &str,
    client: &Client,
) -> Result<u64, sqlx::Error> {
    let event = signed_out(
        user_id,
        client,
        serde_json::json!({ "sessions": "all others" }),
    );
    delete_recorded(
        db,
        "DELETE FROM sessions WHERE user_id = $1 AND handle <> $2",
        user_id,
        keep,
        event,
    )
    .await
}

/// Ends one session (sign-out) of `user_id`.
pub async fn delete(
    db: &Db,
    user_id: i64,
    cookie_value: &str,
    client: &Client,
) -> Result<(), sqlx::Error> {
    let id_hash = hash_id(cookie_value);
    let event = signed_out(user_id, client, serde_json::json!({}));
    on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2")
            .bind(&id_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done > 0 {
            record_in!(&mut *tx, event)?;
        }
        tx.commit().await
    }.await)
}

/// Every session of `$1` ends (a password changed, an account disabled).
pub const DELETE_ALL_OF_USER: &str = "DELETE FROM sessions WHERE user_id = $1";

/// Ends every session of a user (password change).
pub async fn delete_all_for_user(db: &Db, user_id: i64) -> Result<u64, sqlx::Error> {
    let done = on_db!(db, pool => sqlx::query(DELETE_ALL_OF_USER)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done)
}

/// Removes sessions past their lifetime or idle for `idle`; run periodically.
pub async fn purge_expired(db: &Db, idle: std::time::Duration) -> Result<u64, sqlx::Error> {
    let at = now();
    let done = on_db!(db, pool => sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
    )
        .bind(at)
        .bind(seen_since(at, idle))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done)
}
