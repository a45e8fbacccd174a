//! Writing back the subset of a source that may be used ([`write_filtered`]),
//! in the input's own shape: manifest rows verbatim, a folder as a new
//! manifest, shards as new shards.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use serde::Serialize;

use super::atomic_file::{write_atomically, PendingFile};
use super::manifest::{Manifest, ManifestFormat};
use super::paths::relative_to_file;
use super::shard::{copy_kept_samples, shard_name};
use super::source::{Item, Source};
use crate::domain::ContentHash;

/// What [`write_filtered`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterSummary {
    pub kept: usize,
    pub dropped: usize,
    pub files_written: usize,
}

/// Writes the kept items (`keep[i]` for `items[i]`, as returned by
/// [`hash_all`](super::hash_all) for this `source`) in the input's shape:
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::dataset::test_support::{
        blake3_of, build_shard, error_text, labels, manifest_at, member, put, read_shard,
        sample_members, Member,
    };
    use crate::cli::dataset::{detect, hash_all};

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
}
