//! The API's JSON token body: any bytes are refused or read into a spec
//! (create and edit), and the rules answer it, never a panic.
#![no_main]
use app::tokens::{Expiry, Limits, TokenSpec};
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tessera::machine::api::tokens::TokenBody;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<TokenBody>(data) else {
        return;
    };
    let limits = Limits {
        now: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
        max_days: 365,
        ceiling: None,
    };
    if let Ok(spec) = body.new_spec() {
        let _ = spec.check(&limits, false);
    }
    let base = TokenSpec {
        name: "base".into(),
        description: String::new(),
        expiry: Expiry::Keep,
        scopes: app::scopes::Scopes::Full,
    };
    if let Ok(spec) = body.overlay(base) {
        let _ = spec.check(&limits, true);
    }
});
