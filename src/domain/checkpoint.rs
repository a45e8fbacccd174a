//! A checkpoint of the registry's log as the registry keeps it: the tree's
//! size and root, the signed note that commits to them (`spec/log.md` §4),
//! and when it was signed.

use super::Timestamp;

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub size: u64,
    /// The Merkle tree hash of the first `size` entries.
    pub root: [u8; 32],
    /// The signed note, verbatim.
    pub note: String,
    pub signed_at: Timestamp,
}
