//! A Twilio Messages API mock, and builders of signed Twilio webhooks.
//!
//! Reproduces `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: HTTP Basic auth with the
//! account SID and auth token (or an added API key), the form fields Twilio requires, the `201`
//! snake_case Message JSON (`sid` = `SM` + 32 hex, `status` `queued`, or `accepted` through a
//! Messaging Service, string `num_media`/`num_segments`) and the error JSON
//! `{"code","message","more_info","status"}`.

use super::{
    MockServer, RecordedRequest, Scripted, bad_gateway, json, lock, new_sid, respond,
    retry_after_headers,
};
use crate::messaging::WebhookRequest;
use crate::messaging::twilio::{SIGNATURE_HEADER, compute_signature};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use leadline_domain::E164Phone;
use reqwest::header::HeaderValue;
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use url::Url;

/// A message the mock accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioMockMessage {
    pub sid: String,
    pub account_sid: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub to: String,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
}

#[derive(Default)]
struct MockState {
    script: VecDeque<Scripted>,
    requests: Vec<RecordedRequest>,
    messages: Vec<TwilioMockMessage>,
    opted_out: HashSet<String>,
    api_keys: HashMap<String, String>,
}

struct Shared {
    account_sid: String,
    auth_token: String,
    state: Mutex<MockState>,
}

#[derive(Debug)]
pub struct TwilioMock {
    server: MockServer,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl TwilioMock {
    /// Starts a mock for one account.
    pub async fn start(account_sid: &str, auth_token: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            state: Mutex::default(),
        });
        let router = Router::new()
            .route(
                "/2010-04-01/Accounts/{account_sid}/Messages.json",
                post(create_message),
            )
            .fallback(not_found)
            .with_state(shared.clone());
        Ok(Self {
            server: MockServer::serve(router).await?,
            shared,
        })
    }

    /// The base URL to give [`crate::messaging::twilio::TwilioConfig::with_base_url`].
    pub fn base_url(&self) -> Url {
        self.server.url("/")
    }

    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    pub fn auth_token(&self) -> &str {
        &self.shared.auth_token
    }

    /// Accepts Basic auth with this API key (`SK…`) and secret too.
    pub fn add_api_key(&self, sid: &str, secret: &str) {
        lock(&self.shared.state)
            .api_keys
            .insert(sid.to_owned(), secret.to_owned());
    }

    /// The next `n` requests get `answer` (after any answers already scripted).
    pub fn fail_next(&self, n: usize, answer: Scripted) {
        let mut state = lock(&self.shared.state);
        for _ in 0..n {
            state.script.push_back(answer.clone());
        }
    }

    /// Sends to `to` fail with 21610 from now on, as after the recipient texted STOP.
    pub fn opt_out(&self, to: &str) {
        lock(&self.shared.state).opted_out.insert(to.to_owned());
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Every message accepted, oldest first.
    pub fn messages(&self) -> Vec<TwilioMockMessage> {
        lock(&self.shared.state).messages.clone()
    }

    /// How many accepted messages went to `to` with this body.
    pub fn count_for(&self, to: &str, body: &str) -> usize {
        lock(&self.shared.state)
            .messages
            .iter()
            .filter(|m| m.to == to && m.body.as_deref() == Some(body))
            .count()
    }

    /// (to, body, count) for every (to, body) accepted more than once. Twilio has no idempotency
    /// key, so this is how a test proves nothing was sent twice.
    pub fn duplicates(&self) -> Vec<(String, Option<String>, usize)> {
        let mut counts: HashMap<(String, Option<String>), usize> = HashMap::new();
        for m in &lock(&self.shared.state).messages {
            *counts.entry((m.to.clone(), m.body.clone())).or_default() += 1;
        }
        let mut dupes: Vec<_> = counts
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|((to, body), n)| (to, body, n))
            .collect();
        dupes.sort();
        dupes
    }

    /// The signed status callback Twilio would post for message `sid` to its `StatusCallback`
    /// URL; `None` when the message is unknown or had no callback URL.
    pub fn status_callback(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<&str>,
    ) -> Option<WebhookRequest> {
        let message = lock(&self.shared.state)
            .messages
            .iter()
            .find(|m| m.sid == sid)
            .cloned()?;
        let url = Url::parse(message.status_callback.as_deref()?).ok()?;
        let callback = StatusCallback {
            message_sid: message.sid,
            account_sid: message.account_sid,
            from: message.from.unwrap_or_default(),
            to: message.to,
            status: status.to_owned(),
            error_code: error_code.map(str::to_owned),
        };
        Some(status_request(&url, &self.shared.auth_token, &callback))
    }
}

fn twilio_error(status: u16, code: u32, message: &str, headers: &[(String, String)]) -> Response {
    json(
        status,
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
        headers,
    )
}

fn scripted(answer: &Scripted) -> Option<Response> {
    Some(match answer {
        Scripted::ServerError => twilio_error(500, 20500, "Internal Server Error", &[]),
        Scripted::BadGateway => bad_gateway(),
        Scripted::RateLimited { retry_after } => twilio_error(
            429,
            20429,
            "Too Many Requests",
            &retry_after_headers(*retry_after),
        ),
        Scripted::OptedOut => {
            twilio_error(400, 21610, "Attempt to send to unsubscribed recipient", &[])
        }
        Scripted::InvalidNumber => twilio_error(
            400,
            21211,
            "The 'To' number is not a valid phone number.",
            &[],
        ),
        Scripted::Unauthorized => twilio_error(401, 20003, "Authenticate", &[]),
        Scripted::AcceptThenStall(_) => return None,
        Scripted::Custom {
            status,
            body,
            headers,
        } => respond(*status, "application/json", body.clone(), headers),
    })
}

async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lock(&shared.state)
        .requests
        .push(RecordedRequest::new(&method, &uri, &headers, &body));
    twilio_error(
        404,
        20404,
        &format!("The requested resource {} was not found", uri.path()),
        &[],
    )
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = BASE64.decode(value.strip_prefix("Basic ")?.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(account_sid): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut state = lock(&shared.state);
        state
            .requests
            .push(RecordedRequest::new(&method, &uri, &headers, &body));
        state.script.pop_front()
    };
    let stall = match &answer {
        Some(Scripted::AcceptThenStall(d)) => Some(*d),
        Some(other) => {
            if let Some(response) = scripted(other) {
                return response;
            }
            None
        }
        None => None,
    };
    let response = accept(&shared, &account_sid, &headers, &body);
    if let Some(delay) = stall {
        tokio::time::sleep(delay).await;
    }
    response
}

/// The normal path: authenticate, validate, refuse opted-out recipients, create.
fn accept(shared: &Shared, account_sid: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    let authorized = basic_credentials(headers).is_some_and(|(user, password)| {
        (user == shared.account_sid && password == shared.auth_token)
            || lock(&shared.state).api_keys.get(&user) == Some(&password)
    });
    if !authorized {
        return twilio_error(401, 20003, "Authenticate", &[]);
    }
    if account_sid != shared.account_sid {
        return twilio_error(
            404,
            20404,
            &format!(
                "The requested resource /2010-04-01/Accounts/{account_sid}/Messages.json was not found"
            ),
            &[],
        );
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let Some(to) = get("To") else {
        return twilio_error(400, 21604, "A 'To' phone number is required.", &[]);
    };
    let from = get("From");
    let service = get("MessagingServiceSid");
    if from.is_none() && service.is_none() {
        return twilio_error(400, 21603, "A 'From' phone number is required.", &[]);
    }
    let text = get("Body");
    let media_urls: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "MediaUrl")
        .map(|(_, v)| v.clone())
        .collect();
    if text.is_none() && media_urls.is_empty() {
        return twilio_error(400, 21602, "Message body is required.", &[]);
    }
    if text.as_ref().is_some_and(|t| t.chars().count() > 1600) {
        return twilio_error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
            &[],
        );
    }
    if !to.starts_with('+') || E164Phone::parse(&to).is_err() {
        return twilio_error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
            &[],
        );
    }
    let mut state = lock(&shared.state);
    if state.opted_out.contains(&to) {
        return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient", &[]);
    }
    let sid = new_sid("SM");
    let message = TwilioMockMessage {
        sid: sid.clone(),
        account_sid: shared.account_sid.clone(),
        from: from.clone(),
        messaging_service_sid: service.clone(),
        to: to.clone(),
        body: text.clone(),
        media_urls: media_urls.clone(),
        status_callback: get("StatusCallback"),
    };
    state.messages.push(message);
    drop(state);

    let now = rfc2822_now();
    let via_service = service.is_some();
    let account = &shared.account_sid;
    json(
        201,
        &json!({
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": text.unwrap_or_default(),
            "date_created": now,
            "date_sent": null,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": from,
            "messaging_service_sid": service,
            "num_media": media_urls.len().to_string(),
            // A Messaging Service picks the sender later, so segments are unknown at creation.
            "num_segments": if via_service { "0" } else { "1" },
            "price": null,
            "price_unit": "USD",
            "sid": sid,
            "status": if via_service { "accepted" } else { "queued" },
            "subresource_uris": {
                "media": format!("/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json")
            },
            "to": to,
            "uri": format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json"),
        }),
        &[],
    )
}

/// Twilio's date format: `Thu, 24 Aug 2023 05:01:45 +0000`.
fn rfc2822_now() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    jiff::fmt::rfc2822::to_string(&now).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Signed webhooks, as Twilio sends them

/// A form-encoded POST to `public_url` with `params`, signed with `auth_token`.
pub fn signed_form_request(
    public_url: &Url,
    auth_token: &str,
    params: &[(String, String)],
) -> WebhookRequest {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        body.append_pair(k, v);
    }
    let signature = compute_signature(auth_token, public_url.as_str(), params);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_static("TwilioProxy/1.1"),
    );
    if let Ok(value) = HeaderValue::from_str(&signature) {
        headers.insert(SIGNATURE_HEADER, value);
    }
    WebhookRequest::new(
        Method::POST,
        public_url.clone(),
        headers,
        Bytes::from(body.finish()),
    )
}

/// An inbound SMS/MMS as Twilio posts it (§1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSms {
    pub message_sid: String,
    pub account_sid: String,
    pub messaging_service_sid: Option<String>,
    pub from: String,
    pub to: String,
    pub body: String,
    /// (url, content type) pairs.
    pub media: Vec<(String, String)>,
    /// `STOP`, `START` or `HELP` when Advanced Opt-Out matched.
    pub opt_out_type: Option<String>,
}

impl InboundSms {
    pub fn new(from: &str, to: &str, body: &str) -> Self {
        Self {
            message_sid: new_sid("SM"),
            account_sid: "AC33333333333333333333333333333333".to_owned(),
            messaging_service_sid: None,
            from: from.to_owned(),
            to: to.to_owned(),
            body: body.to_owned(),
            media: Vec::new(),
            opt_out_type: None,
        }
    }

    /// The parameters, in the order of the reference example, geographic fields included.
    pub fn params(&self) -> Vec<(String, String)> {
        let sid = self.message_sid.as_str();
        let mut p: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: &str| p.push((k.to_owned(), v.to_owned()));
        add("ToCountry", "US");
        add("ToState", "CA");
        add("SmsMessageSid", sid);
        add("NumMedia", &self.media.len().to_string());
        add("ToCity", "");
        add("FromZip", "");
        add("SmsSid", sid);
        add("FromState", "NY");
        add("SmsStatus", "received");
        add("FromCity", "");
        add("Body", &self.body);
        add("FromCountry", "US");
        add("To", &self.to);
        if let Some(service) = &self.messaging_service_sid {
            add("MessagingServiceSid", service);
        }
        add("ToZip", "");
        add("NumSegments", "1");
        add("MessageSid", sid);
        add("AccountSid", &self.account_sid);
        add("From", &self.from);
        add("ApiVersion", "2010-04-01");
        for (i, (url, content_type)) in self.media.iter().enumerate() {
            add(&format!("MediaContentType{i}"), content_type);
            add(&format!("MediaUrl{i}"), url);
        }
        if let Some(kind) = &self.opt_out_type {
            add("OptOutType", kind);
        }
        p
    }
}

/// A signed inbound-message webhook.
pub fn inbound_request(public_url: &Url, auth_token: &str, sms: &InboundSms) -> WebhookRequest {
    signed_form_request(public_url, auth_token, &sms.params())
}

/// A status callback as Twilio posts it (§1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCallback {
    pub message_sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    /// Twilio's `MessageStatus` word (`sent`, `delivered`, `undelivered`, …).
    pub status: String,
    pub error_code: Option<String>,
}

impl StatusCallback {
    pub fn params(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("AccountSid".to_owned(), self.account_sid.clone()),
            ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
            ("From".to_owned(), self.from.clone()),
            ("MessageSid".to_owned(), self.message_sid.clone()),
            ("MessageStatus".to_owned(), self.status.clone()),
            ("SmsSid".to_owned(), self.message_sid.clone()),
            ("SmsStatus".to_owned(), self.status.clone()),
            ("To".to_owned(), self.to.clone()),
        ];
        if let Some(code) = &self.error_code {
            p.push(("ErrorCode".to_owned(), code.clone()));
        }
        if matches!(self.status.as_str(), "delivered" | "undelivered") {
            p.push(("RawDlrDoneDate".to_owned(), dlr_done_date()));
        }
        p
    }
}

/// Carrier DLR done-date, `YYMMDDhhmm`.
fn dlr_done_date() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%y%m%d%H%M")
        .to_string()
}

/// A signed status callback.
pub fn status_request(
    public_url: &Url,
    auth_token: &str,
    callback: &StatusCallback,
) -> WebhookRequest {
    signed_form_request(public_url, auth_token, &callback.params())
}
