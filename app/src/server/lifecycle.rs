//! A token's lifecycle reaching people: notifications (expiring, expired,
//! still presented after its end, revoked by someone else, an old secret
//! reused, used from a new network) made once each by their key, and
//! delivered by mail and to webhooks by a worker that claims each delivery
//! (Postgres: `FOR UPDATE SKIP LOCKED`) so one instance sends it, retrying
//! with backoff for up to a day.
//!
//! Crash safety: a notification and its deliveries are written in one
//! transaction; a delivery is claimed for a lease, so an instance killed
//! mid-send leaves it to be retried when the lease ends (at least once;
//! the `webhook-id` header and the mail's Message-ID stay the same across
//! attempts, so a receiver can drop the rare duplicate).

use super::{
    audit::{self, By, Event},
    db::{now, on_db, Db},
    mail::Mailer,
    sessions::Client,
    verify::Verified,
    webhooks::{self, Sender},
    Core,
};
use crate::notify::{DeliveryView, NotificationSettings, WebhookView};
use chrono::{DateTime, Duration as Span, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{
    collections::HashSet,
    hash::{Hash, Hasher},
    net::IpAddr,
    time::Duration,
};

/// Operator settings for notices.
#[derive(Clone, Debug)]
pub struct LifecycleConfig {
    /// `smtp://host:port` or `smtps://user:pass@host`; `None`: no mail.
    pub smtp_url: Option<String>,
    /// The sender address.
    pub mail_from: String,
    /// Days before expiry at which the owner is told (once each).
    pub expiry_notice_days: Vec<u32>,
    /// How often tokens are checked for notices (once across instances).
    pub notice_every: Duration,
    /// How often the worker looks for work.
    pub tick: Duration,
    /// Webhook endpoints on private networks may be called.
    pub allow_private_webhooks: bool,
    /// Run the worker in this process (the admin CLI does not).
    pub worker: bool,
    /// Public keys of secret-scanning partners (JSON file).
    pub secret_scanning_keys: Option<std::path::PathBuf>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            smtp_url: None,
            mail_from: "tessera@localhost".into(),
            expiry_notice_days: vec![30, 7, 1],
            notice_every: Duration::from_secs(300),
            tick: Duration::from_secs(1),
            allow_private_webhooks: false,
            worker: true,
            secret_scanning_keys: None,
        }
    }
}

/// The lifecycle services a [`Core`] holds.
pub struct Lifecycle {
    /// The mailer, when an SMTP server is configured.
    pub mailer: Option<Mailer>,
    /// Posts webhook deliveries.
    pub sender: Sender,
    /// (token, network, client family) already seen by this process: a
    /// use from a known place costs no database access.
    sightings: moka::sync::Cache<(i64, u128, u64), ()>,
    /// New places to check, for the one task that writes them (so a burst
    /// of first uses never takes the pool from verifications).
    sighting_queue: tokio::sync::mpsc::Sender<Sighting>,
    /// Secret-scanning partners' keys (`None`: the endpoint is off).
    pub scanning: Option<super::scanning::ScanningKeys>,
    /// The settings.
    pub config: LifecycleConfig,
    /// Delivery passes running now in this process (see [`work`]).
    passes: std::sync::atomic::AtomicUsize,
}

impl Lifecycle {
    /// The services for `config` (a mailer that cannot be built is logged
    /// and left out; the binary refuses such settings at start-up).
    pub fn new(config: LifecycleConfig, db: &Db) -> Lifecycle {
        let (sighting_queue, queue) = tokio::sync::mpsc::channel(SIGHTING_QUEUE);
        spawn_sighting_writer(db.clone(), queue);
        let mailer = config.smtp_url.as_deref().and_then(|url| {
            Mailer::new(url, &config.mail_from)
                .map_err(|e| tracing::error!(error = %e, "mail is off"))
                .ok()
        });
        let scanning = config.secret_scanning_keys.as_deref().and_then(|path| {
            super::scanning::ScanningKeys::load(path)
                .map_err(|e| tracing::error!(error = %e, "secret-scanning reports are off"))
                .ok()
        });
        Lifecycle {
            sighting_queue,
            scanning,
            mailer,
            sender: Sender::new(config.allow_private_webhooks),
            sightings: moka::sync::Cache::builder().max_capacity(200_000).build(),
            config,
            passes: Default::default(),
        }
    }
}

/// Why a notification-settings change was refused.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// A field's value is not acceptable (field, sentence).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// No such endpoint (or not the caller's).
    #[error("There is no such webhook.")]
    NotFound,
    /// Too many test events to one endpoint: wait this long.
    #[error("Too many test events to this endpoint. Try again in {} minutes.", .0.seconds().div_ceil(60))]
    TooMany(super::throttle::RetryAfter),
    /// The store failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Something to tell a user (made once per `key`).
#[derive(Clone, Debug)]
pub struct Notice {
    /// Makes the notice once: `expiring:42:7:1767225600`.
    pub key: String,
    /// The event, as webhooks name it (`token.expiring`).
    pub event: &'static str,
    /// Whose.
    pub user_id: i64,
    /// About which token.
    pub token_id: Option<i64>,
    /// The mail's subject.
    pub subject: String,
    /// The mail's text.
    pub body: String,
    /// The webhook payload's `data`.
    pub data: Value,
    /// Deliver to this endpoint only (a test event).
    pub only_webhook: Option<i64>,
}

/// Creates the notice and its deliveries (the user's confirmed address
/// when mail is on, the user's and the organization's webhooks), unless
/// one with its key exists; returns its id when it was created.
pub async fn notify(core: &Core, n: &Notice) -> Result<Option<i64>, sqlx::Error> {
    let at = now();
    let mail_on = core.lifecycle.mailer.is_some() && n.only_webhook.is_none();
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        let created: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO notifications (key, event, user_id, token_id, created_at, subject, body, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key) DO NOTHING RETURNING id",
        )
        .bind(&n.key)
        .bind(n.event)
        .bind(n.user_id)
        .bind(n.token_id)
        .bind(at)
        .bind(&n.subject)
        .bind(&n.body)
        .bind(n.data.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id,)) = created else {
            return Ok(None);
        };
        let mut targets: Vec<(&str, Option<i64>, String)> = Vec::new();
        if mail_on {
            let email: Option<(Option<String>,)> =
                sqlx::query_as("SELECT email FROM users WHERE id = $1 AND disabled_at IS NULL")
                    .bind(n.user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((Some(email),)) = email {
                targets.push(("mail", None, email));
            }
        }
        let hooks: Vec<(i64, String)> = match n.only_webhook {
            Some(w) => sqlx::query_as("SELECT id, url FROM webhooks WHERE id = $1")
                .bind(w)
                .fetch_all(&mut *tx)
                .await?,
            None => sqlx::query_as(
                "SELECT id, url FROM webhooks WHERE user_id = $1 OR user_id IS NULL ORDER BY id",
            )
            .bind(n.user_id)
            .fetch_all(&mut *tx)
            .await?,
        };
        targets.extend(hooks.into_iter().map(|(w, url)| ("webhook", Some(w), url)));
        for (channel, webhook, target) in targets {
            sqlx::query(
                "INSERT INTO deliveries (notification_id, channel, webhook_id, target, state, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
            )
            .bind(id)
            .bind(channel)
            .bind(webhook)
            .bind(target)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    })
}

/// "in 1 day", "in 7 days".
fn in_days(days: i64) -> String {
    if days <= 1 {
        "in 1 day".into()
    } else {
        format!("in {days} days")
    }
}

/// "less than a day ago", "1 day ago", "3 days ago".
pub fn ago(since: Span) -> String {
    match since.num_days() {
        d if d < 1 => "less than a day ago".into(),
        1 => "1 day ago".into(),
        d => format!("{d} days ago"),
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%b %-d, %Y %H:%M UTC").to_string()
}

#[derive(sqlx_macros::FromRow)]
struct Ending {
    id: i64,
    user_id: i64,
    name: String,
    expires_at: DateTime<Utc>,
}

#[derive(sqlx_macros::FromRow)]
struct Presented {
    id: i64,
    user_id: i64,
    name: String,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    presented_after_end: i64,
    last_presented_at: Option<DateTime<Utc>>,
    last_presented_ip: Option<String>,
    last_presented_agent: Option<String>,
}

/// The threshold (days) a token `left` from its expiry falls in: the
/// smallest one at or above the days left (rounded up).
pub fn threshold(thresholds: &[u32], left: Span) -> Option<u32> {
    let days = (left.num_seconds() + 86_399) / 86_400;
    thresholds
        .iter()
        .copied()
        .filter(|t| i64::from(*t) >= days)
        .min()
}

/// Looks at every token for notices due: expiring (at each threshold,
/// once), expired (once, within a week of it), still presented after its
/// end (once a day). Returns how many notices were made.
pub async fn scan_tokens(core: &Core) -> Result<usize, sqlx::Error> {
    let at = now();
    let horizon = i64::from(
        core.lifecycle
            .config
            .expiry_notice_days
            .iter()
            .copied()
            .max()
            .unwrap_or(0),
    );
    let public = &core.config.public_url;
    let ending: Vec<Ending> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT t.id, t.user_id, t.name, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.revoked_at IS NULL AND t.parent_id IS NULL AND u.disabled_at IS NULL AND t.expires_at > $1 AND t.expires_at <= $2",
    )
    .bind(at - Span::days(7))
    .bind(at + Span::days(horizon))
    .fetch_all(pool)
    .await)?;
    let known: Vec<(String,)> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT key FROM notifications WHERE event IN ('token.expiring', 'token.expired', 'token.presented_after_end') \
         AND created_at >= $1",
    )
    .bind(at - Span::days(horizon + 8))
    .fetch_all(pool)
    .await)?;
    let known: HashSet<String> = known.into_iter().map(|(k,)| k).collect();
    let mut made = 0;
    for t in ending {
        let stamp = t.expires_at.timestamp();
        let notice = if t.expires_at > at {
            let Some(th) = threshold(&core.lifecycle.config.expiry_notice_days, t.expires_at - at)
            else {
                continue;
            };
            let days = ((t.expires_at - at).num_seconds() + 86_399) / 86_400;
            Notice {
                key: format!("expiring:{}:{th}:{stamp}", t.id),
                event: "token.expiring",
                user_id: t.user_id,
                token_id: Some(t.id),
                subject: format!("Your token {} expires {}", t.name, in_days(days)),
                body: format!(
                    "Your personal access token \"{}\" expires on {} ({}).\n\
                     Anything that uses it (CI jobs, scripts, git remotes) gets 401 after that.\n\n\
                     Extend it or regenerate it: {public}/profile/security/tokens/{}/edit\n",
                    t.name,
                    when(t.expires_at),
                    in_days(days),
                    t.id
                ),
                data: json!({"token": {"id": t.id, "name": t.name, "expires_at": t.expires_at}, "threshold_days": th}),
                only_webhook: None,
            }
        } else {
            Notice {
                key: format!("expired:{}:{stamp}", t.id),
                event: "token.expired",
                user_id: t.user_id,
                token_id: Some(t.id),
                subject: format!("Your token {} has expired", t.name),
                body: format!(
                    "Your personal access token \"{}\" expired on {}.\n\
                     Requests that present it are refused (401 token_expired).\n\n\
                     Create a new one: {public}/profile/security/tokens/new\n",
                    t.name,
                    when(t.expires_at)
                ),
                data: json!({"token": {"id": t.id, "name": t.name, "expires_at": t.expires_at}}),
                only_webhook: None,
            }
        };
        if !known.contains(&notice.key) && notify(core, &notice).await?.is_some() {
            made += 1;
        }
    }
    let presented: Vec<Presented> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT t.id, t.user_id, t.name, t.expires_at, t.revoked_at, t.presented_after_end, \
         t.last_presented_at, t.last_presented_ip, t.last_presented_agent \
         FROM tokens t JOIN users u ON u.id = t.user_id \
         WHERE u.disabled_at IS NULL AND t.presented_after_end > 0 AND t.last_presented_at >= $1",
    )
    .bind(at - Span::days(1))
    .fetch_all(pool)
    .await)?;
    let day = at.format("%Y-%m-%d");
    for t in presented {
        let key = format!("presented:{}:{day}", t.id);
        if known.contains(&key) {
            continue;
        }
        let sentence = presented_sentence(&t, at);
        let notice = Notice {
            key,
            event: "token.presented_after_end",
            user_id: t.user_id,
            token_id: Some(t.id),
            subject: format!("{} is still being presented", t.name),
            body: format!(
                "{sentence}\nSomething still uses it: find the job by its address and client, and give it a new token.\n\n\
                 {public}/profile/security/tokens?status=all\n"
            ),
            data: json!({
                "token": {"id": t.id, "name": t.name, "expires_at": t.expires_at, "revoked_at": t.revoked_at},
                "presented": t.presented_after_end,
                "last_presented_at": t.last_presented_at,
                "last_presented_ip": t.last_presented_ip,
                "last_presented_agent": t.last_presented_agent,
                "message": sentence,
            }),
            only_webhook: None,
        };
        if notify(core, &notice).await?.is_some() {
            made += 1;
        }
    }
    Ok(made)
}

/// "ci-deploy expired 3 days ago and was presented 412 times since, last
/// from 10.1.2.3 (git/2.43)."
fn presented_sentence(t: &Presented, at: DateTime<Utc>) -> String {
    let (how, end) = match t.revoked_at {
        Some(r) if r < t.expires_at => ("was revoked", r),
        _ => ("expired", t.expires_at),
    };
    let times = if t.presented_after_end == 1 {
        "1 time".to_string()
    } else {
        format!("{} times", t.presented_after_end)
    };
    let from = match (&t.last_presented_ip, &t.last_presented_agent) {
        (Some(ip), Some(agent)) if !agent.is_empty() => format!(", last from {ip} ({agent})"),
        (Some(ip), _) => format!(", last from {ip}"),
        _ => String::new(),
    };
    format!(
        "{} {how} {} and was presented {times} since{from}.",
        t.name,
        ago(at - end)
    )
}

/// The audit events that tell an owner something.
const TOLD: &str = "'token.revoked', 'token.reused', 'token.new_network'";

#[derive(sqlx_macros::FromRow)]
struct Told {
    id: i64,
    at: DateTime<Utc>,
    event: String,
    user_id: Option<i64>,
    token_id: Option<i64>,
    actor: String,
    ip: String,
    user_agent: String,
    details: String,
    name: Option<String>,
}

/// Turns audit events that concern an owner (a revocation by an
/// administrator, a policy or a leak report; an old secret reused; a new
/// network) into notices. Reads past its cursor and the last minute again
/// (an event committed late is not skipped; keys make a second pass a
/// no-op).
pub async fn notify_from_audit(core: &Core) -> Result<usize, sqlx::Error> {
    let at = now();
    let cursor: Option<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT position FROM jobs WHERE name = 'notifier'",
    )
    .fetch_optional(pool)
    .await)?;
    let cursor = cursor.map_or(0, |(c,)| c);
    let sql = format!(
        "SELECT e.id, e.at, e.event, e.user_id, e.token_id, e.actor, e.ip, e.user_agent, e.details, t.name \
         FROM audit_events e LEFT JOIN tokens t ON t.id = e.token_id \
         WHERE (e.id > $1 OR e.at >= $2) AND e.event IN ({TOLD}) ORDER BY e.id LIMIT 500"
    );
    let events: Vec<Told> = on_db!(&core.db, pool => sqlx::query_as(&sql)
        .bind(cursor)
        .bind(at - Span::minutes(1))
        .fetch_all(pool)
        .await)?;
    let mut made = 0;
    let mut last = cursor;
    for e in events {
        last = last.max(e.id);
        let (Some(user_id), Some(token_id)) = (e.user_id, e.token_id) else {
            continue;
        };
        if let Some(notice) = told(core, &e, user_id, token_id) {
            if notify(core, &notice).await?.is_some() {
                made += 1;
            }
        }
    }
    if last > cursor {
        on_db!(&core.db, pool => sqlx::query(
            "UPDATE jobs SET position = $1 WHERE name = 'notifier' AND position < $1",
        )
        .bind(last)
        .execute(pool)
        .await
        .map(|_| ()))?;
    }
    Ok(made)
}

fn told(core: &Core, e: &Told, user_id: i64, token_id: i64) -> Option<Notice> {
    let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
    let text = |k: &str| {
        details
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let name = e
        .name
        .clone()
        .unwrap_or_else(|| format!("token {token_id}"));
    let public = &core.config.public_url;
    let from = if e.ip.is_empty() {
        String::new()
    } else if e.user_agent.is_empty() {
        format!(" from {}", e.ip)
    } else {
        format!(" from {} ({})", e.ip, e.user_agent)
    };
    let token = json!({"id": token_id, "name": name});
    let list = format!("{public}/profile/security/tokens?status=all");
    // a derived token revoked with its parent: the parent's notice says it
    if details.get("derived_from").is_some() && e.event == "token.revoked" {
        return None;
    }
    match e.event.as_str() {
        "token.revoked" if e.actor == "admin" || e.actor == "system" => {
            let reason = text("reason");
            let (why, event) = if reason == super::tokens::LEAKED {
                let mut where_ = String::new();
                if !text("url").is_empty() {
                    where_.push_str(&format!(" at {}", text("url")));
                }
                if !text("source").is_empty() {
                    where_.push_str(&format!(" (reported by {})", text("source")));
                }
                (format!("it was reported as leaked: found{where_}"), "token.revoked_leaked")
            } else if e.actor == "admin" {
                (format!("an administrator revoked it: {reason}"), "token.revoked_by_admin")
            } else {
                (format!("a policy revoked it: {reason}"), "token.revoked_by_policy")
            };
            Some(Notice {
                key: format!("audit:{}", e.id),
                event,
                user_id,
                token_id: Some(token_id),
                subject: format!("Your token {name} was revoked"),
                body: format!(
                    "Your personal access token \"{name}\" was revoked on {}: {why}.\n\
                     Requests that present it are refused. Create a new one: {public}/profile/security/tokens/new\n",
                    when(e.at)
                ),
                data: json!({"token": token, "reason": reason, "url": text("url"), "source": text("source"), "by": e.actor}),
                only_webhook: None,
            })
        }
        "token.reused" => Some(Notice {
            key: format!("reused:{token_id}:{}", e.at.format("%Y-%m-%d")),
            event: "token.reused",
            user_id,
            token_id: Some(token_id),
            subject: format!("An old secret of {name} was presented"),
            body: format!(
                "A secret of your token \"{name}\" that was rotated out was presented on {}{from}. It was refused.\n\
                 If that was not one of your jobs, the old secret may have leaked.\n\n{list}\n",
                when(e.at)
            ),
            data: json!({"token": token, "ip": e.ip, "user_agent": e.user_agent}),
            only_webhook: None,
        }),
        "token.new_network" => {
            let network = text("network");
            let client = text("client");
            Some(Notice {
                key: format!("audit:{}", e.id),
                event: "token.new_network",
                user_id,
                token_id: Some(token_id),
                subject: format!("{name} was used from a new network"),
                body: format!(
                    "Your token \"{name}\" was used on {}{from}: network {network}, client {client}, \
                     not seen before for this token.\nIf that was not you, revoke it: {list}\n",
                    when(e.at)
                ),
                data: json!({"token": token, "network": network, "client": client, "ip": e.ip, "user_agent": e.user_agent, "new": details.get("new")}),
                only_webhook: None,
            })
        }
        _ => None,
    }
}

/// Seconds to wait after a failed attempt (then the delivery fails once a
/// day has passed since the notice was made).
const BACKOFF: [i64; 8] = [5, 60, 300, 1800, 7200, 18_000, 36_000, 36_000];
/// How long a claimed delivery is another instance's to send.
const LEASE: i64 = 120;
/// Deliveries claimed per pass.
const BATCH: i64 = 16;

#[derive(sqlx_macros::FromRow)]
struct Due {
    id: i64,
    channel: String,
    target: String,
    attempts: i64,
    notification_id: i64,
    event: String,
    subject: String,
    body: String,
    data: String,
    made_at: DateTime<Utc>,
    secret: Option<String>,
}

/// Claims due deliveries (one instance gets each) — at most one per
/// destination (an endpoint URL, a mail address), and none for a
/// destination with a delivery in flight on any instance — and sends them
/// all at once; returns how many were attempted. Each destination is a lane
/// of its own: an endpoint that never answers holds up only its own
/// deliveries, one timeout at a time.
pub async fn deliver_due(core: &Core) -> Result<usize, sqlx::Error> {
    let at = now();
    let lease = at + Span::seconds(LEASE);
    // the outer conditions repeat the inner ones: on Postgres a row another
    // instance claimed meanwhile is re-checked after its lock and skipped
    let claim = "UPDATE deliveries SET claimed_until = $1, attempts = attempts + 1 WHERE id IN \
         (SELECT MIN(d.id) FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt_at <= $2 \
          AND (d.claimed_until IS NULL OR d.claimed_until < $2) \
          AND NOT EXISTS (SELECT 1 FROM deliveries busy WHERE busy.channel = d.channel \
               AND busy.target = d.target AND busy.state = 'pending' AND busy.claimed_until >= $2) \
          GROUP BY d.channel, d.target ORDER BY MIN(d.id) LIMIT $3) \
         AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2) \
         RETURNING id";
    let claimed: Vec<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(claim)
        .bind(lease)
        .bind(at)
        .bind(BATCH)
        .fetch_all(pool)
        .await)?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let sends = claimed.into_iter().map(|(id,)| async move {
        let due: Option<Due> = on_db!(&core.db, pool => sqlx::query_as(
            "SELECT d.id, d.channel, d.target, d.attempts, n.id AS notification_id, n.event, n.subject, n.body, n.data, \
             n.created_at AS made_at, w.secret \
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
             LEFT JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        let Some(due) = due else { return Ok(0) };
        let (status, error) = send(core, &due).await;
        finish(&core.db, &due, status, error).await?;
        Ok::<_, sqlx::Error>(1)
    });
    let mut done = 0;
    for sent in futures::future::join_all(sends).await {
        done += sent?;
    }
    Ok(done)
}

/// Sends one delivery: (HTTP status, error).
async fn send(core: &Core, d: &Due) -> (Option<u16>, Option<String>) {
    let message_id = format!("msg_{}", d.notification_id);
    match d.channel.as_str() {
        "mail" => match &core.lifecycle.mailer {
            Some(m) => {
                let body = format!(
                    "{}\n-- \nTessera · {}/profile/security/notifications\n",
                    d.body, core.config.public_url
                );
                let id = format!("<tessera.{}@{}>", message_id, m.domain());
                (
                    None,
                    m.send(&d.target, &d.subject, &body, Some(id)).await.err(),
                )
            }
            None => (None, Some("mail is not configured on this server".into())),
        },
        _ => {
            let Some(secret) = &d.secret else {
                return (None, Some("the webhook was deleted".into()));
            };
            let data: Value = serde_json::from_str(&d.data).unwrap_or(Value::Null);
            let payload = json!({
                "type": d.event,
                "timestamp": d.made_at,
                "data": data,
                "message": d.subject,
            })
            .to_string();
            let answer = core
                .lifecycle
                .sender
                .post(&d.target, secret, &message_id, &payload)
                .await;
            (answer.status, answer.error)
        }
    }
}

/// Records an attempt: delivered, retry later, or failed for good.
async fn finish(
    db: &Db,
    d: &Due,
    status: Option<u16>,
    error: Option<String>,
) -> Result<(), sqlx::Error> {
    let at = now();
    let status = status.map(i64::from);
    match error {
        None => on_db!(db, pool => sqlx::query(
            "UPDATE deliveries SET state = 'delivered', delivered_at = $1, last_status = $2, last_error = NULL, \
             claimed_until = NULL WHERE id = $3",
        )
        .bind(at)
        .bind(status)
        .bind(d.id)
        .execute(pool)
        .await
        .map(|_| ())),
        Some(error) => {
            let wait = BACKOFF[usize::try_from(d.attempts.max(1) - 1)
                .unwrap_or(0)
                .min(BACKOFF.len() - 1)];
            let next = at + Span::seconds(wait);
            let gave_up =
                d.attempts as usize >= BACKOFF.len() || next > d.made_at + Span::hours(24);
            let error: String = error.chars().take(300).collect();
            tracing::info!(delivery = d.id, attempts = d.attempts, error = %error, "delivery attempt failed");
            on_db!(db, pool => sqlx::query(
                "UPDATE deliveries SET state = $1, next_attempt_at = $2, last_status = $3, last_error = $4, \
                 claimed_until = NULL WHERE id = $5",
            )
            .bind(if gave_up { "failed" } else { "pending" })
            .bind(next)
            .bind(status)
            .bind(error)
            .bind(d.id)
            .execute(pool)
            .await
            .map(|_| ()))
        }
    }
}

/// Delivery passes one process runs at once at most.
const MAX_PASSES: usize = 16;

/// One pass of the worker: notices due (when this instance wins the
/// claim), notices from the audit log, then deliveries due — in a task of
/// their own, so that a slow endpoint never holds up the next tick (the
/// claim keeps one delivery per destination in flight).
pub async fn work(core: &std::sync::Arc<Core>) {
    let every = core.lifecycle.config.notice_every;
    match audit::claim_job(&core.db, "notices", every).await {
        Ok(true) => {
            if let Err(e) = scan_tokens(core).await {
                tracing::warn!(error = %e, "could not look for expiry notices");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not claim the notices job"),
    }
    if let Err(e) = notify_from_audit(core).await {
        tracing::warn!(error = %e, "could not read the audit log for notices");
    }
    use std::sync::atomic::Ordering;
    if core.lifecycle.passes.fetch_add(1, Ordering::SeqCst) >= MAX_PASSES {
        core.lifecycle.passes.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let core = core.clone();
    tokio::spawn(async move {
        if let Err(e) = deliver_due(&core).await {
            tracing::warn!(error = %e, "could not deliver notices");
        }
        core.lifecycle.passes.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Runs [`work`] every tick while the core lives.
pub fn spawn_worker(core: std::sync::Weak<Core>, tick: Duration) {
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(tick);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            let Some(core) = core.upgrade() else { return };
            work(&core).await;
        }
    });
}

/// The network a client address belongs to, as a number: its /24 (IPv4,
/// in the low 32 bits) or /48 (IPv6, the top 48 bits).
pub fn network_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4) & 0xffff_ff00),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_key(IpAddr::V4(v4)),
            None => u128::from(v6) & !((1u128 << 80) - 1),
        },
    }
}

/// The network a client address belongs to: its key and its text
/// (`10.1.2.0/24`, `2001:db8:1::/48`).
pub fn network_of(ip: IpAddr) -> (u128, String) {
    let text = match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        IpAddr::V6(v6) => {
            let o = v6.to_ipv4_mapped().map(|v| v.octets()).unwrap_or_default();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
    };
    (network_key(ip), text)
}

/// The characters of a user agent's client family, lower-cased: its first
/// product name (`git/2.43.0` → `git`).
fn family_chars(agent: &str) -> impl Iterator<Item = char> + '_ {
    agent
        .split(['/', ' '])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .map(|c| c.to_ascii_lowercase())
}

/// The client family of a user agent (`curl/8.5` → `curl`); `unknown`
/// when none.
pub fn client_family(agent: &str) -> String {
    let name: String = family_chars(agent).collect();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
    }
}

/// The most networks and client families remembered per token.
pub const SIGHTINGS_MAX: i64 = 100;

/// Places waiting to be checked at most (past it, a new place is checked
/// on a later use).
const SIGHTING_QUEUE: usize = 10_000;

/// A use from a place this process had not seen for the token.
struct Sighting {
    user: i64,
    token: i64,
    key: (i64, u128, u64),
    network: String,
    family: String,
    client: Client,
}

/// Notes a successful use: from a network or client family this process has
/// not seen for the token, queues a check against the store, which records
/// a `token.new_network` event when it is new for the token (not for its
/// first use). A known place costs one cache lookup and no allocation.
pub fn sighted(core: &Core, v: &Verified, client: &Client) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in family_chars(&client.agent) {
        c.hash(&mut h);
    }
    let key = (v.token_id, network_key(client.ip), h.finish());
    let cache = &core.lifecycle.sightings;
    if cache.contains_key(&key) {
        return;
    }
    cache.insert(key, ());
    let sighting = Sighting {
        user: v.user_id,
        token: v.token_id,
        key,
        network: network_of(client.ip).1,
        family: client_family(&client.agent),
        client: client.clone(),
    };
    if core.lifecycle.sighting_queue.try_send(sighting).is_err() {
        // full: forget it, so a later use queues it again
        cache.invalidate(&key);
    }
}

/// The one task that checks queued places, one at a time (one pool
/// connection at most).
fn spawn_sighting_writer(db: Db, mut queue: tokio::sync::mpsc::Receiver<Sighting>) {
    tokio::spawn(async move {
        while let Some(s) = queue.recv().await {
            if let Err(e) = record_sighting(&db, &s).await {
                tracing::warn!(error = %e, token = s.token, key = ?s.key, "could not record where a token was used from");
            }
        }
    });
}

async fn record_sighting(db: &Db, s: &Sighting) -> Result<(), sqlx::Error> {
    let at = now();
    let mut new = Vec::new();
    for (kind, value) in [
        ("network", s.network.as_str()),
        ("client", s.family.as_str()),
    ] {
        // one statement for a known place; a second only for a new one
        let inserted = on_db!(db, pool => sqlx::query(
            "INSERT INTO token_sightings (token_id, kind, value, first_at) \
             SELECT $1, $2, $3, $4 WHERE (SELECT COUNT(*) FROM token_sightings WHERE token_id = $1 AND kind = $2) < $5 \
             ON CONFLICT DO NOTHING",
        )
        .bind(s.token)
        .bind(kind)
        .bind(value)
        .bind(at)
        .bind(SIGHTINGS_MAX)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if inserted == 0 {
            continue;
        }
        let (known,): (i64,) = on_db!(db, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM token_sightings WHERE token_id = $1 AND kind = $2",
        )
        .bind(s.token)
        .bind(kind)
        .fetch_one(pool)
        .await)?;
        if known > 1 {
            new.push(kind);
        }
    }
    if new.is_empty() {
        return Ok(());
    }
    let (user, token) = (s.user, s.token);
    let event = Event::new(
        "token.new_network",
        Some(user),
        Some(token),
        By::Token { user, token },
        Some(&s.client),
    )
    .with(json!({"network": s.network, "client": s.family, "new": new}));
    audit::record(db, &event).await
}

// ---- settings: the e-mail address and the webhooks ----

/// How long a confirmation link works.
pub const CONFIRM_HOURS: i64 = 24;

fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}

/// Sets `email` as the user's address to confirm and mails the link (the
/// code is only in the mail; the store keeps its hash).
pub async fn set_email(
    core: &Core,
    user_id: i64,
    email: &str,
    client: Option<&Client>,
) -> Result<String, NoticeError> {
    let Some(mailer) = &core.lifecycle.mailer else {
        return Err(NoticeError::Invalid(
            "email",
            "This server does not send mail: no SMTP server is configured.".into(),
        ));
    };
    let address =
        super::mail::parse_address(email).map_err(|e| NoticeError::Invalid("email", e))?;
    let address = address.to_string();
    let at = now();
    let recent: Option<(Option<DateTime<Utc>>,)> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT email_code_expires_at FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    if let Some((Some(exp),)) = recent {
        if exp - Span::hours(CONFIRM_HOURS) > at - Span::seconds(60) {
            return Err(NoticeError::Invalid(
                "email",
                "A link was sent less than a minute ago; wait a minute before asking for another."
                    .into(),
            ));
        }
    }
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let code = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
    let link = format!(
        "{}/profile/security/notifications/confirm?code={code}",
        core.config.public_url
    );
    let body = format!(
        "Someone (hopefully you) asked Tessera to send notices about personal access tokens to this address.\n\n\
         Confirm it within {CONFIRM_HOURS} hours: {link}\n\nIf that was not you, ignore this mail.\n"
    );
    mailer
        .send(
            &address,
            "Confirm your e-mail address for Tessera",
            &body,
            None,
        )
        .await
        .map_err(|e| {
            NoticeError::Invalid(
                "email",
                format!("Could not send the confirmation mail: {e}"),
            )
        })?;
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE users SET email_pending = $1, email_code_hash = $2, email_code_expires_at = $3 WHERE id = $4",
        )
        .bind(&address)
        .bind(code_hash(&code))
        .bind(at + Span::hours(CONFIRM_HOURS))
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let ev = Event::new("email.confirmation_sent", Some(user_id), None, By::User(user_id), client)
            .with(json!({"email": address}));
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
    });
    Ok(address)
}

/// Confirms the address the link with `code` was sent to; returns it.
pub async fn confirm_email(
    core: &Core,
    user_id: i64,
    code: &str,
    client: Option<&Client>,
) -> Result<String, NoticeError> {
    let invalid = || {
        NoticeError::Invalid(
            "code",
            "This confirmation link is not valid or has expired. Ask for a new one.".into(),
        )
    };
    if code.is_empty() || code.len() > 100 {
        return Err(invalid());
    }
    let at = now();
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "UPDATE users SET email = email_pending, email_confirmed_at = $1, email_pending = NULL, \
             email_code_hash = NULL, email_code_expires_at = NULL \
             WHERE id = $2 AND email_code_hash = $3 AND email_code_expires_at > $1 AND email_pending IS NOT NULL \
             RETURNING email",
        )
        .bind(at)
        .bind(user_id)
        .bind(code_hash(code))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((Some(email),)) = row else {
            return Err(invalid());
        };
        let ev = Event::new("email.confirmed", Some(user_id), None, By::User(user_id), client)
            .with(json!({"email": email}));
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        Ok(email)
    })
}

/// Removes the user's address (and any waiting for confirmation).
pub async fn remove_email(
    core: &Core,
    user_id: i64,
    client: Option<&Client>,
) -> Result<(), NoticeError> {
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE users SET email = NULL, email_confirmed_at = NULL, email_pending = NULL, \
             email_code_hash = NULL, email_code_expires_at = NULL WHERE id = $1",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let ev = Event::new("email.removed", Some(user_id), None, By::User(user_id), client);
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        Ok(())
    })
}

/// Who owns an endpoint: a user, or the organization (administrators).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A user's own events.
    User(i64),
    /// Every user's events (an administrator acts).
    Everyone,
}

impl Owner {
    /// Who acts on an endpoint of this owner: the user, or the
    /// administrator `acting` for the organization's.
    fn actor(self, acting: i64) -> By {
        match self {
            Owner::User(u) => By::User(u),
            Owner::Everyone => By::Admin(Some(acting)),
        }
    }
}

/// Adds an endpoint; returns its id and its signing secret (shown once).
pub async fn add_webhook(
    core: &Core,
    owner: Owner,
    acting: i64,
    url: &str,
    description: &str,
    client: Option<&Client>,
) -> Result<(i64, String), NoticeError> {
    let url = webhooks::check_url(url, core.lifecycle.config.allow_private_webhooks)
        .map_err(|e| NoticeError::Invalid("url", e))?;
    let description = description.trim();
    if description.chars().count() > webhooks::DESCRIPTION_MAX {
        return Err(NoticeError::Invalid(
            "description",
            format!(
                "A description has at most {} characters.",
                webhooks::DESCRIPTION_MAX
            ),
        ));
    }
    if description.chars().any(char::is_control) {
        return Err(NoticeError::Invalid(
            "description",
            "A description has no control characters.".into(),
        ));
    }
    let owner_id = match owner {
        Owner::User(u) => Some(u),
        Owner::Everyone => None,
    };
    let secret = webhooks::new_secret();
    let at = now();
    let by = owner.actor(acting);
    let id = on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM webhooks WHERE user_id = $1 OR ($1 IS NULL AND user_id IS NULL)",
        )
        .bind(owner_id)
        .fetch_one(&mut *tx)
        .await?;
        if count >= webhooks::MAX_PER_OWNER {
            return Err(NoticeError::Invalid(
                "url",
                format!("At most {} webhooks; delete one first.", webhooks::MAX_PER_OWNER),
            ));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO webhooks (user_id, url, description, secret, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(owner_id)
        .bind(url.as_str())
        .bind(description)
        .bind(&secret)
        .bind(at)
        .bind(acting)
        .fetch_one(&mut *tx)
        .await?;
        let ev = Event::new("webhook.created", owner_id, None, by, client)
            .with(json!({"webhook": id, "url": url.as_str(), "for": if owner_id.is_some() { "own events" } else { "every user's events" }}));
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        id
    });
    Ok((id, secret))
}

/// The endpoint `id` if `owner` owns it: (its user id).
async fn owned(core: &Core, owner: Owner, id: i64) -> Result<Option<i64>, NoticeError> {
    let row: Option<(Option<i64>,)> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT user_id FROM webhooks WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    match (row, owner) {
        (Some((Some(u),)), Owner::User(me)) if u == me => Ok(Some(u)),
        (Some((None,)), Owner::Everyone) => Ok(None),
        _ => Err(NoticeError::NotFound),
    }
}

/// Deletes an endpoint (its pending deliveries go with it).
pub async fn delete_webhook(
    core: &Core,
    owner: Owner,
    acting: i64,
    id: i64,
    client: Option<&Client>,
) -> Result<(), NoticeError> {
    let user = owned(core, owner, id).await?;
    let by = owner.actor(acting);
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?;
        let ev = Event::new("webhook.deleted", user, None, by, client).with(json!({"webhook": id}));
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        Ok(())
    })
}

/// Queues a `webhook.test` event for endpoint `id` only.
pub async fn test_webhook(
    core: &Core,
    owner: Owner,
    acting: i64,
    id: i64,
) -> Result<(), NoticeError> {
    owned(core, owner, id).await?;
    // each test is up to eight slow attempts at someone's endpoint: a few an hour
    let key = id.to_string();
    if let Err(wait) = core
        .throttle
        .hit(&[(super::throttle::Door::WebhookTest, &key)])
        .await?
    {
        return Err(NoticeError::TooMany(wait));
    }
    let mut raw = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let nonce: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let notice = Notice {
        key: format!("test:{id}:{nonce}"),
        event: "webhook.test",
        user_id: acting,
        token_id: None,
        subject: "Test event from Tessera".into(),
        body: "This is a test event.".into(),
        data: json!({"webhook": id, "note": "This is a test event sent from the Notifications page."}),
        only_webhook: Some(id),
    };
    notify(core, &notice).await?;
    Ok(())
}

#[derive(sqlx_macros::FromRow)]
struct DeliveryRow {
    id: i64,
    event: String,
    subject: String,
    channel: String,
    target: String,
    state: String,
    attempts: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    next_attempt_at: DateTime<Utc>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(r: DeliveryRow) -> DeliveryView {
        DeliveryView {
            id: r.id,
            event: r.event,
            subject: r.subject,
            channel: r.channel,
            target: r.target,
            state: r.state,
            attempts: r.attempts,
            last_status: r.last_status,
            last_error: r.last_error,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
            next_attempt_at: r.next_attempt_at,
        }
    }
}

/// Deliveries shown per endpoint (and for mail).
pub const LOG_ROWS: i64 = 20;

/// What the Notifications page shows to `user_id`.
pub async fn settings(
    core: &Core,
    user_id: i64,
    is_admin: bool,
) -> Result<NotificationSettings, sqlx::Error> {
    let (email, pending): (Option<String>, Option<String>) =
        on_db!(&core.db, pool => sqlx::query_as(
        "SELECT email, email_pending FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?
        .unwrap_or((None, None));
    let hooks: Vec<(i64, Option<i64>, String, String, DateTime<Utc>)> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT id, user_id, url, description, created_at FROM webhooks \
         WHERE user_id = $1 OR ($2 AND user_id IS NULL) ORDER BY id",
    )
    .bind(user_id)
    .bind(is_admin)
    .fetch_all(pool)
    .await)?;
    const COLUMNS: &str = "d.id, n.event, n.subject, d.channel, d.target, d.state, d.attempts, \
         d.last_status, d.last_error, n.created_at, d.delivered_at, d.next_attempt_at \
         FROM deliveries d JOIN notifications n ON n.id = d.notification_id";
    let mut webhooks = Vec::new();
    let mut global = Vec::new();
    for (id, owner, url, description, created_at) in hooks {
        let rows: Vec<DeliveryRow> = on_db!(&core.db, pool => sqlx::query_as(&format!(
            "SELECT {COLUMNS} WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2"
        ))
        .bind(id)
        .bind(LOG_ROWS)
        .fetch_all(pool)
        .await)?;
        let view = WebhookView {
            id,
            url,
            description,
            created_at,
            global: owner.is_none(),
            deliveries: rows.into_iter().map(Into::into).collect(),
        };
        if owner.is_none() {
            global.push(view);
        } else {
            webhooks.push(view);
        }
    }
    let mail: Vec<DeliveryRow> = on_db!(&core.db, pool => sqlx::query_as(&format!(
        "SELECT {COLUMNS} WHERE n.user_id = $1 AND d.channel = 'mail' ORDER BY d.id DESC LIMIT $2"
    ))
    .bind(user_id)
    .bind(LOG_ROWS)
    .fetch_all(pool)
    .await)?;
    Ok(NotificationSettings {
        mail_enabled: core.lifecycle.mailer.is_some(),
        email,
        email_pending: pending,
        mail_deliveries: mail.into_iter().map(Into::into).collect(),
        webhooks,
        global_webhooks: global,
        is_admin,
    })
}

/// The user's active tokens that expire within `days`: (id, name, expiry).
pub async fn expiring(
    core: &Core,
    user_id: i64,
    days: i64,
) -> Result<Vec<(i64, String, DateTime<Utc>)>, sqlx::Error> {
    let at = now();
    on_db!(&core.db, pool => sqlx::query_as(
        "SELECT id, name, expires_at FROM tokens WHERE user_id = $1 AND revoked_at IS NULL AND parent_id IS NULL \
         AND expires_at > $2 AND expires_at <= $3 ORDER BY expires_at LIMIT 20",
    )
    .bind(user_id)
    .bind(at)
    .bind(at + Span::days(days))
    .fetch_all(pool)
    .await)
}

/// Deletes notifications (and their deliveries) older than 90 days.
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let cutoff = now() - Span::days(90);
    on_db!(db, pool => sqlx::query("DELETE FROM notifications WHERE created_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        let a = network_of("10.1.2.3".parse().unwrap());
        let b = network_of("10.1.2.200".parse().unwrap());
        let c = network_of("10.1.3.3".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a.1, "10.1.2.0/24");
        assert_ne!(a.0, c.0);
        let v6 = network_of("2001:db8:1:2::5".parse().unwrap());
        assert_eq!(v6.1, "2001:db8:1::/48");
        assert_eq!(v6.0, network_of("2001:db8:1:ffff::1".parse().unwrap()).0);
        assert_ne!(v6.0, network_of("2001:db8:2::1".parse().unwrap()).0);
        assert_eq!(network_of("::ffff:10.1.2.3".parse().unwrap()), a);
    }

    #[test]
    fn client_families_are_the_first_product() {
        assert_eq!(client_family("git/2.43.0"), "git");
        assert_eq!(client_family("curl/8.5.0"), "curl");
        assert_eq!(client_family("Mozilla/5.0 (X11)"), "mozilla");
        assert_eq!(client_family(""), "unknown");
        assert_eq!(client_family("\u{1F600}/1"), "unknown");
    }

    #[test]
    fn a_token_falls_in_the_smallest_threshold_at_or_above_its_days_left() {
        let t = [30, 7, 1];
        assert_eq!(threshold(&t, Span::days(40)), None);
        assert_eq!(threshold(&t, Span::days(30)), Some(30));
        assert_eq!(threshold(&t, Span::days(8)), Some(30));
        assert_eq!(threshold(&t, Span::days(6) + Span::hours(1)), Some(7));
        assert_eq!(threshold(&t, Span::hours(3)), Some(1));
    }
}
