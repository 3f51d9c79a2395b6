//! The API's token handlers. Each one checks the route's scope, parses its
//! input into the service's types and calls the token service with the
//! token as the actor (so it never acts beyond its own scopes and life);
//! errors become JSON through [`ApiError`].

use crate::machine::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::machine::pat::{Answer, Pat};
use app::domain::{db::now, tokens as service, AppState};
use app::scopes::Scopes;
use app::tokens::{
    Expiry, FieldErrors, ListQuery, Networks, NewSecret, Resources, Sort, TokenSpec, TokenView,
};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A token as the API shows it (never its secret).
#[derive(Serialize, ToSchema)]
#[schema(as = Token)]
pub struct TokenJson {
    /// The token's id.
    pub id: i64,
    /// Its name, unique among the user's tokens that are not revoked.
    pub name: String,
    /// Its description (may be empty).
    pub description: String,
    /// `full`, or space-separated `area:level` scopes.
    #[schema(examples("full", "code:read wiki:write"))]
    pub scopes: String,
    /// Addresses and CIDR ranges the token works from; empty: anywhere.
    #[schema(examples(json!(["10.0.0.0/8", "2001:db8::/48", "192.0.2.7/32"])))]
    pub allowed_networks: Vec<String>,
    /// Area → resource patterns its scope there is limited to; an area not
    /// named reaches every resource.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>, examples(json!({"code": ["acme/api", "acme/web-*"]})))]
    pub resources: std::collections::BTreeMap<String, Vec<String>>,
    /// The first characters of the secret (`tsr_abcd`), to tell tokens apart.
    pub hint: String,
    /// `active`, `expired` or `revoked`.
    #[schema(pattern = "^(active|expired|revoked)$")]
    pub status: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its settings last changed.
    pub updated_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last used (written at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Who revoked it: `owner`, `admin`, `policy` or `system`.
    pub revoked_by: Option<String>,
    /// Why, when an administrator or the system revoked it.
    pub revoked_reason: Option<String>,
    /// The organization policy that blocks this active token, if one
    /// does (it is refused with `policy_violation` until the policy allows it).
    pub blocked_by_policy: Option<String>,
    /// What the blocking policy says, e.g. "Blocked by policy: full access is not allowed."
    pub blocked_reason: Option<String>,
    /// Until when the secret before the last rotation still works.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    /// How often it was presented after it expired or was revoked.
    pub presented_after_end: i64,
    /// When it was last presented after it ended.
    pub last_presented_at: Option<DateTime<Utc>>,
    /// From which address.
    pub last_presented_ip: Option<String>,
    /// With which user agent.
    pub last_presented_agent: Option<String>,
    /// The token it was derived from, if any.
    pub parent_id: Option<i64>,
    /// The token that created it through the API, if one did (when that
    /// token leaks, these are what it made).
    pub created_by_token: Option<i64>,
    /// Live tokens derived from it (in lists).
    pub children: Vec<i64>,
    /// The trust rule that minted it for a workload, if one did (such a
    /// token is never edited, extended or regenerated).
    pub workload_rule_id: Option<i64>,
    /// That workload's `sub` claim.
    pub workload_subject: Option<String>,
    /// The organization that owns what it reaches (`null`: its maker's own
    /// token).
    pub resource_owner: Option<String>,
    /// `pending` while it waits for an owner of that organization to
    /// approve it (refused with `approval_pending` until then), `widening`
    /// while wider scopes an edit asked for wait (it keeps its own until
    /// then), `approved` after; `null` when no approval was needed.
    pub approval: Option<String>,
    /// For a service account's token: the person who made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_by: Option<String>,
    /// What the caller should know about the settings just saved (e.g.
    /// the allowlist leaves out the address the request came from).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl TokenJson {
    pub(super) fn of(t: &TokenView, now: DateTime<Utc>) -> TokenJson {
        TokenJson {
            id: t.id,
            name: t.name.clone(),
            description: t.description.clone(),
            scopes: t.scopes.to_string(),
            allowed_networks: t.allowed_networks.strings(),
            resources: t.resources.map().clone(),
            hint: t.hint.clone(),
            status: t.status(now).label().to_lowercase(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
            revoked_by: t.revoked_by.clone(),
            revoked_reason: t.revoked_reason.clone(),
            blocked_by_policy: t.blocked.as_ref().map(|b| b.policy.clone()),
            blocked_reason: t.blocked.as_ref().map(|b| b.sentence()),
            previous_secret_valid_until: t.previous_valid_until.filter(|g| *g > now),
            presented_after_end: t.presented_after_end,
            last_presented_at: t.last_presented.as_ref().map(|p| p.0),
            last_presented_ip: t.last_presented.as_ref().map(|p| p.1.clone()),
            last_presented_agent: t.last_presented.as_ref().map(|p| p.2.clone()),
            parent_id: t.parent_id,
            created_by_token: t.created_by_token,
            children: t.children.iter().map(|c| c.id).collect(),
            workload_rule_id: t.workload.as_ref().map(|w| w.rule_id),
            workload_subject: t.workload.as_ref().map(|w| w.subject.clone()),
            resource_owner: t.owner.clone(),
            approval: t.approval.clone(),
            made_by: t.made_by.clone(),
            warnings: Vec::new(),
        }
    }
}

/// A token with its secret: the answer to create and regenerate, the only
/// time the secret is ever sent.
#[derive(Serialize, ToSchema)]
#[schema(as = NewToken)]
pub struct SecretJson {
    #[serde(flatten)]
    details: TokenJson,
    /// The secret (`tsr_` + 38 characters), shown only in this answer.
    #[schema(pattern = "^tsr_[0-9A-Za-z]{38}$")]
    token: String,
}

impl SecretJson {
    pub(super) fn of(s: &NewSecret) -> SecretJson {
        let mut details = TokenJson::of(&s.token, now());
        details.warnings = s.warnings.clone();
        SecretJson {
            details,
            token: s.secret.clone(),
        }
    }
}

/// One page of the caller's tokens.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenList)]
pub struct TokenListJson {
    /// The tokens of this page (50 at most).
    tokens: Vec<TokenJson>,
    /// How many tokens match, on every page.
    total: u64,
    /// This page's number, from 1.
    page: u32,
    /// How many pages there are.
    pages: u32,
}

/// The list's query parameters.
#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default)]
    include_revoked: bool,
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: Option<u32>,
}

/// `GET /api/v1/tokens` (`tokens:read`).
pub async fn list(
    State(state): State<AppState>,
    pat: Pat,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Answer<TokenListJson> {
    let q = ListQuery {
        include_revoked: p.include_revoked,
        search: p.q,
        sort: Sort::parse(&p.sort),
        page: p.page.unwrap_or(1),
    };
    let page = service::list(&state.core.db, pat.verified().user_id, &q)
        .await?
        .apply_policies(&state.core.policies());
    pat.answer(TokenListJson {
        tokens: page
            .items
            .iter()
            .map(|t| TokenJson::of(t, page.now))
            .collect(),
        total: page.total,
        page: page.page,
        pages: page.pages,
    })
}

/// `GET /api/v1/tokens/{id}` (`tokens:read`).
pub async fn get(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
) -> Answer<TokenJson> {
    let mut t = service::get(&state.core.db, pat.verified().user_id, id).await?;
    let book = state.core.policies();
    t.apply_policies(book.for_owner(t.owner.as_deref()), now());
    pat.answer(TokenJson::of(&t, now()))
}

/// `DELETE /api/v1/tokens/{id}` and `POST …/revoke` (`tokens:write`).
pub async fn revoke(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
) -> Answer<TokenJson> {
    let t = service::revoke(&state.core, &pat.actor(), id).await?;
    pat.answer(TokenJson::of(&t, now()))
}

/// A token's settings as the API takes them. Absent fields keep their
/// current value when editing (and take the page's defaults when creating).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The token's name (unique among your tokens that are not revoked).
    #[schema(min_length = 1, max_length = 64)]
    name: Option<String>,
    /// A description (line breaks and tabs allowed).
    #[schema(max_length = 256)]
    description: Option<String>,
    /// Days from now (7, 30, …, up to the operator's maximum, 365 by default).
    #[schema(minimum = 1, maximum = 365)]
    expires_in_days: Option<u32>,
    /// Or a date, `YYYY-MM-DD` (the token ends at 23:59:59 UTC that day).
    #[schema(format = Date)]
    expires_on: Option<String>,
    /// `full`, or space-separated `area:level` scopes.
    #[schema(
        examples("full", "code:read wiki:write"),
        pattern = "^(full|[a-z_]+:(read|write|manage)( [a-z_]+:(read|write|manage))*)$"
    )]
    scopes: Option<String>,
    /// Addresses and CIDR ranges the token may be used from (at most 50);
    /// `[]`: anywhere.
    #[schema(examples(json!(["10.0.0.0/8", "2001:db8::/48", "192.0.2.7"])))]
    allowed_networks: Option<Vec<String>>,
    /// Area → resource patterns (literal segments, `*` at the end of a
    /// segment; at most 20 per area) its scope there is limited to; `{}`:
    /// every resource.
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>, examples(json!({"code": ["acme/api", "acme/web-*"]})))]
    resources: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// The organization that owns what the token reaches (create only; you
    /// must be a member): it reaches only that organization's resources
    /// (`acme/…`, and patterns under it), and only while you are a member.
    /// Absent: your own token (or, for a token made by an organization's
    /// token, that organization's).
    #[schema(max_length = 39, examples("acme"))]
    resource_owner: Option<String>,
    /// Optional idempotency key: a repeated create with it creates nothing.
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    request_id: Option<String>,
}

impl TokenBody {
    /// The spec this body asks for, starting from `base` (what is absent
    /// stays as in `base`).
    pub fn overlay(&self, base: TokenSpec) -> Result<TokenSpec, FieldErrors> {
        let mut spec = base;
        let mut errors = FieldErrors::new();
        if let Some(n) = &self.name {
            spec.name = n.clone();
        }
        if let Some(d) = &self.description {
            spec.description = d.clone();
        }
        match (self.expires_in_days, &self.expires_on) {
            (Some(_), Some(_)) => {
                errors.insert(
                    "expiry".into(),
                    "Give expires_in_days or expires_on, not both.".into(),
                );
            }
            (Some(days), None) => spec.expiry = Expiry::Days(days),
            (None, Some(date)) => match NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d") {
                Ok(d) => spec.expiry = Expiry::On(d),
                Err(_) => {
                    errors.insert(
                        "expiry_date".into(),
                        "Enter the expiration date as YYYY-MM-DD.".into(),
                    );
                }
            },
            (None, None) => {}
        }
        if let Some(raw) = &self.scopes {
            match Scopes::parse(raw) {
                Ok(s) => {
                    // limits of areas an edit takes away go with them
                    spec.resources = spec.resources.granted(&s);
                    spec.scopes = s;
                }
                Err(e) => {
                    errors.insert("scopes".into(), e.to_string());
                }
            }
        }
        if let Some(list) = &self.allowed_networks {
            match Networks::parse(list.iter().map(String::as_str)) {
                Ok(n) => spec.networks = n,
                Err(e) => {
                    errors.insert("allowed_networks".into(), e);
                }
            }
        }
        if let Some(map) = &self.resources {
            spec.resources = Resources::new(map.clone());
        }
        if let Some(owner) = self.resource_owner.as_deref().map(str::trim) {
            spec.owner = (!owner.is_empty()).then(|| owner.to_owned());
        }
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }

    /// The body's `request_id`, if it has one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The spec of a new token: scopes are required, the rest defaults.
    pub fn new_spec(&self) -> Result<TokenSpec, FieldErrors> {
        if self.scopes.is_none() {
            let mut e = FieldErrors::new();
            e.insert(
                "scopes".into(),
                "Give the token scopes: \"full\" or area:level pairs.".into(),
            );
            return Err(e);
        }
        self.overlay(TokenSpec {
            name: String::new(),
            description: String::new(),
            // 30 days, within the policy and the calling token's end
            expiry: Expiry::Default,
            // replaced by the body's scopes
            scopes: Scopes::Full,
            networks: Networks::default(),
            owner: None,
            resources: Resources::default(),
        })
    }
}

/// `POST /api/v1/tokens` (`tokens:manage`): creates a token; its secret is
/// in this response only.
pub async fn create(
    State(state): State<AppState>,
    pat: Pat,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Response, ApiError> {
    let mut spec = body.new_spec().map_err(service::TokenError::from)?;
    if body.resource_owner.is_none() {
        // an organization's token makes that organization's tokens
        spec.owner = pat.verified().owner.clone();
    }
    let request_id = body.request_id.as_deref().unwrap_or("");
    let created = service::create(&state.core, &pat.actor(), &spec, request_id).await?;
    Ok((
        StatusCode::CREATED,
        pat.expires(),
        Json(SecretJson::of(&created)),
    )
        .into_response())
}

/// `PATCH /api/v1/tokens/{id}` (`tokens:write`): changes what the body names.
pub async fn edit(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TokenBody>,
) -> Answer<TokenJson> {
    let change = |current: &TokenView| body.overlay(TokenSpec::of(current));
    let t = service::update(&state.core, &pat.actor(), id, change).await?;
    let mut json = TokenJson::of(&t, now());
    json.warnings = service::reach_warnings(&t, Some(pat.client()));
    if t.approval.as_deref() == Some("widening") {
        json.warnings.push(format!(
            "The wider scopes wait for an owner of {} to approve them; the token keeps its current scopes until then.",
            t.owner.as_deref().unwrap_or("its organization")
        ));
    }
    pat.answer(json)
}

/// `POST /api/v1/tokens/{id}/regenerate` (`tokens:manage`, as every action
/// that produces a secret): a new secret, in this response only; the expiry
/// stays as it was.
pub async fn regenerate(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
) -> Answer<SecretJson> {
    let s = service::regenerate(&state.core, &pat.actor(), id).await?;
    pat.answer(SecretJson::of(&s))
}

/// One area a token used in the window.
#[derive(Serialize, ToSchema)]
#[schema(as = AreaUse)]
pub struct AreaUseJson {
    /// `area:level`: the highest level used there.
    scope: String,
    /// The resources the uses named (empty when some use named none).
    resources: Vec<String>,
    /// Some use named no resource.
    without_resource: bool,
    /// The last use in the area.
    last_used_at: DateTime<Utc>,
}

/// What a narrowed token would keep.
#[derive(Serialize, ToSchema)]
#[schema(as = Narrowed)]
pub struct NarrowedJson {
    /// Scopes at the levels used.
    scopes: String,
    /// Resource limits (area → patterns).
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    resources: std::collections::BTreeMap<String, Vec<String>>,
}

/// What a token used in the last 30 days, against what it was granted.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenUsage)]
pub struct UsageJson {
    /// The token.
    token_id: i64,
    /// The start of the window.
    since: DateTime<Utc>,
    /// Per area used: the highest level and the resources.
    used: Vec<AreaUseJson>,
    /// Granted `area:level` scopes never used at that level.
    never_used: Vec<String>,
    /// What `POST …/narrow` would leave, or null when there is nothing to narrow.
    narrowed: Option<NarrowedJson>,
    /// The sentence the tokens page shows.
    summary: String,
}

/// `GET /api/v1/tokens/{id}/usage` (`tokens:read`).
pub async fn usage(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
) -> Answer<UsageJson> {
    let (t, r) = service::usage(&state.core.db, pat.verified().user_id, id).await?;
    pat.answer(UsageJson {
        token_id: t.id,
        since: r.since,
        summary: r.sentence(),
        used: r
            .used
            .iter()
            .map(|u| AreaUseJson {
                scope: u.scope.clone(),
                resources: u.resources.clone(),
                without_resource: u.without_resource,
                last_used_at: u.last_used_at,
            })
            .collect(),
        never_used: r.never_used.clone(),
        narrowed: r.narrowed.as_ref().map(|(s, res)| NarrowedJson {
            scopes: s.to_string(),
            resources: res.map().clone(),
        }),
    })
}

/// `POST /api/v1/tokens/{id}/narrow` (`tokens:write`): keeps only what the
/// token used in the last 30 days; name, expiry and secret stay.
pub async fn narrow(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
) -> Answer<TokenJson> {
    let t = service::narrow(&state.core, &pat.actor(), id).await?;
    pat.answer(TokenJson::of(&t, now()))
}

/// What a derived token should be; absent fields take the parent's
/// (scopes, allowlist, resources) or one hour.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeriveBody)]
pub struct DeriveBody {
    /// Its name (default: the parent's, marked as derived).
    #[schema(max_length = 64)]
    name: Option<String>,
    /// A description.
    #[schema(max_length = 256)]
    description: Option<String>,
    /// Scopes within the parent's (default: the parent's).
    scopes: Option<String>,
    /// An allowlist within the parent's (default: the parent's).
    allowed_networks: Option<Vec<String>>,
    /// Resource patterns within the parent's (default: the parent's).
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    resources: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// Minutes from now (default 60, and never past the parent's expiry).
    #[schema(minimum = 1)]
    expires_in_minutes: Option<u32>,
    /// Or days from now.
    #[schema(minimum = 1)]
    expires_in_days: Option<u32>,
}

/// `POST /api/v1/tokens/{id}/derive`: a child of token `id`, never wider
/// nor longer-lived; authenticated by that token itself (no other scope
/// needed) or by another token with `tokens:manage` (and then within its
/// limits too). The secret is in this response only.
pub async fn derive(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DeriveBody>,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::new();
    let expiry = match (body.expires_in_minutes, body.expires_in_days) {
        (Some(_), Some(_)) => {
            errors.insert(
                "expiry".into(),
                "Give expires_in_minutes or expires_in_days, not both.".into(),
            );
            None
        }
        (Some(m), None) => Some(Expiry::Minutes(m)),
        (None, Some(d)) => Some(Expiry::Days(d)),
        (None, None) => None,
    };
    let scopes = body.scopes.as_deref().and_then(|raw| {
        Scopes::parse(raw)
            .map_err(|e| errors.insert("scopes".into(), e.to_string()))
            .ok()
    });
    let networks = body.allowed_networks.as_ref().and_then(|list| {
        Networks::parse(list.iter().map(String::as_str))
            .map_err(|e| errors.insert("allowed_networks".into(), e))
            .ok()
    });
    if !errors.is_empty() {
        return Err(service::TokenError::Invalid(errors).into());
    }
    let asked = service::DeriveSpec {
        name: body.name.clone().unwrap_or_default(),
        description: body.description.clone().unwrap_or_default(),
        expiry,
        scopes,
        networks,
        resources: body.resources.clone().map(Resources::new),
    };
    // bounded by the caller's own limits (the parent's, when it derives
    // itself) and by the parent's
    let actor = pat.actor();
    let created = service::derive(&state.core, &actor, id, &asked).await?;
    Ok((
        StatusCode::CREATED,
        pat.expires(),
        Json(SecretJson::of(&created)),
    )
        .into_response())
}

/// The rotation's options.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotateBody)]
pub struct RotateBody {
    /// Hours the old secret keeps working (0, the default, stops it at once; at most 168).
    #[schema(minimum = 0, maximum = 168)]
    grace_hours: Option<u32>,
}

/// `POST /api/v1/tokens/{id}/rotate` (`tokens:manage`): a new secret (in
/// this response only) while the old one keeps working for `grace_hours`;
/// name, scopes, expiry and history stay. The body is optional.
pub async fn rotate(
    State(state): State<AppState>,
    pat: Pat,
    ApiPath(id): ApiPath<i64>,
    body: axum::body::Bytes,
) -> Answer<SecretJson> {
    let options: RotateBody = crate::machine::error::optional_body(&body)?;
    let s = service::rotate(
        &state.core,
        &pat.actor(),
        id,
        options.grace_hours.unwrap_or(0),
    )
    .await?;
    pat.answer(SecretJson::of(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Any text as a body: it is refused or read, never a panic.
        #[test]
        fn any_body_text_is_answered(text in any::<String>()) {
            if let Ok(body) = serde_json::from_str::<TokenBody>(&text) {
                let _ = body.new_spec();
                let _ = body.overlay(TokenSpec {
                    name: "base".into(),
                    description: String::new(),
                    expiry: Expiry::Keep,
                    scopes: Scopes::Full,
                    networks: Networks::default(),
                    owner: None,
                    resources: Resources::default(),
                });
            }
        }

        /// Bodies of the right shape with any values in the fields.
        #[test]
        fn any_field_values_are_answered(
            name in proptest::option::of(any::<String>()),
            description in proptest::option::of(any::<String>()),
            expires_in_days in proptest::option::of(any::<u32>()),
            expires_on in proptest::option::of(any::<String>()),
            scopes in proptest::option::of(any::<String>()),
        ) {
            let json = serde_json::json!({
                "name": name, "description": description,
                "expires_in_days": expires_in_days, "expires_on": expires_on,
                "scopes": scopes,
            });
            let body: TokenBody = serde_json::from_value(json).expect("the shape is right");
            if let Ok(spec) = body.new_spec() {
                // what it read is what was sent
                prop_assert_eq!(spec.name, name.unwrap_or_default());
                if let Some(days) = expires_in_days {
                    prop_assert_eq!(spec.expiry, Expiry::Days(days));
                }
            }
        }
    }
}
