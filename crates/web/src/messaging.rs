//! Messaging operations behind both the dashboard and the JSON API: channels (connect Twilio,
//! create the sandbox), the inbox (conversations, threads, take over, reply by hand, hand back)
//! and the sandbox phone simulator. Every text goes through the engine, so a person's reply
//! meets the same send gate as the assistant's, and the simulator uses the very pipeline a
//! provider webhook does.

use crate::error::{AppError, FieldError};
use crate::state::AppState;
use jiff::Timestamp;
use leadline_app::tokens;
use leadline_domain::ids::{ChannelId, ConversationId};
use leadline_domain::{AccountId, E164Phone, Role, UserId};
use leadline_engine::providers::{credential_purpose, webhook_secret_purpose};
use leadline_providers::messaging::SenderAddress;
use leadline_providers::messaging::linq::standard_signature;
use leadline_providers::messaging::sandbox::SandboxProvider;
use leadline_store::{
    Author, Channel, Conversation, Direction, Lead, Message, NewAudit, NewChannel,
};
use secrecy::SecretString;
use std::collections::HashMap;

/// The sandbox channel's own number: fictitious (555-01xx) yet valid under our E.164 rules.
pub const SANDBOX_ADDRESS: &str = "+15125550100";
/// The lead number the simulator starts with.
pub const SANDBOX_LEAD: &str = "+15125550123";
/// The longest text a person may send by hand (ten concatenated segments).
pub const MAX_BODY_CHARS: usize = 1600;

fn audit(account: AccountId, actor: &str, action: &str, details: serde_json::Value) -> NewAudit {
    NewAudit {
        account_id: account,
        actor: actor.to_owned(),
        action: action.to_owned(),
        details,
    }
}

/// `2026-12-08 15:00 UTC`
pub fn minute(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// The account's zone, from its business phone's area code (UTC when unknown), and its name:
/// the calendar of its day boundaries and the clock its people read times in.
pub fn account_zone(account: &leadline_store::Account) -> (jiff::tz::TimeZone, String) {
    let zone = account.profile.phone.as_ref().and_then(|phone| {
        let location = leadline_domain::compliance::zones::locate_phone(phone);
        // Split area codes have several zones; the first is as good a calendar as any.
        let name = location.known.then(|| location.zones.first().copied())??;
        Some((leadline_domain::compliance::zones::time_zone(name)?, name))
    });
    match zone {
        Some((tz, name)) => (tz, name.to_owned()),
        None => (jiff::tz::TimeZone::UTC, "UTC".to_owned()),
    }
}

/// A minute on the account's clock, with the zone's abbreviation: "2026-12-04 09:35 CST".
pub fn local_minute(t: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    t.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Channels

/// A channel with what a subscriber needs to see about it.
#[derive(Debug, Clone)]
pub struct ChannelView {
    pub channel: Channel,
    /// Where the provider must post (none for the sandbox, which has no provider).
    pub webhook_url: Option<String>,
    /// The stored credential, masked (`••••1234`).
    pub credential: Option<String>,
    /// The stored webhook signing secret (Linq, Blooio), masked.
    pub webhook_secret: Option<String>,
}

impl ChannelView {
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.channel.settings[name].as_str()
    }
}

pub fn webhook_url(state: &AppState, channel: &Channel) -> Option<String> {
    (channel.provider != "sandbox").then(|| {
        state.config.link(&format!(
            "/webhooks/{}/{}",
            channel.provider, channel.webhook_token
        ))
    })
}

pub async fn list_channels(
    state: &AppState,
    account: AccountId,
) -> Result<Vec<ChannelView>, AppError> {
    let channels = state.store.list_channels(account).await?;
    let masked: HashMap<String, String> = state
        .secrets
        .list_masked(account)
        .await?
        .into_iter()
        .map(|m| (m.purpose, m.masked))
        .collect();
    Ok(channels
        .into_iter()
        .map(|channel| ChannelView {
            webhook_url: webhook_url(state, &channel),
            credential: masked.get(&credential_purpose(&channel)).cloned(),
            webhook_secret: masked.get(&webhook_secret_purpose(&channel)).cloned(),
            channel,
        })
        .collect())
}

/// A Twilio number to connect. The auth token is stored encrypted and never shown again.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct TwilioChannelInput {
    /// A name for people, e.g. "Main line".
    #[serde(default)]
    pub name: String,
    /// The Twilio number texts are sent from, E.164 (e.g. +15125550100).
    #[serde(default)]
    pub phone_number: String,
    /// The Twilio Account SID (`AC` + 32 hex characters).
    #[serde(default)]
    pub account_sid: String,
    /// The Twilio auth token; it also signs Twilio's webhooks.
    #[serde(default)]
    pub auth_token: String,
    /// Optional: another API origin (a Twilio regional edge, or a mock in tests).
    #[serde(default)]
    pub api_base_url: Option<String>,
}

/// A Linq line to connect (iMessage, RCS, SMS). The API token and the webhook signing secret
/// are stored encrypted and never shown again.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct LinqChannelInput {
    /// A name for people, e.g. "iMessage line".
    #[serde(default)]
    pub name: String,
    /// The Linq line texts are sent from, E.164 (e.g. +15125550100).
    #[serde(default)]
    pub phone_number: String,
    /// The Linq Partner API token.
    #[serde(default)]
    pub api_token: String,
    /// The signing secret of the Linq webhook subscription (`whsec_…`).
    #[serde(default)]
    pub webhook_secret: String,
    /// Optional: another API origin (a mock in tests).
    #[serde(default)]
    pub api_base_url: Option<String>,
}

/// A Blooio line to connect (iMessage). The API key and the webhook signing secret are stored
/// encrypted and never shown again.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct BlooioChannelInput {
    /// A name for people, e.g. "iMessage line".
    #[serde(default)]
    pub name: String,
    /// The Blooio number (E.164) or iMessage handle (e.g. an email address) texts are sent from.
    #[serde(default)]
    pub sender: String,
    /// The Blooio API key (`bl_live_…`).
    #[serde(default)]
    pub api_key: String,
    /// The signing secret of the Blooio webhook (`whsec_…`).
    #[serde(default)]
    pub webhook_secret: String,
    /// Optional: another API origin (a mock in tests).
    #[serde(default)]
    pub api_base_url: Option<String>,
}

/// Credentials are sent to this origin, so it may only be the provider itself (`domain` or one of
/// its subdomains, over https) or a mock on this machine: never an arbitrary host a tenant names.
fn is_allowed_api_base(raw: &str, domain: &str) -> bool {
    let Ok(u) = url::Url::parse(raw) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Domain(d)) if u.scheme() == "https" => {
            d == domain
                || d.strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
        }
        Some(url::Host::Domain("localhost")) => true,
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

fn is_account_sid(raw: &str) -> bool {
    raw.len() == 34 && raw.starts_with("AC") && raw[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The channel record the engine will see, for naming its credential before it exists.
fn channel_of(new: &NewChannel) -> Channel {
    Channel {
        id: new.id,
        account_id: new.account_id,
        provider: new.provider.clone(),
        name: new.name.clone(),
        address: new.address.clone(),
        webhook_token: new.webhook_token.clone(),
        settings: new.settings.clone(),
        send_rate_per_minute: new.send_rate_per_minute,
        enabled: true,
        last_webhook_at: None,
        created_at: Timestamp::UNIX_EPOCH,
    }
}

pub async fn connect_twilio(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    input: &TwilioChannelInput,
) -> Result<ChannelView, AppError> {
    crate::auth::require_role(role, Role::Admin)?;
    let mut fields = Vec::new();
    let mut push = |field: &str, message: String| {
        fields.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        push("name", "must be 1 to 80 characters".into());
    }
    let phone = E164Phone::parse(&input.phone_number)
        .map_err(|e| push("phone_number", e.to_string()))
        .ok();
    let sid = input.account_sid.trim();
    if !is_account_sid(sid) {
        push(
            "account_sid",
            "must be your Account SID: AC followed by 32 hexadecimal characters".into(),
        );
    }
    let token = input.auth_token.trim();
    if token.is_empty() {
        push("auth_token", "is required".into());
    }
    let base = input
        .api_base_url
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty());
    if let Some(b) = base
        && !is_allowed_api_base(b, "twilio.com")
    {
        push(
            "api_base_url",
            "must be an https address on twilio.com (e.g. https://api.dublin.ie1.twilio.com), or a local mock on this machine".into(),
        );
    }
    let Some(phone) = phone.filter(|_| fields.is_empty()) else {
        return Err(AppError::validation("Some fields need attention.", fields));
    };
    let mut settings = serde_json::json!({ "account_sid": sid });
    if let Some(b) = base {
        settings["api_base_url"] = b.into();
    }
    let new = NewChannel {
        id: ChannelId::new(),
        account_id: account,
        provider: "twilio".into(),
        name: name.to_owned(),
        address: phone.to_string(),
        webhook_token: tokens::generate(),
        settings,
        send_rate_per_minute: 60,
    };
    create_with_secrets(state, account, actor, new, &[(Secret::Credential, token)]).await
}

/// Which secret of a channel a value is.
#[derive(Clone, Copy)]
enum Secret {
    Credential,
    WebhookSecret,
}

/// Stores the channel's secrets, then the channel, then the audit entry; answers the view.
async fn create_with_secrets(
    state: &AppState,
    account: AccountId,
    actor: &str,
    new: NewChannel,
    secrets: &[(Secret, &str)],
) -> Result<ChannelView, AppError> {
    let draft = channel_of(&new);
    let purpose_of = |which: Secret| match which {
        Secret::Credential => credential_purpose(&draft),
        Secret::WebhookSecret => webhook_secret_purpose(&draft),
    };
    // The secrets first: a channel must never exist without the secret its webhooks are
    // checked with.
    let mut stored: Vec<String> = Vec::new();
    for (which, value) in secrets {
        let purpose = purpose_of(*which);
        let put = state
            .secrets
            .put(
                account,
                &purpose,
                &SecretString::from((*value).to_owned()),
                actor,
            )
            .await;
        if let Err(e) = put {
            for p in &stored {
                let _ = state.secrets.delete(account, p, actor).await;
            }
            return Err(e.into());
        }
        stored.push(purpose);
    }
    let channel = match state.store.create_channel(new).await {
        Ok(c) => c,
        Err(e) => {
            for p in &stored {
                let _ = state.secrets.delete(account, p, actor).await;
            }
            return Err(e.into());
        }
    };
    let details = serde_json::json!({"channel_id": channel.id.to_string(), "provider": channel.provider, "address": channel.address});
    state
        .store
        .append_audit(audit(account, actor, "channel.create", details))
        .await?;
    let masked: HashMap<String, String> = state
        .secrets
        .list_masked(account)
        .await?
        .into_iter()
        .map(|m| (m.purpose, m.masked))
        .collect();
    Ok(ChannelView {
        webhook_url: webhook_url(state, &channel),
        credential: masked.get(&credential_purpose(&channel)).cloned(),
        webhook_secret: masked.get(&webhook_secret_purpose(&channel)).cloned(),
        channel,
    })
}

/// A secret typed into a form: required, one line, no spaces.
fn check_secret(push: &mut impl FnMut(&str, String), field: &str, raw: &str) -> String {
    let value = raw.trim();
    if value.is_empty() {
        push(field, "is required".into());
    } else if value.len() > 500 {
        push(field, "must be at most 500 characters".into());
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        push(field, "may not contain spaces".into());
    }
    value.to_owned()
}

fn check_name(push: &mut impl FnMut(&str, String), raw: &str) -> String {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 80 {
        push("name", "must be 1 to 80 characters".into());
    }
    name.to_owned()
}

/// The optional `api_base_url`, checked against the provider's own domain.
fn check_base(
    push: &mut impl FnMut(&str, String),
    raw: Option<&str>,
    domain: &str,
) -> Option<String> {
    let base = raw.map(str::trim).filter(|b| !b.is_empty())?;
    if !is_allowed_api_base(base, domain) {
        push(
            "api_base_url",
            format!("must be an https address on {domain}, or a local mock on this machine"),
        );
    }
    Some(base.to_owned())
}

fn new_channel(
    account: AccountId,
    provider: &str,
    name: String,
    address: String,
    base: Option<String>,
) -> NewChannel {
    let mut settings = serde_json::json!({});
    if let Some(b) = base {
        settings["api_base_url"] = b.into();
    }
    NewChannel {
        id: ChannelId::new(),
        account_id: account,
        provider: provider.into(),
        name,
        address,
        webhook_token: tokens::generate(),
        settings,
        send_rate_per_minute: 60,
    }
}

pub async fn connect_linq(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    input: &LinqChannelInput,
) -> Result<ChannelView, AppError> {
    crate::auth::require_role(role, Role::Admin)?;
    let mut fields = Vec::new();
    let mut push = |field: &str, message: String| {
        fields.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let name = check_name(&mut push, &input.name);
    // Linq sends from an E.164 line, never from an email handle.
    let phone = E164Phone::parse(&input.phone_number)
        .map_err(|e| push("phone_number", e.to_string()))
        .ok();
    let token = check_secret(&mut push, "api_token", &input.api_token);
    let secret = check_secret(&mut push, "webhook_secret", &input.webhook_secret);
    // Linq's Standard Webhooks secrets are `whsec_` + base64; a malformed one could never verify.
    if secret.starts_with("whsec_") && standard_signature(&secret, "check", 0, b"").is_err() {
        push(
            "webhook_secret",
            "must be the signing secret Linq showed: whsec_ followed by base64".into(),
        );
    }
    let base = check_base(&mut push, input.api_base_url.as_deref(), "linqapp.com");
    let Some(phone) = phone.filter(|_| fields.is_empty()) else {
        return Err(AppError::validation("Some fields need attention.", fields));
    };
    let new = new_channel(account, "linq", name, phone.to_string(), base);
    create_with_secrets(
        state,
        account,
        actor,
        new,
        &[
            (Secret::Credential, &token),
            (Secret::WebhookSecret, &secret),
        ],
    )
    .await
}

pub async fn connect_blooio(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    input: &BlooioChannelInput,
) -> Result<ChannelView, AppError> {
    crate::auth::require_role(role, Role::Admin)?;
    let mut fields = Vec::new();
    let mut push = |field: &str, message: String| {
        fields.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let name = check_name(&mut push, &input.name);
    let sender = SenderAddress::parse(&input.sender)
        .map_err(|e| push("sender", format!("is not usable: {}", e.why)))
        .ok();
    let key = check_secret(&mut push, "api_key", &input.api_key);
    let secret = check_secret(&mut push, "webhook_secret", &input.webhook_secret);
    let base = check_base(&mut push, input.api_base_url.as_deref(), "blooio.com");
    let Some(sender) = sender.filter(|_| fields.is_empty()) else {
        return Err(AppError::validation("Some fields need attention.", fields));
    };
    let new = new_channel(account, "blooio", name, sender.to_string(), base);
    create_with_secrets(
        state,
        account,
        actor,
        new,
        &[(Secret::Credential, &key), (Secret::WebhookSecret, &secret)],
    )
    .await
}

pub async fn sandbox_channel(
    state: &AppState,
    account: AccountId,
) -> Result<Option<Channel>, AppError> {
    Ok(state
        .store
        .list_channels(account)
        .await?
        .into_iter()
        .find(|c| c.provider == "sandbox"))
}

/// The account's sandbox channel, created on first use.
pub async fn create_sandbox(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
) -> Result<Channel, AppError> {
    crate::auth::require_role(role, Role::Admin)?;
    if let Some(existing) = sandbox_channel(state, account).await? {
        return Ok(existing);
    }
    let channel = state
        .store
        .create_channel(NewChannel {
            id: ChannelId::new(),
            account_id: account,
            provider: "sandbox".into(),
            name: "Sandbox".into(),
            address: SANDBOX_ADDRESS.into(),
            webhook_token: tokens::generate(),
            settings: serde_json::json!({}),
            send_rate_per_minute: 60,
        })
        .await?;
    let details = serde_json::json!({"channel_id": channel.id.to_string(), "provider": "sandbox"});
    state
        .store
        .append_audit(audit(account, actor, "channel.create", details))
        .await?;
    Ok(channel)
}

// ---------------------------------------------------------------------------------------------
// Messages, as people read them

/// The send gate's decision in words: "deferred until 2026-12-08 15:00 UTC — Texas: …".
pub fn gate_summary(gate: &serde_json::Value) -> Option<String> {
    let reasons = gate["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let with_reasons = |head: String| {
        if reasons.is_empty() {
            head
        } else {
            format!("{head} — {reasons}")
        }
    };
    match gate["decision"].as_str()? {
        "defer" => {
            let until = gate["until"]
                .as_str()
                .and_then(|u| u.parse::<Timestamp>().ok())
                .map(minute)
                .unwrap_or_else(|| "later".into());
            Some(with_reasons(format!("deferred until {until}")))
        }
        "block" => Some(with_reasons("blocked".into())),
        "send" => Some("cleared by the send gate".into()),
        _ => None,
    }
}

/// Who wrote a message, in words.
pub fn author_label(message: &Message, names: &HashMap<UserId, String>) -> String {
    if message.direction == Direction::Inbound {
        return "Lead".into();
    }
    match &message.author {
        Author::Lead => "Lead".into(),
        Author::Ai => "AI assistant".into(),
        Author::System => "System".into(),
        Author::Human { user_id } => names
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| "A team member".into()),
        Author::Sequence { step } => format!("Sequence ({step})"),
    }
}

pub fn author_kind(author: &Author) -> &'static str {
    match author {
        Author::Lead => "lead",
        Author::Ai => "ai",
        Author::System => "system",
        Author::Human { .. } => "human",
        Author::Sequence { .. } => "sequence",
    }
}

/// The account's members by id, to name the people who replied by hand.
pub async fn member_names(
    state: &AppState,
    account: AccountId,
) -> Result<HashMap<UserId, String>, AppError> {
    Ok(state
        .store
        .members_of_account(account)
        .await?
        .into_iter()
        .map(|m| (m.user_id, m.name))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The inbox

/// A conversation with its lead and channel.
#[derive(Debug, Clone)]
pub struct ConversationSummary {
    pub conversation: Conversation,
    pub lead: Lead,
    pub channel_name: String,
    pub channel_provider: String,
    /// The conversation's latest written summary (quiet period or hand-off), if any.
    pub latest_summary: Option<leadline_store::Summary>,
}

async fn summarise(
    state: &AppState,
    account: AccountId,
    conversation: Conversation,
    channels: &HashMap<ChannelId, Channel>,
) -> Result<ConversationSummary, AppError> {
    let lead = state.store.get_lead(account, conversation.lead_id).await?;
    Ok(with_channel(conversation, lead, channels))
}

fn with_channel(
    conversation: Conversation,
    lead: Lead,
    channels: &HashMap<ChannelId, Channel>,
) -> ConversationSummary {
    let (channel_name, channel_provider) = channels
        .get(&conversation.channel_id)
        .map(|c| (c.name.clone(), c.provider.clone()))
        .unwrap_or_default();
    ConversationSummary {
        conversation,
        lead,
        channel_name,
        channel_provider,
        latest_summary: None,
    }
}

async fn channels_by_id(
    state: &AppState,
    account: AccountId,
) -> Result<HashMap<ChannelId, Channel>, AppError> {
    Ok(state
        .store
        .list_channels(account)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect())
}

/// A page of the inbox as `query` filters it, each with its lead, channel and latest summary.
pub async fn find_conversations(
    state: &AppState,
    account: AccountId,
    query: &leadline_store::ConversationQuery,
) -> Result<Vec<ConversationSummary>, AppError> {
    let channels = channels_by_id(state, account).await?;
    let conversations = state.store.find_conversations(account, query).await?;
    // One query for the page's leads, not one per conversation.
    let ids: Vec<_> = conversations.iter().map(|c| c.lead_id).collect();
    let leads: HashMap<_, _> = state
        .store
        .leads_by_ids(account, &ids)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    // And one for their latest summaries.
    let conversation_ids: Vec<_> = conversations.iter().map(|c| c.id).collect();
    let mut summaries: HashMap<_, _> = state
        .store
        .latest_summaries(account, &conversation_ids)
        .await?
        .into_iter()
        .map(|s| (s.conversation_id, s))
        .collect();
    let mut out = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        // A lead has one conversation per channel; a lead deleted between the reads is skipped.
        let Some(lead) = leads.get(&conversation.lead_id).cloned() else {
            continue;
        };
        let latest = summaries.remove(&conversation.id);
        let mut item = with_channel(conversation, lead, &channels);
        item.latest_summary = latest;
        out.push(item);
    }
    Ok(out)
}

pub async fn conversation(
    state: &AppState,
    account: AccountId,
    id: ConversationId,
) -> Result<(ConversationSummary, Vec<Message>), AppError> {
    let conversation = state.store.get_conversation(account, id).await?;
    let channels = channels_by_id(state, account).await?;
    let mut summary = summarise(state, account, conversation, &channels).await?;
    summary.latest_summary = state.store.latest_summary(account, id).await?;
    let messages = state.store.messages(account, id).await?;
    Ok((summary, messages))
}

/// Pauses the assistant on a conversation; replies it queued but did not send are withdrawn.
pub async fn take_over(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    id: ConversationId,
) -> Result<(), AppError> {
    crate::auth::require_role(role, Role::Agent)?;
    pause_ai(state, account, actor, id).await
}

async fn pause_ai(
    state: &AppState,
    account: AccountId,
    actor: &str,
    id: ConversationId,
) -> Result<(), AppError> {
    let conversation = state.store.get_conversation(account, id).await?;
    if conversation.ai_paused {
        return Ok(());
    }
    state.store.set_ai_paused(account, id, true).await?;
    state.store.supersede_pending_ai(account, id).await?;
    let details = serde_json::json!({ "conversation_id": id.to_string() });
    state
        .store
        .append_audit(audit(account, actor, "conversation.take_over", details))
        .await?;
    Ok(())
}

pub async fn hand_back(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    id: ConversationId,
) -> Result<(), AppError> {
    crate::auth::require_role(role, Role::Agent)?;
    let conversation = state.store.get_conversation(account, id).await?;
    if !conversation.ai_paused {
        return Ok(());
    }
    state.store.set_ai_paused(account, id, false).await?;
    let details = serde_json::json!({ "conversation_id": id.to_string() });
    state
        .store
        .append_audit(audit(account, actor, "conversation.hand_back", details))
        .await?;
    Ok(())
}

fn check_body(field: &str, raw: &str) -> Result<String, AppError> {
    let body = raw.trim();
    if body.is_empty() {
        return Err(AppError::field(field, "must not be empty"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(AppError::field(
            field,
            format!("must be at most {MAX_BODY_CHARS} characters"),
        ));
    }
    Ok(body.to_owned())
}

/// A person's reply: it takes the conversation over, then waits in the outbox for the send gate
/// like any other text (an opted-out lead gets nothing, quiet hours defer it).
pub async fn reply_by_hand(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    user: UserId,
    id: ConversationId,
    body: &str,
) -> Result<Message, AppError> {
    crate::auth::require_role(role, Role::Agent)?;
    let body = check_body("body", body)?;
    pause_ai(state, account, actor, id).await?;
    let conversation = state.store.get_conversation(account, id).await?;
    let key = format!("human:{}", uuid::Uuid::new_v4());
    let message = state
        .engine
        .queue_text(
            &conversation,
            body,
            Author::Human { user_id: user },
            key,
            Timestamp::now(),
        )
        .await
        .map_err(|e| AppError::internal(format!("{e:#}")))?;
    let details = serde_json::json!({ "conversation_id": id.to_string(), "message_id": message.id.to_string() });
    state
        .store
        .append_audit(audit(account, actor, "message.manual_reply", details))
        .await?;
    Ok(message)
}

// ---------------------------------------------------------------------------------------------
// The sandbox phone simulator

pub fn parse_lead_phone(field: &str, raw: &str) -> Result<E164Phone, AppError> {
    E164Phone::parse(raw).map_err(|e| AppError::field(field, e.to_string()))
}

/// A text typed into the simulator as the lead: the same pipeline as a provider webhook.
pub async fn sandbox_text(
    state: &AppState,
    account: AccountId,
    role: Role,
    lead: &str,
    body: &str,
) -> Result<E164Phone, AppError> {
    crate::auth::require_role(role, Role::Agent)?;
    let phone = parse_lead_phone("lead", lead);
    let text = check_body("body", body);
    let (phone, text) = match (phone, text) {
        (Ok(p), Ok(t)) => (p, t),
        (p, t) => {
            let fields = [p.err(), t.err()]
                .into_iter()
                .flatten()
                .flat_map(|e| e.fields)
                .collect();
            return Err(AppError::validation("Some fields need attention.", fields));
        }
    };
    let Some(channel) = sandbox_channel(state, account).await? else {
        return Err(AppError::conflict(
            "no_sandbox",
            "This account has no sandbox channel yet. Create it first.",
        ));
    };
    let event = SandboxProvider::inbound(phone.clone(), &channel.address, &text);
    state
        .engine
        .handle_inbound(&channel, event, Timestamp::now())
        .await
        .map_err(|e| AppError::internal(format!("{e:#}")))?;
    Ok(phone)
}

/// The simulator's thread with `lead`, oldest first (empty before the first text).
pub async fn sandbox_thread(
    state: &AppState,
    account: AccountId,
    channel: &Channel,
    lead: &E164Phone,
) -> Result<Option<(Conversation, Vec<Message>)>, AppError> {
    let Some(lead) = state.store.find_lead_by_phone(account, lead).await? else {
        return Ok(None);
    };
    // Found rather than `conversation_for`, which would create an empty one on a read.
    let found = state
        .store
        .find_conversation(account, lead.id, channel.id)
        .await?;
    let Some(conversation) = found else {
        return Ok(None);
    };
    let messages = state.store.messages(account, conversation.id).await?;
    Ok(Some((conversation, messages)))
}
