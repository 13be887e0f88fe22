//! Why a send failed, and what the caller must do about it.
//!
//! Error policy: every adapter maps the provider's answer (HTTP status, error code, message,
//! `Retry-After`) into one [`SendError`] variant. The variant decides the caller's move through
//! [`SendError::disposition`]:
//!
//! - [`Disposition::Retry`]: the provider certainly did not take the message (429, 5xx that a
//!   provider returns only before accepting, connection refused), or it de-duplicates replays by
//!   idempotency key. Retry with [`crate::messaging::backoff()`], honouring `after`.
//! - [`Disposition::Reconcile`]: the request may have reached a provider that has no idempotency
//!   key (Twilio) and the answer was lost (timeout, reset, 502/504). Retrying could text the lead
//!   twice; the caller parks the outbox row and resolves it from status callbacks.
//! - [`Disposition::Permanent`]: never retry. [`SendError::OptedOut`] additionally means "record an
//!   opt-out event for this recipient".
//!
//! Messages carry the provider's code and text (never credentials).

use super::ProviderKind;
use jiff::Timestamp;
use std::fmt;
use std::time::Duration;

/// The provider's own account of a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderFault {
    pub provider: ProviderKind,
    /// `None` when no HTTP response arrived.
    pub http_status: Option<u16>,
    /// The provider's error code (Twilio `21610`, Linq `2024`, Blooio's `error` string).
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for ProviderFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.provider)?;
        if let Some(status) = self.http_status {
            write!(f, " HTTP {status}")?;
        }
        if let Some(code) = &self.code {
            write!(f, " code {code}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 429 (Twilio 20429, Linq 1007). Retry, not before `retry_after` when given.
    #[error("rate limited by {fault}")]
    RateLimited {
        fault: ProviderFault,
        retry_after: Option<Duration>,
    },
    /// The provider answered with a transient server error and did not take the message.
    #[error("provider unavailable: {0}")]
    Unavailable(ProviderFault),
    /// No connection was established, so the request never left this process.
    #[error("provider not reached, nothing was sent: {0}")]
    NotSent(ProviderFault),
    /// The request may have reached the provider but no usable answer came back (timeout, reset,
    /// gateway error, unreadable 2xx). `replay_safe` is true when the provider de-duplicates on the
    /// idempotency key, so sending again cannot produce a second message.
    #[error("outcome unknown, the message may have been accepted: {fault}")]
    Ambiguous {
        fault: ProviderFault,
        replay_safe: bool,
    },
    /// The recipient opted out at the provider (Twilio 21610, Linq 2024). Record an opt-out event;
    /// never retry.
    #[error("recipient has opted out: {0}")]
    OptedOut(ProviderFault),
    /// The number cannot receive messages (Twilio 21211/21612/21614/21635, Linq 1002/4005).
    #[error("recipient cannot be messaged: {0}")]
    InvalidRecipient(ProviderFault),
    /// The credentials were refused (HTTP 401, Twilio 20003, Linq 2004). Retrying will not help
    /// until someone fixes the channel.
    #[error("provider refused the credentials: {0}")]
    Unauthorized(ProviderFault),
    /// Any other permanent refusal, including a message rejected before any I/O.
    #[error("provider rejected the message: {0}")]
    Rejected(ProviderFault),
}

/// What the caller does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Send again later; wait at least `after` when the provider said so.
    Retry { after: Option<Duration> },
    /// Do not send again automatically: the provider may already have the message.
    Reconcile,
    /// Never send this message again.
    Permanent,
}

impl SendError {
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::RateLimited { retry_after, .. } => Disposition::Retry {
                after: *retry_after,
            },
            Self::Unavailable(_) | Self::NotSent(_) => Disposition::Retry { after: None },
            Self::Ambiguous {
                replay_safe: true, ..
            } => Disposition::Retry { after: None },
            Self::Ambiguous {
                replay_safe: false, ..
            } => Disposition::Reconcile,
            Self::OptedOut(_)
            | Self::InvalidRecipient(_)
            | Self::Unauthorized(_)
            | Self::Rejected(_) => Disposition::Permanent,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self.disposition(), Disposition::Retry { .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn fault(&self) -> &ProviderFault {
        match self {
            Self::RateLimited { fault, .. } | Self::Ambiguous { fault, .. } => fault,
            Self::Unavailable(f)
            | Self::NotSent(f)
            | Self::OptedOut(f)
            | Self::InvalidRecipient(f)
            | Self::Unauthorized(f)
            | Self::Rejected(f) => f,
        }
    }
}

/// The longest `Retry-After` taken at face value; beyond it the header is treated as this long
/// (a buggy or hostile value must not park a message for days).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Reads a `Retry-After` value: delay-seconds (integer, or a decimal as some APIs send) or an
/// HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`. A date in the past means
/// "now" (zero). Unreadable values give `None`.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(
                Duration::try_from_secs_f64(secs)
                    .unwrap_or(MAX_RETRY_AFTER)
                    .min(MAX_RETRY_AFTER),
            );
        }
        return None;
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let wait = at.duration_since(now);
    Some(
        Duration::try_from(wait)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2015-10-21T07:27:00Z".parse().unwrap()
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1.5 ", now()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("-3", now()), None);
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("", now()), None);
    }

    #[test]
    fn dispositions() {
        let fault = ProviderFault {
            provider: ProviderKind::Twilio,
            http_status: Some(400),
            code: Some("21610".into()),
            message: "Attempt to send to unsubscribed recipient".into(),
        };
        assert_eq!(
            SendError::OptedOut(fault.clone()).disposition(),
            Disposition::Permanent
        );
        assert_eq!(
            SendError::Ambiguous {
                fault: fault.clone(),
                replay_safe: false
            }
            .disposition(),
            Disposition::Reconcile
        );
        let limited = SendError::RateLimited {
            fault: fault.clone(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            SendError::OptedOut(fault).to_string(),
            "recipient has opted out: twilio HTTP 400 code 21610: Attempt to send to unsubscribed recipient"
        );
    }
}
