//! `/api/v1/orgs/{org}/…`: an organization's approval requests, for its
//! owners' tokens (a bot can decide them too), its policies (members read
//! them, owners set them) and its audit log (owners). Another
//! organization, or a caller who is not an owner (a member, for what
//! only owners do), answers 404; a requester never decides their own
//! request (403 `own_request`).

use crate::machine::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::machine::pat::{Answer, Pat};
use app::domain::{
    audit::By,
    orgs::{
        self, policies,
        requests::{self, Decider, RequestError, RequestRow},
    },
    AppState,
};
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// One approval request.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenRequest)]
pub struct RequestJson {
    /// The request's id.
    id: i64,
    /// The token waiting for it (refused with `approval_pending` until approved).
    token_id: i64,
    /// The token's name.
    token_name: String,
    /// Who asked.
    requester: String,
    /// The scopes asked for.
    scopes: String,
    /// Area → resource patterns asked for (`{}`: all of the organization's).
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    resources: std::collections::BTreeMap<String, Vec<String>>,
    /// Why: the token's description.
    justification: String,
    /// `pending`, `approved`, `denied` or `withdrawn` (the token ended first).
    #[schema(pattern = "^(pending|approved|denied|withdrawn)$")]
    state: String,
    /// When it was asked.
    created_at: DateTime<Utc>,
    /// When the token ends.
    expires_at: DateTime<Utc>,
    /// When it was decided.
    decided_at: Option<DateTime<Utc>>,
    /// Which owner decided.
    decided_by: Option<String>,
    /// The owner's reason.
    reason: Option<String>,
}

impl From<RequestRow> for RequestJson {
    fn from(r: RequestRow) -> Self {
        RequestJson {
            id: r.id,
            token_id: r.token_id,
            token_name: r.token_name,
            requester: r.requester,
            scopes: r.scopes,
            resources: app::tokens::Resources::from_stored(&r.resources)
                .map()
                .clone(),
            justification: r.justification,
            state: r.state,
            created_at: r.created_at,
            expires_at: r.expires_at,
            decided_at: r.decided_at,
            decided_by: r.decided_by,
            reason: r.reason,
        }
    }
}

/// An organization's requests.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenRequestList)]
pub struct RequestListJson {
    /// Newest first.
    requests: Vec<RequestJson>,
}

/// `?state=`: `pending` (the default) or `all`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    state: Option<String>,
}

/// An owner's decision.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TokenRequestDecision)]
pub struct DecisionBody {
    /// Why (required to deny: the requester reads it; at most 500 characters).
    #[schema(max_length = 500)]
    reason: Option<String>,
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        let (status, code) = e.status_code();
        if let RequestError::Database(err) = &e {
            tracing::error!(error = %err, "a token request failed");
            return ApiError::unavailable();
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let err = ApiError::new(status, code, e.to_string());
        match &e {
            RequestError::Invalid(field, message) => err.with("fields", json!({ *field: message })),
            _ => err,
        }
    }
}

/// A token that belongs to another organization sees none of this one's
/// requests.
fn within(pat: &Pat, org: &str) -> Result<(), ApiError> {
    match &pat.verified().owner {
        Some(owner) if owner != org.trim() => Err(RequestError::NotFound.into()),
        _ => Ok(()),
    }
}

/// `GET /api/v1/orgs/{org}/token-requests` (`tokens:read`; owners of `org`).
pub async fn list(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(org): ApiPath<String>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Answer<RequestListJson> {
    within(&pat, &org)?;
    let all = match p.state.as_deref().map(str::trim) {
        None | Some("") | Some("pending") => false,
        Some("all") => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "state is pending or all.",
            ))
        }
    };
    let rows = requests::list(&state.core.db, &org, pat.verified().user_id, all).await?;
    pat.answer(RequestListJson {
        requests: rows.into_iter().map(RequestJson::from).collect(),
    })
}

async fn decide(
    state: AppState,
    pat: Pat,
    (org, id): (String, i64),
    body: DecisionBody,
    approve: bool,
) -> Answer<RequestJson> {
    within(&pat, &org)?;
    let v = pat.verified();
    let decider = Decider {
        user_id: v.user_id,
        by: By::Token {
            user: v.user_id,
            token: v.token_id,
        },
        client: Some(pat.client().clone()),
    };
    let reason = body.reason.unwrap_or_default();
    let row = requests::decide(&state.core, &decider, &org, id, approve, &reason).await?;
    pat.answer(row.into())
}

/// `POST /api/v1/orgs/{org}/token-requests/{id}/approve` (`tokens:manage`).
pub async fn approve(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(path): ApiPath<(String, i64)>,
    body: axum::body::Bytes,
) -> Answer<RequestJson> {
    // the body is optional here
    let body: DecisionBody = crate::machine::error::optional_body(&body)?;
    decide(state, pat, path, body, true).await
}

/// `POST /api/v1/orgs/{org}/token-requests/{id}/deny` (`tokens:manage`).
pub async fn deny(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(path): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> Answer<RequestJson> {
    decide(state, pat, path, body, false).await
}

/// An organization's policies.
#[derive(Serialize, ToSchema)]
#[schema(as = OrgPolicies)]
pub struct PoliciesJson {
    /// Key → value (`none`: not set): `approval_required_for` and the
    /// server-wide token keys; its tokens are held to the stricter of each
    /// and the server's.
    policies: std::collections::BTreeMap<String, String>,
}

/// A policy's new value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OrgPolicyValue)]
pub struct PolicyBody {
    /// The value as `tessera admin org set-policy` takes it (`none` clears it).
    #[schema(max_length = 2000)]
    value: String,
}

/// The organization `org` when the caller is a member (`owner`: one of its
/// owners), seen through a token that may speak for it.
pub(super) async fn member_of(
    state: &AppState,
    pat: &Pat,
    org: &str,
    owner: bool,
) -> Result<orgs::OrgRow, ApiError> {
    within(pat, org)?;
    let user_id = pat.verified().user_id;
    let found = if owner {
        orgs::as_owner(&state.core.db, org, user_id).await.ok()
    } else {
        let mine = orgs::memberships(&state.core.db, user_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading memberships failed");
                ApiError::unavailable()
            })?;
        match mine.iter().any(|(name, _)| name == org.trim()) {
            true => orgs::get(&state.core.db, org).await.ok(),
            false => None,
        }
    };
    found.ok_or_else(|| RequestError::NotFound.into())
}

/// The answer of both policy routes: every policy of organization `org_id`.
async fn policies_of(state: &AppState, pat: &Pat, org_id: i64) -> Answer<PoliciesJson> {
    let all = policies::all(&state.core.db, org_id)
        .await
        .map_err(RequestError::from)?;
    pat.answer(PoliciesJson {
        policies: all.into_iter().collect(),
    })
}

/// `GET /api/v1/orgs/{org}/policies` (`tokens:read`; members of `org`).
pub async fn get_policies(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(org): ApiPath<String>,
) -> Answer<PoliciesJson> {
    let o = member_of(&state, &pat, &org, false).await?;
    policies_of(&state, &pat, o.id).await
}

/// `PUT /api/v1/orgs/{org}/policies/{key}` (`tokens:manage`; owners of `org`).
pub async fn set_policy(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath((org, key)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Answer<PoliciesJson> {
    let o = member_of(&state, &pat, &org, true).await?;
    let v = pat.verified();
    let by = By::Token {
        user: v.user_id,
        token: v.token_id,
    };
    policies::set(
        &state.core,
        by,
        Some(pat.client()),
        &o.name,
        &key,
        &body.value,
    )
    .await?;
    policies_of(&state, &pat, o.id).await
}

/// `?cursor=&limit=` of the organization's audit log.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/v1/orgs/{org}/audit` (`tokens:read`; owners of `org`): what
/// happened to the organization and the tokens it owns, newest first.
pub async fn audit(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(org): ApiPath<String>,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Answer<super::audit::AuditPageJson> {
    let o = member_of(&state, &pat, &org, true).await?;
    let (before, limit) = super::audit::paging(p.cursor.as_deref(), p.limit)?;
    let events = app::domain::audit::of_org(&state.core.db, o.id, &o.name, before, limit + 1).await;
    pat.answer(super::audit::AuditPageJson::of(events, limit)?)
}
