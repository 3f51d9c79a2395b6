//! Personal-access-token authentication for machine clients: the REST API
//! and the gateway check. A PAT arrives as `Authorization: Bearer <PAT>` or
//! as the password (or, failing that, the user name) of HTTP Basic — what
//! git and VS Code send.

use super::error::ApiError;
use crate::middleware::client_of;
use app::server::{
    audit::{self, By, Event},
    sessions::Client,
    tokens::Actor,
    verify::{Verified, VerifyError},
    AppState, Core,
};
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap},
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use std::{borrow::Cow, sync::Arc};

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

/// Verifies the request's token, refuses it when a policy blocks it, and
/// records its use; the error is ready to send.
pub async fn authenticate(
    state: &AppState,
    parts: &Parts,
) -> Result<(Arc<Verified>, Client), ApiError> {
    let client = client_of(parts);
    let verified = verify_headers(state, &parts.headers, &client).await?;
    if let Some(block) = &verified.blocked {
        refused(
            &state.core,
            &verified,
            &client,
            Refusal::Blocked(&block.policy),
        );
        return Err(ApiError::blocked(block));
    }
    if !verified.networks.allows(client.ip) {
        refused(&state.core, &verified, &client, Refusal::Address);
        return Err(ApiError::ip_not_allowed(app::tokens::reach::plain(
            client.ip,
        )));
    }
    state.core.token_used(&verified, &client);
    Ok((verified, client))
}

/// Why a valid token was refused.
#[derive(Clone, Copy, Debug)]
pub enum Refusal<'a> {
    /// A policy (its key) blocks it: `token.blocked`.
    Blocked(&'a str),
    /// It lacks the scope: `token.denied`.
    Scope(&'a str),
    /// The client's address is not in its allowlist: `token.ip_denied`.
    Address,
    /// Its scope for the area is limited to other resources (the one
    /// asked for, if any): `token.resource_denied`.
    Resource(&'a str, Option<&'a str>),
}

/// Counts a refusal of a valid token in the metrics, and records it in the
/// audit log at most once per token and reason per sampling period (a flood
/// of refusals writes a bounded number of rows), in the background.
pub fn refused(core: &Core, v: &Verified, client: &Client, why: Refusal<'_>) {
    core.metrics.verification(match why {
        Refusal::Blocked(_) => "blocked",
        Refusal::Scope(_) => "insufficient_scope",
        Refusal::Address => "ip_not_allowed",
        Refusal::Resource(..) => "resource_not_allowed",
    });
    let (event, sample, details) = match why {
        Refusal::Blocked(policy) => (
            "token.blocked",
            policy,
            serde_json::json!({ "policy": policy }),
        ),
        Refusal::Scope(scope) => (
            "token.denied",
            scope,
            serde_json::json!({ "required_scope": scope }),
        ),
        Refusal::Address => (
            "token.ip_denied",
            "ip_not_allowed",
            serde_json::json!({ "ip": app::tokens::reach::plain(client.ip).to_string() }),
        ),
        Refusal::Resource(area, resource) => (
            "token.resource_denied",
            "resource_not_allowed",
            serde_json::json!({ "area": area, "resource": resource }),
        ),
    };
    if !core.refusals.admit(v.token_id, sample) {
        return;
    }
    let by = By::Token {
        user: v.user_id,
        token: v.token_id,
    };
    let ev = Event::new(event, Some(v.user_id), Some(v.token_id), by, Some(client)).with(details);
    audit::record_later(&core.db, ev);
}

async fn verify_headers(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
) -> Result<Arc<Verified>, ApiError> {
    let Some(token) = presented_token(headers) else {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "Authentication required: send a personal access token as a Bearer token or as the Basic password.",
        ));
    };
    match state.core.verify(&token).await {
        Ok(v) => Ok(v),
        Err(VerifyError::Rejected(r)) => Err(ApiError::unauthorized(r.code(), r.message())),
        Err(VerifyError::Ended { why, token_id }) => {
            state
                .core
                .presented
                .note(token_id, client.ip, &client.agent);
            Err(ApiError::unauthorized(why.code(), why.message()))
        }
        Err(VerifyError::Reused { token_id, user_id }) => {
            reused(state.core.clone(), token_id, user_id, client);
            let r = app::server::verify::Rejection::Rotated;
            Err(ApiError::unauthorized(r.code(), r.message()))
        }
        Err(VerifyError::Database(e)) => {
            tracing::error!(error = %e, "token verification failed");
            Err(ApiError::unavailable())
        }
    }
}

/// Records that a secret rotated out of a token was presented
/// (`token.reused`, sampled like other refusals): where it came from is
/// how its owner finds what still uses it.
/// With the `revoke_on_reuse` policy, the token's current secret is
/// revoked too (by policy).
pub fn reused(core: Arc<Core>, token_id: i64, user_id: i64, client: &Client) {
    if core.policies().revoke_on_reuse {
        let event = Event::new(
            "token.revoked",
            Some(user_id),
            Some(token_id),
            By::Policy,
            Some(client),
        );
        let core = core.clone();
        tokio::spawn(async move {
            let reason = "an old secret was used after rotation (revoke_on_reuse)";
            if let Err(e) =
                app::server::tokens::revoke_as(&core, event, user_id, token_id, reason).await
            {
                tracing::error!(error = %e, "revoke on reuse failed");
            }
        });
    }
    if !core.refusals.admit(token_id, "reused") {
        return;
    }
    let by = By::Token {
        user: user_id,
        token: token_id,
    };
    let ev = Event::new(
        "token.reused",
        Some(user_id),
        Some(token_id),
        by,
        Some(client),
    )
    .with(serde_json::json!({ "secret": "rotated out" }));
    audit::record_later(&core.db, ev);
}

/// Extractor: the verified token of the request, and where it came from.
pub struct Pat(pub Arc<Verified>, pub Client, Arc<Core>);

impl Pat {
    /// `Ok` when the token's scopes include `scope` (e.g. `tokens:read`);
    /// a refusal is audited (sampled).
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.0.grants(scope) {
            self.2.scope_uses.note(self.0.token_id, scope, None);
            Ok(())
        } else {
            refused(&self.2, &self.0, &self.1, Refusal::Scope(scope));
            Err(ApiError::insufficient_scope(scope))
        }
    }

    /// The token as the token service's actor (bounded by its own limits).
    pub fn actor(&self) -> Actor {
        Actor::token(&self.0).from_client(self.1.clone())
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
        let (verified, client) = authenticate(state, parts).await?;
        Ok(Pat(verified, client, state.core.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
