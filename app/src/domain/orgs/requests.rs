//! Approval requests: a token that names an organization as its resource
//! owner and asks for scopes that organization's `approval_required_for`
//! policy lists is made pending (refused with `403 approval_pending`, its
//! secret still shown once) until an owner approves it; a denied one is
//! revoked with the owner's reason. Owners decide on the organization's
//! page or through `/api/v1/orgs/{org}/token-requests`; a member never
//! decides their own request, and an owner of one organization never
//! sees another's (404). A revoke racing an approval wins: the approval's
//! `UPDATE` asks for a live, pending token.

use super::sql;
use crate::domain::{
    audit::{record_in, By, Event},
    db::{now, on_db, Db},
    sessions::Client,
    Core,
};
use crate::scopes::Scopes;
use serde_json::json;

/// The organization policy that makes tokens wait for an owner's approval.
pub const APPROVAL_REQUIRED_FOR: &str = "approval_required_for";

/// The longest reason an owner gives.
pub const REASON_MAX: usize = 500;

/// `approval_required_for` as stored: `all`, or scopes (`code:write
/// packaging:manage`, canonical), or `None` to clear it. The error is a
/// sentence for whoever typed it.
pub fn parse_approval_policy(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    match value {
        "" | "none" | "off" => Ok(None),
        "all" => Ok(Some("all".into())),
        scopes => {
            let mut names = Vec::new();
            for s in scopes.split([' ', ',']).filter(|s| !s.is_empty()) {
                let (area, level) = crate::scopes::parse_required(s).map_err(|e| {
                    format!("approval_required_for takes `all` or scopes such as code:write packaging:manage: {e}")
                })?;
                let name = format!("{}:{}", area.id, level.as_str());
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            Ok(Some(names.join(" ")))
        }
    }
}

/// True when a token with `scopes` needs approval under the stored
/// `policy`: `all`, or it grants one of the listed scopes (a higher level
/// or full access included).
pub fn needs_approval(policy: &str, scopes: &Scopes) -> bool {
    policy == "all" || policy.split_whitespace().any(|s| scopes.allows(s))
}

/// A request as owners and the API see it.
pub use crate::orgs::RequestView as RequestRow;

/// Why a request could not be read or decided.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No such organization or request, or the caller is not an owner of
    /// the organization (the same answer).
    #[error("There is no such request.")]
    NotFound,
    /// A member tried to decide their own request.
    #[error("You cannot decide your own request: another owner of the organization must.")]
    OwnRequest,
    /// It was decided already (its state).
    #[error("This request was already {0}.")]
    Decided(String),
    /// The token was revoked or ended before the decision: revoked wins.
    #[error("The token was revoked or has ended; there is nothing to approve.")]
    TokenEnded,
    /// A field's value is not acceptable (field, sentence).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The store failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl RequestError {
    /// The HTTP status and stable code of this failure.
    pub fn status_code(&self) -> (u16, &'static str) {
        match self {
            RequestError::NotFound => (404, "not_found"),
            RequestError::OwnRequest => (403, "own_request"),
            RequestError::Decided(_) => (409, "already_decided"),
            RequestError::TokenEnded => (409, "token_ended"),
            RequestError::Invalid(..) => (422, "invalid_request"),
            RequestError::Database(_) => (503, "unavailable"),
        }
    }
}

/// Who decides: a signed-in owner, or an owner's token through the API.
#[derive(Clone, Debug)]
pub struct Decider {
    /// The owner's user id.
    pub user_id: i64,
    /// How the audit log names them.
    pub by: By,
    /// Where the decision came from.
    pub client: Option<Client>,
}

/// The organization's id when `user_id` is one of its owners.
async fn owned(db: &Db, org: &str, user_id: i64) -> Result<i64, RequestError> {
    if super::name_problem(org.trim()).is_some() {
        return Err(RequestError::NotFound);
    }
    let found: Option<(i64,)> = on_db!(db, pool => sqlx::query_as(sql::OWNED_ORG)
        .bind(org.trim())
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
    found.map(|(id,)| id).ok_or(RequestError::NotFound)
}

/// The requests of `org` (`pending`, or every one with `all`), newest
/// first, for one of its owners.
pub async fn list(
    db: &Db,
    org: &str,
    owner: i64,
    all: bool,
) -> Result<Vec<RequestRow>, RequestError> {
    let org_id = owned(db, org, owner).await?;
    Ok(of_org(db, org_id, all).await?)
}

/// The requests of organization `org_id` (`pending`, or every one with
/// `all`), newest first; the caller checked who may see them.
pub(super) async fn of_org(
    db: &Db,
    org_id: i64,
    all: bool,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as(sql::REQUESTS)
        .bind(org_id)
        .bind(all)
        .fetch_all(pool)
        .await)
}

/// Approves (`true`) or denies request `id` of `org`, with `reason`
/// (needed to deny: the requester reads it). An approved token works at
/// once, on every instance; a denied one is revoked.
pub async fn decide(
    core: &Core,
    decider: &Decider,
    org: &str,
    id: i64,
    approve: bool,
    reason: &str,
) -> Result<RequestRow, RequestError> {
    let org_id = owned(&core.db, org, decider.user_id).await?;
    type Asked = (i64, i64, String, String, String, Option<String>);
    let row: Option<Asked> = on_db!(&core.db, pool => sqlx::query_as(sql::REQUEST)
        .bind(id)
        .bind(org_id)
        .fetch_optional(pool)
        .await)?;
    let (token_id, requester, state, scopes, resources, token_state) =
        row.ok_or(RequestError::NotFound)?;
    // a widening edit of a token that works already: approved, it gets the
    // scopes asked for; denied, it keeps its own
    let widening = token_state.as_deref() == Some("widening");
    if requester == decider.user_id {
        return Err(RequestError::OwnRequest);
    }
    // what the caller may not see answers 404 before anything about the form
    let reason = reason.trim();
    if reason.chars().count() > REASON_MAX || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(RequestError::Invalid(
            "reason",
            format!("A reason has at most {REASON_MAX} characters, and no control characters."),
        ));
    }
    if !approve && reason.is_empty() {
        return Err(RequestError::Invalid(
            "reason",
            "Say why the request is denied: the requester reads it.".into(),
        ));
    }
    if state != "pending" {
        return Err(RequestError::Decided(state));
    }
    let at = now();
    let name = if approve {
        "token.request_approved"
    } else {
        "token.request_denied"
    };
    let event = Event::new(
        name,
        Some(requester),
        Some(token_id),
        decider.by,
        decider.client.as_ref(),
    )
    .with(json!({ "organization": org.trim(), "request": id, "reason": reason }));
    let outcome: Result<Result<(), RequestError>, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        // the token must still be live and pending: a revoke that came
        // first wins
        let changed = if widening && approve {
            sqlx::query(sql::APPLY_WIDENING)
                .bind(token_id)
                .bind(&scopes)
                .bind(&resources)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        } else if widening {
            sqlx::query(sql::REFUSE_WIDENING)
                .bind(token_id)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        } else if approve {
            sqlx::query(sql::APPROVE_TOKEN)
                .bind(token_id)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        } else {
            sqlx::query(sql::DENY_TOKEN)
                .bind(token_id)
                .bind(at)
                .bind(reason)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        };
        if changed == 0 {
            sqlx::query(sql::WITHDRAW_REQUEST).bind(id).bind(at).execute(&mut *tx).await?;
            tx.commit().await?;
            return Ok(Err(RequestError::TokenEnded));
        }
        let decided = sqlx::query(sql::DECIDE_REQUEST)
            .bind(id)
            .bind(if approve { "approved" } else { "denied" })
            .bind(at)
            .bind(decider.user_id)
            .bind((!reason.is_empty()).then_some(reason))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if decided == 0 {
            // another owner decided meanwhile: theirs stands
            return Ok(Err(RequestError::Decided("decided".into())));
        }
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok(Ok(()))
    }.await);
    outcome??;
    // this process at once; the others through the change feed
    core.verifier.evict(requester, Some(token_id));
    let row: Option<RequestRow> = on_db!(&core.db, pool => sqlx::query_as(sql::REQUEST_ROW)
        .bind(id)
        .bind(org_id)
        .fetch_optional(pool)
        .await)?;
    row.ok_or(RequestError::NotFound)
}

/// How a page answers each failure.
impl From<RequestError> for crate::domain::refusal::Refusal {
    fn from(e: RequestError) -> Self {
        use crate::domain::refusal::Refusal;
        use http::StatusCode;
        let (status, _) = e.status_code();
        match e {
            RequestError::Invalid(field, message) => Refusal {
                message: None,
                fields: [(field.to_owned(), message)].into(),
                ..Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "")
            },
            RequestError::Database(_) => Refusal::ours(&e),
            e => Refusal::new(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                e.to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approval_policy_is_all_or_scopes() {
        assert_eq!(
            parse_approval_policy("all").unwrap().as_deref(),
            Some("all")
        );
        assert_eq!(parse_approval_policy(" none ").unwrap(), None);
        assert_eq!(
            parse_approval_policy("code:write, packaging:manage code:write")
                .unwrap()
                .as_deref(),
            Some("code:write packaging:manage")
        );
        for bad in ["code", "code:admin", "nope:read", "full", "code:write x"] {
            assert!(parse_approval_policy(bad).is_err(), "{bad}");
        }
        let s = |t: &str| Scopes::parse(t).unwrap();
        assert!(needs_approval("code:write", &s("code:manage")));
        assert!(needs_approval("code:write", &s("full")));
        assert!(!needs_approval("code:write", &s("code:read wiki:manage")));
        assert!(needs_approval("all", &s("profile:read")));
        assert!(!needs_approval("", &s("full")));
    }
}
