//! `leadline-bench pages`: server time of the dashboard's pages with a large account (by default
//! 100,000 leads and 1,000,000 messages), on SQLite and, when `LEADLINE_TEST_DATABASE_URL` names
//! a server, PostgreSQL. Each page is requested sequentially by a signed-in browser over
//! loopback; the figure is the time to the last byte of the response, so it bounds the server
//! time from above. The target is a p50 under 50 ms for every page.

use anyhow::Context;
use leadline_app::{KeyRing, MasterKey, SecretsService};
use leadline_domain::ids::ChannelId;
use leadline_domain::{AccountId, Email};
use leadline_store::NewChannel;
use leadline_store_sql::testing::{TestDb, fresh_postgres, fresh_sqlite, seed_volume};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Server-time budget per page (p50).
const TARGET: Duration = Duration::from_millis(50);
const PASSWORD: &str = "bench-harbor-lantern-7";

pub async fn pages(leads: usize, messages_per_lead: usize, rounds: usize) -> anyhow::Result<()> {
    println!(
        "pages: {leads} leads, {} messages, {rounds} requests per page (p50 target {} ms)",
        leads * messages_per_lead,
        TARGET.as_millis()
    );
    let mut all_ok = true;
    all_ok &= run(
        "sqlite",
        fresh_sqlite().await,
        leads,
        messages_per_lead,
        rounds,
    )
    .await?;
    match fresh_postgres().await {
        Some(db) => all_ok &= run("postgres", db, leads, messages_per_lead, rounds).await?,
        None => println!("\npostgres: skipped (set LEADLINE_TEST_DATABASE_URL to measure it)"),
    }
    println!(
        "\n{}",
        if all_ok {
            "every page within the target"
        } else {
            "SOME PAGES OVER THE TARGET (marked !)"
        }
    );
    Ok(())
}

async fn run(
    backend: &str,
    db: TestDb,
    leads: usize,
    messages_per_lead: usize,
    rounds: usize,
) -> anyhow::Result<bool> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr()?))?;
    let secrets = Arc::new(SecretsService::new(
        db.store.clone(),
        KeyRing::from_keys(vec![MasterKey::generate()]),
    ));
    let state = leadline_web::AppState::new(
        db.store.clone(),
        secrets,
        leadline_web::WebConfig::new(base.clone()),
        Arc::new(leadline_web::mail::LogMailer),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(leadline_web::serve(listener, state, async {
        let _ = stop_rx.await;
    }));

    // Sign up through the pages, as a subscriber does.
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let at = |path: &str| format!("{}{}", base.as_str().trim_end_matches('/'), path);
    client.get(at("/signin")).send().await?;
    let csrf = {
        use reqwest::cookie::CookieStore;
        let header = jar
            .cookies(&base)
            .context("a CSRF cookie after the first page")?;
        header
            .to_str()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == "ll_csrf")
            .map(|(_, v)| v.to_owned())
            .context("the ll_csrf cookie")?
    };
    let signup = client
        .post(at("/signup"))
        .form(&[
            ("business_name", "Volume Insurance"),
            ("name", "Dana Owner"),
            ("email", "volume@example.com"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await?;
    anyhow::ensure!(signup.status() == 303, "sign-up: {}", signup.status());
    let user = db
        .store
        .find_user_by_email(&Email::parse("volume@example.com")?)
        .await?
        .context("the signed-up user")?;
    let account: AccountId = db.store.memberships_of_user(user.id).await?[0].account_id;
    let channel = db
        .store
        .create_channel(NewChannel {
            id: ChannelId::new(),
            account_id: account,
            provider: "sandbox".into(),
            name: "Sandbox".into(),
            address: "+15125550100".into(),
            webhook_token: "volume".into(),
            settings: serde_json::json!({}),
            send_rate_per_minute: 60,
        })
        .await?;

    let seeding = Instant::now();
    seed_volume(
        &db.url,
        account,
        channel.id,
        leads,
        messages_per_lead,
        jiff::Timestamp::now(),
    )
    .await?;
    println!(
        "\n{backend}: seeded in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let some = db
        .store
        .list_leads(
            account,
            &leadline_store::LeadQuery::page(None, 1, (leads / 2) as u32),
        )
        .await?;
    let lead = some.first().context("a seeded lead")?;
    let conversation = db
        .store
        .lead_conversations(account, lead.id)
        .await?
        .first()
        .context("its conversation")?
        .id;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let month_ago = today.saturating_sub(jiff::Span::new().days(30));
    let quarter_ago = today.saturating_sub(jiff::Span::new().days(90));
    let last_page = leads.div_ceil(50);
    let paths = vec![
        "/app".to_owned(),
        "/onboarding".to_owned(),
        "/app/inbox".to_owned(),
        "/app/inbox?filter=unread".to_owned(),
        "/app/inbox?filter=attention".to_owned(),
        "/app/inbox?filter=taken_over".to_owned(),
        "/app/inbox?stage=qualified&q=reyes".to_owned(),
        format!("/app/inbox/{conversation}"),
        format!("/app/inbox/{conversation}/messages"),
        "/app/leads".to_owned(),
        format!("/app/leads?page={}", last_page / 2),
        format!("/app/leads?page={last_page}"),
        "/app/leads?q=reyes".to_owned(),
        "/app/leads?q=5550".to_owned(),
        "/app/leads?sort=name".to_owned(),
        "/app/leads?sort=score".to_owned(),
        "/app/leads?stage=qualified&tag=vip".to_owned(),
        format!("/app/leads/{}", lead.id),
        format!("/app/analytics?from={month_ago}&to={today}"),
        format!("/app/analytics?from={quarter_ago}&to={today}"),
        "/app/compliance".to_owned(),
        "/app/assistant".to_owned(),
        "/app/channels".to_owned(),
        "/app/sandbox".to_owned(),
        "/app/team".to_owned(),
        "/app/audit".to_owned(),
    ];
    println!(
        "{:<44} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p95 ms", "max ms"
    );
    let mut ok = true;
    for path in paths {
        let mut times = Vec::with_capacity(rounds);
        // One request first so caches are as warm as a page someone is working in.
        let first = client.get(at(&path)).send().await?;
        anyhow::ensure!(first.status().is_success(), "{path}: {}", first.status());
        first.bytes().await?;
        for _ in 0..rounds {
            let started = Instant::now();
            let r = client.get(at(&path)).send().await?;
            let status = r.status();
            r.bytes().await?;
            times.push(started.elapsed());
            anyhow::ensure!(status.is_success(), "{path}: {status}");
        }
        times.sort();
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        let p50 = pct(0.5);
        let within = p50 <= TARGET;
        ok &= within;
        println!(
            "{:<44} {:>9.1} {:>9.1} {:>9.1} {}",
            shorten(&path),
            ms(p50),
            ms(pct(0.95)),
            ms(pct(1.0)),
            if within { "" } else { "!" }
        );
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(ok)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Ids make paths long; the table shows their start.
fn shorten(path: &str) -> String {
    if path.chars().count() <= 44 {
        path.to_owned()
    } else {
        let cut: String = path.chars().take(43).collect();
        format!("{cut}…")
    }
}
