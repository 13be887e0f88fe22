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

/// Fills an account with a realistic volume for page-time benchmarks: `leads` leads (varied
/// names, stages, scores, tags, extracted fields; 1% opted out), one conversation each on
/// `channel` (5% needing attention, 10% unread), and `messages_per_lead` messages per
/// conversation, alternating lead and assistant, spread over the 90 days before `now`. Rows go
/// in as multi-row literal INSERTs, tens of thousands per transaction (values are generated
/// here, never typed by anyone), then the planner's statistics are refreshed as a running
/// install's would be.
pub async fn seed_volume(
    url: &DatabaseUrl,
    account: leadline_domain::AccountId,
    channel: leadline_domain::ids::ChannelId,
    leads: usize,
    messages_per_lead: usize,
    now: jiff::Timestamp,
) -> Result<(), sqlx::Error> {
    use leadline_domain::ids::{ConversationId, EventId, LeadId, MessageId};
    const ROWS_PER_INSERT: usize = 400;
    const STAGES: [&str; 6] = [
        "new",
        "contacted",
        "replied",
        "qualified",
        "booked",
        "closed",
    ];
    const FIRST: [&str; 8] = [
        "Dana", "Sam", "Priya", "Lee", "Maria", "John", "Aisha", "Chen",
    ];
    const LAST: [&str; 8] = [
        "Reyes", "Ortiz", "Patel", "Kim", "Garcia", "Smith", "Khan", "Wong",
    ];
    let now_us = now.as_microsecond();
    let day_us: i64 = 86_400_000_000;
    let account = account.to_string();
    let channel = channel.to_string();

    let mut statements: Vec<String> = Vec::new();
    let mut lead_rows = Vec::new();
    let mut conversation_rows = Vec::new();
    let mut message_rows = Vec::new();
    let mut event_rows = Vec::new();
    let flush = |table: &str, columns: &str, rows: &mut Vec<String>, out: &mut Vec<String>| {
        if !rows.is_empty() {
            out.push(format!(
                "INSERT INTO {table} ({columns}) VALUES {}",
                rows.join(",")
            ));
            rows.clear();
        }
    };
    const LEAD_COLS: &str = "id, account_id, phone, name, email, state, time_zone, stage, score, intent, owner, tags, fields, created_at, updated_at";
    const CONV_COLS: &str = "id, account_id, lead_id, channel_id, ai_paused, needs_attention, unread, last_message_at, created_at";
    const MSG_COLS: &str = "id, account_id, conversation_id, channel_id, direction, body, media, author, author_kind, status, status_rank, provider_message_id, error_code, segments, encoding, gate, idempotency_key, due_at, lease_until, attempts, created_at, sent_at";
    const EVENT_COLS: &str = "id, account_id, phone, kind, source, details, at";

    let pool = Seeder::open(url).await?;
    for i in 0..leads {
        let lead = LeadId::new().to_string();
        let conversation = ConversationId::new().to_string();
        let phone = format!("+1512{:07}", 2_000_000 + i);
        let name = format!("{} {} {i}", FIRST[i % 8], LAST[(i / 8) % 8]);
        let email = if i % 3 == 0 {
            format!("'lead{i}@example.com'")
        } else {
            "NULL".to_owned()
        };
        let stage = STAGES[i % 6];
        let score = if i % 2 == 0 {
            ((i * 37) % 101).to_string()
        } else {
            "NULL".to_owned()
        };
        let tags = if i % 10 == 0 { "[\"vip\"]" } else { "[]" };
        let fields = if i % 2 == 0 {
            format!(
                "{{\"age\":{{\"value\":{},\"confidence\":0.9,\"source\":\"playbook\"}}}}",
                20 + i % 50
            )
        } else {
            "{}".to_owned()
        };
        let created = now_us - day_us * 90 + (i as i64 * day_us * 90 / leads.max(1) as i64);
        lead_rows.push(format!(
            "('{lead}', '{account}', '{phone}', '{name}', {email}, 'TX', NULL, '{stage}', {score}, NULL, NULL, '{tags}', '{fields}', {created}, {created})"
        ));
        let last = created + messages_per_lead as i64 * 60_000_000;
        conversation_rows.push(format!(
            "('{conversation}', '{account}', '{lead}', '{channel}', FALSE, {}, {}, {last}, {created})",
            if i % 20 == 0 { "TRUE" } else { "FALSE" },
            if i % 10 == 0 { "TRUE" } else { "FALSE" },
        ));
        for m in 0..messages_per_lead {
            let at = created + m as i64 * 60_000_000;
            let id = MessageId::new().to_string();
            let row = if m % 2 == 0 {
                format!(
                    "('{id}', '{account}', '{conversation}', '{channel}', 'inbound', 'Hi, I am interested in a quote, message {m}', '[]', '{{\"kind\":\"lead\"}}', 'lead', 'received', 0, 'SM{id}', NULL, 1, 'GSM-7', NULL, NULL, NULL, NULL, 0, {at}, NULL)"
                )
            } else {
                format!(
                    "('{id}', '{account}', '{conversation}', '{channel}', 'outbound', 'Thanks! What is your date of birth? (MM/DD/YYYY)', '[]', '{{\"kind\":\"ai\"}}', 'ai', 'delivered', 30, 'SM{id}', NULL, 1, 'GSM-7', '{{\"decision\":\"allow\",\"reasons\":[]}}', 'seed:{id}', {at}, NULL, 1, {at}, {at})"
                )
            };
            message_rows.push(row);
        }
        if i % 100 == 0 {
            event_rows.push(format!(
                "('{}', '{account}', '{phone}', 'opt_out', 'keyword', '{{}}', {created})",
                EventId::new()
            ));
        }
        if lead_rows.len() == ROWS_PER_INSERT {
            // Parents before children: the foreign keys are checked per statement.
            flush("leads", LEAD_COLS, &mut lead_rows, &mut statements);
            flush(
                "conversations",
                CONV_COLS,
                &mut conversation_rows,
                &mut statements,
            );
            flush(
                "compliance_events",
                EVENT_COLS,
                &mut event_rows,
                &mut statements,
            );
            // In step with their conversations, so each transaction's trigger work stays small.
            flush("messages", MSG_COLS, &mut message_rows, &mut statements);
        }
        if statements.len() >= 64 {
            pool.run(&statements).await?;
            statements.clear();
            if i < ROWS_PER_INSERT * 16 {
                // As autovacuum would on a running install: without statistics PostgreSQL's
                // cached plans (foreign-key checks among them) may read a table by account
                // alone, which with one account is the whole table.
                pool.settle().await?;
            }
        }
    }
    flush("leads", LEAD_COLS, &mut lead_rows, &mut statements);
    flush(
        "conversations",
        CONV_COLS,
        &mut conversation_rows,
        &mut statements,
    );
    flush(
        "compliance_events",
        EVENT_COLS,
        &mut event_rows,
        &mut statements,
    );
    flush("messages", MSG_COLS, &mut message_rows, &mut statements);
    pool.run(&statements).await?;
    pool.settle().await
}

/// A raw connection pool on either backend, for the seeder.
enum Seeder {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Seeder {
    async fn open(url: &DatabaseUrl) -> Result<Self, sqlx::Error> {
        Ok(match url.backend() {
            Backend::Sqlite => Seeder::Sqlite(sqlite_pool(url).await),
            Backend::Postgres => Seeder::Postgres(sqlx::PgPool::connect(url.expose()).await?),
        })
    }

    /// Leaves the tables as a running install's maintenance would: statistics refreshed and, on
    /// PostgreSQL, the dead rows of the triggers' updates vacuumed (autovacuum's work; without it
    /// every index-only scan visits the heap).
    async fn settle(&self) -> Result<(), sqlx::Error> {
        match self {
            Seeder::Sqlite(pool) => sqlx::raw_sql("ANALYZE").execute(pool).await.map(drop),
            Seeder::Postgres(pool) => sqlx::raw_sql("VACUUM ANALYZE")
                .execute(pool)
                .await
                .map(drop),
        }
    }

    /// Runs the statements in one transaction.
    async fn run(&self, statements: &[String]) -> Result<(), sqlx::Error> {
        let sql = statements.join(";\n");
        if sql.is_empty() {
            return Ok(());
        }
        match self {
            Seeder::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::raw_sql(&sql).execute(&mut *tx).await?;
                tx.commit().await
            }
            Seeder::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::raw_sql(&sql).execute(&mut *tx).await?;
                tx.commit().await
            }
        }
    }
}
