//! The HTTP layer: the JSON API under `/api/v1`, the dashboard pages, sessions and CSRF, health
//! and metrics. Handlers parse input into domain types, call [`services`], and render; they never
//! touch SQL.

pub mod api;
pub mod assets;
pub mod auth;
pub mod consent_text;
pub mod csrf;
pub mod error;
pub mod knowledge_import;
pub mod mail;
pub mod messaging;
pub mod notifications;
pub mod oidc;
pub mod ops;
pub mod pages;
pub mod services;
pub mod state;
pub mod webhooks;

pub use error::AppError;
pub use state::{AppState, GoogleConfig, LoginLimits, WebConfig};

use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;

/// Builds the whole application router.
pub fn router(state: AppState) -> Router {
    let pages = pages::router(state.clone()).layer(axum::middleware::from_fn(csrf::protect));
    Router::new()
        .merge(pages)
        .nest("/api/v1", api::router())
        // Providers sign their webhooks instead of carrying a CSRF token.
        .merge(webhooks::router())
        .merge(ops::router())
        .merge(assets::router())
        .layer(axum::middleware::from_fn(ops::track_metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::security_headers,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting and finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
