//! Identifiers (`spec/statement.md` §8): how the id of a document, an
//! artist, a statement and a builder is made and what its text looks like.
//! Every place that computes or checks one of these calls this module.

use sha2::{Digest, Sha256};

/// An id that is not well formed; the message says what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(pub &'static str);

/// Defines an id held as 64 lowercase hex digits.
macro_rules! hex64_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, InvalidId> {
                if is_hex64(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidId(concat!($what, " is 64 lowercase hex digits")))
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

hex64_id!(
    /// The id of a document: the lowercase hex SHA-256 of its exact
    /// payload bytes (not a re-serialisation, not the canonical form).
    DocumentId,
    "a document id"
);
hex64_id!(
    /// The id of an artist: the document id of their registration.
    ArtistId,
    "an artist id"
);
hex64_id!(
    /// The id of a statement (a consent statement or a payout statement):
    /// its document id.
    StatementId,
    "a statement id"
);

impl DocumentId {
    /// The id of the document whose payload is `payload`.
    #[must_use]
    pub fn of(payload: &[u8]) -> Self {
        Self(hex::encode(document_digest(payload)))
    }
}

impl ArtistId {
    /// The id of the artist whose registration payload is `payload`.
    #[must_use]
    pub fn of_registration(payload: &[u8]) -> Self {
        Self(DocumentId::of(payload).0)
    }
}

impl StatementId {
    /// The id of the statement whose payload is `payload`.
    #[must_use]
    pub fn of(payload: &[u8]) -> Self {
        Self(DocumentId::of(payload).0)
    }
}

/// The id of a dataset builder: `b_` and 32 lowercase hex digits, random.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuilderId(String);

/// The prefix of a builder id.
const BUILDER_PREFIX: &str = "b_";

impl BuilderId {
    /// A new builder id from 16 random bytes.
    #[must_use]
    pub fn new(random: [u8; 16]) -> Self {
        Self(format!("{BUILDER_PREFIX}{}", hex::encode(random)))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for BuilderId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if is_builder_id(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId("a builder id is b_ and 32 lowercase hex digits"))
        }
    }
}

impl std::fmt::Display for BuilderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<BuilderId> for String {
    fn from(id: BuilderId) -> String {
        id.0
    }
}

/// [`DocumentId::of`] as text.
#[must_use]
pub fn document_id(payload: &[u8]) -> String {
    DocumentId::of(payload).into()
}

/// The 32 bytes of a document's id.
#[must_use]
pub fn document_digest(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

/// [`ArtistId::of_registration`] as text.
#[must_use]
pub fn artist_id(registration_payload: &[u8]) -> String {
    ArtistId::of_registration(registration_payload).into()
}

/// Whether `s` is 64 lowercase hex digits: the text of a document,
/// artist or statement id (and of a SHA-256 or BLAKE3 digest).
#[must_use]
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// [`BuilderId::new`] as text.
#[must_use]
pub fn builder_id(random: [u8; 16]) -> String {
    BuilderId::new(random).into()
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
        assert_eq!(
            "AB".parse::<ArtistId>().expect_err("not hex").to_string(),
            "an artist id is 64 lowercase hex digits"
        );
        let id: StatementId = document_id(b"x").parse().expect("hex64");
        assert_eq!(id, StatementId::of(b"x"));
        assert!(builder_id([1; 16]).parse::<BuilderId>().is_ok());
    }
}
