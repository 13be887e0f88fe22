//! OpenAI Chat Completions (`POST {base}/v1/chat/completions`), for OpenAI itself and for
//! OpenAI-compatible servers (Ollama, llama.cpp, vLLM).
//!
//! The answer's shape is asked for with `response_format: json_schema` (strict) and read from
//! `choices[0].message.content`. The two flavours differ where the servers do:
//!
//! | | OpenAI | compatible |
//! |---|---|---|
//! | key | `Authorization: Bearer`, required by the public API | optional; no header without |
//! | token limit | `max_completion_tokens` (reasoning models refuse `max_tokens`) | `max_tokens` |
//! | content | exactly a JSON object | the first JSON object in it (fences, prose tolerated) |
//!
//! Ollama ignores `max_completion_tokens`, hence the older name for compatible servers.

use super::http::{self, Answer, Failure, RetryPolicy, VendorError};
use super::{
    ChatModel, ModelConfig, ModelError, ModelProvider, ModelReply, ModelRequest, TokenUsage,
    extract_json_object,
};
use async_trait::async_trait;
use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";

/// A Chat Completions client for [`ModelProvider::OpenAi`] or
/// [`ModelProvider::OpenAiCompatible`].
#[derive(Clone, Debug)]
pub struct OpenAiChat {
    config: ModelConfig,
    http: reqwest::Client,
    url: Url,
    retry: RetryPolicy,
}

impl OpenAiChat {
    pub fn new(config: ModelConfig, http: reqwest::Client) -> Result<Self, ModelError> {
        if config.provider == ModelProvider::Anthropic {
            return Err(ModelError::Config(
                "an anthropic model needs the Anthropic client".to_owned(),
            ));
        }
        let base = config.validated_base()?;
        let url = http::endpoint(&base, "chat/completions")?;
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

    fn compatible(&self) -> bool {
        self.config.provider == ModelProvider::OpenAiCompatible
    }

    fn vendor(&self) -> &'static str {
        self.config.provider.as_str()
    }

    /// The request body: the system message first, then the conversation.
    pub fn body(&self, req: &ModelRequest) -> Result<Value, ModelError> {
        let mut messages = Vec::with_capacity(req.messages.len() + 1);
        if !req.system.is_empty() {
            messages.push(json!({"role": "system", "content": req.system}));
        }
        messages.extend(
            req.messages
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.content})),
        );
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": req.schema_name, "strict": true, "schema": req.output_schema},
            },
        });
        let limit = if self.compatible() {
            "max_tokens"
        } else {
            "max_completion_tokens"
        };
        body[limit] = json!(req.max_output_tokens);
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
            .header(ACCEPT, "application/json")
            .json(body);
        if let Some(key) = self.config.key() {
            // reqwest marks the header sensitive, so it never shows in Debug output.
            request = request.bearer_auth(key);
        }
        let answer = http::execute(self.vendor(), request).await?;
        if !answer.is_success() {
            return Err(http::classify(
                self.vendor(),
                &answer,
                error_body(&answer),
                self.config.key().is_some(),
            ));
        }
        read_completion(&answer, req, self.compatible(), &self.config.model).map_err(Failure::from)
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn describe(&self) -> String {
        format!("{}:{}", self.vendor(), self.config.model)
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelReply, ModelError> {
        req.check()?;
        let body = self.body(req)?;
        http::with_retries(self.vendor(), self.retry, || self.attempt(&body, req)).await
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<ChoiceMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

fn read_completion(
    answer: &Answer,
    req: &ModelRequest,
    compatible: bool,
    configured_model: &str,
) -> Result<ModelReply, ModelError> {
    let malformed = |why: String| Err(ModelError::MalformedResponse(why));
    let completion = match serde_json::from_slice::<Completion>(&answer.body) {
        Ok(c) => c,
        Err(e) => return malformed(format!("the answer is not a chat completion: {e}")),
    };
    let Some(choice) = completion.choices.into_iter().next() else {
        return malformed("the completion has no choices".to_owned());
    };
    let message = choice.message.unwrap_or(ChoiceMessage {
        content: None,
        refusal: None,
    });
    if let Some(refusal) = message.refusal.filter(|r| !r.trim().is_empty()) {
        let refusal: String = refusal.chars().take(200).collect();
        return malformed(format!("the model refused: {refusal}"));
    }
    match choice.finish_reason.as_deref() {
        Some("length") => {
            return malformed(format!(
                "the answer was cut off at the token limit ({} tokens)",
                req.max_output_tokens
            ));
        }
        Some("content_filter") => {
            return malformed("the answer was withheld by the content filter".to_owned());
        }
        _ => {}
    }
    let content = message.content.unwrap_or_default();
    if content.trim().is_empty() {
        return malformed("the answer has no content".to_owned());
    }
    let output = if compatible {
        extract_json_object(&content).ok_or_else(|| {
            ModelError::MalformedResponse(format!(
                "the answer holds no JSON object ({} characters)",
                content.chars().count()
            ))
        })?
    } else {
        // Strict mode guarantees the JSON; anything else means something is badly off. The
        // content itself stays out of the error: it may hold a lead's details.
        match serde_json::from_str::<Value>(&content) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => return malformed("the answer is JSON but not an object".to_owned()),
            Err(e) => return malformed(format!("the answer is not JSON: {e}")),
        }
    };
    let usage = completion
        .usage
        .map_or_else(TokenUsage::default, |u| TokenUsage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        });
    Ok(ModelReply {
        output,
        usage,
        model: completion
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| configured_model.to_owned()),
    })
}

/// `{"error": {"message", "type", "param", "code"}}`; older Ollama sends `{"error": "text"}`,
/// llama.cpp a numeric `code`.
fn error_body(answer: &Answer) -> VendorError {
    let parsed = serde_json::from_slice::<Value>(&answer.body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let message = error
        .and_then(|e| text(&e["message"]).or_else(|| text(e)))
        .unwrap_or_else(|| http::excerpt(&answer.body));
    VendorError {
        kind: error.and_then(|e| text(&e["type"])),
        code: error.and_then(|e| text(&e["code"])),
        message,
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
            messages: vec![ModelMessage::user("I'm Ada, call me tomorrow")],
            schema_name: "lead".into(),
            output_schema: json!({"type": "object"}),
            temperature: Some(0.2),
            max_output_tokens: 256,
        }
    }

    fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    fn completion(content: Value, finish_reason: &str) -> Value {
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": content, "refusal": null}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        })
    }

    #[test]
    fn body_flavours() {
        let config = |p| {
            ModelConfig::new(p, "m").with_base_url(Url::parse("http://localhost:11434/v1").unwrap())
        };
        let openai = OpenAiChat::new(config(ModelProvider::OpenAi), reqwest::Client::new())
            .unwrap()
            .body(&request())
            .unwrap();
        assert_eq!(openai["max_completion_tokens"], 256);
        assert!(openai.get("max_tokens").is_none());
        assert_eq!(openai["temperature"], 0.2);
        assert_eq!(openai["messages"][0]["role"], "system");
        assert_eq!(openai["response_format"]["json_schema"]["strict"], true);
        let local = OpenAiChat::new(
            config(ModelProvider::OpenAiCompatible),
            reqwest::Client::new(),
        )
        .unwrap()
        .body(&request())
        .unwrap();
        assert_eq!(local["max_tokens"], 256);
        assert!(local.get("max_completion_tokens").is_none());
    }

    #[test]
    fn debug_output_has_no_key() {
        let config = ModelConfig::new(ModelProvider::OpenAi, "gpt-4o-mini")
            .with_api_key(secrecy::SecretString::from("sk-live-very-secret"));
        let client = OpenAiChat::new(config, reqwest::Client::new()).unwrap();
        let shown = format!("{client:?}");
        assert!(shown.contains("gpt-4o-mini"));
        assert!(!shown.contains("sk-live-very-secret"));
    }

    #[test]
    fn reads_a_completion() {
        let reply = read_completion(
            &ok(completion(json!("{\"name\":\"Ada\"}"), "stop")),
            &request(),
            false,
            "gpt-4o-mini",
        )
        .unwrap();
        assert_eq!(reply.output, json!({"name": "Ada"}));
        assert_eq!(reply.model, "gpt-4o-mini-2024-07-18");
        assert_eq!(
            reply.usage,
            TokenUsage {
                input_tokens: 12,
                output_tokens: 5
            }
        );
    }

    #[test]
    fn unusable_completions() {
        let malformed = |body: Value, compatible| {
            matches!(
                read_completion(&ok(body), &request(), compatible, "m"),
                Err(ModelError::MalformedResponse(_))
            )
        };
        assert!(malformed(completion(json!("{\"a\":"), "length"), false));
        assert!(malformed(
            completion(json!("```json\n{}\n```"), "stop"),
            false
        ));
        assert!(malformed(completion(json!("no json here"), "stop"), true));
        assert!(malformed(completion(json!(null), "stop"), false));
        assert!(malformed(json!({"choices": []}), false));
        assert!(malformed(json!("<html>"), false));
        let mut refused = completion(json!(null), "stop");
        refused["choices"][0]["message"]["refusal"] = json!("I can't help with that.");
        assert!(malformed(refused, false));
        assert!(!malformed(
            completion(json!("```json\n{}\n```"), "stop"),
            true
        ));
    }

    #[test]
    fn error_bodies() {
        let answer = |body: &str| Answer {
            status: 400,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        };
        let said = error_body(&answer(
            r#"{"error":{"message":"bad schema","type":"invalid_request_error","param":null,"code":"x"}}"#,
        ));
        assert_eq!(said.message, "bad schema");
        assert_eq!(said.kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(said.code.as_deref(), Some("x"));
        assert_eq!(
            error_body(&answer(r#"{"error":"model 'x' not found"}"#)).message,
            "model 'x' not found"
        );
        assert_eq!(error_body(&answer("<h1>502</h1>")).message, "<h1>502</h1>");
    }
}
