//! Sign-in throttling per client IP and per account. Failures are counted in
//! a fixed window; once a key reaches its limit, attempts are refused (HTTP
//! 429 with `Retry-After`) until the window ends, without touching argon2.
//!
//! State is in-process: with several instances each keeps its own counts,
//! which bounds an attacker to `instances × limit` guesses per window.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Limits of sign-in throttling.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleConfig {
    /// The fixed window failures are counted in.
    pub window: Duration,
    /// Failures allowed per account in a window, from any address.
    pub max_failures_per_account: u32,
    /// Failures allowed per client IP in a window, for any account.
    pub max_failures_per_ip: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            max_failures_per_account: 5,
            max_failures_per_ip: 20,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Keys kept before stale windows are swept out.
const SWEEP_AT: usize = 10_000;

/// Failed sign-in counts per client IP and per account, checked before a
/// password is verified.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    by_ip: Mutex<HashMap<IpAddr, Window>>,
    by_account: Mutex<HashMap<String, Window>>,
}

/// How long a refused client has to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// The wait in whole seconds, at least 1 (for `Retry-After`).
    pub fn seconds(&self) -> u64 {
        self.0.as_secs().max(1)
    }
}

fn blocked<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, Window>>,
    key: &K,
    limit: u32,
    window: Duration,
) -> Option<Duration> {
    let map = map.lock().unwrap_or_else(|p| p.into_inner());
    let w = map.get(key)?;
    let age = w.started.elapsed();
    (age < window && w.failures >= limit).then(|| window - age)
}

fn record<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, Window>>, key: K, window: Duration) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= SWEEP_AT {
        map.retain(|_, w| w.started.elapsed() < window);
    }
    let now = Instant::now();
    let w = map.entry(key).or_insert(Window {
        started: now,
        failures: 0,
    });
    if now.duration_since(w.started) >= window {
        *w = Window {
            started: now,
            failures: 0,
        };
    }
    w.failures += 1;
}

impl LoginThrottle {
    /// A throttle with `config`'s limits and no failures recorded.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            by_ip: Mutex::default(),
            by_account: Mutex::default(),
        }
    }

    fn account_key(username: &str) -> String {
        username.trim().to_lowercase()
    }

    /// `Err` when this client or this account must wait before trying again.
    pub fn check(&self, ip: IpAddr, username: &str) -> Result<(), RetryAfter> {
        let c = &self.config;
        let by_ip = blocked(&self.by_ip, &ip, c.max_failures_per_ip, c.window);
        let by_account = blocked(
            &self.by_account,
            &Self::account_key(username),
            c.max_failures_per_account,
            c.window,
        );
        match by_ip.into_iter().chain(by_account).max() {
            Some(wait) => Err(RetryAfter(wait)),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against both the client IP and the account.
    pub fn record_failure(&self, ip: IpAddr, username: &str) {
        record(&self.by_ip, ip, self.config.window);
        record(
            &self.by_account,
            Self::account_key(username),
            self.config.window,
        );
    }

    /// A successful sign-in clears the account's count (not the IP's).
    pub fn record_success(&self, username: &str) {
        let mut map = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Self::account_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_account: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            window: Duration::from_secs(60),
            max_failures_per_account: per_account,
            max_failures_per_ip: per_ip,
        })
    }

    #[test]
    fn an_account_is_blocked_after_its_limit_whatever_the_ip() {
        let t = throttle(3, 100);
        for i in 0..3u8 {
            assert!(t.check(IpAddr::from([10, 0, 0, i]), "Alice").is_ok());
            t.record_failure(IpAddr::from([10, 0, 0, i]), "Alice");
        }
        let wait = t.check(IpAddr::from([10, 0, 0, 9]), "alice").unwrap_err();
        assert!(wait.seconds() > 0 && wait.seconds() <= 60);
        assert!(t.check(IpAddr::from([10, 0, 0, 9]), "bob").is_ok());
    }

    #[test]
    fn an_ip_is_blocked_after_its_limit_whatever_the_account() {
        let t = throttle(100, 2);
        let ip = IpAddr::from([192, 0, 2, 1]);
        t.record_failure(ip, "a");
        t.record_failure(ip, "b");
        assert!(t.check(ip, "c").is_err());
        assert!(t.check(IpAddr::from([192, 0, 2, 2]), "c").is_ok());
    }

    #[test]
    fn success_resets_the_account_count() {
        let t = throttle(2, 100);
        let ip = IpAddr::from([192, 0, 2, 1]);
        t.record_failure(ip, "alice");
        t.record_success("alice");
        t.record_failure(ip, "alice");
        assert!(t.check(ip, "alice").is_ok());
    }
}
