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
use crate::domain::{ContentHash, Timestamp};
use crate::log::entry::{self, EntryKind, EntrySignature};
use crate::log::Hash;

/// Reads a [`PayoutSummary`] from a row of `sql::payout_columns!()` (on
/// either backend's row type).
macro_rules! payout_summary_from_row {
    ($row:expr) => {{
        let r = $row;
        let unsigned = |n: i64| {
            u64::try_from(n).map_err(|_| StoreError::Corrupt("negative payout figure".into()))
        };
        Ok::<_, StoreError>(PayoutSummary {
            statement_id: r.try_get("statement_id")?,
            record_seq: r.try_get("record_seq")?,
            builder_id: r.try_get("builder_id")?,
            run_id: r.try_get("run_id")?,
            purpose: r.try_get("purpose")?,
            checked_at: Timestamp::from_unix_nanos(r.try_get("checked_at")?),
            currency: r.try_get("currency")?,
            pool_minor: unsigned(r.try_get("pool_minor")?)?,
            works: unsigned(r.try_get("works")?)?,
            excluded: unsigned(r.try_get("excluded")?)?,
            issued_at: Timestamp::from_unix_nanos(r.try_get("issued_at")?),
        })
    }};
}

/// Reads a [`PayoutLine`] from a row of
/// `sql::SELECT_ARTIST_PAYOUTS`.
macro_rules! payout_line_from_row {
    ($row:expr) => {{
        let r = $row;
        let unsigned = |n: i64| {
            u64::try_from(n).map_err(|_| StoreError::Corrupt("negative payout figure".into()))
        };
        let fees: String = r.try_get("flat_fees")?;
        Ok::<_, StoreError>(PayoutLine {
            artist_id: r.try_get("artist_id")?,
            works: unsigned(r.try_get("line_works")?)?,
            held_works: unsigned(r.try_get("held_works")?)?,
            revenue_share: unsigned(r.try_get("revenue_share")?)?,
            shortfall: unsigned(r.try_get("shortfall")?)?,
            flat_fees: serde_json::from_str(&fees)
                .map_err(|_| StoreError::Corrupt("payout line flat fees".into()))?,
        })
    }};
}

/// Signed bounds for a payout figure column.
fn signed(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt("payout figure beyond i64".into()))
}

/// The payout readers of [`Store`], the same SQL on both backends, as free
/// functions over a backend's pool (`#[async_trait]` cannot see methods a
/// macro writes, so each `impl Store` delegates to these).
macro_rules! payout_reader_fns {
    ($pool:ty) => {
        async fn read_payout(pool: &$pool, statement_id: &str) -> Result<Option<PayoutRow>> {
            let row = sqlx::query(sql::SELECT_PAYOUT)
                .bind(statement_id)
                .fetch_optional(pool)
                .await?;
            row.map(|r| {
                Ok(PayoutRow {
                    summary: payout_summary_from_row!(&r)?,
                    payload: r.try_get("payload")?,
                    signatures: r.try_get("signatures")?,
                    lines: Vec::new(),
                })
            })
            .transpose()
        }

        async fn read_payout_of_run(
            pool: &$pool,
            builder_id: &str,
            run_id: &str,
        ) -> Result<Option<String>> {
            Ok(sqlx::query_scalar(sql::SELECT_PAYOUT_OF_RUN)
                .bind(builder_id)
                .bind(run_id)
                .fetch_optional(pool)
                .await?)
        }

        async fn read_builder_payouts(
            pool: &$pool,
            builder_id: &str,
            after: Option<i64>,
            limit: u32,
        ) -> Result<Vec<PayoutSummary>> {
            let rows = sqlx::query(sql::SELECT_BUILDER_PAYOUTS)
                .bind(builder_id)
                .bind(after.unwrap_or(-1))
                .bind(i64::from(limit.min(MAX_PAGE)))
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| payout_summary_from_row!(r)).collect()
        }

        async fn read_artist_payouts(
            pool: &$pool,
            artist_id: &str,
            after: Option<i64>,
            limit: u32,
        ) -> Result<Vec<(PayoutSummary, PayoutLine)>> {
            let rows = sqlx::query(sql::SELECT_ARTIST_PAYOUTS)
                .bind(artist_id)
                .bind(after.unwrap_or(-1))
                .bind(i64::from(limit.min(MAX_PAGE)))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok((payout_summary_from_row!(r)?, payout_line_from_row!(r)?)))
                .collect()
        }
    };
}

/// Inserts a payout statement and its lines through `conn` (a connection
/// or transaction of either backend) for the record at log index `seq`.
macro_rules! insert_payout {
    ($conn:expr, $seq:expr, $row:expr) => {{
        let row: &PayoutRow = $row;
        let s = &row.summary;
        sqlx::query(sql::INSERT_PAYOUT)
            .bind(&s.statement_id)
            .bind($seq)
            .bind(&s.builder_id)
            .bind(&s.run_id)
            .bind(&s.purpose)
            .bind(s.checked_at.unix_nanos())
            .bind(&s.currency)
            .bind(signed(s.pool_minor)?)
            .bind(signed(s.works)?)
            .bind(signed(s.excluded)?)
            .bind(s.issued_at.unix_nanos())
            .bind(row.payload.as_slice())
            .bind(&row.signatures)
            .execute($conn)
            .await
            .map_err(map_constraint)?;
        for l in &row.lines {
            sqlx::query(sql::INSERT_PAYOUT_LINE)
                .bind(&l.artist_id)
                .bind(&s.statement_id)
                .bind($seq)
                .bind(signed(l.works)?)
                .bind(signed(l.held_works)?)
                .bind(signed(l.revenue_share)?)
                .bind(signed(l.shortfall)?)
                .bind(serde_json::to_string(&l.flat_fees).unwrap_or_default())
                .execute($conn)
                .await
                .map_err(map_constraint)?;
        }
    }};
}

pub mod postgres;
mod sql;
pub mod sqlite;
pub mod writer;

/// What kind of signed document a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Artist,
    KeyEvent,
    Statement,
    /// A payout record, signed by the registry (`spec/payouts.md` §6).
    Payout,
}

impl DocumentKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Artist => "artist",
            DocumentKind::KeyEvent => "key-event",
            DocumentKind::Statement => "statement",
            DocumentKind::Payout => "payout",
        }
    }

    /// The log entry kind of such documents.
    #[must_use]
    pub const fn entry_kind(self) -> EntryKind {
        match self {
            DocumentKind::Artist => EntryKind::Artist,
            DocumentKind::KeyEvent => EntryKind::KeyEvent,
            DocumentKind::Statement => EntryKind::Statement,
            DocumentKind::Payout => EntryKind::Payout,
        }
    }

    /// # Errors
    /// On a kind this version does not know (a corrupted row).
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "artist" => Ok(DocumentKind::Artist),
            "key-event" => Ok(DocumentKind::KeyEvent),
            "statement" => Ok(DocumentKind::Statement),
            "payout" => Ok(DocumentKind::Payout),
            other => Err(StoreError::Corrupt(format!(
                "unknown document kind `{other}`"
            ))),
        }
    }
}

/// A signed document as accepted: the exact payload bytes and the signatures.
#[derive(Debug, Clone)]
pub struct Document {
    /// Lowercase hex SHA-256 of the payload bytes.
    pub id: String,
    pub kind: DocumentKind,
    pub artist_id: String,
    pub payload_type: String,
    pub payload: Vec<u8>,
    /// The envelope's signatures, verified before the document was
    /// accepted (stored as the JSON array of `{keyid, sig}` envelopes carry).
    pub signatures: Vec<EntrySignature>,
    pub received_at: Timestamp,
}

/// The `signatures` column of `documents`: a JSON array of `{keyid, sig}`,
/// key ids `ed25519:<hex>` and signatures in standard base64, as envelopes
/// carry them.
#[must_use]
pub fn signatures_column(signatures: &[EntrySignature]) -> String {
    use base64::Engine;
    let items: Vec<serde_json::Value> = signatures
        .iter()
        .map(|s| {
            serde_json::json!({
                "keyid": format!("ed25519:{}", hex::encode(s.key)),
                "sig": base64::engine::general_purpose::STANDARD.encode(s.sig),
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// Reads the `signatures` column of document `id`.
///
/// # Errors
/// `Corrupt` when the column is not what [`signatures_column`] writes.
pub fn parse_signatures_column(id: &str, column: &str) -> Result<Vec<EntrySignature>> {
    use base64::Engine;
    let corrupt = |what: &str| StoreError::Corrupt(format!("document {id}: {what}"));
    /// A stored signature, borrowed from the column.
    #[derive(serde::Deserialize)]
    struct Stored<'a> {
        keyid: &'a str,
        sig: &'a str,
    }
    let sigs: Vec<Stored<'_>> = serde_json::from_str(column).map_err(|_| corrupt("signatures"))?;
    let mut out = Vec::with_capacity(sigs.len());
    for s in &sigs {
        let mut key = [0u8; 32];
        let hex_key = s
            .keyid
            .strip_prefix("ed25519:")
            .ok_or_else(|| corrupt("key id"))?;
        hex::decode_to_slice(hex_key, &mut key).map_err(|_| corrupt("key id"))?;
        let sig: [u8; 64] = base64::engine::general_purpose::STANDARD
            .decode(s.sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("signature"))?;
        out.push(EntrySignature { key, sig });
    }
    Ok(out)
}

impl Document {
    /// The document's log entry (`spec/log.md` §2).
    ///
    /// # Errors
    /// When the stored signatures are not what the registry writes, or the
    /// entry does not fit in the log.
    pub fn log_entry(&self) -> Result<Vec<u8>> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("document {}: {what}", self.id));
        let kind = self.kind.entry_kind();
        let received_at =
            u64::try_from(self.received_at.unix_nanos()).map_err(|_| corrupt("receipt time"))?;
        entry::encode(
            kind,
            received_at,
            &self.payload_type,
            &self.signatures,
            &self.payload,
        )
        .map_err(|e| corrupt(&e.to_string()))
    }
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub size: u64,
    pub root: Hash,
    /// The signed note, verbatim.
    pub note: String,
    pub signed_at: Timestamp,
}

/// A stored document with its position in acceptance order.
#[derive(Debug, Clone)]
pub struct StoredDocument {
    /// 0-based, contiguous acceptance order across all documents.
    pub seq: i64,
    pub doc: Document,
}

/// The state changes a document causes, written with it.
#[derive(Debug, Clone)]
pub enum Effect {
    /// A new artist whose id is the document id, with a first key.
    ArtistCreated {
        display_name: String,
        key: PublicKey,
    },
    /// A key joins the artist.
    KeyAdded { key: PublicKey },
    /// A key stops being valid from `effective_at`. Applies only if the key
    /// is not revoked yet or its revocation is later (brought forward);
    /// otherwise `Conflict("artist_keys_revoked_once")`.
    KeyRevoked {
        key: PublicKey,
        effective_at: Timestamp,
    },
    /// A statement about `works` issued at `issued_at`, signed by `key`.
    Statement {
        key: PublicKey,
        issued_at: Timestamp,
        works: Vec<ContentHash>,
    },
    /// A payout statement, whose log record the document is.
    Payout(Box<PayoutRow>),
}

/// A payout statement to store: its summary, the signed envelope's parts
/// and one line per artist.
#[derive(Debug, Clone)]
pub struct PayoutRow {
    pub summary: PayoutSummary,
    pub payload: Vec<u8>,
    /// JSON array of `{keyid, sig}`, as in envelopes.
    pub signatures: String,
    pub lines: Vec<PayoutLine>,
}

/// Listing pages, at most this long.
pub const MAX_PAGE: u32 = 1000;

/// One append: a document and its effects.
#[derive(Debug, Clone)]
pub struct Append {
    pub doc: Document,
    pub effects: Vec<Effect>,
}

/// A key as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: PublicKey,
    pub artist_id: String,
    pub added_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl KeyRecord {
    /// Whether the key may sign at `at`.
    #[must_use]
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.span().active_at(at)
    }

    /// When the key was added and revoked.
    #[must_use]
    pub fn span(&self) -> crate::domain::keys::KeySpan {
        crate::domain::keys::KeySpan {
            added_at: self.added_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// An artist and their keys.
#[derive(Debug, Clone)]
pub struct ArtistRecord {
    pub artist_id: String,
    pub display_name: String,
    pub registered_at: Timestamp,
    pub keys: Vec<KeyRecord>,
}

/// One statement about one work, as read for that work's history.
#[derive(Debug, Clone)]
pub struct WorkStatementRow {
    pub seq: i64,
    pub doc: Document,
    pub display_name: String,
    pub key: String,
    pub issued_at: Timestamp,
    pub key_revoked_at: Option<Timestamp>,
}

/// One statement by an artist about a work, with what decides whether it
/// still counts (its key and receipt time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtistClaim {
    pub work: ContentHash,
    pub key: String,
    pub issued_at: Timestamp,
    pub received_at: Timestamp,
}

/// A dataset builder registered by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderRecord {
    pub builder_id: String,
    pub name: String,
    pub key: PublicKey,
    pub created_at: Timestamp,
}

/// Row counts, for health checks and for tests asserting that a refused
/// request changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub documents: i64,
    pub artists: i64,
    pub keys: i64,
    pub revoked_keys: i64,
    pub statement_works: i64,
    pub builders: i64,
    pub log_entries: i64,
    pub checkpoints: i64,
    pub payout_statements: i64,
    pub payout_lines: i64,
}

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

/// An order-independent digest of a set of rows: their number and the
/// wrapping sum of a 64-bit hash of each. Two sets that differ by a
/// missing, extra or altered row differ in their digest (but for a chance
/// of 2^-64 per change).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowDigest {
    pub rows: u64,
    pub sum: u64,
}

impl RowDigest {
    fn add(&mut self, parts: &[&[u8]]) {
        let mut h = blake3::Hasher::new();
        for p in parts {
            h.update(&(p.len() as u64).to_be_bytes());
            h.update(p);
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.finalize().as_bytes()[..8]);
        self.rows += 1;
        self.sum = self.sum.wrapping_add(u64::from_be_bytes(first));
    }

    /// Adds a `statement_works` row: the work, its statement's seq, and the
    /// statement's issue and receipt times.
    pub fn add_statement_work(
        &mut self,
        work: &ContentHash,
        seq: i64,
        issued_at: Timestamp,
        received_at: Timestamp,
    ) {
        self.add(&[
            work.as_bytes(),
            &seq.to_be_bytes(),
            &issued_at.unix_nanos().to_be_bytes(),
            &received_at.unix_nanos().to_be_bytes(),
        ]);
    }

    /// Adds an `artists` row: the artist id, display name, the seq and
    /// receipt time of the registration.
    pub fn add_artist(
        &mut self,
        artist_id: &str,
        display_name: &str,
        seq: i64,
        registered_at: Timestamp,
    ) {
        self.add(&[
            artist_id.as_bytes(),
            display_name.as_bytes(),
            &seq.to_be_bytes(),
            &registered_at.unix_nanos().to_be_bytes(),
        ]);
    }

    /// Adds an `artist_keys` row: the key (`ed25519:<hex>` as stored), its
    /// artist, the seq and receipt time that added it, and the time it
    /// stops counting (if revoked).
    pub fn add_key(
        &mut self,
        key_id: &str,
        artist_id: &str,
        added_seq: i64,
        added_at: Timestamp,
        revoked_at: Option<Timestamp>,
    ) {
        let revoked = revoked_at.map_or([0xff; 8], |t| t.unix_nanos().to_be_bytes());
        self.add(&[
            key_id.as_bytes(),
            artist_id.as_bytes(),
            &added_seq.to_be_bytes(),
            &added_at.unix_nanos().to_be_bytes(),
            &revoked,
        ]);
    }

    /// Folds `other` in.
    pub fn merge(&mut self, other: RowDigest) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

/// The digests of the derived tables that answer questions about works,
/// artists and their keys (`statement_works`, `artists`, `artist_keys`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DerivedDigest {
    pub statement_works: RowDigest,
    pub artists: RowDigest,
    pub artist_keys: RowDigest,
}

/// Streams the derived tables of one backend into a [`DerivedDigest`]
/// (the same SQL on both).
macro_rules! derived_digest_of {
    ($pool:expr) => {{
        use futures_util::TryStreamExt;
        let pool = $pool;
        let mut digest = DerivedDigest::default();
        let mut rows =
            sqlx::query("select work_hash, seq, issued_at, received_at from statement_works")
                .fetch(pool);
        while let Some(r) = rows.try_next().await? {
            let work: Vec<u8> = r.try_get("work_hash")?;
            digest.statement_works.add_statement_work(
                &parse_hash(&work)?,
                r.try_get("seq")?,
                Timestamp::from_unix_nanos(r.try_get("issued_at")?),
                Timestamp::from_unix_nanos(r.try_get("received_at")?),
            );
        }
        drop(rows);
        let mut rows = sqlx::query(
            "select artist_id, display_name, registered_seq, registered_at from artists",
        )
        .fetch(pool);
        while let Some(r) = rows.try_next().await? {
            let id: String = r.try_get("artist_id")?;
            let name: String = r.try_get("display_name")?;
            digest.artists.add_artist(
                &id,
                &name,
                r.try_get("registered_seq")?,
                Timestamp::from_unix_nanos(r.try_get("registered_at")?),
            );
        }
        drop(rows);
        let mut rows = sqlx::query(
            "select key_id, artist_id, added_seq, added_at, revoked_at from artist_keys",
        )
        .fetch(pool);
        while let Some(r) = rows.try_next().await? {
            let key: String = r.try_get("key_id")?;
            let artist: String = r.try_get("artist_id")?;
            let revoked: Option<i64> = r.try_get("revoked_at")?;
            digest.artist_keys.add_key(
                &key,
                &artist,
                r.try_get("added_seq")?,
                Timestamp::from_unix_nanos(r.try_get("added_at")?),
                revoked.map(Timestamp::from_unix_nanos),
            );
        }
        Ok::<_, StoreError>(digest)
    }};
}
pub(crate) use derived_digest_of;

/// The key of a leaf hash in `log_leaves`: its first 8 bytes, big-endian.
pub(crate) fn leaf_prefix(leaf: &Hash) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&leaf[..8]);
    i64::from_be_bytes(b)
}

/// A `log_leaves` row: log index, leaf-hash prefix, the stored hashes the
/// leaf's append produced.
pub(crate) type LeafRow<'a> = (i64, i64, &'a [u8]);

/// Splits the stored hashes appended from stored index `start` into one row
/// per leaf of `leaves` (which must be the leaves that produced them, in order).
pub(crate) fn leaf_rows<'a>(
    start: u64,
    hashes: &'a [Hash],
    leaves: &[(Hash, u64)],
) -> Result<Vec<LeafRow<'a>>> {
    use crate::log::merkle::{stored_hash_index, stored_hashes_of_leaf};
    let bytes = hashes.as_flattened();
    let mut rows = Vec::with_capacity(leaves.len());
    let mut at = start;
    for (leaf, idx) in leaves {
        let count = stored_hashes_of_leaf(*idx);
        let from = stored_hash_index(0, *idx);
        let slice = usize::try_from(from - start)
            .ok()
            .zip(usize::try_from(count).ok())
            .and_then(|(o, c)| bytes.get(o * 32..(o + c) * 32))
            .filter(|_| from == at)
            .ok_or_else(|| StoreError::Corrupt(format!("log hashes of leaf {idx} out of step")))?;
        if slice[..32] != leaf[..] {
            return Err(StoreError::Corrupt(format!("leaf {idx}: hash out of step")));
        }
        let idx = i64::try_from(*idx).map_err(|_| StoreError::Corrupt("log index".into()))?;
        rows.push((idx, leaf_prefix(leaf), slice));
        at = from + count;
    }
    if at != start + hashes.len() as u64 {
        return Err(StoreError::Corrupt(
            "stored hashes without their leaf".into(),
        ));
    }
    Ok(rows)
}

/// The distinct `log_leaves` rows that hold the stored hashes at `indexes`.
pub(crate) fn owner_rows(indexes: &[u64]) -> Vec<i64> {
    let mut rows: Vec<i64> = indexes
        .iter()
        .map(|i| i64::try_from(crate::log::merkle::stored_hash_owner(*i).0).unwrap_or(i64::MAX))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// Picks the hashes at `indexes` out of the `(idx, hashes)` rows read for
/// [`owner_rows`].
pub(crate) fn pick_hashes(indexes: &[u64], rows: Vec<(i64, Vec<u8>)>) -> Result<Vec<Hash>> {
    let found: std::collections::HashMap<i64, Vec<u8>> = rows.into_iter().collect();
    indexes
        .iter()
        .map(|i| {
            let (leaf, offset) = crate::log::merkle::stored_hash_owner(*i);
            let row = i64::try_from(leaf)
                .ok()
                .and_then(|k| found.get(&k))
                .ok_or_else(|| StoreError::Corrupt(format!("log hash {i} is missing")))?;
            usize::try_from(offset)
                .ok()
                .and_then(|o| row.get(o * 32..o * 32 + 32))
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("log hash {i} is missing")))
        })
        .collect()
}

/// The log index whose leaf hash is `leaf`, among rows `(idx, hashes)`
/// sharing its prefix.
pub(crate) fn match_leaf(leaf: &Hash, candidates: Vec<(i64, Vec<u8>)>) -> Option<u64> {
    candidates
        .into_iter()
        .find(|(_, hashes)| hashes.get(..32) == Some(&leaf[..]))
        .and_then(|(idx, _)| u64::try_from(idx).ok())
}

pub(crate) fn checkpoint_from_parts(
    size: i64,
    root: &[u8],
    note: String,
    signed_at: i64,
) -> Result<CheckpointRecord> {
    Ok(CheckpointRecord {
        size: u64::try_from(size).map_err(|_| StoreError::Corrupt("checkpoint size".into()))?,
        root: root
            .try_into()
            .map_err(|_| StoreError::Corrupt("checkpoint root".into()))?,
        note,
        signed_at: Timestamp::from_unix_nanos(signed_at),
    })
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
