//! SCIM 2.0 Groups (RFC 7643 §4.2, RFC 7644): the identity provider
//! pushes its groups and their members (the users it provisioned). A
//! team that follows an identity provider group follows the SCIM group
//! whose displayName or externalId it names: after every change here its
//! members join and leave it at once (`orgs::follow_scim_groups`), not at
//! their next sign-in. Every statement on `scim_groups` and
//! `scim_group_members` is in this file.

use super::{
    get_row, object_naming, operation, operations, page_of, parse_filter, text_of, ScimError,
    PATCH_SCHEMA,
};
use crate::domain::{
    audit::{record_in, By, Event},
    db::{is_unique_violation, now, on_db},
    orgs, Core,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Most members one request may name (a bigger group is sent in PATCHes).
pub const MEMBERS_MAX: usize = 1000;
/// Longest displayName (a team's `idp_group` has the same limit).
const NAME_MAX: usize = 256;

macro_rules! group_columns {
    ($rest:literal) => {
        concat!(
            "SELECT id, display_name, external_id, created_at, modified_at FROM scim_groups ",
            $rest
        )
    };
}
const BY_ID: &str = group_columns!("WHERE id = $1");
const PAGE: &str = group_columns!("ORDER BY id LIMIT $1 OFFSET $2");
const BY_NAME: &str = group_columns!("WHERE display_key = $1");
const BY_EXTERNAL: &str = group_columns!("WHERE external_id = $1 ORDER BY id");
const COUNT: &str = "SELECT COUNT(*) FROM scim_groups";
const INSERT: &str =
    "INSERT INTO scim_groups (display_name, display_key, external_id, created_at, modified_at) \
     VALUES ($1, $2, $3, $4, $4) RETURNING id";
const UPDATE: &str =
    "UPDATE scim_groups SET display_name = $1, display_key = $2, external_id = $3, \
     modified_at = $4 WHERE id = $5";
const DELETE: &str = "DELETE FROM scim_groups WHERE id = $1";
/// Another group than `$1` that a team naming `$2` (a displayName) or
/// `$3` (an externalId, or null) would follow too: each name a team can
/// follow stands for one group.
const CLASH: &str = "SELECT display_name FROM scim_groups WHERE id <> $1 \
     AND (external_id = $2 OR display_name = $3 OR external_id = $3)";
/// The members SCIM sees (provisioned, not deprovisioned people): id, name.
const MEMBERS: &str = "SELECT u.id, u.username FROM scim_group_members m \
     JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 \
     AND u.provisioned_at IS NOT NULL AND u.deprovisioned_at IS NULL ORDER BY u.id";
const ADD_MEMBER: &str = "INSERT INTO scim_group_members (group_id, user_id) VALUES ($1, $2) \
     ON CONFLICT (group_id, user_id) DO NOTHING";
const REMOVE_MEMBER: &str = "DELETE FROM scim_group_members WHERE group_id = $1 AND user_id = $2";

/// A group as SCIM shows it.
#[derive(Clone, Debug, sqlx_macros::FromRow)]
pub struct Group {
    /// `id`.
    pub id: i64,
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `meta.created`.
    pub created_at: DateTime<Utc>,
    /// `meta.lastModified`.
    pub modified_at: DateTime<Utc>,
    /// `members`: (user id, userName).
    #[sqlx(skip)]
    pub members: Vec<(i64, String)>,
}

impl Group {
    /// The Group resource (`base`: the base of `/scim/v2`), with its
    /// members unless a request excluded them.
    pub fn resource(&self, base: &str, with_members: bool) -> Value {
        let mut v = json!({
            "schemas": [GROUP_SCHEMA],
            "id": self.id.to_string(),
            "displayName": self.display_name,
            "meta": {
                "resourceType": "Group",
                "created": self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "lastModified": self.modified_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "location": format!("{base}/Groups/{}", self.id),
            },
        });
        if let Some(x) = &self.external_id {
            v["externalId"] = json!(x);
        }
        if with_members {
            v["members"] = self
                .members
                .iter()
                .map(|(id, name)| {
                    json!({
                        "value": id.to_string(),
                        "display": name,
                        "type": "User",
                        "$ref": format!("{base}/Users/{id}"),
                    })
                })
                .collect();
        }
        v
    }

    fn member_ids(&self) -> BTreeSet<i64> {
        self.members.iter().map(|(id, _)| *id).collect()
    }
}

fn not_found(id: &str) -> ScimError {
    let shown: String = id.chars().filter(|c| !c.is_control()).take(64).collect();
    ScimError::new(404, None, format!("There is no group {shown}."))
}

fn taken(name: &str) -> ScimError {
    ScimError::new(
        409,
        Some("uniqueness"),
        format!("A group named \u{201c}{name}\u{201d} exists already."),
    )
}

async fn with_members(core: &Core, mut g: Group) -> Result<Group, ScimError> {
    g.members = on_db!(&core.db, pool => sqlx::query_as(MEMBERS)
        .bind(g.id)
        .fetch_all(pool)
        .await)?;
    Ok(g)
}

async fn find(core: &Core, id: i64) -> Result<Option<Group>, ScimError> {
    let g: Option<Group> = on_db!(&core.db, pool => sqlx::query_as(BY_ID)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    match g {
        Some(g) => Ok(Some(with_members(core, g).await?)),
        None => Ok(None),
    }
}

/// Group `id` (a path segment).
pub async fn get(core: &Core, id: &str) -> Result<Group, ScimError> {
    let n = id.parse::<i64>().map_err(|_| not_found(id))?;
    find(core, n).await?.ok_or_else(|| not_found(id))
}

/// The groups of a list request: `filter` (`displayName eq "…"`, any
/// case as the schema says; `externalId eq "…"`; `id eq "…"`), 1-based
/// `start` and `count`, with their `members` or not; the total and the
/// page.
pub async fn list(
    core: &Core,
    filter: Option<&str>,
    (start, count): (i64, i64),
    members: bool,
) -> Result<(i64, Vec<Group>), ScimError> {
    let (total, rows) = match filter.map(str::trim).filter(|f| !f.is_empty()) {
        None => {
            let (total,): (i64,) =
                on_db!(&core.db, pool => sqlx::query_as(COUNT).fetch_one(pool).await)?;
            let rows: Vec<Group> = on_db!(&core.db, pool => sqlx::query_as(PAGE)
                .bind(count)
                .bind(start - 1)
                .fetch_all(pool)
                .await)?;
            (total, rows)
        }
        Some(filter) => {
            let (attribute, value) = parse_filter(filter, &["displayName", "externalId", "id"])?;
            let rows: Vec<Group> = match attribute.as_str() {
                "displayname" => on_db!(&core.db, pool => sqlx::query_as(BY_NAME)
                    .bind(value.to_lowercase())
                    .fetch_all(pool)
                    .await)?,
                "externalid" => on_db!(&core.db, pool => sqlx::query_as(BY_EXTERNAL)
                    .bind(&value)
                    .fetch_all(pool)
                    .await)?,
                _ => match value.parse::<i64>() {
                    Ok(id) => on_db!(&core.db, pool => sqlx::query_as(BY_ID)
                        .bind(id)
                        .fetch_all(pool)
                        .await)?,
                    Err(_) => Vec::new(),
                },
            };
            page_of(rows, start, count)
        }
    };
    if !members {
        return Ok((total, rows));
    }
    let mut page = Vec::with_capacity(rows.len());
    for g in rows {
        page.push(with_members(core, g).await?);
    }
    Ok((total, page))
}

/// What a body or PATCH makes of a group: its names and its members.
#[derive(Clone, Debug, PartialEq)]
struct Wanted {
    display_name: Option<String>,
    external_id: Option<String>,
    members: BTreeSet<i64>,
}

fn display_name_of(value: &Value) -> Result<String, ScimError> {
    let name = text_of("displayName", value)?
        .ok_or_else(|| ScimError::invalid("displayName is required."))?;
    if name.chars().count() > NAME_MAX {
        return Err(ScimError::invalid(format!(
            "displayName has at most {NAME_MAX} characters."
        )));
    }
    Ok(name)
}

/// The user ids a `members` value names: a list of `{ "value": "ID" }`
/// (users only: Tessera's groups do not nest).
fn member_ids(value: &Value) -> Result<Vec<i64>, ScimError> {
    let items: Vec<&Value> = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().collect(),
        // some providers send one member as an object
        Value::Object(_) => vec![value],
        _ => return Err(ScimError::invalid("members must be a list.")),
    };
    if items.len() > MEMBERS_MAX {
        return Err(ScimError::invalid(format!(
            "A request names at most {MEMBERS_MAX} members; send more in further PATCH requests."
        )));
    }
    items
        .into_iter()
        .map(|m| {
            if let Some(kind) = m.get("type").and_then(Value::as_str) {
                if !kind.eq_ignore_ascii_case("User") {
                    return Err(ScimError::invalid(
                        "A group's members are users: Tessera's groups do not hold groups.",
                    ));
                }
            }
            let id = match m.get("value") {
                Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
                Some(Value::Number(n)) => n.as_i64(),
                _ => None,
            };
            id.ok_or_else(|| {
                ScimError::invalid("Each member needs a value: the id of a user SCIM provisioned.")
            })
        })
        .collect()
}

/// `members[value eq "ID"]` (any case), the member a path names.
fn member_in_path(lower: &str) -> Option<Result<i64, ScimError>> {
    let inner = lower.strip_prefix("members[")?.strip_suffix(']')?;
    Some(parse_filter(inner, &["value"]).and_then(|(_, v)| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| ScimError::invalid("A member's value is the id of a user."))
    }))
}

/// Applies one attribute (any case) of a body or a PATCH value: `add`
/// adds members, anything else sets them.
fn apply(w: &mut Wanted, name: &str, value: &Value, add: bool) -> Result<(), ScimError> {
    let lower = name.to_ascii_lowercase();
    let lower = lower
        .strip_prefix(&format!("{}:", GROUP_SCHEMA.to_ascii_lowercase()))
        .unwrap_or(&lower);
    match lower {
        "displayname" => w.display_name = Some(display_name_of(value)?),
        "externalid" => w.external_id = text_of("externalId", value)?,
        "members" => {
            let ids = member_ids(value)?;
            if !add {
                w.members.clear();
            }
            w.members.extend(ids);
        }
        "schemas" | "id" | "meta" => {}
        n if n.starts_with("urn:") => {}
        _ => {
            return Err(ScimError::syntax(format!(
                "Unknown attribute \u{201c}{}\u{201d} for a Group.",
                name.chars().take(64).collect::<String>()
            )))
        }
    }
    Ok(())
}

/// A POST or PUT body: every attribute it has; members it leaves out are
/// none.
fn wanted_of(body: &Value) -> Result<Wanted, ScimError> {
    let map = object_naming(body, GROUP_SCHEMA)?;
    let mut w = Wanted {
        display_name: None,
        external_id: None,
        members: BTreeSet::new(),
    };
    for (k, v) in map {
        apply(&mut w, k, v, false)?;
    }
    if w.display_name.is_none() {
        return Err(ScimError::invalid("displayName is required."));
    }
    Ok(w)
}

/// A PATCH body applied to `w` (the group as it is): `add`, `replace`
/// and `remove` of `members` (whole, a list of values, or
/// `members[value eq "ID"]`), `displayName` and `externalId`, with a
/// path or (`add`, `replace`) a value object of attributes.
fn patched(mut w: Wanted, body: &Value) -> Result<Wanted, ScimError> {
    let unsupported = |path: &str| {
        ScimError::new(
            400,
            Some("invalidPath"),
            format!(
                "The path \u{201c}{}\u{201d} is not supported.",
                path.chars().take(64).collect::<String>()
            ),
        )
    };
    for op in operations(body)? {
        let (kind, path, value) = operation(op);
        let lower = path.map(str::to_ascii_lowercase);
        let lower = lower.as_deref().map(|p| {
            p.strip_prefix(&format!("{}:", GROUP_SCHEMA.to_ascii_lowercase()))
                .unwrap_or(p)
        });
        match (kind.as_str(), path, lower) {
            ("add" | "replace", None, _) => {
                let Value::Object(attrs) = &value else {
                    return Err(ScimError::syntax(
                        "An operation without a path needs an object value.",
                    ));
                };
                for (k, v) in attrs {
                    apply(&mut w, k, v, kind == "add")?;
                }
            }
            ("add" | "replace", Some(path), Some(lower)) => {
                if lower.starts_with("members[") {
                    return Err(unsupported(path));
                }
                apply(&mut w, lower, &value, kind == "add").map_err(|e| match e.scim_type {
                    Some("invalidSyntax") => unsupported(path),
                    _ => e,
                })?;
            }
            ("remove", Some(_), Some("members")) => {
                if value.is_null() {
                    w.members.clear();
                } else {
                    for id in member_ids(&value)? {
                        w.members.remove(&id);
                    }
                }
            }
            ("remove", Some(path), Some(lower)) => match member_in_path(lower) {
                Some(id) => {
                    w.members.remove(&id?);
                }
                None if lower == "externalid" => w.external_id = None,
                None if lower == "displayname" => {
                    return Err(ScimError::new(
                        400,
                        Some("mutability"),
                        "displayName cannot be removed.",
                    ))
                }
                None => return Err(unsupported(path)),
            },
            ("remove", None, _) => {
                return Err(ScimError::new(
                    400,
                    Some("noTarget"),
                    "A remove operation needs a path.",
                ))
            }
            _ => return Err(ScimError::syntax("op must be add, replace or remove.")),
        }
    }
    Ok(w)
}

/// Refuses members that are not accounts SCIM provisioned (and sees).
async fn check_members(
    core: &Core,
    ids: &BTreeSet<i64>,
    known: &BTreeSet<i64>,
) -> Result<(), ScimError> {
    for id in ids.difference(known) {
        if get_row(core, *id).await?.is_none() {
            return Err(ScimError::invalid(format!(
                "There is no user {id}: a group's members are users SCIM provisioned."
            )));
        }
    }
    Ok(())
}

fn event(name: &'static str, user: Option<i64>, by: By) -> Event {
    Event::new(name, user, None, by, None)
}

/// Writes `w` over `old` (none: a new group) in one audited
/// transaction, then makes the teams that follow its names (old and
/// new) hold its members. The group again.
async fn save(core: &Core, by: By, old: Option<&Group>, w: Wanted) -> Result<Group, ScimError> {
    let name = w
        .display_name
        .clone()
        .ok_or_else(|| ScimError::invalid("displayName is required."))?;
    let before = old.map(Group::member_ids).unwrap_or_default();
    let added: Vec<i64> = w.members.difference(&before).copied().collect();
    let removed: Vec<i64> = before.difference(&w.members).copied().collect();
    if let Some(o) = old {
        if o.display_name == name
            && o.external_id == w.external_id
            && added.is_empty()
            && removed.is_empty()
        {
            // nothing changes: nothing written, nothing audited
            return Ok(o.clone());
        }
    }
    check_members(core, &w.members, &before).await?;
    let clash: Option<(String,)> = on_db!(&core.db, pool => sqlx::query_as(CLASH)
        .bind(old.map_or(-1, |o| o.id))
        .bind(&name)
        .bind(&w.external_id)
        .fetch_optional(pool)
        .await)?;
    if let Some((other,)) = clash {
        return Err(ScimError::new(
            409,
            Some("uniqueness"),
            format!("The group \u{201c}{other}\u{201d} already has this displayName or externalId as one of its names: a team follows one group by either."),
        ));
    }
    let mut details = json!({
        "via": "scim",
        "group": name,
        "members_added": added.len(),
        "members_removed": removed.len(),
    });
    if let Some(o) = old.filter(|o| o.display_name != name) {
        details["renamed_from"] = json!(o.display_name);
    }
    let what = if old.is_some() {
        "scim.group_updated"
    } else {
        "scim.group_created"
    };
    let ev = event(what, None, by).with(details);
    let at = now();
    let old_id = old.map(|o| o.id);
    let saved: Result<i64, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let id = match old_id {
            Some(id) => {
                sqlx::query(UPDATE)
                    .bind(&name)
                    .bind(name.to_lowercase())
                    .bind(&w.external_id)
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                let (id,): (i64,) = sqlx::query_as(INSERT)
                    .bind(&name)
                    .bind(name.to_lowercase())
                    .bind(&w.external_id)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?;
                id
            }
        };
        for user in &added {
            sqlx::query(ADD_MEMBER).bind(id).bind(user).execute(&mut *tx).await?;
        }
        for user in &removed {
            sqlx::query(REMOVE_MEMBER).bind(id).bind(user).execute(&mut *tx).await?;
        }
        record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        Ok(id)
    }.await);
    let id = match saved {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => return Err(taken(&name)),
        Err(e) => return Err(e.into()),
    };
    let mut names: Vec<&str> = vec![&name];
    names.extend(w.external_id.as_deref());
    if let Some(o) = old {
        names.push(&o.display_name);
        names.extend(o.external_id.as_deref());
    }
    follow(core, by, &names).await?;
    find(core, id)
        .await?
        .ok_or_else(|| not_found(&id.to_string()))
}

async fn follow(core: &Core, by: By, names: &[&str]) -> Result<(), ScimError> {
    let ev = |what: &'static str, user: Option<i64>| event(what, user, by);
    Ok(orgs::follow_scim_groups(core, names, &ev).await?)
}

/// Makes the group a POST body describes.
pub async fn create(core: &Core, by: By, body: &Value) -> Result<Group, ScimError> {
    save(core, by, None, wanted_of(body)?).await
}

/// Replaces group `id` with a PUT body (members it leaves out leave).
pub async fn replace(core: &Core, by: By, id: &str, body: &Value) -> Result<Group, ScimError> {
    let old = get(core, id).await?;
    save(core, by, Some(&old), wanted_of(body)?).await
}

/// Applies a PATCH body to group `id`.
pub async fn patch(core: &Core, by: By, id: &str, body: &Value) -> Result<Group, ScimError> {
    object_naming(body, PATCH_SCHEMA)?;
    let old = get(core, id).await?;
    let w = Wanted {
        display_name: Some(old.display_name.clone()),
        external_id: old.external_id.clone(),
        members: old.member_ids(),
    };
    let w = patched(w, body)?;
    save(core, by, Some(&old), w).await
}

/// Deletes group `id`: its members leave the teams that follow it.
pub async fn delete(core: &Core, by: By, id: &str) -> Result<(), ScimError> {
    let old = get(core, id).await?;
    let ev = event("scim.group_deleted", None, by).with(json!({
        "via": "scim",
        "group": old.display_name,
        "members_removed": old.members.len(),
    }));
    crate::domain::audit::audited!(&core.db, ev, |tx| sqlx::query(DELETE)
        .bind(old.id)
        .execute(&mut *tx)
        .await?
        .rows_affected())?;
    let mut names: Vec<&str> = vec![&old.display_name];
    names.extend(old.external_id.as_deref());
    follow(core, by, &names).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(members: &[i64]) -> Wanted {
        Wanted {
            display_name: Some("eng".into()),
            external_id: None,
            members: members.iter().copied().collect(),
        }
    }

    fn ops(list: Value) -> Value {
        json!({ "schemas": [PATCH_SCHEMA], "Operations": list })
    }

    #[test]
    fn patches_in_entra_and_okta_forms() {
        // Entra: Add / Remove with a path and a list of values
        let w = patched(
            group(&[1]),
            &ops(json!([
                { "op": "Add", "path": "members", "value": [{ "value": "2" }, { "value": "3" }] },
                { "op": "Remove", "path": "members", "value": [{ "value": "1" }] },
            ])),
        )
        .unwrap();
        assert_eq!(w.members, [2, 3].into());
        // Okta: replace without a path, remove by a filter path
        let w = patched(
            w,
            &ops(json!([
                { "op": "replace", "value": { "id": "9", "displayName": "eng-platform" } },
                { "op": "remove", "path": "members[value eq \"2\"]" },
            ])),
        )
        .unwrap();
        assert_eq!(w.display_name.as_deref(), Some("eng-platform"));
        assert_eq!(w.members, [3].into());
        // replace members: the list is the group
        let w = patched(
            w,
            &ops(json!([{ "op": "replace", "path": "members", "value": [{ "value": "7" }] }])),
        )
        .unwrap();
        assert_eq!(w.members, [7].into());
        let w = patched(w, &ops(json!([{ "op": "remove", "path": "members" }]))).unwrap();
        assert!(w.members.is_empty());
    }

    #[test]
    fn hostile_bodies_are_refused_with_their_scim_type() {
        let cases = [
            (
                json!([{ "op": "add", "path": "members", "value": [{ "value": "5", "type": "Group" }] }]),
                "invalidValue",
            ),
            (
                json!([{ "op": "add", "path": "members", "value": [{ "display": "x" }] }]),
                "invalidValue",
            ),
            (
                json!([{ "op": "add", "path": "members", "value": "5" }]),
                "invalidValue",
            ),
            (json!([{ "op": "remove" }]), "noTarget"),
            (
                json!([{ "op": "remove", "path": "displayName" }]),
                "mutability",
            ),
            (
                json!([{ "op": "replace", "path": "owner", "value": "x" }]),
                "invalidPath",
            ),
            (
                json!([{ "op": "remove", "path": "members[display eq \"x\"]" }]),
                "invalidFilter",
            ),
            (
                json!([{ "op": "replace", "path": "displayName", "value": "x".repeat(257) }]),
                "invalidValue",
            ),
            (
                json!([{ "op": "replace", "path": "displayName", "value": "a\u{0}b" }]),
                "invalidValue",
            ),
            (
                json!([{ "op": "move", "path": "members" }]),
                "invalidSyntax",
            ),
            (json!([]), "invalidSyntax"),
        ];
        for (list, kind) in cases {
            let e = patched(group(&[]), &ops(list.clone())).unwrap_err();
            assert_eq!(e.scim_type, Some(kind), "{list}: {}", e.detail);
        }
        let many: Vec<Value> = (0..=MEMBERS_MAX)
            .map(|i| json!({ "value": i.to_string() }))
            .collect();
        let e =
            wanted_of(&json!({ "schemas": [GROUP_SCHEMA], "displayName": "x", "members": many }))
                .unwrap_err();
        assert!(e.detail.contains("at most"), "{}", e.detail);
        let e = wanted_of(&json!({ "schemas": [GROUP_SCHEMA], "members": [] })).unwrap_err();
        assert!(e.detail.contains("displayName"), "{}", e.detail);
        let e =
            wanted_of(&json!({ "schemas": [GROUP_SCHEMA], "displayName": "x", "color": "red" }))
                .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
    }
}
