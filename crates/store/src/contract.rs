//! The contract suite: the behaviour every `Store` backend must show. Each function takes a store,
//! exercises one area and panics on the first violation. No function assumes an empty database
//! (names, emails and tokens are unique per call), so they can run on fresh stores or all on one
//! store through [`run_all`]. Backends run every entry of [`ALL`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{
    Account, AuditEntry, Author, Channel, ComplianceEventKind, ContactCompliance, Conversation,
    ConversationQuery, Direction, InboundOutcome, Invitation, InvitationState, Job, Lead,
    LeadInput, LeadQuery, LeadSort, Member, MembershipWithAccount, Message, MessageStatus,
    NewApiKey, NewAudit, NewChannel, NewComplianceEvent, NewInbound, NewInvitation, NewJob,
    NewOutbound, NewSession, NewSignup, NewUser, OutboundWork, ScheduledReply, SecretRow, Store,
    StoreError, StoreResult, User,
};
use jiff::{SignedDuration, Timestamp};
use leadline_domain::audit::verify_chain;
use leadline_domain::ids::{
    ChannelId, ConversationId, EventId, JobId, LeadId, MessageId, SecretId, SessionId,
};
use leadline_domain::{
    AccountId, AccountStatus, ApiKeyId, BusinessProfile, E164Phone, Email, InvitationId, Role,
    UserId,
};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

pub type ContractFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
pub type ContractFn = for<'a> fn(&'a dyn Store) -> ContractFuture<'a>;

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        /// Every contract test, by name.
        pub const ALL: &[(&str, ContractFn)] = &[$((stringify!($name), |store| Box::pin($name(store)))),*];
    };
}

suite!(
    sign_up_creates_user_account_and_owner,
    sign_up_duplicate_email_conflicts_and_leaves_nothing,
    create_account_adds_an_owned_account,
    profile_update_round_trips,
    account_status_changes,
    list_and_delete_accounts_keeps_audit,
    users_by_email_and_google_subject,
    memberships_and_last_owner_protection,
    sessions_expire_touch_switch_and_delete,
    invitations_pending_token_accept_revoke,
    api_keys_lookup_touch_revoke,
    secrets_upsert_list_and_rotation,
    audit_chain_verifies_and_pages,
    password_reset_single_use_and_expiry,
    login_throttle_window_and_clear,
    compliance_history_state_and_suppression,
    tenant_isolation,
    channels_create_list_lookup_enable,
    leads_upsert_by_phone_and_update,
    leads_list_search_and_paging,
    leads_sort_filter_and_batch_compliance,
    conversations_filter_for_the_inbox,
    lead_delete_cascades,
    inbound_is_idempotent_and_creates_lead_and_conversation,
    conversations_find_or_create_flags_and_listing,
    outbound_enqueue_is_idempotent_with_jobs,
    outbound_claim_due_leased_and_expired,
    outbound_concurrent_claimers_never_share,
    outbound_sent_reschedule_finish,
    delivery_status_only_moves_forward,
    supersede_touches_only_waiting_ai_replies,
    inbound_with_scheduled_reply_is_one_write,
    append_jobs_adds_all_or_nothing,
    turns_record_lead_changes_and_count_tokens,
    lookups_find_without_creating,
    unknown_outcome_sends_reconcile_by_key,
    sent_to_phone_since_counts_accepted_sends,
    jobs_debounce_claim_retry,
    inbound_schedules_the_summary_job,
    summaries_record_latest_and_list,
    handoff_notifications_and_deliveries,
    notification_prefs_per_member,
    job_completed_while_rearmed_runs_again,
    jobs_concurrent_claimers_never_share,
    messaging_tenant_isolation,
    account_deletion_removes_messaging_rows,
    settings_round_trip_audited_and_scoped,
    setting_versions_count_up_per_account_and_key,
    health_is_ready,
    analytics_counts_days_funnel_and_first_response,
    analytics_days_follow_the_account_zone,
    analytics_rollups_follow_every_change,
);

/// Runs every contract test on one store, in order.
pub async fn run_all(store: &dyn Store) {
    for (name, test) in ALL {
        eprintln!("contract: {name}");
        test(store).await;
    }
}

// ---- helpers ----

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn email(tag: &str) -> Email {
    Email::parse(&format!("{tag}-{}@example.com", &unique()[..12])).unwrap()
}

/// A token hash as the application would store it (32 bytes).
fn token() -> Vec<u8> {
    [
        uuid::Uuid::new_v4().into_bytes(),
        uuid::Uuid::new_v4().into_bytes(),
    ]
    .concat()
}

/// Now, at the microsecond precision stores keep.
fn now() -> Timestamp {
    Timestamp::from_microsecond(Timestamp::now().as_microsecond()).unwrap()
}

fn minutes(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

fn phone(raw: &str) -> E164Phone {
    E164Phone::parse(raw).unwrap()
}

fn profile(name: &str) -> BusinessProfile {
    BusinessProfile {
        business_name: name.to_owned(),
        ..Default::default()
    }
}

fn full_profile(name: &str) -> BusinessProfile {
    BusinessProfile {
        business_name: name.to_owned(),
        agent_name: "Riley".to_owned(),
        phone: Some(phone("+15125550123")),
        website: Some("https://acme.example".to_owned()),
        industry: "insurance".to_owned(),
        description: "Home and auto cover, \"plain\" talk — ünïcode too.".to_owned(),
        products_services: "home\nauto".to_owned(),
        unique_selling_points: "local; fast".to_owned(),
        license_numbers: "TX-123".to_owned(),
        licensed_states: vec!["OK".to_owned(), "TX".to_owned()],
    }
}

fn new_user(tag: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: email(tag),
        name: format!("{tag} person"),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        google_subject: None,
    }
}

fn new_signup(tag: &str) -> NewSignup {
    NewSignup {
        user: new_user(tag),
        account_id: AccountId::new(),
        profile: profile(&format!("{tag} business")),
    }
}

async fn signup(store: &dyn Store, tag: &str) -> (User, Account) {
    store.sign_up(new_signup(tag)).await.unwrap()
}

fn audit(account: AccountId, action: &str) -> NewAudit {
    NewAudit {
        account_id: account,
        actor: "system".to_owned(),
        action: action.to_owned(),
        details: serde_json::json!({ "test": action }),
    }
}

/// The account's chain, checked with the verifier `leadline admin audit-verify` uses.
async fn verified_chain(store: &dyn Store, account: AccountId) -> Vec<AuditEntry> {
    let chain = store.audit_chain(account).await.unwrap();
    if let Err(broken) = verify_chain(&chain.iter().map(AuditEntry::chain_link).collect::<Vec<_>>())
    {
        panic!(
            "audit chain of {account} breaks at seq {}: {}",
            broken.seq, broken.reason
        );
    }
    chain
}

async fn actions(store: &dyn Store, account: AccountId) -> Vec<String> {
    verified_chain(store, account)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[track_caller]
fn assert_not_found<T: Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn assert_conflict<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::Conflict(got)) if got == what => {}
        other => panic!("expected Conflict({what:?}), got {other:?}"),
    }
}

/// Invites a new user into `account` with `role` and accepts; returns the user.
async fn add_member(
    store: &dyn Store,
    account: AccountId,
    inviter: UserId,
    role: Role,
    tag: &str,
) -> User {
    let user = store.create_user(new_user(tag)).await.unwrap();
    let inv = store
        .create_invitation(
            NewInvitation {
                id: InvitationId::new(),
                account_id: account,
                email: user.email.clone(),
                role,
                invited_by: inviter,
                token_hash: token(),
                expires_at: now() + minutes(60),
            },
            audit(account, "member.invited"),
        )
        .await
        .unwrap();
    store
        .accept_invitation(inv.id, user.id, audit(account, "member.joined"))
        .await
        .unwrap();
    user
}

fn new_invitation(
    account: AccountId,
    inviter: UserId,
    email: &Email,
    role: Role,
    expires_at: Timestamp,
) -> NewInvitation {
    NewInvitation {
        id: InvitationId::new(),
        account_id: account,
        email: email.clone(),
        role,
        invited_by: inviter,
        token_hash: token(),
        expires_at,
    }
}

fn new_api_key(account: AccountId, creator: UserId, name: &str) -> NewApiKey {
    NewApiKey {
        id: ApiKeyId::new(),
        account_id: account,
        name: name.to_owned(),
        role: Role::Agent,
        prefix: "ll_live_ab12".to_owned(),
        token_hash: token(),
        created_by: creator,
    }
}

fn secret(account: AccountId, purpose: &str, key_id: &str) -> SecretRow {
    SecretRow {
        id: SecretId::new(),
        account_id: account,
        purpose: purpose.to_owned(),
        key_id: key_id.to_owned(),
        nonce: token()[..12].to_vec(),
        ciphertext: token(),
        last4: "9xQ2".to_owned(),
        updated_at: now(),
    }
}

fn event(
    account: AccountId,
    number: &E164Phone,
    kind: ComplianceEventKind,
    at: Timestamp,
) -> NewComplianceEvent {
    NewComplianceEvent {
        id: EventId::new(),
        account_id: account,
        phone: number.clone(),
        kind,
        source: "keyword".to_owned(),
        details: serde_json::json!({ "text": "STOP", "kind": kind.as_str() }),
        at,
    }
}

// ---- accounts ----

/// Sign-up writes the user, the account, the owner membership and `account.created` together.
pub async fn sign_up_creates_user_account_and_owner(store: &dyn Store) {
    let signup = new_signup("owner");
    let (user, account) = store.sign_up(signup.clone()).await.unwrap();

    assert_eq!(user.id, signup.user.id);
    assert_eq!(user.email, signup.user.email);
    assert_eq!(user.name, signup.user.name);
    assert_eq!(user.password_hash, signup.user.password_hash);
    assert!(!user.is_platform_admin);
    assert_eq!(user.google_subject, None);
    assert_eq!(account.id, signup.account_id);
    assert_eq!(account.profile, signup.profile);
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.created_at, account.updated_at);

    assert_eq!(store.get_user(user.id).await.unwrap(), user);
    assert_eq!(store.get_account(account.id).await.unwrap(), account);
    let membership = store.get_membership(account.id, user.id).await.unwrap();
    assert_eq!(membership.role, Role::Owner);
    assert_eq!(
        store.memberships_of_user(user.id).await.unwrap(),
        vec![MembershipWithAccount {
            account_id: account.id,
            business_name: account.profile.business_name.clone(),
            status: AccountStatus::Active,
            role: Role::Owner,
        }]
    );
    let chain = verified_chain(store, account.id).await;
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].action, "account.created");
    assert!(
        chain[0].actor.contains(&user.id.to_string()),
        "actor names the user: {}",
        chain[0].actor
    );
}

/// A taken email is `Conflict("email")`, and the failed sign-up leaves no account behind.
pub async fn sign_up_duplicate_email_conflicts_and_leaves_nothing(store: &dyn Store) {
    let (first, _) = signup(store, "dup").await;
    let mut again = new_signup("dup");
    // Emails are normalised to lower case, so a differently-cased address is the same one.
    again.user.email = Email::parse(&first.email.as_str().to_uppercase()).unwrap();
    assert_conflict(store.sign_up(again.clone()).await, "email");

    assert_not_found(store.get_account(again.account_id).await);
    assert_not_found(store.get_user(again.user.id).await);
    assert!(
        store
            .audit_chain(again.account_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .list_accounts()
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == again.account_id)
    );
    assert!(
        !store
            .audited_accounts()
            .await
            .unwrap()
            .contains(&again.account_id)
    );
    assert_eq!(
        store
            .find_user_by_email(&first.email)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(first.id)
    );
}

/// An existing user can own further accounts; an unknown owner creates nothing.
pub async fn create_account_adds_an_owned_account(store: &dyn Store) {
    let (user, first) = signup(store, "multi").await;
    let second_id = AccountId::new();
    let second = store
        .create_account(user.id, second_id, full_profile("Second Co"))
        .await
        .unwrap();
    assert_eq!(second.id, second_id);
    assert_eq!(second.profile, full_profile("Second Co"));
    assert_eq!(second.status, AccountStatus::Active);
    assert_eq!(store.get_account(second_id).await.unwrap(), second);
    assert_eq!(
        store.get_membership(second_id, user.id).await.unwrap().role,
        Role::Owner
    );
    let mine: Vec<AccountId> = store
        .memberships_of_user(user.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.account_id)
        .collect();
    assert_eq!(mine, vec![first.id, second_id]);
    assert_eq!(actions(store, second_id).await, vec!["account.created"]);

    assert_conflict(
        store
            .create_account(user.id, second_id, profile("Again"))
            .await,
        "account",
    );

    let orphan = AccountId::new();
    assert_not_found(
        store
            .create_account(UserId::new(), orphan, profile("Nobody's"))
            .await,
    );
    assert_not_found(store.get_account(orphan).await);
    assert!(store.audit_chain(orphan).await.unwrap().is_empty());
}

/// Every profile field round-trips, including clearing optional ones; the audit entry lands with it.
pub async fn profile_update_round_trips(store: &dyn Store) {
    let (_, account) = signup(store, "profile").await;

    let full = full_profile("Acme Insurance");
    let updated = store
        .update_profile(
            account.id,
            full.clone(),
            audit(account.id, "profile.update"),
        )
        .await
        .unwrap();
    assert_eq!(updated.profile, full);
    assert!(updated.updated_at >= account.updated_at);
    assert_eq!(updated.created_at, account.created_at);
    assert_eq!(store.get_account(account.id).await.unwrap(), updated);

    let cleared = BusinessProfile {
        phone: None,
        website: None,
        licensed_states: vec![],
        ..full.clone()
    };
    let again = store
        .update_profile(
            account.id,
            cleared.clone(),
            audit(account.id, "profile.update"),
        )
        .await
        .unwrap();
    assert_eq!(again.profile, cleared);
    assert_eq!(
        store.get_account(account.id).await.unwrap().profile,
        cleared
    );
    assert_eq!(
        actions(store, account.id).await,
        vec!["account.created", "profile.update", "profile.update"]
    );

    let unknown = AccountId::new();
    assert_not_found(
        store
            .update_profile(unknown, full, audit(unknown, "profile.update"))
            .await,
    );
    assert!(
        store.audit_chain(unknown).await.unwrap().is_empty(),
        "a failed update appends no audit entry"
    );
}

pub async fn account_status_changes(store: &dyn Store) {
    let (user, account) = signup(store, "status").await;
    for status in [
        AccountStatus::PastDue,
        AccountStatus::Suspended,
        AccountStatus::Terminated,
        AccountStatus::Active,
    ] {
        let changed = store
            .set_account_status(account.id, status, audit(account.id, "account.status"))
            .await
            .unwrap();
        assert_eq!(changed.status, status);
        assert_eq!(store.get_account(account.id).await.unwrap().status, status);
        assert_eq!(
            store.memberships_of_user(user.id).await.unwrap()[0].status,
            status
        );
    }
    assert_eq!(verified_chain(store, account.id).await.len(), 5);
    let unknown = AccountId::new();
    assert_not_found(
        store
            .set_account_status(unknown, AccountStatus::Suspended, audit(unknown, "x"))
            .await,
    );
    assert!(store.audit_chain(unknown).await.unwrap().is_empty());
}

/// Accounts list oldest first; deleting one removes what it owns but keeps its audit log.
pub async fn list_and_delete_accounts_keeps_audit(store: &dyn Store) {
    let (owner, doomed) = signup(store, "doomed").await;
    let (_, kept) = signup(store, "kept").await;
    let listed: Vec<AccountId> = store
        .list_accounts()
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    let pos = |id| listed.iter().position(|a| *a == id).unwrap();
    assert!(pos(doomed.id) < pos(kept.id), "oldest first");

    let member = add_member(store, doomed.id, owner.id, Role::Agent, "doomed-agent").await;
    let inv = store
        .create_invitation(
            new_invitation(
                doomed.id,
                owner.id,
                &email("pending"),
                Role::Viewer,
                now() + minutes(60),
            ),
            audit(doomed.id, "member.invited"),
        )
        .await
        .unwrap();
    let key = new_api_key(doomed.id, owner.id, "ci");
    let key_hash = key.token_hash.clone();
    store
        .create_api_key(key, audit(doomed.id, "api_key.create"))
        .await
        .unwrap();
    store
        .put_secret(
            secret(doomed.id, "twilio.auth_token", "k1"),
            audit(doomed.id, "secret.put"),
        )
        .await
        .unwrap();
    let number = phone("+15125550100");
    store
        .append_compliance_event(event(
            doomed.id,
            &number,
            ComplianceEventKind::OptOut,
            now(),
        ))
        .await
        .unwrap();
    let session_hash = token();
    store
        .create_session(NewSession {
            id: SessionId::new(),
            token_hash: session_hash.clone(),
            user_id: owner.id,
            account_id: Some(doomed.id),
            expires_at: now() + minutes(60),
        })
        .await
        .unwrap();
    let chain_before = verified_chain(store, doomed.id).await;

    store.delete_account(doomed.id).await.unwrap();

    assert_not_found(store.get_account(doomed.id).await);
    assert!(
        !store
            .list_accounts()
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == doomed.id)
    );
    assert!(
        store
            .list_accounts()
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == kept.id)
    );
    assert!(
        store
            .memberships_of_user(owner.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .memberships_of_user(member.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(store.get_membership(doomed.id, owner.id).await);
    assert!(
        store
            .members_of_account(doomed.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(store.get_invitation(doomed.id, inv.id).await);
    assert!(store.list_invitations(doomed.id).await.unwrap().is_empty());
    assert!(store.find_api_key(&key_hash).await.unwrap().is_none());
    assert!(store.list_api_keys(doomed.id).await.unwrap().is_empty());
    assert!(store.list_secrets(doomed.id).await.unwrap().is_empty());
    assert!(
        store
            .compliance_history(doomed.id, &number)
            .await
            .unwrap()
            .is_empty()
    );
    // Users outlive the account; their sessions stay but point at no account.
    assert_eq!(store.get_user(owner.id).await.unwrap().id, owner.id);
    let session = store
        .find_session(&session_hash, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.account_id, None);
    // The audit log is kept intact.
    assert_eq!(verified_chain(store, doomed.id).await, chain_before);
    assert!(store.audited_accounts().await.unwrap().contains(&doomed.id));

    assert_not_found(store.delete_account(doomed.id).await);
    assert_not_found(store.delete_account(AccountId::new()).await);
}

// ---- users ----

pub async fn users_by_email_and_google_subject(store: &dyn Store) {
    let with_password = store.create_user(new_user("pw")).await.unwrap();
    assert!(!with_password.is_platform_admin);
    assert_eq!(
        store.get_user(with_password.id).await.unwrap(),
        with_password
    );
    let shouted = Email::parse(&with_password.email.as_str().to_uppercase()).unwrap();
    assert_eq!(
        store.find_user_by_email(&shouted).await.unwrap(),
        Some(with_password.clone())
    );
    assert_eq!(
        store.find_user_by_email(&email("nobody")).await.unwrap(),
        None
    );

    let mut duplicate = new_user("pw");
    duplicate.email = with_password.email.clone();
    assert_conflict(store.create_user(duplicate).await, "email");

    let subject = format!("google-{}", unique());
    let google = store
        .create_user(NewUser {
            password_hash: None,
            google_subject: Some(subject.clone()),
            ..new_user("google")
        })
        .await
        .unwrap();
    assert_eq!(google.password_hash, None);
    assert_eq!(
        store.find_user_by_google_subject(&subject).await.unwrap(),
        Some(google.clone())
    );
    assert_eq!(
        store
            .find_user_by_google_subject("google-unknown")
            .await
            .unwrap(),
        None
    );

    store
        .set_password_hash(google.id, "$argon2id$new")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_user(google.id)
            .await
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$new")
    );

    let other_subject = format!("google-{}", unique());
    store
        .set_google_subject(with_password.id, &other_subject)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_user_by_google_subject(&other_subject)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(with_password.id)
    );
    assert!(
        matches!(
            store.set_google_subject(with_password.id, &subject).await,
            Err(StoreError::Conflict(_))
        ),
        "a Google identity links to one user"
    );

    store.set_platform_admin(google.id, true).await.unwrap();
    assert!(store.get_user(google.id).await.unwrap().is_platform_admin);
    store.set_platform_admin(google.id, false).await.unwrap();
    assert!(!store.get_user(google.id).await.unwrap().is_platform_admin);

    let unknown = UserId::new();
    assert_not_found(store.get_user(unknown).await);
    assert_not_found(store.set_password_hash(unknown, "x").await);
    assert_not_found(
        store
            .set_google_subject(unknown, &format!("google-{}", unique()))
            .await,
    );
    assert_not_found(store.set_platform_admin(unknown, true).await);
}

// ---- memberships ----

pub async fn memberships_and_last_owner_protection(store: &dyn Store) {
    let (owner, account) = signup(store, "team").await;
    let admin = add_member(store, account.id, owner.id, Role::Admin, "team-admin").await;

    let members = store.members_of_account(account.id).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.user_id, m.role))
            .collect::<Vec<_>>(),
        vec![(owner.id, Role::Owner), (admin.id, Role::Admin)]
    );
    let Member {
        email,
        name,
        joined_at,
        ..
    } = &members[1];
    assert_eq!((email, name), (&admin.email, &admin.name));
    assert_eq!(
        *joined_at,
        store
            .get_membership(account.id, admin.id)
            .await
            .unwrap()
            .created_at
    );

    // The last owner can be neither demoted nor removed, and a refusal appends nothing.
    let audited = verified_chain(store, account.id).await.len();
    assert_conflict(
        store
            .set_role(
                account.id,
                owner.id,
                Role::Admin,
                audit(account.id, "member.role"),
            )
            .await,
        "last owner",
    );
    assert_conflict(
        store
            .remove_member(account.id, owner.id, audit(account.id, "member.remove"))
            .await,
        "last owner",
    );
    assert_eq!(
        store
            .get_membership(account.id, owner.id)
            .await
            .unwrap()
            .role,
        Role::Owner
    );
    assert_eq!(verified_chain(store, account.id).await.len(), audited);

    store
        .set_role(
            account.id,
            admin.id,
            Role::Owner,
            audit(account.id, "member.role"),
        )
        .await
        .unwrap();
    store
        .set_role(
            account.id,
            owner.id,
            Role::Viewer,
            audit(account.id, "member.role"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_membership(account.id, owner.id)
            .await
            .unwrap()
            .role,
        Role::Viewer
    );

    let session_hash = token();
    store
        .create_session(NewSession {
            id: SessionId::new(),
            token_hash: session_hash.clone(),
            user_id: owner.id,
            account_id: Some(account.id),
            expires_at: now() + minutes(60),
        })
        .await
        .unwrap();
    store
        .remove_member(account.id, owner.id, audit(account.id, "member.remove"))
        .await
        .unwrap();
    assert_not_found(store.get_membership(account.id, owner.id).await);
    assert!(
        store
            .memberships_of_user(owner.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .find_session(&session_hash, now())
            .await
            .unwrap()
            .unwrap()
            .account_id,
        None,
        "a removed member's sessions leave the account"
    );

    assert_not_found(
        store
            .set_role(
                account.id,
                owner.id,
                Role::Agent,
                audit(account.id, "member.role"),
            )
            .await,
    );
    assert_not_found(
        store
            .remove_member(account.id, owner.id, audit(account.id, "member.remove"))
            .await,
    );
    assert_conflict(
        store
            .remove_member(account.id, admin.id, audit(account.id, "member.remove"))
            .await,
        "last owner",
    );
    assert_eq!(
        actions(store, account.id).await,
        vec![
            "account.created",
            "member.invited",
            "member.joined",
            "member.role",
            "member.role",
            "member.remove"
        ]
    );
}

// ---- sessions ----

pub async fn sessions_expire_touch_switch_and_delete(store: &dyn Store) {
    let (user, account) = signup(store, "sess").await;
    let t0 = now();
    let new_session = |expires_at| NewSession {
        id: SessionId::new(),
        token_hash: token(),
        user_id: user.id,
        account_id: None,
        expires_at,
    };

    let first = new_session(t0 + minutes(60));
    let session = store.create_session(first.clone()).await.unwrap();
    assert_eq!(
        (session.id, session.user_id, session.account_id),
        (first.id, user.id, None)
    );
    assert_eq!(session.expires_at, first.expires_at);
    assert_eq!(session.created_at, session.last_seen_at);
    assert_eq!(
        store.find_session(&first.token_hash, t0).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store
            .find_session(&first.token_hash, t0 + minutes(120))
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(store.find_session(&token(), t0).await.unwrap(), None);

    store
        .touch_session(first.id, t0 + minutes(30), t0 + minutes(180))
        .await
        .unwrap();
    let touched = store
        .find_session(&first.token_hash, t0 + minutes(120))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_seen_at, t0 + minutes(30));
    assert_eq!(touched.expires_at, t0 + minutes(180));

    store
        .set_session_account(first.id, account.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_session(&first.token_hash, t0)
            .await
            .unwrap()
            .unwrap()
            .account_id,
        Some(account.id)
    );
    assert_not_found(store.set_session_account(first.id, AccountId::new()).await);
    assert_not_found(
        store
            .set_session_account(SessionId::new(), account.id)
            .await,
    );
    assert_not_found(store.touch_session(SessionId::new(), t0, t0).await);

    let second = new_session(t0 + minutes(60));
    let third = new_session(t0 + minutes(60));
    store.create_session(second.clone()).await.unwrap();
    store.create_session(third.clone()).await.unwrap();
    store
        .delete_user_sessions(user.id, Some(second.id))
        .await
        .unwrap();
    assert!(
        store
            .find_session(&first.token_hash, t0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_session(&third.token_hash, t0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_session(&second.token_hash, t0)
            .await
            .unwrap()
            .is_some(),
        "the kept session stays"
    );
    store.delete_user_sessions(user.id, None).await.unwrap();
    assert!(
        store
            .find_session(&second.token_hash, t0)
            .await
            .unwrap()
            .is_none()
    );

    let short = new_session(t0 + minutes(1));
    let long = new_session(t0 + minutes(60));
    store.create_session(short.clone()).await.unwrap();
    store.create_session(long.clone()).await.unwrap();
    assert!(
        store
            .delete_expired_sessions(t0 + minutes(10))
            .await
            .unwrap()
            >= 1
    );
    assert!(
        store
            .find_session(&short.token_hash, t0)
            .await
            .unwrap()
            .is_none(),
        "expired sessions are purged"
    );
    assert!(
        store
            .find_session(&long.token_hash, t0)
            .await
            .unwrap()
            .is_some()
    );

    store.delete_session(long.id).await.unwrap();
    assert!(
        store
            .find_session(&long.token_hash, t0)
            .await
            .unwrap()
            .is_none()
    );
    store.delete_session(long.id).await.unwrap();
}

// ---- invitations ----

pub async fn invitations_pending_token_accept_revoke(store: &dyn Store) {
    let (owner, account) = signup(store, "inv").await;
    let invitee = email("invitee");
    let t0 = now();
    let new = new_invitation(
        account.id,
        owner.id,
        &invitee,
        Role::Agent,
        t0 + minutes(60 * 48),
    );
    let inv = store
        .create_invitation(new.clone(), audit(account.id, "invitation.create"))
        .await
        .unwrap();
    assert_eq!(
        (
            inv.id,
            inv.account_id,
            &inv.email,
            inv.role,
            inv.invited_by,
            inv.state,
            inv.expires_at
        ),
        (
            new.id,
            account.id,
            &invitee,
            Role::Agent,
            owner.id,
            InvitationState::Pending,
            new.expires_at
        )
    );

    // One pending invitation per email; the refused one appends no audit entry.
    let audited = verified_chain(store, account.id).await.len();
    let twin = new_invitation(
        account.id,
        owner.id,
        &invitee,
        Role::Admin,
        t0 + minutes(60),
    );
    assert_conflict(
        store
            .create_invitation(twin, audit(account.id, "invitation.create"))
            .await,
        "invitation",
    );
    assert_eq!(verified_chain(store, account.id).await.len(), audited);

    assert_eq!(
        store.list_invitations(account.id).await.unwrap(),
        vec![inv.clone()]
    );
    assert_eq!(store.get_invitation(account.id, inv.id).await.unwrap(), inv);
    assert_eq!(
        store
            .find_invitation_by_token(&new.token_hash, t0)
            .await
            .unwrap(),
        Some(inv.clone())
    );
    assert_eq!(
        store
            .find_invitation_by_token(&new.token_hash, new.expires_at)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.find_invitation_by_token(&token(), t0).await.unwrap(),
        None
    );

    let user = store
        .create_user(NewUser {
            email: invitee.clone(),
            ..new_user("invitee")
        })
        .await
        .unwrap();
    let membership = store
        .accept_invitation(inv.id, user.id, audit(account.id, "invitation.accept"))
        .await
        .unwrap();
    assert_eq!(
        (membership.account_id, membership.user_id, membership.role),
        (account.id, user.id, Role::Agent)
    );
    assert_eq!(
        store.get_membership(account.id, user.id).await.unwrap(),
        membership
    );
    assert_eq!(
        store
            .get_invitation(account.id, inv.id)
            .await
            .unwrap()
            .state,
        InvitationState::Accepted
    );
    assert_eq!(
        store
            .find_invitation_by_token(&new.token_hash, t0)
            .await
            .unwrap(),
        None,
        "used"
    );
    assert_not_found(
        store
            .accept_invitation(inv.id, user.id, audit(account.id, "invitation.accept"))
            .await,
    );

    // A member cannot join twice; the failed accept leaves the invitation pending.
    let again = new_invitation(
        account.id,
        owner.id,
        &invitee,
        Role::Admin,
        t0 + minutes(60),
    );
    let again = store
        .create_invitation(again, audit(account.id, "invitation.create"))
        .await
        .unwrap();
    let audited = verified_chain(store, account.id).await.len();
    assert_conflict(
        store
            .accept_invitation(again.id, user.id, audit(account.id, "invitation.accept"))
            .await,
        "member",
    );
    assert_eq!(
        store
            .get_invitation(account.id, again.id)
            .await
            .unwrap()
            .state,
        InvitationState::Pending
    );
    assert_eq!(
        store
            .get_membership(account.id, user.id)
            .await
            .unwrap()
            .role,
        Role::Agent
    );
    assert_eq!(verified_chain(store, account.id).await.len(), audited);

    store
        .revoke_invitation(account.id, again.id, audit(account.id, "invitation.revoke"))
        .await
        .unwrap();
    let revoked: Invitation = store.get_invitation(account.id, again.id).await.unwrap();
    assert_eq!(revoked.state, InvitationState::Revoked);
    assert_not_found(
        store
            .revoke_invitation(account.id, again.id, audit(account.id, "invitation.revoke"))
            .await,
    );
    assert_not_found(
        store
            .accept_invitation(again.id, user.id, audit(account.id, "invitation.accept"))
            .await,
    );
    assert_not_found(
        store
            .accept_invitation(
                InvitationId::new(),
                user.id,
                audit(account.id, "invitation.accept"),
            )
            .await,
    );
    assert_not_found(store.get_invitation(account.id, InvitationId::new()).await);

    let nowhere = AccountId::new();
    let stray = new_invitation(nowhere, owner.id, &invitee, Role::Agent, t0 + minutes(60));
    assert_not_found(
        store
            .create_invitation(stray, audit(nowhere, "invitation.create"))
            .await,
    );
    assert!(store.audit_chain(nowhere).await.unwrap().is_empty());

    assert_eq!(
        actions(store, account.id).await,
        vec![
            "account.created",
            "invitation.create",
            "invitation.accept",
            "invitation.create",
            "invitation.revoke"
        ]
    );
}

// ---- API keys ----

pub async fn api_keys_lookup_touch_revoke(store: &dyn Store) {
    let (owner, account) = signup(store, "keys").await;
    let new = new_api_key(account.id, owner.id, "zapier");
    let key = store
        .create_api_key(new.clone(), audit(account.id, "api_key.create"))
        .await
        .unwrap();
    assert_eq!(
        (
            key.id,
            key.account_id,
            key.name.as_str(),
            key.role,
            key.prefix.as_str(),
            key.created_by
        ),
        (
            new.id,
            account.id,
            "zapier",
            Role::Agent,
            new.prefix.as_str(),
            owner.id
        )
    );
    assert_eq!((key.last_used_at, key.revoked_at), (None, None));
    assert_eq!(
        store.find_api_key(&new.token_hash).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(store.find_api_key(&token()).await.unwrap(), None);
    assert_eq!(
        store.list_api_keys(account.id).await.unwrap(),
        vec![key.clone()]
    );

    let used = now();
    store.touch_api_key(key.id, used).await.unwrap();
    assert_eq!(
        store
            .find_api_key(&new.token_hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(used)
    );
    assert_not_found(store.touch_api_key(ApiKeyId::new(), used).await);

    let clash = NewApiKey {
        id: ApiKeyId::new(),
        token_hash: new.token_hash.clone(),
        ..new_api_key(account.id, owner.id, "x")
    };
    assert!(matches!(
        store
            .create_api_key(clash, audit(account.id, "api_key.create"))
            .await,
        Err(StoreError::Conflict(_))
    ));

    store
        .revoke_api_key(account.id, key.id, audit(account.id, "api_key.revoke"))
        .await
        .unwrap();
    assert_eq!(
        store.find_api_key(&new.token_hash).await.unwrap(),
        None,
        "a revoked key is invisible"
    );
    let listed = store.list_api_keys(account.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked_at.is_some());
    assert_not_found(
        store
            .revoke_api_key(account.id, key.id, audit(account.id, "api_key.revoke"))
            .await,
    );
    assert_eq!(
        actions(store, account.id).await,
        vec!["account.created", "api_key.create", "api_key.revoke"]
    );
}

// ---- secrets ----

pub async fn secrets_upsert_list_and_rotation(store: &dyn Store) {
    let (_, account) = signup(store, "secrets").await;
    let old_key = format!("k-old-{}", unique());
    let new_key = format!("k-new-{}", unique());

    let first = secret(account.id, "twilio.auth_token", &old_key);
    store
        .put_secret(first.clone(), audit(account.id, "secret.put"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_secret(account.id, "twilio.auth_token")
            .await
            .unwrap(),
        first
    );

    // Putting the same purpose again replaces the row.
    let replaced = secret(account.id, "twilio.auth_token", &old_key);
    store
        .put_secret(replaced.clone(), audit(account.id, "secret.put"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_secret(account.id, "twilio.auth_token")
            .await
            .unwrap(),
        replaced
    );
    let other = secret(account.id, "openai.api_key", &old_key);
    store
        .put_secret(other.clone(), audit(account.id, "secret.put"))
        .await
        .unwrap();
    assert_eq!(
        store.list_secrets(account.id).await.unwrap(),
        vec![other.clone(), replaced.clone()],
        "by purpose"
    );

    let stale: Vec<SecretRow> = store
        .secrets_not_under_key(&new_key, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.account_id == account.id)
        .collect();
    assert_eq!(stale.len(), 2);
    assert_eq!(
        store
            .secrets_not_under_key(&new_key, 1)
            .await
            .unwrap()
            .len(),
        1,
        "limit is honoured"
    );
    assert!(
        !store
            .secrets_not_under_key(&old_key, 10_000)
            .await
            .unwrap()
            .iter()
            .any(|s| s.account_id == account.id)
    );

    let resealed = SecretRow {
        key_id: new_key.clone(),
        nonce: token()[..12].to_vec(),
        ciphertext: token(),
        ..replaced.clone()
    };
    assert!(
        !store
            .reseal_secret(&resealed, "k-somebody-else")
            .await
            .unwrap(),
        "only from the expected key"
    );
    assert_eq!(
        store
            .get_secret(account.id, "twilio.auth_token")
            .await
            .unwrap(),
        replaced
    );
    assert!(store.reseal_secret(&resealed, &old_key).await.unwrap());
    assert_eq!(
        store
            .get_secret(account.id, "twilio.auth_token")
            .await
            .unwrap(),
        resealed
    );
    // The key changed under a second rotator: it must not overwrite.
    let late = SecretRow {
        ciphertext: token(),
        ..resealed.clone()
    };
    assert!(!store.reseal_secret(&late, &old_key).await.unwrap());
    assert_eq!(
        store
            .get_secret(account.id, "twilio.auth_token")
            .await
            .unwrap(),
        resealed
    );

    store
        .delete_secret(
            account.id,
            "openai.api_key",
            audit(account.id, "secret.delete"),
        )
        .await
        .unwrap();
    assert_not_found(store.get_secret(account.id, "openai.api_key").await);
    assert_not_found(
        store
            .delete_secret(
                account.id,
                "openai.api_key",
                audit(account.id, "secret.delete"),
            )
            .await,
    );
    assert_eq!(
        store.list_secrets(account.id).await.unwrap(),
        vec![resealed]
    );

    let nowhere = AccountId::new();
    assert_not_found(
        store
            .put_secret(secret(nowhere, "x", &old_key), audit(nowhere, "secret.put"))
            .await,
    );
    assert_eq!(
        actions(store, account.id).await,
        vec![
            "account.created",
            "secret.put",
            "secret.put",
            "secret.put",
            "secret.delete"
        ]
    );
}

// ---- audit ----

pub async fn audit_chain_verifies_and_pages(store: &dyn Store) {
    // The audit log needs no account row: it outlives accounts.
    let account = AccountId::new();
    let mut appended = Vec::new();
    for n in 1..=25 {
        let entry = NewAudit {
            account_id: account,
            actor: format!("user:{}", UserId::new()),
            action: "test.append".to_owned(),
            details: serde_json::json!({ "n": n, "b": [1.5, "ü", null], "a": { "z": true, "y": "x\"y" } }),
        };
        let stored = store.append_audit(entry.clone()).await.unwrap();
        assert_eq!(
            (stored.seq, &stored.actor, &stored.details),
            (n, &entry.actor, &entry.details)
        );
        appended.push(stored);
    }
    assert_eq!(appended[0].prev_hash, leadline_domain::audit::GENESIS);
    assert!(appended.windows(2).all(|w| w[1].prev_hash == w[0].hash));

    let chain = verified_chain(store, account).await;
    assert_eq!(chain, appended, "what append returned is what is stored");

    let seqs = |page: Vec<AuditEntry>| page.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.list_audit(account, None, 10).await.unwrap()),
        (16..=25).rev().collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(store.list_audit(account, Some(16), 10).await.unwrap()),
        (6..=15).rev().collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(store.list_audit(account, Some(6), 10).await.unwrap()),
        (1..=5).rev().collect::<Vec<_>>()
    );
    assert!(
        store
            .list_audit(account, Some(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.list_audit(account, None, 100).await.unwrap().len(),
        25
    );
    assert!(store.audited_accounts().await.unwrap().contains(&account));

    // Another account's chain starts at 1 of its own.
    let other = AccountId::new();
    let first = store.append_audit(audit(other, "other")).await.unwrap();
    assert_eq!(
        (first.seq, first.prev_hash.as_str()),
        (1, leadline_domain::audit::GENESIS)
    );
    assert_eq!(store.audit_chain(account).await.unwrap().len(), 25);
}

// ---- password resets ----

pub async fn password_reset_single_use_and_expiry(store: &dyn Store) {
    let user = store.create_user(new_user("reset")).await.unwrap();
    let t0 = now();

    let stale = token();
    store
        .create_reset_token(user.id, &stale, t0 + minutes(30))
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_reset_token(&stale, t0 + minutes(31))
            .await
            .unwrap(),
        None,
        "expired"
    );

    let live = token();
    store
        .create_reset_token(user.id, &live, t0 + minutes(30))
        .await
        .unwrap();
    assert_eq!(
        store.consume_reset_token(&live, t0).await.unwrap(),
        Some(user.id)
    );
    assert_eq!(
        store.consume_reset_token(&live, t0).await.unwrap(),
        None,
        "single use"
    );
    assert_eq!(store.consume_reset_token(&token(), t0).await.unwrap(), None);

    assert_not_found(
        store
            .create_reset_token(UserId::new(), &token(), t0 + minutes(30))
            .await,
    );
}

// ---- login throttle ----

pub async fn login_throttle_window_and_clear(store: &dyn Store) {
    let email_key = format!("email:{}", email("throttle"));
    let ip_key = format!("ip:10.{}.0.1", &unique()[..6]);
    let t0 = now();
    store
        .record_login_failure(&[email_key.clone(), ip_key.clone()], t0 - minutes(20))
        .await
        .unwrap();
    store
        .record_login_failure(std::slice::from_ref(&email_key), t0 - minutes(5))
        .await
        .unwrap();
    store
        .record_login_failure(std::slice::from_ref(&email_key), t0)
        .await
        .unwrap();
    store.record_login_failure(&[], t0).await.unwrap();

    assert_eq!(
        store
            .count_login_failures(&email_key, t0 - minutes(10))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_login_failures(&email_key, t0 - minutes(5))
            .await
            .unwrap(),
        2,
        "the window is inclusive"
    );
    assert_eq!(
        store
            .count_login_failures(&email_key, t0 - minutes(30))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .count_login_failures(&ip_key, t0 - minutes(30))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_login_failures("email:nobody@example.com-never", t0 - minutes(30))
            .await
            .unwrap(),
        0
    );

    store.clear_login_failures(&email_key).await.unwrap();
    assert_eq!(
        store
            .count_login_failures(&email_key, t0 - minutes(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .count_login_failures(&ip_key, t0 - minutes(30))
            .await
            .unwrap(),
        1,
        "other keys are kept"
    );
}

// ---- compliance ----

pub async fn compliance_history_state_and_suppression(store: &dyn Store) {
    use ComplianceEventKind::*;
    let (_, account) = signup(store, "tcpa").await;
    let (p1, p2, p3) = (
        phone("+15125550101"),
        phone("+15125550102"),
        phone("+15125550103"),
    );
    let t0 = now() - minutes(60);

    // Appended out of time order: history and state follow `at`.
    let consent = event(account.id, &p1, ConsentGranted, t0);
    let late_opt_out = event(account.id, &p1, OptOut, t0 + minutes(3));
    let opt_out = event(account.id, &p1, OptOut, t0 + minutes(1));
    let opt_in = event(account.id, &p1, OptIn, t0 + minutes(2));
    let mut stored = Vec::new();
    for e in [&consent, &late_opt_out, &opt_out, &opt_in] {
        let got = store.append_compliance_event(e.clone()).await.unwrap();
        assert_eq!(
            (
                got.id,
                got.account_id,
                &got.phone,
                got.kind,
                &got.source,
                &got.details,
                got.at
            ),
            (
                e.id,
                e.account_id,
                &e.phone,
                e.kind,
                &e.source,
                &e.details,
                e.at
            )
        );
        stored.push(got);
    }
    let history = store.compliance_history(account.id, &p1).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![consent.id, opt_out.id, opt_in.id, late_opt_out.id],
        "oldest first"
    );
    assert_eq!(
        store.compliance_state(account.id, &p1).await.unwrap(),
        ContactCompliance {
            consented: true,
            opted_out: true,
            suppressed: false,
            last_opt_out_at: Some(late_opt_out.at)
        }
    );

    let opt_in_again = event(account.id, &p1, OptIn, t0 + minutes(4));
    store.append_compliance_event(opt_in_again).await.unwrap();
    let state = store.compliance_state(account.id, &p1).await.unwrap();
    assert!(!state.opted_out && state.consented);
    assert_eq!(
        state.last_opt_out_at,
        Some(late_opt_out.at),
        "the last opt-out stays on record"
    );

    for e in [
        event(account.id, &p2, Suppressed, t0),
        event(account.id, &p2, Unsuppressed, t0 + minutes(1)),
        event(account.id, &p3, Suppressed, t0),
    ] {
        store.append_compliance_event(e).await.unwrap();
    }
    assert!(
        !store
            .compliance_state(account.id, &p2)
            .await
            .unwrap()
            .suppressed
    );
    assert!(
        store
            .compliance_state(account.id, &p3)
            .await
            .unwrap()
            .suppressed
    );
    assert_eq!(
        store.suppression_list(account.id).await.unwrap(),
        vec![p3.clone()]
    );
    store
        .append_compliance_event(event(account.id, &p2, Suppressed, t0 + minutes(2)))
        .await
        .unwrap();
    assert_eq!(
        store.suppression_list(account.id).await.unwrap(),
        vec![p2.clone(), p3.clone()]
    );

    let unknown = phone("+15125550199");
    assert!(
        store
            .compliance_history(account.id, &unknown)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.compliance_state(account.id, &unknown).await.unwrap(),
        ContactCompliance::default()
    );

    let nowhere = AccountId::new();
    assert_not_found(
        store
            .append_compliance_event(event(nowhere, &p1, OptOut, t0))
            .await,
    );
}

// ---- tenant isolation ----

/// Account B can neither see nor change account A's rows; every attempt is `NotFound` or empty,
/// and refused audited writes append nothing to either chain.
pub async fn tenant_isolation(store: &dyn Store) {
    let (owner_a, a) = signup(store, "tenant-a").await;
    let (owner_b, b) = signup(store, "tenant-b").await;

    let inv = store
        .create_invitation(
            new_invitation(
                a.id,
                owner_a.id,
                &email("a-invitee"),
                Role::Agent,
                now() + minutes(60),
            ),
            audit(a.id, "invitation.create"),
        )
        .await
        .unwrap();
    let key_new = new_api_key(a.id, owner_a.id, "a-key");
    let key = store
        .create_api_key(key_new.clone(), audit(a.id, "api_key.create"))
        .await
        .unwrap();
    let a_secret = secret(a.id, "twilio.auth_token", "k1");
    store
        .put_secret(a_secret.clone(), audit(a.id, "secret.put"))
        .await
        .unwrap();
    let number = phone("+15125550150");
    store
        .append_compliance_event(event(a.id, &number, ComplianceEventKind::Suppressed, now()))
        .await
        .unwrap();
    let chain_a = verified_chain(store, a.id).await;
    let chain_b = verified_chain(store, b.id).await;

    // Invitations.
    assert_not_found(store.get_invitation(b.id, inv.id).await);
    assert!(store.list_invitations(b.id).await.unwrap().is_empty());
    assert_not_found(
        store
            .revoke_invitation(b.id, inv.id, audit(b.id, "invitation.revoke"))
            .await,
    );
    assert_eq!(
        store.get_invitation(a.id, inv.id).await.unwrap().state,
        InvitationState::Pending
    );

    // API keys.
    assert!(store.list_api_keys(b.id).await.unwrap().is_empty());
    assert_not_found(
        store
            .revoke_api_key(b.id, key.id, audit(b.id, "api_key.revoke"))
            .await,
    );
    assert_eq!(
        store
            .find_api_key(&key_new.token_hash)
            .await
            .unwrap()
            .map(|k| k.account_id),
        Some(a.id)
    );

    // Secrets.
    assert_not_found(store.get_secret(b.id, "twilio.auth_token").await);
    assert!(store.list_secrets(b.id).await.unwrap().is_empty());
    assert_not_found(
        store
            .delete_secret(b.id, "twilio.auth_token", audit(b.id, "secret.delete"))
            .await,
    );
    let hijack = SecretRow {
        account_id: b.id,
        ciphertext: token(),
        ..a_secret.clone()
    };
    assert!(!store.reseal_secret(&hijack, "k1").await.unwrap());
    assert_eq!(
        store.get_secret(a.id, "twilio.auth_token").await.unwrap(),
        a_secret
    );
    let b_secret = secret(b.id, "twilio.auth_token", "k1");
    store
        .put_secret(b_secret.clone(), audit(b.id, "secret.put"))
        .await
        .unwrap();
    assert_eq!(
        store.get_secret(a.id, "twilio.auth_token").await.unwrap(),
        a_secret,
        "same purpose, separate rows"
    );
    assert_eq!(
        store.get_secret(b.id, "twilio.auth_token").await.unwrap(),
        b_secret
    );

    // Memberships.
    assert_not_found(store.get_membership(b.id, owner_a.id).await);
    assert_not_found(
        store
            .set_role(b.id, owner_a.id, Role::Viewer, audit(b.id, "member.role"))
            .await,
    );
    assert_not_found(
        store
            .remove_member(b.id, owner_a.id, audit(b.id, "member.remove"))
            .await,
    );
    assert!(
        !store
            .members_of_account(b.id)
            .await
            .unwrap()
            .iter()
            .any(|m| m.user_id == owner_a.id)
    );
    assert_eq!(
        store.memberships_of_user(owner_b.id).await.unwrap().len(),
        1
    );

    // Audit.
    assert!(
        store
            .list_audit(b.id, None, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.account_id == b.id)
    );
    assert_eq!(verified_chain(store, a.id).await, chain_a);
    let chain_b_now = verified_chain(store, b.id).await;
    assert_eq!(&chain_b_now[..chain_b.len()], &chain_b[..]);
    assert_eq!(
        chain_b_now.len(),
        chain_b.len() + 1,
        "only B's own secret.put was added"
    );

    // Compliance.
    assert!(
        store
            .compliance_history(b.id, &number)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.compliance_state(b.id, &number).await.unwrap(),
        ContactCompliance::default()
    );
    assert!(store.suppression_list(b.id).await.unwrap().is_empty());
    assert_eq!(store.suppression_list(a.id).await.unwrap(), vec![number]);
}

// ---- messaging ----

fn new_channel(account: AccountId, tag: &str) -> NewChannel {
    NewChannel {
        id: ChannelId::new(),
        account_id: account,
        provider: "sandbox".to_owned(),
        name: format!("{tag} line"),
        address: "+15125550100".to_owned(),
        webhook_token: unique(),
        settings: serde_json::json!({ "account_sid": format!("AC{tag}"), "region": "us1" }),
        send_rate_per_minute: 60,
    }
}

/// A fresh account with one channel.
async fn messaging_account(store: &dyn Store, tag: &str) -> (Account, Channel) {
    let (_, account) = signup(store, tag).await;
    let channel = store
        .create_channel(new_channel(account.id, tag))
        .await
        .unwrap();
    (account, channel)
}

fn inbound(channel: &Channel, from: &E164Phone, body: &str, at: Timestamp) -> NewInbound {
    NewInbound {
        id: MessageId::new(),
        account_id: channel.account_id,
        channel_id: channel.id,
        from: from.clone(),
        body: body.to_owned(),
        media: serde_json::json!([]),
        provider_message_id: format!("SM{}", unique()),
        received_at: at,
        schedule_reply: None,
        schedule_summary: None,
    }
}

/// Stores an inbound message that must be new.
async fn receive(store: &dyn Store, new: NewInbound) -> (Message, Lead, Conversation) {
    match store.store_inbound(new).await.unwrap() {
        InboundOutcome::Stored {
            message,
            lead,
            conversation,
        } => (message, lead, conversation),
        other => panic!("expected a stored message, got {other:?}"),
    }
}

/// A conversation with `from` on `channel`, started by an inbound message.
async fn conversation_with(
    store: &dyn Store,
    channel: &Channel,
    from: &E164Phone,
) -> (Lead, Conversation) {
    let (_, lead, conversation) = receive(
        store,
        inbound(channel, from, "Hi, is this still available?", now()),
    )
    .await;
    (lead, conversation)
}

fn outbound(conversation: &Conversation, author: Author, due_at: Timestamp) -> NewOutbound {
    NewOutbound {
        id: MessageId::new(),
        account_id: conversation.account_id,
        conversation_id: conversation.id,
        body: "Thanks for reaching out! When suits you for a call?".to_owned(),
        author,
        segments: 1,
        encoding: "GSM-7".to_owned(),
        idempotency_key: format!("decision:{}", unique()),
        due_at,
    }
}

async fn enqueue(store: &dyn Store, new: NewOutbound) -> Message {
    store.enqueue_outbound(new, Vec::new()).await.unwrap()
}

fn new_job(
    account: AccountId,
    kind: &str,
    key: Option<&str>,
    run_at: Timestamp,
    payload: serde_json::Value,
) -> NewJob {
    NewJob {
        id: JobId::new(),
        account_id: account,
        kind: kind.to_owned(),
        dedup_key: key.map(str::to_owned),
        payload,
        run_at,
    }
}

/// A job kind no other test uses, so `claim_jobs` sees only this test's jobs.
fn job_kind(tag: &str) -> String {
    format!("test.{tag}.{}", &unique()[..12])
}

/// A fixed instant long ago. The outbox is claimed across accounts, so tests that claim it
/// queue their messages due in the distant past (`year` keeps each test apart) and claim with
/// `now` there: messages other tests queue are due at the real now and stay out of reach.
/// Every such test settles what it queued before returning.
fn long_ago(year: i16) -> Timestamp {
    jiff::civil::date(year, 1, 1)
        .at(9, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
}

fn ids_of(work: &[OutboundWork]) -> Vec<MessageId> {
    work.iter().map(|w| w.message.id).collect()
}

async fn message_in(store: &dyn Store, conversation: &Conversation, id: MessageId) -> Message {
    store
        .messages(conversation.account_id, conversation.id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == id)
        .unwrap_or_else(|| panic!("message {id} is not in conversation {}", conversation.id))
}

async fn pending_of_kind(store: &dyn Store, account: AccountId, kind: &str) -> Vec<Job> {
    store
        .pending_jobs(account)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == kind)
        .collect()
}

/// Polls every future on the current task until all finish: real concurrency for I/O-bound
/// store calls, without depending on a runtime.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Channels: create, list, get, webhook routing by (provider, token), touch, enable/disable.
pub async fn channels_create_list_lookup_enable(store: &dyn Store) {
    let (_, account) = signup(store, "channels").await;
    let first_new = new_channel(account.id, "first");
    let first = store.create_channel(first_new.clone()).await.unwrap();
    assert_eq!(first.id, first_new.id);
    assert_eq!(first.account_id, account.id);
    assert_eq!(first.provider, "sandbox");
    assert_eq!(first.name, first_new.name);
    assert_eq!(first.address, first_new.address);
    assert_eq!(first.webhook_token, first_new.webhook_token);
    assert_eq!(first.settings, first_new.settings);
    assert_eq!(first.send_rate_per_minute, 60);
    assert!(first.enabled, "new channels are enabled");
    assert_eq!(first.last_webhook_at, None);
    let mut second_new = new_channel(account.id, "second");
    second_new.provider = "twilio".to_owned();
    second_new.send_rate_per_minute = u32::MAX;
    let second = store.create_channel(second_new).await.unwrap();
    assert_eq!(second.send_rate_per_minute, u32::MAX);

    assert_eq!(
        store.list_channels(account.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        store.get_channel(account.id, first.id).await.unwrap(),
        first
    );
    assert_not_found(store.get_channel(account.id, ChannelId::new()).await);

    // Webhook routing is by token, and the token must belong to the named provider.
    assert_eq!(
        store
            .find_channel_by_webhook_token("sandbox", &first.webhook_token)
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .find_channel_by_webhook_token("twilio", &first.webhook_token)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_channel_by_webhook_token("sandbox", &unique())
            .await
            .unwrap(),
        None
    );
    let mut same_token = new_channel(account.id, "clash");
    same_token.webhook_token = first.webhook_token.clone();
    assert_conflict(store.create_channel(same_token).await, "webhook token");
    assert_not_found(
        store
            .create_channel(new_channel(AccountId::new(), "orphan"))
            .await,
    );

    // Last webhook: the latest wins, a late one does not move it back.
    let at = now();
    store.touch_channel_webhook(first.id, at).await.unwrap();
    store
        .touch_channel_webhook(first.id, at - minutes(5))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_channel(account.id, first.id)
            .await
            .unwrap()
            .last_webhook_at,
        Some(at)
    );
    assert_not_found(store.touch_channel_webhook(ChannelId::new(), at).await);

    store
        .set_channel_enabled(account.id, first.id, false)
        .await
        .unwrap();
    let disabled = store.get_channel(account.id, first.id).await.unwrap();
    assert!(!disabled.enabled);
    assert_eq!(
        store
            .find_channel_by_webhook_token("sandbox", &first.webhook_token)
            .await
            .unwrap(),
        Some(disabled),
        "routing still finds a disabled channel; the caller decides"
    );
    store
        .set_channel_enabled(account.id, first.id, true)
        .await
        .unwrap();
    assert!(
        store
            .get_channel(account.id, first.id)
            .await
            .unwrap()
            .enabled
    );
    assert_not_found(
        store
            .set_channel_enabled(account.id, ChannelId::new(), false)
            .await,
    );
}

/// Leads are matched on (account, phone): a second upsert updates the given fields only.
pub async fn leads_upsert_by_phone_and_update(store: &dyn Store) {
    let (_, account) = signup(store, "leads").await;
    let number = phone("+15125550111");
    let created = store
        .upsert_lead(
            account.id,
            &number,
            LeadInput {
                name: Some("Dana Reyes".to_owned()),
                email: Some("dana@example.com".to_owned()),
                state: Some("TX".to_owned()),
                time_zone: None,
                tags: vec!["web".to_owned()],
            },
        )
        .await
        .unwrap();
    assert_eq!(created.account_id, account.id);
    assert_eq!(created.phone, number);
    assert_eq!(created.name, "Dana Reyes");
    assert_eq!(created.email.as_deref(), Some("dana@example.com"));
    assert_eq!(created.state.as_deref(), Some("TX"));
    assert_eq!(created.time_zone, None);
    assert_eq!(created.stage, "new");
    assert_eq!(created.score, None);
    assert_eq!(created.intent, None);
    assert_eq!(created.owner, None);
    assert_eq!(created.tags, vec!["web".to_owned()]);
    assert_eq!(created.fields, serde_json::json!({}));
    assert_eq!(created.created_at, created.updated_at);

    // Only what is given changes; no tags given keeps the tags.
    let updated = store
        .upsert_lead(
            account.id,
            &number,
            LeadInput {
                email: Some("dana.reyes@example.com".to_owned()),
                time_zone: Some("America/Chicago".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.id, created.id, "same phone, same lead");
    assert_eq!(updated.name, "Dana Reyes");
    assert_eq!(updated.email.as_deref(), Some("dana.reyes@example.com"));
    assert_eq!(updated.state.as_deref(), Some("TX"));
    assert_eq!(updated.time_zone.as_deref(), Some("America/Chicago"));
    assert_eq!(updated.tags, vec!["web".to_owned()]);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    let retagged = store
        .upsert_lead(
            account.id,
            &number,
            LeadInput {
                tags: vec!["import".to_owned(), "vip".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(retagged.tags, vec!["import".to_owned(), "vip".to_owned()]);
    assert_eq!(
        store
            .list_leads(account.id, &LeadQuery::page(None, 100, 0))
            .await
            .unwrap(),
        vec![retagged.clone()],
        "no duplicate lead"
    );
    assert_eq!(
        store.get_lead(account.id, created.id).await.unwrap(),
        retagged
    );
    assert_eq!(
        store.find_lead_by_phone(account.id, &number).await.unwrap(),
        Some(retagged.clone())
    );
    assert_eq!(
        store
            .find_lead_by_phone(account.id, &phone("+15125550112"))
            .await
            .unwrap(),
        None
    );
    assert_not_found(store.get_lead(account.id, LeadId::new()).await);

    // Stage and fields.
    let fields = serde_json::json!({
        "budget": { "value": "400k", "message_id": null, "confidence": 0.9, "source": "ai" }
    });
    let staged = store
        .update_lead_fields(
            account.id,
            created.id,
            Some("qualified"),
            Some(fields.clone()),
        )
        .await
        .unwrap();
    assert_eq!(staged.stage, "qualified");
    assert_eq!(staged.fields, fields);
    assert_eq!(staged.name, "Dana Reyes");
    let restaged = store
        .update_lead_fields(account.id, created.id, Some("booked"), None)
        .await
        .unwrap();
    assert_eq!(restaged.stage, "booked");
    assert_eq!(restaged.fields, fields, "fields kept when not given");
    assert_eq!(
        store.get_lead(account.id, created.id).await.unwrap(),
        restaged
    );
    assert_not_found(
        store
            .update_lead_fields(account.id, LeadId::new(), Some("closed"), None)
            .await,
    );
    assert_not_found(
        store
            .upsert_lead(AccountId::new(), &number, LeadInput::default())
            .await,
    );
}

/// Newest first; the query matches name, phone or email case-insensitively, with LIKE
/// wildcards taken literally; limit and offset page through the same order.
pub async fn leads_list_search_and_paging(store: &dyn Store) {
    let (_, account) = signup(store, "lead-list").await;
    let people = [
        ("Dana Reyes", Some("dana@example.com"), "+15125550121"),
        ("Sam O'Neil", None, "+15125550122"),
        (
            "Priya Patel",
            Some("priya@DANVILLE.example"),
            "+15125550123",
        ),
        ("DANIEL Kim", None, "+15125550124"),
        ("Lee 100%", Some("lee_1@example.com"), "+15125550125"),
    ];
    let mut created = Vec::new();
    for (name, mail, number) in people {
        let lead = store
            .upsert_lead(
                account.id,
                &phone(number),
                LeadInput {
                    name: Some(name.to_owned()),
                    email: mail.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        created.push(lead);
    }
    let newest_first: Vec<Lead> = created.iter().rev().cloned().collect();
    assert_eq!(
        store
            .list_leads(account.id, &LeadQuery::page(None, 100, 0))
            .await
            .unwrap(),
        newest_first
    );
    assert_eq!(
        store
            .list_leads(account.id, &LeadQuery::page(Some("   "), 100, 0))
            .await
            .unwrap(),
        newest_first,
        "a blank query lists everyone"
    );

    let names = |leads: Vec<Lead>| leads.into_iter().map(|l| l.name).collect::<Vec<_>>();
    let search = |q: &'static str| async move {
        store
            .list_leads(account.id, &LeadQuery::page(Some(q), 100, 0))
            .await
    };
    assert_eq!(
        names(search("dan").await.unwrap()),
        vec!["DANIEL Kim", "Priya Patel", "Dana Reyes"],
        "name or email, any case"
    );
    assert_eq!(names(search("DANA@").await.unwrap()), vec!["Dana Reyes"]);
    assert_eq!(names(search("5550122").await.unwrap()), vec!["Sam O'Neil"]);
    assert_eq!(names(search("o'neil").await.unwrap()), vec!["Sam O'Neil"]);
    assert_eq!(names(search("100%").await.unwrap()), vec!["Lee 100%"]);
    assert_eq!(
        names(search("%").await.unwrap()),
        vec!["Lee 100%"],
        "% is literal"
    );
    assert_eq!(
        names(search("e_1").await.unwrap()),
        vec!["Lee 100%"],
        "_ is literal"
    );
    assert!(
        search("a_r").await.unwrap().is_empty(),
        "_ does not match the space in \"Dana Reyes\""
    );
    assert!(search("nobody").await.unwrap().is_empty());

    let mut paged = Vec::new();
    for offset in [0, 2, 4] {
        let page = store
            .list_leads(account.id, &LeadQuery::page(None, 2, offset))
            .await
            .unwrap();
        assert!(page.len() <= 2);
        paged.extend(page);
    }
    assert_eq!(paged, newest_first);
    assert!(
        store
            .list_leads(account.id, &LeadQuery::page(None, 2, 6))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(
            store
                .list_leads(account.id, &LeadQuery::page(Some("dan"), 1, 1))
                .await
                .unwrap()
        ),
        vec!["Priya Patel"],
        "paging applies to the matches"
    );
}

/// The list orders by creation, update, name (any case) or score (unscored last when
/// descending), filters by stage and by an exact tag, and a page's compliance states come back
/// in one read.
pub async fn leads_sort_filter_and_batch_compliance(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "lead-sort").await;
    let (other, _) = messaging_account(store, "lead-sort-other").await;
    let people = [
        ("bob", vec!["vip"], "+15125550301"),
        ("Alice", vec!["vip", "2024"], "+15125550302"),
        ("carol", vec!["vip-gold"], "+15125550303"),
        ("Dave", vec![], "+15125550304"),
    ];
    let mut leads = Vec::new();
    for (name, tags, number) in people.clone() {
        leads.push(
            store
                .upsert_lead(
                    account.id,
                    &phone(number),
                    LeadInput {
                        name: Some(name.to_owned()),
                        tags: tags.into_iter().map(str::to_owned).collect(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap(),
        );
    }
    // Dave is scored through a turn; carol moves to `qualified`.
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550304")).await;
    store
        .record_turn(crate::NewTurn {
            id: EventId::new(),
            account_id: account.id,
            lead_id: leads[3].id,
            conversation_id: conversation.id,
            message_id: None,
            engine: "playbook".to_owned(),
            intent: "interested".to_owned(),
            score: 80,
            next_action: "reply".to_owned(),
            details: serde_json::json!({}),
            input_tokens: 0,
            output_tokens: 0,
            at: now(),
            stage: None,
            fields: None,
        })
        .await
        .unwrap();
    store
        .update_lead_fields(account.id, leads[2].id, Some("qualified"), None)
        .await
        .unwrap();

    let list = |query: LeadQuery| async move {
        store
            .list_leads(account.id, &query)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect::<Vec<_>>()
    };
    let q = |sort, ascending| LeadQuery {
        sort,
        ascending,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        list(q(LeadSort::Name, true)).await,
        ["Alice", "bob", "carol", "Dave"],
        "names in any case"
    );
    assert_eq!(
        list(q(LeadSort::Name, false)).await,
        ["Dave", "carol", "bob", "Alice"]
    );
    assert_eq!(
        list(q(LeadSort::Created, true)).await,
        ["bob", "Alice", "carol", "Dave"]
    );
    let by_score = list(q(LeadSort::Score, false)).await;
    assert_eq!(by_score.first().map(String::as_str), Some("Dave"));
    assert_eq!(by_score.len(), 4);
    let by_update = list(q(LeadSort::Updated, false)).await;
    assert_eq!(by_update.len(), 4);
    assert!(
        by_update[..2].contains(&"Dave".to_owned()) && by_update[..2].contains(&"carol".to_owned()),
        "the two just changed come first: {by_update:?}"
    );

    let filtered = |stage: Option<&str>, tag: Option<&str>| LeadQuery {
        stage: stage.map(str::to_owned),
        tag: tag.map(str::to_owned),
        sort: LeadSort::Name,
        ascending: true,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        list(filtered(None, Some("vip"))).await,
        ["Alice", "bob"],
        "an exact tag, not a prefix"
    );
    assert_eq!(list(filtered(None, Some("2024"))).await, ["Alice"]);
    assert_eq!(list(filtered(Some("qualified"), None)).await, ["carol"]);
    assert!(
        list(filtered(Some("qualified"), Some("vip")))
            .await
            .is_empty()
    );
    assert_eq!(
        list(filtered(None, Some("  "))).await.len(),
        4,
        "a blank tag is no filter"
    );
    assert!(
        list(filtered(None, Some("%"))).await.is_empty(),
        "wildcards are literal"
    );
    assert!(
        store
            .list_leads(other.id, &filtered(None, Some("vip")))
            .await
            .unwrap()
            .is_empty(),
        "another account's filter sees none"
    );

    // Compliance states for a page: only numbers with events appear.
    let opted = phone("+15125550301");
    store
        .append_compliance_event(NewComplianceEvent {
            id: EventId::new(),
            account_id: account.id,
            phone: opted.clone(),
            kind: ComplianceEventKind::OptOut,
            source: "keyword".to_owned(),
            details: serde_json::json!({}),
            at: now(),
        })
        .await
        .unwrap();
    let numbers: Vec<E164Phone> = people.iter().map(|(_, _, n)| phone(n)).collect();
    let states = store.compliance_states(account.id, &numbers).await.unwrap();
    assert_eq!(states.len(), 1);
    assert!(states[&opted].opted_out);
    assert!(
        store
            .compliance_states(other.id, &numbers)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .compliance_states(account.id, &[])
            .await
            .unwrap()
            .is_empty()
    );

    // The opt-out log: newest first, limited, the account's own.
    store
        .append_compliance_event(NewComplianceEvent {
            id: EventId::new(),
            account_id: account.id,
            phone: opted.clone(),
            kind: ComplianceEventKind::OptIn,
            source: "keyword".to_owned(),
            details: serde_json::json!({}),
            at: now() + SignedDuration::from_secs(1),
        })
        .await
        .unwrap();
    let log = store
        .recent_compliance_events(account.id, 10)
        .await
        .unwrap();
    let kinds: Vec<ComplianceEventKind> = log.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ComplianceEventKind::OptIn, ComplianceEventKind::OptOut]
    );
    assert_eq!(
        store
            .recent_compliance_events(account.id, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .recent_compliance_events(other.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The inbox filters: unread, needing attention, the assistant active or taken over, the
/// lead's stage and a name-or-number search, combined, paged, and scoped to the account.
pub async fn conversations_filter_for_the_inbox(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "inbox-filters").await;
    let (other, other_channel) = messaging_account(store, "inbox-filters-other").await;
    let mut conversations = Vec::new();
    for (number, name) in [
        ("+15125550501", "Dana Reyes"),
        ("+15125550502", "Sam Ortiz"),
        ("+15125550503", "Priya Patel"),
    ] {
        let (lead, conversation) = conversation_with(store, &channel, &phone(number)).await;
        store
            .upsert_lead(
                account.id,
                &lead.phone,
                LeadInput {
                    name: Some(name.to_owned()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        conversations.push((lead, conversation));
    }
    let _ = conversation_with(store, &other_channel, &phone("+15125550501")).await;
    let (dana, sam, priya) = (&conversations[0], &conversations[1], &conversations[2]);
    store.mark_read(account.id, dana.1.id).await.unwrap();
    store
        .set_ai_paused(account.id, sam.1.id, true)
        .await
        .unwrap();
    store
        .set_needs_attention(account.id, priya.1.id, true)
        .await
        .unwrap();
    store
        .update_lead_fields(account.id, priya.0.id, Some("qualified"), None)
        .await
        .unwrap();

    let found = |query: ConversationQuery| async move {
        let mut ids: Vec<ConversationId> = store
            .find_conversations(account.id, &ConversationQuery { limit: 10, ..query })
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    };
    let ids = |list: &[&(Lead, Conversation)]| {
        let mut ids: Vec<ConversationId> = list.iter().map(|(_, c)| c.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        found(ConversationQuery::default()).await,
        ids(&[dana, sam, priya])
    );
    assert_eq!(
        found(ConversationQuery {
            unread_only: true,
            ..Default::default()
        })
        .await,
        ids(&[sam, priya])
    );
    assert_eq!(
        found(ConversationQuery {
            attention_only: true,
            ..Default::default()
        })
        .await,
        ids(&[priya])
    );
    assert_eq!(
        found(ConversationQuery {
            ai_active: Some(false),
            ..Default::default()
        })
        .await,
        ids(&[sam])
    );
    assert_eq!(
        found(ConversationQuery {
            ai_active: Some(true),
            ..Default::default()
        })
        .await,
        ids(&[dana, priya])
    );
    assert_eq!(
        found(ConversationQuery {
            stage: Some("qualified".into()),
            ..Default::default()
        })
        .await,
        ids(&[priya])
    );
    assert_eq!(
        found(ConversationQuery {
            text: Some("REYES".into()),
            ..Default::default()
        })
        .await,
        ids(&[dana])
    );
    assert_eq!(
        found(ConversationQuery {
            text: Some("0502".into()),
            ..Default::default()
        })
        .await,
        ids(&[sam])
    );
    assert!(
        found(ConversationQuery {
            text: Some("ortiz".into()),
            ai_active: Some(true),
            ..Default::default()
        })
        .await
        .is_empty(),
        "filters combine"
    );
    // Paging walks the same order; another account's conversation never shows.
    let mut paged = Vec::new();
    for offset in 0..4 {
        paged.extend(
            store
                .find_conversations(
                    account.id,
                    &ConversationQuery {
                        limit: 1,
                        offset,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id),
        );
    }
    paged.sort();
    assert_eq!(paged, ids(&[dana, sam, priya]));
    assert!(
        store
            .find_conversations(
                other.id,
                &ConversationQuery {
                    text: Some("sam".into()),
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
}

/// Deleting a lead deletes its conversations and their messages.
pub async fn lead_delete_cascades(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "lead-delete").await;
    let number = phone("+15125550131");
    let (lead, conversation) = conversation_with(store, &channel, &number).await;
    let reply = enqueue(store, outbound(&conversation, Author::Ai, now())).await;
    let keep_number = phone("+15125550132");
    let (kept_lead, kept_conversation) = conversation_with(store, &channel, &keep_number).await;

    store.delete_lead(account.id, lead.id).await.unwrap();
    assert_not_found(store.get_lead(account.id, lead.id).await);
    assert_eq!(
        store.find_lead_by_phone(account.id, &number).await.unwrap(),
        None
    );
    assert_not_found(store.get_conversation(account.id, conversation.id).await);
    assert_not_found(store.messages(account.id, conversation.id).await);
    assert_not_found(store.delete_lead(account.id, lead.id).await);
    assert_not_found(
        store
            .mark_sent(reply.id, "SMgone", MessageStatus::Sent, now(), None)
            .await,
    );

    // The other lead is untouched.
    assert_eq!(
        store.get_lead(account.id, kept_lead.id).await.unwrap().id,
        kept_lead.id
    );
    assert_eq!(
        store
            .messages(account.id, kept_conversation.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // The number can come back as a new lead.
    let (again, _) = conversation_with(store, &channel, &number).await;
    assert_ne!(again.id, lead.id);
}

/// An inbound message creates (or matches) the lead and the conversation and marks it unread;
/// the same provider message id on the same channel is stored once.
pub async fn inbound_is_idempotent_and_creates_lead_and_conversation(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "inbound").await;
    let number = phone("+15125550141");
    let t0 = now() - minutes(30);
    let mut first_new = inbound(&channel, &number, "Hi! Is the 3-bed still for sale?", t0);
    first_new.media =
        serde_json::json!([{ "url": "https://media.example/1.jpg", "content_type": "image/jpeg" }]);
    let (first, lead, conversation) = receive(store, first_new.clone()).await;

    assert_eq!(first.id, first_new.id);
    assert_eq!(first.account_id, account.id);
    assert_eq!(first.conversation_id, conversation.id);
    assert_eq!(first.direction, Direction::Inbound);
    assert_eq!(first.body, first_new.body);
    assert_eq!(first.media, first_new.media);
    assert_eq!(first.author, Author::Lead);
    assert_eq!(first.status, MessageStatus::Received);
    assert_eq!(
        first.provider_message_id.as_deref(),
        Some(first_new.provider_message_id.as_str())
    );
    assert_eq!(first.segments, 1);
    assert_eq!(first.encoding, "GSM-7");
    assert_eq!(first.idempotency_key, None);
    assert_eq!(first.due_at, None);
    assert_eq!(first.attempts, 0);
    assert_eq!(first.created_at, t0);
    assert_eq!(first.sent_at, None);

    assert_eq!(lead.account_id, account.id);
    assert_eq!(lead.phone, number);
    assert_eq!(lead.stage, "new");
    assert_eq!(lead.name, "");
    assert_eq!(
        store.find_lead_by_phone(account.id, &number).await.unwrap(),
        Some(lead.clone())
    );
    assert_eq!(conversation.account_id, account.id);
    assert_eq!(conversation.lead_id, lead.id);
    assert_eq!(conversation.channel_id, channel.id);
    assert!(conversation.unread);
    assert!(!conversation.ai_paused);
    assert!(!conversation.needs_attention);
    assert_eq!(conversation.last_message_at, Some(t0));
    assert_eq!(
        store
            .get_conversation(account.id, conversation.id)
            .await
            .unwrap(),
        conversation
    );

    // The provider retries the webhook: same provider id, nothing new.
    let retry = NewInbound {
        id: MessageId::new(),
        body: "different body, same provider id".to_owned(),
        ..first_new.clone()
    };
    match store.store_inbound(retry).await.unwrap() {
        InboundOutcome::Duplicate { message } => assert_eq!(message, first),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(
        store.messages(account.id, conversation.id).await.unwrap(),
        vec![first.clone()]
    );

    // The next message from the number joins the same lead and conversation.
    store.mark_read(account.id, conversation.id).await.unwrap();
    assert!(
        !store
            .get_conversation(account.id, conversation.id)
            .await
            .unwrap()
            .unread
    );
    let t1 = t0 + minutes(10);
    let (second, lead_again, conversation_again) = receive(
        store,
        inbound(&channel, &number, "Can I see it Saturday? 🙏", t1),
    )
    .await;
    assert_eq!(lead_again.id, lead.id);
    assert!(lead_again.updated_at >= lead.updated_at);
    assert_eq!(conversation_again.id, conversation.id);
    assert!(conversation_again.unread, "a new message marks it unread");
    assert_eq!(conversation_again.last_message_at, Some(t1));
    assert_eq!(second.encoding, "UCS-2");

    // A late webhook for an older message does not move last activity back.
    let (late, _, conversation_late) = receive(
        store,
        inbound(&channel, &number, "(sent earlier)", t0 + minutes(5)),
    )
    .await;
    assert_eq!(conversation_late.last_message_at, Some(t1));
    assert_eq!(
        store
            .messages(account.id, conversation.id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![first.id, late.id, second.id],
        "oldest first"
    );

    // A known lead keeps its details; a second channel is a second conversation.
    let named = phone("+15125550142");
    let known = store
        .upsert_lead(
            account.id,
            &named,
            LeadInput {
                name: Some("Jo Park".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (_, matched, _) = receive(store, inbound(&channel, &named, "hello", now())).await;
    assert_eq!(matched.id, known.id);
    assert_eq!(matched.name, "Jo Park");
    let other_channel = store
        .create_channel(new_channel(account.id, "inbound-2"))
        .await
        .unwrap();
    let (_, lead_on_other, conversation_on_other) =
        receive(store, inbound(&other_channel, &number, "hi again", now())).await;
    assert_eq!(lead_on_other.id, lead.id);
    assert_ne!(conversation_on_other.id, conversation.id);
    assert_eq!(conversation_on_other.channel_id, other_channel.id);

    // Provider ids are unique per channel only.
    let same_id_other_channel = NewInbound {
        id: MessageId::new(),
        channel_id: other_channel.id,
        ..first_new
    };
    receive(store, same_id_other_channel).await;

    // Unknown channel: nothing is stored, not even the lead.
    let stranger = phone("+15125550143");
    let mut lost = inbound(&channel, &stranger, "hello?", now());
    lost.channel_id = ChannelId::new();
    assert_not_found(store.store_inbound(lost).await);
    assert_eq!(
        store
            .find_lead_by_phone(account.id, &stranger)
            .await
            .unwrap(),
        None
    );
}

/// `conversation_for` finds or creates; flags round-trip; listing is most recent first with
/// the unread and attention filters.
pub async fn conversations_find_or_create_flags_and_listing(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "conversations").await;
    let quiet = store
        .upsert_lead(account.id, &phone("+15125550151"), LeadInput::default())
        .await
        .unwrap();
    let created = store
        .conversation_for(account.id, quiet.id, channel.id)
        .await
        .unwrap();
    assert_eq!(created.account_id, account.id);
    assert_eq!(created.lead_id, quiet.id);
    assert_eq!(created.channel_id, channel.id);
    assert!(!created.unread && !created.ai_paused && !created.needs_attention);
    assert_eq!(created.last_message_at, None);
    assert_eq!(
        store
            .conversation_for(account.id, quiet.id, channel.id)
            .await
            .unwrap(),
        created,
        "found, not created again"
    );
    assert_not_found(
        store
            .conversation_for(account.id, LeadId::new(), channel.id)
            .await,
    );
    assert_not_found(
        store
            .conversation_for(account.id, quiet.id, ChannelId::new())
            .await,
    );

    store
        .set_ai_paused(account.id, created.id, true)
        .await
        .unwrap();
    store
        .set_needs_attention(account.id, created.id, true)
        .await
        .unwrap();
    let flagged = store
        .get_conversation(account.id, created.id)
        .await
        .unwrap();
    assert!(flagged.ai_paused && flagged.needs_attention);
    store
        .set_ai_paused(account.id, created.id, false)
        .await
        .unwrap();
    assert!(
        !store
            .get_conversation(account.id, created.id)
            .await
            .unwrap()
            .ai_paused
    );
    assert!(
        store
            .messages(account.id, created.id)
            .await
            .unwrap()
            .is_empty(),
        "a conversation without messages is an empty thread"
    );

    // Three more conversations, with activity 5, 4 and 3 minutes ago (the quiet one has none
    // and ranks by when it was created, i.e. now).
    let base = now() - minutes(5);
    let mut active = Vec::new();
    for (n, number) in ["+15125550152", "+15125550153", "+15125550154"]
        .into_iter()
        .enumerate()
    {
        let at = base + minutes(n as i64);
        let (_, _, conversation) =
            receive(store, inbound(&channel, &phone(number), "hi", at)).await;
        active.push(conversation);
    }
    let ids = |list: Vec<Conversation>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .list_conversations(account.id, false, false, 100)
            .await
            .unwrap()),
        vec![created.id, active[2].id, active[1].id, active[0].id]
    );
    store.mark_read(account.id, active[1].id).await.unwrap();
    assert_eq!(
        ids(store
            .list_conversations(account.id, true, false, 100)
            .await
            .unwrap()),
        vec![active[2].id, active[0].id]
    );
    assert_eq!(
        ids(store
            .list_conversations(account.id, false, true, 100)
            .await
            .unwrap()),
        vec![created.id]
    );
    store
        .set_needs_attention(account.id, active[0].id, true)
        .await
        .unwrap();
    assert_eq!(
        ids(store
            .list_conversations(account.id, true, true, 100)
            .await
            .unwrap()),
        vec![active[0].id]
    );
    assert_eq!(
        ids(store
            .list_conversations(account.id, false, false, 2)
            .await
            .unwrap()),
        vec![created.id, active[2].id]
    );

    let missing = ConversationId::new();
    assert_not_found(store.get_conversation(account.id, missing).await);
    assert_not_found(store.set_ai_paused(account.id, missing, true).await);
    assert_not_found(store.set_needs_attention(account.id, missing, true).await);
    assert_not_found(store.mark_read(account.id, missing).await);
    assert_not_found(store.messages(account.id, missing).await);
}

/// An outbound message is queued with its jobs in one transaction; replaying the same
/// idempotency key returns the first message and adds nothing.
pub async fn outbound_enqueue_is_idempotent_with_jobs(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "outbox").await;
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550161")).await;
    let kind = job_kind("outbox");
    let due = now() + minutes(2);
    let new = outbound(&conversation, Author::Ai, due);
    let job = new_job(
        account.id,
        &kind,
        Some(&format!("followup:{}", conversation.id)),
        due + minutes(60),
        serde_json::json!({ "conversation": conversation.id }),
    );
    let before = now();
    let queued = store
        .enqueue_outbound(new.clone(), vec![job.clone()])
        .await
        .unwrap();
    assert_eq!(queued.id, new.id);
    assert_eq!(queued.account_id, account.id);
    assert_eq!(queued.conversation_id, conversation.id);
    assert_eq!(queued.direction, Direction::Outbound);
    assert_eq!(queued.body, new.body);
    assert_eq!(queued.media, serde_json::json!([]));
    assert_eq!(queued.author, Author::Ai);
    assert_eq!(queued.status, MessageStatus::Queued);
    assert_eq!(queued.provider_message_id, None);
    assert_eq!(queued.error_code, None);
    assert_eq!(queued.segments, 1);
    assert_eq!(queued.encoding, "GSM-7");
    assert_eq!(queued.gate, None);
    assert_eq!(
        queued.idempotency_key.as_deref(),
        Some(new.idempotency_key.as_str())
    );
    assert_eq!(queued.due_at, Some(due));
    assert_eq!(queued.attempts, 0);
    assert_eq!(queued.sent_at, None);
    assert_eq!(message_in(store, &conversation, new.id).await, queued);
    let jobs = pending_of_kind(store, account.id, &kind).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, job.id);
    assert_eq!(jobs[0].payload, job.payload);
    assert_eq!(jobs[0].run_at, job.run_at);
    let touched = store
        .get_conversation(account.id, conversation.id)
        .await
        .unwrap();
    assert!(touched.last_message_at.unwrap() >= before);

    // The decision is replayed after a crash: same key, new ids, different text.
    let replay = NewOutbound {
        id: MessageId::new(),
        body: "a second draft".to_owned(),
        ..new.clone()
    };
    let again = store
        .enqueue_outbound(
            replay,
            vec![new_job(account.id, &kind, None, due, serde_json::json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(again, queued);
    assert_eq!(
        store
            .messages(account.id, conversation.id)
            .await
            .unwrap()
            .len(),
        2,
        "the inbound and one reply"
    );
    assert_eq!(pending_of_kind(store, account.id, &kind).await.len(), 1);

    // Other authors round-trip.
    let (owner, _) = signup(store, "outbox-human").await;
    for author in [
        Author::Human { user_id: owner.id },
        Author::System,
        Author::Sequence {
            step: "day-2".to_owned(),
        },
    ] {
        let message = enqueue(store, outbound(&conversation, author.clone(), due)).await;
        assert_eq!(message.author, author);
        assert_eq!(
            message_in(store, &conversation, message.id).await.author,
            author
        );
    }

    // An unknown conversation: nothing is queued, its jobs neither.
    let mut stray = outbound(&conversation, Author::Ai, due);
    stray.conversation_id = ConversationId::new();
    assert_not_found(
        store
            .enqueue_outbound(
                stray,
                vec![new_job(account.id, &kind, None, due, serde_json::json!({}))],
            )
            .await,
    );
    assert_eq!(pending_of_kind(store, account.id, &kind).await.len(), 1);
}

/// Claims take due, unleased waiting rows in due order, lease them and count the attempt; a
/// leased row is invisible until its lease expires, and then (even in `sending`, its worker
/// having died) it is claimable again.
pub async fn outbound_claim_due_leased_and_expired(store: &dyn Store) {
    let t0 = long_ago(2001);
    let (account, channel) = messaging_account(store, "claim").await;
    let number = phone("+15125550171");
    let (lead, conversation) = conversation_with(store, &channel, &number).await;
    let m1 = enqueue(store, outbound(&conversation, Author::Ai, t0)).await;
    let m2 = enqueue(store, outbound(&conversation, Author::Ai, t0 + minutes(1))).await;
    let m3 = enqueue(store, outbound(&conversation, Author::Ai, t0 + minutes(10))).await;

    assert!(
        store
            .claim_outbound(t0 - minutes(1), t0 + minutes(5), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing due yet"
    );
    assert!(
        store
            .claim_outbound(t0 + minutes(2), t0 + minutes(7), 0)
            .await
            .unwrap()
            .is_empty()
    );
    let work = store
        .claim_outbound(t0 + minutes(2), t0 + minutes(7), 10)
        .await
        .unwrap();
    assert_eq!(ids_of(&work), vec![m1.id, m2.id], "due ones, in due order");
    for item in &work {
        assert_eq!(item.message.status, MessageStatus::Sending);
        assert_eq!(item.message.attempts, 1);
        assert_eq!(item.conversation.id, conversation.id);
        assert_eq!(item.lead.id, lead.id);
        assert_eq!(item.lead.phone, number);
        assert_eq!(item.channel, channel);
    }
    assert_eq!(
        message_in(store, &conversation, m1.id).await.status,
        MessageStatus::Sending
    );

    // Leased: invisible, even when due.
    assert!(
        store
            .claim_outbound(t0 + minutes(6), t0 + minutes(8), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The worker died: once the lease runs out they come back, attempts counting on.
    let reclaimed = store
        .claim_outbound(t0 + minutes(7), t0 + minutes(20), 1)
        .await
        .unwrap();
    assert_eq!(ids_of(&reclaimed), vec![m1.id], "limit respected");
    assert_eq!(reclaimed[0].message.attempts, 2);
    let reclaimed = store
        .claim_outbound(t0 + minutes(8), t0 + minutes(20), 10)
        .await
        .unwrap();
    assert_eq!(ids_of(&reclaimed), vec![m2.id]);
    assert_eq!(reclaimed[0].message.attempts, 2);

    // m3 falls due; a deferred row is claimable when due again.
    let third = store
        .claim_outbound(t0 + minutes(10), t0 + minutes(20), 10)
        .await
        .unwrap();
    assert_eq!(ids_of(&third), vec![m3.id]);
    store
        .reschedule_outbound(m3.id, MessageStatus::Deferred, t0 + minutes(30), None, None)
        .await
        .unwrap();
    assert!(
        store
            .claim_outbound(t0 + minutes(25), t0 + minutes(40), 10)
            .await
            .unwrap()
            .iter()
            .all(|w| w.message.id == m1.id || w.message.id == m2.id),
        "deferred until t0+30m"
    );
    let deferred = store
        .claim_outbound(t0 + minutes(30), t0 + minutes(40), 10)
        .await
        .unwrap();
    assert!(ids_of(&deferred).contains(&m3.id));
    let m3_claimed = deferred.iter().find(|w| w.message.id == m3.id).unwrap();
    assert_eq!(m3_claimed.message.attempts, 2);

    for id in [m1.id, m2.id, m3.id] {
        store
            .finish_outbound(id, MessageStatus::Failed, None, Some("test"))
            .await
            .unwrap();
    }
    assert!(
        store
            .claim_outbound(t0 + minutes(500), t0 + minutes(501), 10)
            .await
            .unwrap()
            .iter()
            .all(|w| w.message.account_id != account.id),
        "settled rows are never claimed"
    );
}

/// Concurrent claimers never get the same message.
pub async fn outbound_concurrent_claimers_never_share(store: &dyn Store) {
    let t0 = long_ago(2002);
    let (_, channel) = messaging_account(store, "claim-race").await;
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550181")).await;
    let mut mine = Vec::new();
    for n in 0..24 {
        mine.push(
            enqueue(
                store,
                outbound(&conversation, Author::Ai, t0 + SignedDuration::from_secs(n)),
            )
            .await
            .id,
        );
    }
    let claimer = || async {
        let mut claimed = Vec::new();
        loop {
            let batch = store
                .claim_outbound(t0 + minutes(1), t0 + minutes(60), 3)
                .await
                .unwrap();
            if batch.is_empty() {
                return claimed;
            }
            claimed.extend(ids_of(&batch));
        }
    };
    let claimed: Vec<MessageId> = join_all((0..6).map(|_| claimer()).collect())
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut unique_ids = claimed.clone();
    unique_ids.sort();
    unique_ids.dedup();
    assert_eq!(
        unique_ids.len(),
        claimed.len(),
        "a message was claimed twice"
    );
    for id in &mine {
        assert!(claimed.contains(id), "{id} was never claimed");
    }
    for id in claimed {
        store
            .finish_outbound(id, MessageStatus::Failed, None, Some("test"))
            .await
            .unwrap();
    }
}

/// The worker's verdicts: sent (with the provider's id), back to the outbox (deferred or a
/// retryable error), or finished (blocked, failed). A settled message stays settled.
pub async fn outbound_sent_reschedule_finish(store: &dyn Store) {
    let t0 = long_ago(2003);
    let (account, channel) = messaging_account(store, "verdicts").await;
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550191")).await;
    let message = enqueue(store, outbound(&conversation, Author::Ai, t0)).await;
    let claim = |at: Timestamp| store.claim_outbound(at, at + minutes(5), 10);
    assert_eq!(ids_of(&claim(t0).await.unwrap()), vec![message.id]);

    // Quiet hours: deferred with the gate's decision.
    let gate = serde_json::json!({
        "decision": "defer",
        "reasons": ["quiet_hours"],
        "next_allowed_at": "2003-01-01T14:00:00Z",
        "zones": ["America/Chicago"],
        "states": ["TX"]
    });
    store
        .reschedule_outbound(
            message.id,
            MessageStatus::Deferred,
            t0 + minutes(30),
            Some(gate.clone()),
            None,
        )
        .await
        .unwrap();
    let deferred = message_in(store, &conversation, message.id).await;
    assert_eq!(deferred.status, MessageStatus::Deferred);
    assert_eq!(deferred.due_at, Some(t0 + minutes(30)));
    assert_eq!(deferred.gate, Some(gate.clone()));
    assert_eq!(deferred.error_code, None);
    assert_eq!(deferred.attempts, 1);
    assert!(claim(t0 + minutes(29)).await.unwrap().is_empty());

    // A retryable provider error: back to the queue with the reason, last gate kept.
    assert_eq!(
        ids_of(&claim(t0 + minutes(30)).await.unwrap()),
        vec![message.id]
    );
    store
        .reschedule_outbound(
            message.id,
            MessageStatus::Queued,
            t0 + minutes(31),
            None,
            Some("provider 503"),
        )
        .await
        .unwrap();
    let retrying = message_in(store, &conversation, message.id).await;
    assert_eq!(retrying.status, MessageStatus::Queued);
    assert_eq!(retrying.error_code.as_deref(), Some("provider 503"));
    assert_eq!(retrying.gate, Some(gate));
    assert_eq!(retrying.attempts, 2);

    // Accepted by the provider.
    let work = claim(t0 + minutes(31)).await.unwrap();
    assert_eq!(work[0].message.attempts, 3);
    let sent_at = t0 + minutes(32);
    store
        .mark_sent(message.id, "SMsent1", MessageStatus::Sent, sent_at, None)
        .await
        .unwrap();
    let sent = message_in(store, &conversation, message.id).await;
    assert_eq!(sent.status, MessageStatus::Sent);
    assert_eq!(sent.provider_message_id.as_deref(), Some("SMsent1"));
    assert_eq!(sent.sent_at, Some(sent_at));
    assert!(
        claim(t0 + minutes(600))
            .await
            .unwrap()
            .iter()
            .all(|w| w.message.account_id != account.id),
        "a sent message is never claimed again"
    );
    // Too late to change a sent message.
    store
        .reschedule_outbound(message.id, MessageStatus::Queued, t0, None, None)
        .await
        .unwrap();
    store
        .finish_outbound(message.id, MessageStatus::Failed, None, Some("late"))
        .await
        .unwrap();
    assert_eq!(message_in(store, &conversation, message.id).await, sent);

    // The gate blocks one; the provider refuses another for good.
    let blocked = enqueue(
        store,
        outbound(&conversation, Author::Ai, t0 + minutes(700)),
    )
    .await;
    let block = serde_json::json!({ "decision": "block", "reasons": ["opted_out"] });
    store
        .finish_outbound(
            blocked.id,
            MessageStatus::Blocked,
            Some(block.clone()),
            None,
        )
        .await
        .unwrap();
    let blocked = message_in(store, &conversation, blocked.id).await;
    assert_eq!(blocked.status, MessageStatus::Blocked);
    assert_eq!(blocked.gate, Some(block));
    let failed = enqueue(
        store,
        outbound(&conversation, Author::Ai, t0 + minutes(700)),
    )
    .await;
    store
        .finish_outbound(failed.id, MessageStatus::Failed, None, Some("30007"))
        .await
        .unwrap();
    let failed = message_in(store, &conversation, failed.id).await;
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("30007"));
    assert!(
        claim(t0 + minutes(800))
            .await
            .unwrap()
            .iter()
            .all(|w| w.message.account_id != account.id),
        "finished messages are never claimed"
    );

    // Statuses that do not belong to the call are refused.
    assert!(
        store
            .reschedule_outbound(failed.id, MessageStatus::Sent, t0, None, None)
            .await
            .is_err()
    );
    assert!(
        store
            .finish_outbound(failed.id, MessageStatus::Queued, None, None)
            .await
            .is_err()
    );
    let missing = MessageId::new();
    assert_not_found(
        store
            .mark_sent(missing, "SMx", MessageStatus::Sent, t0, None)
            .await,
    );
    assert_not_found(
        store
            .reschedule_outbound(missing, MessageStatus::Queued, t0, None, None)
            .await,
    );
    assert_not_found(
        store
            .finish_outbound(missing, MessageStatus::Failed, None, None)
            .await,
    );
}

/// Provider callbacks only move a message forward: late or repeated ones change nothing.
pub async fn delivery_status_only_moves_forward(store: &dyn Store) {
    let (_, channel) = messaging_account(store, "callbacks").await;
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550201")).await;
    let conversation = &conversation;
    let sent = |tag: &'static str| async move {
        let message = enqueue(store, outbound(conversation, Author::Ai, now())).await;
        store
            .mark_sent(message.id, tag, MessageStatus::Sent, now(), None)
            .await
            .unwrap();
        message.id
    };
    let status = |id: MessageId| async move { message_in(store, conversation, id).await };
    let apply = |pid: &'static str, to: MessageStatus, code: Option<&'static str>| {
        store.apply_delivery_status(channel.id, pid, to, code)
    };

    // Sent, then delivered.
    let a = sent("SMcb-a").await;
    assert!(
        apply("SMcb-a", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    assert_eq!(status(a).await.status, MessageStatus::Delivered);
    // Delivered, then a late "sent": stays delivered.
    assert!(!apply("SMcb-a", MessageStatus::Sent, None).await.unwrap());
    assert!(
        !apply("SMcb-a", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    assert_eq!(status(a).await.status, MessageStatus::Delivered);
    assert!(apply("SMcb-a", MessageStatus::Read, None).await.unwrap());
    assert_eq!(status(a).await.status, MessageStatus::Read);
    assert!(
        !apply("SMcb-a", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );

    // Undelivered with a carrier code; a later "delivered" of the same rank changes nothing.
    let b = sent("SMcb-b").await;
    assert!(
        apply("SMcb-b", MessageStatus::Undelivered, Some("30003"))
            .await
            .unwrap()
    );
    assert!(
        !apply("SMcb-b", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    let undelivered = status(b).await;
    assert_eq!(undelivered.status, MessageStatus::Undelivered);
    assert_eq!(undelivered.error_code.as_deref(), Some("30003"));

    // Callbacks for unknown ids, other channels or inbound messages change nothing.
    assert!(
        !apply("SMcb-unknown", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    let other = store
        .create_channel(new_channel(channel.account_id, "callbacks-2"))
        .await
        .unwrap();
    let c = sent("SMcb-c").await;
    assert!(
        !store
            .apply_delivery_status(other.id, "SMcb-c", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    assert_eq!(status(c).await.status, MessageStatus::Sent);
    let mut incoming = inbound(&channel, &phone("+15125550201"), "ok", now());
    incoming.provider_message_id = "SMcb-in".to_owned();
    let (incoming, _, _) = receive(store, incoming).await;
    assert!(
        !apply("SMcb-in", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    assert_eq!(status(incoming.id).await.status, MessageStatus::Received);
}

/// A newer inbound message withdraws the conversation's waiting AI replies, and nothing else.
pub async fn supersede_touches_only_waiting_ai_replies(store: &dyn Store) {
    let t0 = long_ago(2004);
    let (account, channel) = messaging_account(store, "supersede").await;
    let (owner, _) = signup(store, "supersede-human").await;
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550211")).await;
    let (_, other_conversation) = conversation_with(store, &channel, &phone("+15125550212")).await;
    let later = now() + minutes(60);

    let queued = enqueue(store, outbound(&conversation, Author::Ai, later)).await;
    let deferred = enqueue(store, outbound(&conversation, Author::Ai, later)).await;
    store
        .reschedule_outbound(deferred.id, MessageStatus::Deferred, later, None, None)
        .await
        .unwrap();
    let sending = enqueue(store, outbound(&conversation, Author::Ai, t0)).await;
    let work = store.claim_outbound(t0, t0 + minutes(5), 10).await.unwrap();
    assert_eq!(ids_of(&work), vec![sending.id]);
    let sent = enqueue(store, outbound(&conversation, Author::Ai, later)).await;
    store
        .mark_sent(sent.id, "SMsup-1", MessageStatus::Sent, now(), None)
        .await
        .unwrap();
    let human = enqueue(
        store,
        outbound(&conversation, Author::Human { user_id: owner.id }, later),
    )
    .await;
    let sequence = enqueue(
        store,
        outbound(
            &conversation,
            Author::Sequence {
                step: "day-1".to_owned(),
            },
            later,
        ),
    )
    .await;
    let elsewhere = enqueue(store, outbound(&other_conversation, Author::Ai, later)).await;

    assert_eq!(
        store
            .supersede_pending_ai(account.id, conversation.id)
            .await
            .unwrap(),
        2
    );
    let status = |c: &Conversation, id: MessageId| {
        let c = c.clone();
        async move { message_in(store, &c, id).await.status }
    };
    assert_eq!(
        status(&conversation, queued.id).await,
        MessageStatus::Superseded
    );
    assert_eq!(
        status(&conversation, deferred.id).await,
        MessageStatus::Superseded
    );
    assert_eq!(
        status(&conversation, sending.id).await,
        MessageStatus::Sending
    );
    assert_eq!(status(&conversation, sent.id).await, MessageStatus::Sent);
    assert_eq!(status(&conversation, human.id).await, MessageStatus::Queued);
    assert_eq!(
        status(&conversation, sequence.id).await,
        MessageStatus::Queued
    );
    assert_eq!(
        status(&other_conversation, elsewhere.id).await,
        MessageStatus::Queued
    );
    assert_eq!(
        store
            .supersede_pending_ai(account.id, conversation.id)
            .await
            .unwrap(),
        0
    );
    // A superseded reply stays withdrawn, whatever its worker says later.
    store
        .reschedule_outbound(queued.id, MessageStatus::Queued, later, None, None)
        .await
        .unwrap();
    assert_eq!(
        status(&conversation, queued.id).await,
        MessageStatus::Superseded
    );

    for id in [
        queued.id,
        deferred.id,
        sending.id,
        human.id,
        sequence.id,
        elsewhere.id,
    ] {
        store
            .finish_outbound(id, MessageStatus::Failed, None, Some("test"))
            .await
            .unwrap();
    }
}

/// An ordinary message stores, withdraws the unsent AI reply and re-arms the conversation's
/// reply job together; a paused conversation or a retried webhook schedules nothing.
pub async fn inbound_with_scheduled_reply_is_one_write(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "scheduled").await;
    let lead_phone = phone("+15125550231");
    let kind = job_kind("scheduled");
    let later = now() + minutes(60);
    let scheduled = |at: Timestamp| {
        Some(ScheduledReply {
            job_id: JobId::new(),
            kind: kind.clone(),
            run_at: at,
        })
    };

    let mut first = inbound(&channel, &lead_phone, "hi there", now());
    first.schedule_reply = scheduled(later);
    let (_, _, conversation) = receive(store, first.clone()).await;
    let jobs = store.pending_jobs(account.id).await.unwrap();
    let mine: Vec<&Job> = jobs.iter().filter(|j| j.kind == kind).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].run_at, later);
    assert_eq!(
        mine[0].dedup_key.as_deref(),
        Some(format!("{kind}:{}", conversation.id).as_str())
    );
    assert_eq!(
        mine[0].payload["conversation_id"],
        conversation.id.to_string()
    );

    // A reply waits; the next bubble withdraws it and pushes the same job back.
    let waiting = enqueue(store, outbound(&conversation, Author::Ai, later)).await;
    let mut second = inbound(&channel, &lead_phone, "one more thing", now());
    second.schedule_reply = scheduled(later + minutes(1));
    receive(store, second).await;
    assert_eq!(
        message_in(store, &conversation, waiting.id).await.status,
        MessageStatus::Superseded
    );
    let jobs = store.pending_jobs(account.id).await.unwrap();
    let mine: Vec<&Job> = jobs.iter().filter(|j| j.kind == kind).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].run_at, later + minutes(1));

    // The provider retries the first webhook: nothing moves.
    let mut retry = first.clone();
    retry.id = MessageId::new();
    retry.schedule_reply = scheduled(later + minutes(30));
    assert!(matches!(
        store.store_inbound(retry).await.unwrap(),
        InboundOutcome::Duplicate { .. }
    ));
    let jobs = store.pending_jobs(account.id).await.unwrap();
    let mine: Vec<&Job> = jobs.iter().filter(|j| j.kind == kind).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].run_at, later + minutes(1));

    // A person took over: the message is stored, the job is not re-armed.
    store
        .set_ai_paused(account.id, conversation.id, true)
        .await
        .unwrap();
    let mut paused = inbound(&channel, &lead_phone, "are you there?", now());
    paused.schedule_reply = scheduled(later + minutes(5));
    let (stored, _, _) = receive(store, paused).await;
    assert_eq!(stored.body, "are you there?");
    let jobs = store.pending_jobs(account.id).await.unwrap();
    let mine: Vec<&Job> = jobs.iter().filter(|j| j.kind == kind).collect();
    assert_eq!(mine[0].run_at, later + minutes(1));

    store
        .finish_outbound(waiting.id, MessageStatus::Failed, None, Some("test"))
        .await
        .unwrap();
}

/// A burst of accepted work lands in one statement; a job with a dedup key spoils the whole
/// batch rather than half of it.
pub async fn append_jobs_adds_all_or_nothing(store: &dyn Store) {
    let (_, account) = signup(store, "append-jobs").await;
    let kind = job_kind("append");
    let t0 = long_ago(2005);
    let batch: Vec<NewJob> = (0..3)
        .map(|i| {
            new_job(
                account.id,
                &kind,
                None,
                t0 + minutes(i),
                serde_json::json!({ "n": i }),
            )
        })
        .collect();
    store.append_jobs(&batch).await.unwrap();
    store.append_jobs(&[]).await.unwrap();
    let pending = store.pending_jobs(account.id).await.unwrap();
    let mut ids: Vec<JobId> = pending
        .iter()
        .filter(|j| j.kind == kind)
        .map(|j| j.id)
        .collect();
    ids.sort();
    let mut expected: Vec<JobId> = batch.iter().map(|j| j.id).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let claimed = store
        .claim_jobs(&[kind.as_str()], t0 + minutes(5), t0 + minutes(10), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    assert_eq!(claimed[2].payload["n"], 2);

    let other = job_kind("append-refused");
    let spoiled = vec![
        new_job(account.id, &other, None, t0, serde_json::json!({})),
        new_job(account.id, &other, Some("k"), t0, serde_json::json!({})),
    ];
    assert!(matches!(
        store.append_jobs(&spoiled).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .pending_jobs(account.id)
            .await
            .unwrap()
            .iter()
            .all(|j| j.kind != other)
    );
    for job in claimed {
        store.complete_job(job.id, job.run_at).await.unwrap();
    }
}

/// A turn moves the lead and is kept with its cost; budgets sum tokens per account since an
/// instant.
pub async fn turns_record_lead_changes_and_count_tokens(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "turns").await;
    let (other, other_channel) = messaging_account(store, "turns-other").await;
    let (lead, conversation) = conversation_with(store, &channel, &phone("+15125550251")).await;
    let (other_lead, other_conversation) =
        conversation_with(store, &other_channel, &phone("+15125550252")).await;
    let t0 = now();
    let turn = |account: AccountId, lead: &Lead, conversation: &Conversation, tokens: i64, at| {
        crate::NewTurn {
            id: EventId::new(),
            account_id: account,
            lead_id: lead.id,
            conversation_id: conversation.id,
            message_id: None,
            engine: "openai:gpt-test".to_owned(),
            intent: "interested".to_owned(),
            score: 60,
            next_action: "reply".to_owned(),
            details: serde_json::json!({"reasons": ["asked about price"]}),
            input_tokens: tokens,
            output_tokens: 10,
            at,
            stage: Some("replied".to_owned()),
            fields: Some(serde_json::json!({"age": {"value": 42}})),
        }
    };
    let updated = store
        .record_turn(turn(account.id, &lead, &conversation, 100, t0))
        .await
        .unwrap();
    assert_eq!(updated.stage, "replied");
    assert_eq!(updated.score, Some(60));
    assert_eq!(updated.intent.as_deref(), Some("interested"));
    assert_eq!(updated.fields["age"]["value"], 42);
    let mut second = turn(account.id, &lead, &conversation, 200, t0 + minutes(1));
    second.stage = None;
    second.fields = None;
    second.score = 80;
    let updated = store.record_turn(second).await.unwrap();
    assert_eq!(updated.stage, "replied", "no stage given: unchanged");
    assert_eq!(updated.score, Some(80));
    store
        .record_turn(turn(other.id, &other_lead, &other_conversation, 5000, t0))
        .await
        .unwrap();

    let turns = store.turns(account.id, conversation.id).await.unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].score, 60);
    assert_eq!(turns[1].score, 80);
    assert_eq!(turns[0].details["reasons"][0], "asked about price");
    assert_eq!(
        store.tokens_used_since(account.id, t0).await.unwrap(),
        110 + 210
    );
    assert_eq!(
        store
            .tokens_used_since(account.id, t0 + minutes(1))
            .await
            .unwrap(),
        210
    );
    // Another account's lead or conversation is not found, and nothing is written.
    assert_not_found(
        store
            .record_turn(turn(account.id, &other_lead, &other_conversation, 1, t0))
            .await,
    );
    assert!(
        store
            .turns(account.id, other_conversation.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Frequency caps: what the provider accepted for this number, on any channel, since an instant.
pub async fn sent_to_phone_since_counts_accepted_sends(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "caps").await;
    let second_channel = store
        .create_channel(new_channel(account.id, "caps-2"))
        .await
        .unwrap();
    let number = phone("+15125550221");
    let (_, on_first) = conversation_with(store, &channel, &number).await;
    let (_, on_second) = conversation_with(store, &second_channel, &number).await;
    let (_, someone_else) = conversation_with(store, &channel, &phone("+15125550222")).await;
    let t0 = now();
    let send = |conversation: &Conversation, at: Timestamp| {
        let conversation = conversation.clone();
        async move {
            let message = enqueue(store, outbound(&conversation, Author::Ai, at)).await;
            let provider_id = format!("SM{}", unique());
            store
                .mark_sent(message.id, &provider_id, MessageStatus::Sent, at, None)
                .await
                .unwrap();
            provider_id
        }
    };
    send(&on_first, t0 - minutes(120)).await;
    send(&on_second, t0 - minutes(30)).await;
    let delivered = send(&on_first, t0 - minutes(10)).await;
    assert!(
        store
            .apply_delivery_status(channel.id, &delivered, MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    send(&someone_else, t0 - minutes(5)).await;
    let waiting = enqueue(store, outbound(&on_first, Author::Ai, t0 + minutes(60))).await;
    receive(
        store,
        inbound(&channel, &number, "stop texting so much", t0 - minutes(1)),
    )
    .await;

    assert_eq!(
        store
            .sent_to_phone_since(account.id, &number, t0 - minutes(60))
            .await
            .unwrap(),
        vec![t0 - minutes(30), t0 - minutes(10)]
    );
    assert_eq!(
        store
            .sent_to_phone_since(account.id, &number, t0 - minutes(180))
            .await
            .unwrap(),
        vec![t0 - minutes(120), t0 - minutes(30), t0 - minutes(10)]
    );
    assert_eq!(
        store
            .sent_to_phone_since(account.id, &number, t0 - minutes(10))
            .await
            .unwrap(),
        vec![t0 - minutes(10)],
        "since is inclusive"
    );
    assert!(
        store
            .sent_to_phone_since(account.id, &number, t0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .sent_to_phone_since(account.id, &phone("+15125550223"), t0 - minutes(180))
            .await
            .unwrap()
            .is_empty()
    );
    // The per-number send rate counts what each channel handed over, to anyone.
    assert_eq!(
        store
            .sent_by_channel_since(channel.id, t0 - minutes(180))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .sent_by_channel_since(channel.id, t0 - minutes(10))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .sent_by_channel_since(second_channel.id, t0 - minutes(180))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.sent_by_channel_since(channel.id, t0).await.unwrap(),
        0
    );
    store
        .finish_outbound(waiting.id, MessageStatus::Failed, None, Some("test"))
        .await
        .unwrap();
}

/// A send given up as of unknown outcome takes the provider's id and status when a callback
/// names its key; nothing else is touched.
pub async fn unknown_outcome_sends_reconcile_by_key(store: &dyn Store) {
    let (_, channel) = messaging_account(store, "reconcile").await;
    let (_, other_channel) = messaging_account(store, "reconcile-other").await;
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550271")).await;
    let t0 = now();
    let lost = enqueue(store, outbound(&conversation, Author::Ai, t0)).await;
    store
        .finish_outbound(
            lost.id,
            MessageStatus::Failed,
            None,
            Some(crate::OUTCOME_UNKNOWN),
        )
        .await
        .unwrap();
    let refused = enqueue(store, outbound(&conversation, Author::Ai, t0)).await;
    store
        .finish_outbound(refused.id, MessageStatus::Failed, None, Some("21211"))
        .await
        .unwrap();
    let key = lost.idempotency_key.clone().unwrap();
    let refused_key = refused.idempotency_key.clone().unwrap();

    let reconcile = |channel: ChannelId, key: String| async move {
        store
            .reconcile_outbound(channel, &key, "SMlate1", MessageStatus::Delivered, t0)
            .await
            .unwrap()
    };
    assert!(
        !reconcile(other_channel.id, key.clone()).await,
        "another channel"
    );
    assert!(
        !reconcile(channel.id, refused_key).await,
        "a refused send stays refused"
    );
    assert!(reconcile(channel.id, key.clone()).await);
    let found = message_in(store, &conversation, lost.id).await;
    assert_eq!(found.status, MessageStatus::Delivered);
    assert_eq!(found.provider_message_id.as_deref(), Some("SMlate1"));
    assert_eq!(found.error_code, None);
    assert!(!reconcile(channel.id, key).await, "only once");
    assert_eq!(
        message_in(store, &conversation, refused.id).await.status,
        MessageStatus::Failed
    );
}

/// Reads that find without creating: a conversation by (lead, channel), a page's leads by id.
pub async fn lookups_find_without_creating(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "lookups").await;
    let (other, other_channel) = messaging_account(store, "lookups-other").await;
    let a = store
        .upsert_lead(account.id, &phone("+15125550261"), LeadInput::default())
        .await
        .unwrap();
    let (b, conversation) = conversation_with(store, &channel, &phone("+15125550262")).await;
    let (stranger, _) = conversation_with(store, &other_channel, &phone("+15125550263")).await;

    assert_eq!(
        store
            .find_conversation(account.id, b.id, channel.id)
            .await
            .unwrap(),
        Some(conversation.clone())
    );
    assert_eq!(
        store
            .find_conversation(account.id, a.id, channel.id)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .list_conversations(account.id, false, false, 10)
            .await
            .unwrap()
            .iter()
            .all(|c| c.lead_id != a.id),
        "looking did not create one"
    );
    assert_eq!(
        store
            .find_conversation(other.id, b.id, channel.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.lead_conversations(account.id, b.id).await.unwrap(),
        vec![conversation.clone()]
    );
    assert!(
        store
            .lead_conversations(account.id, a.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .lead_conversations(other.id, b.id)
            .await
            .unwrap()
            .is_empty(),
        "another account sees none"
    );

    let mut found: Vec<LeadId> = store
        .leads_by_ids(account.id, &[a.id, b.id, stranger.id, LeadId::new()])
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    found.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(found, expected, "another account's lead is not returned");
    assert!(
        store
            .leads_by_ids(account.id, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

/// Jobs: a dedup key collapses enqueues into one waiting job (the later request wins); claims
/// lease due jobs of the given kinds; retry releases with the error; complete ends it.
pub async fn jobs_debounce_claim_retry(store: &dyn Store) {
    let (_, account) = signup(store, "jobs").await;
    let kind = job_kind("jobs");
    let other_kind = job_kind("jobs-other");
    let t0 = now();
    let key = format!("reply:{}", unique());

    let first = store
        .enqueue_job(new_job(
            account.id,
            &kind,
            Some(&key),
            t0 + minutes(1),
            serde_json::json!({ "n": 1 }),
        ))
        .await
        .unwrap();
    assert_eq!(first.account_id, account.id);
    assert_eq!(first.kind, kind);
    assert_eq!(first.dedup_key.as_deref(), Some(key.as_str()));
    assert_eq!(first.attempts, 0);
    assert_eq!(first.last_error, None);
    let debounced = store
        .enqueue_job(new_job(
            account.id,
            &kind,
            Some(&key),
            t0 + minutes(5),
            serde_json::json!({ "n": 2 }),
        ))
        .await
        .unwrap();
    assert_eq!(debounced.id, first.id, "one job per waiting key");
    assert_eq!(debounced.run_at, t0 + minutes(5));
    assert_eq!(debounced.payload, serde_json::json!({ "n": 2 }));
    let plain_a = store
        .enqueue_job(new_job(account.id, &kind, None, t0, serde_json::json!({})))
        .await
        .unwrap();
    let plain_b = store
        .enqueue_job(new_job(account.id, &kind, None, t0, serde_json::json!({})))
        .await
        .unwrap();
    let elsewhere = store
        .enqueue_job(new_job(
            account.id,
            &other_kind,
            None,
            t0,
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(
        pending_of_kind(store, account.id, &kind).await,
        vec![plain_a.clone(), plain_b.clone(), debounced.clone()],
        "by run_at"
    );

    let lease = |at: Timestamp| at + minutes(10);
    let kinds = [kind.as_str()];
    let claim = |at: Timestamp| store.claim_jobs(&kinds, at, lease(at), 10);
    assert!(
        store
            .claim_jobs(&[], t0, lease(t0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(claim(t0 - minutes(1)).await.unwrap().is_empty());
    let plain = claim(t0 + minutes(2)).await.unwrap();
    assert_eq!(
        plain.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![plain_a.id, plain_b.id],
        "the debounced job is not due yet; the other kind is not asked for"
    );
    assert!(plain.iter().all(|j| j.attempts == 1));
    for job in &plain {
        store.complete_job(job.id, job.run_at).await.unwrap();
        store.complete_job(job.id, job.run_at).await.unwrap();
    }
    assert_not_found(store.complete_job(JobId::new(), t0).await);

    let run = claim(t0 + minutes(6)).await.unwrap();
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].id, first.id);
    assert_eq!(run[0].payload, serde_json::json!({ "n": 2 }));
    assert_eq!(run[0].attempts, 1);
    assert!(claim(t0 + minutes(7)).await.unwrap().is_empty(), "leased");

    // It fails: released to run at the retry time with the error.
    store
        .retry_job(first.id, t0 + minutes(20), "model timed out")
        .await
        .unwrap();
    let waiting = pending_of_kind(store, account.id, &kind).await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].run_at, t0 + minutes(20));
    assert_eq!(waiting[0].last_error.as_deref(), Some("model timed out"));
    assert!(claim(t0 + minutes(19)).await.unwrap().is_empty());
    let retried = claim(t0 + minutes(20)).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 2);
    assert_eq!(retried[0].last_error.as_deref(), Some("model timed out"));

    // Its worker dies: claimable again once the lease (t0+30m) runs out.
    assert!(claim(t0 + minutes(29)).await.unwrap().is_empty());
    let again = claim(t0 + minutes(30)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 3);
    store.complete_job(first.id, again[0].run_at).await.unwrap();
    assert!(pending_of_kind(store, account.id, &kind).await.is_empty());
    assert_not_found(store.retry_job(first.id, t0, "too late").await);
    assert_not_found(store.retry_job(JobId::new(), t0, "unknown").await);

    // A completed job frees its key.
    let fresh = store
        .enqueue_job(new_job(
            account.id,
            &kind,
            Some(&key),
            t0,
            serde_json::json!({ "n": 3 }),
        ))
        .await
        .unwrap();
    assert_ne!(fresh.id, first.id);
    assert_eq!(fresh.attempts, 0);

    // Several kinds at once.
    let both = store
        .claim_jobs(
            &[kind.as_str(), other_kind.as_str()],
            t0 + minutes(40),
            t0 + minutes(50),
            10,
        )
        .await
        .unwrap();
    let mut claimed: Vec<JobId> = both.iter().map(|j| j.id).collect();
    claimed.sort();
    let mut expected = vec![fresh.id, elsewhere.id];
    expected.sort();
    assert_eq!(claimed, expected);
    for job in both {
        store.complete_job(job.id, job.run_at).await.unwrap();
    }
    assert!(store.pending_jobs(account.id).await.unwrap().is_empty());
}

/// A job re-armed while a worker runs it must run again: completing that run releases it at
/// its new time with the new payload instead of completing it.
pub async fn job_completed_while_rearmed_runs_again(store: &dyn Store) {
    let (_, account) = signup(store, "rearm").await;
    let kind = job_kind("rearm");
    let t0 = now();
    let kinds = [kind.as_str()];
    let claim = |at: Timestamp| store.claim_jobs(&kinds, at, at + minutes(10), 10);
    let enqueue_key = |key: &str, at: Timestamp, v: i64| {
        store.enqueue_job(new_job(
            account.id,
            &kind,
            Some(key),
            at,
            serde_json::json!({ "v": v }),
        ))
    };

    // Re-armed mid-run, then completed: still pending, at the new time, with the new payload.
    let key = format!("reply:{}", unique());
    let job = enqueue_key(&key, t0, 1).await.unwrap();
    let running = claim(t0).await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].payload, serde_json::json!({ "v": 1 }));
    let rearmed = enqueue_key(&key, t0 + minutes(1), 2).await.unwrap();
    assert_eq!(rearmed.id, job.id);
    store.complete_job(job.id, running[0].run_at).await.unwrap();
    let pending = pending_of_kind(store, account.id, &kind).await;
    assert_eq!(pending.len(), 1, "the newer request survived");
    assert_eq!(pending[0].id, job.id);
    assert_eq!(pending[0].run_at, t0 + minutes(1));
    assert_eq!(pending[0].payload, serde_json::json!({ "v": 2 }));
    assert_eq!(pending[0].attempts, 0, "a fresh request");
    assert!(
        claim(t0 + SignedDuration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
    let rerun = claim(t0 + minutes(1)).await.unwrap();
    assert_eq!(rerun.len(), 1);
    assert_eq!(rerun[0].payload, serde_json::json!({ "v": 2 }));
    store.complete_job(job.id, rerun[0].run_at).await.unwrap();
    assert!(pending_of_kind(store, account.id, &kind).await.is_empty());

    // Re-armed while waiting (not running): completing its run ends it.
    let key = format!("reply:{}", unique());
    let waiting = enqueue_key(&key, t0, 1).await.unwrap();
    enqueue_key(&key, t0 + minutes(2), 2).await.unwrap();
    let run = claim(t0 + minutes(2)).await.unwrap();
    assert_eq!(
        run.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![waiting.id]
    );
    store.complete_job(waiting.id, run[0].run_at).await.unwrap();
    assert!(pending_of_kind(store, account.id, &kind).await.is_empty());

    // Re-armed mid-run, then the run fails: it runs no earlier than both the backoff and the
    // re-armed time.
    let key = format!("reply:{}", unique());
    let failing = enqueue_key(&key, t0, 1).await.unwrap();
    claim(t0).await.unwrap();
    enqueue_key(&key, t0 + minutes(5), 2).await.unwrap();
    store
        .retry_job(failing.id, t0 + minutes(1), "boom")
        .await
        .unwrap();
    let pending = pending_of_kind(store, account.id, &kind).await;
    assert_eq!(pending[0].run_at, t0 + minutes(5));
    claim(t0 + minutes(5)).await.unwrap();
    enqueue_key(&key, t0 + minutes(6), 3).await.unwrap();
    store
        .retry_job(failing.id, t0 + minutes(20), "boom")
        .await
        .unwrap();
    let pending = pending_of_kind(store, account.id, &kind).await;
    assert_eq!(pending[0].run_at, t0 + minutes(20));
    assert_eq!(pending[0].payload, serde_json::json!({ "v": 3 }));
    let last = claim(t0 + minutes(20)).await.unwrap();
    store
        .complete_job(failing.id, last[0].run_at)
        .await
        .unwrap();
    assert!(pending_of_kind(store, account.id, &kind).await.is_empty());

    // Re-armed after its worker's lease ran out: the next claim sees the new payload. The
    // first worker, finishing late, changes nothing; the second one's completion ends it.
    let key = format!("reply:{}", unique());
    let orphan = enqueue_key(&key, t0, 1).await.unwrap();
    let stale = claim(t0).await.unwrap();
    enqueue_key(&key, t0 + minutes(11), 2).await.unwrap();
    let reclaimed = claim(t0 + minutes(11)).await.unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].id, orphan.id);
    assert_eq!(reclaimed[0].payload, serde_json::json!({ "v": 2 }));
    store
        .complete_job(orphan.id, stale[0].run_at)
        .await
        .unwrap();
    assert_eq!(
        pending_of_kind(store, account.id, &kind).await.len(),
        1,
        "the stale completion did not end the newer run"
    );
    assert!(
        claim(t0 + minutes(12)).await.unwrap().is_empty(),
        "nor did it release the second worker's lease"
    );
    store
        .complete_job(orphan.id, reclaimed[0].run_at)
        .await
        .unwrap();
    assert!(pending_of_kind(store, account.id, &kind).await.is_empty());

    // A stale worker whose job was re-armed but not yet claimed again: its completion
    // releases the job for the newer request.
    let key = format!("reply:{}", unique());
    let late = enqueue_key(&key, t0, 1).await.unwrap();
    let slow = claim(t0).await.unwrap();
    enqueue_key(&key, t0 + minutes(11), 2).await.unwrap();
    store.complete_job(late.id, slow[0].run_at).await.unwrap();
    let pending = pending_of_kind(store, account.id, &kind).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].payload, serde_json::json!({ "v": 2 }));
    let fresh = claim(t0 + minutes(11)).await.unwrap();
    store.complete_job(late.id, fresh[0].run_at).await.unwrap();
    assert!(pending_of_kind(store, account.id, &kind).await.is_empty());
}

/// Concurrent claimers never get the same job.
pub async fn jobs_concurrent_claimers_never_share(store: &dyn Store) {
    let (_, account) = signup(store, "job-race").await;
    let kind = job_kind("race");
    let t0 = now();
    let mut mine = Vec::new();
    for n in 0..24 {
        let job = store
            .enqueue_job(new_job(
                account.id,
                &kind,
                None,
                t0 - SignedDuration::from_secs(n),
                serde_json::json!({ "n": n }),
            ))
            .await
            .unwrap();
        mine.push(job.id);
    }
    let claimer = || async {
        let mut claimed = Vec::new();
        loop {
            let batch = store
                .claim_jobs(&[kind.as_str()], t0, t0 + minutes(10), 3)
                .await
                .unwrap();
            if batch.is_empty() {
                return claimed;
            }
            claimed.extend(batch);
        }
    };
    let claimed: Vec<Job> = join_all((0..6).map(|_| claimer()).collect())
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut ids: Vec<JobId> = claimed.iter().map(|j| j.id).collect();
    ids.sort();
    mine.sort();
    assert_eq!(ids, mine, "every job claimed exactly once");
    for job in claimed {
        store.complete_job(job.id, job.run_at).await.unwrap();
    }
}

/// Every messaging method that takes an account keeps to it: another account's ids are
/// `NotFound` or empty, and nothing of the other account changes.
pub async fn messaging_tenant_isolation(store: &dyn Store) {
    let (a, channel_a) = messaging_account(store, "m-tenant-a").await;
    let (b, channel_b) = messaging_account(store, "m-tenant-b").await;
    let number = phone("+15125550231");
    let (lead_a, conversation_a) = conversation_with(store, &channel_a, &number).await;
    let reply_a = enqueue(
        store,
        outbound(&conversation_a, Author::Ai, now() + minutes(60)),
    )
    .await;
    let sent_a = enqueue(
        store,
        outbound(
            &conversation_a,
            Author::Human {
                user_id: UserId::new(),
            },
            now(),
        ),
    )
    .await;
    store
        .mark_sent(
            sent_a.id,
            &format!("SM{}", unique()),
            MessageStatus::Sent,
            now(),
            None,
        )
        .await
        .unwrap();
    let kind = job_kind("m-tenant");
    let key = format!("reply:{}", conversation_a.id);
    let job_a = store
        .enqueue_job(new_job(
            a.id,
            &kind,
            Some(&key),
            now(),
            serde_json::json!({ "a": 1 }),
        ))
        .await
        .unwrap();
    let lead_a = store.get_lead(a.id, lead_a.id).await.unwrap();
    let conversation_a = store
        .get_conversation(a.id, conversation_a.id)
        .await
        .unwrap();

    // Channels.
    assert_not_found(store.get_channel(b.id, channel_a.id).await);
    assert_eq!(
        store.list_channels(b.id).await.unwrap(),
        vec![channel_b.clone()]
    );
    assert_not_found(store.set_channel_enabled(b.id, channel_a.id, false).await);
    assert!(store.get_channel(a.id, channel_a.id).await.unwrap().enabled);

    // Leads.
    assert_not_found(store.get_lead(b.id, lead_a.id).await);
    assert_eq!(store.find_lead_by_phone(b.id, &number).await.unwrap(), None);
    assert!(
        store
            .list_leads(b.id, &LeadQuery::page(None, 100, 0))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_leads(b.id, &LeadQuery::page(Some("5550231"), 100, 0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(
        store
            .update_lead_fields(b.id, lead_a.id, Some("closed"), None)
            .await,
    );
    assert_not_found(store.delete_lead(b.id, lead_a.id).await);
    let lead_b = store
        .upsert_lead(
            b.id,
            &number,
            LeadInput {
                name: Some("B's contact".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_ne!(lead_b.id, lead_a.id, "same number, separate leads");
    assert_eq!(store.get_lead(a.id, lead_a.id).await.unwrap(), lead_a);

    // Conversations.
    assert_not_found(store.get_conversation(b.id, conversation_a.id).await);
    assert_not_found(store.conversation_for(b.id, lead_a.id, channel_a.id).await);
    assert_not_found(store.conversation_for(b.id, lead_b.id, channel_a.id).await);
    assert_not_found(store.conversation_for(b.id, lead_a.id, channel_b.id).await);
    assert_not_found(store.conversation_for(a.id, lead_b.id, channel_a.id).await);
    assert!(
        store
            .list_conversations(b.id, false, false, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(store.set_ai_paused(b.id, conversation_a.id, true).await);
    assert_not_found(
        store
            .set_needs_attention(b.id, conversation_a.id, true)
            .await,
    );
    assert_not_found(store.mark_read(b.id, conversation_a.id).await);
    assert_not_found(store.messages(b.id, conversation_a.id).await);
    assert_eq!(
        store
            .get_conversation(a.id, conversation_a.id)
            .await
            .unwrap(),
        conversation_a
    );

    // Messages.
    let mut crossed = inbound(&channel_a, &phone("+15125550232"), "hi", now());
    crossed.account_id = b.id;
    assert_not_found(store.store_inbound(crossed).await);
    assert_eq!(
        store
            .find_lead_by_phone(b.id, &phone("+15125550232"))
            .await
            .unwrap(),
        None,
        "the refused inbound left no lead behind"
    );
    let mut hijack = outbound(&conversation_a, Author::Ai, now());
    hijack.account_id = b.id;
    assert_not_found(store.enqueue_outbound(hijack, Vec::new()).await);
    let conversation_b = store
        .conversation_for(b.id, lead_b.id, channel_b.id)
        .await
        .unwrap();
    let same_key = NewOutbound {
        idempotency_key: reply_a.idempotency_key.clone().unwrap_or_default(),
        ..outbound(&conversation_b, Author::Ai, now() + minutes(60))
    };
    let reply_b = store
        .enqueue_outbound(same_key.clone(), Vec::new())
        .await
        .unwrap();
    assert_eq!(reply_b.id, same_key.id, "idempotency keys are per account");
    assert_eq!(reply_b.account_id, b.id);
    assert_eq!(
        store
            .supersede_pending_ai(b.id, conversation_a.id)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        message_in(store, &conversation_a, reply_a.id).await.status,
        MessageStatus::Queued
    );
    assert!(
        store
            .sent_to_phone_since(b.id, &number, now() - minutes(60))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .sent_to_phone_since(a.id, &number, now() - minutes(60))
            .await
            .unwrap()
            .len(),
        1
    );

    // Jobs.
    assert!(store.pending_jobs(b.id).await.unwrap().is_empty());
    let job_b = store
        .enqueue_job(new_job(
            b.id,
            &kind,
            Some(&key),
            now() + minutes(30),
            serde_json::json!({ "b": 1 }),
        ))
        .await
        .unwrap();
    assert_ne!(job_b.id, job_a.id, "dedup keys are per account");
    assert_eq!(store.pending_jobs(a.id).await.unwrap(), vec![job_a]);
    assert_eq!(store.pending_jobs(b.id).await.unwrap(), vec![job_b]);

    for id in [reply_a.id, reply_b.id] {
        store
            .finish_outbound(id, MessageStatus::Failed, None, Some("test"))
            .await
            .unwrap();
    }
}

/// Deleting an account deletes its channels, leads, conversations, messages and jobs.
pub async fn account_deletion_removes_messaging_rows(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "m-delete").await;
    let (keep, keep_channel) = messaging_account(store, "m-keep").await;
    let number = phone("+15125550241");
    let (lead, conversation) = conversation_with(store, &channel, &number).await;
    let reply = enqueue(
        store,
        outbound(&conversation, Author::Ai, now() + minutes(60)),
    )
    .await;
    store
        .mark_sent(reply.id, "SMdel-1", MessageStatus::Sent, now(), None)
        .await
        .unwrap();
    let kind = job_kind("m-delete");
    store
        .enqueue_job(new_job(
            account.id,
            &kind,
            Some("k"),
            now(),
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    let (kept_lead, kept_conversation) = conversation_with(store, &keep_channel, &number).await;

    store.delete_account(account.id).await.unwrap();

    assert!(store.list_channels(account.id).await.unwrap().is_empty());
    assert_not_found(store.get_channel(account.id, channel.id).await);
    assert_eq!(
        store
            .find_channel_by_webhook_token(&channel.provider, &channel.webhook_token)
            .await
            .unwrap(),
        None
    );
    assert_not_found(store.touch_channel_webhook(channel.id, now()).await);
    assert_not_found(store.get_lead(account.id, lead.id).await);
    assert!(
        store
            .list_leads(account.id, &LeadQuery::page(None, 100, 0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(store.get_conversation(account.id, conversation.id).await);
    assert_not_found(store.messages(account.id, conversation.id).await);
    assert!(
        !store
            .apply_delivery_status(channel.id, "SMdel-1", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    assert_not_found(
        store
            .finish_outbound(reply.id, MessageStatus::Failed, None, None)
            .await,
    );
    assert!(store.pending_jobs(account.id).await.unwrap().is_empty());
    assert!(
        store
            .sent_to_phone_since(account.id, &number, now() - minutes(60))
            .await
            .unwrap()
            .is_empty()
    );
    // A webhook for the deleted channel stores nothing.
    assert_not_found(
        store
            .store_inbound(inbound(&channel, &number, "hello?", now()))
            .await,
    );

    // The other account is untouched.
    assert_eq!(
        store.get_lead(keep.id, kept_lead.id).await.unwrap().id,
        kept_lead.id
    );
    assert_eq!(
        store
            .messages(keep.id, kept_conversation.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

// ---- settings ----

pub async fn settings_round_trip_audited_and_scoped(store: &dyn Store) {
    let (_, a) = signup(store, "settings-a").await;
    let (_, b) = signup(store, "settings-b").await;
    assert_eq!(store.get_setting(a.id, "compliance").await.unwrap(), None);
    let before = store.audit_chain(a.id).await.unwrap().len();
    let v1 = serde_json::json!({"quiet_hours": "mon-fri 09:00-18:00", "relaxations": []});
    store
        .put_setting(
            a.id,
            "compliance",
            v1.clone(),
            audit(a.id, "compliance.settings"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_setting(a.id, "compliance").await.unwrap(),
        Some(v1)
    );
    let v2 =
        serde_json::json!({"quiet_hours": null, "relaxations": ["replies_ignore_legal_hours"]});
    store
        .put_setting(
            a.id,
            "compliance",
            v2.clone(),
            audit(a.id, "compliance.settings"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_setting(a.id, "compliance").await.unwrap(),
        Some(v2)
    );
    let chain = store.audit_chain(a.id).await.unwrap();
    assert_eq!(chain.len(), before + 2, "each change is audited");
    // Another account sees nothing of it.
    assert_eq!(store.get_setting(b.id, "compliance").await.unwrap(), None);
    // Deleting the account removes its settings.
    store.delete_account(a.id).await.unwrap();
    assert_eq!(store.get_setting(a.id, "compliance").await.unwrap(), None);
}

pub async fn setting_versions_count_up_per_account_and_key(store: &dyn Store) {
    let (_, a) = signup(store, "versions-a").await;
    let (_, b) = signup(store, "versions-b").await;
    assert!(
        store
            .setting_versions(a.id, "assistant", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let before = store.audit_chain(a.id).await.unwrap().len();
    for n in 1..=3 {
        let mut entry = audit(a.id, "assistant.settings");
        entry.actor = format!("user:{n}");
        store
            .put_setting(a.id, "assistant", serde_json::json!({ "n": n }), entry)
            .await
            .unwrap();
    }
    store
        .put_setting(
            a.id,
            "compliance",
            serde_json::json!({ "quiet_hours": null }),
            audit(a.id, "compliance.settings"),
        )
        .await
        .unwrap();
    store
        .put_setting(
            b.id,
            "assistant",
            serde_json::json!({ "n": "b" }),
            audit(b.id, "assistant.settings"),
        )
        .await
        .unwrap();

    // Conditional writes: only on top of the version they started from.
    let racing = |n: i64| {
        store.put_setting_if(
            a.id,
            "assistant",
            serde_json::json!({ "n": n }),
            audit(a.id, "assistant.settings"),
            Some(3),
        )
    };
    let outcomes = [racing(4).await.unwrap(), racing(5).await.unwrap()];
    assert_eq!(
        outcomes,
        [
            crate::VersionedPut::Saved(4),
            crate::VersionedPut::Stale { current: 4 }
        ],
        "two editors from version 3: one saves, the other is told"
    );
    assert_eq!(
        store
            .put_setting_if(
                a.id,
                "compliance-draft",
                serde_json::json!({}),
                audit(a.id, "x"),
                Some(0)
            )
            .await
            .unwrap(),
        crate::VersionedPut::Saved(1),
        "0 is the version of a document never saved"
    );

    let listed = store.setting_versions(a.id, "assistant", 10).await.unwrap();
    let numbers: Vec<i64> = listed.iter().map(|v| v.version).collect();
    assert_eq!(numbers, vec![4, 3, 2, 1], "newest first, counting up");
    assert_eq!(listed[1].actor, "user:3", "the audit actor saved it");
    assert!(
        listed
            .iter()
            .all(|v| v.value.is_none() && v.key == "assistant")
    );
    assert!(listed[0].created_at >= listed[2].created_at);
    let limited = store.setting_versions(a.id, "assistant", 2).await.unwrap();
    assert_eq!(
        limited.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![4, 3]
    );
    // Each key counts on its own, and so does each account.
    let compliance = store
        .setting_versions(a.id, "compliance", 10)
        .await
        .unwrap();
    assert_eq!(compliance.len(), 1);
    assert_eq!(compliance[0].version, 1);
    let theirs = store.setting_versions(b.id, "assistant", 10).await.unwrap();
    assert_eq!(
        theirs.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1]
    );

    let second = store
        .setting_version(a.id, "assistant", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.value, Some(serde_json::json!({ "n": 2 })));
    assert_eq!((second.account_id, second.actor.as_str()), (a.id, "user:2"));
    assert_eq!(
        store.setting_version(a.id, "assistant", 5).await.unwrap(),
        None
    );
    // Tenant scope: B's version 1 is B's, and B has no version 2 of A's.
    let b_first = store
        .setting_version(b.id, "assistant", 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b_first.value, Some(serde_json::json!({ "n": "b" })));
    assert_eq!(
        store.setting_version(b.id, "assistant", 2).await.unwrap(),
        None
    );
    // One version per audited change.
    let chain = store.audit_chain(a.id).await.unwrap();
    assert_eq!(chain.len(), before + 6, "the stale write left none");

    // A write that fails leaves neither a version nor an audit entry behind.
    let ghost = AccountId::new();
    assert!(
        store
            .put_setting(
                ghost,
                "assistant",
                serde_json::json!({}),
                audit(ghost, "assistant.settings"),
            )
            .await
            .is_err()
    );
    assert!(
        store
            .setting_versions(ghost, "assistant", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.audit_chain(ghost).await.unwrap().is_empty());

    // Versions go with the account.
    store.delete_account(a.id).await.unwrap();
    assert!(
        store
            .setting_versions(a.id, "assistant", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- health ----

pub async fn health_is_ready(store: &dyn Store) {
    store.ready().await.unwrap();
    assert!(
        ["sqlite", "postgres"].contains(&store.backend()),
        "backend() = {}",
        store.backend()
    );
}

// ---- analytics ----

use crate::analytics::{AnalyticsQuery, DayActivity, DayBuckets, FirstResponse, Funnel};

/// Midnight UTC `days` days from today's.
fn utc_midnight(days: i64) -> Timestamp {
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
}

fn at_hm(midnight: Timestamp, hours: i64, mins: i64) -> Timestamp {
    midnight + SignedDuration::from_hours(hours) + minutes(mins)
}

/// A reply handed to the provider at `sent_at`, then (optionally) a delivery callback.
async fn sent_reply(
    store: &dyn Store,
    conversation: &Conversation,
    segments: i32,
    sent_at: Timestamp,
    callback: Option<MessageStatus>,
) -> Message {
    let mut new = outbound(conversation, Author::Ai, now());
    new.segments = segments;
    let message = enqueue(store, new).await;
    let provider_id = format!("SM{}", unique());
    store
        .mark_sent(message.id, &provider_id, MessageStatus::Sent, sent_at, None)
        .await
        .unwrap();
    if let Some(status) = callback {
        assert!(
            store
                .apply_delivery_status(conversation.channel_id, &provider_id, status, None)
                .await
                .unwrap()
        );
    }
    message
}

fn day(date: jiff::civil::Date, counts: [u64; 5]) -> DayActivity {
    DayActivity {
        date,
        inbound: counts[0],
        sent: counts[1],
        delivered: counts[2],
        failed: counts[3],
        segments: counts[4],
    }
}

fn utc_query(account: AccountId, from: Timestamp, to: Timestamp) -> AnalyticsQuery {
    AnalyticsQuery {
        account,
        from,
        to,
        channel: None,
        days: DayBuckets::utc(),
    }
}

pub async fn analytics_counts_days_funnel_and_first_response(store: &dyn Store) {
    let (a, ch1) = messaging_account(store, "analytics").await;
    let ch2 = store
        .create_channel(new_channel(a.id, "analytics-2"))
        .await
        .unwrap();
    let (d1, d2, today) = (utc_midnight(-2), utc_midnight(-1), utc_midnight(0));
    let (from, to) = (utc_midnight(-3), utc_midnight(1));
    let get = |raw: &str| phone(raw);

    // L1 answered in 2 min, replied, qualified. L2 answered in 10 min (2 segments, undelivered),
    // booked. L3 on the second channel, answered in 30 min. L4's reply failed before sending and
    // it was handed off. L5 got no reply and opted out. L6 started before the range.
    let (_, l1, c1) = receive(
        store,
        inbound(&ch1, &get("+15125550201"), "hi", at_hm(d1, 10, 0)),
    )
    .await;
    sent_reply(
        store,
        &c1,
        1,
        at_hm(d1, 10, 2),
        Some(MessageStatus::Delivered),
    )
    .await;
    receive(
        store,
        inbound(&ch1, &get("+15125550201"), "yes", at_hm(d1, 10, 5)),
    )
    .await;
    store
        .update_lead_fields(a.id, l1.id, Some("qualified"), None)
        .await
        .unwrap();
    let (_, l2, c2) = receive(
        store,
        inbound(&ch1, &get("+15125550202"), "hi", at_hm(d1, 11, 0)),
    )
    .await;
    sent_reply(
        store,
        &c2,
        2,
        at_hm(d1, 11, 10),
        Some(MessageStatus::Undelivered),
    )
    .await;
    store
        .update_lead_fields(a.id, l2.id, Some("booked"), None)
        .await
        .unwrap();
    let (_, _, c3) = receive(
        store,
        inbound(&ch2, &get("+15125550203"), "hi", at_hm(d2, 9, 0)),
    )
    .await;
    sent_reply(store, &c3, 1, at_hm(d2, 9, 30), None).await;
    let (_, _, c4) = receive(
        store,
        inbound(&ch1, &get("+15125550204"), "hi", at_hm(d2, 12, 0)),
    )
    .await;
    let failed = enqueue(store, outbound(&c4, Author::Ai, now())).await;
    store
        .finish_outbound(failed.id, MessageStatus::Failed, None, Some("30007"))
        .await
        .unwrap();
    store
        .record_handoff(crate::notifications::NewHandoff {
            notification_id: EventId::new(),
            account_id: a.id,
            conversation_id: c4.id,
            idempotency_key: format!("handoff:{}:1", c4.id),
            reason: "The lead asked for a person.".to_owned(),
            pause_ai: true,
            job_id: JobId::new(),
            job_kind: "handoff".to_owned(),
            at: at_hm(d2, 12, 1),
        })
        .await
        .unwrap();
    // A reply that failed before sending asks for a person too, but is no hand-off.
    store.set_needs_attention(a.id, c1.id, true).await.unwrap();
    receive(
        store,
        inbound(&ch1, &get("+15125550205"), "stop", at_hm(d2, 13, 0)),
    )
    .await;
    let opt_out = |number: &str, at: Timestamp| NewComplianceEvent {
        id: EventId::new(),
        account_id: a.id,
        phone: get(number),
        kind: ComplianceEventKind::OptOut,
        source: "keyword".to_owned(),
        details: serde_json::json!({}),
        at,
    };
    store
        .append_compliance_event(opt_out("+15125550205", at_hm(d2, 13, 1)))
        .await
        .unwrap();
    receive(
        store,
        inbound(&ch1, &get("+15125550206"), "old", from - minutes(60 * 24)),
    )
    .await;
    receive(
        store,
        inbound(&ch1, &get("+15125550206"), "again", at_hm(d1, 14, 0)),
    )
    .await;
    store
        .append_compliance_event(opt_out("+15125550206", from - minutes(60)))
        .await
        .unwrap();

    let report = store
        .analytics_report(&utc_query(a.id, from, to))
        .await
        .unwrap();
    let date = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).date();
    assert_eq!(
        report.days,
        vec![
            day(date(d1), [4, 2, 1, 1, 3]),
            day(date(d2), [3, 1, 0, 0, 1]),
            day(date(today), [0, 0, 0, 1, 0]),
        ]
    );
    assert_eq!(
        report.funnel,
        Funnel {
            new: 6,
            contacted: 3,
            replied: 2,
            qualified: 2,
            booked: 1,
            opted_out: 1,
        },
        "L6's opt-out came before the range"
    );
    assert_eq!(
        report.first_response,
        FirstResponse {
            answered: 3,
            unanswered: 2,
            median: Some(minutes(10))
        }
    );
    assert_eq!(
        report.opt_outs, 1,
        "the earlier opt-out is outside the range"
    );
    assert_eq!(report.handoffs, 1);

    // One channel: only its conversations, leads and messages.
    let mut on_ch2 = utc_query(a.id, from, to);
    on_ch2.channel = Some(ch2.id);
    let report = store.analytics_report(&on_ch2).await.unwrap();
    assert_eq!(report.days, vec![day(date(d2), [1, 1, 0, 0, 1])]);
    assert_eq!(
        report.funnel,
        Funnel {
            new: 1,
            contacted: 1,
            replied: 0,
            qualified: 0,
            booked: 0,
            opted_out: 0,
        }
    );
    assert_eq!(
        report.first_response,
        FirstResponse {
            answered: 1,
            unanswered: 0,
            median: Some(minutes(30))
        }
    );
    assert_eq!((report.opt_outs, report.handoffs), (0, 0));

    // A range that ends before the second day sees only the first.
    let report = store
        .analytics_report(&utc_query(a.id, from, d2))
        .await
        .unwrap();
    assert_eq!(report.days, vec![day(date(d1), [4, 2, 1, 1, 3])]);
    assert_eq!(
        report.funnel,
        Funnel::default(),
        "the leads were created today"
    );

    // Another account sees none of it, even when it names this account's channel.
    let (b, _) = messaging_account(store, "analytics-other").await;
    let mut theirs = utc_query(b.id, from, to);
    theirs.channel = Some(ch1.id);
    let report = store.analytics_report(&theirs).await.unwrap();
    assert_eq!(report, crate::analytics::AnalyticsReport::default());
    let report = store
        .analytics_report(&utc_query(b.id, from, to))
        .await
        .unwrap();
    assert_eq!(report, crate::analytics::AnalyticsReport::default());
}

/// The rollups the report reads follow every kind of write: a reply marked sent later, delivery
/// callbacks, stage changes (up and back down), a lead's deletion and the account's.
pub async fn analytics_rollups_follow_every_change(store: &dyn Store) {
    let (a, ch1) = messaging_account(store, "rollups").await;
    let ch2 = store
        .create_channel(new_channel(a.id, "rollups-2"))
        .await
        .unwrap();
    let d1 = utc_midnight(-1);
    let (from, to) = (utc_midnight(-2), utc_midnight(1));
    let date = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).date();
    let report = |channel: Option<ChannelId>| {
        let mut q = utc_query(a.id, from, to);
        q.channel = channel;
        async move { store.analytics_report(&q).await.unwrap() }
    };
    let funnel = |counts: [u64; 6]| Funnel {
        new: counts[0],
        contacted: counts[1],
        replied: counts[2],
        qualified: counts[3],
        booked: counts[4],
        opted_out: counts[5],
    };

    // L1: answered in a minute, delivered, then read; replies again.
    let (_, l1, c1) = receive(
        store,
        inbound(&ch1, &phone("+15125550401"), "hi", at_hm(d1, 10, 0)),
    )
    .await;
    sent_reply(
        store,
        &c1,
        2,
        at_hm(d1, 10, 1),
        Some(MessageStatus::Delivered),
    )
    .await;
    let r = report(None).await;
    assert_eq!(r.days, vec![day(date(d1), [1, 1, 1, 0, 2])]);
    assert_eq!(r.funnel, funnel([1, 1, 0, 0, 0, 0]));
    assert_eq!(r.first_response.median, Some(minutes(1)));
    receive(
        store,
        inbound(&ch1, &phone("+15125550401"), "yes", at_hm(d1, 10, 3)),
    )
    .await;
    assert_eq!(report(None).await.funnel, funnel([1, 1, 1, 0, 0, 0]));

    // L2 on the second channel: a reply queued (not yet sent) leaves it waiting; sending it
    // counts on the day it was sent.
    let (_, l2, c2) = receive(
        store,
        inbound(&ch2, &phone("+15125550402"), "hi", at_hm(d1, 11, 0)),
    )
    .await;
    let queued = enqueue(store, outbound(&c2, Author::Ai, now())).await;
    let r = report(Some(ch2.id)).await;
    assert_eq!(r.days, vec![day(date(d1), [1, 0, 0, 0, 0])]);
    assert_eq!(
        r.first_response,
        FirstResponse {
            answered: 0,
            unanswered: 1,
            median: None
        }
    );
    store
        .mark_sent(
            queued.id,
            "SM-rollups-2",
            MessageStatus::Sent,
            at_hm(d1, 11, 30),
            None,
        )
        .await
        .unwrap();
    let r = report(Some(ch2.id)).await;
    assert_eq!(r.days, vec![day(date(d1), [1, 1, 0, 0, 1])]);
    assert_eq!(r.first_response.median, Some(minutes(30)));
    assert_eq!(r.funnel, funnel([1, 1, 0, 0, 0, 0]));
    let r = report(None).await;
    assert_eq!(
        (r.first_response.answered, r.first_response.median),
        (2, Some(SignedDuration::from_secs(930))),
        "the mean of 1 and 30 minutes"
    );

    // Stages move the funnel on every channel the lead is on, and back down again.
    store
        .update_lead_fields(a.id, l2.id, Some("booked"), None)
        .await
        .unwrap();
    assert_eq!(
        report(Some(ch2.id)).await.funnel,
        funnel([1, 1, 1, 1, 1, 0])
    );
    assert_eq!(report(None).await.funnel, funnel([2, 2, 2, 1, 1, 0]));
    store
        .update_lead_fields(a.id, l2.id, Some("closed"), None)
        .await
        .unwrap();
    assert_eq!(
        report(Some(ch2.id)).await.funnel,
        funnel([1, 1, 0, 0, 0, 0])
    );

    // An opt-out by a lead of the cohort.
    store
        .append_compliance_event(NewComplianceEvent {
            id: EventId::new(),
            account_id: a.id,
            phone: phone("+15125550402"),
            kind: ComplianceEventKind::OptOut,
            source: "keyword".to_owned(),
            details: serde_json::json!({}),
            at: at_hm(d1, 12, 0),
        })
        .await
        .unwrap();
    let r = report(None).await;
    assert_eq!((r.funnel.opted_out, r.opt_outs), (1, 1));
    assert_eq!(report(Some(ch1.id)).await.funnel.opted_out, 0);

    // Deleting L1 takes back its messages, its place in the funnel and its response time.
    store.delete_lead(a.id, l1.id).await.unwrap();
    let r = report(None).await;
    assert_eq!(r.days, vec![day(date(d1), [1, 1, 0, 0, 1])]);
    assert_eq!(r.funnel, funnel([1, 1, 0, 0, 0, 1]));
    assert_eq!(
        r.first_response,
        FirstResponse {
            answered: 1,
            unanswered: 0,
            median: Some(minutes(30))
        }
    );
    assert_eq!(
        report(Some(ch1.id)).await,
        crate::analytics::AnalyticsReport::default()
    );

    // Deleting the account leaves nothing to count.
    store.delete_account(a.id).await.unwrap();
    assert_eq!(
        report(None).await,
        crate::analytics::AnalyticsReport::default()
    );
}

pub async fn analytics_days_follow_the_account_zone(store: &dyn Store) {
    let (a, ch) = messaging_account(store, "analytics-zone").await;
    // Chicago moved from -06:00 to -05:00 at 2024-03-10 08:00 UTC.
    for (n, at) in [
        "2024-03-10T05:30:00Z", // Mar 9, 23:30 CST
        "2024-03-10T06:30:00Z", // Mar 10, 00:30 CST
        "2024-03-11T04:30:00Z", // Mar 10, 23:30 CDT
        "2024-03-11T05:30:00Z", // Mar 11, 00:30 CDT (a fixed -06:00 would say Mar 10)
    ]
    .into_iter()
    .enumerate()
    {
        let from = phone(&format!("+1512555030{n}"));
        receive(store, inbound(&ch, &from, "hi", at.parse().unwrap())).await;
    }
    let zone = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let from: Timestamp = "2024-03-09T06:00:00Z".parse().unwrap();
    let to: Timestamp = "2024-03-12T05:00:00Z".parse().unwrap();
    let query = AnalyticsQuery {
        account: a.id,
        from,
        to,
        channel: None,
        days: DayBuckets::for_zone(&zone, from, to),
    };
    let inbound_by_day = |days: Vec<DayActivity>| {
        days.into_iter()
            .map(|d| (d.date.to_string(), d.inbound))
            .collect::<Vec<_>>()
    };
    let report = store.analytics_report(&query).await.unwrap();
    assert_eq!(
        inbound_by_day(report.days),
        vec![
            ("2024-03-09".to_owned(), 1),
            ("2024-03-10".to_owned(), 2),
            ("2024-03-11".to_owned(), 1),
        ]
    );
    assert_eq!(report.first_response.unanswered, 4);
    let report = store
        .analytics_report(&utc_query(a.id, from, to))
        .await
        .unwrap();
    assert_eq!(
        inbound_by_day(report.days),
        vec![("2024-03-10".to_owned(), 2), ("2024-03-11".to_owned(), 2)]
    );
}

/// An inbound message can schedule the conversation's summary job with it: every message of a
/// burst moves the same job back, and it is scheduled even while the AI is paused.
pub async fn inbound_schedules_the_summary_job(store: &dyn Store) {
    let (account, channel) = messaging_account(store, "summary-job").await;
    let from = phone("+15125550261");
    let t0 = now();
    let mut first = inbound(&channel, &from, "hello", t0);
    first.schedule_summary = Some(ScheduledReply {
        job_id: JobId::new(),
        kind: "summarize".to_owned(),
        run_at: t0 + minutes(30),
    });
    let (_, _, conversation) = receive(store, first).await;
    store
        .set_ai_paused(account.id, conversation.id, true)
        .await
        .unwrap();
    let mut second = inbound(&channel, &from, "anyone there?", t0 + minutes(2));
    second.schedule_summary = Some(ScheduledReply {
        job_id: JobId::new(),
        kind: "summarize".to_owned(),
        run_at: t0 + minutes(32),
    });
    receive(store, second).await;
    let jobs: Vec<Job> = store
        .pending_jobs(account.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == "summarize")
        .collect();
    assert_eq!(jobs.len(), 1, "one summary job per conversation");
    assert_eq!(jobs[0].run_at, t0 + minutes(32));
    assert_eq!(
        jobs[0].dedup_key.as_deref(),
        Some(format!("summarize:{}", conversation.id).as_str())
    );
    assert_eq!(
        jobs[0].payload["conversation_id"],
        conversation.id.to_string()
    );
    let claimed = store
        .claim_jobs(&["summarize"], t0 + minutes(40), t0 + minutes(41), 10)
        .await
        .unwrap();
    for job in claimed {
        store.complete_job(job.id, job.run_at).await.unwrap();
    }
}

/// Summaries are history: each is kept with its reason and engine, the latest is found per
/// conversation (also for a page of conversations), a dedup key writes once, and another
/// account's conversation is not found.
pub async fn summaries_record_latest_and_list(store: &dyn Store) {
    use crate::{NewSummary, SummaryReason};
    let (account, channel) = messaging_account(store, "summaries").await;
    let (other, other_channel) = messaging_account(store, "summaries-other").await;
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550271")).await;
    let (_, second) = conversation_with(store, &channel, &phone("+15125550272")).await;
    let (_, quiet) = conversation_with(store, &channel, &phone("+15125550273")).await;
    let (_, foreign) = conversation_with(store, &other_channel, &phone("+15125550274")).await;
    let t0 = now();
    let new =
        |conversation: ConversationId, reason, body: &str, at, key: Option<&str>| NewSummary {
            id: EventId::new(),
            account_id: account.id,
            conversation_id: conversation,
            reason,
            engine: "playbook".to_owned(),
            body: body.to_owned(),
            input_tokens: 0,
            output_tokens: 0,
            dedup_key: key.map(str::to_owned),
            at,
        };
    assert_eq!(
        store
            .latest_summary(account.id, conversation.id)
            .await
            .unwrap(),
        None
    );
    let first = store
        .record_summary(new(
            conversation.id,
            SummaryReason::Quiet,
            "Wants term life.",
            t0,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(first.reason, SummaryReason::Quiet);
    assert_eq!(first.engine, "playbook");
    assert_eq!(first.created_at, t0);
    let handoff = store
        .record_summary(new(
            conversation.id,
            SummaryReason::Handoff,
            "Asked for a person.",
            t0 + minutes(5),
            Some("handoff:n1"),
        ))
        .await
        .unwrap();
    // The same key again (a retried job): the first summary, nothing new.
    let again = store
        .record_summary(new(
            conversation.id,
            SummaryReason::Handoff,
            "Different text.",
            t0 + minutes(6),
            Some("handoff:n1"),
        ))
        .await
        .unwrap();
    assert_eq!(again, handoff);
    // A model-written summary: its tokens count toward the monthly budget with the turns'.
    let mut by_model = new(second.id, SummaryReason::Quiet, "Second lead.", t0, None);
    by_model.engine = "openai:gpt-test".to_owned();
    by_model.input_tokens = 30;
    by_model.output_tokens = 20;
    let before = store.tokens_used_since(account.id, t0).await.unwrap();
    assert_eq!(
        store.record_summary(by_model).await.unwrap().engine,
        "openai:gpt-test"
    );
    assert_eq!(
        store.tokens_used_since(account.id, t0).await.unwrap(),
        before + 50
    );
    assert_eq!(
        store
            .latest_summary(account.id, conversation.id)
            .await
            .unwrap(),
        Some(handoff.clone())
    );
    let history = store.summaries(account.id, conversation.id).await.unwrap();
    assert_eq!(history, vec![handoff.clone(), first]);
    let mut page = store
        .latest_summaries(
            account.id,
            &[conversation.id, second.id, quiet.id, foreign.id],
        )
        .await
        .unwrap();
    page.sort_by_key(|s| s.body.clone());
    assert_eq!(
        page.len(),
        2,
        "no summary yet, or another account's: left out"
    );
    assert_eq!(page[0].body, "Asked for a person.");
    assert_eq!(page[1].body, "Second lead.");
    assert!(
        store
            .latest_summaries(account.id, &[])
            .await
            .unwrap()
            .is_empty()
    );
    // Another account's conversation: not found, nothing written.
    assert_not_found(
        store
            .record_summary(new(foreign.id, SummaryReason::Quiet, "x", t0, None))
            .await,
    );
    assert_eq!(
        store.latest_summary(other.id, foreign.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.latest_summary(account.id, foreign.id).await.unwrap(),
        None
    );
}

/// A hand-off flags the conversation, creates one notification per key with its job, and plans
/// each delivery once; attempts are counted, a finished delivery stays finished, and everything
/// is scoped to the account.
pub async fn handoff_notifications_and_deliveries(store: &dyn Store) {
    use crate::{DeliveryAttempt, DeliveryChannel, DeliveryStatus, NewDelivery, NewHandoff};
    let (account, channel) = messaging_account(store, "handoff").await;
    let (other, other_channel) = messaging_account(store, "handoff-other").await;
    let (_, conversation) = conversation_with(store, &channel, &phone("+15125550281")).await;
    let (_, foreign) = conversation_with(store, &other_channel, &phone("+15125550282")).await;
    let t0 = now();
    let handoff = |conversation: ConversationId, key: &str, pause_ai| NewHandoff {
        notification_id: EventId::new(),
        account_id: account.id,
        conversation_id: conversation,
        idempotency_key: key.to_owned(),
        reason: "The lead asked for a person.".to_owned(),
        pause_ai,
        job_id: JobId::new(),
        job_kind: "handoff".to_owned(),
        at: t0,
    };
    let (notification, created) = store
        .record_handoff(handoff(conversation.id, "handoff:c1:m1", true))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(notification.kind, "handoff");
    assert_eq!(notification.summary, None);
    assert_eq!(notification.created_at, t0);
    let flagged = store
        .get_conversation(account.id, conversation.id)
        .await
        .unwrap();
    assert!(flagged.needs_attention && flagged.ai_paused);
    // The same hand-off turn again: the same notification, no second job.
    let (again, created) = store
        .record_handoff(handoff(conversation.id, "handoff:c1:m1", false))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, notification);
    let jobs: Vec<Job> = store
        .pending_jobs(account.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == "handoff")
        .collect();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].payload["notification_id"],
        notification.id.to_string()
    );
    assert_eq!(
        store
            .get_notification(account.id, notification.id)
            .await
            .unwrap(),
        notification
    );
    // A hand-off that does not pause: flagged only.
    store
        .set_ai_paused(account.id, conversation.id, false)
        .await
        .unwrap();
    store
        .record_handoff(handoff(conversation.id, "handoff:c1:m2", false))
        .await
        .unwrap();
    assert!(
        !store
            .get_conversation(account.id, conversation.id)
            .await
            .unwrap()
            .ai_paused
    );

    let delivery = |channel, target: &str| NewDelivery {
        id: EventId::new(),
        channel,
        target: target.to_owned(),
        job_id: JobId::new(),
        job_kind: "deliver".to_owned(),
    };
    let planned = store
        .plan_deliveries(
            account.id,
            notification.id,
            "Wants a call back.",
            vec![
                delivery(DeliveryChannel::Email, "dana@example.com"),
                delivery(DeliveryChannel::Webhook, "https://hooks.example.com/x"),
            ],
            t0,
        )
        .await
        .unwrap();
    assert_eq!(planned.len(), 2);
    assert!(planned.iter().all(|d| d.status == DeliveryStatus::Pending
        && d.attempts == 0
        && d.notification_id == notification.id));
    // Planned again (a retried job): nothing new, no new jobs.
    let replanned = store
        .plan_deliveries(
            account.id,
            notification.id,
            "Wants a call back.",
            vec![delivery(DeliveryChannel::Email, "dana@example.com")],
            t0,
        )
        .await
        .unwrap();
    assert_eq!(replanned, planned);
    let deliver_jobs = store
        .pending_jobs(account.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == "deliver")
        .count();
    assert_eq!(deliver_jobs, 2);
    assert_eq!(
        store
            .get_notification(account.id, notification.id)
            .await
            .unwrap()
            .summary
            .as_deref(),
        Some("Wants a call back.")
    );

    let webhook = planned
        .iter()
        .find(|d| d.channel == DeliveryChannel::Webhook)
        .unwrap();
    assert!(
        store
            .record_delivery_attempt(
                account.id,
                webhook.id,
                DeliveryAttempt::Retry {
                    error: "HTTP 500".to_owned()
                },
                t0 + minutes(1),
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .record_delivery_attempt(
                account.id,
                webhook.id,
                DeliveryAttempt::Delivered,
                t0 + minutes(2)
            )
            .await
            .unwrap()
    );
    // Delivered is final.
    assert!(
        !store
            .record_delivery_attempt(
                account.id,
                webhook.id,
                DeliveryAttempt::Failed {
                    error: "late".to_owned()
                },
                t0 + minutes(3),
            )
            .await
            .unwrap()
    );
    let done = store.get_delivery(account.id, webhook.id).await.unwrap();
    assert_eq!(done.status, DeliveryStatus::Delivered);
    assert_eq!(done.attempts, 2);
    assert_eq!(done.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(done.delivered_at, Some(t0 + minutes(2)));
    let email = planned
        .iter()
        .find(|d| d.channel == DeliveryChannel::Email)
        .unwrap();
    store
        .record_delivery_attempt(
            account.id,
            email.id,
            DeliveryAttempt::Failed {
                error: "mailbox unavailable".to_owned(),
            },
            t0 + minutes(1),
        )
        .await
        .unwrap();
    let failed = store.get_delivery(account.id, email.id).await.unwrap();
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.attempts, 1);
    let recent = store.recent_deliveries(account.id, 10).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(
        store.recent_deliveries(account.id, 1).await.unwrap().len(),
        1
    );

    // Scoped to the account.
    assert_not_found(
        store
            .record_handoff(handoff(foreign.id, "handoff:foreign", true))
            .await,
    );
    assert!(
        !store
            .get_conversation(other.id, foreign.id)
            .await
            .unwrap()
            .needs_attention
    );
    assert_not_found(store.get_notification(other.id, notification.id).await);
    assert_not_found(store.get_delivery(other.id, webhook.id).await);
    assert_not_found(
        store
            .record_delivery_attempt(other.id, email.id, DeliveryAttempt::Delivered, t0)
            .await,
    );
    assert_not_found(
        store
            .plan_deliveries(other.id, notification.id, "x", Vec::new(), t0)
            .await,
    );
    assert!(
        store
            .recent_deliveries(other.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for job in store
        .claim_jobs(
            &["handoff", "deliver"],
            t0 + minutes(10),
            t0 + minutes(11),
            50,
        )
        .await
        .unwrap()
    {
        store.complete_job(job.id, job.run_at).await.unwrap();
    }
}

/// Preferences are per member and account; a non-member has none to set.
pub async fn notification_prefs_per_member(store: &dyn Store) {
    use crate::NotificationPref;
    let (owner, account) = signup(store, "prefs").await;
    let (stranger, other) = signup(store, "prefs-other").await;
    assert!(
        store
            .notification_prefs(account.id)
            .await
            .unwrap()
            .is_empty()
    );
    let off = NotificationPref {
        user_id: owner.id,
        email_on_handoff: false,
    };
    store
        .set_notification_pref(account.id, off.clone())
        .await
        .unwrap();
    assert_eq!(
        store.notification_prefs(account.id).await.unwrap(),
        vec![off]
    );
    let on = NotificationPref {
        user_id: owner.id,
        email_on_handoff: true,
    };
    store
        .set_notification_pref(account.id, on.clone())
        .await
        .unwrap();
    assert_eq!(
        store.notification_prefs(account.id).await.unwrap(),
        vec![on]
    );
    assert_not_found(
        store
            .set_notification_pref(
                account.id,
                NotificationPref {
                    user_id: stranger.id,
                    email_on_handoff: true,
                },
            )
            .await,
    );
    assert!(store.notification_prefs(other.id).await.unwrap().is_empty());
}
