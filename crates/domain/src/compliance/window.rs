//! The send-window decision: may this message go to this lead now, and if not, when?
//!
//! [`decide`] is a pure function of a [`WindowRequest`] (lead, account settings, message kind,
//! recent sends and the instant). It
//!
//! 1. finds the candidate zones (explicit zone, else area code ∪ address state; [`super::zones`])
//!    and states (area-code state ∪ address state);
//! 2. collects the rules in force: the federal 08:00–21:00 window, every state row of the table
//!    ([`super::states`]), the account's own quiet hours, and the FL/OK/MD caps;
//! 3. allows an instant only if, in **every** candidate zone, every rule's window holds on that
//!    local day (Sunday and holiday bans judged on the local date) and every cap has room;
//! 4. otherwise searches forward, at most [`SEARCH_HORIZON_DAYS`], for the earliest allowed
//!    instant. The predicate only turns true at a local window boundary, a local midnight, a DST
//!    transition or a cap release, so those instants are the only candidates checked; all are whole
//!    minutes, which makes the answer minute-exact.
//!
//! Message kinds: transactional/compliance replies (STOP confirmation, HELP answer) are never held;
//! marketing gets everything; a reply inside a lead-started conversation gets everything too
//! unless the owner enabled the matching named [`Relaxation`]. Opt-out is not checked here: the
//! send gate does that before asking for a window.

use super::holidays::{HolidayCalendar, HolidayHit};
use super::quiet_hours::QuietHours;
use super::states::{Applies, FEDERAL, FrequencyCap, Rule, UsState};
use super::zones::{self, PhoneLocation};
use crate::E164Phone;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How far ahead the search looks before it gives up and blocks.
pub const SEARCH_HORIZON_DAYS: i64 = 14;

/// What kind of message is about to go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Anything that solicits: campaigns, follow-ups the business starts.
    Marketing,
    /// The assistant answering inside a conversation the lead started.
    Reply,
    /// Compliance and transactional replies: STOP confirmation, HELP answer.
    Transactional,
}

/// A legal rule the owner has explicitly chosen to relax. Each is named and narrow; nothing is
/// relaxed by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relaxation {
    /// Replies inside a conversation the lead started are exempt from the legal calling hours and
    /// day/holiday bans (federal and state). Basis: the hour rules cover "telephone
    /// solicitations", which an answer to the lead's own question arguably is not (reference §2.1,
    /// §8 item 6). The owner's own quiet hours still apply.
    RepliesIgnoreLegalHours,
    /// Replies inside a lead-started conversation are not limited by the FL/OK/MD "3 per 24 h"
    /// caps (reference §8 item 5: unsettled whether a two-way chat counts).
    RepliesIgnoreFrequencyCaps,
}

impl Relaxation {
    pub fn describe(self) -> &'static str {
        match self {
            Relaxation::RepliesIgnoreLegalHours => {
                "owner relaxation: replies in a lead-started conversation are exempt from legal calling hours and day bans"
            }
            Relaxation::RepliesIgnoreFrequencyCaps => {
                "owner relaxation: replies in a lead-started conversation are exempt from state frequency caps"
            }
        }
    }
}

/// The account's window settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSettings {
    /// The owner's own sending hours in the lead's local time; `None` disables them.
    pub quiet_hours: Option<QuietHours>,
    /// Legal rules the owner explicitly relaxed.
    pub relaxations: BTreeSet<Relaxation>,
}

/// Everything the decision depends on.
#[derive(Clone, Debug)]
pub struct WindowRequest {
    pub phone: E164Phone,
    /// State of the lead's address, if known.
    pub address_state: Option<UsState>,
    /// A zone known for the lead; overrides the number and address.
    pub time_zone: Option<TimeZone>,
    pub settings: WindowSettings,
    pub kind: MessageKind,
    /// Instants of earlier messages to this lead that count toward caps (same subject; the caller
    /// filters). Sends after `at` are treated as sent at `at`.
    pub recent_sends: Vec<Timestamp>,
    /// Documented prior express consent (Utah's rule binds only without it).
    pub prior_express_consent: bool,
    pub at: Timestamp,
}

impl WindowRequest {
    /// A marketing request with default settings, to be adjusted field by field.
    pub fn new(phone: E164Phone, at: Timestamp) -> Self {
        WindowRequest {
            phone,
            address_state: None,
            time_zone: None,
            settings: WindowSettings::default(),
            kind: MessageKind::Marketing,
            recent_sends: Vec::new(),
            prior_express_consent: false,
            at,
        }
    }
}

/// Send now, later, or never.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum Outcome {
    Send,
    Defer {
        until: Timestamp,
        reasons: Vec<String>,
    },
    Block {
        reasons: Vec<String>,
    },
}

/// The decision with its audit trail (reference §3.3 item 4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// Candidate IANA zones.
    pub zones: Vec<String>,
    /// Candidate states (area code ∪ address).
    pub states: Vec<UsState>,
    /// The area-code state, else the address state.
    pub primary_state: Option<UsState>,
    /// Every rule applied (and every rule deliberately not applied), human-readable.
    pub rules: Vec<String>,
}

impl Decision {
    /// The earliest allowed instant: `at` for send, `until` for defer, none for block.
    pub fn next_allowed_at(&self, at: Timestamp) -> Option<Timestamp> {
        match &self.outcome {
            Outcome::Send => Some(at),
            Outcome::Defer { until, .. } => Some(*until),
            Outcome::Block { .. } => None,
        }
    }
}

/// The rules in force for one request, ready to evaluate at any instant.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub(crate) zones: Vec<(String, TimeZone)>,
    day_rules: Vec<&'static Rule>,
    quiet_hours: Option<QuietHours>,
    caps: Vec<(&'static Rule, FrequencyCap)>,
    /// Newest first, none after the request instant.
    sends: Vec<Timestamp>,
    holidays: Vec<(&'static HolidayCalendar, Vec<(Date, HolidayHit)>)>,
}

fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name()
        .map_or_else(|| "the given time zone".to_owned(), str::to_owned)
}

fn short_day(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

fn add(ts: Timestamp, d: SignedDuration) -> Timestamp {
    ts.checked_add(d).unwrap_or(if d.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// Rounds up to the next whole minute (cap releases land on arbitrary seconds).
fn ceil_minute(ts: Timestamp) -> Timestamp {
    let s = ts.as_second();
    if s.rem_euclid(60) == 0 && ts.subsec_nanosecond() == 0 {
        return ts;
    }
    Timestamp::from_second((s.div_euclid(60) + 1) * 60).unwrap_or(ts)
}

/// What a [`Scope`] is built from: the request with its zones and states resolved.
pub(crate) struct ScopeParts<'a> {
    pub(crate) zones: Vec<(String, TimeZone)>,
    pub(crate) states: &'a [UsState],
    pub(crate) kind: MessageKind,
    pub(crate) settings: &'a WindowSettings,
    pub(crate) recent_sends: &'a [Timestamp],
    pub(crate) prior_express_consent: bool,
    pub(crate) at: Timestamp,
}

impl Scope {
    /// Builds the scope; `rules` receives the audit lines.
    pub(crate) fn build(parts: ScopeParts<'_>, rules: &mut Vec<String>) -> Scope {
        let ScopeParts {
            zones,
            states,
            kind,
            settings,
            recent_sends,
            prior_express_consent,
            at,
        } = parts;
        let mut scope = Scope {
            zones,
            day_rules: Vec::new(),
            quiet_hours: None,
            caps: Vec::new(),
            sends: Vec::new(),
            holidays: Vec::new(),
        };
        if kind == MessageKind::Transactional {
            rules.push(
                "transactional/compliance message: never held by quiet hours or frequency caps"
                    .to_owned(),
            );
            return scope;
        }
        let is_reply = kind == MessageKind::Reply;
        let state_rules: Vec<&'static Rule> =
            states.iter().filter_map(|s| Rule::for_state(*s)).collect();

        if is_reply
            && settings
                .relaxations
                .contains(&Relaxation::RepliesIgnoreLegalHours)
        {
            rules.push(Relaxation::RepliesIgnoreLegalHours.describe().to_owned());
        } else {
            for rule in std::iter::once(&FEDERAL).chain(state_rules.iter().copied()) {
                if rule.applies == Applies::WithoutPriorExpressConsent && prior_express_consent {
                    rules.push(format!(
                        "{} — not applied: prior express consent on record",
                        rule.describe_hours()
                    ));
                    continue;
                }
                rules.push(rule.describe_hours());
                scope.day_rules.push(rule);
            }
        }
        let capped: Vec<&'static Rule> = state_rules
            .iter()
            .copied()
            .filter(|r| r.cap.is_some())
            .collect();
        if !capped.is_empty() {
            if is_reply
                && settings
                    .relaxations
                    .contains(&Relaxation::RepliesIgnoreFrequencyCaps)
            {
                rules.push(Relaxation::RepliesIgnoreFrequencyCaps.describe().to_owned());
            } else {
                for rule in capped {
                    if let (Some(cap), Some(text)) = (rule.cap, rule.describe_cap()) {
                        rules.push(text);
                        scope.caps.push((rule, cap));
                    }
                }
            }
        }
        if let Some(q) = &settings.quiet_hours {
            rules.push(format!("account quiet hours: {q} (lead's local time)"));
            scope.quiet_hours = Some(q.clone());
        }

        let mut sends: Vec<Timestamp> = recent_sends.iter().map(|s| (*s).min(at)).collect();
        sends.sort_unstable_by(|a, b| b.cmp(a));
        scope.sends = sends;

        // Holiday dates for every year the search can touch.
        let year = at.to_zoned(TimeZone::UTC).year();
        for rule in &scope.day_rules {
            if let Some(cal) = rule.holidays
                && !scope.holidays.iter().any(|(c, _)| c.name == cal.name)
            {
                let dates = (year.saturating_sub(1)..=year.saturating_add(1))
                    .flat_map(|y| cal.dates_in_year(y))
                    .collect();
                scope.holidays.push((cal, dates));
            }
        }
        scope
    }

    fn holiday(&self, cal: &'static HolidayCalendar, day: Date) -> Option<HolidayHit> {
        match self.holidays.iter().find(|(c, _)| c.name == cal.name) {
            Some((_, dates)) => dates.iter().find(|(d, _)| *d == day).map(|(_, h)| *h),
            // Not precomputed (no rule in scope uses it): compute directly.
            None => cal.holiday_on(day),
        }
    }

    /// Whether a message may go out at `ts`; with `why`, collects every rule that forbids it.
    fn check(&self, ts: Timestamp, mut why: Option<&mut Vec<String>>) -> bool {
        let mut ok = true;
        for (name, tz) in &self.zones {
            let local = tz.to_datetime(ts);
            let (day, weekday) = (local.date(), local.weekday());
            let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute()))
                .unwrap_or(0);
            let now = || {
                format!(
                    "it is {} {:02}:{:02} in {name}",
                    short_day(weekday),
                    local.hour(),
                    local.minute()
                )
            };
            for rule in &self.day_rules {
                if day < rule.effective {
                    continue;
                }
                let holiday = rule.holidays.and_then(|cal| self.holiday(cal, day));
                let in_hours = rule
                    .hours
                    .for_weekday(weekday)
                    .is_some_and(|h| h.contains(minute));
                if holiday.is_none() && in_hours {
                    continue;
                }
                ok = false;
                let Some(w) = why.as_deref_mut() else {
                    return false;
                };
                w.push(match holiday {
                    Some(hit) => format!(
                        "{}: no messages on {hit} ({}) — {day} in {name}",
                        rule.who(),
                        rule.source
                    ),
                    None => format!("{} — {}", rule.describe_hours(), now()),
                });
            }
            if let Some(q) = &self.quiet_hours
                && !q.allows(weekday, minute)
            {
                ok = false;
                match why.as_deref_mut() {
                    Some(w) => w.push(format!("account quiet hours: {q} — {}", now())),
                    None => return false,
                }
            }
        }
        for (rule, cap) in &self.caps {
            if ts.to_zoned(TimeZone::UTC).date() < rule.effective {
                continue;
            }
            let window = SignedDuration::from_hours(cap.hours);
            let since = add(ts, -window);
            let count = self
                .sends
                .iter()
                .filter(|s| **s > since && **s <= ts)
                .count();
            if count >= cap.max {
                ok = false;
                match why.as_deref_mut() {
                    Some(w) => w.push(format!(
                        "{} — {count} already sent in the {} h before {ts}",
                        rule.describe_cap().unwrap_or_default(),
                        cap.hours
                    )),
                    None => return false,
                }
            }
        }
        ok
    }

    pub(crate) fn allowed(&self, ts: Timestamp) -> bool {
        self.check(ts, None)
    }

    pub(crate) fn violations(&self, ts: Timestamp) -> Vec<String> {
        let mut why = Vec::new();
        self.check(ts, Some(&mut why));
        why
    }

    /// The instants at which the answer can change from "no" to "yes", after `from` and up to
    /// `until`, sorted.
    fn candidates(&self, from: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let mut minutes_of_day: BTreeSet<u16> = BTreeSet::from([0]);
        for rule in &self.day_rules {
            for h in [rule.hours.weekdays, rule.hours.saturday, rule.hours.sunday]
                .into_iter()
                .flatten()
            {
                minutes_of_day.extend([h.start, h.end]);
            }
        }
        if let Some(q) = &self.quiet_hours {
            minutes_of_day.extend(q.boundaries());
        }
        let mut out = Vec::new();
        for (_, tz) in &self.zones {
            let first = tz
                .to_datetime(from)
                .date()
                .yesterday()
                .unwrap_or(tz.to_datetime(from).date());
            let last = tz.to_datetime(until).date();
            let mut day = first;
            while day <= last {
                for m in minutes_of_day.iter().filter(|m| **m < 1440) {
                    let Ok(time) = Time::new(
                        i8::try_from(m / 60).unwrap_or(0),
                        i8::try_from(m % 60).unwrap_or(0),
                        0,
                        0,
                    ) else {
                        continue;
                    };
                    let amb = tz.to_ambiguous_timestamp(day.to_datetime(time));
                    out.extend(amb.earlier().ok());
                    out.extend(amb.later().ok());
                }
                let Ok(next) = day.tomorrow() else { break };
                day = next;
            }
            out.extend(
                tz.following(from)
                    .map(|t| t.timestamp())
                    .take_while(|t| *t <= until),
            );
        }
        for (_, cap) in &self.caps {
            out.extend(
                self.sends
                    .iter()
                    .map(|s| ceil_minute(add(*s, SignedDuration::from_hours(cap.hours)))),
            );
        }
        out.retain(|t| *t > from && *t <= until);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The earliest allowed instant in `(from, from + horizon]`.
    pub(crate) fn next_allowed(&self, from: Timestamp) -> Option<Timestamp> {
        let until = add(from, SignedDuration::from_hours(24 * SEARCH_HORIZON_DAYS));
        self.candidates(from, until)
            .into_iter()
            .find(|t| self.allowed(*t))
    }

    pub(crate) fn decide(&self, at: Timestamp) -> Outcome {
        if self.allowed(at) {
            return Outcome::Send;
        }
        let mut reasons = self.violations(at);
        match self.next_allowed(at) {
            Some(until) => Outcome::Defer { until, reasons },
            None => {
                reasons.push(format!(
                    "no instant in the next {SEARCH_HORIZON_DAYS} days satisfies every rule"
                ));
                Outcome::Block { reasons }
            }
        }
    }
}

/// Candidate zones and states of a request, with the audit notes on how they were found.
struct Located {
    zones: Vec<(String, TimeZone)>,
    states: Vec<UsState>,
    primary: Option<UsState>,
    notes: Vec<String>,
}

fn locate(req: &WindowRequest) -> Located {
    let loc: PhoneLocation = zones::locate_phone(&req.phone);
    let mut notes = Vec::new();
    let zones: Vec<(String, TimeZone)> = match &req.time_zone {
        Some(tz) => {
            notes.push(format!(
                "explicit time zone {} overrides the number and address",
                zone_name(tz)
            ));
            vec![(zone_name(tz), tz.clone())]
        }
        None => {
            notes.extend(loc.notes.iter().cloned());
            let mut names = loc.zones.clone();
            if let Some(s) = req.address_state {
                let extra = zones::zones_for_state(s);
                if !extra.is_subset(&names) {
                    notes.push(format!("plus the zones of the address state {s}"));
                }
                names.extend(extra);
            }
            names
                .into_iter()
                .filter_map(|n| zones::time_zone(n).map(|tz| (n.to_owned(), tz)))
                .collect()
        }
    };
    let mut states: BTreeSet<UsState> = BTreeSet::new();
    states.extend(loc.state);
    states.extend(req.address_state);
    Located {
        zones,
        states: states.into_iter().collect(),
        primary: loc.state.or(req.address_state),
        notes,
    }
}

/// Decides whether a message may be sent now, later or never.
pub fn decide(req: &WindowRequest) -> Decision {
    let Located {
        zones,
        states,
        primary: primary_state,
        notes: mut rules,
    } = locate(req);
    let parts = ScopeParts {
        zones,
        states: &states,
        kind: req.kind,
        settings: &req.settings,
        recent_sends: &req.recent_sends,
        prior_express_consent: req.prior_express_consent,
        at: req.at,
    };
    let scope = Scope::build(parts, &mut rules);
    let outcome = scope.decide(req.at);
    Decision {
        outcome,
        zones: scope.zones.iter().map(|(n, _)| n.clone()).collect(),
        states,
        primary_state,
        rules,
    }
}

#[cfg(test)]
mod tests;
