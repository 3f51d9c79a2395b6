//! The store: one handle over either Postgres (production) or SQLite (the
//! embedded default). Most statements are written once, in SQL both
//! dialects accept (`$1` placeholders, `RETURNING`, partial indexes), and run
//! through [`on_db!`], which expands the same code for each pool type. Where
//! the dialects differ — batched writes (`UNNEST` on Postgres, one
//! transaction of single rows on SQLite: `usage.rs`), the throttle's upsert,
//! the change feed (`LISTEN` or the `changes` table: `changes.rs`) — the
//! code matches on [`Db`] and both branches stand side by side.
//!
//! Timestamps of rows are bound from Rust, truncated to whole seconds (see
//! [`now`]): SQLite stores them as RFC 3339 text, so one fixed format keeps
//! text comparison and sorting equal to time order. The exception is the
//! change feed's own stamps, which the triggers set (`strftime` on SQLite,
//! `clock_timestamp()` on Postgres).

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, SqlitePool,
};
use std::{str::FromStr, time::Duration};

/// The store: a pool of either kind.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL (production).
    Postgres(PgPool),
    /// SQLite (the embedded default).
    Sqlite(SqlitePool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$db`.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::domain::db::Db::Postgres($pool) => $body,
            $crate::domain::db::Db::Sqlite($pool) => $body,
        }
    };
}
pub use crate::on_db;

/// The current time as stored: UTC, whole seconds.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The directory for the SQLite file could not be created.
    #[error("could not create the directory for the SQLite file {path}: {source}")]
    Directory {
        /// The SQLite database file.
        path: String,
        /// The error from creating its directory.
        source: std::io::Error,
    },
    /// Connecting to or opening the database failed.
    #[error("could not open the database: {0}")]
    Open(#[from] sqlx::Error),
    /// Running the migrations failed.
    #[error("could not migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens the database named by `url` (`postgres://…` or `sqlite://…`) and
    /// runs the migrations for its dialect.
    pub async fn connect(url: &str) -> Result<Db, ConnectError> {
        let db = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            Db::Postgres(pool)
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let file = options.get_filename();
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| ConnectError::Directory {
                    path: file.display().to_string(),
                    source,
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Db::Sqlite(pool)
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Db::Postgres(pool) => {
                sqlx_macros::migrate!("../migrations/postgres")
                    .run(pool)
                    .await
            }
            Db::Sqlite(pool) => {
                sqlx_macros::migrate!("../migrations/sqlite")
                    .run(pool)
                    .await
            }
        }
    }

    /// The name of the dialect in use: `postgres` or `sqlite`.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }

    /// True when a trivial query succeeds within a second (used by
    /// `/readyz`, which must answer promptly while the database is down
    /// rather than wait out the pool's acquire timeout).
    pub async fn ping(&self) -> bool {
        let query =
            async { on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok()) };
        tokio::time::timeout(Duration::from_secs(1), query)
            .await
            .unwrap_or(false)
    }

    /// Closes the pool (at shutdown), waiting for connections in use to be released.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

/// True when `err` is a unique-constraint violation (both dialects).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}
