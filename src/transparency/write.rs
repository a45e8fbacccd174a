//! The write side: the tree grows inside the transaction that stores the
//! documents, and the checkpoint is signed before it commits.

use rayon::prelude::*;

use super::{Result, TransparencyError, TransparencyLog, PAGE};
use crate::domain::CheckpointRecord;
use crate::domain::Timestamp;
use crate::log::merkle::leaf_hash;
use crate::log::note::{self, Checkpoint};
use crate::log::proof::format_tlog_proof;
use crate::log::tree::Appender;
use crate::log::Hash;
use crate::store::{AppendTx, Document, Store};

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

impl TransparencyLog {
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
}
