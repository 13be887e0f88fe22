//! The compliance settings page: the account's own quiet hours (tighter than the law, at the
//! subscriber's discretion), the legal floor that applies regardless, and explicit, acknowledged
//! relaxations that only an owner can make.

use super::{Chrome, FormState, NoticeQuery, PageResult, render, render_status};
use crate::auth::AccountCtx;
use crate::csrf::CsrfToken;
use crate::services::{self, ComplianceSettingsInput, ComplianceSettingsView};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};

/// The words an owner accepts by ticking the box; recorded verbatim in the audit log.
pub const ACKNOWLEDGMENT: &str = "I am the account owner and I accept responsibility for relaxing these legal rules for replies in conversations the lead started.";

#[derive(Template)]
#[template(path = "app/compliance.html")]
struct CompliancePage {
    chrome: Chrome,
    view: ComplianceSettingsView,
    suppressed: Vec<String>,
    suppress_form: FormState,
    form: FormState,
    checked: Vec<String>,
    acknowledgment: &'static str,
}

impl CompliancePage {
    fn is_checked(&self, name: &str) -> bool {
        self.checked.iter().any(|c| c == name)
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let view = services::compliance_settings(&state, ctx.account.id).await?;
    let form =
        FormState::with_values([("quiet_hours", view.quiet_hours.clone().unwrap_or_default())]);
    let checked = view.relaxations.clone();
    let suppressed = suppressed(&state, &ctx).await?;
    Ok(render(&CompliancePage {
        chrome: Chrome::new(&ctx, &csrf, "compliance", q.notice.as_deref()),
        view,
        suppressed,
        suppress_form: FormState::default(),
        form,
        checked,
        acknowledgment: ACKNOWLEDGMENT,
    }))
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    body: axum::body::Bytes,
) -> PageResult {
    // Checkboxes repeat their name, which a struct form cannot hold; read the pairs.
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let input = ComplianceSettingsInput {
        quiet_hours: field("quiet_hours"),
        relaxations: pairs
            .iter()
            .filter(|(k, _)| k == "relaxation")
            .map(|(_, v)| v.clone())
            .collect(),
        acknowledgment: field("acknowledge").map(|_| ACKNOWLEDGMENT.to_owned()),
    };
    match services::update_compliance_settings(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        &input,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/app/compliance?notice=compliance_saved").into_response()),
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            let view = services::compliance_settings(&state, ctx.account.id).await?;
            let form = FormState::with_values([(
                "quiet_hours",
                input.quiet_hours.clone().unwrap_or_default(),
            )])
            .fail(&e);
            let suppressed = suppressed(&state, &ctx).await?;
            let page = CompliancePage {
                chrome: Chrome::new(&ctx, &csrf, "compliance", None),
                view,
                suppressed,
                suppress_form: FormState::default(),
                form,
                checked: input.relaxations,
                acknowledgment: ACKNOWLEDGMENT,
            };
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

async fn suppressed(state: &AppState, ctx: &AccountCtx) -> Result<Vec<String>, crate::AppError> {
    Ok(state
        .store
        .suppression_list(ctx.account.id)
        .await?
        .into_iter()
        .map(String::from)
        .collect())
}

/// Adds a number to the do-not-contact list (any agent), or lifts it (admins).
pub async fn suppression_submit(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    axum::Form(input): axum::Form<services::SuppressionInput>,
) -> PageResult {
    suppression_change(state, ctx, csrf, input, true).await
}

pub async fn suppression_remove(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    axum::Form(input): axum::Form<services::SuppressionInput>,
) -> PageResult {
    suppression_change(state, ctx, csrf, input, false).await
}

async fn suppression_change(
    state: AppState,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    input: services::SuppressionInput,
    suppress: bool,
) -> PageResult {
    match services::set_suppression(
        &state,
        ctx.account.id,
        ctx.role,
        &ctx.actor(),
        &input,
        suppress,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(if suppress {
            "/app/compliance?notice=suppressed"
        } else {
            "/app/compliance?notice=unsuppressed"
        })
        .into_response()),
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            let view = services::compliance_settings(&state, ctx.account.id).await?;
            let form = FormState::with_values([(
                "quiet_hours",
                view.quiet_hours.clone().unwrap_or_default(),
            )]);
            let checked = view.relaxations.clone();
            let suppress_form = FormState::with_values([
                ("phone", input.phone.clone()),
                ("reason", input.reason.clone().unwrap_or_default()),
            ])
            .fail(&e);
            let page = CompliancePage {
                chrome: Chrome::new(&ctx, &csrf, "compliance", None),
                view,
                suppressed: suppressed(&state, &ctx).await?,
                suppress_form,
                form,
                checked,
                acknowledgment: ACKNOWLEDGMENT,
            };
            Ok(render_status(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}
