//! The start-up check of the stored tree against the latest signed
//! checkpoint.

use super::read::stored_tree_hashes;
use super::{Result, TransparencyError, TransparencyLog};
use crate::domain::CheckpointRecord;
use crate::log::note::{self, Checkpoint};
use crate::log::tree::Appender;
use crate::log::Hash;
use crate::store::Store;

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

    /// The rebuilt tree's frontier, to push further leaves onto (a replica
    /// checks what it follows with it).
    #[must_use]
    pub fn into_frontier(mut self) -> Appender {
        let _ = self.tree.take_new();
        self.tree.frontier_only()
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
