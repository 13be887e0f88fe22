//! Conversation summaries and hand-off notifications.
//!
//! A summary is history: one row per summary, written after a conversation goes quiet or when it
//! is handed off. A hand-off notification is created once per (conversation, hand-off turn) by
//! its idempotency key, together with the conversation's flags; its deliveries (one email per
//! member who opted in, one webhook) are planned once and each sent by its own `deliver` job, so
//! a retried job never notifies twice.

use crate::StoreResult;
use async_trait::async_trait;
use jiff::Timestamp;
use leadline_domain::ids::{ConversationId, EventId, JobId};
use leadline_domain::{AccountId, UserId};

/// Why a summary was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SummaryReason {
    /// The conversation went quiet for the account's quiet period.
    Quiet,
    /// The conversation was handed off to a person.
    Handoff,
}

impl SummaryReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quiet => "quiet",
            Self::Handoff => "handoff",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "quiet" => Some(Self::Quiet),
            "handoff" => Some(Self::Handoff),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewSummary {
    pub id: EventId,
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub reason: SummaryReason,
    /// `playbook` for the deterministic summary, or the model as `provider:model`.
    pub engine: String,
    pub body: String,
    /// Model tokens spent writing it (0 for the deterministic summary); they count toward the
    /// account's monthly budget (`tokens_used_since`).
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// With a key, recording again returns the first summary (a retried job writes once).
    pub dedup_key: Option<String>,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub id: EventId,
    pub conversation_id: ConversationId,
    pub reason: SummaryReason,
    pub engine: String,
    pub body: String,
    pub created_at: Timestamp,
}

/// A hand-off, as the engine decided it.
#[derive(Clone, Debug)]
pub struct NewHandoff {
    pub notification_id: EventId,
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    /// `handoff:{conversation}:{turn's inbound message}`: one notification per hand-off turn.
    pub idempotency_key: String,
    /// For people: "The lead asked for a person."
    pub reason: String,
    /// Whether the assistant stops replying until a person hands the conversation back.
    pub pause_ai: bool,
    /// The job that plans the deliveries (kind `handoff`, payload `{notification_id}`); added only
    /// when the notification is new.
    pub job_id: JobId,
    pub job_kind: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: EventId,
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub kind: String,
    pub idempotency_key: String,
    pub reason: String,
    /// The summary text the deliveries carry, once planned.
    pub summary: Option<String>,
    pub created_at: Timestamp,
}

/// Where a delivery goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryChannel {
    Email,
    Webhook,
}

impl DeliveryChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up: a permanent refusal, or out of attempts.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub id: EventId,
    pub channel: DeliveryChannel,
    /// An email address or the webhook URL.
    pub target: String,
    /// The `deliver` job that sends it (payload `{delivery_id}`).
    pub job_id: JobId,
    pub job_kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: EventId,
    pub account_id: AccountId,
    pub notification_id: EventId,
    pub channel: DeliveryChannel,
    pub target: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// What one delivery attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryAttempt {
    Delivered,
    /// Failed, will be tried again.
    Retry {
        error: String,
    },
    /// Failed for good.
    Failed {
        error: String,
    },
}

/// A member's notification choices; members without a row get the role's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationPref {
    pub user_id: UserId,
    pub email_on_handoff: bool,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Records a summary; with a dedup key already used by the account, returns that summary.
    /// `NotFound` when the conversation is not the account's.
    async fn record_summary(&self, summary: NewSummary) -> StoreResult<Summary>;
    async fn latest_summary(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Option<Summary>>;
    /// The latest summary of each of `conversations` that has one (one query for a page).
    async fn latest_summaries(
        &self,
        account: AccountId,
        conversations: &[ConversationId],
    ) -> StoreResult<Vec<Summary>>;
    /// A conversation's summaries, newest first.
    async fn summaries(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<Summary>>;
    /// In one transaction: flags the conversation as needing attention (and pauses the AI when
    /// asked), creates the notification unless its key exists, and then adds its job. Returns the
    /// notification and whether this call created it.
    async fn record_handoff(&self, handoff: NewHandoff) -> StoreResult<(Notification, bool)>;
    async fn get_notification(&self, account: AccountId, id: EventId) -> StoreResult<Notification>;
    /// In one transaction: sets the notification's summary and adds the deliveries not yet
    /// planned (unique on notification, channel and target), each with its job. Returns every
    /// delivery of the notification.
    async fn plan_deliveries(
        &self,
        account: AccountId,
        notification: EventId,
        summary: &str,
        deliveries: Vec<NewDelivery>,
        at: Timestamp,
    ) -> StoreResult<Vec<Delivery>>;
    async fn get_delivery(&self, account: AccountId, id: EventId) -> StoreResult<Delivery>;
    /// Counts an attempt of a pending delivery and records its outcome; a delivery that is no
    /// longer pending is left alone (returns false).
    async fn record_delivery_attempt(
        &self,
        account: AccountId,
        id: EventId,
        attempt: DeliveryAttempt,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// The account's latest deliveries, newest first.
    async fn recent_deliveries(&self, account: AccountId, limit: u32)
    -> StoreResult<Vec<Delivery>>;
    async fn notification_prefs(&self, account: AccountId) -> StoreResult<Vec<NotificationPref>>;
    async fn set_notification_pref(
        &self,
        account: AccountId,
        pref: NotificationPref,
    ) -> StoreResult<()>;
}
