//! An Anthropic Messages API mock.
//!
//! Reproduces `POST /v1/messages`: `x-api-key` (when a key is expected), the required
//! `anthropic-version` header and JSON content type, the body checks the API makes (`model`,
//! a positive `max_tokens`, `messages` with roles `user`/`assistant` only, `system` as a string
//! or blocks, `temperature` in 0–1) plus what structured answers need here (`tools` with names
//! and object `input_schema`s, `tool_choice` naming one of them), the `message` answer with a
//! `tool_use` block whose `input` is the output object, `stop_reason`, `usage` counted from text
//! lengths, `request-id`, and the error body `{"type": "error", "error": {"type", "message"},
//! "request_id"}` (529 `overloaded_error` included).
//!
//! Scripted like [`super::openai::OpenAiMock`], with the same [`ModelOutcome`]s.

use super::json;
use super::openai::{
    MockError, ModelMockRequest, ModelOutcome, ModelScript, is_json, is_tool_name, settle, tokens,
    vendor_id,
};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use url::Url;

#[derive(Debug)]
pub struct AnthropicMock {
    server: super::MockServer,
    script: Arc<ModelScript>,
}

impl AnthropicMock {
    /// No key expected until [`Self::with_key`].
    pub async fn start() -> std::io::Result<Self> {
        let script = Arc::new(ModelScript::default());
        let router = Router::new()
            .route("/v1/messages", any(messages))
            .fallback(not_found)
            .with_state(script.clone());
        Ok(Self {
            server: super::MockServer::serve(router).await?,
            script,
        })
    }

    /// `http://127.0.0.1:{port}`, without `/v1` (as Anthropic's own base URL).
    pub fn base_url(&self) -> Url {
        self.server.url("/")
    }

    /// Requests must carry `x-api-key: {key}`; others get Anthropic's 401.
    pub fn with_key(self, key: &str) -> Self {
        self.script.set_key(key);
        self
    }

    /// Report this model in answers instead of the requested one.
    pub fn with_reported_model(self, model: &str) -> Self {
        self.script.set_reported_model(model);
        self
    }

    pub fn push(&self, outcome: ModelOutcome) {
        self.script.push(outcome);
    }

    /// A `tool_use` answer whose `input` is `output`.
    pub fn push_output(&self, output: Value) {
        self.push(ModelOutcome::Output(output));
    }

    /// A text-only answer (no tool call) with exactly this text.
    pub fn push_raw_content(&self, content: &str) {
        self.push(ModelOutcome::RawContent(content.to_owned()));
    }

    /// `status` in Anthropic's error shape, with `Retry-After: {secs}` when given.
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

    /// Used when the queue is empty; returns the tool input for the request.
    pub fn set_responder(&self, responder: impl Fn(&Value) -> Value + Send + Sync + 'static) {
        self.script.set_responder(Arc::new(responder));
    }

    pub fn requests(&self) -> Vec<ModelMockRequest> {
        self.script.requests()
    }

    pub fn request_count(&self) -> usize {
        self.script.request_count()
    }

    /// Successful (200) answers given.
    pub fn reply_count(&self) -> usize {
        self.script.reply_count()
    }

    /// Pushed outcomes not yet used.
    pub fn pending(&self) -> usize {
        self.script.pending()
    }
}

/// Anthropic's error body; `type` and `message` default to the usual ones for the status.
fn anthropic_error(error: &MockError) -> Response {
    let (kind, message) = match error.status {
        400 => ("invalid_request_error", "Invalid request."),
        401 => ("authentication_error", "invalid x-api-key"),
        402 => ("billing_error", "Your credit balance is too low."),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => (
            "not_found_error",
            "The requested resource could not be found.",
        ),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => (
            "rate_limit_error",
            "This request would exceed the rate limit for your organization.",
        ),
        504 => ("timeout_error", "Request timed out."),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Invalid request."),
    };
    let mut detail = json!({
        "type": error.kind.as_deref().unwrap_or(kind),
        "message": error.message.as_deref().unwrap_or(message),
    });
    if let Some(code) = &error.code {
        detail["details"] = json!({"error_code": code});
    }
    let request_id = vendor_id("req_");
    let body = json!({"type": "error", "error": detail, "request_id": request_id});
    let mut headers = error.headers.clone();
    headers.push(("request-id".to_owned(), request_id));
    json(error.status, &body, &headers)
}

fn invalid(message: &str) -> Response {
    anthropic_error(&MockError::new(400).message(message))
}

async fn not_found(
    State(script): State<Arc<ModelScript>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    script.record(&method, &uri, &headers, &body);
    anthropic_error(&MockError::new(404).message("Not Found"))
}

async fn messages(
    State(script): State<Arc<ModelScript>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    script.record(&method, &uri, &headers, &body);
    if method != Method::POST {
        return anthropic_error(&MockError::new(405).message("Method Not Allowed"));
    }
    if let Some(expected) = script.expected_key() {
        match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            Some(key) if key == expected => {}
            Some(_) => return anthropic_error(&MockError::new(401)),
            None => {
                return anthropic_error(
                    &MockError::new(401).message("x-api-key header is required"),
                );
            }
        }
    }
    let request = match validate(&headers, &body) {
        Ok(request) => request,
        Err(why) => return invalid(&why),
    };
    let outcome = settle(script.next(&request)).await;
    message(&script, &outcome, &request)
}

/// The request body if Anthropic would take it, else why not (in Anthropic's words, for a 400).
fn validate(headers: &HeaderMap, body: &Bytes) -> Result<Value, String> {
    if headers.get("anthropic-version").is_none() {
        return Err(String::from("anthropic-version: header is required"));
    }
    if !is_json(headers) {
        return Err(String::from("Content-Type must be application/json"));
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Err(String::from("The request body is not valid JSON."));
    };
    if request["model"].as_str().is_none_or(str::is_empty) {
        return Err(String::from("model: Field required"));
    }
    if request["max_tokens"].as_u64().is_none_or(|n| n < 1) {
        return Err(String::from(
            "max_tokens: Field required (an integer of at least 1)",
        ));
    }
    let Some(messages) = request["messages"].as_array().filter(|m| !m.is_empty()) else {
        return Err(String::from(
            "messages: Field required (at least one message)",
        ));
    };
    for (i, message) in messages.iter().enumerate() {
        if !matches!(message["role"].as_str(), Some("user" | "assistant")) {
            return Err(String::from(&format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        if !(message["content"].is_string() || message["content"].is_array()) {
            return Err(String::from(&format!(
                "messages.{i}.content: Field required"
            )));
        }
    }
    let system = &request["system"];
    if !(system.is_null() || system.is_string() || system.is_array()) {
        return Err(String::from(
            "system: Input should be a valid string or list of blocks",
        ));
    }
    if let Some(t) = request.get("temperature")
        && !t.as_f64().is_some_and(|t| (0.0..=1.0).contains(&t))
    {
        return Err(String::from(
            "temperature: Input should be less than or equal to 1",
        ));
    }
    let Some(tools) = request["tools"].as_array().filter(|t| !t.is_empty()) else {
        return Err(String::from(
            "tools: this mock answers through a tool; send one with tool_choice",
        ));
    };
    for (i, tool) in tools.iter().enumerate() {
        if !tool["name"].as_str().is_some_and(is_tool_name) {
            return Err(String::from(&format!(
                "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            )));
        }
        if tool["input_schema"]["type"] != "object" {
            return Err(String::from(&format!(
                "tools.{i}.custom.input_schema.type: Input should be 'object'"
            )));
        }
    }
    let choice = &request["tool_choice"];
    match choice["type"].as_str() {
        Some("tool") => {
            let named = choice["name"].as_str().unwrap_or_default();
            if !tools.iter().any(|t| t["name"] == named) {
                return Err(String::from(&format!(
                    "tool_choice.name: Tool '{named}' not found in provided tools"
                )));
            }
        }
        Some("auto" | "any" | "none") => {}
        _ => return Err(String::from("tool_choice: Field required")),
    }
    Ok(request)
}

/// Input tokens: system, message texts and tool schemas.
fn input_tokens(request: &Value) -> u64 {
    let text = |v: &Value| match v {
        Value::String(s) => s.chars().count(),
        Value::Null => 0,
        other => other.to_string().chars().count(),
    };
    let messages = request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let chars = text(&request["system"])
        + messages.iter().map(|m| text(&m["content"])).sum::<usize>()
        + text(&request["tools"]);
    tokens(chars) + u64::try_from(messages.len()).unwrap_or(u64::MAX) * 3
}

/// The tool the answer calls: the forced one, else the first.
fn answer_tool(request: &Value) -> String {
    request["tool_choice"]["name"]
        .as_str()
        .or_else(|| request["tools"][0]["name"].as_str())
        .unwrap_or("answer")
        .to_owned()
}

fn message(script: &ModelScript, outcome: &ModelOutcome, request: &Value) -> Response {
    let limit = request["max_tokens"].as_u64().unwrap_or(1024);
    let tool_use = |input: &Value| {
        json!({
            "type": "tool_use",
            "id": vendor_id("toolu_"),
            "name": answer_tool(request),
            "input": input,
        })
    };
    let (content, stop_reason, output_tokens) = match outcome {
        ModelOutcome::Output(output) => {
            // The tool-call wrapper costs a few tokens on top of the input itself.
            let used = tokens(output.to_string().chars().count()) + 10;
            (json!([tool_use(output)]), "tool_use", used)
        }
        ModelOutcome::RawContent(text) => {
            let used = tokens(text.chars().count());
            (json!([{"type": "text", "text": text}]), "end_turn", used)
        }
        ModelOutcome::Refusal(text) => {
            let used = tokens(text.chars().count());
            (json!([{"type": "text", "text": text}]), "refusal", used)
        }
        ModelOutcome::Truncated => (json!([tool_use(&json!({}))]), "max_tokens", limit),
        ModelOutcome::Error(error) => return anthropic_error(error),
        ModelOutcome::Delayed(..) => {
            return anthropic_error(&MockError::new(500).message("unsettled outcome"));
        }
    };
    script.count_reply();
    let body = json!({
        "id": vendor_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": script.reported_model(request),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": input_tokens(request),
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    });
    json(200, &body, &[("request-id".to_owned(), vendor_id("req_"))])
}
