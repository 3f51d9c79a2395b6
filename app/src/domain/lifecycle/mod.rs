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

mod deliver;
mod email;
mod endpoints;
mod scan;
mod settings;
mod sightings;
mod sql;
mod texts;

pub use deliver::*;
pub use email::*;
pub use endpoints::*;
pub use scan::*;
pub use settings::*;
pub use sightings::*;
pub use texts::*;

/// Operator settings for notices.
#[derive(Clone, Debug)]
pub struct LifecycleConfig {
    /// `smtp://host:port` or `smtps://user:pass@host`; `None`: no mail.
    pub smtp_url: Option<secrecy::SecretString>,
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
        let mailer = config.smtp_url.as_ref().and_then(|url| {
            use secrecy::ExposeSecret;
            let url = url.expose_secret();
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
    TooMany(crate::domain::throttle::RetryAfter),
    /// The store failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// How a page answers each failure of the notification settings.
impl From<NoticeError> for crate::domain::refusal::Refusal {
    fn from(e: NoticeError) -> Self {
        use crate::domain::refusal::Refusal;
        use http::StatusCode;
        match e {
            NoticeError::Invalid(field, message) => Refusal {
                message: None,
                fields: [(field.to_owned(), message)].into(),
                ..Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "")
            },
            NoticeError::NotFound => Refusal::new(StatusCode::NOT_FOUND, e.to_string()),
            NoticeError::TooMany(wait) => Refusal {
                retry_after: Some(wait.seconds()),
                ..Refusal::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
            },
            NoticeError::Database(_) => Refusal::ours(&e),
        }
    }
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
    // a service account's notices go to its people (nobody reads its own)
    let people: Vec<(i64, String, String, Option<String>)> = on_db!(&core.db, pool => sqlx::query_as(
        crate::domain::orgs::sql::SERVICE_NOTICE_RECIPIENTS,
    )
    .bind(n.user_id)
    .fetch_all(pool)
    .await)?;
    if people.is_empty() {
        return notify_one(core, n).await;
    }
    let public = &core.config.public_url;
    let mut made = None;
    for (person, account, org, team) in people {
        let team_words = team
            .as_ref()
            .map(|t| format!(", team {t}"))
            .unwrap_or_default();
        let told = Notice {
            key: format!("{}:{person}", n.key),
            user_id: person,
            subject: format!("[{account} of {org}] {}", n.subject),
            body: format!(
                "About a token of the service account {account} ({org}{team_words}): you are one of its \
                 organization's owners or a member of its team. Its owners manage its tokens on \
                 {public}/profile/security/organizations#service-accounts-{org}\n\n{}",
                n.body
            ),
            data: {
                let mut d = n.data.clone();
                d["service_account"] = json!({"name": account, "organization": org, "team": team});
                d
            },
            ..n.clone()
        };
        if let Some(id) = notify_one(core, &told).await? {
            made = Some(id);
        }
    }
    Ok(made)
}

/// Creates notice `n` for its user and its deliveries.
async fn notify_one(core: &Core, n: &Notice) -> Result<Option<i64>, sqlx::Error> {
    let at = now();
    let mail_on = core.lifecycle.mailer.is_some() && n.only_webhook.is_none();
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        let created: Option<(i64,)> = sqlx::query_as(
            sql::INSERT_NOTIFICATION,
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
                sqlx::query_as(crate::domain::users::EMAIL_IF_ENABLED)
                    .bind(n.user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((Some(email),)) = email {
                targets.push(("mail", None, email));
            }
        }
        let hooks: Vec<(i64, String)> = match n.only_webhook {
            Some(w) => sqlx::query_as(sql::WEBHOOK)
                .bind(w)
                .fetch_all(&mut *tx)
                .await?,
            None => sqlx::query_as(
                sql::WEBHOOKS_FOR_USER,
            )
            .bind(n.user_id)
            .fetch_all(&mut *tx)
            .await?,
        };
        targets.extend(hooks.into_iter().map(|(w, url)| ("webhook", Some(w), url)));
        for (channel, webhook, target) in targets {
            sqlx::query(
                sql::INSERT_DELIVERY,
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

/// Deletes notifications (and their deliveries) older than 90 days.
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let cutoff = now() - Span::days(90);
    on_db!(db, pool => sqlx::query(sql::PRUNE_NOTIFICATIONS)
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
