//! Hand-off notifications: who is told, and how.
//!
//! The engine records a hand-off (store `record_handoff`: flags + notification + `handoff` job,
//! one transaction, keyed on the hand-off turn). The `handoff` job writes the hand-off summary
//! and plans the deliveries (an email per member who opted in, the account's webhook), each with
//! its own `deliver` job. A `deliver` job sends one delivery and records the attempt; failures
//! are retried with exponential backoff (honouring `Retry-After`) until [`Notifications`]'s
//! `max_attempts`, then the delivery is marked failed for people to see.
//!
//! Email goes through [`NotificationMailer`], which the web crate implements over its mailer;
//! only an engine given [`Notifications`] claims `deliver` jobs, so a process without a mailer
//! never takes mail it cannot send.

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use leadline_app::SecretsService;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub const HANDOFF_JOB: &str = "handoff";
pub const DELIVER_JOB: &str = "deliver";
/// The secrets-service purpose of the account's webhook signing secret.
pub const WEBHOOK_SECRET_PURPOSE: &str = "notifications:webhook_secret";
/// The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">`.
pub const SIGNATURE_HEADER: &str = "Leadline-Signature";
pub const EVENT_TYPE: &str = "conversation.handed_off";

/// Sends notification email; the web crate implements it over its SMTP or logging mailer.
#[async_trait::async_trait]
pub trait NotificationMailer: Send + Sync {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<()>;
}

/// What the delivery worker needs; an engine without it leaves `deliver` jobs to one that has.
pub struct Notifications {
    pub mailer: Arc<dyn NotificationMailer>,
    pub secrets: Arc<SecretsService>,
    /// Tests only: lets `http://127.0.0.1` mock receivers through the URL check.
    pub allow_http_loopback: bool,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: i32,
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("allow_http_loopback", &self.allow_http_loopback)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Notifications {
    pub const DEFAULT_MAX_ATTEMPTS: i32 = 6;

    /// A client for one webhook POST that connects only to `addrs` (vetted by the SSRF-safe
    /// fetcher) for the URL's host: no redirects (one could lead anywhere), no proxy from the
    /// environment, 10 s per request.
    pub fn webhook_client(url: &Url, addrs: &[SocketAddr]) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("leadline-webhooks/1");
        if let Some(url::Host::Domain(name)) = url.host() {
            builder = builder.resolve_to_addrs(name, addrs);
        }
        Ok(builder.build()?)
    }
}

/// Checks a webhook URL: `https` to a public host name or address. With `allow_http_loopback`
/// (tests), `http://127.0.0.1:<port>` is accepted too.
///
/// This refuses literal private, loopback and link-local addresses and `localhost` when the URL
/// is saved; at send time the SSRF-safe fetcher (`leadline_providers::fetch`) also vets every
/// address the host resolves to and the connection is pinned to them.
pub fn validate_webhook_url(raw: &str, allow_http_loopback: bool) -> Result<Url, String> {
    let raw = raw.trim();
    let url = Url::parse(raw).map_err(|_| "Enter a full URL starting with https://.".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL must not contain a user name or password.".into());
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let literal: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
    if allow_http_loopback
        && url.scheme() == "http"
        && literal == Some(IpAddr::from([127, 0, 0, 1]))
    {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err("The URL must start with https://.".into());
    }
    if host.is_empty() || host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
        return Err("The URL must point to a public host.".into());
    }
    if let Some(ip) = literal
        && !is_public(ip)
    {
        return Err("The URL must point to a public address.".into());
    }
    Ok(url)
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

/// `t=<unix>,v1=<hex>`: HMAC-SHA256 with the account's secret over `"{t}.{body}"`, so a
/// receiver can check both the body and its freshness.
pub fn signature_header(secret: &SecretString, at: Timestamp, body: &[u8]) -> String {
    let t = at.as_second();
    format!("t={t},v1={}", sign(secret, t, body))
}

/// The hex HMAC-SHA256 of `"{t}.{body}"`.
pub fn sign(secret: &SecretString, t: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A new signing secret: 32 random bytes, hex, with a prefix that says what it is.
pub fn new_webhook_secret() -> SecretString {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    SecretString::from(format!("whsec_{}", hex::encode(bytes)))
}

/// How one webhook POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    Delivered,
    /// Network error, timeout, 408, 429 or 5xx: try again, not before `after` if the receiver
    /// said so.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Any other answer (4xx, redirects): sending again would get the same.
    Refused {
        error: String,
    },
}

/// Classifies a receiver's answer.
pub fn classify_response(status: u16, retry_after: Option<&str>) -> WebhookOutcome {
    match status {
        200..=299 => WebhookOutcome::Delivered,
        408 | 429 | 500..=599 => WebhookOutcome::Retry {
            error: format!("the receiver answered HTTP {status}"),
            after: retry_after.and_then(parse_retry_after),
        },
        300..=399 => WebhookOutcome::Refused {
            error: format!("the receiver answered HTTP {status}; redirects are not followed"),
        },
        _ => WebhookOutcome::Refused {
            error: format!("the receiver answered HTTP {status}"),
        },
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(raw).ok()?.timestamp();
    let wait = at.duration_since(Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_be_public_https() {
        assert!(validate_webhook_url("https://hooks.example.com/leadline", false).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://localhost/x",
            "https://127.0.0.1/x",
            "https://10.0.0.8/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://user:pw@hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "hooks.example.com",
        ] {
            assert!(validate_webhook_url(bad, false).is_err(), "{bad}");
        }
        assert!(validate_webhook_url("http://127.0.0.1:4000/hook", false).is_err());
        assert!(validate_webhook_url("http://127.0.0.1:4000/hook", true).is_ok());
        assert!(validate_webhook_url("http://10.0.0.1:4000/hook", true).is_err());
    }

    #[test]
    fn signature_is_hmac_over_timestamp_and_body() {
        let secret = SecretString::from("whsec_test".to_owned());
        let at = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let header = signature_header(&secret, at, b"{\"a\":1}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify_response(204, None), WebhookOutcome::Delivered);
        assert_eq!(
            classify_response(429, Some("7")),
            WebhookOutcome::Retry {
                error: "the receiver answered HTTP 429".into(),
                after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            classify_response(503, None),
            WebhookOutcome::Retry { after: None, .. }
        ));
        assert!(matches!(
            classify_response(404, None),
            WebhookOutcome::Refused { .. }
        ));
        assert!(matches!(
            classify_response(302, None),
            WebhookOutcome::Refused { .. }
        ));
    }
}
