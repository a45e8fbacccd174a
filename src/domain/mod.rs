//! The registry's vocabulary: content hashes, timestamps, consent categories,
//! terms and the signed documents' payloads. Nothing here knows about HTTP,
//! SQL or async runtimes.

pub mod acceptance;
pub mod canonical;
pub mod checkpoint;
pub mod claims;
pub mod consent;
pub mod documents;
pub mod fingerprint;
pub mod hash;
pub mod ids;
pub mod keys;
pub mod payout;
pub mod signals;
pub mod terms;
pub mod time;

pub use checkpoint::CheckpointRecord;
pub use consent::{Category, ConsentDeclaration, ConsentSet, Preference};
pub use documents::{ArtistRegistration, KeyAction, KeyEvent, Statement, Work};
pub use hash::ContentHash;
pub use terms::{Money, Term};
pub use time::Timestamp;

/// Why a payload was refused. The message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPayload(pub String);

impl InvalidPayload {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}
