//! `leadline compliance` from the command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn leadline(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .arg("compliance")
        .args(args)
        .env_remove("LEADLINE_CONFIG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run leadline");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn one(args: &[&str]) -> Value {
    let mut v = json_lines(&leadline(args, None));
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn fails_with_2(args: &[&str], flag: &str) {
    let out = leadline(args, None);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with(&format!("error: {flag}: ")), "{err}");
}

#[test]
fn classify_one_text() {
    let v = one(&["classify", "Please stop texting me"]);
    assert_eq!(v["text"], "Please stop texting me");
    assert_eq!(v["class"], "stop");
    assert_eq!(v["must_stop"], true);
    assert_eq!(v["matched"], "please stop texting me");
    assert!(v["reason"].as_str().unwrap().contains("64.1200"));

    let v = one(&["classify", "can you stop by tomorrow?"]);
    assert_eq!(v["class"], "none");
    assert_eq!(v["must_stop"], false);
    assert!(v["matched"].is_null());
}

#[test]
fn classify_yes_needs_opted_out() {
    assert_eq!(one(&["classify", "YES"])["class"], "none");
    let v = one(&["classify", "--opted-out", "YES"]);
    assert_eq!(v["class"], "start");
    assert_eq!(v["must_stop"], false);
}

#[test]
fn classify_reads_stdin_line_by_line() {
    let out = leadline(
        &["classify"],
        Some("STOP\nhelp\r\nstart\nsee you at 5\n\u{FF33}\u{FF34}\u{FF2F}\u{FF30}\n"),
    );
    let v = json_lines(&out);
    let classes: Vec<&str> = v.iter().map(|x| x["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["stop", "help", "start", "none", "stop"]);
    assert_eq!(v[1]["text"], "help", "CR stripped");
    // Without a trailing newline the last line still counts.
    let out = leadline(&["classify"], Some("leave me alone"));
    assert_eq!(json_lines(&out)[0]["class"], "stop");
}

#[test]
fn window_send_defer_and_block() {
    // 850 (Florida panhandle), 2026-07-15: allowed 13:00–00:00 UTC.
    let v = one(&[
        "window",
        "--phone",
        "+18505551234",
        "--at",
        "2026-07-15T12:59:00Z",
    ]);
    assert_eq!(v["decision"], "defer");
    assert_eq!(v["next_allowed_at"], "2026-07-15T13:00:00Z");
    assert_eq!(
        v["zones"],
        serde_json::json!(["America/Chicago", "America/New_York"])
    );
    assert_eq!(v["state"], "FL");
    assert_eq!(v["states"], serde_json::json!(["FL"]));
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("Florida"))
    );
    assert!(
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Florida: 8:00–20:00 local (Fla. Stat. §501.616)")
    );

    let v = one(&[
        "window",
        "--phone",
        "(850) 555-1234",
        "--at",
        "2026-07-15T09:00:00-04:00",
    ]);
    assert_eq!(v["decision"], "send");
    assert_eq!(v["next_allowed_at"], "2026-07-15T13:00:00Z");

    let v = one(&[
        "window",
        "--phone",
        "+12125550123",
        "--at",
        "2026-07-18T19:00:00Z",
        "--quiet-hours",
        "daily 22:00-23:00",
    ]);
    assert_eq!(v["decision"], "block");
    assert!(v["next_allowed_at"].is_null());
}

#[test]
fn window_options() {
    // Explicit zone overrides the number.
    let v = one(&[
        "window",
        "--phone",
        "+12125550123",
        "--at",
        "2026-07-15T12:30:00Z",
        "--tz",
        "America/Los_Angeles",
    ]);
    assert_eq!(v["zones"], serde_json::json!(["America/Los_Angeles"]));
    assert_eq!(v["next_allowed_at"], "2026-07-15T15:00:00Z");
    // Address state adds its rules.
    let v = one(&[
        "window",
        "--phone",
        "+12125550123",
        "--at",
        "2026-07-16T00:30:00Z",
        "--state",
        "fl",
    ]);
    assert_eq!(v["decision"], "defer");
    assert_eq!(v["state"], "NY");
    assert_eq!(v["states"], serde_json::json!(["FL", "NY"]));
    // Transactional at 2 a.m. goes out.
    let v = one(&[
        "window",
        "--phone",
        "+12125550123",
        "--at",
        "2026-07-15T06:00:00Z",
        "--kind",
        "transactional",
    ]);
    assert_eq!(v["decision"], "send");
    // A reply waits by default, unless the owner relaxed legal hours for replies.
    let args = [
        "window",
        "--phone",
        "+12125550123",
        "--at",
        "2026-07-15T06:00:00Z",
        "--kind",
        "reply",
    ];
    assert_eq!(one(&args)["decision"], "defer");
    let mut relaxed = args.to_vec();
    relaxed.extend(["--relax", "replies-legal-hours"]);
    assert_eq!(one(&relaxed)["decision"], "send");
    // Florida cap: the fourth send in 24 h waits until the oldest ages out.
    let v = one(&[
        "window",
        "--phone",
        "+13055550123",
        "--at",
        "2026-07-14T17:00:00Z",
        "--sent",
        "2026-07-14T14:00:00Z",
        "--sent",
        "2026-07-14T15:00:00Z",
        "--sent",
        "2026-07-14T16:00:00Z",
    ]);
    assert_eq!(v["next_allowed_at"], "2026-07-15T14:00:00Z");
    // Utah on Sunday: consent decides.
    let sunday = [
        "window",
        "--phone",
        "+18015550123",
        "--at",
        "2026-07-19T18:00:00Z",
    ];
    assert_eq!(one(&sunday)["decision"], "defer");
    let mut consented = sunday.to_vec();
    consented.push("--prior-consent");
    assert_eq!(one(&consented)["decision"], "send");
    // Owner quiet hours in the documented format.
    let v = one(&[
        "window",
        "--phone",
        "+12125550123",
        "--at",
        "2026-07-18T19:00:00Z",
        "--quiet-hours",
        "mon-fri 09:00-18:00,sat 10:00-14:00",
    ]);
    assert_eq!(v["next_allowed_at"], "2026-07-20T13:00:00Z");
}

#[test]
fn window_rejects_bad_arguments_with_exit_2() {
    let at = "2026-07-15T12:00:00Z";
    fails_with_2(
        &["window", "--phone", "+1 012 555 0123", "--at", at],
        "--phone",
    );
    fails_with_2(&["window", "--phone", "call me", "--at", at], "--phone");
    fails_with_2(
        &[
            "window",
            "--phone",
            "+12125550123",
            "--at",
            "2026-07-15 12:00",
        ],
        "--at",
    );
    fails_with_2(
        &["window", "--phone", "+12125550123", "--at", "yesterday"],
        "--at",
    );
    fails_with_2(
        &[
            "window",
            "--phone",
            "+12125550123",
            "--at",
            at,
            "--tz",
            "Mars/Olympus",
        ],
        "--tz",
    );
    fails_with_2(
        &[
            "window",
            "--phone",
            "+12125550123",
            "--at",
            at,
            "--state",
            "ZZ",
        ],
        "--state",
    );
    fails_with_2(
        &[
            "window",
            "--phone",
            "+12125550123",
            "--at",
            at,
            "--quiet-hours",
            "mon-fri 9-18",
        ],
        "--quiet-hours",
    );
    fails_with_2(
        &[
            "window",
            "--phone",
            "+12125550123",
            "--at",
            at,
            "--sent",
            "nope",
        ],
        "--sent",
    );
    let err = String::from_utf8(
        leadline(&["window", "--phone", "+1 012 555 0123", "--at", at], None).stderr,
    )
    .unwrap();
    assert!(
        err.contains("'+1 012 555 0123' is not a valid phone number"),
        "{err}"
    );
    // Missing required flags and unknown kinds are clap usage errors: also exit 2.
    assert_eq!(
        leadline(&["window", "--at", at], None).status.code(),
        Some(2)
    );
    assert_eq!(
        leadline(
            &[
                "window",
                "--phone",
                "+12125550123",
                "--at",
                at,
                "--kind",
                "spam"
            ],
            None
        )
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn segments_one_text_and_stdin() {
    let v = one(&["segments", "It\u{2019}s"]);
    assert_eq!(v["encoding"], "UCS-2");
    assert_eq!(v["segments"], 1);
    assert_eq!(v["units"], 4);
    assert_eq!(v["normalized"], "It's");
    assert_eq!(v["normalized_segments"], 1);
    assert_eq!(v["normalized_encoding"], "GSM-7");

    let long = "a".repeat(152) + "€" + &"a".repeat(152);
    let input = format!("Hello\n{long}\nHi 👋\n");
    let v = json_lines(&leadline(&["segments"], Some(&input)));
    assert_eq!(v.len(), 3);
    assert_eq!(
        (
            v[0]["encoding"].as_str(),
            v[0]["segments"].as_u64(),
            v[0]["units"].as_u64()
        ),
        (Some("GSM-7"), Some(1), Some(5))
    );
    assert_eq!(
        (v[1]["segments"].as_u64(), v[1]["units"].as_u64()),
        (Some(3), Some(306))
    );
    assert_eq!(
        (v[2]["encoding"].as_str(), v[2]["units"].as_u64()),
        (Some("UCS-2"), Some(5))
    );
}
