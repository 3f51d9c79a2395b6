//! The API's endpoint table: the router ([`super::router`]) and the OpenAPI
//! document ([`super::openapi`]) are both built from it.

use super::{audit, credentials, me, tokens};
use app::domain::AppState;
use axum::routing::{delete, get, patch, post, MethodRouter};

/// One API operation: the router and the OpenAPI document are both built
/// from this table, so they cannot drift apart.
pub struct Endpoint {
    /// HTTP method, lower case (as OpenAPI writes it).
    pub method: &'static str,
    /// Full path, with `{id}` for a token id.
    pub path: &'static str,
    /// The scope a token needs (`None`: not PAT-authenticated this way),
    /// enforced by the route (see [`Endpoint::required`]).
    pub scope: Option<&'static str>,
    /// `scope` is waived when the token acts on itself (its id in the path).
    pub unless_itself: bool,
    /// A scope needed for a wider answer only (the handler asks for it).
    pub wider: Option<&'static str>,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// Name of the request body schema, if any.
    pub body: Option<&'static str>,
    /// The success status and the name of its body's schema.
    pub answer: (u16, &'static str),
    /// The handler, as a method router.
    pub(super) route: fn() -> MethodRouter<AppState>,
}

impl Endpoint {
    /// What the route asks of the token (put on the route by the router).
    pub fn required(&self) -> crate::machine::pat::Required {
        crate::machine::pat::Required {
            scope: self.scope,
            unless_itself: self.unless_itself,
            wider: self.wider,
        }
    }
}

/// Every API operation.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/v1/me",
        scope: Some("profile:read"),
        unless_itself: false,
        wider: None,
        summary: "The user and token making the request",
        body: None,
        answer: (200, "Me"),
        route: || get(me::me),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/tokens",
        scope: Some("tokens:read"),
        unless_itself: false,
        wider: None,
        summary: "List your tokens (never their secrets)",
        body: None,
        answer: (200, "TokenList"),
        route: || get(tokens::list),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens",
        scope: Some("tokens:manage"),
        unless_itself: false,
        wider: None,
        summary: "Create a token; the secret is in this response only",
        body: Some("TokenBody"),
        answer: (201, "NewToken"),
        route: || post(tokens::create),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/tokens/{id}",
        scope: Some("tokens:read"),
        unless_itself: false,
        wider: None,
        summary: "One token",
        body: None,
        answer: (200, "Token"),
        route: || get(tokens::get),
    },
    Endpoint {
        method: "patch",
        path: "/api/v1/tokens/{id}",
        scope: Some("tokens:write"),
        unless_itself: false,
        wider: None,
        summary: "Edit a token's name, description, expiration or scopes",
        body: Some("TokenBody"),
        answer: (200, "Token"),
        route: || patch(tokens::edit),
    },
    Endpoint {
        method: "delete",
        path: "/api/v1/tokens/{id}",
        scope: Some("tokens:write"),
        unless_itself: false,
        wider: None,
        summary: "Revoke a token",
        body: None,
        answer: (200, "Token"),
        route: || delete(tokens::revoke),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/revoke",
        scope: Some("tokens:write"),
        unless_itself: false,
        wider: None,
        summary: "Revoke a token",
        body: None,
        answer: (200, "Token"),
        route: || post(tokens::revoke),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/regenerate",
        scope: Some("tokens:manage"),
        unless_itself: false,
        wider: None,
        summary: "A new secret for a token (same expiry); in this response only",
        body: None,
        answer: (200, "NewToken"),
        route: || post(tokens::regenerate),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/rotate",
        scope: Some("tokens:manage"),
        unless_itself: false,
        wider: None,
        summary: "A new secret (in this response only) while the old one keeps working for grace_hours (0–168)",
        body: Some("RotateBody"),
        answer: (200, "NewToken"),
        route: || post(tokens::rotate),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/derive",
        scope: Some("tokens:manage"),
        unless_itself: true,
        wider: None,
        summary: "Derive a child token (never wider, never longer-lived; one hour by default); the token itself may call this without tokens:manage; the secret is in this response only",
        body: Some("DeriveBody"),
        answer: (201, "NewToken"),
        route: || post(tokens::derive),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/tokens/{id}/usage",
        scope: Some("tokens:read"),
        unless_itself: false,
        wider: None,
        summary: "What the token used in the last 30 days (scopes and resources) and what it never used",
        body: None,
        answer: (200, "TokenUsage"),
        route: || get(tokens::usage),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/narrow",
        scope: Some("tokens:write"),
        unless_itself: false,
        wider: None,
        summary: "Narrow the token to what it used in the last 30 days (name, expiry and secret stay)",
        body: None,
        answer: (200, "Token"),
        route: || post(tokens::narrow),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/audit",
        scope: Some("profile:read"),
        unless_itself: false,
        wider: Some("admin:read"),
        summary: "Your audit events, newest first (administrators with admin:read: ?user=NAME or ?user=*)",
        body: None,
        answer: (200, "AuditPage"),
        route: || get(audit::list),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/credentials/revoke",
        scope: None,
        unless_itself: false,
        wider: None,
        summary: "Report leaked tokens (no authentication): each live one is revoked; the answer is the same whatever the list held",
        body: Some("LeakReport"),
        answer: (202, "LeakReportAccepted"),
        route: || post(credentials::revoke),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/secret-scanning/report",
        scope: None,
        unless_itself: false,
        wider: None,
        summary: "A secret-scanning partner's signed report (GitHub's format; Github-Public-Key-Identifier and Github-Public-Key-Signature headers): each live token in it is revoked as leaked",
        body: Some("SecretScanningReport"),
        answer: (202, "LeakReportAccepted"),
        route: || post(credentials::scanning_report),
    },
];
