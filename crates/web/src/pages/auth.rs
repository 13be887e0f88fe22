//! Public pages: sign up, sign in, sign out, password reset, and accepting an invitation.

use super::{FormState, PageResult, render, render_status};
use crate::auth::{
    SignedIn, clear_session_cookie, client_ip, start_session, start_session_in_first_account,
};
use crate::csrf::CsrfToken;
use crate::error::AppError;
use crate::mail::Delivery;
use crate::services::{self, SignupInput};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use leadline_app::tokens;
use std::net::SocketAddr;

fn redirect_with_cookie(to: &str, cookie: String) -> Response {
    ([(SET_COOKIE, cookie)], Redirect::to(to)).into_response()
}

/// Only same-site paths are accepted as a post-sign-in destination.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/app",
    }
}

pub async fn root(user: Option<SignedIn>) -> Redirect {
    if user.is_some() {
        Redirect::to("/app")
    } else {
        Redirect::to("/signin")
    }
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    csrf: String,
    form: FormState,
}

pub async fn signup_page(csrf: axum::Extension<CsrfToken>) -> Response {
    render(&SignupPage {
        csrf: csrf.0.0,
        form: FormState::default(),
    })
}

pub async fn signup_submit(
    State(state): State<AppState>,
    csrf: axum::Extension<CsrfToken>,
    Form(input): Form<SignupInput>,
) -> PageResult {
    match services::sign_up(&state, &input).await {
        Ok((user, account)) => {
            let cookie = start_session(&state, user.id, Some(account.id)).await?;
            // A new account starts on the guided setup; it can be left and resumed any time.
            Ok(redirect_with_cookie("/onboarding?notice=welcome", cookie))
        }
        Err(e) if e.status.is_client_error() => {
            let form = FormState::with_values([
                ("business_name", input.business_name.clone()),
                ("name", input.name.clone()),
                ("email", input.email.clone()),
            ])
            .fail(&e);
            Ok(render_status(
                e.status,
                &SignupPage {
                    csrf: csrf.0.0,
                    form,
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    csrf: String,
    form: FormState,
    next: String,
    google: bool,
}

#[derive(serde::Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn signin_page(
    State(state): State<AppState>,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NextQuery>,
) -> Response {
    render(&SigninPage {
        csrf: csrf.0.0,
        form: FormState::default(),
        next: safe_next(q.next.as_deref()).to_owned(),
        google: state.config.google.is_some(),
    })
}

#[derive(serde::Deserialize)]
pub struct SigninInput {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn signin_submit(
    State(state): State<AppState>,
    csrf: axum::Extension<CsrfToken>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(input): Form<SigninInput>,
) -> PageResult {
    let ip = client_ip(&headers, Some(peer), state.config.trust_proxy);
    let next = safe_next(input.next.as_deref()).to_owned();
    match services::sign_in(&state, &input.email, &input.password, &ip).await {
        Ok(user) => {
            let cookie = start_session_in_first_account(&state, user.id).await?;
            Ok(redirect_with_cookie(&next, cookie))
        }
        Err(e) if e.status.is_client_error() => {
            let form = FormState::with_values([("email", input.email.clone())]).fail(&e);
            Ok(render_status(
                e.status,
                &SigninPage {
                    csrf: csrf.0.0,
                    form,
                    next,
                    google: state.config.google.is_some(),
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn signout(State(state): State<AppState>, user: Option<SignedIn>) -> PageResult {
    if let Some(s) = user {
        state.store.delete_session(s.session.id).await?;
    }
    Ok(redirect_with_cookie(
        "/signin",
        clear_session_cookie(&state),
    ))
}

#[derive(Template)]
#[template(path = "reset_request.html")]
struct ResetRequestPage {
    csrf: String,
    form: FormState,
    /// Set after submitting: how the link went out.
    sent: Option<bool>,
}

pub async fn reset_request_page(csrf: axum::Extension<CsrfToken>) -> Response {
    render(&ResetRequestPage {
        csrf: csrf.0.0,
        form: FormState::default(),
        sent: None,
    })
}

#[derive(serde::Deserialize)]
pub struct EmailInput {
    email: String,
}

pub async fn reset_request_submit(
    State(state): State<AppState>,
    csrf: axum::Extension<CsrfToken>,
    Form(input): Form<EmailInput>,
) -> PageResult {
    match services::request_password_reset(&state, &input.email).await {
        Ok(delivery) => Ok(render(&ResetRequestPage {
            csrf: csrf.0.0,
            form: FormState::default(),
            sent: Some(delivery == Delivery::Sent),
        })),
        Err(e) if e.status.is_client_error() => {
            let form = FormState::with_values([("email", input.email.clone())]).fail(&e);
            Ok(render_status(
                e.status,
                &ResetRequestPage {
                    csrf: csrf.0.0,
                    form,
                    sent: None,
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    csrf: String,
    token: String,
    form: FormState,
}

pub async fn reset_page(csrf: axum::Extension<CsrfToken>, Path(token): Path<String>) -> Response {
    render(&ResetPage {
        csrf: csrf.0.0,
        token,
        form: FormState::default(),
    })
}

#[derive(serde::Deserialize)]
pub struct PasswordInput {
    password: String,
}

pub async fn reset_submit(
    State(state): State<AppState>,
    csrf: axum::Extension<CsrfToken>,
    Path(token): Path<String>,
    Form(input): Form<PasswordInput>,
) -> PageResult {
    match services::reset_password(&state, &token, &input.password).await {
        Ok(user) => {
            let cookie = start_session_in_first_account(&state, user.id).await?;
            Ok(redirect_with_cookie("/app?notice=password_reset", cookie))
        }
        Err(e) if e.status.is_client_error() => {
            let form = FormState::default().fail(&e);
            Ok(render_status(
                e.status,
                &ResetPage {
                    csrf: csrf.0.0,
                    token,
                    form,
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    csrf: String,
    token: String,
    business_name: String,
    email: String,
    role: String,
    /// The signed-in user's email, if any.
    signed_in_as: Option<String>,
    /// Whether the invited email already has a login.
    has_login: bool,
    form: FormState,
}

async fn invite_view(
    state: &AppState,
    token: &str,
    user: Option<&SignedIn>,
    csrf: String,
    form: FormState,
) -> Result<InvitePage, AppError> {
    let Some(inv) = state
        .store
        .find_invitation_by_token(&tokens::hash(token), Timestamp::now())
        .await?
    else {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "invitation_invalid",
            "This invitation has expired, was revoked, or was already used. Ask for a new one.",
        ));
    };
    let account = state.store.get_account(inv.account_id).await?;
    let has_login = state.store.find_user_by_email(&inv.email).await?.is_some();
    Ok(InvitePage {
        csrf,
        token: token.to_owned(),
        business_name: account.profile.business_name,
        email: inv.email.to_string(),
        role: inv.role.to_string(),
        signed_in_as: user.map(|u| u.user.email.to_string()),
        has_login,
        form,
    })
}

pub async fn invite_page(
    State(state): State<AppState>,
    csrf: axum::Extension<CsrfToken>,
    user: Option<SignedIn>,
    Path(token): Path<String>,
) -> PageResult {
    Ok(render(
        &invite_view(
            &state,
            &token,
            user.as_ref(),
            csrf.0.0,
            FormState::default(),
        )
        .await?,
    ))
}

#[derive(serde::Deserialize)]
pub struct InviteAcceptInput {
    name: Option<String>,
    password: Option<String>,
}

pub async fn invite_submit(
    State(state): State<AppState>,
    csrf: axum::Extension<CsrfToken>,
    user: Option<SignedIn>,
    Path(token): Path<String>,
    Form(input): Form<InviteAcceptInput>,
) -> PageResult {
    if let Some(signed_in) = &user {
        let inv = services::accept_invitation(&state, &token, &signed_in.user).await?;
        state
            .store
            .set_session_account(signed_in.session.id, inv.account_id)
            .await?;
        return Ok(Redirect::to("/app?notice=joined").into_response());
    }
    let name = input.name.unwrap_or_default();
    match services::sign_up_invited(&state, &token, &name, &input.password.unwrap_or_default())
        .await
    {
        Ok(new_user) => {
            let cookie = start_session_in_first_account(&state, new_user.id).await?;
            Ok(redirect_with_cookie("/app?notice=joined", cookie))
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            let form = FormState::with_values([("name", name)]).fail(&e);
            let page = invite_view(&state, &token, None, csrf.0.0, form).await?;
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}
