//! What a training set is ([`Source`]), one work of it ([`Item`]), and
//! deciding from the input paths which kind of source they are ([`detect`]).

use std::fmt;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context};

use super::folder::{read_folder, Folder};
use super::manifest::{read_manifest, Manifest, ManifestFormat};
use super::paths::lowercase_extension;
use super::shard::shard_name;
use crate::domain::fingerprint::ImageCode;
use crate::domain::ContentHash;
use crate::signals::FileSignals;

/// A training set on disk.
#[derive(Debug)]
pub enum Source {
    /// Every regular file under one directory.
    Folder(Folder),
    /// A CSV or JSON Lines file listing works by path or by hash.
    Manifest(Manifest),
    /// Webdataset tar shards, in the order given.
    Shards(Vec<PathBuf>),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Folder(folder) => write!(
                f,
                "folder {} ({} files)",
                folder.root.display(),
                folder.files.len()
            ),
            Self::Manifest(manifest) => write!(
                f,
                "{} manifest {} ({} rows)",
                manifest.format,
                manifest.path.display(),
                manifest.rows.len()
            ),
            Self::Shards(shards) => write!(f, "{} webdataset shard(s)", shards.len()),
        }
    }
}

/// One work of a source: a file, a manifest row or a webdataset sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Folder: the path relative to the folder, `/`-separated. Manifest: the
    /// row's `path` as written, or `<manifest file name>:<line>` for a row
    /// with a hash only. Shards: `<shard file name>:<sample key>`.
    pub label: String,
    /// The file whose bytes are the work (for a manifest row, its resolved
    /// `path`, even when the row's `hash` was used). `None` for shard samples
    /// and hash-only manifest rows.
    pub path: Option<PathBuf>,
    pub hash: ContentHash,
    /// The work's ISCC Image-Code, when it was asked for and the work is
    /// an image (`consentry check` sends it for near matching).
    pub codes: Vec<ImageCode>,
    /// Why an image-looking work has no code (damaged, too large, not an
    /// image after all).
    pub fingerprint_error: Option<String>,
    /// The consent signals found inside the file (C2PA, XMP), when they
    /// were looked for; `None` when they were not (or there are no bytes).
    pub signals: Option<FileSignals>,
}

/// Decides what the input paths are and reads the listing (folder walk,
/// manifest parse) so that [`count`] is known before hashing.
///
/// - one directory: a [`Source::Folder`];
/// - one `.csv`, `.jsonl` or `.ndjson` file: a [`Source::Manifest`];
/// - one or more `.tar` files: [`Source::Shards`].
///
/// # Errors
/// When the paths fit none of these, cannot be read, or a manifest row is
/// malformed (the error names the line).
pub fn detect(inputs: &[PathBuf]) -> anyhow::Result<Source> {
    let [first, rest @ ..] = inputs else {
        bail!("no input given: name a folder, a manifest (.csv, .jsonl) or .tar shards");
    };
    let first_meta = fs::metadata(first).with_context(|| format!("reading {}", first.display()))?;
    if rest.is_empty() && first_meta.is_dir() {
        return Ok(Source::Folder(read_folder(first)?));
    }
    if rest.is_empty() {
        if let Some(format) = ManifestFormat::from_path(first) {
            return Ok(Source::Manifest(read_manifest(first, format)?));
        }
    }
    let mut names = std::collections::HashSet::new();
    for input in inputs {
        let meta = fs::metadata(input).with_context(|| format!("reading {}", input.display()))?;
        if lowercase_extension(input).as_deref() != Some("tar") || !meta.is_file() {
            bail!(
                "{} is not a .tar shard: give one folder, one manifest (.csv, .jsonl, .ndjson), \
                 or one or more .tar shards",
                input.display()
            );
        }
        if !names.insert(shard_name(input)) {
            bail!(
                "two shards are named {}: shard file names must be distinct",
                shard_name(input)
            );
        }
    }
    Ok(Source::Shards(inputs.to_vec()))
}

/// The number of items [`hash_all`](super::hash_all) will return, when it
/// is known without reading the works: folders and manifests, not shards.
#[must_use]
pub fn count(source: &Source) -> Option<u64> {
    match source {
        Source::Folder(folder) => Some(folder.files.len() as u64),
        Source::Manifest(manifest) => Some(manifest.rows.len() as u64),
        Source::Shards(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::dataset::test_support::{error_text, put};

    #[test]
    fn detect_refuses_mixed_or_unknown_inputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shard = dir.path().join("a.tar");
        put(&shard, b"");
        let notes = dir.path().join("notes.txt");
        put(&notes, b"");
        let e = error_text(detect(&[shard.clone(), notes.clone()]));
        assert!(e.contains("notes.txt is not a .tar shard"), "{e}");
        let e = error_text(detect(&[notes]));
        assert!(e.contains("is not a .tar shard"), "{e}");
        let e = error_text(detect(&[shard.clone(), dir.path().to_owned()]));
        assert!(e.contains("is not a .tar shard"), "{e}");
        let e = error_text(detect(&[shard.clone(), shard]));
        assert!(e.contains("two shards are named a.tar"), "{e}");
        assert!(error_text(detect(&[])).contains("no input"));
    }
}
