//! Guardrails: the last check every reply passes before it is sent, whichever engine wrote it.
//! [`check_reply`] normalises the text to GSM-7, refuses what the subscriber's policy forbids
//! (banned phrases and topics, links, prices and promises the knowledge base does not back, a
//! claim to be human, contact details that are neither the business's nor the lead's own), adds
//! the AI-disclosure line when it is due and holds the result to the segment limit.
//!
//! Decisions, all deliberate:
//! - a refused reply is never repaired: the caller gets a [`GuardrailViolation`] whose sentence
//!   it can hand back to the model on its retry, or it falls back to the playbook or a person;
//! - the disclosure never gives way: when the reply plus the line does not fit, the reply is
//!   refused as too long ([`disclosure_budget`] tells a model how much room is left);
//! - a reply that already says it is automated ("I'm Alex, Dana's virtual assistant") counts as
//!   the disclosure, so the line is not repeated;
//! - with emoji off, symbols outside GSM-7 (emoji) are dropped rather than refused;
//! - an amount is not a price quote when the lead said it first, when the knowledge base states
//!   it, or when it is a format example in parentheses ("(a rough number is fine, like $100)").

use crate::knowledge::{KnowledgeBase, Source};
use crate::parse::{self, Mode};
use crate::playbook::{ChatLine, DEFAULT_MAX_LEN, MAX_SEGMENTS, Personality, Speaker};
use crate::schema::fold;
use leadline_domain::compliance::segments::gsm_septets;
use leadline_domain::compliance::{normalize_gsm, segments};
use leadline_domain::{BusinessProfile, E164Phone, Email};
use serde::{Deserialize, Serialize};

/// The default disclosure line; `{assistant}`, `{business}` and `{agent}` are filled in.
pub const DEFAULT_DISCLOSURE: &str = "This is {assistant}, an automated assistant for {business}.";

/// When the AI-disclosure line goes out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisclosureWhen {
    /// On the assistant's first message, and whenever the lead asks whether it is a bot.
    #[default]
    FirstMessage,
    /// Only when the lead asks whether it is a bot.
    WhenAsked,
    /// Never added (the assistant still never claims to be human).
    Never,
}

/// The subscriber's guardrail settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Guardrails {
    /// Words or phrases a reply must never contain (case- and punctuation-insensitive).
    pub banned_phrases: Vec<String>,
    /// Topics the assistant stays away from, matched like phrases (a trailing "s" is ignored).
    pub banned_topics: Vec<String>,
    /// Whether replies may carry links at all.
    pub allow_links: bool,
    /// When links are allowed: the domains they may point to, besides the business website's.
    pub link_domains: Vec<String>,
    /// Whether the assistant may quote amounts the knowledge base does not state.
    pub may_quote_prices: bool,
    /// Whether the assistant may guarantee or promise what the knowledge base does not.
    pub may_promise: bool,
    /// The disclosure line; see [`DEFAULT_DISCLOSURE`] for the placeholders.
    pub ai_disclosure: String,
    pub disclosure: DisclosureWhen,
}

impl Default for Guardrails {
    fn default() -> Self {
        Self {
            banned_phrases: Vec::new(),
            banned_topics: Vec::new(),
            allow_links: false,
            link_domains: Vec::new(),
            may_quote_prices: false,
            may_promise: false,
            ai_disclosure: DEFAULT_DISCLOSURE.to_owned(),
            disclosure: DisclosureWhen::FirstMessage,
        }
    }
}

/// Everything a reply is checked against.
#[derive(Clone, Copy, Debug)]
pub struct GuardrailContext<'a> {
    pub guardrails: &'a Guardrails,
    pub personality: &'a Personality,
    pub profile: &'a BusinessProfile,
    pub knowledge: &'a KnowledgeBase,
    /// The lead's own contact details: the only personal ones a reply may contain.
    pub lead_phone: Option<&'a E164Phone>,
    pub lead_email: Option<&'a Email>,
    /// The conversation so far, oldest first, without the reply being checked.
    pub history: &'a [ChatLine],
    /// Whether no assistant message has been sent in this conversation yet.
    pub first_assistant_message: bool,
}

/// Why a reply may not be sent. The message is a sentence a person or a model can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuardrailViolation {
    #[error("the reply is empty")]
    Empty,
    #[error(
        "the reply is too long: {chars} characters in {segments} SMS segments{}, but at most {max_chars} characters in {max_segments} segments are allowed",
        if *with_disclosure { " with the AI-disclosure line" } else { "" }
    )]
    TooLong {
        chars: usize,
        segments: usize,
        max_chars: usize,
        max_segments: usize,
        with_disclosure: bool,
    },
    #[error("the reply uses the banned phrase '{0}'")]
    BannedPhrase(String),
    #[error("the reply touches the banned topic '{0}'")]
    BannedTopic(String),
    #[error("the reply contains the link '{link}', but {why}")]
    Link { link: String, why: &'static str },
    #[error("the reply claims to be a person ('{0}'); the assistant must never claim to be human")]
    ClaimsHuman(String),
    #[error(
        "the reply quotes the amount '{0}', which the knowledge base does not state; prices may not be quoted"
    )]
    Price(String),
    #[error(
        "the reply makes a promise ('{0}') the knowledge base does not back; promises may not be made"
    )]
    Promise(String),
    #[error(
        "the reply contains the contact detail '{0}', which is neither the business's nor the lead's own"
    )]
    ForeignContact(String),
}

/// Checks a reply and returns the text to send: GSM-7 normalised, with the disclosure line when
/// it is due, within the personality's length and [`MAX_SEGMENTS`] segments.
pub fn check_reply(reply: &str, ctx: &GuardrailContext<'_>) -> Result<String, GuardrailViolation> {
    let mut text = normalize_gsm(reply.trim());
    if !ctx.personality.emoji {
        text = drop_symbols_outside_gsm(&text);
    }
    if text.is_empty() {
        return Err(GuardrailViolation::Empty);
    }
    let folded = padded(&fold(&text));
    check_human_claim(&folded, ctx)?;
    check_banned(&folded, ctx.guardrails)?;
    check_links(&text, ctx)?;
    check_contacts(&text, ctx)?;
    let kb = knowledge_text(ctx.knowledge);
    check_prices(&text, ctx, &kb)?;
    check_promises(&folded, ctx.guardrails, &kb)?;

    let with_disclosure = disclosure_due(ctx.guardrails, ctx.history, ctx.first_assistant_message)
        && !discloses(&folded, &disclosure_line(ctx));
    if with_disclosure {
        text = format!("{} {text}", disclosure_line(ctx));
    }
    let max_chars = max_chars(ctx.personality);
    if !fits(&text, max_chars) && ctx.personality.emoji {
        // An emoji makes the whole text UCS-2 (70 characters a segment instead of 153).
        text = drop_symbols_outside_gsm(&text);
    }
    if !fits(&text, max_chars) {
        return Err(GuardrailViolation::TooLong {
            chars: text.chars().count(),
            segments: segments(&text).segments,
            max_chars,
            max_segments: MAX_SEGMENTS,
            with_disclosure,
        });
    }
    Ok(text)
}

/// The disclosure line with its placeholders filled in for this business.
pub fn render_disclosure(
    guardrails: &Guardrails,
    personality: &Personality,
    profile: &BusinessProfile,
) -> String {
    let or = |s: &str, default: &str| match s.trim() {
        "" => default.to_owned(),
        s => s.to_owned(),
    };
    normalize_gsm(
        guardrails
            .ai_disclosure
            .replace(
                "{assistant}",
                &or(&personality.assistant_name, "a virtual assistant"),
            )
            .replace("{business}", &or(&profile.business_name, "our team"))
            .replace("{agent}", &or(&profile.agent_name, "our team"))
            .trim(),
    )
}

/// Whether the next reply must carry the disclosure: on the first assistant message (when so
/// configured) and whenever the lead's latest messages ask if they are talking to a bot.
pub fn disclosure_due(guardrails: &Guardrails, history: &[ChatLine], first: bool) -> bool {
    if guardrails.ai_disclosure.trim().is_empty() {
        return false;
    }
    match guardrails.disclosure {
        DisclosureWhen::Never => false,
        DisclosureWhen::FirstMessage => first || asks_if_bot(history),
        DisclosureWhen::WhenAsked => asks_if_bot(history),
    }
}

/// Characters in one part of a multipart GSM-7 message.
const GSM_PART: usize = 153;

/// Characters left for the reply itself once the disclosure line (when due) is added, for a
/// GSM-7 reply; what a model is told to stay within.
pub fn disclosure_budget(
    guardrails: &Guardrails,
    personality: &Personality,
    profile: &BusinessProfile,
    history: &[ChatLine],
    first: bool,
) -> usize {
    // Two GSM-7 segments hold 306 characters, fewer than the default length limit.
    let max = max_chars(personality).min(MAX_SEGMENTS * GSM_PART);
    if disclosure_due(guardrails, history, first) {
        let line = render_disclosure(guardrails, personality, profile);
        max.saturating_sub(line.chars().count() + 1)
    } else {
        max
    }
}

fn disclosure_line(ctx: &GuardrailContext<'_>) -> String {
    render_disclosure(ctx.guardrails, ctx.personality, ctx.profile)
}

/// Longest reply in characters: the personality's, within the playbook's bounds.
fn max_chars(personality: &Personality) -> usize {
    personality.max_len.clamp(40, DEFAULT_MAX_LEN)
}

fn fits(text: &str, max_chars: usize) -> bool {
    text.chars().count() <= max_chars && segments(text).segments <= MAX_SEGMENTS
}

/// Removes symbols that have no GSM-7 form (emoji, pictographs, joiners); letters stay, so a
/// reply in another script is not mangled.
fn drop_symbols_outside_gsm(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| gsm_septets(*c).is_some() || c.is_alphanumeric())
        .collect();
    let mut out = String::with_capacity(kept.len());
    for c in kept.chars() {
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end().to_owned()
}

fn padded(folded: &str) -> String {
    format!(" {folded} ")
}

/// Whether `phrase` occurs in `padded_text` as whole words.
fn has_phrase(padded_text: &str, phrase: &str) -> bool {
    let p = fold(phrase);
    !p.is_empty() && padded_text.contains(&padded(&p))
}

const BOT_QUESTIONS: &[&str] = &[
    "are you a bot",
    "are you a robot",
    "are you a chatbot",
    "are you real",
    "are you human",
    "are you a human",
    "are you a person",
    "are you a real person",
    "are you ai",
    "are you an ai",
    "are you automated",
    "is this a bot",
    "is this a robot",
    "is this automated",
    "is this ai",
    "is this an ai",
    "is this a real person",
    "is this a person",
    "is this a human",
    "am i talking to a bot",
    "am i talking to a robot",
    "am i talking to a real person",
    "am i talking to a human",
    "am i texting a bot",
    "is this a machine",
];

/// Whether the lead's messages since the last assistant message ask if this is a bot.
fn asks_if_bot(history: &[ChatLine]) -> bool {
    history
        .iter()
        .rev()
        .take_while(|l| l.from == Speaker::Lead)
        .any(|l| {
            let p = padded(&fold(&l.text));
            BOT_QUESTIONS.iter().any(|q| p.contains(&padded(q)))
        })
}

/// Words by which a reply already says it is automated.
const SELF_DISCLOSURES: &[&str] = &[
    "automated",
    "virtual assistant",
    "ai assistant",
    "an ai",
    "a bot",
    "a chatbot",
];

fn discloses(padded_reply: &str, line: &str) -> bool {
    has_phrase(padded_reply, line) || SELF_DISCLOSURES.iter().any(|d| has_phrase(padded_reply, d))
}

/// First-person claims to be human, after "i am" / "im" (fold drops the apostrophe).
const HUMAN_CLAIMS: &[&str] = &[
    "a real person",
    "a person",
    "a real human",
    "a human",
    "human",
    "real",
    "a live person",
    "a live agent",
    "a real agent",
    "not a bot",
    "not a robot",
    "not a chatbot",
    "not ai",
    "not an ai",
    "not automated",
    "not a machine",
    "not a computer",
    "not a program",
    "not an automated",
    "not a virtual",
    "no bot",
];

fn check_human_claim(
    padded_reply: &str,
    ctx: &GuardrailContext<'_>,
) -> Result<(), GuardrailViolation> {
    for subject in ["i am", "im"] {
        for claim in HUMAN_CLAIMS {
            let phrase = format!("{subject} {claim}");
            if has_phrase(padded_reply, &phrase) {
                return Err(GuardrailViolation::ClaimsHuman(phrase));
            }
        }
    }
    // Speaking as the agent is a claim to be that person.
    let agent = fold(&ctx.profile.agent_name);
    if !agent.is_empty() && agent != fold(&ctx.personality.assistant_name) {
        for subject in ["i am", "im", "this is"] {
            let phrase = format!("{subject} {agent}");
            if has_phrase(padded_reply, &phrase) {
                return Err(GuardrailViolation::ClaimsHuman(phrase));
            }
        }
    }
    Ok(())
}

fn check_banned(padded_reply: &str, g: &Guardrails) -> Result<(), GuardrailViolation> {
    if let Some(p) = g
        .banned_phrases
        .iter()
        .find(|p| has_phrase(padded_reply, p))
    {
        return Err(GuardrailViolation::BannedPhrase(p.trim().to_owned()));
    }
    let topic_hit = |topic: &String| {
        let t = fold(topic);
        let singular = t.strip_suffix('s').unwrap_or(&t).to_owned();
        has_phrase(padded_reply, &t)
            || has_phrase(padded_reply, &singular)
            || has_phrase(padded_reply, &format!("{singular}s"))
    };
    if let Some(t) = g.banned_topics.iter().find(|t| topic_hit(t)) {
        return Err(GuardrailViolation::BannedTopic(t.trim().to_owned()));
    }
    Ok(())
}

/// Top-level domains a bare "name.tld" link is recognised by (schemes and "www." always are).
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "us", "ly", "me", "info", "biz", "app", "ai", "gov", "edu",
    "link", "site", "online", "xyz", "ca", "uk", "de", "to", "gl", "gg", "tv", "shop", "store",
];

/// The host of a link-like word, lower case, or `None` when the word is not a link.
fn link_host(word: &str) -> Option<String> {
    let w = word
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '/')
        .to_lowercase();
    if w.contains('@') {
        return None;
    }
    let (explicit, rest) = match w.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() => (true, rest),
        _ => (false, w.as_str()),
    };
    let host = rest.split(['/', '?', '#', ':']).next().unwrap_or_default();
    let host = host.trim_end_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    let well_formed = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    if !well_formed {
        return None;
    }
    let tld = labels.last().copied().unwrap_or_default();
    (explicit || host.starts_with("www.") || TLDS.contains(&tld)).then(|| host.to_owned())
}

fn domain_of(url_or_host: &str) -> Option<String> {
    link_host(url_or_host).map(|h| h.trim_start_matches("www.").to_owned())
}

fn check_links(text: &str, ctx: &GuardrailContext<'_>) -> Result<(), GuardrailViolation> {
    let g = ctx.guardrails;
    let mut allowed: Vec<String> = g
        .link_domains
        .iter()
        .map(|d| domain_of(d).unwrap_or_else(|| d.trim().to_lowercase()))
        .filter(|d| !d.is_empty())
        .collect();
    allowed.extend(ctx.profile.website.as_deref().and_then(domain_of));
    for word in text.split_whitespace() {
        let Some(host) = link_host(word) else {
            continue;
        };
        let link = word.trim_matches(|c: char| matches!(c, '.' | ',' | '!' | '?' | ')' | '('));
        if !g.allow_links {
            return Err(GuardrailViolation::Link {
                link: link.to_owned(),
                why: "links are not allowed",
            });
        }
        let host = host.trim_start_matches("www.");
        let ok = allowed
            .iter()
            .any(|d| host == d || host.ends_with(&format!(".{d}")));
        if !ok {
            return Err(GuardrailViolation::Link {
                link: link.to_owned(),
                why: "its domain is neither the business website nor an allowed link domain",
            });
        }
    }
    Ok(())
}

/// Every phone number and email address in the text, in order.
fn contacts(text: &str) -> Vec<Contact> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(p) = parse::phone(rest) {
        out.push(Contact::Phone(p.value));
        rest = rest.get(p.span.end..).unwrap_or_default();
    }
    let mut rest = text;
    while let Some(e) = parse::email(rest) {
        out.push(Contact::Email(e.value));
        rest = rest.get(e.span.end..).unwrap_or_default();
    }
    out
}

#[derive(PartialEq)]
enum Contact {
    Phone(E164Phone),
    Email(Email),
}

fn check_contacts(text: &str, ctx: &GuardrailContext<'_>) -> Result<(), GuardrailViolation> {
    let found = contacts(text);
    if found.is_empty() {
        return Ok(());
    }
    // The account's own details: its profile and its knowledge base.
    let mut own: Vec<Contact> = contacts(&knowledge_text(ctx.knowledge));
    own.extend(ctx.profile.phone.clone().map(Contact::Phone));
    own.extend(ctx.lead_phone.cloned().map(Contact::Phone));
    own.extend(ctx.lead_email.cloned().map(Contact::Email));
    let website = ctx.profile.website.as_deref().and_then(domain_of);
    for c in found {
        let ok = own.contains(&c)
            || matches!((&c, &website), (Contact::Email(e), Some(site))
                if e.as_str().rsplit_once('@').is_some_and(|(_, d)| d == site || d.ends_with(&format!(".{site}"))));
        if !ok {
            let shown = match c {
                Contact::Phone(p) => p.to_string(),
                Contact::Email(e) => e.to_string(),
            };
            return Err(GuardrailViolation::ForeignContact(shown));
        }
    }
    Ok(())
}

/// The knowledge base's text, questions and answers, as one string.
fn knowledge_text(kb: &KnowledgeBase) -> String {
    let mut out = String::new();
    for c in kb.chunks() {
        if let Source::Qa { question } = &c.source {
            out.push_str(question);
            out.push('\n');
        }
        out.push_str(&c.answer);
        out.push('\n');
    }
    out
}

/// Every money amount in the text (strict reading: "$80", "80 dollars", "99 a month"), with the
/// byte span it was read from.
fn amounts(text: &str) -> Vec<(f64, std::ops::Range<usize>)> {
    let toks = parse::tokenize(text);
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(rest) = toks.get(start..).filter(|r| !r.is_empty()) {
        let Some(p) = parse::money_tokens(rest, Mode::Strict) else {
            break;
        };
        let next = toks
            .iter()
            .position(|t| t.span.start >= p.span.end)
            .unwrap_or(toks.len());
        out.push((p.value.amount, p.span));
        if next <= start {
            break;
        }
        start = next;
    }
    out
}

/// "(a rough number is fine, like $100)": an example of an answer's form, not a price.
fn is_format_example(text: &str, span: &std::ops::Range<usize>) -> bool {
    let before = text.get(..span.start).unwrap_or_default();
    let after = text.get(span.end..).unwrap_or_default();
    let Some(open) = before.rfind('(') else {
        return false;
    };
    let inside = before.get(open..).unwrap_or_default();
    let closed_after = after.find(')').is_some_and(|c| {
        after
            .get(..c)
            .is_some_and(|between| !between.contains('(') && between.len() < 40)
    });
    let cue = padded(&fold(inside));
    !inside.contains(')')
        && closed_after
        && ["like", "eg", "e g", "for example", "such as"]
            .iter()
            .any(|c| cue.contains(&format!(" {c} ")))
}

fn check_prices(
    text: &str,
    ctx: &GuardrailContext<'_>,
    kb: &str,
) -> Result<(), GuardrailViolation> {
    if ctx.guardrails.may_quote_prices {
        return Ok(());
    }
    let found = amounts(text);
    if found.is_empty() {
        return Ok(());
    }
    let mut backed: Vec<f64> = amounts(kb).into_iter().map(|(a, _)| a).collect();
    for line in ctx.history.iter().filter(|l| l.from == Speaker::Lead) {
        backed.extend(amounts(&line.text).into_iter().map(|(a, _)| a));
    }
    for (amount, span) in found {
        let ok =
            backed.iter().any(|b| (b - amount).abs() < 0.005) || is_format_example(text, &span);
        if !ok {
            let shown = text.get(span).unwrap_or_default().trim().to_owned();
            return Err(GuardrailViolation::Price(shown));
        }
    }
    Ok(())
}

const PROMISES: &[&str] = &[
    "guarantee",
    "guaranteed",
    "guarantees",
    "i promise",
    "we promise",
    "promise you",
    "risk free",
    "no risk",
    "zero risk",
    "you will be approved",
    "youll be approved",
    "you will qualify",
    "youll qualify",
    "you will save",
    "youll save",
];

fn check_promises(padded_reply: &str, g: &Guardrails, kb: &str) -> Result<(), GuardrailViolation> {
    if g.may_promise {
        return Ok(());
    }
    let kb = padded(&fold(kb));
    match PROMISES
        .iter()
        .find(|p| has_phrase(padded_reply, p) && !has_phrase(&kb, p))
    {
        Some(p) => Err(GuardrailViolation::Promise((*p).to_owned())),
        None => Ok(()),
    }
}
