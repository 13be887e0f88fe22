//! Account pages: the overview, the business profile, password change, switching and creating
//! accounts, deleting an account, and the audit log.

use super::onboarding::{Checklist, Progress};
use super::{Chrome, FormState, NoticeQuery, PageError, PageResult, render, render_status};
use crate::auth::{AccountCtx, SignedIn, clear_session_cookie};
use crate::csrf::CsrfToken;
use crate::error::AppError;
use crate::services;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect};
use leadline_domain::account::ProfileInput;
use leadline_domain::{AccountId, BusinessProfile, Role};

#[derive(Template)]
#[template(path = "app/home.html")]
struct HomePage {
    chrome: Chrome,
    profile: BusinessProfile,
    members: usize,
    keys: usize,
    status: String,
    /// The onboarding checklist, shown until every step is done.
    checklist: Checklist,
}

pub async fn home(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let members = state.store.members_of_account(ctx.account.id).await?.len();
    let keys = state
        .store
        .list_api_keys(ctx.account.id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    let progress = Progress::load(&state, ctx.account.id, &ctx.account.profile).await?;
    Ok(render(&HomePage {
        checklist: Checklist::new(&progress),
        chrome: Chrome::new(&ctx, &csrf, "home", q.notice.as_deref()),
        profile: ctx.account.profile.clone(),
        members,
        keys,
        status: ctx.account.status.to_string(),
    }))
}

#[derive(Template)]
#[template(path = "app/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    form: FormState,
}

fn profile_form(input: &ProfileInput) -> FormState {
    FormState::with_values([
        ("business_name", input.business_name.clone()),
        ("agent_name", input.agent_name.clone()),
        ("phone", input.phone.clone()),
        ("website", input.website.clone()),
        ("industry", input.industry.clone()),
        ("description", input.description.clone()),
        ("products_services", input.products_services.clone()),
        ("unique_selling_points", input.unique_selling_points.clone()),
        ("license_numbers", input.license_numbers.clone()),
        ("licensed_states", input.licensed_states.clone()),
    ])
}

pub async fn profile_page(
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let form = profile_form(&ProfileInput::from(&ctx.account.profile));
    Ok(render(&ProfilePage {
        chrome: Chrome::new(&ctx, &csrf, "profile", q.notice.as_deref()),
        form,
    }))
}

pub async fn profile_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(input): Form<ProfileInput>,
) -> PageResult {
    ctx.require(Role::Admin)?;
    match services::update_profile(&state, ctx.account.id, &ctx.actor(), &input).await {
        Ok(_) => Ok(Redirect::to("/app/profile?notice=profile_saved").into_response()),
        Err(e) if e.status.is_client_error() => {
            let form = profile_form(&input).fail(&e);
            Ok(render_status(
                e.status,
                &ProfilePage {
                    chrome: Chrome::new(&ctx, &csrf, "profile", None),
                    form,
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "app/password.html")]
struct PasswordPage {
    chrome: Chrome,
    form: FormState,
    has_password: bool,
}

pub async fn password_page(
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let has_password = ctx.user.password_hash.is_some();
    Ok(render(&PasswordPage {
        chrome: Chrome::new(&ctx, &csrf, "password", q.notice.as_deref()),
        form: FormState::default(),
        has_password,
    }))
}

#[derive(serde::Deserialize)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Form(input): Form<PasswordChange>,
) -> PageResult {
    match services::change_password(
        &state,
        &ctx.user,
        ctx.session.id,
        &input.current_password,
        &input.new_password,
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/app/password?notice=password_changed").into_response()),
        Err(e) if e.status.is_client_error() => {
            let has_password = ctx.user.password_hash.is_some();
            let page = PasswordPage {
                chrome: Chrome::new(&ctx, &csrf, "password", None),
                form: FormState::default().fail(&e),
                has_password,
            };
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct SwitchInput {
    account_id: String,
}

pub async fn switch(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(input): Form<SwitchInput>,
) -> PageResult {
    let id: AccountId = input
        .account_id
        .parse()
        .map_err(|_| AppError::not_found())?;
    // Only accounts the user belongs to; anything else is simply not found.
    state.store.get_membership(id, signed_in.user.id).await?;
    state
        .store
        .set_session_account(signed_in.session.id, id)
        .await?;
    Ok(Redirect::to("/app?notice=switched").into_response())
}

#[derive(Template)]
#[template(path = "new_account.html")]
struct NewAccountPage {
    csrf: String,
    form: FormState,
    user_name: String,
}

pub async fn new_account_page(signed_in: SignedIn, csrf: axum::Extension<CsrfToken>) -> PageResult {
    Ok(render(&NewAccountPage {
        csrf: csrf.0.0,
        form: FormState::default(),
        user_name: signed_in.user.name,
    }))
}

#[derive(serde::Deserialize)]
pub struct NewAccountInput {
    business_name: String,
}

pub async fn new_account_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    csrf: axum::Extension<CsrfToken>,
    Form(input): Form<NewAccountInput>,
) -> PageResult {
    let profile = ProfileInput {
        business_name: input.business_name.clone(),
        agent_name: signed_in.user.name.clone(),
        ..Default::default()
    };
    let parsed = match profile.parse() {
        Ok(p) => p,
        Err(errs) => {
            let fields = errs
                .into_iter()
                .map(|e| crate::error::FieldError {
                    field: e.field.into(),
                    message: e.message,
                })
                .collect();
            let e = AppError::validation("Some fields need attention.", fields);
            let form = FormState::with_values([("business_name", input.business_name)]).fail(&e);
            return Ok(render_status(
                e.status,
                &NewAccountPage {
                    csrf: csrf.0.0,
                    form,
                    user_name: signed_in.user.name,
                },
            ));
        }
    };
    let account = state
        .store
        .create_account(signed_in.user.id, AccountId::new(), parsed)
        .await?;
    state
        .store
        .set_session_account(signed_in.session.id, account.id)
        .await?;
    // A new account starts on the guided setup, like a new sign-up.
    Ok(Redirect::to("/onboarding?notice=account_created").into_response())
}

#[derive(serde::Deserialize)]
pub struct DeleteInput {
    confirm: String,
}

pub async fn delete_account(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Form(input): Form<DeleteInput>,
) -> PageResult {
    ctx.require(Role::Owner)?;
    if input.confirm.trim() != ctx.account.profile.business_name {
        return Err(PageError(AppError::field(
            "confirm",
            "type the business name exactly to confirm",
        )));
    }
    state.store.delete_account(ctx.account.id).await?;
    let remaining = state.store.memberships_of_user(ctx.user.id).await?;
    match remaining.first() {
        Some(m) => {
            state
                .store
                .set_session_account(ctx.session.id, m.account_id)
                .await?;
            Ok(Redirect::to("/app?notice=switched").into_response())
        }
        None => {
            state.store.delete_session(ctx.session.id).await?;
            Ok((
                [(SET_COOKIE, clear_session_cookie(&state))],
                Redirect::to("/signup"),
            )
                .into_response())
        }
    }
}

pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "app/audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<AuditRow>,
    older: Option<i64>,
}

#[derive(serde::Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

pub const AUDIT_PAGE_SIZE: u32 = 50;

pub async fn audit_page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    ctx.require(Role::Admin)?;
    let entries = state
        .store
        .list_audit(ctx.account.id, q.before, AUDIT_PAGE_SIZE)
        .await?;
    let older = if entries.len() == AUDIT_PAGE_SIZE as usize {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    let rows = entries
        .into_iter()
        .map(|e| AuditRow {
            seq: e.seq,
            at: e.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: e.actor,
            action: e.action,
            details: e.details.to_string(),
        })
        .collect();
    Ok(render(&AuditPage {
        chrome: Chrome::new(&ctx, &csrf, "audit", None),
        rows,
        older,
    }))
}
