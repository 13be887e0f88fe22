//! `/api/v1/assistant`: the account's assistant settings as one document, and its versions. The
//! same load/validate/save path as the dashboard (`pages::assistant`), so both are audited and
//! versioned alike. Also the website import into the knowledge base (`knowledge_import`).

use super::{ErrorBody, body, if_match, rfc3339};
use crate::auth::ApiCtx;
use crate::error::AppError;
use crate::knowledge_import::{self, ImportState, ImportStatus};
use crate::pages::assistant::{self, VERSIONS_SHOWN};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use leadline_conversation::AssistantSettings;
use leadline_store::SettingVersion;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The assistant settings and the version they are.
#[derive(Serialize, ToSchema)]
pub struct AssistantDocument {
    /// The current version; absent while the defaults are in use.
    version: Option<i64>,
    updated_at: Option<String>,
    /// Who saved it: `user:<id>`, `api_key:<id>` or `system`.
    updated_by: Option<String>,
    /// The whole document: `instructions`, `personality` {assistant_name, tone, emoji, max_len},
    /// `formality`, `language`, `strategy` {goals, hand_off}, `guardrails`, `industry`, `schema`
    /// (an inline field list), `knowledge` [{q, a}], `documents` [{title, text, source_url}], `model`
    /// {engine, model, base_url, temperature, monthly_token_budget}. The model API key is not
    /// part of it.
    #[schema(value_type = Object)]
    settings: serde_json::Value,
}

/// A whole document to store as a new version.
#[derive(Deserialize, ToSchema)]
pub struct AssistantPut {
    /// Optimistic check: the version this document was based on. When it is no longer the
    /// current one, nothing is saved and the answer is 409. `If-Match: "<version>"` works too.
    #[serde(default)]
    version: Option<i64>,
    /// The document, in the shape `GET /api/v1/assistant` returns; omitted keys take defaults.
    #[schema(value_type = Object)]
    settings: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct AssistantVersionDto {
    version: i64,
    /// Who saved it: `user:<id>`, `api_key:<id>` or `system`.
    actor: String,
    created_at: String,
    /// The document as it was saved; only on the single-version route.
    #[schema(value_type = Option<Object>)]
    settings: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AssistantVersionList {
    /// Newest first, at most 50.
    versions: Vec<AssistantVersionDto>,
}

fn version_dto(
    v: SettingVersion,
    settings: Option<&AssistantSettings>,
) -> Result<AssistantVersionDto, AppError> {
    Ok(AssistantVersionDto {
        version: v.version,
        actor: v.actor,
        created_at: rfc3339(v.created_at),
        settings: settings
            .map(serde_json::to_value)
            .transpose()
            .map_err(AppError::internal)?,
    })
}

async fn document(state: &AppState, ctx: &ApiCtx) -> Result<AssistantDocument, AppError> {
    let loaded = assistant::load(state, ctx.account_id()).await?;
    if let Some(problem) = loaded.problem {
        return Err(AppError::internal(format!(
            "assistant settings unreadable: {problem}"
        )));
    }
    Ok(AssistantDocument {
        version: loaded.version.as_ref().map(|v| v.version),
        updated_at: loaded.version.as_ref().map(|v| rfc3339(v.created_at)),
        updated_by: loaded.version.map(|v| v.actor),
        settings: serde_json::to_value(&loaded.settings).map_err(AppError::internal)?,
    })
}

#[utoipa::path(get, path = "/api/v1/assistant", tag = "assistant",
    responses((status = 200, body = AssistantDocument), (status = 401, body = ErrorBody)))]
pub async fn get_assistant(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<AssistantDocument>, AppError> {
    Ok(Json(document(&state, &ctx).await?))
}

#[utoipa::path(put, path = "/api/v1/assistant", tag = "assistant", request_body = AssistantPut,
    params(("If-Match" = Option<String>, Header, description = "The version the document is based on, e.g. \"3\"")),
    responses((status = 200, body = AssistantDocument), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_assistant(
    State(state): State<AppState>,
    ctx: ApiCtx,
    headers: HeaderMap,
    b: Result<Json<AssistantPut>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<AssistantDocument>, AppError> {
    ctx.require(leadline_domain::Role::Admin)?;
    let input = body(b)?;
    let settings: AssistantSettings = serde_json::from_value(input.settings).map_err(|e| {
        AppError::field(
            "settings",
            format!("does not read as assistant settings: {e}"),
        )
    })?;
    let expected = if_match(&headers)?.or(input.version);
    assistant::save(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        &settings,
        serde_json::json!({ "section": "api" }),
        expected,
    )
    .await?;
    Ok(Json(document(&state, &ctx).await?))
}

#[utoipa::path(get, path = "/api/v1/assistant/versions", tag = "assistant",
    responses((status = 200, body = AssistantVersionList), (status = 401, body = ErrorBody)))]
pub async fn list_versions(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<AssistantVersionList>, AppError> {
    let versions = state
        .store
        .setting_versions(
            ctx.account_id(),
            leadline_conversation::ASSISTANT_SETTINGS,
            VERSIONS_SHOWN,
        )
        .await?
        .into_iter()
        .map(|v| version_dto(v, None))
        .collect::<Result<_, _>>()?;
    Ok(Json(AssistantVersionList { versions }))
}

#[utoipa::path(get, path = "/api/v1/assistant/versions/{version}", tag = "assistant",
    params(("version" = i64, Path, description = "A version number from the list")),
    responses((status = 200, body = AssistantVersionDto), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(number): Path<String>,
) -> Result<Json<AssistantVersionDto>, AppError> {
    // Anything that is not a version number is simply not found, like another tenant's.
    let number = number.parse::<i64>().map_err(|_| AppError::not_found())?;
    let (found, settings) = assistant::version(&state, ctx.account_id(), number).await?;
    Ok(Json(version_dto(found, Some(&settings))?))
}

/// A website to import into the knowledge base.
#[derive(Deserialize, ToSchema)]
pub struct KnowledgeImportInput {
    /// The start page, e.g. `https://example.com`; a bare host means https. Its same-origin
    /// links are followed (breadth-first, at most 20 pages, two links deep).
    url: String,
}

/// An import that was started.
#[derive(Serialize, ToSchema)]
pub struct KnowledgeImportStarted {
    id: String,
    /// Where its progress and result are: `GET` it until `state` is no longer `running`.
    status_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportedPageDto {
    url: String,
    title: String,
    /// Characters of text taken from the page.
    chars: usize,
}

#[derive(Serialize, ToSchema)]
pub struct PageErrorDto {
    url: String,
    /// A sentence, e.g. `refused: the address 10.0.0.5 is private`.
    error: String,
}

/// An import's progress, then its result.
#[derive(Serialize, ToSchema)]
pub struct KnowledgeImportStatus {
    id: String,
    url: String,
    /// `running`, `done` (pages saved, or none had text) or `failed` (nothing saved).
    state: &'static str,
    pages_fetched: usize,
    pages_failed: usize,
    /// Done: the pages saved as documents (a page replaces the document imported from the
    /// same address before).
    pages: Vec<ImportedPageDto>,
    /// The pages that could not be imported, and why.
    errors: Vec<PageErrorDto>,
    /// Done: links not followed because they name a file (PDF, image…), not a page.
    skipped_files: usize,
    /// Done: the assistant settings version the documents were saved as.
    version: Option<i64>,
    /// Failed: why nothing was saved.
    message: Option<String>,
}

fn import_status_dto(s: ImportStatus) -> KnowledgeImportStatus {
    let mut dto = KnowledgeImportStatus {
        id: s.id,
        url: s.url,
        state: "running",
        pages_fetched: 0,
        pages_failed: 0,
        pages: Vec::new(),
        errors: Vec::new(),
        skipped_files: 0,
        version: None,
        message: None,
    };
    match s.state {
        ImportState::Running(p) => {
            dto.pages_fetched = p.fetched;
            dto.pages_failed = p.failed;
        }
        ImportState::Done(o) => {
            dto.state = "done";
            dto.pages_fetched = o.pages.len();
            dto.pages_failed = o.failures.len();
            dto.pages = o
                .pages
                .iter()
                .map(|p| ImportedPageDto {
                    url: p.url.clone(),
                    title: p.title.clone(),
                    chars: p.text.chars().count(),
                })
                .collect();
            dto.errors = o
                .failures
                .iter()
                .map(|f| PageErrorDto {
                    url: f.url.clone(),
                    error: f.error.clone(),
                })
                .collect();
            dto.skipped_files = o.skipped_assets;
            dto.version = o.version;
        }
        ImportState::Failed(why) => {
            dto.state = "failed";
            dto.message = Some(why);
        }
    }
    dto
}

#[utoipa::path(post, path = "/api/v1/assistant/knowledge/import", tag = "assistant",
    request_body = KnowledgeImportInput,
    responses((status = 202, body = KnowledgeImportStarted), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "An import is already running"),
        (status = 422, body = ErrorBody, description = "Not a web address, or one that is not public (loopback, private, link-local…)")))]
pub async fn start_import(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<KnowledgeImportInput>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<KnowledgeImportStarted>), AppError> {
    let input = body(b)?;
    let id = knowledge_import::start(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        &input.url,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(KnowledgeImportStarted {
            status_url: format!("/api/v1/assistant/knowledge/import/{id}"),
            id,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/assistant/knowledge/import/{id}", tag = "assistant",
    params(("id" = String, Path, description = "The id the import was started with")),
    responses((status = 200, body = KnowledgeImportStatus), (status = 404, body = ErrorBody, description = "Unknown, another account's, or older than an hour")))]
pub async fn get_import(
    ctx: ApiCtx,
    Path(id): Path<String>,
) -> Result<Json<KnowledgeImportStatus>, AppError> {
    Ok(Json(import_status_dto(knowledge_import::status(
        ctx.account_id(),
        &id,
    )?)))
}
