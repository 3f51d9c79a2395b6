//! The `users` table: every statement on it is here (the services that
//! run them — accounts, administration, e-mail confirmation, notices —
//! bind and execute them inside their own transactions), and the one
//! question every service asks (who is an administrator).

use super::db::{on_db, Db};

/// An account as administrators list it, with its count of active
/// tokens at `$1` (`crate::admin::UserRow`).
macro_rules! account {
    ($where:literal) => {
        concat!(
            "SELECT u.id, u.username, u.is_admin, u.is_service, u.disabled_at, u.created_at, \
             (SELECT COUNT(*) FROM tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL \
             AND t.expires_at > $1) AS active_tokens FROM users u ",
            $where
        )
    };
}

/// Accounts whose key is `LIKE $2` (escaped with `\`), by name.
pub const ACCOUNTS_LIKE: &str =
    account!("WHERE u.username_key LIKE $2 ESCAPE '\\' ORDER BY u.username_key");

/// The account with key `$2`.
pub const ACCOUNT_BY_KEY: &str = account!("WHERE u.username_key = $2");

/// A new account (`$1` name, `$2` its key, `$3` password hash, `$4` now,
/// `$5` must change the password); its id.
pub const INSERT: &str = "INSERT INTO users (username, username_key, password_hash, created_at, \
     password_changed_at, must_change_password) VALUES ($1, $2, $3, $4, $4, $5) RETURNING id";

/// The stored hash of an account with no password (service accounts,
/// accounts made by single sign-on): no argon2 hash, so nothing matches it.
pub const NO_PASSWORD: &str = "!";

/// A new service account (`$1` name, `$2` its key, `$3` now): no
/// password (`!` is no argon2 hash, so nothing matches it); its id.
pub const INSERT_SERVICE: &str = "INSERT INTO users (username, username_key, password_hash, created_at, \
     password_changed_at, must_change_password, is_service) VALUES ($1, $2, '!', $3, $3, FALSE, TRUE) RETURNING id";

/// What a sign-in needs of the account with key `$1` (never a service
/// account: nothing signs in as one).
pub const CREDENTIALS: &str = "SELECT id, username, password_hash, disabled_at, is_admin, \
     must_change_password FROM users WHERE username_key = $1 AND is_service = FALSE";

/// The password hash of `$1` (sudo mode, password changes).
pub const PASSWORD_HASH: &str = "SELECT password_hash FROM users WHERE id = $1";

/// A new password hash `$1` for `$3` at `$2` (no longer one-time).
pub const SET_PASSWORD: &str = "UPDATE users SET password_hash = $1, password_changed_at = $2, \
     must_change_password = FALSE WHERE id = $3";

/// `$2` an administrator or not (`$1`); no row when it already was.
pub const SET_ADMIN: &str = "UPDATE users SET is_admin = $1 WHERE id = $2 AND is_admin <> $1";

/// `$2` disabled at `$1`; no row when it already was.
pub const DISABLE: &str = "UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL";

/// `$1` enabled; no row when it already was.
pub const ENABLE: &str =
    "UPDATE users SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL";

/// The name of `$1`.
pub const USERNAME: &str = "SELECT username FROM users WHERE id = $1";

/// The confirmed and the pending address of `$1`.
pub const EMAILS: &str = "SELECT email, email_pending FROM users WHERE id = $1";

/// The confirmed address of `$1`, when the account is enabled.
pub const EMAIL_IF_ENABLED: &str = "SELECT email FROM users WHERE id = $1 AND disabled_at IS NULL";

/// When `$1`'s last confirmation code ends.
pub const EMAIL_CODE_EXPIRES: &str = "SELECT email_code_expires_at FROM users WHERE id = $1";

/// Address `$1` pending for `$4`, with code hash `$2` good until `$3`.
pub const SET_EMAIL_PENDING: &str = "UPDATE users SET email_pending = $1, email_code_hash = $2, \
     email_code_expires_at = $3 WHERE id = $4";

/// `$2`'s pending address confirmed at `$1` by code hash `$3` (no row
/// when the code is wrong or over); the address.
pub const CONFIRM_EMAIL: &str = "UPDATE users SET email = email_pending, email_confirmed_at = $1, \
     email_pending = NULL, email_code_hash = NULL, email_code_expires_at = NULL \
     WHERE id = $2 AND email_code_hash = $3 AND email_code_expires_at > $1 \
     AND email_pending IS NOT NULL RETURNING email";

/// `$1` has no address any more (confirmed or pending).
pub const REMOVE_EMAIL: &str = "UPDATE users SET email = NULL, email_confirmed_at = NULL, \
     email_pending = NULL, email_code_hash = NULL, email_code_expires_at = NULL WHERE id = $1";

/// True when `user_id` is an administrator whose account is enabled.
pub async fn is_admin(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(bool,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT is_admin FROM users WHERE id = $1 AND disabled_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row.is_some_and(|(a,)| a))
}
