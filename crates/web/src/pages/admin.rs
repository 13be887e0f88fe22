//! The platform operator's page: every subscriber account.

use super::{PageResult, render};
use crate::auth::SignedIn;
use crate::error::AppError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;

pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    user_name: String,
    accounts: Vec<AccountRow>,
}

pub async fn accounts_page(State(state): State<AppState>, signed_in: SignedIn) -> PageResult {
    if !signed_in.user.is_platform_admin {
        // Not an admin page as far as others can tell.
        return Err(AppError::not_found().into());
    }
    let accounts = state
        .store
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| AccountRow {
            id: a.id.to_string(),
            name: a.profile.business_name,
            status: a.status.to_string(),
            created: a.created_at.strftime("%Y-%m-%d").to_string(),
        })
        .collect();
    Ok(render(&AdminPage {
        user_name: signed_in.user.name,
        accounts,
    }))
}
