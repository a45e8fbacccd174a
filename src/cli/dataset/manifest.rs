//! Manifests as a source: a CSV file with a header, or JSON Lines, whose
//! rows name a work by `path` (relative to the manifest's folder) or give
//! its `hash`. Rows are kept as byte ranges of the file so that they can be
//! written back verbatim, and every parse error names its line.

use std::borrow::Cow;
use std::fmt;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::paths::lowercase_extension;
use super::to_usize;
use crate::domain::ContentHash;

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
    pub(super) path: PathBuf,
    pub(super) format: ManifestFormat,
    pub(super) text: Vec<u8>,
    /// The CSV header line, without its line terminator.
    pub(super) header: Option<Range<usize>>,
    /// The input's line terminator, used when writing rows back.
    pub(super) newline: &'static str,
    pub(super) rows: Vec<ManifestRow>,
}

#[derive(Debug)]
pub(super) struct ManifestRow {
    /// 1-based line number where the row starts.
    pub(super) line: usize,
    /// The row's bytes in `Manifest::text`, without its line terminator.
    pub(super) raw: Range<usize>,
    pub(super) label: String,
    pub(super) path: Option<PathBuf>,
    pub(super) hash: Option<ContentHash>,
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

pub(super) fn read_manifest(path: &Path, format: ManifestFormat) -> anyhow::Result<Manifest> {
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

#[cfg(test)]
mod tests {
    use crate::cli::dataset::test_support::{blake3_of, error_text, labels, manifest_at, put};
    use crate::cli::dataset::{count, hash_all};

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
}
