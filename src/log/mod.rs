//! The transparency log: entry bytes, an RFC 9162 Merkle tree over SHA-256
//! (leaf prefix `0x00`, node prefix `0x01`) with hashes stored in the dense
//! "stored hash index" layout of Go's `golang.org/x/mod/sumdb/tlog`,
//! inclusion and consistency proofs, C2SP signed-note checkpoints, C2SP
//! `tlog-tiles` paths and C2SP `tlog-proof` receipts. `spec/log.md` is the
//! normative description.
//!
//! Transport- and storage-free: callers read the hashes a computation needs
//! (each `*_indexes` function says which) and pass them in, so the same code
//! serves a database, a file of tiles or memory.

pub mod entry;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod tiles;
pub mod tree;

pub use merkle::{Hash, LogError};
