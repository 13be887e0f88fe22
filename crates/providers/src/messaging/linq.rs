//! Linq Partner API v3 (iMessage, RCS, SMS): send, webhooks (Standard Webhooks and the legacy
//! `X-Webhook-*` scheme), error mapping.
//!
//! Sending: Linq addresses messages to chats. The first message to a lead goes through
//! `POST /v3/chats` (`from`, `to`, `message`), which creates the chat and sends; the chat id it
//! returns is remembered per (from, to) so later messages use `POST /v3/chats/{id}/messages`. A
//! remembered chat that Linq no longer knows (404, code 2001) is forgotten and the send falls back
//! to creating the chat. The pipeline can seed the memory from inbound `thread_id`s
//! ([`LinqProvider::remember_chat`]).
//!
//! Idempotency: the outbox key goes in `message.idempotency_key` (Linq's documented field) and in
//! an `Idempotency-Key` header (documented on Linq's newer `POST /v3/messages`). Linq de-duplicates
//! on it, so timeouts and 5xx are safe to retry.

use super::http::{self, Answer};
use super::webhook::{check_timestamp, hmac_sha256, scalar_string, sender_phone};
use super::{
    ConfigError, DeliveryStatus, InboundEvent, InboundMedia, InboundWebhooks, MessagingProvider,
    OptOutSignal, OutboundMessage, ProviderKind, SendError, SendReceipt, SenderAddress,
    SignatureError, WebhookParseError, WebhookReply, WebhookRequest, check_sendable,
};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac;
use jiff::Timestamp;
use leadline_domain::E164Phone;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.linqapp.com/api/partner";
/// Signatures older (or newer) than this are refused, as Linq recommends.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

#[derive(Clone, Debug)]
pub struct LinqConfig {
    /// Up to and including `/api/partner`; paths below it start with `/v3`.
    pub base_url: Url,
    pub api_token: SecretString,
}

impl LinqConfig {
    pub fn new(api_token: SecretString) -> Result<Self, ConfigError> {
        let base_url = Url::parse(DEFAULT_BASE_URL).map_err(|e| ConfigError {
            provider: ProviderKind::Linq,
            field: "base_url",
            why: e.to_string(),
        })?;
        Ok(Self {
            base_url,
            api_token,
        })
    }

    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }
}

#[derive(Debug)]
pub struct LinqProvider {
    config: LinqConfig,
    http: reqwest::Client,
    /// (from, to) → chat id. Only an optimisation: losing it costs one chat-creating send.
    chats: Mutex<HashMap<(String, String), String>>,
}

#[derive(Serialize)]
struct MessageContent<'a> {
    parts: Vec<PartOut<'a>>,
    idempotency_key: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum PartOut<'a> {
    Text { value: &'a str },
    Media { url: &'a str },
}

#[derive(Serialize)]
struct CreateChat<'a> {
    from: &'a str,
    to: [&'a str; 1],
    message: MessageContent<'a>,
}

#[derive(Serialize)]
struct SendToChat<'a> {
    message: MessageContent<'a>,
}

#[derive(Deserialize)]
struct CreateChatAnswer {
    chat: CreatedChat,
}

#[derive(Deserialize)]
struct CreatedChat {
    id: String,
    message: SentMessage,
}

#[derive(Deserialize)]
struct SendAnswer {
    message: SentMessage,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
    delivery_status: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: Option<i64>,
    message: Option<String>,
    retry_after: Option<f64>,
}

impl LinqProvider {
    pub fn new(config: LinqConfig, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            chats: Mutex::new(HashMap::new()),
        }
    }

    /// Records the chat that joins `from` and `to`, so the next send goes straight into it.
    pub fn remember_chat(&self, from: &SenderAddress, to: &E164Phone, chat_id: &str) {
        self.chat_memory().insert(
            (from.as_str().to_owned(), to.as_str().to_owned()),
            chat_id.to_owned(),
        );
    }

    fn chat_memory(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        // A panic elsewhere cannot leave a half-written map entry; keep using it.
        self.chats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remembered_chat(&self, from: &str, to: &E164Phone) -> Option<String> {
        self.chat_memory()
            .get(&(from.to_owned(), to.as_str().to_owned()))
            .cloned()
    }

    fn forget_chat(&self, from: &str, to: &E164Phone) {
        self.chat_memory()
            .remove(&(from.to_owned(), to.as_str().to_owned()));
    }

    fn url(&self, path: &str) -> Result<Url, SendError> {
        http::join(&self.config.base_url, path).map_err(|e| {
            SendError::Rejected(http::fault(
                ProviderKind::Linq,
                None,
                None,
                format!("bad Linq base URL: {e}"),
            ))
        })
    }

    async fn post<B: Serialize + Sync>(
        &self,
        url: Url,
        body: &B,
        key: &str,
    ) -> Result<Answer, SendError> {
        let request = self
            .http
            .post(url)
            .bearer_auth(self.config.api_token.expose_secret())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(IDEMPOTENCY_HEADER, key)
            .json(body);
        http::execute(ProviderKind::Linq, request, true).await
    }
}

fn content(msg: &OutboundMessage) -> MessageContent<'_> {
    // Text first, then media: Linq forbids two text parts in a row, and there is at most one.
    let mut parts = Vec::with_capacity(1 + msg.media_urls.len());
    if !msg.body.is_empty() {
        parts.push(PartOut::Text { value: &msg.body });
    }
    parts.extend(
        msg.media_urls
            .iter()
            .map(|u| PartOut::Media { url: u.as_str() }),
    );
    MessageContent {
        parts,
        idempotency_key: &msg.idempotency_key,
    }
}

#[async_trait]
impl MessagingProvider for LinqProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Linq
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        check_sendable(ProviderKind::Linq, msg)?;
        // Linq answers a bad `from` with 1002, which would read as a bad recipient.
        if msg.from.as_phone().is_none() {
            return Err(SendError::Rejected(http::fault(
                ProviderKind::Linq,
                None,
                None,
                "Linq sends from an E.164 line; the sender is not a phone number".to_owned(),
            )));
        }
        let from = msg.from.as_str();
        if let Some(chat_id) = self.remembered_chat(from, &msg.to) {
            let encoded: String =
                url::form_urlencoded::byte_serialize(chat_id.as_bytes()).collect();
            let url = self.url(&format!("v3/chats/{encoded}/messages"))?;
            let body = SendToChat {
                message: content(msg),
            };
            let answer = self.post(url, &body, &msg.idempotency_key).await?;
            if (200..300).contains(&answer.status) {
                return serde_json::from_slice::<SendAnswer>(&answer.body)
                    .map(|a| receipt(a.message))
                    .map_err(|_| unreadable(&answer));
            }
            let error = classify(&answer);
            if !(answer.status == 404 && error.fault().code.as_deref() == Some("2001")) {
                return Err(error);
            }
            // The chat is gone at Linq; nothing was sent. Create a new one below.
            self.forget_chat(from, &msg.to);
        }
        let body = CreateChat {
            from,
            to: [msg.to.as_str()],
            message: content(msg),
        };
        let answer = self
            .post(self.url("v3/chats")?, &body, &msg.idempotency_key)
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(classify(&answer));
        }
        let created = serde_json::from_slice::<CreateChatAnswer>(&answer.body)
            .map_err(|_| unreadable(&answer))?;
        self.remember_chat(&msg.from, &msg.to, &created.chat.id);
        Ok(receipt(created.chat.message))
    }
}

fn receipt(message: SentMessage) -> SendReceipt {
    SendReceipt {
        provider_message_id: message.id,
        status: message
            .delivery_status
            .as_deref()
            .and_then(delivery_status)
            .unwrap_or(DeliveryStatus::Queued),
    }
}

fn unreadable(answer: &Answer) -> SendError {
    SendError::Ambiguous {
        fault: http::fault(
            ProviderKind::Linq,
            Some(answer.status),
            None,
            format!(
                "accepted, but the answer has no message id: {}",
                http::excerpt(&answer.body)
            ),
        ),
        replay_safe: true,
    }
}

/// Linq's `delivery_status` in the unified lifecycle.
pub fn delivery_status(raw: &str) -> Option<DeliveryStatus> {
    Some(match raw.trim() {
        "pending" | "queued" => DeliveryStatus::Queued,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => return None,
    })
}

/// Maps `{"success":false,"error":{status,code,message,retry_after?,doc_url},"trace_id"}` (§2.4).
fn classify(answer: &Answer) -> SendError {
    let detail = serde_json::from_slice::<ErrorEnvelope>(&answer.body)
        .ok()
        .and_then(|e| e.error);
    let code = detail.as_ref().and_then(|d| d.code);
    let body_retry_after = detail
        .as_ref()
        .and_then(|d| d.retry_after)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok());
    let message = detail
        .and_then(|d| d.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| http::excerpt(&answer.body));
    let fault = http::fault(
        ProviderKind::Linq,
        Some(answer.status),
        code.map(|c| c.to_string()),
        message,
    );
    match (answer.status, code) {
        (_, Some(2024)) => SendError::OptedOut(fault),
        (401, _) | (_, Some(2004)) => SendError::Unauthorized(fault),
        (429, _) | (_, Some(1007)) => SendError::RateLimited {
            fault,
            retry_after: http::retry_after(&answer.headers).or(body_retry_after),
        },
        (_, Some(1002 | 4005)) => SendError::InvalidRecipient(fault),
        // "Chat still being created, retry after a few seconds."
        (_, Some(2009)) => SendError::Unavailable(fault),
        // Linq already tried its maximum; another attempt is a new delivery, not a retry.
        (_, Some(3007)) => SendError::Rejected(fault),
        (408, _) => SendError::Unavailable(fault),
        (s, _) if s >= 500 => SendError::Unavailable(fault),
        _ => SendError::Rejected(fault),
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures

/// `v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}` with the `whsec_` secret's decoded
/// bytes as key (Standard Webhooks).
pub fn standard_signature(
    secret: &str,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let key = standard_key(secret)?;
    let prefix = format!("{webhook_id}.{timestamp}.");
    let mac = hmac_sha256(&key, &[prefix.as_bytes(), body])
        .ok_or(SignatureError::BadSecret("unusable HMAC key"))?;
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// Lowercase hex HMAC-SHA256 over `{timestamp}.{body}`, keyed with the secret string as given
/// (the deprecated `X-Webhook-Signature`).
pub fn legacy_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let prefix = format!("{timestamp}.");
    hmac_sha256(secret.as_bytes(), &[prefix.as_bytes(), body])
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

fn standard_key(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    BASE64
        .decode(encoded)
        .map_err(|_| SignatureError::BadSecret("a whsec_ secret must be base64 after the prefix"))
}

fn parse_timestamp(raw: &str, header: &'static str) -> Result<i64, SignatureError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| SignatureError::Malformed {
            header,
            why: "not a Unix timestamp",
        })
}

/// Linq's webhooks.
#[derive(Clone, Copy, Debug)]
pub struct LinqWebhooks {
    pub tolerance_secs: u64,
}

impl Default for LinqWebhooks {
    fn default() -> Self {
        Self {
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}

impl LinqWebhooks {
    /// Verifies at `now`. Standard Webhooks headers are preferred; the legacy `X-Webhook-*`
    /// scheme is used only when they are absent (a failing standard signature is never retried
    /// with the legacy one).
    pub fn verify_at(
        &self,
        request: &WebhookRequest,
        secret: &str,
        now: Timestamp,
    ) -> Result<(), SignatureError> {
        if let Some(signatures) = request.header("webhook-signature") {
            let id = request
                .header("webhook-id")
                .ok_or(SignatureError::MissingHeader("webhook-id"))?;
            let ts = request
                .header("webhook-timestamp")
                .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
            let ts = parse_timestamp(ts, "webhook-timestamp")?;
            check_timestamp(ts, now, self.tolerance_secs)?;
            let key = standard_key(secret)?;
            let prefix = format!("{id}.{ts}.");
            let mac = hmac_sha256(&key, &[prefix.as_bytes(), &request.raw_body])
                .ok_or(SignatureError::BadSecret("unusable HMAC key"))?;
            let matched = signatures
                .split_whitespace()
                .filter_map(|entry| entry.strip_prefix("v1,"))
                .filter_map(|b64| BASE64.decode(b64).ok())
                .any(|candidate| mac.clone().verify_slice(&candidate).is_ok());
            return if matched {
                Ok(())
            } else {
                Err(SignatureError::Mismatch)
            };
        }
        let signature = request
            .header("x-webhook-signature")
            .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
        let ts = request
            .header("x-webhook-timestamp")
            .ok_or(SignatureError::MissingHeader("X-Webhook-Timestamp"))?;
        let ts = parse_timestamp(ts, "X-Webhook-Timestamp")?;
        check_timestamp(ts, now, self.tolerance_secs)?;
        let signature = signature.trim();
        let signature = signature.strip_prefix("sha256=").unwrap_or(signature);
        let expected = hex::decode(signature).map_err(|_| SignatureError::Malformed {
            header: "X-Webhook-Signature",
            why: "not hex",
        })?;
        let prefix = format!("{ts}.");
        let mac = hmac_sha256(secret.as_bytes(), &[prefix.as_bytes(), &request.raw_body])
            .ok_or(SignatureError::BadSecret("unusable HMAC key"))?;
        mac.verify_slice(&expected)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// Reads a webhook (2026-02-03 envelope; the legacy 2025-01-01 `message.received` shape too).
    pub fn parse_event(&self, request: &WebhookRequest) -> Result<InboundEvent, WebhookParseError> {
        let envelope: Envelope =
            serde_json::from_slice(&request.raw_body).map_err(|e| WebhookParseError::Body {
                expected: "JSON",
                why: e.to_string(),
            })?;
        let event_type = envelope
            .event_type
            .or_else(|| request.header("x-webhook-event").map(str::to_owned))
            .ok_or(WebhookParseError::MissingField("event_type"))?;
        let data = match envelope.data {
            serde_json::Value::Null => EventData::default(),
            value => {
                serde_json::from_value::<EventData>(value).map_err(|e| WebhookParseError::Body {
                    expected: "a Linq event",
                    why: e.to_string(),
                })?
            }
        };
        Ok(match event_type.as_str() {
            "message.received" => received(data)?,
            "message.sent" => status(data, DeliveryStatus::Sent)?,
            "message.delivered" => status(data, DeliveryStatus::Delivered)?,
            "message.read" => status(data, DeliveryStatus::Read)?,
            "message.failed" => status(data, DeliveryStatus::Failed)?,
            "message.opt_out" => consent(data, OptOutSignal::Stop),
            "message.opt_in" => consent(data, OptOutSignal::Start),
            other => InboundEvent::Ignored {
                reason: format!("Linq event {other} is not handled"),
            },
        })
    }
}

#[derive(Deserialize)]
struct Envelope {
    event_type: Option<String>,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventData {
    id: Option<String>,
    message_id: Option<String>,
    direction: Option<String>,
    chat: Option<ChatRef>,
    chat_id: Option<String>,
    sender_handle: Option<HandleRef>,
    handle: Option<HandleRef>,
    parts: Option<Vec<PartIn>>,
    idempotency_key: Option<String>,
    code: Option<serde_json::Value>,
    reason: Option<String>,
    // The legacy 2025-01-01 shape.
    from: Option<String>,
    is_from_me: Option<bool>,
    message: Option<LegacyMessage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatRef {
    id: Option<String>,
    is_group: Option<bool>,
    owner_handle: Option<HandleRef>,
}

/// A handle is an object `{handle, service, …}` in current payloads; accept a bare string too.
#[derive(Deserialize)]
#[serde(untagged)]
enum HandleRef {
    Plain(String),
    Object { handle: String },
}

impl HandleRef {
    fn as_str(&self) -> &str {
        match self {
            Self::Plain(s) | Self::Object { handle: s } => s,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PartIn {
    #[serde(rename = "type")]
    kind: String,
    value: Option<String>,
    url: Option<String>,
    mime_type: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LegacyMessage {
    id: Option<String>,
    parts: Vec<PartIn>,
}

fn received(data: EventData) -> Result<InboundEvent, WebhookParseError> {
    if data.direction.as_deref() == Some("outbound") || data.is_from_me == Some(true) {
        return Ok(InboundEvent::Ignored {
            reason: "a message sent from our own line".into(),
        });
    }
    if data.chat.as_ref().and_then(|c| c.is_group) == Some(true) {
        return Ok(InboundEvent::Ignored {
            reason: "group chats are not handled".into(),
        });
    }
    let (legacy_id, legacy_parts) = match data.message {
        Some(m) => (m.id, m.parts),
        None => (None, Vec::new()),
    };
    let id = data
        .id
        .or(legacy_id)
        .ok_or(WebhookParseError::MissingField("data.id"))?;
    let sender = data
        .sender_handle
        .map(|h| h.as_str().to_owned())
        .or(data.from)
        .ok_or(WebhookParseError::MissingField("data.sender_handle"))?;
    let from = match sender_phone(&sender) {
        Ok(phone) => phone,
        Err(ignored) => return Ok(*ignored),
    };
    let mut texts = Vec::new();
    let mut media = Vec::new();
    for part in data.parts.unwrap_or(legacy_parts) {
        match part.kind.as_str() {
            "text" | "link" => texts.extend(part.value),
            "media" => {
                if let Some(raw) = part.url {
                    let url = Url::parse(&raw).map_err(|e| WebhookParseError::InvalidField {
                        field: "data.parts[].url",
                        why: e.to_string(),
                    })?;
                    media.push(InboundMedia {
                        url,
                        content_type: part.mime_type,
                    });
                }
            }
            _ => {}
        }
    }
    let (to, thread_id) = match data.chat {
        Some(chat) => (
            chat.owner_handle.map(|h| h.as_str().to_owned()),
            chat.id.or(data.chat_id),
        ),
        None => (None, data.chat_id),
    };
    Ok(InboundEvent::Message {
        provider_message_id: id,
        from,
        to: to.unwrap_or_default(),
        body: texts.join("\n"),
        media,
        provider_opt_out: None,
        thread_id,
    })
}

fn status(data: EventData, status: DeliveryStatus) -> Result<InboundEvent, WebhookParseError> {
    if data.direction.as_deref() == Some("inbound") {
        return Ok(InboundEvent::Ignored {
            reason: format!("a {status} report for an inbound message"),
        });
    }
    // message.failed names the message `message_id`; the other events carry it as `id`.
    let id = if status == DeliveryStatus::Failed {
        data.message_id.or(data.id)
    } else {
        data.id.or(data.message_id)
    }
    .ok_or(WebhookParseError::MissingField("data.id"))?;
    Ok(InboundEvent::Status {
        provider_message_id: id,
        status,
        error_code: data.code.as_ref().and_then(scalar_string),
        error_message: data.reason,
        idempotency_key: data.idempotency_key,
    })
}

/// Linq's opt-out events; their payload is not in the reference, so the handle is looked for in
/// the likely places and the event is ignored (with a reason) when none holds a phone number.
fn consent(data: EventData, signal: OptOutSignal) -> InboundEvent {
    let candidate = data
        .handle
        .or(data.sender_handle)
        .map(|h| h.as_str().to_owned())
        .or(data.from);
    match candidate.as_deref().map(E164Phone::parse) {
        Some(Ok(handle)) => InboundEvent::ConsentChange { handle, signal },
        _ => InboundEvent::Ignored {
            reason: "a Linq opt-out event without a phone handle".into(),
        },
    }
}

impl InboundWebhooks for LinqWebhooks {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Linq
    }

    fn verify(
        &self,
        request: &WebhookRequest,
        secret: &SecretString,
    ) -> Result<(), SignatureError> {
        self.verify_at(request, secret.expose_secret(), Timestamp::now())
    }

    fn parse(&self, request: &WebhookRequest) -> Result<InboundEvent, WebhookParseError> {
        self.parse_event(request)
    }

    fn reply(&self, _event: &InboundEvent) -> WebhookReply {
        WebhookReply::EMPTY_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::Method;
    use reqwest::header::{HeaderMap, HeaderValue};

    const SECRET: &str = "whsec_c2hoaC10aGlzLWlzLWEtdGVzdC1zZWNyZXQtdmFsdWU=";
    const BODY: &str = r#"{"event_type":"message.received"}"#;
    const VECTOR: &str = "v1,FreCi8ieBTsEshLr0kVqZ9fpnuuPwNxfaSlPzKg2Ah0=";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn request(headers: &[(&str, &str)], body: &str) -> WebhookRequest {
        let mut map = HeaderMap::new();
        map.insert("content-type", HeaderValue::from_static("application/json"));
        for (k, v) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        WebhookRequest::new(
            Method::POST,
            Url::parse("https://app.example.com/webhooks/linq?version=2026-02-03").unwrap(),
            map,
            Bytes::from(body.to_owned()),
        )
    }

    #[test]
    fn standard_webhooks_vector() {
        assert_eq!(
            standard_key(SECRET).unwrap(),
            b"shhh-this-is-a-test-secret-value"
        );
        assert_eq!(
            standard_signature(SECRET, "msg_2abc", 1_700_000_000, BODY.as_bytes()).unwrap(),
            VECTOR
        );
        let ok = request(
            &[
                ("webhook-id", "msg_2abc"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", VECTOR),
            ],
            BODY,
        );
        let w = LinqWebhooks::default();
        assert_eq!(w.verify_at(&ok, SECRET, at(1_700_000_060)), Ok(()));
        // Several signatures (key rotation): any v1 match is enough.
        let rotated = request(
            &[
                ("webhook-id", "msg_2abc"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", &format!("v1,AAAA v2,zzz {VECTOR}")),
            ],
            BODY,
        );
        assert_eq!(w.verify_at(&rotated, SECRET, at(1_700_000_000)), Ok(()));
        assert!(matches!(
            w.verify_at(&ok, SECRET, at(1_700_000_301)),
            Err(SignatureError::StaleTimestamp { .. })
        ));
        assert!(matches!(
            w.verify_at(&ok, SECRET, at(1_699_999_000)),
            Err(SignatureError::StaleTimestamp { .. })
        ));
        let altered = request(
            &[
                ("webhook-id", "msg_2abc"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", VECTOR),
            ],
            r#"{"event_type":"message.failed"}"#,
        );
        assert_eq!(
            w.verify_at(&altered, SECRET, at(1_700_000_000)),
            Err(SignatureError::Mismatch)
        );
        let other_id = request(
            &[
                ("webhook-id", "msg_other"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", VECTOR),
            ],
            BODY,
        );
        assert_eq!(
            w.verify_at(&other_id, SECRET, at(1_700_000_000)),
            Err(SignatureError::Mismatch)
        );
        let no_id = request(
            &[
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", VECTOR),
            ],
            BODY,
        );
        assert_eq!(
            w.verify_at(&no_id, SECRET, at(1_700_000_000)),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            w.verify_at(&request(&[], BODY), SECRET, at(1_700_000_000)),
            Err(SignatureError::MissingHeader("webhook-signature"))
        );
        assert!(matches!(
            w.verify_at(&ok, "whsec_***", at(1_700_000_000)),
            Err(SignatureError::BadSecret(_))
        ));
    }

    #[test]
    fn legacy_scheme() {
        let sig = legacy_signature(SECRET, 1_700_000_000, BODY.as_bytes());
        assert_eq!(sig.len(), 64);
        let w = LinqWebhooks::default();
        let req = request(
            &[
                ("x-webhook-event", "message.received"),
                ("x-webhook-timestamp", "1700000000"),
                ("x-webhook-signature", &sig),
            ],
            BODY,
        );
        assert_eq!(w.verify_at(&req, SECRET, at(1_700_000_000)), Ok(()));
        assert_eq!(
            w.verify_at(&req, "whsec_other", at(1_700_000_000)),
            Err(SignatureError::Mismatch)
        );
        // A request carrying both schemes is judged by the standard one only.
        let both = request(
            &[
                ("webhook-id", "msg_2abc"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", "v1,AAAA"),
                ("x-webhook-timestamp", "1700000000"),
                ("x-webhook-signature", &sig),
            ],
            BODY,
        );
        assert_eq!(
            w.verify_at(&both, SECRET, at(1_700_000_000)),
            Err(SignatureError::Mismatch)
        );
    }

    /// The 2026-02-03 envelope of §2.3.
    const RECEIVED: &str = r#"{
      "api_version": "v3", "webhook_version": "2026-02-03", "event_type": "message.received",
      "event_id": "ff654877-df18-4384-b3aa-928212533477", "created_at": "2026-05-08T16:21:12.793119775Z",
      "trace_id": "5619088b713532654fd0e6023b8c98e1", "partner_id": "7ac8224b-c41a-54fb-96ed-e28a94f97ff6",
      "data": {
        "id": "0f2b6f77-1111-2222-3333-444455556666", "direction": "inbound",
        "chat": {"id": "9c1f0a2e-aaaa-bbbb-cccc-ddddeeeeffff", "is_group": false},
        "sender_handle": {"handle": "+12025550147", "service": "iMessage"},
        "service": "iMessage",
        "parts": [{"type": "text", "value": "hello"}, {"type": "media", "url": "https://cdn.linqapp.com/a.png", "mime_type": "image/png"}],
        "sent_at": "2026-05-08T16:21:12.000Z"
      }
    }"#;

    #[test]
    fn parses_received() {
        let event = LinqWebhooks::default()
            .parse_event(&request(&[], RECEIVED))
            .unwrap();
        let InboundEvent::Message {
            provider_message_id,
            from,
            body,
            media,
            thread_id,
            to,
            ..
        } = event
        else {
            panic!("not a message: {event:?}");
        };
        assert_eq!(provider_message_id, "0f2b6f77-1111-2222-3333-444455556666");
        assert_eq!(from.as_str(), "+12025550147");
        assert_eq!(body, "hello");
        assert_eq!(to, "");
        assert_eq!(media.len(), 1);
        assert_eq!(media[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(
            thread_id.as_deref(),
            Some("9c1f0a2e-aaaa-bbbb-cccc-ddddeeeeffff")
        );
    }

    #[test]
    fn parses_legacy_received_and_receipts() {
        let w = LinqWebhooks::default();
        let legacy = r#"{"data":{"chat_id":"c1","from":"+12025550147","is_from_me":false,"message":{"id":"m1","parts":[{"type":"text","value":"yo"}]}}}"#;
        let event = w
            .parse_event(&request(&[("x-webhook-event", "message.received")], legacy))
            .unwrap();
        assert!(matches!(
            &event,
            InboundEvent::Message { provider_message_id, body, thread_id, .. }
                if provider_message_id == "m1" && body == "yo" && thread_id.as_deref() == Some("c1")
        ));

        let delivered = r#"{"event_type":"message.delivered","data":{"id":"m9","direction":"outbound","idempotency_key":"k9","delivered_at":"2026-05-08T16:21:13Z"}}"#;
        assert_eq!(
            w.parse_event(&request(&[], delivered)),
            Ok(InboundEvent::Status {
                provider_message_id: "m9".into(),
                status: DeliveryStatus::Delivered,
                error_code: None,
                error_message: None,
                idempotency_key: Some("k9".into()),
            })
        );
        let failed = r#"{"event_type":"message.failed","data":{"message_id":"m9","code":4001,"reason":"delivery failed","failed_at":"2026-05-08T16:21:13Z"}}"#;
        assert!(matches!(
            w.parse_event(&request(&[], failed)),
            Ok(InboundEvent::Status { status: DeliveryStatus::Failed, error_code: Some(c), error_message: Some(_), .. }) if c == "4001"
        ));
        let typing = r#"{"event_type":"chat.typing_indicator.started","data":{"chat_id":"c1"}}"#;
        assert!(matches!(
            w.parse_event(&request(&[], typing)),
            Ok(InboundEvent::Ignored { .. })
        ));
        let group = RECEIVED.replace(r#""is_group": false"#, r#""is_group": true"#);
        assert!(matches!(
            w.parse_event(&request(&[], &group)),
            Ok(InboundEvent::Ignored { .. })
        ));
        let email = RECEIVED.replace("+12025550147", "lead@example.com");
        assert!(matches!(
            w.parse_event(&request(&[], &email)),
            Ok(InboundEvent::Ignored { .. })
        ));
        let opt_out =
            r#"{"event_type":"message.opt_out","data":{"handle":{"handle":"+12025550147"}}}"#;
        assert!(matches!(
            w.parse_event(&request(&[], opt_out)),
            Ok(InboundEvent::ConsentChange {
                signal: OptOutSignal::Stop,
                ..
            })
        ));
        assert!(matches!(
            w.parse_event(&request(&[], "not json")),
            Err(WebhookParseError::Body { .. })
        ));
    }

    fn answer(status: u16, code: i64, retry_after_header: Option<&str>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(ra) = retry_after_header {
            headers.insert("retry-after", HeaderValue::from_str(ra).unwrap());
        }
        let body = format!(
            r#"{{"success":false,"error":{{"status":{status},"code":{code},"message":"m","retry_after":45,"doc_url":"https://docs.linqapp.com/error/codes/"}},"trace_id":"2eff5df5c6f688733c007523c4d61cd9"}}"#
        );
        Answer {
            status,
            headers,
            body: Bytes::from(body),
        }
    }

    #[test]
    fn error_mapping() {
        assert!(matches!(
            classify(&answer(403, 2024, None)),
            SendError::OptedOut(_)
        ));
        assert!(matches!(
            classify(&answer(401, 2004, None)),
            SendError::Unauthorized(_)
        ));
        assert!(matches!(
            classify(&answer(400, 1002, None)),
            SendError::InvalidRecipient(_)
        ));
        assert!(matches!(
            classify(&answer(400, 1004, None)),
            SendError::Rejected(_)
        ));
        assert!(matches!(
            classify(&answer(409, 2009, None)),
            SendError::Unavailable(_)
        ));
        assert!(matches!(
            classify(&answer(500, 3001, None)),
            SendError::Unavailable(_)
        ));
        assert!(matches!(
            classify(&answer(500, 3007, None)),
            SendError::Rejected(_)
        ));
        assert!(matches!(
            classify(&answer(429, 1007, Some("12"))),
            SendError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 12
        ));
        // Without the header, the body's retry_after counts.
        assert!(matches!(
            classify(&answer(429, 1007, None)),
            SendError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 45
        ));
    }
}
