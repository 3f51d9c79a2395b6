//! Token data the page and the API share: the view of a stored token (never
//! its secret), the add/edit form as the user sends it, and its validation.

use crate::scopes::{Level, ScopeError, Scopes, CATALOG};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const NAME_MAX: usize = 64;
pub const DESCRIPTION_MAX: usize = 256;
/// Expiration presets offered, in days.
pub const EXPIRY_PRESETS: [u32; 6] = [7, 30, 60, 90, 180, 365];
pub const DEFAULT_EXPIRY_DAYS: u32 = 30;
/// Tokens expiring within this many days are flagged in the list.
pub const EXPIRY_WARNING_DAYS: i64 = 7;
/// Rows per page in the list.
pub const PAGE_SIZE: u32 = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Active,
    Expired,
    Revoked,
}

impl Status {
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
    pub id: i64,
    pub name: String,
    pub description: String,
    pub scopes: Scopes,
    /// `tsr_` and the first characters of the secret, to tell tokens apart.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub last_used_agent: Option<String>,
}

impl TokenView {
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at <= now {
            Status::Expired
        } else {
            Status::Active
        }
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
    pub token: TokenView,
    pub secret: String,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The add/edit form exactly as submitted (all text, so nothing is lost when
/// it is shown again with messages).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A preset number of days, "custom", or (edit only) "keep".
    #[serde(default)]
    pub expiry: String,
    /// `YYYY-MM-DD`, used when `expiry == "custom"`.
    #[serde(default)]
    pub expiry_date: String,
    /// "full" or "custom".
    #[serde(default)]
    pub scope_mode: String,
    /// Area id → "none" | "read" | "write" | "manage".
    #[serde(default)]
    pub levels: BTreeMap<String, String>,
    /// One value per rendered form; a repeated submission is recognised by it.
    #[serde(default)]
    pub form_id: String,
}

impl TokenForm {
    /// The form pre-filled from an existing token (for editing).
    pub fn from_token(t: &TokenView) -> TokenForm {
        let (scope_mode, levels) = match &t.scopes {
            Scopes::Full => ("full".to_string(), BTreeMap::new()),
            Scopes::Custom(map) => (
                "custom".to_string(),
                map.iter()
                    .map(|(a, l)| (a.clone(), l.as_str().to_string()))
                    .collect(),
            ),
        };
        TokenForm {
            name: t.name.clone(),
            description: t.description.clone(),
            expiry: "keep".into(),
            expiry_date: t.expires_at.date_naive().to_string(),
            scope_mode,
            levels,
            form_id: String::new(),
        }
    }

    /// Reads the form from `name=value` pairs (`scope_<area>` for levels).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> TokenForm {
        let mut form = TokenForm::default();
        for (k, v) in pairs {
            match k {
                "name" => form.name = v.to_owned(),
                "description" => form.description = v.to_owned(),
                "expiry" => form.expiry = v.to_owned(),
                "expiry_date" => form.expiry_date = v.to_owned(),
                "scope_mode" => form.scope_mode = v.to_owned(),
                "form_id" => form.form_id = v.to_owned(),
                _ => {
                    if let Some(area) = k.strip_prefix("scope_") {
                        form.levels.insert(area.to_owned(), v.to_owned());
                    }
                }
            }
        }
        form
    }

    pub fn level(&self, area: &str) -> &str {
        self.levels.get(area).map(String::as_str).unwrap_or("none")
    }
}

/// A validated form.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenInput {
    pub name: String,
    pub description: String,
    /// `None` keeps the current expiration (edit only).
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Scopes,
}

/// Field name → message.
pub type FieldErrors = BTreeMap<String, String>;

/// The moment a token chosen to expire on `date` stops working: the end of
/// that day (UTC).
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let t = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    date.and_time(t).and_utc()
}

/// Validates a submitted form against the rules; `editing` allows "keep".
pub fn validate(
    form: &TokenForm,
    now: DateTime<Utc>,
    max_days: u32,
    editing: bool,
) -> Result<TokenInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = form.name.trim().to_owned();
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
    let description = form.description.trim().to_owned();
    let description_len = description.chars().count();
    if description_len > DESCRIPTION_MAX {
        errors.insert(
            "description".into(),
            format!("Description must be at most {DESCRIPTION_MAX} characters (it has {description_len})."),
        );
    }

    let max_expiry = now + Duration::days(i64::from(max_days));
    let expires_at = match form.expiry.trim() {
        "keep" if editing => None,
        "custom" => {
            match NaiveDate::parse_from_str(form.expiry_date.trim(), "%Y-%m-%d") {
                Err(_) => {
                    errors.insert(
                        "expiry_date".into(),
                        "Enter the expiration date as YYYY-MM-DD.".into(),
                    );
                    None
                }
                Ok(date) => {
                    let at = end_of_day(date);
                    if date <= now.date_naive() {
                        errors.insert(
                            "expiry_date".into(),
                            "The expiration date must be after today.".into(),
                        );
                    } else if date > max_expiry.date_naive() {
                        errors.insert(
                        "expiry_date".into(),
                        format!("The expiration date can be at most {max_days} days from today ({}).", max_expiry.date_naive()),
                    );
                    }
                    Some(at.min(max_expiry))
                }
            }
        }
        days => match days.parse::<u32>() {
            Ok(d) if d >= 1 && d <= max_days => Some(now + Duration::days(i64::from(d))),
            Ok(d) if d > max_days => {
                errors.insert(
                    "expiry".into(),
                    format!("Tokens can live at most {max_days} days; {d} is too long."),
                );
                None
            }
            _ => {
                errors.insert("expiry".into(), "Choose an expiration.".into());
                None
            }
        },
    };

    let scopes = match form.scope_mode.as_str() {
        "full" => Some(Scopes::Full),
        "custom" => {
            let mut parts = Vec::new();
            let mut bad = None;
            for (area, level) in &form.levels {
                if level == "none" || level.is_empty() {
                    continue;
                }
                if crate::scopes::area(area).is_none() {
                    bad = Some(ScopeError::UnknownArea(area.clone()).to_string());
                } else if Level::parse(level).is_none() {
                    bad = Some(
                        ScopeError::UnknownLevel {
                            area: area.clone(),
                            level: level.clone(),
                        }
                        .to_string(),
                    );
                } else {
                    parts.push(format!("{area}:{level}"));
                }
            }
            match bad {
                Some(msg) => {
                    errors.insert("scopes".into(), msg);
                    None
                }
                None if parts.is_empty() => {
                    errors.insert(
                        "scopes".into(),
                        "Choose at least one scope, or Full access.".into(),
                    );
                    None
                }
                None => match Scopes::parse(&parts.join(" ")) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        errors.insert("scopes".into(), e.to_string());
                        None
                    }
                },
            }
        }
        _ => {
            errors.insert(
                "scopes".into(),
                "Choose Full access or Custom defined.".into(),
            );
            None
        }
    };

    match scopes {
        Some(scopes) if errors.is_empty() => Ok(TokenInput {
            name,
            description,
            expires_at,
            scopes,
        }),
        _ => Err(errors),
    }
}

/// Query of the token list (all from the URL).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    pub include_revoked: bool,
    pub search: String,
    pub sort: Sort,
    pub page: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sort {
    #[default]
    CreatedDesc,
    CreatedAsc,
    Name,
    ExpiresAsc,
    ExpiresDesc,
}

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::CreatedDesc,
        Sort::CreatedAsc,
        Sort::Name,
        Sort::ExpiresAsc,
        Sort::ExpiresDesc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::CreatedDesc => "created-desc",
            Sort::CreatedAsc => "created-asc",
            Sort::Name => "name",
            Sort::ExpiresAsc => "expires-asc",
            Sort::ExpiresDesc => "expires-desc",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::CreatedDesc => "Newest first",
            Sort::CreatedAsc => "Oldest first",
            Sort::Name => "Name",
            Sort::ExpiresAsc => "Expires soonest",
            Sort::ExpiresDesc => "Expires latest",
        }
    }

    pub fn parse(s: &str) -> Sort {
        Sort::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenPage {
    pub items: Vec<TokenView>,
    /// Matching tokens in all pages.
    pub total: u64,
    pub page: u32,
    pub pages: u32,
    /// Active (not revoked, not expired) tokens of the user, whatever the query.
    pub active_count: u64,
    /// The server's clock when the page was read: statuses and "expires in"
    /// are computed from it, identically on the server and in the browser.
    pub now: DateTime<Utc>,
}

/// All areas, for building the custom-scope grid.
pub fn catalog() -> &'static [crate::scopes::Area] {
    CATALOG
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn form(name: &str, expiry: &str, mode: &str) -> TokenForm {
        TokenForm {
            name: name.into(),
            expiry: expiry.into(),
            scope_mode: mode.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_form_validates() {
        let input = validate(&form("ci", "30", "full"), now(), 365, false).unwrap();
        assert_eq!(input.expires_at, Some(now() + Duration::days(30)));
        assert_eq!(input.scopes, Scopes::Full);
    }

    #[test]
    fn names_descriptions_and_expiry_are_checked() {
        let e = validate(&form("", "30", "full"), now(), 365, false).unwrap_err();
        assert!(e.contains_key("name"));
        let e = validate(&form(&"n".repeat(65), "30", "full"), now(), 365, false).unwrap_err();
        assert!(e["name"].contains("at most 64"));
        let mut f = form("x", "30", "full");
        f.description = "d".repeat(257);
        assert!(validate(&f, now(), 365, false)
            .unwrap_err()
            .contains_key("description"));
        assert!(
            validate(&form("x", "400", "full"), now(), 365, false).unwrap_err()["expiry"]
                .contains("at most 365")
        );
        assert!(validate(&form("x", "0", "full"), now(), 365, false).is_err());
        assert!(validate(&form("x", "keep", "full"), now(), 365, false).is_err());
        assert!(validate(&form("x", "keep", "full"), now(), 365, true)
            .unwrap()
            .expires_at
            .is_none());
    }

    #[test]
    fn custom_dates_must_be_after_today_and_within_the_maximum() {
        let mut f = form("x", "custom", "full");
        f.expiry_date = "2026-11-28".into();
        assert!(validate(&f, now(), 365, false).unwrap_err()["expiry_date"].contains("after today"));
        f.expiry_date = "2027-11-29".into();
        assert!(validate(&f, now(), 365, false).unwrap_err()["expiry_date"].contains("at most 365"));
        f.expiry_date = "2026-12-01".into();
        let at = validate(&f, now(), 365, false).unwrap().expires_at.unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-01T23:59:59+00:00");
        f.expiry_date = "tomorrow".into();
        assert!(validate(&f, now(), 365, false).is_err());
    }

    #[test]
    fn custom_scopes_need_at_least_one_known_area_and_level() {
        let mut f = form("x", "30", "custom");
        assert!(validate(&f, now(), 365, false).unwrap_err()["scopes"].contains("at least one"));
        f.levels.insert("code".into(), "none".into());
        assert!(validate(&f, now(), 365, false).is_err());
        f.levels.insert("code".into(), "write".into());
        f.levels.insert("wiki".into(), "read".into());
        assert_eq!(
            validate(&f, now(), 365, false).unwrap().scopes.to_string(),
            "code:write wiki:read"
        );
        f.levels.insert("nukes".into(), "read".into());
        assert!(validate(&f, now(), 365, false).unwrap_err()["scopes"].contains("nukes"));
        f.levels.remove("nukes");
        f.levels.insert("code".into(), "admin".into());
        assert!(validate(&f, now(), 365, false).unwrap_err()["scopes"].contains("admin"));
        assert!(validate(&form("x", "30", "weird"), now(), 365, false).is_err());
    }
}
