//! The account's consent text: the disclosure its lead forms show when a lead agrees to be
//! texted, recorded with every consent so the account can show what each lead agreed to
//! (`reference/compliance.md` §6.1 and §6.3).
//!
//! [`ConsentText::parse`] refuses a text that lacks what carriers require of the disclosure:
//! texting named explicitly ("text" or "SMS"), the STOP keyword, and "rates may apply". What the
//! law expects but a subscriber may word differently (the business's name, "not a condition of
//! purchase") only warns, through [`warnings`].
//!
//! The text is kept as written except that line breaks become `\n` (browsers send `\r\n`) and
//! surrounding whitespace is trimmed, so the same words hash the same from a form or the API.

use sha2::{Digest, Sha256};
use std::fmt;

/// Most characters a consent text may have.
pub const MAX_CHARS: usize = 1000;

/// The placeholder [`template`] leaves for the terms link; a text still holding it warns.
pub const TERMS_PLACEHOLDER: &str = "[link to your terms]";

/// A consent text that passed every rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentText(String);

/// A rule a consent text breaks; the message reads as a sentence on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsentTextProblem {
    #[error("Write the words your lead forms show when a lead agrees to be texted.")]
    Missing,
    #[error("The text has {0} characters; at most 1,000 are allowed.")]
    TooLong(usize),
    #[error(
        "Say explicitly that the lead agrees to text messages: use the word \"text\" or \"SMS\" (carriers refuse \"communications\" or \"messages\" alone)."
    )]
    NoTexting,
    #[error("Say how to opt out with the STOP keyword, e.g. \"Reply STOP to opt out\".")]
    NoStop,
    #[error("Include \"Msg & data rates may apply\".")]
    NoRates,
}

/// Something the law or good practice expects that the text may have put differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsentTextWarning {
    /// The business's name does not appear: consent must name who will text.
    NoBusinessName(String),
    /// "Not a condition of purchase" does not appear (47 CFR 64.1200(f)(9)).
    NoConditionOfPurchase,
    /// The template's terms placeholder is still there.
    Placeholder,
}

impl fmt::Display for ConsentTextWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBusinessName(name) => write!(
                f,
                "It does not name your business (\"{name}\"): consent has to name who will text the lead."
            ),
            Self::NoConditionOfPurchase => f.write_str(
                "It does not say that consent is \"not a condition of purchase\", which written consent for marketing texts needs.",
            ),
            Self::Placeholder => write!(
                f,
                "It still has the placeholder {TERMS_PLACEHOLDER}: put the address of your terms there."
            ),
        }
    }
}

/// Line breaks as `\n`, surrounding whitespace trimmed: the form the text is stored and hashed in.
pub fn normalize(raw: &str) -> String {
    raw.replace("\r\n", "\n")
        .replace('\r', "\n")
        .trim()
        .to_owned()
}

/// Lower case with every run of whitespace as one space, for phrase matching.
fn folded(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

impl ConsentText {
    /// Checks every rule and answers all that fail (only [`Missing`](ConsentTextProblem::Missing)
    /// for an empty text).
    pub fn parse(raw: &str) -> Result<Self, Vec<ConsentTextProblem>> {
        let text = normalize(raw);
        if text.is_empty() {
            return Err(vec![ConsentTextProblem::Missing]);
        }
        let mut problems = Vec::new();
        let chars = text.chars().count();
        if chars > MAX_CHARS {
            problems.push(ConsentTextProblem::TooLong(chars));
        }
        if !words(&text).any(|w| matches!(w.as_str(), "text" | "texts" | "texting" | "sms")) {
            problems.push(ConsentTextProblem::NoTexting);
        }
        if !words(&text).any(|w| w == "stop") {
            problems.push(ConsentTextProblem::NoStop);
        }
        if !folded(&text).contains("rates may apply") {
            problems.push(ConsentTextProblem::NoRates);
        }
        if problems.is_empty() {
            Ok(Self(text))
        } else {
            Err(problems)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The SHA-256 of a stored text's UTF-8 bytes, in lower-case hex: what a consent record keeps
/// to prove which words were shown.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What the text may be missing, for an account called `business_name`.
pub fn warnings(text: &str, business_name: &str) -> Vec<ConsentTextWarning> {
    let text = folded(text);
    let name = folded(business_name);
    let mut found = Vec::new();
    if !name.is_empty() && !text.contains(&name) {
        found.push(ConsentTextWarning::NoBusinessName(
            business_name.trim().to_owned(),
        ));
    }
    if !text.contains("not a condition of purchase")
        && !text.contains("not a condition of any purchase")
    {
        found.push(ConsentTextWarning::NoConditionOfPurchase);
    }
    if text.contains(TERMS_PLACEHOLDER) {
        found.push(ConsentTextWarning::Placeholder);
    }
    found
}

/// A starting point naming the business; it passes every rule, and leaves the terms link to fill.
pub fn template(business_name: &str) -> String {
    let name = business_name.trim();
    format!(
        "By submitting this form, you agree to receive text messages from {name} at the number you provided, including automated texts, about your request. Consent is not a condition of purchase. Msg frequency varies. Msg & data rates may apply. Reply STOP to opt out, HELP for help. Terms and privacy: {TERMS_PLACEHOLDER}"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = "By submitting, you agree to receive text messages from Acme Insurance about your quote at the number provided, including automated texts. Consent is not a condition of purchase. Msg frequency varies. Msg & data rates may apply. Reply STOP to opt out, HELP for help. Terms: https://acme.example/terms";

    #[test]
    fn a_complete_disclosure_passes_without_warnings() {
        let text = ConsentText::parse(GOOD).unwrap();
        assert_eq!(text.as_str(), GOOD);
        assert!(warnings(text.as_str(), "Acme Insurance").is_empty());
    }

    #[test]
    fn every_failing_rule_is_reported() {
        assert_eq!(
            ConsentText::parse("We will contact you about your quote.").unwrap_err(),
            vec![
                ConsentTextProblem::NoTexting,
                ConsentTextProblem::NoStop,
                ConsentTextProblem::NoRates
            ]
        );
        assert_eq!(
            ConsentText::parse(" \r\n ").unwrap_err(),
            vec![ConsentTextProblem::Missing]
        );
        let long = format!("{GOOD} {}", "x".repeat(MAX_CHARS));
        assert_eq!(
            ConsentText::parse(&long).unwrap_err(),
            vec![ConsentTextProblem::TooLong(long.chars().count())]
        );
    }

    #[test]
    fn rules_match_words_and_phrases_not_fragments() {
        // "context" is not "text", "stopped" is not STOP; case and line breaks do not matter.
        let err = ConsentText::parse("In context, we stopped. Rates may apply.").unwrap_err();
        assert_eq!(
            err,
            vec![ConsentTextProblem::NoTexting, ConsentTextProblem::NoStop]
        );
        assert!(
            ConsentText::parse("SMS/MMS alerts. reply stop to end. Msg & data RATES\nMAY apply")
                .is_ok()
        );
    }

    #[test]
    fn line_breaks_are_normalized_before_hashing() {
        let browser =
            ConsentText::parse("Texts from Acme.\r\nReply STOP.\r\nRates may apply.\r\n").unwrap();
        let api = ConsentText::parse("Texts from Acme.\nReply STOP.\nRates may apply.").unwrap();
        assert_eq!(browser, api);
        assert_eq!(sha256_hex(browser.as_str()), sha256_hex(api.as_str()));
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn warnings_name_what_is_missing() {
        let bare = "Texts may be automated. Reply STOP to opt out. Rates may apply.";
        assert_eq!(
            warnings(bare, " Acme  Insurance "),
            vec![
                ConsentTextWarning::NoBusinessName("Acme  Insurance".into()),
                ConsentTextWarning::NoConditionOfPurchase
            ]
        );
        assert!(
            warnings(
                "ACME\ninsurance texts. Not a condition of purchase.",
                "Acme Insurance"
            )
            .is_empty()
        );
    }

    proptest! {
        #[test]
        fn the_template_passes_for_any_business_name(name in "[A-Za-z0-9&'.,\\- ]{1,120}") {
            let filled = template(&name);
            let text = ConsentText::parse(&filled);
            prop_assert!(text.is_ok(), "{:?}", text);
            let found = warnings(&filled, &name);
            prop_assert_eq!(found, vec![ConsentTextWarning::Placeholder]);
        }

        #[test]
        fn parsing_never_panics_and_keeps_the_limit(raw in "\\PC{0,1200}") {
            if let Ok(text) = ConsentText::parse(&raw) {
                prop_assert!(text.as_str().chars().count() <= MAX_CHARS);
                prop_assert_eq!(text.as_str(), normalize(&raw));
            }
        }
    }
}
