//! "Last used" for tokens: time, client address and user agent.
//!
//! A request only notes its use in memory, and at most once a second per
//! token: a lock-free stamp table answers "already noted this second" with
//! one atomic load, so a busy token costs no lock and no allocation. A
//! background flush, once a second, writes every token whose row has not
//! been written in the last minute — in one statement on Postgres, in one
//! transaction on SQLite — so a token's row is written at most once a
//! minute however many requests it makes, and a token used for the first time shows up as
//! used within about a second. Whatever is still pending at shutdown is
//! written then.

use super::db::Db;
use super::tokens::sql;
use chrono::{DateTime, SubsecRound, Utc};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// A token's row is written at most this often.
pub const WRITE_INTERVAL: Duration = Duration::from_secs(60);
/// How often pending uses are looked at (and the longest a first use waits).
pub const FLUSH_TICK: Duration = Duration::from_secs(1);
const AGENT_MAX: usize = 256;
/// Rows per UPDATE statement when flushing.
const BATCH: usize = 1_000;
/// Slots of the "noted this second" table (tokens sharing a slot only cost
/// an extra trip through the lock).
const STAMPS: usize = 4_096;

/// One noted use of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    /// When the token was used.
    pub at: DateTime<Utc>,
    /// The client address it was used from.
    pub ip: IpAddr,
    /// The client's user agent (at most `AGENT_MAX` characters).
    pub agent: String,
}

/// What is noted per key until written, and when each key was last
/// written: a key is written at most once per [`WRITE_INTERVAL`] (every
/// pending one when `all`). The three recorders below keep one each.
struct Debounced<K, V> {
    last_written: HashMap<K, Instant>,
    pending: HashMap<K, V>,
}

impl<K, V> Default for Debounced<K, V> {
    fn default() -> Self {
        Self {
            last_written: HashMap::new(),
            pending: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, V> Debounced<K, V> {
    /// Takes the pending values that may be written now, marking their keys
    /// written; forgets keys idle for a while.
    fn take_due(&mut self, all: bool) -> Vec<(K, V)> {
        let now = Instant::now();
        let last_written = &mut self.last_written;
        let (due, waiting): (HashMap<K, V>, HashMap<K, V>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(key, _)| {
                all || last_written
                    .get(key)
                    .is_none_or(|t| now.duration_since(*t) >= WRITE_INTERVAL)
            });
        self.pending = waiting;
        for key in due.keys() {
            last_written.insert(key.clone(), now);
        }
        // keys idle for a while need no memory of their last write
        last_written.retain(|_, t| now.duration_since(*t) < WRITE_INTERVAL * 2);
        due.into_iter().collect()
    }
}

type State = Debounced<i64, Use>;

/// Token uses noted in memory, waiting for the flush to write them.
pub struct UsageRecorder {
    state: Mutex<State>,
    /// Per slot: `token_id << 24 | unix seconds mod 2^24` of the last note.
    stamps: Box<[AtomicU64]>,
}

impl Default for UsageRecorder {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            stamps: (0..STAMPS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// The first `AGENT_MAX` characters of `agent`.
fn clip(agent: &str) -> &str {
    match agent.char_indices().nth(AGENT_MAX) {
        Some((end, _)) => &agent[..end],
        None => agent,
    }
}

impl UsageRecorder {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a use. Within one second only the first use of a token is
    /// looked at; across seconds the newest details win.
    pub fn note(&self, token_id: i64, ip: IpAddr, agent: &str) {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let stamp = ((token_id as u64) << 24) | (secs & 0xFF_FFFF);
        let slot = &self.stamps[token_id.rem_euclid(STAMPS as i64) as usize];
        if slot.load(Ordering::Relaxed) == stamp {
            return;
        }
        slot.store(stamp, Ordering::Relaxed);
        let at = Utc::now();
        let agent = clip(agent);
        let mut s = self.state();
        match s.pending.get_mut(&token_id) {
            Some(u) => {
                u.at = at;
                u.ip = ip;
                if u.agent != agent {
                    agent.clone_into(&mut u.agent);
                }
            }
            None => {
                s.pending.insert(
                    token_id,
                    Use {
                        at,
                        ip,
                        agent: agent.to_owned(),
                    },
                );
            }
        }
    }

    /// Drops a pending use of `token_id` (its secret was just replaced: a use
    /// of the old secret must not show on the new one).
    pub fn forget(&self, token_id: i64) {
        self.state().pending.remove(&token_id);
    }

    /// Pending uses that may be written now (marked as written): those of
    /// tokens not written in the last minute, or every one when `all`.
    pub fn take_due(&self, all: bool) -> Vec<(i64, Use)> {
        self.state().take_due(all)
    }
}

/// Writes `uses` (as stored: whole seconds), in batches of one statement. A
/// use from before the token's current secret was made (a regenerate came
/// in between) is not written.
pub async fn write(db: &Db, uses: &[(i64, Use)]) -> Result<(), sqlx::Error> {
    for chunk in uses.chunks(BATCH) {
        match db {
            Db::Postgres(pool) => {
                let mut ids = Vec::with_capacity(chunk.len());
                let mut ats = Vec::with_capacity(chunk.len());
                let mut ips = Vec::with_capacity(chunk.len());
                let mut agents = Vec::with_capacity(chunk.len());
                for (id, u) in chunk {
                    ids.push(*id);
                    ats.push(u.at.trunc_subsecs(0));
                    ips.push(u.ip.to_string());
                    agents.push(u.agent.as_str());
                }
                sqlx::query(sql::RECORD_USES_POSTGRES)
                    .bind(&ids)
                    .bind(&ats)
                    .bind(&ips)
                    .bind(&agents)
                    .execute(pool)
                    .await?;
            }
            Db::Sqlite(pool) => {
                // one transaction (one sync) for the whole batch
                let mut tx = pool.begin().await?;
                for (id, u) in chunk {
                    sqlx::query(sql::RECORD_USE_SQLITE)
                        .bind(u.at.trunc_subsecs(0))
                        .bind(u.ip.to_string())
                        .bind(&u.agent)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
    }
    Ok(())
}

/// Presentations of tokens that have ended (expired or revoked), counted
/// in memory and written at most once a minute per token: a CI job still
/// presenting a dead token costs one row write a minute, however often it
/// retries.
#[derive(Default)]
pub struct PresentedRecorder {
    state: Mutex<Presented>,
}

type Presented = Debounced<i64, (u64, Use)>;

impl PresentedRecorder {
    fn state(&self) -> std::sync::MutexGuard<'_, Presented> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one presentation of the ended token `token_id`.
    pub fn note(&self, token_id: i64, ip: IpAddr, agent: &str) {
        let at = Utc::now();
        let agent = clip(agent);
        let mut s = self.state();
        let entry = s.pending.entry(token_id).or_insert_with(|| {
            (
                0,
                Use {
                    at,
                    ip,
                    agent: agent.to_owned(),
                },
            )
        });
        entry.0 += 1;
        entry.1.at = at;
        entry.1.ip = ip;
        if entry.1.agent != agent {
            agent.clone_into(&mut entry.1.agent);
        }
    }

    /// Counts that may be written now (as [`UsageRecorder::take_due`]).
    pub fn take_due(&self, all: bool) -> Vec<(i64, u64, Use)> {
        let due = self.state().take_due(all);
        due.into_iter().map(|(id, (n, u))| (id, n, u)).collect()
    }
}

/// Adds counted presentations to their tokens' rows.
pub async fn write_presented(db: &Db, counts: &[(i64, u64, Use)]) -> Result<(), sqlx::Error> {
    crate::domain::db::on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        for (id, n, u) in counts {
            sqlx::query(sql::RECORD_PRESENTED)
                .bind(id)
                .bind(u.at.trunc_subsecs(0))
                .bind(u.ip.to_string())
                .bind(&u.agent)
                .bind(i64::try_from(*n).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }.await)
}

/// Rows of `token_scope_uses` kept per token at most.
pub const MAX_SCOPE_ROWS: i64 = 100;
/// (token, scope, resource) keys waiting in memory at most.
const MAX_PENDING_SCOPES: usize = 100_000;
/// Longest scope and resource recorded (longer ones are not recorded).
const SCOPE_TEXT_MAX: usize = 128;

type ScopeKey = (i64, String, String);

/// Keys noted since the last flush (the only map `note` touches).
#[derive(Default)]
struct ScopePending(HashMap<ScopeKey, DateTime<Utc>>);

/// Which scope (and resource) each successful use of a token exercised,
/// noted like last use: in memory, at most once a second per (token,
/// scope, resource) past one atomic load, written by the flush at most
/// once a minute per row. The flush swaps the pending map out, so a note
/// never waits for a flush's work.
pub struct ScopeUseRecorder {
    pending: Mutex<ScopePending>,
    /// Touched by the flush only: when each key was last written, and
    /// what was noted but not due yet.
    flusher: Mutex<Debounced<ScopeKey, DateTime<Utc>>>,
    stamps: Box<[AtomicU64]>,
}

impl Default for ScopeUseRecorder {
    fn default() -> Self {
        Self {
            pending: Mutex::default(),
            flusher: Mutex::default(),
            stamps: (0..STAMPS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl ScopeUseRecorder {
    /// Notes that token `token_id` was used with `scope` on `resource`.
    pub fn note(&self, token_id: i64, scope: &str, resource: Option<&str>) {
        let resource = resource.unwrap_or("");
        if scope.len() > SCOPE_TEXT_MAX || resource.len() > SCOPE_TEXT_MAX {
            return;
        }
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // FNV-1a: cheap, and a collision only costs a trip through the lock
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in token_id
            .to_le_bytes()
            .iter()
            .chain(scope.as_bytes())
            .chain(&[0xff])
            .chain(resource.as_bytes())
        {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        let stamp = (hash & !0xFF_FFFF) | (secs & 0xFF_FFFF);
        let slot = &self.stamps[(hash % STAMPS as u64) as usize];
        if slot.load(Ordering::Relaxed) == stamp {
            return;
        }
        slot.store(stamp, Ordering::Relaxed);
        let key = (token_id, scope.to_owned(), resource.to_owned());
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.0.len() >= MAX_PENDING_SCOPES && !p.0.contains_key(&key) {
            return;
        }
        p.0.insert(key, Utc::now());
    }

    /// Uses that may be written now (as [`UsageRecorder::take_due`]).
    pub fn take_due(&self, all: bool) -> Vec<(i64, String, String, DateTime<Utc>)> {
        let fresh = std::mem::take(&mut self.pending.lock().unwrap_or_else(|e| e.into_inner()).0);
        let mut f = self.flusher.lock().unwrap_or_else(|e| e.into_inner());
        f.pending.extend(fresh);
        f.take_due(all)
            .into_iter()
            .map(|((id, scope, resource), at)| (id, scope, resource, at))
            .collect()
    }
}

/// Records scope uses: a new row per (token, scope, resource) while the
/// token has fewer than [`MAX_SCOPE_ROWS`], else the last use of a known
/// one. Postgres: one statement per 1,000; SQLite: one transaction.
pub async fn write_scope_uses(
    db: &Db,
    uses: &[(i64, String, String, DateTime<Utc>)],
) -> Result<(), sqlx::Error> {
    // (Postgres: a statement sees the rows as they were before it, so the
    // batch's own new rows count through their rank, `v.n`.)
    const KEEP: &str = "AND ((SELECT COUNT(*) FROM token_scope_uses u WHERE u.token_id = v.id) + v.n <= $5 \
         OR EXISTS (SELECT 1 FROM token_scope_uses u WHERE u.token_id = v.id AND u.scope = v.scope AND u.resource = v.resource)) \
         ON CONFLICT (token_id, scope, resource) DO UPDATE SET last_used_at = excluded.last_used_at";
    match db {
        Db::Postgres(pool) => {
            for chunk in uses.chunks(BATCH) {
                let ids: Vec<i64> = chunk.iter().map(|u| u.0).collect();
                let scopes: Vec<&str> = chunk.iter().map(|u| u.1.as_str()).collect();
                let resources: Vec<&str> = chunk.iter().map(|u| u.2.as_str()).collect();
                let ats: Vec<DateTime<Utc>> = chunk.iter().map(|u| u.3.trunc_subsecs(0)).collect();
                let sql = format!(
                    "INSERT INTO token_scope_uses (token_id, scope, resource, first_used_at, last_used_at) \
                     SELECT v.id, v.scope, v.resource, v.at, v.at FROM ( \
                       SELECT w.*, ROW_NUMBER() OVER (PARTITION BY w.id ORDER BY w.scope, w.resource) AS n \
                       FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS w(id, scope, resource, at)) v \
                     WHERE EXISTS (SELECT 1 FROM tokens t WHERE t.id = v.id) {KEEP}"
                );
                sqlx::query(&sql)
                    .bind(&ids)
                    .bind(&scopes)
                    .bind(&resources)
                    .bind(&ats)
                    .bind(MAX_SCOPE_ROWS)
                    .execute(pool)
                    .await?;
            }
            Ok(())
        }
        Db::Sqlite(pool) => {
            let sql = format!(
                "INSERT INTO token_scope_uses (token_id, scope, resource, first_used_at, last_used_at) \
                 SELECT v.id, v.scope, v.resource, v.at, v.at FROM (SELECT $1 AS id, $2 AS scope, $3 AS resource, $4 AS at, 1 AS n) v \
                 WHERE EXISTS (SELECT 1 FROM tokens t WHERE t.id = v.id) {KEEP}"
            );
            let mut tx = pool.begin().await?;
            for (id, scope, resource, at) in uses {
                sqlx::query(&sql)
                    .bind(id)
                    .bind(scope)
                    .bind(resource)
                    .bind(at.trunc_subsecs(0))
                    .bind(MAX_SCOPE_ROWS)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_token_is_written_at_most_once_a_minute_with_its_newest_details() {
        let r = UsageRecorder::default();
        r.note(1, ip(1), "git/2.47");
        let first = r.take_due(false);
        assert_eq!(first.len(), 1, "a first use is written at the next flush");
        assert_eq!(first[0].0, 1);
        assert_eq!(first[0].1.ip, ip(1));
        assert_eq!(first[0].1.agent, "git/2.47");
        std::thread::sleep(Duration::from_millis(1100));
        for _ in 0..1000 {
            r.note(1, ip(3), "curl/8");
        }
        assert!(r.take_due(false).is_empty(), "the minute is not up yet");
        r.note(2, ip(4), "x");
        let other = r.take_due(false);
        assert_eq!(
            other.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![2],
            "other tokens are independent"
        );
        let at_shutdown = r.take_due(true);
        assert_eq!(at_shutdown.len(), 1, "shutdown writes what is pending");
        assert_eq!(at_shutdown[0].1.ip, ip(3), "a later second's details win");
        assert_eq!(at_shutdown[0].1.agent, "curl/8");
        assert!(r.take_due(true).is_empty());
    }

    #[test]
    fn long_agents_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(300);
        assert_eq!(clip(&long).chars().count(), AGENT_MAX);
        assert_eq!(clip("git/2.47"), "git/2.47");
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn scope_uses_are_noted_once_per_key_and_written_once_a_minute() {
        let r = ScopeUseRecorder::default();
        for _ in 0..1000 {
            r.note(1, "code:read", Some("acme/api"));
        }
        r.note(1, "code:write", Some("acme/api"));
        r.note(1, "code:read", None);
        r.note(2, "code:read", Some("acme/api"));
        r.note(3, "code:read", Some(&"x".repeat(500)));
        let mut due = r.take_due(false);
        due.sort();
        let keys: Vec<_> = due
            .iter()
            .map(|(t, s, res, _)| (*t, s.as_str(), res.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                (1, "code:read", ""),
                (1, "code:read", "acme/api"),
                (1, "code:write", "acme/api"),
                (2, "code:read", "acme/api")
            ]
        );
        std::thread::sleep(Duration::from_millis(1100));
        r.note(1, "code:read", Some("acme/api"));
        assert!(
            r.take_due(false).is_empty(),
            "written less than a minute ago"
        );
        assert_eq!(r.take_due(true).len(), 1, "shutdown writes it");
    }
}
