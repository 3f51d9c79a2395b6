//! The `second_factors`, `recovery_codes`, `two_factor_challenges` and
//! `server_keys` tables: every statement on them.

/// `$1`'s confirmed second factors: id, kind, name, added, last used.
pub const LIST: &str = "SELECT id, kind, name, created_at, last_used_at FROM second_factors \
     WHERE user_id = $1 AND confirmed_at IS NOT NULL ORDER BY created_at, id";

/// How many confirmed second factors `$1` has.
pub const COUNT: &str =
    "SELECT COUNT(*) FROM second_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL";

/// `$1`'s confirmed authenticator apps: id, sealed key, last step accepted.
pub const APPS: &str = "SELECT id, secret, last_step FROM second_factors \
     WHERE user_id = $1 AND kind = 'totp' AND confirmed_at IS NOT NULL";

/// An app being added (`$1` user, `$2` name, `$3` sealed key, `$4` now); its id.
pub const INSERT_PENDING_APP: &str = "INSERT INTO second_factors (user_id, kind, name, secret, \
     created_at) VALUES ($1, 'totp', $2, $3, $4) RETURNING id";

/// `$1`'s apps still being added (any begun before `$2` too).
pub const DELETE_PENDING: &str =
    "DELETE FROM second_factors WHERE user_id = $1 AND confirmed_at IS NULL";

/// Apps still being added that were begun before `$1`.
pub const PRUNE_PENDING: &str =
    "DELETE FROM second_factors WHERE confirmed_at IS NULL AND created_at <= $1";

/// `$1`'s app being added, begun after `$2`: id, sealed key, name.
pub const PENDING_APP: &str = "SELECT id, secret, name FROM second_factors WHERE user_id = $1 \
     AND kind = 'totp' AND confirmed_at IS NULL AND created_at > $2 ORDER BY id DESC LIMIT 1";

/// App `$1` of `$2` confirmed at `$3` as `$4`, its code's step `$5` used;
/// no row when it was confirmed already.
pub const CONFIRM_APP: &str = "UPDATE second_factors SET confirmed_at = $3, name = $4, \
     last_step = $5, last_used_at = $3 WHERE id = $1 AND user_id = $2 AND confirmed_at IS NULL";

/// A code of step `$2` accepted for factor `$1` at `$3`: no row when that
/// step (or a later one) was used already, so a code works once.
pub const USE_STEP: &str = "UPDATE second_factors SET last_step = $2, last_used_at = $3 \
     WHERE id = $1 AND (last_step IS NULL OR last_step < $2)";

/// Factor `$1` of `$2` removed; its kind and name.
pub const DELETE: &str = "DELETE FROM second_factors WHERE id = $1 AND user_id = $2 \
     AND confirmed_at IS NOT NULL RETURNING kind, name";

/// Every second factor of `$1` removed (an administrator's reset).
pub const DELETE_ALL: &str = "DELETE FROM second_factors WHERE user_id = $1";

/// `$1`'s recovery codes: how many, how many used.
pub const RECOVERY_COUNTS: &str = "SELECT COUNT(*), COUNT(used_at) FROM recovery_codes \
     WHERE user_id = $1";

/// Every recovery code of `$1` removed.
pub const DELETE_RECOVERY: &str = "DELETE FROM recovery_codes WHERE user_id = $1";

/// A recovery code (`$2` its sha256) of `$1`, made at `$3`.
pub const INSERT_RECOVERY: &str =
    "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)";

/// Recovery code `$2` of `$1` used at `$3`: no row when it was used before
/// (or is not theirs).
pub const USE_RECOVERY: &str = "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 \
     AND code_hash = $2 AND used_at IS NULL";

/// A sign-in waiting for its second factor (`$1` sha256 of the browser's
/// cookie, `$2` user, `$3` where to go after, `$4` ends at).
pub const CHALLENGE: &str =
    "INSERT INTO two_factor_challenges (id_hash, user_id, next, expires_at) VALUES ($1, $2, $3, $4)";

/// The sign-in of cookie hash `$1` not ended by `$2`: user, name, where
/// to go after, administrator, one-time password.
pub const CHALLENGE_OF: &str = "SELECT c.user_id, u.username, c.next, u.is_admin, \
     u.must_change_password FROM two_factor_challenges c JOIN users u ON u.id = c.user_id \
     WHERE c.id_hash = $1 AND c.expires_at > $2 AND u.disabled_at IS NULL";

/// The sign-in of cookie hash `$1` done (used once): no row when another
/// request finished it first.
pub const END_CHALLENGE: &str = "DELETE FROM two_factor_challenges WHERE id_hash = $1";

/// Every sign-in of `$1` waiting for a second factor.
pub const END_CHALLENGES_OF: &str = "DELETE FROM two_factor_challenges WHERE user_id = $1";

/// Sign-ins that ended by `$1`.
pub const PRUNE_CHALLENGES: &str = "DELETE FROM two_factor_challenges WHERE expires_at <= $1";

/// The server key `$1`.
pub const KEY: &str = "SELECT key FROM server_keys WHERE name = $1";

/// The server key `$1` is `$2` (made at `$3`) unless another process made
/// it first.
pub const INSERT_KEY: &str = "INSERT INTO server_keys (name, key, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO NOTHING";

/// `$1`'s passkeys: id, the credential (JSON).
pub const PASSKEYS: &str = "SELECT id, secret FROM second_factors WHERE user_id = $1 \
     AND kind = 'passkey' AND confirmed_at IS NOT NULL";

/// `$1`'s passkey ids (credential ids), to exclude at registration.
pub const PASSKEY_IDS: &str = "SELECT credential_id FROM second_factors WHERE user_id = $1 \
     AND kind = 'passkey'";

/// A passkey (`$1` user, `$2` name, `$3` credential JSON, `$4` its id,
/// `$5` now); its id.
pub const INSERT_PASSKEY: &str = "INSERT INTO second_factors (user_id, kind, name, secret, \
     credential_id, created_at, confirmed_at) VALUES ($1, 'passkey', $2, $3, $4, $5, $5) RETURNING id";

/// Passkey `$1` used at `$2`, its credential now `$3` (a counter moved).
pub const USE_PASSKEY: &str =
    "UPDATE second_factors SET last_used_at = $2, secret = COALESCE($3, secret) WHERE id = $1";

/// The passkey handle of `$1`.
pub const HANDLE_OF: &str = "SELECT passkey_handle FROM users WHERE id = $1";

/// `$1`'s passkey handle is `$2`, unless it has one.
pub const SET_HANDLE: &str =
    "UPDATE users SET passkey_handle = $2 WHERE id = $1 AND passkey_handle IS NULL";

/// The account whose passkey handle is `$1`: id, name, administrator,
/// one-time password, disabled.
pub const ACCOUNT_OF_HANDLE: &str = "SELECT id, username, is_admin, must_change_password, \
     disabled_at IS NOT NULL FROM users WHERE passkey_handle = $1";

/// A ceremony (`$1` sha256 of its id, `$2` user, `$3` purpose, `$4` state,
/// `$5` ends at).
pub const CEREMONY: &str = "INSERT INTO passkey_ceremonies (id_hash, user_id, purpose, state, \
     expires_at) VALUES ($1, $2, $3, $4, $5)";

/// `$1`'s ceremonies of purpose `$2` (a new one replaces them).
pub const END_CEREMONIES_OF: &str =
    "DELETE FROM passkey_ceremonies WHERE user_id = $1 AND purpose = $2";

/// The ceremony of id hash `$1` and purpose `$2` taken (used once), if it
/// has not ended by `$3`: user, state.
pub const TAKE_CEREMONY: &str = "DELETE FROM passkey_ceremonies WHERE id_hash = $1 \
     AND purpose = $2 AND expires_at > $3 RETURNING user_id, state";

/// Ceremonies that ended by `$1`.
pub const PRUNE_CEREMONIES: &str = "DELETE FROM passkey_ceremonies WHERE expires_at <= $1";
