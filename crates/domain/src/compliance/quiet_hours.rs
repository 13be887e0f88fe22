//! The account owner's own quiet-hours setting: the days and local times (in the lead's time zone)
//! when the assistant may text, e.g. `mon-fri 09:00-18:00,sat 10:00-14:00`. Everything outside
//! the listed windows is quiet. It can only tighten the legal windows, never widen them.
//!
//! Grammar (case-insensitive, spaces flexible):
//!
//! ```text
//! schedule := entry ("," entry)*
//! entry    := days range+                 e.g. "mon-fri 09:00-12:00 13:00-18:00"
//! days     := day | day "-" day | "daily" | "weekdays" | "weekends"   (ranges may wrap: fri-mon)
//! day      := mon | tue | wed | thu | fri | sat | sun   (or the full English name)
//! range    := HH:MM "-" HH:MM             start < end; end may be 24:00; no overnight ranges
//! ```

use jiff::civil::Weekday;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `[start, end)` in minutes after local midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MinuteRange {
    pub start: u16,
    pub end: u16,
}

/// A parsed quiet-hours setting: for each weekday (Monday first) the sorted, merged windows in
/// which sending is allowed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuietHours {
    days: [Vec<MinuteRange>; 7],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuietHoursError {
    #[error("quiet hours are empty; give e.g. \"mon-fri 09:00-18:00\"")]
    Empty,
    #[error("'{entry}': {why}")]
    Entry { entry: String, why: &'static str },
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn day_index(word: &str) -> Option<usize> {
    DAY_NAMES
        .iter()
        .position(|d| *d == word)
        .or_else(|| FULL_NAMES.iter().position(|d| *d == word))
}

fn parse_days(spec: &str) -> Option<Vec<usize>> {
    match spec {
        "daily" | "everyday" => return Some((0..7).collect()),
        "weekdays" => return Some((0..5).collect()),
        "weekends" | "weekend" => return Some(vec![5, 6]),
        _ => {}
    }
    match spec.split_once('-') {
        None => day_index(spec).map(|d| vec![d]),
        Some((a, b)) => {
            let (a, b) = (day_index(a)?, day_index(b)?);
            // fri-mon wraps through the weekend.
            let len = (b + 7 - a) % 7 + 1;
            Some((0..len).map(|i| (a + i) % 7).collect())
        }
    }
}

fn parse_clock(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

fn parse_range(s: &str) -> Result<MinuteRange, &'static str> {
    let (a, b) = s
        .split_once('-')
        .ok_or("expected a time range like 09:00-18:00")?;
    let start = parse_clock(a.trim()).ok_or("times are HH:MM, 00:00 to 24:00")?;
    let end = parse_clock(b.trim()).ok_or("times are HH:MM, 00:00 to 24:00")?;
    if start >= end {
        return Err(
            "a range must end after it starts and may not cross midnight (split it into two days)",
        );
    }
    if start == 1440 {
        return Err("a range cannot start at 24:00");
    }
    Ok(MinuteRange { start, end })
}

fn merge(ranges: &mut Vec<MinuteRange>) {
    ranges.sort_unstable();
    let mut out: Vec<MinuteRange> = Vec::with_capacity(ranges.len());
    for r in ranges.drain(..) {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    *ranges = out;
}

impl QuietHours {
    pub fn parse(raw: &str) -> Result<Self, QuietHoursError> {
        let lower = raw.trim().to_lowercase();
        if lower.is_empty() {
            return Err(QuietHoursError::Empty);
        }
        let mut days: [Vec<MinuteRange>; 7] = Default::default();
        for entry in lower.split(',') {
            let entry = entry.trim();
            let err = |why| QuietHoursError::Entry {
                entry: entry.chars().take(60).collect(),
                why,
            };
            let mut words = entry.split_whitespace();
            let day_spec = words
                .next()
                .ok_or_else(|| err("an entry needs days and a time range"))?;
            let which = parse_days(day_spec).ok_or_else(|| {
                err("days are mon..sun, a range like mon-fri, daily, weekdays or weekends")
            })?;
            let mut ranges = Vec::new();
            for w in words {
                ranges.push(parse_range(w).map_err(err)?);
            }
            if ranges.is_empty() {
                return Err(err("an entry needs days and a time range"));
            }
            for d in which {
                if let Some(slot) = days.get_mut(d) {
                    slot.extend(ranges.iter().copied());
                }
            }
        }
        for d in &mut days {
            merge(d);
        }
        Ok(QuietHours { days })
    }

    /// The allowed windows on a weekday.
    pub fn ranges(&self, day: Weekday) -> &[MinuteRange] {
        let i = usize::try_from(day.to_monday_zero_offset()).unwrap_or(0);
        self.days.get(i).map_or(&[], Vec::as_slice)
    }

    /// Whether sending is allowed at `minute` after local midnight on `day`.
    pub fn allows(&self, day: Weekday, minute: u16) -> bool {
        self.ranges(day)
            .iter()
            .any(|r| (r.start..r.end).contains(&minute))
    }

    /// Every minute-of-day at which the setting opens or closes, for the window search.
    pub fn boundaries(&self) -> impl Iterator<Item = u16> + '_ {
        self.days.iter().flatten().flat_map(|r| [r.start, r.end])
    }

    /// True when no day has any window: nothing can ever be sent.
    pub fn is_never(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }
}

impl FromStr for QuietHours {
    type Err = QuietHoursError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QuietHours::parse(s)
    }
}

fn clock(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Canonical form: consecutive days with identical windows are grouped ("mon-fri 09:00-18:00").
impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries = Vec::new();
        let mut i = 0;
        while i < 7 {
            let Some(ranges) = self.days.get(i) else {
                break;
            };
            let mut j = i;
            while j + 1 < 7 && self.days.get(j + 1) == Some(ranges) {
                j += 1;
            }
            if !ranges.is_empty() {
                let days = if i == j {
                    DAY_NAMES.get(i).copied().unwrap_or_default().to_owned()
                } else {
                    format!(
                        "{}-{}",
                        DAY_NAMES.get(i).copied().unwrap_or_default(),
                        DAY_NAMES.get(j).copied().unwrap_or_default()
                    )
                };
                let times: Vec<String> = ranges
                    .iter()
                    .map(|r| format!("{}-{}", clock(r.start), clock(r.end)))
                    .collect();
                entries.push(format!("{days} {}", times.join(" ")));
            }
            i = j + 1;
        }
        f.write_str(&entries.join(","))
    }
}

impl Serialize for QuietHours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for QuietHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        QuietHours::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_example() {
        let q = QuietHours::parse("mon-fri 09:00-18:00,sat 10:00-14:00").unwrap();
        assert!(q.allows(Weekday::Monday, 9 * 60));
        assert!(q.allows(Weekday::Friday, 18 * 60 - 1));
        assert!(!q.allows(Weekday::Friday, 18 * 60));
        assert!(!q.allows(Weekday::Tuesday, 8 * 60 + 59));
        assert!(q.allows(Weekday::Saturday, 13 * 60 + 59));
        assert!(!q.allows(Weekday::Saturday, 14 * 60));
        assert!(!q.allows(Weekday::Sunday, 12 * 60));
        assert_eq!(q.to_string(), "mon-fri 09:00-18:00,sat 10:00-14:00");
    }

    #[test]
    fn flexible_forms() {
        let q =
            QuietHours::parse("  Weekdays 09:00-12:00 13:00-17:30 , SUNDAY 10:00-24:00 ").unwrap();
        assert!(!q.allows(Weekday::Wednesday, 12 * 60 + 30));
        assert!(q.allows(Weekday::Sunday, 23 * 60 + 59));
        assert_eq!(
            q.to_string(),
            "mon-fri 09:00-12:00 13:00-17:30,sun 10:00-24:00"
        );
        let wrap = QuietHours::parse("fri-mon 10:00-11:00").unwrap();
        assert_eq!(wrap.to_string(), "mon 10:00-11:00,fri-sun 10:00-11:00");
        let merged =
            QuietHours::parse("mon 09:00-12:00,mon 11:00-14:00,daily 20:00-21:00").unwrap();
        assert_eq!(
            merged.ranges(Weekday::Monday),
            &[
                MinuteRange {
                    start: 540,
                    end: 840
                },
                MinuteRange {
                    start: 1200,
                    end: 1260
                }
            ]
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "   ",
            "mon-fri",
            "mon-fri 9-18",
            "mon-fri 18:00-09:00",
            "mon-fri 22:00-02:00",
            "funday 09:00-10:00",
            "mon 09:00-25:00",
            "mon 09:60-10:00",
            "mon 09:00-10:00,",
            "mon 24:00-24:00",
            "mon 09:00–10:00", // en dash
        ] {
            assert!(QuietHours::parse(bad).is_err(), "{bad:?}");
        }
        let e = QuietHours::parse("mon-fri 9-18").unwrap_err().to_string();
        assert!(e.contains("mon-fri 9-18"), "{e}");
    }

    fn arb_hours() -> impl Strategy<Value = QuietHours> {
        let range = (0u16..1440, 1u16..=1440).prop_filter_map("ordered", |(a, b)| {
            (a < b).then_some(MinuteRange { start: a, end: b })
        });
        proptest::collection::vec(proptest::collection::vec(range, 0..3), 7).prop_map(|v| {
            let mut days: [Vec<MinuteRange>; 7] = Default::default();
            for (d, mut r) in days.iter_mut().zip(v) {
                merge(&mut r);
                *d = r;
            }
            QuietHours { days }
        })
    }

    proptest! {
        #[test]
        fn display_round_trips(q in arb_hours()) {
            prop_assume!(!q.is_never());
            prop_assert_eq!(QuietHours::parse(&q.to_string()), Ok(q.clone()));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,60}") {
            let _ = QuietHours::parse(&s);
        }
    }
}
