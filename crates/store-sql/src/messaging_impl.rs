//! The messaging stores (channels, leads, conversations, messages, jobs), written once for both
//! backends and expanded by `impl_store!` for each store type. Besides the hooks `store_impl`
//! lists, a backend supplies `CLAIM_LOCK`, the clause that keeps concurrent claimers of the outbox
//! and the job queue off each other's rows.
//!
//! Rules the SQL below keeps:
//! - A claim is one write transaction: pick the claimable ids (with `CLAIM_LOCK`), then mark them
//!   leased. A row is claimable when it is waiting and due with no live lease, or when it is
//!   `sending` and its lease expired (the worker holding it died; the provider's idempotency on
//!   the message id keeps the retry from sending twice).
//! - Outbound statuses only move forward through `status_rank`; reschedule and finish touch only
//!   rows that are still waiting or sending, so a superseded or sent message stays so.
//! - Job debounce: one uncompleted job per (account, dedup key). Re-arming a job while a worker
//!   holds it sets `rerun`; completing that run then leaves the job pending at its new `run_at`,
//!   so the newer request is never lost. `rerun` rather than comparing `run_at` alone, because a
//!   re-arm may keep the same `run_at` with a new payload; the claimed `run_at` that
//!   `complete_job` receives fences off a stale worker whose lease expired and whose re-armed job
//!   was claimed again.

/// `$first, $first+1, ...`: `count` numbered placeholders for an `IN (...)` list.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` with LIKE's wildcards and the escape character escaped (for `ESCAPE '\'`).
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `LIKE ... ESCAPE '\'` pattern matching `query` as a lower-case substring, or `None` for a
/// blank query.
pub(crate) fn contains_pattern(query: Option<&str>) -> Option<String> {
    let query = query.map(str::trim).filter(|q| !q.is_empty())?;
    Some(format!("%{}%", like_escape(&query.to_lowercase())))
}

macro_rules! impl_messaging {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::db_error::db_err;
            use $crate::messaging_impl::{contains_pattern, like_escape, placeholders};
            use $crate::rows::{
                author_kind, direction_str, json_text, micros, now_us, one_row, opt_json_text, records, ChannelRow,
                ConversationRow, JobRow, LeadRow, MessageRow,
            };
            use async_trait::async_trait;
            use jiff::Timestamp;
            use leadline_domain::ids::{ChannelId, ConversationId, JobId, LeadId, MessageId};
            use leadline_domain::{AccountId, E164Phone};
            use leadline_store::{
                Author, Channel, ChannelStore, Conversation, ConversationQuery, ConversationStore, Direction, InboundOutcome, Job,
                JobStore, Lead, LeadInput, LeadQuery, LeadSort, LeadStore, Message, MessageStatus, MessageStore, NewChannel, NewInbound,
                NewJob, NewOutbound, OutboundWork, StoreError, StoreResult,
            };
            use std::collections::HashMap;

            type Conn = <$db as sqlx::Database>::Connection;

            /// Outbound rows a worker may pick up at `$1`.
            const CLAIMABLE_OUTBOUND: &str = "direction = 'outbound' AND \
                 ((status IN ('queued', 'deferred') AND due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)) \
                 OR (status = 'sending' AND lease_until <= $1))";
            /// Outbound rows not yet handed to the provider nor settled.
            const UNSETTLED_OUTBOUND: &str = "direction = 'outbound' AND status IN ('queued', 'deferred', 'sending')";

            impl $store {
                /// Creates the lead for (account, phone), or applies the given fields to it.
                async fn upsert_lead_in(
                    conn: &mut Conn,
                    account: AccountId,
                    phone: &E164Phone,
                    input: &LeadInput,
                    now: i64,
                ) -> StoreResult<Lead> {
                    sqlx::query_as::<_, LeadRow>(
                        "INSERT INTO leads (id, account_id, phone, name, email, state, time_zone, stage, score, intent, \
                         owner, tags, fields, created_at, updated_at) \
                         VALUES ($1, $2, $3, COALESCE($4, ''), $5, $6, $7, 'new', NULL, NULL, NULL, $8, '{}', $9, $9) \
                         ON CONFLICT (account_id, phone) DO UPDATE SET name = COALESCE($4, leads.name), \
                         email = COALESCE($5, leads.email), state = COALESCE($6, leads.state), \
                         time_zone = COALESCE($7, leads.time_zone), \
                         tags = CASE WHEN $10 THEN excluded.tags ELSE leads.tags END, updated_at = excluded.updated_at \
                         RETURNING *",
                    )
                    .bind(LeadId::new().to_string())
                    .bind(account.to_string())
                    .bind(phone.as_str())
                    .bind(input.name.as_deref())
                    .bind(input.email.as_deref())
                    .bind(input.state.as_deref())
                    .bind(input.time_zone.as_deref())
                    .bind(json_text(&input.tags)?)
                    .bind(now)
                    .bind(!input.tags.is_empty())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .into_record()
                }

                async fn message_by_idempotency_key(
                    conn: &mut Conn,
                    account: AccountId,
                    key: &str,
                ) -> StoreResult<Option<Message>> {
                    sqlx::query_as::<_, MessageRow>("SELECT * FROM messages WHERE account_id = $1 AND idempotency_key = $2")
                        .bind(account.to_string())
                        .bind(key)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db_err)?
                        .map(MessageRow::into_record)
                        .transpose()
                }

                async fn inbound_by_provider_id(
                    conn: &mut Conn,
                    account: AccountId,
                    channel: ChannelId,
                    provider_message_id: &str,
                ) -> StoreResult<Option<Message>> {
                    sqlx::query_as::<_, MessageRow>(
                        "SELECT * FROM messages WHERE channel_id = $1 AND provider_message_id = $2 \
                         AND direction = 'inbound' AND account_id = $3",
                    )
                    .bind(channel.to_string())
                    .bind(provider_message_id)
                    .bind(account.to_string())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .map(MessageRow::into_record)
                    .transpose()
                }

                /// Moves the conversation's last activity to `at`, never backwards.
                async fn touch_conversation_in(conn: &mut Conn, id: ConversationId, at: i64) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE conversations SET last_message_at = $2 \
                         WHERE id = $1 AND (last_message_at IS NULL OR last_message_at < $2)",
                    )
                    .bind(id.to_string())
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    Ok(())
                }

                /// Withdraws the conversation's AI replies that are still waiting.
                async fn supersede_pending_ai_in(conn: &mut Conn, account: AccountId, conversation: ConversationId) -> StoreResult<u64> {
                    // Rows in `sending` are a worker's already; only waiting replies are withdrawn.
                    let done = sqlx::query(
                        "UPDATE messages SET status = $3, status_rank = $4, lease_until = NULL \
                         WHERE account_id = $1 AND conversation_id = $2 AND direction = 'outbound' \
                         AND author_kind = $5 AND status IN ('queued', 'deferred')",
                    )
                    .bind(account.to_string())
                    .bind(conversation.to_string())
                    .bind(MessageStatus::Superseded.as_str())
                    .bind(MessageStatus::Superseded.rank())
                    .bind(author_kind(&Author::Ai))
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected())
                }

                /// Adds a job, or re-arms the uncompleted job with the same (account, dedup key):
                /// new `run_at` and payload, and `rerun` if a worker holds it right now.
                async fn enqueue_job_in(conn: &mut Conn, job: &NewJob, now: i64) -> StoreResult<Job> {
                    sqlx::query_as::<_, JobRow>(
                        "INSERT INTO jobs (id, account_id, kind, dedup_key, payload, run_at, lease_until, attempts, \
                         last_error, rerun, created_at, completed_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, NULL, FALSE, $7, NULL) \
                         ON CONFLICT (account_id, dedup_key) WHERE dedup_key IS NOT NULL AND completed_at IS NULL \
                         DO UPDATE SET run_at = excluded.run_at, payload = excluded.payload, \
                         rerun = (jobs.lease_until IS NOT NULL) \
                         RETURNING *",
                    )
                    .bind(job.id.to_string())
                    .bind(job.account_id.to_string())
                    .bind(&job.kind)
                    .bind(job.dedup_key.as_deref())
                    .bind(json_text(&job.payload)?)
                    .bind(micros(job.run_at))
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .into_record()
                }

                /// Whether an outbound message with this id exists (to tell "settled" from "missing").
                async fn outbound_exists(&self, id: MessageId) -> StoreResult<bool> {
                    let row: Option<(String,)> =
                        sqlx::query_as("SELECT id FROM messages WHERE id = $1 AND direction = 'outbound'")
                            .bind(id.to_string())
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(db_err)?;
                    Ok(row.is_some())
                }

                /// Takes an unsettled outbound message out of a worker's hands with a new status,
                /// the gate's reason or the error, and (when waiting again) when it is next due.
                async fn release_outbound(
                    &self,
                    id: MessageId,
                    status: MessageStatus,
                    due_at: Option<Timestamp>,
                    gate: Option<serde_json::Value>,
                    error: Option<&str>,
                ) -> StoreResult<()> {
                    let sql = format!(
                        "UPDATE messages SET status = $2, status_rank = $3, due_at = COALESCE($4, due_at), \
                         gate = COALESCE($5, gate), error_code = $6, lease_until = NULL \
                         WHERE id = $1 AND {UNSETTLED_OUTBOUND}"
                    );
                    let done = sqlx::query(&sql)
                        .bind(id.to_string())
                        .bind(status.as_str())
                        .bind(status.rank())
                        .bind(due_at.map(micros))
                        .bind(opt_json_text(gate.as_ref())?)
                        .bind(error)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    self.settle_outbound(id, done.rows_affected()).await
                }

                /// An update of an unsettled outbound message: `NotFound` if there is no such
                /// message; a message that already moved on (sent, superseded, ...) stays as it is.
                async fn settle_outbound(&self, id: MessageId, rows_affected: u64) -> StoreResult<()> {
                    if rows_affected > 0 || self.outbound_exists(id).await? {
                        Ok(())
                    } else {
                        Err(StoreError::NotFound)
                    }
                }

                /// Rows of `table` with the given ids, by id.
                async fn rows_by_id<R>(conn: &mut Conn, table: &str, ids: &[String]) -> StoreResult<Vec<R>>
                where
                    R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let sql = format!("SELECT * FROM {table} WHERE id IN ({})", placeholders(1, ids.len()));
                    let mut query = sqlx::query_as::<_, R>(&sql);
                    for id in ids {
                        query = query.bind(id);
                    }
                    query.fetch_all(&mut *conn).await.map_err(db_err)
                }

                /// Picks up to `limit` ids from `table` matching `claimable` (whose `$1` is now),
                /// locked with the backend's `CLAIM_LOCK`; extra binds follow from `$3`.
                async fn pick_claimable(
                    conn: &mut Conn,
                    table: &str,
                    claimable: &str,
                    order: &str,
                    now: i64,
                    limit: u32,
                    extra: &[&str],
                ) -> StoreResult<Vec<String>> {
                    let sql = format!(
                        "SELECT id FROM {table} WHERE {claimable} ORDER BY {order} LIMIT $2{}",
                        Self::CLAIM_LOCK
                    );
                    let mut query = sqlx::query_as::<_, (String,)>(&sql).bind(now).bind(i64::from(limit));
                    for value in extra {
                        query = query.bind(*value);
                    }
                    let rows = query.fetch_all(&mut *conn).await.map_err(db_err)?;
                    Ok(rows.into_iter().map(|(id,)| id).collect())
                }
            }

            #[async_trait]
            impl ChannelStore for $store {
                async fn create_channel(&self, channel: NewChannel) -> StoreResult<Channel> {
                    sqlx::query_as::<_, ChannelRow>(
                        "INSERT INTO channels (id, account_id, provider, name, address, webhook_token, settings, \
                         send_rate_per_minute, enabled, last_webhook_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, NULL, $9) RETURNING *",
                    )
                    .bind(channel.id.to_string())
                    .bind(channel.account_id.to_string())
                    .bind(&channel.provider)
                    .bind(&channel.name)
                    .bind(&channel.address)
                    .bind(&channel.webhook_token)
                    .bind(json_text(&channel.settings)?)
                    .bind(i64::from(channel.send_rate_per_minute))
                    .bind(now_us())
                    .fetch_one(&self.writer)
                    .await
                    .map_err(db_err)?
                    .into_record()
                }

                async fn list_channels(&self, account: AccountId) -> StoreResult<Vec<Channel>> {
                    let rows = sqlx::query_as::<_, ChannelRow>(
                        "SELECT * FROM channels WHERE account_id = $1 ORDER BY created_at, id",
                    )
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, ChannelRow::into_record)
                }

                async fn get_channel(&self, account: AccountId, id: ChannelId) -> StoreResult<Channel> {
                    sqlx::query_as::<_, ChannelRow>("SELECT * FROM channels WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or(StoreError::NotFound)?
                        .into_record()
                }

                async fn find_channel_by_webhook_token(&self, provider: &str, token: &str) -> StoreResult<Option<Channel>> {
                    sqlx::query_as::<_, ChannelRow>("SELECT * FROM channels WHERE webhook_token = $1 AND provider = $2")
                        .bind(token)
                        .bind(provider)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(ChannelRow::into_record)
                        .transpose()
                }

                async fn touch_channel_webhook(&self, id: ChannelId, at: Timestamp) -> StoreResult<()> {
                    // Webhooks may land out of order: keep the latest.
                    let done = sqlx::query(
                        "UPDATE channels SET last_webhook_at = CASE \
                         WHEN last_webhook_at IS NULL OR last_webhook_at < $2 THEN $2 ELSE last_webhook_at END \
                         WHERE id = $1",
                    )
                    .bind(id.to_string())
                    .bind(micros(at))
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn set_channel_enabled(&self, account: AccountId, id: ChannelId, enabled: bool) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE channels SET enabled = $3 WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .bind(enabled)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }
            }

            #[async_trait]
            impl LeadStore for $store {
                async fn upsert_lead(&self, account: AccountId, phone: &E164Phone, input: LeadInput) -> StoreResult<Lead> {
                    let mut conn = self.pool.acquire().await.map_err(db_err)?;
                    Self::upsert_lead_in(&mut conn, account, phone, &input, now_us()).await
                }

                async fn get_lead(&self, account: AccountId, id: LeadId) -> StoreResult<Lead> {
                    sqlx::query_as::<_, LeadRow>("SELECT * FROM leads WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or(StoreError::NotFound)?
                        .into_record()
                }

                async fn leads_by_ids(&self, account: AccountId, ids: &[LeadId]) -> StoreResult<Vec<Lead>> {
                    let mut out = Vec::with_capacity(ids.len());
                    // Chunks keep the parameter count far below both backends' limits.
                    for chunk in ids.chunks(500) {
                        let sql = format!(
                            "SELECT * FROM leads WHERE account_id = $1 AND id IN ({})",
                            placeholders(2, chunk.len())
                        );
                        let mut query = sqlx::query_as::<_, LeadRow>(&sql).bind(account.to_string());
                        for id in chunk {
                            query = query.bind(id.to_string());
                        }
                        out.extend(records(query.fetch_all(&self.pool).await.map_err(db_err)?, LeadRow::into_record)?);
                    }
                    Ok(out)
                }

                async fn find_lead_by_phone(&self, account: AccountId, phone: &E164Phone) -> StoreResult<Option<Lead>> {
                    sqlx::query_as::<_, LeadRow>("SELECT * FROM leads WHERE account_id = $1 AND phone = $2")
                        .bind(account.to_string())
                        .bind(phone.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(LeadRow::into_record)
                        .transpose()
                }

                async fn list_leads(&self, account: AccountId, query: &LeadQuery) -> StoreResult<Vec<Lead>> {
                    // The order comes from a closed enum, never from input; each has an index
                    // ending in `id` (0008) so the page's ids are read from the index alone.
                    let dir = if query.ascending { "ASC" } else { "DESC" };
                    let order = match query.sort {
                        LeadSort::Created => format!("created_at {dir}, id {dir}"),
                        LeadSort::Updated => format!("updated_at {dir}, id {dir}"),
                        LeadSort::Name => format!("LOWER(name) {dir}, id {dir}"),
                        LeadSort::Score => format!("COALESCE(score, -1) {dir}, id {dir}"),
                    };
                    // Only the filters in use are in the SQL: an unused `$n IS NULL OR …` would
                    // still name columns the index does not hold.
                    let text = contains_pattern(query.text.as_deref());
                    let stage = query.stage.as_deref().filter(|s| !s.is_empty());
                    // Tags are stored as a JSON array of strings: match the quoted tag exactly.
                    let tag = query
                        .tag
                        .as_deref()
                        .filter(|t| !t.trim().is_empty())
                        .map(|t| serde_json::to_string(t.trim()).map(|q| format!("%{}%", like_escape(&q))))
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("tag filter: {e}")))?;
                    let mut filters = String::new();
                    let mut binds: Vec<String> = Vec::new();
                    if let Some(text) = text {
                        binds.push(text);
                        // `search_text` is name, phone and email lower-cased (0009); SQLite's
                        // LOWER folds ASCII only, PostgreSQL's all of Unicode.
                        filters.push_str(&format!(" AND search_text LIKE ${} ESCAPE '\\'", binds.len() + 1));
                    }
                    if let Some(stage) = stage {
                        binds.push(stage.to_owned());
                        filters.push_str(&format!(" AND stage = ${}", binds.len() + 1));
                    }
                    if let Some(tag) = tag {
                        binds.push(tag);
                        filters.push_str(&format!(" AND tags LIKE ${} ESCAPE '\\'", binds.len() + 1));
                    }
                    let (limit, offset) = (binds.len() + 2, binds.len() + 3);
                    // Deep pages skip index entries, not rows: the window's ids first, then
                    // just those rows.
                    let sql = format!(
                        "SELECT * FROM leads WHERE account_id = $1 AND id IN (SELECT id FROM leads \
                         WHERE account_id = $1{filters} ORDER BY {order} LIMIT ${limit} OFFSET ${offset}) \
                         ORDER BY {order}"
                    );
                    let mut q = sqlx::query_as::<_, LeadRow>(&sql).bind(account.to_string());
                    for value in binds {
                        q = q.bind(value);
                    }
                    let rows = q
                        .bind(i64::from(query.limit))
                        .bind(i64::from(query.offset))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    records(rows, LeadRow::into_record)
                }

                async fn update_lead_fields(
                    &self,
                    account: AccountId,
                    id: LeadId,
                    stage: Option<&str>,
                    fields: Option<serde_json::Value>,
                ) -> StoreResult<Lead> {
                    sqlx::query_as::<_, LeadRow>(
                        "UPDATE leads SET stage = COALESCE($3, stage), fields = COALESCE($4, fields), updated_at = $5 \
                         WHERE account_id = $1 AND id = $2 RETURNING *",
                    )
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .bind(stage)
                    .bind(opt_json_text(fields.as_ref())?)
                    .bind(now_us())
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(db_err)?
                    .ok_or(StoreError::NotFound)?
                    .into_record()
                }

                async fn delete_lead(&self, account: AccountId, id: LeadId) -> StoreResult<()> {
                    // Conversations and their messages go by ON DELETE CASCADE.
                    let done = sqlx::query("DELETE FROM leads WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }
            }

            #[async_trait]
            impl ConversationStore for $store {
                async fn get_conversation(&self, account: AccountId, id: ConversationId) -> StoreResult<Conversation> {
                    sqlx::query_as::<_, ConversationRow>("SELECT * FROM conversations WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or(StoreError::NotFound)?
                        .into_record()
                }

                async fn find_conversation(
                    &self,
                    account: AccountId,
                    lead: LeadId,
                    channel: ChannelId,
                ) -> StoreResult<Option<Conversation>> {
                    sqlx::query_as::<_, ConversationRow>(
                        "SELECT * FROM conversations WHERE account_id = $1 AND lead_id = $2 AND channel_id = $3",
                    )
                    .bind(account.to_string())
                    .bind(lead.to_string())
                    .bind(channel.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(ConversationRow::into_record)
                    .transpose()
                }

                async fn conversation_for(
                    &self,
                    account: AccountId,
                    lead: LeadId,
                    channel: ChannelId,
                ) -> StoreResult<Conversation> {
                    // The composite foreign keys refuse another account's lead or channel (NotFound).
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO conversations (id, account_id, lead_id, channel_id, ai_paused, needs_attention, \
                         unread, last_message_at, created_at) VALUES ($1, $2, $3, $4, FALSE, FALSE, FALSE, NULL, $5) \
                         ON CONFLICT (account_id, lead_id, channel_id) DO NOTHING",
                    )
                    .bind(ConversationId::new().to_string())
                    .bind(account.to_string())
                    .bind(lead.to_string())
                    .bind(channel.to_string())
                    .bind(now_us())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let conversation = sqlx::query_as::<_, ConversationRow>(
                        "SELECT * FROM conversations WHERE account_id = $1 AND lead_id = $2 AND channel_id = $3",
                    )
                    .bind(account.to_string())
                    .bind(lead.to_string())
                    .bind(channel.to_string())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .into_record()?;
                    Self::commit(tx).await?;
                    Ok(conversation)
                }

                async fn lead_conversations(
                    &self,
                    account: AccountId,
                    lead: LeadId,
                ) -> StoreResult<Vec<Conversation>> {
                    let rows = sqlx::query_as::<_, ConversationRow>(
                        "SELECT * FROM conversations WHERE account_id = $1 AND lead_id = $2 \
                         ORDER BY COALESCE(last_message_at, created_at) DESC, id DESC",
                    )
                    .bind(account.to_string())
                    .bind(lead.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, ConversationRow::into_record)
                }

                async fn find_conversations(
                    &self,
                    account: AccountId,
                    query: &ConversationQuery,
                ) -> StoreResult<Vec<Conversation>> {
                    // Only the filters in use are in the SQL; lead filters join the lead.
                    let mut filters = String::new();
                    let mut binds: Vec<String> = Vec::new();
                    if query.unread_only {
                        filters.push_str(" AND c.unread");
                    }
                    if query.attention_only {
                        filters.push_str(" AND c.needs_attention");
                    }
                    match query.ai_active {
                        Some(true) => filters.push_str(" AND NOT c.ai_paused"),
                        Some(false) => filters.push_str(" AND c.ai_paused"),
                        None => {}
                    }
                    let stage = query.stage.as_deref().filter(|s| !s.is_empty());
                    let text = contains_pattern(query.text.as_deref());
                    // The stage is the copy a conversation keeps of its lead's (0010), so a stage
                    // filter walks `conversations_account_stage_recent` (0011) without the lead.
                    let join = if text.is_some() {
                        " JOIN leads l ON l.account_id = c.account_id AND l.id = c.lead_id"
                    } else {
                        ""
                    };
                    if let Some(stage) = stage {
                        binds.push(stage.to_owned());
                        filters.push_str(&format!(" AND c.lead_stage = ${}", binds.len() + 1));
                    }
                    if let Some(text) = text {
                        binds.push(text);
                        let n = binds.len() + 1;
                        filters.push_str(&format!(" AND l.search_text LIKE ${n} ESCAPE '\\'"));
                    }
                    let (limit, offset) = (binds.len() + 2, binds.len() + 3);
                    // The order is the expression of `conversations_account_recent` (0008).
                    let sql = format!(
                        "SELECT c.* FROM conversations c{join} WHERE c.account_id = $1{filters} \
                         ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC \
                         LIMIT ${limit} OFFSET ${offset}"
                    );
                    let mut q = sqlx::query_as::<_, ConversationRow>(&sql).bind(account.to_string());
                    for value in binds {
                        q = q.bind(value);
                    }
                    let rows = q
                        .bind(i64::from(query.limit))
                        .bind(i64::from(query.offset))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    records(rows, ConversationRow::into_record)
                }

                async fn list_conversations(
                    &self,
                    account: AccountId,
                    unread_only: bool,
                    attention_only: bool,
                    limit: u32,
                ) -> StoreResult<Vec<Conversation>> {
                    let rows = sqlx::query_as::<_, ConversationRow>(
                        "SELECT * FROM conversations WHERE account_id = $1 AND (unread OR NOT $2) \
                         AND (needs_attention OR NOT $3) \
                         ORDER BY COALESCE(last_message_at, created_at) DESC, id DESC LIMIT $4",
                    )
                    .bind(account.to_string())
                    .bind(unread_only)
                    .bind(attention_only)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, ConversationRow::into_record)
                }

                async fn set_ai_paused(&self, account: AccountId, id: ConversationId, paused: bool) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE conversations SET ai_paused = $3 WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .bind(paused)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn set_needs_attention(&self, account: AccountId, id: ConversationId, needs: bool) -> StoreResult<()> {
                    let done =
                        sqlx::query("UPDATE conversations SET needs_attention = $3 WHERE account_id = $1 AND id = $2")
                            .bind(account.to_string())
                            .bind(id.to_string())
                            .bind(needs)
                            .execute(&self.writer)
                            .await
                            .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn mark_read(&self, account: AccountId, id: ConversationId) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE conversations SET unread = FALSE WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn messages(&self, account: AccountId, conversation: ConversationId) -> StoreResult<Vec<Message>> {
                    let rows = sqlx::query_as::<_, MessageRow>(
                        "SELECT * FROM messages WHERE account_id = $1 AND conversation_id = $2 ORDER BY created_at, id",
                    )
                    .bind(account.to_string())
                    .bind(conversation.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    if rows.is_empty() {
                        // Another account's (or no) conversation is NotFound, not an empty thread.
                        self.get_conversation(account, conversation).await?;
                    }
                    records(rows, MessageRow::into_record)
                }
            }

            #[async_trait]
            impl MessageStore for $store {
                async fn store_inbound(&self, inbound: NewInbound) -> StoreResult<InboundOutcome> {
                    let account = inbound.account_id;
                    // No read before the write: retries are rare, and the insert below detects
                    // them anyway (then everything is rolled back and the first copy reported).
                    let now = now_us();
                    let received_at = micros(inbound.received_at);
                    let mut tx = self.begin_write().await?;
                    let lead = Self::upsert_lead_in(&mut tx, account, &inbound.from, &LeadInput::default(), now).await?;
                    // The channel must be this account's: the composite foreign key refuses it otherwise.
                    let conversation = sqlx::query_as::<_, ConversationRow>(
                        "INSERT INTO conversations (id, account_id, lead_id, channel_id, ai_paused, needs_attention, \
                         unread, last_message_at, created_at) VALUES ($1, $2, $3, $4, FALSE, FALSE, TRUE, $5, $6) \
                         ON CONFLICT (account_id, lead_id, channel_id) DO UPDATE SET unread = TRUE, \
                         last_message_at = CASE WHEN conversations.last_message_at IS NULL \
                         OR conversations.last_message_at < excluded.last_message_at \
                         THEN excluded.last_message_at ELSE conversations.last_message_at END \
                         RETURNING *",
                    )
                    .bind(ConversationId::new().to_string())
                    .bind(account.to_string())
                    .bind(lead.id.to_string())
                    .bind(inbound.channel_id.to_string())
                    .bind(received_at)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .into_record()?;
                    let cost = leadline_domain::compliance::segments(&inbound.body);
                    let stored = sqlx::query_as::<_, MessageRow>(
                        "INSERT INTO messages (id, account_id, conversation_id, channel_id, direction, body, media, \
                         author, author_kind, status, status_rank, provider_message_id, error_code, segments, encoding, \
                         gate, idempotency_key, due_at, lease_until, attempts, created_at, sent_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $13, $14, \
                         NULL, NULL, NULL, NULL, 0, $15, NULL) \
                         ON CONFLICT (channel_id, provider_message_id) WHERE direction = 'inbound' DO NOTHING \
                         RETURNING *",
                    )
                    .bind(inbound.id.to_string())
                    .bind(account.to_string())
                    .bind(conversation.id.to_string())
                    .bind(inbound.channel_id.to_string())
                    .bind(direction_str(Direction::Inbound))
                    .bind(&inbound.body)
                    .bind(json_text(&inbound.media)?)
                    .bind(json_text(&Author::Lead)?)
                    .bind(author_kind(&Author::Lead))
                    .bind(MessageStatus::Received.as_str())
                    .bind(MessageStatus::Received.rank())
                    .bind(&inbound.provider_message_id)
                    .bind(i32::try_from(cost.segments).unwrap_or(i32::MAX))
                    .bind(cost.encoding.as_str())
                    .bind(received_at)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let Some(stored) = stored else {
                        // A concurrent delivery of the same webhook won: undo the lead and
                        // conversation touches and report its message.
                        tx.rollback().await.map_err(db_err)?;
                        let mut conn = self.pool.acquire().await.map_err(db_err)?;
                        return match Self::inbound_by_provider_id(
                            &mut conn,
                            account,
                            inbound.channel_id,
                            &inbound.provider_message_id,
                        )
                        .await?
                        {
                            Some(message) => Ok(InboundOutcome::Duplicate { message }),
                            None => Err(StoreError::Conflict("message".to_owned())),
                        };
                    };
                    if let Some(reply) = inbound.schedule_reply.as_ref().filter(|_| !conversation.ai_paused) {
                        Self::supersede_pending_ai_in(&mut tx, account, conversation.id).await?;
                        let job = NewJob {
                            id: reply.job_id,
                            account_id: account,
                            kind: reply.kind.clone(),
                            dedup_key: Some(format!("{}:{}", reply.kind, conversation.id)),
                            payload: serde_json::json!({ "conversation_id": conversation.id.to_string() }),
                            run_at: reply.run_at,
                        };
                        Self::enqueue_job_in(&mut tx, &job, now).await?;
                    }
                    if let Some(summary) = inbound.schedule_summary.as_ref() {
                        let job = NewJob {
                            id: summary.job_id,
                            account_id: account,
                            kind: summary.kind.clone(),
                            dedup_key: Some(format!("{}:{}", summary.kind, conversation.id)),
                            payload: serde_json::json!({ "conversation_id": conversation.id.to_string() }),
                            run_at: summary.run_at,
                        };
                        Self::enqueue_job_in(&mut tx, &job, now).await?;
                    }
                    Self::commit(tx).await?;
                    Ok(InboundOutcome::Stored { message: stored.into_record()?, lead, conversation })
                }

                async fn enqueue_outbound(&self, outbound: NewOutbound, jobs: Vec<NewJob>) -> StoreResult<Message> {
                    let account = outbound.account_id;
                    let now = now_us();
                    let mut tx = self.begin_write().await?;
                    // A replayed decision: the first run's message and jobs are already there.
                    if let Some(existing) =
                        Self::message_by_idempotency_key(&mut tx, account, &outbound.idempotency_key).await?
                    {
                        return Ok(existing);
                    }
                    let (channel,): (String,) =
                        sqlx::query_as("SELECT channel_id FROM conversations WHERE account_id = $1 AND id = $2")
                            .bind(account.to_string())
                            .bind(outbound.conversation_id.to_string())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_err)?
                            .ok_or(StoreError::NotFound)?;
                    let inserted = sqlx::query_as::<_, MessageRow>(
                        "INSERT INTO messages (id, account_id, conversation_id, channel_id, direction, body, media, \
                         author, author_kind, status, status_rank, provider_message_id, error_code, segments, encoding, \
                         gate, idempotency_key, due_at, lease_until, attempts, created_at, sent_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, '[]', $7, $8, $9, $10, NULL, NULL, $11, $12, \
                         NULL, $13, $14, NULL, 0, $15, NULL) \
                         ON CONFLICT (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
                         RETURNING *",
                    )
                    .bind(outbound.id.to_string())
                    .bind(account.to_string())
                    .bind(outbound.conversation_id.to_string())
                    .bind(&channel)
                    .bind(direction_str(Direction::Outbound))
                    .bind(&outbound.body)
                    .bind(json_text(&outbound.author)?)
                    .bind(author_kind(&outbound.author))
                    .bind(MessageStatus::Queued.as_str())
                    .bind(MessageStatus::Queued.rank())
                    .bind(outbound.segments)
                    .bind(&outbound.encoding)
                    .bind(&outbound.idempotency_key)
                    .bind(micros(outbound.due_at))
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let Some(inserted) = inserted else {
                        // A concurrent enqueue with the same key committed first.
                        tx.rollback().await.map_err(db_err)?;
                        let mut conn = self.pool.acquire().await.map_err(db_err)?;
                        return Self::message_by_idempotency_key(&mut conn, account, &outbound.idempotency_key)
                            .await?
                            .ok_or_else(|| StoreError::Conflict("message".to_owned()));
                    };
                    for job in &jobs {
                        Self::enqueue_job_in(&mut tx, job, now).await?;
                    }
                    Self::touch_conversation_in(&mut tx, outbound.conversation_id, now).await?;
                    Self::commit(tx).await?;
                    inserted.into_record()
                }

                async fn claim_outbound(
                    &self,
                    now: Timestamp,
                    lease_until: Timestamp,
                    limit: u32,
                ) -> StoreResult<Vec<OutboundWork>> {
                    if limit == 0 {
                        return Ok(Vec::new());
                    }
                    let mut tx = self.begin_write().await?;
                    let ids =
                        Self::pick_claimable(&mut tx, "messages", CLAIMABLE_OUTBOUND, "due_at, id", micros(now), limit, &[])
                            .await?;
                    if ids.is_empty() {
                        Self::commit(tx).await?;
                        return Ok(Vec::new());
                    }
                    let sql = format!(
                        "UPDATE messages SET status = $1, status_rank = $2, lease_until = $3, attempts = attempts + 1 \
                         WHERE id IN ({}) RETURNING *",
                        placeholders(4, ids.len())
                    );
                    let mut query = sqlx::query_as::<_, MessageRow>(&sql)
                        .bind(MessageStatus::Sending.as_str())
                        .bind(MessageStatus::Sending.rank())
                        .bind(micros(lease_until));
                    for id in &ids {
                        query = query.bind(id);
                    }
                    let messages = records(query.fetch_all(&mut *tx).await.map_err(db_err)?, MessageRow::into_record)?;

                    let conversation_ids: Vec<String> =
                        messages.iter().map(|m| m.conversation_id.to_string()).collect();
                    let conversations: HashMap<ConversationId, Conversation> = records(
                        Self::rows_by_id::<ConversationRow>(&mut tx, "conversations", &conversation_ids).await?,
                        ConversationRow::into_record,
                    )?
                    .into_iter()
                    .map(|c| (c.id, c))
                    .collect();
                    let lead_ids: Vec<String> = conversations.values().map(|c| c.lead_id.to_string()).collect();
                    let channel_ids: Vec<String> = conversations.values().map(|c| c.channel_id.to_string()).collect();
                    let leads: HashMap<LeadId, Lead> =
                        records(Self::rows_by_id::<LeadRow>(&mut tx, "leads", &lead_ids).await?, LeadRow::into_record)?
                            .into_iter()
                            .map(|l| (l.id, l))
                            .collect();
                    let channels: HashMap<ChannelId, Channel> = records(
                        Self::rows_by_id::<ChannelRow>(&mut tx, "channels", &channel_ids).await?,
                        ChannelRow::into_record,
                    )?
                    .into_iter()
                    .map(|c| (c.id, c))
                    .collect();
                    Self::commit(tx).await?;

                    let mut work = Vec::with_capacity(messages.len());
                    for message in messages {
                        // The foreign keys guarantee all three; a gap is a broken database.
                        let missing = || StoreError::Corrupt(format!("messages.id {}: dangling reference", message.id));
                        let conversation = conversations.get(&message.conversation_id).ok_or_else(missing)?.clone();
                        let lead = leads.get(&conversation.lead_id).ok_or_else(missing)?.clone();
                        let channel = channels.get(&conversation.channel_id).ok_or_else(missing)?.clone();
                        work.push(OutboundWork { message, conversation, lead, channel });
                    }
                    work.sort_by(|a, b| (a.message.due_at, a.message.id).cmp(&(b.message.due_at, b.message.id)));
                    Ok(work)
                }

                async fn mark_sent(
                    &self,
                    id: MessageId,
                    provider_message_id: &str,
                    status: MessageStatus,
                    at: Timestamp,
                    gate: Option<serde_json::Value>,
                ) -> StoreResult<()> {
                    let gate = gate.as_ref().map(json_text).transpose()?;
                    let done = sqlx::query(
                        "UPDATE messages SET provider_message_id = $2, sent_at = $3, lease_until = NULL, \
                         gate = COALESCE($6, gate), \
                         status = CASE WHEN status_rank < $5 THEN $4 ELSE status END, \
                         status_rank = CASE WHEN status_rank < $5 THEN $5 ELSE status_rank END \
                         WHERE id = $1 AND direction = 'outbound'",
                    )
                    .bind(id.to_string())
                    .bind(provider_message_id)
                    .bind(micros(at))
                    .bind(status.as_str())
                    .bind(status.rank())
                    .bind(gate)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn reschedule_outbound(
                    &self,
                    id: MessageId,
                    status: MessageStatus,
                    due_at: Timestamp,
                    gate: Option<serde_json::Value>,
                    error: Option<&str>,
                ) -> StoreResult<()> {
                    if !matches!(status, MessageStatus::Queued | MessageStatus::Deferred) {
                        return Err(StoreError::Backend(format!(
                            "reschedule_outbound: {} is not a waiting status",
                            status.as_str()
                        )));
                    }
                    self.release_outbound(id, status, Some(due_at), gate, error).await
                }

                async fn finish_outbound(
                    &self,
                    id: MessageId,
                    status: MessageStatus,
                    gate: Option<serde_json::Value>,
                    error_code: Option<&str>,
                ) -> StoreResult<()> {
                    if !matches!(status, MessageStatus::Blocked | MessageStatus::Failed | MessageStatus::Superseded) {
                        return Err(StoreError::Backend(format!(
                            "finish_outbound: {} is not a terminal status",
                            status.as_str()
                        )));
                    }
                    self.release_outbound(id, status, None, gate, error_code).await
                }

                async fn apply_delivery_status(
                    &self,
                    channel: ChannelId,
                    provider_message_id: &str,
                    status: MessageStatus,
                    error_code: Option<&str>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE messages SET status = $3, status_rank = $4, error_code = COALESCE($5, error_code) \
                         WHERE channel_id = $1 AND provider_message_id = $2 AND direction = 'outbound' \
                         AND status_rank < $4",
                    )
                    .bind(channel.to_string())
                    .bind(provider_message_id)
                    .bind(status.as_str())
                    .bind(status.rank())
                    .bind(error_code)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn reconcile_outbound(
                    &self,
                    channel: ChannelId,
                    idempotency_key: &str,
                    provider_message_id: &str,
                    status: MessageStatus,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    // Only a send we gave up on as unknown: a known send already has its id.
                    let done = sqlx::query(
                        "UPDATE messages SET provider_message_id = $3, status = $4, status_rank = $5, \
                         error_code = NULL, sent_at = COALESCE(sent_at, $6) \
                         WHERE channel_id = $1 AND idempotency_key = $2 AND direction = 'outbound' \
                         AND provider_message_id IS NULL AND status = 'failed' AND error_code = $7",
                    )
                    .bind(channel.to_string())
                    .bind(idempotency_key)
                    .bind(provider_message_id)
                    .bind(status.as_str())
                    .bind(status.rank())
                    .bind(micros(at))
                    .bind(leadline_store::OUTCOME_UNKNOWN)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn supersede_pending_ai(&self, account: AccountId, conversation: ConversationId) -> StoreResult<u64> {
                    let mut conn = self.writer.acquire().await.map_err(db_err)?;
                    Self::supersede_pending_ai_in(&mut conn, account, conversation).await
                }

                async fn sent_to_phone_since(
                    &self,
                    account: AccountId,
                    phone: &E164Phone,
                    since: Timestamp,
                ) -> StoreResult<Vec<Timestamp>> {
                    // Every message the provider accepted counts (`sent_at` is set by mark_sent),
                    // whatever later callbacks said, on any of the account's channels.
                    let rows: Vec<(i64,)> = sqlx::query_as(
                        "SELECT m.sent_at FROM messages m \
                         JOIN conversations c ON c.account_id = m.account_id AND c.id = m.conversation_id \
                         JOIN leads l ON l.account_id = c.account_id AND l.id = c.lead_id \
                         WHERE m.account_id = $1 AND l.phone = $2 AND m.direction = 'outbound' AND m.sent_at >= $3 \
                         ORDER BY m.sent_at",
                    )
                    .bind(account.to_string())
                    .bind(phone.as_str())
                    .bind(micros(since))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    rows.into_iter().map(|(at,)| $crate::rows::ts(at, "messages.sent_at")).collect()
                }

                async fn sent_by_channel_since(&self, channel: ChannelId, since: Timestamp) -> StoreResult<u64> {
                    let (count,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM messages WHERE channel_id = $1 AND direction = 'outbound' AND sent_at >= $2",
                    )
                    .bind(channel.to_string())
                    .bind(micros(since))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(u64::try_from(count).unwrap_or(0))
                }
            }

            #[async_trait]
            impl JobStore for $store {
                async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job> {
                    let mut conn = self.writer.acquire().await.map_err(db_err)?;
                    Self::enqueue_job_in(&mut conn, &job, now_us()).await
                }

                async fn append_jobs(&self, jobs: &[NewJob]) -> StoreResult<()> {
                    if jobs.iter().any(|j| j.dedup_key.is_some()) {
                        return Err(StoreError::Conflict("job dedup key".to_owned()));
                    }
                    let now = now_us();
                    // 6 parameters a row: chunks stay far below both backends' parameter limits.
                    // One chunk is one atomic statement; more commit together.
                    let build = |chunk: &[NewJob]| -> String {
                        let mut sql = String::from(
                            "INSERT INTO jobs (id, account_id, kind, dedup_key, payload, run_at, lease_until, \
                             attempts, last_error, rerun, created_at, completed_at) VALUES ",
                        );
                        for i in 0..chunk.len() {
                            let p = i * 6;
                            if i > 0 {
                                sql.push_str(", ");
                            }
                            sql.push_str(&format!(
                                "(${}, ${}, ${}, NULL, ${}, ${}, NULL, 0, NULL, FALSE, ${}, NULL)",
                                p + 1, p + 2, p + 3, p + 4, p + 5, p + 6
                            ));
                        }
                        sql
                    };
                    let mut payloads = Vec::with_capacity(jobs.len());
                    for job in jobs {
                        payloads.push(json_text(&job.payload)?);
                    }
                    let chunks: Vec<(&[NewJob], &[String])> =
                        jobs.chunks(500).zip(payloads.chunks(500)).collect();
                    let mut tx = if chunks.len() > 1 { Some(self.begin_write().await?) } else { None };
                    for (chunk, texts) in chunks {
                        let sql = build(chunk);
                        let mut query = sqlx::query(&sql);
                        for (job, payload) in chunk.iter().zip(texts) {
                            query = query
                                .bind(job.id.to_string())
                                .bind(job.account_id.to_string())
                                .bind(job.kind.as_str())
                                .bind(payload.as_str())
                                .bind(micros(job.run_at))
                                .bind(now);
                        }
                        match tx.as_mut() {
                            Some(tx) => query.execute(&mut **tx).await.map_err(db_err)?,
                            None => query.execute(&self.writer).await.map_err(db_err)?,
                        };
                    }
                    match tx {
                        Some(tx) => Self::commit(tx).await,
                        None => Ok(()),
                    }
                }

                async fn claim_jobs(
                    &self,
                    kinds: &[&str],
                    now: Timestamp,
                    lease_until: Timestamp,
                    limit: u32,
                ) -> StoreResult<Vec<Job>> {
                    if kinds.is_empty() || limit == 0 {
                        return Ok(Vec::new());
                    }
                    let claimable = format!(
                        "completed_at IS NULL AND run_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) \
                         AND kind IN ({})",
                        placeholders(3, kinds.len())
                    );
                    let mut tx = self.begin_write().await?;
                    let ids =
                        Self::pick_claimable(&mut tx, "jobs", &claimable, "run_at, id", micros(now), limit, kinds)
                            .await?;
                    if ids.is_empty() {
                        Self::commit(tx).await?;
                        return Ok(Vec::new());
                    }
                    // A claim starts a run that sees the latest payload, so it clears `rerun`.
                    let sql = format!(
                        "UPDATE jobs SET lease_until = $1, attempts = attempts + 1, rerun = FALSE \
                         WHERE id IN ({}) RETURNING *",
                        placeholders(2, ids.len())
                    );
                    let mut query = sqlx::query_as::<_, JobRow>(&sql).bind(micros(lease_until));
                    for id in &ids {
                        query = query.bind(id);
                    }
                    let mut jobs = records(query.fetch_all(&mut *tx).await.map_err(db_err)?, JobRow::into_record)?;
                    Self::commit(tx).await?;
                    jobs.sort_by(|a, b| (a.run_at, a.id).cmp(&(b.run_at, b.id)));
                    Ok(jobs)
                }

                async fn complete_job(&self, id: JobId, claimed_run_at: Timestamp) -> StoreResult<()> {
                    // Re-armed during this run (`rerun`): release it to run again at its new
                    // run_at, as a fresh request, instead of completing it. A run_at other than the
                    // claimed one without `rerun` means a later claim of the re-armed job owns it.
                    let done = sqlx::query(
                        "UPDATE jobs SET completed_at = CASE WHEN rerun THEN NULL ELSE $2 END, \
                         attempts = CASE WHEN rerun THEN 0 ELSE attempts END, \
                         last_error = CASE WHEN rerun THEN NULL ELSE last_error END, \
                         lease_until = NULL, rerun = FALSE \
                         WHERE id = $1 AND completed_at IS NULL AND (rerun OR run_at = $3)",
                    )
                    .bind(id.to_string())
                    .bind(now_us())
                    .bind(micros(claimed_run_at))
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() > 0 {
                        return Ok(());
                    }
                    // Already completed, or overtaken: nothing to do. An unknown id is an error.
                    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM jobs WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                    row.map(|_| ()).ok_or(StoreError::NotFound)
                }

                async fn retry_job(&self, id: JobId, retry_at: Timestamp, error: &str) -> StoreResult<()> {
                    // Both the backoff and a re-arm during the failed run say "not before": the
                    // later of the two wins.
                    let done = sqlx::query(
                        "UPDATE jobs SET run_at = CASE WHEN rerun AND run_at > $2 THEN run_at ELSE $2 END, \
                         last_error = $3, lease_until = NULL, rerun = FALSE \
                         WHERE id = $1 AND completed_at IS NULL",
                    )
                    .bind(id.to_string())
                    .bind(micros(retry_at))
                    .bind(error)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn pending_jobs(&self, account: AccountId) -> StoreResult<Vec<Job>> {
                    let rows = sqlx::query_as::<_, JobRow>(
                        "SELECT * FROM jobs WHERE account_id = $1 AND completed_at IS NULL ORDER BY run_at, id",
                    )
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, JobRow::into_record)
                }
            }
        };
    };
}

pub(crate) use impl_messaging;
