//! Storage ports for messaging: channels, leads, conversations, messages (inbound, and outbound
//! as the outbox), and the background job queue. Same conventions as the rest of the store:
//! everything is scoped by `AccountId`, instants are UTC, and each state change is one
//! transaction.
//!
//! Delivery guarantees rest on three database rules:
//! - an inbound message is unique on (channel, provider message id), so a retried webhook is a
//!   no-op;
//! - an outbound message is unique on (account, idempotency key), so a decision replayed after a
//!   crash cannot create a second message;
//! - outbound rows and jobs are claimed with a lease (`lease_until`); a crashed worker's rows
//!   become claimable again only when the lease expires, and the send itself is keyed by the
//!   message id at the provider where the provider supports it.

use crate::StoreResult;
use async_trait::async_trait;
use jiff::Timestamp;
use leadline_domain::ids::{ChannelId, ConversationId, JobId, LeadId, MessageId};
use leadline_domain::{AccountId, E164Phone, UserId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub account_id: AccountId,
    /// `twilio`, `linq`, `blooio` or `sandbox`.
    pub provider: String,
    pub name: String,
    /// The sending address: an E.164 number or an iMessage handle.
    pub address: String,
    /// Random token in the channel's webhook URL (`/webhooks/{provider}/{token}`); it routes an
    /// incoming webhook to its channel before the signature is checked.
    pub webhook_token: String,
    /// Non-secret provider settings (account SID, messaging service SID, ...). Credentials live
    /// in the secrets service under `channel:{id}:*` purposes.
    pub settings: serde_json::Value,
    /// Outbound messages per minute this sender may send.
    pub send_rate_per_minute: u32,
    pub enabled: bool,
    pub last_webhook_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewChannel {
    pub id: ChannelId,
    pub account_id: AccountId,
    pub provider: String,
    pub name: String,
    pub address: String,
    pub webhook_token: String,
    pub settings: serde_json::Value,
    pub send_rate_per_minute: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lead {
    pub id: LeadId,
    pub account_id: AccountId,
    pub phone: E164Phone,
    pub name: String,
    pub email: Option<String>,
    /// Two-letter state from the lead's address, when known (quiet hours use it).
    pub state: Option<String>,
    /// An explicit IANA zone, when known; otherwise zones come from the number.
    pub time_zone: Option<String>,
    /// `new`, `contacted`, `replied`, `qualified`, `booked`, `closed`.
    pub stage: String,
    pub score: Option<i32>,
    pub intent: Option<String>,
    pub owner: Option<UserId>,
    pub tags: Vec<String>,
    /// Extracted and custom fields: `{name: {value, message_id, confidence, source}}`.
    pub fields: serde_json::Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Inbox filters (combined with AND) and window; most recent activity first.
#[derive(Clone, Debug, Default)]
pub struct ConversationQuery {
    pub unread_only: bool,
    pub attention_only: bool,
    /// `Some(true)`: the assistant answers; `Some(false)`: taken over by a person.
    pub ai_active: Option<bool>,
    /// The lead's stage.
    pub stage: Option<String>,
    /// Matches the lead's name, phone or email (case-insensitive substring).
    pub text: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// The order of a lead list. Ties fall back to the newest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeadSort {
    #[default]
    Created,
    Updated,
    Name,
    Score,
}

/// A page of leads: filters (all optional, combined with AND), order and window.
#[derive(Clone, Debug, Default)]
pub struct LeadQuery {
    /// Matches name, phone or email (case-insensitive substring); blank means none.
    pub text: Option<String>,
    pub stage: Option<String>,
    /// Leads carrying exactly this tag.
    pub tag: Option<String>,
    pub sort: LeadSort,
    pub ascending: bool,
    pub limit: u32,
    pub offset: u32,
}

impl LeadQuery {
    /// Newest first, `limit` rows from `offset`, optionally searched.
    pub fn page(text: Option<&str>, limit: u32, offset: u32) -> Self {
        Self {
            text: text.map(str::to_owned),
            limit,
            offset,
            ..Self::default()
        }
    }
}

/// Lead data from a form, the API or an import. `upsert_lead` matches on (account, phone).
#[derive(Clone, Debug, Default)]
pub struct LeadInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub state: Option<String>,
    pub time_zone: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    pub account_id: AccountId,
    pub lead_id: LeadId,
    pub channel_id: ChannelId,
    /// A human took over: automated replies stop until handed back.
    pub ai_paused: bool,
    pub needs_attention: bool,
    pub unread: bool,
    pub last_message_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Who wrote an outbound message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Author {
    Lead,
    Ai,
    Human { user_id: UserId },
    System,
    Sequence { step: String },
}

/// A message's lifecycle. Outbound: `queued` (in the outbox) → `sending` (claimed) → `sent` →
/// `delivered` / `undelivered` / `failed`; or `deferred` (waiting for an allowed time),
/// `blocked` (the gate refused it), `superseded` (a newer inbound message replaced an unsent
/// reply). Inbound: `received`. `rank` orders statuses so that late callbacks never move a
/// message backwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Received,
    Queued,
    Deferred,
    Sending,
    Sent,
    Delivered,
    Read,
    Undelivered,
    Failed,
    Blocked,
    Superseded,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Queued => "queued",
            Self::Deferred => "deferred",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "received" => Self::Received,
            "queued" => Self::Queued,
            "deferred" => Self::Deferred,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "undelivered" => Self::Undelivered,
            "failed" => Self::Failed,
            "blocked" => Self::Blocked,
            "superseded" => Self::Superseded,
            _ => return None,
        })
    }

    /// Position in the lifecycle; a status update only applies if it ranks higher.
    pub fn rank(self) -> i32 {
        match self {
            Self::Received | Self::Queued | Self::Deferred => 0,
            Self::Sending => 10,
            Self::Sent => 20,
            Self::Delivered | Self::Undelivered | Self::Failed => 30,
            Self::Read => 40,
            Self::Blocked | Self::Superseded => 50,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub direction: Direction,
    pub body: String,
    /// `[{url, content_type}]`
    pub media: serde_json::Value,
    pub author: Author,
    pub status: MessageStatus,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub segments: i32,
    pub encoding: String,
    /// The send gate's last decision: `{decision, reasons, next_allowed_at, zones, states}`.
    pub gate: Option<serde_json::Value>,
    /// Outbound only: unique per account; derived from the decision that created the message.
    pub idempotency_key: Option<String>,
    /// Outbound only: when the worker may next pick it up.
    pub due_at: Option<Timestamp>,
    pub attempts: i32,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// The error code of a send whose outcome is unknown (the provider may have it): never resent
/// automatically, and reconciled when the provider's status callback names its key.
pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";

#[derive(Clone, Debug)]
pub struct NewInbound {
    pub id: MessageId,
    pub account_id: AccountId,
    pub channel_id: ChannelId,
    pub from: E164Phone,
    pub body: String,
    pub media: serde_json::Value,
    pub provider_message_id: String,
    pub received_at: Timestamp,
    /// When set, the same transaction that stores a new message withdraws the conversation's
    /// unsent AI replies and (re)schedules its reply job, unless the AI is paused there: an
    /// ordinary message is then handled in one round of writes.
    pub schedule_reply: Option<ScheduledReply>,
    /// When set, the same transaction (re)schedules the conversation's summary job (dedup key
    /// `"{kind}:{conversation id}"`), whether or not the AI is paused: a busy conversation is
    /// summarized once, after it goes quiet.
    pub schedule_summary: Option<ScheduledReply>,
}

/// A debounced job scheduled with an inbound message (the reply, the summary). Its dedup key is
/// `"{kind}:{conversation id}"` and its payload `{"conversation_id": …}`, so every bubble of a
/// burst moves the same job back.
#[derive(Clone, Debug)]
pub struct ScheduledReply {
    pub job_id: JobId,
    pub kind: String,
    pub run_at: Timestamp,
}

/// The result of storing an inbound message.
// Returned once per webhook and consumed at once: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum InboundOutcome {
    /// Stored; the lead and conversation were matched or created.
    Stored {
        message: Message,
        lead: Lead,
        conversation: Conversation,
    },
    /// The provider retried a webhook we already stored: nothing changed.
    Duplicate { message: Message },
}

#[derive(Clone, Debug)]
pub struct NewOutbound {
    pub id: MessageId,
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub body: String,
    pub author: Author,
    pub segments: i32,
    pub encoding: String,
    pub idempotency_key: String,
    pub due_at: Timestamp,
}

/// A claimed outbound message with what the worker needs to send it.
#[derive(Clone, Debug)]
pub struct OutboundWork {
    pub message: Message,
    pub conversation: Conversation,
    pub lead: Lead,
    pub channel: Channel,
}

/// A background job. Jobs with the same `dedup_key` collapse into one (debounce).
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub account_id: AccountId,
    pub kind: String,
    pub dedup_key: Option<String>,
    pub payload: serde_json::Value,
    pub run_at: Timestamp,
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub account_id: AccountId,
    pub kind: String,
    /// With a key: if the account has an uncompleted job with this key (waiting, or running:
    /// then it runs again, see `complete_job`), its `run_at` and payload are replaced instead of
    /// adding a second job.
    pub dedup_key: Option<String>,
    pub payload: serde_json::Value,
    pub run_at: Timestamp,
}

#[async_trait]
pub trait ChannelStore: Send + Sync {
    async fn create_channel(&self, channel: NewChannel) -> StoreResult<Channel>;
    async fn list_channels(&self, account: AccountId) -> StoreResult<Vec<Channel>>;
    async fn get_channel(&self, account: AccountId, id: ChannelId) -> StoreResult<Channel>;
    /// Routes a webhook: not tenant-scoped, because the token is what identifies the tenant.
    async fn find_channel_by_webhook_token(
        &self,
        provider: &str,
        token: &str,
    ) -> StoreResult<Option<Channel>>;
    async fn touch_channel_webhook(&self, id: ChannelId, at: Timestamp) -> StoreResult<()>;
    async fn set_channel_enabled(
        &self,
        account: AccountId,
        id: ChannelId,
        enabled: bool,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait LeadStore: Send + Sync {
    /// Creates the lead for (account, phone) or updates the given fields of the existing one.
    async fn upsert_lead(
        &self,
        account: AccountId,
        phone: &E164Phone,
        input: LeadInput,
    ) -> StoreResult<Lead>;
    async fn get_lead(&self, account: AccountId, id: LeadId) -> StoreResult<Lead>;
    /// The account's leads among `ids`, in no particular order; unknown ids are skipped (a
    /// page of conversations loads its leads in one query).
    async fn leads_by_ids(&self, account: AccountId, ids: &[LeadId]) -> StoreResult<Vec<Lead>>;
    async fn find_lead_by_phone(
        &self,
        account: AccountId,
        phone: &E164Phone,
    ) -> StoreResult<Option<Lead>>;
    /// A page of the account's leads as `query` filters and orders them.
    async fn list_leads(&self, account: AccountId, query: &LeadQuery) -> StoreResult<Vec<Lead>>;
    async fn update_lead_fields(
        &self,
        account: AccountId,
        id: LeadId,
        stage: Option<&str>,
        fields: Option<serde_json::Value>,
    ) -> StoreResult<Lead>;
    /// Deletes the lead with its conversations and messages.
    async fn delete_lead(&self, account: AccountId, id: LeadId) -> StoreResult<()>;
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn get_conversation(
        &self,
        account: AccountId,
        id: ConversationId,
    ) -> StoreResult<Conversation>;
    /// The conversation for (lead, channel), if there is one (a read never creates it).
    async fn find_conversation(
        &self,
        account: AccountId,
        lead: LeadId,
        channel: ChannelId,
    ) -> StoreResult<Option<Conversation>>;
    /// The conversation for (lead, channel), created if missing.
    async fn conversation_for(
        &self,
        account: AccountId,
        lead: LeadId,
        channel: ChannelId,
    ) -> StoreResult<Conversation>;
    /// A lead's conversations (one per channel), most recent activity first.
    async fn lead_conversations(
        &self,
        account: AccountId,
        lead: LeadId,
    ) -> StoreResult<Vec<Conversation>>;
    /// A page of the inbox as `query` filters it, most recent activity first.
    async fn find_conversations(
        &self,
        account: AccountId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<Conversation>>;
    /// Most recent activity first; filters: only unread, only needing attention.
    async fn list_conversations(
        &self,
        account: AccountId,
        unread_only: bool,
        attention_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>>;
    async fn set_ai_paused(
        &self,
        account: AccountId,
        id: ConversationId,
        paused: bool,
    ) -> StoreResult<()>;
    async fn set_needs_attention(
        &self,
        account: AccountId,
        id: ConversationId,
        needs: bool,
    ) -> StoreResult<()>;
    async fn mark_read(&self, account: AccountId, id: ConversationId) -> StoreResult<()>;
    /// Every message, oldest first.
    async fn messages(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<Message>>;
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores an inbound message, matching or creating the lead (by phone) and the conversation
    /// (lead × channel), in one transaction. Idempotent on (channel, provider message id).
    async fn store_inbound(&self, inbound: NewInbound) -> StoreResult<InboundOutcome>;
    /// Adds an outbound message to the outbox, optionally with jobs, in one transaction.
    /// Idempotent on (account, idempotency key): a repeat returns the existing message.
    async fn enqueue_outbound(
        &self,
        outbound: NewOutbound,
        jobs: Vec<NewJob>,
    ) -> StoreResult<Message>;
    /// Claims up to `limit` outbound messages that are `queued` or `deferred`, due at or before
    /// `now`, and not leased (or whose lease expired): sets status `sending`, `lease_until`, and
    /// increments `attempts`. Concurrent workers never claim the same row.
    async fn claim_outbound(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboundWork>>;
    /// The provider accepted the message; `gate` records the send gate's decision that let it go.
    async fn mark_sent(
        &self,
        id: MessageId,
        provider_message_id: &str,
        status: MessageStatus,
        at: Timestamp,
        gate: Option<serde_json::Value>,
    ) -> StoreResult<()>;
    /// Back to the outbox until `due_at`, with the reason (gate deferral or retryable error).
    async fn reschedule_outbound(
        &self,
        id: MessageId,
        status: MessageStatus,
        due_at: Timestamp,
        gate: Option<serde_json::Value>,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// Terminal: `blocked` by the gate, `failed` permanently, or `superseded`.
    async fn finish_outbound(
        &self,
        id: MessageId,
        status: MessageStatus,
        gate: Option<serde_json::Value>,
        error_code: Option<&str>,
    ) -> StoreResult<()>;
    /// Applies a provider status callback. Only moves forward (by `MessageStatus::rank`); returns
    /// whether it changed anything.
    async fn apply_delivery_status(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
        status: MessageStatus,
        error_code: Option<&str>,
    ) -> StoreResult<bool>;
    /// Matches a status callback to a send whose answer was lost ([`OUTCOME_UNKNOWN`]) by the
    /// idempotency key the provider echoes: the message takes the provider's id and the status.
    /// Returns whether such a message was found.
    async fn reconcile_outbound(
        &self,
        channel: ChannelId,
        idempotency_key: &str,
        provider_message_id: &str,
        status: MessageStatus,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Marks the conversation's unsent automated replies `superseded` (a newer inbound message
    /// arrived); returns how many.
    async fn supersede_pending_ai(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<u64>;
    /// Outbound messages to this lead's number sent at or after `since` (frequency caps).
    async fn sent_to_phone_since(
        &self,
        account: AccountId,
        phone: &E164Phone,
        since: Timestamp,
    ) -> StoreResult<Vec<Timestamp>>;
    /// How many messages this sender handed to its provider at or after `since` (the per-number
    /// send rate).
    async fn sent_by_channel_since(&self, channel: ChannelId, since: Timestamp)
    -> StoreResult<u64>;
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Adds a job, or, when an uncompleted job of the account has the same dedup key, moves it to
    /// the new `run_at` and payload (debounce).
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job>;
    /// Adds jobs without dedup keys in one statement: the cheap, durable way to accept a burst
    /// of work (webhooks arriving together). A job with a dedup key is refused with `Conflict`:
    /// those go through `enqueue_job`.
    async fn append_jobs(&self, jobs: &[NewJob]) -> StoreResult<()>;
    /// Claims up to `limit` due jobs of the given kinds with a lease.
    async fn claim_jobs(
        &self,
        kinds: &[&str],
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Job>>;
    /// Ends a claimed run. `claimed_run_at` is the job's `run_at` as claimed. If the job was
    /// re-armed (`enqueue_job` with its dedup key) while this run held it, it is not completed but
    /// released to run again at its new `run_at`, so the newer request is not lost. A worker whose
    /// claim was overtaken by a later claim of the re-armed job changes nothing; completing twice
    /// is harmless.
    async fn complete_job(&self, id: JobId, claimed_run_at: Timestamp) -> StoreResult<()>;
    /// Releases the job to run again at `retry_at`, recording the error.
    async fn retry_job(&self, id: JobId, retry_at: Timestamp, error: &str) -> StoreResult<()>;
    /// Jobs not yet completed (tests and health).
    async fn pending_jobs(&self, account: AccountId) -> StoreResult<Vec<Job>>;
}
