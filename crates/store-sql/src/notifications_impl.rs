//! The summary and notification store, written once for both backends and expanded by
//! `impl_notifications!`. Idempotency rests on unique indexes: a summary's dedup key, a
//! notification's key, and (notification, channel, target) for deliveries; each insert is
//! `ON CONFLICT DO NOTHING` and a repeat reads the first row back.

macro_rules! impl_notifications {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::db_error::db_err;
            use $crate::messaging_impl::placeholders;
            use $crate::rows::{micros, ts};
            use async_trait::async_trait;
            use jiff::Timestamp;
            use leadline_domain::ids::{ConversationId, EventId};
            use leadline_domain::AccountId;
            use leadline_store::{
                Delivery, DeliveryAttempt, DeliveryChannel, DeliveryStatus, NewDelivery, NewHandoff, NewJob,
                NewSummary, Notification, NotificationPref, NotificationStore, StoreError, StoreResult, Summary,
                SummaryReason,
            };

            type SummaryRow = (String, String, String, String, String, i64);
            type NotificationRow = (String, String, String, String, String, String, Option<String>, i64);
            type DeliveryRow = (
                String,
                String,
                String,
                String,
                String,
                String,
                i32,
                Option<String>,
                i64,
                i64,
                Option<i64>,
            );

            const SUMMARY_COLUMNS: &str = "id, conversation_id, reason, engine, body, created_at";
            const NOTIFICATION_COLUMNS: &str =
                "id, account_id, conversation_id, kind, idempotency_key, reason, summary, created_at";
            const DELIVERY_COLUMNS: &str = "id, account_id, notification_id, channel, target, status, attempts, \
                 last_error, created_at, updated_at, delivered_at";

            fn corrupt(what: &str) -> StoreError {
                StoreError::Corrupt(format!("notifications.{what}"))
            }

            fn summary_record(row: SummaryRow) -> StoreResult<Summary> {
                let (id, conversation_id, reason, engine, body, created) = row;
                Ok(Summary {
                    id: id.parse().map_err(|_| corrupt("summary id"))?,
                    conversation_id: conversation_id.parse().map_err(|_| corrupt("summary conversation_id"))?,
                    reason: SummaryReason::parse(&reason).ok_or_else(|| corrupt("summary reason"))?,
                    engine,
                    body,
                    created_at: ts(created, "conversation_summaries.created_at")?,
                })
            }

            fn notification_record(row: NotificationRow) -> StoreResult<Notification> {
                let (id, account_id, conversation_id, kind, idempotency_key, reason, summary, created) = row;
                Ok(Notification {
                    id: id.parse().map_err(|_| corrupt("id"))?,
                    account_id: account_id.parse().map_err(|_| corrupt("account_id"))?,
                    conversation_id: conversation_id.parse().map_err(|_| corrupt("conversation_id"))?,
                    kind,
                    idempotency_key,
                    reason,
                    summary,
                    created_at: ts(created, "notifications.created_at")?,
                })
            }

            fn delivery_record(row: DeliveryRow) -> StoreResult<Delivery> {
                let (id, account_id, notification_id, channel, target, status, attempts, last_error, created, updated, delivered) =
                    row;
                Ok(Delivery {
                    id: id.parse().map_err(|_| corrupt("delivery id"))?,
                    account_id: account_id.parse().map_err(|_| corrupt("delivery account_id"))?,
                    notification_id: notification_id.parse().map_err(|_| corrupt("delivery notification_id"))?,
                    channel: DeliveryChannel::parse(&channel).ok_or_else(|| corrupt("delivery channel"))?,
                    target,
                    status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("delivery status"))?,
                    attempts,
                    last_error,
                    created_at: ts(created, "notification_deliveries.created_at")?,
                    updated_at: ts(updated, "notification_deliveries.updated_at")?,
                    delivered_at: delivered.map(|d| ts(d, "notification_deliveries.delivered_at")).transpose()?,
                })
            }

            impl $store {
                async fn summary_by_key(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    account: AccountId,
                    key: &str,
                ) -> StoreResult<Option<Summary>> {
                    let row: Option<SummaryRow> = sqlx::query_as(&format!(
                        "SELECT {SUMMARY_COLUMNS} FROM conversation_summaries WHERE account_id = $1 AND dedup_key = $2"
                    ))
                    .bind(account.to_string())
                    .bind(key)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    row.map(summary_record).transpose()
                }

                async fn deliveries_of(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    account: AccountId,
                    notification: EventId,
                ) -> StoreResult<Vec<Delivery>> {
                    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
                         WHERE account_id = $1 AND notification_id = $2 ORDER BY created_at, id"
                    ))
                    .bind(account.to_string())
                    .bind(notification.to_string())
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    rows.into_iter().map(delivery_record).collect()
                }
            }

            #[async_trait]
            impl NotificationStore for $store {
                async fn record_summary(&self, summary: NewSummary) -> StoreResult<Summary> {
                    let account = summary.account_id;
                    let mut tx = self.begin_write().await?;
                    if let Some(key) = summary.dedup_key.as_deref()
                        && let Some(existing) = Self::summary_by_key(&mut tx, account, key).await?
                    {
                        return Ok(existing);
                    }
                    let found: Option<(String,)> =
                        sqlx::query_as("SELECT id FROM conversations WHERE account_id = $1 AND id = $2")
                            .bind(account.to_string())
                            .bind(summary.conversation_id.to_string())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    if found.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    let row: SummaryRow = sqlx::query_as(&format!(
                        "INSERT INTO conversation_summaries (id, account_id, conversation_id, reason, engine, body, \
                         input_tokens, output_tokens, dedup_key, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {SUMMARY_COLUMNS}"
                    ))
                    .bind(summary.id.to_string())
                    .bind(account.to_string())
                    .bind(summary.conversation_id.to_string())
                    .bind(summary.reason.as_str())
                    .bind(&summary.engine)
                    .bind(&summary.body)
                    .bind(summary.input_tokens)
                    .bind(summary.output_tokens)
                    .bind(summary.dedup_key.as_deref())
                    .bind(micros(summary.at))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    Self::commit(tx).await?;
                    summary_record(row)
                }

                async fn latest_summary(
                    &self,
                    account: AccountId,
                    conversation: ConversationId,
                ) -> StoreResult<Option<Summary>> {
                    let row: Option<SummaryRow> = sqlx::query_as(&format!(
                        "SELECT {SUMMARY_COLUMNS} FROM conversation_summaries WHERE account_id = $1 \
                         AND conversation_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
                    ))
                    .bind(account.to_string())
                    .bind(conversation.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                    row.map(summary_record).transpose()
                }

                async fn latest_summaries(
                    &self,
                    account: AccountId,
                    conversations: &[ConversationId],
                ) -> StoreResult<Vec<Summary>> {
                    if conversations.is_empty() {
                        return Ok(Vec::new());
                    }
                    let sql = format!(
                        "SELECT {SUMMARY_COLUMNS} FROM conversation_summaries s WHERE account_id = $1 \
                         AND conversation_id IN ({}) AND created_at = (SELECT MAX(created_at) \
                         FROM conversation_summaries m WHERE m.account_id = s.account_id \
                         AND m.conversation_id = s.conversation_id) ORDER BY conversation_id, id DESC",
                        placeholders(2, conversations.len())
                    );
                    let mut query = sqlx::query_as::<_, SummaryRow>(&sql).bind(account.to_string());
                    for id in conversations {
                        query = query.bind(id.to_string());
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(db_err)?;
                    let mut out: Vec<Summary> = Vec::with_capacity(rows.len());
                    for row in rows {
                        let summary = summary_record(row)?;
                        // Two summaries in the same microsecond: keep one.
                        if out.last().is_none_or(|l| l.conversation_id != summary.conversation_id) {
                            out.push(summary);
                        }
                    }
                    Ok(out)
                }

                async fn summaries(
                    &self,
                    account: AccountId,
                    conversation: ConversationId,
                ) -> StoreResult<Vec<Summary>> {
                    let rows: Vec<SummaryRow> = sqlx::query_as(&format!(
                        "SELECT {SUMMARY_COLUMNS} FROM conversation_summaries WHERE account_id = $1 \
                         AND conversation_id = $2 ORDER BY created_at DESC, id DESC"
                    ))
                    .bind(account.to_string())
                    .bind(conversation.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    rows.into_iter().map(summary_record).collect()
                }

                async fn record_handoff(&self, handoff: NewHandoff) -> StoreResult<(Notification, bool)> {
                    let account = handoff.account_id;
                    let at = micros(handoff.at);
                    let mut tx = self.begin_write().await?;
                    let flagged = sqlx::query(
                        "UPDATE conversations SET needs_attention = TRUE, \
                         ai_paused = CASE WHEN $3 THEN TRUE ELSE ai_paused END \
                         WHERE account_id = $1 AND id = $2",
                    )
                    .bind(account.to_string())
                    .bind(handoff.conversation_id.to_string())
                    .bind(handoff.pause_ai)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if flagged.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    let inserted: Option<NotificationRow> = sqlx::query_as(&format!(
                        "INSERT INTO notifications (id, account_id, conversation_id, kind, idempotency_key, reason, \
                         summary, created_at) VALUES ($1, $2, $3, 'handoff', $4, $5, NULL, $6) \
                         ON CONFLICT (account_id, idempotency_key) DO NOTHING RETURNING {NOTIFICATION_COLUMNS}"
                    ))
                    .bind(handoff.notification_id.to_string())
                    .bind(account.to_string())
                    .bind(handoff.conversation_id.to_string())
                    .bind(&handoff.idempotency_key)
                    .bind(&handoff.reason)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let Some(row) = inserted else {
                        // This hand-off turn was already recorded (a retried job): flags only.
                        let existing: NotificationRow = sqlx::query_as(&format!(
                            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
                             WHERE account_id = $1 AND idempotency_key = $2"
                        ))
                        .bind(account.to_string())
                        .bind(&handoff.idempotency_key)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        Self::commit(tx).await?;
                        return Ok((notification_record(existing)?, false));
                    };
                    let job = NewJob {
                        id: handoff.job_id,
                        account_id: account,
                        kind: handoff.job_kind.clone(),
                        dedup_key: None,
                        payload: serde_json::json!({ "notification_id": handoff.notification_id.to_string() }),
                        run_at: handoff.at,
                    };
                    Self::enqueue_job_in(&mut tx, &job, at).await?;
                    Self::commit(tx).await?;
                    Ok((notification_record(row)?, true))
                }

                async fn get_notification(&self, account: AccountId, id: EventId) -> StoreResult<Notification> {
                    let row: NotificationRow = sqlx::query_as(&format!(
                        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE account_id = $1 AND id = $2"
                    ))
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .ok_or(StoreError::NotFound)?;
                    notification_record(row)
                }

                async fn plan_deliveries(
                    &self,
                    account: AccountId,
                    notification: EventId,
                    summary: &str,
                    deliveries: Vec<NewDelivery>,
                    at: Timestamp,
                ) -> StoreResult<Vec<Delivery>> {
                    let now = micros(at);
                    let mut tx = self.begin_write().await?;
                    let updated = sqlx::query("UPDATE notifications SET summary = $3 WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(notification.to_string())
                        .bind(summary)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    for delivery in deliveries {
                        let inserted = sqlx::query(
                            "INSERT INTO notification_deliveries (id, account_id, notification_id, channel, target, \
                             status, attempts, last_error, created_at, updated_at, delivered_at) \
                             VALUES ($1, $2, $3, $4, $5, 'pending', 0, NULL, $6, $6, NULL) \
                             ON CONFLICT (notification_id, channel, target) DO NOTHING",
                        )
                        .bind(delivery.id.to_string())
                        .bind(account.to_string())
                        .bind(notification.to_string())
                        .bind(delivery.channel.as_str())
                        .bind(&delivery.target)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        if inserted.rows_affected() == 1 {
                            let job = NewJob {
                                id: delivery.job_id,
                                account_id: account,
                                kind: delivery.job_kind.clone(),
                                dedup_key: Some(format!("{}:{}", delivery.job_kind, delivery.id)),
                                payload: serde_json::json!({ "delivery_id": delivery.id.to_string() }),
                                run_at: at,
                            };
                            Self::enqueue_job_in(&mut tx, &job, now).await?;
                        }
                    }
                    let all = Self::deliveries_of(&mut tx, account, notification).await?;
                    Self::commit(tx).await?;
                    Ok(all)
                }

                async fn get_delivery(&self, account: AccountId, id: EventId) -> StoreResult<Delivery> {
                    let row: DeliveryRow = sqlx::query_as(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE account_id = $1 AND id = $2"
                    ))
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .ok_or(StoreError::NotFound)?;
                    delivery_record(row)
                }

                async fn record_delivery_attempt(
                    &self,
                    account: AccountId,
                    id: EventId,
                    attempt: DeliveryAttempt,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    let (status, error, delivered) = match &attempt {
                        DeliveryAttempt::Delivered => (DeliveryStatus::Delivered, None, Some(micros(at))),
                        DeliveryAttempt::Retry { error } => (DeliveryStatus::Pending, Some(error.as_str()), None),
                        DeliveryAttempt::Failed { error } => (DeliveryStatus::Failed, Some(error.as_str()), None),
                    };
                    let done = sqlx::query(
                        "UPDATE notification_deliveries SET status = $3, attempts = attempts + 1, \
                         last_error = COALESCE($4, last_error), updated_at = $5, delivered_at = $6 \
                         WHERE account_id = $1 AND id = $2 AND status = 'pending'",
                    )
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .bind(status.as_str())
                    .bind(error)
                    .bind(micros(at))
                    .bind(delivered)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() == 0 {
                        // Another account's id is NotFound; a finished delivery is left alone.
                        self.get_delivery(account, id).await?;
                        return Ok(false);
                    }
                    Ok(true)
                }

                async fn recent_deliveries(&self, account: AccountId, limit: u32) -> StoreResult<Vec<Delivery>> {
                    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE account_id = $1 \
                         ORDER BY created_at DESC, id DESC LIMIT $2"
                    ))
                    .bind(account.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    rows.into_iter().map(delivery_record).collect()
                }

                async fn notification_prefs(&self, account: AccountId) -> StoreResult<Vec<NotificationPref>> {
                    let rows: Vec<(String, bool)> = sqlx::query_as(
                        "SELECT user_id, email_on_handoff FROM notification_prefs WHERE account_id = $1 ORDER BY user_id",
                    )
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    rows.into_iter()
                        .map(|(user, on)| {
                            Ok(NotificationPref {
                                user_id: user.parse().map_err(|_| corrupt("prefs user_id"))?,
                                email_on_handoff: on,
                            })
                        })
                        .collect()
                }

                async fn set_notification_pref(&self, account: AccountId, pref: NotificationPref) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    // Only a member of the account has preferences there.
                    let member: Option<(String,)> =
                        sqlx::query_as("SELECT user_id FROM memberships WHERE account_id = $1 AND user_id = $2")
                            .bind(account.to_string())
                            .bind(pref.user_id.to_string())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    if member.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query(
                        "INSERT INTO notification_prefs (account_id, user_id, email_on_handoff, updated_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, user_id) \
                         DO UPDATE SET email_on_handoff = excluded.email_on_handoff, updated_at = excluded.updated_at",
                    )
                    .bind(account.to_string())
                    .bind(pref.user_id.to_string())
                    .bind(pref.email_on_handoff)
                    .bind(micros(Timestamp::now()))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    Self::commit(tx).await?;
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use impl_notifications;
