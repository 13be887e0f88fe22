//! The simulator's script format and a pure runner for it. A script is YAML:
//!
//! ```yaml
//! industry: insurance            # picks the template; or give `schema:` (and `knowledge:`) inline
//! business: {name: Acme Insurance, agent: Dana, state: TX}
//! lead: {phone: "+15125550123"}
//! start: 2026-12-07T15:00:00Z
//! turns:                         # each item is {lead: TEXT} or {wait: 10m}
//!   - lead: Hi, I saw your ad about life insurance
//!   - wait: 1m
//!   - lead: I'm 42, married, two kids
//! expect:                        # optional: what a test checks after the run
//!   fields: {marital_status: married, dependents: 2}
//! ```
//!
//! Optional keys: `knowledge` (Q&A `{q, a}` and documents `{title, text}`), `personality`,
//! `strategy`, `expect`. Errors carry the line at fault.
//!
//! [`run_script`] plays the turns through the playbook on a virtual clock. Consecutive `lead`
//! items form one burst (the pipeline debounces bubbles sent together) and get one reply five
//! seconds after the last; a `wait` advances the clock. STOP-class texts (per
//! [`leadline_domain::compliance::classify`]) opt the lead out and end automated replies; a
//! hand-off that pauses the assistant ends them too. The pipeline-backed `leadline simulate`
//! reads the same format.

use crate::knowledge::{KnowledgeBase, KnowledgeItem};
use crate::playbook::{
    ChatLine, Intent, NextAction, Personality, Playbook, Speaker, Strategy, TurnInput, TurnOutput,
};
use crate::schema::{ExtractionSchema, Industry, locate_yaml_error};
use crate::value::FieldValue;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use leadline_domain::compliance::{IntakeClass, IntakeContext, UsState, classify, zones};
use leadline_domain::{BusinessProfile, E164Phone};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A script that failed to parse: the line at fault (1-based) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ScriptError {
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Business {
    pub name: String,
    #[serde(default)]
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateCode>,
}

/// A US state code, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StateCode(String);

impl TryFrom<String> for StateCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        UsState::parse(&s)
            .map(|st| StateCode(st.code().to_owned()))
            .map_err(|_| format!("'{s}' is not a US state code"))
    }
}

impl From<StateCode> for String {
    fn from(s: StateCode) -> Self {
        s.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadInfo {
    pub phone: E164Phone,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IANA zone for "today"; derived from the phone's area code when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// One step of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptTurn {
    /// The lead sends a text.
    Lead(String),
    /// Time passes.
    Wait(SignedDuration),
}

/// Parses "10m", "2h", "1h30m", "45s", "3d", "1w".
pub fn parse_wait(raw: &str) -> Result<SignedDuration, String> {
    let s = raw.trim().to_ascii_lowercase().replace(' ', "");
    let bad = || format!("'{raw}' is not a wait; use e.g. 30s, 10m, 2h, 1h30m or 3d");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let mut unit = String::from(c);
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let secs = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(secs)
            .and_then(|v| total.checked_add(v))
            .filter(|t| *t <= 366 * 86_400)
            .ok_or_else(|| format!("'{raw}' is longer than a year"))?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(SignedDuration::from_secs(total))
}

impl<'de> Deserialize<'de> for ScriptTurn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TurnVisitor;
        impl<'de> Visitor<'de> for TurnVisitor {
            type Value = ScriptTurn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a turn: {lead: TEXT} or {wait: 10m}")
            }
            // Errors raised here carry the turn's own line.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScriptTurn, A::Error> {
                let mut turn = None;
                while let Some(key) = map.next_key::<String>()? {
                    if turn.is_some() {
                        return Err(de::Error::custom(
                            "a turn has exactly one key: lead or wait",
                        ));
                    }
                    turn = Some(match key.as_str() {
                        "lead" => {
                            let text: String = map.next_value()?;
                            if text.trim().is_empty() {
                                return Err(de::Error::custom("a lead turn needs text"));
                            }
                            if text.chars().count() > 2_000 {
                                return Err(de::Error::custom(
                                    "a lead turn is longer than 2000 characters",
                                ));
                            }
                            ScriptTurn::Lead(text)
                        }
                        "wait" => {
                            let raw: WaitText = map.next_value()?;
                            ScriptTurn::Wait(parse_wait(&raw.0).map_err(de::Error::custom)?)
                        }
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown turn '{other}'; a turn is {{lead: TEXT}} or {{wait: 10m}}"
                            )));
                        }
                    });
                }
                turn.ok_or_else(|| de::Error::custom("empty turn; use {lead: TEXT} or {wait: 10m}"))
            }
        }
        deserializer.deserialize_map(TurnVisitor)
    }
}

/// A wait as written: "10m", or a bare number of seconds.
struct WaitText(String);

impl<'de> Deserialize<'de> for WaitText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Secs(u64),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Text(s) => WaitText(s),
            Raw::Secs(n) => WaitText(format!("{n}s")),
        })
    }
}

/// What a test expects after running the script. Every key is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// Field values, as the transcript's `fields` prints them.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Fields that must not be filled.
    pub absent: Vec<String>,
    pub stage: Option<String>,
    pub intent: Option<String>,
    pub opted_out: Option<bool>,
    /// Whether a pausing hand-off happened.
    pub handoff: Option<bool>,
    /// Whether the conversation was flagged for a person (any hand-off, pausing or not).
    pub flagged: Option<bool>,
    /// Phrases some assistant reply contains (case-insensitive).
    pub reply_contains: Vec<String>,
    /// Phrases no assistant reply contains (case-insensitive).
    pub reply_excludes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    #[serde(default)]
    industry: Option<String>,
    #[serde(default)]
    schema: Option<ExtractionSchema>,
    #[serde(default)]
    knowledge: Vec<KnowledgeItem>,
    business: Business,
    lead: LeadInfo,
    start: Timestamp,
    #[serde(default)]
    personality: Option<Personality>,
    #[serde(default)]
    strategy: Option<Strategy>,
    turns: Vec<ScriptTurn>,
    #[serde(default)]
    expect: Option<Expect>,
}

/// A parsed, valid script.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub industry: Option<Industry>,
    pub schema: ExtractionSchema,
    pub knowledge: Vec<KnowledgeItem>,
    pub business: Business,
    pub lead: LeadInfo,
    pub start: Timestamp,
    pub personality: Personality,
    pub strategy: Strategy,
    pub turns: Vec<ScriptTurn>,
    pub expect: Option<Expect>,
}

/// The 1-based line of a top-level key, for errors about the script as a whole.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.starts_with(&format!("{key}:")))
        .map(|i| i + 1)
}

impl Script {
    pub fn from_yaml(text: &str) -> Result<Script, ScriptError> {
        let raw: RawScript = serde_norway::from_str(text).map_err(|e| {
            let (line, message) = locate_yaml_error(text, &e);
            ScriptError { line, message }
        })?;
        let at = |key: &str, message: String| ScriptError {
            line: key_line(text, key),
            message,
        };
        let industry = match &raw.industry {
            Some(name) => Some(
                name.parse::<Industry>()
                    .map_err(|e| at("industry", e.to_string()))?,
            ),
            None => None,
        };
        let schema = match (industry, raw.schema) {
            (Some(_), Some(_)) => {
                return Err(at(
                    "schema",
                    "give either `industry` or an inline `schema`, not both".to_owned(),
                ));
            }
            (Some(i), None) => i.schema(),
            (None, Some(s)) => s,
            (None, None) => {
                return Err(ScriptError {
                    line: Some(1),
                    message: "the script needs `industry` or an inline `schema`".to_owned(),
                });
            }
        };
        if raw.business.name.trim().is_empty() {
            return Err(at("business", "the business needs a name".to_owned()));
        }
        if raw.turns.is_empty() {
            return Err(at("turns", "the script has no turns".to_owned()));
        }
        if let Some(zone) = &raw.lead.time_zone
            && TimeZone::get(zone).is_err()
        {
            return Err(at("lead", format!("unknown time zone '{zone}'")));
        }
        if let Some(expect) = &raw.expect {
            for name in expect.fields.keys().chain(&expect.absent) {
                if schema.field(name).is_none() {
                    return Err(at(
                        "expect",
                        format!("expected field '{name}' is not in the schema"),
                    ));
                }
            }
        }
        Ok(Script {
            industry,
            schema,
            knowledge: raw.knowledge,
            business: raw.business,
            lead: raw.lead,
            start: raw.start,
            personality: raw.personality.unwrap_or_default(),
            strategy: raw.strategy.unwrap_or_default(),
            turns: raw.turns,
            expect: raw.expect,
        })
    }

    pub fn profile(&self) -> BusinessProfile {
        BusinessProfile {
            business_name: self.business.name.trim().to_owned(),
            agent_name: self.business.agent.trim().to_owned(),
            industry: self.industry.map(|i| i.to_string()).unwrap_or_default(),
            licensed_states: self.business.state.iter().map(|s| s.0.clone()).collect(),
            ..BusinessProfile::default()
        }
    }

    /// The lead's zone: given, else the first candidate of the phone's area code, else UTC.
    pub fn time_zone(&self) -> TimeZone {
        if let Some(tz) = self
            .lead
            .time_zone
            .as_deref()
            .and_then(|z| TimeZone::get(z).ok())
        {
            return tz;
        }
        let location = zones::locate_phone(&self.lead.phone);
        location
            .zones
            .iter()
            .next()
            .filter(|_| location.known)
            .and_then(|z| zones::time_zone(z))
            .unwrap_or(TimeZone::UTC)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Lead,
    Assistant,
    System,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TranscriptLine {
    pub at: Timestamp,
    pub from: Author,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeadSummary {
    pub stage: String,
    pub score: u8,
    pub intent: Intent,
    pub opted_out: bool,
    /// Only the fields the engine filled, as plain JSON.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Why a person took over, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<String>,
    /// Reasons a person should look, without pausing the assistant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// The run's result; serialises to the simulator's JSON shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transcript {
    pub transcript: Vec<TranscriptLine>,
    pub lead: LeadSummary,
    /// The engine's output for each turn, in order (not part of the JSON).
    #[serde(skip)]
    pub turns: Vec<TurnOutput>,
    /// Engine turns until every required field was known, if that happened.
    #[serde(skip)]
    pub turns_to_qualify: Option<usize>,
    /// The typed values behind `lead.fields`.
    #[serde(skip)]
    pub values: BTreeMap<String, FieldValue>,
}

impl Transcript {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Seconds between bubbles of one burst, and from a burst to its reply.
const BUBBLE_GAP: SignedDuration = SignedDuration::from_secs(2);
const REPLY_DELAY: SignedDuration = SignedDuration::from_secs(5);

struct Runner<'s> {
    script: &'s Script,
    profile: BusinessProfile,
    knowledge: KnowledgeBase,
    zone: TimeZone,
    clock: Timestamp,
    history: Vec<ChatLine>,
    known: BTreeMap<String, FieldValue>,
    lines: Vec<TranscriptLine>,
    outputs: Vec<TurnOutput>,
    pending: bool,
    opted_out: bool,
    paused: Option<String>,
    flags: Vec<String>,
    turns_to_qualify: Option<usize>,
    next_ref: usize,
}

impl Runner<'_> {
    fn push(&mut self, from: Author, text: String) {
        self.lines.push(TranscriptLine {
            at: self.clock,
            from,
            text,
        });
    }

    fn advance(&mut self, by: SignedDuration) {
        if let Ok(t) = self.clock.checked_add(by) {
            self.clock = t;
        }
    }

    fn lead(&mut self, text: &str) {
        if self.pending {
            self.advance(BUBBLE_GAP);
        }
        self.push(Author::Lead, text.to_owned());
        self.next_ref += 1;
        self.history.push(ChatLine {
            from: Speaker::Lead,
            text: text.to_owned(),
            message_ref: format!("m{}", self.next_ref),
        });
        let intake = classify(
            text,
            IntakeContext {
                opted_out: self.opted_out,
            },
        );
        if intake.must_stop && !self.opted_out {
            self.opted_out = true;
            self.pending = false;
            self.push(
                Author::System,
                format!(
                    "lead opted out ({}); automated messages stop",
                    intake.reason
                ),
            );
            return;
        }
        if intake.class == IntakeClass::Start && self.opted_out {
            self.opted_out = false;
            self.push(Author::System, "lead opted back in".to_owned());
            return;
        }
        if !self.opted_out && self.paused.is_none() {
            self.pending = true;
        }
    }

    fn flush(&mut self) {
        if !self.pending {
            return;
        }
        self.pending = false;
        self.advance(REPLY_DELAY);
        let today = self.clock.to_zoned(self.zone.clone()).date();
        let input = TurnInput {
            profile: &self.profile,
            personality: &self.script.personality,
            strategy: &self.script.strategy,
            schema: &self.script.schema,
            known: &self.known,
            history: &self.history,
            knowledge: &self.knowledge,
            today,
        };
        let out = Playbook.turn(&input);
        for e in &out.extracted {
            self.known.insert(e.field.clone(), e.value.clone());
        }
        if self.turns_to_qualify.is_none()
            && self
                .script
                .schema
                .required()
                .all(|f| self.known.contains_key(&f.name))
        {
            self.turns_to_qualify = Some(self.outputs.len() + 1);
        }
        if let Some(reply) = &out.reply {
            self.push(Author::Assistant, reply.clone());
            self.next_ref += 1;
            self.history.push(ChatLine {
                from: Speaker::Assistant,
                text: reply.clone(),
                message_ref: format!("m{}", self.next_ref),
            });
        }
        match &out.next_action {
            NextAction::HandOff { reason } if reason.pauses_ai() => {
                self.paused = Some(reason.describe());
                self.push(
                    Author::System,
                    format!("handed off to a person: {}", reason.describe()),
                );
            }
            NextAction::HandOff { reason } => {
                self.flags.push(reason.describe());
                self.push(Author::System, format!("flagged: {}", reason.describe()));
            }
            NextAction::ProposeSlots { preferred } => {
                let near = preferred.map(|p| format!(" near {p}")).unwrap_or_default();
                self.push(Author::System, format!("propose slots{near}"));
            }
            NextAction::Book { at } => self.push(Author::System, format!("book {at}")),
            NextAction::Reply | NextAction::Close => {}
        }
        self.outputs.push(out);
    }

    fn stage(&self) -> String {
        let last = self.outputs.last();
        let qualified = self
            .script
            .schema
            .required()
            .all(|f| self.known.contains_key(&f.name));
        let booking = self.outputs.iter().any(|o| {
            matches!(
                o.next_action,
                NextAction::ProposeSlots { .. } | NextAction::Book { .. }
            )
        });
        let stage = if self.opted_out {
            "opted_out"
        } else if self.paused.is_some() {
            "handed_off"
        } else if self
            .outputs
            .iter()
            .rev()
            .take_while(|o| !matches!(o.intent, Intent::Interested | Intent::BookingRequest))
            .any(|o| o.intent == Intent::NotInterested)
        {
            "not_interested"
        } else if booking {
            "booking"
        } else if qualified {
            "qualified"
        } else if last.is_some_and(|o| o.next_action == NextAction::Close) {
            "closed"
        } else if self.history.iter().any(|l| l.from == Speaker::Lead) {
            "qualifying"
        } else {
            "new"
        };
        stage.to_owned()
    }
}

/// Plays the script through the playbook engine on a virtual clock. Pure and deterministic.
pub fn run_script(script: &Script) -> Transcript {
    let mut r = Runner {
        script,
        profile: script.profile(),
        knowledge: KnowledgeBase::from_items(&script.knowledge),
        zone: script.time_zone(),
        clock: script.start,
        history: Vec::new(),
        known: BTreeMap::new(),
        lines: Vec::new(),
        outputs: Vec::new(),
        pending: false,
        opted_out: false,
        paused: None,
        flags: Vec::new(),
        turns_to_qualify: None,
        next_ref: 0,
    };
    for turn in &script.turns {
        match turn {
            ScriptTurn::Lead(text) => r.lead(text),
            ScriptTurn::Wait(d) => {
                r.flush();
                r.advance(*d);
            }
        }
    }
    r.flush();
    let stage = r.stage();
    // The lead's intent is the last one that said something; "thanks" does not undo "no".
    let score = r.outputs.last().map_or(0, |o| o.score);
    let intent = r
        .outputs
        .iter()
        .rev()
        .map(|o| o.intent)
        .find(|i| *i != Intent::Other)
        .unwrap_or(Intent::Other);
    let fields = r
        .known
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    Transcript {
        transcript: r.lines,
        lead: LeadSummary {
            stage,
            score: if r.opted_out { 0 } else { score },
            intent,
            opted_out: r.opted_out,
            fields,
            handoff: r.paused,
            flags: r.flags,
        },
        turns: r.outputs,
        turns_to_qualify: r.turns_to_qualify,
        values: r.known,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"industry: insurance
business: {name: Acme Insurance, agent: Dana, state: TX}
lead: {phone: "+15125550123"}
start: 2026-12-07T15:00:00Z
turns:
  - lead: Hi, I saw your ad about life insurance
  - lead: I'm 42, married, two kids
  - wait: 10m
  - lead: STOP
  - lead: hello?
"#;

    #[test]
    fn runs_the_issue_example() {
        let script = Script::from_yaml(EXAMPLE).unwrap();
        let t = run_script(&script);
        let json = t.to_json();
        assert_eq!(json["lead"]["fields"]["marital_status"], "married");
        assert_eq!(json["lead"]["fields"]["dependents"], 2);
        assert_eq!(json["lead"]["fields"]["coverage_type"], "life");
        assert_eq!(json["lead"]["opted_out"], true);
        assert_eq!(json["lead"]["stage"], "opted_out");
        let froms: Vec<&str> = json["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["from"].as_str().unwrap())
            .collect();
        assert_eq!(
            froms,
            ["lead", "lead", "assistant", "lead", "system", "lead"]
        );
        assert_eq!(json["transcript"][2]["at"], "2026-12-07T15:00:07Z");
        // Same script, same transcript.
        assert_eq!(run_script(&script).to_json(), json);
    }

    #[test]
    fn errors_carry_the_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("turns:\n  - lead: hi\n  - wait: 10x\n", 3, "not a wait"),
            ("turns:\n  - lead: hi\n  - said: x\n", 3, "unknown turn"),
            ("turns:\n  - lead: hi\n  - {}\n", 3, "empty turn"),
            ("turns:\n  - {lead: hi, wait: 1m}\n", 2, "exactly one key"),
        ];
        let head = "industry: insurance\nbusiness: {name: A}\nlead: {phone: \"+15125550123\"}\nstart: 2026-12-07T15:00:00Z\n";
        for (tail, line, needle) in cases {
            let err = Script::from_yaml(&format!("{head}{tail}")).unwrap_err();
            assert_eq!(err.line, Some(line + 4), "{err}");
            assert!(err.message.contains(needle), "{err}");
        }
        let err = Script::from_yaml(&head.replace("insurance", "astrology")).unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        let err = Script::from_yaml(&format!(
            "{}\nturns: [{{lead: hi}}]\n",
            head.replace("+15125550123", "12")
        ))
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        let inline = "schema:\n  - {name: age, type: number}\n  - {name: status, type: enum, values: []}\nbusiness: {name: A}\nlead: {phone: \"+15125550123\"}\nstart: 2026-12-07T15:00:00Z\nturns: [{lead: hi}]\n";
        let err = Script::from_yaml(inline).unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.to_string().starts_with("line 3: "), "{err}");
        assert_eq!(parse_wait("1h30m"), Ok(SignedDuration::from_mins(90)));
    }
}
