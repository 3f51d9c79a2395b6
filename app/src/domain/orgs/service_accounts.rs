//! An organization's service accounts, and the tokens its owners make for
//! them: tokens that outlive the people who made them (as GitLab's group
//! access tokens, which belong to a bot user). A service account is a
//! member of its organization that nothing signs in as; optionally it is
//! a team's (that team's members are told when its tokens expire, with the
//! organization's owners). Its tokens belong to it, name the organization
//! as their resource owner, and record who made them: the maker leaving
//! the organization, or being deprovisioned, changes nothing about them.

use super::{event, get, team, Admin, AdminError};
use crate::domain::{
    audit::record_in,
    db::{is_unique_violation, now, on_db, Db},
    tokens::{self as token_service, sql as token_sql, Actor, TokenError},
    users, Core,
};
pub use crate::orgs::{ServiceAccount, ServiceToken};
use crate::tokens::{FieldErrors, NewSecret, TokenSpec, TokenView};
use serde_json::json;

/// Most service accounts an organization has at once (those still its
/// members): with `max_active_tokens_per_user` per account, a bound on an
/// organization's tokens that outlive their makers.
pub const ACCOUNTS_MAX: i64 = 50;

/// How many service accounts of organization `$1` are still its members.
const ACCOUNTS_IN_ORG: &str = "SELECT COUNT(*) FROM users u \
     JOIN org_members m ON m.user_id = u.id AND m.org_id = u.service_org WHERE u.service_org = $1";

const ACCOUNT_COLUMNS: &str = "SELECT u.id, u.username, t.name AS team, u.created_at FROM users u \
     LEFT JOIN teams t ON t.id = u.service_team WHERE u.service_org = $1";

/// The service accounts of organization `org_id`, by name.
pub async fn of_org(db: &Db, org_id: i64) -> Result<Vec<ServiceAccount>, sqlx::Error> {
    let sql = format!("{ACCOUNT_COLUMNS} ORDER BY u.username_key");
    on_db!(db, pool => sqlx::query_as(&sql).bind(org_id).fetch_all(pool).await)
}

/// Service account `name` of organization `org_id` (`org` its name).
async fn account(
    db: &Db,
    org_id: i64,
    org: &str,
    name: &str,
) -> Result<ServiceAccount, AdminError> {
    let sql = format!("{ACCOUNT_COLUMNS} AND u.username_key = $2");
    // the name as shown, or as typed before the organization's prefix
    let key = account_name(org, name).to_lowercase();
    let found: Option<ServiceAccount> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(org_id)
        .bind(&key)
        .fetch_optional(pool)
        .await)?;
    found.ok_or_else(|| {
        let shown: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
        AdminError::NotFound(format!(
            "{org} has no service account \u{201c}{shown}\u{201d}."
        ))
    })
}

/// Refuses a service account more in organization `org_id` (`org` its
/// name) when it has [`ACCOUNTS_MAX`] members that are (made or added back).
pub(super) async fn room_for_another(db: &Db, org_id: i64, org: &str) -> Result<(), AdminError> {
    let (accounts,): (i64,) = on_db!(db, pool => sqlx::query_as(ACCOUNTS_IN_ORG)
        .bind(org_id)
        .fetch_one(pool)
        .await)?;
    if accounts >= ACCOUNTS_MAX {
        return Err(AdminError::Invalid(format!(
            "{org} has {accounts} service accounts, the most an organization may have: remove one it no longer needs first."
        )));
    }
    Ok(())
}

/// A service account's name: the organization's name and `-` before what
/// the owner typed (unless it is there already), so an owner never takes a
/// name a person may want (a colleague's, before they first sign in).
pub fn account_name(org: &str, typed: &str) -> String {
    let typed = typed.trim();
    let prefix = format!("{org}-");
    if typed.is_empty() || typed.to_lowercase().starts_with(&prefix) {
        typed.to_owned()
    } else {
        format!("{prefix}{typed}")
    }
}

/// What a service account's token may not have: anything that acts on
/// tokens beyond reading them (it would outlive its maker and could make,
/// edit or regenerate the account's other tokens), hence no Full access.
fn scope_problem(scopes: &crate::scopes::Scopes) -> Option<String> {
    use crate::scopes::{Level, Scopes};
    match scopes {
        Scopes::Full => Some(
            "A service account's token names its scopes: Full access would let it make and change the account's tokens. Choose custom scopes.".into(),
        ),
        s if s.level("tokens").is_some_and(|l| l > Level::Read) => Some(
            "A service account's token may read tokens, not write or manage them: owners make and change the account's tokens.".into(),
        ),
        _ => None,
    }
}

/// Makes service account `name` in `org` (a team's, when `team` names
/// one): a member of the organization with no password and no sign-in.
/// Audited as `org.service_account_created`.
pub async fn create(
    core: &Core,
    admin: &Admin,
    org: &str,
    name: &str,
    team_name: Option<&str>,
) -> Result<ServiceAccount, AdminError> {
    let o = get(&core.db, org).await?;
    let name = account_name(&o.name, name);
    let name = name.as_str();
    let max = crate::model::rules::USERNAME_MAX;
    if name.chars().count() > max && name.len() > o.name.len() + 1 {
        return Err(AdminError::Invalid(format!(
            "With its prefix ({}-) a service account's name has at most {max} characters.",
            o.name
        )));
    }
    if let Some(problem) = crate::model::rules::username_problem(name) {
        return Err(AdminError::Invalid(problem));
    }
    let team = match team_name.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(team(&core.db, o.id, &o.name, t).await?),
        None => None,
    };
    room_for_another(&core.db, o.id, &o.name).await?;
    let at = now();
    let mut made = event(admin, "org.service_account_created", None, &o.name).with(json!({
        "organization": o.name,
        "service_account": name,
        "team": team.as_ref().map(|t| &t.name),
    }));
    let inserted: Result<i64, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(users::INSERT_ORG_SERVICE)
            .bind(name)
            .bind(name.to_lowercase())
            .bind(at)
            .bind(o.id)
            .bind(team.as_ref().map(|t| t.id))
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(super::sql::ADD_MEMBER)
            .bind(o.id)
            .bind(id)
            .bind("member")
            .bind(at)
            .execute(&mut *tx)
            .await?;
        made.user_id = Some(id);
        record_in!(&mut *tx, made)?;
        tx.commit().await?;
        Ok(id)
    }.await);
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(crate::domain::admin::username_taken(name)),
        Err(e) => Err(e.into()),
        Ok(_) => account(&core.db, o.id, &o.name, name).await,
    }
}

/// The live tokens of organization `org_id`'s service accounts, by
/// account and name.
pub async fn tokens_of(db: &Db, org_id: i64) -> Result<Vec<ServiceToken>, sqlx::Error> {
    let rows = token_service::of_service_accounts(db, org_id).await?;
    Ok(rows
        .into_iter()
        .map(|(_, account, token)| ServiceToken { account, token })
        .collect())
}

/// Organization `org` when `person` is one of its owners; to anyone else
/// there is no such token (a store failure stays one).
async fn owned_by(core: &Core, person: &Actor, org: &str) -> Result<super::OrgRow, TokenError> {
    super::as_owner(&core.db, org, person.user_id)
        .await
        .map_err(|e| match e {
            AdminError::Database(e) => TokenError::Database(e),
            _ => TokenError::NotFound,
        })
}

/// `person` acting on the tokens of service account `account_id`: the
/// account's tokens, audited (and recorded as made) as the person.
fn for_account(person: &Actor, account_id: i64) -> Actor {
    Actor {
        user_id: account_id,
        on_behalf: Some(person.user_id),
        ..person.clone()
    }
}

/// `person` (an owner of `org`) acting on service account `name`'s tokens,
/// and the organization's name.
async fn acting_for(
    core: &Core,
    person: &Actor,
    org: &str,
    name: &str,
) -> Result<(Actor, String), TokenError> {
    let o = owned_by(core, person, org).await?;
    let a = account(&core.db, o.id, &o.name, name)
        .await
        .map_err(|e| match e {
            AdminError::NotFound(m) => {
                TokenError::Invalid(FieldErrors::from([("service_account".to_owned(), m)]))
            }
            AdminError::Database(e) => TokenError::Database(e),
            _ => TokenError::NotFound,
        })?;
    Ok((for_account(person, a.id), o.name))
}

/// `person`, an owner of `org`, makes a token for its service account
/// `name`: owned by the organization (its resources only), recorded as
/// made by them; when the organization's `approval_required_for` names
/// its scopes it waits for another owner, as their own token would.
pub async fn make_token(
    core: &Core,
    person: &Actor,
    org: &str,
    name: &str,
    mut spec: TokenSpec,
    form_id: &str,
) -> Result<NewSecret, TokenError> {
    let (actor, org) = acting_for(core, person, org, name).await?;
    if let Some(problem) = scope_problem(&spec.scopes) {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "scopes".to_owned(),
            problem,
        )])));
    }
    spec.owner = Some(org);
    token_service::create(core, &actor, &spec, form_id).await
}

/// `person`, an owner of `org`, revokes token `id` of one of its service
/// accounts (any other token is not found).
pub async fn revoke_token(
    core: &Core,
    person: &Actor,
    org: &str,
    id: i64,
) -> Result<TokenView, TokenError> {
    let o = owned_by(core, person, org).await?;
    let owner: Option<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(token_sql::SERVICE_OWNER)
        .bind(id)
        .bind(o.id)
        .fetch_optional(pool)
        .await)?;
    let Some((account_id,)) = owner else {
        return Err(TokenError::NotFound);
    };
    token_service::revoke(core, &for_account(person, account_id), id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scopes::Scopes;

    #[test]
    fn names_carry_the_organizations_prefix() {
        assert_eq!(account_name("acme", "deployer"), "acme-deployer");
        assert_eq!(account_name("acme", " acme-deployer "), "acme-deployer");
        assert_eq!(account_name("acme", "ACME-ci"), "ACME-ci");
        assert_eq!(account_name("acme", "acmebot"), "acme-acmebot");
        assert_eq!(account_name("acme", ""), "");
    }

    #[test]
    fn their_tokens_never_act_on_tokens() {
        let refused = |s: &str| scope_problem(&Scopes::parse(s).unwrap()).is_some();
        assert!(refused("full"));
        assert!(refused("tokens:write"));
        assert!(refused("code:read tokens:manage"));
        assert!(!refused("tokens:read code:write"));
        assert!(!refused("packaging:manage"));
    }
}
