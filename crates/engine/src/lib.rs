//! The message pipeline: what happens between a provider's webhook and the reply reaching the
//! lead, and every step leaves a row that explains it.
//!
//! ```text
//! webhook ─► accept: keywords now; plain texts and statuses as `inbound` jobs (group commit)
//! inbound event ─► store (idempotent) ─► compliance intake (STOP/START/HELP/plain language)
//!     ─► debounce: one `reply` job per conversation, pushed back by every new bubble
//!     ─► reply job ─► outbox row (idempotency key = the turn's last inbound message)
//!     ─► outbox worker (lease) ─► send gate at dispatch time ─► provider ─► status callbacks
//! ```
//!
//! Nothing here keeps state in memory that matters: jobs and the outbox live in the database,
//! so any number of processes can run workers, and a crash loses nothing.

pub mod assistant;
pub mod gate;
mod handoff;
pub mod ingest;
pub mod knowledge_import;
pub mod notify;
pub mod providers;
pub mod replies;
pub mod summaries;

pub use handoff::default_email_on_handoff;

use anyhow::Context;
use gate::{GateDecision, GateInput};
use ingest::{INBOUND_JOB, IngestQueue};
use jiff::{SignedDuration, Timestamp};
use leadline_domain::compliance::{self, IntakeClass, IntakeContext, Tier, WindowSettings};
use leadline_domain::ids::{EventId, JobId, MessageId};
use leadline_domain::{AccountId, E164Phone};
use leadline_providers::messaging::{
    DeliveryStatus, Disposition, InboundEvent, OptOutSignal, OutboundMessage, SenderAddress,
    backoff,
};
use leadline_store::{
    Author, Channel, ComplianceEventKind, Conversation, InboundOutcome, Job, Message,
    MessageStatus, NewComplianceEvent, NewInbound, NewJob, NewOutbound, OutboundWork,
    ScheduledReply, Store,
};
use providers::ProviderFactory;
use replies::{ReplyGenerator, Turn};
use std::sync::Arc;
use tokio::sync::Notify;

pub const REPLY_JOB: &str = "reply";
/// The settings key holding an account's [`WindowSettings`] (own quiet hours, relaxations).
pub const COMPLIANCE_SETTINGS: &str = "compliance";

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long to wait for more bubbles before answering a burst.
    pub debounce: SignedDuration,
    /// How long a worker owns a claimed row before another may take it.
    pub lease: SignedDuration,
    /// Retries of a failed send before giving up.
    pub max_attempts: i32,
    /// Where providers post delivery updates; `None` disables per-message callbacks.
    pub public_url: Option<url::Url>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            debounce: SignedDuration::from_secs(4),
            lease: SignedDuration::from_secs(60),
            max_attempts: 8,
            public_url: None,
        }
    }
}

/// What happened to one inbound event, for the webhook's log line and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundResult {
    /// Stored; `intake` says how the compliance intake classified it.
    Stored {
        message_id: MessageId,
        intake: IntakeClass,
        reply_scheduled: bool,
    },
    Duplicate,
    StatusApplied {
        changed: bool,
    },
    ConsentRecorded,
    Ignored,
}

/// How a webhook event was taken in; either way it is durably stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Decided before answering (compliance keywords, consent signals).
    Handled(InboundResult),
    /// Stored as an `inbound` job; the worker finishes it.
    Queued,
}

/// Whether a text is plain conversation whatever the lead's opt-out state, so nothing about it
/// must be decided before the provider gets its answer.
fn is_plain(body: &str) -> bool {
    [false, true].into_iter().all(|opted_out| {
        compliance::classify(body, IntakeContext { opted_out }).class == IntakeClass::None
    })
}

pub struct Engine {
    store: Arc<dyn Store>,
    providers: ProviderFactory,
    replies: Arc<dyn ReplyGenerator>,
    config: EngineConfig,
    ingest: IngestQueue,
    /// Wakes this process's worker when there is new work.
    wake: Arc<Notify>,
    /// Delivery of hand-off notifications; `None`: this process leaves `deliver` jobs alone.
    notifications: Option<Arc<notify::Notifications>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        providers: ProviderFactory,
        replies: Arc<dyn ReplyGenerator>,
        config: EngineConfig,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        Self {
            ingest: IngestQueue::new(store.clone(), wake.clone()),
            store,
            providers,
            replies,
            config,
            wake,
            notifications: None,
        }
    }

    /// Lets this engine deliver hand-off notifications (email and webhooks).
    pub fn with_notifications(mut self, notifications: notify::Notifications) -> Self {
        self.notifications = Some(Arc::new(notifications));
        self
    }

    pub fn providers(&self) -> &ProviderFactory {
        &self.providers
    }

    /// Sends one text straight through a channel's provider, outside any conversation, so a
    /// subscriber can check a newly connected line (to their own phone). Answers the provider's
    /// message id, or a sentence saying what went wrong. The caller checks opt-outs first.
    pub async fn test_send(
        &self,
        channel: &leadline_store::Channel,
        to: &leadline_domain::E164Phone,
        body: &str,
    ) -> Result<String, String> {
        let provider = self
            .providers
            .for_channel(channel)
            .await
            .map_err(|e| format!("the channel cannot send: {e}"))?;
        let from = SenderAddress::parse(&channel.address)
            .map_err(|e| format!("the channel's address is not usable: {e}"))?;
        let message = OutboundMessage {
            from,
            to: to.clone(),
            body: body.to_owned(),
            media_urls: Vec::new(),
            idempotency_key: format!("test:{}", leadline_domain::ids::EventId::new()),
            status_callback: None,
        };
        provider
            .send(&message)
            .await
            .map(|receipt| receipt.provider_message_id)
            .map_err(|e| format!("{} refused it: {e}", channel.provider))
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Takes in one verified webhook event: compliance-relevant events are handled at once, the
    /// rest stored as `inbound` jobs (group-committed, see [`ingest`]). Returns once the event is
    /// durably stored, so the webhook may then answer 2xx.
    pub async fn accept(
        &self,
        channel: &Channel,
        event: InboundEvent,
        now: Timestamp,
    ) -> anyhow::Result<Accepted> {
        let queue = match &event {
            InboundEvent::Message {
                body,
                provider_opt_out,
                ..
            } => provider_opt_out.is_none() && is_plain(body),
            InboundEvent::Status { .. } => true,
            InboundEvent::ConsentChange { .. } | InboundEvent::Ignored { .. } => false,
        };
        if !queue {
            return Ok(Accepted::Handled(
                self.handle_inbound(channel, event, now).await?,
            ));
        }
        self.ingest
            .append(NewJob {
                id: JobId::new(),
                account_id: channel.account_id,
                kind: INBOUND_JOB.into(),
                dedup_key: None,
                payload: serde_json::json!({ "channel_id": channel.id.to_string(), "event": event }),
                run_at: now,
            })
            .await?;
        Ok(Accepted::Queued)
    }

    /// Handles one verified event from a channel. Returns once everything it decided is durably
    /// stored, so the webhook may then answer 2xx.
    pub async fn handle_inbound(
        &self,
        channel: &Channel,
        event: InboundEvent,
        now: Timestamp,
    ) -> anyhow::Result<InboundResult> {
        // "Last webhook received" is for people; once a minute is fresh enough and saves a write
        // per message on the hot path.
        let stale = channel
            .last_webhook_at
            .is_none_or(|t| now.duration_since(t).as_secs() >= 60 || t > now);
        if stale {
            self.store.touch_channel_webhook(channel.id, now).await?;
        }
        match event {
            InboundEvent::Message {
                provider_message_id,
                from,
                body,
                media,
                provider_opt_out,
                ..
            } => {
                // Most texts are plain conversation whatever the lead's opt-out state: for them
                // storing the message, withdrawing the unsent reply and scheduling the next one
                // is one transaction, and the reply job checks consent when it runs. Keywords and
                // provider signals take the full intake below.
                let plain = provider_opt_out.is_none() && is_plain(&body);
                let schedule_reply = if plain {
                    Some(ScheduledReply {
                        job_id: JobId::new(),
                        kind: REPLY_JOB.into(),
                        run_at: now
                            .checked_add(self.config.debounce)
                            .context("debounce overflow")?,
                    })
                } else {
                    None
                };
                let inbound = NewInbound {
                    id: MessageId::new(),
                    account_id: channel.account_id,
                    channel_id: channel.id,
                    from,
                    body,
                    media: serde_json::to_value(&media).unwrap_or_default(),
                    provider_message_id,
                    received_at: now,
                    schedule_reply,
                    // First run after the shortest quiet period; the job re-arms itself to the
                    // account's own period (see `summaries`).
                    schedule_summary: Some(ScheduledReply {
                        job_id: JobId::new(),
                        kind: summaries::SUMMARIZE_JOB.into(),
                        run_at: now
                            .checked_add(SignedDuration::from_mins(i64::from(
                                summaries::MIN_QUIET_MINUTES,
                            )))
                            .context("quiet period overflow")?,
                    }),
                };
                match self.store.store_inbound(inbound).await? {
                    InboundOutcome::Duplicate { .. } => Ok(InboundResult::Duplicate),
                    InboundOutcome::Stored {
                        message,
                        conversation,
                        ..
                    } if plain => Ok(InboundResult::Stored {
                        message_id: message.id,
                        intake: IntakeClass::None,
                        reply_scheduled: !conversation.ai_paused,
                    }),
                    InboundOutcome::Stored {
                        message,
                        lead,
                        conversation,
                    } => {
                        self.intake(
                            channel,
                            &message,
                            &lead.phone,
                            &conversation,
                            provider_opt_out,
                            now,
                        )
                        .await
                    }
                }
            }
            InboundEvent::Status {
                provider_message_id,
                status,
                error_code,
                idempotency_key,
                ..
            } => {
                let mut changed = self
                    .store
                    .apply_delivery_status(
                        channel.id,
                        &provider_message_id,
                        store_status(status),
                        error_code.as_deref(),
                    )
                    .await?;
                // Unknown id: perhaps a send whose answer was lost, named by its key.
                if !changed
                    && let Some(key) = idempotency_key
                    && !matches!(status, DeliveryStatus::Failed | DeliveryStatus::Canceled)
                {
                    changed = self
                        .store
                        .reconcile_outbound(
                            channel.id,
                            &key,
                            &provider_message_id,
                            store_status(status).max_sent(),
                            now,
                        )
                        .await?;
                    if changed {
                        tracing::info!(channel = %channel.id, %key, "a send of unknown outcome was confirmed by its status callback");
                    }
                }
                Ok(InboundResult::StatusApplied { changed })
            }
            InboundEvent::ConsentChange { handle, signal } => {
                let kind = match signal {
                    OptOutSignal::Stop => ComplianceEventKind::OptOut,
                    OptOutSignal::Start => ComplianceEventKind::OptIn,
                    OptOutSignal::Help => return Ok(InboundResult::Ignored),
                };
                self.record(
                    channel.account_id,
                    &handle,
                    kind,
                    "provider",
                    serde_json::json!({"channel": channel.id.to_string()}),
                    now,
                )
                .await?;
                Ok(InboundResult::ConsentRecorded)
            }
            InboundEvent::Ignored { reason } => {
                tracing::debug!(%reason, "webhook event ignored");
                Ok(InboundResult::Ignored)
            }
        }
    }

    async fn record(
        &self,
        account: AccountId,
        phone: &E164Phone,
        kind: ComplianceEventKind,
        source: &str,
        details: serde_json::Value,
        at: Timestamp,
    ) -> anyhow::Result<()> {
        self.store
            .append_compliance_event(NewComplianceEvent {
                id: EventId::new(),
                account_id: account,
                phone: phone.clone(),
                kind,
                source: source.into(),
                details,
                at,
            })
            .await?;
        Ok(())
    }

    /// Compliance intake: decided by deterministic rules before anything else sees the text.
    async fn intake(
        &self,
        channel: &Channel,
        message: &Message,
        phone: &E164Phone,
        conversation: &Conversation,
        provider_signal: Option<OptOutSignal>,
        now: Timestamp,
    ) -> anyhow::Result<InboundResult> {
        let account = channel.account_id;
        let state = self.store.compliance_state(account, phone).await?;
        let mut intake = compliance::classify(
            &message.body,
            IntakeContext {
                opted_out: state.opted_out,
            },
        );
        // The provider matched a keyword itself (and, for STOP, already sent its confirmation).
        let provider_confirmed = provider_signal == Some(OptOutSignal::Stop);
        if provider_confirmed && intake.class != IntakeClass::Stop {
            intake.class = IntakeClass::Stop;
            intake.must_stop = true;
            intake.reason = "the provider reported an opt-out keyword".into();
        }
        let stored = |reply_scheduled| InboundResult::Stored {
            message_id: message.id,
            intake: intake.class,
            reply_scheduled,
        };
        // Only the platform's own texts (confirmations, HELP) need the profile; an ordinary
        // message skips the read.
        let profile =
            || async { Ok::<_, anyhow::Error>(self.store.get_account(account).await?.profile) };
        match intake.class {
            IntakeClass::Stop => {
                let source = if provider_confirmed {
                    "provider"
                } else if intake.tier == Tier::NaturalLanguage {
                    "natural_language"
                } else {
                    "keyword"
                };
                let details = serde_json::json!({
                    "message_id": message.id.to_string(), "text": message.body, "matched": intake.matched, "reason": intake.reason,
                    "scope": "all automated messages from this account",
                });
                self.record(
                    account,
                    phone,
                    ComplianceEventKind::OptOut,
                    source,
                    details,
                    now,
                )
                .await?;
                self.store
                    .supersede_pending_ai(account, conversation.id)
                    .await?;
                // At most one confirmation, and none when already opted out or when the
                // provider sent its own.
                if !state.opted_out && !provider_confirmed {
                    self.queue_system_text(
                        conversation,
                        replies::opt_out_confirmation(&profile().await?),
                        format!("optout-confirm:{}", message.id),
                        now,
                    )
                    .await?;
                }
                Ok(stored(false))
            }
            IntakeClass::Start => {
                let details =
                    serde_json::json!({"message_id": message.id.to_string(), "text": message.body});
                self.record(
                    account,
                    phone,
                    ComplianceEventKind::OptIn,
                    "keyword",
                    details,
                    now,
                )
                .await?;
                self.queue_system_text(
                    conversation,
                    replies::opt_in_confirmation(&profile().await?),
                    format!("optin-confirm:{}", message.id),
                    now,
                )
                .await?;
                Ok(stored(false))
            }
            IntakeClass::Help => {
                if !state.opted_out {
                    self.queue_system_text(
                        conversation,
                        replies::help_reply(&profile().await?),
                        format!("help:{}", message.id),
                        now,
                    )
                    .await?;
                }
                Ok(stored(false))
            }
            IntakeClass::None => {
                if state.opted_out || state.suppressed || conversation.ai_paused {
                    return Ok(stored(false));
                }
                // A newer bubble replaces a reply not yet sent, and pushes the turn back.
                self.store
                    .supersede_pending_ai(account, conversation.id)
                    .await?;
                let run_at = now
                    .checked_add(self.config.debounce)
                    .context("debounce overflow")?;
                self.store
                    .enqueue_job(NewJob {
                        id: JobId::new(),
                        account_id: account,
                        kind: REPLY_JOB.into(),
                        dedup_key: Some(format!("reply:{}", conversation.id)),
                        payload: serde_json::json!({ "conversation_id": conversation.id.to_string() }),
                        run_at,
                    })
                    .await?;
                Ok(stored(true))
            }
        }
    }

    async fn queue_system_text(
        &self,
        conversation: &Conversation,
        body: String,
        key: String,
        now: Timestamp,
    ) -> anyhow::Result<Message> {
        self.queue_text(conversation, body, Author::System, key, now)
            .await
    }

    /// Puts a text in the outbox (normalised to GSM-7 look-alikes so it costs no more than it
    /// must). The gate runs later, at dispatch.
    pub async fn queue_text(
        &self,
        conversation: &Conversation,
        body: String,
        author: Author,
        key: String,
        now: Timestamp,
    ) -> anyhow::Result<Message> {
        let body = compliance::normalize_gsm(&body);
        let info = compliance::segments(&body);
        let message = self
            .store
            .enqueue_outbound(
                NewOutbound {
                    id: MessageId::new(),
                    account_id: conversation.account_id,
                    conversation_id: conversation.id,
                    body,
                    author,
                    segments: i32::try_from(info.segments).unwrap_or(i32::MAX),
                    encoding: info.encoding.as_str().into(),
                    idempotency_key: key,
                    due_at: now,
                },
                Vec::new(),
            )
            .await?;
        Ok(message)
    }

    /// Runs due jobs (accepted webhook events, replies) once. Returns how many it handled.
    pub async fn run_jobs_once(&self, now: Timestamp) -> anyhow::Result<usize> {
        let mut kinds = vec![
            INBOUND_JOB,
            REPLY_JOB,
            summaries::SUMMARIZE_JOB,
            notify::HANDOFF_JOB,
        ];
        if self.notifications.is_some() {
            kinds.push(notify::DELIVER_JOB);
        }
        self.run_kinds_once(&kinds, now).await
    }

    /// Finishes due accepted webhook events only (no replies): what a webhook's 2xx promised.
    pub async fn run_ingest_once(&self, now: Timestamp) -> anyhow::Result<usize> {
        self.run_kinds_once(&[INBOUND_JOB], now).await
    }

    async fn run_kinds_once(&self, kinds: &[&str], now: Timestamp) -> anyhow::Result<usize> {
        let lease_until = now.checked_add(self.config.lease)?;
        let jobs = self.store.claim_jobs(kinds, now, lease_until, 64).await?;
        let count = jobs.len();
        for job in jobs {
            let done = match job.kind.as_str() {
                INBOUND_JOB => self.inbound_job(&job).await,
                summaries::SUMMARIZE_JOB => self.summarize_job(&job, now).await,
                notify::HANDOFF_JOB => self.handoff_job(&job, now).await,
                notify::DELIVER_JOB => self.deliver_job(&job, now).await,
                _ => self.reply_job(&job, now).await,
            };
            if let Err(e) = done {
                tracing::warn!(job = %job.id, error = %format!("{e:#}"), "reply job failed; will retry");
                let retry_at = now.checked_add(SignedDuration::from_secs(30))?;
                self.store
                    .retry_job(job.id, retry_at, &format!("{e:#}"))
                    .await?;
            }
        }
        Ok(count)
    }

    /// Finishes an accepted webhook event, as if it were handled when it arrived.
    async fn inbound_job(&self, job: &Job) -> anyhow::Result<()> {
        let channel_id = job.payload["channel_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("inbound job without a channel id")?;
        let channel = match self.store.get_channel(job.account_id, channel_id).await {
            Ok(c) => c,
            // The channel was deleted meanwhile: its events have nowhere to go.
            Err(leadline_store::StoreError::NotFound) => {
                self.store.complete_job(job.id, job.run_at).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let event: InboundEvent = serde_json::from_value(job.payload["event"].clone())
            .context("inbound job with an unreadable event")?;
        // Storing is idempotent on the provider's ids, so a run repeated after a crash is a no-op.
        let result = self.handle_inbound(&channel, event, job.run_at).await?;
        tracing::debug!(job = %job.id, result = ?result, "inbound event handled");
        self.store.complete_job(job.id, job.run_at).await?;
        Ok(())
    }

    async fn reply_job(&self, job: &Job, now: Timestamp) -> anyhow::Result<()> {
        let conversation_id = job.payload["conversation_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("reply job without a conversation id")?;
        let conversation = match self
            .store
            .get_conversation(job.account_id, conversation_id)
            .await
        {
            Ok(c) => c,
            // The lead (and its conversations) was deleted meanwhile: nothing left to answer.
            Err(leadline_store::StoreError::NotFound) => {
                self.store.complete_job(job.id, job.run_at).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let lead = self
            .store
            .get_lead(job.account_id, conversation.lead_id)
            .await?;
        let state = self
            .store
            .compliance_state(job.account_id, &lead.phone)
            .await?;
        let history = self.store.messages(job.account_id, conversation.id).await?;
        let last_inbound = history
            .iter()
            .rev()
            .find(|m| m.direction == leadline_store::Direction::Inbound)
            .map(|m| m.id);
        if conversation.ai_paused || state.opted_out || state.suppressed {
            self.store.complete_job(job.id, job.run_at).await?;
            return Ok(());
        }
        let Some(last_inbound) = last_inbound else {
            self.store.complete_job(job.id, job.run_at).await?;
            return Ok(());
        };
        let account = self.store.get_account(job.account_id).await?;
        let turn = Turn {
            profile: &account.profile,
            lead: &lead,
            history: &history,
        };
        if let Some(text) = self.replies.reply(&turn).await? {
            // One reply per turn: the key is the turn's last inbound message, so a job that runs
            // twice (crash after enqueue, before completion) cannot answer twice.
            self.queue_text(
                &conversation,
                text,
                Author::Ai,
                format!("ai-reply:{last_inbound}"),
                now,
            )
            .await?;
        }
        self.store.complete_job(job.id, job.run_at).await?;
        Ok(())
    }

    /// Dispatches due outbox rows once: gate, send, record. Returns how many it handled.
    pub async fn run_outbound_once(&self, now: Timestamp) -> anyhow::Result<usize> {
        let lease_until = now.checked_add(self.config.lease)?;
        let work = self.store.claim_outbound(now, lease_until, 16).await?;
        let count = work.len();
        for item in work {
            let id = item.message.id;
            if let Err(e) = self.dispatch(item, now).await {
                // The lease expires and another pass retries; nothing was marked sent.
                tracing::warn!(message = %id, error = %format!("{e:#}"), "dispatch failed");
            }
        }
        Ok(count)
    }

    async fn dispatch(&self, work: OutboundWork, now: Timestamp) -> anyhow::Result<()> {
        let OutboundWork {
            message,
            conversation,
            lead,
            channel,
        } = work;
        let account = self.store.get_account(message.account_id).await?;
        let compliance_state = self
            .store
            .compliance_state(message.account_id, &lead.phone)
            .await?;
        let since = now.checked_sub(SignedDuration::from_hours(24))?;
        let recent_sends = self
            .store
            .sent_to_phone_since(message.account_id, &lead.phone, since)
            .await?;
        let decision = gate::decide(&GateInput {
            lead: &lead,
            author: &message.author,
            compliance: &compliance_state,
            account_status: account.status,
            settings: self.window_settings(message.account_id).await?,
            recent_sends,
            now,
        });
        // The law and the lead allow it; now the sender's own pace.
        let decision = match decision {
            GateDecision::Send { .. } => {
                let minute_ago = now.checked_sub(SignedDuration::from_secs(60))?;
                let recent = self
                    .store
                    .sent_by_channel_since(channel.id, minute_ago)
                    .await?;
                gate::rate_limit(recent, channel.send_rate_per_minute, now).unwrap_or(decision)
            }
            other => other,
        };
        let gate_json = decision.to_json();
        match decision {
            GateDecision::Block { .. } => {
                self.store
                    .finish_outbound(message.id, MessageStatus::Blocked, Some(gate_json), None)
                    .await?;
                return Ok(());
            }
            GateDecision::Defer { until, .. } => {
                self.store
                    .reschedule_outbound(
                        message.id,
                        MessageStatus::Deferred,
                        until,
                        Some(gate_json),
                        None,
                    )
                    .await?;
                return Ok(());
            }
            GateDecision::Send { .. } => {}
        }
        let provider = match self.providers.for_channel(&channel).await {
            Ok(p) => p,
            Err(e) => {
                // A channel that cannot send (missing credentials) needs a person, not retries.
                self.store
                    .finish_outbound(
                        message.id,
                        MessageStatus::Failed,
                        Some(gate_json),
                        Some("channel_misconfigured"),
                    )
                    .await?;
                self.store
                    .set_needs_attention(message.account_id, conversation.id, true)
                    .await?;
                tracing::warn!(channel = %channel.id, error = %e, "channel cannot send");
                return Ok(());
            }
        };
        let from = SenderAddress::parse(&channel.address).context("channel address")?;
        let key = message
            .idempotency_key
            .clone()
            .unwrap_or_else(|| message.id.to_string());
        let status_callback = self.config.public_url.as_ref().and_then(|base| {
            base.join(&format!(
                "webhooks/{}/{}",
                channel.provider, channel.webhook_token
            ))
            .ok()
        });
        let outbound = OutboundMessage {
            from,
            to: lead.phone.clone(),
            body: message.body.clone(),
            media_urls: Vec::new(),
            idempotency_key: key,
            status_callback,
        };
        match provider.send(&outbound).await {
            Ok(receipt) => {
                self.store
                    .mark_sent(
                        message.id,
                        &receipt.provider_message_id,
                        store_status(receipt.status).max_sent(),
                        now,
                        Some(gate_json),
                    )
                    .await?;
                // The sandbox reports delivery right away; apply it like a provider callback.
                if channel.provider == "sandbox" {
                    for event in self.providers.sandbox().take_events() {
                        if let InboundEvent::Status {
                            provider_message_id,
                            status,
                            ..
                        } = event
                        {
                            self.store
                                .apply_delivery_status(
                                    channel.id,
                                    &provider_message_id,
                                    store_status(status),
                                    None,
                                )
                                .await?;
                        }
                    }
                }
            }
            Err(err) => {
                let code = err.fault().code.clone();
                match err.disposition() {
                    Disposition::Retry { after } if message.attempts < self.config.max_attempts => {
                        let attempt = u32::try_from(message.attempts).unwrap_or(1);
                        let delay = backoff(attempt, after, &mut rand::thread_rng());
                        let due = now.checked_add(
                            SignedDuration::try_from(delay)
                                .unwrap_or(SignedDuration::from_secs(60)),
                        )?;
                        self.store
                            .reschedule_outbound(
                                message.id,
                                MessageStatus::Queued,
                                due,
                                None,
                                Some(&err.to_string()),
                            )
                            .await?;
                    }
                    Disposition::Retry { .. } | Disposition::Permanent => {
                        if matches!(err, leadline_providers::messaging::SendError::OptedOut(_)) {
                            let details = serde_json::json!({"message_id": message.id.to_string(), "provider_error": code});
                            self.record(
                                message.account_id,
                                &lead.phone,
                                ComplianceEventKind::OptOut,
                                "provider",
                                details,
                                now,
                            )
                            .await?;
                        }
                        self.store
                            .finish_outbound(
                                message.id,
                                MessageStatus::Failed,
                                None,
                                code.as_deref(),
                            )
                            .await?;
                    }
                    Disposition::Reconcile => {
                        // The provider may have the message: never resend automatically (that
                        // could text the lead twice). A person checks, so the row says so.
                        self.store
                            .finish_outbound(
                                message.id,
                                MessageStatus::Failed,
                                None,
                                Some(leadline_store::OUTCOME_UNKNOWN),
                            )
                            .await?;
                        self.store
                            .set_needs_attention(message.account_id, conversation.id, true)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The account's quiet hours and relaxations; the legal defaults when it has none.
    pub async fn window_settings(&self, account: AccountId) -> anyhow::Result<WindowSettings> {
        match self.store.get_setting(account, COMPLIANCE_SETTINGS).await? {
            None => Ok(WindowSettings::default()),
            Some(value) => {
                serde_json::from_value(value).context("stored compliance settings are unreadable")
            }
        }
    }

    /// Runs the workers until `shutdown` resolves: reply jobs and the outbox, polling.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
            // Keep going while there is work, so a burst drains without waiting for ticks.
            loop {
                let now = Timestamp::now();
                let jobs = self.run_jobs_once(now).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %format!("{e:#}"), "job pass failed");
                    0
                });
                let sent = self.run_outbound_once(now).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %format!("{e:#}"), "outbox pass failed");
                    0
                });
                if jobs + sent == 0 || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
}

trait SentFloor {
    fn max_sent(self) -> Self;
}

impl SentFloor for MessageStatus {
    /// A provider's "accepted"/"queued" answer to a send still means we handed it over.
    fn max_sent(self) -> Self {
        if self.rank() < MessageStatus::Sent.rank() {
            MessageStatus::Sent
        } else {
            self
        }
    }
}

/// The provider's delivery status as the store records it.
pub fn store_status(status: DeliveryStatus) -> MessageStatus {
    match status {
        DeliveryStatus::Queued | DeliveryStatus::Sending => MessageStatus::Sending,
        DeliveryStatus::Sent => MessageStatus::Sent,
        DeliveryStatus::Delivered => MessageStatus::Delivered,
        DeliveryStatus::Read => MessageStatus::Read,
        DeliveryStatus::Undelivered => MessageStatus::Undelivered,
        DeliveryStatus::Failed | DeliveryStatus::Canceled => MessageStatus::Failed,
    }
}
