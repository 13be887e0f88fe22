//! Blooio v2 (iMessage): send, `X-Blooio-Signature` webhooks, error mapping.
//!
//! Sending: `POST {base}/chats/{url-encoded E.164}/messages` with `text`, `attachments` and the
//! sender line. The reference is unsure how v2 names the sender (`from_number` in the body per the
//! community adapter, an `X-From-Number` header in later docs), so both are sent.
//!
//! Idempotency: the outbox key goes in the `Idempotency-Key` header; Blooio answers a replay with
//! the original `message_id`, so timeouts and 5xx are safe to retry.
//!
//! Blooio documents no error codes and no opt-out signal: errors are mapped by HTTP status, and
//! an opt-out refusal (if Blooio has one) arrives as [`SendError::Rejected`] with Blooio's text.

use super::http::{self, Answer};
use super::webhook::{check_timestamp, hmac_sha256, scalar_string, sender_phone};
use super::{
    ConfigError, DeliveryStatus, InboundEvent, InboundMedia, InboundWebhooks, MessagingProvider,
    OutboundMessage, ProviderKind, SendError, SendReceipt, SignatureError, WebhookParseError,
    WebhookReply, WebhookRequest, check_sendable,
};
use async_trait::async_trait;
use hmac::Mac;
use jiff::Timestamp;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://backend.blooio.com/v2/api";
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
pub const SIGNATURE_HEADER: &str = "X-Blooio-Signature";
pub const EVENT_HEADER: &str = "X-Blooio-Event";
pub const MESSAGE_ID_HEADER: &str = "X-Blooio-Message-Id";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
pub const FROM_NUMBER_HEADER: &str = "X-From-Number";

#[derive(Clone, Debug)]
pub struct BlooioConfig {
    /// Up to and including `/v2/api`.
    pub base_url: Url,
    /// `bl_live_…`.
    pub api_key: SecretString,
}

impl BlooioConfig {
    pub fn new(api_key: SecretString) -> Result<Self, ConfigError> {
        let base_url = Url::parse(DEFAULT_BASE_URL).map_err(|e| ConfigError {
            provider: ProviderKind::Blooio,
            field: "base_url",
            why: e.to_string(),
        })?;
        Ok(Self { base_url, api_key })
    }

    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }
}

#[derive(Clone, Debug)]
pub struct BlooioProvider {
    config: BlooioConfig,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct SendBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<&'a str>,
    from_number: &'a str,
}

#[derive(Deserialize)]
struct SendAnswer {
    message_id: String,
    status: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    message: Option<String>,
}

impl BlooioProvider {
    pub fn new(config: BlooioConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    /// `{base}/chats/%2B15551234567/messages`: the chat id is the form-encoded recipient.
    fn messages_url(&self, to: &str) -> Result<Url, SendError> {
        let encoded: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
        http::join(&self.config.base_url, &format!("chats/{encoded}/messages")).map_err(|e| {
            SendError::Rejected(http::fault(
                ProviderKind::Blooio,
                None,
                None,
                format!("bad Blooio base URL: {e}"),
            ))
        })
    }
}

#[async_trait]
impl MessagingProvider for BlooioProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Blooio
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        check_sendable(ProviderKind::Blooio, msg)?;
        let body = SendBody {
            text: (!msg.body.is_empty()).then_some(msg.body.as_str()),
            attachments: msg.media_urls.iter().map(Url::as_str).collect(),
            from_number: msg.from.as_str(),
        };
        let request = self
            .http
            .post(self.messages_url(msg.to.as_str())?)
            .bearer_auth(self.config.api_key.expose_secret())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(IDEMPOTENCY_HEADER, &msg.idempotency_key)
            .header(FROM_NUMBER_HEADER, msg.from.as_str())
            .json(&body);
        let answer = http::execute(ProviderKind::Blooio, request, true).await?;
        if !(200..300).contains(&answer.status) {
            return Err(classify(&answer));
        }
        match serde_json::from_slice::<SendAnswer>(&answer.body) {
            Ok(sent) if !sent.message_id.is_empty() => Ok(SendReceipt {
                status: sent
                    .status
                    .as_deref()
                    .and_then(delivery_status)
                    .unwrap_or(DeliveryStatus::Queued),
                provider_message_id: sent.message_id,
            }),
            _ => Err(SendError::Ambiguous {
                fault: http::fault(
                    ProviderKind::Blooio,
                    Some(answer.status),
                    None,
                    format!(
                        "accepted, but the answer has no message_id: {}",
                        http::excerpt(&answer.body)
                    ),
                ),
                replay_safe: true,
            }),
        }
    }
}

/// Blooio's status words in the unified lifecycle.
pub fn delivery_status(raw: &str) -> Option<DeliveryStatus> {
    Some(match raw.trim() {
        "queued" | "pending" => DeliveryStatus::Queued,
        "sending" => DeliveryStatus::Sending,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => return None,
    })
}

/// Maps `{"error": "<string>", "status": <int>, "message"?: "…"}` by HTTP status.
fn classify(answer: &Answer) -> SendError {
    let parsed = serde_json::from_slice::<ErrorBody>(&answer.body).ok();
    let code = parsed.as_ref().and_then(|b| b.error.clone());
    let message = parsed
        .and_then(|b| b.message.or(b.error))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| http::excerpt(&answer.body));
    let fault = http::fault(ProviderKind::Blooio, Some(answer.status), code, message);
    match answer.status {
        401 => SendError::Unauthorized(fault),
        429 => SendError::RateLimited {
            fault,
            retry_after: http::retry_after(&answer.headers),
        },
        408 => SendError::Unavailable(fault),
        s if s >= 500 => SendError::Unavailable(fault),
        _ => SendError::Rejected(fault),
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// `t=<ts>,v1=<lowercase hex HMAC-SHA256(secret string incl. whsec_, "{t}.{body}")>`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let prefix = format!("{timestamp}.");
    hmac_sha256(secret.as_bytes(), &[prefix.as_bytes(), body])
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

#[derive(Clone, Copy, Debug)]
pub struct BlooioWebhooks {
    pub tolerance_secs: u64,
}

impl Default for BlooioWebhooks {
    fn default() -> Self {
        Self {
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}

impl BlooioWebhooks {
    pub fn verify_at(
        &self,
        request: &WebhookRequest,
        secret: &str,
        now: Timestamp,
    ) -> Result<(), SignatureError> {
        let header = request
            .header(SIGNATURE_HEADER)
            .ok_or(SignatureError::MissingHeader(SIGNATURE_HEADER))?;
        let mut timestamp = None;
        let mut candidates = Vec::new();
        for item in header.split(',') {
            match item.trim().split_once('=') {
                Some(("t", v)) => timestamp = Some(v.trim()),
                Some(("v1", v)) => candidates.push(v.trim()),
                _ => {}
            }
        }
        let malformed = |why| SignatureError::Malformed {
            header: SIGNATURE_HEADER,
            why,
        };
        let ts = timestamp
            .ok_or(malformed("no t= element"))?
            .parse::<i64>()
            .map_err(|_| malformed("t= is not a Unix timestamp"))?;
        if candidates.is_empty() {
            return Err(malformed("no v1= element"));
        }
        check_timestamp(ts, now, self.tolerance_secs)?;
        let prefix = format!("{ts}.");
        let mac = hmac_sha256(secret.as_bytes(), &[prefix.as_bytes(), &request.raw_body])
            .ok_or(SignatureError::BadSecret("unusable HMAC key"))?;
        let matched = candidates
            .iter()
            .filter_map(|hex_sig| hex::decode(hex_sig).ok())
            .any(|candidate| mac.clone().verify_slice(&candidate).is_ok());
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// Reads a flat v2 payload (§3.2).
    pub fn parse_event(&self, request: &WebhookRequest) -> Result<InboundEvent, WebhookParseError> {
        let payload: Payload =
            serde_json::from_slice(&request.raw_body).map_err(|e| WebhookParseError::Body {
                expected: "a Blooio event",
                why: e.to_string(),
            })?;
        let event = payload
            .event
            .clone()
            .or_else(|| request.header(EVENT_HEADER).map(str::to_owned))
            .ok_or(WebhookParseError::MissingField("event"))?;
        let status = match event.as_str() {
            "message.received" => return received(payload),
            "message.queued" => DeliveryStatus::Queued,
            "message.sent" => DeliveryStatus::Sent,
            "message.delivered" => DeliveryStatus::Delivered,
            "message.read" => DeliveryStatus::Read,
            "message.failed" => DeliveryStatus::Failed,
            other => {
                return Ok(InboundEvent::Ignored {
                    reason: format!("Blooio event {other} is not handled"),
                });
            }
        };
        let id = payload
            .message_id
            .filter(|id| !id.is_empty())
            .or_else(|| request.header(MESSAGE_ID_HEADER).map(str::to_owned))
            .ok_or(WebhookParseError::MissingField("message_id"))?;
        Ok(InboundEvent::Status {
            provider_message_id: id,
            status,
            error_code: payload.error_code.as_ref().and_then(scalar_string),
            error_message: payload.error_message,
            idempotency_key: None,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Payload {
    event: Option<String>,
    message_id: Option<String>,
    external_id: Option<String>,
    internal_id: Option<String>,
    text: Option<String>,
    attachments: Vec<Attachment>,
    is_group: Option<bool>,
    error_code: Option<serde_json::Value>,
    error_message: Option<String>,
}

/// A URL string, or an object carrying `url`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Attachment {
    Url(String),
    Object { url: String },
}

fn received(payload: Payload) -> Result<InboundEvent, WebhookParseError> {
    if payload.is_group == Some(true) {
        return Ok(InboundEvent::Ignored {
            reason: "group chats are not handled".into(),
        });
    }
    let id = payload
        .message_id
        .filter(|id| !id.is_empty())
        .ok_or(WebhookParseError::MissingField("message_id"))?;
    let sender = payload
        .external_id
        .ok_or(WebhookParseError::MissingField("external_id"))?;
    let from = match sender_phone(&sender) {
        Ok(phone) => phone,
        Err(ignored) => return Ok(*ignored),
    };
    let media = payload
        .attachments
        .into_iter()
        .map(|a| {
            let raw = match a {
                Attachment::Url(u) | Attachment::Object { url: u } => u,
            };
            Url::parse(&raw)
                .map(|url| InboundMedia {
                    url,
                    content_type: None,
                })
                .map_err(|e| WebhookParseError::InvalidField {
                    field: "attachments[]",
                    why: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InboundEvent::Message {
        provider_message_id: id,
        from,
        to: payload.internal_id.unwrap_or_default(),
        body: payload.text.unwrap_or_default(),
        media,
        provider_opt_out: None,
        thread_id: None,
    })
}

impl InboundWebhooks for BlooioWebhooks {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Blooio
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

    const SECRET: &str = "whsec_test_secret";
    const BODY: &str = r#"{"event":"message.received"}"#;
    const VECTOR: &str =
        "t=1700000000,v1=a32daafdacc3155d7c8263461369d923f61828ef8099126f1672557a77f2ba38";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn request(signature: Option<&str>, body: &str) -> WebhookRequest {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(sig) = signature {
            headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(sig).unwrap());
        }
        WebhookRequest::new(
            Method::POST,
            Url::parse("https://app.example.com/webhooks/blooio").unwrap(),
            headers,
            Bytes::from(body.to_owned()),
        )
    }

    #[test]
    fn signature_vector() {
        assert_eq!(
            signature_header(SECRET, 1_700_000_000, BODY.as_bytes()),
            VECTOR
        );
        let w = BlooioWebhooks::default();
        assert_eq!(
            w.verify_at(&request(Some(VECTOR), BODY), SECRET, at(1_700_000_100)),
            Ok(())
        );
        assert!(matches!(
            w.verify_at(&request(Some(VECTOR), BODY), SECRET, at(1_700_000_301)),
            Err(SignatureError::StaleTimestamp { .. })
        ));
        assert_eq!(
            w.verify_at(
                &request(Some(VECTOR), r#"{"event":"message.failed"}"#),
                SECRET,
                at(1_700_000_000)
            ),
            Err(SignatureError::Mismatch)
        );
        // Moving the timestamp breaks the signature even inside the window.
        let shifted = VECTOR.replace("t=1700000000", "t=1700000001");
        assert_eq!(
            w.verify_at(&request(Some(&shifted), BODY), SECRET, at(1_700_000_000)),
            Err(SignatureError::Mismatch)
        );
        // Without the whsec_ prefix the key is different: the prefix is part of it.
        assert_eq!(
            w.verify_at(
                &request(Some(VECTOR), BODY),
                "test_secret",
                at(1_700_000_000)
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            w.verify_at(&request(None, BODY), SECRET, at(1_700_000_000)),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER))
        );
        assert!(matches!(
            w.verify_at(&request(Some("v1=abc"), BODY), SECRET, at(1_700_000_000)),
            Err(SignatureError::Malformed { .. })
        ));
    }

    #[test]
    fn parses_reference_received() {
        let body = r#"{"event":"message.received","message_id":"CZIsqG9ZWd9gwjIEhZpHY","external_id":"+15551234567",
            "text":"Hello","attachments":[],"protocol":"imessage","timestamp":1703123457474,
            "device_id":"A1B2C3D4","received_at":1703123456789}"#;
        // +1 555 123 4567 has the invalid exchange 123 under NANP rules, so use the shape with a
        // dialable number for the full check.
        let dialable = body.replace("+15551234567", "+15125550147");
        let event = BlooioWebhooks::default()
            .parse_event(&request(None, &dialable))
            .unwrap();
        assert_eq!(
            event,
            InboundEvent::Message {
                provider_message_id: "CZIsqG9ZWd9gwjIEhZpHY".into(),
                from: leadline_domain::E164Phone::parse("+15125550147").unwrap(),
                to: String::new(),
                body: "Hello".into(),
                media: vec![],
                provider_opt_out: None,
                thread_id: None,
            }
        );
        assert!(matches!(
            BlooioWebhooks::default().parse_event(&request(None, body)),
            Ok(InboundEvent::Ignored { .. })
        ));
    }

    #[test]
    fn parses_receipts_and_media() {
        let w = BlooioWebhooks::default();
        let failed = r#"{"event":"message.failed","message_id":"m1","external_id":"+15125550147","error_code":"E42","error_message":"not iMessage","timestamp":1703123457474}"#;
        assert_eq!(
            w.parse_event(&request(None, failed)),
            Ok(InboundEvent::Status {
                provider_message_id: "m1".into(),
                status: DeliveryStatus::Failed,
                error_code: Some("E42".into()),
                error_message: Some("not iMessage".into()),
                idempotency_key: None,
            })
        );
        let read = r#"{"event":"message.read","message_id":"m1","read_at":1703123457474}"#;
        assert!(matches!(
            w.parse_event(&request(None, read)),
            Ok(InboundEvent::Status {
                status: DeliveryStatus::Read,
                ..
            })
        ));
        let media = r#"{"event":"message.received","message_id":"m2","external_id":"+15125550147","internal_id":"+15125550100","text":"","attachments":["https://cdn.blooio.com/a.jpg",{"url":"https://cdn.blooio.com/b.pdf","name":"b.pdf"}]}"#;
        assert!(matches!(
            w.parse_event(&request(None, media)),
            Ok(InboundEvent::Message { media, to, .. }) if media.len() == 2 && to == "+15125550100"
        ));
        let reaction =
            r#"{"event":"message.reaction","message_id":"m1","reaction":"love","action":"add"}"#;
        assert!(matches!(
            w.parse_event(&request(None, reaction)),
            Ok(InboundEvent::Ignored { .. })
        ));
    }

    #[test]
    fn error_mapping() {
        let answer = |status: u16, body: &str| Answer {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        };
        assert!(matches!(
            classify(&answer(401, r#"{"error":"Unauthorized","status":401}"#)),
            SendError::Unauthorized(f) if f.code.as_deref() == Some("Unauthorized")
        ));
        assert!(matches!(
            classify(&answer(
                429,
                r#"{"error":"Too many requests","status":429}"#
            )),
            SendError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(&answer(503, "")),
            SendError::Unavailable(_)
        ));
        assert!(
            matches!(classify(&answer(400, r#"{"error":"Bad request","message":"text or attachments required","status":400}"#)), SendError::Rejected(f) if f.message == "text or attachments required")
        );
    }
}
