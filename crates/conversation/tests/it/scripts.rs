//! The scripted-lead suite: every `tests/scripts/*.yaml` is run through the playbook engine and
//! checked against its `expect:` block. Behaviour expectations (stage, intent, hand-off,
//! replies) must all hold; field extraction is measured and held above a floor:
//!
//! - required-field accuracy: of the expected values of required fields, the share extracted
//!   with exactly that value;
//! - median turns to qualify: engine turns (reply cycles) until every required field is known,
//!   over the scripts that get there.
//!
//! Run with `--nocapture` to see the figures; set `SHOW_TRANSCRIPTS=1` to print every transcript.

use leadline_conversation::script::{Author, Script, run_script};
use leadline_domain::compliance::{normalize_gsm, segments};
use std::path::PathBuf;

/// Floors, set just under what the suite measures so a regression fails.
const REQUIRED_ACCURACY_FLOOR: f64 = 0.95;
const MEDIAN_TURNS_CEILING: f64 = 6.0;

fn scripts() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn scripted_leads_suite() {
    let show = std::env::var_os("SHOW_TRANSCRIPTS").is_some();
    let mut failures: Vec<String> = Vec::new();
    let (mut req_total, mut req_ok, mut all_total, mut all_ok, mut wrong) = (0, 0, 0, 0, 0);
    let mut turns_to_qualify: Vec<usize> = Vec::new();
    let mut qualifiable = 0;
    let all = scripts();
    assert!(all.len() >= 20, "the suite needs at least 20 scripts");
    for (name, text) in &all {
        let script = Script::from_yaml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expect = script
            .expect
            .clone()
            .unwrap_or_else(|| panic!("{name}: no expect block"));
        let t = run_script(&script);
        assert_eq!(run_script(&script), t, "{name}: not deterministic");
        if show {
            println!("--- {name}");
            for l in &t.transcript {
                println!("  [{:?}] {}", l.from, l.text);
            }
            println!("  => {}", serde_json::to_string(&t.lead).unwrap());
        }
        let mut fail = |why: String| failures.push(format!("{name}: {why}"));

        for (field, expected) in &expect.fields {
            let required = script.schema.field(field).is_some_and(|f| f.required);
            let got = t.values.get(field);
            let ok = got.is_some_and(|v| v.matches_json(expected));
            all_total += 1;
            all_ok += usize::from(ok);
            if required {
                req_total += 1;
                req_ok += usize::from(ok);
            }
            if !ok {
                if got.is_some() {
                    wrong += 1;
                }
                println!(
                    "  miss {name}: {field} expected {expected}, got {}",
                    got.map_or("nothing".to_owned(), |v| v.to_json().to_string())
                );
            }
        }
        for field in &expect.absent {
            if let Some(v) = t.values.get(field) {
                wrong += 1;
                fail(format!("{field} should be empty, got {}", v.to_json()));
            }
        }
        // Values for fields the script does not mention are wrong unless it says nothing.
        for (field, v) in &t.values {
            if !expect.fields.contains_key(field) && !expect.absent.contains(field) {
                println!("  extra {name}: {field} = {}", v.to_json());
            }
        }
        let lead = &t.lead;
        if let Some(stage) = &expect.stage
            && &lead.stage != stage
        {
            fail(format!("stage {} != {stage}", lead.stage));
        }
        if let Some(intent) = &expect.intent
            && lead.intent.as_str() != intent
        {
            fail(format!("intent {} != {intent}", lead.intent.as_str()));
        }
        if let Some(o) = expect.opted_out
            && lead.opted_out != o
        {
            fail(format!("opted_out {} != {o}", lead.opted_out));
        }
        if let Some(h) = expect.handoff
            && lead.handoff.is_some() != h
        {
            fail(format!("handoff {:?}, expected {h}", lead.handoff));
        }
        if let Some(f) = expect.flagged
            && (lead.handoff.is_some() || !lead.flags.is_empty()) != f
        {
            fail(format!("flags {:?}, expected flagged = {f}", lead.flags));
        }
        let replies: Vec<&str> = t
            .transcript
            .iter()
            .filter(|l| l.from == Author::Assistant)
            .map(|l| l.text.as_str())
            .collect();
        for phrase in &expect.reply_contains {
            let p = phrase.to_lowercase();
            if !replies.iter().any(|r| r.to_lowercase().contains(&p)) {
                fail(format!("no reply contains {phrase:?}"));
            }
        }
        for phrase in &expect.reply_excludes {
            let p = phrase.to_lowercase();
            if let Some(r) = replies.iter().find(|r| r.to_lowercase().contains(&p)) {
                fail(format!("reply contains {phrase:?}: {r}"));
            }
        }
        for r in &replies {
            if r.chars().count() > 320 || segments(r).segments > 2 || normalize_gsm(r) != *r {
                fail(format!("reply over limits or not normalised: {r}"));
            }
        }
        // After an opt-out or a pausing hand-off, nothing more is sent.
        if let Some(stop) = t.transcript.iter().position(|l| {
            l.from == Author::System
                && (l.text.starts_with("lead opted out") || l.text.starts_with("handed off"))
        }) && t.transcript[stop..]
            .iter()
            .any(|l| l.from == Author::Assistant)
        {
            fail("assistant replied after an opt-out or hand-off".to_owned());
        }
        let required_expected = script
            .schema
            .required()
            .all(|f| expect.fields.contains_key(&f.name) || expect.absent.contains(&f.name));
        if required_expected
            && script
                .schema
                .required()
                .all(|f| expect.fields.contains_key(&f.name))
        {
            qualifiable += 1;
        }
        if let Some(n) = t.turns_to_qualify {
            turns_to_qualify.push(n);
        }
    }
    turns_to_qualify.sort_unstable();
    let median = match turns_to_qualify.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => turns_to_qualify[n / 2] as f64,
        n => (turns_to_qualify[n / 2 - 1] + turns_to_qualify[n / 2]) as f64 / 2.0,
    };
    let req_acc = req_ok as f64 / req_total.max(1) as f64;
    println!("scripted leads: {}", all.len());
    println!(
        "required fields extracted correctly: {req_ok}/{req_total} = {:.3}",
        req_acc
    );
    println!(
        "all expected fields extracted correctly: {all_ok}/{all_total} = {:.3}; wrong values: {wrong}",
        all_ok as f64 / all_total.max(1) as f64
    );
    println!(
        "qualified: {} of {qualifiable} fully-qualifiable scripts; median turns to qualify: {median} (turns: {turns_to_qualify:?})",
        turns_to_qualify.len()
    );
    assert!(
        failures.is_empty(),
        "behaviour failures:\n{}",
        failures.join("\n")
    );
    assert!(
        req_acc >= REQUIRED_ACCURACY_FLOOR,
        "required-field accuracy {req_acc:.3} fell below {REQUIRED_ACCURACY_FLOOR}"
    );
    assert!(
        median <= MEDIAN_TURNS_CEILING,
        "median turns to qualify {median} rose above {MEDIAN_TURNS_CEILING}"
    );
}
