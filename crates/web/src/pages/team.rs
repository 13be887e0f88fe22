//! Team pages (members, roles, invitations) and API keys.

use super::{Chrome, FormState, NoticeQuery, PageResult, render, render_status};
use crate::auth::AccountCtx;
use crate::csrf::CsrfToken;
use crate::error::AppError;
use crate::mail::Delivery;
use crate::services::{self, ApiKeyInput, InviteInput};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use leadline_domain::{ApiKeyId, InvitationId, Role, UserId};
use leadline_store::{ApiKey, Invitation, InvitationState, Member};

fn day(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

pub struct MemberRow {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub joined: String,
    pub is_me: bool,
    /// The viewer may change this member's role or remove them.
    pub manageable: bool,
}

pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub expires: String,
}

/// Shown once, right after an invitation was created.
pub struct NewInvite {
    pub email: String,
    pub link: String,
    pub logged: bool,
}

#[derive(Template)]
#[template(path = "app/team.html")]
struct TeamPage {
    chrome: Chrome,
    members: Vec<MemberRow>,
    invitations: Vec<InvitationRow>,
    form: FormState,
    created: Option<NewInvite>,
    roles: Vec<&'static str>,
}

async fn team_view(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    notice: Option<&str>,
    form: FormState,
    created: Option<NewInvite>,
) -> Result<TeamPage, AppError> {
    let members: Vec<Member> = state.store.members_of_account(ctx.account.id).await?;
    let invitations: Vec<Invitation> = state.store.list_invitations(ctx.account.id).await?;
    let now = jiff::Timestamp::now();
    Ok(TeamPage {
        chrome: Chrome::new(ctx, csrf, "team", notice),
        members: members
            .into_iter()
            .map(|m| MemberRow {
                user_id: m.user_id.to_string(),
                is_me: m.user_id == ctx.user.id,
                manageable: ctx.role >= Role::Admin
                    && ctx.role.can_grant(m.role)
                    && m.user_id != ctx.user.id,
                name: m.name,
                email: m.email.to_string(),
                role: m.role,
                joined: day(m.joined_at),
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .filter(|i| i.state == InvitationState::Pending && i.expires_at > now)
            .map(|i| InvitationRow {
                id: i.id.to_string(),
                email: i.email.to_string(),
                role: i.role.to_string(),
                expires: day(i.expires_at),
            })
            .collect(),
        form,
        created,
        roles: Role::ALL
            .iter()
            .filter(|r| ctx.role.can_grant(**r))
            .map(|r| r.as_str())
            .collect(),
    })
}

pub async fn team_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let form = FormState::with_values([("role", "agent".to_owned())]);
    Ok(render(
        &team_view(&state, &ctx, &csrf, q.notice.as_deref(), form, None).await?,
    ))
}

pub async fn invite_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(input): Form<InviteInput>,
) -> PageResult {
    match services::invite(
        &state,
        &ctx.account,
        ctx.role,
        &ctx.actor(),
        ctx.user.id,
        &input,
    )
    .await
    {
        Ok(invited) => {
            let created = NewInvite {
                email: invited.invitation.email.to_string(),
                link: invited.link,
                logged: invited.delivery == Delivery::Logged,
            };
            let form = FormState::with_values([("role", "agent".to_owned())]);
            Ok(render(
                &team_view(&state, &ctx, &csrf, Some("invited"), form, Some(created)).await?,
            ))
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let form = FormState::with_values([
                ("email", input.email.clone()),
                ("role", input.role.clone()),
            ])
            .fail(&e);
            let page = team_view(&state, &ctx, &csrf, None, form, None).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

fn parse_user(id: &str) -> Result<UserId, AppError> {
    id.parse().map_err(|_| AppError::not_found())
}

#[derive(serde::Deserialize)]
pub struct RoleInput {
    role: String,
}

pub async fn role_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(user_id): Path<String>,
    Form(input): Form<RoleInput>,
) -> PageResult {
    let role = services::parse_role(&input.role)?;
    services::set_member_role(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        parse_user(&user_id)?,
        role,
    )
    .await?;
    Ok(Redirect::to("/app/team?notice=role_changed").into_response())
}

pub async fn remove_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(user_id): Path<String>,
) -> PageResult {
    services::remove_member(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        parse_user(&user_id)?,
    )
    .await?;
    Ok(Redirect::to("/app/team?notice=member_removed").into_response())
}

pub async fn revoke_invitation(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(id): Path<String>,
) -> PageResult {
    let id: InvitationId = id.parse().map_err(|_| AppError::not_found())?;
    services::revoke_invitation(&state, ctx.account.id, ctx.role, &ctx.actor(), id).await?;
    Ok(Redirect::to("/app/team?notice=invitation_revoked").into_response())
}

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "app/api_keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
    form: FormState,
    /// The full key, shown exactly once after creation.
    created: Option<String>,
    roles: Vec<&'static str>,
}

async fn keys_view(
    state: &AppState,
    ctx: &AccountCtx,
    csrf: &CsrfToken,
    notice: Option<&str>,
    form: FormState,
    created: Option<String>,
) -> Result<KeysPage, AppError> {
    let keys: Vec<ApiKey> = state.store.list_api_keys(ctx.account.id).await?;
    Ok(KeysPage {
        chrome: Chrome::new(ctx, csrf, "keys", notice),
        keys: keys
            .into_iter()
            .map(|k| KeyRow {
                id: k.id.to_string(),
                name: k.name,
                role: k.role.to_string(),
                prefix: k.prefix,
                created: day(k.created_at),
                last_used: k
                    .last_used_at
                    .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "never".into()),
                revoked: k.revoked_at.is_some(),
            })
            .collect(),
        form,
        created,
        roles: Role::ALL
            .iter()
            .filter(|r| ctx.role.can_grant(**r))
            .map(|r| r.as_str())
            .collect(),
    })
}

pub async fn keys_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let form = FormState::with_values([("role", "agent".to_owned())]);
    Ok(render(
        &keys_view(&state, &ctx, &csrf, q.notice.as_deref(), form, None).await?,
    ))
}

pub async fn key_create(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(input): Form<ApiKeyInput>,
) -> PageResult {
    match services::create_api_key(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        ctx.user.id,
        &input,
    )
    .await
    {
        Ok((_, secret)) => {
            let form = FormState::with_values([("role", "agent".to_owned())]);
            Ok(render(
                &keys_view(&state, &ctx, &csrf, None, form, Some(secret)).await?,
            ))
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let form = FormState::with_values([
                ("name", input.name.clone()),
                ("role", input.role.clone()),
            ])
            .fail(&e);
            let page = keys_view(&state, &ctx, &csrf, None, form, None).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn key_revoke(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Path(id): Path<String>,
) -> PageResult {
    let id: ApiKeyId = id.parse().map_err(|_| AppError::not_found())?;
    services::revoke_api_key(&state, ctx.account.id, ctx.role, &ctx.actor(), id).await?;
    Ok(Redirect::to("/app/api-keys?notice=key_revoked").into_response())
}
