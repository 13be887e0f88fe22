//! `/api/v1/notifications`: the account's notification settings (quiet period before a
//! conversation is summarized, the hand-off webhook), its webhook signing secret, and recent
//! deliveries. Members' own email choices are set in the dashboard: API keys are not people.

use super::{ErrorBody, body, rfc3339};
use crate::auth::ApiCtx;
use crate::error::AppError;
use crate::notifications;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use leadline_domain::Role;
use leadline_engine::summaries;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct NotificationSettingsDto {
    /// Minutes without a message before a conversation is summarized (5 to 1440).
    quiet_minutes: u32,
    /// Where `conversation.handed_off` events are POSTed; null for none.
    webhook_url: Option<String>,
    /// The signing secret, masked (`••••1234`); never returned in full after it was created.
    webhook_secret: Option<String>,
    /// Only when this request generated the secret (a webhook URL was set and there was none):
    /// shown this once.
    new_webhook_secret: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct NotificationSettingsInput {
    quiet_minutes: u32,
    /// https only, to a public host; empty or null for none.
    #[serde(default)]
    webhook_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookSecretCreated {
    /// Shown once; HMAC-SHA256 key for `Leadline-Signature: t=<unix>,v1=<hex of HMAC("{t}.{body}")>`.
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryDto {
    id: String,
    notification_id: String,
    /// email or webhook
    channel: String,
    /// The email address or webhook URL.
    target: String,
    /// pending, delivered or failed
    status: String,
    attempts: i32,
    last_error: Option<String>,
    created_at: String,
    delivered_at: Option<String>,
}

async fn view(
    state: &AppState,
    ctx: &ApiCtx,
    new_secret: Option<String>,
) -> Result<NotificationSettingsDto, AppError> {
    let settings = summaries::notification_settings(state.store.as_ref(), ctx.account_id())
        .await
        .map_err(AppError::internal)?;
    Ok(NotificationSettingsDto {
        quiet_minutes: settings.quiet_minutes,
        webhook_url: settings.webhook_url,
        webhook_secret: notifications::masked_secret(state, ctx.account_id()).await?,
        new_webhook_secret: new_secret,
    })
}

#[utoipa::path(get, path = "/api/v1/notifications/settings", tag = "notifications",
    responses((status = 200, body = NotificationSettingsDto), (status = 401, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<NotificationSettingsDto>, AppError> {
    Ok(Json(view(&state, &ctx, None).await?))
}

#[utoipa::path(put, path = "/api/v1/notifications/settings", tag = "notifications", request_body = NotificationSettingsInput,
    responses((status = 200, body = NotificationSettingsDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<NotificationSettingsInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<NotificationSettingsDto>, AppError> {
    ctx.require(Role::Admin)?;
    let input = body(b)?;
    let secret = notifications::save_settings(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        &input.quiet_minutes.to_string(),
        input.webhook_url.as_deref().unwrap_or_default(),
    )
    .await?;
    Ok(Json(view(&state, &ctx, secret).await?))
}

#[utoipa::path(post, path = "/api/v1/notifications/webhook-secret", tag = "notifications",
    responses((status = 201, description = "A new signing secret; the previous one stops working", body = WebhookSecretCreated), (status = 403, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<(axum::http::StatusCode, Json<WebhookSecretCreated>), AppError> {
    let secret =
        notifications::rotate_secret(&state, ctx.account_id(), ctx.role(), &ctx.actor()).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(WebhookSecretCreated { secret }),
    ))
}

#[utoipa::path(get, path = "/api/v1/notifications/deliveries", tag = "notifications",
    responses((status = 200, description = "The 50 latest deliveries, newest first", body = Vec<DeliveryDto>), (status = 403, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<Vec<DeliveryDto>>, AppError> {
    ctx.require(Role::Admin)?;
    let rows = state.store.recent_deliveries(ctx.account_id(), 50).await?;
    Ok(Json(
        rows.into_iter()
            .map(|d| DeliveryDto {
                id: d.id.to_string(),
                notification_id: d.notification_id.to_string(),
                channel: d.channel.as_str().into(),
                target: d.target,
                status: d.status.as_str().into(),
                attempts: d.attempts,
                last_error: d.last_error,
                created_at: rfc3339(d.created_at),
                delivered_at: d.delivered_at.map(rfc3339),
            })
            .collect(),
    ))
}
