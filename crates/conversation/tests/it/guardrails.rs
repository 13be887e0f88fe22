//! Guardrails: each rule refuses what it should and passes what it should, and the default
//! guardrails accept every reply the playbook writes in the scripted-lead suite, unchanged.

use leadline_conversation::guardrails::{DEFAULT_DISCLOSURE, disclosure_budget};
use leadline_conversation::knowledge::KnowledgeBase;
use leadline_conversation::script::{Author, Script, run_script};
use leadline_conversation::{
    ChatLine, DisclosureWhen, GuardrailContext, GuardrailViolation, Guardrails, Personality,
    Speaker, check_reply,
};
use leadline_domain::compliance::normalize_gsm;
use leadline_domain::compliance::segments;
use leadline_domain::{BusinessProfile, E164Phone, Email};
use proptest::prelude::*;
use std::path::PathBuf;

fn profile() -> BusinessProfile {
    BusinessProfile {
        business_name: "Acme Insurance".into(),
        agent_name: "Dana".into(),
        phone: Some(E164Phone::parse("+15125550100").unwrap()),
        website: Some("https://www.acme-insurance.com".into()),
        ..BusinessProfile::default()
    }
}

fn kb() -> KnowledgeBase {
    let mut kb = KnowledgeBase::new();
    kb.add_qa("How much is a policy?", "Term plans start at $45 a month.");
    kb.add_document(
        "Rates",
        "Our level term rates are guaranteed for 20 years. Claims line: (512) 555-0111.",
    );
    kb
}

fn lead_line(text: &str) -> ChatLine {
    ChatLine {
        from: Speaker::Lead,
        text: text.to_owned(),
        message_ref: "m0".into(),
    }
}

fn assistant_line(text: &str) -> ChatLine {
    ChatLine {
        from: Speaker::Assistant,
        text: text.to_owned(),
        message_ref: "a0".into(),
    }
}

/// Checks `reply` later in a conversation (no disclosure due) with the given guardrails.
fn check_with(reply: &str, g: &Guardrails) -> Result<String, GuardrailViolation> {
    let history = [
        lead_line("Hi, I'm interested. My budget is $80 a month."),
        assistant_line("Thanks! What's your date of birth?"),
        lead_line("3/14/1985"),
    ];
    check_in(reply, g, &Personality::default(), &history, false)
}

fn check_in(
    reply: &str,
    g: &Guardrails,
    personality: &Personality,
    history: &[ChatLine],
    first: bool,
) -> Result<String, GuardrailViolation> {
    let profile = profile();
    let kb = kb();
    let lead_phone = E164Phone::parse("+15125550127").unwrap();
    let lead_email = Email::parse("sam@example.org").unwrap();
    check_reply(
        reply,
        &GuardrailContext {
            guardrails: g,
            personality,
            profile: &profile,
            knowledge: &kb,
            lead_phone: Some(&lead_phone),
            lead_email: Some(&lead_email),
            history,
            first_assistant_message: first,
        },
    )
}

fn check(reply: &str) -> Result<String, GuardrailViolation> {
    check_with(reply, &Guardrails::default())
}

#[test]
fn normalises_to_gsm_and_drops_emoji_when_off() {
    let out = check("Thanks \u{2014} that\u{2019}s \u{201C}great\u{201D} \u{1F642}").unwrap();
    assert_eq!(out, "Thanks - that's \"great\"");
    assert!(segments(&out).encoding == leadline_domain::compliance::Encoding::Gsm7);
    let emoji_on = Personality {
        emoji: true,
        ..Personality::default()
    };
    let history = [lead_line("hi")];
    let g = Guardrails {
        disclosure: DisclosureWhen::Never,
        ..Guardrails::default()
    };
    let out = check_in("Great, thanks! \u{1F642}", &g, &emoji_on, &history, false).unwrap();
    assert_eq!(out, "Great, thanks! \u{1F642}");
    assert_eq!(check("   "), Err(GuardrailViolation::Empty));
    assert_eq!(check("\u{1F642}"), Err(GuardrailViolation::Empty));
}

#[test]
fn disclosure_is_prepended_when_due_and_only_then() {
    let g = Guardrails::default();
    let me = Personality::default();
    let history = [lead_line("Hi, I saw your ad")];
    let out = check_in("What's your date of birth?", &g, &me, &history, true).unwrap();
    assert_eq!(
        out,
        "This is Alex, an automated assistant for Acme Insurance. What's your date of birth?"
    );
    // A reply that already says it is automated is not given the line twice.
    let own = "Hi! I'm Alex, Dana's virtual assistant. What's your date of birth?";
    assert_eq!(check_in(own, &g, &me, &history, true).unwrap(), own);
    // Later messages: not again, unless the lead asks.
    let later = [
        lead_line("Hi"),
        assistant_line("Hi! I'm Alex, Dana's virtual assistant."),
        lead_line("ok"),
    ];
    assert_eq!(
        check_in("Great.", &g, &me, &later, false).unwrap(),
        "Great."
    );
    let asked = [
        lead_line("Hi"),
        assistant_line("Hi! I'm Alex, Dana's virtual assistant."),
        lead_line("wait, am I talking to a bot?"),
    ];
    assert!(
        check_in("Good question!", &g, &me, &asked, false)
            .unwrap()
            .starts_with("This is Alex, an automated assistant")
    );
    // When asked only.
    let when_asked = Guardrails {
        disclosure: DisclosureWhen::WhenAsked,
        ..Guardrails::default()
    };
    assert_eq!(
        check_in("Hello there.", &when_asked, &me, &history, true).unwrap(),
        "Hello there."
    );
    assert!(
        check_in("Hello there.", &when_asked, &me, &asked, false)
            .unwrap()
            .starts_with("This is Alex")
    );
    let never = Guardrails {
        disclosure: DisclosureWhen::Never,
        ..Guardrails::default()
    };
    assert_eq!(
        check_in("Hello there.", &never, &me, &asked, true).unwrap(),
        "Hello there."
    );
    // Placeholders are filled.
    let custom = Guardrails {
        ai_disclosure: "Automated text from {business} for {agent}.".into(),
        ..Guardrails::default()
    };
    assert_eq!(
        check_in("Hello there.", &custom, &me, &history, true).unwrap(),
        "Automated text from Acme Insurance for Dana. Hello there."
    );
    assert!(DEFAULT_DISCLOSURE.contains("{assistant}"));
}

#[test]
fn the_disclosure_never_gives_way_to_length() {
    let g = Guardrails::default();
    let me = Personality::default();
    let history = [lead_line("Hi")];
    let budget = disclosure_budget(&g, &me, &profile(), &history, true);
    let line_len = "This is Alex, an automated assistant for Acme Insurance.".len();
    assert_eq!(budget, 306 - line_len - 1);
    let fits = "a".repeat(budget);
    let out = check_in(&fits, &g, &me, &history, true).unwrap();
    assert!(out.starts_with("This is Alex") && out.len() == 306);
    let over = "a".repeat(budget + 1);
    match check_in(&over, &g, &me, &history, true) {
        Err(GuardrailViolation::TooLong {
            with_disclosure: true,
            segments: 3,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // Without the line due, the same text fits.
    assert!(check_in(&over, &g, &me, &history, false).is_ok());
}

#[test]
fn segment_and_length_limits() {
    assert!(check(&"a".repeat(306)).is_ok());
    let err = check(&"a".repeat(307)).unwrap_err();
    assert!(
        matches!(
            err,
            GuardrailViolation::TooLong {
                segments: 3,
                with_disclosure: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("too long"), "{err}");
    let short = Personality {
        max_len: 60,
        ..Personality::default()
    };
    let g = Guardrails::default();
    let history = [
        lead_line("hi"),
        assistant_line("Hi, I'm Alex, a virtual assistant."),
    ];
    assert!(check_in(&"b".repeat(60), &g, &short, &history, false).is_ok());
    assert!(check_in(&"b".repeat(61), &g, &short, &history, false).is_err());
    // With emoji on, an emoji that pushes the text into UCS-2 is dropped to fit.
    let emoji_on = Personality {
        emoji: true,
        ..Personality::default()
    };
    let long = format!("{} \u{1F642}", "c".repeat(150));
    let out = check_in(&long, &g, &emoji_on, &history, false).unwrap();
    assert_eq!(out, "c".repeat(150));
}

#[test]
fn banned_phrases_and_topics() {
    let g = Guardrails {
        banned_phrases: vec!["no-brainer".into(), "cat".into()],
        banned_topics: vec!["elections".into()],
        ..Guardrails::default()
    };
    assert_eq!(
        check_with("Honestly it's a No Brainer!", &g),
        Err(GuardrailViolation::BannedPhrase("no-brainer".into()))
    );
    // Whole words only.
    assert!(check_with("Which category fits you?", &g).is_ok());
    assert_eq!(
        check_with("Big election coming up, huh?", &g),
        Err(GuardrailViolation::BannedTopic("elections".into()))
    );
    let err = check_with("Big ELECTIONS!", &g).unwrap_err();
    assert!(
        err.to_string().contains("banned topic 'elections'"),
        "{err}"
    );
    assert!(check_with("What's your date of birth?", &g).is_ok());
}

#[test]
fn links_only_when_allowed_and_to_allowed_domains() {
    let err = check("Get a quote at acme-insurance.com/quote today").unwrap_err();
    assert!(
        matches!(&err, GuardrailViolation::Link { link, .. } if link == "acme-insurance.com/quote"),
        "{err:?}"
    );
    assert!(check("See https://example.net").is_err());
    assert!(check("See www.example.net").is_err());
    // Not links.
    assert!(check("Dr. Patel will call, e.g. tomorrow at 9 a.m. or so.").is_ok());
    let allowed = Guardrails {
        allow_links: true,
        link_domains: vec!["calendly.com".into()],
        ..Guardrails::default()
    };
    assert!(check_with("Book here: https://calendly.com/dana", &allowed).is_ok());
    assert!(check_with("Details: www.acme-insurance.com/life.", &allowed).is_ok());
    let err = check_with("Details: bit.ly/3xYz", &allowed).unwrap_err();
    assert!(err.to_string().contains("bit.ly/3xYz"), "{err}");
}

#[test]
fn never_claims_to_be_human() {
    for reply in [
        "I'm a real person, promise!",
        "No, I am not a bot.",
        "Haha I\u{2019}m human too",
        "I'm not an AI, just quick at typing",
        "Hi, I'm Dana. What's your date of birth?",
        "This is Dana from Acme.",
    ] {
        assert!(
            matches!(check(reply), Err(GuardrailViolation::ClaimsHuman(_))),
            "{reply}"
        );
    }
    for reply in [
        "I'm an automated assistant; Dana is a real person and can jump in anytime.",
        "I'm Alex, Dana's virtual assistant.",
        "I'm really glad you asked.",
    ] {
        assert!(check(reply).is_ok(), "{reply}");
    }
}

#[test]
fn prices_only_from_the_knowledge_base_unless_allowed() {
    assert_eq!(
        check("That plan is $99 a month."),
        Err(GuardrailViolation::Price("$99 a month".into()))
    );
    assert!(matches!(
        check("It costs 120 dollars."),
        Err(GuardrailViolation::Price(_))
    ));
    // Stated by the knowledge base, echoed from the lead, or a format example: fine.
    assert!(check("Term plans start at $45/mo.").is_ok());
    assert!(check("Got it, $80 a month works.").is_ok());
    assert!(check("What's your budget? (a rough number is fine, like $100)").is_ok());
    // Not amounts at all.
    assert!(check("We're open 9am to 5pm, and 30% of clients renew.").is_ok());
    let may = Guardrails {
        may_quote_prices: true,
        ..Guardrails::default()
    };
    assert!(check_with("That plan is $99 a month.", &may).is_ok());
}

#[test]
fn promises_only_from_the_knowledge_base_unless_allowed() {
    assert_eq!(
        check("You'll be approved, no problem."),
        Err(GuardrailViolation::Promise("youll be approved".into()))
    );
    assert!(matches!(
        check("It's totally risk-free."),
        Err(GuardrailViolation::Promise(_))
    ));
    // The knowledge base says rates are guaranteed.
    assert!(check("Level term rates are guaranteed for 20 years.").is_ok());
    let may = Guardrails {
        may_promise: true,
        ..Guardrails::default()
    };
    assert!(check_with("It's totally risk-free.", &may).is_ok());
}

#[test]
fn contact_details_only_the_business_s_and_the_lead_s_own() {
    for ok in [
        "We'll call you at (512) 555-0127.",
        "Our office line is 512-555-0100.",
        "Claims: (512) 555-0111.",
        "We'll email sam@example.org.",
        "Write to dana@acme-insurance.com.",
    ] {
        assert!(check(ok).is_ok(), "{ok}");
    }
    assert_eq!(
        check("Call Pat at 512-555-0199 instead."),
        Err(GuardrailViolation::ForeignContact("+15125550199".into()))
    );
    assert_eq!(
        check("Your neighbour jo@gmail.com signed up too."),
        Err(GuardrailViolation::ForeignContact("jo@gmail.com".into()))
    );
}

/// Every reply the playbook sends in the scripted suite passes the default guardrails as it is:
/// nothing refused, nothing added.
#[test]
fn default_guardrails_accept_every_playbook_reply() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    let g = Guardrails::default();
    let mut checked = 0;
    for path in files {
        let script = Script::from_yaml(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let transcript = run_script(&script);
        let profile = script.profile();
        let kb = KnowledgeBase::from_items(&script.knowledge);
        let mut history: Vec<ChatLine> = Vec::new();
        for (i, line) in transcript.transcript.iter().enumerate() {
            let from = match line.from {
                Author::Lead => Speaker::Lead,
                Author::Assistant => Speaker::Assistant,
                Author::System => continue,
            };
            if from == Speaker::Assistant {
                let first = !history.iter().any(|l| l.from == Speaker::Assistant);
                let ctx = GuardrailContext {
                    guardrails: &g,
                    personality: &script.personality,
                    profile: &profile,
                    knowledge: &kb,
                    lead_phone: Some(&script.lead.phone),
                    lead_email: None,
                    history: &history,
                    first_assistant_message: first,
                };
                assert_eq!(
                    check_reply(&line.text, &ctx).as_deref(),
                    Ok(line.text.as_str()),
                    "{}",
                    path.display()
                );
                checked += 1;
            }
            history.push(ChatLine {
                from,
                text: line.text.clone(),
                message_ref: format!("m{i}"),
            });
        }
    }
    assert!(checked >= 100, "only {checked} replies checked");
}

proptest! {
    /// Any text: no panic, and whatever passes is normalised and within the limits.
    #[test]
    fn any_reply_is_checked_without_panicking(reply in "\\PC{0,400}", first in any::<bool>()) {
        let history = [lead_line("are you a bot?")];
        let g = Guardrails::default();
        if let Ok(out) = check_in(&reply, &g, &Personality::default(), &history, first) {
            prop_assert!(out.chars().count() <= 320);
            prop_assert!(segments(&out).segments <= 2);
            prop_assert_eq!(normalize_gsm(&out), out.clone());
            prop_assert!(out.starts_with("This is Alex") || out.to_lowercase().contains("automated")
                || out.to_lowercase().contains("virtual assistant") || out.to_lowercase().contains("a bot")
                || out.to_lowercase().contains("an ai") || out.to_lowercase().contains("ai assistant")
                || out.to_lowercase().contains("chatbot"));
        }
    }
}
