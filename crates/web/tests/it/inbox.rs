//! The sandbox phone simulator, the inbox (take over, reply by hand, hand back) and the
//! Channels page, through the dashboard and the API. The sandbox goes through the same pipeline
//! as a provider, so these also exercise the send gate.

use crate::helpers::*;
use leadline_store::{Direction, MessageStatus};
use reqwest::Method;
use serde_json::json;

const LEAD: &str = "+15125550123";

/// Signs up and creates the sandbox channel from the simulator page.
async fn with_sandbox(app: &TestApp) -> Browser {
    let b = app.signed_up("Acme Insurance", "dana@example.com").await;
    let page = b.get_text("/app/sandbox").await;
    assert!(page.contains("Create the sandbox channel"));
    let r = b.post_form("/app/sandbox/create", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app/sandbox?notice=sandbox_created");
    b
}

async fn text_as_lead(b: &Browser, body: &str) {
    let r = b
        .post_form("/app/sandbox/send", &[("lead", LEAD), ("body", body)])
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(location(&r), "/app/sandbox?lead=%2B15125550123");
}

async fn thread(app: &TestApp) -> (String, Vec<leadline_store::Message>) {
    let account = account_of(app, "dana@example.com").await;
    let conv = app
        .db
        .store
        .list_conversations(account, false, false, 10)
        .await
        .unwrap()
        .remove(0);
    let msgs = app.db.store.messages(account, conv.id).await.unwrap();
    (conv.id.to_string(), msgs)
}

fn outbound(msgs: &[leadline_store::Message]) -> Vec<&leadline_store::Message> {
    msgs.iter()
        .filter(|m| m.direction == Direction::Outbound)
        .collect()
}

#[tokio::test]
async fn the_sandbox_simulator_round_trip() {
    let app = TestApp::spawn().await;
    let b = with_sandbox(&app).await;
    let page = b.get_text("/app/sandbox").await;
    assert!(page.contains("Send as the lead") && page.contains("+15125550100"));
    assert!(page.contains("data-poll=\"/app/sandbox/messages?lead=%2B15125550123\""));
    assert!(page.contains("<script src=\"/static/poll.js\" defer></script>"));

    // Bad input comes back next to the fields, with what was typed.
    let r = b
        .post_form("/app/sandbox/send", &[("lead", "12"), ("body", "  ")])
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"12\"") && html.contains("Text must not be empty"));

    text_as_lead(&b, "Hi, do you do term life?").await;
    let page = b.get_text("/app/sandbox?lead=%2B15125550123").await;
    assert!(page.contains("Hi, do you do term life?"));
    drive(&app, open_window(LEAD)).await;
    let partial = b
        .get_text("/app/sandbox/messages?lead=%2B15125550123")
        .await;
    assert!(partial.contains("Acme Insurance") && partial.contains("status-delivered"));
    assert!(!partial.contains("<html"), "a partial, not a page");
    let page = b.get_text("/app/sandbox?lead=%2B15125550123").await;
    assert!(page.contains("AI assistant") && page.contains("delivered"));
    assert!(
        app.state
            .engine
            .providers()
            .sandbox()
            .sent()
            .iter()
            .any(|m| m.body.contains("Acme Insurance"))
    );
    let js = app.browser().get("/static/poll.js").await;
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

#[tokio::test]
async fn take_over_reply_by_hand_stop_and_hand_back() {
    let app = TestApp::spawn().await;
    let b = with_sandbox(&app).await;
    let at = open_window(LEAD);
    text_as_lead(&b, "Hello there").await;
    drive(&app, at).await;
    let (id, msgs) = thread(&app).await;
    assert_eq!(outbound(&msgs).len(), 1, "the assistant answered");

    // Opening the thread marks it read.
    let account = account_of(&app, "dana@example.com").await;
    let unread = b.get_text("/app/inbox?filter=unread").await;
    assert!(unread.contains(&format!("/app/inbox/{id}")));
    let page = b.get_text(&format!("/app/inbox/{id}")).await;
    assert!(page.contains("The assistant is answering."));
    let conv_id = id.parse().unwrap();
    assert!(
        !app.db
            .store
            .get_conversation(account, conv_id)
            .await
            .unwrap()
            .unread
    );
    let unread = b.get_text("/app/inbox?filter=unread").await;
    assert!(!unread.contains(&format!("/app/inbox/{id}")));

    // Take over: the next inbound text gets no AI reply.
    let r = b.post_form(&format!("/app/inbox/{id}/takeover"), &[]).await;
    assert_eq!(r.status(), 303);
    let page = b.get_text(&format!("/app/inbox/{id}")).await;
    assert!(page.contains("Taken over"));
    text_as_lead(&b, "Can someone call me?").await;
    drive(&app, at).await;
    let (_, msgs) = thread(&app).await;
    assert_eq!(outbound(&msgs).len(), 1, "no AI reply after take-over");
    assert!(app.db.store.pending_jobs(account).await.unwrap().is_empty());

    // A reply by hand goes through the gate and out.
    let r = b
        .post_form(&format!("/app/inbox/{id}/reply"), &[("body", "  ")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Message must not be empty")
    );
    let r = b
        .post_form(
            &format!("/app/inbox/{id}/reply"),
            &[("body", "Sure, I will call you at 3pm.")],
        )
        .await;
    assert_eq!(r.status(), 303);
    drive(&app, at).await;
    let (_, msgs) = thread(&app).await;
    let human = msgs
        .iter()
        .find(|m| m.body == "Sure, I will call you at 3pm.")
        .unwrap();
    assert_eq!(human.status, MessageStatus::Delivered);
    assert!(matches!(human.author, leadline_store::Author::Human { .. }));
    let page = b.get_text(&format!("/app/inbox/{id}")).await;
    assert!(page.contains("Dana Owner"), "the person is named as author");

    // After STOP, even a person's text is blocked, with the reason on the page.
    text_as_lead(&b, "STOP").await;
    drive(&app, at).await;
    let r = b
        .post_form(
            &format!("/app/inbox/{id}/reply"),
            &[("body", "Are you sure?")],
        )
        .await;
    assert_eq!(r.status(), 303);
    drive(&app, at).await;
    let (_, msgs) = thread(&app).await;
    let blocked = msgs.iter().find(|m| m.body == "Are you sure?").unwrap();
    assert_eq!(blocked.status, MessageStatus::Blocked);
    let page = b.get_text(&format!("/app/inbox/{id}")).await;
    assert!(
        page.contains("blocked — the lead opted out"),
        "the gate's reason is shown"
    );
    assert!(page.contains("status-blocked"));

    // Hand back.
    let r = b.post_form(&format!("/app/inbox/{id}/handback"), &[]).await;
    assert_eq!(r.status(), 303);
    let page = b.get_text(&format!("/app/inbox/{id}")).await;
    assert!(page.contains("The assistant is answering."));

    // A viewer reads but may not reply, take over or hand back.
    let viewer = member(&app, &b, "val@example.com", "Val Viewer", "viewer").await;
    let page = viewer.get_text(&format!("/app/inbox/{id}")).await;
    assert!(page.contains("Are you sure?") && !page.contains("Reply yourself"));
    for action in ["reply", "takeover", "handback"] {
        let r = viewer
            .post_form(&format!("/app/inbox/{id}/{action}"), &[("body", "hi")])
            .await;
        assert_eq!(r.status(), 403, "{action}");
    }
    let r = viewer
        .post_form("/app/sandbox/send", &[("lead", LEAD), ("body", "hi")])
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_conversation_api() {
    let app = TestApp::spawn().await;
    let b = with_sandbox(&app).await;
    let api = Api::new(&app, &api_key(&b, "inbox", "agent").await);
    let viewer = Api::new(&app, &api_key(&b, "read", "viewer").await);
    text_as_lead(&b, "Hi").await;
    let at = open_window(LEAD);
    drive(&app, at).await;

    let (status, list) = api.get_json("/conversations").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["lead"]["phone"], LEAD);
    assert_eq!(list[0]["unread"], true);
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let (_, unread) = api.get_json("/conversations?unread=true").await;
    assert_eq!(unread.as_array().unwrap().len(), 1);
    let (_, attention) = api.get_json("/conversations?needs_attention=true").await;
    assert!(attention.as_array().unwrap().is_empty());
    let (status, _) = api.get_json("/conversations?limit=0").await;
    assert_eq!(status, 422);

    let (status, detail) = api.get_json(&format!("/conversations/{id}")).await;
    assert_eq!(status, 200);
    let msgs = detail["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["direction"], "inbound");
    assert_eq!(msgs[0]["author"], "lead");
    assert_eq!(msgs[1]["author"], "ai");
    assert_eq!(msgs[1]["status"], "delivered");
    assert!(msgs[1]["gate_summary"].is_null() || msgs[1]["gate"]["decision"] == "send");

    let (status, conv) = api
        .send_json(
            Method::POST,
            &format!("/conversations/{id}/takeover"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(conv["ai_paused"], true);
    let (status, conv) = api
        .send_json(
            Method::POST,
            &format!("/conversations/{id}/handback"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(conv["ai_paused"], false);

    let path = format!("/conversations/{id}/messages");
    let (status, err) = api
        .send_json(Method::POST, &path, json!({"body": ""}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["fields"][0]["field"], "body");
    let (status, msg) = api
        .send_json(Method::POST, &path, json!({"body": "Calling you now."}))
        .await;
    assert_eq!(status, 202, "{msg}");
    assert_eq!(msg["author"], "human");
    assert_eq!(msg["author_name"], "Dana Owner");
    assert_eq!(msg["status"], "queued");
    let (_, detail) = api.get_json(&format!("/conversations/{id}")).await;
    assert_eq!(
        detail["conversation"]["ai_paused"], true,
        "a reply takes over"
    );

    for (method, p, body) in [
        (Method::POST, path.clone(), json!({"body": "hi"})),
        (
            Method::POST,
            format!("/conversations/{id}/takeover"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/conversations/{id}/handback"),
            json!({}),
        ),
        (
            Method::POST,
            "/channels".to_owned(),
            json!({"provider": "sandbox"}),
        ),
    ] {
        let (status, _) = viewer.send_json(method, &p, body).await;
        assert_eq!(status, 403, "{p}");
    }
    let (status, _) = viewer.get_json(&format!("/conversations/{id}")).await;
    assert_eq!(status, 200, "viewers read");
}

#[tokio::test]
async fn channels_page_and_api_validate_and_never_show_the_token() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme Insurance", "dana@example.com").await;
    let page = b.get_text("/app/channels").await;
    assert!(page.contains("Connect a Twilio number") && page.contains("Connect a Linq line"));

    let r = b
        .post_form(
            "/app/channels/twilio",
            &[
                ("name", "Main line"),
                ("phone_number", "555-01"),
                ("account_sid", "AC123"),
                ("auth_token", "secret-token-9876"),
                ("api_base_url", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("is not a valid phone number"));
    assert!(html.contains("f-phone_number-error") && html.contains("f-account_sid-error"));
    assert!(html.contains("value=\"Main line\"") && html.contains("value=\"555-01\""));
    assert!(
        !html.contains("secret-token-9876"),
        "the token is never echoed"
    );

    let r = b
        .post_form(
            "/app/channels/twilio",
            &[
                ("name", "Main line"),
                ("phone_number", "(512) 555-0100"),
                ("account_sid", "AC0123456789abcdef0123456789abcdef"),
                ("auth_token", "secret-token-9876"),
                ("api_base_url", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.get_text("/app/channels").await;
    assert!(page.contains("+15125550100"));
    assert!(page.contains("9876") && !page.contains("secret-token-9876"));
    assert!(page.contains(&format!("{}/webhooks/twilio/", app.base)));

    // The sandbox in one click, from the Channels page.
    let r = b.post_form("/app/channels/sandbox", &[]).await;
    assert_eq!(r.status(), 303);
    let page = b.get_text("/app/channels").await;
    assert!(page.contains("Your sandbox channel is ready"));

    let admin = Api::new(&app, &api_key(&b, "ops", "admin").await);
    let (status, channels) = admin.get_json("/channels").await;
    assert_eq!(status, 200);
    assert_eq!(channels.as_array().unwrap().len(), 2);
    assert!(!channels.to_string().contains("secret-token-9876"));
    let (status, err) = admin
        .send_json(
            Method::POST,
            "/channels",
            json!({"provider": "twilio", "name": "", "phone_number": "nope", "account_sid": "x", "auth_token": ""}),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["name", "phone_number", "account_sid", "auth_token"]
    );
    let (status, _) = admin
        .send_json(Method::POST, "/channels", json!({"provider": "linq"}))
        .await;
    assert_eq!(status, 422);
    // Credentials only ever go to Twilio (or a local mock), not to a host a tenant names.
    for base in [
        "https://evil.example",
        "http://api.twilio.com",
        "http://10.0.0.5",
    ] {
        let (status, err) = admin
            .send_json(
                Method::POST,
                "/channels",
                json!({"provider": "twilio", "name": "X", "phone_number": "+15125550112",
                       "account_sid": "AC0123456789abcdef0123456789abcdef",
                       "auth_token": "second-auth-token-5555", "api_base_url": base}),
            )
            .await;
        assert_eq!(status, 422, "{base}");
        assert_eq!(err["error"]["fields"][0]["field"], "api_base_url");
    }
    let (status, created) = admin
        .send_json(
            Method::POST,
            "/channels",
            json!({"provider": "twilio", "name": "Second", "phone_number": "+15125550111",
                   "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "second-auth-token-5555"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["credential"].as_str().unwrap().ends_with("5555"));
    assert!(!created.to_string().contains("second-auth-token-5555"));
    assert!(
        created["webhook_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/webhooks/twilio/", app.base))
    );

    // Agents read the channels but may not change them.
    let agent = member(&app, &b, "al@example.com", "Al Agent", "agent").await;
    let page = agent.get_text("/app/channels").await;
    assert!(!page.contains("Connect a Twilio number"));
    let r = agent.post_form("/app/channels/sandbox", &[]).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_inbox_filters_by_state_stage_and_name_or_number() {
    let app = TestApp::spawn().await;
    let b = with_sandbox(&app).await;
    for (lead, body) in [
        ("+15125550601", "Hi, I need a quote"),
        ("+15125550602", "Hello there"),
    ] {
        let r = b
            .post_form("/app/sandbox/send", &[("lead", lead), ("body", body)])
            .await;
        assert_eq!(r.status(), 303);
    }
    settle(&app).await;
    let account = account_of(&app, "dana@example.com").await;
    let store = &app.db.store;
    let first = store
        .find_lead_by_phone(
            account,
            &leadline_domain::E164Phone::parse("+15125550601").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .upsert_lead(
            account,
            &first.phone,
            leadline_store::LeadInput {
                name: Some("Dana Reyes".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .update_lead_fields(account, first.id, Some("qualified"), None)
        .await
        .unwrap();
    let conversation = store.lead_conversations(account, first.id).await.unwrap()[0].id;
    let r = b
        .post_form(&format!("/app/inbox/{conversation}/takeover"), &[])
        .await;
    assert_eq!(r.status(), 303);

    let all = b.get_text("/app/inbox").await;
    assert!(all.contains("Dana Reyes") && all.contains("+15125550602"));
    let taken = b.get_text("/app/inbox?filter=taken_over").await;
    assert!(taken.contains("Dana Reyes") && !taken.contains("+15125550602"));
    let active = b.get_text("/app/inbox?filter=active").await;
    assert!(!active.contains("Dana Reyes") && active.contains("+15125550602"));
    let qualified = b.get_text("/app/inbox?stage=qualified").await;
    assert!(qualified.contains("Dana Reyes") && !qualified.contains("+15125550602"));
    let by_name = b.get_text("/app/inbox?q=reyes").await;
    assert!(by_name.contains("Dana Reyes") && !by_name.contains("+15125550602"));
    let by_number = b.get_text("/app/inbox?q=0602").await;
    assert!(!by_number.contains("Dana Reyes") && by_number.contains("+15125550602"));
    // The tabs keep the search; an unknown stage is no filter; nothing found says so.
    assert!(
        by_name.contains("href=\"/app/inbox?filter=unread&#38;q=reyes\""),
        "{by_name}"
    );
    let odd = b.get_text("/app/inbox?stage=maybe").await;
    assert!(odd.contains("Dana Reyes") && odd.contains("+15125550602"));
    let none = b.get_text("/app/inbox?q=nobody").await;
    assert!(none.contains("No conversations match these filters"));

    // The API has the same filters.
    let api = Api::new(&app, &api_key(&b, "inbox", "agent").await);
    let (status, list) = api
        .get_json("/conversations?ai_active=false&stage=qualified&q=REYES")
        .await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], conversation.to_string());
    let (_, list) = api.get_json("/conversations?ai_active=true").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = api.get_json("/conversations?limit=1&offset=1").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, body) = api.get_json("/conversations?stage=maybe").await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "stage");
}

#[tokio::test]
async fn the_lead_panel_beside_a_thread_stays_compact_when_the_lead_has_two_threads() {
    let app = TestApp::spawn().await;
    let b = with_sandbox(&app).await;
    let r = b
        .post_form("/onboarding/industry", &[("industry", "insurance")])
        .await;
    assert_eq!(r.status(), 303);
    text_as_lead(&b, "I'm 42, married, two kids").await;
    settle(&app).await;
    drive(&app, open_window(LEAD)).await;
    let (conversation, _) = thread(&app).await;
    let page = b.get_text(&format!("/app/inbox/{conversation}")).await;
    assert!(
        page.contains("class=\"fields-list\"") && !page.contains("class=\"fields-table\""),
        "{}",
        between(&page, "lead-panel", "</section>").unwrap_or(&page)
    );

    // The same lead on a second channel: the side panel is still the narrow list.
    let account = account_of(&app, "dana@example.com").await;
    let store = &app.db.store;
    let lead = store
        .find_lead_by_phone(account, &leadline_domain::E164Phone::parse(LEAD).unwrap())
        .await
        .unwrap()
        .unwrap();
    let second = store
        .create_channel(leadline_store::NewChannel {
            id: leadline_domain::ids::ChannelId::new(),
            account_id: account,
            provider: "sandbox".into(),
            name: "Second line".into(),
            address: "+15125550109".into(),
            webhook_token: "second".into(),
            settings: json!({}),
            send_rate_per_minute: 60,
        })
        .await
        .unwrap();
    store
        .conversation_for(account, lead.id, second.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .lead_conversations(account, lead.id)
            .await
            .unwrap()
            .len(),
        2
    );
    let page = b.get_text(&format!("/app/inbox/{conversation}")).await;
    assert!(page.contains("class=\"fields-list\"") && !page.contains("class=\"fields-table\""));
    assert!(page.contains("Marital status"));
    // The lead's own page has the room for the full table.
    let page = b.get_text(&format!("/app/leads/{}", lead.id)).await;
    assert!(page.contains("class=\"fields-table\""));
}
