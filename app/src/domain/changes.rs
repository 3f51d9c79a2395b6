//! The change feeds: how every instance hears that a token, a user or the
//! policies changed, and drops what it cached. Postgres: `LISTEN` on
//! `tessera_tokens`, with probes that prove the feed alive. SQLite: the
//! `changes` table (filled by triggers), polled (another process — the
//! CLI — may change the file).

use chrono::DateTime;
use std::time::{Duration, SystemTime};

/// A row of SQLite's `changes`: sequence, user, token, when.
type ChangeRow = (i64, Option<i64>, Option<i64>, String);

/// How often the change feed is probed when nothing arrives.
const FEED_PROBE: Duration = Duration::from_millis(400);

/// What a change notification says changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// One token (owner, token id).
    Token(i64, i64),
    /// Every token of a user (disabled, enabled, made or unmade admin).
    User(i64),
    /// The policies (or something unreadable: everything is dropped).
    Everything,
}

impl Change {
    /// Reads a notification payload: `"<user>:<token>"`, `"<user>:*"`,
    /// `"policy"`, each possibly followed by `@<ms since the epoch>` (when
    /// the change was made; see [`stamp`]).
    pub fn parse(payload: &str) -> Change {
        let payload = payload.split_once('@').map_or(payload, |(p, _)| p);
        let mut parts = payload.splitn(2, ':');
        let user = parts.next().and_then(|u| u.parse::<i64>().ok());
        match (user, parts.next()) {
            (Some(u), Some("*")) => Change::User(u),
            (Some(u), Some(t)) => match t.parse::<i64>() {
                Ok(t) => Change::Token(u, t),
                Err(_) => Change::Everything,
            },
            _ => Change::Everything,
        }
    }

    /// A row of SQLite's `changes` table.
    pub fn of_row(user_id: Option<i64>, token_id: Option<i64>) -> Change {
        match (user_id, token_id) {
            (Some(u), Some(t)) => Change::Token(u, t),
            (Some(u), None) => Change::User(u),
            _ => Change::Everything,
        }
    }
}

/// When a notification payload says its change was made (`…@<ms>`).
pub fn stamp(payload: &str) -> Option<SystemTime> {
    let (_, ms) = payload.split_once('@')?;
    let ms: u64 = ms.parse().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// How long ago `at` was (zero when the clocks disagree the other way).
fn lag_since(at: SystemTime) -> Duration {
    SystemTime::now().duration_since(at).unwrap_or_default()
}

/// How often SQLite's change table is read (other processes on the file:
/// the admin CLI, a second instance).
pub const CHANGES_POLL: Duration = Duration::from_millis(200);

/// Follows SQLite's `changes` table (filled by triggers, so a change made
/// by any process on the file appears): what changed is evicted, as with
/// Postgres' feed. A failing read makes the cache untrusted until reads
/// succeed again.
pub fn follow_sqlite_changes(pool: sqlx::SqlitePool, core: std::sync::Weak<super::Core>) {
    if let Some(c) = core.upgrade() {
        c.verifier.require_feed();
    }
    tokio::spawn(async move {
        let mut last: Option<i64> = None;
        let mut tick = tokio::time::interval(CHANGES_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            let Some(c) = core.upgrade() else { return };
            let Some(from) = last else {
                match sqlx::query_as::<_, (i64,)>("SELECT COALESCE(MAX(seq), 0) FROM changes")
                    .fetch_one(&pool)
                    .await
                {
                    Ok((seq,)) => {
                        last = Some(seq);
                        c.verifier.evict_all();
                        c.verifier.feed_alive();
                    }
                    Err(_) if pool.is_closed() => return,
                    Err(e) => tracing::warn!(error = %e, "change table: cannot read"),
                }
                continue;
            };
            let rows: Result<Vec<ChangeRow>, _> = sqlx::query_as(
                "SELECT seq, user_id, token_id, at FROM changes WHERE seq > $1 ORDER BY seq LIMIT 1000",
            )
            .bind(from)
            .fetch_all(&pool)
            .await;
            match rows {
                Ok(rows) => {
                    for (seq, user, token, at) in rows {
                        last = Some(seq);
                        c.apply_change(Change::of_row(user, token)).await;
                        if let Ok(at) = DateTime::parse_from_rfc3339(&at) {
                            c.metrics.feed_change(lag_since(at.into()));
                        }
                    }
                    c.verifier.feed_alive();
                }
                Err(_) if pool.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "change table: cannot read");
                    c.feed_lost();
                }
            }
        }
    });
}

/// The heartbeat query of the change feed (recognisable in
/// `pg_stat_activity`).
pub const FEED_PROBE_SQL: &str = "SELECT 'tessera-change-feed'";

/// Listens to Postgres' `tessera_tokens` channel (fed by a trigger on the
/// tokens table, in the changing transaction) and evicts what changed.
///
/// The feed must prove itself alive: when nothing arrives for a while it
/// sends a probe on the listening connection. A connection that dropped, or
/// stalled (half-open), fails the probe within [`FEED_GRACE`](super::verify::FEED_GRACE); until the
/// feed is back, nothing cached is trusted (every token is checked against
/// the database), and when it is back the whole cache is dropped, since
/// notifications may have been missed.
pub fn follow_token_changes(pool: sqlx::PgPool, core: std::sync::Weak<super::Core>) {
    // `pool` is straight to the server: LISTEN cannot go through a transaction pooler
    if let Some(c) = core.upgrade() {
        c.verifier.require_feed();
    }
    tokio::spawn(async move {
        loop {
            if pool.is_closed() || core.strong_count() == 0 {
                return;
            }
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "token change feed: cannot connect; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen("tessera_tokens").await {
                tracing::warn!(error = %e, "token change feed: LISTEN failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            // Anything cached before LISTEN took effect may be stale.
            match core.upgrade() {
                Some(c) => {
                    c.verifier.evict_all();
                    c.verifier.feed_alive();
                }
                None => return,
            }
            tracing::info!("token change feed: listening");
            loop {
                let next = tokio::time::timeout(FEED_PROBE, listener.try_recv()).await;
                let Some(c) = core.upgrade() else { return };
                match next {
                    Ok(Ok(Some(n))) => {
                        c.verifier.feed_alive();
                        c.apply_change(Change::parse(n.payload())).await;
                        if let Some(at) = stamp(n.payload()) {
                            c.metrics.feed_change(lag_since(at));
                        }
                    }
                    Ok(Ok(None)) | Ok(Err(_)) => {
                        // connection lost: we may have missed changes
                        tracing::warn!("token change feed: connection lost; reconnecting");
                        c.feed_lost();
                        break;
                    }
                    Err(_) => {
                        // quiet: prove the connection still answers
                        let probe = sqlx::query(FEED_PROBE_SQL).execute(&mut listener);
                        match tokio::time::timeout(FEED_PROBE, probe).await {
                            Ok(Ok(_)) => c.verifier.feed_alive(),
                            _ => {
                                tracing::warn!("token change feed: no answer; reconnecting");
                                c.feed_lost();
                                break;
                            }
                        }
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_may_carry_when_the_change_was_made() {
        assert_eq!(Change::parse("7:42"), Change::Token(7, 42));
        assert_eq!(Change::parse("7:42@1764612345678"), Change::Token(7, 42));
        assert_eq!(Change::parse("7:*@1764612345678"), Change::User(7));
        assert_eq!(Change::parse("policy@1764612345678"), Change::Everything);
        assert_eq!(Change::parse("7:4x2"), Change::Everything);
        assert_eq!(
            stamp("7:42@1764612345678"),
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(1_764_612_345_678))
        );
        assert_eq!(stamp("7:42"), None);
        assert_eq!(stamp("7:42@soon"), None);
        assert_eq!(stamp("7:42@99999999999999999999"), None);
    }
}
