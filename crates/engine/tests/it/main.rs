//! The pipeline end to end on a real database (SQLite, or PostgreSQL with
//! LEADLINE_TEST_DATABASE_URL) against the Twilio mock, on a virtual clock: every step takes the
//! instant it runs at, so quiet hours and debounce are tested without sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod models;

use jiff::{SignedDuration, Timestamp};
use leadline_app::{KeyRing, MasterKey, SecretsService};
use leadline_domain::ids::ChannelId;
use leadline_domain::{AccountId, E164Phone, Email, UserId};
use leadline_engine::providers::{ProviderFactory, credential_purpose};
use leadline_engine::replies::HoldingReply;
use leadline_engine::{Engine, EngineConfig, InboundResult};
use leadline_providers::messaging::sandbox::SandboxProvider;
use leadline_providers::messaging::twilio::TwilioWebhooks;
use leadline_providers::messaging::{InboundEvent, InboundWebhooks};
use leadline_providers::mock::Scripted;
use leadline_providers::mock::twilio::{
    InboundSms, StatusCallback, TwilioMock, inbound_request, status_request,
};
use leadline_store::{
    Channel, ComplianceEventKind, Direction, MessageStatus, NewChannel, NewSignup, NewUser,
};
use leadline_store_sql::testing::{TestDb, fresh};
use secrecy::SecretString;
use std::sync::Arc;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-0123456789";
const OUR_NUMBER: &str = "+15125550100";
const LEAD: &str = "+15125550147";

struct Rig {
    db: TestDb,
    engine: Engine,
    channel: Channel,
    mock: TwilioMock,
    public: url::Url,
    account: AccountId,
}

/// A Monday noon in Austin: inside every window.
fn noon() -> Timestamp {
    "2026-12-07T18:00:00Z".parse().unwrap()
}

fn secs(t: Timestamp, s: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(s)).unwrap()
}

async fn rig() -> Rig {
    let db = fresh().await;
    let mock = TwilioMock::start(SID, TOKEN).await.unwrap();
    let account = AccountId::new();
    db.store
        .sign_up(NewSignup {
            user: NewUser {
                id: UserId::new(),
                email: Email::parse("dana@example.com").unwrap(),
                name: "Dana".into(),
                password_hash: None,
                google_subject: None,
            },
            account_id: account,
            profile: leadline_domain::BusinessProfile {
                business_name: "Acme Insurance".into(),
                agent_name: "Dana".into(),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    let secrets = Arc::new(SecretsService::new(
        db.store.clone(),
        KeyRing::from_keys(vec![MasterKey::generate()]),
    ));
    let channel = db
        .store
        .create_channel(NewChannel {
            id: ChannelId::new(),
            account_id: account,
            provider: "twilio".into(),
            name: "Main line".into(),
            address: OUR_NUMBER.into(),
            webhook_token: "tok123".into(),
            settings: serde_json::json!({"account_sid": SID, "api_base_url": mock.base_url().to_string()}),
            send_rate_per_minute: 60,
        })
        .await
        .unwrap();
    secrets
        .put(
            account,
            &credential_purpose(&channel),
            &SecretString::from(TOKEN),
            "system",
        )
        .await
        .unwrap();
    let public: url::Url = "https://leadline.example/".parse().unwrap();
    let config = EngineConfig {
        debounce: SignedDuration::from_secs(4),
        public_url: Some(public.clone()),
        ..Default::default()
    };
    let engine = Engine::new(
        db.store.clone(),
        ProviderFactory::new(secrets, Arc::new(SandboxProvider::new())),
        Arc::new(HoldingReply),
        config,
    );
    Rig {
        db,
        engine,
        channel,
        mock,
        public,
        account,
    }
}

impl Rig {
    /// A sandbox channel on the rig's account.
    async fn sandbox_channel(&self, address: &str, token: &str, per_minute: u32) -> Channel {
        self.db
            .store
            .create_channel(NewChannel {
                id: ChannelId::new(),
                account_id: self.account,
                provider: "sandbox".into(),
                name: "Sandbox".into(),
                address: address.into(),
                webhook_token: token.into(),
                settings: serde_json::json!({}),
                send_rate_per_minute: per_minute,
            })
            .await
            .unwrap()
    }

    fn webhook_url(&self) -> url::Url {
        self.public.join("webhooks/twilio/tok123").unwrap()
    }

    /// A signed Twilio inbound webhook, verified and parsed as the web layer does, then handled.
    async fn text_in(&self, body: &str, sid: &str, at: Timestamp) -> InboundResult {
        let mut sms = InboundSms::new(LEAD, OUR_NUMBER, body);
        sms.message_sid = sid.into();
        let request = inbound_request(&self.webhook_url(), TOKEN, &sms);
        let hooks = TwilioWebhooks;
        hooks.verify(&request, &SecretString::from(TOKEN)).unwrap();
        let event = hooks.parse(&request).unwrap();
        self.engine
            .handle_inbound(&self.channel, event, at)
            .await
            .unwrap()
    }

    async fn callback(
        &self,
        provider_sid: &str,
        status: &str,
        code: Option<&str>,
    ) -> InboundResult {
        let cb = StatusCallback {
            message_sid: provider_sid.into(),
            account_sid: SID.into(),
            from: OUR_NUMBER.into(),
            to: LEAD.into(),
            status: status.into(),
            error_code: code.map(str::to_owned),
        };
        let request = status_request(&self.webhook_url(), TOKEN, &cb);
        let hooks = TwilioWebhooks;
        hooks.verify(&request, &SecretString::from(TOKEN)).unwrap();
        let event = hooks.parse(&request).unwrap();
        self.engine
            .handle_inbound(&self.channel, event, Timestamp::now())
            .await
            .unwrap()
    }

    /// Runs both workers at `at` until nothing more is due.
    async fn work(&self, at: Timestamp) {
        for _ in 0..5 {
            let jobs = self.engine.run_jobs_once(at).await.unwrap();
            let out = self.engine.run_outbound_once(at).await.unwrap();
            if jobs + out == 0 {
                return;
            }
        }
    }

    async fn thread(&self) -> Vec<leadline_store::Message> {
        let lead = self
            .db
            .store
            .find_lead_by_phone(self.account, &E164Phone::parse(LEAD).unwrap())
            .await
            .unwrap()
            .unwrap();
        let conv = self
            .db
            .store
            .conversation_for(self.account, lead.id, self.channel.id)
            .await
            .unwrap();
        self.db.store.messages(self.account, conv.id).await.unwrap()
    }

    fn outbound(thread: &[leadline_store::Message]) -> Vec<&leadline_store::Message> {
        thread
            .iter()
            .filter(|m| m.direction == Direction::Outbound)
            .collect()
    }
}

fn sid(n: u32) -> String {
    format!("SM{n:032}")
}

#[tokio::test]
async fn a_signed_webhook_becomes_a_stored_message_a_gated_reply_and_a_tracked_delivery() {
    let r = rig().await;
    let t = noon();
    let res = r
        .text_in("Hi, I saw your ad about life insurance", &sid(1), t)
        .await;
    assert!(
        matches!(
            res,
            InboundResult::Stored {
                reply_scheduled: true,
                ..
            }
        ),
        "{res:?}"
    );
    // Debounce: nothing is answered before the window closes.
    r.work(secs(t, 1)).await;
    assert!(r.mock.messages().is_empty());
    r.work(secs(t, 5)).await;
    let sent = r.mock.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, LEAD);
    assert_eq!(sent[0].from.as_deref(), Some(OUR_NUMBER));
    assert!(sent[0].body.as_deref().unwrap().contains("Acme Insurance"));
    assert!(
        sent[0]
            .status_callback
            .as_deref()
            .unwrap()
            .starts_with("https://leadline.example/webhooks/twilio/tok123")
    );
    let thread = r.thread().await;
    let out = Rig::outbound(&thread);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, MessageStatus::Sent);
    assert_eq!(
        out[0].provider_message_id.as_deref(),
        Some(sent[0].sid.as_str())
    );

    // Status callbacks move it forward, never back.
    assert_eq!(
        r.callback(&sent[0].sid, "delivered", None).await,
        InboundResult::StatusApplied { changed: true }
    );
    assert_eq!(
        r.callback(&sent[0].sid, "sent", None).await,
        InboundResult::StatusApplied { changed: false }
    );
    assert_eq!(
        Rig::outbound(&r.thread().await)[0].status,
        MessageStatus::Delivered
    );
}

#[tokio::test]
async fn a_retried_webhook_is_stored_once() {
    let r = rig().await;
    let t = noon();
    r.text_in("Hello?", &sid(7), t).await;
    assert_eq!(
        r.text_in("Hello?", &sid(7), secs(t, 1)).await,
        InboundResult::Duplicate
    );
    let inbound: Vec<_> = r
        .thread()
        .await
        .into_iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), 1);
}

#[tokio::test]
async fn a_burst_of_bubbles_gets_one_reply() {
    let r = rig().await;
    let t = noon();
    r.text_in("Hi", &sid(1), t).await;
    r.text_in("I'm 42, married", &sid(2), secs(t, 2)).await;
    r.work(secs(t, 4)).await;
    assert!(
        r.mock.messages().is_empty(),
        "the second bubble pushed the turn back"
    );
    r.text_in("two kids", &sid(3), secs(t, 5)).await;
    r.work(secs(t, 20)).await;
    assert_eq!(r.mock.messages().len(), 1);
    assert!(r.mock.duplicates().is_empty());
}

#[tokio::test]
async fn stop_records_an_opt_out_sends_one_confirmation_and_nothing_else() {
    let r = rig().await;
    let t = noon();
    r.text_in("Hi there", &sid(1), t).await;
    r.work(secs(t, 10)).await;
    assert_eq!(r.mock.messages().len(), 1);
    r.text_in("STOP", &sid(2), secs(t, 20)).await;
    r.work(secs(t, 30)).await;
    assert_eq!(r.mock.messages().len(), 2);
    assert!(
        r.mock.messages()[1]
            .body
            .as_deref()
            .unwrap()
            .contains("unsubscribed")
    );
    // A second STOP and later texts get nothing, not even a second confirmation.
    r.text_in("stop texting me", &sid(3), secs(t, 40)).await;
    r.text_in("hello??", &sid(4), secs(t, 50)).await;
    r.work(secs(t, 120)).await;
    assert_eq!(r.mock.messages().len(), 2);
    let events =
        r.db.store
            .compliance_history(r.account, &E164Phone::parse(LEAD).unwrap())
            .await
            .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == ComplianceEventKind::OptOut && e.source == "keyword")
    );
    // Even a human's text is blocked, with the reason on the message.
    let lead =
        r.db.store
            .find_lead_by_phone(r.account, &E164Phone::parse(LEAD).unwrap())
            .await
            .unwrap()
            .unwrap();
    let conv =
        r.db.store
            .conversation_for(r.account, lead.id, r.channel.id)
            .await
            .unwrap();
    let human = leadline_store::Author::Human {
        user_id: UserId::new(),
    };
    let m = r
        .engine
        .queue_text(
            &conv,
            "Are you sure?".into(),
            human,
            "manual-1".into(),
            secs(t, 130),
        )
        .await
        .unwrap();
    r.work(secs(t, 131)).await;
    let blocked = r.thread().await.into_iter().find(|x| x.id == m.id).unwrap();
    assert_eq!(blocked.status, MessageStatus::Blocked);
    assert!(blocked.gate.unwrap().to_string().contains("opted out"));
    assert_eq!(r.mock.messages().len(), 2);
}

#[tokio::test]
async fn a_reply_due_at_22_local_is_deferred_to_the_next_allowed_minute() {
    let r = rig().await;
    // Monday 22:00 in Austin.
    let late: Timestamp = "2026-12-08T04:00:00Z".parse().unwrap();
    r.text_in("are you open?", &sid(1), late).await;
    r.work(secs(late, 10)).await;
    assert!(r.mock.messages().is_empty());
    let out = Rig::outbound(&r.thread().await)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(out[0].status, MessageStatus::Deferred);
    let next: Timestamp = "2026-12-08T15:00:00Z".parse().unwrap();
    assert_eq!(
        out[0].due_at,
        Some(next),
        "Texas opens at 9:00 on a weekday"
    );
    let gate = out[0].gate.clone().unwrap();
    assert_eq!(gate["decision"], "defer");
    assert!(gate.to_string().contains("Texas"));
    r.work(secs(next, -60)).await;
    assert!(r.mock.messages().is_empty(), "not a minute early");
    r.work(next).await;
    assert_eq!(r.mock.messages().len(), 1);
}

#[tokio::test]
async fn a_provider_500_then_201_gives_exactly_one_delivery() {
    let r = rig().await;
    let t = noon();
    r.mock.fail_next(1, Scripted::ServerError);
    r.text_in("Hi", &sid(1), t).await;
    r.work(secs(t, 5)).await;
    assert!(r.mock.messages().is_empty());
    let out = Rig::outbound(&r.thread().await)[0].clone();
    assert_eq!(
        out.status,
        MessageStatus::Queued,
        "back in the outbox with a backoff"
    );
    r.work(secs(t, 600)).await;
    assert_eq!(r.mock.messages().len(), 1);
    assert!(r.mock.duplicates().is_empty());
    let out = Rig::outbound(&r.thread().await)[0].clone();
    assert_eq!((out.status, out.attempts), (MessageStatus::Sent, 2));
}

/// A send whose answer was lost is never resent; Twilio's status callback, tagged with the
/// message's key, later confirms it and the row takes the provider's id and status.
#[tokio::test]
async fn a_send_of_unknown_outcome_is_reconciled_by_its_tagged_status_callback() {
    let r = rig().await;
    let t = noon();
    r.mock.fail_next(1, Scripted::BadGateway);
    r.text_in("Hi", &sid(1), t).await;
    r.work(secs(t, 5)).await;
    r.work(secs(t, 600)).await;
    let out = Rig::outbound(&r.thread().await)[0].clone();
    assert_eq!(out.status, MessageStatus::Failed);
    assert_eq!(
        out.error_code.as_deref(),
        Some(leadline_store::OUTCOME_UNKNOWN)
    );
    assert!(r.mock.messages().is_empty(), "never resent automatically");

    // The StatusCallback we gave Twilio carries the key; Twilio reports on it.
    let sent = r.mock.requests().last().unwrap().clone();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sent.body)
        .into_owned()
        .collect();
    let callback_url: url::Url = form
        .iter()
        .find(|(k, _)| k == "StatusCallback")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    assert!(callback_url.query().unwrap().contains("leadline_key="));
    let cb = StatusCallback {
        message_sid: "SMfound0000000000000000000000001".into(),
        account_sid: SID.into(),
        from: OUR_NUMBER.into(),
        to: LEAD.into(),
        status: "delivered".into(),
        error_code: None,
    };
    let request = status_request(&callback_url, TOKEN, &cb);
    let hooks = TwilioWebhooks;
    hooks.verify(&request, &SecretString::from(TOKEN)).unwrap();
    let event = hooks.parse(&request).unwrap();
    let result = r
        .engine
        .handle_inbound(&r.channel, event, secs(t, 700))
        .await
        .unwrap();
    assert_eq!(result, InboundResult::StatusApplied { changed: true });
    let out = Rig::outbound(&r.thread().await)[0].clone();
    assert_eq!(out.status, MessageStatus::Delivered);
    assert_eq!(
        out.provider_message_id.as_deref(),
        Some("SMfound0000000000000000000000001")
    );
    assert_eq!(out.error_code, None);
}

#[tokio::test]
async fn a_killed_worker_mid_send_does_not_duplicate() {
    let r = rig().await;
    let t = noon();
    r.text_in("Hi", &sid(1), t).await;
    r.engine.run_jobs_once(secs(t, 5)).await.unwrap();
    // A worker claims the message and dies before finishing.
    let claimed =
        r.db.store
            .claim_outbound(secs(t, 5), secs(t, 65), 10)
            .await
            .unwrap();
    assert_eq!(claimed.len(), 1);
    // While its lease holds, nobody else takes it.
    r.work(secs(t, 30)).await;
    assert!(r.mock.messages().is_empty());
    // After the lease, another worker sends it exactly once.
    r.work(secs(t, 70)).await;
    r.work(secs(t, 200)).await;
    assert_eq!(r.mock.messages().len(), 1);
}

#[tokio::test]
async fn an_unsubscribed_recipient_error_becomes_an_opt_out() {
    let r = rig().await;
    let t = noon();
    r.mock.opt_out(LEAD);
    r.text_in("Hi", &sid(1), t).await;
    r.work(secs(t, 5)).await;
    let out = Rig::outbound(&r.thread().await)[0].clone();
    assert_eq!(out.status, MessageStatus::Failed);
    assert_eq!(out.error_code.as_deref(), Some("21610"));
    let state =
        r.db.store
            .compliance_state(r.account, &E164Phone::parse(LEAD).unwrap())
            .await
            .unwrap();
    assert!(state.opted_out);
}

#[tokio::test]
async fn the_sandbox_channel_goes_through_the_same_pipeline() {
    let r = rig().await;
    let sandbox = r.sandbox_channel("+15125550199", "sandbox-tok", 60).await;
    let t = noon();
    let event = SandboxProvider::inbound(
        E164Phone::parse(LEAD).unwrap(),
        "+15125550199",
        "Hi from the simulator",
    );
    assert!(matches!(event, InboundEvent::Message { .. }));
    r.engine.handle_inbound(&sandbox, event, t).await.unwrap();
    r.work(secs(t, 5)).await;
    let lead =
        r.db.store
            .find_lead_by_phone(r.account, &E164Phone::parse(LEAD).unwrap())
            .await
            .unwrap()
            .unwrap();
    let conv =
        r.db.store
            .conversation_for(r.account, lead.id, sandbox.id)
            .await
            .unwrap();
    let msgs = r.db.store.messages(r.account, conv.id).await.unwrap();
    let out: Vec<_> = msgs
        .iter()
        .filter(|m| m.direction == Direction::Outbound)
        .collect();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].status,
        MessageStatus::Delivered,
        "the sandbox reports delivery"
    );
    assert!(
        r.engine
            .providers()
            .sandbox()
            .sent()
            .iter()
            .any(|m| m.body.contains("Acme Insurance"))
    );
}

async fn set_compliance(r: &Rig, value: serde_json::Value) {
    let audit = leadline_store::NewAudit {
        account_id: r.account,
        actor: "user:test".into(),
        action: "compliance.settings".into(),
        details: value.clone(),
    };
    r.db.store
        .put_setting(
            r.account,
            leadline_engine::COMPLIANCE_SETTINGS,
            value,
            audit,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_owners_quiet_hours_tighten_the_legal_window() {
    let r = rig().await;
    set_compliance(
        &r,
        serde_json::json!({"quiet_hours": "mon-fri 09:00-12:00", "relaxations": []}),
    )
    .await;
    // Monday 12:00 in Austin: legal, but after the owner's hours.
    let t = noon();
    r.text_in("hello", &sid(1), t).await;
    r.work(secs(t, 10)).await;
    assert!(r.mock.messages().is_empty());
    let out = Rig::outbound(&r.thread().await)[0].clone();
    assert_eq!(
        out.due_at,
        Some("2026-12-08T15:00:00Z".parse().unwrap()),
        "Tuesday 9:00 Austin"
    );
}

#[tokio::test]
async fn an_explicit_relaxation_lets_replies_out_after_hours() {
    let r = rig().await;
    set_compliance(
        &r,
        serde_json::json!({"quiet_hours": null, "relaxations": ["replies-ignore-legal-hours"]}),
    )
    .await;
    let late: Timestamp = "2026-12-08T04:00:00Z".parse().unwrap();
    r.text_in("are you open?", &sid(1), late).await;
    r.work(secs(late, 10)).await;
    assert_eq!(
        r.mock.messages().len(),
        1,
        "the lead started the conversation and the owner relaxed the hours"
    );
}

// ---------------------------------------------------------------------------------------------
// Linq and Blooio: the same pipeline, with the provider's own webhook signing secret.

mod imessage {
    use super::*;
    use leadline_engine::providers::webhook_secret_purpose;
    use leadline_providers::messaging::blooio::BlooioWebhooks;
    use leadline_providers::messaging::linq::LinqWebhooks;
    use leadline_providers::messaging::webhooks_for;
    use leadline_providers::messaging::{ProviderKind, WebhookRequest};
    use leadline_providers::mock::blooio::{self as blooio_mock, BlooioMock};
    use leadline_providers::mock::linq::{self as linq_mock, LinqMock};

    const LINQ_TOKEN: &str = "linq-api-token-0123456789";
    const BLOOIO_KEY: &str = "bl_live_0123456789abcdef";
    /// `whsec_` + base64 of "shhh-this-is-a-test-secret-value" (Standard Webhooks form).
    const SIGNING_SECRET: &str = "whsec_c2hoaC10aGlzLWlzLWEtdGVzdC1zZWNyZXQtdmFsdWU=";

    struct IRig {
        db: TestDb,
        engine: Engine,
        channel: Channel,
        account: AccountId,
        url: url::Url,
    }

    /// An account with one `provider` channel pointed at a mock's `base`: the API credential and
    /// the webhook signing secret are stored under their own purposes.
    async fn irig(provider: &str, base: &url::Url, credential: &str) -> IRig {
        let db = fresh().await;
        let account = AccountId::new();
        db.store
            .sign_up(NewSignup {
                user: NewUser {
                    id: UserId::new(),
                    email: Email::parse("dana@example.com").unwrap(),
                    name: "Dana".into(),
                    password_hash: None,
                    google_subject: None,
                },
                account_id: account,
                profile: leadline_domain::BusinessProfile {
                    business_name: "Acme Insurance".into(),
                    agent_name: "Dana".into(),
                    ..Default::default()
                },
            })
            .await
            .unwrap();
        let secrets = Arc::new(SecretsService::new(
            db.store.clone(),
            KeyRing::from_keys(vec![MasterKey::generate()]),
        ));
        let channel = db
            .store
            .create_channel(NewChannel {
                id: ChannelId::new(),
                account_id: account,
                provider: provider.into(),
                name: "iMessage line".into(),
                address: OUR_NUMBER.into(),
                webhook_token: "itok".into(),
                settings: serde_json::json!({"api_base_url": base.to_string()}),
                send_rate_per_minute: 60,
            })
            .await
            .unwrap();
        for (purpose, value) in [
            (credential_purpose(&channel), credential),
            (webhook_secret_purpose(&channel), SIGNING_SECRET),
        ] {
            secrets
                .put(account, &purpose, &SecretString::from(value), "system")
                .await
                .unwrap();
        }
        let engine = Engine::new(
            db.store.clone(),
            ProviderFactory::new(secrets, Arc::new(SandboxProvider::new())),
            Arc::new(HoldingReply),
            EngineConfig::default(),
        );
        let url = format!("https://leadline.example/webhooks/{provider}/itok")
            .parse()
            .unwrap();
        IRig {
            db,
            engine,
            channel,
            account,
            url,
        }
    }

    impl IRig {
        /// Verifies with the secret the factory picks for the channel (as the web layer does),
        /// then parses and handles at `at`.
        async fn deliver(&self, request: &WebhookRequest, at: Timestamp) -> InboundResult {
            let kind = match self.channel.provider.as_str() {
                "linq" => ProviderKind::Linq,
                _ => ProviderKind::Blooio,
            };
            let hooks = webhooks_for(kind).unwrap();
            let secret = self
                .engine
                .providers()
                .webhook_secret(&self.channel)
                .await
                .unwrap();
            hooks.verify(request, &secret).unwrap();
            let event = hooks.parse(request).unwrap();
            self.engine
                .handle_inbound(&self.channel, event, at)
                .await
                .unwrap()
        }

        async fn work(&self, at: Timestamp) {
            for _ in 0..5 {
                let jobs = self.engine.run_jobs_once(at).await.unwrap();
                let out = self.engine.run_outbound_once(at).await.unwrap();
                if jobs + out == 0 {
                    return;
                }
            }
        }

        async fn outbound(&self) -> Vec<leadline_store::Message> {
            let lead = self
                .db
                .store
                .find_lead_by_phone(self.account, &E164Phone::parse(LEAD).unwrap())
                .await
                .unwrap()
                .unwrap();
            let conv = self
                .db
                .store
                .conversation_for(self.account, lead.id, self.channel.id)
                .await
                .unwrap();
            self.db
                .store
                .messages(self.account, conv.id)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.direction == Direction::Outbound)
                .collect()
        }
    }

    fn linq_in(r: &IRig, text: &str) -> WebhookRequest {
        linq_mock::inbound_message_request(
            &r.url,
            SIGNING_SECRET,
            LEAD,
            text,
            "chat-abc",
            Timestamp::now(),
        )
    }

    fn blooio_in(r: &IRig, text: &str) -> WebhookRequest {
        blooio_mock::inbound_message_request(
            &r.url,
            SIGNING_SECRET,
            LEAD,
            OUR_NUMBER,
            text,
            Timestamp::now(),
        )
    }

    #[tokio::test]
    async fn linq_signed_inbound_gets_one_keyed_reply_tracked_to_delivery() {
        let mock = LinqMock::start(LINQ_TOKEN).await.unwrap();
        let r = irig("linq", &mock.base_url(), LINQ_TOKEN).await;
        // A forged webhook (another secret) does not verify.
        let forged = linq_mock::inbound_message_request(
            &r.url,
            "whsec_bm90LXRoZS1zZWNyZXQ=",
            LEAD,
            "hi",
            "chat-abc",
            Timestamp::now(),
        );
        let secret = r
            .engine
            .providers()
            .webhook_secret(&r.channel)
            .await
            .unwrap();
        assert!(LinqWebhooks::default().verify(&forged, &secret).is_err());

        let t = noon();
        let inbound = linq_in(&r, "Hi, I saw your ad about life insurance");
        let res = r.deliver(&inbound, t).await;
        assert!(
            matches!(
                res,
                InboundResult::Stored {
                    reply_scheduled: true,
                    ..
                }
            ),
            "{res:?}"
        );
        // Linq retries the webhook: stored once.
        assert_eq!(
            r.deliver(&inbound, secs(t, 1)).await,
            InboundResult::Duplicate
        );
        r.work(secs(t, 5)).await;
        let sent = mock.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].from, OUR_NUMBER);
        assert_eq!(sent[0].to, vec![LEAD.to_owned()]);
        assert!(sent[0].text.as_deref().unwrap().contains("Acme Insurance"));
        let out = r.outbound().await;
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, MessageStatus::Sent);
        let key = sent[0].idempotency_key.clone().expect("keyed");
        assert_eq!(out[0].idempotency_key.as_deref(), Some(key.as_str()));
        assert_eq!(mock.count_for_key(&key), 1);
        assert_eq!(
            out[0].provider_message_id.as_deref(),
            Some(sent[0].id.as_str())
        );

        // The signed receipt marks it delivered; a late "sent" does not move it back.
        let delivered = linq_mock::status_request(
            &r.url,
            SIGNING_SECRET,
            "message.delivered",
            &sent[0].id,
            Timestamp::now(),
        );
        assert_eq!(
            r.deliver(&delivered, Timestamp::now()).await,
            InboundResult::StatusApplied { changed: true }
        );
        let late = linq_mock::status_request(
            &r.url,
            SIGNING_SECRET,
            "message.sent",
            &sent[0].id,
            Timestamp::now(),
        );
        assert_eq!(
            r.deliver(&late, Timestamp::now()).await,
            InboundResult::StatusApplied { changed: false }
        );
        assert_eq!(r.outbound().await[0].status, MessageStatus::Delivered);

        // The next turn goes straight into the chat the first reply created.
        r.deliver(&linq_in(&r, "How much would it cost?"), secs(t, 60))
            .await;
        r.work(secs(t, 70)).await;
        assert_eq!(mock.messages().len(), 2);
        assert_eq!(mock.chats().len(), 1);
        let chat = &mock.chats()[0].id;
        assert_eq!(mock.messages()[1].chat_id, *chat);
        let last = mock.requests().last().unwrap().path.clone();
        assert_eq!(last, format!("/api/partner/v3/chats/{chat}/messages"));
    }

    #[tokio::test]
    async fn linq_500_then_success_sends_one_message() {
        let mock = LinqMock::start(LINQ_TOKEN).await.unwrap();
        let r = irig("linq", &mock.base_url(), LINQ_TOKEN).await;
        mock.fail_next(1, Scripted::ServerError);
        let t = noon();
        r.deliver(&linq_in(&r, "Hi"), t).await;
        r.work(secs(t, 5)).await;
        assert!(mock.messages().is_empty());
        let out = r.outbound().await[0].clone();
        assert_eq!(out.status, MessageStatus::Queued, "back in the outbox");
        r.work(secs(t, 600)).await;
        assert_eq!(mock.messages().len(), 1);
        let key = out.idempotency_key.clone().unwrap();
        assert_eq!(mock.attempts_for_key(&key), 2, "the retry reused the key");
        assert_eq!(mock.count_for_key(&key), 1);
        let out = r.outbound().await[0].clone();
        assert_eq!((out.status, out.attempts), (MessageStatus::Sent, 2));
    }

    #[tokio::test]
    async fn blooio_signed_inbound_gets_one_keyed_reply_tracked_to_delivery() {
        let mock = BlooioMock::start(BLOOIO_KEY).await.unwrap();
        let r = irig("blooio", &mock.base_url(), BLOOIO_KEY).await;
        let forged = blooio_mock::inbound_message_request(
            &r.url,
            "whsec_not_the_secret",
            LEAD,
            OUR_NUMBER,
            "hi",
            Timestamp::now(),
        );
        let secret = r
            .engine
            .providers()
            .webhook_secret(&r.channel)
            .await
            .unwrap();
        assert!(BlooioWebhooks::default().verify(&forged, &secret).is_err());

        let t = noon();
        let inbound = blooio_in(&r, "Hi, I saw your ad about life insurance");
        let res = r.deliver(&inbound, t).await;
        assert!(
            matches!(
                res,
                InboundResult::Stored {
                    reply_scheduled: true,
                    ..
                }
            ),
            "{res:?}"
        );
        assert_eq!(
            r.deliver(&inbound, secs(t, 1)).await,
            InboundResult::Duplicate
        );
        r.work(secs(t, 5)).await;
        let sent = mock.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].chat_id, LEAD);
        assert_eq!(sent[0].from_number.as_deref(), Some(OUR_NUMBER));
        assert!(sent[0].text.as_deref().unwrap().contains("Acme Insurance"));
        let out = r.outbound().await;
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, MessageStatus::Sent);
        let key = sent[0].idempotency_key.clone().expect("keyed");
        assert_eq!(out[0].idempotency_key.as_deref(), Some(key.as_str()));
        assert_eq!(mock.count_for_key(&key), 1);
        assert_eq!(
            out[0].provider_message_id.as_deref(),
            Some(sent[0].message_id.as_str())
        );

        let delivered = blooio_mock::status_request(
            &r.url,
            SIGNING_SECRET,
            "message.delivered",
            &sent[0].message_id,
            Timestamp::now(),
        );
        assert_eq!(
            r.deliver(&delivered, Timestamp::now()).await,
            InboundResult::StatusApplied { changed: true }
        );
        assert_eq!(r.outbound().await[0].status, MessageStatus::Delivered);
    }

    #[tokio::test]
    async fn blooio_500_then_success_sends_one_message() {
        let mock = BlooioMock::start(BLOOIO_KEY).await.unwrap();
        let r = irig("blooio", &mock.base_url(), BLOOIO_KEY).await;
        mock.fail_next(1, Scripted::ServerError);
        let t = noon();
        r.deliver(&blooio_in(&r, "Hi"), t).await;
        r.work(secs(t, 5)).await;
        assert!(mock.messages().is_empty());
        let out = r.outbound().await[0].clone();
        assert_eq!(out.status, MessageStatus::Queued, "back in the outbox");
        r.work(secs(t, 600)).await;
        assert_eq!(mock.messages().len(), 1);
        let key = out.idempotency_key.clone().unwrap();
        assert_eq!(mock.attempts_for_key(&key), 2, "the retry reused the key");
        assert_eq!(mock.count_for_key(&key), 1);
        let out = r.outbound().await[0].clone();
        assert_eq!((out.status, out.attempts), (MessageStatus::Sent, 2));
    }

    #[tokio::test]
    async fn the_webhook_secret_is_the_signing_secret_not_the_api_token() {
        use secrecy::ExposeSecret;
        let mock = LinqMock::start(LINQ_TOKEN).await.unwrap();
        let r = irig("linq", &mock.base_url(), LINQ_TOKEN).await;
        let secret = r
            .engine
            .providers()
            .webhook_secret(&r.channel)
            .await
            .unwrap();
        assert_eq!(secret.expose_secret(), SIGNING_SECRET);
    }
}

#[tokio::test]
async fn the_playbook_qualifies_an_insurance_lead_through_the_pipeline() {
    let r = rig().await;
    let audit = leadline_store::NewAudit {
        account_id: r.account,
        actor: "user:test".into(),
        action: "profile.update".into(),
        details: serde_json::json!({}),
    };
    let mut profile = r.db.store.get_account(r.account).await.unwrap().profile;
    profile.industry = "insurance".into();
    r.db.store
        .update_profile(r.account, profile, audit)
        .await
        .unwrap();
    let secrets = Arc::new(SecretsService::new(
        r.db.store.clone(),
        KeyRing::from_keys(vec![MasterKey::generate()]),
    ));
    let playbook = Engine::new(
        r.db.store.clone(),
        ProviderFactory::new(secrets.clone(), Arc::new(SandboxProvider::new())),
        Arc::new(leadline_engine::assistant::AssistantReplies::new(
            r.db.store.clone(),
            secrets,
        )),
        EngineConfig {
            debounce: SignedDuration::from_secs(4),
            ..Default::default()
        },
    );
    let sandbox = r
        .sandbox_channel("+15125550199", "sandbox-playbook", 60)
        .await;
    let mut t = noon();
    for text in [
        "Hi, I saw your ad about life insurance",
        "I'm 42, married, two kids",
        "04/12/1984",
        "I work full time at the hospital",
        "maybe $80 a month?",
    ] {
        let event = SandboxProvider::inbound(E164Phone::parse(LEAD).unwrap(), "+15125550199", text);
        playbook.handle_inbound(&sandbox, event, t).await.unwrap();
        t = secs(t, 10);
        for _ in 0..4 {
            playbook.run_jobs_once(t).await.unwrap();
            playbook.run_outbound_once(t).await.unwrap();
        }
        t = secs(t, 60);
    }
    let lead =
        r.db.store
            .find_lead_by_phone(r.account, &E164Phone::parse(LEAD).unwrap())
            .await
            .unwrap()
            .unwrap();
    let fields = &lead.fields;
    assert_eq!(fields["age"]["value"], 42, "{fields}");
    assert_eq!(fields["marital_status"]["value"], "married", "{fields}");
    assert_eq!(fields["dependents"]["value"], 2, "{fields}");
    assert_eq!(fields["budget_monthly"]["value"], 80, "{fields}");
    assert!(
        fields["age"]["message_id"].as_str().is_some(),
        "provenance: the message it came from"
    );
    assert_eq!(lead.stage, "qualified", "{fields}");
    let conv =
        r.db.store
            .conversation_for(r.account, lead.id, sandbox.id)
            .await
            .unwrap();
    let replies: Vec<_> =
        r.db.store
            .messages(r.account, conv.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.direction == Direction::Outbound)
            .collect();
    assert!(replies.len() >= 4, "one reply per turn");
    assert!(replies.iter().all(|m| m.status == MessageStatus::Delivered));
}

#[tokio::test]
async fn a_number_never_sends_faster_than_its_rate() {
    let r = rig().await;
    let limited = r.sandbox_channel("+15125550198", "slow", 2).await;
    let t = noon();
    for i in 0..3 {
        let lead = E164Phone::parse(&format!("+1512555016{i}")).unwrap();
        let event = SandboxProvider::inbound(lead, "+15125550198", "hi");
        r.engine.handle_inbound(&limited, event, t).await.unwrap();
    }
    r.work(secs(t, 5)).await;
    assert_eq!(
        r.engine.providers().sandbox().sent().len(),
        2,
        "two a minute"
    );
    let convs =
        r.db.store
            .list_conversations(r.account, false, false, 10)
            .await
            .unwrap();
    let mut waiting = Vec::new();
    for c in convs {
        for m in r.db.store.messages(r.account, c.id).await.unwrap() {
            if m.status == MessageStatus::Deferred {
                waiting.push(m);
            }
        }
    }
    assert_eq!(waiting.len(), 1);
    assert!(
        waiting[0]
            .gate
            .as_ref()
            .unwrap()
            .to_string()
            .contains("send rate")
    );
    // A minute later the slot is free.
    r.work(secs(t, 66)).await;
    assert_eq!(r.engine.providers().sandbox().sent().len(), 3);
}
