//! The HTML form's token spec: any `name=value` pairs (split from the
//! input on NUL and `=`) parse into a spec or field messages, and the rules
//! answer any spec, never a panic.
#![no_main]
use app::tokens::{Limits, TokenForm};
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pairs: Vec<(&str, &str)> = text
        .split('\0')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let form = TokenForm::from_pairs(pairs);
    if let Ok(spec) = form.parse() {
        let limits = Limits {
            now: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
            max_days: 365,
            ceiling: None,
        };
        let _ = spec.check(&limits, false);
        let _ = spec.check(&limits, true);
    }
});
