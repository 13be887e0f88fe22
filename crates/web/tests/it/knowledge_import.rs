//! Importing the business's website into the knowledge base, from the Knowledge tab and the API:
//! a mock website on 127.0.0.1 (reachable only because these tests open loopback in the fetch
//! policy) becomes documents with their source addresses, the pages that fail are listed with
//! why, a re-import replaces rather than duplicates, a lead's question is answered from an
//! imported page, and the strict default refuses loopback with a 422.

use crate::helpers::*;
use axum::Router;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use leadline_conversation::{ASSISTANT_SETTINGS, AssistantSettings};
use leadline_store::Direction;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const OWNER: &str = "dana@example.com";
const LEAD: &str = "+15125550123";

/// How often the pages that must never be fetched were asked for.
#[derive(Default)]
struct Hits {
    pdf: AtomicUsize,
    too_deep: AtomicUsize,
}

/// A small plumbing business's website: linked pages two levels deep, an oversized page, a slow
/// page, a redirect to the cloud metadata address, a PDF and an off-site link.
async fn website(hits: Arc<Hits>) -> String {
    let home = r#"<!doctype html><html><head><title>Acme Plumbing</title></head><body>
        <nav><a href="/">Home</a> <a href="/services">Services</a> <a href="/hours#today">Hours</a>
        <a href="/about">About</a></nav>
        <h1>Acme Plumbing</h1><p>Family plumbers in Austin since 1998.</p>
        <ul><li><a href="/hours">Opening hours</a></li><li><a href="/menu.pdf">Price list (PDF)</a></li>
        <li><a href="/big">Gallery</a></li><li><a href="/slow">Reviews</a></li>
        <li><a href="/metadata">Partners</a></li><li><a href="https://elsewhere.example/">A friend</a></li></ul>
        <footer>© Acme Plumbing</footer></body></html>"#;
    let services = r#"<html><head><title>Services</title><script>track()</script></head><body>
        <h2>What we fix</h2><p>We repair tankless water heaters of every brand, with a two-year warranty on parts.</p>
        <p>Drain cleaning and leak detection too.</p></body></html>"#;
    let hours = "<html><head><title>Opening hours</title></head><body><p>Open Monday to Friday, 8am to 6pm.</p></body></html>";
    let about = r#"<html><head><title>About us</title></head><body><p>Three licensed plumbers.</p>
        <a href="/team">Our team</a></body></html>"#;
    let team = r#"<html><head><title>Team</title></head><body><p>Meet Rosa, our master plumber.</p>
        <a href="/deep">Deeper</a></body></html>"#;
    let app = Router::new()
        .route("/", get(move || async move { Html(home) }))
        .route("/services", get(move || async move { Html(services) }))
        .route("/hours", get(move || async move { Html(hours) }))
        .route("/about", get(move || async move { Html(about) }))
        .route("/team", get(move || async move { Html(team) }))
        .route(
            "/big",
            get(|| async { Html(format!("<p>{}</p>", "photo ".repeat(40_000))) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Html("<p>Five stars.</p>")
            }),
        )
        .route(
            "/metadata",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(LOCATION, "http://169.254.169.254/latest/meta-data/")],
                )
            }),
        )
        .route(
            "/menu.pdf",
            get({
                let hits = hits.clone();
                move || async move {
                    hits.pdf.fetch_add(1, Ordering::SeqCst);
                    ([(CONTENT_TYPE, "application/pdf")], "%PDF-1.4").into_response()
                }
            }),
        )
        .route(
            "/deep",
            get(move || async move {
                hits.too_deep.fetch_add(1, Ordering::SeqCst);
                Html("<p>Too deep.</p>")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The app with loopback opened for the mock website, and short limits so the slow and big
/// pages fail quickly.
async fn app_reaching_loopback() -> TestApp {
    TestApp::spawn_with(|c| {
        c.fetch_policy.allow_loopback = true;
        c.fetch_policy.page_timeout = Duration::from_secs(1);
        c.fetch_policy.max_body_bytes = 64 * 1024;
    })
    .await
}

async fn stored(app: &TestApp) -> AssistantSettings {
    let account = account_of(app, OWNER).await;
    AssistantSettings::from_stored(
        app.db
            .store
            .get_setting(account, ASSISTANT_SETTINGS)
            .await
            .unwrap(),
    )
    .unwrap()
}

async fn version_actors(app: &TestApp) -> Vec<String> {
    let account = account_of(app, OWNER).await;
    app.db
        .store
        .setting_versions(account, ASSISTANT_SETTINGS, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.actor)
        .collect()
}

/// Polls the dashboard's progress region until the import is done; returns that HTML.
async fn wait_for_page(b: &Browser, path: &str) -> String {
    for _ in 0..300 {
        let html = b.get_text(&format!("{path}/progress")).await;
        if html.contains("Done.") || html.contains("nothing was saved") {
            return html;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the import did not finish")
}

async fn wait_for_api(api: &Api, status_url: &str) -> serde_json::Value {
    let path = status_url.trim_start_matches("/api/v1");
    for _ in 0..300 {
        let (status, body) = api.get_json(path).await;
        assert_eq!(status, 200);
        if body["state"] != "running" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the import did not finish")
}

#[tokio::test]
async fn a_website_becomes_documents_with_errors_listed_and_answers_a_lead() {
    let hits = Arc::new(Hits::default());
    let site = website(hits.clone()).await;
    let app = app_reaching_loopback().await;
    let owner = app.signed_up("Acme Plumbing", OWNER).await;

    // Before: a pasted document, and one imported earlier from the hours page.
    let old_hours = format!("{site}/hours");
    let r = owner
        .post_form(
            "/app/assistant/knowledge",
            &[
                ("qa_rows", "0"),
                ("doc_rows", "2"),
                ("d0.title", "Pasted notes"),
                ("d0.text", "We never work on Sundays."),
                ("d1.title", "Old hours"),
                ("d1.text", "Open weekends only."),
                ("d1.source_url", &old_hours),
                ("op", "save"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let before = version_actors(&app).await.len();

    let page = owner.get_text("/app/assistant/knowledge").await;
    assert!(page.contains("Import from your website"));
    let r = owner
        .post_form("/app/assistant/knowledge/import", &[("import_url", &site)])
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let status_page = location(&r);
    assert!(status_page.starts_with("/app/assistant/knowledge/import/"));
    let html = owner.get_text(&status_page).await;
    assert!(html.contains("Importing") && html.contains(&site));

    let result = wait_for_page(&owner, &status_page).await;
    assert!(result.contains("Imported 5 pages"), "{result}");
    for expected in [
        format!("{site}/metadata: refused: the address 169.254.169.254 is link-local"),
        format!("{site}/big: the page is larger than 65536 bytes"),
        format!("{site}/slow: the page did not arrive in time (1 s)"),
    ] {
        assert!(
            result.contains(&expected),
            "{expected} missing from {result}"
        );
    }
    assert!(result.contains("1 link to files"), "{result}");
    assert_eq!(
        hits.pdf.load(Ordering::SeqCst),
        0,
        "the PDF is never fetched"
    );
    assert_eq!(
        hits.too_deep.load(Ordering::SeqCst),
        0,
        "depth is limited to 2"
    );

    // One new version, saved by the owner; the pasted document kept, the hours page replaced
    // in place, the new pages added with their addresses.
    let actors = version_actors(&app).await;
    assert_eq!(actors.len(), before + 1);
    assert!(actors[0].starts_with("user:"), "{}", actors[0]);
    let s = stored(&app).await;
    let docs: Vec<(String, Option<String>)> = s
        .documents
        .iter()
        .map(|d| (d.title.clone(), d.source_url.clone()))
        .collect();
    let imported = |title: &str, path: &str| (title.to_owned(), Some(format!("{site}{path}")));
    assert_eq!(
        docs,
        [
            ("Pasted notes".to_owned(), None),
            imported("Opening hours", "/hours"),
            imported("Acme Plumbing", "/"),
            imported("Services", "/services"),
            imported("About us", "/about"),
            imported("Team", "/team"),
        ]
    );
    assert_eq!(s.documents[1].text, "Open Monday to Friday, 8am to 6pm.");
    let services = &s.documents[3].text;
    assert!(services.contains("tankless water heaters") && !services.contains("track()"));
    let home = &s.documents[2].text;
    assert!(
        home.contains("since 1998") && !home.contains("© Acme"),
        "{home}"
    );

    // Importing again (through the API) replaces the same pages instead of adding copies.
    let api = Api::new(&app, &api_key(&owner, "ci", "admin").await);
    let (status, started) = api
        .send_json(
            Method::POST,
            "/assistant/knowledge/import",
            json!({ "url": site }),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let done = wait_for_api(&api, started["status_url"].as_str().unwrap()).await;
    assert_eq!(done["state"], "done");
    assert_eq!(done["pages_fetched"], 5);
    assert_eq!(done["pages_failed"], 3);
    assert_eq!(done["skipped_files"], 1);
    assert!(
        done["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["error"] == "refused: the address 169.254.169.254 is link-local")
    );
    assert_eq!(stored(&app).await.documents.len(), 6);
    let actors = version_actors(&app).await;
    assert_eq!(actors.len(), before + 2);
    assert!(actors[0].starts_with("api_key:"));
    assert_eq!(done["version"], json!(before as i64 + 2));

    // A lead's question is answered from the imported services page.
    assert_eq!(
        owner.post_form("/app/sandbox/create", &[]).await.status(),
        303
    );
    let r = owner
        .post_form(
            "/app/sandbox/send",
            &[
                ("lead", LEAD),
                ("body", "Do you repair tankless water heaters?"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    drive(&app, open_window(LEAD)).await;
    let account = account_of(&app, OWNER).await;
    let conv = app
        .db
        .store
        .list_conversations(account, false, false, 10)
        .await
        .unwrap()
        .remove(0);
    let msgs = app.db.store.messages(account, conv.id).await.unwrap();
    let reply = msgs
        .iter()
        .find(|m| m.direction == Direction::Outbound)
        .expect("the assistant answered");
    assert!(
        reply.body.contains("tankless water heaters of every brand"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn the_strict_default_refuses_loopback_and_bad_addresses() {
    let site = website(Arc::new(Hits::default())).await;
    // No allowance: the product's policy.
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme Plumbing", OWNER).await;
    let api = Api::new(&app, &api_key(&owner, "ci", "admin").await);

    let (status, body) = api
        .send_json(
            Method::POST,
            "/assistant/knowledge/import",
            json!({ "url": format!("{site}/services") }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(body["error"]["fields"][0]["field"], "url");
    assert_eq!(
        body["error"]["fields"][0]["message"],
        "Refused: the address 127.0.0.1 is loopback."
    );
    for url in [
        "ftp://example.com/",
        "http://10.0.0.5/",
        "http://[::ffff:169.254.169.254]/",
    ] {
        let (status, body) = api
            .send_json(
                Method::POST,
                "/assistant/knowledge/import",
                json!({ "url": url }),
            )
            .await;
        assert_eq!(status, 422, "{url}: {body}");
    }
    let (status, _) = api
        .send_json(Method::POST, "/assistant/knowledge/import", json!({}))
        .await;
    assert!((400..500).contains(&status));
    let (status, _) = api.get_json("/assistant/knowledge/import/nope").await;
    assert_eq!(status, 404);
    let agent = Api::new(&app, &api_key(&owner, "agent", "agent").await);
    let (status, _) = agent
        .send_json(
            Method::POST,
            "/assistant/knowledge/import",
            json!({ "url": "https://example.com" }),
        )
        .await;
    assert_eq!(status, 403);

    // The dashboard shows the refusal next to the field and keeps what was typed.
    let typed = format!("{site}/about");
    let r = owner
        .post_form("/app/assistant/knowledge/import", &[("import_url", &typed)])
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"f-import_url-error\""), "{html}");
    assert!(html.contains("Refused: the address 127.0.0.1 is loopback."));
    assert!(html.contains(&format!("value=\"{typed}\"")));
    assert!(stored(&app).await.documents.is_empty());
}

#[tokio::test]
async fn only_those_who_edit_the_assistant_may_import_one_at_a_time() {
    let app = app_reaching_loopback().await;
    let owner = app.signed_up("Acme Plumbing", OWNER).await;
    let viewer = member(&app, &owner, "vic@example.com", "Vic Viewer", "viewer").await;
    let agent = member(&app, &owner, "ann@example.com", "Ann Agent", "agent").await;
    for b in [&viewer, &agent] {
        let page = b.get_text("/app/assistant/knowledge").await;
        assert!(!page.contains("Import from your website"));
        let r = b
            .post_form(
                "/app/assistant/knowledge/import",
                &[("import_url", "https://example.com")],
            )
            .await;
        assert_eq!(r.status(), 403);
    }
    // Another account cannot see an import's progress.
    let site = website(Arc::new(Hits::default())).await;
    let r = owner
        .post_form("/app/assistant/knowledge/import", &[("import_url", &site)])
        .await;
    assert_eq!(r.status(), 303);
    let status_page = location(&r);
    // One import at a time per account (the slow page keeps this one busy for a second).
    let r = owner
        .post_form("/app/assistant/knowledge/import", &[("import_url", &site)])
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already running"));
    wait_for_page(&owner, &status_page).await;
    let stranger = app.signed_up("Other Co", "olga@example.com").await;
    assert_eq!(stranger.get(&status_page).await.status(), 404);
    assert_eq!(
        stranger
            .get(&format!("{status_page}/progress"))
            .await
            .status(),
        404
    );
}
