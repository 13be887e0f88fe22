//! Record types: what the store hands back and what it takes to create rows.

use jiff::Timestamp;
use leadline_domain::ids::{EventId, SecretId, SessionId};
use leadline_domain::{
    AccountId, AccountStatus, ApiKeyId, BusinessProfile, E164Phone, Email, InvitationId, Role,
    UserId,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub profile: BusinessProfile,
    pub status: AccountStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: String,
    /// Argon2id PHC string; `None` for users who only sign in with Google.
    pub password_hash: Option<String>,
    pub is_platform_admin: bool,
    /// The OpenID Connect subject of a linked Google identity.
    pub google_subject: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub name: String,
    pub password_hash: Option<String>,
    pub google_subject: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: Timestamp,
}

/// A membership seen from the user's side, with the account's name for the switcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipWithAccount {
    pub account_id: AccountId,
    pub business_name: String,
    pub status: AccountStatus,
    pub role: Role,
}

/// A member seen from the account's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub joined_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// The account the user is working in; `None` until they have one.
    pub account_id: Option<AccountId>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: SessionId,
    /// SHA-256 of the cookie token.
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub account_id: Option<AccountId>,
    pub expires_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub account_id: AccountId,
    pub email: Email,
    pub role: Role,
    pub invited_by: UserId,
    pub state: InvitationState,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewInvitation {
    pub id: InvitationId,
    pub account_id: AccountId,
    pub email: Email,
    pub role: Role,
    pub invited_by: UserId,
    pub token_hash: Vec<u8>,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: String,
    pub role: Role,
    /// The first characters of the key, shown so users can tell keys apart.
    pub prefix: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub token_hash: Vec<u8>,
    pub created_by: UserId,
}

/// An encrypted secret. `ciphertext` is AES-256-GCM output; `key_id` names the master key that
/// sealed it, so rotation can find what still needs re-encrypting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRow {
    pub id: SecretId,
    pub account_id: AccountId,
    /// What the secret is for, e.g. `twilio.auth_token`. Unique per account.
    pub purpose: String,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    /// The last four characters of the plaintext, for masked display.
    pub last4: String,
    pub updated_at: Timestamp,
}

/// An audit entry to append. The store assigns the sequence number, time and hashes.
#[derive(Clone, Debug)]
pub struct NewAudit {
    pub account_id: AccountId,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub account_id: AccountId,
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The entry as `leadline_domain::audit::verify_chain` checks it.
    pub fn chain_link(&self) -> leadline_domain::audit::ChainLink {
        leadline_domain::audit::ChainLink {
            content: leadline_domain::audit::AuditContent {
                account_id: self.account_id.to_string(),
                seq: self.seq,
                at_us: self.at.as_microsecond(),
                actor: self.actor.clone(),
                action: self.action.clone(),
                details: self.details.clone(),
            },
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        }
    }
}

/// Everything sign-up creates, written in one transaction.
#[derive(Clone, Debug)]
pub struct NewSignup {
    pub user: NewUser,
    pub account_id: AccountId,
    pub profile: BusinessProfile,
}

/// Kinds of compliance events kept per account and phone number. Events are appended, never
/// overwritten, so the full history can be shown to a regulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceEventKind {
    ConsentGranted,
    OptOut,
    OptIn,
    Suppressed,
    Unsuppressed,
}

impl ComplianceEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsentGranted => "consent_granted",
            Self::OptOut => "opt_out",
            Self::OptIn => "opt_in",
            Self::Suppressed => "suppressed",
            Self::Unsuppressed => "unsuppressed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComplianceEvent {
    pub id: EventId,
    pub account_id: AccountId,
    pub phone: E164Phone,
    pub kind: ComplianceEventKind,
    /// Where it came from: `keyword`, `natural_language`, `provider`, `agent`, `api`, `import`,
    /// `web_form`, ...
    pub source: String,
    /// Free-form evidence: the inbound text, the consent text shown, IP, scope, matched phrase.
    pub details: serde_json::Value,
    pub at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewComplianceEvent {
    pub id: EventId,
    pub account_id: AccountId,
    pub phone: E164Phone,
    pub kind: ComplianceEventKind,
    pub source: String,
    pub details: serde_json::Value,
    pub at: Timestamp,
}

/// The current state of a phone number for an account, folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactCompliance {
    pub consented: bool,
    pub opted_out: bool,
    pub suppressed: bool,
    pub last_opt_out_at: Option<Timestamp>,
}

impl ContactCompliance {
    /// Folds a number's events, oldest first, into its current state.
    pub fn from_events(events: &[ComplianceEvent]) -> Self {
        let mut state = Self::default();
        for event in events {
            match event.kind {
                ComplianceEventKind::ConsentGranted => state.consented = true,
                ComplianceEventKind::OptOut => {
                    state.opted_out = true;
                    state.last_opt_out_at = Some(event.at);
                }
                ComplianceEventKind::OptIn => state.opted_out = false,
                ComplianceEventKind::Suppressed => state.suppressed = true,
                ComplianceEventKind::Unsuppressed => state.suppressed = false,
            }
        }
        state
    }
}

/// Connection-pool gauges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}
