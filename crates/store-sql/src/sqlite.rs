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
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one connection that writes. Writers queue here, asynchronously, instead of inside
    /// SQLite's busy handler, which sleeps in steps of milliseconds under contention.
    writer: SqlitePool,
}

/// Opens a pool with the settings the store relies on. Creates the file unless the URL sets its
/// own `mode`.
pub(crate) async fn open_pool(url: &DatabaseUrl) -> StoreResult<SqlitePool> {
    Ok(open_pools(url).await?.0)
}

/// The reader pool and the single-connection writer pool (the same pool for an in-memory
/// database, which exists only inside its one connection).
async fn open_pools(url: &DatabaseUrl) -> StoreResult<(SqlitePool, SqlitePool)> {
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
    if in_memory {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        return Ok((pool.clone(), pool));
    }
    // The writer first: it creates the file and switches it to WAL before readers open it.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(db_err)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(db_err)?;
    Ok((pool, writer))
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";
    /// Appended to the query that picks outbox rows and jobs to claim. Nothing here: the claim
    /// runs inside `BEGIN IMMEDIATE`, which already keeps other claimers out until it commits.
    const CLAIM_LOCK: &'static str = "";

    pub(crate) async fn open(url: &DatabaseUrl) -> StoreResult<Self> {
        let (pool, writer) = open_pools(url).await?;
        Ok(Self { pool, writer })
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer
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
crate::analytics_impl::impl_analytics!(SqliteStore, sqlx::Sqlite);
crate::turns_impl::impl_turns!(SqliteStore, sqlx::Sqlite);
crate::notifications_impl::impl_notifications!(SqliteStore, sqlx::Sqlite);
