//! A Linq Partner API v3 mock, and builders of signed Linq webhooks.
//!
//! Reproduces, under `/api/partner`: `POST /v3/chats` (create a chat with its first message;
//! answers `201 {"chat": {…, "message": SentMessage}}`) and `POST /v3/chats/{chatId}/messages`
//! (answers `200 {"chat_id", "message": SentMessage}`), Bearer auth, the message-content rules
//! (parts required, no two text parts in a row, media by `url`), opt-out refusals (403/2024),
//! replay by `message.idempotency_key` (or the `Idempotency-Key` header) returning the original
//! answer without sending again, `X-Trace-ID` on every answer, and the error envelope
//! `{"success":false,"error":{status,code,message,doc_url[,retry_after]},"trace_id"}`.

use super::{
    MockServer, RecordedRequest, RetryAfter, Scripted, bad_gateway, bearer, json, lock, respond,
    retry_after_headers,
};
use crate::messaging::WebhookRequest;
use crate::messaging::linq::{legacy_signature, standard_signature};
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
pub struct LinqMockMessage {
    pub id: String,
    pub chat_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub text: Option<String>,
    pub media_urls: Vec<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinqMockChat {
    pub id: String,
    pub from: String,
    /// Sorted: the set of recipients identifies the chat.
    pub to: Vec<String>,
}

#[derive(Default)]
struct MockState {
    script: VecDeque<Scripted>,
    requests: Vec<RecordedRequest>,
    chats: Vec<LinqMockChat>,
    messages: Vec<LinqMockMessage>,
    /// Idempotency key → the answer first given.
    replays: HashMap<String, (u16, Value)>,
    opted_out: HashSet<String>,
}

struct Shared {
    api_token: String,
    state: Mutex<MockState>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct LinqMock {
    server: MockServer,
    shared: Arc<Shared>,
}

impl LinqMock {
    pub async fn start(api_token: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            api_token: api_token.to_owned(),
            state: Mutex::default(),
        });
        let router = Router::new()
            .route("/api/partner/v3/chats", post(create_chat))
            .route(
                "/api/partner/v3/chats/{chat_id}/messages",
                post(send_to_chat),
            )
            .fallback(not_found)
            .with_state(shared.clone());
        Ok(Self {
            server: MockServer::serve(router).await?,
            shared,
        })
    }

    /// The base URL to give [`crate::messaging::linq::LinqConfig::with_base_url`]
    /// (`…/api/partner`).
    pub fn base_url(&self) -> Url {
        self.server.url("/api/partner")
    }

    pub fn fail_next(&self, n: usize, answer: Scripted) {
        let mut state = lock(&self.shared.state);
        for _ in 0..n {
            state.script.push_back(answer.clone());
        }
    }

    /// Sends to `handle` are refused with 403/2024 from now on.
    pub fn opt_out(&self, handle: &str) {
        lock(&self.shared.state).opted_out.insert(handle.to_owned());
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }

    pub fn messages(&self) -> Vec<LinqMockMessage> {
        lock(&self.shared.state).messages.clone()
    }

    pub fn chats(&self) -> Vec<LinqMockChat> {
        lock(&self.shared.state).chats.clone()
    }

    /// Forgets a chat, as if Linq had deleted it (later sends into it get 404/2001).
    pub fn delete_chat(&self, chat_id: &str) {
        lock(&self.shared.state).chats.retain(|c| c.id != chat_id);
    }

    /// Messages actually sent with this idempotency key (replays do not count).
    pub fn count_for_key(&self, key: &str) -> usize {
        lock(&self.shared.state)
            .messages
            .iter()
            .filter(|m| m.idempotency_key.as_deref() == Some(key))
            .count()
    }

    /// Messages sent to `to` with this text, whatever their keys.
    pub fn count_for(&self, to: &str, text: &str) -> usize {
        lock(&self.shared.state)
            .messages
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to) && m.text.as_deref() == Some(text))
            .count()
    }

    /// Requests that carried this idempotency key, replays included.
    pub fn attempts_for_key(&self, key: &str) -> usize {
        lock(&self.shared.state)
            .requests
            .iter()
            .filter(|r| request_key(r.json().as_ref(), &r.headers).as_deref() == Some(key))
            .count()
    }
}

fn trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn linq_error(status: u16, code: u32, message: &str, extra: &[(String, String)]) -> Response {
    let mut error = json!({
        "status": status,
        "code": code,
        "message": message,
        "doc_url": format!("https://docs.linqapp.com/error/codes/{}xxx/{code}/", code / 1000),
    });
    if let Some((_, secs)) = extra.iter().find(|(k, _)| k == "Retry-After")
        && let Ok(secs) = secs.parse::<u64>()
    {
        error["retry_after"] = json!(secs);
    }
    let trace = trace_id();
    let mut headers = extra.to_vec();
    headers.push(("X-Trace-ID".to_owned(), trace.clone()));
    json(
        status,
        &json!({"success": false, "error": error, "trace_id": trace}),
        &headers,
    )
}

fn ok(status: u16, body: &Value) -> Response {
    json(status, body, &[("X-Trace-ID".to_owned(), trace_id())])
}

fn scripted(answer: &Scripted) -> Option<Response> {
    Some(match answer {
        Scripted::ServerError => linq_error(500, 3001, "Internal server error", &[]),
        Scripted::BadGateway => bad_gateway(),
        Scripted::RateLimited { retry_after } => {
            let wait = match retry_after {
                Some(RetryAfter::Seconds(s)) => format!("Try again in {s} seconds."),
                _ => "Try again later.".to_owned(),
            };
            linq_error(
                429,
                1007,
                &format!("Rate limited. {wait}"),
                &retry_after_headers(*retry_after),
            )
        }
        Scripted::OptedOut => linq_error(403, 2024, "Recipient has opted out", &[]),
        Scripted::InvalidNumber => {
            linq_error(400, 1002, "Phone number must be in E.164 format", &[])
        }
        Scripted::Unauthorized => linq_error(401, 2004, "Unauthorized", &[]),
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
    linq_error(404, 2003, "Route not found", &[])
}

fn request_key(body: Option<&Value>, headers: &HeaderMap) -> Option<String> {
    body.and_then(|b| b["message"]["idempotency_key"].as_str())
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
}

/// What to do after recording a request.
enum Begin {
    /// Take the normal path, then hold the answer this long (if set).
    Proceed(Option<std::time::Duration>),
    /// Give this scripted answer at once.
    Answer(Response),
}

/// Records the request and consults the script.
fn begin(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Begin {
    let answer = {
        let mut state = lock(&shared.state);
        state
            .requests
            .push(RecordedRequest::new(method, uri, headers, body));
        state.script.pop_front()
    };
    match answer {
        Some(Scripted::AcceptThenStall(d)) => Begin::Proceed(Some(d)),
        Some(other) => match scripted(&other) {
            Some(response) => Begin::Answer(response),
            None => Begin::Proceed(None),
        },
        None => Begin::Proceed(None),
    }
}

async fn finish(response: Response, stall: Option<std::time::Duration>) -> Response {
    if let Some(delay) = stall {
        tokio::time::sleep(delay).await;
    }
    response
}

async fn create_chat(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let stall = match begin(&shared, &method, &uri, &headers, &body) {
        Begin::Proceed(stall) => stall,
        Begin::Answer(response) => return response,
    };
    let response = handle_create(&shared, &headers, &body);
    finish(response, stall).await
}

async fn send_to_chat(
    State(shared): State<Arc<Shared>>,
    Path(chat_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let stall = match begin(&shared, &method, &uri, &headers, &body) {
        Begin::Proceed(stall) => stall,
        Begin::Answer(response) => return response,
    };
    let response = handle_send(&shared, &chat_id, &headers, &body);
    finish(response, stall).await
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    bearer(headers) == Some(shared.api_token.as_str())
}

fn is_handle(h: &str) -> bool {
    (h.starts_with('+') && E164Phone::parse(h).is_ok()) || (h.contains('@') && !h.contains(' '))
}

/// Why a `MessageContent` is refused: HTTP status, Linq code, message.
type ContentError = (u16, u32, &'static str);

/// Checks `MessageContent`; returns (text, media urls).
fn read_content(message: &Value) -> Result<(Option<String>, Vec<String>), ContentError> {
    let Some(parts) = message["parts"].as_array().filter(|p| !p.is_empty()) else {
        return Err((400, 1001, "message.parts is required"));
    };
    if parts.len() > 100 {
        return Err((400, 1004, "A message may have at most 100 parts"));
    }
    let mut texts = Vec::new();
    let mut media = Vec::new();
    let mut previous_was_text = false;
    for part in parts {
        match part["type"].as_str() {
            Some("text") => {
                if previous_was_text {
                    return Err((400, 1004, "Consecutive text parts are not allowed"));
                }
                let Some(value) = part["value"].as_str() else {
                    return Err((400, 1004, "A text part needs a value"));
                };
                texts.push(value.to_owned());
                previous_was_text = true;
            }
            Some("media") => {
                let Some(url) = part["url"].as_str() else {
                    return Err((400, 1004, "A media part needs a url or attachment_id"));
                };
                media.push(url.to_owned());
                previous_was_text = false;
            }
            _ => return Err((400, 1004, "Unknown part type")),
        }
    }
    Ok(((!texts.is_empty()).then(|| texts.join("\n")), media))
}

fn sent_message(message: &LinqMockMessage) -> Value {
    let mut parts = Vec::new();
    if let Some(text) = &message.text {
        parts.push(json!({"type": "text", "value": text, "reactions": []}));
    }
    for url in &message.media_urls {
        parts.push(json!({
            "type": "media", "id": uuid::Uuid::new_v4().to_string(), "url": url,
            "filename": url.rsplit('/').next().unwrap_or_default(),
            "mime_type": "application/octet-stream", "size_bytes": 0, "reactions": [],
        }));
    }
    json!({
        "id": message.id,
        "created_at": Timestamp::now().to_string(),
        "delivery_status": "queued",
        "is_read": false,
        "parts": parts,
        "sent_at": null,
        "from_handle": {"handle": message.from, "service": "iMessage", "is_me": true},
        "service": "iMessage",
        "preferred_service": null,
    })
}

fn handle_create(shared: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    if !authorized(shared, headers) {
        return linq_error(401, 2004, "Unauthorized", &[]);
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return linq_error(400, 1003, "Invalid request body", &[]);
    };
    let Some(from) = request["from"].as_str() else {
        return linq_error(400, 1001, "from is required", &[]);
    };
    if !from.starts_with('+') || E164Phone::parse(from).is_err() {
        return linq_error(400, 1002, "from must be in E.164 format", &[]);
    }
    let Some(to) = request["to"].as_array().filter(|t| !t.is_empty()) else {
        return linq_error(400, 1001, "to is required", &[]);
    };
    let mut recipients: Vec<String> = Vec::new();
    for handle in to {
        match handle.as_str() {
            Some(h) if is_handle(h) => recipients.push(h.to_owned()),
            _ => return linq_error(400, 1002, "Phone number must be in E.164 format", &[]),
        }
    }
    recipients.sort();
    let (text, media) = match read_content(&request["message"]) {
        Ok(content) => content,
        Err((status, code, why)) => return linq_error(status, code, why, &[]),
    };
    let key = request_key(Some(&request), headers);
    let mut state = lock(&shared.state);
    if let Some((status, answer)) = key.as_ref().and_then(|k| state.replays.get(k)) {
        return ok(*status, answer);
    }
    if let Some(blocked) = recipients.iter().find(|r| state.opted_out.contains(*r)) {
        return linq_error(
            403,
            2024,
            &format!("Recipient {blocked} has opted out"),
            &[],
        );
    }
    let chat_id = match state
        .chats
        .iter()
        .find(|c| c.from == from && c.to == recipients)
    {
        Some(chat) => chat.id.clone(),
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            state.chats.push(LinqMockChat {
                id: id.clone(),
                from: from.to_owned(),
                to: recipients.clone(),
            });
            id
        }
    };
    let message = LinqMockMessage {
        id: uuid::Uuid::new_v4().to_string(),
        chat_id: chat_id.clone(),
        from: from.to_owned(),
        to: recipients.clone(),
        text,
        media_urls: media,
        idempotency_key: key.clone(),
    };
    let now = Timestamp::now().to_string();
    let mut handles = vec![json!({
        "id": uuid::Uuid::new_v4().to_string(), "handle": from, "joined_at": now,
        "service": "iMessage", "is_me": true, "status": "active",
    })];
    handles.extend(recipients.iter().map(|r| {
        json!({
            "id": uuid::Uuid::new_v4().to_string(), "handle": r, "joined_at": now,
            "service": "iMessage", "is_me": false, "status": "active",
        })
    }));
    let answer = json!({
        "chat": {
            "id": chat_id,
            "display_name": recipients.join(", "),
            "handles": handles,
            "is_group": recipients.len() > 1,
            "service": "iMessage",
            "message": sent_message(&message),
        }
    });
    state.messages.push(message);
    if let Some(k) = key {
        state.replays.insert(k, (201, answer.clone()));
    }
    ok(201, &answer)
}

fn handle_send(shared: &Shared, chat_id: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    if !authorized(shared, headers) {
        return linq_error(401, 2004, "Unauthorized", &[]);
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return linq_error(400, 1003, "Invalid request body", &[]);
    };
    let (text, media) = match read_content(&request["message"]) {
        Ok(content) => content,
        Err((status, code, why)) => return linq_error(status, code, why, &[]),
    };
    let key = request_key(Some(&request), headers);
    let mut state = lock(&shared.state);
    if let Some((status, answer)) = key.as_ref().and_then(|k| state.replays.get(k)) {
        return ok(*status, answer);
    }
    let Some(chat) = state.chats.iter().find(|c| c.id == chat_id).cloned() else {
        return linq_error(404, 2001, "Chat not found", &[]);
    };
    if let Some(blocked) = chat.to.iter().find(|r| state.opted_out.contains(*r)) {
        return linq_error(
            403,
            2024,
            &format!("Recipient {blocked} has opted out"),
            &[],
        );
    }
    let message = LinqMockMessage {
        id: uuid::Uuid::new_v4().to_string(),
        chat_id: chat.id.clone(),
        from: chat.from.clone(),
        to: chat.to.clone(),
        text,
        media_urls: media,
        idempotency_key: key.clone(),
    };
    let answer = json!({"chat_id": chat.id, "message": sent_message(&message)});
    state.messages.push(message);
    if let Some(k) = key {
        state.replays.insert(k, (200, answer.clone()));
    }
    ok(200, &answer)
}

// ---------------------------------------------------------------------------------------------
// Signed webhooks, as Linq sends them

/// A 2026-02-03 envelope around `data`, posted to `public_url` with both the Standard Webhooks
/// headers (`webhook-id`/`-timestamp`/`-signature`, key = the `whsec_` secret decoded) and the
/// legacy `X-Webhook-*` headers (key = the secret string).
pub fn signed_webhook(
    public_url: &Url,
    secret: &str,
    event_type: &str,
    data: Value,
    at: Timestamp,
) -> WebhookRequest {
    let event_id = uuid::Uuid::new_v4().to_string();
    let envelope = json!({
        "api_version": "v3",
        "webhook_version": "2026-02-03",
        "event_type": event_type,
        "event_id": event_id,
        "created_at": at.to_string(),
        "trace_id": trace_id(),
        "partner_id": "7ac8224b-c41a-54fb-96ed-e28a94f97ff6",
        "data": data,
    });
    let body = envelope.to_string();
    let ts = at.as_second();
    let standard = standard_signature(secret, &event_id, ts, body.as_bytes()).unwrap_or_default();
    let legacy = legacy_signature(secret, ts, body.as_bytes());
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("content-type", "application/json");
    put("webhook-id", &event_id);
    put("webhook-timestamp", &ts.to_string());
    put("webhook-signature", &standard);
    put("x-webhook-event", event_type);
    put(
        "x-webhook-subscription-id",
        "b1a7e3c2-0000-4000-8000-000000000001",
    );
    put("x-webhook-timestamp", &ts.to_string());
    put("x-webhook-signature", &legacy);
    WebhookRequest::new(Method::POST, public_url.clone(), headers, Bytes::from(body))
}

/// `message.received` from `from` in chat `chat_id`.
pub fn inbound_message_request(
    public_url: &Url,
    secret: &str,
    from: &str,
    text: &str,
    chat_id: &str,
    at: Timestamp,
) -> WebhookRequest {
    let data = json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "direction": "inbound",
        "chat": {"id": chat_id, "is_group": false},
        "sender_handle": {"handle": from, "service": "iMessage"},
        "service": "iMessage",
        "parts": [{"type": "text", "value": text}],
        "sent_at": at.to_string(),
    });
    signed_webhook(public_url, secret, "message.received", data, at)
}

/// A receipt for message `message_id`: `message.sent|delivered|read|failed`.
pub fn status_request(
    public_url: &Url,
    secret: &str,
    event_type: &str,
    message_id: &str,
    at: Timestamp,
) -> WebhookRequest {
    let stamp = at.to_string();
    let data = match event_type {
        "message.failed" => json!({
            "message_id": message_id, "code": 4001, "reason": "Delivery failed", "failed_at": stamp,
        }),
        "message.delivered" => json!({
            "id": message_id, "direction": "outbound", "delivered_at": stamp, "parts": [],
        }),
        "message.read" => json!({
            "id": message_id, "direction": "outbound", "read_at": stamp, "parts": [],
        }),
        _ => json!({"id": message_id, "direction": "outbound", "sent_at": stamp, "parts": []}),
    };
    signed_webhook(public_url, secret, event_type, data, at)
}
