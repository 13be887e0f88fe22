//! What the assistant learned about a lead, as the lead page and the conversation page show it:
//! score and intent, every extracted field with the message it came from, the confidence and the
//! engine, the required fields still missing, and the per-turn score and intent history. Also
//! the number's consent and opt-out state with its events, each consent with the consent text
//! version it recorded.

use crate::consent_text::RecordedDisclosure;
use crate::error::AppError;
use crate::messaging::{account_zone, local_minute};
use crate::state::AppState;
use leadline_conversation::FieldValue;
use leadline_store::{
    Account, ComplianceEvent, ComplianceEventKind, ContactCompliance, Conversation, Lead, Message,
};
use std::collections::HashMap;

/// How many turns the history shows, newest first.
const TURNS_SHOWN: usize = 20;
/// How many consent and opt-out events a compact panel lists; the lead page lists them all.
const CONSENT_EVENTS_COMPACT: usize = 5;

/// One consent or opt-out event of the lead's number.
pub struct ConsentRow {
    pub at: String,
    pub kind: &'static str,
    pub source: String,
    /// The consent text the lead agreed to, when the consent recorded one.
    pub disclosure: Option<RecordedDisclosure>,
}

/// The number's consent and opt-out state and its events, newest first.
pub struct ConsentPanel {
    pub consented: bool,
    pub opted_out: bool,
    pub suppressed: bool,
    /// The consent text version of the newest consent, when it recorded one.
    pub latest_version: Option<i64>,
    pub events: Vec<ConsentRow>,
    /// How many older events a compact panel leaves to the lead page.
    pub more: usize,
}

impl ConsentPanel {
    /// Whether the assistant may never text this number (opted out or on the list).
    pub fn blocked(&self) -> bool {
        self.opted_out || self.suppressed
    }
}

/// What a consent or opt-out event was, as the lead panel and the opt-out log name it.
pub(crate) fn event_label(kind: ComplianceEventKind) -> &'static str {
    match kind {
        ComplianceEventKind::ConsentGranted => "Consent granted",
        ComplianceEventKind::OptOut => "Opted out",
        ComplianceEventKind::OptIn => "Opted back in",
        ComplianceEventKind::Suppressed => "Added to the do-not-contact list",
        ComplianceEventKind::Unsuppressed => "Removed from the do-not-contact list",
    }
}

async fn consent_panel(
    state: &AppState,
    owner: &Account,
    lead: &Lead,
    zone: &jiff::tz::TimeZone,
    compact: bool,
) -> Result<ConsentPanel, AppError> {
    let mut events: Vec<ComplianceEvent> = state
        .store
        .compliance_history(owner.id, &lead.phone)
        .await?;
    let flags = ContactCompliance::from_events(&events);
    events.reverse();
    let latest_version = events
        .iter()
        .find(|e| e.kind == ComplianceEventKind::ConsentGranted)
        .and_then(RecordedDisclosure::of)
        .map(|d| d.version);
    let shown = if compact {
        CONSENT_EVENTS_COMPACT.min(events.len())
    } else {
        events.len()
    };
    let more = events.len() - shown;
    events.truncate(shown);
    Ok(ConsentPanel {
        consented: flags.consented,
        opted_out: flags.opted_out,
        suppressed: flags.suppressed,
        latest_version,
        more,
        events: events
            .into_iter()
            .map(|e| ConsentRow {
                at: local_minute(e.at, zone),
                kind: event_label(e.kind),
                disclosure: RecordedDisclosure::of(&e),
                source: e.source,
            })
            .collect(),
    })
}

pub struct FieldRow {
    pub name: String,
    /// The name as a person reads it: "Marital status".
    pub label: String,
    pub value: String,
    /// The lead's words the value came from, when the message is known.
    pub quote: Option<String>,
    /// Where that message is in its thread.
    pub link: Option<String>,
    pub confidence: String,
    pub engine: String,
    pub required: bool,
}

pub struct TurnRow {
    pub at: String,
    pub intent: String,
    pub score: i32,
    pub action: String,
    pub engine: String,
}

/// A conversation summary as a page shows it.
pub struct SummaryPanel {
    pub reason: &'static str,
    pub engine: String,
    pub text: String,
    pub at: String,
}

pub fn summary_panel(summary: &leadline_store::Summary, owner: &Account) -> SummaryPanel {
    let (zone, _) = account_zone(owner);
    SummaryPanel {
        reason: match summary.reason {
            leadline_store::SummaryReason::Quiet => "after the conversation went quiet",
            leadline_store::SummaryReason::Handoff => "when it was handed off",
        },
        engine: summary.engine.clone(),
        text: summary.body.clone(),
        at: local_minute(summary.created_at, &zone),
    }
}

pub struct LeadPanel {
    pub lead_id: String,
    /// The newest summary of any of the lead's conversations (the lead page shows it; the
    /// conversation page shows its own).
    pub summary: Option<SummaryPanel>,
    /// A narrow column (beside a thread): a list instead of a table.
    pub compact: bool,
    pub score: Option<i32>,
    pub intent: String,
    pub fields: Vec<FieldRow>,
    /// Required fields of the schema in force that are not known yet.
    pub missing: Vec<String>,
    pub turns: Vec<TurnRow>,
    pub consent: ConsentPanel,
}

impl LeadPanel {
    /// The score as a width for the meter, clamped to 0..=100.
    pub fn score_pct(&self) -> i32 {
        self.score.unwrap_or(0).clamp(0, 100)
    }
}

fn shown(stored: &serde_json::Value) -> String {
    if let Ok(v) = serde_json::from_value::<FieldValue>(stored["typed"].clone()) {
        return v.to_string();
    }
    match &stored["value"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => match stored {
            // A custom field stored as a bare value.
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(_) => String::new(),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

fn percent(stored: &serde_json::Value) -> String {
    match stored["confidence"].as_f64() {
        Some(c) if (0.0..=1.0).contains(&c) => format!("{:.0}%", c * 100.0),
        _ => "—".to_owned(),
    }
}

fn label(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

fn quote(body: &str) -> String {
    const MAX: usize = 120;
    if body.chars().count() <= MAX {
        return body.to_owned();
    }
    let cut: String = body.chars().take(MAX).collect();
    format!("{}…", cut.trim_end())
}

/// Builds the panel. `conversations` are the lead's; `messages` are those already loaded (the
/// conversation page has its thread), otherwise the panel reads the lead's threads itself.
/// `compact` lays it out for a narrow side column.
pub async fn lead_panel(
    state: &AppState,
    owner: &Account,
    lead: &Lead,
    conversations: &[Conversation],
    messages: Option<&[Message]>,
    compact: bool,
) -> Result<LeadPanel, AppError> {
    let account = owner.id;
    let (zone, _) = account_zone(owner);
    let settings = super::assistant::load(state, account).await?.settings;
    // A broken stored schema must not hide the lead: show the fields without the schema's order.
    let schema = settings.schema(&owner.profile.industry).ok();

    let mut loaded = Vec::new();
    let messages: &[Message] = match messages {
        Some(m) => m,
        None => {
            for c in conversations {
                loaded.extend(state.store.messages(account, c.id).await?);
            }
            &loaded
        }
    };
    let by_id: HashMap<String, &Message> = messages.iter().map(|m| (m.id.to_string(), m)).collect();

    let stored = lead.fields.as_object().cloned().unwrap_or_default();
    let mut names: Vec<String> = Vec::new();
    if let Some(schema) = &schema {
        names.extend(
            schema
                .fields
                .iter()
                .filter(|f| stored.contains_key(&f.name))
                .map(|f| f.name.clone()),
        );
    }
    // Fields outside the schema (an older schema, custom fields) follow in name order.
    let mut extra: Vec<String> = stored
        .keys()
        .filter(|k| !names.contains(k))
        .cloned()
        .collect();
    extra.sort();
    names.extend(extra);

    let fields = names
        .into_iter()
        .filter_map(|name| {
            let v = stored.get(&name)?;
            let message = v["message_id"].as_str().and_then(|id| by_id.get(id));
            Some(FieldRow {
                value: shown(v),
                quote: message.map(|m| quote(&m.body)),
                link: message.map(|m| format!("/app/inbox/{}#m-{}", m.conversation_id, m.id)),
                confidence: percent(v),
                engine: v["source"].as_str().unwrap_or("—").to_owned(),
                required: schema
                    .as_ref()
                    .and_then(|s| s.field(&name))
                    .is_some_and(|f| f.required),
                label: label(&name),
                name,
            })
        })
        .collect();
    let missing = schema
        .as_ref()
        .map(|s| {
            s.required()
                .filter(|f| !stored.contains_key(&f.name))
                .map(|f| label(&f.name))
                .collect()
        })
        .unwrap_or_default();

    let mut turns = Vec::new();
    for c in conversations {
        turns.extend(state.store.turns(account, c.id).await?);
    }
    turns.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    turns.truncate(TURNS_SHOWN);
    let turns = turns
        .into_iter()
        .map(|t| TurnRow {
            at: local_minute(t.created_at, &zone),
            intent: t.intent.replace('_', " "),
            score: t.score,
            action: t.next_action.replace('_', " "),
            engine: t.engine,
        })
        .collect();

    let ids: Vec<_> = conversations.iter().map(|c| c.id).collect();
    let summary = state
        .store
        .latest_summaries(account, &ids)
        .await?
        .into_iter()
        .max_by_key(|s| s.created_at)
        .map(|s| summary_panel(&s, owner));

    let consent = consent_panel(state, owner, lead, &zone, compact).await?;

    Ok(LeadPanel {
        summary,
        consent,
        compact,
        lead_id: lead.id.to_string(),
        score: lead.score,
        intent: lead
            .intent
            .as_deref()
            .unwrap_or("not read yet")
            .replace('_', " "),
        fields,
        missing,
        turns,
    })
}
