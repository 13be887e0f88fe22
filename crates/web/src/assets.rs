//! Static assets, embedded in the binary so an install needs nothing beside it and pages load
//! nothing from elsewhere.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

const APP_CSS: &str = include_str!("../assets/app.css");
const POLL_JS: &str = include_str!("../assets/poll.js");
const SEGMENTS_JS: &str = include_str!("../assets/segments.js");
const COPY_JS: &str = include_str!("../assets/copy.js");

/// The counter script with the GSM-7 tables the server counts with, as JSON strings.
static SEGMENTS_WITH_TABLES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use leadline_domain::compliance::segments::{GSM_BASIC, GSM_EXTENSION};
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    format!(
        "var GSM_BASIC = {};\nvar GSM_EXTENSION = {};\n{SEGMENTS_JS}",
        quoted(GSM_BASIC),
        quoted(GSM_EXTENSION)
    )
});

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/static/app.css", get(css))
        .route("/static/poll.js", get(poll_js))
        .route("/static/segments.js", get(segments_js))
        .route("/static/copy.js", get(copy_js))
}

async fn css() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_CSS,
    )
}

async fn poll_js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        POLL_JS,
    )
}

async fn segments_js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        SEGMENTS_WITH_TABLES.as_str(),
    )
}

async fn copy_js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        COPY_JS,
    )
}
