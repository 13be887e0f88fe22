//! The Anthropic client against its mock: headers, top-level system, the forced answer tool,
//! usage, errors (529 included) and the retry policy.

use crate::openai::{answer, config, lead_request, lead_schema};
use leadline_providers::ai::{ChatModel, ModelConfig, ModelError, ModelProvider, chat_model};
use leadline_providers::mock::anthropic::AnthropicMock;
use leadline_providers::mock::openai::{MockError, ModelOutcome};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "sk-ant-test";
const MODEL: &str = "claude-sonnet-4-5";

async fn mock() -> AnthropicMock {
    AnthropicMock::start().await.unwrap().with_key(KEY)
}

fn client_with(mock: &AnthropicMock, key: Option<&str>) -> Arc<dyn ChatModel> {
    chat_model(config(
        ModelProvider::Anthropic,
        MODEL,
        mock.base_url(),
        key,
    ))
    .unwrap()
}

fn client(mock: &AnthropicMock) -> Arc<dyn ChatModel> {
    client_with(mock, Some(KEY))
}

#[tokio::test]
async fn request_shape_success_and_usage() {
    let mock = mock()
        .await
        .with_reported_model("claude-sonnet-4-5-20250929");
    mock.push_output(answer());
    let model = client(&mock);
    assert_eq!(model.describe(), "anthropic:claude-sonnet-4-5");

    let reply = model.complete(&lead_request()).await.unwrap();
    assert_eq!(reply.output, answer());
    assert_eq!(reply.model, "claude-sonnet-4-5-20250929");
    assert!(reply.usage.input_tokens > 50, "{:?}", reply.usage);
    assert!(reply.usage.output_tokens > 0, "{:?}", reply.usage);

    let seen = &mock.requests()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert!(seen.header("authorization").is_none());
    let body = &seen.body;
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(
        body["system"],
        "Extract the lead's name and whether they want a call."
    );
    // The system prompt is top-level only; messages alternate user/assistant.
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Hi, I saw your ad"},
            {"role": "assistant", "content": "Thanks! Who am I talking to?"},
            {"role": "user", "content": "Ada. Call me tomorrow please."},
        ])
    );
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["name"], "lead_details");
    assert_eq!(tools[0]["input_schema"], lead_schema());
    assert_eq!(body["tool_choice"]["type"], "tool");
    assert_eq!(body["tool_choice"]["name"], "lead_details");
}

#[tokio::test]
async fn wrong_or_missing_key_is_an_auth_error_and_not_retried() {
    let mock = mock().await;
    let err = client_with(&mock, Some("sk-ant-wrong"))
        .complete(&lead_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::Auth(m)
            if m.contains("anthropic rejected the configured API key") && m.contains("invalid x-api-key")),
        "{err:?}"
    );
    let err = client_with(&mock, None)
        .complete(&lead_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::Auth(m) if m.contains("x-api-key header is required")),
        "{err:?}"
    );
    assert!(mock.requests()[1].header("x-api-key").is_none());
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test]
async fn rate_limit_waits_as_told_then_succeeds() {
    let mock = mock().await;
    // Retry-After in (decimal) seconds, kept short for the test.
    mock.push(ModelOutcome::Error(
        MockError::new(429).header("retry-after", "0.2"),
    ));
    mock.push_output(answer());
    let reply = client(&mock).complete(&lead_request()).await.unwrap();
    assert_eq!(reply.output, answer());
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
}

#[tokio::test]
async fn overloaded_and_server_errors_are_retried() {
    let mock = mock().await;
    mock.push_error(529, None);
    mock.push_error(500, None);
    mock.push_output(answer());
    let reply = client(&mock).complete(&lead_request()).await.unwrap();
    assert_eq!(reply.output, answer());
    assert_eq!(mock.request_count(), 3);

    mock.push_error(529, None);
    let once = chat_model(
        config(ModelProvider::Anthropic, MODEL, mock.base_url(), Some(KEY))
            .with_retries(0, Duration::from_millis(1)),
    )
    .unwrap();
    let err = once.complete(&lead_request()).await.unwrap_err();
    assert_eq!(
        err,
        ModelError::Server(529, "anthropic: Overloaded".to_owned())
    );
}

#[tokio::test]
async fn bad_request_and_billing_are_not_retried() {
    let mock = mock().await;
    // Anthropic takes temperatures up to 1 only: the mock answers 400 as the API does.
    let mut req = lead_request();
    req.temperature = Some(1.5);
    let err = client(&mock).complete(&req).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::InvalidRequest(m) if m.contains("temperature")),
        "{err:?}"
    );
    mock.push_error(402, None);
    let err = client(&mock).complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::Quota(m) if m.contains("credit balance")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test]
async fn timeout_is_reported() {
    let mock = mock().await;
    mock.push(ModelOutcome::Delayed(
        Duration::from_millis(2000),
        Box::new(ModelOutcome::Output(answer())),
    ));
    let model = chat_model(ModelConfig {
        timeout: Duration::from_millis(400),
        max_retries: 0,
        ..config(ModelProvider::Anthropic, MODEL, mock.base_url(), Some(KEY))
    })
    .unwrap();
    assert_eq!(
        model.complete(&lead_request()).await.unwrap_err(),
        ModelError::Timeout
    );
}

#[tokio::test]
async fn truncation_refusal_and_no_tool_call_are_malformed() {
    let mock = mock().await;
    let model = client(&mock);
    mock.push_truncated();
    let err = model.complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::MalformedResponse(m) if m.contains("cut off")),
        "{err:?}"
    );
    mock.push_refusal("I can't help with that.");
    let err = model.complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::MalformedResponse(m) if m.contains("refused")),
        "{err:?}"
    );
    mock.push_raw_content("{\"name\": \"Ada\", \"wants_call\": true}");
    let err = model.complete(&lead_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::MalformedResponse(m) if m.contains("without calling the lead_details tool")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test]
async fn responder_sees_the_anthropic_request() {
    let mock = mock().await;
    mock.set_responder(|body| {
        json!({"name": null, "wants_call": body["system"].as_str().is_some_and(|s| s.contains("call"))})
    });
    let reply = client(&mock).complete(&lead_request()).await.unwrap();
    assert_eq!(reply.output, json!({"name": null, "wants_call": true}));
    assert_eq!(mock.reply_count(), 1);
}
