//! Builds the messaging provider for a channel from its settings and its encrypted credentials.

use leadline_app::SecretsService;
use leadline_domain::ids::ChannelId;
use leadline_providers::messaging::MessagingProvider;
use leadline_providers::messaging::blooio::{BlooioConfig, BlooioProvider};
use leadline_providers::messaging::linq::{LinqConfig, LinqProvider};
use leadline_providers::messaging::sandbox::SandboxProvider;
use leadline_providers::messaging::twilio::{TwilioAuth, TwilioConfig, TwilioProvider};
use leadline_store::Channel;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The secret purpose under which a channel's API credential is stored (Twilio auth token,
/// Linq API token, Blooio API key).
pub fn credential_purpose(channel: &Channel) -> String {
    format!("channel:{}:auth_token", channel.id)
}

/// The secret purpose under which a channel's webhook signing secret is stored, for providers
/// that sign webhooks with a secret of their own (Linq, Blooio). Twilio signs with the auth token.
pub fn webhook_secret_purpose(channel: &Channel) -> String {
    format!("channel:{}:webhook_secret", channel.id)
}

/// True when the provider signs its webhooks with a separate secret
/// ([`webhook_secret_purpose`]) rather than with its API credential.
pub fn has_separate_webhook_secret(provider: &str) -> bool {
    matches!(provider, "linq" | "blooio")
}

/// The channel's `api_base_url` override (a local mock in tests), when set.
fn api_base_url(channel: &Channel) -> Result<Option<url::Url>, ProviderSetupError> {
    channel.settings["api_base_url"]
        .as_str()
        .map(|base| {
            url::Url::parse(base)
                .map_err(|e| ProviderSetupError::Invalid(format!("api_base_url: {e}")))
        })
        .transpose()
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderSetupError {
    #[error("the channel's {0} setting is missing")]
    MissingSetting(&'static str),
    #[error("the channel's credentials are missing or unreadable: {0}")]
    Credentials(String),
    #[error("{0}")]
    Invalid(String),
    #[error("provider '{0}' is not supported yet")]
    Unsupported(String),
}

pub struct ProviderFactory {
    secrets: Arc<SecretsService>,
    http: reqwest::Client,
    sandbox: Arc<SandboxProvider>,
    /// Linq adapters by channel, so the chat ids they learn survive from one send to the next
    /// (later replies go straight into the chat). Rebuilt when the token or API origin changes.
    linq: Mutex<HashMap<ChannelId, CachedLinq>>,
}

struct CachedLinq {
    base: Option<url::Url>,
    token: SecretString,
    provider: Arc<LinqProvider>,
}

impl std::fmt::Debug for ProviderFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderFactory")
    }
}

impl ProviderFactory {
    pub fn new(secrets: Arc<SecretsService>, sandbox: Arc<SandboxProvider>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Self {
            secrets,
            http,
            sandbox,
            linq: Mutex::new(HashMap::new()),
        }
    }

    pub fn sandbox(&self) -> &Arc<SandboxProvider> {
        &self.sandbox
    }

    pub async fn for_channel(
        &self,
        channel: &Channel,
    ) -> Result<Arc<dyn MessagingProvider>, ProviderSetupError> {
        match channel.provider.as_str() {
            "sandbox" => Ok(self.sandbox.clone()),
            "twilio" => {
                let sid = channel.settings["account_sid"]
                    .as_str()
                    .ok_or(ProviderSetupError::MissingSetting("account_sid"))?;
                let token = self.credential(channel).await?;
                let mut config = TwilioConfig::new(sid, TwilioAuth::AuthToken(token))
                    .map_err(|e| ProviderSetupError::Invalid(e.to_string()))?;
                // An alternative API origin (a regional edge, or a local mock in tests).
                if let Some(url) = api_base_url(channel)? {
                    config = config.with_base_url(url);
                }
                let provider = TwilioProvider::new(config, self.http.clone())
                    .map_err(|e| ProviderSetupError::Invalid(e.to_string()))?;
                Ok(Arc::new(provider))
            }
            "linq" => {
                let token = self.credential(channel).await?;
                let base = api_base_url(channel)?;
                let mut cache = self.linq.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(cached) = cache.get(&channel.id)
                    && cached.base == base
                    && cached.token.expose_secret() == token.expose_secret()
                {
                    return Ok(cached.provider.clone());
                }
                let mut config = LinqConfig::new(token.clone())
                    .map_err(|e| ProviderSetupError::Invalid(e.to_string()))?;
                if let Some(url) = base.clone() {
                    config = config.with_base_url(url);
                }
                let provider = Arc::new(LinqProvider::new(config, self.http.clone()));
                cache.insert(
                    channel.id,
                    CachedLinq {
                        base,
                        token,
                        provider: provider.clone(),
                    },
                );
                Ok(provider)
            }
            "blooio" => {
                let key = self.credential(channel).await?;
                let mut config = BlooioConfig::new(key)
                    .map_err(|e| ProviderSetupError::Invalid(e.to_string()))?;
                if let Some(url) = api_base_url(channel)? {
                    config = config.with_base_url(url);
                }
                Ok(Arc::new(BlooioProvider::new(config, self.http.clone())))
            }
            other => Err(ProviderSetupError::Unsupported(other.to_owned())),
        }
    }

    async fn credential(&self, channel: &Channel) -> Result<SecretString, ProviderSetupError> {
        self.secrets
            .reveal(channel.account_id, &credential_purpose(channel))
            .await
            .map_err(|e| ProviderSetupError::Credentials(e.to_string()))
    }

    /// The secret a channel's inbound webhooks are signed with: Twilio's auth token, or the
    /// separate webhook signing secret of Linq and Blooio.
    pub async fn webhook_secret(
        &self,
        channel: &Channel,
    ) -> Result<SecretString, ProviderSetupError> {
        let purpose = if has_separate_webhook_secret(&channel.provider) {
            webhook_secret_purpose(channel)
        } else {
            credential_purpose(channel)
        };
        self.secrets
            .reveal(channel.account_id, &purpose)
            .await
            .map_err(|e| ProviderSetupError::Credentials(e.to_string()))
    }
}
