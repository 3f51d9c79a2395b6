//! The token parser: any bytes, as text, get an answer (never a panic), and
//! what it accepts has the token's shape.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if app::domain::secret::is_well_formed(&text) {
        assert_eq!(text.len(), 42);
        assert!(text.starts_with("tsr_"));
    }
});
