//! The registry's use cases: accept signed documents, answer questions about
//! works and artists. Rules come from [`crate::domain`], durability from
//! [`crate::store`]; this module checks documents against the registry's
//! state and serialises writes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::check::index::{self as consent_index, ConsentIndex, Parsed, View};
use crate::crypto::{
    Envelope, EnvelopeError, EnvelopeSignature, KeyError, PayloadType, PublicKey, VerifiedEnvelope,
};
use crate::domain::claims::{resolve, Claim};
use crate::domain::documents::ValidStatement;
use crate::domain::{
    ArtistRegistration, ConsentSet, ContentHash, InvalidPayload, KeyAction, KeyEvent, Statement,
    Timestamp,
};
use crate::store::{
    Append, AppendTx, ArtistRecord, BuilderRecord, CheckpointRecord, Document, DocumentKind,
    Effect, KeyRecord, Store, StoreError, StoredDocument,
};
use crate::transparency::{Growth, TransparencyError, TransparencyLog, TreeCheck};

/// Statements per request, at most.
pub const MAX_STATEMENTS_PER_REQUEST: usize = 10_000;
/// Works per request (summed over its statements), at most.
pub const MAX_WORKS_PER_REQUEST: usize = 100_000;
/// How far in the future an `issued_at` may be, for clock skew.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// Rejections listed in one error response, at most.
const MAX_LISTED_REJECTIONS: usize = 100;

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
    fn new(kind: RejectionKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            index: None,
        }
    }

    fn at(mut self, index: usize) -> Self {
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
    fn from_stored(s: &StoredDocument, status: AcceptStatus) -> Self {
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

/// Lowercase hex SHA-256 of a payload: the id of the document that carries it.
#[must_use]
pub fn document_id(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

fn signatures_json(v: &VerifiedEnvelope) -> String {
    serde_json::to_string(&v.signatures()).unwrap_or_else(|_| "[]".to_owned())
}

/// Rebuilds the envelope of a stored document.
///
/// # Errors
/// When the stored signatures column is not the JSON the registry wrote.
pub fn stored_envelope(doc: &Document) -> Result<Envelope, StoreError> {
    envelope_from_parts(&doc.payload_type, &doc.payload, &doc.signatures, &doc.id)
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

struct CheckedStatement {
    verified: VerifiedEnvelope,
    valid: ValidStatement,
    key: PublicKey,
    id: String,
}

/// Verifies one statement envelope and parses its payload (no state needed),
/// decoding keys with `parse_key` (which must behave like `PublicKey::from_str`).
fn check_statement_with(
    env: &Envelope,
    parse_key: &(dyn Fn(&str) -> Result<PublicKey, KeyError> + Sync),
) -> Result<CheckedStatement, Rejection> {
    if env.signatures.len() != 1 {
        return Err(Rejection::new(
            RejectionKind::MalformedEnvelope,
            "a statement carries exactly one signature",
        ));
    }
    let verified = env.verify_with(PayloadType::Statement, parse_key)?;
    let valid = Statement::parse(&verified.payload)?;
    let key = verified.signers[0].0;
    if valid.statement.key != key.to_string() {
        return Err(Rejection::new(
            RejectionKind::KeyMismatch,
            "the payload's `key` is not the key that signed the envelope",
        ));
    }
    let id = document_id(&verified.payload);
    Ok(CheckedStatement {
        verified,
        valid,
        key,
        id,
    })
}

/// Checks a statement envelope as the registry does before looking at its
/// state: payload type, one strictly verified signature by a canonical,
/// non-weak key, a payload that parses, and a payload `key` equal to the signer.
/// Returns the statement's id.
///
/// # Errors
/// The rejection the registry would send.
pub fn verify_statement(env: &Envelope) -> Result<String, Rejection> {
    check_statement_with(env, &|keyid: &str| keyid.parse()).map(|c| c.id)
}

/// Statements verified per pipeline step of a batch.
const PIPELINE_CHUNK: usize = 1000;

/// Decodes each distinct signing key of a batch once (batches are usually
/// signed by one or two keys; at most 1,024 are cached).
fn decode_signing_keys(envelopes: &[Envelope]) -> HashMap<String, Result<PublicKey, KeyError>> {
    let mut keys: HashMap<String, Result<PublicKey, KeyError>> = HashMap::new();
    for s in envelopes.iter().flat_map(|e| &e.signatures) {
        if keys.len() < 1024 && !keys.contains_key(s.keyid.as_str()) {
            keys.insert(s.keyid.clone(), s.keyid.parse());
        }
    }
    keys
}

/// What happens to one statement of a batch.
enum Outcome {
    /// Newly appended; `seq` is known once its chunk is written.
    Created {
        id: String,
        seq: Option<i64>,
        received_at: Timestamp,
    },
    /// Already stored before this request.
    Stored(Accepted),
    /// The same as an earlier statement of this batch (by outcome index).
    SameAs(usize),
}

/// The state of a batch as its chunks are checked and written.
#[derive(Default)]
struct BatchPlan {
    keys: HashMap<PublicKey, Result<(), Rejection>>,
    latest: HashMap<ContentHash, Timestamp>,
    first_of: HashMap<String, usize>,
    outcomes: Vec<Outcome>,
    rejections: Vec<Rejection>,
    works: usize,
}

impl BatchPlan {
    /// Gives the seqs of a written chunk to its created statements, in order.
    fn record_seqs(&mut self, seqs: &[i64]) {
        let mut seqs = seqs.iter();
        for o in &mut self.outcomes {
            if let Outcome::Created {
                seq: seq @ None, ..
            } = o
            {
                *seq = seqs.next().copied();
            }
        }
    }

    fn into_outcomes(self, artist_id: &str) -> Vec<Accepted> {
        let mut out: Vec<Accepted> = Vec::with_capacity(self.outcomes.len());
        for o in self.outcomes {
            let a = match o {
                Outcome::Created {
                    id,
                    seq,
                    received_at,
                } => Accepted {
                    id,
                    seq: seq.unwrap_or(-1),
                    kind: DocumentKind::Statement.as_str(),
                    artist_id: artist_id.to_owned(),
                    received_at,
                    status: AcceptStatus::Created,
                    receipt: None,
                },
                Outcome::Stored(a) => a,
                Outcome::SameAs(i) => Accepted {
                    status: AcceptStatus::Duplicate,
                    ..out[i].clone()
                },
            };
            out.push(a);
        }
        out
    }
}

/// [`verify_statement`] for a whole batch, on all cores, decoding each
/// signing key once: the check the registry runs on a batch before looking
/// at its state. Returns each statement's id or rejection, in order.
#[must_use]
pub fn verify_statements(envelopes: &[Envelope]) -> Vec<Result<String, Rejection>> {
    let keys = decode_signing_keys(envelopes);
    let parse_key = |keyid: &str| keys.get(keyid).cloned().unwrap_or_else(|| keyid.parse());
    envelopes
        .par_iter()
        .with_min_len(64)
        .map(|e| check_statement_with(e, &parse_key).map(|c| c.id))
        .collect()
}

/// A statement about one work, resolved for reading.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub statement_id: String,
    pub seq: i64,
    pub artist_id: String,
    pub display_name: String,
    pub key: String,
    pub issued_at: Timestamp,
    pub received_at: Timestamp,
    pub statement: Statement,
    pub consent: ConsentSet,
    pub envelope: Envelope,
    pub superseded: bool,
    pub key_revoked: bool,
    pub current: bool,
}

/// Everything known about one work.
#[derive(Debug, Clone)]
pub struct WorkView {
    pub hash: ContentHash,
    pub effective: ConsentSet,
    pub disputed: bool,
    pub history: Vec<HistoryEntry>,
}

/// An artist, their keys, key history and a page of their works.
#[derive(Debug, Clone)]
pub struct ArtistView {
    pub artist: ArtistRecord,
    pub documents: Vec<StoredDocument>,
    pub works: Vec<ContentHash>,
    pub next_after: Option<ContentHash>,
}

/// Who a key belongs to, for authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHolder {
    Artist(KeyRecord),
    Builder(BuilderRecord),
}

/// A training run as a builder reports it (`spec/payouts.md` §6).
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub purpose: crate::domain::Category,
    pub pool: crate::domain::Money,
    /// When the builder checked its data; required without a receipt.
    pub checked_at: Option<Timestamp>,
    pub works: Vec<ContentHash>,
    /// The check receipt the run's data was checked with.
    pub receipt: Option<Envelope>,
}

/// A reported run: its stored summary, the signed statement and the log
/// receipt of its payout record.
#[derive(Debug, Clone)]
pub struct ReportedRun {
    pub summary: crate::store::PayoutSummary,
    pub envelope: Envelope,
    pub statement: crate::payout::PayoutStatement,
    pub log_receipt: Option<String>,
}

/// The consent index and the checkpoint it is level with: a check that
/// reads both under one lock answers exactly for that checkpoint.
#[derive(Debug)]
pub struct CheckState {
    pub index: ConsentIndex,
    pub checkpoint: Option<CheckpointRecord>,
    /// Set if applying a committed document failed: checks are refused
    /// (the index no longer matches the log) until the registry restarts.
    pub broken: Option<String>,
}

/// A document parsed for the consent index, with its place in the log.
type Indexed = (u64, Timestamp, Result<Parsed, String>);

/// Parses documents for the consent index, in parallel.
fn parse_for_index<'a>(
    docs: impl IndexedParallelIterator<Item = (i64, &'a Document)>,
) -> Vec<Indexed> {
    docs.with_min_len(16)
        .map(|(seq, d)| {
            (
                u64::try_from(seq).unwrap_or(u64::MAX),
                d.received_at,
                consent_index::parse(d.kind.entry_kind(), &d.payload),
            )
        })
        .collect()
}

/// The rows of the derived tables that `page` (with its parsed documents,
/// in the same order) gives: what [`Store::derived_digest`] must match.
fn derived_rows(page: &[StoredDocument], parsed: &[Indexed]) -> crate::store::DerivedDigest {
    let mut digest = crate::store::DerivedDigest::default();
    for (d, (_, _, p)) in page.iter().zip(parsed) {
        match p {
            Ok(Parsed::Statement {
                works, issued_at, ..
            }) => {
                for w in works {
                    digest.statement_works.add_statement_work(
                        w,
                        d.seq,
                        *issued_at,
                        d.doc.received_at,
                    );
                }
            }
            Ok(Parsed::Artist {
                id, display_name, ..
            }) => digest
                .artists
                .add_artist(id, display_name, d.seq, d.doc.received_at),
            _ => {}
        }
    }
    digest
}

/// What an operator reads when the stored data disagrees with the log: the
/// registry will not serve it, and how to repair.
pub const REPAIR: &str = "The registry does not serve data that disagrees with its signed log. \
     Restore the database from a backup taken before the change (or a replica), start the \
     registry on it, and run `consentry audit` against it; see README, \
     \"When the registry refuses to start\"";

fn refuse_to_serve(e: RegistryError) -> RegistryError {
    match e {
        RegistryError::Log(TransparencyError::Inconsistent(what))
        | RegistryError::Store(StoreError::Corrupt(what))
        | RegistryError::Log(TransparencyError::Store(StoreError::Corrupt(what))) => {
            RegistryError::Log(TransparencyError::Inconsistent(format!(
                "stored data does not match the transparency log: {what}. {REPAIR}"
            )))
        }
        other => other,
    }
}

/// Documents read per page while loading the consent index.
const INDEX_LOAD_PAGE: u32 = 512;

/// The registry: state checks and serialised writes over a [`Store`].
pub struct Registry {
    store: Arc<dyn Store>,
    log: TransparencyLog,
    /// Off only in benchmarks that measure what the log costs.
    log_enabled: bool,
    /// Held for every write; guards the last receipt time so that receipt
    /// times never go backwards in acceptance order.
    writer: Mutex<Timestamp>,
    /// A key no artist or builder may register (the admin key).
    reserved: Option<PublicKey>,
    /// What bulk checks read; updated after every commit, under `writer`.
    check: std::sync::RwLock<CheckState>,
}

impl Registry {
    /// # Errors
    /// When the store cannot be read.
    pub async fn new(store: Arc<dyn Store>, log: TransparencyLog) -> Result<Self> {
        let last = store
            .last_received_at()
            .await?
            .unwrap_or(Timestamp::from_unix_nanos(0));
        let check = async {
            log.catch_up(store.as_ref()).await?;
            Self::load_index(store.as_ref(), &log).await
        }
        .await
        .map_err(refuse_to_serve)?;
        Ok(Self {
            store,
            log,
            log_enabled: true,
            writer: Mutex::new(last),
            reserved: None,
            check: std::sync::RwLock::new(check),
        })
    }

    /// Builds the consent index from every stored document, in log order,
    /// and checks the stored data against the log on the way
    /// ([`Registry::new`] refuses to start when they disagree):
    ///
    /// - the tree rebuilt from the stored entries must be the stored tree,
    ///   and its root the one the latest checkpoint signs ([`TreeCheck`]);
    /// - the derived tables that answer questions about works and artists
    ///   must hold exactly the rows the documents give
    ///   ([`crate::store::DerivedDigest`]).
    ///
    /// One pass over the documents (parsed and hashed in parallel), one over
    /// the stored tree hashes and one over each derived table.
    async fn load_index(store: &dyn Store, log: &TransparencyLog) -> Result<CheckState> {
        let started = std::time::Instant::now();
        let mut index = ConsentIndex::new();
        let works = store.counts().await?.statement_works;
        index.reserve_works(usize::try_from(works).unwrap_or(0));
        let total = store.document_count().await?;
        let mut tree = TreeCheck::new();
        let mut expected = crate::store::DerivedDigest::default();
        while index.size() < total {
            let page = store.documents_from(index.size(), INDEX_LOAD_PAGE).await?;
            if page.is_empty() {
                break;
            }
            let (parsed, leaves, digest) = tokio::task::spawn_blocking(move || {
                let parsed = parse_for_index(page.par_iter().map(|d| (d.seq, &d.doc)));
                let leaves: Vec<_> = page
                    .par_iter()
                    .map(|d| d.doc.log_entry().map(|e| crate::log::merkle::leaf_hash(&e)))
                    .collect();
                let digest = derived_rows(&page, &parsed);
                (parsed, leaves, digest)
            })
            .await
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
            expected.statement_works.merge(digest.statement_works);
            expected.artists.merge(digest.artists);
            // The tree first: an altered document is named by the tree hash
            // it changes, whether or not it still parses.
            for ((seq, _, _), leaf) in parsed.iter().zip(leaves) {
                tree.push(*seq, leaf?)?;
            }
            tree.compare_stored(store).await?;
            for (seq, received_at, p) in parsed {
                let p = p.map_err(|e| StoreError::Corrupt(format!("document {seq}: {e}")))?;
                index
                    .apply_parsed(seq, received_at, p)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            }
        }
        let checkpoint = store.latest_checkpoint().await?;
        tree.finish(log, checkpoint.as_ref())?;
        for (key, artist, seq, added_at, revoked_at) in index.key_rows() {
            expected.artist_keys.add_key(
                &format!("{}{}", PublicKey::PREFIX, hex::encode(key)),
                artist,
                i64::try_from(seq).unwrap_or(i64::MAX),
                added_at,
                revoked_at,
            );
        }
        let stored = store.derived_digest().await?;
        for (table, want, got) in [
            (
                "statement_works",
                expected.statement_works,
                stored.statement_works,
            ),
            ("artists", expected.artists, stored.artists),
            ("artist_keys", expected.artist_keys, stored.artist_keys),
        ] {
            if want != got {
                let what = if want.rows == got.rows {
                    format!(
                        "holds the {} rows the logged documents give, but some are altered",
                        got.rows
                    )
                } else {
                    format!(
                        "holds {} rows where the logged documents give {} (rows deleted or added)",
                        got.rows, want.rows
                    )
                };
                return Err(
                    TransparencyError::Inconsistent(format!("table {table} {what}")).into(),
                );
            }
        }
        let footprint = index.footprint();
        tracing::info!(
            documents = index.size(),
            works = footprint.works,
            work_bytes = footprint.work_bytes,
            statement_bytes = footprint.statement_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "stored data checked against the log; consent index loaded"
        );
        Ok(CheckState {
            index,
            checkpoint,
            broken: None,
        })
    }

    /// Runs `f` on the consent index and its checkpoint, under the read lock
    /// (writers wait: keep `f` short, or answer in chunks).
    pub fn with_index<R>(&self, f: impl FnOnce(&CheckState) -> R) -> R {
        let guard = self
            .check
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    }

    /// Applies committed documents to the consent index and moves it to
    /// `checkpoint`. The caller holds `writer`, so updates go in log order.
    fn update_index(&self, items: Vec<Indexed>, checkpoint: Option<CheckpointRecord>) {
        let mut state = self
            .check
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.broken.is_some() {
            return;
        }
        for (seq, received_at, p) in items {
            let applied = p
                .map_err(|reason| consent_index::IndexError { index: seq, reason })
                .and_then(|p| state.index.apply_parsed(seq, received_at, p));
            if let Err(e) = applied {
                tracing::error!(error = %e, "consent index update failed; checks are refused until restart");
                state.broken = Some(e.to_string());
                return;
            }
        }
        if let Some(cp) = checkpoint {
            state.checkpoint = Some(cp);
        }
    }

    /// Signs a check receipt with the registry key.
    ///
    /// # Errors
    /// Only if the receipt cannot be serialised.
    pub fn sign_receipt(&self, receipt: &crate::check::CheckReceipt) -> Result<Envelope> {
        receipt
            .sign(self.log.signing_key())
            .map_err(|e| RegistryError::Internal(e.to_string()))
    }

    /// The view of the latest checkpoint the consent index is level with,
    /// and that checkpoint.
    ///
    /// # Errors
    /// When the index is broken or no checkpoint exists.
    pub fn check_view(&self, as_of: Option<Timestamp>) -> Result<(View, CheckpointRecord)> {
        self.with_index(|st| {
            if let Some(b) = &st.broken {
                return Err(RegistryError::Internal(format!("consent index: {b}")));
            }
            let cp = st
                .checkpoint
                .clone()
                .ok_or_else(|| RegistryError::Internal("no checkpoint yet".into()))?;
            Ok((
                View {
                    size: cp.size,
                    as_of,
                },
                cp,
            ))
        })
    }

    /// Stops writing the log: documents are stored without log entries or
    /// checkpoints. For benchmarks that measure the log's cost only; a
    /// registry built this way breaks the log's invariants.
    #[doc(hidden)]
    #[must_use]
    pub fn without_log_for_benchmarks(mut self) -> Self {
        self.log_enabled = false;
        self
    }

    /// The transparency log.
    #[must_use]
    pub fn log(&self) -> &TransparencyLog {
        &self.log
    }

    /// Stores one document and its log entry in one transaction; returns
    /// its seq and receipt.
    async fn append_one(&self, append: &Append) -> Result<(i64, Option<String>)> {
        let mut tx = self.store.begin_append().await?;
        let mut growth = self.begin_log(tx.as_mut()).await?;
        let seqs = tx.append(std::slice::from_ref(append)).await?;
        self.grow_log(
            tx.as_mut(),
            growth.as_mut(),
            &seqs,
            std::slice::from_ref(append),
        )
        .await?;
        let (mut receipts, checkpoint) = self.seal_log(tx.as_mut(), growth.as_ref(), &seqs).await?;
        tx.commit().await?;
        let parsed = parse_for_index(seqs.par_iter().copied().zip(rayon::iter::once(&append.doc)));
        self.update_index(parsed, checkpoint);
        Ok((seqs[0], receipts.pop()))
    }

    async fn begin_log(&self, tx: &mut dyn AppendTx) -> Result<Option<Growth>> {
        if !self.log_enabled {
            return Ok(None);
        }
        Ok(Some(self.log.begin(tx).await?))
    }

    async fn grow_log(
        &self,
        tx: &mut dyn AppendTx,
        growth: Option<&mut Growth>,
        seqs: &[i64],
        appends: &[Append],
    ) -> Result<()> {
        if let Some(g) = growth {
            let docs: Vec<&Document> = appends.iter().map(|a| &a.doc).collect();
            self.log.grow(tx, g, seqs, &docs).await?;
        }
        Ok(())
    }

    /// Signs the checkpoint; returns the receipts of `seqs`, in order, and
    /// the checkpoint.
    async fn seal_log(
        &self,
        tx: &mut dyn AppendTx,
        growth: Option<&Growth>,
        seqs: &[i64],
    ) -> Result<(Vec<String>, Option<CheckpointRecord>)> {
        let Some(g) = growth else {
            return Ok((Vec::new(), None));
        };
        let indexes: Vec<u64> = seqs.iter().filter_map(|s| u64::try_from(*s).ok()).collect();
        let sealed = self.log.seal(tx, g, &indexes).await?;
        Ok((
            sealed.receipts.into_iter().map(|(_, r)| r).collect(),
            Some(sealed.checkpoint),
        ))
    }

    /// Reserves `key` (the admin key): nobody can register it as theirs.
    #[must_use]
    pub fn with_reserved_key(mut self, key: Option<PublicKey>) -> Self {
        self.reserved = key;
        self
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn next_receipt_time(last: &mut Timestamp) -> Timestamp {
        let now = Timestamp::now();
        let t = if now > *last {
            now
        } else {
            Timestamp::from_unix_nanos(last.unix_nanos() + 1)
        };
        *last = t;
        t
    }

    fn check_not_future(issued_at: Timestamp, now: Timestamp) -> Result<(), Rejection> {
        if issued_at > now.plus_secs(MAX_CLOCK_SKEW_SECS) {
            return Err(Rejection::new(
                RejectionKind::IssuedInFuture,
                format!("issued_at {issued_at} is more than {MAX_CLOCK_SKEW_SECS} s ahead of the registry's clock"),
            ));
        }
        Ok(())
    }

    async fn key_or_builder_in_use(&self, key: &PublicKey) -> Result<bool> {
        Ok(self.reserved == Some(*key)
            || self.store.key(key).await?.is_some()
            || self.store.builder_by_key(key).await?.is_some())
    }

    /// Computes, signs and logs the payout statement of a training run
    /// (`spec/payouts.md` §6): consent is read from the consent index in
    /// the view the report pins (its check receipt's, or the current log as
    /// of `checked_at`); the statement and its payout record are stored, and
    /// the record appended to the log, in one transaction.
    ///
    /// # Errors
    /// Rejections for a malformed report, a receipt that does not match it,
    /// or a run id the builder used before.
    pub async fn report_run(
        self: &Arc<Self>,
        builder_id: &str,
        run: RunReport,
    ) -> Result<ReportedRun> {
        let invalid = |detail: String| Rejection::new(RejectionKind::InvalidRun, detail);
        if !crate::payout::valid_run_id(&run.run_id) {
            return Err(invalid(format!(
                "`run_id` is 1 to {} characters of A-Z a-z 0-9 . _ : - and starts with a letter or digit",
                crate::payout::MAX_RUN_ID_CHARS
            ))
            .into());
        }
        crate::domain::terms::validate_money(&run.pool, true)
            .map_err(|e| invalid(format!("`pool`: {e}")))?;
        if run.works.is_empty() {
            return Err(Rejection::new(
                RejectionKind::EmptyBatch,
                "`works` lists at least one hash",
            )
            .into());
        }
        if run.works.len() > crate::payout::MAX_RUN_WORKS {
            return Err(Rejection::new(
                RejectionKind::TooManyItems,
                format!(
                    "a run report lists at most {} works, got {}",
                    crate::payout::MAX_RUN_WORKS,
                    run.works.len()
                ),
            )
            .into());
        }
        let mut seen = HashMap::with_capacity(run.works.len());
        for (i, w) in run.works.iter().enumerate() {
            if let Some(first) = seen.insert(*w, i) {
                return Err(invalid(format!("works[{i}] ({w}) repeats works[{first}]")).into());
            }
        }
        drop(seen);
        let now = Timestamp::now();
        let (view, checked_at, receipt_id) = match &run.receipt {
            Some(env) => self.receipt_view(builder_id, &run, env)?,
            None => {
                let checked_at = run.checked_at.ok_or_else(|| {
                    invalid("`checked_at` is required without a check receipt".into())
                })?;
                if checked_at > now {
                    return Err(
                        invalid(format!("`checked_at` {checked_at} is in the future")).into(),
                    );
                }
                let (view, _) = self.check_view(Some(checked_at))?;
                (
                    crate::payout::StatementView {
                        size: view.size,
                        as_of: view.as_of,
                    },
                    checked_at,
                    None,
                )
            }
        };

        let mut last = self.writer.lock().await;
        if self
            .store
            .payout_of_run(builder_id, &run.run_id)
            .await?
            .is_some()
        {
            return Err(Rejection::new(
                RejectionKind::RunExists,
                format!(
                    "run `{}` was reported before; statements are never rewritten",
                    run.run_id
                ),
            )
            .into());
        }
        let received_at = Self::next_receipt_time(&mut last);
        let this = Arc::clone(self);
        let (origin, builder) = (self.log.origin().to_owned(), builder_id.to_owned());
        let statement = tokio::task::spawn_blocking(move || {
            this.with_index(|st| {
                if let Some(b) = &st.broken {
                    return Err(RegistryError::Internal(format!("consent index: {b}")));
                }
                crate::payout::PayoutStatement::compute(
                    &st.index,
                    &origin,
                    &builder,
                    &run.run_id,
                    run.purpose,
                    checked_at,
                    view,
                    receipt_id,
                    run.pool,
                    &run.works,
                    received_at,
                )
                .map_err(|e| RegistryError::Internal(e.to_string()))
            })
        })
        .await
        .map_err(|e| RegistryError::Internal(e.to_string()))??;
        let key = self.log.signing_key();
        let internal = |e: serde_json::Error| RegistryError::Internal(e.to_string());
        let signed = statement.sign(key).map_err(internal)?;
        let record = crate::payout::PayoutRecord {
            version: crate::payout::STATEMENT_VERSION,
            statement: signed.id.clone(),
            builder: builder_id.to_owned(),
            run_id: statement.run_id.clone(),
            issued_at: received_at,
        }
        .sign(key)
        .map_err(internal)?;
        let append = Append {
            doc: Document {
                id: record.id,
                kind: DocumentKind::Payout,
                artist_id: builder_id.to_owned(),
                payload_type: PayloadType::PayoutRecord.as_str().to_owned(),
                payload: record.payload,
                signatures: serde_json::to_string(&record.envelope.signatures).map_err(internal)?,
                received_at,
            },
            effects: vec![Effect::Payout(Box::new(crate::store::PayoutRow {
                summary: statement.summary(&signed.id, 0),
                payload: signed.payload,
                signatures: serde_json::to_string(&signed.envelope.signatures).map_err(internal)?,
                lines: statement.lines(),
            }))],
        };
        let (seq, log_receipt) = match self.append_one(&append).await {
            Err(RegistryError::Store(StoreError::Conflict(c)))
                if c == "payout_statements_run_key" =>
            {
                return Err(Rejection::new(
                    RejectionKind::RunExists,
                    format!("run `{}` was reported before", statement.run_id),
                )
                .into())
            }
            other => other?,
        };
        drop(last);
        Ok(ReportedRun {
            summary: statement.summary(&signed.id, seq),
            envelope: signed.envelope,
            statement,
            log_receipt,
        })
    }

    /// The view, check date and receipt id of a report that comes with a
    /// check receipt: the receipt must be this registry's, for this builder
    /// and purpose, over exactly the reported works in their order.
    fn receipt_view(
        &self,
        builder_id: &str,
        run: &RunReport,
        env: &Envelope,
    ) -> Result<(crate::payout::StatementView, Timestamp, Option<String>)> {
        let mismatch = |detail: String| Rejection::new(RejectionKind::ReceiptMismatch, detail);
        let receipt = crate::check::CheckReceipt::verify(env, self.log.verifier())
            .map_err(|e| mismatch(format!("the check receipt is not valid: {e}")))?;
        if receipt.builder != builder_id {
            return Err(mismatch(format!(
                "the check receipt was issued to {}, not to you",
                receipt.builder
            ))
            .into());
        }
        if receipt.purpose != run.purpose {
            return Err(mismatch(format!(
                "the check receipt is for {}, the run for {}",
                receipt.purpose.as_str(),
                run.purpose.as_str()
            ))
            .into());
        }
        if !receipt.covers(&run.works) {
            return Err(mismatch(format!(
                "`works` ({} hashes) is not the hash list the receipt covers ({} hashes), in its order",
                run.works.len(),
                receipt.hashes.count
            ))
            .into());
        }
        let checked_at = receipt.as_of.unwrap_or(receipt.issued_at);
        if run.checked_at.is_some_and(|c| c != checked_at) {
            return Err(mismatch(format!(
                "`checked_at` differs from the receipt's date {checked_at}; leave it out"
            ))
            .into());
        }
        let payload = env
            .verify(PayloadType::CheckReceipt)
            .map_err(|e| mismatch(e.to_string()))?
            .payload;
        Ok((
            crate::payout::StatementView {
                size: receipt.checkpoint.size,
                as_of: receipt.as_of,
            },
            checked_at,
            Some(hex::encode(Sha256::digest(&payload))),
        ))
    }

    /// Registers an artist from a self-signed registration.
    ///
    /// # Errors
    /// Rejections for a bad envelope or payload, a payload key that did not
    /// sign, a future `issued_at`, or a key already held by someone.
    pub async fn register_artist(&self, env: &Envelope) -> Result<Accepted> {
        if env.signatures.len() != 1 {
            return Err(Rejection::new(
                RejectionKind::MalformedEnvelope,
                "a registration carries exactly one signature",
            )
            .into());
        }
        let verified = env.verify(PayloadType::Artist).map_err(Rejection::from)?;
        let reg = ArtistRegistration::parse(&verified.payload).map_err(Rejection::from)?;
        let key = verified.signers[0].0;
        if reg.key != key.to_string() {
            return Err(Rejection::new(
                RejectionKind::KeyMismatch,
                "the payload's `key` is not the key that signed",
            )
            .into());
        }
        let id = document_id(&verified.payload);
        let mut last = self.writer.lock().await;
        if let Some(existing) = self
            .store
            .documents_by_id(std::slice::from_ref(&id))
            .await?
            .first()
        {
            return Ok(Accepted::from_stored(existing, AcceptStatus::Duplicate));
        }
        Self::check_not_future(reg.issued_at, Timestamp::now())?;
        if self.key_or_builder_in_use(&key).await? {
            return Err(Rejection::new(
                RejectionKind::KeyInUse,
                format!("key {key} is already registered"),
            )
            .into());
        }
        let received_at = Self::next_receipt_time(&mut last);
        let doc = Document {
            id: id.clone(),
            kind: DocumentKind::Artist,
            artist_id: id,
            payload_type: PayloadType::Artist.as_str().to_owned(),
            signatures: signatures_json(&verified),
            payload: verified.payload,
            received_at,
        };
        let effects = vec![Effect::ArtistCreated {
            display_name: reg.display_name,
            key,
        }];
        let append = Append { doc, effects };
        let (seq, receipt) = self.append_one(&append).await?;
        Ok(Accepted {
            id: append.doc.id,
            seq,
            kind: DocumentKind::Artist.as_str(),
            artist_id: append.doc.artist_id,
            received_at,
            status: AcceptStatus::Created,
            receipt,
        })
    }

    /// Applies a key event (add, rotate, revoke) to `artist_id`'s keys.
    ///
    /// # Errors
    /// Rejections for a bad envelope or payload, an event about another
    /// artist, missing or foreign signatures, keys in use or already revoked.
    pub async fn key_event(&self, artist_id: &str, env: &Envelope) -> Result<Accepted> {
        let verified = env.verify(PayloadType::KeyEvent).map_err(Rejection::from)?;
        let ev = KeyEvent::parse(&verified.payload).map_err(Rejection::from)?;
        if ev.artist != artist_id {
            return Err(Rejection::new(
                RejectionKind::Forbidden,
                "the event's `artist` is not the artist in the URL",
            )
            .into());
        }
        let subject: PublicKey = ev
            .key
            .parse()
            .map_err(|e| Rejection::new(RejectionKind::InvalidKey, format!("`key`: {e}")))?;
        let replaces: Option<PublicKey> = ev
            .replaces
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| Rejection::new(RejectionKind::InvalidKey, format!("`replaces`: {e}")))?;
        let id = document_id(&verified.payload);

        let mut last = self.writer.lock().await;
        if let Some(existing) = self
            .store
            .documents_by_id(std::slice::from_ref(&id))
            .await?
            .first()
        {
            return Ok(Accepted::from_stored(existing, AcceptStatus::Duplicate));
        }
        // The event's receipt time is `now`: every rule below is decided
        // at the instant the log records (so an auditor can re-decide it).
        let now = Self::next_receipt_time(&mut last);
        Self::check_not_future(ev.issued_at, now)?;
        let artist = self.store.artist(artist_id).await?.ok_or_else(|| {
            Rejection::new(
                RejectionKind::UnknownArtist,
                format!("no artist {artist_id}"),
            )
        })?;
        let active = |k: &PublicKey| artist.keys.iter().any(|r| r.key == *k && r.active_at(now));
        let owned = |k: &PublicKey| artist.keys.iter().find(|r| r.key == *k);
        // Every signer must be an active key of the artist, or the key being added.
        let adding = matches!(ev.action, KeyAction::Add | KeyAction::Rotate).then_some(subject);
        for (signer, _) in &verified.signers {
            if !active(signer) && Some(*signer) != adding {
                return Err(Rejection::new(
                    RejectionKind::Forbidden,
                    format!("{signer} is not an active key of this artist"),
                )
                .into());
            }
        }
        let received_at;
        let effects = match ev.action {
            KeyAction::Add | KeyAction::Rotate => {
                if !verified.signed_by(&subject) {
                    return Err(Rejection::new(
                        RejectionKind::BadSignature,
                        "the new key must sign the event (proof of possession)",
                    )
                    .into());
                }
                if self.key_or_builder_in_use(&subject).await? {
                    return Err(Rejection::new(
                        RejectionKind::KeyInUse,
                        format!("key {subject} is already registered"),
                    )
                    .into());
                }
                let authoriser = match replaces {
                    Some(old) => {
                        if owned(&old).is_none() {
                            return Err(Rejection::new(
                                RejectionKind::UnknownKey,
                                format!("{old} is not a key of this artist"),
                            )
                            .into());
                        }
                        if !active(&old) {
                            return Err(Rejection::new(
                                RejectionKind::RevokedKey,
                                format!("{old} is not an active key of this artist"),
                            )
                            .into());
                        }
                        old
                    }
                    None => match verified.signers.iter().find(|(k, _)| *k != subject) {
                        Some((k, _)) => *k,
                        None => {
                            return Err(Rejection::new(
                                RejectionKind::BadSignature,
                                "an existing active key must sign the event",
                            )
                            .into())
                        }
                    },
                };
                if !verified.signed_by(&authoriser) {
                    return Err(Rejection::new(
                        RejectionKind::BadSignature,
                        "the replaced key must sign a rotation",
                    )
                    .into());
                }
                received_at = now;
                let mut effects = vec![Effect::KeyAdded { key: subject }];
                if let Some(old) = replaces {
                    effects.push(Effect::KeyRevoked {
                        key: old,
                        effective_at: received_at,
                    });
                }
                effects
            }
            KeyAction::Revoke => {
                let record = owned(&subject).ok_or_else(|| {
                    Rejection::new(
                        RejectionKind::UnknownKey,
                        format!("{subject} is not a key of this artist"),
                    )
                })?;
                let effective = ev.effective_at.unwrap_or(now);
                if effective < record.added_at {
                    return Err(Rejection::new(
                        RejectionKind::InvalidPayload,
                        format!(
                            "effective_at {effective} precedes the key's registration at {}",
                            record.added_at
                        ),
                    )
                    .into());
                }
                // A revocation may be brought forward, never pushed back.
                if let Some(r) = record.revoked_at.filter(|r| *r <= effective) {
                    return Err(Rejection::new(
                        RejectionKind::AlreadyRevoked,
                        format!("{subject} is already revoked from {r}"),
                    )
                    .into());
                }
                received_at = now;
                vec![Effect::KeyRevoked {
                    key: subject,
                    effective_at: ev.effective_at.unwrap_or(received_at),
                }]
            }
        };
        let doc = Document {
            id,
            kind: DocumentKind::KeyEvent,
            artist_id: artist_id.to_owned(),
            payload_type: PayloadType::KeyEvent.as_str().to_owned(),
            signatures: signatures_json(&verified),
            payload: verified.payload,
            received_at,
        };
        let append = Append { doc, effects };
        let (seq, receipt) = self.append_one(&append).await?;
        Ok(Accepted {
            id: append.doc.id,
            seq,
            kind: DocumentKind::KeyEvent.as_str(),
            artist_id: append.doc.artist_id,
            received_at,
            status: AcceptStatus::Created,
            receipt,
        })
    }

    /// Accepts a batch of statements by one artist, all or nothing.
    ///
    /// Signatures are verified in parallel before any state is read. A
    /// statement identical to a stored one is reported as a duplicate; one
    /// that is not newer than the artist's latest statement about any of its
    /// works is refused as stale.
    ///
    /// # Errors
    /// Every refused statement, with its index, when any is refused.
    pub async fn submit_statements(
        &self,
        artist_id: &str,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<Accepted>> {
        if envelopes.is_empty() {
            return Err(Rejection::new(
                RejectionKind::EmptyBatch,
                "a request carries at least one statement",
            )
            .into());
        }
        if envelopes.len() > MAX_STATEMENTS_PER_REQUEST {
            return Err(Rejection::new(
                RejectionKind::TooManyItems,
                format!(
                    "a request carries at most {MAX_STATEMENTS_PER_REQUEST} statements, got {}",
                    envelopes.len()
                ),
            )
            .into());
        }
        let n = envelopes.len();
        let envelopes = Arc::new(envelopes);
        let keys = Arc::new(decode_signing_keys(&envelopes));
        let chunks: Vec<std::ops::Range<usize>> = (0..n)
            .step_by(PIPELINE_CHUNK)
            .map(|start| start..(start + PIPELINE_CHUNK).min(n))
            .collect();
        // Verification of chunk k+1 runs on the blocking pool while chunk k
        // is checked against the registry's state and written: the signature
        // checks, the database and its I/O overlap, and one transaction
        // still makes the batch all or nothing.
        let verify = |range: std::ops::Range<usize>| {
            let (envelopes, keys) = (Arc::clone(&envelopes), Arc::clone(&keys));
            tokio::task::spawn_blocking(move || {
                let parse_key =
                    |keyid: &str| keys.get(keyid).cloned().unwrap_or_else(|| keyid.parse());
                envelopes[range]
                    .par_iter()
                    .with_min_len(64)
                    .map(|e| check_statement_with(e, &parse_key))
                    .collect::<Vec<_>>()
            })
        };
        let mut pending = Some(verify(chunks[0].clone()));

        let mut last = self.writer.lock().await;
        let now = Timestamp::now();
        let revoked: HashMap<String, Option<Timestamp>> = match self.store.artist(artist_id).await?
        {
            Some(a) => a
                .keys
                .into_iter()
                .map(|k| (k.key.to_string(), k.revoked_at))
                .collect(),
            None => HashMap::new(),
        };
        let mut plan = BatchPlan::default();
        let mut tx: Option<(Box<dyn AppendTx>, Option<Growth>)> = None;
        let mut created: Vec<i64> = Vec::new();
        let mut indexed: Vec<Indexed> = Vec::new();
        for (k, range) in chunks.iter().enumerate() {
            let Some(task) = pending.take() else { break };
            let checked = task
                .await
                .map_err(|e| RegistryError::Internal(e.to_string()))?;
            if let Some(next) = chunks.get(k + 1) {
                pending = Some(verify(next.clone()));
            }
            let mut statements = Vec::with_capacity(checked.len());
            for (i, c) in range.clone().zip(checked) {
                match c {
                    Ok(s) => statements.push((i, s)),
                    Err(r) => plan.rejections.push(r.at(i)),
                }
            }
            if !plan.rejections.is_empty() {
                // Keep verifying, to report every bad envelope, but write nothing more.
                continue;
            }
            let appends = self
                .plan_chunk(artist_id, now, &revoked, &mut last, &mut plan, statements)
                .await?;
            if plan.rejections.is_empty() && !appends.is_empty() {
                let (tx, growth) = match &mut tx {
                    Some(open) => open,
                    None => {
                        let mut new = self.store.begin_append().await?;
                        let growth = self.begin_log(new.as_mut()).await?;
                        tx.insert((new, growth))
                    }
                };
                let seqs = tx.append(&appends).await?;
                self.grow_log(tx.as_mut(), growth.as_mut(), &seqs, &appends)
                    .await?;
                plan.record_seqs(&seqs);
                indexed.extend(parse_for_index(
                    seqs.par_iter()
                        .copied()
                        .zip(appends.par_iter().map(|a| &a.doc)),
                ));
                created.extend_from_slice(&seqs);
            }
        }
        if !plan.rejections.is_empty() {
            drop(tx); // rolls back
            plan.rejections.truncate(MAX_LISTED_REJECTIONS);
            return Err(RegistryError::Rejected(plan.rejections));
        }
        let mut receipts = Vec::new();
        if let Some((mut tx, growth)) = tx {
            let checkpoint;
            (receipts, checkpoint) = self
                .seal_log(tx.as_mut(), growth.as_ref(), &created)
                .await?;
            tx.commit().await?;
            self.update_index(indexed, checkpoint);
        }
        drop(last);
        let mut outcomes = plan.into_outcomes(artist_id);
        let mut receipts = receipts.into_iter();
        for a in outcomes
            .iter_mut()
            .filter(|a| a.status == AcceptStatus::Created)
        {
            a.receipt = receipts.next();
        }
        Ok(outcomes)
    }

    /// Checks one verified chunk of a batch against the registry's state
    /// (keys, duplicates, the stale rule) and returns what to append. Adds
    /// rejections to `plan` instead of failing.
    async fn plan_chunk(
        &self,
        artist_id: &str,
        now: Timestamp,
        revoked: &HashMap<String, Option<Timestamp>>,
        last: &mut Timestamp,
        plan: &mut BatchPlan,
        statements: Vec<(usize, CheckedStatement)>,
    ) -> Result<Vec<Append>> {
        // Keys: known, the caller's, active now.
        for (_, s) in &statements {
            if plan.keys.contains_key(&s.key) {
                continue;
            }
            let verdict = match self.store.key(&s.key).await? {
                None => Err(Rejection::new(
                    RejectionKind::UnknownKey,
                    format!("{} is not registered", s.key),
                )),
                Some(r) if r.artist_id != artist_id => Err(Rejection::new(
                    RejectionKind::Forbidden,
                    format!("{} belongs to another artist than the caller", s.key),
                )),
                Some(r) if !r.active_at(now) => Err(Rejection::new(
                    RejectionKind::RevokedKey,
                    format!("{} is revoked", s.key),
                )),
                Some(_) => Ok(()),
            };
            plan.keys.insert(s.key, verdict);
        }
        let ids: Vec<String> = statements.iter().map(|(_, s)| s.id.clone()).collect();
        let existing: HashMap<String, StoredDocument> = self
            .store
            .documents_by_id(&ids)
            .await?
            .into_iter()
            .map(|d| (d.doc.id.clone(), d))
            .collect();
        let works: Vec<ContentHash> = statements
            .iter()
            .filter(|(_, s)| !existing.contains_key(&s.id))
            .flat_map(|(_, s)| s.valid.statement.works.iter().map(|w| w.hash))
            .filter(|w| !plan.latest.contains_key(w))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // The artist's latest statement per work, among those that still
        // count: one whose key was revoked at or before its receipt does not.
        for c in self.store.artist_claims(artist_id, &works).await? {
            let counts = revoked
                .get(&c.key)
                .copied()
                .flatten()
                .is_none_or(|r| c.received_at < r);
            if counts {
                let slot = plan.latest.entry(c.work).or_insert(c.issued_at);
                *slot = (*slot).max(c.issued_at);
            }
        }

        let mut appends = Vec::new();
        for (i, s) in statements {
            plan.works += s.valid.statement.works.len();
            if plan.works > MAX_WORKS_PER_REQUEST {
                plan.rejections.push(Rejection::new(
                    RejectionKind::TooManyItems,
                    format!("a request names at most {MAX_WORKS_PER_REQUEST} works"),
                ));
                return Ok(Vec::new());
            }
            // A statement already in history is a duplicate whatever has
            // happened to its key since: resubmitting it changes nothing.
            if let Some(stored) = existing.get(&s.id).filter(|d| d.doc.artist_id == artist_id) {
                plan.outcomes.push(Outcome::Stored(Accepted::from_stored(
                    stored,
                    AcceptStatus::Duplicate,
                )));
                continue;
            }
            if let Some(&first) = plan.first_of.get(&s.id) {
                plan.outcomes.push(Outcome::SameAs(first));
                continue;
            }
            if let Some(Err(r)) = plan.keys.get(&s.key) {
                plan.rejections.push(r.clone().at(i));
                continue;
            }
            if let Err(r) = Self::check_not_future(s.valid.statement.issued_at, now) {
                plan.rejections.push(r.at(i));
                continue;
            }
            let issued = s.valid.statement.issued_at;
            if let Some(w) = s
                .valid
                .statement
                .works
                .iter()
                .find(|w| plan.latest.get(&w.hash).is_some_and(|l| *l >= issued))
            {
                plan.rejections.push(
                    Rejection::new(
                        RejectionKind::StaleStatement,
                        format!(
                            "the artist already has a statement about {} issued at or after {issued}; a replacement must be issued later",
                            w.hash
                        ),
                    )
                    .at(i),
                );
                continue;
            }
            for w in &s.valid.statement.works {
                plan.latest.insert(w.hash, issued);
            }
            let received_at = Self::next_receipt_time(last);
            // The key must still be active at the receipt time the log
            // records (a scheduled revocation may fall between `now` and it).
            if let Some(Some(r)) = revoked.get(&s.key.to_string()) {
                if *r <= received_at {
                    plan.rejections.push(
                        Rejection::new(RejectionKind::RevokedKey, format!("{} is revoked", s.key))
                            .at(i),
                    );
                    continue;
                }
            }
            plan.first_of.insert(s.id.clone(), plan.outcomes.len());
            plan.outcomes.push(Outcome::Created {
                id: s.id.clone(),
                seq: None,
                received_at,
            });
            appends.push(Append {
                doc: Document {
                    id: s.id,
                    kind: DocumentKind::Statement,
                    artist_id: artist_id.to_owned(),
                    payload_type: PayloadType::Statement.as_str().to_owned(),
                    signatures: signatures_json(&s.verified),
                    payload: s.verified.payload,
                    received_at,
                },
                effects: vec![Effect::Statement {
                    key: s.key,
                    issued_at: issued,
                    works: s.valid.statement.works.iter().map(|w| w.hash).collect(),
                }],
            });
        }
        Ok(appends)
    }

    /// Everything known about a work, or `None` if no statement names it.
    ///
    /// # Errors
    /// On storage failure or a stored payload that no longer parses.
    pub async fn work(&self, hash: &ContentHash) -> Result<Option<WorkView>> {
        let rows = self.store.work_history(hash).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut parsed = Vec::with_capacity(rows.len());
        for row in &rows {
            let valid = Statement::parse(&row.doc.payload)
                .map_err(|e| StoreError::Corrupt(format!("statement {}: {e}", row.doc.id)))?;
            parsed.push(valid);
        }
        let claims: Vec<Claim<'_>> = rows
            .iter()
            .zip(&parsed)
            .map(|(r, p)| Claim {
                artist_id: &r.doc.artist_id,
                issued_at: r.issued_at,
                seq: r.seq,
                received_at: r.doc.received_at,
                key_revoked_at: r.key_revoked_at,
                consent: p.consent,
            })
            .collect();
        let resolution = resolve(&claims);
        let mut history = Vec::with_capacity(rows.len());
        for (i, (row, p)) in rows.iter().zip(parsed).enumerate() {
            let key_revoked = !claims[i].valid();
            let current = resolution.current.contains(&i);
            history.push(HistoryEntry {
                statement_id: row.doc.id.clone(),
                seq: row.seq,
                artist_id: row.doc.artist_id.clone(),
                display_name: row.display_name.clone(),
                key: row.key.clone(),
                issued_at: row.issued_at,
                received_at: row.doc.received_at,
                statement: p.statement,
                consent: p.consent,
                envelope: stored_envelope(&row.doc)?,
                superseded: !current && !key_revoked,
                key_revoked,
                current,
            });
        }
        Ok(Some(WorkView {
            hash: *hash,
            effective: resolution.effective,
            disputed: resolution.disputed,
            history,
        }))
    }

    /// An artist with keys, key history and a page of works.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn artist(
        &self,
        artist_id: &str,
        after: Option<ContentHash>,
        limit: u32,
    ) -> Result<Option<ArtistView>> {
        let Some(artist) = self.store.artist(artist_id).await? else {
            return Ok(None);
        };
        let documents = self.store.artist_key_history(artist_id).await?;
        let mut works = self
            .store
            .artist_works(artist_id, after, limit.saturating_add(1))
            .await?;
        let next_after = if works.len() > limit as usize {
            works.truncate(limit as usize);
            works.last().copied()
        } else {
            None
        };
        Ok(Some(ArtistView {
            artist,
            documents,
            works,
            next_after,
        }))
    }

    /// A stored document by id.
    ///
    /// # Errors
    /// On storage failure.
    /// The document is checked against the log's tree first: what is
    /// served is what the log holds.
    pub async fn document(&self, id: &str) -> Result<Option<StoredDocument>> {
        let Some(doc) = self
            .store
            .documents_by_id(&[id.to_owned()])
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        if self.log_enabled {
            self.log
                .checked_entries(self.store.as_ref(), std::slice::from_ref(&doc))
                .await?;
        }
        Ok(Some(doc))
    }

    /// Who holds `key`, if anyone.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn key_holder(&self, key: &PublicKey) -> Result<Option<KeyHolder>> {
        if let Some(k) = self.store.key(key).await? {
            return Ok(Some(KeyHolder::Artist(k)));
        }
        Ok(self
            .store
            .builder_by_key(key)
            .await?
            .map(KeyHolder::Builder))
    }

    /// Registers a dataset builder (admin only; the caller checks the role).
    ///
    /// # Errors
    /// A rejection when the key is already held, or storage failure.
    pub async fn create_builder(&self, name: &str, key: PublicKey) -> Result<BuilderRecord> {
        let _guard = self.writer.lock().await;
        if self.key_or_builder_in_use(&key).await? {
            return Err(Rejection::new(
                RejectionKind::KeyInUse,
                format!("key {key} is already registered"),
            )
            .into());
        }
        let mut id = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        let record = BuilderRecord {
            builder_id: format!("b_{}", hex::encode(id)),
            name: name.to_owned(),
            key,
            created_at: Timestamp::now(),
        };
        match self.store.create_builder(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::Conflict(_)) => Err(Rejection::new(
                RejectionKind::KeyInUse,
                format!("key {key} is already registered"),
            )
            .into()),
            Err(e) => Err(e.into()),
        }
    }
}
