//! The OpenAI client against its mock: the request as OpenAI sees it, usage, errors and the
//! retry policy (what is retried, how long it waits, when it gives up).

use crate::support::closed_port_url;
use leadline_providers::ai::{
    ChatModel, ModelConfig, ModelError, ModelMessage, ModelProvider, ModelRequest, chat_model,
};
use leadline_providers::mock::openai::{MockError, ModelOutcome, OpenAiMock};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub const KEY: &str = "sk-test";

/// A strict-mode schema: every object closed, every property required.
pub fn lead_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": {"type": ["string", "null"]},
            "wants_call": {"type": "boolean"},
        },
        "required": ["name", "wants_call"],
    })
}

pub fn lead_request() -> ModelRequest {
    ModelRequest {
        system: "Extract the lead's name and whether they want a call.".into(),
        messages: vec![
            ModelMessage::user("Hi, I saw your ad"),
            ModelMessage::assistant("Thanks! Who am I talking to?"),
            ModelMessage::user("Ada. Call me tomorrow please."),
        ],
        schema_name: "lead_details".into(),
        output_schema: lead_schema(),
        temperature: Some(0.2),
        max_output_tokens: 300,
    }
}

pub fn answer() -> Value {
    json!({"name": "Ada", "wants_call": true})
}

/// Fast retries so tests never sleep long.
pub fn config(provider: ModelProvider, model: &str, base: Url, key: Option<&str>) -> ModelConfig {
    let config = ModelConfig::new(provider, model)
        .with_base_url(base)
        .with_timeout(Duration::from_secs(5))
        .with_retries(2, Duration::from_millis(1));
    match key {
        Some(key) => config.with_api_key(SecretString::from(key)),
        None => config,
    }
}

async fn mock() -> OpenAiMock {
    OpenAiMock::start().await.unwrap().with_key(KEY)
}

fn client(mock: &OpenAiMock) -> Arc<dyn ChatModel> {
    chat_model(config(
        ModelProvider::OpenAi,
        "gpt-4o-mini",
        mock.base_url(),
        Some(KEY),
    ))
    .unwrap()
}

#[tokio::test]
async fn request_shape_success_and_usage() {
    let mock = mock().await.with_reported_model("gpt-4o-mini-2024-07-18");
    mock.push_output(answer());
    let model = client(&mock);
    assert_eq!(model.describe(), "openai:gpt-4o-mini");

    let reply = model.complete(&lead_request()).await.unwrap();
    assert_eq!(reply.output, answer());
    assert_eq!(reply.model, "gpt-4o-mini-2024-07-18");
    assert!(reply.usage.input_tokens > 50, "{:?}", reply.usage);
    // The mock counts ~4 characters a token of the content it sent.
    assert_eq!(
        reply.usage.output_tokens,
        answer().to_string().len().div_ceil(4) as u64
    );

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let seen = &requests[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let body = &seen.body;
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Extract the lead's name and whether they want a call."},
            {"role": "user", "content": "Hi, I saw your ad"},
            {"role": "assistant", "content": "Thanks! Who am I talking to?"},
            {"role": "user", "content": "Ada. Call me tomorrow please."},
        ])
    );
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema",
               "json_schema": {"name": "lead_details", "strict": true, "schema": lead_schema()}})
    );
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_completion_tokens"], 300);
    assert!(body.get("max_tokens").is_none());
}

#[tokio::test]
async fn wrong_or_missing_key_is_an_auth_error_and_not_retried() {
    let mock = mock().await;
    let wrong = chat_model(config(
        ModelProvider::OpenAi,
        "gpt-4o-mini",
        mock.base_url(),
        Some("sk-wrong"),
    ))
    .unwrap();
    let err = wrong.complete(&lead_request()).await.unwrap_err();
    let ModelError::Auth(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("rejected the configured API key"),
        "{message}"
    );
    assert!(message.contains("Incorrect API key provided"), "{message}");
    assert!(!message.contains("sk-wrong"));
    assert!(!err.is_retryable());

    let keyless = chat_model(config(
        ModelProvider::OpenAi,
        "gpt-4o-mini",
        mock.base_url(),
        None,
    ))
    .unwrap();
    let err = keyless.complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::Auth(m) if m.contains("none is configured")),
        "{err:?}"
    );
    assert!(mock.requests()[1].header("authorization").is_none());
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test]
async fn public_api_without_a_key_is_refused_before_any_io() {
    let err = chat_model(ModelConfig::new(ModelProvider::OpenAi, "gpt-4o-mini"))
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::Config(m) if m.contains("API key")));
}

#[tokio::test]
async fn rate_limit_waits_as_told_then_succeeds() {
    let mock = mock().await;
    // OpenAI's millisecond header wins over the coarser Retry-After.
    mock.push(ModelOutcome::Error(
        MockError::new(429)
            .header("retry-after-ms", "150")
            .retry_after(1),
    ));
    mock.push_output(answer());
    let reply = client(&mock).complete(&lead_request()).await.unwrap();
    assert_eq!(reply.output, answer());
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < Duration::from_millis(900), "{waited:?}");
}

#[tokio::test]
async fn retry_after_beyond_the_cap_is_handed_to_the_caller() {
    let mock = mock().await;
    mock.push_error(429, Some(120));
    let err = client(&mock).complete(&lead_request()).await.unwrap_err();
    assert_eq!(
        err,
        ModelError::RateLimited {
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn exhausted_quota_is_not_retried() {
    let mock = mock().await;
    mock.push(ModelOutcome::Error(
        MockError::new(429)
            .kind("insufficient_quota")
            .code("insufficient_quota")
            .message(
                "You exceeded your current quota, please check your plan and billing details.",
            ),
    ));
    let err = client(&mock).complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::Quota(m) if m.contains("exceeded your current quota")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn server_error_then_success() {
    let mock = mock().await;
    mock.push_error(500, None);
    mock.push_output(answer());
    let reply = client(&mock).complete(&lead_request()).await.unwrap();
    assert_eq!(reply.output, answer());
    assert_eq!(mock.request_count(), 2);
    assert_eq!(mock.reply_count(), 1);
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let mock = mock().await;
    for _ in 0..4 {
        mock.push_error(503, None);
    }
    let err = client(&mock).complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::Server(503, m) if m.contains("overloaded")),
        "{err:?}"
    );
    // The first attempt and two retries.
    assert_eq!(mock.request_count(), 3);
    assert_eq!(mock.pending(), 1);
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let mock = mock().await;
    // A schema strict mode refuses: the mock answers 400 as OpenAI does.
    let mut req = lead_request();
    req.output_schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
    let err = client(&mock).complete(&req).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::InvalidRequest(m) if m.contains("additionalProperties")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 1);

    mock.push_error(404, None);
    let err = client(&mock).complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::InvalidRequest(m) if m.contains("does not exist")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test]
async fn timeout_is_retried_then_reported() {
    let mock = mock().await;
    let slow = || {
        ModelOutcome::Delayed(
            Duration::from_millis(2000),
            Box::new(ModelOutcome::Output(answer())),
        )
    };
    let impatient = |retries| {
        chat_model(
            config(
                ModelProvider::OpenAi,
                "gpt-4o-mini",
                mock.base_url(),
                Some(KEY),
            )
            .with_timeout(Duration::from_millis(400))
            .with_retries(retries, Duration::from_millis(1)),
        )
        .unwrap()
    };
    mock.push(slow());
    mock.push_output(answer());
    let reply = impatient(1).complete(&lead_request()).await.unwrap();
    assert_eq!(reply.output, answer());
    assert_eq!(mock.request_count(), 2);

    mock.push(slow());
    let err = impatient(0).complete(&lead_request()).await.unwrap_err();
    assert_eq!(err, ModelError::Timeout);
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test]
async fn refusal_truncation_and_non_json_are_malformed_and_not_retried() {
    let mock = mock().await;
    let model = client(&mock);
    mock.push_refusal("I'm sorry, I can't help with that.");
    let err = model.complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::MalformedResponse(m) if m.contains("refused")),
        "{err:?}"
    );
    mock.push_truncated();
    let err = model.complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::MalformedResponse(m) if m.contains("cut off")),
        "{err:?}"
    );
    mock.push_raw_content("Sure! Ada wants a call.");
    let err = model.complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::MalformedResponse(m) if m.contains("not JSON")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test]
async fn responder_drives_a_conversation_and_silence_is_a_500() {
    let mock = mock().await;
    let model = client(&mock);
    let err = model.complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::Server(500, m) if m.contains("no reply scripted")),
        "{err:?}"
    );
    // A 500 is retried: the first attempt and two retries.
    assert_eq!(mock.request_count(), 3);

    mock.set_responder(|body| {
        let turns = body["messages"].as_array().map_or(0, Vec::len);
        json!({"name": null, "wants_call": turns > 2})
    });
    let mut short = lead_request();
    short.messages.truncate(1);
    short.system.clear();
    let first = model.complete(&short).await.unwrap();
    assert_eq!(first.output["wants_call"], false);
    let second = model.complete(&lead_request()).await.unwrap();
    assert_eq!(second.output["wants_call"], true);
    // No system message when the system prompt is empty.
    let requests = mock.requests();
    assert_eq!(requests[3].body["messages"][0]["role"], "user");
    assert_eq!(requests[4].body["messages"][0]["role"], "system");
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_after_retries() {
    let model = chat_model(config(
        ModelProvider::OpenAi,
        "gpt-4o-mini",
        closed_port_url("/"),
        Some(KEY),
    ))
    .unwrap();
    let err = model.complete(&lead_request()).await.unwrap_err();
    assert!(matches!(err, ModelError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
}
