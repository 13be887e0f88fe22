//! The account's consent text through `/api/v1/compliance/consent-text`: validated, versioned
//! with `If-Match`, and refused when stale or broken.

use crate::helpers::*;
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
