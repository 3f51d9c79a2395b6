//! Server-only code: the services and the store. Compiled with the `ssr`
//! feature only; the UI reaches it through server functions, and the axum
//! binary through [`Core`].

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod authenticate;
pub mod changes;
pub mod client;
pub mod db;
pub mod lifecycle;
pub mod mail;
pub mod metrics;
pub mod orgs;
pub mod passwords;
pub mod refusal;
pub mod replicas;
pub mod scanning;
pub mod scim;
pub mod secret;
pub mod security;
pub mod sessions;
pub mod sso;
pub mod throttle;
pub mod tokens;
pub mod two_factor;
pub mod usage;
pub mod users;
pub mod verify;
pub mod webhooks;
pub mod workloads;

use crate::tokens::policy::PolicyBook;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::{Arc, RwLock};

/// Operator settings the services need (the binary parses them from flags
/// and the environment).
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Where users reach Tessera, e.g. `https://tokens.example.com`.
    pub public_url: String,
    /// Whether new users may create accounts.
    pub signup_enabled: bool,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For`
    /// is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Limits on sign-in, sign-up and introspection attempts.
    pub throttle: throttle::ThrottleConfig,
    /// argon2 hashes allowed to run at once.
    pub hash_concurrency: usize,
    /// argon2 jobs allowed to wait for a hashing thread; past it a sign-in
    /// or sign-up is answered 503 at once.
    pub hash_queue: usize,
    /// The longest lifetime a token may be given, in days.
    pub max_token_days: u32,
    /// How long a positive token verification is reused (0 disables the cache).
    pub verify_cache_ttl: std::time::Duration,
    /// `client_id:client_secret` allowed to call `/oauth/introspect`.
    pub introspection_client: Option<secrecy::SecretString>,
    /// A session unused for this long ends (besides its absolute lifetime).
    pub session_idle: std::time::Duration,
    /// How long an entered password lets a session do sensitive things
    /// without asking again (sudo mode); zero asks every time.
    pub sudo_window: std::time::Duration,
    /// How long audit events are kept.
    pub audit_retention: std::time::Duration,
    /// Mail, webhooks and notices.
    pub lifecycle: lifecycle::LifecycleConfig,
    /// Trusted workloads: which issuers may be reached, and how.
    pub workload: workloads::WorkloadConfig,
    /// Single sign-on through an OpenID Provider (`--oidc-issuer`…).
    pub sso: Option<sso::SsoConfig>,
    /// The operator's key for what Tessera must be able to read back
    /// (authenticator app keys): `--secret-key-file`. Without one, a key
    /// is made and kept in the database.
    pub secret_key: Option<two_factor::SecretKey>,
    /// Streaming replicas token verification may read
    /// (`--database-replica-url`, Postgres only).
    pub replicas: Vec<secrecy::SecretString>,
    /// A replica whose replay is further behind than this is skipped
    /// (`--replica-max-lag-ms`).
    pub replica_max_lag: std::time::Duration,
}

impl CoreConfig {
    /// Cookies get `Secure` whenever users reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The session cookie's name: `__Host-` prefixed over https.
    pub fn session_cookie(&self) -> &'static str {
        sessions::cookie_name(self.secure_cookies())
    }
}

/// The services, shared by every request.
pub struct Core {
    /// The store.
    pub db: db::Db,
    /// The operator settings.
    pub config: CoreConfig,
    /// Password hashing and verification (argon2id, off the async threads).
    pub hasher: passwords::PasswordHasher,
    /// Attempt counts per client address and per account (shared through
    /// Postgres, in memory with SQLite).
    pub throttle: throttle::Throttle,
    /// Token verification, with its cache of positive answers.
    pub verifier: verify::Verifier,
    /// Token uses noted in memory until the flush writes them.
    pub usage: usage::UsageRecorder,
    /// Presentations of ended tokens, counted until the flush writes them.
    pub presented: usage::PresentedRecorder,
    /// Which scopes and resources each token's uses exercised.
    pub scope_uses: usage::ScopeUseRecorder,
    /// The server's and each organization's policies, as last read from
    /// the store (reloaded whenever the change feed says they changed).
    policies: RwLock<Arc<PolicyBook>>,
    /// Keeps refusals of the same token for the same reason to one audit
    /// event per period.
    pub refusals: audit::Sampler,
    /// Mail, webhooks and where tokens were used from.
    pub lifecycle: lifecycle::Lifecycle,
    /// Requests, verifications, the change feed, queues and the pool.
    pub metrics: metrics::Metrics,
    /// The signing keys of the issuers trust rules name.
    pub workload_keys: workloads::IssuerKeys,
    /// The OpenID Provider people sign in through, when configured (its
    /// discovery document is fetched by [`Core::discover_sso`]).
    pub sso: Option<sso::Sso>,
    /// Seals authenticator app keys with the server's key.
    pub sealer: two_factor::Sealer,
    /// This server as a WebAuthn relying party (passkeys).
    pub passkeys: two_factor::passkeys::Relying,
}

/// How often a refusal of one token for one reason is written to the audit
/// log at most (a flood of them writes one row per period).
pub const REFUSAL_SAMPLE: std::time::Duration = std::time::Duration::from_secs(600);

impl Core {
    /// Starts the services over `db` with `config`, and the background tasks that
    /// write token uses and follow token changes (Postgres' `LISTEN`, or
    /// SQLite's `changes` table).
    pub async fn new(db: db::Db, config: CoreConfig) -> Result<Arc<Core>, passwords::HashError> {
        let hasher =
            passwords::PasswordHasher::new(config.hash_concurrency, config.hash_queue).await?;
        let throttle = throttle::Throttle::new(config.throttle, &db);
        let metrics = metrics::Metrics::new();
        let mut verifier = verify::Verifier::counting(config.verify_cache_ttl, &metrics);
        let replicas = match (&db, config.replicas.is_empty()) {
            (db::Db::Postgres(_), false) => {
                match replicas::Replicas::new(&config.replicas, config.replica_max_lag) {
                    Ok(r) => Some(Arc::new(r)),
                    Err(e) => {
                        tracing::error!("{e}; verifying on the primary only");
                        None
                    }
                }
            }
            _ => None,
        };
        if let Some(r) = &replicas {
            verifier = verifier.with_replicas(r.clone());
        }
        let policies = admin::load_policy_book(&db).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read the policies; none apply until they can be read");
            PolicyBook::default()
        });
        let lifecycle = lifecycle::Lifecycle::new(config.lifecycle.clone(), &db);
        let config_workload = config.workload.clone();
        let config_sso = config.sso.clone();
        let config_secret_key = config.secret_key.clone();
        let config_public_url = config.public_url.clone();
        let core = Arc::new(Core {
            lifecycle,
            db,
            config,
            hasher,
            throttle,
            verifier,
            usage: Default::default(),
            presented: Default::default(),
            scope_uses: Default::default(),
            policies: RwLock::new(Arc::new(policies)),
            refusals: audit::Sampler::new(REFUSAL_SAMPLE),
            metrics,
            workload_keys: workloads::IssuerKeys::new(&config_workload),
            sso: config_sso.map(sso::Sso::new),
            sealer: two_factor::Sealer::new(config_secret_key),
            passkeys: two_factor::passkeys::Relying::new(&config_public_url),
        });
        match &core.db {
            db::Db::Postgres(pool) => {
                changes::follow_token_changes(pool.direct().clone(), Arc::downgrade(&core));
                if let Some(r) = &replicas {
                    r.spawn_monitor(pool.clone(), Arc::downgrade(&core));
                }
            }
            db::Db::Sqlite(pool) => {
                changes::follow_sqlite_changes(pool.clone(), Arc::downgrade(&core))
            }
        }
        spawn_usage_flush(Arc::downgrade(&core));
        if core.config.lifecycle.worker {
            lifecycle::spawn_worker(Arc::downgrade(&core), core.config.lifecycle.tick);
        }
        Ok(core)
    }

    /// Fetches the identity provider's discovery document and keys, when
    /// single sign-on is configured (start-up: a provider that cannot be
    /// read stops it, with one sentence).
    pub async fn discover_sso(&self) -> Result<(), String> {
        match &self.sso {
            Some(sso) => sso.discover().await.map_err(|e| {
                format!(
                    "--oidc-issuer {}: the identity provider's discovery document could not be read ({e})",
                    sso.config.issuer
                )
            }),
            None => Ok(()),
        }
    }

    /// The policies in force: the server's (the book derefs to them) and
    /// each organization's.
    pub fn policies(&self) -> Arc<PolicyBook> {
        self.policies
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The policies as stored now, for a write that depends on them
    /// (create, edit, derive, regenerate, rotate): a policy set a moment
    /// ago by another process (`tessera admin policy set`) is in force for
    /// every write that starts after it was set, without waiting for the
    /// change feed. Writes are rare; verification keeps the cached copy.
    pub async fn policies_for_write(&self) -> Arc<PolicyBook> {
        match admin::load_policy_book(&self.db).await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the policies; using the last ones read");
                self.policies()
            }
        }
    }

    /// Reads the policies from the store again (after a change).
    pub async fn reload_policies(&self) {
        match admin::load_policy_book(&self.db).await {
            Ok(p) => {
                let mut slot = self
                    .policies
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                *slot = Arc::new(p);
            }
            Err(e) => tracing::warn!(error = %e, "could not reload the policies"),
        }
    }

    /// Drops what a change made stale (and re-reads the policies when they
    /// may have changed).
    pub async fn apply_change(&self, change: changes::Change) {
        match change {
            changes::Change::Token(u, t) => self.verifier.evict(u, Some(t)),
            changes::Change::User(u) => self.verifier.evict(u, None),
            changes::Change::Everything => {
                self.reload_policies().await;
                self.verifier.evict_all();
            }
        }
    }

    /// Checks a presented token against the store and the policies.
    pub async fn verify(
        &self,
        presented: &str,
    ) -> Result<Arc<verify::Verified>, verify::VerifyError> {
        let result = self
            .verifier
            .verify(&self.db, || self.policies(), presented)
            .await;
        self.metrics.verification(match &result {
            Ok(_) => "ok",
            Err(verify::VerifyError::Rejected(r))
            | Err(verify::VerifyError::Ended { why: r, .. }) => r.outcome(),
            Err(verify::VerifyError::Reused { .. }) => verify::Rejection::Rotated.outcome(),
            Err(verify::VerifyError::Database(_)) => "error",
        });
        result
    }

    /// The change feed was lost: nothing cached is trusted until it is back.
    pub fn feed_lost(&self) {
        self.metrics.feed_lost();
        self.verifier.feed_lost();
    }

    /// The metrics as OpenMetrics text (`GET /metrics`).
    pub fn render_metrics(&self) -> String {
        let (pool_size, pool_idle, pool_max) = crate::on_db!(&self.db, pool => (
            i64::from(pool.size()),
            i64::try_from(pool.num_idle()).unwrap_or(i64::MAX),
            i64::from(pool.options().get_max_connections()),
        ));
        self.metrics.render(metrics::Levels {
            hash_queue: i64::try_from(self.hasher.queued()).unwrap_or(i64::MAX),
            pool_size,
            pool_idle,
            pool_max,
            cache_entries: i64::try_from(self.verifier.cached_entries()).unwrap_or(i64::MAX),
            feed_up: i64::from(self.verifier.trusted()),
        })
    }

    /// The periodic housekeeping, run by exactly one process at a time
    /// across every instance on the store: expired sessions, old throttle
    /// windows, audit events past retention, the SQLite change table.
    pub async fn housekeeping(&self) -> Result<bool, sqlx::Error> {
        if !audit::claim_job(&self.db, "housekeeping", HOUSEKEEPING_EVERY).await? {
            return Ok(false);
        }
        sessions::purge_expired(&self.db, self.config.session_idle).await?;
        self.throttle.purge().await?;
        let pruned = audit::prune(&self.db, self.config.audit_retention).await?;
        if pruned > 0 {
            tracing::info!(pruned, "audit events past retention deleted");
        }
        lifecycle::prune(&self.db).await?;
        workloads::prune(self).await?;
        two_factor::prune(&self.db).await?;
        if let db::Db::Sqlite(pool) = &self.db {
            let cutoff = db::now() - chrono::Duration::hours(1);
            sqlx::query("DELETE FROM changes WHERE at < $1")
                .bind(cutoff)
                .execute(pool)
                .await?;
        }
        Ok(true)
    }

    /// Writes recorded token uses: those due (`all == false`, the periodic
    /// flush) or everything pending (at shutdown).
    pub async fn flush_usage(&self, all: bool) {
        let presented = self.presented.take_due(all);
        if !presented.is_empty() {
            if let Err(e) = usage::write_presented(&self.db, &presented).await {
                tracing::warn!(error = %e, count = presented.len(), "could not record presentations of ended tokens");
            }
        }
        let scopes = self.scope_uses.take_due(all);
        if !scopes.is_empty() {
            if let Err(e) = usage::write_scope_uses(&self.db, &scopes).await {
                tracing::warn!(error = %e, count = scopes.len(), "could not record the scopes tokens used");
            }
        }
        let uses = self.usage.take_due(all);
        if uses.is_empty() {
            return;
        }
        if let Err(e) = usage::write(&self.db, &uses).await {
            tracing::warn!(error = %e, count = uses.len(), "could not record token uses");
        }
    }
}

/// How often the housekeeping job runs (once across all instances).
pub const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Writes recorded token uses whose minute is up, once a second.
fn spawn_usage_flush(core: std::sync::Weak<Core>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(usage::FLUSH_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(core) = core.upgrade() else { return };
            core.flush_usage(false).await;
        }
    });
}

/// Axum state: Leptos' options plus the services. Cloned for every request
/// by each layer and handler, so it holds only reference counts.
#[derive(Clone)]
pub struct AppState {
    /// Leptos' options, as the server was started with them.
    pub leptos: Arc<LeptosOptions>,
    /// The services.
    pub core: Arc<Core>,
}

impl AppState {
    /// Bundles Leptos' options with the services.
    pub fn new(leptos: LeptosOptions, core: Arc<Core>) -> Self {
        Self {
            leptos: Arc::new(leptos),
            core,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        (*state.leptos).clone()
    }
}

impl FromRef<AppState> for Arc<Core> {
    fn from_ref(state: &AppState) -> Self {
        state.core.clone()
    }
}
