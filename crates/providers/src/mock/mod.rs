//! Mock servers that speak each provider's REST wire format, and builders of signed inbound
//! webhooks, for integration tests here and in later crates (feature `mock`).
//!
//! Every mock listens on `127.0.0.1:0`, records every request ([`RecordedRequest`]), keeps the
//! messages it accepted, and can be scripted: [`Scripted`] answers replace the normal one for the
//! next requests, in order. Mocks stop when dropped.
//!
//! - [`twilio::TwilioMock`]: `POST /2010-04-01/Accounts/{sid}/Messages.json`.
//! - [`linq::LinqMock`]: `POST /api/partner/v3/chats` and `/api/partner/v3/chats/{id}/messages`.
//! - [`blooio::BlooioMock`]: `POST /v2/api/chats/{chat}/messages`.

pub mod anthropic;
pub mod blooio;
pub mod linq;
pub mod openai;
pub mod twilio;

use crate::messaging::WebhookRequest;
use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;
use url::Url;

/// A running mock; aborted when dropped.
#[derive(Debug)]
pub struct MockServer {
    base: Url,
    task: JoinHandle<()>,
}

impl MockServer {
    pub(crate) async fn serve(router: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let base = Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "mock server stopped");
            }
        });
        Ok(Self { base, task })
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `Retry-After` value a scripted 429 carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    Seconds(u64),
    /// Sent as an HTTP-date.
    Date(jiff::Timestamp),
}

impl RetryAfter {
    pub fn header_value(&self) -> String {
        match self {
            Self::Seconds(s) => s.to_string(),
            Self::Date(at) => jiff::fmt::rfc2822::DateTimePrinter::new()
                .timestamp_to_rfc9110_string(at)
                .unwrap_or_else(|_| "0".to_owned()),
        }
    }
}

/// An answer a mock gives instead of its normal one, for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scripted {
    /// 500 in the provider's error shape.
    ServerError,
    /// 502 with an HTML page, as a proxy in front of the provider would answer.
    BadGateway,
    /// 429 in the provider's shape, with `Retry-After` when given.
    RateLimited { retry_after: Option<RetryAfter> },
    /// The provider's "recipient opted out" refusal (Twilio 21610, Linq 2024; Blooio documents
    /// none and gets a plain 400).
    OptedOut,
    /// The provider's "invalid number" refusal (Twilio 21211, Linq 1002).
    InvalidNumber,
    /// The provider's authentication failure (Twilio 20003, Linq 2004).
    Unauthorized,
    /// Process the request normally (the message is accepted and counted) but hold the answer
    /// this long: a client with a shorter timeout cannot know the message went out.
    AcceptThenStall(Duration),
    /// Anything else.
    Custom {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
}

/// A request as a mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RecordedRequest {
    pub(crate) fn new(
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Self {
        Self {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: headers.clone(),
            body: body.clone(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as form pairs, in order, repeats kept.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Posts a built webhook to its `public_url`, as the provider would.
pub async fn deliver(
    http: &reqwest::Client,
    request: &WebhookRequest,
) -> reqwest::Result<reqwest::Response> {
    http.request(request.method.clone(), request.public_url.clone())
        .headers(request.headers.clone())
        .body(request.raw_body.clone())
        .send()
        .await
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A provider-style `SM…`/`MG…` id: prefix and 32 lowercase hex digits.
pub(crate) fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn respond(
    status: u16,
    content_type: &'static str,
    body: String,
    headers: &[(String, String)],
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

pub(crate) fn json(
    status: u16,
    value: &serde_json::Value,
    headers: &[(String, String)],
) -> Response {
    respond(status, "application/json", value.to_string(), headers)
}

pub(crate) fn bad_gateway() -> Response {
    respond(
        502,
        "text/html",
        "<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned(),
        &[],
    )
}

pub(crate) fn retry_after_headers(retry_after: Option<RetryAfter>) -> Vec<(String, String)> {
    retry_after
        .map(|r| vec![("Retry-After".to_owned(), r.header_value())])
        .unwrap_or_default()
}

/// The bearer token of an `Authorization` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}
