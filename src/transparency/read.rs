//! The read side: what the log serves from the store — checkpoints,
//! entries checked against the tree, proofs, tiles and receipts.

use super::{Result, TransparencyError, TransparencyLog, PAGE};
use crate::domain::CheckpointRecord;
use crate::log::merkle::{
    consistency_proof, consistency_proof_indexes, inclusion_proof, inclusion_proof_indexes,
    leaf_hash, tree_hash, tree_hash_indexes,
};
use crate::log::proof::TlogProof;
use crate::log::tiles::{entry_bundle, TileRef};
use crate::log::Hash;
use crate::store::{Store, StoreError};

/// An inclusion proof as served.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub path: Vec<Hash>,
    pub root: Hash,
}

/// The log as read from a store: every read that `/v1/log` and the
/// registry serve.
pub struct LogReader<'a> {
    log: &'a TransparencyLog,
    store: &'a dyn Store,
}

impl TransparencyLog {
    /// This log's reads from `store`.
    #[must_use]
    pub fn reader<'a>(&'a self, store: &'a dyn Store) -> LogReader<'a> {
        LogReader { log: self, store }
    }
}

impl LogReader<'_> {
    /// Up to `limit` stored documents from log index `start` on, each with
    /// its entry checked against the tree ([`LogReader::checked_entries`]).
    ///
    /// # Errors
    /// As [`LogReader::checked_entries`].
    pub async fn entries(
        &self,
        start: u64,
        limit: u32,
    ) -> Result<Vec<(crate::store::StoredDocument, Vec<u8>)>> {
        let docs = self.store.documents_from(start, limit).await?;
        let entries = self.checked_entries(&docs).await?;
        Ok(docs.into_iter().zip(entries).collect())
    }

    /// The log index of the entry whose leaf hash is `leaf`.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn leaf_index(&self, leaf: &Hash) -> Result<Option<u64>> {
        Ok(self.store.leaf_index(leaf).await?)
    }

    /// The latest checkpoint.
    ///
    /// # Errors
    /// On storage failure, or when there is none (the log was never opened
    /// for writing by [`TransparencyLog::catch_up`]).
    pub async fn latest(&self) -> Result<CheckpointRecord> {
        self.store
            .latest_checkpoint()
            .await?
            .ok_or_else(|| TransparencyError::Inconsistent("no checkpoint yet".into()))
    }

    /// The root of the tree of `size` leaves (at most the latest size).
    ///
    /// # Errors
    /// On storage failure.
    pub async fn root(&self, size: u64) -> Result<Hash> {
        let hashes = self.store.log_hashes(&tree_hash_indexes(size)).await?;
        Ok(tree_hash(size, &hashes)?)
    }

    /// The inclusion proof of entry `index` in the tree of `size` leaves.
    /// The caller checks `index < size <= latest size`.
    ///
    /// # Errors
    /// On storage failure or bad coordinates.
    pub async fn inclusion(&self, index: u64, size: u64) -> Result<InclusionProof> {
        let need = inclusion_proof_indexes(size, index)?;
        let mut all = need.clone();
        all.extend(tree_hash_indexes(size));
        all.push(crate::log::merkle::stored_hash_index(0, index));
        let hashes = self.store.log_hashes(&all).await?;
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
    pub async fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        if old == new {
            return Ok(Vec::new());
        }
        let need = consistency_proof_indexes(old, new)?;
        let hashes = self.store.log_hashes(&need).await?;
        Ok(consistency_proof(old, new, &hashes)?)
    }

    /// A receipt for entry `index` against the latest checkpoint.
    ///
    /// # Errors
    /// On storage failure; `Ok(None)` when there is no such entry.
    pub async fn receipt(&self, index: u64) -> Result<Option<String>> {
        let cp = self.latest().await?;
        if index >= cp.size {
            return Ok(None);
        }
        let Some(doc) = self
            .store
            .documents_from(index, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let need = inclusion_proof_indexes(cp.size, index)?;
        let hashes = self.store.log_hashes(&need).await?;
        let entry = self
            .checked_entries(std::slice::from_ref(&doc))
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
    pub async fn hash_tile(&self, tile: TileRef) -> Result<Option<Vec<u8>>> {
        let size = self.latest().await?.size;
        if tile.level.is_none() || !tile.available_in(size) {
            return Ok(None);
        }
        let hashes = self.store.log_hashes(&tile.stored_indexes()).await?;
        Ok(Some(hashes.concat()))
    }

    /// An entry bundle, or `None` when the latest tree does not have all of it.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn entry_bundle(&self, tile: TileRef) -> Result<Option<Vec<u8>>> {
        let size = self.latest().await?.size;
        if tile.level.is_some() || !tile.available_in(size) {
            return Ok(None);
        }
        let (start, count) = tile.span();
        let docs = self
            .store
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
        let entries = self.checked_entries(&docs).await?;
        entry_bundle(entries.iter().map(Vec::as_slice))
            .map(Some)
            .map_err(|len| TransparencyError::Inconsistent(format!("an entry of {len} bytes")))
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
        docs: &[crate::store::StoredDocument],
    ) -> Result<Vec<Vec<u8>>> {
        let entries = docs
            .iter()
            .map(|d| d.doc.log_entry())
            .collect::<Result<Vec<_>, _>>()?;
        if docs.is_empty()
            || !self
                .log
                .check_served
                .load(std::sync::atomic::Ordering::Relaxed)
        {
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
        let stored = stored_tree_hashes(self.store, &indexes).await?;
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
}

/// Stored tree hashes at `indexes`; a missing one means the stored tree
/// was cut behind the registry's back.
pub(super) async fn stored_tree_hashes(store: &dyn Store, indexes: &[u64]) -> Result<Vec<Hash>> {
    store.log_hashes(indexes).await.map_err(|e| match e {
        StoreError::Corrupt(what) => {
            TransparencyError::Inconsistent(format!("the stored tree is incomplete ({what})"))
        }
        other => other.into(),
    })
}
