//! Personal-access-token authentication for machine clients: the REST API
//! and the gateway check. A PAT arrives as `Authorization: Bearer <PAT>` or
//! as the password (or, failing that, the user name) of HTTP Basic — what
//! git and VS Code send.

use super::error::ApiError;
use crate::middleware::client_of;
use app::domain::{
    authenticate::{Authenticated, Channel, Denied},
    sessions::Client,
    tokens::Actor,
    verify::Verified,
    AppState,
};
use axum::{
    extract::{FromRequestParts, MatchedPath},
    http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, Method},
    response::{IntoResponseParts, ResponseParts},
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, OnceLock},
};

/// The token presented in `Authorization`, if any (borrowed from a Bearer
/// header; Basic credentials are decoded).
pub fn presented_token(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    // bytes, not `to_str`: this runs on every API request
    let value = headers.get(header::AUTHORIZATION)?.as_bytes().trim_ascii();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = (&value[..space], value[space + 1..].trim_ascii());
    if scheme.eq_ignore_ascii_case(b"bearer") {
        return std::str::from_utf8(rest).ok().map(Cow::Borrowed);
    }
    if scheme.eq_ignore_ascii_case(b"basic") {
        let decoded = STANDARD.decode(rest).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        return Some(Cow::Owned(
            if password.is_empty() { user } else { password }.to_owned(),
        ));
    }
    None
}

/// Authenticates the request's token through [`Core::authenticate`] (the
/// one path every transport takes); the error is ready to send.
pub async fn authenticate(
    state: &AppState,
    parts: &Parts,
    channel: Channel,
) -> Result<Authenticated, ApiError> {
    let client = client_of(parts);
    let presented = presented_token(&parts.headers);
    Ok(state
        .core
        .authenticate(presented.as_deref(), client, channel)
        .await?)
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Missing => ApiError::unauthorized(
                "invalid_token",
                "Authentication required: send a personal access token as a Bearer token or as the Basic password.",
            ),
            Denied::Rejected(r) => ApiError::unauthorized(r.code(), r.message()),
            Denied::Blocked(block) => ApiError::blocked(&block),
            Denied::Address(ip) => ApiError::ip_not_allowed(ip),
            Denied::Scope(scope) => ApiError::insufficient_scope(&scope),
            Denied::Resource { area, resource } => {
                ApiError::resource_not_allowed(&area, resource.as_deref())
            }
            Denied::Unavailable => ApiError::unavailable(),
        }
    }
}

/// What the machine transports make of a verified identity, once per
/// verification (a cache hit reuses them).
#[derive(Default)]
pub struct Renderings {
    /// The body of `GET /api/v1/me`.
    pub document: OnceLock<axum::body::Bytes>,
    /// The gateway check's identity header values (user id, token id, user
    /// name, scopes, resources; `None` where a value cannot be a header or
    /// there is none).
    pub gateway_headers: OnceLock<[Option<HeaderValue>; 5]>,
    /// The value of `X-Tessera-Token-Expires`.
    pub expires: OnceLock<HeaderValue>,
}

/// On every successful API answer: when the calling token stops working
/// (RFC 3339, UTC; the earliest end of it and the tokens it was derived
/// from), so a tool can warn its user before it breaks.
pub const TOKEN_EXPIRES: HeaderName = HeaderName::from_static("x-tessera-token-expires");

/// `X-Tessera-Token-Expires` for an answer ([`Pat::expires`]): rendered
/// once per verification, like the `/me` document.
pub struct Expires(HeaderValue);

impl IntoResponseParts for Expires {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.headers_mut().insert(TOKEN_EXPIRES, self.0);
        Ok(res)
    }
}

/// A successful API answer: the body, with the calling token's expiry.
pub type Answer<T> = Result<(Expires, axum::Json<T>), ApiError>;

/// The renderings kept with `v`.
pub fn renderings(v: &Verified) -> Option<&Renderings> {
    v.rendered.get_or_init(Renderings::default)
}

/// What an operation needs of the token, from its row of the endpoint
/// table (the router puts it on each route): the OpenAPI document is made
/// from the same row, so what is documented is what is enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Required {
    /// The scope every call needs (`None`: any valid token).
    pub scope: Option<&'static str>,
    /// `scope` is not needed when the token acts on itself (its own id is
    /// the path's `{id}`).
    pub unless_itself: bool,
    /// A scope for a wider answer (e.g. other users' events), asked for by
    /// the handler with [`Pat::require_wider`] when the call wants it.
    pub wider: Option<&'static str>,
}

impl Required {
    /// Just `scope`, for every call.
    pub const fn scope(scope: &'static str) -> Required {
        Required {
            scope: Some(scope),
            unless_itself: false,
            wider: None,
        }
    }
}

/// Each API route's [`Required`], by method and route path, from the
/// endpoint table (the API router sets it, [`set_table`]).
static TABLE: OnceLock<HashMap<(Method, &'static str), Required>> = OnceLock::new();

/// Sets what each API route requires (the first call wins: every router of
/// a process is built from the same table). The extractor reads its route's
/// row here rather than from an `Extension` layer on each route: the layer
/// cost every API request a boxed service's clone and an insert. Routes
/// outside the table (SCIM, `/metrics`) carry theirs as an `Extension`.
pub fn set_table(rows: impl FnOnce() -> HashMap<(Method, &'static str), Required>) {
    TABLE.get_or_init(rows);
}

/// What the request's route requires: its row of the table, else the
/// route's `Extension`.
fn required_of(parts: &Parts) -> Option<Required> {
    let row = TABLE
        .get()
        .zip(parts.extensions.get::<MatchedPath>())
        .and_then(|(table, path)| {
            // axum answers HEAD with the GET route
            let method = match parts.method {
                Method::HEAD => Method::GET,
                ref m => m.clone(),
            };
            table.get(&(method, path.as_str())).copied()
        });
    row.or_else(|| parts.extensions.get::<Required>().copied())
}

/// Extractor: the request's token, authenticated for the REST API, with
/// its route's scope checked.
pub struct Pat(pub Authenticated, Required);

impl Pat {
    /// `Ok` when the token has the route's scope for a wider answer.
    pub fn require_wider(&self) -> Result<(), ApiError> {
        match self.1.wider {
            Some(scope) => Ok(self.0.require(scope)?),
            None => Ok(()),
        }
    }

    /// The verified token.
    pub fn verified(&self) -> &Arc<Verified> {
        &self.0.verified
    }

    /// The calling token's `X-Tessera-Token-Expires`, for the answer.
    pub fn expires(&self) -> Expires {
        let v = &self.0.verified;
        let make = || {
            let text = v
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""))
        };
        Expires(match renderings(v) {
            Some(r) => r.expires.get_or_init(make).clone(),
            None => make(),
        })
    }

    /// `body` as a successful answer, with the token's expiry.
    pub fn answer<T>(&self, body: T) -> Answer<T> {
        Ok((self.expires(), axum::Json(body)))
    }

    /// Where the request came from.
    pub fn client(&self) -> &Client {
        &self.0.client
    }

    /// The token as the token service's actor (bounded by its own limits).
    pub fn actor(&self) -> Actor {
        Actor::token(&self.0.verified).from_client(self.0.client.clone())
    }
}

impl FromRequestParts<AppState> for Pat {
    type Rejection = ApiError;

    /// Refuses first what a browser marks as a cross-site change (a browser
    /// that cached Basic credentials after the API's challenge would send
    /// them along with a forged form post; tools send neither header), then
    /// authenticates. Done here rather than in a layer: every API route
    /// takes a `Pat`, and a layer costs every request.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let public_url = &state.core.config.public_url;
        if crate::middleware::is_cross_site(&parts.method, &parts.headers, public_url) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "cross_site",
                "Cross-site requests cannot change anything through the API.",
            ));
        }
        let Some(required) = required_of(parts) else {
            tracing::error!(
                path = parts.uri.path(),
                "a route takes a token but names no scope"
            );
            return Err(ApiError::internal());
        };
        let token = authenticate(state, parts, Channel::Api).await?;
        if let Some(scope) = required.scope {
            // waived only for a path that names the caller itself
            let itself = required.unless_itself
                && axum::extract::Path::<i64>::from_request_parts(parts, state)
                    .await
                    .is_ok_and(|axum::extract::Path(id)| id == token.verified.token_id);
            if !itself {
                token.require(scope)?;
            }
        }
        Ok(Pat(token, required))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_from_bearer_and_basic() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tsr_abc"),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("tsr_abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("  bearer   tsr_abc "),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("tsr_abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(presented_token(&h), None);
        let basic = format!("Basic {}", STANDARD.encode("git:tsr_xyz"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&basic).unwrap(),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("tsr_xyz"));
        let empty_user = format!("Basic {}", STANDARD.encode(":tsr_xyz"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&empty_user).unwrap(),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("tsr_xyz"));
        let token_as_user = format!("Basic {}", STANDARD.encode("tsr_user:"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&token_as_user).unwrap(),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("tsr_user"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Digest abc"),
        );
        assert_eq!(presented_token(&h), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Any bytes a client can put in the header are answered, never a panic.
        #[test]
        fn any_authorization_header_is_answered(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut h = HeaderMap::new();
                h.insert(header::AUTHORIZATION, value);
                let _ = presented_token(&h);
            }
        }

        /// Any Basic payload (base64 of anything, or not base64 at all).
        #[test]
        fn any_basic_credentials_are_answered(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), junk in "[ -~]{0,80}") {
            for value in [format!("Basic {}", STANDARD.encode(&raw)), format!("Basic {junk}")] {
                let mut h = HeaderMap::new();
                h.insert(header::AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
                let _ = presented_token(&h);
            }
        }

        /// A token written as Bearer, or as the Basic password under any
        /// user name git may send, reads back as itself.
        #[test]
        fn bearer_and_basic_read_back_the_token(token in "[!-~]{1,64}", user in "[^:]{0,20}") {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
            let read = presented_token(&h).map(|t| t.into_owned());
            proptest::prop_assert_eq!(read.as_deref(), Some(token.as_str()));
            let basic = format!("Basic {}", STANDARD.encode(format!("{user}:{token}")));
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&basic).unwrap());
            let read = presented_token(&h).map(|t| t.into_owned());
            proptest::prop_assert_eq!(read.as_deref(), Some(token.as_str()));
        }
    }
}
