//! Builds the messaging provider for a channel from its settings and its encrypted credentials.

use leadline_app::SecretsService;
use leadline_providers::messaging::MessagingProvider;
use leadline_providers::messaging::sandbox::SandboxProvider;
use leadline_providers::messaging::twilio::{TwilioAuth, TwilioConfig, TwilioProvider};
use leadline_store::Channel;
use std::sync::Arc;

/// The secret purpose under which a channel's credential is stored.
pub fn credential_purpose(channel: &Channel) -> String {
    format!("channel:{}:auth_token", channel.id)
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
                let token = self
                    .secrets
                    .reveal(channel.account_id, &credential_purpose(channel))
                    .await
                    .map_err(|e| ProviderSetupError::Credentials(e.to_string()))?;
                let mut config = TwilioConfig::new(sid, TwilioAuth::AuthToken(token))
                    .map_err(|e| ProviderSetupError::Invalid(e.to_string()))?;
                // An alternative API origin (a regional edge, or a local mock in tests).
                if let Some(base) = channel.settings["api_base_url"].as_str() {
                    let url = url::Url::parse(base)
                        .map_err(|e| ProviderSetupError::Invalid(format!("api_base_url: {e}")))?;
                    config = config.with_base_url(url);
                }
                let provider = TwilioProvider::new(config, self.http.clone())
                    .map_err(|e| ProviderSetupError::Invalid(e.to_string()))?;
                Ok(Arc::new(provider))
            }
            other => Err(ProviderSetupError::Unsupported(other.to_owned())),
        }
    }

    /// The secret a channel's inbound webhooks are signed with (Twilio: the auth token).
    pub async fn webhook_secret(
        &self,
        channel: &Channel,
    ) -> Result<secrecy::SecretString, ProviderSetupError> {
        self.secrets
            .reveal(channel.account_id, &credential_purpose(channel))
            .await
            .map_err(|e| ProviderSetupError::Credentials(e.to_string()))
    }
}
