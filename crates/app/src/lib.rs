//! Application services shared by the HTTP layer and the command line: password hashing, opaque
//! tokens, and the encrypted secrets service with its master-key ring.
//!
//! Error policy: library code here returns `thiserror` enums; callers decide how to present
//! them. Nothing in this crate ever formats a secret value into an error or a log line.

pub mod keyring;
pub mod passwords;
pub mod secrets;
pub mod tokens;

pub use keyring::{KeyRing, KeySource, MasterKey};
pub use secrets::{MaskedSecret, SecretError, SecretsService};
