//! The `users` table's questions that every service asks (who is an
//! administrator); accounts (sign-up, passwords) and administration
//! (`admin.rs`) change it.

use super::db::{on_db, Db};

/// True when `user_id` is an administrator whose account is enabled.
pub async fn is_admin(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(bool,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT is_admin FROM users WHERE id = $1 AND disabled_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row.is_some_and(|(a,)| a))
}
