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
use crate::signals::{self, FileSignals};

/// What to read from each work besides its hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// The ISCC Image-Code of image works.
    pub fingerprints: bool,
    /// The consent signals inside the files (C2PA, XMP).
    pub signals: bool,
}

/// What reading one file or member gave besides its hash.
#[derive(Default)]
pub(super) struct Looked {
    pub codes: Vec<ImageCode>,
    pub fingerprint_error: Option<String>,
    pub signals: Option<FileSignals>,
}

/// Fingerprints and signals of a work's bytes, as `reading` asks.
pub(super) fn look(
    bytes: &[u8],
    named_image: bool,
    reading: Reading,
    sidecar: Option<&[u8]>,
) -> Looked {
    let (codes, fingerprint_error) = if reading.fingerprints {
        fingerprint_bytes(bytes, named_image)
    } else {
        (Vec::new(), None)
    };
    Looked {
        codes,
        fingerprint_error,
        signals: reading.signals.then(|| signals::read(bytes, sidecar)),
    }
}

/// The signals of a work too large to read whole (more than `limit`
/// bytes): only a note saying so.
pub(super) fn not_looked(reading: Reading, limit: u64) -> Option<FileSignals> {
    reading.signals.then(|| FileSignals {
        findings: Vec::new(),
        notes: vec![format!(
            "metadata not read: the file is larger than {} MiB",
            limit >> 20
        )],
    })
}

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
    hash_all_with(source, progress, Reading::default())
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

/// As [`hash_all`]; with `reading.fingerprints`, image works also get
/// their ISCC Image-Code, and with `reading.signals` every work read whole
/// gets the consent signals inside it (both from the same read of the
/// bytes).
///
/// # Errors
/// As [`hash_all`]. A work that cannot be fingerprinted is not an error:
/// its item says why in `fingerprint_error`.
pub fn hash_all_with(
    source: &Source,
    progress: Option<&ProgressBar>,
    reading: Reading,
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
                let (hash, looked) = hash_file(&path, reading)
                    .with_context(|| format!("hashing {}", path.display()))?;
                tick();
                Ok(Item {
                    label: label.clone(),
                    path: Some(path),
                    hash,
                    codes: looked.codes,
                    fingerprint_error: looked.fingerprint_error,
                    signals: looked.signals,
                })
            })
            .collect(),
        Source::Manifest(manifest) => manifest
            .rows
            .par_iter()
            .map(|row| {
                let (hash, looked) = match (&row.hash, &row.path) {
                    (Some(hash), _) => (*hash, Looked::default()),
                    (None, Some(path)) => hash_file(path, reading).with_context(|| {
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
                    codes: looked.codes,
                    fingerprint_error: looked.fingerprint_error,
                    signals: looked.signals,
                })
            })
            .collect(),
        Source::Shards(shards) => {
            let per_shard = shards
                .par_iter()
                .map(|shard| hash_shard(shard, &tick, reading))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(per_shard.into_iter().flatten().collect())
        }
    }
}

/// Whole-file BLAKE3: small files in one read, large ones streamed; what
/// `reading` asks from the same read: the Image-Code of an image file (read
/// whole up to [`fingerprint::MAX_FILE_BYTES`]) and the signals of a file
/// read whole (with its `.c2pa` sidecar, if one is beside it).
fn hash_file(path: &Path, reading: Reading) -> io::Result<(ContentHash, Looked)> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let named_image = fingerprint::named_as_image(&path.to_string_lossy());
    let limit = if reading.fingerprints && named_image {
        fingerprint::MAX_FILE_BYTES
    } else {
        READ_WHOLE_BELOW
    };
    if len < limit {
        let mut bytes = Vec::with_capacity(to_usize(len));
        file.read_to_end(&mut bytes)?;
        let hash = ContentHash::of(&bytes);
        let (sidecar, sidecar_note) = if reading.signals {
            read_sidecar(path)
        } else {
            (None, None)
        };
        let mut looked = look(&bytes, named_image, reading, sidecar.as_deref());
        if let (Some(signals), Some(note)) = (looked.signals.as_mut(), sidecar_note) {
            signals.note(note);
        }
        Ok((hash, looked))
    } else {
        let hash = hash_reader(file)?;
        let fingerprint_error = (reading.fingerprints && named_image).then(|| {
            format!(
                "not fingerprinted: the file is larger than {} MiB",
                fingerprint::MAX_FILE_BYTES >> 20
            )
        });
        Ok((
            hash,
            Looked {
                codes: Vec::new(),
                fingerprint_error,
                signals: not_looked(reading, limit),
            },
        ))
    }
}

/// A C2PA sidecar: `<name without extension>.c2pa` beside the file (the
/// name `c2patool` writes), unless the file is itself one; at most
/// [`READ_WHOLE_BELOW`] bytes. A sidecar that is too large or cannot be
/// read is a note, never a failed check.
fn read_sidecar(path: &Path) -> (Option<Vec<u8>>, Option<String>) {
    if path.extension().is_some_and(|e| e == "c2pa") {
        return (None, None);
    }
    let sidecar = path.with_extension("c2pa");
    match std::fs::metadata(&sidecar) {
        Ok(meta) if meta.is_file() && meta.len() < READ_WHOLE_BELOW => {
            match std::fs::read(&sidecar) {
                Ok(bytes) => (Some(bytes), None),
                Err(e) => (
                    None,
                    Some(format!("the .c2pa sidecar could not be read: {e}")),
                ),
            }
        }
        Ok(meta) if meta.is_file() => (
            None,
            Some(format!(
                "the .c2pa sidecar is larger than {} MiB: not read",
                READ_WHOLE_BELOW >> 20
            )),
        ),
        Ok(_) => (None, None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
        Err(e) => (
            None,
            Some(format!("the .c2pa sidecar could not be read: {e}")),
        ),
    }
}

pub(super) fn hash_reader(reader: impl Read) -> io::Result<ContentHash> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(reader)?;
    Ok(ContentHash::from_bytes(*hasher.finalize().as_bytes()))
}
