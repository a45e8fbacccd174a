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

use std::borrow::Cow;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, ensure, Context};
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::Serialize;

use crate::domain::ContentHash;

/// Files smaller than this are read in one go; larger ones are streamed.
const READ_WHOLE_BELOW: u64 = 16 * 1024 * 1024;

/// Buffer size for reading and writing shards.
const SHARD_BUFFER: usize = 1 << 20;

/// Extensions (everything after the first dot, lowercased) of the member
/// that is a webdataset sample's work.
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "avif", "jxl",
];

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

/// A directory whose regular files are the works.
#[derive(Debug)]
pub struct Folder {
    root: PathBuf,
    /// Paths relative to `root`, `/`-separated, sorted component-wise.
    files: Vec<String>,
}

impl Folder {
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The files, relative to [`Folder::root`] and `/`-separated, in order.
    #[must_use]
    pub fn files(&self) -> &[String] {
        &self.files
    }
}

/// The two manifest formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    Csv,
    Jsonl,
}

impl ManifestFormat {
    /// The format an output or input file name asks for: `.csv`, or
    /// `.jsonl` / `.ndjson` (case-insensitive).
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Self> {
        match lowercase_extension(path).as_deref() {
            Some("csv") => Some(Self::Csv),
            Some("jsonl" | "ndjson") => Some(Self::Jsonl),
            _ => None,
        }
    }
}

impl fmt::Display for ManifestFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "CSV",
            Self::Jsonl => "JSON Lines",
        })
    }
}

/// A parsed manifest. The file's bytes are kept so that kept rows can be
/// written back exactly as they were.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    format: ManifestFormat,
    text: Vec<u8>,
    /// The CSV header line, without its line terminator.
    header: Option<Range<usize>>,
    /// The input's line terminator, used when writing rows back.
    newline: &'static str,
    rows: Vec<ManifestRow>,
}

#[derive(Debug)]
struct ManifestRow {
    /// 1-based line number where the row starts.
    line: usize,
    /// The row's bytes in `Manifest::text`, without its line terminator.
    raw: Range<usize>,
    label: String,
    path: Option<PathBuf>,
    hash: Option<ContentHash>,
}

impl Manifest {
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    #[must_use]
    pub fn format(&self) -> ManifestFormat {
        self.format
    }

    /// The number of rows (works) in the manifest.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
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
}

/// `path` as written into the file `file`: relative to `file`'s folder
/// (`..` where needed), `/`-separated; absolute when they share no root.
///
/// # Errors
/// When the working directory cannot be read (for relative inputs).
pub fn relative_to_file(path: &Path, file: &Path) -> io::Result<String> {
    use std::path::Component;
    let path = std::path::absolute(path)?;
    let file = std::path::absolute(file)?;
    let base = file.parent().unwrap_or(Path::new("/"));
    // Lexical: `.` dropped, `..` pops (absolute() keeps them).
    let normal = |p: &Path| {
        let mut out: Vec<Component<'_>> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out.into_iter()
            .map(|c| c.as_os_str().to_owned())
            .collect::<Vec<_>>()
    };
    let (p, b) = (normal(&path), normal(base));
    if p.first() != b.first() {
        return Ok(path.to_string_lossy().into_owned());
    }
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); b.len() - common];
    parts.extend(p[common..].iter().map(|c| c.to_string_lossy().into_owned()));
    Ok(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

/// What the caller learned about one item, for [`write_report`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportRow {
    pub status: String,
    pub terms: serde_json::Value,
    pub claimants: Vec<String>,
    pub statements: Vec<String>,
    pub disputed: bool,
}

/// What [`write_filtered`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterSummary {
    pub kept: usize,
    pub dropped: usize,
    pub files_written: usize,
}

// ---------------------------------------------------------------------------
// Detecting the source

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

/// The number of items [`hash_all`] will return, when it is known without
/// reading the works: folders and manifests, not shards.
#[must_use]
pub fn count(source: &Source) -> Option<u64> {
    match source {
        Source::Folder(folder) => Some(folder.files.len() as u64),
        Source::Manifest(manifest) => Some(manifest.rows.len() as u64),
        Source::Shards(_) => None,
    }
}

fn read_folder(root: &Path) -> anyhow::Result<Folder> {
    let mut files = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(relative_dir) = pending.pop() {
        let dir = root.join(&relative_dir);
        let entries = fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                bail!(
                    "{} has a file name that is not UTF-8; rename it",
                    entry.path().display()
                );
            };
            if name.starts_with('.') {
                continue;
            }
            let label = if relative_dir.is_empty() {
                name.to_owned()
            } else {
                format!("{relative_dir}/{name}")
            };
            let file_type = entry
                .file_type()
                .with_context(|| format!("reading {}", entry.path().display()))?;
            if file_type.is_dir() {
                pending.push(label);
            } else if file_type.is_file() {
                files.push(label);
            } else if file_type.is_symlink() {
                // A link to a file counts as that file; links to directories
                // are not followed, broken links are not files.
                if fs::metadata(entry.path()).is_ok_and(|meta| meta.is_file()) {
                    files.push(label);
                }
            }
        }
    }
    files.sort_unstable_by(|a, b| a.split('/').cmp(b.split('/')));
    Ok(Folder {
        root: root.to_owned(),
        files,
    })
}

// ---------------------------------------------------------------------------
// Manifests

/// Parses manifest bytes as `format` and returns the number of rows (the
/// readers `consentry check` uses; for fuzzing).
///
/// # Errors
/// A malformed row, named by its line.
#[doc(hidden)]
pub fn parse_manifest_bytes(text: &[u8], format: ManifestFormat) -> anyhow::Result<usize> {
    let parsed = match format {
        ManifestFormat::Csv => parse_csv(text, Path::new(""), "manifest"),
        ManifestFormat::Jsonl => parse_jsonl(text, Path::new(""), "manifest"),
    }?;
    Ok(parsed.rows.len())
}

fn read_manifest(path: &Path, format: ManifestFormat) -> anyhow::Result<Manifest> {
    let text = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let base = path.parent().unwrap_or_else(|| Path::new(""));
    let manifest_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let parsed = match format {
        ManifestFormat::Csv => parse_csv(&text, base, &manifest_name),
        ManifestFormat::Jsonl => parse_jsonl(&text, base, &manifest_name),
    }
    .with_context(|| format!("reading manifest {}", path.display()))?;
    // Rows are written back with the input's first line terminator.
    let newline = match text.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && text[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    };
    Ok(Manifest {
        path: path.to_owned(),
        format,
        text,
        header: parsed.header,
        newline,
        rows: parsed.rows,
    })
}

struct ParsedManifest {
    header: Option<Range<usize>>,
    rows: Vec<ManifestRow>,
}

/// Counts lines up to byte offsets that only grow.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte `offset`.
    fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        if offset >= self.offset {
            self.line += self.text[self.offset..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.offset = offset;
            self.line
        } else {
            1 + self.text[..offset].iter().filter(|&&b| b == b'\n').count()
        }
    }
}

/// `range` without leading and trailing line terminators: an unquoted CSV
/// field holds neither, so those bytes are record separators.
fn trim_newlines(text: &[u8], mut range: Range<usize>) -> Range<usize> {
    while range.start < range.end && matches!(text[range.start], b'\r' | b'\n') {
        range.start += 1;
    }
    while range.start < range.end && matches!(text[range.end - 1], b'\r' | b'\n') {
        range.end -= 1;
    }
    range
}

/// Reads a row's `path` and `hash` values (already trimmed; empty means
/// absent) into a row.
fn manifest_row(
    line: usize,
    raw: Range<usize>,
    path: &str,
    hash: &str,
    base: &Path,
    manifest_name: &str,
) -> anyhow::Result<ManifestRow> {
    let hash = if hash.is_empty() {
        None
    } else {
        Some(
            hash.parse::<ContentHash>()
                .map_err(|e| anyhow::anyhow!("line {line}: `hash` {hash:?}: {e}"))?,
        )
    };
    let (label, path) = if path.is_empty() {
        if hash.is_none() {
            bail!("line {line}: the row has neither a `path` nor a `hash`");
        }
        (format!("{manifest_name}:{line}"), None)
    } else {
        (path.to_owned(), Some(base.join(path)))
    };
    Ok(ManifestRow {
        line,
        raw,
        label,
        path,
        hash,
    })
}

fn parse_csv(text: &[u8], base: &Path, manifest_name: &str) -> anyhow::Result<ParsedManifest> {
    let mut lines = LineCounter::new(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text);
    let header = reader
        .byte_headers()
        .map_err(|e| anyhow::anyhow!("line 1: {e}"))?
        .clone();
    let header_end = to_usize(reader.position().byte());
    let column = |name: &str| {
        header.iter().position(|field| {
            std::str::from_utf8(field).is_ok_and(|f| {
                f.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(name)
            })
        })
    };
    let (path_column, hash_column) = (column("path"), column("hash"));
    if path_column.is_none() && hash_column.is_none() {
        let found: Vec<Cow<'_, str>> = header.iter().map(String::from_utf8_lossy).collect();
        bail!(
            "line 1: the header needs a `path` or a `hash` column, found: {}",
            found.join(", ")
        );
    }
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| {
                    lines.line_at(skip_newlines(text, to_usize(p.byte())))
                });
                match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => bail!(
                        "line {line}: the row has {len} fields, the header has {expected_len}"
                    ),
                    _ => bail!("line {line}: {e}"),
                }
            }
        }
        let start = record.position().map_or(0, |p| to_usize(p.byte()));
        let raw = trim_newlines(text, start..to_usize(reader.position().byte()));
        let line = lines.line_at(raw.start);
        let field = |column: Option<usize>, name: &str| -> anyhow::Result<&str> {
            let Some(bytes) = column.and_then(|c| record.get(c)) else {
                return Ok("");
            };
            std::str::from_utf8(bytes)
                .map(str::trim)
                .map_err(|_| anyhow::anyhow!("line {line}: `{name}` is not UTF-8"))
        };
        let path = field(path_column, "path")?;
        let hash = field(hash_column, "hash")?;
        rows.push(manifest_row(line, raw, path, hash, base, manifest_name)?);
    }
    Ok(ParsedManifest {
        header: Some(trim_newlines(text, 0..header_end)),
        rows,
    })
}

fn skip_newlines(text: &[u8], mut offset: usize) -> usize {
    while offset < text.len() && matches!(text[offset], b'\r' | b'\n') {
        offset += 1;
    }
    offset
}

fn parse_jsonl(text: &[u8], base: &Path, manifest_name: &str) -> anyhow::Result<ParsedManifest> {
    let mut rows = Vec::new();
    let mut start = 0;
    for (index, line_bytes) in text.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = trim_newlines(text, start..start + line_bytes.len());
        start += line_bytes.len() + 1;
        let Ok(line_text) = std::str::from_utf8(&text[raw.clone()]) else {
            bail!("line {line}: not UTF-8");
        };
        if line_text.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line_text)
            .map_err(|e| anyhow::anyhow!("line {line}: not JSON: {e}"))?;
        let Some(object) = value.as_object() else {
            bail!("line {line}: expected a JSON object");
        };
        let member = |name: &str| -> anyhow::Result<&str> {
            match object.get(name) {
                None | Some(serde_json::Value::Null) => Ok(""),
                Some(serde_json::Value::String(s)) => Ok(s.trim()),
                Some(_) => bail!("line {line}: `{name}` must be a string"),
            }
        };
        let path = member("path")?;
        let hash = member("hash")?;
        rows.push(manifest_row(line, raw, path, hash, base, manifest_name)?);
    }
    Ok(ParsedManifest { header: None, rows })
}

// ---------------------------------------------------------------------------
// Hashing

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

fn hash_reader(reader: impl Read) -> io::Result<ContentHash> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(reader)?;
    Ok(ContentHash::from_bytes(*hasher.finalize().as_bytes()))
}

/// A shard's file name, used in labels and as the filtered shard's name.
fn shard_name(shard: &Path) -> String {
    shard.file_name().map_or_else(
        || shard.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Splits a member name the webdataset way: the key is the name up to the
/// first dot of its basename (directory prefix included), the extension is
/// everything after that dot.
fn split_member_name(name: &str) -> (&str, &str) {
    let base_start = name.rfind('/').map_or(0, |i| i + 1);
    match name[base_start..].find('.') {
        Some(dot) => (&name[..base_start + dot], &name[base_start + dot + 1..]),
        None => (name, ""),
    }
}

fn is_image_extension(extension: &str) -> bool {
    let extension = extension.to_ascii_lowercase();
    IMAGE_EXTENSIONS.contains(&extension.as_str())
}

/// The sample being read: its key and the hash of its work so far.
struct SampleHash {
    key: String,
    hash: ContentHash,
    from_image: bool,
}

fn open_shard(shard: &Path) -> anyhow::Result<tar::Archive<BufReader<File>>> {
    let file = File::open(shard).with_context(|| format!("opening shard {}", shard.display()))?;
    Ok(tar::Archive::new(BufReader::with_capacity(
        SHARD_BUFFER,
        file,
    )))
}

fn hash_shard(shard: &Path, tick: &(impl Fn() + Sync)) -> anyhow::Result<Vec<Item>> {
    let name = shard_name(shard);
    let mut archive = open_shard(shard)?;
    let mut items = Vec::new();
    let mut current: Option<SampleHash> = None;
    let mut finish = |sample: SampleHash| {
        tick();
        items.push(Item {
            label: format!("{name}:{}", sample.key),
            path: None,
            hash: sample.hash,
        });
    };
    let entries = archive
        .entries()
        .with_context(|| format!("reading shard {}", shard.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("reading shard {}", shard.display()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let (key, extension) = split_member_name(&member);
        let image = is_image_extension(extension);
        let read_member = |entry: &mut dyn Read| {
            hash_reader(entry)
                .with_context(|| format!("reading member {member} of shard {}", shard.display()))
        };
        match &mut current {
            Some(sample) if sample.key == key => {
                if image && !sample.from_image {
                    sample.hash = read_member(&mut entry)?;
                    sample.from_image = true;
                }
            }
            _ => {
                let started = SampleHash {
                    key: key.to_owned(),
                    hash: read_member(&mut entry)?,
                    from_image: image,
                };
                if let Some(done) = current.replace(started) {
                    finish(done);
                }
            }
        }
    }
    if let Some(done) = current {
        finish(done);
    }
    Ok(items)
}

// ---------------------------------------------------------------------------
// Writing

/// Writes the kept items (`keep[i]` for `items[i]`, as returned by
/// [`hash_all`] for this `source`) in the input's shape:
///
/// - manifest → the file `out`, same format: the CSV header and the kept
///   rows' original text, or the kept JSON lines, verbatim; `out` must then be
///   in the input manifest's folder when rows hold relative paths (they are
///   relative to the manifest's folder);
/// - folder → the manifest file `out`: JSON Lines `{"path","hash"}` when it
///   ends in `.jsonl` / `.ndjson`, CSV `path,hash` otherwise; paths relative
///   to the folder of `out` (so `out` reads back as a manifest input);
/// - shards → the directory `out` (created if missing): one shard per input
///   shard, same file name, holding every member of each kept sample in the
///   original order. Existing shard files are never overwritten.
///
/// Outputs are complete or absent: each is written to a temporary file next
/// to it and renamed into place (for shards, once all are written).
///
/// # Errors
/// When `keep` or `items` do not match the source (a shard that changed
/// since it was hashed included), `out` would overwrite the input manifest or
/// an existing shard, a manifest's relative paths would point elsewhere from
/// `out`'s folder, or writing fails.
pub fn write_filtered(
    source: &Source,
    items: &[Item],
    keep: &[bool],
    out: &Path,
) -> anyhow::Result<FilterSummary> {
    ensure!(
        keep.len() == items.len(),
        "{} keep decisions for {} items",
        keep.len(),
        items.len()
    );
    let kept = keep.iter().filter(|&&k| k).count();
    let summary = FilterSummary {
        kept,
        dropped: items.len() - kept,
        files_written: 1,
    };
    match source {
        Source::Manifest(manifest) => {
            ensure_same_labels(items, manifest.rows.iter().map(|row| row.label.as_str()))?;
            write_manifest_rows(manifest, keep, out)?;
            Ok(summary)
        }
        Source::Folder(folder) => {
            ensure_same_labels(items, folder.files.iter().map(String::as_str))?;
            write_folder_manifest(items, keep, out)?;
            Ok(summary)
        }
        Source::Shards(shards) => {
            let files_written = write_shards(shards, items, keep, out)?;
            Ok(FilterSummary {
                files_written,
                ..summary
            })
        }
    }
}

fn ensure_same_labels<'a>(
    items: &[Item],
    labels: impl ExactSizeIterator<Item = &'a str>,
) -> anyhow::Result<()> {
    ensure!(
        items.len() == labels.len() && items.iter().zip(labels).all(|(i, l)| i.label == l),
        "the items do not come from this source"
    );
    Ok(())
}

fn write_manifest_rows(manifest: &Manifest, keep: &[bool], out: &Path) -> anyhow::Result<()> {
    let folder = |p: &Path| {
        std::path::absolute(p)
            .ok()
            .and_then(|a| a.parent().map(Path::to_path_buf))
    };
    let relative_rows = manifest
        .rows
        .iter()
        .any(|r| r.path.is_some() && Path::new(&r.label).is_relative());
    if relative_rows && folder(out) != folder(&manifest.path) {
        bail!(
            "{}: a filtered manifest copies the rows verbatim, and their relative paths are \
             relative to the folder of {}: write it in that folder",
            out.display(),
            manifest.path.display()
        );
    }
    if let Some(asked) = ManifestFormat::from_path(out) {
        ensure!(
            asked == manifest.format,
            "the filtered manifest keeps the input's format ({}), but {} names a {asked} file",
            manifest.format,
            out.display()
        );
    }
    if let (Ok(a), Ok(b)) = (fs::canonicalize(out), fs::canonicalize(&manifest.path)) {
        ensure!(
            a != b,
            "{} is the input manifest: write the filtered one elsewhere",
            out.display()
        );
    }
    write_atomically(out, |writer| {
        let newline = manifest.newline.as_bytes();
        if let Some(header) = &manifest.header {
            writer.write_all(&manifest.text[header.clone()])?;
            writer.write_all(newline)?;
        }
        for row in manifest
            .rows
            .iter()
            .zip(keep)
            .filter(|(_, &k)| k)
            .map(|(r, _)| r)
        {
            writer.write_all(&manifest.text[row.raw.clone()])?;
            writer.write_all(newline)?;
        }
        Ok(())
    })
}

fn write_folder_manifest(items: &[Item], keep: &[bool], out: &Path) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Line<'a> {
        path: &'a str,
        hash: &'a ContentHash,
    }
    let kept: Vec<(&Item, String)> = items
        .iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(item, _)| {
            let path = item.path.as_deref().unwrap_or(Path::new(&item.label));
            Ok((item, relative_to_file(path, out)?))
        })
        .collect::<io::Result<_>>()?;
    match ManifestFormat::from_path(out) {
        Some(ManifestFormat::Jsonl) => write_atomically(out, |writer| {
            for (item, path) in &kept {
                serde_json::to_writer(
                    &mut *writer,
                    &Line {
                        path,
                        hash: &item.hash,
                    },
                )?;
                writer.write_all(b"\n")?;
            }
            Ok(())
        }),
        _ => write_atomically(out, |writer| {
            let mut csv = csv::Writer::from_writer(writer);
            csv.write_record(["path", "hash"])?;
            for (item, path) in &kept {
                csv.write_record([path.as_str(), item.hash.to_string().as_str()])?;
            }
            csv.flush()?;
            Ok(())
        }),
    }
}

/// Writes the filtered shards into `out_dir`; returns how many.
fn write_shards(
    shards: &[PathBuf],
    items: &[Item],
    keep: &[bool],
    out_dir: &Path,
) -> anyhow::Result<usize> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for shard in shards {
        let target = out_dir.join(shard_name(shard));
        ensure!(
            fs::symlink_metadata(&target).is_err(),
            "{} already exists: not overwriting it",
            target.display()
        );
    }
    let mut next = 0;
    let mut written = Vec::with_capacity(shards.len());
    for shard in shards {
        let target = out_dir.join(shard_name(shard));
        let (mut pending, file) = PendingFile::create(&target)?;
        let writer = copy_kept_samples(shard, items, keep, &mut next, file)
            .with_context(|| format!("writing {}", target.display()))?;
        pending.seal(writer)?;
        written.push(pending);
    }
    ensure!(
        next == items.len(),
        "the shards hold {next} samples but {} items were given: did they change since hashing?",
        items.len()
    );
    let count = written.len();
    for pending in written {
        pending.commit()?;
    }
    Ok(count)
}

/// Streams `shard` into a new tar on `file`, copying the members of the
/// samples `keep` selects. `next` is the index in `items` of the shard's
/// first sample; it is advanced past the shard's samples.
fn copy_kept_samples(
    shard: &Path,
    items: &[Item],
    keep: &[bool],
    next: &mut usize,
    file: File,
) -> anyhow::Result<File> {
    let name = shard_name(shard);
    let mut archive = open_shard(shard)?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(SHARD_BUFFER, file));
    let mut current_key: Option<String> = None;
    let mut keep_current = false;
    let entries = archive
        .entries()
        .with_context(|| format!("reading shard {}", shard.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("reading shard {}", shard.display()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member_bytes = entry.path_bytes().into_owned();
        let member = String::from_utf8_lossy(&member_bytes).into_owned();
        let (key, _) = split_member_name(&member);
        if current_key.as_deref() != Some(key) {
            let index = *next;
            *next += 1;
            let item = items.get(index).with_context(|| {
                format!(
                    "shard {} has more samples than were hashed: did it change?",
                    shard.display()
                )
            })?;
            let label = format!("{name}:{key}");
            ensure!(
                item.label == label,
                "sample {index} is {label} in shard {} but {} was hashed: did it change?",
                shard.display(),
                item.label
            );
            keep_current = keep[index];
            current_key = Some(key.to_owned());
        }
        if !keep_current {
            continue;
        }
        let copied = if member_bytes.as_slice() == entry.header().path_bytes().as_ref()
            && entry.size() == entry.header().entry_size().unwrap_or(u64::MAX)
        {
            // The header says it all: copy it byte for byte.
            let header = entry.header().clone();
            builder.append(&header, &mut entry)
        } else {
            // A long name (GNU or PAX extension): let the builder write one.
            let mut header = entry.header().clone();
            header.set_size(entry.size());
            let path = entry.path()?.into_owned();
            builder.append_data(&mut header, path, &mut entry)
        };
        copied.with_context(|| format!("copying member {member} of shard {}", shard.display()))?;
    }
    let writer = builder.into_inner()?;
    writer
        .into_inner()
        .map_err(|e| anyhow::Error::from(e.into_error()))
}

/// Writes one line per item with what the caller learned about it (`rows[i]`
/// for `items[i]`): CSV with columns
/// `label,path,hash,status,disputed,claimants,statements,terms` (lists
/// joined with `;`, terms as compact JSON) when `out` ends in `.csv`, JSON
/// Lines objects with the same fields (lists as arrays) when it ends in
/// `.jsonl` / `.ndjson`. `path` is relative to the folder of `out` (empty or
/// null for items without a file).
///
/// # Errors
/// When `out` has another extension, `rows` and `items` differ in length, or
/// writing fails.
pub fn write_report(items: &[Item], rows: &[ReportRow], out: &Path) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Line<'a> {
        label: &'a str,
        path: Option<Cow<'a, str>>,
        hash: &'a ContentHash,
        status: &'a str,
        disputed: bool,
        claimants: &'a [String],
        statements: &'a [String],
        terms: &'a serde_json::Value,
    }
    ensure!(
        items.len() == rows.len(),
        "{} report rows for {} items",
        rows.len(),
        items.len()
    );
    let Some(format) = ManifestFormat::from_path(out) else {
        bail!("{}: a report is written as .csv or .jsonl", out.display());
    };
    let paths: Vec<Option<String>> = items
        .iter()
        .map(|i| {
            i.path
                .as_deref()
                .map(|p| relative_to_file(p, out))
                .transpose()
        })
        .collect::<io::Result<_>>()?;
    let lines = items.iter().zip(rows).zip(&paths);
    match format {
        ManifestFormat::Jsonl => write_atomically(out, |writer| {
            for ((item, row), path) in lines {
                let line = Line {
                    label: &item.label,
                    path: path.as_deref().map(Cow::Borrowed),
                    hash: &item.hash,
                    status: &row.status,
                    disputed: row.disputed,
                    claimants: &row.claimants,
                    statements: &row.statements,
                    terms: &row.terms,
                };
                serde_json::to_writer(&mut *writer, &line)?;
                writer.write_all(b"\n")?;
            }
            Ok(())
        }),
        ManifestFormat::Csv => write_atomically(out, |writer| {
            let mut csv = csv::Writer::from_writer(writer);
            csv.write_record([
                "label",
                "path",
                "hash",
                "status",
                "disputed",
                "claimants",
                "statements",
                "terms",
            ])?;
            for ((item, row), path) in lines {
                let path = path.as_deref().unwrap_or_default();
                let fields: [&str; 8] = [
                    &item.label,
                    path,
                    &item.hash.to_string(),
                    &row.status,
                    if row.disputed { "true" } else { "false" },
                    &row.claimants.join(";"),
                    &row.statements.join(";"),
                    &serde_json::to_string(&row.terms)?,
                ];
                csv.write_record(fields)?;
            }
            csv.flush()?;
            Ok(())
        }),
    }
}

// ---------------------------------------------------------------------------
// Complete-or-absent output files

/// Tells temporary files of one process apart.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file next to `target`, renamed onto it by [`Self::commit`]
/// and removed if dropped before that.
struct PendingFile {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingFile {
    fn create(target: &Path) -> anyhow::Result<(Self, File)> {
        let name = target
            .file_name()
            .with_context(|| format!("{} is not a file name", target.display()))?;
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        loop {
            let temp = dir.join(format!(
                ".{}.{}-{}.tmp",
                name.to_string_lossy(),
                std::process::id(),
                TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    let pending = Self {
                        temp,
                        target: target.to_owned(),
                        committed: false,
                    };
                    return Ok((pending, file));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("creating a file in {}", dir.display()))
                }
            }
        }
    }

    /// Flushes `file` to disk and closes it.
    fn seal(&mut self, file: File) -> anyhow::Result<()> {
        file.sync_all()
            .with_context(|| format!("writing {}", self.target.display()))
    }

    fn commit(mut self) -> anyhow::Result<()> {
        fs::rename(&self.temp, &self.target)
            .with_context(|| format!("writing {}", self.target.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `out` through a buffered temporary file and renames it into place
/// once `write` succeeded.
fn write_atomically(
    out: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (mut pending, file) = PendingFile::create(out)?;
    let mut writer = BufWriter::new(file);
    write(&mut writer).with_context(|| format!("writing {}", out.display()))?;
    let file = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", out.display()))?;
    pending.seal(file)?;
    pending.commit()
}

fn lowercase_extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Byte offsets and lengths of files held in memory fit in `usize`.
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(path: &Path, bytes: &[u8]) {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).expect("create dir");
        }
        fs::write(path, bytes).expect("write file");
    }

    fn blake3_of(bytes: &[u8]) -> ContentHash {
        ContentHash::from_bytes(*blake3::hash(bytes).as_bytes())
    }

    fn labels(items: &[Item]) -> Vec<&str> {
        items.iter().map(|i| i.label.as_str()).collect()
    }

    fn error_text(result: anyhow::Result<impl fmt::Debug>) -> String {
        format!("{:#}", result.expect_err("expected an error"))
    }

    fn manifest_at(path: &Path, text: &str) -> anyhow::Result<Source> {
        put(path, text.as_bytes());
        detect(&[path.to_owned()])
    }

    #[test]
    fn folder_lists_visible_files_in_path_order_and_hashes_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("set");
        put(&root.join("b/c.txt"), b"c");
        put(&root.join("a.txt"), b"a");
        put(&root.join("a/z.txt"), b"z");
        put(&root.join(".hidden"), b"h");
        put(&root.join(".git/config"), b"g");
        put(&root.join("b/.DS_Store"), b"d");
        // Above the one-read limit: streamed.
        let big: Vec<u8> = (0..READ_WHOLE_BELOW + 1).map(|i| (i % 251) as u8).collect();
        put(&root.join("big.bin"), &big);
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("b"), root.join("linked")).expect("symlink");

        let source = detect(std::slice::from_ref(&root)).expect("detect");
        assert!(matches!(source, Source::Folder(_)));
        assert_eq!(count(&source), Some(4));
        let bar = ProgressBar::hidden();
        let items = hash_all(&source, Some(&bar)).expect("hash");
        assert_eq!(bar.position(), 4);
        assert_eq!(labels(&items), ["a/z.txt", "a.txt", "b/c.txt", "big.bin"]);
        let bytes: [&[u8]; 4] = [b"z", b"a", b"c", &big];
        for (item, bytes) in items.iter().zip(bytes) {
            assert_eq!(item.hash, blake3_of(bytes), "{}", item.label);
        }
        assert_eq!(
            items[2].path.as_deref(),
            Some(root.join("b/c.txt").as_path())
        );
    }

    #[test]
    fn csv_manifest_with_hash_column_reads_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (one, two) = (blake3_of(b"one"), blake3_of(b"two"));
        let text = format!(
            "id,hash,caption\n1,{one},\"a cat, sitting\"\n2,{}, a dog\n",
            two.to_iscc_datahash()
        );
        let source = manifest_at(&dir.path().join("m.csv"), &text).expect("detect");
        assert_eq!(count(&source), Some(2));
        let items = hash_all(&source, None).expect("hash");
        assert_eq!(labels(&items), ["m.csv:2", "m.csv:3"]);
        assert_eq!(items[0].hash, one);
        assert_eq!(items[1].hash, two);
        assert_eq!(items[0].path, None);
    }

    #[test]
    fn csv_manifest_paths_are_relative_to_the_manifest_and_hash_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(&dir.path().join("data/x.png"), b"x bytes");
        put(&dir.path().join("data/y.png"), b"y bytes");
        let absolute = dir.path().join("data/y.png");
        let given = blake3_of(b"not the file");
        let text = format!(
            "path,hash\n../data/x.png,\n{},\nmissing.png,{given}\n",
            absolute.display()
        );
        let source = manifest_at(&dir.path().join("lists/m.csv"), &text).expect("detect");
        let items = hash_all(&source, None).expect("hash");
        assert_eq!(
            labels(&items),
            [
                "../data/x.png",
                absolute.to_str().expect("utf-8"),
                "missing.png"
            ]
        );
        assert_eq!(items[0].hash, blake3_of(b"x bytes"));
        assert_eq!(
            items[0].path.as_deref(),
            Some(dir.path().join("lists/../data/x.png").as_path())
        );
        assert_eq!(items[1].hash, blake3_of(b"y bytes"));
        assert_eq!(items[2].hash, given);
    }

    #[test]
    fn jsonl_manifest_reads_path_and_hash_members() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(&dir.path().join("img/a.jpg"), b"a bytes");
        let given = blake3_of(b"given");
        let text = format!(
            "{{\"path\":\"img/a.jpg\",\"caption\":\"x\"}}\n\n  \n{{\"hash\":\"{given}\",\"n\":1}}\n"
        );
        let source = manifest_at(&dir.path().join("m.jsonl"), &text).expect("detect");
        let items = hash_all(&source, None).expect("hash");
        assert_eq!(labels(&items), ["img/a.jpg", "m.jsonl:4"]);
        assert_eq!(items[0].hash, blake3_of(b"a bytes"));
        assert_eq!(items[1].hash, given);
    }

    #[test]
    fn manifest_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = |text: &str| error_text(manifest_at(&dir.path().join("m.csv"), text));
        let jsonl = |text: &str| error_text(manifest_at(&dir.path().join("m.jsonl"), text));
        let good = blake3_of(b"g");

        let e = csv(&format!("path,hash\na.jpg,\nb.jpg,{good},extra\n"));
        assert!(
            e.contains("line 3: the row has 3 fields, the header has 2"),
            "{e}"
        );
        let e = csv("url,caption\nhttp://x,y\n");
        assert!(
            e.contains("line 1: the header needs a `path` or a `hash` column"),
            "{e}"
        );
        assert!(e.contains("url, caption"), "{e}");
        let e = csv("path,hash\r\na.jpg,blake3:ABC\r\n");
        assert!(e.contains("line 2: `hash` \"blake3:ABC\""), "{e}");
        let e = csv("hash,caption\n\n\"\",\"multi\nline\"\n");
        assert!(e.contains("line 3: the row has neither"), "{e}");
        let e = jsonl("{\"path\":\"a\"}\n[1]\n");
        assert!(e.contains("line 2: expected a JSON object"), "{e}");
        let e = jsonl("{\"path\":\"a\"}\n\n{\"path\":7}\n");
        assert!(e.contains("line 3: `path` must be a string"), "{e}");
        let e = jsonl("{\"path\":\"a\"\n");
        assert!(e.contains("line 1: not JSON"), "{e}");
        let e = jsonl(&format!(
            "{{\"hash\":\"{}\"}}\n",
            good.to_string().to_uppercase()
        ));
        assert!(e.contains("line 1: `hash`"), "{e}");
    }

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

    /// A regular member as the test shards hold it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Member {
        name: String,
        bytes: Vec<u8>,
        mode: u32,
        mtime: u64,
    }

    fn member(name: &str, bytes: &[u8], n: u32) -> Member {
        Member {
            name: name.to_owned(),
            bytes: bytes.to_vec(),
            mode: 0o600 + n,
            mtime: 1_700_000_000 + u64::from(n),
        }
    }

    fn build_shard(path: &Path, members: &[Member]) {
        let mut builder = tar::Builder::new(File::create(path).expect("create shard"));
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        dir.set_mode(0o755);
        builder
            .append_data(&mut dir, "part/", io::empty())
            .expect("append dir");
        for m in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(m.bytes.len() as u64);
            header.set_mode(m.mode);
            header.set_mtime(m.mtime);
            builder
                .append_data(&mut header, &m.name, m.bytes.as_slice())
                .expect("append member");
        }
        builder.finish().expect("finish shard");
    }

    fn read_shard(path: &Path) -> Vec<Member> {
        let mut archive = tar::Archive::new(File::open(path).expect("open shard"));
        let mut members = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read member");
            members.push(Member {
                name: String::from_utf8(entry.path_bytes().into_owned()).expect("utf-8"),
                bytes,
                mode: entry.header().mode().expect("mode"),
                mtime: entry.header().mtime().expect("mtime"),
            });
        }
        members
    }

    /// Three jpg+txt+json samples (the image not always first) and one
    /// sample with only a caption.
    fn sample_members() -> Vec<Member> {
        vec![
            member("part/000000.jpg", b"jpeg zero", 0),
            member("part/000000.txt", b"caption zero", 1),
            member("part/000000.json", b"{\"n\":0}", 2),
            member("part/000001.txt", b"caption one", 3),
            member("part/000001.jpg", b"jpeg one", 4),
            member("part/000001.json", b"{\"n\":1}", 5),
            member("part/000002.json", b"{\"n\":2}", 6),
            member("part/000002.txt", b"caption two", 7),
            member("part/000002.jpg", b"jpeg two", 8),
            member("part/000003.txt", b"caption three", 9),
        ]
    }

    #[test]
    fn shard_samples_are_hashed_by_their_image_member() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shard = dir.path().join("00000.tar");
        build_shard(&shard, &sample_members());
        let other = dir.path().join("00001.tar");
        build_shard(
            &other,
            &[member("x.webp", b"webp", 0), member("x.txt", b"t", 1)],
        );

        let source = detect(&[shard, other]).expect("detect");
        assert_eq!(count(&source), None);
        let bar = ProgressBar::hidden();
        let items = hash_all(&source, Some(&bar)).expect("hash");
        assert_eq!(bar.position(), 5);
        assert_eq!(
            labels(&items),
            [
                "00000.tar:part/000000",
                "00000.tar:part/000001",
                "00000.tar:part/000002",
                "00000.tar:part/000003",
                "00001.tar:x",
            ]
        );
        let works: [&[u8]; 5] = [
            b"jpeg zero",
            b"jpeg one",
            b"jpeg two",
            b"caption three",
            b"webp",
        ];
        for (item, bytes) in items.iter().zip(works) {
            assert_eq!(item.hash, blake3_of(bytes), "{}", item.label);
            assert_eq!(item.path, None);
        }
    }

    #[test]
    fn filtered_shard_keeps_whole_samples_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shard = dir.path().join("00000.tar");
        let members = sample_members();
        build_shard(&shard, &members);
        let source = detect(&[shard]).expect("detect");
        let items = hash_all(&source, None).expect("hash");
        let out = dir.path().join("out");

        let keep = [true, false, true, true];
        let summary = write_filtered(&source, &items, &keep, &out).expect("filter");
        assert_eq!(
            summary,
            FilterSummary {
                kept: 3,
                dropped: 1,
                files_written: 1
            }
        );
        let expected: Vec<Member> = members
            .iter()
            .filter(|m| !m.name.starts_with("part/000001"))
            .cloned()
            .collect();
        assert_eq!(read_shard(&out.join("00000.tar")), expected);
        let names: Vec<_> = fs::read_dir(&out)
            .expect("list out")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["00000.tar"], "no temporary file is left behind");

        let e = error_text(write_filtered(&source, &items, &keep, &out));
        assert!(e.contains("already exists"), "{e}");
        let e = error_text(write_filtered(&source, &items, &keep[..3], &out));
        assert!(e.contains("3 keep decisions for 4 items"), "{e}");
    }

    #[test]
    fn filtered_shard_keeps_long_member_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shard = dir.path().join("long.tar");
        let prefix = format!("{}/{}", "d".repeat(90), "k".repeat(40));
        let members = vec![
            member(&format!("{prefix}.png"), b"png", 0),
            member(&format!("{prefix}.txt"), b"txt", 1),
            member("short.png", b"short", 2),
        ];
        build_shard(&shard, &members);
        let source = detect(&[shard]).expect("detect");
        let items = hash_all(&source, None).expect("hash");
        assert_eq!(items[0].label, format!("long.tar:{prefix}"));
        let out = dir.path().join("out");
        write_filtered(&source, &items, &[true, false], &out).expect("filter");
        assert_eq!(read_shard(&out.join("long.tar")), members[..2]);
    }

    #[test]
    fn filtered_csv_manifest_keeps_header_and_rows_verbatim() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (blake3_of(b"a"), blake3_of(b"b"), blake3_of(b"c"));
        let header = "\u{feff}id,\"hash\",caption";
        let rows = [
            format!("1,{a},\"plain, quoted\""),
            format!("2,\"{b}\",\"two\r\nlines\""),
            format!("3,{c},\"say \"\"hi\"\"\""),
        ];
        let text = format!("{header}\r\n{}\r\n{}\r\n{}", rows[0], rows[1], rows[2]);
        let input = dir.path().join("m.csv");
        let source = manifest_at(&input, &text).expect("detect");
        let items = hash_all(&source, None).expect("hash");
        assert_eq!(items.iter().map(|i| i.hash).collect::<Vec<_>>(), [a, b, c]);
        assert_eq!(labels(&items), ["m.csv:2", "m.csv:3", "m.csv:5"]);

        let out = dir.path().join("kept.csv");
        let summary = write_filtered(&source, &items, &[false, true, true], &out).expect("write");
        assert_eq!((summary.kept, summary.dropped), (2, 1));
        let written = fs::read_to_string(&out).expect("read");
        assert_eq!(
            written,
            format!("{header}\r\n{}\r\n{}\r\n", rows[1], rows[2])
        );

        let e = error_text(write_filtered(&source, &items, &[true; 3], &input));
        assert!(e.contains("is the input manifest"), "{e}");
        let e = error_text(write_filtered(
            &source,
            &items,
            &[true; 3],
            &dir.path().join("k.jsonl"),
        ));
        assert!(e.contains("keeps the input's format (CSV)"), "{e}");
    }

    #[test]
    fn filtered_jsonl_manifest_keeps_lines_verbatim() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(&dir.path().join("a.jpg"), b"a");
        let lines = [
            "{\"path\": \"a.jpg\",  \"caption\": \"spaces kept\"}".to_owned(),
            format!("{{\"hash\":\"{}\",\"url\":\"http://x\"}}", blake3_of(b"b")),
        ];
        let text = format!("{}\n\n{}", lines[0], lines[1]);
        let source = manifest_at(&dir.path().join("m.ndjson"), &text).expect("detect");
        let items = hash_all(&source, None).expect("hash");
        let out = dir.path().join("kept.jsonl");
        write_filtered(&source, &items, &[true, true], &out).expect("write");
        assert_eq!(
            fs::read_to_string(&out).expect("read"),
            format!("{}\n{}\n", lines[0], lines[1])
        );
        write_filtered(&source, &items, &[false, true], &out).expect("rewrite");
        assert_eq!(
            fs::read_to_string(&out).expect("read"),
            format!("{}\n", lines[1])
        );
    }

    #[test]
    fn filtered_folder_is_a_manifest_of_paths_relative_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("set");
        put(&root.join("x/1.png"), b"1");
        put(&root.join("a, b.png"), b"2");
        put(&root.join("z.png"), b"3");
        let source = detect(&[root]).expect("detect");
        let items = hash_all(&source, None).expect("hash");
        let keep = [true, false, true];

        let csv_out = dir.path().join("kept.csv");
        write_filtered(&source, &items, &keep, &csv_out).expect("csv");
        assert_eq!(
            fs::read_to_string(&csv_out).expect("read"),
            format!(
                "path,hash\n\"set/a, b.png\",{}\nset/z.png,{}\n",
                blake3_of(b"2"),
                blake3_of(b"3")
            )
        );
        let jsonl_out = dir.path().join("kept.jsonl");
        write_filtered(&source, &items, &keep, &jsonl_out).expect("jsonl");
        assert_eq!(
            fs::read_to_string(&jsonl_out).expect("read"),
            format!(
                "{{\"path\":\"set/a, b.png\",\"hash\":\"{}\"}}\n{{\"path\":\"set/z.png\",\"hash\":\"{}\"}}\n",
                blake3_of(b"2"),
                blake3_of(b"3")
            )
        );
        // The written manifest reads back as the same works.
        let again = hash_all(&detect(&[csv_out]).expect("detect"), None).expect("hash");
        // Paths are relative to the manifest's folder, as manifests are read.
        assert_eq!(labels(&again), ["set/a, b.png", "set/z.png"]);
        assert_eq!(again[1].hash, items[2].hash);
    }

    #[test]
    fn paths_are_written_relative_to_the_file() {
        let r = |p: &str, f: &str| relative_to_file(Path::new(p), Path::new(f)).expect("rel");
        assert_eq!(r("/d/set/a.png", "/d/kept.csv"), "set/a.png");
        assert_eq!(r("/d/set/a.png", "/d/out/kept.csv"), "../set/a.png");
        assert_eq!(r("/d/out/../set/./a.png", "/d/out/r.csv"), "../set/a.png");
        assert_eq!(r("/e/a.png", "/d/x/y/r.csv"), "../../../e/a.png");
    }

    /// Items under `dir` (the report's folder in the tests).
    fn report_fixture(dir: &Path) -> (Vec<Item>, Vec<ReportRow>) {
        let items = vec![
            Item {
                label: "a.png".to_owned(),
                path: Some(dir.join("data/a.png")),
                hash: blake3_of(b"a"),
            },
            Item {
                label: "s.tar:0001".to_owned(),
                path: None,
                hash: blake3_of(b"b"),
            },
        ];
        let rows = vec![
            ReportRow {
                status: "opt-out".to_owned(),
                terms: serde_json::json!({"training": "deny"}),
                claimants: vec!["artist1".to_owned(), "artist2".to_owned()],
                statements: vec!["st1".to_owned(), "st2".to_owned()],
                disputed: true,
            },
            ReportRow {
                status: "unknown".to_owned(),
                ..ReportRow::default()
            },
        ];
        (items, rows)
    }

    #[test]
    fn report_as_csv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (items, rows) = report_fixture(dir.path());
        let out = dir.path().join("report.csv");
        write_report(&items, &rows, &out).expect("report");
        assert_eq!(
            fs::read_to_string(&out).expect("read"),
            format!(
                "label,path,hash,status,disputed,claimants,statements,terms\n\
                 a.png,data/a.png,{},opt-out,true,artist1;artist2,st1;st2,\"{{\"\"training\"\":\"\"deny\"\"}}\"\n\
                 s.tar:0001,,{},unknown,false,,,null\n",
                items[0].hash, items[1].hash
            )
        );
        let e = error_text(write_report(&items, &rows, &dir.path().join("r.txt")));
        assert!(e.contains("a report is written as .csv or .jsonl"), "{e}");
        let e = error_text(write_report(&items, &rows[..1], &out));
        assert!(e.contains("1 report rows for 2 items"), "{e}");
    }

    #[test]
    fn report_as_jsonl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (items, rows) = report_fixture(dir.path());
        let out = dir.path().join("report.jsonl");
        write_report(&items, &rows, &out).expect("report");
        let text = fs::read_to_string(&out).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(
            lines,
            [
                serde_json::json!({
                    "label": "a.png",
                    "path": "data/a.png",
                    "hash": items[0].hash.to_string(),
                    "status": "opt-out",
                    "disputed": true,
                    "claimants": ["artist1", "artist2"],
                    "statements": ["st1", "st2"],
                    "terms": {"training": "deny"},
                }),
                serde_json::json!({
                    "label": "s.tar:0001",
                    "path": null,
                    "hash": items[1].hash.to_string(),
                    "status": "unknown",
                    "disputed": false,
                    "claimants": [],
                    "statements": [],
                    "terms": null,
                }),
            ]
        );
    }
}
