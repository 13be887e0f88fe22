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

#[tokio::test]
async fn the_do_not_contact_list_blocks_sends_and_keeps_its_history() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme", "dana@example.com").await;
    let agent = Api::new(&app, &api_key(&owner, "agent", "agent").await);
    let viewer = Api::new(&app, &api_key(&owner, "viewer", "viewer").await);
    let (status, body) = agent
        .send_json(
            Method::POST,
            "/compliance/suppressions",
            json!({"phone": "12"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["fields"][0]["field"].as_str()),
        (422, Some("phone"))
    );
    assert_eq!(
        viewer
            .send_json(
                Method::POST,
                "/compliance/suppressions",
                json!({"phone": "(512) 555-0147"})
            )
            .await
            .0,
        403
    );
    let (status, list) = agent
        .send_json(
            Method::POST,
            "/compliance/suppressions",
            json!({"phone": "(512) 555-0147", "reason": "asked by phone"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["phones"], json!(["+15125550147"]));
    // Lifting it is an admin's decision.
    assert_eq!(
        agent
            .send_json(
                Method::POST,
                "/compliance/suppressions/remove",
                json!({"phone": "+15125550147"})
            )
            .await
            .0,
        403
    );

    // A suppressed number gets no reply, even when it texts in.
    let account = app.db.store.list_accounts().await.unwrap()[0].id;
    let page = owner.get_text("/app/compliance").await;
    assert!(page.contains("+15125550147"));
    let r = owner.post_form("/app/sandbox/create", &[]).await;
    assert!(r.status().is_redirection());
    let r = owner
        .post_form(
            "/app/sandbox/send",
            &[("lead", "+15125550147"), ("body", "hello")],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    drive(&app, open_window("+15125550147")).await;
    let phone = leadline_domain::E164Phone::parse("+15125550147").unwrap();
    let lead = app
        .db
        .store
        .find_lead_by_phone(account, &phone)
        .await
        .unwrap()
        .unwrap();
    let convs = app
        .db
        .store
        .list_conversations(account, false, false, 10)
        .await
        .unwrap();
    let conv = convs.iter().find(|c| c.lead_id == lead.id).unwrap();
    let msgs = app.db.store.messages(account, conv.id).await.unwrap();
    assert!(
        msgs.iter()
            .all(|m| m.direction == leadline_store::Direction::Inbound),
        "no reply to a suppressed number"
    );

    // The owner lifts it through the page; both events stay in the history.
    let r = owner
        .post_form(
            "/app/compliance/suppressions/remove",
            &[("phone", "+15125550147")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let history = app
        .db
        .store
        .compliance_history(account, &phone)
        .await
        .unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            leadline_store::ComplianceEventKind::Suppressed,
            leadline_store::ComplianceEventKind::Unsuppressed
        ]
    );
    assert_eq!(history[0].source, "api");
    assert_eq!(history[1].source, "agent");
    assert_eq!(history[0].details["reason"], "asked by phone");
    let (_, list) = agent.get_json("/compliance/suppressions").await;
    assert_eq!(list["phones"], json!([]));
    let r = owner
        .post_form("/app/compliance/suppressions", &[("phone", "nope")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("f-phone-error"));
}

#[tokio::test]
async fn numbers_are_added_in_bulk_all_or_none_and_the_opt_out_log_shows_every_event() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme Insurance", "dana@example.com").await;
    let page = b.get_text("/app/compliance").await;
    assert!(page.contains("Opt-out log") && page.contains("Nothing recorded yet."));

    // One bad line: nothing is added, the bad line is named, and what was typed is kept.
    let pasted = "(512) 555-0701\n512.555.0702, not a number\n";
    let r = b
        .post_form(
            "/app/compliance/suppressions/bulk",
            &[("numbers", pasted), ("reason", "old list")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("not a number") && page.contains("1 line that is not a phone number"),
        "{page}"
    );
    assert!(page.contains("(512) 555-0701"), "typed text kept");
    assert!(page.contains("No numbers on the list."));
    let r = b
        .post_form("/app/compliance/suppressions/bulk", &[("numbers", "  \n ")])
        .await;
    assert_eq!(r.status(), 422);

    let r = b
        .post_form(
            "/app/compliance/suppressions/bulk",
            &[
                ("numbers", "(512) 555-0701\n512.555.0702; +15125550703"),
                ("reason", "old list"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app/compliance?notice=suppressed_many");
    let page = b.get_text("/app/compliance").await;
    for n in ["+15125550701", "+15125550702", "+15125550703"] {
        assert!(page.contains(n), "{n}");
    }
    let log = between(&page, "class=\"opt-out-log\"", "</table>").unwrap();
    assert_eq!(
        log.matches("added to the do-not-contact list").count(),
        3,
        "{log}"
    );
    // The page has its copy buttons' script; viewers get no bulk form.
    assert!(page.contains("/static/copy.js"));
    assert_eq!(b.get("/static/copy.js").await.status(), 200);
    let viewer = member(&app, &b, "vic@example.com", "Vic", "viewer").await;
    let page = viewer.get_text("/app/compliance").await;
    assert!(!page.contains("/app/compliance/suppressions/bulk") && page.contains("Opt-out log"));
    let r = viewer
        .post_form(
            "/app/compliance/suppressions/bulk",
            &[("numbers", "+15125550704")],
        )
        .await;
    assert_eq!(r.status(), 403);
}
