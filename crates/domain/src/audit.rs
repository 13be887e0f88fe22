//! The audit log's hash chain. Each entry's hash covers the previous entry's hash and the entry's
//! own content, so changing or removing any row breaks every hash after it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that precedes the first entry of an account's chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry records. `details` must never contain secret values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditContent {
    pub account_id: String,
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub at_us: i64,
    /// The user or API key that acted, e.g. `user:<id>`, `api_key:<id>`, `system`.
    pub actor: String,
    /// A dotted action name such as `auth.sign_in` or `profile.update`.
    pub action: String,
    pub details: serde_json::Value,
}

/// The entry hash: SHA-256 over the previous hash and a canonical encoding of the content.
pub fn entry_hash(prev_hash: &str, content: &AuditContent) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    // serde_json writes struct fields in declaration order and object keys of `Value` sorted
    // (no `preserve_order` feature), so this encoding is canonical.
    h.update(serde_json::to_vec(content).unwrap_or_default());
    hex::encode(h.finalize())
}

/// A stored entry as the verifier sees it.
#[derive(Clone, Debug)]
pub struct ChainLink {
    pub content: AuditContent,
    pub prev_hash: String,
    pub hash: String,
}

/// Where a chain first breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: &'static str,
}

/// Checks an account's entries, given in sequence order. Returns the first broken entry.
pub fn verify_chain(links: &[ChainLink]) -> Result<(), ChainBreak> {
    let mut expected_prev = GENESIS.to_owned();
    for (expected_seq, link) in (1..).zip(links) {
        let seq = link.content.seq;
        if seq != expected_seq {
            return Err(ChainBreak {
                seq,
                reason: "sequence gap: an entry is missing",
            });
        }
        if link.prev_hash != expected_prev {
            return Err(ChainBreak {
                seq,
                reason: "previous-hash does not match the entry before",
            });
        }
        if entry_hash(&link.prev_hash, &link.content) != link.hash {
            return Err(ChainBreak {
                seq,
                reason: "content does not match its hash",
            });
        }
        expected_prev = link.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainLink> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let content = AuditContent {
                    account_id: "a".into(),
                    seq,
                    at_us: seq * 1000,
                    actor: "system".into(),
                    action: "test".into(),
                    details: serde_json::json!({"n": seq}),
                };
                let hash = entry_hash(&prev, &content);
                let link = ChainLink {
                    content,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                link
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(()));
    }

    #[test]
    fn tampering_names_the_first_broken_entry() {
        let mut c = chain(5);
        c[2].content.details = serde_json::json!({"n": 99});
        assert_eq!(verify_chain(&c).map_err(|b| b.seq), Err(3));
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify_chain(&c).map_err(|b| b.seq), Err(3));
    }
}
