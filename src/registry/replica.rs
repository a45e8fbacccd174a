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
use crate::log::merkle::{leaf_hash, stored_hash_index};
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
    /// does (only the works of `shard`, if given), but writes nothing (the log is not caught up: a replica reads
    /// the primary's database, whose commits hold their log entries).
    ///
    /// # Errors
    /// As [`Registry::open`].
    pub async fn open_replica(
        store: Arc<dyn Store>,
        log: TransparencyLog,
        progress: &StartupProgress,
        shard: Option<crate::index::Shard>,
    ) -> Result<Self> {
        // The copy may grow while it is read (a standby replays the
        // primary's commits): the load reads the latest checkpoint first
        // and only the documents it covers.
        if let Some(cp) = store.latest_checkpoint().await? {
            if let Err(why) = signed_by(&log, &cp) {
                return Err(inconsistent(format!(
                    "the database's checkpoints are not signed by this key for the origin {} ({why}): a replica needs the primary's --key-file and --log-origin",
                    log.origin()
                )));
            }
        }
        let (check, frontier) = Self::load_index_as(&store, &log, progress, true, shard)
            .await
            .map_err(refuse_to_serve)?;
        Ok(Self {
            store,
            log,
            log_enabled: true,
            writer: Mutex::new(Timestamp::from_unix_nanos(0)),
            reserved: None,
            check: std::sync::RwLock::new(check),
            frontier: std::sync::Mutex::new(Some(frontier)),
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
        signed_by(&self.log, &cp).map_err(inconsistent)?;
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
        // The new entries are the log's: pushed onto the tree this replica
        // has checked so far, their leaves give the signed root (so the new
        // tree also extends the old one); and they are the stored tree's
        // leaves, which proofs are made of.
        let leaves: Vec<_> = docs
            .par_iter()
            .map(|d| d.doc.log_entry().map(|e| leaf_hash(&e)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| inconsistent(format!("a new document is not a log entry: {e}")))?;
        let mut tree = self
            .frontier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| inconsistent("this registry is not a replica".into()))?;
        if tree.size() != have {
            return Err(inconsistent(format!(
                "the checked tree has {} entries and the index {have}",
                tree.size()
            )));
        }
        for leaf in &leaves {
            tree.push(*leaf)
                .map_err(|e| inconsistent(format!("tree: {e}")))?;
        }
        let root = tree
            .root()
            .map_err(|e| inconsistent(format!("tree: {e}")))?;
        if root != cp.root {
            return Err(inconsistent(format!(
                "the documents {have}..{} do not give the root that the checkpoint of size {} signs",
                cp.size, cp.size
            )));
        }
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
        *self
            .frontier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tree);
        if let Some(broken) = self.with_index(|st| st.broken.clone()) {
            return Err(inconsistent(broken));
        }
        Ok(Followed { from, to: cp.size })
    }
}

/// Whether `cp` is signed by `log`'s key over its origin and the stored
/// size and root; if not, why.
pub(super) fn signed_by(
    log: &TransparencyLog,
    cp: &CheckpointRecord,
) -> std::result::Result<(), String> {
    let text = crate::log::note::open(&cp.note, std::slice::from_ref(log.verifier()))
        .map_err(|e| format!("checkpoint of size {}: {e}", cp.size))?;
    let signed = crate::log::note::Checkpoint::parse(text)
        .map_err(|e| format!("checkpoint of size {}: {e}", cp.size))?;
    if signed.origin != log.origin() || signed.size != cp.size || signed.root != cp.root {
        return Err(format!(
            "checkpoint of size {}: its note does not sign the stored origin, size and root",
            cp.size
        ));
    }
    Ok(())
}

fn inconsistent(what: String) -> super::RegistryError {
    TransparencyError::Inconsistent(format!("replica: {what}")).into()
}
