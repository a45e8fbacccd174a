//! The registry's transparency log as a service (`spec/log.md` is
//! normative; the formats are in [`crate::log`]):
//!
//! - [`write`]: grows the Merkle tree inside the write transaction that
//!   stores documents and signs a checkpoint before it commits;
//! - [`read`]: what the log serves — checkpoints, entries (checked against
//!   the tree), proofs, tiles and receipts ([`LogReader`]);
//! - [`startup`]: the check of the stored tree against the latest signed
//!   checkpoint when the registry starts ([`TreeCheck`]).

mod read;
mod startup;
mod write;

use crate::crypto::SecretKey;
use crate::log::note::NoteVerifier;
use crate::log::LogError;
use crate::store::StoreError;

pub use read::{InclusionProof, LogReader};
pub use startup::TreeCheck;
pub use write::{Growth, Sealed};

/// Entries read per query when the log is rebuilt or served in bulk.
const PAGE: u32 = 1000;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TransparencyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("log state is inconsistent: {0}")]
    Inconsistent(String),
}

impl From<LogError> for TransparencyError {
    fn from(e: LogError) -> Self {
        TransparencyError::Inconsistent(e.to_string())
    }
}

pub type Result<T, E = TransparencyError> = std::result::Result<T, E>;

/// The log's identity: its origin and the registry key that signs checkpoints.
pub struct TransparencyLog {
    pub(crate) origin: String,
    pub(crate) key: SecretKey,
    pub(crate) verifier: NoteVerifier,
    /// Whether served entries are checked against the stored tree
    /// ([`TransparencyLog::checked_entries`]); always, except in the
    /// auditor's tests, which need a registry that serves what it stores.
    pub(crate) check_served: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TransparencyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransparencyLog")
            .field("origin", &self.origin)
            .field("verifier", &self.verifier.to_text())
            .finish_non_exhaustive()
    }
}

impl TransparencyLog {
    /// A log named `origin` (a schema-less URL: no spaces, no `+`), signed by `key`.
    ///
    /// # Errors
    /// When the origin cannot be a signed-note key name.
    pub fn new(origin: &str, key: SecretKey) -> anyhow::Result<Self> {
        if origin.contains('\n') {
            anyhow::bail!("the log origin is one line");
        }
        let verifier = NoteVerifier::new(origin, key.public_key())
            .map_err(|e| anyhow::anyhow!("log origin `{origin}`: {e}"))?;
        Ok(Self {
            origin: origin.to_owned(),
            key,
            verifier,
            check_served: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Makes this log serve stored entries without checking them against
    /// the tree: a dishonest registry, for testing that auditors catch one.
    #[doc(hidden)]
    pub fn serve_unchecked(&self) {
        self.check_served
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The key that verifies checkpoints.
    #[must_use]
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The registry key, for the other documents it signs (check receipts).
    pub(crate) fn signing_key(&self) -> &SecretKey {
        &self.key
    }
}
