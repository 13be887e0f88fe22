//! The binary's integration tests: they run the built `leadline` executable as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod compliance;
