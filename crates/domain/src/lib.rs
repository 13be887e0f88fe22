//! Pure types and rules for leadline. Nothing in this crate performs I/O: inputs are parsed into
//! types that cannot hold invalid data, and rules are plain functions of those types and a clock,
//! so they can be property-tested and replayed.

pub mod account;
pub mod audit;
pub mod compliance;
pub mod email;
pub mod ids;
pub mod password;
pub mod phone;
pub mod role;

pub use account::{AccountStatus, BusinessProfile, ProfileError};
pub use email::Email;
pub use ids::{AccountId, ApiKeyId, InvitationId, UserId};
pub use phone::E164Phone;
pub use role::Role;
