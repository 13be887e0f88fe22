//! Shared application state and the web configuration.

use crate::mail::Mailer;
use jiff::SignedDuration;
use leadline_app::SecretsService;
use leadline_engine::assistant::AssistantReplies;
use leadline_engine::knowledge_import::CrawlLimits;
use leadline_engine::providers::ProviderFactory;
use leadline_engine::{Engine, EngineConfig};
use leadline_providers::fetch::FetchPolicy;
use leadline_providers::messaging::sandbox::SandboxProvider;
use leadline_store::Store;
use secrecy::SecretString;
use std::sync::Arc;
use url::Url;

#[derive(Debug, Clone)]
pub struct GoogleConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// The OpenID issuer; `https://accounts.google.com` in production, a mock in tests.
    pub issuer: Url,
}

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed sign-ins allowed per email within the window.
    pub per_email: u64,
    /// Failed sign-ins allowed per client IP within the window.
    pub per_ip: u64,
    pub window: SignedDuration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_email: 5,
            per_ip: 30,
            window: SignedDuration::from_mins(15),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Where users reach this server; links in emails and OAuth redirects are built from it.
    pub public_url: Url,
    /// A session expires after this long without activity.
    pub session_idle: SignedDuration,
    pub google: Option<GoogleConfig>,
    /// Whether to believe `X-Forwarded-For` for the client IP (behind a trusted proxy only).
    pub trust_proxy: bool,
    pub login_limits: LoginLimits,
    /// How long the pipeline waits for more bubbles of a burst before answering.
    pub debounce: SignedDuration,
    /// Limits for fetching a customer's website into the knowledge base. Always the strict
    /// default in the product; tests open loopback to reach their mock sites.
    pub fetch_policy: FetchPolicy,
    /// How far a website import goes.
    pub crawl_limits: CrawlLimits,
    /// Tests only: outgoing webhooks may go to `http://127.0.0.1` mock receivers. Production
    /// accepts public `https` URLs only.
    pub allow_http_loopback_webhooks: bool,
}

impl WebConfig {
    pub fn new(public_url: Url) -> Self {
        Self {
            public_url,
            session_idle: SignedDuration::from_hours(24 * 7),
            google: None,
            trust_proxy: false,
            login_limits: LoginLimits::default(),
            debounce: EngineConfig::default().debounce,
            fetch_policy: FetchPolicy::default(),
            crawl_limits: CrawlLimits::default(),
            allow_http_loopback_webhooks: false,
        }
    }

    /// Cookies carry `Secure` when users reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The pipeline settings this configuration implies: the debounce window, and status
    /// callbacks addressed to the public URL.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            debounce: self.debounce,
            public_url: Some(self.public_url.clone()),
            ..EngineConfig::default()
        }
    }

    /// An absolute URL for a path on this server.
    pub fn link(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<SecretsService>,
    pub config: Arc<WebConfig>,
    pub mailer: Arc<dyn Mailer>,
    pub http: reqwest::Client,
    /// The message pipeline: webhooks, the sandbox and manual replies all go through it.
    pub engine: Arc<Engine>,
    /// Recently routed webhook tokens with their channel and signing secret.
    pub webhook_routes: Arc<crate::webhooks::RouteCache>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<SecretsService>,
        config: WebConfig,
        mailer: Arc<dyn Mailer>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let engine = Arc::new(
            Engine::new(
                store.clone(),
                ProviderFactory::new(secrets.clone(), Arc::new(SandboxProvider::new())),
                Arc::new(AssistantReplies::new(store.clone(), secrets.clone())),
                config.engine_config(),
            )
            .with_notifications(crate::mail::notifications(
                mailer.clone(),
                secrets.clone(),
                config.allow_http_loopback_webhooks,
            )),
        );
        Self {
            store,
            secrets,
            config: Arc::new(config),
            mailer,
            http,
            engine,
            webhook_routes: Arc::default(),
        }
    }

    /// Replaces the pipeline (another reply generator, sandbox sink or engine settings).
    pub fn with_engine(mut self, engine: Arc<Engine>) -> Self {
        self.engine = engine;
        self
    }
}
