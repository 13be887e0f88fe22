//! Leads over the API: the same operations as the dashboard's Leads pages, and CSV import.

use super::{ErrorBody, body, parse_id, rfc3339};
use crate::auth::ApiCtx;
use crate::error::AppError;
use crate::services::{self, ImportField, ImportReport, LeadFields};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use leadline_domain::ids::LeadId;
use leadline_store::Lead;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct LeadDto {
    id: String,
    /// E.164, e.g. +15125550123
    phone: String,
    name: String,
    email: Option<String>,
    /// Two-letter US state code.
    state: Option<String>,
    /// IANA zone; absent when the number's area code decides.
    time_zone: Option<String>,
    /// new, contacted, replied, qualified, booked or closed
    stage: String,
    tags: Vec<String>,
    /// The number opted out or is suppressed: it is never texted.
    opted_out: bool,
    created_at: String,
    updated_at: String,
}

async fn lead_dto(state: &AppState, l: Lead) -> Result<LeadDto, AppError> {
    let opted_out = services::lead_blocked(state, l.account_id, &l.phone).await?;
    Ok(to_dto(l, opted_out))
}

fn to_dto(l: Lead, opted_out: bool) -> LeadDto {
    LeadDto {
        opted_out,
        id: l.id.to_string(),
        phone: l.phone.to_string(),
        name: l.name,
        email: l.email.filter(|e| !e.is_empty()),
        state: l.state.filter(|s| !s.is_empty()),
        time_zone: l.time_zone.filter(|z| !z.is_empty()),
        stage: l.stage,
        tags: l.tags,
        created_at: rfc3339(l.created_at),
        updated_at: rfc3339(l.updated_at),
    }
}

#[derive(Serialize, ToSchema)]
pub struct LeadPage {
    leads: Vec<LeadDto>,
    /// Pass as `offset` for the next page; absent on the last page.
    next_offset: Option<u32>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LeadQuery {
    /// Matches name, phone or email (case-insensitive substring).
    q: Option<String>,
    /// Only leads at this stage: new, contacted, replied, qualified, booked or closed.
    stage: Option<String>,
    /// Only leads carrying exactly this tag.
    tag: Option<String>,
    /// `created` (default), `updated`, `name` or `score`.
    sort: Option<String>,
    /// `asc` or `desc`; by default names ascend and the rest descend.
    dir: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
    /// How many leads to skip, default 0.
    offset: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/leads", tag = "leads", params(LeadQuery),
    responses((status = 200, body = LeadPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn list_leads(
    State(state): State<AppState>,
    ctx: ApiCtx,
    q: Result<Query<LeadQuery>, QueryRejection>,
) -> Result<Json<LeadPage>, AppError> {
    let Query(q) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 200"));
    }
    let offset = q.offset.unwrap_or(0);
    let params = services::LeadListParams {
        q: q.q,
        stage: q.stage,
        tag: q.tag,
        sort: q.sort,
        dir: q.dir,
    };
    let mut leads =
        services::list_leads(&state, ctx.account_id(), &params.query(limit + 1, offset)?).await?;
    let more = leads.len() > limit as usize;
    leads.truncate(limit as usize);
    let blocked = services::blocked_leads(&state, ctx.account_id(), &leads).await?;
    let out = leads
        .into_iter()
        .map(|l| {
            let opted_out = blocked.contains(&l.id);
            to_dto(l, opted_out)
        })
        .collect();
    Ok(Json(LeadPage {
        leads: out,
        next_offset: more.then_some(offset + limit),
    }))
}

/// A lead's fields. Absent fields keep their stored values.
#[derive(Deserialize, ToSchema)]
pub struct LeadInputDto {
    /// Required when creating; ignored when updating. Loose US formats are accepted.
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// Two-letter US state code.
    #[serde(default)]
    state: Option<String>,
    /// IANA zone, e.g. America/Chicago.
    #[serde(default)]
    time_zone: Option<String>,
    /// Replaces the lead's tags when given and not empty.
    #[serde(default)]
    tags: Option<Vec<String>>,
    /// new, contacted, replied, qualified, booked or closed
    #[serde(default)]
    stage: Option<String>,
}

fn fields(dto: &LeadInputDto) -> LeadFields {
    LeadFields {
        name: dto.name.clone(),
        email: dto.email.clone(),
        state: dto.state.clone(),
        time_zone: dto.time_zone.clone(),
        tags: dto
            .tags
            .as_ref()
            .map(|t| services::split_tags(&t.join(","))),
        stage: dto.stage.clone(),
    }
}

#[utoipa::path(post, path = "/api/v1/leads", tag = "leads", request_body = LeadInputDto,
    responses((status = 201, description = "Created", body = LeadDto), (status = 200, description = "A lead with this phone existed and was updated", body = LeadDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_lead(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<LeadInputDto>, JsonRejection>,
) -> Result<(StatusCode, Json<LeadDto>), AppError> {
    let dto = body(b)?;
    let (lead, created) = services::create_lead(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        dto.phone.as_deref().unwrap_or_default(),
        &fields(&dto),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(lead_dto(&state, lead).await?)))
}

#[utoipa::path(get, path = "/api/v1/leads/{id}", tag = "leads",
    params(("id" = String, Path, description = "The lead's id")),
    responses((status = 200, body = LeadDto), (status = 404, body = ErrorBody)))]
pub(super) async fn get_lead(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
) -> Result<Json<LeadDto>, AppError> {
    let id: LeadId = parse_id(&id)?;
    let lead = state.store.get_lead(ctx.account_id(), id).await?;
    Ok(Json(lead_dto(&state, lead).await?))
}

#[utoipa::path(patch, path = "/api/v1/leads/{id}", tag = "leads", request_body = LeadInputDto,
    params(("id" = String, Path, description = "The lead's id")),
    responses((status = 200, body = LeadDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn patch_lead(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
    b: Result<Json<LeadInputDto>, JsonRejection>,
) -> Result<Json<LeadDto>, AppError> {
    let id: LeadId = parse_id(&id)?;
    // Another tenant's id is a 404 before anything else is looked at.
    state.store.get_lead(ctx.account_id(), id).await?;
    let dto = body(b)?;
    let lead = services::update_lead(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        id,
        &fields(&dto),
    )
    .await?;
    Ok(Json(lead_dto(&state, lead).await?))
}

#[utoipa::path(delete, path = "/api/v1/leads/{id}", tag = "leads",
    params(("id" = String, Path, description = "The lead's id")),
    responses((status = 204, description = "Deleted with its conversations and messages"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_lead(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id: LeadId = parse_id(&id)?;
    services::delete_lead(&state, ctx.account_id(), ctx.role(), &ctx.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// What each column holds, in order, comma-separated: phone, name, email, state, time_zone,
    /// tags, consent or ignore (e.g. `phone,name,ignore,consent`). Absent: guessed from the
    /// header row.
    mapping: Option<String>,
    /// Recorded with consent events and in the audit log. Default `api.csv`.
    file_name: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/leads/import", tag = "leads", params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "CSV whose first row names the columns. At most 16 MB and 100,000 rows."),
    responses((status = 200, body = ImportReport), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn import_leads(
    State(state): State<AppState>,
    ctx: ApiCtx,
    q: Result<Query<ImportQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<String, axum::extract::rejection::StringRejection>,
) -> Result<Json<ImportReport>, AppError> {
    let Query(q) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("text/csv") && !content_type.starts_with("text/plain") {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the file as the body with 'Content-Type: text/csv'.",
        ));
    }
    let data = body.map_err(|e| {
        use axum::extract::rejection::StringRejection::*;
        match e {
            InvalidUtf8(_) => AppError::field("file", "must be UTF-8 text"),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "The file is larger than 16 MB; split it into smaller files.",
            ),
            other => AppError::bad_request(other.body_text()),
        }
    })?;
    let mapping = match q.mapping.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(raw) => Some(
            raw.split(',')
                .map(|f| {
                    ImportField::parse(f).ok_or_else(|| {
                        AppError::field(
                            "mapping",
                            format!(
                                "'{}' is not one of phone, name, email, state, time_zone, tags, consent, ignore",
                                f.trim()
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let file_name = q
        .file_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("api.csv");
    let report = services::import_leads(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        services::ImportFile {
            name: file_name,
            data: &data,
            mapping: mapping.as_deref(),
        },
        None,
    )
    .await?;
    Ok(Json(report))
}
