//! The analytics store, written once for both backends and expanded by `impl_analytics!` for each
//! store type. Every query is an aggregate bounded by the account and the range, and reads only
//! index entries where it can (see `0004_analytics.sql`):
//! - per-day messages and the leads messaged: a range scan of `messages_account_activity`, keyed
//!   on when a message happened, `COALESCE(sent_at, created_at)`; the expression is written the
//!   same way everywhere so both planners match it to the index;
//! - first response: the inbound messages of the range from the same index, grouped by
//!   conversation, then two probes per conversation on `messages_conversation_created`;
//! - the funnel: the leads created in the range (`leads_account_created`), each probed through
//!   its conversations with one seek per probe on `messages_conversation_direction`;
//! - opt-outs: `compliance_events_account_kind_at`; hand-offs: `conversations_account_activity`.
//!
//! Days are bucketed in SQL with integer arithmetic: the offset in force is a `CASE` over the
//! instants where the account's zone changes offset inside the range (usually none or one).

use leadline_store::DayBuckets;

/// When a message happened: sent, or else received or queued.
pub(crate) const HAPPENED_AT: &str = "COALESCE(sent_at, created_at)";

/// The SQL day number of `HAPPENED_AT` and the values to bind for it, numbered from `first`.
pub(crate) fn day_bucket_sql(days: &DayBuckets, first: usize) -> (String, Vec<i64>) {
    let spans = days.spans();
    let mut binds = Vec::with_capacity(spans.len() * 2);
    let mut n = first;
    let mut whens = String::new();
    for pair in spans.windows(2) {
        whens.push_str(&format!(" WHEN {HAPPENED_AT} < ${n} THEN ${}", n + 1));
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
    (format!("(({HAPPENED_AT} + {offset}) / 86400000000)"), binds)
}

/// A count from the database: never negative, so a negative one is zero.
pub(crate) fn count(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

macro_rules! impl_analytics {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::analytics_impl::{count, day_bucket_sql, HAPPENED_AT};
            use $crate::db_error::db_err;
            use $crate::rows::micros;
            use async_trait::async_trait;
            use leadline_store::{
                median_micros, AnalyticsQuery, AnalyticsReport, AnalyticsStore, DayActivity, DayBuckets,
                FirstResponse, Funnel, StoreResult,
            };

            impl $store {
                /// Leads created in the range and how far each got (see `leadline_store::analytics`).
                async fn analytics_funnel(&self, q: &AnalyticsQuery, channel: Option<&str>) -> StoreResult<Funnel> {
                    let row: (i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
                        "SELECT COUNT(*), \
                         SUM(CASE WHEN x.first_out IS NOT NULL \
                             OR x.stage IN ('contacted', 'replied', 'qualified', 'booked') THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN x.last_in > x.first_out \
                             OR x.stage IN ('replied', 'qualified', 'booked') THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN x.stage IN ('qualified', 'booked') THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN x.stage = 'booked' THEN 1 ELSE 0 END) \
                         FROM (SELECT l.stage, \
                           (SELECT MIN(m.sent_at) FROM conversations c \
                            JOIN messages m ON m.account_id = c.account_id AND m.conversation_id = c.id \
                            WHERE c.account_id = l.account_id AND c.lead_id = l.id \
                            AND ($4 IS NULL OR c.channel_id = $4) AND m.direction = 'outbound') AS first_out, \
                           (SELECT MAX(m.created_at) FROM conversations c \
                            JOIN messages m ON m.account_id = c.account_id AND m.conversation_id = c.id \
                            WHERE c.account_id = l.account_id AND c.lead_id = l.id \
                            AND ($4 IS NULL OR c.channel_id = $4) AND m.direction = 'inbound') AS last_in \
                          FROM leads l \
                          WHERE l.account_id = $1 AND l.created_at >= $2 AND l.created_at < $3 \
                          AND ($4 IS NULL OR EXISTS (SELECT 1 FROM conversations c \
                              WHERE c.account_id = l.account_id AND c.lead_id = l.id AND c.channel_id = $4))) x",
                    )
                    .bind(q.account.to_string())
                    .bind(micros(q.from))
                    .bind(micros(q.to))
                    .bind(channel)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(Funnel {
                        new: count(Some(row.0)),
                        contacted: count(row.1),
                        replied: count(row.2),
                        qualified: count(row.3),
                        booked: count(row.4),
                    })
                }

                /// Messages per local day.
                async fn analytics_days(&self, q: &AnalyticsQuery, channel: Option<&str>) -> StoreResult<Vec<DayActivity>> {
                    let (bucket, bucket_binds) = day_bucket_sql(&q.days, 5);
                    let sql = format!(
                        "SELECT {bucket} AS bucket, \
                         SUM(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN direction = 'outbound' AND sent_at IS NOT NULL THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN direction = 'outbound' AND sent_at IS NOT NULL \
                             AND status IN ('delivered', 'read') THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN direction = 'outbound' AND status IN ('failed', 'undelivered') THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN direction = 'outbound' AND sent_at IS NOT NULL THEN segments ELSE 0 END) \
                         FROM messages \
                         WHERE account_id = $1 AND {HAPPENED_AT} >= $2 AND {HAPPENED_AT} < $3 \
                         AND ($4 IS NULL OR channel_id = $4) \
                         GROUP BY 1 ORDER BY 1"
                    );
                    let mut query = sqlx::query_as::<_, (i64, i64, i64, i64, i64, i64)>(&sql)
                        .bind(q.account.to_string())
                        .bind(micros(q.from))
                        .bind(micros(q.to))
                        .bind(channel);
                    for value in bucket_binds {
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
                /// the range. One row per such conversation: bounded by the range.
                async fn analytics_first_response(
                    &self,
                    q: &AnalyticsQuery,
                    channel: Option<&str>,
                ) -> StoreResult<FirstResponse> {
                    let sql = format!(
                        "SELECT f.first_in, \
                         (SELECT MIN(o.sent_at) FROM messages o WHERE o.account_id = $1 \
                          AND o.conversation_id = f.conversation_id AND o.direction = 'outbound' \
                          AND o.sent_at >= f.first_in) \
                         FROM (SELECT conversation_id, MIN(created_at) AS first_in FROM messages \
                               WHERE account_id = $1 AND {HAPPENED_AT} >= $2 AND {HAPPENED_AT} < $3 \
                               AND direction = 'inbound' AND ($4 IS NULL OR channel_id = $4) \
                               GROUP BY conversation_id) f \
                         WHERE NOT EXISTS (SELECT 1 FROM messages e WHERE e.account_id = $1 \
                               AND e.conversation_id = f.conversation_id AND e.created_at < $2 \
                               AND e.direction = 'inbound')"
                    );
                    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(&sql)
                        .bind(q.account.to_string())
                        .bind(micros(q.from))
                        .bind(micros(q.to))
                        .bind(channel)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    let waits: Vec<i64> =
                        rows.iter().filter_map(|(first_in, reply)| reply.map(|at| at - first_in)).collect();
                    Ok(FirstResponse {
                        answered: waits.len() as u64,
                        unanswered: (rows.len() - waits.len()) as u64,
                        median: median_micros(waits),
                    })
                }

                /// Distinct leads sent a message, numbers that opted out, and hand-offs.
                async fn analytics_people(&self, q: &AnalyticsQuery, channel: Option<&str>) -> StoreResult<(u64, u64, u64)> {
                    // The message alias keeps the activity expression the index's, column for column.
                    let sql = "SELECT \
                         (SELECT COUNT(DISTINCT c.lead_id) FROM messages m \
                          JOIN conversations c ON c.account_id = m.account_id AND c.id = m.conversation_id \
                          WHERE m.account_id = $1 AND COALESCE(m.sent_at, m.created_at) >= $2 \
                          AND COALESCE(m.sent_at, m.created_at) < $3 \
                          AND m.direction = 'outbound' AND m.sent_at IS NOT NULL \
                          AND ($4 IS NULL OR m.channel_id = $4)), \
                         (SELECT COUNT(DISTINCT e.phone) FROM compliance_events e \
                          WHERE e.account_id = $1 AND e.kind = 'opt_out' AND e.at >= $2 AND e.at < $3 \
                          AND ($4 IS NULL OR EXISTS (SELECT 1 FROM leads l \
                              JOIN conversations c ON c.account_id = l.account_id AND c.lead_id = l.id \
                              WHERE l.account_id = e.account_id AND l.phone = e.phone AND c.channel_id = $4))), \
                         (SELECT COUNT(*) FROM conversations \
                          WHERE account_id = $1 AND needs_attention \
                          AND last_message_at >= $2 AND last_message_at < $3 \
                          AND ($4 IS NULL OR channel_id = $4))";
                    let (messaged, opt_outs, handoffs): (i64, i64, i64) = sqlx::query_as(sql)
                        .bind(q.account.to_string())
                        .bind(micros(q.from))
                        .bind(micros(q.to))
                        .bind(channel)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok((count(Some(messaged)), count(Some(opt_outs)), count(Some(handoffs))))
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
                    let (leads_messaged, opt_outs, handoffs) = people;
                    Ok(AnalyticsReport { funnel, days, first_response, leads_messaged, opt_outs, handoffs })
                }
            }
        };
    };
}

pub(crate) use impl_analytics;
