//! Storage: one [`Store`] trait, one implementation per database.
//!
//! The registry owns the rules; a store owns durability. Every method's
//! contract is written on the trait. Writes are serialised by the caller
//! ([`crate::registry::Registry`] holds a write lock), and every table that
//! carries history (`documents`, `statement_works`) is append-only, enforced
//! by triggers in both migration sets.

use async_trait::async_trait;

use crate::crypto::PublicKey;
use crate::domain::payout::{PayoutLine, PayoutSummary};
use crate::domain::{CheckpointRecord, ContentHash, Timestamp};
use crate::log::Hash;

#[macro_use]
mod payout_sql;
mod digest;
mod log_rows;
mod records;

pub(crate) use digest::derived_digest_of;
pub use digest::{DerivedDigest, RowDigest};
pub(crate) use log_rows::{
    checkpoint_from_parts, leaf_prefix, leaf_rows, match_leaf, owner_rows, pick_hashes,
};
pub(crate) use payout_sql::signed;
pub use records::{
    parse_signatures_column, signatures_column, Append, ArtistClaim, ArtistRecord, BuilderRecord,
    Counts, Document, DocumentKind, Effect, KeyRecord, PayoutRow, StoredDocument, WorkStatementRow,
    MAX_PAGE,
};

pub mod postgres;
mod sql;
pub mod sqlite;
pub mod writer;

/// Storage failures. `Conflict` carries the violated constraint's name.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("constraint violated: {0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another registry process holds this database for writing.
    #[error("{0}")]
    WriterHeld(String),
    /// An append would break the log's acceptance order (a receipt time not
    /// after the previous entry's): another writer committed in between.
    #[error("out of acceptance order: {0}")]
    OutOfOrder(String),
}

impl StoreError {
    /// True when the database refused a write for want of space: SQLite's
    /// `SQLITE_FULL` (13), PostgreSQL's `53100 disk_full`, or `ENOSPC`. Nothing
    /// was stored; the same write succeeds once space is freed.
    #[must_use]
    pub fn is_storage_full(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            // SQLite codes are numbers, PostgreSQL's five characters: no clash.
            sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("13" | "53100")),
            sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open append transaction (see [`Store::begin_append`]).
#[async_trait]
pub trait AppendTx: Send {
    /// Appends `batch` after what this transaction appended before; returns
    /// the seqs given. Not visible to readers until commit. On error the
    /// transaction must be dropped: it can no longer commit.
    async fn append(&mut self, batch: &[Append]) -> Result<Vec<i64>>;

    /// The log's size when this transaction began: the size of the latest
    /// checkpoint, 0 when there is none.
    async fn log_size(&mut self) -> Result<u64>;

    /// Stored tree hashes at `indexes`, in that order, seeing this
    /// transaction's writes. `Corrupt` when one is missing.
    async fn log_hashes(&mut self, indexes: &[u64]) -> Result<Vec<Hash>>;

    /// Appends the stored tree hashes at `start, start + 1, ...`, which the
    /// appends of `leaves` (`(leaf hash, log index)`, in order) produced: one
    /// `log_leaves` row per leaf. The caller appends them for documents
    /// appended in this transaction, in seq order, and signs a checkpoint
    /// for the new size before committing ([`AppendTx::add_checkpoint`]).
    /// `Corrupt` when hashes and leaves are out of step.
    async fn append_log(
        &mut self,
        start: u64,
        hashes: &[Hash],
        leaves: &[(Hash, u64)],
    ) -> Result<()>;

    /// Records a signed checkpoint. `Conflict("checkpoints_pkey")` when one
    /// of that size exists.
    async fn add_checkpoint(&mut self, checkpoint: &CheckpointRecord) -> Result<()>;

    /// Commits. Durable on return (SQLite: WAL with `synchronous=FULL`;
    /// PostgreSQL: `synchronous_commit=on`).
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// The registry's storage.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Opens a write transaction for appends. Documents appended through it
    /// get consecutive `seq` values following the last committed one; they
    /// become visible, all together, when [`AppendTx::commit`] returns, and
    /// are rolled back if the transaction is dropped uncommitted.
    ///
    /// Not for concurrent use: the caller serialises writers. On PostgreSQL
    /// a transaction-level advisory lock also serialises writers from other
    /// processes.
    async fn begin_append(&self) -> Result<Box<dyn AppendTx>>;

    /// Appends `batch` in order in one transaction ([`Store::begin_append`],
    /// one [`AppendTx::append`], [`AppendTx::commit`]). Returns the seqs.
    /// Durable on return; all or nothing.
    async fn append(&self, batch: &[Append]) -> Result<Vec<i64>> {
        let mut tx = self.begin_append().await?;
        let seqs = tx.append(batch).await?;
        tx.commit().await?;
        Ok(seqs)
    }

    /// Documents with any of these ids. Safe concurrently.
    async fn documents_by_id(&self, ids: &[String]) -> Result<Vec<StoredDocument>>;

    /// The artist's registration and key events (every document of theirs
    /// but statements), in acceptance order. Safe concurrently.
    async fn artist_key_history(&self, artist_id: &str) -> Result<Vec<StoredDocument>>;

    /// Every statement by `artist_id` about any of `works`. Safe concurrently.
    async fn artist_claims(
        &self,
        artist_id: &str,
        works: &[ContentHash],
    ) -> Result<Vec<ArtistClaim>>;

    /// The key, whoever holds it.
    async fn key(&self, key: &PublicKey) -> Result<Option<KeyRecord>>;

    /// The artist with their keys.
    async fn artist(&self, artist_id: &str) -> Result<Option<ArtistRecord>>;

    /// Works the artist made statements about, ordered by hash, after
    /// `after`, at most `limit`.
    async fn artist_works(
        &self,
        artist_id: &str,
        after: Option<ContentHash>,
        limit: u32,
    ) -> Result<Vec<ContentHash>>;

    /// Every statement about `work`, in acceptance order.
    async fn work_history(&self, work: &ContentHash) -> Result<Vec<WorkStatementRow>>;

    /// The receipt time of the last document, if any.
    async fn last_received_at(&self) -> Result<Option<Timestamp>>;

    /// Registers a builder. `Conflict("builders_key_key")` when the key is taken.
    async fn create_builder(&self, builder: &BuilderRecord) -> Result<()>;

    /// The builder holding `key`.
    async fn builder_by_key(&self, key: &PublicKey) -> Result<Option<BuilderRecord>>;

    /// A payout statement by id: its summary, payload and signatures (lines
    /// left empty).
    async fn payout(&self, statement_id: &str) -> Result<Option<PayoutRow>>;

    /// The statement id of a builder's run, if it was reported.
    async fn payout_of_run(&self, builder_id: &str, run_id: &str) -> Result<Option<String>>;

    /// A builder's payout statements in log order, after record seq `after`,
    /// at most `limit`.
    async fn builder_payouts(
        &self,
        builder_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<PayoutSummary>>;

    /// An artist's payout lines in log order, after record seq `after`, at
    /// most `limit`, each with its statement.
    async fn artist_payouts(
        &self,
        artist_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(PayoutSummary, PayoutLine)>>;

    /// Row counts of every table. Safe concurrently.
    async fn counts(&self) -> Result<Counts>;

    /// The number of documents (the next seq). Safe concurrently.
    async fn document_count(&self) -> Result<u64>;

    /// Documents with `start <= seq`, in seq order, at most `limit`. Safe
    /// concurrently.
    async fn documents_from(&self, start: u64, limit: u32) -> Result<Vec<StoredDocument>>;

    /// The latest checkpoint (the largest size). Safe concurrently.
    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>>;

    /// The checkpoint of `size` entries, if the log signed one. Safe
    /// concurrently.
    async fn checkpoint_of_size(&self, size: u64) -> Result<Option<CheckpointRecord>>;

    /// Stored tree hashes at `indexes`, in that order, as committed.
    /// `Corrupt` when one is missing. Safe concurrently.
    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>>;

    /// The log index of the entry with this leaf hash. Safe concurrently.
    async fn leaf_index(&self, leaf: &Hash) -> Result<Option<u64>>;

    /// Digests of the tables derived from documents, read row by row (see
    /// [`DerivedDigest`]): the registry compares them at start with the
    /// digests its documents give. Reads whole tables. Safe concurrently.
    async fn derived_digest(&self) -> Result<DerivedDigest>;
}

pub(crate) const COUNTS_SQL: &str = "select
    (select count(*) from documents) as documents,
    (select count(*) from artists) as artists,
    (select count(*) from artist_keys) as keys,
    (select count(*) from artist_keys where revoked_at is not null) as revoked_keys,
    (select count(*) from statement_works) as statement_works,
    (select count(*) from builders) as builders,
    (select count(*) from log_leaves) as log_entries,
    (select count(*) from checkpoints) as checkpoints,
    (select count(*) from payout_statements) as payout_statements,
    (select count(*) from payout_lines) as payout_lines";

/// Opens the store named by a `sqlite:` or `postgres:` URL and runs its migrations.
///
/// # Errors
/// On an unknown scheme, a connection failure or a failed migration.
pub async fn open(url: &str) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?))
    } else {
        anyhow::bail!(
            "database URL must start with sqlite: or postgres: (got a URL with another scheme)"
        )
    }
}

/// Opens the store named by `url` to read only, for a replica (`serve
/// --read-only`): no migrations, no writer claim; the database must hold
/// exactly the schema this binary's migrations build.
///
/// # Errors
/// On an unknown scheme, a connection failure or another schema.
pub async fn open_read_only(url: &str) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            sqlite::SqliteStore::open_read_only(url).await?,
        ))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(
            postgres::PgStore::open_read_only(url).await?,
        ))
    } else {
        anyhow::bail!(
            "database URL must start with sqlite: or postgres: (got a URL with another scheme)"
        )
    }
}

/// The migrations a database has applied, in order.
const APPLIED_MIGRATIONS: &str =
    "select version from _sqlx_migrations where success order by version";

/// A read-only store refuses a schema other than its binary's: its queries
/// would read tables that are not there, or not as it knows them. `applied`
/// is what [`APPLIED_MIGRATIONS`] read.
fn same_migrations(
    applied: std::result::Result<Vec<i64>, sqlx::Error>,
    migrator: &sqlx::migrate::Migrator,
) -> Result<()> {
    let applied = applied.map_err(|e| {
        StoreError::Corrupt(format!(
            "no registry schema to read here ({e}): start the primary on this database first"
        ))
    })?;
    let known: Vec<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    if applied == known {
        return Ok(());
    }
    Err(StoreError::Corrupt(format!(
        "the database's schema is at migration {} and this binary's at {}: run the same version as the primary",
        applied.last().copied().unwrap_or(0),
        known.last().copied().unwrap_or(0)
    )))
}

pub(crate) fn parse_key(text: &str) -> Result<PublicKey> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("stored key {text}: {e}")))
}

pub(crate) fn parse_hash(bytes: &[u8]) -> Result<ContentHash> {
    ContentHash::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("stored hash: {e}")))
}

pub(crate) fn map_constraint(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if let Some(name) = db.constraint() {
            return StoreError::Conflict(name.to_owned());
        }
        if db.is_unique_violation() {
            return StoreError::Conflict(db.message().to_owned());
        }
    }
    StoreError::Database(e)
}
