//! The engine's summary and notification jobs: `summarize` (after the quiet period), `handoff`
//! (write the hand-off summary, plan deliveries) and `deliver` (send one email or webhook).
//! See [`crate::notify`] for the delivery design and [`crate::summaries`] for the summary.

use crate::Engine;
use crate::notify::{
    self, DELIVER_JOB, EVENT_TYPE, Notifications, SIGNATURE_HEADER, WEBHOOK_SECRET_PURPOSE,
    WebhookOutcome,
};
use crate::summaries::{self, SUMMARIZE_JOB};
use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use leadline_domain::Role;
use leadline_domain::ids::{EventId, JobId};
use leadline_providers::fetch::{FetchError, FetchPolicy, Fetcher};
use leadline_providers::messaging::backoff;
use leadline_store::{
    Delivery, DeliveryAttempt, DeliveryChannel, DeliveryStatus, Job, NewDelivery, NewJob,
    NewSummary, Notification, StoreError, SummaryReason,
};

/// Reads an id out of a job's payload.
fn payload_id<T: std::str::FromStr>(job: &Job, key: &str) -> anyhow::Result<T> {
    job.payload[key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{} job without a {key}", job.kind))
}

/// Whether a member gets hand-off email when they never chose: owners and admins do.
pub fn default_email_on_handoff(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin)
}

impl Engine {
    /// Summarizes a conversation that has been quiet for the account's period, once per quiet
    /// spell; a conversation still talking re-arms the job to its new quiet time.
    pub(crate) async fn summarize_job(&self, job: &Job, now: Timestamp) -> anyhow::Result<()> {
        let id = payload_id(job, "conversation_id")?;
        let account = job.account_id;
        let conversation = match self.store.get_conversation(account, id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                self.store.complete_job(job.id, job.run_at).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let settings = summaries::notification_settings(self.store.as_ref(), account).await?;
        let last = summaries::last_activity(&conversation);
        let due = last.checked_add(settings.quiet_period())?;
        if due > now {
            // Not quiet long enough yet: the same job, later (re-arming while we hold it makes
            // `complete_job` release it instead of completing it).
            self.store
                .enqueue_job(NewJob {
                    id: JobId::new(),
                    account_id: account,
                    kind: SUMMARIZE_JOB.into(),
                    dedup_key: Some(format!("{SUMMARIZE_JOB}:{id}")),
                    payload: job.payload.clone(),
                    run_at: due,
                })
                .await?;
            self.store.complete_job(job.id, job.run_at).await?;
            return Ok(());
        }
        let covered = self
            .store
            .latest_summary(account, id)
            .await?
            .is_some_and(|s| s.created_at >= last);
        if !covered {
            let written = summaries::summarize_conversation(
                self.store.as_ref(),
                self.replies.as_ref(),
                account,
                id,
                None,
            )
            .await?;
            self.store
                .record_summary(NewSummary {
                    id: EventId::new(),
                    account_id: account,
                    conversation_id: id,
                    reason: SummaryReason::Quiet,
                    engine: written.engine,
                    body: written.body,
                    input_tokens: written.input_tokens,
                    output_tokens: written.output_tokens,
                    // One quiet summary per quiet spell, even if this run is repeated.
                    dedup_key: Some(format!("quiet:{id}:{}", last.as_microsecond())),
                    at: now,
                })
                .await?;
        }
        self.store.complete_job(job.id, job.run_at).await?;
        Ok(())
    }

    /// Writes the hand-off summary and plans the notification's deliveries. Both are keyed on
    /// the notification, so a repeated run adds nothing.
    pub(crate) async fn handoff_job(&self, job: &Job, now: Timestamp) -> anyhow::Result<()> {
        let id: EventId = payload_id(job, "notification_id")?;
        let account = job.account_id;
        let notification = match self.store.get_notification(account, id).await {
            Ok(n) => n,
            Err(StoreError::NotFound) => {
                self.store.complete_job(job.id, job.run_at).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // A repeated run (a crash before completion) records nothing new: the summary is keyed
        // on the notification, so the first one stays.
        let key = format!("handoff:{}", notification.id);
        let written = summaries::summarize_conversation(
            self.store.as_ref(),
            self.replies.as_ref(),
            account,
            notification.conversation_id,
            Some(&notification.reason),
        )
        .await;
        let written = match written {
            Ok(w) => w,
            // The lead was deleted meanwhile: nobody to tell about.
            Err(e) if matches!(e.downcast_ref(), Some(StoreError::NotFound)) => {
                self.store.complete_job(job.id, job.run_at).await?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let summary = self
            .store
            .record_summary(NewSummary {
                id: EventId::new(),
                account_id: account,
                conversation_id: notification.conversation_id,
                reason: SummaryReason::Handoff,
                engine: written.engine,
                body: written.body,
                input_tokens: written.input_tokens,
                output_tokens: written.output_tokens,
                dedup_key: Some(key),
                at: now,
            })
            .await?;

        let prefs = self.store.notification_prefs(account).await?;
        let mut deliveries = Vec::new();
        for member in self.store.members_of_account(account).await? {
            let wants = prefs
                .iter()
                .find(|p| p.user_id == member.user_id)
                .map_or(default_email_on_handoff(member.role), |p| {
                    p.email_on_handoff
                });
            if wants {
                deliveries.push(new_delivery(
                    DeliveryChannel::Email,
                    member.email.as_str().to_owned(),
                ));
            }
        }
        let settings = summaries::notification_settings(self.store.as_ref(), account).await?;
        if let Some(url) = settings.webhook_url.filter(|u| !u.trim().is_empty()) {
            deliveries.push(new_delivery(DeliveryChannel::Webhook, url));
        }
        self.store
            .plan_deliveries(account, notification.id, &summary.body, deliveries, now)
            .await?;
        self.store.complete_job(job.id, job.run_at).await?;
        Ok(())
    }

    /// Sends one delivery and records the attempt: delivered, retried later with backoff, or
    /// failed for good.
    pub(crate) async fn deliver_job(&self, job: &Job, now: Timestamp) -> anyhow::Result<()> {
        let Some(notifications) = self.notifications.clone() else {
            // Claimed by mistake (only engines with notifications claim these): leave it.
            self.store
                .retry_job(job.id, now, "no notification sender in this process")
                .await?;
            return Ok(());
        };
        let id: EventId = payload_id(job, "delivery_id")?;
        let account = job.account_id;
        let delivery = match self.store.get_delivery(account, id).await {
            Ok(d) if d.status == DeliveryStatus::Pending => d,
            Ok(_) | Err(StoreError::NotFound) => {
                self.store.complete_job(job.id, job.run_at).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let notification = self
            .store
            .get_notification(account, delivery.notification_id)
            .await?;
        let outcome = match delivery.channel {
            DeliveryChannel::Email => {
                self.send_email(&notifications, &notification, &delivery)
                    .await
            }
            DeliveryChannel::Webhook => {
                self.send_webhook(&notifications, &notification, &delivery, now)
                    .await
            }
        };
        let outcome = match outcome {
            Ok(o) => o,
            // The conversation or lead was deleted meanwhile: nothing left to tell about.
            Err(e) if matches!(e.downcast_ref(), Some(StoreError::NotFound)) => {
                WebhookOutcome::Refused {
                    error: "the conversation was deleted".into(),
                }
            }
            // Our own trouble (the database): the job is retried, no attempt is counted.
            Err(e) => return Err(e),
        };
        match outcome {
            WebhookOutcome::Delivered => {
                self.store
                    .record_delivery_attempt(account, id, DeliveryAttempt::Delivered, now)
                    .await?;
                self.store.complete_job(job.id, job.run_at).await?;
            }
            WebhookOutcome::Retry { error, after }
                if delivery.attempts + 1 < notifications.max_attempts =>
            {
                self.store
                    .record_delivery_attempt(
                        account,
                        id,
                        DeliveryAttempt::Retry {
                            error: error.clone(),
                        },
                        now,
                    )
                    .await?;
                let attempt = u32::try_from(delivery.attempts).unwrap_or(0);
                let delay = backoff(attempt, after, &mut rand::thread_rng());
                let retry_at = now.checked_add(
                    SignedDuration::try_from(delay).unwrap_or(SignedDuration::from_secs(60)),
                )?;
                tracing::info!(delivery = %id, %error, %retry_at, "notification delivery will be retried");
                self.store.retry_job(job.id, retry_at, &error).await?;
            }
            WebhookOutcome::Retry { error, .. } | WebhookOutcome::Refused { error } => {
                tracing::warn!(delivery = %id, %error, "notification delivery failed");
                self.store
                    .record_delivery_attempt(account, id, DeliveryAttempt::Failed { error }, now)
                    .await?;
                self.store.complete_job(job.id, job.run_at).await?;
            }
        }
        Ok(())
    }

    fn conversation_link(&self, notification: &Notification) -> String {
        let path = format!("/app/inbox/{}", notification.conversation_id);
        match &self.config.public_url {
            Some(base) => format!("{}{path}", base.as_str().trim_end_matches('/')),
            None => path,
        }
    }

    async fn send_email(
        &self,
        notifications: &Notifications,
        notification: &Notification,
        delivery: &Delivery,
    ) -> anyhow::Result<WebhookOutcome> {
        let conversation = self
            .store
            .get_conversation(notification.account_id, notification.conversation_id)
            .await?;
        let lead = self
            .store
            .get_lead(notification.account_id, conversation.lead_id)
            .await?;
        let who = if lead.name.trim().is_empty() {
            lead.phone.to_string()
        } else {
            format!("{} ({})", lead.name, lead.phone)
        };
        let subject = format!("Conversation handed off: {who}");
        let body = format!(
            "A conversation needs a person.\n\nLead: {who}\nReason: {}\n\nSummary:\n{}\n\nOpen the conversation:\n{}\n\nYou get this email because hand-off notifications are on in your notification settings.\n",
            notification.reason,
            notification.summary.as_deref().unwrap_or("(none)"),
            self.conversation_link(notification),
        );
        Ok(
            match notifications
                .mailer
                .send(&delivery.target, &subject, &body)
                .await
            {
                Ok(()) => WebhookOutcome::Delivered,
                Err(e) => WebhookOutcome::Retry {
                    error: format!("{e:#}"),
                    after: None,
                },
            },
        )
    }

    async fn send_webhook(
        &self,
        notifications: &Notifications,
        notification: &Notification,
        delivery: &Delivery,
        now: Timestamp,
    ) -> anyhow::Result<WebhookOutcome> {
        let url =
            match notify::validate_webhook_url(&delivery.target, notifications.allow_http_loopback)
            {
                Ok(u) => u,
                Err(why) => return Ok(WebhookOutcome::Refused { error: why }),
            };
        let Ok(secret) = notifications
            .secrets
            .reveal(notification.account_id, WEBHOOK_SECRET_PURPOSE)
            .await
        else {
            // Never unsigned: an admin must generate a secret first.
            return Ok(WebhookOutcome::Refused {
                error: "no webhook signing secret; generate one in the notification settings"
                    .into(),
            });
        };
        let conversation = self
            .store
            .get_conversation(notification.account_id, notification.conversation_id)
            .await?;
        let lead = self
            .store
            .get_lead(notification.account_id, conversation.lead_id)
            .await?;
        // The same event id and body on every attempt: receivers dedupe on the id.
        let body = serde_json::to_vec(&serde_json::json!({
            "type": EVENT_TYPE,
            "id": notification.id.to_string(),
            "occurred_at": notification.created_at.to_string(),
            "account_id": notification.account_id.to_string(),
            "conversation_id": notification.conversation_id.to_string(),
            "lead": {
                "id": lead.id.to_string(),
                "phone": lead.phone.to_string(),
                "name": lead.name,
            },
            "reason": notification.reason,
            "summary": notification.summary,
        }))?;
        let signature = notify::signature_header(&secret, now, &body);
        // The SSRF guard: the host's addresses are resolved and vetted (no private, loopback,
        // link-local or metadata address), and the connection is pinned to them, so a second
        // DNS answer cannot redirect the POST inside our network.
        let fetcher = Fetcher::new(FetchPolicy {
            allow_loopback: notifications.allow_http_loopback,
            ..FetchPolicy::default()
        });
        let addrs = match fetcher.vet(&url).await {
            Ok(a) => a,
            Err(FetchError::UnknownHost(_)) => {
                return Ok(WebhookOutcome::Retry {
                    error: "the receiver's host name did not resolve".into(),
                    after: None,
                });
            }
            Err(e) => {
                return Ok(WebhookOutcome::Refused {
                    error: format!("the webhook URL is refused: {e}"),
                });
            }
        };
        let client = Notifications::webhook_client(&url, &addrs)?;
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("Idempotency-Key", notification.id.to_string())
            .header("Leadline-Event-Id", notification.id.to_string())
            .body(body)
            .send()
            .await;
        Ok(match sent {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                notify::classify_response(response.status().as_u16(), retry_after.as_deref())
            }
            // Never the URL in the error text: it may carry a token in its path.
            Err(e) if e.is_timeout() => WebhookOutcome::Retry {
                error: "the receiver did not answer in time".into(),
                after: None,
            },
            Err(_) => WebhookOutcome::Retry {
                error: "could not connect to the receiver".into(),
                after: None,
            },
        })
    }
}

fn new_delivery(channel: DeliveryChannel, target: String) -> NewDelivery {
    NewDelivery {
        id: EventId::new(),
        channel,
        target,
        job_id: JobId::new(),
        job_kind: DELIVER_JOB.into(),
    }
}
