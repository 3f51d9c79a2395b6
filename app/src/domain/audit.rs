//! Recording and reading the audit log. An event that records a change is
//! written in the change's own transaction ([`record_in!`]); events about
//! attempts (failed sign-ins, refused or blocked tokens) are written on
//! their own ([`record`]), the frequent ones sampled ([`Sampler`]) so a
//! flood writes a bounded number of rows.

use super::{
    client::Client,
    db::{now, on_db, Db},
};
use crate::audit::AuditEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// Who acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// A signed-in person (their user id).
    User(i64),
    /// A token through the API (its owner and its id).
    Token {
        /// The token's owner.
        user: i64,
        /// The token.
        token: i64,
    },
    /// An administrator: on a page (their id) or the admin CLI (`None`).
    Admin(Option<i64>),
    /// Tessera itself (jobs, leak reports).
    System,
    /// An organization policy, applied by Tessera.
    Policy,
}

impl By {
    fn parts(self) -> (&'static str, Option<i64>, Option<i64>) {
        match self {
            By::User(u) => ("user", Some(u), None),
            By::Token { user, token } => ("token", Some(user), Some(token)),
            By::Admin(a) => ("admin", a, None),
            By::System | By::Policy => ("system", None, None),
        }
    }

    /// How a revocation by this actor is stored (`tokens.revoked_by`).
    pub fn revoked_by(self) -> &'static str {
        match self {
            By::User(_) | By::Token { .. } => "owner",
            By::Admin(_) => "admin",
            By::System => "system",
            By::Policy => "policy",
        }
    }
}

/// An event to record.
#[derive(Clone, Debug)]
pub struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// What (`token.created`).
    pub event: &'static str,
    /// Whose account.
    pub user_id: Option<i64>,
    /// Which token.
    pub token_id: Option<i64>,
    /// Who acted.
    pub by: By,
    /// Client address.
    pub ip: String,
    /// User agent (bounded).
    pub user_agent: String,
    /// Request id.
    pub request_id: String,
    /// JSON object text.
    pub details: String,
}

/// Longest user agent kept in an event.
const AGENT_MAX: usize = 256;

impl Event {
    /// `event` concerning `user_id`'s account (and `token_id`), by `by`,
    /// from `client` (none for the CLI and the system).
    pub fn new(
        event: &'static str,
        user_id: Option<i64>,
        token_id: Option<i64>,
        by: By,
        client: Option<&Client>,
    ) -> Event {
        let (ip, user_agent, request_id) = match client {
            Some(c) => (
                c.ip.to_string(),
                c.agent.chars().take(AGENT_MAX).collect(),
                c.request_id.clone(),
            ),
            None => Default::default(),
        };
        Event {
            at: now(),
            event,
            user_id,
            token_id,
            by,
            ip,
            user_agent,
            request_id,
            details: "{}".into(),
        }
    }

    /// The same event with `details` (a JSON object).
    pub fn with(mut self, details: Value) -> Event {
        self.details = details.to_string();
        self
    }

    /// The columns after `at` and `event`, as bound by [`record_in!`].
    pub fn actor(&self) -> (&'static str, Option<i64>, Option<i64>) {
        self.by.parts()
    }
}

/// The insert statement [`record_in!`] runs.
pub const INSERT: &str = "INSERT INTO audit_events \
     (at, event, user_id, token_id, actor, actor_user_id, actor_token_id, ip, user_agent, request_id, details) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Writes the event `$ev` on `$conn` (a transaction of either dialect, or
/// a pool), evaluating to `Result<_, sqlx::Error>`.
#[macro_export]
macro_rules! record_in {
    ($conn:expr, $ev:expr) => {{
        let ev: &$crate::domain::audit::Event = &$ev;
        let (actor, actor_user, actor_token) = ev.actor();
        sqlx::query($crate::domain::audit::INSERT)
            .bind(ev.at)
            .bind(ev.event)
            .bind(ev.user_id)
            .bind(ev.token_id)
            .bind(actor)
            .bind(actor_user)
            .bind(actor_token)
            .bind(&ev.ip)
            .bind(&ev.user_agent)
            .bind(&ev.request_id)
            .bind(&ev.details)
            .execute($conn)
            .await
    }};
}
pub use crate::record_in;

/// In one transaction on `$db` (either dialect): runs `$change`, an
/// expression over the open connection `$tx` that answers how many rows it
/// changed, records `$event` when that is one (a change that found nothing
/// to change records nothing), and commits. Answers the rows changed, as
/// `Result<u64, sqlx::Error>`.
#[macro_export]
macro_rules! audited {
    ($db:expr, $event:expr, |$tx:ident| $change:expr) => {
        $crate::domain::db::on_db!($db, pool => async {
            let mut tx = pool.begin().await?;
            let changed: u64 = {
                let $tx = &mut *tx;
                $change
            };
            if changed == 1 {
                $crate::domain::audit::record_in!(&mut *tx, $event)?;
            }
            tx.commit().await?;
            Ok::<u64, sqlx::Error>(changed)
        }.await)
    };
}
pub use crate::audited;

/// Writes one event on its own (for attempts, not changes).
pub async fn record(db: &Db, ev: &Event) -> Result<(), sqlx::Error> {
    on_db!(db, pool => record_in!(pool, ev).map(|_| ()))
}

/// Background audit writes waiting or running at most, for the whole
/// process: past it a sampled refusal is dropped (and counted in
/// [`dropped_later`]) instead of queueing without bound behind a slow store.
pub const LATER_MAX: usize = 1024;

static LATER_PENDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static LATER_DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Background audit writes dropped because [`LATER_MAX`] were pending.
pub fn dropped_later() -> u64 {
    LATER_DROPPED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes `ev` in the background, logging a failure (the request it
/// belongs to does not wait for it). At most [`LATER_MAX`] such writes are
/// pending at once; past that the event is dropped with a warning — these
/// are sampled refusals and attempts, never the record of a change (those
/// are written in the change's own transaction).
pub fn record_later(db: &Db, ev: Event) {
    use std::sync::atomic::Ordering;
    if LATER_PENDING.fetch_add(1, Ordering::SeqCst) >= LATER_MAX {
        LATER_PENDING.fetch_sub(1, Ordering::SeqCst);
        if LATER_DROPPED
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1000)
        {
            tracing::warn!(
                event = ev.event,
                "audit queue full: a sampled event was dropped"
            );
        }
        return;
    }
    let db = db.clone();
    tokio::spawn(async move {
        if let Err(e) = record(&db, &ev).await {
            tracing::warn!(error = %e, event = ev.event, "could not write an audit event");
        }
        LATER_PENDING.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Which events to read.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Events of this user's account only.
    pub user_id: Option<i64>,
    /// Events of this token only.
    pub token_id: Option<i64>,
    /// Events at or after this time only.
    pub since: Option<DateTime<Utc>>,
    /// Events with an id below this (the next page of a cursor).
    pub before_id: Option<i64>,
    /// At most this many (1–500).
    pub limit: u32,
}

/// A row of [`LIST`]; `details` is JSON kept as text (both stores) and
/// reads as `Null` when it is not JSON.
impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for AuditEvent
where
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let details: String = row.try_get("details")?;
        macro_rules! columns {
            ($($name:ident),+) => {
                AuditEvent {
                    $($name: row.try_get(stringify!($name))?,)+
                    details: serde_json::from_str(&details).unwrap_or(Value::Null),
                }
            };
        }
        Ok(columns!(
            id,
            at,
            event,
            user_id,
            username,
            token_id,
            actor,
            actor_user_id,
            actor_username,
            actor_token_id,
            ip,
            user_agent,
            request_id
        ))
    }
}

const LIST: &str = "SELECT e.id, e.at, e.event, e.user_id, u.username, e.token_id, e.actor, \
     e.actor_user_id, a.username AS actor_username, e.actor_token_id, e.ip, e.user_agent, \
     e.request_id, e.details \
     FROM audit_events e LEFT JOIN users u ON u.id = e.user_id LEFT JOIN users a ON a.id = e.actor_user_id \
     WHERE ($1 = 0 OR e.user_id = $1) AND ($2 = 0 OR e.token_id = $2) AND e.at >= $3 AND e.id < $4 \
     ORDER BY e.id DESC LIMIT $5";

/// An organization's events (`$1` its id, `$2` a `LIKE` pattern for its
/// name in the details): what happened to it (`org.*` and
/// `token.request_*` events, which name it at the top of their details)
/// and to the tokens it owns, older than event `$3`, newest first, at
/// most `$4`. Other events' details (a trust rule's conditions, a CI
/// job's claims) may hold an `organization` of their own: never matched.
const ORG_LIST: &str = "SELECT e.id, e.at, e.event, e.user_id, u.username, e.token_id, e.actor, \
     e.actor_user_id, a.username AS actor_username, e.actor_token_id, e.ip, e.user_agent, \
     e.request_id, e.details \
     FROM audit_events e LEFT JOIN users u ON u.id = e.user_id LEFT JOIN users a ON a.id = e.actor_user_id \
     WHERE e.id < $3 AND (e.token_id IN (SELECT id FROM tokens WHERE owner_org = $1) \
     OR ((e.event LIKE 'org.%' OR e.event LIKE 'token.request_%') AND e.details LIKE $2)) \
     ORDER BY e.id DESC LIMIT $4";

/// The audit log of organization `org_id` named `name`: what happened to
/// it and to the tokens it owns, newest first, older than event `before`.
pub async fn of_org(
    db: &Db,
    org_id: i64,
    name: &str,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEvent>, sqlx::Error> {
    // names are lower-case letters, digits and '-': nothing `LIKE` reads
    // as a wildcard; the details are compact JSON (serde_json)
    let pattern = format!("%\"organization\":{}%", serde_json::json!(name));
    on_db!(db, pool => sqlx::query_as(ORG_LIST)
        .bind(org_id)
        .bind(&pattern)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(pool)
        .await)
}

/// A `since` as a caller writes it: an RFC 3339 time, or a date
/// (`YYYY-MM-DD`, from its midnight UTC).
pub fn parse_since(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Events matching `f`, newest first.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<AuditEvent>, sqlx::Error> {
    let since = f.since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    on_db!(db, pool => sqlx::query_as(LIST)
        .bind(f.user_id.unwrap_or(0))
        .bind(f.token_id.unwrap_or(0))
        .bind(since)
        .bind(f.before_id.unwrap_or(i64::MAX))
        .bind(i64::from(f.limit.clamp(1, 500)))
        .fetch_all(pool)
        .await)
}

/// Deletes events older than `retention`; returns how many.
pub async fn prune(db: &Db, retention: Duration) -> Result<u64, sqlx::Error> {
    let cutoff = now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    on_db!(db, pool => sqlx::query("DELETE FROM audit_events WHERE at < $1")
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// Lets through one event per key per period: a flood of refusals of the
/// same token for the same reason writes one row per period.
pub struct Sampler {
    seen: moka::sync::Cache<(i64, String), ()>,
}

impl Sampler {
    /// One event per key per `period`.
    pub fn new(period: Duration) -> Sampler {
        Sampler {
            seen: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(period)
                .build(),
        }
    }

    /// True when an event for `(token, what)` should be written now (none
    /// was this period).
    pub fn admit(&self, token: i64, what: &str) -> bool {
        self.seen
            .entry((token, what.to_owned()))
            .or_insert(())
            .is_fresh()
    }
}

/// Runs a background job named `name` at most once per `every` across all
/// processes on this store: the conditional upsert lets one claimant win.
pub async fn claim_job(db: &Db, name: &str, every: Duration) -> Result<bool, sqlx::Error> {
    let at = now();
    let due = at - chrono::Duration::from_std(every).unwrap_or(chrono::Duration::zero());
    let done = on_db!(db, pool => sqlx::query(
        "INSERT INTO jobs (name, last_run_at) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at \
         WHERE jobs.last_run_at <= $3",
    )
    .bind(name)
    .bind(at)
    .bind(due)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}
