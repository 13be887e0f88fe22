//! Outside services behind small traits, with thin typed clients and mock servers that speak the
//! real wire formats.
//!
//! Today this crate owns **messaging**: [`messaging::MessagingProvider`] is the one trait the
//! conversation pipeline sends through, with adapters for Twilio (SMS/MMS), Linq
//! (iMessage/RCS/SMS), Blooio (iMessage) and a [`messaging::sandbox`] that needs no provider at all.
//! The inbound side turns a provider's webhook into a typed [`messaging::InboundEvent`] after
//! checking its signature ([`messaging::InboundWebhooks`]).
//!
//! It also owns **models**: [`ai::ChatModel`] asks OpenAI, Anthropic or a compatible server for JSON.
//!
//! And **web pages**: [`fetch::Fetcher`] fetches a customer's public website without reaching
//! private addresses (SSRF), and [`html`] turns a page into readable text.
//!
//! Rules this crate keeps:
//! - Parse at the edge: webhooks become typed events, provider error bodies become a
//!   [`messaging::SendError`] whose variant says what the caller must do (retry, reconcile, give up,
//!   record an opt-out).
//! - The crate never retries a send on its own. The caller's outbox and lease give at-most-once per
//!   logical message; this crate reports whether a retry is safe ([`messaging::Disposition`]) and
//!   offers a pure [`messaging::backoff()`] to pace it.
//! - Credentials are [`secrecy::SecretString`]s and never appear in errors or logs.
//!
//! With the `mock` feature, [`mock`] provides wire-exact mock servers for each provider and
//! builders of signed inbound webhooks, for this crate's tests and later crates'.

pub mod ai;
pub mod fetch;
pub mod html;
pub mod messaging;

#[cfg(feature = "mock")]
pub mod mock;
