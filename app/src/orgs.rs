//! Organizations as the pages show them: the visitor's organizations,
//! their members and teams, and (for owners) the approval requests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One approval request: a token waiting for an owner of its organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx_macros::FromRow))]
pub struct RequestView {
    /// The request's id.
    pub id: i64,
    /// The token waiting for it.
    pub token_id: i64,
    /// The token's name.
    pub token_name: String,
    /// Who asked (the token's maker).
    pub requester: String,
    /// The scopes asked for.
    pub scopes: String,
    /// The resource limits asked for (stored form: JSON area → patterns;
    /// empty: all of the organization's).
    pub resources: String,
    /// Why (the token's description).
    pub justification: String,
    /// `pending`, `approved`, `denied` or `withdrawn`.
    pub state: String,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// The owner's reason.
    pub reason: Option<String>,
    /// When the token ends.
    pub expires_at: DateTime<Utc>,
}

/// A team as the Organizations page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamView {
    /// Its id (what the page's form ids are made of).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The identity provider group it follows, if any.
    pub idp_group: Option<String>,
    /// Its members' names.
    pub members: Vec<String>,
}

/// One of the visitor's organizations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrgView {
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// The visitor's role: `owner` or `member`.
    pub role: String,
    /// Members and their roles, by name.
    pub members: Vec<(String, String)>,
    /// Its teams, by name.
    pub teams: Vec<TeamView>,
    /// Pending requests (owners only; empty for members).
    pub requests: Vec<RequestView>,
    /// Its policies, every key (`none`: not set).
    pub policies: Vec<(String, String)>,
    /// Its audit log, newest first (owners only; empty for members).
    pub audit: Vec<crate::audit::AuditEvent>,
    /// Its service accounts (owners only).
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccount>,
    /// Their live tokens, by account and name (owners only).
    #[serde(default)]
    pub service_tokens: Vec<ServiceToken>,
}

/// A service account of an organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx_macros::FromRow))]
pub struct ServiceAccount {
    /// Its user id.
    pub id: i64,
    /// Its name (a username: what a gateway sees as the user).
    pub username: String,
    /// The team it belongs to, if any.
    pub team: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A live token of a service account, as its organization's page and API
/// show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceToken {
    /// The service account it belongs to.
    pub account: String,
    /// The token (`made_by`: who made it).
    #[serde(flatten)]
    pub token: crate::tokens::TokenView,
}

/// Every policy an organization sets, as pages and the CLI list them:
/// `approval_required_for`, then the server-wide keys about tokens.
pub const POLICY_KEYS: [&str; 9] = {
    use crate::tokens::policy::ORG_KEYS as K;
    [
        "approval_required_for",
        K[0],
        K[1],
        K[2],
        K[3],
        K[4],
        K[5],
        K[6],
        K[7],
    ]
};

/// The Organizations page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrgsPage {
    /// The visitor's organizations, by name.
    pub orgs: Vec<OrgView>,
}
