//! `/scim/v2`: SCIM 2.0 provisioning (RFC 7644) of users and groups for
//! identity providers (Entra, Okta, Keycloak with a SCIM plug-in). Authenticated by a Tessera
//! token with `scim:write` (administrators only) through the one path every
//! transport takes; every answer is `application/scim+json`, every refusal
//! a SCIM error (RFC 7644 §3.12).

use super::{
    error::ApiError,
    pat::{Pat, Required},
};
use app::domain::{
    audit::By,
    scim::{self, groups, ScimError, USER_SCHEMA},
    AppState,
};
use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// The scope every SCIM call needs.
pub const SCOPE: &str = "scim:write";
const CONTENT_TYPE: &str = "application/scim+json";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn refusal(e: ScimError) -> Response {
    let mut body =
        json!({ "schemas": [ERROR], "status": e.status.to_string(), "detail": e.detail });
    if let Some(t) = e.scim_type {
        body["scimType"] = json!(t);
    }
    let mut res = answer(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    );
    if e.status == 401 {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"tessera-scim\""),
        );
    }
    res
}

/// The caller, or why not (a token refusal — 401, 403, 429… — in SCIM's shape).
fn caller(pat: Result<Pat, ApiError>) -> Result<By, ScimError> {
    let pat = pat.map_err(|e| ScimError {
        status: e.status.as_u16(),
        scim_type: None,
        detail: e.message,
    })?;
    let v = pat.verified();
    Ok(By::Token {
        user: v.user_id,
        token: v.token_id,
    })
}

fn base(state: &AppState) -> String {
    format!("{}/scim/v2", state.core.config.public_url)
}

fn body_json(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|e| ScimError {
        status: 400,
        scim_type: Some("invalidSyntax"),
        detail: format!("The body is not JSON: {e}"),
    })
}

fn list_of(resources: Vec<Value>, total: i64, start: i64) -> Value {
    json!({
        "schemas": [LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `?filter=…&startIndex=…&count=…&attributes=…&excludedAttributes=…`.
#[derive(Deserialize)]
pub struct ListQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

impl ListQuery {
    /// Whether a Group answer carries its members (RFC 7644 §3.9: a
    /// provider asks without them to keep big groups' answers small).
    fn members(&self) -> bool {
        let names = |list: &Option<String>| {
            list.as_deref().map(|l| {
                l.split(',')
                    .any(|a| a.trim().eq_ignore_ascii_case("members"))
            })
        };
        names(&self.excluded_attributes) != Some(true) && names(&self.attributes) != Some(false)
    }
}

type QueryResult = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

/// The query of a list or read, or the refusal of one that is not.
fn query_of(query: QueryResult) -> Result<ListQuery, ScimError> {
    query.map(|Query(q)| q).map_err(|_| ScimError {
        status: 400,
        scim_type: Some("invalidValue"),
        detail: "startIndex and count must be integers.".into(),
    })
}

/// A read: the caller may call and the query reads; the query, or why
/// not.
fn asked(pat: Result<Pat, ApiError>, query: QueryResult) -> Result<ListQuery, ScimError> {
    caller(pat)?;
    query_of(query)
}

/// `GET` of the Users (`USERS`) or the Groups: a page of them.
async fn list_all<const USERS: bool>(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    query: QueryResult,
) -> Response {
    let q = match asked(pat, query) {
        Ok(q) => q,
        Err(e) => return refusal(e),
    };
    let (start, count) = scim::paging(q.start_index, q.count);
    let base = base(&state);
    let core = &state.core;
    let found = if USERS {
        scim::list(core, q.filter.as_deref(), start, count)
            .await
            .map(|(n, rows)| (n, rows.iter().map(|r| r.resource(&base)).collect()))
    } else {
        groups::list(core, q.filter.as_deref(), (start, count), q.members())
            .await
            .map(|(n, rows)| {
                (
                    n,
                    rows.iter()
                        .map(|g| g.resource(&base, q.members()))
                        .collect(),
                )
            })
    };
    match found {
        Ok((total, resources)) => answer(StatusCode::OK, list_of(resources, total, start)),
        Err(e) => refusal(e),
    }
}

/// A resource, at the place its `meta.location` names.
fn one(status: StatusCode, resource: Value) -> Response {
    let location = resource["meta"]["location"].as_str().map(str::to_owned);
    let mut res = answer(status, resource);
    if let Some(Ok(location)) = location.map(|l| header::HeaderValue::from_str(&l)) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res
}

/// `GET` of one User (`USERS`) or Group.
async fn get_one<const USERS: bool>(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
    query: QueryResult,
) -> Response {
    let q = match asked(pat, query) {
        Ok(q) => q,
        Err(e) => return refusal(e),
    };
    let base = base(&state);
    let found = if USERS {
        scim::get(&state.core, &id).await.map(|r| r.resource(&base))
    } else {
        groups::get(&state.core, &id)
            .await
            .map(|g| g.resource(&base, q.members()))
    };
    match found {
        Ok(resource) => one(StatusCode::OK, resource),
        Err(e) => refusal(e),
    }
}

/// What a write does with its body.
enum Write {
    Create,
    Replace(String),
    Patch(String),
}

/// A POST, PUT or PATCH of a User (`users`) or a Group: the caller, the
/// body, the change; the resource.
async fn write(
    state: &AppState,
    pat: Result<Pat, ApiError>,
    body: &Bytes,
    what: Write,
    users: bool,
) -> Response {
    let by = match caller(pat) {
        Ok(by) => by,
        Err(e) => return refusal(e),
    };
    let body = match body_json(body) {
        Ok(b) => b,
        Err(e) => return refusal(e),
    };
    let core = &state.core;
    let base = base(state);
    let outcome = if users {
        match &what {
            Write::Create => scim::create(core, by, &body).await,
            Write::Replace(id) => scim::replace(core, by, id, &body).await,
            Write::Patch(id) => scim::patch(core, by, id, &body).await,
        }
        .map(|row| row.resource(&base))
    } else {
        match &what {
            Write::Create => groups::create(core, by, &body).await,
            Write::Replace(id) => groups::replace(core, by, id, &body).await,
            Write::Patch(id) => groups::patch(core, by, id, &body).await,
        }
        .map(|g| g.resource(&base, true))
    };
    let status = match what {
        Write::Create => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    match outcome {
        Ok(resource) => one(status, resource),
        Err(e) => refusal(e),
    }
}

/// `POST` of a User (`USERS`) or a Group.
async fn create<const USERS: bool>(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    body: Bytes,
) -> Response {
    write(&state, pat, &body, Write::Create, USERS).await
}

/// `PUT` of a User (`USERS`) or a Group.
async fn replace<const USERS: bool>(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    write(&state, pat, &body, Write::Replace(id), USERS).await
}

/// `PATCH` of a User (`USERS`) or a Group.
async fn patch<const USERS: bool>(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    write(&state, pat, &body, Write::Patch(id), USERS).await
}

/// A DELETE of a User (`users`) or a Group.
async fn remove(state: &AppState, pat: Result<Pat, ApiError>, id: &str, users: bool) -> Response {
    let by = match caller(pat) {
        Ok(by) => by,
        Err(e) => return refusal(e),
    };
    let done = if users {
        scim::delete(&state.core, by, id).await
    } else {
        groups::delete(&state.core, by, id).await
    };
    match done {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refusal(e),
    }
}

/// `DELETE` of a User (`USERS`) or a Group.
async fn delete<const USERS: bool>(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
) -> Response {
    remove(&state, pat, &id, USERS).await
}

fn meta(base: &str, kind: &str, path: &str) -> Value {
    json!({ "resourceType": kind, "location": format!("{base}{path}") })
}

fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/tessera/tessera#provisioning-scim-20",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": scim::MAX_COUNT },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Tessera token",
            "description": "A Tessera personal access token with scim:write, made by an administrator, sent as a Bearer token.",
            "primary": true,
        }],
        "meta": meta(base, "ServiceProviderConfig", "/ServiceProviderConfig"),
    })
}

fn attribute(name: &str, kind: &str, description: &str, extra: Value) -> Value {
    let mut a = json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    });
    if let (Some(a), Some(extra)) = (a.as_object_mut(), extra.as_object()) {
        a.extend(extra.clone());
    }
    a
}

fn user_schema(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A Tessera account",
        "attributes": [
            attribute("userName", "string", "The account's name: letters, digits, '.', '_' and '-', 2 to 32, starting with a letter or digit; unique whatever its case.", json!({ "required": true, "uniqueness": "server" })),
            attribute("externalId", "string", "The identity provider's id for the person.", json!({ "caseExact": true })),
            attribute("active", "boolean", "False: the account is disabled (signed out, its tokens refused).", json!({})),
            attribute("emails", "complex", "The person's work address (the primary one is kept).", json!({
                "multiValued": true,
                "subAttributes": [
                    attribute("value", "string", "The address.", json!({})),
                    attribute("type", "string", "work", json!({ "canonicalValues": ["work"] })),
                    attribute("primary", "boolean", "The address kept.", json!({})),
                ],
            })),
        ],
        "meta": meta(base, "Schema", &format!("/Schemas/{USER_SCHEMA}")),
    })
}

fn group_schema(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": groups::GROUP_SCHEMA,
        "name": "Group",
        "description": "A group of the identity provider; teams that follow it (their identity provider group is its displayName or externalId) hold its members.",
        "attributes": [
            attribute("displayName", "string", "The group's name, unique whatever its case; at most 256 characters.", json!({ "required": true, "uniqueness": "server" })),
            attribute("externalId", "string", "The identity provider's id for the group.", json!({ "caseExact": true })),
            attribute("members", "complex", "The users in the group (no groups).", json!({
                "multiValued": true,
                "subAttributes": [
                    attribute("value", "string", "A user's id.", json!({ "mutability": "immutable" })),
                    attribute("display", "string", "The user's userName.", json!({ "mutability": "readOnly" })),
                    attribute("type", "string", "User", json!({ "canonicalValues": ["User"], "mutability": "immutable" })),
                    attribute("$ref", "reference", "The user's URI.", json!({ "referenceTypes": ["User"], "mutability": "immutable" })),
                ],
            })),
        ],
        "meta": meta(base, "Schema", &format!("/Schemas/{}", groups::GROUP_SCHEMA)),
    })
}

fn resource_type(base: &str, name: &str, schema: &str, description: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": name,
        "name": name,
        "endpoint": format!("/{name}s"),
        "description": description,
        "schema": schema,
        "meta": meta(base, "ResourceType", &format!("/ResourceTypes/{name}")),
    })
}

/// Every schema, by id.
fn all_schemas(base: &str) -> Vec<(String, Value)> {
    vec![
        (USER_SCHEMA.to_owned(), user_schema(base)),
        (groups::GROUP_SCHEMA.to_owned(), group_schema(base)),
    ]
}

/// Every resource type, by id.
fn all_resource_types(base: &str) -> Vec<(String, Value)> {
    vec![
        (
            "User".into(),
            resource_type(base, "User", USER_SCHEMA, "Tessera accounts"),
        ),
        (
            "Group".into(),
            resource_type(
                base,
                "Group",
                groups::GROUP_SCHEMA,
                "The identity provider's groups, which teams follow",
            ),
        ),
    ]
}

async fn config(State(state): State<AppState>, pat: Result<Pat, ApiError>) -> Response {
    if let Err(e) = caller(pat) {
        return refusal(e);
    }
    answer(StatusCode::OK, service_provider_config(&base(&state)))
}

/// Discovery documents: the list of them, or the one the path names.
async fn discovery(
    state: &AppState,
    pat: Result<Pat, ApiError>,
    id: Option<&str>,
    docs: fn(&str) -> Vec<(String, Value)>,
) -> Response {
    if let Err(e) = caller(pat) {
        return refusal(e);
    }
    let docs = docs(&base(state));
    let Some(id) = id else {
        let total = i64::try_from(docs.len()).unwrap_or(0);
        return answer(
            StatusCode::OK,
            list_of(docs.into_iter().map(|(_, d)| d).collect(), total, 1),
        );
    };
    let names: Vec<String> = docs.iter().map(|(n, _)| n.clone()).collect();
    match docs.into_iter().find(|(n, _)| n == id) {
        Some((_, doc)) => answer(StatusCode::OK, doc),
        None => refusal(ScimError {
            status: 404,
            scim_type: None,
            detail: format!(
                "There is no such document; there are {}.",
                names.join(" and ")
            ),
        }),
    }
}

/// `GET` of every schema (`SCHEMAS`) or every resource type.
async fn documents<const SCHEMAS: bool>(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
) -> Response {
    let docs = if SCHEMAS {
        all_schemas
    } else {
        all_resource_types
    };
    discovery(&state, pat, None, docs).await
}

/// `GET` of one schema (`SCHEMAS`) or resource type, by id.
async fn document<const SCHEMAS: bool>(
    State(state): State<AppState>,
    pat: Result<Pat, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let docs = if SCHEMAS {
        all_schemas
    } else {
        all_resource_types
    };
    discovery(&state, pat, Some(&id), docs).await
}

async fn unknown() -> Response {
    refusal(ScimError {
        status: 404,
        scim_type: None,
        detail: "There is no such SCIM endpoint; Tessera provisions /Users and /Groups.".into(),
    })
}

async fn not_allowed() -> Response {
    refusal(ScimError {
        status: 405,
        scim_type: None,
        detail: "That method is not supported here.".into(),
    })
}

/// The routes of the resource type at `/scim/v2/{name}`: Users
/// (`USERS`) or Groups.
fn resource<const USERS: bool>(router: Router<AppState>, name: &str) -> Router<AppState> {
    router
        .route(
            &format!("/scim/v2/{name}"),
            get(list_all::<USERS>)
                .post(create::<USERS>)
                .fallback(not_allowed),
        )
        .route(
            &format!("/scim/v2/{name}/{{id}}"),
            get(get_one::<USERS>)
                .put(replace::<USERS>)
                .patch(patch::<USERS>)
                .delete(delete::<USERS>)
                .fallback(not_allowed),
        )
}

/// The SCIM routes (each needing `scim:write`).
pub fn router() -> Router<AppState> {
    let router = resource::<false>(resource::<true>(Router::new(), "Users"), "Groups");
    router
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(config).fallback(not_allowed),
        )
        .route(
            "/scim/v2/Schemas",
            get(documents::<true>).fallback(not_allowed),
        )
        .route(
            "/scim/v2/Schemas/{id}",
            get(document::<true>).fallback(not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes",
            get(documents::<false>).fallback(not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes/{id}",
            get(document::<false>).fallback(not_allowed),
        )
        .route("/scim/v2", get(unknown))
        .route("/scim/v2/{*rest}", axum::routing::any(unknown))
        .layer(axum::Extension(Required::scope(SCOPE)))
}
