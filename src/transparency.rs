//! The registry's transparency log as a service: grows the Merkle tree
//! inside the write transaction that stores documents, signs a checkpoint
//! before that transaction commits, and answers checkpoints, entries,
//! proofs, tiles and receipts from the store. The formats are in
//! [`crate::log`]; `spec/log.md` is normative.

use rayon::prelude::*;

use crate::crypto::SecretKey;
use crate::domain::Timestamp;
use crate::log::merkle::{
    consistency_proof, consistency_proof_indexes, inclusion_proof, inclusion_proof_indexes,
    leaf_hash, tree_hash, tree_hash_indexes,
};
use crate::log::note::{self, Checkpoint, NoteVerifier};
use crate::log::proof::{format_tlog_proof, TlogProof};
use crate::log::tiles::{entry_bundle, TileRef};
use crate::log::tree::Appender;
use crate::log::{Hash, LogError};
use crate::store::{AppendTx, CheckpointRecord, Document, Store, StoreError};

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
    origin: String,
    key: SecretKey,
    verifier: NoteVerifier,
    /// Whether served entries are checked against the stored tree
    /// ([`TransparencyLog::checked_entries`]); always, except in the
    /// auditor's tests, which need a registry that serves what it stores.
    check_served: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TransparencyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransparencyLog")
            .field("origin", &self.origin)
            .field("verifier", &self.verifier.to_text())
            .finish_non_exhaustive()
    }
}

/// A tree growing inside one write transaction.
pub struct Growth {
    appender: Appender,
    /// The log size when the transaction began.
    start: u64,
    /// Entry bytes appended in this transaction, by `index - start`.
    entries: Vec<Vec<u8>>,
}

impl Growth {
    /// The size the tree has grown to.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.appender.size()
    }
}

/// The checkpoint signed at the end of a write, and receipts for its entries.
pub struct Sealed {
    pub checkpoint: CheckpointRecord,
    /// `(log index, tlog-proof text)` for each index asked for.
    pub receipts: Vec<(u64, String)>,
}

/// An inclusion proof as served.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub path: Vec<Hash>,
    pub root: Hash,
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

    /// The log entries of `docs` (stored documents, each at its own log
    /// index), checked against the leaf hashes stored in the tree: what is
    /// served is the bytes whose hash the signed tree holds, even when the
    /// database was edited behind the registry's back after it started.
    ///
    /// # Errors
    /// `Inconsistent` naming the first entry whose bytes are not the ones
    /// the tree holds; storage failures.
    pub async fn checked_entries(
        &self,
        store: &dyn Store,
        docs: &[crate::store::StoredDocument],
    ) -> Result<Vec<Vec<u8>>> {
        let entries = docs
            .iter()
            .map(|d| d.doc.log_entry())
            .collect::<Result<Vec<_>, _>>()?;
        if docs.is_empty() || !self.check_served.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(entries);
        }
        let indexes = docs
            .iter()
            .map(|d| {
                u64::try_from(d.seq)
                    .map(|n| crate::log::merkle::stored_hash_index(0, n))
                    .map_err(|_| {
                        TransparencyError::Inconsistent(format!("a document at seq {}", d.seq))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let stored = stored_tree_hashes(store, &indexes).await?;
        for ((d, entry), want) in docs.iter().zip(&entries).zip(&stored) {
            if leaf_hash(entry) != *want {
                tracing::error!(
                    entry = d.seq,
                    "a stored entry is not the one the log's tree holds; refusing to serve it"
                );
                return Err(TransparencyError::Inconsistent(format!(
                    "entry {} as stored is not the entry the log's tree holds \
                     (the database was altered behind the registry's back)",
                    d.seq
                )));
            }
        }
        Ok(entries)
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

    /// Opens the tree for growth in `tx`: reads its size and frontier.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn begin(&self, tx: &mut dyn AppendTx) -> Result<Growth> {
        let size = tx.log_size().await?;
        let frontier = tx.log_hashes(&Appender::frontier_indexes(size)).await?;
        Ok(Growth {
            appender: Appender::new(size, &frontier)?,
            start: size,
            entries: Vec::new(),
        })
    }

    /// Appends the entries of `docs`, which were just appended in `tx` with
    /// `seqs`; each seq must be the next log index.
    ///
    /// # Errors
    /// When a seq is not the next index (documents and log out of step), an
    /// entry cannot be encoded, or on storage failure.
    pub async fn grow(
        &self,
        tx: &mut dyn AppendTx,
        growth: &mut Growth,
        seqs: &[i64],
        docs: &[&Document],
    ) -> Result<()> {
        // Sequential on purpose: a few microseconds per document, and the
        // thread pool is busy verifying the next chunk of the batch.
        let entries: Vec<Vec<u8>> = docs
            .iter()
            .map(|d| d.log_entry())
            .collect::<Result<_, _>>()?;
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let mut indexed = Vec::with_capacity(leaves.len());
        for (seq, leaf) in seqs.iter().zip(&leaves) {
            let index = growth.appender.push(*leaf)?;
            if u64::try_from(*seq).ok() != Some(index) {
                return Err(TransparencyError::Inconsistent(format!(
                    "document seq {seq} would be log index {index}"
                )));
            }
            indexed.push((*leaf, index));
        }
        let (start, hashes) = growth.appender.take_new();
        tx.append_log(start, &hashes, &indexed).await?;
        growth.entries.extend(entries);
        Ok(())
    }

    /// Signs the checkpoint of the grown tree and records it in `tx`, then
    /// makes a receipt (with the entry in `extra`) for each of `receipts`,
    /// which must be indexes appended in this transaction.
    ///
    /// # Errors
    /// On storage failure, or an index that was not appended here.
    pub async fn seal(
        &self,
        tx: &mut dyn AppendTx,
        growth: &Growth,
        receipts: &[u64],
    ) -> Result<Sealed> {
        let size = growth.appender.size();
        let root = growth.appender.root()?;
        let checkpoint = self.sign_checkpoint(size, root)?;
        tx.add_checkpoint(&checkpoint).await?;
        // Neighbouring receipts share most of their proof hashes: one memo
        // per run of 512, runs in parallel.
        let made = receipts
            .par_chunks(512)
            .map(|run| {
                let mut memo = std::collections::HashMap::new();
                run.iter()
                    .map(|&index| {
                        let offset = index
                            .checked_sub(growth.start)
                            .and_then(|o| usize::try_from(o).ok())
                            .filter(|o| *o < growth.entries.len())
                            .ok_or_else(|| {
                                TransparencyError::Inconsistent(format!(
                                    "no entry {index} in this write"
                                ))
                            })?;
                        let path = growth.appender.inclusion_proof(index, &mut memo)?;
                        let text = format_tlog_proof(
                            Some(&growth.entries[offset]),
                            index,
                            &path,
                            &checkpoint.note,
                        );
                        Ok((index, text))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        Ok(Sealed {
            checkpoint,
            receipts: made,
        })
    }

    fn sign_checkpoint(&self, size: u64, root: Hash) -> Result<CheckpointRecord> {
        let text = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        }
        .to_text();
        let note = note::sign(&text, &self.origin, &self.key)
            .map_err(|e| TransparencyError::Inconsistent(e.to_string()))?;
        Ok(CheckpointRecord {
            size,
            root,
            note,
            signed_at: Timestamp::now(),
        })
    }

    /// Brings the log level with the documents at startup: a new database
    /// gets its size-0 checkpoint; a database written before the log existed
    /// gets every document appended, in seq order, and a checkpoint. The
    /// caller holds the registry's writer lock (no other writer runs).
    ///
    /// # Errors
    /// On storage failure or an inconsistent store.
    pub async fn catch_up(&self, store: &dyn Store) -> Result<()> {
        let documents = store.document_count().await?;
        let latest = store.latest_checkpoint().await?;
        let size = latest.as_ref().map_or(0, |c| c.size);
        if latest.is_some() && size == documents {
            return Ok(());
        }
        if size > documents {
            return Err(TransparencyError::Inconsistent(format!(
                "the log has {size} entries but there are {documents} documents"
            )));
        }
        // Documents and their entries are committed together, so documents
        // beyond a non-empty signed tree were not written by a registry:
        // logging them now would sign what nobody accepted. Only a database
        // written before the log existed (an empty tree) is brought up to date.
        if size > 0 {
            return Err(TransparencyError::Inconsistent(format!(
                "{} documents are stored after the latest signed checkpoint (size {size}); \
                 the log does not hold them",
                documents - size
            )));
        }
        let mut tx = store.begin_append().await?;
        let mut growth = self.begin(tx.as_mut()).await?;
        while growth.size() < documents {
            let page = store.documents_from(growth.size(), PAGE).await?;
            if page.is_empty() {
                break;
            }
            let seqs: Vec<i64> = page.iter().map(|d| d.seq).collect();
            let docs: Vec<&Document> = page.iter().map(|d| &d.doc).collect();
            self.grow(tx.as_mut(), &mut growth, &seqs, &docs).await?;
            growth.entries.clear();
        }
        self.seal(tx.as_mut(), &growth, &[]).await?;
        tx.commit().await?;
        tracing::info!(size = growth.size(), "transparency log brought up to date");
        Ok(())
    }

    /// The latest checkpoint.
    ///
    /// # Errors
    /// On storage failure, or when there is none (the log was never opened
    /// for writing by [`TransparencyLog::catch_up`]).
    pub async fn latest(&self, store: &dyn Store) -> Result<CheckpointRecord> {
        store
            .latest_checkpoint()
            .await?
            .ok_or_else(|| TransparencyError::Inconsistent("no checkpoint yet".into()))
    }

    /// The root of the tree of `size` leaves (at most the latest size).
    ///
    /// # Errors
    /// On storage failure.
    pub async fn root(&self, store: &dyn Store, size: u64) -> Result<Hash> {
        let hashes = store.log_hashes(&tree_hash_indexes(size)).await?;
        Ok(tree_hash(size, &hashes)?)
    }

    /// The inclusion proof of entry `index` in the tree of `size` leaves.
    /// The caller checks `index < size <= latest size`.
    ///
    /// # Errors
    /// On storage failure or bad coordinates.
    pub async fn inclusion(
        &self,
        store: &dyn Store,
        index: u64,
        size: u64,
    ) -> Result<InclusionProof> {
        let need = inclusion_proof_indexes(size, index)?;
        let mut all = need.clone();
        all.extend(tree_hash_indexes(size));
        all.push(crate::log::merkle::stored_hash_index(0, index));
        let hashes = store.log_hashes(&all).await?;
        let (proof_hashes, rest) = hashes.split_at(need.len());
        let (root_hashes, leaf) = rest.split_at(rest.len() - 1);
        Ok(InclusionProof {
            index,
            tree_size: size,
            leaf_hash: leaf[0],
            path: inclusion_proof(size, index, proof_hashes)?,
            root: tree_hash(size, root_hashes)?,
        })
    }

    /// The consistency proof between trees of `old` and `new` leaves
    /// (`0 < old <= new <= latest size`).
    ///
    /// # Errors
    /// On storage failure or bad sizes.
    pub async fn consistency(&self, store: &dyn Store, old: u64, new: u64) -> Result<Vec<Hash>> {
        if old == new {
            return Ok(Vec::new());
        }
        let need = consistency_proof_indexes(old, new)?;
        let hashes = store.log_hashes(&need).await?;
        Ok(consistency_proof(old, new, &hashes)?)
    }

    /// A receipt for entry `index` against the latest checkpoint.
    ///
    /// # Errors
    /// On storage failure; `Ok(None)` when there is no such entry.
    pub async fn receipt(&self, store: &dyn Store, index: u64) -> Result<Option<String>> {
        let cp = self.latest(store).await?;
        if index >= cp.size {
            return Ok(None);
        }
        let Some(doc) = store.documents_from(index, 1).await?.into_iter().next() else {
            return Ok(None);
        };
        let need = inclusion_proof_indexes(cp.size, index)?;
        let hashes = store.log_hashes(&need).await?;
        let entry = self
            .checked_entries(store, std::slice::from_ref(&doc))
            .await?
            .pop();
        let proof = TlogProof {
            extra: entry,
            index,
            path: inclusion_proof(cp.size, index, &hashes)?,
            checkpoint: cp.note,
        };
        Ok(Some(proof.to_text()))
    }

    /// A hash tile's bytes (concatenated 32-byte hashes), or `None` when the
    /// latest tree does not have all of it.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn hash_tile(&self, store: &dyn Store, tile: TileRef) -> Result<Option<Vec<u8>>> {
        let size = self.latest(store).await?.size;
        if tile.level.is_none() || !tile.available_in(size) {
            return Ok(None);
        }
        let hashes = store.log_hashes(&tile.stored_indexes()).await?;
        Ok(Some(hashes.concat()))
    }

    /// An entry bundle, or `None` when the latest tree does not have all of it.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn entry_bundle(&self, store: &dyn Store, tile: TileRef) -> Result<Option<Vec<u8>>> {
        let size = self.latest(store).await?.size;
        if tile.level.is_some() || !tile.available_in(size) {
            return Ok(None);
        }
        let (start, count) = tile.span();
        let docs = store
            .documents_from(start, u32::try_from(count).unwrap_or(PAGE))
            .await?;
        if docs.len() as u64 != count
            || docs
                .iter()
                .zip(start..)
                .any(|(d, i)| u64::try_from(d.seq).ok() != Some(i))
        {
            return Err(TransparencyError::Inconsistent(format!(
                "entries {start}..{} are not all stored",
                start + count
            )));
        }
        let entries = self.checked_entries(store, &docs).await?;
        entry_bundle(entries.iter().map(Vec::as_slice))
            .map(Some)
            .map_err(|len| TransparencyError::Inconsistent(format!("an entry of {len} bytes")))
    }
}

/// Stored tree hashes at `indexes`; a missing one means the stored tree
/// was cut behind the registry's back.
async fn stored_tree_hashes(store: &dyn Store, indexes: &[u64]) -> Result<Vec<Hash>> {
    store.log_hashes(indexes).await.map_err(|e| match e {
        StoreError::Corrupt(what) => {
            TransparencyError::Inconsistent(format!("the stored tree is incomplete ({what})"))
        }
        other => other.into(),
    })
}

/// Compares the stored tree hashes from stored index `start` on with
/// `rebuilt`.
async fn compare_stored(store: &dyn Store, start: u64, rebuilt: &[Hash]) -> Result<()> {
    if rebuilt.is_empty() {
        return Ok(());
    }
    let indexes: Vec<u64> = (start..start + rebuilt.len() as u64).collect();
    let stored = stored_tree_hashes(store, &indexes).await?;
    if let Some((i, _)) = indexes
        .iter()
        .zip(stored.iter().zip(rebuilt))
        .find(|(_, (s, r))| s != r)
    {
        let (leaf, _) = crate::log::merkle::stored_hash_owner(*i);
        return Err(TransparencyError::Inconsistent(format!(
            "stored tree hash {i} (written with entry {leaf}) is not the one the stored entries give: \
             entry {leaf} or the tree was altered"
        )));
    }
    Ok(())
}

/// The start-up check of the stored tree: the leaves of the stored entries,
/// in log order, rebuild the tree; every stored tree hash (what proofs and
/// tiles are made of) must be the rebuilt one, and the latest checkpoint
/// must be signed by this log's key over the rebuilt root at its size.
/// Memory stays at the tree's frontier whatever the log's size.
pub struct TreeCheck {
    tree: Appender,
}

impl Default for TreeCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl TreeCheck {
    #[must_use]
    pub fn new() -> Self {
        Self {
            tree: Appender::new(0, &[])
                .unwrap_or_else(|_| unreachable!("an empty tree needs no hashes"))
                .frontier_and_new(),
        }
    }

    /// The number of leaves pushed.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Adds the leaf of the entry stored at `index`, the next index.
    ///
    /// # Errors
    /// When `index` is not the next one (an entry is missing or repeated).
    pub fn push(&mut self, index: u64, leaf: Hash) -> Result<()> {
        let at = self.tree.push(leaf)?;
        if at != index {
            return Err(TransparencyError::Inconsistent(format!(
                "entry {index} is stored where entry {at} belongs: an entry is missing"
            )));
        }
        Ok(())
    }

    /// Starts comparing the stored tree hashes that the leaves pushed since
    /// the last call produce with those in `store`, and returns the task.
    /// It fails with `Inconsistent` naming the first stored hash that
    /// differs or is missing (an entry, or the tree, was altered behind the
    /// registry's back), or with the storage failure.
    pub fn compare_stored_in_background(
        &mut self,
        store: std::sync::Arc<dyn Store>,
    ) -> tokio::task::JoinHandle<Result<()>> {
        let (start, rebuilt) = self.tree.take_new();
        tokio::spawn(async move { compare_stored(store.as_ref(), start, &rebuilt).await })
    }

    /// Checks the rebuilt tree against `checkpoint`, the latest one stored:
    /// signed by `log`'s key, over this log's origin, at the rebuilt size
    /// and root.
    ///
    /// # Errors
    /// `Inconsistent` saying what differs.
    pub fn finish(
        &self,
        log: &TransparencyLog,
        checkpoint: Option<&CheckpointRecord>,
    ) -> Result<()> {
        let size = self.tree.size();
        let Some(cp) = checkpoint else {
            return if size == 0 {
                Ok(())
            } else {
                Err(TransparencyError::Inconsistent(format!(
                    "{size} entries are stored but no checkpoint"
                )))
            };
        };
        let text = note::open(&cp.note, std::slice::from_ref(&log.verifier)).map_err(|e| {
            TransparencyError::Inconsistent(format!(
                "the latest checkpoint (size {}) is not signed by this log's key: {e}",
                cp.size
            ))
        })?;
        let signed = Checkpoint::parse(text).map_err(|e| {
            TransparencyError::Inconsistent(format!("the latest checkpoint does not parse: {e}"))
        })?;
        let root = self.tree.root()?;
        if signed.origin != log.origin || signed.size != cp.size || signed.root != cp.root {
            return Err(TransparencyError::Inconsistent(format!(
                "the latest checkpoint's stored size and root (size {}) are not the ones its signed note says (size {})",
                cp.size, signed.size
            )));
        }
        if cp.size != size || cp.root != root {
            return Err(TransparencyError::Inconsistent(format!(
                "the latest signed checkpoint is size {} with root {}, but the {size} stored entries give root {}",
                cp.size,
                hex::encode(cp.root),
                hex::encode(root)
            )));
        }
        Ok(())
    }
}
