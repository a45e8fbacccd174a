//! The single-writer lease: a registry is the only process that writes its
//! database, for its whole life. The log's order (seq and receipt time) is
//! decided in that process, so a second writer would interleave entries
//! out of acceptance order and leave each process with a stale consent
//! index. A store therefore claims the database when it opens and holds the
//! claim until it is dropped (or the process dies):
//!
//! - SQLite: an exclusive `flock` on `<database file>-writer`, a file beside
//!   the database that names the holder;
//! - PostgreSQL: a session-level advisory lock, held on a connection of its
//!   own, keyed by the schema (several registries may share one database
//!   in different schemas).
//!
//! A second `consentry serve` on the same database is refused at start with
//! a message naming the holder. Appends also check, inside the database's
//! write lock, that their receipt times follow the last committed entry
//! (see [`check_order`]), so even a writer that slipped past the lease
//! cannot commit entries out of acceptance order.

use std::time::Duration;

use super::{Append, Result, StoreError};
use crate::domain::Timestamp;

/// How long opening a store waits for a holder that is going away (a
/// process that just exited, a PostgreSQL session being torn down).
pub(crate) const CLAIM_WAIT: Duration = Duration::from_secs(3);

/// Pause between two attempts to claim the database.
pub(crate) const CLAIM_RETRY: Duration = Duration::from_millis(100);

/// Who this process is, for the message another process shows when it is
/// refused: `pid N on HOST since T`.
#[must_use]
pub fn holder_description() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".to_owned());
    format!(
        "pid {} on {host} since {}",
        std::process::id(),
        Timestamp::now()
    )
}

/// The refusal a second writer gets.
pub(crate) fn held_by(what: &str, holder: &str) -> StoreError {
    StoreError::WriterHeld(format!(
        "{what} is already in use by another registry process ({holder}); \
         a registry must be the only writer of its database: stop the other \
         process, or point this one at another database"
    ))
}

/// Checks that `batch` follows `last` (the receipt time of the last entry
/// committed or appended in this transaction) in acceptance order, and
/// moves `last` to the batch's last receipt time. Called inside the
/// database's write lock, with `last` read inside it.
///
/// # Errors
/// [`StoreError::OutOfOrder`] when a receipt time is not after the one
/// before it.
pub(crate) fn check_order(last: &mut Timestamp, next_seq: i64, batch: &[Append]) -> Result<()> {
    for (i, a) in batch.iter().enumerate() {
        if a.doc.received_at <= *last {
            return Err(StoreError::OutOfOrder(format!(
                "entry {} would be received at {}, not after the previous entry's {}",
                next_seq + i as i64,
                a.doc.received_at,
                last
            )));
        }
        *last = a.doc.received_at;
    }
    Ok(())
}

/// SQLite's lease: the lock file and its handle, held while the store lives.
#[derive(Debug)]
pub(crate) struct FileLease {
    _file: std::fs::File,
}

impl FileLease {
    /// Claims `<database>-writer` beside the database file, waiting up to
    /// [`CLAIM_WAIT`] for a holder that is going away.
    ///
    /// # Errors
    /// [`StoreError::WriterHeld`] naming the holder; `Corrupt` when the
    /// lock file cannot be opened.
    pub(crate) async fn claim(database: &std::path::Path) -> Result<Self> {
        use std::io::{Read, Seek, Write};
        let mut name = database.as_os_str().to_owned();
        name.push("-writer");
        let path = std::path::PathBuf::from(name);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                StoreError::Corrupt(format!("cannot open the lock file {}: {e}", path.display()))
            })?;
        let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if tokio::time::Instant::now() >= deadline {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        let holder = holder.trim();
                        let holder = if holder.is_empty() {
                            "a process that has not yet said who it is"
                        } else {
                            holder
                        };
                        return Err(held_by(
                            &format!("the database {}", database.display()),
                            holder,
                        ));
                    }
                    tokio::time::sleep(CLAIM_RETRY).await;
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StoreError::Corrupt(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    )))
                }
            }
        }
        // Informative only: the lock, not the text, is the claim.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", holder_description());
        Ok(Self { _file: file })
    }
}

/// The PostgreSQL advisory-lock key of the lease: a class for Consentry's
/// writers ("cons" in ASCII) and one key per schema.
pub(crate) const PG_LEASE_CLASS: i32 = 0x636f_6e73;

/// The per-schema half of the PostgreSQL lease key.
#[must_use]
pub(crate) fn pg_lease_key(schema: &str) -> i32 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(schema.as_bytes());
    i32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Document, DocumentKind};

    fn at(nanos: i64) -> Append {
        Append {
            doc: Document {
                id: String::new(),
                kind: DocumentKind::Artist,
                artist_id: String::new(),
                payload_type: String::new(),
                payload: Vec::new(),
                signatures: Vec::new(),
                received_at: Timestamp::from_unix_nanos(nanos),
            },
            effects: Vec::new(),
        }
    }

    #[test]
    fn receipt_times_must_grow() {
        let mut last = Timestamp::from_unix_nanos(10);
        assert!(check_order(&mut last, 5, &[at(11), at(12)]).is_ok());
        assert_eq!(last, Timestamp::from_unix_nanos(12));
        let e = check_order(&mut last, 7, &[at(13), at(13)]).expect_err("a repeated time");
        assert!(e.to_string().contains("entry 8"), "{e}");
        assert!(check_order(&mut last, 9, &[at(5)]).is_err());
    }

    #[test]
    fn lease_keys_differ_by_schema() {
        assert_ne!(pg_lease_key("public"), pg_lease_key("t_0001"));
        assert_eq!(pg_lease_key("public"), pg_lease_key("public"));
    }

    #[tokio::test]
    async fn a_second_file_lease_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("r.db");
        let first = FileLease::claim(&db).await.expect("first claim");
        let started = std::time::Instant::now();
        let e = FileLease::claim(&db)
            .await
            .expect_err("second claim")
            .to_string();
        assert!(started.elapsed() >= CLAIM_WAIT);
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        FileLease::claim(&db).await.expect("claim after release");
    }
}
