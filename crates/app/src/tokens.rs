//! Opaque bearer tokens (session cookies, invitation and reset links, API keys). Only their
//! SHA-256 hashes are stored, so a database leak does not hand out live credentials.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// 32 random bytes, base64url without padding (43 characters).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// An API key: a recognisable prefix (so leaked keys can be found by secret scanners) followed by
/// a random token. Returns (full key, display prefix).
pub fn generate_api_key() -> (String, String) {
    let key = format!("ll_{}", generate());
    let prefix = key.chars().take(10).collect();
    (key, prefix)
}

/// Constant-time comparison for short secrets such as CSRF tokens.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = generate();
        assert_eq!(a.len(), 43);
        assert_ne!(a, generate());
        assert_eq!(hash(&a), hash(&a));
        let (key, prefix) = generate_api_key();
        assert!(key.starts_with("ll_") && key.starts_with(&prefix));
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
