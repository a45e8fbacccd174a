//! What the registry answers for an accepted document, and the envelopes
//! of stored documents rebuilt for reading.

use serde::Serialize;

use crate::crypto::{Envelope, EnvelopeSignature, VerifiedEnvelope};
use crate::domain::Timestamp;
use crate::log::entry::EntrySignature;
use crate::store::{Document, StoreError, StoredDocument};

/// Whether a document was newly stored or had been stored before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AcceptStatus {
    Created,
    Duplicate,
}

/// The registry's answer for one accepted document.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub id: String,
    pub seq: i64,
    pub kind: &'static str,
    pub artist_id: String,
    pub received_at: Timestamp,
    pub status: AcceptStatus,
    /// For a document stored by this request: its C2SP `tlog-proof`
    /// receipt (entry in `extra`) against the checkpoint signed in the same
    /// transaction. `None` for duplicates (`GET /v1/log/receipts/{index}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

impl Accepted {
    pub(super) fn from_stored(s: &StoredDocument, status: AcceptStatus) -> Self {
        Accepted {
            id: s.doc.id.clone(),
            seq: s.seq,
            kind: s.doc.kind.as_str(),
            artist_id: s.doc.artist_id.clone(),
            received_at: s.doc.received_at,
            status,
            receipt: None,
        }
    }
}

/// The verified signatures of an envelope, as documents and log entries
/// hold them.
pub(crate) fn entry_signatures(v: &VerifiedEnvelope) -> Vec<EntrySignature> {
    v.signers
        .iter()
        .map(|(key, sig)| EntrySignature {
            key: key.to_bytes(),
            sig: *sig,
        })
        .collect()
}

/// Rebuilds the envelope of a stored document.
///
/// # Errors
/// When the stored signatures column is not the JSON the registry wrote.
pub fn stored_envelope(doc: &Document) -> Result<Envelope, StoreError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Envelope {
        payload_type: doc.payload_type.clone(),
        payload: b64.encode(&doc.payload),
        signatures: doc
            .signatures
            .iter()
            .map(|s| EnvelopeSignature {
                keyid: format!("ed25519:{}", hex::encode(s.key)),
                sig: b64.encode(s.sig),
            })
            .collect(),
    })
}

/// Rebuilds an envelope from stored parts: payload type, payload bytes and
/// the signatures column of `id`.
///
/// # Errors
/// When the signatures column is not the JSON the registry wrote.
pub fn envelope_from_parts(
    payload_type: &str,
    payload: &[u8],
    signatures: &str,
    id: &str,
) -> Result<Envelope, StoreError> {
    use base64::Engine;
    let signatures: Vec<EnvelopeSignature> = serde_json::from_str(signatures)
        .map_err(|e| StoreError::Corrupt(format!("signatures of {id}: {e}")))?;
    Ok(Envelope {
        payload_type: payload_type.to_owned(),
        payload: base64::engine::general_purpose::STANDARD.encode(payload),
        signatures,
    })
}
