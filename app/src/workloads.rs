//! Trusted workloads (workload identity federation): rules that let a CI
//! job or a Kubernetes pod trade its own OIDC ID token for a minutes-long
//! Tessera token (RFC 8693 token exchange). The rule as pages, the API and
//! the CLI show it, and the checks a rule's text must pass — plain data,
//! for the server and the browser alike.

use crate::scopes::Scopes;
use crate::tokens::{FieldErrors, Networks, Resources, DESCRIPTION_MAX};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a minted token lives when a rule names nothing, in minutes.
pub const DEFAULT_MINUTES: u32 = 15;
/// The longest a minted token may live, in minutes.
pub const MAX_MINUTES: u32 = 60;
/// Claim conditions a rule may have.
pub const MAX_CONDITIONS: usize = 16;
/// The longest issuer URL or audience.
pub const URL_MAX: usize = 255;
/// The longest claim name.
pub const CLAIM_MAX: usize = 64;
/// The longest condition value.
pub const VALUE_MAX: usize = 255;

/// A trust rule, as it is listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TrustRule {
    /// The rule's id.
    pub id: i64,
    /// The account the minted tokens act as.
    pub user_id: i64,
    /// That account's name.
    pub username: String,
    /// The OIDC issuer whose ID tokens it accepts (`iss`, exactly).
    pub issuer: String,
    /// The audience the ID token must name (`aud`).
    pub audience: String,
    /// Claim → exact value or `*`-glob; every one must match.
    pub conditions: BTreeMap<String, String>,
    /// The most a minted token may do (space-separated scopes).
    pub scopes: String,
    /// Where minted tokens work from (empty: anywhere).
    #[serde(default)]
    pub allowed_networks: Vec<String>,
    /// The resources minted tokens are limited to, per area (empty: all).
    #[serde(default)]
    pub resources: BTreeMap<String, Vec<String>>,
    /// The longest a minted token lives, in minutes.
    pub max_minutes: u32,
    /// What the rule is for.
    pub description: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it (`None`: the admin CLI).
    pub created_by: Option<i64>,
    /// Its minted tokens that are still active.
    #[serde(default)]
    pub active_tokens: i64,
}

/// What Security → Trusted workloads shows: the user's rules and the live
/// tokens they minted (newest first).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadsPage {
    /// The rules, oldest first.
    pub rules: Vec<TrustRule>,
    /// Live minted tokens.
    pub minted: Vec<crate::tokens::TokenView>,
    /// The audience an empty audience stands for (Tessera's public URL).
    pub default_audience: String,
}

/// A rule as someone asks for it; [`RuleSpec::check`] applies the rules.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    /// The issuer URL.
    pub issuer: String,
    /// The audience (empty: Tessera's public URL).
    pub audience: String,
    /// `KEY=VALUE` conditions, as typed.
    pub conditions: Vec<String>,
    /// The most a minted token may do.
    pub scopes: Scopes,
    /// Where minted tokens work from.
    pub networks: Networks,
    /// Resource limits.
    pub resources: Resources,
    /// The longest lifetime in minutes (`None`: [`DEFAULT_MINUTES`]).
    pub max_minutes: Option<u32>,
    /// What the rule is for.
    pub description: String,
}

impl Default for RuleSpec {
    fn default() -> Self {
        RuleSpec {
            issuer: String::new(),
            audience: String::new(),
            conditions: Vec::new(),
            scopes: Scopes::Custom(BTreeMap::new()),
            networks: Networks::default(),
            resources: Resources::default(),
            max_minutes: None,
            description: String::new(),
        }
    }
}

/// A spec that passed [`RuleSpec::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedRule {
    /// The issuer, trimmed.
    pub issuer: String,
    /// The audience.
    pub audience: String,
    /// Claim → pattern.
    pub conditions: BTreeMap<String, String>,
    /// Lifetime in minutes.
    pub max_minutes: u32,
    /// The description, trimmed.
    pub description: String,
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Why `issuer` cannot name an OIDC issuer (`http://` only when
/// `allow_http`), or `None`.
pub fn issuer_problem(issuer: &str, allow_http: bool) -> Option<String> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://").filter(|_| allow_http));
    let Some(rest) = rest else {
        return Some(if issuer.starts_with("http://") {
            "The issuer must be an https:// URL.".into()
        } else {
            "The issuer must be a URL such as https://token.actions.githubusercontent.com.".into()
        });
    };
    let host = rest.split('/').next().unwrap_or("");
    if issuer.chars().count() > URL_MAX {
        Some(format!("The issuer can be at most {URL_MAX} characters."))
    } else if host.is_empty()
        || has_control(issuer)
        || issuer.contains(char::is_whitespace)
        || issuer.contains(['?', '#', '@'])
    {
        Some("The issuer must be a URL with a host and no query, fragment or user name.".into())
    } else {
        None
    }
}

/// Reads `KEY=VALUE` conditions: claim names of letters, digits and
/// `_ . : / -` (a `/` reaches into a nested claim, as in
/// `kubernetes.io/namespace`), values exact or with `*` standing for any
/// run of characters. At least one condition, and at least one that names
/// something (not only `*`): a rule with none would trust every workload
/// of a shared issuer such as GitHub's.
pub fn parse_conditions(items: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            let shown: String = item.chars().take(40).collect();
            return Err(format!(
                "\u{201c}{shown}\u{201d} is not a condition; write it as CLAIM=VALUE, e.g. repository=acme/api."
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let key_ok = (1..=CLAIM_MAX).contains(&key.len())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-'));
        if !key_ok {
            let shown: String = key.chars().take(40).collect();
            return Err(format!("\u{201c}{shown}\u{201d} is not a claim name (letters, digits and _ . : / -, at most {CLAIM_MAX})."));
        }
        if value.is_empty() || value.chars().count() > VALUE_MAX || has_control(value) {
            return Err(format!(
                "The condition on {key} needs a value of 1 to {VALUE_MAX} characters."
            ));
        }
        if out.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(format!("{key} has two conditions; give it one."));
        }
    }
    if out.is_empty() {
        return Err("Give at least one claim condition, e.g. repository=acme/api.".into());
    }
    if out.len() > MAX_CONDITIONS {
        return Err(format!(
            "A rule can have at most {MAX_CONDITIONS} conditions."
        ));
    }
    if out.values().all(|v| v.chars().all(|c| c == '*')) {
        return Err(
            "At least one condition must name something (not only *): without one, every workload of the issuer would be trusted."
                .into(),
        );
    }
    Ok(out)
}

/// True when `value` matches `pattern`, where `*` stands for any run of
/// characters (also none) and everything else is literal: `acme/api`
/// never matches `acme/api-evil`, `refs/heads/*` matches every branch.
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi) = (0, 0);
    // where the last `*` was, and how much of the value it has taken
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl RuleSpec {
    /// Applies the rules to the spec's own fields (the account's limits and
    /// the policies are the service's); `default_audience` stands in for
    /// an empty audience. Every problem is reported at once.
    pub fn check(
        &self,
        default_audience: &str,
        allow_http: bool,
    ) -> Result<CheckedRule, FieldErrors> {
        let mut errors = FieldErrors::new();
        let issuer = self.issuer.trim().to_owned();
        if let Some(p) = issuer_problem(&issuer, allow_http) {
            errors.insert("issuer".into(), p);
        }
        let audience = match self.audience.trim() {
            "" => default_audience.to_owned(),
            a => a.to_owned(),
        };
        if audience.chars().count() > URL_MAX || has_control(&audience) || audience.is_empty() {
            errors.insert(
                "audience".into(),
                format!("The audience must be 1 to {URL_MAX} characters."),
            );
        }
        let conditions = parse_conditions(&self.conditions).unwrap_or_else(|e| {
            errors.insert("conditions".into(), e);
            BTreeMap::new()
        });
        let max_minutes = self.max_minutes.unwrap_or(DEFAULT_MINUTES);
        if !(1..=MAX_MINUTES).contains(&max_minutes) {
            errors.insert(
                "max_minutes".into(),
                format!("Minted tokens live 1 to {MAX_MINUTES} minutes."),
            );
        }
        let description = self.description.trim().to_owned();
        if description.chars().count() > DESCRIPTION_MAX || description.contains('\0') {
            errors.insert(
                "description".into(),
                format!("The description can be at most {DESCRIPTION_MAX} characters."),
            );
        }
        if matches!(&self.scopes, Scopes::Custom(m) if m.is_empty()) {
            errors.insert(
                "scopes".into(),
                "Choose at least one scope for the minted tokens.".into(),
            );
        } else if let Some(p) = self.resources.problem(&self.scopes) {
            errors.insert("resources".into(), p);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CheckedRule {
            issuer,
            audience,
            conditions,
            max_minutes,
            description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_values_only() {
        assert!(glob_matches("acme/api", "acme/api"));
        assert!(!glob_matches("acme/api", "acme/api-evil"));
        assert!(!glob_matches("acme/api", "evil/acme/api"));
        assert!(!glob_matches("refs/heads/main", "refs/heads/main-x"));
        assert!(glob_matches("refs/heads/*", "refs/heads/main-x"));
        assert!(glob_matches(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/api:ref:refs/heads/main"
        ));
        assert!(!glob_matches(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/api:ref:refs/heads/main-x"
        ));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXbYY"));
        assert!(glob_matches("ünï*", "ünïcode"));
        assert!(!glob_matches("", "x"));
    }

    #[test]
    fn conditions_must_name_something() {
        let ok = parse_conditions(&["repository=acme/api".into(), " ref = refs/heads/* ".into()])
            .unwrap();
        assert_eq!(ok["ref"], "refs/heads/*");
        for bad in [
            vec![],
            vec!["repository".to_owned()],
            vec!["repository=".to_owned()],
            vec!["sub=*".to_owned()],
            vec!["sub=**".to_owned(), "ref=*".to_owned()],
            vec!["bad key=x".to_owned()],
            vec!["a=1".to_owned(), "a=2".to_owned()],
            vec![format!("sub={}", "x".repeat(VALUE_MAX + 1))],
            (0..=MAX_CONDITIONS).map(|i| format!("c{i}=v")).collect(),
        ] {
            assert!(parse_conditions(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn issuers_are_https_urls_with_a_host() {
        assert_eq!(
            issuer_problem("https://token.actions.githubusercontent.com", false),
            None
        );
        assert_eq!(issuer_problem("https://gitlab.example.com/", false), None);
        assert!(issuer_problem("http://127.0.0.1:8080", false).is_some());
        assert_eq!(issuer_problem("http://127.0.0.1:8080", true), None);
        for bad in [
            "",
            "https://",
            "ftp://x",
            "https://a b",
            "https://x?y=1",
            "https://u@x",
            "https:///path",
        ] {
            assert!(issuer_problem(bad, true).is_some(), "{bad}");
        }
        assert!(issuer_problem(&format!("https://{}", "a".repeat(300)), false).is_some());
    }

    #[test]
    fn a_spec_reports_every_problem_at_once() {
        let spec = RuleSpec {
            issuer: "ftp://x".into(),
            conditions: vec!["sub=*".into()],
            max_minutes: Some(61),
            ..Default::default()
        };
        let e = spec.check("https://tessera.example", false).unwrap_err();
        for field in ["issuer", "conditions", "max_minutes"] {
            assert!(e.contains_key(field), "{field}: {e:?}");
        }
        let spec = RuleSpec {
            issuer: "https://token.actions.githubusercontent.com".into(),
            conditions: vec!["repository=acme/api".into()],
            scopes: Scopes::parse("code:read").unwrap(),
            ..Default::default()
        };
        let ok = spec.check("https://tessera.example", false).unwrap();
        assert_eq!(ok.audience, "https://tessera.example");
        assert_eq!(ok.max_minutes, DEFAULT_MINUTES);
    }
}
