//! Test support for this and other crates' tests: a fresh, migrated database per test. SQLite by
//! default; PostgreSQL when `LEADLINE_TEST_DATABASE_URL` names a server, where each test gets its
//! own `ll_test_<uuid>` database, dropped when the `TestDb` is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::url::{Backend, DatabaseUrl};
use leadline_store::Store;
use sqlx::Connection;
use std::sync::Arc;

/// The variable naming a PostgreSQL server for tests.
pub const TEST_DATABASE_URL_VAR: &str = "LEADLINE_TEST_DATABASE_URL";

/// A fresh, empty, migrated database for one test.
pub struct TestDb {
    pub url: DatabaseUrl,
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    /// (server URL, database name) to drop on drop.
    pg_drop: Option<(String, String)>,
}

/// A SQLite file in a temp dir, or a new PostgreSQL database when `LEADLINE_TEST_DATABASE_URL`
/// is set.
pub async fn fresh() -> TestDb {
    match fresh_postgres().await {
        Some(db) => db,
        None => fresh_sqlite().await,
    }
}

/// A migrated SQLite file in a new temp dir.
pub async fn fresh_sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir for the test database");
    let url = DatabaseUrl::sqlite_file(&dir.path().join("leadline.db"));
    let store = crate::connect(&url)
        .await
        .expect("open the SQLite test database");
    TestDb {
        url,
        store,
        _dir: Some(dir),
        pg_drop: None,
    }
}

/// A new migrated PostgreSQL database on the server named by `LEADLINE_TEST_DATABASE_URL`, or
/// `None` when the variable is unset or empty.
pub async fn fresh_postgres() -> Option<TestDb> {
    let server = std::env::var(TEST_DATABASE_URL_VAR)
        .ok()
        .filter(|s| !s.trim().is_empty())?;
    let server_url =
        DatabaseUrl::parse(&server).expect("LEADLINE_TEST_DATABASE_URL must be a database URL");
    assert_eq!(
        server_url.backend(),
        Backend::Postgres,
        "{TEST_DATABASE_URL_VAR} must be a postgres:// URL"
    );
    let name = format!("ll_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(server_url.expose())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", server_url.redacted()));
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let _ = admin.close().await;

    let mut parsed = url::Url::parse(server_url.expose()).expect("valid postgres URL");
    parsed.set_path(&name);
    let url = DatabaseUrl::parse(parsed.as_str()).expect("test database URL");
    let store = crate::connect(&url)
        .await
        .expect("open the PostgreSQL test database");
    Some(TestDb {
        url,
        store,
        _dir: None,
        pg_drop: Some((server_url.expose().to_owned(), name)),
    })
}

/// A raw pool on a test SQLite database with exactly the store's connection settings, for tests
/// that inspect pragmas or edit rows behind the store's back.
pub async fn sqlite_pool(url: &DatabaseUrl) -> sqlx::SqlitePool {
    crate::sqlite::open_pool(url)
        .await
        .expect("open SQLite pool")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.pg_drop.take() else {
            return;
        };
        // Drop runs outside async context, possibly inside a runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server).await.ok()?;
                // FORCE ends the store's still-open connections.
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop a PostgreSQL test database (named ll_test_*)");
        }
    }
}
