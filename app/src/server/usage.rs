//! "Last used" for tokens: time, client address and user agent. Uses are
//! coalesced in memory so a token's row is written at most once a minute,
//! however many requests it makes: the first use in a minute is written at
//! once, later ones only keep the newest details, which a background flush
//! writes when the minute is up.

use super::db::{on_db, Db};
use chrono::{DateTime, Utc};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

pub const WRITE_INTERVAL: Duration = Duration::from_secs(60);
const AGENT_MAX: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    pub at: DateTime<Utc>,
    pub ip: String,
    pub agent: String,
}

#[derive(Default)]
struct State {
    last_written: HashMap<i64, Instant>,
    pending: HashMap<i64, Use>,
}

#[derive(Default)]
pub struct UsageRecorder {
    state: Mutex<State>,
}

impl UsageRecorder {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a use; returns it when it should be written now.
    pub fn note(&self, token_id: i64, ip: String, agent: &str) -> Option<Use> {
        let u = Use {
            at: super::db::now(),
            ip,
            agent: agent.chars().take(AGENT_MAX).collect(),
        };
        let mut s = self.state();
        let due = s
            .last_written
            .get(&token_id)
            .is_none_or(|t| t.elapsed() >= WRITE_INTERVAL);
        if due {
            s.last_written.insert(token_id, Instant::now());
            s.pending.remove(&token_id);
            Some(u)
        } else {
            s.pending.insert(token_id, u);
            None
        }
    }

    /// Pending uses whose minute is up (marked as written).
    pub fn due(&self) -> Vec<(i64, Use)> {
        let mut s = self.state();
        let ready: Vec<i64> = s
            .pending
            .keys()
            .copied()
            .filter(|id| {
                s.last_written
                    .get(id)
                    .is_none_or(|t| t.elapsed() >= WRITE_INTERVAL)
            })
            .collect();
        let mut out = Vec::with_capacity(ready.len());
        for id in ready {
            if let Some(u) = s.pending.remove(&id) {
                s.last_written.insert(id, Instant::now());
                out.push((id, u));
            }
        }
        // forget tokens idle for a while
        s.last_written
            .retain(|_, t| t.elapsed() < WRITE_INTERVAL * 10);
        out
    }
}

pub async fn write(db: &Db, token_id: i64, u: &Use) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "UPDATE tokens SET last_used_at = $1, last_used_ip = $2, last_used_agent = $3 WHERE id = $4",
    )
    .bind(u.at)
    .bind(&u.ip)
    .bind(&u.agent)
    .bind(token_id)
    .execute(pool)
    .await
    .map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_written_at_most_once_a_minute() {
        let r = UsageRecorder::default();
        assert!(r.note(1, "192.0.2.1".into(), "git/2.47").is_some());
        for _ in 0..1000 {
            assert!(r.note(1, "192.0.2.2".into(), "curl/8").is_none());
        }
        assert!(r.due().is_empty(), "the minute is not up yet");
        assert!(
            r.note(2, "192.0.2.3".into(), "x").is_some(),
            "other tokens are independent"
        );
    }
}
