//! `leadline-bench pipeline`: drives signed Twilio webhooks from many simulated leads into a real
//! leadline (fresh database, Twilio mock on loopback), then measures a bare axum endpoint that
//! parses the same form and makes the same upstream call, and prints our figures as ratios of it.
//! Machines here are noisy, so only ratios from one run mean anything.
//!
//! SQLite always; PostgreSQL too when `LEADLINE_TEST_DATABASE_URL` names a server.

use anyhow::Context;
use clap::{Parser, Subcommand};
use jiff::{SignedDuration, Timestamp};
use leadline_app::{KeyRing, MasterKey, SecretsService};
use leadline_domain::ids::ChannelId;
use leadline_domain::{AccountId, Email, UserId};
use leadline_engine::providers::credential_purpose;
use leadline_providers::messaging::WebhookRequest;
use leadline_providers::mock::deliver;
use leadline_providers::mock::twilio::{InboundSms, TwilioMock, inbound_request};
use leadline_store::{Direction, NewChannel, NewSignup, NewUser};
use leadline_store_sql::testing::{TestDb, fresh_postgres, fresh_sqlite};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "bench-auth-token-0123456789";
const OUR_NUMBER: &str = "+15125550100";

#[derive(Parser)]
#[command(
    name = "leadline-bench",
    about = "leadline benchmarks (ratios against a same-run baseline)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Webhook ingest and complete turns through the real pipeline, against a bare axum baseline.
    Pipeline {
        /// Simulated leads.
        #[arg(long, default_value_t = 200)]
        leads: usize,
        /// Messages each lead sends.
        #[arg(long, default_value_t = 5)]
        messages: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Pipeline {
            leads,
            messages,
            concurrency,
        } => pipeline(leads, messages, concurrency).await,
    }
}

/// Latencies and throughput of one load run.
struct Load {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: usize,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(idx).copied().unwrap_or_default()
    }
}

/// Sends every request with `concurrency` in flight, timing each acknowledgement.
async fn drive(requests: Vec<WebhookRequest>, concurrency: usize) -> Load {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap_or_default();
    let total = requests.len();
    let queue = Arc::new(tokio::sync::Mutex::new(requests.into_iter()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let queue = queue.clone();
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            loop {
                let next = queue.lock().await.next();
                let Some(request) = next else { break };
                let t = Instant::now();
                match deliver(&http, &request).await {
                    Ok(r) if r.status().is_success() => latencies.push(t.elapsed()),
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for task in tasks {
        if let Ok((l, f)) = task.await {
            latencies.extend(l);
            failures += f;
        }
    }
    Load {
        requests: total,
        elapsed: started.elapsed(),
        latencies,
        failures,
    }
}

fn lead_phone(i: usize) -> String {
    // Dialable fictitious Austin numbers: +1 512 55x xxxx.
    format!("+1512{:07}", 5_500_000 + i)
}

fn webhooks(url: &url::Url, leads: usize, messages: usize, tag: &str) -> Vec<WebhookRequest> {
    let mut out = Vec::with_capacity(leads * messages);
    for m in 0..messages {
        for l in 0..leads {
            let mut sms = InboundSms::new(
                &lead_phone(l),
                OUR_NUMBER,
                &format!("message {m} from lead {l}"),
            );
            sms.message_sid = format!("SM{tag}{:030}", m * leads + l);
            out.push(inbound_request(url, TOKEN, &sms));
        }
    }
    out
}

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// A Monday noon in Austin after today: every window is open and every job is due, so the
/// figures measure the pipeline, not the calendar.
fn virtual_noon() -> Timestamp {
    let mut t: Timestamp = "2026-12-07T18:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    while t < Timestamp::now() {
        t = t
            .checked_add(SignedDuration::from_hours(24 * 7))
            .unwrap_or(t);
    }
    t
}

async fn pipeline(leads: usize, messages: usize, concurrency: usize) -> anyhow::Result<()> {
    println!(
        "leadline-bench pipeline: {leads} leads x {messages} messages, {concurrency} in flight"
    );
    // The baseline is measured three times and its best run kept: a slow baseline run (a cold
    // start, a noisy neighbour) would flatter every ratio below.
    let mut baseline = baseline_run(leads, messages, concurrency).await?;
    for _ in 0..2 {
        let again = baseline_run(leads, messages, concurrency).await?;
        if again.per_second() > baseline.per_second() {
            baseline = again;
        }
    }
    println!(
        "baseline (bare axum: parse form + upstream call; best of 3): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, failures {}",
        baseline.per_second(),
        baseline.percentile(0.5).as_secs_f64() * 1e3,
        baseline.percentile(0.99).as_secs_f64() * 1e3,
        baseline.failures
    );
    let mut backends = vec!["sqlite"];
    if fresh_postgres().await.is_some() {
        backends.push("postgres");
    }
    for name in backends {
        println!("{name}:");
        // Alone: what one web process takes in while the workers run elsewhere (the scale-out
        // layout); then alongside: everything sharing this machine's two cores.
        for (label, alongside) in [("webhooks alone", false), ("with workers alongside", true)] {
            let db = match name {
                "sqlite" => fresh_sqlite().await,
                _ => fresh_postgres().await.context("postgres went away")?,
            };
            let run = leadline_run(db, leads, messages, concurrency, alongside).await?;
            println!(
                "  ingest, {label}: {:.0} acks/s = {:.2} x baseline; p50 {:.2} ms, p99 {:.2} ms; failures {}",
                run.load.per_second(),
                run.load.per_second() / baseline.per_second().max(1e-9),
                run.load.percentile(0.5).as_secs_f64() * 1e3,
                run.load.percentile(0.99).as_secs_f64() * 1e3,
                run.load.failures
            );
            println!(
                "    complete turns: {} in {:.2} s = {:.0} turns/s (stored inbound -> reply accepted by the mock provider{})",
                run.turns,
                run.turn_secs,
                run.turns as f64 / run.turn_secs.max(1e-9),
                if alongside {
                    ""
                } else {
                    "; workers started after ingest"
                }
            );
            println!(
                "    stored inbound: {} of {} sent; duplicate sends at the provider: {}",
                run.stored_inbound,
                leads * messages,
                run.duplicates
            );
            if run.stored_inbound != leads * messages
                || run.duplicates != 0
                || run.load.failures != 0
            {
                anyhow::bail!("{name}: lost or duplicated messages");
            }
        }
        println!(
            "  peak memory of the whole bench process so far: {:.1} MiB",
            peak_rss_mib()
        );
    }
    Ok(())
}

async fn baseline_run(leads: usize, messages: usize, concurrency: usize) -> anyhow::Result<Load> {
    use axum::routing::post;
    let mock = TwilioMock::start(SID, TOKEN).await?;
    let upstream = mock
        .base_url()
        .join(&format!("2010-04-01/Accounts/{SID}/Messages.json"))?;
    let http = reqwest::Client::new();
    let app = axum::Router::new().route(
        "/webhook",
        post(move |body: axum::body::Bytes| {
            let http = http.clone();
            let upstream = upstream.clone();
            async move {
                let form: Vec<(String, String)> =
                    url::form_urlencoded::parse(&body).into_owned().collect();
                let from = form
                    .iter()
                    .find(|(k, _)| k == "From")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let reply = [
                    ("To", from.as_str()),
                    ("From", OUR_NUMBER),
                    ("Body", "Thanks!"),
                ];
                let ok = http
                    .post(upstream)
                    .basic_auth(SID, Some(TOKEN))
                    .form(&reply)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::BAD_GATEWAY
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = url::Url::parse(&format!("http://{}/webhook", listener.local_addr()?))?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let load = drive(webhooks(&url, leads, messages, "B"), concurrency).await;
    server.abort();
    Ok(load)
}

struct LeadlineRun {
    load: Load,
    turns: usize,
    turn_secs: f64,
    stored_inbound: usize,
    duplicates: usize,
}

async fn leadline_run(
    db: TestDb,
    leads: usize,
    messages: usize,
    concurrency: usize,
    workers_alongside: bool,
) -> anyhow::Result<LeadlineRun> {
    let mock = TwilioMock::start(SID, TOKEN).await?;
    let account = AccountId::new();
    db.store
        .sign_up(NewSignup {
            user: NewUser {
                id: UserId::new(),
                email: Email::parse("bench@example.com")?,
                name: "Bench".into(),
                password_hash: None,
                google_subject: None,
            },
            account_id: account,
            profile: leadline_domain::BusinessProfile {
                business_name: "Bench Insurance".into(),
                agent_name: "Dana".into(),
                ..Default::default()
            },
        })
        .await?;
    let channel = db
        .store
        .create_channel(NewChannel {
            id: ChannelId::new(),
            account_id: account,
            provider: "twilio".into(),
            name: "Bench line".into(),
            address: OUR_NUMBER.into(),
            webhook_token: "bench".into(),
            settings: serde_json::json!({"account_sid": SID, "api_base_url": mock.base_url().to_string()}),
            send_rate_per_minute: 6000,
        })
        .await?;
    let secrets = Arc::new(SecretsService::new(
        db.store.clone(),
        KeyRing::from_keys(vec![MasterKey::generate()]),
    ));
    secrets
        .put(
            account,
            &credential_purpose(&channel),
            &SecretString::from(TOKEN),
            "system",
        )
        .await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr()?))?;
    let mut config = leadline_web::WebConfig::new(base.clone());
    config.debounce = SignedDuration::ZERO;
    let state = leadline_web::AppState::new(
        db.store.clone(),
        secrets,
        config,
        Arc::new(leadline_web::mail::LogMailer),
    );
    let engine = state.engine.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(leadline_web::serve(listener, state, async {
        let _ = stop_rx.await;
    }));

    // Workers run on a virtual Monday noon (see `virtual_noon`), alongside ingest or after it.
    let noon = virtual_noon();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let start_worker = |mut done_rx: tokio::sync::watch::Receiver<bool>| {
        let worker_engine = engine.clone();
        tokio::spawn(async move {
            loop {
                let jobs = worker_engine.run_jobs_once(noon).await.unwrap_or(0);
                let sent = worker_engine.run_outbound_once(noon).await.unwrap_or(0);
                if jobs + sent == 0 {
                    if *done_rx.borrow() {
                        return;
                    }
                    tokio::select! {
                        // Idle workers poll like production's (every 250 ms), a bit faster.
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        _ = done_rx.changed() => {}
                    }
                }
            }
        })
    };

    let url = base.join("webhooks/twilio/bench")?;
    let mut started = Instant::now();
    let worker = if workers_alongside {
        let worker = start_worker(done_rx.clone());
        let load = drive(webhooks(&url, leads, messages, "L"), concurrency).await;
        (worker, load)
    } else {
        let load = drive(webhooks(&url, leads, messages, "L"), concurrency).await;
        started = Instant::now();
        (start_worker(done_rx.clone()), load)
    };
    let (worker, load) = worker;
    let _ = done_tx.send(true);
    worker.await.context("worker")?;
    let turn_secs = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let _ = server.await;

    let mut stored_inbound = 0;
    for c in db
        .store
        .list_conversations(account, false, false, 100_000)
        .await?
    {
        stored_inbound += db
            .store
            .messages(account, c.id)
            .await?
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .count();
    }
    Ok(LeadlineRun {
        turns: mock.messages().len(),
        turn_secs,
        stored_inbound,
        duplicates: mock.duplicates().len(),
        load,
    })
}
