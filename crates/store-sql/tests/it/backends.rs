//! Backend-specific behaviour: SQLite connection settings, concurrent writers and claimers on
//! both backends, partial unique indexes, and audit tamper detection by editing rows behind the
//! store's back.

use jiff::Timestamp;
use leadline_domain::audit::verify_chain;
use leadline_domain::ids::{ChannelId, JobId, MessageId};
use leadline_domain::{AccountId, BusinessProfile, E164Phone, Email, InvitationId, Role, UserId};
use leadline_store::{
    AuditEntry, Author, LeadInput, NewAudit, NewChannel, NewInvitation, NewJob, NewOutbound,
    NewSignup, NewUser, Store, StoreError,
};
use leadline_store_sql::DatabaseUrl;
use leadline_store_sql::testing::{TestDb, fresh_postgres, fresh_sqlite, sqlite_pool};
use std::sync::Arc;

fn audit(account: AccountId, n: i64) -> NewAudit {
    NewAudit {
        account_id: account,
        actor: "system".to_owned(),
        action: "test.concurrent".to_owned(),
        details: serde_json::json!({ "n": n }),
    }
}

fn verify(entries: &[AuditEntry]) -> Result<(), i64> {
    verify_chain(
        &entries
            .iter()
            .map(AuditEntry::chain_link)
            .collect::<Vec<_>>(),
    )
    .map_err(|b| b.seq)
}

#[tokio::test]
async fn sqlite_connections_use_wal_busy_timeout_and_foreign_keys() {
    let db = fresh_sqlite().await;
    let pool = sqlite_pool(&db.url).await;
    let (journal,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (busy,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (fks,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(busy, 5000);
    assert_eq!(fks, 1);
    assert_eq!(sync, 1, "NORMAL");
}

/// 20 concurrent appends to one chain: no SQLITE_BUSY / unique violation, seqs 1..=20, chain intact.
async fn concurrent_appends_are_contiguous(store: Arc<dyn Store>) {
    let account = AccountId::new();
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.append_audit(audit(account, n)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let chain = store.audit_chain(account).await.unwrap();
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    assert_eq!(verify(&chain), Ok(()));
}

/// Two owners demote each other at once: exactly one demotion wins, one owner is left.
async fn racing_demotions_keep_an_owner(store: Arc<dyn Store>) {
    for _ in 0..5 {
        let owner = NewUser {
            id: UserId::new(),
            email: Email::parse(&format!("o-{}@example.com", uuid::Uuid::new_v4().simple()))
                .unwrap(),
            name: "Owner".into(),
            password_hash: None,
            google_subject: None,
        };
        let account = AccountId::new();
        let profile = BusinessProfile {
            business_name: "Race".into(),
            ..Default::default()
        };
        let (first, _) = store
            .sign_up(NewSignup {
                user: owner,
                account_id: account,
                profile,
            })
            .await
            .unwrap();
        let second_email =
            Email::parse(&format!("s-{}@example.com", uuid::Uuid::new_v4().simple())).unwrap();
        let second = store
            .create_user(NewUser {
                id: UserId::new(),
                email: second_email.clone(),
                name: "Second".into(),
                password_hash: None,
                google_subject: None,
            })
            .await
            .unwrap();
        let inv = store
            .create_invitation(
                NewInvitation {
                    id: InvitationId::new(),
                    account_id: account,
                    email: second_email,
                    role: Role::Owner,
                    invited_by: first.id,
                    token_hash: uuid::Uuid::new_v4().into_bytes().to_vec(),
                    expires_at: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
                },
                audit(account, 0),
            )
            .await
            .unwrap();
        store
            .accept_invitation(inv.id, second.id, audit(account, 0))
            .await
            .unwrap();

        let demote = |user: UserId| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .set_role(account, user, Role::Admin, audit(account, 1))
                    .await
            })
        };
        let (a, b) = (demote(first.id), demote(second.id));
        let results = [a.await.unwrap(), b.await.unwrap()];
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::Conflict(w)) if w == "last owner"))
        );
        let owners = store
            .members_of_account(account)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count();
        assert_eq!(owners, 1);
        assert_eq!(verify(&store.audit_chain(account).await.unwrap()), Ok(()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_writers_do_not_fail_busy() {
    let db = fresh_sqlite().await;
    concurrent_appends_are_contiguous(db.store.clone()).await;
    racing_demotions_keep_an_owner(db.store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_writers_are_serialised_per_account() {
    let Some(db) = fresh_postgres().await else {
        eprintln!("LEADLINE_TEST_DATABASE_URL unset: PostgreSQL concurrency test skipped");
        return;
    };
    concurrent_appends_are_contiguous(db.store.clone()).await;
    racing_demotions_keep_an_owner(db.store.clone()).await;
}

/// Appends five entries, then edits and deletes rows with raw SQL: verification must notice.
async fn tamper_is_detected(
    db: &TestDb,
    edit: &str,
    remove: &str,
) -> (Result<(), i64>, Result<(), i64>) {
    let account = AccountId::new();
    for n in 1..=5 {
        db.store.append_audit(audit(account, n)).await.unwrap();
    }
    assert_eq!(
        verify(&db.store.audit_chain(account).await.unwrap()),
        Ok(())
    );
    let id = account.to_string();
    let run = |sql: &str| {
        let (sql, id, url) = (sql.to_owned(), id.clone(), db.url.clone());
        async move {
            match url.backend() {
                leadline_store_sql::Backend::Sqlite => {
                    let pool = sqlite_pool(&url).await;
                    sqlx::query(&sql).bind(&id).execute(&pool).await.unwrap();
                }
                leadline_store_sql::Backend::Postgres => {
                    let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
                    sqlx::query(&sql).bind(&id).execute(&pool).await.unwrap();
                    pool.close().await;
                }
            }
        }
    };
    run(edit).await;
    let edited = verify(&db.store.audit_chain(account).await.unwrap());
    run(remove).await;
    let removed = verify(&db.store.audit_chain(account).await.unwrap());
    (edited, removed)
}

const EDIT: &str = r#"UPDATE audit_log SET details = '{"n":99}' WHERE account_id = $1 AND seq = 3"#;
const REMOVE: &str = "DELETE FROM audit_log WHERE account_id = $1 AND seq IN (2, 3)";

#[tokio::test]
async fn sqlite_audit_tampering_is_detected() {
    let db = fresh_sqlite().await;
    assert_eq!(
        tamper_is_detected(&db, EDIT, REMOVE).await,
        (Err(3), Err(4))
    );
}

#[tokio::test]
async fn postgres_audit_tampering_is_detected() {
    let Some(db) = fresh_postgres().await else {
        eprintln!("LEADLINE_TEST_DATABASE_URL unset: PostgreSQL tamper test skipped");
        return;
    };
    assert_eq!(
        tamper_is_detected(&db, EDIT, REMOVE).await,
        (Err(3), Err(4))
    );
}

#[tokio::test]
async fn ready_fails_when_a_migration_is_missing() {
    let db = fresh_sqlite().await;
    db.store.ready().await.unwrap();
    let pool = sqlite_pool(&db.url).await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        db.store.ready().await,
        Err(StoreError::Backend(_))
    ));
}

#[tokio::test]
async fn corrupt_rows_surface_as_corrupt() {
    let db = fresh_sqlite().await;
    let (user, account) = db
        .store
        .sign_up(NewSignup {
            user: NewUser {
                id: UserId::new(),
                email: Email::parse("corrupt@example.com").unwrap(),
                name: "C".into(),
                password_hash: None,
                google_subject: None,
            },
            account_id: AccountId::new(),
            profile: BusinessProfile {
                business_name: "C".into(),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    let pool = sqlite_pool(&db.url).await;
    sqlx::query("UPDATE memberships SET role = 'emperor' WHERE user_id = $1")
        .bind(user.id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        db.store.get_membership(account.id, user.id).await,
        Err(StoreError::Corrupt(_))
    ));
}

/// Claimers on separate tasks of a multi-threaded runtime race for 60 outbound messages and 60
/// jobs: every row is claimed exactly once.
async fn parallel_claimers_never_share(store: Arc<dyn Store>) {
    let (_, account) = store
        .sign_up(NewSignup {
            user: NewUser {
                id: UserId::new(),
                email: Email::parse(&format!("c-{}@example.com", uuid::Uuid::new_v4().simple()))
                    .unwrap(),
                name: "Claims".into(),
                password_hash: None,
                google_subject: None,
            },
            account_id: AccountId::new(),
            profile: BusinessProfile {
                business_name: "Claims".into(),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    let channel = store
        .create_channel(NewChannel {
            id: ChannelId::new(),
            account_id: account.id,
            provider: "sandbox".into(),
            name: "race".into(),
            address: "+15125550100".into(),
            webhook_token: uuid::Uuid::new_v4().simple().to_string(),
            settings: serde_json::json!({}),
            send_rate_per_minute: 60,
        })
        .await
        .unwrap();
    let lead = store
        .upsert_lead(
            account.id,
            &E164Phone::parse("+15125550199").unwrap(),
            LeadInput::default(),
        )
        .await
        .unwrap();
    let conversation = store
        .conversation_for(account.id, lead.id, channel.id)
        .await
        .unwrap();
    let now = Timestamp::now();
    let mut messages = Vec::new();
    let mut jobs = Vec::new();
    for n in 0..60 {
        let message = store
            .enqueue_outbound(
                NewOutbound {
                    id: MessageId::new(),
                    account_id: account.id,
                    conversation_id: conversation.id,
                    body: format!("message {n}"),
                    author: Author::Ai,
                    segments: 1,
                    encoding: "GSM-7".into(),
                    idempotency_key: format!("race-{n}"),
                    due_at: now,
                },
                vec![NewJob {
                    id: JobId::new(),
                    account_id: account.id,
                    kind: "race".into(),
                    dedup_key: None,
                    payload: serde_json::json!({ "n": n }),
                    run_at: now,
                }],
            )
            .await
            .unwrap();
        messages.push(message.id);
    }
    jobs.extend(
        store
            .pending_jobs(account.id)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id),
    );
    assert_eq!(jobs.len(), 60);

    let lease = now + jiff::SignedDuration::from_mins(10);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let (mut got_messages, mut got_jobs) = (Vec::new(), Vec::new());
                loop {
                    let work = store.claim_outbound(now, lease, 4).await.unwrap();
                    let claimed = store.claim_jobs(&["race"], now, lease, 4).await.unwrap();
                    if work.is_empty() && claimed.is_empty() {
                        return (got_messages, got_jobs);
                    }
                    got_messages.extend(work.into_iter().map(|w| w.message.id));
                    got_jobs.extend(claimed.into_iter().map(|j| j.id));
                }
            })
        })
        .collect();
    let (mut got_messages, mut got_jobs) = (Vec::new(), Vec::new());
    for task in tasks {
        let (m, j) = task.await.unwrap();
        got_messages.extend(m);
        got_jobs.extend(j);
    }
    got_messages.sort();
    messages.sort();
    assert_eq!(got_messages, messages, "each message claimed exactly once");
    got_jobs.sort();
    jobs.sort();
    assert_eq!(got_jobs, jobs, "each job claimed exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_parallel_claimers_never_share() {
    let db = fresh_sqlite().await;
    parallel_claimers_never_share(db.store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_parallel_claimers_never_share() {
    let Some(db) = fresh_postgres().await else {
        eprintln!("LEADLINE_TEST_DATABASE_URL unset: PostgreSQL claim race skipped");
        return;
    };
    parallel_claimers_never_share(db.store.clone()).await;
}

/// Runs one statement on the test database behind the store's back.
async fn exec(url: &DatabaseUrl, sql: &str) -> Result<(), sqlx::Error> {
    match url.backend() {
        leadline_store_sql::Backend::Sqlite => {
            let pool = sqlite_pool(url).await;
            sqlx::query(sql).execute(&pool).await.map(|_| ())
        }
        leadline_store_sql::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
            let done = sqlx::query(sql).execute(&pool).await.map(|_| ());
            pool.close().await;
            done
        }
    }
}

/// The partial unique indexes behave the same on both backends: an inbound provider id is
/// unique per channel while outbound rows may share one, and only uncompleted jobs hold a
/// dedup key.
async fn partial_unique_indexes(db: &TestDb) {
    let url = &db.url;
    for sql in [
        "INSERT INTO accounts (id, business_name, agent_name, industry, description, products_services, \
         unique_selling_points, license_numbers, licensed_states, status, created_at, updated_at) \
         VALUES ('a', 'A', '', '', '', '', '', '', '[]', 'active', 0, 0)",
        "INSERT INTO channels (id, account_id, provider, name, address, webhook_token, settings, \
         send_rate_per_minute, created_at) VALUES ('ch', 'a', 'sandbox', 'c', '+15125550100', 't', '{}', 1, 0)",
        "INSERT INTO leads (id, account_id, phone, name, stage, tags, fields, created_at, updated_at) \
         VALUES ('l', 'a', '+15125550101', '', 'new', '[]', '{}', 0, 0)",
        "INSERT INTO conversations (id, account_id, lead_id, channel_id, created_at) \
         VALUES ('c', 'a', 'l', 'ch', 0)",
    ] {
        exec(url, sql).await.unwrap();
    }
    let message = |id: &str, direction: &str| {
        format!(
            "INSERT INTO messages (id, account_id, conversation_id, channel_id, direction, body, media, \
             author, author_kind, status, status_rank, provider_message_id, segments, encoding, created_at) \
             VALUES ('{id}', 'a', 'c', 'ch', '{direction}', '', '[]', '{{}}', 'ai', 'sent', 20, 'SM1', 1, '', 0)"
        )
    };
    exec(url, &message("m1", "inbound")).await.unwrap();
    assert!(
        exec(url, &message("m2", "inbound")).await.is_err(),
        "an inbound provider id twice on one channel"
    );
    exec(url, &message("m3", "outbound")).await.unwrap();
    exec(url, &message("m4", "outbound")).await.unwrap();

    let job = |id: &str, key: &str, completed_at: &str| {
        format!(
            "INSERT INTO jobs (id, account_id, kind, dedup_key, payload, run_at, created_at, completed_at) \
             VALUES ('{id}', 'a', 'k', {key}, '{{}}', 0, 0, {completed_at})"
        )
    };
    exec(url, &job("j1", "'key'", "5")).await.unwrap();
    exec(url, &job("j2", "'key'", "NULL")).await.unwrap();
    assert!(
        exec(url, &job("j3", "'key'", "NULL")).await.is_err(),
        "two uncompleted jobs with one key"
    );
    exec(url, &job("j4", "NULL", "NULL")).await.unwrap();
    exec(url, &job("j5", "NULL", "NULL")).await.unwrap();
}

#[tokio::test]
async fn sqlite_partial_unique_indexes() {
    partial_unique_indexes(&fresh_sqlite().await).await;
}

#[tokio::test]
async fn postgres_partial_unique_indexes() {
    let Some(db) = fresh_postgres().await else {
        eprintln!("LEADLINE_TEST_DATABASE_URL unset: PostgreSQL index test skipped");
        return;
    };
    partial_unique_indexes(&db).await;
}

/// An install upgraded with rows in it reports what one that kept its rollups from the start
/// does: the rollup migration fills them from the existing leads, conversations and messages.
#[tokio::test]
async fn the_rollup_migration_fills_rollups_from_existing_rows() {
    use leadline_store::{AnalyticsQuery, DayBuckets};
    let now = Timestamp::now();
    let account = AccountId::new();
    let channel = ChannelId::new();
    let parents = [
        format!(
            "INSERT INTO accounts (id, business_name, agent_name, industry, description, \
             products_services, unique_selling_points, license_numbers, licensed_states, status, \
             created_at, updated_at) VALUES ('{account}', 'Acme', 'Ava', 'insurance', '', '', '', \
             '[]', '[]', 'active', 0, 0)"
        ),
        format!(
            "INSERT INTO channels (id, account_id, provider, name, address, webhook_token, settings, \
             send_rate_per_minute, created_at) VALUES ('{channel}', '{account}', 'sandbox', 'Sandbox', \
             '+15125550100', 'tok-{channel}', '{{}}', 60, 0)"
        ),
    ];
    let report = |store: Arc<dyn Store>| async move {
        let query = AnalyticsQuery {
            account,
            from: now - jiff::SignedDuration::from_hours(24 * 91),
            to: now + jiff::SignedDuration::from_hours(24),
            channel: None,
            days: DayBuckets::utc(),
        };
        store.analytics_report(&query).await.unwrap()
    };

    // Seeded before the rollups existed, then upgraded.
    let dir = tempfile::tempdir().unwrap();
    let upgraded = DatabaseUrl::sqlite_file(&dir.path().join("upgraded.db"));
    let pool = sqlite_pool(&upgraded).await;
    let mut before = sqlx::migrate!("./migrations/sqlite");
    let last = before
        .migrations
        .iter()
        .position(|m| m.description.contains("analytics rollups"))
        .unwrap();
    before.migrations = before.migrations[..last].to_vec().into();
    before.run(&pool).await.unwrap();
    for sql in &parents {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    leadline_store_sql::testing::seed_volume(&upgraded, account, channel, 240, 5, now)
        .await
        .unwrap();
    let backfilled = report(leadline_store_sql::connect(&upgraded).await.unwrap()).await;

    // Kept by the triggers from the first row.
    let db = fresh_sqlite().await;
    for sql in &parents {
        exec(&db.url, sql).await.unwrap();
    }
    leadline_store_sql::testing::seed_volume(&db.url, account, channel, 240, 5, now)
        .await
        .unwrap();
    let kept = report(db.store.clone()).await;

    assert_eq!(backfilled, kept);
    assert_eq!(kept.funnel.new, 240);
    assert_eq!(kept.total(|d| d.inbound) + kept.total(|d| d.sent), 240 * 5);
    assert!(kept.first_response.median.is_some());
}
