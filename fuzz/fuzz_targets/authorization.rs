//! The `Authorization` reader (Bearer and HTTP Basic): any header value a
//! client can send gets an answer, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    if let Some(token) = tessera::machine::pat::presented_token(&headers) {
        let _ = app::domain::secret::is_well_formed(&token);
    }
});
