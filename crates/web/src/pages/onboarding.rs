//! Onboarding: the guided path after sign-up (business profile → industry template → a channel →
//! quiet hours → the phone simulator → go live), and the checklist the overview shows until it is
//! finished. Whether a step is done is read from the data the step produces, never from clicks,
//! so a subscriber can leave at any point and the stepper resumes at the first unfinished step.
//!
//! "Go live" is the one step stored for its own sake (settings key `onboarding`, `{live_at}`). It
//! needs a provider channel: the sandbox never texts a real phone, so a sandbox-only account
//! stays in test mode, and the page says so instead of pretending otherwise.

use super::{Chrome, FormState, PageResult, render, render_status};
use crate::auth::AccountCtx;
use crate::csrf::CsrfToken;
use crate::error::{AppError, FieldError};
use crate::messaging::{self, SANDBOX_LEAD};
use crate::services::{self, ComplianceSettingsInput};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use jiff::Timestamp;
use leadline_conversation::ASSISTANT_SETTINGS;
use leadline_conversation::Industry;
use leadline_domain::account::ProfileInput;
use leadline_domain::{AccountId, BusinessProfile, Role};
use leadline_engine::COMPLIANCE_SETTINGS;
use leadline_store::{Author, Channel, Direction, MessageStatus, NewAudit};

/// The settings key holding onboarding state that no other data implies: `{live_at}`.
pub const ONBOARDING_SETTINGS: &str = "onboarding";

/// Suggested sending hours, offered until the account saves its own.
const SUGGESTED_HOURS: &str = "mon-fri 09:00-18:00,sat 10:00-14:00";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Profile,
    Industry,
    Channel,
    QuietHours,
    Simulator,
    Live,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Profile,
        Step::Industry,
        Step::Channel,
        Step::QuietHours,
        Step::Simulator,
        Step::Live,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Step::Profile => "profile",
            Step::Industry => "industry",
            Step::Channel => "channel",
            Step::QuietHours => "quiet-hours",
            Step::Simulator => "simulator",
            Step::Live => "live",
        }
    }

    fn parse(slug: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.slug() == slug)
    }

    pub fn title(self) -> &'static str {
        match self {
            Step::Profile => "Business profile",
            Step::Industry => "Industry template",
            Step::Channel => "Connect a channel",
            Step::QuietHours => "Quiet hours",
            Step::Simulator => "Try the assistant",
            Step::Live => "Go live",
        }
    }

    fn blurb(self) -> &'static str {
        match self {
            Step::Profile => "Who the assistant speaks for: your name, phone and what you do.",
            Step::Industry => "The questions the assistant asks every lead.",
            Step::Channel => "A number to text from, or the built-in sandbox to start.",
            Step::QuietHours => "When texts may go out, within the legal windows.",
            Step::Simulator => "Text your assistant as a lead would and read its answer.",
            Step::Live => "Confirm setup is finished once a real number is connected.",
        }
    }
}

/// What an account has done so far, read from its data.
#[derive(Debug, Clone)]
pub struct Progress {
    pub profile: bool,
    pub industry: Option<Industry>,
    /// The assistant settings carry their own field list, which wins over any template.
    pub custom_schema: bool,
    pub sandbox: Option<Channel>,
    pub has_provider: bool,
    pub quiet_hours_saved: bool,
    pub simulator_tried: bool,
    pub live_at: Option<Timestamp>,
}

/// The profile fields the assistant needs to introduce the business and be reached back.
fn profile_complete(p: &BusinessProfile) -> bool {
    !p.business_name.trim().is_empty()
        && !p.agent_name.trim().is_empty()
        && p.phone.is_some()
        && !p.description.trim().is_empty()
}

impl Progress {
    pub async fn load(
        state: &AppState,
        account: AccountId,
        profile: &BusinessProfile,
    ) -> Result<Progress, AppError> {
        let channels = state.store.list_channels(account).await?;
        let assistant = state.store.get_setting(account, ASSISTANT_SETTINGS).await?;
        let industry = assistant
            .as_ref()
            .and_then(|v| v["industry"].as_str())
            .and_then(|s| s.parse::<Industry>().ok());
        let custom_schema = assistant.as_ref().is_some_and(|v| !v["schema"].is_null());
        let quiet_hours_saved = state
            .store
            .get_setting(account, COMPLIANCE_SETTINGS)
            .await?
            .is_some();
        let live_at = state
            .store
            .get_setting(account, ONBOARDING_SETTINGS)
            .await?
            .and_then(|v| v["live_at"].as_str().and_then(|s| s.parse().ok()));
        let sandbox = channels.iter().find(|c| c.provider == "sandbox").cloned();
        let simulator_tried = match &sandbox {
            Some(channel) => assistant_answered(state, account, channel).await?,
            None => false,
        };
        Ok(Progress {
            profile: profile_complete(profile),
            industry,
            custom_schema,
            has_provider: channels
                .iter()
                .any(|c| c.provider != "sandbox" && c.enabled),
            sandbox,
            quiet_hours_saved,
            simulator_tried,
            live_at,
        })
    }

    pub fn is_done(&self, step: Step) -> bool {
        match step {
            Step::Profile => self.profile,
            Step::Industry => self.industry.is_some(),
            Step::Channel => self.sandbox.is_some() || self.has_provider,
            Step::QuietHours => self.quiet_hours_saved,
            Step::Simulator => self.simulator_tried,
            Step::Live => self.live_at.is_some(),
        }
    }

    pub fn first_unfinished(&self) -> Option<Step> {
        Step::ALL.into_iter().find(|s| !self.is_done(*s))
    }

    pub fn complete(&self) -> bool {
        self.first_unfinished().is_none()
    }

    /// Why going live is refused, in words; empty when it is allowed.
    fn live_blockers(&self) -> Vec<String> {
        let mut out: Vec<String> = Step::ALL[..5]
            .iter()
            .filter(|s| !self.is_done(**s))
            .map(|s| format!("finish “{}”", s.title()))
            .collect();
        if !self.has_provider {
            out.push(
                "connect a Twilio, Linq or Blooio number (the sandbox never texts real phones)"
                    .into(),
            );
        }
        out
    }
}

/// Whether the assistant has answered in any sandbox conversation. A reply that was replaced,
/// refused by the send gate or failed does not count; one waiting for its send window does.
async fn assistant_answered(
    state: &AppState,
    account: AccountId,
    sandbox: &Channel,
) -> Result<bool, AppError> {
    let conversations = state
        .store
        .list_conversations(account, false, false, 100)
        .await?;
    for c in conversations.iter().filter(|c| c.channel_id == sandbox.id) {
        let answered = state.store.messages(account, c.id).await?.iter().any(|m| {
            m.direction == Direction::Outbound
                && m.author == Author::Ai
                && !matches!(
                    m.status,
                    MessageStatus::Superseded | MessageStatus::Blocked | MessageStatus::Failed
                )
        });
        if answered {
            return Ok(true);
        }
    }
    Ok(false)
}

// ---------------------------------------------------------------------------------------------
// The overview's checklist

pub struct ChecklistItem {
    pub title: &'static str,
    pub blurb: &'static str,
    pub href: String,
    pub done: bool,
}

/// The onboarding card on the overview; hidden once every step is done.
pub struct Checklist {
    pub items: Vec<ChecklistItem>,
    pub done: usize,
    pub total: usize,
    pub complete: bool,
}

impl Checklist {
    pub fn new(progress: &Progress) -> Checklist {
        let items: Vec<ChecklistItem> = Step::ALL
            .into_iter()
            .map(|s| ChecklistItem {
                title: s.title(),
                blurb: s.blurb(),
                href: format!("/onboarding?step={}", s.slug()),
                done: progress.is_done(s),
            })
            .collect();
        Checklist {
            done: items.iter().filter(|i| i.done).count(),
            total: items.len(),
            complete: progress.complete(),
            items,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The stepper

pub struct StepView {
    pub slug: &'static str,
    pub number: usize,
    pub title: &'static str,
    pub blurb: &'static str,
    /// `done`, `current` (the first unfinished) or `todo`.
    pub state: &'static str,
}

pub struct TemplateField {
    pub name: String,
    pub description: String,
    pub required: bool,
}

pub struct IndustryView {
    pub slug: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub fields: Vec<TemplateField>,
}

fn industry_label(i: Industry) -> (&'static str, &'static str) {
    match i {
        Industry::Insurance => (
            "Insurance",
            "Life, health, auto and home insurance agencies qualifying quote requests.",
        ),
        Industry::RealEstate => (
            "Real estate",
            "Agents and brokers sorting buyers from sellers, with area, budget and timeline.",
        ),
        Industry::Mortgage => (
            "Mortgage",
            "Loan officers pre-qualifying purchase and refinance leads.",
        ),
        Industry::Solar => (
            "Solar",
            "Installers checking home ownership, roof and power bill before a site visit.",
        ),
        Industry::HomeServices => (
            "Home services",
            "Plumbing, HVAC, roofing and other trades booking a job at an address.",
        ),
        Industry::Dental => (
            "Dental and medical",
            "Practices booking new patients, with the visit reason and insurance.",
        ),
        Industry::Generic => (
            "Something else",
            "A short, general set of questions for any other business.",
        ),
    }
}

fn industry_views() -> Vec<IndustryView> {
    Industry::ALL
        .into_iter()
        .map(|i| {
            let (label, description) = industry_label(i);
            IndustryView {
                slug: i.as_str(),
                label,
                description,
                fields: i
                    .schema()
                    .fields
                    .into_iter()
                    .map(|f| TemplateField {
                        name: f.name.replace('_', " "),
                        description: f.description,
                        required: f.required,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// One message of the simulator thread, in the shape `app/messages.html` renders.
pub struct ThreadRow {
    pub id: String,
    pub outbound: bool,
    pub author: String,
    pub body: String,
    pub at: String,
    pub at_iso: String,
    pub status: String,
    pub gate: Option<String>,
    pub error_code: Option<String>,
}

#[derive(Template)]
#[template(path = "app/onboarding.html")]
struct OnboardingPage {
    chrome: Chrome,
    steps: Vec<StepView>,
    /// The step whose panel is shown, and the one after it.
    open: &'static str,
    next: Option<&'static str>,
    done: usize,
    complete: bool,
    progress: Progress,
    industries: Vec<IndustryView>,
    /// The sandbox thread the simulator step shows.
    messages: Vec<ThreadRow>,
    lead_query: String,
    live_since: Option<String>,
    live_blockers: Vec<String>,
    can_text: bool,
    profile_form: FormState,
    industry_form: FormState,
    quiet_form: FormState,
    simulator_form: FormState,
    live_form: FormState,
}

impl OnboardingPage {
    fn industry_checked(&self, slug: &str) -> bool {
        self.industry_form.v("industry") == slug
    }
}

/// Which step's form comes back with what was typed and its errors.
enum Failed {
    None,
    Profile(FormState),
    Industry(FormState),
    QuietHours(FormState),
    Simulator(FormState),
    Live(FormState),
}

impl Failed {
    fn step(&self) -> Option<Step> {
        match self {
            Failed::None => None,
            Failed::Profile(_) => Some(Step::Profile),
            Failed::Industry(_) => Some(Step::Industry),
            Failed::QuietHours(_) => Some(Step::QuietHours),
            Failed::Simulator(_) => Some(Step::Simulator),
            Failed::Live(_) => Some(Step::Live),
        }
    }
}

fn profile_form(p: &BusinessProfile) -> FormState {
    let input = ProfileInput::from(p);
    FormState::with_values([
        ("business_name", input.business_name),
        ("agent_name", input.agent_name),
        ("phone", input.phone),
        ("description", input.description),
    ])
}

async fn view(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    asked: Option<Step>,
    notice: Option<&str>,
    failed: Failed,
) -> Result<OnboardingPage, AppError> {
    let progress = Progress::load(state, ctx.account.id, &ctx.account.profile).await?;
    let first = progress.first_unfinished();
    let open = failed.step().or(asked).or(first).unwrap_or(Step::Live);
    let next = Step::ALL
        .into_iter()
        .skip_while(|s| *s != open)
        .nth(1)
        .map(Step::slug);
    let open = open.slug();
    let steps = Step::ALL
        .into_iter()
        .enumerate()
        .map(|(i, s)| StepView {
            slug: s.slug(),
            number: i + 1,
            title: s.title(),
            blurb: s.blurb(),
            state: if progress.is_done(s) {
                "done"
            } else if Some(s) == first {
                "current"
            } else {
                "todo"
            },
        })
        .collect::<Vec<_>>();

    let compliance = services::compliance_settings(state, ctx.account.id).await?;
    let quiet_default = match compliance.quiet_hours {
        Some(h) => h,
        None if progress.quiet_hours_saved => String::new(),
        None => SUGGESTED_HOURS.to_owned(),
    };
    // Until a template is chosen, suggest the one the profile's industry names.
    let industry_default = progress
        .industry
        .or_else(|| ctx.account.profile.industry.trim().parse().ok())
        .map(|i| i.as_str().to_owned())
        .unwrap_or_default();

    let messages = simulator_thread(state, &ctx.account, progress.sandbox.as_ref()).await?;
    let mut page = OnboardingPage {
        chrome: Chrome::new(ctx, csrf, "onboarding", notice),
        done: steps.iter().filter(|s| s.state == "done").count(),
        complete: progress.complete(),
        steps,
        open,
        next,
        industries: industry_views(),
        messages,
        lead_query: urlencoding::encode(SANDBOX_LEAD).into_owned(),
        live_since: progress.live_at.map(messaging::minute),
        live_blockers: progress.live_blockers(),
        can_text: ctx.role >= Role::Agent,
        progress,
        profile_form: profile_form(&ctx.account.profile),
        industry_form: FormState::with_values([("industry", industry_default)]),
        quiet_form: FormState::with_values([("quiet_hours", quiet_default)]),
        simulator_form: FormState::default(),
        live_form: FormState::default(),
    };
    match failed {
        Failed::None => {}
        Failed::Profile(f) => page.profile_form = f,
        Failed::Industry(f) => page.industry_form = f,
        Failed::QuietHours(f) => page.quiet_form = f,
        Failed::Simulator(f) => page.simulator_form = f,
        Failed::Live(f) => page.live_form = f,
    }
    Ok(page)
}

async fn simulator_thread(
    state: &AppState,
    owner: &leadline_store::Account,
    sandbox: Option<&Channel>,
) -> Result<Vec<ThreadRow>, AppError> {
    let account = owner.id;
    let (zone, _) = messaging::account_zone(owner);
    let Some(channel) = sandbox else {
        return Ok(Vec::new());
    };
    let lead = messaging::parse_lead_phone("lead", SANDBOX_LEAD)?;
    let Some((_, messages)) = messaging::sandbox_thread(state, account, channel, &lead).await?
    else {
        return Ok(Vec::new());
    };
    let names = messaging::member_names(state, account).await?;
    Ok(messages
        .iter()
        .map(|m| ThreadRow {
            id: m.id.to_string(),
            outbound: m.direction == Direction::Outbound,
            author: messaging::author_label(m, &names),
            body: m.body.clone(),
            at: messaging::local_minute(m.created_at, &zone),
            at_iso: m.created_at.to_string(),
            status: m.status.as_str().to_owned(),
            gate: m.gate.as_ref().and_then(messaging::gate_summary),
            error_code: m.error_code.clone(),
        })
        .collect())
}

/// Renders the stepper again after a refused form, with the failing step open.
async fn refused(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    status: StatusCode,
    failed: Failed,
) -> PageResult {
    let page = view(state, ctx, csrf, None, None, failed).await?;
    Ok(render_status(status, &page))
}

#[derive(serde::Deserialize, Default)]
pub struct OnboardingQuery {
    step: Option<String>,
    notice: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<OnboardingQuery>,
) -> PageResult {
    let asked = q.step.as_deref().and_then(Step::parse);
    let page = view(
        &state,
        &ctx,
        &csrf,
        asked,
        q.notice.as_deref(),
        Failed::None,
    )
    .await?;
    Ok(render(&page))
}

fn audit(account: AccountId, actor: &str, action: &str, details: serde_json::Value) -> NewAudit {
    NewAudit {
        account_id: account,
        actor: actor.to_owned(),
        action: action.to_owned(),
        details,
    }
}

// ---- step 1: the business profile ----

#[derive(serde::Deserialize)]
pub struct ProfileStepForm {
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    agent_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    description: String,
}

pub async fn profile_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(f): Form<ProfileStepForm>,
) -> PageResult {
    ctx.require(Role::Admin)?;
    // Only this step's fields change; the rest of the profile is kept as it is.
    let input = ProfileInput {
        business_name: f.business_name.clone(),
        agent_name: f.agent_name.clone(),
        phone: f.phone.clone(),
        description: f.description.clone(),
        ..ProfileInput::from(&ctx.account.profile)
    };
    let typed = || {
        FormState::with_values([
            ("business_name", f.business_name.clone()),
            ("agent_name", f.agent_name.clone()),
            ("phone", f.phone.clone()),
            ("description", f.description.clone()),
        ])
    };
    // The profile itself only requires a name; the step needs what the assistant uses.
    let mut fields: Vec<FieldError> = [
        ("agent_name", &f.agent_name),
        ("phone", &f.phone),
        ("description", &f.description),
    ]
    .into_iter()
    .filter(|(_, v)| v.trim().is_empty())
    .map(|(field, _)| FieldError {
        field: field.into(),
        message: "is needed by the assistant".into(),
    })
    .collect();
    if let Err(errs) = input.parse() {
        for e in errs {
            if !fields.iter().any(|x| x.field == e.field) {
                fields.push(FieldError {
                    field: e.field.into(),
                    message: e.message,
                });
            }
        }
    }
    if !fields.is_empty() {
        let e = AppError::validation("Some fields need attention.", fields);
        let form = typed().fail(&e);
        return refused(&state, &ctx, &csrf, e.status, Failed::Profile(form)).await;
    }
    match services::update_profile(&state, ctx.account.id, &ctx.actor(), &input).await {
        Ok(_) => Ok(Redirect::to("/onboarding?notice=profile_saved").into_response()),
        Err(e) if e.status.is_client_error() => {
            let form = typed().fail(&e);
            refused(&state, &ctx, &csrf, e.status, Failed::Profile(form)).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---- step 2: the industry template ----

#[derive(serde::Deserialize)]
pub struct IndustryForm {
    #[serde(default)]
    industry: String,
}

pub async fn industry_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(f): Form<IndustryForm>,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let Ok(industry) = f.industry.parse::<Industry>() else {
        let e = AppError::field("industry", "choose one of the templates");
        let form = FormState::with_values([("industry", f.industry)]).fail(&e);
        return refused(&state, &ctx, &csrf, e.status, Failed::Industry(form)).await;
    };
    set_industry(&state, ctx.account.id, &ctx.actor(), industry).await?;
    Ok(Redirect::to("/onboarding?notice=industry_saved").into_response())
}

/// Writes `industry` into the assistant settings, keeping every other key they hold.
async fn set_industry(
    state: &AppState,
    account: AccountId,
    actor: &str,
    industry: Industry,
) -> Result<(), AppError> {
    let mut settings = match state.store.get_setting(account, ASSISTANT_SETTINGS).await? {
        Some(serde_json::Value::Object(map)) => map,
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        // Overwriting would lose whatever is there; better to refuse than to guess.
        Some(_) => {
            return Err(AppError::internal(
                "assistant settings are not a JSON object",
            ));
        }
    };
    let previous = settings.insert("industry".into(), industry.as_str().into());
    let details = serde_json::json!({ "industry": industry.as_str(), "previous": previous });
    state
        .store
        .put_setting(
            account,
            ASSISTANT_SETTINGS,
            serde_json::Value::Object(settings),
            audit(account, actor, "assistant.industry", details),
        )
        .await?;
    Ok(())
}

// ---- step 3: a channel ----

/// "Start with the sandbox": the same operation as the Channels page, back to the stepper.
pub async fn sandbox_submit(State(state): State<AppState>, ctx: AccountCtx) -> PageResult {
    messaging::create_sandbox(&state, ctx.account.id, ctx.role, &ctx.actor()).await?;
    Ok(Redirect::to("/onboarding?notice=sandbox_created").into_response())
}

// ---- step 4: quiet hours ----

#[derive(serde::Deserialize)]
pub struct QuietHoursForm {
    #[serde(default)]
    quiet_hours: String,
}

pub async fn quiet_hours_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(f): Form<QuietHoursForm>,
) -> PageResult {
    ctx.require(Role::Admin)?;
    // Relaxations are the owner's business on the Compliance page; keep them as they are.
    let current = services::compliance_settings(&state, ctx.account.id).await?;
    let input = ComplianceSettingsInput {
        quiet_hours: Some(f.quiet_hours.clone()),
        relaxations: current.relaxations,
        acknowledgment: None,
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
        Ok(_) => Ok(Redirect::to("/onboarding?notice=compliance_saved").into_response()),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let form = FormState::with_values([("quiet_hours", f.quiet_hours)]).fail(&e);
            refused(&state, &ctx, &csrf, e.status, Failed::QuietHours(form)).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---- step 5: the phone simulator ----

#[derive(serde::Deserialize)]
pub struct SimulatorForm {
    #[serde(default)]
    body: String,
}

pub async fn simulator_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(f): Form<SimulatorForm>,
) -> PageResult {
    match messaging::sandbox_text(&state, ctx.account.id, ctx.role, SANDBOX_LEAD, &f.body).await {
        Ok(_) => {
            Ok(Redirect::to("/onboarding?step=simulator&notice=simulator_sent").into_response())
        }
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            let form = FormState::with_values([("body", f.body)]).fail(&e);
            refused(&state, &ctx, &csrf, e.status, Failed::Simulator(form)).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---- step 6: go live ----

pub async fn live_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let progress = Progress::load(&state, ctx.account.id, &ctx.account.profile).await?;
    if progress.live_at.is_some() {
        return Ok(Redirect::to("/onboarding?step=live").into_response());
    }
    let blockers = progress.live_blockers();
    if !blockers.is_empty() {
        let e = AppError::conflict("not_ready", format!("Not yet: {}.", blockers.join("; ")));
        let form = FormState::default().fail(&e);
        return refused(&state, &ctx, &csrf, e.status, Failed::Live(form)).await;
    }
    let mut settings = match state
        .store
        .get_setting(ctx.account.id, ONBOARDING_SETTINGS)
        .await?
    {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let now = Timestamp::now().to_string();
    settings.insert("live_at".into(), now.clone().into());
    state
        .store
        .put_setting(
            ctx.account.id,
            ONBOARDING_SETTINGS,
            serde_json::Value::Object(settings),
            audit(
                ctx.account.id,
                &ctx.actor(),
                "onboarding.live",
                serde_json::json!({ "live_at": now }),
            ),
        )
        .await?;
    Ok(Redirect::to("/onboarding?notice=live").into_response())
}
