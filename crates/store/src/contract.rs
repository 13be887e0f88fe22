//! The contract suite: the behaviour every `Store` backend must show. Each function takes a store,
//! exercises one area and panics on the first violation. No function assumes an empty database
//! (names, emails and tokens are unique per call), so they can run on fresh stores or all on one
//! store through [`run_all`]. Backends run every entry of [`ALL`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{
    Account, AuditEntry, ComplianceEventKind, ContactCompliance, Invitation, InvitationState,
    Member, MembershipWithAccount, NewApiKey, NewAudit, NewComplianceEvent, NewInvitation,
    NewSession, NewSignup, NewUser, SecretRow, Store, StoreError, StoreResult, User,
};
use jiff::{SignedDuration, Timestamp};
use leadline_domain::audit::verify_chain;
use leadline_domain::ids::{EventId, SecretId, SessionId};
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
    health_is_ready,
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

// ---- health ----

pub async fn health_is_ready(store: &dyn Store) {
    store.ready().await.unwrap();
    assert!(
        ["sqlite", "postgres"].contains(&store.backend()),
        "backend() = {}",
        store.backend()
    );
}
