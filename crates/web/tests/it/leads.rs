//! Leads: the list (search, paging), a lead's page, editing with validation, deletion with its
//! conversations, roles, and CSV import (mapping, per-row errors, duplicates, consent,
//! suppression) through the dashboard and the API.

use crate::helpers::*;
use leadline_domain::E164Phone;
use leadline_store::{ComplianceEventKind, NewComplianceEvent};
use reqwest::Method;
use serde_json::json;

async fn owner_with_key(app: &TestApp) -> (Browser, Api) {
    let b = app.signed_up("Acme Insurance", "dana@example.com").await;
    let key = api_key(&b, "leads-key", "admin").await;
    let api = Api::new(app, &key);
    (b, api)
}

async fn create(api: &Api, body: serde_json::Value) -> serde_json::Value {
    let (status, lead) = api.send_json(Method::POST, "/leads", body).await;
    assert_eq!(status, 201, "{lead}");
    lead
}

async fn suppress(app: &TestApp, phone: &str, kind: ComplianceEventKind) {
    let account = account_of(app, "dana@example.com").await;
    app.db
        .store
        .append_compliance_event(NewComplianceEvent {
            id: leadline_domain::ids::EventId::new(),
            account_id: account,
            phone: E164Phone::parse(phone).unwrap(),
            kind,
            source: "agent".into(),
            details: json!({}),
            at: jiff::Timestamp::now(),
        })
        .await
        .unwrap();
}

/// Uploads CSV text on the import page and returns the mapping page's path.
async fn upload(b: &Browser, csv: &str) -> String {
    let r = b.post_form("/app/leads/import", &[("csv", csv)]).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let to = location(&r);
    assert!(to.starts_with("/app/leads/import/"), "{to}");
    to
}

/// Runs an uploaded import with a mapping: the import goes on in the background while the page
/// shows its progress; this waits for the result page and returns it.
pub async fn run_import(b: &Browser, map: &str, mapping: &[(&str, &str)]) -> String {
    let r = b.post_form(map, mapping).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(location(&r), map);
    for _ in 0..200 {
        let page = b.get_text(map).await;
        if page.contains("id=\"count-created\"") {
            return page;
        }
        assert!(page.contains("data-poll=\""), "a progress page: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the import did not finish")
}

fn count(html: &str, id: &str) -> u64 {
    between(html, &format!("id=\"count-{id}\">"), "<")
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn list_search_paging_and_view() {
    let app = TestApp::spawn().await;
    let (b, api) = owner_with_key(&app).await;
    let page = b.get_text("/app/leads").await;
    assert!(page.contains("No leads yet") && page.contains("href=\"/app/leads\""));

    let dana = create(
        &api,
        json!({"phone": "(512) 555-0101", "name": "Dana Reyes", "email": "dana.r@example.com",
               "state": "tx", "tags": ["hot", "spring promo"], "stage": "qualified"}),
    )
    .await;
    assert_eq!(dana["phone"], "+15125550101");
    assert_eq!(dana["state"], "TX");
    assert_eq!(dana["stage"], "qualified");
    assert_eq!(dana["opted_out"], false);
    create(
        &api,
        json!({"phone": "+1 512 555 0102", "name": "Sam Ortiz"}),
    )
    .await;
    // Same phone again: an upsert, answered 200.
    let (status, again) = api
        .send_json(
            Method::POST,
            "/leads",
            json!({"phone": "512.555.0102", "email": "sam@example.com"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["name"], "Sam Ortiz");
    assert_eq!(again["email"], "sam@example.com");
    let (status, bad) = api
        .send_json(
            Method::POST,
            "/leads",
            json!({"phone": "12", "email": "nope"}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, missing) = api
        .send_json(Method::POST, "/leads", json!({"name": "No Phone"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(missing["error"]["fields"][0]["message"], "is required");
    let fields = bad["error"]["fields"].to_string();
    assert!(
        fields.contains("phone") && fields.contains("email"),
        "{bad}"
    );

    let page = b.get_text("/app/leads").await;
    assert!(page.contains("Dana Reyes") && page.contains("Sam Ortiz"));
    assert!(page.contains("+15125550101") && page.contains("hot, spring promo"));
    assert!(
        page.find("Sam Ortiz").unwrap() < page.find("Dana Reyes").unwrap(),
        "newest first"
    );
    let found = b.get_text("/app/leads?q=dana.r%40").await;
    assert!(found.contains("Dana Reyes") && !found.contains("Sam Ortiz"));
    let found = b.get_text("/app/leads?q=555-").await;
    assert!(found.contains("No leads match"));
    let found = b.get_text("/app/leads?q=0102").await;
    assert!(found.contains("Sam Ortiz") && !found.contains("Dana Reyes"));

    // 55 more through the API import, then two pages of 50.
    let mut csv = String::from("phone,name\n");
    for i in 0..55 {
        csv.push_str(&format!("+1512555{:04},Bulk {i:02}\n", 2000 + i));
    }
    let r = api
        .req(Method::POST, "/leads/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page1 = b.get_text("/app/leads").await;
    assert!(page1.contains("href=\"/app/leads?page=2\""));
    assert!(!page1.contains("Dana Reyes"));
    let page2 = b.get_text("/app/leads?page=2").await;
    assert!(page2.contains("Dana Reyes") && page2.contains("Sam Ortiz"));
    assert!(page2.contains("href=\"/app/leads?page=1\"") && !page2.contains("page=3"));
    let (_, p) = api.get_json("/leads?limit=50").await;
    assert_eq!(p["leads"].as_array().unwrap().len(), 50);
    assert_eq!(p["next_offset"], 50);
    let (_, p) = api.get_json("/leads?limit=50&offset=50").await;
    assert_eq!(p["leads"].as_array().unwrap().len(), 7);
    assert_eq!(p["next_offset"], json!(null));
    let (_, p) = api.get_json("/leads?q=reyes").await;
    assert_eq!(p["leads"][0]["name"], "Dana Reyes");
    let (status, _) = api.get_json("/leads?limit=500").await;
    assert_eq!(status, 422);

    // The lead's page, with its consent history.
    suppress(&app, "+15125550101", ComplianceEventKind::OptOut).await;
    let id = dana["id"].as_str().unwrap();
    let view = b.get_text(&format!("/app/leads/{id}")).await;
    assert!(view.contains("Dana Reyes") && view.contains("dana.r@example.com"));
    assert!(view.contains("TX") && view.contains("qualified") && view.contains("spring promo"));
    assert!(view.contains("Opted out") && view.contains("No conversations with this lead yet."));
    let list = b.get_text("/app/leads?q=Dana").await;
    assert!(list.contains("opted out"));
    let (_, one) = api.get_json(&format!("/leads/{id}")).await;
    assert_eq!(one["opted_out"], true);
    assert_eq!(b.get("/app/leads/not-an-id").await.status(), 404);
}

#[tokio::test]
async fn edit_validates_next_to_the_fields() {
    let app = TestApp::spawn().await;
    let (b, api) = owner_with_key(&app).await;
    let lead = create(&api, json!({"phone": "5125550101", "name": "Dana"})).await;
    let id = lead["id"].as_str().unwrap();
    let path = format!("/app/leads/{id}/edit");
    let r = b
        .post_form(
            &path,
            &[
                ("name", "Dana Reyes"),
                ("email", "not-an-email"),
                ("state", "ZZ"),
                ("time_zone", "Mars/Olympus"),
                ("tags", "vip"),
                ("stage", "booked"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("Some fields need attention."));
    assert!(
        html.contains("Email &#39;not-an-email&#39; is not a valid email address"),
        "{html}"
    );
    assert!(html.contains("is not a US state or territory code"));
    assert!(html.contains("is not a known time zone"));
    assert!(html.contains("value=\"not-an-email\"") && html.contains("value=\"Dana Reyes\""));
    assert!(html.contains("value=\"ZZ\"") && html.contains("<option value=\"booked\" selected>"));
    let (_, unchanged) = api.get_json(&format!("/leads/{id}")).await;
    assert_eq!(unchanged["name"], "Dana");

    let r = b
        .post_form(
            &path,
            &[
                ("name", "Dana Reyes"),
                ("email", "dana@example.com"),
                ("state", "fl"),
                ("time_zone", "America/New_York"),
                ("tags", "vip, renewal"),
                ("stage", "booked"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("/app/leads/{id}?notice=lead_saved"));
    let (_, saved) = api.get_json(&format!("/leads/{id}")).await;
    assert_eq!(saved["name"], "Dana Reyes");
    assert_eq!(saved["state"], "FL");
    assert_eq!(saved["time_zone"], "America/New_York");
    assert_eq!(saved["tags"], json!(["vip", "renewal"]));
    assert_eq!(saved["stage"], "booked");
    assert!(
        b.get_text(&format!("/app/leads/{id}?notice=lead_saved"))
            .await
            .contains("Lead saved.")
    );

    // The API edit validates the same way.
    let (status, body) = api
        .send_json(
            Method::PATCH,
            &format!("/leads/{id}"),
            json!({"stage": "won"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "stage");
    let (status, body) = api
        .send_json(
            Method::PATCH,
            &format!("/leads/{id}"),
            json!({"stage": "closed", "name": "D. Reyes"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["stage"], "closed");
    assert_eq!(body["name"], "D. Reyes");
}

#[tokio::test]
async fn delete_removes_the_lead_and_its_conversations_and_roles_are_enforced() {
    let app = TestApp::spawn().await;
    let (owner, _) = owner_with_key(&app).await;
    assert_eq!(
        owner.post_form("/app/sandbox/create", &[]).await.status(),
        303
    );
    let r = owner
        .post_form(
            "/app/sandbox/send",
            &[("lead", "+15125550123"), ("body", "Hi there")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let account = account_of(&app, "dana@example.com").await;
    let store = &app.db.store;
    let conv = store
        .list_conversations(account, false, false, 10)
        .await
        .unwrap()[0]
        .clone();
    let id = conv.lead_id.to_string();
    let view = owner.get_text(&format!("/app/leads/{id}")).await;
    assert!(view.contains(&format!("href=\"/app/inbox/{}\"", conv.id)));

    let viewer = member(&app, &owner, "vic@example.com", "Vic", "viewer").await;
    let agent = member(&app, &owner, "ag@example.com", "Agnes", "agent").await;
    let page = viewer.get_text(&format!("/app/leads/{id}")).await;
    assert!(!page.contains("/edit\"") && !page.contains("Delete lead"));
    let edit = [("name", "X"), ("stage", "new")];
    let r = viewer
        .post_form(&format!("/app/leads/{id}/edit"), &edit)
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        viewer
            .post_form(&format!("/app/leads/{id}/delete"), &[])
            .await
            .status(),
        403
    );
    assert_eq!(viewer.get("/app/leads/import").await.status(), 403);
    let r = viewer
        .post_form("/app/leads/import", &[("csv", "phone\n5125550199\n")])
        .await;
    assert_eq!(r.status(), 403);
    let page = agent.get_text(&format!("/app/leads/{id}")).await;
    assert!(page.contains("/edit\"") && !page.contains("Delete lead"));
    let r = agent
        .post_form(
            &format!("/app/leads/{id}/edit"),
            &[("name", "Lee"), ("stage", "contacted")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        agent.get(&format!("/app/leads/{id}/delete")).await.status(),
        403
    );
    assert_eq!(
        agent
            .post_form(&format!("/app/leads/{id}/delete"), &[])
            .await
            .status(),
        403
    );
    let agent_api = Api::new(&app, &api_key(&owner, "agent-key", "agent").await);
    let (status, _) = agent_api
        .send_json(Method::DELETE, &format!("/leads/{id}"), json!({}))
        .await;
    assert_eq!(status, 403);
    let viewer_api = Api::new(&app, &api_key(&owner, "viewer-key", "viewer").await);
    let (status, _) = viewer_api
        .send_json(Method::PATCH, &format!("/leads/{id}"), json!({"name": "X"}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = viewer_api
        .send_json(Method::POST, "/leads", json!({"phone": "5125550100"}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = viewer_api.get_json(&format!("/leads/{id}")).await;
    assert_eq!(status, 200, "viewers read");

    // Confirmation step, then delete.
    let confirm = owner.get_text(&format!("/app/leads/{id}/delete")).await;
    assert!(confirm.contains("Delete Lee (+15125550123)?") && confirm.contains("1 conversation "));
    let r = owner
        .post_form(&format!("/app/leads/{id}/delete"), &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app/leads?notice=lead_deleted");
    assert_eq!(owner.get(&format!("/app/leads/{id}")).await.status(), 404);
    assert!(
        store
            .list_conversations(account, false, false, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get_conversation(account, conv.id).await.is_err());
    assert_eq!(
        owner.get(&format!("/app/inbox/{}", conv.id)).await.status(),
        404
    );
    let audit = owner.get_text("/app/audit").await;
    assert!(audit.contains("lead.delete"));

    // And over the API.
    let admin_api = Api::new(&app, &api_key(&owner, "admin-key", "admin").await);
    let lead = create(&admin_api, json!({"phone": "5125550155"})).await;
    let path = format!("/leads/{}", lead["id"].as_str().unwrap());
    let r = admin_api.req(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(admin_api.get_json(&path).await.0, 404);
}

const FILE: &str = "Phone Number,Full Name,E-mail,State,Tags,SMS Consent,Notes\n\
(512) 555-0101,Dana Reyes,dana@example.com,TX,hot;spring,yes,first\n\
512-555-0102,Sam Ortiz,sam@example.com,fl,,no,\n\
12,Bad Phone,bad@example.com,TX,,yes,\n\
5125550104,Bad Email,not-an-email,ZZ,,,\n\
+1 512 555 0101,Dana R. Again,,,,,dup in file\n\
5125550105,Opted Out,,,,y,\n\
5125550106,Suppressed,,,,true,\n\
5125550107,Already There,,,,1,\n";

#[tokio::test]
async fn csv_import_with_mapping_row_errors_duplicates_consent_and_suppression() {
    let app = TestApp::spawn().await;
    let (b, api) = owner_with_key(&app).await;
    create(&api, json!({"phone": "5125550107", "name": "Existing"})).await;
    create(&api, json!({"phone": "5125550105", "name": "Opted"})).await;
    suppress(&app, "+15125550105", ComplianceEventKind::OptOut).await;
    suppress(&app, "+15125550106", ComplianceEventKind::Suppressed).await;

    assert!(
        b.get_text("/app/leads/import")
            .await
            .contains("Upload and map columns")
    );
    let r = b.post_form("/app/leads/import", &[("csv", "  ")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("is required"));

    let map = upload(&b, FILE).await;
    let page = b.get_text(&map).await;
    assert!(page.contains("Map the columns of pasted.csv"));
    // Auto-detected from the header names.
    for (i, f) in [
        "phone", "name", "email", "state", "tags", "consent", "ignore",
    ]
    .iter()
    .enumerate()
    {
        let select = between(&page, &format!("name=\"col_{i}\">"), "</select>").unwrap();
        assert!(
            select.contains(&format!("<option value=\"{f}\" selected>")),
            "col {i}: {select}"
        );
    }
    // A mapping without a phone column is refused next to the mapping.
    let r = b
        .post_form(&map, &[("col_0", "ignore"), ("col_1", "name")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("must map exactly one column to phone")
    );

    let mapping = [
        ("col_0", "phone"),
        ("col_1", "name"),
        ("col_2", "email"),
        ("col_3", "state"),
        ("col_4", "tags"),
        ("col_5", "consent"),
        ("col_6", "ignore"),
    ];
    let html = run_import(&b, &map, &mapping).await;
    let progress = b.get_text(&format!("{map}/progress")).await;
    assert!(progress.contains("Done.") && progress.contains("created: 3 · updated: 3"));
    assert_eq!(count(&html, "created"), 3, "{html}"); // 0101, 0102 and 0106
    assert_eq!(count(&html, "updated"), 3); // 0101 again, 0105, 0107
    assert_eq!(count(&html, "failed"), 2);
    assert_eq!(count(&html, "suppressed"), 2); // 0105 opted out, 0106 suppressed
    assert_eq!(count(&html, "consents"), 2);
    assert!(html.contains("created: 3 · updated: 3 · suppressed: 2 · failed: 2"));
    assert!(
        html.contains("row 4: phone &#39;12&#39; is not a valid phone number"),
        "{html}"
    );
    assert!(html.contains("row 5: email &#39;not-an-email&#39; is not a valid email address"));
    assert!(html.contains("row 5: state &#39;ZZ&#39; is not a US state"));
    let errors_link = format!("{map}/errors.csv");
    assert!(html.contains(&format!("href=\"{errors_link}\"")));

    // The rows around the bad ones are in; the duplicate merged into one lead.
    let (_, all) = api.get_json("/leads?limit=200").await;
    let leads = all["leads"].as_array().unwrap();
    let phones: Vec<&str> = leads.iter().map(|l| l["phone"].as_str().unwrap()).collect();
    assert_eq!(phones.iter().filter(|p| **p == "+15125550101").count(), 1);
    for p in [
        "+15125550102",
        "+15125550105",
        "+15125550106",
        "+15125550107",
    ] {
        assert!(phones.contains(&p), "{p} imported");
    }
    assert!(!phones.contains(&"+15125550104"));
    let dana = leads.iter().find(|l| l["phone"] == "+15125550101").unwrap();
    assert_eq!(dana["name"], "Dana R. Again");
    assert_eq!(dana["email"], "dana@example.com");
    assert_eq!(dana["tags"], json!(["hot", "spring"]));
    let sup = leads.iter().find(|l| l["phone"] == "+15125550106").unwrap();
    assert_eq!(sup["opted_out"], true);
    assert_eq!(leads.len(), 5);
    let existing = leads.iter().find(|l| l["phone"] == "+15125550107").unwrap();
    assert_eq!(existing["name"], "Already There");

    // Consent events: granted for 0101 (once: the duplicate row has no consent) and 0107, not
    // for the opted-out and suppressed numbers.
    let account = account_of(&app, "dana@example.com").await;
    let store = &app.db.store;
    let history = |p: &str| {
        let phone = E164Phone::parse(p).unwrap();
        async move { store.compliance_history(account, &phone).await.unwrap() }
    };
    let granted = |evs: &[leadline_store::ComplianceEvent]| {
        evs.iter()
            .filter(|e| e.kind == ComplianceEventKind::ConsentGranted)
            .cloned()
            .collect::<Vec<_>>()
    };
    let dana_consent = granted(&history("+15125550101").await);
    assert_eq!(dana_consent.len(), 1);
    assert_eq!(dana_consent[0].source, "import");
    assert_eq!(dana_consent[0].details["file"], "pasted.csv");
    assert_eq!(dana_consent[0].details["row"], 2);
    assert_eq!(granted(&history("+15125550107").await).len(), 1);
    assert!(
        granted(&history("+15125550102").await).is_empty(),
        "'no' is no consent"
    );
    assert!(granted(&history("+15125550105").await).is_empty());
    assert!(granted(&history("+15125550106").await).is_empty());

    // The downloadable report.
    let r = b.get(&errors_link).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("pasted-errors.csv")
    );
    let report = r.text().await.unwrap();
    let mut lines = report.lines();
    assert_eq!(lines.next(), Some("row,column,value,error"));
    assert!(
        report.contains("4,Phone Number,12,phone '12' is not a valid phone number"),
        "{report}"
    );
    assert!(
        report.contains("5,E-mail,not-an-email,email 'not-an-email' is not a valid email address")
    );
    assert!(report.contains("5,State,ZZ,"));

    // Reloading the run shows the same result and imports nothing twice.
    let again = run_import(&b, &map, &mapping).await;
    assert_eq!(count(&again, "created"), 3);
    assert!(b.get_text(&map).await.contains("id=\"count-created\">3<"));
    let audit = b.get_text("/app/audit").await;
    assert!(audit.contains("lead.import"));
    let (_, all) = api.get_json("/leads?limit=200").await;
    assert_eq!(all["leads"].as_array().unwrap().len(), 5);

    // An unknown id is a 404.
    assert_eq!(b.get("/app/leads/import/nope").await.status(), 404);
    assert_eq!(
        b.get("/app/leads/import/nope/errors.csv").await.status(),
        404
    );
}

#[tokio::test]
async fn csv_import_by_file_upload() {
    let app = TestApp::spawn().await;
    let (b, api) = owner_with_key(&app).await;
    // The page's form posts multipart/form-data with the CSRF token in the query.
    let page = b.get_text("/app/leads/import").await;
    let token = between(&page, "action=\"/app/leads/import?csrf=", "\"").unwrap();
    assert_eq!(Some(token.to_owned()), b.cookie("ll_csrf"));
    let action = format!("/app/leads/import?csrf={token}");
    let boundary = "----leadlineTestBoundary7";
    let file = "phone,name\r\n5125550111,Upload One\r\n5125550112,Upload Two\r\n";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"spring leads.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"\r\n\r\n\r\n--{boundary}--\r\n"
    );
    let r = b
        .client
        .post(format!("{}{action}", b.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let map = location(&r);
    let page = b.get_text(&map).await;
    assert!(page.contains("Map the columns of spring leads.csv"));
    let html = run_import(&b, &map, &[("col_0", "phone"), ("col_1", "name")]).await;
    assert_eq!(count(&html, "created"), 2);
    assert!(html.contains("Every row was imported."));
    let (_, found) = api.get_json("/leads?q=Upload").await;
    assert_eq!(found["leads"].as_array().unwrap().len(), 2);

    // A larger file reports progress in chunks while it runs, then the same result page.
    let mut csv = String::from("phone,name,tags\n");
    for i in 0..600 {
        csv.push_str(&format!("+1737555{i:04},Chunk {i},bulk\n"));
    }
    let map = upload(&b, &csv).await;
    let html = run_import(
        &b,
        &map,
        &[("col_0", "phone"), ("col_1", "name"), ("col_2", "tags")],
    )
    .await;
    assert_eq!(count(&html, "created"), 600);
    let (_, found) = api.get_json("/leads?q=Chunk&limit=200").await;
    assert_eq!(found["leads"].as_array().unwrap().len(), 200);
    assert_eq!(found["leads"][0]["tags"], json!(["bulk"]));

    // Without the token the upload is refused.
    let r = b
        .client
        .post(format!("{}/app/leads/import", b.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn csv_import_over_the_api() {
    let app = TestApp::spawn().await;
    let (_b, api) = owner_with_key(&app).await;
    suppress(&app, "+15125550106", ComplianceEventKind::Suppressed).await;
    let csv = "mobile,first name,zip,opt in\n\
               5125550101,Ana,78701,yes\n\
               oops,Bad,78702,yes\n\
               5125550101,Ana Again,78701,\n\
               5125550106,Sup,78703,yes\n\
               5125550107,Maybe,78704,perhaps\n";
    let r = api
        .req(
            Method::POST,
            "/leads/import?mapping=phone,name,ignore,consent&file_name=spring.csv",
        )
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["file_name"], "spring.csv");
    assert_eq!(report["rows"], 5);
    assert_eq!(report["created"], 2);
    assert_eq!(report["updated"], 1);
    assert_eq!(report["suppressed"], 1);
    assert_eq!(report["failed"], 2);
    assert_eq!(report["consents"], 1);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["row"], 3);
    assert_eq!(errors[0]["column"], "mobile");
    assert_eq!(errors[0]["value"], "oops");
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("phone 'oops' is not a valid phone number")
    );
    assert_eq!(errors[1]["row"], 6);
    assert_eq!(errors[1]["column"], "opt in");

    // Guessed mapping when none is given; bad mappings and content types are refused.
    let r = api
        .req(Method::POST, "/leads/import")
        .header("content-type", "text/csv")
        .body("Cell,Name\n5125550120,Guessed\n")
        .send()
        .await
        .unwrap();
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["created"], 1, "{report}");
    let r = api
        .req(Method::POST, "/leads/import?mapping=phone,bogus")
        .header("content-type", "text/csv")
        .body("a,b\n5125550121,x\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = api
        .req(Method::POST, "/leads/import")
        .header("content-type", "text/csv")
        .body("name,notes\nx,y\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exactly one column to phone")
    );
    let r = api
        .req(Method::POST, "/leads/import")
        .json(&json!({"phone": "5125550122"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // Over 100,000 rows: a clear error, nothing imported.
    let mut big = String::with_capacity(1_300_000);
    big.push_str("phone\n");
    for i in 0..100_001u32 {
        big.push_str(&format!("+4420{:08}\n", i));
    }
    let r = api
        .req(Method::POST, "/leads/import")
        .header("content-type", "text/csv")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100,000")
    );
    let viewer = Api::new(&app, &api_key(&_b, "viewer", "viewer").await);
    let r = viewer
        .req(Method::POST, "/leads/import")
        .header("content-type", "text/csv")
        .body("phone\n5125550130\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn list_sorts_filters_tags_and_deletes_in_bulk_and_exports_csv() {
    let app = TestApp::spawn().await;
    let (b, api) = owner_with_key(&app).await;
    let mut ids = std::collections::HashMap::new();
    for (phone, name, tags, stage) in [
        ("+15125550401", "bob Stone", json!(["vip"]), "new"),
        (
            "+15125550402",
            "Alice Park",
            json!(["vip", "spring"]),
            "qualified",
        ),
        (
            "+15125550403",
            "Carol Diaz",
            json!(["vip-gold"]),
            "qualified",
        ),
    ] {
        let lead = create(
            &api,
            json!({"phone": phone, "name": name, "tags": tags, "stage": stage}),
        )
        .await;
        ids.insert(name, lead["id"].as_str().unwrap().to_owned());
    }
    let order = |page: &str| {
        let mut at: Vec<(usize, &str)> = ["Alice Park", "bob Stone", "Carol Diaz"]
            .into_iter()
            .filter_map(|n| page.find(n).map(|i| (i, n)))
            .collect();
        at.sort();
        at.into_iter().map(|(_, n)| n).collect::<Vec<_>>()
    };

    // Sorting: by name in any case, and the header flips the direction.
    let page = b.get_text("/app/leads?sort=name").await;
    assert_eq!(order(&page), ["Alice Park", "bob Stone", "Carol Diaz"]);
    assert!(page.contains("aria-sort=\"ascending\""), "{page}");
    assert!(
        page.contains("href=\"/app/leads?sort=name&#38;dir=desc\""),
        "{page}"
    );
    let page = b.get_text("/app/leads?sort=name&dir=desc").await;
    assert_eq!(order(&page), ["Carol Diaz", "bob Stone", "Alice Park"]);
    // Filters: stage, an exact tag, both, and with the search; the API agrees.
    let page = b.get_text("/app/leads?stage=qualified&sort=name").await;
    assert_eq!(order(&page), ["Alice Park", "Carol Diaz"]);
    let page = b.get_text("/app/leads?tag=vip&sort=name").await;
    assert_eq!(order(&page), ["Alice Park", "bob Stone"]);
    let page = b.get_text("/app/leads?tag=vip&stage=qualified").await;
    assert_eq!(order(&page), ["Alice Park"]);
    assert!(page.contains("Export these leads"));
    let (_, p) = api.get_json("/leads?tag=vip&sort=name&dir=desc").await;
    let names: Vec<&str> = p["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob Stone", "Alice Park"]);
    // Bad values are a clear error, on the page and the API.
    let r = b.get("/app/leads?sort=shoe_size").await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("sort: must be created, updated, name or score")
    );
    let (status, body) = api.get_json("/leads?stage=maybe").await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "stage");

    // Export: the filtered leads only, with their tags and extracted fields columns.
    let r = b.get("/app/leads.csv?stage=qualified").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("id,phone,name,email"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(csv.contains("Alice Park") && csv.contains("vip;spring") && !csv.contains("bob Stone"));

    // Bulk tag: added to the selected leads, kept on the others.
    let bob = ids["bob Stone"].as_str();
    let carol = ids["Carol Diaz"].as_str();
    let r = b
        .post_form(
            "/app/leads/bulk",
            &[
                ("ids", bob),
                ("ids", carol),
                ("action", "tag"),
                ("tag", "follow-up"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app/leads?notice=leads_tagged");
    let page = b.get_text("/app/leads?tag=follow-up&sort=name").await;
    assert_eq!(order(&page), ["bob Stone", "Carol Diaz"]);
    let (_, one) = api.get_json(&format!("/leads/{bob}")).await;
    assert_eq!(one["tags"], json!(["vip", "follow-up"]));
    // Nothing selected, or no tag: told so, nothing changes.
    let r = b
        .post_form("/app/leads/bulk", &[("action", "tag"), ("tag", "x")])
        .await;
    assert_eq!(location(&r), "/app/leads?notice=none_selected");
    let r = b
        .post_form(
            "/app/leads/bulk",
            &[("ids", bob), ("action", "tag"), ("tag", " ")],
        )
        .await;
    assert_eq!(location(&r), "/app/leads?notice=tag_missing");

    // Bulk delete asks first, listing who goes; only the confirmation deletes.
    let r = b
        .post_form(
            "/app/leads/bulk",
            &[("ids", bob), ("ids", carol), ("action", "delete")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let confirm = r.text().await.unwrap();
    assert!(
        confirm.contains("Delete 2 leads?")
            && confirm.contains("bob Stone")
            && confirm.contains("Carol Diaz")
    );
    let (_, p) = api.get_json("/leads").await;
    assert_eq!(p["leads"].as_array().unwrap().len(), 3, "not yet deleted");
    let r = b
        .post_form("/app/leads/bulk/delete", &[("ids", bob), ("ids", carol)])
        .await;
    assert_eq!(location(&r), "/app/leads?notice=leads_deleted");
    let (_, p) = api.get_json("/leads").await;
    assert_eq!(p["leads"][0]["name"], "Alice Park");
    assert_eq!(p["leads"].as_array().unwrap().len(), 1);

    // A viewer sees no bulk controls and cannot use them.
    let viewer = member(&app, &b, "vic@example.com", "Vic", "viewer").await;
    let page = viewer.get_text("/app/leads").await;
    assert!(!page.contains("action=\"/app/leads/bulk\""));
    let alice = ids["Alice Park"].as_str();
    let r = viewer
        .post_form(
            "/app/leads/bulk",
            &[("ids", alice), ("action", "tag"), ("tag", "x")],
        )
        .await;
    assert_eq!(r.status(), 403);
}
