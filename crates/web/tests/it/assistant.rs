//! Assistant settings: each tab of `/app/assistant` saves its own section as a new version,
//! validation keeps what was typed, the schema editor produces a schema the playbook asks, the
//! model API key is stored encrypted and never shown, versions restore, viewers only read, and
//! the JSON API shares the same rules.

use crate::helpers::*;
use leadline_conversation::{ASSISTANT_SETTINGS, AssistantSettings, ExtractionSchema};
use leadline_store::Direction;
use reqwest::Method;
use serde_json::json;

const OWNER: &str = "dana@example.com";
const LEAD: &str = "+15125550123";

async fn stored(app: &TestApp) -> AssistantSettings {
    let account = account_of(app, OWNER).await;
    AssistantSettings::from_stored(
        app.db
            .store
            .get_setting(account, ASSISTANT_SETTINGS)
            .await
            .unwrap(),
    )
    .unwrap()
}

async fn versions(app: &TestApp) -> Vec<i64> {
    let account = account_of(app, OWNER).await;
    app.db
        .store
        .setting_versions(account, ASSISTANT_SETTINGS, 100)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect()
}

async fn save(b: &Browser, path: &str, fields: &[(&str, &str)]) {
    let r = b.post_form(path, fields).await;
    assert_eq!(
        r.status(),
        303,
        "POST {path}: {}",
        r.text().await.unwrap_or_default()
    );
    assert!(location(&r).ends_with("notice=assistant_saved"));
}

const PERSONALITY: &[(&str, &str)] = &[
    ("instructions", "Mention that quotes are free."),
    ("personality.assistant_name", "Sam"),
    ("personality.tone", "professional"),
    ("formality", "formal"),
    ("personality.emoji", "on"),
    ("personality.max_len", "280"),
    ("language", "Spanish"),
];

#[tokio::test]
async fn each_section_saves_only_itself_and_round_trips() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", OWNER).await;
    let page = owner.get_text("/app/assistant").await;
    assert!(page.contains("href=\"/app/assistant\" aria-current=\"page\""));
    assert!(page.contains("value=\"Alex\""), "the defaults are shown");
    assert!(versions(&app).await.is_empty());

    save(&owner, "/app/assistant", PERSONALITY).await;
    let s = stored(&app).await;
    assert_eq!(s.instructions, "Mention that quotes are free.");
    assert_eq!(s.personality.assistant_name, "Sam");
    assert!(s.personality.emoji);
    assert_eq!(s.personality.max_len, 280);
    assert_eq!(s.language, "Spanish");
    let page = owner.get_text("/app/assistant").await;
    assert!(page.contains("value=\"Sam\"") && page.contains("Mention that quotes are free."));

    // Goals are posted in their (re)ordered sequence; an unticked one is off.
    let r = owner
        .post_form(
            "/app/assistant/strategy",
            &[
                ("goal_order", "greet"),
                ("goal_order", "qualify"),
                ("goal_order", "answer"),
                ("goal_order", "offer_booking"),
                ("goal_order", "confirm"),
                ("goal", "greet"),
                ("goal", "qualify"),
                ("goal", "confirm"),
                ("hand_off.max_misses", "3"),
                ("op", "up:4"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200, "moving a goal only re-renders");
    let html = r.text().await.unwrap();
    let confirm = html.find("value=\"confirm\"").unwrap();
    let booking = html.find("value=\"offer_booking\"").unwrap();
    assert!(confirm < booking, "confirm moved above offer_booking");
    save(
        &owner,
        "/app/assistant/strategy",
        &[
            ("goal_order", "qualify"),
            ("goal_order", "greet"),
            ("goal_order", "confirm"),
            ("goal_order", "answer"),
            ("goal_order", "offer_booking"),
            ("goal", "qualify"),
            ("goal", "greet"),
            ("goal", "confirm"),
            ("hand_off.on_human_request", "on"),
            ("hand_off.max_misses", "3"),
            ("hand_off.keywords", "lawyer\ncomplaint"),
        ],
    )
    .await;
    let s = stored(&app).await;
    assert_eq!(
        serde_json::to_value(&s.strategy.goals).unwrap(),
        json!(["qualify", "greet", "confirm"])
    );
    assert!(s.strategy.hand_off.on_human_request && !s.strategy.hand_off.on_abuse);
    assert_eq!(s.strategy.hand_off.max_misses, 3);
    assert_eq!(s.strategy.hand_off.keywords, ["lawyer", "complaint"]);
    assert_eq!(s.personality.assistant_name, "Sam", "other sections kept");

    save(
        &owner,
        "/app/assistant/guardrails",
        &[
            ("guardrails.banned_phrases", "guaranteed approval"),
            ("guardrails.banned_topics", "politics\nreligion"),
            ("guardrails.may_quote_prices", "on"),
            (
                "guardrails.ai_disclosure",
                "Hi, {assistant} here, an automated assistant.",
            ),
            ("guardrails.disclosure", "when_asked"),
        ],
    )
    .await;
    let g = stored(&app).await.guardrails;
    assert_eq!(g.banned_topics, ["politics", "religion"]);
    assert!(g.may_quote_prices && !g.allow_links && !g.may_promise);
    assert_eq!(
        serde_json::to_value(g.disclosure).unwrap(),
        json!("when_asked")
    );

    save(
        &owner,
        "/app/assistant/model",
        &[
            ("model.engine", "openai-compatible"),
            ("model.model", "llama3.1"),
            ("model.base_url", "http://localhost:11434/v1"),
            ("model.temperature", "0.5"),
            ("model.monthly_token_budget", "500000"),
        ],
    )
    .await;
    let m = stored(&app).await.model;
    assert_eq!(m.engine.as_str(), "openai_compatible");
    assert_eq!(m.base_url.as_deref(), Some("http://localhost:11434/v1"));
    assert_eq!((m.temperature, m.monthly_token_budget), (0.5, 500_000));

    // Knowledge: "add" gives a blank row without saving; save stores the entries.
    let r = owner
        .post_form(
            "/app/assistant/knowledge",
            &[
                ("qa_rows", "1"),
                ("q0", "Are quotes free?"),
                ("a0", "Yes, always."),
                ("op", "add_qa"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"qa_rows\" value=\"2\"") && html.contains("Yes, always."));
    save(
        &owner,
        "/app/assistant/knowledge",
        &[
            ("qa_rows", "2"),
            ("q0", "Are quotes free?"),
            ("a0", "Yes, always."),
            ("q1", "Do you cover pets?"),
            ("a1", "Not yet."),
            ("op", "save"),
        ],
    )
    .await;
    save(
        &owner,
        "/app/assistant/knowledge/documents",
        &[
            ("doc_title", "Office hours"),
            ("doc_text", "# Hours\nWe are open 9 to 5."),
        ],
    )
    .await;
    // A Markdown file upload.
    let csrf = owner.cookie("ll_csrf").unwrap();
    let boundary = "XyZbOuNdArY";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"doc_title\"\r\n\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"parking.md\"\r\nContent-Type: text/markdown\r\n\r\n\
         Parking is free behind the office.\r\n--{boundary}--\r\n"
    );
    let r = owner
        .client
        .post(app.url(&format!("/app/assistant/knowledge/documents?csrf={csrf}")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let s = stored(&app).await;
    assert_eq!(s.knowledge.len(), 2);
    assert_eq!(s.knowledge[1].a, "Not yet.");
    let titles: Vec<&str> = s.documents.iter().map(|d| d.title.as_str()).collect();
    assert_eq!(titles, ["Office hours", "parking"]);
    assert_eq!(s.documents[1].text, "Parking is free behind the office.");
    // Removing a document from the editor, then saving.
    let r = owner
        .post_form(
            "/app/assistant/knowledge",
            &[
                ("qa_rows", "2"),
                ("q0", "Are quotes free?"),
                ("a0", "Yes, always."),
                ("q1", "Do you cover pets?"),
                ("a1", "Not yet."),
                ("doc_rows", "2"),
                ("d0.title", "Office hours"),
                ("d0.text", "We are open 9 to 5."),
                ("d1.title", "parking"),
                ("d1.text", "Parking is free behind the office."),
                ("op", "remove_doc:0"),
            ],
        )
        .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"doc_rows\" value=\"1\"") && !html.contains("Office hours"));
    assert_eq!(stored(&app).await.documents.len(), 2, "not saved yet");

    // One version per save, each with all sections.
    assert_eq!(versions(&app).await, vec![7, 6, 5, 4, 3, 2, 1]);
    let s = stored(&app).await;
    assert_eq!(s.instructions, "Mention that quotes are free.");
    let account = account_of(&app, OWNER).await;
    let audited = app
        .db
        .store
        .audit_chain(account)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "assistant.settings")
        .count();
    assert_eq!(audited, 7);
}

#[tokio::test]
async fn validation_errors_sit_next_to_the_field_and_keep_what_was_typed() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", OWNER).await;
    let r = owner
        .post_form(
            "/app/assistant",
            &[
                ("instructions", "Be brief."),
                ("personality.assistant_name", "  "),
                ("personality.tone", "friendly"),
                ("formality", "neutral"),
                ("personality.max_len", "1000"),
                ("language", "Klingonese"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"f-personality.max_len-error\""));
    assert!(html.contains("between 40 and 320"));
    assert!(html.contains("id=\"f-personality.assistant_name-error\""));
    assert!(html.contains("value=\"1000\"") && html.contains("value=\"Klingonese\""));
    assert!(html.contains("Be brief."));

    let r = owner
        .post_form(
            "/app/assistant/model",
            &[
                ("model.engine", "openai"),
                ("model.model", ""),
                ("model.temperature", "hot"),
                ("model.monthly_token_budget", "-5"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    for id in [
        "f-model.temperature-error",
        "f-model.monthly_token_budget-error",
        "f-api_key-error",
    ] {
        assert!(html.contains(id), "{id}");
    }
    assert!(html.contains("value=\"hot\""));

    let r = owner
        .post_form(
            "/app/assistant/guardrails",
            &[
                ("guardrails.ai_disclosure", ""),
                ("guardrails.disclosure", "first_message"),
                ("guardrails.banned_topics", "politics"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("f-guardrails.ai_disclosure-error") && html.contains("politics"));
    assert!(versions(&app).await.is_empty(), "nothing was saved");
}

/// The schema rows as the editor posts them.
fn rows(fields: &[[&'static str; 5]]) -> Vec<(String, String)> {
    let mut out = vec![("rows".to_owned(), fields.len().to_string())];
    for (i, [name, kind, required, ask, values]) in fields.iter().enumerate() {
        out.push((format!("s{i}.name"), (*name).into()));
        out.push((format!("s{i}.type"), (*kind).into()));
        if *required == "yes" {
            out.push((format!("s{i}.required"), "on".into()));
        }
        out.push((format!("s{i}.ask"), (*ask).into()));
        out.push((format!("s{i}.values"), (*values).into()));
    }
    out
}

async fn schema_post(b: &Browser, fields: &[(String, String)], op: &str) -> reqwest::Response {
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.push(("op", op));
    b.post_form("/app/assistant/schema", &all).await
}

#[tokio::test]
async fn the_schema_editor_builds_a_schema_the_playbook_asks() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", OWNER).await;
    let page = owner.get_text("/app/assistant/schema").await;
    assert!(page.contains("template, unchanged"));
    let r = owner
        .post_form(
            "/app/assistant/schema",
            &[("rows", "0"), ("template", "solar"), ("op", "template")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("The solar template is loaded"));
    assert!(!html.contains("name=\"rows\" value=\"0\""));
    assert!(
        versions(&app).await.is_empty(),
        "loading a template saves nothing"
    );

    let base = [
        [
            "budget_monthly",
            "money",
            "yes",
            "What monthly budget do you have in mind?",
            "",
        ],
        [
            "coverage",
            "enum",
            "no",
            "Which coverage do you want?",
            "term, whole",
        ],
    ];
    // Add a field, fill it in, move it up.
    let r = schema_post(&owner, &rows(&base), "add").await;
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"rows\" value=\"3\""));
    let mut three = base.to_vec();
    three.push(["pet_name", "text", "yes", "What is your pet's name?", ""]);
    let r = schema_post(&owner, &rows(&three), "up:2").await;
    let html = r.text().await.unwrap();
    assert!(html.find("value=\"pet_name\"").unwrap() < html.find("value=\"coverage\"").unwrap());
    // Remove one, and the list closes up.
    let r = schema_post(&owner, &rows(&three), "remove:1").await;
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"rows\" value=\"2\"") && !html.contains("value=\"coverage\""));

    // A bad row is refused with the parser's message on that row, and the typed name kept.
    let mut bad = rows(&[three[2], three[0], three[1]]);
    bad.push(("s2.synonyms".into(), "whole: permanent, lifelong".into()));
    bad[1].1 = "Pet Name".into();
    let r = schema_post(&owner, &bad, "save").await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"s0-error\"") && html.contains("snake_case"));
    assert!(html.contains("value=\"Pet Name\""));
    // A repeated name is the schema parser's error, on the repeating row.
    let dup = rows(&[three[0], three[1], three[0]]);
    let r = schema_post(&owner, &dup, "save").await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"s2-error\"") && html.contains("more than once"));

    bad[1].1 = "pet_name".into();
    let r = schema_post(&owner, &bad, "save").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let s = stored(&app).await;
    let text = serde_json::to_string(s.schema.as_ref().unwrap()).unwrap();
    let schema = ExtractionSchema::from_yaml(&text).unwrap();
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["pet_name", "budget_monthly", "coverage"]);
    assert_eq!(schema.fields[2].kind.type_name(), "enum");
    assert_eq!(
        s.schema.as_ref().unwrap()[2]["synonyms"],
        json!({"whole": ["permanent", "lifelong"]})
    );
    let page = owner.get_text("/app/assistant/schema").await;
    assert!(page.contains("Your own schema.") && page.contains("permanent, lifelong"));

    // The pipeline asks the new first field.
    assert_eq!(
        owner.post_form("/app/sandbox/create", &[]).await.status(),
        303
    );
    let r = owner
        .post_form("/app/sandbox/send", &[("lead", LEAD), ("body", "Hi there")])
        .await;
    assert_eq!(r.status(), 303);
    drive(&app, open_window(LEAD)).await;
    let account = account_of(&app, OWNER).await;
    let conv = app
        .db
        .store
        .list_conversations(account, false, false, 10)
        .await
        .unwrap()
        .remove(0);
    let msgs = app.db.store.messages(account, conv.id).await.unwrap();
    let reply = msgs
        .iter()
        .find(|m| m.direction == Direction::Outbound)
        .expect("the assistant answered");
    assert!(
        reply.body.contains("What is your pet's name?"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn the_model_api_key_is_stored_encrypted_shown_masked_and_never_echoed() {
    const KEY: &str = "sk-test-SECRETVALUE-7788abcd";
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", OWNER).await;
    let account = account_of(&app, OWNER).await;
    // Refused with the key typed: the key is neither stored nor put back on the form.
    let r = owner
        .post_form(
            "/app/assistant/model",
            &[
                ("model.engine", "openai"),
                ("model.model", "gpt-4o-mini"),
                ("model.temperature", "7"),
                ("model.monthly_token_budget", "1000"),
                ("api_key", KEY),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(!html.contains(KEY) && !html.contains("SECRETVALUE"));
    assert!(
        app.state
            .secrets
            .list_masked(account)
            .await
            .unwrap()
            .is_empty()
    );

    save(
        &owner,
        "/app/assistant/model",
        &[
            ("model.engine", "openai"),
            ("model.model", "gpt-4o-mini"),
            ("model.temperature", "0.2"),
            ("model.monthly_token_budget", "1000"),
            ("api_key", KEY),
        ],
    )
    .await;
    let page = owner.get_text("/app/assistant/model").await;
    assert!(page.contains("••••abcd"), "masked");
    assert!(!page.contains("SECRETVALUE"), "never shown again");
    use secrecy::ExposeSecret;
    let revealed = app
        .state
        .secrets
        .reveal(account, leadline_conversation::MODEL_API_KEY_PURPOSE)
        .await
        .unwrap();
    assert_eq!(revealed.expose_secret(), KEY);
    let row = app
        .db
        .store
        .get_secret(account, "ai:api_key")
        .await
        .unwrap();
    assert!(
        !row.ciphertext
            .windows(KEY.len())
            .any(|w| w == KEY.as_bytes()),
        "encrypted at rest"
    );
    // Neither the settings, their versions nor the audit log carry it.
    let v = app
        .db
        .store
        .setting_version(account, ASSISTANT_SETTINGS, 1)
        .await
        .unwrap()
        .unwrap();
    assert!(!v.value.unwrap().to_string().contains("SECRETVALUE"));
    let audit = app.db.store.audit_chain(account).await.unwrap();
    assert!(!format!("{audit:?}").contains("SECRETVALUE"));
    // Saving again without a key keeps the stored one.
    save(
        &owner,
        "/app/assistant/model",
        &[
            ("model.engine", "openai"),
            ("model.model", "gpt-4o"),
            ("model.temperature", "0.2"),
            ("model.monthly_token_budget", "1000"),
            ("api_key", ""),
        ],
    )
    .await;
    assert_eq!(
        app.state.secrets.list_masked(account).await.unwrap().len(),
        1
    );

    let r = owner
        .post_form("/app/assistant/model/key/remove", &[])
        .await;
    assert_eq!(r.status(), 303);
    let page = owner.get_text("/app/assistant/model").await;
    assert!(page.contains("No key stored") && !page.contains("Remove key"));
    assert!(
        app.state
            .secrets
            .list_masked(account)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn versions_count_up_and_restore_saves_a_new_one() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", OWNER).await;
    save(&owner, "/app/assistant", PERSONALITY).await;
    let mut renamed = PERSONALITY.to_vec();
    renamed[1] = ("personality.assistant_name", "Riley");
    save(&owner, "/app/assistant", &renamed).await;
    assert_eq!(stored(&app).await.personality.assistant_name, "Riley");

    let page = owner.get_text("/app/assistant/versions").await;
    assert!(page.contains("Version 2") && page.contains("Version 1"));
    assert!(page.contains("Dana Owner"), "who saved it");
    assert!(page.contains("/app/assistant/versions/1/restore"));
    assert!(
        !page.contains("/app/assistant/versions/2/restore"),
        "current"
    );
    let one = owner.get_text("/app/assistant/versions/1").await;
    assert!(one.contains("Sam") && !one.contains("Riley"));
    assert_eq!(owner.get("/app/assistant/versions/9").await.status(), 404);

    let r = owner
        .post_form("/app/assistant/versions/1/restore", &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        "/app/assistant/versions?notice=assistant_restored"
    );
    assert_eq!(versions(&app).await, vec![3, 2, 1]);
    assert_eq!(stored(&app).await.personality.assistant_name, "Sam");
    let account = account_of(&app, OWNER).await;
    let chain = app.db.store.audit_chain(account).await.unwrap();
    let last = chain.last().unwrap();
    assert_eq!(last.details["restored_version"], 1);
}

#[tokio::test]
async fn agents_and_viewers_read_but_cannot_change_anything() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", OWNER).await;
    save(&owner, "/app/assistant", PERSONALITY).await;
    let viewer = member(&app, &owner, "vic@example.com", "Vic Viewer", "viewer").await;
    let agent = member(&app, &owner, "ann@example.com", "Ann Agent", "agent").await;
    for b in [&viewer, &agent] {
        for tab in [
            "",
            "/strategy",
            "/guardrails",
            "/schema",
            "/knowledge",
            "/model",
            "/versions",
        ] {
            let page = b.get_text(&format!("/app/assistant{tab}")).await;
            assert!(page.contains("can read these settings but not change them"));
            for control in [
                "name=\"op\"",
                ">Save<",
                "Restore",
                "Remove key",
                "Add document",
            ] {
                assert!(!page.contains(control), "{control} shown on {tab}");
            }
        }
        let page = b.get_text("/app/assistant").await;
        assert!(page.contains("value=\"Sam\"") && page.contains("disabled"));
        for path in [
            "/app/assistant",
            "/app/assistant/strategy",
            "/app/assistant/guardrails",
            "/app/assistant/schema",
            "/app/assistant/knowledge",
            "/app/assistant/knowledge/documents",
            "/app/assistant/model",
            "/app/assistant/model/key/remove",
            "/app/assistant/versions/1/restore",
        ] {
            let r = b
                .post_form(path, &[("personality.assistant_name", "Mallory")])
                .await;
            assert_eq!(r.status(), 403, "POST {path}");
        }
    }
    assert_eq!(versions(&app).await, vec![1]);
}

#[tokio::test]
async fn the_assistant_api_validates_versions_and_scopes_to_the_account() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Insurance", OWNER).await;
    let api = Api::new(&app, &api_key(&owner, "ci", "admin").await);
    let (status, doc) = api.get_json("/assistant").await;
    assert_eq!(status, 200);
    assert_eq!(doc["version"], serde_json::Value::Null);
    assert_eq!(doc["settings"]["personality"]["assistant_name"], "Alex");

    let mut settings = doc["settings"].clone();
    settings["model"]["temperature"] = json!(3.0);
    settings["personality"]["assistant_name"] = json!("");
    let (status, body) = api
        .send_json(Method::PUT, "/assistant", json!({ "settings": settings }))
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"model.temperature") && fields.contains(&"personality.assistant_name")
    );
    let (status, body) = api
        .send_json(
            Method::PUT,
            "/assistant",
            json!({ "settings": {"model": {"temperature": "hot"}} }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["fields"][0]["field"].as_str()),
        (422, Some("settings"))
    );

    settings["model"]["temperature"] = json!(0.4);
    settings["personality"]["assistant_name"] = json!("Robin");
    let (status, doc) = api
        .send_json(
            Method::PUT,
            "/assistant",
            json!({ "settings": settings, "version": 0 }),
        )
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["settings"]["personality"]["assistant_name"], "Robin");
    assert!(doc["updated_by"].as_str().unwrap().starts_with("api_key:"));
    // A stale version is refused; the current one (body or If-Match) is accepted.
    let (status, body) = api
        .send_json(
            Method::PUT,
            "/assistant",
            json!({ "settings": settings, "version": 0 }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("stale_version"))
    );
    let r = api
        .req(Method::PUT, "/assistant")
        .header("if-match", "\"1\"")
        .json(&json!({ "settings": settings }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Two editors send their change from version 2 at the same moment: one is saved, the
    // other is told to reload; never both.
    let put = |name: &'static str| {
        let mut changed = settings.clone();
        changed["personality"]["assistant_name"] = json!(name);
        api.req(Method::PUT, "/assistant")
            .header("if-match", "\"2\"")
            .json(&json!({ "settings": changed }))
            .send()
    };
    let (a, b) = tokio::join!(put("Robin"), put("Robyn"));
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    // The dashboard sees what the API saved.
    let page = owner.get_text("/app/assistant").await;
    assert!(page.contains("value=\"Robin\"") || page.contains("value=\"Robyn\""));

    let (status, list) = api.get_json("/assistant/versions").await;
    assert_eq!(status, 200);
    let numbers: Vec<i64> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(list["versions"][0]["settings"], serde_json::Value::Null);
    let (status, one) = api.get_json("/assistant/versions/1").await;
    assert_eq!(status, 200);
    assert_eq!(one["settings"]["personality"]["assistant_name"], "Robin");
    assert_eq!(api.get_json("/assistant/versions/7").await.0, 404);
    assert_eq!(api.get_json("/assistant/versions/abc").await.0, 404);

    let viewer = Api::new(&app, &api_key(&owner, "read", "viewer").await);
    assert_eq!(viewer.get_json("/assistant").await.0, 200);
    let (status, _) = viewer
        .send_json(Method::PUT, "/assistant", json!({ "settings": settings }))
        .await;
    assert_eq!(status, 403);

    // Another tenant sees none of it.
    let other = app.signed_up("Other Co", "olga@example.com").await;
    let other_api = Api::new(&app, &api_key(&other, "o", "owner").await);
    let (status, body) = other_api.get_json("/assistant/versions/1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (_, theirs) = other_api.get_json("/assistant").await;
    assert_eq!(theirs["settings"]["personality"]["assistant_name"], "Alex");
    let (_, list) = other_api.get_json("/assistant/versions").await;
    assert_eq!(list["versions"], json!([]));
    assert_eq!(other.get("/app/assistant/versions/1").await.status(), 404);
}
