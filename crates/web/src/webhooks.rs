//! Provider webhooks: `POST /webhooks/{provider}/{token}`. The token routes the request to its
//! channel, the provider's signature (over the exact public URL and raw body) proves who sent
//! it, and the engine stores the event before we answer (as a group-committed job, or handled at
//! once when compliance must decide first), so a 2xx always means "durably stored" and anything
//! else makes the provider retry.
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
use leadline_store::Channel;
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    let route = match state.webhook_routes.get(&state, kind, &token, false).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => {
            // Without the channel (or its secret) nothing can be verified; the provider retries
            // while an operator fixes the database, the credentials or the master key.
            tracing::error!(provider = %kind, error = %format!("{e:#}"), "webhook: cannot route");
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
    let mut verified = hooks.verify(&request, &route.secret);
    if verified.is_err() && route.cached {
        // The subscriber may just have saved a new secret: check against a fresh copy once.
        if let Ok(Some(fresh)) = state.webhook_routes.get(&state, kind, &token, true).await {
            verified = hooks.verify(&request, &fresh.secret);
        }
    }
    let channel = route.channel;
    if let Err(e) = verified {
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
    match state.engine.accept(&channel, event, Timestamp::now()).await {
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

/// How long a routed token's channel and secret are reused. Short: a disabled or re-keyed channel
/// takes effect within seconds (and a signature that fails against a cached secret is checked
/// again against the stored one).
const ROUTE_TTL: Duration = Duration::from_secs(10);

/// Recently routed webhook tokens. Every webhook would otherwise read the channel and decrypt its
/// secret, two database reads on the hottest path.
type Routes = HashMap<(ProviderKind, String), (Instant, Channel, SecretString)>;

#[derive(Default)]
pub struct RouteCache {
    routes: Mutex<Routes>,
}

impl std::fmt::Debug for RouteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteCache")
    }
}

pub struct Route {
    pub channel: Channel,
    pub secret: SecretString,
    /// Whether this came from the cache rather than the database.
    pub cached: bool,
}

impl RouteCache {
    /// The channel behind `token` and its signing secret; `None` for an unknown token.
    async fn get(
        &self,
        state: &AppState,
        kind: ProviderKind,
        token: &str,
        refresh: bool,
    ) -> anyhow::Result<Option<Route>> {
        let key = (kind, token.to_owned());
        if !refresh
            && let Some((at, channel, secret)) = self.lock().get(&key).cloned()
            && at.elapsed() < ROUTE_TTL
        {
            return Ok(Some(Route {
                channel,
                secret,
                cached: true,
            }));
        }
        let Some(channel) = state
            .store
            .find_channel_by_webhook_token(kind.as_str(), token)
            .await?
        else {
            self.lock().remove(&key);
            return Ok(None);
        };
        let secret = state.engine.providers().webhook_secret(&channel).await?;
        let mut routes = self.lock();
        // Tokens are unguessable, so only real channels get here; still, stay bounded.
        if routes.len() >= 10_000 {
            routes.retain(|_, (at, _, _)| at.elapsed() < ROUTE_TTL);
        }
        routes.insert(key, (Instant::now(), channel.clone(), secret.clone()));
        Ok(Some(Route {
            channel,
            secret,
            cached: false,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Routes> {
        // A panic while holding the lock leaves a usable map: recover it.
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
}
