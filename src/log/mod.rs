//! The transparency log's mathematics: an RFC 9162 Merkle tree over SHA-256
//! (leaf prefix `0x00`, node prefix `0x01`), hashes stored in the dense
//! "stored hash index" layout of Go's `golang.org/x/mod/sumdb/tlog`, and
//! inclusion and consistency proofs, generated from stored hashes and
//! verified with the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! Transport- and storage-free: callers read the hashes a computation needs
//! (each `*_indexes` function says which) and pass them in, so the same code
//! serves a database, a file of tiles or memory.

pub mod merkle;
pub mod note;

pub use merkle::{Hash, LogError};
