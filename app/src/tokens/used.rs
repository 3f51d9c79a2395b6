//! What a token actually used, against what it was granted: the report
//! behind "Used in the last 30 days: code:read on acme/api. Never used:
//! code:write, build:read" and **Narrow to what was used**.

use super::reach::{pattern_problem, Resources, MAX_PATTERNS, OWN_AREAS};
use crate::scopes::{Level, Scopes, CATALOG};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The window the report looks at, in days.
pub const WINDOW_DAYS: i64 = 30;

/// One recorded use: the scope a request needed and the resource it named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeUse {
    /// `area:level`, as the route or gateway required it.
    pub scope: String,
    /// The resource the request named, if any.
    pub resource: Option<String>,
    /// The last such use.
    pub last_used_at: DateTime<Utc>,
}

/// One area's use in the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaUse {
    /// `area:level`: the highest level used.
    pub scope: String,
    /// The resources named, when every use named one (empty otherwise).
    pub resources: Vec<String>,
    /// Some use named no resource.
    pub without_resource: bool,
    /// The last use in the area.
    pub last_used_at: DateTime<Utc>,
}

/// A token's use in the last [`WINDOW_DAYS`] days, against its grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// The start of the window.
    pub since: DateTime<Utc>,
    /// Per area used: the highest level and the resources.
    pub used: Vec<AreaUse>,
    /// Granted `area:level` scopes never exercised at their level.
    pub never_used: Vec<String>,
    /// The scopes and resources it would keep if narrowed to what it used
    /// (`None`: it used nothing, or already has exactly what it used).
    pub narrowed: Option<(Scopes, Resources)>,
}

impl UsageReport {
    /// The report for a token granted `scopes` limited to `resources`,
    /// from its recorded `uses` (those before `since` are ignored).
    pub fn of(
        scopes: &Scopes,
        resources: &Resources,
        uses: &[ScopeUse],
        since: DateTime<Utc>,
    ) -> UsageReport {
        struct Acc {
            level: Level,
            resources: Vec<String>,
            without: bool,
            last: DateTime<Utc>,
        }
        let mut areas: BTreeMap<String, Acc> = BTreeMap::new();
        for u in uses.iter().filter(|u| u.last_used_at >= since) {
            let Some((area, level)) = u.scope.split_once(':') else {
                continue;
            };
            let Some(level) = Level::parse(level) else {
                continue;
            };
            // only what the token could do counts
            if scopes.level(area).is_none_or(|granted| granted < level) {
                continue;
            }
            let acc = areas.entry(area.to_owned()).or_insert(Acc {
                level,
                resources: Vec::new(),
                without: false,
                last: u.last_used_at,
            });
            acc.level = acc.level.max(level);
            acc.last = acc.last.max(u.last_used_at);
            match &u.resource {
                Some(r) if !r.is_empty() => {
                    if !acc.resources.contains(r) {
                        acc.resources.push(r.clone());
                    }
                }
                _ => acc.without = true,
            }
        }
        let granted: Vec<(String, Level)> = match scopes {
            Scopes::Full => CATALOG
                .iter()
                .map(|a| (a.id.to_owned(), Level::Manage))
                .collect(),
            Scopes::Custom(map) => map.iter().map(|(a, l)| (a.clone(), *l)).collect(),
        };
        let never_used = granted
            .iter()
            .filter(|(a, l)| areas.get(a).is_none_or(|acc| acc.level < *l))
            .map(|(a, l)| format!("{a}:{}", l.as_str()))
            .collect();
        let used: Vec<AreaUse> = areas
            .iter()
            .map(|(a, acc)| {
                let mut rs = acc.resources.clone();
                rs.sort();
                AreaUse {
                    scope: format!("{a}:{}", acc.level.as_str()),
                    resources: if acc.without { Vec::new() } else { rs },
                    without_resource: acc.without,
                    last_used_at: acc.last,
                }
            })
            .collect();
        let narrowed = (!areas.is_empty()).then(|| {
            let new_scopes = Scopes::Custom(
                areas
                    .iter()
                    .map(|(a, acc)| (a.clone(), acc.level))
                    .collect(),
            );
            let limits = areas
                .iter()
                .filter_map(|(a, acc)| {
                    // limit an area to what it touched when every use named
                    // a resource that can be a pattern; else keep its limit
                    let can = !acc.without
                        && !OWN_AREAS.contains(&a.as_str())
                        && acc.resources.len() <= MAX_PATTERNS
                        && acc.resources.iter().all(|r| pattern_problem(r).is_none());
                    if can {
                        let mut rs = acc.resources.clone();
                        rs.sort();
                        Some((a.clone(), rs))
                    } else {
                        resources.of(a).map(|p| (a.clone(), p.to_vec()))
                    }
                })
                .collect();
            (new_scopes, Resources::new(limits))
        });
        let narrowed = narrowed.filter(|(s, r)| s != scopes || r != &resources.granted(s));
        UsageReport {
            since,
            used,
            never_used,
            narrowed,
        }
    }

    /// "code:read on acme/api, wiki:read" (nothing: "nothing").
    pub fn used_words(&self) -> String {
        if self.used.is_empty() {
            return "nothing".into();
        }
        self.used
            .iter()
            .map(|u| {
                if u.resources.is_empty() {
                    u.scope.clone()
                } else {
                    format!("{} on {}", u.scope, u.resources.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The sentence a token's row shows.
    pub fn sentence(&self) -> String {
        let mut s = format!(
            "Used in the last {WINDOW_DAYS} days: {}.",
            self.used_words()
        );
        if !self.never_used.is_empty() {
            s.push_str(&format!(" Never used: {}.", self.never_used.join(", ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn used(scope: &str, resource: Option<&str>, when: &str) -> ScopeUse {
        ScopeUse {
            scope: scope.into(),
            resource: resource.map(Into::into),
            last_used_at: at(when),
        }
    }

    #[test]
    fn the_report_says_what_was_used_and_what_never_was() {
        let scopes = Scopes::parse("code:write build:read").unwrap();
        let since = at("2026-11-01T00:00:00Z");
        let uses = [
            used("code:read", Some("acme/api"), "2026-11-20T00:00:00Z"),
            used("code:read", Some("acme/api"), "2026-11-21T00:00:00Z"),
            used("code:write", Some("acme/web"), "2026-10-01T00:00:00Z"),
            used("wiki:read", None, "2026-11-21T00:00:00Z"),
        ];
        let r = UsageReport::of(&scopes, &Resources::default(), &uses, since);
        assert_eq!(
            r.sentence(),
            "Used in the last 30 days: code:read on acme/api. Never used: build:read, code:write."
        );
        let (s, res) = r.narrowed.clone().unwrap();
        assert_eq!(s.to_string(), "code:read");
        assert_eq!(res.describe(), "code: acme/api");
        let nothing = UsageReport::of(&scopes, &Resources::default(), &[], since);
        assert_eq!(nothing.narrowed, None, "nothing to narrow to");
        assert!(nothing
            .sentence()
            .starts_with("Used in the last 30 days: nothing."));
    }

    #[test]
    fn uses_without_a_resource_keep_the_area_unlimited() {
        let scopes = Scopes::parse("code:read").unwrap();
        let since = at("2026-11-01T00:00:00Z");
        let uses = [
            used("code:read", Some("acme/api"), "2026-11-20T00:00:00Z"),
            used("code:read", None, "2026-11-20T00:00:00Z"),
        ];
        let r = UsageReport::of(&scopes, &Resources::default(), &uses, since);
        assert_eq!(r.used_words(), "code:read");
        assert_eq!(r.narrowed, None, "already exactly what it used");
        let full = UsageReport::of(&Scopes::Full, &Resources::default(), &uses, since);
        assert_eq!(full.narrowed.unwrap().0.to_string(), "code:read");
        assert!(full.never_used.contains(&"code:manage".to_owned()));
        assert!(full.never_used.contains(&"wiki:manage".to_owned()));
        let odd = [used("code:read", Some("a b"), "2026-11-20T00:00:00Z")];
        let r = UsageReport::of(
            &Scopes::parse("code:write").unwrap(),
            &Resources::default(),
            &odd,
            since,
        );
        assert_eq!(
            r.narrowed.unwrap().1,
            Resources::default(),
            "not a pattern: left unlimited"
        );
    }
}
