//! The delivery worker: claims due deliveries for a lease, sends each by
//! mail or to its webhook, and retries with backoff for up to a day.

use super::*;

/// Seconds to wait after a failed attempt (then the delivery fails once a
/// day has passed since the notice was made).
pub(super) const BACKOFF: [i64; 8] = [5, 60, 300, 1800, 7200, 18_000, 36_000, 36_000];
/// How long a claimed delivery is another instance's to send.
pub(super) const LEASE: i64 = 120;
/// Deliveries claimed per pass.
pub(super) const BATCH: i64 = 16;

#[derive(sqlx_macros::FromRow)]
pub(super) struct Due {
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
    let claimed: Vec<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(sql::CLAIM)
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
            sql::DUE,
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
pub(super) async fn send(core: &Core, d: &Due) -> (Option<u16>, Option<String>) {
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
pub(super) async fn finish(
    db: &Db,
    d: &Due,
    status: Option<u16>,
    error: Option<String>,
) -> Result<(), sqlx::Error> {
    let at = now();
    let status = status.map(i64::from);
    match error {
        None => on_db!(db, pool => sqlx::query(
            sql::DELIVERED,
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
                sql::FAILED_ATTEMPT,
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
pub(super) const MAX_PASSES: usize = 16;

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
    match audit::claim_job(&core.db, "request_digest", DIGEST_EVERY).await {
        Ok(true) => {
            if let Err(e) = digest_requests(core).await {
                tracing::warn!(error = %e, "could not send the digest of token requests");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not claim the request digest job"),
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
