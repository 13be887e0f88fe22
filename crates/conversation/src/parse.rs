//! Typed parsers from a lead's free text to values. Each returns the value, the byte span of the
//! text it read (so one phrase is never claimed by two fields) and a confidence.
//!
//! Every parser has a strict reading, used for answers the lead volunteers ("I'm 42, married"),
//! and some have a lenient one, used when the assistant just asked for that field (a bare "42"
//! answers "How old are you?"). Nothing here panics on any input; a proptest holds it to that.
//!
//! Conventions, chosen because leads text in US formats:
//! - numeric dates are month first (`12/15`); a year-less date is the next such day for future
//!   fields and the last one for past fields; two-digit years are read the same way;
//! - weekday names mean the next such day after today ("next Tuesday" and "Tuesday" agree;
//!   "this Tuesday" on a Tuesday is today);
//! - "at 2" without am/pm is business hours: 1–7 read as afternoon, 8–11 as morning;
//! - a money range ("50-80 a month") is read as its midpoint, with lower confidence.

use crate::value::{DateValue, Money, Period};
use jiff::ToSpan;
use jiff::civil::{self, Date, Weekday};
use leadline_domain::{E164Phone, Email};
use std::ops::Range;

/// A parsed value, where it was found in the input (byte offsets) and how sure the parser is.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed<T> {
    pub value: T,
    pub span: Range<usize>,
    pub confidence: f32,
}

impl<T> Parsed<T> {
    fn new(value: T, span: Range<usize>, confidence: f32) -> Self {
        Self {
            value,
            span,
            confidence,
        }
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        Parsed {
            value: f(self.value),
            span: self.span,
            confidence: self.confidence,
        }
    }
}

/// How hard a parser may try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The lead volunteered it: only unmistakable forms count.
    Strict,
    /// The assistant just asked for this: a bare answer counts.
    Lenient,
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Num,
    Sym,
}

/// A token with its byte span. Words are lower case without apostrophes ("I'm" → "im"); numbers
/// carry their value ("1,200" → 1200); anything else is a one-character symbol.
#[derive(Clone, Debug)]
pub(crate) struct Tok {
    pub kind: Kind,
    pub text: String,
    pub num: f64,
    /// Integer digits written, for telling a year (4) from a day (1–2).
    pub int_digits: usize,
    pub decimal: bool,
    pub span: Range<usize>,
    /// No whitespace before this token.
    pub glued: bool,
}

impl Tok {
    pub fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Word && self.text == w
    }
    pub fn is_any(&self, words: &[&str]) -> bool {
        self.kind == Kind::Word && words.contains(&self.text.as_str())
    }
    pub fn is_sym(&self, c: char) -> bool {
        self.kind == Kind::Sym && self.text.starts_with(c)
    }
    /// Ends a clause: a later word in the same clause may give context to an earlier number.
    pub fn is_break(&self) -> bool {
        self.kind == Kind::Sym && matches!(self.text.as_str(), "," | "." | ";" | "!" | "?" | "\n")
    }
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

pub(crate) fn tokenize(text: &str) -> Vec<Tok> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let mut toks = Vec::new();
    let mut i = 0;
    let mut glued = false;
    while let Some(&(start, c)) = chars.get(i) {
        if c == '\n' {
            toks.push(Tok {
                kind: Kind::Sym,
                text: "\n".into(),
                num: 0.0,
                int_digits: 0,
                decimal: false,
                span: start..start + 1,
                glued,
            });
            i += 1;
            glued = false;
            continue;
        }
        if c.is_whitespace() {
            glued = false;
            i += 1;
            continue;
        }
        if c.is_alphabetic() {
            let mut word = String::new();
            let mut j = i;
            while let Some(&(_, d)) = chars.get(j) {
                if d.is_alphabetic() {
                    word.extend(d.to_lowercase());
                    j += 1;
                } else if is_apostrophe(d)
                    && chars.get(j + 1).is_some_and(|(_, n)| n.is_alphabetic())
                {
                    j += 1;
                } else {
                    break;
                }
            }
            toks.push(Tok {
                kind: Kind::Word,
                text: word,
                num: 0.0,
                int_digits: 0,
                decimal: false,
                span: start..end_of(j),
                glued,
            });
            i = j;
            glued = true;
            continue;
        }
        if c.is_ascii_digit() {
            let mut digits = String::new();
            let mut j = i;
            let mut int_digits = 0;
            let mut decimal = false;
            while let Some(&(_, d)) = chars.get(j) {
                if d.is_ascii_digit() {
                    digits.push(d);
                    if !decimal {
                        int_digits += 1;
                    }
                    j += 1;
                } else if d == ','
                    && !decimal
                    && (1..=3).contains(&int_digits)
                    && (1..=3).all(|k| chars.get(j + k).is_some_and(|(_, n)| n.is_ascii_digit()))
                    && !chars.get(j + 4).is_some_and(|(_, n)| n.is_ascii_digit())
                {
                    // A thousands separator: exactly three digits follow.
                    j += 1;
                } else if d == ','
                    && !decimal
                    && int_digits > 3
                    && (digits.len() - 1).is_multiple_of(3)
                    && (1..=3).all(|k| chars.get(j + k).is_some_and(|(_, n)| n.is_ascii_digit()))
                {
                    j += 1;
                } else if d == '.'
                    && !decimal
                    && chars.get(j + 1).is_some_and(|(_, n)| n.is_ascii_digit())
                {
                    decimal = true;
                    digits.push('.');
                    j += 1;
                } else {
                    break;
                }
                if digits.len() > 40 {
                    // Absurdly long digit runs are not numbers a lead means.
                    break;
                }
            }
            let num = digits.parse::<f64>().unwrap_or(f64::NAN);
            toks.push(Tok {
                kind: Kind::Num,
                text: digits,
                num,
                int_digits,
                decimal,
                span: start..end_of(j),
                glued,
            });
            i = j;
            glued = true;
            continue;
        }
        toks.push(Tok {
            kind: Kind::Sym,
            text: c.to_string(),
            num: 0.0,
            int_digits: 0,
            decimal: false,
            span: start..start + c.len_utf8(),
            glued,
        });
        i += 1;
        glued = true;
    }
    toks
}

fn span_of(toks: &[Tok], from: usize, to_exclusive: usize) -> Range<usize> {
    let start = toks.get(from).map_or(0, |t| t.span.start);
    let end = to_exclusive
        .checked_sub(1)
        .and_then(|i| toks.get(i))
        .map_or(start, |t| t.span.end);
    start..end.max(start)
}

/// Whether `phrase` (folded words) occurs in the word tokens `toks[from..to]`; returns the
/// token index where it starts.
pub(crate) fn find_phrase(toks: &[Tok], from: usize, to: usize, phrase: &str) -> Option<usize> {
    let words: Vec<&str> = phrase.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return None;
    }
    let to = to.min(toks.len());
    (from..to).find(|&i| {
        words.iter().enumerate().all(|(k, w)| {
            i + k < to
                && toks
                    .get(i + k)
                    .is_some_and(|t| t.kind != Kind::Sym && t.text == *w)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Numbers

const UNITS: &[(&str, f64)] = &[
    ("zero", 0.0),
    ("one", 1.0),
    ("two", 2.0),
    ("three", 3.0),
    ("four", 4.0),
    ("five", 5.0),
    ("six", 6.0),
    ("seven", 7.0),
    ("eight", 8.0),
    ("nine", 9.0),
    ("ten", 10.0),
    ("eleven", 11.0),
    ("twelve", 12.0),
    ("thirteen", 13.0),
    ("fourteen", 14.0),
    ("fifteen", 15.0),
    ("sixteen", 16.0),
    ("seventeen", 17.0),
    ("eighteen", 18.0),
    ("nineteen", 19.0),
];
const TENS: &[(&str, f64)] = &[
    ("twenty", 20.0),
    ("thirty", 30.0),
    ("forty", 40.0),
    ("fourty", 40.0),
    ("fifty", 50.0),
    ("sixty", 60.0),
    ("seventy", 70.0),
    ("eighty", 80.0),
    ("ninety", 90.0),
];

fn word_value(w: &str) -> Option<(f64, bool)> {
    UNITS
        .iter()
        .find(|(n, _)| *n == w)
        .map(|(_, v)| (*v, false))
        .or_else(|| TENS.iter().find(|(n, _)| *n == w).map(|(_, v)| (*v, true)))
}

/// A number starting at token `i`: digits ("1,200", "1.5k") or words ("forty-two", "a hundred",
/// "fifteen hundred", "a couple"). Returns the value and the index after it.
pub(crate) fn number_at(toks: &[Tok], i: usize) -> Option<(f64, usize)> {
    let t = toks.get(i)?;
    let (mut value, mut j) = if t.kind == Kind::Num {
        if !t.num.is_finite() {
            return None;
        }
        (t.num, i + 1)
    } else if t.kind == Kind::Word {
        number_words(toks, i)?
    } else {
        return None;
    };
    // Multipliers: "1.5k", "80k", "2m", "80 thousand", "5 grand", "1.2 million".
    if let Some(n) = toks.get(j) {
        if n.glued && n.is_any(&["k", "K"]) {
            value *= 1_000.0;
            j += 1;
        } else if n.glued && n.is_any(&["m", "mil", "mm"]) && t.kind == Kind::Num {
            value *= 1_000_000.0;
            j += 1;
        } else if n.is_any(&["thousand", "grand"]) {
            value *= 1_000.0;
            j += 1;
        } else if n.is_any(&["million", "mil"]) {
            value *= 1_000_000.0;
            j += 1;
        } else if n.is_word("hundred") && t.kind == Kind::Num {
            value *= 100.0;
            j += 1;
        }
    }
    value.is_finite().then_some((value, j))
}

fn number_words(toks: &[Tok], i: usize) -> Option<(f64, usize)> {
    let first = toks.get(i)?;
    // "a couple (of)", "couple".
    if first.is_word("couple")
        || (first.is_any(&["a"]) && toks.get(i + 1).is_some_and(|t| t.is_word("couple")))
    {
        let mut j = if first.is_word("a") { i + 2 } else { i + 1 };
        if toks.get(j).is_some_and(|t| t.is_word("of")) {
            j += 1;
        }
        return Some((2.0, j));
    }
    let mut j = i;
    let mut total = 0.0;
    let mut current = 0.0;
    let mut any = false;
    // "a hundred", "a thousand".
    if first.is_any(&["a", "an"])
        && toks
            .get(i + 1)
            .is_some_and(|t| t.is_any(&["hundred", "thousand"]))
    {
        current = 1.0;
        j = i + 1;
    }
    while let Some(t) = toks.get(j) {
        if t.kind != Kind::Word && !(t.is_sym('-') && any) {
            break;
        }
        if t.is_sym('-') {
            // "forty-two": only between a tens word and a unit.
            if toks.get(j + 1).and_then(|n| word_value(&n.text)).is_some() {
                j += 1;
                continue;
            }
            break;
        }
        if let Some((v, _)) = word_value(&t.text) {
            current += v;
            any = true;
            j += 1;
        } else if t.is_word("hundred") && (any || current > 0.0) {
            current *= 100.0;
            any = true;
            j += 1;
        } else if t.is_word("thousand") && (any || current > 0.0) {
            total += current * 1_000.0;
            current = 0.0;
            any = true;
            j += 1;
        } else if t.is_word("and")
            && any
            && toks.get(j + 1).and_then(|n| word_value(&n.text)).is_some()
            && total + current >= 100.0
        {
            j += 1;
        } else {
            break;
        }
    }
    any.then_some((total + current, j))
}

/// A plain number ("two", "2.5", "1,200"), the first in the text.
pub fn number(text: &str) -> Option<Parsed<f64>> {
    let toks = tokenize(text);
    (0..toks.len()).find_map(|i| {
        let (v, j) = number_at(&toks, i)?;
        Some(Parsed::new(v, span_of(&toks, i, j), 0.8))
    })
}

// ---------------------------------------------------------------------------------------------
// Money

const CURRENCY_WORDS: &[&str] = &["bucks", "buck", "dollars", "dollar", "usd", "dollas"];

fn period_word(w: &str) -> Option<Period> {
    Some(match w {
        "month" | "mo" | "mos" | "mth" | "months" | "monthly" | "m" => Period::Month,
        "year" | "yr" | "yrs" | "years" | "annum" | "yearly" | "annually" | "annual" | "y" => {
            Period::Year
        }
        "week" | "wk" | "weeks" | "weekly" => Period::Week,
        "hour" | "hr" | "hours" | "hourly" | "h" => Period::Hour,
        _ => return None,
    })
}

/// A period after an amount: "/mo", "a month", "per year", "monthly", "each week".
fn period_at(toks: &[Tok], j: usize) -> Option<(Period, usize)> {
    let t = toks.get(j)?;
    if t.is_sym('/') {
        let w = toks.get(j + 1)?;
        return (w.kind == Kind::Word)
            .then(|| period_word(&w.text))
            .flatten()
            .map(|p| (p, j + 2));
    }
    if t.is_any(&["a", "an", "per", "each", "every", "/"]) {
        let w = toks.get(j + 1)?;
        if w.kind == Kind::Word && w.text.len() > 1 {
            return period_word(&w.text).map(|p| (p, j + 2));
        }
        return None;
    }
    if t.is_any(&["monthly", "yearly", "annually", "weekly", "hourly"]) {
        return period_word(&t.text).map(|p| (p, j + 1));
    }
    None
}

/// An amount at token `i`, with whether it carried a currency cue.
fn amount_at(toks: &[Tok], i: usize) -> Option<(f64, usize, bool)> {
    let t = toks.get(i)?;
    if t.is_sym('$') {
        let (v, j) = number_at(toks, i + 1)?;
        return Some((v, j, true));
    }
    let (v, mut j) = number_at(toks, i)?;
    let mut cue = toks
        .get(j.saturating_sub(1))
        .is_some_and(|last| last.is_any(&["k", "grand"]));
    if toks.get(j).is_some_and(|n| n.is_sym('$') && n.glued) {
        cue = true;
        j += 1;
    }
    if toks.get(j).is_some_and(|n| n.is_any(CURRENCY_WORDS)) {
        cue = true;
        j += 1;
    }
    Some((v, j, cue))
}

/// Whether the number at `i` is really part of a date, time, phone number or other measure.
fn is_not_money(toks: &[Tok], i: usize, end: usize) -> bool {
    let next = toks.get(end);
    let prev = i.checked_sub(1).and_then(|p| toks.get(p));
    next.is_some_and(|n| {
        (n.glued
            && (n.is_sym('/') || n.is_sym(':') || n.is_sym('-'))
            && toks.get(end + 1).is_some_and(|m| m.kind == Kind::Num))
            || n.is_any(&[
                "years", "year", "yrs", "yr", "yo", "am", "pm", "kids", "kid", "children", "child",
                "bedrooms", "bedroom", "beds", "bed", "br", "th", "st", "nd", "rd", "days", "day",
                "weeks", "minutes", "mins", "hours", "percent", "people", "miles", "sq", "sqft",
                "feet", "ft",
            ])
            || n.is_sym('%')
    }) || prev.is_some_and(|p| {
        (p.glued && (p.is_sym('/') || p.is_sym(':')) && i >= 2)
            || p.is_any(&[
                "age", "aged", "im", "at", "the", "number", "room", "unit", "apt", "suite",
            ])
    })
}

/// A money amount: "$80 a month", "80 bucks", "about 1.5k", "$1,200/mo", "50-80 a month".
pub fn money(text: &str, mode: Mode) -> Option<Parsed<Money>> {
    money_tokens(&tokenize(text), mode)
}

pub(crate) fn money_tokens(toks: &[Tok], mode: Mode) -> Option<Parsed<Money>> {
    let mut fallback: Option<Parsed<Money>> = None;
    let mut i = 0;
    while i < toks.len() {
        let Some((mut amount, mut j, mut cue)) = amount_at(toks, i) else {
            i += 1;
            continue;
        };
        let mut confidence = 0.9;
        // A range: "50-80", "$50 to $80", "50 - 60k".
        if toks
            .get(j)
            .is_some_and(|t| t.is_sym('-') || t.is_word("to"))
            && let Some((high, end, high_cue)) = amount_at(toks, j + 1)
        {
            let mut low = amount;
            // "50-60k": the multiplier applies to both ends.
            if high >= 1_000.0 && low < 1_000.0 && low * 1_000.0 <= high {
                low *= 1_000.0;
            }
            if low <= high {
                amount = (low + high) / 2.0;
                j = end;
                cue |= high_cue;
                confidence = 0.7;
            }
        }
        let mut period = None;
        if let Some((p, end)) = period_at(toks, j) {
            period = Some(p);
            j = end;
            cue = true;
        }
        let start_num = if toks.get(i).is_some_and(|t| t.is_sym('$')) {
            i + 1
        } else {
            i
        };
        if !cue && is_not_money(toks, start_num, j) {
            i = j.max(i + 1);
            continue;
        }
        let parsed = Parsed::new(Money { amount, period }, span_of(toks, i, j), confidence);
        if cue {
            return Some(parsed);
        }
        if mode == Mode::Lenient && fallback.is_none() {
            fallback = Some(Parsed {
                confidence: 0.7,
                ..parsed
            });
        }
        i = j.max(i + 1);
    }
    fallback
}

// ---------------------------------------------------------------------------------------------
// Yes / no

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "ya",
    "yea",
    "yah",
    "ye",
    "yess",
    "yesss",
    "sure",
    "certainly",
    "definitely",
    "absolutely",
    "correct",
    "affirmative",
    "ok",
    "okay",
    "k",
    "kk",
    "sounds good",
    "of course",
    "for sure",
    "i do",
    "we do",
    "i am",
    "we are",
    "i have",
    "we have",
    "that works",
    "works for me",
    "please",
    "please do",
    "lets do it",
    "let's do it",
    "totally",
    "right",
    "true",
    "y",
    "si",
    "perfect",
    "great",
    "cool",
    "alright",
    "all right",
    "i did",
    "we did",
];
const NO: &[&str] = &[
    "no",
    "nope",
    "nah",
    "naw",
    "not really",
    "negative",
    "i dont",
    "i do not",
    "we dont",
    "we do not",
    "never",
    "not at all",
    "no thanks",
    "no thank you",
    "im not",
    "i am not",
    "we are not",
    "were not",
    "i havent",
    "i have not",
    "not yet",
    "n",
    "false",
    "nada",
    "i didnt",
    "we didnt",
    "no way",
    "not anymore",
    "dont",
    "i rent",
    "we rent",
    "renting",
    "renter",
];
const FILLER: &[&str] = &[
    "oh", "well", "um", "uh", "umm", "hmm", "haha", "lol", "so", "hi", "hey", "and",
];

/// Yes or no: "yep", "nah", "sure", "not really". Lenient reads the opening words of a reply;
/// strict needs the whole text to be the answer.
pub fn yes_no(text: &str, mode: Mode) -> Option<Parsed<bool>> {
    let toks = tokenize(text);
    let words: Vec<(usize, &Tok)> = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == Kind::Word)
        .collect();
    if words.is_empty() {
        return emoji_yes_no(text);
    }
    let skip = words
        .iter()
        .take_while(|(_, t)| FILLER.contains(&t.text.as_str()))
        .count();
    let rest: Vec<&str> = words
        .iter()
        .skip(skip)
        .map(|(_, t)| t.text.as_str())
        .collect();
    let starts = |phrase: &str| -> Option<usize> {
        let p: Vec<&str> = phrase.split(' ').collect();
        (rest.len() >= p.len() && rest.iter().zip(&p).all(|(a, b)| a == b)).then_some(p.len())
    };
    // Longest phrase wins, so "not really" beats nothing and "no thanks" beats "no".
    let mut best: Option<(bool, usize)> = None;
    for (list, value) in [(NO, false), (YES, true)] {
        for phrase in list {
            if let Some(n) = starts(phrase)
                && best.is_none_or(|(_, m)| n > m)
            {
                best = Some((value, n));
            }
        }
    }
    let (value, n) = best?;
    // "not sure", "no idea": undecided, not a no.
    if rest
        .get(n)
        .is_some_and(|w| ["sure", "idea", "clue"].contains(w))
        && !value
    {
        return None;
    }
    if rest.first().is_some_and(|w| *w == "not") && rest.get(1).is_some_and(|w| *w == "sure") {
        return None;
    }
    let first = words.get(skip).map_or(0, |(i, _)| *i);
    let last = words.get(skip + n - 1).map_or(first, |(i, _)| *i);
    let whole = skip + n == words.len();
    if mode == Mode::Strict && !whole {
        return None;
    }
    Some(Parsed::new(
        value,
        span_of(&toks, first, last + 1),
        if whole { 0.95 } else { 0.8 },
    ))
}

fn emoji_yes_no(text: &str) -> Option<Parsed<bool>> {
    let t = text.trim();
    let value = match t {
        "\u{1F44D}" | "\u{1F44C}" | "\u{2705}" | "\u{2714}\u{FE0F}" | "\u{2714}" => true,
        "\u{1F44E}" | "\u{274C}" => false,
        _ => return None,
    };
    let start = text.len() - text.trim_start().len();
    Some(Parsed::new(value, start..start + t.len(), 0.8))
}

// ---------------------------------------------------------------------------------------------
// Enums

const NEGATORS: &[&str] = &[
    "not", "never", "no", "isnt", "arent", "wasnt", "dont", "nor", "neither",
];

fn same_word(a: &str, b: &str) -> bool {
    a == b || (a.len() >= 4 && b.len() >= 4 && a.trim_end_matches('s') == b.trim_end_matches('s'))
}

/// At most one edit (insert, delete, substitute, swap) apart; for typos in lenient mode.
fn one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let a_rest = a.get(prefix..).unwrap_or_default();
    let b_rest = b.get(prefix..).unwrap_or_default();
    let tail = |x: &[char], y: &[char]| x == y;
    match (a_rest.len(), b_rest.len()) {
        (0, 0) => true,
        (m, n) if m == n => {
            tail(
                a_rest.get(1..).unwrap_or_default(),
                b_rest.get(1..).unwrap_or_default(),
            ) || (m >= 2
                && a_rest.first() == b_rest.get(1)
                && a_rest.get(1) == b_rest.first()
                && tail(
                    a_rest.get(2..).unwrap_or_default(),
                    b_rest.get(2..).unwrap_or_default(),
                ))
        }
        (m, n) if m > n => tail(a_rest.get(1..).unwrap_or_default(), b_rest),
        _ => tail(a_rest, b_rest.get(1..).unwrap_or_default()),
    }
}

/// One of `values`, said as the value itself or one of its synonyms, case- and
/// space-insensitively, on word boundaries ("I'm hitched" → `married` when "hitched" is listed).
/// A match right after a negator ("not married") is ignored unless the negated phrase is itself
/// a synonym. When several values match, the last one mentioned wins ("was divorced, now
/// married") with lower confidence. Lenient mode also forgives one typo in words of 5+ letters.
pub fn enum_value(
    text: &str,
    values: &[String],
    synonyms: &std::collections::BTreeMap<String, Vec<String>>,
    mode: Mode,
) -> Option<Parsed<String>> {
    enum_tokens(&tokenize(text), values, synonyms, mode)
}

pub(crate) fn enum_tokens(
    toks: &[Tok],
    values: &[String],
    synonyms: &std::collections::BTreeMap<String, Vec<String>>,
    mode: Mode,
) -> Option<Parsed<String>> {
    // "600s" is one word here, though the tokenizer splits the number from its suffix.
    let mut merged: Vec<Tok> = Vec::with_capacity(toks.len());
    for t in toks {
        if let Some(prev) = merged.last_mut()
            && prev.kind == Kind::Num
            && t.kind == Kind::Word
            && t.glued
        {
            prev.text.push_str(&t.text);
            prev.span.end = t.span.end;
            continue;
        }
        merged.push(t.clone());
    }
    let toks = &merged[..];
    let words: Vec<(usize, &Tok)> = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind != Kind::Sym)
        .collect();
    // (value, first word index, word count, fuzzy)
    let mut hits: Vec<(&String, usize, usize, bool)> = Vec::new();
    for value in values {
        let mut phrases = vec![crate::schema::fold(value)];
        if let Some(list) = synonyms.get(value) {
            phrases.extend(list.iter().map(|s| crate::schema::fold(s)));
        }
        for phrase in &phrases {
            let p: Vec<&str> = phrase.split(' ').filter(|w| !w.is_empty()).collect();
            if p.is_empty() || p.len() > words.len() {
                continue;
            }
            for start in 0..=(words.len() - p.len()) {
                let exact = p.iter().enumerate().all(|(k, w)| {
                    words
                        .get(start + k)
                        .is_some_and(|(_, t)| same_word(&t.text, w))
                });
                let fuzzy = !exact
                    && mode == Mode::Lenient
                    && p.len() == 1
                    && p.first().is_some_and(|w| w.chars().count() >= 5)
                    && words.get(start).is_some_and(|(_, t)| {
                        t.text.chars().count() >= 5
                            && p.first().is_some_and(|w| one_edit(&t.text, w))
                    });
                if exact || fuzzy {
                    hits.push((value, start, p.len(), fuzzy));
                }
            }
        }
    }
    // Longest first, then earliest; drop hits overlapping a longer one.
    hits.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)));
    let mut kept: Vec<(&String, usize, usize, bool)> = Vec::new();
    for h in hits {
        if kept.iter().any(|k| h.1 < k.1 + k.2 && k.1 < h.1 + h.2) {
            continue;
        }
        let negated =
            h.1.checked_sub(1)
                .and_then(|p| words.get(p))
                .is_some_and(|(_, t)| NEGATORS.contains(&t.text.as_str()));
        if !negated {
            kept.push(h);
        }
    }
    kept.sort_by_key(|k| k.1);
    let last = kept.last()?;
    let distinct = kept.iter().any(|k| k.0 != last.0);
    let first_tok = words.get(last.1).map_or(0, |(i, _)| *i);
    let last_tok = words
        .get(last.1 + last.2 - 1)
        .map_or(first_tok, |(i, _)| *i);
    let confidence = match (distinct, last.3) {
        (_, true) => 0.6,
        (true, false) => 0.65,
        (false, false) => 0.9,
    };
    Some(Parsed::new(
        last.0.clone(),
        span_of(toks, first_tok, last_tok + 1),
        confidence,
    ))
}

// ---------------------------------------------------------------------------------------------
// Email and phone

/// The first valid email address in the text.
pub fn email(text: &str) -> Option<Parsed<Email>> {
    let mut offset = 0;
    for chunk in text.split_inclusive(char::is_whitespace) {
        let start = offset;
        offset += chunk.len();
        if !chunk.contains('@') {
            continue;
        }
        let trimmed_start = chunk.trim_start_matches(|c: char| !c.is_alphanumeric());
        let lead = chunk.len() - trimmed_start.len();
        let candidate = trimmed_start.trim_end_matches(|c: char| !c.is_alphanumeric());
        if let Ok(e) = Email::parse(candidate) {
            return Some(Parsed::new(
                e,
                start + lead..start + lead + candidate.len(),
                0.95,
            ));
        }
    }
    None
}

/// The first phone number in the text, as E.164 (ten-digit numbers read as US).
pub fn phone(text: &str) -> Option<Parsed<E164Phone>> {
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+');
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars
            .get(i)
            .is_some_and(|(_, c)| c.is_ascii_digit() || *c == '+' || *c == '(');
        let after_digit = i > 0 && chars.get(i - 1).is_some_and(|(_, c)| c.is_ascii_digit());
        if !starts || after_digit {
            i += 1;
            continue;
        }
        let mut j = i;
        while chars.get(j).is_some_and(|(_, c)| allowed(*c)) {
            j += 1;
        }
        let start = chars.get(i).map_or(0, |(b, _)| *b);
        let end = chars.get(j).map_or(text.len(), |(b, _)| *b);
        let raw = text.get(start..end).unwrap_or_default();
        let trimmed = raw.trim_end_matches(|c: char| !c.is_ascii_digit());
        let digits = trimmed.chars().filter(char::is_ascii_digit).count();
        if (10..=15).contains(&digits)
            && let Ok(p) = E164Phone::parse(trimmed.trim())
        {
            return Some(Parsed::new(p, start..start + trimmed.len(), 0.95));
        }
        i = j.max(i + 1);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Ages

const AFTER_AGE: &[&str] = &[
    "next", "this", "in", "and", "but", "so", "now", "with", "btw", "married", "single", "years",
    "yrs", "yr", "yo", "y", "year",
];

/// An age in years: "I'm 42", "42 years old", "age 42", "forty-two"; lenient also takes a bare
/// number from 1 to 120.
pub fn age(text: &str, mode: Mode) -> Option<Parsed<u8>> {
    age_tokens(&tokenize(text), mode)
}

fn to_age(v: f64) -> Option<u8> {
    // Whole years only; an age above 120 is not an age.
    (v.fract() == 0.0 && (1.0..=120.0).contains(&v)).then(|| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let a = v as u8;
        a
    })
}

pub(crate) fn age_tokens(toks: &[Tok], mode: Mode) -> Option<Parsed<u8>> {
    for i in 0..toks.len() {
        let Some((v, j)) = number_at(toks, i) else {
            continue;
        };
        let Some(a) = to_age(v) else { continue };
        let next = toks.get(j);
        let prev = i.checked_sub(1).and_then(|p| toks.get(p));
        let prev2 = i.checked_sub(2).and_then(|p| toks.get(p));
        // "42 years old", "42 yrs", "42yo", "42 y/o".
        if let Some(n) = next {
            if n.is_any(&["years", "year", "yrs", "yr", "y"]) {
                let mut end = j + 1;
                if toks.get(end).is_some_and(|t| t.is_sym('/'))
                    && toks.get(end + 1).is_some_and(|t| t.is_word("o"))
                {
                    end += 2;
                }
                let old = toks.get(end).is_some_and(|t| t.is_any(&["old", "of"]));
                if old || n.is_word("y") {
                    let end = if old { end + 1 } else { end };
                    return Some(Parsed::new(a, span_of(toks, i, end), 0.95));
                }
                // "42 years" alone is still an age when the clause ends.
                if toks.get(end).is_none_or(Tok::is_break) {
                    return Some(Parsed::new(a, span_of(toks, i, end), 0.8));
                }
            }
            if n.is_any(&["yo", "yob"]) {
                return Some(Parsed::new(a, span_of(toks, i, j + 1), 0.9));
            }
        }
        let ends_clause = next.is_none_or(|n| n.is_break() || n.is_any(AFTER_AGE) || n.is_sym(')'));
        // "I'm 42", "I am 42", "age 42", "aged 42", "age: 42", "turning 43".
        let cue = prev.is_some_and(|p| p.is_any(&["im", "age", "aged", "turned", "turning"]))
            || (prev.is_some_and(|p| p.is_word("am")) && prev2.is_some_and(|p| p.is_word("i")))
            || (prev.is_some_and(|p| p.is_sym(':')) && prev2.is_some_and(|p| p.is_word("age")));
        if cue && ends_clause && !toks.get(i).is_some_and(|t| t.decimal) {
            let a = if prev.is_some_and(|p| p.is_word("turning")) {
                a.saturating_sub(1).max(1)
            } else {
                a
            };
            return Some(Parsed::new(a, span_of(toks, i, j), 0.9));
        }
        if mode == Mode::Lenient && ends_clause && !toks.get(i).is_some_and(|t| t.decimal) {
            return Some(Parsed::new(a, span_of(toks, i, j), 0.75));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Dates

const MONTHS: &[(&str, i8)] = &[
    ("january", 1),
    ("jan", 1),
    ("february", 2),
    ("feb", 2),
    ("march", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("may", 5),
    ("june", 6),
    ("jun", 6),
    ("july", 7),
    ("jul", 7),
    ("august", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oct", 10),
    ("november", 11),
    ("nov", 11),
    ("december", 12),
    ("dec", 12),
];

fn month_word(w: &str) -> Option<i8> {
    MONTHS.iter().find(|(n, _)| *n == w).map(|(_, m)| *m)
}

fn weekday_word(w: &str) -> Option<(Weekday, bool)> {
    // The bool: an abbreviation, which also means other things ("sat", "sun", "wed").
    Some(match w {
        "monday" => (Weekday::Monday, false),
        "mon" => (Weekday::Monday, true),
        "tuesday" => (Weekday::Tuesday, false),
        "tue" | "tues" => (Weekday::Tuesday, true),
        "wednesday" => (Weekday::Wednesday, false),
        "wed" | "weds" => (Weekday::Wednesday, true),
        "thursday" => (Weekday::Thursday, false),
        "thu" | "thur" | "thurs" => (Weekday::Thursday, true),
        "friday" => (Weekday::Friday, false),
        "fri" => (Weekday::Friday, true),
        "saturday" => (Weekday::Saturday, false),
        "sat" => (Weekday::Saturday, true),
        "sunday" => (Weekday::Sunday, false),
        "sun" => (Weekday::Sunday, true),
        _ => return None,
    })
}

/// Which way a year-less date leans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lean {
    Future,
    Past,
}

fn day_number(t: &Tok) -> Option<i8> {
    if t.kind != Kind::Num || t.decimal || t.int_digits > 2 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let d = t.num as i8;
    (1..=31).contains(&d).then_some(d)
}

fn ordinal_suffix(t: Option<&Tok>) -> bool {
    t.is_some_and(|t| t.glued && t.is_any(&["st", "nd", "rd", "th"]))
}

fn year_of(t: &Tok, today: Date, lean: Lean) -> Option<i16> {
    if t.kind != Kind::Num || t.decimal {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let n = t.num as i32;
    let year = match t.int_digits {
        4 if (1900..=2100).contains(&n) => n,
        2 => {
            let yy = i32::from(today.year()) % 100;
            let century = i32::from(today.year()) - yy;
            match lean {
                Lean::Past if n > yy => century - 100 + n,
                _ => century + n,
            }
        }
        _ => return None,
    };
    i16::try_from(year).ok()
}

fn resolve(today: Date, year: Option<i16>, month: i8, day: i8, lean: Lean) -> Option<Date> {
    match year {
        Some(y) => Date::new(y, month, day).ok(),
        None => {
            let this = Date::new(today.year(), month, day).ok();
            match (lean, this) {
                (Lean::Future, Some(d)) if d >= today => Some(d),
                (Lean::Future, _) => Date::new(today.year().saturating_add(1), month, day).ok(),
                // A past date without its year (a birthday) is not a date of birth.
                (Lean::Past, _) => None,
            }
        }
    }
}

/// A date expression starting at token `i`: returns the date, the index after it and a
/// confidence.
fn date_at(toks: &[Tok], i: usize, today: Date, lean: Lean) -> Option<(Date, usize, f32)> {
    let t = toks.get(i)?;
    let word = |k: usize| {
        toks.get(k)
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.text.as_str())
    };
    match t.kind {
        Kind::Num => {
            // ISO 2026-12-15.
            if t.int_digits == 4
                && toks.get(i + 1).is_some_and(|s| s.is_sym('-') && s.glued)
                && toks.get(i + 3).is_some_and(|s| s.is_sym('-') && s.glued)
            {
                let y = year_of(t, today, lean)?;
                let m = day_number(toks.get(i + 2)?)?;
                let d = day_number(toks.get(i + 4)?)?;
                return Date::new(y, m, d).ok().map(|d| (d, i + 5, 0.95));
            }
            // US 12/15, 12/15/2026, 12-15-82.
            if let Some(sep) = toks
                .get(i + 1)
                .filter(|s| (s.is_sym('/') || s.is_sym('-')) && s.glued)
            {
                let m = day_number(t)?;
                let d = day_number(toks.get(i + 2)?)?;
                if m > 12 {
                    return None;
                }
                let third = toks
                    .get(i + 3)
                    .filter(|s| s.is_sym(sep.text.chars().next().unwrap_or('/')) && s.glued);
                if third.is_some()
                    && let Some(y) = toks.get(i + 4).and_then(|y| year_of(y, today, lean))
                {
                    return Date::new(y, m, d).ok().map(|d| (d, i + 5, 0.95));
                }
                if sep.is_sym('-') {
                    // "50-80" is a range, not a date.
                    return None;
                }
                return resolve(today, None, m, d, lean).map(|d| (d, i + 3, 0.85));
            }
            // "15 December (1982)", "15th of Dec".
            let d = day_number(t)?;
            let mut j = i + 1;
            if ordinal_suffix(toks.get(j)) {
                j += 1;
            }
            if word(j) == Some("of") {
                j += 1;
            }
            let m = word(j).and_then(month_word)?;
            j += 1;
            if toks.get(j).is_some_and(|t| t.is_sym('.')) {
                j += 1;
            }
            let (year, end) = year_after(toks, j, today, lean);
            resolve(today, year, m, d, lean).map(|d| (d, end, 0.9))
        }
        Kind::Word => {
            let w = t.text.as_str();
            if let Some(m) = month_word(w) {
                let mut j = i + 1;
                if toks.get(j).is_some_and(|t| t.is_sym('.')) {
                    j += 1;
                }
                if word(j) == Some("the") {
                    j += 1;
                }
                let d = day_number(toks.get(j)?)?;
                j += 1;
                if ordinal_suffix(toks.get(j)) {
                    j += 1;
                }
                let (year, end) = year_after(toks, j, today, lean);
                return resolve(today, year, m, d, lean).map(|d| (d, end, 0.9));
            }
            let days = |n: i64| today.checked_add(n.days()).ok();
            match w {
                "today" | "tonight" | "tonite" => return days(0).map(|d| (d, i + 1, 0.9)),
                "tomorrow" | "tmrw" | "tmr" | "tomorow" | "tommorow" | "tommorrow" | "tmw" => {
                    return days(1).map(|d| (d, i + 1, 0.95));
                }
                "yesterday" => return days(-1).map(|d| (d, i + 1, 0.9)),
                "day" if word(i + 1) == Some("after") && word(i + 2) == Some("tomorrow") => {
                    return days(2).map(|d| (d, i + 3, 0.9));
                }
                "in" | "within" => {
                    let (n, j) = number_at(toks, i + 1).or_else(|| {
                        matches!(word(i + 1), Some("a" | "an")).then_some((1.0, i + 2))
                    })?;
                    return offset(today, n, word(j)?).map(|d| (d, j + 1, 0.85));
                }
                "next" | "this" | "coming" | "on" => {
                    let next = word(i + 1)?;
                    if let Some((wd, _)) = weekday_word(next) {
                        let this_today = w == "this" && today.weekday() == wd;
                        let d = if this_today {
                            today
                        } else {
                            next_weekday(today, wd)?
                        };
                        return Some((d, i + 2, 0.9));
                    }
                    if w == "on" {
                        return date_at(toks, i + 1, today, lean);
                    }
                    let amount = if w == "next" { 1.0 } else { 0.0 };
                    return match next {
                        "week" => days(if amount > 0.0 { 7 } else { 0 }).map(|d| (d, i + 2, 0.6)),
                        "month" if amount > 0.0 => {
                            today.checked_add(1.months()).ok().map(|d| (d, i + 2, 0.6))
                        }
                        // "this weekend" and "next weekend" both mean the coming Saturday.
                        "weekend" => {
                            next_weekday(today, Weekday::Saturday).map(|d| (d, i + 2, 0.7))
                        }
                        _ => None,
                    };
                }
                "the" => {
                    // "the 15th" — this month if still ahead, else next.
                    let d = day_number(toks.get(i + 1)?)?;
                    if !ordinal_suffix(toks.get(i + 2)) {
                        return None;
                    }
                    let this = Date::new(today.year(), today.month(), d).ok();
                    let date = match this {
                        Some(x) if x >= today || lean == Lean::Past => Some(x),
                        _ => today
                            .checked_add(1.months())
                            .ok()
                            .and_then(|n| Date::new(n.year(), n.month(), d).ok()),
                    }?;
                    return Some((date, i + 3, 0.8));
                }
                _ => {}
            }
            if let Some((wd, abbreviated)) = weekday_word(w) {
                // Bare abbreviations ("sat", "sun") need a time after them to count.
                if abbreviated && !time_at(toks, i + 1).is_some_and(|(_, _, c)| c >= 0.8) {
                    return None;
                }
                return next_weekday(today, wd).map(|d| (d, i + 1, 0.85));
            }
            // "a week from today", "two weeks from now".
            if let Some((n, j)) =
                number_at(toks, i).or_else(|| matches!(w, "a" | "an").then_some((1.0, i + 1)))
                && word(j + 1) == Some("from")
                && matches!(word(j + 2), Some("now" | "today"))
            {
                return offset(today, n, word(j)?).map(|d| (d, j + 3, 0.85));
            }
            None
        }
        Kind::Sym => None,
    }
}

fn year_after(toks: &[Tok], j: usize, today: Date, lean: Lean) -> (Option<i16>, usize) {
    let k = if toks.get(j).is_some_and(|t| t.is_sym(',')) {
        j + 1
    } else {
        j
    };
    match toks.get(k) {
        Some(t) if t.int_digits == 4 => match year_of(t, today, lean) {
            Some(y) => (Some(y), k + 1),
            None => (None, j),
        },
        // "March 3rd 85": a bare two-digit year, only for past dates (for future ones it is
        // more likely a time or a count).
        Some(t) if t.int_digits == 2 && lean == Lean::Past && !t.decimal => {
            match year_of(t, today, lean) {
                Some(y) => (Some(y), k + 1),
                None => (None, j),
            }
        }
        // "Dec 15 '82".
        Some(t) if t.is_sym('\'') || t.is_sym('\u{2019}') => {
            match toks
                .get(k + 1)
                .filter(|y| y.int_digits == 2)
                .and_then(|y| year_of(y, today, lean))
            {
                Some(y) => (Some(y), k + 2),
                None => (None, j),
            }
        }
        _ => (None, j),
    }
}

fn next_weekday(today: Date, wd: Weekday) -> Option<Date> {
    let ahead = (wd.to_monday_zero_offset() - today.weekday().to_monday_zero_offset() + 7) % 7;
    let ahead = if ahead == 0 { 7 } else { ahead };
    today.checked_add(i64::from(ahead).days()).ok()
}

fn offset(today: Date, n: f64, unit: &str) -> Option<Date> {
    if !(0.0..=1000.0).contains(&n) || n.fract() != 0.0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let n = n as i64;
    let span = match unit {
        "day" | "days" => n.days(),
        "week" | "weeks" | "wks" | "wk" => n.weeks(),
        "month" | "months" | "mos" => n.months(),
        "year" | "years" | "yrs" => n.years(),
        _ => return None,
    };
    today.checked_add(span).ok()
}

/// A time of day at token `i`: "2pm", "2:30", "2:30 pm", "at 2", "noon", "morning".
fn time_at(toks: &[Tok], i: usize) -> Option<(civil::Time, usize, f32)> {
    let t = toks.get(i)?;
    let (i, cued) =
        if t.is_any(&["at", "around", "about", "by", "after", "before"]) || t.is_sym('@') {
            (i + 1, true)
        } else {
            (i, false)
        };
    let t = toks.get(i)?;
    let named =
        |h: i8, c: f32, end: usize| civil::Time::new(h, 0, 0, 0).ok().map(|tm| (tm, end, c));
    if t.kind == Kind::Word {
        return match t.text.as_str() {
            "noon" | "midday" | "lunch" | "lunchtime" => named(12, 0.9, i + 1),
            "midnight" => named(0, 0.9, i + 1),
            // "morning" or "afternoon" is a preference, not a time to book.
            _ => None,
        };
    }
    if t.kind != Kind::Num || t.decimal || t.int_digits > 2 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let mut hour = t.num as i8;
    let mut minute = 0i8;
    let mut j = i + 1;
    let mut explicit = false;
    if toks.get(j).is_some_and(|s| s.is_sym(':') && s.glued)
        && let Some(m) = toks
            .get(j + 1)
            .filter(|m| m.kind == Kind::Num && m.int_digits == 2 && !m.decimal)
    {
        #[allow(clippy::cast_possible_truncation)]
        let mm = m.num as i8;
        minute = mm;
        j += 2;
        explicit = true;
    }
    let meridiem = toks.get(j).and_then(|m| match m.text.as_str() {
        "am" | "a" if m.kind == Kind::Word => Some(false),
        "pm" | "p" if m.kind == Kind::Word => Some(true),
        _ => None,
    });
    if let Some(pm) = meridiem {
        j += 1;
        // "a.m." / "p.m."
        if toks.get(j).is_some_and(|s| s.is_sym('.'))
            && toks.get(j + 1).is_some_and(|s| s.is_word("m"))
        {
            j += 2;
            if toks.get(j).is_some_and(|s| s.is_sym('.')) {
                j += 1;
            }
        }
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = match (pm, hour) {
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, 12) => 0,
            (false, h) => h,
        };
        return civil::Time::new(hour, minute, 0, 0)
            .ok()
            .map(|tm| (tm, j, 0.95));
    }
    if !(cued || explicit) || !(0..=23).contains(&hour) {
        return None;
    }
    if (1..=7).contains(&hour) {
        // Business hours: "at 2" is the afternoon.
        hour += 12;
    }
    civil::Time::new(hour, minute, 0, 0)
        .ok()
        .map(|tm| (tm, j, if explicit { 0.9 } else { 0.8 }))
}

/// A date, with a time when one is given: "next Tuesday at 2", "tomorrow", "12/15", "Dec 15",
/// "in two weeks", "3/14/1985". `lean` decides year-less dates. A time alone ("at 3pm") is read
/// as today with lower confidence in lenient mode only.
pub fn date(text: &str, today: Date, lean: Lean, mode: Mode) -> Option<Parsed<DateValue>> {
    date_tokens(&tokenize(text), today, lean, mode)
}

pub(crate) fn date_tokens(
    toks: &[Tok],
    today: Date,
    lean: Lean,
    mode: Mode,
) -> Option<Parsed<DateValue>> {
    let mut time_only: Option<Parsed<DateValue>> = None;
    for i in 0..toks.len() {
        if let Some((d, j, conf)) = date_at(toks, i, today, lean) {
            // A time may follow ("tomorrow at 2", "Dec 15, 3pm") or come first ("2pm tomorrow").
            let after = if toks.get(j).is_some_and(|t| t.is_sym(',')) {
                j + 1
            } else {
                j
            };
            if let Some((tm, end, _)) = time_at(toks, after) {
                return Some(Parsed::new(
                    DateValue {
                        date: d,
                        time: Some(tm),
                    },
                    span_of(toks, i, end),
                    conf,
                ));
            }
            let start = time_only.as_ref().map(|p| p.span.start);
            if let Some(p) = time_only.take()
                && let Some(tm) = p.value.time
                && start.is_some_and(|s| s < toks.get(i).map_or(0, |t| t.span.start))
                && p.span.end + 16 >= toks.get(i).map_or(0, |t| t.span.start)
            {
                return Some(Parsed::new(
                    DateValue {
                        date: d,
                        time: Some(tm),
                    },
                    p.span.start..span_of(toks, i, j).end,
                    conf,
                ));
            }
            return Some(Parsed::new(
                DateValue {
                    date: d,
                    time: None,
                },
                span_of(toks, i, j),
                conf,
            ));
        }
        if time_only.is_none()
            && let Some((tm, j, c)) = time_at(toks, i)
            && c >= 0.8
        {
            time_only = Some(Parsed::new(
                DateValue {
                    date: today,
                    time: Some(tm),
                },
                span_of(toks, i, j),
                0.5,
            ));
        }
    }
    if mode == Mode::Lenient {
        time_only
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Addresses and free text

const STREET_SUFFIXES: &[&str] = &[
    "st",
    "street",
    "ave",
    "avenue",
    "av",
    "rd",
    "road",
    "dr",
    "drive",
    "ln",
    "lane",
    "blvd",
    "boulevard",
    "way",
    "ct",
    "court",
    "pl",
    "place",
    "cir",
    "circle",
    "pkwy",
    "parkway",
    "hwy",
    "highway",
    "ter",
    "terrace",
    "trl",
    "trail",
    "loop",
    "run",
    "pike",
    "sq",
    "square",
    "cv",
    "cove",
    "path",
    "row",
];

/// A street address: a house number, a few words and a street suffix ("1200 Oak Ridge Dr,
/// Austin TX 78701"). Lenient mode takes the whole reply when it has a number and a word.
pub fn address(text: &str, mode: Mode) -> Option<Parsed<String>> {
    let toks = tokenize(text);
    for i in 0..toks.len() {
        let Some(t) = toks.get(i) else { break };
        if t.kind != Kind::Num || t.decimal || !(1..=6).contains(&t.int_digits) {
            continue;
        }
        let suffix = (i + 2..(i + 7).min(toks.len())).find(|&k| {
            toks.get(k).is_some_and(|s| s.is_any(STREET_SUFFIXES))
                && (i + 1..k).all(|m| {
                    toks.get(m)
                        .is_some_and(|w| w.kind != Kind::Sym || w.is_sym('.'))
                })
        });
        if let Some(k) = suffix {
            // Through the end of the line or sentence: city, state and zip follow the street.
            let end = (k + 1..toks.len())
                .find(|&m| {
                    toks.get(m).is_some_and(|s| {
                        s.is_sym('?')
                            || s.is_sym('!')
                            || s.is_sym('\n')
                            || (s.is_sym('.') && toks.get(m + 1).is_some_and(|n| !n.glued))
                    })
                })
                .unwrap_or(toks.len());
            let span = span_of(&toks, i, end);
            let value = text
                .get(span.clone())
                .unwrap_or_default()
                .trim()
                .trim_end_matches(['.', ','])
                .to_owned();
            return Some(Parsed::new(value, span, 0.9));
        }
    }
    if mode == Mode::Lenient {
        let has_num = toks.iter().any(|t| t.kind == Kind::Num);
        let words = toks.iter().filter(|t| t.kind == Kind::Word).count();
        if has_num && words >= 2 {
            return free_text(text, 300).map(|p| Parsed {
                confidence: 0.6,
                ..p
            });
        }
    }
    None
}

const TEXT_PREFIXES: &[&str] = &[
    "my name is ",
    "my names ",
    "name is ",
    "the address is ",
    "my address is ",
    "address is ",
    "it's ",
    "its ",
    "it is ",
    "this is ",
    "i'm ",
    "im ",
    "i am ",
    "we're at ",
    "i live at ",
    "call me ",
    "sure, ",
    "sure ",
    "yes, ",
    "yeah, ",
    "ok, ",
    "i need ",
    "i want ",
    "looking for ",
    "i'm looking for ",
    "we need ",
];

/// A free-text answer: the reply without its leading filler ("it's", "my name is"), at most
/// `max_len` characters. Questions and empty replies are not answers.
pub fn free_text(text: &str, max_len: usize) -> Option<Parsed<String>> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.ends_with('?') {
        return None;
    }
    let start = text.len() - text.trim_start().len();
    let lower = trimmed.to_lowercase().replace('\u{2019}', "'");
    let mut skip = 0;
    for p in TEXT_PREFIXES {
        if lower.starts_with(p) && trimmed.is_char_boundary(p.len()) && lower.len() == trimmed.len()
        {
            skip = p.len();
            break;
        }
    }
    let body = trimmed.get(skip..).unwrap_or(trimmed);
    let body = body.trim().trim_end_matches(['.', '!', ',']);
    if body.is_empty() || body.chars().count() > max_len {
        return None;
    }
    let offset = start + (trimmed.len() - trimmed.get(skip..).unwrap_or(trimmed).len());
    let lead_ws = trimmed.get(skip..).unwrap_or(trimmed).len()
        - trimmed.get(skip..).unwrap_or(trimmed).trim_start().len();
    let begin = offset + lead_ws;
    Some(Parsed::new(body.to_owned(), begin..begin + body.len(), 0.7))
}

/// A name the lead volunteers: "my name is Sam Lee", "this is Sam". Capitalised words only.
pub fn volunteered_name(text: &str) -> Option<Parsed<String>> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        // Case folding moved byte offsets; such text is not worth the risk of a wrong span.
        return None;
    }
    for cue in ["my name is ", "my name's ", "this is ", "name is "] {
        let Some(at) = lower.find(cue) else { continue };
        let from = at + cue.len();
        let rest = text.get(from..).unwrap_or_default();
        let mut pos = 0;
        let mut end = None;
        for (count, word) in rest.split(' ').enumerate() {
            let clean = word.trim_end_matches([',', '.', '!']);
            let capital = clean.chars().next().is_some_and(char::is_uppercase)
                && clean
                    .chars()
                    .all(|c| c.is_alphabetic() || c == '-' || c == '\'');
            if !capital || count == 3 {
                break;
            }
            end = Some(pos + clean.len());
            if clean.len() != word.len() {
                break;
            }
            pos += word.len() + 1;
        }
        if let Some(end) = end {
            let name = rest.get(..end).unwrap_or_default().to_owned();
            return Some(Parsed::new(name, from..from + end, 0.85));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date as d, time};
    use proptest::prelude::*;

    // 2026-12-07 is a Monday.
    const TODAY: Date = d(2026, 12, 7);

    fn m(text: &str, mode: Mode) -> Option<(f64, Option<Period>)> {
        money(text, mode).map(|p| (p.value.amount, p.value.period))
    }

    #[test]
    fn money_forms() {
        assert_eq!(
            m("$80 a month", Mode::Strict),
            Some((80.0, Some(Period::Month)))
        );
        assert_eq!(m("80 bucks", Mode::Strict), Some((80.0, None)));
        assert_eq!(m("about 1.5k", Mode::Strict), Some((1500.0, None)));
        assert_eq!(
            m("$1,200/mo", Mode::Strict),
            Some((1200.0, Some(Period::Month)))
        );
        assert_eq!(
            m("maybe 100 per month?", Mode::Strict),
            Some((100.0, Some(Period::Month)))
        );
        assert_eq!(
            m("we make like 85k a year", Mode::Strict),
            Some((85000.0, Some(Period::Year)))
        );
        assert_eq!(m("$19.99", Mode::Strict), Some((19.99, None)));
        assert_eq!(
            m("50-80 a month", Mode::Strict),
            Some((65.0, Some(Period::Month)))
        );
        assert_eq!(m("50-60k", Mode::Strict), Some((55000.0, None)));
        assert_eq!(m("a hundred bucks", Mode::Strict), Some((100.0, None)));
        assert_eq!(
            m("five hundred dollars monthly", Mode::Strict),
            Some((500.0, Some(Period::Month)))
        );
        assert_eq!(m("350k", Mode::Strict), Some((350000.0, None)));
        assert_eq!(m("1.2 million", Mode::Lenient), Some((1_200_000.0, None)));
        // Bare numbers are money only when asked.
        assert_eq!(m("80", Mode::Strict), None);
        assert_eq!(m("around 80", Mode::Lenient), Some((80.0, None)));
        // Not money.
        assert_eq!(m("I'm 42 with 2 kids", Mode::Lenient), None);
        assert_eq!(m("12/15 at 3", Mode::Lenient), None);
        assert_eq!(m("no idea", Mode::Lenient), None);
        let p = money("budget is $80 a month ok", Mode::Strict).unwrap();
        assert_eq!(p.span, 10..21);
    }

    fn dt(text: &str, lean: Lean, mode: Mode) -> Option<String> {
        date(text, TODAY, lean, mode).map(|p| p.value.to_string())
    }

    #[test]
    fn dates_relative_to_today() {
        let f = |t| dt(t, Lean::Future, Mode::Strict);
        assert_eq!(f("next Tuesday at 2").as_deref(), Some("2026-12-08T14:00"));
        assert_eq!(f("tomorrow").as_deref(), Some("2026-12-08"));
        assert_eq!(f("12/15").as_deref(), Some("2026-12-15"));
        assert_eq!(f("Dec 15").as_deref(), Some("2026-12-15"));
        assert_eq!(f("December 1st").as_deref(), Some("2027-12-01"));
        assert_eq!(f("in two weeks").as_deref(), Some("2026-12-21"));
        assert_eq!(f("in a month").as_deref(), Some("2027-01-07"));
        assert_eq!(f("friday at 10:30am").as_deref(), Some("2026-12-11T10:30"));
        assert_eq!(f("this monday").as_deref(), Some("2026-12-07"));
        assert_eq!(f("monday").as_deref(), Some("2026-12-14"));
        assert_eq!(f("2pm tomorrow").as_deref(), Some("2026-12-08T14:00"));
        assert_eq!(f("the 20th").as_deref(), Some("2026-12-20"));
        assert_eq!(f("2027-01-05").as_deref(), Some("2027-01-05"));
        assert_eq!(f("a week from today").as_deref(), Some("2026-12-14"));
        assert_eq!(f("sat at 11").as_deref(), Some("2026-12-12T11:00"));
        assert_eq!(f("I sat down"), None);
        assert_eq!(f("I may go"), None);
        assert_eq!(f("2/30"), None);
        assert_eq!(f("at 3pm"), None);
        assert_eq!(
            dt("at 3pm", Lean::Future, Mode::Lenient).as_deref(),
            Some("2026-12-07T15:00")
        );
    }

    #[test]
    fn birth_dates_lean_past() {
        let p = |t| dt(t, Lean::Past, Mode::Strict);
        assert_eq!(p("3/14/1985").as_deref(), Some("1985-03-14"));
        assert_eq!(p("03-14-85").as_deref(), Some("1985-03-14"));
        assert_eq!(p("born march 14th, 1985").as_deref(), Some("1985-03-14"));
        assert_eq!(p("14 March 1985").as_deref(), Some("1985-03-14"));
        assert_eq!(p("Jan 2 '04").as_deref(), Some("2004-01-02"));
        assert_eq!(p("12/25"), None);
        assert_eq!(p("march 3rd 85").as_deref(), Some("1985-03-03"));
    }

    #[test]
    fn yes_and_no() {
        for y in [
            "yes",
            "Yep!",
            "sure",
            "yeah I do",
            "Of course",
            "👍",
            "ok sounds good",
            "I do",
        ] {
            assert_eq!(yes_no(y, Mode::Lenient).map(|p| p.value), Some(true), "{y}");
        }
        for n in [
            "no",
            "nah",
            "Not really",
            "nope, I rent",
            "I don't",
            "no thanks",
            "not yet",
        ] {
            assert_eq!(
                yes_no(n, Mode::Lenient).map(|p| p.value),
                Some(false),
                "{n}"
            );
        }
        for none in ["not sure", "maybe", "what do you mean", "", "no idea"] {
            assert_eq!(yes_no(none, Mode::Lenient).map(|p| p.value), None, "{none}");
        }
        assert_eq!(yes_no("yes but I have a question", Mode::Strict), None);
        assert_eq!(yes_no("Yes!", Mode::Strict).map(|p| p.value), Some(true));
    }

    #[test]
    fn enums_with_synonyms() {
        let values: Vec<String> = ["single", "married", "divorced", "self_employed", "employed"]
            .map(String::from)
            .to_vec();
        let mut syn = std::collections::BTreeMap::new();
        syn.insert(
            "married".to_owned(),
            vec!["hitched".to_owned(), "my wife".to_owned()],
        );
        syn.insert("single".to_owned(), vec!["not married".to_owned()]);
        let e = |t: &str, mode| enum_value(t, &values, &syn, mode).map(|p| p.value);
        assert_eq!(e("MARRIED", Mode::Strict).as_deref(), Some("married"));
        assert_eq!(
            e("I'm hitched lol", Mode::Strict).as_deref(),
            Some("married")
        );
        assert_eq!(e("not married", Mode::Strict).as_deref(), Some("single"));
        assert_eq!(
            e("I'm self-employed", Mode::Strict).as_deref(),
            Some("self_employed")
        );
        assert_eq!(
            e("Self  Employed", Mode::Strict).as_deref(),
            Some("self_employed")
        );
        assert_eq!(
            e("was divorced, now married", Mode::Strict).as_deref(),
            Some("married")
        );
        assert_eq!(e("maried", Mode::Strict), None);
        assert_eq!(e("maried", Mode::Lenient).as_deref(), Some("married"));
        assert_eq!(e("not divorced", Mode::Strict), None);
        assert_eq!(e("singles bar", Mode::Strict).as_deref(), Some("single"));
        assert_eq!(e("employedness", Mode::Strict), None);
    }

    #[test]
    fn ages_and_numbers() {
        let a = |t: &str, mode| age(t, mode).map(|p| p.value);
        assert_eq!(a("I'm 42", Mode::Strict), Some(42));
        assert_eq!(a("42 years old", Mode::Strict), Some(42));
        assert_eq!(a("im forty-two", Mode::Strict), Some(42));
        assert_eq!(a("I am 42, married, two kids", Mode::Strict), Some(42));
        assert_eq!(a("age: 35", Mode::Strict), Some(35));
        assert_eq!(a("35yo", Mode::Strict), Some(35));
        assert_eq!(a("I'm 5 minutes away", Mode::Strict), None);
        assert_eq!(a("42", Mode::Strict), None);
        assert_eq!(a("42", Mode::Lenient), Some(42));
        assert_eq!(a("sixty five", Mode::Lenient), Some(65));
        assert_eq!(a("I'm 200", Mode::Strict), None);
        assert_eq!(a("turning 30 next month", Mode::Strict), Some(29));
        let n = |t: &str| number(t).map(|p| p.value);
        assert_eq!(n("two kids"), Some(2.0));
        assert_eq!(n("one hundred and twenty"), Some(120.0));
        assert_eq!(n("fifteen hundred"), Some(1500.0));
        assert_eq!(n("a couple"), Some(2.0));
        assert_eq!(n("1,200,000"), Some(1_200_000.0));
        assert_eq!(n("none"), None);
    }

    #[test]
    fn emails_phones_addresses() {
        let e = email("sure it's Dana.Lee@Example.com, thanks").unwrap();
        assert_eq!(e.value.as_str(), "dana.lee@example.com");
        assert_eq!(
            email("email me at <x@y.io>.").unwrap().value.as_str(),
            "x@y.io"
        );
        assert!(email("@ me").is_none());
        let p = phone("call me at (512) 555-0123 after 5").unwrap();
        assert_eq!(p.value.as_str(), "+15125550123");
        assert_eq!(
            phone("my cell is 512.555.0199").unwrap().value.as_str(),
            "+15125550199"
        );
        assert!(phone("I have 2 kids and 3 dogs").is_none());
        assert!(phone("12/15/2026").is_none());
        let a = address("It's 1200 Oak Ridge Dr, Austin TX 78701", Mode::Strict).unwrap();
        assert_eq!(a.value, "1200 Oak Ridge Dr, Austin TX 78701");
        assert!(address("I have 2 kids", Mode::Strict).is_none());
        assert_eq!(
            address("77 Sunset Blvd Unit 4", Mode::Lenient)
                .unwrap()
                .value,
            "77 Sunset Blvd Unit 4"
        );
        assert_eq!(
            free_text("My name is Sam Lee.", 100).unwrap().value,
            "Sam Lee"
        );
        assert!(free_text("what?", 100).is_none());
        assert_eq!(
            volunteered_name("hi, this is Maria Gomez. I need a quote")
                .unwrap()
                .value,
            "Maria Gomez"
        );
        assert!(volunteered_name("this is great").is_none());
        let _ = time(0, 0, 0, 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn parsers_never_panic(s in "\\PC{0,60}", ascii in "[ -~]{0,60}") {
            for t in [s.as_str(), ascii.as_str()] {
                for mode in [Mode::Strict, Mode::Lenient] {
                    let _ = money(t, mode);
                    let _ = yes_no(t, mode);
                    let _ = age(t, mode);
                    let _ = address(t, mode);
                    for lean in [Lean::Future, Lean::Past] {
                        if let Some(p) = date(t, TODAY, lean, mode) {
                            prop_assert!(t.get(p.span.clone()).is_some());
                        }
                    }
                }
                let _ = number(t);
                let _ = email(t);
                let _ = phone(t);
                let _ = free_text(t, 50);
                let _ = volunteered_name(t);
                if let Some(p) = money(t, Mode::Lenient) {
                    prop_assert!(t.get(p.span.clone()).is_some());
                }
            }
        }

        #[test]
        fn numbery_text_never_panics(s in "[0-9$,./: kKamp-]{0,30}( (a|per) (month|year))?") {
            let _ = money(&s, Mode::Lenient);
            let _ = date(&s, TODAY, Lean::Future, Mode::Lenient);
            let _ = age(&s, Mode::Lenient);
            let _ = phone(&s);
        }
    }
}
