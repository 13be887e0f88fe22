//! The binary as an operator uses it: serve, configuration errors, migrate, admin, keys.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn leadline() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadline"));
    // Only what each test sets: no stray LEADLINE_* settings from the caller's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("LEADLINE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "create-admin", "--help"],
        vec!["admin", "list-accounts", "--help"],
        vec!["admin", "audit-verify", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["compliance", "--help"],
    ] {
        let out = leadline().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn serve_starts_with_defaults_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = leadline()
        .current_dir(dir.path())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep reading stdout until the end: dropping the pipe early would make the server's
    // later prints fail with a broken pipe.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert_eq!(
        first,
        format!("leadline is running at http://127.0.0.1:{port}/")
    );
    let health = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(health.is_ok());
    assert!(dir.path().join("leadline-data/leadline.db").exists());
    let key = dir.path().join("leadline-data/master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut waited = 0;
    while child.try_wait().unwrap().is_none() && waited < 100 {
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    let status = child.try_wait().unwrap().expect("stopped after SIGTERM");
    assert!(status.success(), "{status}");
    drop(lines);
}

#[test]
fn bad_configuration_is_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = leadline()
        .current_dir(dir.path())
        .env("LEADLINE_DATABASE_URL", "mysql://u:hunter2@db/x")
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database_url") && err.contains("mysql"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "credentials must not be printed: {err}"
    );

    let out = leadline()
        .current_dir(dir.path())
        .env("LEADLINE_BIND", "not-an-address")
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`bind`") && err.contains("LEADLINE_BIND"),
        "{err}"
    );

    let out = leadline()
        .current_dir(dir.path())
        .env("LEADLINE_SESION_IDLE_HOURS", "3")
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a misspelt setting is not silently ignored"
    );
}

#[test]
fn migrate_admin_and_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = leadline()
        .args(["migrate", "--data-dir", data])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    let out = leadline()
        .args([
            "admin",
            "create-admin",
            "--data-dir",
            data,
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
        ])
        .env("LEADLINE_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));
    let mut child = leadline()
        .args([
            "admin",
            "create-admin",
            "--data-dir",
            data,
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"operator-harbor-lantern\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = leadline()
        .args(["admin", "list-accounts", "--data-dir", data, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = leadline()
        .args(["admin", "audit-verify", "--data-dir", data])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 broken"));
}

/// Starts `serve` on a data directory and returns the child and its base URL.
fn serve(data: &str) -> (std::process::Child, String) {
    let port = free_port();
    let mut child = leadline()
        .args([
            "serve",
            "--data-dir",
            data,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    lines.next().unwrap().unwrap();
    // Drain the rest in the background so the server never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, format!("http://127.0.0.1:{port}"))
}

fn sign_up(base: &str, email: &str) {
    let client = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("{base}/signup"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = client
        .post(format!("{base}/signup"))
        .form(&[
            ("business_name", "Acme"),
            ("name", "Dana"),
            ("email", email),
            ("password", "blue-harbor-lantern-7"),
            ("csrf", &csrf),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[test]
fn audit_verify_names_the_first_tampered_entry_and_keys_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (mut child, base) = serve(data);
    sign_up(&base, "dana@example.com");
    sign_up(&base, "sam@example.com");
    child.kill().unwrap();
    child.wait().unwrap();

    let out = leadline()
        .args(["admin", "audit-verify", "--data-dir", data])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 accounts checked, 0 broken"));

    let db = format!("sqlite://{data}/leadline.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'user:someone-else' WHERE seq = 1 AND account_id = (SELECT MIN(account_id) FROM audit_log)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let out = leadline()
        .args(["admin", "audit-verify", "--data-dir", data])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("first broken entry: #1") && stdout.contains("1 broken"),
        "{stdout}"
    );

    let key_file = format!("{data}/master.key");
    let keys_before = std::fs::read_to_string(&key_file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    let out = leadline()
        .args(["keys", "rotate", "--data-dir", data])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-encrypted 0 secrets"));
    let keys_after = std::fs::read_to_string(&key_file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert_eq!(keys_after, keys_before + 1, "old keys stay in the ring");
}

#[test]
fn bad_smtp_url_is_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = leadline()
        .current_dir(dir.path())
        .env("LEADLINE_SMTP_URL", "notaurl")
        .args(["serve", "--bind", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("smtp_url") && err.contains("LEADLINE_SMTP_URL"),
        "{err}"
    );
}

fn csrf_in(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut waited = 0;
    while child.try_wait().unwrap().is_none() && waited < 100 {
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    let status = child.try_wait().unwrap().expect("stopped after SIGTERM");
    assert!(status.success(), "{status}");
}

#[test]
fn worker_commands_have_help() {
    for args in [vec!["worker", "--help"], vec!["serve", "--help"]] {
        let out = leadline().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(help.contains("--data-dir"), "{args:?}");
    }
    let out = leadline().args(["serve", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--no-worker"));
}

#[test]
fn serve_no_worker_leaves_replies_to_a_separate_worker() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = leadline()
        .env("LEADLINE_DEBOUNCE_SECS", "0")
        .args([
            "serve",
            "--no-worker",
            "--data-dir",
            data,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let banner: Vec<String> = (0..4).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(
        banner
            .iter()
            .any(|l| l.contains("workers:") && l.contains("off")),
        "{banner:?}"
    );
    std::thread::spawn(move || lines.for_each(drop));

    // Sign up, create the sandbox channel and text it as a lead.
    let client = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("{base}/signup"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = csrf_in(&page);
    let r = client
        .post(format!("{base}/signup"))
        .form(&[
            ("business_name", "Acme"),
            ("name", "Dana"),
            ("email", "dana@example.com"),
            ("password", "blue-harbor-lantern-7"),
            ("csrf", &csrf),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = client
        .post(format!("{base}/app/sandbox/create"))
        .form(&[("csrf", &csrf)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = client
        .post(format!("{base}/app/sandbox/send"))
        .form(&[
            ("lead", "+15125550123"),
            ("body", "Hello?"),
            ("csrf", &csrf),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let thread = || {
        client
            .get(format!("{base}/app/sandbox/messages?lead=%2B15125550123"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(700));
    let before = thread();
    assert!(before.contains("Hello?"));
    assert!(
        !before.contains("AI assistant"),
        "no worker runs in serve --no-worker"
    );

    // The worker, on the same data directory, answers (delivered, or deferred at night).
    let mut worker = leadline()
        .env("LEADLINE_DEBOUNCE_SECS", "0")
        .args(["worker", "--data-dir", data])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut wlines = BufReader::new(worker.stdout.take().unwrap()).lines();
    assert_eq!(
        wlines.next().unwrap().unwrap(),
        "leadline worker is running"
    );
    std::thread::spawn(move || wlines.for_each(drop));
    let mut answered = false;
    for _ in 0..100 {
        if thread().contains("AI assistant") {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answered, "the worker answered: {}", thread());
    stop(worker);
    stop(server);
}

const SCRIPT: &str = r#"industry: insurance
business: {name: Acme Insurance, agent: Dana, state: TX}
lead: {phone: "+15125550123"}
start: 2026-12-07T15:00:00Z
turns:
  - lead: Hi, I saw your ad about life insurance
  - lead: I'm 42, married, two kids
  - wait: 2m
  - lead: STOP
  - wait: 1m
  - lead: hello?
"#;

#[test]
fn simulate_plays_a_script_through_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lead.yaml");
    std::fs::write(&path, SCRIPT).unwrap();
    let out = leadline()
        .args(["simulate", "--script", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lead"]["fields"]["age"], 42);
    assert_eq!(v["lead"]["fields"]["marital_status"], "married");
    assert_eq!(v["lead"]["opted_out"], true);
    let lines = v["transcript"].as_array().unwrap();
    let from: Vec<&str> = lines.iter().map(|l| l["from"].as_str().unwrap()).collect();
    // Two bubbles, one reply; STOP, one confirmation; then silence.
    assert_eq!(
        from,
        ["lead", "lead", "assistant", "lead", "system", "lead"],
        "{v}"
    );
    assert_eq!(lines[2]["gate"]["decision"], "send");
    assert_eq!(lines[2]["status"], "delivered");
    assert!(lines[4]["text"].as_str().unwrap().contains("unsubscribed"));

    // Readable by default.
    let out = leadline()
        .args(["simulate", "--script", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("marital_status: \"married\""));
}

#[test]
fn simulate_refuses_a_bad_script_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "industry: insurance\nbusiness: {name: Acme}\nlead: {phone: \"12\"}\n",
    )
    .unwrap();
    let out = leadline()
        .args(["simulate", "--script", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:3") && err.contains("phone"), "{err}");
    let out = leadline()
        .args(["simulate", "--engine", "openai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--engine openai` through the real pipeline against the OpenAI mock: the model's extraction
/// lands on the lead; bad engine flags are refused naming the flag.
#[test]
fn simulate_runs_a_model_engine_against_its_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(async {
        leadline_providers::mock::openai::OpenAiMock::start()
            .await
            .unwrap()
            .with_key("sk-sim")
    });
    mock.set_responder(|body| {
        let text = body["messages"].to_string();
        let id = text
            .rsplit("lead_message id=\\\"")
            .next()
            .and_then(|rest| rest.split('\\').next())
            .unwrap_or_default()
            .to_owned();
        let fields = if text.contains("I'm 42") {
            serde_json::json!([{"name": "age", "value": "42", "message_id": id, "confidence": 0.9}])
        } else {
            serde_json::json!([])
        };
        serde_json::json!({"reply": "Thanks! How old are you?", "fields": fields,
            "intent": "interested", "score": 50, "reasons": [],
            "next_action": {"kind": "reply", "at": null, "hand_off_reason": null}})
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lead.yaml");
    std::fs::write(&path, SCRIPT).unwrap();
    let base = mock.base_url().to_string();
    let out = leadline()
        .args(["simulate", "--script", path.to_str().unwrap(), "--json"])
        .args([
            "--engine",
            "openai",
            "--model",
            "gpt-sim",
            "--model-url",
            &base,
        ])
        .env("LEADLINE_MODEL_API_KEY", "sk-sim")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lead"]["fields"]["age"], 42, "{v}");
    assert_eq!(v["lead"]["opted_out"], true);
    assert!(!mock.requests().is_empty());
    let replies: Vec<&str> = v["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["from"] == "assistant")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(replies[0].contains("How old are you?"), "{v}");

    for (args, flag) in [
        (vec!["--engine", "gpt"], "--engine"),
        (
            vec!["--engine", "anthropic", "--model", "claude"],
            "--model-api-key",
        ),
        (
            vec!["--engine", "openai-compatible", "--model", "llama"],
            "--model-url",
        ),
    ] {
        let out = leadline()
            .arg("simulate")
            .args(&args)
            .env_remove("LEADLINE_MODEL_API_KEY")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    drop(rt);
}

#[test]
fn simulate_from_standard_input_is_a_terminal_sandbox() {
    use std::io::Write;
    let mut child = leadline()
        .args(["simulate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hi there\nSTOP\nhello?\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let replies: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("assistant"))
        .collect();
    assert_eq!(
        replies.len(),
        2,
        "a greeting and the one opt-out confirmation: {stdout}"
    );
    assert!(replies[1].contains("unsubscribed"));
}
