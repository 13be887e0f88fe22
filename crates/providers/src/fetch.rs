//! Fetching a page of someone's public website without becoming a way into our own network
//! (SSRF). A URL a customer types is untrusted: its host may resolve to loopback, a private
//! range, the cloud metadata address, or change between our check and our connect.
//!
//! So [`Fetcher::fetch`]:
//! - accepts only `http`/`https` URLs without credentials;
//! - resolves the host itself and refuses the page when any address is not public
//!   ([`refusal`]; IPv4-mapped, -compatible, NAT64 and 6to4 forms are unwrapped first);
//! - connects only to the addresses it vetted: the per-hop client has them pinned and a resolver
//!   that refuses every other name, so a second DNS answer (rebinding) is never used;
//! - follows redirects itself, at most [`FetchPolicy::max_redirects`], vetting every hop;
//! - limits the whole fetch in time and the body in size (counted while streaming), and takes
//!   only `text/html` and `text/plain`.
//!
//! The one relaxation is [`FetchPolicy::allow_loopback`], for tests that serve a mock website
//! on 127.0.0.1; nothing in the product turns it on.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// The limits a fetch works within.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Largest body read; the transfer is aborted past it.
    pub max_body_bytes: usize,
    /// The whole fetch of one page, redirects and DNS included.
    pub page_timeout: Duration,
    pub max_redirects: u8,
    /// Lets 127.0.0.0/8 and ::1 through. Only tests set it, to reach a mock site on loopback.
    pub allow_loopback: bool,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            page_timeout: Duration::from_secs(10),
            max_redirects: 5,
            allow_loopback: false,
        }
    }
}

/// Why a page was not fetched. Each reads as a sentence after the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("not a web address we can fetch: {0}")]
    BadUrl(String),
    #[error("refused: the address {addr} is {reason}")]
    BlockedAddress {
        host: String,
        addr: IpAddr,
        reason: &'static str,
    },
    #[error("the host {0} could not be found")]
    UnknownHost(String),
    #[error("the page is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the page did not arrive in time ({seconds} s)")]
    Timeout { seconds: u64 },
    #[error("not a web page (its type is {0})")]
    NotHtml(String),
    #[error("the server answered with status {0}")]
    Status(u16),
    #[error("more than {0} redirects")]
    TooManyRedirects(u8),
    #[error("the server could not be reached: {0}")]
    Connect(String),
}

/// What kind of text a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    Html,
    Plain,
}

/// A fetched page.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    /// Where the page was found, after redirects.
    pub url: Url,
    pub kind: PageKind,
    /// The body, read as UTF-8 (invalid bytes replaced).
    pub body: String,
}

// The reasons, phrased to follow "the address … is".
pub const LOOPBACK: &str = "loopback";
pub const PRIVATE: &str = "private";
pub const LINK_LOCAL: &str = "link-local";
pub const SHARED: &str = "in the shared (carrier-grade NAT) range";
pub const UNIQUE_LOCAL: &str = "unique-local";
pub const SITE_LOCAL: &str = "site-local";
pub const MULTICAST: &str = "multicast";
pub const BROADCAST: &str = "the broadcast address";
pub const UNSPECIFIED: &str = "unspecified";
pub const DOCUMENTATION: &str = "reserved for documentation";
pub const BENCHMARKING: &str = "reserved for benchmarking";
pub const RESERVED: &str = "reserved";

/// Why `ip` is not a public address we may connect to, or `None` when it is.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => UNSPECIFIED,
        _ if ip.is_broadcast() => BROADCAST,
        (0, ..) => RESERVED,
        (127, ..) => LOOPBACK,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => PRIVATE,
        (169, 254, _) => LINK_LOCAL,
        (100, 64..=127, _) => SHARED,
        (192, 0, 0) => RESERVED,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => DOCUMENTATION,
        (198, 18..=19, _) => BENCHMARKING,
        (224..=239, ..) => MULTICAST,
        (240..=255, ..) => RESERVED,
        _ => return None,
    })
}

fn low_v4(ip: Ipv6Addr) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some(UNSPECIFIED);
    }
    if ip.is_loopback() {
        return Some(LOOPBACK);
    }
    let s = ip.segments();
    // Forms that carry an IPv4 address are judged by it: ::ffff:10.0.0.5 is 10.0.0.5.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refusal_v4(v4);
    }
    if s[..6] == [0; 6] {
        // IPv4-compatible (deprecated): never a public destination of its own.
        return refusal_v4(low_v4(ip)).or(Some(RESERVED));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        // NAT64: the gateway connects to the embedded IPv4 address.
        return refusal_v4(low_v4(ip));
    }
    if s[0] == 0x2002 {
        // 6to4 embeds the IPv4 address in the second and third groups.
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return refusal_v4(Ipv4Addr::new(a, b, c, d));
    }
    Some(match s[0] {
        x if x & 0xffc0 == 0xfe80 => LINK_LOCAL,
        x if x & 0xffc0 == 0xfec0 => SITE_LOCAL,
        x if x & 0xfe00 == 0xfc00 => UNIQUE_LOCAL,
        x if x & 0xff00 == 0xff00 => MULTICAST,
        0x2001 if s[1] == 0x0db8 => DOCUMENTATION,
        0x3fff if s[1] & 0xf000 == 0 => DOCUMENTATION,
        0x2001 if s[1] == 0x0002 && s[2] == 0 => BENCHMARKING,
        // Teredo tunnels and the IETF protocol block.
        0x2001 if s[1] < 0x0200 => RESERVED,
        // Only 2000::/3 is handed out as global unicast.
        x if x & 0xe000 != 0x2000 => RESERVED,
        _ => return None,
    })
}

/// A resolver that resolves nothing: the per-hop client only reaches the addresses pinned on it,
/// so a name it was not given fails closed instead of going to the system resolver.
struct NoResolve;

impl Resolve for NoResolve {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            Err::<Addrs, _>(format!("{host} was not vetted before connecting").into())
        })
    }
}

/// Fetches pages under a [`FetchPolicy`].
#[derive(Debug, Clone, Default)]
pub struct Fetcher {
    policy: FetchPolicy,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        Self { policy }
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Checks a URL and the addresses its host resolves to, without fetching it; returns the
    /// addresses a connection may use.
    pub async fn vet(&self, url: &Url) -> Result<Vec<SocketAddr>, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::BadUrl(format!(
                "only http and https addresses are fetched, not {}",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::BadUrl(
                "addresses with a user name or password are not fetched".into(),
            ));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| FetchError::BadUrl("the address has no port".into()))?;
        let host = url
            .host()
            .ok_or_else(|| FetchError::BadUrl("the address has no host".into()))?;
        let addrs: Vec<SocketAddr> = match host {
            Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Host::Domain(name) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| FetchError::UnknownHost(name.to_owned()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(FetchError::UnknownHost(host.to_string()));
        }
        // Every address must pass: a name that also points inside is not fetched at all.
        for a in &addrs {
            if let Some(reason) = refusal(a.ip()) {
                let loopback_allowed = reason == LOOPBACK && self.policy.allow_loopback;
                if !loopback_allowed {
                    return Err(FetchError::BlockedAddress {
                        host: host.to_string(),
                        addr: a.ip(),
                        reason,
                    });
                }
            }
        }
        Ok(addrs)
    }

    /// Fetches one page, following up to the policy's number of redirects, each one vetted.
    pub async fn fetch(&self, url: &Url) -> Result<FetchedPage, FetchError> {
        let limit = self.policy.page_timeout;
        tokio::time::timeout(limit, self.fetch_hops(url))
            .await
            .unwrap_or(Err(FetchError::Timeout {
                seconds: limit.as_secs().max(1),
            }))
    }

    async fn fetch_hops(&self, start: &Url) -> Result<FetchedPage, FetchError> {
        let mut url = start.clone();
        for _ in 0..=self.policy.max_redirects {
            let addrs = self.vet(&url).await?;
            let client = self.client_for(&url, &addrs)?;
            let response = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| send_error(e, self.policy.page_timeout))?;
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(FetchError::Status(status.as_u16()))?;
                url = url
                    .join(next)
                    .map_err(|e| FetchError::BadUrl(format!("a redirect to '{next}': {e}")))?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let kind = page_kind(response.headers().get(CONTENT_TYPE))?;
            let body = self.read_limited(response).await?;
            return Ok(FetchedPage { url, kind, body });
        }
        Err(FetchError::TooManyRedirects(self.policy.max_redirects))
    }

    /// A client that can only reach `addrs` for this URL's host, and never follows redirects
    /// or uses a proxy from the environment (either would bypass the vetting).
    fn client_for(&self, url: &Url, addrs: &[SocketAddr]) -> Result<reqwest::Client, FetchError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.policy.page_timeout)
            .user_agent(concat!(
                "leadline/",
                env!("CARGO_PKG_VERSION"),
                " (knowledge import)"
            ))
            .dns_resolver(Arc::new(NoResolve));
        if let Some(Host::Domain(name)) = url.host() {
            builder = builder.resolve_to_addrs(name, addrs);
        }
        builder
            .build()
            .map_err(|e| FetchError::Connect(e.to_string()))
    }

    async fn read_limited(&self, mut response: reqwest::Response) -> Result<String, FetchError> {
        let limit = self.policy.max_body_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(FetchError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| send_error(e, self.policy.page_timeout))?
        {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

fn page_kind(header: Option<&reqwest::header::HeaderValue>) -> Result<PageKind, FetchError> {
    let raw = header.and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mime = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => Ok(PageKind::Html),
        "text/plain" => Ok(PageKind::Plain),
        "" => Err(FetchError::NotHtml("not stated".into())),
        _ => Err(FetchError::NotHtml(mime)),
    }
}

fn send_error(e: reqwest::Error, limit: Duration) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout {
            seconds: limit.as_secs().max(1),
        };
    }
    // The caller shows the URL; the innermost cause says what went wrong.
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let mut message = cause.to_string();
    message.truncate(200);
    FetchError::Connect(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn why(ip: &str) -> Option<&'static str> {
        refusal(ip.parse().unwrap())
    }

    #[test]
    fn every_non_public_ipv4_range_is_refused() {
        for (ip, reason) in [
            ("127.0.0.1", LOOPBACK),
            ("127.255.255.254", LOOPBACK),
            ("10.0.0.5", PRIVATE),
            ("10.255.255.255", PRIVATE),
            ("172.16.0.1", PRIVATE),
            ("172.31.255.255", PRIVATE),
            ("192.168.1.1", PRIVATE),
            ("169.254.169.254", LINK_LOCAL),
            ("169.254.0.1", LINK_LOCAL),
            ("100.64.0.1", SHARED),
            ("100.127.255.255", SHARED),
            ("0.0.0.0", UNSPECIFIED),
            ("0.1.2.3", RESERVED),
            ("255.255.255.255", BROADCAST),
            ("224.0.0.1", MULTICAST),
            ("239.255.255.250", MULTICAST),
            ("240.0.0.1", RESERVED),
            ("192.0.0.8", RESERVED),
            ("192.0.2.10", DOCUMENTATION),
            ("198.51.100.7", DOCUMENTATION),
            ("203.0.113.9", DOCUMENTATION),
            ("198.18.0.1", BENCHMARKING),
            ("198.19.255.255", BENCHMARKING),
        ] {
            assert_eq!(why(ip), Some(reason), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_neighbours_of_the_ranges_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "11.0.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.167.1.1",
            "169.253.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "126.255.255.255",
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_non_public_ipv6_range_is_refused() {
        for (ip, reason) in [
            ("::1", LOOPBACK),
            ("::", UNSPECIFIED),
            ("fe80::1", LINK_LOCAL),
            ("febf:ffff::1", LINK_LOCAL),
            ("fec0::1", SITE_LOCAL),
            ("fc00::1", UNIQUE_LOCAL),
            ("fd12:3456:789a::1", UNIQUE_LOCAL),
            ("ff02::1", MULTICAST),
            ("ff05::2", MULTICAST),
            ("2001:db8::1", DOCUMENTATION),
            ("3fff::1", DOCUMENTATION),
            ("2001:2::1", BENCHMARKING),
            ("2001:0:4136:e378::1", RESERVED),
            ("100::1", RESERVED),
            ("4000::1", RESERVED),
        ] {
            assert_eq!(why(ip), Some(reason), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::1",
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_by_the_ipv4_address() {
        for (ip, reason) in [
            // IPv4-mapped
            ("::ffff:127.0.0.1", LOOPBACK),
            ("::ffff:10.0.0.5", PRIVATE),
            ("::ffff:172.16.0.1", PRIVATE),
            ("::ffff:192.168.0.1", PRIVATE),
            ("::ffff:169.254.169.254", LINK_LOCAL),
            ("::ffff:100.64.0.1", SHARED),
            ("::ffff:0.0.0.0", UNSPECIFIED),
            ("::ffff:255.255.255.255", BROADCAST),
            ("::ffff:224.0.0.1", MULTICAST),
            ("::ffff:192.0.2.1", DOCUMENTATION),
            ("::ffff:198.18.0.1", BENCHMARKING),
            // IPv4-compatible
            ("::127.0.0.1", LOOPBACK),
            ("::10.0.0.5", PRIVATE),
            ("::169.254.169.254", LINK_LOCAL),
            ("::8.8.8.8", RESERVED),
            // NAT64 and 6to4
            ("64:ff9b::10.0.0.5", PRIVATE),
            ("64:ff9b::a9fe:a9fe", LINK_LOCAL),
            ("2002:a00:5::1", PRIVATE),
            ("2002:7f00:1::1", LOOPBACK),
        ] {
            assert_eq!(why(ip), Some(reason), "{ip}");
        }
        assert_eq!(why("::ffff:8.8.8.8"), None);
        assert_eq!(why("64:ff9b::8.8.8.8"), None);
        assert_eq!(why("2002:808:808::1"), None);
    }

    #[tokio::test]
    async fn vetting_refuses_before_any_connection() {
        let strict = Fetcher::default();
        let refused = |u: &str| {
            let u = Url::parse(u).unwrap();
            let f = strict.clone();
            async move { f.vet(&u).await.unwrap_err() }
        };
        assert_eq!(
            refused("http://10.0.0.5/").await.to_string(),
            "refused: the address 10.0.0.5 is private"
        );
        assert!(matches!(
            refused("http://169.254.169.254/latest/meta-data/").await,
            FetchError::BlockedAddress {
                reason: LINK_LOCAL,
                ..
            }
        ));
        assert!(matches!(
            refused("http://[::ffff:127.0.0.1]:8080/").await,
            FetchError::BlockedAddress {
                reason: LOOPBACK,
                ..
            }
        ));
        assert!(matches!(
            refused("http://localhost:9/").await,
            FetchError::BlockedAddress {
                reason: LOOPBACK,
                ..
            }
        ));
        assert!(matches!(
            refused("ftp://example.com/").await,
            FetchError::BadUrl(_)
        ));
        assert!(matches!(
            refused("http://user:pw@example.com/").await,
            FetchError::BadUrl(_)
        ));
        // The test-only switch opens loopback, and nothing else.
        let tests = Fetcher::new(FetchPolicy {
            allow_loopback: true,
            ..FetchPolicy::default()
        });
        assert!(
            tests
                .vet(&Url::parse("http://127.0.0.1:9/").unwrap())
                .await
                .is_ok()
        );
        assert!(matches!(
            tests.vet(&Url::parse("http://10.0.0.5/").unwrap()).await,
            Err(FetchError::BlockedAddress {
                reason: PRIVATE,
                ..
            })
        ));
        assert!(FetchPolicy::default() == Fetcher::default().policy().clone());
        assert!(!FetchPolicy::default().allow_loopback);
    }
}
