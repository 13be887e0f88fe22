//! The send gate: the last check before a message leaves, run at dispatch time (not when the
//! message was written), so an opt-out or a closed window that arrived meanwhile still stops it.
//! Pure: every input is a value, so the decision can be replayed and tested.

use jiff::Timestamp;
use leadline_domain::AccountStatus;
use leadline_domain::compliance::{self, MessageKind, Outcome, WindowRequest, WindowSettings};
use leadline_store::{Author, ContactCompliance, Lead};
use serde::Serialize;

/// What the gate decided, with the words a subscriber reads in the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum GateDecision {
    Send {
        rules: Vec<String>,
        zones: Vec<String>,
        states: Vec<String>,
    },
    Defer {
        until: Timestamp,
        reasons: Vec<String>,
        zones: Vec<String>,
        states: Vec<String>,
    },
    Block {
        reasons: Vec<String>,
    },
}

impl GateDecision {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Everything the gate looks at.
#[derive(Clone, Debug)]
pub struct GateInput<'a> {
    pub lead: &'a Lead,
    pub author: &'a Author,
    pub compliance: &'a ContactCompliance,
    pub account_status: AccountStatus,
    pub settings: WindowSettings,
    /// Earlier sends to this number in the last 24 hours (frequency caps).
    pub recent_sends: Vec<Timestamp>,
    pub now: Timestamp,
}

/// How compliance law sees a message, from who wrote it.
pub fn message_kind(author: &Author) -> MessageKind {
    match author {
        // Confirmations of STOP/START and HELP answers.
        Author::System => MessageKind::Transactional,
        Author::Ai | Author::Human { .. } | Author::Lead => MessageKind::Reply,
        Author::Sequence { .. } => MessageKind::Marketing,
    }
}

pub fn decide(input: &GateInput<'_>) -> GateDecision {
    let kind = message_kind(input.author);
    if matches!(
        input.account_status,
        AccountStatus::Suspended | AccountStatus::Terminated
    ) {
        return GateDecision::Block {
            reasons: vec![format!("the account is {}", input.account_status)],
        };
    }
    // After an opt-out only the single confirmation (a system message) may go out.
    if input.compliance.opted_out && kind != MessageKind::Transactional {
        let when = input
            .compliance
            .last_opt_out_at
            .map(|t| format!(" at {t}"))
            .unwrap_or_default();
        return GateDecision::Block {
            reasons: vec![format!(
                "the lead opted out{when}; no automated or manual texts may be sent"
            )],
        };
    }
    if input.compliance.suppressed && kind != MessageKind::Transactional {
        return GateDecision::Block {
            reasons: vec!["the number is on the account's do-not-contact list".into()],
        };
    }
    let mut request = WindowRequest::new(input.lead.phone.clone(), input.now);
    request.kind = kind;
    request.settings = input.settings.clone();
    request.recent_sends = input.recent_sends.clone();
    request.prior_express_consent = input.compliance.consented;
    request.address_state = input
        .lead
        .state
        .as_deref()
        .and_then(|s| compliance::UsState::parse(s).ok());
    request.time_zone = input
        .lead
        .time_zone
        .as_deref()
        .and_then(|z| compliance::parse_time_zone(z).ok());
    let decision = compliance::decide(&request);
    let states: Vec<String> = decision.states.iter().map(|s| s.to_string()).collect();
    match decision.outcome {
        Outcome::Send => GateDecision::Send {
            rules: decision.rules,
            zones: decision.zones,
            states,
        },
        Outcome::Defer { until, reasons } => GateDecision::Defer {
            until,
            reasons,
            zones: decision.zones,
            states,
        },
        Outcome::Block { reasons } => GateDecision::Block { reasons },
    }
}

/// The per-number send rate: a sender that already sent `per_minute` messages in the last
/// minute waits. Carriers throttle (and penalise) bursts from one number; spreading them over
/// time is the only fix, never rotating numbers.
pub fn rate_limit(sent_last_minute: u64, per_minute: u32, now: Timestamp) -> Option<GateDecision> {
    if per_minute == 0 || sent_last_minute < u64::from(per_minute) {
        return None;
    }
    // Check again shortly: a slot frees as the oldest send of the minute ages out.
    let wait =
        jiff::SignedDuration::from_millis((60_000 / i64::from(per_minute)).clamp(250, 60_000));
    let until = now.checked_add(wait).unwrap_or(now);
    Some(GateDecision::Defer {
        until,
        reasons: vec![format!(
            "this number's send rate: at most {per_minute} messages a minute"
        )],
        zones: Vec::new(),
        states: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_domain::E164Phone;
    use leadline_domain::ids::LeadId;

    fn lead(phone: &str) -> Lead {
        Lead {
            id: LeadId::new(),
            account_id: leadline_domain::AccountId::new(),
            phone: E164Phone::parse(phone).unwrap(),
            name: String::new(),
            email: None,
            state: None,
            time_zone: None,
            stage: "new".into(),
            score: None,
            intent: None,
            owner: None,
            tags: vec![],
            fields: serde_json::json!({}),
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn input<'a>(
        lead: &'a Lead,
        author: &'a Author,
        c: &'a ContactCompliance,
        now: &str,
    ) -> GateInput<'a> {
        GateInput {
            lead,
            author,
            compliance: c,
            account_status: AccountStatus::Active,
            settings: WindowSettings::default(),
            recent_sends: vec![],
            now: now.parse().unwrap(),
        }
    }

    #[test]
    fn opted_out_leads_get_only_the_confirmation() {
        let l = lead("+15125550123");
        let c = ContactCompliance {
            opted_out: true,
            ..Default::default()
        };
        let ai = Author::Ai;
        assert!(matches!(
            decide(&input(&l, &ai, &c, "2026-12-07T18:00:00Z")),
            GateDecision::Block { .. }
        ));
        let sys = Author::System;
        assert!(matches!(
            decide(&input(&l, &sys, &c, "2026-12-07T18:00:00Z")),
            GateDecision::Send { .. }
        ));
    }

    #[test]
    fn a_reply_due_at_22_local_is_deferred_to_the_next_allowed_minute() {
        // 22:00 in Austin (CST, UTC-6) on a Monday is 04:00 UTC Tuesday.
        let l = lead("+15125550123");
        let c = ContactCompliance::default();
        let ai = Author::Ai;
        match decide(&input(&l, &ai, &c, "2026-12-08T04:00:00Z")) {
            GateDecision::Defer { until, reasons, .. } => {
                // Texas allows 9:00 on weekdays: 15:00 UTC.
                assert_eq!(until, "2026-12-08T15:00:00Z".parse::<Timestamp>().unwrap());
                assert!(reasons.iter().any(|r| r.contains("Texas")), "{reasons:?}");
            }
            other => panic!("expected defer, got {other:?}"),
        }
        // Transactional confirmations are never held by quiet hours.
        let sys = Author::System;
        assert!(matches!(
            decide(&input(&l, &sys, &c, "2026-12-08T04:00:00Z")),
            GateDecision::Send { .. }
        ));
    }

    #[test]
    fn suspended_accounts_and_suppressed_numbers_are_blocked() {
        let l = lead("+15125550123");
        let c = ContactCompliance::default();
        let ai = Author::Ai;
        let mut i = input(&l, &ai, &c, "2026-12-07T18:00:00Z");
        i.account_status = AccountStatus::Suspended;
        assert!(matches!(decide(&i), GateDecision::Block { .. }));
        let s = ContactCompliance {
            suppressed: true,
            ..Default::default()
        };
        assert!(matches!(
            decide(&input(&l, &ai, &s, "2026-12-07T18:00:00Z")),
            GateDecision::Block { .. }
        ));
    }
}
