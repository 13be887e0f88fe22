//! `/api/v1/compliance/settings`: the account's own quiet hours and explicit relaxations.

use super::{ErrorBody, body};
use crate::auth::ApiCtx;
use crate::error::AppError;
use crate::services::{self, ComplianceSettingsInput, ComplianceSettingsView};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;

#[utoipa::path(get, path = "/api/v1/compliance/settings", tag = "compliance",
    responses((status = 200, body = ComplianceSettingsView), (status = 401, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<ComplianceSettingsView>, AppError> {
    Ok(Json(
        services::compliance_settings(&state, ctx.account_id()).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/compliance/settings", tag = "compliance", request_body = ComplianceSettingsInput,
    responses((status = 200, body = ComplianceSettingsView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<ComplianceSettingsInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ComplianceSettingsView>, AppError> {
    let input = body(b)?;
    Ok(Json(
        services::update_compliance_settings(
            &state,
            ctx.account_id(),
            ctx.role(),
            &ctx.actor(),
            &input,
        )
        .await?,
    ))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SuppressionList {
    /// Numbers the account must never text (E.164).
    pub phones: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/compliance/suppressions", tag = "compliance",
    responses((status = 200, body = SuppressionList), (status = 401, body = ErrorBody)))]
pub async fn list_suppressions(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<SuppressionList>, AppError> {
    let phones = state
        .store
        .suppression_list(ctx.account_id())
        .await?
        .into_iter()
        .map(String::from)
        .collect();
    Ok(Json(SuppressionList { phones }))
}

#[utoipa::path(post, path = "/api/v1/compliance/suppressions", tag = "compliance", request_body = services::SuppressionInput,
    responses((status = 200, body = SuppressionList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_suppression(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<services::SuppressionInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SuppressionList>, AppError> {
    let input = body(b)?;
    services::set_suppression(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        &input,
        true,
    )
    .await?;
    list_suppressions(State(state), ctx).await
}

#[utoipa::path(post, path = "/api/v1/compliance/suppressions/remove", tag = "compliance", request_body = services::SuppressionInput,
    responses((status = 200, body = SuppressionList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn remove_suppression(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<services::SuppressionInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SuppressionList>, AppError> {
    let input = body(b)?;
    services::set_suppression(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        &input,
        false,
    )
    .await?;
    list_suppressions(State(state), ctx).await
}
