//! How the log's tree is laid out in rows (`log_leaves`, `checkpoints`):
//! shared by both backends.

use crate::domain::CheckpointRecord;
use crate::domain::Timestamp;
use crate::log::Hash;

use super::{Result, StoreError};

/// The key of a leaf hash in `log_leaves`: its first 8 bytes, big-endian.
pub(crate) fn leaf_prefix(leaf: &Hash) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&leaf[..8]);
    i64::from_be_bytes(b)
}

/// A `log_leaves` row: log index, leaf-hash prefix, the stored hashes the
/// leaf's append produced.
pub(crate) type LeafRow<'a> = (i64, i64, &'a [u8]);

/// Splits the stored hashes appended from stored index `start` into one row
/// per leaf of `leaves` (which must be the leaves that produced them, in order).
pub(crate) fn leaf_rows<'a>(
    start: u64,
    hashes: &'a [Hash],
    leaves: &[(Hash, u64)],
) -> Result<Vec<LeafRow<'a>>> {
    use crate::log::merkle::{stored_hash_index, stored_hashes_of_leaf};
    let bytes = hashes.as_flattened();
    let mut rows = Vec::with_capacity(leaves.len());
    let mut at = start;
    for (leaf, idx) in leaves {
        let count = stored_hashes_of_leaf(*idx);
        let from = stored_hash_index(0, *idx);
        let slice = usize::try_from(from - start)
            .ok()
            .zip(usize::try_from(count).ok())
            .and_then(|(o, c)| bytes.get(o * 32..(o + c) * 32))
            .filter(|_| from == at)
            .ok_or_else(|| StoreError::Corrupt(format!("log hashes of leaf {idx} out of step")))?;
        if slice[..32] != leaf[..] {
            return Err(StoreError::Corrupt(format!("leaf {idx}: hash out of step")));
        }
        let idx = i64::try_from(*idx).map_err(|_| StoreError::Corrupt("log index".into()))?;
        rows.push((idx, leaf_prefix(leaf), slice));
        at = from + count;
    }
    if at != start + hashes.len() as u64 {
        return Err(StoreError::Corrupt(
            "stored hashes without their leaf".into(),
        ));
    }
    Ok(rows)
}

/// The distinct `log_leaves` rows that hold the stored hashes at `indexes`.
pub(crate) fn owner_rows(indexes: &[u64]) -> Vec<i64> {
    let mut rows: Vec<i64> = indexes
        .iter()
        .map(|i| i64::try_from(crate::log::merkle::stored_hash_owner(*i).0).unwrap_or(i64::MAX))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// Picks the hashes at `indexes` out of the `(idx, hashes)` rows read for
/// [`owner_rows`].
pub(crate) fn pick_hashes(indexes: &[u64], rows: Vec<(i64, Vec<u8>)>) -> Result<Vec<Hash>> {
    let found: std::collections::HashMap<i64, Vec<u8>> = rows.into_iter().collect();
    indexes
        .iter()
        .map(|i| {
            let (leaf, offset) = crate::log::merkle::stored_hash_owner(*i);
            let row = i64::try_from(leaf)
                .ok()
                .and_then(|k| found.get(&k))
                .ok_or_else(|| StoreError::Corrupt(format!("log hash {i} is missing")))?;
            usize::try_from(offset)
                .ok()
                .and_then(|o| row.get(o * 32..o * 32 + 32))
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("log hash {i} is missing")))
        })
        .collect()
}

/// The log index whose leaf hash is `leaf`, among rows `(idx, hashes)`
/// sharing its prefix.
pub(crate) fn match_leaf(leaf: &Hash, candidates: Vec<(i64, Vec<u8>)>) -> Option<u64> {
    candidates
        .into_iter()
        .find(|(_, hashes)| hashes.get(..32) == Some(&leaf[..]))
        .and_then(|(idx, _)| u64::try_from(idx).ok())
}

pub(crate) fn checkpoint_from_parts(
    size: i64,
    root: &[u8],
    note: String,
    signed_at: i64,
) -> Result<CheckpointRecord> {
    Ok(CheckpointRecord {
        size: u64::try_from(size).map_err(|_| StoreError::Corrupt("checkpoint size".into()))?,
        root: root
            .try_into()
            .map_err(|_| StoreError::Corrupt("checkpoint root".into()))?,
        note,
        signed_at: Timestamp::from_unix_nanos(signed_at),
    })
}
