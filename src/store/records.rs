//! What the store keeps and hands back: documents with their signatures,
//! the state changes they cause, keys, artists, builders, checkpoints.

use crate::crypto::PublicKey;
use crate::domain::payout::{PayoutLine, PayoutSummary};
use crate::domain::{ContentHash, Timestamp};
use crate::log::entry::{self, EntryKind, EntrySignature};

use super::{Result, StoreError};

/// What kind of signed document a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Artist,
    KeyEvent,
    Statement,
    /// A payout record, signed by the registry (`spec/payouts.md` §6).
    Payout,
}

impl DocumentKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Artist => "artist",
            DocumentKind::KeyEvent => "key-event",
            DocumentKind::Statement => "statement",
            DocumentKind::Payout => "payout",
        }
    }

    /// The log entry kind of such documents.
    #[must_use]
    pub const fn entry_kind(self) -> EntryKind {
        match self {
            DocumentKind::Artist => EntryKind::Artist,
            DocumentKind::KeyEvent => EntryKind::KeyEvent,
            DocumentKind::Statement => EntryKind::Statement,
            DocumentKind::Payout => EntryKind::Payout,
        }
    }

    /// # Errors
    /// On a kind this version does not know (a corrupted row).
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "artist" => Ok(DocumentKind::Artist),
            "key-event" => Ok(DocumentKind::KeyEvent),
            "statement" => Ok(DocumentKind::Statement),
            "payout" => Ok(DocumentKind::Payout),
            other => Err(StoreError::Corrupt(format!(
                "unknown document kind `{other}`"
            ))),
        }
    }
}

/// A signed document as accepted: the exact payload bytes and the signatures.
#[derive(Debug, Clone)]
pub struct Document {
    /// Lowercase hex SHA-256 of the payload bytes.
    pub id: String,
    pub kind: DocumentKind,
    pub artist_id: String,
    pub payload_type: String,
    pub payload: Vec<u8>,
    /// The envelope's signatures, verified before the document was
    /// accepted (stored as the JSON array of `{keyid, sig}` envelopes carry).
    pub signatures: Vec<EntrySignature>,
    pub received_at: Timestamp,
}

/// The `signatures` column of `documents`: a JSON array of `{keyid, sig}`,
/// key ids `ed25519:<hex>` and signatures in standard base64, as envelopes
/// carry them.
#[must_use]
pub fn signatures_column(signatures: &[EntrySignature]) -> String {
    use base64::Engine;
    let items: Vec<serde_json::Value> = signatures
        .iter()
        .map(|s| {
            serde_json::json!({
                "keyid": format!("ed25519:{}", hex::encode(s.key)),
                "sig": base64::engine::general_purpose::STANDARD.encode(s.sig),
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// Reads the `signatures` column of document `id`.
///
/// # Errors
/// `Corrupt` when the column is not what [`signatures_column`] writes.
pub fn parse_signatures_column(id: &str, column: &str) -> Result<Vec<EntrySignature>> {
    use base64::Engine;
    let corrupt = |what: &str| StoreError::Corrupt(format!("document {id}: {what}"));
    /// A stored signature, borrowed from the column.
    #[derive(serde::Deserialize)]
    struct Stored<'a> {
        keyid: &'a str,
        sig: &'a str,
    }
    let sigs: Vec<Stored<'_>> = serde_json::from_str(column).map_err(|_| corrupt("signatures"))?;
    let mut out = Vec::with_capacity(sigs.len());
    for s in &sigs {
        let mut key = [0u8; 32];
        let hex_key = s
            .keyid
            .strip_prefix("ed25519:")
            .ok_or_else(|| corrupt("key id"))?;
        hex::decode_to_slice(hex_key, &mut key).map_err(|_| corrupt("key id"))?;
        let sig: [u8; 64] = base64::engine::general_purpose::STANDARD
            .decode(s.sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("signature"))?;
        out.push(EntrySignature { key, sig });
    }
    Ok(out)
}

impl Document {
    /// The document's log entry (`spec/log.md` §2).
    ///
    /// # Errors
    /// When the stored signatures are not what the registry writes, or the
    /// entry does not fit in the log.
    pub fn log_entry(&self) -> Result<Vec<u8>> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("document {}: {what}", self.id));
        let kind = self.kind.entry_kind();
        let received_at =
            u64::try_from(self.received_at.unix_nanos()).map_err(|_| corrupt("receipt time"))?;
        entry::encode(
            kind,
            received_at,
            &self.payload_type,
            &self.signatures,
            &self.payload,
        )
        .map_err(|e| corrupt(&e.to_string()))
    }
}

/// A stored document with its position in acceptance order.
#[derive(Debug, Clone)]
pub struct StoredDocument {
    /// 0-based, contiguous acceptance order across all documents.
    pub seq: i64,
    pub doc: Document,
}

/// The state changes a document causes, written with it.
#[derive(Debug, Clone)]
pub enum Effect {
    /// A new artist whose id is the document id, with a first key.
    ArtistCreated {
        display_name: String,
        key: PublicKey,
    },
    /// A key joins the artist.
    KeyAdded { key: PublicKey },
    /// A key stops being valid from `effective_at`. Applies only if the key
    /// is not revoked yet or its revocation is later (brought forward);
    /// otherwise `Conflict("artist_keys_revoked_once")`.
    KeyRevoked {
        key: PublicKey,
        effective_at: Timestamp,
    },
    /// A statement about `works` issued at `issued_at`, signed by `key`.
    Statement {
        key: PublicKey,
        issued_at: Timestamp,
        works: Vec<ContentHash>,
    },
    /// A payout statement, whose log record the document is.
    Payout(Box<PayoutRow>),
}

/// A payout statement to store: its summary, the signed envelope's parts
/// and one line per artist.
#[derive(Debug, Clone)]
pub struct PayoutRow {
    pub summary: PayoutSummary,
    pub payload: Vec<u8>,
    /// JSON array of `{keyid, sig}`, as in envelopes.
    pub signatures: String,
    pub lines: Vec<PayoutLine>,
}

/// Listing pages, at most this long.
pub const MAX_PAGE: u32 = 1000;

/// One append: a document and its effects.
#[derive(Debug, Clone)]
pub struct Append {
    pub doc: Document,
    pub effects: Vec<Effect>,
}

/// A key as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: PublicKey,
    pub artist_id: String,
    pub added_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl KeyRecord {
    /// Whether the key may sign at `at`.
    #[must_use]
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.span().active_at(at)
    }

    /// When the key was added and revoked.
    #[must_use]
    pub fn span(&self) -> crate::domain::keys::KeySpan {
        crate::domain::keys::KeySpan {
            added_at: self.added_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// An artist and their keys.
#[derive(Debug, Clone)]
pub struct ArtistRecord {
    pub artist_id: String,
    pub display_name: String,
    pub registered_at: Timestamp,
    pub keys: Vec<KeyRecord>,
}

/// One statement about one work, as read for that work's history.
#[derive(Debug, Clone)]
pub struct WorkStatementRow {
    pub seq: i64,
    pub doc: Document,
    pub display_name: String,
    pub key: String,
    pub issued_at: Timestamp,
    pub key_revoked_at: Option<Timestamp>,
}

/// One statement by an artist about a work, with what decides whether it
/// still counts (its key and receipt time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtistClaim {
    pub work: ContentHash,
    pub key: String,
    pub issued_at: Timestamp,
    pub received_at: Timestamp,
}

/// A dataset builder registered by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderRecord {
    pub builder_id: String,
    pub name: String,
    pub key: PublicKey,
    pub created_at: Timestamp,
}

/// Row counts, for health checks and for tests asserting that a refused
/// request changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub documents: i64,
    pub artists: i64,
    pub keys: i64,
    pub revoked_keys: i64,
    pub statement_works: i64,
    pub builders: i64,
    pub log_entries: i64,
    pub checkpoints: i64,
    pub payout_statements: i64,
    pub payout_lines: i64,
}
