use crate::support::{LEAD, LINE, fold_statuses, outbound};
use leadline_domain::E164Phone;
use leadline_providers::messaging::sandbox::{SandboxMessage, SandboxProvider};
use leadline_providers::messaging::{
    DeliveryStatus, InboundEvent, MessagingProvider, ProviderKind, SendError,
};
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn sends_through_the_trait_and_reports_delivery() {
    let fed: Arc<Mutex<Vec<SandboxMessage>>> = Arc::default();
    let sink = fed.clone();
    let sandbox = SandboxProvider::with_sink(Arc::new(move |m: &SandboxMessage| {
        sink.lock().unwrap().push(m.clone());
    }));
    let provider: &dyn MessagingProvider = &sandbox;
    assert_eq!(provider.kind(), ProviderKind::Sandbox);

    let msg = outbound(LINE, LEAD, "Welcome to the sandbox", "outbox-1");
    let receipt = provider.send(&msg).await.unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Sent);
    assert_eq!(
        receipt.provider_message_id,
        SandboxProvider::message_id("outbox-1")
    );

    // A resend of the same logical message is recorded once and keeps its id.
    let again = provider.send(&msg).await.unwrap();
    assert_eq!(again, receipt);
    assert_eq!(sandbox.sent().len(), 1);
    assert_eq!(fed.lock().unwrap().len(), 1);

    let events = sandbox.take_events();
    assert_eq!(
        events,
        [InboundEvent::Status {
            provider_message_id: receipt.provider_message_id.clone(),
            status: DeliveryStatus::Delivered,
            error_code: None,
            error_message: None,
            idempotency_key: Some("outbox-1".into()),
        }]
    );
    assert!(sandbox.take_events().is_empty());
    let (last, _) = fold_statuses(receipt.status, [DeliveryStatus::Delivered]);
    assert_eq!(last, DeliveryStatus::Delivered);

    let reply = SandboxProvider::inbound(E164Phone::parse(LEAD).unwrap(), LINE, "STOP");
    assert!(matches!(reply, InboundEvent::Message { body, .. } if body == "STOP"));
}

#[tokio::test]
async fn refuses_what_no_provider_would_send() {
    let sandbox = SandboxProvider::new();
    let err = sandbox
        .send(&outbound(LINE, LEAD, "", "outbox-2"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Rejected(_)));
    let err = sandbox
        .send(&outbound(LINE, LEAD, "hi", " "))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Rejected(_)));
    assert!(sandbox.sent().is_empty());
}
