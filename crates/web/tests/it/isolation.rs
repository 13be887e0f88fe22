//! Tenant isolation: with account B's session and API key, every route that takes an id answers
//! 404 for account A's ids, and A's data is untouched afterwards.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_route_answers_404_for_another_accounts_ids() {
    // Loopback is opened so A can start a website import (of a closed port: it fails fast).
    let app = TestApp::spawn_with(|c| c.fetch_policy.allow_loopback = true).await;
    let a = app.signed_up("Account A", "a@example.com").await;
    let a_key = api_key(&a, "a-key", "admin").await;
    a.post_form(
        "/app/team/invite",
        &[("email", "invitee@example.com"), ("role", "agent")],
    )
    .await;
    let store = &app.db.store;
    let a_account = store.list_accounts().await.unwrap()[0].id;
    let a_user = store
        .find_user_by_email(&leadline_domain::Email::parse("a@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let a_inv = store.list_invitations(a_account).await.unwrap()[0]
        .id
        .to_string();
    let a_key_id = store.list_api_keys(a_account).await.unwrap()[0]
        .id
        .to_string();
    // A's sandbox channel and one conversation in it.
    assert_eq!(a.post_form("/app/sandbox/create", &[]).await.status(), 303);
    let r = a
        .post_form(
            "/app/sandbox/send",
            &[("lead", "+15125550123"), ("body", "Hello from A's lead")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let a_conv = store
        .list_conversations(a_account, false, false, 10)
        .await
        .unwrap()[0]
        .id
        .to_string();
    let a_channel = store.list_channels(a_account).await.unwrap()[0]
        .id
        .to_string();
    let a_lead = store
        .list_conversations(a_account, false, false, 10)
        .await
        .unwrap()[0]
        .lead_id
        .to_string();
    // A's CSV import, run, so it has an error report.
    let r = a
        .post_form("/app/leads/import", &[("csv", "phone,name\n12,Bad\n")])
        .await;
    assert_eq!(r.status(), 303);
    let a_import = location(&r);
    crate::leads::run_import(&a, &a_import, &[("col_0", "phone"), ("col_1", "name")]).await;

    // A's assistant settings, so A has version 1 of them.
    let r = a
        .post_form(
            "/app/assistant/guardrails",
            &[
                ("guardrails.ai_disclosure", "An automated assistant."),
                ("guardrails.disclosure", "first_message"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);

    // A's website import.
    let (status, started) = Api::new(&app, &a_key)
        .send_json(
            Method::POST,
            "/assistant/knowledge/import",
            json!({"url": "http://127.0.0.1:1/"}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let a_kb_import = started["id"].as_str().unwrap().to_owned();

    let b = app.signed_up("Account B", "b@example.com").await;
    let b_api = Api::new(&app, &api_key(&b, "b-key", "owner").await);

    // Dashboard routes.
    let page_posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("/app/team/{a_user}/role"), vec![("role", "viewer")]),
        (format!("/app/team/{a_user}/remove"), vec![]),
        (format!("/app/invitations/{a_inv}/revoke"), vec![]),
        (format!("/app/api-keys/{a_key_id}/revoke"), vec![]),
        (
            "/app/switch".to_owned(),
            vec![(
                "account_id",
                &*Box::leak(a_account.to_string().into_boxed_str()),
            )],
        ),
    ];
    let page_posts: Vec<(String, Vec<(&str, &str)>)> = page_posts
        .into_iter()
        .chain([
            (format!("/app/inbox/{a_conv}/reply"), vec![("body", "hi")]),
            (
                format!("/app/channels/{a_channel}/test"),
                vec![("to", "+15125550199")],
            ),
            (format!("/app/inbox/{a_conv}/takeover"), vec![]),
            (format!("/app/inbox/{a_conv}/handback"), vec![]),
            (
                format!("/app/leads/{a_lead}/edit"),
                vec![("name", "Mallory"), ("stage", "closed")],
            ),
            (format!("/app/leads/{a_lead}/delete"), vec![]),
            (
                a_import.clone(),
                vec![("col_0", "phone"), ("col_1", "name")],
            ),
        ])
        .collect();
    for (path, fields) in &page_posts {
        let r = b.post_form(path, fields).await;
        assert_eq!(r.status(), 404, "POST {path} with B's session");
    }
    for path in [
        format!("/app/inbox/{a_conv}"),
        format!("/app/inbox/{a_conv}/messages"),
        format!("/app/leads/{a_lead}"),
        format!("/app/leads/{a_lead}/delete"),
        a_import.clone(),
        format!("{a_import}/errors.csv"),
        format!("{a_import}/progress"),
        "/app/assistant/versions/1".to_owned(),
        format!("/app/assistant/knowledge/import/{a_kb_import}"),
        format!("/app/assistant/knowledge/import/{a_kb_import}/progress"),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status(), 404, "GET {path} with B's session");
    }

    // API routes with ids. Every parameterised path in the OpenAPI document must be swept here.
    let api_calls: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (
            Method::PATCH,
            format!("/users/{a_user}"),
            Some(json!({"role": "viewer"})),
        ),
        (Method::DELETE, format!("/users/{a_user}"), None),
        (Method::DELETE, format!("/invitations/{a_inv}"), None),
        (Method::DELETE, format!("/api-keys/{a_key_id}"), None),
        (Method::GET, format!("/conversations/{a_conv}"), None),
        (Method::GET, format!("/leads/{a_lead}"), None),
        (Method::GET, "/assistant/versions/1".to_owned(), None),
        (
            Method::GET,
            format!("/assistant/knowledge/import/{a_kb_import}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/leads/{a_lead}"),
            Some(json!({"name": "Mallory"})),
        ),
        (Method::DELETE, format!("/leads/{a_lead}"), None),
        (
            Method::POST,
            format!("/conversations/{a_conv}/messages"),
            Some(json!({"body": "hi"})),
        ),
        (
            Method::POST,
            format!("/conversations/{a_conv}/takeover"),
            None,
        ),
        (
            Method::POST,
            format!("/conversations/{a_conv}/handback"),
            None,
        ),
    ];
    let doc: serde_json::Value =
        serde_json::from_str(&leadline_web::api::openapi_document()).unwrap();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            let prefix = path
                .trim_start_matches("/api/v1")
                .split('{')
                .next()
                .unwrap()
                .to_owned();
            let covered = api_calls
                .iter()
                .any(|(m, p, _)| m.as_str().eq_ignore_ascii_case(method) && p.starts_with(&prefix));
            assert!(covered, "{method} {path} is not in the isolation sweep");
        }
    }
    for (method, path, body) in &api_calls {
        let mut req = b_api.req(method.clone(), path);
        if let Some(body) = body {
            req = req.json(body);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 404, "{method} {path} with B's key");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }

    // B's listings show none of A's data.
    let (_, users) = b_api.get_json("/users").await;
    assert!(!users.to_string().contains("a@example.com"));
    let (_, invs) = b_api.get_json("/invitations").await;
    assert!(!invs.to_string().contains("invitee@example.com"));
    let (_, keys) = b_api.get_json("/api-keys").await;
    assert!(!keys.to_string().contains("a-key"));
    let (_, audit) = b_api.get_json("/audit").await;
    assert!(!audit.to_string().contains(&a_account.to_string()));
    assert!(
        !b.get_text("/app/team")
            .await
            .contains("invitee@example.com")
    );
    assert!(!b.get_text("/app/audit").await.contains("a-key"));
    let (_, convs) = b_api.get_json("/conversations").await;
    assert_eq!(convs, json!([]));
    let (_, channels) = b_api.get_json("/channels").await;
    assert_eq!(channels, json!([]));
    assert!(!b.get_text("/app/inbox").await.contains("+15125550123"));
    assert!(!b.get_text("/app/leads").await.contains("+15125550123"));
    let (_, leads) = b_api.get_json("/leads").await;
    assert_eq!(leads["leads"], json!([]));
    assert!(
        !b.get_text("/app/sandbox")
            .await
            .contains("Hello from A&#39;s lead")
    );

    // A is untouched.
    let a_api = Api::new(&app, &a_key);
    let (status, users) = a_api.get_json("/users").await;
    assert_eq!(status, 200, "A's key still works");
    let (status, _) = a_api
        .get_json(&format!("/assistant/knowledge/import/{a_kb_import}"))
        .await;
    assert_eq!(status, 200, "A still sees its import");
    assert_eq!(users[0]["role"], "owner");
    let (_, invs) = a_api.get_json("/invitations").await;
    assert_eq!(invs[0]["state"], "pending");
    assert!(a.get_text("/app").await.contains("Account A"));
    let (status, lead) = a_api.get_json(&format!("/leads/{a_lead}")).await;
    assert_eq!(status, 200, "A's lead is still there");
    assert_ne!(lead["name"], "Mallory");
    assert!(
        a.get_text(&format!("{a_import}/errors.csv"))
            .await
            .contains("2,phone,12,")
    );
    let page = a.get_text(&format!("/app/inbox/{a_conv}")).await;
    assert!(
        page.contains("Hello from A&#39;s lead") && page.contains("The assistant is answering.")
    );
}
