//! Channels, the inbox and the sandbox phone simulator. Threads refresh themselves through a
//! small same-origin script (`/static/poll.js`) that re-fetches a partial; without scripts the
//! pages still work with a reload.

use super::{Chrome, FormState, NoticeQuery, PageResult, render, render_status};
use crate::auth::AccountCtx;
use crate::csrf::CsrfToken;
use crate::error::AppError;
use crate::messaging::{
    self, BlooioChannelInput, ChannelView, ConversationSummary, LinqChannelInput, SANDBOX_LEAD,
    TwilioChannelInput, author_label, gate_summary, minute,
};
use crate::services;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use leadline_domain::ids::ConversationId;
use leadline_domain::{Role, UserId};
use leadline_store::{Direction, Message};
use std::collections::HashMap;

/// One message as a thread shows it.
pub struct MessageRow {
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

fn message_rows(
    messages: &[Message],
    names: &HashMap<UserId, String>,
    account: &leadline_store::Account,
) -> Vec<MessageRow> {
    let (zone, _) = messaging::account_zone(account);
    messages
        .iter()
        .map(|m| MessageRow {
            id: m.id.to_string(),
            outbound: m.direction == Direction::Outbound,
            author: author_label(m, names),
            body: m.body.clone(),
            at: messaging::local_minute(m.created_at, &zone),
            at_iso: m.created_at.to_string(),
            status: m.status.as_str().to_owned(),
            gate: m.gate.as_ref().and_then(gate_summary),
            error_code: m.error_code.clone(),
        })
        .collect()
}

/// Just the messages, for the page's self-refresh.
#[derive(Template)]
#[template(path = "app/messages.html")]
struct MessagesPartial {
    messages: Vec<MessageRow>,
}

fn parse_conversation(raw: &str) -> Result<ConversationId, AppError> {
    raw.parse().map_err(|_| AppError::not_found())
}

// ---------------------------------------------------------------------------------------------
// Channels

pub struct ChannelRow {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub address: String,
    pub webhook_url: Option<String>,
    pub credential: Option<String>,
    /// What the credential is called at this provider.
    pub credential_label: &'static str,
    pub webhook_secret: Option<String>,
    pub account_sid: Option<String>,
    pub api_base_url: Option<String>,
    pub last_webhook: String,
    pub enabled: bool,
}

fn channel_row(v: ChannelView) -> ChannelRow {
    let credential_label = match v.channel.provider.as_str() {
        "linq" => "API token",
        "blooio" => "API key",
        _ => "Auth token",
    };
    ChannelRow {
        id: v.channel.id.to_string(),
        credential_label,
        account_sid: v.setting("account_sid").map(str::to_owned),
        api_base_url: v.setting("api_base_url").map(str::to_owned),
        name: v.channel.name,
        provider: v.channel.provider,
        address: v.channel.address,
        webhook_url: v.webhook_url,
        credential: v.credential,
        webhook_secret: v.webhook_secret,
        last_webhook: v
            .channel
            .last_webhook_at
            .map(minute)
            .unwrap_or_else(|| "never".into()),
        enabled: v.channel.enabled,
    }
}

#[derive(Template)]
#[template(path = "app/channels.html")]
struct ChannelsPage {
    chrome: Chrome,
    channels: Vec<ChannelRow>,
    has_sandbox: bool,
    /// The Twilio form.
    form: FormState,
    linq_form: FormState,
    blooio_form: FormState,
    /// The test-send form, and the channel it was sent for.
    test_form: FormState,
    test_channel: String,
}

/// Which connect form a page shows values and errors in.
enum Forms {
    None,
    Twilio(FormState),
    Linq(FormState),
    Blooio(FormState),
    Test(String, FormState),
}

async fn channels_view(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    notice: Option<&str>,
    forms: Forms,
) -> Result<ChannelsPage, AppError> {
    let channels = messaging::list_channels(state, ctx.account.id).await?;
    let (mut form, mut linq_form, mut blooio_form, mut test_form) = Default::default();
    let mut test_channel = String::new();
    match forms {
        Forms::None => {}
        Forms::Twilio(f) => form = f,
        Forms::Linq(f) => linq_form = f,
        Forms::Blooio(f) => blooio_form = f,
        Forms::Test(id, f) => (test_channel, test_form) = (id, f),
    }
    Ok(ChannelsPage {
        chrome: Chrome::new(ctx, csrf, "channels", notice),
        has_sandbox: channels.iter().any(|c| c.channel.provider == "sandbox"),
        channels: channels.into_iter().map(channel_row).collect(),
        form,
        linq_form,
        blooio_form,
        test_form,
        test_channel,
    })
}

#[derive(serde::Deserialize)]
pub struct TestSendForm {
    #[serde(default)]
    to: String,
}

/// What a test send says, so the person who gets it knows where it came from.
const TEST_TEXT: &str = "This is a test text from leadline: your channel can send.";

/// Sends one test text through a connected channel to a number the subscriber types (their
/// own phone), outside any conversation. Admins only; never to an opted-out or listed number.
pub async fn test_send_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Form(input): Form<TestSendForm>,
) -> PageResult {
    let channel_id: leadline_domain::ids::ChannelId =
        id.parse().map_err(|_| AppError::not_found())?;
    let channel = state.store.get_channel(ctx.account.id, channel_id).await?;
    ctx.require(Role::Admin)?;
    let refused = |message: String| async {
        let e = AppError::field("to", message);
        let form = FormState::with_values([("to", input.to.clone())]).fail(&e);
        let page = channels_view(
            &state,
            &ctx,
            &csrf,
            None,
            Forms::Test(channel.id.to_string(), form),
        )
        .await?;
        Ok(render_status(e.status, &page))
    };
    if channel.provider == "sandbox" {
        return refused("cannot be used with the sandbox: try it in the phone simulator".into())
            .await;
    }
    let to = match leadline_domain::E164Phone::parse(&input.to) {
        Ok(to) => to,
        Err(e) => return refused(format!("is not a phone number: {e}")).await,
    };
    if services::lead_blocked(&state, ctx.account.id, &to).await? {
        return refused(
            "has opted out or is on the do-not-contact list, so nothing is sent to it".into(),
        )
        .await;
    }
    match state.engine.test_send(&channel, &to, TEST_TEXT).await {
        Ok(provider_id) => {
            services::record_audit(
                &state,
                ctx.account.id,
                &ctx.actor(),
                "channel.test_send",
                serde_json::json!({"channel": channel.id.to_string(), "to": to.to_string(), "provider_message_id": provider_id}),
            )
            .await?;
            Ok(Redirect::to("/app/channels?notice=test_sent").into_response())
        }
        Err(why) => refused(format!("could not be texted: {why}")).await,
    }
}

pub async fn channels_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let page = channels_view(&state, &ctx, &csrf, q.notice.as_deref(), Forms::None).await?;
    Ok(render(&page))
}

#[derive(serde::Deserialize)]
pub struct TwilioForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone_number: String,
    #[serde(default)]
    account_sid: String,
    #[serde(default)]
    auth_token: String,
    #[serde(default)]
    api_base_url: String,
}

pub async fn twilio_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(f): Form<TwilioForm>,
) -> PageResult {
    let input = TwilioChannelInput {
        name: f.name.clone(),
        phone_number: f.phone_number.clone(),
        account_sid: f.account_sid.clone(),
        auth_token: f.auth_token,
        api_base_url: Some(f.api_base_url.clone()),
    };
    match messaging::connect_twilio(&state, ctx.account.id, ctx.role, &ctx.actor(), &input).await {
        Ok(_) => Ok(Redirect::to("/app/channels?notice=channel_connected").into_response()),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            // Everything typed comes back except the auth token, which is never echoed.
            let form = FormState::with_values([
                ("name", f.name),
                ("phone_number", f.phone_number),
                ("account_sid", f.account_sid),
                ("api_base_url", f.api_base_url),
            ])
            .fail(&e);
            let page = channels_view(&state, &ctx, &csrf, None, Forms::Twilio(form)).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct LinqForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone_number: String,
    #[serde(default)]
    api_token: String,
    #[serde(default)]
    webhook_secret: String,
    #[serde(default)]
    api_base_url: String,
}

pub async fn linq_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(f): Form<LinqForm>,
) -> PageResult {
    let input = LinqChannelInput {
        name: f.name.clone(),
        phone_number: f.phone_number.clone(),
        api_token: f.api_token,
        webhook_secret: f.webhook_secret,
        api_base_url: Some(f.api_base_url.clone()),
    };
    match messaging::connect_linq(&state, ctx.account.id, ctx.role, &ctx.actor(), &input).await {
        Ok(_) => Ok(Redirect::to("/app/channels?notice=channel_connected").into_response()),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            // The secrets are never echoed.
            let form = FormState::with_values([
                ("name", f.name),
                ("phone_number", f.phone_number),
                ("api_base_url", f.api_base_url),
            ])
            .fail(&e);
            let page = channels_view(&state, &ctx, &csrf, None, Forms::Linq(form)).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct BlooioForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    sender: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    webhook_secret: String,
    #[serde(default)]
    api_base_url: String,
}

pub async fn blooio_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(f): Form<BlooioForm>,
) -> PageResult {
    let input = BlooioChannelInput {
        name: f.name.clone(),
        sender: f.sender.clone(),
        api_key: f.api_key,
        webhook_secret: f.webhook_secret,
        api_base_url: Some(f.api_base_url.clone()),
    };
    match messaging::connect_blooio(&state, ctx.account.id, ctx.role, &ctx.actor(), &input).await {
        Ok(_) => Ok(Redirect::to("/app/channels?notice=channel_connected").into_response()),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let form = FormState::with_values([
                ("name", f.name),
                ("sender", f.sender),
                ("api_base_url", f.api_base_url),
            ])
            .fail(&e);
            let page = channels_view(&state, &ctx, &csrf, None, Forms::Blooio(form)).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn sandbox_channel_create(State(state): State<AppState>, ctx: AccountCtx) -> PageResult {
    messaging::create_sandbox(&state, ctx.account.id, ctx.role, &ctx.actor()).await?;
    Ok(Redirect::to("/app/channels?notice=sandbox_created").into_response())
}

// ---------------------------------------------------------------------------------------------
// Inbox

pub struct ConversationRow {
    pub id: String,
    pub lead_phone: String,
    pub lead_name: String,
    pub channel: String,
    pub last_at: String,
    pub unread: bool,
    pub needs_attention: bool,
    pub ai_paused: bool,
}

fn conversation_row(s: &ConversationSummary, zone: &jiff::tz::TimeZone) -> ConversationRow {
    let c = &s.conversation;
    ConversationRow {
        id: c.id.to_string(),
        lead_phone: s.lead.phone.to_string(),
        lead_name: s.lead.name.clone(),
        channel: s.channel_name.clone(),
        last_at: c
            .last_message_at
            .map(|t| messaging::local_minute(t, zone))
            .unwrap_or_else(|| "—".into()),
        unread: c.unread,
        needs_attention: c.needs_attention,
        ai_paused: c.ai_paused,
    }
}

#[derive(Template)]
#[template(path = "app/inbox.html")]
struct InboxPage {
    chrome: Chrome,
    filter: String,
    /// (key, label, link keeping the other filters).
    tabs: Vec<(&'static str, &'static str, String)>,
    stage: String,
    stages: [&'static str; 6],
    q: String,
    filtered: bool,
    page: u32,
    prev: Option<String>,
    next: Option<String>,
    conversations: Vec<ConversationRow>,
}

#[derive(serde::Deserialize, Default)]
pub struct InboxQuery {
    filter: Option<String>,
    stage: Option<String>,
    q: Option<String>,
    page: Option<String>,
    notice: Option<String>,
}

pub async fn inbox_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<InboxQuery>,
) -> PageResult {
    const PAGE: u32 = 50;
    let filter = match q.filter.as_deref() {
        Some("unread") => "unread",
        Some("attention") => "attention",
        Some("active") => "active",
        Some("taken_over") => "taken_over",
        _ => "all",
    };
    let stage = q
        .stage
        .as_deref()
        .map(str::trim)
        .filter(|s| services::LEAD_STAGES.contains(s))
        .unwrap_or_default()
        .to_owned();
    let text = q.q.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let page = q
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 10_000);
    let query = leadline_store::ConversationQuery {
        unread_only: filter == "unread",
        attention_only: filter == "attention",
        ai_active: match filter {
            "active" => Some(true),
            "taken_over" => Some(false),
            _ => None,
        },
        stage: (!stage.is_empty()).then(|| stage.clone()),
        text: (!text.is_empty()).then(|| text.clone()),
        // One more than a page tells whether there is a next one.
        limit: PAGE + 1,
        offset: (page - 1) * PAGE,
    };
    let mut list = messaging::find_conversations(&state, ctx.account.id, &query).await?;
    let more = list.len() > PAGE as usize;
    list.truncate(PAGE as usize);
    let link = |filter: &str, page: u32| {
        let mut parts = Vec::new();
        if filter != "all" {
            parts.push(format!("filter={filter}"));
        }
        if !stage.is_empty() {
            parts.push(format!("stage={stage}"));
        }
        if !text.is_empty() {
            parts.push(format!("q={}", urlencoding::encode(&text)));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/app/inbox".to_owned()
        } else {
            format!("/app/inbox?{}", parts.join("&"))
        }
    };
    let tabs = [
        ("all", "All"),
        ("unread", "Unread"),
        ("attention", "Needs attention"),
        ("active", "Assistant answering"),
        ("taken_over", "Taken over"),
    ]
    .into_iter()
    .map(|(key, label)| (key, label, link(key, 1)))
    .collect();
    Ok(render(&InboxPage {
        chrome: Chrome::new(&ctx, &csrf, "inbox", q.notice.as_deref()),
        filter: filter.into(),
        tabs,
        prev: (page > 1).then(|| link(filter, page - 1)),
        next: more.then(|| link(filter, page + 1)),
        filtered: filter != "all" || !stage.is_empty() || !text.is_empty(),
        stages: services::LEAD_STAGES,
        stage,
        q: text,
        page,
        conversations: {
            let (zone, _) = messaging::account_zone(&ctx.account);
            list.iter().map(|c| conversation_row(c, &zone)).collect()
        },
    }))
}

#[derive(Template)]
#[template(path = "app/conversation.html")]
struct ConversationPage {
    chrome: Chrome,
    conversation: ConversationRow,
    messages: Vec<MessageRow>,
    panel: super::lead_panel::LeadPanel,
    lead_id: String,
    blocked: bool,
    can_reply: bool,
    form: FormState,
    /// The latest conversation summary (`app/summary_panel.html`).
    summary: Option<super::lead_panel::SummaryPanel>,
}

async fn conversation_view(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    id: ConversationId,
    notice: Option<&str>,
    form: FormState,
) -> Result<ConversationPage, AppError> {
    let (summary, messages) = messaging::conversation(state, ctx.account.id, id).await?;
    let names = messaging::member_names(state, ctx.account.id).await?;
    let threads = state
        .store
        .lead_conversations(ctx.account.id, summary.lead.id)
        .await?;
    // With one thread the page's messages are all the panel needs; otherwise it reads them all.
    let loaded = (threads.len() == 1).then_some(messages.as_slice());
    let panel =
        super::lead_panel::lead_panel(state, &ctx.account, &summary.lead, &threads, loaded, true)
            .await?;
    Ok(ConversationPage {
        chrome: Chrome::new(ctx, csrf, "inbox", notice),
        blocked: panel.consent.blocked(),
        lead_id: summary.lead.id.to_string(),
        panel,
        conversation: conversation_row(&summary, &messaging::account_zone(&ctx.account).0),
        messages: message_rows(&messages, &names, &ctx.account),
        can_reply: ctx.role >= Role::Agent,
        form,
        summary: summary
            .latest_summary
            .as_ref()
            .map(|s| super::lead_panel::summary_panel(s, &ctx.account)),
    })
}

pub async fn conversation_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let id = parse_conversation(&id)?;
    let page = conversation_view(
        &state,
        &ctx,
        &csrf,
        id,
        q.notice.as_deref(),
        FormState::default(),
    )
    .await?;
    // Opening a thread reads it.
    if page.conversation.unread {
        state.store.mark_read(ctx.account.id, id).await?;
    }
    Ok(render(&page))
}

pub async fn conversation_messages(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_conversation(&id)?;
    let (_, messages) = messaging::conversation(&state, ctx.account.id, id).await?;
    let names = messaging::member_names(&state, ctx.account.id).await?;
    Ok(render(&MessagesPartial {
        messages: message_rows(&messages, &names, &ctx.account),
    }))
}

#[derive(serde::Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
}

pub async fn reply_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Form(f): Form<ReplyForm>,
) -> PageResult {
    let id = parse_conversation(&id)?;
    match messaging::reply_by_hand(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        ctx.user.id,
        id,
        &f.body,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/app/inbox/{id}?notice=reply_queued")).into_response()),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let form = FormState::with_values([("body", f.body)]).fail(&e);
            let page = conversation_view(&state, &ctx, &csrf, id, None, form).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn takeover_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_conversation(&id)?;
    messaging::take_over(&state, ctx.account.id, ctx.role, &ctx.actor(), id).await?;
    Ok(Redirect::to(&format!("/app/inbox/{id}?notice=taken_over")).into_response())
}

pub async fn handback_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_conversation(&id)?;
    messaging::hand_back(&state, ctx.account.id, ctx.role, &ctx.actor(), id).await?;
    Ok(Redirect::to(&format!("/app/inbox/{id}?notice=handed_back")).into_response())
}

// ---------------------------------------------------------------------------------------------
// Sandbox phone simulator

#[derive(Template)]
#[template(path = "app/sandbox.html")]
struct SandboxPage {
    chrome: Chrome,
    /// The sandbox channel's number, once it exists.
    channel_address: Option<String>,
    /// Encoded for the refresh URL.
    lead_query: String,
    conversation_id: Option<String>,
    messages: Vec<MessageRow>,
    form: FormState,
}

#[derive(serde::Deserialize, Default)]
pub struct SandboxQuery {
    lead: Option<String>,
    notice: Option<String>,
}

async fn sandbox_view(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    lead: &str,
    notice: Option<&str>,
    form: FormState,
) -> Result<SandboxPage, AppError> {
    let channel = messaging::sandbox_channel(state, ctx.account.id).await?;
    let (conversation_id, messages) = match (&channel, messaging::parse_lead_phone("lead", lead)) {
        (Some(channel), Ok(phone)) => {
            match messaging::sandbox_thread(state, ctx.account.id, channel, &phone).await? {
                Some((conversation, messages)) => {
                    let names = messaging::member_names(state, ctx.account.id).await?;
                    (
                        Some(conversation.id.to_string()),
                        message_rows(&messages, &names, &ctx.account),
                    )
                }
                None => (None, Vec::new()),
            }
        }
        _ => (None, Vec::new()),
    };
    Ok(SandboxPage {
        chrome: Chrome::new(ctx, csrf, "sandbox", notice),
        channel_address: channel.map(|c| c.address),
        lead_query: urlencoding::encode(lead).into_owned(),
        conversation_id,
        messages,
        form,
    })
}

pub async fn sandbox_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<SandboxQuery>,
) -> PageResult {
    let lead = q.lead.unwrap_or_else(|| SANDBOX_LEAD.into());
    let form = FormState::with_values([("lead", lead.clone())]);
    let page = sandbox_view(&state, &ctx, &csrf, &lead, q.notice.as_deref(), form).await?;
    Ok(render(&page))
}

pub async fn sandbox_messages(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Query(q): Query<SandboxQuery>,
) -> PageResult {
    let lead = q.lead.unwrap_or_else(|| SANDBOX_LEAD.into());
    let phone = messaging::parse_lead_phone("lead", &lead)?;
    let mut messages = Vec::new();
    if let Some(channel) = messaging::sandbox_channel(&state, ctx.account.id).await?
        && let Some((_, found)) =
            messaging::sandbox_thread(&state, ctx.account.id, &channel, &phone).await?
    {
        let names = messaging::member_names(&state, ctx.account.id).await?;
        messages = message_rows(&found, &names, &ctx.account);
    }
    Ok(render(&MessagesPartial { messages }))
}

#[derive(serde::Deserialize)]
pub struct SandboxForm {
    #[serde(default)]
    lead: String,
    #[serde(default)]
    body: String,
}

pub async fn sandbox_send(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(f): Form<SandboxForm>,
) -> PageResult {
    match messaging::sandbox_text(&state, ctx.account.id, ctx.role, &f.lead, &f.body).await {
        Ok(phone) => {
            let to = format!("/app/sandbox?lead={}", urlencoding::encode(phone.as_str()));
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let form =
                FormState::with_values([("lead", f.lead.clone()), ("body", f.body)]).fail(&e);
            let page = sandbox_view(&state, &ctx, &csrf, &f.lead, None, form).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn sandbox_create(State(state): State<AppState>, ctx: AccountCtx) -> PageResult {
    messaging::create_sandbox(&state, ctx.account.id, ctx.role, &ctx.actor()).await?;
    Ok(Redirect::to("/app/sandbox?notice=sandbox_created").into_response())
}
