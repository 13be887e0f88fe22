//! Anthropic Messages (`POST {base}/v1/messages`, `anthropic-version: 2023-06-01`).
//!
//! The answer's shape is asked for through one tool whose `input_schema` is the output schema,
//! forced with `tool_choice: {"type": "tool"}`; the answer is that `tool_use` block's `input`
//! (already a JSON object, unlike OpenAI's string). Tool use is generally available, unlike
//! `output_config.format`, hence this route.

use super::http::{self, Answer, Failure, RetryPolicy, VendorError};
use super::{
    ChatModel, ModelConfig, ModelError, ModelProvider, ModelReply, ModelRequest, TokenUsage,
};
use async_trait::async_trait;
use reqwest::header::{ACCEPT, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";
const ANSWER_TOOL_DESCRIPTION: &str =
    "Give your answer by calling this tool exactly once; its input is the answer.";

/// A Messages client for [`ModelProvider::Anthropic`].
#[derive(Clone, Debug)]
pub struct AnthropicChat {
    config: ModelConfig,
    http: reqwest::Client,
    url: Url,
    retry: RetryPolicy,
}

impl AnthropicChat {
    pub fn new(config: ModelConfig, http: reqwest::Client) -> Result<Self, ModelError> {
        if config.provider != ModelProvider::Anthropic {
            return Err(ModelError::Config(format!(
                "a {} model needs the Chat Completions client",
                config.provider
            )));
        }
        let base = config.validated_base()?;
        let url = http::endpoint(&base, "messages")?;
        let retry = RetryPolicy::new(&config);
        Ok(Self {
            config,
            http,
            url,
            retry,
        })
    }

    /// Where requests go.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The request body: `system` at the top level, one forced answer tool.
    pub fn body(&self, req: &ModelRequest) -> Result<Value, ModelError> {
        let messages: Vec<Value> = req
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let mut body = json!({
            "model": self.config.model,
            "max_tokens": req.max_output_tokens,
            "messages": messages,
            "tools": [{
                "name": req.schema_name,
                "description": ANSWER_TOOL_DESCRIPTION,
                "input_schema": req.output_schema,
            }],
            "tool_choice": {
                "type": "tool",
                "name": req.schema_name,
                "disable_parallel_tool_use": true,
            },
        });
        if !req.system.is_empty() {
            body["system"] = json!(req.system);
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(http::temperature(t)?);
        }
        Ok(body)
    }

    async fn attempt(&self, body: &Value, req: &ModelRequest) -> Result<ModelReply, Failure> {
        let mut request = self
            .http
            .post(self.url.clone())
            .timeout(self.config.timeout)
            .header("anthropic-version", API_VERSION)
            .header(ACCEPT, "application/json")
            .json(body);
        if let Some(key) = self.config.key() {
            let mut value = HeaderValue::from_str(key).map_err(|_| {
                ModelError::Config("the API key holds characters a header cannot carry".to_owned())
            })?;
            // Sensitive headers are redacted from reqwest's Debug output.
            value.set_sensitive(true);
            request = request.header("x-api-key", value);
        }
        let answer = http::execute("anthropic", request).await?;
        if !answer.is_success() {
            return Err(http::classify(
                "anthropic",
                &answer,
                error_body(&answer),
                self.config.key().is_some(),
            ));
        }
        read_message(&answer, req, &self.config.model).map_err(Failure::from)
    }
}

#[async_trait]
impl ChatModel for AnthropicChat {
    fn describe(&self) -> String {
        format!("anthropic:{}", self.config.model)
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelReply, ModelError> {
        req.check()?;
        let body = self.body(req)?;
        http::with_retries("anthropic", self.retry, || self.attempt(&body, req)).await
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

fn read_message(
    answer: &Answer,
    req: &ModelRequest,
    configured_model: &str,
) -> Result<ModelReply, ModelError> {
    let malformed = |why: String| Err(ModelError::MalformedResponse(why));
    let message = match serde_json::from_slice::<Message>(&answer.body) {
        Ok(m) => m,
        Err(e) => return malformed(format!("the answer is not a message: {e}")),
    };
    match message.stop_reason.as_deref() {
        Some("max_tokens" | "model_context_window_exceeded") => {
            return malformed(format!(
                "the answer was cut off at the token limit ({} tokens)",
                req.max_output_tokens
            ));
        }
        Some("refusal") => return malformed("the model refused to answer".to_owned()),
        _ => {}
    }
    let tool_input = message
        .content
        .iter()
        .find(|block| block["type"] == "tool_use" && block["name"] == req.schema_name.as_str())
        .map(|block| &block["input"]);
    let output = match tool_input {
        Some(input @ Value::Object(_)) => input.clone(),
        Some(_) => return malformed("the tool input is not a JSON object".to_owned()),
        None => {
            return malformed(format!(
                "the model answered without calling the {} tool",
                req.schema_name
            ));
        }
    };
    let usage = message
        .usage
        .map_or_else(TokenUsage::default, |u| TokenUsage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
        });
    Ok(ModelReply {
        output,
        usage,
        model: message
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| configured_model.to_owned()),
    })
}

/// `{"type": "error", "error": {"type", "message"}, "request_id"}`.
fn error_body(answer: &Answer) -> VendorError {
    let parsed = serde_json::from_slice::<Value>(&answer.body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    VendorError {
        kind: error.and_then(|e| text(&e["type"])),
        code: error.and_then(|e| text(&e["details"]["error_code"])),
        message: error
            .and_then(|e| text(&e["message"]))
            .unwrap_or_else(|| http::excerpt(&answer.body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::ModelMessage;
    use bytes::Bytes;
    use reqwest::header::HeaderMap;

    fn request() -> ModelRequest {
        ModelRequest {
            system: "Extract the lead's details.".into(),
            messages: vec![ModelMessage::user("I'm Ada")],
            schema_name: "lead".into(),
            output_schema: json!({"type": "object"}),
            temperature: None,
            max_output_tokens: 256,
        }
    }

    fn read(body: Value) -> Result<ModelReply, ModelError> {
        let answer = Answer {
            status: 200,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        };
        read_message(&answer, &request(), "claude-x")
    }

    fn message(content: Value, stop_reason: &str) -> Value {
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": 50, "output_tokens": 20},
        })
    }

    #[test]
    fn reads_the_tool_input() {
        let reply = read(message(
            json!([
                {"type": "text", "text": "Recording."},
                {"type": "tool_use", "id": "toolu_1", "name": "lead", "input": {"name": "Ada"}}
            ]),
            "tool_use",
        ))
        .unwrap();
        assert_eq!(reply.output, json!({"name": "Ada"}));
        assert_eq!(reply.model, "claude-sonnet-4-5-20250929");
        assert_eq!(reply.usage.input_tokens, 50);
        assert_eq!(reply.usage.output_tokens, 20);
    }

    #[test]
    fn unusable_messages() {
        let malformed =
            |r: Result<ModelReply, ModelError>| matches!(r, Err(ModelError::MalformedResponse(_)));
        let tool = json!([{"type": "tool_use", "id": "t", "name": "lead", "input": {}}]);
        assert!(malformed(read(message(tool.clone(), "max_tokens"))));
        assert!(malformed(read(message(json!([]), "refusal"))));
        assert!(malformed(read(message(
            json!([{"type": "text", "text": "{}"}]),
            "end_turn"
        ))));
        let other_tool = json!([{"type": "tool_use", "id": "t", "name": "other", "input": {}}]);
        assert!(malformed(read(message(other_tool, "tool_use"))));
        assert!(malformed(read(json!("not a message"))));
        assert!(!malformed(read(message(tool, "tool_use"))));
    }
}
