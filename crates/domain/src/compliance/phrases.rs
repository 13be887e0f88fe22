//! The plain-language lexicon (`data/intake-lexicon.txt`): word sets, token rewrites, and phrase
//! patterns with a tiny matcher. The phrase set is data so compliance staff can review and extend
//! it without reading the classifier; the file's header documents the pattern syntax.

use super::normalize::BREAK;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// The embedded lexicon file.
pub const LEXICON_DATA: &str = include_str!("../../data/intake-lexicon.txt");

/// Up to this many arbitrary tokens for `*`, and set words for `+set`.
const GAP: usize = 3;
const SET_RUN: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    Word { alts: Vec<String>, optional: bool },
    Gap,
    Set(String),
}

/// One compiled pattern line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub(crate) text: String,
    starts_clause: bool,
    ends_clause: bool,
    slots: Vec<Slot>,
}

/// A line the loader could not use.
#[derive(Debug, PartialEq, Eq)]
pub struct LexiconError {
    pub line: usize,
    pub why: String,
}

/// The parsed lexicon.
#[derive(Debug, Default)]
pub(crate) struct Lexicon {
    canonical: Vec<(Vec<String>, Vec<String>)>,
    sets: HashMap<String, HashSet<String>>,
    pub(crate) strong: Vec<Pattern>,
    pub(crate) phrases: Vec<Pattern>,
    pub(crate) exclusions: Vec<Pattern>,
}

const PATTERN_SECTIONS: [&str; 3] = ["strong", "phrases", "exclusions"];
const SET_SECTIONS: [&str; 8] = [
    "weak",
    "negators",
    "preface",
    "tail",
    "contact",
    "contact-verbs",
    "skip",
    "polite",
];

fn compile(line: &str) -> Result<Pattern, String> {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    let starts_clause = words.first() == Some(&"^");
    if starts_clause {
        words.remove(0);
    }
    let ends_clause = words.last() == Some(&"$");
    if ends_clause {
        words.pop();
    }
    let mut slots = Vec::new();
    for w in words {
        if w == "*" {
            slots.push(Slot::Gap);
        } else if let Some(set) = w.strip_prefix('+') {
            slots.push(Slot::Set(set.to_owned()));
        } else if w == "^" || w == "$" {
            return Err(format!("'{w}' only at the start / end of a pattern"));
        } else {
            let alts: Vec<String> = w
                .split('|')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
            if alts.is_empty() {
                return Err(format!("empty slot '{w}'"));
            }
            slots.push(Slot::Word {
                optional: w.split('|').any(str::is_empty),
                alts,
            });
        }
    }
    if !slots.iter().any(|s| {
        matches!(
            s,
            Slot::Word {
                optional: false,
                ..
            }
        )
    }) {
        return Err("a pattern needs at least one required word".to_owned());
    }
    Ok(Pattern {
        text: line.to_owned(),
        starts_clause,
        ends_clause,
        slots,
    })
}

/// Parses the lexicon; bad lines are skipped and reported.
pub(crate) fn parse_lexicon(data: &str) -> (Lexicon, Vec<LexiconError>) {
    let mut lex = Lexicon::default();
    let mut errors = Vec::new();
    let mut section = String::new();
    for (i, raw) in data.lines().enumerate() {
        let line = raw.trim();
        let err = |why: String| LexiconError { line: i + 1, why };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            if !PATTERN_SECTIONS.contains(&name)
                && !SET_SECTIONS.contains(&name)
                && name != "canonical"
            {
                errors.push(err(format!("unknown section [{name}]")));
            }
            continue;
        }
        match section.as_str() {
            "canonical" => match line.split_once("=>") {
                Some((from, to)) => {
                    let from: Vec<String> = from.split_whitespace().map(str::to_owned).collect();
                    let to: Vec<String> = to.split_whitespace().map(str::to_owned).collect();
                    if from.is_empty() || to.is_empty() {
                        errors.push(err("a rewrite needs words on both sides".to_owned()));
                    } else {
                        lex.canonical.push((from, to));
                    }
                }
                None => errors.push(err("expected 'from => to'".to_owned())),
            },
            s if SET_SECTIONS.contains(&s) => {
                lex.sets
                    .entry(section.clone())
                    .or_default()
                    .extend(line.split_whitespace().map(str::to_owned));
            }
            s if PATTERN_SECTIONS.contains(&s) => match compile(line) {
                Ok(p) => match s {
                    "strong" => lex.strong.push(p),
                    "phrases" => lex.phrases.push(p),
                    _ => lex.exclusions.push(p),
                },
                Err(why) => errors.push(err(why)),
            },
            _ => errors.push(err("line outside a known section".to_owned())),
        }
    }
    // A `+set` must name a set that exists.
    for p in lex.strong.iter().chain(&lex.phrases).chain(&lex.exclusions) {
        for s in &p.slots {
            if let Slot::Set(name) = s
                && !lex.sets.contains_key(name)
            {
                errors.push(LexiconError {
                    line: 0,
                    why: format!("'{}' uses unknown set +{name}", p.text),
                });
            }
        }
    }
    (lex, errors)
}

pub(crate) static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| parse_lexicon(LEXICON_DATA).0);

/// Collapses letters repeated three or more times ("stoooop" → "stop", "pleaseee" → "please").
fn squeeze(token: &str) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    let has_run = chars.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]);
    if !has_run {
        return None;
    }
    let mut out = String::new();
    let mut prev = None;
    for c in chars {
        if prev != Some(c) {
            out.push(c);
        }
        prev = Some(c);
    }
    Some(out)
}

impl Lexicon {
    pub(crate) fn in_set(&self, set: &str, token: &str) -> bool {
        self.sets.get(set).is_some_and(|s| s.contains(token))
    }

    /// Applies the `[canonical]` rewrites and squeezes elongated words.
    pub(crate) fn canonicalize(&self, tokens: Vec<String>) -> Vec<String> {
        let tokens: Vec<String> = tokens
            .into_iter()
            .map(|t| match squeeze(&t) {
                Some(s) => s,
                None => t,
            })
            .collect();
        let mut out = Vec::with_capacity(tokens.len());
        let mut i = 0;
        'outer: while i < tokens.len() {
            for (from, to) in &self.canonical {
                if tokens
                    .get(i..i + from.len())
                    .is_some_and(|w| w == from.as_slice())
                {
                    out.extend(to.iter().cloned());
                    i += from.len();
                    continue 'outer;
                }
            }
            if let Some(t) = tokens.get(i) {
                out.push(t.clone());
            }
            i += 1;
        }
        out
    }
}

/// Where a pattern matched: `tokens[start..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

struct Matcher<'a> {
    lex: &'a Lexicon,
    toks: &'a [String],
    masked: &'a [bool],
    respect_mask: bool,
}

impl Matcher<'_> {
    fn is_word(&self, i: usize) -> bool {
        self.toks.get(i).is_some_and(|t| t != BREAK)
            && !(self.respect_mask && self.masked.get(i) == Some(&true))
    }

    fn at_clause_end(&self, i: usize) -> bool {
        i >= self.toks.len() || self.toks.get(i).is_some_and(|t| t == BREAK)
    }

    /// Tries to match `slots` from `pos`; returns the end of the match.
    fn slots(&self, p: &Pattern, slots: &[Slot], pos: usize) -> Option<usize> {
        let Some((first, rest)) = slots.split_first() else {
            return (!p.ends_clause || self.at_clause_end(pos)).then_some(pos);
        };
        match first {
            Slot::Word { alts, optional } => {
                if self.is_word(pos)
                    && self
                        .toks
                        .get(pos)
                        .is_some_and(|t| alts.iter().any(|a| a == t))
                    && let Some(end) = self.slots(p, rest, pos + 1)
                {
                    return Some(end);
                }
                if *optional {
                    self.slots(p, rest, pos)
                } else {
                    None
                }
            }
            Slot::Gap => (0..=GAP)
                .filter(|k| pos + k <= self.toks.len())
                .find_map(|k| self.slots(p, rest, pos + k)),
            Slot::Set(name) => {
                let mut k = 0;
                loop {
                    if let Some(end) = self.slots(p, rest, pos + k) {
                        return Some(end);
                    }
                    let next = pos + k;
                    if k >= SET_RUN
                        || !self.is_word(next)
                        || !self
                            .toks
                            .get(next)
                            .is_some_and(|t| self.lex.in_set(name, t))
                    {
                        return None;
                    }
                    k += 1;
                }
            }
        }
    }

    fn find(&self, p: &Pattern, from: usize) -> Option<Span> {
        (from..self.toks.len()).find_map(|start| {
            if p.starts_clause && start > 0 && self.toks.get(start - 1).is_some_and(|t| t != BREAK)
            {
                return None;
            }
            if self.toks.get(start).is_some_and(|t| t == BREAK) {
                return None;
            }
            let end = self.slots(p, &p.slots, start)?;
            (end > start).then_some(Span { start, end })
        })
    }
}

impl Pattern {
    /// The first match in `toks` that uses no masked token.
    pub(crate) fn find(&self, lex: &Lexicon, toks: &[String], masked: &[bool]) -> Option<Span> {
        Matcher {
            lex,
            toks,
            masked,
            respect_mask: true,
        }
        .find(self, 0)
    }

    /// Every match, ignoring the mask (for exclusions, which build the mask).
    pub(crate) fn find_all_unmasked(&self, lex: &Lexicon, toks: &[String]) -> Vec<Span> {
        let m = Matcher {
            lex,
            toks,
            masked: &[],
            respect_mask: false,
        };
        let mut spans = Vec::new();
        let mut from = 0;
        while let Some(s) = m.find(self, from) {
            spans.push(s);
            from = s.end;
        }
        spans
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::compliance::normalize::tokens;

    fn toks(s: &str) -> Vec<String> {
        LEXICON.canonicalize(tokens(s))
    }

    fn matches(pattern: &str, text: &str) -> bool {
        let p = compile(pattern).unwrap();
        let t = toks(text);
        p.find(&LEXICON, &t, &vec![false; t.len()]).is_some()
    }

    #[test]
    fn lexicon_file_is_clean() {
        let (lex, errors) = parse_lexicon(LEXICON_DATA);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(lex.phrases.len() > 50);
        assert!(!lex.strong.is_empty() && !lex.exclusions.is_empty());
        for set in SET_SECTIONS {
            assert!(lex.sets.contains_key(set), "missing [{set}]");
        }
    }

    #[test]
    fn loader_reports_bad_lines() {
        let (_, errors) = parse_lexicon(
            "[phrases]\n^ $\n+nosuch\nok +nosuch\n[weird]\nx\n[canonical]\nno arrow\n",
        );
        assert_eq!(errors.len(), 6, "{errors:?}");
    }

    #[test]
    fn canonical_rewrites() {
        assert_eq!(toks("Do not text me pls"), ["dont", "text", "me", "please"]);
        assert_eq!(toks("STOOOOP"), ["stop"]);
        assert_eq!(toks("opt-out"), ["optout"]);
        assert_eq!(toks("No más"), ["nomas"]);
        assert_eq!(toks("too good"), ["too", "good"]);
    }

    #[test]
    fn pattern_semantics() {
        assert!(matches("leave me|us alone", "please leave me alone"));
        assert!(matches("dont|never ever| text me", "never ever text me"));
        assert!(matches("dont|never ever| text me", "never text me"));
        assert!(!matches(
            "dont|never ever| text me",
            "don't ever just text me"
        ));
        assert!(matches(
            "take me off * list",
            "take me off your mailing list"
        ));
        assert!(!matches(
            "take me off * list",
            "take me off the big long mailing list"
        ));
        assert!(matches(
            "^ +polite not interested +polite $",
            "Not interested, thanks"
        ));
        assert!(matches(
            "^ +polite not interested +polite $",
            "ok not interested thanks"
        ));
        assert!(!matches(
            "^ +polite not interested +polite $",
            "not interested in the blue one"
        ));
        assert!(!matches(
            "^ +polite not interested +polite $",
            "I am still not interested"
        ));
        assert!(matches(
            "^ +polite not interested +polite $",
            "hi. not interested"
        ));
        assert!(!matches("take me|us off $", "take me off the schedule"));
        assert!(matches("take me|us off $", "take me off!"));
    }

    #[test]
    fn exclusions_find_all() {
        let p = compile("stop by").unwrap();
        let t = toks("stop by. then stop by again");
        assert_eq!(p.find_all_unmasked(&LEXICON, &t).len(), 2);
        let anchored = compile("^ stop by").unwrap();
        assert_eq!(
            anchored
                .find_all_unmasked(&LEXICON, &toks("x stop by, stop by"))
                .len(),
            1
        );
    }
}
