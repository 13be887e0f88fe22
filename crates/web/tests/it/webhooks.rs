//! Provider webhooks end to end: a Twilio channel connected through the dashboard, signed
//! inbound webhooks posted over HTTP, the reply sent to the Twilio mock by the workers, and the
//! signed status callback that marks it delivered.

use crate::helpers::*;
use leadline_providers::mock::twilio::{InboundSms, TwilioMock, inbound_request};
use leadline_store::{Direction, MessageStatus};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-0123456789";
const OUR_NUMBER: &str = "+15125550100";
const LEAD: &str = "+15125550147";

/// Signs up, connects a Twilio number pointed at the mock, and returns its webhook token.
async fn twilio_channel(app: &TestApp, mock: &TwilioMock) -> (Browser, String) {
    let b = app.signed_up("Acme Insurance", "dana@example.com").await;
    let r = b
        .post_form(
            "/app/channels/twilio",
            &[
                ("name", "Main line"),
                ("phone_number", OUR_NUMBER),
                ("account_sid", SID),
                ("auth_token", TOKEN),
                ("api_base_url", mock.base_url().as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/app/channels?notice=channel_connected");
    let page = b.get_text("/app/channels").await;
    let prefix = format!("{}/webhooks/twilio/", app.base);
    let token = between(&page, &prefix, "<")
        .expect("the webhook URL is shown")
        .to_owned();
    (b, token)
}

/// Every stored message, once the worker has finished what the webhooks accepted.
async fn messages(app: &TestApp) -> Vec<leadline_store::Message> {
    settle(app).await;
    let account = account_of(app, "dana@example.com").await;
    let mut all = Vec::new();
    for c in app
        .db
        .store
        .list_conversations(account, false, false, 100)
        .await
        .unwrap()
    {
        all.extend(app.db.store.messages(account, c.id).await.unwrap());
    }
    all
}

#[tokio::test]
async fn a_signed_twilio_webhook_is_stored_once_answered_and_tracked_to_delivery() {
    let app = TestApp::spawn().await;
    let mock = TwilioMock::start(SID, TOKEN).await.unwrap();
    let (b, token) = twilio_channel(&app, &mock).await;
    let url: url::Url = format!("{}/webhooks/twilio/{token}", app.base)
        .parse()
        .unwrap();

    let mut sms = InboundSms::new(LEAD, OUR_NUMBER, "Hi, I saw your ad about life insurance");
    sms.message_sid = format!("SM{:032}", 1);
    let request = inbound_request(&url, TOKEN, &sms);
    let r = post_webhook(&request).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/xml");
    assert!(r.text().await.unwrap().contains("<Response/>"));
    let stored = messages(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].direction, Direction::Inbound);

    // Twilio retries: still 2xx, still one message.
    let r = post_webhook(&request).await;
    assert_eq!(r.status(), 200);
    assert_eq!(messages(&app).await.len(), 1);

    // The channel page shows when the last webhook arrived.
    let page = b.get_text("/app/channels").await;
    assert!(!page.contains(">never<"), "last webhook time shown");

    // The workers answer through the Twilio mock.
    drive(&app, open_window(LEAD)).await;
    let sent = mock.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, LEAD);
    assert_eq!(sent[0].from.as_deref(), Some(OUR_NUMBER));
    assert!(sent[0].body.as_deref().unwrap().contains("Acme Insurance"));
    let reply = messages(&app)
        .await
        .into_iter()
        .find(|m| m.direction == Direction::Outbound)
        .unwrap();
    assert_eq!(reply.status, MessageStatus::Sent);

    // Twilio reports delivery to the status callback URL, signed: it lands on our webhook.
    let callback = mock
        .status_callback(&sent[0].sid, "delivered", None)
        .expect("a status callback URL was given");
    assert!(callback.public_url.as_str().starts_with(url.as_str()));
    let r = post_webhook(&callback).await;
    assert_eq!(r.status(), 200);
    let reply = messages(&app)
        .await
        .into_iter()
        .find(|m| m.direction == Direction::Outbound)
        .unwrap();
    assert_eq!(reply.status, MessageStatus::Delivered);

    // The inbox shows the conversation, and its thread the reply with its status.
    let inbox = b.get_text("/app/inbox").await;
    assert!(inbox.contains(LEAD));
    let id = reply.conversation_id;
    let thread = b.get_text(&format!("/app/inbox/{id}")).await;
    assert!(thread.contains("Hi, I saw your ad about life insurance"));
    assert!(thread.contains("Acme Insurance"));
    assert!(thread.contains("AI assistant"));
    assert!(thread.contains("status-delivered"));
}

/// A 2xx means the event is durably stored; an opt-out is in force before the 2xx.
#[tokio::test]
async fn plain_texts_are_stored_as_jobs_and_stop_is_decided_before_the_answer() {
    let app = TestApp::spawn().await;
    let mock = TwilioMock::start(SID, TOKEN).await.unwrap();
    let (_b, token) = twilio_channel(&app, &mock).await;
    let url: url::Url = format!("{}/webhooks/twilio/{token}", app.base)
        .parse()
        .unwrap();
    let account = account_of(&app, "dana@example.com").await;
    let lead = leadline_domain::E164Phone::parse(LEAD).unwrap();

    // Concurrent plain texts: every one answered 200 and waiting as an accepted job.
    let mut posts = Vec::new();
    for i in 0..20 {
        let mut sms = InboundSms::new(LEAD, OUR_NUMBER, &format!("question number {i}"));
        sms.message_sid = format!("SM{:032}", 100 + i);
        let request = inbound_request(&url, TOKEN, &sms);
        posts.push(tokio::spawn(async move {
            post_webhook(&request).await.status()
        }));
    }
    for p in posts {
        assert_eq!(p.await.unwrap(), 200);
    }
    let accepted = app.db.store.pending_jobs(account).await.unwrap();
    assert_eq!(
        accepted
            .iter()
            .filter(|j| j.kind == leadline_engine::ingest::INBOUND_JOB)
            .count(),
        20
    );
    assert_eq!(
        messages(&app).await.len(),
        20,
        "the worker stores each once"
    );
    assert!(
        app.db
            .store
            .pending_jobs(account)
            .await
            .unwrap()
            .iter()
            .all(|j| j.kind != leadline_engine::ingest::INBOUND_JOB)
    );

    // STOP is decided before the answer: opted out with no worker having run.
    let mut stop = InboundSms::new(LEAD, OUR_NUMBER, "STOP");
    stop.message_sid = format!("SM{:032}", 999);
    assert_eq!(
        post_webhook(&inbound_request(&url, TOKEN, &stop))
            .await
            .status(),
        200
    );
    assert!(
        app.db
            .store
            .compliance_state(account, &lead)
            .await
            .unwrap()
            .opted_out
    );
}

#[tokio::test]
async fn forged_unknown_and_malformed_webhooks_store_nothing() {
    let app = TestApp::spawn().await;
    let mock = TwilioMock::start(SID, TOKEN).await.unwrap();
    let (_b, token) = twilio_channel(&app, &mock).await;
    let url: url::Url = format!("{}/webhooks/twilio/{token}", app.base)
        .parse()
        .unwrap();
    let sms = InboundSms::new(LEAD, OUR_NUMBER, "forged");

    // Signed with the wrong secret.
    let r = post_webhook(&inbound_request(&url, "not-the-auth-token", &sms)).await;
    assert_eq!(r.status(), 403);
    // No signature at all.
    let mut unsigned = inbound_request(&url, TOKEN, &sms);
    unsigned.headers.remove("x-twilio-signature");
    assert_eq!(post_webhook(&unsigned).await.status(), 403);
    // Signed for another URL (a query string Twilio never called).
    let other: url::Url = format!("{url}?x=1").parse().unwrap();
    let mut moved = inbound_request(&other, TOKEN, &sms);
    moved.public_url = url.clone();
    assert_eq!(post_webhook(&moved).await.status(), 403);
    assert!(messages(&app).await.is_empty(), "nothing stored");
    let account = account_of(&app, "dana@example.com").await;
    let lead = leadline_domain::E164Phone::parse(LEAD).unwrap();
    assert!(
        app.db
            .store
            .find_lead_by_phone(account, &lead)
            .await
            .unwrap()
            .is_none()
    );

    // Unknown token, unknown provider, the sandbox (which has no webhooks).
    for path in [
        "/webhooks/twilio/not-a-token".to_owned(),
        format!("/webhooks/nexmo/{token}"),
        format!("/webhooks/sandbox/{token}"),
        format!("/webhooks/linq/{token}"),
    ] {
        let u: url::Url = format!("{}{path}", app.base).parse().unwrap();
        let r = post_webhook(&inbound_request(&u, TOKEN, &sms)).await;
        assert_eq!(r.status(), 404, "{path}");
    }

    // Correctly signed but unreadable: 400.
    let params = vec![("AccountSid".to_owned(), SID.to_owned())];
    let bad = leadline_providers::mock::twilio::signed_form_request(&url, TOKEN, &params);
    assert_eq!(post_webhook(&bad).await.status(), 400);
    assert!(messages(&app).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Linq and Blooio: connected through the dashboard, webhooks checked with their own signing
// secret (not the API credential).

mod imessage {
    use super::*;
    use jiff::Timestamp;
    use leadline_providers::mock::blooio::{self as blooio_mock, BlooioMock};
    use leadline_providers::mock::linq::{self as linq_mock, LinqMock};
    use reqwest::Method;
    use serde_json::json;

    const LINQ_TOKEN: &str = "linq-api-token-4321";
    const BLOOIO_KEY: &str = "bl_live_key-8765";
    const SECRET: &str = "whsec_c2hoaC10aGlzLWlzLWEtdGVzdC1zZWNyZXQtdmFsdWU=";
    const OTHER_SECRET: &str = "whsec_bm90LXRoZS1zZWNyZXQ=";

    /// Connects a `provider` line through its form and returns the channel's webhook URL.
    async fn connect(
        app: &TestApp,
        b: &Browser,
        provider: &str,
        fields: &[(&str, &str)],
    ) -> url::Url {
        let r = b
            .post_form(&format!("/app/channels/{provider}"), fields)
            .await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert_eq!(location(&r), "/app/channels?notice=channel_connected");
        let page = b.get_text("/app/channels").await;
        let prefix = format!("{}/webhooks/{provider}/", app.base);
        let token = between(&page, &prefix, "<").expect("the webhook URL is shown");
        format!("{prefix}{token}").parse().unwrap()
    }

    async fn linq_channel(app: &TestApp, b: &Browser, mock: &LinqMock) -> url::Url {
        connect(
            app,
            b,
            "linq",
            &[
                ("name", "iMessage line"),
                ("phone_number", OUR_NUMBER),
                ("api_token", LINQ_TOKEN),
                ("webhook_secret", SECRET),
                ("api_base_url", mock.base_url().as_str()),
            ],
        )
        .await
    }

    async fn blooio_channel(app: &TestApp, b: &Browser, mock: &BlooioMock) -> url::Url {
        connect(
            app,
            b,
            "blooio",
            &[
                ("name", "Blooio line"),
                ("sender", OUR_NUMBER),
                ("api_key", BLOOIO_KEY),
                ("webhook_secret", SECRET),
                ("api_base_url", mock.base_url().as_str()),
            ],
        )
        .await
    }

    #[tokio::test]
    async fn a_signed_linq_webhook_is_stored_answered_and_tracked_a_forged_one_is_refused() {
        let app = TestApp::spawn().await;
        let mock = LinqMock::start(LINQ_TOKEN).await.unwrap();
        let b = app.signed_up("Acme Insurance", "dana@example.com").await;
        let url = linq_channel(&app, &b, &mock).await;

        // Forged (another secret, or signed with the API token): 403, nothing stored.
        for secret in [OTHER_SECRET, LINQ_TOKEN] {
            let forged = linq_mock::inbound_message_request(
                &url,
                secret,
                LEAD,
                "forged",
                "chat-1",
                Timestamp::now(),
            );
            assert_eq!(post_webhook(&forged).await.status(), 403, "{secret}");
        }
        assert!(messages(&app).await.is_empty(), "nothing stored");

        let inbound = linq_mock::inbound_message_request(
            &url,
            SECRET,
            LEAD,
            "Hi, I saw your ad about life insurance",
            "chat-1",
            Timestamp::now(),
        );
        assert_eq!(post_webhook(&inbound).await.status(), 200);
        let stored = messages(&app).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].direction, Direction::Inbound);
        assert_eq!(stored[0].body, "Hi, I saw your ad about life insurance");
        // Linq retries: still one message.
        assert_eq!(post_webhook(&inbound).await.status(), 200);
        assert_eq!(messages(&app).await.len(), 1);

        drive(&app, open_window(LEAD)).await;
        let sent = mock.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].from, OUR_NUMBER);
        assert!(sent[0].text.as_deref().unwrap().contains("Acme Insurance"));
        assert_eq!(
            mock.count_for_key(sent[0].idempotency_key.as_deref().unwrap()),
            1
        );

        let receipt = linq_mock::status_request(
            &url,
            SECRET,
            "message.delivered",
            &sent[0].id,
            Timestamp::now(),
        );
        assert_eq!(post_webhook(&receipt).await.status(), 200);
        let reply = messages(&app)
            .await
            .into_iter()
            .find(|m| m.direction == Direction::Outbound)
            .unwrap();
        assert_eq!(reply.status, MessageStatus::Delivered);
    }

    #[tokio::test]
    async fn a_signed_blooio_webhook_is_stored_answered_and_tracked_a_forged_one_is_refused() {
        let app = TestApp::spawn().await;
        let mock = BlooioMock::start(BLOOIO_KEY).await.unwrap();
        let b = app.signed_up("Acme Insurance", "dana@example.com").await;
        let url = blooio_channel(&app, &b, &mock).await;

        for secret in [OTHER_SECRET, BLOOIO_KEY] {
            let forged = blooio_mock::inbound_message_request(
                &url,
                secret,
                LEAD,
                OUR_NUMBER,
                "forged",
                Timestamp::now(),
            );
            assert_eq!(post_webhook(&forged).await.status(), 403, "{secret}");
        }
        let mut unsigned = blooio_mock::inbound_message_request(
            &url,
            SECRET,
            LEAD,
            OUR_NUMBER,
            "unsigned",
            Timestamp::now(),
        );
        unsigned.headers.remove("x-blooio-signature");
        assert_eq!(post_webhook(&unsigned).await.status(), 403);
        assert!(messages(&app).await.is_empty(), "nothing stored");

        let inbound = blooio_mock::inbound_message_request(
            &url,
            SECRET,
            LEAD,
            OUR_NUMBER,
            "Hi, I saw your ad about life insurance",
            Timestamp::now(),
        );
        assert_eq!(post_webhook(&inbound).await.status(), 200);
        let stored = messages(&app).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].direction, Direction::Inbound);

        drive(&app, open_window(LEAD)).await;
        let sent = mock.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].chat_id, LEAD);
        assert_eq!(sent[0].from_number.as_deref(), Some(OUR_NUMBER));
        assert_eq!(
            mock.count_for_key(sent[0].idempotency_key.as_deref().unwrap()),
            1
        );

        let receipt = blooio_mock::status_request(
            &url,
            SECRET,
            "message.delivered",
            &sent[0].message_id,
            Timestamp::now(),
        );
        assert_eq!(post_webhook(&receipt).await.status(), 200);
        let reply = messages(&app)
            .await
            .into_iter()
            .find(|m| m.direction == Direction::Outbound)
            .unwrap();
        assert_eq!(reply.status, MessageStatus::Delivered);
    }

    #[tokio::test]
    async fn linq_and_blooio_forms_and_api_validate_mask_secrets_and_need_an_admin() {
        let app = TestApp::spawn().await;
        let b = app.signed_up("Acme Insurance", "dana@example.com").await;

        // Page: errors next to the fields, typed values kept, secrets never echoed.
        let r = b
            .post_form(
                "/app/channels/linq",
                &[
                    ("name", "iMessage line"),
                    ("phone_number", "dana@example.com"),
                    ("api_token", "linq-secret-token-1111"),
                    ("webhook_secret", "whsec_***not base64***"),
                    ("api_base_url", "https://evil.example"),
                ],
            )
            .await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        for field in ["phone_number", "webhook_secret", "api_base_url"] {
            assert!(html.contains(&format!("f-{field}-error")), "{field}");
        }
        assert!(!html.contains("f-api_token-error"));
        assert!(
            html.contains("value=\"iMessage line\"") && html.contains("value=\"dana@example.com\"")
        );
        assert!(!html.contains("linq-secret-token-1111") && !html.contains("not base64***"));

        let r = b
            .post_form(
                "/app/channels/blooio",
                &[
                    ("name", ""),
                    ("sender", "agent @example.com"),
                    ("api_key", ""),
                    ("webhook_secret", ""),
                    ("api_base_url", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        for field in ["name", "sender", "api_key", "webhook_secret"] {
            assert!(html.contains(&format!("f-{field}-error")), "{field}");
        }
        assert!(html.contains("value=\"agent @example.com\""));

        // A Blooio line may send from an iMessage handle; secrets show masked only.
        let r = b
            .post_form(
                "/app/channels/blooio",
                &[
                    ("name", "Handle line"),
                    ("sender", "agent@example.com"),
                    ("api_key", "bl_live_secret-key-2222"),
                    ("webhook_secret", "whsec_blooio-secret-3333"),
                    ("api_base_url", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        let page = b.get_text("/app/channels").await;
        assert!(page.contains("agent@example.com"));
        assert!(page.contains(&format!("{}/webhooks/blooio/", app.base)));
        assert!(page.contains("2222") && !page.contains("bl_live_secret-key-2222"));
        assert!(page.contains("3333") && !page.contains("whsec_blooio-secret-3333"));

        // API: created with masked secrets; the same checks; only an admin may connect.
        let admin = Api::new(&app, &api_key(&b, "ops", "admin").await);
        let (status, created) = admin
            .send_json(
                Method::POST,
                "/channels",
                json!({"provider": "linq", "name": "Linq", "phone_number": "+15125550111",
                       "api_token": "linq-api-token-4444", "webhook_secret": SECRET}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["provider"], "linq");
        assert!(created["credential"].as_str().unwrap().ends_with("4444"));
        assert!(created["webhook_secret"].as_str().is_some());
        assert!(!created.to_string().contains("linq-api-token-4444"));
        assert!(!created.to_string().contains(SECRET));
        assert!(
            created["webhook_url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/webhooks/linq/", app.base))
        );
        let (status, err) = admin
            .send_json(
                Method::POST,
                "/channels",
                json!({"provider": "blooio", "name": "B", "sender": "+15125550112",
                       "api_key": "k", "webhook_secret": "s",
                       "api_base_url": "http://backend.blooio.com"}),
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(err["error"]["fields"][0]["field"], "api_base_url");
        let (status, err) = admin
            .send_json(Method::POST, "/channels", json!({"provider": "linq"}))
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
            ["name", "phone_number", "api_token", "webhook_secret"]
        );
        let (status, listed) = admin.get_json("/channels").await;
        assert_eq!(status, 200);
        assert!(!listed.to_string().contains("linq-api-token-4444"));

        let agent_key = api_key(&b, "agent-key", "agent").await;
        let agent = Api::new(&app, &agent_key);
        let (status, _) = agent
            .send_json(
                Method::POST,
                "/channels",
                json!({"provider": "blooio", "name": "B", "sender": "+15125550113",
                       "api_key": "k", "webhook_secret": "s"}),
            )
            .await;
        assert_eq!(status, 403);
        let member = member(&app, &b, "al@example.com", "Al Agent", "agent").await;
        let page = member.get_text("/app/channels").await;
        assert!(!page.contains("Connect a Linq line"));
        let r = member
            .post_form(
                "/app/channels/linq",
                &[
                    ("name", "X"),
                    ("phone_number", "+15125550114"),
                    ("api_token", "t"),
                    ("webhook_secret", SECRET),
                ],
            )
            .await;
        assert_eq!(r.status(), 403);
    }
}

#[tokio::test]
async fn a_test_send_goes_through_the_provider_and_respects_the_do_not_contact_list() {
    let app = TestApp::spawn().await;
    let mock = TwilioMock::start(SID, TOKEN).await.unwrap();
    let (b, _) = twilio_channel(&app, &mock).await;
    let account = account_of(&app, "dana@example.com").await;
    let channel = app.db.store.list_channels(account).await.unwrap()[0].id;
    let path = format!("/app/channels/{channel}/test");

    let r = b.post_form(&path, &[("to", "(512) 555-0199")]).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(location(&r), "/app/channels?notice=test_sent");
    let sent = mock.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+15125550199");
    assert_eq!(sent[0].from.as_deref(), Some(OUR_NUMBER));
    assert!(
        sent[0]
            .body
            .as_deref()
            .unwrap()
            .contains("test text from leadline")
    );
    let audit = b.get_text("/app/audit").await;
    assert!(audit.contains("channel.test_send"));

    // Not a number, or a number on the do-not-contact list: said next to the field, not sent.
    let r = b.post_form(&path, &[("to", "call me")]).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("is not a phone number") && page.contains("value=\"call me\""));
    let r = b
        .post_form(
            "/app/compliance/suppressions",
            &[("phone", "+15125550198"), ("reason", "asked")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = b.post_form(&path, &[("to", "+15125550198")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("do-not-contact list"));
    // A provider that refuses says why.
    mock.fail_next(1, leadline_providers::mock::Scripted::InvalidNumber);
    let r = b.post_form(&path, &[("to", "+15125550197")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("could not be texted"));
    assert_eq!(mock.messages().len(), 1, "only the first was sent");

    // Agents cannot.
    let agent = member(&app, &b, "al@example.com", "Al", "agent").await;
    assert_eq!(
        agent
            .post_form(&path, &[("to", "+15125550199")])
            .await
            .status(),
        403
    );
}
