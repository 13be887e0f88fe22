//! Language-model clients: one [`ChatModel`] trait that asks a model for a JSON answer shaped by
//! a JSON Schema, with adapters for OpenAI Chat Completions ([`openai`]), Anthropic Messages
//! ([`anthropic`]) and OpenAI-compatible local servers (Ollama, llama.cpp, vLLM).
//!
//! Error policy: every adapter maps the vendor's answer into one [`ModelError`] variant whose
//! [`ModelError::is_retryable`] says whether asking again can help. The client itself retries
//! retryable failures (429, 5xx, 529, timeouts, connection errors) up to
//! [`ModelConfig::max_retries`] times with exponential backoff and full jitter, never sooner than
//! the server's `retry-after-ms`/`Retry-After`; a server asking for more than [`MAX_WAIT`] is not
//! waited for, the caller gets [`ModelError::RateLimited`] with the delay and can reschedule.
//! Unlike a text message, a model call has no side effect, so replaying it is always safe.
//!
//! Nothing here logs keys, prompts or model output: they hold leads' messages.

pub mod anthropic;
mod http;
mod loose_json;
pub mod openai;

pub use loose_json::extract_json_object;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The longest wait between two attempts, whether from backoff or from the server.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Which wire format a model speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelProvider {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "anthropic")]
    Anthropic,
    /// OpenAI's Chat Completions format at a self-hosted URL (Ollama, llama.cpp, vLLM).
    #[serde(rename = "openai_compatible")]
    OpenAiCompatible,
}

impl ModelProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::OpenAiCompatible => "openai_compatible",
        }
    }

    /// The vendor's public API, or `None` when there is no such thing.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some(openai::DEFAULT_BASE_URL),
            Self::Anthropic => Some(anthropic::DEFAULT_BASE_URL),
            Self::OpenAiCompatible => None,
        }
    }
}

impl fmt::Display for ModelProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown model provider '{0}' (expected openai, anthropic or openai_compatible)")]
pub struct UnknownModelProvider(pub String);

impl FromStr for ModelProvider {
    type Err = UnknownModelProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai" => Ok(Self::OpenAi),
            "anthropic" => Ok(Self::Anthropic),
            "openai_compatible" | "openai-compatible" => Ok(Self::OpenAiCompatible),
            _ => Err(UnknownModelProvider(s.chars().take(40).collect())),
        }
    }
}

/// How to reach one model. `Debug` shows the key as `[REDACTED]` (a `secrecy` type).
#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub provider: ModelProvider,
    pub model: String,
    /// `None` = the vendor's public API. Required for [`ModelProvider::OpenAiCompatible`]. Both
    /// `http://host:11434` and `http://host:11434/v1` work.
    pub base_url: Option<Url>,
    /// Required for the vendors' public APIs; optional for a compatible server or a gateway that
    /// adds its own credentials.
    pub api_key: Option<SecretString>,
    /// Per attempt, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Attempts after the first one.
    pub max_retries: u32,
    /// Ceiling of the first retry's delay; doubles per retry up to [`MAX_WAIT`].
    pub backoff_base: Duration,
}

impl ModelConfig {
    /// The vendor's public URL, no key, 60 s per attempt, 2 retries from 500 ms (the vendors'
    /// own SDK defaults).
    pub fn new(provider: ModelProvider, model: impl Into<String>) -> Self {
        Self {
            provider,
            model: model.into(),
            base_url: None,
            api_key: None,
            timeout: Duration::from_secs(60),
            max_retries: 2,
            backoff_base: Duration::from_millis(500),
        }
    }

    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = Some(base_url);
        self
    }

    pub fn with_api_key(mut self, api_key: SecretString) -> Self {
        self.api_key = Some(api_key);
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_retries(mut self, max_retries: u32, backoff_base: Duration) -> Self {
        self.max_retries = max_retries;
        self.backoff_base = backoff_base;
        self
    }

    /// The key, when one is configured and not blank.
    pub(crate) fn key(&self) -> Option<&str> {
        self.api_key
            .as_ref()
            .map(|k| k.expose_secret().trim())
            .filter(|k| !k.is_empty())
    }

    /// Checks what can be checked before any I/O and returns the base URL to use.
    pub(crate) fn validated_base(&self) -> Result<Url, ModelError> {
        let config = |why: String| Err(ModelError::Config(format!("{}: {why}", self.provider)));
        if self.model.trim().is_empty() {
            return config("no model name is configured".to_owned());
        }
        if self.timeout.is_zero() {
            return config("the timeout must be longer than zero".to_owned());
        }
        let base = match (&self.base_url, self.provider.default_base_url()) {
            (Some(url), _) => url.clone(),
            (None, Some(default)) => {
                Url::parse(default).map_err(|e| ModelError::Config(e.to_string()))?
            }
            (None, None) => {
                return config(
                    "a base URL is required (for example http://localhost:11434/v1)".to_owned(),
                );
            }
        };
        if !matches!(base.scheme(), "http" | "https") {
            return config(format!(
                "base URL scheme '{}' is not http(s)",
                base.scheme()
            ));
        }
        if base.password().is_some() {
            // Credentials in a URL end up in logs and error messages.
            return config("put the key in api_key, not in the base URL".to_owned());
        }
        if self.base_url.is_none() && self.key().is_none() {
            return config("an API key is required for the public API".to_owned());
        }
        Ok(base)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    User,
    Assistant,
}

impl ModelRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMessage {
    pub role: ModelRole,
    pub content: String,
}

impl ModelMessage {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ModelRole::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: ModelRole::Assistant,
            content: content.into(),
        }
    }
}

/// One question to a model: the conversation so far and the shape of the answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRequest {
    /// Instructions; sent as the first `system` message (OpenAI) or top-level `system`
    /// (Anthropic). Omitted when empty.
    pub system: String,
    pub messages: Vec<ModelMessage>,
    /// Names the schema (OpenAI `json_schema.name`) or the answer tool (Anthropic): 1–64 ASCII
    /// letters, digits, `_` or `-`.
    pub schema_name: String,
    /// A JSON Schema whose root is an object. For OpenAI's strict mode every object in it needs
    /// `additionalProperties: false` and all its properties in `required`.
    pub output_schema: serde_json::Value,
    pub temperature: Option<f32>,
    pub max_output_tokens: u32,
}

impl ModelRequest {
    /// Refuses requests no vendor would take, before any I/O.
    pub(crate) fn check(&self) -> Result<(), ModelError> {
        let invalid = |why: &str| Err(ModelError::InvalidRequest(why.to_owned()));
        let name_ok = (1..=64).contains(&self.schema_name.len())
            && self
                .schema_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return invalid("schema_name must be 1-64 ASCII letters, digits, '_' or '-'");
        }
        if !self.output_schema.is_object() {
            return invalid("output_schema must be a JSON Schema object");
        }
        if self.messages.is_empty() {
            return invalid("a request needs at least one message");
        }
        if self.max_output_tokens == 0 {
            return invalid("max_output_tokens must be at least 1");
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelReply {
    /// The answer, a JSON object (not yet validated against the schema: local servers do not
    /// always enforce it).
    pub output: serde_json::Value,
    pub usage: TokenUsage,
    /// The model as the server reported it (often a dated snapshot of the configured name).
    pub model: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// 401/403: the key is wrong, missing, or lacks access. Retrying will not help until
    /// someone fixes the configuration.
    #[error("model authentication failed: {0}")]
    Auth(String),
    /// 429. Retry, not before `retry_after` when the server said.
    #[error("model rate limited{}", wait_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// The account is out of credit or hit a spend limit (OpenAI 429 `insufficient_quota`,
    /// Anthropic 402 `billing_error`): a 429 that must not be retried.
    #[error("model quota exhausted: {0}")]
    Quota(String),
    /// 5xx (including Anthropic's 529 overloaded), 408 or 409: transient on the server's side.
    #[error("model server error (HTTP {0}): {1}")]
    Server(u16, String),
    /// No complete answer within [`ModelConfig::timeout`].
    #[error("model call timed out")]
    Timeout,
    /// Any other 4xx: the request itself is wrong (bad model name, schema refused, too long).
    #[error("model refused the request: {0}")]
    InvalidRequest(String),
    /// A 2xx whose answer is unusable: not JSON, a refusal, no tool call, or cut short at the
    /// token limit.
    #[error("unusable model answer: {0}")]
    MalformedResponse(String),
    /// No HTTP answer: connection refused or reset, DNS, TLS.
    #[error("model server unreachable: {0}")]
    Transport(String),
    #[error("invalid model configuration: {0}")]
    Config(String),
}

impl ModelError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server(..) | Self::Timeout | Self::Transport(_)
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

fn wait_hint(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {d:?})"))
        .unwrap_or_default()
}

/// Asks one configured model for structured answers.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// `provider:model`, e.g. `openai:gpt-4o-mini`; recorded as the source of extracted values.
    fn describe(&self) -> String;
    async fn complete(&self, req: &ModelRequest) -> Result<ModelReply, ModelError>;
}

/// The client for `config`, with its own HTTP connection pool.
pub fn chat_model(config: ModelConfig) -> Result<Arc<dyn ChatModel>, ModelError> {
    let http = http::client(&config)?;
    chat_model_with_client(config, http)
}

/// The client for `config` over a caller's `reqwest::Client` (shared pool, proxies). The
/// per-attempt timeout still comes from [`ModelConfig::timeout`].
pub fn chat_model_with_client(
    config: ModelConfig,
    http: reqwest::Client,
) -> Result<Arc<dyn ChatModel>, ModelError> {
    Ok(match config.provider {
        ModelProvider::OpenAi | ModelProvider::OpenAiCompatible => {
            Arc::new(openai::OpenAiChat::new(config, http)?)
        }
        ModelProvider::Anthropic => Arc::new(anthropic::AnthropicChat::new(config, http)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in [
            ModelProvider::OpenAi,
            ModelProvider::Anthropic,
            ModelProvider::OpenAiCompatible,
        ] {
            assert_eq!(p.as_str().parse::<ModelProvider>(), Ok(p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.as_str())
            );
            assert_eq!(
                serde_json::from_value::<ModelProvider>(serde_json::json!(p.as_str())).unwrap(),
                p
            );
        }
        assert!("gemini".parse::<ModelProvider>().is_err());
    }

    #[test]
    fn debug_redacts_the_key() {
        let config = ModelConfig::new(ModelProvider::OpenAi, "gpt-4o-mini")
            .with_api_key(SecretString::from("sk-very-secret"));
        assert!(!format!("{config:?}").contains("sk-very-secret"));
    }

    #[test]
    fn config_checks() {
        let base = |c: ModelConfig| c.validated_base().map(|u| u.to_string());
        assert!(matches!(
            base(ModelConfig::new(ModelProvider::OpenAi, "gpt-4o-mini")),
            Err(ModelError::Config(m)) if m.contains("API key")
        ));
        assert_eq!(
            base(
                ModelConfig::new(ModelProvider::Anthropic, "claude-sonnet-4-5")
                    .with_api_key(SecretString::from("k"))
            ),
            Ok("https://api.anthropic.com/".to_owned())
        );
        assert!(matches!(
            base(ModelConfig::new(ModelProvider::OpenAiCompatible, "llama3.1")),
            Err(ModelError::Config(m)) if m.contains("base URL")
        ));
        let local = Url::parse("http://localhost:11434").unwrap();
        assert!(
            base(
                ModelConfig::new(ModelProvider::OpenAiCompatible, "llama3.1")
                    .with_base_url(local.clone())
            )
            .is_ok()
        );
        assert!(
            base(ModelConfig::new(ModelProvider::OpenAiCompatible, " ").with_base_url(local))
                .is_err()
        );
        let with_password = Url::parse("http://u:p@localhost:11434").unwrap();
        assert!(
            base(
                ModelConfig::new(ModelProvider::OpenAiCompatible, "m").with_base_url(with_password)
            )
            .is_err()
        );
    }

    #[test]
    fn request_checks() {
        let ok = ModelRequest {
            system: String::new(),
            messages: vec![ModelMessage::user("hi")],
            schema_name: "lead_reply".into(),
            output_schema: serde_json::json!({"type": "object"}),
            temperature: None,
            max_output_tokens: 100,
        };
        assert_eq!(ok.check(), Ok(()));
        let bad_name = ModelRequest {
            schema_name: "lead reply".into(),
            ..ok.clone()
        };
        assert!(bad_name.check().is_err());
        let no_messages = ModelRequest {
            messages: vec![],
            ..ok.clone()
        };
        assert!(no_messages.check().is_err());
        let not_object = ModelRequest {
            output_schema: serde_json::json!(true),
            ..ok
        };
        assert!(not_object.check().is_err());
    }

    #[test]
    fn retryable_variants() {
        assert!(ModelError::Timeout.is_retryable());
        assert!(ModelError::Server(529, "Overloaded".into()).is_retryable());
        assert!(ModelError::RateLimited { retry_after: None }.is_retryable());
        assert!(!ModelError::Auth("x".into()).is_retryable());
        assert!(!ModelError::Quota("x".into()).is_retryable());
        assert!(!ModelError::InvalidRequest("x".into()).is_retryable());
        assert!(!ModelError::MalformedResponse("x".into()).is_retryable());
    }
}
