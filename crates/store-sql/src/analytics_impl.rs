//! The analytics store, written once for both backends and expanded by `impl_analytics!` for each
//! store type. Every figure is read from a rollup the database keeps on each write (see
//! `0010_analytics_rollups.sql`), summed over the range's 15-minute buckets:
//! - per-day messages: `analytics_messages`, grouped into the account's days;
//! - the funnel: `analytics_funnel` (channel '' for every channel), plus the cohort's opt-outs,
//!   found from the range's opt-out events (`compliance_events_account_kind_at`), few by nature;
//! - first response: `analytics_response`, counts per rounded wait, for the median;
//! - opt-outs: `compliance_events_account_kind_at`; hand-offs: `notifications_account_kind_created`.
//!
//! Days are bucketed in SQL with integer arithmetic: the offset in force is a `CASE` over the
//! instants where the account's zone changes offset inside the range (usually none or one).

use jiff::Timestamp;
use leadline_store::DayBuckets;

/// Microseconds in a rollup bucket (15 minutes).
pub(crate) const BUCKET_MICROS: i64 = 900_000_000;

/// The buckets `[first, end)` whose start falls in `[from, to)`.
pub(crate) fn bucket_range(from: Timestamp, to: Timestamp) -> (i64, i64) {
    let ceil = |t: Timestamp| {
        let us = t.as_microsecond();
        us.div_euclid(BUCKET_MICROS) + i64::from(us.rem_euclid(BUCKET_MICROS) != 0)
    };
    (ceil(from), ceil(to))
}

/// The SQL day number of the bucket in column `bucket`, and the values to bind for it, numbered
/// from `first`.
pub(crate) fn day_bucket_sql(days: &DayBuckets, first: usize) -> (String, Vec<i64>) {
    let start = format!("(bucket * {BUCKET_MICROS})");
    let spans = days.spans();
    let mut binds = Vec::with_capacity(spans.len() * 2);
    let mut n = first;
    let mut whens = String::new();
    for pair in spans.windows(2) {
        whens.push_str(&format!(" WHEN {start} < ${n} THEN ${}", n + 1));
        binds.push(pair[1].start.as_microsecond());
        binds.push(i64::from(pair[0].offset_seconds) * 1_000_000);
        n += 2;
    }
    binds.push(
        spans
            .last()
            .map_or(0, |s| i64::from(s.offset_seconds) * 1_000_000),
    );
    // One offset over the whole range (the usual case) needs no CASE.
    let offset = if whens.is_empty() {
        format!("${n}")
    } else {
        format!("CASE{whens} ELSE ${n} END")
    };
    (format!("(({start} + {offset}) / 86400000000)"), binds)
}

/// A count from the database: never negative, so a negative one is zero.
pub(crate) fn count(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

macro_rules! impl_analytics {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::analytics_impl::{bucket_range, count, day_bucket_sql};
            use $crate::db_error::db_err;
            use async_trait::async_trait;
            use leadline_store::{
                median_seconds, AnalyticsQuery, AnalyticsReport, AnalyticsStore, DayActivity, DayBuckets,
                FirstResponse, Funnel, StoreResult,
            };

            impl $store {
                /// Leads created in the range and how far each got (see `leadline_store::analytics`).
                async fn analytics_funnel(&self, q: &AnalyticsQuery, channel: Option<&str>) -> StoreResult<Funnel> {
                    let (first, end) = bucket_range(q.from, q.to);
                    let row: (Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
                        "SELECT CAST(SUM(leads) AS BIGINT), CAST(SUM(contacted) AS BIGINT), CAST(SUM(replied) AS BIGINT), CAST(SUM(qualified) AS BIGINT), CAST(SUM(booked) AS BIGINT) \
                         FROM analytics_funnel \
                         WHERE account_id = $1 AND channel_id = $2 AND bucket >= $3 AND bucket < $4",
                    )
                    .bind(q.account.to_string())
                    .bind(channel.unwrap_or(""))
                    .bind(first)
                    .bind(end)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                    // The cohort's opt-outs, found from the opt-out events since the range began:
                    // few, where leads are many.
                    let (opted_out,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(DISTINCT l.id) FROM compliance_events e \
                         JOIN leads l ON l.account_id = e.account_id AND l.phone = e.phone \
                         WHERE e.account_id = $1 AND e.kind = 'opt_out' AND e.at >= $2 \
                         AND l.created_at >= $2 AND l.created_at < $3 \
                         AND ($4 IS NULL OR EXISTS (SELECT 1 FROM conversations c \
                             WHERE c.account_id = l.account_id AND c.lead_id = l.id AND c.channel_id = $4))",
                    )
                    .bind(q.account.to_string())
                    .bind(first * $crate::analytics_impl::BUCKET_MICROS)
                    .bind(end * $crate::analytics_impl::BUCKET_MICROS)
                    .bind(channel)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(Funnel {
                        new: count(row.0),
                        contacted: count(row.1),
                        replied: count(row.2),
                        qualified: count(row.3),
                        booked: count(row.4),
                        opted_out: count(Some(opted_out)),
                    })
                }

                /// Messages per local day.
                async fn analytics_days(&self, q: &AnalyticsQuery, channel: Option<&str>) -> StoreResult<Vec<DayActivity>> {
                    let (first, end) = bucket_range(q.from, q.to);
                    let (day, day_binds) = day_bucket_sql(&q.days, 5);
                    // Buckets whose counts all went back to zero (a deleted lead's) are no day.
                    let sql = format!(
                        "SELECT {day} AS day, CAST(SUM(inbound) AS BIGINT), CAST(SUM(sent) AS BIGINT), CAST(SUM(delivered) AS BIGINT), CAST(SUM(failed) AS BIGINT), CAST(SUM(segments) AS BIGINT) \
                         FROM analytics_messages \
                         WHERE account_id = $1 AND bucket >= $2 AND bucket < $3 \
                         AND ($4 IS NULL OR channel_id = $4) \
                         GROUP BY 1 HAVING SUM(inbound) + SUM(sent) + SUM(failed) > 0 ORDER BY 1"
                    );
                    let mut query = sqlx::query_as::<_, (i64, i64, i64, i64, i64, i64)>(&sql)
                        .bind(q.account.to_string())
                        .bind(first)
                        .bind(end)
                        .bind(channel);
                    for value in day_binds {
                        query = query.bind(value);
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(db_err)?;
                    Ok(rows
                        .into_iter()
                        .map(|(day, inbound, sent, delivered, failed, segments)| DayActivity {
                            date: DayBuckets::date(day),
                            inbound: count(Some(inbound)),
                            sent: count(Some(sent)),
                            delivered: count(Some(delivered)),
                            failed: count(Some(failed)),
                            segments: count(Some(segments)),
                        })
                        .collect())
                }

                /// First inbound message → first reply sent after it, per conversation started in
                /// the range: counts per rounded wait (-1: unanswered).
                async fn analytics_first_response(
                    &self,
                    q: &AnalyticsQuery,
                    channel: Option<&str>,
                ) -> StoreResult<FirstResponse> {
                    let (first, end) = bucket_range(q.from, q.to);
                    let rows: Vec<(i64, i64)> = sqlx::query_as(
                        "SELECT wait_key, CAST(SUM(conversations) AS BIGINT) FROM analytics_response \
                         WHERE account_id = $1 AND bucket >= $2 AND bucket < $3 \
                         AND ($4 IS NULL OR channel_id = $4) GROUP BY wait_key",
                    )
                    .bind(q.account.to_string())
                    .bind(first)
                    .bind(end)
                    .bind(channel)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    let (unanswered, waits): (Vec<_>, Vec<_>) =
                        rows.into_iter().map(|(wait, n)| (wait, count(Some(n)))).partition(|(wait, _)| *wait < 0);
                    Ok(FirstResponse {
                        answered: waits.iter().map(|(_, n)| n).sum(),
                        unanswered: unanswered.iter().map(|(_, n)| n).sum(),
                        median: median_seconds(waits),
                    })
                }

                /// Numbers that opted out, and hand-offs.
                async fn analytics_people(&self, q: &AnalyticsQuery, channel: Option<&str>) -> StoreResult<(u64, u64)> {
                    let (first, end) = bucket_range(q.from, q.to);
                    let sql = "SELECT \
                         (SELECT COUNT(DISTINCT e.phone) FROM compliance_events e \
                          WHERE e.account_id = $1 AND e.kind = 'opt_out' AND e.at >= $2 AND e.at < $3 \
                          AND ($4 IS NULL OR EXISTS (SELECT 1 FROM leads l \
                              JOIN conversations c ON c.account_id = l.account_id AND c.lead_id = l.id \
                              WHERE l.account_id = e.account_id AND l.phone = e.phone AND c.channel_id = $4))), \
                         (SELECT COUNT(*) FROM notifications n \
                          WHERE n.account_id = $1 AND n.kind = 'handoff' \
                          AND n.created_at >= $2 AND n.created_at < $3 \
                          AND ($4 IS NULL OR EXISTS (SELECT 1 FROM conversations c \
                              WHERE c.account_id = n.account_id AND c.id = n.conversation_id AND c.channel_id = $4)))";
                    let (opt_outs, handoffs): (i64, i64) = sqlx::query_as(sql)
                        .bind(q.account.to_string())
                        .bind(first * $crate::analytics_impl::BUCKET_MICROS)
                        .bind(end * $crate::analytics_impl::BUCKET_MICROS)
                        .bind(channel)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok((count(Some(opt_outs)), count(Some(handoffs))))
                }
            }

            #[async_trait]
            impl AnalyticsStore for $store {
                async fn analytics_report(&self, q: &AnalyticsQuery) -> StoreResult<AnalyticsReport> {
                    let channel = q.channel.map(|c| c.to_string());
                    let channel = channel.as_deref();
                    // Independent reads: run them side by side on the reader pool.
                    let (funnel, days, first_response, people) = tokio::try_join!(
                        self.analytics_funnel(q, channel),
                        self.analytics_days(q, channel),
                        self.analytics_first_response(q, channel),
                        self.analytics_people(q, channel),
                    )?;
                    let (opt_outs, handoffs) = people;
                    Ok(AnalyticsReport { funnel, days, first_response, opt_outs, handoffs })
                }
            }
        };
    };
}

pub(crate) use impl_analytics;
