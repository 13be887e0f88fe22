//! Plumbing the model clients share: the HTTP client, endpoint URLs, reading an answer in full,
//! turning an error status into a [`ModelError`], and the retry loop.

use super::{MAX_WAIT, ModelConfig, ModelError, ModelReply};
use crate::messaging::{Backoff, parse_retry_after};
use bytes::Bytes;
use rand::Rng;
use reqwest::header::HeaderMap;
use std::error::Error as _;
use std::future::Future;
use std::time::Duration;
use url::Url;

/// Longest vendor message kept in an error; some carry whole documentation paragraphs.
const MAX_MESSAGE: usize = 300;

pub(crate) fn client(config: &ModelConfig) -> Result<reqwest::Client, ModelError> {
    reqwest::Client::builder()
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| ModelError::Config(format!("cannot build the HTTP client: {}", describe(&e))))
}

/// `{base}/v1/{path}`, keeping any path the base has, without doubling a `/v1` it ends with
/// (users paste both `http://host:11434` and `http://host:11434/v1`).
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url, ModelError> {
    let mut base = base.clone();
    base.set_query(None);
    base.set_fragment(None);
    let trimmed = base.as_str().trim_end_matches('/');
    let root = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    Url::parse(&format!("{root}/v1/{path}"))
        .map_err(|e| ModelError::Config(format!("base URL {base}: {e}")))
}

/// A temperature as the decimal the caller wrote (`0.2`, not `0.20000000298023224`).
pub(crate) fn temperature(t: f32) -> Result<f64, ModelError> {
    if !t.is_finite() || t < 0.0 {
        return Err(ModelError::InvalidRequest(
            "temperature must be a finite number, zero or more".to_owned(),
        ));
    }
    t.to_string()
        .parse::<f64>()
        .map_err(|e| ModelError::InvalidRequest(format!("temperature: {e}")))
}

/// A server's complete answer.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One failed attempt, and what the server said about trying again.
pub(crate) struct Failure {
    pub error: ModelError,
    pub retry_after: Option<Duration>,
    /// The server sent `x-should-retry: false` (OpenAI and Anthropic both do).
    pub do_not_retry: bool,
}

impl From<ModelError> for Failure {
    fn from(error: ModelError) -> Self {
        Self {
            error,
            retry_after: None,
            do_not_retry: false,
        }
    }
}

/// Sends the request and reads the whole answer; transport failures become errors.
pub(crate) async fn execute(
    vendor: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<Answer, ModelError> {
    let response = request.send().await.map_err(|e| transport_error(&e))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| transport_error(&e))?;
    // Status only: bodies hold leads' messages.
    tracing::debug!(vendor, status, "model server answered");
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn transport_error(err: &reqwest::Error) -> ModelError {
    if err.is_timeout() {
        ModelError::Timeout
    } else if err.is_builder() {
        ModelError::Config(describe(err))
    } else {
        ModelError::Transport(describe(err))
    }
}

/// The error and its causes on one line; reqwest's own text ("error sending request") rarely
/// says what went wrong.
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

/// How long the server asked us to wait: OpenAI's `retry-after-ms` first, then `Retry-After`
/// (seconds, decimals allowed, or an HTTP date).
pub(crate) fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let millis = header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok());
    millis.or_else(|| {
        header("retry-after").and_then(|v| parse_retry_after(v, jiff::Timestamp::now()))
    })
}

/// What a vendor's error body said.
#[derive(Debug, Default)]
pub(crate) struct VendorError {
    /// OpenAI `error.type`, Anthropic `error.type`.
    pub kind: Option<String>,
    /// OpenAI `error.code`, Anthropic `error.details.error_code`.
    pub code: Option<String>,
    pub message: String,
}

/// Maps an error status and the vendor's account of it to what the caller can do.
pub(crate) fn classify(vendor: &str, answer: &Answer, said: VendorError, keyed: bool) -> Failure {
    let status = answer.status;
    let retry_after = server_wait(&answer.headers);
    let do_not_retry = answer
        .headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
    let message: String = said.message.chars().take(MAX_MESSAGE).collect();
    let out_of_credit = [said.kind.as_deref(), said.code.as_deref()]
        .into_iter()
        .flatten()
        .any(|k| {
            matches!(
                k,
                "insufficient_quota" | "billing_error" | "enforced_spend_limit_reached"
            )
        });
    let error = match status {
        401 if !keyed => ModelError::Auth(format!(
            "{vendor} requires an API key and none is configured (HTTP 401: {message})"
        )),
        401 => ModelError::Auth(format!(
            "{vendor} rejected the configured API key; check that it is correct and active \
             (HTTP 401: {message})"
        )),
        403 => ModelError::Auth(format!(
            "{vendor} refused access for this API key (HTTP 403: {message})"
        )),
        402 => ModelError::Quota(format!("{vendor} (HTTP 402): {message}")),
        429 if out_of_credit => ModelError::Quota(format!("{vendor} (HTTP 429): {message}")),
        429 => ModelError::RateLimited { retry_after },
        // The SDKs retry request timeouts and lock conflicts like server errors.
        408 | 409 => ModelError::Server(status, format!("{vendor}: {message}")),
        s if s >= 500 => ModelError::Server(s, format!("{vendor}: {message}")),
        s => ModelError::InvalidRequest(format!("{vendor} (HTTP {s}): {message}")),
    };
    Failure {
        error,
        retry_after,
        do_not_retry,
    }
}

/// A short, printable excerpt of a body that was not the expected JSON (an HTML error page from
/// a proxy, say).
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty response body".to_owned();
    }
    text.chars().take(200).collect()
}

/// How many times to ask again, and how fast.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    backoff: Backoff,
    max_retries: u32,
}

impl RetryPolicy {
    pub fn new(config: &ModelConfig) -> Self {
        Self {
            backoff: Backoff {
                base: config.backoff_base,
                cap: MAX_WAIT,
                max_retry_after: MAX_WAIT,
            },
            max_retries: config.max_retries,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the retries run out. A server asking
/// for a longer wait than [`MAX_WAIT`] is not waited for: the caller's queue is the better place
/// to wait that long.
pub(crate) async fn with_retries<F, Fut>(
    vendor: &'static str,
    policy: RetryPolicy,
    mut attempt: F,
) -> Result<ModelReply, ModelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<ModelReply, Failure>>,
{
    let mut retries = 0;
    loop {
        let failure = match attempt().await {
            Ok(reply) => return Ok(reply),
            Err(failure) => failure,
        };
        let too_long = failure.retry_after.is_some_and(|wait| wait > MAX_WAIT);
        if !failure.error.is_retryable()
            || failure.do_not_retry
            || too_long
            || retries >= policy.max_retries
        {
            return Err(failure.error);
        }
        let unit = rand::thread_rng().r#gen::<f64>();
        let wait = policy.backoff.delay(retries, failure.retry_after, unit);
        tracing::warn!(
            vendor,
            retry = retries + 1,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            error = %failure.error,
            "model call failed; retrying"
        );
        tokio::time::sleep(wait).await;
        retries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn endpoints_do_not_double_v1() {
        let at = |base: &str| {
            endpoint(&Url::parse(base).unwrap(), "chat/completions")
                .unwrap()
                .to_string()
        };
        let want = "http://localhost:11434/v1/chat/completions";
        assert_eq!(at("http://localhost:11434"), want);
        assert_eq!(at("http://localhost:11434/"), want);
        assert_eq!(at("http://localhost:11434/v1"), want);
        assert_eq!(at("http://localhost:11434/v1/"), want);
        assert_eq!(
            at("https://gateway.example.com/openai"),
            "https://gateway.example.com/openai/v1/chat/completions"
        );
        assert_eq!(
            at("https://api.openai.com"),
            "https://api.openai.com/v1/chat/completions"
        );
    }

    #[test]
    fn temperatures_keep_their_decimals() {
        assert_eq!(temperature(0.2).unwrap(), 0.2);
        assert_eq!(temperature(1.0).unwrap(), 1.0);
        assert!(temperature(f32::NAN).is_err());
        assert!(temperature(-1.0).is_err());
    }

    #[test]
    fn server_wait_prefers_milliseconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(server_wait(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(server_wait(&headers), Some(Duration::from_millis(150)));
        headers.insert("retry-after-ms", HeaderValue::from_static("soon"));
        assert_eq!(server_wait(&headers), Some(Duration::from_secs(2)));
        assert_eq!(server_wait(&HeaderMap::new()), None);
    }

    fn answer(status: u16) -> Answer {
        Answer {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    fn said(kind: Option<&str>, code: Option<&str>) -> VendorError {
        VendorError {
            kind: kind.map(str::to_owned),
            code: code.map(str::to_owned),
            message: "m".to_owned(),
        }
    }

    #[test]
    fn statuses_map_to_variants() {
        let error =
            |status, kind, code| classify("openai", &answer(status), said(kind, code), true).error;
        assert!(matches!(error(401, None, None), ModelError::Auth(_)));
        assert!(matches!(error(403, None, None), ModelError::Auth(_)));
        assert!(matches!(
            error(429, Some("requests"), None),
            ModelError::RateLimited { .. }
        ));
        assert!(matches!(
            error(429, Some("insufficient_quota"), Some("insufficient_quota")),
            ModelError::Quota(_)
        ));
        assert!(matches!(error(529, None, None), ModelError::Server(529, _)));
        assert!(matches!(
            error(404, None, None),
            ModelError::InvalidRequest(_)
        ));
        assert!(matches!(
            error(400, None, None),
            ModelError::InvalidRequest(_)
        ));
        let keyless = classify("openai", &answer(401), said(None, None), false).error;
        assert!(keyless.to_string().contains("none is configured"));
    }
}
