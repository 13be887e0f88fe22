//! Compliance settings: the account's own quiet hours and explicit, acknowledged relaxations.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn quiet_hours_are_validated_and_saved_through_the_page_and_api() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme", "dana@example.com").await;
    let page = owner.get_text("/app/compliance").await;
    assert!(page.contains("The legal floor") && page.contains("8:00–21:00"));
    let r = owner
        .post_form(
            "/app/compliance",
            &[("quiet_hours", "mon-fri 9am till late")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("f-quiet_hours-error") && html.contains("mon-fri 9am till late"),
        "error next to the field, input kept"
    );
    let r = owner
        .post_form(
            "/app/compliance",
            &[("quiet_hours", "mon-fri 09:00-18:00,sat 10:00-14:00")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let api = Api::new(&app, &api_key(&owner, "k", "admin").await);
    let (status, view) = api.get_json("/compliance/settings").await;
    assert_eq!(status, 200);
    assert_eq!(view["quiet_hours"], "mon-fri 09:00-18:00,sat 10:00-14:00");
    assert_eq!(view["relaxations"], json!([]));
    // The pipeline reads what was saved.
    let account = app.db.store.list_accounts().await.unwrap()[0].id;
    let settings = app.state.engine.window_settings(account).await.unwrap();
    assert!(settings.quiet_hours.is_some());
    let (status, body) = api
        .send_json(
            Method::PUT,
            "/compliance/settings",
            json!({"quiet_hours": "whenever"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["fields"][0]["field"].as_str()),
        (422, Some("quiet_hours"))
    );
    let (status, view) = api
        .send_json(
            Method::PUT,
            "/compliance/settings",
            json!({"quiet_hours": ""}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        view["quiet_hours"],
        serde_json::Value::Null,
        "empty disables the account's own hours"
    );
}

#[tokio::test]
async fn only_an_owner_relaxes_a_legal_rule_and_the_acknowledgment_is_audited() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme", "dana@example.com").await;
    let admin = Api::new(&app, &api_key(&owner, "admin", "admin").await);
    let owner_api = Api::new(&app, &api_key(&owner, "owner", "owner").await);
    let relax =
        json!({"relaxations": ["replies-ignore-legal-hours"], "acknowledgment": "I accept"});
    let (status, _) = admin
        .send_json(Method::PUT, "/compliance/settings", relax.clone())
        .await;
    assert_eq!(status, 403, "an admin cannot relax a legal rule");
    let (status, body) = owner_api
        .send_json(
            Method::PUT,
            "/compliance/settings",
            json!({"relaxations": ["replies-ignore-legal-hours"]}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["fields"][0]["field"].as_str()),
        (422, Some("acknowledgment"))
    );
    let (status, body) = owner_api
        .send_json(
            Method::PUT,
            "/compliance/settings",
            json!({"relaxations": ["ignore-everything"], "acknowledgment": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["fields"][0]["field"].as_str()),
        (422, Some("relaxations"))
    );
    let (status, view) = owner_api
        .send_json(Method::PUT, "/compliance/settings", relax)
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["relaxations"], json!(["replies-ignore-legal-hours"]));
    let account = app.db.store.list_accounts().await.unwrap()[0].id;
    let entry = app
        .db
        .store
        .audit_chain(account)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.action == "compliance.settings")
        .unwrap();
    assert_eq!(entry.details["acknowledgment"], "I accept");
    assert_eq!(
        entry.details["relaxations_added"],
        json!(["replies-ignore-legal-hours"])
    );
    // An admin may still change the hours while keeping the owner's relaxation.
    let (status, _) = admin.send_json(Method::PUT, "/compliance/settings", json!({"quiet_hours": "mon-sun 08:00-20:00", "relaxations": ["replies-ignore-legal-hours"]})).await;
    assert_eq!(status, 200);
    // Through the page: the owner ticks the box and the acknowledgment.
    let r = owner
        .post_form(
            "/app/compliance",
            &[
                ("quiet_hours", ""),
                ("relaxation", "replies-ignore-frequency-caps"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422, "the acknowledgment box is required");
    let r = owner
        .post_form(
            "/app/compliance",
            &[
                ("quiet_hours", ""),
                ("relaxation", "replies-ignore-frequency-caps"),
                ("acknowledge", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, view) = admin.get_json("/compliance/settings").await;
    assert_eq!(
        view["relaxations"],
        json!(["replies-ignore-frequency-caps"])
    );
}

#[tokio::test]
async fn viewers_read_compliance_settings_but_cannot_change_them() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme", "dana@example.com").await;
    let viewer = Api::new(&app, &api_key(&owner, "viewer", "viewer").await);
    assert_eq!(viewer.get_json("/compliance/settings").await.0, 200);
    let (status, _) = viewer
        .send_json(
            Method::PUT,
            "/compliance/settings",
            json!({"quiet_hours": "mon-fri 09:00-17:00"}),
        )
        .await;
    assert_eq!(status, 403);
}
