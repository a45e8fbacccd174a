//! Reading a training set as it sits on disk, hashing its works locally and
//! writing back the subset that may be used.
//!
//! Three shapes of input ([`Source`], chosen by [`detect`]):
//! - a folder: every regular file under it is a work;
//! - a manifest, CSV or JSON Lines: each row names a file (`path`) or gives
//!   its hash (`hash`) directly;
//! - webdataset shards (`.tar`, as img2dataset writes them): each sample is
//!   a work, identified by its image member.
//!
//! [`hash_all`] turns a source into one [`Item`] per work, in source order;
//! [`write_filtered`] writes the kept items back in the input's own shape and
//! [`write_report`] writes one line per item with what the registry said.
//! Every output goes to a temporary file in the same directory first and is
//! renamed into place when complete.
//!
//! Paths written into an output file are relative to the folder of that
//! file ([`relative_to_file`]), the convention manifests are read with, so a
//! filtered manifest or a report can be moved together with its data and read
//! back as a manifest.
//!
//! This module reads and writes local files only: asking the registry is the
//! caller's business.
//!
//! Where things are:
//! - `source`: [`Source`], [`Item`], [`detect`] and [`count`];
//! - one reader per input kind: `folder`, `manifest` (CSV and JSON
//!   Lines), `shard` (webdataset tars: reading and copying samples);
//! - `hash`: [`hash_all`], BLAKE3 of files and streams;
//! - `filter`: [`write_filtered`], the kept subset in the input's shape;
//! - `report`: [`write_report`], one line per item;
//! - `atomic_file`: complete-or-absent output files;
//! - `paths`: how paths are written into output files.

mod atomic_file;
mod filter;
mod folder;
mod hash;
mod manifest;
mod paths;
mod report;
mod shard;
mod source;
#[cfg(test)]
mod test_support;

pub use atomic_file::write_file_atomically;
pub use filter::{write_filtered, FilterSummary};
pub use folder::Folder;
pub use hash::{hash_all, hash_all_with, Reading};
#[doc(hidden)]
pub use manifest::parse_manifest_bytes;
pub use manifest::{Manifest, ManifestFormat};
pub use paths::relative_to_file;
pub use report::{write_report, ReportRow};
pub use source::{count, detect, Item, Source};

/// Byte offsets and lengths of files held in memory fit in `usize`.
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
