//! Leads: the list with search and paging, a lead's page (details, consent history, its
//! conversations, the edit form), deletion with a confirmation step, and CSV import.
//!
//! Import is three steps: upload (a file, or CSV pasted into a text box) → map the file's columns
//! to lead fields → run, which shows the counts and the per-row errors. Between the steps the
//! upload, and afterwards its report (for `errors.csv`), are kept in a small in-process cache
//! keyed by a random id and the account: at most [`CACHE_ENTRIES`] entries for [`CACHE_TTL`].
//! A restart forgets them; the user then uploads the file again.

use super::{Chrome, FormState, NoticeQuery, PageResult, render, render_status};
use crate::auth::AccountCtx;
use crate::csrf::CsrfToken;
use crate::error::AppError;
use crate::services::{self, ImportField, ImportReport, LEAD_STAGES, LeadFields};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use leadline_domain::ids::LeadId;
use leadline_domain::{AccountId, Role};
use leadline_store::{Lead, LeadSort};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

pub const PAGE_SIZE: u32 = 50;

fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn parse_lead(id: &str) -> Result<LeadId, AppError> {
    id.parse().map_err(|_| AppError::not_found())
}

// ---------------------------------------------------------------------------------------------
// The list

pub struct LeadRow {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub stage: String,
    pub score: String,
    pub tags: String,
    pub blocked: bool,
    pub created: String,
}

/// A sortable column header: its link and, when it is the current order, the direction shown.
pub struct SortLink {
    pub label: &'static str,
    pub href: String,
    /// `ascending` / `descending` for `aria-sort`, when the list is ordered by this column.
    pub current: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "app/leads.html")]
struct LeadsPage {
    chrome: Chrome,
    leads: Vec<LeadRow>,
    q: String,
    stage: String,
    tag: String,
    stages: [&'static str; 6],
    sort_name: SortLink,
    sort_score: SortLink,
    sort_created: SortLink,
    filtered: bool,
    export: String,
    page: u32,
    prev: Option<String>,
    next: Option<String>,
    can_edit: bool,
    can_delete: bool,
    error: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(flatten)]
    params: services::LeadListParams,
    page: Option<String>,
    notice: Option<String>,
}

/// The list's URL with `params` and the page (0: none, the first).
fn list_link(path: &str, params: &services::LeadListParams, page: u32) -> String {
    let mut parts = Vec::new();
    for (key, value) in [
        ("q", &params.q),
        ("stage", &params.stage),
        ("tag", &params.tag),
        ("sort", &params.sort),
        ("dir", &params.dir),
    ] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            parts.push(format!("{key}={}", urlencoding::encode(v)));
        }
    }
    if page > 0 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

fn sort_link(
    params: &services::LeadListParams,
    query: &leadline_store::LeadQuery,
    key: &'static str,
    label: &'static str,
    sort: LeadSort,
) -> SortLink {
    let current = query.sort == sort;
    // Clicking the current column flips it; another column starts in its natural order.
    let dir = current.then(|| if query.ascending { "desc" } else { "asc" }.to_owned());
    let next = services::LeadListParams {
        sort: Some(key.to_owned()),
        dir,
        ..params.clone()
    };
    SortLink {
        label,
        href: list_link("/app/leads", &next, 0),
        current: current.then_some(if query.ascending {
            "ascending"
        } else {
            "descending"
        }),
    }
}

pub async fn leads_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(lq): Query<ListQuery>,
) -> PageResult {
    let page = lq
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let params = lq.params;
    // One more than a page tells whether there is a next page.
    let (query, error) = match params.query(PAGE_SIZE + 1, (page - 1) * PAGE_SIZE) {
        Ok(q) => (q, None),
        Err(e) => (
            leadline_store::LeadQuery::page(
                params.q.as_deref(),
                PAGE_SIZE + 1,
                (page - 1) * PAGE_SIZE,
            ),
            Some(e.message.clone()),
        ),
    };
    let mut leads = services::list_leads(&state, ctx.account.id, &query).await?;
    let more = leads.len() > PAGE_SIZE as usize;
    leads.truncate(PAGE_SIZE as usize);
    let blocked = services::blocked_leads(&state, ctx.account.id, &leads).await?;
    let rows = leads
        .into_iter()
        .map(|l| LeadRow {
            blocked: blocked.contains(&l.id),
            id: l.id.to_string(),
            name: l.name,
            phone: l.phone.to_string(),
            email: l.email.unwrap_or_default(),
            stage: l.stage,
            score: l.score.map(|s| s.to_string()).unwrap_or_default(),
            tags: l.tags.join(", "),
            created: when(l.created_at),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let filtered = query.text.is_some() || query.stage.is_some() || query.tag.is_some();
    Ok(render_status(
        status,
        &LeadsPage {
            chrome: Chrome::new(&ctx, &csrf, "leads", lq.notice.as_deref()),
            leads: rows,
            sort_name: sort_link(&params, &query, "name", "Name", LeadSort::Name),
            sort_score: sort_link(&params, &query, "score", "Score", LeadSort::Score),
            sort_created: sort_link(&params, &query, "created", "Created", LeadSort::Created),
            export: list_link("/app/leads.csv", &params, 0),
            prev: (page > 1).then(|| list_link("/app/leads", &params, page - 1)),
            next: more.then(|| list_link("/app/leads", &params, page + 1)),
            q: params.q.clone().unwrap_or_default(),
            stage: query.stage.clone().unwrap_or_default(),
            tag: params.tag.clone().unwrap_or_default(),
            stages: LEAD_STAGES,
            filtered,
            page,
            can_edit: ctx.role >= Role::Agent,
            can_delete: ctx.role >= Role::Admin,
            error,
        },
    ))
}

/// Every lead the filters match, as CSV (read in batches so memory stays flat).
pub async fn leads_csv(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Query(lq): Query<ListQuery>,
) -> Result<impl IntoResponse, AppError> {
    const BATCH: u32 = 1000;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "phone",
        "name",
        "email",
        "state",
        "time_zone",
        "stage",
        "score",
        "intent",
        "tags",
        "opted_out",
        "fields",
        "created_at",
        "updated_at",
    ];
    let csv_err = |e: csv::Error| AppError::internal(format!("writing the CSV: {e}"));
    out.write_record(header).map_err(csv_err)?;
    let mut offset = 0;
    loop {
        let query = lq.params.query(BATCH, offset)?;
        let leads = services::list_leads(&state, ctx.account.id, &query).await?;
        let blocked = services::blocked_leads(&state, ctx.account.id, &leads).await?;
        for l in &leads {
            // Extracted fields as `name: value` pairs, the values as a person reads them.
            let fields = l
                .fields
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            let value = match &v["value"] {
                                serde_json::Value::String(s) => s.clone(),
                                serde_json::Value::Null => String::new(),
                                other => other.to_string(),
                            };
                            format!("{k}: {value}")
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            out.write_record([
                l.id.to_string(),
                l.phone.to_string(),
                l.name.clone(),
                l.email.clone().unwrap_or_default(),
                l.state.clone().unwrap_or_default(),
                l.time_zone.clone().unwrap_or_default(),
                l.stage.clone(),
                l.score.map(|s| s.to_string()).unwrap_or_default(),
                l.intent.clone().unwrap_or_default(),
                l.tags.join(";"),
                blocked.contains(&l.id).to_string(),
                fields,
                l.created_at.to_string(),
                l.updated_at.to_string(),
            ])
            .map_err(csv_err)?;
        }
        if leads.len() < BATCH as usize {
            break;
        }
        offset += BATCH;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::internal(format!("writing the CSV: {e}")))?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"leads.csv\""),
        ],
        body,
    ))
}

/// The selected leads of a bulk form (ids of another account simply do not resolve).
fn selected(posted: &[(String, String)]) -> Vec<LeadId> {
    posted
        .iter()
        .filter(|(k, _)| k == "ids")
        .filter_map(|(_, v)| v.parse().ok())
        .take(PAGE_SIZE as usize)
        .collect()
}

#[derive(Template)]
#[template(path = "app/leads_bulk_delete.html")]
struct BulkDeletePage {
    chrome: Chrome,
    leads: Vec<(String, String)>,
}

/// Bulk actions on the selected rows: add a tag (agents), or confirm a deletion (admins).
pub async fn bulk_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: Bytes,
) -> PageResult {
    let posted: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        posted
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let ids = selected(&posted);
    if ids.is_empty() {
        return Ok(Redirect::to("/app/leads?notice=none_selected").into_response());
    }
    match field("action").as_str() {
        "tag" => {
            ctx.require(Role::Agent)?;
            let tags = services::split_tags(&field("tag"));
            if tags.is_empty() {
                return Ok(Redirect::to("/app/leads?notice=tag_missing").into_response());
            }
            for lead in state.store.leads_by_ids(ctx.account.id, &ids).await? {
                let mut all = lead.tags.clone();
                all.extend(tags.iter().filter(|t| !lead.tags.contains(t)).cloned());
                let fields = LeadFields {
                    tags: Some(all),
                    ..LeadFields::default()
                };
                services::update_lead(
                    &state,
                    ctx.account.id,
                    ctx.role,
                    &ctx.actor(),
                    lead.id,
                    &fields,
                )
                .await?;
            }
            Ok(Redirect::to("/app/leads?notice=leads_tagged").into_response())
        }
        "delete" => {
            ctx.require(Role::Admin)?;
            let leads = state.store.leads_by_ids(ctx.account.id, &ids).await?;
            Ok(render(&BulkDeletePage {
                chrome: Chrome::new(&ctx, &csrf, "leads", None),
                leads: leads
                    .into_iter()
                    .map(|l| {
                        let label = if l.name.is_empty() {
                            l.phone.to_string()
                        } else {
                            format!("{} ({})", l.name, l.phone)
                        };
                        (l.id.to_string(), label)
                    })
                    .collect(),
            }))
        }
        _ => Err(AppError::field("action", "must be tag or delete").into()),
    }
}

/// The confirmed bulk deletion.
pub async fn bulk_delete(
    State(state): State<AppState>,
    ctx: AccountCtx,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let posted: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let ids = selected(&posted);
    if ids.is_empty() {
        return Ok(Redirect::to("/app/leads?notice=none_selected").into_response());
    }
    for lead in state.store.leads_by_ids(ctx.account.id, &ids).await? {
        services::delete_lead(&state, ctx.account.id, ctx.role, &ctx.actor(), lead.id).await?;
    }
    Ok(Redirect::to("/app/leads?notice=leads_deleted").into_response())
}

// ---------------------------------------------------------------------------------------------
// One lead

pub struct ConversationLink {
    pub id: String,
    pub last_at: String,
}

#[derive(Template)]
#[template(path = "app/lead.html")]
struct LeadPage {
    chrome: Chrome,
    lead: Lead,
    id: String,
    created: String,
    updated: String,
    blocked: bool,
    conversations: Vec<ConversationLink>,
    panel: super::lead_panel::LeadPanel,
    form: FormState,
    stages: [&'static str; 6],
    can_edit: bool,
    can_delete: bool,
}

fn lead_form(lead: &Lead) -> FormState {
    FormState::with_values([
        ("name", lead.name.clone()),
        ("email", lead.email.clone().unwrap_or_default()),
        ("state", lead.state.clone().unwrap_or_default()),
        ("time_zone", lead.time_zone.clone().unwrap_or_default()),
        ("tags", lead.tags.join(", ")),
        ("stage", lead.stage.clone()),
    ])
}

async fn lead_view(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    notice: Option<&str>,
    lead: Lead,
    form: Option<FormState>,
) -> Result<LeadPage, AppError> {
    let account = ctx.account.id;
    let threads = state.store.lead_conversations(account, lead.id).await?;
    let panel =
        super::lead_panel::lead_panel(state, &ctx.account, &lead, &threads, None, false).await?;
    let conversations = threads
        .into_iter()
        .map(|c| ConversationLink {
            id: c.id.to_string(),
            last_at: c.last_message_at.map(when).unwrap_or_else(|| "—".into()),
        })
        .collect();
    Ok(LeadPage {
        chrome: Chrome::new(ctx, csrf, "leads", notice),
        id: lead.id.to_string(),
        created: when(lead.created_at),
        updated: when(lead.updated_at),
        blocked: panel.consent.blocked(),
        conversations,
        panel,
        form: form.unwrap_or_else(|| lead_form(&lead)),
        lead,
        stages: LEAD_STAGES,
        can_edit: ctx.role >= Role::Agent,
        can_delete: ctx.role >= Role::Admin,
    })
}

pub async fn lead_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let lead = state
        .store
        .get_lead(ctx.account.id, parse_lead(&id)?)
        .await?;
    Ok(render(
        &lead_view(&state, &ctx, &csrf, q.notice.as_deref(), lead, None).await?,
    ))
}

#[derive(serde::Deserialize)]
pub struct LeadEditInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    stage: String,
}

pub async fn lead_edit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Form(input): Form<LeadEditInput>,
) -> PageResult {
    let id = parse_lead(&id)?;
    let fields = LeadFields {
        name: Some(input.name.clone()),
        email: Some(input.email.clone()),
        state: Some(input.state.clone()),
        time_zone: Some(input.time_zone.clone()),
        tags: Some(services::split_tags(&input.tags)),
        stage: Some(input.stage.clone()),
    };
    match services::update_lead(&state, ctx.account.id, ctx.role, &ctx.actor(), id, &fields).await {
        Ok(lead) => {
            Ok(Redirect::to(&format!("/app/leads/{}?notice=lead_saved", lead.id)).into_response())
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let lead = state.store.get_lead(ctx.account.id, id).await?;
            let form = FormState::with_values([
                ("name", input.name),
                ("email", input.email),
                ("state", input.state),
                ("time_zone", input.time_zone),
                ("tags", input.tags),
                ("stage", input.stage),
            ])
            .fail(&e);
            let page = lead_view(&state, &ctx, &csrf, None, lead, Some(form)).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "app/lead_delete.html")]
struct DeletePage {
    chrome: Chrome,
    id: String,
    label: String,
    conversations: usize,
}

pub async fn delete_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
) -> PageResult {
    let lead = state
        .store
        .get_lead(ctx.account.id, parse_lead(&id)?)
        .await?;
    ctx.require(Role::Admin)?;
    let conversations = state
        .store
        .lead_conversations(ctx.account.id, lead.id)
        .await?
        .len();
    Ok(render(&DeletePage {
        chrome: Chrome::new(&ctx, &csrf, "leads", None),
        id: lead.id.to_string(),
        label: if lead.name.is_empty() {
            lead.phone.to_string()
        } else {
            format!("{} ({})", lead.name, lead.phone)
        },
        conversations,
    }))
}

pub async fn delete_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(id): Path<String>,
) -> PageResult {
    services::delete_lead(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        parse_lead(&id)?,
    )
    .await?;
    Ok(Redirect::to("/app/leads?notice=lead_deleted").into_response())
}

// ---------------------------------------------------------------------------------------------
// CSV import

/// How many uploads and reports are kept, and for how long.
pub const CACHE_ENTRIES: usize = 16;
pub const CACHE_TTL: Duration = Duration::from_secs(3600);

struct Upload {
    account: AccountId,
    at: Instant,
    file_name: String,
    headers: Vec<String>,
    /// Lead rows in the file (not counting the header).
    rows: u64,
    /// The file, until it has been imported.
    data: Option<Arc<String>>,
    stage: Stage,
}

/// Where an upload is: waiting for its mapping, being imported (counts so far), or done.
#[derive(Clone)]
enum Stage {
    Mapping,
    Running(Progress),
    Done(Arc<ImportReport>),
    Failed(String),
}

#[derive(Clone, Default)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub created: u64,
    pub updated: u64,
    pub suppressed: u64,
    pub failed: u64,
    pub percent: u64,
}

static UPLOADS: LazyLock<Mutex<HashMap<String, Upload>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn uploads() -> std::sync::MutexGuard<'static, HashMap<String, Upload>> {
    UPLOADS.lock().unwrap_or_else(|p| p.into_inner())
}

fn cache_put(upload: Upload) -> String {
    let id = leadline_app::tokens::generate();
    let mut map = uploads();
    map.retain(|_, u| u.at.elapsed() < CACHE_TTL);
    while map.len() >= CACHE_ENTRIES {
        // Evict the oldest, but never an import that is still running.
        let Some(oldest) = map
            .iter()
            .filter(|(_, u)| !matches!(u.stage, Stage::Running(_)))
            .min_by_key(|(_, u)| u.at)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        map.remove(&oldest);
    }
    map.insert(id.clone(), upload);
    id
}

fn set_stage(id: &str, stage: Stage) {
    if let Some(u) = uploads().get_mut(id) {
        if matches!(stage, Stage::Done(_) | Stage::Failed(_)) {
            u.data = None;
        }
        u.stage = stage;
    }
}

/// What the pages need of an upload.
struct Snapshot {
    file_name: String,
    headers: Vec<String>,
    rows: u64,
    data: Option<Arc<String>>,
    stage: Stage,
}

/// The upload, or 404 for an unknown, expired or another account's id.
fn cache_get(account: AccountId, id: &str) -> Result<Snapshot, AppError> {
    let map = uploads();
    let u = map
        .get(id)
        .filter(|u| u.account == account && u.at.elapsed() < CACHE_TTL)
        .ok_or_else(|| {
            AppError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "This import is no longer available (imports are kept for an hour). Upload the file again.",
            )
        })?;
    Ok(Snapshot {
        file_name: u.file_name.clone(),
        headers: u.headers.clone(),
        rows: u.rows,
        data: u.data.clone(),
        stage: u.stage.clone(),
    })
}

#[derive(Template)]
#[template(path = "app/leads_import.html")]
struct ImportPage {
    chrome: Chrome,
    form: FormState,
    upload_action: String,
}

fn import_page(ctx: &AccountCtx, csrf: &CsrfToken, form: FormState) -> ImportPage {
    ImportPage {
        chrome: Chrome::new(ctx, csrf, "leads", None),
        form,
        upload_action: format!("/app/leads/import?csrf={}", urlencoding::encode(&csrf.0)),
    }
}

pub async fn import_page_get(ctx: AccountCtx, csrf: axum::Extension<CsrfToken>) -> PageResult {
    ctx.require(Role::Agent)?;
    Ok(render(&import_page(&ctx, &csrf, FormState::default())))
}

/// One part of a `multipart/form-data` body.
struct Part<'a> {
    name: String,
    filename: Option<String>,
    data: &'a [u8],
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn disposition_param(header: &str, key: &str) -> Option<String> {
    header.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// A small `multipart/form-data` reader for the upload form (a file and a text box): enough for
/// what browsers send, without another dependency.
fn multipart<'a>(content_type: &str, body: &'a [u8]) -> Option<Vec<Part<'a>>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let sep = [b"\r\n".as_slice(), &delim].concat();
    let mut pos = find(body, &delim)? + delim.len();
    let mut parts = Vec::new();
    loop {
        let rest = body.get(pos..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        pos += if rest.starts_with(b"\r\n") { 2 } else { 0 };
        let end = pos + find(body.get(pos..)?, &sep)?;
        let part = &body[pos..end];
        let head_end = find(part, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..head_end]);
        let disposition = head
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then(|| v.to_owned())
            })
            .unwrap_or_default();
        parts.push(Part {
            name: disposition_param(&disposition, "name").unwrap_or_default(),
            filename: disposition_param(&disposition, "filename"),
            data: &part[head_end + 4..],
        });
        pos = end + sep.len();
    }
}

/// Text from a file: UTF-8, or else read as Latin-1 (older spreadsheet exports).
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// Takes the upload (a `file` part, or CSV pasted into `csv`), checks it and shows the mapping.
pub async fn import_upload(
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Agent)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (mut file_name, mut data) = (String::new(), String::new());
    if content_type.starts_with("multipart/form-data") {
        let parts = multipart(content_type, &body)
            .ok_or_else(|| AppError::bad_request("The upload could not be read. Try again."))?;
        for p in parts {
            match (p.name.as_str(), p.filename) {
                ("file", Some(name)) if !p.data.is_empty() => {
                    file_name = name;
                    data = decode(p.data);
                }
                ("csv", _) if data.is_empty() => data = decode(p.data),
                _ => {}
            }
        }
    } else {
        for (k, v) in url::form_urlencoded::parse(&body) {
            match &*k {
                "csv" => data = v.into_owned(),
                "file_name" => file_name = v.into_owned(),
                _ => {}
            }
        }
    }
    let file_name = match file_name.trim() {
        "" => "pasted.csv".to_owned(),
        n => n
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(n)
            .chars()
            .take(120)
            .collect(),
    };
    let result = if data.trim().is_empty() {
        Err(AppError::field(
            "file",
            "is required: choose a CSV file or paste one",
        ))
    } else {
        services::import_headers(&data)
    };
    match result {
        Ok((headers, rows)) => {
            let id = cache_put(Upload {
                account: ctx.account.id,
                at: Instant::now(),
                file_name,
                headers,
                rows,
                data: Some(Arc::new(data)),
                stage: Stage::Mapping,
            });
            Ok(Redirect::to(&format!("/app/leads/import/{id}")).into_response())
        }
        Err(e) if e.status.is_client_error() => {
            let form = FormState::default().fail(&e);
            Ok(render_status(e.status, &import_page(&ctx, &csrf, form)))
        }
        Err(e) => Err(e.into()),
    }
}

pub struct MapRow {
    pub index: usize,
    pub header: String,
    pub selected: &'static str,
}

#[derive(Template)]
#[template(path = "app/leads_import_map.html")]
struct MapPage {
    chrome: Chrome,
    id: String,
    file_name: String,
    columns: Vec<MapRow>,
    fields: Vec<&'static str>,
    form: FormState,
}

#[derive(Template)]
#[template(path = "app/leads_import_result.html")]
struct ResultPage {
    chrome: Chrome,
    id: String,
    report: Arc<ImportReport>,
    /// Errors shown on the page; the download has them all.
    shown: Vec<String>,
}

const SHOWN_ERRORS: usize = 200;

fn result_page(
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    id: &str,
    report: Arc<ImportReport>,
) -> ResultPage {
    ResultPage {
        chrome: Chrome::new(ctx, csrf, "leads", None),
        id: id.to_owned(),
        shown: report
            .errors
            .iter()
            .take(SHOWN_ERRORS)
            .map(|e| e.describe())
            .collect(),
        report,
    }
}

fn map_page(
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    id: &str,
    file_name: String,
    headers: &[String],
    mapping: &[ImportField],
    form: FormState,
) -> MapPage {
    MapPage {
        chrome: Chrome::new(ctx, csrf, "leads", None),
        id: id.to_owned(),
        file_name,
        columns: headers
            .iter()
            .zip(mapping)
            .enumerate()
            .map(|(index, (h, f))| MapRow {
                index,
                header: if h.is_empty() {
                    format!("(column {})", index + 1)
                } else {
                    h.clone()
                },
                selected: f.as_str(),
            })
            .collect(),
        fields: ImportField::ALL.iter().map(|f| f.as_str()).collect(),
        form,
    }
}

#[derive(Template)]
#[template(path = "app/leads_import_progress.html")]
struct ProgressPage {
    chrome: Chrome,
    id: String,
    file_name: String,
    progress: Progress,
    failure: Option<String>,
    /// Always false here: the page is only shown while the import runs (or after it failed).
    finished: bool,
}

#[derive(Template)]
#[template(path = "app/leads_import_progress_partial.html")]
struct ProgressPartial {
    id: String,
    progress: Progress,
    finished: bool,
}

/// The mapping form, the import's progress, or its result, depending on where it is.
pub async fn import_map_page(
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
) -> PageResult {
    ctx.require(Role::Agent)?;
    let snap = cache_get(ctx.account.id, &id)?;
    match snap.stage {
        Stage::Done(report) => Ok(render(&result_page(&ctx, &csrf, &id, report))),
        Stage::Running(progress) => Ok(render(&ProgressPage {
            chrome: Chrome::new(&ctx, &csrf, "leads", None),
            id,
            file_name: snap.file_name,
            progress,
            failure: None,
            finished: false,
        })),
        Stage::Failed(why) => Ok(render(&ProgressPage {
            chrome: Chrome::new(&ctx, &csrf, "leads", None),
            id,
            file_name: snap.file_name,
            progress: Progress::default(),
            failure: Some(why),
            finished: false,
        })),
        Stage::Mapping => {
            let mapping = services::guess_mapping(&snap.headers);
            Ok(render(&map_page(
                &ctx,
                &csrf,
                &id,
                snap.file_name,
                &snap.headers,
                &mapping,
                FormState::default(),
            )))
        }
    }
}

/// The progress region of a running import, polled by `/static/poll.js`.
pub async fn import_progress(ctx: AccountCtx, Path(id): Path<String>) -> PageResult {
    ctx.require(Role::Agent)?;
    let snap = cache_get(ctx.account.id, &id)?;
    let (progress, finished) = match snap.stage {
        Stage::Running(p) => (p, false),
        Stage::Done(r) => (counts(&r, snap.rows), true),
        Stage::Mapping | Stage::Failed(_) => (Progress::default(), true),
    };
    Ok(render(&ProgressPartial {
        id,
        progress,
        finished,
    }))
}

fn counts(r: &ImportReport, total: u64) -> Progress {
    Progress {
        done: r.rows,
        total,
        created: r.created,
        updated: r.updated,
        suppressed: r.suppressed,
        failed: r.failed,
        percent: (r.rows * 100).checked_div(total).unwrap_or(100).min(100),
    }
}

/// Checks the chosen mapping (`col_0=phone&col_1=name…`) and starts the import in the
/// background, reporting its counts every few hundred rows; the page then shows its progress
/// and, when done, the result. A large file never hangs on one request.
pub async fn import_run(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    ctx.require(Role::Agent)?;
    let snap = cache_get(ctx.account.id, &id)?;
    let to_status = Redirect::to(&format!("/app/leads/import/{id}")).into_response();
    // Submitted twice (a reload): show what the first run does rather than import again.
    let (Stage::Mapping, Some(data)) = (&snap.stage, snap.data) else {
        return Ok(to_status);
    };
    let mapping: Vec<ImportField> = (0..snap.headers.len())
        .map(|i| {
            form.get(&format!("col_{i}"))
                .and_then(|v| ImportField::parse(v))
                .unwrap_or(ImportField::Ignore)
        })
        .collect();
    if let Err(e) = services::check_mapping(&snap.headers, &mapping) {
        let form = FormState::default().fail(&e);
        let page = map_page(
            &ctx,
            &csrf,
            &id,
            snap.file_name,
            &snap.headers,
            &mapping,
            form,
        );
        return Ok(render_status(e.status, &page));
    }
    {
        let mut map = uploads();
        let Some(u) = map.get_mut(&id) else {
            return Err(AppError::not_found().into());
        };
        if !matches!(u.stage, Stage::Mapping) {
            return Ok(to_status);
        }
        u.stage = Stage::Running(Progress {
            total: snap.rows,
            ..Default::default()
        });
    }
    let (account, role, actor, total) = (ctx.account.id, ctx.role, ctx.actor(), snap.rows);
    let task_id = id.clone();
    tokio::spawn(async move {
        let report_progress = |r: &ImportReport| {
            set_stage(&task_id, Stage::Running(counts(r, total)));
        };
        let result = services::import_leads(
            &state,
            account,
            role,
            &actor,
            services::ImportFile {
                name: &snap.file_name,
                data: &data,
                mapping: Some(&mapping),
            },
            Some(&report_progress),
        )
        .await;
        match result {
            Ok(report) => set_stage(&task_id, Stage::Done(Arc::new(report))),
            Err(e) => {
                tracing::warn!(error = %e, "a lead import failed");
                set_stage(&task_id, Stage::Failed(e.message));
            }
        }
    });
    Ok(to_status)
}

/// The per-row error report of a finished import, as CSV.
pub async fn import_errors_csv(ctx: AccountCtx, Path(id): Path<String>) -> PageResult {
    let snap = cache_get(ctx.account.id, &id)?;
    let Stage::Done(report) = snap.stage else {
        return Err(AppError::not_found().into());
    };
    let file_name = snap.file_name;
    let stem = file_name
        .trim_end_matches(".csv")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>();
    let stem = if stem.is_empty() {
        "import".into()
    } else {
        stem
    };
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{stem}-errors.csv\""),
            ),
        ],
        report.errors_csv()?,
    )
        .into_response())
}
