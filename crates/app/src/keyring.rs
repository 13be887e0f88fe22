//! The master-key ring that seals provider credentials.
//!
//! Keys come from `LEADLINE_MASTER_KEY` (base64, several separated by commas, newest first), or
//! from a key file (one base64 key per line, newest first). If neither exists on first run, a key
//! is generated into the data directory with mode 0600. The newest key seals; every key in the
//! ring can open, which is what lets `leadline keys rotate` re-encrypt without downtime.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const KEY_FILE_NAME: &str = "master.key";

pub struct MasterKey {
    id: String,
    key: SecretBox<[u8; 32]>,
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        // The id identifies a key without revealing it: a truncated hash of a 256-bit random key.
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        Self {
            id,
            key: SecretBox::new(Box::new(bytes)),
        }
    }

    fn parse(encoded: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| KeyError::Invalid("a master key must be base64".into()))?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            KeyError::Invalid("a master key must be exactly 32 bytes (44 base64 characters)".into())
        })?;
        Ok(Self::from_bytes(array))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        self.key.expose_secret()
    }

    fn encode(&self) -> String {
        STANDARD.encode(self.key.expose_secret())
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, ***)", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key: {0}")]
    Invalid(String),
    #[error("master key file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

#[derive(Debug)]
pub struct KeyRing {
    /// Newest first; the first key seals.
    keys: Vec<MasterKey>,
    source: KeySource,
    modified: Option<std::time::SystemTime>,
}

/// What loading found, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    Loaded,
    /// A new key file was written; the operator must back it up.
    Generated(PathBuf),
}

impl KeyRing {
    /// Loads the ring: the environment value wins, then an explicit key file, then
    /// `<data_dir>/master.key`, generated if missing.
    pub fn load(
        env_value: Option<&str>,
        key_file: Option<&Path>,
        data_dir: &Path,
    ) -> Result<(Self, LoadOutcome), KeyError> {
        if let Some(value) = env_value.filter(|v| !v.trim().is_empty()) {
            let keys = value
                .split(',')
                .map(MasterKey::parse)
                .collect::<Result<Vec<_>, _>>()?;
            return Ok((
                Self {
                    keys,
                    source: KeySource::Env,
                    modified: None,
                },
                LoadOutcome::Loaded,
            ));
        }
        let path = key_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data_dir.join(KEY_FILE_NAME));
        if path.exists() {
            return Ok((Self::read_file(&path)?, LoadOutcome::Loaded));
        }
        if key_file.is_some() {
            return Err(KeyError::File {
                path,
                reason: "does not exist".into(),
            });
        }
        let key = MasterKey::generate();
        write_key_file(&path, std::slice::from_ref(&key))?;
        let ring = Self::read_file(&path)?;
        Ok((ring, LoadOutcome::Generated(path)))
    }

    /// A ring holding the given keys, newest first (tests, tools).
    pub fn from_keys(keys: Vec<MasterKey>) -> Self {
        Self {
            keys,
            source: KeySource::Env,
            modified: None,
        }
    }

    fn read_file(path: &Path) -> Result<Self, KeyError> {
        let err = |reason: String| KeyError::File {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(MasterKey::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if keys.is_empty() {
            return Err(err("holds no key".into()));
        }
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(Self {
            keys,
            source: KeySource::File(path.to_path_buf()),
            modified,
        })
    }

    pub fn current(&self) -> &MasterKey {
        // `load` and `read_file` never build an empty ring; `from_keys` callers pass one key.
        &self.keys[..1][0]
    }

    pub fn find(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Re-reads a file-backed ring if the file changed since it was read (another process
    /// rotated the key). Returns the fresh ring, or `None` if nothing changed.
    pub fn reload_if_changed(&self) -> Option<Self> {
        let KeySource::File(path) = &self.source else {
            return None;
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified == self.modified {
            return None;
        }
        Self::read_file(path).ok()
    }

    /// Adds a fresh key in front of a file-backed ring and writes the file atomically.
    pub fn rotate_file(&mut self) -> Result<&MasterKey, KeyError> {
        let KeySource::File(path) = self.source.clone() else {
            return Err(KeyError::Invalid(
                "the master key comes from LEADLINE_MASTER_KEY: put a new key (from `leadline keys generate`) first in that \
                 variable, keep the old one after a comma, restart, then run `leadline keys rotate` again"
                    .into(),
            ));
        };
        self.keys.insert(0, MasterKey::generate());
        write_key_file(&path, &self.keys)?;
        self.modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Ok(self.current())
    }

    /// A new random key, base64, for operators who keep keys in the environment.
    pub fn generate_encoded() -> String {
        MasterKey::generate().encode()
    }
}

fn write_key_file(path: &Path, keys: &[MasterKey]) -> Result<(), KeyError> {
    let err = |reason: String| KeyError::File {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let mut text = String::from(
        "# leadline master keys, newest first. Back this file up: without it, stored credentials cannot be read.\n",
    );
    for key in keys {
        text.push_str(&key.encode());
        text.push('\n');
    }
    let tmp = path.with_extension("key.tmp");
    write_private(&tmp, text.as_bytes()).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generates_private_file_then_loads_it() {
        let dir = tempfile::tempdir().unwrap();
        let (ring, outcome) = KeyRing::load(None, None, dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        assert_eq!(outcome, LoadOutcome::Generated(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let (again, outcome) = KeyRing::load(None, None, dir.path()).unwrap();
        assert_eq!(outcome, LoadOutcome::Loaded);
        assert_eq!(again.current().id(), ring.current().id());
    }

    #[test]
    fn env_wins_and_bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = KeyRing::generate_encoded();
        let b = KeyRing::generate_encoded();
        let (ring, _) = KeyRing::load(Some(&format!("{a},{b}")), None, dir.path()).unwrap();
        assert_eq!(ring.key_ids().len(), 2);
        assert!(!dir.path().join(KEY_FILE_NAME).exists());
        let e = KeyRing::load(Some("c2hvcnQ="), None, dir.path()).unwrap_err();
        assert!(e.to_string().contains("32 bytes"), "{e}");
    }

    #[test]
    fn rotation_keeps_old_keys_and_is_seen_by_readers() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, _) = KeyRing::load(None, None, dir.path()).unwrap();
        let old = writer.current().id().to_owned();
        let (reader, _) = KeyRing::load(None, None, dir.path()).unwrap();
        // Make sure the mtime moves even on coarse-grained filesystems.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let new = writer.rotate_file().unwrap().id().to_owned();
        assert_ne!(old, new);
        assert!(writer.find(&old).is_some());
        let fresh = reader.reload_if_changed().expect("file changed");
        assert_eq!(fresh.current().id(), new);
        assert!(fresh.find(&old).is_some());
    }
}
