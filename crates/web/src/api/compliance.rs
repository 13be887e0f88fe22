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
