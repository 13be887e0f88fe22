//! Conversation summaries and hand-off notifications, end to end: a lead asks for a person →
//! the conversation is flagged, a hand-off summary is written, opted-in members get one email
//! and the account's webhook one signed POST (retried after a 5xx), never twice; quiet-period
//! summaries wait for the period on the driven clock; the settings page validates and keeps
//! what was typed, and shows viewers nothing they cannot use.

use crate::helpers::*;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use leadline_domain::ids::JobId;
use leadline_store::{DeliveryChannel, DeliveryStatus, NewJob, SummaryReason};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

const LEAD: &str = "+15125550177";
const OWNER: &str = "dana@example.com";

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// A webhook receiver on 127.0.0.1 that answers 500 to the first `failures` requests, then 200.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn receiver(failures: usize) -> Receiver {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                log.push(Received { headers, body });
                if log.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver {
        url: format!("http://{addr}/hook"),
        received,
    }
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.allow_http_loopback_webhooks = true).await
}

async fn with_sandbox(app: &TestApp) -> Browser {
    let b = app.signed_up("Acme Insurance", OWNER).await;
    let r = b.post_form("/app/sandbox/create", &[]).await;
    assert_eq!(r.status(), 303);
    b
}

async fn text_as_lead(b: &Browser, body: &str) {
    let r = b
        .post_form("/app/sandbox/send", &[("lead", LEAD), ("body", body)])
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
}

async fn the_conversation(app: &TestApp) -> leadline_store::Conversation {
    let account = account_of(app, OWNER).await;
    app.db
        .store
        .list_conversations(account, false, false, 10)
        .await
        .unwrap()
        .remove(0)
}

fn mails_to(app: &TestApp, to: &str) -> Vec<SentMail> {
    app.mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.to == to)
        .cloned()
        .collect()
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers.get(name).unwrap().to_str().unwrap()
}

/// Checks `Leadline-Signature: t=…,v1=…` independently of the server's code.
fn assert_signed(r: &Received, secret: &str) {
    let sig = header(r, "leadline-signature");
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .expect("t=…,v1=…");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.body).as_bytes());
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature verifies with the account's secret");
    // And a tampered body does not.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{} ", r.body).as_bytes());
    assert!(mac.verify_slice(&hex::decode(v1).unwrap()).is_err());
}

#[tokio::test]
async fn a_hand_off_is_summarized_emailed_and_posted_once_to_a_signed_webhook() {
    let app = spawn().await;
    let b = with_sandbox(&app).await;
    let hook = receiver(1).await;
    // An agent is not emailed by default; the owner is.
    member(&app, &b, "sam@example.com", "Sam Agent", "agent").await;

    // Saving a webhook URL generates the signing secret, shown once.
    let r = b
        .post_form(
            "/app/settings/notifications/account",
            &[("quiet_minutes", "30"), ("webhook_url", &hook.url)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let secret = between(
        &html,
        "<code class=\"copyable\" id=\"new-webhook-secret\">",
        "</code>",
    )
    .expect("secret shown once")
    .to_owned();
    assert!(secret.starts_with("whsec_"));
    let page = b.get_text("/app/settings/notifications").await;
    assert!(!page.contains(&secret), "shown once, masked after");
    assert!(page.contains("id=\"webhook-secret-masked\""));
    assert!(page.contains(&hook.url));

    let at = open_window(LEAD);
    text_as_lead(&b, "Can I talk to a real person please?").await;
    drive(&app, at).await;

    let account = account_of(&app, OWNER).await;
    let conversation = the_conversation(&app).await;
    assert!(conversation.needs_attention && conversation.ai_paused);
    let summary = app
        .db
        .store
        .latest_summary(account, conversation.id)
        .await
        .unwrap()
        .expect("a summary");
    assert_eq!(summary.reason, SummaryReason::Handoff);
    assert_eq!(summary.engine, "playbook");
    assert!(summary.body.contains("Handed off"), "{}", summary.body);
    assert!(summary.body.contains("real person"), "{}", summary.body);

    // One email, to the owner only, with the lead, reason, summary and link.
    let mails = mails_to(&app, OWNER);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains(LEAD), "{}", mails[0].subject);
    let link = format!("{}/app/inbox/{}", app.base, conversation.id);
    assert!(mails[0].body.contains(&link), "{}", mails[0].body);
    assert!(mails[0].body.contains(&summary.body));
    assert!(mails[0].body.contains("asked for a person"));
    assert!(
        mails_to(&app, "sam@example.com").len() == 1,
        "only the invitation"
    );

    // The receiver answered 500: the attempt is recorded and retried later.
    assert_eq!(hook.received.lock().unwrap().len(), 1);
    let deliveries = app.db.store.recent_deliveries(account, 10).await.unwrap();
    let webhook = deliveries
        .iter()
        .find(|d| d.channel == DeliveryChannel::Webhook)
        .unwrap()
        .clone();
    assert_eq!(webhook.status, DeliveryStatus::Pending);
    assert_eq!(webhook.attempts, 1);
    assert!(webhook.last_error.as_deref().unwrap().contains("HTTP 500"));
    drive(&app, at + SignedDuration::from_hours(1)).await;
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "retried once, then delivered");
    let webhook = app
        .db
        .store
        .get_delivery(account, webhook.id)
        .await
        .unwrap();
    assert_eq!(webhook.status, DeliveryStatus::Delivered);
    assert_eq!(webhook.attempts, 2);

    // The same event both times, signed with the account's secret.
    assert_eq!(received[0].body, received[1].body);
    let event: serde_json::Value = serde_json::from_str(&received[1].body).unwrap();
    assert_eq!(event["type"], "conversation.handed_off");
    assert_eq!(event["account_id"], account.to_string());
    assert_eq!(event["conversation_id"], conversation.id.to_string());
    assert_eq!(event["lead"]["phone"], LEAD);
    assert_eq!(event["lead"]["id"], conversation.lead_id.to_string());
    assert_eq!(event["summary"], summary.body);
    assert!(
        event["reason"]
            .as_str()
            .unwrap()
            .contains("asked for a person")
    );
    assert!(
        event["occurred_at"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .is_ok()
    );
    let id = event["id"].as_str().unwrap();
    assert_eq!(header(&received[0], "idempotency-key"), id);
    assert_eq!(header(&received[1], "idempotency-key"), id);
    assert_eq!(header(&received[1], "content-type"), "application/json");
    for r in &received {
        assert_signed(r, &secret);
    }

    // Workers running again, and the hand-off and delivery jobs run a second time (as after a
    // crash between their work and their completion): nothing new.
    drive(&app, at + SignedDuration::from_hours(2)).await;
    let notification_id = app
        .db
        .store
        .get_delivery(account, webhook.id)
        .await
        .unwrap()
        .notification_id;
    let mut replays = vec![NewJob {
        id: JobId::new(),
        account_id: account,
        kind: "handoff".into(),
        dedup_key: None,
        payload: serde_json::json!({"notification_id": notification_id.to_string()}),
        run_at: at,
    }];
    for d in app.db.store.recent_deliveries(account, 10).await.unwrap() {
        replays.push(NewJob {
            id: JobId::new(),
            account_id: account,
            kind: "deliver".into(),
            dedup_key: None,
            payload: serde_json::json!({"delivery_id": d.id.to_string()}),
            run_at: at,
        });
    }
    app.db.store.append_jobs(&replays).await.unwrap();
    drive(&app, at + SignedDuration::from_hours(3)).await;
    assert_eq!(mails_to(&app, OWNER).len(), 1, "no second email");
    assert_eq!(hook.received.lock().unwrap().len(), 2, "no second webhook");
    assert_eq!(
        app.db
            .store
            .recent_deliveries(account, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.db
            .store
            .summaries(account, conversation.id)
            .await
            .unwrap()
            .iter()
            .filter(|s| s.reason == SummaryReason::Handoff)
            .count(),
        1
    );

    // The summary in the API, the dashboard, and the deliveries on the settings page.
    let api = Api::new(&app, &api_key(&b, "inbox", "agent").await);
    let (status, list) = api.get_json("/conversations").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["summary"]["reason"], "handoff");
    assert_eq!(list[0]["summary"]["text"], summary.body);
    let (_, detail) = api
        .get_json(&format!("/conversations/{}", conversation.id))
        .await;
    assert_eq!(detail["conversation"]["summary"]["engine"], "playbook");
    let page = b.get_text(&format!("/app/inbox/{}", conversation.id)).await;
    assert!(page.contains("id=\"summary\"") && page.contains("when it was handed off"));
    // The lead's page shows its newest summary above what was learned.
    let page = b
        .get_text(&format!("/app/leads/{}", conversation.lead_id))
        .await;
    assert!(page.contains("id=\"lead-summary\"") && page.contains("when it was handed off"));
    let page = b.get_text("/app/settings/notifications").await;
    assert!(page.contains("status-delivered"));
    assert!(
        app.db.store.pending_jobs(account).await.unwrap().is_empty(),
        "no job left behind"
    );
}

#[tokio::test]
async fn preference_off_means_no_email_and_viewers_get_no_admin_controls() {
    let app = spawn().await;
    let b = with_sandbox(&app).await;
    let page = b.get_text("/app/settings/notifications").await;
    assert!(page.contains("name=\"email_on_handoff\" id=\"f-email_on_handoff\" checked"));
    // The checkbox unticked: the field is absent from the form.
    let r = b.post_form("/app/settings/notifications/me", &[]).await;
    assert_eq!(r.status(), 303);
    let page = b.get_text("/app/settings/notifications").await;
    assert!(!page.contains("id=\"f-email_on_handoff\" checked"));

    text_as_lead(&b, "Can I talk to a real person please?").await;
    drive(&app, open_window(LEAD)).await;
    let account = account_of(&app, OWNER).await;
    assert!(the_conversation(&app).await.needs_attention);
    assert!(mails_to(&app, OWNER).is_empty(), "opted out: no email");
    assert!(
        app.db
            .store
            .recent_deliveries(account, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A viewer sees their own choice, and nothing they cannot use.
    let viewer = member(&app, &b, "val@example.com", "Val Viewer", "viewer").await;
    let page = viewer.get_text("/app/settings/notifications").await;
    assert!(page.contains("Email me when a conversation is handed off"));
    assert!(
        !page.contains("id=\"f-email_on_handoff\" checked"),
        "viewers default off"
    );
    assert!(!page.contains("Webhook URL") && !page.contains("Recent deliveries"));
    let r = viewer
        .post_form(
            "/app/settings/notifications/account",
            &[("quiet_minutes", "30"), ("webhook_url", "")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = viewer
        .post_form("/app/settings/notifications/secret", &[])
        .await;
    assert_eq!(r.status(), 403);
    let r = viewer
        .post_form(
            "/app/settings/notifications/me",
            &[("email_on_handoff", "on")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = viewer.get_text("/app/settings/notifications").await;
    assert!(page.contains("id=\"f-email_on_handoff\" checked"));
}

#[tokio::test]
async fn settings_are_validated_and_a_quiet_summary_waits_for_the_quiet_period() {
    let app = spawn().await;
    let b = with_sandbox(&app).await;
    // Bad values: messages next to the fields, typed values kept.
    let r = b
        .post_form(
            "/app/settings/notifications/account",
            &[
                ("quiet_minutes", "2"),
                ("webhook_url", "http://example.com/hook"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"2\"") && html.contains("value=\"http://example.com/hook\""));
    assert!(html.contains("id=\"f-quiet_minutes-error\">Enter a whole number of minutes from 5"));
    assert!(html.contains("id=\"f-webhook_url-error\">The URL must start with https://."));
    let r = b
        .post_form(
            "/app/settings/notifications/account",
            &[
                ("quiet_minutes", "30"),
                ("webhook_url", "https://10.0.0.5/hook"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = b
        .post_form(
            "/app/settings/notifications/account",
            &[("quiet_minutes", "10"), ("webhook_url", "")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        b.get_text("/app/settings/notifications")
            .await
            .contains("value=\"10\"")
    );

    let t0 = Timestamp::now();
    text_as_lead(&b, "Hello there").await;
    let account = account_of(&app, OWNER).await;
    let conversation = the_conversation(&app).await;
    let run = |at: Timestamp| {
        let engine = app.state.engine.clone();
        async move { while engine.run_jobs_once(at).await.unwrap() > 0 {} }
    };
    // Six minutes on: the reply ran, the summary job looked and waits for ten quiet minutes.
    run(t0 + SignedDuration::from_mins(6)).await;
    assert_eq!(
        app.db
            .store
            .latest_summary(account, conversation.id)
            .await
            .unwrap(),
        None
    );
    let waiting: Vec<_> = app
        .db
        .store
        .pending_jobs(account)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == "summarize")
        .collect();
    assert_eq!(waiting.len(), 1);
    assert!(waiting[0].run_at >= t0 + SignedDuration::from_mins(10));
    run(t0 + SignedDuration::from_mins(11)).await;
    let summary = app
        .db
        .store
        .latest_summary(account, conversation.id)
        .await
        .unwrap()
        .expect("summarized after ten quiet minutes");
    assert_eq!(summary.reason, SummaryReason::Quiet);
    assert!(summary.body.contains("Hello there"), "{}", summary.body);
    // Once per quiet spell.
    run(t0 + SignedDuration::from_mins(60)).await;
    assert_eq!(
        app.db
            .store
            .summaries(account, conversation.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        mails_to(&app, OWNER).is_empty(),
        "a quiet summary notifies nobody"
    );
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_given_up_and_shown_as_failed() {
    let app = spawn().await;
    let b = with_sandbox(&app).await;
    let hook = receiver(usize::MAX).await;
    let r = b
        .post_form(
            "/app/settings/notifications/account",
            &[("quiet_minutes", "30"), ("webhook_url", &hook.url)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let at = open_window(LEAD);
    text_as_lead(&b, "Can I talk to a real person please?").await;
    // Each pass an hour later: past any backoff (capped at five minutes).
    for hour in 0..10 {
        drive(&app, at + SignedDuration::from_hours(hour)).await;
    }
    let account = account_of(&app, OWNER).await;
    let webhook = app
        .db
        .store
        .recent_deliveries(account, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.channel == DeliveryChannel::Webhook)
        .unwrap();
    assert_eq!(webhook.status, DeliveryStatus::Failed);
    assert_eq!(webhook.attempts, 6, "the default number of attempts");
    assert_eq!(hook.received.lock().unwrap().len(), 6);
    assert!(webhook.last_error.unwrap().contains("HTTP 500"));
    let page = b.get_text("/app/settings/notifications").await;
    assert!(page.contains("status-failed") && page.contains("the receiver answered HTTP 500"));
    assert!(app.db.store.pending_jobs(account).await.unwrap().is_empty());
    // The email went out regardless.
    assert_eq!(mails_to(&app, OWNER).len(), 1);
}

async fn put(api: &Api, body: serde_json::Value) -> (u16, serde_json::Value) {
    api.send_json(reqwest::Method::PUT, "/notifications/settings", body)
        .await
}

#[tokio::test]
async fn the_notifications_api() {
    let app = spawn().await;
    let b = with_sandbox(&app).await;
    let admin = Api::new(&app, &api_key(&b, "ops", "admin").await);
    let viewer = Api::new(&app, &api_key(&b, "read", "viewer").await);
    let (status, settings) = viewer.get_json("/notifications/settings").await;
    assert_eq!(status, 200);
    assert_eq!(settings["quiet_minutes"], 30);
    assert!(settings["webhook_url"].is_null() && settings["webhook_secret"].is_null());
    let (status, _) = put(&viewer, serde_json::json!({"quiet_minutes": 20})).await;
    assert_eq!(status, 403);
    let (status, err) = put(
        &admin,
        serde_json::json!({"quiet_minutes": 0, "webhook_url": "http://example.com/x"}),
    )
    .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["quiet_minutes", "webhook_url"]);
    let hook = receiver(0).await;
    let (status, saved) = put(
        &admin,
        serde_json::json!({"quiet_minutes": 15, "webhook_url": hook.url}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(saved["quiet_minutes"], 15);
    let secret = saved["new_webhook_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(
        saved["webhook_secret"]
            .as_str()
            .unwrap()
            .starts_with("••••")
    );
    let (_, again) = admin.get_json("/notifications/settings").await;
    assert!(again["new_webhook_secret"].is_null(), "shown once");
    assert!(!again.to_string().contains(&secret));

    // Rotation: the new secret signs what is sent next.
    let (status, _) = viewer
        .send_json(
            reqwest::Method::POST,
            "/notifications/webhook-secret",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, rotated) = admin
        .send_json(
            reqwest::Method::POST,
            "/notifications/webhook-secret",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let rotated = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(rotated, secret);
    text_as_lead(&b, "Can I talk to a real person please?").await;
    drive(&app, open_window(LEAD)).await;
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_signed(&received[0], &rotated);

    let (status, deliveries) = admin.get_json("/notifications/deliveries").await;
    assert_eq!(status, 200);
    let deliveries = deliveries.as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "the owner's email and the webhook");
    assert!(deliveries.iter().all(|d| d["status"] == "delivered"));
    let (status, _) = viewer.get_json("/notifications/deliveries").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_stored_webhook_to_a_private_address_is_refused_at_send_time() {
    // Production rules (no loopback allowance), and a URL that got into the settings document
    // without the form's check: the delivery worker checks again and never connects.
    let app = TestApp::spawn().await;
    let b = with_sandbox(&app).await;
    let hook = receiver(0).await;
    let account = account_of(&app, OWNER).await;
    let target = hook.url.replace("http://", "https://");
    app.db
        .store
        .put_setting(
            account,
            "notifications",
            serde_json::json!({"quiet_minutes": 30, "webhook_url": target}),
            leadline_store::NewAudit {
                account_id: account,
                actor: "test".into(),
                action: "notifications.settings".into(),
                details: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    let r = b.post_form("/app/settings/notifications/secret", &[]).await;
    assert_eq!(r.status(), 200);
    text_as_lead(&b, "Can I talk to a real person please?").await;
    drive(&app, open_window(LEAD)).await;
    let webhook = app
        .db
        .store
        .recent_deliveries(account, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.channel == DeliveryChannel::Webhook)
        .unwrap();
    assert_eq!(webhook.status, DeliveryStatus::Failed);
    assert_eq!(webhook.attempts, 1, "refused, not retried");
    assert!(
        webhook
            .last_error
            .as_deref()
            .unwrap()
            .contains("public address"),
        "{:?}",
        webhook.last_error
    );
    assert!(hook.received.lock().unwrap().is_empty(), "never connected");
}
