//! Static assets, embedded in the binary so an install needs nothing beside it and pages load
//! nothing from elsewhere.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

const APP_CSS: &str = include_str!("../assets/app.css");
const POLL_JS: &str = include_str!("../assets/poll.js");

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/static/app.css", get(css))
        .route("/static/poll.js", get(poll_js))
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
