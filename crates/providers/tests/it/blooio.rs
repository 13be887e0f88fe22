use crate::support::{LEAD, LINE, fold_statuses, http, outbound, send_with_retries};
use jiff::Timestamp;
use leadline_providers::messaging::blooio::{BlooioConfig, BlooioProvider, BlooioWebhooks};
use leadline_providers::messaging::{
    DeliveryStatus, Disposition, InboundEvent, InboundWebhooks, MessagingProvider, SendError,
    SignatureError,
};
use leadline_providers::mock::blooio::{BlooioMock, inbound_message_request, status_request};
use leadline_providers::mock::{RetryAfter, Scripted};
use secrecy::SecretString;
use std::time::{Duration, Instant};
use url::Url;

const KEY: &str = "bl_live_testkey";
const SECRET: &str = "whsec_test_secret";

async fn mock() -> BlooioMock {
    BlooioMock::start(KEY).await.unwrap()
}

fn provider_with(mock: &BlooioMock, key: &str, timeout: Duration) -> BlooioProvider {
    let config = BlooioConfig::new(SecretString::from(key))
        .unwrap()
        .with_base_url(mock.base_url());
    BlooioProvider::new(config, http(timeout))
}

fn provider(mock: &BlooioMock) -> BlooioProvider {
    provider_with(mock, KEY, Duration::from_secs(5))
}

fn public_url() -> Url {
    Url::parse("https://leadline.example.com/webhooks/blooio/ch_1").unwrap()
}

#[tokio::test]
async fn send_speaks_the_wire_format() {
    let mock = mock().await;
    let mut msg = outbound(LINE, LEAD, "Hi from Acme Solar", "outbox-1");
    msg.media_urls = vec![Url::parse("https://cdn.example.com/panel.jpg").unwrap()];
    let receipt = provider(&mock).send(&msg).await.unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Queued);
    assert_eq!(receipt.provider_message_id.len(), 21);

    let request = &mock.requests()[0];
    // The chat id is the URL-encoded number.
    assert_eq!(request.path, "/v2/api/chats/%2B15125550147/messages");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer bl_live_testkey")
    );
    assert_eq!(request.header("idempotency-key"), Some("outbox-1"));
    assert_eq!(request.header("x-from-number"), Some(LINE));
    assert_eq!(
        request.json().unwrap(),
        serde_json::json!({
            "text": "Hi from Acme Solar",
            "attachments": ["https://cdn.example.com/panel.jpg"],
            "from_number": LINE,
        })
    );
    let messages = mock.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].chat_id, LEAD);
    assert_eq!(messages[0].from_number.as_deref(), Some(LINE));
}

#[tokio::test]
async fn server_error_then_success_sends_exactly_once() {
    let mock = mock().await;
    mock.fail_next(1, Scripted::ServerError);
    let msg = outbound(LINE, LEAD, "Checking in", "outbox-2");
    let (result, waits) = send_with_retries(&provider(&mock), &msg, 4).await;
    result.unwrap();
    assert_eq!(waits.len(), 1);
    assert_eq!(mock.attempts_for_key("outbox-2"), 2);
    assert_eq!(mock.count_for_key("outbox-2"), 1);
    assert_eq!(mock.count_for(LEAD, "Checking in"), 1);
}

#[tokio::test]
async fn rate_limit_retry_after_is_honoured() {
    let mock = mock().await;
    mock.fail_next(
        1,
        Scripted::RateLimited {
            retry_after: Some(RetryAfter::Seconds(1)),
        },
    );
    let started = Instant::now();
    let (result, waits) = send_with_retries(
        &provider(&mock),
        &outbound(LINE, LEAD, "ping", "outbox-3"),
        3,
    )
    .await;
    result.unwrap();
    assert_eq!(waits, [Duration::from_secs(1)]);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(mock.count_for_key("outbox-3"), 1);
}

#[tokio::test]
async fn bad_key_is_unauthorized() {
    let mock = mock().await;
    let err = provider_with(&mock, "bl_live_wrong", Duration::from_secs(5))
        .send(&outbound(LINE, LEAD, "hi", "k"))
        .await
        .unwrap_err();
    assert!(matches!(&err, SendError::Unauthorized(f) if f.http_status == Some(401)));
    assert!(mock.messages().is_empty());
}

/// Blooio documents no opt-out error; its refusal is a permanent rejection with Blooio's text.
#[tokio::test]
async fn opted_out_refusal_is_permanent() {
    let mock = mock().await;
    mock.opt_out(LEAD);
    let (result, waits) =
        send_with_retries(&provider(&mock), &outbound(LINE, LEAD, "hi", "k"), 4).await;
    let err = result.unwrap_err();
    assert!(waits.is_empty());
    assert!(matches!(&err, SendError::Rejected(f) if f.message == "Recipient has opted out"));
    assert_eq!(err.disposition(), Disposition::Permanent);
}

#[tokio::test]
async fn timeout_is_replayed_safely_by_idempotency_key() {
    let mock = mock().await;
    mock.fail_next(1, Scripted::AcceptThenStall(Duration::from_secs(2)));
    let p = provider_with(&mock, KEY, Duration::from_millis(300));
    let (result, waits) =
        send_with_retries(&p, &outbound(LINE, LEAD, "See you soon", "outbox-4"), 4).await;
    let receipt = result.unwrap();
    assert_eq!(waits.len(), 1);
    assert_eq!(mock.attempts_for_key("outbox-4"), 2);
    assert_eq!(mock.count_for_key("outbox-4"), 1);
    assert_eq!(mock.messages()[0].message_id, receipt.provider_message_id);
}

#[tokio::test]
async fn signed_webhooks_verify_and_forgeries_do_not() {
    let w = BlooioWebhooks::default();
    let secret = SecretString::from(SECRET);
    let request = inbound_message_request(
        &public_url(),
        SECRET,
        LEAD,
        LINE,
        "What's the price?",
        Timestamp::now(),
    );
    w.verify(&request, &secret).unwrap();
    assert!(matches!(
        w.parse(&request).unwrap(),
        InboundEvent::Message { body, from, to, .. }
            if body == "What's the price?" && from.as_str() == LEAD && to == LINE
    ));
    let mut altered = request.clone();
    altered.raw_body = bytes::Bytes::from(
        String::from_utf8(request.raw_body.to_vec())
            .unwrap()
            .replace("price", "prize"),
    );
    assert_eq!(w.verify(&altered, &secret), Err(SignatureError::Mismatch));
    let forged = inbound_message_request(
        &public_url(),
        "whsec_guess",
        LEAD,
        LINE,
        "hi",
        Timestamp::now(),
    );
    assert_eq!(w.verify(&forged, &secret), Err(SignatureError::Mismatch));
    let stale = inbound_message_request(
        &public_url(),
        SECRET,
        LEAD,
        LINE,
        "hi",
        Timestamp::now() - jiff::SignedDuration::from_secs(600),
    );
    assert!(matches!(
        w.verify(&stale, &secret),
        Err(SignatureError::StaleTimestamp { .. })
    ));
}

#[tokio::test]
async fn out_of_order_receipts_never_move_backwards() {
    let mock = mock().await;
    let receipt = provider(&mock)
        .send(&outbound(LINE, LEAD, "hello", "outbox-5"))
        .await
        .unwrap();
    let w = BlooioWebhooks::default();
    let secret = SecretString::from(SECRET);
    let mut reports = Vec::new();
    for event in [
        "message.delivered",
        "message.sent",
        "message.failed",
        "message.delivered",
    ] {
        let request = status_request(
            &public_url(),
            SECRET,
            event,
            &receipt.provider_message_id,
            Timestamp::now(),
        );
        w.verify(&request, &secret).unwrap();
        let InboundEvent::Status { status, .. } = w.parse(&request).unwrap() else {
            panic!("not a status");
        };
        reports.push(status);
    }
    // A failure after delivery is a contradicting report: the first word stands.
    let (last, trail) = fold_statuses(receipt.status, reports);
    assert_eq!(last, DeliveryStatus::Delivered);
    assert_eq!(trail, [DeliveryStatus::Queued, DeliveryStatus::Delivered]);
}

#[tokio::test]
async fn mock_answers_in_blooio_shapes() {
    let mock = mock().await;
    let client = http(Duration::from_secs(5));
    let url = format!("{}/chats/%2B15125550147/messages", mock.base_url());
    let sent = client
        .post(&url)
        .bearer_auth(KEY)
        .header("Idempotency-Key", "raw-1")
        .json(&serde_json::json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success());
    let body: serde_json::Value = sent.json().await.unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["message_ids"], serde_json::json!([body["message_id"]]));

    // The replay answers with the original id and sends nothing.
    let replay: serde_json::Value = client
        .post(&url)
        .bearer_auth(KEY)
        .header("Idempotency-Key", "raw-1")
        .json(&serde_json::json!({"text": "hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replay["message_id"], body["message_id"]);
    assert_eq!(mock.messages().len(), 1);

    let empty = client
        .post(&url)
        .bearer_auth(KEY)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status().as_u16(), 400);
    let body: serde_json::Value = empty.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "text or attachments required", "status": 400})
    );
}
