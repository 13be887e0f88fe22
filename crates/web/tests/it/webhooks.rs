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

async fn messages(app: &TestApp) -> Vec<leadline_store::Message> {
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
