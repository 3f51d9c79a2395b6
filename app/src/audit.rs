//! Audit events as pages, the API and the CLI show them (the server side
//! that records them is `domain::audit`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One recorded event (a row of `audit_events` with the two names
/// joined, read in `domain::audit`; the API returns it as it is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// The event's id (increasing; the API's cursor).
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened: `token.created`, `session.signed_in`, `admin.user_disabled`…
    pub event: String,
    /// Whose account it concerns (none for organization-wide events).
    pub user_id: Option<i64>,
    /// That account's name.
    pub username: Option<String>,
    /// The token it concerns.
    pub token_id: Option<i64>,
    /// Who acted: `user`, `token`, `admin` or `system`.
    #[cfg_attr(feature = "ssr", schema(pattern = "^(user|token|admin|system)$"))]
    pub actor: String,
    /// The acting person's id (a user acting, or an administrator; none
    /// for the admin CLI and the system).
    pub actor_user_id: Option<i64>,
    /// The acting person's name.
    pub actor_username: Option<String>,
    /// The token that acted (API calls).
    pub actor_token_id: Option<i64>,
    /// The client address.
    pub ip: String,
    /// The client's user agent.
    pub user_agent: String,
    /// The request's id (`X-Request-Id`).
    pub request_id: String,
    /// What changed (`{"scopes": {"before": …, "after": …}}`), reasons:
    /// a JSON object, never a secret.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// Who acted, in words: "you", "alice", "token 12", "an administrator
    /// (CLI)", "Tessera".
    pub fn actor_words(&self, viewer: Option<i64>) -> String {
        match self.actor.as_str() {
            "token" => match self.actor_token_id {
                Some(t) => format!("token {t}"),
                None => "a token".into(),
            },
            "system" => "Tessera".into(),
            "admin" => match &self.actor_username {
                Some(name) => format!("administrator {name}"),
                None => "an administrator (CLI)".into(),
            },
            _ => match (self.actor_user_id, viewer) {
                (Some(a), Some(v)) if a == v => "you".into(),
                _ => self
                    .actor_username
                    .clone()
                    .unwrap_or_else(|| "someone".into()),
            },
        }
    }

    /// The event in a few words for a list: "Token created", "Signed in".
    pub fn label(&self) -> String {
        let known = match self.event.as_str() {
            "token.created" => "Token created",
            "token.edited" => "Token edited",
            "token.regenerated" => "Token regenerated",
            "token.rotated" => "Token rotated",
            "token.reused" => "Old secret presented after rotation",
            "token.revoked" => "Token revoked",
            "token.blocked" => "Token blocked by policy",
            "token.denied" => "Token refused (missing scope)",
            "token.ip_denied" => "Token refused (address not in its allowlist)",
            "token.resource_denied" => "Token refused (resource not allowed)",
            "session.signed_in" => "Signed in",
            "session.sign_in_failed" => "Sign-in failed",
            "session.signed_out" => "Signed out",
            "password.changed" => "Password changed",
            "policy.changed" => "Policy changed",
            "admin.granted" => "Made an administrator",
            "admin.revoked" => "No longer an administrator",
            "admin.user_created" => "Account created by an administrator",
            "admin.user_disabled" => "Account disabled",
            "admin.user_enabled" => "Account enabled",
            "account.created" => "Account created",
            "token.new_network" => "Token used from a new network or client",
            "email.confirmation_sent" => "Confirmation link sent",
            "email.confirmed" => "E-mail address confirmed",
            "email.removed" => "E-mail address removed",
            "webhook.created" => "Webhook added",
            "webhook.deleted" => "Webhook deleted",
            "org.created" => "Organization created",
            "org.member_added" => "Added to an organization",
            "org.role_changed" => "Organization role changed",
            "org.member_removed" => "Removed from an organization",
            "org.team_created" => "Team created",
            "org.team_member_added" => "Added to a team",
            "org.team_member_removed" => "Removed from a team",
            other => return other.to_owned(),
        };
        known.to_owned()
    }

    /// The details as "key: value" phrases ("scopes: code:read → code:write").
    pub fn detail_words(&self) -> String {
        let Some(map) = self.details.as_object() else {
            return String::new();
        };
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        map.iter()
            .map(|(k, v)| match (v.get("before"), v.get("after")) {
                (Some(b), Some(a)) => format!("{k}: {} \u{2192} {}", text(b), text(a)),
                _ => format!("{k}: {}", text(v)),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
