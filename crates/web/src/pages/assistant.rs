//! The assistant settings pages under `/app/assistant`: one tab per section of the
//! [`AssistantSettings`] document (instructions and personality, strategy, guardrails, the
//! extraction schema, knowledge, the model) and its version history. The Knowledge tab also
//! imports the business's website (`crate::knowledge_import`), showing its progress by polling.
//!
//! Every save reads the current document, changes only the submitted section, validates the whole
//! document and writes it through `put_setting`, so each change is audited and versioned. The
//! load/save functions here are shared with the JSON API (`api::assistant`).
//!
//! Forms work without JavaScript: the list editors (schema fields, Q&A entries, documents) post
//! every row with an `op` button (`add`, `up:2`, `remove:3`, …); anything but `save` re-renders
//! the edited rows without storing them.

use super::{Chrome, FormState, NoticeQuery, PageResult, render, render_status};
use crate::auth::{AccountCtx, require_role};
use crate::csrf::CsrfToken;
use crate::error::{AppError, FieldError};
use crate::knowledge_import::{self, ImportState, ImportStatus};
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Redirect};
use leadline_conversation::schema::RawField;
use leadline_conversation::{
    ASSISTANT_SETTINGS, AssistantSettings, DisclosureWhen, EngineKind, ExtractionSchema, FieldSpec,
    Formality, Goal, Industry, KnowledgeDocument, MODEL_API_KEY_PURPOSE, QaEntry, Tone, Validation,
    When,
};
use leadline_domain::{AccountId, Role};
use leadline_store::{NewAudit, SettingVersion, VersionedPut};
use secrecy::SecretString;
use std::collections::BTreeMap;

/// How many versions the history lists.
pub(crate) const VERSIONS_SHOWN: u32 = 50;
/// Largest knowledge document accepted, pasted or uploaded.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

// ---- the service, shared with the API ----

/// The account's document as stored, with its newest version.
pub(crate) struct Loaded {
    pub settings: AssistantSettings,
    pub version: Option<SettingVersion>,
    /// Why the stored document could not be read (the defaults are shown instead).
    pub problem: Option<String>,
}

pub(crate) async fn load(state: &AppState, account: AccountId) -> Result<Loaded, AppError> {
    let stored = state.store.get_setting(account, ASSISTANT_SETTINGS).await?;
    let (settings, problem) = match AssistantSettings::from_stored(stored) {
        Ok(s) => (s, None),
        Err(e) => {
            tracing::warn!(%account, error = %e, "stored assistant settings are unreadable");
            (AssistantSettings::default(), Some(e))
        }
    };
    let version = latest_version(state, account).await?;
    Ok(Loaded {
        settings,
        version,
        problem,
    })
}

async fn latest_version(
    state: &AppState,
    account: AccountId,
) -> Result<Option<SettingVersion>, AppError> {
    Ok(state
        .store
        .setting_versions(account, ASSISTANT_SETTINGS, 1)
        .await?
        .into_iter()
        .next())
}

/// Every problem of a document, one message per field (several joined).
pub(crate) async fn problems(
    state: &AppState,
    account: AccountId,
    settings: &AssistantSettings,
) -> Result<Vec<FieldError>, AppError> {
    let profile = state.store.get_account(account).await?.profile;
    let mut by_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in settings.validate(&profile.industry) {
        by_field
            .entry(e.field.to_owned())
            .or_default()
            .push(e.message);
    }
    let g = &settings.guardrails;
    if g.disclosure != DisclosureWhen::Never && g.ai_disclosure.trim().is_empty() {
        by_field
            .entry("guardrails.ai_disclosure".into())
            .or_default()
            .push("Write the disclosure line, or choose never to send it.".into());
    }
    if g.ai_disclosure.chars().count() > 160 {
        by_field
            .entry("guardrails.ai_disclosure".into())
            .or_default()
            .push("The disclosure line is limited to 160 characters (one SMS).".into());
    }
    if settings.language.chars().count() > 40 {
        by_field
            .entry("language".into())
            .or_default()
            .push("Name the language in at most 40 characters.".into());
    }
    Ok(by_field
        .into_iter()
        .map(|(field, messages)| FieldError {
            field,
            message: messages.join(" "),
        })
        .collect())
}

/// Validates and stores the whole document as a new version; returns that version's number.
/// `expected`, when given, must be the current version (else 409, nothing saved).
pub(crate) async fn save(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    settings: &AssistantSettings,
    details: serde_json::Value,
    expected: Option<i64>,
) -> Result<i64, AppError> {
    require_role(role, Role::Admin)?;
    let fields = problems(state, account, settings).await?;
    if !fields.is_empty() {
        return Err(AppError::validation(
            "Some assistant settings need attention.",
            fields,
        ));
    }
    let value = serde_json::to_value(settings).map_err(AppError::internal)?;
    let audit = NewAudit {
        account_id: account,
        actor: actor.to_owned(),
        action: "assistant.settings".into(),
        details,
    };
    // The version check happens inside the store's write, so two editors cannot both win.
    match state
        .store
        .put_setting_if(account, ASSISTANT_SETTINGS, value, audit, expected)
        .await?
    {
        VersionedPut::Saved(version) => Ok(version),
        VersionedPut::Stale { current } => Err(AppError::conflict(
            "stale_version",
            format!(
                "The settings changed since version {} (now version {current}). Reload them and apply your change again.",
                expected.unwrap_or(0)
            ),
        )),
    }
}

/// One stored version read back as a document.
pub(crate) async fn version(
    state: &AppState,
    account: AccountId,
    number: i64,
) -> Result<(SettingVersion, AssistantSettings), AppError> {
    let found = state
        .store
        .setting_version(account, ASSISTANT_SETTINGS, number)
        .await?
        .ok_or_else(AppError::not_found)?;
    let settings =
        AssistantSettings::from_stored(found.value.clone()).map_err(AppError::internal)?;
    Ok((found, settings))
}

// ---- form plumbing ----

/// A posted form as its name/value pairs: checkboxes and row lists repeat or number their names.
struct Posted(Vec<(String, String)>);

impl Posted {
    fn parse(body: &[u8]) -> Self {
        Posted(url::form_urlencoded::parse(body).into_owned().collect())
    }
    fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    fn on(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn count(&self, name: &str) -> usize {
        self.get(name).trim().parse::<usize>().unwrap_or(0).min(200)
    }
}

fn lines(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join_lines(items: &[String]) -> String {
    items.join("\n")
}

fn check(on: bool) -> String {
    if on { "on".into() } else { String::new() }
}

/// A serde enum's name, e.g. `Tone::Friendly` → `friendly`.
fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn parse_enum<T: serde::de::DeserializeOwned>(raw: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(raw.trim().to_owned())).ok()
}

/// Every simple field of the document, as the forms show it.
fn values_of(s: &AssistantSettings) -> Vec<(&'static str, String)> {
    let p = &s.personality;
    let h = &s.strategy.hand_off;
    let g = &s.guardrails;
    let m = &s.model;
    vec![
        ("instructions", s.instructions.clone()),
        ("personality.assistant_name", p.assistant_name.clone()),
        ("personality.tone", enum_name(&p.tone)),
        ("personality.emoji", check(p.emoji)),
        ("personality.max_len", p.max_len.to_string()),
        ("formality", enum_name(&s.formality)),
        ("language", s.language.clone()),
        ("hand_off.on_human_request", check(h.on_human_request)),
        ("hand_off.on_abuse", check(h.on_abuse)),
        (
            "hand_off.on_unanswered_question",
            check(h.on_unanswered_question),
        ),
        ("hand_off.max_misses", h.max_misses.to_string()),
        ("hand_off.keywords", join_lines(&h.keywords)),
        ("guardrails.banned_phrases", join_lines(&g.banned_phrases)),
        ("guardrails.banned_topics", join_lines(&g.banned_topics)),
        ("guardrails.allow_links", check(g.allow_links)),
        ("guardrails.link_domains", join_lines(&g.link_domains)),
        ("guardrails.may_quote_prices", check(g.may_quote_prices)),
        ("guardrails.may_promise", check(g.may_promise)),
        ("guardrails.ai_disclosure", g.ai_disclosure.clone()),
        ("guardrails.disclosure", enum_name(&g.disclosure)),
        ("model.engine", m.engine.as_str().to_owned()),
        ("model.model", m.model.clone()),
        ("model.base_url", m.base_url.clone().unwrap_or_default()),
        ("model.temperature", m.temperature.to_string()),
        (
            "model.monthly_token_budget",
            m.monthly_token_budget.to_string(),
        ),
    ]
}

// ---- the list editors' rows ----

/// One goal of the strategy as the form shows it.
#[derive(Debug, Clone)]
pub struct GoalRow {
    pub name: String,
    pub label: &'static str,
    pub on: bool,
}

const GOALS: [(Goal, &str); 5] = [
    (Goal::Greet, "Greet the lead"),
    (Goal::Qualify, "Qualify: ask the schema's questions"),
    (Goal::Answer, "Answer questions from the knowledge base"),
    (Goal::OfferBooking, "Offer a booking"),
    (Goal::Confirm, "Confirm and wrap up"),
];

/// The enabled goals in their order, then the disabled ones.
fn goal_rows(goals: &[Goal]) -> Vec<GoalRow> {
    let label = |g: Goal| {
        GOALS
            .iter()
            .find(|(x, _)| *x == g)
            .map(|(_, l)| *l)
            .unwrap_or_default()
    };
    let mut rows: Vec<GoalRow> = goals
        .iter()
        .map(|g| GoalRow {
            name: enum_name(g),
            label: label(*g),
            on: true,
        })
        .collect();
    for (g, l) in GOALS {
        if !goals.contains(&g) {
            rows.push(GoalRow {
                name: enum_name(&g),
                label: l,
                on: false,
            });
        }
    }
    rows
}

/// One field of the schema editor, as typed.
#[derive(Debug, Clone, Default)]
pub struct SchemaRow {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub description: String,
    pub ask: String,
    /// Enum values, comma-separated.
    pub values: String,
    /// One line per value: `married: hitched, wed`.
    pub synonyms: String,
    pub min: String,
    pub max: String,
    pub when: String,
    pub max_len: String,
    /// Comma-separated.
    pub hints: String,
    pub error: Option<String>,
}

pub const FIELD_TYPES: [&str; 10] = [
    "text", "number", "money", "date", "enum", "boolean", "email", "phone", "address", "age",
];

impl SchemaRow {
    fn from_raw(f: RawField) -> Self {
        let v = f.validation.unwrap_or_default();
        let num = |x: Option<f64>| x.map(|n| n.to_string()).unwrap_or_default();
        SchemaRow {
            name: f.name,
            kind: f.kind,
            required: f.required,
            description: f.description,
            ask: f.ask.unwrap_or_default(),
            values: f.values.join(", "),
            synonyms: f
                .synonyms
                .iter()
                .map(|(value, words)| format!("{value}: {}", words.join(", ")))
                .collect::<Vec<_>>()
                .join("\n"),
            min: num(v.min),
            max: num(v.max),
            when: v.when.map(|w| enum_name(&w)).unwrap_or_default(),
            max_len: v.max_len.map(|n| n.to_string()).unwrap_or_default(),
            hints: f.hints.join(", "),
            error: None,
        }
    }

    fn posted(p: &Posted, i: usize) -> Self {
        let g = |k: &str| p.get(&format!("s{i}.{k}"));
        SchemaRow {
            name: g("name"),
            kind: g("type"),
            required: p.on(&format!("s{i}.required")),
            description: g("description"),
            ask: g("ask"),
            values: g("values"),
            synonyms: g("synonyms"),
            min: g("min"),
            max: g("max"),
            when: g("when"),
            max_len: g("max_len"),
            hints: g("hints"),
            error: None,
        }
    }

    /// The parser's input for this row; a number that does not read is this row's error.
    fn to_raw(&self) -> Result<RawField, String> {
        let number = |label: &str, raw: &str| -> Result<Option<f64>, String> {
            match raw.trim() {
                "" => Ok(None),
                t => t
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(Some)
                    .ok_or_else(|| format!("The {label} must be a number.")),
            }
        };
        let max_len = match self.max_len.trim() {
            "" => None,
            t => Some(
                t.parse::<usize>()
                    .map_err(|_| "The longest length must be a whole number.".to_owned())?,
            ),
        };
        let when = match self.when.trim() {
            "" => None,
            w => Some(parse_enum::<When>(w).ok_or("Choose past or future for the date.")?),
        };
        let validation = Validation {
            min: number("lowest value", &self.min)?,
            max: number("highest value", &self.max)?,
            when,
            max_len,
        };
        let mut synonyms = BTreeMap::new();
        for line in self.synonyms.lines().filter(|l| !l.trim().is_empty()) {
            let Some((value, words)) = line.split_once(':') else {
                return Err(format!(
                    "Write synonyms as 'value: word, word' (the line '{}' has no colon).",
                    line.trim()
                ));
            };
            synonyms.insert(
                value.trim().to_owned(),
                words
                    .split(',')
                    .map(str::trim)
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        let ask = self.ask.trim();
        Ok(RawField {
            name: self.name.trim().to_owned(),
            kind: self.kind.trim().to_owned(),
            description: self.description.trim().to_owned(),
            required: self.required,
            ask: (!ask.is_empty()).then(|| ask.to_owned()),
            values: self
                .values
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect(),
            synonyms,
            validation: (validation != Validation::default()).then_some(validation),
            hints: lines(&self.hints),
        })
    }
}

/// The rows the editor starts from: the inline schema, else the industry template in force.
fn schema_rows(settings: &AssistantSettings, profile_industry: &str) -> (Vec<SchemaRow>, String) {
    if let Some(raw) = &settings.schema {
        if let Ok(fields) = serde_json::from_value::<Vec<RawField>>(raw.clone()) {
            return (
                fields.into_iter().map(SchemaRow::from_raw).collect(),
                "Your own schema.".to_owned(),
            );
        }
        return (
            Vec::new(),
            "The saved schema could not be read; start again from a template.".to_owned(),
        );
    }
    let industry = settings
        .industry
        .as_deref()
        .unwrap_or(profile_industry)
        .parse::<Industry>()
        .unwrap_or(Industry::Generic);
    (
        template_rows(industry),
        format!(
            "The {} template, unchanged. Saving stores your own copy.",
            industry.as_str().replace('_', " ")
        ),
    )
}

fn template_rows(industry: Industry) -> Vec<SchemaRow> {
    industry
        .schema()
        .fields
        .into_iter()
        .map(|f| SchemaRow::from_raw(RawField::from(f)))
        .collect()
}

/// Checks each row with the field parser, then the whole list with the schema parser, and puts
/// each message on the row it is about. Returns the inline schema when everything reads.
fn build_schema(rows: &mut [SchemaRow]) -> Option<serde_json::Value> {
    let mut raws = Vec::with_capacity(rows.len());
    for row in rows.iter_mut() {
        match row.to_raw() {
            Ok(raw) => {
                if let Err(e) = FieldSpec::parse(raw.clone()) {
                    row.error = Some(e.to_string());
                }
                raws.push(raw);
            }
            Err(e) => row.error = Some(e),
        }
    }
    if rows.iter().any(|r| r.error.is_some()) {
        return None;
    }
    let value = serde_json::to_value(&raws).ok()?;
    let text = serde_json::to_string(&value).ok()?;
    if let Err(e) = ExtractionSchema::from_yaml(&text) {
        // Whole-list problems (a repeated name) belong to the row that repeats it.
        let repeated = rows
            .iter()
            .enumerate()
            .rposition(|(i, r)| rows[..i].iter().any(|o| o.name.trim() == r.name.trim()));
        match (repeated, rows.last_mut()) {
            (Some(i), _) => {
                if let Some(r) = rows.get_mut(i) {
                    r.error = Some(e.message);
                }
            }
            (None, Some(last)) => last.error = Some(e.message),
            (None, None) => {}
        }
        return None;
    }
    Some(value)
}

/// One knowledge document as the form shows it.
#[derive(Debug, Clone, Default)]
pub struct DocRow {
    pub title: String,
    pub text: String,
    pub source_url: String,
}

/// One version in the history.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: i64,
    pub who: String,
    pub at: String,
    pub current: bool,
}

/// "Dana Owner", "API key ci", "system": who saved a version, for people.
pub(crate) async fn actor_names(
    state: &AppState,
    account: AccountId,
) -> Result<Vec<(String, String)>, AppError> {
    let mut names: Vec<(String, String)> = state
        .store
        .members_of_account(account)
        .await?
        .into_iter()
        .map(|m| (format!("user:{}", m.user_id), m.name))
        .collect();
    names.extend(
        state
            .store
            .list_api_keys(account)
            .await?
            .into_iter()
            .map(|k| (format!("api_key:{}", k.id), format!("API key “{}”", k.name))),
    );
    Ok(names)
}

pub(crate) fn who(names: &[(String, String)], actor: &str) -> String {
    names
        .iter()
        .find(|(a, _)| a == actor)
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| match actor {
            "system" => "System".to_owned(),
            other if other.starts_with("user:") => "A former member".to_owned(),
            other => other.to_owned(),
        })
}

// ---- the page ----

#[derive(Template)]
#[template(path = "app/assistant.html")]
struct AssistantPage {
    chrome: Chrome,
    tab: &'static str,
    form: FormState,
    warning: Option<String>,
    version: Option<i64>,
    goals: Vec<GoalRow>,
    rows: Vec<SchemaRow>,
    schema_note: String,
    template: String,
    qa: Vec<QaEntry>,
    docs: Vec<DocRow>,
    api_key: Option<String>,
    versions: Vec<VersionRow>,
}

impl AssistantPage {
    fn selected(&self, name: &str, option: &str) -> bool {
        self.form.v(name) == option
    }
    fn industries(&self) -> Vec<&'static str> {
        Industry::ALL.iter().map(|i| i.as_str()).collect()
    }
    fn field_types(&self) -> &'static [&'static str] {
        &FIELD_TYPES
    }
    fn tabs(&self) -> Vec<TabLink> {
        tabs()
            .into_iter()
            .map(|(name, label, path)| TabLink {
                label,
                path,
                current: name == self.tab,
            })
            .collect()
    }
    /// Multipart bodies are not read for a form field, so the token rides in the query.
    fn upload_action(&self) -> String {
        format!(
            "/app/assistant/knowledge/documents?csrf={}",
            urlencoding::encode(&self.chrome.csrf)
        )
    }
}

/// The checkboxes of each tab: an unticked one is absent from the post, so a re-rendered form
/// must clear them before laying what was typed over the stored values.
fn checkboxes(tab: &str) -> &'static [&'static str] {
    match tab {
        "personality" => &["personality.emoji"],
        "strategy" => &[
            "hand_off.on_human_request",
            "hand_off.on_abuse",
            "hand_off.on_unanswered_question",
        ],
        "guardrails" => &[
            "guardrails.allow_links",
            "guardrails.may_quote_prices",
            "guardrails.may_promise",
        ],
        _ => &[],
    }
}

/// Whether a field's error is shown on `tab`.
fn on_tab(tab: &str, field: &str) -> bool {
    let prefixes: &[&str] = match tab {
        "personality" => &["instructions", "personality.", "formality", "language"],
        "strategy" => &["strategy.", "hand_off."],
        "guardrails" => &["guardrails."],
        "schema" => &["schema", "industry"],
        "knowledge" => &["knowledge", "documents", "doc_"],
        "model" => &["model.", "api_key"],
        _ => &[],
    };
    prefixes.iter().any(|p| field.starts_with(p))
}

/// Lays what was typed over the stored values.
fn keep_typed(form: &mut FormState, tab: &str, typed: Vec<(String, String)>) {
    if typed.is_empty() {
        return;
    }
    for name in checkboxes(tab) {
        form.values.insert((*name).to_owned(), String::new());
    }
    form.values.extend(typed);
}

const TABS: [&str; 7] = [
    "personality",
    "strategy",
    "guardrails",
    "schema",
    "knowledge",
    "model",
    "versions",
];

fn tab_path(tab: &str) -> String {
    match tab {
        "personality" => "/app/assistant".to_owned(),
        other => format!("/app/assistant/{other}"),
    }
}

/// The page for `tab`, from the stored document.
async fn page_for(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    tab: &'static str,
    notice: Option<&str>,
) -> Result<AssistantPage, AppError> {
    let loaded = load(state, ctx.account.id).await?;
    let s = &loaded.settings;
    let (rows, schema_note) = schema_rows(s, &ctx.account.profile.industry);
    let api_key = state
        .secrets
        .list_masked(ctx.account.id)
        .await?
        .into_iter()
        .find(|m| m.purpose == MODEL_API_KEY_PURPOSE)
        .map(|m| {
            if m.masked.is_empty() {
                "set".to_owned()
            } else {
                m.masked
            }
        });
    let current = loaded.version.as_ref().map(|v| v.version);
    let versions = if tab == "versions" {
        let names = actor_names(state, ctx.account.id).await?;
        state
            .store
            .setting_versions(ctx.account.id, ASSISTANT_SETTINGS, VERSIONS_SHOWN)
            .await?
            .into_iter()
            .map(|v| VersionRow {
                version: v.version,
                who: who(&names, &v.actor),
                at: v.created_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
                current: Some(v.version) == current,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(AssistantPage {
        chrome: Chrome::new(ctx, csrf, "assistant", notice),
        tab,
        form: FormState::with_values(values_of(s)),
        warning: loaded
            .problem
            .map(|e| format!("The saved settings could not be read ({e}); the defaults are shown, and saving replaces them.")),
        version: current,
        goals: goal_rows(&s.strategy.goals),
        rows,
        schema_note,
        template: s
            .industry
            .clone()
            .unwrap_or_else(|| ctx.account.profile.industry.clone()),
        qa: s.knowledge.clone(),
        docs: s
            .documents
            .iter()
            .map(|d| DocRow {
                title: d.title.clone(),
                text: d.text.clone(),
                source_url: d.source_url.clone().unwrap_or_default(),
            })
            .collect(),
        api_key,
        versions,
    })
}

async fn show(
    state: AppState,
    ctx: AccountCtx,
    csrf: CsrfToken,
    tab: &'static str,
    notice: Option<String>,
) -> PageResult {
    Ok(render(
        &page_for(&state, &ctx, &csrf, tab, notice.as_deref()).await?,
    ))
}

pub async fn personality_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    show(state, ctx, csrf.0, "personality", q.notice).await
}

macro_rules! tab_page {
    ($name:ident, $tab:literal) => {
        pub async fn $name(
            State(state): State<AppState>,
            ctx: AccountCtx,
            csrf: axum::Extension<CsrfToken>,
            Query(q): Query<NoticeQuery>,
        ) -> PageResult {
            show(state, ctx, csrf.0, $tab, q.notice).await
        }
    };
}

tab_page!(strategy_page, "strategy");
tab_page!(guardrails_page, "guardrails");
tab_page!(schema_page, "schema");
tab_page!(knowledge_page, "knowledge");
tab_page!(model_page, "model");
tab_page!(versions_page, "versions");

/// Saves `settings` and redirects to the tab, or shows the tab again with the errors and what
/// was typed (`typed` overrides the stored values in the form).
#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    tab: &'static str,
    settings: Result<AssistantSettings, AppError>,
    typed: Vec<(String, String)>,
    edit: impl FnOnce(&mut AssistantPage),
) -> PageResult {
    let result = match settings {
        Ok(s) => {
            save(
                state,
                ctx.account.id,
                ctx.role,
                &ctx.actor(),
                &s,
                serde_json::json!({ "section": tab }),
                None,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            Ok(Redirect::to(&format!("{}?notice=assistant_saved", tab_path(tab))).into_response())
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let mut page = page_for(state, ctx, csrf, tab, None).await?;
            keep_typed(&mut page.form, tab, typed);
            page.form = std::mem::take(&mut page.form).fail(&e);
            // A problem in another section (possible after a restore or an API write) is named
            // in the message, since no field of this tab can carry it.
            let elsewhere: Vec<&str> = e
                .fields
                .iter()
                .filter(|f| !on_tab(tab, &f.field))
                .map(|f| f.message.as_str())
                .collect();
            if !elsewhere.is_empty() {
                page.form.message = Some(format!(
                    "Some settings need attention: {}",
                    elsewhere.join(" ")
                ));
            }
            edit(&mut page);
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// Posted pairs without the CSRF token and the buttons, to keep on the form.
fn typed(p: &Posted) -> Vec<(String, String)> {
    p.0.iter()
        .filter(|(k, _)| k != "csrf" && k != "op")
        .cloned()
        .collect()
}

/// Reads a number field, or records why it does not read.
fn number<T: std::str::FromStr>(
    p: &Posted,
    name: &str,
    message: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match p.get(name).trim().parse::<T>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError {
                field: name.to_owned(),
                message: message.to_owned(),
            });
            None
        }
    }
}

fn field_errors(errors: Vec<FieldError>) -> Result<(), AppError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::validation(
            "Some assistant settings need attention.",
            errors,
        ))
    }
}

// ---- instructions and personality ----

pub async fn personality_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let p = Posted::parse(&body);
    let mut s = load(&state, ctx.account.id).await?.settings;
    let mut errors = Vec::new();
    s.instructions = p.get("instructions").trim().to_owned();
    s.personality.assistant_name = p.get("personality.assistant_name").trim().to_owned();
    match parse_enum::<Tone>(&p.get("personality.tone")) {
        Some(t) => s.personality.tone = t,
        None => errors.push(FieldError {
            field: "personality.tone".into(),
            message: "Choose friendly, professional or casual.".into(),
        }),
    }
    match parse_enum::<Formality>(&p.get("formality")) {
        Some(f) => s.formality = f,
        None => errors.push(FieldError {
            field: "formality".into(),
            message: "Choose casual, neutral or formal.".into(),
        }),
    }
    s.personality.emoji = p.on("personality.emoji");
    if let Some(n) = number::<usize>(
        &p,
        "personality.max_len",
        "Reply length must be a whole number of characters.",
        &mut errors,
    ) {
        s.personality.max_len = n;
    }
    s.language = p.get("language").trim().to_owned();
    let settings = field_errors(errors).map(|()| s);
    finish(
        &state,
        &ctx,
        &csrf,
        "personality",
        settings,
        typed(&p),
        |_| {},
    )
    .await
}

// ---- strategy and hand-off ----

pub async fn strategy_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let p = Posted::parse(&body);
    let mut s = load(&state, ctx.account.id).await?.settings;
    let mut errors = Vec::new();
    // Every goal row posts its name in order; the checked ones are on.
    let mut order: Vec<String> = p.all("goal_order");
    if let Some(op) = p.get("op").strip_prefix("up:") {
        if let Ok(i) = op.parse::<usize>()
            && i > 0
            && i < order.len()
        {
            order.swap(i, i - 1);
        }
    } else if let Some(op) = p.get("op").strip_prefix("down:")
        && let Ok(i) = op.parse::<usize>()
        && i + 1 < order.len()
    {
        order.swap(i, i + 1);
    }
    let enabled = p.all("goal");
    let rows: Vec<GoalRow> = order
        .iter()
        .filter_map(|name| {
            let goal = parse_enum::<Goal>(name)?;
            let label = GOALS.iter().find(|(g, _)| *g == goal)?.1;
            Some(GoalRow {
                name: name.clone(),
                label,
                on: enabled.contains(name),
            })
        })
        .collect();
    let goals: Vec<Goal> = rows
        .iter()
        .filter(|r| r.on)
        .filter_map(|r| parse_enum::<Goal>(&r.name))
        .collect();
    let moving = p.get("op") != "save" && !p.get("op").is_empty();
    if goals.is_empty() {
        errors.push(FieldError {
            field: "strategy.goals".into(),
            message: "Turn on at least one goal.".into(),
        });
    }
    s.strategy.goals = goals;
    let h = &mut s.strategy.hand_off;
    h.on_human_request = p.on("hand_off.on_human_request");
    h.on_abuse = p.on("hand_off.on_abuse");
    h.on_unanswered_question = p.on("hand_off.on_unanswered_question");
    match p.get("hand_off.max_misses").trim().parse::<u8>() {
        Ok(n) if n <= 10 => h.max_misses = n,
        _ => errors.push(FieldError {
            field: "hand_off.max_misses".into(),
            message: "Use a whole number from 0 (never) to 10.".into(),
        }),
    }
    h.keywords = lines(&p.get("hand_off.keywords"));
    if moving {
        // Reordering only re-renders; nothing is stored until Save.
        let mut page = page_for(&state, &ctx, &csrf, "strategy", None).await?;
        keep_typed(&mut page.form, "strategy", typed(&p));
        page.goals = rows;
        return Ok(render(&page));
    }
    let settings = field_errors(errors).map(|()| s);
    finish(
        &state,
        &ctx,
        &csrf,
        "strategy",
        settings,
        typed(&p),
        |page| page.goals = rows,
    )
    .await
}

// ---- guardrails ----

pub async fn guardrails_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let p = Posted::parse(&body);
    let mut s = load(&state, ctx.account.id).await?.settings;
    let mut errors = Vec::new();
    let g = &mut s.guardrails;
    g.banned_phrases = lines(&p.get("guardrails.banned_phrases"));
    g.banned_topics = lines(&p.get("guardrails.banned_topics"));
    g.allow_links = p.on("guardrails.allow_links");
    g.link_domains = lines(&p.get("guardrails.link_domains"));
    g.may_quote_prices = p.on("guardrails.may_quote_prices");
    g.may_promise = p.on("guardrails.may_promise");
    g.ai_disclosure = p.get("guardrails.ai_disclosure").trim().to_owned();
    match parse_enum::<DisclosureWhen>(&p.get("guardrails.disclosure")) {
        Some(d) => g.disclosure = d,
        None => errors.push(FieldError {
            field: "guardrails.disclosure".into(),
            message: "Choose when the disclosure line is sent.".into(),
        }),
    }
    let settings = field_errors(errors).map(|()| s);
    finish(
        &state,
        &ctx,
        &csrf,
        "guardrails",
        settings,
        typed(&p),
        |_| {},
    )
    .await
}

// ---- extraction schema ----

pub async fn schema_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let p = Posted::parse(&body);
    let mut rows: Vec<SchemaRow> = (0..p.count("rows"))
        .map(|i| SchemaRow::posted(&p, i))
        .collect();
    let op = p.get("op");
    let index = |prefix: &str| {
        op.strip_prefix(prefix)
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < rows.len())
    };
    let mut note = None;
    if op == "add" {
        rows.push(SchemaRow {
            kind: "text".into(),
            ..SchemaRow::default()
        });
    } else if op == "template" {
        match p.get("template").parse::<Industry>() {
            Ok(industry) => {
                rows = template_rows(industry);
                note = Some(format!(
                    "The {} template is loaded. Edit it, then save.",
                    industry.as_str().replace('_', " ")
                ));
            }
            Err(e) => note = Some(e.to_string()),
        }
    } else if let Some(i) = index("remove:") {
        rows.remove(i);
    } else if let Some(i) = index("up:").filter(|i| *i > 0) {
        rows.swap(i, i - 1);
    } else if let Some(i) = index("down:").filter(|i| i + 1 < rows.len()) {
        rows.swap(i, i + 1);
    } else if op == "save" || op.is_empty() {
        let mut s = load(&state, ctx.account.id).await?.settings;
        let settings = match build_schema(&mut rows) {
            Some(schema) => {
                s.schema = Some(schema);
                Ok(s)
            }
            None => Err(AppError::validation(
                "Some fields of the schema need attention.",
                vec![FieldError {
                    field: "schema".into(),
                    message: "Fix the fields marked below.".into(),
                }],
            )),
        };
        let template = p.get("template");
        return finish(
            &state,
            &ctx,
            &csrf,
            "schema",
            settings,
            Vec::new(),
            move |page| {
                page.rows = rows;
                page.template = template;
            },
        )
        .await;
    }
    // Editing the list only re-renders it; nothing is stored until Save.
    let mut page = page_for(&state, &ctx, &csrf, "schema", None).await?;
    page.rows = rows;
    page.template = p.get("template");
    page.schema_note = note.unwrap_or_else(|| "Unsaved changes: save to keep them.".to_owned());
    Ok(render(&page))
}

// ---- knowledge ----

pub async fn knowledge_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let p = Posted::parse(&body);
    let mut qa: Vec<QaEntry> = (0..p.count("qa_rows"))
        .map(|i| QaEntry {
            q: p.get(&format!("q{i}")).trim().to_owned(),
            a: p.get(&format!("a{i}")).trim().to_owned(),
        })
        .collect();
    let mut docs: Vec<DocRow> = (0..p.count("doc_rows"))
        .map(|i| DocRow {
            title: p.get(&format!("d{i}.title")).trim().to_owned(),
            text: p.get(&format!("d{i}.text")),
            source_url: p.get(&format!("d{i}.source_url")),
        })
        .collect();
    let op = p.get("op");
    let index = |prefix: &str, len: usize| {
        op.strip_prefix(prefix)
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < len)
    };
    if op == "save" || op.is_empty() {
        let mut s = load(&state, ctx.account.id).await?.settings;
        // A blank row left over from "add" is not an entry.
        s.knowledge = qa
            .iter()
            .filter(|e| !(e.q.is_empty() && e.a.is_empty()))
            .cloned()
            .collect();
        s.documents = docs
            .iter()
            .map(|d| KnowledgeDocument {
                title: d.title.clone(),
                text: d.text.trim().to_owned(),
                source_url: Some(d.source_url.trim().to_owned()).filter(|u| !u.is_empty()),
            })
            .collect();
        return finish(
            &state,
            &ctx,
            &csrf,
            "knowledge",
            Ok(s),
            Vec::new(),
            move |page| {
                page.qa = qa;
                page.docs = docs;
            },
        )
        .await;
    }
    if op == "add_qa" {
        qa.push(QaEntry {
            q: String::new(),
            a: String::new(),
        });
    } else if let Some(i) = index("remove_qa:", qa.len()) {
        qa.remove(i);
    } else if let Some(i) = index("remove_doc:", docs.len()) {
        docs.remove(i);
    }
    let mut page = page_for(&state, &ctx, &csrf, "knowledge", None).await?;
    page.qa = qa;
    page.docs = docs;
    page.form.message = None;
    Ok(render(&page))
}

/// One part of a `multipart/form-data` body: its field name, file name and bytes.
struct UploadPart {
    name: String,
    filename: Option<String>,
    data: Vec<u8>,
}

/// Reads the parts of a small multipart body (the document upload form).
fn upload_parts(content_type: &str, body: &[u8]) -> Option<Vec<UploadPart>> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let marker = format!("--{boundary}");
    let marker = marker.as_bytes();
    let mut parts = Vec::new();
    let mut chunks = split_bytes(body, marker).into_iter().skip(1);
    for chunk in chunks.by_ref() {
        if chunk.starts_with(b"--") {
            break;
        }
        let chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        let chunk = chunk.strip_suffix(b"\r\n").unwrap_or(chunk);
        let split = chunk.windows(4).position(|w| w == b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&chunk[..split]);
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let param = |key: &str| {
            disposition.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == key).then(|| v.trim_matches('"').to_owned())
            })
        };
        parts.push(UploadPart {
            name: param("name").unwrap_or_default(),
            filename: param("filename"),
            data: chunk[split + 4..].to_vec(),
        });
    }
    Some(parts)
}

fn split_bytes<'a>(body: &'a [u8], marker: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.windows(marker.len()).position(|w| w == marker) {
        out.push(&rest[..at]);
        rest = &rest[at + marker.len()..];
    }
    out.push(rest);
    out
}

/// Adds a document: pasted text or Markdown, or an uploaded `.txt`/`.md` file.
pub async fn document_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (mut title, mut text, mut file) = (String::new(), String::new(), None);
    if content_type.starts_with("multipart/form-data") {
        let parts = upload_parts(content_type, &body)
            .ok_or_else(|| AppError::bad_request("The upload could not be read. Try again."))?;
        for part in parts {
            match (part.name.as_str(), part.filename) {
                ("file", Some(name)) if !part.data.is_empty() => file = Some((name, part.data)),
                ("title", _) => title = String::from_utf8_lossy(&part.data).into_owned(),
                ("text", _) => text = String::from_utf8_lossy(&part.data).into_owned(),
                _ => {}
            }
        }
    } else {
        let p = Posted::parse(&body);
        title = p.get("doc_title");
        text = p.get("doc_text");
    }
    let mut errors = Vec::new();
    if let Some((name, data)) = file {
        let lower = name.to_ascii_lowercase();
        if !(lower.ends_with(".txt") || lower.ends_with(".md") || lower.ends_with(".markdown")) {
            errors.push(FieldError {
                field: "doc_file".into(),
                message: "Upload a .txt or .md file (for a PDF, paste its text).".into(),
            });
        } else {
            match String::from_utf8(data) {
                Ok(t) => text = t,
                Err(_) => errors.push(FieldError {
                    field: "doc_file".into(),
                    message: "The file is not UTF-8 text.".into(),
                }),
            }
            if title.trim().is_empty() {
                let stem = name.rsplit(['/', '\\']).next().unwrap_or(&name);
                title = stem.rsplit_once('.').map_or(stem, |(s, _)| s).to_owned();
            }
        }
    }
    if text.len() > MAX_DOCUMENT_BYTES {
        errors.push(FieldError {
            field: "doc_text".into(),
            message: "A document is limited to 256 KB of text; split it into several.".into(),
        });
    } else if text.trim().is_empty() && errors.is_empty() {
        errors.push(FieldError {
            field: "doc_text".into(),
            message: "Paste some text or choose a file.".into(),
        });
    }
    if title.trim().is_empty() {
        errors.push(FieldError {
            field: "doc_title".into(),
            message: "Give the document a title.".into(),
        });
    }
    let mut s = load(&state, ctx.account.id).await?.settings;
    s.documents.push(KnowledgeDocument {
        title: title.trim().chars().take(200).collect(),
        text: text.trim().to_owned(),
        source_url: None,
    });
    let settings = field_errors(errors).map(|()| s);
    // The document's text is kept on the form; an uploaded file has to be chosen again.
    let kept = vec![
        ("doc_title".to_owned(), title),
        ("doc_text".to_owned(), text),
    ];
    finish(&state, &ctx, &csrf, "knowledge", settings, kept, |_| {}).await
}

// ---- website import ----

/// Starts importing the website typed into `import_url`; a refused address is shown next to
/// the field with what was typed.
pub async fn import_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let p = Posted::parse(&body);
    let typed_url = p.get("import_url");
    match knowledge_import::start(&state, ctx.account.id, ctx.role, &ctx.actor(), &typed_url).await
    {
        Ok(id) => {
            Ok(Redirect::to(&format!("/app/assistant/knowledge/import/{id}")).into_response())
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let mut page = page_for(&state, &ctx, &csrf, "knowledge", None).await?;
            page.form.values.insert("import_url".into(), typed_url);
            let message = e.field_message("url").unwrap_or(&e.message).to_owned();
            page.form.errors.insert("import_url".into(), message);
            page.form.message = Some("The website could not be imported.".into());
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// An import as its page shows it.
pub struct ImportView {
    pub id: String,
    pub url: String,
    pub finished: bool,
    pub failure: Option<String>,
    pub fetched: usize,
    pub failed: usize,
    pub queued: usize,
    /// Title and address of each imported page.
    pub pages: Vec<(String, String)>,
    /// "http://…: refused: the address 10.0.0.5 is private".
    pub errors: Vec<String>,
    pub skipped: usize,
    pub version: Option<i64>,
}

impl From<ImportStatus> for ImportView {
    fn from(s: ImportStatus) -> Self {
        let mut view = ImportView {
            id: s.id,
            url: s.url,
            finished: true,
            failure: None,
            fetched: 0,
            failed: 0,
            queued: 0,
            pages: Vec::new(),
            errors: Vec::new(),
            skipped: 0,
            version: None,
        };
        match s.state {
            ImportState::Running(p) => {
                view.finished = false;
                (view.fetched, view.failed, view.queued) = (p.fetched, p.failed, p.queued);
            }
            ImportState::Done(o) => {
                view.pages = o
                    .pages
                    .iter()
                    .map(|p| (p.title.clone(), p.url.clone()))
                    .collect();
                view.errors = o
                    .failures
                    .iter()
                    .map(|f| format!("{}: {}", f.url, f.error))
                    .collect();
                view.skipped = o.skipped_assets;
                view.version = o.version;
            }
            ImportState::Failed(why) => view.failure = Some(why),
        }
        view
    }
}

#[derive(Template)]
#[template(path = "app/assistant_import.html")]
struct ImportPage {
    chrome: Chrome,
    view: ImportView,
}

#[derive(Template)]
#[template(path = "app/assistant_import_partial.html")]
struct ImportPartial {
    view: ImportView,
}

pub async fn import_page(
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
) -> PageResult {
    let view = knowledge_import::status(ctx.account.id, &id)?.into();
    Ok(render(&ImportPage {
        chrome: Chrome::new(&ctx, &csrf, "assistant", None),
        view,
    }))
}

/// The progress region of a running import, polled by `/static/poll.js`.
pub async fn import_progress(ctx: AccountCtx, Path(id): Path<String>) -> PageResult {
    let view = knowledge_import::status(ctx.account.id, &id)?.into();
    Ok(render(&ImportPartial { view }))
}

// ---- model ----

pub async fn model_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: Bytes,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let p = Posted::parse(&body);
    let mut s = load(&state, ctx.account.id).await?.settings;
    let mut errors = Vec::new();
    let m = &mut s.model;
    match p.get("model.engine").parse::<EngineKind>() {
        Ok(e) => m.engine = e,
        Err(e) => errors.push(FieldError {
            field: "model.engine".into(),
            message: e,
        }),
    }
    m.model = p.get("model.model").trim().to_owned();
    let base_url = p.get("model.base_url").trim().to_owned();
    m.base_url = (!base_url.is_empty()).then_some(base_url);
    if let Some(t) = number::<f32>(
        &p,
        "model.temperature",
        "Temperature must be a number between 0 and 1.",
        &mut errors,
    ) {
        m.temperature = t;
    }
    if let Some(b) = number::<u64>(
        &p,
        "model.monthly_token_budget",
        "The budget must be a whole number of tokens (0 for no limit).",
        &mut errors,
    ) {
        m.monthly_token_budget = b;
    }
    let key = p.get("api_key").trim().to_owned();
    let has_key = state
        .secrets
        .list_masked(ctx.account.id)
        .await
        .map_err(AppError::from)?
        .iter()
        .any(|k| k.purpose == MODEL_API_KEY_PURPOSE);
    if matches!(m.engine, EngineKind::OpenAi | EngineKind::Anthropic) && key.is_empty() && !has_key
    {
        errors.push(FieldError {
            field: "api_key".into(),
            message: "This engine needs an API key.".into(),
        });
    }
    let engine = m.engine;
    // The key is never put back on the form: it is typed again or not at all.
    let kept: Vec<(String, String)> = typed(&p)
        .into_iter()
        .filter(|(k, _)| k != "api_key")
        .collect();
    let settings = field_errors(errors).map(|()| s);
    let saved = settings.is_ok();
    let response = finish(&state, &ctx, &csrf, "model", settings, kept, |_| {}).await?;
    if saved && response.status().is_redirection() && !key.is_empty() {
        state
            .secrets
            .put(
                ctx.account.id,
                MODEL_API_KEY_PURPOSE,
                &SecretString::from(key),
                &ctx.actor(),
            )
            .await
            .map_err(AppError::from)?;
        tracing::info!(account = %ctx.account.id, engine = engine.as_str(), "model API key stored");
    }
    Ok(response)
}

pub async fn model_key_remove(State(state): State<AppState>, ctx: AccountCtx) -> PageResult {
    ctx.require(Role::Admin)?;
    match state
        .secrets
        .delete(ctx.account.id, MODEL_API_KEY_PURPOSE, &ctx.actor())
        .await
    {
        Ok(()) | Err(leadline_app::SecretError::NotFound) => {}
        Err(e) => return Err(AppError::from(e).into()),
    }
    Ok(Redirect::to("/app/assistant/model?notice=assistant_key_removed").into_response())
}

// ---- versions ----

#[derive(Template)]
#[template(path = "app/assistant_version.html")]
struct VersionPage {
    chrome: Chrome,
    version: i64,
    current: bool,
    who: String,
    at: String,
    document: String,
}

pub async fn version_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(number): Path<i64>,
) -> PageResult {
    let (found, settings) = version(&state, ctx.account.id, number).await?;
    let current = latest_version(&state, ctx.account.id)
        .await?
        .map(|v| v.version);
    let names = actor_names(&state, ctx.account.id).await?;
    Ok(render(&VersionPage {
        chrome: Chrome::new(&ctx, &csrf, "assistant", None),
        version: found.version,
        current: current == Some(found.version),
        who: who(&names, &found.actor),
        at: found.created_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        document: serde_json::to_string_pretty(&settings).map_err(AppError::internal)?,
    }))
}

/// Saves an old version as the newest one; the history itself is never rewritten.
pub async fn version_restore(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(number): Path<i64>,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let (_, settings) = version(&state, ctx.account.id, number).await?;
    save(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        &settings,
        serde_json::json!({ "section": "restore", "restored_version": number }),
        None,
    )
    .await?;
    Ok(Redirect::to("/app/assistant/versions?notice=assistant_restored").into_response())
}

/// One tab of the page's navigation.
pub struct TabLink {
    pub label: &'static str,
    pub path: String,
    pub current: bool,
}

/// The tabs: name, label and address.
fn tabs() -> [(&'static str, &'static str, String); 7] {
    let label = |t: &str| match t {
        "personality" => "Instructions & personality",
        "strategy" => "Strategy & hand-off",
        "guardrails" => "Guardrails",
        "schema" => "Extraction schema",
        "knowledge" => "Knowledge",
        "model" => "Model",
        _ => "Versions",
    };
    TABS.map(|t| (t, label(t), tab_path(t)))
}
