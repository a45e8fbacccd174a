//! Identifiers (`spec/statement.md` §8): how the id of a document, an
//! artist, a statement and a builder is made and what its text looks like.
//! Every place that computes or checks one of these calls this module.

use sha2::{Digest, Sha256};

/// The id of a document: the lowercase hex SHA-256 of its exact payload
/// bytes (not a re-serialisation, not the canonical form).
#[must_use]
pub fn document_id(payload: &[u8]) -> String {
    hex::encode(document_digest(payload))
}

/// The 32 bytes of a document's id.
#[must_use]
pub fn document_digest(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

/// The id of an artist: the document id of their registration.
#[must_use]
pub fn artist_id(registration_payload: &[u8]) -> String {
    document_id(registration_payload)
}

/// Whether `s` is 64 lowercase hex digits: the text of a document,
/// artist or statement id (and of a SHA-256 or BLAKE3 digest).
#[must_use]
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The prefix of a builder id.
const BUILDER_PREFIX: &str = "b_";

/// A new builder id: `b_` and 32 lowercase hex digits of `random`.
#[must_use]
pub fn builder_id(random: [u8; 16]) -> String {
    format!("{BUILDER_PREFIX}{}", hex::encode(random))
}

/// Whether `s` is a builder id: `b_` and 32 lowercase hex digits.
#[must_use]
pub fn is_builder_id(s: &str) -> bool {
    s.strip_prefix(BUILDER_PREFIX)
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_sha256_of_the_exact_bytes() {
        assert_eq!(
            document_id(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(artist_id(b"abc"), document_id(b"abc"));
        assert!(is_hex64(&document_id(b"")));
        assert!(!is_hex64(&document_id(b"").to_uppercase()));
        assert!(is_builder_id(&builder_id([7; 16])));
        assert!(!is_builder_id("b_07"));
    }
}
