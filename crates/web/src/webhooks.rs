//! Provider webhooks: `POST /webhooks/{provider}/{token}`. The token routes the request to its
//! channel, the provider's signature (over the exact public URL and raw body) proves who sent
//! it, and the pipeline stores the event before we answer, so a 2xx always means "durably
//! stored" and anything else makes the provider retry.
//!
//! Mounted outside the dashboard router: providers carry no CSRF token, their signature is the
//! check. Nothing is stored for a request whose signature fails.

use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jiff::Timestamp;
use leadline_providers::messaging::{ProviderKind, WebhookRequest, webhooks_for};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/{provider}/{token}", post(receive))
}

fn provider_kind(raw: &str) -> Option<ProviderKind> {
    Some(match raw {
        "twilio" => ProviderKind::Twilio,
        "linq" => ProviderKind::Linq,
        "blooio" => ProviderKind::Blooio,
        _ => return None,
    })
}

/// A short plain-text answer; providers only look at the status.
fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

async fn receive(
    State(state): State<AppState>,
    Path((provider, token)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let not_found = || plain(StatusCode::NOT_FOUND, "unknown webhook\n");
    let Some(kind) = provider_kind(&provider) else {
        return not_found();
    };
    let Some(hooks) = webhooks_for(kind) else {
        return not_found();
    };
    let channel = match state
        .store
        .find_channel_by_webhook_token(kind.as_str(), &token)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "webhook: channel lookup failed");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "try again\n");
        }
    };
    // The provider signed the URL it was configured with: our public origin, path and query.
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.path());
    let Ok(public_url) = url::Url::parse(&state.config.link(path_and_query)) else {
        return not_found();
    };
    let request = WebhookRequest::new(method, public_url, headers, body);
    let secret = match state.engine.providers().webhook_secret(&channel).await {
        Ok(s) => s,
        Err(e) => {
            // Without the channel's secret nothing can be verified; the provider retries while
            // an operator fixes the credentials (or the master key).
            tracing::error!(channel = %channel.id, error = %e, "webhook: cannot read the channel's signing secret");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "try again\n");
        }
    };
    if let Err(e) = hooks.verify(&request, &secret) {
        tracing::warn!(channel = %channel.id, provider = %kind, error = %e, "webhook refused: bad signature");
        return plain(StatusCode::FORBIDDEN, "invalid signature\n");
    }
    let event = match hooks.parse(&request) {
        Ok(ev) => ev,
        Err(e) => {
            tracing::warn!(channel = %channel.id, provider = %kind, error = %e, "webhook refused: unreadable");
            return plain(StatusCode::BAD_REQUEST, "unreadable webhook\n");
        }
    };
    let reply = hooks.reply(&event);
    match state
        .engine
        .handle_inbound(&channel, event, Timestamp::now())
        .await
    {
        Ok(result) => {
            tracing::info!(channel = %channel.id, provider = %kind, result = ?result, "webhook handled");
        }
        Err(e) => {
            tracing::error!(channel = %channel.id, provider = %kind, error = %format!("{e:#}"), "webhook: the pipeline failed; the provider will retry");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "try again\n");
        }
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    match reply.content_type {
        Some(ct) => (status, [(CONTENT_TYPE, ct)], reply.body).into_response(),
        None => (status, reply.body).into_response(),
    }
}
