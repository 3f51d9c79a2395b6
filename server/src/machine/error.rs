//! The machine routes' error answer: an HTTP status and a JSON body with a
//! stable `error` code and a `message`. Every failure on a machine route
//! becomes one — service errors, unreadable bodies, queries and paths,
//! unknown paths and methods.

use app::domain::tokens::TokenError;
use axum::{
    extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection},
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Map, Value};

/// `WWW-Authenticate` of every 401: git and browsers then ask for credentials.
pub const REALM: &str = "Basic realm=\"Tessera\"";

/// On a `403 insufficient_scope`: every scope that would have worked,
/// joined by ", " (the body's `accepted_scopes`).
pub const ACCEPTED_SCOPES: HeaderName = HeaderName::from_static("x-tessera-accepted-scopes");

/// An API error, ready to send.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable `error` code.
    pub code: &'static str,
    /// A sentence for a person.
    pub message: String,
    /// More members of the JSON body (`fields`, `required_scope`, …).
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// The same error with one more member in its body.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// 401 with `code` (and the `WWW-Authenticate` challenge).
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: the token lacks `required`. The body names it
    /// (`required_scope`) and every scope that would have worked
    /// (`accepted_scopes`, also in the `X-Tessera-Accepted-Scopes` header).
    pub fn insufficient_scope(required: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("This token lacks the scope {required}."),
        )
        .with("required_scope", json!(required))
        .with("accepted_scopes", json!(app::scopes::accepted(required)))
    }

    /// The same error with another sentence.
    pub fn saying(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// 403: the token's network allowlist leaves out the client's address.
    /// (`None`: the address is not known).
    pub fn ip_not_allowed(ip: Option<std::net::IpAddr>) -> Self {
        let message = match ip {
            Some(ip) => {
                format!("This token cannot be used from {ip}: the address is not in its allowlist.")
            }
            None => "This token has a network allowlist, and the client's address is not known."
                .to_owned(),
        };
        Self::new(StatusCode::FORBIDDEN, "ip_not_allowed", message)
    }

    /// 403: the token's scope for `area` is limited to resources and the
    /// request names none of them (or none at all).
    pub fn resource_not_allowed(area: &str, resource: Option<&str>) -> Self {
        let message = match resource {
            Some(r) => format!("This token cannot be used on {r}: its {area} scope is limited to other resources."),
            None => format!("This token's {area} scope is limited to some resources, and the request names none."),
        };
        let err = Self::new(StatusCode::FORBIDDEN, "resource_not_allowed", message);
        match resource {
            Some(r) => err.with("resource", json!(r)),
            None => err,
        }
    }

    /// 403: an organization policy blocks the token (it works again when
    /// the policy allows it).
    pub fn blocked(block: &app::tokens::policy::Block) -> Self {
        if block.policy == app::domain::verify::APPROVAL_PENDING {
            return Self::new(
                StatusCode::FORBIDDEN,
                "approval_pending",
                format!("This token is not approved yet: {}.", block.reason),
            );
        }
        Self::new(StatusCode::FORBIDDEN, "policy_violation", block.sentence())
            .with("policy", json!(block.policy))
    }

    /// 404 for a path no machine route serves.
    pub fn no_endpoint() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such API endpoint; see /api/v1/openapi.json.",
        )
    }

    /// 405 for a known path called with a method it does not serve.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This endpoint does not accept that method.",
        )
    }

    /// 503: a failure of ours (already logged by the caller).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side; try again.",
        )
    }

    /// 503: the store did not answer.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is unavailable; try again.",
        )
    }
}

/// Fallback handler of the machine groups: a path none of their routes serves.
pub async fn no_endpoint() -> ApiError {
    ApiError::no_endpoint()
}

/// Method fallback handler of a machine route (axum adds the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        // the header says what the body says: scope strings joined by ", "
        let accepted = body
            .get("accepted_scopes")
            .and_then(Value::as_array)
            .map(|scopes| {
                let names: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
                names.join(", ")
            })
            .and_then(|text| HeaderValue::from_str(&text).ok());
        body.insert("error".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        let mut res = (self.status, Json(Value::Object(body))).into_response();
        if let Some(accepted) = accepted {
            res.headers_mut().insert(ACCEPTED_SCOPES, accepted);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
        }
        res
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        if e.is_internal() {
            tracing::error!(error = %e, "token operation failed");
            return ApiError::unavailable();
        }
        let mut err = ApiError::new(e.status(), e.code(), e.message());
        match &e {
            TokenError::Invalid(fields) => err = err.with("fields", json!(fields)),
            TokenError::AlreadySubmitted(existing) => err = err.with("id", json!(existing.id)),
            TokenError::PolicyViolation(policy, _) => err = err.with("policy", json!(policy)),
            _ => {}
        }
        err
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::new(r.status(), "invalid_body", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        ApiError::new(r.status(), "invalid_request", r.body_text())
    }
}

/// A path parameter that is not an id names nothing: the same answer as a
/// missing token.
impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        TokenError::NotFound.into()
    }
}

/// An optional JSON body: empty (or blank) is `T::default()`; what cannot
/// be read is `422 invalid_body`.
pub fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("The body could not be read: {e}"),
        )
    })
}

/// `axum::Json` whose rejection is an [`ApiError`].
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Query` whose rejection is an [`ApiError`].
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path` whose rejection is an [`ApiError`] (404).
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::Form` whose rejection is an [`ApiError`].
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub struct ApiForm<T>(pub T);
