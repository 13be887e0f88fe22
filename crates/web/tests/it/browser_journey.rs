//! A subscriber's first day in a real browser (headless Chromium; see `browser.rs` for when it
//! runs): sign up → onboarding → a sandbox lead qualified by the assistant → take over and reply
//! → the lead shows its extracted fields → a CSV import with a bad row → analytics counts it
//! all → a broken consent text is refused, then a good one saved. `LEADLINE_SCREENSHOTS=1`
//! saves the pages under `docs/screenshots/`.

use crate::browser::{click, connect, fill, shot, start_driver, text, text_with, wait_path};
use crate::helpers::*;
use fantoccini::Locator;

const EMAIL: &str = "dana@example.com";
const LEAD: &str = "+15125550123";

#[tokio::test]
async fn a_subscribers_first_day() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let c = connect(&driver).await;

    // Sign up and walk the first steps of onboarding.
    c.goto(&app.url("/signup")).await.unwrap();
    fill(&c, "#f-business_name", "Acme Insurance").await;
    fill(&c, "#f-name", "Dana Reyes").await;
    fill(&c, "#f-email", EMAIL).await;
    fill(&c, "#f-password", PASSWORD).await;
    click(&c, "button[type=submit]").await;
    wait_path(&c, "/onboarding").await;
    fill(&c, "#f-phone", "(512) 555-0199").await;
    fill(
        &c,
        "#f-description",
        "Family-owned insurance agency in Austin.",
    )
    .await;
    click(&c, "form[action='/onboarding/profile'] button[type=submit]").await;
    text(&c, "#step-industry").await;
    click(&c, "#industry-insurance").await;
    click(
        &c,
        "form[action='/onboarding/industry'] button[type=submit]",
    )
    .await;
    text(&c, "#step-channel").await;
    shot(&c, "onboarding").await;
    click(&c, "form[action='/onboarding/sandbox'] button[type=submit]").await;
    text(&c, "#step-quiet-hours").await;

    // A lead texts the sandbox; the assistant qualifies them turn by turn.
    c.goto(&app.url("/app/sandbox")).await.unwrap();
    for (i, body) in [
        "Hi, I saw your ad about life insurance",
        "I'm 42, married, two kids",
    ]
    .into_iter()
    .enumerate()
    {
        fill(&c, "#f-body", body).await;
        click(&c, "form.phone-form button[type=submit]").await;
        let mut answered = false;
        for _ in 0..50 {
            drive(&app, open_window(LEAD)).await;
            let replies = c
                .find_all(Locator::Css(".phone-screen .bubble-out"))
                .await
                .unwrap()
                .len();
            if replies > i {
                answered = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(answered, "turn {i}: the assistant answers in the simulator");
    }

    // The inbox: open the thread, take over, reply by hand.
    c.goto(&app.url("/app/inbox")).await.unwrap();
    click(&c, "table a[href^='/app/inbox/']").await;
    text_with(&c, "#ai-state", "The assistant is answering").await;
    // The lead panel beside the thread already shows what was learned.
    let panel = text(&c, ".lead-panel").await;
    assert!(
        panel.contains("Marital status") && panel.contains("married"),
        "{panel}"
    );
    click(&c, "form[action$='/takeover'] button").await;
    text_with(&c, "#ai-state", "Taken over").await;
    fill(
        &c,
        "#f-body",
        "Hi, this is Dana. I'll call you this afternoon.",
    )
    .await;
    // The counter follows what is typed: GSM-7 fits one part; a character outside it forces UCS-2.
    let counter = text(&c, "#segments").await;
    assert!(
        counter.contains("GSM-7") && counter.contains("1 segment"),
        "{counter}"
    );
    fill(&c, "#f-body", "Hi Ł").await;
    text_with(&c, "#segments", "UCS-2").await;
    fill(
        &c,
        "#f-body",
        "Hi, this is Dana. I'll call you this afternoon.",
    )
    .await;
    click(&c, "form[action$='/reply'] button[type=submit]").await;
    let mut shown = false;
    for _ in 0..50 {
        drive(&app, open_window(LEAD)).await;
        if text(&c, ".thread-box")
            .await
            .contains("I'll call you this afternoon")
        {
            shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(shown, "the hand-written reply is in the thread");
    // It may have been queued after the last drive (the thread shows it queued); send it.
    drive(&app, open_window(LEAD)).await;
    shot(&c, "conversation").await;

    // The lead's page shows what the assistant learned, with where it came from.
    c.goto(&app.url("/app/leads")).await.unwrap();
    click(&c, "table a[href^='/app/leads/']").await;
    let lead_page = text(&c, "main").await;
    assert!(lead_page.contains("age"), "{lead_page}");
    assert!(lead_page.contains("42"), "{lead_page}");
    assert!(lead_page.contains("married"), "{lead_page}");
    // Each value says which of the lead's messages it came from.
    assert!(
        lead_page.contains("“I'm 42, married, two kids”"),
        "{lead_page}"
    );
    shot(&c, "lead").await;

    // A CSV import with one bad row: the good row lands, the bad one is reported.
    c.goto(&app.url("/app/leads/import")).await.unwrap();
    fill(
        &c,
        "#f-csv",
        "phone,name\n(512) 555-0134,Good Row\nnot a phone,Bad Row\n",
    )
    .await;
    click(
        &c,
        "form[enctype='multipart/form-data'] button[type=submit]",
    )
    .await;
    click(&c, "form[action^='/app/leads/import/'] button[type=submit]").await;
    // A small file may finish before the progress page shows; otherwise follow its link.
    let mut created = None;
    for _ in 0..200 {
        if let Ok(el) = c.find(Locator::Css("#count-created")).await {
            created = el.text().await.ok();
            break;
        }
        if let Ok(link) = c
            .find(Locator::Css("a.btn-primary[href^='/app/leads/import/']"))
            .await
        {
            let _ = link.click().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let created = created.expect("the import's result page");
    assert_eq!(created.trim(), "1");
    assert_eq!(text(&c, "#count-failed").await.trim(), "1");
    let errors = text(&c, ".import-errors").await;
    assert!(
        errors.contains("Row 3") || errors.contains("row 3"),
        "{errors}"
    );
    shot(&c, "import").await;

    // Analytics over the days the conversation happened (the workers ran at a future noon).
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let until = today.checked_add(jiff::Span::new().days(60)).unwrap();
    c.goto(&app.url(&format!("/app/analytics?from={today}&to={until}")))
        .await
        .unwrap();
    assert_eq!(text(&c, "#stat-inbound").await.trim(), "2");
    let sent: u32 = text(&c, "#stat-sent").await.trim().parse().unwrap();
    assert!(sent >= 3, "two assistant replies and Dana's: {sent}");
    assert_eq!(text(&c, "#stat-reply-rate").await.trim(), "100.0%");
    shot(&c, "analytics").await;

    // The consent text: a broken one is refused rule by rule with what was typed kept; a good
    // one becomes version 1.
    c.goto(&app.url("/app/compliance")).await.unwrap();
    fill(&c, "#f-consent-text", "We will be in touch.").await;
    let save = "form[action='/app/compliance/consent-text'] button[type=submit]";
    click(&c, save).await;
    text_with(&c, "#f-consent-text-error", "STOP").await;
    let kept = c
        .find(Locator::Css("#f-consent-text"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("We will be in touch."));
    fill(
        &c,
        "#f-consent-text",
        "By submitting, you agree to receive automated text messages from Acme Insurance about your quote. Consent is not a condition of purchase. Msg & data rates may apply. Reply STOP to opt out, HELP for help.",
    )
    .await;
    click(&c, save).await;
    text_with(&c, "#consent-text-current", "Reply STOP to opt out").await;
    text_with(&c, "#consent-text", "Version 1").await;
    shot(&c, "compliance").await;

    c.goto(&app.url("/app/assistant")).await.unwrap();
    shot(&c, "assistant").await;
    c.close().await.unwrap();
}
