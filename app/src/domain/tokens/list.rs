//! Reading tokens: the list with its filters, sorts and tree, and what a
//! token's uses exercised.

use super::*;

pub(super) fn list_statement(sort: Sort) -> &'static str {
    match sort {
        Sort::CreatedDesc => sql::LIST_CREATED_DESC,
        Sort::CreatedAsc => sql::LIST_CREATED_ASC,
        Sort::Name => sql::LIST_NAME,
        Sort::ExpiresAsc => sql::LIST_EXPIRES_ASC,
        Sort::ExpiresDesc => sql::LIST_EXPIRES_DESC,
    }
}

/// One page of the user's tokens.
pub async fn list(db: &Db, user_id: i64, q: &ListQuery) -> Result<TokenPage, TokenError> {
    let pattern = like_pattern(&q.search);
    let (total,): (i64,) = on_db!(db, pool => sqlx::query_as(sql::LIST_COUNT)
        .bind(user_id)
        .bind(q.include_revoked)
        .bind(&pattern)
        .fetch_one(pool)
        .await)?;
    let total = total.max(0) as u64;
    let pages = (total.div_ceil(u64::from(PAGE_SIZE))).max(1) as u32;
    let page = q.page.clamp(1, pages);
    let offset = i64::from((page - 1) * PAGE_SIZE);
    let rows: Vec<Row> = on_db!(db, pool => sqlx::query_as(list_statement(q.sort))
        .bind(user_id)
        .bind(q.include_revoked)
        .bind(&pattern)
        .bind(i64::from(PAGE_SIZE))
        .bind(offset)
        .fetch_all(pool)
        .await)?;
    let at = now();
    let (active,): (i64,) = on_db!(db, pool => sqlx::query_as(sql::ACTIVE_COUNT)
        .bind(user_id)
        .bind(at)
        .bind(0_i64)
        .fetch_one(pool)
        .await)?;
    let children: Vec<Row> = on_db!(db, pool => sqlx::query_as(sql::LIVE_CHILDREN)
        .bind(user_id)
        .bind(at)
        .fetch_all(pool)
        .await)?;
    let mut by_parent: std::collections::HashMap<i64, Vec<TokenView>> = Default::default();
    for c in children.into_iter().map(Row::into_view) {
        if let Some(p) = c.parent_id {
            by_parent.entry(p).or_default().push(c);
        }
    }
    fn adopt(
        t: &mut TokenView,
        by_parent: &mut std::collections::HashMap<i64, Vec<TokenView>>,
        depth: i64,
    ) {
        if depth > MAX_DERIVATION_DEPTH {
            return;
        }
        if let Some(mut kids) = by_parent.remove(&t.id) {
            for k in &mut kids {
                adopt(k, by_parent, depth + 1);
            }
            t.children = kids;
        }
    }
    let since = usage_since();
    let live: Vec<i64> = rows
        .iter()
        .filter(|r| r.revoked_at.is_none() && r.expires_at > at)
        .map(|r| r.id)
        .collect();
    let mut uses = scope_uses(db, Some(user_id), &live, since).await?;
    let items = rows
        .into_iter()
        .map(Row::into_view)
        .map(|mut t| {
            if t.status(at) == Status::Active {
                let u = uses.remove(&t.id).unwrap_or_default();
                t.usage = Some(UsageReport::of(&t.scopes, &t.resources, &u, since));
            }
            adopt(&mut t, &mut by_parent, 0);
            t
        })
        .collect();
    Ok(TokenPage {
        items,
        total,
        page,
        pages,
        active_count: active.max(0) as u64,
        now: at,
    })
}

/// Recorded scope uses since `since` of the tokens `only` (those of
/// `user_id` among them; of anyone's: `None`), per token.
pub(crate) async fn scope_uses(
    db: &Db,
    user_id: Option<i64>,
    only: &[i64],
    since: DateTime<Utc>,
) -> Result<std::collections::HashMap<i64, Vec<ScopeUse>>, sqlx::Error> {
    if only.is_empty() {
        return Ok(Default::default());
    }
    // the tokens asked about only (a page: at most 50), by primary key
    let ids = (0..only.len())
        .map(|i| format!("${}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT u.token_id, u.scope, u.resource, u.last_used_at FROM token_scope_uses u \
         JOIN tokens t ON t.id = u.token_id \
         WHERE ($1 = 0 OR t.user_id = $1) AND u.last_used_at >= $2 AND u.token_id IN ({ids})"
    );
    let rows: Vec<(i64, String, String, DateTime<Utc>)> = on_db!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(user_id.unwrap_or(0)).bind(since);
        for id in only {
            q = q.bind(*id);
        }
        q.fetch_all(pool).await
    })?;
    let mut map: std::collections::HashMap<i64, Vec<ScopeUse>> = Default::default();
    for (id, scope, resource, at) in rows {
        map.entry(id).or_default().push(ScopeUse {
            scope,
            resource: (!resource.is_empty()).then_some(resource),
            last_used_at: at,
        });
    }
    Ok(map)
}

/// The start of the usage report's window.
pub(crate) fn usage_since() -> DateTime<Utc> {
    now() - Duration::days(WINDOW_DAYS)
}

/// What token `id` of `user_id` used in the last 30 days, against what it
/// was granted.
pub async fn usage(db: &Db, user_id: i64, id: i64) -> Result<(TokenView, UsageReport), TokenError> {
    let token = get(db, user_id, id).await?;
    let since = usage_since();
    let uses = scope_uses(db, Some(user_id), &[id], since).await?;
    let report = UsageReport::of(
        &token.scopes,
        &token.resources,
        uses.get(&id).map_or(&[][..], Vec::as_slice),
        since,
    );
    Ok((token, report))
}
