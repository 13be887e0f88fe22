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

/// Appends one entry to the account's audit log.
pub async fn record_audit(
    state: &AppState,
    account: AccountId,
    actor: &str,
    action: &str,
    details: serde_json::Value,
) -> Result<(), AppError> {
    state
        .store
        .append_audit(audit(account, actor, action, details))
        .await?;
    Ok(())
}

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

// ---------------------------------------------------------------------------------------------
// Leads: list, view, create/update, delete, and CSV import.

/// The pipeline stages a lead moves through.
pub const LEAD_STAGES: [&str; 6] = [
    "new",
    "contacted",
    "replied",
    "qualified",
    "booked",
    "closed",
];

/// Lead fields as typed in the edit form or sent to the API. `None` (or, from a form, an empty
/// value) keeps what is stored: the store merges on the phone number.
#[derive(Debug, Clone, Default)]
pub struct LeadFields {
    pub name: Option<String>,
    pub email: Option<String>,
    pub state: Option<String>,
    pub time_zone: Option<String>,
    pub tags: Option<Vec<String>>,
    pub stage: Option<String>,
}

/// Splits a tag list typed as "a, b; c | d" into trimmed, de-duplicated tags.
pub fn split_tags(raw: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for t in raw.split([',', ';', '|']) {
        let t = t.trim();
        if !t.is_empty() && !tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            tags.push(t.to_owned());
        }
    }
    tags
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Checks one lead's fields; every problem is reported against its field.
pub fn validate_lead(
    f: &LeadFields,
) -> Result<(leadline_store::LeadInput, Option<String>), Vec<FieldError>> {
    use leadline_domain::compliance::{UsState, parse_time_zone};
    let mut errors = Vec::new();
    let mut push = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let name = non_empty(&f.name).map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.chars().count() > 120) {
        push("name", "must be at most 120 characters".into());
    }
    let email = match non_empty(&f.email) {
        Some(raw) => Email::parse(raw)
            .map(|e| Some(e.to_string()))
            .unwrap_or_else(|e| {
                push("email", e.to_string());
                None
            }),
        None => None,
    };
    let state = match non_empty(&f.state) {
        Some(raw) => UsState::parse(raw)
            .map(|s| Some(s.code().to_owned()))
            .unwrap_or_else(|e| {
                push("state", e.to_string());
                None
            }),
        None => None,
    };
    let time_zone = match non_empty(&f.time_zone) {
        Some(raw) => match parse_time_zone(raw) {
            Ok(_) => Some(raw.to_owned()),
            Err(_) => {
                push(
                    "time_zone",
                    format!("'{raw}' is not a known time zone (e.g. America/Chicago)"),
                );
                None
            }
        },
        None => None,
    };
    let tags = f.tags.clone().unwrap_or_default();
    if tags.len() > 20 {
        push("tags", "may hold at most 20 tags".into());
    } else if tags.iter().any(|t| t.chars().count() > 40) {
        push("tags", "must each be at most 40 characters".into());
    }
    let stage = non_empty(&f.stage).map(str::to_owned);
    if let Some(s) = &stage
        && !LEAD_STAGES.contains(&s.as_str())
    {
        push(
            "stage",
            format!("must be one of {}", LEAD_STAGES.join(", ")),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((
        leadline_store::LeadInput {
            name,
            email,
            state,
            time_zone,
            tags,
        },
        stage,
    ))
}

fn lead_validation(fields: Vec<FieldError>) -> AppError {
    AppError::validation("Some fields need attention.", fields)
}

/// Filters and order for a lead list, as typed in a URL (page or API).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct LeadListParams {
    pub q: Option<String>,
    pub stage: Option<String>,
    pub tag: Option<String>,
    /// `created` (default), `updated`, `name` or `score`.
    pub sort: Option<String>,
    /// `asc` or `desc`; by default names ascend and the rest descend.
    pub dir: Option<String>,
}

impl LeadListParams {
    /// The store query for a window of the list; an unknown stage, sort or direction is a
    /// field error.
    pub fn query(&self, limit: u32, offset: u32) -> Result<leadline_store::LeadQuery, AppError> {
        use leadline_store::LeadSort;
        let blank = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let stage = blank(&self.stage);
        if let Some(stage) = &stage
            && !LEAD_STAGES.contains(&stage.as_str())
        {
            return Err(AppError::field(
                "stage",
                "must be one of new, contacted, replied, qualified, booked, closed",
            ));
        }
        let sort = match blank(&self.sort).as_deref() {
            None | Some("created") => LeadSort::Created,
            Some("updated") => LeadSort::Updated,
            Some("name") => LeadSort::Name,
            Some("score") => LeadSort::Score,
            Some(_) => {
                return Err(AppError::field(
                    "sort",
                    "must be created, updated, name or score",
                ));
            }
        };
        let ascending = match blank(&self.dir).as_deref() {
            None => sort == LeadSort::Name,
            Some("asc") => true,
            Some("desc") => false,
            Some(_) => return Err(AppError::field("dir", "must be asc or desc")),
        };
        Ok(leadline_store::LeadQuery {
            text: blank(&self.q),
            stage,
            tag: blank(&self.tag),
            sort,
            ascending,
            limit,
            offset,
        })
    }
}

/// One page of leads as `query` filters and orders them.
pub async fn list_leads(
    state: &AppState,
    account: AccountId,
    query: &leadline_store::LeadQuery,
) -> Result<Vec<leadline_store::Lead>, AppError> {
    Ok(state.store.list_leads(account, query).await?)
}

/// Which of `leads` are opted out or suppressed, in one read.
pub async fn blocked_leads(
    state: &AppState,
    account: AccountId,
    leads: &[leadline_store::Lead],
) -> Result<std::collections::HashSet<leadline_domain::ids::LeadId>, AppError> {
    let phones: Vec<_> = leads.iter().map(|l| l.phone.clone()).collect();
    let states = state.store.compliance_states(account, &phones).await?;
    Ok(leads
        .iter()
        .filter(|l| {
            states
                .get(&l.phone)
                .is_some_and(|c| c.opted_out || c.suppressed)
        })
        .map(|l| l.id)
        .collect())
}

/// Whether the lead's number has opted out or is suppressed (messaging skips it).
pub async fn lead_blocked(
    state: &AppState,
    account: AccountId,
    phone: &leadline_domain::E164Phone,
) -> Result<bool, AppError> {
    let c = state.store.compliance_state(account, phone).await?;
    Ok(c.opted_out || c.suppressed)
}

/// Creates the lead for a phone number, or updates the existing one. Returns the lead and
/// whether it was created.
pub async fn create_lead(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    phone_raw: &str,
    fields: &LeadFields,
) -> Result<(leadline_store::Lead, bool), AppError> {
    crate::auth::require_role(role, Role::Agent)?;
    let phone = leadline_domain::E164Phone::parse(phone_raw);
    let checked = validate_lead(fields);
    let (phone, (input, stage)) = match (phone, checked) {
        (Ok(p), Ok(c)) => (p, c),
        (p, c) => {
            let mut errs = Vec::new();
            if let Err(e) = p {
                errs.push(FieldError {
                    field: "phone".into(),
                    message: if phone_raw.trim().is_empty() {
                        "is required".into()
                    } else {
                        e.to_string()
                    },
                });
            }
            if let Err(mut e) = c {
                errs.append(&mut e);
            }
            return Err(lead_validation(errs));
        }
    };
    let existed = state
        .store
        .find_lead_by_phone(account, &phone)
        .await?
        .is_some();
    let mut lead = state.store.upsert_lead(account, &phone, input).await?;
    if let Some(stage) = stage.filter(|s| *s != lead.stage) {
        lead = state
            .store
            .update_lead_fields(account, lead.id, Some(&stage), None)
            .await?;
    }
    let action = if existed {
        "lead.update"
    } else {
        "lead.create"
    };
    state
        .store
        .append_audit(audit(
            account,
            actor,
            action,
            serde_json::json!({"lead_id": lead.id.to_string()}),
        ))
        .await?;
    Ok((lead, !existed))
}

/// Edits a lead's details and stage (agent or above).
pub async fn update_lead(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    id: leadline_domain::ids::LeadId,
    fields: &LeadFields,
) -> Result<leadline_store::Lead, AppError> {
    // Another tenant's id is a 404 whatever the role.
    let lead = state.store.get_lead(account, id).await?;
    crate::auth::require_role(role, Role::Agent)?;
    let (input, stage) = validate_lead(fields).map_err(lead_validation)?;
    let mut lead = state.store.upsert_lead(account, &lead.phone, input).await?;
    if let Some(stage) = stage.filter(|s| *s != lead.stage) {
        lead = state
            .store
            .update_lead_fields(account, lead.id, Some(&stage), None)
            .await?;
    }
    state
        .store
        .append_audit(audit(
            account,
            actor,
            "lead.update",
            serde_json::json!({"lead_id": lead.id.to_string()}),
        ))
        .await?;
    Ok(lead)
}

/// Deletes a lead with its conversations and messages (admin or above). Compliance events
/// (consent, opt-outs) are kept: they belong to the number, not the lead record.
pub async fn delete_lead(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    id: leadline_domain::ids::LeadId,
) -> Result<(), AppError> {
    // Another tenant's id is a 404 whatever the role.
    let lead = state.store.get_lead(account, id).await?;
    crate::auth::require_role(role, Role::Admin)?;
    state.store.delete_lead(account, id).await?;
    state
        .store
        .append_audit(audit(
            account,
            actor,
            "lead.delete",
            serde_json::json!({"lead_id": id.to_string(), "phone_last4": lead.phone.last4()}),
        ))
        .await?;
    Ok(())
}

/// What a CSV column is imported as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportField {
    Phone,
    Name,
    Email,
    State,
    TimeZone,
    Tags,
    Consent,
    Ignore,
}

impl ImportField {
    pub const ALL: [ImportField; 8] = [
        Self::Phone,
        Self::Name,
        Self::Email,
        Self::State,
        Self::TimeZone,
        Self::Tags,
        Self::Consent,
        Self::Ignore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Name => "name",
            Self::Email => "email",
            Self::State => "state",
            Self::TimeZone => "time_zone",
            Self::Tags => "tags",
            Self::Consent => "consent",
            Self::Ignore => "ignore",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        Self::ALL.into_iter().find(|f| f.as_str() == raw)
    }

    /// A guess from a header name: "Mobile Phone" → phone, "E-mail" → email, "TZ" → time zone.
    pub fn guess(header: &str) -> Self {
        let h: String = header
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let has = |words: &[&str]| words.iter().any(|w| h.contains(w));
        if has(&["consent", "optin", "permission", "subscribed"]) {
            Self::Consent
        } else if has(&["phone", "mobile", "cell", "tel", "number", "msisdn", "sms"]) {
            Self::Phone
        } else if has(&["email", "mail"]) {
            Self::Email
        } else if has(&["timezone", "zone"]) || h == "tz" {
            Self::TimeZone
        } else if has(&["tag", "label", "segment"]) {
            Self::Tags
        } else if has(&["state", "province", "region"]) || h == "st" {
            Self::State
        } else if has(&["name", "contact", "customer"]) {
            Self::Name
        } else {
            Self::Ignore
        }
    }
}

/// The default mapping for a file's header row: each field is taken by its first matching
/// column only (a second "name" column is ignored rather than overwriting the first).
pub fn guess_mapping(headers: &[String]) -> Vec<ImportField> {
    let mut taken: Vec<ImportField> = Vec::new();
    headers
        .iter()
        .map(|h| {
            let f = ImportField::guess(h);
            if f != ImportField::Ignore && taken.contains(&f) {
                ImportField::Ignore
            } else {
                taken.push(f);
                f
            }
        })
        .collect()
}

pub const IMPORT_MAX_BYTES: usize = 16 * 1024 * 1024;
pub const IMPORT_MAX_ROWS: usize = 100_000;
/// How often (in rows) an import reports its progress.
pub const IMPORT_CHUNK: usize = 250;

/// One problem with one cell (or one row) of an import.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportRowError {
    /// The row as a spreadsheet numbers it: the header is row 1, the first lead row 2.
    pub row: u64,
    /// The header of the column at fault (empty when the whole row is at fault).
    pub column: String,
    pub value: String,
    pub error: String,
}

impl ImportRowError {
    /// "row 7: phone '12' is not a valid phone number: …"
    pub fn describe(&self) -> String {
        format!("row {}: {}", self.row, self.error)
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub file_name: String,
    /// Lead rows read (not counting the header).
    pub rows: u64,
    pub created: u64,
    /// Rows whose number was already a lead (in the account or earlier in the file): merged.
    pub updated: u64,
    /// Imported rows whose number is suppressed or opted out: kept, but never texted.
    pub suppressed: u64,
    /// Rows not imported; each has at least one entry in `errors`.
    pub failed: u64,
    /// ConsentGranted events recorded from the consent column.
    pub consents: u64,
    pub errors: Vec<ImportRowError>,
}

impl ImportReport {
    /// The per-row error report as CSV: row, column, value, error.
    pub fn errors_csv(&self) -> Result<Vec<u8>, AppError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["row", "column", "value", "error"])
            .map_err(AppError::internal)?;
        for e in &self.errors {
            w.write_record([&e.row.to_string(), &e.column, &e.value, &e.error])
                .map_err(AppError::internal)?;
        }
        w.into_inner().map_err(AppError::internal)
    }
}

fn csv_reader(data: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data.as_bytes())
}

/// Checks an uploaded file's size and row count and returns its header row and row count.
pub fn import_headers(data: &str) -> Result<(Vec<String>, u64), AppError> {
    if data.len() > IMPORT_MAX_BYTES {
        return Err(AppError::field(
            "file",
            "is larger than 16 MB; split it into smaller files",
        ));
    }
    let data = data.strip_prefix('\u{feff}').unwrap_or(data);
    let mut r = csv_reader(data);
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| AppError::field("file", format!("could not be read as CSV: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(AppError::field(
            "file",
            "is empty; the first row must name the columns (e.g. phone,name,email)",
        ));
    }
    let rows = r.records().count();
    if rows > IMPORT_MAX_ROWS {
        return Err(AppError::field(
            "file",
            format!("has {rows} rows; at most 100,000 can be imported at once, so split it"),
        ));
    }
    Ok((headers, rows as u64))
}

/// Checks a column mapping against the file's headers.
pub fn check_mapping(headers: &[String], mapping: &[ImportField]) -> Result<(), AppError> {
    if mapping.len() != headers.len() {
        return Err(AppError::field(
            "mapping",
            format!(
                "maps {} columns but the file has {}",
                mapping.len(),
                headers.len()
            ),
        ));
    }
    let phones = mapping.iter().filter(|f| **f == ImportField::Phone).count();
    if phones != 1 {
        return Err(AppError::field(
            "mapping",
            "must map exactly one column to phone",
        ));
    }
    for f in ImportField::ALL {
        if f != ImportField::Ignore && mapping.iter().filter(|m| **m == f).count() > 1 {
            return Err(AppError::field(
                "mapping",
                format!("maps more than one column to {}", f.as_str()),
            ));
        }
    }
    Ok(())
}

fn consent_value(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "y" => Some(true),
        "" | "no" | "false" | "0" | "n" => Some(false),
        _ => None,
    }
}

/// A file to import: its name (for consent records and the audit log), its text, and what each
/// column holds (`None`: guessed from the header row).
#[derive(Clone, Copy)]
pub struct ImportFile<'a> {
    pub name: &'a str,
    pub data: &'a str,
    pub mapping: Option<&'a [ImportField]>,
}

/// Imports leads from CSV text. Each row stands alone: a bad row is reported and skipped, never
/// aborting the file. Numbers already present (in the account, or earlier in the file) are
/// merged. Suppressed and opted-out numbers are imported but counted, and never get consent.
/// Each consent recorded carries the account's consent text in force (`details.disclosure`).
pub async fn import_leads(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    file: ImportFile<'_>,
    progress: Option<&(dyn Fn(&ImportReport) + Send + Sync)>,
) -> Result<ImportReport, AppError> {
    let ImportFile {
        name: file_name,
        data,
        mapping,
    } = file;
    use leadline_domain::E164Phone;
    use leadline_store::{ComplianceEventKind, NewComplianceEvent};
    use std::collections::HashSet;
    crate::auth::require_role(role, Role::Agent)?;
    let (headers, _) = import_headers(data)?;
    let mapping = match mapping {
        Some(m) => m.to_vec(),
        None => guess_mapping(&headers),
    };
    check_mapping(&headers, &mapping)?;
    let data = data.strip_prefix('\u{feff}').unwrap_or(data);
    let suppressed_list: HashSet<E164Phone> = state
        .store
        .suppression_list(account)
        .await?
        .into_iter()
        .collect();
    // Read once: every consent of the file records the disclosure in force when it started.
    let disclosure = crate::consent_text::current(state, account)
        .await?
        .map(|c| c.disclosure());
    let mut seen: HashSet<E164Phone> = HashSet::new();
    let mut report = ImportReport {
        file_name: file_name.to_owned(),
        ..Default::default()
    };
    let mut reader = csv_reader(data);
    for (i, record) in reader.records().enumerate() {
        let row = i as u64 + 2;
        if let Some(progress) = progress
            && i % IMPORT_CHUNK == 0
        {
            progress(&report);
        }
        report.rows += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.failed += 1;
                report.errors.push(ImportRowError {
                    row,
                    column: String::new(),
                    value: String::new(),
                    error: format!("could not be read: {e}"),
                });
                continue;
            }
        };
        let mut errors: Vec<ImportRowError> = Vec::new();
        let mut fields = LeadFields::default();
        let mut phone_raw = None;
        let mut consent = false;
        for (col, field) in mapping.iter().enumerate() {
            let value = record.get(col).unwrap_or("").to_owned();
            let column = headers[col].clone();
            match field {
                ImportField::Phone => phone_raw = Some((column, value)),
                ImportField::Name => fields.name = Some(value),
                ImportField::Email => fields.email = Some(value),
                ImportField::State => fields.state = Some(value),
                ImportField::TimeZone => fields.time_zone = Some(value),
                ImportField::Tags => fields.tags = Some(split_tags(&value)),
                ImportField::Consent => match consent_value(&value) {
                    Some(c) => consent = c,
                    None => errors.push(ImportRowError {
                        row,
                        error: format!(
                            "consent '{value}' is not yes/no (yes, true, 1 or y grant consent)"
                        ),
                        column,
                        value,
                    }),
                },
                ImportField::Ignore => {}
            }
        }
        let (column, value) = phone_raw.unwrap_or_default();
        let phone = if value.is_empty() {
            errors.push(ImportRowError {
                row,
                column,
                value,
                error: "phone is missing".into(),
            });
            None
        } else {
            match E164Phone::parse(&value) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(ImportRowError {
                        row,
                        column,
                        value,
                        error: format!("phone {e}"),
                    });
                    None
                }
            }
        };
        let checked = match validate_lead(&fields) {
            Ok(c) => Some(c),
            Err(fes) => {
                for fe in fes {
                    let col = mapping
                        .iter()
                        .position(|m| m.as_str() == fe.field)
                        .unwrap_or(0);
                    errors.push(ImportRowError {
                        row,
                        column: headers.get(col).cloned().unwrap_or_default(),
                        value: record.get(col).unwrap_or("").to_owned(),
                        error: format!("{} {}", fe.field.replace('_', " "), fe.message),
                    });
                }
                None
            }
        };
        let (Some(phone), Some((input, _)), true) = (phone, checked, errors.is_empty()) else {
            report.failed += 1;
            report.errors.append(&mut errors);
            continue;
        };
        let existed = if seen.contains(&phone) {
            true
        } else {
            state
                .store
                .find_lead_by_phone(account, &phone)
                .await?
                .is_some()
        };
        state.store.upsert_lead(account, &phone, input).await?;
        if existed {
            report.updated += 1;
        } else {
            report.created += 1;
        }
        let blocked =
            suppressed_list.contains(&phone) || lead_blocked(state, account, &phone).await?;
        if blocked {
            report.suppressed += 1;
        } else if consent {
            let mut details = serde_json::json!({"file": file_name, "row": row, "actor": actor});
            if let Some(d) = &disclosure {
                details["disclosure"] = d.clone();
            }
            state
                .store
                .append_compliance_event(NewComplianceEvent {
                    id: leadline_domain::ids::EventId::new(),
                    account_id: account,
                    phone: phone.clone(),
                    kind: ComplianceEventKind::ConsentGranted,
                    source: "import".into(),
                    details,
                    at: Timestamp::now(),
                })
                .await?;
            report.consents += 1;
        }
        seen.insert(phone);
    }
    state
        .store
        .append_audit(audit(
            account,
            actor,
            "lead.import",
            serde_json::json!({
                "file": file_name,
                "rows": report.rows,
                "created": report.created,
                "updated": report.updated,
                "suppressed": report.suppressed,
                "failed": report.failed,
            }),
        ))
        .await?;
    Ok(report)
}

// ---- compliance settings ----

/// The account's own quiet hours and explicit relaxations, as pages and the API show them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ComplianceSettingsView {
    /// The account's sending hours in the lead's local time, e.g. `mon-fri 09:00-18:00,sat 10:00-14:00`;
    /// `null` when the account has none (the legal windows still apply).
    pub quiet_hours: Option<String>,
    /// Legal rules the owner explicitly relaxed: `replies-ignore-legal-hours`, `replies-ignore-frequency-caps`.
    pub relaxations: Vec<String>,
    /// The legal rules that always apply unless relaxed, in words.
    pub legal_floor: Vec<String>,
    /// Every relaxation that exists, with what it does.
    pub available_relaxations: Vec<RelaxationInfo>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RelaxationInfo {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct ComplianceSettingsInput {
    /// Empty or null disables the account's own hours (the legal windows still apply).
    #[serde(default)]
    pub quiet_hours: Option<String>,
    #[serde(default)]
    pub relaxations: Vec<String>,
    /// Required from an owner when adding a relaxation: the words they accept, recorded in the
    /// audit log.
    #[serde(default)]
    pub acknowledgment: Option<String>,
}

const ALL_RELAXATIONS: [leadline_domain::compliance::Relaxation; 2] = [
    leadline_domain::compliance::Relaxation::RepliesIgnoreLegalHours,
    leadline_domain::compliance::Relaxation::RepliesIgnoreFrequencyCaps,
];

fn relaxation_name(r: leadline_domain::compliance::Relaxation) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub async fn compliance_settings(
    state: &AppState,
    account: AccountId,
) -> Result<ComplianceSettingsView, AppError> {
    let settings = state
        .engine
        .window_settings(account)
        .await
        .map_err(AppError::internal)?;
    Ok(ComplianceSettingsView {
        quiet_hours: settings.quiet_hours.as_ref().map(ToString::to_string),
        relaxations: settings.relaxations.iter().map(|r| relaxation_name(*r)).collect(),
        legal_floor: vec![
            "Federal: texts only 8:00–21:00 in the lead's local time (47 CFR 64.1200(c)(1)).".into(),
            "Stricter state rules where the lead may be: e.g. Florida, Oklahoma, Maryland 8:00–20:00 and at most 3 per 24 h; Texas 9:00–21:00 (Sundays from noon); Rhode Island, Utah, Alabama, Louisiana, Mississippi Sunday and holiday bans.".into(),
            "The lead's possible time zones come from the area code (all zones of split area codes) and any known address; unknown numbers get the intersection of every US zone.".into(),
            "Opt-outs and the do-not-contact list always block; only the single opt-out confirmation may follow a STOP.".into(),
        ],
        available_relaxations: ALL_RELAXATIONS.iter().map(|r| RelaxationInfo { name: relaxation_name(*r), description: r.describe().to_owned() }).collect(),
    })
}

pub async fn update_compliance_settings(
    state: &AppState,
    account: AccountId,
    actor_role: Role,
    actor: &str,
    input: &ComplianceSettingsInput,
) -> Result<ComplianceSettingsView, AppError> {
    use leadline_domain::compliance::{QuietHours, Relaxation, WindowSettings};
    crate::auth::require_role(actor_role, Role::Admin)?;
    let quiet_hours = match input
        .quiet_hours
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(raw) => Some(
            QuietHours::parse(raw).map_err(|e| AppError::field("quiet_hours", e.to_string()))?,
        ),
    };
    let mut relaxations = std::collections::BTreeSet::new();
    for name in &input.relaxations {
        let parsed: Relaxation = serde_json::from_value(serde_json::Value::String(name.trim().to_owned()))
            .map_err(|_| AppError::field("relaxations", format!("'{name}' is not a relaxation; expected replies-ignore-legal-hours or replies-ignore-frequency-caps")))?;
        relaxations.insert(parsed);
    }
    let current = state
        .engine
        .window_settings(account)
        .await
        .map_err(AppError::internal)?;
    let added: Vec<String> = relaxations
        .difference(&current.relaxations)
        .map(|r| relaxation_name(*r))
        .collect();
    let acknowledgment = input
        .acknowledgment
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if !added.is_empty() {
        // Relaxing a legal rule is the owner's call, made explicitly and on the record.
        crate::auth::require_role(actor_role, Role::Owner)?;
        if acknowledgment.is_none() {
            return Err(AppError::field(
                "acknowledgment",
                "confirm that you accept responsibility for relaxing a legal rule",
            ));
        }
    }
    let settings = WindowSettings {
        quiet_hours,
        relaxations,
    };
    let value = serde_json::to_value(&settings).map_err(AppError::internal)?;
    let details = serde_json::json!({
        "quiet_hours": settings.quiet_hours.as_ref().map(ToString::to_string),
        "relaxations": settings.relaxations.iter().map(|r| relaxation_name(*r)).collect::<Vec<_>>(),
        "relaxations_added": added,
        "acknowledgment": if added.is_empty() { None } else { acknowledgment },
    });
    state
        .store
        .put_setting(
            account,
            leadline_engine::COMPLIANCE_SETTINGS,
            value,
            audit(account, actor, "compliance.settings", details),
        )
        .await?;
    compliance_settings(state, account).await
}

// ---- suppression list (do-not-contact) ----

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct SuppressionInput {
    /// The number never to text, in any common US format or E.164.
    pub phone: String,
    /// Why, for the record (e.g. "asked by phone", "legal request").
    #[serde(default)]
    pub reason: Option<String>,
}

/// Adds (or, with `suppress = false`, removes) a number on the account's do-not-contact list.
/// Each change is an event, never an overwrite, so the history can be shown to a regulator.
pub async fn set_suppression(
    state: &AppState,
    account: AccountId,
    actor_role: Role,
    actor: &str,
    input: &SuppressionInput,
    suppress: bool,
) -> Result<leadline_domain::E164Phone, AppError> {
    use leadline_store::{ComplianceEventKind, NewComplianceEvent};
    // Adding protects people and any agent may do it; lifting it is an admin's decision.
    crate::auth::require_role(actor_role, if suppress { Role::Agent } else { Role::Admin })?;
    let phone = leadline_domain::E164Phone::parse(&input.phone)
        .map_err(|e| AppError::field("phone", e.to_string()))?;
    let currently = state
        .store
        .compliance_state(account, &phone)
        .await?
        .suppressed;
    if currently == suppress {
        return Ok(phone);
    }
    let kind = if suppress {
        ComplianceEventKind::Suppressed
    } else {
        ComplianceEventKind::Unsuppressed
    };
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(500).collect::<String>());
    state
        .store
        .append_compliance_event(NewComplianceEvent {
            id: leadline_domain::ids::EventId::new(),
            account_id: account,
            phone: phone.clone(),
            kind,
            source: if actor.starts_with("api_key:") {
                "api".into()
            } else {
                "agent".into()
            },
            details: serde_json::json!({ "actor": actor, "reason": reason }),
            at: Timestamp::now(),
        })
        .await?;
    let action = if suppress {
        "suppression.add"
    } else {
        "suppression.remove"
    };
    state
        .store
        .append_audit(audit(
            account,
            actor,
            action,
            serde_json::json!({ "phone": phone.as_str(), "reason": reason }),
        ))
        .await?;
    Ok(phone)
}
