//! The operations behind both the dashboard and the JSON API. Each parses its input into domain
//! types, checks the caller's role, and calls the store; each state change is audited in the
//! same transaction as the change.

use crate::error::{AppError, FieldError};
use crate::mail::{Delivery, DeliveryKind};
use crate::state::AppState;
use jiff::{SignedDuration, Timestamp};
use leadline_app::{passwords, tokens};
use leadline_domain::account::ProfileInput;
use leadline_domain::ids::SessionId;
use leadline_domain::{AccountId, ApiKeyId, Email, InvitationId, Role, UserId, password};
use leadline_store::{
    Account, ApiKey, Invitation, NewApiKey, NewAudit, NewInvitation, NewSignup, NewUser,
    StoreError, User,
};

pub const INVITATION_TTL: SignedDuration = SignedDuration::from_hours(24 * 7);
pub const RESET_TTL: SignedDuration = SignedDuration::from_hours(1);

fn audit(account: AccountId, actor: &str, action: &str, details: serde_json::Value) -> NewAudit {
    NewAudit {
        account_id: account,
        actor: actor.to_owned(),
        action: action.to_owned(),
        details,
    }
}

fn later(by: SignedDuration) -> Result<Timestamp, AppError> {
    Timestamp::now().checked_add(by).map_err(AppError::internal)
}

fn parse_email(field: &str, raw: &str) -> Result<Email, AppError> {
    Email::parse(raw).map_err(|e| AppError::field(field, e.to_string()))
}

fn check_password(field: &str, raw: &str) -> Result<(), AppError> {
    password::check(raw).map_err(|e| AppError::field(field, e.to_string()))
}

fn hash_password(raw: &str) -> Result<String, AppError> {
    passwords::hash(raw).map_err(AppError::internal)
}

/// Sign-up as submitted by the form or API.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct SignupInput {
    pub business_name: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

pub async fn sign_up(state: &AppState, input: &SignupInput) -> Result<(User, Account), AppError> {
    let mut fields = Vec::new();
    let mut push = |field: &str, message: String| {
        fields.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let business_name = input.business_name.trim();
    if business_name.is_empty() {
        push("business_name", "is required".into());
    } else if business_name.chars().count() > 120 {
        push("business_name", "must be at most 120 characters".into());
    }
    let name = input.name.trim();
    if name.is_empty() {
        push("name", "is required".into());
    } else if name.chars().count() > 120 {
        push("name", "must be at most 120 characters".into());
    }
    let email = Email::parse(&input.email)
        .map_err(|e| push("email", e.to_string()))
        .ok();
    if let Err(e) = password::check(&input.password) {
        push("password", e.to_string());
    }
    let Some(email) = email.filter(|_| fields.is_empty()) else {
        return Err(AppError::validation("Some fields need attention.", fields));
    };
    if state.store.find_user_by_email(&email).await?.is_some() {
        return Err(email_taken());
    }
    let signup = NewSignup {
        user: NewUser {
            id: UserId::new(),
            email,
            name: name.to_owned(),
            password_hash: Some(hash_password(&input.password)?),
            google_subject: None,
        },
        account_id: AccountId::new(),
        profile: leadline_domain::BusinessProfile {
            business_name: business_name.to_owned(),
            agent_name: name.to_owned(),
            ..Default::default()
        },
    };
    match state.store.sign_up(signup).await {
        Ok(done) => Ok(done),
        // Two sign-ups raced for the same email; the unique index decided.
        Err(StoreError::Conflict(_)) => Err(email_taken()),
        Err(e) => Err(e.into()),
    }
}

fn email_taken() -> AppError {
    AppError {
        fields: vec![FieldError {
            field: "email".into(),
            message: "is already registered; sign in instead".into(),
        }],
        ..AppError::conflict(
            "email_taken",
            "An account with this email already exists. Sign in instead, or reset your password.",
        )
    }
}

const BAD_CREDENTIALS: &str = "That email and password do not match. Check them and try again.";

/// Checks credentials with throttling per email and per client IP. Unknown emails and wrong
/// passwords get the same answer in the same time.
pub async fn sign_in(
    state: &AppState,
    email_raw: &str,
    password: &str,
    ip: &str,
) -> Result<User, AppError> {
    let limits = state.config.login_limits;
    let since = Timestamp::now()
        .checked_sub(limits.window)
        .map_err(AppError::internal)?;
    let email_key = format!("email:{}", email_raw.trim().to_lowercase());
    let ip_key = format!("ip:{ip}");
    let by_email = state.store.count_login_failures(&email_key, since).await?;
    let by_ip = state.store.count_login_failures(&ip_key, since).await?;
    if by_email >= limits.per_email || by_ip >= limits.per_ip {
        return Err(AppError::rate_limited(format!(
            "Too many failed sign-in attempts. Wait {} minutes and try again, or reset your password.",
            limits.window.as_mins()
        )));
    }
    let user = match Email::parse(email_raw) {
        Ok(email) => state.store.find_user_by_email(&email).await?,
        Err(_) => None,
    };
    let ok = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
        Some(phc) => passwords::verify(password, phc),
        None => {
            passwords::verify_dummy(password);
            false
        }
    };
    match (ok, user) {
        (true, Some(user)) => {
            state.store.clear_login_failures(&email_key).await?;
            for m in state.store.memberships_of_user(user.id).await? {
                state
                    .store
                    .append_audit(audit(
                        m.account_id,
                        &format!("user:{}", user.id),
                        "auth.sign_in",
                        serde_json::json!({ "ip": ip }),
                    ))
                    .await?;
            }
            Ok(user)
        }
        (_, user) => {
            state
                .store
                .record_login_failure(&[email_key, ip_key], Timestamp::now())
                .await?;
            if let Some(user) = user {
                for m in state.store.memberships_of_user(user.id).await? {
                    state
                        .store
                        .append_audit(audit(
                            m.account_id,
                            &format!("user:{}", user.id),
                            "auth.sign_in_failed",
                            serde_json::json!({ "ip": ip }),
                        ))
                        .await?;
                }
            }
            Err(AppError::unauthorized(BAD_CREDENTIALS))
        }
    }
}

pub async fn update_profile(
    state: &AppState,
    account: AccountId,
    actor: &str,
    input: &ProfileInput,
) -> Result<Account, AppError> {
    let profile = input.parse().map_err(|errs| {
        let fields = errs
            .into_iter()
            .map(|e| FieldError {
                field: e.field.into(),
                message: e.message,
            })
            .collect();
        AppError::validation("Some fields need attention.", fields)
    })?;
    let details = serde_json::json!({ "business_name": profile.business_name });
    Ok(state
        .store
        .update_profile(
            account,
            profile,
            audit(account, actor, "profile.update", details),
        )
        .await?)
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct InviteInput {
    pub email: String,
    /// owner, admin, agent or viewer
    pub role: String,
}

/// The outcome of an invitation: the link (to show to the inviter) and how it was delivered.
#[derive(Debug, Clone)]
pub struct Invited {
    pub invitation: Invitation,
    pub link: String,
    pub delivery: Delivery,
}

pub fn parse_role(raw: &str) -> Result<Role, AppError> {
    raw.parse::<Role>()
        .map_err(|e| AppError::field("role", e.to_string()))
}

fn check_grant(actor_role: Role, role: Role) -> Result<(), AppError> {
    if actor_role.can_grant(role) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "Your role ({actor_role}) cannot grant the {role} role."
        )))
    }
}

pub async fn invite(
    state: &AppState,
    account: &Account,
    actor_role: Role,
    actor: &str,
    invited_by: UserId,
    input: &InviteInput,
) -> Result<Invited, AppError> {
    crate::auth::require_role(actor_role, Role::Admin)?;
    let email = parse_email("email", &input.email)?;
    let role = parse_role(&input.role)?;
    check_grant(actor_role, role)?;
    let members = state.store.members_of_account(account.id).await?;
    if members.iter().any(|m| m.email == email) {
        return Err(AppError::conflict(
            "already_member",
            format!("{email} is already a member of this account."),
        ));
    }
    let token = tokens::generate();
    let new = NewInvitation {
        id: InvitationId::new(),
        account_id: account.id,
        email: email.clone(),
        role,
        invited_by,
        token_hash: tokens::hash(&token),
        expires_at: later(INVITATION_TTL)?,
    };
    let details = serde_json::json!({ "email": email.as_str(), "role": role.as_str() });
    let invitation = match state
        .store
        .create_invitation(new, audit(account.id, actor, "invitation.create", details))
        .await
    {
        Ok(i) => i,
        Err(StoreError::Conflict(_)) => {
            return Err(AppError::conflict(
                "invitation_pending",
                format!("{email} already has a pending invitation. Revoke it to send a new one."),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let link = state.config.link(&format!("/invite/{token}"));
    let body = format!(
        "You have been invited to join {} on leadline as {role}.\n\nAccept the invitation: {link}\n\nThe link expires in 7 days.",
        account.profile.business_name
    );
    let delivery = state
        .mailer
        .send(email.as_str(), "Your leadline invitation", &body)
        .await
        .map_err(AppError::internal)?;
    Ok(Invited {
        invitation,
        link,
        delivery,
    })
}

pub async fn revoke_invitation(
    state: &AppState,
    account: AccountId,
    actor_role: Role,
    actor: &str,
    id: InvitationId,
) -> Result<(), AppError> {
    crate::auth::require_role(actor_role, Role::Admin)?;
    let details = serde_json::json!({ "invitation_id": id.to_string() });
    Ok(state
        .store
        .revoke_invitation(
            account,
            id,
            audit(account, actor, "invitation.revoke", details),
        )
        .await?)
}

/// Accepts an invitation for a signed-in user. The invitation's email must be the user's.
pub async fn accept_invitation(
    state: &AppState,
    token: &str,
    user: &User,
) -> Result<Invitation, AppError> {
    let Some(inv) = state
        .store
        .find_invitation_by_token(&tokens::hash(token), Timestamp::now())
        .await?
    else {
        return Err(AppError::not_found());
    };
    if inv.email != user.email {
        return Err(AppError::forbidden(format!(
            "This invitation is for {}, but you are signed in as {}. Sign out and sign in (or sign up) with the invited email.",
            inv.email, user.email
        )));
    }
    let details = serde_json::json!({ "email": inv.email.as_str(), "role": inv.role.as_str() });
    match state
        .store
        .accept_invitation(
            inv.id,
            user.id,
            audit(
                inv.account_id,
                &format!("user:{}", user.id),
                "invitation.accept",
                details,
            ),
        )
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(inv),
        Err(e) => Err(e.into()),
    }
}

/// Creates the user an invitation is for and joins them, when they have no login yet.
pub async fn sign_up_invited(
    state: &AppState,
    token: &str,
    name: &str,
    password_raw: &str,
) -> Result<User, AppError> {
    let Some(inv) = state
        .store
        .find_invitation_by_token(&tokens::hash(token), Timestamp::now())
        .await?
    else {
        return Err(AppError::not_found());
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::field("name", "is required"));
    }
    check_password("password", password_raw)?;
    if state.store.find_user_by_email(&inv.email).await?.is_some() {
        return Err(AppError::conflict(
            "email_taken",
            "You already have a login: sign in to accept this invitation.",
        ));
    }
    let user = state
        .store
        .create_user(NewUser {
            id: UserId::new(),
            email: inv.email.clone(),
            name: name.to_owned(),
            password_hash: Some(hash_password(password_raw)?),
            google_subject: None,
        })
        .await?;
    accept_invitation(state, token, &user).await?;
    Ok(user)
}

pub async fn set_member_role(
    state: &AppState,
    account: AccountId,
    actor_role: Role,
    actor: &str,
    user: UserId,
    role: Role,
) -> Result<(), AppError> {
    crate::auth::require_role(actor_role, Role::Admin)?;
    let current = state.store.get_membership(account, user).await?;
    // Admins manage admins and below; only owners touch owners.
    check_grant(actor_role, current.role)?;
    check_grant(actor_role, role)?;
    let details = serde_json::json!({ "user_id": user.to_string(), "from": current.role.as_str(), "to": role.as_str() });
    match state
        .store
        .set_role(
            account,
            user,
            role,
            audit(account, actor, "member.role_change", details),
        )
        .await
    {
        Err(StoreError::Conflict(_)) => Err(AppError::conflict(
            "last_owner",
            "An account needs at least one owner. Make someone else an owner first.",
        )),
        other => Ok(other?),
    }
}

pub async fn remove_member(
    state: &AppState,
    account: AccountId,
    actor_role: Role,
    actor: &str,
    user: UserId,
) -> Result<(), AppError> {
    crate::auth::require_role(actor_role, Role::Admin)?;
    let current = state.store.get_membership(account, user).await?;
    check_grant(actor_role, current.role)?;
    let details = serde_json::json!({ "user_id": user.to_string(), "role": current.role.as_str() });
    match state
        .store
        .remove_member(
            account,
            user,
            audit(account, actor, "member.remove", details),
        )
        .await
    {
        Err(StoreError::Conflict(_)) => Err(AppError::conflict(
            "last_owner",
            "An account needs at least one owner. Make someone else an owner first.",
        )),
        other => Ok(other?),
    }
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKeyInput {
    pub name: String,
    /// The role the key acts with: admin, agent or viewer (owner only for owners).
    pub role: String,
}

pub async fn create_api_key(
    state: &AppState,
    account: AccountId,
    actor_role: Role,
    actor: &str,
    created_by: UserId,
    input: &ApiKeyInput,
) -> Result<(ApiKey, String), AppError> {
    crate::auth::require_role(actor_role, Role::Admin)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::field(
            "name",
            "give the key a name of 1 to 80 characters",
        ));
    }
    let role = parse_role(&input.role)?;
    check_grant(actor_role, role)?;
    let (secret, prefix) = tokens::generate_api_key();
    let new = NewApiKey {
        id: ApiKeyId::new(),
        account_id: account,
        name: name.to_owned(),
        role,
        prefix: prefix.clone(),
        token_hash: tokens::hash(&secret),
        created_by,
    };
    let details = serde_json::json!({ "name": name, "role": role.as_str(), "prefix": prefix });
    let key = state
        .store
        .create_api_key(new, audit(account, actor, "api_key.create", details))
        .await?;
    Ok((key, secret))
}

pub async fn revoke_api_key(
    state: &AppState,
    account: AccountId,
    actor_role: Role,
    actor: &str,
    id: ApiKeyId,
) -> Result<(), AppError> {
    crate::auth::require_role(actor_role, Role::Admin)?;
    let details = serde_json::json!({ "api_key_id": id.to_string() });
    Ok(state
        .store
        .revoke_api_key(
            account,
            id,
            audit(account, actor, "api_key.revoke", details),
        )
        .await?)
}

pub async fn change_password(
    state: &AppState,
    user: &User,
    keep: SessionId,
    current: &str,
    new: &str,
) -> Result<(), AppError> {
    let ok = user
        .password_hash
        .as_deref()
        .is_some_and(|phc| passwords::verify(current, phc));
    if !ok {
        return Err(AppError::field(
            "current_password",
            "is not your current password",
        ));
    }
    check_password("new_password", new)?;
    state
        .store
        .set_password_hash(user.id, &hash_password(new)?)
        .await?;
    // Other browsers signed in with the old password are signed out.
    state
        .store
        .delete_user_sessions(user.id, Some(keep))
        .await?;
    for m in state.store.memberships_of_user(user.id).await? {
        state
            .store
            .append_audit(audit(
                m.account_id,
                &format!("user:{}", user.id),
                "auth.password_change",
                serde_json::json!({}),
            ))
            .await?;
    }
    Ok(())
}

/// Sends a reset link if the email is known. The answer never says whether it was.
pub async fn request_password_reset(
    state: &AppState,
    email_raw: &str,
) -> Result<Delivery, AppError> {
    let email = parse_email("email", email_raw)?;
    let Some(user) = state.store.find_user_by_email(&email).await? else {
        return Ok(state.mailer.delivery_kind());
    };
    let token = tokens::generate();
    state
        .store
        .create_reset_token(user.id, &tokens::hash(&token), later(RESET_TTL)?)
        .await?;
    let link = state.config.link(&format!("/reset/{token}"));
    let body = format!(
        "Someone asked to reset the leadline password for {email}.\n\nChoose a new password: {link}\n\nThe link works once and expires in one hour. If it was not you, ignore this email."
    );
    // Sent in the background: the answer must not depend on whether (or how slowly) mail goes
    // out for this address, or the page would reveal which emails are registered.
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
        if let Err(e) = mailer
            .send(email.as_str(), "Reset your leadline password", &body)
            .await
        {
            tracing::error!(error = %e, "password reset email not sent");
        }
    });
    Ok(state.mailer.delivery_kind())
}

pub async fn reset_password(state: &AppState, token: &str, new: &str) -> Result<User, AppError> {
    check_password("password", new)?;
    let Some(user_id) = state
        .store
        .consume_reset_token(&tokens::hash(token), Timestamp::now())
        .await?
    else {
        return Err(AppError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_token",
            "This reset link has expired or was already used. Ask for a new one.",
        ));
    };
    state
        .store
        .set_password_hash(user_id, &hash_password(new)?)
        .await?;
    state.store.delete_user_sessions(user_id, None).await?;
    state
        .store
        .clear_login_failures(&format!(
            "email:{}",
            state.store.get_user(user_id).await?.email
        ))
        .await?;
    Ok(state.store.get_user(user_id).await?)
}
