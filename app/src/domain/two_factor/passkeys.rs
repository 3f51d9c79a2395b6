//! Passkeys (WebAuthn Level 3, checked by the `webauthn-rs` crate): added
//! on Security → Two-factor authentication, then used as the second step
//! of a sign-in, alone ("Sign in with a passkey": a discoverable
//! credential names its account by the handle it carries), or to confirm
//! sudo mode. Every ceremony is a one-time row (5 minutes) holding
//! webauthn-rs' state; the browser is given its random id and the options,
//! and sends back the credential as `PublicKeyCredential.toJSON()` makes
//! it. User verification is required, so a passkey is two factors by
//! itself.

use super::{complete, sql, waiting, SecondStepDone, TwoFactorError};
use crate::domain::{
    audit::{self, record_in},
    db::{now, on_db},
    sessions::{self, random_text, Client, NewSession, Session},
    throttle::{address_key, Door, RetryAfter},
    Core,
};
use crate::model::CurrentUser;
use chrono::Duration;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

/// How long a ceremony waits for the browser, in minutes.
const CEREMONY_MINUTES: i64 = 5;
/// The most passkeys one account may have.
pub const MAX_PASSKEYS: i64 = 20;
/// The longest credential a browser may send, in bytes.
const CREDENTIAL_MAX: usize = 16 * 1024;
/// What a passkey is called when the person names it nothing.
pub const DEFAULT_NAME: &str = "Passkey";

/// Why a passkey step did not go through (each says it in a sentence).
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// This server cannot offer passkeys (its address is no domain name).
    #[error("{0}")]
    Unavailable(String),
    /// The request or the browser's answer is not acceptable.
    #[error("{0}")]
    Refused(String),
    /// Too many sign-ins begun from this address.
    #[error("too many attempts")]
    Throttled(RetryAfter),
    /// A two-factor step failed (no sign-in waiting, a bad name…).
    #[error(transparent)]
    TwoFactor(#[from] TwoFactorError),
    /// The store failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl PasskeyError {
    /// The sentence for the person.
    pub fn sentence(&self) -> String {
        match self {
            PasskeyError::Unavailable(s) | PasskeyError::Refused(s) => s.clone(),
            PasskeyError::Throttled(wait) => wait.too_many_attempts(),
            PasskeyError::TwoFactor(TwoFactorError::NoSignIn) => super::SIGN_IN_AGAIN.into(),
            PasskeyError::TwoFactor(TwoFactorError::Invalid(fb)) => fb
                .message
                .clone()
                .or_else(|| fb.fields.values().next().cloned())
                .unwrap_or_else(|| NOT_CHECKED.into()),
            PasskeyError::TwoFactor(TwoFactorError::Throttled(wait, _)) => wait.too_many_attempts(),
            PasskeyError::TwoFactor(_) | PasskeyError::Database(_) => {
                crate::domain::refusal::OUR_SIDE.into()
            }
        }
    }

    /// A failure of ours (to be logged).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            PasskeyError::Database(_) | PasskeyError::TwoFactor(TwoFactorError::Database(_))
        )
    }
}

const NOT_CHECKED: &str =
    "Your passkey's answer could not be checked. Try again, or use another way to sign in.";
const TOO_LATE: &str = "The passkey prompt took too long. Try again.";

/// The relying party: this server, named by the host of its public URL.
pub struct Relying {
    webauthn: Result<Webauthn, String>,
}

impl Relying {
    /// The relying party of `public_url` (WebAuthn needs a domain name:
    /// an IP address cannot name one).
    pub fn new(public_url: &str) -> Relying {
        let webauthn = Url::parse(public_url)
            .map_err(|e| e.to_string())
            .and_then(|url| {
                let host = match url.domain() {
                    Some(d) => d.to_owned(),
                    None => return Err("its address is not a domain name".to_owned()),
                };
                WebauthnBuilder::new(&host, &url)
                    .and_then(|b| b.rp_name("Tessera").build())
                    .map_err(|e| e.to_string())
            })
            .map_err(|why| {
                format!("Passkeys are not available on this server ({why}): they need it to be reached by a domain name, e.g. https://tokens.example.com.")
            });
        Relying { webauthn }
    }

    fn get(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn
            .as_ref()
            .map_err(|why| PasskeyError::Unavailable(why.clone()))
    }

    /// Whether passkeys can be offered at all.
    pub fn available(&self) -> bool {
        self.webauthn.is_ok()
    }
}

/// What a ceremony is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Adding a passkey to the signed-in account.
    Register,
    /// The second step of a sign-in whose password was right.
    Second,
    /// Signing in with a passkey alone.
    SignIn,
    /// Confirming sudo mode.
    Sudo,
}

impl Purpose {
    /// Its name, as the pages and the store say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Second => "second",
            Purpose::SignIn => "signin",
            Purpose::Sudo => "sudo",
        }
    }

    /// The purpose named `s`.
    pub fn parse(s: &str) -> Option<Purpose> {
        [
            Purpose::Register,
            Purpose::Second,
            Purpose::SignIn,
            Purpose::Sudo,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A ceremony begun: its id, and the options for
/// `PublicKeyCredential.parse…OptionsFromJSON` (the `publicKey` member).
#[derive(Debug)]
pub struct Started {
    /// The ceremony's id (sent back with the credential).
    pub ceremony: String,
    /// The options, as JSON.
    pub options: String,
}

fn hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// The `publicKey` member of webauthn-rs' options, without its `null`s
/// (the browser's JSON parser takes a missing member, not a null one).
fn options_json(challenge: &impl serde::Serialize) -> Result<String, PasskeyError> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|_, v| !v.is_null());
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(challenge)
        .map_err(|e| PasskeyError::Refused(format!("options: {e}")))?;
    let mut public_key = v
        .get_mut("publicKey")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    strip(&mut public_key);
    Ok(public_key.to_string())
}

async fn save(
    core: &Core,
    user_id: Option<i64>,
    purpose: Purpose,
    state: &impl serde::Serialize,
) -> Result<String, PasskeyError> {
    let id = random_text(32);
    let state =
        serde_json::to_string(state).map_err(|e| PasskeyError::Refused(format!("state: {e}")))?;
    // one ceremony per account and purpose: a loop of starts keeps one row
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        if let Some(user_id) = user_id {
            sqlx::query(sql::END_CEREMONIES_OF)
                .bind(user_id)
                .bind(purpose.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(sql::CEREMONY)
            .bind(hash(&id))
            .bind(user_id)
            .bind(purpose.as_str())
            .bind(state)
            .bind(now() + Duration::minutes(CEREMONY_MINUTES))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }.await)?;
    Ok(id)
}

/// The ceremony `id` of `purpose`, taken (it works once): its user and
/// webauthn-rs' state.
async fn take<T: serde::de::DeserializeOwned>(
    core: &Core,
    id: &str,
    purpose: Purpose,
) -> Result<(Option<i64>, T), PasskeyError> {
    if id.len() != 43 {
        return Err(PasskeyError::Refused(TOO_LATE.into()));
    }
    let row: Option<(Option<i64>, String)> = on_db!(&core.db, pool => sqlx::query_as(sql::TAKE_CEREMONY)
        .bind(hash(id))
        .bind(purpose.as_str())
        .bind(now())
        .fetch_optional(pool)
        .await)?;
    let (user, state) = row.ok_or_else(|| PasskeyError::Refused(TOO_LATE.into()))?;
    let state = serde_json::from_str(&state).map_err(|_| PasskeyError::Refused(TOO_LATE.into()))?;
    Ok((user, state))
}

/// The browser's credential, read (bounded).
fn credential<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    if json.len() > CREDENTIAL_MAX {
        return Err(PasskeyError::Refused(NOT_CHECKED.into()));
    }
    serde_json::from_str(json).map_err(|_| PasskeyError::Refused(NOT_CHECKED.into()))
}

/// `user_id`'s passkeys with their factor ids.
async fn passkeys_of(core: &Core, user_id: i64) -> Result<Vec<(i64, Passkey)>, PasskeyError> {
    let rows: Vec<(i64, Vec<u8>)> = on_db!(&core.db, pool => sqlx::query_as(sql::PASSKEYS)
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, json)| serde_json::from_slice(&json).ok().map(|p| (id, p)))
        .collect())
}

/// `user_id`'s passkey handle, made with the first passkey.
async fn handle_of(core: &Core, user_id: i64) -> Result<Uuid, PasskeyError> {
    use rand::RngCore as _;
    let mut fresh = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    let fresh = Uuid::from_bytes(fresh).to_string();
    let stored: Option<String> = on_db!(&core.db, pool => async {
        sqlx::query(sql::SET_HANDLE).bind(user_id).bind(&fresh).execute(pool).await?;
        sqlx::query_scalar(sql::HANDLE_OF).bind(user_id).fetch_one(pool).await
    }.await)?;
    stored
        .and_then(|h| Uuid::parse_str(&h).ok())
        .ok_or_else(|| PasskeyError::Refused(NOT_CHECKED.into()))
}

/// A passkey `factor` was just used: its last use, and its counter.
async fn used(
    core: &Core,
    factor: i64,
    mut passkey: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<(), PasskeyError> {
    let changed = passkey.update_credential(result) == Some(true);
    let json = changed.then(|| serde_json::to_vec(&passkey).ok()).flatten();
    on_db!(&core.db, pool => sqlx::query(sql::USE_PASSKEY)
        .bind(factor)
        .bind(now())
        .bind(json)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Begins adding a passkey to `user` (the caller checked sudo mode): a
/// discoverable credential, user verification required, none of the
/// account's passkeys again.
pub async fn start_register(core: &Core, user: &CurrentUser) -> Result<Started, PasskeyError> {
    let webauthn = core.passkeys.get()?;
    let existing: Vec<(Option<Vec<u8>>,)> = on_db!(&core.db, pool => sqlx::query_as(sql::PASSKEY_IDS)
        .bind(user.id)
        .fetch_all(pool)
        .await)?;
    if existing.len() as i64 >= MAX_PASSKEYS {
        return Err(PasskeyError::Refused(format!(
            "An account can have at most {MAX_PASSKEYS} passkeys. Remove one first."
        )));
    }
    let exclude = existing
        .into_iter()
        .filter_map(|(id,)| id.map(Into::into))
        .collect();
    let handle = handle_of(core, user.id).await?;
    let (mut options, state): (_, PasskeyRegistration) = webauthn
        .start_passkey_registration(handle, &user.username, &user.username, Some(exclude))
        .map_err(|e| PasskeyError::Refused(format!("{NOT_CHECKED} ({e})")))?;
    // a passkey: kept on the authenticator, so it can sign in alone
    if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
        sel.require_resident_key = true;
    }
    let ceremony = save(core, Some(user.id), Purpose::Register, &state).await?;
    Ok(Started {
        ceremony,
        options: options_json(&options)?,
    })
}

/// Finishes adding a passkey named `name` to `user`.
pub async fn finish_register(
    core: &Core,
    user: &CurrentUser,
    client: &Client,
    ceremony: &str,
    name: &str,
    credential_json: &str,
) -> Result<i64, PasskeyError> {
    let webauthn = core.passkeys.get()?;
    let name = super::factor_name(name, DEFAULT_NAME)?;
    let (owner, state): (_, PasskeyRegistration) = take(core, ceremony, Purpose::Register).await?;
    if owner != Some(user.id) {
        return Err(PasskeyError::Refused(TOO_LATE.into()));
    }
    let reg: RegisterPublicKeyCredential = credential(credential_json)?;
    let passkey = webauthn
        .finish_passkey_registration(&reg, &state)
        .map_err(|e| PasskeyError::Refused(format!("{NOT_CHECKED} ({e})")))?;
    let json = serde_json::to_vec(&passkey).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let cred_id: Vec<u8> = passkey.cred_id().to_vec();
    let at = now();
    let event = super::own_event("two_factor.added", user.id, client);
    let inserted: Result<i64, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(sql::INSERT_PASSKEY)
            .bind(user.id)
            .bind(&name)
            .bind(&json)
            .bind(&cred_id)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
        let event = event.with(serde_json::json!({ "kind": "passkey", "id": id, "name": name }));
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok(id)
    }.await);
    inserted.map_err(|e| {
        if crate::domain::db::is_unique_violation(&e) {
            PasskeyError::Refused("That passkey is registered already.".into())
        } else {
            e.into()
        }
    })
}

/// Begins the second step of the sign-in bound to `cookie` with one of its
/// account's passkeys.
pub async fn start_second(core: &Core, cookie: &str) -> Result<Started, PasskeyError> {
    let w = waiting(core, cookie).await?;
    let none = "This account has no passkey. Use your authenticator app or a recovery code.";
    start_assertion(core, w.user.id, Purpose::Second, none).await
}

/// An assertion ceremony of `purpose` for one of `user_id`'s passkeys
/// (`none`: the sentence when there is none).
async fn start_assertion(
    core: &Core,
    user_id: i64,
    purpose: Purpose,
    none: &str,
) -> Result<Started, PasskeyError> {
    let webauthn = core.passkeys.get()?;
    let keys: Vec<Passkey> = passkeys_of(core, user_id)
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if keys.is_empty() {
        return Err(PasskeyError::Refused(none.into()));
    }
    let (options, state): (_, PasskeyAuthentication) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| PasskeyError::Refused(format!("{NOT_CHECKED} ({e})")))?;
    let ceremony = save(core, Some(user_id), purpose, &state).await?;
    Ok(Started {
        ceremony,
        options: options_json(&options)?,
    })
}

/// Checks an assertion against `user_id`'s passkeys (the ceremony's
/// state), notes the use; a failure is audited as `failed` and refused.
async fn check_assertion(
    core: &Core,
    client: &Client,
    user_id: i64,
    state: &PasskeyAuthentication,
    credential_json: &str,
    failed: &'static str,
) -> Result<(), PasskeyError> {
    let webauthn = core.passkeys.get()?;
    let cred: PublicKeyCredential = credential(credential_json)?;
    let keys = passkeys_of(core, user_id).await?;
    match webauthn.finish_passkey_authentication(&cred, state) {
        Ok(result) => {
            let found = keys
                .into_iter()
                .find(|(_, p)| p.cred_id() == result.cred_id());
            match found {
                Some((factor, passkey)) => used(core, factor, passkey, &result).await,
                None => Err(PasskeyError::Refused(NOT_CHECKED.into())),
            }
        }
        Err(e) => {
            let event = super::own_event(failed, user_id, client)
                .with(serde_json::json!({ "with": "passkey", "error": e.to_string() }));
            audit::record(&core.db, &event).await?;
            Err(PasskeyError::Refused(NOT_CHECKED.into()))
        }
    }
}

/// Finishes the second step with a passkey: the session.
pub async fn finish_second(
    core: &Core,
    client: &Client,
    cookie: &str,
    ceremony: &str,
    credential_json: &str,
) -> Result<SecondStepDone, PasskeyError> {
    let w = waiting(core, cookie).await?;
    let (owner, state): (_, PasskeyAuthentication) = take(core, ceremony, Purpose::Second).await?;
    if owner != Some(w.user.id) {
        return Err(PasskeyError::Refused(TOO_LATE.into()));
    }
    check_assertion(
        core,
        client,
        w.user.id,
        &state,
        credential_json,
        "session.two_factor_failed",
    )
    .await?;
    let account = crate::domain::throttle::account_key(&w.user.username);
    core.throttle.clear(Door::SignInAccount, &account).await?;
    complete(core, client, w, "password+passkey", None)
        .await?
        .ok_or_else(|| PasskeyError::Refused(NOT_CHECKED.into()))
}

/// Begins a sign-in with a passkey alone (any of this server's: the
/// browser offers the person's). Counted per address like single sign-on
/// starts (each keeps a row for 5 minutes).
pub async fn start_sign_in(core: &Core, client: &Client) -> Result<Started, PasskeyError> {
    let webauthn = core.passkeys.get()?;
    let address = address_key(client.ip);
    if let Err(wait) = core
        .throttle
        .hit(&[(Door::SsoStartAddress, &address)])
        .await?
    {
        return Err(PasskeyError::Throttled(wait));
    }
    let (mut options, state): (_, DiscoverableAuthentication) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| PasskeyError::Refused(format!("{NOT_CHECKED} ({e})")))?;
    // a button, not the autofill prompt
    options.mediation = None;
    let ceremony = save(core, None, Purpose::SignIn, &state).await?;
    Ok(Started {
        ceremony,
        options: options_json(&options)?,
    })
}

/// Finishes a sign-in with a passkey alone: who it is (by the handle the
/// passkey carries) and their new session.
pub async fn finish_sign_in(
    core: &Core,
    client: &Client,
    ceremony: &str,
    credential_json: &str,
) -> Result<(CurrentUser, NewSession), PasskeyError> {
    let webauthn = core.passkeys.get()?;
    let (_, state): (_, DiscoverableAuthentication) = take(core, ceremony, Purpose::SignIn).await?;
    let cred: PublicKeyCredential = credential(credential_json)?;
    let unknown = || PasskeyError::Refused("That passkey is not registered on this server.".into());
    let (handle, _) = webauthn
        .identify_discoverable_authentication(&cred)
        .map_err(|_| unknown())?;
    type Account = (i64, String, bool, bool, bool);
    let account: Option<Account> = on_db!(&core.db, pool => sqlx::query_as(sql::ACCOUNT_OF_HANDLE)
        .bind(handle.to_string())
        .fetch_optional(pool)
        .await)?;
    let (id, username, is_admin, must_change_password, disabled) = account.ok_or_else(unknown)?;
    let keys = passkeys_of(core, id).await?;
    let discoverable: Vec<DiscoverableKey> = keys.iter().map(|(_, p)| p.into()).collect();
    let result = match webauthn.finish_discoverable_authentication(&cred, state, &discoverable) {
        Ok(r) => r,
        Err(e) => {
            let event = super::own_event("session.sign_in_failed", id, client)
                .with(serde_json::json!({ "with": "passkey", "error": e.to_string() }));
            audit::record(&core.db, &event).await?;
            return Err(PasskeyError::Refused(NOT_CHECKED.into()));
        }
    };
    if disabled {
        return Err(PasskeyError::Refused(
            crate::domain::accounts::ACCOUNT_DISABLED.into(),
        ));
    }
    if !is_admin && core.policies_for_write().await.sso_required {
        return Err(PasskeyError::Refused(
            "Your organization signs in through single sign-on.".into(),
        ));
    }
    if let Some((factor, passkey)) = keys
        .into_iter()
        .find(|(_, p)| p.cred_id() == result.cred_id())
    {
        used(core, factor, passkey, &result).await?;
    }
    let session =
        sessions::create(&core.db, id, client, "session.signed_in", "passkey", now()).await?;
    Ok((
        CurrentUser {
            id,
            username,
            is_admin,
            must_change_password,
        },
        session,
    ))
}

/// Begins confirming sudo mode with one of the signed-in person's passkeys.
pub async fn start_sudo(core: &Core, session: &Session) -> Result<Started, PasskeyError> {
    let none = "You have no passkey yet: confirm with your password.";
    start_assertion(core, session.user.id, Purpose::Sudo, none).await
}

/// Finishes confirming sudo mode with a passkey: the session is in sudo
/// mode again.
pub async fn finish_sudo(
    core: &Core,
    client: &Client,
    session: &Session,
    ceremony: &str,
    credential_json: &str,
) -> Result<(), PasskeyError> {
    let (owner, state): (_, PasskeyAuthentication) = take(core, ceremony, Purpose::Sudo).await?;
    if owner != Some(session.user.id) {
        return Err(PasskeyError::Refused(TOO_LATE.into()));
    }
    check_assertion(
        core,
        client,
        session.user.id,
        &state,
        credential_json,
        "sudo.failed",
    )
    .await?;
    sessions::password_entered(&core.db, &session.handle).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relying_party_needs_a_domain_name() {
        assert!(Relying::new("https://tokens.example.com").available());
        assert!(Relying::new("http://localhost:3000").available());
        assert!(!Relying::new("http://127.0.0.1:3000").available());
        assert!(!Relying::new("not a url").available());
        for p in ["register", "second", "signin", "sudo"] {
            assert_eq!(Purpose::parse(p).map(Purpose::as_str), Some(p));
        }
        assert_eq!(Purpose::parse("other"), None);
    }
}
