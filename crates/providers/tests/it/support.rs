//! Shared test helpers: clients, messages, and the caller's retry loop.

use leadline_domain::E164Phone;
use leadline_providers::messaging::{
    Backoff, DeliveryStatus, Disposition, MessagingProvider, OutboundMessage, SendError,
    SendReceipt, SenderAddress,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use url::Url;

pub const LEAD: &str = "+15125550147";
pub const LINE: &str = "+15125550100";

pub fn http(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

pub fn outbound(from: &str, to: &str, body: &str, key: &str) -> OutboundMessage {
    OutboundMessage {
        from: SenderAddress::parse(from).unwrap(),
        to: E164Phone::parse(to).unwrap(),
        body: body.to_owned(),
        media_urls: Vec::new(),
        idempotency_key: key.to_owned(),
        status_callback: None,
    }
}

/// What the pipeline's sender does: send, and on a retryable error wait per `Backoff` (honouring
/// Retry-After) and send again, up to `max_attempts`. Returns the result and the waits taken.
pub async fn send_with_retries(
    provider: &dyn MessagingProvider,
    msg: &OutboundMessage,
    max_attempts: u32,
) -> (Result<SendReceipt, SendError>, Vec<Duration>) {
    let policy = Backoff {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    };
    let mut rng = StdRng::seed_from_u64(7);
    let mut waits = Vec::new();
    let mut attempt = 0;
    loop {
        match provider.send(msg).await {
            Ok(receipt) => return (Ok(receipt), waits),
            Err(e) => match e.disposition() {
                Disposition::Retry { after } if attempt + 1 < max_attempts => {
                    let wait = policy.delay(attempt, after, rng.r#gen::<f64>());
                    waits.push(wait);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return (Err(e), waits),
            },
        }
    }
}

/// A URL on which nothing listens (connection refused).
pub fn closed_port_url(path: &str) -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Url::parse(&format!("http://127.0.0.1:{port}{path}")).unwrap()
}

/// Applies reports in arrival order; returns the final status and every status taken.
pub fn fold_statuses(
    start: DeliveryStatus,
    reports: impl IntoIterator<Item = DeliveryStatus>,
) -> (DeliveryStatus, Vec<DeliveryStatus>) {
    let mut current = start;
    let mut trail = vec![start];
    for report in reports {
        if let Some(next) = DeliveryStatus::advance(current, report) {
            current = next;
            trail.push(next);
        }
    }
    (current, trail)
}
