#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::compliance::zones::{AREA_CODE_DATA, US_ZONES, parse_area_codes};
use proptest::prelude::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn phone(s: &str) -> E164Phone {
    E164Phone::parse(s).unwrap()
}

fn req(p: &str, at: &str) -> WindowRequest {
    WindowRequest::new(phone(p), ts(at))
}

fn until(d: &Decision) -> Timestamp {
    match &d.outcome {
        Outcome::Defer { until, .. } => *until,
        other => panic!("expected defer, got {other:?}"),
    }
}

fn is_send(d: &Decision) -> bool {
    d.outcome == Outcome::Send
}

fn tz_list(names: &[&str]) -> Vec<(String, TimeZone)> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), TimeZone::get(n).unwrap()))
        .collect()
}

fn federal_scope(names: &[&str], at: Timestamp) -> Scope {
    let settings = WindowSettings::default();
    let parts = ScopeParts {
        zones: tz_list(names),
        states: &[],
        kind: MessageKind::Marketing,
        settings: &settings,
        recent_sends: &[],
        prior_express_consent: false,
        at,
    };
    Scope::build(parts, &mut Vec::new())
}

/// The allowed window found by brute force, minute by minute, from `from` (which must be closed).
fn brute_window(scope: &Scope, from: Timestamp) -> (Timestamp, Timestamp) {
    let minute = SignedDuration::from_mins(1);
    assert!(!scope.allowed(from), "scan must start outside the window");
    let mut t = from;
    while !scope.allowed(t) {
        t = add(t, minute);
        assert!(
            t < add(from, SignedDuration::from_hours(48)),
            "no window within 48 h"
        );
    }
    let open = t;
    while scope.allowed(t) {
        t = add(t, minute);
    }
    (open, t)
}

/// Reference §2.3 computed windows: zone sets and rule as the table gives them, checked by brute
/// force and by the engine's own search.
#[test]
fn reference_utc_windows_by_zone_set() {
    let cases: &[(&[&str], &str, &str, &str)] = &[
        (
            &["America/Phoenix", "America/Denver"],
            "2026-07-15T06:00Z",
            "2026-07-15T15:00Z",
            "2026-07-16T03:00Z",
        ),
        (
            &["America/Phoenix", "America/Denver"],
            "2026-01-15T06:00Z",
            "2026-01-15T15:00Z",
            "2026-01-16T04:00Z",
        ),
        (
            &["America/Anchorage", "America/Adak"],
            "2026-07-15T06:00Z",
            "2026-07-15T17:00Z",
            "2026-07-16T05:00Z",
        ),
        (
            &["America/Boise", "America/Los_Angeles"],
            "2026-07-15T06:00Z",
            "2026-07-15T15:00Z",
            "2026-07-16T03:00Z",
        ),
        (
            US_ZONES,
            "2026-07-15T06:00Z",
            "2026-07-15T18:00Z",
            "2026-07-16T01:00Z",
        ),
        (
            &["America/New_York"],
            "2026-03-08T06:00Z",
            "2026-03-08T12:00Z",
            "2026-03-09T01:00Z",
        ),
        (
            &["America/New_York"],
            "2026-11-01T06:00Z",
            "2026-11-01T13:00Z",
            "2026-11-02T02:00Z",
        ),
    ];
    for (zones, from, open, close) in cases {
        let scope = federal_scope(zones, ts(from));
        assert_eq!(
            brute_window(&scope, ts(from)),
            (ts(open), ts(close)),
            "{zones:?} {from}"
        );
        assert_eq!(
            scope.next_allowed(ts(from)),
            Some(ts(open)),
            "{zones:?} {from}"
        );
    }
}

/// The same table through `decide` with real numbers (zones and states from the area code).
#[test]
fn reference_utc_windows_by_number() {
    let cases = [
        (
            "+18505551234",
            "2026-07-15T06:00Z",
            "2026-07-15T13:00Z",
            "2026-07-16T00:00Z",
        ), // FL panhandle, FL 8-20
        (
            "+18505551234",
            "2026-01-15T06:00Z",
            "2026-01-15T14:00Z",
            "2026-01-16T01:00Z",
        ),
        (
            "+14485551234",
            "2026-07-15T06:00Z",
            "2026-07-15T13:00Z",
            "2026-07-16T00:00Z",
        ), // overlay of 850
        (
            "+19285551234",
            "2026-07-15T06:00Z",
            "2026-07-15T15:00Z",
            "2026-07-16T03:00Z",
        ),
        (
            "+19285551234",
            "2026-01-15T06:00Z",
            "2026-01-15T15:00Z",
            "2026-01-16T04:00Z",
        ),
        (
            "+19075551234",
            "2026-07-15T06:00Z",
            "2026-07-15T17:00Z",
            "2026-07-16T05:00Z",
        ),
        (
            "+12085551234",
            "2026-07-15T06:00Z",
            "2026-07-15T15:00Z",
            "2026-07-16T03:00Z",
        ),
        (
            "+17295551234",
            "2026-07-15T06:00Z",
            "2026-07-15T18:00Z",
            "2026-07-16T01:00Z",
        ), // unknown
        (
            "+18005551234",
            "2026-07-15T06:00Z",
            "2026-07-15T18:00Z",
            "2026-07-16T01:00Z",
        ), // toll-free
        (
            "+12125550123",
            "2026-03-08T06:00Z",
            "2026-03-08T12:00Z",
            "2026-03-09T01:00Z",
        ), // DST start
        (
            "+12125550123",
            "2026-11-01T06:00Z",
            "2026-11-01T13:00Z",
            "2026-11-02T02:00Z",
        ), // DST end
    ];
    let minute = SignedDuration::from_mins(1);
    for (p, from, open, close) in cases {
        let d = decide(&req(p, from));
        assert_eq!(until(&d), ts(open), "{p} {from}");
        assert!(is_send(&decide(&req(p, open))), "{p} at open");
        assert!(
            is_send(&decide(&req(p, &add(ts(close), -minute).to_string()))),
            "{p} last minute"
        );
        let after = decide(&req(p, close));
        assert!(!is_send(&after), "{p} at close");
        assert_eq!(
            until(&after),
            add(ts(open), SignedDuration::from_hours(24)),
            "{p} next day"
        );
    }
}

#[test]
fn florida_panhandle_decision_details() {
    let d = decide(&req("+18505551234", "2026-07-15T12:59:30Z"));
    assert_eq!(d.zones, vec!["America/Chicago", "America/New_York"]);
    assert_eq!(
        d.states.iter().map(|s| s.code()).collect::<Vec<_>>(),
        ["FL"]
    );
    assert_eq!(d.primary_state.map(UsState::code), Some("FL"));
    assert!(
        d.rules
            .contains(&"Florida: 8:00–20:00 local (Fla. Stat. §501.616)".to_owned()),
        "{:?}",
        d.rules
    );
    assert!(d.rules.iter().any(|r| r.starts_with("Federal: 8:00–21:00")));
    let Outcome::Defer { until, reasons } = &d.outcome else {
        panic!()
    };
    assert_eq!(*until, ts("2026-07-15T13:00Z"));
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("Florida") && r.contains("America/Chicago")),
        "{reasons:?}"
    );
}

/// Reference §2.3 additional vectors.
#[test]
fn texas_sunday_opens_at_noon() {
    // 2026-07-19 is a Sunday; 11:30 CDT = 16:30Z.
    let d = decide(&req("+15125550123", "2026-07-19T16:30Z"));
    assert_eq!(until(&d), ts("2026-07-19T17:00Z"));
    assert!(is_send(&decide(&req("+15125550123", "2026-07-19T17:00Z"))));
    // Saturday opens at 9:00.
    assert_eq!(
        until(&decide(&req("+15125550123", "2026-07-18T13:30Z"))),
        ts("2026-07-18T14:00Z")
    );
}

#[test]
fn rhode_island_saturday_sunday_and_holidays() {
    // Saturday 17:30 EDT: closed since 17:00; Sunday banned; Monday 09:00.
    let d = decide(&req("+14015550123", "2026-07-18T21:30Z"));
    assert_eq!(until(&d), ts("2026-07-20T13:00Z"));
    // Sunday noon.
    assert_eq!(
        until(&decide(&req("+14015550123", "2026-07-19T16:00Z"))),
        ts("2026-07-20T13:00Z")
    );
    // Friday 2026-07-03, observed Independence Day; Sat 4th is the holiday itself; Sun 5th banned.
    let d = decide(&req("+14015550123", "2026-07-03T16:00Z"));
    assert_eq!(until(&d), ts("2026-07-06T13:00Z"));
    let Outcome::Defer { reasons, .. } = &d.outcome else {
        panic!()
    };
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("Independence Day (observed)")),
        "{reasons:?}"
    );
    // A normal Saturday at 16:59 is fine.
    assert!(is_send(&decide(&req("+14015550123", "2026-07-11T20:59Z"))));
}

#[test]
fn connecticut_nine_to_eight() {
    // Tuesday 2026-07-14, 20:15 EDT → Wednesday 09:00.
    assert_eq!(
        until(&decide(&req("+12035550123", "2026-07-15T00:15Z"))),
        ts("2026-07-15T13:00Z")
    );
    // 08:45 EDT → 09:00.
    assert_eq!(
        until(&decide(&req("+12035550123", "2026-07-14T12:45Z"))),
        ts("2026-07-14T13:00Z")
    );
    assert!(is_send(&decide(&req("+12035550123", "2026-07-14T13:00Z"))));
}

#[test]
fn florida_three_per_rolling_day() {
    // Miami (305, Eastern only). Three sends today at 10:00, 11:00, 12:00 EDT.
    let mut r = req("+13055550123", "2026-07-14T17:00Z");
    r.recent_sends = vec![
        ts("2026-07-14T14:00Z"),
        ts("2026-07-14T15:00Z"),
        ts("2026-07-14T16:00Z"),
    ];
    let d = decide(&r);
    // The oldest of the last three ages out at 10:00 EDT tomorrow, inside the window.
    assert_eq!(until(&d), ts("2026-07-15T14:00Z"));
    let Outcome::Defer { reasons, .. } = &d.outcome else {
        panic!()
    };
    assert!(
        reasons.iter().any(|r| r.contains("at most 3")),
        "{reasons:?}"
    );
    // With only two in the window the third goes out.
    r.recent_sends.remove(0);
    assert!(is_send(&decide(&r)));
    // A release at an odd second rounds up to the whole minute (19:40:30 → 19:41 EDT).
    let mut odd = req("+13055550123", "2026-07-15T00:30Z");
    odd.recent_sends = vec![
        ts("2026-07-14T23:40:30Z"),
        ts("2026-07-14T23:50Z"),
        ts("2026-07-14T23:55Z"),
    ];
    assert_eq!(until(&decide(&odd)), ts("2026-07-15T23:41Z"));
    // A release that lands after 20:00 waits for the next morning's window.
    let mut late = req("+13055550123", "2026-07-14T23:00Z"); // 19:00 EDT
    late.recent_sends = vec![
        ts("2026-07-14T00:30Z"),
        ts("2026-07-14T00:40Z"),
        ts("2026-07-14T00:50Z"),
    ];
    assert_eq!(until(&decide(&late)), ts("2026-07-15T12:00Z"));
    // Sends older than 24 h do not count.
    let mut old = req("+13055550123", "2026-07-14T17:00Z");
    old.recent_sends = vec![
        ts("2026-07-13T16:00Z"),
        ts("2026-07-13T16:30Z"),
        ts("2026-07-13T16:59Z"),
    ];
    assert!(is_send(&decide(&old)));
}

#[test]
fn caps_and_relaxations_for_replies() {
    let sends = vec![
        ts("2026-07-14T14:00Z"),
        ts("2026-07-14T15:00Z"),
        ts("2026-07-14T16:00Z"),
    ];
    let mut r = req("+14055550123", "2026-07-14T17:00Z"); // Oklahoma City
    r.recent_sends = sends.clone();
    r.kind = MessageKind::Reply;
    assert!(!is_send(&decide(&r)), "replies count by default");
    r.settings
        .relaxations
        .insert(Relaxation::RepliesIgnoreFrequencyCaps);
    let d = decide(&r);
    assert!(is_send(&d));
    assert!(d.rules.iter().any(|x| x.contains("owner relaxation")));
    r.kind = MessageKind::Marketing;
    assert!(!is_send(&decide(&r)), "the relaxation is for replies only");
    let mut md = req("+14105550123", "2026-07-14T17:00Z"); // Baltimore
    md.recent_sends = sends;
    assert!(!is_send(&decide(&md)));
}

#[test]
fn utah_sunday_depends_on_consent() {
    // Salt Lake City, Sunday 2026-07-19 12:00 MDT = 18:00Z.
    let mut r = req("+18015550123", "2026-07-19T18:00Z");
    let d = decide(&r);
    assert_eq!(until(&d), ts("2026-07-20T14:00Z"), "Monday 08:00 MDT");
    r.prior_express_consent = true;
    let d = decide(&r);
    assert!(is_send(&d));
    assert!(
        d.rules
            .iter()
            .any(|x| x.starts_with("Utah") && x.contains("not applied")),
        "{:?}",
        d.rules
    );
}

#[test]
fn pennsylvania_good_friday() {
    // 2026-04-03 is Good Friday; noon EDT.
    let d = decide(&req("+12155550123", "2026-04-03T16:00Z"));
    assert_eq!(until(&d), ts("2026-04-04T12:00Z"));
}

#[test]
fn kinds_and_relaxations() {
    let night = "2026-07-15T06:00Z"; // 02:00 in New York
    let mut r = req("+12125550123", night);
    r.kind = MessageKind::Transactional;
    let d = decide(&r);
    assert!(is_send(&d));
    assert!(d.rules.iter().any(|x| x.contains("transactional")));
    r.kind = MessageKind::Reply;
    assert_eq!(
        until(&decide(&r)),
        ts("2026-07-15T12:00Z"),
        "replies get quiet hours by default"
    );
    r.settings
        .relaxations
        .insert(Relaxation::RepliesIgnoreLegalHours);
    assert!(is_send(&decide(&r)));
    r.settings.quiet_hours = Some(QuietHours::parse("daily 07:00-23:00").unwrap());
    assert_eq!(
        until(&decide(&r)),
        ts("2026-07-15T11:00Z"),
        "own quiet hours still hold for replies"
    );
    r.kind = MessageKind::Transactional;
    assert!(
        is_send(&decide(&r)),
        "transactional ignores own quiet hours too"
    );
}

#[test]
fn own_quiet_hours_tighten_and_can_block() {
    // Saturday 2026-07-18 15:00 EDT; owner allows sat 10-14 only.
    let mut r = req("+12125550123", "2026-07-18T19:00Z");
    r.settings.quiet_hours =
        Some(QuietHours::parse("mon-fri 09:00-18:00,sat 10:00-14:00").unwrap());
    let d = decide(&r);
    assert_eq!(until(&d), ts("2026-07-20T13:00Z"), "Monday 09:00");
    assert!(
        d.rules
            .iter()
            .any(|x| x.contains("account quiet hours: mon-fri 09:00-18:00,sat 10:00-14:00"))
    );
    // Owner hours that never meet the legal window: block.
    r.settings.quiet_hours = Some(QuietHours::parse("daily 22:00-23:00").unwrap());
    let d = decide(&r);
    let Outcome::Block { reasons } = &d.outcome else {
        panic!("{d:?}")
    };
    assert!(reasons.last().unwrap().contains("14 days"));
    assert_eq!(d.next_allowed_at(r.at), None);
}

#[test]
fn explicit_zone_and_address_state() {
    let mut r = req("+12125550123", "2026-07-15T12:30Z"); // 08:30 New York, 05:30 Los Angeles
    assert!(is_send(&decide(&r)));
    r.time_zone = Some(TimeZone::get("America/Los_Angeles").unwrap());
    let d = decide(&r);
    assert_eq!(d.zones, ["America/Los_Angeles"]);
    assert_eq!(until(&d), ts("2026-07-15T15:00Z"));
    // Address in Florida adds Florida's rule and Central time.
    let mut r = req("+12125550123", "2026-07-16T00:30Z"); // 20:30 EDT
    assert!(is_send(&decide(&r)));
    r.address_state = Some(UsState::parse("FL").unwrap());
    let d = decide(&r);
    assert!(!is_send(&d));
    assert_eq!(
        d.states.iter().map(|s| s.code()).collect::<Vec<_>>(),
        ["FL", "NY"]
    );
    assert_eq!(d.primary_state.map(UsState::code), Some("NY"));
    assert!(d.zones.contains(&"America/Chicago".to_owned()));
}

#[test]
fn dst_gap_and_fold_windows_are_exact() {
    // Owner window starting inside the spring-forward gap (02:30 does not exist on 2026-03-08):
    // with legal hours relaxed for a reply it opens at the transition, 03:00 EDT = 07:00Z.
    let mut r = req("+12125550123", "2026-03-08T06:00Z");
    r.kind = MessageKind::Reply;
    r.settings
        .relaxations
        .insert(Relaxation::RepliesIgnoreLegalHours);
    r.settings.quiet_hours = Some(QuietHours::parse("sun 02:30-04:00").unwrap());
    assert_eq!(until(&decide(&r)), ts("2026-03-08T07:00Z"));
    // In the fall-back fold 01:30 happens twice; the first one opens the window.
    let mut r = req("+12125550123", "2026-11-01T04:00Z");
    r.kind = MessageKind::Reply;
    r.settings
        .relaxations
        .insert(Relaxation::RepliesIgnoreLegalHours);
    r.settings.quiet_hours = Some(QuietHours::parse("sun 01:30-01:45").unwrap());
    assert_eq!(until(&decide(&r)), ts("2026-11-01T05:30Z"));
}

/// Every zone the data knows, plus the unknown-number set.
fn all_zones() -> Vec<&'static str> {
    let (rows, _) = parse_area_codes(AREA_CODE_DATA);
    let mut z: BTreeSet<&'static str> = rows.iter().flat_map(|r| r.zones.iter().copied()).collect();
    z.extend(US_ZONES.iter().copied());
    z.into_iter().collect()
}

fn us_area_codes() -> Vec<&'static str> {
    let (rows, _) = parse_area_codes(AREA_CODE_DATA);
    rows.iter()
        .filter(|r| r.state.is_some())
        .map(|r| r.npa)
        .collect()
}

fn local_minute(tz: &TimeZone, t: Timestamp) -> i32 {
    let l = tz.to_datetime(t);
    i32::from(l.hour()) * 60 + i32::from(l.minute())
}

/// Random instants 2020–2035 at second precision.
fn arb_instant() -> impl Strategy<Value = Timestamp> {
    (1_577_836_800i64..2_082_758_400).prop_map(|s| Timestamp::from_second(s).unwrap())
}

/// Checks the defer contract by brute force: `until` sends, and no whole minute before it does.
fn check_defer(scope: &Scope, at: Timestamp, until: Timestamp) -> Result<(), TestCaseError> {
    prop_assert!(until > at);
    prop_assert!(scope.allowed(until), "until {} is not allowed", until);
    let mut t = ceil_minute(at);
    // Minute by minute for the first three days, then every 7 minutes (long defers are rare).
    while t < until {
        prop_assert!(
            !scope.allowed(t),
            "{} is allowed but before until {}",
            t,
            until
        );
        let step = if t.duration_since(at) < SignedDuration::from_hours(72) {
            1
        } else {
            7
        };
        t = add(t, SignedDuration::from_mins(step));
    }
    Ok(())
}

fn rebuild(d: &Decision, r: &WindowRequest) -> Scope {
    let zones: Vec<(String, TimeZone)> = match &r.time_zone {
        Some(tz) => vec![(zone_name(tz), tz.clone())],
        None => d
            .zones
            .iter()
            .map(|n| (n.clone(), zones::time_zone(n).unwrap()))
            .collect(),
    };
    let parts = ScopeParts {
        zones,
        states: &d.states,
        kind: r.kind,
        settings: &r.settings,
        recent_sends: &r.recent_sends,
        prior_express_consent: r.prior_express_consent,
        at: r.at,
    };
    Scope::build(parts, &mut Vec::new())
}

/// Every zone in the data, every half hour across the 2026 US and EU DST change days: a send is
/// inside 08:00–21:00 local; a defer lands inside it, sends, and the minute before it does not.
#[test]
fn every_zone_across_dst_days() {
    let minute = SignedDuration::from_mins(1);
    for zone in all_zones() {
        let tz = TimeZone::get(zone).unwrap();
        for day in [
            "2026-03-08T00:00Z",
            "2026-03-29T00:00Z",
            "2026-10-25T00:00Z",
            "2026-11-01T00:00Z",
        ] {
            for step in 0..96 {
                let at = add(ts(day), SignedDuration::from_mins(30 * step));
                let mut r = WindowRequest::new(phone("+442079460958"), at);
                r.time_zone = Some(tz.clone());
                let d = decide(&r);
                match d.outcome {
                    Outcome::Send => {
                        assert!((480..1260).contains(&local_minute(&tz, at)), "{zone} {at}")
                    }
                    Outcome::Defer { until, .. } => {
                        assert!(
                            (480..1260).contains(&local_minute(&tz, until)),
                            "{zone} {at} → {until}"
                        );
                        let scope = rebuild(&d, &r);
                        assert!(scope.allowed(until));
                        let before = add(until, -minute);
                        assert!(
                            before < at || !scope.allowed(before),
                            "{zone} {at} → {until}"
                        );
                    }
                    Outcome::Block { .. } => panic!("{zone} {at} blocked"),
                }
            }
        }
    }
}

proptest! {
    /// Any zone in the data, federal rule only: a send is inside 08:00–21:00 local, a defer's
    /// instant sends and nothing earlier does, across DST.
    #[test]
    fn single_zone_windows(at in arb_instant(), zone in prop::sample::select(all_zones())) {
        let tz = TimeZone::get(zone).unwrap();
        let mut r = WindowRequest::new(phone("+442079460958"), at);
        r.time_zone = Some(tz.clone());
        let d = decide(&r);
        prop_assert_eq!(&d.zones, &vec![zone.to_owned()]);
        match &d.outcome {
            Outcome::Send => {
                let m = local_minute(&tz, at);
                prop_assert!((480..1260).contains(&m), "send at local minute {}", m);
            }
            Outcome::Defer { until, .. } => {
                let m = local_minute(&tz, *until);
                prop_assert!((480..1260).contains(&m));
                prop_assert!(until.duration_since(at) <= SignedDuration::from_hours(24));
                check_defer(&rebuild(&d, &r), at, *until)?;
                let mut again = r.clone();
                again.at = *until;
                prop_assert_eq!(decide(&again).outcome, Outcome::Send);
            }
            Outcome::Block { .. } => prop_assert!(false, "a single zone always has a window"),
        }
    }

    /// Real US area codes with their states and overlays, marketing with random recent sends: a
    /// send is inside 08:00–21:00 in every candidate zone and inside every state rule; defers are
    /// exact.
    #[test]
    fn area_code_windows(
        at in arb_instant(),
        npa in prop::sample::select(us_area_codes()),
        send_offsets in proptest::collection::vec(0i64..(26 * 3600), 0..5),
        quiet in prop::option::of(prop::sample::select(vec!["mon-fri 09:00-18:00,sat 10:00-14:00", "daily 10:00-16:00", "weekdays 08:00-22:00"])),
    ) {
        let mut r = WindowRequest::new(phone(&format!("+1{npa}5550123")), at);
        r.recent_sends = send_offsets.iter().map(|s| add(at, SignedDuration::from_secs(-s))).collect();
        r.settings.quiet_hours = quiet.map(|q| QuietHours::parse(q).unwrap());
        let d = decide(&r);
        let scope = rebuild(&d, &r);
        match &d.outcome {
            Outcome::Send => {
                for (name, tz) in &scope.zones {
                    let m = local_minute(tz, at);
                    prop_assert!((480..1260).contains(&m), "{} local minute {}", name, m);
                }
                prop_assert!(scope.violations(at).is_empty());
            }
            Outcome::Defer { until, reasons } => {
                prop_assert!(!reasons.is_empty());
                prop_assert_eq!(reasons, &scope.violations(at));
                check_defer(&scope, at, *until)?;
                let mut again = r.clone();
                again.at = *until;
                prop_assert_eq!(decide(&again).outcome, Outcome::Send);
            }
            Outcome::Block { reasons } => prop_assert!(false, "unexpected block: {:?}", reasons),
        }
    }

    /// Transactional messages always go out, whatever the hour or the caps.
    #[test]
    fn transactional_always_sends(at in arb_instant(), npa in prop::sample::select(us_area_codes())) {
        let mut r = WindowRequest::new(phone(&format!("+1{npa}5550123")), at);
        r.kind = MessageKind::Transactional;
        r.recent_sends = vec![at; 5];
        r.settings.quiet_hours = Some(QuietHours::parse("sat 10:00-11:00").unwrap());
        prop_assert_eq!(decide(&r).outcome, Outcome::Send);
    }
}
