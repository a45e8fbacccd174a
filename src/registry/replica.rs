//! A read-only registry: a replica that serves reads from a copy of the
//! primary's database (a PostgreSQL hot standby, or a SQLite file the
//! primary writes) and keeps its consent index level with the log as the
//! copy grows.
//!
//! Every commit of the primary holds its documents, their log entries and
//! the checkpoint that signs them, so any snapshot the replica reads is a
//! whole checkpoint. [`Registry::follow`] reads the latest checkpoint first,
//! then exactly the documents it covers, checks them against it, and moves
//! the index and the checkpoint together: checks on a replica answer at a
//! checkpoint whose every entry the index holds, never beyond.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::errors::Result;
use super::index_state::{parse_for_index, refuse_to_serve};
use super::{Registry, StartupProgress};
use crate::domain::{CheckpointRecord, Timestamp};
use crate::log::merkle::{leaf_hash, stored_hash_index, tree_hash, tree_hash_indexes};
use crate::store::Store;
use crate::transparency::{TransparencyError, TransparencyLog};
use rayon::prelude::*;

/// Documents read per page while following.
const FOLLOW_PAGE: u32 = 4096;

/// What one [`Registry::follow`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    /// The checkpoint size the index answers at before and after.
    pub from: u64,
    pub to: u64,
}

impl Registry {
    /// Opens a read-only registry over `store`: checks the stored data
    /// against the log and loads the consent index as [`Registry::open`]
    /// does, but writes nothing (the log is not caught up: a replica reads
    /// the primary's database, whose commits hold their log entries).
    ///
    /// # Errors
    /// As [`Registry::open`].
    pub async fn open_replica(
        store: Arc<dyn Store>,
        log: TransparencyLog,
        progress: &StartupProgress,
    ) -> Result<Self> {
        // The copy may grow while it is read (a standby replays the
        // primary's commits): a load that saw two states of it is tried
        // again; one that fails on a still copy fails.
        let mut tries = 0;
        let check = loop {
            let size = store.latest_checkpoint().await?.map(|c| c.size);
            match Self::load_index(&store, &log, progress).await {
                Ok(check) => break check,
                Err(e) => {
                    let moved = store.latest_checkpoint().await?.map(|c| c.size) != size;
                    tries += 1;
                    if !moved || tries >= 5 {
                        return Err(refuse_to_serve(e));
                    }
                    tracing::info!(error = %e, "the store changed while it was read; reading it again");
                }
            }
        };
        Ok(Self {
            store,
            log,
            log_enabled: true,
            writer: Mutex::new(Timestamp::from_unix_nanos(0)),
            reserved: None,
            check: std::sync::RwLock::new(check),
        })
    }

    /// Brings the consent index level with the latest checkpoint the store
    /// holds: reads that checkpoint, then the documents it adds, checks that
    /// they are the log's (the checkpoint's signature and root, the new
    /// entries' leaf hashes, and the old checkpoint's root unchanged), and
    /// applies them and the checkpoint at once.
    ///
    /// # Errors
    /// On storage failure, or when the store disagrees with the log (the
    /// index is left as it was).
    pub async fn follow(&self) -> Result<Followed> {
        let (have, old) = self.with_index(|st| (st.index.size(), st.checkpoint.clone()));
        let from = old.as_ref().map_or(0, |c| c.size);
        let Some(cp) = self.store.latest_checkpoint().await? else {
            return Ok(Followed { from, to: from });
        };
        if cp.size <= from {
            if cp.size < from {
                return Err(inconsistent(format!(
                    "the store's latest checkpoint has {} entries, fewer than the {from} this replica already serves",
                    cp.size
                )));
            }
            return Ok(Followed { from, to: from });
        }
        self.check_checkpoint(&cp, old.as_ref()).await?;
        let mut docs = Vec::new();
        let mut at = have;
        while at < cp.size {
            let limit = u32::try_from(cp.size - at)
                .unwrap_or(u32::MAX)
                .min(FOLLOW_PAGE);
            let page = self.store.documents_from(at, limit).await?;
            if page.is_empty() {
                return Err(inconsistent(format!(
                    "the checkpoint has {} entries but the store holds only {at} documents",
                    cp.size
                )));
            }
            at += page.len() as u64;
            docs.extend(
                page.into_iter()
                    .filter(|d| u64::try_from(d.seq).is_ok_and(|s| s < cp.size)),
            );
        }
        // The new entries are the log's: their leaf hashes are the stored
        // tree's leaves.
        let leaves: Vec<_> = docs
            .par_iter()
            .map(|d| d.doc.log_entry().map(|e| leaf_hash(&e)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| inconsistent(format!("a new document is not a log entry: {e}")))?;
        let indexes: Vec<u64> = (have..cp.size).map(|i| stored_hash_index(0, i)).collect();
        let stored = self.store.log_hashes(&indexes).await?;
        if stored != leaves {
            return Err(inconsistent(format!(
                "the documents {have}..{} are not the entries the log's tree holds",
                cp.size
            )));
        }
        let parsed = tokio::task::spawn_blocking(move || {
            parse_for_index(docs.par_iter().map(|d| (d.seq, &d.doc)))
        })
        .await
        .map_err(|e| super::RegistryError::Internal(e.to_string()))?;
        self.update_index(parsed, Some(cp.clone()));
        if let Some(broken) = self.with_index(|st| st.broken.clone()) {
            return Err(inconsistent(broken));
        }
        Ok(Followed { from, to: cp.size })
    }

    /// The checkpoint is signed by this log's key and says the size and
    /// root the store gives; the tree it signs keeps the tree of `old`.
    async fn check_checkpoint(
        &self,
        cp: &CheckpointRecord,
        old: Option<&CheckpointRecord>,
    ) -> Result<()> {
        let text = crate::log::note::open(&cp.note, std::slice::from_ref(self.log.verifier()))
            .map_err(|e| inconsistent(format!("checkpoint of size {}: {e}", cp.size)))?;
        let signed = crate::log::note::Checkpoint::parse(text)
            .map_err(|e| inconsistent(format!("checkpoint of size {}: {e}", cp.size)))?;
        if signed.origin != self.log.origin() || signed.size != cp.size || signed.root != cp.root {
            return Err(inconsistent(format!(
                "checkpoint of size {}: its note does not sign the stored origin, size and root",
                cp.size
            )));
        }
        for (size, want) in [(cp.size, cp.root)]
            .into_iter()
            .chain(old.map(|o| (o.size, o.root)))
        {
            let hashes = self.store.log_hashes(&tree_hash_indexes(size)).await?;
            let got = tree_hash(size, &hashes)
                .map_err(|e| inconsistent(format!("tree of {size} entries: {e}")))?;
            if got != want {
                return Err(inconsistent(format!(
                    "the stored tree of {size} entries does not have the root its checkpoint signs"
                )));
            }
        }
        Ok(())
    }
}

fn inconsistent(what: String) -> super::RegistryError {
    TransparencyError::Inconsistent(format!("replica: {what}")).into()
}
