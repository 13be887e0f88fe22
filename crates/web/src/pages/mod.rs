//! The dashboard: server-rendered pages (askama templates under `templates/`), plain HTML forms
//! that work without JavaScript. Every handler gets its caller from an extractor in `auth` and
//! does its work through `services`.

mod account;
mod admin;
pub(crate) mod analytics;
pub(crate) mod assistant;
mod auth;
mod compliance;
mod lead_panel;
mod leads;
mod messaging;
mod notifications;
mod onboarding;
mod team;

use crate::auth::AccountCtx;
use crate::csrf::CsrfToken;
use crate::error::AppError;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use leadline_domain::Role;
use std::collections::HashMap;

pub fn router(_state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(auth::root))
        .route("/signup", get(auth::signup_page).post(auth::signup_submit))
        .route("/signin", get(auth::signin_page).post(auth::signin_submit))
        .route("/signout", post(auth::signout))
        .route(
            "/reset",
            get(auth::reset_request_page).post(auth::reset_request_submit),
        )
        .route(
            "/reset/{token}",
            get(auth::reset_page).post(auth::reset_submit),
        )
        .route(
            "/invite/{token}",
            get(auth::invite_page).post(auth::invite_submit),
        )
        .route("/auth/google/start", get(crate::oidc::start))
        .route("/auth/google/callback", get(crate::oidc::callback))
        .route("/app", get(account::home))
        .route("/onboarding", get(onboarding::page))
        .route("/onboarding/profile", post(onboarding::profile_submit))
        .route("/onboarding/industry", post(onboarding::industry_submit))
        .route("/onboarding/sandbox", post(onboarding::sandbox_submit))
        .route(
            "/onboarding/quiet-hours",
            post(onboarding::quiet_hours_submit),
        )
        .route("/onboarding/simulator", post(onboarding::simulator_submit))
        .route("/onboarding/live", post(onboarding::live_submit))
        .route(
            "/app/profile",
            get(account::profile_page).post(account::profile_submit),
        )
        .route(
            "/app/password",
            get(account::password_page).post(account::password_submit),
        )
        .route("/app/switch", post(account::switch))
        .route(
            "/app/accounts/new",
            get(account::new_account_page).post(account::new_account_submit),
        )
        .route("/app/delete", post(account::delete_account))
        .route("/app/audit", get(account::audit_page))
        .route(
            "/app/compliance",
            get(compliance::page).post(compliance::submit),
        )
        .route(
            "/app/compliance/consent-text",
            post(compliance::consent_text_submit),
        )
        .route(
            "/app/compliance/suppressions",
            post(compliance::suppression_submit),
        )
        .route(
            "/app/compliance/suppressions/remove",
            post(compliance::suppression_remove),
        )
        .route(
            "/app/compliance/suppressions/bulk",
            post(compliance::suppression_bulk),
        )
        .route("/app/team", get(team::team_page))
        .route("/app/team/invite", post(team::invite_submit))
        .route("/app/team/{user_id}/role", post(team::role_submit))
        .route("/app/team/{user_id}/remove", post(team::remove_submit))
        .route(
            "/app/invitations/{id}/revoke",
            post(team::revoke_invitation),
        )
        .route("/app/api-keys", get(team::keys_page).post(team::key_create))
        .route("/app/api-keys/{id}/revoke", post(team::key_revoke))
        .route("/app/channels", get(messaging::channels_page))
        .route("/app/channels/twilio", post(messaging::twilio_submit))
        .route("/app/channels/linq", post(messaging::linq_submit))
        .route("/app/channels/blooio", post(messaging::blooio_submit))
        .route("/app/channels/{id}/test", post(messaging::test_send_submit))
        .route(
            "/app/channels/sandbox",
            post(messaging::sandbox_channel_create),
        )
        .route("/app/inbox", get(messaging::inbox_page))
        .route("/app/inbox/{id}", get(messaging::conversation_page))
        .route(
            "/app/inbox/{id}/messages",
            get(messaging::conversation_messages),
        )
        .route("/app/inbox/{id}/reply", post(messaging::reply_submit))
        .route("/app/inbox/{id}/takeover", post(messaging::takeover_submit))
        .route("/app/inbox/{id}/handback", post(messaging::handback_submit))
        .route("/app/sandbox", get(messaging::sandbox_page))
        .route("/app/sandbox/messages", get(messaging::sandbox_messages))
        .route("/app/sandbox/send", post(messaging::sandbox_send))
        .route("/app/sandbox/create", post(messaging::sandbox_create))
        .route("/app/analytics", get(analytics::page))
        .route("/app/analytics.csv", get(analytics::csv))
        .route("/app/leads", get(leads::leads_page))
        .route("/app/leads.csv", get(leads::leads_csv))
        .route("/app/leads/bulk", post(leads::bulk_submit))
        .route("/app/leads/bulk/delete", post(leads::bulk_delete))
        .route(
            "/app/leads/import",
            get(leads::import_page_get)
                .post(leads::import_upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::services::IMPORT_MAX_BYTES + 65_536,
                )),
        )
        .route(
            "/app/leads/import/{id}",
            get(leads::import_map_page).post(leads::import_run),
        )
        .route(
            "/app/leads/import/{id}/progress",
            get(leads::import_progress),
        )
        .route(
            "/app/leads/import/{id}/errors.csv",
            get(leads::import_errors_csv),
        )
        .route("/app/leads/{id}", get(leads::lead_page))
        .route("/app/leads/{id}/edit", post(leads::lead_edit))
        .route(
            "/app/leads/{id}/delete",
            get(leads::delete_page).post(leads::delete_submit),
        )
        .route(
            "/app/assistant",
            get(assistant::personality_page).post(assistant::personality_submit),
        )
        .route(
            "/app/assistant/strategy",
            get(assistant::strategy_page).post(assistant::strategy_submit),
        )
        .route(
            "/app/assistant/guardrails",
            get(assistant::guardrails_page).post(assistant::guardrails_submit),
        )
        .route(
            "/app/assistant/schema",
            get(assistant::schema_page).post(assistant::schema_submit),
        )
        .route(
            "/app/assistant/knowledge",
            get(assistant::knowledge_page).post(assistant::knowledge_submit),
        )
        .route(
            "/app/assistant/knowledge/documents",
            post(assistant::document_submit),
        )
        .route(
            "/app/assistant/knowledge/import",
            post(assistant::import_submit),
        )
        .route(
            "/app/assistant/knowledge/import/{id}",
            get(assistant::import_page),
        )
        .route(
            "/app/assistant/knowledge/import/{id}/progress",
            get(assistant::import_progress),
        )
        .route(
            "/app/assistant/model",
            get(assistant::model_page).post(assistant::model_submit),
        )
        .route(
            "/app/assistant/model/key/remove",
            post(assistant::model_key_remove),
        )
        .route("/app/assistant/versions", get(assistant::versions_page))
        .route(
            "/app/assistant/versions/{version}",
            get(assistant::version_page),
        )
        .route(
            "/app/assistant/versions/{version}/restore",
            post(assistant::version_restore),
        )
        .route("/app/settings/notifications", get(notifications::page))
        .route(
            "/app/settings/notifications/me",
            post(notifications::me_submit),
        )
        .route(
            "/app/settings/notifications/account",
            post(notifications::account_submit),
        )
        .route(
            "/app/settings/notifications/secret",
            post(notifications::secret_submit),
        )
        .route("/admin", get(admin::accounts_page))
}

/// A page handler's error: rendered as an HTML error page.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e)
    }
}

impl From<leadline_store::StoreError> for PageError {
    fn from(e: leadline_store::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

pub type PageResult = Result<Response, PageError>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    message: String,
}

pub fn error_page(e: AppError) -> Response {
    let title = e.status.canonical_reason().unwrap_or("Error").to_owned();
    let page = ErrorPage {
        status: e.status.as_u16(),
        title,
        message: e.message.clone(),
    };
    match page.render() {
        Ok(html) => (e.status, Html(html)).into_response(),
        Err(_) => (e.status, e.message).into_response(),
    }
}

pub fn render<T: Template>(t: &T) -> Response {
    render_status(StatusCode::OK, t)
}

pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => error_page(AppError::internal(e)),
    }
}

/// What a form shows: the values the user typed (kept on error) and a message per field.
#[derive(Debug, Default, Clone)]
pub struct FormState {
    pub values: HashMap<String, String>,
    pub errors: HashMap<String, String>,
    pub message: Option<String>,
}

impl FormState {
    pub fn with_values(values: impl IntoIterator<Item = (&'static str, String)>) -> Self {
        Self {
            values: values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ..Default::default()
        }
    }
    pub fn v(&self, name: &str) -> &str {
        self.values
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
    pub fn e(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }
    /// Copies an error's message and per-field messages into the form.
    pub fn fail(mut self, err: &AppError) -> Self {
        for f in &err.fields {
            self.errors.insert(f.field.clone(), f.message.clone());
        }
        self.message = Some(if err.fields.is_empty() {
            err.message.clone()
        } else {
            "Some fields need attention.".into()
        });
        self
    }
}

/// One entry of the account switcher.
#[derive(Debug, Clone)]
pub struct SwitchItem {
    pub id: String,
    pub name: String,
    pub current: bool,
}

/// What every signed-in page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub csrf: String,
    pub user_name: String,
    pub account_name: String,
    pub role: Role,
    pub accounts: Vec<SwitchItem>,
    pub nav: &'static str,
    pub notice: Option<&'static str>,
    pub platform_admin: bool,
    /// Set when the account is not active: past_due, suspended or terminated.
    pub inactive_status: Option<String>,
}

impl Chrome {
    pub fn new(
        ctx: &AccountCtx,
        csrf: &CsrfToken,
        nav: &'static str,
        notice: Option<&str>,
    ) -> Self {
        Self {
            csrf: csrf.0.clone(),
            user_name: ctx.user.name.clone(),
            account_name: ctx.account.profile.business_name.clone(),
            role: ctx.role,
            accounts: ctx
                .memberships
                .iter()
                .map(|m| SwitchItem {
                    id: m.account_id.to_string(),
                    name: m.business_name.clone(),
                    current: m.account_id == ctx.account.id,
                })
                .collect(),
            nav,
            notice: notice.and_then(notice_text),
            platform_admin: ctx.user.is_platform_admin,
            inactive_status: (ctx.account.status != leadline_domain::AccountStatus::Active)
                .then(|| ctx.account.status.to_string()),
        }
    }
    /// Admins and owners manage settings; agents and viewers see them read-only.
    pub fn can_manage(&self) -> bool {
        self.role >= Role::Admin
    }
    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }
}

/// Notices are looked up by code so a link cannot put arbitrary text on the page.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "welcome" => "Welcome to leadline! Your account is ready.",
        "signed_in" => "You are signed in.",
        "profile_saved" => "Business profile saved.",
        "compliance_saved" => "Compliance settings saved.",
        "consent_text_saved" => {
            "Consent text saved as a new version. Consents recorded from now on carry it."
        }
        "suppressed" => "Number added to the do-not-contact list.",
        "unsuppressed" => "Number removed from the do-not-contact list.",
        "password_changed" => "Password changed. Other browsers were signed out.",
        "invited" => "Invitation created.",
        "invitation_revoked" => "Invitation revoked.",
        "role_changed" => "Role changed.",
        "member_removed" => "Member removed.",
        "key_revoked" => "API key revoked.",
        "switched" => "Switched account.",
        "account_created" => "Account created.",
        "joined" => "You joined the account.",
        "password_reset" => "Your password was reset. You are signed in.",
        "channel_connected" => {
            "Channel connected. Paste its webhook URL into the provider's console."
        }
        "sandbox_created" => "Sandbox channel ready. Text it from the phone simulator.",
        "reply_queued" => "Reply queued. It goes out once the send gate allows it.",
        "taken_over" => "You took over this conversation. The assistant will not answer it.",
        "handed_back" => "Handed back. The assistant answers this conversation again.",
        "lead_saved" => "Lead saved.",
        "lead_deleted" => "Lead deleted, with its conversations.",
        "suppressed_many" => "The numbers were added to the do-not-contact list.",
        "test_sent" => "Test text sent. It should arrive in a few seconds.",
        "leads_tagged" => "Tag added to the selected leads.",
        "leads_deleted" => "The selected leads were deleted, with their conversations.",
        "none_selected" => "Select at least one lead first.",
        "tag_missing" => "Type the tag to add, then choose Add tag.",
        "industry_saved" => "Industry template saved. Your assistant asks its questions.",
        "simulator_sent" => "Text sent. The assistant answers in a few seconds.",
        "live" => "You are live. Your assistant answers leads on your connected numbers.",
        "assistant_saved" => "Assistant settings saved as a new version.",
        "assistant_restored" => "Version restored: it is saved as the newest version.",
        "assistant_key_removed" => "Model API key removed.",
        "notifications_saved" => "Notification settings saved.",
        "notification_prefs_saved" => "Your notification choice is saved.",
        _ => return None,
    })
}

#[derive(serde::Deserialize, Default)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}
