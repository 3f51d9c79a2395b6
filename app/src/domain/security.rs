//! Content-Security-Policy for rendered pages. Each response gets a fresh
//! nonce; Leptos puts it on its hydration and streaming scripts, and the same
//! value goes into the header, so no other inline script can run.

use leptos::prelude::*;

/// The `Content-Security-Policy` header value for a page whose scripts carry
/// `nonce`.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Generates the nonce for this render and sets the matching CSP header.
pub fn provide_nonce_and_csp() {
    leptos::nonce::provide_nonce();
    let (Some(nonce), Some(res)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(&nonce)) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}
