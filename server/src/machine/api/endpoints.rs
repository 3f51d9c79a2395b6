//! The API's endpoint table: the router ([`super::router`]) and the OpenAPI
//! document ([`super::openapi`]) are both built from it.

use super::{audit, credentials, me, orgs, service_accounts, tokens, workloads};
use app::domain::AppState;
use axum::routing::{delete, get, patch, post, put, MethodRouter};

/// One API operation: the router and the OpenAPI document are both built
/// from this table, so they cannot drift apart.
pub struct Endpoint {
    /// HTTP method, lower case (as OpenAPI writes it).
    pub method: &'static str,
    /// Full path, with `{id}` for a token id.
    pub path: &'static str,
    /// What the caller needs, enforced by the route (see
    /// [`Endpoint::required`]).
    pub needs: Needs,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// Name of the request body schema, if any.
    pub body: Option<&'static str>,
    /// The success status and the name of its body's schema.
    pub answer: (u16, &'static str),
    /// The handler, as a method router.
    pub(super) route: fn() -> MethodRouter<AppState>,
}

/// What an operation needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: no token (the leak reports).
    Nothing,
    /// A token with this scope.
    Scope(&'static str),
    /// A token with this scope, unless it acts on itself (its id in the path).
    ScopeUnlessItself(&'static str),
    /// A token with the first scope; the second for a wider answer.
    ScopeAndForMore(&'static str, &'static str),
}

impl Endpoint {
    /// The scope every call needs, if any (as the OpenAPI document says).
    pub fn scope(&self) -> Option<&'static str> {
        match self.needs {
            Needs::Nothing => None,
            Needs::Scope(s) | Needs::ScopeUnlessItself(s) | Needs::ScopeAndForMore(s, _) => Some(s),
        }
    }

    /// What the route asks of the token (put on the route by the router).
    pub fn required(&self) -> crate::machine::pat::Required {
        crate::machine::pat::Required {
            scope: self.scope(),
            unless_itself: matches!(self.needs, Needs::ScopeUnlessItself(_)),
            wider: match self.needs {
                Needs::ScopeAndForMore(_, wider) => Some(wider),
                _ => None,
            },
        }
    }
}

/// Every API operation.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/v1/me",
        needs: Needs::Scope("profile:read"),
        summary: "The user and token making the request",
        body: None,
        answer: (200, "Me"),
        route: || get(me::me),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/tokens",
        needs: Needs::Scope("tokens:read"),
        summary: "List your tokens (never their secrets)",
        body: None,
        answer: (200, "TokenList"),
        route: || get(tokens::list),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens",
        needs: Needs::Scope("tokens:manage"),
        summary: "Create a token; the secret is in this response only",
        body: Some("TokenBody"),
        answer: (201, "NewToken"),
        route: || post(tokens::create),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/tokens/{id}",
        needs: Needs::Scope("tokens:read"),
        summary: "One token",
        body: None,
        answer: (200, "Token"),
        route: || get(tokens::get),
    },
    Endpoint {
        method: "patch",
        path: "/api/v1/tokens/{id}",
        needs: Needs::Scope("tokens:write"),
        summary: "Edit a token's name, description, expiration or scopes",
        body: Some("TokenBody"),
        answer: (200, "Token"),
        route: || patch(tokens::edit),
    },
    Endpoint {
        method: "delete",
        path: "/api/v1/tokens/{id}",
        needs: Needs::Scope("tokens:write"),
        summary: "Revoke a token",
        body: None,
        answer: (200, "Token"),
        route: || delete(tokens::revoke),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/revoke",
        needs: Needs::Scope("tokens:write"),
        summary: "Revoke a token",
        body: None,
        answer: (200, "Token"),
        route: || post(tokens::revoke),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/regenerate",
        needs: Needs::Scope("tokens:manage"),
        summary: "A new secret for a token (same expiry); in this response only",
        body: None,
        answer: (200, "NewToken"),
        route: || post(tokens::regenerate),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/rotate",
        needs: Needs::Scope("tokens:manage"),
        summary: "A new secret (in this response only) while the old one keeps working for grace_hours (0–168)",
        body: Some("RotateBody"),
        answer: (200, "NewToken"),
        route: || post(tokens::rotate),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/derive",
        needs: Needs::ScopeUnlessItself("tokens:manage"),
        summary: "Derive a child token (never wider, never longer-lived; one hour by default); the token itself may call this without tokens:manage; the secret is in this response only",
        body: Some("DeriveBody"),
        answer: (201, "NewToken"),
        route: || post(tokens::derive),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/tokens/{id}/usage",
        needs: Needs::Scope("tokens:read"),
        summary: "What the token used in the last 30 days (scopes and resources) and what it never used",
        body: None,
        answer: (200, "TokenUsage"),
        route: || get(tokens::usage),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/tokens/{id}/narrow",
        needs: Needs::Scope("tokens:write"),
        summary: "Narrow the token to what it used in the last 30 days (name, expiry and secret stay)",
        body: None,
        answer: (200, "Token"),
        route: || post(tokens::narrow),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/workload-trust",
        needs: Needs::Scope("tokens:read"),
        summary: "Your trust rules: which workloads may exchange their OIDC ID token for a minutes-long token (POST /oauth/token); rules are made on the page or by an administrator",
        body: None,
        answer: (200, "TrustRuleList"),
        route: || get(workloads::list),
    },
    Endpoint {
        method: "delete",
        path: "/api/v1/workload-trust/{id}",
        needs: Needs::Scope("tokens:write"),
        summary: "Remove a trust rule; every live token it minted is revoked",
        body: None,
        answer: (200, "TrustRuleRemoved"),
        route: || delete(workloads::remove),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/orgs/{org}/token-requests",
        needs: Needs::Scope("tokens:read"),
        summary: "An organization's approval requests, newest first (?state=pending, the default, or all); owners of the organization only",
        body: None,
        answer: (200, "TokenRequestList"),
        route: || get(orgs::list),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/orgs/{org}/token-requests/{id}/approve",
        needs: Needs::Scope("tokens:manage"),
        summary: "Approve a request (an owner other than the requester): the token works at once; the body's reason is optional",
        body: Some("TokenRequestDecision"),
        answer: (200, "TokenRequest"),
        route: || post(orgs::approve),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/orgs/{org}/token-requests/{id}/deny",
        needs: Needs::Scope("tokens:manage"),
        summary: "Deny a request with a reason the requester reads: the token is revoked",
        body: Some("TokenRequestDecision"),
        answer: (200, "TokenRequest"),
        route: || post(orgs::deny),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/orgs/{org}/policies",
        needs: Needs::Scope("tokens:read"),
        summary: "An organization's policies (members of the organization); its tokens are held to the stricter of each and the server's",
        body: None,
        answer: (200, "OrgPolicies"),
        route: || get(orgs::get_policies),
    },
    Endpoint {
        method: "put",
        path: "/api/v1/orgs/{org}/policies/{key}",
        needs: Needs::Scope("tokens:manage"),
        summary: "Set one of an organization's policies (owners only; `none` clears it)",
        body: Some("OrgPolicyValue"),
        answer: (200, "OrgPolicies"),
        route: || put(orgs::set_policy),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/orgs/{org}/audit",
        needs: Needs::Scope("tokens:read"),
        summary: "An organization's audit log, newest first (owners only): what happened to it and to the tokens it owns",
        body: None,
        answer: (200, "AuditPage"),
        route: || get(orgs::audit),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/orgs/{org}/service-accounts",
        needs: Needs::Scope("tokens:read"),
        summary: "An organization's service accounts and their live tokens, with who made each (owners only)",
        body: None,
        answer: (200, "ServiceAccountList"),
        route: || get(service_accounts::list),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/orgs/{org}/service-accounts",
        needs: Needs::Scope("tokens:manage"),
        summary: "Create a service account in an organization (owners only), optionally one of its teams'",
        body: Some("NewServiceAccount"),
        answer: (201, "ServiceAccount"),
        route: || post(service_accounts::create),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/orgs/{org}/service-accounts/{name}/tokens",
        needs: Needs::Scope("tokens:manage"),
        summary: "Make a token for a service account (owners only): it belongs to the organization and keeps working when its maker leaves; the secret is in this response only",
        body: Some("TokenBody"),
        answer: (201, "NewToken"),
        route: || post(service_accounts::create_token),
    },
    Endpoint {
        method: "delete",
        path: "/api/v1/orgs/{org}/service-accounts/tokens/{id}",
        needs: Needs::Scope("tokens:manage"),
        summary: "Revoke a service account's token (owners only)",
        body: None,
        answer: (200, "Token"),
        route: || delete(service_accounts::revoke_token),
    },
    Endpoint {
        method: "get",
        path: "/api/v1/audit",
        needs: Needs::ScopeAndForMore("profile:read", "admin:read"),
        summary: "Your audit events, newest first (administrators with admin:read: ?user=NAME or ?user=*)",
        body: None,
        answer: (200, "AuditPage"),
        route: || get(audit::list),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/credentials/revoke",
        needs: Needs::Nothing,
        summary: "Report leaked tokens (no authentication): each live one is revoked; the answer is the same whatever the list held",
        body: Some("LeakReport"),
        answer: (202, "LeakReportAccepted"),
        route: || post(credentials::revoke),
    },
    Endpoint {
        method: "post",
        path: "/api/v1/secret-scanning/report",
        needs: Needs::Nothing,
        summary: "A secret-scanning partner's signed report (GitHub's format; Github-Public-Key-Identifier and Github-Public-Key-Signature headers): each live token in it is revoked as leaked",
        body: Some("SecretScanningReport"),
        answer: (202, "LeakReportAccepted"),
        route: || post(credentials::scanning_report),
    },
];
