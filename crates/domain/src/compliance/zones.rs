//! Which time zones a lead may be in (reference §3): from the number's area code (NPA), any
//! address state on the lead record, or an explicit zone that overrides both.
//!
//! Conservative practice (§3.3): an area code that spans zones counts as **all** of them (the
//! NPA-wide union, never the NXX-level guess); an overlay shares its parent's footprint, so the
//! overlay group is unioned; a handful of documented overrides patch the data; and an unknown,
//! invalid, toll-free or non-NANP number gets the zones of the 50 states and DC. The window logic
//! then intersects over every candidate zone.

use super::states::UsState;
use jiff::tz::TimeZone;
use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use crate::E164Phone;

/// The embedded area-code table (derived from libphonenumber, Apache-2.0; see its header).
pub const AREA_CODE_DATA: &str = include_str!("../../data/nanp-area-codes.tsv");

/// The zones of the 50 states and DC, used when the number says nothing. Guam and the Northern
/// Marianas (UTC+10) are deliberately absent: with them the intersection would be empty.
pub const US_ZONES: &[&str] = &[
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Adak",
    "Pacific/Honolulu",
];

/// Overlay groups whose members share one footprint but carry fewer zones in the data
/// (reference §3.2): every member gets the union of the group. A member the data does not list
/// yet (729, the planned 423 overlay) stays unknown until it does (reference §3.3 vector).
pub const OVERLAY_GROUPS: &[&[&str]] = &[
    &["850", "448"],
    &["270", "364"],
    &["812", "930"],
    &["541", "458"],
    &["208", "986"],
    &["423", "729"],
];

/// A correction to the data for one area code.
#[derive(Clone, Copy, Debug)]
pub struct ZoneOverride {
    pub npa: &'static str,
    pub add: &'static [&'static str],
    pub remove: &'static [&'static str],
    pub why: &'static str,
}

/// Manual corrections (reference §3.2, "maintained override list").
pub const ZONE_OVERRIDES: &[ZoneOverride] = &[
    ZoneOverride {
        npa: "907",
        add: &[],
        remove: &["Pacific/Honolulu"],
        why: "no part of Alaska keeps Hawaii time; the entry comes from usage statistics",
    },
    ZoneOverride {
        npa: "432",
        add: &["America/Denver"],
        why: "parts of West Texas unofficially keep Mountain time",
        remove: &[],
    },
    ZoneOverride {
        npa: "580",
        add: &["America/Denver"],
        why: "the Oklahoma panhandle unofficially keeps Mountain time",
        remove: &[],
    },
    ZoneOverride {
        npa: "334",
        add: &["America/New_York"],
        why: "Phenix City, Alabama unofficially keeps Eastern time",
        remove: &[],
    },
];

/// NANP toll-free codes: not geographic, so the zone is unknown.
pub const TOLL_FREE: &[&str] = &["800", "833", "844", "855", "866", "877", "888"];

/// One row of the area-code table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AreaCode {
    pub npa: &'static str,
    /// ISO country: US, CA, PR, JM, ...
    pub country: &'static str,
    /// The US state or territory, when the code is American.
    pub state: Option<UsState>,
    pub zones: Vec<&'static str>,
    pub description: &'static str,
}

/// A row that could not be read, reported by [`parse_area_codes`] so tests can insist on none.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRow {
    pub line: usize,
    pub text: &'static str,
}

/// Parses the TSV (comment lines start with `#`, the first other line is the header).
pub fn parse_area_codes(data: &'static str) -> (Vec<AreaCode>, Vec<BadRow>) {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut header_seen = false;
    for (i, line) in data.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header_seen {
            header_seen = true;
            continue;
        }
        let cols: Vec<&'static str> = line.split('\t').collect();
        let (Some(npa), Some(country), Some(region), Some(zones)) =
            (cols.first(), cols.get(1), cols.get(2), cols.get(3))
        else {
            bad.push(BadRow {
                line: i + 1,
                text: line,
            });
            continue;
        };
        if npa.len() != 3 || !npa.bytes().all(|b| b.is_ascii_digit()) || zones.is_empty() {
            bad.push(BadRow {
                line: i + 1,
                text: line,
            });
            continue;
        }
        // Territories carry their own ISO code and no region; they are USPS "states" too.
        let state = match *country {
            "US" => UsState::parse(region).ok(),
            "PR" | "VI" | "GU" | "AS" | "MP" => UsState::parse(country).ok(),
            _ => None,
        };
        rows.push(AreaCode {
            npa,
            country,
            state,
            zones: zones
                .split(',')
                .map(str::trim)
                .filter(|z| !z.is_empty())
                .collect(),
            description: cols.get(4).copied().unwrap_or_default(),
        });
    }
    (rows, bad)
}

static AREA_CODES: LazyLock<HashMap<&'static str, AreaCode>> = LazyLock::new(|| {
    parse_area_codes(AREA_CODE_DATA)
        .0
        .into_iter()
        .map(|r| (r.npa, r))
        .collect()
});

/// The raw table row for an area code.
pub fn area_code(npa: &str) -> Option<&'static AreaCode> {
    AREA_CODES.get(npa)
}

/// Where the number places the lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneLocation {
    /// Candidate zones, sorted by name.
    pub zones: BTreeSet<&'static str>,
    /// The area code's state, for US numbers.
    pub state: Option<UsState>,
    /// False when the zones are the unknown-number fallback.
    pub known: bool,
    /// How the zones were found, for the decision's audit trail.
    pub notes: Vec<String>,
}

fn unknown(why: String) -> PhoneLocation {
    PhoneLocation {
        zones: US_ZONES.iter().copied().collect(),
        state: None,
        known: false,
        notes: vec![format!(
            "{why}: time zone unknown, using the zones of the 50 states and DC"
        )],
    }
}

/// The candidate zones and state of an area code, overlays and overrides applied.
pub fn locate_area_code(npa: &str) -> PhoneLocation {
    if TOLL_FREE.contains(&npa) {
        return unknown(format!("area code {npa} is toll-free"));
    }
    let Some(row) = area_code(npa) else {
        return unknown(format!("area code {npa} is not in the area-code data"));
    };
    let group: &[&str] = OVERLAY_GROUPS
        .iter()
        .copied()
        .find(|g| g.contains(&npa))
        .unwrap_or(&[]);
    let mut zones: BTreeSet<&'static str> = row.zones.iter().copied().collect();
    zones.extend(
        group
            .iter()
            .filter_map(|m| area_code(m))
            .flat_map(|m| m.zones.iter().copied()),
    );
    let mut notes = Vec::new();
    if group.is_empty() {
        notes.push(format!("zones from area code {npa}"));
    } else {
        notes.push(format!(
            "zones from area code {npa} and its overlay group {}",
            group.join("/")
        ));
    }
    for o in ZONE_OVERRIDES.iter().filter(|o| o.npa == npa) {
        zones.extend(o.add.iter().copied());
        zones.retain(|z| !o.remove.contains(z));
        notes.push(format!("area code {npa} override: {}", o.why));
    }
    PhoneLocation {
        zones,
        state: row.state,
        known: true,
        notes,
    }
}

/// The candidate zones and state of a phone number.
pub fn locate_phone(phone: &E164Phone) -> PhoneLocation {
    match phone.area_code() {
        Some(npa) => locate_area_code(npa),
        None => unknown("not a North American (+1) number".to_owned()),
    }
}

static STATE_ZONES: LazyLock<HashMap<UsState, BTreeSet<&'static str>>> = LazyLock::new(|| {
    let mut map: HashMap<UsState, BTreeSet<&'static str>> = HashMap::new();
    for row in AREA_CODES.values() {
        if let Some(s) = row.state {
            map.entry(s)
                .or_default()
                .extend(locate_area_code(row.npa).zones);
        }
    }
    map
});

/// Every zone any area code of the state uses (an address state adds these candidates).
pub fn zones_for_state(state: UsState) -> BTreeSet<&'static str> {
    STATE_ZONES
        .get(&state)
        .cloned()
        .unwrap_or_else(|| US_ZONES.iter().copied().collect())
}

static TIME_ZONES: LazyLock<HashMap<&'static str, TimeZone>> = LazyLock::new(|| {
    AREA_CODES
        .values()
        .flat_map(|r| r.zones.iter().copied())
        .chain(US_ZONES.iter().copied())
        .chain(ZONE_OVERRIDES.iter().flat_map(|o| o.add.iter().copied()))
        .filter_map(|name| TimeZone::get(name).ok().map(|tz| (name, tz)))
        .collect()
});

/// The tzdb zone for a name, cached for the names in the data.
pub fn time_zone(name: &str) -> Option<TimeZone> {
    TIME_ZONES
        .get(name)
        .cloned()
        .or_else(|| TimeZone::get(name).ok())
}

/// An IANA zone name that the bundled tzdb does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a known IANA time zone (e.g. America/Chicago)")]
pub struct InvalidTimeZone(pub String);

/// Parses an explicit zone given by a user or lead record.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, InvalidTimeZone> {
    let name = name.trim();
    if name.is_empty() {
        return Err(InvalidTimeZone(String::new()));
    }
    TimeZone::get(name).map_err(|_| InvalidTimeZone(name.chars().take(60).collect()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn zones(phone: &str) -> Vec<&'static str> {
        locate_phone(&E164Phone::parse(phone).unwrap())
            .zones
            .into_iter()
            .collect()
    }

    fn set(z: &[&'static str]) -> Vec<&'static str> {
        let mut v = z.to_vec();
        v.sort_unstable();
        v
    }

    #[test]
    fn data_parses_completely_and_every_zone_exists() {
        let (rows, bad) = parse_area_codes(AREA_CODE_DATA);
        assert!(bad.is_empty(), "{bad:?}");
        assert!(rows.len() > 400);
        assert!(
            AREA_CODE_DATA.contains("Apache License 2.0"),
            "attribution kept"
        );
        for r in &rows {
            for z in &r.zones {
                assert!(TimeZone::get(z).is_ok(), "{} {z}", r.npa);
            }
            if r.country == "US" {
                assert!(r.state.is_some(), "US row without state: {}", r.npa);
            }
        }
        for z in US_ZONES {
            assert!(time_zone(z).is_some());
        }
    }

    /// Reference §3.3 time-zone vectors (engine column).
    #[test]
    fn reference_zone_vectors() {
        let ny = "America/New_York";
        let chi = "America/Chicago";
        assert_eq!(zones("+12125550123"), set(&[ny]));
        assert_eq!(zones("+18505551234"), set(&[ny, chi]));
        assert_eq!(zones("+18504331234"), set(&[ny, chi]));
        assert_eq!(zones("+14485551234"), set(&[ny, chi]));
        assert_eq!(zones("+13645551234"), set(&[ny, chi]));
        assert_eq!(zones("+14235551234"), set(&[chi, ny]));
        assert_eq!(
            zones("+19285551234"),
            set(&["America/Phoenix", "America/Denver"])
        );
        assert_eq!(
            zones("+12085551234"),
            set(&["America/Boise", "America/Denver", "America/Los_Angeles"])
        );
        assert_eq!(zones("+17295551234"), set(US_ZONES));
        assert_eq!(zones("+18005551234"), set(US_ZONES));
    }

    #[test]
    fn overlays_share_the_parent_footprint() {
        for group in OVERLAY_GROUPS {
            let sets: Vec<_> = group
                .iter()
                .filter(|npa| area_code(npa).is_some())
                .map(|npa| locate_area_code(npa).zones)
                .collect();
            assert!(sets.windows(2).all(|w| w[0] == w[1]), "{group:?}");
            assert!(sets[0].len() > 1, "{group:?}");
        }
        assert_eq!(locate_area_code("458").zones, locate_area_code("541").zones);
        assert_eq!(locate_area_code("986").state.map(UsState::code), Some("ID"));
        assert!(
            !locate_area_code("729").known,
            "not in service in the data yet"
        );
    }

    #[test]
    fn states_and_unknowns() {
        let loc = locate_phone(&E164Phone::parse("+15125550123").unwrap());
        assert_eq!(loc.state.map(UsState::code), Some("TX"));
        assert!(loc.known);
        let pr = locate_phone(&E164Phone::parse("+17875550123").unwrap());
        assert_eq!(pr.state.map(UsState::code), Some("PR"));
        let ca = locate_phone(&E164Phone::parse("+14165550123").unwrap());
        assert_eq!(ca.state, None);
        assert_eq!(
            ca.zones.into_iter().collect::<Vec<_>>(),
            vec!["America/Toronto"]
        );
        let uk = locate_phone(&E164Phone::parse("+442079460958").unwrap());
        assert!(!uk.known);
        assert_eq!(uk.zones.len(), US_ZONES.len());
        let ak = locate_phone(&E164Phone::parse("+19075550123").unwrap());
        assert!(!ak.zones.contains("Pacific/Honolulu"));
        assert!(ak.zones.contains("America/Adak"));
    }

    #[test]
    fn state_zone_sets() {
        let tx = zones_for_state(UsState::parse("TX").unwrap());
        assert!(tx.contains("America/Chicago") && tx.contains("America/Denver"));
        let ny = zones_for_state(UsState::parse("NY").unwrap());
        assert_eq!(ny.into_iter().collect::<Vec<_>>(), vec!["America/New_York"]);
    }

    #[test]
    fn explicit_zone_parsing() {
        assert!(parse_time_zone("America/Chicago").is_ok());
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert!(parse_time_zone("").is_err());
    }
}
