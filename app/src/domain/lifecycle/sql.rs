//! Every statement on the tables notices use — `notifications`,
//! `deliveries`, `webhooks`, `jobs` and `token_sightings` — whole, as
//! constants, written once for both dialects.

/// The delivery log's rows (a `DeliveryRow`) that match `$where`.
macro_rules! deliveries {
    ($where:literal) => {
        concat!(
            "SELECT d.id, n.event, n.subject, d.channel, d.target, d.state, d.attempts, \
             d.last_status, d.last_error, n.created_at, d.delivered_at, d.next_attempt_at \
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id ",
            $where
        )
    };
}

/// The last `$2` deliveries to webhook `$1`, newest first.
pub const DELIVERIES_OF_WEBHOOK: &str =
    deliveries!("WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2");

/// The last `$2` mails to user `$1`, newest first.
pub const MAIL_DELIVERIES_OF_USER: &str =
    deliveries!("WHERE n.user_id = $1 AND d.channel = 'mail' ORDER BY d.id DESC LIMIT $2");

/// A place (`$2` kind, `$3` value) token `$1` was first seen at `$4`,
/// unless it has `$5` of that kind already or this one is known.
pub const INSERT_SIGHTING: &str = "INSERT INTO token_sightings (token_id, kind, value, first_at) \
             SELECT $1, $2, $3, $4 WHERE (SELECT COUNT(*) FROM token_sightings WHERE token_id = $1 AND kind = $2) < $5 \
             ON CONFLICT DO NOTHING";

/// How many places of kind `$2` token `$1` has been seen at.
pub const SIGHTINGS_OF_KIND: &str =
    "SELECT COUNT(*) FROM token_sightings WHERE token_id = $1 AND kind = $2";

/// The webhooks user `$1` sees: theirs, and the server-wide ones when `$2`.
pub const WEBHOOKS_SHOWN: &str = "SELECT id, user_id, url, description, created_at FROM webhooks \
         WHERE user_id = $1 OR ($2 AND user_id IS NULL) ORDER BY id";

/// The keys of token notices made since `$1`.
pub const NOTIFIED_KEYS: &str = "SELECT key FROM notifications WHERE event IN ('token.expiring', 'token.expired', 'token.presented_after_end') \
         AND created_at >= $1";

/// How far the notifier has read the audit log.
pub const NOTIFIER_POSITION: &str = "SELECT position FROM jobs WHERE name = 'notifier'";

/// The notifier has read the audit log up to `$1` (never backwards).
pub const ADVANCE_NOTIFIER: &str =
    "UPDATE jobs SET position = $1 WHERE name = 'notifier' AND position < $1";

/// A notification, once per key; its id (none when the key was made before).
pub const INSERT_NOTIFICATION: &str =
    "INSERT INTO notifications (key, event, user_id, token_id, created_at, subject, body, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key) DO NOTHING RETURNING id";

/// Webhook `$1`'s id and URL.
pub const WEBHOOK: &str = "SELECT id, url FROM webhooks WHERE id = $1";

/// The webhooks user `$1` is told through: theirs and the server-wide ones.
pub const WEBHOOKS_FOR_USER: &str =
    "SELECT id, url FROM webhooks WHERE user_id = $1 OR user_id IS NULL ORDER BY id";

/// A pending delivery of notification `$1` over `$2` (to webhook `$3`) at
/// `$4`, due at `$5`.
pub const INSERT_DELIVERY: &str = "INSERT INTO deliveries (notification_id, channel, webhook_id, target, state, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)";

/// Notifications made before `$1` are deleted (with their deliveries).
pub const PRUNE_NOTIFICATIONS: &str = "DELETE FROM notifications WHERE created_at < $1";

/// How many webhooks owner `$1` has (`NULL`: the server-wide ones).
pub const WEBHOOKS_OF_OWNER: &str =
    "SELECT COUNT(*) FROM webhooks WHERE user_id = $1 OR ($1 IS NULL AND user_id IS NULL)";

/// A new webhook; its id.
pub const INSERT_WEBHOOK: &str =
    "INSERT INTO webhooks (user_id, url, description, secret, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// The owner of webhook `$1` (`NULL`: server-wide).
pub const WEBHOOK_OWNER: &str = "SELECT user_id FROM webhooks WHERE id = $1";

/// Webhook `$1` is gone (its deliveries keep their target).
pub const DELETE_WEBHOOK: &str = "DELETE FROM webhooks WHERE id = $1";

/// Claims up to `$3` due deliveries (`$2` now) until `$1`, the oldest per
/// channel and target with none of theirs in flight; their ids. The outer
/// conditions repeat the inner ones: on Postgres a row another instance
/// claimed meanwhile is re-checked after its lock and skipped.
pub const CLAIM: &str =
    "UPDATE deliveries SET claimed_until = $1, attempts = attempts + 1 WHERE id IN \
         (SELECT MIN(d.id) FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt_at <= $2 \
          AND (d.claimed_until IS NULL OR d.claimed_until < $2) \
          AND NOT EXISTS (SELECT 1 FROM deliveries busy WHERE busy.channel = d.channel \
               AND busy.target = d.target AND busy.state = 'pending' AND busy.claimed_until >= $2) \
          GROUP BY d.channel, d.target ORDER BY MIN(d.id) LIMIT $3) \
         AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2) \
         RETURNING id";

/// Delivery `$1` with its notification and its webhook's secret.
pub const DUE: &str = "SELECT d.id, d.channel, d.target, d.attempts, n.id AS notification_id, n.event, n.subject, n.body, n.data, \
             n.created_at AS made_at, w.secret \
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
             LEFT JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1";

/// Delivery `$3` delivered at `$1` with status `$2`.
pub const DELIVERED: &str = "UPDATE deliveries SET state = 'delivered', delivered_at = $1, last_status = $2, last_error = NULL, \
             claimed_until = NULL WHERE id = $3";

/// Delivery `$5` failed: state `$1` (`pending` or `failed`), next try at
/// `$2`, status `$3`, error `$4`.
pub const FAILED_ATTEMPT: &str =
    "UPDATE deliveries SET state = $1, next_attempt_at = $2, last_status = $3, last_error = $4, \
                 claimed_until = NULL WHERE id = $5";
