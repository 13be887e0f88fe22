//! A Blooio v2 mock, and builders of signed Blooio webhooks.
//!
//! Reproduces `POST /v2/api/chats/{chatId}/messages` with a URL-encoded chat id (E.164 number,
//! email, or `grp_…`), Bearer auth, `text` and/or `attachments` required, the `Idempotency-Key`
//! header (a replay returns the original `message_id` and sends nothing), the answer
//! `{"message_id","message_ids","status":"queued"}` and errors `{"error","status"}`.

use super::{
    MockServer, RecordedRequest, Scripted, bad_gateway, bearer, json, lock, respond,
    retry_after_headers,
};
use crate::messaging::WebhookRequest;
use crate::messaging::blooio::{
    EVENT_HEADER, MESSAGE_ID_HEADER, SIGNATURE_HEADER, signature_header,
};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use jiff::Timestamp;
use leadline_domain::E164Phone;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use url::Url;

/// A message the mock accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlooioMockMessage {
    pub message_id: String,
    /// The decoded chat id (the recipient).
    pub chat_id: String,
    pub text: Option<String>,
    pub attachments: Vec<String>,
    /// `from_number` from the body, else the `X-From-Number` header.
    pub from_number: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Default)]
struct MockState {
    script: VecDeque<Scripted>,
    requests: Vec<RecordedRequest>,
    messages: Vec<BlooioMockMessage>,
    replays: HashMap<String, Value>,
    opted_out: HashSet<String>,
}

struct Shared {
    api_key: String,
    state: Mutex<MockState>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct BlooioMock {
    server: MockServer,
    shared: Arc<Shared>,
}

impl BlooioMock {
    pub async fn start(api_key: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            state: Mutex::default(),
        });
        let router = Router::new()
            .route("/v2/api/chats/{chat_id}/messages", post(send_message))
            .fallback(not_found)
            .with_state(shared.clone());
        Ok(Self {
            server: MockServer::serve(router).await?,
            shared,
        })
    }

    /// The base URL to give [`crate::messaging::blooio::BlooioConfig::with_base_url`]
    /// (`…/v2/api`).
    pub fn base_url(&self) -> Url {
        self.server.url("/v2/api")
    }

    pub fn fail_next(&self, n: usize, answer: Scripted) {
        let mut state = lock(&self.shared.state);
        for _ in 0..n {
            state.script.push_back(answer.clone());
        }
    }

    /// Sends to `chat_id` are refused from now on. Blooio documents no opt-out error, so the
    /// refusal is a plain 400 `{"error": "Recipient has opted out", "status": 400}`.
    pub fn opt_out(&self, chat_id: &str) {
        lock(&self.shared.state)
            .opted_out
            .insert(chat_id.to_owned());
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }

    pub fn messages(&self) -> Vec<BlooioMockMessage> {
        lock(&self.shared.state).messages.clone()
    }

    /// Messages actually sent with this idempotency key (replays do not count).
    pub fn count_for_key(&self, key: &str) -> usize {
        lock(&self.shared.state)
            .messages
            .iter()
            .filter(|m| m.idempotency_key.as_deref() == Some(key))
            .count()
    }

    /// Messages sent to `chat_id` with this text, whatever their keys.
    pub fn count_for(&self, chat_id: &str, text: &str) -> usize {
        lock(&self.shared.state)
            .messages
            .iter()
            .filter(|m| m.chat_id == chat_id && m.text.as_deref() == Some(text))
            .count()
    }

    /// Requests that carried this idempotency key, replays included.
    pub fn attempts_for_key(&self, key: &str) -> usize {
        lock(&self.shared.state)
            .requests
            .iter()
            .filter(|r| r.header("idempotency-key") == Some(key))
            .count()
    }
}

fn blooio_error(status: u16, error: &str, headers: &[(String, String)]) -> Response {
    json(status, &json!({"error": error, "status": status}), headers)
}

fn scripted(answer: &Scripted) -> Option<Response> {
    Some(match answer {
        Scripted::ServerError => blooio_error(500, "Internal server error", &[]),
        Scripted::BadGateway => bad_gateway(),
        Scripted::RateLimited { retry_after } => {
            blooio_error(429, "Too many requests", &retry_after_headers(*retry_after))
        }
        Scripted::OptedOut => blooio_error(400, "Recipient has opted out", &[]),
        Scripted::InvalidNumber => blooio_error(400, "Invalid chat ID", &[]),
        Scripted::Unauthorized => blooio_error(401, "Unauthorized", &[]),
        Scripted::AcceptThenStall(_) => return None,
        Scripted::Custom {
            status,
            body,
            headers,
        } => respond(*status, "application/json", body.clone(), headers),
    })
}

async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lock(&shared.state)
        .requests
        .push(RecordedRequest::new(&method, &uri, &headers, &body));
    blooio_error(404, "Not found", &[])
}

async fn send_message(
    State(shared): State<Arc<Shared>>,
    Path(chat_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut state = lock(&shared.state);
        state
            .requests
            .push(RecordedRequest::new(&method, &uri, &headers, &body));
        state.script.pop_front()
    };
    let stall = match &answer {
        Some(Scripted::AcceptThenStall(d)) => Some(*d),
        Some(other) => {
            if let Some(response) = scripted(other) {
                return response;
            }
            None
        }
        None => None,
    };
    let response = accept(&shared, &chat_id, &headers, &body);
    if let Some(delay) = stall {
        tokio::time::sleep(delay).await;
    }
    response
}

fn valid_chat_id(id: &str) -> bool {
    id.split(',').all(|part| {
        let part = part.trim();
        (part.starts_with('+') && E164Phone::parse(part).is_ok())
            || (part.contains('@') && !part.contains(' '))
            || part.starts_with("grp_")
    })
}

/// Blooio ids look like `CZIsqG9ZWd9gwjIEhZpHY`: 21 URL-safe characters.
fn new_message_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes().iter())
        .take(21)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

fn accept(shared: &Shared, chat_id: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    if bearer(headers) != Some(shared.api_key.as_str()) {
        return blooio_error(401, "Unauthorized", &[]);
    }
    if !valid_chat_id(chat_id) {
        return blooio_error(400, "Invalid chat ID", &[]);
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return blooio_error(400, "Invalid JSON body", &[]);
    };
    let text = match &request["text"] {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(items) => {
            let joined: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!joined.is_empty()).then(|| joined.join("\n"))
        }
        _ => None,
    };
    let attachments: Vec<String> = request["attachments"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|a| a.as_str().or_else(|| a["url"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if text.is_none() && attachments.is_empty() {
        return blooio_error(400, "text or attachments required", &[]);
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut state = lock(&shared.state);
    if let Some(answer) = key.as_ref().and_then(|k| state.replays.get(k)) {
        return json(200, answer, &[]);
    }
    if state.opted_out.contains(chat_id) {
        return blooio_error(400, "Recipient has opted out", &[]);
    }
    let message_id = new_message_id();
    let from_number = request["from_number"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get("x-from-number")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    state.messages.push(BlooioMockMessage {
        message_id: message_id.clone(),
        chat_id: chat_id.to_owned(),
        text,
        attachments,
        from_number,
        idempotency_key: key.clone(),
    });
    let answer = json!({"message_id": message_id, "message_ids": [message_id], "status": "queued"});
    if let Some(k) = key {
        state.replays.insert(k, answer.clone());
    }
    json(200, &answer, &[])
}

// ---------------------------------------------------------------------------------------------
// Signed webhooks, as Blooio sends them

/// `payload` posted to `public_url` with `X-Blooio-Event`, `X-Blooio-Message-Id` and
/// `X-Blooio-Signature: t=…,v1=…` (key = the secret string, `whsec_` included).
pub fn signed_webhook(
    public_url: &Url,
    secret: &str,
    payload: &Value,
    at: Timestamp,
) -> WebhookRequest {
    let body = payload.to_string();
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("content-type", "application/json");
    put(EVENT_HEADER, payload["event"].as_str().unwrap_or_default());
    put(
        MESSAGE_ID_HEADER,
        payload["message_id"].as_str().unwrap_or_default(),
    );
    put(
        SIGNATURE_HEADER,
        &signature_header(secret, at.as_second(), body.as_bytes()),
    );
    WebhookRequest::new(Method::POST, public_url.clone(), headers, Bytes::from(body))
}

/// `message.received` from `from` to our line `to`.
pub fn inbound_message_request(
    public_url: &Url,
    secret: &str,
    from: &str,
    to: &str,
    text: &str,
    at: Timestamp,
) -> WebhookRequest {
    let ms = at.as_millisecond();
    let payload = json!({
        "event": "message.received",
        "message_id": new_message_id(),
        "external_id": from,
        "internal_id": to,
        "text": text,
        "attachments": [],
        "protocol": "imessage",
        "timestamp": ms,
        "device_id": "A1B2C3D4",
        "received_at": ms,
        "is_group": false,
    });
    signed_webhook(public_url, secret, &payload, at)
}

/// A receipt for `message_id`: `message.sent|delivered|read|failed`.
pub fn status_request(
    public_url: &Url,
    secret: &str,
    event: &str,
    message_id: &str,
    at: Timestamp,
) -> WebhookRequest {
    let ms = at.as_millisecond();
    let mut payload = json!({
        "event": event,
        "message_id": message_id,
        "protocol": "imessage",
        "timestamp": ms,
        "device_id": "A1B2C3D4",
    });
    match event {
        "message.sent" => payload["sent_at"] = json!(ms),
        "message.delivered" => payload["delivered_at"] = json!(ms),
        "message.read" => payload["read_at"] = json!(ms),
        "message.failed" => {
            payload["error_code"] = json!("delivery_failed");
            payload["error_message"] = json!("Message could not be delivered");
        }
        _ => {}
    }
    signed_webhook(public_url, secret, &payload, at)
}
