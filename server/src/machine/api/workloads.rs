//! `/api/v1/workload-trust`: the caller's trust rules, listed and
//! removed. Rules are made only on the page (in sudo mode) and by
//! administrators: a leaked token must not be able to plant a rule that
//! keeps minting tokens after the token itself is revoked.

use crate::machine::error::{ApiError, ApiPath};
use crate::machine::pat::{Answer, Pat};
use app::domain::{
    workloads::{self, Maker},
    AppState,
};
use app::workloads::TrustRule;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

/// The caller's trust rules.
#[derive(Serialize, ToSchema)]
#[schema(as = TrustRuleList)]
pub struct RuleListJson {
    /// Oldest first.
    rules: Vec<TrustRule>,
}

/// What removing a rule did.
#[derive(Serialize, ToSchema)]
#[schema(as = TrustRuleRemoved)]
pub struct RemovedJson {
    /// The rule removed.
    removed: i64,
    /// How many live tokens it had minted, now revoked.
    revoked: u64,
}

/// `GET /api/v1/workload-trust` (`tokens:read`).
pub async fn list(State(state): State<AppState>, pat: Pat) -> Answer<RuleListJson> {
    let rules = workloads::rules(&state.core, pat.verified().user_id)
        .await
        .map_err(|e| ApiError::from(app::domain::tokens::TokenError::from(e)))?;
    pat.answer(RuleListJson { rules })
}

/// `DELETE /api/v1/workload-trust/{id}` (`tokens:write`): the rule goes,
/// and every live token it minted is revoked.
pub async fn remove(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
) -> Answer<RemovedJson> {
    let maker = Maker::Owner(pat.actor());
    let revoked = workloads::remove_rule(&state.core, &maker, id).await?;
    pat.answer(RemovedJson {
        removed: id,
        revoked,
    })
}
