//! Organizations: members with roles (owner, member), teams, and tokens
//! that name an organization as their resource owner. Every statement on
//! `organizations`, `org_members`, `teams` and `team_members` is here
//! (token creation's membership check is `tokens::sql::OWNER_ORG`, and
//! verification's is part of `VERIFY`). Each change is audited in its own
//! transaction; a member who leaves stops their organization tokens on
//! every instance at once (the `org_members` triggers feed the change feed,
//! and this process evicts at once).

use super::{
    admin::{user, Admin, AdminError},
    audit::{record_in, Event},
    db::{is_unique_violation, now, on_db, Db},
    Core,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sql::*;

pub mod policies;
pub mod requests;
pub mod service_accounts;
pub mod sql;

/// Longest organization name (GitHub's limit for logins).
pub const NAME_MAX: usize = crate::tokens::reach::OWNER_NAME_MAX;
/// Longest team name.
pub const TEAM_NAME_MAX: usize = 64;

/// The roles in an organization.
pub const ROLES: [&str; 2] = ["owner", "member"];

/// An organization, with its head counts.
#[derive(Clone, Debug, Serialize, sqlx_macros::FromRow)]
pub struct OrgRow {
    /// Its id.
    pub id: i64,
    /// Its name: the first segment of its resources (`acme/api`).
    pub name: String,
    /// What it is.
    pub description: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// How many members it has (owners included).
    pub members: i64,
    /// How many of them are owners.
    pub owners: i64,
}

/// A member of an organization.
#[derive(Clone, Debug, Serialize, sqlx_macros::FromRow)]
pub struct MemberRow {
    /// The member's user id.
    pub user_id: i64,
    /// The member's name.
    pub username: String,
    /// `owner` or `member`.
    pub role: String,
    /// Since when.
    pub added_at: DateTime<Utc>,
}

/// A team of an organization, with its members' names.
#[derive(Clone, Debug, Serialize, sqlx_macros::FromRow)]
pub struct TeamRow {
    /// Its id.
    pub id: i64,
    /// Its name (unique in the organization).
    pub name: String,
    /// The identity provider's group it follows, if any.
    pub idp_group: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Its members' names.
    #[sqlx(skip)]
    pub members: Vec<String>,
}

/// Why `name` cannot name an organization, or `None`: 1 to 39 lower-case
/// letters, digits and '-', starting with a letter or a digit (it is the
/// first segment of the organization's resources).
pub fn name_problem(name: &str) -> Option<String> {
    let shown: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
    if name.is_empty() {
        return Some("Enter a name for the organization.".into());
    }
    if name.len() > NAME_MAX {
        return Some(format!(
            "An organization's name has at most {NAME_MAX} characters."
        ));
    }
    (!crate::tokens::reach::owner_name_ok(name)).then(|| format!(
        "\u{201c}{shown}\u{201d} cannot name an organization: use lower-case letters, digits and '-' (not first), e.g. acme or acme-labs."
    ))
}

fn team_name_problem(name: &str) -> Option<String> {
    let len = name.chars().count();
    if len == 0 {
        return Some("Enter a name for the team.".into());
    }
    if len > TEAM_NAME_MAX {
        return Some(format!(
            "A team's name has at most {TEAM_NAME_MAX} characters."
        ));
    }
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'));
    (!ok).then(|| "A team's name uses letters, digits, spaces, '.', '_' and '-'.".to_owned())
}

fn event(admin: &Admin, name: &'static str, user_id: Option<i64>, org: &str) -> Event {
    admin
        .event(name, user_id, None)
        .with(json!({ "organization": org }))
}

/// Makes organization `name` (with `owner`, if given, as its first owner).
pub async fn create(
    core: &Core,
    admin: &Admin,
    name: &str,
    description: &str,
    owner: Option<&str>,
) -> Result<OrgRow, AdminError> {
    let name = name.trim();
    if let Some(p) = name_problem(name) {
        return Err(AdminError::Invalid(p));
    }
    let description = description.trim();
    if description.chars().count() > crate::tokens::DESCRIPTION_MAX
        || description.chars().any(char::is_control)
    {
        return Err(AdminError::Invalid(format!(
            "A description has at most {} characters, and no control characters.",
            crate::tokens::DESCRIPTION_MAX
        )));
    }
    let owner = match owner {
        Some(o) => Some(user(&core.db, o).await?),
        None => None,
    };
    if let Some(o) = owner.as_ref().filter(|o| o.is_service) {
        return Err(AdminError::Invalid(format!(
            "{} is a service account: it cannot be an owner.",
            o.username
        )));
    }
    let at = now();
    let created = event(admin, "org.created", None, name);
    let joined = owner.as_ref().map(|o| {
        event(admin, "org.member_added", Some(o.id), name).with(json!({
            "organization": name,
            "role": "owner",
        }))
    });
    let made: Result<i64, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(INSERT)
            .bind(name)
            .bind(description)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
        record_in!(&mut *tx, created)?;
        if let (Some(o), Some(joined)) = (&owner, joined) {
            sqlx::query(ADD_MEMBER)
                .bind(id)
                .bind(o.id)
                .bind("owner")
                .bind(at)
                .execute(&mut *tx)
                .await?;
            record_in!(&mut *tx, joined)?;
        }
        tx.commit().await?;
        Ok(id)
    }.await);
    match made {
        Err(e) if is_unique_violation(&e) => Err(AdminError::Invalid(format!(
            "There is already an organization named {name}."
        ))),
        Err(e) => Err(e.into()),
        Ok(_) => get(&core.db, name).await,
    }
}

/// Every organization, by name.
pub async fn list(db: &Db) -> Result<Vec<OrgRow>, sqlx::Error> {
    let sql = format!("{LIST} ORDER BY o.name");
    on_db!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)
}

/// The organization named `name`.
pub async fn get(db: &Db, name: &str) -> Result<OrgRow, AdminError> {
    let sql = format!("{LIST} WHERE o.name = $1");
    let key = name.trim();
    let row: Option<OrgRow> = if name_problem(key).is_some() {
        None
    } else {
        on_db!(db, pool => sqlx::query_as(&sql).bind(key).fetch_optional(pool).await)?
    };
    row.ok_or_else(|| {
        let shown: String = key.chars().filter(|c| !c.is_control()).take(40).collect();
        AdminError::NotFound(format!("There is no organization \u{201c}{shown}\u{201d}."))
    })
}

/// The members of `org`, by name.
pub async fn members(db: &Db, org: &str) -> Result<Vec<MemberRow>, AdminError> {
    let org = get(db, org).await?;
    Ok(members_of(db, org.id).await?)
}

/// The members of organization `org_id`, by name.
async fn members_of(db: &Db, org_id: i64) -> Result<Vec<MemberRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as(MEMBERS).bind(org_id).fetch_all(pool).await)
}

/// The organizations `user_id` belongs to, by name, with the role there.
pub async fn memberships(db: &Db, user_id: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as(MEMBERSHIPS).bind(user_id).fetch_all(pool).await)
}

fn role_problem(role: &str) -> Option<String> {
    (!ROLES.contains(&role)).then(|| {
        let shown: String = role.chars().filter(|c| !c.is_control()).take(20).collect();
        format!("\u{201c}{shown}\u{201d} is not a role: use owner or member.")
    })
}

/// Adds `username` to `org` as `role` (`owner` or `member`), or changes
/// the role of a member. An organization keeps at least one owner.
pub async fn set_member(
    core: &Core,
    admin: &Admin,
    org: &str,
    username: &str,
    role: &str,
) -> Result<MemberRow, AdminError> {
    if let Some(p) = role_problem(role) {
        return Err(AdminError::Invalid(p));
    }
    let o = get(&core.db, org).await?;
    let u = user(&core.db, username).await?;
    if u.is_service {
        service_account_may_join(&core.db, &o, &u.username, u.id, role).await?;
    }
    let at = now();
    let added = event(admin, "org.member_added", Some(u.id), &o.name)
        .with(json!({ "organization": o.name, "role": role }));
    let changed = event(admin, "org.role_changed", Some(u.id), &o.name);
    let outcome: Result<Result<(), AdminError>, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        // a write first: SQLite's transaction then holds the write lock
        // (a read first could not upgrade while another connection writes)
        let new = sqlx::query(ADD_MEMBER)
            .bind(o.id)
            .bind(u.id)
            .bind(role)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let current: Option<(String,)> = if new == 1 {
            None
        } else {
            sqlx::query_as(ROLE_OF)
                .bind(o.id)
                .bind(u.id)
                .fetch_optional(&mut *tx)
                .await?
        };
        match current {
            None => {
                record_in!(&mut *tx, added)?;
            }
            Some((before,)) if before != role => {
                if before == "owner" {
                    let (owners,): (i64,) =
                        sqlx::query_as(OWNERS).bind(o.id).fetch_one(&mut *tx).await?;
                    if owners <= 1 {
                        return Ok(Err(last_owner(&o.name, &u.username)));
                    }
                }
                sqlx::query(SET_ROLE)
                    .bind(o.id)
                    .bind(u.id)
                    .bind(role)
                    .execute(&mut *tx)
                    .await?;
                let changed = changed.with(json!({
                    "organization": o.name,
                    "role": {"before": before, "after": role},
                }));
                record_in!(&mut *tx, changed)?;
            }
            Some(_) => {}
        }
        tx.commit().await?;
        Ok(Ok(()))
    }.await);
    // ADD_MEMBER does nothing on a conflict: no unique violation to catch
    outcome??;
    core.verifier.evict(u.id, None);
    members(&core.db, &o.name)
        .await?
        .into_iter()
        .find(|m| m.user_id == u.id)
        .ok_or_else(|| {
            AdminError::NotFound(format!("{} is not a member of {}.", u.username, o.name))
        })
}

/// A service account is never an owner (nothing signs in as it), and an
/// organization's own belongs to no other.
async fn service_account_may_join(
    db: &Db,
    o: &OrgRow,
    username: &str,
    user_id: i64,
    role: &str,
) -> Result<(), AdminError> {
    if role == "owner" {
        return Err(AdminError::Invalid(format!(
            "{username} is a service account: it cannot be an owner."
        )));
    }
    let (belongs,): (Option<i64>,) = on_db!(db, pool => sqlx::query_as(super::users::SERVICE_ORG)
        .bind(user_id)
        .fetch_one(pool)
        .await)?;
    match belongs {
        Some(other) if other != o.id => Err(AdminError::Invalid(format!(
            "{username} is another organization's service account."
        ))),
        _ => {
            // one it removed, added back: within the cap like a new one
            let member: Option<(String,)> = on_db!(db, pool => sqlx::query_as(ROLE_OF)
                .bind(o.id)
                .bind(user_id)
                .fetch_optional(pool)
                .await)?;
            match member {
                Some(_) => Ok(()),
                None => service_accounts::room_for_another(db, o.id, &o.name).await,
            }
        }
    }
}

fn last_owner(org: &str, username: &str) -> AdminError {
    AdminError::Invalid(format!(
        "{username} is the last owner of {org}: make another member an owner first."
    ))
}

/// Removes `username` from `org` (and from its teams). Their tokens owned
/// by `org` stop at once, on every instance; the last owner stays.
pub async fn remove_member(
    core: &Core,
    admin: &Admin,
    org: &str,
    username: &str,
) -> Result<(), AdminError> {
    let o = get(&core.db, org).await?;
    let u = user(&core.db, username).await?;
    let removed = event(admin, "org.member_removed", Some(u.id), &o.name);
    let outcome: Result<Result<u64, AdminError>, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        // a write first (see set_member); rolled back with the rest
        sqlx::query(LEAVE_TEAMS).bind(o.id).bind(u.id).execute(&mut *tx).await?;
        let current: Option<(String,)> = sqlx::query_as(ROLE_OF)
            .bind(o.id)
            .bind(u.id)
            .fetch_optional(&mut *tx)
            .await?;
        if current.as_ref().is_some_and(|(r,)| r == "owner") {
            let (owners,): (i64,) = sqlx::query_as(OWNERS).bind(o.id).fetch_one(&mut *tx).await?;
            if owners <= 1 {
                return Ok(Err(last_owner(&o.name, &u.username)));
            }
        }
        let gone = sqlx::query(REMOVE_MEMBER)
            .bind(o.id)
            .bind(u.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 1 {
            record_in!(&mut *tx, removed)?;
        }
        tx.commit().await?;
        Ok(Ok(gone))
    }.await);
    let gone = outcome??;
    // this process at once; the others through the change feed (trigger)
    core.verifier.evict(u.id, None);
    if gone == 0 {
        return Err(AdminError::NotFound(format!(
            "{} is not a member of {}.",
            u.username, o.name
        )));
    }
    Ok(())
}

/// The teams of `org`, by name, with their members.
pub async fn teams(db: &Db, org: &str) -> Result<Vec<TeamRow>, AdminError> {
    let o = get(db, org).await?;
    Ok(teams_of(db, o.id).await?)
}

/// The teams of organization `org_id`, by name, with their members.
async fn teams_of(db: &Db, org_id: i64) -> Result<Vec<TeamRow>, sqlx::Error> {
    let mut teams: Vec<TeamRow> =
        on_db!(db, pool => sqlx::query_as(TEAMS).bind(org_id).fetch_all(pool).await)?;
    let members: Vec<(i64, String)> =
        on_db!(db, pool => sqlx::query_as(TEAM_MEMBERS).bind(org_id).fetch_all(pool).await)?;
    for (team_id, name) in members {
        if let Some(t) = teams.iter_mut().find(|t| t.id == team_id) {
            t.members.push(name);
        }
    }
    Ok(teams)
}

async fn team(db: &Db, org_id: i64, org: &str, name: &str) -> Result<TeamRow, AdminError> {
    let found: Option<TeamRow> = on_db!(db, pool => sqlx::query_as(TEAM)
        .bind(org_id)
        .bind(name.trim())
        .fetch_optional(pool)
        .await)?;
    found.ok_or_else(|| {
        let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
        AdminError::NotFound(format!("{org} has no team \u{201c}{shown}\u{201d}."))
    })
}

/// Makes team `name` in `org` (following the identity provider's group
/// `idp_group`, if given).
pub async fn create_team(
    core: &Core,
    admin: &Admin,
    org: &str,
    name: &str,
    idp_group: Option<&str>,
) -> Result<TeamRow, AdminError> {
    let name = name.trim();
    if let Some(p) = team_name_problem(name) {
        return Err(AdminError::Invalid(p));
    }
    let idp_group = idp_group.map(str::trim).filter(|g| !g.is_empty());
    if idp_group.is_some_and(|g| g.chars().count() > 256 || g.chars().any(char::is_control)) {
        return Err(AdminError::Invalid(
            "An identity provider group has at most 256 characters, and no control characters."
                .into(),
        ));
    }
    let o = get(&core.db, org).await?;
    let ev = event(admin, "org.team_created", None, &o.name)
        .with(json!({ "organization": o.name, "team": name }));
    let made: Result<i64, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(INSERT_TEAM)
            .bind(o.id)
            .bind(name)
            .bind(idp_group)
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
        record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        Ok(id)
    }.await);
    match made {
        Err(e) if is_unique_violation(&e) => Err(AdminError::Invalid(format!(
            "{} already has a team named {name}.",
            o.name
        ))),
        Err(e) => Err(e.into()),
        Ok(_) => {
            if let Some(group) = idp_group {
                // a group SCIM already provisions: its members join now
                let event = |what: &'static str, user: Option<i64>| admin.event(what, user, None);
                // the team is made: a failure here is caught up by the
                // group's next change, not reported as the team's
                if let Err(e) = follow_scim_groups(core, &[group], &event).await {
                    tracing::error!(error = %e, team = name, "taking a SCIM group's members failed");
                }
            }
            let t = team(&core.db, o.id, &o.name, name).await?;
            team_now(&core.db, &o.name, &t).await
        }
    }
}

/// Adds (`true`) or removes `username` to or from team `name` of `org`;
/// a team's members are members of its organization.
pub async fn set_team_member(
    core: &Core,
    admin: &Admin,
    org: &str,
    name: &str,
    username: &str,
    add: bool,
) -> Result<TeamRow, AdminError> {
    let o = get(&core.db, org).await?;
    let t = team(&core.db, o.id, &o.name, name).await?;
    let u = user(&core.db, username).await?;
    let role: Option<(String,)> = on_db!(&core.db, pool => sqlx::query_as(ROLE_OF)
        .bind(o.id)
        .bind(u.id)
        .fetch_optional(pool)
        .await)?;
    if add && role.is_none() {
        return Err(AdminError::Invalid(format!(
            "{} is not a member of {}: add them to the organization first.",
            u.username, o.name
        )));
    }
    let what = if add {
        "org.team_member_added"
    } else {
        "org.team_member_removed"
    };
    let ev = event(admin, what, Some(u.id), &o.name)
        .with(json!({ "organization": o.name, "team": t.name }));
    let changed: Result<(), sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let n = if add {
            sqlx::query(ADD_TO_TEAM).bind(t.id).bind(u.id).bind(now()).execute(&mut *tx).await?
        } else {
            sqlx::query(REMOVE_FROM_TEAM).bind(t.id).bind(u.id).execute(&mut *tx).await?
        }
        .rows_affected();
        if n == 1 {
            record_in!(&mut *tx, ev)?;
        }
        tx.commit().await
    }.await);
    match changed {
        // already in the team: nothing to do
        Err(e) if is_unique_violation(&e) => {}
        other => other?,
    }
    core.verifier.evict(u.id, None);
    team_now(&core.db, &o.name, &t).await
}

/// Team `t` of `org` as it is now, with its members.
async fn team_now(db: &Db, org: &str, t: &TeamRow) -> Result<TeamRow, AdminError> {
    let mut teams = teams(db, org).await?;
    teams.retain(|x| x.id == t.id);
    teams
        .pop()
        .ok_or_else(|| AdminError::NotFound(format!("{org} has no team {}.", t.name)))
}

/// True when some team follows an identity provider group (single
/// sign-on then asks for the `groups` claim).
pub async fn any_idp_team(db: &Db) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> =
        on_db!(db, pool => sqlx::query_as(ANY_IDP_TEAM).fetch_optional(pool).await)?;
    Ok(found.is_some())
}

/// A team that follows an identity provider group.
#[derive(Clone, Debug, sqlx_macros::FromRow)]
pub struct Following {
    /// The team's id.
    pub team_id: i64,
    /// Its organization's id.
    pub org_id: i64,
    /// Its organization's name.
    pub org: String,
    /// Its name.
    pub team: String,
    /// The group it follows.
    pub group: String,
}

/// `user_id` joins (`wanted`) or leaves team `t` as its group says:
/// joining also joins its organization, as a member, when not in it yet;
/// leaving keeps them in the organization (membership is the owners' to
/// end). Each step that changes something is audited with `details`
/// (`via`, `group`) through `event`. True when something changed (the
/// caller evicts the person's cached verifications).
pub async fn follow_group(
    core: &Core,
    t: &Following,
    user_id: i64,
    wanted: bool,
    event: &(dyn Fn(&'static str, Option<i64>) -> Event + Sync),
    via: &str,
) -> Result<bool, sqlx::Error> {
    let details = |more: serde_json::Value| {
        let mut d = json!({ "organization": t.org, "via": via, "group": t.group });
        if let (Some(d), Some(more)) = (d.as_object_mut(), more.as_object()) {
            d.extend(more.clone());
        }
        d
    };
    let joined =
        event("org.member_added", Some(user_id)).with(details(json!({ "role": "member" })));
    let moved = event(
        if wanted {
            "org.team_member_added"
        } else {
            "org.team_member_removed"
        },
        Some(user_id),
    )
    .with(details(json!({ "team": t.team })));
    let at = now();
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let mut changed = false;
        if wanted {
            // already a member (or an owner): nothing, and no event
            let n = sqlx::query(ADD_MEMBER)
                .bind(t.org_id)
                .bind(user_id)
                .bind("member")
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                record_in!(&mut *tx, joined)?;
                changed = true;
            }
        }
        // already in it, or out of it (another change a moment ago): nothing
        let n = if wanted {
            sqlx::query(ADD_TO_TEAM_ONCE)
                .bind(t.team_id)
                .bind(user_id)
                .bind(at)
                .execute(&mut *tx)
                .await?
        } else {
            sqlx::query(REMOVE_FROM_TEAM)
                .bind(t.team_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
        }
        .rows_affected();
        if n == 1 {
            record_in!(&mut *tx, moved)?;
            changed = true;
        }
        tx.commit().await?;
        Ok(changed)
    }.await)
}

/// Makes `user_id`'s teams follow the identity provider's `groups` (their
/// single sign-on just sent them): they join each team whose
/// `idp_group` is among them and leave each one whose group is not
/// ([`follow_group`]). Teams whose group SCIM provisions follow SCIM
/// alone (a sign-in's claim may list fewer groups than the provider has).
/// Every step is audited (`via: idp_group`), by Tessera, from `client`.
pub async fn follow_idp_groups(
    core: &Core,
    client: &crate::domain::sessions::Client,
    user_id: i64,
    groups: &[String],
) -> Result<(), sqlx::Error> {
    let teams: Vec<(i64, i64, String, String, String, bool)> = on_db!(&core.db, pool => sqlx::query_as(IDP_TEAMS)
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
    let event = |name: &'static str, user: Option<i64>| {
        Event::new(name, user, None, super::audit::By::System, Some(client))
    };
    let mut changed = false;
    for (team_id, org_id, org, team, group, in_team) in teams {
        let wanted = groups.contains(&group);
        if wanted == in_team {
            continue;
        }
        let t = Following {
            team_id,
            org_id,
            org,
            team,
            group,
        };
        changed |= follow_group(core, &t, user_id, wanted, &event, "idp_group").await?;
    }
    if changed {
        core.verifier.evict(user_id, None);
    }
    Ok(())
}

/// Makes the teams that follow any of `groups` (a SCIM group's
/// displayName and externalId, before and after a change) hold the
/// members SCIM gives their group now: each missing one joins
/// ([`follow_group`]), each other one leaves. Audited through `event`
/// (`via: scim`).
pub async fn follow_scim_groups(
    core: &Core,
    groups: &[&str],
    event: &(dyn Fn(&'static str, Option<i64>) -> Event + Sync),
) -> Result<(), sqlx::Error> {
    let mut seen = std::collections::BTreeSet::new();
    for group in groups {
        let teams: Vec<Following> = on_db!(&core.db, pool => sqlx::query_as(TEAMS_FOLLOWING)
            .bind(group)
            .bind(group)
            .fetch_all(pool)
            .await)?;
        for t in teams.into_iter().filter(|t| seen.insert(t.team_id)) {
            let wanted: Vec<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(SCIM_GROUP_PEOPLE)
                .bind(&t.group)
                .fetch_all(pool)
                .await)?;
            let now_in: Vec<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(TEAM_MEMBER_IDS)
                .bind(t.team_id)
                .fetch_all(pool)
                .await)?;
            let wanted: std::collections::BTreeSet<i64> =
                wanted.into_iter().map(|(u,)| u).collect();
            let now_in: std::collections::BTreeSet<i64> =
                now_in.into_iter().map(|(u,)| u).collect();
            let moves = wanted
                .difference(&now_in)
                .map(|u| (*u, true))
                .chain(now_in.difference(&wanted).map(|u| (*u, false)));
            for (user_id, join) in moves {
                if follow_group(core, &t, user_id, join, event, "scim").await? {
                    core.verifier.evict(user_id, None);
                }
            }
        }
    }
    Ok(())
}

/// The Organizations page of `user_id`: each organization they belong to,
/// its members and teams and policies, and (for its owners) the pending
/// requests and the audit log (`audit_before`: older than that event of
/// organization `.0`).
pub async fn page(
    db: &Db,
    user_id: i64,
    audit_before: Option<(&str, i64)>,
) -> Result<crate::orgs::OrgsPage, AdminError> {
    let mut orgs = Vec::new();
    for (name, role) in memberships(db, user_id).await? {
        let o = get(db, &name).await?;
        let owner = role == "owner";
        let (requests, audit, service_accounts, service_tokens) = if owner {
            let before = audit_before
                .filter(|(org, _)| *org == o.name)
                .map(|(_, id)| id);
            (
                requests::of_org(db, o.id, false).await?,
                crate::domain::audit::of_org(db, o.id, &o.name, before, AUDIT_PAGE).await?,
                service_accounts::of_org(db, o.id).await?,
                service_accounts::tokens_of(db, o.id).await?,
            )
        } else {
            Default::default()
        };
        orgs.push(crate::orgs::OrgView {
            members: members_of(db, o.id)
                .await?
                .into_iter()
                .map(|m| (m.username, m.role))
                .collect(),
            teams: teams_of(db, o.id)
                .await?
                .into_iter()
                .map(|t| crate::orgs::TeamView {
                    id: t.id,
                    name: t.name,
                    idp_group: t.idp_group,
                    members: t.members,
                })
                .collect(),
            policies: policies::all(db, o.id).await?,
            name,
            description: o.description,
            role,
            requests,
            audit,
            service_accounts,
            service_tokens,
        });
    }
    Ok(crate::orgs::OrgsPage { orgs })
}

/// Events of an organization's audit log on a page.
pub const AUDIT_PAGE: u32 = 50;

/// Organization `org` when `user_id` is one of its owners; to anyone else
/// (a member, a stranger) there is no such organization.
pub async fn as_owner(db: &Db, org: &str, user_id: i64) -> Result<OrgRow, AdminError> {
    let key = org.trim();
    let found: Option<(i64,)> = if name_problem(key).is_some() {
        None
    } else {
        on_db!(db, pool => sqlx::query_as(OWNED_ORG).bind(key).bind(user_id).fetch_optional(pool).await)?
    };
    match found {
        Some(_) => get(db, key).await,
        None => Err(AdminError::NotFound(
            "There is no such organization, or you are not one of its owners.".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_names_are_resource_segments() {
        for ok in ["acme", "acme-labs", "a", "0day", &"a".repeat(39)] {
            assert_eq!(name_problem(ok), None, "{ok}");
            assert_eq!(
                crate::tokens::reach::pattern_problem(&format!("{ok}/x")),
                None
            );
        }
        for bad in [
            "",
            "Acme",
            "-acme",
            "acme_labs",
            "ac me",
            "acme/x",
            "é",
            "..",
            &"a".repeat(40),
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }
}
