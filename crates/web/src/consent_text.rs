//! The account's consent text (the disclosure its lead forms show), shared by the Compliance page
//! and `/api/v1/compliance/consent-text`: reading the current version, saving a new one (owners
//! and admins; validated by [`ConsentText::parse`]; audited and versioned by the settings store),
//! and the `disclosure` object recorded with each consent.
//!
//! It is stored as the settings document [`CONSENT_TEXT_SETTING`], `{"text": "..."}`, so every
//! save is a new version and the older ones stay readable.

use crate::error::{AppError, FieldError};
use crate::state::AppState;
use jiff::Timestamp;
use leadline_domain::compliance::ConsentText;
use leadline_domain::compliance::consent_text::{self, ConsentTextWarning};
use leadline_domain::{AccountId, Role};
use leadline_store::{ComplianceEvent, ComplianceEventKind, NewAudit, VersionedPut};

/// The settings key the consent text is stored under.
pub const CONSENT_TEXT_SETTING: &str = "consent_text";

/// One stored version of the consent text.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConsentText {
    /// Exactly as stored: what was shown to leads, and what the hash is of.
    pub text: String,
    pub version: i64,
    /// The audit actor who saved it: `user:…` or `api_key:…`.
    pub actor: String,
    pub saved_at: Timestamp,
}

impl StoredConsentText {
    pub fn sha256(&self) -> String {
        consent_text::sha256_hex(&self.text)
    }

    /// What a consent record keeps of the disclosure: `{version, sha256, text}`.
    pub fn disclosure(&self) -> serde_json::Value {
        serde_json::json!({
            "version": self.version,
            "sha256": self.sha256(),
            "text": self.text,
        })
    }
}

/// The newest version, read with its own value so the text and the number always match.
pub async fn current(
    state: &AppState,
    account: AccountId,
) -> Result<Option<StoredConsentText>, AppError> {
    Ok(recent(state, account, 1).await?.into_iter().next())
}

/// The newest `limit` versions with their texts, newest first.
pub async fn recent(
    state: &AppState,
    account: AccountId,
    limit: u32,
) -> Result<Vec<StoredConsentText>, AppError> {
    let listed = state
        .store
        .setting_versions(account, CONSENT_TEXT_SETTING, limit)
        .await?;
    let mut found = Vec::with_capacity(listed.len());
    // Listings leave the values out; a few small reads keep the store's interface as it is.
    for v in listed {
        let stored = state
            .store
            .setting_version(account, CONSENT_TEXT_SETTING, v.version)
            .await?
            .ok_or_else(|| AppError::internal("a listed consent text version vanished"))?;
        let text = stored
            .value
            .as_ref()
            .and_then(|v| v["text"].as_str())
            .ok_or_else(|| AppError::internal("a stored consent text has no text"))?
            .to_owned();
        found.push(StoredConsentText {
            text,
            version: stored.version,
            actor: stored.actor,
            saved_at: stored.created_at,
        });
    }
    Ok(found)
}

/// The warnings of a text, as sentences, for an account called `business_name`.
pub fn warnings(text: &str, business_name: &str) -> Vec<String> {
    consent_text::warnings(text, business_name)
        .iter()
        .map(ConsentTextWarning::to_string)
        .collect()
}

/// The field validation errors are reported under, in the API and on the page.
pub const FIELD: &str = "text";

/// Validates `raw` and stores it as a new version; answers the version's number. Every failing
/// rule is one entry of the 422's `fields`. `expected`, when given, must be the current version
/// (0 when none was ever saved), else 409 and nothing is saved.
pub async fn save(
    state: &AppState,
    account: AccountId,
    role: Role,
    actor: &str,
    raw: &str,
    expected: Option<i64>,
) -> Result<i64, AppError> {
    crate::auth::require_role(role, Role::Admin)?;
    let text = ConsentText::parse(raw).map_err(|problems| {
        AppError::validation(
            "The consent text needs attention.",
            problems
                .iter()
                .map(|p| FieldError {
                    field: FIELD.to_owned(),
                    message: p.to_string(),
                })
                .collect(),
        )
    })?;
    let business = state
        .store
        .get_account(account)
        .await?
        .profile
        .business_name;
    let sha256 = consent_text::sha256_hex(text.as_str());
    let details = serde_json::json!({
        "sha256": sha256,
        "chars": text.as_str().chars().count(),
        "based_on": expected,
        "warnings": warnings(text.as_str(), &business),
    });
    let audit = NewAudit {
        account_id: account,
        actor: actor.to_owned(),
        action: "compliance.consent_text".into(),
        details,
    };
    let value = serde_json::json!({ "text": text.into_string() });
    // The version check is part of the store's write, so two editors cannot both win.
    match state
        .store
        .put_setting_if(account, CONSENT_TEXT_SETTING, value, audit, expected)
        .await?
    {
        VersionedPut::Saved(version) => Ok(version),
        VersionedPut::Stale { current } => Err(AppError::conflict(
            "stale_version",
            format!(
                "The consent text changed since version {} (it is now version {current}). Read it again and apply your change to it.",
                expected.unwrap_or(0)
            ),
        )),
    }
}

/// The first characters of a SHA-256, enough to tell versions apart at a glance.
pub fn short_sha(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// The disclosure a consent event recorded, read back to show it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedDisclosure {
    pub version: i64,
    pub sha256: String,
    pub text: String,
}

impl RecordedDisclosure {
    /// `None` for other events and for consents recorded while no consent text was set.
    pub fn of(event: &ComplianceEvent) -> Option<Self> {
        if event.kind != ComplianceEventKind::ConsentGranted {
            return None;
        }
        let d = &event.details["disclosure"];
        Some(Self {
            version: d["version"].as_i64()?,
            sha256: d["sha256"].as_str()?.to_owned(),
            text: d["text"].as_str()?.to_owned(),
        })
    }

    pub fn short_sha(&self) -> &str {
        short_sha(&self.sha256)
    }
}
