//! The `identities` and `sso_logins` tables: every statement on them.

/// The account an identity signs in as, with what a sign-in needs of it:
/// (`$1` issuer, `$2` subject) → id, name, disabled at, administrator,
/// service account.
pub const ACCOUNT_OF: &str = "SELECT u.id, u.username, u.disabled_at, u.is_admin, u.is_service \
     FROM identities i JOIN users u ON u.id = i.user_id WHERE i.issuer = $1 AND i.subject = $2";

/// A new identity (`$1` issuer, `$2` subject) of `$3`, made at `$4`.
pub const INSERT: &str = "INSERT INTO identities (issuer, subject, user_id, created_at) \
     VALUES ($1, $2, $3, $4)";

/// The identity (`$2` issuer, `$3` subject) signed in at `$1`.
pub const SIGNED_IN: &str =
    "UPDATE identities SET last_sign_in_at = $1 WHERE issuer = $2 AND subject = $3";

/// Every identity of `$1` (issuer, subject, made, last sign-in).
pub const OF_USER: &str = "SELECT issuer, subject, created_at, last_sign_in_at FROM identities \
     WHERE user_id = $1 ORDER BY created_at, subject";

/// `$1`'s identities at issuer `$2` removed.
pub const DELETE_OF_USER: &str = "DELETE FROM identities WHERE user_id = $1 AND issuer = $2";

/// `$1`'s identity (`$2` issuer, `$3` subject) removed.
pub const DELETE_ONE: &str =
    "DELETE FROM identities WHERE user_id = $1 AND issuer = $2 AND subject = $3";

/// A sign-in on its way (`$1` sha256 of the browser's cookie, `$2` state,
/// `$3` nonce, `$4` PKCE verifier, `$5` where to go after, `$6` ends at,
/// `$7` the signed-in user confirming it is them, when that is what it is).
pub const START: &str =
    "INSERT INTO sso_logins (id_hash, state, nonce, pkce_verifier, next, expires_at, sudo_user) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The sign-in of cookie hash `$1` taken (used once), if it has not ended
/// by `$2`: state, nonce, PKCE verifier, next, confirming user, end.
pub const TAKE: &str = "DELETE FROM sso_logins WHERE id_hash = $1 AND expires_at > $2 \
     RETURNING state, nonce, pkce_verifier, next, sudo_user, expires_at";

/// Sign-ins that ended by `$1`.
pub const PRUNE: &str = "DELETE FROM sso_logins WHERE expires_at <= $1";

/// How many identities `$1` has when it has no password (it signs in only
/// through a provider, whose two-factor rules then apply).
pub const COUNT_OF_SSO_ONLY: &str = "SELECT COUNT(*) FROM identities i JOIN users u \
     ON u.id = i.user_id WHERE i.user_id = $1 AND u.password_hash = '!'";
