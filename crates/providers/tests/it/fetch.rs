//! The page fetcher against a small website on 127.0.0.1 (reachable only with the test-only
//! loopback allowance): pages and plain text arrive, and every limit turns into its typed error.

use axum::Router;
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::response::IntoResponse;
use axum::routing::get;
use leadline_providers::fetch::{FetchError, FetchPolicy, Fetcher, LINK_LOCAL, LOOPBACK, PageKind};
use std::time::Duration;
use url::Url;

async fn site() -> String {
    let app = Router::new()
        .route(
            "/",
            get(|| async { ([(CONTENT_TYPE, "text/html; charset=utf-8")], "<p>Hello</p>") }),
        )
        .route(
            "/notes.txt",
            get(|| async { ([(CONTENT_TYPE, "text/plain")], "Plain notes") }),
        )
        .route(
            "/big",
            get(|| async { ([(CONTENT_TYPE, "text/html")], "x".repeat(5000)) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                ([(CONTENT_TYPE, "text/html")], "late")
            }),
        )
        .route(
            "/doc.pdf",
            get(|| async { ([(CONTENT_TYPE, "application/pdf")], "%PDF-1.4") }),
        )
        .route(
            "/missing",
            get(|| async { axum::http::StatusCode::NOT_FOUND }),
        )
        .route("/moved", get(|| async { redirect("/") }))
        .route(
            "/metadata",
            get(|| async { redirect("http://169.254.169.254/latest/meta-data/") }),
        )
        .route("/loop", get(|| async { redirect("/loop") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn redirect(to: &'static str) -> impl IntoResponse {
    (axum::http::StatusCode::FOUND, [(LOCATION, to)])
}

fn loopback_fetcher() -> Fetcher {
    Fetcher::new(FetchPolicy {
        allow_loopback: true,
        max_body_bytes: 4096,
        page_timeout: Duration::from_millis(500),
        ..FetchPolicy::default()
    })
}

#[tokio::test]
async fn fetches_pages_and_enforces_every_limit() {
    let base = site().await;
    let f = loopback_fetcher();
    let get = |path: &str| {
        let url = Url::parse(&format!("{base}{path}")).unwrap();
        let f = f.clone();
        async move { f.fetch(&url).await }
    };

    let page = get("/").await.unwrap();
    assert_eq!(
        (page.kind, page.body.as_str()),
        (PageKind::Html, "<p>Hello</p>")
    );
    let notes = get("/notes.txt").await.unwrap();
    assert_eq!(notes.kind, PageKind::Plain);
    let moved = get("/moved").await.unwrap();
    assert_eq!(moved.url.path(), "/", "a redirect is followed and reported");

    assert_eq!(
        get("/big").await.unwrap_err(),
        FetchError::TooLarge { limit: 4096 }
    );
    assert!(matches!(
        get("/slow").await.unwrap_err(),
        FetchError::Timeout { .. }
    ));
    assert_eq!(
        get("/doc.pdf").await.unwrap_err(),
        FetchError::NotHtml("application/pdf".into())
    );
    assert_eq!(get("/missing").await.unwrap_err(), FetchError::Status(404));
    assert_eq!(
        get("/loop").await.unwrap_err(),
        FetchError::TooManyRedirects(5)
    );
    // The redirect's target is vetted like the first address, before any connection to it.
    let err = get("/metadata").await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::BlockedAddress {
                reason: LINK_LOCAL,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "refused: the address 169.254.169.254 is link-local"
    );
}

#[tokio::test]
async fn the_default_policy_refuses_the_same_site_on_loopback() {
    let base = site().await;
    let err = Fetcher::default()
        .fetch(&Url::parse(&base).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::BlockedAddress {
                reason: LOOPBACK,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("refused: the address 127.0.0.1 is loopback")
    );
}

/// A server that streams 64 KiB with no Content-Length, so the size limit can only be enforced
/// while reading.
async fn endless_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 2048];
                let _ = socket.read(&mut request).await;
                let head =
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..64 {
                    if socket.write_all(&[b'x'; 1024]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn the_size_limit_holds_without_a_content_length_and_names_resolve_to_vetted_addresses() {
    let f = loopback_fetcher();
    let endless = Url::parse(&endless_server().await).unwrap();
    assert_eq!(
        f.fetch(&endless).await.unwrap_err(),
        FetchError::TooLarge { limit: 4096 }
    );
    // A host name is resolved, vetted and pinned: the fetch reaches the site through it.
    let base = site().await;
    let by_name = Url::parse(&base.replace("127.0.0.1", "localhost")).unwrap();
    let page = f.fetch(&by_name).await.unwrap();
    assert_eq!(page.body, "<p>Hello</p>");
}
