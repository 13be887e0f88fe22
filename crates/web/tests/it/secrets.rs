//! The secrets service against a real database: nothing stored in plaintext, masking, tenant
//! binding, and rotation while another service instance keeps reading.

use crate::helpers::*;
use leadline_app::{KeyRing, SecretsService};
use leadline_domain::AccountId;
use secrecy::{ExposeSecret, SecretString};

const TOKEN: &str = "twilio-auth-token-PLAINTEXT-9876";

async fn raw_dump(app: &TestApp) -> Vec<u8> {
    use sqlx::Row;
    let url = app.db.url.expose().to_owned();
    let mut out = Vec::new();
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        for row in sqlx::query("SELECT ciphertext, nonce, last4, purpose FROM secrets")
            .fetch_all(&pool)
            .await
            .unwrap()
        {
            out.extend(row.get::<Vec<u8>, _>(0));
            out.extend(row.get::<Vec<u8>, _>(1));
            out.extend(row.get::<String, _>(2).into_bytes());
            out.extend(row.get::<String, _>(3).into_bytes());
        }
        for row in sqlx::query("SELECT details FROM audit_log")
            .fetch_all(&pool)
            .await
            .unwrap()
        {
            out.extend(row.get::<String, _>(0).into_bytes());
        }
    } else {
        // The whole SQLite file and its WAL, byte for byte.
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        for p in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&p) {
                out.extend(bytes);
            }
        }
    }
    out
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_masked_and_bound_to_their_account() {
    let app = TestApp::spawn().await;
    app.signed_up("Acme", "dana@example.com").await;
    let account = app.db.store.list_accounts().await.unwrap()[0].id;
    let masked = app
        .state
        .secrets
        .put(
            account,
            "twilio.auth_token",
            &SecretString::from(TOKEN),
            "user:test",
        )
        .await
        .unwrap();
    assert_eq!(masked.masked, "••••9876");
    let dump = raw_dump(&app).await;
    assert!(!dump.is_empty());
    assert!(
        !dump.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "plaintext found in the database"
    );
    assert_eq!(
        app.state
            .secrets
            .reveal(account, "twilio.auth_token")
            .await
            .unwrap()
            .expose_secret(),
        TOKEN
    );
    let listed = app.state.secrets.list_masked(account).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!format!("{listed:?}").contains(TOKEN));
    // Another account cannot read it.
    assert!(
        app.state
            .secrets
            .reveal(AccountId::new(), "twilio.auth_token")
            .await
            .is_err()
    );
    let actions: Vec<String> = app
        .db
        .store
        .audit_chain(account)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"secret.set".to_owned()));
}

#[tokio::test]
async fn rotation_reencrypts_everything_while_other_instances_keep_reading() {
    let app = TestApp::spawn().await;
    app.signed_up("Acme", "dana@example.com").await;
    let account = app.db.store.list_accounts().await.unwrap()[0].id;
    let dir = tempfile::tempdir().unwrap();
    let (ring, _) = KeyRing::load(None, None, dir.path()).unwrap();
    let old_id = ring.current().id().to_owned();
    let server = SecretsService::new(app.db.store.clone(), ring);
    for i in 0..5 {
        server
            .put(
                account,
                &format!("p{i}"),
                &SecretString::from(format!("value-number-{i}-abcdef")),
                "user:t",
            )
            .await
            .unwrap();
    }
    // `leadline keys rotate` in another process: a new key in the file, then re-encryption.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (mut rotator_ring, _) = KeyRing::load(None, None, dir.path()).unwrap();
    let new_id = rotator_ring.rotate_file().unwrap().id().to_owned();
    let rotator = SecretsService::new(app.db.store.clone(), rotator_ring);
    assert_eq!(rotator.reencrypt_all().await.unwrap(), 5);
    assert_eq!(rotator.reencrypt_all().await.unwrap(), 0, "idempotent");
    assert_ne!(old_id, new_id);
    for row in app.db.store.list_secrets(account).await.unwrap() {
        assert_eq!(row.key_id, new_id);
    }
    // The running server, loaded with the old ring, still reads every secret.
    for i in 0..5 {
        assert_eq!(
            server
                .reveal(account, &format!("p{i}"))
                .await
                .unwrap()
                .expose_secret(),
            format!("value-number-{i}-abcdef")
        );
    }
    assert_eq!(
        server.current_key_id(),
        new_id,
        "and now seals with the new key"
    );
}
