//! The JSON API: API keys, role checks, error shapes, and the committed OpenAPI document.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn api_key_is_shown_once_works_and_can_be_revoked() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme", "dana@example.com").await;
    let key = api_key(&b, "CRM sync", "admin").await;
    assert!(key.starts_with("ll_"));
    let listing = b.get_text("/app/api-keys").await;
    assert!(
        listing.contains("CRM sync") && !listing.contains(&key),
        "the full key is never shown again"
    );

    let api = Api::new(&app, &key);
    let (status, profile) = api.get_json("/profile").await;
    assert_eq!(status, 200);
    assert_eq!(profile["business_name"], "Acme");
    let (status, updated) = api
        .send_json(Method::PUT, "/profile", json!({"business_name": "Acme Insurance", "phone": "512-555-0123", "licensed_states": ["tx"]}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["phone"], "+15125550123");
    assert_eq!(updated["licensed_states"], json!(["TX"]));
    let keys = app
        .db
        .store
        .list_api_keys(app.db.store.list_accounts().await.unwrap()[0].id)
        .await
        .unwrap();
    assert!(keys[0].last_used_at.is_some(), "last-used time is recorded");

    let (status, created) = api
        .send_json(
            Method::POST,
            "/invitations",
            json!({"email": "sam@example.com", "role": "agent"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["link"].as_str().unwrap().contains("/invite/"));
    let (status, users) = api.get_json("/users").await;
    assert_eq!(status, 200);
    assert_eq!(users.as_array().unwrap().len(), 1);

    let id = keys[0].id.to_string();
    let r = b
        .post_form(&format!("/app/api-keys/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let (status, body) = api.get_json("/profile").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn errors_are_json_with_code_and_message() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme", "dana@example.com").await;
    let admin = Api::new(&app, &api_key(&b, "admin", "admin").await);
    let viewer = Api::new(&app, &api_key(&b, "viewer", "viewer").await);

    let (status, body) = Api::new(&app, "ll_nope").get_json("/profile").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (status, body) = viewer
        .send_json(Method::PUT, "/profile", json!({"business_name": "x"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("viewer")
    );

    let (status, body) = admin
        .send_json(
            Method::PUT,
            "/profile",
            json!({"business_name": "", "website": "not a site"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "validation_failed");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["business_name", "website"]);

    let r = admin
        .req(Method::PUT, "/profile")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, body) = admin
        .send_json(
            Method::POST,
            "/api-keys",
            json!({"name": "x", "role": "emperor"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, _) = admin
        .send_json(
            Method::POST,
            "/api-keys",
            json!({"name": "x", "role": "owner"}),
        )
        .await;
    assert_eq!(status, 403, "an admin key cannot mint an owner key");
    let (status, body) = admin
        .send_json(
            Method::POST,
            "/invitations",
            json!({"email": "dana@example.com", "role": "agent"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_member"))
    );
    let (status, body) = admin.get_json("/nope").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = admin.get_json("/audit?limit=0").await;
    assert_eq!(status, 422);
    let (status, page) = admin.get_json("/audit?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let before = page["next_before"].as_i64().unwrap();
    let (_, older) = admin
        .get_json(&format!("/audit?limit=2&before={before}"))
        .await;
    assert!(older["entries"][0]["seq"].as_i64().unwrap() < before);
}

/// The document served at /api/v1/openapi.json must equal the committed `openapi.json`.
/// Regenerate it with `UPDATE_OPENAPI=1 cargo test -p leadline-web openapi`.
#[tokio::test]
async fn openapi_document_is_served_and_committed() {
    let app = TestApp::spawn().await;
    let served = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, leadline_web::api::openapi_document());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(&path, format!("{served}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed.trim_end(),
        served.trim_end(),
        "openapi.json drifted: run UPDATE_OPENAPI=1 cargo test -p leadline-web openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    for path in [
        "/api/v1/profile",
        "/api/v1/users/{user_id}",
        "/api/v1/invitations",
        "/api/v1/api-keys/{id}",
        "/api/v1/audit",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

#[tokio::test]
async fn suspended_accounts_cannot_use_the_api_and_see_why() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme", "dana@example.com").await;
    let api = Api::new(&app, &api_key(&b, "k", "admin").await);
    assert_eq!(api.get_json("/profile").await.0, 200);
    let account = app.db.store.list_accounts().await.unwrap()[0].id;
    let audit = leadline_store::NewAudit {
        account_id: account,
        actor: "system".into(),
        action: "account.status".into(),
        details: json!({"to": "suspended"}),
    };
    app.db
        .store
        .set_account_status(account, leadline_domain::AccountStatus::Suspended, audit)
        .await
        .unwrap();
    let (status, body) = api.get_json("/profile").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("account_inactive"))
    );
    assert!(
        b.get_text("/app")
            .await
            .contains("This account is <strong>suspended</strong>")
    );
}
