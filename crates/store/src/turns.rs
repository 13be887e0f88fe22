//! The assistant's turns: what each reply decided and what it cost.

use crate::StoreResult;
use crate::messaging::Lead;
use async_trait::async_trait;
use jiff::Timestamp;
use leadline_domain::AccountId;
use leadline_domain::ids::{ConversationId, EventId, LeadId, MessageId};

/// One turn as the engine decided it, with what it learned about the lead.
#[derive(Clone, Debug)]
pub struct NewTurn {
    pub id: EventId,
    pub account_id: AccountId,
    pub lead_id: LeadId,
    pub conversation_id: ConversationId,
    /// The lead's last message this turn answered.
    pub message_id: Option<MessageId>,
    /// `playbook`, or the model as `provider:model`.
    pub engine: String,
    pub intent: String,
    pub score: i32,
    pub next_action: String,
    /// Reasons for the score, fallbacks taken, guardrail notes.
    pub details: serde_json::Value,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub at: Timestamp,
    /// The lead's new stage and fields document, when they changed.
    pub stage: Option<String>,
    pub fields: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TurnRecord {
    pub id: EventId,
    pub conversation_id: ConversationId,
    pub message_id: Option<MessageId>,
    pub engine: String,
    pub intent: String,
    pub score: i32,
    pub next_action: String,
    pub details: serde_json::Value,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait TurnStore: Send + Sync {
    /// Records the turn and, in the same transaction, moves the lead's stage, fields, score and
    /// intent. `NotFound` when the lead is not the account's.
    async fn record_turn(&self, turn: NewTurn) -> StoreResult<Lead>;
    /// A conversation's turns, oldest first.
    async fn turns(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<TurnRecord>>;
    /// Model tokens (input + output) the account's turns and model-written summaries spent since
    /// `since`.
    async fn tokens_used_since(&self, account: AccountId, since: Timestamp) -> StoreResult<u64>;
}
