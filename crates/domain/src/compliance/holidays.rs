//! Holiday calendars that state rules ban solicitations on (reference §2.2), computed per year
//! from rules rather than stored as dates, so they never run out.
//!
//! Policy: a fixed-date holiday that falls on a weekend counts on its own date **and** on its
//! observed weekday (Saturday → Friday, Sunday → Monday; 5 U.S.C. §6103(b), Ala. Code §1-3-8).
//! Statutes differ on which of the two they mean; banning both is the conservative reading.

use jiff::Span;
use jiff::civil::{Date, Weekday};

/// How a holiday's date is found in a given year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HolidayDate {
    /// A fixed month and day; also observed on the nearest weekday when it falls on a weekend.
    Fixed { month: i8, day: i8 },
    /// The `n`th given weekday of a month (third Monday in January is `n = 3`).
    Nth { month: i8, weekday: Weekday, n: i8 },
    /// The last given weekday of a month (Memorial Day).
    Last { month: i8, weekday: Weekday },
    /// Days from Western (Gregorian) Easter Sunday: Good Friday is -2, Mardi Gras -47.
    Easter { offset: i16 },
    /// The Tuesday after the first Monday in November; `even_years_only` for general elections.
    ElectionDay { even_years_only: bool },
}

/// One holiday of a calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holiday {
    pub name: &'static str,
    pub date: HolidayDate,
    /// First year the holiday exists (Juneteenth: 2021).
    pub since: i16,
}

/// A named list of holidays, e.g. the federal calendar or Pennsylvania's telemarketing list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HolidayCalendar {
    pub name: &'static str,
    pub holidays: &'static [Holiday],
}

/// A holiday found on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HolidayHit {
    pub name: &'static str,
    /// True when the date is the weekday on which a weekend holiday is observed.
    pub observed: bool,
}

impl std::fmt::Display for HolidayHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.observed {
            write!(f, "{} (observed)", self.name)
        } else {
            f.write_str(self.name)
        }
    }
}

const fn fixed(name: &'static str, month: i8, day: i8) -> Holiday {
    Holiday {
        name,
        date: HolidayDate::Fixed { month, day },
        since: 1900,
    }
}

const fn nth(name: &'static str, month: i8, weekday: Weekday, n: i8) -> Holiday {
    Holiday {
        name,
        date: HolidayDate::Nth { month, weekday, n },
        since: 1900,
    }
}

const fn last(name: &'static str, month: i8, weekday: Weekday) -> Holiday {
    Holiday {
        name,
        date: HolidayDate::Last { month, weekday },
        since: 1900,
    }
}

const fn easter(name: &'static str, offset: i16) -> Holiday {
    Holiday {
        name,
        date: HolidayDate::Easter { offset },
        since: 1900,
    }
}

const fn since(mut holiday: Holiday, year: i16) -> Holiday {
    holiday.since = year;
    holiday
}

const NEW_YEAR: Holiday = fixed("New Year's Day", 1, 1);
const MLK: Holiday = since(
    nth("Martin Luther King Jr. Day", 1, Weekday::Monday, 3),
    1986,
);
const PRESIDENTS: Holiday = nth("Washington's Birthday", 2, Weekday::Monday, 3);
const MEMORIAL: Holiday = last("Memorial Day", 5, Weekday::Monday);
const JUNETEENTH: Holiday = since(fixed("Juneteenth", 6, 19), 2021);
const INDEPENDENCE: Holiday = fixed("Independence Day", 7, 4);
const LABOR: Holiday = nth("Labor Day", 9, Weekday::Monday, 1);
const COLUMBUS: Holiday = nth("Columbus Day", 10, Weekday::Monday, 2);
const VETERANS: Holiday = fixed("Veterans Day", 11, 11);
const THANKSGIVING: Holiday = nth("Thanksgiving Day", 11, Weekday::Thursday, 4);
const CHRISTMAS: Holiday = fixed("Christmas Day", 12, 25);
const GOOD_FRIDAY: Holiday = easter("Good Friday", -2);
const MARDI_GRAS: Holiday = easter("Mardi Gras", -47);

/// US federal holidays, 5 U.S.C. §6103(a).
pub const FEDERAL: HolidayCalendar = HolidayCalendar {
    name: "US federal holidays",
    holidays: &[
        NEW_YEAR,
        MLK,
        PRESIDENTS,
        MEMORIAL,
        JUNETEENTH,
        INDEPENDENCE,
        LABOR,
        COLUMBUS,
        VETERANS,
        THANKSGIVING,
        CHRISTMAS,
    ],
};

/// Rhode Island: "state or federal holidays" (R.I. Gen. Laws §5-61-2, §25-1-1): the federal list
/// plus Victory Day and general-election days.
pub const RHODE_ISLAND: HolidayCalendar = HolidayCalendar {
    name: "Rhode Island and federal holidays",
    holidays: &[
        NEW_YEAR,
        MLK,
        PRESIDENTS,
        MEMORIAL,
        JUNETEENTH,
        INDEPENDENCE,
        nth("Victory Day", 8, Weekday::Monday, 2),
        LABOR,
        COLUMBUS,
        Holiday {
            name: "General Election Day",
            date: HolidayDate::ElectionDay {
                even_years_only: true,
            },
            since: 1900,
        },
        VETERANS,
        THANKSGIVING,
        CHRISTMAS,
    ],
};

/// Utah "legal holidays" (Utah Code §63G-1-301): the federal list plus Pioneer Day.
pub const UTAH: HolidayCalendar = HolidayCalendar {
    name: "Utah legal holidays",
    holidays: &[
        NEW_YEAR,
        MLK,
        PRESIDENTS,
        MEMORIAL,
        JUNETEENTH,
        INDEPENDENCE,
        fixed("Pioneer Day", 7, 24),
        LABOR,
        COLUMBUS,
        VETERANS,
        THANKSGIVING,
        CHRISTMAS,
    ],
};

/// Alabama state holidays (Ala. Code §1-3-8): the federal list plus the state-only days.
/// Mardi Gras is a holiday only in Mobile and Baldwin counties; without a county we apply it
/// state-wide (conservative).
pub const ALABAMA: HolidayCalendar = HolidayCalendar {
    name: "Alabama state holidays",
    holidays: &[
        NEW_YEAR,
        MLK,
        PRESIDENTS,
        MARDI_GRAS,
        nth("Confederate Memorial Day", 4, Weekday::Monday, 4),
        MEMORIAL,
        nth("Jefferson Davis' Birthday", 6, Weekday::Monday, 1),
        JUNETEENTH,
        INDEPENDENCE,
        LABOR,
        COLUMBUS,
        VETERANS,
        THANKSGIVING,
        CHRISTMAS,
    ],
};

/// Louisiana legal holidays (La. R.S. 1:55) as used by LPSC General Order R-29617: the federal
/// list plus Mardi Gras and Good Friday. Days the governor declares ad hoc cannot be computed.
pub const LOUISIANA: HolidayCalendar = HolidayCalendar {
    name: "Louisiana legal holidays",
    holidays: &[
        NEW_YEAR,
        MLK,
        PRESIDENTS,
        MARDI_GRAS,
        GOOD_FRIDAY,
        MEMORIAL,
        JUNETEENTH,
        INDEPENDENCE,
        LABOR,
        COLUMBUS,
        VETERANS,
        THANKSGIVING,
        CHRISTMAS,
    ],
};

/// Pennsylvania's telephone-solicitation holiday list (73 P.S. §2245, 2019 amendment): exactly the
/// listed days, which include Good Friday, Flag Day and Election Day but not Juneteenth.
pub const PENNSYLVANIA: HolidayCalendar = HolidayCalendar {
    name: "Pennsylvania telemarketing holidays",
    holidays: &[
        NEW_YEAR,
        MLK,
        PRESIDENTS,
        GOOD_FRIDAY,
        MEMORIAL,
        fixed("Flag Day", 6, 14),
        INDEPENDENCE,
        LABOR,
        COLUMBUS,
        Holiday {
            name: "Election Day",
            date: HolidayDate::ElectionDay {
                even_years_only: false,
            },
            since: 1900,
        },
        VETERANS,
        THANKSGIVING,
        CHRISTMAS,
    ],
};

/// Western Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher).
pub fn easter_sunday(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

fn add_days(d: Date, days: i64) -> Option<Date> {
    d.checked_add(Span::new().try_days(days).ok()?).ok()
}

/// The actual date of `holiday` in `year`, if it exists that year.
fn actual_date(holiday: &Holiday, year: i16) -> Option<Date> {
    if year < holiday.since {
        return None;
    }
    match holiday.date {
        HolidayDate::Fixed { month, day } => Date::new(year, month, day).ok(),
        HolidayDate::Nth { month, weekday, n } => Date::new(year, month, 1)
            .ok()?
            .nth_weekday_of_month(n, weekday)
            .ok(),
        HolidayDate::Last { month, weekday } => Date::new(year, month, 1)
            .ok()?
            .nth_weekday_of_month(-1, weekday)
            .ok(),
        HolidayDate::Easter { offset } => add_days(easter_sunday(year)?, i64::from(offset)),
        HolidayDate::ElectionDay { even_years_only } => {
            if even_years_only && year % 2 != 0 {
                return None;
            }
            let first_monday = Date::new(year, 11, 1)
                .ok()?
                .nth_weekday_of_month(1, Weekday::Monday)
                .ok()?;
            add_days(first_monday, 1)
        }
    }
}

/// The weekday a weekend fixed-date holiday is observed on.
fn observed_date(holiday: &Holiday, actual: Date) -> Option<Date> {
    if !matches!(holiday.date, HolidayDate::Fixed { .. }) {
        return None;
    }
    match actual.weekday() {
        Weekday::Saturday => add_days(actual, -1),
        Weekday::Sunday => add_days(actual, 1),
        _ => None,
    }
}

impl HolidayCalendar {
    /// Every banned date whose actual or observed date falls in `year`, with its name. A holiday of
    /// the next year can be observed in this one (New Year's Day on a Saturday → December 31).
    pub fn dates_in_year(&self, year: i16) -> Vec<(Date, HolidayHit)> {
        let mut out = Vec::new();
        for y in [year, year.saturating_add(1)] {
            for holiday in self.holidays {
                let Some(actual) = actual_date(holiday, y) else {
                    continue;
                };
                if actual.year() == year {
                    out.push((
                        actual,
                        HolidayHit {
                            name: holiday.name,
                            observed: false,
                        },
                    ));
                }
                if let Some(obs) = observed_date(holiday, actual).filter(|d| d.year() == year) {
                    out.push((
                        obs,
                        HolidayHit {
                            name: holiday.name,
                            observed: true,
                        },
                    ));
                }
            }
        }
        out.sort_by_key(|(d, _)| *d);
        out
    }

    /// The holiday on `day`, if any.
    pub fn holiday_on(&self, day: Date) -> Option<HolidayHit> {
        self.dates_in_year(day.year())
            .into_iter()
            .find(|(d, _)| *d == day)
            .map(|(_, hit)| hit)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use jiff::civil::date;

    fn names(cal: &HolidayCalendar, y: i16) -> Vec<String> {
        cal.dates_in_year(y)
            .iter()
            .map(|(d, h)| format!("{d} {h}"))
            .collect()
    }

    #[test]
    fn easter_known_years() {
        for (y, m, d) in [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
            (2000, 4, 23),
        ] {
            assert_eq!(easter_sunday(y), Some(date(y, m, d)), "{y}");
        }
    }

    #[test]
    fn federal_2026_with_observed_days() {
        let got = names(&FEDERAL, 2026);
        let want = [
            "2026-01-01 New Year's Day",
            "2026-01-19 Martin Luther King Jr. Day",
            "2026-02-16 Washington's Birthday",
            "2026-05-25 Memorial Day",
            "2026-06-19 Juneteenth",
            "2026-07-03 Independence Day (observed)",
            "2026-07-04 Independence Day",
            "2026-09-07 Labor Day",
            "2026-10-12 Columbus Day",
            "2026-11-11 Veterans Day",
            "2026-11-26 Thanksgiving Day",
            "2026-12-25 Christmas Day",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn new_year_on_saturday_is_observed_the_previous_december() {
        // 2022-01-01 was a Saturday: observed Friday 2021-12-31.
        assert_eq!(
            FEDERAL.holiday_on(date(2021, 12, 31)),
            Some(HolidayHit {
                name: "New Year's Day",
                observed: true
            })
        );
        // Christmas 2022 on a Sunday → Monday 26th.
        assert_eq!(
            FEDERAL.holiday_on(date(2022, 12, 26)).map(|h| h.observed),
            Some(true)
        );
        assert_eq!(FEDERAL.holiday_on(date(2022, 12, 27)), None);
    }

    #[test]
    fn juneteenth_only_since_2021() {
        assert!(FEDERAL.holiday_on(date(2020, 6, 19)).is_none());
        assert!(FEDERAL.holiday_on(date(2021, 6, 18)).is_some()); // 2021-06-19 was a Saturday
    }

    #[test]
    fn pennsylvania_list() {
        assert_eq!(
            PENNSYLVANIA.holiday_on(date(2026, 4, 3)).map(|h| h.name),
            Some("Good Friday")
        );
        assert_eq!(
            PENNSYLVANIA.holiday_on(date(2026, 6, 15)).map(|h| h.name),
            Some("Flag Day")
        ); // Sun 14th
        assert_eq!(
            PENNSYLVANIA.holiday_on(date(2026, 11, 3)).map(|h| h.name),
            Some("Election Day")
        );
        assert_eq!(
            PENNSYLVANIA.holiday_on(date(2027, 11, 2)).map(|h| h.name),
            Some("Election Day")
        );
        assert!(
            PENNSYLVANIA.holiday_on(date(2026, 6, 19)).is_none(),
            "Juneteenth is not on the PA list"
        );
    }

    #[test]
    fn state_extras() {
        assert_eq!(
            RHODE_ISLAND.holiday_on(date(2026, 8, 10)).map(|h| h.name),
            Some("Victory Day")
        );
        assert!(RHODE_ISLAND.holiday_on(date(2026, 11, 3)).is_some());
        assert!(
            RHODE_ISLAND.holiday_on(date(2027, 11, 2)).is_none(),
            "odd year: no general election"
        );
        assert_eq!(
            UTAH.holiday_on(date(2026, 7, 24)).map(|h| h.name),
            Some("Pioneer Day")
        );
        assert_eq!(
            LOUISIANA.holiday_on(date(2026, 2, 17)).map(|h| h.name),
            Some("Mardi Gras")
        );
        assert_eq!(
            ALABAMA.holiday_on(date(2026, 4, 27)).map(|h| h.name),
            Some("Confederate Memorial Day")
        );
        assert_eq!(
            ALABAMA.holiday_on(date(2026, 6, 1)).map(|h| h.name),
            Some("Jefferson Davis' Birthday")
        );
    }
}
