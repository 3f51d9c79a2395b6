//! The token service: create, list, edit, revoke, regenerate. Every query is
//! scoped to the owner, so another user's token id behaves exactly like one
//! that does not exist.

use super::{
    db::{is_unique_violation, now, on_db, Db},
    secret, Core,
};
use crate::scopes::Scopes;
use crate::tokens::{
    FieldErrors, ListQuery, NewSecret, Sort, Status, TokenInput, TokenPage, TokenView, PAGE_SIZE,
};
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad input: field name → message.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// No such token for this user (also: another user's token).
    #[error("token not found")]
    NotFound,
    #[error("revoked tokens cannot be changed")]
    Revoked,
    #[error("expired tokens cannot be changed")]
    Expired,
    /// The same form was submitted again; the token already exists.
    #[error("this form was already submitted")]
    AlreadySubmitted(TokenView),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    description: String,
    hint: String,
    scopes: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    last_used_agent: Option<String>,
}

const COLUMNS: &str = "id, name, description, hint, scopes, created_at, updated_at, expires_at, \
                       revoked_at, last_used_at, last_used_ip, last_used_agent";

impl Row {
    fn into_view(self) -> TokenView {
        // Stored scope strings were validated on the way in; an unparsable
        // one (catalog shrunk since) grants nothing rather than everything.
        let scopes =
            Scopes::parse(&self.scopes).unwrap_or_else(|_| Scopes::Custom(Default::default()));
        TokenView {
            id: self.id,
            name: self.name,
            description: self.description,
            scopes,
            hint: self.hint,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            last_used_ip: self.last_used_ip,
            last_used_agent: self.last_used_agent,
        }
    }
}

fn name_taken(name: &str) -> TokenError {
    let mut e = FieldErrors::new();
    e.insert(
        "name".into(),
        format!("You already have a token named \u{201c}{name}\u{201d}. Choose another name."),
    );
    TokenError::Invalid(e)
}

pub async fn get(db: &Db, user_id: i64, id: i64) -> Result<TokenView, TokenError> {
    let sql = format!("SELECT {COLUMNS} FROM tokens WHERE id = $1 AND user_id = $2");
    let row: Option<Row> =
        on_db!(db, pool => sqlx::query_as(&sql).bind(id).bind(user_id).fetch_optional(pool).await)?;
    row.map(Row::into_view).ok_or(TokenError::NotFound)
}

async fn by_form_id(
    db: &Db,
    user_id: i64,
    form_id: &str,
) -> Result<Option<TokenView>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tokens WHERE user_id = $1 AND form_id = $2");
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(&sql).bind(user_id).bind(form_id).fetch_optional(pool).await)?;
    Ok(row.map(Row::into_view))
}

/// Creates a token from a validated form. `form_id` (when not empty) makes a
/// repeated submission of the same form create nothing.
pub async fn create(
    db: &Db,
    user_id: i64,
    input: TokenInput,
    form_id: &str,
) -> Result<NewSecret, TokenError> {
    let form_id = (!form_id.is_empty()).then(|| form_id.chars().take(64).collect::<String>());
    if let Some(fid) = &form_id {
        if let Some(existing) = by_form_id(db, user_id, fid).await? {
            return Err(TokenError::AlreadySubmitted(existing));
        }
    }
    let created = now();
    let expires_at = input.expires_at.unwrap_or(created + Duration::days(30));
    let (plaintext, stored) = secret::generate();
    let sql = format!(
        "INSERT INTO tokens (user_id, name, description, token_hash, hint, scopes, created_at, updated_at, expires_at, form_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) RETURNING {COLUMNS}"
    );
    let scopes = input.scopes.to_string();
    let inserted: Result<Row, sqlx::Error> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(user_id)
        .bind(&input.name)
        .bind(&input.description)
        .bind(&stored.hash)
        .bind(&stored.hint)
        .bind(&scopes)
        .bind(created)
        .bind(expires_at)
        .bind(&form_id)
        .fetch_one(pool)
        .await);
    match inserted {
        Ok(row) => Ok(NewSecret {
            token: row.into_view(),
            secret: plaintext.into_string(),
        }),
        Err(e) if is_unique_violation(&e) => {
            // A racing duplicate submit, or the name is in use.
            if let Some(fid) = &form_id {
                if let Some(existing) = by_form_id(db, user_id, fid).await? {
                    return Err(TokenError::AlreadySubmitted(existing));
                }
            }
            Err(name_taken(&input.name))
        }
        Err(e) => Err(e.into()),
    }
}

/// Why a token could not be changed: it does not exist (for this user), or
/// it is revoked or expired.
async fn why_unchangeable(db: &Db, user_id: i64, id: i64) -> TokenError {
    match get(db, user_id, id).await {
        Ok(t) if t.status(now()) == Status::Revoked => TokenError::Revoked,
        Ok(t) if t.status(now()) == Status::Expired => TokenError::Expired,
        Ok(_) => TokenError::NotFound,
        Err(e) => e,
    }
}

/// Edits an active token. The conditions are in the UPDATE itself, so an
/// edit racing a revoke can never bring the token back.
pub async fn update(
    core: &Core,
    user_id: i64,
    id: i64,
    input: TokenInput,
) -> Result<TokenView, TokenError> {
    let db = &core.db;
    let at = now();
    let sql = format!(
        "UPDATE tokens SET name = $1, description = $2, scopes = $3, expires_at = COALESCE($4, expires_at), updated_at = $5 \
         WHERE id = $6 AND user_id = $7 AND revoked_at IS NULL AND expires_at > $5 RETURNING {COLUMNS}"
    );
    let scopes = input.scopes.to_string();
    let updated: Result<Option<Row>, sqlx::Error> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(&input.name)
        .bind(&input.description)
        .bind(&scopes)
        .bind(input.expires_at)
        .bind(at)
        .bind(id)
        .bind(user_id)
        .fetch_optional(pool)
        .await);
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

/// Revokes a token, for good. Revoking a revoked token changes nothing.
pub async fn revoke(core: &Core, user_id: i64, id: i64) -> Result<TokenView, TokenError> {
    let db = &core.db;
    let at = now();
    let sql = format!(
        "UPDATE tokens SET revoked_at = $1, updated_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL RETURNING {COLUMNS}"
    );
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(&sql).bind(at).bind(id).bind(user_id).fetch_optional(pool).await)?;
    core.verifier.evict(user_id, Some(id));
    match row {
        Some(row) => Ok(row.into_view()),
        None => get(db, user_id, id).await,
    }
}

/// Revokes every token of the user that is not revoked yet; returns how many.
pub async fn revoke_all(core: &Core, user_id: i64) -> Result<u64, TokenError> {
    let db = &core.db;
    let at = now();
    let done = on_db!(db, pool => sqlx::query(
        "UPDATE tokens SET revoked_at = $1, updated_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(user_id)
    .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    core.verifier.evict(user_id, None);
    Ok(done)
}

/// Gives an active token a new secret (shown once) with the same name,
/// description and scopes, and the same lifetime counted from now (capped by
/// `max_days`). The old secret stops working at once.
pub async fn regenerate(core: &Core, user_id: i64, id: i64) -> Result<NewSecret, TokenError> {
    let db = &core.db;
    let max_days = core.config.max_token_days;
    let current = get(db, user_id, id).await?;
    match current.status(now()) {
        Status::Revoked => return Err(TokenError::Revoked),
        Status::Expired => return Err(TokenError::Expired),
        Status::Active => {}
    }
    let at = now();
    let lifetime =
        (current.expires_at - current.created_at).min(Duration::days(i64::from(max_days)));
    let expires_at = at + lifetime.max(Duration::days(1));
    let (plaintext, stored) = secret::generate();
    let sql = format!(
        "UPDATE tokens SET token_hash = $1, hint = $2, expires_at = $3, created_at = $4, updated_at = $4, \
         last_used_at = NULL, last_used_ip = NULL, last_used_agent = NULL \
         WHERE id = $5 AND user_id = $6 AND revoked_at IS NULL AND expires_at > $4 RETURNING {COLUMNS}"
    );
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(&stored.hash)
        .bind(&stored.hint)
        .bind(expires_at)
        .bind(at)
        .bind(id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
    core.verifier.evict(user_id, Some(id));
    match row {
        Some(row) => Ok(NewSecret {
            token: row.into_view(),
            secret: plaintext.into_string(),
        }),
        None => Err(why_unchangeable(db, user_id, id).await),
    }
}

fn like_pattern(search: &str) -> String {
    let mut p = String::from("%");
    for c in search.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn order_by(sort: Sort) -> &'static str {
    match sort {
        Sort::CreatedDesc => "created_at DESC, id DESC",
        Sort::CreatedAsc => "created_at ASC, id ASC",
        Sort::Name => "LOWER(name) ASC, id ASC",
        Sort::ExpiresAsc => "expires_at ASC, id ASC",
        Sort::ExpiresDesc => "expires_at DESC, id DESC",
    }
}

/// One page of the user's tokens.
pub async fn list(db: &Db, user_id: i64, q: &ListQuery) -> Result<TokenPage, TokenError> {
    let pattern = like_pattern(&q.search);
    let filter = "user_id = $1 AND ($2 OR revoked_at IS NULL) AND LOWER(name) LIKE $3 ESCAPE '\\'";
    let count_sql = format!("SELECT COUNT(*) FROM tokens WHERE {filter}");
    let (total,): (i64,) = on_db!(db, pool => sqlx::query_as(&count_sql)
        .bind(user_id)
        .bind(q.include_revoked)
        .bind(&pattern)
        .fetch_one(pool)
        .await)?;
    let total = total.max(0) as u64;
    let pages = (total.div_ceil(u64::from(PAGE_SIZE))).max(1) as u32;
    let page = q.page.clamp(1, pages);
    let offset = i64::from((page - 1) * PAGE_SIZE);
    let sql = format!(
        "SELECT {COLUMNS} FROM tokens WHERE {filter} ORDER BY {} LIMIT $4 OFFSET $5",
        order_by(q.sort)
    );
    let rows: Vec<Row> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(user_id)
        .bind(q.include_revoked)
        .bind(&pattern)
        .bind(i64::from(PAGE_SIZE))
        .bind(offset)
        .fetch_all(pool)
        .await)?;
    let at = now();
    let (active,): (i64,) = on_db!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM tokens WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(user_id)
    .bind(at)
    .fetch_one(pool)
    .await)?;
    Ok(TokenPage {
        items: rows.into_iter().map(Row::into_view).collect(),
        total,
        page,
        pages,
        active_count: active.max(0) as u64,
        now: at,
    })
}

/// How an error reads to the user: field messages and/or a form message.
/// `None` means an internal failure (logged, answered generically).
pub fn describe(err: &TokenError) -> Option<(FieldErrors, Option<String>)> {
    let msg = |m: &str| Some((FieldErrors::new(), Some(m.to_owned())));
    match err {
        TokenError::Invalid(fields) => Some((fields.clone(), None)),
        TokenError::NotFound => msg("That token does not exist."),
        TokenError::Revoked => msg("This token is revoked. Revoked tokens cannot be edited, regenerated or restored."),
        TokenError::Expired => msg("This token has expired. Expired tokens cannot be edited or regenerated; create a new one."),
        TokenError::AlreadySubmitted(t) => Some((
            FieldErrors::new(),
            Some(format!(
                "This form was already submitted: the token \u{201c}{}\u{201d} exists. Its secret was shown once; if you missed it, regenerate the token.",
                t.name
            )),
        )),
        TokenError::Database(_) => None,
    }
}

/// Validates a submitted form and creates the token.
pub async fn create_from_form(
    core: &Core,
    user_id: i64,
    form: &crate::tokens::TokenForm,
) -> Result<NewSecret, TokenError> {
    let input = crate::tokens::validate(form, now(), core.config.max_token_days, false)
        .map_err(TokenError::Invalid)?;
    create(&core.db, user_id, input, &form.form_id).await
}

/// Validates a submitted form and applies it to an active token.
pub async fn update_from_form(
    core: &Core,
    user_id: i64,
    id: i64,
    form: &crate::tokens::TokenForm,
) -> Result<TokenView, TokenError> {
    let input = crate::tokens::validate(form, now(), core.config.max_token_days, true)
        .map_err(TokenError::Invalid)?;
    update(core, user_id, id, input).await
}
