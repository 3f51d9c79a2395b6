//! The organization's token policies: set by administrators, stored in the
//! database, applied on create, edit and regenerate (a field error naming
//! the policy), and at every use of a token made before a stricter policy
//! (the token is blocked, not revoked, so loosening the policy brings it
//! back).

use crate::scopes::Scopes;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The policies in force. The default imposes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policies {
    /// The longest lifetime a token may have, in days.
    pub max_lifetime_days: Option<u32>,
    /// Tokens may not have Full access.
    pub forbid_full_access: bool,
    /// The most a token may be granted: area → highest level.
    pub allowed_scopes: Option<Scopes>,
    /// Active tokens a user may have at once.
    pub max_active_tokens_per_user: Option<u32>,
    /// A token unused for this many days stops working.
    pub inactive_days: Option<u32>,
    /// A secret rotated out and presented again revokes the token's
    /// current secret too (off by default: chain revocation on reuse broke
    /// people's automation elsewhere).
    #[serde(default)]
    pub revoke_on_reuse: bool,
    /// Tokens that can write or manage must have a network allowlist.
    #[serde(default)]
    pub require_allowlist_for_write: bool,
    /// The only OIDC issuers trust rules may name (`None`: any).
    #[serde(default)]
    pub allowed_workload_issuers: Option<Vec<String>>,
    /// People sign in through the organization's identity provider (OIDC):
    /// the password form is refused for everyone but administrators (their
    /// break-glass way in).
    #[serde(default)]
    pub sso_required: bool,
    /// People without a second factor (a passkey or an authenticator
    /// app; single sign-on counts as the provider's) may only add one, and
    /// make no tokens until they have.
    #[serde(default)]
    pub require_two_factor: bool,
}

/// The policy keys, as `tessera admin policy set KEY VALUE` and the API
/// name them.
pub const KEYS: [&str; 10] = [
    MAX_LIFETIME_DAYS,
    FORBID_FULL_ACCESS,
    ALLOWED_SCOPES,
    MAX_ACTIVE_TOKENS_PER_USER,
    INACTIVE_DAYS,
    REVOKE_ON_REUSE,
    REQUIRE_ALLOWLIST_FOR_WRITE,
    REQUIRE_TWO_FACTOR,
    // the last two govern signing in and trust rules: server-wide only
    ALLOWED_WORKLOAD_ISSUERS,
    SSO_REQUIRED,
];
/// Key: the longest lifetime, in days.
pub const MAX_LIFETIME_DAYS: &str = "max_lifetime_days";
/// Key: no Full access.
pub const FORBID_FULL_ACCESS: &str = "forbid_full_access";
/// Key: the most a token may be granted.
pub const ALLOWED_SCOPES: &str = "allowed_scopes";
/// Key: active tokens per user.
pub const MAX_ACTIVE_TOKENS_PER_USER: &str = "max_active_tokens_per_user";
/// Key: days of disuse after which a token stops working.
pub const INACTIVE_DAYS: &str = "inactive_days";
/// Key: reuse of a rotated-out secret revokes the token.
pub const REVOKE_ON_REUSE: &str = "revoke_on_reuse";
/// Key: tokens that can write or manage need a network allowlist.
pub const REQUIRE_ALLOWLIST_FOR_WRITE: &str = "require_allowlist_for_write";
/// Key: the issuers trust rules may name (space-separated URLs).
pub const ALLOWED_WORKLOAD_ISSUERS: &str = "allowed_workload_issuers";
/// Key: only administrators sign in with a password; everyone else through
/// single sign-on.
pub const SSO_REQUIRED: &str = "sso_required";
/// Key: a second factor before anything else, and before any token.
pub const REQUIRE_TWO_FACTOR: &str = "require_two_factor";

/// The keys an organization sets for the tokens it owns: the server-wide
/// ones about tokens (`sso_required` and `allowed_workload_issuers` govern
/// signing in and trust rules, which belong to no organization).
pub const ORG_KEYS: &[&str] = KEYS.split_at(8).0;

/// The server's policies and each organization's, as last read: a token
/// an organization owns is held to the stricter of the two, key by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyBook {
    /// The server-wide policies (every token).
    pub server: Policies,
    /// Organization name → (its own policies, the stricter of those and
    /// the server's).
    orgs: HashMap<String, (Policies, Policies)>,
}

impl PolicyBook {
    /// The book of `server` and each organization's own policies.
    pub fn new(server: Policies, orgs: impl IntoIterator<Item = (String, Policies)>) -> Self {
        let orgs = orgs
            .into_iter()
            .map(|(name, own)| {
                let both = server.stricter(&own);
                (name, (own, both))
            })
            .collect();
        PolicyBook { server, orgs }
    }

    /// The policies a token owned by `owner` (an organization's name, or
    /// `None` for a person's token) is held to.
    pub fn for_owner(&self, owner: Option<&str>) -> &Policies {
        owner
            .and_then(|o| self.orgs.get(o))
            .map_or(&self.server, |(_, both)| both)
    }

    /// Organization `org`'s own policies, if it set any.
    pub fn own(&self, org: &str) -> Option<&Policies> {
        self.orgs.get(org).map(|(own, _)| own)
    }
}

/// The server's policies (what applies to every token).
impl std::ops::Deref for PolicyBook {
    type Target = Policies;
    fn deref(&self) -> &Policies {
        &self.server
    }
}

/// The policy key `name` as a static string (`derived_from` for a derived
/// token's ancestor; anything else: `policy`).
pub fn policy_key(name: &str) -> &'static str {
    KEYS.iter()
        .copied()
        .find(|k| *k == name)
        .unwrap_or(match name {
            "derived_from" => "derived_from",
            "organization_membership" => "organization_membership",
            "approval_pending" => "approval_pending",
            _ => "policy",
        })
}

/// What a policy says about a token that breaks it: the policy's key and
/// a phrase for "Blocked by policy: …".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The policy's key (`forbid_full_access`).
    pub policy: String,
    /// What is wrong, in words ("full access is not allowed").
    pub reason: String,
}

impl Block {
    fn new(policy: &str, reason: String) -> Block {
        Block {
            policy: policy.into(),
            reason,
        }
    }

    /// The sentence a page and an API error show.
    pub fn sentence(&self) -> String {
        format!("Blocked by policy: {}.", self.reason)
    }
}

/// Values that clear a policy.
fn is_off(value: &str) -> bool {
    matches!(value, "" | "none" | "off" | "unset" | "false" | "0")
}

fn days(key: &str, value: &str) -> Result<Option<u32>, String> {
    if is_off(value) {
        return Ok(None);
    }
    match value.parse::<u32>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{key} must be a number of days from 1 to 3650, or \"none\"."
        )),
    }
}

impl Policies {
    /// Sets the policy `key` from its text form (`none`, `off` or an empty
    /// value clears it). The error is a sentence for the person who typed it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let value = value.trim();
        match key {
            MAX_LIFETIME_DAYS => self.max_lifetime_days = days(key, value)?,
            INACTIVE_DAYS => self.inactive_days = days(key, value)?,
            MAX_ACTIVE_TOKENS_PER_USER => {
                self.max_active_tokens_per_user = if is_off(value) {
                    None
                } else {
                    match value.parse::<u32>() {
                        Ok(n) if (1..=100_000).contains(&n) => Some(n),
                        _ => {
                            return Err(format!(
                                "{key} must be a number from 1 to 100000, or \"none\"."
                            ))
                        }
                    }
                }
            }
            FORBID_FULL_ACCESS
            | REVOKE_ON_REUSE
            | REQUIRE_ALLOWLIST_FOR_WRITE
            | SSO_REQUIRED
            | REQUIRE_TWO_FACTOR => {
                let on = match value {
                    "true" | "yes" | "on" | "1" => true,
                    "false" | "no" | "off" | "0" | "none" | "" => false,
                    _ => return Err(format!("{key} must be true or false.")),
                };
                match key {
                    FORBID_FULL_ACCESS => self.forbid_full_access = on,
                    REVOKE_ON_REUSE => self.revoke_on_reuse = on,
                    SSO_REQUIRED => self.sso_required = on,
                    REQUIRE_TWO_FACTOR => self.require_two_factor = on,
                    _ => self.require_allowlist_for_write = on,
                }
            }
            ALLOWED_WORKLOAD_ISSUERS => {
                self.allowed_workload_issuers = if is_off(value) {
                    None
                } else {
                    let mut issuers: Vec<String> = Vec::new();
                    for issuer in value
                        .split([' ', ',', '\n', '\t'])
                        .filter(|s| !s.is_empty())
                    {
                        if let Some(p) = crate::workloads::issuer_problem(issuer, true) {
                            return Err(format!("{key}: {p}"));
                        }
                        if !issuers.iter().any(|i| i == issuer) {
                            issuers.push(issuer.to_owned());
                        }
                    }
                    if issuers.len() > 50 {
                        return Err(format!("{key} can name at most 50 issuers."));
                    }
                    Some(issuers)
                }
            }
            ALLOWED_SCOPES => {
                self.allowed_scopes = if is_off(value) || value == "full" {
                    None
                } else {
                    Some(Scopes::parse(value).map_err(|e| format!("{key}: {e}"))?)
                }
            }
            _ => {
                return Err(format!(
                    "There is no policy \u{201c}{key}\u{201d}; the policies are {}.",
                    KEYS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// The policy `key` in its text form (`none` when it imposes nothing).
    pub fn get(&self, key: &str) -> String {
        let n = |v: Option<u32>| v.map_or_else(|| "none".to_owned(), |n| n.to_string());
        match key {
            MAX_LIFETIME_DAYS => n(self.max_lifetime_days),
            INACTIVE_DAYS => n(self.inactive_days),
            MAX_ACTIVE_TOKENS_PER_USER => n(self.max_active_tokens_per_user),
            FORBID_FULL_ACCESS => self.forbid_full_access.to_string(),
            REVOKE_ON_REUSE => self.revoke_on_reuse.to_string(),
            REQUIRE_ALLOWLIST_FOR_WRITE => self.require_allowlist_for_write.to_string(),
            SSO_REQUIRED => self.sso_required.to_string(),
            REQUIRE_TWO_FACTOR => self.require_two_factor.to_string(),
            ALLOWED_WORKLOAD_ISSUERS => self
                .allowed_workload_issuers
                .as_ref()
                .map_or_else(|| "none".to_owned(), |i| i.join(" ")),
            ALLOWED_SCOPES => self
                .allowed_scopes
                .as_ref()
                .map_or_else(|| "none".to_owned(), ToString::to_string),
            _ => String::new(),
        }
    }

    /// Every policy as (key, text form), in [`KEYS`] order.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        KEYS.iter().map(|k| (*k, self.get(k))).collect()
    }

    /// Builds the policies from stored (key, value) rows; a row that no
    /// longer parses (a key dropped since) is skipped.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Policies {
        let mut p = Policies::default();
        for (k, v) in rows {
            let _ = p.set(k, v);
        }
        p
    }

    /// The stricter of these (the server's) and `org`'s, key by key: the
    /// shorter lifetime and idle limit, what both allow, either's
    /// requirements. `max_active_tokens_per_user` stays the server's: an
    /// organization's cap counts the tokens it owns, apart.
    pub fn stricter(&self, org: &Policies) -> Policies {
        let least = |a: Option<u32>, b: Option<u32>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Policies {
            max_lifetime_days: least(self.max_lifetime_days, org.max_lifetime_days),
            forbid_full_access: self.forbid_full_access || org.forbid_full_access,
            allowed_scopes: match (&self.allowed_scopes, &org.allowed_scopes) {
                (Some(a), Some(b)) => Some(a.meet(b)),
                (a, b) => a.clone().or_else(|| b.clone()),
            },
            max_active_tokens_per_user: self.max_active_tokens_per_user,
            inactive_days: least(self.inactive_days, org.inactive_days),
            revoke_on_reuse: self.revoke_on_reuse || org.revoke_on_reuse,
            require_allowlist_for_write: self.require_allowlist_for_write
                || org.require_allowlist_for_write,
            allowed_workload_issuers: self.allowed_workload_issuers.clone(),
            sso_required: self.sso_required,
            require_two_factor: self.require_two_factor || org.require_two_factor,
        }
    }

    /// Why a trust rule may not name `issuer`, or `None` when it may.
    pub fn issuer_problem(&self, issuer: &str) -> Option<String> {
        match &self.allowed_workload_issuers {
            Some(allowed) if !allowed.iter().any(|a| a == issuer) => Some(format!(
                "Your organization's policy ({ALLOWED_WORKLOAD_ISSUERS}) allows trust rules only for {}.",
                allowed.join(", ")
            )),
            _ => None,
        }
    }

    /// The policy `scopes` break, as (key, field message), if any.
    pub fn scope_problem(&self, scopes: &Scopes) -> Option<(&'static str, String)> {
        if self.forbid_full_access && scopes.is_full() {
            return Some((
                FORBID_FULL_ACCESS,
                "Full access is not allowed by your organization's policy (forbid_full_access); choose the scopes the token needs.".into(),
            ));
        }
        if let Some(allowed) = &self.allowed_scopes {
            if !allowed.covers(scopes) {
                let shown = allowed.to_string();
                return Some((
                    ALLOWED_SCOPES,
                    if shown.is_empty() {
                        NO_SCOPES_ALLOWED.to_owned()
                    } else {
                        format!(
                            "Your organization's policy (allowed_scopes) allows at most: {shown}."
                        )
                    },
                ));
            }
        }
        None
    }

    /// The policy a token with `scopes` and no network allowlist (when
    /// `anywhere`) breaks, as (key, field message), if any.
    pub fn network_problem(
        &self,
        scopes: &Scopes,
        anywhere: bool,
    ) -> Option<(&'static str, String)> {
        (self.require_allowlist_for_write && anywhere && super::reach::can_write(scopes)).then(|| {
            (
                REQUIRE_ALLOWLIST_FOR_WRITE,
                "Your organization's policy (require_allowlist_for_write) requires a network allowlist for tokens that can write or manage: add the addresses or ranges it will be used from.".to_owned(),
            )
        })
    }

    /// Why a token with these properties is blocked at `now`, if it is:
    /// the first policy it breaks. `anywhere`: it has no network allowlist.
    #[allow(clippy::too_many_arguments)]
    pub fn blocks(
        &self,
        scopes: &Scopes,
        anywhere: bool,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        last_used_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<Block> {
        if self.forbid_full_access && scopes.is_full() {
            return Some(Block::new(
                FORBID_FULL_ACCESS,
                "full access is not allowed".into(),
            ));
        }
        if let Some(allowed) = &self.allowed_scopes {
            if !allowed.covers(scopes) {
                return Some(Block::new(
                    ALLOWED_SCOPES,
                    format!("only {allowed} may be granted"),
                ));
            }
        }
        if self.network_problem(scopes, anywhere).is_some() {
            return Some(Block::new(
                REQUIRE_ALLOWLIST_FOR_WRITE,
                "tokens that can write need a network allowlist".into(),
            ));
        }
        if let Some(max) = self.max_lifetime_days {
            // what is left of its life, so that creating, editing and
            // using a token agree; a day of slack for dates chosen on a
            // form (they end at the end of their day)
            if expires_at - now > Duration::days(i64::from(max) + 1) {
                return Some(Block::new(
                    MAX_LIFETIME_DAYS,
                    format!("tokens may live at most {max} days"),
                ));
            }
        }
        if let Some(idle) = self.inactive_days {
            let since = last_used_at.unwrap_or(created_at);
            if now - since > Duration::days(i64::from(idle)) {
                return Some(Block::new(
                    INACTIVE_DAYS,
                    format!("not used for more than {idle} days"),
                ));
            }
        }
        None
    }
}

/// What the scope policies say when the server's and an organization's
/// `allowed_scopes` have nothing in common.
pub const NO_SCOPES_ALLOWED: &str = "No scope may be granted here: the server's and the organization's policies (allowed_scopes) have none in common. Ask an administrator or the organization's owners.";

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn policies_round_trip_through_their_text_form() {
        let mut p = Policies::default();
        for (k, v) in [
            (MAX_LIFETIME_DAYS, "90"),
            (FORBID_FULL_ACCESS, "true"),
            (ALLOWED_SCOPES, "code:write wiki:read"),
            (MAX_ACTIVE_TOKENS_PER_USER, "10"),
            (INACTIVE_DAYS, "60"),
            (REVOKE_ON_REUSE, "true"),
            (REQUIRE_ALLOWLIST_FOR_WRITE, "true"),
        ] {
            p.set(k, v).unwrap();
            assert_eq!(p.get(k), v);
        }
        let back = Policies::from_rows(p.entries().iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(back, p);
        for k in KEYS {
            p.set(k, "none").unwrap();
        }
        assert_eq!(p, Policies::default());
    }

    #[test]
    fn lists_with_nothing_in_common_say_so() {
        let server = Policies::from_rows([("allowed_scopes", "code:read")]);
        let org = Policies::from_rows([("allowed_scopes", "packaging:read")]);
        let both = server.stricter(&org);
        let (key, message) = both
            .scope_problem(&Scopes::parse("code:read").unwrap())
            .expect("nothing is allowed");
        assert_eq!(key, ALLOWED_SCOPES);
        assert_eq!(message, NO_SCOPES_ALLOWED);
        let (_, message) = server
            .scope_problem(&Scopes::parse("code:write").unwrap())
            .expect("more than allowed");
        assert!(message.ends_with("at most: code:read."), "{message}");
    }

    #[test]
    fn bad_values_are_refused_with_a_sentence() {
        let mut p = Policies::default();
        assert!(p
            .set("nope", "1")
            .unwrap_err()
            .contains("max_lifetime_days"));
        assert!(p
            .set(MAX_LIFETIME_DAYS, "-3")
            .unwrap_err()
            .contains("1 to 3650"));
        assert!(p.set(MAX_LIFETIME_DAYS, "99999").is_err());
        assert!(p.set(FORBID_FULL_ACCESS, "maybe").is_err());
        assert!(p.set(ALLOWED_SCOPES, "code:admin").is_err());
        assert!(p.set(MAX_ACTIVE_TOKENS_PER_USER, "ten").is_err());
        assert_eq!(p, Policies::default(), "nothing changed");
    }

    #[test]
    fn tokens_that_break_a_policy_are_blocked_and_say_why() {
        let now = at("2026-12-01T00:00:00Z");
        let created = at("2026-11-01T00:00:00Z");
        let expires = at("2027-11-01T00:00:00Z");
        let code = Scopes::parse("code:write").unwrap();
        let blocked_by = |p: &Policies| {
            p.blocks(&code, true, created, expires, None, now)
                .map(|b| b.policy)
                .unwrap_or_default()
        };
        let none = Policies::default();
        assert_eq!(
            none.blocks(&Scopes::Full, true, created, expires, None, now),
            None
        );
        let p = Policies {
            forbid_full_access: true,
            ..Default::default()
        };
        let b = p
            .blocks(&Scopes::Full, true, created, expires, None, now)
            .unwrap();
        assert_eq!(
            b.sentence(),
            "Blocked by policy: full access is not allowed."
        );
        assert_eq!(p.blocks(&code, true, created, expires, None, now), None);
        let p = Policies {
            allowed_scopes: Some(Scopes::parse("code:read").unwrap()),
            ..Default::default()
        };
        assert_eq!(blocked_by(&p), ALLOWED_SCOPES);
        let p = Policies {
            max_lifetime_days: Some(90),
            ..Default::default()
        };
        assert_eq!(blocked_by(&p), MAX_LIFETIME_DAYS);
        assert_eq!(
            p.blocks(
                &code,
                true,
                created,
                created + Duration::days(90),
                None,
                now
            ),
            None
        );
        let p = Policies {
            inactive_days: Some(20),
            ..Default::default()
        };
        assert_eq!(blocked_by(&p), INACTIVE_DAYS);
        let used = Some(at("2026-11-25T00:00:00Z"));
        assert_eq!(p.blocks(&code, true, created, expires, used, now), None);
        let p = Policies {
            require_allowlist_for_write: true,
            ..Default::default()
        };
        let b = p.blocks(&code, true, created, expires, None, now).unwrap();
        assert_eq!(b.policy, REQUIRE_ALLOWLIST_FOR_WRITE);
        assert_eq!(
            p.blocks(&code, false, created, expires, None, now),
            None,
            "it has one"
        );
        let read = Scopes::parse("code:read").unwrap();
        assert_eq!(
            p.blocks(&read, true, created, expires, None, now),
            None,
            "read only"
        );
        assert!(p
            .network_problem(&Scopes::Full, true)
            .unwrap()
            .1
            .contains("require_allowlist_for_write"));
    }

    #[test]
    fn an_organization_token_is_held_to_the_stricter_of_both() {
        let mut server = Policies::default();
        server.set(MAX_LIFETIME_DAYS, "90").unwrap();
        server.set(ALLOWED_SCOPES, "code:write wiki:read").unwrap();
        server.set(MAX_ACTIVE_TOKENS_PER_USER, "50").unwrap();
        let mut org = Policies::default();
        org.set(MAX_LIFETIME_DAYS, "400").unwrap();
        org.set(INACTIVE_DAYS, "30").unwrap();
        org.set(ALLOWED_SCOPES, "code:manage packaging:read")
            .unwrap();
        org.set(FORBID_FULL_ACCESS, "true").unwrap();
        org.set(MAX_ACTIVE_TOKENS_PER_USER, "2").unwrap();
        let book = PolicyBook::new(server.clone(), [("acme".to_owned(), org.clone())]);
        assert_eq!(book.for_owner(None), &server);
        assert_eq!(book.for_owner(Some("other")), &server);
        let both = book.for_owner(Some("acme"));
        assert_eq!(both.max_lifetime_days, Some(90), "the server's is shorter");
        assert_eq!(both.inactive_days, Some(30), "only the organization's");
        assert!(both.forbid_full_access);
        assert_eq!(both.get(ALLOWED_SCOPES), "code:write", "what both allow");
        assert_eq!(
            both.max_active_tokens_per_user,
            Some(50),
            "an organization's cap is counted apart"
        );
        assert_eq!(
            book.own("acme").unwrap().max_active_tokens_per_user,
            Some(2)
        );
        assert_eq!(
            book.revoke_on_reuse, server.revoke_on_reuse,
            "derefs to the server's"
        );
        // stricter is symmetric where it can be, and idempotent
        assert_eq!(both.stricter(&org).stricter(&server), both.clone());
        // the organization's keys: every token key but the two about
        // signing in and trust rules
        assert_eq!(ORG_KEYS.len(), 8);
        for key in ORG_KEYS {
            assert!(KEYS.contains(key));
        }
        assert!(!ORG_KEYS.contains(&SSO_REQUIRED) && !ORG_KEYS.contains(&ALLOWED_WORKLOAD_ISSUERS));
    }

    #[test]
    fn scope_problems_name_the_policy() {
        let p = Policies {
            forbid_full_access: true,
            allowed_scopes: Some(Scopes::parse("code:read").unwrap()),
            ..Default::default()
        };
        assert_eq!(
            p.scope_problem(&Scopes::Full).unwrap().0,
            FORBID_FULL_ACCESS
        );
        let (key, msg) = p
            .scope_problem(&Scopes::parse("code:write").unwrap())
            .unwrap();
        assert_eq!(key, ALLOWED_SCOPES);
        assert!(msg.contains("code:read"));
        assert_eq!(p.scope_problem(&Scopes::parse("code:read").unwrap()), None);
    }
}
