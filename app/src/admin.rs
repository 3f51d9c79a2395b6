//! What the administration pages, the admin CLI and the API share: accounts
//! and the credentials inventory as administrators see them.

use crate::tokens::{Status, TokenView};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An account as administrators see it (read as it is from
/// `domain::users::ACCOUNTS_LIKE` / `ACCOUNT_BY_KEY`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx_macros::FromRow))]
pub struct UserRow {
    /// The user's id.
    pub id: i64,
    /// The user's name.
    pub username: String,
    /// Whether the user is an administrator.
    pub is_admin: bool,
    /// Whether it is a service account (no password, no sign-in; only
    /// trust rules and tokens).
    pub is_service: bool,
    /// When the account was disabled, if it is.
    pub disabled_at: Option<DateTime<Utc>>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// The user's active tokens.
    pub active_tokens: i64,
    /// How many single sign-on identities the account has.
    #[serde(default)]
    pub identities: i64,
    /// The identity provider made the account (SCIM).
    #[serde(default)]
    pub provisioned: bool,
}

/// Which tokens the inventory lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusFilter {
    /// Active only (the default).
    #[default]
    Active,
    /// Expired only.
    Expired,
    /// Revoked only.
    Revoked,
    /// Every token.
    All,
}

impl StatusFilter {
    /// Reads `active`, `expired`, `revoked` or `all`.
    pub fn parse(s: &str) -> Option<StatusFilter> {
        match s {
            "active" => Some(StatusFilter::Active),
            "expired" => Some(StatusFilter::Expired),
            "revoked" => Some(StatusFilter::Revoked),
            "all" => Some(StatusFilter::All),
            _ => None,
        }
    }

    /// The filter's name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::Expired => "expired",
            StatusFilter::Revoked => "revoked",
            StatusFilter::All => "all",
        }
    }

    /// True when a token with status `s` passes the filter.
    pub fn admits(self, s: Status) -> bool {
        matches!(
            (self, s),
            (StatusFilter::All, _)
                | (StatusFilter::Active, Status::Active)
                | (StatusFilter::Expired, Status::Expired)
                | (StatusFilter::Revoked, Status::Revoked)
        )
    }
}

/// The inventory's filters (all optional).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryFilter {
    /// Tokens of this user only.
    pub user_id: Option<i64>,
    /// Which statuses.
    pub status: StatusFilter,
    /// Tokens whose scopes include this one (`code:write`; `full`: Full
    /// access only).
    pub scope: Option<String>,
    /// Active tokens expiring within this many days.
    pub expiring_days: Option<u32>,
    /// Tokens not used for this many days (never used: since creation).
    pub unused_days: Option<u32>,
    /// Active tokens granted scopes they did not use in the last 30 days.
    #[serde(default)]
    pub overgranted: bool,
}

/// One token in the inventory, with its owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InventoryRow {
    /// The owner's id.
    pub user_id: i64,
    /// The owner's name.
    pub username: String,
    /// The token (never its secret).
    pub token: TokenView,
    /// Its status when it was read.
    pub status: Status,
}
