//! The unified delivery lifecycle of an outbound message.
//!
//! Providers report status by callback, and callbacks arrive late, twice, or out of order (Twilio
//! says so explicitly). The lifecycle is therefore a *partial order*:
//!
//! ```text
//! Queued < Sending < Sent < Delivered < Read
//!                      \
//!                       +-< Undelivered | Failed | Canceled   (terminal)
//! ```
//!
//! A failure outranks every state before `Delivered` and is incomparable with `Delivered` and
//! `Read` (one report or the other is wrong; the first one wins). [`DeliveryStatus::advance`] moves
//! only upwards, so a stale `sent` after `delivered` is ignored.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Accepted by the provider, not yet handed on (Twilio `accepted`/`scheduled`/`queued`,
    /// Linq `pending`/`queued`, Blooio `queued`).
    Queued,
    /// Being handed to the carrier.
    Sending,
    /// The carrier (or Apple) accepted it.
    Sent,
    /// The handset received it.
    Delivered,
    /// The recipient read it (iMessage/RCS/WhatsApp read receipts). Terminal.
    Read,
    /// The carrier reported it was not delivered. Terminal.
    Undelivered,
    /// It could not be sent. Terminal.
    Failed,
    /// A scheduled message was canceled before sending. Terminal.
    Canceled,
}

impl DeliveryStatus {
    pub const ALL: [Self; 8] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Undelivered,
        Self::Failed,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// No later report can change a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Read | Self::Undelivered | Self::Failed | Self::Canceled
        )
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Self::Undelivered | Self::Failed | Self::Canceled)
    }

    /// Position on the happy path, `None` for failures.
    fn step(self) -> Option<u8> {
        match self {
            Self::Queued => Some(0),
            Self::Sending => Some(1),
            Self::Sent => Some(2),
            Self::Delivered => Some(3),
            Self::Read => Some(4),
            Self::Undelivered | Self::Failed | Self::Canceled => None,
        }
    }

    /// The status after `incoming` is reported for a message now in `current`, or `None` when
    /// the report changes nothing (a duplicate, a stale report, or anything after a terminal
    /// status). Never moves backwards.
    pub fn advance(current: Self, incoming: Self) -> Option<Self> {
        (current < incoming).then_some(incoming)
    }
}

impl PartialOrd for DeliveryStatus {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        if self == other {
            return Some(Ordering::Equal);
        }
        match (self.step(), other.step()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            // A failure follows anything that has not yet reached the handset.
            (Some(a), None) if a < 3 => Some(Ordering::Less),
            (None, Some(b)) if b < 3 => Some(Ordering::Greater),
            _ => None,
        }
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::{self, *};
    use proptest::prelude::*;

    #[test]
    fn happy_path_and_stale_reports() {
        assert_eq!(DeliveryStatus::advance(Queued, Sent), Some(Sent));
        assert_eq!(DeliveryStatus::advance(Sent, Delivered), Some(Delivered));
        assert_eq!(DeliveryStatus::advance(Delivered, Sent), None);
        assert_eq!(DeliveryStatus::advance(Delivered, Delivered), None);
        assert_eq!(DeliveryStatus::advance(Delivered, Read), Some(Read));
        assert_eq!(DeliveryStatus::advance(Sent, Read), Some(Read));
        assert_eq!(DeliveryStatus::advance(Sent, Failed), Some(Failed));
        assert_eq!(
            DeliveryStatus::advance(Queued, Undelivered),
            Some(Undelivered)
        );
        assert_eq!(DeliveryStatus::advance(Failed, Delivered), None);
        assert_eq!(DeliveryStatus::advance(Delivered, Undelivered), None);
        assert_eq!(DeliveryStatus::advance(Undelivered, Failed), None);
        assert_eq!(DeliveryStatus::advance(Read, Delivered), None);
    }

    fn any_status() -> impl Strategy<Value = DeliveryStatus> {
        proptest::sample::select(DeliveryStatus::ALL.to_vec())
    }

    fn apply(start: DeliveryStatus, reports: &[DeliveryStatus]) -> Vec<DeliveryStatus> {
        let mut trail = vec![start];
        let mut current = start;
        for &r in reports {
            if let Some(next) = DeliveryStatus::advance(current, r) {
                current = next;
                trail.push(next);
            }
        }
        trail
    }

    proptest! {
        #[test]
        fn never_moves_backwards(start in any_status(), reports in proptest::collection::vec(any_status(), 0..24)) {
            let trail = apply(start, &reports);
            for pair in trail.windows(2) {
                prop_assert!(pair[0] < pair[1], "{:?} -> {:?}", pair[0], pair[1]);
            }
            // A strict chain never revisits a state.
            for (i, a) in trail.iter().enumerate() {
                prop_assert!(!trail[i + 1..].contains(a));
            }
        }

        #[test]
        fn terminal_is_absorbing(start in any_status(), incoming in any_status()) {
            if start.is_terminal() {
                prop_assert_eq!(DeliveryStatus::advance(start, incoming), None);
            }
        }

        #[test]
        fn advance_is_asymmetric(a in any_status(), b in any_status()) {
            if DeliveryStatus::advance(a, b).is_some() {
                prop_assert_eq!(DeliveryStatus::advance(b, a), None);
            }
            prop_assert_eq!(DeliveryStatus::advance(a, a), None);
        }

        /// Any shuffle (with duplicates) of one message's real lifecycle ends where the in-order
        /// sequence ends.
        #[test]
        fn out_of_order_callbacks_converge(
            len in 1usize..=5,
            failure in proptest::option::of(proptest::sample::select(vec![Undelivered, Failed])),
            dupes in proptest::collection::vec(0usize..5, 0..4),
            seed in any::<u64>(),
        ) {
            let happy = [Queued, Sending, Sent, Delivered, Read];
            let mut lifecycle: Vec<DeliveryStatus> = match failure {
                // A failure comes after at most `Sent`.
                Some(f) => happy[..len.min(3)].iter().copied().chain([f]).collect(),
                None => happy[..len].to_vec(),
            };
            let last = *lifecycle.last().unwrap_or(&Queued);
            for d in dupes {
                let again = lifecycle[d % lifecycle.len()];
                lifecycle.push(again);
            }
            // Deterministic Fisher-Yates from the seed.
            let mut state = seed | 1;
            for i in (1..lifecycle.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let j = (state % (i as u64 + 1)) as usize;
                lifecycle.swap(i, j);
            }
            let trail = apply(Queued, &lifecycle);
            prop_assert_eq!(*trail.last().unwrap_or(&Queued), last);
        }
    }
}
