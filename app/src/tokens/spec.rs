//! One typed description of what a token should be ([`TokenSpec`]), whatever
//! transport asked for it (HTML form, server function, JSON body), and the
//! one function that applies the rules to it ([`TokenSpec::check`]): lengths,
//! lifetime, the operator's maximum and the caller's own limits.

use super::{
    policy::Policies, FieldErrors, Networks, Resources, TokenView, DESCRIPTION_MAX, NAME_MAX,
};
use crate::scopes::Scopes;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

/// When a token should stop working, as asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Keep the current expiration (edits only).
    Keep,
    /// This many days from now.
    Days(u32),
    /// At the end of this day (UTC).
    On(NaiveDate),
    /// This many minutes from now (derived tokens: one hour by default).
    Minutes(u32),
    /// The default lifetime when a caller names none (the API's create):
    /// [`super::DEFAULT_EXPIRY_DAYS`] days, shortened to what a policy allows
    /// and to the calling token's own end.
    Default,
}

/// A token's settings as a caller asks for them: parsed, not yet checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSpec {
    /// Display name (trimmed by the rules).
    pub name: String,
    /// Optional free text (trimmed by the rules).
    pub description: String,
    /// When it should expire.
    pub expiry: Expiry,
    /// What it may do.
    pub scopes: Scopes,
    /// Where from (empty: anywhere).
    pub networks: Networks,
    /// On which resources, per area (empty: all).
    pub resources: Resources,
    /// The organization that owns what the token reaches (its resource
    /// owner, as on GitHub): the token reaches only that organization's
    /// resources (`acme/…`), and only while its maker is a member. `None`:
    /// the maker's own token.
    pub owner: Option<String>,
}

impl TokenSpec {
    /// The current settings of `t`, keeping its expiration: the base an edit
    /// that names only some fields starts from.
    pub fn of(t: &TokenView) -> TokenSpec {
        TokenSpec {
            name: t.name.clone(),
            description: t.description.clone(),
            expiry: Expiry::Keep,
            scopes: t.scopes.clone(),
            networks: t.allowed_networks.clone(),
            resources: t.resources.clone(),
            owner: t.owner.clone(),
        }
    }
}

/// What bounds a token besides its own fields.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The clock the rules are applied at.
    pub now: DateTime<Utc>,
    /// The operator's maximum lifetime, in days.
    pub max_days: u32,
    /// The caller's own limits when a token acts through the API.
    pub ceiling: Option<Ceiling>,
    /// The organization's policies.
    pub policy: Policies,
}

impl Limits {
    /// The longest lifetime allowed, in days, and whether a policy (rather
    /// than the operator's flag) sets it.
    pub fn lifetime(&self) -> (u32, bool) {
        match self.policy.max_lifetime_days {
            Some(p) if p < self.max_days => (p, true),
            _ => (self.max_days, false),
        }
    }
}

/// The most a caller may hand out: its own scopes, expiry, networks and
/// resources.
#[derive(Clone, Debug, PartialEq)]
pub struct Ceiling {
    /// The calling token's scopes.
    pub scopes: Scopes,
    /// The calling token's expiry.
    pub expires_at: DateTime<Utc>,
    /// The calling token's allowlist.
    pub networks: Networks,
    /// The calling token's resource limits.
    pub resources: Resources,
    /// The calling token's resource owner: what it makes has the same one.
    pub owner: Option<String>,
}

impl Ceiling {
    /// True when a caller with these limits may create, change or act on a
    /// token with `scopes`.
    pub fn covers(&self, scopes: &Scopes) -> bool {
        self.scopes.covers(scopes)
    }
}

/// Why a spec breaks the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broken {
    /// Field name → message.
    Fields(FieldErrors),
    /// The scopes go beyond what the caller itself has (its scopes, shown).
    BeyondCaller(String),
}

/// A spec that passed the rules, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenInput {
    /// Trimmed name.
    pub name: String,
    /// Trimmed description.
    pub description: String,
    /// `None` keeps the current expiration (edit only).
    pub expires_at: Option<DateTime<Utc>>,
    /// What the token may do.
    pub scopes: Scopes,
    /// Where from (empty: anywhere).
    pub networks: Networks,
    /// On which resources (empty: all).
    pub resources: Resources,
}

/// The moment a token chosen to expire on `date` stops working: the end of
/// that day (UTC).
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let t = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    date.and_time(t).and_utc()
}

/// `now` plus `days`, or `None` past the calendar's end.
pub fn days_from(now: DateTime<Utc>, days: i64) -> Option<DateTime<Utc>> {
    now.checked_add_signed(Duration::try_days(days)?)
}

/// The name and description rules; returns both trimmed. Field messages
/// go into `errors`. (Also run on a form that failed to parse, so every
/// problem is reported at once.)
pub fn text_rules(name: &str, description: &str, errors: &mut FieldErrors) -> (String, String) {
    let name = name.trim().to_owned();
    let name_len = name.chars().count();
    if name.is_empty() {
        errors.insert("name".into(), "Enter a name for the token.".into());
    } else if name_len > NAME_MAX {
        errors.insert(
            "name".into(),
            format!("Name must be at most {NAME_MAX} characters (it has {name_len})."),
        );
    } else if name.chars().any(char::is_control) {
        errors.insert(
            "name".into(),
            "Name must not contain control characters.".into(),
        );
    }
    let description = description.trim().to_owned();
    let description_len = description.chars().count();
    if description_len > DESCRIPTION_MAX {
        errors.insert(
            "description".into(),
            format!("Description must be at most {DESCRIPTION_MAX} characters (it has {description_len})."),
        );
    } else if description
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.insert(
            "description".into(),
            "Description must not contain control characters other than line breaks and tabs."
                .into(),
        );
    }
    (name, description)
}

impl TokenSpec {
    /// Applies every rule; the one check all transports go through.
    /// `Expiry::Keep` is accepted only when `editing`.
    pub fn check(&self, limits: &Limits, editing: bool) -> Result<TokenInput, Broken> {
        if let Some(c) = &limits.ceiling {
            if !c.covers(&self.scopes) {
                return Err(Broken::BeyondCaller(c.scopes.to_string()));
            }
        }
        let mut errors = FieldErrors::new();
        let (name, description) = text_rules(&self.name, &self.description, &mut errors);
        let expires_at = self.expiry_rule(limits, editing, &mut errors);
        if let Some((_, problem)) = limits.policy.scope_problem(&self.scopes) {
            errors.insert("scopes".into(), problem);
        }
        if let Some((_, problem)) = limits
            .policy
            .network_problem(&self.scopes, self.networks.is_any())
        {
            errors.insert("allowed_networks".into(), problem);
        }
        if let Some(problem) = self.resources.problem(&self.scopes) {
            errors.insert("resources".into(), problem);
        }
        if let Some(owner) = self
            .owner
            .as_deref()
            .filter(|o| !super::reach::owner_name_ok(o))
        {
            let shown: String = owner.chars().filter(|c| !c.is_control()).take(40).collect();
            errors.insert(
                "resource_owner".into(),
                format!("You are not a member of an organization named \u{201c}{shown}\u{201d}."),
            );
        } else if let Some(owner) = &self.owner {
            let outside = self
                .resources
                .map()
                .values()
                .flatten()
                .find(|p| p.split('/').next() != Some(owner.as_str()) || !p.contains('/'));
            if let Some(p) = outside {
                let shown: String = p.chars().take(60).collect();
                errors.entry("resources".into()).or_insert(format!(
                    "A token owned by {owner} reaches only {owner}'s resources: write patterns under {owner}/ (\u{201c}{shown}\u{201d} is not)."
                ));
            }
        }
        if let Some(c) = &limits.ceiling {
            if !self.networks.within(&c.networks) {
                errors.entry("allowed_networks".into()).or_insert(
                    format!(
                        "A token cannot work from more places than the token that makes it: allow only addresses within {}.",
                        c.networks.strings().join(", ")
                    ),
                );
            }
            if c.owner.is_some() && self.owner != c.owner {
                let owner = c.owner.as_deref().unwrap_or_default();
                errors.insert(
                    "resource_owner".into(),
                    format!("A token owned by {owner} can only make tokens owned by {owner}."),
                );
            }
            if !self.resources.within(&self.scopes, &c.resources) {
                errors.entry("resources".into()).or_insert(format!(
                    "A token cannot reach more resources than the token that makes it ({}).",
                    c.resources.describe()
                ));
            }
        }
        if errors.is_empty() {
            Ok(TokenInput {
                name,
                description,
                expires_at,
                scopes: self.scopes.clone(),
                networks: self.networks.clone(),
                resources: self.resources.clone(),
            })
        } else {
            Err(Broken::Fields(errors))
        }
    }

    fn expiry_rule(
        &self,
        limits: &Limits,
        editing: bool,
        errors: &mut FieldErrors,
    ) -> Option<DateTime<Utc>> {
        let now = limits.now;
        let (max_days, by_policy) = limits.lifetime();
        let at_most = if by_policy {
            format!("Your organization's policy (max_lifetime_days) allows tokens to live at most {max_days} days")
        } else {
            format!("Tokens can live at most {max_days} days")
        };
        let max_expiry = days_from(now, i64::from(max_days)).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let (at, field) = match self.expiry {
            Expiry::Keep if editing => return None,
            Expiry::Keep => {
                errors.insert("expiry".into(), "Choose an expiration.".into());
                return None;
            }
            Expiry::Days(0) => {
                errors.insert("expiry".into(), "Choose an expiration.".into());
                return None;
            }
            Expiry::Days(d) if d > max_days => {
                errors.insert("expiry".into(), format!("{at_most}; {d} is too long."));
                return None;
            }
            Expiry::Days(d) => (days_from(now, i64::from(d))?, "expiry"),
            Expiry::Default => {
                let days = super::DEFAULT_EXPIRY_DAYS.min(max_days);
                let mut at = days_from(now, i64::from(days))?;
                if let Some(c) = &limits.ceiling {
                    at = at.min(c.expires_at);
                }
                (at, "expiry")
            }
            Expiry::Minutes(0) => {
                errors.insert("expiry".into(), "Choose an expiration.".into());
                return None;
            }
            Expiry::Minutes(m) => {
                let at = now.checked_add_signed(Duration::try_minutes(i64::from(m))?)?;
                if at > max_expiry {
                    errors.insert(
                        "expiry".into(),
                        format!("{at_most}; {m} minutes is too long."),
                    );
                    return None;
                }
                (at, "expiry")
            }
            Expiry::On(date) => {
                if date <= now.date_naive() {
                    errors.insert(
                        "expiry_date".into(),
                        "The expiration date must be after today.".into(),
                    );
                    return None;
                }
                if date > max_expiry.date_naive() {
                    errors.insert(
                        "expiry_date".into(),
                        if by_policy {
                            format!(
                                "{at_most}: choose a date on or before {}.",
                                max_expiry.date_naive()
                            )
                        } else {
                            format!(
                                "The expiration date can be at most {max_days} days from today ({}).",
                                max_expiry.date_naive()
                            )
                        },
                    );
                    return None;
                }
                (end_of_day(date).min(max_expiry), "expiry_date")
            }
        };
        if let Some(c) = limits.ceiling.as_ref().filter(|c| at > c.expires_at) {
            errors.insert(
                field.into(),
                format!(
                    "A token cannot outlive the token that makes it: choose an expiration on or before {}.",
                    c.expires_at.date_naive()
                ),
            );
            return None;
        }
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn limits() -> Limits {
        Limits {
            now: now(),
            max_days: 365,
            ceiling: None,
            policy: Policies::default(),
        }
    }

    fn spec(name: &str, expiry: Expiry) -> TokenSpec {
        TokenSpec {
            name: name.into(),
            description: String::new(),
            expiry,
            scopes: Scopes::Full,
            networks: Networks::default(),
            owner: None,
            resources: Resources::default(),
        }
    }

    fn fields(r: Result<TokenInput, Broken>) -> FieldErrors {
        match r {
            Err(Broken::Fields(f)) => f,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_good_spec_passes() {
        let input = spec(" ci ", Expiry::Days(30))
            .check(&limits(), false)
            .unwrap();
        assert_eq!(input.name, "ci");
        assert_eq!(input.expires_at, Some(now() + Duration::days(30)));
    }

    #[test]
    fn names_descriptions_and_lifetimes_are_checked() {
        assert!(fields(spec("", Expiry::Days(30)).check(&limits(), false)).contains_key("name"));
        let long = fields(spec(&"n".repeat(65), Expiry::Days(30)).check(&limits(), false));
        assert!(long["name"].contains("at most 64"));
        let ctl = fields(spec("a\u{7}b", Expiry::Days(30)).check(&limits(), false));
        assert!(ctl["name"].contains("control"));
        let mut s = spec("x", Expiry::Days(30));
        s.description = "d".repeat(257);
        assert!(fields(s.check(&limits(), false)).contains_key("description"));
        let too_long = fields(spec("x", Expiry::Days(400)).check(&limits(), false));
        assert!(too_long["expiry"].contains("at most 365"));
        let huge = fields(spec("x", Expiry::Days(u32::MAX)).check(&limits(), false));
        assert!(huge["expiry"].contains("too long"));
        assert!(spec("x", Expiry::Days(0)).check(&limits(), false).is_err());
        assert!(spec("x", Expiry::Keep).check(&limits(), false).is_err());
        let kept = spec("x", Expiry::Keep).check(&limits(), true).unwrap();
        assert_eq!(kept.expires_at, None);
    }

    #[test]
    fn dates_must_be_after_today_and_within_the_maximum() {
        let date = |s: &str| Expiry::On(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        let today = fields(spec("x", date("2026-11-28")).check(&limits(), false));
        assert!(today["expiry_date"].contains("after today"));
        let far = fields(spec("x", date("2027-11-29")).check(&limits(), false));
        assert!(far["expiry_date"].contains("at most 365"));
        let ok = spec("x", date("2026-12-01"))
            .check(&limits(), false)
            .unwrap();
        assert_eq!(
            ok.expires_at.unwrap().to_rfc3339(),
            "2026-12-01T23:59:59+00:00"
        );
        let end = fields(spec("x", Expiry::On(NaiveDate::MAX)).check(&limits(), false));
        assert!(end.contains_key("expiry_date"));
    }

    #[test]
    fn an_organization_token_reaches_only_that_organizations_resources() {
        let mut s = spec("x", Expiry::Days(7));
        s.scopes = Scopes::parse("code:write").unwrap();
        s.owner = Some("acme".into());
        let with = |patterns: &[&str]| {
            let mut s = s.clone();
            s.resources = Resources::new(
                [(
                    "code".to_owned(),
                    patterns.iter().map(|p| p.to_string()).collect(),
                )]
                .into(),
            );
            s.check(&limits(), false)
        };
        assert!(
            s.check(&limits(), false).is_ok(),
            "no patterns: all of acme"
        );
        assert!(with(&["acme/api", "acme/web-*"]).is_ok());
        for outside in ["acme", "acme-corp/api", "*/api", "acm*/api", "other/acme"] {
            let f = fields(with(&["acme/api", outside]));
            assert!(f["resources"].contains("under acme/"), "{outside}: {f:?}");
        }
        // a token owned by acme makes only tokens owned by acme
        let mut l = limits();
        l.ceiling = Some(Ceiling {
            scopes: Scopes::parse("code:write tokens:manage").unwrap(),
            expires_at: now() + Duration::days(30),
            networks: Networks::default(),
            resources: Resources::default(),
            owner: Some("acme".into()),
        });
        assert!(s.check(&l, false).is_ok());
        let mut mine = s.clone();
        mine.owner = None;
        assert!(fields(mine.check(&l, false))["resource_owner"]
            .contains("only make tokens owned by acme"));
        mine.owner = Some("other".into());
        assert!(fields(mine.check(&l, false)).contains_key("resource_owner"));
    }

    #[test]
    fn a_caller_cannot_hand_out_more_than_it_has() {
        let mut l = limits();
        l.ceiling = Some(Ceiling {
            scopes: Scopes::parse("code:write tokens:manage").unwrap(),
            expires_at: now() + Duration::days(30),
            networks: Networks::parse(["10.0.0.0/8"]).unwrap(),
            resources: Resources::new([("code".to_owned(), vec!["acme/*".to_owned()])].into()),
            owner: None,
        });
        let mut s = spec("x", Expiry::Days(7));
        s.scopes = Scopes::parse("code:read").unwrap();
        let f = fields(s.check(&l, false));
        assert!(f["allowed_networks"].contains("within 10.0.0.0/8"), "{f:?}");
        assert!(f["resources"].contains("code: acme/*"), "{f:?}");
        s.networks = Networks::parse(["10.1.0.0/16"]).unwrap();
        s.resources = Resources::new([("code".to_owned(), vec!["acme/api".to_owned()])].into());
        assert!(s.check(&l, false).is_ok());
        s.scopes = Scopes::parse("tokens:read").unwrap();
        s.resources = Resources::default();
        assert!(
            s.check(&l, false).is_ok(),
            "no code scope: nothing to limit"
        );
        s.scopes = Scopes::parse("code:manage").unwrap();
        assert!(matches!(s.check(&l, false), Err(Broken::BeyondCaller(_))));
        s.scopes = Scopes::Full;
        assert!(matches!(s.check(&l, false), Err(Broken::BeyondCaller(_))));
        s.scopes = Scopes::parse("code:read").unwrap();
        s.resources = Resources::new([("code".to_owned(), vec!["acme/api".to_owned()])].into());
        s.expiry = Expiry::Days(90);
        assert!(fields(s.check(&l, false))["expiry"].contains("outlive"));
        s.expiry = Expiry::Keep;
        assert!(s.check(&l, true).is_ok(), "keeping an expiry is fine");
    }

    #[test]
    fn policies_are_named_in_the_field_errors() {
        let mut l = limits();
        l.policy.max_lifetime_days = Some(90);
        l.policy.forbid_full_access = true;
        let f = fields(spec("x", Expiry::Days(120)).check(&l, false));
        assert!(f["expiry"].contains("policy (max_lifetime_days)"), "{f:?}");
        assert!(f["expiry"].contains("at most 90 days"));
        assert!(f["scopes"].contains("forbid_full_access"));
        let date = Expiry::On(NaiveDate::parse_from_str("2027-06-01", "%Y-%m-%d").unwrap());
        let f = fields(spec("x", date).check(&l, false));
        assert!(f["expiry_date"].contains("max_lifetime_days"));
        let mut ok = spec("x", Expiry::Days(90));
        ok.scopes = Scopes::parse("code:read").unwrap();
        assert!(ok.check(&l, false).is_ok());
        l.policy.max_lifetime_days = Some(400);
        assert_eq!(l.lifetime(), (365, false), "the operator's flag still caps");
    }
}
