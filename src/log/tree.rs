//! Growing the tree: an [`Appender`] starts from the right edge of a stored
//! tree (its "frontier": the roots of the complete subtrees that
//! [`tree_hash_indexes`] names), takes leaves, and hands back the stored
//! hashes to write, which are contiguous in the stored-hash layout. It keeps
//! every hash it has seen, so proofs into the new part of the tree need no
//! further reads.

use std::collections::HashMap;

use super::merkle::{
    append_indexes, hashes_to_store, split, stored_hash_count, stored_hash_index, tree_hash,
    tree_hash_indexes, Hash, LogError,
};

/// Appends leaves to a tree whose frontier was read from storage.
#[derive(Debug, Clone)]
pub struct Appender {
    size: u64,
    known: HashMap<u64, Hash>,
    /// Stored hashes produced since the last [`Appender::take_new`], and the
    /// stored index of the first of them.
    pending_start: u64,
    pending: Vec<Hash>,
    /// Keep only the frontier (for replaying a whole log: memory stays at
    /// about 64 hashes, and nothing is kept for proofs or for writing).
    frontier_only: bool,
    /// With `frontier_only`, still hand back new stored hashes through
    /// [`Appender::take_new`] (for checking a stored tree while replaying it).
    emit_new: bool,
}

impl Appender {
    /// The stored hashes [`Appender::new`] needs for a tree of `size` leaves.
    #[must_use]
    pub fn frontier_indexes(size: u64) -> Vec<u64> {
        tree_hash_indexes(size)
    }

    /// Starts from a tree of `size` leaves, given the hashes named by
    /// [`Appender::frontier_indexes`]`(size)`, in that order.
    ///
    /// # Errors
    /// When the number of hashes is wrong.
    pub fn new(size: u64, frontier: &[Hash]) -> Result<Self, LogError> {
        let indexes = Self::frontier_indexes(size);
        if indexes.len() != frontier.len() {
            return Err(LogError::MissingHashes {
                expected: indexes.len(),
                got: frontier.len(),
            });
        }
        Ok(Self {
            size,
            known: indexes.into_iter().zip(frontier.iter().copied()).collect(),
            pending_start: stored_hash_count(size),
            pending: Vec::new(),
            frontier_only: false,
            emit_new: false,
        })
    }

    /// Keeps only what appending needs: [`Appender::take_new`] then returns
    /// nothing and proofs are not available.
    #[must_use]
    pub fn frontier_only(mut self) -> Self {
        self.frontier_only = true;
        self
    }

    /// Keeps only the frontier, like [`Appender::frontier_only`], but still
    /// hands back the stored hashes each leaf produces through
    /// [`Appender::take_new`] (the caller drains them): for comparing a
    /// whole stored tree with the one its leaves make, in bounded memory.
    #[must_use]
    pub fn frontier_and_new(mut self) -> Self {
        self.frontier_only = true;
        self.emit_new = true;
        self
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash; returns its index.
    ///
    /// # Errors
    /// Never for an appender built by [`Appender::new`]; an error means the
    /// frontier was inconsistent.
    pub fn push(&mut self, leaf: Hash) -> Result<u64, LogError> {
        let n = self.size;
        let siblings = append_indexes(n)
            .into_iter()
            .map(|i| {
                self.known.get(&i).copied().ok_or(LogError::MissingHashes {
                    expected: 1,
                    got: 0,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let new = hashes_to_store(n, leaf, &siblings)?;
        let base = stored_hash_index(0, n);
        if self.frontier_only {
            for i in append_indexes(n) {
                self.known.remove(&i);
            }
            let top = new.len() - 1;
            self.known.insert(base + top as u64, new[top]);
            if self.emit_new {
                self.pending.extend_from_slice(&new);
            }
        } else {
            for (j, h) in new.iter().enumerate() {
                self.known.insert(base + j as u64, *h);
            }
            self.pending.extend_from_slice(&new);
        }
        self.size += 1;
        Ok(n)
    }

    /// The root of the current tree.
    ///
    /// # Errors
    /// Never for a consistent appender.
    pub fn root(&self) -> Result<Hash, LogError> {
        let hashes = self.lookup(&tree_hash_indexes(self.size))?;
        tree_hash(self.size, &hashes)
    }

    /// The stored hash at `index`, if this appender has seen it.
    #[must_use]
    pub fn get(&self, index: u64) -> Option<Hash> {
        self.known.get(&index).copied()
    }

    /// The hashes at `indexes`, all of which must be known.
    ///
    /// # Errors
    /// When one is not.
    pub fn lookup(&self, indexes: &[u64]) -> Result<Vec<Hash>, LogError> {
        indexes
            .iter()
            .map(|i| self.get(*i))
            .collect::<Option<Vec<_>>>()
            .ok_or(LogError::MissingHashes {
                expected: indexes.len(),
                got: 0,
            })
    }

    /// The RFC 9162 inclusion proof of leaf `index` in the tree of the
    /// current size, from the hashes this appender has seen. Hashes of
    /// incomplete subtrees are kept in `memo` (proofs of neighbouring leaves
    /// share most of them).
    ///
    /// # Errors
    /// When `index` is out of range or a needed hash was never seen.
    pub fn inclusion_proof(
        &self,
        index: u64,
        memo: &mut HashMap<(u64, u64), Hash>,
    ) -> Result<Vec<Hash>, LogError> {
        if index >= self.size {
            return Err(LogError::Range(format!(
                "leaf {index} is not in a tree of {}",
                self.size
            )));
        }
        let mut path = Vec::new();
        self.path(0, self.size, index, memo, &mut path)?;
        Ok(path)
    }

    fn path(
        &self,
        lo: u64,
        hi: u64,
        index: u64,
        memo: &mut HashMap<(u64, u64), Hash>,
        out: &mut Vec<Hash>,
    ) -> Result<(), LogError> {
        if hi - lo == 1 {
            return Ok(());
        }
        let (k, _) = split(hi - lo);
        if index < lo + k {
            self.path(lo, lo + k, index, memo, out)?;
            out.push(self.subtree(lo + k, hi, memo)?);
        } else {
            self.path(lo + k, hi, index, memo, out)?;
            out.push(self.subtree(lo, lo + k, memo)?);
        }
        Ok(())
    }

    /// `MTH` of leaves `[lo, hi)`.
    fn subtree(
        &self,
        lo: u64,
        hi: u64,
        memo: &mut HashMap<(u64, u64), Hash>,
    ) -> Result<Hash, LogError> {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let level = n.trailing_zeros();
            return self.get(stored_hash_index(level, lo >> level)).ok_or(
                LogError::MissingHashes {
                    expected: 1,
                    got: 0,
                },
            );
        }
        if let Some(h) = memo.get(&(lo, hi)) {
            return Ok(*h);
        }
        let (k, _) = split(n);
        let h = super::merkle::node_hash(
            &self.subtree(lo, lo + k, memo)?,
            &self.subtree(lo + k, hi, memo)?,
        );
        memo.insert((lo, hi), h);
        Ok(h)
    }

    /// The stored hashes to write since the last call: the stored index of
    /// the first, and the hashes in index order.
    pub fn take_new(&mut self) -> (u64, Vec<Hash>) {
        let start = self.pending_start;
        let hashes = std::mem::take(&mut self.pending);
        self.pending_start = start + hashes.len() as u64;
        (start, hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::merkle::{inclusion_proof, inclusion_proof_indexes, leaf_hash};
    use super::*;

    #[test]
    fn frontier_and_new_hands_back_what_a_full_appender_stores() {
        let leaves: Vec<Hash> = (0u32..1000).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut full = Appender::new(0, &[]).expect("empty");
        let mut lean = Appender::new(0, &[]).expect("empty").frontier_and_new();
        let mut lean_all = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            full.push(*l).expect("push");
            lean.push(*l).expect("push");
            if i % 97 == 0 {
                let (start, h) = lean.take_new();
                assert_eq!(start, lean_all.len() as u64);
                lean_all.extend(h);
            }
        }
        lean_all.extend(lean.take_new().1);
        assert_eq!(full.take_new().1, lean_all);
        assert_eq!(full.root().expect("root"), lean.root().expect("root"));
        assert!(lean.known.len() < 64, "only the frontier is kept");
    }

    #[test]
    fn appending_in_pieces_matches_appending_at_once() {
        let leaves: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut whole = Appender::new(0, &[]).expect("empty");
        for l in &leaves {
            whole.push(*l).expect("push");
        }
        let (start, all) = whole.take_new();
        assert_eq!(start, 0);
        assert_eq!(all.len() as u64, stored_hash_count(300));
        for split in [1u64, 2, 7, 128, 255, 256, 299] {
            // Resume from a stored prefix, as a new transaction would.
            let frontier: Vec<Hash> = Appender::frontier_indexes(split)
                .iter()
                .map(|i| all[usize::try_from(*i).expect("small")])
                .collect();
            let mut a = Appender::new(split, &frontier).expect("frontier");
            for l in &leaves[usize::try_from(split).expect("small")..] {
                a.push(*l).expect("push");
            }
            let (start, tail) = a.take_new();
            assert_eq!(start, stored_hash_count(split));
            assert_eq!(&all[usize::try_from(start).expect("small")..], &tail[..]);
            assert_eq!(a.root(), whole.root());
            // Proofs for new leaves need only what the appender has seen,
            // and the memoised ones are the stored-hash ones.
            let mut memo = HashMap::new();
            for n in split..300 {
                let need = inclusion_proof_indexes(300, n).expect("in range");
                let hashes = a.lookup(&need).expect("all known");
                let proof = inclusion_proof(300, n, &hashes).expect("proof");
                assert_eq!(a.inclusion_proof(n, &mut memo), Ok(proof));
            }
        }
    }

    #[test]
    fn a_frontier_only_appender_has_the_same_roots() {
        let mut full = Appender::new(0, &[]).expect("empty");
        let mut lean = Appender::new(0, &[]).expect("empty").frontier_only();
        for i in 0u32..1000 {
            let l = leaf_hash(&i.to_be_bytes());
            full.push(l).expect("push");
            lean.push(l).expect("push");
            assert_eq!(full.root(), lean.root());
            assert!(lean.known.len() <= 11);
        }
    }

    #[test]
    fn wrong_frontier_is_refused() {
        assert!(Appender::new(3, &[[0; 32]]).is_err());
    }
}
