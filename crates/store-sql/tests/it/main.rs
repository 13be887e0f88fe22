//! Integration tests for leadline-store-sql: the store contract on SQLite (and on PostgreSQL when
//! `LEADLINE_TEST_DATABASE_URL` is set), plus backend-specific behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backends;
mod contract;
mod url;
