//! Who is calling: dashboard sessions (a random token in an `HttpOnly` cookie, only its hash in
//! the database) and API keys (`Authorization: Bearer ll_...`). The extractors here are the only
//! place a request's account comes from; every handler receives it explicitly.

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use leadline_app::tokens;
use leadline_domain::ids::SessionId;
use leadline_domain::{AccountId, AccountStatus, Role, UserId};
use leadline_store::{
    Account, ApiKey, MembershipWithAccount, NewSession, Session, StoreError, User,
};

pub const SESSION_COOKIE: &str = "ll_session";

/// Reads one cookie from the request headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the flags every leadline cookie carries.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// Starts a session for `user` and returns the `Set-Cookie` header value.
pub async fn start_session(
    state: &AppState,
    user: UserId,
    account: Option<AccountId>,
) -> Result<String, AppError> {
    let token = tokens::generate();
    let idle = state.config.session_idle;
    let expires_at = Timestamp::now()
        .checked_add(idle)
        .map_err(AppError::internal)?;
    state
        .store
        .create_session(NewSession {
            id: SessionId::new(),
            token_hash: tokens::hash(&token),
            user_id: user,
            account_id: account,
            expires_at,
        })
        .await?;
    Ok(set_cookie(state, SESSION_COOKIE, &token, idle.as_secs()))
}

/// Starts a session in the user's first account (the usual landing after any sign-in).
pub async fn start_session_in_first_account(
    state: &AppState,
    user: UserId,
) -> Result<String, AppError> {
    let first = state
        .store
        .memberships_of_user(user)
        .await?
        .first()
        .map(|m| m.account_id);
    start_session(state, user, first).await
}

pub fn clear_session_cookie(state: &AppState) -> String {
    set_cookie(state, SESSION_COOKIE, "", 0)
}

/// A signed-in user, with their live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: Session,
    pub user: User,
}

async fn load_session(parts: &Parts, state: &AppState) -> Result<Option<SignedIn>, AppError> {
    let Some(token) = cookie(parts, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let now = Timestamp::now();
    let Some(session) = state.store.find_session(&tokens::hash(token), now).await? else {
        return Ok(None);
    };
    let user = match state.store.get_user(session.user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // Slide the expiry, but write at most once a minute per session.
    if now.duration_since(session.last_seen_at).as_secs() >= 60 {
        let expires_at = now
            .checked_add(state.config.session_idle)
            .map_err(AppError::internal)?;
        state
            .store
            .touch_session(session.id, now, expires_at)
            .await?;
    }
    Ok(Some(SignedIn { session, user }))
}

/// How page extractors refuse: send the browser to sign in, or show an error.
pub enum PageRejection {
    SignIn(String),
    Error(AppError),
}

impl IntoResponse for PageRejection {
    fn into_response(self) -> Response {
        match self {
            PageRejection::SignIn(next) => {
                let to = format!("/signin?next={}", urlencoding::encode(&next));
                Redirect::to(&to).into_response()
            }
            PageRejection::Error(e) => crate::pages::error_page(e),
        }
    }
}

impl From<AppError> for PageRejection {
    fn from(e: AppError) -> Self {
        PageRejection::Error(e)
    }
}

fn wanted_path(parts: &Parts) -> String {
    // Only remember where a GET was going; after sign-in a POST cannot be replayed.
    if parts.method == axum::http::Method::GET {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/app".into())
    } else {
        "/app".into()
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match load_session(parts, state).await? {
            Some(s) => Ok(s),
            None => Err(PageRejection::SignIn(wanted_path(parts))),
        }
    }
}

impl OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = PageRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(load_session(parts, state).await?)
    }
}

/// A signed-in user working inside one account, with their role there.
#[derive(Debug, Clone)]
pub struct AccountCtx {
    pub session: Session,
    pub user: User,
    pub account: Account,
    pub role: Role,
    /// Every account the user belongs to, for the switcher.
    pub memberships: Vec<MembershipWithAccount>,
}

impl AccountCtx {
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.id)
    }

    /// Refuses unless the user's role is at least `min`.
    pub fn require(&self, min: Role) -> Result<(), AppError> {
        require_role(self.role, min)
    }
}

pub fn require_role(role: Role, min: Role) -> Result<(), AppError> {
    if role >= min {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "Your role ({role}) cannot do this; it needs {min} or above. Ask an owner or admin of this account."
        )))
    }
}

impl FromRequestParts<AppState> for AccountCtx {
    type Rejection = PageRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let SignedIn { session, user } =
            <SignedIn as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        let memberships = state
            .store
            .memberships_of_user(user.id)
            .await
            .map_err(AppError::from)?;
        // The session's account, if the user still belongs to it; otherwise their first account.
        let chosen = session
            .account_id
            .and_then(|id| memberships.iter().find(|m| m.account_id == id))
            .or_else(|| memberships.first())
            .cloned();
        let Some(m) = chosen else {
            return Err(PageRejection::Error(AppError::forbidden(
                "You do not belong to any account yet. Create one, or ask for an invitation.",
            )));
        };
        if session.account_id != Some(m.account_id) {
            state
                .store
                .set_session_account(session.id, m.account_id)
                .await
                .map_err(AppError::from)?;
        }
        let account = state
            .store
            .get_account(m.account_id)
            .await
            .map_err(AppError::from)?;
        Ok(AccountCtx {
            session,
            user,
            account,
            role: m.role,
            memberships,
        })
    }
}

/// A caller of `/api/v1`, authenticated by API key.
#[derive(Debug, Clone)]
pub struct ApiCtx {
    pub key: ApiKey,
}

impl ApiCtx {
    pub fn account_id(&self) -> AccountId {
        self.key.account_id
    }
    pub fn role(&self) -> Role {
        self.key.role
    }
    pub fn actor(&self) -> String {
        format!("api_key:{}", self.key.id)
    }
    pub fn require(&self, min: Role) -> Result<(), AppError> {
        require_role(self.key.role, min)
    }
}

impl FromRequestParts<AppState> for ApiCtx {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(token) = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Err(AppError::unauthorized(
                "Send an API key as 'Authorization: Bearer <key>'. Create one under Settings → API keys.",
            ));
        };
        let Some(key) = state.store.find_api_key(&tokens::hash(token)).await? else {
            return Err(AppError::unauthorized(
                "This API key is not valid or has been revoked.",
            ));
        };
        let account = state.store.get_account(key.account_id).await?;
        if matches!(
            account.status,
            AccountStatus::Suspended | AccountStatus::Terminated
        ) {
            return Err(AppError::new(
                axum::http::StatusCode::FORBIDDEN,
                "account_inactive",
                format!(
                    "This account is {}; the API is unavailable until it is reactivated.",
                    account.status
                ),
            ));
        }
        let now = Timestamp::now();
        let stale = key
            .last_used_at
            .is_none_or(|t| now.duration_since(t).as_secs() >= 60);
        if stale {
            state.store.touch_api_key(key.id, now).await?;
        }
        Ok(ApiCtx { key })
    }
}

/// The client's IP address: the socket peer, or the first `X-Forwarded-For` hop when the
/// operator says a trusted proxy sits in front.
pub fn client_ip(
    parts_headers: &axum::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trust_proxy: bool,
) -> String {
    let forwarded = parts_headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| trust_proxy && !v.is_empty());
    if let Some(first) = forwarded {
        return first.to_owned();
    }
    peer.map(|p| p.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
