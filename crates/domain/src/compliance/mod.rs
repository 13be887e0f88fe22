//! The compliance engine: what an inbound text means (opt-out, opt-in, help), whether a message
//! may be sent now in the lead's own time, and how many SMS segments a text costs. Everything here
//! is deterministic and free of I/O; the facts and test vectors come from
//! `reference/compliance.md`, and the tables that encode them are data:
//!
//! - `data/intake-lexicon.txt` — plain-language opt-out phrases and word sets ([`keywords`]);
//! - `data/nanp-area-codes.tsv` — area code → country, state, zones ([`zones`]);
//! - [`states::STATE_RULES`] — hours, day and holiday bans, caps, each with source and date;
//! - [`holidays`] — holiday calendars computed per year.
//!
//! Entry points: [`classify`] for inbound texts, [`decide`] for the send window, [`segments`] and
//! [`normalize_gsm`] for SMS cost, [`QuietHours::parse`] for the owner's setting,
//! [`ConsentText::parse`] for the disclosure the account's lead forms show.
//!
//! Policy decisions (the reference marks them U or leaves them open), all deliberate:
//! - weak per-se words (stop, quit, end, cancel) revoke only when used as a request; see
//!   [`keywords`] for the rule and the two reference vectors it overrides;
//! - "wrong number" and a bare "not interested" revoke; "no thanks" does not;
//! - quiet hours apply to every outbound message except transactional/compliance replies;
//!   replies in a lead-started conversation are exempt only through an explicit [`Relaxation`];
//! - caps count whatever sends the caller passes (same subject) and apply to replies unless
//!   relaxed; a fixed-date holiday bans both its date and its observed weekday;
//! - left out of the state table: Nebraska (prerecorded voice only) and Maine's reported
//!   1-per-8-h cap (unverified; one row to add if counsel confirms it);
//! - Canadian and other non-US NANP numbers get the federal window in their own zones, no
//!   Canadian rules; non-NANP numbers are treated as unknown (all US zones) unless a zone is given.

pub mod consent_text;
pub mod holidays;
pub mod keywords;
pub mod normalize;
pub mod phrases;
pub mod quiet_hours;
pub mod segments;
pub mod states;
pub mod window;
pub mod zones;

pub use consent_text::{ConsentText, ConsentTextProblem, ConsentTextWarning};
pub use keywords::{Intake, IntakeClass, IntakeContext, Tier, classify};
pub use normalize::normalize_inbound;
pub use quiet_hours::{QuietHours, QuietHoursError};
pub use segments::{Encoding, SegmentInfo, normalize_gsm, segments, split_segments};
pub use states::{InvalidState, UsState};
pub use window::{
    Decision, MessageKind, Outcome, Relaxation, WindowRequest, WindowSettings, decide,
};
pub use zones::{InvalidTimeZone, parse_time_zone};
