//! What the Notifications page shows: the e-mail address, the webhooks and
//! their delivery logs (shared by the server and the page).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One attempt to get a notification to a person or a system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// The delivery's id.
    pub id: i64,
    /// The event (`token.expiring`).
    pub event: String,
    /// The notification's subject line.
    pub subject: String,
    /// `mail` or `webhook`.
    pub channel: String,
    /// The address or URL.
    pub target: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last HTTP status (webhooks).
    pub last_status: Option<i64>,
    /// The last error, as the receiver or the network gave it.
    pub last_error: Option<String>,
    /// When the notification was made.
    pub created_at: DateTime<Utc>,
    /// When it arrived.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (pending ones).
    pub next_attempt_at: DateTime<Utc>,
}

impl DeliveryView {
    /// "Delivered", "Retrying (3 attempts)", "Failed after 8 attempts".
    pub fn status_words(&self) -> String {
        let attempts = |n: i64| {
            if n == 1 {
                "1 attempt".to_string()
            } else {
                format!("{n} attempts")
            }
        };
        match self.state.as_str() {
            "delivered" => format!("Delivered ({})", attempts(self.attempts)),
            "failed" => format!("Failed after {}", attempts(self.attempts)),
            _ if self.attempts == 0 => "Waiting".to_string(),
            _ => format!("Retrying ({} so far)", attempts(self.attempts)),
        }
    }
}

/// An endpoint that receives events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    /// The endpoint's id.
    pub id: i64,
    /// Where events are posted.
    pub url: String,
    /// What the owner wrote about it.
    pub description: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// An administrator's endpoint for every user's events.
    pub global: bool,
    /// Its latest deliveries, newest first.
    pub deliveries: Vec<DeliveryView>,
}

/// Everything the Notifications page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationSettings {
    /// The server sends mail (an SMTP server is configured).
    pub mail_enabled: bool,
    /// The confirmed address.
    pub email: Option<String>,
    /// An address waiting for its confirmation link to be followed.
    pub email_pending: Option<String>,
    /// The latest mail deliveries, newest first.
    pub mail_deliveries: Vec<DeliveryView>,
    /// The user's own webhooks.
    pub webhooks: Vec<WebhookView>,
    /// Endpoints for every user's events (shown to administrators).
    pub global_webhooks: Vec<WebhookView>,
    /// The viewer is an administrator.
    pub is_admin: bool,
}
