//! Server-side sessions. The browser holds a random 256-bit id in an
//! `HttpOnly` cookie; the database holds only its sha256, so a leaked database
//! dump cannot be replayed as cookies.

use super::db::{now, on_db, Db};
use crate::model::CurrentUser;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "tessera_session";
/// How long a session lasts, in days.
pub const LIFETIME_DAYS: i64 = 30;

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

fn hash_id(cookie_value: &str) -> Vec<u8> {
    Sha256::digest(cookie_value.as_bytes()).to_vec()
}

/// Creates a session for `user_id` with a brand-new id.
pub async fn create(db: &Db, user_id: i64) -> Result<NewSession, sqlx::Error> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let cookie_value = URL_SAFE_NO_PAD.encode(raw);
    let created = now();
    let expires_at = created + Duration::days(LIFETIME_DAYS);
    let id_hash = hash_id(&cookie_value);
    on_db!(db, pool => sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id_hash)
    .bind(user_id)
    .bind(created)
    .bind(expires_at)
    .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(NewSession {
        cookie_value,
        expires_at,
    })
}

/// The user a cookie value belongs to, if the session exists and is current.
pub async fn lookup(db: &Db, cookie_value: &str) -> Result<Option<CurrentUser>, sqlx::Error> {
    // Anything that is not one of our ids cannot match; skip the query.
    if cookie_value.len() != 43 {
        return Ok(None);
    }
    let id_hash = hash_id(cookie_value);
    let row: Option<(i64, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2",
    )
    .bind(&id_hash)
    .bind(now())
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|(id, username)| CurrentUser { id, username }))
}

/// Ends one session (sign-out).
pub async fn delete(db: &Db, cookie_value: &str) -> Result<(), sqlx::Error> {
    let id_hash = hash_id(cookie_value);
    on_db!(db, pool => sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(&id_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Ends every session of a user (password change).
pub async fn delete_all_for_user(db: &Db, user_id: i64) -> Result<u64, sqlx::Error> {
    let done = on_db!(db, pool => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done)
}

/// Removes expired sessions; run periodically.
pub async fn purge_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let done = on_db!(db, pool => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done)
}
