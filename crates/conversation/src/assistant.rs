//! An account's assistant settings: one document, stored whole (and versioned) by the store,
//! edited in the dashboard and the API, read by the engine every turn. Everything is optional
//! and defaults sensibly, so a document saved by an older version still reads.

use crate::guardrails::Guardrails;
use crate::model_turn::{Formality, ModelTurnSettings};
use crate::playbook::DEFAULT_MAX_LEN;
use crate::{ExtractionSchema, Industry, KnowledgeBase, Personality, Strategy};
use serde::{Deserialize, Serialize};

/// The settings key the document is stored under.
pub const ASSISTANT_SETTINGS: &str = "assistant";

/// Which engine writes the replies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// The deterministic playbook: no model, no cost.
    #[default]
    Playbook,
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
    #[serde(rename = "openai_compatible")]
    OpenAiCompatible,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Playbook => "playbook",
            EngineKind::OpenAi => "openai",
            EngineKind::Anthropic => "anthropic",
            EngineKind::OpenAiCompatible => "openai_compatible",
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "playbook" => Ok(EngineKind::Playbook),
            "openai" => Ok(EngineKind::OpenAi),
            "anthropic" => Ok(EngineKind::Anthropic),
            "openai_compatible" => Ok(EngineKind::OpenAiCompatible),
            other => Err(format!(
                "unknown engine '{other}': use playbook, openai, anthropic or openai-compatible"
            )),
        }
    }
}

/// The model behind the assistant. The API key is not here: it lives in the encrypted secrets
/// store under [`MODEL_API_KEY_PURPOSE`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    pub engine: EngineKind,
    /// e.g. `gpt-4o-mini`, `claude-3-5-haiku-latest`, `llama3.1`.
    pub model: String,
    /// Required for OpenAI-compatible servers; optional (a proxy) for the others.
    pub base_url: Option<String>,
    pub temperature: f32,
    /// Tokens (input + output) the account may spend per calendar month (UTC); 0 = no limit.
    /// Over budget, the playbook answers.
    pub monthly_token_budget: u64,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            engine: EngineKind::Playbook,
            model: String::new(),
            base_url: None,
            temperature: 0.3,
            monthly_token_budget: 2_000_000,
        }
    }
}

/// The secrets-store purpose of the account's model API key.
pub const MODEL_API_KEY_PURPOSE: &str = "ai:api_key";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaEntry {
    pub q: String,
    pub a: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeDocument {
    pub title: String,
    pub text: String,
    /// Where it was imported from, when it was.
    #[serde(default)]
    pub source_url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssistantSettings {
    /// An industry template (`insurance`, `real_estate`, …); the business profile's industry
    /// when absent.
    pub industry: Option<String>,
    /// An inline extraction schema in the simulator's field-list form; wins over `industry`.
    pub schema: Option<serde_json::Value>,
    pub knowledge: Vec<QaEntry>,
    pub documents: Vec<KnowledgeDocument>,
    pub instructions: String,
    pub personality: Personality,
    pub formality: Formality,
    /// The language replies are written in; English when empty.
    pub language: String,
    pub strategy: Strategy,
    pub guardrails: Guardrails,
    pub model: ModelSettings,
}

/// A setting that does not validate: which field, and a sentence for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    pub field: &'static str,
    pub message: String,
}

/// What a turn runs with, resolved from the settings and the business profile.
#[derive(Clone, Debug)]
pub struct ResolvedAssistant {
    pub schema: ExtractionSchema,
    pub knowledge: KnowledgeBase,
    pub personality: Personality,
    pub strategy: Strategy,
    pub model_turn: ModelTurnSettings,
    pub model: ModelSettings,
}

impl AssistantSettings {
    /// Reads a stored document; an unreadable one yields the defaults (and the caller logs it).
    pub fn from_stored(value: Option<serde_json::Value>) -> Result<Self, String> {
        match value {
            None => Ok(Self::default()),
            Some(v) => serde_json::from_value(v).map_err(|e| e.to_string()),
        }
    }

    /// The schema this account qualifies leads with.
    pub fn schema(&self, profile_industry: &str) -> Result<ExtractionSchema, String> {
        if let Some(raw) = &self.schema {
            // JSON is YAML, so the simulator's parser (with its line-numbered errors) reads it.
            let yaml = serde_json::to_string(raw).map_err(|e| e.to_string())?;
            return ExtractionSchema::from_yaml(&yaml).map_err(|e| e.to_string());
        }
        let industry = self.industry.as_deref().unwrap_or(profile_industry);
        Ok(industry
            .trim()
            .to_lowercase()
            .replace([' ', '-'], "_")
            .parse::<Industry>()
            .unwrap_or(Industry::Generic)
            .schema())
    }

    pub fn knowledge_base(&self) -> KnowledgeBase {
        let mut kb = KnowledgeBase::new();
        for e in &self.knowledge {
            kb.add_qa(&e.q, &e.a);
        }
        for d in &self.documents {
            kb.add_document(&d.title, &d.text);
        }
        kb
    }

    /// Everything a turn needs. An invalid stored schema falls back to the industry template
    /// rather than silencing the assistant; `Err` carries why, for the log.
    pub fn resolve(&self, profile_industry: &str) -> (ResolvedAssistant, Option<String>) {
        let (schema, problem) = match self.schema(profile_industry) {
            Ok(s) => (s, None),
            Err(e) => {
                let fallback = AssistantSettings {
                    schema: None,
                    ..self.clone()
                };
                let schema = fallback
                    .schema(profile_industry)
                    .unwrap_or_else(|_| Industry::Generic.schema());
                (schema, Some(e))
            }
        };
        let language = if self.language.trim().is_empty() {
            "English".to_owned()
        } else {
            self.language.trim().to_owned()
        };
        let resolved = ResolvedAssistant {
            schema,
            knowledge: self.knowledge_base(),
            personality: self.personality.clone(),
            strategy: self.strategy.clone(),
            model_turn: ModelTurnSettings {
                instructions: self.instructions.clone(),
                guardrails: self.guardrails.clone(),
                language,
                formality: self.formality,
                ..ModelTurnSettings::default()
            },
            model: self.model.clone(),
        };
        (resolved, problem)
    }

    /// Every problem, each tied to the field it is about.
    pub fn validate(&self, profile_industry: &str) -> Vec<SettingError> {
        let mut errors = Vec::new();
        let mut err =
            |field: &'static str, message: String| errors.push(SettingError { field, message });
        if let Some(industry) = &self.industry
            && industry
                .trim()
                .to_lowercase()
                .replace([' ', '-'], "_")
                .parse::<Industry>()
                .is_err()
        {
            err(
                "industry",
                format!("'{industry}' is not an industry template."),
            );
        }
        if let Err(e) = self.schema(profile_industry) {
            err("schema", format!("The extraction schema is invalid: {e}"));
        }
        if self.instructions.chars().count() > 4000 {
            err(
                "instructions",
                "Instructions are limited to 4,000 characters.".to_owned(),
            );
        }
        if self.personality.assistant_name.trim().is_empty() {
            err(
                "personality.assistant_name",
                "The assistant needs a name.".to_owned(),
            );
        }
        if !(40..=DEFAULT_MAX_LEN).contains(&self.personality.max_len) {
            err(
                "personality.max_len",
                format!(
                    "Reply length must be between 40 and {DEFAULT_MAX_LEN} characters (replies never exceed two SMS segments)."
                ),
            );
        }
        for (i, e) in self.knowledge.iter().enumerate() {
            if e.q.trim().is_empty() || e.a.trim().is_empty() {
                err(
                    "knowledge",
                    format!(
                        "Knowledge entry {} needs both a question and an answer.",
                        i + 1
                    ),
                );
            }
        }
        for (i, d) in self.documents.iter().enumerate() {
            if d.title.trim().is_empty() || d.text.trim().is_empty() {
                err(
                    "documents",
                    format!("Document {} needs a title and some text.", i + 1),
                );
            }
        }
        let m = &self.model;
        if !(0.0..=1.0).contains(&m.temperature) {
            err(
                "model.temperature",
                "Temperature must be between 0 and 1.".to_owned(),
            );
        }
        if m.engine != EngineKind::Playbook && m.model.trim().is_empty() {
            err("model.model", "Name the model to use.".to_owned());
        }
        match (&m.base_url, m.engine) {
            (None, EngineKind::OpenAiCompatible) => err(
                "model.base_url",
                "An OpenAI-compatible server needs its base URL (e.g. http://localhost:11434/v1)."
                    .to_owned(),
            ),
            (Some(u), _) if !(u.starts_with("http://") || u.starts_with("https://")) => err(
                "model.base_url",
                "The base URL must start with http:// or https://.".to_owned(),
            ),
            _ => {}
        }
        errors
    }
}
