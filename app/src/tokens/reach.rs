//! Where and on what a token works, besides its scopes: a network
//! allowlist ([`Networks`]: IPv4/IPv6 addresses and CIDR ranges) and
//! resource patterns per area ([`Resources`]: `code` only on `acme/api`
//! and `acme/web-*`). Both are empty by default, meaning "anywhere" and
//! "every resource". Parsed and checked here, once, for every transport;
//! enforced where a token is used (the API, the gateway, introspection).

use crate::scopes::{Level, Scopes};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, net::IpAddr};

/// Most entries in one allowlist.
pub const MAX_NETWORKS: usize = 50;
/// Most patterns for one area.
pub const MAX_PATTERNS: usize = 20;
/// Longest pattern (and longest resource name considered), in bytes.
pub const PATTERN_MAX: usize = 128;
/// Most `/`-separated segments in a pattern.
pub const MAX_SEGMENTS: usize = 8;
/// Areas that guard Tessera's own API, which has no resources.
pub const OWN_AREAS: [&str; 4] = [
    "profile",
    "tokens",
    crate::scopes::ADMIN_AREA,
    crate::scopes::METRICS_AREA,
];

/// A token's network allowlist, canonical (network addresses, no
/// duplicates, in the order given). Empty: any address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Networks(Vec<IpNet>);

/// The address as an allowlist compares it: an IPv4 address carried in an
/// IPv6 socket (`::ffff:192.0.2.7`) is that IPv4 address.
pub fn plain(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Networks {
    /// Reads a list of addresses and ranges (`10.0.0.0/8`, `2001:db8::/48`,
    /// `192.0.2.7`). Host bits in a range are cleared (`10.1.2.3/8` is
    /// `10.0.0.0/8`). The error is a sentence for the person who typed it.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Networks, String> {
        let mut out: Vec<IpNet> = Vec::new();
        for raw in items {
            let item = raw.trim();
            if item.is_empty() {
                continue;
            }
            let shown: String = item.chars().take(60).collect();
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(|ip| IpNet::from(plain(ip))))
                .map_err(|_| {
                    format!(
                        "\u{201c}{shown}\u{201d} is not an IP address or CIDR range (write e.g. 10.0.0.0/8, 2001:db8::/48 or 192.0.2.7)."
                    )
                })?
                .trunc();
            if !out.contains(&net) {
                out.push(net);
            }
            if out.len() > MAX_NETWORKS {
                return Err(format!(
                    "An allowlist holds at most {MAX_NETWORKS} addresses or ranges."
                ));
            }
        }
        Ok(Networks(out))
    }

    /// Reads a textarea: entries separated by line breaks, commas or spaces.
    pub fn parse_text(text: &str) -> Result<Networks, String> {
        Networks::parse(text.split(|c: char| c == ',' || c.is_whitespace()))
    }

    /// Reads the stored form (space-separated); what no longer parses is
    /// dropped, and an allowlist that lost every entry allows nothing.
    pub fn from_stored(text: &str) -> Networks {
        let nets: Vec<IpNet> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        if nets.is_empty() && !text.trim().is_empty() {
            // fail closed: 0.0.0.0/32 matches no client
            return Networks(vec![IpNet::from(IpAddr::from([0, 0, 0, 0]))]);
        }
        Networks(nets)
    }

    /// The stored form: space-separated, empty for "anywhere".
    pub fn to_stored(&self) -> String {
        self.strings().join(" ")
    }

    /// Each entry in its canonical text form.
    pub fn strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// True when the token works from any address.
    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// True when a request from `ip` may use the token.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let ip = plain(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// True when every address `self` allows is also allowed by `wider`.
    pub fn within(&self, wider: &Networks) -> bool {
        if wider.is_any() {
            return true;
        }
        !self.is_any() && self.0.iter().all(|n| wider.0.iter().any(|w| w.contains(n)))
    }
}

/// Why a resource pattern is unacceptable, or `None` when it is fine:
/// `/`-separated segments of letters, digits, `.`, `_` and `-`, each
/// optionally ending in `*` (any rest of that segment; `*` alone: any one
/// segment).
pub fn pattern_problem(pattern: &str) -> Option<String> {
    let shown: String = pattern.chars().take(60).collect();
    if pattern.len() > PATTERN_MAX {
        return Some(format!(
            "\u{201c}{shown}…\u{201d} is longer than {PATTERN_MAX} characters."
        ));
    }
    let segments: Vec<&str> = pattern.split('/').collect();
    if segments.len() > MAX_SEGMENTS {
        return Some(format!(
            "\u{201c}{shown}\u{201d} has more than {MAX_SEGMENTS} segments."
        ));
    }
    for seg in &segments {
        let literal = seg.strip_suffix('*').unwrap_or(seg);
        let ok_chars = literal
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if seg.is_empty() || !ok_chars || matches!(literal, "." | "..") {
            return Some(format!(
                "\u{201c}{shown}\u{201d} is not a resource pattern: use segments like acme/api or acme/web-* (letters, digits, '.', '_', '-', and '*' only at the end of a segment)."
            ));
        }
    }
    None
}

/// True when `resource` (as the proxy names it) matches `pattern`: the
/// same number of segments, each equal (case matters) or, for a segment
/// ending in `*`, starting with what comes before it.
pub fn pattern_matches(pattern: &str, resource: &str) -> bool {
    if resource.len() > PATTERN_MAX || resource.is_empty() {
        return false;
    }
    let mut p = pattern.split('/');
    let mut r = resource.split('/');
    loop {
        match (p.next(), r.next()) {
            (None, None) => return true,
            (Some(ps), Some(rs)) => {
                if rs.is_empty() || matches!(rs, "." | "..") {
                    return false;
                }
                let ok = match ps.strip_suffix('*') {
                    Some(prefix) => rs.starts_with(prefix),
                    None => ps == rs,
                };
                if !ok {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// True when every resource `narrow` matches is matched by `wide` (a
/// pattern is within another if it is equal, or wide's segments are
/// prefixes of its segments where wide has `*`).
fn pattern_within(narrow: &str, wide: &str) -> bool {
    let n: Vec<&str> = narrow.split('/').collect();
    let w: Vec<&str> = wide.split('/').collect();
    n.len() == w.len()
        && n.iter().zip(&w).all(|(ns, ws)| match ws.strip_suffix('*') {
            Some(prefix) => ns.starts_with(prefix),
            None => ns == ws,
        })
}

/// The resources a token's scopes are limited to: area → patterns. An
/// area that is not in the map reaches every resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resources(BTreeMap<String, Vec<String>>);

impl Resources {
    /// Resources as given (not yet checked: see [`Resources::problem`]).
    pub fn new(map: BTreeMap<String, Vec<String>>) -> Resources {
        let map = map
            .into_iter()
            .map(|(area, patterns)| {
                let mut seen: Vec<String> = Vec::new();
                for p in patterns {
                    let p = p.trim().to_owned();
                    if !p.is_empty() && !seen.contains(&p) {
                        seen.push(p);
                    }
                }
                (area.trim().to_owned(), seen)
            })
            .collect();
        Resources(map)
    }

    /// Resources written as `AREA=PATTERN,PATTERN` items (the admin CLI's
    /// `--resources`, a trust rule form's lines); blank items are skipped.
    /// Not yet checked against scopes (see [`Resources::problem`]).
    pub fn parse_assignments<'a>(
        items: impl IntoIterator<Item = &'a str>,
    ) -> Result<Resources, String> {
        let mut map = BTreeMap::new();
        for item in items.into_iter().map(str::trim).filter(|i| !i.is_empty()) {
            let Some((area, patterns)) = item.split_once('=') else {
                let shown: String = item.chars().take(40).collect();
                return Err(format!(
                    "Write AREA=PATTERN,PATTERN (e.g. code=acme/*), not \u{201c}{shown}\u{201d}."
                ));
            };
            map.insert(
                area.trim().to_owned(),
                patterns.split(',').map(|p| p.trim().to_owned()).collect(),
            );
        }
        Ok(Resources::new(map))
    }

    /// Why these limits cannot go with `scopes`, or `None` when they can.
    pub fn problem(&self, scopes: &Scopes) -> Option<String> {
        for (area, patterns) in &self.0 {
            if crate::scopes::area(area).is_none() {
                let shown: String = area.chars().take(40).collect();
                return Some(format!("Unknown scope area \u{201c}{shown}\u{201d}."));
            }
            if OWN_AREAS.contains(&area.as_str()) {
                return Some(format!(
                    "{area} guards Tessera's own API, which has no resources; it cannot be limited to some."
                ));
            }
            if scopes.level(area).is_none() {
                return Some(format!(
                    "The token has no {area} scope to limit to resources."
                ));
            }
            if patterns.is_empty() {
                return Some(format!(
                    "Give at least one resource for {area}, or allow all resources."
                ));
            }
            if patterns.len() > MAX_PATTERNS {
                return Some(format!(
                    "{area} can be limited to at most {MAX_PATTERNS} patterns."
                ));
            }
            if let Some(p) = patterns.iter().find_map(|p| pattern_problem(p)) {
                return Some(p);
            }
        }
        None
    }

    /// The limits of areas still in `scopes` (after an edit removed some).
    pub fn granted(&self, scopes: &Scopes) -> Resources {
        Resources(
            self.0
                .iter()
                .filter(|(a, _)| scopes.level(a).is_some())
                .map(|(a, p)| (a.clone(), p.clone()))
                .collect(),
        )
    }

    /// Reads the stored form (JSON); what cannot be read limits the token
    /// to nothing rather than to everything.
    pub fn from_stored(text: &str) -> Resources {
        if text.trim().is_empty() {
            return Resources::default();
        }
        serde_json::from_str(text).unwrap_or_else(|_| {
            Resources(
                crate::scopes::CATALOG
                    .iter()
                    .map(|a| (a.id.to_owned(), Vec::new()))
                    .collect(),
            )
        })
    }

    /// The stored form: JSON, or empty when nothing is limited.
    pub fn to_stored(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&self.0).unwrap_or_default()
        }
    }

    /// True when no area is limited.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Area → patterns.
    pub fn map(&self) -> &BTreeMap<String, Vec<String>> {
        &self.0
    }

    /// The patterns `area` is limited to, if it is.
    pub fn of(&self, area: &str) -> Option<&[String]> {
        self.0.get(area).map(Vec::as_slice)
    }

    /// True when a use of `area` on `resource` is within the limits: an
    /// area that is not limited allows anything (with or without a
    /// resource); a limited one needs a resource that matches.
    pub fn allows(&self, area: &str, resource: Option<&str>) -> bool {
        match self.0.get(area) {
            None => true,
            Some(patterns) => {
                resource.is_some_and(|r| patterns.iter().any(|p| pattern_matches(p, r)))
            }
        }
    }

    /// For a check that names no scope: true when some area of `scopes`
    /// reaches `resource` (an unlimited area reaches everything).
    pub fn allows_some_area(&self, scopes: &Scopes, resource: Option<&str>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        match scopes {
            Scopes::Full => crate::scopes::CATALOG
                .iter()
                .any(|a| self.allows(a.id, resource)),
            Scopes::Custom(map) => map.keys().any(|a| self.allows(a, resource)),
        }
    }

    /// True when everything `self` reaches with `scopes` is also reached
    /// by `wider`: every area `wider` limits is either not in `scopes` or
    /// limited by `self` to patterns within wider's.
    pub fn within(&self, scopes: &Scopes, wider: &Resources) -> bool {
        wider.0.iter().all(|(area, wide)| {
            scopes.level(area).is_none()
                || self.0.get(area).is_some_and(|mine| {
                    mine.iter()
                        .all(|n| wide.iter().any(|w| pattern_within(n, w)))
                })
        })
    }

    /// "code: acme/api, acme/web-*; wiki: docs" for lists and logs.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|(a, p)| format!("{a}: {}", p.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Longest organization name (GitHub's limit for logins).
pub const OWNER_NAME_MAX: usize = 39;

/// True when `name` can name an organization: 1 to 39 lower-case letters,
/// digits and '-', not first (it is the first segment of the
/// organization's resources).
pub fn owner_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= OWNER_NAME_MAX
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// True when `resource` (as a proxy names it) belongs to organization
/// `owner`: `owner/` and at least one well-formed segment after it.
pub fn owned_by(owner: &str, resource: &str) -> bool {
    resource.len() <= PATTERN_MAX
        && resource.strip_prefix(owner).is_some_and(|rest| {
            rest.strip_prefix('/').is_some_and(|rest| {
                rest.split('/')
                    .all(|seg| !seg.is_empty() && !matches!(seg, "." | ".."))
            })
        })
}

/// The area of a required scope (`code` of `code:write`), if it names one.
pub fn area_of(required: &str) -> &str {
    required.split_once(':').map_or(required, |(a, _)| a)
}

/// True when `scopes` can write or manage anywhere (what the
/// `require_allowlist_for_write` policy looks at).
pub fn can_write(scopes: &Scopes) -> bool {
    match scopes {
        Scopes::Full => true,
        Scopes::Custom(map) => map.values().any(|l| *l >= Level::Write),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_belongs_to_an_organization_under_its_name() {
        for yes in ["acme/api", "acme/web/app", "acme/a.b"] {
            assert!(owned_by("acme", yes), "{yes}");
        }
        for no in [
            "acme",
            "acme/",
            "acme//x",
            "acme/../other",
            "acme/.",
            "acmecorp/api",
            "other/acme/api",
            "",
            "/acme/api",
            "ACME/api",
        ] {
            assert!(!owned_by("acme", no), "{no}");
        }
        assert!(!owned_by("acme", &format!("acme/{}", "a".repeat(200))));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allowlists_read_addresses_and_ranges() {
        let n = Networks::parse(["10.0.0.0/8", "2001:db8::/48", " 192.0.2.7 ", ""]).unwrap();
        assert_eq!(n.strings(), ["10.0.0.0/8", "2001:db8::/48", "192.0.2.7/32"]);
        assert!(n.allows(ip("10.200.1.2")));
        assert!(n.allows(ip("192.0.2.7")));
        assert!(!n.allows(ip("192.0.2.8")));
        assert!(n.allows(ip("2001:db8:0:ffff::1")));
        assert!(!n.allows(ip("2001:db9::1")));
        assert!(n.allows(ip("::ffff:10.1.1.1")), "IPv4 in an IPv6 socket");
        assert_eq!(
            Networks::parse(["10.1.2.3/8", "10.0.0.0/8"])
                .unwrap()
                .strings(),
            ["10.0.0.0/8"],
            "host bits cleared, duplicates dropped"
        );
        assert!(Networks::default().allows(ip("203.0.113.9")));
        for bad in [
            "10.0.0.300/8",
            "10.0.0.0/33",
            "example.com",
            "10.0.0.0/",
            "１０.0.0.1",
            "::/129",
        ] {
            let e = Networks::parse([bad]).unwrap_err();
            assert!(e.contains("not an IP address"), "{bad}: {e}");
        }
        let many: Vec<String> = (0..51).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(Networks::parse(many.iter().map(String::as_str)).is_err());
        let text = Networks::parse_text("10.0.0.0/8,\n192.0.2.7  2001:db8::1").unwrap();
        assert_eq!(text.strings().len(), 3);
        assert_eq!(Networks::from_stored(&text.to_stored()), text);
        assert!(
            !Networks::from_stored("garbage").allows(ip("0.0.0.1")),
            "an unreadable stored list fails closed"
        );
    }

    #[test]
    fn allowlists_nest() {
        let wide = Networks::parse(["10.0.0.0/8"]).unwrap();
        let narrow = Networks::parse(["10.1.0.0/16", "10.2.3.4"]).unwrap();
        assert!(narrow.within(&wide));
        assert!(!wide.within(&narrow));
        assert!(!Networks::default().within(&wide), "anywhere is wider");
        assert!(wide.within(&Networks::default()));
    }

    #[test]
    fn patterns_match_segment_by_segment() {
        assert!(pattern_matches("acme/api", "acme/api"));
        assert!(!pattern_matches("acme/api", "acme/api2"));
        assert!(!pattern_matches("acme/api", "ACME/api"), "case matters");
        assert!(pattern_matches("acme/web-*", "acme/web-shop"));
        assert!(pattern_matches("acme/web-*", "acme/web-"));
        assert!(!pattern_matches("acme/web-*", "acme/web"));
        assert!(pattern_matches("acme/*", "acme/x"));
        assert!(!pattern_matches("acme/*", "acme/x/y"), "one segment only");
        assert!(!pattern_matches("acme/*", "acme/"));
        assert!(!pattern_matches("acme/*", "acme/.."));
        assert!(!pattern_matches("acme/api", ""));
        assert!(!pattern_matches("*", &"a".repeat(200)));
        assert!(pattern_within("acme/web-shop", "acme/web-*"));
        assert!(pattern_within("acme/web-*", "acme/*"));
        assert!(!pattern_within("acme/*", "acme/web-*"));
        assert!(!pattern_within("acme/api/x", "acme/*"));
    }

    #[test]
    fn patterns_are_validated() {
        for good in ["acme/api", "acme/web-*", "*", "a.b_c-d/e*", "x/*/y"] {
            assert_eq!(pattern_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "acme//api",
            "/acme",
            "acme/",
            "acme/a*b",
            "acme/**",
            "ac me",
            "acmé/api",
            "acme/..",
            "a/b/c/d/e/f/g/h/i",
        ] {
            assert!(pattern_problem(bad).is_some(), "{bad:?}");
        }
        assert!(pattern_problem(&"a".repeat(129)).is_some());
    }

    #[test]
    fn resources_limit_areas_of_the_scopes() {
        let scopes = Scopes::parse("code:write wiki:read").unwrap();
        let r = Resources::new(BTreeMap::from([(
            "code".to_owned(),
            vec![
                "acme/api".to_owned(),
                " acme/web-* ".to_owned(),
                "acme/api".to_owned(),
            ],
        )]));
        assert_eq!(r.problem(&scopes), None);
        assert_eq!(r.of("code").unwrap().len(), 2, "trimmed, deduplicated");
        assert!(r.allows("code", Some("acme/api")));
        assert!(r.allows("code", Some("acme/web-x")));
        assert!(!r.allows("code", Some("acme/other")));
        assert!(!r.allows("code", None), "a limited area needs a resource");
        assert!(r.allows("wiki", None), "wiki is not limited");
        assert!(
            r.allows_some_area(&scopes, Some("anything")),
            "through wiki"
        );
        let only_code = Scopes::parse("code:write").unwrap();
        assert!(!r.allows_some_area(&only_code, Some("acme/other")));
        assert!(r.allows_some_area(&only_code, Some("acme/api")));
        assert_eq!(Resources::from_stored(&r.to_stored()), r);
        assert!(!Resources::from_stored("{bad").allows("code", Some("acme/api")));
        let wiki = Resources::new(BTreeMap::from([("wiki".into(), vec!["x".into()])]));
        assert!(wiki.problem(&only_code).unwrap().contains("no wiki scope"));
        let own = Resources::new(BTreeMap::from([("tokens".into(), vec!["x".into()])]));
        assert!(own.problem(&Scopes::Full).unwrap().contains("own API"));
        let empty = Resources::new(BTreeMap::from([("code".into(), vec![" ".into()])]));
        assert!(empty.problem(&scopes).unwrap().contains("at least one"));
        let unknown = Resources::new(BTreeMap::from([("nukes".into(), vec!["x".into()])]));
        assert!(unknown.problem(&Scopes::Full).unwrap().contains("Unknown"));
        assert_eq!(
            r.granted(&Scopes::parse("wiki:read").unwrap()),
            Resources::default()
        );
    }

    #[test]
    fn resources_nest() {
        let wide = Resources::new(BTreeMap::from([("code".into(), vec!["acme/*".into()])]));
        let narrow = Resources::new(BTreeMap::from([("code".into(), vec!["acme/api".into()])]));
        let code = Scopes::parse("code:read").unwrap();
        assert!(narrow.within(&code, &wide));
        assert!(!wide.within(&code, &narrow));
        assert!(
            !Resources::default().within(&code, &wide),
            "all resources is wider"
        );
        assert!(wide.within(&code, &Resources::default()));
        let wiki = Scopes::parse("wiki:read").unwrap();
        assert!(
            Resources::default().within(&wiki, &wide),
            "no code scope at all"
        );
        assert!(can_write(&Scopes::Full));
        assert!(!can_write(&Scopes::parse("code:read").unwrap()));
        assert!(can_write(&Scopes::parse("code:read wiki:manage").unwrap()));
        assert_eq!(area_of("code:write"), "code");
    }
}
