//! Phone numbers in E.164 form. Input may be typed loosely ("(512) 555-0123", "512.555.0123",
//! "+1 512 555 0123"); ten-digit numbers without a country code are read as North American (NANP),
//! the market leadline serves first.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164Phone(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{input}' is not a valid phone number: {why}")]
pub struct InvalidPhone {
    pub input: String,
    pub why: &'static str,
}

impl E164Phone {
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let input: String = raw.trim().chars().take(40).collect();
        let err = |why| InvalidPhone {
            input: input.clone(),
            why,
        };
        let trimmed = raw.trim();
        let (explicit_plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => {
                    return Err(err(
                        "it may only contain digits, spaces, dashes, dots and parentheses",
                    ));
                }
            }
        }
        let e164 = if explicit_plus {
            digits
        } else if digits.len() == 10 {
            format!("1{digits}")
        } else if digits.len() == 11 && digits.starts_with('1') {
            digits
        } else {
            return Err(err(
                "give a 10-digit US number or a full number starting with +",
            ));
        };
        if !(8..=15).contains(&e164.len()) {
            return Err(err("an international number has 8 to 15 digits"));
        }
        if e164.starts_with('0') {
            return Err(err("a country code never starts with 0"));
        }
        if let Some(national) = e164.strip_prefix('1') {
            let b = national.as_bytes();
            if b.len() != 10 {
                return Err(err("a North American number has 10 digits after +1"));
            }
            if b[0] < b'2' || b[3] < b'2' {
                return Err(err(
                    "a North American area code and exchange cannot start with 0 or 1",
                ));
            }
        }
        Ok(Self(format!("+{e164}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for +1 numbers (US, Canada and the other NANP members).
    pub fn is_nanp(&self) -> bool {
        self.0.starts_with("+1")
    }

    /// The three-digit NANP area code (NPA), for +1 numbers.
    pub fn area_code(&self) -> Option<&str> {
        if self.is_nanp() {
            self.0.get(2..5)
        } else {
            None
        }
    }

    /// The three-digit NANP exchange (NXX), for +1 numbers.
    pub fn exchange(&self) -> Option<&str> {
        if self.is_nanp() {
            self.0.get(5..8)
        } else {
            None
        }
    }

    /// The last four digits, for masked display.
    pub fn last4(&self) -> &str {
        self.0
            .get(self.0.len().saturating_sub(4)..)
            .unwrap_or_default()
    }
}

impl TryFrom<String> for E164Phone {
    type Error = InvalidPhone;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<E164Phone> for String {
    fn from(value: E164Phone) -> Self {
        value.0
    }
}

impl fmt::Display for E164Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn loose_us_formats() {
        for raw in [
            "(512) 555-0123",
            "512.555.0123",
            "5125550123",
            "1-512-555-0123",
            "+1 512 555 0123",
        ] {
            assert_eq!(
                E164Phone::parse(raw).map(|p| p.0),
                Ok("+15125550123".to_owned()),
                "{raw}"
            );
        }
        let p = E164Phone::parse("+15125550123").unwrap();
        assert_eq!(p.area_code(), Some("512"));
        assert_eq!(p.exchange(), Some("555"));
        assert_eq!(p.last4(), "0123");
    }

    #[test]
    fn international_and_bad() {
        assert_eq!(
            E164Phone::parse("+44 20 7946 0958").map(|p| p.0),
            Ok("+442079460958".to_owned())
        );
        for bad in [
            "",
            "555-0123",
            "+1 012 555 0123",
            "+1 512 155 0123",
            "+0123456789",
            "call me",
            "+1234567890123456",
        ] {
            assert!(E164Phone::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(s in "\\PC{0,30}") {
            if let Ok(p) = E164Phone::parse(&s) {
                prop_assert_eq!(E164Phone::parse(p.as_str()), Ok(p.clone()));
            }
        }
    }
}
