//! A real browser (Debian's headless Chromium driven through chromedriver) signs up, edits the
//! profile, invites a teammate, creates an API key and uses it.
//!
//! Runs when chromedriver is installed; `LEADLINE_BROWSER_TESTS=1` (set by CI) makes a missing
//! browser a failure instead of a skip. `LEADLINE_SCREENSHOTS=1` saves the pages it visits under
//! `docs/screenshots/`.

use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn required() -> bool {
    std::env::var("LEADLINE_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

pub(crate) async fn start_driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        assert!(
            !required(),
            "LEADLINE_BROWSER_TESTS=1 but {CHROMEDRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipping the browser test: chromium and chromium-driver are not installed");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    #[allow(clippy::zombie_processes)] // reaped by `Driver::drop`
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(Driver {
                child,
                port,
                _profile: tempfile::tempdir().unwrap(),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

pub(crate) async fn connect(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("connect to chromedriver")
}

/// Waits until the browser has navigated to `path` (clicks return before the next page loads).
pub(crate) async fn wait_path(c: &Client, path: &str) {
    for _ in 0..100 {
        if c.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "expected to reach {path}, still at {}",
        c.current_url().await.unwrap()
    );
}

pub(crate) async fn fill(c: &Client, css: &str, value: &str) {
    let el = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

pub(crate) async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

pub(crate) async fn text(c: &Client, css: &str) -> String {
    // Polling pages replace their content; an element found a moment ago may be gone (stale),
    // so look it up again rather than fail.
    let mut last = None;
    for _ in 0..20 {
        let found = c
            .wait()
            .at_most(std::time::Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(el) => match el.text().await {
                Ok(t) => return t,
                Err(e) => last = Some(e.to_string()),
            },
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css}: {}", last.unwrap_or_default())
}

/// The element's text once it contains `needle` (a click's navigation may still be under way).
pub(crate) async fn text_with(c: &Client, css: &str, needle: &str) -> String {
    let mut seen = String::new();
    for _ in 0..100 {
        seen = text(c, css).await;
        if seen.contains(needle) {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?}; last: {seen}")
}

pub(crate) async fn shot(c: &Client, name: &str) {
    if std::env::var("LEADLINE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{name}.png")),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn a_new_user_signs_up_edits_the_profile_invites_and_uses_an_api_key() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let c = connect(&driver).await;

    c.goto(&app.url("/signup")).await.unwrap();
    shot(&c, "signup").await;
    // A weak password is refused next to the field, and what was typed stays.
    fill(&c, "#f-business_name", "Acme Insurance").await;
    fill(&c, "#f-name", "Dana Reyes").await;
    fill(&c, "#f-email", "dana@acme.example").await;
    fill(&c, "#f-password", "short").await;
    click(&c, "button[type=submit]").await;
    text_with(&c, "#f-password-error", "at least 12 characters").await;
    assert_eq!(
        c.find(Locator::Css("#f-business_name"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Acme Insurance")
    );
    fill(&c, "#f-password", PASSWORD).await;
    click(&c, "button[type=submit]").await;
    wait_path(&c, "/onboarding").await;
    text_with(&c, ".alert-ok", "Welcome").await;
    shot(&c, "overview").await;

    let session = c.get_named_cookie("ll_session").await.unwrap();
    assert_eq!(
        session.http_only(),
        Some(true),
        "session cookie is HttpOnly"
    );
    assert_eq!(format!("{:?}", session.same_site()), "Some(Lax)");

    c.goto(&app.url("/app/profile")).await.unwrap();
    fill(&c, "#f-phone", "(512) 555-0123").await;
    fill(&c, "#f-industry", "insurance").await;
    fill(
        &c,
        "#f-description",
        "Family-owned insurance agency in Austin.",
    )
    .await;
    fill(&c, "#f-licensed_states", "TX, OK").await;
    click(&c, "form.form-grid button[type=submit]").await;
    text_with(&c, ".alert-ok", "Business profile saved").await;
    shot(&c, "profile").await;

    c.goto(&app.url("/app/team")).await.unwrap();
    fill(&c, "#f-email", "sam@acme.example").await;
    click(&c, "form.inline-form button[type=submit]").await;
    let link = text(&c, "#invite-link").await;
    assert!(link.contains("/invite/"), "{link}");
    shot(&c, "team").await;

    c.goto(&app.url("/app/api-keys")).await.unwrap();
    fill(&c, "#f-name", "CRM sync").await;
    click(&c, "form.inline-form button[type=submit]").await;
    let key = text(&c, "#new-api-key").await;
    assert!(key.starts_with("ll_"));
    shot(&c, "api-keys").await;

    let profile: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/v1/profile"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["phone"], "+15125550123");
    assert_eq!(profile["licensed_states"], serde_json::json!(["OK", "TX"]));
    let (status, invs) = Api::new(&app, &key).get_json("/invitations").await;
    assert_eq!(status, 403, "an agent key cannot list invitations: {invs}");

    c.goto(&app.url("/app/audit")).await.unwrap();
    assert!(c.source().await.unwrap().contains("api_key.create"));
    shot(&c, "audit").await;

    click(&c, ".topbar form button").await;
    wait_path(&c, "/signin").await;
    c.goto(&app.url("/app")).await.unwrap();
    wait_path(&c, "/signin").await;
    fill(&c, "#f-email", "dana@acme.example").await;
    fill(&c, "#f-password", PASSWORD).await;
    click(&c, "button[type=submit]").await;
    wait_path(&c, "/app").await;

    // The sandbox: create the channel, text as a lead, and watch the assistant's reply arrive
    // on the page (the page polls; the workers run at an instant the send windows allow).
    c.goto(&app.url("/app/sandbox")).await.unwrap();
    click(&c, "form[action='/app/sandbox/create'] button").await;
    let lead = c
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::Css("#f-lead"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        lead.starts_with("+1"),
        "a default lead number is offered: {lead}"
    );
    fill(&c, "#f-body", "Hi, I saw your ad about life insurance").await;
    click(&c, "form.phone-form button[type=submit]").await;
    // We were already on /app/sandbox, so the URL says nothing about the POST having landed:
    // drive the workers on every poll until the reply shows.
    let mut replied = false;
    for _ in 0..50 {
        drive(&app, open_window(&lead)).await;
        let screen = text(&c, ".phone-screen").await;
        if screen.contains("AI assistant") && screen.contains("delivered") {
            replied = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        replied,
        "the assistant's reply appears in the simulator without reloading"
    );
    shot(&c, "sandbox").await;
    c.goto(&app.url("/app/inbox")).await.unwrap();
    shot(&c, "inbox").await;
    c.goto(&app.url("/app/channels")).await.unwrap();
    shot(&c, "channels").await;
    c.close().await.unwrap();
}
