//! Maps sqlx errors onto `StoreError`: a missing row or a dangling reference is `NotFound`, a
//! unique violation is `Conflict` naming what already exists, an undecodable value is `Corrupt`,
//! and anything else is `Backend`.

use leadline_store::StoreError;

/// Unique constraints and what a violation means to a caller: (PostgreSQL constraint name,
/// columns as SQLite names them in "UNIQUE constraint failed: ...", conflict name).
const UNIQUE: &[(&str, &str, &str)] = &[
    ("users_email_key", "users.email", "email"),
    (
        "users_google_subject_key",
        "users.google_subject",
        "google account",
    ),
    (
        "invitations_one_pending",
        "invitations.account_id, invitations.email",
        "invitation",
    ),
    (
        "memberships_pkey",
        "memberships.account_id, memberships.user_id",
        "member",
    ),
    (
        "channels_webhook_token_key",
        "channels.webhook_token",
        "webhook token",
    ),
    ("channels_pkey", "channels.id", "channel"),
    (
        "leads_account_phone_key",
        "leads.account_id, leads.phone",
        "lead",
    ),
    ("leads_pkey", "leads.id", "lead"),
    ("conversations_pkey", "conversations.id", "conversation"),
    ("messages_pkey", "messages.id", "message"),
    ("jobs_pkey", "jobs.id", "job"),
    ("accounts_pkey", "accounts.id", "account"),
    ("users_pkey", "users.id", "user"),
    ("secrets_pkey", "secrets.id", "secret"),
    (
        "audit_log_pkey",
        "audit_log.account_id, audit_log.seq",
        "audit entry",
    ),
];

pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            // PostgreSQL names the constraint; SQLite lists the columns in its message.
            let detail = db.constraint().unwrap_or_else(|| {
                db.message()
                    .strip_prefix("UNIQUE constraint failed: ")
                    .unwrap_or(db.message())
            });
            StoreError::Conflict(conflict_name(detail).to_owned())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(err.to_string())
        }
        _ => StoreError::Backend(err.to_string()),
    }
}

fn conflict_name(detail: &str) -> &'static str {
    UNIQUE
        .iter()
        .find(|(pg, sqlite, _)| detail == *pg || detail == *sqlite)
        .map(|(_, _, what)| *what)
        .unwrap_or(if detail.contains("token_hash") {
            "token"
        } else {
            "record"
        })
}
