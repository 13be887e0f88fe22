//! The provider-neutral messaging model and the one trait every adapter implements.
//!
//! Outbound: the pipeline builds an [`OutboundMessage`] (one per logical message, carrying the
//! outbox row's idempotency key) and calls [`MessagingProvider::send`]. The result is a
//! [`SendReceipt`] or a [`SendError`] whose [`Disposition`] says whether a retry is safe.
//!
//! Inbound: the web layer wraps the raw webhook in a [`WebhookRequest`], checks it with
//! [`InboundWebhooks::verify`] and turns it into an [`InboundEvent`] with
//! [`InboundWebhooks::parse`]. Status callbacks feed [`DeliveryStatus::advance`], which never moves
//! a message backwards when callbacks arrive out of order.

mod backoff;
pub mod blooio;
mod error;
mod http;
pub mod linq;
pub mod sandbox;
mod status;
pub mod twilio;
mod webhook;

pub use backoff::{Backoff, backoff};
pub use error::{Disposition, ProviderFault, SendError, parse_retry_after};
pub use status::DeliveryStatus;
pub use webhook::{
    InboundEvent, InboundMedia, InboundWebhooks, OptOutSignal, SignatureError, WebhookParseError,
    WebhookReply, WebhookRequest,
};

use async_trait::async_trait;
use leadline_domain::E164Phone;
use serde::{Deserialize, Serialize};
use std::fmt;
use url::Url;

/// Which provider a channel talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Twilio,
    Linq,
    Blooio,
    /// The built-in sandbox channel: no provider, messages stay inside leadline.
    Sandbox,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Twilio => "twilio",
            Self::Linq => "linq",
            Self::Blooio => "blooio",
            Self::Sandbox => "sandbox",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a message is sent from: an E.164 number, a Twilio Messaging Service SID (`MG…`), or an
/// iMessage handle such as an email address. Trimmed, non-empty, no whitespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SenderAddress(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{input}' is not a usable sender address: {why}")]
pub struct InvalidSender {
    pub input: String,
    pub why: &'static str,
}

impl SenderAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidSender> {
        let trimmed = raw.trim();
        let err = |why| InvalidSender {
            input: trimmed.chars().take(80).collect(),
            why,
        };
        if trimmed.is_empty() {
            return Err(err("it is empty"));
        }
        if trimmed.len() > 320 {
            return Err(err("it is longer than 320 characters"));
        }
        // A number goes out in canonical E.164 so providers and mocks compare it exactly.
        if trimmed.starts_with('+') {
            return E164Phone::parse(trimmed)
                .map(Self::from)
                .map_err(|_| err("it starts with + but is not a valid E.164 number"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("it may not contain spaces or control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as a phone number, when it is one.
    pub fn as_phone(&self) -> Option<E164Phone> {
        if self.0.starts_with('+') {
            E164Phone::parse(&self.0).ok()
        } else {
            None
        }
    }
}

impl From<E164Phone> for SenderAddress {
    fn from(phone: E164Phone) -> Self {
        Self(phone.into())
    }
}

impl TryFrom<String> for SenderAddress {
    type Error = InvalidSender;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SenderAddress> for String {
    fn from(value: SenderAddress) -> Self {
        value.0
    }
}

impl fmt::Display for SenderAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One logical outbound message, as the outbox holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMessage {
    pub from: SenderAddress,
    pub to: E164Phone,
    pub body: String,
    pub media_urls: Vec<Url>,
    /// The outbox row's key. Linq and Blooio de-duplicate on it; Twilio has no such mechanism (see
    /// [`twilio`]).
    pub idempotency_key: String,
    /// Where the provider should post delivery updates, when it supports a per-message URL
    /// (Twilio). Linq and Blooio use account-level webhook subscriptions instead.
    pub status_callback: Option<Url>,
}

/// What the provider said when it accepted a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    pub provider_message_id: String,
    pub status: DeliveryStatus,
}

/// Sends one message through one provider. Implementations never retry on their own: the caller
/// decides from [`SendError::disposition`].
#[async_trait]
pub trait MessagingProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError>;
}

/// The inbound-webhook handler for a provider; `None` for the sandbox, whose simulator calls the
/// pipeline directly (see [`sandbox::SandboxProvider::inbound`]).
pub fn webhooks_for(kind: ProviderKind) -> Option<Box<dyn InboundWebhooks>> {
    match kind {
        ProviderKind::Twilio => Some(Box::new(twilio::TwilioWebhooks)),
        ProviderKind::Linq => Some(Box::new(linq::LinqWebhooks::default())),
        ProviderKind::Blooio => Some(Box::new(blooio::BlooioWebhooks::default())),
        ProviderKind::Sandbox => None,
    }
}

/// A provider configuration that cannot work (bad base URL, malformed account id).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {provider} configuration: {field} {why}")]
pub struct ConfigError {
    pub provider: ProviderKind,
    pub field: &'static str,
    pub why: String,
}

/// Checks done by every adapter before any I/O, so an unsendable message fails the same way
/// everywhere and never reaches a provider.
pub(crate) fn check_sendable(
    provider: ProviderKind,
    msg: &OutboundMessage,
) -> Result<(), SendError> {
    let reject = |why: &str| {
        Err(SendError::Rejected(ProviderFault {
            provider,
            http_status: None,
            code: None,
            message: why.to_owned(),
        }))
    };
    if msg.idempotency_key.trim().is_empty() {
        return reject("the message has no idempotency key");
    }
    if msg.body.is_empty() && msg.media_urls.is_empty() {
        return reject("the message has neither a body nor media");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_address_forms() {
        assert_eq!(
            SenderAddress::parse(" +1 512 555 0123 ").map(String::from),
            Ok("+15125550123".to_owned())
        );
        assert_eq!(
            SenderAddress::parse("MG22222222222222222222222222222222")
                .map(|s| s.as_phone().is_none()),
            Ok(true)
        );
        assert!(SenderAddress::parse("agent@example.com").is_ok());
        assert!(SenderAddress::parse("").is_err());
        assert!(SenderAddress::parse("a b").is_err());
        assert!(SenderAddress::parse("+0").is_err());
    }
}
