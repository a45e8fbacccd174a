//! The registry's use cases: accept signed documents, answer questions about
//! works and artists. Rules come from [`crate::domain`], durability from
//! [`crate::store`]; this module checks documents against the registry's
//! state and serialises writes.
//!
//! - [`errors`]: why a request failed (rejections and their kinds);
//! - [`documents`]: what an accepted document's answer holds;
//! - [`statements`]: accepting statements, one or a batch;
//! - [`keys`]: artists, their keys, builders;
//! - [`queries`]: works, artists, documents for reading;
//! - [`append`]: one transaction per write, log and index after it;
//! - [`index_state`]: the consent index, its start-up check, checks' view.

mod append;
mod documents;
mod errors;
mod index_state;
mod keys;
mod queries;
mod replica;
mod statements;

use std::sync::Arc;

use tokio::sync::Mutex;

use index_state::refuse_to_serve;

pub use crate::domain::acceptance::MAX_CLOCK_SKEW_SECS;
pub use crate::domain::ids::document_id;
pub use crate::index::Shard;
pub(crate) use documents::entry_signatures;
pub use documents::{envelope_from_parts, stored_envelope, AcceptStatus, Accepted};
pub use errors::{RegistryError, Rejection, RejectionKind, Result};
pub use index_state::{CheckState, StartupProgress, REPAIR};
pub use keys::KeyHolder;
pub use queries::{ArtistView, HistoryEntry, WorkView};
pub use replica::Followed;
pub use statements::{
    verify_statement, verify_statements, MAX_STATEMENTS_PER_REQUEST, MAX_WORKS_PER_REQUEST,
};

use crate::crypto::PublicKey;
use crate::domain::Timestamp;
use crate::store::Store;
use crate::transparency::TransparencyLog;

/// The registry: state checks and serialised writes over a [`Store`].
pub struct Registry {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) log: TransparencyLog,
    /// Off only in benchmarks that measure what the log costs.
    log_enabled: bool,
    /// Held for every write; guards the last receipt time so that receipt
    /// times never go backwards in acceptance order.
    pub(crate) writer: Mutex<Timestamp>,
    /// A key no artist or builder may register (the admin key).
    reserved: Option<PublicKey>,
    /// What bulk checks read; updated after every commit, under `writer`.
    check: std::sync::RwLock<CheckState>,
    /// A replica's checked tree (its frontier), which what it follows must
    /// extend; none on a primary.
    frontier: std::sync::Mutex<Option<crate::log::tree::Appender>>,
}

impl Registry {
    /// Opens the registry over `store`: brings the log level with the
    /// documents, then checks the stored data against the log while it
    /// loads the consent index (refusing to serve data that disagrees).
    ///
    /// # Errors
    /// When the store cannot be read, or its data disagrees with the log
    /// (the message ends with [`REPAIR`]).
    pub async fn new(store: Arc<dyn Store>, log: TransparencyLog) -> Result<Self> {
        Self::open(store, log, &StartupProgress::default()).await
    }

    /// [`Registry::new`], reporting the start-up check's progress to
    /// `progress` as it goes.
    ///
    /// # Errors
    /// As [`Registry::new`].
    pub async fn open(
        store: Arc<dyn Store>,
        log: TransparencyLog,
        progress: &StartupProgress,
    ) -> Result<Self> {
        let last = store
            .last_received_at()
            .await?
            .unwrap_or(Timestamp::from_unix_nanos(0));
        let check = async {
            log.catch_up(store.as_ref()).await?;
            Self::load_index(&store, &log, progress).await
        }
        .await
        .map_err(refuse_to_serve)?;
        Ok(Self {
            store,
            log,
            log_enabled: true,
            writer: Mutex::new(last),
            reserved: None,
            check: std::sync::RwLock::new(check),
            frontier: std::sync::Mutex::new(None),
        })
    }

    /// Stops writing the log: documents are stored without log entries or
    /// checkpoints. For benchmarks that measure the log's cost only; a
    /// registry built this way breaks the log's invariants.
    #[doc(hidden)]
    #[must_use]
    pub fn without_log_for_benchmarks(mut self) -> Self {
        self.log_enabled = false;
        self
    }

    /// What the log serves, read from this registry's store.
    #[must_use]
    pub fn log_reader(&self) -> crate::transparency::LogReader<'_> {
        self.log.reader(self.store.as_ref())
    }

    /// The storage backend's name (`sqlite`, `postgres`).
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// The transparency log.
    #[must_use]
    pub fn log(&self) -> &TransparencyLog {
        &self.log
    }

    /// Reserves `key` (the admin key): nobody can register it as theirs.
    #[must_use]
    pub fn with_reserved_key(mut self, key: Option<PublicKey>) -> Self {
        self.reserved = key;
        self
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// §9.1 step 3 and §9.2 step 2, as a rejection.
    pub(super) fn check_not_future(issued_at: Timestamp, now: Timestamp) -> Result<(), Rejection> {
        crate::domain::acceptance::not_in_future(issued_at, now)
            .map_err(|detail| Rejection::new(RejectionKind::IssuedInFuture, detail))
    }
}
