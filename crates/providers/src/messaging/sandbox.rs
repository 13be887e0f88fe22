//! The sandbox channel: try leadline without a provider. Messages go through the same
//! [`MessagingProvider`] trait as real ones and end in a sink (memory, or a callback the phone
//! simulator supplies) instead of a handset.
//!
//! Deterministic by design: the message id is derived from the idempotency key, so sending the
//! same logical message twice records it once and returns the same id (like Linq and Blooio). A
//! send answers `Sent`; the matching `Delivered` status is queued as an [`InboundEvent`] for the
//! pipeline to collect with [`SandboxProvider::take_events`], exactly as if a status callback had
//! arrived.

use super::{
    DeliveryStatus, InboundEvent, MessagingProvider, OutboundMessage, ProviderKind, SendError,
    SendReceipt, SenderAddress, check_sendable,
};
use async_trait::async_trait;
use leadline_domain::E164Phone;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use url::Url;

/// A message the sandbox "sent".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxMessage {
    pub provider_message_id: String,
    pub from: SenderAddress,
    pub to: E164Phone,
    pub body: String,
    pub media_urls: Vec<Url>,
    pub idempotency_key: String,
}

/// Called once per newly recorded message (the phone simulator's feed).
pub type SandboxSink = Arc<dyn Fn(&SandboxMessage) + Send + Sync>;

#[derive(Default)]
struct State {
    sent: Vec<SandboxMessage>,
    events: VecDeque<InboundEvent>,
}

#[derive(Default)]
pub struct SandboxProvider {
    state: Mutex<State>,
    sink: Option<SandboxSink>,
}

impl std::fmt::Debug for SandboxProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxProvider")
            .field("sent", &self.lock().sent.len())
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

impl SandboxProvider {
    pub fn new() -> Self {
        Self::default()
    }

    /// Also hands every new message to `sink`.
    pub fn with_sink(sink: SandboxSink) -> Self {
        Self {
            state: Mutex::default(),
            sink: Some(sink),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<SandboxMessage> {
        self.lock().sent.clone()
    }

    /// Drains the delivery reports produced by earlier sends, oldest first.
    pub fn take_events(&self) -> Vec<InboundEvent> {
        self.lock().events.drain(..).collect()
    }

    /// The id the sandbox gives the message with this idempotency key: `SB` + 32 hex digits.
    pub fn message_id(idempotency_key: &str) -> String {
        let digest = hex::encode(Sha256::digest(idempotency_key.as_bytes()));
        format!("SB{}", digest.get(..32).unwrap_or(&digest))
    }

    /// A lead's reply typed into the phone simulator, as the event a provider webhook would give.
    pub fn inbound(from: E164Phone, to: &str, body: &str) -> InboundEvent {
        // A fresh id each time: inbound storage is idempotent on it, and a process restart must
        // not reuse one.
        InboundEvent::Message {
            provider_message_id: format!("SBIN{}", uuid::Uuid::now_v7().simple()),
            from,
            to: to.to_owned(),
            body: body.to_owned(),
            media: Vec::new(),
            provider_opt_out: None,
            thread_id: None,
        }
    }
}

#[async_trait]
impl MessagingProvider for SandboxProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Sandbox
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        check_sendable(ProviderKind::Sandbox, msg)?;
        let id = Self::message_id(&msg.idempotency_key);
        let recorded = {
            let mut state = self.lock();
            if state.sent.iter().any(|m| m.provider_message_id == id) {
                None
            } else {
                let message = SandboxMessage {
                    provider_message_id: id.clone(),
                    from: msg.from.clone(),
                    to: msg.to.clone(),
                    body: msg.body.clone(),
                    media_urls: msg.media_urls.clone(),
                    idempotency_key: msg.idempotency_key.clone(),
                };
                state.sent.push(message.clone());
                state.events.push_back(InboundEvent::Status {
                    provider_message_id: id.clone(),
                    status: DeliveryStatus::Delivered,
                    error_code: None,
                    error_message: None,
                    idempotency_key: Some(msg.idempotency_key.clone()),
                });
                Some(message)
            }
        };
        // Outside the lock: the sink is foreign code.
        if let (Some(message), Some(sink)) = (recorded, &self.sink) {
            sink(&message);
        }
        Ok(SendReceipt {
            provider_message_id: id,
            status: DeliveryStatus::Sent,
        })
    }
}
