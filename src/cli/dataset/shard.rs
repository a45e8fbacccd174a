//! Webdataset shards (`.tar`, as img2dataset writes them) as a source: how
//! members group into samples, which member is a sample's work, hashing the
//! samples and copying the kept ones into a new shard.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;

use anyhow::{ensure, Context};

use super::hash::{hash_reader, look, not_looked, Looked, Reading, READ_WHOLE_BELOW};
use super::source::Item;
use crate::domain::ContentHash;
use crate::fingerprint::IMAGE_EXTENSIONS;

/// Buffer size for reading and writing shards.
const SHARD_BUFFER: usize = 1 << 20;

/// A shard's file name, used in labels and as the filtered shard's name.
pub(super) fn shard_name(shard: &Path) -> String {
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
    looked: Looked,
    from_image: bool,
}

/// What reading one member gave.
struct MemberHash {
    hash: ContentHash,
    looked: Looked,
}

fn open_shard(shard: &Path) -> anyhow::Result<tar::Archive<BufReader<File>>> {
    let file = File::open(shard).with_context(|| format!("opening shard {}", shard.display()))?;
    Ok(tar::Archive::new(BufReader::with_capacity(
        SHARD_BUFFER,
        file,
    )))
}

pub(super) fn hash_shard(
    shard: &Path,
    tick: &(impl Fn() + Sync),
    reading: Reading,
) -> anyhow::Result<Vec<Item>> {
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
            codes: sample.looked.codes,
            fingerprint_error: sample.looked.fingerprint_error,
            signals: sample.looked.signals,
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
        // The member's size as read (a PAX record overrides the header's).
        let size = entry.size();
        let read_member = |entry: &mut dyn Read| -> anyhow::Result<MemberHash> {
            let whole =
                (reading.fingerprints && image) || (reading.signals && size < READ_WHOLE_BELOW);
            if !whole {
                return Ok(MemberHash {
                    hash: hash_reader(entry).with_context(|| {
                        format!("reading member {member} of shard {}", shard.display())
                    })?,
                    looked: Looked {
                        signals: not_looked(reading, READ_WHOLE_BELOW),
                        ..Looked::default()
                    },
                });
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading member {member} of shard {}", shard.display()))?;
            let fingerprints = Reading {
                fingerprints: reading.fingerprints && image,
                ..reading
            };
            Ok(MemberHash {
                hash: ContentHash::of(&bytes),
                looked: look(&bytes, image, fingerprints, None),
            })
        };
        match &mut current {
            Some(sample) if sample.key == key => {
                if image && !sample.from_image {
                    let m = read_member(&mut entry)?;
                    sample.hash = m.hash;
                    sample.looked = m.looked;
                    sample.from_image = true;
                }
            }
            _ => {
                let m = read_member(&mut entry)?;
                let started = SampleHash {
                    key: key.to_owned(),
                    hash: m.hash,
                    looked: m.looked,
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

/// Streams `shard` into a new tar on `file`, copying the members of the
/// samples `keep` selects. `next` is the index in `items` of the shard's
/// first sample; it is advanced past the shard's samples.
pub(super) fn copy_kept_samples(
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

#[cfg(test)]
mod tests {
    use indicatif::ProgressBar;

    use crate::cli::dataset::test_support::{
        blake3_of, build_shard, labels, member, sample_members,
    };
    use crate::cli::dataset::{count, detect, hash_all};

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
}
