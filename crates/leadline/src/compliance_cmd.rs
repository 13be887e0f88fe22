//! `leadline compliance ...`: the compliance engine from the command line. Output is one JSON
//! object per line; other tools call this, so its shape is stable:
//!
//! - `classify [TEXT] [--opted-out]` → `{"text", "class", "must_stop", "matched", "reason"}`
//! - `window --phone --at [--state] [--tz] [--kind] [--quiet-hours] [--sent]... [--prior-consent]
//!   [--relax]...` → `{"decision", "next_allowed_at", "zones", "state", "states", "reasons",
//!   "rules"}`; `reasons` says why not now (defer/block) or which rules were checked (send)
//! - `segments [TEXT]` → `{"encoding", "segments", "units", "normalized", "normalized_segments",
//!   "normalized_encoding"}`
//!
//! Without TEXT, `classify` and `segments` read one text per line from standard input. Bad
//! arguments exit with code 2 and a one-line `error: --flag: ...` on standard error.

use clap::{Subcommand, ValueEnum};
use jiff::Timestamp;
use leadline_domain::E164Phone;
use leadline_domain::compliance::{
    self, IntakeContext, MessageKind, Outcome, QuietHours, Relaxation, UsState, WindowRequest,
    WindowSettings,
};
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Classify inbound texts as stop, start, help or none.
    Classify {
        /// The text; without it, one text per line is read from standard input.
        text: Option<String>,
        /// The lead is currently opted out (YES then re-subscribes).
        #[arg(long)]
        opted_out: bool,
    },
    /// Decide whether a message may be sent to a lead now, later, or never.
    Window {
        /// The lead's number, E.164 or a 10-digit US number.
        #[arg(long)]
        phone: String,
        /// The instant to decide for, RFC 3339 with an offset (2026-07-15T13:00:00Z).
        #[arg(long)]
        at: String,
        /// The state of the lead's address (two-letter code).
        #[arg(long)]
        state: Option<String>,
        /// A known IANA time zone for the lead; overrides the number and address.
        #[arg(long)]
        tz: Option<String>,
        /// What kind of message it is.
        #[arg(long, value_enum, default_value_t = KindArg::Marketing)]
        kind: KindArg,
        /// The account's own sending hours in the lead's local time, e.g. "mon-fri 09:00-18:00,sat 10:00-14:00".
        #[arg(long)]
        quiet_hours: Option<String>,
        /// An earlier send to this lead on the same subject (RFC 3339); repeat for each.
        #[arg(long = "sent")]
        sent: Vec<String>,
        /// The lead gave documented prior express consent.
        #[arg(long)]
        prior_consent: bool,
        /// A legal rule the owner explicitly relaxed for replies; repeat for each.
        #[arg(long = "relax", value_enum)]
        relax: Vec<RelaxArg>,
    },
    /// Count SMS encoding and segments, before and after look-alike normalisation.
    Segments {
        /// The text; without it, one text per line is read from standard input.
        text: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Marketing,
    Reply,
    Transactional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RelaxArg {
    /// Replies in a lead-started conversation ignore legal calling hours and day bans.
    RepliesLegalHours,
    /// Replies in a lead-started conversation ignore state frequency caps.
    RepliesCaps,
}

pub fn run(cmd: ComplianceCommand) -> ExitCode {
    match cmd {
        ComplianceCommand::Classify { text, opted_out } => {
            let ctx = IntakeContext { opted_out };
            each_text(text, |t| {
                let i = compliance::classify(t, ctx);
                json!({
                    "text": t,
                    "class": i.class.as_str(),
                    "must_stop": i.must_stop,
                    "matched": i.matched,
                    "reason": i.reason,
                })
            })
        }
        ComplianceCommand::Segments { text } => each_text(text, |t| {
            let raw = compliance::segments(t);
            let normalized = compliance::normalize_gsm(t);
            let after = compliance::segments(&normalized);
            json!({
                "encoding": raw.encoding.as_str(),
                "segments": raw.segments,
                "units": raw.units,
                "normalized": normalized,
                "normalized_segments": after.segments,
                "normalized_encoding": after.encoding.as_str(),
            })
        }),
        ComplianceCommand::Window {
            phone,
            at,
            state,
            tz,
            kind,
            quiet_hours,
            sent,
            prior_consent,
            relax,
        } => {
            let args = WindowArgs {
                phone,
                at,
                state,
                tz,
                kind,
                quiet_hours,
                sent,
                prior_consent,
                relax,
            };
            match args.into_request() {
                Ok(req) => print_lines(std::iter::once(window_json(&req))),
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

struct WindowArgs {
    phone: String,
    at: String,
    state: Option<String>,
    tz: Option<String>,
    kind: KindArg,
    quiet_hours: Option<String>,
    sent: Vec<String>,
    prior_consent: bool,
    relax: Vec<RelaxArg>,
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn parse_instant(flag: &str, raw: &str) -> Result<Timestamp, String> {
    raw.trim().parse::<Timestamp>().map_err(|_| {
        format!(
            "{flag}: '{}' is not an RFC 3339 instant with an offset (e.g. 2026-07-15T13:00:00Z)",
            one_line(&raw.chars().take(60).collect::<String>())
        )
    })
}

impl WindowArgs {
    /// Parses every argument into domain types; the error names the flag.
    fn into_request(self) -> Result<WindowRequest, String> {
        let phone = E164Phone::parse(&self.phone)
            .map_err(|e| format!("--phone: {}", one_line(&e.to_string())))?;
        let at = parse_instant("--at", &self.at)?;
        let mut req = WindowRequest::new(phone, at);
        if let Some(s) = &self.state {
            req.address_state = Some(
                UsState::parse(s).map_err(|e| format!("--state: {}", one_line(&e.to_string())))?,
            );
        }
        if let Some(z) = &self.tz {
            req.time_zone = Some(
                compliance::parse_time_zone(z)
                    .map_err(|e| format!("--tz: {}", one_line(&e.to_string())))?,
            );
        }
        req.kind = match self.kind {
            KindArg::Marketing => MessageKind::Marketing,
            KindArg::Reply => MessageKind::Reply,
            KindArg::Transactional => MessageKind::Transactional,
        };
        let quiet_hours = match &self.quiet_hours {
            Some(q) => Some(
                QuietHours::parse(q)
                    .map_err(|e| format!("--quiet-hours: {}", one_line(&e.to_string())))?,
            ),
            None => None,
        };
        let relaxations = self
            .relax
            .iter()
            .map(|r| match r {
                RelaxArg::RepliesLegalHours => Relaxation::RepliesIgnoreLegalHours,
                RelaxArg::RepliesCaps => Relaxation::RepliesIgnoreFrequencyCaps,
            })
            .collect();
        req.settings = WindowSettings {
            quiet_hours,
            relaxations,
        };
        req.recent_sends = self
            .sent
            .iter()
            .map(|s| parse_instant("--sent", s))
            .collect::<Result<_, _>>()?;
        req.prior_express_consent = self.prior_consent;
        Ok(req)
    }
}

fn window_json(req: &WindowRequest) -> Value {
    let d = compliance::decide(req);
    let (decision, reasons) = match &d.outcome {
        Outcome::Send => ("send", d.rules.clone()),
        Outcome::Defer { reasons, .. } => ("defer", reasons.clone()),
        Outcome::Block { reasons } => ("block", reasons.clone()),
    };
    json!({
        "decision": decision,
        "next_allowed_at": d.next_allowed_at(req.at).map(|t| t.to_string()),
        "zones": d.zones,
        "state": d.primary_state.map(UsState::code),
        "states": d.states.iter().map(|s| s.code()).collect::<Vec<_>>(),
        "reasons": reasons,
        "rules": d.rules,
    })
}

/// Runs `f` on the argument, or on each line of standard input.
fn each_text(text: Option<String>, f: impl Fn(&str) -> Value) -> ExitCode {
    if let Some(t) = text {
        return print_lines(std::iter::once(f(&t)));
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => return ExitCode::SUCCESS,
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: stdin: {e}");
                return ExitCode::FAILURE;
            }
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if writeln!(out, "{}", f(line)).is_err() {
            // The reader went away (e.g. `| head`): stop quietly.
            return ExitCode::FAILURE;
        }
    }
}

fn print_lines(values: impl Iterator<Item = Value>) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for v in values {
        if writeln!(out, "{v}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
