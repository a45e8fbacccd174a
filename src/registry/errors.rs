//! Why a request failed: a client's document refused ([`Rejection`], each
//! kind with its stable problem type) or the registry's own failure
//! ([`RegistryError`]).

use crate::crypto::EnvelopeError;
use crate::domain::keys::KeyRefusal;
use crate::domain::InvalidPayload;
use crate::store::StoreError;
use crate::transparency::TransparencyError;

/// What kind of client mistake a rejection is. Each has a stable problem type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    MalformedEnvelope,
    WrongPayloadType,
    BadBase64,
    InvalidKey,
    BadSignature,
    InvalidPayload,
    KeyMismatch,
    UnknownKey,
    RevokedKey,
    Forbidden,
    IssuedInFuture,
    StaleStatement,
    KeyInUse,
    AlreadyRevoked,
    UnknownArtist,
    TooManyItems,
    EmptyBatch,
    /// A run report that breaks a rule (`spec/payouts.md` §6).
    InvalidRun,
    /// A run report whose check receipt does not match it.
    ReceiptMismatch,
    /// The builder reported this run before.
    RunExists,
}

/// One refused document, with its position in the request when it came in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub detail: String,
    pub index: Option<usize>,
}

impl Rejection {
    pub(crate) fn new(kind: RejectionKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            index: None,
        }
    }

    pub(crate) fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
}

impl From<EnvelopeError> for Rejection {
    fn from(e: EnvelopeError) -> Self {
        let kind = match &e {
            EnvelopeError::PayloadType { .. } => RejectionKind::WrongPayloadType,
            EnvelopeError::Base64 { .. } => RejectionKind::BadBase64,
            EnvelopeError::SignatureCount(_) | EnvelopeError::DuplicateKey { .. } => {
                RejectionKind::MalformedEnvelope
            }
            EnvelopeError::SignatureLength { .. } | EnvelopeError::BadSignature { .. } => {
                RejectionKind::BadSignature
            }
            EnvelopeError::Key { .. } => RejectionKind::InvalidKey,
        };
        Rejection::new(kind, e.to_string())
    }
}

impl From<KeyRefusal> for Rejection {
    fn from(e: KeyRefusal) -> Self {
        let kind = match &e {
            KeyRefusal::SignerNotActive(_) => RejectionKind::Forbidden,
            KeyRefusal::NoProofOfPossession
            | KeyRefusal::NoAuthoriser
            | KeyRefusal::ReplacedDidNotSign => RejectionKind::BadSignature,
            KeyRefusal::KeyInUse(_) => RejectionKind::KeyInUse,
            KeyRefusal::NotTheArtists(_) => RejectionKind::UnknownKey,
            KeyRefusal::ReplacedNotActive(_) => RejectionKind::RevokedKey,
            KeyRefusal::BeforeAdded { .. } => RejectionKind::InvalidPayload,
            KeyRefusal::AlreadyRevoked { .. } => RejectionKind::AlreadyRevoked,
        };
        Rejection::new(kind, e.to_string())
    }
}

impl From<InvalidPayload> for Rejection {
    fn from(e: InvalidPayload) -> Self {
        Rejection::new(RejectionKind::InvalidPayload, e.0)
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The client's documents were refused; nothing was stored.
    #[error("{} document(s) refused", .0.len())]
    Rejected(Vec<Rejection>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Log(#[from] TransparencyError),
    #[error("internal task failed: {0}")]
    Internal(String),
    /// A check asked at a checkpoint this node's index has not reached.
    #[error("this node answers at checkpoints up to size {held}, not yet {asked}")]
    NotHeld { asked: u64, held: u64 },
    /// A check asked at a checkpoint size the log never signed.
    #[error("{0}")]
    NotFound(String),
}

impl From<Rejection> for RegistryError {
    fn from(r: Rejection) -> Self {
        RegistryError::Rejected(vec![r])
    }
}

impl RegistryError {
    /// True when storage refused a write for want of space
    /// ([`StoreError::is_storage_full`]).
    #[must_use]
    pub fn is_storage_full(&self) -> bool {
        match self {
            RegistryError::Store(e) | RegistryError::Log(TransparencyError::Store(e)) => {
                e.is_storage_full()
            }
            _ => false,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
