//! Normalisation of inbound texts before keyword matching (reference §1.4, `N(body)`), and the
//! token stream the plain-language phrase matcher reads.
//!
//! `N(body)`: Unicode NFKC (fullwidth `ＳＴＯＰ` → `STOP`), look-alike quotes and dashes to ASCII,
//! invisible format characters dropped, lower case, every run of whitespace collapsed to one
//! space, and leading/trailing punctuation, symbols and emoji stripped. Inner hyphens survive
//! (`opt-out`).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A token of the phrase matcher's stream: a word, or a clause break (sentence punctuation,
/// line break, emoji).
pub(crate) const BREAK: &str = ".";

/// Characters that carry no text: zero-width spaces and joiners, direction marks, BOM, soft
/// hyphen, variation selectors. People paste them; keywords must still match.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{E0020}'..='\u{E007F}')
}

/// Quote, apostrophe and dash look-alikes NFKC keeps, and small capitals.
fn fold_lookalike(c: char) -> char {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02B9}'
        | '\u{02BB}' | '\u{02BC}' | '\u{02BD}' | '\u{02C8}' | '\u{00B4}' | '\u{02CA}'
        | '\u{02CB}' | '`' | '\u{275B}' | '\u{275C}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' | '\u{02BA}' | '\u{02EE}' | '\u{275D}' | '\u{275E}' | '\u{301D}'
        | '\u{301E}' => '"',
        '\u{2010}'..='\u{2015}' | '\u{2043}' | '\u{2212}' | '\u{FE63}' => '-',
        '\u{1D00}' => 'a',
        '\u{0299}' => 'b',
        '\u{1D04}' => 'c',
        '\u{1D05}' => 'd',
        '\u{1D07}' => 'e',
        '\u{A730}' => 'f',
        '\u{0262}' => 'g',
        '\u{029C}' => 'h',
        '\u{026A}' => 'i',
        '\u{1D0A}' => 'j',
        '\u{1D0B}' => 'k',
        '\u{029F}' => 'l',
        '\u{1D0D}' => 'm',
        '\u{0274}' => 'n',
        '\u{1D0F}' => 'o',
        '\u{1D18}' => 'p',
        '\u{0280}' => 'r',
        '\u{A731}' => 's',
        '\u{1D1B}' => 't',
        '\u{1D1C}' => 'u',
        '\u{1D20}' => 'v',
        '\u{1D21}' => 'w',
        '\u{028F}' => 'y',
        '\u{1D22}' => 'z',
        _ => c,
    }
}

/// NFKC, look-alikes folded, invisibles dropped, lower-cased.
fn folded_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    text.nfkc()
        .map(fold_lookalike)
        .filter(|c| !is_invisible(*c))
        .flat_map(char::to_lowercase)
}

/// `N(body)` of reference §1.4: the form exact keywords are compared against.
pub fn normalize_inbound(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in folded_chars(text) {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out.trim_matches(|c: char| !c.is_alphanumeric()).to_owned()
}

/// Characters that end a clause: sentence punctuation, brackets, quotes and line breaks.
fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        '.' | '!'
            | '?'
            | ';'
            | ':'
            | ','
            | '\n'
            | '\r'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '"'
            | '…'
            | '¿'
            | '¡'
            | '/'
            | '|'
    )
}

/// The token stream for phrase matching: accents removed (`más` → `mas`), apostrophes inside
/// words dropped (`don't` → `dont`), hyphens and spaces separate words, and clause punctuation,
/// line breaks and emoji become [`BREAK`]. Consecutive breaks collapse; the stream never starts
/// or ends with one.
pub(crate) fn tokens(text: &str) -> Vec<String> {
    let mut toks: Vec<String> = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, toks: &mut Vec<String>| {
        if !word.is_empty() {
            toks.push(std::mem::take(word));
        }
    };
    let push_break = |toks: &mut Vec<String>| {
        if toks.last().is_some_and(|t| t != BREAK) {
            toks.push(BREAK.to_owned());
        }
    };
    let stripped: String = folded_chars(text)
        .collect::<String>()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    for c in stripped.chars() {
        if c.is_alphanumeric() || c == '#' {
            word.push(c);
        } else if c == '\'' {
            // Apostrophes join contractions; a quote at a word edge is just dropped.
        } else if is_clause_break(c) || (!c.is_ascii() && !c.is_whitespace()) {
            // Non-ASCII symbols are emoji and the like: they end a thought in texting.
            flush(&mut word, &mut toks);
            push_break(&mut toks);
        } else {
            flush(&mut word, &mut toks);
        }
    }
    flush(&mut word, &mut toks);
    if toks.last().is_some_and(|t| t == BREAK) {
        toks.pop();
    }
    toks
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalization_steps() {
        assert_eq!(normalize_inbound("  stop.  "), "stop");
        assert_eq!(normalize_inbound("Stop!!!"), "stop");
        assert_eq!(normalize_inbound("ＳＴＯＰ"), "stop");
        assert_eq!(normalize_inbound("OPT-OUT"), "opt-out");
        assert_eq!(normalize_inbound("Opt\u{00A0}\u{2003} Out"), "opt out");
        assert_eq!(normalize_inbound("\"STOP\" 🛑"), "stop");
        assert_eq!(normalize_inbound("s\u{200B}top"), "stop");
        assert_eq!(normalize_inbound("don\u{2019}t text me"), "don't text me");
        assert_eq!(normalize_inbound("ꜱᴛᴏᴘ"), "stop");
        assert_eq!(normalize_inbound("𝐒𝐓𝐎𝐏"), "stop");
        assert_eq!(normalize_inbound("No más"), "no más");
        assert_eq!(normalize_inbound("🙂"), "");
    }

    #[test]
    fn token_stream() {
        assert_eq!(
            tokens("Don’t text me. No más!"),
            ["dont", "text", "me", ".", "no", "mas"]
        );
        assert_eq!(tokens("stop 😡 you people"), ["stop", ".", "you", "people"]);
        assert_eq!(tokens("opt-out"), ["opt", "out"]);
        assert_eq!(tokens("wrong #"), ["wrong", "#"]);
        assert_eq!(tokens("...hi,, there!!"), ["hi", ".", "there"]);
        assert!(tokens("").is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let n = normalize_inbound(&s);
            prop_assert_eq!(n.trim(), n.as_str());
            let t = tokens(&s);
            prop_assert!(t.first().is_none_or(|t| t != BREAK));
            prop_assert!(t.last().is_none_or(|t| t != BREAK));
        }

        #[test]
        fn any_chars(v in proptest::collection::vec(any::<char>(), 0..100)) {
            let s: String = v.into_iter().collect();
            let _ = normalize_inbound(&s);
            let _ = tokens(&s);
        }
    }
}
