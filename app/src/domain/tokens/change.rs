//! Changing a live token: its name, description, expiry, scopes,
//! allowlist and resources, narrowed to what it used, from the pages' forms.

use super::*;
use crate::domain::orgs::requests::{needs_approval, APPROVAL_REQUIRED_FOR};
use crate::domain::orgs::sql as org_sql;

/// The token `id` of the actor's user, checked to be within the actor's
/// reach, and refused when it is revoked or expired.
pub(super) async fn changeable(
    core: &Core,
    actor: &Actor,
    id: i64,
) -> Result<TokenView, TokenError> {
    let current = get(&core.db, actor.user_id, id).await?;
    actor.may_touch(&current.scopes)?;
    match current.status(now()) {
        Status::Revoked => Err(TokenError::Revoked),
        Status::Expired => Err(TokenError::Expired),
        Status::Active => Ok(current),
    }
}

/// [`changeable`], and not minted for a workload: such a token is never
/// edited, extended, given a new secret or derived from (the workload
/// exchanges a fresh ID token instead).
pub(super) async fn editable(core: &Core, actor: &Actor, id: i64) -> Result<TokenView, TokenError> {
    let current = changeable(core, actor, id).await?;
    if current.workload.is_some() {
        return Err(TokenError::FromWorkload);
    }
    Ok(current)
}

/// Why a token could not be changed after all (its state changed between
/// reading it and the conditional UPDATE).
pub(super) async fn why_unchangeable(db: &Db, user_id: i64, id: i64) -> TokenError {
    match get(db, user_id, id).await {
        Ok(t) if t.status(now()) == Status::Revoked => TokenError::Revoked,
        Ok(t) if t.status(now()) == Status::Expired => TokenError::Expired,
        Ok(_) => TokenError::NotFound,
        Err(e) => e,
    }
}

/// Edits an active token. `change` turns its current settings into the
/// wanted ones (a form ignores them; the API's partial edit starts from
/// them); the rules apply to the result.
pub async fn update(
    core: &Core,
    actor: &Actor,
    id: i64,
    change: impl FnOnce(&TokenView) -> Result<TokenSpec, FieldErrors>,
) -> Result<TokenView, TokenError> {
    let current = editable(core, actor, id).await?;
    let limits = actor.limits(core, current.owner.as_deref()).await;
    let mut spec = change(&current)?;
    if spec.owner.is_some() && spec.owner != current.owner {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "resource_owner".to_owned(),
            "A token's resource owner is chosen when it is made; make a new token for another owner."
                .to_owned(),
        )])));
    }
    // the rules see the owner it has (a form does not send it)
    spec.owner = current.owner.clone();
    let input = spec.check(&limits, true)?;
    if input.scopes != current.scopes {
        admin_scope_check(core, actor.user_id, &input.scopes).await?;
    }
    // widening a token (more scopes, more networks, a later end) is as
    // good as making one
    let widens = !current.scopes.covers(&input.scopes)
        || !input.networks.within(&current.allowed_networks)
        || input.expires_at.is_some_and(|at| at > current.expires_at);
    if widens {
        actor.second_factor_ready(core, &limits.policy).await?;
    }
    if input.scopes.is_powerful() && !current.scopes.is_powerful() {
        actor.confirmed(FOR_FULL_ACCESS_EDIT)?;
    }
    // where a secret that reaches everything works from is as sensitive
    if input.scopes.is_powerful() && !input.networks.within(&current.allowed_networks) {
        actor.confirmed(FOR_POWERFUL_NETWORKS)?;
    }
    let at = now();
    if let (None, (max, true)) = (input.expires_at, limits.lifetime()) {
        if current.expires_at - at > Duration::days(i64::from(max) + 1) {
            return Err(TokenError::Invalid(FieldErrors::from([(
                "expiry".to_owned(),
                format!("Your organization's policy ({MAX_LIFETIME_DAYS}) allows tokens to live at most {max} days; this token expires later: choose a new expiration."),
            )])));
        }
    }
    let (db, user_id) = (&core.db, actor.user_id);
    // wider scopes on an organization's token its approval policy names:
    // asked for, not granted; the token keeps its scopes until an owner
    // approves (read before the write transaction, as creation does)
    let hold: Option<(i64, String)> = match current.owner.as_deref() {
        Some(org) if !current.scopes.covers(&input.scopes) => {
            let policy: Option<(String, i64)> = on_db!(db, pool => sqlx::query_as(org_sql::ORG_POLICY_BY_NAME)
                .bind(org)
                .bind(APPROVAL_REQUIRED_FOR)
                .fetch_optional(pool)
                .await)?;
            policy
                .filter(|(p, _)| needs_approval(p, &input.scopes))
                .map(|(_, id)| (id, org.to_owned()))
        }
        _ => None,
    };
    if hold.is_some() && current.approval.as_deref() == Some("pending") {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "scopes".to_owned(),
            "This token waits for an owner's approval: widen its scopes once it is approved."
                .to_owned(),
        )])));
    }
    let asked_scopes = input.scopes.to_string();
    let asked_resources = input.resources.to_stored();
    let (scopes, resources) = match hold {
        Some(_) => (current.scopes.to_string(), current.resources.to_stored()),
        None => (asked_scopes.clone(), asked_resources.clone()),
    };
    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, before: serde_json::Value, after: serde_json::Value| {
        if before != after {
            changed.insert(field.into(), json!({"before": before, "after": after}));
        }
    };
    note("name", json!(current.name), json!(input.name));
    note(
        "description",
        json!(current.description),
        json!(input.description),
    );
    note("scopes", json!(current.scopes.to_string()), json!(scopes));
    if hold.is_some() {
        note("requested_scopes", json!(null), json!(asked_scopes));
    }
    note(
        "allowed_networks",
        json!(current.allowed_networks.strings()),
        json!(input.networks.strings()),
    );
    note(
        "resources",
        json!(current.resources.map()),
        json!(crate::tokens::Resources::from_stored(&resources).map()),
    );
    if let Some(e) = input.expires_at {
        note("expires_at", json!(current.expires_at), json!(e));
    }
    let event = actor
        .event("token.edited", Some(id))
        .with(serde_json::Value::Object(changed));
    let asked = hold.as_ref().map(|(_, org)| {
        actor.event("token.request_created", Some(id)).with(json!({
            "organization": org,
            "name": input.name,
            "scopes": asked_scopes,
            "justification": input.description,
            "widening": true,
        }))
    });
    let updated: Result<Option<Row>, sqlx::Error> = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let row: Option<Row> = sqlx::query_as(sql::UPDATE)
            .bind(&input.name)
            .bind(&input.description)
            .bind(&scopes)
            .bind(input.expires_at)
            .bind(at)
            .bind(id)
            .bind(user_id)
            .bind(input.networks.to_stored())
            .bind(&resources)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        record_in!(&mut *tx, event)?;
        if let (Some((org_id, _)), Some(mut asked)) = (&hold, asked) {
            // one pending request a token: a newer ask replaces it
            sqlx::query(org_sql::REPLACE_PENDING).bind(id).bind(at).execute(&mut *tx).await?;
            let (request,): (i64,) = sqlx::query_as(org_sql::INSERT_REQUEST)
                .bind(org_id)
                .bind(id)
                .bind(user_id)
                .bind(&asked_scopes)
                .bind(&asked_resources)
                .bind(&input.description)
                .bind(at)
                .fetch_one(&mut *tx)
                .await?;
            row = sqlx::query_as(sql::HOLD_WIDENING)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let mut details: serde_json::Value =
                serde_json::from_str(&asked.details).unwrap_or_default();
            details["request"] = json!(request);
            asked.details = details.to_string();
            record_in!(&mut *tx, asked)?;
        }
        tx.commit().await?;
        Ok(Some(row))
    }.await);
    match updated {
        Ok(Some(row)) => {
            core.verifier.evict(user_id, Some(id));
            Ok(row.into_view())
        }
        Ok(None) => Err(why_unchangeable(db, user_id, id).await),
        Err(e) if is_unique_violation(&e) => Err(name_taken(&input.name)),
        Err(e) => Err(e.into()),
    }
}

/// Narrows an active token to what it used in the last 30 days: scopes at
/// the levels used, areas limited to the resources named; name, expiry and
/// secret stay (an edit, audited as one).
pub async fn narrow(core: &Core, actor: &Actor, id: i64) -> Result<TokenView, TokenError> {
    let (_, report) = usage(&core.db, actor.user_id, id).await?;
    let Some((scopes, resources)) = report.narrowed else {
        let why = if report.used.is_empty() {
            "This token was not used in the last 30 days: there is nothing to narrow it to. Revoke it if nothing needs it."
        } else {
            "This token already has only what it used."
        };
        return Err(TokenError::Invalid(FieldErrors::from([(
            "scopes".to_owned(),
            why.to_owned(),
        )])));
    };
    update(core, actor, id, move |current| {
        let mut spec = TokenSpec::of(current);
        spec.scopes = scopes;
        spec.resources = resources;
        Ok(spec)
    })
    .await
}

/// Creates a token from the browser's form (plain post or server function).
pub async fn create_from_form(
    core: &Core,
    actor: &Actor,
    form: &crate::tokens::TokenForm,
) -> Result<NewSecret, TokenError> {
    create(core, actor, &form.parse()?, &form.form_id).await
}

/// Applies the browser's edit form to a token.
pub async fn update_from_form(
    core: &Core,
    actor: &Actor,
    id: i64,
    form: &crate::tokens::TokenForm,
) -> Result<TokenView, TokenError> {
    update(core, actor, id, |_| form.parse()).await
}
