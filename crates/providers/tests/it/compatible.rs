//! The OpenAI-compatible client (Ollama, llama.cpp, vLLM) against the OpenAI mock in its
//! compatible flavour: optional key, base URLs with and without `/v1`, `max_tokens`, and
//! answers that wrap the JSON in fences or prose.

use crate::openai::{answer, config, lead_request};
use leadline_providers::ai::{ChatModel, ModelConfig, ModelError, ModelProvider, chat_model};
use leadline_providers::mock::openai::{MockError, ModelOutcome, OpenAiMock};
use std::sync::Arc;
use url::Url;

const MODEL: &str = "llama3.1:8b";

async fn mock() -> OpenAiMock {
    OpenAiMock::start_compatible().await.unwrap()
}

fn client(base: Url, key: Option<&str>) -> Arc<dyn ChatModel> {
    chat_model(config(ModelProvider::OpenAiCompatible, MODEL, base, key)).unwrap()
}

fn with_v1(base: &Url) -> Url {
    base.join("v1").unwrap()
}

#[tokio::test]
async fn keyless_request_shape_with_and_without_v1() {
    let mock = mock().await;
    for (i, base) in [mock.base_url(), with_v1(&mock.base_url())]
        .into_iter()
        .enumerate()
    {
        mock.push_output(answer());
        let model = client(base, None);
        assert_eq!(model.describe(), "openai_compatible:llama3.1:8b");
        let reply = model.complete(&lead_request()).await.unwrap();
        assert_eq!(reply.output, answer());
        assert_eq!(reply.model, MODEL);
        assert!(reply.usage.input_tokens > 0 && reply.usage.output_tokens > 0);

        let seen = &mock.requests()[i];
        assert_eq!(seen.path, "/v1/chat/completions");
        assert!(seen.header("authorization").is_none());
        assert_eq!(seen.body["max_tokens"], 300);
        assert!(seen.body.get("max_completion_tokens").is_none());
        assert_eq!(seen.body["response_format"]["type"], "json_schema");
        assert_eq!(seen.body["messages"][0]["role"], "system");
    }
    // A trailing slash after /v1 is not doubled either.
    let trailing = Url::parse(&format!("{}/", with_v1(&mock.base_url()))).unwrap();
    mock.push_output(answer());
    client(trailing, None)
        .complete(&lead_request())
        .await
        .unwrap();
    assert_eq!(mock.requests()[2].path, "/v1/chat/completions");
}

#[tokio::test]
async fn a_configured_key_is_sent_as_bearer() {
    let mock = mock().await.with_key("llama-secret");
    mock.push_output(answer());
    client(mock.base_url(), Some("llama-secret"))
        .complete(&lead_request())
        .await
        .unwrap();
    assert_eq!(
        mock.requests()[0].header("authorization"),
        Some("Bearer llama-secret")
    );
    let err = client(mock.base_url(), None)
        .complete(&lead_request())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Auth(_)), "{err:?}");
}

#[tokio::test]
async fn fenced_or_wrapped_json_is_accepted() {
    let mock = mock().await;
    let model = client(mock.base_url(), None);
    let raw = answer().to_string();
    for content in [
        format!("```json\n{raw}\n```"),
        format!("Here is the JSON you asked for:\n\n{raw}\n\nLet me know if you need more."),
        format!("<think>The lead is {{Ada}}.</think>\n{raw}"),
    ] {
        mock.push_raw_content(&content);
        let reply = model.complete(&lead_request()).await.unwrap();
        assert_eq!(reply.output, answer(), "{content}");
    }
}

#[tokio::test]
async fn anything_else_is_malformed() {
    let mock = mock().await;
    let model = client(mock.base_url(), None);
    for content in [
        "Ada wants a call tomorrow.",
        "[\"Ada\", true]",
        "{\"name\": \"Ada\", \"wants_call\": tr",
    ] {
        mock.push_raw_content(content);
        let err = model.complete(&lead_request()).await.unwrap_err();
        assert!(
            matches!(&err, ModelError::MalformedResponse(m) if m.contains("no JSON object")),
            "{content}: {err:?}"
        );
    }
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test]
async fn unknown_model_is_an_invalid_request() {
    let mock = mock().await;
    mock.push(ModelOutcome::Error(
        MockError::new(404)
            .kind("not_found_error")
            .message("model \"llama9\" not found, try pulling it first"),
    ));
    let err = client(mock.base_url(), None)
        .complete(&lead_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::InvalidRequest(m) if m.contains("try pulling it first")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn a_base_url_is_required() {
    let err = chat_model(ModelConfig::new(ModelProvider::OpenAiCompatible, MODEL))
        .err()
        .unwrap();
    assert!(
        matches!(&err, ModelError::Config(m) if m.contains("base URL")),
        "{err:?}"
    );
}
