//! Storage ports. The application talks to storage only through the small capability traits
//! below; `leadline-store-sql` implements them for SQLite and PostgreSQL, and both backends must
//! pass the contract suite in [`contract`].
//!
//! Conventions every implementation follows:
//! - Every tenant-owned record is read and written with its `AccountId`; another account's id is
//!   `StoreError::NotFound`, never someone else's row.
//! - Instants are `jiff::Timestamp`, stored as UTC microseconds.
//! - A method that changes state and takes a [`NewAudit`] appends that audit entry in the same
//!   transaction, so a change and its audit record land together or not at all.
//! - Tokens (sessions, invitations, API keys, password resets) are stored only as SHA-256 hashes.

pub mod analytics;
pub mod error;
pub mod messaging;
pub mod notifications;
pub mod records;
pub mod traits;
pub mod turns;

#[cfg(feature = "contract-tests")]
pub mod contract;

pub use analytics::*;
pub use error::StoreError;
pub use messaging::*;
pub use notifications::*;
pub use records::*;
pub use traits::*;
pub use turns::*;

pub type StoreResult<T> = Result<T, StoreError>;
