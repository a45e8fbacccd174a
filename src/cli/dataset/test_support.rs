//! Fixtures shared by the dataset tests: files, hashes, and webdataset
//! shards built and read back member by member.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use super::{detect, Item, Source};
use crate::domain::ContentHash;

pub(super) fn put(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).expect("create dir");
    }
    fs::write(path, bytes).expect("write file");
}

pub(super) fn blake3_of(bytes: &[u8]) -> ContentHash {
    ContentHash::from_bytes(*blake3::hash(bytes).as_bytes())
}

pub(super) fn labels(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.label.as_str()).collect()
}

pub(super) fn error_text(result: anyhow::Result<impl fmt::Debug>) -> String {
    format!("{:#}", result.expect_err("expected an error"))
}

pub(super) fn manifest_at(path: &Path, text: &str) -> anyhow::Result<Source> {
    put(path, text.as_bytes());
    detect(&[path.to_owned()])
}

/// A regular member as the test shards hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) name: String,
    pub(super) bytes: Vec<u8>,
    pub(super) mode: u32,
    pub(super) mtime: u64,
}

pub(super) fn member(name: &str, bytes: &[u8], n: u32) -> Member {
    Member {
        name: name.to_owned(),
        bytes: bytes.to_vec(),
        mode: 0o600 + n,
        mtime: 1_700_000_000 + u64::from(n),
    }
}

pub(super) fn build_shard(path: &Path, members: &[Member]) {
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

pub(super) fn read_shard(path: &Path) -> Vec<Member> {
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
pub(super) fn sample_members() -> Vec<Member> {
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
