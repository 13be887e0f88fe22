//! Twilio Programmable Messaging: REST send, `X-Twilio-Signature`, inbound and status webhooks.
//!
//! **At most once.** Twilio's Messages API has no idempotency key, so a request that reached
//! Twilio cannot be safely repeated. The caller's outbox row and lease make sure only one worker
//! sends a logical message; this client makes sure it never repeats a request on its own, and
//! reports a failure as retryable only when Twilio certainly did not create the message:
//!
//! | outcome | variant | why |
//! |---|---|---|
//! | connection refused / DNS / TLS failure | `NotSent` | the request never left |
//! | 429 / 20429 | `RateLimited` | Twilio refused it |
//! | 500, 503 | `Unavailable` | Twilio answered that it failed |
//! | timeout, reset after sending, 502/504 from a gateway, unreadable 2xx | `Ambiguous { replay_safe: false }` | it may exist at Twilio |
//!
//! To resolve an ambiguous send, [`TwilioConfig::tag_status_callback`] (on by default) appends
//! `leadline_key=<idempotency key>` to the message's `StatusCallback`; every status callback for
//! that message then carries the key (`InboundEvent::Status { idempotency_key, .. }`), even though the
//! caller never learned the `SM…` sid. No callback within Twilio's validity window means no message.

use super::http::{self, Answer};
use super::webhook::{HmacSha1, sender_phone};
use super::{
    ConfigError, DeliveryStatus, InboundEvent, InboundMedia, InboundWebhooks, MessagingProvider,
    OptOutSignal, OutboundMessage, ProviderKind, SendError, SendReceipt, SignatureError,
    WebhookParseError, WebhookReply, WebhookRequest, check_sendable,
};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac;
use hmac::digest::KeyInit;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use url::{Position, Url};

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The reply to an inbound message when the answer will come later through the REST API.
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;
pub const TWIML_CONTENT_TYPE: &str = "text/xml";
/// Query parameter carrying the idempotency key on tagged status-callback URLs.
pub const CALLBACK_KEY_PARAM: &str = "leadline_key";
/// Twilio sends at most 10 media items per message.
const MAX_MEDIA: usize = 10;

/// How requests authenticate: the account's auth token, or an API key (`SK…`) and its secret.
#[derive(Clone, Debug)]
pub enum TwilioAuth {
    AuthToken(SecretString),
    ApiKey { sid: String, secret: SecretString },
}

#[derive(Clone, Debug)]
pub struct TwilioConfig {
    pub base_url: Url,
    /// `AC…`, 34 characters.
    pub account_sid: String,
    pub auth: TwilioAuth,
    /// Append `leadline_key=<idempotency key>` to each `StatusCallback` (see the module docs).
    pub tag_status_callback: bool,
}

impl TwilioConfig {
    pub fn new(account_sid: &str, auth: TwilioAuth) -> Result<Self, ConfigError> {
        let account_sid = account_sid.trim();
        if !is_sid(account_sid, "AC") {
            return Err(config_error(
                "account_sid",
                "must be AC followed by 32 letters or digits",
            ));
        }
        if let TwilioAuth::ApiKey { sid, .. } = &auth
            && !is_sid(sid, "SK")
        {
            return Err(config_error(
                "api key sid",
                "must be SK followed by 32 letters or digits",
            ));
        }
        let base_url =
            Url::parse(DEFAULT_BASE_URL).map_err(|e| config_error("base_url", &e.to_string()))?;
        Ok(Self {
            base_url,
            account_sid: account_sid.to_owned(),
            auth,
            tag_status_callback: true,
        })
    }

    /// Points the client elsewhere (a mock server, a regional edge).
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }
}

fn config_error(field: &'static str, why: &str) -> ConfigError {
    ConfigError {
        provider: ProviderKind::Twilio,
        field,
        why: why.to_owned(),
    }
}

fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Sends through `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`.
#[derive(Clone, Debug)]
pub struct TwilioProvider {
    config: TwilioConfig,
    http: reqwest::Client,
    messages_url: Url,
}

impl TwilioProvider {
    /// `http` should carry the caller's timeouts; this client adds none of its own.
    pub fn new(config: TwilioConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        let path = format!("2010-04-01/Accounts/{}/Messages.json", config.account_sid);
        let messages_url = http::join(&config.base_url, &path)
            .map_err(|e| config_error("base_url", &e.to_string()))?;
        Ok(Self {
            config,
            http,
            messages_url,
        })
    }

    /// The form body: PascalCase fields, `MediaUrl` repeated, `MessagingServiceSid` instead of
    /// `From` when the sender is an `MG…` service.
    fn form(&self, msg: &OutboundMessage) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", msg.to.as_str());
        let from = msg.from.as_str();
        if is_sid(from, "MG") {
            form.append_pair("MessagingServiceSid", from);
        } else {
            form.append_pair("From", from);
        }
        if !msg.body.is_empty() {
            form.append_pair("Body", &msg.body);
        }
        for media in &msg.media_urls {
            form.append_pair("MediaUrl", media.as_str());
        }
        if let Some(callback) = &msg.status_callback {
            let mut callback = callback.clone();
            if self.config.tag_status_callback {
                callback
                    .query_pairs_mut()
                    .append_pair(CALLBACK_KEY_PARAM, &msg.idempotency_key);
            }
            form.append_pair("StatusCallback", callback.as_str());
        }
        form.finish()
    }
}

#[async_trait]
impl MessagingProvider for TwilioProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Twilio
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        check_sendable(ProviderKind::Twilio, msg)?;
        let (user, password) = match &self.config.auth {
            TwilioAuth::AuthToken(token) => (self.config.account_sid.as_str(), token),
            TwilioAuth::ApiKey { sid, secret } => (sid.as_str(), secret),
        };
        let request = self
            .http
            .post(self.messages_url.clone())
            .basic_auth(user, Some(password.expose_secret()))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(self.form(msg));
        let answer = http::execute(ProviderKind::Twilio, request, false).await?;
        if (200..300).contains(&answer.status) {
            read_created(&answer)
        } else {
            Err(classify(&answer))
        }
    }
}

#[derive(Deserialize)]
struct CreatedMessage {
    sid: String,
    status: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
}

fn read_created(answer: &Answer) -> Result<SendReceipt, SendError> {
    match serde_json::from_slice::<CreatedMessage>(&answer.body) {
        Ok(created) if !created.sid.is_empty() => Ok(SendReceipt {
            status: delivery_status(&created.status).unwrap_or(DeliveryStatus::Queued),
            provider_message_id: created.sid,
        }),
        // Twilio created something but we cannot say what: never send it again blindly.
        _ => Err(SendError::Ambiguous {
            fault: http::fault(
                ProviderKind::Twilio,
                Some(answer.status),
                None,
                format!(
                    "accepted, but the answer has no message sid: {}",
                    http::excerpt(&answer.body)
                ),
            ),
            replay_safe: false,
        }),
    }
}

/// Maps Twilio's error answer (`{"code","message","more_info","status"}`) to what the caller does.
fn classify(answer: &Answer) -> SendError {
    let parsed = serde_json::from_slice::<ErrorBody>(&answer.body).ok();
    let code = parsed.as_ref().and_then(|b| b.code);
    let message = parsed
        .and_then(|b| b.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| http::excerpt(&answer.body));
    let fault = http::fault(
        ProviderKind::Twilio,
        Some(answer.status),
        code.map(|c| c.to_string()),
        message,
    );
    match (answer.status, code) {
        (_, Some(21610)) => SendError::OptedOut(fault),
        (401, _) | (_, Some(20003)) => SendError::Unauthorized(fault),
        (429, _) | (_, Some(20429)) => SendError::RateLimited {
            fault,
            retry_after: http::retry_after(&answer.headers),
        },
        (_, Some(21211 | 21612 | 21614 | 21635)) => SendError::InvalidRecipient(fault),
        (500 | 503, _) => SendError::Unavailable(fault),
        // A gateway error may come after Twilio already created the message.
        (s, _) if s >= 500 => SendError::Ambiguous {
            fault,
            replay_safe: false,
        },
        _ => SendError::Rejected(fault),
    }
}

/// Twilio's `MessageStatus` in the unified lifecycle. `receiving`/`received` are inbound, not
/// delivery states.
pub fn delivery_status(raw: &str) -> Option<DeliveryStatus> {
    Some(match raw.trim() {
        "accepted" | "scheduled" | "queued" => DeliveryStatus::Queued,
        "sending" => DeliveryStatus::Sending,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        // One recipient, so "some parts arrived" counts as arrived.
        "partially_delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" => DeliveryStatus::Undelivered,
        "failed" => DeliveryStatus::Failed,
        "canceled" => DeliveryStatus::Canceled,
        _ => return None,
    })
}

/// TwiML that answers an inbound message with `text` (XML-escaped).
pub fn twiml_message(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            _ => escaped.push(c),
        }
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escaped}</Message></Response>"#
    )
}

// ---------------------------------------------------------------------------------------------
// X-Twilio-Signature

/// The string Twilio signs: the URL, then `name + value` for every parameter, names in code-point
/// order; a repeated name contributes each distinct value once, values sorted.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut grouped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        grouped.entry(name).or_default().insert(value);
    }
    let mut s = String::from(url);
    for (name, values) in grouped {
        for value in values {
            s.push_str(name);
            s.push_str(value);
        }
    }
    s
}

/// `Base64(HMAC-SHA1(auth_token, signing_string(url, params)))`, the `X-Twilio-Signature` value.
pub fn compute_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    match <HmacSha1 as KeyInit>::new_from_slice(auth_token.as_bytes()) {
        Ok(mut mac) => {
            mac.update(signing_string(url, params).as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => String::new(),
    }
}

/// The URL spellings Twilio may have signed (§1.2 port quirk): without any port, and with the
/// scheme's default port added when none is given (an explicit port is kept). Each also in the
/// legacy query encoding where `'` stays literal.
fn url_variants(url: &Url) -> Vec<String> {
    let head = &url[..Position::AfterHost];
    let path_and_query = &url[Position::BeforePath..Position::AfterQuery];
    let without_port = format!("{head}{path_and_query}");
    let with_port = match url.port_or_known_default() {
        Some(port) => format!("{head}:{port}{path_and_query}"),
        None => without_port.clone(),
    };
    let mut variants = vec![without_port, with_port];
    let legacy: Vec<String> = variants
        .iter()
        .filter_map(|v| {
            let (base, query) = v.split_once('?')?;
            query
                .contains("%27")
                .then(|| format!("{base}?{}", query.replace("%27", "'")))
        })
        .collect();
    variants.extend(legacy);
    variants.dedup();
    variants
}

fn form_params(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The parameters Twilio sent: the form body of a POST, the query of a GET.
fn request_params(request: &WebhookRequest) -> Vec<(String, String)> {
    if request.method == Method::GET {
        request.public_url.query_pairs().into_owned().collect()
    } else {
        form_params(&request.raw_body)
    }
}

/// Twilio's inbound and status-callback webhooks.
#[derive(Clone, Copy, Debug, Default)]
pub struct TwilioWebhooks;

impl TwilioWebhooks {
    /// Checks `X-Twilio-Signature` against the account's auth token (§1.2), including the port
    /// variants and the `bodySHA256` form used for JSON bodies.
    pub fn verify_signature(
        &self,
        request: &WebhookRequest,
        auth_token: &str,
    ) -> Result<(), SignatureError> {
        let header = request
            .header(SIGNATURE_HEADER)
            .ok_or(SignatureError::MissingHeader(SIGNATURE_HEADER))?;
        let expected = BASE64
            .decode(header.trim())
            .map_err(|_| SignatureError::Malformed {
                header: SIGNATURE_HEADER,
                why: "not base64",
            })?;
        let body_hash = request
            .public_url
            .query_pairs()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned());
        // A JSON body is covered by bodySHA256 in the URL, never appended as parameters.
        let params = if body_hash.is_none()
            && request.method == Method::POST
            && (request.is_form() || request.header("content-type").is_none())
        {
            form_params(&request.raw_body)
        } else {
            Vec::new()
        };
        let signed = url_variants(&request.public_url).iter().any(|url| {
            <HmacSha1 as KeyInit>::new_from_slice(auth_token.as_bytes()).is_ok_and(|mut mac| {
                mac.update(signing_string(url, &params).as_bytes());
                mac.verify_slice(&expected).is_ok()
            })
        });
        if !signed {
            return Err(SignatureError::Mismatch);
        }
        if let Some(hash) = body_hash {
            let actual = hex::encode(Sha256::digest(&request.raw_body));
            if !actual.eq_ignore_ascii_case(hash.trim()) {
                return Err(SignatureError::BodyHashMismatch);
            }
        }
        Ok(())
    }

    /// Reads an inbound message (§1.1) or a status callback (§1.4). Unknown parameters are
    /// ignored, as Twilio adds new ones without notice.
    pub fn parse_event(&self, request: &WebhookRequest) -> Result<InboundEvent, WebhookParseError> {
        let params = request_params(request);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let sid = get("MessageSid")
            .or_else(|| get("SmsSid"))
            .or_else(|| get("SmsMessageSid"));

        if let Some(raw_status) =
            get("MessageStatus").filter(|s| !matches!(*s, "received" | "receiving"))
        {
            let sid = sid.ok_or(WebhookParseError::MissingField("MessageSid"))?;
            let Some(status) = delivery_status(raw_status) else {
                return Ok(InboundEvent::Ignored {
                    reason: format!("MessageStatus '{raw_status}' is not a delivery status"),
                });
            };
            let idempotency_key = request
                .public_url
                .query_pairs()
                .find(|(k, _)| k == CALLBACK_KEY_PARAM)
                .map(|(_, v)| v.into_owned());
            return Ok(InboundEvent::Status {
                provider_message_id: sid.to_owned(),
                status,
                error_code: get("ErrorCode").map(str::to_owned),
                error_message: get("ErrorMessage").map(str::to_owned),
                idempotency_key,
            });
        }

        let sid = sid.ok_or(WebhookParseError::MissingField("MessageSid"))?;
        let from_raw = get("From").ok_or(WebhookParseError::MissingField("From"))?;
        let from = match sender_phone(from_raw) {
            Ok(phone) => phone,
            Err(ignored) => return Ok(*ignored),
        };
        let num_media = match get("NumMedia") {
            None => 0,
            Some(n) => n
                .trim()
                .parse::<usize>()
                .map_err(|_| WebhookParseError::InvalidField {
                    field: "NumMedia",
                    why: format!("'{n}' is not a count"),
                })?,
        };
        let mut media = Vec::new();
        for i in 0..num_media.min(MAX_MEDIA) {
            let raw = get(&format!("MediaUrl{i}"))
                .ok_or(WebhookParseError::MissingField("MediaUrl{N}"))?;
            let url = Url::parse(raw).map_err(|e| WebhookParseError::InvalidField {
                field: "MediaUrl{N}",
                why: e.to_string(),
            })?;
            media.push(InboundMedia {
                url,
                content_type: get(&format!("MediaContentType{i}")).map(str::to_owned),
            });
        }
        Ok(InboundEvent::Message {
            provider_message_id: sid.to_owned(),
            from,
            to: get("To").unwrap_or_default().to_owned(),
            body: get("Body").unwrap_or_default().to_owned(),
            media,
            provider_opt_out: get("OptOutType").and_then(OptOutSignal::parse),
            thread_id: None,
        })
    }
}

impl InboundWebhooks for TwilioWebhooks {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Twilio
    }

    fn verify(
        &self,
        request: &WebhookRequest,
        secret: &SecretString,
    ) -> Result<(), SignatureError> {
        self.verify_signature(request, secret.expose_secret())
    }

    fn parse(&self, request: &WebhookRequest) -> Result<InboundEvent, WebhookParseError> {
        self.parse_event(request)
    }

    /// An inbound message gets empty TwiML (the AI answers later through the REST API, outside
    /// Twilio's 15 s window); status callbacks get an empty 200.
    fn reply(&self, event: &InboundEvent) -> WebhookReply {
        match event {
            InboundEvent::Message { .. } => WebhookReply {
                status: 200,
                content_type: Some(TWIML_CONTENT_TYPE),
                body: EMPTY_TWIML,
            },
            _ => WebhookReply::EMPTY_OK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::{HeaderMap, HeaderValue};

    const TOKEN: &str = "12345";
    const VECTOR_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const VECTOR_SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    fn vector_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn form_request(url: &str, params: &[(String, String)], signature: &str) -> WebhookRequest {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            body.append_pair(k, v);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        WebhookRequest::new(
            Method::POST,
            Url::parse(url).unwrap(),
            headers,
            Bytes::from(body.finish()),
        )
    }

    #[test]
    fn form_vector() {
        assert_eq!(
            compute_signature(TOKEN, VECTOR_URL, &vector_params()),
            VECTOR_SIG
        );
        let req = form_request(VECTOR_URL, &vector_params(), VECTOR_SIG);
        assert_eq!(TwilioWebhooks.verify_signature(&req, TOKEN), Ok(()));
    }

    #[test]
    fn https_explicit_port_is_stripped() {
        let url = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        let req = form_request(url, &vector_params(), VECTOR_SIG);
        assert_eq!(TwilioWebhooks.verify_signature(&req, TOKEN), Ok(()));
    }

    #[test]
    fn http_explicit_port_is_kept() {
        let url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        let sig = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";
        assert_eq!(compute_signature(TOKEN, url, &vector_params()), sig);
        let req = form_request(url, &vector_params(), sig);
        assert_eq!(TwilioWebhooks.verify_signature(&req, TOKEN), Ok(()));
    }

    #[test]
    fn default_port_added_when_signer_used_it() {
        // Twilio signed with ":443"; our configured URL has no port.
        let signed = compute_signature(
            TOKEN,
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &vector_params(),
        );
        let req = form_request(VECTOR_URL, &vector_params(), &signed);
        assert_eq!(TwilioWebhooks.verify_signature(&req, TOKEN), Ok(()));
    }

    #[test]
    fn legacy_query_encoding() {
        // Twilio signed the apostrophe literally; the url crate normalises it to %27.
        let signed = compute_signature(TOKEN, "https://mycompany.com/hook?name=o'neil", &[]);
        let mut req = form_request("https://mycompany.com/hook?name=o'neil", &[], &signed);
        assert!(req.public_url.as_str().contains("%27"));
        assert_eq!(TwilioWebhooks.verify_signature(&req, TOKEN), Ok(()));
        req.public_url = Url::parse("https://mycompany.com/hook?name=oneil").unwrap();
        assert_eq!(
            TwilioWebhooks.verify_signature(&req, TOKEN),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn json_body_sha256_vector() {
        let body = r#"{"property": "value", "boolean": true}"#;
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        assert_eq!(
            hash,
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        let url = format!("{VECTOR_URL}&bodySHA256={hash}");
        let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
        assert_eq!(compute_signature(TOKEN, &url, &[]), sig);

        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_static(sig));
        let mut req = WebhookRequest::new(
            Method::POST,
            Url::parse(&url).unwrap(),
            headers,
            Bytes::from(body),
        );
        assert_eq!(TwilioWebhooks.verify_signature(&req, TOKEN), Ok(()));
        req.raw_body = Bytes::from(r#"{"property": "evil", "boolean": true}"#);
        assert_eq!(
            TwilioWebhooks.verify_signature(&req, TOKEN),
            Err(SignatureError::BodyHashMismatch)
        );
    }

    #[test]
    fn duplicate_names_sorted_and_deduplicated() {
        let params: Vec<(String, String)> =
            [("b", "2"), ("a", "1"), ("b", "1"), ("b", "2"), ("B", "0")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(
            signing_string("https://x/y", &params),
            "https://x/yB0a1b1b2"
        );
        let sig = compute_signature(TOKEN, "https://x/y", &params);
        let req = form_request("https://x/y", &params, &sig);
        assert_eq!(TwilioWebhooks.verify_signature(&req, TOKEN), Ok(()));
    }

    #[test]
    fn forged_and_malformed() {
        let mut altered = vector_params();
        altered[2].1 = "9999".into();
        let req = form_request(VECTOR_URL, &altered, VECTOR_SIG);
        assert_eq!(
            TwilioWebhooks.verify_signature(&req, TOKEN),
            Err(SignatureError::Mismatch)
        );
        let req = form_request(VECTOR_URL, &vector_params(), VECTOR_SIG);
        assert_eq!(
            TwilioWebhooks.verify_signature(&req, "wrong-token"),
            Err(SignatureError::Mismatch)
        );
        let other_path = form_request(
            "https://mycompany.com/other.php?foo=1&bar=2",
            &vector_params(),
            VECTOR_SIG,
        );
        assert_eq!(
            TwilioWebhooks.verify_signature(&other_path, TOKEN),
            Err(SignatureError::Mismatch)
        );
        let bad = form_request(VECTOR_URL, &vector_params(), "not base64!");
        assert!(matches!(
            TwilioWebhooks.verify_signature(&bad, TOKEN),
            Err(SignatureError::Malformed { .. })
        ));
        let mut missing = form_request(VECTOR_URL, &vector_params(), VECTOR_SIG);
        missing.headers.remove(SIGNATURE_HEADER);
        assert_eq!(
            TwilioWebhooks.verify_signature(&missing, TOKEN),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER))
        );
    }

    /// The composed inbound example of §1.1, verbatim.
    const REFERENCE_INBOUND: &str = "ToCountry=US&ToState=CA&SmsMessageSid=SM11111111111111111111111111111111&NumMedia=0&ToCity=&FromZip=&SmsSid=SM11111111111111111111111111111111&FromState=NY&SmsStatus=received&FromCity=&Body=Hi+there&FromCountry=US&To=%2B15550001111&MessagingServiceSid=MG22222222222222222222222222222222&ToZip=&NumSegments=1&MessageSid=SM11111111111111111111111111111111&AccountSid=AC33333333333333333333333333333333&From=%2B15550002222&ApiVersion=2010-04-01";

    fn raw_request(body: &str) -> WebhookRequest {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        WebhookRequest::new(
            Method::POST,
            Url::parse("https://app.example.com/webhooks/twilio/inbound").unwrap(),
            headers,
            Bytes::from(body.to_owned()),
        )
    }

    #[test]
    fn reference_inbound_example() {
        // +1 555 000 2222 has exchange 000, which no NANP number has: leadline's E164Phone refuses
        // it, so the verbatim example is ignored rather than attributed to a bogus lead.
        let event = TwilioWebhooks
            .parse_event(&raw_request(REFERENCE_INBOUND))
            .unwrap();
        assert!(
            matches!(&event, InboundEvent::Ignored { reason } if reason.contains("+15550002222")),
            "{event:?}"
        );

        // The same body from a dialable number.
        let body = REFERENCE_INBOUND.replace("From=%2B15550002222", "From=%2B15125550147");
        let event = TwilioWebhooks.parse_event(&raw_request(&body)).unwrap();
        let InboundEvent::Message {
            provider_message_id,
            from,
            to,
            body,
            media,
            provider_opt_out,
            thread_id,
        } = event
        else {
            panic!("not a message: {event:?}");
        };
        assert_eq!(provider_message_id, "SM11111111111111111111111111111111");
        assert_eq!(from.as_str(), "+15125550147");
        assert_eq!(to, "+15550001111");
        assert_eq!(body, "Hi there");
        assert!(media.is_empty());
        assert_eq!(provider_opt_out, None);
        assert_eq!(thread_id, None);
    }

    #[test]
    fn inbound_media_and_opt_out() {
        let body = "MessageSid=MM0123456789abcdef0123456789abcdef&From=%2B15125550147&To=%2B15125550100&Body=STOP&NumMedia=2\
            &MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FMessages%2FMM1%2FMedia%2FME1&MediaContentType0=image%2Fjpeg\
            &MediaUrl1=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FMessages%2FMM1%2FMedia%2FME2&MediaContentType1=application%2Fpdf\
            &OptOutType=STOP&SmsStatus=received";
        let event = TwilioWebhooks.parse_event(&raw_request(body)).unwrap();
        let InboundEvent::Message {
            media,
            provider_opt_out,
            body,
            ..
        } = event
        else {
            panic!("not a message: {event:?}");
        };
        assert_eq!(body, "STOP");
        assert_eq!(provider_opt_out, Some(OptOutSignal::Stop));
        assert_eq!(media.len(), 2);
        assert_eq!(media[0].content_type.as_deref(), Some("image/jpeg"));
        assert!(media[1].url.as_str().ends_with("/Media/ME2"));

        let missing = "MessageSid=SM1&From=%2B15125550147&NumMedia=1";
        assert_eq!(
            TwilioWebhooks.parse_event(&raw_request(missing)),
            Err(WebhookParseError::MissingField("MediaUrl{N}"))
        );
        let whatsapp = "MessageSid=SM1&From=whatsapp%3A%2B15125550147&Body=hi";
        assert!(matches!(
            TwilioWebhooks.parse_event(&raw_request(whatsapp)),
            Ok(InboundEvent::Ignored { .. })
        ));
    }

    #[test]
    fn status_callback_values() {
        for (raw, want) in [
            ("accepted", DeliveryStatus::Queued),
            ("scheduled", DeliveryStatus::Queued),
            ("queued", DeliveryStatus::Queued),
            ("sending", DeliveryStatus::Sending),
            ("sent", DeliveryStatus::Sent),
            ("delivered", DeliveryStatus::Delivered),
            ("undelivered", DeliveryStatus::Undelivered),
            ("failed", DeliveryStatus::Failed),
            ("read", DeliveryStatus::Read),
            ("partially_delivered", DeliveryStatus::Delivered),
            ("canceled", DeliveryStatus::Canceled),
        ] {
            let body = format!(
                "AccountSid=AC33333333333333333333333333333333&From=%2B15125550100&MessageSid=SM1&MessageStatus={raw}&SmsSid=SM1&SmsStatus={raw}"
            );
            let event = TwilioWebhooks.parse_event(&raw_request(&body)).unwrap();
            assert!(
                matches!(&event, InboundEvent::Status { status, provider_message_id, .. } if *status == want && provider_message_id == "SM1"),
                "{raw}: {event:?}"
            );
        }
        let failed =
            "MessageSid=SM9&MessageStatus=undelivered&ErrorCode=30003&RawDlrDoneDate=2607171206";
        let mut req = raw_request(failed);
        req.public_url = Url::parse("https://app.example.com/cb?leadline_key=outbox-7").unwrap();
        assert_eq!(
            TwilioWebhooks.parse_event(&req),
            Ok(InboundEvent::Status {
                provider_message_id: "SM9".into(),
                status: DeliveryStatus::Undelivered,
                error_code: Some("30003".into()),
                error_message: None,
                idempotency_key: Some("outbox-7".into()),
            })
        );
        assert!(matches!(
            TwilioWebhooks.parse_event(&raw_request("MessageSid=SM1&MessageStatus=mystery")),
            Ok(InboundEvent::Ignored { .. })
        ));
        assert_eq!(
            TwilioWebhooks.parse_event(&raw_request("MessageStatus=sent")),
            Err(WebhookParseError::MissingField("MessageSid"))
        );
    }

    #[test]
    fn get_webhook_signed_over_url_only() {
        let url = "https://app.example.com/in?MessageSid=SM1&From=%2B15125550147&Body=yo";
        let sig = compute_signature(TOKEN, url, &[]);
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&sig).unwrap());
        let req = WebhookRequest::new(Method::GET, Url::parse(url).unwrap(), headers, Bytes::new());
        assert_eq!(TwilioWebhooks.verify_signature(&req, TOKEN), Ok(()));
        assert!(matches!(
            TwilioWebhooks.parse_event(&req),
            Ok(InboundEvent::Message { body, .. }) if body == "yo"
        ));
    }

    #[test]
    fn twiml() {
        assert_eq!(
            EMPTY_TWIML,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
        assert_eq!(
            twiml_message("Tom & <Jerry>"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Tom &amp; &lt;Jerry&gt;</Message></Response>"#
        );
    }

    fn answer(status: u16, body: &str, retry_after: Option<&str>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(ra) = retry_after {
            headers.insert("retry-after", HeaderValue::from_str(ra).unwrap());
        }
        Answer {
            status,
            headers,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn error_mapping() {
        let err = |status, code: i64| {
            classify(&answer(
                status,
                &format!(
                    r#"{{"code": {code}, "message": "m", "more_info": "https://www.twilio.com/docs/errors/{code}", "status": {status}}}"#
                ),
                None,
            ))
        };
        assert!(
            matches!(err(400, 21610), SendError::OptedOut(f) if f.code.as_deref() == Some("21610") && f.message == "m")
        );
        assert!(matches!(err(400, 21211), SendError::InvalidRecipient(_)));
        assert!(matches!(err(400, 21614), SendError::InvalidRecipient(_)));
        assert!(matches!(err(401, 20003), SendError::Unauthorized(_)));
        assert!(matches!(err(400, 21617), SendError::Rejected(_)));
        assert!(matches!(err(500, 20500), SendError::Unavailable(_)));
        assert!(matches!(
            classify(&answer(429, r#"{"code":20429,"message":"Too Many Requests","status":429}"#, Some("7"))),
            SendError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 7
        ));
        assert!(matches!(
            classify(&answer(502, "<html>Bad Gateway</html>", None)),
            SendError::Ambiguous { replay_safe: false, fault } if fault.message.contains("Bad Gateway")
        ));
        assert!(matches!(
            read_created(&answer(201, "{}", None)),
            Err(SendError::Ambiguous {
                replay_safe: false,
                ..
            })
        ));
    }

    #[test]
    fn config_validation() {
        let token = || TwilioAuth::AuthToken(SecretString::from("t"));
        assert!(TwilioConfig::new("AC33333333333333333333333333333333", token()).is_ok());
        assert!(TwilioConfig::new("AC3", token()).is_err());
        assert!(TwilioConfig::new("XX33333333333333333333333333333333", token()).is_err());
        assert!(
            TwilioConfig::new(
                "AC33333333333333333333333333333333",
                TwilioAuth::ApiKey {
                    sid: "AK1".into(),
                    secret: SecretString::from("s")
                }
            )
            .is_err()
        );
    }
}
