//! Two-factor authentication: authenticator apps (TOTP, RFC 6238, by the
//! `totp-rs` crate), recovery codes, and the second step of a sign-in.
//!
//! - An app's key is made here (160 random bits), shown once as a QR code
//!   and as text while it is being added, and stored sealed with the
//!   server's key ([`Sealer`]). It counts only once a code from it was
//!   entered. A code works once: the last time step accepted is kept, and a
//!   code of that step or an earlier one is refused.
//! - Ten recovery codes (80 random bits each) are made with the first
//!   factor and on request; only their sha256 is kept, and each works once.
//! - A sign-in whose password was right waits for its second factor in a
//!   one-time row bound to the browser by a cookie (10 minutes). Every code
//!   entered counts against the same limits as a password (per account
//!   and per address), and the account's count starts again only when the
//!   second factor was right.

pub mod passkeys;
mod sql;

use super::{
    audit::{self, record_in, By, Event},
    db::{now, on_db, Db},
    refusal::Refusal,
    sessions::{self, random_text, Client, NewSession},
    throttle::{PasswordAttempt, RetryAfter},
    Core,
};
use crate::model::{CurrentUser, FactorView, FormFeedback, PendingApp, TwoFactorSettings};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use chrono::Duration;
use http::StatusCode;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// The cookie of a sign-in waiting for its second factor, over plain http.
pub const CHALLENGE_COOKIE: &str = "tessera_2fa";
/// The same over https (`__Host-`: Secure, Path=/, no Domain).
pub const SECURE_CHALLENGE_COOKIE: &str = "__Host-tessera_2fa";
/// How long a sign-in waits for its second factor, in minutes.
pub const CHALLENGE_MINUTES: i64 = 10;
/// How long an app being added waits for its first code, in minutes.
const PENDING_MINUTES: i64 = 15;
/// Recovery codes made at once.
pub const RECOVERY_CODES: usize = 10;
/// The longest name of a second factor, in characters.
pub const NAME_MAX: usize = 64;
/// What an authenticator app is called when the person names it nothing.
pub const DEFAULT_APP_NAME: &str = "Authenticator app";
/// The form field of an authenticator app's code.
pub const CODE_FIELD: &str = "code";
/// The form field of a recovery code.
pub const RECOVERY_FIELD: &str = "recovery_code";
/// The issuer authenticator apps show next to the account.
const ISSUER: &str = "Tessera";
/// Seconds per TOTP step (RFC 6238's default, what every app uses).
const STEP_SECS: i64 = 30;
/// The name of the server key that seals authenticator keys.
const KEY_NAME: &str = "two_factor";

/// The challenge cookie's name for a deployment.
pub fn challenge_cookie(secure: bool) -> &'static str {
    if secure {
        SECURE_CHALLENGE_COOKIE
    } else {
        CHALLENGE_COOKIE
    }
}

/// Why a two-factor step did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    /// Bad input: the form again with these messages.
    #[error("invalid input")]
    Invalid(Box<FormFeedback>),
    /// Too many codes tried: wait.
    #[error("too many attempts")]
    Throttled(RetryAfter, Box<FormFeedback>),
    /// The sign-in waiting for a second factor is gone (took too long,
    /// finished elsewhere, or never began).
    #[error("no sign-in is waiting")]
    NoSignIn,
    /// No such factor of this user.
    #[error("not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The sentence for a sign-in that is no longer waiting.
pub const SIGN_IN_AGAIN: &str = "Your sign-in took too long or was already used. Sign in again.";

impl From<TwoFactorError> for Refusal {
    fn from(e: TwoFactorError) -> Self {
        let with = Refusal::form;
        match e {
            TwoFactorError::Invalid(fb) => with(StatusCode::UNPROCESSABLE_ENTITY, *fb, None),
            TwoFactorError::Throttled(wait, fb) => {
                with(StatusCode::TOO_MANY_REQUESTS, *fb, Some(wait.seconds()))
            }
            TwoFactorError::NoSignIn => Refusal::new(StatusCode::UNAUTHORIZED, SIGN_IN_AGAIN),
            TwoFactorError::NotFound => Refusal::new(
                StatusCode::NOT_FOUND,
                "That second factor does not exist (it may have been removed already).",
            ),
            TwoFactorError::Database(e) => Refusal::ours(&e),
        }
    }
}

/// An audit event of `user_id`'s own doing, from `client`.
fn own_event(what: &'static str, user_id: i64, client: &Client) -> Event {
    Event::new(what, Some(user_id), None, By::User(user_id), Some(client))
}

fn field_error(field: &str, message: impl Into<String>) -> TwoFactorError {
    let mut fb = FormFeedback::default();
    fb.fields.insert(field.into(), message.into());
    TwoFactorError::Invalid(Box::new(fb))
}

/// A 256-bit key given by the operator (`--secret-key-file`); never printed.
#[derive(Clone)]
pub struct SecretKey(pub [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// Reads a key from the text of a key file: 64 hex digits or standard
    /// base64 of 32 bytes (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<SecretKey, String> {
        use base64::Engine as _;
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| e.to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| "it is neither 64 hex digits nor base64".to_string())?
        };
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(SecretKey)
            .map_err(|_| format!("it holds {} bytes; a key is 32", bytes.len()))
    }
}

/// Seals authenticator keys with XChaCha20-Poly1305 under the server's
/// key: the operator's (`--secret-key-file`, which a leaked database dump
/// does not carry), or else one made at first use and kept in the
/// database (`server_keys`), shared by every instance.
pub struct Sealer {
    configured: Option<SecretKey>,
    key: tokio::sync::OnceCell<SecretKey>,
}

impl Sealer {
    /// A sealer with the operator's key, if one was given.
    pub fn new(configured: Option<SecretKey>) -> Sealer {
        Sealer {
            configured,
            key: tokio::sync::OnceCell::new(),
        }
    }

    async fn key(&self, db: &Db) -> Result<&SecretKey, sqlx::Error> {
        self.key
            .get_or_try_init(|| async {
                if let Some(k) = &self.configured {
                    return Ok(k.clone());
                }
                let mut fresh = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut fresh);
                let stored: Vec<u8> = on_db!(db, pool => async {
                    sqlx::query(sql::INSERT_KEY)
                        .bind(KEY_NAME)
                        .bind(fresh.to_vec())
                        .bind(now())
                        .execute(pool)
                        .await?;
                    sqlx::query_scalar(sql::KEY).bind(KEY_NAME).fetch_one(pool).await
                }.await)?;
                <[u8; 32]>::try_from(stored.as_slice())
                    .map(SecretKey)
                    .map_err(|_| {
                        sqlx::Error::Protocol("the stored server key is not 32 bytes".into())
                    })
            })
            .await
    }

    /// `plain` sealed for `user_id` (who it belongs to is bound in: a
    /// sealed key moved to another account does not open).
    async fn seal(&self, db: &Db, user_id: i64, plain: &[u8]) -> Result<Vec<u8>, sqlx::Error> {
        let key = self.key(db).await?;
        let cipher = XChaCha20Poly1305::new((&key.0).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = user_id.to_be_bytes();
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| sqlx::Error::Protocol("sealing failed".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// What [`Sealer::seal`] sealed for `user_id`; `None` when it does not
    /// open (another key, another account, altered).
    async fn open(
        &self,
        db: &Db,
        user_id: i64,
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let key = self.key(db).await?;
        if sealed.len() < 24 {
            return Ok(None);
        }
        let cipher = XChaCha20Poly1305::new((&key.0).into());
        let aad = user_id.to_be_bytes();
        let (nonce, body) = sealed.split_at(24);
        Ok(cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .ok())
    }
}

/// The TOTP generator of an app key (SHA-1, 6 digits, 30 s: what every
/// authenticator app understands). No skew here: [`matching_step`] tries
/// the steps itself, so it knows which one matched.
fn generator(key: Vec<u8>, account: &str) -> Option<totp_rs::TOTP> {
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        0,
        STEP_SECS as u64,
        key,
        Some(ISSUER.into()),
        account.into(),
    )
    .ok()
}

/// The time step of `at`.
fn step_of(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECS)
}

/// The step (the previous, the current or the next one, for clocks a
/// little off) whose code is `code`, never one at or before `last` (a code
/// works once). Compared in constant time by `totp-rs`.
fn matching_step(totp: &totp_rs::TOTP, code: &str, current: i64, last: Option<i64>) -> Option<i64> {
    (current - 1..=current + 1)
        .filter(|s| last.is_none_or(|l| *s > l))
        .find(|s| u64::try_from(*s * STEP_SECS).is_ok_and(|t| totp.check(code, t)))
}

/// The code typed, as six digits (spaces dropped), or the field's message.
fn six_digits(code: &str) -> Result<String, TwoFactorError> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.is_empty() {
        return Err(field_error(
            CODE_FIELD,
            "Enter the 6-digit code from your authenticator app.",
        ));
    }
    if digits.chars().count() != 6 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(field_error(
            CODE_FIELD,
            "The code is the 6 digits your authenticator app shows.",
        ));
    }
    Ok(digits)
}

/// The alphabet of recovery codes (RFC 4648 base32, lower case).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new recovery code: 16 characters of base32 (80 bits), shown as
/// `abcd-efgh-ijkl-mnop`.
fn new_recovery_code() -> String {
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let chars: Vec<char> = raw
        .iter()
        .map(|b| RECOVERY_ALPHABET[usize::from(b & 31)] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// A recovery code as typed, normalised (lower case; dashes and spaces
/// dropped), or `None` when no code can look like it.
fn normal_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    (code.len() == 16 && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))).then_some(code)
}

fn recovery_hash(normal: &str) -> Vec<u8> {
    Sha256::digest(normal.as_bytes()).to_vec()
}

/// Replaces `user_id`'s recovery codes with `hashes`, inside the
/// transaction `tx` (either store's).
macro_rules! replace_recovery {
    ($tx:expr, $user:expr, $hashes:expr, $at:expr) => {{
        sqlx::query(sql::DELETE_RECOVERY)
            .bind($user)
            .execute(&mut *$tx)
            .await?;
        for h in $hashes.iter() {
            sqlx::query(sql::INSERT_RECOVERY)
                .bind($user)
                .bind(h)
                .bind($at)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// Groups of four, for a key typed by hand.
fn in_fours(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The QR code of `uri` as an SVG document (dark on light, with its quiet
/// zone), titled for screen readers.
fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
        Err(_) => String::new(),
    }
}

/// How many confirmed second factors `user_id` has.
pub async fn factor_count(db: &Db, user_id: i64) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar(sql::COUNT).bind(user_id).fetch_one(pool).await)
}

/// Whether `user_id` meets `require_two_factor`: a confirmed second factor,
/// or sign-ins only through the organization's provider (whose own
/// two-factor rules apply to them).
pub async fn satisfied(core: &Core, user_id: i64) -> Result<bool, sqlx::Error> {
    if factor_count(&core.db, user_id).await? > 0 {
        return Ok(true);
    }
    has_identity(core, user_id).await
}

/// Whether `user_id` signs in only through the organization's provider
/// (an identity, and no password: a password sign-in would skip the
/// provider's second factor).
async fn has_identity(core: &Core, user_id: i64) -> Result<bool, sqlx::Error> {
    let n: i64 = on_db!(&core.db, pool => sqlx::query_scalar(super::sso::sql::COUNT_OF_SSO_ONLY)
        .bind(user_id)
        .fetch_one(pool)
        .await)?;
    Ok(n > 0)
}

/// What Security → Two-factor authentication shows `user`.
/// An app being added shows its key only to a session in sudo mode
/// (`in_sudo`): a stolen session cookie does not learn it.
pub async fn settings(
    core: &Core,
    user: &CurrentUser,
    in_sudo: bool,
) -> Result<TwoFactorSettings, sqlx::Error> {
    type Row = (
        i64,
        String,
        String,
        chrono::DateTime<chrono::Utc>,
        Option<chrono::DateTime<chrono::Utc>>,
    );
    let rows: Vec<Row> = on_db!(&core.db, pool => sqlx::query_as(sql::LIST)
        .bind(user.id)
        .fetch_all(pool)
        .await)?;
    let (total, used): (i64, i64) = on_db!(&core.db, pool => sqlx::query_as(sql::RECOVERY_COUNTS)
        .bind(user.id)
        .fetch_one(pool)
        .await)?;
    let pending = match pending_app(core, user.id).await?.filter(|_| in_sudo) {
        Some((id, key, name)) => generator(key, &user.username).map(|totp| PendingApp {
            id,
            name,
            key: in_fours(&totp.get_secret_base32()),
            qr_svg: qr_svg(&totp.get_url()),
        }),
        None => None,
    };
    Ok(TwoFactorSettings {
        factors: rows
            .into_iter()
            .map(|(id, kind, name, created_at, last_used_at)| FactorView {
                id,
                kind,
                name,
                created_at,
                last_used_at,
            })
            .collect(),
        recovery_total: total,
        recovery_left: total - used,
        pending,
        required: core.policies().require_two_factor,
        passkeys: core.passkeys.available(),
        single_sign_on: has_identity(core, user.id).await?,
    })
}

/// `user_id`'s app being added (id, key, name), if it was begun recently.
async fn pending_app(
    core: &Core,
    user_id: i64,
) -> Result<Option<(i64, Vec<u8>, String)>, sqlx::Error> {
    let since = now() - Duration::minutes(PENDING_MINUTES);
    let row: Option<(i64, Vec<u8>, String)> = on_db!(&core.db, pool => sqlx::query_as(sql::PENDING_APP)
        .bind(user_id)
        .bind(since)
        .fetch_optional(pool)
        .await)?;
    let Some((id, sealed, name)) = row else {
        return Ok(None);
    };
    Ok(core
        .sealer
        .open(&core.db, user_id, &sealed)
        .await?
        .map(|key| (id, key, name)))
}

/// Begins adding an authenticator app for `user_id`: a new key (any app
/// being added before is dropped). The page then shows it.
pub async fn begin_app(core: &Core, user_id: i64) -> Result<(), TwoFactorError> {
    let mut key = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let sealed = core.sealer.seal(&core.db, user_id, &key).await?;
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query(sql::DELETE_PENDING).bind(user_id).execute(&mut *tx).await?;
        sqlx::query(sql::INSERT_PENDING_APP)
            .bind(user_id)
            .bind(DEFAULT_APP_NAME)
            .bind(&sealed)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }.await)?;
    Ok(())
}

/// Stops adding an app.
pub async fn cancel_app(core: &Core, user_id: i64) -> Result<(), TwoFactorError> {
    on_db!(&core.db, pool => sqlx::query(sql::DELETE_PENDING).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// A factor's name as typed: trimmed, `default` when empty; the field's
/// message when it is too long or has control characters.
fn factor_name(typed: &str, default: &str) -> Result<String, TwoFactorError> {
    let name = typed.trim();
    if name.is_empty() {
        return Ok(default.into());
    }
    if name.chars().count() > NAME_MAX {
        return Err(field_error(
            "name",
            format!("Names are at most {NAME_MAX} characters."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(field_error(
            "name",
            "Names cannot contain control characters.",
        ));
    }
    Ok(name.into())
}

/// Finishes adding the app being added, once `code` is one of its codes.
/// Returns the recovery codes to show once when these are the account's
/// first (none unused yet).
pub async fn confirm_app(
    core: &Core,
    user: &CurrentUser,
    client: &Client,
    name: &str,
    code: &str,
) -> Result<Option<Vec<String>>, TwoFactorError> {
    let name = factor_name(name, DEFAULT_APP_NAME)?;
    let code = six_digits(code)?;
    let Some((id, key, _)) = pending_app(core, user.id).await? else {
        return Err(TwoFactorError::Invalid(Box::new(FormFeedback {
            message: Some(
                "Adding the app took too long. Start again: Add an authenticator app.".into(),
            ),
            ..Default::default()
        })));
    };
    let totp = generator(key, &user.username).ok_or(TwoFactorError::NotFound)?;
    let at = now();
    let Some(step) = matching_step(&totp, &code, step_of(at), None) else {
        return Err(field_error(
            CODE_FIELD,
            "That code does not match. Check the time on your device, then enter the code the app shows now.",
        ));
    };
    let (codes, hashes) = recovery_set();
    let event = own_event("two_factor.added", user.id, client)
        .with(serde_json::json!({ "kind": "totp", "id": id, "name": name }));
    let first: Option<bool> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(sql::CONFIRM_APP)
            .bind(id)
            .bind(user.id)
            .bind(at)
            .bind(&name)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let (total, used): (i64, i64) = sqlx::query_as(sql::RECOVERY_COUNTS)
            .bind(user.id)
            .fetch_one(&mut *tx)
            .await?;
        let first = total == used;
        if first {
            replace_recovery!(tx, user.id, hashes, at);
        }
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some(first))
    }.await)?;
    match first {
        Some(first) => Ok(first.then_some(codes)),
        // another request confirmed it a moment ago
        None => Err(TwoFactorError::NotFound),
    }
}

/// Ten new recovery codes and their hashes.
fn recovery_set() -> (Vec<String>, Vec<Vec<u8>>) {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes = codes
        .iter()
        .filter_map(|c| normal_recovery_code(c))
        .map(|c| recovery_hash(&c))
        .collect();
    (codes, hashes)
}

/// New recovery codes for `user_id` (the old ones stop working), shown
/// once. Only for an account with a second factor.
pub async fn new_recovery_codes(
    core: &Core,
    user_id: i64,
    client: &Client,
) -> Result<Vec<String>, TwoFactorError> {
    if factor_count(&core.db, user_id).await? == 0 {
        return Err(TwoFactorError::Invalid(Box::new(FormFeedback {
            message: Some(
                "Add a passkey or an authenticator app first: recovery codes stand in for them."
                    .into(),
            ),
            ..Default::default()
        })));
    }
    let (codes, hashes) = recovery_set();
    let event = own_event("two_factor.recovery_codes_made", user_id, client);
    let at = now();
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        replace_recovery!(tx, user_id, hashes, at);
        record_in!(&mut *tx, event)?;
        tx.commit().await
    }.await)?;
    Ok(codes)
}

/// Removes `user_id`'s factor `id`. Removing the last one turns two-factor
/// off: the recovery codes go too.
pub async fn remove(
    core: &Core,
    user_id: i64,
    client: &Client,
    id: i64,
) -> Result<(), TwoFactorError> {
    let removed: Option<(String, String)> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let row: Option<(String, String)> = sqlx::query_as(sql::DELETE)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((kind, name)) = row else {
            return Ok(None);
        };
        let left: i64 = sqlx::query_scalar(sql::COUNT).bind(user_id).fetch_one(&mut *tx).await?;
        if left == 0 {
            sqlx::query(sql::DELETE_RECOVERY).bind(user_id).execute(&mut *tx).await?;
        }
        let event = own_event("two_factor.removed", user_id, client)
            .with(serde_json::json!({ "kind": kind, "id": id, "name": name, "left": left }));
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some((kind, name)))
    }.await)?;
    removed.map(|_| ()).ok_or(TwoFactorError::NotFound)
}

/// An administrator's reset of `user_id`'s second factors (a lost phone):
/// every factor, recovery code and waiting sign-in goes. Audited; `false`
/// when there was nothing to reset.
pub async fn reset(core: &Core, user_id: i64, by: By) -> Result<bool, sqlx::Error> {
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let factors = sqlx::query(sql::DELETE_ALL).bind(user_id).execute(&mut *tx).await?.rows_affected();
        let codes = sqlx::query(sql::DELETE_RECOVERY).bind(user_id).execute(&mut *tx).await?.rows_affected();
        sqlx::query(sql::END_CHALLENGES_OF).bind(user_id).execute(&mut *tx).await?;
        if factors + codes == 0 {
            return Ok(false);
        }
        let event = Event::new("two_factor.reset", Some(user_id), None, by, None)
            .with(serde_json::json!({ "factors": factors, "recovery_codes": codes }));
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok(true)
    }.await)
}

/// Ends every sign-in of `user_id` waiting for a second factor (its
/// password changed).
pub async fn end_waiting(core: &Core, user_id: i64) -> Result<(), sqlx::Error> {
    on_db!(&core.db, pool => sqlx::query(sql::END_CHALLENGES_OF)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A sign-in of `user_id` whose password was right now waits for its
/// second factor; the cookie value that binds it to this browser.
pub async fn begin_sign_in(core: &Core, user_id: i64, next: &str) -> Result<String, sqlx::Error> {
    let cookie = random_text(32);
    let expires = now() + Duration::minutes(CHALLENGE_MINUTES);
    on_db!(&core.db, pool => sqlx::query(sql::CHALLENGE)
        .bind(hash_cookie(&cookie))
        .bind(user_id)
        .bind(next)
        .bind(expires)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(cookie)
}

fn hash_cookie(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// A signed-in session after the second factor, and where to go.
#[derive(Debug)]
pub struct SecondStepDone {
    /// Who signed in.
    pub user: CurrentUser,
    /// The new session.
    pub session: NewSession,
    /// Where the sign-in was headed (a path on this site, or empty).
    pub next: String,
}

/// The second step of a sign-in: an authenticator app's `code` or a
/// `recovery` code for the sign-in bound to `cookie`. Counted against the
/// sign-in limits; the sign-in ends at its first success.
pub async fn finish_sign_in(
    core: &Core,
    client: &Client,
    cookie: &str,
    code: &str,
    recovery: &str,
) -> Result<SecondStepDone, TwoFactorError> {
    let w = waiting(core, cookie).await?;
    let (user_id, username) = (w.user.id, w.user.username.clone());
    let using_recovery = code.trim().is_empty() && !recovery.trim().is_empty();
    // the shape first: a typo costs no attempt
    let typed = if using_recovery {
        normal_recovery_code(recovery).ok_or_else(|| {
            field_error(
                RECOVERY_FIELD,
                "Recovery codes are 16 letters and digits, like abcd-efgh-ijkl-mnop.",
            )
        })?
    } else {
        six_digits(code)?
    };
    let attempt = match PasswordAttempt::begin(&core.throttle, client, &username).await? {
        Ok(a) => a,
        Err(wait) => {
            let fb = FormFeedback {
                message: Some(wait.too_many_attempts()),
                ..Default::default()
            };
            return Err(TwoFactorError::Throttled(wait, Box::new(fb)));
        }
    };
    let at = now();
    let spent = using_recovery.then(|| recovery_hash(&typed));
    let method = if using_recovery {
        Some("password+recovery_code")
    } else {
        app_code_ok(core, user_id, &username, &typed, at)
            .await?
            .then_some("password+totp")
    };
    let done = match method {
        Some(method) => complete(core, client, w, method, spent.as_deref()).await?,
        None => None,
    };
    let Some(done) = done else {
        let event = own_event("session.two_factor_failed", user_id, client).with(
            serde_json::json!({ "with": if using_recovery { "recovery_code" } else { "totp" } }),
        );
        audit::record(&core.db, &event).await?;
        return Err(if using_recovery {
            field_error(
                RECOVERY_FIELD,
                "That recovery code is not valid or was used already.",
            )
        } else {
            field_error(
                CODE_FIELD,
                "That code is not valid. Enter the code your app shows now.",
            )
        });
    };
    attempt.succeeded(&core.throttle).await?;
    if using_recovery {
        let left: (i64, i64) = on_db!(&core.db, pool => sqlx::query_as(sql::RECOVERY_COUNTS)
            .bind(user_id)
            .fetch_one(pool)
            .await)?;
        let event = own_event("two_factor.recovery_code_used", user_id, client)
            .with(serde_json::json!({ "left": left.0 - left.1 }));
        audit::record(&core.db, &event).await?;
    }
    Ok(done)
}

/// A sign-in waiting for its second factor.
pub(crate) struct Waiting {
    id_hash: Vec<u8>,
    /// Who it is for.
    pub user: CurrentUser,
    next: String,
}

/// The sign-in bound to `cookie`, if it is still waiting.
pub(crate) async fn waiting(core: &Core, cookie: &str) -> Result<Waiting, TwoFactorError> {
    if cookie.len() != 43 {
        return Err(TwoFactorError::NoSignIn);
    }
    let id_hash = hash_cookie(cookie);
    type Row = (i64, String, String, bool, bool);
    let row: Option<Row> = on_db!(&core.db, pool => sqlx::query_as(sql::CHALLENGE_OF)
        .bind(&id_hash)
        .bind(now())
        .fetch_optional(pool)
        .await)?;
    let Some((id, username, next, is_admin, must_change_password)) = row else {
        return Err(TwoFactorError::NoSignIn);
    };
    Ok(Waiting {
        id_hash,
        user: CurrentUser {
            id,
            username,
            is_admin,
            must_change_password,
        },
        next,
    })
}

/// The waiting sign-in `w` is done (`method`: how the second factor was
/// given): it ends (once: a second request with it finds none) and a
/// session begins.
pub(crate) async fn complete(
    core: &Core,
    client: &Client,
    w: Waiting,
    method: &'static str,
    recovery: Option<&[u8]>,
) -> Result<Option<SecondStepDone>, TwoFactorError> {
    // a policy set while the sign-in waited applies to it
    if !w.user.is_admin && core.policies_for_write().await.sso_required {
        return Err(TwoFactorError::Invalid(Box::new(FormFeedback {
            message: Some("Your organization signs in through single sign-on.".into()),
            ..Default::default()
        })));
    }
    let at = now();
    // the recovery code is spent only by the request that ends the sign-in
    let ended: Option<bool> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        if let Some(hash) = recovery {
            let used = sqlx::query(sql::USE_RECOVERY)
                .bind(w.user.id)
                .bind(hash)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if used == 0 {
                return Ok(Some(false));
            }
        }
        let ended = sqlx::query(sql::END_CHALLENGE)
            .bind(&w.id_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if ended == 0 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some(true))
    }.await)?;
    match ended {
        None => Err(TwoFactorError::NoSignIn),
        Some(false) => Ok(None),
        Some(true) => {
            let session =
                sessions::create(&core.db, w.user.id, client, "session.signed_in", method, at)
                    .await?;
            Ok(Some(SecondStepDone {
                user: w.user,
                session,
                next: w.next,
            }))
        }
    }
}

/// Whether `code` is the current code of one of `user_id`'s apps, not used
/// before; the step it matched is then used up (atomically: of two
/// requests with the same code, one wins).
async fn app_code_ok(
    core: &Core,
    user_id: i64,
    username: &str,
    code: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, sqlx::Error> {
    let apps: Vec<(i64, Vec<u8>, Option<i64>)> = on_db!(&core.db, pool => sqlx::query_as(sql::APPS)
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
    let current = step_of(at);
    for (id, sealed, last) in apps {
        let Some(key) = core.sealer.open(&core.db, user_id, &sealed).await? else {
            tracing::warn!(
                factor = id,
                "an authenticator key does not open with the server key"
            );
            continue;
        };
        let Some(totp) = generator(key, username) else {
            continue;
        };
        if let Some(step) = matching_step(&totp, code, current, last) {
            let won = on_db!(&core.db, pool => sqlx::query(sql::USE_STEP)
                .bind(id)
                .bind(step)
                .bind(at)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
            return Ok(won == 1);
        }
    }
    Ok(false)
}

/// Deletes sign-ins that waited too long and apps never confirmed
/// (housekeeping).
pub async fn prune(db: &Db) -> Result<(), sqlx::Error> {
    let at = now();
    on_db!(db, pool => async {
        sqlx::query(sql::PRUNE_CHALLENGES).bind(at).execute(pool).await?;
        sqlx::query(sql::PRUNE_CEREMONIES).bind(at).execute(pool).await?;
        sqlx::query(sql::PRUNE_PENDING)
            .bind(at - Duration::minutes(PENDING_MINUTES))
            .execute(pool)
            .await?;
        Ok::<(), sqlx::Error>(())
    }.await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vectors_and_one_use_per_step() {
        // RFC 6238 appendix B, SHA-1, 8 digits truncated to the 6 an app shows
        let key = b"12345678901234567890".to_vec();
        let totp = totp_rs::TOTP::new(
            totp_rs::Algorithm::SHA1,
            8,
            0,
            30,
            key.clone(),
            None,
            "a".into(),
        )
        .unwrap();
        assert_eq!(totp.generate(59), "94287082");
        assert_eq!(totp.generate(1_111_111_109), "07081804");
        let six = generator(key, "alice").unwrap();
        let step = 1_111_111_109 / 30;
        let code = six.generate(1_111_111_109);
        assert_eq!(code, "081804");
        assert_eq!(matching_step(&six, &code, step, None), Some(step));
        assert_eq!(matching_step(&six, &code, step + 1, None), Some(step));
        assert_eq!(matching_step(&six, &code, step, Some(step)), None, "replay");
        assert_eq!(matching_step(&six, &code, step + 2, None), None, "too old");
        assert_eq!(matching_step(&six, "000000", step, None), None);
    }

    #[test]
    fn recovery_codes_are_80_bits_and_typed_loosely() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 19);
        let normal = normal_recovery_code(&code).unwrap();
        assert_eq!(normal.len(), 16);
        assert_eq!(
            normal_recovery_code(&format!(" {} ", code.to_uppercase().replace('-', " "))),
            Some(normal)
        );
        for bad in [
            "",
            "abcd",
            "abcd-efgh-ijkl-mno1",
            "ａｂｃｄ-efgh-ijkl-mnop",
            &"a".repeat(10_000),
        ] {
            assert_eq!(normal_recovery_code(bad), None, "{bad:?}");
        }
        let (codes, hashes) = recovery_set();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(hashes.len(), RECOVERY_CODES);
    }

    #[test]
    fn secret_keys_parse_from_hex_or_base64_only() {
        let hex = "00".repeat(32);
        assert!(SecretKey::parse(&format!("{hex}\n")).is_ok());
        assert!(SecretKey::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok());
        assert!(SecretKey::parse("short").is_err());
        assert!(SecretKey::parse(&"00".repeat(16)).is_err());
        assert_eq!(format!("{:?}", SecretKey([7; 32])), "SecretKey(<redacted>)");
    }

    #[test]
    fn codes_are_six_digits() {
        assert_eq!(six_digits(" 123 456 ").unwrap(), "123456");
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦"] {
            assert!(six_digits(bad).is_err(), "{bad:?}");
        }
    }
}
