//! The turn store, written once for both backends and expanded by `impl_turns!`.

macro_rules! impl_turns {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::db_error::db_err;
            use $crate::rows::{json_text, micros, now_us, opt_json_text, ts, LeadRow};
            use async_trait::async_trait;
            use jiff::Timestamp;
            use leadline_domain::AccountId;
            use leadline_domain::ids::ConversationId;
            use leadline_store::{Lead, NewTurn, StoreError, StoreResult, TurnRecord, TurnStore};

            type TurnRow = (
                String,
                String,
                Option<String>,
                String,
                String,
                i64,
                String,
                String,
                i64,
                i64,
                i64,
            );

            fn corrupt(what: &str) -> StoreError {
                StoreError::Corrupt(format!("turns.{what}"))
            }

            #[async_trait]
            impl TurnStore for $store {
                async fn record_turn(&self, turn: NewTurn) -> StoreResult<Lead> {
                    let mut tx = self.begin_write().await?;
                    let lead = sqlx::query_as::<_, LeadRow>(
                        "UPDATE leads SET stage = COALESCE($3, stage), fields = COALESCE($4, fields), \
                         score = $5, intent = $6, updated_at = $7 \
                         WHERE account_id = $1 AND id = $2 RETURNING *",
                    )
                    .bind(turn.account_id.to_string())
                    .bind(turn.lead_id.to_string())
                    .bind(turn.stage.as_deref())
                    .bind(opt_json_text(turn.fields.as_ref())?)
                    .bind(turn.score)
                    .bind(&turn.intent)
                    .bind(now_us())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .ok_or(StoreError::NotFound)?
                    .into_record()?;
                    sqlx::query(
                        "INSERT INTO turns (id, account_id, lead_id, conversation_id, message_id, engine, intent, \
                         score, next_action, details, input_tokens, output_tokens, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(turn.id.to_string())
                    .bind(turn.account_id.to_string())
                    .bind(turn.lead_id.to_string())
                    .bind(turn.conversation_id.to_string())
                    .bind(turn.message_id.map(|m| m.to_string()))
                    .bind(&turn.engine)
                    .bind(&turn.intent)
                    .bind(i64::from(turn.score))
                    .bind(&turn.next_action)
                    .bind(json_text(&turn.details)?)
                    .bind(turn.input_tokens)
                    .bind(turn.output_tokens)
                    .bind(micros(turn.at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    Self::commit(tx).await?;
                    Ok(lead)
                }

                async fn turns(
                    &self,
                    account: AccountId,
                    conversation: ConversationId,
                ) -> StoreResult<Vec<TurnRecord>> {
                    let rows: Vec<TurnRow> = sqlx::query_as(
                        "SELECT id, conversation_id, message_id, engine, intent, score, next_action, details, \
                         input_tokens, output_tokens, created_at FROM turns \
                         WHERE account_id = $1 AND conversation_id = $2 ORDER BY created_at, id",
                    )
                    .bind(account.to_string())
                    .bind(conversation.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    rows.into_iter()
                        .map(|(id, conversation_id, message_id, engine, intent, score, next_action, details, input, output, created)| {
                            Ok(TurnRecord {
                                id: id.parse().map_err(|_| corrupt("id"))?,
                                conversation_id: conversation_id.parse().map_err(|_| corrupt("conversation_id"))?,
                                message_id: message_id
                                    .map(|m| m.parse().map_err(|_| corrupt("message_id")))
                                    .transpose()?,
                                engine,
                                intent,
                                score: i32::try_from(score).map_err(|_| corrupt("score"))?,
                                next_action,
                                details: serde_json::from_str(&details).map_err(|_| corrupt("details"))?,
                                input_tokens: input,
                                output_tokens: output,
                                created_at: ts(created, "turns.created_at")?,
                            })
                        })
                        .collect()
                }

                async fn tokens_used_since(&self, account: AccountId, since: Timestamp) -> StoreResult<u64> {
                    // Turns and model-written summaries share the budget.
                    let (used,): (Option<i64>,) = sqlx::query_as(
                        "SELECT CAST(COALESCE((SELECT SUM(input_tokens + output_tokens) FROM turns \
                         WHERE account_id = $1 AND created_at >= $2), 0) \
                         + COALESCE((SELECT SUM(input_tokens + output_tokens) FROM conversation_summaries \
                         WHERE account_id = $1 AND created_at >= $2), 0) AS BIGINT)",
                    )
                    .bind(account.to_string())
                    .bind(micros(since))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(used.and_then(|u| u64::try_from(u).ok()).unwrap_or(0))
                }
            }
        };
    };
}

pub(crate) use impl_turns;
