//! Website imports into the knowledge base, shared by the dashboard's Knowledge tab and
//! `/api/v1/assistant/knowledge/import`: [`start`] checks the address, then crawls it in a
//! background task (`leadline_engine::knowledge_import`) and saves the pages as ONE new version
//! of the assistant settings through the same save path as every other edit; [`status`] reports
//! its progress and result.
//!
//! Like the CSV lead import, progress lives in a small in-process table keyed by a random id and
//! the account ([`KEPT`] entries for [`KEPT_FOR`]): a restart forgets it (the saved version, if
//! the import finished, stays), and the user can start the import again.

use crate::error::AppError;
use crate::pages::assistant;
use crate::state::AppState;
use leadline_domain::{AccountId, Role};
use leadline_engine::knowledge_import::{self, CrawlProgress, ImportedPage, PageFailure};
use leadline_providers::fetch::Fetcher;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use url::Url;

pub const KEPT: usize = 32;
pub const KEPT_FOR: Duration = Duration::from_secs(3600);

/// Where an import is.
#[derive(Debug, Clone)]
pub enum ImportState {
    Running(CrawlProgress),
    Done(Arc<ImportOutcome>),
    /// Nothing was saved; the sentence says why.
    Failed(String),
}

/// What a finished import did.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub pages: Vec<ImportedPage>,
    pub failures: Vec<PageFailure>,
    pub skipped_assets: usize,
    /// The settings version the documents were saved as; none when no page had text.
    pub version: Option<i64>,
}

/// An import as its status page or API answer shows it.
#[derive(Debug, Clone)]
pub struct ImportStatus {
    pub id: String,
    pub url: String,
    pub state: ImportState,
}

struct Entry {
    account: AccountId,
    at: Instant,
    url: String,
    state: ImportState,
}

static IMPORTS: LazyLock<Mutex<HashMap<String, Entry>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn imports() -> MutexGuard<'static, HashMap<String, Entry>> {
    IMPORTS.lock().unwrap_or_else(|p| p.into_inner())
}

fn set_state(id: &str, state: ImportState) {
    if let Some(e) = imports().get_mut(id) {
        e.state = state;
    }
}

/// Reads what a person typed as a website address; a bare `example.com` means https.
pub fn parse_url(raw: &str) -> Result<Url, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(AppError::field("url", "Enter your website's address."));
    }
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("https://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| {
        AppError::field(
            "url",
            "This is not a web address; write it like https://example.com.",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AppError::field(
            "url",
            "Only http:// and https:// addresses can be imported.",
        ));
    }
    Ok(url)
}

/// Checks the address (and the addresses its host resolves to) and starts the import in the
/// background; returns its id. Only those who may edit the assistant may import.
pub async fn start(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    raw_url: &str,
) -> Result<String, AppError> {
    crate::auth::require_role(role, Role::Admin)?;
    let url = parse_url(raw_url)?;
    let fetcher = Fetcher::new(state.config.fetch_policy.clone());
    // The start page is vetted now, so an address we would never fetch is a form error, not
    // a failed import; every page (and redirect) is vetted again when it is fetched.
    fetcher
        .vet(&url)
        .await
        .map_err(|e| AppError::field("url", capitalised(&e.to_string())))?;
    let id = leadline_app::tokens::generate();
    {
        let mut map = imports();
        // An import takes minutes at most, so one "running" for an hour died with its task.
        map.retain(|_, e| e.at.elapsed() < KEPT_FOR);
        if map
            .values()
            .any(|e| e.account == account && matches!(e.state, ImportState::Running(_)))
        {
            return Err(AppError::conflict(
                "import_running",
                "An import from your website is already running. Wait for it to finish.",
            ));
        }
        while map.len() >= KEPT {
            let Some(oldest) = map
                .iter()
                .filter(|(_, e)| !matches!(e.state, ImportState::Running(_)))
                .min_by_key(|(_, e)| e.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Entry {
                account,
                at: Instant::now(),
                url: url.to_string(),
                state: ImportState::Running(CrawlProgress::default()),
            },
        );
    }
    let (state, actor, task_id) = (state.clone(), actor.to_owned(), id.clone());
    tokio::spawn(async move {
        let next = match run(&state, account, role, &actor, &url, &fetcher, &task_id).await {
            Ok(outcome) => ImportState::Done(Arc::new(outcome)),
            Err(e) => {
                tracing::warn!(%account, error = %e, "a website import failed");
                let details: Vec<&str> = e.fields.iter().map(|f| f.message.as_str()).collect();
                ImportState::Failed(if details.is_empty() {
                    e.message
                } else {
                    format!("{} {}", e.message, details.join(" "))
                })
            }
        };
        set_state(&task_id, next);
    });
    Ok(id)
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

async fn run(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    url: &Url,
    fetcher: &Fetcher,
    id: &str,
) -> Result<ImportOutcome, AppError> {
    let report_progress = |p: CrawlProgress| set_state(id, ImportState::Running(p));
    let report =
        knowledge_import::crawl(url, fetcher, state.config.crawl_limits, &report_progress).await;
    let mut version = None;
    if !report.pages.is_empty() {
        // Read the settings only now, after the slow part, so edits made meanwhile are kept.
        let mut settings = assistant::load(state, account).await?.settings;
        settings.documents = knowledge_import::merge(&settings.documents, &report.pages);
        version = Some(
            assistant::save(
                state,
                account,
                role,
                actor,
                &settings,
                serde_json::json!({
                    "section": "knowledge_import",
                    "url": url.as_str(),
                    "pages": report.pages.len(),
                    "failed": report.failures.len(),
                }),
                None,
            )
            .await?,
        );
    }
    Ok(ImportOutcome {
        pages: report.pages,
        failures: report.failures,
        skipped_assets: report.skipped_assets,
        version,
    })
}

/// An import of this account, or 404 (unknown, expired, or another account's).
pub fn status(account: AccountId, id: &str) -> Result<ImportStatus, AppError> {
    let map = imports();
    let e = map
        .get(id)
        .filter(|e| e.account == account)
        .ok_or_else(AppError::not_found)?;
    Ok(ImportStatus {
        id: id.to_owned(),
        url: e.url.clone(),
        state: e.state.clone(),
    })
}
