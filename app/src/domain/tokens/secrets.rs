//! New secrets for a live token: regenerated (the old one stops at once)
//! or rotated (the old one works for a grace period).

use super::*;

/// Gives an active token a new secret (shown once) with the same name,
/// description and scopes. For a signed-in person its lifetime starts again
/// from now (same length, capped by the operator's maximum); a token acting
/// through the API never extends anything: the expiry stays as it is. The
/// old secret stops working at once, and a last use of it that is still
/// waiting to be written is dropped.
pub async fn regenerate(core: &Core, actor: &Actor, id: i64) -> Result<NewSecret, TokenError> {
    let current = editable(core, actor, id).await?;
    if current.scopes.is_powerful() {
        actor.confirmed(FOR_POWERFUL_SECRET)?;
    }
    let limits = actor.limits(core, current.owner.as_deref()).await;
    actor.second_factor_ready(core, &limits.policy).await?;
    if let Some((key, problem)) = limits.policy.scope_problem(&current.scopes) {
        return Err(TokenError::PolicyViolation(key, problem));
    }
    let user_id = actor.user_id;
    let (max_days, _) = limits.lifetime();
    let at = now();
    let expires_at = if actor.ceiling.is_some() {
        current
            .expires_at
            .min(at + Duration::days(i64::from(max_days)))
    } else {
        let lifetime =
            (current.expires_at - current.created_at).min(Duration::days(i64::from(max_days)));
        at + lifetime.max(Duration::days(1))
    };
    core.usage.forget(id);
    let event = |hint: &str| {
        actor.event("token.regenerated", Some(id)).with(
            json!({"hint": {"before": current.hint, "after": hint}, "expires_at": expires_at}),
        )
    };
    replace_secret(
        core,
        user_id,
        id,
        sql::REGENERATE,
        Some(expires_at),
        at,
        event,
    )
    .await
}

/// Gives token `id` of `user_id` a new secret with `statement` (REGENERATE
/// or ROTATE, whose `$3` is `third`), retiring the old one and recording
/// `event`, in one transaction; the new secret is returned once.
pub(super) async fn replace_secret(
    core: &Core,
    user_id: i64,
    id: i64,
    statement: &'static str,
    third: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
    event: impl FnOnce(&str) -> Event,
) -> Result<NewSecret, TokenError> {
    let db = &core.db;
    let (plaintext, stored) = secret::generate();
    let event = event(&stored.hint);
    let row: Option<Row> = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query(sql::RETIRE).bind(id).bind(user_id).bind(at).execute(&mut *tx).await?;
        let row: Option<Row> = sqlx::query_as(statement)
            .bind(&stored.hash)
            .bind(&stored.hint)
            .bind(third)
            .bind(at)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some() {
            record_in!(&mut *tx, event)?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }.await)?;
    core.verifier.evict(user_id, Some(id));
    match row {
        Some(row) => Ok(NewSecret {
            token: row.into_view(),
            secret: plaintext.into_string(),
            warnings: Vec::new(),
        }),
        None => Err(why_unchangeable(db, user_id, id).await),
    }
}

/// The longest grace a rotation may give the old secret, in hours.
pub const MAX_GRACE_HOURS: u32 = 168;

/// Rotates an active token's secret: a new one (shown once), while the old
/// one keeps working for `grace_hours` (0: it stops at once); name,
/// scopes, expiry and history stay. Every secret rotated out is kept as
/// retired, so presenting it later is recognised as reuse.
pub async fn rotate(
    core: &Core,
    actor: &Actor,
    id: i64,
    grace_hours: u32,
) -> Result<NewSecret, TokenError> {
    if grace_hours > MAX_GRACE_HOURS {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "grace_hours".to_owned(),
            format!("The old secret can keep working for 0 to {MAX_GRACE_HOURS} hours."),
        )])));
    }
    let current = editable(core, actor, id).await?;
    if current.scopes.is_powerful() {
        actor.confirmed(FOR_POWERFUL_SECRET)?;
    }
    let book = core.policies_for_write().await;
    let policies = book.for_owner(current.owner.as_deref());
    actor.second_factor_ready(core, policies).await?;
    if let Some((key, problem)) = policies.scope_problem(&current.scopes) {
        return Err(TokenError::PolicyViolation(key, problem));
    }
    let user_id = actor.user_id;
    let at = now();
    // never past the token's own expiry
    let grace_until = (grace_hours > 0)
        .then(|| (at + Duration::hours(i64::from(grace_hours))).min(current.expires_at));
    let event = |hint: &str| {
        actor.event("token.rotated", Some(id)).with(json!({
            "hint": {"before": current.hint, "after": hint},
            "grace_hours": grace_hours,
            "old_secret_until": grace_until,
        }))
    };
    replace_secret(core, user_id, id, sql::ROTATE, grace_until, at, event).await
}

/// A `LIKE` pattern (escape `\\`) matching names that contain `search`,
/// case-insensitively.
pub(crate) fn like_pattern(search: &str) -> String {
    let mut p = String::from("%");
    // names hold no control characters, so a search needs none either
    // (and Postgres refuses NUL in text)
    for c in search
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
    {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}
