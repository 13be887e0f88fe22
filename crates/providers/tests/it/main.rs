//! Each adapter against its mock server, over real HTTP on 127.0.0.1: the wire format, the
//! caller's retry loop (exactly one message), Retry-After, opt-outs, credentials, ambiguous
//! timeouts, signed webhooks and out-of-order receipts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anthropic;
mod blooio;
mod compatible;
mod fetch;
mod linq;
mod openai;
mod sandbox;
mod support;
mod twilio;
