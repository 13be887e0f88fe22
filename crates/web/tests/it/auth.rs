//! Sign-up, sign-in, sessions, CSRF, throttling, password change and reset.

use crate::helpers::*;

#[tokio::test]
async fn sign_up_lands_on_the_account_with_a_safe_session_cookie() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    let page = b.get_text("/signup").await;
    assert!(page.contains("name=\"csrf\""));
    let r = b
        .post_form(
            "/signup",
            &[
                ("business_name", "Acme Insurance"),
                ("name", "Dana"),
                ("email", "Dana@Example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/onboarding?notice=welcome");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ll_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http must not set Secure: {cookie}"
    );
    let home = b.get_text("/app?notice=welcome").await;
    assert!(home.contains("Acme Insurance") && home.contains("Welcome to leadline"));
    // The email is stored normalised.
    let user = app
        .db
        .store
        .find_user_by_email(&leadline_domain::Email::parse("dana@example.com").unwrap())
        .await
        .unwrap();
    assert!(
        user.unwrap()
            .password_hash
            .unwrap()
            .starts_with("$argon2id$")
    );
}

#[tokio::test]
async fn secure_cookie_when_served_over_https() {
    let app =
        TestApp::spawn_with(|c| c.public_url = "https://leadline.example".parse().unwrap()).await;
    let b = app.browser();
    let r = b
        .post_form(
            "/signup",
            &[
                ("business_name", "Acme"),
                ("name", "Dana"),
                ("email", "d@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ll_session="))
        .unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(r.headers().get("strict-transport-security").is_some());
}

#[tokio::test]
async fn duplicate_email_is_409_and_weak_password_is_422_keeping_input() {
    let app = TestApp::spawn().await;
    app.signed_up("Acme", "dana@example.com").await;
    let b = app.browser();
    let r = b
        .post_form(
            "/signup",
            &[
                ("business_name", "Other Co"),
                ("name", "Sam"),
                ("email", "DANA@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("already registered"), "{html}");
    assert!(html.contains("value=\"Other Co\""), "typed values are kept");

    let r = b
        .post_form(
            "/signup",
            &[
                ("business_name", "Other Co"),
                ("name", "Sam"),
                ("email", "sam@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 12 characters"));
    let r = b
        .post_form(
            "/signup",
            &[
                ("business_name", "Other Co"),
                ("name", "Sam"),
                ("email", "sam@example.com"),
                ("password", "password1234"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("too common"));
    // Nothing was created by the failed attempts.
    assert_eq!(app.db.store.list_accounts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.signed_up("Acme", "dana@example.com").await;
    let b = app.browser();
    let wrong = b
        .post_form(
            "/signin",
            &[
                ("email", "dana@example.com"),
                ("password", "not-the-password-1"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let wrong_html = wrong.text().await.unwrap();
    let unknown = b
        .post_form(
            "/signin",
            &[
                ("email", "nobody@example.com"),
                ("password", "not-the-password-1"),
            ],
        )
        .await;
    assert_eq!(unknown.status(), 401);
    let unknown_html = unknown.text().await.unwrap();
    let msg = "That email and password do not match.";
    assert!(wrong_html.contains(msg) && unknown_html.contains(msg));

    let ok = b
        .post_form(
            "/signin",
            &[
                ("email", "dana@example.com"),
                ("password", PASSWORD),
                ("next", "/app/team"),
            ],
        )
        .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(location(&ok), "/app/team");
    // An off-site `next` is ignored.
    let b2 = app.browser();
    let ok = b2
        .post_form(
            "/signin",
            &[
                ("email", "dana@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&ok), "/app");
}

#[tokio::test]
async fn sign_in_is_throttled_per_email_with_a_clear_error() {
    let app = TestApp::spawn().await;
    app.signed_up("Acme", "dana@example.com").await;
    let b = app.browser();
    for _ in 0..5 {
        let r = b
            .post_form(
                "/signin",
                &[
                    ("email", "dana@example.com"),
                    ("password", "wrong-password-123"),
                ],
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let r = b
        .post_form(
            "/signin",
            &[("email", "dana@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        r.status(),
        429,
        "even the right password waits out the lock"
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Too many failed sign-in attempts")
    );
    // Another email from the same IP is not yet blocked.
    app.signed_up("Other", "sam@example.com").await;
    let r = b
        .post_form(
            "/signin",
            &[("email", "sam@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn sign_in_is_throttled_per_ip() {
    let app = TestApp::spawn_with(|c| c.login_limits.per_ip = 3).await;
    let b = app.browser();
    for i in 0..3 {
        let r = b
            .post_form(
                "/signin",
                &[
                    ("email", &format!("x{i}@example.com")),
                    ("password", "wrong-password-123"),
                ],
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let r = b
        .post_form(
            "/signin",
            &[
                ("email", "x9@example.com"),
                ("password", "wrong-password-123"),
            ],
        )
        .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme", "dana@example.com").await;
    let r = b
        .post_form_raw("/app/profile", &[("business_name", "Hacked")])
        .await;
    assert_eq!(r.status(), 403);
    let r = b
        .post_form_raw(
            "/app/profile",
            &[
                ("business_name", "Hacked"),
                ("csrf", "x".repeat(43).as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .browser()
        .post_form_raw(
            "/signup",
            &[
                ("business_name", "A"),
                ("name", "B"),
                ("email", "c@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.db
            .store
            .get_account(app.db.store.list_accounts().await.unwrap()[0].id)
            .await
            .unwrap()
            .profile
            .business_name,
        "Acme"
    );
}

#[tokio::test]
async fn sign_out_revokes_the_session_and_tampered_cookies_sign_out() {
    let app = TestApp::spawn().await;
    let b = app.signed_up("Acme", "dana@example.com").await;
    let token = b.cookie("ll_session").unwrap();
    let r = b.post_form("/signout", &[]).await;
    assert_eq!(r.status(), 303);
    // Replaying the old cookie does not work: the server-side session is gone.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = replay
        .get(app.url("/app"))
        .header("cookie", format!("ll_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/signin"));
    // A tampered token is simply not signed in.
    let r = replay
        .get(app.url("/app/profile"))
        .header("cookie", "ll_session=tampered-token-value")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/signin?next=%2Fapp%2Fprofile");
}

#[tokio::test]
async fn sessions_expire() {
    let app = TestApp::spawn_with(|c| c.session_idle = jiff::SignedDuration::from_secs(1)).await;
    let b = app.signed_up("Acme", "dana@example.com").await;
    assert_eq!(b.get("/app").await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let r = b.get("/app").await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn password_change_signs_out_other_browsers() {
    let app = TestApp::spawn().await;
    let first = app.signed_up("Acme", "dana@example.com").await;
    let second = app.browser();
    assert_eq!(
        second
            .post_form(
                "/signin",
                &[("email", "dana@example.com"), ("password", PASSWORD)]
            )
            .await
            .status(),
        303
    );
    let r = first
        .post_form(
            "/app/password",
            &[
                ("current_password", "wrong-one-123456"),
                ("new_password", "new-harbor-lantern-8"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = first
        .post_form(
            "/app/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "new-harbor-lantern-8"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        first.get("/app").await.status(),
        200,
        "the browser that changed it stays signed in"
    );
    assert_eq!(
        second.get("/app").await.status(),
        303,
        "other browsers are signed out"
    );
    let b = app.browser();
    assert_eq!(
        b.post_form(
            "/signin",
            &[
                ("email", "dana@example.com"),
                ("password", "new-harbor-lantern-8")
            ]
        )
        .await
        .status(),
        303
    );
}

#[tokio::test]
async fn password_reset_by_one_time_link() {
    let app = TestApp::spawn().await;
    app.signed_up("Acme", "dana@example.com").await;
    let b = app.browser();
    let r = b
        .post_form("/reset", &[("email", "dana@example.com")])
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("reset link is on its way"));
    // Unknown emails get the same page and no mail.
    let r = b
        .post_form("/reset", &[("email", "nobody@example.com")])
        .await;
    assert!(r.text().await.unwrap().contains("reset link is on its way"));
    assert!(
        app.mailer
            .sent
            .lock()
            .unwrap()
            .iter()
            .all(|m| m.to != "nobody@example.com")
    );

    let mail = app.last_mail_to("dana@example.com").await;
    assert_eq!(mail.subject, "Reset your leadline password");
    let link = link_in(&mail.body);
    let path = link.trim_start_matches(&app.base).to_owned();
    let r = b.post_form(&path, &[("password", "short")]).await;
    assert_eq!(r.status(), 422, "weak password refused, token not consumed");
    let r = b
        .post_form(&path, &[("password", "fresh-harbor-lantern-9")])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app?notice=password_reset");
    let again = app
        .browser()
        .post_form(&path, &[("password", "other-harbor-lantern-9")])
        .await;
    assert_eq!(again.status(), 400, "the link works once");
    let b = app.browser();
    assert_eq!(
        b.post_form(
            "/signin",
            &[
                ("email", "dana@example.com"),
                ("password", "fresh-harbor-lantern-9")
            ]
        )
        .await
        .status(),
        303
    );
}

#[tokio::test]
async fn reset_without_smtp_says_the_link_is_in_the_log() {
    let app = TestApp::spawn().await;
    let logging = leadline_web::AppState::new(
        app.state.store.clone(),
        app.state.secrets.clone(),
        (*app.state.config).clone(),
        std::sync::Arc::new(leadline_web::mail::LogMailer),
    );
    let delivery = leadline_web::services::request_password_reset(&logging, "dana@example.com")
        .await
        .unwrap();
    assert_eq!(delivery, leadline_web::mail::Delivery::Logged);
}

#[tokio::test]
async fn sign_ins_and_failures_are_audited() {
    let app = TestApp::spawn().await;
    app.signed_up("Acme", "dana@example.com").await;
    let b = app.browser();
    b.post_form(
        "/signin",
        &[
            ("email", "dana@example.com"),
            ("password", "wrong-password-123"),
        ],
    )
    .await;
    b.post_form(
        "/signin",
        &[("email", "dana@example.com"), ("password", PASSWORD)],
    )
    .await;
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
    assert!(
        actions.contains(&"account.created".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"auth.sign_in_failed".to_owned()),
        "{actions:?}"
    );
    assert!(actions.contains(&"auth.sign_in".to_owned()), "{actions:?}");
}
