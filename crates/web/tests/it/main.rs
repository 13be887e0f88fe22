//! Integration tests for the web layer: each test boots the real application on 127.0.0.1:0
//! with a fresh database (SQLite, or PostgreSQL when LEADLINE_TEST_DATABASE_URL is set) and a
//! mailer that captures messages, then drives it over HTTP like a browser or API client would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod analytics;
mod api;
mod assistant;
mod auth;
mod browser;
mod browser_journey;
mod compliance;
mod consent_text;
mod helpers;
mod inbox;
mod isolation;
mod knowledge_import;
mod leads;
mod mail;
mod notifications;
mod oidc;
mod onboarding;
mod ops;
mod secrets;
mod team;
mod webhooks;
