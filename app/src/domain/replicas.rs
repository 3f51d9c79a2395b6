//! Token verification from streaming replicas (`--database-replica-url`).
//!
//! Only the verification lookup (the token, its owner, its ancestors) may
//! read a replica; every write and the change feed stay on the primary.
//! The rule that keeps a replica from accepting what the primary revoked:
//!
//! - A monitor samples the primary's WAL position (`pg_current_wal_lsn()`)
//!   every [`TICK`], noting when each sample's query was sent, and each
//!   replica's replay position (`pg_last_wal_replay_lsn()`). A replica is
//!   *fresh as of* the newest sample its replay has passed: it holds every
//!   transaction committed before that sample was taken. Its lag is how
//!   long ago that was.
//! - A replica is used only while it answers, is in recovery, and its lag
//!   is at most `--replica-max-lag-ms`; otherwise checks go to the primary.
//! - Every change the feed reports (a token, a user, everything) is noted
//!   with the time it arrived. A notification arrives after its commit, so
//!   a replica fresh as of a later moment holds the change; until the
//!   replica answering a check is, an answer touching a noted token, user
//!   or ancestor is thrown away and the primary is asked instead. Notes
//!   older than the lag bound are dropped: no replica within the bound can
//!   be behind them.
//! - While the change feed is down nothing is read from replicas (a missed
//!   notification would go unnoticed), and its return counts as a change
//!   of everything.
//!
//! Clocks: every time here is this process's monotonic clock; nothing is
//! compared across machines.

use super::db::Db;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::{
    collections::{HashMap, VecDeque},
    str::FromStr as _,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, Weak,
    },
    time::{Duration, Instant},
};

/// How often the primary's and the replicas' positions are read.
pub const TICK: Duration = Duration::from_millis(100);

/// How long a position query may take before its server counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// How long a verification lookup on a replica may take before the
/// primary is asked instead.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// The primary's WAL position, as a number of bytes.
const PRIMARY_POSITION: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint";

/// A replica's state: whether it is a standby, and how far it has replayed.
const REPLICA_POSITION: &str =
    "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint";

/// One streaming replica.
pub struct Replica {
    /// How it is named in metrics and logs: `host:port/database`, never
    /// the password.
    pub name: String,
    /// Its pool (connected lazily: a replica down at start-up does not stop it).
    pub db: Db,
    up: AtomicBool,
    /// Process milliseconds (see [`Replicas::now_ms`]) it is fresh as of;
    /// 0: not known.
    fresh_ms: AtomicU64,
    /// Whether "not a standby" was already logged.
    warned: AtomicBool,
}

impl Replica {
    /// True while its last position read succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// A lookup on it failed: skip it until the monitor reads it again.
    pub fn failed(&self) {
        self.up.store(false, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Notes {
    tokens: HashMap<i64, u64>,
    users: HashMap<i64, u64>,
}

/// The replicas, their freshness, and the changes replicas may not have yet.
pub struct Replicas {
    replicas: Vec<Replica>,
    max_lag_ms: u64,
    base: Instant,
    next: AtomicUsize,
    notes: Mutex<Notes>,
    /// When the newest note was made (0: never): a replica fresh past it
    /// needs no look at the notes.
    newest_note: AtomicU64,
    /// When everything last changed (policies, a reconnected feed).
    everything: AtomicU64,
}

/// A replica chosen for one lookup, and how fresh it was when chosen.
#[derive(Clone, Copy)]
pub struct Chosen<'a> {
    /// The replica.
    pub replica: &'a Replica,
    fresh_ms: u64,
}

impl Replicas {
    /// Replicas at `urls` (Postgres URLs), used while their lag is at most
    /// `max_lag`. A URL that cannot be read is a sentence naming its place
    /// in the list (never the URL: it may hold a password).
    pub fn new(urls: &[SecretString], max_lag: Duration) -> Result<Replicas, String> {
        let mut replicas = Vec::with_capacity(urls.len());
        for (i, url) in urls.iter().enumerate() {
            let options = Self::options(i, url)?;
            let name = format!(
                "{}:{}/{}",
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or("")
            );
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(LOOKUP_TIMEOUT)
                .connect_lazy_with(options);
            replicas.push(Replica {
                name,
                db: Db::Postgres(pool.into()),
                up: AtomicBool::new(false),
                fresh_ms: AtomicU64::new(0),
                warned: AtomicBool::new(false),
            });
        }
        Ok(Replicas {
            replicas,
            max_lag_ms: u64::try_from(max_lag.as_millis()).unwrap_or(u64::MAX),
            base: Instant::now(),
            next: AtomicUsize::new(0),
            notes: Mutex::default(),
            newest_note: AtomicU64::new(0),
            everything: AtomicU64::new(0),
        })
    }

    /// The connection options of the `i`th (from 0) replica URL; a
    /// sentence naming its place when it cannot be read.
    pub fn options(i: usize, url: &SecretString) -> Result<PgConnectOptions, String> {
        let url = url.expose_secret();
        let which = i + 1;
        if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Err(format!(
                "--database-replica-url #{which} must start with postgres: or postgresql:"
            ));
        }
        PgConnectOptions::from_str(url)
            .map_err(|e| format!("--database-replica-url #{which} cannot be read: {e}"))
    }

    /// The replicas, in the order they were given.
    pub fn all(&self) -> &[Replica] {
        &self.replicas
    }

    /// Milliseconds since this set was made, plus one (0 means "never").
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// How far behind `replica` is now (`None`: not known).
    pub fn lag(&self, replica: &Replica) -> Option<Duration> {
        let fresh = replica.fresh_ms.load(Ordering::Relaxed);
        (fresh > 0).then(|| Duration::from_millis(self.now_ms().saturating_sub(fresh)))
    }

    /// A replica to read from now, taking turns among those that answer
    /// and are within the lag bound; `None`: ask the primary.
    pub fn choose(&self) -> Option<Chosen<'_>> {
        let n = self.replicas.len();
        if n == 0 {
            return None;
        }
        let now = self.now_ms();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| {
            let replica = &self.replicas[(start + i) % n];
            let fresh_ms = replica.fresh_ms.load(Ordering::Relaxed);
            let usable =
                replica.is_up() && fresh_ms > 0 && now.saturating_sub(fresh_ms) <= self.max_lag_ms;
            usable.then_some(Chosen { replica, fresh_ms })
        })
    }

    /// True when an answer `chosen` gave about `token` of `user` (derived
    /// from `ancestors`) may predate a change this process has heard of:
    /// the primary must be asked.
    pub fn behind(&self, chosen: Chosen<'_>, user: i64, token: i64, ancestors: &[i64]) -> bool {
        let fresh = chosen.fresh_ms;
        if self.newest_note.load(Ordering::SeqCst) < fresh {
            return false;
        }
        if self.everything.load(Ordering::SeqCst) >= fresh {
            return true;
        }
        let notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        let noted = |at: Option<&u64>| at.is_some_and(|&at| at >= fresh);
        noted(notes.users.get(&user))
            || std::iter::once(&token)
                .chain(ancestors)
                .any(|t| noted(notes.tokens.get(t)))
    }

    /// The feed reported a change of one token (`Some`) or of every token
    /// of `user` (`None`).
    pub fn note(&self, user: i64, token: Option<i64>) {
        if self.replicas.is_empty() {
            return;
        }
        let now = self.now_ms();
        {
            let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
            match token {
                Some(t) => notes.tokens.insert(t, now),
                None => notes.users.insert(user, now),
            };
        }
        self.newest_note.fetch_max(now, Ordering::SeqCst);
    }

    /// Everything may have changed (the policies, or the feed came back
    /// after missing notifications).
    pub fn note_everything(&self) {
        let now = self.now_ms();
        self.everything.fetch_max(now, Ordering::SeqCst);
        self.newest_note.fetch_max(now, Ordering::SeqCst);
    }

    /// Drops notes no replica within the lag bound can be behind.
    fn prune(&self) {
        let Some(cutoff) = self
            .now_ms()
            .checked_sub(self.max_lag_ms.saturating_add(TICK.as_millis() as u64))
        else {
            return;
        };
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        notes.tokens.retain(|_, at| *at >= cutoff);
        notes.users.retain(|_, at| *at >= cutoff);
    }

    /// Reads the primary's and every replica's position each [`TICK`]
    /// until `core` is gone, recording lag and health in its metrics.
    pub fn spawn_monitor(self: &Arc<Self>, primary: super::db::Pg, core: Weak<super::Core>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            // (when the query was sent, the primary's position)
            let mut samples: VecDeque<(u64, i64)> = VecDeque::new();
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (Some(me), Some(core)) = (me.upgrade(), core.upgrade()) else {
                    return;
                };
                if primary.is_closed() {
                    return;
                }
                let sent = me.now_ms();
                let position = tokio::time::timeout(
                    PROBE_TIMEOUT,
                    sqlx::query_scalar::<_, i64>(PRIMARY_POSITION).fetch_one(&primary),
                )
                .await;
                if let Ok(Ok(lsn)) = position {
                    samples.push_back((sent, lsn));
                }
                let keep = me.max_lag_ms.saturating_mul(2).max(5_000);
                while samples
                    .front()
                    .is_some_and(|(at, _)| sent.saturating_sub(*at) > keep)
                    && samples.len() > 1
                {
                    samples.pop_front();
                }
                let reads = me.replicas.iter().map(|r| me.probe(r, &samples));
                let answers = futures::future::join_all(reads).await;
                for (replica, up) in me.replicas.iter().zip(answers) {
                    core.metrics
                        .replica(&replica.name, up, up.then(|| me.lag(replica)).flatten());
                }
                me.prune();
            }
        });
    }

    /// Reads `replica`'s position and works out how fresh it is from the
    /// primary's `samples`; true when it answered as a standby.
    async fn probe(&self, replica: &Replica, samples: &VecDeque<(u64, i64)>) -> bool {
        let Db::Postgres(pool) = &replica.db else {
            return false;
        };
        let read = tokio::time::timeout(
            PROBE_TIMEOUT,
            sqlx::query_as::<_, (bool, Option<i64>)>(REPLICA_POSITION).fetch_one(pool),
        )
        .await;
        let replayed = match read {
            Ok(Ok((true, Some(replayed)))) => replayed,
            Ok(Ok(_)) => {
                if !replica.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        replica = %replica.name,
                        "--database-replica-url names a server that is not a standby; it is not used"
                    );
                }
                replica.failed();
                return false;
            }
            Ok(Err(e)) => {
                if replica.is_up() {
                    tracing::warn!(replica = %replica.name, error = %e, "replica: cannot read its position; checks go to the primary");
                }
                replica.failed();
                return false;
            }
            Err(_) => {
                if replica.is_up() {
                    tracing::warn!(replica = %replica.name, "replica: no answer; checks go to the primary");
                }
                replica.failed();
                return false;
            }
        };
        // the newest sample its replay has passed
        if let Some((at, _)) = samples.iter().rev().find(|(_, lsn)| *lsn <= replayed) {
            replica.fresh_ms.fetch_max(*at, Ordering::SeqCst);
        }
        if !replica.is_up() {
            tracing::info!(replica = %replica.name, "replica: answering; used again once within the lag bound");
        }
        replica.up.store(true, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Replicas {
        let urls = [
            SecretString::from("postgres://u:secret@127.0.0.1:1/a"),
            SecretString::from("postgres://u:secret@127.0.0.1:2/b"),
        ];
        Replicas::new(&urls, Duration::from_millis(1000)).expect("replicas")
    }

    fn fresh(r: &Replica, at: u64) {
        r.up.store(true, Ordering::SeqCst);
        r.fresh_ms.store(at, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn names_never_show_the_password_and_bad_urls_are_sentences() {
        let r = two();
        assert_eq!(r.all()[0].name, "127.0.0.1:1/a");
        assert!(!r.all().iter().any(|r| r.name.contains("secret")));
        let bad = Replicas::new(
            &[SecretString::from("mysql://u:secret@h/db")],
            Duration::from_secs(1),
        )
        .err()
        .expect("refused");
        assert!(bad.contains("#1") && !bad.contains("secret"), "{bad}");
    }

    #[tokio::test]
    async fn only_answering_replicas_within_the_lag_bound_are_chosen() {
        let r = two();
        assert!(r.choose().is_none(), "nothing known yet: the primary");
        let now = r.now_ms();
        fresh(&r.all()[0], now);
        for _ in 0..4 {
            assert_eq!(r.choose().expect("one").replica.name, "127.0.0.1:1/a");
        }
        fresh(&r.all()[1], now);
        let names: std::collections::HashSet<_> = (0..4)
            .map(|_| r.choose().expect("one").replica.name.clone())
            .collect();
        assert_eq!(names.len(), 2, "turns are taken");
        // #0 is far behind when the clock has moved past the bound
        let far = Replicas {
            base: Instant::now() - Duration::from_secs(5),
            ..two()
        };
        fresh(&far.all()[0], 1);
        assert!(far.choose().is_none(), "a replica 5 s behind is skipped");
    }

    #[tokio::test]
    async fn a_change_heard_after_a_replica_was_fresh_sends_its_tokens_to_the_primary() {
        let r = two();
        let before = r.now_ms();
        fresh(&r.all()[0], before);
        std::thread::sleep(Duration::from_millis(3));
        r.note(7, Some(42));
        let chosen = r.choose().expect("chosen");
        assert!(r.behind(chosen, 7, 42, &[]), "the token itself");
        assert!(r.behind(chosen, 8, 99, &[42]), "a token derived from it");
        assert!(!r.behind(chosen, 7, 43, &[]), "another token of the user");
        r.note(9, None);
        assert!(r.behind(chosen, 9, 1, &[]), "every token of a user");
        // once the replica is fresh past the notes, it answers again
        std::thread::sleep(Duration::from_millis(3));
        fresh(&r.all()[0], r.now_ms());
        let chosen = r.choose().expect("chosen");
        assert!(!r.behind(chosen, 7, 42, &[]) && !r.behind(chosen, 9, 1, &[]));
        r.note_everything();
        assert!(r.behind(chosen, 1, 1, &[]), "everything");
    }
}
