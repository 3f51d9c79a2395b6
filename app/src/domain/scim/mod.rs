//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) of users: the identity
//! provider lists, makes, changes, deactivates and deletes accounts with a
//! Tessera token carrying `scim:write` (administrators only). Deactivating
//! or deleting signs the person out everywhere and stops their tokens on
//! every instance (as `disable-user` does); a deleted account is kept,
//! disabled, for the audit trail.
//!
//! The HTTP side (`server/src/machine/scim.rs`) renders [`Row`]s and
//! [`ScimError`]s; this module parses bodies, filters and PATCH operations
//! in the forms Entra and Okta send, and makes the changes, audited.

use super::{
    audit::{record_in, By, Event},
    db::{is_unique_violation, now, on_db},
    Core,
};
use crate::model::rules;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub mod groups;

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise extension (accepted, not stored).
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// PATCH bodies.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most resources one list answer holds.
pub const MAX_COUNT: i64 = 200;
/// Longest external id and e-mail address kept.
const TEXT_MAX: usize = 255;

/// A refusal in RFC 7644 §3.12's terms.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    /// The HTTP status.
    pub status: u16,
    /// `scimType` (`uniqueness`, `invalidValue`, …), when one applies.
    pub scim_type: Option<&'static str>,
    /// A sentence.
    pub detail: String,
}

impl ScimError {
    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    fn invalid(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }
    fn syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidSyntax"), detail)
    }
    /// No such user.
    pub fn not_found(id: &str) -> Self {
        Self::new(404, None, format!("There is no user {id}."))
    }
}

impl From<sqlx::Error> for ScimError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "SCIM: the store failed");
        ScimError::new(500, None, "The server could not do this; try again.")
    }
}

/// An account as SCIM shows it.
#[derive(Clone, Debug, sqlx_macros::FromRow)]
pub struct Row {
    /// `id`.
    pub id: i64,
    /// `userName`.
    pub username: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `active` is false when set.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The primary work address.
    pub email: Option<String>,
    /// `meta.created`.
    pub created_at: DateTime<Utc>,
    /// `meta.lastModified`.
    pub modified_at: DateTime<Utc>,
}

impl Row {
    /// The User resource (`location`: the base of `/scim/v2`).
    pub fn resource(&self, base: &str) -> Value {
        let mut v = json!({
            "schemas": [USER_SCHEMA],
            "id": self.id.to_string(),
            "userName": self.username,
            "active": self.disabled_at.is_none(),
            "meta": {
                "resourceType": "User",
                "created": self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "lastModified": self.modified_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "location": format!("{base}/Users/{}", self.id),
            },
        });
        if let Some(x) = &self.external_id {
            v["externalId"] = json!(x);
        }
        if let Some(e) = &self.email {
            v["emails"] = json!([{ "value": e, "type": "work", "primary": true }]);
        }
        v
    }
}

/// What a body may set.
#[derive(Clone, Debug, Default, PartialEq)]
struct Wanted {
    username: Option<String>,
    external_id: Option<Option<String>>,
    active: Option<bool>,
    email: Option<Option<String>>,
}

/// Attributes of the core schema Tessera accepts and does not keep
/// (names, phone numbers, …: the provider sends them; nothing here needs them).
const IGNORED: [&str; 18] = [
    "name",
    "displayname",
    "nickname",
    "profileurl",
    "title",
    "usertype",
    "preferredlanguage",
    "locale",
    "timezone",
    "password",
    "phonenumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509certificates",
];

fn bool_of(v: &Value) -> Option<bool> {
    // Entra has sent "True" and "False" as strings
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn text_of(name: &str, v: &Value) -> Result<Option<String>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= TEXT_MAX && !s.chars().any(char::is_control) => {
            Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
        }
        Value::String(_) => Err(ScimError::invalid(format!(
            "{name} must be at most {TEXT_MAX} characters, with no control characters."
        ))),
        _ => Err(ScimError::invalid(format!("{name} must be a string."))),
    }
}

/// The primary (else the first) address of an `emails` value.
fn email_of(v: &Value) -> Result<Option<String>, ScimError> {
    let Value::Array(items) = v else {
        return match v {
            Value::Null => Ok(None),
            _ => Err(ScimError::invalid("emails must be a list.")),
        };
    };
    let pick = items
        .iter()
        .find(|e| e.get("primary").and_then(bool_of) == Some(true))
        .or_else(|| items.first());
    match pick {
        None => Ok(None),
        Some(e) => {
            let value = text_of("emails.value", e.get("value").unwrap_or(&Value::Null))?;
            address(value)
        }
    }
}

/// An address as the notices would send to it (the same check as the
/// Notifications page), or none.
fn address(value: Option<String>) -> Result<Option<String>, ScimError> {
    match value {
        None => Ok(None),
        Some(a) => super::mail::parse_address(&a)
            .map(|_| Some(a))
            .map_err(|e| ScimError::invalid(format!("emails.value: {e}"))),
    }
}

/// Applies one attribute (any case) of a body or a PATCH value.
fn apply(w: &mut Wanted, name: &str, value: &Value) -> Result<(), ScimError> {
    match name.to_ascii_lowercase().as_str() {
        "username" => {
            w.username = Some(
                text_of("userName", value)?
                    .ok_or_else(|| ScimError::invalid("userName is required."))?,
            )
        }
        "externalid" => w.external_id = Some(text_of("externalId", value)?),
        "active" => {
            w.active = Some(
                bool_of(value)
                    .ok_or_else(|| ScimError::invalid("active must be true or false."))?,
            )
        }
        "emails" => w.email = Some(email_of(value)?),
        "schemas" | "id" | "meta" => {}
        n if IGNORED.contains(&n) || n.starts_with("urn:") => {}
        _ => {
            return Err(ScimError::syntax(format!(
                "Unknown attribute \u{201c}{}\u{201d} for a User.",
                name.chars().take(64).collect::<String>()
            )))
        }
    }
    Ok(())
}

/// The body as an object whose `schemas` names `urn`.
fn object_naming<'a>(body: &'a Value, urn: &str) -> Result<&'a Map<String, Value>, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::syntax("The body must be a JSON object."));
    };
    let named = map
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|x| x.as_str() == Some(urn)));
    if !named {
        return Err(ScimError::syntax(format!("schemas must name {urn}.")));
    }
    Ok(map)
}

fn wanted_of(body: &Value) -> Result<Wanted, ScimError> {
    let map = object_naming(body, USER_SCHEMA)?;
    let mut w = Wanted::default();
    for (k, v) in map {
        apply(&mut w, k, v)?;
    }
    Ok(w)
}

/// The accounts of a list request: `filter` (`userName eq "…"`,
/// `externalId eq "…"`, `id eq "…"`), 1-based `start`, `count`; the total
/// and the page.
pub async fn list(
    core: &Core,
    filter: Option<&str>,
    start: i64,
    count: i64,
) -> Result<(i64, Vec<Row>), ScimError> {
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        let (total,): (i64,) = on_db!(&core.db, pool => sqlx::query_as(super::users::SCIM_COUNT)
            .fetch_one(pool)
            .await)?;
        let rows: Vec<Row> = on_db!(&core.db, pool => sqlx::query_as(super::users::SCIM_PAGE)
            .bind(count)
            .bind(start - 1)
            .fetch_all(pool)
            .await)?;
        return Ok((total, rows));
    };
    let (attribute, value) = parse_filter(filter, &["userName", "externalId", "id"])?;
    let rows: Vec<Row> = match attribute.as_str() {
        "username" => on_db!(&core.db, pool => sqlx::query_as(super::users::SCIM_BY_NAME)
                .bind(value.to_lowercase())
                .fetch_all(pool)
                .await)?,
        "externalid" => on_db!(&core.db, pool => sqlx::query_as(super::users::SCIM_BY_EXTERNAL)
                .bind(&value)
                .fetch_all(pool)
                .await)?,
        _ => match value.parse::<i64>() {
            Ok(id) => get_row(core, id).await?.into_iter().collect(),
            Err(_) => Vec::new(),
        },
    };
    Ok(page_of(rows, start, count))
}

/// `ATTRIBUTE eq "VALUE"` with one of a resource's filterable
/// `attributes` (written as the schema does; names case-insensitive, as
/// RFC 7644 says); anything else is `invalidFilter`. The attribute comes
/// back in lower case.
fn parse_filter(filter: &str, attributes: &[&str]) -> Result<(String, String), ScimError> {
    let bad = || {
        let forms: Vec<String> = attributes
            .iter()
            .map(|a| format!("{a} eq \"VALUE\""))
            .collect();
        ScimError::new(
            400,
            Some("invalidFilter"),
            format!(
                "Only filters of the forms {} are supported.",
                forms.join(", ")
            ),
        )
    };
    if filter.len() > 1024 {
        return Err(bad());
    }
    let mut parts = filter.splitn(3, char::is_whitespace);
    let attribute = parts.next().ok_or_else(bad)?.to_ascii_lowercase();
    let op = parts.next().ok_or_else(bad)?;
    let value = parts.next().ok_or_else(bad)?.trim();
    if !op.eq_ignore_ascii_case("eq")
        || !attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&attribute))
    {
        return Err(bad());
    }
    let value: String = serde_json::from_str(value).map_err(|_| bad())?;
    Ok((attribute, value))
}

/// One page (1-based `start`, `count`) of the rows a filter found, and
/// how many it found.
fn page_of<T>(rows: Vec<T>, start: i64, count: i64) -> (i64, Vec<T>) {
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let page = rows
        .into_iter()
        .skip(usize::try_from(start - 1).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(0))
        .collect();
    (total, page)
}

/// A PATCH body's operations (1 to 100 of them).
fn operations(body: &Value) -> Result<&Vec<Value>, ScimError> {
    let map = object_naming(body, PATCH_SCHEMA)?;
    map.get("Operations")
        .or_else(|| map.get("operations"))
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty() && o.len() <= 100)
        .ok_or_else(|| ScimError::syntax("Operations must be a list of 1 to 100 operations."))
}

/// An operation's `op` in lower case (Entra writes `Add`), its `path`
/// and its `value` (null when none).
fn operation(op: &Value) -> (String, Option<&str>, Value) {
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let path = op.get("path").and_then(Value::as_str).map(str::trim);
    (kind, path, op.get("value").cloned().unwrap_or(Value::Null))
}

/// 1-based `start` and `count` as RFC 7644 §3.4.2.4 reads them.
pub fn paging(start: Option<i64>, count: Option<i64>) -> (i64, i64) {
    (
        start.unwrap_or(1).max(1),
        count.unwrap_or(100).clamp(0, MAX_COUNT),
    )
}

async fn get_row(core: &Core, id: i64) -> Result<Option<Row>, ScimError> {
    Ok(
        on_db!(&core.db, pool => sqlx::query_as(super::users::SCIM_BY_ID)
        .bind(id)
        .fetch_optional(pool)
        .await)?,
    )
}

/// The account `id` (a path segment).
pub async fn get(core: &Core, id: &str) -> Result<Row, ScimError> {
    let n = id.parse::<i64>().map_err(|_| ScimError::not_found(id))?;
    get_row(core, n)
        .await?
        .ok_or_else(|| ScimError::not_found(id))
}

fn check_name(name: &str) -> Result<(), ScimError> {
    match rules::username_problem(name) {
        Some(p) => Err(ScimError::invalid(format!("userName: {p}"))),
        None => Ok(()),
    }
}

fn taken(name: &str) -> ScimError {
    ScimError::new(
        409,
        Some("uniqueness"),
        format!("The userName \u{201c}{name}\u{201d} is already taken."),
    )
}

/// Makes the account a POST body describes (audited as made by `by`).
pub async fn create(core: &Core, by: By, body: &Value) -> Result<Row, ScimError> {
    let w = wanted_of(body)?;
    let name = w
        .username
        .clone()
        .ok_or_else(|| ScimError::invalid("userName is required."))?;
    check_name(&name)?;
    let at = now();
    let email = w.email.clone().flatten();
    let confirmed = email.as_ref().map(|_| at);
    let external = w.external_id.clone().flatten();
    let inserted: Result<i64, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(super::users::SCIM_INSERT)
            .bind(&name)
            .bind(name.to_lowercase())
            .bind(at)
            .bind(&external)
            .bind(&email)
            .bind(confirmed)
            .fetch_one(&mut *tx)
            .await?;
        let event = Event::new("account.created", Some(id), None, by, None)
            .with(json!({ "via": "scim", "external_id": external }));
        record_in!(&mut *tx, event)?;
        if w.active == Some(false) {
            sqlx::query(super::users::DISABLE).bind(at).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(id)
    }.await);
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => return Err(taken(&name)),
        Err(e) => return Err(e.into()),
    };
    get_row(core, id)
        .await?
        .ok_or_else(|| ScimError::not_found(&id.to_string()))
}

/// Replaces the account `id` with a PUT body: attributes left out are
/// cleared (external id, e-mail) or kept as they are (`active`).
pub async fn replace(core: &Core, by: By, id: &str, body: &Value) -> Result<Row, ScimError> {
    let row = get(core, id).await?;
    let w = wanted_of(body)?;
    let full = Wanted {
        username: Some(
            w.username
                .clone()
                .ok_or_else(|| ScimError::invalid("userName is required."))?,
        ),
        external_id: Some(w.external_id.clone().flatten()),
        email: Some(w.email.clone().flatten()),
        active: w.active,
    };
    change(core, by, &row, &full).await
}

/// Applies a PATCH body to the account `id`: `add`, `replace` and
/// `remove` operations, with a `path` (`active`, `userName`,
/// `externalId`, `emails`, `emails[type eq "work"].value`) or without one
/// (a value object of attributes).
pub async fn patch(core: &Core, by: By, id: &str, body: &Value) -> Result<Row, ScimError> {
    let row = get(core, id).await?;
    let mut w = Wanted::default();
    for op in operations(body)? {
        let (kind, path, value) = operation(op);
        match (kind.as_str(), path) {
            ("add" | "replace", None) => {
                let Value::Object(attrs) = &value else {
                    return Err(ScimError::syntax(
                        "An operation without a path needs an object value.",
                    ));
                };
                for (k, v) in attrs {
                    apply(&mut w, k, v)?;
                }
            }
            ("add" | "replace", Some(path)) => apply_path(&mut w, path, &value)?,
            ("remove", Some(path)) => apply_path(&mut w, path, &Value::Null)?,
            ("remove", None) => {
                return Err(ScimError::new(
                    400,
                    Some("noTarget"),
                    "A remove operation needs a path.",
                ))
            }
            _ => return Err(ScimError::syntax("op must be add, replace or remove.")),
        }
    }
    change(core, by, &row, &w).await
}

/// A PATCH path: a top-level attribute, or the work address's value.
fn apply_path(w: &mut Wanted, path: &str, value: &Value) -> Result<(), ScimError> {
    let lower = path.to_ascii_lowercase();
    let lower = lower
        .strip_prefix(&format!("{}:", USER_SCHEMA.to_ascii_lowercase()))
        .unwrap_or(&lower)
        .to_owned();
    if lower.starts_with("emails[") && lower.ends_with("].value") {
        w.email = Some(address(text_of("emails.value", value)?)?);
        return Ok(());
    }
    if lower == "username" && value.is_null() {
        return Err(ScimError::new(
            400,
            Some("mutability"),
            "userName cannot be removed.",
        ));
    }
    if lower.contains('.') || lower.contains('[') {
        let top = lower.split(['.', '[']).next().unwrap_or_default();
        if IGNORED.contains(&top) || top.starts_with("urn:") {
            return Ok(());
        }
        return Err(ScimError::new(
            400,
            Some("invalidPath"),
            format!("The path \u{201c}{path}\u{201d} is not supported."),
        ));
    }
    if lower.starts_with("urn:") {
        return Ok(());
    }
    apply(w, &lower, value).map_err(|e| match e.scim_type {
        Some("invalidSyntax") => ScimError::new(
            400,
            Some("invalidPath"),
            format!("The path \u{201c}{path}\u{201d} is not supported."),
        ),
        _ => e,
    })
}

/// Writes what `w` changes of `row`, each part audited; the account again.
async fn change(core: &Core, by: By, row: &Row, w: &Wanted) -> Result<Row, ScimError> {
    let name = w.username.clone().unwrap_or_else(|| row.username.clone());
    check_name(&name)?;
    let external = w
        .external_id
        .clone()
        .unwrap_or_else(|| row.external_id.clone());
    let email = w.email.clone().unwrap_or_else(|| row.email.clone());
    let at = now();
    if external != row.external_id && !super::sso::identities(core, row.id).await?.is_empty() {
        // single sign-on finds the account by it: once linked, it stays
        return Err(ScimError::new(
            400,
            Some("mutability"),
            "externalId cannot change once the person has signed in.",
        ));
    }
    let fields_changed = name != row.username || external != row.external_id || email != row.email;
    if fields_changed {
        let confirmed = email.as_ref().map(|_| at);
        let mut details = Map::new();
        if name != row.username {
            details.insert(
                "username".into(),
                json!({ "from": row.username, "to": name }),
            );
        }
        if external != row.external_id {
            details.insert(
                "external_id".into(),
                json!({ "from": row.external_id, "to": external }),
            );
        }
        if email != row.email {
            details.insert("email".into(), json!(true));
        }
        let event = Event::new("account.updated", Some(row.id), None, by, None)
            .with(json!({ "via": "scim", "changed": details }));
        let done =
            super::audit::audited!(&core.db, event, |tx| sqlx::query(super::users::SCIM_UPDATE)
                .bind(&name)
                .bind(name.to_lowercase())
                .bind(&external)
                .bind(&email)
                .bind(confirmed)
                .bind(at)
                .bind(row.id)
                .execute(&mut *tx)
                .await?
                .rows_affected());
        match done {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(taken(&name)),
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(active) = w.active {
        set_active(core, by, row.id, active).await?;
    }
    get_row(core, row.id)
        .await?
        .ok_or_else(|| ScimError::not_found(&row.id.to_string()))
}

/// Deactivates (signed out everywhere, tokens refused on every instance
/// through the change feed) or reactivates the account.
async fn set_active(core: &Core, by: By, id: i64, active: bool) -> Result<(), ScimError> {
    let at = now();
    let name = if active {
        "admin.user_enabled"
    } else {
        "admin.user_disabled"
    };
    let event = Event::new(name, Some(id), None, by, None).with(json!({ "via": "scim" }));
    let changed = super::audit::audited!(&core.db, event, |tx| {
        let n = if active {
            sqlx::query(super::users::ENABLE)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        } else {
            sqlx::query(super::sessions::DELETE_ALL_OF_USER)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(super::users::DISABLE)
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        };
        if n == 1 {
            sqlx::query(super::users::SCIM_TOUCH)
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        n
    })?;
    if changed == 1 {
        core.verifier.evict(id, None);
    }
    Ok(())
}

/// Deletes the account `id` for SCIM: disabled (signed out, tokens
/// refused) and marked deprovisioned; kept for the audit trail, gone from
/// SCIM's answers; revoked tokens stay revoked.
pub async fn delete(core: &Core, by: By, id: &str) -> Result<(), ScimError> {
    let row = get(core, id).await?;
    let at = now();
    let event = Event::new("account.deprovisioned", Some(row.id), None, by, None)
        .with(json!({ "via": "scim" }));
    super::audit::audited!(&core.db, event, |tx| {
        sqlx::query(super::sessions::DELETE_ALL_OF_USER)
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(super::users::SCIM_DEPROVISION)
            .bind(at)
            .bind(row.id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    })?;
    core.verifier.evict(row.id, None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_filter_of_users(f: &str) -> Result<(String, String), ScimError> {
        parse_filter(f, &["userName", "externalId", "id"])
    }

    #[test]
    fn filters_are_the_equality_forms_providers_send() {
        assert_eq!(
            parse_filter_of_users("userName eq \"bjensen\"").unwrap(),
            ("username".into(), "bjensen".into())
        );
        assert_eq!(
            parse_filter_of_users("externalId EQ \"00u1\"").unwrap(),
            ("externalid".into(), "00u1".into())
        );
        assert_eq!(
            parse_filter_of_users("userName eq \"a \\\"quoted\\\" name\"")
                .unwrap()
                .1,
            "a \"quoted\" name"
        );
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName co \"x\"",
            "name.givenName eq \"x\"",
            "userName eq x",
            "userName eq \"x\" or id eq \"1\"",
        ] {
            let e = parse_filter_of_users(bad).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{bad}");
        }
    }

    #[test]
    fn bodies_take_what_providers_send_and_refuse_what_no_schema_has() {
        let w = wanted_of(&json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "userName": "bjensen",
            "name": { "givenName": "Barbara" },
            "displayName": "Babs",
            "active": "False",
            "emails": [{ "value": "old@example.com" }, { "value": "b@example.com", "primary": true }],
            ENTERPRISE_SCHEMA: { "department": "Tour" },
        }))
        .unwrap();
        assert_eq!(w.username.as_deref(), Some("bjensen"));
        assert_eq!(w.active, Some(false));
        assert_eq!(w.email, Some(Some("b@example.com".into())));
        let e = wanted_of(
            &json!({ "schemas": [USER_SCHEMA], "userName": "x", "favouriteColour": "red" }),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
        assert!(e.detail.contains("favouriteColour"), "{}", e.detail);
        assert!(
            wanted_of(&json!({ "userName": "x" })).is_err(),
            "no schemas"
        );
        let e = wanted_of(
            &json!({ "schemas": [USER_SCHEMA], "userName": "x", "externalId": "a".repeat(300) }),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidValue"));
    }

    #[test]
    fn patch_paths_in_entra_and_okta_forms() {
        let mut w = Wanted::default();
        apply_path(&mut w, "active", &json!(false)).unwrap();
        apply_path(
            &mut w,
            "emails[type eq \"work\"].value",
            &json!("w@example.com"),
        )
        .unwrap();
        apply_path(&mut w, "name.givenName", &json!("ignored")).unwrap();
        apply_path(
            &mut w,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            &json!("x"),
        )
        .unwrap();
        assert_eq!(w.active, Some(false));
        assert_eq!(w.email, Some(Some("w@example.com".into())));
        assert_eq!(
            apply_path(&mut w, "shoeSize", &json!(9))
                .unwrap_err()
                .scim_type,
            Some("invalidPath")
        );
        assert_eq!(
            apply_path(&mut w, "userName", &Value::Null)
                .unwrap_err()
                .scim_type,
            Some("mutability")
        );
    }
}
