//! Integration tests for leadline-conversation: one binary (linking dominates on small
//! machines). `scripts` runs the scripted-lead suite and reports its figures; `turns` checks
//! single turns and properties of the playbook.

// Helpers outside #[test] functions fail loudly too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod guardrails;
mod model_turn;
mod scripts;
mod turns;
