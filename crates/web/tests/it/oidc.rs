//! Sign in with Google against a local mock OpenID provider: a real HTTP server on 127.0.0.1
//! with a discovery document, an authorization endpoint that answers like a consenting user, a
//! token endpoint that checks the client secret, the code, the redirect URI and the PKCE
//! verifier, and a JWKS; ID tokens are RS256-signed here with real RSA keys.

use crate::helpers::*;
use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use leadline_domain::Email;
use leadline_web::GoogleConfig;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

const CLIENT_ID: &str = "leadline-test.apps.example.com";
const CLIENT_SECRET: &str = "mock-client-secret";

/// RSA key generation is slow, so each test process makes its two keys once.
fn provider_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap())
}

fn attacker_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap())
}

type ClaimsTweak = Arc<dyn Fn(&mut Value) + Send + Sync>;
type Forge = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// What the token endpoint remembers about one authorization.
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

struct MockState {
    issuer: String,
    client_secret: String,
    sub: String,
    email: String,
    email_verified: Value,
    /// Applied to the ID token's claims just before signing.
    tweak: Option<ClaimsTweak>,
    /// Builds the ID token instead of signing it properly.
    forge: Option<Forge>,
    /// The kid in the token header and the key that signs it.
    signer: (&'static str, &'static RsaPrivateKey),
    /// What `/jwks` publishes.
    published: Vec<(&'static str, &'static RsaPrivateKey)>,
    grants: HashMap<String, Grant>,
    token_calls: usize,
    jwks_calls: usize,
}

struct MockProvider {
    issuer: String,
    state: Arc<Mutex<MockState>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl MockProvider {
    async fn start() -> MockProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(MockState {
            issuer: issuer.clone(),
            client_secret: CLIENT_SECRET.into(),
            sub: "google-sub-1001".into(),
            email: "dana@example.com".into(),
            email_verified: json!(true),
            tweak: None,
            forge: None,
            signer: ("key-1", provider_key()),
            published: vec![("key-1", provider_key())],
            grants: HashMap::new(),
            token_calls: 0,
            jwks_calls: 0,
        }));
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        MockProvider {
            issuer,
            state,
            _shutdown: tx,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut MockState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn tweak(&self, f: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.with(|s| s.tweak = Some(Arc::new(f)));
    }

    fn token_calls(&self) -> usize {
        self.with(|s| s.token_calls)
    }
}

async fn discovery(State(s): State<Arc<Mutex<MockState>>>) -> Json<Value> {
    let issuer = s.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

/// Answers like a user who consents: straight back to the client with a fresh code.
async fn authorize(
    State(s): State<Arc<Mutex<MockState>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |k: &str| q.get(k).cloned().unwrap_or_default();
    let scopes: Vec<String> = param("scope").split(' ').map(str::to_owned).collect();
    let well_formed = param("response_type") == "code"
        && param("client_id") == CLIENT_ID
        && ["openid", "email", "profile"]
            .iter()
            .all(|w| scopes.iter().any(|s| s == w))
        && param("code_challenge_method") == "S256"
        && param("code_challenge").len() == 43
        && !param("state").is_empty()
        && !param("nonce").is_empty();
    if !well_formed {
        return (
            StatusCode::BAD_REQUEST,
            format!("bad authorize request: {q:?}"),
        )
            .into_response();
    }
    let code = leadline_app::tokens::generate();
    s.lock().unwrap().grants.insert(
        code.clone(),
        Grant {
            client_id: param("client_id"),
            redirect_uri: param("redirect_uri"),
            challenge: param("code_challenge"),
            nonce: param("nonce"),
        },
    );
    let mut back = url::Url::parse(&param("redirect_uri")).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"));
    (StatusCode::FOUND, [(LOCATION, back.to_string())]).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(s): State<Arc<Mutex<MockState>>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    s.token_calls += 1;
    let field = |k: &str| f.get(k).cloned().unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != s.client_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if field("grant_type") != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // Codes are single-use.
    let Some(grant) = s.grants.remove(&field("code")) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if grant.client_id != CLIENT_ID
        || grant.redirect_uri != field("redirect_uri")
        || grant.challenge != challenge
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let now = jiff::Timestamp::now().as_second();
    let mut claims = json!({
        "iss": s.issuer,
        "sub": s.sub,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "exp": now + 3600,
        "iat": now,
        "nonce": grant.nonce,
        "email": s.email,
        "email_verified": s.email_verified,
        "name": "Dana Owner",
    });
    if let Some(tweak) = &s.tweak {
        tweak(&mut claims);
    }
    let (kid, key) = s.signer;
    let id_token = match &s.forge {
        Some(forge) => forge(&claims),
        None => sign(kid, key, &claims),
    };
    Json(json!({
        "access_token": "mock-access-token",
        "token_type": "Bearer",
        "expires_in": 3599,
        "scope": "openid email profile",
        "id_token": id_token,
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<Mutex<MockState>>>) -> Json<Value> {
    let mut s = s.lock().unwrap();
    s.jwks_calls += 1;
    let keys: Vec<Value> = s
        .published
        .iter()
        .map(|(kid, key)| {
            json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            })
        })
        .collect();
    Json(json!({ "keys": keys }))
}

/// A compact RS256 JWS.
fn sign(kid: &str, key: &RsaPrivateKey, claims: &Value) -> String {
    let header = json!({ "alg": "RS256", "kid": kid, "typ": "JWT" });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

fn google_config(issuer: &str, secret: &str) -> GoogleConfig {
    GoogleConfig {
        client_id: CLIENT_ID.into(),
        client_secret: secret.into(),
        issuer: issuer.parse().unwrap(),
    }
}

/// The app configured against a fresh mock provider, with an existing password user
/// `dana@example.com` (signed up as "Acme Insurance").
async fn setup() -> (TestApp, MockProvider) {
    let mock = MockProvider::start().await;
    let issuer = mock.issuer.clone();
    let app = TestApp::spawn_with(|c| c.google = Some(google_config(&issuer, CLIENT_SECRET))).await;
    app.signed_up("Acme Insurance", "dana@example.com").await;
    (app, mock)
}

/// Starts a sign-in in `b` and lets the provider answer; returns the callback URL it sent the
/// browser to (not yet followed).
async fn consent(app: &TestApp, mock: &MockProvider, b: &Browser, next: &str) -> String {
    let r = b
        .get(&format!(
            "/auth/google/start?next={}",
            urlencoding::encode(next)
        ))
        .await;
    assert_eq!(r.status(), 303, "start: {}", r.text().await.unwrap());
    let authorize = location(&r);
    assert!(
        authorize.starts_with(&format!("{}/authorize?", mock.issuer)),
        "{authorize}"
    );
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&authorize)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "authorize: {}", r.text().await.unwrap());
    let callback = location(&r);
    assert!(
        callback.starts_with(&app.url("/auth/google/callback?")),
        "{callback}"
    );
    callback
}

async fn follow(b: &Browser, url: &str) -> reqwest::Response {
    b.client.get(url).send().await.unwrap()
}

/// The whole dance; returns the callback's response.
async fn google_sign_in(
    app: &TestApp,
    mock: &MockProvider,
    b: &Browser,
    next: &str,
) -> reqwest::Response {
    let callback = consent(app, mock, b, next).await;
    follow(b, &callback).await
}

/// Asserts a refusal: the status, an HTML page with `says`, and no session.
async fn assert_refused(b: &Browser, r: reqwest::Response, status: u16, says: &str) {
    assert_eq!(r.status(), status);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("ll_session=")),
        "a refused sign-in must not start a session"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("<html"), "an HTML error page: {page}");
    assert!(page.contains(says), "page should say {says:?}: {page}");
    let r = b.get("/app").await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/signin"));
}

async fn dana(app: &TestApp) -> leadline_store::User {
    app.db
        .store
        .find_user_by_email(&Email::parse("dana@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
}

async fn audit_actions(app: &TestApp, user: &leadline_store::User) -> Vec<(String, Value)> {
    let account = app.db.store.memberships_of_user(user.id).await.unwrap()[0].account_id;
    app.db
        .store
        .audit_chain(account)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.details))
        .collect()
}

#[tokio::test]
async fn links_an_existing_user_by_verified_email_then_finds_them_by_subject() {
    let (app, mock) = setup().await;
    // The provider may send the address in another case; emails are compared normalised.
    mock.with(|s| s.email = "Dana@Example.com".into());
    let b = app.browser();

    let r = b.get("/auth/google/start?next=/app").await;
    assert_eq!(r.status(), 303);
    let flow_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ll_oidc="))
        .expect("flow cookie");
    assert!(
        flow_cookie.contains("HttpOnly")
            && flow_cookie.contains("SameSite=Lax")
            && flow_cookie.contains("Max-Age=600"),
        "{flow_cookie}"
    );
    let authorize = url::Url::parse(&location(&r)).unwrap();
    let q: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], app.url("/auth/google/callback"));
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["code_challenge_method"], "S256");
    // The challenge is derived from a verifier, never the verifier itself or the state.
    assert_ne!(q["code_challenge"], q["state"]);
    assert!(!flow_cookie.contains(&q["code_challenge"]));

    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/app");
    assert!(b.cookie("ll_session").is_some());
    assert_eq!(b.cookie("ll_oidc"), None, "the flow cookie is cleared");
    let home = b.get_text("/app").await;
    assert!(home.contains("Acme Insurance"));

    let user = dana(&app).await;
    assert_eq!(user.google_subject.as_deref(), Some("google-sub-1001"));
    let actions = audit_actions(&app, &user).await;
    assert!(actions.iter().any(|(a, _)| a == "auth.google_linked"));
    assert!(
        actions
            .iter()
            .any(|(a, d)| a == "auth.sign_in" && d["method"] == "google"),
        "{actions:?}"
    );

    // Later the Google account's address changes; the subject still finds the same user.
    mock.with(|s| s.email = "dana.new@example.org".into());
    let b2 = app.browser();
    let r = google_sign_in(&app, &mock, &b2, "/app").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let home = b2.get_text("/app").await;
    assert!(home.contains("Acme Insurance"));
    assert_eq!(mock.token_calls(), 2);
}

#[tokio::test]
async fn next_is_honoured_and_off_site_next_is_ignored() {
    let (app, mock) = setup().await;
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app/team").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app/team");
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let b = app.browser();
        let r = google_sign_in(&app, &mock, &b, evil).await;
        assert_eq!(r.status(), 303, "{evil}");
        assert_eq!(location(&r), "/app", "{evil}");
    }
    // Even a flow cookie planted with an off-site destination only ever leads on-site.
    let b = app.browser();
    let callback = consent(&app, &mock, &b, "/app").await;
    let flow = b.cookie("ll_oidc").unwrap();
    let (secrets, _next) = flow.rsplit_once('.').unwrap();
    let planted = format!("{secrets}.{}", URL_SAFE_NO_PAD.encode("//evil.example/"));
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&callback)
        .header("cookie", format!("ll_oidc={planted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app");
}

#[tokio::test]
async fn tampered_state_is_refused_before_the_code_is_redeemed() {
    let (app, mock) = setup().await;
    let b = app.browser();
    let callback = url::Url::parse(&consent(&app, &mock, &b, "/app").await).unwrap();
    let mut tampered = callback.clone();
    tampered
        .query_pairs_mut()
        .clear()
        .extend_pairs(callback.query_pairs().map(|(k, v)| {
            let v = if k == "state" {
                leadline_app::tokens::generate()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        }));
    let r = follow(&b, tampered.as_str()).await;
    assert_refused(&b, r, 400, "does not match").await;
    assert_eq!(mock.token_calls(), 0);
    assert_eq!(dana(&app).await.google_subject, None);
    // A forged answer does not cancel the real one in progress.
    let r = follow(&b, callback.as_str()).await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn callback_without_the_flow_cookie_is_refused() {
    let (app, mock) = setup().await;
    let started_here = app.browser();
    let callback = consent(&app, &mock, &started_here, "/app").await;
    // Someone else's browser (say, a victim sent the link) has no flow cookie.
    let other = app.browser();
    let r = follow(&other, &callback).await;
    assert_refused(&other, r, 400, "another browser").await;
    assert_eq!(mock.token_calls(), 0);
}

#[tokio::test]
async fn a_callback_is_single_use() {
    let (app, mock) = setup().await;
    let b = app.browser();
    let callback = consent(&app, &mock, &b, "/app").await;
    assert_eq!(follow(&b, &callback).await.status(), 303);
    // The flow cookie went with the first answer, so a replay has nothing to match.
    let r = follow(&b, &callback).await;
    assert_eq!(r.status(), 400);
    assert_eq!(mock.token_calls(), 1);
}

#[tokio::test]
async fn provider_error_is_shown() {
    let (app, mock) = setup().await;
    let b = app.browser();
    let callback = url::Url::parse(&consent(&app, &mock, &b, "/app").await).unwrap();
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = app.url(&format!(
        "/auth/google/callback?error=access_denied&state={}",
        urlencoding::encode(&state)
    ));
    let r = follow(&b, &denied).await;
    assert_refused(&b, r, 400, "cancelled").await;
    assert_eq!(mock.token_calls(), 0);
}

#[tokio::test]
async fn token_endpoint_refusal_is_401() {
    let mock = MockProvider::start().await;
    let issuer = mock.issuer.clone();
    let app =
        TestApp::spawn_with(|c| c.google = Some(google_config(&issuer, "wrong-secret"))).await;
    app.signed_up("Acme Insurance", "dana@example.com").await;
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "did not accept").await;
    assert_eq!(mock.token_calls(), 1);
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let (app, mock) = setup().await;
    mock.tweak(|c| c["aud"] = json!("someone-else.apps.example.com"));
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;
    assert_eq!(b.cookie("ll_oidc"), None, "an answered flow is spent");
    assert_eq!(dana(&app).await.google_subject, None);
}

#[tokio::test]
async fn several_audiences_need_us_as_authorized_party() {
    let (app, mock) = setup().await;
    mock.tweak(|c| {
        c["aud"] = json!([CLIENT_ID, "someone-else"]);
        c["azp"] = json!("someone-else");
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;

    mock.tweak(|c| {
        c["aud"] = json!([CLIENT_ID, "someone-else"]);
        c.as_object_mut().unwrap().remove("azp");
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;

    mock.tweak(|c| c["aud"] = json!([CLIENT_ID, "someone-else"]));
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_eq!(r.status(), 303, "azp is ours: {}", r.text().await.unwrap());
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let (app, mock) = setup().await;
    mock.tweak(|c| c["iss"] = json!("https://evil.example"));
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;
}

#[tokio::test]
async fn wrong_nonce_is_refused() {
    let (app, mock) = setup().await;
    mock.tweak(|c| c["nonce"] = json!(leadline_app::tokens::generate()));
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;

    mock.tweak(|c| {
        c.as_object_mut().unwrap().remove("nonce");
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;
    assert_eq!(dana(&app).await.google_subject, None);
}

#[tokio::test]
async fn expired_token_is_refused() {
    let (app, mock) = setup().await;
    mock.tweak(|c| {
        let now = jiff::Timestamp::now().as_second();
        c["iat"] = json!(now - 7200);
        // Past the allowed clock skew.
        c["exp"] = json!(now - 120);
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;

    mock.tweak(|c| c["iat"] = json!(jiff::Timestamp::now().as_second() + 3600));
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;
}

#[tokio::test]
async fn signature_by_another_key_is_refused() {
    let (app, mock) = setup().await;
    // The token names the provider's key but was signed with another one.
    mock.with(|s| s.signer = ("key-1", attacker_key()));
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;

    // A key the provider never published, even after refetching the JWKS.
    mock.with(|s| s.signer = ("key-unknown", attacker_key()));
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;
    assert_eq!(dana(&app).await.google_subject, None);
}

#[tokio::test]
async fn unsigned_and_hmac_tokens_are_refused() {
    let (app, mock) = setup().await;
    let encode = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    mock.with(|s| {
        s.forge = Some(Arc::new(move |claims: &Value| {
            let header = encode(json!({ "alg": "none", "kid": "key-1" }));
            format!("{header}.{}.", encode(claims.clone()))
        }))
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;

    // The classic confusion: HS256 keyed with the provider's public key.
    mock.with(|s| {
        s.forge = Some(Arc::new(move |claims: &Value| {
            use hmac::Mac;
            let input = format!(
                "{}.{}",
                encode(json!({ "alg": "HS256", "kid": "key-1" })),
                encode(claims.clone())
            );
            let secret = provider_key().n().to_bytes_be();
            let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&secret).unwrap();
            mac.update(input.as_bytes());
            let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            format!("{input}.{tag}")
        }))
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 401, "could not be verified").await;
    assert_eq!(dana(&app).await.google_subject, None);
}

#[tokio::test]
async fn key_rotation_refetches_the_jwks_once() {
    let (app, mock) = setup().await;
    let b = app.browser();
    assert_eq!(google_sign_in(&app, &mock, &b, "/app").await.status(), 303);
    let fetched = mock.with(|s| s.jwks_calls);
    // The provider rotates to a new key the app has not seen.
    mock.with(|s| {
        s.signer = ("key-2", attacker_key());
        s.published = vec![("key-2", attacker_key())];
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(mock.with(|s| s.jwks_calls), fetched + 1);
}

#[tokio::test]
async fn unverified_email_is_refused_with_a_message() {
    let (app, mock) = setup().await;
    mock.with(|s| s.email_verified = json!(false));
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 403, "not verified").await;
    assert_eq!(dana(&app).await.google_subject, None);

    // Absent counts as unverified too.
    mock.tweak(|c| {
        c.as_object_mut().unwrap().remove("email_verified");
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 403, "not verified").await;
    assert_eq!(dana(&app).await.google_subject, None);
}

#[tokio::test]
async fn unknown_email_asks_to_sign_up_first_and_creates_nobody() {
    let (app, mock) = setup().await;
    mock.with(|s| {
        s.sub = "google-sub-2002".into();
        s.email = "stranger@example.com".into();
    });
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 403, "Sign up first").await;
    let store = &app.db.store;
    let stranger = Email::parse("stranger@example.com").unwrap();
    assert_eq!(store.find_user_by_email(&stranger).await.unwrap(), None);
    assert_eq!(
        store
            .find_user_by_google_subject("google-sub-2002")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_user_linked_to_another_google_account_is_not_relinked() {
    let (app, mock) = setup().await;
    let user = dana(&app).await;
    app.db
        .store
        .set_google_subject(user.id, "google-sub-original")
        .await
        .unwrap();
    let b = app.browser();
    let r = google_sign_in(&app, &mock, &b, "/app").await;
    assert_refused(&b, r, 403, "different Google account").await;
    assert_eq!(
        dana(&app).await.google_subject.as_deref(),
        Some("google-sub-original")
    );
}

#[tokio::test]
async fn not_configured_is_404_and_hides_the_button() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    assert_eq!(b.get("/auth/google/start?next=/app").await.status(), 404);
    assert_eq!(
        b.get("/auth/google/callback?code=x&state=y").await.status(),
        404
    );
    assert!(!b.get_text("/signin").await.contains("/auth/google/start"));

    let (configured, _mock) = setup().await;
    let page = configured
        .browser()
        .get_text("/signin?next=/app/team")
        .await;
    assert!(page.contains("Sign in with Google"));
    assert!(page.contains("/auth/google/start?next="));
}
