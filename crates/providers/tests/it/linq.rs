use crate::support::{LEAD, LINE, fold_statuses, http, outbound, send_with_retries};
use jiff::Timestamp;
use leadline_domain::E164Phone;
use leadline_providers::messaging::linq::{LinqConfig, LinqProvider, LinqWebhooks};
use leadline_providers::messaging::{
    DeliveryStatus, Disposition, InboundEvent, InboundWebhooks, MessagingProvider, SendError,
    SenderAddress, SignatureError,
};
use leadline_providers::mock::linq::{
    LinqMock, inbound_message_request, signed_webhook, status_request,
};
use leadline_providers::mock::{RetryAfter, Scripted};
use secrecy::SecretString;
use std::time::{Duration, Instant};
use url::Url;

const TOKEN: &str = "linq-test-token";
const SECRET: &str = "whsec_c2hoaC10aGlzLWlzLWEtdGVzdC1zZWNyZXQtdmFsdWU=";

async fn mock() -> LinqMock {
    LinqMock::start(TOKEN).await.unwrap()
}

fn provider_with(mock: &LinqMock, token: &str, timeout: Duration) -> LinqProvider {
    let config = LinqConfig::new(SecretString::from(token))
        .unwrap()
        .with_base_url(mock.base_url());
    LinqProvider::new(config, http(timeout))
}

fn provider(mock: &LinqMock) -> LinqProvider {
    provider_with(mock, TOKEN, Duration::from_secs(5))
}

fn public_url() -> Url {
    Url::parse("https://leadline.example.com/webhooks/linq/ch_1?version=2026-02-03").unwrap()
}

#[tokio::test]
async fn first_send_creates_the_chat_then_sends_into_it() {
    let mock = mock().await;
    let p = provider(&mock);
    let mut first = outbound(LINE, LEAD, "Hi! Thanks for reaching out.", "outbox-1");
    first.media_urls = vec![Url::parse("https://cdn.example.com/brochure.pdf").unwrap()];
    let receipt = p.send(&first).await.unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Queued);

    let second = outbound(LINE, LEAD, "When is a good time to talk?", "outbox-2");
    let receipt2 = p.send(&second).await.unwrap();
    assert_ne!(receipt.provider_message_id, receipt2.provider_message_id);

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/api/partner/v3/chats");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer linq-test-token")
    );
    assert_eq!(requests[0].header("idempotency-key"), Some("outbox-1"));
    let body = requests[0].json().unwrap();
    assert_eq!(body["from"], LINE);
    assert_eq!(body["to"], serde_json::json!([LEAD]));
    assert_eq!(body["message"]["idempotency_key"], "outbox-1");
    assert_eq!(
        body["message"]["parts"],
        serde_json::json!([
            {"type": "text", "value": "Hi! Thanks for reaching out."},
            {"type": "media", "url": "https://cdn.example.com/brochure.pdf"}
        ])
    );
    let chat = &mock.chats()[0];
    assert_eq!(
        requests[1].path,
        format!("/api/partner/v3/chats/{}/messages", chat.id)
    );
    assert_eq!(mock.chats().len(), 1);
    assert_eq!(mock.messages().len(), 2);
}

#[tokio::test]
async fn deleted_chat_falls_back_to_creating_one() {
    let mock = mock().await;
    let p = provider(&mock);
    p.send(&outbound(LINE, LEAD, "one", "k1")).await.unwrap();
    let old = mock.chats()[0].id.clone();
    mock.delete_chat(&old);
    p.send(&outbound(LINE, LEAD, "two", "k2")).await.unwrap();
    assert_eq!(mock.count_for_key("k2"), 1);
    assert_ne!(mock.chats()[0].id, old);
}

#[tokio::test]
async fn seeded_chat_from_an_inbound_thread_is_used() {
    let mock = mock().await;
    let p = provider(&mock);
    p.send(&outbound(LINE, LEAD, "one", "k1")).await.unwrap();
    let chat = mock.chats()[0].id.clone();
    // A fresh process learns the chat from an inbound event's thread_id.
    let fresh = provider(&mock);
    fresh.remember_chat(
        &SenderAddress::parse(LINE).unwrap(),
        &E164Phone::parse(LEAD).unwrap(),
        &chat,
    );
    fresh
        .send(&outbound(LINE, LEAD, "two", "k2"))
        .await
        .unwrap();
    assert!(
        mock.requests()[1]
            .path
            .ends_with(&format!("/chats/{chat}/messages"))
    );
}

#[tokio::test]
async fn server_error_then_success_sends_exactly_once() {
    let mock = mock().await;
    mock.fail_next(1, Scripted::ServerError);
    let msg = outbound(LINE, LEAD, "Following up on your quote", "outbox-3");
    let (result, waits) = send_with_retries(&provider(&mock), &msg, 4).await;
    result.unwrap();
    assert_eq!(waits.len(), 1);
    assert_eq!(mock.attempts_for_key("outbox-3"), 2);
    assert_eq!(mock.count_for_key("outbox-3"), 1);
    assert_eq!(mock.count_for(LEAD, "Following up on your quote"), 1);
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
    let msg = outbound(LINE, LEAD, "ping", "outbox-4");
    let (result, waits) = send_with_retries(&provider(&mock), &msg, 3).await;
    result.unwrap();
    assert_eq!(waits, [Duration::from_secs(1)]);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let body = mock.requests()[0].clone();
    assert_eq!(body.method, "POST");
    assert_eq!(mock.count_for_key("outbox-4"), 1);
}

#[tokio::test]
async fn opted_out_recipient() {
    let mock = mock().await;
    mock.opt_out(LEAD);
    let (result, waits) =
        send_with_retries(&provider(&mock), &outbound(LINE, LEAD, "hi", "k-stop"), 4).await;
    let err = result.unwrap_err();
    assert!(waits.is_empty());
    assert!(
        matches!(&err, SendError::OptedOut(f) if f.code.as_deref() == Some("2024") && f.http_status == Some(403))
    );
    assert_eq!(err.disposition(), Disposition::Permanent);
}

#[tokio::test]
async fn a_handle_sender_is_refused_before_any_request() {
    let mock = mock().await;
    let err = provider(&mock)
        .send(&outbound("agent@example.com", LEAD, "hi", "k-handle"))
        .await
        .unwrap_err();
    assert!(matches!(&err, SendError::Rejected(f) if f.http_status.is_none()));
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn bad_token_is_unauthorized() {
    let mock = mock().await;
    let p = provider_with(&mock, "nope", Duration::from_secs(5));
    let err = p
        .send(&outbound(LINE, LEAD, "hi", "k-auth"))
        .await
        .unwrap_err();
    assert!(matches!(&err, SendError::Unauthorized(f) if f.code.as_deref() == Some("2004")));
    assert!(!err.to_string().contains("nope"));
}

#[tokio::test]
async fn timeout_is_replayed_safely_by_idempotency_key() {
    let mock = mock().await;
    mock.fail_next(1, Scripted::AcceptThenStall(Duration::from_secs(2)));
    let p = provider_with(&mock, TOKEN, Duration::from_millis(300));
    let msg = outbound(LINE, LEAD, "Booked you for 3pm", "outbox-5");
    let (result, waits) = send_with_retries(&p, &msg, 4).await;
    let receipt = result.unwrap();
    assert_eq!(waits.len(), 1, "the timeout was retried");
    assert_eq!(mock.attempts_for_key("outbox-5"), 2);
    assert_eq!(
        mock.count_for_key("outbox-5"),
        1,
        "the replay sent nothing new"
    );
    assert_eq!(mock.messages()[0].id, receipt.provider_message_id);
}

#[tokio::test]
async fn signed_webhooks_verify_and_forgeries_do_not() {
    let w = LinqWebhooks::default();
    let secret = SecretString::from(SECRET);
    let request = inbound_message_request(
        &public_url(),
        SECRET,
        LEAD,
        "Is Saturday open?",
        "9c1f0a2e-aaaa-bbbb-cccc-ddddeeeeffff",
        Timestamp::now(),
    );
    w.verify(&request, &secret).unwrap();
    let event = w.parse(&request).unwrap();
    assert!(matches!(
        &event,
        InboundEvent::Message { body, from, thread_id, .. }
            if body == "Is Saturday open?" && from.as_str() == LEAD
                && thread_id.as_deref() == Some("9c1f0a2e-aaaa-bbbb-cccc-ddddeeeeffff")
    ));

    // Legacy headers alone still verify.
    let mut legacy = request.clone();
    for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        legacy.headers.remove(h);
    }
    w.verify(&legacy, &secret).unwrap();

    let mut altered = request.clone();
    altered.raw_body = bytes::Bytes::from(
        String::from_utf8(request.raw_body.to_vec())
            .unwrap()
            .replace("Saturday", "Sunday"),
    );
    assert_eq!(w.verify(&altered, &secret), Err(SignatureError::Mismatch));
    let forged = inbound_message_request(
        &public_url(),
        "whsec_YXR0YWNrZXI=",
        LEAD,
        "hi",
        "c",
        Timestamp::now(),
    );
    assert_eq!(w.verify(&forged, &secret), Err(SignatureError::Mismatch));
    let replayed = inbound_message_request(
        &public_url(),
        SECRET,
        LEAD,
        "hi",
        "c",
        Timestamp::now() - jiff::SignedDuration::from_secs(600),
    );
    assert!(matches!(
        w.verify(&replayed, &secret),
        Err(SignatureError::StaleTimestamp { .. })
    ));

    let typing = signed_webhook(
        &public_url(),
        SECRET,
        "chat.typing_indicator.started",
        serde_json::json!({"chat_id": "c"}),
        Timestamp::now(),
    );
    w.verify(&typing, &secret).unwrap();
    assert!(matches!(w.parse(&typing), Ok(InboundEvent::Ignored { .. })));
}

#[tokio::test]
async fn out_of_order_receipts_never_move_backwards() {
    let mock = mock().await;
    let receipt = provider(&mock)
        .send(&outbound(LINE, LEAD, "hello", "outbox-6"))
        .await
        .unwrap();
    let w = LinqWebhooks::default();
    let secret = SecretString::from(SECRET);
    let mut reports = Vec::new();
    for event in [
        "message.read",
        "message.delivered",
        "message.sent",
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
        let InboundEvent::Status {
            status,
            provider_message_id,
            ..
        } = w.parse(&request).unwrap()
        else {
            panic!("not a status");
        };
        assert_eq!(provider_message_id, receipt.provider_message_id);
        reports.push(status);
    }
    let (last, trail) = fold_statuses(receipt.status, reports);
    assert_eq!(last, DeliveryStatus::Read);
    assert_eq!(trail, [DeliveryStatus::Queued, DeliveryStatus::Read]);

    let failed = status_request(
        &public_url(),
        SECRET,
        "message.failed",
        "m-x",
        Timestamp::now(),
    );
    assert!(matches!(
        w.parse(&failed),
        Ok(InboundEvent::Status { status: DeliveryStatus::Failed, error_code: Some(c), .. }) if c == "4001"
    ));
}

#[tokio::test]
async fn mock_answers_in_linq_shapes() {
    let mock = mock().await;
    mock.fail_next(
        1,
        Scripted::RateLimited {
            retry_after: Some(RetryAfter::Seconds(45)),
        },
    );
    let client = http(Duration::from_secs(5));
    let url = format!("{}/v3/chats", mock.base_url());
    let limited = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(limited.headers()["retry-after"], "45");
    assert_eq!(limited.headers()["x-trace-id"].len(), 32);
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], 1007);
    assert_eq!(body["error"]["retry_after"], 45);
    assert_eq!(body["trace_id"].as_str().unwrap().len(), 32);

    let two_texts = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "from": LINE, "to": [LEAD],
            "message": {"parts": [{"type": "text", "value": "a"}, {"type": "text", "value": "b"}]}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(two_texts.status().as_u16(), 400);
    let body: serde_json::Value = two_texts.json().await.unwrap();
    assert_eq!(body["error"]["code"], 1004);

    let created = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "from": LINE, "to": [LEAD],
            "message": {"parts": [{"type": "text", "value": "hi"}], "idempotency_key": "raw-1"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["chat"]["message"]["delivery_status"], "queued");
    assert_eq!(body["chat"]["handles"].as_array().unwrap().len(), 2);
    assert_eq!(body["chat"]["is_group"], false);
}
