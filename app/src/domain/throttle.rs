//! Throttling of password checks and other guessable doors: attempts are
//! counted per key (a client address, an account) in fixed windows, and
//! counted *before* the expensive or secret-revealing work, so concurrent
//! attempts cannot slip past the limit. A success takes its attempt back.
//!
//! With Postgres the counts live in the database (one atomic upsert per key),
//! so every instance behind a load balancer shares them; with SQLite (one
//! instance) they live in memory, bounded in size whatever is sent.

use super::db::{now, Db};
use chrono::{DateTime, Utc};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Limits of throttling.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleConfig {
    /// The fixed window sign-in attempts are counted in.
    pub window: Duration,
    /// Failed (or in-flight) sign-ins allowed per account in a window, from
    /// any address; also the limit for password changes.
    pub max_failures_per_account: u32,
    /// Failed (or in-flight) sign-ins allowed per client address in a
    /// window, for any account; also the limit for introspection clients.
    pub max_failures_per_ip: u32,
    /// Accounts one client address may create per hour.
    pub max_signups_per_ip: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            max_failures_per_account: 5,
            max_failures_per_ip: 20,
            max_signups_per_ip: 10,
        }
    }
}

/// What is being throttled; each has its own limit and key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// Sign-ins (and password changes) from one client address.
    SignInAddress,
    /// Sign-ins (and password changes) for one account.
    SignInAccount,
    /// Sign-ups from one client address.
    SignUpAddress,
    /// Failed introspection-client authentications from one address.
    IntrospectionAddress,
    /// Leaked-credential reports from one address.
    LeakReportAddress,
    /// "Send test event" to one webhook endpoint (keyed by its id).
    WebhookTest,
    /// Single sign-ons started from one client address (each keeps a row
    /// for 10 minutes).
    SsoStartAddress,
}

/// Test events one webhook endpoint may be sent per hour.
pub const WEBHOOK_TESTS_PER_HOUR: u32 = 10;

/// Single sign-ons one client address may start per hour.
pub const SSO_STARTS_PER_HOUR: u32 = 300;

/// Leaked-credential reports one client address may send per hour.
pub const LEAK_REPORTS_PER_HOUR: u32 = 60;

impl Door {
    fn tag(self) -> &'static str {
        match self {
            Door::SignInAddress => "signin-ip",
            Door::SignInAccount => "signin-account",
            Door::SignUpAddress => "signup-ip",
            Door::IntrospectionAddress => "introspect-ip",
            Door::LeakReportAddress => "leak-report-ip",
            Door::WebhookTest => "webhook-test",
            Door::SsoStartAddress => "sso-start-ip",
        }
    }

    fn limit(self, c: &ThrottleConfig) -> (u32, Duration) {
        match self {
            Door::SignInAddress | Door::IntrospectionAddress => (c.max_failures_per_ip, c.window),
            Door::SignInAccount => (c.max_failures_per_account, c.window),
            Door::SignUpAddress => (c.max_signups_per_ip, Duration::from_secs(3600)),
            Door::LeakReportAddress => (LEAK_REPORTS_PER_HOUR, Duration::from_secs(3600)),
            Door::WebhookTest => (WEBHOOK_TESTS_PER_HOUR, Duration::from_secs(3600)),
            Door::SsoStartAddress => (SSO_STARTS_PER_HOUR, Duration::from_secs(3600)),
        }
    }
}

/// The key of a client address: IPv4 as is, IPv6 by its /64 (one host
/// usually holds a whole /64, so single addresses would be free to take).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The key of an account: its name as the store compares it, at most 64
/// bytes (longer names do not exist; the cap bounds what is kept).
pub fn account_key(username: &str) -> String {
    // no control characters: no account has them, and Postgres refuses NUL
    let lower: String = username
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    match lower.char_indices().nth(64) {
        Some((end, _)) => lower[..end].to_owned(),
        None => lower,
    }
}

/// How long a refused client has to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// The wait in whole seconds, at least 1 (for `Retry-After`).
    pub fn seconds(&self) -> u64 {
        self.0.as_secs().max(1)
    }

    /// The wait in words: "40 seconds", "12 minutes".
    pub fn in_words(&self) -> String {
        let secs = self.seconds();
        if secs < 90 {
            format!("{secs} seconds")
        } else {
            format!("{} minutes", secs.div_ceil(60))
        }
    }

    /// The form message telling a throttled client how long to wait.
    pub fn too_many_attempts(&self) -> String {
        format!(
            "Too many sign-in attempts. Try again in {}.",
            self.in_words()
        )
    }
}

/// A password check (or a second factor's code) counted against the
/// sign-in limits (per client address and per account) *before* it is
/// compared, so concurrent guesses cannot slip past the limit.
pub struct PasswordAttempt {
    address: String,
    /// The account's throttle key (its name in lower case).
    pub account: String,
}

impl PasswordAttempt {
    /// Counts an attempt for `username` from `client`; `Err(wait)` when
    /// either limit is reached.
    pub async fn begin(
        throttle: &Throttle,
        client: &super::client::Client,
        username: &str,
    ) -> Result<Result<PasswordAttempt, RetryAfter>, sqlx::Error> {
        let attempt = PasswordAttempt {
            address: address_key(client.ip),
            account: account_key(username),
        };
        let keys = [
            (Door::SignInAddress, attempt.address.as_str()),
            (Door::SignInAccount, attempt.account.as_str()),
        ];
        Ok(throttle.hit(&keys).await?.map(|()| attempt))
    }

    /// It was right: the account's count starts again, and the address
    /// gets its attempt back.
    pub async fn succeeded(self, throttle: &Throttle) -> Result<(), sqlx::Error> {
        throttle.clear(Door::SignInAccount, &self.account).await?;
        throttle.release(Door::SignInAddress, &self.address).await?;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    /// When the window ends (`started` + its door's window).
    ends: Instant,
    attempts: u32,
}

/// Keys kept in memory at most. Past it, windows that ended are dropped
/// first, then the ones closest to ending: never an open window while one
/// that ended is still kept (a flood of made-up keys cannot grow memory, nor
/// wash out a victim's counter before the flood's own stale ones).
const MAX_KEYS: usize = 100_000;

/// The in-memory counts (SQLite: one instance), with the windows indexed by
/// their end so that sweeping and eviction never scan the whole map.
#[derive(Default)]
struct Memory {
    windows: HashMap<String, Window>,
    by_end: std::collections::BTreeSet<(Instant, String)>,
}

impl Memory {
    /// Drops every window that ended by `now`: each costs one step, once.
    fn sweep(&mut self, now: Instant) {
        while let Some((ends, _)) = self.by_end.first() {
            if *ends > now {
                break;
            }
            if let Some((_, key)) = self.by_end.pop_first() {
                self.windows.remove(&key);
            }
        }
    }

    /// Makes room for `more` keys: windows closest to their end go first.
    fn make_room(&mut self, more: usize) {
        while self.windows.len() + more > MAX_KEYS {
            let Some((_, key)) = self.by_end.pop_first() else {
                break;
            };
            self.windows.remove(&key);
        }
    }

    fn get(&self, key: &str) -> Option<&Window> {
        self.windows.get(key)
    }

    /// Counts one attempt at `key` whose window lasts `length`, starting a
    /// new window when there is none (or it ended); returns the window.
    fn count(&mut self, key: String, length: Duration, now: Instant) -> Window {
        let fresh = Window {
            started: now,
            ends: now + length,
            attempts: 0,
        };
        match self.windows.get(&key).map(|w| w.ends) {
            Some(ends) if now < ends => {}
            Some(ends) => {
                self.by_end.remove(&(ends, key.clone()));
                self.by_end.insert((fresh.ends, key.clone()));
                self.windows.insert(key.clone(), fresh);
            }
            None => {
                self.make_room(1);
                self.by_end.insert((fresh.ends, key.clone()));
                self.windows.insert(key.clone(), fresh);
            }
        }
        let w = self.windows.entry(key).or_insert(fresh);
        w.attempts = w.attempts.saturating_add(1);
        *w
    }

    fn remove(&mut self, key: &str) {
        if let Some(w) = self.windows.remove(key) {
            self.by_end.remove(&(w.ends, key.to_owned()));
        }
    }
}

/// Attempt counts per key, in memory or in Postgres.
pub struct Throttle {
    config: ThrottleConfig,
    memory: Mutex<Memory>,
    shared: Option<super::db::Pg>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("config", &self.config)
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

const HIT: &str = "INSERT INTO throttle (key, started_at, attempts) VALUES ($1, $2, 1) \
     ON CONFLICT (key) DO UPDATE SET \
     attempts = CASE WHEN throttle.started_at <= $3 THEN 1 ELSE throttle.attempts + 1 END, \
     started_at = CASE WHEN throttle.started_at <= $3 THEN EXCLUDED.started_at ELSE throttle.started_at END \
     RETURNING attempts, started_at";
const PEEK: &str = "SELECT attempts, started_at FROM throttle WHERE key = $1";
const CLEAR: &str = "DELETE FROM throttle WHERE key = $1";
const RELEASE: &str = "UPDATE throttle SET attempts = GREATEST(attempts - 1, 0) WHERE key = $1";
const PURGE: &str = "DELETE FROM throttle WHERE started_at < $1";

fn full_key(door: Door, key: &str) -> String {
    format!("{}:{key}", door.tag())
}

impl Throttle {
    /// A throttle with `config`'s limits: shared through the database when
    /// it is Postgres, in memory otherwise.
    pub fn new(config: ThrottleConfig, db: &Db) -> Self {
        Self {
            config,
            memory: Mutex::default(),
            shared: match db {
                Db::Postgres(pool) => Some(pool.clone()),
                Db::Sqlite(_) => None,
            },
        }
    }

    fn wait(&self, door: Door, attempts: u32, age: Duration) -> Option<RetryAfter> {
        let (max, window) = door.limit(&self.config);
        (attempts > max && age < window).then(|| RetryAfter(window - age))
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one attempt at each door, in order; refused when any of them
    /// is now over its limit. The doors after the first one that refuses
    /// are not counted: a request already refused (e.g. from a throttled
    /// address) adds no key for the account it named.
    pub async fn hit(&self, keys: &[(Door, &str)]) -> Result<Result<(), RetryAfter>, sqlx::Error> {
        let mut longest: Option<RetryAfter> = None;
        match &self.shared {
            Some(pool) => {
                let mut tx = pool.begin().await?;
                let at = now();
                for &(door, key) in keys {
                    let window = chrono::Duration::from_std(door.limit(&self.config).1)
                        .unwrap_or(chrono::Duration::MAX);
                    let (attempts, started): (i32, DateTime<Utc>) = sqlx::query_as(HIT)
                        .bind(full_key(door, key))
                        .bind(at)
                        .bind(at - window)
                        .fetch_one(&mut *tx)
                        .await?;
                    let age = (at - started).to_std().unwrap_or_default();
                    let wait = self.wait(door, attempts.max(0) as u32, age);
                    longest = longest.max(wait);
                    if wait.is_some() {
                        break;
                    }
                }
                tx.commit().await?;
            }
            None => {
                let mut memory = self.memory();
                let now = Instant::now();
                memory.sweep(now);
                for &(door, key) in keys {
                    let window = door.limit(&self.config).1;
                    let w = memory.count(full_key(door, key), window, now);
                    let wait = self.wait(door, w.attempts, now.duration_since(w.started));
                    longest = longest.max(wait);
                    if wait.is_some() {
                        break;
                    }
                }
            }
        }
        Ok(match longest {
            Some(wait) => Err(wait),
            None => Ok(()),
        })
    }

    /// `Err` when `door` is closed for `key` (at or over its limit), without
    /// counting an attempt.
    pub async fn check(
        &self,
        door: Door,
        key: &str,
    ) -> Result<Result<(), RetryAfter>, sqlx::Error> {
        let (attempts, age) = match &self.shared {
            Some(pool) => {
                let row: Option<(i32, DateTime<Utc>)> = sqlx::query_as(PEEK)
                    .bind(full_key(door, key))
                    .fetch_optional(pool)
                    .await?;
                match row {
                    Some((a, started)) => (
                        a.max(0) as u32,
                        (now() - started).to_std().unwrap_or_default(),
                    ),
                    None => return Ok(Ok(())),
                }
            }
            None => match self.memory().get(&full_key(door, key)) {
                Some(w) if Instant::now() < w.ends => (w.attempts, w.started.elapsed()),
                _ => return Ok(Ok(())),
            },
        };
        // the next attempt would be one more
        Ok(match self.wait(door, attempts.saturating_add(1), age) {
            Some(wait) => Err(wait),
            None => Ok(()),
        })
    }

    /// Forgets every attempt at `door` for `key` (a successful sign-in
    /// clears its account).
    pub async fn clear(&self, door: Door, key: &str) -> Result<(), sqlx::Error> {
        match &self.shared {
            Some(pool) => {
                sqlx::query(CLEAR)
                    .bind(full_key(door, key))
                    .execute(pool)
                    .await?;
            }
            None => {
                self.memory().remove(&full_key(door, key));
            }
        }
        Ok(())
    }

    /// Takes one attempt back (a success does not count against an address).
    pub async fn release(&self, door: Door, key: &str) -> Result<(), sqlx::Error> {
        match &self.shared {
            Some(pool) => {
                sqlx::query(RELEASE)
                    .bind(full_key(door, key))
                    .execute(pool)
                    .await?;
            }
            None => {
                if let Some(w) = self.memory().windows.get_mut(&full_key(door, key)) {
                    w.attempts = w.attempts.saturating_sub(1);
                }
            }
        }
        Ok(())
    }

    /// Drops windows that ended (the shared table; memory sweeps itself).
    pub async fn purge(&self) -> Result<u64, sqlx::Error> {
        let Some(pool) = &self.shared else {
            return Ok(0);
        };
        let longest = self.config.window.max(Duration::from_secs(3600));
        let before = now() - chrono::Duration::from_std(longest).unwrap_or(chrono::Duration::MAX);
        Ok(sqlx::query(PURGE)
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected())
    }

    /// Keys held in memory (for tests).
    pub fn keys_in_memory(&self) -> usize {
        self.memory().windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_throttle(per_account: u32, per_ip: u32) -> Throttle {
        Throttle {
            config: ThrottleConfig {
                window: Duration::from_secs(60),
                max_failures_per_account: per_account,
                max_failures_per_ip: per_ip,
                max_signups_per_ip: 2,
            },
            memory: Mutex::default(),
            shared: None,
        }
    }

    /// Whether `t` lets one more attempt through `door` for `key`.
    async fn hit_ok(t: &Throttle, door: Door, key: &str) -> bool {
        t.hit(&[(door, key)]).await.unwrap().is_ok()
    }

    /// Whether `door` is open for `key` (without counting).
    async fn open(t: &Throttle, door: Door, key: &str) -> bool {
        t.check(door, key).await.unwrap().is_ok()
    }

    #[tokio::test]
    async fn an_account_closes_after_its_limit_whatever_the_address() {
        let t = memory_throttle(3, 100);
        for i in 0..3u8 {
            let ip = address_key(IpAddr::from([10, 0, 0, i]));
            let keys = [
                (Door::SignInAddress, ip.as_str()),
                (Door::SignInAccount, "alice"),
            ];
            assert!(t.hit(&keys).await.unwrap().is_ok());
        }
        let keys = [
            (Door::SignInAddress, "10.0.0.9"),
            (Door::SignInAccount, "alice"),
        ];
        let wait = t.hit(&keys).await.unwrap().unwrap_err();
        assert!(wait.seconds() > 0 && wait.seconds() <= 60);
        assert!(!open(&t, Door::SignInAccount, "alice").await);
        assert!(open(&t, Door::SignInAccount, "bob").await);
    }

    #[tokio::test]
    async fn success_takes_its_attempt_back() {
        let t = memory_throttle(2, 2);
        for _ in 0..5 {
            let keys = [
                (Door::SignInAddress, "192.0.2.1"),
                (Door::SignInAccount, "alice"),
            ];
            assert!(t.hit(&keys).await.unwrap().is_ok());
            t.clear(Door::SignInAccount, "alice").await.unwrap();
            t.release(Door::SignInAddress, "192.0.2.1").await.unwrap();
        }
        assert!(open(&t, Door::SignInAddress, "192.0.2.1").await);
    }

    #[tokio::test]
    async fn doors_are_separate() {
        let t = memory_throttle(1, 1);
        assert!(hit_ok(&t, Door::SignUpAddress, "192.0.2.1").await);
        assert!(hit_ok(&t, Door::SignUpAddress, "192.0.2.1").await);
        assert!(!hit_ok(&t, Door::SignUpAddress, "192.0.2.1").await);
        assert!(open(&t, Door::SignInAddress, "192.0.2.1").await);
    }

    #[tokio::test]
    async fn memory_stays_bounded_whatever_is_sent() {
        let t = memory_throttle(5, 5);
        for i in 0..(MAX_KEYS + 5_000) {
            let name = format!("user{i}");
            let _ = t
                .hit(&[(Door::SignInAccount, name.as_str())])
                .await
                .unwrap();
        }
        assert!(t.keys_in_memory() <= MAX_KEYS);
    }

    #[tokio::test]
    async fn a_refused_request_adds_no_keys() {
        let t = memory_throttle(5, 3);
        let flood = |i: usize| format!("random-{i}");
        for i in 0..3 {
            let name = flood(i);
            let keys = [
                (Door::SignInAddress, "203.0.113.9"),
                (Door::SignInAccount, name.as_str()),
            ];
            assert!(t.hit(&keys).await.unwrap().is_ok());
        }
        let before = t.keys_in_memory();
        for i in 3..20_003 {
            let name = flood(i);
            let keys = [
                (Door::SignInAddress, "203.0.113.9"),
                (Door::SignInAccount, name.as_str()),
            ];
            assert!(t.hit(&keys).await.unwrap().is_err());
        }
        assert_eq!(
            t.keys_in_memory(),
            before,
            "the throttled address added keys"
        );
    }

    #[tokio::test]
    async fn eviction_drops_ended_windows_before_open_ones() {
        // sign-in windows last 300 ms here; sign-up windows an hour
        let t = Throttle {
            config: ThrottleConfig {
                window: Duration::from_millis(300),
                max_failures_per_account: 5,
                max_failures_per_ip: 5,
                max_signups_per_ip: 2,
            },
            memory: Mutex::default(),
            shared: None,
        };
        // ten victims whose sign-up door is closed for the hour
        let victims: Vec<String> = (0..10).map(|i| format!("192.0.2.{i}")).collect();
        for v in &victims {
            for _ in 0..3 {
                let _ = t.hit(&[(Door::SignUpAddress, v.as_str())]).await.unwrap();
            }
            assert!(!open(&t, Door::SignUpAddress, v).await);
        }
        // a flood fills memory with short windows, which then end
        for i in 0..MAX_KEYS {
            let name = format!("a{i}");
            let _ = t
                .hit(&[(Door::SignInAccount, name.as_str())])
                .await
                .unwrap();
        }
        assert!(t.keys_in_memory() <= MAX_KEYS);
        tokio::time::sleep(Duration::from_millis(400)).await;
        // a second flood: the ended windows make room, the victims stay
        for i in 0..MAX_KEYS {
            let name = format!("b{i}");
            let _ = t
                .hit(&[(Door::SignInAccount, name.as_str())])
                .await
                .unwrap();
        }
        assert!(t.keys_in_memory() <= MAX_KEYS);
        for v in &victims {
            assert!(!open(&t, Door::SignUpAddress, v).await, "{v} was dropped");
        }
    }

    #[test]
    fn keys_are_bounded_and_group_ipv6_by_64() {
        assert_eq!(account_key("  ÄLICE "), "älice");
        assert_eq!(account_key(&"x".repeat(100_000)).len(), 64);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7");
    }
}
