//! Token data the page and the API share: the view of a stored token (never
//! its secret), the list query, the add/edit form ([`form`]) and the typed
//! spec every transport parses into, with its rules ([`spec`]).

pub mod form;
pub mod policy;
pub mod reach;
pub mod spec;
pub mod used;

pub use form::TokenForm;
pub use reach::{Networks, Resources};
pub use spec::{end_of_day, Ceiling, Expiry, Limits, TokenInput, TokenSpec};

use crate::scopes::{Scopes, CATALOG};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Field name → message.
pub type FieldErrors = BTreeMap<String, String>;

/// Longest token name, in characters.
pub const NAME_MAX: usize = 64;
/// Longest token description, in characters.
pub const DESCRIPTION_MAX: usize = 256;
/// Expiration presets offered, in days.
pub const EXPIRY_PRESETS: [u32; 6] = [7, 30, 60, 90, 180, 365];
/// An organization a new token may name as its resource owner, with the
/// limits of the tokens it owns (the stricter of its policies and the
/// server's): the create dialog offers only the expirations they allow.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OwnerLimit {
    /// The organization's name.
    pub org: String,
    /// The longest lifetime of its tokens, in days.
    pub max_days: u32,
    /// Its policies that apply to new tokens, in words.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The expiration a new token gets unless another is chosen.
pub const DEFAULT_EXPIRY_DAYS: u32 = 30;
/// Tokens expiring within this many days are flagged in the list.
pub const EXPIRY_WARNING_DAYS: i64 = 7;
/// Rows per page in the list.
pub const PAGE_SIZE: u32 = 50;

/// Where a token is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Works.
    Active,
    /// Past its expiration.
    Expired,
    /// Revoked, for good.
    Revoked,
}

impl Status {
    /// How the status reads in the UI ("Active").
    pub fn label(self) -> &'static str {
        match self {
            Status::Active => "Active",
            Status::Expired => "Expired",
            Status::Revoked => "Revoked",
        }
    }
}

/// A stored token as its owner sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    /// The token's id.
    pub id: i64,
    /// The name its owner gave it.
    pub name: String,
    /// The owner's note on what it is for (may be empty).
    pub description: String,
    /// What the token may do.
    pub scopes: Scopes,
    /// The addresses it works from (empty: anywhere).
    #[serde(default)]
    pub allowed_networks: Networks,
    /// The resources its scopes are limited to, per area (empty: all).
    #[serde(default)]
    pub resources: Resources,
    /// `tsr_` and the first characters of the secret, to tell tokens apart.
    pub hint: String,
    /// When the token was created (or last regenerated).
    pub created_at: DateTime<Utc>,
    /// When the token was last changed: edited, revoked or regenerated.
    pub updated_at: DateTime<Utc>,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// When the token was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the token was last used, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The client address of the last use.
    pub last_used_ip: Option<String>,
    /// The client's user agent at the last use.
    pub last_used_agent: Option<String>,
    /// Who revoked it: `owner`, `admin`, `policy` or `system`.
    pub revoked_by: Option<String>,
    /// Why, when an administrator or the system revoked it.
    pub revoked_reason: Option<String>,
    /// Until when the secret it had before its last rotation still works
    /// (rotation with a grace period).
    #[serde(default)]
    pub previous_valid_until: Option<DateTime<Utc>>,
    /// How often it was presented after it expired or was revoked.
    #[serde(default)]
    pub presented_after_end: i64,
    /// The last such presentation: when, from where, with what.
    #[serde(default)]
    pub last_presented: Option<(DateTime<Utc>, String, String)>,
    /// The policy that blocks it now, if one does (an active token made
    /// before a stricter policy: it does not work until the policy allows it).
    pub blocked: Option<policy::Block>,
    /// What it used in the last 30 days against what it was granted (set
    /// by the list; `None` elsewhere).
    #[serde(default)]
    pub usage: Option<used::UsageReport>,
    /// The token it was derived from, if any.
    #[serde(default)]
    pub parent_id: Option<i64>,
    /// The token that created it through the API, if one did.
    #[serde(default)]
    pub created_by_token: Option<i64>,
    /// Tokens derived from it (filled by the list; children's own
    /// children nested in theirs).
    #[serde(default)]
    pub children: Vec<TokenView>,
    /// The organization that owns what it reaches (its resource owner),
    /// if one does: it reaches only `owner/…` resources, and only while its
    /// maker is a member.
    #[serde(default)]
    pub owner: Option<String>,
    /// `pending` while it waits for an owner of its organization to
    /// approve it (refused until then), `approved` after; `None` when no
    /// approval was needed.
    #[serde(default)]
    pub approval: Option<String>,
    /// The trust rule and workload it was minted for, when a workload
    /// exchanged its ID token for it (such a token is never edited,
    /// extended or given a new secret).
    #[serde(default)]
    pub workload: Option<WorkloadOrigin>,
    /// For a token of a service account: the person who made it (it
    /// belongs to the account, and outlives their leaving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_by: Option<String>,
}

/// Which trust rule minted a token, for which workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadOrigin {
    /// The rule's id.
    pub rule_id: i64,
    /// The workload's `sub` claim.
    pub subject: String,
}

impl TokenView {
    /// The token's status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at <= now {
            Status::Expired
        } else {
            Status::Active
        }
    }

    /// "Revoked by an administrator: REASON" and the like, for a token
    /// someone other than its owner revoked.
    pub fn revoked_note(&self) -> Option<String> {
        let by = match self.revoked_by.as_deref()? {
            "admin" => "an administrator",
            "policy" => "policy",
            "system" => "Tessera",
            "organization" => "an owner of its organization, who denied the request",
            _ => return None,
        };
        Some(
            match self.revoked_reason.as_deref().filter(|r| !r.is_empty()) {
                Some(reason) => format!("Revoked by {by}: {reason}"),
                None => format!("Revoked by {by}."),
            },
        )
    }

    /// Flags the token when it is active but one of `policies` blocks it.
    pub fn apply_policies(&mut self, policies: &policy::Policies, now: DateTime<Utc>) {
        self.blocked = (self.status(now) == Status::Active)
            .then(|| {
                policies.blocks(
                    &self.scopes,
                    self.allowed_networks.is_any(),
                    self.created_at,
                    self.expires_at,
                    self.last_used_at,
                    now,
                )
            })
            .flatten();
    }

    /// True when the token is active and expires within the warning period.
    pub fn expires_soon(&self, now: DateTime<Utc>) -> bool {
        self.status(now) == Status::Active
            && self.expires_at - now <= Duration::days(EXPIRY_WARNING_DAYS)
    }
}

/// A token's secret, returned exactly once: when it is created or regenerated.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSecret {
    /// The token the secret belongs to.
    pub token: TokenView,
    /// The token in the clear; Tessera keeps only its hash.
    pub secret: String,
    /// What the creator should know, e.g. that the allowlist leaves out
    /// the address they are creating it from.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// Query of the token list (all from the URL).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Also list revoked tokens.
    pub include_revoked: bool,
    /// A piece of the name to look for (case-insensitive).
    pub search: String,
    /// The order of the list.
    pub sort: Sort,
    /// 1-based page number.
    pub page: u32,
}

/// Orders of the token list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sort {
    /// Newest first.
    #[default]
    CreatedDesc,
    /// Oldest first.
    CreatedAsc,
    /// By name.
    Name,
    /// Soonest expiry first.
    ExpiresAsc,
    /// Latest expiry first.
    ExpiresDesc,
}

impl Sort {
    /// Every order, as offered in the UI.
    pub const ALL: [Sort; 5] = [
        Sort::CreatedDesc,
        Sort::CreatedAsc,
        Sort::Name,
        Sort::ExpiresAsc,
        Sort::ExpiresDesc,
    ];

    /// The order's URL/API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::CreatedDesc => "created-desc",
            Sort::CreatedAsc => "created-asc",
            Sort::Name => "name",
            Sort::ExpiresAsc => "expires-asc",
            Sort::ExpiresDesc => "expires-desc",
        }
    }

    /// How the order reads in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Sort::CreatedDesc => "Newest first",
            Sort::CreatedAsc => "Oldest first",
            Sort::Name => "Name",
            Sort::ExpiresAsc => "Expires soonest",
            Sort::ExpiresDesc => "Expires latest",
        }
    }

    /// The order named `s`; the default for anything else.
    pub fn parse(s: &str) -> Sort {
        Sort::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .unwrap_or_default()
    }
}

/// One page of a user's token list, with the counts the page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenPage {
    /// The tokens on this page.
    pub items: Vec<TokenView>,
    /// Matching tokens in all pages.
    pub total: u64,
    /// This page's number (1-based).
    pub page: u32,
    /// Number of pages (at least 1).
    pub pages: u32,
    /// Active (not revoked, not expired) tokens of the user, whatever the query.
    pub active_count: u64,
    /// The server's clock when the page was read: statuses and "expires in"
    /// are computed from it, identically on the server and in the browser.
    pub now: DateTime<Utc>,
}

impl TokenPage {
    /// Flags the page's tokens that `book` blocks (an organization's
    /// token by the stricter of its policies and the server's).
    pub fn apply_policies(mut self, book: &policy::PolicyBook) -> TokenPage {
        let now = self.now;
        for t in &mut self.items {
            let policies = book.for_owner(t.owner.as_deref());
            t.apply_policies(policies, now);
        }
        self
    }
}

/// All areas, for building the custom-scope grid.
pub fn catalog() -> &'static [crate::scopes::Area] {
    CATALOG
}
