//! The playbook engine: decides one turn of a conversation without a model. It reads the lead's
//! latest messages, extracts every field they answer, classifies the intent, answers from the
//! knowledge base when retrieval is confident, asks for the next missing required field in the
//! personality's voice, offers booking or confirms when qualification is done, and hands off to
//! a human when it should.
//!
//! Everything the engine knows about the conversation's state comes from its input: which field
//! was asked last, how often an answer failed to parse, whether booking was offered — all are
//! read back from the history by the exact sentences the engine writes. So a turn is a pure
//! function: the same input gives the same output, and a replayed conversation replays exactly.
//!
//! Lead text is untrusted data. It is parsed, matched and searched, never followed and never
//! echoed into a reply (only schema values, knowledge-base text and profile names are), so an
//! "ignore previous instructions" message is just an unparsed message.

use crate::extract::{self, Found};
use crate::knowledge::{KnowledgeBase, Source, cut_words};
use crate::parse::{self, Lean, Mode};
use crate::schema::{ExtractionSchema, FieldKind, FieldSpec, fold};
use crate::value::{DateValue, FieldValue};
use jiff::civil::Date;
use leadline_domain::BusinessProfile;
use leadline_domain::compliance::{IntakeContext, classify, normalize_gsm, segments};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Longest reply by default, in characters; two GSM-7 segments hold 306, so 2 segments also bind.
pub const DEFAULT_MAX_LEN: usize = 320;
/// Most SMS segments a reply may cost.
pub const MAX_SEGMENTS: usize = 2;
/// The `source` recorded on this engine's extractions.
pub const SOURCE: &str = "playbook";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Lead,
    Assistant,
}

/// One message of the conversation, oldest first in a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub from: Speaker,
    pub text: String,
    /// The message's id in the store, recorded on extractions as their provenance.
    pub message_ref: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    #[default]
    Friendly,
    Professional,
    Casual,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Personality {
    pub assistant_name: String,
    pub tone: Tone,
    pub emoji: bool,
    /// Longest reply in characters; never more than two segments whatever this says.
    pub max_len: usize,
}

impl Default for Personality {
    fn default() -> Self {
        Self {
            assistant_name: "Alex".to_owned(),
            tone: Tone::Friendly,
            emoji: false,
            max_len: DEFAULT_MAX_LEN,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    Greet,
    Qualify,
    Answer,
    OfferBooking,
    Confirm,
}

/// When the assistant steps aside for a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HandOffRules {
    pub on_human_request: bool,
    pub on_abuse: bool,
    /// Failed answers to the same question before a person takes over; 0 never hands off.
    pub max_misses: u8,
    /// Flag questions the knowledge base cannot answer (the assistant keeps qualifying).
    pub on_unanswered_question: bool,
    /// The subscriber's own triggers: any of these words or phrases hands off.
    pub keywords: Vec<String>,
}

impl Default for HandOffRules {
    fn default() -> Self {
        Self {
            on_human_request: true,
            on_abuse: true,
            max_misses: 2,
            on_unanswered_question: true,
            keywords: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Strategy {
    /// Which goals are on. Greet, qualify and answer combine in one reply; when qualification is
    /// done, offer_booking wins over confirm when both are on.
    pub goals: Vec<Goal>,
    pub hand_off: HandOffRules,
}

impl Default for Strategy {
    fn default() -> Self {
        Self {
            goals: vec![
                Goal::Greet,
                Goal::Qualify,
                Goal::Answer,
                Goal::OfferBooking,
                Goal::Confirm,
            ],
            hand_off: HandOffRules::default(),
        }
    }
}

impl Strategy {
    pub fn has(&self, goal: Goal) -> bool {
        self.goals.contains(&goal)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Interested,
    Question,
    Objection,
    BookingRequest,
    Reschedule,
    NotInterested,
    HumanRequest,
    WrongPerson,
    Abuse,
    Other,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Interested => "interested",
            Intent::Question => "question",
            Intent::Objection => "objection",
            Intent::BookingRequest => "booking_request",
            Intent::Reschedule => "reschedule",
            Intent::NotInterested => "not_interested",
            Intent::HumanRequest => "human_request",
            Intent::WrongPerson => "wrong_person",
            Intent::Abuse => "abuse",
            Intent::Other => "other",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HandOffReason {
    HumanRequested,
    Abuse,
    /// The same question failed to get a usable answer `max_misses` times.
    RepeatedMisses {
        field: String,
    },
    /// The knowledge base could not answer; a person should follow up.
    UnansweredQuestion,
    /// The lead wants to book but the strategy leaves booking to people.
    BookingRequested,
    /// One of the subscriber's hand-off keywords.
    Trigger {
        keyword: String,
    },
}

impl HandOffReason {
    /// Whether the assistant should stop replying until a person hands the conversation back.
    /// An unanswered question only flags the conversation: the assistant keeps qualifying.
    pub fn pauses_ai(&self) -> bool {
        !matches!(self, HandOffReason::UnansweredQuestion)
    }

    pub fn describe(&self) -> String {
        match self {
            HandOffReason::HumanRequested => "the lead asked for a person".to_owned(),
            HandOffReason::Abuse => "abusive message".to_owned(),
            HandOffReason::RepeatedMisses { field } => {
                format!("could not get an answer for {field}")
            }
            HandOffReason::UnansweredQuestion => {
                "a question the knowledge base cannot answer".to_owned()
            }
            HandOffReason::BookingRequested => "the lead wants to book".to_owned(),
            HandOffReason::Trigger { keyword } => format!("hand-off keyword '{keyword}'"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NextAction {
    Reply,
    /// Offer real slots from the calendar, near `preferred` when the lead named a day.
    ProposeSlots {
        preferred: Option<DateValue>,
    },
    /// The lead named a day and time: book it if the calendar has it, else propose slots.
    Book {
        at: DateValue,
    },
    HandOff {
        reason: HandOffReason,
    },
    Close,
}

/// A field value learned this turn, with its provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub field: String,
    pub value: FieldValue,
    /// The message it came from.
    pub message_ref: String,
    pub confidence: f32,
    /// The engine that produced it: "playbook" here, a model name in the adapters.
    pub source: String,
}

/// Everything one turn may depend on.
#[derive(Clone, Copy, Debug)]
pub struct TurnInput<'a> {
    pub profile: &'a BusinessProfile,
    pub personality: &'a Personality,
    pub strategy: &'a Strategy,
    pub schema: &'a ExtractionSchema,
    /// Fields already known about the lead.
    pub known: &'a BTreeMap<String, FieldValue>,
    /// The conversation, oldest first; the lead's messages after the last assistant message
    /// are this turn's input.
    pub history: &'a [ChatLine],
    pub knowledge: &'a KnowledgeBase,
    /// The lead's local date, for "tomorrow" and "next Tuesday".
    pub today: Date,
}

/// What the engine decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnOutput {
    /// The text to send, GSM-7 normalised and within the length limit; `None` to stay silent.
    pub reply: Option<String>,
    pub extracted: Vec<Extraction>,
    pub intent: Intent,
    /// Lead score, 0 to 100.
    pub score: u8,
    pub reasons: Vec<String>,
    pub next_action: NextAction,
    /// The field the reply asks for, if any.
    pub asking: Option<String>,
    /// Knowledge chunks the reply quotes.
    pub knowledge_used: Vec<Source>,
}

/// The playbook engine. Stateless: configuration travels in [`TurnInput`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Playbook;

// Sentences the engine recognises in its own earlier messages.
const OFFER_MARK: &str = "set up a quick call with";
const PROPOSE_MARK: &str = "a few times that work";
const CONFIRM_MARK: &str = "will review your details";
const CLOSE_MARK: &str = "thanks for letting us know";
const RETRY_PREFIX: &str = "Sorry, I didn't quite catch that.";

fn padded(folded: &str) -> String {
    format!(" {folded} ")
}

fn has_any(p: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|ph| p.contains(&format!(" {ph} ")))
}

const ABUSE: &[&str] = &[
    "fuck",
    "fucking",
    "fck",
    "fk",
    "fuk",
    "fucker",
    "f ck",
    "f k",
    "shit",
    "bullshit",
    "bitch",
    "asshole",
    "bastard",
    "cunt",
    "dick",
    "dickhead",
    "motherfucker",
    "screw you",
    "go to hell",
    "stupid bot",
    "idiot",
    "moron",
    "retard",
    "retarded",
    "kill you",
    "shut up",
    "piece of shit",
    "piece of crap",
    "scumbag",
    "stfu",
    "gtfo",
];
const BOT_QUESTION: &[&str] = &[
    "are you a bot",
    "are you a robot",
    "are you real",
    "is this a bot",
    "is this automated",
    "are you human",
    "are you a human",
    "are you a person",
    "are you a real person",
    "are you ai",
    "are you an ai",
    "is this ai",
    "is this an ai",
    "am i talking to a bot",
    "is this a real person",
    "is this a person",
    "who is this",
    "whos this",
    "who are you",
    "who am i talking to",
];
const HUMAN: &[&str] = &[
    "real person",
    "real human",
    "a human",
    "live person",
    "live agent",
    "representative",
    "talk to someone",
    "speak to someone",
    "speak with someone",
    "talk to somebody",
    "talk with someone",
    "talk to a person",
    "speak to a person",
    "talk to an agent",
    "speak to an agent",
    "speak with an agent",
    "talk to a rep",
    "talk to a manager",
    "speak to a manager",
    "call me back",
    "give me a call",
    "can you call",
    "could you call",
    "can someone call",
    "please call",
    "just call me",
    "call me instead",
    "rather talk",
    "rather speak",
    "prefer to talk",
    "prefer a call",
    "call me please",
    "call me asap",
    "have someone call",
    "have them call",
    "pick up the phone",
];
const WRONG_PERSON: &[&str] = &[
    "wrong person",
    "wrong number",
    "didnt sign up",
    "did not sign up",
    "never signed up",
    "never filled",
    "not the person",
    "you have the wrong",
    "dont know who you are",
];
const NOT_INTERESTED: &[&str] = &[
    "not interested",
    "no longer interested",
    "no thanks",
    "no thank you",
    "not looking",
    "not in the market",
    "dont need it",
    "dont need one",
    "dont need any",
    "dont need anything",
    "changed my mind",
    "found someone",
    "went with someone",
    "went with another",
    "already bought",
    "already signed",
    "lose my number",
    "dont contact",
    "do not contact",
    "dont text",
    "do not text",
    "not for me",
    "nah im good",
    "no im good",
    "im good thanks",
    "im good thank",
    "not anymore",
    "no need",
];
const RESCHEDULE: &[&str] = &[
    "reschedule",
    "re schedule",
    "move my appointment",
    "change my appointment",
    "change the time",
    "cant make it",
    "can not make it",
    "cannot make it",
    "wont make it",
    "cancel my appointment",
    "cancel the appointment",
    "push it back",
    "different time",
    "another time",
    "move the call",
    "move our call",
];
const BOOKING: &[&str] = &[
    "book",
    "booking",
    "schedule",
    "set up a call",
    "set up a time",
    "set up an appointment",
    "setup a call",
    "make an appointment",
    "get an appointment",
    "an appointment",
    "appointment for",
    "come in",
    "come by",
    "come out",
    "stop by",
    "meet",
    "meeting",
    "available",
    "availability",
    "free on",
    "free at",
    "when can",
    "what times",
    "what time works",
    "any openings",
    "open slots",
    "consultation",
    "hop on a call",
    "jump on a call",
    "talk tomorrow",
    "call tomorrow",
    "lets talk",
    "lets chat",
    "come look",
    "come take a look",
    "come over",
    "send someone",
    "someone come",
    "someone out",
];
const OBJECTION: &[&str] = &[
    "too expensive",
    "cant afford",
    "can not afford",
    "too much money",
    "need to think",
    "think about it",
    "maybe later",
    "not right now",
    "not now",
    "busy",
    "talk to my wife",
    "talk to my husband",
    "talk to my spouse",
    "talk to my partner",
    "ask my wife",
    "ask my husband",
    "check with my",
    "already have",
    "just looking",
    "just browsing",
    "just curious",
    "not ready",
    "not sure about",
    "sounds expensive",
    "is this a scam",
    "scam",
];
const INTERESTED: &[&str] = &[
    "interested",
    "saw your ad",
    "saw the ad",
    "looking for",
    "quote",
    "info",
    "information",
    "more details",
    "tell me more",
    "sign me up",
    "sounds good",
    "i need",
    "we need",
    "i want",
    "we want",
    "help me",
    "yes",
];
const QUESTION_OPENERS: &[&str] = &[
    "how",
    "what",
    "whats",
    "when",
    "where",
    "why",
    "which",
    "who",
    "do you",
    "does",
    "can you",
    "could you",
    "is there",
    "are there",
    "is it",
    "are you",
    "will",
    "would",
    "do i",
    "can i",
    "should i",
    "is that",
    "any chance",
];
const PRICE_WORDS: &[&str] = &[
    "price",
    "prices",
    "pricing",
    "cost",
    "costs",
    "how much",
    "quote",
    "rate",
    "rates",
    "fee",
    "fees",
    "premium",
    "charge",
    "expensive",
    "cheap",
];

fn is_question(text: &str, p: &str) -> bool {
    text.contains('?')
        || QUESTION_OPENERS
            .iter()
            .any(|q| p.starts_with(&format!(" {q} ")))
}

/// Whether any sentence of the text opens like a question ("do you...", "how much...").
fn opens_question(text: &str) -> bool {
    text.split(['.', '!', '?', '\n', ','])
        .map(|s| padded(&fold(s)))
        .any(|p| {
            QUESTION_OPENERS
                .iter()
                .any(|q| p.starts_with(&format!(" {q} ")))
        })
}

/// The question sentences of a message, for retrieval: the parts ending in '?' or opening with
/// a question word; the whole text when none stands out.
fn question_text(text: &str) -> String {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if matches!(c, '?' | '.' | '!' | '\n') {
            let s = std::mem::take(&mut current);
            let p = padded(&fold(&s));
            if s.contains('?')
                || QUESTION_OPENERS
                    .iter()
                    .any(|q| p.starts_with(&format!(" {q} ")))
            {
                out.push(s);
            }
        }
    }
    let p = padded(&fold(&current));
    if !current.trim().is_empty()
        && QUESTION_OPENERS
            .iter()
            .any(|q| p.starts_with(&format!(" {q} ")))
    {
        out.push(current);
    }
    if out.is_empty() {
        text.to_owned()
    } else {
        out.join(" ")
    }
}

/// The knowledge hit for a message: its question sentences, or the question clause within
/// them ("saw your ad, are there tax credits?"), whichever retrieval covers best.
fn best_answer<'k>(kb: &'k KnowledgeBase, text: &str) -> Option<crate::knowledge::Hit<'k>> {
    let question = question_text(text);
    let mut candidates = vec![question.clone()];
    for clause in question.split([',', ';']) {
        let p = padded(&fold(clause));
        if QUESTION_OPENERS
            .iter()
            .any(|q| p.starts_with(&format!(" {q} ")))
        {
            candidates.push(clause.to_owned());
        }
    }
    candidates
        .iter()
        .filter_map(|q| kb.answer(q))
        .max_by(|a, b| {
            a.coverage
                .total_cmp(&b.coverage)
                .then(a.score.total_cmp(&b.score))
                .then(b.chunk.id.cmp(&a.chunk.id))
        })
}

/// The intent of one block of lead text, before looking at the conversation's state.
fn classify_intent(text: &str, agent: &str) -> Intent {
    let p = padded(&fold(text));
    let agent = fold(agent);
    let asks_for_agent = !agent.is_empty()
        && [
            "talk to",
            "speak to",
            "speak with",
            "talk with",
            "call from",
        ]
        .iter()
        .any(|v| p.contains(&format!(" {v} {agent} ")));
    if has_any(&p, ABUSE) {
        Intent::Abuse
    } else if has_any(&p, BOT_QUESTION) {
        Intent::Question
    } else if has_any(&p, WRONG_PERSON) {
        Intent::WrongPerson
    } else if has_any(&p, NOT_INTERESTED) {
        Intent::NotInterested
    } else if has_any(&p, RESCHEDULE) {
        Intent::Reschedule
    } else if has_any(&p, HUMAN) || asks_for_agent {
        Intent::HumanRequest
    } else if has_any(&p, BOOKING) {
        Intent::BookingRequest
    } else if has_any(&p, OBJECTION) {
        Intent::Objection
    } else if is_question(text, &p) {
        Intent::Question
    } else if has_any(&p, INTERESTED) {
        Intent::Interested
    } else {
        Intent::Other
    }
}

/// Who the assistant speaks for, in a sentence.
struct Voice<'a> {
    input: &'a TurnInput<'a>,
}

impl Voice<'_> {
    fn agent(&self) -> String {
        match self.input.profile.agent_name.trim() {
            "" => "someone from our team".to_owned(),
            a => a.to_owned(),
        }
    }
    fn agent_cap(&self) -> String {
        match self.input.profile.agent_name.trim() {
            "" => "Someone from our team".to_owned(),
            a => a.to_owned(),
        }
    }
    fn agent_short(&self) -> String {
        match self.input.profile.agent_name.trim() {
            "" => "our team".to_owned(),
            a => a.to_owned(),
        }
    }
    fn business(&self) -> String {
        match self.input.profile.business_name.trim() {
            "" => "our team".to_owned(),
            b => b.to_owned(),
        }
    }
    fn assistant(&self) -> String {
        match self.input.personality.assistant_name.trim() {
            "" => "the virtual assistant".to_owned(),
            a => a.to_owned(),
        }
    }
    fn role(&self) -> String {
        match self.input.profile.agent_name.trim() {
            "" => format!("the virtual assistant for {}", self.business()),
            a => format!("{a}'s virtual assistant at {}", self.business()),
        }
    }

    /// "Dana's virtual assistant" (the business is named elsewhere in the sentence).
    fn role_short(&self) -> String {
        match self.input.profile.agent_name.trim() {
            "" => "the team's virtual assistant".to_owned(),
            a => format!("{a}'s virtual assistant"),
        }
    }

    fn greeting(&self, inbound: bool) -> String {
        let (assistant, business, role) = (self.assistant(), self.business(), self.role());
        let short = self.role_short();
        match (self.input.personality.tone, inbound) {
            (Tone::Friendly, true) => {
                format!("Hi! Thanks for reaching out to {business}. I'm {assistant}, {short}.")
            }
            (Tone::Friendly, false) => format!("Hi! I'm {assistant}, {role}."),
            (Tone::Professional, true) => format!(
                "Hello, and thank you for contacting {business}. This is {assistant}, {short}."
            ),
            (Tone::Professional, false) => format!("Hello, this is {assistant}, {role}."),
            (Tone::Casual, true) => {
                format!("Hey! Thanks for reaching out to {business}. {assistant} here, {short}.")
            }
            (Tone::Casual, false) => format!("Hey! {assistant} here, {role}."),
        }
    }

    /// The emoji a greeting may end with, when the personality allows them.
    fn wave(&self) -> Option<&'static str> {
        (self.input.personality.emoji && self.input.personality.tone != Tone::Professional)
            .then_some("\u{1F44B}")
    }

    fn short_greeting(&self) -> String {
        format!("Hi! I'm {}, {}.", self.assistant(), self.role())
    }

    fn ack(&self, n: usize) -> &'static str {
        let options: &[&str] = match self.input.personality.tone {
            Tone::Friendly => &["Thanks!", "Got it, thanks!", "Perfect, thank you!"],
            Tone::Professional => &["Thank you.", "Noted, thank you.", "Thank you for that."],
            Tone::Casual => &["Got it!", "Cool, thanks!", "Nice, got it!"],
        };
        options.get(n % options.len()).copied().unwrap_or("Thanks!")
    }

    fn smile(&self) -> &'static str {
        if self.input.personality.emoji {
            " \u{1F642}"
        } else {
            ""
        }
    }
}

/// What a retry adds to a question: the form an answer should take.
fn format_hint(spec: &FieldSpec) -> Option<String> {
    Some(match &spec.kind {
        _ if spec.ask_text().contains('(') => return None,
        FieldKind::Date => match spec.when() {
            Some(crate::schema::When::Past) => "(for example 03/14/1985)".to_owned(),
            _ => "(for example 12/15 or next Tuesday)".to_owned(),
        },
        FieldKind::Money => "(a rough number is fine, like $100)".to_owned(),
        FieldKind::Number | FieldKind::Age => "(just the number is fine)".to_owned(),
        FieldKind::Boolean => "(yes or no is fine)".to_owned(),
        FieldKind::Email => "(like name@example.com)".to_owned(),
        FieldKind::Enum { values, .. } => {
            let shown: Vec<String> = values.iter().take(6).map(|v| v.replace('_', " ")).collect();
            let text = format!("({})", shown.join(", "));
            if spec.ask_text().contains(&shown.join(", ")) {
                return None;
            }
            text
        }
        _ => return None,
    })
}

/// The field the assistant asked for in `text`, recognised by its question.
fn asked_in<'s>(schema: &'s ExtractionSchema, text: &str) -> Option<&'s FieldSpec> {
    schema
        .fields
        .iter()
        .filter_map(|f| text.rfind(&f.ask_text()).map(|at| (at, f)))
        .max_by_key(|(at, f)| (*at, f.ask_text().len()))
        .map(|(_, f)| f)
}

/// A past exchange: what the assistant asked and what the lead answered.
struct Exchange<'a> {
    asked: Option<&'a FieldSpec>,
    lead: String,
}

fn exchanges<'s>(schema: &'s ExtractionSchema, history: &[ChatLine]) -> Vec<Exchange<'s>> {
    let mut out = Vec::new();
    let mut asked = None;
    let mut lead = String::new();
    for line in history {
        match line.from {
            Speaker::Assistant => {
                if !lead.is_empty() {
                    out.push(Exchange {
                        asked,
                        lead: std::mem::take(&mut lead),
                    });
                }
                asked = asked_in(schema, &line.text);
            }
            Speaker::Lead => {
                if !lead.is_empty() {
                    lead.push('\n');
                }
                lead.push_str(&line.text);
            }
        }
    }
    out
}

/// Whether a lead block is an attempt at answering (a question or a refusal is not a miss).
fn attempted(text: &str, agent: &str) -> bool {
    let folded = fold(text);
    !text.contains('?')
        && !extract::is_decline(&folded)
        && matches!(
            classify_intent(text, agent),
            Intent::Interested | Intent::Other
        )
}

/// Parts of a reply, in the order they are sent; dropped from the least important when the
/// whole does not fit.
#[derive(Default)]
struct Reply {
    greeting: Option<String>,
    /// Added after the greeting only if the reply still fits (an emoji makes it UCS-2).
    emoji: Option<&'static str>,
    short_greeting: Option<String>,
    ack: Option<String>,
    body: Vec<String>,
    ask: Option<String>,
}

impl Reply {
    fn is_empty(&self) -> bool {
        self.greeting.is_none() && self.ack.is_none() && self.body.is_empty() && self.ask.is_none()
    }

    fn join(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        parts.extend(self.greeting.as_deref());
        parts.extend(self.emoji.filter(|_| self.greeting.is_some()));
        parts.extend(self.ack.as_deref());
        parts.extend(self.body.iter().map(String::as_str));
        parts.extend(self.ask.as_deref());
        parts.join(" ")
    }

    fn fits(text: &str, max_len: usize) -> bool {
        text.chars().count() <= max_len && segments(text).segments <= MAX_SEGMENTS
    }

    /// The text to send: normalised to GSM-7 where possible, within `max_len` characters and two
    /// segments. Drops the emoji, then the acknowledgement, then shortens the greeting, then
    /// drops the question (it is asked next turn), then cuts the body.
    fn render(mut self, max_len: usize) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let max_len = max_len.clamp(40, DEFAULT_MAX_LEN);
        let text = normalize_gsm(&self.join());
        if Self::fits(&text, max_len) {
            return Some(text);
        }
        self.emoji = None;
        let text = normalize_gsm(&self.join());
        if Self::fits(&text, max_len) {
            return Some(text);
        }
        self.ack = None;
        if self.greeting.is_some() {
            self.greeting = self.short_greeting.take();
        }
        let text = normalize_gsm(&self.join());
        if Self::fits(&text, max_len) {
            return Some(text);
        }
        if !self.body.is_empty() {
            self.ask = None;
        }
        let mut text = normalize_gsm(&self.join());
        if !Self::fits(&text, max_len) {
            // Characters outside GSM-7 force UCS-2 (70 characters a segment, not 153).
            text = text.chars().filter(|c| parse_gsm_ok(*c)).collect();
        }
        let mut limit = max_len;
        while !Self::fits(&text, max_len) && limit > 20 {
            text = cut_words(&text, limit);
            limit -= 10;
        }
        Some(text)
    }
}

fn parse_gsm_ok(c: char) -> bool {
    leadline_domain::compliance::segments::gsm_septets(c).is_some()
}

impl Playbook {
    pub fn new() -> Self {
        Self
    }

    /// Decides one turn. Pure and deterministic.
    pub fn turn(&self, input: &TurnInput<'_>) -> TurnOutput {
        Turn::new(input).run()
    }
}

/// A turn's decision before scoring and rendering.
struct Decision {
    reply: Reply,
    extracted: Vec<Extraction>,
    intent: Intent,
    action: NextAction,
    asking: Option<String>,
    knowledge_used: Vec<Source>,
}

struct Turn<'a> {
    input: &'a TurnInput<'a>,
    voice: Voice<'a>,
    /// This turn's lead messages (after the last assistant message).
    latest: Vec<&'a ChatLine>,
    joined: String,
    assistant_lines: Vec<&'a str>,
}

impl<'a> Turn<'a> {
    fn new(input: &'a TurnInput<'a>) -> Self {
        let split = input
            .history
            .iter()
            .rposition(|l| l.from == Speaker::Assistant)
            .map_or(0, |i| i + 1);
        let latest: Vec<&ChatLine> = input
            .history
            .get(split..)
            .unwrap_or_default()
            .iter()
            .filter(|l| l.from == Speaker::Lead)
            .collect();
        let joined = latest
            .iter()
            .map(|l| l.text.trim())
            .collect::<Vec<_>>()
            .join("\n");
        let assistant_lines = input
            .history
            .iter()
            .filter(|l| l.from == Speaker::Assistant)
            .map(|l| l.text.as_str())
            .collect();
        Self {
            input,
            voice: Voice { input },
            latest,
            joined,
            assistant_lines,
        }
    }

    fn said(&self, mark: &str) -> bool {
        self.assistant_lines.iter().any(|l| l.contains(mark))
    }

    fn last_assistant(&self) -> Option<&str> {
        self.assistant_lines.last().copied()
    }

    fn output(&self, d: Decision, known: &BTreeMap<String, FieldValue>) -> TurnOutput {
        let (score, reasons) = self.score(d.intent, known, &d.action);
        TurnOutput {
            reply: d.reply.render(self.input.personality.max_len),
            extracted: d.extracted,
            intent: d.intent,
            score,
            reasons,
            next_action: d.action,
            asking: d.asking,
            knowledge_used: d.knowledge_used,
        }
    }

    fn score(
        &self,
        intent: Intent,
        known: &BTreeMap<String, FieldValue>,
        next_action: &NextAction,
    ) -> (u8, Vec<String>) {
        let mut score: i32 = 0;
        let mut reasons = Vec::new();
        let lead_blocks = exchanges(self.input.schema, self.input.history).len()
            + usize::from(!self.latest.is_empty());
        if lead_blocks > 0 {
            score += 10;
            reasons.push("replied".to_owned());
        }
        let required: Vec<&FieldSpec> = self.input.schema.required().collect();
        if !required.is_empty() {
            let have = required
                .iter()
                .filter(|f| known.contains_key(&f.name))
                .count();
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            let points = (50 * have / required.len()) as i32;
            score += points;
            reasons.push(format!(
                "{have} of {} required fields known",
                required.len()
            ));
        }
        let agent = self.input.profile.agent_name.as_str();
        let booked_before = exchanges(self.input.schema, self.input.history)
            .iter()
            .any(|e| classify_intent(&e.lead, agent) == Intent::BookingRequest);
        if booked_before
            || matches!(
                next_action,
                NextAction::ProposeSlots { .. } | NextAction::Book { .. }
            )
        {
            score += 25;
            reasons.push("wants to book".to_owned());
        }
        match intent {
            Intent::Interested => {
                score += 10;
                reasons.push("sounds interested".to_owned());
            }
            Intent::Question => {
                score += 5;
                reasons.push("asking questions".to_owned());
            }
            Intent::Objection => {
                score -= 10;
                reasons.push("raised an objection".to_owned());
            }
            _ => {}
        }
        if lead_blocks >= 3 {
            score += 5;
            reasons.push(format!("engaged over {lead_blocks} messages"));
        }
        if matches!(
            intent,
            Intent::NotInterested | Intent::WrongPerson | Intent::Abuse
        ) {
            score = score.min(5);
            reasons.push(intent.as_str().replace('_', " "));
        }
        let score = u8::try_from(score.clamp(0, 100)).unwrap_or(0);
        (score, reasons)
    }

    fn run(&self) -> TurnOutput {
        let input = self.input;
        let strategy = input.strategy;
        let mut known = input.known.clone();

        if self.latest.is_empty() {
            // Nothing new from the lead. With no conversation at all, open it.
            if input.history.is_empty() && strategy.has(Goal::Greet) {
                let mut reply = Reply {
                    greeting: Some(self.voice.greeting(false)),
                    emoji: self.voice.wave(),
                    short_greeting: Some(self.voice.short_greeting()),
                    ..Reply::default()
                };
                let next = self.next_field(&known, &BTreeSet::new());
                if strategy.has(Goal::Qualify) {
                    reply.ask = next.map(FieldSpec::ask_text);
                }
                return self.output(
                    Decision {
                        reply,
                        extracted: Vec::new(),
                        intent: Intent::Other,
                        action: NextAction::Reply,
                        asking: next
                            .filter(|_| strategy.has(Goal::Qualify))
                            .map(|f| f.name.clone()),
                        knowledge_used: Vec::new(),
                    },
                    &known,
                );
            }
            return self.output(
                Decision {
                    reply: Reply::default(),
                    extracted: Vec::new(),
                    intent: Intent::Other,
                    action: NextAction::Reply,
                    asking: None,
                    knowledge_used: Vec::new(),
                },
                &known,
            );
        }

        // Opt-out first: after STOP nothing automated may be sent.
        for line in &self.latest {
            let intake = classify(&line.text, IntakeContext::default());
            if intake.must_stop {
                let folded = fold(&line.text);
                let intent = if folded.contains("wrong") {
                    Intent::WrongPerson
                } else {
                    Intent::NotInterested
                };
                return self.output(
                    Decision {
                        reply: Reply::default(),
                        extracted: Vec::new(),
                        intent,
                        action: NextAction::Close,
                        asking: None,
                        knowledge_used: Vec::new(),
                    },
                    &known,
                );
            }
        }

        let agent = input.profile.agent_name.as_str();
        let mut intent = classify_intent(&self.joined, agent);
        let folded = fold(&self.joined);
        let declined = extract::is_decline(&folded);
        let asked = self
            .last_assistant()
            .and_then(|t| asked_in(input.schema, t));
        let offered_last = self
            .last_assistant()
            .is_some_and(|t| t.contains(OFFER_MARK));
        let lenient_ok = !declined
            && !matches!(
                intent,
                Intent::NotInterested
                    | Intent::HumanRequest
                    | Intent::WrongPerson
                    | Intent::Abuse
                    | Intent::Reschedule
            );

        let bubbles: Vec<&str> = self.latest.iter().map(|l| l.text.as_str()).collect();
        let found: Vec<Found> = if intent == Intent::Abuse {
            Vec::new()
        } else {
            extract::extract(
                input.schema,
                &known,
                &bubbles,
                asked,
                lenient_ok,
                input.today,
            )
        };
        let extracted: Vec<Extraction> = found
            .iter()
            .map(|f| Extraction {
                field: f.field.clone(),
                value: f.value.clone(),
                message_ref: self
                    .latest
                    .get(f.bubble)
                    .map(|l| l.message_ref.clone())
                    .unwrap_or_default(),
                confidence: f.confidence,
                source: SOURCE.to_owned(),
            })
            .collect();
        for f in &found {
            known.insert(f.field.clone(), f.value.clone());
        }
        if !found.is_empty() && matches!(intent, Intent::Other) {
            intent = Intent::Interested;
        }
        let asked_answered = asked.is_some_and(|a| found.iter().any(|f| f.field == a.name));
        if intent == Intent::Question && asked_answered && !opens_question(&self.joined) {
            // "maybe $80 a month?" is an unsure answer, not a question.
            intent = Intent::Interested;
        }

        // Hand-offs that end the assistant's part.
        if intent == Intent::Abuse {
            let action = if strategy.hand_off.on_abuse {
                NextAction::HandOff {
                    reason: HandOffReason::Abuse,
                }
            } else {
                NextAction::Reply
            };
            return self.output(
                Decision {
                    reply: Reply::default(),
                    extracted,
                    intent,
                    action,
                    asking: None,
                    knowledge_used: Vec::new(),
                },
                &known,
            );
        }
        if let Some(keyword) = strategy
            .hand_off
            .keywords
            .iter()
            .find(|k| !fold(k).is_empty() && padded(&folded).contains(&padded(&fold(k))))
        {
            let reply = Reply {
                body: vec![format!(
                    "Thanks, I've passed this to {}, who will reach out to you shortly.",
                    self.voice.agent()
                )],
                ..Reply::default()
            };
            let reason = HandOffReason::Trigger {
                keyword: keyword.clone(),
            };
            return self.output(
                Decision {
                    reply,
                    extracted,
                    intent,
                    action: NextAction::HandOff { reason },
                    asking: None,
                    knowledge_used: Vec::new(),
                },
                &known,
            );
        }
        let date_given =
            parse::date(&self.joined, input.today, Lean::Future, Mode::Strict).map(|p| p.value);
        if intent == Intent::HumanRequest
            && date_given.is_some()
            && strategy.has(Goal::OfferBooking)
        {
            intent = Intent::BookingRequest;
        }
        if intent == Intent::HumanRequest && strategy.hand_off.on_human_request {
            let reply = Reply {
                body: vec![format!(
                    "Of course! I've let {} know, and they'll reach out to you shortly.",
                    self.voice.agent()
                )],
                ..Reply::default()
            };
            let action = NextAction::HandOff {
                reason: HandOffReason::HumanRequested,
            };
            return self.output(
                Decision {
                    reply,
                    extracted,
                    intent,
                    action,
                    asking: None,
                    knowledge_used: Vec::new(),
                },
                &known,
            );
        }
        if intent == Intent::WrongPerson {
            return self.output(
                Decision {
                    reply: Reply::default(),
                    extracted,
                    intent,
                    action: NextAction::Close,
                    asking: None,
                    knowledge_used: Vec::new(),
                },
                &known,
            );
        }
        let yes_no = parse::yes_no(&self.joined, Mode::Lenient).map(|p| p.value);
        let declined_offer = offered_last && !asked_answered && yes_no == Some(false);
        if intent == Intent::NotInterested || declined_offer {
            let reply = if self.said(CLOSE_MARK) || self.said(CONFIRM_MARK) {
                Reply::default()
            } else if declined_offer {
                Reply {
                    body: vec![format!(
                        "No problem! {} will review your details and reach out if anything comes up. Thanks for your time{}",
                        self.voice.agent_cap(),
                        if self.voice.smile().is_empty() {
                            "."
                        } else {
                            "! \u{1F642}"
                        }
                    )],
                    ..Reply::default()
                }
            } else {
                Reply {
                    body: vec![
                        "No problem, thanks for letting us know! If anything changes, just text us here.".to_owned(),
                    ],
                    ..Reply::default()
                }
            };
            let intent = if declined_offer {
                Intent::Other
            } else {
                intent
            };
            return self.output(
                Decision {
                    reply,
                    extracted,
                    intent,
                    action: NextAction::Close,
                    asking: None,
                    knowledge_used: Vec::new(),
                },
                &known,
            );
        }

        // After "thanks for letting us know", only new substance gets a reply.
        if self.said(CLOSE_MARK)
            && found.is_empty()
            && !matches!(
                intent,
                Intent::Question | Intent::BookingRequest | Intent::Reschedule
            )
        {
            return self.output(
                Decision {
                    reply: Reply::default(),
                    extracted,
                    intent,
                    action: NextAction::Close,
                    asking: None,
                    knowledge_used: Vec::new(),
                },
                &known,
            );
        }

        // Booking.
        let accepted_offer = offered_last && !asked_answered && yes_no == Some(true);
        if intent == Intent::Reschedule || intent == Intent::BookingRequest || accepted_offer {
            if !strategy.has(Goal::OfferBooking) {
                let reply = Reply {
                    body: vec![format!(
                        "I'll let {} know you'd like to set up a time, and they'll reach out shortly.",
                        self.voice.agent()
                    )],
                    ..Reply::default()
                };
                let action = NextAction::HandOff {
                    reason: HandOffReason::BookingRequested,
                };
                return self.output(
                    Decision {
                        reply,
                        extracted,
                        intent,
                        action,
                        asking: None,
                        knowledge_used: Vec::new(),
                    },
                    &known,
                );
            }
            let intent = if accepted_offer && intent != Intent::Reschedule {
                Intent::BookingRequest
            } else {
                intent
            };
            let (text, action) = match date_given {
                Some(at) if at.time.is_some() => (
                    format!(
                        "Great, let me check {}'s calendar for {}.",
                        self.voice.agent_short(),
                        describe_when(at)
                    ),
                    NextAction::Book { at },
                ),
                preferred => (
                    if intent == Intent::Reschedule {
                        format!(
                            "No problem, let's find a new time. I'll send over a few times that work for {}.",
                            self.voice.agent_short()
                        )
                    } else {
                        format!(
                            "Great! I'll send over {PROPOSE_MARK} for {}.",
                            self.voice.agent_short()
                        )
                    },
                    NextAction::ProposeSlots { preferred },
                ),
            };
            let mut reply = Reply::default();
            if self.assistant_lines.is_empty() && strategy.has(Goal::Greet) {
                reply.greeting = Some(self.voice.greeting(true));
                reply.emoji = self.voice.wave();
                reply.short_greeting = Some(self.voice.short_greeting());
            }
            reply.body.push(text);
            return self.output(
                Decision {
                    reply,
                    extracted,
                    intent,
                    action,
                    asking: None,
                    knowledge_used: Vec::new(),
                },
                &known,
            );
        }

        // Everything else gets one reply: greeting, acknowledgement, answer, next question.
        let mut reply = Reply::default();
        let mut knowledge_used = Vec::new();
        let mut action = NextAction::Reply;
        let first = self.assistant_lines.is_empty();
        if first && strategy.has(Goal::Greet) {
            reply.greeting = Some(self.voice.greeting(true));
            reply.emoji = self.voice.wave();
            reply.short_greeting = Some(self.voice.short_greeting());
        } else if !found.is_empty() {
            reply.ack = Some(self.voice.ack(self.assistant_lines.len()).to_owned());
        }

        if intent == Intent::Question {
            let p = padded(&folded);
            if has_any(&p, BOT_QUESTION) && reply.greeting.is_some() {
                // The greeting already says who is texting.
                reply.body.push(format!(
                    "I'm an automated assistant; {} is a real person and can jump in anytime.",
                    self.voice.agent()
                ));
            } else if has_any(&p, BOT_QUESTION) {
                reply.body.push(format!(
                    "I'm {}, an automated assistant for {}. {} is a real person and can jump in anytime.",
                    self.voice.assistant(),
                    self.voice.business(),
                    self.voice.agent_cap()
                ));
            } else if let Some(hit) = strategy
                .has(Goal::Answer)
                .then(|| best_answer(input.knowledge, &self.joined))
                .flatten()
            {
                reply.body.push(hit.chunk.answer.clone());
                knowledge_used.push(hit.chunk.source.clone());
            } else {
                let about_price = has_any(&p, PRICE_WORDS);
                reply.body.push(if about_price {
                    format!(
                        "Pricing depends on your details, so {} will go over exact numbers with you.",
                        self.voice.agent()
                    )
                } else {
                    format!("Good question! I'll have {} follow up on that.", self.voice.agent())
                });
                if strategy.hand_off.on_unanswered_question {
                    action = NextAction::HandOff {
                        reason: HandOffReason::UnansweredQuestion,
                    };
                }
            }
        } else if intent == Intent::Objection {
            reply
                .body
                .push("Totally understand, no pressure.".to_owned());
        }

        // Fields the lead refused, now or before, are not asked again.
        let mut skipped: BTreeSet<String> = BTreeSet::new();
        for ex in exchanges(input.schema, input.history) {
            if let Some(f) = ex.asked
                && extract::is_decline(&fold(&ex.lead))
            {
                skipped.insert(f.name.clone());
            }
        }
        let mut retry = false;
        if let Some(a) = asked
            && !asked_answered
            && !known.contains_key(&a.name)
        {
            if declined {
                skipped.insert(a.name.clone());
                reply.body.push("No problem, we can skip that.".to_owned());
            } else if attempted(&self.joined, agent) {
                let earlier = exchanges(input.schema, input.history)
                    .iter()
                    .filter(|e| {
                        e.asked.is_some_and(|f| f.name == a.name) && attempted(&e.lead, agent)
                    })
                    .count();
                let misses = earlier + 1;
                let max = usize::from(strategy.hand_off.max_misses);
                if max > 0 && misses >= max {
                    reply.ack = None;
                    reply.body.push(format!(
                        "Thanks for bearing with me! I'll have {} follow up with you directly.",
                        self.voice.agent()
                    ));
                    let reason = HandOffReason::RepeatedMisses {
                        field: a.name.clone(),
                    };
                    return self.output(
                        Decision {
                            reply,
                            extracted,
                            intent,
                            action: NextAction::HandOff { reason },
                            asking: None,
                            knowledge_used,
                        },
                        &known,
                    );
                }
                retry = true;
            }
        }

        let mut asking = None;
        let next = self.next_field(&known, &skipped);
        if let Some(field) = next.filter(|_| strategy.has(Goal::Qualify)) {
            let mut ask = field.ask_text();
            if retry && asked.is_some_and(|a| a.name == field.name) && found.is_empty() {
                reply.ack = None;
                ask = match format_hint(field) {
                    Some(h) => format!("{RETRY_PREFIX} {ask} {h}"),
                    None => format!("{RETRY_PREFIX} {ask}"),
                };
            }
            reply.ask = Some(ask);
            asking = Some(field.name.clone());
        } else if next.is_none() {
            // Qualification is done (or the rest was declined).
            let closed = self.said(CONFIRM_MARK) || self.said(CLOSE_MARK);
            let offered = self.said(OFFER_MARK) || self.said(PROPOSE_MARK);
            if strategy.has(Goal::OfferBooking) && !offered && !closed {
                reply.ask = Some(format!(
                    "That's everything I need! Would you like to {OFFER_MARK} {} to go over your options?",
                    self.voice.agent_short()
                ));
            } else if strategy.has(Goal::Confirm) && !offered && !closed {
                reply.ask = Some(format!(
                    "That's everything I need. {} {CONFIRM_MARK} and be in touch soon.{}",
                    self.voice.agent_cap(),
                    self.voice.smile()
                ));
                if matches!(action, NextAction::Reply) {
                    action = NextAction::Close;
                }
            } else if reply.body.is_empty() && (found.is_empty() || is_pleasantry_block(&folded)) {
                // Nothing left to say: don't answer "thanks" with another message.
                reply = Reply::default();
            }
        }
        self.output(
            Decision {
                reply,
                extracted,
                intent,
                action,
                asking,
                knowledge_used,
            },
            &known,
        )
    }

    fn next_field(
        &self,
        known: &BTreeMap<String, FieldValue>,
        skipped: &BTreeSet<String>,
    ) -> Option<&'a FieldSpec> {
        self.input
            .schema
            .required()
            .find(|f| !known.contains_key(&f.name) && !skipped.contains(&f.name))
    }
}

fn is_pleasantry_block(folded: &str) -> bool {
    extract::is_pleasantry(folded)
}

/// "Tuesday, Dec 8 at 2:00 PM".
fn describe_when(at: DateValue) -> String {
    let day = at.date.strftime("%A, %b %-d").to_string();
    match at.time {
        Some(t) => {
            let (h, suffix) = match t.hour() {
                0 => (12, "AM"),
                h @ 1..=11 => (h, "AM"),
                12 => (12, "PM"),
                h => (h - 12, "PM"),
            };
            format!("{day} at {h}:{:02} {suffix}", t.minute())
        }
        None => day,
    }
}
