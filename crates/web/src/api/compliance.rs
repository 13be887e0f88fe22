//! `/api/v1/compliance`: the account's own quiet hours and explicit relaxations (`settings`),
//! its consent text (`consent-text`, versioned like the assistant document), and its
//! do-not-contact list (`suppressions`).

use super::{ErrorBody, body, if_match, rfc3339};
use crate::auth::ApiCtx;
use crate::consent_text;
use crate::error::AppError;
use crate::services::{self, ComplianceSettingsInput, ComplianceSettingsView};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

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

/// The account's consent text: the disclosure its lead forms show when a lead agrees to be
/// texted. Each consent leadline records keeps its `version`, `sha256` and `text`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ConsentTextDocument {
    /// The text exactly as stored (line breaks as `\n`, no surrounding whitespace); null while
    /// none is set.
    text: Option<String>,
    /// The current version, counting up from 1 with each save; null while none is set. Send it
    /// back as `If-Match` (or `version`) to save on top of it.
    version: Option<i64>,
    /// SHA-256 of the text's UTF-8 bytes, lower-case hex.
    sha256: Option<String>,
    updated_at: Option<String>,
    /// Who saved it: `user:<id>` or `api_key:<id>`.
    updated_by: Option<String>,
    /// What the text may be missing that does not stop it being saved (the business's name,
    /// "not a condition of purchase", the template's placeholder), as sentences.
    warnings: Vec<String>,
}

/// A consent text to store as a new version.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ConsentTextPut {
    /// At most 1,000 characters; must say "text" or "SMS", give the STOP keyword and say that
    /// rates may apply. Every rule it breaks is one entry of the 422's `fields` (field `text`).
    #[serde(default)]
    text: String,
    /// Optimistic check: the version this text replaces (0 when none was set). When it is no
    /// longer the current one, nothing is saved and the answer is 409. `If-Match: "<version>"`
    /// works too.
    #[serde(default)]
    version: Option<i64>,
}

async fn consent_document(state: &AppState, ctx: &ApiCtx) -> Result<ConsentTextDocument, AppError> {
    let current = consent_text::current(state, ctx.account_id()).await?;
    let business = state
        .store
        .get_account(ctx.account_id())
        .await?
        .profile
        .business_name;
    Ok(match current {
        None => ConsentTextDocument {
            text: None,
            version: None,
            sha256: None,
            updated_at: None,
            updated_by: None,
            warnings: Vec::new(),
        },
        Some(c) => ConsentTextDocument {
            warnings: consent_text::warnings(&c.text, &business),
            sha256: Some(c.sha256()),
            version: Some(c.version),
            updated_at: Some(rfc3339(c.saved_at)),
            updated_by: Some(c.actor),
            text: Some(c.text),
        },
    })
}

#[utoipa::path(get, path = "/api/v1/compliance/consent-text", tag = "compliance",
    responses((status = 200, body = ConsentTextDocument), (status = 401, body = ErrorBody)))]
pub async fn get_consent_text(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<ConsentTextDocument>, AppError> {
    Ok(Json(consent_document(&state, &ctx).await?))
}

#[utoipa::path(put, path = "/api/v1/compliance/consent-text", tag = "compliance", request_body = ConsentTextPut,
    params(("If-Match" = Option<String>, Header, description = "The version the text replaces, e.g. \"3\" (\"0\" when none is set)")),
    responses((status = 200, body = ConsentTextDocument), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_consent_text(
    State(state): State<AppState>,
    ctx: ApiCtx,
    headers: HeaderMap,
    b: Result<Json<ConsentTextPut>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ConsentTextDocument>, AppError> {
    ctx.require(leadline_domain::Role::Admin)?;
    let input = body(b)?;
    let expected = if_match(&headers)?.or(input.version);
    consent_text::save(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        &input.text,
        expected,
    )
    .await?;
    Ok(Json(consent_document(&state, &ctx).await?))
}
