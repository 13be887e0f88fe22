//! SQLite (the embedded default) and PostgreSQL implementations of the `leadline-store` traits.
//! The backend is chosen once, from the URL scheme; both share one body of SQL (`store_impl`) and
//! differ only in how a write transaction starts and how one account's writes are serialised.
//! Migrations are embedded and run by [`connect`].
//!
//! Storage conventions: ids are uuid TEXT, instants are BIGINT microseconds since the epoch, JSON
//! is TEXT. Deleting an account removes what it owns by `ON DELETE CASCADE`, leaves its sessions
//! signed in with no current account, and keeps its audit log.

mod analytics_impl;
mod db_error;
mod messaging_impl;
mod notifications_impl;
mod postgres;
mod rows;
mod sqlite;
mod store_impl;
pub mod testing;
mod turns_impl;
mod url;

pub use crate::url::{Backend, DatabaseUrl, UrlError};
pub use leadline_store::StoreError;

use leadline_store::Store;
use std::sync::Arc;

/// Opens a pool for `url` and runs any pending migrations.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match url.backend() {
        Backend::Sqlite => {
            let store = sqlite::SqliteStore::open(url).await?;
            store.run_migrations().await?;
            Arc::new(store)
        }
        Backend::Postgres => {
            let store = postgres::PgStore::open(url).await?;
            store.run_migrations().await?;
            Arc::new(store)
        }
    };
    tracing::info!(database = %url.redacted(), backend = url.backend().as_str(), "store connected");
    Ok(store)
}

/// Runs pending migrations and returns the ones applied by this call ("version description"),
/// empty when the database was already up to date.
pub async fn migrate(url: &DatabaseUrl) -> Result<Vec<String>, StoreError> {
    match url.backend() {
        Backend::Sqlite => sqlite::SqliteStore::open(url).await?.run_migrations().await,
        Backend::Postgres => postgres::PgStore::open(url).await?.run_migrations().await,
    }
}
