//! Rows as stored and their conversion into records. Every stored value is parsed here, so a value
//! the domain rejects surfaces as `StoreError::Corrupt` naming its column. The row structs derive
//! `FromRow` generically, so both backends decode through the same code.

use jiff::Timestamp;
use leadline_domain::{BusinessProfile, E164Phone, Email, Role};
use leadline_store::{
    Account, ApiKey, AuditEntry, Author, Channel, ComplianceEvent, ComplianceEventKind,
    Conversation, Direction, Invitation, InvitationState, Job, Lead, Member, Membership,
    MembershipWithAccount, Message, MessageStatus, SecretRow, Session, StoreError, StoreResult,
    User,
};
use std::fmt::Display;
use std::str::FromStr;

/// The current instant in whole microseconds, the precision every column keeps.
pub(crate) fn now_us() -> i64 {
    Timestamp::now().as_microsecond()
}

pub(crate) fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

fn corrupt(column: &str, why: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {why}"))
}

pub(crate) fn ts(us: i64, column: &str) -> StoreResult<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|e| corrupt(column, e))
}

fn opt_ts(us: Option<i64>, column: &str) -> StoreResult<Option<Timestamp>> {
    us.map(|us| ts(us, column)).transpose()
}

pub(crate) fn parse<T: FromStr>(raw: &str, column: &str) -> StoreResult<T>
where
    T::Err: Display,
{
    raw.parse().map_err(|e| corrupt(column, e))
}

fn email(raw: &str, column: &str) -> StoreResult<Email> {
    Email::parse(raw).map_err(|e| corrupt(column, e))
}

fn phone(raw: &str, column: &str) -> StoreResult<E164Phone> {
    E164Phone::parse(raw).map_err(|e| corrupt(column, e))
}

fn json(raw: &str, column: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(raw).map_err(|e| corrupt(column, e))
}

/// JSON as the TEXT both backends store.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding JSON: {e}")))
}

/// An update or delete that must hit one row.
pub(crate) fn one_row(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub(crate) fn invitation_state_str(state: InvitationState) -> &'static str {
    match state {
        InvitationState::Pending => "pending",
        InvitationState::Accepted => "accepted",
        InvitationState::Revoked => "revoked",
    }
}

fn invitation_state(raw: &str) -> StoreResult<InvitationState> {
    match raw {
        "pending" => Ok(InvitationState::Pending),
        "accepted" => Ok(InvitationState::Accepted),
        "revoked" => Ok(InvitationState::Revoked),
        other => Err(corrupt(
            "invitations.state",
            format!("unknown state '{other}'"),
        )),
    }
}

fn compliance_kind(raw: &str) -> StoreResult<ComplianceEventKind> {
    use ComplianceEventKind::*;
    [ConsentGranted, OptOut, OptIn, Suppressed, Unsuppressed]
        .into_iter()
        .find(|k| k.as_str() == raw)
        .ok_or_else(|| corrupt("compliance_events.kind", format!("unknown kind '{raw}'")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: String,
    business_name: String,
    agent_name: String,
    phone: Option<String>,
    website: Option<String>,
    industry: String,
    description: String,
    products_services: String,
    unique_selling_points: String,
    license_numbers: String,
    licensed_states: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl AccountRow {
    pub(crate) fn into_record(self) -> StoreResult<Account> {
        Ok(Account {
            id: parse(&self.id, "accounts.id")?,
            profile: BusinessProfile {
                business_name: self.business_name,
                agent_name: self.agent_name,
                phone: self
                    .phone
                    .map(|p| phone(&p, "accounts.phone"))
                    .transpose()?,
                website: self.website,
                industry: self.industry,
                description: self.description,
                products_services: self.products_services,
                unique_selling_points: self.unique_selling_points,
                license_numbers: self.license_numbers,
                licensed_states: serde_json::from_str(&self.licensed_states)
                    .map_err(|e| corrupt("accounts.licensed_states", e))?,
            },
            status: parse(&self.status, "accounts.status")?,
            created_at: ts(self.created_at, "accounts.created_at")?,
            updated_at: ts(self.updated_at, "accounts.updated_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    name: String,
    password_hash: Option<String>,
    is_platform_admin: bool,
    google_subject: Option<String>,
    created_at: i64,
}

impl UserRow {
    pub(crate) fn into_record(self) -> StoreResult<User> {
        Ok(User {
            id: parse(&self.id, "users.id")?,
            email: email(&self.email, "users.email")?,
            name: self.name,
            password_hash: self.password_hash,
            is_platform_admin: self.is_platform_admin,
            google_subject: self.google_subject,
            created_at: ts(self.created_at, "users.created_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    account_id: String,
    user_id: String,
    role: String,
    created_at: i64,
}

impl MembershipRow {
    pub(crate) fn into_record(self) -> StoreResult<Membership> {
        Ok(Membership {
            account_id: parse(&self.account_id, "memberships.account_id")?,
            user_id: parse(&self.user_id, "memberships.user_id")?,
            role: parse(&self.role, "memberships.role")?,
            created_at: ts(self.created_at, "memberships.created_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipWithAccountRow {
    account_id: String,
    business_name: String,
    status: String,
    role: String,
}

impl MembershipWithAccountRow {
    pub(crate) fn into_record(self) -> StoreResult<MembershipWithAccount> {
        Ok(MembershipWithAccount {
            account_id: parse(&self.account_id, "memberships.account_id")?,
            business_name: self.business_name,
            status: parse(&self.status, "accounts.status")?,
            role: parse(&self.role, "memberships.role")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    user_id: String,
    email: String,
    name: String,
    role: String,
    joined_at: i64,
}

impl MemberRow {
    pub(crate) fn into_record(self) -> StoreResult<Member> {
        Ok(Member {
            user_id: parse(&self.user_id, "memberships.user_id")?,
            email: email(&self.email, "users.email")?,
            name: self.name,
            role: parse(&self.role, "memberships.role")?,
            joined_at: ts(self.joined_at, "memberships.created_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: String,
    user_id: String,
    account_id: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl SessionRow {
    pub(crate) fn into_record(self) -> StoreResult<Session> {
        Ok(Session {
            id: parse(&self.id, "sessions.id")?,
            user_id: parse(&self.user_id, "sessions.user_id")?,
            account_id: self
                .account_id
                .map(|a| parse(&a, "sessions.account_id"))
                .transpose()?,
            created_at: ts(self.created_at, "sessions.created_at")?,
            last_seen_at: ts(self.last_seen_at, "sessions.last_seen_at")?,
            expires_at: ts(self.expires_at, "sessions.expires_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    id: String,
    account_id: String,
    email: String,
    role: String,
    invited_by: String,
    state: String,
    created_at: i64,
    expires_at: i64,
}

impl InvitationRow {
    pub(crate) fn into_record(self) -> StoreResult<Invitation> {
        Ok(Invitation {
            id: parse(&self.id, "invitations.id")?,
            account_id: parse(&self.account_id, "invitations.account_id")?,
            email: email(&self.email, "invitations.email")?,
            role: parse::<Role>(&self.role, "invitations.role")?,
            invited_by: parse(&self.invited_by, "invitations.invited_by")?,
            state: invitation_state(&self.state)?,
            created_at: ts(self.created_at, "invitations.created_at")?,
            expires_at: ts(self.expires_at, "invitations.expires_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: String,
    account_id: String,
    name: String,
    role: String,
    prefix: String,
    created_by: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    pub(crate) fn into_record(self) -> StoreResult<ApiKey> {
        Ok(ApiKey {
            id: parse(&self.id, "api_keys.id")?,
            account_id: parse(&self.account_id, "api_keys.account_id")?,
            name: self.name,
            role: parse(&self.role, "api_keys.role")?,
            prefix: self.prefix,
            created_by: parse(&self.created_by, "api_keys.created_by")?,
            created_at: ts(self.created_at, "api_keys.created_at")?,
            last_used_at: opt_ts(self.last_used_at, "api_keys.last_used_at")?,
            revoked_at: opt_ts(self.revoked_at, "api_keys.revoked_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SecretDbRow {
    id: String,
    account_id: String,
    purpose: String,
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    last4: String,
    updated_at: i64,
}

impl SecretDbRow {
    pub(crate) fn into_record(self) -> StoreResult<SecretRow> {
        Ok(SecretRow {
            id: parse(&self.id, "secrets.id")?,
            account_id: parse(&self.account_id, "secrets.account_id")?,
            purpose: self.purpose,
            key_id: self.key_id,
            nonce: self.nonce,
            ciphertext: self.ciphertext,
            last4: self.last4,
            updated_at: ts(self.updated_at, "secrets.updated_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    account_id: String,
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl AuditRow {
    pub(crate) fn into_record(self) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            account_id: parse(&self.account_id, "audit_log.account_id")?,
            seq: self.seq,
            at: ts(self.at, "audit_log.at")?,
            actor: self.actor,
            action: self.action,
            details: json(&self.details, "audit_log.details")?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ComplianceRow {
    id: String,
    account_id: String,
    phone: String,
    kind: String,
    source: String,
    details: String,
    at: i64,
}

impl ComplianceRow {
    pub(crate) fn into_record(self) -> StoreResult<ComplianceEvent> {
        Ok(ComplianceEvent {
            id: parse(&self.id, "compliance_events.id")?,
            account_id: parse(&self.account_id, "compliance_events.account_id")?,
            phone: phone(&self.phone, "compliance_events.phone")?,
            kind: compliance_kind(&self.kind)?,
            source: self.source,
            details: json(&self.details, "compliance_events.details")?,
            at: ts(self.at, "compliance_events.at")?,
        })
    }
}

/// Converts every row, failing on the first corrupt one.
pub(crate) fn records<R, T>(rows: Vec<R>, convert: fn(R) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.into_iter().map(convert).collect()
}

/// Numbers whose latest suppression event, given as `(phone, kind)` ordered by phone then time,
/// is `suppressed`.
pub(crate) fn fold_suppression(rows: Vec<(String, String)>) -> StoreResult<Vec<E164Phone>> {
    let mut latest: Vec<(String, bool)> = Vec::new();
    for (number, kind) in rows {
        let suppressed = compliance_kind(&kind)? == ComplianceEventKind::Suppressed;
        match latest.last_mut() {
            Some((last, state)) if *last == number => *state = suppressed,
            _ => latest.push((number, suppressed)),
        }
    }
    latest
        .into_iter()
        .filter(|(_, suppressed)| *suppressed)
        .map(|(number, _)| phone(&number, "compliance_events.phone"))
        .collect()
}

// ---- messaging ----

fn json_as<T: serde::de::DeserializeOwned>(raw: &str, column: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| corrupt(column, e))
}

fn opt_json(raw: Option<String>, column: &str) -> StoreResult<Option<serde_json::Value>> {
    raw.map(|raw| json(&raw, column)).transpose()
}

/// The stored form of an optional JSON value.
pub(crate) fn opt_json_text(value: Option<&serde_json::Value>) -> StoreResult<Option<String>> {
    value.map(json_text).transpose()
}

pub(crate) fn direction_str(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

fn direction(raw: &str) -> StoreResult<Direction> {
    match raw {
        "inbound" => Ok(Direction::Inbound),
        "outbound" => Ok(Direction::Outbound),
        other => Err(corrupt(
            "messages.direction",
            format!("unknown direction '{other}'"),
        )),
    }
}

/// The `kind` tag of an author, as the `messages.author_kind` column keeps it.
pub(crate) fn author_kind(author: &Author) -> &'static str {
    match author {
        Author::Lead => "lead",
        Author::Ai => "ai",
        Author::Human { .. } => "human",
        Author::System => "system",
        Author::Sequence { .. } => "sequence",
    }
}

fn message_status(raw: &str) -> StoreResult<MessageStatus> {
    MessageStatus::parse(raw)
        .ok_or_else(|| corrupt("messages.status", format!("unknown status '{raw}'")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    id: String,
    account_id: String,
    provider: String,
    name: String,
    address: String,
    webhook_token: String,
    settings: String,
    send_rate_per_minute: i64,
    enabled: bool,
    last_webhook_at: Option<i64>,
    created_at: i64,
}

impl ChannelRow {
    pub(crate) fn into_record(self) -> StoreResult<Channel> {
        Ok(Channel {
            id: parse(&self.id, "channels.id")?,
            account_id: parse(&self.account_id, "channels.account_id")?,
            provider: self.provider,
            name: self.name,
            address: self.address,
            webhook_token: self.webhook_token,
            settings: json(&self.settings, "channels.settings")?,
            send_rate_per_minute: u32::try_from(self.send_rate_per_minute)
                .map_err(|e| corrupt("channels.send_rate_per_minute", e))?,
            enabled: self.enabled,
            last_webhook_at: opt_ts(self.last_webhook_at, "channels.last_webhook_at")?,
            created_at: ts(self.created_at, "channels.created_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LeadRow {
    id: String,
    account_id: String,
    phone: String,
    name: String,
    email: Option<String>,
    state: Option<String>,
    time_zone: Option<String>,
    stage: String,
    score: Option<i32>,
    intent: Option<String>,
    owner: Option<String>,
    tags: String,
    fields: String,
    created_at: i64,
    updated_at: i64,
}

impl LeadRow {
    pub(crate) fn into_record(self) -> StoreResult<Lead> {
        Ok(Lead {
            id: parse(&self.id, "leads.id")?,
            account_id: parse(&self.account_id, "leads.account_id")?,
            phone: phone(&self.phone, "leads.phone")?,
            name: self.name,
            email: self.email,
            state: self.state,
            time_zone: self.time_zone,
            stage: self.stage,
            score: self.score,
            intent: self.intent,
            owner: self.owner.map(|o| parse(&o, "leads.owner")).transpose()?,
            tags: json_as(&self.tags, "leads.tags")?,
            fields: json(&self.fields, "leads.fields")?,
            created_at: ts(self.created_at, "leads.created_at")?,
            updated_at: ts(self.updated_at, "leads.updated_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConversationRow {
    id: String,
    account_id: String,
    lead_id: String,
    channel_id: String,
    ai_paused: bool,
    needs_attention: bool,
    unread: bool,
    last_message_at: Option<i64>,
    created_at: i64,
}

impl ConversationRow {
    pub(crate) fn into_record(self) -> StoreResult<Conversation> {
        Ok(Conversation {
            id: parse(&self.id, "conversations.id")?,
            account_id: parse(&self.account_id, "conversations.account_id")?,
            lead_id: parse(&self.lead_id, "conversations.lead_id")?,
            channel_id: parse(&self.channel_id, "conversations.channel_id")?,
            ai_paused: self.ai_paused,
            needs_attention: self.needs_attention,
            unread: self.unread,
            last_message_at: opt_ts(self.last_message_at, "conversations.last_message_at")?,
            created_at: ts(self.created_at, "conversations.created_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: String,
    account_id: String,
    conversation_id: String,
    direction: String,
    body: String,
    media: String,
    author: String,
    status: String,
    provider_message_id: Option<String>,
    error_code: Option<String>,
    segments: i32,
    encoding: String,
    gate: Option<String>,
    idempotency_key: Option<String>,
    due_at: Option<i64>,
    attempts: i32,
    created_at: i64,
    sent_at: Option<i64>,
}

impl MessageRow {
    pub(crate) fn into_record(self) -> StoreResult<Message> {
        Ok(Message {
            id: parse(&self.id, "messages.id")?,
            account_id: parse(&self.account_id, "messages.account_id")?,
            conversation_id: parse(&self.conversation_id, "messages.conversation_id")?,
            direction: direction(&self.direction)?,
            body: self.body,
            media: json(&self.media, "messages.media")?,
            author: json_as(&self.author, "messages.author")?,
            status: message_status(&self.status)?,
            provider_message_id: self.provider_message_id,
            error_code: self.error_code,
            segments: self.segments,
            encoding: self.encoding,
            gate: opt_json(self.gate, "messages.gate")?,
            idempotency_key: self.idempotency_key,
            due_at: opt_ts(self.due_at, "messages.due_at")?,
            attempts: self.attempts,
            created_at: ts(self.created_at, "messages.created_at")?,
            sent_at: opt_ts(self.sent_at, "messages.sent_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: String,
    account_id: String,
    kind: String,
    dedup_key: Option<String>,
    payload: String,
    run_at: i64,
    attempts: i32,
    last_error: Option<String>,
}

impl JobRow {
    pub(crate) fn into_record(self) -> StoreResult<Job> {
        Ok(Job {
            id: parse(&self.id, "jobs.id")?,
            account_id: parse(&self.account_id, "jobs.account_id")?,
            kind: self.kind,
            dedup_key: self.dedup_key,
            payload: json(&self.payload, "jobs.payload")?,
            run_at: ts(self.run_at, "jobs.run_at")?,
            attempts: self.attempts,
            last_error: self.last_error,
        })
    }
}
