//! `/api/v1/orgs/{org}/service-accounts…`: an organization's service
//! accounts and their tokens, for its owners (a member, another
//! organization's token or a stranger gets 404). A service account's token
//! belongs to the organization and records who made it: it keeps working
//! when that person leaves.

use super::orgs::member_of;
use super::tokens::{SecretJson, TokenBody, TokenJson};
use crate::machine::error::{ApiError, ApiJson, ApiPath};
use crate::machine::pat::{Answer, Pat};
use app::domain::{
    admin::{Admin, AdminError},
    orgs::service_accounts::{self, ServiceAccount},
    tokens::TokenError,
    AppState,
};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A service account, with its live tokens.
#[derive(Serialize, ToSchema)]
#[schema(as = ServiceAccount)]
pub struct AccountJson {
    /// Its name: what a gateway sees as the user of its tokens.
    name: String,
    /// The team it belongs to (its members are told when its tokens
    /// expire, with the organization's owners), if any.
    team: Option<String>,
    /// When it was made.
    created_at: DateTime<Utc>,
    /// Its live tokens, by name (`made_by`: who made each).
    tokens: Vec<TokenJson>,
}

/// An organization's service accounts.
#[derive(Serialize, ToSchema)]
#[schema(as = ServiceAccountList)]
pub struct AccountListJson {
    /// By name.
    service_accounts: Vec<AccountJson>,
}

/// A new service account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewServiceAccount)]
pub struct AccountBody {
    /// Its name (a username: letters, digits, '.', '_', '-').
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// One of the organization's teams, if the account is that team's.
    team: Option<String>,
}

/// The accounts of organization `org_id` with their tokens.
async fn accounts_of(state: &AppState, org_id: i64) -> Result<Vec<AccountJson>, TokenError> {
    let db = &state.core.db;
    let accounts = service_accounts::of_org(db, org_id).await?;
    let mut tokens = service_accounts::tokens_of(db, org_id).await?;
    let now = app::domain::db::now();
    Ok(accounts
        .into_iter()
        .map(|a: ServiceAccount| {
            let (mine, rest) = tokens.drain(..).partition(|t| t.account == a.username);
            tokens = rest;
            AccountJson {
                name: a.username,
                team: a.team,
                created_at: a.created_at,
                tokens: mine
                    .into_iter()
                    .map(|t: service_accounts::ServiceToken| TokenJson::of(&t.token, now))
                    .collect(),
            }
        })
        .collect())
}

/// `GET /api/v1/orgs/{org}/service-accounts` (`tokens:read`; owners).
pub async fn list(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(org): ApiPath<String>,
) -> Answer<AccountListJson> {
    let o = member_of(&state, &pat, &org, true).await?;
    pat.answer(AccountListJson {
        service_accounts: accounts_of(&state, o.id).await?,
    })
}

/// A refusal of a new account, under the field it is about.
fn refused(e: AdminError, field: &str) -> ApiError {
    match e {
        AdminError::Database(e) => TokenError::Database(e).into(),
        e => TokenError::Invalid([(field.to_owned(), e.to_string())].into()).into(),
    }
}

/// `POST /api/v1/orgs/{org}/service-accounts` (`tokens:manage`; owners).
pub async fn create(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<AccountBody>,
) -> Result<Response, ApiError> {
    let o = member_of(&state, &pat, &org, true).await?;
    let v = pat.verified();
    let who = Admin::org_owner(v.user_id, pat.client().clone());
    let team = body.team.as_deref();
    let a = service_accounts::create(&state.core, &who, &o.name, &body.name, team)
        .await
        .map_err(|e| match e {
            e @ AdminError::NotFound(_) => refused(e, "team"),
            e => refused(e, "name"),
        })?;
    let json = AccountJson {
        name: a.username,
        team: a.team,
        created_at: a.created_at,
        tokens: Vec::new(),
    };
    Ok((StatusCode::CREATED, pat.expires(), Json(json)).into_response())
}

/// `POST /api/v1/orgs/{org}/service-accounts/{name}/tokens`
/// (`tokens:manage`; owners): a token for the account, owned by the
/// organization; its secret is in this response only.
pub async fn create_token(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath((org, name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Response, ApiError> {
    let o = member_of(&state, &pat, &org, true).await?;
    let spec = body.new_spec().map_err(TokenError::from)?;
    let request_id = body.request_id().unwrap_or("");
    let made =
        service_accounts::make_token(&state.core, &pat.actor(), &o.name, &name, spec, request_id)
            .await?;
    Ok((
        StatusCode::CREATED,
        pat.expires(),
        Json(SecretJson::of(&made)),
    )
        .into_response())
}

/// `DELETE /api/v1/orgs/{org}/service-accounts/tokens/{id}`
/// (`tokens:manage`; owners): revokes a service account's token.
pub async fn revoke_token(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath((org, id)): ApiPath<(String, i64)>,
) -> Answer<TokenJson> {
    let o = member_of(&state, &pat, &org, true).await?;
    let t = service_accounts::revoke_token(&state.core, &pat.actor(), &o.name, id).await?;
    pat.answer(TokenJson::of(&t, app::domain::db::now()))
}
