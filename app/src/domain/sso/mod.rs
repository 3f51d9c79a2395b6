//! Single sign-on with OpenID Connect: the authorization-code flow with
//! PKCE (S256), `state` and `nonce` bound to the browser, the ID token
//! checked by the `openidconnect` crate (issuer, audience, expiry, nonce,
//! an asymmetric signature by a key of the provider's JWKS), accounts made
//! on first sign-in and keyed by (issuer, subject).
//!
//! - [`Sso`]: the provider's discovery document and keys, fetched at
//!   start-up and kept (the keys fetched again when an ID token names a key
//!   they lack: a rotation).
//! - [`start`] → the provider's authorization URL and the browser's cookie;
//!   [`finish`] → the account and a session, or an [`SsoError`] whose
//!   sentence the sign-in page shows (the audit log keeps its code).
//! - [`link`], [`unlink`], [`identities`]: what administrators do.

pub(crate) mod sql;

use super::{
    admin::{self, Admin, AdminError},
    audit::{self, record_in, By, Event},
    db::{is_unique_violation, now, on_db},
    sessions::{self, Client as Visitor, NewSession, Session},
    throttle::{address_key, Door},
    Core,
};
use crate::model::{rules, CurrentUser, SsoButton};
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IdTokenVerifier, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse as _,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The operator's single sign-on settings (`--oidc-…`).
#[derive(Clone, Debug)]
pub struct SsoConfig {
    /// The provider's issuer URL (discovery is at
    /// `ISSUER/.well-known/openid-configuration`).
    pub issuer: String,
    /// Tessera's client id at the provider.
    pub client_id: String,
    /// Tessera's client secret at the provider.
    pub client_secret: SecretString,
    /// The button's words ("Sign in with Acme").
    pub label: String,
    /// The claim a new account's username comes from (then `email`).
    pub username_claim: String,
    /// Members of this `groups` value are administrators (decided at each
    /// sign-in), when set.
    pub admin_group: Option<String>,
}

impl SsoConfig {
    /// The provider's name for sentences: the label without "Sign in with".
    pub fn provider_name(&self) -> String {
        let label = self.label.trim();
        label
            .strip_prefix("Sign in with ")
            .or_else(|| label.strip_prefix("Log in with "))
            .unwrap_or(label)
            .to_owned()
    }
}

/// A sign-in through the provider lasts at most this long.
pub const LOGIN_MINUTES: i64 = 10;
/// A discovery document younger than this is used without asking again;
/// an older one is fetched before sending a browser there (so a provider
/// that is down is said so on our page, not as a browser error on its).
const DISCOVERY_FRESH: Duration = Duration::from_secs(5);
/// Keys are fetched again for an unknown key id at most this often (only
/// the provider's own token endpoint hands us ID tokens, each after a
/// throttled start, so this bounds a misbehaving provider, not strangers).
const JWKS_REFETCH: Duration = Duration::from_secs(1);
/// An ID token issued further than this in the future, or expired less
/// than this ago, is still taken (clocks differ).
const SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// The claims Tessera reads besides the standard ones.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Extra {
    /// Group names (Entra, Okta, Keycloak with a groups mapper); a single
    /// string is taken as one group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<serde_json::Value>,
    /// The other claims no standard names (Entra's `upn`, …), for
    /// `--oidc-username-claim`.
    #[serde(flatten, skip_serializing)]
    rest: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for Extra {}

impl Extra {
    /// True when the provider sent a `groups` claim (an empty one too).
    fn sent_groups(&self) -> bool {
        self.groups.is_some()
    }

    fn groups(&self) -> Vec<String> {
        match &self.groups {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

type Tokens = StandardTokenResponse<
    IdTokenFields<
        Extra,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
type OidcClient = openidconnect::Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The signature algorithms an ID token may use: asymmetric ones only
/// (never `none`, never an HMAC keyed with something an attacker may know).
const ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

struct Discovered {
    metadata: CoreProviderMetadata,
    at: Instant,
}

/// The provider: its settings, what discovery said, its keys.
pub struct Sso {
    /// The operator's settings.
    pub config: SsoConfig,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    keys: RwLock<CoreJsonWebKeySet>,
    /// When an unknown key id last made us fetch the keys.
    keys_at: Mutex<Option<Instant>>,
    /// Held while the discovery document is fetched again.
    refreshing: tokio::sync::Mutex<()>,
}

/// Why a single sign-on did not go through: a sentence for the person,
/// a code for the audit log.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// Single sign-on is not configured.
    #[error("Single sign-on is not set up on this server.")]
    Off,
    /// The provider could not be reached (or answered nonsense).
    #[error("{0} cannot be reached right now. Try again in a few minutes; administrators can still sign in with their password.")]
    Unreachable(String, String),
    /// No sign-in of this browser is on its way (no cookie, used, or over).
    #[error("Your sign-in took too long or was started in another browser. Try again.")]
    NoLogin,
    /// The provider did not confirm who signed in; the code says why.
    #[error("Your identity provider did not confirm the sign-in. Try again.")]
    NotConfirmed(&'static str, String),
    /// The provider sent no name to make the account from.
    #[error("Your identity provider did not send a username (claim {0}, or email). Ask your administrator.")]
    NoUsername(String),
    /// A local account has the name: only an administrator links them.
    #[error("An account with your name already exists on this Tessera. Ask an administrator to link it to your sign-in.")]
    NameTaken(String, String),
    /// The account is disabled.
    #[error("This account is disabled. Ask an administrator of this Tessera to enable it.")]
    Disabled,
    /// Too many sign-ins started from this address.
    #[error("Too many sign-ins from your address. Try again later.")]
    Throttled(super::throttle::RetryAfter),
    /// The store failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<SsoError> for super::refusal::Refusal {
    fn from(e: SsoError) -> Self {
        use super::refusal::Refusal;
        use http::StatusCode;
        let status = match &e {
            SsoError::Off => StatusCode::NOT_FOUND,
            SsoError::Unreachable(..) => StatusCode::SERVICE_UNAVAILABLE,
            SsoError::NoLogin | SsoError::NotConfirmed(..) => StatusCode::BAD_REQUEST,
            SsoError::NoUsername(_) | SsoError::NameTaken(..) => StatusCode::CONFLICT,
            SsoError::Disabled => StatusCode::FORBIDDEN,
            SsoError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            SsoError::Database(_) => return Refusal::ours(&e),
        };
        let mut r = Refusal::new(status, e.to_string());
        if let SsoError::Throttled(wait) = e {
            r.retry_after = Some(wait.seconds());
        }
        r
    }
}

impl Sso {
    /// The provider of `config` (nothing fetched yet: [`Sso::discover`]).
    pub fn new(config: SsoConfig) -> Sso {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            // following redirects would let a provider's answer send us
            // anywhere (SSRF); discovery and token endpoints do not redirect
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // only a TLS back end that cannot start fails here (at
            // start-up); a default client would follow redirects
            .expect("the HTTP client for the identity provider");
        Sso {
            config,
            http,
            discovered: RwLock::new(None),
            keys: RwLock::new(CoreJsonWebKeySet::new(Vec::new())),
            keys_at: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Why `issuer` cannot be a provider, if it cannot (start-up check).
    pub fn issuer_problem(issuer: &str) -> Option<String> {
        let url = match reqwest::Url::parse(issuer) {
            Ok(u) => u,
            Err(_) => return Some(format!("{issuer} is not a URL")),
        };
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Some(format!(
                "{issuer} must be an https URL (plain http only on loopback, for tests)"
            ));
        }
        None
    }

    /// Fetches the discovery document and the keys (start-up, and when the
    /// kept copy is older than a few seconds at a sign-in). The error is a
    /// phrase ("connection refused", "the document names issuer …").
    pub async fn discover(&self) -> Result<(), String> {
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| e.to_string())?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| discovery_phrase(&e))?;
        if metadata.token_endpoint().is_none() {
            return Err("the discovery document names no token endpoint".into());
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = metadata.jwks().clone();
        *self.discovered.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(Discovered {
            metadata,
            at: Instant::now(),
        }));
        Ok(())
    }

    fn kept(&self) -> Option<Arc<Discovered>> {
        self.discovered
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The discovery document, fetched again when the kept one is older
    /// than a few seconds.
    async fn metadata(&self) -> Result<Arc<Discovered>, SsoError> {
        if let Some(d) = self.kept().filter(|d| d.at.elapsed() < DISCOVERY_FRESH) {
            return Ok(d);
        }
        // one fetch at a time: a burst of sign-ins waits for it rather than
        // sending the provider a request each
        let _one = self.refreshing.lock().await;
        if let Some(d) = self.kept().filter(|d| d.at.elapsed() < DISCOVERY_FRESH) {
            return Ok(d);
        }
        self.discover()
            .await
            .map_err(|e| SsoError::Unreachable(self.config.provider_name(), e))?;
        self.kept()
            .ok_or_else(|| SsoError::Unreachable(self.config.provider_name(), "no document".into()))
    }

    fn client(&self, d: &Discovered, redirect: &str) -> Result<OidcClient, SsoError> {
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|e| SsoError::NotConfirmed("bad_redirect_uri", e.to_string()))?;
        Ok(OidcClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(redirect))
    }

    fn verifier(
        &self,
        keys: CoreJsonWebKeySet,
    ) -> Result<IdTokenVerifier<'static, CoreJsonWebKey>, SsoError> {
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| SsoError::NotConfirmed("bad_issuer", e.to_string()))?;
        Ok(IdTokenVerifier::new_public_client(
            ClientId::new(self.config.client_id.clone()),
            issuer,
            keys,
        )
        .set_allowed_algs(ALGORITHMS)
        // expired a moment ago still counts (clocks differ), no more
        .set_time_fn(|| Utc::now() - SKEW)
        .set_issue_time_verifier_fn(|iat| {
            if iat > Utc::now() + SKEW {
                Err(format!("issued in the future ({iat})"))
            } else {
                Ok(())
            }
        }))
    }

    /// The keys fetched again, unless they were a moment ago; whether they
    /// changed.
    async fn refetch_keys(&self, d: &Discovered) -> bool {
        {
            let mut at = self.keys_at.lock().unwrap_or_else(|p| p.into_inner());
            if at.is_some_and(|t| t.elapsed() < JWKS_REFETCH) {
                return false;
            }
            *at = Some(Instant::now());
        }
        match CoreJsonWebKeySet::fetch_async(d.metadata.jwks_uri(), &self.http).await {
            Ok(keys) => {
                let mut slot = self.keys.write().unwrap_or_else(|p| p.into_inner());
                let changed =
                    serde_json::to_string(&*slot).ok() != serde_json::to_string(&keys).ok();
                *slot = keys;
                changed
            }
            Err(e) => {
                tracing::warn!(error = %discovery_phrase(&e), "could not fetch the identity provider's keys");
                false
            }
        }
    }
}

fn discovery_phrase<E: std::error::Error>(e: &openidconnect::DiscoveryError<E>) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The redirect URI registered at the provider: `PUBLIC_URL/auth/oidc/callback`.
pub fn redirect_uri(core: &Core) -> String {
    format!("{}/auth/oidc/callback", core.config.public_url)
}

/// The button the sign-in page shows, when single sign-on is set up.
pub fn button(core: &Core) -> Option<SsoButton> {
    core.sso.as_ref().map(|s| SsoButton {
        label: s.config.label.clone(),
        required: core.policies().sso_required,
    })
}

fn sha256(text: &str) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).to_vec()
}

/// Starts a sign-in — or, with `sudo_for`, a signed-in person's
/// confirmation that it is them (the provider is asked to authenticate
/// them again: `prompt=login`, `max_age=0`): a row bound to a new browser
/// cookie (returned) and the provider's authorization URL to send the
/// browser to.
pub async fn start(
    core: &Core,
    visitor: &Visitor,
    next: &str,
    sudo_for: Option<i64>,
) -> Result<(String, String), SsoError> {
    let sso = core.sso.as_ref().ok_or(SsoError::Off)?;
    let address = address_key(visitor.ip);
    if let Err(wait) = core
        .throttle
        .hit(&[(Door::SsoStartAddress, &address)])
        .await?
    {
        return Err(SsoError::Throttled(wait));
    }
    let d = sso.metadata().await?;
    let client = sso.client(&d, &redirect_uri(core))?;
    // the groups claim when something follows it: the admin group, or a
    // team (a provider may refuse a scope it was not set up for)
    let groups = sso.config.admin_group.is_some() || super::orgs::any_idp_team(&core.db).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scopes(groups.then(|| Scope::new("groups".into())))
        .set_pkce_challenge(challenge);
    if sudo_for.is_some() {
        request = request
            .add_prompt(CoreAuthPrompt::Login)
            .set_max_age(Duration::ZERO);
    }
    let (url, state, nonce) = request.url();
    let cookie = sessions::random_text(32);
    let at = now();
    let ends = at + chrono::Duration::minutes(LOGIN_MINUTES);
    on_db!(&core.db, pool => async {
        sqlx::query(sql::PRUNE).bind(at).execute(pool).await?;
        sqlx::query(sql::START)
            .bind(sha256(&cookie))
            .bind(state.secret())
            .bind(nonce.secret())
            .bind(verifier.secret())
            .bind(next)
            .bind(ends)
            .bind(sudo_for)
            .execute(pool)
            .await
            .map(|_| ())
    }.await)?;
    Ok((url.to_string(), cookie))
}

/// What the provider sent the browser back with.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Callback {
    /// The authorization code.
    #[serde(default)]
    pub code: Option<String>,
    /// The state the sign-in was started with.
    #[serde(default)]
    pub state: Option<String>,
    /// The provider's error code (`access_denied`).
    #[serde(default)]
    pub error: Option<String>,
    /// The provider's issuer (RFC 9207), when it sends it.
    #[serde(default)]
    pub iss: Option<String>,
}

/// Who signed in through the provider.
struct Asserted {
    subject: String,
    username: Option<String>,
    groups: Vec<String>,
    /// The provider sent a `groups` claim: teams follow it.
    sent_groups: bool,
    auth_time: Option<DateTime<Utc>>,
}

/// How a callback ended.
pub enum Finished {
    /// Signed in: the user, the new session, where to go.
    SignedIn(CurrentUser, NewSession, String),
    /// The signed-in person confirmed it is them (sudo mode): where to go.
    Confirmed(String),
}

/// Finishes a sign-in: the browser's row (used once), the code traded for
/// an ID token, the token checked, the account found or made; a session.
/// Returns the user, the session and where to go (as `start` was given
/// it: the caller checks it is a page of ours).
pub async fn finish(
    core: &Core,
    visitor: &Visitor,
    cookie: Option<&str>,
    back: &Callback,
    signed_in: Option<&Session>,
) -> Result<Finished, SsoError> {
    let sso = core.sso.as_ref().ok_or(SsoError::Off)?;
    let cookie = cookie
        .filter(|c| !c.is_empty() && c.len() <= 128)
        .ok_or(SsoError::NoLogin)?;
    type Taken = (String, String, String, String, Option<i64>, DateTime<Utc>);
    let row: Option<Taken> = on_db!(&core.db, pool => sqlx::query_as(sql::TAKE)
        .bind(sha256(cookie))
        .bind(now())
        .fetch_optional(pool)
        .await)?;
    let (state, nonce, verifier, next, sudo_user, ends) = row.ok_or(SsoError::NoLogin)?;
    let started = ends - chrono::Duration::minutes(LOGIN_MINUTES);
    let refused = |code: &'static str, detail: String| SsoError::NotConfirmed(code, detail);
    let outcome = async {
        if let Some(error) = &back.error {
            let code: String = error
                .chars()
                .filter(char::is_ascii_graphic)
                .take(64)
                .collect();
            return Err(refused("provider_error", code));
        }
        if back.state.as_deref().map(sha256) != Some(sha256(&state)) {
            return Err(refused(
                "state_mismatch",
                "the state differs from the one sent".into(),
            ));
        }
        if let Some(iss) = &back.iss {
            if iss.trim_end_matches('/') != sso.config.issuer.trim_end_matches('/') {
                return Err(refused(
                    "issuer_mismatch",
                    "the callback names another issuer".into(),
                ));
            }
        }
        let code = back
            .code
            .clone()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| refused("no_code", "the callback carries no code".into()))?;
        let d = sso.metadata().await?;
        let client = sso.client(&d, &redirect_uri(core))?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| refused("no_token_endpoint", e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&sso.http)
            .await
            .map_err(|e| token_error(sso, e))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| refused("no_id_token", "the token response has no ID token".into()))?;
        let nonce = Nonce::new(nonce);
        let keys = sso.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        let claims = match id_token.claims(&sso.verifier(keys)?, &nonce) {
            Ok(c) => c.clone(),
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) if sso.refetch_keys(&d).await => {
                // a key the kept set lacks: the provider rotated its keys
                let keys = sso.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
                id_token
                    .claims(&sso.verifier(keys)?, &nonce)
                    .map_err(|e| refused(claims_code(&e), e.to_string()))?
                    .clone()
            }
            Err(e) => return Err(refused(claims_code(&e), e.to_string())),
        };
        let wanted = sso.config.username_claim.as_str();
        let username = match wanted {
            "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
            "email" => None,
            other => serde_json::to_value(&claims)
                .ok()
                .and_then(|v| v.get(other).and_then(|v| v.as_str().map(str::to_owned)))
                .or_else(|| {
                    let rest = &claims.additional_claims().rest;
                    rest.get(other).and_then(|v| v.as_str().map(str::to_owned))
                }),
        }
        .or_else(|| claims.email().map(|e| e.to_string()));
        let asserted = Asserted {
            subject: claims.subject().to_string(),
            username,
            groups: claims.additional_claims().groups(),
            sent_groups: claims.additional_claims().sent_groups(),
            auth_time: claims.auth_time(),
        };
        if let Some(uid) = sudo_user {
            // the same person, signed in here in this browser, who has
            // just authenticated at the provider again
            let here = signed_in.filter(|s| s.user.id == uid);
            let there = identity(core, &sso.config.issuer, &asserted.subject).await?;
            if here.is_none() || there.map(|f| f.0) != Some(uid) {
                return Err(refused(
                    "sudo_other_account",
                    "the confirmation is not by the account signed in here".into(),
                ));
            }
            if asserted.auth_time.is_none_or(|t| t < started - SKEW) {
                return Err(refused(
                    "sudo_stale",
                    "the provider did not authenticate the person again".into(),
                ));
            }
        }
        Ok(asserted)
    }
    .await;
    let asserted = match outcome {
        Ok(a) => a,
        Err(e) => {
            if let SsoError::NotConfirmed(code, detail) = &e {
                let event = Event::new("sso.refused", None, None, By::System, Some(visitor)).with(
                    json!({ "code": code, "detail": detail.chars().take(300).collect::<String>() }),
                );
                audit::record(&core.db, &event).await?;
                tracing::info!(code, detail, "single sign-on refused");
            }
            return Err(e);
        }
    };
    if let (Some(uid), Some(session)) = (sudo_user, signed_in) {
        // a person taken out of the administrators' group is no longer one
        sync_admin(
            core,
            sso,
            visitor,
            uid,
            session.user.is_admin,
            &asserted.groups,
        )
        .await?;
        sessions::password_entered(&core.db, &session.handle).await?;
        let event = Event::new(
            "session.sudo_confirmed",
            Some(uid),
            None,
            By::User(uid),
            Some(visitor),
        )
        .with(json!({ "session": session.handle, "method": "sso" }));
        audit::record(&core.db, &event).await?;
        return Ok(Finished::Confirmed(next));
    }
    let user = match account_for(core, sso, visitor, &asserted).await {
        Ok(user) => user,
        Err(SsoError::NameTaken(name, subject)) => {
            // the person sees a sentence; administrators see who and what
            let event = Event::new("sso.refused", None, None, By::System, Some(visitor))
                .with(json!({ "code": "name_taken", "username": name, "subject": subject }));
            audit::record(&core.db, &event).await?;
            return Err(SsoError::NameTaken(name, subject));
        }
        Err(e) => return Err(e),
    };
    // sudo mode only as fresh as the provider's own authentication
    let window = chrono::Duration::from_std(core.config.sudo_window).unwrap_or_default();
    let authenticated_at = asserted
        .auth_time
        .filter(|t| Utc::now() - *t < window)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let session = sessions::create(
        &core.db,
        user.id,
        visitor,
        "session.signed_in",
        "sso",
        authenticated_at,
    )
    .await?;
    Ok(Finished::SignedIn(user, session, next))
}

fn token_error<RE: std::error::Error + 'static>(
    sso: &Sso,
    e: openidconnect::RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>,
) -> SsoError {
    use openidconnect::RequestTokenError as R;
    match e {
        R::ServerResponse(r) => SsoError::NotConfirmed("token_refused", r.error().to_string()),
        R::Request(e) => SsoError::Unreachable(sso.config.provider_name(), e.to_string()),
        R::Parse(e, _) => SsoError::NotConfirmed("token_unreadable", e.to_string()),
        R::Other(e) => SsoError::NotConfirmed("token_refused", e),
    }
}

fn claims_code(e: &openidconnect::ClaimsVerificationError) -> &'static str {
    use openidconnect::ClaimsVerificationError as C;
    match e {
        C::Expired(_) => "id_token_expired",
        C::InvalidAudience(_) => "id_token_audience",
        C::InvalidIssuer(_) => "id_token_issuer",
        C::InvalidNonce(_) => "id_token_nonce",
        C::SignatureVerification(_) => "id_token_signature",
        _ => "id_token_invalid",
    }
}

/// A Tessera username from what the provider calls the person: the part
/// before `@` of an address, characters usernames may not have as `-`, at
/// most the longest name.
pub fn username_from(claim: &str) -> String {
    let local = claim.trim().split('@').next().unwrap_or_default();
    let mut name: String = local
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(rules::USERNAME_MAX)
        .collect();
    while name.len() < rules::USERNAME_MIN && !name.is_empty() {
        name.push('-');
    }
    name
}

type Found = (i64, String, Option<DateTime<Utc>>, bool, bool);

async fn identity(core: &Core, issuer: &str, subject: &str) -> Result<Option<Found>, sqlx::Error> {
    on_db!(&core.db, pool => sqlx::query_as(sql::ACCOUNT_OF)
        .bind(issuer)
        .bind(subject)
        .fetch_optional(pool)
        .await)
}

/// The account of the identity, made on its first sign-in; its
/// administrator flag follows the provider's group when one is configured.
async fn account_for(
    core: &Core,
    sso: &Sso,
    visitor: &Visitor,
    who: &Asserted,
) -> Result<CurrentUser, SsoError> {
    let issuer = sso.config.issuer.as_str();
    let mut found = identity(core, issuer, &who.subject).await?;
    if found.is_none() {
        // an account the provider made over SCIM, not signed in yet, whose
        // external id is the subject
        if link_provisioned(core, visitor, issuer, &who.subject).await? {
            found = identity(core, issuer, &who.subject).await?;
        }
    }
    if found.is_none() {
        let claim = who
            .username
            .clone()
            .ok_or_else(|| SsoError::NoUsername(sso.config.username_claim.clone()))?;
        let name = username_from(&claim);
        if name.is_empty() || rules::username_problem(&name).is_some() {
            return Err(SsoError::NoUsername(sso.config.username_claim.clone()));
        }
        match create_account(core, visitor, issuer, &who.subject, &name).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                // the same person in two tabs made it a moment ago, or the
                // name belongs to another account
                if identity(core, issuer, &who.subject).await?.is_none() {
                    return Err(SsoError::NameTaken(name, who.subject.clone()));
                }
            }
            Err(e) => return Err(e.into()),
        }
        found = identity(core, issuer, &who.subject).await?;
    }
    let (id, username, disabled, is_admin, is_service) = found.ok_or(SsoError::NoLogin)?;
    if disabled.is_some() || is_service {
        return Err(SsoError::Disabled);
    }
    let is_admin = sync_admin(core, sso, visitor, id, is_admin, &who.groups).await?;
    if who.sent_groups {
        super::orgs::follow_idp_groups(core, visitor, id, &who.groups).await?;
    }
    on_db!(&core.db, pool => sqlx::query(sql::SIGNED_IN)
        .bind(now())
        .bind(issuer)
        .bind(&who.subject)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(CurrentUser {
        id,
        username,
        is_admin,
        must_change_password: false,
    })
}

/// Links the provisioned (SCIM) account whose external id is `subject`,
/// if exactly one may be linked (`users::LINK_PROVISIONED`); whether it did.
async fn link_provisioned(
    core: &Core,
    visitor: &Visitor,
    issuer: &str,
    subject: &str,
) -> Result<bool, sqlx::Error> {
    let at = now();
    let linked = on_db!(&core.db, pool => sqlx::query(super::users::LINK_PROVISIONED)
        .bind(issuer)
        .bind(subject)
        .bind(at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()));
    let linked = match linked {
        Ok(n) => n == 1,
        // the same person's other tab linked it a moment ago
        Err(e) if is_unique_violation(&e) => return Ok(true),
        Err(e) => return Err(e),
    };
    if linked {
        if let Some((id, ..)) = identity(core, issuer, subject).await? {
            let event = Event::new("identity.linked", Some(id), None, By::System, Some(visitor))
                .with(json!({ "issuer": issuer, "subject": subject, "via": "scim" }));
            audit::record(&core.db, &event).await?;
        }
    }
    Ok(linked)
}

/// With `--oidc-admin-group`, makes the account an administrator or not
/// as its `groups` say (audited when it changes); whether it is one now.
async fn sync_admin(
    core: &Core,
    sso: &Sso,
    visitor: &Visitor,
    id: i64,
    is_admin: bool,
    groups: &[String],
) -> Result<bool, sqlx::Error> {
    let Some(group) = &sso.config.admin_group else {
        return Ok(is_admin);
    };
    let member = groups.iter().any(|g| g == group);
    if member != is_admin {
        let event = Event::new(
            if member {
                "admin.granted"
            } else {
                "admin.revoked"
            },
            Some(id),
            None,
            By::System,
            Some(visitor),
        )
        .with(json!({ "via": "oidc_group", "group": group }));
        super::audit::audited!(&core.db, event, |tx| sqlx::query(super::users::SET_ADMIN)
            .bind(member)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected())?;
        core.verifier.evict(id, None);
    }
    Ok(member)
}

/// A new account with no password, and its identity, in one transaction.
async fn create_account(
    core: &Core,
    visitor: &Visitor,
    issuer: &str,
    subject: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    let at = now();
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(super::users::INSERT)
            .bind(name)
            .bind(name.to_lowercase())
            .bind(super::users::NO_PASSWORD)
            .bind(at)
            .bind(false)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(sql::INSERT)
            .bind(issuer)
            .bind(subject)
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        let event = Event::new("account.created", Some(id), None, By::User(id), Some(visitor))
            .with(json!({ "via": "sso", "issuer": issuer, "subject": subject }));
        record_in!(&mut *tx, event)?;
        tx.commit().await
    }.await)
}

/// An identity of an account, as administrators see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx_macros::FromRow))]
pub struct Identity {
    /// The provider.
    pub issuer: String,
    /// Who the provider says it is.
    pub subject: String,
    /// When it was linked or made.
    pub created_at: DateTime<Utc>,
    /// Its last sign-in.
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// The identities of `user_id`.
pub async fn identities(core: &Core, user_id: i64) -> Result<Vec<Identity>, sqlx::Error> {
    on_db!(&core.db, pool => sqlx::query_as(sql::OF_USER)
        .bind(user_id)
        .fetch_all(pool)
        .await)
}

fn subject_problem(subject: &str) -> Option<&'static str> {
    if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
        Some("A subject is 1 to 255 characters, none of them control characters.")
    } else {
        None
    }
}

/// Links the local account `username` to the identity `subject` at
/// `issuer` (audited): its next single sign-on signs in as that account.
pub async fn link(
    core: &Core,
    by: &Admin,
    username: &str,
    issuer: &str,
    subject: &str,
) -> Result<admin::UserRow, AdminError> {
    let subject = subject.trim();
    if let Some(p) = subject_problem(subject) {
        return Err(AdminError::Invalid(p.into()));
    }
    if let Some(p) = Sso::issuer_problem(issuer) {
        return Err(AdminError::Invalid(format!("The issuer {p}.")));
    }
    let target = admin::user(&core.db, username).await?;
    if target.is_service {
        return Err(AdminError::Invalid(format!(
            "{} is a service account: nobody signs in as it.",
            target.username
        )));
    }
    if let Some((_, owner, ..)) = identity(core, issuer, subject).await? {
        return Err(AdminError::Invalid(format!(
            "The subject {subject} is already linked to {owner}: unlink it first."
        )));
    }
    let event = Event::new(
        "identity.linked",
        Some(target.id),
        None,
        By::Admin(by.user_id),
        by.client.as_ref(),
    )
    .with(json!({ "issuer": issuer, "subject": subject }));
    let at = now();
    let done = super::audit::audited!(&core.db, event, |tx| sqlx::query(sql::INSERT)
        .bind(issuer)
        .bind(subject)
        .bind(target.id)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected());
    match done {
        Ok(_) => Ok(target),
        Err(e) if is_unique_violation(&e) => Err(AdminError::Invalid(format!(
            "The subject {subject} is already linked to an account: unlink it first."
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Unlinks `username` from its identities at `issuer` (or only `subject`),
/// audited; the account is then disabled (signed out everywhere, its
/// tokens refused on every instance; `enable-user` brings it back). How
/// many identities went.
pub async fn unlink(
    core: &Core,
    by: &Admin,
    username: &str,
    issuer: &str,
    subject: Option<&str>,
) -> Result<u64, AdminError> {
    let target = admin::user(&core.db, username).await?;
    let event = Event::new(
        "identity.unlinked",
        Some(target.id),
        None,
        By::Admin(by.user_id),
        by.client.as_ref(),
    )
    .with(json!({ "issuer": issuer, "subject": subject }));
    let removed = super::audit::audited!(&core.db, event, |tx| match subject {
        Some(s) => sqlx::query(sql::DELETE_ONE)
            .bind(target.id)
            .bind(issuer)
            .bind(s)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        None => sqlx::query(sql::DELETE_OF_USER)
            .bind(target.id)
            .bind(issuer)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
    })?;
    if removed == 0 {
        return Err(AdminError::NotFound(format!(
            "{} has no identity at {issuer}{}.",
            target.username,
            subject
                .map(|s| format!(" with subject {s}"))
                .unwrap_or_default()
        )));
    }
    admin::set_disabled(core, by, &target.username, true).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_become_valid_usernames() {
        assert_eq!(username_from("alice"), "alice");
        assert_eq!(username_from("Alice.Smith@acme.example"), "Alice.Smith");
        assert_eq!(username_from("José"), "Jos-");
        assert!(username_from("_x").starts_with('x'));
        assert_eq!(username_from("ünïcode"), "n-code");
        assert_eq!(username_from("日本"), "");
        assert_eq!(
            username_from(&"y".repeat(10_000)).len(),
            rules::USERNAME_MAX
        );
        for name in ["alice", "Alice.Smith@acme.example", "José", "_x", "a b c"] {
            assert_eq!(
                rules::username_problem(&username_from(name)),
                None,
                "{name}"
            );
        }
    }

    #[test]
    fn only_https_issuers_but_loopback() {
        assert!(Sso::issuer_problem("https://id.example.com/realms/acme").is_none());
        assert!(Sso::issuer_problem("http://127.0.0.1:4100").is_none());
        assert!(Sso::issuer_problem("http://localhost:8080/x").is_none());
        assert!(Sso::issuer_problem("http://id.example.com").is_some());
        assert!(Sso::issuer_problem("ftp://id.example.com").is_some());
        assert!(Sso::issuer_problem("not a url").is_some());
    }

    #[test]
    fn the_provider_name_is_the_label_without_its_verb() {
        let mut c = SsoConfig {
            issuer: "https://id.example.com".into(),
            client_id: "t".into(),
            client_secret: "s".to_owned().into(),
            label: "Sign in with Acme".into(),
            username_claim: "preferred_username".into(),
            admin_group: None,
        };
        assert_eq!(c.provider_name(), "Acme");
        c.label = "Company login".into();
        assert_eq!(c.provider_name(), "Company login");
    }
}
