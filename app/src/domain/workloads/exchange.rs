//! The exchange (RFC 8693): a workload's OIDC ID token in, a
//! minutes-long `tsr_` token out. The token is checked against the live
//! trust rules of its issuer (looked up before any key is fetched),
//! verified with the issuer's current keys (RS256/ES256 only), used once
//! (its `jti` noted in the store until it ends), and the first rule whose
//! audience and conditions all match mints an ordinary token row.

use super::{keys::KeyError, sql, Core, RuleRow};
use crate::domain::{
    audit::{self, By, Event},
    db::{is_unique_violation, now, on_db},
    sessions::Client,
    tokens::{self as token_service, Actor, TokenError, WorkloadMint},
};
use crate::scopes::Scopes;
use crate::tokens::{Ceiling, Expiry, Networks, Resources, TokenSpec};
use crate::workloads::{glob_matches, TrustRule};
use jsonwebtoken::{errors::ErrorKind, Algorithm, Validation};
use serde_json::{json, Map, Value};
use sha2::Digest as _;

/// `grant_type` of a token exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `subject_token_type` of a JWT.
pub const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// `subject_token_type` of an OIDC ID token (accepted as a JWT).
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// `issued_token_type` of what the exchange returns.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The longest subject token read, in bytes.
pub const SUBJECT_MAX: usize = 16 * 1024;
/// ID tokens issued longer ago than this are refused, in seconds.
pub const MAX_AGE_SECS: i64 = 600;
/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// The words every "no rule" refusal uses: which rule almost matched is
/// never said.
const NO_RULE: &str = "No trust rule accepts this ID token.";

/// An exchange request, as the form sent it.
#[derive(Clone, Debug, Default)]
pub struct ExchangeRequest {
    /// `grant_type`.
    pub grant_type: String,
    /// `subject_token`: the workload's ID token.
    pub subject_token: String,
    /// `subject_token_type`.
    pub subject_token_type: String,
    /// `requested_token_type` (empty: an access token).
    pub requested_token_type: String,
    /// `scope`: space-separated Tessera scopes within the rule's (empty:
    /// the rule's).
    pub scope: String,
    /// `resource` values: the resources the token is limited to.
    pub resources: Vec<String>,
    /// `audience`: the account to act as (its username), needed when
    /// rules of more than one account accept the ID token (empty: the one
    /// account whose rules do).
    pub audience: String,
}

/// What a successful exchange returns (RFC 8693 §2.2.1).
#[derive(Clone, Debug)]
pub struct Exchanged {
    /// The new `tsr_` token (shown once).
    pub access_token: String,
    /// Seconds it lives.
    pub expires_in: i64,
    /// Its scopes.
    pub scope: String,
    /// Its id.
    pub token_id: i64,
}

/// Why an exchange was refused (RFC 6749 §5.2 / RFC 8693 §2.2.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// A parameter is missing, repeated or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The ID token is bad, expired, replayed, or no rule accepts it.
    #[error("{0}")]
    InvalidGrant(String),
    /// The scopes asked for are unknown or beyond the rule's.
    #[error("{0}")]
    InvalidScope(String),
    /// The resources asked for are beyond the rule's.
    #[error("{0}")]
    InvalidTarget(String),
    /// Not a token exchange.
    #[error("Only grant_type={GRANT_TYPE} is supported here.")]
    UnsupportedGrantType,
    /// The store failed (logged).
    #[error("The service is unavailable; try again.")]
    Unavailable,
}

impl ExchangeError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            ExchangeError::InvalidRequest(_) => "invalid_request",
            ExchangeError::InvalidGrant(_) => "invalid_grant",
            ExchangeError::InvalidScope(_) => "invalid_scope",
            ExchangeError::InvalidTarget(_) => "invalid_target",
            ExchangeError::UnsupportedGrantType => "unsupported_grant_type",
            ExchangeError::Unavailable => "temporarily_unavailable",
        }
    }
}

impl From<sqlx::Error> for ExchangeError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "token exchange: the store failed");
        ExchangeError::Unavailable
    }
}

fn grant(message: &str) -> ExchangeError {
    ExchangeError::InvalidGrant(message.to_owned())
}

/// The checks of the request's own parameters; the subject token, trimmed.
fn check_request(req: &ExchangeRequest) -> Result<&str, ExchangeError> {
    match req.grant_type.trim() {
        "" => {
            return Err(ExchangeError::InvalidRequest(
                "grant_type is required.".into(),
            ))
        }
        GRANT_TYPE => {}
        _ => return Err(ExchangeError::UnsupportedGrantType),
    }
    match req.subject_token_type.trim() {
        JWT_TYPE | ID_TOKEN_TYPE => {}
        "" => {
            return Err(ExchangeError::InvalidRequest(format!(
                "subject_token_type is required ({JWT_TYPE})."
            )))
        }
        _ => {
            return Err(ExchangeError::InvalidRequest(format!(
                "subject_token_type must be {JWT_TYPE} or {ID_TOKEN_TYPE}."
            )))
        }
    }
    if !matches!(req.requested_token_type.trim(), "" | ACCESS_TOKEN_TYPE) {
        return Err(ExchangeError::InvalidRequest(format!(
            "Only requested_token_type={ACCESS_TOKEN_TYPE} can be issued."
        )));
    }
    let token = req.subject_token.trim();
    if token.is_empty() {
        return Err(ExchangeError::InvalidRequest(
            "subject_token is required: the workload's ID token.".into(),
        ));
    }
    if token.len() > SUBJECT_MAX {
        return Err(ExchangeError::InvalidRequest(format!(
            "subject_token is larger than {} KiB; no ID token is.",
            SUBJECT_MAX / 1024
        )));
    }
    if req.resources.len() > 10 {
        return Err(ExchangeError::InvalidRequest(
            "Name at most 10 resources.".into(),
        ));
    }
    Ok(token)
}

/// The claim `name` as text: a top-level claim, or (with `/`) a nested
/// one such as `kubernetes.io/namespace`; strings, numbers and booleans
/// only.
pub fn claim_text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    let value = claims.get(name).or_else(|| {
        let mut parts = name.split('/');
        let mut v = claims.get(parts.next()?)?;
        for part in parts {
            v = v.get(part)?;
        }
        Some(v)
    })?;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// True when the token's `aud` (a string or a list) names `audience`.
fn names_audience(claims: &Map<String, Value>, audience: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// The claims a rule matched, as the audit log keeps them.
fn matched(rule: &TrustRule, claims: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    for name in rule.conditions.keys() {
        if let Some(v) = claim_text(claims, name) {
            m.insert(name.clone(), json!(v));
        }
    }
    Value::Object(m)
}

/// Notes a refusal of an ID token of an issuer some rule names, at most
/// once per reason and issuer per sampling period.
async fn refused(core: &Core, issuer: &str, err: &ExchangeError, detail: &str, client: &Client) {
    if !core.refusals.admit(
        0,
        &format!(
            "exchange:{}:{}:{issuer}",
            err.code(),
            detail.split(" (").next().unwrap_or("")
        ),
    ) {
        return;
    }
    let event = Event::new(
        "token.exchange_refused",
        None,
        None,
        By::System,
        Some(client),
    )
    .with(json!({"issuer": issuer, "error": err.code(), "reason": detail}));
    if let Err(e) = audit::record(&core.db, &event).await {
        tracing::warn!(error = %e, "could not record a refused exchange");
    }
}

/// Exchanges the workload's ID token in `req` for a new token.
pub async fn exchange(
    core: &Core,
    req: &ExchangeRequest,
    client: &Client,
) -> Result<Exchanged, ExchangeError> {
    let token = check_request(req)?;
    // the issuer, unverified: only to find its rules (and keys)
    let unverified: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .map_err(|_| grant("The subject token is not a JWT with a JSON object of claims."))?;
    let Some(issuer) = unverified.get("iss").and_then(Value::as_str) else {
        return Err(grant("The ID token names no issuer (iss)."));
    };
    if issuer.len() > crate::workloads::URL_MAX {
        return Err(grant(NO_RULE));
    }
    let rows: Vec<RuleRow> = on_db!(&core.db, pool => sqlx::query_as(sql::OF_ISSUER)
        .bind(issuer)
        .fetch_all(pool)
        .await)?;
    if rows.is_empty() {
        // an issuer no rule names: nothing is fetched, nothing recorded
        return Err(grant(NO_RULE));
    }
    let rules: Vec<TrustRule> = rows.into_iter().map(RuleRow::into_rule).collect();
    // an unsigned token or another algorithm, at an issuer some rule
    // trusts, is an attack worth the audit log's (sampled) row
    let header = match jsonwebtoken::decode_header(token) {
        Ok(h) if matches!(h.alg, Algorithm::RS256 | Algorithm::ES256) => Ok(h),
        Ok(h) => Err((
            grant("ID tokens must be signed with RS256 or ES256."),
            format!("algorithm {:?}", h.alg),
        )),
        Err(_) => Err((
            grant("ID tokens must be signed with RS256 or ES256."),
            "unsigned or unknown algorithm".to_owned(),
        )),
    };
    let result = match header {
        Ok(header) => verified_and_minted(core, req, token, &header, issuer, &rules, client).await,
        Err(refusal) => Err(refusal),
    };
    if let Err((err, detail)) = &result {
        refused(core, issuer, err, detail, client).await;
    }
    result.map_err(|(e, _)| e)
}

/// What [`exchange`] does once the issuer is known to have rules; a
/// refusal comes with the reason the audit log keeps.
async fn verified_and_minted(
    core: &Core,
    req: &ExchangeRequest,
    token: &str,
    header: &jsonwebtoken::Header,
    issuer: &str,
    rules: &[TrustRule],
    client: &Client,
) -> Result<Exchanged, (ExchangeError, String)> {
    let fail = |e: ExchangeError, why: &str| (e, why.to_owned());
    if let Some(p) = core.policies().issuer_problem(issuer) {
        return Err((grant(NO_RULE), p));
    }
    let key = core
        .workload_keys
        .key(issuer, header.kid.as_deref(), header.alg)
        .await
        .map_err(|e| match e {
            KeyError::Unreachable(why) => (
                grant("The issuer's signing keys could not be fetched; try again later."),
                why,
            ),
            KeyError::NoKey => fail(
                grant("The ID token is signed with a key the issuer does not publish."),
                "unknown key",
            ),
        })?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_SECS as u64;
    validation.validate_nbf = true;
    validation.validate_aud = false; // per rule, below
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "iat"]);
    let claims: Map<String, Value> = jsonwebtoken::decode(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| {
            let (words, why) = match e.kind() {
                ErrorKind::ExpiredSignature => ("The ID token has expired.", "expired"),
                ErrorKind::ImmatureSignature => {
                    ("The ID token is not valid yet (nbf).", "not yet valid")
                }
                ErrorKind::InvalidSignature => {
                    ("The ID token's signature does not verify.", "bad signature")
                }
                ErrorKind::MissingRequiredClaim(_) => (
                    "The ID token lacks a required claim (exp, iss and iat are).",
                    "missing claim",
                ),
                _ => ("The ID token could not be verified.", "unverifiable"),
            };
            fail(grant(words), why)
        })?;
    let at = now();
    let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    if iat > at.timestamp() + LEEWAY_SECS {
        return Err(fail(
            grant("The ID token was issued in the future (iat)."),
            "iat in the future",
        ));
    }
    if at.timestamp() - iat > MAX_AGE_SECS {
        return Err(fail(
            grant("The ID token was issued more than 10 minutes ago; ask for a fresh one."),
            "too old",
        ));
    }
    let subject = claim_text(&claims, "sub").unwrap_or_default();
    let shown: String = subject.chars().take(100).collect();
    // a username is one account whatever its case (as at sign-in)
    let account = req.audience.trim().to_lowercase();
    let matching: Vec<&TrustRule> = rules
        .iter()
        .filter(|r| {
            (account.is_empty() || r.username.to_lowercase() == account)
                && names_audience(&claims, &r.audience)
                && r.conditions.iter().all(|(name, pattern)| {
                    claim_text(&claims, name).is_some_and(|v| glob_matches(pattern, &v))
                })
        })
        .collect();
    let Some(first) = matching.first() else {
        return Err((grant(NO_RULE), format!("no rule matched (sub {shown})")));
    };
    // Rules of two accounts accept the same workload (anyone can write a
    // rule naming someone else's repository): the job must say which
    // account it acts as, never the oldest rule's silently.
    if matching.iter().any(|r| r.user_id != first.user_id) {
        return Err((
            grant("More than one account trusts this workload: send audience=USERNAME to name the account to act as."),
            format!("rules of several accounts matched (sub {shown})"),
        ));
    }
    // the policies as every instance's verification sees them (the change
    // feed keeps them within a second of the store)
    let policy = core.policies().server.clone();
    // the first of the account's matching rules that allows what was
    // asked for; the new token's limits checked before the ID token is spent
    let (mut found, mut first_refusal) = (None, None);
    for rule in &matching {
        let tried =
            mint_spec(req, rule, &claims, &subject, issuer, client).and_then(|(spec, actor)| {
                let limits = crate::tokens::Limits {
                    now: at,
                    max_days: core.config.max_token_days,
                    ceiling: actor.ceiling.clone(),
                    policy: policy.clone(),
                };
                spec.check(&limits, false)
                    .map_err(|b| refusal_of(TokenError::from(b)))?;
                Ok((rule.id, spec, actor, limits))
            });
        match tried {
            Ok(f) => {
                found = Some(f);
                break;
            }
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    let Some((rule_id, spec, actor, limits)) = found else {
        return Err(first_refusal.unwrap_or_else(|| (grant(NO_RULE), "no rule".into())));
    };
    // once: the store, not memory, so a replay to another instance fails too
    let jti = match claims.get("jti").and_then(Value::as_str) {
        Some(j) if !j.is_empty() && j.len() <= 255 => j.to_owned(),
        _ => {
            let digest = sha2::Sha256::digest(token.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }
    };
    // accepted at most MAX_AGE_SECS after iat (and iat is at most
    // LEEWAY_SECS ahead): kept that long, whatever exp says
    let until = chrono::DateTime::from_timestamp(iat + MAX_AGE_SECS + LEEWAY_SECS, 0)
        .unwrap_or(at + chrono::Duration::seconds(MAX_AGE_SECS + 2 * LEEWAY_SECS));
    let noted = on_db!(&core.db, pool => sqlx::query(sql::NOTE_JTI)
        .bind(issuer)
        .bind(&jti)
        .bind(until)
        .execute(pool)
        .await
        .map(|_| ()));
    match noted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(fail(
                grant("This ID token was already exchanged."),
                "replayed",
            ))
        }
        Err(e) => return Err(fail(e.into(), "store")),
    }
    let made = token_service::create_minted(core, &actor, &spec, limits)
        .await
        .map_err(refusal_of)?;
    // A rule removed while this exchange ran: its sweep may have run before
    // the new row was committed, so look again now that it is, and sweep
    // once more (removal commits before its sweep, so one of the two sees it).
    if !super::is_live(core, rule_id)
        .await
        .map_err(|e| fail(e.into(), "store"))?
    {
        super::sweep_removed(core, actor.user_id, rule_id)
            .await
            .map_err(refusal_of)?;
        return Err(fail(grant(NO_RULE), "rule removed during the exchange"));
    }
    Ok(Exchanged {
        access_token: made.secret,
        expires_in: (made.token.expires_at - now()).num_seconds().max(0),
        scope: made.token.scopes.to_string(),
        token_id: made.token.id,
    })
}

/// The token `rule` mints for this request, and the actor that mints it
/// (the rule's account, bounded by the rule as by a calling token).
fn mint_spec(
    req: &ExchangeRequest,
    rule: &TrustRule,
    claims: &Map<String, Value>,
    subject: &str,
    issuer: &str,
    client: &Client,
) -> Result<(TokenSpec, Actor), (ExchangeError, String)> {
    let rule_scopes = Scopes::from_stored(&rule.scopes);
    let scopes = match req.scope.trim() {
        "" => rule_scopes.clone(),
        asked => Scopes::parse(asked).map_err(|e| {
            (
                ExchangeError::InvalidScope(e.to_string()),
                "unknown scope".to_owned(),
            )
        })?,
    };
    let rule_networks =
        Networks::parse(rule.allowed_networks.iter().map(String::as_str)).unwrap_or_default();
    let rule_resources = Resources::new(rule.resources.clone());
    let resources = if req.resources.is_empty() {
        rule_resources.granted(&scopes)
    } else {
        let named: Vec<String> = req.resources.iter().map(|r| r.trim().to_owned()).collect();
        let limitable: std::collections::BTreeMap<String, Vec<String>> = match &scopes {
            Scopes::Custom(m) => m
                .keys()
                .filter(|a| !crate::tokens::reach::OWN_AREAS.contains(&a.as_str()))
                .map(|a| (a.clone(), named.clone()))
                .collect(),
            Scopes::Full => crate::scopes::CATALOG
                .iter()
                .filter(|a| !crate::tokens::reach::OWN_AREAS.contains(&a.id))
                .map(|a| (a.id.to_owned(), named.clone()))
                .collect(),
        };
        if limitable.is_empty() {
            return Err((
                ExchangeError::InvalidTarget(
                    "The token's scopes guard Tessera's own API, which has no resources.".into(),
                ),
                "resource without area".into(),
            ));
        }
        Resources::new(limitable)
    };
    let short: String = subject
        .chars()
        .filter(|c| !c.is_control())
        .take(20)
        .collect();
    let spec = TokenSpec {
        name: format!(
            "workload {} \u{b7} {short} \u{b7} {:016x}",
            rule.id,
            // names are unique among a person's live tokens: 64 random bits,
            // so that thousands of jobs' tokens never collide (24 bits did,
            // about once in 5,000 exchanges, refusing a valid job)
            rand::random::<u64>()
        ),
        description: format!(
            "Minted by trust rule {} for a workload of {issuer}.",
            rule.id
        ),
        expiry: Expiry::Minutes(rule.max_minutes),
        scopes,
        networks: rule_networks.clone(),
        resources,
        owner: None,
    };
    let actor = Actor {
        user_id: rule.user_id,
        ceiling: Some(Ceiling {
            scopes: rule_scopes,
            expires_at: now() + chrono::Duration::minutes(i64::from(rule.max_minutes) + 1),
            networks: rule_networks,
            owner: None,
            resources: rule_resources,
        }),
        sudo: false,
        acting_token: None,
        acting_minted: false,
        on_behalf: None,
        client: Some(client.clone()),
        workload: Some(Box::new(WorkloadMint {
            rule_id: rule.id,
            subject: subject.to_owned(),
            details: json!({
                "rule": rule.id,
                "issuer": issuer,
                "subject": subject,
                "claims": matched(rule, claims),
            }),
        })),
    };
    Ok((spec, actor))
}

/// A token-service refusal as the exchange answers it.
fn refusal_of(e: TokenError) -> (ExchangeError, String) {
    let why = e.to_string();
    let err = match e {
        TokenError::BeyondCaller(own) => {
            ExchangeError::InvalidScope(format!("The trust rule allows at most: {own}."))
        }
        TokenError::Invalid(fields) => {
            let message = fields.values().next().cloned().unwrap_or_default();
            if fields.contains_key("resources") {
                ExchangeError::InvalidTarget(message)
            } else if fields.contains_key("scopes") {
                ExchangeError::InvalidScope(message)
            } else {
                ExchangeError::InvalidGrant(message)
            }
        }
        TokenError::Database(e) => ExchangeError::from(e),
        TokenError::Busy => ExchangeError::Unavailable,
        other => ExchangeError::InvalidGrant(other.message()),
    };
    (err, why)
}
