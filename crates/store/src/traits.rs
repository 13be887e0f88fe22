//! Capability traits. Each is small and says what one part of the application may do.

use crate::StoreResult;
use crate::analytics::AnalyticsStore;
use crate::messaging::{ChannelStore, ConversationStore, JobStore, LeadStore, MessageStore};
use crate::records::*;
use async_trait::async_trait;
use jiff::Timestamp;
use leadline_domain::ids::SessionId;
use leadline_domain::{
    AccountId, AccountStatus, ApiKeyId, BusinessProfile, E164Phone, Email, InvitationId, Role,
    UserId,
};

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the user, the account and the owner membership, and appends the audit entry
    /// `account.created`, all in one transaction. `Conflict("email")` if the email is taken.
    async fn sign_up(&self, signup: NewSignup) -> StoreResult<(User, Account)>;
    /// Creates an additional account owned by an existing user (one transaction, audited).
    async fn create_account(
        &self,
        owner: UserId,
        account_id: AccountId,
        profile: BusinessProfile,
    ) -> StoreResult<Account>;
    async fn get_account(&self, id: AccountId) -> StoreResult<Account>;
    async fn update_profile(
        &self,
        id: AccountId,
        profile: BusinessProfile,
        audit: NewAudit,
    ) -> StoreResult<Account>;
    async fn set_account_status(
        &self,
        id: AccountId,
        status: AccountStatus,
        audit: NewAudit,
    ) -> StoreResult<Account>;
    /// All accounts, oldest first (platform admin).
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
    /// Deletes the account and every row it owns except its audit log.
    async fn delete_account(&self, id: AccountId) -> StoreResult<()>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user without an account (invited users, platform admins).
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn get_user(&self, id: UserId) -> StoreResult<User>;
    async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>>;
    async fn find_user_by_google_subject(&self, subject: &str) -> StoreResult<Option<User>>;
    async fn set_password_hash(&self, id: UserId, hash: &str) -> StoreResult<()>;
    async fn set_google_subject(&self, id: UserId, subject: &str) -> StoreResult<()>;
    async fn set_platform_admin(&self, id: UserId, admin: bool) -> StoreResult<()>;
}

#[async_trait]
pub trait MembershipStore: Send + Sync {
    async fn get_membership(&self, account: AccountId, user: UserId) -> StoreResult<Membership>;
    async fn memberships_of_user(&self, user: UserId) -> StoreResult<Vec<MembershipWithAccount>>;
    async fn members_of_account(&self, account: AccountId) -> StoreResult<Vec<Member>>;
    /// Changes a member's role (audited). Refuses (`Conflict("last owner")`) to demote the
    /// account's last owner.
    async fn set_role(
        &self,
        account: AccountId,
        user: UserId,
        role: Role,
        audit: NewAudit,
    ) -> StoreResult<()>;
    /// Removes a member (audited). Refuses to remove the last owner.
    async fn remove_member(
        &self,
        account: AccountId,
        user: UserId,
        audit: NewAudit,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: NewSession) -> StoreResult<Session>;
    /// The live (unexpired) session whose token hashes to `token_hash`.
    async fn find_session(&self, token_hash: &[u8], now: Timestamp)
    -> StoreResult<Option<Session>>;
    /// Slides the expiry and records activity.
    async fn touch_session(
        &self,
        id: SessionId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    async fn set_session_account(&self, id: SessionId, account: AccountId) -> StoreResult<()>;
    async fn delete_session(&self, id: SessionId) -> StoreResult<()>;
    /// Signs the user out everywhere (password change, reset), except `keep` if given.
    async fn delete_user_sessions(&self, user: UserId, keep: Option<SessionId>) -> StoreResult<()>;
    async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Creates an invitation (audited). `Conflict("invitation")` if one is pending for that email.
    async fn create_invitation(
        &self,
        inv: NewInvitation,
        audit: NewAudit,
    ) -> StoreResult<Invitation>;
    async fn list_invitations(&self, account: AccountId) -> StoreResult<Vec<Invitation>>;
    async fn get_invitation(&self, account: AccountId, id: InvitationId)
    -> StoreResult<Invitation>;
    /// The pending, unexpired invitation for a token.
    async fn find_invitation_by_token(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> StoreResult<Option<Invitation>>;
    /// Marks it accepted and creates the membership (audited), in one transaction.
    /// `Conflict("member")` if the user already belongs to the account.
    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        audit: NewAudit,
    ) -> StoreResult<Membership>;
    async fn revoke_invitation(
        &self,
        account: AccountId,
        id: InvitationId,
        audit: NewAudit,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn create_api_key(&self, key: NewApiKey, audit: NewAudit) -> StoreResult<ApiKey>;
    async fn list_api_keys(&self, account: AccountId) -> StoreResult<Vec<ApiKey>>;
    /// The unrevoked key whose token hashes to `token_hash`.
    async fn find_api_key(&self, token_hash: &[u8]) -> StoreResult<Option<ApiKey>>;
    async fn touch_api_key(&self, id: ApiKeyId, now: Timestamp) -> StoreResult<()>;
    async fn revoke_api_key(
        &self,
        account: AccountId,
        id: ApiKeyId,
        audit: NewAudit,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Inserts or replaces the secret for (account, purpose) (audited without its value).
    async fn put_secret(&self, row: SecretRow, audit: NewAudit) -> StoreResult<()>;
    async fn get_secret(&self, account: AccountId, purpose: &str) -> StoreResult<SecretRow>;
    async fn list_secrets(&self, account: AccountId) -> StoreResult<Vec<SecretRow>>;
    async fn delete_secret(
        &self,
        account: AccountId,
        purpose: &str,
        audit: NewAudit,
    ) -> StoreResult<()>;
    /// Up to `limit` secrets (any account) not sealed by `key_id`, for rotation.
    async fn secrets_not_under_key(&self, key_id: &str, limit: u32) -> StoreResult<Vec<SecretRow>>;
    /// Replaces the ciphertext of one secret if it is still sealed by `old_key_id` (so a
    /// concurrent write is never overwritten). Returns whether it changed.
    async fn reseal_secret(&self, row: &SecretRow, old_key_id: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entry: NewAudit) -> StoreResult<AuditEntry>;
    /// Newest first, `limit` entries with `seq < before` (all when `before` is `None`).
    async fn list_audit(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// The whole chain in sequence order, for verification.
    async fn audit_chain(&self, account: AccountId) -> StoreResult<Vec<AuditEntry>>;
    /// Accounts that have audit entries (including deleted accounts, whose logs are kept).
    async fn audited_accounts(&self) -> StoreResult<Vec<AccountId>>;
}

#[async_trait]
pub trait PasswordResetStore: Send + Sync {
    async fn create_reset_token(
        &self,
        user: UserId,
        token_hash: &[u8],
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Consumes a live token once; a second use or an expired token gives `None`.
    async fn consume_reset_token(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> StoreResult<Option<UserId>>;
}

#[async_trait]
pub trait LoginThrottleStore: Send + Sync {
    /// Records a failed sign-in for each key (e.g. `email:dana@x.com`, `ip:127.0.0.1`).
    async fn record_login_failure(&self, keys: &[String], at: Timestamp) -> StoreResult<()>;
    /// Failures recorded for `key` at or after `since`.
    async fn count_login_failures(&self, key: &str, since: Timestamp) -> StoreResult<u64>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait ComplianceStore: Send + Sync {
    async fn append_compliance_event(
        &self,
        event: NewComplianceEvent,
    ) -> StoreResult<ComplianceEvent>;
    /// Every event for a number, oldest first.
    async fn compliance_history(
        &self,
        account: AccountId,
        phone: &E164Phone,
    ) -> StoreResult<Vec<ComplianceEvent>>;
    /// The number's current state, folded from its events.
    async fn compliance_state(
        &self,
        account: AccountId,
        phone: &E164Phone,
    ) -> StoreResult<ContactCompliance>;
    /// Currently suppressed numbers of the account.
    async fn suppression_list(&self, account: AccountId) -> StoreResult<Vec<E164Phone>>;
    /// The account's newest consent and opt-out events, newest first (the opt-out log).
    async fn recent_compliance_events(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<ComplianceEvent>>;
    /// The current state of each of `phones` (a page of leads) in one read; numbers without
    /// events are absent.
    async fn compliance_states(
        &self,
        account: AccountId,
        phones: &[E164Phone],
    ) -> StoreResult<std::collections::HashMap<E164Phone, ContactCompliance>>;
}

/// What a conditional settings write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionedPut {
    /// Saved as this version.
    Saved(i64),
    /// Not saved: the newest version is `current`, not the one expected.
    Stale { current: i64 },
}

/// One saved state of a settings document. Versions count up from 1 per (account, key).
#[derive(Clone, Debug, PartialEq)]
pub struct SettingVersion {
    pub account_id: AccountId,
    pub key: String,
    pub version: i64,
    /// Who saved it: the audit actor (`user:…`, `api_key:…`) or `system`.
    pub actor: String,
    pub created_at: Timestamp,
    /// The document; `None` in listings, which leave it out to stay small.
    pub value: Option<serde_json::Value>,
}

/// Per-account settings documents (compliance settings, later AI settings), each a JSON value
/// under a key. Every change is audited and kept as a new version in the same transaction.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn get_setting(
        &self,
        account: AccountId,
        key: &str,
    ) -> StoreResult<Option<serde_json::Value>>;
    async fn put_setting(
        &self,
        account: AccountId,
        key: &str,
        value: serde_json::Value,
        audit: NewAudit,
    ) -> StoreResult<()>;
    /// Like [`put_setting`](Self::put_setting), but only when the document's newest version is
    /// still `expected` (0: never saved), checked under the same lock as the write so two
    /// editors starting from one version cannot both save. Answers the new version's number.
    async fn put_setting_if(
        &self,
        account: AccountId,
        key: &str,
        value: serde_json::Value,
        audit: NewAudit,
        expected: Option<i64>,
    ) -> StoreResult<VersionedPut>;
    /// The newest `limit` versions of a document, newest first, without their values.
    async fn setting_versions(
        &self,
        account: AccountId,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<SettingVersion>>;
    /// One version with its value; `None` when the account has no such version.
    async fn setting_version(
        &self,
        account: AccountId,
        key: &str,
        version: i64,
    ) -> StoreResult<Option<SettingVersion>>;
}

/// Readiness: the database answers and its migrations are applied.
#[async_trait]
pub trait HealthStore: Send + Sync {
    async fn ready(&self) -> StoreResult<()>;
    /// Which backend this is, for logs and metrics: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Connection-pool gauges for `/metrics`, where the backend has a pool.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
}

/// Everything the application needs from storage.
pub trait Store:
    AccountStore
    + UserStore
    + MembershipStore
    + SessionStore
    + InvitationStore
    + ApiKeyStore
    + SecretStore
    + AuditStore
    + PasswordResetStore
    + LoginThrottleStore
    + ComplianceStore
    + SettingsStore
    + ChannelStore
    + LeadStore
    + ConversationStore
    + MessageStore
    + JobStore
    + AnalyticsStore
    + crate::turns::TurnStore
    + crate::notifications::NotificationStore
    + HealthStore
    + 'static
{
}

impl<T> Store for T where
    T: AccountStore
        + UserStore
        + MembershipStore
        + SessionStore
        + InvitationStore
        + ApiKeyStore
        + SecretStore
        + AuditStore
        + PasswordResetStore
        + LoginThrottleStore
        + ComplianceStore
        + SettingsStore
        + ChannelStore
        + LeadStore
        + ConversationStore
        + MessageStore
        + JobStore
        + AnalyticsStore
        + crate::turns::TurnStore
        + crate::notifications::NotificationStore
        + HealthStore
        + 'static
{
}
