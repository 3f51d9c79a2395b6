//! The gateway check used by nginx `auth_request` and Traefik `forwardAuth`
//! (`/gateway/check`, every method: proxies forward the original one).

use super::{error::ApiError, pat::authenticate};
use app::domain::authenticate::Channel;
use app::domain::AppState;
use app::tokens::reach::PATTERN_MAX;
use axum::{
    extract::{Request, State},
    http::{request::Parts, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
    Router,
};
use std::borrow::Cow;

/// The routes under `/gateway`, at their full paths: `nest` would rebuild
/// every request's URI to strip the prefix (measurable on this hot route).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/gateway/check", any(check))
        .route("/gateway", any(super::error::no_endpoint))
        .route("/gateway/", any(super::error::no_endpoint))
        .route("/gateway/{*rest}", any(super::error::no_endpoint))
}

/// What the gateway check tells the proxy (names checked once, at compile time).
const IDENTITY_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("x-tessera-user-id"),
    HeaderName::from_static("x-tessera-token-id"),
    HeaderName::from_static("x-tessera-user"),
    HeaderName::from_static("x-tessera-scopes"),
    HeaderName::from_static("x-tessera-resources"),
];

/// What a gateway asks about: the first `?NAME=`, else the
/// `X-Tessera-NAME` header; `None` when absent or blank.
fn asked<'a>(parts: &'a Parts, name: &str, header: &str) -> Option<Cow<'a, str>> {
    let from_query = parts.uri.query().map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    });
    match from_query {
        Some(Some(value)) => Some(value),
        _ => parts
            .headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .map(Cow::Borrowed),
    }
    .filter(|s| !s.trim().is_empty())
}

/// The scope a gateway asks for (`?scope=` or `X-Tessera-Scope`); `None`:
/// any valid token.
fn required_scope(parts: &Parts) -> Option<Cow<'_, str>> {
    asked(parts, "scope", "x-tessera-scope")
}

/// The resource the request is for (`?resource=` or `X-Tessera-Resource`,
/// e.g. `acme/api`), as the proxy names it.
fn resource(parts: &Parts) -> Option<Cow<'_, str>> {
    asked(parts, "resource", "x-tessera-resource")
}

/// What a gateway asks about: the scope (`None`: any valid token) and the
/// resource.
type Question<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

/// The longest resource a gateway may name (patterns are at most
/// [`PATTERN_MAX`] characters; `*` may match more).
pub const RESOURCE_MAX: usize = 2 * PATTERN_MAX;

/// What the proxy asks about, read before anything is verified or
/// recorded: the scope a catalog area and level (else 400 `invalid_scope`),
/// the resource bounded and printable (else 400 `invalid_resource`). A
/// caller's string never becomes an audit row or a sampling key as sent.
fn question(parts: &Parts) -> Result<Question<'_>, ApiError> {
    let scope = match required_scope(parts) {
        Some(s) => {
            if let Err(e) = app::scopes::parse_required(&s) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("The scope this check names is not valid: {e}"),
                ));
            }
            Some(match s {
                Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
                Cow::Owned(o) => Cow::Owned(o.trim().to_owned()),
            })
        }
        None => None,
    };
    let resource = resource(parts);
    if let Some(r) = &resource {
        if r.len() > RESOURCE_MAX || r.chars().any(char::is_control) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                format!(
                    "The resource this check names must be at most {RESOURCE_MAX} bytes of printable text."
                ),
            ));
        }
    }
    Ok((scope, resource))
}

/// 204 with identity headers when the request's token is valid and has the
/// required scope (`?scope=` or `X-Tessera-Scope`), 401 with
/// `WWW-Authenticate: Basic` (so git asks for credentials), or 403.
async fn check(State(state): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let (scope, resource) = match question(&parts) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let token = match authenticate(&state, &parts, Channel::Gateway).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    if let Err(denied) = token.require_on(scope.as_deref(), resource.as_deref()) {
        return ApiError::from(denied).into_response();
    }
    let verified = &token.verified;
    // made once per verification; a cache hit clones five shared values
    let make = || {
        let text = |v: &str| HeaderValue::from_str(v).ok();
        [
            Some(HeaderValue::from(verified.user_id)),
            Some(HeaderValue::from(verified.token_id)),
            text(&verified.username),
            text(&verified.scope_text),
            (!verified.resources.is_empty())
                .then(|| text(&verified.resources.to_stored()))
                .flatten(),
        ]
    };
    let made;
    let values = match super::pat::renderings(verified) {
        Some(r) => r.gateway_headers.get_or_init(make),
        None => {
            made = make();
            &made
        }
    };
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    // room for these and the shared layers' headers: no regrowth
    h.reserve(16);
    for (name, value) in IDENTITY_HEADERS.into_iter().zip(values) {
        if let Some(v) = value {
            h.insert(name, v.clone());
        }
    }
    res
}
