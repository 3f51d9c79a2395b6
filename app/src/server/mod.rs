//! Server-only code: the services and the store. Compiled with the `ssr`
//! feature only; the UI reaches it through server functions, and the axum
//! binary through [`Core`].

pub mod accounts;
pub mod db;
pub mod passwords;
pub mod secret;
pub mod security;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod usage;
pub mod verify;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::{net::IpAddr, sync::Arc};

/// Operator settings the services need (the binary parses them from flags
/// and the environment).
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Where users reach Tessera, e.g. `https://tokens.example.com`.
    pub public_url: String,
    /// Whether new users may create accounts.
    pub signup_enabled: bool,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
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
    pub introspection_client: Option<String>,
    /// A session unused for this long ends (besides its absolute lifetime).
    pub session_idle: std::time::Duration,
    /// How long an entered password lets a session do sensitive things
    /// without asking again (sudo mode); zero asks every time.
    pub sudo_window: std::time::Duration,
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
}

impl Core {
    /// Starts the services over `db` with `config`, and the background tasks that
    /// write token uses and (on Postgres) follow token changes.
    pub async fn new(db: db::Db, config: CoreConfig) -> Result<Arc<Core>, passwords::HashError> {
        let hasher =
            passwords::PasswordHasher::new(config.hash_concurrency, config.hash_queue).await?;
        let throttle = throttle::Throttle::new(config.throttle, &db);
        let verifier = verify::Verifier::new(config.verify_cache_ttl);
        let core = Arc::new(Core {
            db,
            config,
            hasher,
            throttle,
            verifier,
            usage: Default::default(),
        });
        if let db::Db::Postgres(pool) = &core.db {
            verify::follow_token_changes(pool.clone(), Arc::downgrade(&core));
        }
        spawn_usage_flush(Arc::downgrade(&core));
        Ok(core)
    }

    /// Records that a token was used: in memory only; the flush writes it
    /// (at most once a minute per token).
    pub fn token_used(&self, token_id: i64, ip: IpAddr, agent: &str) {
        self.usage.note(token_id, ip, agent);
    }

    /// Writes recorded token uses: those due (`all == false`, the periodic
    /// flush) or everything pending (at shutdown).
    pub async fn flush_usage(&self, all: bool) {
        let uses = self.usage.take_due(all);
        if uses.is_empty() {
            return;
        }
        if let Err(e) = usage::write(&self.db, &uses).await {
            tracing::warn!(error = %e, count = uses.len(), "could not record token uses");
        }
    }
}

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
