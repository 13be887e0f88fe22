//! An OpenAI Chat Completions mock (also standing in for Ollama, llama.cpp and vLLM), and the
//! script both model mocks share ([`ModelOutcome`], [`MockError`], [`ModelMockRequest`]).
//!
//! Reproduces `POST /v1/chat/completions`: Bearer auth (when a key is expected; OpenAI's 401
//! texts), the body checks OpenAI makes (`model`, `messages` and their roles, `temperature` in
//! 0–2, `response_format` `json_schema` with a name and a schema, and for strict schemas
//! `additionalProperties: false` and every property `required` on each object), the
//! `chat.completion` answer (content as a JSON string, `refusal`, `finish_reason`, `usage`
//! counted from text lengths), `x-request-id`, and the error body
//! `{"error": {"message", "type", "param", "code"}}`.
//!
//! Answers come, in order, from the queue of pushed outcomes, then from the responder closure;
//! with neither, 500 saying no reply was scripted.

use super::{json, lock};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

// ---------------------------------------------------------------------------------------------
// The script both model mocks share

/// What a model mock answers to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelOutcome {
    /// A normal answer whose structured output (content / tool input) is this JSON.
    Output(Value),
    /// A normal answer whose content is exactly this text (Anthropic: one text block and no
    /// tool call).
    RawContent(String),
    /// The model declines (OpenAI `message.refusal`, Anthropic `stop_reason: "refusal"`).
    Refusal(String),
    /// Cut off at the token limit (`finish_reason: "length"` / `stop_reason: "max_tokens"`).
    Truncated,
    /// An error status in the vendor's error body.
    Error(MockError),
    /// Hold the answer this long, then give the inner one.
    Delayed(Duration, Box<ModelOutcome>),
}

/// An error answer. Fields left `None` get the vendor's usual values for the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockError {
    pub status: u16,
    /// OpenAI `error.type`, Anthropic `error.type`.
    pub kind: Option<String>,
    /// OpenAI `error.code`, Anthropic `error.details.error_code`.
    pub code: Option<String>,
    pub message: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl MockError {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            kind: None,
            code: None,
            message: None,
            headers: Vec::new(),
        }
    }

    pub fn kind(mut self, kind: &str) -> Self {
        self.kind = Some(kind.to_owned());
        self
    }

    pub fn code(mut self, code: &str) -> Self {
        self.code = Some(code.to_owned());
        self
    }

    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Retry-After: {secs}`.
    pub fn retry_after(self, secs: u64) -> Self {
        self.header("retry-after", &secs.to_string())
    }
}

/// Computes the output for a request when the queue is empty (sees the vendor's request body).
pub type Responder = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// A request as a model mock received it.
#[derive(Clone, Debug)]
pub struct ModelMockRequest {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    /// `Value::Null` when the body was not JSON.
    pub body: Value,
    pub received_at: Instant,
}

impl ModelMockRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct ScriptState {
    queue: VecDeque<ModelOutcome>,
    responder: Option<Responder>,
    requests: Vec<ModelMockRequest>,
    expected_key: Option<String>,
    reported_model: Option<String>,
    replies: usize,
}

/// Queue, responder, expected key and records of one model mock.
#[derive(Default)]
pub(crate) struct ModelScript {
    state: Mutex<ScriptState>,
}

impl std::fmt::Debug for ModelScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelScript").finish_non_exhaustive()
    }
}

impl ModelScript {
    pub(crate) fn push(&self, outcome: ModelOutcome) {
        lock(&self.state).queue.push_back(outcome);
    }

    pub(crate) fn set_responder(&self, responder: Responder) {
        lock(&self.state).responder = Some(responder);
    }

    pub(crate) fn set_key(&self, key: &str) {
        lock(&self.state).expected_key = Some(key.to_owned());
    }

    pub(crate) fn set_reported_model(&self, model: &str) {
        lock(&self.state).reported_model = Some(model.to_owned());
    }

    pub(crate) fn expected_key(&self) -> Option<String> {
        lock(&self.state).expected_key.clone()
    }

    pub(crate) fn requests(&self) -> Vec<ModelMockRequest> {
        lock(&self.state).requests.clone()
    }

    pub(crate) fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    pub(crate) fn reply_count(&self) -> usize {
        lock(&self.state).replies
    }

    pub(crate) fn pending(&self) -> usize {
        lock(&self.state).queue.len()
    }

    pub(crate) fn record(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
        let request = ModelMockRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            headers: headers.clone(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            received_at: Instant::now(),
        };
        lock(&self.state).requests.push(request);
    }

    /// The next outcome for a valid request: the queue, else the responder, else a 500.
    pub(crate) fn next(&self, body: &Value) -> ModelOutcome {
        let responder = {
            let mut state = lock(&self.state);
            if let Some(outcome) = state.queue.pop_front() {
                return outcome;
            }
            state.responder.clone()
        };
        // Called without the lock: a responder may inspect the mock.
        match responder {
            Some(responder) => ModelOutcome::Output(responder(body)),
            None => ModelOutcome::Error(MockError::new(500).message(
                "The mock has no reply scripted for this request: push an outcome or set a responder.",
            )),
        }
    }

    /// The model name to report: the override, else the requested one.
    pub(crate) fn reported_model(&self, body: &Value) -> String {
        lock(&self.state)
            .reported_model
            .clone()
            .unwrap_or_else(|| body["model"].as_str().unwrap_or_default().to_owned())
    }

    pub(crate) fn count_reply(&self) {
        lock(&self.state).replies += 1;
    }
}

/// Waits out [`ModelOutcome::Delayed`] layers and returns the answer to give.
pub(crate) async fn settle(mut outcome: ModelOutcome) -> ModelOutcome {
    while let ModelOutcome::Delayed(delay, next) = outcome {
        tokio::time::sleep(delay).await;
        outcome = *next;
    }
    outcome
}

/// A rough, deterministic token count: about four characters a token, as for English text.
pub(crate) fn tokens(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}

/// `{prefix}` and 24 hex digits, like `chatcmpl-…`, `msg_…`, `req_…` ids.
pub(crate) fn vendor_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..24])
}

pub(crate) fn is_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

// ---------------------------------------------------------------------------------------------
// The OpenAI mock

struct Shared {
    script: ModelScript,
    /// Ollama-like: `response_format` optional, schema strictness not enforced.
    compatible: bool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("compatible", &self.compatible)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct OpenAiMock {
    server: super::MockServer,
    shared: Arc<Shared>,
}

impl OpenAiMock {
    /// Behaves as OpenAI (strict schemas checked). No key expected until [`Self::with_key`].
    pub async fn start() -> std::io::Result<Self> {
        Self::start_flavour(false).await
    }

    /// Behaves as a local OpenAI-compatible server: `response_format` optional and not checked
    /// for strictness, any or no bearer token accepted unless [`Self::with_key`].
    pub async fn start_compatible() -> std::io::Result<Self> {
        Self::start_flavour(true).await
    }

    async fn start_flavour(compatible: bool) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            script: ModelScript::default(),
            compatible,
        });
        let router = Router::new()
            .route("/v1/chat/completions", any(chat_completions))
            .fallback(not_found)
            .with_state(shared.clone());
        Ok(Self {
            server: super::MockServer::serve(router).await?,
            shared,
        })
    }

    /// `http://127.0.0.1:{port}`, without `/v1` (as OpenAI's own base URL).
    pub fn base_url(&self) -> Url {
        self.server.url("/")
    }

    /// Requests must carry `Authorization: Bearer {key}`; others get OpenAI's 401.
    pub fn with_key(self, key: &str) -> Self {
        self.shared.script.set_key(key);
        self
    }

    /// Report this model in answers instead of the requested one (OpenAI reports dated
    /// snapshots, e.g. `gpt-4o-mini-2024-07-18`).
    pub fn with_reported_model(self, model: &str) -> Self {
        self.shared.script.set_reported_model(model);
        self
    }

    pub fn push(&self, outcome: ModelOutcome) {
        self.shared.script.push(outcome);
    }

    pub fn push_output(&self, output: Value) {
        self.push(ModelOutcome::Output(output));
    }

    pub fn push_raw_content(&self, content: &str) {
        self.push(ModelOutcome::RawContent(content.to_owned()));
    }

    /// `status` in OpenAI's error shape, with `Retry-After: {secs}` when given.
    pub fn push_error(&self, status: u16, retry_after: Option<u64>) {
        let error = MockError::new(status);
        self.push(ModelOutcome::Error(match retry_after {
            Some(secs) => error.retry_after(secs),
            None => error,
        }));
    }

    pub fn push_refusal(&self, text: &str) {
        self.push(ModelOutcome::Refusal(text.to_owned()));
    }

    pub fn push_truncated(&self) {
        self.push(ModelOutcome::Truncated);
    }

    /// Used when the queue is empty.
    pub fn set_responder(&self, responder: impl Fn(&Value) -> Value + Send + Sync + 'static) {
        self.shared.script.set_responder(Arc::new(responder));
    }

    pub fn requests(&self) -> Vec<ModelMockRequest> {
        self.shared.script.requests()
    }

    pub fn request_count(&self) -> usize {
        self.shared.script.request_count()
    }

    /// Successful (200) answers given.
    pub fn reply_count(&self) -> usize {
        self.shared.script.reply_count()
    }

    /// Pushed outcomes not yet used.
    pub fn pending(&self) -> usize {
        self.shared.script.pending()
    }
}

/// OpenAI's error body; `type`/`code`/`message` default to OpenAI's usual ones for the status.
fn openai_error(error: &MockError) -> Response {
    let (kind, code, message) = match error.status {
        400 => ("invalid_request_error", None, "Invalid request."),
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        ),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
            "Country, region, or territory not supported",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it.",
        ),
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests per min (RPM). Please try again later.",
        ),
        503 => (
            "server_error",
            Some("server_is_overloaded"),
            "The server is overloaded or not ready yet.",
        ),
        s if s >= 500 => (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        _ => ("invalid_request_error", None, "Invalid request."),
    };
    let body = json!({"error": {
        "message": error.message.as_deref().unwrap_or(message),
        "type": error.kind.as_deref().unwrap_or(kind),
        "param": null,
        "code": error.code.as_deref().or(code),
    }});
    let mut headers = error.headers.clone();
    headers.push(("x-request-id".to_owned(), vendor_id("req_")));
    json(error.status, &body, &headers)
}

fn invalid(message: &str) -> Response {
    openai_error(&MockError::new(400).message(message))
}

async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.script.record(&method, &uri, &headers, &body);
    openai_error(
        &MockError::new(404)
            .code("unknown_url")
            .message(&format!("Invalid URL ({method} {})", uri.path())),
    )
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.script.record(&method, &uri, &headers, &body);
    if method != Method::POST {
        return openai_error(
            &MockError::new(405)
                .message(&format!("Invalid method for URL ({method} {})", uri.path())),
        );
    }
    if let Some(denied) = authorize(&shared.script, &headers) {
        return denied;
    }
    let request = match validate(&headers, &body, shared.compatible) {
        Ok(request) => request,
        Err(why) => return invalid(&why),
    };
    let outcome = settle(shared.script.next(&request)).await;
    completion(&shared.script, &outcome, &request)
}

fn authorize(script: &ModelScript, headers: &HeaderMap) -> Option<Response> {
    let expected = script.expected_key()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(key) if key == expected => None,
        Some(_) => Some(openai_error(&MockError::new(401))),
        // OpenAI answers a missing key with `"code": null`.
        None => Some(json(
            401,
            &json!({"error": {
                "message": "You didn't provide an API key. You need to provide your API key in an \
                            Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "type": "invalid_request_error", "param": null, "code": null,
            }}),
            &[("x-request-id".to_owned(), vendor_id("req_"))],
        )),
    }
}

const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

/// The request body if OpenAI would take it, else why not (in OpenAI's words, for a 400).
fn validate(headers: &HeaderMap, body: &Bytes, compatible: bool) -> Result<Value, String> {
    if !is_json(headers) {
        return Err(String::from(
            "Invalid Content-Type header, expected application/json.",
        ));
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Err(String::from(
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly.)",
        ));
    };
    if request["model"].as_str().is_none_or(str::is_empty) {
        return Err(String::from("you must provide a model parameter"));
    }
    let Some(messages) = request["messages"].as_array() else {
        return Err(String::from("Missing required parameter: 'messages'."));
    };
    if messages.is_empty() {
        return Err(String::from("[] is too short - 'messages'"));
    }
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        if !ROLES.contains(&role) {
            return Err(String::from(&format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', \
                 'tool', 'function', and 'developer'. (messages[{i}].role)"
            )));
        }
        if message.get("content").is_none() {
            return Err(String::from(&format!(
                "Missing required parameter: 'messages[{i}].content'."
            )));
        }
    }
    if let Some(t) = request.get("temperature")
        && !t.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t))
    {
        return Err(String::from(
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2.",
        ));
    }
    let format = &request["response_format"];
    if format.is_null() && compatible {
        return Ok(request);
    }
    if format["type"] != "json_schema" {
        return Err(String::from(
            "Missing required parameter: 'response_format' of type 'json_schema'.",
        ));
    }
    let spec = &format["json_schema"];
    let name = spec["name"].as_str().unwrap_or_default();
    if !is_tool_name(name) {
        return Err(String::from(
            "Invalid 'response_format.json_schema.name': string does not match pattern. \
             Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
        ));
    }
    if !spec["schema"].is_object() {
        return Err(String::from(
            "Missing required parameter: 'response_format.json_schema.schema'.",
        ));
    }
    if !compatible
        && spec["strict"] == true
        && let Some(problem) = strict_problem(&spec["schema"], "()")
    {
        return Err(String::from(&format!(
            "Invalid schema for response_format '{name}': In context={problem}"
        )));
    }
    Ok(request)
}

/// What strict structured outputs refuse in a schema: an object without
/// `additionalProperties: false`, or with a property missing from `required`.
fn strict_problem(schema: &Value, context: &str) -> Option<String> {
    let node = schema.as_object()?;
    let is_object = node.contains_key("properties")
        || match &node.get("type") {
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
            _ => false,
        };
    if is_object {
        if node.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Some(format!(
                "{context}, 'additionalProperties' is required to be supplied and to be false."
            ));
        }
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            if let Some(missing) = properties.keys().find(|k| !required.contains(&k.as_str())) {
                return Some(format!(
                    "{context}, 'required' is required to be supplied and to be an array \
                     including every key in properties. Missing '{missing}'."
                ));
            }
            for (key, child) in properties {
                if let Some(p) = strict_problem(child, &format!("('properties', '{key}')")) {
                    return Some(p);
                }
            }
        }
    }
    let nested = ["items", "anyOf", "allOf", "oneOf", "$defs", "definitions"];
    nested.iter().find_map(|key| match node.get(*key) {
        Some(Value::Array(list)) => list
            .iter()
            .find_map(|child| strict_problem(child, &format!("('{key}')"))),
        Some(Value::Object(map)) if *key == "$defs" || *key == "definitions" => map
            .iter()
            .find_map(|(name, child)| strict_problem(child, &format!("('{key}', '{name}')"))),
        Some(child) => strict_problem(child, &format!("('{key}')")),
        None => None,
    })
}

/// Prompt tokens: message texts and the schema, plus a few per message as OpenAI counts them.
fn prompt_tokens(request: &Value) -> u64 {
    let messages = request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text: usize = messages
        .iter()
        .map(|m| match &m["content"] {
            Value::String(s) => s.chars().count(),
            other => other.to_string().chars().count(),
        })
        .sum();
    let schema = request["response_format"]["json_schema"]["schema"].to_string();
    let per_message = u64::try_from(messages.len()).unwrap_or(u64::MAX) * 3;
    tokens(text + schema.chars().count()) + per_message + 3
}

fn completion(script: &ModelScript, outcome: &ModelOutcome, request: &Value) -> Response {
    let limit = request["max_completion_tokens"]
        .as_u64()
        .or_else(|| request["max_tokens"].as_u64())
        .unwrap_or(4096);
    let (content, refusal, finish_reason, completion_tokens) = match outcome {
        ModelOutcome::Output(output) => {
            let text = output.to_string();
            let used = tokens(text.chars().count());
            (Value::String(text), Value::Null, "stop", used)
        }
        ModelOutcome::RawContent(text) => {
            let used = tokens(text.chars().count());
            (Value::String(text.clone()), Value::Null, "stop", used)
        }
        ModelOutcome::Refusal(text) => {
            let used = tokens(text.chars().count());
            (Value::Null, Value::String(text.clone()), "stop", used)
        }
        // The start of an answer that ran out of tokens.
        ModelOutcome::Truncated => (
            Value::from("{\"reply\": \"Thanks for"),
            Value::Null,
            "length",
            limit,
        ),
        ModelOutcome::Error(error) => return openai_error(error),
        ModelOutcome::Delayed(..) => {
            return openai_error(&MockError::new(500).message("unsettled outcome"));
        }
    };
    script.count_reply();
    let prompt_tokens = prompt_tokens(request);
    let body = json!({
        "id": vendor_id("chatcmpl-"),
        "object": "chat.completion",
        "created": jiff::Timestamp::now().as_second(),
        "model": script.reported_model(request),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal, "annotations": []},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    });
    json(
        200,
        &body,
        &[("x-request-id".to_owned(), vendor_id("req_"))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_schema_rules() {
        let good = json!({"type": "object", "additionalProperties": false,
            "properties": {"name": {"type": "string"},
                "slots": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                    "properties": {"at": {"type": "string"}}, "required": ["at"]}}},
            "required": ["name", "slots"]});
        assert_eq!(strict_problem(&good, "()"), None);
        let mut open = good.clone();
        open["additionalProperties"] = json!(true);
        assert!(strict_problem(&open, "()").is_some());
        let mut optional = good.clone();
        optional["required"] = json!(["name"]);
        assert!(
            strict_problem(&optional, "()")
                .unwrap()
                .contains("Missing 'slots'")
        );
        let mut nested = good;
        nested["properties"]["slots"]["items"]["required"] = json!([]);
        assert!(strict_problem(&nested, "()").is_some());
    }
}
