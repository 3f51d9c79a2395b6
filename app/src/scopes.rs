//! The scope catalog and scope sets, Azure DevOps style: areas × levels, a
//! higher level including the lower ones, or Full access. Scope strings are
//! space-separated (OAuth convention): `full`, or `code:write wiki:read`.

use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt};

/// An area a token can be granted: (id, label, what it covers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    /// The area's id, as written in scope strings (`code` in `code:read`).
    pub id: &'static str,
    /// The area's name in the UI.
    pub label: &'static str,
    /// What the area covers, as the UI describes it.
    pub description: &'static str,
}

/// The default catalog. `profile` and `tokens` guard Tessera's own API; the
/// other areas exist for services behind the gateway, which name the scope
/// they need.
pub const CATALOG: &[Area] = &[
    Area {
        id: "code",
        label: "Code",
        description: "Source code, repositories and pull requests",
    },
    Area {
        id: "work_items",
        label: "Work items",
        description: "Work items, boards and queries",
    },
    Area {
        id: "build",
        label: "Build",
        description: "Pipelines, builds and their artifacts",
    },
    Area {
        id: "release",
        label: "Release",
        description: "Releases and deployments",
    },
    Area {
        id: "packaging",
        label: "Packaging",
        description: "Package feeds",
    },
    Area {
        id: "wiki",
        label: "Wiki",
        description: "Wiki pages",
    },
    Area {
        id: "profile",
        label: "Profile",
        description: "Your profile",
    },
    Area {
        id: "tokens",
        label: "Tokens",
        description: "Your personal access tokens",
    },
    Area {
        id: ADMIN_AREA,
        label: "Administration",
        description: "The organization's audit log and tokens (administrators only)",
    },
    Area {
        id: METRICS_AREA,
        label: "Metrics",
        description: "The service's Prometheus metrics, GET /metrics (administrators only)",
    },
    Area {
        id: SCIM_AREA,
        label: "Provisioning",
        description: "SCIM 2.0: the identity provider makes and removes accounts, /scim/v2 (administrators only)",
    },
];

/// The area only administrators may grant (`admin:read`: the audit log
/// of every user through the API).
pub const ADMIN_AREA: &str = "admin";

/// The area for reading `GET /metrics` (`metrics:read`; administrators
/// only).
pub const METRICS_AREA: &str = "metrics";

/// The area of SCIM provisioning (`scim:write`; administrators only): the
/// credential an identity provider uses to make and remove accounts.
pub const SCIM_AREA: &str = "scim";

/// The areas only administrators may grant.
pub const ADMIN_ONLY_AREAS: [&str; 3] = [ADMIN_AREA, METRICS_AREA, SCIM_AREA];

/// The catalog area with the id `id`, if there is one.
pub fn area(id: &str) -> Option<&'static Area> {
    CATALOG.iter().find(|a| a.id == id)
}

/// An access level within an area; each level includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Read access (`read`).
    Read,
    /// Read and write access (`write`).
    Write,
    /// Read, write and manage access (`manage`), the highest level.
    Manage,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 3] = [Level::Read, Level::Write, Level::Manage];

    /// The level's name in scope strings: `read`, `write` or `manage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Manage => "manage",
        }
    }

    /// How the level reads in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Level::Read => "Read",
            Level::Write => "Read & write",
            Level::Manage => "Read, write & manage",
        }
    }

    /// The level named `s` in a scope string, or `None` for any other word.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            "manage" => Some(Level::Manage),
            _ => None,
        }
    }
}

/// What a token may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scopes {
    /// Full access: every area at every level (the scope string `full`).
    Full,
    /// Area id → level; never empty.
    Custom(BTreeMap<String, Level>),
}

/// Why a scope string was refused; the message is shown to the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// No scope was given.
    #[error("Choose at least one scope, or Full access.")]
    Empty,
    /// A scope names an area that is not in the catalog.
    #[error("Unknown scope area \"{0}\".")]
    UnknownArea(String),
    /// A scope names a level other than read, write or manage.
    #[error("Unknown access level \"{level}\" for {area}; use read, write or manage.")]
    UnknownLevel {
        /// The area the level was given for.
        area: String,
        /// The unrecognised level, as written.
        level: String,
    },
    /// A word that is not of the form `area:level`.
    #[error("\"{0}\" is not a scope; write it as area:level, e.g. code:read.")]
    Malformed(String),
    /// `full` was given together with other scopes.
    #[error("Full access cannot be combined with other scopes.")]
    FullWithOthers,
}

impl Scopes {
    /// Reads scopes as the store keeps them; a value that cannot be read
    /// (never written by Tessera) grants nothing.
    pub fn from_stored(s: &str) -> Scopes {
        Scopes::parse(s).unwrap_or_else(|_| Scopes::Custom(Default::default()))
    }

    /// Parses a space-separated scope string. Repeating an area keeps the
    /// highest level named.
    pub fn parse(s: &str) -> Result<Scopes, ScopeError> {
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.is_empty() {
            return Err(ScopeError::Empty);
        }
        if words.contains(&"full") {
            return if words.iter().all(|w| *w == "full") {
                Ok(Scopes::Full)
            } else {
                Err(ScopeError::FullWithOthers)
            };
        }
        let mut map = BTreeMap::new();
        for word in words {
            let (area_id, level) = word
                .split_once(':')
                .ok_or_else(|| ScopeError::Malformed(word.to_owned()))?;
            if area(area_id).is_none() {
                return Err(ScopeError::UnknownArea(area_id.to_owned()));
            }
            let level = Level::parse(level).ok_or_else(|| ScopeError::UnknownLevel {
                area: area_id.to_owned(),
                level: level.to_owned(),
            })?;
            let entry = map.entry(area_id.to_owned()).or_insert(level);
            *entry = (*entry).max(level);
        }
        Ok(Scopes::Custom(map))
    }

    /// True when these scopes include `required` (`area:level`). An unknown
    /// or malformed requirement is never satisfied (except by Full access).
    pub fn allows(&self, required: &str) -> bool {
        match self {
            Scopes::Full => true,
            Scopes::Custom(map) => {
                let Some((area_id, level)) = required.split_once(':') else {
                    return false;
                };
                match (map.get(area_id), Level::parse(level)) {
                    (Some(have), Some(need)) => *have >= need,
                    _ => false,
                }
            }
        }
    }

    /// True when every permission of `other` is also in `self`.
    pub fn covers(&self, other: &Scopes) -> bool {
        match (self, other) {
            (Scopes::Full, _) => true,
            (Scopes::Custom(_), Scopes::Full) => false,
            (Scopes::Custom(mine), Scopes::Custom(theirs)) => theirs
                .iter()
                .all(|(a, l)| mine.get(a).is_some_and(|m| m >= l)),
        }
    }

    /// What both `self` and `other` grant: each area at the lower of the
    /// two levels (an area only one grants is left out).
    pub fn meet(&self, other: &Scopes) -> Scopes {
        match (self, other) {
            (Scopes::Full, s) | (s, Scopes::Full) => s.clone(),
            (Scopes::Custom(a), Scopes::Custom(b)) => Scopes::Custom(
                a.iter()
                    .filter_map(|(area, l)| b.get(area).map(|m| (area.clone(), (*l).min(*m))))
                    .collect(),
            ),
        }
    }

    /// True for Full access.
    pub fn is_full(&self) -> bool {
        matches!(self, Scopes::Full)
    }

    /// True for a reach as wide as Full access: `full`, or every area a
    /// person can grant at `manage`. Actions that yield a secret with such
    /// a reach need sudo mode.
    pub fn is_powerful(&self) -> bool {
        match self {
            Scopes::Full => true,
            Scopes::Custom(map) => CATALOG
                .iter()
                .filter(|a| !ADMIN_ONLY_AREAS.contains(&a.id))
                .all(|a| map.get(a.id) == Some(&Level::Manage)),
        }
    }

    /// The level granted in the area `area_id` (`Manage` under Full access),
    /// or `None` when the area is not granted.
    pub fn level(&self, area_id: &str) -> Option<Level> {
        match self {
            Scopes::Full => Some(Level::Manage),
            Scopes::Custom(map) => map.get(area_id).copied(),
        }
    }

    /// A short human summary for lists: "Full access" or "Code (read & write), Wiki (read)".
    pub fn summary(&self) -> String {
        match self {
            Scopes::Full => "Full access".into(),
            Scopes::Custom(map) => map
                .iter()
                .map(|(a, l)| {
                    let label = area(a).map(|a| a.label).unwrap_or(a.as_str());
                    format!("{label} ({})", l.label().to_lowercase())
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// True when `required` (`admin:read`) names an area only administrators'
/// tokens may use, whatever else they were granted (Full access included).
pub fn is_admin_only(required: &str) -> bool {
    let area = required.split_once(':').map_or(required, |(a, _)| a);
    ADMIN_ONLY_AREAS.contains(&area)
}

/// Every scope that satisfies `required` (`code:write`), narrowest first:
/// its level and the higher ones in its area, then `full` (what an API
/// refusal names in `X-Tessera-Accepted-Scopes`, as GitHub's
/// `X-Accepted-OAuth-Scopes` does). Only `required` itself when it is not
/// an `area:level` of the catalog.
pub fn accepted(required: &str) -> Vec<String> {
    match parse_required(required) {
        Ok((area, level)) => Level::ALL
            .iter()
            .filter(|l| **l >= level)
            .map(|l| format!("{}:{}", area.id, l.as_str()))
            .chain(std::iter::once("full".to_owned()))
            .collect(),
        Err(_) => vec![required.to_owned()],
    }
}

/// The longest required scope a caller may name (`work_items:manage` is 17).
pub const REQUIRED_MAX: usize = 64;

/// Reads one required scope as a gateway or an endpoint names it
/// (`code:read`): a catalog area and a level, nothing else. The error is
/// the sentence for the caller.
pub fn parse_required(text: &str) -> Result<(&'static Area, Level), ScopeError> {
    let text = text.trim();
    let shown = || text.chars().take(REQUIRED_MAX).collect::<String>();
    if text.len() > REQUIRED_MAX {
        return Err(ScopeError::Malformed(shown()));
    }
    let Some((area_id, level)) = text.split_once(':') else {
        return Err(ScopeError::Malformed(shown()));
    };
    let found = area(area_id).ok_or_else(|| ScopeError::UnknownArea(area_id.to_owned()))?;
    let level = Level::parse(level).ok_or_else(|| ScopeError::UnknownLevel {
        area: area_id.to_owned(),
        level: level.to_owned(),
    })?;
    Ok((found, level))
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scopes::Full => f.write_str("full"),
            Scopes::Custom(map) => {
                let parts: Vec<String> = map
                    .iter()
                    .map(|(a, l)| format!("{a}:{}", l.as_str()))
                    .collect();
                f.write_str(&parts.join(" "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_scopes_are_the_required_level_and_above_then_full() {
        assert_eq!(
            accepted("code:write"),
            ["code:write", "code:manage", "full"]
        );
        assert_eq!(
            accepted("tokens:read"),
            ["tokens:read", "tokens:write", "tokens:manage", "full"]
        );
        // each one accepted really satisfies it
        for s in accepted("wiki:read") {
            assert!(Scopes::parse(&s).unwrap().allows("wiki:read"), "{s}");
        }
        assert_eq!(accepted("nope"), ["nope"]);
    }

    #[test]
    fn parses_and_prints_scope_strings() {
        assert_eq!(Scopes::parse("full").unwrap(), Scopes::Full);
        let s = Scopes::parse("wiki:read code:write code:read").unwrap();
        assert_eq!(s.to_string(), "code:write wiki:read");
        assert_eq!(Scopes::parse(""), Err(ScopeError::Empty));
        assert_eq!(
            Scopes::parse("nope:read"),
            Err(ScopeError::UnknownArea("nope".into()))
        );
        assert!(matches!(
            Scopes::parse("code:admin"),
            Err(ScopeError::UnknownLevel { .. })
        ));
        assert!(matches!(
            Scopes::parse("code"),
            Err(ScopeError::Malformed(_))
        ));
        assert_eq!(
            Scopes::parse("full code:read"),
            Err(ScopeError::FullWithOthers)
        );
    }

    #[test]
    fn higher_levels_include_lower_ones() {
        let s = Scopes::parse("code:manage wiki:read").unwrap();
        assert!(s.allows("code:read") && s.allows("code:write") && s.allows("code:manage"));
        assert!(s.allows("wiki:read") && !s.allows("wiki:write"));
        assert!(!s.allows("build:read") && !s.allows("garbage"));
        assert!(Scopes::Full.allows("tokens:manage"));
    }

    #[test]
    fn powerful_is_full_or_every_area_at_manage() {
        assert!(Scopes::Full.is_powerful());
        let every: Vec<String> = CATALOG
            .iter()
            .filter(|a| !ADMIN_ONLY_AREAS.contains(&a.id))
            .map(|a| format!("{}:manage", a.id))
            .collect();
        assert!(Scopes::parse(&every.join(" ")).unwrap().is_powerful());
        let mut one_less = every.clone();
        one_less[0] = one_less[0].replace(":manage", ":write");
        assert!(!Scopes::parse(&one_less.join(" ")).unwrap().is_powerful());
        assert!(!Scopes::parse("code:manage").unwrap().is_powerful());
    }

    #[test]
    fn required_scopes_are_one_known_area_and_level() {
        assert_eq!(parse_required("code:read").unwrap().1, Level::Read);
        assert_eq!(parse_required(" admin:read ").unwrap().0.id, "admin");
        for bad in [
            "",
            "code",
            "code:",
            "nope:read",
            "code:admin",
            "code:read wiki:read",
        ] {
            assert!(parse_required(bad).is_err(), "{bad}");
        }
        let huge = format!("i{}", "x".repeat(6000));
        match parse_required(&huge) {
            Err(ScopeError::Malformed(shown)) => assert!(shown.len() <= REQUIRED_MAX),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn coverage_compares_scope_sets() {
        let big = Scopes::parse("code:manage wiki:write").unwrap();
        assert!(big.covers(&Scopes::parse("code:read wiki:write").unwrap()));
        assert!(!big.covers(&Scopes::parse("wiki:manage").unwrap()));
        assert!(!big.covers(&Scopes::Full));
        assert!(Scopes::Full.covers(&big));
    }
}
