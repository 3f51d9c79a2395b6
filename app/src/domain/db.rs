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
use futures::{future::BoxFuture, stream::BoxStream, StreamExt as _, TryStreamExt as _};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult, PgRow, PgStatement, PgTypeInfo},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Either, Execute, Executor, PgPool, Postgres, SqlitePool,
};
use std::{str::FromStr, time::Duration};

/// The store: a pool of either kind.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL (production).
    Postgres(Pg),
    /// SQLite (the embedded default).
    Sqlite(SqlitePool),
}

/// A Postgres pool: straight to the server, or through a connection pooler
/// in transaction mode (PgBouncer 1.18: `--database-url` through it,
/// `--database-listen-url` straight to the server).
///
/// Through such a pooler a server connection is ours only inside a
/// transaction, and sqlx sends a statement's Parse and its Bind after two
/// separate Syncs, so between them the pooler may hand the next message
/// to another server (where a statement of that name is missing, or is
/// another client's). So, pooled: each statement run on the pool runs in a
/// transaction of its own, as an unnamed statement; each explicit
/// transaction ([`Pg::begin`]) starts by dropping the statements other
/// clients left on its server (`DEALLOCATE ALL`), and the connection keeps
/// no statement cache. Straight to the server, it is sqlx's pool as is.
#[derive(Clone, Debug)]
pub struct Pg {
    pool: PgPool,
    /// A pool straight to the server: the change feed's `LISTEN` and the
    /// migrations (an advisory lock), which a transaction pooler cannot carry.
    direct: PgPool,
    pooled: bool,
}

impl std::ops::Deref for Pg {
    type Target = PgPool;
    fn deref(&self) -> &PgPool {
        &self.pool
    }
}

impl From<PgPool> for Pg {
    fn from(pool: PgPool) -> Pg {
        Pg {
            direct: pool.clone(),
            pool,
            pooled: false,
        }
    }
}

impl Pg {
    /// The pool straight to the server (the same pool when there is no pooler).
    pub fn direct(&self) -> &PgPool {
        &self.direct
    }

    /// True when statements go through a transaction pooler.
    pub fn is_pooled(&self) -> bool {
        self.pooled
    }

    /// Starts a transaction (through a pooler, on a server cleared of
    /// statements other clients prepared there).
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if self.pooled {
            (&mut *tx).execute("DEALLOCATE ALL").await?;
        }
        Ok(tx)
    }
}

/// A statement run unnamed (sqlx prepares it afresh, and never caches it).
struct Unnamed<E>(E);

impl<'q, E: Execute<'q, Postgres>> Execute<'q, Postgres> for Unnamed<E> {
    fn sql(&self) -> &'q str {
        self.0.sql()
    }
    fn statement(&self) -> Option<&PgStatement<'q>> {
        self.0.statement()
    }
    fn take_arguments(
        &mut self,
    ) -> Result<Option<sqlx::postgres::PgArguments>, sqlx::error::BoxDynError> {
        self.0.take_arguments()
    }
    fn persistent(&self) -> bool {
        false
    }
}

impl<'c> Executor<'c> for &'c Pg {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.pooled {
            return self.pool.fetch_many(query);
        }
        let pool = &self.pool;
        futures::stream::once(async move {
            let mut tx = pool.begin().await?;
            let all: Vec<_> = (&mut *tx).fetch_many(Unnamed(query)).try_collect().await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(futures::stream::iter(all.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.pooled {
            return self.pool.fetch_optional(query);
        }
        let pool = &self.pool;
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let row = (&mut *tx).fetch_optional(Unnamed(query)).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.pool.describe(sql)
    }
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
        Self::open(url, None).await
    }

    /// As [`Db::connect`]; with `direct` (Postgres only), `url` goes
    /// through a transaction pooler and `direct` straight to the server
    /// (see [`Pg`]).
    pub async fn open(url: &str, direct: Option<&str>) -> Result<Db, ConnectError> {
        let db = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            let options = match direct {
                // no statement cache, and no startup parameter a pooler refuses
                Some(_) => options.statement_cache_capacity(0).extra_float_digits(None),
                None => options,
            };
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Db::Postgres(match direct {
                Some(direct) => Pg {
                    direct: PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(Duration::from_secs(5))
                        .connect(direct)
                        .await?,
                    pool,
                    pooled: true,
                },
                None => Pg::from(pool),
            })
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
            Db::Postgres(pg) => {
                sqlx_macros::migrate!("../migrations/postgres")
                    .run(pg.direct())
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
