//! The SQLite backend: connection settings (WAL, `synchronous=NORMAL`, 5 s busy timeout, foreign
//! keys) and its write rule: every write transaction starts with `BEGIN IMMEDIATE`, taking the
//! single write lock up front. A deferred `BEGIN` that reads and then writes can fail with
//! SQLITE_BUSY without waiting, whatever the busy timeout. The same lock serialises claimers of
//! the outbox and the job queue.

use crate::db_error::db_err;
use crate::url::DatabaseUrl;
use leadline_domain::AccountId;
use leadline_store::{StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

/// Opens a pool with the settings the store relies on. Creates the file unless the URL sets its
/// own `mode`.
pub(crate) async fn open_pool(url: &DatabaseUrl) -> StoreResult<SqlitePool> {
    let raw = url.expose();
    let bad_url =
        |e: sqlx::Error| StoreError::Backend(format!("database URL {}: {e}", url.redacted()));
    let mut options = SqliteConnectOptions::from_str(raw)
        .map_err(bad_url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    if !raw.contains("mode=") {
        options = options.create_if_missing(true);
    }
    let in_memory = raw.contains(":memory:") || raw.contains("mode=memory");
    let pool = if in_memory {
        // An in-memory database lives as long as its one connection.
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(8)
    };
    pool.connect_with(options).await.map_err(db_err)
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";
    /// Appended to the query that picks outbox rows and jobs to claim. Nothing here: the claim
    /// runs inside `BEGIN IMMEDIATE`, which already keeps other claimers out until it commits.
    const CLAIM_LOCK: &'static str = "";

    pub(crate) async fn open(url: &DatabaseUrl) -> StoreResult<Self> {
        Ok(Self {
            pool: open_pool(url).await?,
        })
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    /// `BEGIN IMMEDIATE` already holds the database's only write lock.
    async fn lock_account_writes(
        _conn: &mut SqliteConnection,
        _account: AccountId,
    ) -> StoreResult<()> {
        Ok(())
    }
}

crate::store_impl::impl_store!(SqliteStore, sqlx::Sqlite);
