//! The signing keys of trusted issuers: OIDC discovery
//! (`{issuer}/.well-known/openid-configuration`, whose `issuer` must be
//! the issuer exactly), then its `jwks_uri`. Cached per issuer for
//! [`WorkloadConfig::key_ttl`]; an unknown `kid` fetches again (a key
//! rotation), at most once per [`WorkloadConfig::key_refetch`]. Only
//! issuers some trust rule names are ever fetched (the exchange looks up
//! rules first), fetches are bounded in time and size, follow redirects
//! only on the same host, and reach `http://` only when the operator
//! allows insecure issuers.

use super::WorkloadConfig;
use jsonwebtoken::{
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse},
    Algorithm, DecodingKey,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most an answer of an issuer may be (discovery or JWKS).
pub const MAX_BODY: usize = 512 * 1024;
/// The most keys read from one JWKS.
pub const MAX_KEYS: usize = 100;
/// How long keys are still used after fetching them again failed.
const STALE_FOR: Duration = Duration::from_secs(3600);

/// What one issuer's keys look like in the cache.
#[derive(Default)]
struct Entry {
    keys: Vec<Jwk>,
    /// The last fetch that worked.
    fetched: Option<Instant>,
    /// The last attempt, and why it failed if it did.
    tried: Option<Instant>,
    error: Option<String>,
}

/// Why no key could be had.
#[derive(Debug)]
pub enum KeyError {
    /// The issuer's discovery or JWKS could not be fetched or read.
    Unreachable(String),
    /// The issuer has no key with that `kid` that fits the algorithm.
    NoKey,
}

/// The issuers' keys, fetched as needed.
pub struct IssuerKeys {
    client: reqwest::Client,
    config: WorkloadConfig,
    /// One slot per issuer; its lock makes one fetch at a time per issuer
    /// (concurrent exchanges wait for it rather than fetch again).
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
}

impl IssuerKeys {
    /// A cache that fetches with `config`'s timeouts and scheme rule.
    pub fn new(config: &WorkloadConfig) -> IssuerKeys {
        let insecure = config.allow_insecure_issuers;
        let client = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .connect_timeout(config.fetch_timeout)
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let first = attempt
                    .previous()
                    .first()
                    .and_then(|u| u.host_str())
                    .map(str::to_owned);
                let same_host = first.as_deref() == attempt.url().host_str();
                let scheme_ok = attempt.url().scheme() == "https" || insecure;
                if attempt.previous().len() > 3 || !same_host || !scheme_ok {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .unwrap_or_default();
        IssuerKeys {
            client,
            config: config.clone(),
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, issuer: &str) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(issuer.to_owned()).or_default().clone()
    }

    /// The key of `issuer` that verifies a token signed with `alg` and
    /// naming `kid` (without a `kid`: the issuer's only key that fits).
    pub async fn key(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, KeyError> {
        let slot = self.slot(issuer);
        let mut entry = slot.lock().await;
        let at = Instant::now();
        let stale = entry
            .fetched
            .is_none_or(|t| at.duration_since(t) >= self.config.key_ttl);
        let missing = pick(&entry.keys, kid, alg).is_none();
        let may_try = entry
            .tried
            .is_none_or(|t| at.duration_since(t) >= self.config.key_refetch);
        if (stale || missing) && may_try {
            entry.tried = Some(at);
            match self.fetch(issuer).await {
                Ok(keys) => {
                    entry.keys = keys;
                    entry.fetched = Some(at);
                    entry.error = None;
                }
                Err(why) => {
                    tracing::warn!(issuer, error = %why, "could not fetch a trusted issuer's keys");
                    // keys fetched before still serve for a while (an
                    // issuer's short outage should not stop every job)
                    if entry
                        .fetched
                        .is_none_or(|t| at.duration_since(t) >= STALE_FOR)
                    {
                        entry.keys.clear();
                    }
                    entry.error = Some(why);
                }
            }
        }
        match pick(&entry.keys, kid, alg) {
            Some(key) => Ok(key),
            None => match &entry.error {
                Some(why) if entry.keys.is_empty() => Err(KeyError::Unreachable(why.clone())),
                _ => Err(KeyError::NoKey),
            },
        }
    }

    /// Discovery, then the JWKS: the keys that parse (others skipped).
    async fn fetch(&self, issuer: &str) -> Result<Vec<Jwk>, String> {
        // a rule made while http issuers were allowed does not keep
        // fetching over http once they are not
        let allowed = issuer.starts_with("https://")
            || (self.config.allow_insecure_issuers && issuer.starts_with("http://"));
        if !allowed {
            return Err("the issuer is not an https:// URL".into());
        }
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = self.get_json(&discovery).await?;
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err("the discovery document names another issuer".into());
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or("the discovery document has no jwks_uri")?;
        let url = reqwest::Url::parse(jwks_uri).map_err(|_| "jwks_uri is not a URL")?;
        if url.scheme() != "https"
            && !(self.config.allow_insecure_issuers && url.scheme() == "http")
        {
            return Err("jwks_uri is not an https:// URL".into());
        }
        let set = self.get_json(url.as_str()).await?;
        let keys: Vec<Jwk> = set
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("the JWKS has no keys")?
            .iter()
            .take(MAX_KEYS)
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        Ok(keys)
    }

    /// GETs `url` as JSON, reading at most [`MAX_BODY`] bytes.
    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let mut res = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("{url} did not answer in time")
                } else {
                    format!("{url} could not be reached")
                }
            })?;
        if !res.status().is_success() {
            return Err(format!("{url} answered {}", res.status().as_u16()));
        }
        if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(format!("{url} answered more than {} KiB", MAX_BODY / 1024));
        }
        let mut body = Vec::new();
        loop {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(format!("{url} answered more than {} KiB", MAX_BODY / 1024));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(format!("{url} did not answer in time")),
                Err(_) => return Err(format!("{url} broke off its answer")),
            }
        }
        serde_json::from_slice(&body).map_err(|_| format!("{url} did not answer JSON"))
    }
}

/// True when `key` may verify a signature made with `alg`: RSA for RS256,
/// P-256 for ES256, its own `alg` (if any) the same, its `use` (if any)
/// signing.
fn fits(key: &Jwk, alg: Algorithm) -> bool {
    let family = match (&key.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        _ => false,
    };
    let named = match key.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(_) => false,
    };
    let usable = matches!(
        key.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    );
    family && named && usable
}

/// The key among `keys` for `kid` and `alg`.
fn pick(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    let mut fitting = keys.iter().filter(|k| fits(k, alg));
    let key = match kid {
        Some(kid) => fitting.find(|k| k.common.key_id.as_deref() == Some(kid))?,
        None => {
            let only = fitting.next()?;
            if fitting.next().is_some() {
                return None;
            }
            only
        }
    };
    DecodingKey::from_jwk(key).ok()
}
