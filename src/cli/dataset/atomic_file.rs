//! Complete-or-absent output files: everything is written to a temporary
//! file next to its target and renamed onto it once complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

/// Tells temporary files of one process apart.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file next to `target`, renamed onto it by [`Self::commit`]
/// and removed if dropped before that.
pub(super) struct PendingFile {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingFile {
    pub(super) fn create(target: &Path) -> anyhow::Result<(Self, File)> {
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
    pub(super) fn seal(&mut self, file: File) -> anyhow::Result<()> {
        file.sync_all()
            .with_context(|| format!("writing {}", self.target.display()))
    }

    pub(super) fn commit(mut self) -> anyhow::Result<()> {
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

/// Writes `bytes` to `out` through a temporary file renamed into place.
///
/// # Errors
/// When the file cannot be written or renamed.
pub fn write_file_atomically(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    write_atomically(out, |w| Ok(w.write_all(bytes)?))
}

/// Writes `out` through a buffered temporary file and renames it into place
/// once `write` succeeded.
pub(super) fn write_atomically(
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
