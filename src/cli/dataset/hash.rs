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
use crate::domain::fingerprint::ImageCode;
use crate::domain::ContentHash;
use crate::fingerprint;

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
    hash_all_with(source, progress, false)
}

/// The Image-Code of a work's bytes: `(codes, why none)`. A file that is
/// not an image has no code and no error, unless its name says it is one.
pub(super) fn fingerprint_bytes(
    bytes: &[u8],
    named_image: bool,
) -> (Vec<ImageCode>, Option<String>) {
    match fingerprint::image_code(bytes) {
        Ok(code) => (vec![code], None),
        Err(fingerprint::Error::NotAnImage) if !named_image => (Vec::new(), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    }
}

/// As [`hash_all`]; with `fingerprints`, image works also get their ISCC
/// Image-Code (computed from the same read of the bytes).
///
/// # Errors
/// As [`hash_all`]. A work that cannot be fingerprinted is not an error:
/// its item says why in `fingerprint_error`.
pub fn hash_all_with(
    source: &Source,
    progress: Option<&ProgressBar>,
    fingerprints: bool,
) -> anyhow::Result<Vec<Item>> {
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
                let (hash, codes, fingerprint_error) = hash_file(&path, fingerprints)
                    .with_context(|| format!("hashing {}", path.display()))?;
                tick();
                Ok(Item {
                    label: label.clone(),
                    path: Some(path),
                    hash,
                    codes,
                    fingerprint_error,
                })
            })
            .collect(),
        Source::Manifest(manifest) => manifest
            .rows
            .par_iter()
            .map(|row| {
                let (hash, codes, fingerprint_error) = match (&row.hash, &row.path) {
                    (Some(hash), _) => (*hash, Vec::new(), None),
                    (None, Some(path)) => hash_file(path, fingerprints).with_context(|| {
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
                    codes,
                    fingerprint_error,
                })
            })
            .collect(),
        Source::Shards(shards) => {
            let per_shard = shards
                .par_iter()
                .map(|shard| hash_shard(shard, &tick, fingerprints))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(per_shard.into_iter().flatten().collect())
        }
    }
}

/// Whole-file BLAKE3: small files in one read, large ones streamed; with
/// `fingerprints`, the Image-Code of an image file too (read whole, up to
/// [`fingerprint::MAX_FILE_BYTES`]).
fn hash_file(
    path: &Path,
    fingerprints: bool,
) -> io::Result<(ContentHash, Vec<ImageCode>, Option<String>)> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let named_image = fingerprint::named_as_image(&path.to_string_lossy());
    let limit = if fingerprints && named_image {
        fingerprint::MAX_FILE_BYTES
    } else {
        READ_WHOLE_BELOW
    };
    if len < limit {
        let mut bytes = Vec::with_capacity(to_usize(len));
        file.read_to_end(&mut bytes)?;
        let hash = ContentHash::of(&bytes);
        if !fingerprints {
            return Ok((hash, Vec::new(), None));
        }
        let (codes, error) = fingerprint_bytes(&bytes, named_image);
        Ok((hash, codes, error))
    } else {
        let hash = hash_reader(file)?;
        let error = (fingerprints && named_image).then(|| {
            format!(
                "not fingerprinted: the file is larger than {} MiB",
                fingerprint::MAX_FILE_BYTES >> 20
            )
        });
        Ok((hash, Vec::new(), error))
    }
}

pub(super) fn hash_reader(reader: impl Read) -> io::Result<ContentHash> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(reader)?;
    Ok(ContentHash::from_bytes(*hasher.finalize().as_bytes()))
}
