//! The add/edit form as the browser sends it (plain HTML form or the
//! dialog's server function), and its parsing into a [`TokenSpec`].

use super::spec::{Expiry, TokenSpec};
use super::{FieldErrors, Networks, Resources, TokenView};
use crate::scopes::{Level, ScopeError, Scopes};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The add/edit form exactly as submitted (all text, so nothing is lost when
/// it is shown again with messages).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenForm {
    /// The token's name.
    #[serde(default)]
    pub name: String,
    /// Its optional description.
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
    /// Area id → "all" | "only" (resources).
    #[serde(default)]
    pub resource_modes: BTreeMap<String, String>,
    /// Area id → the patterns typed for "Only these" (one per line, or
    /// separated by commas or spaces).
    #[serde(default)]
    pub resources: BTreeMap<String, String>,
    /// The network allowlist as typed (one per line, or separated by
    /// commas or spaces); empty: anywhere.
    #[serde(default)]
    pub allowed_networks: String,
    /// One value per rendered form; a repeated submission is recognised by it.
    #[serde(default)]
    pub form_id: String,
    /// The organization that owns what the token reaches (empty: the
    /// maker's own token). Chosen when the token is made.
    #[serde(default)]
    pub resource_owner: String,
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
        let map = t.resources.map();
        TokenForm {
            name: t.name.clone(),
            description: t.description.clone(),
            expiry: "keep".into(),
            expiry_date: t.expires_at.date_naive().to_string(),
            scope_mode,
            levels,
            resource_modes: map.keys().map(|a| (a.clone(), "only".to_owned())).collect(),
            resources: map.iter().map(|(a, p)| (a.clone(), p.join("\n"))).collect(),
            allowed_networks: t.allowed_networks.strings().join("\n"),
            form_id: String::new(),
            resource_owner: t.owner.clone().unwrap_or_default(),
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
                "allowed_networks" => form.allowed_networks = v.to_owned(),
                "resource_owner" => form.resource_owner = v.to_owned(),
                _ => {
                    if let Some(area) = k.strip_prefix("scope_") {
                        form.levels.insert(area.to_owned(), v.to_owned());
                    } else if let Some(area) = k.strip_prefix("resource_mode_") {
                        form.resource_modes.insert(area.to_owned(), v.to_owned());
                    } else if let Some(area) = k.strip_prefix("resources_") {
                        form.resources.insert(area.to_owned(), v.to_owned());
                    }
                }
            }
        }
        form
    }

    /// The level chosen for `area` ("none" when absent).
    pub fn level(&self, area: &str) -> &str {
        self.levels.get(area).map(String::as_str).unwrap_or("none")
    }

    /// Whether `area` is limited to the resources typed for it.
    pub fn limits_resources(&self, area: &str) -> bool {
        self.resource_modes.get(area).is_some_and(|m| m == "only")
    }

    /// The patterns typed for `area` (empty when none).
    pub fn resource_text(&self, area: &str) -> &str {
        self.resources.get(area).map(String::as_str).unwrap_or("")
    }

    /// The resource limits the form asks for: areas granted a level and
    /// set to "Only these" (with Full access the grid is hidden: none).
    fn chosen_resources(&self, full: bool) -> Resources {
        if full {
            return Resources::default();
        }
        Resources::new(
            crate::scopes::CATALOG
                .iter()
                .filter(|a| self.limits_resources(a.id))
                .filter(|a| !matches!(self.level(a.id), "none" | ""))
                .map(|a| {
                    let patterns = self
                        .resource_text(a.id)
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .map(str::to_owned)
                        .collect();
                    (a.id.to_owned(), patterns)
                })
                .collect(),
        )
    }

    /// Parses the form into a [`TokenSpec`]; what cannot be read gets a
    /// field message (the rules are applied later, by [`TokenSpec::check`]).
    pub fn parse(&self) -> Result<TokenSpec, FieldErrors> {
        let mut errors = FieldErrors::new();
        let expiry = match self.expiry.trim() {
            "keep" => Some(Expiry::Keep),
            "custom" => match NaiveDate::parse_from_str(self.expiry_date.trim(), "%Y-%m-%d") {
                Ok(date) => Some(Expiry::On(date)),
                Err(_) => {
                    errors.insert(
                        "expiry_date".into(),
                        "Enter the expiration date as YYYY-MM-DD.".into(),
                    );
                    None
                }
            },
            days => match days.parse::<u32>() {
                Ok(d) => Some(Expiry::Days(d)),
                // digits, but more days than a u32 holds: too long, not garbage
                Err(_) if !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(Expiry::Days(u32::MAX))
                }
                Err(_) => {
                    errors.insert("expiry".into(), "Choose an expiration.".into());
                    None
                }
            },
        };
        let scopes = match self.scope_mode.as_str() {
            "full" => Ok(Scopes::Full),
            "custom" => self.custom_scopes(),
            _ => Err("Choose Full access or Custom defined.".to_string()),
        };
        let scopes = scopes.map_err(|m| errors.insert("scopes".into(), m)).ok();
        let networks = Networks::parse_text(&self.allowed_networks)
            .map_err(|m| errors.insert("allowed_networks".into(), m))
            .ok();
        match (expiry, scopes, networks) {
            (Some(expiry), Some(scopes), Some(networks)) if errors.is_empty() => Ok(TokenSpec {
                name: self.name.clone(),
                description: self.description.clone(),
                expiry,
                owner: Some(self.resource_owner.trim())
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned),
                resources: self.chosen_resources(scopes.is_full()),
                scopes,
                networks,
            }),
            _ => {
                super::spec::text_rules(&self.name, &self.description, &mut errors);
                Err(errors)
            }
        }
    }

    fn custom_scopes(&self) -> Result<Scopes, String> {
        let mut map = BTreeMap::new();
        for (area, level) in &self.levels {
            if level == "none" || level.is_empty() {
                continue;
            }
            if crate::scopes::area(area).is_none() {
                return Err(ScopeError::UnknownArea(area.clone()).to_string());
            }
            let Some(l) = Level::parse(level) else {
                return Err(ScopeError::UnknownLevel {
                    area: area.clone(),
                    level: level.clone(),
                }
                .to_string());
            };
            map.insert(area.clone(), l);
        }
        if map.is_empty() {
            return Err(ScopeError::Empty.to_string());
        }
        Ok(Scopes::Custom(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(expiry: &str, mode: &str) -> TokenForm {
        TokenForm {
            name: "x".into(),
            expiry: expiry.into(),
            scope_mode: mode.into(),
            ..Default::default()
        }
    }

    #[test]
    fn expiry_reads_as_keep_days_or_a_date() {
        assert_eq!(form("keep", "full").parse().unwrap().expiry, Expiry::Keep);
        assert_eq!(form("30", "full").parse().unwrap().expiry, Expiry::Days(30));
        assert_eq!(
            form("999999999999", "full").parse().unwrap().expiry,
            Expiry::Days(u32::MAX),
            "too many days is a rule error, not a parse error"
        );
        assert!(form("soon", "full").parse().unwrap_err()["expiry"].contains("Choose"));
        let mut nameless = form("soon", "full");
        nameless.name.clear();
        let both = nameless.parse().unwrap_err();
        assert!(
            both.contains_key("expiry") && both.contains_key("name"),
            "every problem at once"
        );
        assert!(form("-3", "full").parse().is_err());
        let mut f = form("custom", "full");
        f.expiry_date = "tomorrow".into();
        assert!(f.parse().unwrap_err().contains_key("expiry_date"));
        f.expiry_date = "2026-12-01".into();
        assert!(matches!(f.parse().unwrap().expiry, Expiry::On(_)));
    }

    #[test]
    fn custom_scopes_need_at_least_one_known_area_and_level() {
        let mut f = form("30", "custom");
        assert!(f.parse().unwrap_err()["scopes"].contains("at least one"));
        f.levels.insert("code".into(), "none".into());
        assert!(f.parse().is_err());
        f.levels.insert("code".into(), "write".into());
        f.levels.insert("wiki".into(), "read".into());
        assert_eq!(
            f.parse().unwrap().scopes.to_string(),
            "code:write wiki:read"
        );
        f.levels.insert("nukes".into(), "read".into());
        assert!(f.parse().unwrap_err()["scopes"].contains("nukes"));
        f.levels.remove("nukes");
        f.levels.insert("code".into(), "admin".into());
        assert!(f.parse().unwrap_err()["scopes"].contains("admin"));
        assert!(form("30", "weird").parse().is_err());
    }

    #[test]
    fn pairs_fill_the_form() {
        let f = TokenForm::from_pairs([
            ("name", "ci"),
            ("scope_mode", "custom"),
            ("scope_code", "read"),
            ("expiry", "7"),
            ("ignored", "x"),
        ]);
        assert_eq!(f.name, "ci");
        assert_eq!(f.level("code"), "read");
        assert_eq!(f.level("wiki"), "none");
        assert_eq!(f.parse().unwrap().expiry, Expiry::Days(7));
    }

    #[test]
    fn networks_and_resources_come_from_their_fields() {
        let f = TokenForm::from_pairs([
            ("name", "ci"),
            ("scope_mode", "custom"),
            ("scope_code", "write"),
            ("scope_wiki", "read"),
            ("resource_mode_code", "only"),
            ("resources_code", "acme/api\r\nacme/web-*"),
            ("resource_mode_wiki", "all"),
            ("resources_wiki", "ignored"),
            ("resource_mode_build", "only"),
            ("resources_build", "not granted"),
            ("allowed_networks", "10.0.0.0/8, 192.0.2.7"),
            ("expiry", "7"),
        ]);
        let spec = f.parse().unwrap();
        assert_eq!(spec.networks.strings(), ["10.0.0.0/8", "192.0.2.7/32"]);
        assert_eq!(spec.resources.describe(), "code: acme/api, acme/web-*");
        let mut bad = f.clone();
        bad.allowed_networks = "10.0.0.0/99".into();
        assert!(bad.parse().unwrap_err()["allowed_networks"].contains("not an IP"));
    }
}
