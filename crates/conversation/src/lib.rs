//! The deterministic core of leadline's conversation engine. Pure: no I/O, no clock, no
//! randomness; every decision is a function of its inputs, so tests can replay a conversation
//! and get the same turn every time.
//!
//! - [`schema`]: extraction schemas and the industry templates;
//! - [`parse`]: typed parsers from a lead's text to values, with spans and confidence;
//! - [`knowledge`]: a small BM25 index over the subscriber's Q&A entries and documents;
//! - [`playbook`]: the engine that decides each turn ([`Playbook::turn`]);
//! - [`script`]: the simulator's script format and a pure runner on a virtual clock.

pub mod assistant;
mod extract;
pub mod guardrails;
pub mod knowledge;
pub mod model_turn;
pub mod parse;
pub mod playbook;
pub mod schema;
pub mod script;
mod templates;
pub mod value;

pub use assistant::{
    ASSISTANT_SETTINGS, AssistantSettings, EngineKind, KnowledgeDocument, MODEL_API_KEY_PURPOSE,
    ModelSettings, QaEntry, ResolvedAssistant, SettingError,
};
pub use guardrails::{
    DisclosureWhen, GuardrailContext, GuardrailViolation, Guardrails, check_reply,
};
pub use knowledge::KnowledgeBase;
pub use model_turn::{
    Formality, InvalidOutput, ModelTurnSettings, Prompt, PromptMessage, PromptRole, build_prompt,
    parse_model_output, summarize,
};
pub use playbook::{
    ChatLine, Extraction, Goal, HandOffReason, HandOffRules, Intent, NextAction, Personality,
    Playbook, Speaker, Strategy, Tone, TurnInput, TurnOutput,
};
pub use schema::{ExtractionSchema, FieldKind, FieldSpec, Industry, SchemaError, Validation, When};
pub use script::{Script, ScriptError, Transcript, run_script};
pub use value::{DateValue, FieldValue, Money, Period};
