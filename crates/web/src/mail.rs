//! Outgoing email for password resets and invitations: through an SMTP server when one is
//! configured (`SmtpMailer`), otherwise written to the server log for the operator, and pages say
//! so (`LogMailer`).

use async_trait::async_trait;
use leadline_engine::notify::{NotificationMailer, Notifications};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Written to the log because no mail server is configured.
    Logged,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<Delivery>;
    /// Whether mail really leaves the server.
    fn is_configured(&self) -> bool;
}

/// Hand-off notification email goes through the same mailer as resets and invitations: the
/// engine's delivery worker only knows [`NotificationMailer`].
struct NotificationMail(Arc<dyn Mailer>);

#[async_trait]
impl NotificationMailer for NotificationMail {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<()> {
        self.0.send(to, subject, body).await.map(|_| ())
    }
}

/// What the engine needs to deliver hand-off notifications from this process.
pub fn notifications(
    mailer: Arc<dyn Mailer>,
    secrets: Arc<leadline_app::SecretsService>,
    allow_http_loopback: bool,
) -> Notifications {
    Notifications {
        mailer: Arc::new(NotificationMail(mailer)),
        secrets,
        allow_http_loopback,
        max_attempts: Notifications::DEFAULT_MAX_ATTEMPTS,
    }
}

/// The default: log the message at WARN so the operator can pass the link on.
#[derive(Debug, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<Delivery> {
        tracing::warn!(%to, %subject, %body, "no SMTP server configured; email written to the log instead");
        Ok(Delivery::Logged)
    }
    fn is_configured(&self) -> bool {
        false
    }
}

/// What kind of delivery a mailer performs, without sending anything (for pages that must not
/// reveal whether an address is registered).
pub trait DeliveryKind {
    fn delivery_kind(&self) -> Delivery;
}

impl DeliveryKind for dyn Mailer {
    fn delivery_kind(&self) -> Delivery {
        if self.is_configured() {
            Delivery::Sent
        } else {
            Delivery::Logged
        }
    }
}

/// The sender used when only the SMTP URL is configured.
pub const DEFAULT_FROM: &str = "leadline <no-reply@localhost>";

/// A whole delivery (connect, TLS, AUTH, DATA) must finish in this time: the user is waiting
/// for the page.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error(
        "not a usable SMTP URL ({0}); expected smtp://user:password@host:587?tls=required, smtps://user:password@host:465 or smtp://host:25"
    )]
    Url(String),
    #[error(
        "not a valid sender address ({0}); expected `Name <address@example.com>` or `address@example.com`"
    )]
    From(String),
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://host` without `tls=`: for relays on the same host or network.
    None,
    /// `smtp://…?tls=required`: STARTTLS or fail.
    StartTls,
    /// `smtp://…?tls=opportunistic`: STARTTLS when the server offers it.
    StartTlsIfOffered,
    /// `smtps://`: TLS from the first byte.
    Tls,
}

impl fmt::Display for SmtpSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "no TLS",
            Self::StartTls => "STARTTLS",
            Self::StartTlsIfOffered => "STARTTLS if offered",
            Self::Tls => "TLS",
        })
    }
}

/// A checked SMTP setting: the URL (parsed by lettre, which owns its meaning) and the sender.
/// Built at start-up so a bad value stops the server instead of failing the first reset email.
pub struct SmtpConfig {
    builder: AsyncSmtpTransportBuilder,
    from: Mailbox,
    server: String,
    security: SmtpSecurity,
    password: Option<SecretString>,
}

impl SmtpConfig {
    /// `url` is `smtp://[user:password@]host[:port][?tls=required|opportunistic]` or
    /// `smtps://[user:password@]host[:port]`; `from` is `Name <address>` or a bare address.
    pub fn parse(url: &SecretString, from: &str) -> Result<Self, SmtpConfigError> {
        // Our own parse first: lettre accepts some URLs that would silently do the wrong thing,
        // and error texts here must never contain the password.
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|e| SmtpConfigError::Url(e.to_string()))?;
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.to_owned(),
            _ => return Err(SmtpConfigError::Url("no host".into())),
        };
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let (default_port, security) = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => (25, SmtpSecurity::None),
            ("smtp", Some("required")) => (587, SmtpSecurity::StartTls),
            ("smtp", Some("opportunistic")) => (587, SmtpSecurity::StartTlsIfOffered),
            ("smtps", None) => (465, SmtpSecurity::Tls),
            ("smtp" | "smtps", Some(other)) => {
                return Err(SmtpConfigError::Url(format!(
                    "tls={other}: use tls=required or tls=opportunistic with smtp://, nothing with smtps://"
                )));
            }
            (scheme, _) => {
                return Err(SmtpConfigError::Url(format!(
                    "scheme {scheme}: use smtp or smtps"
                )));
            }
        };
        // lettre ignores a user name without a password; that would send mail unauthenticated.
        if !parsed.username().is_empty() && parsed.password().is_none() {
            return Err(SmtpConfigError::Url(
                "a user name without a password".into(),
            ));
        }
        let password = match parsed.password() {
            Some(raw) => Some(SecretString::from(
                urlencoding::decode(raw)
                    .map_err(|_| {
                        SmtpConfigError::Url(
                            "the password is not valid percent-encoded UTF-8".into(),
                        )
                    })?
                    .into_owned(),
            )),
            None => None,
        };
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| SmtpConfigError::Url(e.to_string()))?
            .timeout(Some(SEND_TIMEOUT));
        let from: Mailbox = from
            .trim()
            .parse()
            .map_err(|e: lettre::address::AddressError| SmtpConfigError::From(e.to_string()))?;
        Ok(Self {
            builder,
            from,
            server: format!("{host}:{}", parsed.port().unwrap_or(default_port)),
            security,
            password,
        })
    }

    /// `host:port` of the mail server, for logs (never credentials).
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn security(&self) -> SmtpSecurity {
        self.security
    }

    /// Whether a password is configured and may cross the network unencrypted (plain
    /// `smtp://`, or `tls=opportunistic` against a server that offers no STARTTLS).
    pub fn password_may_travel_in_clear(&self) -> bool {
        self.password.is_some()
            && matches!(
                self.security,
                SmtpSecurity::None | SmtpSecurity::StartTlsIfOffered
            )
    }

    /// The sender, as it appears in the `From` header.
    pub fn from(&self) -> String {
        self.from.to_string()
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Sends plain-text UTF-8 mail through the configured SMTP server, one connection per message
/// (a handful of resets and invitations does not need a pool).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
    password: Option<SecretString>,
}

impl SmtpMailer {
    pub fn new(config: SmtpConfig) -> Self {
        Self {
            transport: config.builder.build(),
            from: config.from,
            server: config.server,
            password: config.password,
        }
    }

    fn message(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<Message> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| anyhow::anyhow!("recipient {to} is not a valid address: {e}"))?;
        // The sender's domain, as RFC 5322 suggests, so the id is unique beyond this host.
        let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), self.from.email.domain());
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .date_now()
            .message_id(Some(message_id))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| anyhow::anyhow!("cannot build the email: {e}"))
    }

    /// Servers may echo what they were sent; the password must not reach logs or pages.
    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(p) if !p.expose_secret().is_empty() => text.replace(p.expose_secret(), "***"),
            _ => text,
        }
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<Delivery> {
        let message = self.message(to, subject, body)?;
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => {
                tracing::info!(%to, %subject, server = %self.server, "email sent");
                Ok(Delivery::Sent)
            }
            Ok(Err(e)) => Err(anyhow::anyhow!(
                self.scrub(format!("sending email through {} failed: {e}", self.server))
            )),
            Err(_) => Err(anyhow::anyhow!(
                "sending email through {} timed out after {} s",
                self.server,
                SEND_TIMEOUT.as_secs()
            )),
        }
    }
    fn is_configured(&self) -> bool {
        true
    }
}
