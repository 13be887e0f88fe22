//! Shared HTTP plumbing for the adapters: what a transport failure means, and reading a response
//! in full before it is classified.

use super::{ProviderFault, ProviderKind, SendError, parse_retry_after};
use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::error::Error as _;
use std::time::Duration;

/// A provider's complete answer.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends the request and reads the whole answer. Transport failures become [`SendError`]s:
/// a failed connect never sent anything; anything later may have reached the provider.
pub(crate) async fn execute(
    provider: ProviderKind,
    request: reqwest::RequestBuilder,
    replay_safe: bool,
) -> Result<Answer, SendError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, &e, replay_safe))?;
    let status = response.status().as_u16();
    // Status only: bodies hold message text and phone numbers.
    tracing::debug!(%provider, status, "provider answered");
    let headers = response.headers().clone();
    match response.bytes().await {
        Ok(body) => Ok(Answer {
            status,
            headers,
            body,
        }),
        // The status line arrived, so the provider decided; only the body was lost.
        Err(e) if (200..300).contains(&status) => Err(SendError::Ambiguous {
            fault: fault(provider, Some(status), None, describe(&e)),
            replay_safe,
        }),
        Err(e) => Ok(Answer {
            status,
            headers,
            body: Bytes::from(describe(&e)),
        }),
    }
}

pub(crate) fn transport_error(
    provider: ProviderKind,
    err: &reqwest::Error,
    replay_safe: bool,
) -> SendError {
    let f = fault(provider, None, None, describe(err));
    if err.is_builder() {
        SendError::Rejected(f)
    } else if err.is_connect() {
        SendError::NotSent(f)
    } else {
        SendError::Ambiguous {
            fault: f,
            replay_safe,
        }
    }
}

pub(crate) fn fault(
    provider: ProviderKind,
    http_status: Option<u16>,
    code: Option<String>,
    message: String,
) -> ProviderFault {
    ProviderFault {
        provider,
        http_status,
        code,
        message,
    }
}

/// The error and its causes on one line; reqwest's top-level text alone ("error sending
/// request") rarely says what went wrong.
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()))
}

/// A short, printable excerpt of a body that was not the expected JSON (an HTML error page from
/// a load balancer, say).
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty response body".to_owned();
    }
    text.chars().take(200).collect()
}

/// `base` with `path` appended, keeping any path `base` already has.
pub(crate) fn join(base: &url::Url, path: &str) -> Result<url::Url, url::ParseError> {
    let joined = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url::Url::parse(&joined)
}
