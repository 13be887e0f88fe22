//! Configuration: built-in defaults, then an optional TOML file, then `LEADLINE_*` environment
//! variables, then command-line flags. A bad value stops start-up with a message that names the
//! setting and where it came from.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use leadline_web::mail::{DEFAULT_FROM, SmtpConfig, SmtpConfigError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database and the generated master key live.
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    /// `sqlite:...` or `postgres://...`; defaults to a SQLite file in the data directory.
    pub database_url: Option<String>,
    /// Where users reach the server (for links and OAuth redirects); defaults to `http://<bind>`.
    pub public_url: Option<url::Url>,
    /// Base64 master key(s), newest first, comma-separated. Prefer the key file.
    #[serde(skip_serializing)]
    pub master_key: Option<SecretString>,
    pub master_key_file: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Sessions end after this many hours without activity.
    pub session_idle_hours: u32,
    /// Believe `X-Forwarded-For` (only behind a proxy you control).
    pub trust_proxy: bool,
    pub google_client_id: Option<String>,
    #[serde(skip_serializing)]
    pub google_client_secret: Option<SecretString>,
    pub google_issuer: Option<url::Url>,
    /// Outgoing mail for resets and invitations, e.g. `smtp://user:pass@host:587?tls=required`;
    /// without it, those emails are written to the log.
    #[serde(skip_serializing)]
    pub smtp_url: Option<SecretString>,
    /// The `From` of outgoing mail; defaults to `leadline <no-reply@localhost>`.
    pub smtp_from: Option<String>,
    /// Seconds the assistant waits for more texts of a burst before answering.
    pub debounce_secs: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./leadline-data"),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            public_url: None,
            master_key: None,
            master_key_file: None,
            log_format: LogFormat::Text,
            session_idle_hours: 24 * 7,
            trust_proxy: false,
            google_client_id: None,
            google_client_secret: None,
            google_issuer: None,
            smtp_url: None,
            smtp_from: None,
            debounce_secs: 4,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
}

/// Environment variables that are not settings but share the prefix.
const NOT_SETTINGS: &[&str] = &[
    "test_database_url",
    "config",
    "admin_password",
    "browser_tests",
];

pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Config, String> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = config_file {
        if !path.exists() {
            return Err(format!(
                "configuration file {} does not exist",
                path.display()
            ));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment
        .merge(Env::prefixed("LEADLINE_").filter(|k| {
            !NOT_SETTINGS
                .iter()
                .any(|n| k.as_str().eq_ignore_ascii_case(n))
        }))
        .merge(Serialized::defaults(overrides));
    let config: Config = figment.extract().map_err(|e| {
        e.into_iter()
            .map(|one| describe(&one))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    if config.session_idle_hours == 0 {
        return Err("session_idle_hours must be at least 1".into());
    }
    if config.debounce_secs > 600 {
        return Err("debounce_secs (LEADLINE_DEBOUNCE_SECS) must be at most 600".into());
    }
    if config.google_client_id.is_some() != config.google_client_secret.is_some() {
        return Err("Sign in with Google needs both google_client_id and google_client_secret (LEADLINE_GOOGLE_CLIENT_ID, LEADLINE_GOOGLE_CLIENT_SECRET)".into());
    }
    config.smtp()?;
    Ok(config)
}

impl Config {
    pub fn debounce(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(i64::from(self.debounce_secs))
    }

    /// The checked SMTP settings, or `None` to write emails to the log. A blank URL counts as
    /// unset, so `LEADLINE_SMTP_URL=` in a compose file turns SMTP off.
    pub fn smtp(&self) -> Result<Option<SmtpConfig>, String> {
        let Some(url) = self
            .smtp_url
            .as_ref()
            .filter(|u| !u.expose_secret().trim().is_empty())
        else {
            return Ok(None);
        };
        let from = self.smtp_from.as_deref().unwrap_or(DEFAULT_FROM);
        SmtpConfig::parse(url, from).map(Some).map_err(|e| match e {
            SmtpConfigError::Url(_) => format!("setting `smtp_url` (LEADLINE_SMTP_URL): {e}"),
            SmtpConfigError::From(_) => format!("setting `smtp_from` (LEADLINE_SMTP_FROM): {e}"),
        })
    }
}

/// "setting `bind` from environment variable `LEADLINE_BIND`: invalid socket address ..."
fn describe(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let source = match e.metadata.as_ref() {
        Some(md) => match &md.source {
            Some(figment::Source::File(p)) => format!("file {}", p.display()),
            _ if md.name.contains("environment") => {
                format!("environment variable LEADLINE_{}", key.to_uppercase())
            }
            _ => md.name.to_string(),
        },
        None => "configuration".into(),
    };
    if key.is_empty() {
        format!("{source}: {}", e.kind)
    } else {
        format!("setting `{key}` from {source}: {}", e.kind)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_and_file_errors_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("leadline.toml");
        std::fs::write(&file, "bind = \"not an address\"\n").unwrap();
        let err = load(Some(&file), &Overrides::default()).unwrap_err();
        assert!(
            err.contains("`bind`") && err.contains("leadline.toml"),
            "{err}"
        );
        std::fs::write(&file, "colour = \"blue\"\n").unwrap();
        let err = load(Some(&file), &Overrides::default()).unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let err = load(
            Some(&dir.path().join("missing.toml")),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn smtp_settings_are_checked_naming_the_setting() {
        let with = |url: &str, from: Option<&str>| Config {
            smtp_url: Some(SecretString::from(url)),
            smtp_from: from.map(str::to_owned),
            ..Config::default()
        };
        assert!(Config::default().smtp().unwrap().is_none());
        assert!(with("  ", None).smtp().unwrap().is_none(), "blank is unset");
        let smtp = with("smtp://relay.internal", None).smtp().unwrap().unwrap();
        assert_eq!(smtp.from(), "leadline <no-reply@localhost>");

        let err = with("smtp://mailer:hunter2@mail.example.com?tls=sometimes", None)
            .smtp()
            .unwrap_err();
        assert!(
            err.contains("`smtp_url`") && err.contains("LEADLINE_SMTP_URL"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let err = with("smtp://relay.internal", Some("no reply"))
            .smtp()
            .unwrap_err();
        assert!(err.contains("`smtp_from`"), "{err}");
    }
}
