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
             AND t.expires_at > $1) AS active_tokens, \
             (SELECT COUNT(*) FROM identities i WHERE i.user_id = u.id) AS identities, \
             u.provisioned_at IS NOT NULL AS provisioned FROM users u ",
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

/// A new service account of organization `$4` (and team `$5`, if any):
/// `$1` name, `$2` its key, `$3` now; no password; its id.
pub const INSERT_ORG_SERVICE: &str =
    "INSERT INTO users (username, username_key, password_hash, created_at, \
     password_changed_at, must_change_password, is_service, service_org, service_team) \
     VALUES ($1, $2, '!', $3, $3, FALSE, TRUE, $4, $5) RETURNING id";

/// The organization service account `$1` belongs to (NULL: none).
pub const SERVICE_ORG: &str = "SELECT service_org FROM users WHERE id = $1";

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

/// An account as SCIM shows it (`crate::domain::scim::Row`): id, name,
/// external id, disabled at, confirmed e-mail, made, last changed. Service
/// accounts and deprovisioned accounts are not shown.
macro_rules! scim_user {
    ($where:literal) => {
        concat!(
            "SELECT id, username, external_id, disabled_at, email, created_at, \
             COALESCE(modified_at, created_at) AS modified_at FROM users \
             WHERE is_service = FALSE AND provisioned_at IS NOT NULL AND deprovisioned_at IS NULL ",
            $where
        )
    };
}

/// The SCIM account `$1`.
pub const SCIM_BY_ID: &str = scim_user!("AND id = $1");
/// SCIM accounts by id: `$1` of them after skipping `$2`.
pub const SCIM_PAGE: &str = scim_user!("ORDER BY id LIMIT $1 OFFSET $2");
/// The SCIM account with key `$1`.
pub const SCIM_BY_NAME: &str = scim_user!("AND username_key = $1");
/// SCIM accounts with external id `$1`.
pub const SCIM_BY_EXTERNAL: &str = scim_user!("AND external_id = $1 ORDER BY id");
/// How many accounts SCIM shows.
pub const SCIM_COUNT: &str =
    "SELECT COUNT(*) FROM users WHERE is_service = FALSE AND provisioned_at IS NOT NULL AND deprovisioned_at IS NULL";

/// A provisioned account (`$1` name, `$2` key, `$3` now, `$4` external id,
/// `$5` e-mail, `$6` when it counts as confirmed): no password (it signs in
/// through single sign-on); its id.
pub const SCIM_INSERT: &str =
    "INSERT INTO users (username, username_key, password_hash, created_at, \
     password_changed_at, must_change_password, external_id, provisioned_at, modified_at, email, \
     email_confirmed_at) VALUES ($1, $2, '!', $3, $3, FALSE, $4, $3, $3, $5, $6) RETURNING id";

/// `$7`'s name (`$1`, key `$2`), external id `$3`, e-mail `$4` (confirmed
/// at `$5`), changed at `$6`.
pub const SCIM_UPDATE: &str =
    "UPDATE users SET username = $1, username_key = $2, external_id = $3, \
     email = $4, email_confirmed_at = $5, modified_at = $6 \
     WHERE id = $7 AND provisioned_at IS NOT NULL AND deprovisioned_at IS NULL AND is_service = FALSE";

/// `$2` changed at `$1` (after a SCIM disable or enable).
pub const SCIM_TOUCH: &str = "UPDATE users SET modified_at = $1 WHERE id = $2";

/// `$2` deprovisioned (and disabled) at `$1`; no row when it already was.
pub const SCIM_DEPROVISION: &str = "UPDATE users SET deprovisioned_at = $1, \
     disabled_at = COALESCE(disabled_at, $1), modified_at = $1 \
     WHERE id = $2 AND provisioned_at IS NOT NULL AND deprovisioned_at IS NULL AND is_service = FALSE";

/// Links identity (`$1` issuer, `$2` subject, made at `$3`) to the
/// provisioned account whose external id is the subject, when exactly one
/// such account is enabled, no administrator, without a password and
/// without an identity at that issuer (never by name: anyone may call
/// themselves anything at a provider). One statement, so two subjects
/// cannot both take it.
pub const LINK_PROVISIONED: &str = "INSERT INTO identities (issuer, subject, user_id, created_at) \
     SELECT $1, $2, u.id, $3 FROM users u WHERE u.external_id = $2 AND u.provisioned_at IS NOT NULL \
     AND u.deprovisioned_at IS NULL AND u.disabled_at IS NULL AND u.is_admin = FALSE \
     AND u.password_hash = '!' AND u.is_service = FALSE \
     AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.issuer = $1) \
     AND (SELECT COUNT(*) FROM users o WHERE o.external_id = $2 AND o.deprovisioned_at IS NULL) = 1";
