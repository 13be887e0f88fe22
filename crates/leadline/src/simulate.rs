//! `leadline simulate`: a conversation on a virtual clock against a fresh, throw-away account,
//! through the real pipeline (sandbox channel, compliance intake, debounce, send gate, engine).
//!
//! With `--script FILE` it plays a YAML script (issue format: `industry` or inline `schema` and
//! `knowledge`, `business`, `lead`, `start`, `turns`) and prints the transcript; without one it
//! reads the lead's texts from standard input, one per line, and prints each reply as it comes.

use anyhow::Context;
use clap::Args;
use jiff::{SignedDuration, Timestamp};
use leadline_app::{KeyRing, MasterKey, SecretsService};
use leadline_conversation::script::ScriptTurn;
use leadline_conversation::{
    AssistantSettings, EngineKind, ExtractionSchema, Industry, KnowledgeBase, ModelSettings,
    Personality, Script, Strategy,
};
use leadline_domain::ids::ChannelId;
use leadline_domain::{AccountId, BusinessProfile, E164Phone, Email, UserId};
use leadline_engine::assistant::{AssistantConfig, AssistantReplies};
use leadline_engine::providers::ProviderFactory;
use leadline_engine::{Engine, EngineConfig};
use leadline_providers::messaging::sandbox::SandboxProvider;
use leadline_store::{
    Author, Channel, Direction, LeadInput, Message, MessageStatus, NewChannel, NewSignup, NewUser,
    Store,
};
use secrecy::SecretString;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

const SANDBOX_NUMBER: &str = "+15125550100";
const DEBOUNCE: SignedDuration = SignedDuration::from_secs(5);

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A YAML script; without it, the lead's texts are read from standard input.
    #[arg(long)]
    script: Option<std::path::PathBuf>,
    /// The reply engine: playbook, openai, anthropic or openai-compatible. A model engine falls
    /// back to the playbook for a turn when the model fails or answers invalidly twice.
    #[arg(long, default_value = "playbook")]
    engine: String,
    /// The model name for a model engine (e.g. gpt-4o-mini, claude-3-5-haiku-latest, llama3.1).
    #[arg(long)]
    model: Option<String>,
    /// The model server's base URL: required for openai-compatible, optional (a proxy or a
    /// local mock) for openai and anthropic.
    #[arg(long)]
    model_url: Option<String>,
    /// The model API key (or the LEADLINE_MODEL_API_KEY environment variable).
    #[arg(long, env = "LEADLINE_MODEL_API_KEY", hide_env_values = true)]
    model_api_key: Option<String>,
    /// Print one JSON object instead of a readable transcript.
    #[arg(long)]
    json: bool,
}

/// Runs the command; exit code 2 for a bad script or arguments.
pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let model = match model_settings(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let script = match &args.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            match Script::from_yaml(&text) {
                Ok(s) => Some(s),
                Err(e) => {
                    let place = e
                        .line
                        .map(|l| format!("{}:{l}: ", path.display()))
                        .unwrap_or_else(|| format!("{}: ", path.display()));
                    eprintln!("error: {place}{}", e.message);
                    return Ok(ExitCode::from(2));
                }
            }
        }
        None => None,
    };
    let sim = Sim::start(script.as_ref(), model).await?;
    match script {
        Some(script) => {
            let at = sim.play(&script).await?;
            let out = sim.report(at).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_readable(&out);
            }
        }
        None => sim.interactive().await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The model settings the flags ask for; `Err` names the flag at fault.
fn model_settings(args: &SimulateArgs) -> Result<(ModelSettings, Option<SecretString>), String> {
    let engine: EngineKind = args.engine.parse().map_err(|e| format!("--engine: {e}"))?;
    let settings = ModelSettings {
        engine,
        model: args.model.clone().unwrap_or_default(),
        base_url: args.model_url.clone(),
        temperature: 0.0,
        monthly_token_budget: 0,
    };
    if engine != EngineKind::Playbook {
        let check = AssistantSettings {
            model: settings.clone(),
            ..AssistantSettings::default()
        };
        if let Some(e) = check
            .validate("generic")
            .into_iter()
            .find(|e| e.field.starts_with("model"))
        {
            let flag = match e.field {
                "model.model" => "--model",
                "model.base_url" => "--model-url",
                _ => "--engine",
            };
            return Err(format!("{flag}: {}", e.message));
        }
        if args.model_api_key.is_none() && engine != EngineKind::OpenAiCompatible {
            return Err(format!(
                "--model-api-key: the {} engine needs an API key (or set LEADLINE_MODEL_API_KEY)",
                engine.as_str()
            ));
        }
    }
    Ok((settings, args.model_api_key.clone().map(SecretString::from)))
}

struct Sim {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    engine: Engine,
    channel: Channel,
    account: AccountId,
    lead_phone: E164Phone,
}

impl Sim {
    async fn start(
        script: Option<&Script>,
        model: (ModelSettings, Option<SecretString>),
    ) -> anyhow::Result<Sim> {
        let dir = tempfile::tempdir()?;
        let url = leadline_store_sql::DatabaseUrl::sqlite_file(&dir.path().join("simulate.db"));
        let store = leadline_store_sql::connect(&url).await?;
        let account = AccountId::new();
        let profile = script
            .map(Script::profile)
            .unwrap_or_else(|| BusinessProfile {
                business_name: "Sandbox Business".into(),
                agent_name: "Sam".into(),
                ..Default::default()
            });
        store
            .sign_up(NewSignup {
                user: NewUser {
                    id: UserId::new(),
                    email: Email::parse("simulator@leadline.invalid")?,
                    name: "Simulator".into(),
                    password_hash: None,
                    google_subject: None,
                },
                account_id: account,
                profile,
            })
            .await?;
        let channel = store
            .create_channel(NewChannel {
                id: ChannelId::new(),
                account_id: account,
                provider: "sandbox".into(),
                name: "Simulator".into(),
                address: SANDBOX_NUMBER.into(),
                webhook_token: "simulator".into(),
                settings: serde_json::json!({}),
                send_rate_per_minute: 60,
            })
            .await?;
        let config = match script {
            Some(s) => AssistantConfig::playbook(
                s.schema.clone(),
                KnowledgeBase::from_items(&s.knowledge),
                s.personality.clone(),
                s.strategy.clone(),
            ),
            None => AssistantConfig::playbook(
                Industry::Generic.schema(),
                KnowledgeBase::new(),
                Personality::default(),
                Strategy::default(),
            ),
        };
        let mut config = config;
        (config.model, config.api_key) = model;
        let _: &ExtractionSchema = &config.schema;
        let lead_phone = match script {
            Some(s) => s.lead.phone.clone(),
            None => E164Phone::parse("+15125550123")?,
        };
        if let Some(s) = script {
            // The business's state says nothing about where the lead is; only the number does.
            store
                .upsert_lead(
                    account,
                    &lead_phone,
                    LeadInput {
                        name: s.lead.name.clone(),
                        time_zone: s.lead.time_zone.clone(),
                        ..Default::default()
                    },
                )
                .await?;
        }
        let secrets = Arc::new(SecretsService::new(
            store.clone(),
            KeyRing::from_keys(vec![MasterKey::generate()]),
        ));
        let engine = Engine::new(
            store.clone(),
            ProviderFactory::new(secrets, Arc::new(SandboxProvider::new())),
            Arc::new(AssistantReplies::with_config(store.clone(), config)),
            EngineConfig {
                debounce: DEBOUNCE,
                ..Default::default()
            },
        );
        Ok(Sim {
            _dir: dir,
            store,
            engine,
            channel,
            account,
            lead_phone,
        })
    }

    async fn text_in(&self, text: &str, at: Timestamp) -> anyhow::Result<()> {
        let event = SandboxProvider::inbound(self.lead_phone.clone(), SANDBOX_NUMBER, text);
        self.engine.handle_inbound(&self.channel, event, at).await?;
        Ok(())
    }

    /// Runs the workers at `at` until nothing more is due.
    async fn drive(&self, at: Timestamp) -> anyhow::Result<()> {
        for _ in 0..16 {
            let jobs = self.engine.run_jobs_once(at).await?;
            let sent = self.engine.run_outbound_once(at).await?;
            if jobs + sent == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Plays the script; bubbles without a `wait` between them form one burst, answered once
    /// after the debounce window. Returns the final virtual instant.
    async fn play(&self, script: &Script) -> anyhow::Result<Timestamp> {
        let mut at = script.start;
        let mut pending = false;
        for turn in &script.turns {
            match turn {
                ScriptTurn::Lead(text) => {
                    self.text_in(text, at).await?;
                    at = at.checked_add(SignedDuration::from_secs(1))?;
                    pending = true;
                }
                ScriptTurn::Wait(d) => {
                    if pending {
                        self.drive(at.checked_add(DEBOUNCE)?).await?;
                        pending = false;
                    }
                    at = at.checked_add(*d)?;
                    self.drive(at).await?;
                }
            }
        }
        at = at.checked_add(DEBOUNCE)?;
        self.drive(at).await?;
        Ok(at)
    }

    async fn thread(&self) -> anyhow::Result<Vec<Message>> {
        let Some(lead) = self
            .store
            .find_lead_by_phone(self.account, &self.lead_phone)
            .await?
        else {
            return Ok(Vec::new());
        };
        let conv = self
            .store
            .conversation_for(self.account, lead.id, self.channel.id)
            .await?;
        Ok(self.store.messages(self.account, conv.id).await?)
    }

    async fn report(&self, _at: Timestamp) -> anyhow::Result<serde_json::Value> {
        // Virtual times: inbound at receipt, outbound when sent (or when it is due, if held).
        let virtual_at = |m: &Message| m.sent_at.or(m.due_at).unwrap_or(m.created_at);
        let mut thread = self.thread().await?;
        thread.sort_by_key(|m| virtual_at(m));
        let transcript: Vec<serde_json::Value> = thread
            .iter()
            .map(|m| {
                let from = match (&m.direction, &m.author) {
                    (Direction::Inbound, _) => "lead",
                    (_, Author::System) => "system",
                    _ => "assistant",
                };
                serde_json::json!({
                    "at": virtual_at(m).to_string(),
                    "from": from,
                    "text": m.body,
                    "status": m.status.as_str(),
                    "gate": m.gate,
                })
            })
            .collect();
        let lead = self
            .store
            .find_lead_by_phone(self.account, &self.lead_phone)
            .await?;
        let compliance = self
            .store
            .compliance_state(self.account, &self.lead_phone)
            .await?;
        let (stage, score, intent, fields) = match &lead {
            Some(l) => {
                let fields: serde_json::Map<String, serde_json::Value> = l
                    .fields
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), v["value"].clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                (l.stage.clone(), l.score, l.intent.clone(), fields)
            }
            None => ("new".into(), None, None, serde_json::Map::new()),
        };
        Ok(serde_json::json!({
            "transcript": transcript,
            "lead": {"stage": stage, "score": score, "intent": intent, "opted_out": compliance.opted_out, "fields": fields},
            "bookings": [],
        }))
    }

    /// The terminal sandbox: each line is a text from the lead; replies print as they are sent.
    async fn interactive(&self) -> anyhow::Result<()> {
        eprintln!(
            "Texting the assistant as {} (one message per line; Ctrl-D to end).",
            self.lead_phone
        );
        let mut at = Timestamp::now();
        let mut shown = std::collections::HashSet::new();
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            self.text_in(&line, at).await?;
            at = at.checked_add(DEBOUNCE)?;
            self.drive(at).await?;
            let thread = self.thread().await?;
            for m in &thread {
                if m.direction == Direction::Outbound
                    && !matches!(
                        m.status,
                        MessageStatus::Queued | MessageStatus::Sending | MessageStatus::Superseded
                    )
                    && shown.insert(m.id)
                {
                    let gate = match m.gate.as_ref().and_then(|g| g["decision"].as_str()) {
                        Some("send") | None => String::new(),
                        Some(other) => format!(
                            "  [{other}: {}]",
                            m.gate
                                .as_ref()
                                .map(|g| g["reasons"].to_string())
                                .unwrap_or_default()
                        ),
                    };
                    println!("assistant ({}): {}{gate}", m.status.as_str(), m.body);
                }
            }
            at = at.checked_add(SignedDuration::from_secs(1))?;
        }
        Ok(())
    }
}

fn print_readable(out: &serde_json::Value) {
    for line in out["transcript"].as_array().into_iter().flatten() {
        let gate = match line["gate"]["decision"].as_str() {
            Some("defer") => format!(
                "  [deferred until {}]",
                line["gate"]["until"].as_str().unwrap_or("?")
            ),
            Some("block") => format!("  [blocked: {}]", line["gate"]["reasons"]),
            _ => String::new(),
        };
        println!(
            "{}  {:<9} {}{}",
            line["at"].as_str().unwrap_or_default(),
            line["from"].as_str().unwrap_or_default(),
            line["text"].as_str().unwrap_or_default(),
            gate
        );
    }
    println!();
    println!(
        "lead: stage {}, opted out {}",
        out["lead"]["stage"], out["lead"]["opted_out"]
    );
    for (k, v) in out["lead"]["fields"].as_object().into_iter().flatten() {
        println!("  {k}: {v}");
    }
}
