//! What the Notifications page shows: the address, the endpoints and the
//! last deliveries.

use super::*;

/// A webhook as listed: id, owner (`None`: the organization), URL,
/// description, when it was added.
type HookRow = (i64, Option<i64>, String, String, DateTime<Utc>);

#[derive(sqlx_macros::FromRow)]
pub(super) struct DeliveryRow {
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
        crate::domain::users::EMAILS,
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?
        .unwrap_or((None, None));
    let hooks: Vec<HookRow> = on_db!(&core.db, pool => sqlx::query_as(
        sql::WEBHOOKS_SHOWN,
    )
    .bind(user_id)
    .bind(is_admin)
    .fetch_all(pool)
    .await)?;
    let mut webhooks = Vec::new();
    let mut global = Vec::new();
    for (id, owner, url, description, created_at) in hooks {
        let rows: Vec<DeliveryRow> = on_db!(&core.db, pool => sqlx::query_as(sql::DELIVERIES_OF_WEBHOOK)
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
    let mail: Vec<DeliveryRow> = on_db!(&core.db, pool => sqlx::query_as(sql::MAIL_DELIVERIES_OF_USER)
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
    on_db!(&core.db, pool => sqlx::query_as(crate::domain::tokens::sql::ENDING_OF_USER)
    .bind(user_id)
    .bind(at)
    .bind(at + Span::days(days))
    .fetch_all(pool)
    .await)
}
