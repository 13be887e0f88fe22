//! US states and the table of calling-hour, day, holiday and frequency rules (reference §2.1–2.2).
//!
//! The table is data: one [`Rule`] per jurisdiction, each with its source, effective date and
//! confidence tag as in the reference. Adding a state is adding a row. Where sources disagree the
//! row holds the more restrictive reading (reference §2.2), and rows that only bind voice calls
//! (Nebraska's prerecorded-message rule) or that are unverified and would throttle ordinary
//! conversations (Maine's reported 1 per 8 h) are left out; see the module notes in `mod.rs`.

use super::holidays::{self, HolidayCalendar};
use jiff::civil::{Date, Weekday, date};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A US state, DC or a populated territory, by its USPS code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsState(&'static str);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a US state or territory code (e.g. FL, TX, DC, PR)")]
pub struct InvalidState(pub String);

const STATES: &[(&str, &str)] = &[
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    ("PR", "Puerto Rico"),
    ("VI", "U.S. Virgin Islands"),
    ("GU", "Guam"),
    ("AS", "American Samoa"),
    ("MP", "Northern Mariana Islands"),
];

impl UsState {
    /// Parses a two-letter code, case-insensitively ("fl", " TX ").
    pub fn parse(raw: &str) -> Result<Self, InvalidState> {
        let code = raw.trim().to_ascii_uppercase();
        STATES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(c, _)| UsState(c))
            .ok_or_else(|| InvalidState(raw.trim().chars().take(20).collect()))
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    pub fn name(self) -> &'static str {
        STATES
            .iter()
            .find(|(c, _)| *c == self.0)
            .map_or(self.0, |(_, n)| n)
    }

    /// Every known code, for lookups from the area-code table.
    pub fn all() -> impl Iterator<Item = UsState> {
        STATES.iter().map(|(c, _)| UsState(c))
    }
}

impl fmt::Display for UsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for UsState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for UsState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        UsState::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A local-time window `[start, end)` in minutes after midnight; `end` may be 1440.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hours {
    pub start: u16,
    pub end: u16,
}

impl Hours {
    pub const fn new(start_hour: u16, end_hour: u16) -> Self {
        Hours {
            start: start_hour * 60,
            end: end_hour * 60,
        }
    }

    pub fn contains(self, minute: u16) -> bool {
        (self.start..self.end).contains(&minute)
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{:02}–{}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// Allowed hours by kind of day; `None` bans the whole day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeekHours {
    pub weekdays: Option<Hours>,
    pub saturday: Option<Hours>,
    pub sunday: Option<Hours>,
}

impl WeekHours {
    /// The same window every day.
    pub const fn daily(h: Hours) -> Self {
        WeekHours {
            weekdays: Some(h),
            saturday: Some(h),
            sunday: Some(h),
        }
    }

    /// The same window Monday to Saturday, Sundays banned.
    pub const fn no_sundays(h: Hours) -> Self {
        WeekHours {
            weekdays: Some(h),
            saturday: Some(h),
            sunday: None,
        }
    }

    pub fn for_weekday(&self, day: Weekday) -> Option<Hours> {
        match day {
            Weekday::Saturday => self.saturday,
            Weekday::Sunday => self.sunday,
            _ => self.weekdays,
        }
    }

    fn describe(&self) -> String {
        let (wd, sat, sun) = (self.weekdays, self.saturday, self.sunday);
        let part = |h: Option<Hours>| h.map_or_else(|| "none".to_owned(), |h| h.to_string());
        if wd == sat && sat == sun {
            return wd.map_or_else(|| "no messages".to_owned(), |h| format!("{h} local"));
        }
        if wd == sat {
            return match sun {
                None => format!("Mon–Sat {} local, no Sundays", part(wd)),
                Some(s) => format!("Mon–Sat {}, Sun {s} local", part(wd)),
            };
        }
        let mut s = format!("Mon–Fri {}, Sat {}", part(wd), part(sat));
        match sun {
            None => s.push_str(" local, no Sundays"),
            Some(h) => s.push_str(&format!(", Sun {h} local")),
        }
        s
    }
}

/// At most `max` messages to one person per rolling `hours` hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrequencyCap {
    pub max: usize,
    pub hours: i64,
}

/// When a rule binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    Always,
    /// Only to solicitations made without the lead's prior express consent (Utah §13-25a-103(3)).
    WithoutPriorExpressConsent,
}

/// How well a row is sourced, as tagged in the reference: primary text read, secondary source,
/// or unverified/conflicting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confidence {
    Primary,
    Secondary,
    Unverified,
}

/// Whose rule it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jurisdiction {
    Federal,
    State(&'static str),
}

/// One row of the rule table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub jurisdiction: Jurisdiction,
    pub hours: WeekHours,
    /// Holidays on which no message may be sent.
    pub holidays: Option<&'static HolidayCalendar>,
    pub cap: Option<FrequencyCap>,
    pub applies: Applies,
    /// Citation, as it appears in reasons.
    pub source: &'static str,
    /// The rule binds messages whose local date is on or after this day.
    pub effective: Date,
    pub confidence: Confidence,
}

const FEDERAL_HOURS: Hours = Hours::new(8, 21);
const EIGHT_TO_EIGHT: Hours = Hours::new(8, 20);
const THREE_A_DAY: FrequencyCap = FrequencyCap { max: 3, hours: 24 };
/// Rows whose effective date the reference does not give: treated as long in force.
const LONG_IN_FORCE: Date = date(1992, 1, 1);

const fn state(
    code: &'static str,
    hours: WeekHours,
    source: &'static str,
    effective: Date,
    confidence: Confidence,
) -> Rule {
    Rule {
        jurisdiction: Jurisdiction::State(code),
        hours,
        holidays: None,
        cap: None,
        applies: Applies::Always,
        source,
        effective,
        confidence,
    }
}

const fn with_cap(mut r: Rule, cap: FrequencyCap) -> Rule {
    r.cap = Some(cap);
    r
}

const fn with_holidays(mut r: Rule, cal: &'static HolidayCalendar) -> Rule {
    r.holidays = Some(cal);
    r
}

/// The federal baseline, applied to every number (47 CFR 64.1200(c)(1), in force since the
/// 1992 TCPA rules).
pub const FEDERAL: Rule = Rule {
    jurisdiction: Jurisdiction::Federal,
    hours: WeekHours::daily(FEDERAL_HOURS),
    holidays: None,
    cap: None,
    applies: Applies::Always,
    source: "47 CFR 64.1200(c)(1)",
    effective: date(1992, 12, 20),
    confidence: Confidence::Primary,
};

use Confidence::{Primary, Secondary, Unverified};

/// State rows (reference §2.2). Order is alphabetical by code; lookups go by code.
pub const STATE_RULES: &[Rule] = &[
    with_holidays(
        state(
            "AL",
            WeekHours::no_sundays(EIGHT_TO_EIGHT),
            "Ala. Admin. Code r. 770-X-5-.17",
            LONG_IN_FORCE,
            Unverified,
        ),
        &holidays::ALABAMA,
    ),
    state(
        "CA",
        WeekHours::daily(Hours::new(9, 21)),
        "Cal. Pub. Util. Code §2872",
        LONG_IN_FORCE,
        Secondary,
    ),
    state(
        "CT",
        WeekHours::daily(Hours::new(9, 20)),
        "Conn. Gen. Stat. §42-288a, P.A. 23-98",
        date(2023, 10, 1),
        Secondary,
    ),
    with_cap(
        state(
            "FL",
            WeekHours::daily(EIGHT_TO_EIGHT),
            "Fla. Stat. §501.616",
            date(2021, 7, 1),
            Primary,
        ),
        THREE_A_DAY,
    ),
    // 815 ILCS 413/15 allows 8:00 for live calls but 9:00 for autodialed ones; we are automated.
    state(
        "IL",
        WeekHours::daily(Hours::new(9, 21)),
        "815 ILCS 413/15",
        LONG_IN_FORCE,
        Secondary,
    ),
    state(
        "KY",
        WeekHours::daily(Hours::new(10, 21)),
        "KRS 367.46955",
        LONG_IN_FORCE,
        Secondary,
    ),
    with_holidays(
        state(
            "LA",
            WeekHours::no_sundays(EIGHT_TO_EIGHT),
            "LPSC General Order R-29617; La. R.S. 45:811",
            LONG_IN_FORCE,
            Secondary,
        ),
        &holidays::LOUISIANA,
    ),
    state(
        "MA",
        WeekHours::daily(EIGHT_TO_EIGHT),
        "M.G.L. c.159C",
        LONG_IN_FORCE,
        Secondary,
    ),
    with_cap(
        state(
            "MD",
            WeekHours::daily(EIGHT_TO_EIGHT),
            "Md. Code, Com. Law §14-4501 et seq.",
            date(2024, 1, 1),
            Secondary,
        ),
        THREE_A_DAY,
    ),
    state(
        "MI",
        WeekHours::daily(Hours::new(9, 21)),
        "Michigan (vendor tables; citation not verified)",
        LONG_IN_FORCE,
        Unverified,
    ),
    state(
        "MN",
        WeekHours::daily(Hours::new(9, 21)),
        "Minnesota (vendor tables; citation not verified)",
        LONG_IN_FORCE,
        Unverified,
    ),
    // Sources conflict on 20:00 vs 21:00; the earlier close is the conservative reading.
    state(
        "MS",
        WeekHours::no_sundays(EIGHT_TO_EIGHT),
        "Miss. Code §77-3-723(1), §77-3-603",
        LONG_IN_FORCE,
        Unverified,
    ),
    state(
        "NM",
        WeekHours::daily(Hours::new(9, 21)),
        "New Mexico (vendor tables; citation not verified)",
        LONG_IN_FORCE,
        Unverified,
    ),
    state(
        "NV",
        WeekHours::daily(Hours::new(9, 20)),
        "Nevada (vendor tables; citation not verified)",
        LONG_IN_FORCE,
        Unverified,
    ),
    with_cap(
        state(
            "OK",
            WeekHours::daily(EIGHT_TO_EIGHT),
            "15 O.S. §775C.1 et seq.",
            date(2022, 11, 1),
            Secondary,
        ),
        THREE_A_DAY,
    ),
    with_holidays(
        state(
            "PA",
            WeekHours::daily(FEDERAL_HOURS),
            "73 P.S. §2245",
            LONG_IN_FORCE,
            Primary,
        ),
        &holidays::PENNSYLVANIA,
    ),
    with_holidays(
        state(
            "RI",
            WeekHours {
                weekdays: Some(Hours::new(9, 18)),
                saturday: Some(Hours::new(10, 17)),
                sunday: None,
            },
            "R.I. Gen. Laws §5-61-2, §5-61-3.6",
            LONG_IN_FORCE,
            Primary,
        ),
        &holidays::RHODE_ISLAND,
    ),
    state(
        "TX",
        WeekHours {
            weekdays: Some(Hours::new(9, 21)),
            saturday: Some(Hours::new(9, 21)),
            sunday: Some(Hours::new(12, 21)),
        },
        "Tex. Bus. & Com. Code §301.051",
        date(2025, 9, 1),
        Secondary,
    ),
    Rule {
        applies: Applies::WithoutPriorExpressConsent,
        ..with_holidays(
            state(
                "UT",
                WeekHours::no_sundays(FEDERAL_HOURS),
                "Utah Code §13-25a-103(3)",
                LONG_IN_FORCE,
                Primary,
            ),
            &holidays::UTAH,
        )
    },
    state(
        "WA",
        WeekHours::daily(EIGHT_TO_EIGHT),
        "RCW 80.36.390",
        LONG_IN_FORCE,
        Unverified,
    ),
];

impl Rule {
    /// The rule row for a state, if the table has one.
    pub fn for_state(s: UsState) -> Option<&'static Rule> {
        STATE_RULES
            .iter()
            .find(|r| r.jurisdiction == Jurisdiction::State(s.code()))
    }

    /// "Florida" or "Federal".
    pub fn who(&self) -> &'static str {
        match self.jurisdiction {
            Jurisdiction::Federal => "Federal",
            Jurisdiction::State(code) => UsState::parse(code).map_or(code, UsState::name),
        }
    }

    /// Human-readable summary of the hours and day bans, e.g.
    /// "Florida: 8:00–20:00 local (Fla. Stat. §501.616)".
    pub fn describe_hours(&self) -> String {
        let mut s = format!("{}: {}", self.who(), self.hours.describe());
        if let Some(cal) = self.holidays {
            s.push_str(&format!(", none on {}", cal.name));
        }
        if self.applies == Applies::WithoutPriorExpressConsent {
            s.push_str(", unless the lead gave prior express consent");
        }
        s.push_str(&format!(" ({})", self.source));
        s
    }

    /// Human-readable summary of the frequency cap, if any.
    pub fn describe_cap(&self) -> Option<String> {
        self.cap.map(|c| {
            format!(
                "{}: at most {} messages per rolling {} h on the same subject ({})",
                self.who(),
                c.max,
                c.hours,
                self.source
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn parse_states() {
        assert_eq!(UsState::parse(" fl ").unwrap().code(), "FL");
        assert_eq!(UsState::parse("dc").unwrap().name(), "District of Columbia");
        assert!(UsState::parse("XX").is_err());
        assert!(UsState::parse("").is_err());
        assert!(UsState::parse("Florida").is_err());
    }

    #[test]
    fn descriptions_read_like_the_reference() {
        let fl = Rule::for_state(UsState::parse("FL").unwrap()).unwrap();
        assert_eq!(
            fl.describe_hours(),
            "Florida: 8:00–20:00 local (Fla. Stat. §501.616)"
        );
        assert_eq!(
            fl.describe_cap().unwrap(),
            "Florida: at most 3 messages per rolling 24 h on the same subject (Fla. Stat. §501.616)"
        );
        let tx = Rule::for_state(UsState::parse("TX").unwrap()).unwrap();
        assert_eq!(
            tx.describe_hours(),
            "Texas: Mon–Sat 9:00–21:00, Sun 12:00–21:00 local (Tex. Bus. & Com. Code §301.051)"
        );
        let ri = Rule::for_state(UsState::parse("RI").unwrap()).unwrap();
        assert_eq!(
            ri.describe_hours(),
            "Rhode Island: Mon–Fri 9:00–18:00, Sat 10:00–17:00 local, no Sundays, none on Rhode Island and federal holidays (R.I. Gen. Laws §5-61-2, §5-61-3.6)"
        );
        assert_eq!(
            FEDERAL.describe_hours(),
            "Federal: 8:00–21:00 local (47 CFR 64.1200(c)(1))"
        );
    }

    #[test]
    fn table_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in STATE_RULES {
            let Jurisdiction::State(code) = r.jurisdiction else {
                panic!("federal row in state table")
            };
            assert!(UsState::parse(code).is_ok(), "{code}");
            assert!(seen.insert(code), "duplicate row {code}");
            for h in [r.hours.weekdays, r.hours.saturday, r.hours.sunday]
                .into_iter()
                .flatten()
            {
                assert!(h.start < h.end && h.end <= 1440, "{code}");
                // A state can only narrow the federal window.
                assert!(
                    h.start >= FEDERAL_HOURS.start && h.end <= FEDERAL_HOURS.end,
                    "{code}"
                );
            }
        }
    }
}
