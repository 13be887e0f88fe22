//! The inbound side: a raw webhook request, its signature check, and the typed event it becomes.

use super::{DeliveryStatus, ProviderKind};
use bytes::Bytes;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use leadline_domain::E164Phone;
use reqwest::Method;
use reqwest::header::HeaderMap;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// A webhook exactly as the provider sent it. Signatures cover the raw bytes and the public URL,
/// so nothing here may be re-serialised or rebuilt from an internal address.
#[derive(Clone, Debug)]
pub struct WebhookRequest {
    /// The URL the provider called, as configured at the provider: scheme, host, port, path and
    /// query. Behind a proxy, rebuild it from the public origin, not the internal one.
    pub public_url: Url,
    pub method: Method,
    pub headers: HeaderMap,
    pub raw_body: Bytes,
}

impl WebhookRequest {
    pub fn new(method: Method, public_url: Url, headers: HeaderMap, raw_body: Bytes) -> Self {
        Self {
            public_url,
            method,
            headers,
            raw_body,
        }
    }

    /// The first value of a header, when it is visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// True when the body is `application/x-www-form-urlencoded`.
    pub(crate) fn is_form(&self) -> bool {
        self.header("content-type").is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
    }
}

/// A keyword-driven consent change the provider detected (Twilio Advanced Opt-Out `OptOutType`,
/// Linq `message.opt_out`/`message.opt_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutSignal {
    Stop,
    Start,
    Help,
}

impl OptOutSignal {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "STOP" => Some(Self::Stop),
            "START" => Some(Self::Start),
            "HELP" => Some(Self::Help),
            _ => None,
        }
    }
}

/// One media item of an inbound message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMedia {
    pub url: Url,
    /// Known for Twilio (`MediaContentType{N}`) and Linq (`mime_type`), not for Blooio.
    pub content_type: Option<String>,
}

/// What a verified webhook means to leadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundEvent {
    /// A lead texted us.
    Message {
        provider_message_id: String,
        from: E164Phone,
        /// Our number or handle that received it, as the provider names it (may be empty when the
        /// provider does not say; the webhook URL identifies the channel).
        to: String,
        body: String,
        media: Vec<InboundMedia>,
        /// Set when the provider itself matched an opt-out/opt-in/help keyword. The compliance
        /// intake still runs its own keyword rules on `body`.
        provider_opt_out: Option<OptOutSignal>,
        /// The provider's conversation id (Linq chat id), for replying into the same thread.
        thread_id: Option<String>,
    },
    /// A delivery update for a message we sent.
    Status {
        provider_message_id: String,
        status: DeliveryStatus,
        error_code: Option<String>,
        error_message: Option<String>,
        /// Our idempotency key when the provider echoes it (Linq `idempotency_key`, or the
        /// `leadline_key` Twilio status-callback tag): lets a send whose answer was lost be matched.
        idempotency_key: Option<String>,
    },
    /// The provider changed a handle's consent outside a message we parse (Linq
    /// `message.opt_out` / `message.opt_in`).
    ConsentChange {
        handle: E164Phone,
        signal: OptOutSignal,
    },
    /// A valid event leadline does not act on (typing indicators, reactions, group chats, senders
    /// that are not phone numbers).
    Ignored { reason: String },
}

/// Why a webhook's signature was refused. The web layer answers 401/403 and stores nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {header} header is malformed: {why}")]
    Malformed {
        header: &'static str,
        why: &'static str,
    },
    #[error("the signature does not match")]
    Mismatch,
    #[error("the body does not match its bodySHA256")]
    BodyHashMismatch,
    #[error(
        "the signature timestamp is {age_secs}s from now, outside the {tolerance_secs}s window"
    )]
    StaleTimestamp { age_secs: i64, tolerance_secs: u64 },
    #[error("the signing secret is unusable: {0}")]
    BadSecret(&'static str),
}

/// Why a (verified) webhook could not be read. The web layer answers 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookParseError {
    #[error("the body is not valid {expected}: {why}")]
    Body { expected: &'static str, why: String },
    #[error("the field {0} is missing")]
    MissingField(&'static str),
    #[error("the field {field} is invalid: {why}")]
    InvalidField { field: &'static str, why: String },
}

/// What to answer the provider once the event is safely stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookReply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: &'static str,
}

impl WebhookReply {
    pub const EMPTY_OK: Self = Self {
        status: 200,
        content_type: None,
        body: "",
    };
}

/// A provider's inbound webhooks: verify, then parse, then reply.
pub trait InboundWebhooks: Send + Sync {
    fn kind(&self) -> ProviderKind;
    /// Checks the signature against the channel's webhook secret (Twilio: the auth token).
    fn verify(&self, request: &WebhookRequest, secret: &SecretString)
    -> Result<(), SignatureError>;
    /// Reads the event. Call only after [`InboundWebhooks::verify`] succeeded.
    fn parse(&self, request: &WebhookRequest) -> Result<InboundEvent, WebhookParseError>;
    /// The HTTP answer for a parsed event.
    fn reply(&self, event: &InboundEvent) -> WebhookReply;
}

pub(crate) type HmacSha256 = Hmac<sha2::Sha256>;
pub(crate) type HmacSha1 = Hmac<sha1::Sha1>;

/// HMAC over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Option<HmacSha256> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).ok()?;
    for p in parts {
        mac.update(p);
    }
    Some(mac)
}

/// Rejects timestamps further than `tolerance_secs` from `now`, in either direction.
pub(crate) fn check_timestamp(
    ts: i64,
    now: jiff::Timestamp,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let age_secs = now.as_second().saturating_sub(ts);
    if age_secs.unsigned_abs() > tolerance_secs {
        return Err(SignatureError::StaleTimestamp {
            age_secs,
            tolerance_secs,
        });
    }
    Ok(())
}

/// Parses a sender into a phone number, or gives the event that ignores it.
pub(crate) fn sender_phone(raw: &str) -> Result<E164Phone, Box<InboundEvent>> {
    E164Phone::parse(raw).map_err(|_| {
        Box::new(InboundEvent::Ignored {
            reason: format!(
                "the sender '{}' is not a phone number",
                raw.chars().take(64).collect::<String>()
            ),
        })
    })
}

/// A JSON scalar (number or string) as a string; providers disagree on error-code types.
pub(crate) fn scalar_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
