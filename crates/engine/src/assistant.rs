//! The playbook engine as the pipeline's reply generator: each turn runs the deterministic
//! playbook over the conversation, stores what it extracted on the lead (with the message it came
//! from, a confidence and its source), moves the lead's stage, and hands off when it should.

use crate::replies::{ReplyGenerator, Turn};
use async_trait::async_trait;
use leadline_conversation::{
    ChatLine, ExtractionSchema, FieldValue, Industry, KnowledgeBase, NextAction, Personality,
    Playbook, Speaker, Strategy, TurnInput,
};
use leadline_store::{Direction, MessageStatus, Store};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The settings key holding an account's assistant settings.
pub const ASSISTANT_SETTINGS: &str = "assistant";

/// What an account may configure today; everything is optional and defaults sensibly (the
/// industry template matching the business profile, no knowledge).
#[derive(Debug, Default, Deserialize)]
struct AssistantSettings {
    industry: Option<String>,
    /// An inline schema in the simulator's YAML/JSON field-list form.
    schema: Option<serde_json::Value>,
    /// `[{q, a}]`
    #[serde(default)]
    knowledge: Vec<QaEntry>,
}

#[derive(Debug, Deserialize)]
struct QaEntry {
    q: String,
    a: String,
}

/// A fixed assistant configuration, for the simulator (a script carries its own schema,
/// knowledge, personality and strategy).
#[derive(Debug, Clone)]
pub struct AssistantConfig {
    pub schema: ExtractionSchema,
    pub knowledge: KnowledgeBase,
    pub personality: Personality,
    pub strategy: Strategy,
}

pub struct PlaybookReplies {
    store: Arc<dyn Store>,
    playbook: Playbook,
    /// When set, used instead of the account's stored settings.
    fixed: Option<AssistantConfig>,
}

impl std::fmt::Debug for PlaybookReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlaybookReplies")
    }
}

impl PlaybookReplies {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            playbook: Playbook::new(),
            fixed: None,
        }
    }

    pub fn with_config(store: Arc<dyn Store>, config: AssistantConfig) -> Self {
        Self {
            store,
            playbook: Playbook::new(),
            fixed: Some(config),
        }
    }

    async fn config_for(
        &self,
        account: leadline_domain::AccountId,
        industry: &str,
    ) -> anyhow::Result<AssistantConfig> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let settings: AssistantSettings =
            match self.store.get_setting(account, ASSISTANT_SETTINGS).await? {
                Some(v) => serde_json::from_value(v).unwrap_or_default(),
                None => AssistantSettings::default(),
            };
        let mut knowledge = KnowledgeBase::new();
        for entry in &settings.knowledge {
            knowledge.add_qa(&entry.q, &entry.a);
        }
        Ok(AssistantConfig {
            schema: schema_for(&settings, industry),
            knowledge,
            personality: Personality::default(),
            strategy: Strategy::default(),
        })
    }
}

fn schema_for(settings: &AssistantSettings, profile_industry: &str) -> ExtractionSchema {
    // JSON is YAML, so the simulator's parser (with its line-numbered errors) reads it.
    if let Some(yaml) = settings
        .schema
        .as_ref()
        .and_then(|raw| serde_json::to_string(raw).ok())
    {
        match ExtractionSchema::from_yaml(&yaml) {
            Ok(schema) => return schema,
            Err(e) => {
                tracing::warn!(error = %e, "stored assistant schema is invalid; using the industry template")
            }
        }
    }
    let industry = settings.industry.as_deref().unwrap_or(profile_industry);
    industry
        .trim()
        .to_lowercase()
        .parse::<Industry>()
        .unwrap_or(Industry::Generic)
        .schema()
}

#[async_trait]
impl ReplyGenerator for PlaybookReplies {
    async fn reply(&self, turn: &Turn<'_>) -> anyhow::Result<Option<String>> {
        let account = turn.lead.account_id;
        let AssistantConfig {
            schema,
            knowledge,
            personality,
            strategy,
        } = self.config_for(account, &turn.profile.industry).await?;
        let mut known = BTreeMap::new();
        if let Some(fields) = turn.lead.fields.as_object() {
            for (name, stored) in fields {
                if let Ok(value) = serde_json::from_value::<FieldValue>(stored["typed"].clone()) {
                    known.insert(name.clone(), value);
                }
            }
        }
        // What the lead saw: replies that were blocked or replaced never reached them.
        let history: Vec<ChatLine> = turn
            .history
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
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let out = self.playbook.turn(&TurnInput {
            profile: turn.profile,
            personality: &personality,
            strategy: &strategy,
            schema: &schema,
            known: &known,
            history: &history,
            knowledge: &knowledge,
            today,
        });

        let mut fields = turn.lead.fields.as_object().cloned().unwrap_or_default();
        for e in &out.extracted {
            known.insert(e.field.clone(), e.value.clone());
            fields.insert(
                e.field.clone(),
                serde_json::json!({
                    "value": e.value.to_json(),
                    "typed": e.value,
                    "message_id": e.message_ref,
                    "confidence": e.confidence,
                    "source": e.source,
                }),
            );
        }
        let qualified = schema.required().all(|f| known.contains_key(&f.name));
        let stage = if qualified { "qualified" } else { "replied" };
        self.store
            .update_lead_fields(
                account,
                turn.lead.id,
                Some(stage),
                Some(serde_json::Value::Object(fields)),
            )
            .await?;

        if let (NextAction::HandOff { reason }, Some(first)) =
            (&out.next_action, turn.history.first())
        {
            self.store
                .set_needs_attention(account, first.conversation_id, true)
                .await?;
            if reason.pauses_ai() {
                self.store
                    .set_ai_paused(account, first.conversation_id, true)
                    .await?;
            }
            tracing::info!(conversation = %first.conversation_id, reason = %reason.describe(), "handed off to a person");
        }
        Ok(out.reply)
    }
}
