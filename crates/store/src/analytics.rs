//! Storage port for analytics: counts over one account's leads, messages, conversations and
//! compliance events in a date range, read from rollups the database keeps on every write (never
//! by loading or aggregating the rows themselves).
//!
//! Definitions every backend follows:
//! - A message happens at `sent_at` when the provider accepted it, otherwise at `created_at`
//!   (inbound: when received; outbound never sent: when queued). Days are the account's
//!   calendar days, given by [`DayBuckets`]. Rollups keep 15-minute buckets, which every UTC
//!   offset in use divides, so a range counts what happened from its first bucket boundary at or
//!   after `from` to the last one before `to` (exact for ranges of whole local days).
//! - The funnel is a cohort: the leads created in the range (with a channel: those with a
//!   conversation on it), and how far each got by now. Contacted: an outbound message was sent,
//!   or the stage says so. Replied: an inbound message came after the first sent outbound one,
//!   or the stage says so. Qualified and booked come from the stage (`closed` says nothing about
//!   how far a lead got, so it counts only through its messages). Opted out: the cohort's leads
//!   whose number opted out since the range began.
//! - First response: for each conversation whose first inbound message falls in the range, the
//!   time from that message to the first outbound message sent after it, rounded down to the
//!   second under a minute, 5 s under ten minutes, 30 s under an hour, 5 min under a day and to
//!   the hour beyond (the rollup keeps counts per rounded wait, so the median is exact to that).
//! - Opt-outs: numbers with an `opt_out` event in the range. Hand-offs: hand-off notifications
//!   (one per turn that handed the conversation to a person) in the range.

use crate::StoreResult;
use async_trait::async_trait;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use leadline_domain::AccountId;
use leadline_domain::ids::ChannelId;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A stretch of time with one UTC offset: from `start` (inclusive) until the next span's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetSpan {
    pub start: Timestamp,
    pub offset_seconds: i32,
}

/// How instants map to the account's calendar days over a range: the UTC offsets in force, in
/// order. A day number is `(instant + offset) / day` in microseconds, so the database can bucket
/// with integer arithmetic on both backends, daylight-saving changes included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayBuckets {
    spans: Vec<OffsetSpan>,
}

impl DayBuckets {
    /// Days in UTC.
    pub fn utc() -> Self {
        Self::for_zone(&TimeZone::UTC, Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH)
    }

    /// Days in `zone` for instants in `[from, to)`.
    pub fn for_zone(zone: &TimeZone, from: Timestamp, to: Timestamp) -> Self {
        let mut spans = vec![OffsetSpan {
            start: from,
            offset_seconds: zone.to_offset(from).seconds(),
        }];
        for transition in zone.following(from) {
            if transition.timestamp() >= to {
                break;
            }
            spans.push(OffsetSpan {
                start: transition.timestamp(),
                offset_seconds: transition.offset().seconds(),
            });
        }
        Self { spans }
    }

    /// The offsets in force, oldest first; never empty.
    pub fn spans(&self) -> &[OffsetSpan] {
        &self.spans
    }

    /// The day number (days since 1970-01-01 in local time) of an instant, as the SQL computes it.
    pub fn day_number(&self, at: Timestamp) -> i64 {
        let offset = self
            .spans
            .iter()
            .rev()
            .find(|s| s.start <= at)
            .or(self.spans.first())
            .map_or(0, |s| i64::from(s.offset_seconds));
        (at.as_microsecond() + offset * 1_000_000).div_euclid(MICROS_PER_DAY)
    }

    /// The calendar date of a day number.
    pub fn date(day_number: i64) -> Date {
        let epoch = jiff::civil::date(1970, 1, 1);
        epoch
            .checked_add(SignedDuration::from_hours(day_number.saturating_mul(24)))
            .unwrap_or(epoch)
    }
}

/// What to aggregate: one account, instants in `[from, to)`, optionally one channel.
#[derive(Clone, Debug)]
pub struct AnalyticsQuery {
    pub account: AccountId,
    pub from: Timestamp,
    pub to: Timestamp,
    pub channel: Option<ChannelId>,
    pub days: DayBuckets,
}

/// How far the leads created in the range got (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Funnel {
    pub new: u64,
    pub contacted: u64,
    pub replied: u64,
    pub qualified: u64,
    pub booked: u64,
    /// Of the cohort, leads whose number opted out since the range began.
    pub opted_out: u64,
}

/// One calendar day's messages. Days without messages are absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayActivity {
    pub date: Date,
    pub inbound: u64,
    /// Outbound messages the provider accepted that day.
    pub sent: u64,
    /// Of those, the ones now `delivered` or `read`.
    pub delivered: u64,
    /// Outbound messages now `failed` or `undelivered`.
    pub failed: u64,
    /// Segments of the messages sent (what carriers bill).
    pub segments: u64,
}

/// Time to first response over the conversations that started in the range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FirstResponse {
    /// Conversations whose first inbound message got a sent reply.
    pub answered: u64,
    /// Conversations still waiting for one.
    pub unanswered: u64,
    pub median: Option<SignedDuration>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnalyticsReport {
    pub funnel: Funnel,
    /// Oldest day first.
    pub days: Vec<DayActivity>,
    pub first_response: FirstResponse,
    /// Distinct numbers that opted out in the range.
    pub opt_outs: u64,
    pub handoffs: u64,
}

impl AnalyticsReport {
    pub fn total(&self, field: impl Fn(&DayActivity) -> u64) -> u64 {
        self.days.iter().map(field).sum()
    }
}

/// The median of a histogram of seconds given as `(value, count)` pairs in any order (the mean
/// of the middle two for an even count).
pub fn median_seconds(mut counts: Vec<(i64, u64)>) -> Option<SignedDuration> {
    counts.sort_unstable();
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    // The values at zero-based positions (total - 1) / 2 and total / 2.
    let nth = |position: u64| {
        let mut seen = 0;
        counts.iter().find_map(|&(value, n)| {
            seen += n;
            (seen > position).then_some(value)
        })
    };
    let (low, high) = (nth((total - 1) / 2)?, nth(total / 2)?);
    Some(SignedDuration::from_millis((low + high) * 500))
}

#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// Everything the analytics page shows for the query, in a handful of aggregate queries.
    async fn analytics_report(&self, query: &AnalyticsQuery) -> StoreResult<AnalyticsReport>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn days_follow_daylight_saving() {
        let zone = TimeZone::get("America/Chicago").unwrap();
        let from: Timestamp = "2025-03-01T06:00:00Z".parse().unwrap();
        let to: Timestamp = "2025-04-01T05:00:00Z".parse().unwrap();
        let days = DayBuckets::for_zone(&zone, from, to);
        assert_eq!(days.spans().len(), 2);
        // 23:30 local on either side of the change stays on its own local day.
        let before: Timestamp = "2025-03-08T05:30:00Z".parse().unwrap();
        let after: Timestamp = "2025-03-10T04:30:00Z".parse().unwrap();
        assert_eq!(
            DayBuckets::date(days.day_number(before)),
            jiff::civil::date(2025, 3, 7)
        );
        assert_eq!(
            DayBuckets::date(days.day_number(after)),
            jiff::civil::date(2025, 3, 9)
        );
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median_seconds(vec![]), None);
        assert_eq!(median_seconds(vec![(7, 0)]), None);
        assert_eq!(
            median_seconds(vec![(5, 1), (1, 1), (3, 1)]),
            Some(SignedDuration::from_secs(3))
        );
        assert_eq!(
            median_seconds(vec![(4, 1), (1, 1), (2, 1), (10, 1)]),
            Some(SignedDuration::from_secs(3))
        );
        assert_eq!(
            median_seconds(vec![(1, 1), (2, 1)]),
            Some(SignedDuration::from_millis(1500))
        );
        // Counts weigh: 60 s twice and 600 s once is a median of 60 s.
        assert_eq!(
            median_seconds(vec![(600, 1), (60, 2)]),
            Some(SignedDuration::from_secs(60))
        );
    }
}
