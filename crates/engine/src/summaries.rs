//! Conversation summaries: what a person picking a conversation up needs in a few lines (what the
//! lead wants, fields learned and missing, intent, score, the lead's last words, why it was
//! handed off). Written by the `summarize` job once a conversation has been quiet for the
//! account's quiet period, and by the hand-off job at once.
//!
//! The summary is written by the account's model when it has one within its monthly budget
//! (given the deterministic summary as the facts; its tokens count toward the budget), and is
//! otherwise the deterministic one from `leadline_conversation::model_turn::summarize`, which
//! costs nothing and cannot invent facts.

use crate::replies::{ReplyGenerator, Turn};
use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use leadline_conversation::model_turn::summarize;
use leadline_conversation::{
    ASSISTANT_SETTINGS, AssistantSettings, ChatLine, FieldValue, Intent, Speaker,
};
use leadline_domain::AccountId;
use leadline_domain::ids::ConversationId;
use leadline_store::{Direction, MessageStatus, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SUMMARIZE_JOB: &str = "summarize";
/// The settings key holding an account's [`NotificationSettings`].
pub const NOTIFICATION_SETTINGS: &str = "notifications";
/// The engine that writes the deterministic summary.
pub const SUMMARY_ENGINE: &str = "playbook";

/// The shortest quiet period an account may choose; the `summarize` job is first scheduled this
/// long after each message and then re-armed to the account's own period, so no settings read
/// sits on the inbound hot path.
pub const MIN_QUIET_MINUTES: u32 = 5;
pub const MAX_QUIET_MINUTES: u32 = 24 * 60;
pub const DEFAULT_QUIET_MINUTES: u32 = 30;

/// An account's notification settings (the per-user email choice lives in the store).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationSettings {
    /// Minutes without a message after which a conversation is summarized.
    pub quiet_minutes: u32,
    /// Where hand-off events are POSTed; validated by `notify::validate_webhook_url`.
    pub webhook_url: Option<String>,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            quiet_minutes: DEFAULT_QUIET_MINUTES,
            webhook_url: None,
        }
    }
}

impl NotificationSettings {
    pub fn quiet_period(&self) -> SignedDuration {
        let minutes = self
            .quiet_minutes
            .clamp(MIN_QUIET_MINUTES, MAX_QUIET_MINUTES);
        SignedDuration::from_mins(i64::from(minutes))
    }

    /// Checks a quiet period typed by a person.
    pub fn parse_quiet_minutes(raw: &str) -> Result<u32, String> {
        match raw.trim().parse::<u32>() {
            Ok(m) if (MIN_QUIET_MINUTES..=MAX_QUIET_MINUTES).contains(&m) => Ok(m),
            _ => Err(format!(
                "Enter a whole number of minutes from {MIN_QUIET_MINUTES} to {MAX_QUIET_MINUTES}."
            )),
        }
    }
}

/// The account's notification settings; the defaults when none are stored or they are
/// unreadable (a bad document must not stop summaries).
pub async fn notification_settings(
    store: &dyn Store,
    account: AccountId,
) -> anyhow::Result<NotificationSettings> {
    Ok(match store.get_setting(account, NOTIFICATION_SETTINGS).await? {
        None => NotificationSettings::default(),
        Some(v) => serde_json::from_value(v).unwrap_or_else(|e| {
            tracing::warn!(%account, error = %e, "stored notification settings are unreadable; using defaults");
            NotificationSettings::default()
        }),
    })
}

/// A summary ready to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub body: String,
    pub engine: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// The summary of a conversation as it stands: the account's model's, when it has one within
/// budget (`replies`), otherwise the deterministic one. `handed_off` adds why a person was asked
/// to take over, always in our own words.
pub async fn summarize_conversation(
    store: &dyn Store,
    replies: &dyn ReplyGenerator,
    account: AccountId,
    conversation: ConversationId,
    handed_off: Option<&str>,
) -> anyhow::Result<Written> {
    let conv = store.get_conversation(account, conversation).await?;
    let lead = store.get_lead(account, conv.lead_id).await?;
    let profile = store.get_account(account).await?.profile;
    let stored = store.get_setting(account, ASSISTANT_SETTINGS).await?;
    let settings = AssistantSettings::from_stored(stored).unwrap_or_default();
    let (resolved, _) = settings.resolve(&profile.industry);
    let mut known = BTreeMap::new();
    if let Some(fields) = lead.fields.as_object() {
        for (name, stored) in fields {
            if let Ok(value) = serde_json::from_value::<FieldValue>(stored["typed"].clone()) {
                known.insert(name.clone(), value);
            }
        }
    }
    let messages = store.messages(account, conversation).await?;
    let history: Vec<ChatLine> = messages
        .iter()
        .filter(|m| {
            !matches!(
                m.status,
                MessageStatus::Blocked | MessageStatus::Superseded | MessageStatus::Failed
            )
        })
        .map(|m| ChatLine {
            from: if m.direction == Direction::Inbound {
                Speaker::Lead
            } else {
                Speaker::Assistant
            },
            text: m.body.clone(),
            message_ref: m.id.to_string(),
        })
        .collect();
    let last_turn = store.turns(account, conversation).await?.pop();
    let intent = last_turn
        .as_ref()
        .and_then(|t| serde_json::from_value::<Intent>(serde_json::json!(t.intent)).ok())
        .unwrap_or(Intent::Other);
    let score = last_turn
        .map(|t| t.score)
        .or(lead.score)
        .unwrap_or(0)
        .clamp(0, 100);
    let score = u8::try_from(score).context("score out of range")?;
    let facts = summarize(&resolved.schema, &known, &history, intent, score);
    let turn = Turn {
        profile: &profile,
        lead: &lead,
        history: &messages,
    };
    let mut written = match replies.summarize(&turn, &facts).await {
        Ok(Some(m)) => Written {
            body: m.text,
            engine: m.engine,
            input_tokens: m.input_tokens,
            output_tokens: m.output_tokens,
        },
        Ok(None) => Written {
            body: facts,
            engine: SUMMARY_ENGINE.into(),
            input_tokens: 0,
            output_tokens: 0,
        },
        Err(e) => {
            tracing::warn!(%account, error = %format!("{e:#}"), "model summary unavailable; the deterministic summary is used");
            Written {
                body: facts,
                engine: SUMMARY_ENGINE.into(),
                input_tokens: 0,
                output_tokens: 0,
            }
        }
    };
    if let Some(reason) = handed_off {
        written.body.push_str(&format!(" Handed off: {reason}."));
    }
    Ok(written)
}

/// When a conversation last saw a message (its creation when it has none).
pub fn last_activity(conversation: &leadline_store::Conversation) -> Timestamp {
    conversation
        .last_message_at
        .unwrap_or(conversation.created_at)
}
