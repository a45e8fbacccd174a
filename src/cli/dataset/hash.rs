//! Hashing the works of a source with BLAKE3 ([`hash_all`]): files in
//! parallel (small ones in one read, large ones streamed), shards in
//! parallel with each other.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{bail, Context};
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::shard::hash_shard;
use super::source::{Item, Source};
use super::to_usize;
use crate::domain::ContentHash;

/// Files smaller than this are read in one go; larger ones are streamed.
pub(super) const READ_WHOLE_BELOW: u64 = 16 * 1024 * 1024;

/// Hashes every work of `source`, one [`Item`] per file, manifest row or
/// sample, in source order. Files are hashed in parallel, shards in parallel
/// with each other. `progress` advances by one per item.
///
/// # Errors
/// When a file or shard cannot be read; the error names it (and the shard
/// member, or the manifest line).
pub fn hash_all(source: &Source, progress: Option<&ProgressBar>) -> anyhow::Result<Vec<Item>> {
    let tick = || {
        if let Some(progress) = progress {
            progress.inc(1);
        }
    };
    match source {
        Source::Folder(folder) => folder
            .files
            .par_iter()
            .map(|label| {
                let path = folder.root.join(label);
                let hash =
                    hash_file(&path).with_context(|| format!("hashing {}", path.display()))?;
                tick();
                Ok(Item {
                    label: label.clone(),
                    path: Some(path),
                    hash,
                })
            })
            .collect(),
        Source::Manifest(manifest) => manifest
            .rows
            .par_iter()
            .map(|row| {
                let hash = match (&row.hash, &row.path) {
                    (Some(hash), _) => *hash,
                    (None, Some(path)) => hash_file(path).with_context(|| {
                        format!(
                            "{} line {}: hashing {}",
                            manifest.path.display(),
                            row.line,
                            path.display()
                        )
                    })?,
                    // `manifest_row` refuses rows with neither.
                    (None, None) => bail!("line {}: no path and no hash", row.line),
                };
                tick();
                Ok(Item {
                    label: row.label.clone(),
                    path: row.path.clone(),
                    hash,
                })
            })
            .collect(),
        Source::Shards(shards) => {
            let per_shard = shards
                .par_iter()
                .map(|shard| hash_shard(shard, &tick))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(per_shard.into_iter().flatten().collect())
        }
    }
}

/// Whole-file BLAKE3: small files in one read, large ones streamed.
fn hash_file(path: &Path) -> io::Result<ContentHash> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < READ_WHOLE_BELOW {
        let mut bytes = Vec::with_capacity(to_usize(len));
        file.read_to_end(&mut bytes)?;
        Ok(ContentHash::of(&bytes))
    } else {
        hash_reader(file)
    }
}

pub(super) fn hash_reader(reader: impl Read) -> io::Result<ContentHash> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(reader)?;
    Ok(ContentHash::from_bytes(*hasher.finalize().as_bytes()))
}
