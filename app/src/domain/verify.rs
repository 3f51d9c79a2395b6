//! Verifying a presented PAT: format and checksum (no query), a cache
//! lookup, and on a miss sha256, one indexed lookup, then the revoked and
//! expired checks. (Scopes are checked by the caller: each route or gateway
//! names the scope it needs.) Positive results are cached in-process for a
//! short time; any change to a token evicts it — in-process at once, and
//! with Postgres on every instance through `NOTIFY`.
//! A generation counter keeps a lookup that raced an eviction from putting
//! a stale answer back into the cache, and each thread's copy of its last
//! hit from outliving an eviction.
//!
//! Cache keys are a keyed 128-bit hash (SipHash-1-3 under a random key made
//! when the process starts) of the presented token: several times
//! cheaper than SHA-256 on a hit, and no easier to turn back into a token —
//! the key never leaves memory and the token has ~190 random bits. SHA-256,
//! what the database stores, is computed only on a miss.

use super::db::{on_db, Db};
use super::secret;
use crate::scopes::Scopes;
use crate::tokens::policy::{Block, Policies, PolicyBook};
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use siphasher::sip128::{Hasher128 as _, SipHasher13};
use std::{
    hash::{BuildHasherDefault, Hasher},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::{Duration, SystemTime},
};

/// Who a valid token speaks for, and what it may do.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The token's id.
    pub token_id: i64,
    /// The id of the token's owner.
    pub user_id: i64,
    /// The owner's username.
    pub username: String,
    /// The name the owner gave the token.
    pub token_name: String,
    /// What the token may do.
    pub scopes: Scopes,
    /// `scopes` in their canonical text form (as the API and headers show them).
    pub scope_text: String,
    /// The addresses the token works from (empty: anywhere).
    pub networks: crate::tokens::Networks,
    /// The resources its scopes are limited to (empty: all).
    pub resources: crate::tokens::Resources,
    /// The tokens it was derived from, parent first (empty for a token
    /// made by a person): a change to any of them drops this answer too.
    pub ancestors: Vec<i64>,
    /// When the token was created (or last regenerated).
    pub created_at: DateTime<Utc>,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// Whether the owner is an administrator.
    pub is_admin: bool,
    /// Whether a trust rule minted it for a workload (it makes no tokens).
    pub minted: bool,
    /// The organization that owns what it reaches, if one does: only
    /// `owner/…` resources (Tessera's own API aside).
    pub owner: Option<String>,
    /// The policy the token breaks, if any: it is refused (403
    /// `policy_violation`) until the policy allows it again. Computed at
    /// lookup; a policy change drops every cached answer.
    pub blocked: Option<Block>,
    /// What a transport made of this identity (the API's `/me` document,
    /// the gateway's headers), made by the first request that needs it and
    /// reused by every cache hit; the transport picks the type.
    pub rendered: Rendered,
    /// The place (network and client family) of the last use noted for
    /// this answer ([`super::lifecycle::sighted`]): a repeat use from it
    /// skips the process-wide cache of places.
    pub last_place: Memo,
}

impl Verified {
    /// True when the token may act with `required` (`code:read`): its
    /// scopes include it, and an administrators' area (`admin`, `metrics`)
    /// only for an administrator's token — Full access of anyone else's
    /// does not reach them.
    pub fn grants(&self, required: &str) -> bool {
        self.scopes.allows(required) && (self.is_admin || !crate::scopes::is_admin_only(required))
    }
}

/// A slot for a transport's rendering of a [`Verified`] identity: set once,
/// shared by every clone of the answer (not part of its equality).
#[derive(Clone, Default)]
pub struct Rendered(Arc<OnceLock<Box<dyn std::any::Any + Send + Sync>>>);

impl Rendered {
    /// The rendering of type `T`, made by `make` the first time. `None` when
    /// the slot already holds another type (each transport uses its own
    /// one type, so then the caller renders without keeping it).
    pub fn get_or_init<T: Send + Sync + 'static>(&self, make: impl FnOnce() -> T) -> Option<&T> {
        self.0.get_or_init(|| Box::new(make())).downcast_ref()
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rendered")
    }
}

/// A number remembered by a cached answer for its cache hits (not part of
/// its equality; a clone starts with the same number).
#[derive(Debug, Default)]
pub struct Memo(std::sync::atomic::AtomicU64);

impl Memo {
    /// The number (0 until one is kept).
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Keeps `n`.
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
}

impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo(self.get().into())
    }
}

impl PartialEq for Memo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl PartialEq for Rendered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Why a token was refused. `code()` is the stable API error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Not a Tessera token (shape or checksum), or no such token.
    Invalid,
    /// The token is past its expiration.
    Expired,
    /// The token has been revoked.
    Revoked,
    /// The token's owner has been disabled by an administrator.
    Disabled,
    /// A secret the token had before a rotation, past its grace.
    Rotated,
}

impl Rejection {
    /// The outcome's name in the metrics (`invalid`, `expired`, …).
    pub fn outcome(self) -> &'static str {
        match self {
            Rejection::Invalid => "invalid",
            Rejection::Expired => "expired",
            Rejection::Revoked => "revoked",
            Rejection::Disabled => "disabled",
            Rejection::Rotated => "rotated",
        }
    }

    /// The stable API error code (`invalid_token`, `token_expired`, `token_revoked`).
    pub fn code(self) -> &'static str {
        match self {
            Rejection::Invalid => "invalid_token",
            Rejection::Expired => "token_expired",
            Rejection::Revoked => "token_revoked",
            Rejection::Disabled => "account_disabled",
            Rejection::Rotated => "token_rotated",
        }
    }

    /// A human-readable explanation, for API responses.
    pub fn message(self) -> &'static str {
        match self {
            Rejection::Invalid => "The token is not valid.",
            Rejection::Expired => "The token has expired.",
            Rejection::Revoked => "The token has been revoked.",
            Rejection::Disabled => "The account this token belongs to is disabled.",
            Rejection::Rotated => {
                "This secret was replaced when the token was rotated; use the new secret."
            }
        }
    }
}

/// Why a verification produced no identity.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The token was refused.
    #[error("token refused: {0:?}")]
    Rejected(Rejection),
    /// The token exists but has ended (`why`: revoked or expired); its
    /// presentation is worth counting for its owner.
    #[error("token ended: {why:?}")]
    Ended {
        /// Revoked or expired.
        why: Rejection,
        /// The token.
        token_id: i64,
    },
    /// A secret rotated out of token `token_id` (of `user_id`) was
    /// presented: refused as [`Rejection::Rotated`], and worth telling the
    /// owner about (someone still uses the old secret).
    #[error("a rotated-out secret was presented")]
    Reused {
        /// The token whose old secret it is.
        token_id: i64,
        /// Its owner.
        user_id: i64,
        /// The organization that owns it, if one does (its policies may
        /// revoke the token on reuse).
        owner: Option<String>,
    },
    /// The database lookup failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Clone)]
struct Entry {
    verified: Arc<Verified>,
    /// The cache time or the token's expiry, whichever comes first.
    valid_until: SystemTime,
}

/// The map's hasher: keys are already uniformly random (and unknown to
/// clients), so their low 64 bits serve as the hash.
#[derive(Default)]
struct KeyBits(u64);

impl Hasher for KeyBits {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }
}

type Cache = moka::sync::Cache<u128, Entry, BuildHasherDefault<KeyBits>>;

/// A thread's last cache hit, used again while its verifier's generation
/// is the one it was read in (every eviction changes it): a repeat hit —
/// one client in a loop, a CI job — skips the shared map, its lock-free
/// read and its bookkeeping.
struct LastHit {
    verifier: u64,
    generation: u64,
    key: u128,
    entry: Entry,
}

thread_local! {
    static LAST_HIT: std::cell::RefCell<Option<LastHit>> = const { std::cell::RefCell::new(None) };
}

/// Numbers each verifier of the process (a thread's last hit names its own).
static VERIFIERS: AtomicU64 = AtomicU64::new(0);

/// Keys of cached entries are keyed hashes of tokens; the cache never holds
/// a secret. The cache is bounded (moka: concurrent, no global lock, least
/// useful entries evicted first), so a hit costs the same with one token in
/// use or a hundred thousand.
pub struct Verifier {
    ttl: Duration,
    /// The SipHash key of this process's cache keys.
    key: (u64, u64),
    cache: Cache,
    generation: AtomicU64,
    /// This verifier's number in the process ([`LastHit`]).
    id: u64,
    /// Whether cached answers may be trusted only while a change feed is
    /// known to be healthy (Postgres: other instances change tokens too).
    feed_required: AtomicBool,
    /// Until when (ms since the epoch) the change feed is known healthy.
    feed_fresh_until: AtomicU64,
    /// Counts database lookups (for tests).
    pub lookups: AtomicU64,
    /// Verifications answered from the cache (metrics).
    hits: prometheus_client::metrics::counter::Counter,
    /// Verifications that read the database (metrics).
    misses: prometheus_client::metrics::counter::Counter,
    /// Lookups read from the primary and from a replica (metrics).
    reads: [prometheus_client::metrics::counter::Counter; 2],
    /// Streaming replicas the lookup may read (`--database-replica-url`).
    replicas: Option<Arc<super::replicas::Replicas>>,
}

/// The `policy` of a [`Block`] on a derived token whose ancestor no longer
/// allows all it may do (narrowed since).
pub const DERIVED_FROM: &str = "derived_from";

/// The block of a token that waits for its organization's approval (403
/// `approval_pending`).
pub const APPROVAL_PENDING: &str = "approval_pending";

/// The block of a token whose organization no longer counts its maker as
/// a member.
pub const ORGANIZATION_MEMBERSHIP: &str = "organization_membership";

/// Cached answers kept at most.
pub const MAX_ENTRIES: u64 = 100_000;

/// How long a successful round trip on the change feed vouches for it.
pub const FEED_GRACE: Duration = Duration::from_millis(1000);

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(sqlx_macros::FromRow)]
struct Row {
    #[sqlx(flatten)]
    link: Link,
    user_id: i64,
    username: String,
    name: String,
    is_admin: bool,
    disabled_at: Option<DateTime<Utc>>,
    via_previous: bool,
    previous_valid_until: Option<DateTime<Utc>>,
    parent_id: Option<i64>,
    minted: bool,
    owner_org: Option<String>,
    outside_owner: bool,
    approval_state: Option<String>,
}

/// What verification reads of each token in a chain: the presented one
/// and (the chain query) each of its ancestors.
#[derive(sqlx_macros::FromRow)]
struct Link {
    id: i64,
    scopes: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    allowed_networks: String,
    resources: String,
}

impl Link {
    /// Its stored scopes, allowlist and resource limits, decoded (a value
    /// that cannot be read grants nothing).
    fn reach(&self) -> (Scopes, crate::tokens::Networks, crate::tokens::Resources) {
        (
            Scopes::from_stored(&self.scopes),
            crate::tokens::Networks::from_stored(&self.allowed_networks),
            crate::tokens::Resources::from_stored(&self.resources),
        )
    }

    /// The policy it breaks at `at`, if any.
    fn blocked(
        &self,
        policies: &Policies,
        reach: &(Scopes, crate::tokens::Networks, crate::tokens::Resources),
        at: DateTime<Utc>,
    ) -> Option<Block> {
        policies.blocks(
            &reach.0,
            reach.1.is_any(),
            self.created_at,
            self.expires_at,
            self.last_used_at,
            at,
        )
    }
}

impl Verifier {
    /// A verifier that caches positive answers for `ttl` (zero disables the
    /// cache), under a fresh random key.
    pub fn new(ttl: Duration) -> Self {
        Self::with_counters(ttl, Default::default(), Default::default())
    }

    /// As [`Verifier::new`], counting cache hits, misses and where lookups
    /// were read in `metrics`.
    pub fn counting(ttl: Duration, metrics: &super::metrics::Metrics) -> Self {
        Self {
            reads: [metrics.lookups("primary"), metrics.lookups("replica")],
            ..Self::with_counters(
                ttl,
                metrics.cache_hits.clone(),
                metrics.cache_misses.clone(),
            )
        }
    }

    /// Reads verification lookups from `replicas` when one is fresh enough
    /// (see [`super::replicas`]).
    pub fn with_replicas(self, replicas: Arc<super::replicas::Replicas>) -> Self {
        Self {
            replicas: Some(replicas),
            ..self
        }
    }

    /// The replicas lookups may read, if any.
    pub fn replicas(&self) -> Option<&Arc<super::replicas::Replicas>> {
        self.replicas.as_ref()
    }

    fn with_counters(
        ttl: Duration,
        hits: prometheus_client::metrics::counter::Counter,
        misses: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        let mut rng = rand::rngs::OsRng;
        Self {
            ttl,
            key: (rng.next_u64(), rng.next_u64()),
            cache: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build_with_hasher(BuildHasherDefault::default()),
            generation: AtomicU64::new(0),
            id: VERIFIERS.fetch_add(1, Ordering::Relaxed),
            feed_required: AtomicBool::new(false),
            feed_fresh_until: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            hits,
            misses,
            reads: Default::default(),
            replicas: None,
        }
    }

    /// True when cached answers are trusted now (the change feed, where one
    /// is required, is healthy).
    pub fn trusted(&self) -> bool {
        self.cache_trusted(SystemTime::now())
    }

    /// From now on, cached answers are used only while the change feed is
    /// known healthy ([`Verifier::feed_alive`] within [`FEED_GRACE`]);
    /// otherwise every token is checked against the database.
    pub fn require_feed(&self) {
        self.feed_required.store(true, Ordering::SeqCst);
    }

    /// The change feed just proved alive (a notification or a probe).
    pub fn feed_alive(&self) {
        let until = epoch_ms(SystemTime::now() + FEED_GRACE);
        self.feed_fresh_until.store(until, Ordering::SeqCst);
    }

    /// The change feed is down: nothing cached is trusted until it is back.
    pub fn feed_lost(&self) {
        self.feed_fresh_until.store(0, Ordering::SeqCst);
        self.evict_all();
    }

    /// True when cached answers may be used at `now`.
    fn cache_trusted(&self, now: SystemTime) -> bool {
        !self.feed_required.load(Ordering::Relaxed)
            || epoch_ms(now) <= self.feed_fresh_until.load(Ordering::Relaxed)
    }

    /// Checks a presented token: who it speaks for, or why it is refused.
    /// A token that breaks one of `policies` is found (it is not refused
    /// here) with [`Verified::blocked`] set.
    pub async fn verify(
        &self,
        db: &Db,
        policies: impl FnOnce() -> Arc<PolicyBook>,
        presented: &str,
    ) -> Result<Arc<Verified>, VerifyError> {
        if !secret::is_well_formed(presented) {
            return Err(VerifyError::Rejected(Rejection::Invalid));
        }
        let key = self.cache_key(presented);
        if let Some(hit) = self.cached(key) {
            self.hits.inc();
            return Ok(hit);
        }
        // read only on a miss: a hit needs no lock and no shared count
        let book = policies();
        let hash = secret::digest(presented);
        let generation = self.generation.load(Ordering::SeqCst);
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.misses.inc();
        let Some((row, chain)) = self.look_up(db, &hash).await? else {
            return Err(self.retired(db, &hash).await);
        };
        if row.link.revoked_at.is_some() {
            return Err(VerifyError::Ended {
                why: Rejection::Revoked,
                token_id: row.link.id,
            });
        }
        let at = Utc::now();
        // an old secret works only until its grace ends
        let grace_end = row
            .via_previous
            .then_some(row.previous_valid_until)
            .flatten();
        if row.via_previous && grace_end.is_none_or(|g| g <= at) {
            return Err(VerifyError::Reused {
                token_id: row.link.id,
                user_id: row.user_id,
                owner: row.owner_org,
            });
        }
        if row.link.expires_at <= at {
            return Err(VerifyError::Ended {
                why: Rejection::Expired,
                token_id: row.link.id,
            });
        }
        if row.disabled_at.is_some() {
            return Err(VerifyError::Rejected(Rejection::Disabled));
        }
        // an organization's token: the stricter of its policies and the
        // server's
        let policies = book.for_owner(row.owner_org.as_deref());
        let reach = row.link.reach();
        let mut blocked = row.link.blocked(policies, &reach, at);
        if row.approval_state.as_deref() == Some("pending") {
            blocked = Some(Block {
                policy: APPROVAL_PENDING.into(),
                reason: format!(
                    "it waits for an owner of {} to approve it",
                    row.owner_org.as_deref().unwrap_or("its organization")
                ),
            });
        }
        if row.outside_owner {
            // its maker left the organization (or was removed): blocked
            // until they are a member again
            blocked = Some(Block {
                policy: ORGANIZATION_MEMBERSHIP.into(),
                reason: format!(
                    "its maker is no longer a member of {}, which owns it",
                    row.owner_org.as_deref().unwrap_or("its organization")
                ),
            });
        }
        let (scopes, networks, resources) = reach;
        // a derived token works only while every ancestor does, and only
        // within what each still allows
        let mut ancestors = Vec::new();
        let mut ends_at = row.link.expires_at;
        for a in chain {
            ancestors.push(a.id);
            if a.revoked_at.is_some() {
                return Err(VerifyError::Ended {
                    why: Rejection::Revoked,
                    token_id: row.link.id,
                });
            }
            if a.expires_at <= at {
                return Err(VerifyError::Ended {
                    why: Rejection::Expired,
                    token_id: row.link.id,
                });
            }
            ends_at = ends_at.min(a.expires_at);
            let a_reach = a.reach();
            if blocked.is_none() {
                blocked = a.blocked(policies, &a_reach, at).map(|b| Block {
                    policy: b.policy,
                    reason: format!("the token it was derived from is blocked ({})", b.reason),
                });
            }
            let (a_scopes, a_networks, a_resources) = a_reach;
            let within = a_scopes.covers(&scopes)
                && networks.within(&a_networks)
                && resources.within(&scopes, &a_resources);
            if blocked.is_none() && !within {
                blocked = Some(Block {
                    policy: DERIVED_FROM.into(),
                    reason: "the token it was derived from no longer allows all it may do".into(),
                });
            }
        }
        let verified = Arc::new(Verified {
            token_id: row.link.id,
            user_id: row.user_id,
            username: row.username,
            token_name: row.name,
            scope_text: scopes.to_string(),
            scopes,
            networks,
            resources,
            ancestors,
            created_at: row.link.created_at,
            expires_at: ends_at,
            is_admin: row.is_admin,
            minted: row.minted,
            owner: row.owner_org,
            blocked,
            rendered: Rendered::default(),
            last_place: Memo::default(),
        });
        if !self.ttl.is_zero() {
            // Only cache if nothing was evicted while we were reading.
            if self.generation.load(Ordering::SeqCst) == generation {
                let now = SystemTime::now();
                let expires = SystemTime::from(
                    grace_end.map_or(verified.expires_at, |g| g.min(verified.expires_at)),
                );
                let valid_until = now
                    .checked_add(self.ttl)
                    .map_or(expires, |t| t.min(expires));
                self.cache.insert(
                    key,
                    Entry {
                        verified: verified.clone(),
                        valid_until,
                    },
                );
            }
        }
        Ok(verified)
    }

    /// The live token whose secret hashes to `hash`, with its ancestors
    /// (parent first), from a replica fresh enough for it, else from the
    /// primary `db`. A replica that fails or is slow is skipped; one that
    /// does not know the token (made a moment ago) or may not have a change
    /// heard of since is overruled by the primary.
    async fn look_up(
        &self,
        db: &Db,
        hash: &[u8; 32],
    ) -> Result<Option<(Row, Vec<Link>)>, sqlx::Error> {
        let chosen = match &self.replicas {
            Some(r) if self.trusted() => r.choose().map(|c| (r, c)),
            _ => None,
        };
        if let Some((replicas, chosen)) = chosen {
            let read = tokio::time::timeout(
                super::replicas::LOOKUP_TIMEOUT,
                read_chain(&chosen.replica.db, hash),
            )
            .await;
            match read {
                Ok(Ok(Some((row, chain)))) => {
                    let ancestors: Vec<i64> = chain.iter().map(|a| a.id).collect();
                    if !replicas.behind(chosen, row.user_id, row.link.id, &ancestors) {
                        self.reads[1].inc();
                        return Ok(Some((row, chain)));
                    }
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(replica = %chosen.replica.name, error = %e, "replica lookup failed; asking the primary");
                    chosen.replica.failed();
                }
                Err(_) => {
                    tracing::warn!(replica = %chosen.replica.name, "replica lookup timed out; asking the primary");
                    chosen.replica.failed();
                }
            }
        }
        self.reads[0].inc();
        read_chain(db, hash).await
    }

    /// Why a well-formed token that matches no live secret is refused: a
    /// secret rotated out of some token (reuse), or none Tessera issued.
    async fn retired(&self, db: &Db, hash: &[u8; 32]) -> VerifyError {
        let found: Result<Option<(i64, i64, Option<String>)>, sqlx::Error> = on_db!(db, pool => sqlx::query_as(super::tokens::sql::RETIRED)
        .bind(&hash[..])
        .fetch_optional(pool)
        .await);
        match found {
            Ok(Some((token_id, user_id, owner))) => VerifyError::Reused {
                token_id,
                user_id,
                owner,
            },
            Ok(None) => VerifyError::Rejected(Rejection::Invalid),
            Err(e) => VerifyError::Database(e),
        }
    }

    fn cache_key(&self, presented: &str) -> u128 {
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write(presented.as_bytes());
        h.finish128().as_u128()
    }

    fn cached(&self, key: u128) -> Option<Arc<Verified>> {
        let now = SystemTime::now();
        if !self.cache_trusted(now) {
            return None;
        }
        // read before the cache: an eviction bumps it again once done, so
        // a hit kept below while one ran is never used after it
        let generation = self.generation.load(Ordering::SeqCst);
        let last = LAST_HIT.with_borrow(|last| {
            last.as_ref()
                .filter(|h| {
                    h.verifier == self.id
                        && h.generation == generation
                        && h.key == key
                        && now < h.entry.valid_until
                })
                .map(|h| h.entry.clone())
        });
        let e = match last {
            Some(e) => e,
            None => {
                let e = self.cache.get(&key)?;
                LAST_HIT.set(Some(LastHit {
                    verifier: self.id,
                    generation,
                    key,
                    entry: e.clone(),
                }));
                e
            }
        };
        (now < e.valid_until).then_some(e.verified)
    }

    /// Drops cached answers for one token (`Some(id)`, every secret it had)
    /// or for every token of a user (`None`). Takes effect at once; the scan
    /// does not block readers.
    pub fn evict(&self, user_id: i64, token_id: Option<i64>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(r) = &self.replicas {
            r.note(user_id, token_id);
        }
        for (key, e) in self.cache.iter() {
            let hit = match token_id {
                Some(id) => e.verified.token_id == id || e.verified.ancestors.contains(&id),
                None => e.verified.user_id == user_id,
            };
            if hit {
                self.cache.invalidate(&*key);
            }
        }
        // and once done: a thread's last hit read during the scan is stale
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Drops everything (e.g. when the change feed was interrupted).
    pub fn evict_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(r) = &self.replicas {
            r.note_everything();
        }
        self.cache.invalidate_all();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Number of cached answers (after pending evictions are applied).
    pub fn cached_entries(&self) -> usize {
        self.cache.run_pending_tasks();
        self.cache.entry_count() as usize
    }
}

/// The token whose live secret hashes to `hash`, and its ancestors.
async fn read_chain(db: &Db, hash: &[u8; 32]) -> Result<Option<(Row, Vec<Link>)>, sqlx::Error> {
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(super::tokens::sql::VERIFY)
        .bind(&hash[..])
        .fetch_optional(pool)
        .await)?;
    let Some(row) = row else { return Ok(None) };
    let chain = match row.parent_id {
        Some(_) => on_db!(db, pool => sqlx::query_as(super::tokens::sql::ANCESTORS)
            .bind(row.link.id)
            .fetch_all(pool)
            .await)?,
        None => Vec::new(),
    };
    Ok(Some((row, chain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(token_id: i64, user_id: i64) -> Entry {
        Entry {
            verified: Arc::new(Verified {
                token_id,
                user_id,
                username: "u".into(),
                token_name: "t".into(),
                scopes: Scopes::parse("profile:read").expect("a scope"),
                scope_text: "profile:read".into(),
                networks: Default::default(),
                resources: Default::default(),
                ancestors: vec![],
                created_at: Utc::now(),
                expires_at: Utc::now() + chrono::Duration::days(1),
                is_admin: false,
                minted: false,
                owner: None,
                blocked: None,
                rendered: Rendered::default(),
                last_place: Memo::default(),
            }),
            valid_until: SystemTime::now() + Duration::from_secs(600),
        }
    }

    #[test]
    fn a_threads_last_hit_never_outlives_an_eviction() {
        let v = Verifier::new(Duration::from_secs(600));
        let other = Verifier::new(Duration::from_secs(600));
        v.cache.insert(1, answer(10, 100));
        v.cache.insert(2, answer(20, 200));
        assert!(v.cached(1).is_some(), "a hit, kept as this thread's last");
        assert!(v.cached(1).is_some(), "the kept hit");
        assert!(
            other.cached(1).is_none(),
            "another verifier's hit is not its own"
        );
        v.evict(100, Some(10));
        assert!(
            v.cached(1).is_none(),
            "an evicted token is not answered from the kept hit"
        );
        assert!(v.cached(2).is_some());
        v.evict(200, None);
        assert!(v.cached(2).is_none(), "nor a user's evicted tokens");
        v.cache.insert(3, answer(30, 300));
        assert!(v.cached(3).is_some());
        v.evict_all();
        assert!(
            v.cached(3).is_none(),
            "nor anything after everything was evicted"
        );
        let mut ending = answer(50, 500);
        ending.valid_until = SystemTime::now() + Duration::from_millis(50);
        v.cache.insert(5, ending);
        assert!(v.cached(5).is_some());
        std::thread::sleep(Duration::from_millis(100));
        assert!(v.cached(5).is_none(), "an answer past its time is not used");
        v.cache.insert(5, answer(50, 500));
        assert!(
            v.cached(5).is_some(),
            "its fresh copy is (not the kept one, past its time)"
        );
        assert!(v.cached(5).is_some());
        v.cache.insert(4, answer(40, 400));
        assert!(v.cached(4).is_some());
        v.require_feed();
        assert!(
            v.cached(4).is_none(),
            "nor anything while the change feed is not known alive"
        );
    }

    #[test]
    fn cache_keys_are_secret_per_process_and_distinct_per_token() {
        let a = Verifier::new(Duration::from_secs(30));
        let b = Verifier::new(Duration::from_secs(30));
        let t = "tsr_0123456789abcdefghijABCDEFGHIJxy2HQKvj";
        assert_eq!(a.cache_key(t), a.cache_key(t));
        assert_ne!(
            a.cache_key(t),
            b.cache_key(t),
            "keys come from a random key"
        );
        assert_ne!(a.cache_key(t), a.cache_key(&t.replace('x', "z")));
    }
}
