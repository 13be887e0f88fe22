//! The account's consent text: through `/api/v1/compliance/consent-text` (validated, versioned
//! with `If-Match`, refused when stale or broken), through the Compliance page (same rules, a
//! hidden version field, read-only below admin), and carried by every consent recorded.

use crate::helpers::*;
use leadline_domain::E164Phone;
use leadline_store::{ComplianceEvent, ComplianceEventKind};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

const GOOD: &str = "By submitting, you agree to receive text messages from Acme Insurance about your quote at the number provided, including automated texts. Consent is not a condition of purchase. Msg frequency varies. Msg and data rates may apply. Reply STOP to opt out, HELP for help.";
const SECOND: &str = "Acme Insurance will send you SMS updates about your quote, including automated texts. Consent is not a condition of purchase. Rates may apply. Text STOP to stop.";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn the_consent_text_api_saves_versions_and_refuses_stale_or_broken_text() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", "dana@example.com").await;
    let api = Api::new(&app, &api_key(&owner, "admin", "admin").await);
    let (status, doc) = api.get_json("/compliance/consent-text").await;
    assert_eq!(status, 200);
    assert_eq!(doc["text"], serde_json::Value::Null);
    assert_eq!(doc["version"], serde_json::Value::Null);

    // Line breaks are stored as \n and surrounding space trimmed: that is the text hashed.
    let sent = format!("  {}\r\n", GOOD.replace(". ", ".\r\n"));
    let stored = GOOD.replace(". ", ".\n");
    let put = |text: String, if_match: Option<&'static str>| {
        let mut req = api.req(Method::PUT, "/compliance/consent-text");
        if let Some(v) = if_match {
            req = req.header("If-Match", v);
        }
        async move {
            let r = req.json(&json!({ "text": text })).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, doc) = put(sent.clone(), Some("\"0\"")).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["text"], stored.as_str());
    assert_eq!(doc["sha256"], sha256(&stored));
    assert!(doc["updated_by"].as_str().unwrap().starts_with("api_key:"));
    assert_eq!(doc["warnings"], json!([]));

    // Someone else's edit from "none set" is refused now that version 1 exists.
    let (status, body) = put(SECOND.to_owned(), Some("\"0\"")).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "stale_version");
    let (status, doc) = api
        .send_json(
            Method::PUT,
            "/compliance/consent-text",
            json!({ "text": SECOND, "version": 1 }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(doc["version"], 2);
    assert_eq!(put(GOOD.to_owned(), Some("W/\"1\"")).await.0, 409);
    assert_eq!(put(GOOD.to_owned(), Some("latest")).await.0, 400);

    // Every broken rule is one entry of `fields`, all on `text`; nothing is saved.
    let (status, body) = put("We will be in touch.".to_owned(), None).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "validation_failed");
    let fields = body["error"]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 3, "{body}");
    assert!(fields.iter().all(|f| f["field"] == "text"));
    assert!(fields[1]["message"].as_str().unwrap().contains("STOP"));
    let (status, body) = api
        .send_json(Method::PUT, "/compliance/consent-text", json!({}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "text");

    // Saved without a condition-of-purchase sentence: a warning, not a refusal.
    let (status, doc) = put(
        "Texts from Acme Insurance. Msg & data rates may apply. Reply STOP to end.".to_owned(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["version"], 3);
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{doc}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("not a condition of purchase")
    );
    let (_, again) = api.get_json("/compliance/consent-text").await;
    assert_eq!(again, doc);
}

/// The stored versions of the account's consent text, newest first.
async fn versions(app: &TestApp, email: &str) -> Vec<i64> {
    let account = account_of(app, email).await;
    app.db
        .store
        .setting_versions(account, "consent_text", 50)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect()
}

#[tokio::test]
async fn the_compliance_page_saves_versions_keeps_refused_text_and_is_read_only_below_admin() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", "dana@example.com").await;
    let page = owner.get_text("/app/compliance").await;
    let section = between(&page, "id=\"consent-text\"", "</section>").unwrap();
    assert!(section.contains("action=\"/app/compliance/consent-text\""));
    assert!(section.contains("name=\"version\" value=\"0\""));
    assert!(section.contains("consents recorded now carry no disclosure"));
    // The example names the business but is only a placeholder: nothing is saved.
    assert!(section.contains("placeholder=\"By submitting this form, you agree to receive text messages from Acme Insurance"));
    assert!(versions(&app, "dana@example.com").await.is_empty());

    // Every broken rule is listed under the box, the text is kept, and nothing is saved.
    let r = owner
        .post_form(
            "/app/compliance/consent-text",
            &[
                ("text", "We will call you about your quote."),
                ("version", "0"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    let errors =
        between(&html, "id=\"f-consent-text-error\">", "</ul>").expect("errors by the box");
    assert_eq!(errors.matches("<li>").count(), 3, "{errors}");
    assert!(errors.contains("STOP") && errors.contains("rates may apply"));
    assert!(html.contains(">We will call you about your quote.</textarea>"));
    assert!(versions(&app, "dana@example.com").await.is_empty());

    let r = owner
        .post_form(
            "/app/compliance/consent-text",
            &[("text", &GOOD.replace(". ", ".\r\n")), ("version", "0")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        "/app/compliance?notice=consent_text_saved#consent-text"
    );
    let page = owner
        .get_text("/app/compliance?notice=consent_text_saved")
        .await;
    assert!(page.contains("Consent text saved as a new version."));
    let section = between(&page, "id=\"consent-text\"", "</section>").unwrap();
    let stored = GOOD.replace(". ", ".\n");
    assert!(
        section.contains("Version 1 · saved by Dana Owner"),
        "{section}"
    );
    assert!(section.contains(&sha256(&stored)[..12]));
    assert!(section.contains(&format!("id=\"consent-text-current\">{stored}</p>")));
    assert!(section.contains("name=\"version\" value=\"1\""));
    assert!(!section.contains("consent-text-warnings"), "{section}");

    // An edit started before version 1 existed is refused with a clear message; the edit is kept.
    let r = owner
        .post_form(
            "/app/compliance/consent-text",
            &[("text", SECOND), ("version", "0")],
        )
        .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("Not saved: someone saved version 1 while you were editing version 0."));
    assert!(html.contains(&format!(">{SECOND}</textarea>")));
    // The form now builds on version 1, so saving again replaces it.
    assert!(html.contains("name=\"version\" value=\"1\""));
    assert_eq!(versions(&app, "dana@example.com").await, vec![1]);

    let r = owner
        .post_form(
            "/app/compliance/consent-text",
            &[("text", SECOND), ("version", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    // A text that passes but names nobody is saved with a warning.
    let r = owner
        .post_form(
            "/app/compliance/consent-text",
            &[
                (
                    "text",
                    "Texts about your quote. Rates may apply. Reply STOP to end.",
                ),
                ("version", "2"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = owner.get_text("/app/compliance").await;
    let section = between(&page, "id=\"consent-text\"", "</section>").unwrap();
    assert!(section.contains("Version 3 · saved by Dana Owner"));
    let warnings = between(section, "id=\"consent-text-warnings\"", "</div>").unwrap();
    assert!(
        warnings.contains("Acme Insurance") && warnings.contains("not a condition of purchase")
    );
    assert!(section.contains("Earlier versions (2)") && section.contains(SECOND));

    // An agent reads the text but gets no form, and a post is refused.
    let agent = member(&app, &owner, "ann@example.com", "Ann Agent", "agent").await;
    let page = agent.get_text("/app/compliance").await;
    let section = between(&page, "id=\"consent-text\"", "</section>").unwrap();
    assert!(section.contains("Texts about your quote."));
    assert!(section.contains("can read the consent text but not change it"));
    assert!(!section.contains("/app/compliance/consent-text"));
    let r = agent
        .post_form(
            "/app/compliance/consent-text",
            &[("text", GOOD), ("version", "3")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(versions(&app, "dana@example.com").await, vec![3, 2, 1]);
}

/// Imports CSV through the API and answers the report.
async fn import(api: &Api, csv: &str) -> serde_json::Value {
    let r = api
        .req(Method::POST, "/leads/import")
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn consents_carry_the_consent_text_in_force_when_they_were_recorded() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", "dana@example.com").await;
    let api = Api::new(&app, &api_key(&owner, "admin", "admin").await);
    let account = account_of(&app, "dana@example.com").await;
    let store = &app.db.store;
    let consent = |p: &'static str| async move {
        let phone = E164Phone::parse(p).unwrap();
        let events: Vec<ComplianceEvent> = store
            .compliance_history(account, &phone)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == ComplianceEventKind::ConsentGranted)
            .collect();
        assert_eq!(events.len(), 1, "{p}");
        events[0].details.clone()
    };
    let put = |text: &'static str, version: i64| {
        api.send_json(
            Method::PUT,
            "/compliance/consent-text",
            json!({ "text": text, "version": version }),
        )
    };

    // Before any consent text: the consent is recorded, without a disclosure.
    let report = import(&api, "phone,name,consent\n+15125550140,Before Text,yes\n").await;
    assert_eq!(report["consents"], 1);
    let before = consent("+15125550140").await;
    assert_eq!(before["file"], "api.csv");
    assert!(before.get("disclosure").is_none(), "{before}");

    assert_eq!(put(GOOD, 0).await.0, 200);
    let report = import(
        &api,
        "phone,name,consent\n+15125550141,First Text,yes\n+15125550143,No Consent,no\n",
    )
    .await;
    assert_eq!(report["consents"], 1);
    let first = consent("+15125550141").await;
    assert_eq!(
        first["disclosure"],
        json!({ "version": 1, "sha256": sha256(GOOD), "text": GOOD })
    );

    // A new version: new consents carry it, the earlier ones keep theirs.
    assert_eq!(put(SECOND, 1).await.0, 200);
    import(&api, "phone,name,consent\n+15125550142,Second Text,yes\n").await;
    let second = consent("+15125550142").await;
    assert_eq!(second["disclosure"]["version"], 2);
    assert_eq!(second["disclosure"]["sha256"], sha256(SECOND));
    assert_eq!(second["disclosure"]["text"], SECOND);
    assert_eq!(consent("+15125550141").await, first);

    // The lead page lists the consent with the text it recorded.
    let lead_id = |p: &'static str| async move {
        store
            .find_lead_by_phone(account, &E164Phone::parse(p).unwrap())
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let page = owner
        .get_text(&format!("/app/leads/{}", lead_id("+15125550141").await))
        .await;
    let panel = between(&page, "class=\"card consent-panel\"", "</section>").unwrap();
    assert!(panel.contains("consent recorded") && panel.contains("latest with consent text v1"));
    assert!(
        panel.contains("consent text v1") && panel.contains(GOOD),
        "{panel}"
    );
    let page = owner
        .get_text(&format!("/app/leads/{}", lead_id("+15125550140").await))
        .await;
    let panel = between(&page, "class=\"card consent-panel\"", "</section>").unwrap();
    assert!(panel.contains("latest without a consent text") && !panel.contains("<details"));

    // Beside a thread the panel is compact and shows the opt-out state too.
    let (status, _) = api
        .send_json(
            Method::POST,
            "/compliance/suppressions",
            json!({ "phone": "+15125550142", "reason": "asked by phone" }),
        )
        .await;
    assert_eq!(status, 200);
    let channel = store
        .create_channel(leadline_store::NewChannel {
            id: leadline_domain::ids::ChannelId::new(),
            account_id: account,
            provider: "sandbox".into(),
            name: "Main line".into(),
            address: "+15125550109".into(),
            webhook_token: "main".into(),
            settings: json!({}),
            send_rate_per_minute: 60,
        })
        .await
        .unwrap();
    let conversation = store
        .conversation_for(account, lead_id("+15125550142").await, channel.id)
        .await
        .unwrap();
    let page = owner
        .get_text(&format!("/app/inbox/{}", conversation.id))
        .await;
    let panel = between(&page, "class=\"card consent-panel\"", "</section>").unwrap();
    assert!(panel.contains("class=\"consent-events\""), "{panel}");
    assert!(panel.contains("on the do-not-contact list"));
    assert!(panel.contains("Added to the do-not-contact list"));
    assert!(panel.contains("<summary>consent text v2</summary>") && panel.contains(SECOND));
}
