//! The PostgreSQL backend: the pool, and serialising one account's audited writes with a
//! transaction-scoped advisory lock so audit sequence numbers and last-owner checks never race,
//! and claiming outbox rows and jobs with `FOR UPDATE SKIP LOCKED`.

use crate::db_error::db_err;
use crate::url::DatabaseUrl;
use leadline_domain::AccountId;
use leadline_store::{StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// First key of the two-key advisory lock, so these locks cannot collide with other uses.
const ACCOUNT_WRITES_LOCK: i32 = 0x4c4c_4157; // "LLAW"

pub(crate) struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL takes concurrent writers.
    writer: PgPool,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";
    /// Appended to the query that picks outbox rows and jobs to claim: concurrent claimers lock
    /// the rows they pick and pass over rows another claimer holds, so none is claimed twice
    /// and nobody waits.
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";

    pub(crate) async fn open(url: &DatabaseUrl) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|e| StoreError::Backend(format!("database URL {}: {e}", url.redacted())))?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_err)
    }

    /// Held until the transaction ends; taking it twice in one transaction is harmless.
    async fn lock_account_writes(conn: &mut PgConnection, account: AccountId) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(ACCOUNT_WRITES_LOCK)
            .bind(lock_key(account))
            .execute(conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

/// A 32-bit key for the account: its uuid folded down (collisions only serialise more).
fn lock_key(account: AccountId) -> i32 {
    let bits = account.as_uuid().as_u128();
    let folded = (0..4).fold(0u32, |acc, i| acc ^ ((bits >> (32 * i)) as u32));
    i32::from_ne_bytes(folded.to_ne_bytes())
}

crate::store_impl::impl_store!(PgStore, sqlx::Postgres);
crate::analytics_impl::impl_analytics!(PgStore, sqlx::Postgres);
crate::turns_impl::impl_turns!(PgStore, sqlx::Postgres);
crate::notifications_impl::impl_notifications!(PgStore, sqlx::Postgres);
