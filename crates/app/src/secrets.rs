//! The secrets service: provider credentials sealed with AES-256-GCM under the master key ring.
//!
//! Each value gets a fresh random 96-bit nonce; the account id and the purpose are bound in as
//! associated data, so a ciphertext copied to another account or purpose fails to open. Values
//! leave this module only as `SecretString` (never `Display`ed) or masked to their last four
//! characters.

use crate::keyring::{KeyRing, MasterKey};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use jiff::Timestamp;
use leadline_domain::AccountId;
use leadline_domain::ids::SecretId;
use leadline_store::{NewAudit, SecretRow, Store, StoreError};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no such secret")]
    NotFound,
    #[error("the secret was sealed with master key {0}, which is not in the key ring")]
    UnknownKey(String),
    #[error("the secret could not be decrypted (wrong key or tampered data)")]
    Decrypt,
    #[error("a secret value must not be empty")]
    Empty,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SecretError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => SecretError::NotFound,
            other => SecretError::Store(other),
        }
    }
}

/// What pages and the API may show about a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MaskedSecret {
    pub purpose: String,
    /// e.g. `••••1234`
    pub masked: String,
    pub key_id: String,
    pub updated_at: Timestamp,
}

pub struct SecretsService {
    store: Arc<dyn Store>,
    ring: RwLock<KeyRing>,
}

impl std::fmt::Debug for SecretsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsService")
    }
}

fn aad(account: AccountId, purpose: &str) -> Vec<u8> {
    format!("leadline-secret|{account}|{purpose}").into_bytes()
}

fn seal(
    key: &MasterKey,
    account: AccountId,
    purpose: &str,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SecretError> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.bytes()));
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let aad = aad(account, purpose);
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| SecretError::Decrypt)?;
    Ok((nonce.to_vec(), ciphertext))
}

fn open(key: &MasterKey, row: &SecretRow) -> Result<SecretString, SecretError> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.bytes()));
    if row.nonce.len() != 12 {
        return Err(SecretError::Decrypt);
    }
    let aad = aad(row.account_id, &row.purpose);
    let plain = cipher
        .decrypt(
            Nonce::from_slice(&row.nonce),
            Payload {
                msg: &row.ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| SecretError::Decrypt)?;
    String::from_utf8(plain)
        .map(SecretString::from)
        .map_err(|_| SecretError::Decrypt)
}

fn last4(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    // Short values show nothing: four characters of a six-character token is most of it.
    if chars.len() < 12 {
        return String::new();
    }
    chars[chars.len() - 4..].iter().collect()
}

impl SecretsService {
    pub fn new(store: Arc<dyn Store>, ring: KeyRing) -> Self {
        Self {
            store,
            ring: RwLock::new(ring),
        }
    }

    /// Picks up a key file rotated by another process.
    fn refresh(&self) {
        let fresh = match self.ring.read() {
            Ok(ring) => ring.reload_if_changed(),
            Err(_) => None,
        };
        if let (Some(fresh), Ok(mut ring)) = (fresh, self.ring.write()) {
            tracing::info!(key_ids = ?fresh.key_ids(), "master key ring reloaded");
            *ring = fresh;
        }
    }

    fn with_ring<T>(&self, f: impl FnOnce(&KeyRing) -> T) -> T {
        match self.ring.read() {
            Ok(ring) => f(&ring),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    pub fn current_key_id(&self) -> String {
        self.refresh();
        self.with_ring(|r| r.current().id().to_owned())
    }

    /// Stores (or replaces) a secret and audits the change without its value.
    pub async fn put(
        &self,
        account: AccountId,
        purpose: &str,
        value: &SecretString,
        actor: &str,
    ) -> Result<MaskedSecret, SecretError> {
        let plain = value.expose_secret();
        if plain.trim().is_empty() {
            return Err(SecretError::Empty);
        }
        self.refresh();
        let (key_id, sealed) = self.with_ring(|ring| {
            let key = ring.current();
            (
                key.id().to_owned(),
                seal(key, account, purpose, plain.as_bytes()),
            )
        });
        let (nonce, ciphertext) = sealed?;
        let row = SecretRow {
            id: SecretId::new(),
            account_id: account,
            purpose: purpose.to_owned(),
            key_id: key_id.clone(),
            nonce,
            ciphertext,
            last4: last4(plain),
            updated_at: Timestamp::now(),
        };
        let masked = mask(&row);
        let audit = NewAudit {
            account_id: account,
            actor: actor.to_owned(),
            action: "secret.set".into(),
            details: serde_json::json!({ "purpose": purpose }),
        };
        self.store.put_secret(row, audit).await?;
        Ok(masked)
    }

    pub async fn reveal(
        &self,
        account: AccountId,
        purpose: &str,
    ) -> Result<SecretString, SecretError> {
        let row = self.store.get_secret(account, purpose).await?;
        self.open_row(&row)
    }

    fn open_row(&self, row: &SecretRow) -> Result<SecretString, SecretError> {
        let attempt = self.with_ring(|ring| ring.find(&row.key_id).map(|k| open(k, row)));
        match attempt {
            Some(result) => result,
            None => {
                // Another process may have rotated the key since this one loaded it.
                self.refresh();
                self.with_ring(|ring| match ring.find(&row.key_id) {
                    Some(k) => open(k, row),
                    None => Err(SecretError::UnknownKey(row.key_id.clone())),
                })
            }
        }
    }

    pub async fn list_masked(&self, account: AccountId) -> Result<Vec<MaskedSecret>, SecretError> {
        Ok(self
            .store
            .list_secrets(account)
            .await?
            .iter()
            .map(mask)
            .collect())
    }

    pub async fn delete(
        &self,
        account: AccountId,
        purpose: &str,
        actor: &str,
    ) -> Result<(), SecretError> {
        let audit = NewAudit {
            account_id: account,
            actor: actor.to_owned(),
            action: "secret.delete".into(),
            details: serde_json::json!({ "purpose": purpose }),
        };
        Ok(self.store.delete_secret(account, purpose, audit).await?)
    }

    /// Re-encrypts every secret not yet sealed by the current key. Safe to run while servers are
    /// serving: each row is replaced only if nobody rewrote it meanwhile. Returns how many rows
    /// were resealed.
    pub async fn reencrypt_all(&self) -> Result<usize, SecretError> {
        self.refresh();
        let current_id = self.with_ring(|r| r.current().id().to_owned());
        let mut done = 0;
        loop {
            let batch = self.store.secrets_not_under_key(&current_id, 100).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let mut progressed = false;
            for row in batch {
                let plain = self.open_row(&row)?;
                let sealed = self.with_ring(|ring| {
                    seal(
                        ring.current(),
                        row.account_id,
                        &row.purpose,
                        plain.expose_secret().as_bytes(),
                    )
                });
                let (nonce, ciphertext) = sealed?;
                let old_key = row.key_id.clone();
                let new_row = SecretRow {
                    key_id: current_id.clone(),
                    nonce,
                    ciphertext,
                    updated_at: Timestamp::now(),
                    ..row
                };
                if self.store.reseal_secret(&new_row, &old_key).await? {
                    done += 1;
                }
                progressed = true;
            }
            if !progressed {
                return Ok(done);
            }
        }
    }
}

fn mask(row: &SecretRow) -> MaskedSecret {
    MaskedSecret {
        purpose: row.purpose.clone(),
        masked: format!("••••{}", row.last4),
        key_id: row.key_id.clone(),
        updated_at: row.updated_at,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row_for(key: &MasterKey, account: AccountId, purpose: &str, value: &str) -> SecretRow {
        let (nonce, ciphertext) = seal(key, account, purpose, value.as_bytes()).unwrap();
        SecretRow {
            id: SecretId::new(),
            account_id: account,
            purpose: purpose.into(),
            key_id: key.id().into(),
            nonce,
            ciphertext,
            last4: last4(value),
            updated_at: Timestamp::now(),
        }
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let key = MasterKey::generate();
        let account = AccountId::new();
        let row = row_for(
            &key,
            account,
            "twilio.auth_token",
            "super-secret-token-1234",
        );
        assert!(!row.ciphertext.windows(4).any(|w| w == b"1234"));
        assert_eq!(
            open(&key, &row).unwrap().expose_secret(),
            "super-secret-token-1234"
        );
        // Moved to another account or purpose: refuses to open.
        let moved = SecretRow {
            account_id: AccountId::new(),
            ..row.clone()
        };
        assert!(matches!(open(&key, &moved), Err(SecretError::Decrypt)));
        let repurposed = SecretRow {
            purpose: "stripe.key".into(),
            ..row.clone()
        };
        assert!(matches!(open(&key, &repurposed), Err(SecretError::Decrypt)));
        // Wrong key.
        assert!(matches!(
            open(&MasterKey::generate(), &row),
            Err(SecretError::Decrypt)
        ));
        // Same value twice gives different ciphertexts (fresh nonce).
        let again = row_for(
            &key,
            account,
            "twilio.auth_token",
            "super-secret-token-1234",
        );
        assert_ne!(again.ciphertext, row.ciphertext);
    }

    #[test]
    fn masking() {
        assert_eq!(last4("super-secret-token-1234"), "1234");
        assert_eq!(last4("short"), "");
    }
}
