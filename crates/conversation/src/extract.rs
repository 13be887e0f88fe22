//! Assigning what a lead wrote to schema fields. The field the assistant just asked about is read
//! first and leniently (a bare "42" answers "How old are you?"); every other unknown field only
//! takes unmistakable forms, tied to it by kind (an email is an email) or by the field's hints
//! ("two kids" → `dependents`). A span of text feeds at most one field.

use crate::parse::{self, Kind, Lean, Mode, Parsed, Tok};
use crate::schema::{ExtractionSchema, FieldKind, FieldSpec, When};
use crate::value::{DateValue, FieldValue};
use jiff::ToSpan;
use jiff::civil::Date;
use std::collections::BTreeMap;
use std::ops::Range;

/// One value found in one message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Found {
    pub field: String,
    pub value: FieldValue,
    pub confidence: f32,
    pub bubble: usize,
}

/// Words that open a refusal to answer.
pub(crate) const DECLINES: &[&str] = &[
    "rather not",
    "prefer not",
    "id rather not",
    "skip",
    "pass on that",
    "none of your business",
    "not comfortable",
    "dont want to say",
    "dont want to share",
    "dont want to give",
    "not telling",
    "no comment",
    "thats private",
    "private",
];

pub(crate) fn is_decline(folded: &str) -> bool {
    let padded = format!(" {folded} ");
    DECLINES.iter().any(|d| padded.contains(&format!(" {d} ")))
}

const PLEASANTRIES: &[&str] = &[
    "ok",
    "okay",
    "k",
    "kk",
    "thanks",
    "thank you",
    "thx",
    "ty",
    "cool",
    "great",
    "awesome",
    "hi",
    "hello",
    "hey",
    "sounds good",
    "got it",
    "perfect",
    "nice",
    "yes",
    "no",
    "yep",
    "nope",
    "sure",
    "thank you so much",
    "thanks so much",
    "ok thanks",
    "ok thank you",
    "hi there",
    "hey there",
    "good morning",
    "good afternoon",
    "good evening",
    "lol",
    "haha",
];

pub(crate) fn is_pleasantry(folded: &str) -> bool {
    folded.is_empty() || PLEASANTRIES.contains(&folded)
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// The clause (between `,` `.` `;` `!` `?` or line breaks) around a byte span, as token indices.
fn clause(toks: &[Tok], span: &Range<usize>) -> (usize, usize) {
    let first = toks
        .iter()
        .position(|t| t.span.end > span.start)
        .unwrap_or(toks.len());
    let start = toks
        .get(..first)
        .and_then(|before| before.iter().rposition(Tok::is_break))
        .map_or(0, |p| p + 1);
    let last = toks
        .iter()
        .rposition(|t| t.span.start < span.end)
        .unwrap_or(first);
    let end = toks
        .get(last..)
        .and_then(|after| after.iter().position(Tok::is_break))
        .map_or(toks.len(), |p| last + p);
    (start, end)
}

fn clause_has_hint(toks: &[Tok], span: &Range<usize>, hints: &[String]) -> bool {
    let (start, end) = clause(toks, span);
    hints
        .iter()
        .any(|h| parse::find_phrase(toks, start, end, h).is_some())
}

/// A count tied to one of the hint words: "two kids", "a son and a daughter", "no kids",
/// "bedrooms: 3". Sums the pairs ("two sons and a daughter" is 3) unless the first is a total the
/// rest break down ("2 kids, a boy and a girl" is 2).
fn hinted_count(toks: &[Tok], hints: &[String]) -> Option<Parsed<f64>> {
    let is_hint = |t: &Tok| t.kind == Kind::Word && hints.iter().any(|h| h == &t.text);
    let mut pairs: Vec<(f64, Range<usize>)> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if !is_hint(t) {
            continue;
        }
        let mut found = match t.text.as_str() {
            "twins" => Some((2.0, i)),
            "triplets" => Some((3.0, i)),
            _ => None,
        };
        // A number right before, or with one describing word between ("2 young kids").
        for start in (found.is_none().then_some(i.saturating_sub(5)..i))
            .into_iter()
            .flatten()
        {
            if let Some((v, end)) = parse::number_at(toks, start)
                && (end == i
                    || (end + 1 == i
                        && toks
                            .get(end)
                            .is_some_and(|w| w.kind == Kind::Word && !is_hint(w))))
            {
                found = Some((v, start));
                break;
            }
        }
        if found.is_none()
            && let Some(prev) = i.checked_sub(1).and_then(|p| toks.get(p))
        {
            if prev.is_any(&["a", "an", "one", "only", "single"]) {
                found = Some((1.0, i - 1));
            } else if prev.is_any(&["no", "zero", "none"]) {
                found = Some((0.0, i - 1));
            }
        }
        if found.is_none()
            && toks
                .get(i + 1)
                .is_some_and(|c| c.is_sym(':') || c.is_sym('='))
            && let Some((v, _)) = parse::number_at(toks, i + 2)
        {
            found = Some((v, i));
        }
        if let Some((v, start)) = found {
            let span = toks.get(start).map_or(0, |s| s.span.start)..t.span.end;
            pairs.push((v, span));
        }
    }
    let (first, rest) = pairs.split_first()?;
    let rest_sum: f64 = rest.iter().map(|(v, _)| v).sum();
    let end = pairs.last().map_or(first.1.end, |(_, s)| s.end);
    let restates = rest.len() >= 2 && first.0 > 1.0 && (first.0 - rest_sum).abs() < f64::EPSILON;
    let value = if rest.is_empty() || restates {
        first.0
    } else {
        first.0 + rest_sum
    };
    Some(Parsed {
        value,
        span: first.1.start..end,
        confidence: if rest.is_empty() { 0.9 } else { 0.75 },
    })
}

pub(crate) fn validate(spec: &FieldSpec, value: &FieldValue, today: Date) -> bool {
    let Some(v) = &spec.validation else {
        return match value {
            FieldValue::Number(n) => *n >= 0.0,
            FieldValue::Money(m) => m.amount > 0.0,
            _ => true,
        };
    };
    let in_range = |n: f64| v.min.is_none_or(|m| n >= m) && v.max.is_none_or(|m| n <= m);
    match value {
        FieldValue::Number(n) => in_range(*n),
        FieldValue::Money(m) => in_range(m.amount),
        FieldValue::Age(a) => in_range(f64::from(*a)),
        FieldValue::Date(d) => match v.when {
            Some(When::Past) => d.date < today,
            Some(When::Future) => d.date >= today,
            None => true,
        },
        FieldValue::Text(s) | FieldValue::Address(s) => {
            v.max_len.is_none_or(|m| s.chars().count() <= m)
        }
        _ => true,
    }
}

/// Reads one field from one message.
fn read(
    spec: &FieldSpec,
    text: &str,
    toks: &[Tok],
    mode: Mode,
    today: Date,
    sole_of_kind: bool,
    claimed: &[Range<usize>],
) -> Option<Parsed<FieldValue>> {
    let lean = match spec.when() {
        Some(When::Past) => Lean::Past,
        _ => Lean::Future,
    };
    let strict = mode == Mode::Strict;
    let name_like = spec.name.contains("name");
    let parsed = match &spec.kind {
        FieldKind::Text => {
            if name_like {
                parse::volunteered_name(text)
                    .or_else(|| (!strict).then(|| parse::free_text(text, 120)).flatten())
                    .map(|p| p.map(FieldValue::Text))
            } else if strict {
                None
            } else {
                parse::free_text(text, 500).map(|p| p.map(FieldValue::Text))
            }
        }
        FieldKind::Number => {
            let hinted = hinted_count(toks, &spec.hints);
            let p = if strict {
                hinted
            } else {
                let folded = crate::schema::fold(text);
                let zero = [
                    "none", "no", "zero", "nope", "nobody", "no one", "nada", "0",
                ]
                .iter()
                .any(|z| folded == *z || folded.starts_with(&format!("{z} ")));
                hinted.or_else(|| parse::number(text)).or_else(|| {
                    zero.then_some(Parsed {
                        value: 0.0,
                        span: 0..text.len(),
                        confidence: 0.8,
                    })
                })
            };
            p.map(|p| p.map(FieldValue::Number))
        }
        FieldKind::Money => candidates(toks, claimed, |rest| parse::money_tokens(rest, mode))
            .into_iter()
            .find(|p| !strict || sole_of_kind || clause_has_hint(toks, &p.span, &spec.hints))
            .map(|p| p.map(FieldValue::Money)),
        FieldKind::Date => candidates(toks, claimed, |rest| {
            parse::date_tokens(rest, today, lean, mode)
        })
        .into_iter()
        .find(|p: &Parsed<DateValue>| {
            let long_ago = today
                .checked_sub(10.years())
                .is_ok_and(|limit| p.value.date <= limit);
            !strict
                || clause_has_hint(toks, &p.span, &spec.hints)
                || (lean == Lean::Past && long_ago)
        })
        .map(|p| p.map(FieldValue::Date)),
        FieldKind::Enum { values, synonyms } => {
            parse::enum_tokens(toks, values, synonyms, mode).map(|p| p.map(FieldValue::Enum))
        }
        FieldKind::Boolean => {
            if strict {
                None
            } else {
                parse::yes_no(text, Mode::Lenient).map(|p| p.map(FieldValue::Boolean))
            }
        }
        FieldKind::Email => parse::email(text).map(|p| p.map(FieldValue::Email)),
        FieldKind::Phone => parse::phone(text).map(|p| p.map(FieldValue::Phone)),
        FieldKind::Address => parse::address(text, mode).map(|p| p.map(FieldValue::Address)),
        FieldKind::Age => parse::age_tokens(toks, mode).map(|p| p.map(FieldValue::Age)),
    }?;
    if let (FieldValue::Money(m), Some(min)) =
        (&parsed.value, spec.validation.as_ref().and_then(|v| v.min))
        && !strict
        && min >= 1_000.0
        && m.amount < 1_000.0
    {
        // "zillow says 410" for a home value means thousands.
        let scaled = FieldValue::Money(crate::value::Money {
            amount: m.amount * 1_000.0,
            period: m.period,
        });
        if validate(spec, &scaled, today) {
            return Some(Parsed {
                value: scaled,
                confidence: 0.6,
                ..parsed
            });
        }
    }
    validate(spec, &parsed.value, today).then_some(parsed)
}

/// Every match of a parser in the message, first to last, skipping text already claimed.
fn candidates<T>(
    toks: &[Tok],
    claimed: &[Range<usize>],
    parser: impl Fn(&[Tok]) -> Option<Parsed<T>>,
) -> Vec<Parsed<T>> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(rest) = toks.get(start..).filter(|r| !r.is_empty()) {
        let Some(p) = parser(rest) else { break };
        let next = toks
            .iter()
            .position(|t| t.span.start >= p.span.end)
            .unwrap_or(toks.len());
        if !claimed.iter().any(|c| overlaps(c, &p.span)) {
            out.push(p);
        }
        if next <= start {
            break;
        }
        start = next;
    }
    out
}

/// Kinds whose volunteered forms are least ambiguous go first, so they claim their text before
/// looser readings can.
fn rank(kind: &FieldKind) -> u8 {
    match kind {
        FieldKind::Email => 0,
        FieldKind::Phone => 1,
        FieldKind::Address => 2,
        FieldKind::Date => 3,
        FieldKind::Age => 4,
        FieldKind::Money => 5,
        FieldKind::Number => 6,
        FieldKind::Enum { .. } => 7,
        FieldKind::Boolean => 8,
        FieldKind::Text => 9,
    }
}

/// Everything the lead's latest messages say about unknown fields. `asked` is the field the
/// assistant's last message asked for; `lenient_ok` is false when the message is plainly not an
/// answer (a refusal, a request for a human), so the asked field is read strictly too.
pub(crate) fn extract(
    schema: &ExtractionSchema,
    known: &BTreeMap<String, FieldValue>,
    bubbles: &[&str],
    asked: Option<&FieldSpec>,
    lenient_ok: bool,
    today: Date,
) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    let is_open = |name: &str, found: &[Found]| {
        !known.contains_key(name) && !found.iter().any(|f| f.field == name)
    };
    let mut order: Vec<&FieldSpec> = schema.fields.iter().collect();
    order.sort_by_key(|f| rank(&f.kind));
    for (b, text) in bubbles.iter().enumerate() {
        let toks = parse::tokenize(text);
        let mut claimed: Vec<Range<usize>> = Vec::new();
        if let Some(spec) = asked
            && is_open(&spec.name, &found)
        {
            let question = text.trim_end().ends_with('?');
            let mode = if lenient_ok
                && !(question && matches!(spec.kind, FieldKind::Text | FieldKind::Address))
            {
                Mode::Lenient
            } else {
                Mode::Strict
            };
            let strict_first = read(spec, text, &toks, Mode::Strict, today, true, &[]);
            let hit = strict_first.or_else(|| {
                (mode == Mode::Lenient)
                    .then(|| read(spec, text, &toks, Mode::Lenient, today, true, &[]))
                    .flatten()
            });
            if let Some(p) = hit {
                claimed.push(p.span.clone());
                found.push(Found {
                    field: spec.name.clone(),
                    value: p.value,
                    confidence: p.confidence,
                    bubble: b,
                });
            }
        }
        for spec in &order {
            if !is_open(&spec.name, &found) {
                continue;
            }
            let sole = !schema.fields.iter().any(|o| {
                o.name != spec.name
                    && o.kind.type_name() == spec.kind.type_name()
                    && is_open(&o.name, &found)
            });
            let Some(p) = read(spec, text, &toks, Mode::Strict, today, sole, &claimed) else {
                continue;
            };
            if claimed.iter().any(|c| overlaps(c, &p.span)) {
                continue;
            }
            claimed.push(p.span.clone());
            found.push(Found {
                field: spec.name.clone(),
                value: p.value,
                confidence: p.confidence,
                bubble: b,
            });
        }
    }
    derive_age(schema, known, &mut found, today);
    found
}

/// A date of birth also answers an age field.
fn derive_age(
    schema: &ExtractionSchema,
    known: &BTreeMap<String, FieldValue>,
    found: &mut Vec<Found>,
    today: Date,
) {
    let Some(age_field) = schema
        .fields
        .iter()
        .find(|f| f.kind == FieldKind::Age && !known.contains_key(&f.name))
    else {
        return;
    };
    if found.iter().any(|f| f.field == age_field.name) {
        return;
    }
    let dob = found.iter().find_map(|f| {
        let spec = schema.field(&f.field)?;
        match (&f.value, spec.when()) {
            (FieldValue::Date(d), Some(When::Past))
                if spec.name.contains("birth") || spec.name == "dob" =>
            {
                Some((d.date, f.bubble))
            }
            _ => None,
        }
    });
    if let Some((dob, bubble)) = dob
        && let Ok(span) = dob.until((jiff::Unit::Year, today))
    {
        let years = span.get_years();
        if let Ok(age) = u8::try_from(years)
            && (1..=120).contains(&age)
        {
            found.push(Found {
                field: age_field.name.clone(),
                value: FieldValue::Age(age),
                confidence: 0.95,
                bubble,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Industry;
    use jiff::civil::date;

    fn run(text: &[&str], asked: Option<&str>) -> BTreeMap<String, serde_json::Value> {
        let schema = Industry::Insurance.schema();
        let asked = asked.and_then(|a| schema.field(a));
        extract(
            &schema,
            &BTreeMap::new(),
            text,
            asked,
            true,
            date(2026, 12, 7),
        )
        .into_iter()
        .map(|f| (f.field, f.value.to_json()))
        .collect()
    }

    #[test]
    fn several_fields_in_one_message() {
        let got = run(&["I'm 42, married, two kids"], None);
        assert_eq!(got.get("age"), Some(&serde_json::json!(42)));
        assert_eq!(
            got.get("marital_status"),
            Some(&serde_json::json!("married"))
        );
        assert_eq!(got.get("dependents"), Some(&serde_json::json!(2)));
        let got = run(
            &[
                "Hi, I saw your ad about life insurance",
                "budget maybe $80 a month, I make 90k a year",
            ],
            None,
        );
        assert_eq!(got.get("coverage_type"), Some(&serde_json::json!("life")));
        assert_eq!(got.get("budget_monthly"), Some(&serde_json::json!(80)));
        assert_eq!(got.get("household_income"), Some(&serde_json::json!(90000)));
        let got = run(&["a son and a daughter, both in school"], None);
        assert_eq!(got.get("dependents"), Some(&serde_json::json!(2)));
    }

    #[test]
    fn asked_field_is_read_leniently() {
        assert_eq!(
            run(&["3"], Some("dependents")).get("dependents"),
            Some(&serde_json::json!(3))
        );
        assert_eq!(
            run(&["none"], Some("dependents")).get("dependents"),
            Some(&serde_json::json!(0))
        );
        assert_eq!(
            run(&["100"], Some("budget_monthly")).get("budget_monthly"),
            Some(&serde_json::json!(100))
        );
        assert_eq!(
            run(&["3/14/1985"], Some("date_of_birth")).get("age"),
            Some(&serde_json::json!(41))
        );
        // Not an answer, not guessed.
        assert!(run(&["why do you need that?"], Some("dependents")).is_empty());
        // Volunteered bare numbers are ignored.
        assert!(run(&["3"], None).is_empty());
    }
}
