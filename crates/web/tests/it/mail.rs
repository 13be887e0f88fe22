//! Outgoing email through SMTP, against a mock server on 127.0.0.1 that speaks just enough of
//! the protocol (RFC 5321) to accept mail and record what it was sent.

use crate::helpers::{TestApp, link_in, location};
use base64::Engine;
use leadline_web::mail::{Delivery, Mailer, SmtpConfig, SmtpConfigError, SmtpMailer, SmtpSecurity};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message: the envelope, the credentials given, and the raw DATA.
#[derive(Debug, Clone, Default)]
struct Received {
    auth: Option<(String, String)>,
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

struct MockSmtp {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl MockSmtp {
    async fn start() -> MockSmtp {
        Self::start_with(false).await
    }

    /// `reject_auth`: answer AUTH with a 535 that echoes the credentials, as a careless server
    /// might.
    async fn start_with(reject_auth: bool) -> MockSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, sink.clone(), reject_auth));
            }
        });
        MockSmtp { port, received }
    }

    fn url(&self, userinfo: &str) -> SecretString {
        SecretString::from(format!("smtp://{userinfo}127.0.0.1:{}", self.port))
    }

    fn mailer(&self, userinfo: &str, from: &str) -> SmtpMailer {
        SmtpMailer::new(SmtpConfig::parse(&self.url(userinfo), from).unwrap())
    }

    fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn session(stream: TcpStream, sink: Arc<Mutex<Vec<Received>>>, reject_auth: bool) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut current = Received::default();
    let mut line = String::new();
    let mut reply = String::from("220 mock.test ESMTP ready");
    loop {
        write
            .write_all(format!("{reply}\r\n").as_bytes())
            .await
            .unwrap();
        line.clear();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        reply = if upper.starts_with("EHLO ") {
            // No STARTTLS: the connection stays plain.
            "250-mock.test\r\n250-AUTH PLAIN\r\n250 SIZE 1000000".into()
        } else if upper.starts_with("HELO ") {
            "250 mock.test".into()
        } else if upper.starts_with("AUTH PLAIN ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&command["AUTH PLAIN ".len()..])
                .unwrap();
            let parts: Vec<String> = String::from_utf8(decoded)
                .unwrap()
                .split('\0')
                .map(str::to_owned)
                .collect();
            let (user, pass) = (parts[1].clone(), parts[2].clone());
            if reject_auth {
                format!("535 5.7.8 no such login {user}:{pass}")
            } else {
                current.auth = Some((user, pass));
                "235 2.7.0 authenticated".into()
            }
        } else if upper.starts_with("MAIL FROM:") {
            current.mail_from = command["MAIL FROM:".len()..].to_owned();
            "250 2.1.0 ok".into()
        } else if upper.starts_with("RCPT TO:") {
            current.rcpt_to.push(command["RCPT TO:".len()..].to_owned());
            "250 2.1.5 ok".into()
        } else if upper == "DATA" {
            write
                .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                .await
                .unwrap();
            let mut data = String::new();
            loop {
                line.clear();
                if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                // Undo dot-stuffing (RFC 5321 4.5.2).
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            current.data = data;
            sink.lock().unwrap().push(current.clone());
            current.mail_from.clear();
            current.rcpt_to.clear();
            "250 2.0.0 queued".into()
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else if upper == "RSET" || upper == "NOOP" {
            "250 2.0.0 ok".into()
        } else {
            "502 5.5.1 not implemented".into()
        };
    }
}

/// A header's value, unfolded; names compare case-insensitively.
fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split("\r\n\r\n").next()?;
    let mut value: Option<String> = None;
    for l in head.split("\r\n") {
        if l.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push_str(l);
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((n, v)) = l.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value
}

/// The body, with its Content-Transfer-Encoding undone (7bit, 8bit, quoted-printable, base64).
fn decoded_body(data: &str) -> String {
    let body = data.split_once("\r\n\r\n").unwrap().1;
    let encoding = header(data, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => {
            let unfolded = body.replace("=\r\n", "");
            let raw = unfolded.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'=' && i + 2 < raw.len() {
                    out.push(u8::from_str_radix(&unfolded[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(raw[i]);
                    i += 1;
                }
            }
            out
        }
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(body.split_whitespace().collect::<String>())
            .unwrap(),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).unwrap().replace("\r\n", "\n")
}

#[tokio::test]
async fn smtp_mailer_delivers_plain_text_with_the_standard_headers() {
    let smtp = MockSmtp::start().await;
    let mailer = smtp.mailer("", "Leadline Test <no-reply@leadline.test>");
    assert!(mailer.is_configured());
    let link = format!("http://127.0.0.1:8080/reset/{}", "x".repeat(60));
    let body = format!("Bonjour Zoë,\n\nChoose a new password: {link}\n\nThanks.");
    let delivery = mailer
        .send("dana@example.com", "Reset your leadline password", &body)
        .await
        .unwrap();
    assert_eq!(delivery, Delivery::Sent);

    let got = smtp.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert!(m.auth.is_none(), "no credentials, no AUTH");
    assert!(m.mail_from.starts_with("<no-reply@leadline.test>"), "{m:?}");
    assert_eq!(m.rcpt_to, ["<dana@example.com>"]);
    let from = header(&m.data, "From").unwrap();
    assert!(from.contains("no-reply@leadline.test"), "{from}");
    assert_eq!(header(&m.data, "To").unwrap(), "dana@example.com");
    assert_eq!(
        header(&m.data, "Subject").unwrap(),
        "Reset your leadline password"
    );
    assert!(header(&m.data, "Date").is_some(), "{}", m.data);
    let id = header(&m.data, "Message-ID").unwrap();
    assert!(
        id.starts_with('<') && id.ends_with("@leadline.test>"),
        "{id}"
    );
    let content_type = header(&m.data, "Content-Type").unwrap().to_lowercase();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("utf-8"),
        "{content_type}"
    );
    let text = decoded_body(&m.data);
    assert!(text.contains("Bonjour Zoë,"), "{text}");
    assert_eq!(link_in(&text), link);
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_with_auth() {
    let smtp = MockSmtp::start().await;
    // Reserved characters in the URL are percent-encoded; the server gets them decoded.
    let mailer = smtp.mailer(
        "mailer%40leadline.test:s3cret%21pw@",
        "no-reply@leadline.test",
    );
    mailer
        .send("dana@example.com", "Hello", "Hello Dana")
        .await
        .unwrap();
    let got = smtp.messages();
    assert_eq!(
        got[0].auth,
        Some(("mailer@leadline.test".into(), "s3cret!pw".into()))
    );
}

#[tokio::test]
async fn failures_are_errors_that_never_show_the_password() {
    // Nobody listens on this port.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = SecretString::from(format!("smtp://mailer:hunter2-pw@127.0.0.1:{port}"));
    let down = SmtpMailer::new(SmtpConfig::parse(&url, "no-reply@leadline.test").unwrap());
    let err = format!(
        "{:#}",
        down.send("dana@example.com", "Hello", "Hello")
            .await
            .unwrap_err()
    );
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // A server that echoes the credentials in its refusal.
    let smtp = MockSmtp::start_with(true).await;
    let err = format!(
        "{:#}",
        smtp.mailer("mailer:hunter2-pw@", "no-reply@leadline.test")
            .send("dana@example.com", "Hello", "Hello")
            .await
            .unwrap_err()
    );
    assert!(err.contains("535"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(smtp.messages().is_empty());
}

#[test]
fn smtp_settings_are_checked_and_described_without_credentials() {
    let parse = |url: &str, from: &str| SmtpConfig::parse(&SecretString::from(url), from);

    let c = parse("smtp://relay.internal", "no-reply@leadline.test").unwrap();
    assert_eq!(
        (c.server(), c.security(), c.password_may_travel_in_clear()),
        ("relay.internal:25", SmtpSecurity::None, false)
    );
    let c = parse(
        "smtp://u:p@mail.example.com?tls=required",
        "leadline <no-reply@localhost>",
    )
    .unwrap();
    assert_eq!(
        (c.server(), c.security(), c.password_may_travel_in_clear()),
        ("mail.example.com:587", SmtpSecurity::StartTls, false)
    );
    assert_eq!(c.from(), "leadline <no-reply@localhost>");
    let c = parse("smtps://u:p@mail.example.com", "no-reply@leadline.test").unwrap();
    assert_eq!(
        (c.server(), c.security()),
        ("mail.example.com:465", SmtpSecurity::Tls)
    );
    let c = parse("smtp://u:p@mail.example.com:2525", "no-reply@leadline.test").unwrap();
    assert_eq!(
        (c.server(), c.password_may_travel_in_clear()),
        ("mail.example.com:2525", true)
    );
    assert!(!format!("{c:?}").contains(":p@"), "{c:?}");

    for bad in [
        "notaurl",
        "http://u:hunter2@mail.example.com",
        "smtp://u:hunter2@mail.example.com?tls=always",
        "smtp://mailer@mail.example.com",
    ] {
        let err = parse(bad, "no-reply@leadline.test").unwrap_err();
        assert!(matches!(err, SmtpConfigError::Url(_)), "{bad}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    let err = parse("smtp://relay.internal", "leadline at localhost").unwrap_err();
    assert!(matches!(err, SmtpConfigError::From(_)), "{err}");
}

#[tokio::test]
async fn password_reset_email_goes_out_through_smtp() {
    let smtp = MockSmtp::start().await;
    let mailer = smtp.mailer("", "leadline <no-reply@leadline.test>");
    let app = TestApp::spawn_with_mailer(Arc::new(mailer)).await;
    app.signed_up("Acme", "dana@example.com").await;

    let b = app.browser();
    let r = b
        .post_form("/reset", &[("email", "dana@example.com")])
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("reset link is on its way"));

    // The reset email is sent in the background; give it a moment to arrive.
    let mut got = smtp.messages();
    for _ in 0..100 {
        if got.iter().any(|m| m.rcpt_to == ["<dana@example.com>"]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        got = smtp.messages();
    }
    let m = got
        .iter()
        .find(|m| m.rcpt_to == ["<dana@example.com>"])
        .unwrap_or_else(|| panic!("no mail to dana: {got:?}"));
    assert_eq!(
        header(&m.data, "Subject").unwrap(),
        "Reset your leadline password"
    );
    let link = link_in(&decoded_body(&m.data));
    let path = link
        .strip_prefix(&app.base)
        .unwrap_or_else(|| panic!("{link} is not on {}", app.base))
        .to_owned();
    assert!(path.starts_with("/reset/"), "{path}");
    let r = b
        .post_form(&path, &[("password", "fresh-harbor-lantern-9")])
        .await;
    assert_eq!(r.status(), 303, "the emailed link resets the password");
    assert_eq!(location(&r), "/app?notice=password_reset");
}
