//! The subscriber's knowledge base and a small BM25 ranking over it. Q&A entries are indexed by
//! their question (weighted double) and answer; documents are cut into sentence-aligned chunks
//! short enough to text back. Retrieval is deterministic: ties break on insertion order.
//!
//! "Answerable" is decided by [`KnowledgeBase::answer`]: the best hit must cover most of the
//! query's informative terms (IDF-weighted), not merely share one word with it, so "do you cover
//! pre-existing conditions?" is not answered by an entry about term life coverage.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// BM25 term-frequency saturation and length normalisation, the usual values.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Share of the query's IDF weight the best hit must match to be answered.
pub const DEFAULT_THRESHOLD: f64 = 0.6;
/// Longest chunk cut from a document, in characters; it has to fit in a text.
const CHUNK_CHARS: usize = 240;

const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "actually",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "for",
    "from",
    "get",
    "got",
    "had",
    "has",
    "have",
    "hello",
    "hey",
    "hi",
    "how",
    "i",
    "if",
    "im",
    "in",
    "is",
    "it",
    "its",
    "just",
    "know",
    "like",
    "me",
    "my",
    "of",
    "on",
    "or",
    "our",
    "please",
    "so",
    "tell",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "to",
    "too",
    "u",
    "um",
    "us",
    "was",
    "we",
    "were",
    "what",
    "whats",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "ya",
    "yall",
    "you",
    "your",
    "youre",
    "thanks",
    "thank",
    "ok",
    "okay",
    "also",
    "want",
    "wondering",
    "question",
    "quick",
    "much",
    "guys",
    "folks",
    "really",
    "still",
    "currently",
    "some",
    "need",
    "looking",
    "able",
    "possible",
    "kind",
    "sort",
    "type",
    "thing",
    "stuff",
    "lol",
    "haha",
    "maybe",
    "ever",
    "one",
    "anything",
    "something",
    "going",
    "gonna",
    "go",
    "see",
    "find",
    "give",
    "let",
    "lets",
    "think",
    "guess",
    "curious",
    "wanted",
    "wanna",
];

/// Stems that mean the same thing to a lead, folded to one. A root of five or more letters
/// also matches longer stems ("insur" covers "insuranc").
const SYNONYMS: &[(&[&str], &str)] = &[
    (
        &[
            "cost", "pric", "fee", "charg", "rat", "expens", "cheap", "afford", "quot", "pay",
        ],
        "price",
    ),
    (&["hour", "open", "clos", "tim"], "hour"),
    (&["locat", "address", "where", "offic", "office"], "locat"),
    (&["insur", "coverag", "cover", "polic", "plan"], "cover"),
    (
        &["appoint", "book", "schedul", "meet", "consult"],
        "appoint",
    ),
    (&["financ", "loan", "lend"], "financ"),
    (&["warranti", "warrant", "guarante"], "warranti"),
];

fn synonym(stem: &str) -> &str {
    for (roots, canonical) in SYNONYMS {
        if roots
            .iter()
            .any(|r| stem == *r || (r.len() >= 5 && stem.starts_with(r)))
        {
            return canonical;
        }
    }
    stem
}

/// A light suffix-stripping stemmer: enough that "covers", "covered" and "covering" meet.
fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    for suffix in ["ing", "edly", "ed", "ies", "es", "s", "ly", "e", "y"] {
        if w.len() > suffix.len() + 2 && w.ends_with(suffix) {
            w.truncate(w.len() - suffix.len());
            if suffix == "ies" {
                w.push('i');
            }
            break;
        }
    }
    w
}

/// Lower-cased, stop words dropped, stemmed and synonym-folded terms.
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '\u{2019}')
        .map(|w| w.replace(['\'', '\u{2019}'], "").to_lowercase())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(&w.as_str()))
        .map(|w| synonym(&stem(&w)).to_owned())
        .collect()
}

/// Where a chunk came from, for the turn's record of which knowledge it used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Qa { question: String },
    Document { title: String, chunk: usize },
}

/// One indexed unit: a Q&A entry or a document chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// Position in the knowledge base; stable for a given build order.
    pub id: usize,
    pub source: Source,
    /// What the assistant may send: the answer, or the chunk's text.
    pub answer: String,
    term_counts: BTreeMap<String, u32>,
    len: u32,
}

/// A scored retrieval hit.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit<'a> {
    pub chunk: &'a Chunk,
    pub score: f64,
    /// Share of the query's IDF weight this chunk matches, 0 to 1.
    pub coverage: f64,
}

/// A Q&A entry as the dashboard and the scripts write it: `{q: ..., a: ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaEntry {
    #[serde(alias = "question")]
    pub q: String,
    #[serde(alias = "answer")]
    pub a: String,
}

/// A document as scripts write it: `{title: ..., text: ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[serde(default)]
    pub title: String,
    pub text: String,
}

/// One knowledge item in a script: a Q&A entry or a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KnowledgeItem {
    Qa(QaEntry),
    Document(Document),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnowledgeBase {
    chunks: Vec<Chunk>,
    doc_freq: BTreeMap<String, u32>,
    total_len: u64,
}

impl KnowledgeBase {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_items(items: &[KnowledgeItem]) -> Self {
        let mut kb = Self::new();
        for item in items {
            match item {
                KnowledgeItem::Qa(qa) => kb.add_qa(&qa.q, &qa.a),
                KnowledgeItem::Document(d) => kb.add_document(&d.title, &d.text),
            }
        }
        kb
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    fn push(&mut self, source: Source, answer: String, indexed: Vec<String>) {
        if indexed.is_empty() || answer.trim().is_empty() {
            return;
        }
        let mut term_counts = BTreeMap::new();
        for t in &indexed {
            *term_counts.entry(t.clone()).or_insert(0u32) += 1;
        }
        for t in term_counts.keys() {
            *self.doc_freq.entry(t.clone()).or_insert(0) += 1;
        }
        let len = u32::try_from(indexed.len()).unwrap_or(u32::MAX);
        self.total_len += u64::from(len);
        self.chunks.push(Chunk {
            id: self.chunks.len(),
            source,
            answer,
            term_counts,
            len,
        });
    }

    /// Adds a question and its answer. The question's words count twice: a lead's question
    /// resembles the question more than the answer.
    pub fn add_qa(&mut self, question: &str, answer: &str) {
        let q = terms(question);
        let mut indexed = q.clone();
        indexed.extend(q);
        indexed.extend(terms(answer));
        self.push(
            Source::Qa {
                question: question.trim().to_owned(),
            },
            answer.trim().to_owned(),
            indexed,
        );
    }

    /// Adds a document, cut into sentence-aligned chunks of at most 240 characters. The title is
    /// indexed with every chunk.
    pub fn add_document(&mut self, title: &str, text: &str) {
        let title_terms = terms(title);
        for (n, chunk) in chunk_text(text).into_iter().enumerate() {
            let mut indexed = title_terms.clone();
            indexed.extend(terms(&chunk));
            self.push(
                Source::Document {
                    title: title.trim().to_owned(),
                    chunk: n,
                },
                chunk,
                indexed,
            );
        }
    }

    fn idf(&self, term: &str) -> f64 {
        let n = self.chunks.len() as f64;
        let df = f64::from(self.doc_freq.get(term).copied().unwrap_or(0));
        ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
    }

    /// Every chunk sharing a term with the query, best first (score, then insertion order).
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit<'_>> {
        let q: BTreeSet<String> = terms(query).into_iter().collect();
        if q.is_empty() || self.chunks.is_empty() {
            return Vec::new();
        }
        let avg_len = self.total_len as f64 / self.chunks.len() as f64;
        let weights: Vec<(&String, f64)> = q.iter().map(|t| (t, self.idf(t))).collect();
        let total_weight: f64 = weights.iter().map(|(_, w)| w).sum();
        let mut hits: Vec<Hit<'_>> = self
            .chunks
            .iter()
            .filter_map(|c| {
                let mut score = 0.0;
                let mut matched = 0.0;
                for (t, idf) in &weights {
                    let Some(&tf) = c.term_counts.get(*t) else {
                        continue;
                    };
                    let tf = f64::from(tf);
                    let norm = K1 * (1.0 - B + B * f64::from(c.len) / avg_len.max(1.0));
                    score += idf * tf * (K1 + 1.0) / (tf + norm);
                    matched += idf;
                }
                (score > 0.0).then(|| Hit {
                    chunk: c,
                    score,
                    coverage: if total_weight > 0.0 {
                        matched / total_weight
                    } else {
                        0.0
                    },
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.chunk.id.cmp(&b.chunk.id))
        });
        hits.truncate(limit);
        hits
    }

    /// The best hit when it is confident enough to send: it covers at least `threshold` of the
    /// query's informative terms.
    pub fn answer_with(&self, query: &str, threshold: f64) -> Option<Hit<'_>> {
        self.search(query, 5)
            .into_iter()
            .filter(|h| h.coverage >= threshold)
            .max_by(|a, b| {
                a.coverage
                    .total_cmp(&b.coverage)
                    .then(a.score.total_cmp(&b.score))
                    .then(b.chunk.id.cmp(&a.chunk.id))
            })
    }

    pub fn answer(&self, query: &str) -> Option<Hit<'_>> {
        self.answer_with(query, DEFAULT_THRESHOLD)
    }
}

/// Splits text into chunks of whole sentences, each at most [`CHUNK_CHARS`] characters (a
/// single longer sentence is cut at a word boundary).
fn chunk_text(text: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    for para in text.split("\n\n") {
        let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut current = String::new();
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
            if word.ends_with(['.', '!', '?']) {
                sentences.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            sentences.push(current);
        }
        sentences.push(String::new()); // paragraph break
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for s in sentences {
        if s.is_empty() {
            if !current.is_empty() {
                chunks.push(std::mem::take(&mut current));
            }
            continue;
        }
        let s = if s.chars().count() > CHUNK_CHARS {
            cut_words(&s, CHUNK_CHARS)
        } else {
            s
        };
        if !current.is_empty() && current.chars().count() + 1 + s.chars().count() > CHUNK_CHARS {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&s);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The longest prefix of whole words within `max` characters, with "..." when cut.
pub(crate) fn cut_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    for word in text.split(' ') {
        if out.chars().count() + word.chars().count() + 4 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = text.chars().take(max.saturating_sub(3)).collect();
    }
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> KnowledgeBase {
        let mut kb = KnowledgeBase::new();
        kb.add_qa(
            "Do you offer whole life?",
            "Yes, we offer term and whole life policies.",
        );
        kb.add_qa(
            "What are your office hours?",
            "We're open Monday to Friday, 9am to 5pm.",
        );
        kb.add_qa(
            "How much does a policy cost?",
            "Term life starts around $25 a month for healthy non-smokers.",
        );
        kb.add_document(
            "About us",
            "Acme Insurance has served Texas families since 1998. We are licensed in TX and OK.\n\nWe work with over 20 carriers to find the best rate.",
        );
        kb
    }

    #[test]
    fn answers_confidently_and_only_then() {
        let kb = kb();
        let hit = kb.answer("do you guys do whole life insurance?").unwrap();
        assert!(hit.chunk.answer.contains("whole life"));
        let hit = kb.answer("what time are you open?").unwrap();
        assert!(hit.chunk.answer.contains("9am"), "{hit:?}");
        let hit = kb.answer("how much is it going to cost me").unwrap();
        assert!(hit.chunk.answer.contains("$25"));
        let hit = kb.answer("Are you licensed in Texas?").unwrap();
        assert!(matches!(hit.chunk.source, Source::Document { .. }));
        assert!(kb.answer("do you cover pre-existing conditions?").is_none());
        assert!(kb.answer("can I bring my dog").is_none());
        assert!(kb.answer("").is_none());
        assert!(KnowledgeBase::new().answer("whole life?").is_none());
    }

    #[test]
    fn deterministic_order_and_chunking() {
        let mut kb = KnowledgeBase::new();
        kb.add_qa("Do you do roofs?", "Yes.");
        kb.add_qa("Do you do roofs?", "Yes, we do.");
        let hits = kb.search("roofs", 5);
        assert_eq!(hits.len(), 2);
        assert!(hits[0].chunk.id < hits[1].chunk.id);
        let long = "This sentence is about solar panels and batteries. ".repeat(20);
        let chunks = chunk_text(&long);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.chars().count() <= CHUNK_CHARS));
        assert_eq!(stem("covering"), "cover");
        assert_eq!(terms("Policies cost?"), vec!["cover", "price"]);
    }
}
