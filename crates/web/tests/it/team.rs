//! The business profile, the team: invitations, roles, switching accounts, and role checks.

use crate::helpers::*;

#[tokio::test]
async fn profile_edit_validates_next_to_fields_and_keeps_input() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme Insurance", "dana@example.com").await;
    let page = b.get_text("/app/profile").await;
    assert!(page.contains("value=\"Acme Insurance\""));
    let fields = [
        ("business_name", "Acme Insurance"),
        ("agent_name", "Dana"),
        ("phone", "12"),
        ("website", "acme.example"),
        ("industry", "insurance"),
        ("description", "Family insurance in Austin."),
        ("products_services", "Life, home"),
        ("unique_selling_points", "Local"),
        ("license_numbers", "TX-123"),
        ("licensed_states", "TX, ZZ"),
    ];
    let r = b.post_form("/app/profile", &fields).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("f-phone-error") && html.contains("f-licensed_states-error"),
        "{html}"
    );
    assert!(
        html.contains("Family insurance in Austin."),
        "typed text is kept"
    );
    let mut good = fields;
    good[2] = ("phone", "(512) 555-0123");
    good[9] = ("licensed_states", "tx, ok");
    let r = b.post_form("/app/profile", &good).await;
    assert_eq!(r.status(), 303);
    let page = b.get_text("/app/profile?notice=profile_saved").await;
    assert!(
        page.contains("value=\"+15125550123\"")
            && page.contains("value=\"OK, TX\"")
            && page.contains("https://acme.example")
    );
}

async fn invite(app: &TestApp, b: &Browser, email: &str, role: &str) -> String {
    let r = b
        .post_form("/app/team/invite", &[("email", email), ("role", role)])
        .await;
    assert_eq!(r.status(), 200, "invite");
    assert!(r.text().await.unwrap().contains(email));
    link_in(&app.last_mail_to(email).await.body)
        .trim_start_matches(&app.base)
        .to_owned()
}

async fn member_id(app: &TestApp, email: &str) -> String {
    app.db
        .store
        .find_user_by_email(&leadline_domain::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string()
}

#[tokio::test]
async fn invite_accept_change_role_and_remove() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("Acme", "dana@example.com").await;
    let path = invite(&app, &owner, "sam@example.com", "viewer").await;
    // A second invitation for the same email is refused while one is pending.
    let r = owner
        .post_form(
            "/app/team/invite",
            &[("email", "sam@example.com"), ("role", "agent")],
        )
        .await;
    assert_eq!(r.status(), 409);

    let sam = app.browser();
    let page = sam.get_text(&path).await;
    assert!(page.contains("Join Acme") && page.contains("viewer"));
    let r = sam
        .post_form(&path, &[("name", "Sam Viewer"), ("password", "short")])
        .await;
    assert_eq!(r.status(), 422);
    let r = sam
        .post_form(&path, &[("name", "Sam Viewer"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app?notice=joined");
    // The link is single-use.
    assert_eq!(app.browser().get(&path).await.status(), 404);

    // A viewer sees the profile read-only and cannot change anything.
    let page = sam.get_text("/app/profile").await;
    assert!(page.contains("<fieldset disabled>"));
    let r = sam
        .post_form("/app/profile", &[("business_name", "Viewer was here")])
        .await;
    assert_eq!(r.status(), 403);
    let r = sam
        .post_form(
            "/app/team/invite",
            &[("email", "x@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = sam
        .post_form("/app/api-keys", &[("name", "k"), ("role", "viewer")])
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(sam.get("/app/audit").await.status(), 403);

    let sam_id = member_id(&app, "sam@example.com").await;
    let r = owner
        .post_form(&format!("/app/team/{sam_id}/role"), &[("role", "admin")])
        .await;
    assert_eq!(r.status(), 303);
    // Now an admin: can edit the profile, but cannot make owners or touch the owner.
    let r = sam
        .post_form(
            "/app/team/invite",
            &[("email", "o@example.com"), ("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let dana_id = member_id(&app, "dana@example.com").await;
    let r = sam
        .post_form(&format!("/app/team/{dana_id}/role"), &[("role", "viewer")])
        .await;
    assert_eq!(r.status(), 403);
    // Only an owner deletes the account.
    let r = sam.post_form("/app/delete", &[("confirm", "Acme")]).await;
    assert_eq!(r.status(), 403);

    // The last owner cannot be demoted.
    let r = owner
        .post_form(&format!("/app/team/{sam_id}/role"), &[("role", "owner")])
        .await;
    assert_eq!(r.status(), 303);
    let r = sam
        .post_form(&format!("/app/team/{dana_id}/role"), &[("role", "viewer")])
        .await;
    assert_eq!(r.status(), 303, "two owners: one may be demoted");
    let r = sam
        .post_form(&format!("/app/team/{sam_id}/remove"), &[])
        .await;
    assert!(
        r.status() == 409 || r.status() == 403,
        "cannot remove the last owner (self): {}",
        r.status()
    );

    let r = sam
        .post_form(&format!("/app/team/{dana_id}/remove"), &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        owner.get("/app").await.status(),
        403,
        "a removed member no longer reaches the account"
    );

    let account = app.db.store.list_accounts().await.unwrap()[0].id;
    let actions: Vec<String> = app
        .db
        .store
        .audit_chain(account)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in [
        "invitation.create",
        "invitation.accept",
        "member.role_change",
        "member.remove",
    ] {
        assert!(
            actions.contains(&a.to_owned()),
            "{a} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn invitation_for_an_existing_user_and_switching_accounts() {
    let app = TestApp::spawn().await;
    let acme = app.signed_up("Acme", "dana@example.com").await;
    let sam = app.signed_up("Sam's Solar", "sam@example.com").await;
    let path = invite(&app, &acme, "sam@example.com", "agent").await;
    let page = sam.get_text(&path).await;
    assert!(page.contains("Accept invitation"));
    let r = sam.post_form(&path, &[]).await;
    assert_eq!(r.status(), 303);
    let home = sam.get_text("/app").await;
    assert!(
        home.contains("<strong>Acme</strong>") && home.contains("Sam&#39;s Solar"),
        "switcher lists both"
    );
    let solar = app
        .db
        .store
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.profile.business_name == "Sam's Solar")
        .unwrap();
    let r = sam
        .post_form("/app/switch", &[("account_id", &solar.id.to_string())])
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        sam.get_text("/app")
            .await
            .contains("<strong>Sam&#39;s Solar</strong>")
    );
    // Switching to an account one does not belong to is not found.
    let acme_id = app
        .db
        .store
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.profile.business_name == "Acme")
        .unwrap()
        .id;
    let dana_only = app.signed_up("Third", "t@example.com").await;
    assert_eq!(
        dana_only
            .post_form("/app/switch", &[("account_id", &acme_id.to_string())])
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn invitation_for_someone_else_is_refused() {
    let app = TestApp::spawn().await;
    let acme = app.signed_up("Acme", "dana@example.com").await;
    let path = invite(&app, &acme, "sam@example.com", "agent").await;
    let mallory = app.signed_up("Mallory", "mallory@example.com").await;
    let r = mallory.post_form(&path, &[]).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn owner_deletes_the_account_and_its_audit_log_survives() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme", "dana@example.com").await;
    let id = app.db.store.list_accounts().await.unwrap()[0].id;
    let r = b
        .post_form("/app/delete", &[("confirm", "wrong name")])
        .await;
    assert_eq!(r.status(), 422);
    let r = b.post_form("/app/delete", &[("confirm", "Acme")]).await;
    assert_eq!(r.status(), 303);
    assert!(app.db.store.list_accounts().await.unwrap().is_empty());
    assert!(!app.db.store.audit_chain(id).await.unwrap().is_empty());
}
