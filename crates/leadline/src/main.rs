//! The `leadline` binary: `serve` runs the dashboard, API and workers; the other commands
//! migrate, administer, rotate keys, and expose the compliance engine.

mod compliance_cmd;
mod config;
mod simulate;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use config::{Config, LogFormat, Overrides};
use leadline_app::keyring::LoadOutcome;
use leadline_app::{KeyRing, SecretsService};
use leadline_store_sql::DatabaseUrl;
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "leadline",
    version,
    about = "AI texting assistant for businesses and their leads"
)]
struct Cli {
    /// A TOML configuration file (settings there are overridden by LEADLINE_* variables).
    #[arg(long, global = true, env = "LEADLINE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args, Default)]
struct Location {
    /// Data directory for the SQLite database and master key [env: LEADLINE_DATA_DIR] [default: ./leadline-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web dashboard, the API and the background workers.
    Serve {
        #[command(flatten)]
        location: Location,
        /// Address to listen on [env: LEADLINE_BIND] [default: 127.0.0.1:8080]
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// Serve HTTP only; run the message workers elsewhere with `leadline worker`.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run only the message workers (replies and the outbox), e.g. beside `serve --no-worker`.
    Worker {
        #[command(flatten)]
        location: Location,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        location: Location,
    },
    /// Platform administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Master-key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The compliance engine: classify inbound texts, check send windows, count SMS segments.
    #[command(subcommand)]
    Compliance(compliance_cmd::ComplianceCommand),
    /// Text the assistant as a lead, on a throw-away account, through the real pipeline: a YAML
    /// script (`--script`) or lines from standard input.
    Simulate(simulate::SimulateArgs),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a platform admin (or promote an existing user). The password is read from
    /// standard input, or from LEADLINE_ADMIN_PASSWORD.
    CreateAdmin {
        #[command(flatten)]
        location: Location,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// List every subscriber account.
    ListAccounts {
        #[command(flatten)]
        location: Location,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set an account's status: active, past_due, suspended or terminated (audited).
    SetStatus {
        #[command(flatten)]
        location: Location,
        /// The account id (see `list-accounts`).
        #[arg(long)]
        account: String,
        #[arg(long)]
        status: String,
    },
    /// Check every account's audit-log hash chain and name the first broken entry.
    AuditVerify {
        #[command(flatten)]
        location: Location,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new master key and re-encrypt every stored secret under it, while servers run.
    Rotate {
        #[command(flatten)]
        location: Location,
    },
    /// Print a new random master key (base64) for LEADLINE_MASTER_KEY.
    Generate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = match &cli.command {
        Command::Serve { location, bind, .. } => Overrides {
            data_dir: location.data_dir.clone(),
            bind: *bind,
        },
        Command::Migrate { location }
        | Command::Worker { location }
        | Command::Admin(
            AdminCommand::CreateAdmin { location, .. }
            | AdminCommand::ListAccounts { location, .. }
            | AdminCommand::SetStatus { location, .. }
            | AdminCommand::AuditVerify { location },
        )
        | Command::Keys(KeysCommand::Rotate { location }) => Overrides {
            data_dir: location.data_dir.clone(),
            bind: None,
        },
        Command::Compliance(_) | Command::Simulate(_) | Command::Keys(KeysCommand::Generate) => {
            Overrides::default()
        }
    };
    let command = match cli.command {
        // These need no configuration, database or runtime.
        Command::Compliance(cmd) => return compliance_cmd::run(cmd),
        Command::Simulate(args) => {
            let result = tokio::runtime::Runtime::new()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(simulate::run(args)));
            return match result {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Keys(KeysCommand::Generate) => {
            println!("{}", KeyRing::generate_encoded());
            return ExitCode::SUCCESS;
        }
        other => other,
    };
    let config = match config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: bad configuration:\n{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Err(e)) = config.database_url.as_deref().map(DatabaseUrl::parse) {
        eprintln!("error: bad configuration:\nsetting `database_url`: {e}");
        return ExitCode::from(2);
    }
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn database_url(config: &Config) -> anyhow::Result<DatabaseUrl> {
    match &config.database_url {
        Some(raw) => {
            DatabaseUrl::parse(raw).map_err(|e| anyhow::anyhow!("setting `database_url`: {e}"))
        }
        None => {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("cannot create data directory {}", config.data_dir.display())
            })?;
            Ok(DatabaseUrl::sqlite_file(
                &config.data_dir.join("leadline.db"),
            ))
        }
    }
}

fn key_ring(config: &Config) -> anyhow::Result<KeyRing> {
    let env_value = config
        .master_key
        .as_ref()
        .map(|k| k.expose_secret().to_owned());
    let (ring, outcome) = KeyRing::load(
        env_value.as_deref(),
        config.master_key_file.as_deref(),
        &config.data_dir,
    )?;
    if let LoadOutcome::Generated(path) = outcome {
        tracing::warn!(path = %path.display(), "generated a new master key; BACK IT UP: without it, stored provider credentials cannot be decrypted");
        eprintln!(
            "warning: generated a new master key at {}; back it up, without it stored credentials cannot be read",
            path.display()
        );
    }
    Ok(ring)
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { no_worker, .. } => serve(config, !no_worker).await,
        Command::Worker { .. } => worker(config).await,
        Command::Migrate { .. } => {
            let url = database_url(&config)?;
            let applied = leadline_store_sql::migrate(&url)
                .await
                .context("migration failed")?;
            println!(
                "database {} is up to date ({} migrations)",
                url.redacted(),
                applied.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(cmd) => admin(cmd, config).await,
        Command::Keys(KeysCommand::Rotate { .. }) => {
            let mut ring = key_ring(&config)?;
            let url = database_url(&config)?;
            let store = leadline_store_sql::connect(&url)
                .await
                .context("cannot open the database")?;
            let before = ring.current().id().to_owned();
            if matches!(ring.source(), leadline_app::KeySource::File(_)) {
                ring.rotate_file()?;
            }
            let after = ring.current().id().to_owned();
            let secrets = SecretsService::new(store, ring);
            let count = secrets.reencrypt_all().await?;
            println!("master key {before} -> {after}; re-encrypted {count} secrets");
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Generate) | Command::Compliance(_) | Command::Simulate(_) => {
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(config: Config, with_worker: bool) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let ring = key_ring(&config)?;
    let url = database_url(&config)?;
    tracing::info!(database = %url.redacted(), "opening database");
    let store = leadline_store_sql::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", url.redacted()))?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let local = listener.local_addr()?;
    let public_url = match &config.public_url {
        Some(u) => u.clone(),
        None => url::Url::parse(&format!("http://{local}"))?,
    };
    let mut web = leadline_web::WebConfig::new(public_url.clone());
    web.session_idle = jiff::SignedDuration::from_hours(i64::from(config.session_idle_hours));
    web.trust_proxy = config.trust_proxy;
    web.debounce = config.debounce();
    if let (Some(id), Some(secret)) = (&config.google_client_id, &config.google_client_secret) {
        let issuer = match &config.google_issuer {
            Some(u) => u.clone(),
            None => url::Url::parse("https://accounts.google.com")?,
        };
        web.google = Some(leadline_web::GoogleConfig {
            client_id: id.clone(),
            client_secret: secret.clone(),
            issuer,
        });
    }
    let mailer: Arc<dyn leadline_web::mail::Mailer> = match config
        .smtp()
        .map_err(|e| anyhow::anyhow!(e))?
    {
        Some(smtp) => {
            tracing::info!(server = %smtp.server(), security = %smtp.security(), from = %smtp.from(), "emails are sent through SMTP");
            if smtp.password_may_travel_in_clear() {
                tracing::warn!(server = %smtp.server(), "the SMTP password is sent without TLS; add ?tls=required or use smtps://");
            }
            Arc::new(leadline_web::mail::SmtpMailer::new(smtp))
        }
        None => {
            tracing::info!(
                "no SMTP server configured (smtp_url); reset and invitation emails are written to the log"
            );
            Arc::new(leadline_web::mail::LogMailer)
        }
    };
    let secrets = Arc::new(SecretsService::new(store.clone(), ring));
    let state = leadline_web::AppState::new(store.clone(), secrets, web, mailer);

    // Housekeeping: expired sessions are removed hourly.
    let sweeper_store = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = sweeper_store
                .delete_expired_sessions(jiff::Timestamp::now())
                .await
            {
                tracing::warn!(error = %e, "session sweep failed");
            }
        }
    });

    // The message workers stop with the HTTP server: after in-flight requests finish.
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    let workers = with_worker.then(|| tokio::spawn(state.engine.clone().run(workers_stopped)));

    let shutdown = shutdown_signal()?;
    println!("leadline is running at {public_url}");
    println!("  data directory: {}", config.data_dir.display());
    println!("  database:       {}", url.redacted());
    if workers.is_none() {
        println!("  workers:        off (--no-worker); run `leadline worker` to send messages");
    }
    tracing::info!(address = %local, startup_ms = started.elapsed().as_millis() as u64, workers = with_worker, "listening");
    let served = leadline_web::serve(listener, state, shutdown).await;
    let _ = stop_workers.send(true);
    if let Some(handle) = workers {
        let _ = handle.await;
    }
    served?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// `leadline worker`: the reply and outbox workers without HTTP, until Ctrl-C or SIGTERM.
async fn worker(config: Config) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let ring = key_ring(&config)?;
    let url = database_url(&config)?;
    tracing::info!(database = %url.redacted(), "opening database");
    let store = leadline_store_sql::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", url.redacted()))?;
    let public_url = match &config.public_url {
        Some(u) => u.clone(),
        None => url::Url::parse(&format!("http://{}", config.bind))?,
    };
    let secrets = Arc::new(SecretsService::new(store.clone(), ring));
    let engine_config = leadline_engine::EngineConfig {
        debounce: config.debounce(),
        public_url: Some(public_url),
        ..leadline_engine::EngineConfig::default()
    };
    let replies = Arc::new(leadline_engine::assistant::AssistantReplies::new(
        store.clone(),
        secrets.clone(),
    ));
    // Hand-off email from a worker goes through the same mailer `serve` would use.
    let mailer: Arc<dyn leadline_web::mail::Mailer> =
        match config.smtp().map_err(|e| anyhow::anyhow!(e))? {
            Some(smtp) => Arc::new(leadline_web::mail::SmtpMailer::new(smtp)),
            None => Arc::new(leadline_web::mail::LogMailer),
        };
    let notifications = leadline_web::mail::notifications(mailer, secrets.clone(), false);
    let engine = Arc::new(
        leadline_engine::Engine::new(
            store,
            leadline_engine::providers::ProviderFactory::new(
                secrets,
                Arc::new(leadline_providers::messaging::sandbox::SandboxProvider::new()),
            ),
            replies,
            engine_config,
        )
        .with_notifications(notifications),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = shutdown_signal()?;
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    println!("leadline worker is running");
    println!("  database:       {}", url.redacted());
    engine.run(stopped).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal that arrives right after start-up is not lost.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let term = async move {
            term.recv().await;
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            () = term => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

async fn admin(cmd: AdminCommand, config: Config) -> anyhow::Result<ExitCode> {
    let url = database_url(&config)?;
    let store = leadline_store_sql::connect(&url)
        .await
        .context("cannot open the database")?;
    match cmd {
        AdminCommand::CreateAdmin { email, name, .. } => {
            let email = leadline_domain::Email::parse(&email)
                .map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let password = match std::env::var("LEADLINE_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("password for {email} (at least 12 characters), then Enter:");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            leadline_domain::password::check(&password)
                .map_err(|e| anyhow::anyhow!("password: {e}"))?;
            let hash = leadline_app::passwords::hash(&password)?;
            let user = match store.find_user_by_email(&email).await? {
                Some(u) => {
                    store.set_password_hash(u.id, &hash).await?;
                    u
                }
                None => {
                    store
                        .create_user(leadline_store::NewUser {
                            id: leadline_domain::UserId::new(),
                            email: email.clone(),
                            name,
                            password_hash: Some(hash),
                            google_subject: None,
                        })
                        .await?
                }
            };
            store.set_platform_admin(user.id, true).await?;
            println!("{email} is a platform admin");
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::ListAccounts { json, .. } => {
            let accounts = store.list_accounts().await?;
            for a in &accounts {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": a.id.to_string(), "business_name": a.profile.business_name, "status": a.status.as_str(), "created_at": a.created_at.to_string()})
                    );
                } else {
                    println!(
                        "{}  {:<10}  {}  {}",
                        a.id,
                        a.status.as_str(),
                        a.created_at.strftime("%Y-%m-%d"),
                        a.profile.business_name
                    );
                }
            }
            if !json {
                println!("{} accounts", accounts.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::SetStatus {
            account, status, ..
        } => {
            let id: leadline_domain::AccountId = account
                .parse()
                .map_err(|_| anyhow::anyhow!("--account: '{account}' is not an account id"))?;
            let status: leadline_domain::AccountStatus = status.parse().map_err(|e: String| {
                anyhow::anyhow!("--status: {e}; expected active, past_due, suspended or terminated")
            })?;
            let audit = leadline_store::NewAudit {
                account_id: id,
                actor: "system:cli".into(),
                action: "account.status".into(),
                details: serde_json::json!({ "status": status.as_str() }),
            };
            let updated =
                store
                    .set_account_status(id, status, audit)
                    .await
                    .map_err(|e| match e {
                        leadline_store::StoreError::NotFound => {
                            anyhow::anyhow!("--account: no account {id}")
                        }
                        other => other.into(),
                    })?;
            println!(
                "{} is now {}",
                updated.profile.business_name, updated.status
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::AuditVerify { .. } => {
            let mut broken = 0;
            let accounts = store.audited_accounts().await?;
            for account in &accounts {
                let links: Vec<_> = store
                    .audit_chain(*account)
                    .await?
                    .into_iter()
                    .map(|e| leadline_domain::audit::ChainLink {
                        content: leadline_domain::audit::AuditContent {
                            account_id: e.account_id.to_string(),
                            seq: e.seq,
                            at_us: e.at.as_microsecond(),
                            actor: e.actor,
                            action: e.action,
                            details: e.details,
                        },
                        prev_hash: e.prev_hash,
                        hash: e.hash,
                    })
                    .collect();
                match leadline_domain::audit::verify_chain(&links) {
                    Ok(()) => println!("ok      {account}  {} entries", links.len()),
                    Err(b) => {
                        broken += 1;
                        println!(
                            "BROKEN  {account}  first broken entry: #{} ({})",
                            b.seq, b.reason
                        );
                    }
                }
            }
            println!("{} accounts checked, {} broken", accounts.len(), broken);
            Ok(if broken == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
