//! Analytics: the page's figures and charts, the CSV downloads, the JSON API, field errors for
//! bad input, the empty state, the viewer role, and tenant isolation.

use crate::helpers::*;
use jiff::{SignedDuration, Timestamp};
use leadline_domain::E164Phone;
use leadline_domain::ids::{ChannelId, MessageId};
use leadline_store::{Author, InboundOutcome, MessageStatus, NewChannel, NewInbound, NewOutbound};

const OWNER: &str = "dana@example.com";

/// A lead texts, the assistant answers 3 minutes later (delivered, 2 segments), and the lead
/// replies; the lead is then qualified. Returns the channel's id.
async fn seed_conversation(app: &TestApp) -> ChannelId {
    let store = &app.db.store;
    let account = account_of(app, OWNER).await;
    let channel = store
        .create_channel(NewChannel {
            id: ChannelId::new(),
            account_id: account,
            provider: "sandbox".into(),
            name: "Main line".into(),
            address: "+15125550100".into(),
            webhook_token: uuid::Uuid::new_v4().simple().to_string(),
            settings: serde_json::json!({}),
            send_rate_per_minute: 60,
        })
        .await
        .unwrap();
    let lead_phone = E164Phone::parse("+15125550142").unwrap();
    let first_at = Timestamp::now() - SignedDuration::from_mins(60);
    let inbound = |body: &str, at: Timestamp| NewInbound {
        id: MessageId::new(),
        account_id: account,
        channel_id: channel.id,
        from: lead_phone.clone(),
        body: body.into(),
        media: serde_json::json!([]),
        provider_message_id: format!("SM{}", uuid::Uuid::new_v4().simple()),
        received_at: at,
        schedule_reply: None,
        schedule_summary: None,
    };
    let InboundOutcome::Stored {
        lead, conversation, ..
    } = store
        .store_inbound(inbound("Is this still available?", first_at))
        .await
        .unwrap()
    else {
        panic!("stored")
    };
    let reply = store
        .enqueue_outbound(
            NewOutbound {
                id: MessageId::new(),
                account_id: account,
                conversation_id: conversation.id,
                body: "It is! When would suit you for a viewing?".into(),
                author: Author::Ai,
                segments: 2,
                encoding: "GSM-7".into(),
                idempotency_key: "analytics-test-reply".into(),
                due_at: first_at,
            },
            Vec::new(),
        )
        .await
        .unwrap();
    let sent_at = first_at + SignedDuration::from_mins(3);
    store
        .mark_sent(reply.id, "SMreply1", MessageStatus::Sent, sent_at, None)
        .await
        .unwrap();
    store
        .apply_delivery_status(channel.id, "SMreply1", MessageStatus::Delivered, None)
        .await
        .unwrap();
    store
        .store_inbound(inbound(
            "Saturday morning",
            sent_at + SignedDuration::from_mins(1),
        ))
        .await
        .unwrap();
    store
        .update_lead_fields(account, lead.id, Some("qualified"), None)
        .await
        .unwrap();
    channel.id
}

fn stat<'a>(html: &'a str, id: &str) -> &'a str {
    between(html, &format!("id=\"stat-{id}\">"), "<").unwrap_or_else(|| panic!("stat {id}"))
}

/// Sums a CSV column over the data rows.
fn column_total(csv: &str, column: usize) -> u64 {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').nth(column).unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn page_csv_and_api_show_the_seeded_conversation() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme Realty", OWNER).await;

    let empty = b.get_text("/app/analytics").await;
    assert!(empty.contains("No activity in this range yet"), "{empty}");
    assert!(empty.contains("href=\"/app/analytics\" aria-current=\"page\""));

    let channel = seed_conversation(&app).await;
    let page = b.get_text("/app/analytics").await;
    assert!(!page.contains("No activity in this range yet"));
    assert_eq!(stat(&page, "reply-rate"), "100.0%");
    assert_eq!(stat(&page, "first-response"), "3m 00s");
    assert_eq!(stat(&page, "sent"), "1");
    assert_eq!(stat(&page, "delivered"), "1");
    assert_eq!(stat(&page, "failed"), "0");
    assert_eq!(stat(&page, "inbound"), "2");
    assert_eq!(stat(&page, "segments"), "2");
    assert_eq!(stat(&page, "cost"), "$0.02");
    assert_eq!(stat(&page, "opt-out-rate"), "0.0%");
    assert_eq!(stat(&page, "handoffs"), "0");
    assert!(page.contains("<title id=\"daily-title\">Messages per day</title>"));
    assert!(page.contains("<title id=\"funnel-title\">Lead funnel</title>"));
    assert!(
        page.contains("Qualified: 1"),
        "the funnel's bars say their numbers"
    );

    // The daily CSV: every day of the default 30-day range, the seeded messages in it.
    let r = b.get("/app/analytics.csv?chart=daily").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"analytics-daily-"),
        "{disposition}"
    );
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("date,inbound,sent,delivered,failed,segments\r\n"));
    assert_eq!(csv.lines().count(), 31, "{csv}");
    assert_eq!(
        (1..=5).map(|c| column_total(&csv, c)).collect::<Vec<_>>(),
        vec![2, 1, 1, 0, 2]
    );

    let csv = b.get_text("/app/analytics.csv?chart=funnel").await;
    assert_eq!(
        csv,
        "stage,leads,percent_of_new\r\nnew,1,100.0\r\ncontacted,1,100.0\r\nreplied,1,100.0\r\n\
         qualified,1,100.0\r\nbooked,0,0.0\r\n"
    );
    // Filtered by the channel: the same; a range before the lead existed: an empty funnel.
    let csv = b
        .get_text(&format!(
            "/app/analytics.csv?chart=funnel&channel={channel}"
        ))
        .await;
    assert!(csv.contains("\r\nnew,1,100.0\r\n"), "{csv}");
    let csv = b
        .get_text("/app/analytics.csv?chart=funnel&from=2024-01-01&to=2024-01-31")
        .await;
    assert!(csv.contains("\r\nnew,0,\r\n"), "{csv}");
    let r = b.get("/app/analytics.csv?chart=pie").await;
    assert_eq!(r.status(), 422);

    // The API: the same numbers, for any role's key.
    let key = api_key(&b, "analytics", "viewer").await;
    let (status, body) = Api::new(&app, &key).get_json("/analytics").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["funnel"]["new"], 1);
    assert_eq!(body["funnel"]["replied"], 1);
    assert_eq!(body["reply_rate"], 1.0);
    assert_eq!(body["median_first_response_seconds"], 180);
    assert_eq!(body["segments_sent"], 2);
    assert_eq!(body["time_zone"], "UTC");
    assert_eq!(body["days"].as_array().unwrap().len(), 30);
    let (status, body) = Api::new(&app, &key)
        .get_json("/analytics?from=yesterday")
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "from");

    // A viewer sees the page.
    let viewer = member(&app, &b, "vic@example.com", "Vic", "viewer").await;
    let page = viewer.get_text("/app/analytics").await;
    assert_eq!(stat(&page, "reply-rate"), "100.0%");
}

async fn unprocessable(b: &Browser, path: &str) -> String {
    let r = b.get(path).await;
    assert_eq!(r.status(), 422, "{path}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn bad_input_is_a_field_error_and_other_tenants_see_nothing() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme Realty", OWNER).await;
    let channel = seed_conversation(&app).await;

    let r = b.get("/app/analytics?from=2025-13-01&to=2025-02-01").await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"f-from-error\">From &#39;2025-13-01&#39; is not a date")
            || html.contains("id=\"f-from-error\">From '2025-13-01' is not a date"),
        "{html}"
    );
    assert!(
        html.contains("value=\"2025-13-01\""),
        "the typed value is kept"
    );
    let html = unprocessable(&b, "/app/analytics?from=2025-03-01&to=2025-02-01").await;
    assert!(html.contains("id=\"f-from-error\">From must be on or before the end date"));
    let html = unprocessable(&b, "/app/analytics?from=2020-01-01&to=2025-02-01").await;
    assert!(html.contains("at most 366 days"));

    // Another account: nothing of the first, and the first's channel is not one of its own.
    let other = app.signed_up("Other Co", "omar@example.com").await;
    let page = other.get_text("/app/analytics").await;
    assert!(page.contains("No activity in this range yet"), "{page}");
    assert_eq!(stat(&page, "sent"), "0");
    let r = other
        .get(&format!("/app/analytics?channel={channel}"))
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"f-channel-error\""));
    let csv = other.get_text("/app/analytics.csv?chart=funnel").await;
    assert!(csv.contains("\r\nnew,0,\r\n"), "{csv}");
}
