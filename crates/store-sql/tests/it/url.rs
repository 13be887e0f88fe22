//! Database URL parsing, refusal of unknown schemes, and password redaction.

use leadline_store_sql::{Backend, DatabaseUrl, UrlError};
use std::path::Path;

#[test]
fn accepts_sqlite_forms() {
    for raw in [
        "sqlite://leadline.db",
        "sqlite:leadline.db",
        "sqlite:///var/lib/leadline/leadline.db",
        "sqlite://data/leadline.db?mode=rwc",
        "SQLite://leadline.db",
        "sqlite::memory:",
    ] {
        let url = DatabaseUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(url.backend(), Backend::Sqlite, "{raw}");
        assert!(url.expose().starts_with("sqlite:"), "{raw}");
    }
}

#[test]
fn accepts_postgres_forms() {
    for raw in [
        "postgres://postgres@127.0.0.1:5432/test",
        "postgresql://u:p@db.internal/leadline?sslmode=require",
        "postgres:///leadline?host=/var/run/postgresql",
    ] {
        assert_eq!(
            DatabaseUrl::parse(raw).unwrap().backend(),
            Backend::Postgres,
            "{raw}"
        );
    }
}

#[test]
fn refuses_unknown_schemes_and_junk() {
    match DatabaseUrl::parse("mysql://root:hunter2@db/leadline") {
        Err(e @ UrlError::UnsupportedScheme(_)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("'mysql'") && msg.contains("sqlite:") && msg.contains("postgres://"),
                "{msg}"
            );
            assert!(!msg.contains("hunter2"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        DatabaseUrl::parse("leadline.db"),
        Err(UrlError::MissingScheme)
    );
    assert_eq!(
        DatabaseUrl::parse("/var/lib/leadline.db"),
        Err(UrlError::MissingScheme)
    );
    assert!(matches!(
        DatabaseUrl::parse("sqlite:"),
        Err(UrlError::Invalid {
            backend: Backend::Sqlite,
            ..
        })
    ));
    assert!(matches!(
        DatabaseUrl::parse("sqlite://x.db?mode=bogus"),
        Err(UrlError::Invalid { .. })
    ));
    assert!(matches!(
        DatabaseUrl::parse("sqlite://x.db?colour=blue"),
        Err(UrlError::Invalid { .. })
    ));
    assert!(matches!(
        DatabaseUrl::parse("postgres:nohost"),
        Err(UrlError::Invalid {
            backend: Backend::Postgres,
            ..
        })
    ));
    let bad_port = DatabaseUrl::parse("postgres://u:s3cret@host:99999/db").unwrap_err();
    assert!(!bad_port.to_string().contains("s3cret"), "{bad_port}");
}

#[test]
fn redacts_passwords_everywhere_but_expose() {
    let raw =
        "postgres://leadline:s3cret@db.internal:5432/leadline?password=also-s3cret&sslmode=require";
    let url = DatabaseUrl::parse(raw).unwrap();
    for shown in [url.redacted(), url.to_string(), format!("{url:?}")] {
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("***")
                && shown.contains("db.internal")
                && shown.contains("sslmode=require"),
            "{shown}"
        );
    }
    assert_eq!(url.expose(), raw);
    let plain = DatabaseUrl::parse("postgres://postgres@127.0.0.1:5432/test").unwrap();
    assert_eq!(plain.redacted(), "postgres://postgres@127.0.0.1:5432/test");
}

#[test]
fn sqlite_file_urls_survive_odd_paths() {
    let url = DatabaseUrl::sqlite_file(Path::new("/tmp/odd dir/#1?/lead%line.db"));
    assert_eq!(url.backend(), Backend::Sqlite);
    assert_eq!(DatabaseUrl::parse(url.expose()).unwrap(), url);
    let options: sqlx::sqlite::SqliteConnectOptions = url.expose().parse().unwrap();
    assert_eq!(
        options.get_filename(),
        Path::new("/tmp/odd dir/#1?/lead%line.db")
    );
}

#[tokio::test]
async fn connect_creates_and_migrates_a_sqlite_file_and_migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::sqlite_file(&dir.path().join("nested name.db"));
    let applied = leadline_store_sql::migrate(&url).await.unwrap();
    assert_eq!(
        applied,
        vec![
            "1 foundation".to_owned(),
            "2 messaging".to_owned(),
            "3 settings".to_owned(),
            "4 analytics".to_owned(),
            "5 setting versions".to_owned(),
            "6 turns".to_owned(),
            "7 summaries".to_owned(),
            "8 lead list indexes".to_owned(),
            "9 lead search".to_owned(),
            "10 analytics rollups".to_owned(),
            "11 inbox filter indexes".to_owned(),
        ]
    );
    assert!(
        leadline_store_sql::migrate(&url).await.unwrap().is_empty(),
        "already up to date"
    );
    let store = leadline_store_sql::connect(&url).await.unwrap();
    store.ready().await.unwrap();
    assert_eq!(store.backend(), "sqlite");
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = leadline_store_sql::connect(&DatabaseUrl::parse("sqlite::memory:").unwrap())
        .await
        .unwrap();
    store.ready().await.unwrap();
    leadline_store::contract::sign_up_creates_user_account_and_owner(&*store).await;
}
