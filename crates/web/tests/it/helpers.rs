//! The test harness: `TestApp::spawn()` and a browser-like client that keeps cookies and sends
//! the CSRF token with every form.

use async_trait::async_trait;
use leadline_app::{KeyRing, MasterKey, SecretsService};
use leadline_store_sql::testing::{TestDb, fresh};
use leadline_web::mail::{Delivery, Mailer};
use leadline_web::{AppState, WebConfig};
use reqwest::redirect::Policy;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct SentMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Captures mail instead of sending it.
#[derive(Default)]
pub struct CapturingMailer {
    pub sent: Mutex<Vec<SentMail>>,
}

#[async_trait]
impl Mailer for CapturingMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<Delivery> {
        self.sent.lock().unwrap().push(SentMail {
            to: to.into(),
            subject: subject.into(),
            body: body.into(),
        });
        Ok(Delivery::Sent)
    }
    fn is_configured(&self) -> bool {
        true
    }
}

pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub mailer: Arc<CapturingMailer>,
    pub state: AppState,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut WebConfig)) -> TestApp {
        Self::spawn_full(configure, None).await
    }

    /// Boots with a real mailer (e.g. SMTP to a mock server); `app.mailer` then stays empty.
    pub async fn spawn_with_mailer(mailer: Arc<dyn Mailer>) -> TestApp {
        Self::spawn_full(|_| {}, Some(mailer)).await
    }

    async fn spawn_full(
        configure: impl FnOnce(&mut WebConfig),
        real_mailer: Option<Arc<dyn Mailer>>,
    ) -> TestApp {
        let db = fresh().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut config = WebConfig::new(base.parse().unwrap());
        configure(&mut config);
        let secrets = Arc::new(SecretsService::new(
            db.store.clone(),
            KeyRing::from_keys(vec![MasterKey::generate()]),
        ));
        let mailer = Arc::new(CapturingMailer::default());
        let used = real_mailer.unwrap_or_else(|| mailer.clone());
        let state = AppState::new(db.store.clone(), secrets, config, used);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve_state = state.clone();
        tokio::spawn(async move {
            leadline_web::serve(listener, serve_state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base,
            db,
            mailer,
            state,
            _shutdown: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A new browser: its own cookie jar, no automatic redirects.
    pub fn browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            jar,
            base: self.base.clone(),
        }
    }

    /// The newest mail to `to`, waiting briefly: some mail is sent in the background.
    pub async fn last_mail_to(&self, to: &str) -> SentMail {
        for _ in 0..100 {
            if let Some(m) = self
                .mailer
                .sent
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|m| m.to == to)
                .cloned()
            {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no mail to {to}")
    }

    /// Signs up a new business and returns the signed-in browser.
    pub async fn signed_up(&self, business: &str, email: &str) -> Browser {
        let b = self.browser();
        let r = b
            .post_form(
                "/signup",
                &[
                    ("business_name", business),
                    ("name", "Dana Owner"),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            r.status(),
            303,
            "sign-up failed: {}",
            r.text().await.unwrap_or_default()
        );
        b
    }
}

pub const PASSWORD: &str = "blue-harbor-lantern-7";

pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
}

impl Browser {
    pub fn cookie(&self, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let header = self.jar.cookies(&self.base.parse().unwrap())?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_text(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    /// Posts a form with this browser's CSRF token (fetching a page first if it has none).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        if self.cookie("ll_csrf").is_none() {
            self.get("/signin").await;
        }
        let csrf = self.cookie("ll_csrf").expect("csrf cookie");
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &csrf));
        self.client
            .post(format!("{}{path}", self.base))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form without any CSRF token.
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Extracts the first `http://…` link from a mail body.
pub fn link_in(body: &str) -> String {
    body.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a link")
        .to_owned()
}

/// Pulls a value out of HTML between `start` and the next `end`.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let len = html[from..].find(end)?;
    Some(&html[from..from + len])
}

/// Creates an API key through the dashboard and returns it.
pub async fn api_key(b: &Browser, name: &str, role: &str) -> String {
    let r = b
        .post_form("/app/api-keys", &[("name", name), ("role", role)])
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    between(
        &html,
        "<code class=\"copyable\" id=\"new-api-key\">",
        "</code>",
    )
    .expect("key shown once")
    .to_owned()
}

/// An API client with a bearer key.
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub fn new(app: &TestApp, key: &str) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: format!("{}/api/v1", app.base),
            key: key.to_owned(),
        }
    }
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self.req(method, path).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// Invites `email` with `role` into the owner's account and returns their signed-in browser.
pub async fn member(
    app: &TestApp,
    owner: &Browser,
    email: &str,
    name: &str,
    role: &str,
) -> Browser {
    let r = owner
        .post_form("/app/team/invite", &[("email", email), ("role", role)])
        .await;
    assert_eq!(r.status(), 200, "invite");
    let path = link_in(&app.last_mail_to(email).await.body)
        .trim_start_matches(&app.base)
        .to_owned();
    let b = app.browser();
    b.get(&path).await;
    let r = b
        .post_form(&path, &[("name", name), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), 303, "accept invitation");
    b
}

/// The first instant, at least a day from now, when a reply to `phone` may go out (18:00 UTC on
/// a day the send windows allow): workers driven at it send without waiting for office hours.
pub fn open_window(phone: &str) -> jiff::Timestamp {
    use leadline_domain::compliance::{MessageKind, Outcome, WindowRequest, decide};
    let phone = leadline_domain::E164Phone::parse(phone).unwrap();
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    for days in 1..60 {
        let day = today.checked_add(jiff::Span::new().days(days)).unwrap();
        let at = day
            .at(18, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp();
        let mut request = WindowRequest::new(phone.clone(), at);
        request.kind = MessageKind::Reply;
        if decide(&request).outcome == Outcome::Send {
            return at;
        }
    }
    panic!("no open send window for {phone} in 60 days")
}

/// Runs the reply and outbox workers at `at` until nothing more is due.
pub async fn drive(app: &TestApp, at: jiff::Timestamp) {
    for _ in 0..8 {
        let jobs = app.state.engine.run_jobs_once(at).await.unwrap();
        let out = app.state.engine.run_outbound_once(at).await.unwrap();
        if jobs + out == 0 {
            return;
        }
    }
}

/// Finishes the webhook events accepted so far (a 2xx means stored as a job; the worker turns
/// it into messages), without answering anything.
pub async fn settle(app: &TestApp) {
    while app
        .state
        .engine
        .run_ingest_once(jiff::Timestamp::now())
        .await
        .unwrap()
        > 0
    {}
}

/// Posts a provider webhook to the URL it was signed for, byte for byte.
pub async fn post_webhook(
    req: &leadline_providers::messaging::WebhookRequest,
) -> reqwest::Response {
    let mut builder = reqwest::Client::new().post(req.public_url.as_str());
    for (name, value) in req.headers.iter() {
        builder = builder.header(name, value);
    }
    builder.body(req.raw_body.clone()).send().await.unwrap()
}

/// The account's id, from its owner's email.
pub async fn account_of(app: &TestApp, email: &str) -> leadline_domain::AccountId {
    let user = app
        .db
        .store
        .find_user_by_email(&leadline_domain::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    app.db.store.memberships_of_user(user.id).await.unwrap()[0].account_id
}
