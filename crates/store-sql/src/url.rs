//! Database URLs: which backend a URL names (unknown schemes are refused rather than guessed), and
//! keeping the password out of logs and error messages.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a database URL was refused. Never contains the URL itself, which may hold a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error(
        "the database URL has no scheme; accepted: sqlite:PATH, postgres://..., postgresql://..."
    )]
    MissingScheme,
    #[error(
        "unsupported database URL scheme '{0}'; accepted: sqlite:PATH, postgres://..., postgresql://..."
    )]
    UnsupportedScheme(String),
    #[error("invalid {backend} database URL: {reason}")]
    Invalid { backend: Backend, reason: String },
}

/// A database URL whose `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// Accepts `sqlite:` URLs (`sqlite://path`, `sqlite:path`, `sqlite:///abs/path`, with query
    /// options such as `?mode=rwc`, or `sqlite::memory:`) and `postgres://` / `postgresql://`.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        let (scheme, rest) = raw.split_once(':').ok_or(UrlError::MissingScheme)?;
        let looks_like_scheme = !scheme.is_empty()
            && scheme.len() <= 32
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !looks_like_scheme {
            return Err(UrlError::MissingScheme);
        }
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Self::parse_sqlite(rest),
            "postgres" | "postgresql" => {
                Self::parse_postgres(&format!("{}:{rest}", scheme.to_ascii_lowercase()))
            }
            other => Err(UrlError::UnsupportedScheme(other.to_owned())),
        }
    }

    fn parse_sqlite(rest: &str) -> Result<Self, UrlError> {
        let invalid = |reason: String| UrlError::Invalid {
            backend: Backend::Sqlite,
            reason,
        };
        let raw = format!("sqlite:{rest}");
        let body = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = body.split_once('?').unwrap_or((body, ""));
        if path.is_empty() && !query.contains("mode=memory") {
            return Err(invalid(
                "no database file path (e.g. sqlite://leadline.db)".into(),
            ));
        }
        // Let sqlx judge the options now, so a typo fails at start-up with a clear message.
        sqlx::sqlite::SqliteConnectOptions::from_str(&raw).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            raw,
            backend: Backend::Sqlite,
        })
    }

    fn parse_postgres(raw: &str) -> Result<Self, UrlError> {
        let invalid = |reason: String| UrlError::Invalid {
            backend: Backend::Postgres,
            reason,
        };
        // url's errors describe the problem without echoing the input.
        let parsed = url::Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
        if parsed.cannot_be_a_base() {
            return Err(invalid(
                "expected postgres://[user[:password]@]host[:port]/database".into(),
            ));
        }
        Ok(Self {
            raw: raw.to_owned(),
            backend: Backend::Postgres,
        })
    }

    /// The URL of a SQLite file, created if missing.
    pub fn sqlite_file(path: &Path) -> Self {
        let encoded: String = path
            .to_string_lossy()
            .bytes()
            .map(|b| {
                // sqlx percent-decodes the path, so anything that could read as syntax is encoded.
                if b.is_ascii_alphanumeric()
                    || matches!(b, b'/' | b'\\' | b'-' | b'_' | b'.' | b'~' | b':')
                {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        Self {
            raw: format!("sqlite://{encoded}?mode=rwc"),
            backend: Backend::Sqlite,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with any password replaced by `***`, for logs and messages.
    pub fn redacted(&self) -> String {
        if self.backend != Backend::Postgres {
            return self.raw.clone();
        }
        let Ok(mut parsed) = url::Url::parse(&self.raw) else {
            return "postgres://***".to_owned();
        };
        if parsed.password().is_some() {
            // Only fails for URLs that cannot carry credentials, which parse() refused.
            let _ = parsed.set_password(Some("***"));
        }
        if parsed
            .query_pairs()
            .any(|(k, _)| k.eq_ignore_ascii_case("password"))
        {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            parsed.query_pairs_mut().clear().extend_pairs(pairs);
        }
        parsed.to_string()
    }

    /// The real URL, for connecting only.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}
