use crate::support::{
    LEAD, LINE, closed_port_url, fold_statuses, http, outbound, send_with_retries,
};
use leadline_providers::messaging::twilio::{
    CALLBACK_KEY_PARAM, TwilioAuth, TwilioConfig, TwilioProvider, TwilioWebhooks,
};
use leadline_providers::messaging::{
    DeliveryStatus, Disposition, InboundEvent, InboundWebhooks, MessagingProvider, SendError,
    SignatureError, WebhookRequest,
};
use leadline_providers::mock::twilio::{InboundSms, TwilioMock, inbound_request};
use leadline_providers::mock::{RetryAfter, Scripted, deliver};
use secrecy::SecretString;
use std::time::{Duration, Instant};
use url::Url;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token";

async fn mock() -> TwilioMock {
    TwilioMock::start(ACCOUNT, TOKEN).await.unwrap()
}

fn provider_with(mock: &TwilioMock, auth: TwilioAuth, timeout: Duration) -> TwilioProvider {
    let config = TwilioConfig::new(ACCOUNT, auth)
        .unwrap()
        .with_base_url(mock.base_url());
    TwilioProvider::new(config, http(timeout)).unwrap()
}

fn provider(mock: &TwilioMock) -> TwilioProvider {
    provider_with(
        mock,
        TwilioAuth::AuthToken(SecretString::from(TOKEN)),
        Duration::from_secs(5),
    )
}

fn callback_url() -> Url {
    Url::parse("https://leadline.example.com/webhooks/twilio/status?channel=ch_1").unwrap()
}

#[tokio::test]
async fn send_speaks_the_wire_format() {
    let mock = mock().await;
    let mut msg = outbound(
        LINE,
        LEAD,
        "Hi Sam, it's Dana from Acme Roofing.",
        "outbox-1",
    );
    msg.media_urls = vec![
        Url::parse("https://cdn.example.com/a.png").unwrap(),
        Url::parse("https://cdn.example.com/b.pdf").unwrap(),
    ];
    msg.status_callback = Some(callback_url());

    let receipt = provider(&mock).send(&msg).await.unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Queued);
    assert!(receipt.provider_message_id.starts_with("SM"));
    assert_eq!(receipt.provider_message_id.len(), 34);
    assert!(
        receipt.provider_message_id[2..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
    );

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        request
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    let form = request.form();
    let field = |name: &str| -> Vec<&str> {
        form.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(field("To"), [LEAD]);
    assert_eq!(field("From"), [LINE]);
    assert_eq!(field("Body"), ["Hi Sam, it's Dana from Acme Roofing."]);
    assert_eq!(
        field("MediaUrl"),
        [
            "https://cdn.example.com/a.png",
            "https://cdn.example.com/b.pdf"
        ]
    );
    let callback = Url::parse(field("StatusCallback")[0]).unwrap();
    let pairs: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("channel".into(), "ch_1".into())));
    assert!(pairs.contains(&(CALLBACK_KEY_PARAM.into(), "outbox-1".into())));

    let messages = mock.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].sid, receipt.provider_message_id);
    assert_eq!(messages[0].media_urls.len(), 2);
}

#[tokio::test]
async fn api_key_and_messaging_service() {
    let mock = mock().await;
    let key_sid = "SK0123456789abcdef0123456789abcdef";
    mock.add_api_key(key_sid, "key-secret");
    let p = provider_with(
        &mock,
        TwilioAuth::ApiKey {
            sid: key_sid.into(),
            secret: SecretString::from("key-secret"),
        },
        Duration::from_secs(5),
    );
    let msg = outbound("MG22222222222222222222222222222222", LEAD, "hello", "k-mg");
    let receipt = p.send(&msg).await.unwrap();
    // `accepted` through a Messaging Service is still "queued" in the unified lifecycle.
    assert_eq!(receipt.status, DeliveryStatus::Queued);
    let form = mock.requests()[0].form();
    assert!(form.contains(&(
        "MessagingServiceSid".into(),
        "MG22222222222222222222222222222222".into()
    )));
    assert!(!form.iter().any(|(k, _)| k == "From"));
}

#[tokio::test]
async fn server_error_then_created_sends_exactly_once() {
    let mock = mock().await;
    mock.fail_next(2, Scripted::ServerError);
    let msg = outbound(LINE, LEAD, "Are you still looking for a quote?", "outbox-2");
    let (result, waits) = send_with_retries(&provider(&mock), &msg, 5).await;
    let receipt = result.unwrap();
    assert_eq!(waits.len(), 2);
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(mock.messages().len(), 1);
    assert_eq!(
        mock.count_for(LEAD, "Are you still looking for a quote?"),
        1
    );
    assert!(mock.duplicates().is_empty());
    assert_eq!(mock.messages()[0].sid, receipt.provider_message_id);
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
    let msg = outbound(LINE, LEAD, "ping", "outbox-3");
    let started = Instant::now();
    let (result, waits) = send_with_retries(&provider(&mock), &msg, 3).await;
    result.unwrap();
    assert_eq!(waits, [Duration::from_secs(1)]);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(mock.messages().len(), 1);
}

#[tokio::test]
async fn rate_limit_with_http_date() {
    let mock = mock().await;
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3);
    mock.fail_next(
        1,
        Scripted::RateLimited {
            retry_after: Some(RetryAfter::Date(at)),
        },
    );
    let err = provider(&mock)
        .send(&outbound(LINE, LEAD, "ping", "k-date"))
        .await
        .unwrap_err();
    let SendError::RateLimited { fault, retry_after } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(fault.code.as_deref(), Some("20429"));
    let wait = retry_after.unwrap();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(3),
        "{wait:?}"
    );
}

#[tokio::test]
async fn unsubscribed_recipient_is_opted_out() {
    let mock = mock().await;
    mock.opt_out(LEAD);
    let msg = outbound(LINE, LEAD, "One more thing...", "outbox-4");
    let (result, waits) = send_with_retries(&provider(&mock), &msg, 5).await;
    let err = result.unwrap_err();
    assert!(waits.is_empty(), "an opt-out is never retried");
    let SendError::OptedOut(fault) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(fault.http_status, Some(400));
    assert_eq!(fault.code.as_deref(), Some("21610"));
    assert_eq!(fault.message, "Attempt to send to unsubscribed recipient");
    assert_eq!(err.disposition(), Disposition::Permanent);
    assert!(mock.messages().is_empty());
}

#[tokio::test]
async fn invalid_number_is_permanent() {
    let mock = mock().await;
    mock.fail_next(1, Scripted::InvalidNumber);
    let err = provider(&mock)
        .send(&outbound(LINE, LEAD, "hi", "k-inv"))
        .await
        .unwrap_err();
    assert!(matches!(&err, SendError::InvalidRecipient(f) if f.code.as_deref() == Some("21211")));
    assert_eq!(err.disposition(), Disposition::Permanent);
}

#[tokio::test]
async fn bad_credentials_are_unauthorized() {
    let mock = mock().await;
    let p = provider_with(
        &mock,
        TwilioAuth::AuthToken(SecretString::from("wrong")),
        Duration::from_secs(5),
    );
    let err = p
        .send(&outbound(LINE, LEAD, "hi", "k-auth"))
        .await
        .unwrap_err();
    let SendError::Unauthorized(fault) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(fault.http_status, Some(401));
    assert_eq!(fault.code.as_deref(), Some("20003"));
    assert!(!err.to_string().contains("wrong"), "no secret in errors");
    assert!(mock.messages().is_empty());
}

#[tokio::test]
async fn timeout_after_acceptance_is_ambiguous_and_not_resent() {
    let mock = mock().await;
    mock.fail_next(1, Scripted::AcceptThenStall(Duration::from_secs(2)));
    let p = provider_with(
        &mock,
        TwilioAuth::AuthToken(SecretString::from(TOKEN)),
        Duration::from_millis(300),
    );
    let mut msg = outbound(LINE, LEAD, "Your appointment is confirmed.", "outbox-5");
    msg.status_callback = Some(callback_url());
    let (result, waits) = send_with_retries(&p, &msg, 5).await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            SendError::Ambiguous {
                replay_safe: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.disposition(), Disposition::Reconcile);
    assert!(waits.is_empty(), "an ambiguous Twilio send is not retried");
    assert_eq!(mock.messages().len(), 1);

    // The status callback carries the outbox key, so the caller can match the message it never
    // learned the sid of.
    let sid = mock.messages()[0].sid.clone();
    let callback = mock.status_callback(&sid, "sent", None).unwrap();
    TwilioWebhooks
        .verify(&callback, &SecretString::from(TOKEN))
        .unwrap();
    let event = TwilioWebhooks.parse(&callback).unwrap();
    assert_eq!(
        event,
        InboundEvent::Status {
            provider_message_id: sid,
            status: DeliveryStatus::Sent,
            error_code: None,
            error_message: None,
            idempotency_key: Some("outbox-5".into()),
        }
    );
}

#[tokio::test]
async fn refused_connection_is_not_sent() {
    let config = TwilioConfig::new(ACCOUNT, TwilioAuth::AuthToken(SecretString::from(TOKEN)))
        .unwrap()
        .with_base_url(closed_port_url("/"));
    let p = TwilioProvider::new(config, http(Duration::from_secs(2))).unwrap();
    let err = p
        .send(&outbound(LINE, LEAD, "hi", "k-closed"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::NotSent(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn gateway_error_is_ambiguous() {
    let mock = mock().await;
    mock.fail_next(1, Scripted::BadGateway);
    let err = provider(&mock)
        .send(&outbound(LINE, LEAD, "hi", "k-502"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Ambiguous { replay_safe: false, fault } if fault.http_status == Some(502))
    );
}

#[tokio::test]
async fn signed_inbound_verifies_and_forgeries_do_not() {
    let public = Url::parse("https://leadline.example.com/webhooks/twilio/ch_1?t=abc").unwrap();
    let mut sms = InboundSms::new(LEAD, LINE, "Yes, tomorrow at 3 works");
    sms.media = vec![(
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(),
        "image/jpeg".into(),
    )];
    let request = inbound_request(&public, TOKEN, &sms);
    let secret = SecretString::from(TOKEN);
    TwilioWebhooks.verify(&request, &secret).unwrap();
    let event = TwilioWebhooks.parse(&request).unwrap();
    assert!(matches!(
        &event,
        InboundEvent::Message { body, from, media, provider_message_id, .. }
            if body == "Yes, tomorrow at 3 works" && from.as_str() == LEAD && media.len() == 1
                && *provider_message_id == sms.message_sid
    ));
    assert_eq!(
        TwilioWebhooks.reply(&event).body,
        leadline_providers::messaging::twilio::EMPTY_TWIML
    );

    // Altered body.
    let mut altered = request.clone();
    altered.raw_body = bytes::Bytes::from(
        String::from_utf8(request.raw_body.to_vec())
            .unwrap()
            .replace("tomorrow", "never"),
    );
    assert_eq!(
        TwilioWebhooks.verify(&altered, &secret),
        Err(SignatureError::Mismatch)
    );
    // Another channel's URL.
    let mut moved = request.clone();
    moved.public_url =
        Url::parse("https://leadline.example.com/webhooks/twilio/ch_2?t=abc").unwrap();
    assert_eq!(
        TwilioWebhooks.verify(&moved, &secret),
        Err(SignatureError::Mismatch)
    );
    // Signed with someone else's token.
    let forged = inbound_request(&public, "attacker-token", &sms);
    assert_eq!(
        TwilioWebhooks.verify(&forged, &secret),
        Err(SignatureError::Mismatch)
    );
}

#[tokio::test]
async fn out_of_order_status_callbacks_never_move_backwards() {
    let mock = mock().await;
    let mut msg = outbound(LINE, LEAD, "See you Thursday!", "outbox-6");
    msg.status_callback = Some(callback_url());
    let receipt = provider(&mock).send(&msg).await.unwrap();
    let sid = receipt.provider_message_id.clone();
    let secret = SecretString::from(TOKEN);

    // Arrival order: delivered first, then the stale ones, with a duplicate.
    let mut reports = Vec::new();
    for status in [
        "delivered",
        "sending",
        "sent",
        "queued",
        "delivered",
        "sent",
    ] {
        let callback = mock.status_callback(&sid, status, None).unwrap();
        TwilioWebhooks.verify(&callback, &secret).unwrap();
        let InboundEvent::Status {
            status,
            provider_message_id,
            ..
        } = TwilioWebhooks.parse(&callback).unwrap()
        else {
            panic!("not a status");
        };
        assert_eq!(provider_message_id, sid);
        reports.push(status);
    }
    let (last, trail) = fold_statuses(receipt.status, reports);
    assert_eq!(last, DeliveryStatus::Delivered);
    assert_eq!(trail, [DeliveryStatus::Queued, DeliveryStatus::Delivered]);

    // A failure that overtakes `sent` wins; a late `sent` cannot undo it.
    let failed = mock
        .status_callback(&sid, "undelivered", Some("30003"))
        .unwrap();
    let event = TwilioWebhooks.parse(&failed).unwrap();
    assert!(matches!(&event, InboundEvent::Status { error_code: Some(c), .. } if c == "30003"));
    let (last, _) = fold_statuses(
        DeliveryStatus::Queued,
        [DeliveryStatus::Undelivered, DeliveryStatus::Sent],
    );
    assert_eq!(last, DeliveryStatus::Undelivered);
}

/// The built webhook survives a real HTTP hop: what a receiver rebuilds still verifies.
#[tokio::test]
async fn delivered_webhook_verifies_at_the_receiver() {
    use axum::extract::State;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Option<(axum::http::HeaderMap, bytes::Bytes)>>>;
    async fn receive(
        State(seen): State<Seen>,
        headers: axum::http::HeaderMap,
        body: bytes::Bytes,
    ) -> &'static str {
        *seen.lock().unwrap() = Some((headers, body));
        leadline_providers::messaging::twilio::EMPTY_TWIML
    }
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/webhooks/twilio/{channel}", axum::routing::post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let public = Url::parse(&format!("http://{addr}/webhooks/twilio/ch_1?t=abc")).unwrap();
    let request = inbound_request(&public, TOKEN, &InboundSms::new(LEAD, LINE, "STOP"));
    let response = deliver(&http(Duration::from_secs(5)), &request)
        .await
        .unwrap();
    assert!(response.status().is_success());

    let (headers, body) = seen.lock().unwrap().take().unwrap();
    let rebuilt = WebhookRequest::new(reqwest::Method::POST, public, headers, body);
    TwilioWebhooks
        .verify(&rebuilt, &SecretString::from(TOKEN))
        .unwrap();
    server.abort();
}

/// What the mock answers, read raw: the shapes the adapter (and any later client) relies on.
#[tokio::test]
async fn mock_answers_in_twilio_shapes() {
    let mock = mock().await;
    let url = format!(
        "{}2010-04-01/Accounts/{ACCOUNT}/Messages.json",
        mock.base_url()
    );
    let client = http(Duration::from_secs(5));
    let post = |form: &'static [(&'static str, &'static str)]| {
        client
            .post(&url)
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(form)
            .send()
    };

    let created = post(&[("To", LEAD), ("From", LINE), ("Body", "Hello")])
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["num_segments"], "1");
    assert_eq!(body["num_media"], "0");
    assert_eq!(body["direction"], "outbound-api");
    assert_eq!(body["api_version"], "2010-04-01");
    assert!(body["error_code"].is_null() && body["date_sent"].is_null());
    let sid = body["sid"].as_str().unwrap();
    assert_eq!(
        body["uri"],
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json")
    );
    let created_at = body["date_created"].as_str().unwrap();
    assert!(created_at.ends_with(" +0000"), "{created_at}");
    jiff::fmt::rfc2822::parse(created_at).unwrap();

    let via_service = post(&[
        ("To", LEAD),
        ("MessagingServiceSid", "MG22222222222222222222222222222222"),
        ("Body", "Hello"),
    ])
    .await
    .unwrap();
    let body: serde_json::Value = via_service.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["num_segments"], "0");

    for (form, code) in [
        (&[("From", LINE), ("Body", "x")][..], 21604),
        (&[("To", LEAD), ("Body", "x")][..], 21603),
        (&[("To", LEAD), ("From", LINE)][..], 21602),
        (
            &[("To", "5125550147"), ("From", LINE), ("Body", "x")][..],
            21211,
        ),
    ] {
        let answer = client
            .post(&url)
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["code"], code);
        assert_eq!(body["status"], 400);
        assert_eq!(
            body["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
    }
    let unauthenticated = client
        .post(&url)
        .form(&[("To", LEAD)])
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    assert_eq!(mock.messages().len(), 2);
    assert_eq!(mock.requests().len(), 7);
}
