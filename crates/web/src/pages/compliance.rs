//! The compliance settings page: the account's own quiet hours (tighter than the law, at the
//! subscriber's discretion), the legal floor that applies regardless, explicit, acknowledged
//! relaxations that only an owner can make, and the versioned consent text (`consent_text`).

use super::{Chrome, FormState, NoticeQuery, PageResult, render, render_status};
use crate::auth::AccountCtx;
use crate::consent_text::{self, StoredConsentText};
use crate::csrf::CsrfToken;
use crate::services::{self, ComplianceSettingsInput, ComplianceSettingsView};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};

/// The words an owner accepts by ticking the box; recorded verbatim in the audit log.
pub const ACKNOWLEDGMENT: &str = "I am the account owner and I accept responsibility for relaxing these legal rules for replies in conversations the lead started.";

#[derive(Template)]
#[template(path = "app/compliance.html")]
struct CompliancePage {
    chrome: Chrome,
    view: ComplianceSettingsView,
    suppressed: Vec<String>,
    suppress_form: FormState,
    bulk_form: FormState,
    log: Vec<LogRow>,
    form: FormState,
    checked: Vec<String>,
    acknowledgment: &'static str,
    consent: ConsentSection,
}

/// The consent text section: the version in force, the ones before it, and the form for the next.
pub struct ConsentSection {
    pub current: Option<ConsentVersionRow>,
    pub warnings: Vec<String>,
    pub earlier: Vec<ConsentVersionRow>,
    /// What the box holds: the current text, or what was typed when a save was refused.
    pub text: String,
    /// The version the edit is based on (0 while none is set), sent back as a hidden field.
    pub based_on: i64,
    pub errors: Vec<String>,
    pub message: Option<String>,
    /// A starting point naming the business, shown as the empty box's placeholder (never saved).
    pub example: String,
    pub max_chars: usize,
}

pub struct ConsentVersionRow {
    pub version: i64,
    pub who: String,
    pub at: String,
    pub sha256: String,
    pub short_sha: String,
    pub text: String,
}

/// How many earlier consent text versions the page lists under the current one.
const CONSENT_VERSIONS_SHOWN: u32 = 6;

/// A refused consent text save, shown again with what was typed.
struct ConsentForm {
    text: String,
    errors: Vec<String>,
    /// Set when the save was refused because someone saved a newer version meanwhile.
    stale_from: Option<i64>,
    message: Option<String>,
}

/// The forms of the page that can come back refused, each keeping what was typed; the others
/// show the stored values.
#[derive(Default)]
struct Forms {
    settings: Option<(FormState, Vec<String>)>,
    suppress: FormState,
    bulk: FormState,
    consent: Option<ConsentForm>,
}

/// One consent or opt-out event in the log.
pub struct LogRow {
    pub at: String,
    pub phone: String,
    pub kind: String,
    pub source: String,
}

/// How many events the opt-out log shows.
const LOG_ROWS: u32 = 50;

async fn log(state: &AppState, ctx: &AccountCtx) -> Result<Vec<LogRow>, crate::AppError> {
    let (zone, _) = crate::messaging::account_zone(&ctx.account);
    Ok(state
        .store
        .recent_compliance_events(ctx.account.id, LOG_ROWS)
        .await?
        .into_iter()
        .map(|e| LogRow {
            at: crate::messaging::local_minute(e.at, &zone),
            phone: e.phone.to_string(),
            // Lower case: the log's rows read as a sentence after the number.
            kind: super::lead_panel::event_label(e.kind).to_lowercase(),
            source: e.source,
        })
        .collect())
}

async fn consent_section(
    state: &AppState,
    ctx: &AccountCtx,
    refused: Option<ConsentForm>,
) -> Result<ConsentSection, crate::AppError> {
    let (zone, _) = crate::messaging::account_zone(&ctx.account);
    let business = &ctx.account.profile.business_name;
    let mut versions = consent_text::recent(state, ctx.account.id, CONSENT_VERSIONS_SHOWN).await?;
    let names = if versions.is_empty() {
        Vec::new()
    } else {
        super::assistant::actor_names(state, ctx.account.id).await?
    };
    let row = |v: StoredConsentText| {
        let sha256 = v.sha256();
        ConsentVersionRow {
            version: v.version,
            who: super::assistant::who(&names, &v.actor),
            at: crate::messaging::local_minute(v.saved_at, &zone),
            short_sha: consent_text::short_sha(&sha256).to_owned(),
            sha256,
            text: v.text,
        }
    };
    let current = (!versions.is_empty()).then(|| versions.remove(0)).map(row);
    let earlier = versions.into_iter().map(row).collect();
    let based_on = current.as_ref().map_or(0, |c| c.version);
    let warnings = current
        .as_ref()
        .map(|c| consent_text::warnings(&c.text, business))
        .unwrap_or_default();
    let (text, errors, message) = match refused {
        None => (
            current.as_ref().map(|c| c.text.clone()).unwrap_or_default(),
            Vec::new(),
            None,
        ),
        Some(f) => {
            let message = match f.stale_from {
                Some(from) => Some(format!(
                    "Not saved: someone saved version {based_on} while you were editing version {from}. The text in force is shown above and yours is kept below; save again to replace it."
                )),
                None => f.message,
            };
            (f.text, f.errors, message)
        }
    };
    Ok(ConsentSection {
        current,
        warnings,
        earlier,
        text,
        based_on,
        errors,
        message,
        example: leadline_domain::compliance::consent_text::template(business),
        max_chars: leadline_domain::compliance::consent_text::MAX_CHARS,
    })
}

/// The page with the stored settings, except for the forms given (a refused form keeps what
/// was typed).
async fn build(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    notice: Option<&str>,
    forms: Forms,
) -> Result<CompliancePage, crate::AppError> {
    let view = services::compliance_settings(state, ctx.account.id).await?;
    let (form, checked) = forms.settings.unwrap_or_else(|| {
        (
            FormState::with_values([("quiet_hours", view.quiet_hours.clone().unwrap_or_default())]),
            view.relaxations.clone(),
        )
    });
    Ok(CompliancePage {
        chrome: Chrome::new(ctx, csrf, "compliance", notice),
        suppressed: suppressed(state, ctx).await?,
        log: log(state, ctx).await?,
        consent: consent_section(state, ctx, forms.consent).await?,
        view,
        suppress_form: forms.suppress,
        bulk_form: forms.bulk,
        form,
        checked,
        acknowledgment: ACKNOWLEDGMENT,
    })
}

impl CompliancePage {
    fn is_checked(&self, name: &str) -> bool {
        self.checked.iter().any(|c| c == name)
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let page = build(&state, &ctx, &csrf, q.notice.as_deref(), Forms::default()).await?;
    Ok(render(&page))
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: axum::body::Bytes,
) -> PageResult {
    // Checkboxes repeat their name, which a struct form cannot hold; read the pairs.
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let input = ComplianceSettingsInput {
        quiet_hours: field("quiet_hours"),
        relaxations: pairs
            .iter()
            .filter(|(k, _)| k == "relaxation")
            .map(|(_, v)| v.clone())
            .collect(),
        acknowledgment: field("acknowledge").map(|_| ACKNOWLEDGMENT.to_owned()),
    };
    match services::update_compliance_settings(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        &input,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/app/compliance?notice=compliance_saved").into_response()),
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            let form = FormState::with_values([(
                "quiet_hours",
                input.quiet_hours.clone().unwrap_or_default(),
            )])
            .fail(&e);
            let forms = Forms {
                settings: Some((form, input.relaxations)),
                ..Forms::default()
            };
            let page = build(&state, &ctx, &csrf, None, forms).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

async fn suppressed(state: &AppState, ctx: &AccountCtx) -> Result<Vec<String>, crate::AppError> {
    Ok(state
        .store
        .suppression_list(ctx.account.id)
        .await?
        .into_iter()
        .map(String::from)
        .collect())
}

/// Adds a number to the do-not-contact list (any agent), or lifts it (admins).
pub async fn suppression_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    axum::Form(input): axum::Form<services::SuppressionInput>,
) -> PageResult {
    suppression_change(state, ctx, csrf, input, true).await
}

pub async fn suppression_remove(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    axum::Form(input): axum::Form<services::SuppressionInput>,
) -> PageResult {
    suppression_change(state, ctx, csrf, input, false).await
}

async fn suppression_change(
    state: AppState,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    input: services::SuppressionInput,
    suppress: bool,
) -> PageResult {
    match services::set_suppression(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        &input,
        suppress,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(if suppress {
            "/app/compliance?notice=suppressed"
        } else {
            "/app/compliance?notice=unsuppressed"
        })
        .into_response()),
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            let suppress_form = FormState::with_values([
                ("phone", input.phone.clone()),
                ("reason", input.reason.clone().unwrap_or_default()),
            ])
            .fail(&e);
            let forms = Forms {
                suppress: suppress_form,
                ..Forms::default()
            };
            let page = build(&state, &ctx, &csrf, None, forms).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct BulkSuppressionInput {
    #[serde(default)]
    numbers: String,
    #[serde(default)]
    reason: String,
}

/// Most numbers one paste may add.
const BULK_MAX: usize = 1000;

/// Adds every number of a pasted list (one per line, or separated by commas or semicolons) to
/// the do-not-contact list. Nothing is added unless every line reads as a phone number: the
/// lines that do not are listed next to the box, with what was typed kept.
pub async fn suppression_bulk(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    axum::Form(input): axum::Form<BulkSuppressionInput>,
) -> PageResult {
    crate::auth::require_role(ctx.role, leadline_domain::Role::Agent)?;
    let entries: Vec<&str> = input
        .numbers
        .split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let bad: Vec<&str> = entries
        .iter()
        .copied()
        .filter(|l| leadline_domain::E164Phone::parse(l).is_err())
        .collect();
    let problem = if entries.is_empty() {
        Some("needs at least one phone number".to_owned())
    } else if entries.len() > BULK_MAX {
        Some(format!(
            "has {} numbers; add at most {BULK_MAX} at a time",
            entries.len()
        ))
    } else if !bad.is_empty() {
        let shown: Vec<&str> = bad.iter().take(10).copied().collect();
        Some(format!(
            "has {} line{} that {} not a phone number: {}{}",
            bad.len(),
            if bad.len() == 1 { "" } else { "s" },
            if bad.len() == 1 { "is" } else { "are" },
            shown.join(", "),
            if bad.len() > shown.len() { ", …" } else { "" }
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        let e = crate::AppError::field("numbers", problem);
        let bulk_form = FormState::with_values([
            ("numbers", input.numbers.clone()),
            ("reason", input.reason.clone()),
        ])
        .fail(&e);
        let forms = Forms {
            bulk: bulk_form,
            ..Forms::default()
        };
        let page = build(&state, &ctx, &csrf, None, forms).await?;
        return Ok(render_status(e.status, &page));
    }
    let reason = Some(input.reason.trim().to_owned()).filter(|r| !r.is_empty());
    for phone in entries {
        let one = services::SuppressionInput {
            phone: phone.to_owned(),
            reason: reason.clone(),
        };
        services::set_suppression(&state, ctx.account.id, ctx.role, &ctx.actor(), &one, true)
            .await?;
    }
    Ok(Redirect::to("/app/compliance?notice=suppressed_many").into_response())
}

#[derive(serde::Deserialize)]
pub struct ConsentTextInput {
    #[serde(default)]
    text: String,
    /// The version the edit started from (hidden field); empty skips the check.
    #[serde(default)]
    version: String,
}

/// Saves the consent text as a new version (owners and admins), or shows the page again with
/// every broken rule under the box and the typed text kept.
pub async fn consent_text_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    axum::Form(input): axum::Form<ConsentTextInput>,
) -> PageResult {
    ctx.require(leadline_domain::Role::Admin)?;
    let based_on = match input.version.trim() {
        "" => None,
        v => Some(v.parse::<i64>().map_err(|_| {
            crate::AppError::bad_request("The form's version is not a number; reload the page.")
        })?),
    };
    match consent_text::save(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        &input.text,
        based_on,
    )
    .await
    {
        Ok(_) => Ok(
            Redirect::to("/app/compliance?notice=consent_text_saved#consent-text").into_response(),
        ),
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            let stale = e.status == axum::http::StatusCode::CONFLICT;
            let refused = ConsentForm {
                text: input.text,
                errors: e
                    .fields
                    .iter()
                    .filter(|f| f.field == consent_text::FIELD)
                    .map(|f| f.message.clone())
                    .collect(),
                stale_from: stale.then(|| based_on.unwrap_or(0)),
                message: Some(e.message.clone()),
            };
            let forms = Forms {
                consent: Some(refused),
                ..Forms::default()
            };
            let page = build(&state, &ctx, &csrf, None, forms).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}
