//! SMS encoding and segment counting (reference §4), and a normaliser that swaps look-alike
//! characters for GSM-7 ones so a message is not billed as UCS-2 for a curly quote.
//!
//! Counting follows Twilio's calculator: one character outside GSM-7 (basic table plus the
//! extension table) makes the whole message UCS-2; a single part carries 160 septets or 70
//! UTF-16 units, a part of a multipart message 153 or 67; characters are atomic, so an extension
//! character's escape pair and a surrogate pair never straddle two parts (the greedy packing can
//! therefore need one part more than `ceil(units / 153)`).
//!
//! The normaliser follows §4.4 (Twilio's Smart Encoding map, MIT) with two deliberate
//! differences: `‹` and `›` become `<` and `>` (the map reverses them) and typographic spaces
//! become one space, not two. It also composes decomposed accents first (NFC), so `e` + U+0301
//! becomes the GSM `é` instead of forcing UCS-2.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

/// How the message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Encoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    /// Units one single-part message carries.
    pub fn single_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units each part of a multipart message carries (the rest is the concatenation header).
    pub fn part_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }
}

/// The cost of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentInfo {
    pub encoding: Encoding,
    /// Number of SMS parts; 0 for the empty text.
    pub segments: usize,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
}

/// GSM 03.38 basic table, in septet order (ESC at 0x1B omitted).
pub const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Characters reached through the extension table (ESC + code): two septets each.
pub const GSM_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets `c` costs in GSM-7, or `None` when it forces UCS-2.
pub fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Whether every character of `text` exists in GSM-7.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm_septets(c).is_some())
}

fn encoding_of(text: &str) -> Encoding {
    if is_gsm7(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

fn cost(encoding: Encoding, c: char) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm_septets(c).unwrap_or(2),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// Encoding, parts and units of `text` as sent (no substitution).
pub fn segments(text: &str) -> SegmentInfo {
    let encoding = encoding_of(text);
    let units: usize = text.chars().map(|c| cost(encoding, c)).sum();
    let segments = if units == 0 {
        0
    } else if units <= encoding.single_limit() {
        1
    } else {
        let limit = encoding.part_limit();
        let (mut parts, mut used) = (1, 0);
        for c in text.chars() {
            let k = cost(encoding, c);
            if used + k > limit {
                parts += 1;
                used = 0;
            }
            used += k;
        }
        parts
    };
    SegmentInfo {
        encoding,
        segments,
        units,
    }
}

/// The parts `text` is split into, by the same packing as [`segments`].
pub fn split_segments(text: &str) -> Vec<&str> {
    let info = segments(text);
    if info.segments <= 1 {
        return if text.is_empty() {
            Vec::new()
        } else {
            vec![text]
        };
    }
    let limit = info.encoding.part_limit();
    let mut parts = Vec::with_capacity(info.segments);
    let (mut start, mut used) = (0, 0);
    for (i, c) in text.char_indices() {
        let k = cost(info.encoding, c);
        if used + k > limit {
            parts.push(text.get(start..i).unwrap_or_default());
            start = i;
            used = 0;
        }
        used += k;
    }
    parts.push(text.get(start..).unwrap_or_default());
    parts
}

/// The GSM-7 stand-in for a look-alike character, per reference §4.4.
fn lookalike(c: char) -> Option<&'static str> {
    Some(match c {
        // Double quotes.
        '\u{00AB}' | '\u{00BB}' | '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}'
        | '\u{02BA}' | '\u{02EE}' | '\u{275D}' | '\u{275E}' | '\u{301D}' | '\u{301E}'
        | '\u{FF02}' => "\"",
        // Single quotes, primes and accents used as apostrophes; the backtick is not GSM at all.
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02B9}' | '\u{02BB}' | '\u{02BC}'
        | '\u{02BD}' | '\u{02C8}' | '\u{00B4}' | '\u{02CA}' | '\u{02CB}' | '`' | '\u{FF07}'
        | '\u{275B}' | '\u{275C}' | '\u{0313}' | '\u{0314}' | '\u{FE10}' | '\u{FE11}' => "'",
        // Commas.
        '\u{201A}' | '\u{0326}' | '\u{FE50}' | '\u{FE51}' | '\u{FF0C}' | '\u{FF64}'
        | '\u{3001}' => ",",
        // Dashes, hyphens and the bullet.
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2043}' | '\u{FE63}' | '\u{FF0D}' | '\u{23BC}' | '\u{23BD}' | '\u{2022}'
        | '\u{2212}' => "-",
        '\u{2026}' => "...",
        '\u{00BC}' => "1/4",
        '\u{00BD}' => "1/2",
        '\u{00BE}' => "3/4",
        '\u{00F7}' | '\u{29F8}' | '\u{0337}' | '\u{0338}' | '\u{2044}' | '\u{2215}'
        | '\u{FF0F}' => "/",
        '\u{29F9}' | '\u{29F5}' | '\u{20E5}' | '\u{FE68}' | '\u{FF3C}' => "\\",
        '\u{0332}' | '\u{FF3F}' | '\u{2017}' => "_",
        '\u{20D2}' | '\u{20D3}' | '\u{2223}' | '\u{FF5C}' | '\u{23B8}' | '\u{23B9}'
        | '\u{23D0}' | '\u{239C}' | '\u{239F}' => "|",
        '\u{FE6B}' | '\u{FF20}' => "@",
        '\u{FE69}' | '\u{FF04}' => "$",
        '\u{01C3}' | '\u{FE15}' | '\u{FE57}' | '\u{FF01}' => "!",
        '\u{203C}' => "!!",
        '\u{FE5F}' | '\u{FF03}' => "#",
        '\u{FE6A}' | '\u{FF05}' => "%",
        '\u{FE60}' | '\u{FF06}' => "&",
        '\u{2768}' | '\u{276A}' | '\u{FE59}' | '\u{FF08}' | '\u{27EE}' | '\u{2985}' => "(",
        '\u{2769}' | '\u{276B}' | '\u{FE5A}' | '\u{FF09}' | '\u{27EF}' | '\u{2986}' => ")",
        '\u{204E}' | '\u{2217}' | '\u{229B}' | '\u{2722}' | '\u{2723}' | '\u{2724}'
        | '\u{2725}' | '\u{2731}' | '\u{2732}' | '\u{2733}' | '\u{273A}' | '\u{273B}'
        | '\u{273C}' | '\u{273D}' | '\u{2743}' | '\u{2749}' | '\u{274A}' | '\u{274B}'
        | '\u{29C6}' | '\u{FE61}' | '\u{FF0A}' => "*",
        '\u{02D6}' | '\u{FE62}' | '\u{FF0B}' => "+",
        '\u{3002}' | '\u{FE52}' | '\u{FF0E}' | '\u{FF61}' => ".",
        '\u{02D0}' | '\u{02F8}' | '\u{2982}' | '\u{A789}' | '\u{FE13}' | '\u{FF1A}' => ":",
        '\u{204F}' | '\u{FE14}' | '\u{FE54}' | '\u{FF1B}' => ";",
        // Twilio's map swaps these two; we keep their direction.
        '\u{2039}' | '\u{FE64}' | '\u{FF1C}' => "<",
        '\u{203A}' | '\u{FE65}' | '\u{FF1E}' => ">",
        '\u{0347}' | '\u{A78A}' | '\u{FE66}' | '\u{FF1D}' => "=",
        '\u{FE16}' | '\u{FE56}' | '\u{FF1F}' => "?",
        '\u{02C6}' | '\u{0302}' | '\u{FF3E}' | '\u{1DCD}' => "^",
        '\u{2774}' | '\u{FE5B}' | '\u{FF5B}' => "{",
        '\u{2775}' | '\u{FE5C}' | '\u{FF5D}' => "}",
        '\u{FF3B}' => "[",
        '\u{FF3D}' => "]",
        '\u{02DC}' | '\u{02F7}' | '\u{0303}' | '\u{0330}' | '\u{0334}' | '\u{223C}'
        | '\u{FF5E}' => "~",
        // Small capitals read as capitals.
        '\u{1D00}' => "A",
        '\u{0299}' => "B",
        '\u{1D04}' => "C",
        '\u{1D05}' => "D",
        '\u{1D07}' => "E",
        '\u{A730}' => "F",
        '\u{0262}' => "G",
        '\u{029C}' => "H",
        '\u{026A}' => "I",
        '\u{1D0A}' => "J",
        '\u{1D0B}' => "K",
        '\u{029F}' => "L",
        '\u{1D0D}' => "M",
        '\u{0274}' => "N",
        '\u{1D0F}' => "O",
        '\u{1D18}' => "P",
        '\u{0280}' => "R",
        '\u{A731}' => "S",
        '\u{1D1B}' => "T",
        '\u{1D1C}' => "U",
        '\u{1D20}' => "V",
        '\u{1D21}' => "W",
        '\u{028F}' => "Y",
        '\u{1D22}' => "Z",
        // Typographic and no-break spaces: one space each (Twilio's map doubles them).
        '\u{00A0}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{0080}'
        | '\u{008D}'
        | '\u{0090}'
        | '\u{009B}'
        | '\u{009F}' => " ",
        // Tab: seven spaces, as the map has it.
        '\t' => "       ",
        // Invisible characters and stray C0 controls disappear.
        '\u{200B}'
        | '\u{2060}'
        | '\u{FEFF}'
        | '\u{0000}'
        | '\u{0003}'
        | '\u{0004}'
        | '\u{0010}'..='\u{0014}'
        | '\u{0017}'
        | '\u{0019}' => "",
        _ => return None,
    })
}

/// Replaces look-alike characters with GSM-7 ones; characters without a stand-in are kept, so the
/// result may still be UCS-2 (an emoji stays an emoji). Idempotent.
pub fn normalize_gsm(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfc() {
        if gsm_septets(c).is_some() {
            out.push(c);
            continue;
        }
        // Fullwidth ASCII (U+FF01..U+FF5E) is ASCII shifted; the result may itself need mapping.
        let c = match u32::from(c) {
            0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if gsm_septets(c).is_some() {
            out.push(c);
        } else if let Some(s) = lookalike(c) {
            out.push_str(s);
        } else {
            out.push(c);
        }
    }
    // Removing an invisible character can leave a base letter next to a combining mark.
    out.nfc().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str, encoding: Encoding, units: usize, segs: usize) {
        let got = segments(text);
        assert_eq!(
            got,
            SegmentInfo {
                encoding,
                segments: segs,
                units
            },
            "{:?}",
            text.chars().take(20).collect::<String>()
        );
        assert_eq!(split_segments(text).len(), segs);
    }

    fn rep(s: &str, n: usize) -> String {
        s.repeat(n)
    }

    /// Reference §4.3, every row.
    #[test]
    fn reference_vectors() {
        use Encoding::*;
        check("Hello", Gsm7, 5, 1);
        check(&rep("a", 160), Gsm7, 160, 1);
        check(&rep("a", 161), Gsm7, 161, 2);
        check(&rep("a", 306), Gsm7, 306, 2);
        check(&rep("a", 307), Gsm7, 307, 3);
        check(&rep("€", 80), Gsm7, 160, 1);
        check(&rep("€", 81), Gsm7, 162, 2);
        check(&(rep("a", 152) + "€"), Gsm7, 154, 1);
        check(&(rep("a", 159) + "€"), Gsm7, 161, 2);
        check(&(rep("a", 152) + "€" + &rep("a", 152)), Gsm7, 306, 3);
        check(&rep("é", 160), Gsm7, 160, 1);
        check("[x]", Gsm7, 5, 1);
        check(&rep("ç", 70), Ucs2, 70, 1);
        check(&rep("ç", 71), Ucs2, 71, 2);
        check(&rep("ç", 134), Ucs2, 134, 2);
        check(&rep("ç", 135), Ucs2, 135, 3);
        check("Hi 👋", Ucs2, 5, 1);
        check(&(rep("a", 68) + "😀"), Ucs2, 70, 1);
        check(&(rep("a", 69) + "😀"), Ucs2, 71, 2);
        check(&(rep("ç", 66) + "😀" + &rep("ç", 66)), Ucs2, 134, 3);
        check("It\u{2019}s", Ucs2, 4, 1);
        check("`", Ucs2, 1, 1);
        check("a\u{00A0}b", Ucs2, 3, 1);
        // Smart encoding turns the two look-alike rows into GSM-7.
        assert_eq!(normalize_gsm("It\u{2019}s"), "It's");
        assert_eq!(segments(&normalize_gsm("It\u{2019}s")).encoding, Gsm7);
        assert_eq!(normalize_gsm("a\u{00A0}b"), "a b");
        assert_eq!(normalize_gsm("`"), "'");
    }

    #[test]
    fn escape_and_surrogate_pairs_stay_whole() {
        let text = rep("a", 152) + "€" + &rep("a", 152);
        let parts = split_segments(&text);
        assert_eq!(
            parts,
            vec![
                rep("a", 152),
                "€".to_owned() + &rep("a", 151),
                "a".to_owned()
            ]
        );
        let text = rep("ç", 66) + "😀" + &rep("ç", 66);
        let parts = split_segments(&text);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
        assert!(parts[1].starts_with('😀'));
    }

    #[test]
    fn empty_text_costs_nothing() {
        assert_eq!(
            segments(""),
            SegmentInfo {
                encoding: Encoding::Gsm7,
                segments: 0,
                units: 0
            }
        );
        assert!(split_segments("").is_empty());
    }

    #[test]
    fn normaliser_groups() {
        assert_eq!(
            normalize_gsm("\u{201C}Hi\u{201D} \u{2018}you\u{2019}"),
            "\"Hi\" 'you'"
        );
        assert_eq!(
            normalize_gsm("9\u{2013}5 \u{2014} ok\u{2026}"),
            "9-5 - ok..."
        );
        assert_eq!(
            normalize_gsm("\u{00BD} \u{00F7} \u{2022} \u{203C}"),
            "1/2 / - !!"
        );
        assert_eq!(normalize_gsm("\u{FF28}\u{FF49}\u{FF01}"), "Hi!");
        assert_eq!(normalize_gsm("\u{1D04}\u{1D00}\u{0299}"), "CAB");
        assert_eq!(
            normalize_gsm("a\u{2009}b\u{3000}c"),
            "a b c",
            "one space, not Twilio's two"
        );
        assert_eq!(normalize_gsm("\u{2039}x\u{203A}"), "<x>", "not reversed");
        assert_eq!(normalize_gsm("a\u{200B}b\u{FEFF}"), "ab");
        assert_eq!(normalize_gsm("a\tb"), "a       b");
        assert_eq!(normalize_gsm("cafe\u{0301}"), "café");
        assert_eq!(normalize_gsm("e\u{200B}\u{0301}"), "é");
        assert_eq!(normalize_gsm("ça va 😀"), "ça va 😀", "no stand-in: kept");
        assert!(is_gsm7(&normalize_gsm(
            "Don\u{2019}t miss our \u{201C}deal\u{201D} \u{2014} 50\u{00A0}% off\u{2026}"
        )));
    }

    proptest! {
        #[test]
        fn segment_invariants(s in "\\PC{0,400}") {
            let info = segments(&s);
            let parts = split_segments(&s);
            prop_assert_eq!(parts.concat(), s.clone());
            prop_assert_eq!(parts.len(), info.segments);
            let enc = info.encoding;
            prop_assert_eq!(enc == Encoding::Gsm7, is_gsm7(&s));
            let unit_sum: usize = s.chars().map(|c| cost(enc, c)).sum();
            prop_assert_eq!(info.units, unit_sum);
            if enc == Encoding::Ucs2 {
                prop_assert_eq!(info.units, s.encode_utf16().count());
            }
            prop_assert_eq!(info.segments == 0, info.units == 0);
            if info.units > 0 && info.units <= enc.single_limit() {
                prop_assert_eq!(info.segments, 1);
            }
            if info.units > enc.single_limit() {
                let limit = enc.part_limit();
                // Atomic characters waste at most one unit per full part.
                prop_assert!(info.segments >= info.units.div_ceil(limit));
                prop_assert!(info.segments <= info.units.div_ceil(limit - 1));
                for p in &parts {
                    let u: usize = p.chars().map(|c| cost(enc, c)).sum();
                    prop_assert!(u <= limit && u > 0);
                }
            }
        }

        #[test]
        fn gsm_text_of_any_length(s in "[a-zA-Z0-9 €\\[\\]{}|^~\\\\]{0,500}") {
            let info = segments(&s);
            prop_assert_eq!(info.encoding, Encoding::Gsm7);
            let parts = split_segments(&s);
            for p in parts.iter().take(parts.len().saturating_sub(1)) {
                let u: usize = p.chars().map(|c| cost(Encoding::Gsm7, c)).sum();
                prop_assert!(u >= 152, "a part is only closed when the next escape pair would not fit");
            }
        }

        #[test]
        fn normaliser_is_idempotent_and_never_longer_in_parts(s in "\\PC{0,200}") {
            let n = normalize_gsm(&s);
            prop_assert_eq!(normalize_gsm(&n), n.clone());
        }

        #[test]
        fn normaliser_handles_any_char(v in proptest::collection::vec(any::<char>(), 0..100)) {
            let s: String = v.into_iter().collect();
            let n = normalize_gsm(&s);
            let _ = segments(&n);
            prop_assert_eq!(normalize_gsm(&n), n);
        }

        #[test]
        fn lookalikes_become_gsm(v in proptest::collection::vec(prop::sample::select(vec![
            '\u{201C}', '\u{201D}', '\u{2018}', '\u{2019}', '\u{2013}', '\u{2014}', '\u{2026}', '\u{00A0}',
            '\u{2022}', '\u{00BD}', '\u{FF21}', '\u{FF41}', '\u{2039}', '\u{203A}', '\u{200B}', '`', 'a', ' ',
        ]), 0..80)) {
            let s: String = v.into_iter().collect();
            prop_assert!(is_gsm7(&normalize_gsm(&s)));
        }
    }
}
