//! The consent index's state: built at start from every stored document
//! (checking the stored data against the log on the way), updated after
//! each commit, read by checks together with the checkpoint it is level
//! with.

use std::sync::Arc;

use rayon::prelude::*;

use super::append::Indexed;
use super::errors::{RegistryError, Result};
use super::Registry;
use crate::crypto::{Envelope, PublicKey};
use crate::domain::CheckpointRecord;
use crate::domain::Timestamp;
use crate::index::{self as consent_index, ConsentIndex, Parsed, View};
use crate::store::{Document, Store, StoreError, StoredDocument};
use crate::transparency::{TransparencyError, TransparencyLog, TreeCheck};

/// The consent index and the checkpoint it is level with: a check that
/// reads both under one lock answers exactly for that checkpoint.
#[derive(Debug)]
pub struct CheckState {
    pub index: ConsentIndex,
    pub checkpoint: Option<CheckpointRecord>,
    /// Set if applying a committed document failed: checks are refused
    /// (the index no longer matches the log) until the registry restarts.
    pub broken: Option<String>,
}

/// Parses documents for the consent index, in parallel.
pub(super) fn parse_for_index<'a>(
    docs: impl IndexedParallelIterator<Item = (i64, &'a Document)>,
) -> Vec<Indexed> {
    docs.with_min_len(16)
        .map(|(seq, d)| {
            (
                u64::try_from(seq).unwrap_or(u64::MAX),
                d.received_at,
                consent_index::parse(d.kind.entry_kind(), &d.payload),
            )
        })
        .collect()
}

/// The rows of the derived tables that `page` (with its parsed documents,
/// in the same order) gives: what [`Store::derived_digest`] must match.
/// Digested on all cores (a digest is a sum, so order does not matter).
fn derived_rows(page: &[StoredDocument], parsed: &[Indexed]) -> crate::store::DerivedDigest {
    page.par_iter()
        .zip(parsed)
        .with_min_len(16)
        .fold(
            crate::store::DerivedDigest::default,
            |mut digest, (d, (_, _, p))| {
                document_rows(&mut digest, d, p);
                digest
            },
        )
        .reduce(crate::store::DerivedDigest::default, |mut a, b| {
            a.statement_works.merge(b.statement_works);
            a.artists.merge(b.artists);
            a
        })
}

/// Adds the derived rows one document gives.
fn document_rows(
    digest: &mut crate::store::DerivedDigest,
    d: &StoredDocument,
    p: &std::result::Result<Parsed, String>,
) {
    match p {
        Ok(Parsed::Statement {
            works, issued_at, ..
        }) => {
            for w in works {
                digest
                    .statement_works
                    .add_statement_work(w, d.seq, *issued_at, d.doc.received_at);
            }
        }
        Ok(Parsed::Artist {
            id, display_name, ..
        }) => digest
            .artists
            .add_artist(id, display_name, d.seq, d.doc.received_at),
        _ => {}
    }
}

/// The derived tables hold exactly the rows the logged documents give.
fn same_derived_rows(
    expected: crate::store::DerivedDigest,
    stored: crate::store::DerivedDigest,
) -> Result<()> {
    for (table, want, got) in [
        (
            "statement_works",
            expected.statement_works,
            stored.statement_works,
        ),
        ("artists", expected.artists, stored.artists),
        ("artist_keys", expected.artist_keys, stored.artist_keys),
    ] {
        if want != got {
            let what = if want.rows == got.rows {
                format!(
                    "holds the {} rows the logged documents give, but some are altered",
                    got.rows
                )
            } else {
                format!(
                    "holds {} rows where the logged documents give {} (rows deleted or added)",
                    got.rows, want.rows
                )
            };
            return Err(TransparencyError::Inconsistent(format!("table {table} {what}")).into());
        }
    }
    Ok(())
}

/// What an operator reads when the stored data disagrees with the log: the
/// registry will not serve it, and how to repair.
pub const REPAIR: &str = "The registry does not serve data that disagrees with its signed log. \
     Restore the database from a backup taken before the change (or a replica), start the \
     registry on it, and run `consentry audit` against it; see README, \
     \"When the registry refuses to start\"";

pub(super) fn refuse_to_serve(e: RegistryError) -> RegistryError {
    match e {
        RegistryError::Log(TransparencyError::Inconsistent(what))
        | RegistryError::Store(StoreError::Corrupt(what))
        | RegistryError::Log(TransparencyError::Store(StoreError::Corrupt(what))) => {
            RegistryError::Log(TransparencyError::Inconsistent(format!(
                "stored data does not match the transparency log: {what}. {REPAIR}"
            )))
        }
        other => other,
    }
}

/// How far the start-up check has come: documents checked of all stored,
/// for whoever asks while it runs (`serve` answers 503 `starting` with it).
#[derive(Debug, Default)]
pub struct StartupProgress {
    pub checked: std::sync::atomic::AtomicU64,
    pub total: std::sync::atomic::AtomicU64,
}

impl StartupProgress {
    /// `(checked, total)` as last reported.
    #[must_use]
    pub fn get(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.checked.load(Relaxed), self.total.load(Relaxed))
    }
}

/// Payload bytes per page while loading the consent index, about: pages of
/// small documents are long (few round trips), pages of large ones short
/// (bounded memory: at most two pages are in flight).
const INDEX_LOAD_PAGE_BYTES: usize = 2 << 20;
/// Documents per page while loading the consent index: the first page's,
/// and the bounds of the others'.
const INDEX_LOAD_PAGE: (u32, u32, u32) = (256, 16, 4096);

/// Reads the stored documents `0..total` in log order, page by page, one
/// page ahead of the reader of the returned channel. A read failure is the
/// last item sent.
fn read_pages_ahead(
    store: Arc<dyn Store>,
    total: u64,
) -> tokio::sync::mpsc::Receiver<std::result::Result<Vec<StoredDocument>, StoreError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let (mut at, mut limit) = (0, INDEX_LOAD_PAGE.0);
        while at < total {
            // Never past `total`: a replica's database grows while it is read.
            let want = u32::try_from(total - at).unwrap_or(u32::MAX).min(limit);
            let page = store.documents_from(at, want).await;
            let done = match &page {
                Ok(p) if p.is_empty() => break,
                Ok(p) => {
                    at += p.len() as u64;
                    let bytes: usize = p.iter().map(|d| d.doc.payload.len()).sum();
                    let per_doc = (bytes / p.len()).max(1);
                    limit = u32::try_from(INDEX_LOAD_PAGE_BYTES / per_doc)
                        .unwrap_or(u32::MAX)
                        .clamp(INDEX_LOAD_PAGE.1, INDEX_LOAD_PAGE.2);
                    false
                }
                Err(_) => true,
            };
            if tx.send(page).await.is_err() || done {
                break;
            }
        }
    });
    rx
}

/// Waits for a check running in the background and passes on its result.
async fn join_check<T, E: Into<RegistryError>>(
    task: tokio::task::JoinHandle<std::result::Result<T, E>>,
) -> Result<T> {
    task.await
        .map_err(|e| RegistryError::Internal(e.to_string()))?
        .map_err(Into::into)
}

impl Registry {
    /// Builds the consent index from every stored document, in log order,
    /// and checks the stored data against the log on the way
    /// ([`Registry::new`] refuses to start when they disagree):
    ///
    /// - the tree rebuilt from the stored entries must be the stored tree,
    ///   and its root the one the latest checkpoint signs ([`TreeCheck`]);
    /// - the derived tables that answer questions about works and artists
    ///   must hold exactly the rows the documents give
    ///   ([`crate::store::DerivedDigest`]).
    ///
    /// One pass over the documents (parsed and hashed in parallel), one over
    /// the stored tree hashes and one over each derived table.
    pub(super) async fn load_index(
        store: &Arc<dyn Store>,
        log: &TransparencyLog,
        progress: &StartupProgress,
    ) -> Result<CheckState> {
        Ok(Self::load_index_as(store, log, progress, false, None)
            .await?
            .0)
    }

    /// [`Registry::load_index`]; for a `replica`, whose database may grow
    /// while it is read, the latest checkpoint is read first and only the
    /// documents it covers are loaded, and the derived tables (which may
    /// already hold later rows) are not compared. Also returns the rebuilt
    /// tree's frontier. A `shard` index keeps only the works of its range.
    pub(super) async fn load_index_as(
        store: &Arc<dyn Store>,
        log: &TransparencyLog,
        progress: &StartupProgress,
        replica: bool,
        shard: Option<consent_index::Shard>,
    ) -> Result<(CheckState, crate::log::tree::Appender)> {
        let started = std::time::Instant::now();
        let mut index = ConsentIndex::for_shard(shard);
        let works = usize::try_from(store.counts().await?.statement_works).unwrap_or(0);
        index.reserve_works(match shard {
            None => works,
            // A shard's share, with room for its spread (hashes are
            // uniform: about √share either side), so the vectors need not
            // grow by a quarter for a few works over.
            Some(s) => {
                let share = works / s.count() as usize;
                share + 4 * share.isqrt() + 1024
            }
        });
        index.defer_near_packing();
        let replica_checkpoint = if replica {
            Some(store.latest_checkpoint().await?)
        } else {
            None
        };
        let total = match &replica_checkpoint {
            Some(cp) => cp.as_ref().map_or(0, |c| c.size),
            None => store.document_count().await?,
        };
        progress
            .total
            .store(total, std::sync::atomic::Ordering::Relaxed);
        // Three things run at once: the derived tables are digested, pages
        // of documents are read ahead, and each page's stored tree hashes
        // are compared while the next page is parsed and hashed.
        let derived = (!replica).then(|| {
            tokio::spawn({
                let store = store.clone();
                async move { store.derived_digest().await }
            })
        });
        let mut pages = read_pages_ahead(store.clone(), total);
        let mut tree = TreeCheck::new();
        let mut compared = None;
        let mut expected = crate::store::DerivedDigest::default();
        while let Some(page) = pages.recv().await {
            let page = page?;
            let (parsed, leaves, digest) = tokio::task::spawn_blocking(move || {
                let parsed = parse_for_index(page.par_iter().map(|d| (d.seq, &d.doc)));
                let leaves: Vec<_> = page
                    .par_iter()
                    .map(|d| d.doc.log_entry().map(|e| crate::log::merkle::leaf_hash(&e)))
                    .collect();
                // A replica does not compare the derived tables.
                let digest = if replica {
                    crate::store::DerivedDigest::default()
                } else {
                    derived_rows(&page, &parsed)
                };
                (parsed, leaves, digest)
            })
            .await
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
            expected.statement_works.merge(digest.statement_works);
            expected.artists.merge(digest.artists);
            // The tree first: an altered document is named by the tree hash
            // it changes, whether or not it still parses.
            for ((seq, _, _), leaf) in parsed.iter().zip(leaves) {
                tree.push(*seq, leaf?)?;
            }
            if let Some(previous) = compared.take() {
                join_check(previous).await?;
            }
            compared = Some(tree.compare_stored_in_background(store.clone()));
            progress
                .checked
                .store(tree.size(), std::sync::atomic::Ordering::Relaxed);
            for (seq, received_at, p) in parsed {
                let applied = p
                    .map_err(|e| StoreError::Corrupt(format!("document {seq}: {e}")))
                    .and_then(|p| {
                        index
                            .apply_parsed(seq, received_at, p)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))
                    });
                if let Err(e) = applied {
                    if let Some(previous) = compared.take() {
                        join_check(previous).await?;
                    }
                    return Err(e.into());
                }
            }
        }
        if let Some(previous) = compared.take() {
            join_check(previous).await?;
        }
        index.pack_near();
        if index.size() < total {
            return Err(StoreError::Corrupt(format!(
                "{total} documents are counted but {} were read in log order",
                index.size()
            ))
            .into());
        }
        let checkpoint = match replica_checkpoint {
            Some(cp) => cp,
            None => store.latest_checkpoint().await?,
        };
        tree.finish(log, checkpoint.as_ref())?;
        if let Some(derived) = derived {
            for (key, artist, seq, added_at, revoked_at) in index.key_rows() {
                expected.artist_keys.add_key(
                    &format!("{}{}", PublicKey::PREFIX, hex::encode(key)),
                    artist,
                    i64::try_from(seq).unwrap_or(i64::MAX),
                    added_at,
                    revoked_at,
                );
            }
            same_derived_rows(expected, join_check(derived).await?)?;
        }
        let footprint = index.footprint();
        tracing::info!(
            documents = index.size(),
            works = footprint.works,
            work_bytes = footprint.work_bytes,
            statement_bytes = footprint.statement_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "stored data checked against the log; consent index loaded"
        );
        Ok((
            CheckState {
                index,
                checkpoint,
                broken: None,
            },
            tree.into_frontier(),
        ))
    }

    /// Runs `f` on the consent index and its checkpoint, under the read lock
    /// (writers wait: keep `f` short, or answer in chunks).
    pub fn with_index<R>(&self, f: impl FnOnce(&CheckState) -> R) -> R {
        let guard = self
            .check
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    }

    /// Applies committed documents to the consent index and moves it to
    /// `checkpoint`. The caller holds `writer`, so updates go in log order.
    pub(super) fn update_index(&self, items: Vec<Indexed>, checkpoint: Option<CheckpointRecord>) {
        let mut state = self
            .check
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.broken.is_some() {
            return;
        }
        for (seq, received_at, p) in items {
            let applied = p
                .map_err(|reason| consent_index::IndexError { index: seq, reason })
                .and_then(|p| state.index.apply_parsed(seq, received_at, p));
            if let Err(e) = applied {
                tracing::error!(error = %e, "consent index update failed; checks are refused until restart");
                state.broken = Some(e.to_string());
                return;
            }
        }
        if let Some(cp) = checkpoint {
            state.checkpoint = Some(cp);
        }
    }

    /// Signs a check receipt with the registry key.
    ///
    /// # Errors
    /// Only if the receipt cannot be serialised.
    pub fn sign_receipt(&self, receipt: &crate::check::CheckReceipt) -> Result<Envelope> {
        receipt
            .sign(self.log.signing_key())
            .map_err(|e| RegistryError::Internal(e.to_string()))
    }

    /// The view of the latest checkpoint the consent index is level with,
    /// and that checkpoint.
    ///
    /// # Errors
    /// When the index is broken or no checkpoint exists.
    pub fn check_view(&self, as_of: Option<Timestamp>) -> Result<(View, CheckpointRecord)> {
        self.latest_view(as_of)
    }

    /// The view of the checkpoint of `size` entries (the latest when
    /// `None`), and that checkpoint: how several nodes (shards) answer at
    /// one checkpoint. An older checkpoint's view is exact, since the index
    /// keeps every entry's log index and receipt time.
    ///
    /// # Errors
    /// [`RegistryError::NotHeld`] when the index is not yet level with
    /// `size`; `NotFound` when the log never had `size` entries signed; as
    /// [`Registry::check_view`].
    pub async fn check_view_at(
        &self,
        as_of: Option<Timestamp>,
        size: Option<u64>,
    ) -> Result<(View, CheckpointRecord)> {
        let (view, latest) = self.latest_view(as_of)?;
        let Some(size) = size.filter(|&s| s != latest.size) else {
            return Ok((view, latest));
        };
        if size > latest.size {
            return Err(RegistryError::NotHeld {
                asked: size,
                held: latest.size,
            });
        }
        let cp = self.store.checkpoint_of_size(size).await?.ok_or_else(|| {
            RegistryError::NotFound(format!("the log has no signed checkpoint of size {size}"))
        })?;
        // Signed receipts carry it: it must be the log's, as every checkpoint
        // a replica follows is.
        super::replica::signed_by(&self.log, &cp).map_err(|why| {
            RegistryError::Log(crate::transparency::TransparencyError::Inconsistent(why))
        })?;
        Ok((View { size, as_of }, cp))
    }

    fn latest_view(&self, as_of: Option<Timestamp>) -> Result<(View, CheckpointRecord)> {
        self.with_index(|st| {
            if let Some(b) = &st.broken {
                return Err(RegistryError::Internal(format!("consent index: {b}")));
            }
            let cp = st
                .checkpoint
                .clone()
                .ok_or_else(|| RegistryError::Internal("no checkpoint yet".into()))?;
            Ok((
                View {
                    size: cp.size,
                    as_of,
                },
                cp,
            ))
        })
    }
}
