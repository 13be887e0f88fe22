//! Channels and conversations over the API: the same operations as the dashboard's Channels and
//! Inbox pages.

use super::{ErrorBody, body, parse_id, rfc3339};
use crate::auth::ApiCtx;
use crate::error::AppError;
use crate::messaging::{
    self as ops, BlooioChannelInput, ChannelView, ConversationSummary, LinqChannelInput,
    TwilioChannelInput,
};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use leadline_domain::Role;
use leadline_domain::UserId;
use leadline_domain::ids::ConversationId;
use leadline_store::Message;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ChannelDto {
    id: String,
    /// twilio, linq, blooio or sandbox
    provider: String,
    name: String,
    /// The sending number, E.164 (Blooio: a number or an iMessage handle).
    address: String,
    /// Where the provider must post messages and delivery reports (absent for the sandbox).
    webhook_url: Option<String>,
    account_sid: Option<String>,
    api_base_url: Option<String>,
    /// The stored credential (Twilio auth token, Linq API token, Blooio API key), masked
    /// (`••••1234`); the secret itself is never returned.
    credential: Option<String>,
    /// Linq and Blooio: the stored webhook signing secret, masked; never returned in full.
    webhook_secret: Option<String>,
    enabled: bool,
    last_webhook_at: Option<String>,
    created_at: String,
}

fn channel_dto(v: ChannelView) -> ChannelDto {
    ChannelDto {
        account_sid: v.setting("account_sid").map(str::to_owned),
        api_base_url: v.setting("api_base_url").map(str::to_owned),
        id: v.channel.id.to_string(),
        provider: v.channel.provider,
        name: v.channel.name,
        address: v.channel.address,
        webhook_url: v.webhook_url,
        credential: v.credential,
        webhook_secret: v.webhook_secret,
        enabled: v.channel.enabled,
        last_webhook_at: v.channel.last_webhook_at.map(rfc3339),
        created_at: rfc3339(v.channel.created_at),
    }
}

/// A channel to create: `{"provider": "sandbox"}`, or a Twilio, Linq or Blooio line with its
/// credentials.
#[derive(Deserialize, ToSchema)]
pub struct ChannelCreate {
    /// twilio, linq, blooio or sandbox
    provider: String,
    #[serde(default)]
    name: String,
    /// Twilio, Linq: the number texts are sent from, E.164.
    #[serde(default)]
    phone_number: String,
    /// Blooio: the number (E.164) or iMessage handle texts are sent from.
    #[serde(default)]
    sender: String,
    /// Twilio: the Account SID (`AC` + 32 hex characters).
    #[serde(default)]
    account_sid: String,
    /// Twilio: the auth token. Stored encrypted; never returned.
    #[serde(default)]
    auth_token: String,
    /// Linq: the Partner API token. Stored encrypted; never returned.
    #[serde(default)]
    api_token: String,
    /// Blooio: the API key (`bl_live_…`). Stored encrypted; never returned.
    #[serde(default)]
    api_key: String,
    /// Linq, Blooio: the webhook signing secret (`whsec_…`). Stored encrypted; never returned.
    #[serde(default)]
    webhook_secret: String,
    /// Another API origin on the provider's own domain (a Twilio regional edge). Optional.
    #[serde(default)]
    api_base_url: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", responses((status = 200, body = Vec<ChannelDto>), (status = 401, body = ErrorBody)))]
pub(super) async fn list_channels(
    State(state): State<AppState>,
    ctx: ApiCtx,
) -> Result<Json<Vec<ChannelDto>>, AppError> {
    let channels = ops::list_channels(&state, ctx.account_id()).await?;
    Ok(Json(channels.into_iter().map(channel_dto).collect()))
}

#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = ChannelCreate,
    responses((status = 201, body = ChannelDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_channel(
    State(state): State<AppState>,
    ctx: ApiCtx,
    b: Result<Json<ChannelCreate>, JsonRejection>,
) -> Result<(StatusCode, Json<ChannelDto>), AppError> {
    let input = body(b)?;
    let account = ctx.account_id();
    let view = match input.provider.as_str() {
        "twilio" => {
            let twilio = TwilioChannelInput {
                name: input.name,
                phone_number: input.phone_number,
                account_sid: input.account_sid,
                auth_token: input.auth_token,
                api_base_url: input.api_base_url,
            };
            ops::connect_twilio(&state, account, ctx.role(), &ctx.actor(), &twilio).await?
        }
        "sandbox" => {
            ops::create_sandbox(&state, account, ctx.role(), &ctx.actor()).await?;
            ops::list_channels(&state, account)
                .await?
                .into_iter()
                .find(|c| c.channel.provider == "sandbox")
                .ok_or_else(|| AppError::internal("the sandbox channel vanished"))?
        }
        "linq" => {
            let linq = LinqChannelInput {
                name: input.name,
                phone_number: input.phone_number,
                api_token: input.api_token,
                webhook_secret: input.webhook_secret,
                api_base_url: input.api_base_url,
            };
            ops::connect_linq(&state, account, ctx.role(), &ctx.actor(), &linq).await?
        }
        "blooio" => {
            let blooio = BlooioChannelInput {
                name: input.name,
                sender: input.sender,
                api_key: input.api_key,
                webhook_secret: input.webhook_secret,
                api_base_url: input.api_base_url,
            };
            ops::connect_blooio(&state, account, ctx.role(), &ctx.actor(), &blooio).await?
        }
        _ => {
            return Err(AppError::field(
                "provider",
                "must be twilio, linq, blooio or sandbox",
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(channel_dto(view))))
}

#[derive(Serialize, ToSchema)]
pub struct LeadRef {
    id: String,
    /// E.164
    phone: String,
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationDto {
    id: String,
    lead: LeadRef,
    channel_id: String,
    channel_name: String,
    /// A person took over: the assistant does not answer until handed back.
    ai_paused: bool,
    needs_attention: bool,
    unread: bool,
    last_message_at: Option<String>,
    created_at: String,
    /// The latest summary written for this conversation (after a quiet period or on hand-off).
    summary: Option<SummaryDto>,
}

/// A conversation summary for the person picking it up.
#[derive(Serialize, ToSchema)]
pub struct SummaryDto {
    id: String,
    /// quiet (the conversation went quiet) or handoff (handed off to a person)
    reason: String,
    /// playbook (deterministic), or the model as provider:model
    engine: String,
    text: String,
    created_at: String,
}

fn conversation_dto(s: ConversationSummary) -> ConversationDto {
    let c = s.conversation;
    ConversationDto {
        id: c.id.to_string(),
        lead: LeadRef {
            id: s.lead.id.to_string(),
            phone: s.lead.phone.to_string(),
            name: s.lead.name,
        },
        channel_id: c.channel_id.to_string(),
        channel_name: s.channel_name,
        ai_paused: c.ai_paused,
        needs_attention: c.needs_attention,
        unread: c.unread,
        last_message_at: c.last_message_at.map(rfc3339),
        created_at: rfc3339(c.created_at),
        summary: s.latest_summary.map(|m| SummaryDto {
            id: m.id.to_string(),
            reason: m.reason.as_str().into(),
            engine: m.engine,
            text: m.body,
            created_at: rfc3339(m.created_at),
        }),
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessageDto {
    id: String,
    /// inbound or outbound
    direction: String,
    /// lead, ai, human, system or sequence
    author: String,
    /// The member who wrote it, for `human`.
    author_user_id: Option<String>,
    /// Who wrote it, in words.
    author_name: String,
    body: String,
    /// received, queued, deferred, sending, sent, delivered, read, undelivered, failed, blocked or superseded
    status: String,
    error_code: Option<String>,
    /// The send gate's last decision, as recorded.
    #[schema(value_type = Option<Object>)]
    gate: Option<serde_json::Value>,
    /// The same decision in words, e.g. "deferred until 2026-12-08 15:00 UTC — Texas: …".
    gate_summary: Option<String>,
    segments: i32,
    created_at: String,
    sent_at: Option<String>,
    /// Outbound: when the worker may next pick it up.
    due_at: Option<String>,
}

fn message_dto(m: Message, names: &HashMap<UserId, String>) -> MessageDto {
    let author_user_id = match &m.author {
        leadline_store::Author::Human { user_id } => Some(user_id.to_string()),
        _ => None,
    };
    let author = if m.direction == leadline_store::Direction::Inbound {
        "lead"
    } else {
        ops::author_kind(&m.author)
    };
    MessageDto {
        id: m.id.to_string(),
        direction: match m.direction {
            leadline_store::Direction::Inbound => "inbound".into(),
            leadline_store::Direction::Outbound => "outbound".into(),
        },
        author: author.into(),
        author_user_id,
        author_name: ops::author_label(&m, names),
        gate_summary: m.gate.as_ref().and_then(ops::gate_summary),
        gate: m.gate,
        body: m.body,
        status: m.status.as_str().into(),
        error_code: m.error_code,
        segments: m.segments,
        created_at: rfc3339(m.created_at),
        sent_at: m.sent_at.map(rfc3339),
        due_at: m.due_at.map(rfc3339),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConversationDetail {
    conversation: ConversationDto,
    /// Every message, oldest first.
    messages: Vec<MessageDto>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ConversationQuery {
    /// Only conversations with unread messages.
    unread: Option<bool>,
    /// Only conversations that need a person.
    needs_attention: Option<bool>,
    /// `true`: only those the assistant answers; `false`: only those a person took over.
    ai_active: Option<bool>,
    /// Only conversations whose lead is at this stage.
    stage: Option<String>,
    /// Matches the lead's name, phone number or email (case-insensitive substring).
    q: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
    /// How many conversations to skip, default 0.
    offset: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ConversationQuery),
    responses((status = 200, body = Vec<ConversationDto>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn list_conversations(
    State(state): State<AppState>,
    ctx: ApiCtx,
    q: Result<Query<ConversationQuery>, QueryRejection>,
) -> Result<Json<Vec<ConversationDto>>, AppError> {
    let Query(q) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 200"));
    }
    let stage = q
        .stage
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Some(stage) = &stage
        && !crate::services::LEAD_STAGES.contains(&stage.as_str())
    {
        return Err(AppError::field(
            "stage",
            "must be one of new, contacted, replied, qualified, booked, closed",
        ));
    }
    let query = leadline_store::ConversationQuery {
        unread_only: q.unread.unwrap_or(false),
        attention_only: q.needs_attention.unwrap_or(false),
        ai_active: q.ai_active,
        stage,
        text: q.q,
        limit,
        offset: q.offset.unwrap_or(0),
    };
    let list = crate::messaging::find_conversations(&state, ctx.account_id(), &query).await?;
    Ok(Json(list.into_iter().map(conversation_dto).collect()))
}

async fn detail(
    state: &AppState,
    ctx: &ApiCtx,
    id: ConversationId,
) -> Result<ConversationDetail, AppError> {
    let (summary, messages) = ops::conversation(state, ctx.account_id(), id).await?;
    let names = ops::member_names(state, ctx.account_id()).await?;
    Ok(ConversationDetail {
        conversation: conversation_dto(summary),
        messages: messages
            .into_iter()
            .map(|m| message_dto(m, &names))
            .collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn get_conversation(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
) -> Result<Json<ConversationDetail>, AppError> {
    let id: ConversationId = parse_id(&id)?;
    Ok(Json(detail(&state, &ctx, id).await?))
}

/// A text written by a person.
#[derive(Deserialize, ToSchema)]
pub struct ReplyInput {
    /// 1 to 1600 characters.
    body: String,
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", request_body = ReplyInput,
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 202, description = "Queued: it goes out once the send gate allows it (it takes the conversation over)", body = MessageDto),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn send_message(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
    b: Result<Json<ReplyInput>, JsonRejection>,
) -> Result<(StatusCode, Json<MessageDto>), AppError> {
    let id: ConversationId = parse_id(&id)?;
    // Roles first, so a viewer learns it may not send before anything about the body.
    ctx.require(Role::Agent)?;
    let input = body(b)?;
    let message = ops::reply_by_hand(
        &state,
        ctx.account_id(),
        ctx.role(),
        &ctx.actor(),
        ctx.key.created_by,
        id,
        &input.body,
    )
    .await?;
    let names = ops::member_names(&state, ctx.account_id()).await?;
    Ok((StatusCode::ACCEPTED, Json(message_dto(message, &names))))
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/takeover", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, description = "The assistant is paused on this conversation", body = ConversationDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn take_over(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
) -> Result<Json<ConversationDto>, AppError> {
    let id: ConversationId = parse_id(&id)?;
    ops::take_over(&state, ctx.account_id(), ctx.role(), &ctx.actor(), id).await?;
    Ok(Json(detail(&state, &ctx, id).await?.conversation))
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/handback", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, description = "The assistant answers this conversation again", body = ConversationDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn hand_back(
    State(state): State<AppState>,
    ctx: ApiCtx,
    Path(id): Path<String>,
) -> Result<Json<ConversationDto>, AppError> {
    let id: ConversationId = parse_id(&id)?;
    ops::hand_back(&state, ctx.account_id(), ctx.role(), &ctx.actor(), id).await?;
    Ok(Json(detail(&state, &ctx, id).await?.conversation))
}
