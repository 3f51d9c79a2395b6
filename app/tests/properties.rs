//! Property tests: the parsers that read what clients send never panic on
//! any input, and what Tessera prints it reads back unchanged.

// the secret format lives in the server-only domain layer
#![cfg(feature = "ssr")]

use app::domain::secret;
use app::scopes::{Level, Scopes, CATALOG};
use app::tokens::{Limits, TokenForm, TokenSpec};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn any_scopes() -> impl Strategy<Value = Scopes> {
    let areas: Vec<&'static str> = CATALOG.iter().map(|a| a.id).collect();
    let level = prop_oneof![Just(Level::Read), Just(Level::Write), Just(Level::Manage)];
    prop_oneof![
        Just(Scopes::Full),
        proptest::collection::btree_map(proptest::sample::select(areas), level, 1..=CATALOG.len())
            .prop_map(|m| Scopes::Custom(m.into_iter().map(|(a, l)| (a.to_owned(), l)).collect())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_token_parser_answers_any_string(s in any::<String>()) {
        let _ = secret::is_well_formed(&s);
    }

    #[test]
    fn the_token_parser_answers_any_42_bytes(bytes in proptest::collection::vec(any::<u8>(), 42)) {
        // the length that passes the first check, with anything inside
        let s = String::from_utf8_lossy(&bytes);
        let _ = secret::is_well_formed(&s);
        let prefixed = format!("tsr_{}", &s.chars().take(38).collect::<String>());
        let _ = secret::is_well_formed(&prefixed);
    }

    #[test]
    fn every_issued_token_reads_back_and_any_change_breaks_it(pos in 4usize..42, c in any::<char>()) {
        let (plain, stored) = secret::generate();
        let token = plain.expose();
        prop_assert!(secret::is_well_formed(token));
        prop_assert_eq!(&stored.hint, &token[..8]);
        let mut chars: Vec<char> = token.chars().collect();
        prop_assume!(chars[pos] != c);
        chars[pos] = c;
        let changed: String = chars.into_iter().collect();
        prop_assert!(!secret::is_well_formed(&changed));
    }

    #[test]
    fn the_scope_parser_answers_any_string(s in any::<String>()) {
        if let Ok(scopes) = Scopes::parse(&s) {
            // whatever it accepts prints as something it reads back the same
            prop_assert_eq!(Scopes::parse(&scopes.to_string()), Ok(scopes));
        }
    }

    #[test]
    fn scope_words_in_any_order_and_spacing_parse(s in "[a-z: \t\n]{0,64}") {
        let _ = Scopes::parse(&s);
    }

    #[test]
    fn scopes_print_and_parse_back(scopes in any_scopes()) {
        let printed = scopes.to_string();
        prop_assert_eq!(Scopes::parse(&printed), Ok(scopes.clone()));
        prop_assert!(scopes.covers(&scopes));
        for area in CATALOG {
            for level in Level::ALL {
                let wanted = format!("{}:{}", area.id, level.as_str());
                prop_assert_eq!(scopes.allows(&wanted), scopes.level(area.id).is_some_and(|l| l >= level));
            }
        }
    }

    #[test]
    fn levels_print_and_parse_back(s in any::<String>()) {
        if let Some(level) = Level::parse(&s) {
            prop_assert_eq!(level.as_str(), s.as_str());
        }
    }

    #[test]
    fn the_token_form_answers_any_fields(
        pairs in proptest::collection::vec(
            (prop_oneof![
                Just("name".to_owned()),
                Just("description".to_owned()),
                Just("expiry".to_owned()),
                Just("expiry_date".to_owned()),
                Just("scope_mode".to_owned()),
                Just("scope_code".to_owned()),
                Just("scope_tokens".to_owned()),
                any::<String>(),
            ], any::<String>()),
            0..12,
        ),
        max_days in any::<u32>(),
        editing in any::<bool>(),
    ) {
        let form = TokenForm::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Ok(spec) = form.parse() {
            let limits = Limits {
                now: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
                max_days,
                ceiling: None,
                policy: Default::default(),
            };
            let _ = spec.check(&limits, editing);
        }
    }

    #[test]
    fn a_form_made_from_a_spec_parses_back_to_it(
        scopes in any_scopes(),
        name in "[A-Za-z0-9]([A-Za-z0-9 ._-]{0,38}[A-Za-z0-9])?",
        days in 1u32..=365,
    ) {
        let mut levels = BTreeMap::new();
        let mode = match &scopes {
            Scopes::Full => "full",
            Scopes::Custom(map) => {
                for (area, level) in map {
                    levels.insert(area.clone(), level.as_str().to_owned());
                }
                "custom"
            }
        };
        let form = TokenForm {
            name: name.clone(),
            expiry: days.to_string(),
            scope_mode: mode.into(),
            levels,
            ..Default::default()
        };
        let spec: TokenSpec = form.parse().expect("a well-made form parses");
        prop_assert_eq!(spec.name, name);
        prop_assert_eq!(spec.scopes, scopes);
        prop_assert_eq!(spec.expiry, app::tokens::Expiry::Days(days));
    }
}
