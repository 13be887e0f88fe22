//! The JSON API under `/api/v1`, authenticated by API key. Every operation is described in the
//! OpenAPI document served at `/api/v1/openapi.json` (committed as `openapi.json` at the
//! repository root; a test fails if they drift).

use crate::auth::ApiCtx;
use crate::error::AppError;
use crate::services::{self, ApiKeyInput, InviteInput};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use jiff::Timestamp;
use leadline_domain::account::ProfileInput;
use leadline_domain::{ApiKeyId, BusinessProfile, InvitationId, Role, UserId};
use leadline_store::{ApiKey, AuditEntry, Invitation, Member};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

mod analytics;
mod assistant;
mod compliance;
mod leads;
mod messaging;
mod notifications;

use messaging::{
    create_channel, get_conversation, hand_back, list_channels, list_conversations, send_message,
    take_over,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/profile", get(get_profile).put(put_profile))
        .route("/users", get(list_users))
        .route("/users/{user_id}", patch(patch_user).delete(delete_user))
        .route(
            "/invitations",
            get(list_invitations).post(create_invitation),
        )
        .route("/invitations/{id}", delete(revoke_invitation))
        .route("/api-keys", get(list_api_keys).post(create_api_key))
        .route("/api-keys/{id}", delete(revoke_api_key))
        .route("/audit", get(list_audit))
        .route(
            "/compliance/settings",
            get(compliance::get_settings).put(compliance::put_settings),
        )
        .route(
            "/compliance/consent-text",
            get(compliance::get_consent_text).put(compliance::put_consent_text),
        )
        .route(
            "/compliance/suppressions",
            get(compliance::list_suppressions).post(compliance::add_suppression),
        )
        .route(
            "/compliance/suppressions/remove",
            post(compliance::remove_suppression),
        )
        .route("/analytics", get(analytics::get_analytics))
        .route(
            "/assistant",
            get(assistant::get_assistant).put(assistant::put_assistant),
        )
        .route("/assistant/versions", get(assistant::list_versions))
        .route("/assistant/versions/{version}", get(assistant::get_version))
        .route("/assistant/knowledge/import", post(assistant::start_import))
        .route(
            "/assistant/knowledge/import/{id}",
            get(assistant::get_import),
        )
        .route("/channels", get(list_channels).post(create_channel))
        .route("/conversations", get(list_conversations))
        .route("/conversations/{id}", get(get_conversation))
        .route("/conversations/{id}/messages", post(send_message))
        .route("/conversations/{id}/takeover", post(take_over))
        .route("/conversations/{id}/handback", post(hand_back))
        .route(
            "/notifications/settings",
            get(notifications::get_settings).put(notifications::put_settings),
        )
        .route(
            "/notifications/webhook-secret",
            post(notifications::rotate_secret),
        )
        .route(
            "/notifications/deliveries",
            get(notifications::list_deliveries),
        )
        .route("/leads", get(leads::list_leads).post(leads::create_lead))
        .route(
            "/leads/import",
            post(leads::import_leads).layer(axum::extract::DefaultBodyLimit::max(
                services::IMPORT_MAX_BYTES + 65_536,
            )),
        )
        .route(
            "/leads/{id}",
            get(leads::get_lead)
                .patch(leads::patch_lead)
                .delete(leads::delete_lead),
        )
        .fallback(|| async { AppError::not_found() })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "leadline API", version = "1", description = "Manage a leadline account: business profile, team, invitations, API keys, the audit log, messaging channels, conversations and leads (with CSV import). Authenticate with `Authorization: Bearer <API key>`. Errors are `{\"error\": {\"code\", \"message\", \"fields\"?}}`."),
    paths(get_profile, put_profile, list_users, patch_user, delete_user, list_invitations, create_invitation, revoke_invitation, list_api_keys, create_api_key, revoke_api_key, list_audit, messaging::list_channels, messaging::create_channel, messaging::list_conversations, messaging::get_conversation, messaging::send_message, messaging::take_over, messaging::hand_back, leads::list_leads, leads::create_lead, leads::import_leads, leads::get_lead, leads::patch_lead, leads::delete_lead, compliance::get_settings, compliance::put_settings, compliance::get_consent_text, compliance::put_consent_text, compliance::list_suppressions, compliance::add_suppression, compliance::remove_suppression, analytics::get_analytics, assistant::get_assistant, assistant::put_assistant, assistant::list_versions, assistant::get_version, assistant::start_import, assistant::get_import, notifications::get_settings, notifications::put_settings, notifications::rotate_secret, notifications::list_deliveries),
    components(schemas(ErrorBody, ErrorDetail, FieldErrorDto, Profile, ProfileInputDto, MemberDto, RolePatch, InviteInput, InvitationDto, InvitationCreated, ApiKeyInput, ApiKeyDto, ApiKeyCreated, AuditEntryDto, AuditPage, messaging::ChannelDto, messaging::ChannelCreate, messaging::LeadRef, messaging::ConversationDto, messaging::SummaryDto, messaging::ConversationDetail, messaging::MessageDto, messaging::ReplyInput, leads::LeadDto, leads::LeadPage, leads::LeadInputDto, services::ImportReport, services::ImportRowError, services::ComplianceSettingsView, services::ComplianceSettingsInput, services::RelaxationInfo, services::SuppressionInput, compliance::SuppressionList, compliance::ConsentTextDocument, compliance::ConsentTextPut, analytics::AnalyticsDto, analytics::FunnelDto, analytics::AnalyticsDay, assistant::AssistantDocument, assistant::AssistantPut, assistant::AssistantVersionDto, assistant::AssistantVersionList, assistant::KnowledgeImportInput, assistant::KnowledgeImportStarted, assistant::KnowledgeImportStatus, assistant::ImportedPageDto, assistant::PageErrorDto, notifications::NotificationSettingsDto, notifications::NotificationSettingsInput, notifications::WebhookSecretCreated, notifications::DeliveryDto)),
    modifiers(&BearerAuth),
    security(("api_key" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document as pretty JSON (what is committed to the repository).
pub fn openapi_document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

async fn openapi_json() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
}

fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

/// The version an `If-Match` header names: `"3"`, `W/"3"` or `3`.
fn if_match(headers: &axum::http::HeaderMap) -> Result<Option<i64>, AppError> {
    let Some(raw) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| AppError::bad_request("If-Match must name a version, e.g. \"3\"."))
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `validation_failed`, `not_found`, `forbidden`.
    code: String,
    /// A sentence for people.
    message: String,
    fields: Option<Vec<FieldErrorDto>>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldErrorDto {
    field: String,
    message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Profile {
    business_name: String,
    agent_name: String,
    /// E.164, e.g. +15125550123
    phone: Option<String>,
    website: Option<String>,
    industry: String,
    description: String,
    products_services: String,
    unique_selling_points: String,
    license_numbers: String,
    licensed_states: Vec<String>,
    status: String,
}

fn profile_dto(p: BusinessProfile, status: String) -> Profile {
    Profile {
        business_name: p.business_name,
        agent_name: p.agent_name,
        phone: p.phone.map(|p| p.to_string()),
        website: p.website,
        industry: p.industry,
        description: p.description,
        products_services: p.products_services,
        unique_selling_points: p.unique_selling_points,
        license_numbers: p.license_numbers,
        licensed_states: p.licensed_states,
        status,
    }
}

/// The profile to store. Missing optional fields are cleared.
#[derive(Deserialize, ToSchema)]
pub struct ProfileInputDto {
    business_name: String,
    #[serde(default)]
    agent_name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    website: Option<String>,
    #[serde(default)]
    industry: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    products_services: String,
    #[serde(default)]
    unique_selling_points: String,
    #[serde(default)]
    license_numbers: String,
    #[serde(default)]
    licensed_states: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/profile", tag = "profile", responses((status = 200, body = Profile), (status = 401, body = ErrorBody)))]
async fn get_profile(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<Profile>, AppError> {
    let account = state.store.get_account(ctx.account_id()).await?;
    Ok(Json(profile_dto(
        account.profile,
        account.status.to_string(),
    )))
}

#[utoipa::path(put, path = "/api/v1/profile", tag = "profile", request_body = ProfileInputDto,
    responses((status = 200, body = Profile), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_profile(
    State(state): State<AppState>,
    ctx: ApiCtx,
    body: Result<Json<ProfileInputDto>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Profile>, AppError> {
    ctx.require(Role::Admin)?;
    let Json(dto) = body.map_err(json_error)?;
    let input = ProfileInput {
        business_name: dto.business_name,
        agent_name: dto.agent_name,
        phone: dto.phone.unwrap_or_default(),
        website: dto.website.unwrap_or_default(),
        industry: dto.industry,
        description: dto.description,
        products_services: dto.products_services,
        unique_selling_points: dto.unique_selling_points,
        license_numbers: dto.license_numbers,
        licensed_states: dto.licensed_states.join(","),
    };
    let account = services::update_profile(&state, ctx.account_id(), &ctx.actor(), &input).await?;
    Ok(Json(profile_dto(
        account.profile,
        account.status.to_string(),
    )))
}

/// A malformed JSON body is a 400 (or 422 for the wrong shape) with the parser's explanation.
pub fn json_error(e: axum::extract::rejection::JsonRejection) -> AppError {
    use axum::extract::rejection::JsonRejection::*;
    match e {
        JsonDataError(e) => AppError::validation(
            format!("The request body has the wrong shape: {}", e.body_text()),
            Vec::new(),
        ),
        JsonSyntaxError(_) => AppError::bad_request("The request body is not valid JSON."),
        MissingJsonContentType(_) => {
            AppError::bad_request("Send the body as JSON with 'Content-Type: application/json'.")
        }
        other => AppError::bad_request(other.body_text()),
    }
}

fn body<T>(b: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, AppError> {
    b.map(|Json(v)| v).map_err(json_error)
}

#[derive(Serialize, ToSchema)]
pub struct MemberDto {
    user_id: String,
    name: String,
    email: String,
    role: String,
    joined_at: String,
}

fn member_dto(m: Member) -> MemberDto {
    MemberDto {
        user_id: m.user_id.to_string(),
        name: m.name,
        email: m.email.to_string(),
        role: m.role.to_string(),
        joined_at: rfc3339(m.joined_at),
    }
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = Vec<MemberDto>), (status = 401, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<Vec<MemberDto>>, AppError> {
    Ok(Json(
        state
            .store
            .members_of_account(ctx.account_id())
            .await?
            .into_iter()
            .map(member_dto)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct RolePatch {
    /// owner, admin, agent or viewer
    role: String,
}

fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, AppError> {
    raw.parse().map_err(|_| AppError::not_found())
}

#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", request_body = RolePatch,
    params(("user_id" = String, Path, description = "The member's user id")),
    responses((status = 200, body = MemberDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_user(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(user_id): Path<String>,
    b: Result<Json<RolePatch>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<MemberDto>, AppError> {
    let user: UserId = parse_id(&user_id)?;
    let patch = body(b)?;
    let role = services::parse_role(&patch.role)?;
    services::set_member_role(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        user,
        role,
    )
    .await?;
    let member = state
        .store
        .members_of_account(ctx.account_id())
        .await?
        .into_iter()
        .find(|m| m.user_id == user)
        .ok_or_else(AppError::not_found)?;
    Ok(Json(member_dto(member)))
}

#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "The member's user id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(user_id): Path<String>,
) -> Result<StatusCode, AppError> {
    services::remove_member(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        parse_id(&user_id)?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct InvitationDto {
    id: String,
    email: String,
    role: String,
    /// pending, accepted or revoked
    state: String,
    created_at: String,
    expires_at: String,
}

fn invitation_dto(i: Invitation) -> InvitationDto {
    let state = serde_json::to_value(i.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    InvitationDto {
        id: i.id.to_string(),
        email: i.email.to_string(),
        role: i.role.to_string(),
        state,
        created_at: rfc3339(i.created_at),
        expires_at: rfc3339(i.expires_at),
    }
}

#[derive(Serialize, ToSchema)]
pub struct InvitationCreated {
    invitation: InvitationDto,
    /// The link the invitee opens to join; it carries the one-time token.
    link: String,
    /// `sent` when emailed, `logged` when no mail server is configured.
    delivery: String,
}

#[utoipa::path(get, path = "/api/v1/invitations", tag = "invitations", responses((status = 200, body = Vec<InvitationDto>), (status = 401, body = ErrorBody)))]
async fn list_invitations(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<Vec<InvitationDto>>, AppError> {
    ctx.require(Role::Admin)?;
    Ok(Json(
        state
            .store
            .list_invitations(ctx.account_id())
            .await?
            .into_iter()
            .map(invitation_dto)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/invitations", tag = "invitations", request_body = InviteInput,
    responses((status = 201, body = InvitationCreated), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_invitation(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<InviteInput>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<InvitationCreated>), AppError> {
    let input = body(b)?;
    let account = state.store.get_account(ctx.account_id()).await?;
    let invited = services::invite(
        &state,
        &account,
        ctx.role(),
        &ctx.actor(),
        ctx.key.created_by,
        &input,
    )
    .await?;
    let delivery = if invited.delivery == crate::mail::Delivery::Sent {
        "sent"
    } else {
        "logged"
    };
    Ok((
        StatusCode::CREATED,
        Json(InvitationCreated {
            invitation: invitation_dto(invited.invitation),
            link: invited.link,
            delivery: delivery.into(),
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "invitations",
    params(("id" = String, Path, description = "Invitation id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id: InvitationId = parse_id(&id)?;
    services::revoke_invitation(&state, ctx.account_id(), ctx.role(), &ctx.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyDto {
    id: String,
    name: String,
    role: String,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    created_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

fn key_dto(k: ApiKey) -> ApiKeyDto {
    ApiKeyDto {
        id: k.id.to_string(),
        name: k.name,
        role: k.role.to_string(),
        prefix: k.prefix,
        created_at: rfc3339(k.created_at),
        last_used_at: k.last_used_at.map(rfc3339),
        revoked_at: k.revoked_at.map(rfc3339),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyCreated {
    api_key: ApiKeyDto,
    /// The full key. It is returned only here, once; only its hash is stored.
    key: String,
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", responses((status = 200, body = Vec<ApiKeyDto>), (status = 401, body = ErrorBody)))]
async fn list_api_keys(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<Vec<ApiKeyDto>>, AppError> {
    ctx.require(Role::Admin)?;
    Ok(Json(
        state
            .store
            .list_api_keys(ctx.account_id())
            .await?
            .into_iter()
            .map(key_dto)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = ApiKeyInput,
    responses((status = 201, body = ApiKeyCreated), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_api_key(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<ApiKeyInput>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), AppError> {
    let input = body(b)?;
    let (key, secret) = services::create_api_key(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        ctx.key.created_by,
        &input,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            api_key: key_dto(key),
            key: secret,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id: ApiKeyId = parse_id(&id)?;
    services::revoke_api_key(&state, ctx.account_id(), ctx.role(), &ctx.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryDto {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    #[schema(value_type = Object)]
    details: serde_json::Value,
    hash: String,
    prev_hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    entries: Vec<AuditEntryDto>,
    /// Pass as `before` to fetch older entries; absent on the last page.
    next_before: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Only entries with a sequence number below this.
    before: Option<i64>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    ctx: ApiCtx,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, AppError> {
    ctx.require(Role::Admin)?;
    let Query(q) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 200"));
    }
    let entries: Vec<AuditEntry> = state
        .store
        .list_audit(ctx.account_id(), q.before, limit)
        .await?;
    let next_before = if entries.len() == limit as usize {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    let entries = entries
        .into_iter()
        .map(|e| AuditEntryDto {
            seq: e.seq,
            at: rfc3339(e.at),
            actor: e.actor,
            action: e.action,
            details: e.details,
            hash: e.hash,
            prev_hash: e.prev_hash,
        })
        .collect();
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}
