//! Server-only code: the services and the store. Compiled with the `ssr`
//! feature only; the UI reaches it through server functions, and the axum
//! binary through [`Core`].

pub mod accounts;
pub mod db;
pub mod passwords;
pub mod secret;
pub mod security;
pub mod tokens;
pub mod verify;
pub mod sessions;
pub mod throttle;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::{net::IpAddr, sync::Arc};

/// Operator settings the services need (the binary parses them from flags
/// and the environment).
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Where users reach Tessera, e.g. `https://tokens.example.com`.
    pub public_url: String,
    pub signup_enabled: bool,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    pub throttle: throttle::ThrottleConfig,
    /// argon2 hashes allowed to run at once.
    pub hash_concurrency: usize,
    /// The longest lifetime a token may be given, in days.
    pub max_token_days: u32,
    /// How long a positive token verification is reused (0 disables the cache).
    pub verify_cache_ttl: std::time::Duration,
}

impl CoreConfig {
    /// Cookies get `Secure` whenever users reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The services, shared by every request.
pub struct Core {
    pub db: db::Db,
    pub config: CoreConfig,
    pub hasher: passwords::PasswordHasher,
    pub throttle: throttle::LoginThrottle,
    pub verifier: verify::Verifier,
}

impl Core {
    pub async fn new(db: db::Db, config: CoreConfig) -> Result<Arc<Core>, passwords::HashError> {
        let hasher = passwords::PasswordHasher::new(config.hash_concurrency).await?;
        let throttle = throttle::LoginThrottle::new(config.throttle);
        let verifier = verify::Verifier::new(config.verify_cache_ttl);
        let core = Arc::new(Core { db, config, hasher, throttle, verifier });
        if let db::Db::Postgres(pool) = &core.db {
            verify::follow_token_changes(pool.clone(), Arc::downgrade(&core));
        }
        Ok(core)
    }
}

/// Axum state: Leptos' options plus the services.
#[derive(Clone)]
pub struct AppState {
    pub leptos: LeptosOptions,
    pub core: Arc<Core>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl FromRef<AppState> for Arc<Core> {
    fn from_ref(state: &AppState) -> Self {
        state.core.clone()
    }
}
