//! Check receipts (`spec/receipt.md`): what the registry signs for every
//! check, and the digests that bind the question and its answers.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::items::{Item, MatchKind, Matching};
use crate::crypto::{Envelope, PayloadType, PublicKey, SecretKey};
use crate::domain::fingerprint::{ISCC_IMAGE, MATCH_BITS};
use crate::domain::ids::{is_builder_id, is_hex64};
use crate::domain::{Category, ContentHash, Timestamp};
use crate::index::Status;
use crate::log::note::{open, Checkpoint, NoteVerifier};

/// The receipt payload's `version` for checks by hash alone.
pub const RECEIPT_VERSION: u32 = 1;
/// The `version` of receipts of near-matching checks (`spec/receipt.md` §4.3).
pub const RECEIPT_VERSION_NEAR: u32 = 2;

/// How many items of a near-matching check were matched each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchCounts {
    pub exact: u64,
    pub near: u64,
}

/// How many hashes got each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCounts {
    pub allowed: u64,
    pub disallowed: u64,
    pub unknown: u64,
}

impl StatusCounts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Allowed => self.allowed += 1,
            Status::Disallowed => self.disallowed += 1,
            Status::Unknown => self.unknown += 1,
        }
    }
}

/// The two digests of a check, computed as answers are produced (constant
/// memory, so streams of any length get one receipt).
///
/// * hashes: BLAKE3 of the 32-byte hashes, in request order;
/// * answers: BLAKE3 of one record per hash, in request order:
///   `hash (32) || status (1 byte: 'a', 'd' or 'u') || n (u32 big-endian)
///   || n statement ids (32 bytes each, ascending)`, the ids being the
///   SHA-256 of the current statements' payloads.
#[derive(Debug, Clone)]
pub struct AnswerDigests {
    hashes: blake3::Hasher,
    answers: blake3::Hasher,
    pub count: u64,
    pub counts: StatusCounts,
    pub matched: MatchCounts,
}

impl Default for AnswerDigests {
    fn default() -> Self {
        Self::new()
    }
}

impl AnswerDigests {
    #[must_use]
    pub fn new() -> Self {
        Self {
            hashes: blake3::Hasher::new(),
            answers: blake3::Hasher::new(),
            count: 0,
            counts: StatusCounts::default(),
            matched: MatchCounts::default(),
        }
    }

    /// Adds one answer of a near-matching check (`spec/receipt.md` §4.3);
    /// `statements` must be ascending.
    pub fn add_item(
        &mut self,
        item: &Item,
        kind: MatchKind,
        works: &[(ContentHash, u32)],
        status: Status,
        statements: &[[u8; 32]],
    ) {
        item_record(&mut self.hashes, item);
        self.answers.update(&[kind.code()]);
        self.answers
            .update(&[u8::try_from(works.len()).unwrap_or(u8::MAX)]);
        for (work, distance) in works {
            self.answers.update(work.as_bytes());
            self.answers
                .update(&[u8::try_from(*distance).unwrap_or(u8::MAX)]);
        }
        self.answers.update(&[status.code()]);
        let n = u32::try_from(statements.len()).unwrap_or(u32::MAX);
        self.answers.update(&n.to_be_bytes());
        for id in statements {
            self.answers.update(id);
        }
        self.count += 1;
        self.counts.add(status);
        match kind {
            MatchKind::Exact => self.matched.exact += 1,
            MatchKind::Near => self.matched.near += 1,
            MatchKind::None => {}
        }
    }

    /// Adds one answer; `statements` must be ascending.
    pub fn add(&mut self, hash: &ContentHash, status: Status, statements: &[[u8; 32]]) {
        self.hashes.update(hash.as_bytes());
        self.answers.update(hash.as_bytes());
        self.answers.update(&[status.code()]);
        let n = u32::try_from(statements.len()).unwrap_or(u32::MAX);
        self.answers.update(&n.to_be_bytes());
        for id in statements {
            self.answers.update(id);
        }
        self.count += 1;
        self.counts.add(status);
    }

    /// `(hashes digest, answers digest)`, lowercase hex.
    #[must_use]
    pub fn finish(&self) -> (String, String) {
        (
            self.hashes.finalize().to_hex().to_string(),
            self.answers.finalize().to_hex().to_string(),
        )
    }
}

/// Feeds an item's record of a near-matching check's `hashes` digest
/// (`spec/receipt.md` §4.3): a flag and the hash if any, then the codes'
/// bodies, each after its length.
fn item_record(digest: &mut blake3::Hasher, item: &Item) {
    match &item.hash {
        Some(h) => {
            digest.update(&[1]);
            digest.update(h.as_bytes());
        }
        None => {
            digest.update(&[0]);
        }
    }
    digest.update(&[u8::try_from(item.codes.len()).unwrap_or(u8::MAX)]);
    for code in &item.codes {
        let body = code.body();
        digest.update(&[u8::try_from(body.len()).unwrap_or(u8::MAX)]);
        digest.update(body);
    }
}

/// The checkpoint a check was answered against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptCheckpoint {
    pub size: u64,
    /// The tree root, base64.
    pub root: String,
    /// The signed checkpoint (C2SP signed note) of that size, verbatim.
    pub note: String,
}

/// A digest of the requested hash list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashesDigest {
    pub count: u64,
    pub blake3: String,
}

/// A digest of the answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswersDigest {
    pub blake3: String,
}

/// The signed statement of what a check asked and was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckReceipt {
    pub version: u32,
    /// The log's origin.
    pub log: String,
    /// The builder who asked.
    pub builder: String,
    pub purpose: Category,
    /// The instant the answers describe; absent: the checkpoint's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Timestamp>,
    /// When the registry answered.
    pub issued_at: Timestamp,
    pub checkpoint: ReceiptCheckpoint,
    pub hashes: HashesDigest,
    pub answers: AnswersDigest,
    pub counts: StatusCounts,
    /// Version 2: the matching rule the answers applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<Matching>,
    /// Version 2: how many items were matched each way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<MatchCounts>,
}

impl CheckReceipt {
    /// The receipt of a finished check.
    #[must_use]
    pub fn new(
        log: &str,
        builder: &str,
        purpose: Category,
        as_of: Option<Timestamp>,
        checkpoint: ReceiptCheckpoint,
        digests: &AnswerDigests,
        matching: Option<Matching>,
    ) -> Self {
        let (hashes, answers) = digests.finish();
        Self {
            version: if matching.is_some() {
                RECEIPT_VERSION_NEAR
            } else {
                RECEIPT_VERSION
            },
            log: log.to_owned(),
            builder: builder.to_owned(),
            purpose,
            as_of,
            issued_at: Timestamp::now(),
            checkpoint,
            hashes: HashesDigest {
                count: digests.count,
                blake3: hashes,
            },
            answers: AnswersDigest { blake3: answers },
            counts: digests.counts,
            matched: matching.as_ref().map(|_| digests.matched),
            matching,
        }
    }

    /// Signs the receipt as a DSSE envelope with the registry key.
    ///
    /// # Errors
    /// Only if the receipt cannot be serialised.
    pub fn sign(&self, key: &SecretKey) -> serde_json::Result<Envelope> {
        let payload = serde_json::to_vec(self)?;
        Ok(Envelope::sign(PayloadType::CheckReceipt, &payload, &[key]))
    }

    /// Verifies a receipt envelope offline: one signature by the log's key
    /// (strict Ed25519 over the PAE), a payload that parses, a checkpoint
    /// note signed by the same log whose size and root are the receipt's,
    /// and counts that add up.
    ///
    /// # Errors
    /// What is wrong, in words.
    pub fn verify(envelope: &Envelope, log: &NoteVerifier) -> Result<CheckReceipt, String> {
        let key: PublicKey = log.key;
        if envelope.signatures.len() != 1 {
            return Err("a receipt carries exactly one signature".into());
        }
        let verified = envelope
            .verify(PayloadType::CheckReceipt)
            .map_err(|e| format!("receipt signature: {e}"))?;
        if !verified.signed_by(&key) {
            return Err(format!("the receipt is not signed by the log's key {key}"));
        }
        let receipt: CheckReceipt = serde_json::from_slice(&verified.payload)
            .map_err(|e| format!("receipt payload: {e}"))?;
        let raw: serde_json::Value = serde_json::from_slice(&verified.payload)
            .map_err(|e| format!("receipt payload: {e}"))?;
        if raw.get("as_of").is_some_and(serde_json::Value::is_null) {
            return Err("receipt payload: `as_of` is absent or a timestamp, never null".into());
        }
        if !is_hex64(&receipt.hashes.blake3) || !is_hex64(&receipt.answers.blake3) {
            return Err("receipt payload: digests are 64 lowercase hex digits".into());
        }
        if !is_builder_id(&receipt.builder) {
            return Err("receipt payload: `builder` is b_ and 32 lowercase hex digits".into());
        }
        match (receipt.version, &receipt.matching, &receipt.matched) {
            (RECEIPT_VERSION, None, None) => {}
            (RECEIPT_VERSION_NEAR, Some(m), Some(counts)) => {
                if m.algorithm != ISCC_IMAGE || m.bits != MATCH_BITS {
                    return Err(format!(
                        "receipt payload: unsupported matching {} over {} bits",
                        m.algorithm, m.bits
                    ));
                }
                if counts.exact + counts.near > receipt.hashes.count {
                    return Err("the receipt's match counts exceed its item count".into());
                }
            }
            (RECEIPT_VERSION | RECEIPT_VERSION_NEAR, _, _) => {
                return Err(
                    "receipt payload: `matching` and `matched` are present exactly in version 2"
                        .into(),
                )
            }
            (v, _, _) => return Err(format!("unsupported receipt version {v}")),
        }
        if receipt.log != log.name {
            return Err(format!(
                "the receipt names log `{}`, the key is for `{}`",
                receipt.log, log.name
            ));
        }
        let body = open(&receipt.checkpoint.note, std::slice::from_ref(log))
            .map_err(|e| format!("receipt checkpoint: {e}"))?;
        let cp = Checkpoint::parse(body).map_err(|e| format!("receipt checkpoint: {e}"))?;
        if cp.origin != receipt.log
            || cp.size != receipt.checkpoint.size
            || STANDARD.encode(cp.root) != receipt.checkpoint.root
        {
            return Err(
                "the receipt's checkpoint size or root differs from its signed note".into(),
            );
        }
        let c = receipt.counts;
        if c.allowed + c.disallowed + c.unknown != receipt.hashes.count {
            return Err("the receipt's counts do not add up to its hash count".into());
        }
        Ok(receipt)
    }

    /// Whether `hashes`, in this order, are the hash list the receipt covers
    /// (its count and BLAKE3 digest).
    #[must_use]
    pub fn covers(&self, hashes: &[ContentHash]) -> bool {
        let mut d = blake3::Hasher::new();
        for h in hashes {
            d.update(h.as_bytes());
        }
        hashes.len() as u64 == self.hashes.count
            && d.finalize().to_hex().as_str() == self.hashes.blake3
    }

    /// Whether `items`, in this order, are what the receipt covers: for
    /// version 1, their hashes (§4.1; every item a hash alone); for a
    /// near-matching (version 2) receipt, their records (`spec/receipt.md`
    /// §4.3). Both by count and BLAKE3 digest.
    #[must_use]
    pub fn covers_items(&self, items: &[Item]) -> bool {
        if self.matching.is_none() {
            let hashes: Option<Vec<ContentHash>> = items
                .iter()
                .map(|i| i.is_hash_only().then_some(i.hash).flatten())
                .collect();
            return hashes.is_some_and(|h| self.covers(&h));
        }
        let mut d = blake3::Hasher::new();
        for item in items {
            item_record(&mut d, item);
        }
        items.len() as u64 == self.hashes.count
            && d.finalize().to_hex().as_str() == self.hashes.blake3
    }

    /// The checkpoint's root, decoded.
    ///
    /// # Errors
    /// When it is not 32 bytes of base64.
    pub fn root(&self) -> Result<[u8; 32], String> {
        STANDARD
            .decode(&self.checkpoint.root)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| "the receipt's root is not 32 bytes of base64".to_owned())
    }
}
