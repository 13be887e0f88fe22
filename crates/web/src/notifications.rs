//! Notification settings as a service, for the dashboard page and the API alike: the account's
//! quiet period and webhook URL (validated), and its webhook signing secret (generated, shown
//! once, stored encrypted).

use crate::error::{AppError, FieldError};
use crate::state::AppState;
use leadline_domain::{AccountId, Role};
use leadline_engine::notify::{self, WEBHOOK_SECRET_PURPOSE};
use leadline_engine::summaries::{self, NOTIFICATION_SETTINGS, NotificationSettings};
use leadline_store::NewAudit;
use secrecy::ExposeSecret;

/// The stored signing secret, masked (`••••1234`), if there is one.
pub async fn masked_secret(
    state: &AppState,
    account: AccountId,
) -> Result<Option<String>, AppError> {
    Ok(state
        .secrets
        .list_masked(account)
        .await
        .map_err(AppError::internal)?
        .into_iter()
        .find(|s| s.purpose == WEBHOOK_SECRET_PURPOSE)
        .map(|s| s.masked))
}

/// Checks and stores the account's settings; a webhook URL without a signing secret gets one,
/// which is returned to be shown once.
pub async fn save_settings(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    quiet_minutes: &str,
    webhook_url: &str,
) -> Result<Option<String>, AppError> {
    crate::auth::require_role(role, Role::Admin)?;
    let quiet = NotificationSettings::parse_quiet_minutes(quiet_minutes);
    let url = webhook_url.trim();
    let checked = if url.is_empty() {
        Ok(None)
    } else {
        notify::validate_webhook_url(url, state.config.allow_http_loopback_webhooks)
            .map(|u| Some(u.to_string()))
    };
    let mut fields = Vec::new();
    if let Err(m) = &quiet {
        fields.push(FieldError {
            field: "quiet_minutes".into(),
            message: m.clone(),
        });
    }
    if let Err(m) = &checked {
        fields.push(FieldError {
            field: "webhook_url".into(),
            message: m.clone(),
        });
    }
    if !fields.is_empty() {
        return Err(AppError::validation(
            "Some notification settings need attention.",
            fields,
        ));
    }
    let settings = NotificationSettings {
        quiet_minutes: quiet.unwrap_or(summaries::DEFAULT_QUIET_MINUTES),
        webhook_url: checked.unwrap_or(None),
    };
    let value = serde_json::to_value(&settings).map_err(AppError::internal)?;
    state
        .store
        .put_setting(
            account,
            NOTIFICATION_SETTINGS,
            value,
            NewAudit {
                account_id: account,
                actor: actor.to_owned(),
                action: "notifications.settings".into(),
                details: serde_json::json!({
                    "quiet_minutes": settings.quiet_minutes,
                    "webhook": settings.webhook_url.is_some(),
                }),
            },
        )
        .await?;
    let has_secret = state
        .secrets
        .reveal(account, WEBHOOK_SECRET_PURPOSE)
        .await
        .is_ok();
    if settings.webhook_url.is_some() && !has_secret {
        return rotate_secret(state, account, role, actor).await.map(Some);
    }
    Ok(None)
}

/// Generates (or replaces) the account's webhook signing secret; returns it to be shown once.
pub async fn rotate_secret(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
) -> Result<String, AppError> {
    crate::auth::require_role(role, Role::Admin)?;
    let secret = notify::new_webhook_secret();
    state
        .secrets
        .put(account, WEBHOOK_SECRET_PURPOSE, &secret, actor)
        .await
        .map_err(AppError::internal)?;
    Ok(secret.expose_secret().to_owned())
}
