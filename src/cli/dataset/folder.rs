//! A folder as a source: every regular file under it, in path order, is a
//! work; hidden files are skipped and links to files count as those files.
//! A C2PA sidecar (`<name>.c2pa` beside `<name>.<ext>`) is that file's
//! metadata, read with it (`spec/signals.md`), not a work of its own.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// A directory whose regular files are the works.
#[derive(Debug)]
pub struct Folder {
    pub(super) root: PathBuf,
    /// Paths relative to `root`, `/`-separated, sorted component-wise.
    pub(super) files: Vec<String>,
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

/// A `.c2pa` file, by the exact extension the sidecar reader looks for.
fn is_c2pa(label: &str) -> bool {
    Path::new(label).extension().is_some_and(|e| e == "c2pa")
}

/// A label without its extension (`a/b.jpg` → `a/b`); `None` without one.
fn stem(label: &str) -> Option<&str> {
    let base = label.rfind('/').map_or(0, |i| i + 1);
    label[base..]
        .rfind('.')
        .filter(|&dot| dot > 0)
        .map(|dot| &label[..base + dot])
}

pub(super) fn read_folder(root: &Path) -> anyhow::Result<Folder> {
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
    let stems: std::collections::HashSet<&str> = files
        .iter()
        .filter(|f| !is_c2pa(f))
        .filter_map(|f| stem(f))
        .collect();
    let sidecars: std::collections::HashSet<String> = files
        .iter()
        .filter(|f| is_c2pa(f) && stem(f).is_some_and(|s| stems.contains(s)))
        .cloned()
        .collect();
    files.retain(|f| !sidecars.contains(f));
    Ok(Folder {
        root: root.to_owned(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use indicatif::ProgressBar;

    use crate::cli::dataset::hash::READ_WHOLE_BELOW;
    use crate::cli::dataset::test_support::{blake3_of, labels, put};
    use crate::cli::dataset::{count, detect, hash_all, Source};

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
}
