//! Ending tokens: one, all of a user's, or a leaked one; each takes its
//! derived tokens with it in the same transaction.

use super::*;

/// Revokes every live descendant of token `$id` inside the open
/// transaction `$tx`, each with a copy of `$event` (revoked by `$by`, as
/// derived from `$id`). A macro: the transaction's type is per dialect.
macro_rules! revoke_descendants {
    ($tx:expr, $at:expr, $id:expr, $by:expr, $event:expr) => {{
        let children: Vec<(i64,)> = sqlx::query_as(sql::REVOKE_DESCENDANTS)
            .bind($at)
            .bind($id)
            .bind($by)
            .bind(DERIVED_REVOKED)
            .fetch_all($tx)
            .await?;
        for (child,) in children {
            let mut e = $event.clone();
            e.token_id = Some(child);
            e = e.with(json!({"by": $by, "reason": DERIVED_REVOKED, "derived_from": $id}));
            record_in!($tx, e)?;
        }
    }};
}

/// Revokes a token, for good. Revoking a revoked token changes nothing.
pub async fn revoke(core: &Core, actor: &Actor, id: i64) -> Result<TokenView, TokenError> {
    if actor.ceiling.is_some() {
        let current = get(&core.db, actor.user_id, id).await?;
        actor.may_touch(&current.scopes)?;
    }
    let event = actor.event("token.revoked", Some(id));
    revoke_as(core, event, actor.user_id, id, "").await
}

/// What every revocation writes: when, by whom, the audit event with both
/// and the reason, and the reason as stored (`None` when empty).
struct Revocation<'a> {
    at: DateTime<Utc>,
    by: &'static str,
    event: Event,
    reason: Option<&'a str>,
}

impl<'a> Revocation<'a> {
    fn of(event: Event, reason: &'a str) -> Revocation<'a> {
        let by = event.by.revoked_by();
        Revocation {
            at: now(),
            by,
            event: event.with(json!({"by": by, "reason": reason})),
            reason: (!reason.is_empty()).then_some(reason),
        }
    }
}

/// Revokes `owner`'s token `id` with `reason`, recording `event` (whose
/// actor says who revoked it) in the same transaction. Revoking a revoked
/// token changes nothing and records nothing.
pub async fn revoke_as(
    core: &Core,
    event: Event,
    owner: i64,
    id: i64,
    reason: &str,
) -> Result<TokenView, TokenError> {
    let db = &core.db;
    let Revocation {
        at,
        by,
        event,
        reason,
    } = Revocation::of(event, reason);
    let row: Option<Row> = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let row: Option<Row> = sqlx::query_as(sql::REVOKE)
            .bind(at)
            .bind(id)
            .bind(owner)
            .bind(by)
            .bind(reason)
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some() {
            // what was derived from it goes with it
            revoke_descendants!(&mut *tx, at, id, by, &event);
            record_in!(&mut *tx, event)?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }.await)?;
    core.verifier.evict(owner, Some(id));
    match row {
        Some(row) => Ok(row.into_view()),
        None => get(db, owner, id).await,
    }
}

/// The reason a descendant of a revoked token is revoked with.
pub const DERIVED_REVOKED: &str = "the token it was derived from was revoked";

/// Where a leaked-credential report came from (as its sender says).
#[derive(Clone, Debug, Default)]
pub struct LeakReport {
    /// Where the tokens were found (a URL), if given.
    pub url: String,
    /// Who or what found them (a scanner's name), if given.
    pub source: String,
}

/// The reason a reported token is revoked with.
pub const LEAKED: &str = "reported as leaked";

/// Revokes every live Tessera token among `candidates` (a report from a
/// secret scanner): malformed and bad-checksum entries are skipped without
/// a query; each token found is revoked "as leaked" by the system, in one
/// transaction with its audit event, and dropped from every instance's
/// cache. Returns how many were revoked (never shown to the reporter).
pub async fn revoke_leaked(
    core: &Core,
    candidates: &[String],
    report: &LeakReport,
    client: Option<&Client>,
) -> Result<u64, TokenError> {
    let hashes: Vec<[u8; 32]> = candidates
        .iter()
        .map(|c| c.trim())
        .filter(|c| secret::is_well_formed(c))
        .map(secret::digest)
        .collect();
    if hashes.is_empty() {
        return Ok(0);
    }
    let at = now();
    let details =
        json!({"by": "system", "reason": LEAKED, "url": report.url, "source": report.source});
    let revoked: Vec<(i64, i64)> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let mut revoked = Vec::new();
        for hash in &hashes {
            let row: Option<(i64, i64)> = sqlx::query_as(sql::REVOKE_LEAKED)
                .bind(at)
                .bind(LEAKED)
                .bind(&hash[..])
                .fetch_optional(&mut *tx)
                .await?;
            if let Some((id, user_id)) = row {
                let event = Event::new("token.revoked", Some(user_id), Some(id), By::System, client)
                    .with(details.clone());
                // what was derived from it goes with it, marked revoked
                revoke_descendants!(&mut *tx, at, id, "system", &event);
                record_in!(&mut *tx, event)?;
                revoked.push((id, user_id));
            }
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(revoked)
    }.await)?;
    for (id, user_id) in &revoked {
        core.verifier.evict(*user_id, Some(*id));
    }
    Ok(revoked.len() as u64)
}

/// Revokes every token of the actor's user that is not revoked yet (a
/// person needs sudo mode); returns how many.
pub async fn revoke_all(core: &Core, actor: &Actor) -> Result<u64, TokenError> {
    actor.confirmed(FOR_REVOKE_ALL)?;
    let event = actor.event("token.revoked", None);
    revoke_all_as(core, event, actor.user_id, "").await
}

/// Revokes every token of `owner` that is not revoked yet, with `reason`;
/// one `event` (its actor says who) per token, in the same transaction.
pub async fn revoke_all_as(
    core: &Core,
    event: Event,
    owner: i64,
    reason: &str,
) -> Result<u64, TokenError> {
    revoke_many(core, event, owner, 0, reason).await
}

/// Revokes the live tokens trust rule `rule` of `owner` minted, with
/// `reason`; one `event` per token, in the same transaction.
pub async fn revoke_minted_as(
    core: &Core,
    event: Event,
    owner: i64,
    rule: i64,
    reason: &str,
) -> Result<u64, TokenError> {
    revoke_many(core, event, owner, rule, reason).await
}

/// Revokes every live token of `owner` (only those `rule` minted, when not 0).
async fn revoke_many(
    core: &Core,
    event: Event,
    owner: i64,
    rule: i64,
    reason: &str,
) -> Result<u64, TokenError> {
    let Revocation {
        at,
        by,
        event,
        reason,
    } = Revocation::of(event, reason);
    let done = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let ids: Vec<(i64,)> = sqlx::query_as(sql::REVOKE_ALL)
            .bind(at)
            .bind(owner)
            .bind(by)
            .bind(reason)
            .bind(rule)
            .fetch_all(&mut *tx)
            .await?;
        for (id,) in &ids {
            let mut one = event.clone();
            one.token_id = Some(*id);
            record_in!(&mut *tx, one)?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(ids.len() as u64)
    }.await)?;
    core.verifier.evict(owner, None);
    Ok(done)
}
