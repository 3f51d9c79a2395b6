//! The scope parser: any text is read or refused, and what it reads prints
//! as text that parses back to the same scopes.
#![no_main]
use app::scopes::Scopes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(scopes) = Scopes::parse(&text) {
        assert_eq!(Scopes::parse(&scopes.to_string()), Ok(scopes.clone()));
        let _ = scopes.allows(&text);
    }
});
