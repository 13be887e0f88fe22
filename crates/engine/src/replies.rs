//! What the assistant says. The conversation engine (extraction, knowledge, models) plugs in
//! behind [`ReplyGenerator`]; until it lands, [`HoldingReply`] answers every turn honestly: it
//! greets once in the business's name and says a person will follow up, promising nothing.

use async_trait::async_trait;
use leadline_domain::BusinessProfile;
use leadline_store::{Direction, Lead, Message};

/// Everything a reply may depend on.
#[derive(Debug)]
pub struct Turn<'a> {
    pub profile: &'a BusinessProfile,
    pub lead: &'a Lead,
    /// The whole conversation, oldest first.
    pub history: &'a [Message],
}

/// A summary a model wrote, with what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
    pub text: String,
    /// The model as `provider:model`.
    pub engine: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

#[async_trait]
pub trait ReplyGenerator: Send + Sync {
    /// The reply text, or `None` to stay silent this turn.
    async fn reply(&self, turn: &Turn<'_>) -> anyhow::Result<Option<String>>;

    /// A model-written summary of the conversation, given the deterministic one as the facts;
    /// `None` (the default) when no model is configured, the budget is spent or the model
    /// failed: the deterministic summary is used then.
    async fn summarize(
        &self,
        _turn: &Turn<'_>,
        _facts: &str,
    ) -> anyhow::Result<Option<ModelSummary>> {
        Ok(None)
    }
}

#[derive(Debug, Default)]
pub struct HoldingReply;

#[async_trait]
impl ReplyGenerator for HoldingReply {
    async fn reply(&self, turn: &Turn<'_>) -> anyhow::Result<Option<String>> {
        let business = turn.profile.business_name.trim();
        let agent = turn.profile.agent_name.trim();
        let already_greeted = turn
            .history
            .iter()
            .any(|m| m.direction == Direction::Outbound);
        let text = if already_greeted {
            "Thanks, got it. I've passed this on and someone will get back to you shortly."
                .to_owned()
        } else if agent.is_empty() {
            format!(
                "Hi! Thanks for reaching out to {business}. Someone from our team will get back to you shortly. Reply STOP to opt out."
            )
        } else {
            format!(
                "Hi! Thanks for reaching out to {business}. {agent} will get back to you shortly. Reply STOP to opt out."
            )
        };
        Ok(Some(text))
    }
}

/// The texts the platform itself sends, in the business's name.
pub fn opt_out_confirmation(profile: &BusinessProfile) -> String {
    format!(
        "{}: you are unsubscribed and will receive no more messages. Reply START to resubscribe.",
        profile.business_name.trim()
    )
}

pub fn opt_in_confirmation(profile: &BusinessProfile) -> String {
    format!(
        "{}: you are subscribed again. Reply STOP to opt out, HELP for help. Msg & data rates may apply.",
        profile.business_name.trim()
    )
}

pub fn help_reply(profile: &BusinessProfile) -> String {
    let contact = profile
        .phone
        .as_ref()
        .map(|p| format!(" Call {p}."))
        .unwrap_or_default();
    format!(
        "{}: reply STOP to opt out.{contact} Msg & data rates may apply.",
        profile.business_name.trim()
    )
}
