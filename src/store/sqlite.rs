//! The embedded backend: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a committed transaction survives a crash of the process or the machine.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::{
    checkpoint_from_parts, map_constraint, owner_rows, parse_hash, parse_key, pick_hashes, signed,
    sql, Append, AppendTx, ArtistClaim, ArtistRecord, BuilderRecord, Counts, Document,
    DocumentKind, Effect, KeyRecord, PayoutRow, Result, Store, StoreError, StoredDocument,
    WorkStatementRow, COUNTS_SQL, MAX_PAGE,
};
use crate::crypto::PublicKey;
use crate::domain::payout::{PayoutLine, PayoutSummary};
use crate::domain::CheckpointRecord;
use crate::domain::{ContentHash, Timestamp};
use crate::log::Hash;

pub struct SqliteStore {
    pool: SqlitePool,
    /// This process's claim on the database file (none in memory).
    _lease: Option<super::writer::FileLease>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    ///
    /// # Errors
    /// When the file cannot be opened or a migration fails.
    /// Claims the database for this process first
    /// ([`super::writer`]): a second writer is refused with
    /// [`StoreError::WriterHeld`].
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        let in_memory = options.get_filename() == std::path::Path::new(":memory:")
            || url.contains("mode=memory");
        let lease = if in_memory {
            None
        } else {
            Some(super::writer::FileLease::claim(options.get_filename()).await?)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            _lease: lease,
        })
    }

    /// Opens the database file at `url` to read only, beside the process
    /// that writes it (WAL readers never block its writer): claims nothing,
    /// migrates nothing; the schema must be exactly the one this binary's
    /// migrations build.
    ///
    /// # Errors
    /// When the file cannot be opened, or holds a schema of other
    /// migrations.
    pub async fn open_read_only(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .read_only(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        super::same_migrations(
            sqlx::query_scalar(super::APPLIED_MIGRATIONS)
                .fetch_all(&pool)
                .await,
            &sqlx::migrate!("migrations/sqlite"),
        )?;
        Ok(Self { pool, _lease: None })
    }
}

fn doc_from_row(row: &SqliteRow) -> Result<StoredDocument> {
    let id: String = row.try_get("id")?;
    let signatures: String = row.try_get("signatures")?;
    Ok(StoredDocument {
        seq: row.try_get("seq")?,
        doc: Document {
            signatures: super::parse_signatures_column(&id, &signatures)?,
            id,
            kind: DocumentKind::parse(row.try_get("kind")?)?,
            artist_id: row.try_get("artist_id")?,
            payload_type: row.try_get("payload_type")?,
            payload: row.try_get("payload")?,
            received_at: Timestamp::from_unix_nanos(row.try_get("received_at")?),
        },
    })
}

fn key_from_row(row: &SqliteRow) -> Result<KeyRecord> {
    Ok(KeyRecord {
        key: parse_key(row.try_get("key_id")?)?,
        artist_id: row.try_get("artist_id")?,
        added_at: Timestamp::from_unix_nanos(row.try_get("added_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_unix_nanos),
    })
}

fn hex_json(works: &[ContentHash]) -> String {
    let list: Vec<String> = works.iter().map(|w| hex::encode(w.as_bytes())).collect();
    serde_json::Value::from(list).to_string()
}

payout_reader_fns!(SqlitePool);

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn begin_append(&self) -> Result<Box<dyn AppendTx>> {
        // The last entry is read inside the transaction: in WAL mode its
        // first write fails (SQLITE_BUSY_SNAPSHOT) if anyone committed after
        // that read, so what the append follows cannot change under it.
        // (`begin immediate` would say so sooner, but sqlx refuses it on a
        // connection whose failed transaction, say on a full disk, has not
        // been rolled back yet.)
        let mut tx = self.pool.begin().await?;
        let last: Option<(i64, i64)> = sqlx::query_as(sql::LAST_DOCUMENT)
            .fetch_optional(&mut *tx)
            .await?;
        Ok(Box::new(SqliteAppend {
            tx,
            next: last.map_or(0, |(seq, _)| seq + 1),
            last: Timestamp::from_unix_nanos(last.map_or(0, |(_, t)| t)),
        }))
    }

    async fn documents_by_id(&self, ids: &[String]) -> Result<Vec<StoredDocument>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "select seq, id, kind, artist_id, payload_type, payload, signatures, received_at
             from documents where id in (select value from json_each($1)) order by seq",
        )
        .bind(serde_json::Value::from(ids.to_vec()).to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(doc_from_row).collect()
    }

    async fn artist_key_history(&self, artist_id: &str) -> Result<Vec<StoredDocument>> {
        // The predicate is the partial index's, so the index serves it.
        let rows = sqlx::query(sql::SELECT_KEY_HISTORY)
            .bind(artist_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(doc_from_row).collect()
    }

    async fn artist_claims(
        &self,
        artist_id: &str,
        works: &[ContentHash],
    ) -> Result<Vec<ArtistClaim>> {
        if works.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "select w.work_hash, (select k.key_id from artist_keys k where k.key_no = w.key_no) as key_id,
                    w.issued_at, w.received_at
             from statement_works w
             where w.work_hash in (select unhex(value) from json_each($1))
               and w.artist_no = (select artist_no from artists where artist_id = $2)",
        )
        .bind(hex_json(works))
        .bind(artist_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ArtistClaim {
                    work: parse_hash(r.try_get("work_hash")?)?,
                    key: r.try_get("key_id")?,
                    issued_at: Timestamp::from_unix_nanos(r.try_get("issued_at")?),
                    received_at: Timestamp::from_unix_nanos(r.try_get("received_at")?),
                })
            })
            .collect()
    }

    async fn key(&self, key: &PublicKey) -> Result<Option<KeyRecord>> {
        let row = sqlx::query(sql::SELECT_KEY)
            .bind(key.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn artist(&self, artist_id: &str) -> Result<Option<ArtistRecord>> {
        let Some(row) = sqlx::query(sql::SELECT_ARTIST)
            .bind(artist_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let keys = sqlx::query(sql::SELECT_ARTIST_KEYS)
            .bind(artist_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(Some(ArtistRecord {
            artist_id: row.try_get("artist_id")?,
            display_name: row.try_get("display_name")?,
            registered_at: Timestamp::from_unix_nanos(row.try_get("registered_at")?),
            keys: keys.iter().map(key_from_row).collect::<Result<_>>()?,
        }))
    }

    async fn artist_works(
        &self,
        artist_id: &str,
        after: Option<ContentHash>,
        limit: u32,
    ) -> Result<Vec<ContentHash>> {
        let after = after.map_or_else(Vec::new, |h| h.as_bytes().to_vec());
        let rows = sqlx::query(sql::SELECT_ARTIST_WORKS)
            .bind(artist_id)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| parse_hash(r.try_get("work_hash")?))
            .collect()
    }

    async fn work_history(&self, work: &ContentHash) -> Result<Vec<WorkStatementRow>> {
        let rows = sqlx::query(
            "select d.seq, d.id, d.kind, d.artist_id, d.payload_type, d.payload, d.signatures, d.received_at,
                    a.display_name, k.key_id, w.issued_at, k.revoked_at
             from statement_works w
             join documents d on d.seq = w.seq
             join artists a on a.artist_no = w.artist_no
             join artist_keys k on k.key_no = w.key_no
             where w.work_hash = $1 order by w.seq",
        )
        .bind(work.as_bytes().as_slice())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let stored = doc_from_row(r)?;
                Ok(WorkStatementRow {
                    seq: stored.seq,
                    doc: stored.doc,
                    display_name: r.try_get("display_name")?,
                    key: r.try_get("key_id")?,
                    issued_at: Timestamp::from_unix_nanos(r.try_get("issued_at")?),
                    key_revoked_at: r
                        .try_get::<Option<i64>, _>("revoked_at")?
                        .map(Timestamp::from_unix_nanos),
                })
            })
            .collect()
    }

    async fn last_received_at(&self) -> Result<Option<Timestamp>> {
        let v: Option<i64> = sqlx::query_scalar(sql::LAST_RECEIVED_AT)
            .fetch_one(&self.pool)
            .await?;
        Ok(v.map(Timestamp::from_unix_nanos))
    }

    async fn create_builder(&self, b: &BuilderRecord) -> Result<()> {
        sqlx::query(sql::INSERT_BUILDER)
            .bind(&b.builder_id)
            .bind(&b.name)
            .bind(b.key.to_string())
            .bind(b.created_at.unix_nanos())
            .execute(&self.pool)
            .await
            .map_err(map_constraint)?;
        Ok(())
    }

    async fn builder_by_key(&self, key: &PublicKey) -> Result<Option<BuilderRecord>> {
        let row = sqlx::query(sql::SELECT_BUILDER_BY_KEY)
            .bind(key.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(BuilderRecord {
                builder_id: r.try_get("builder_id")?,
                name: r.try_get("name")?,
                key: parse_key(r.try_get("key_id")?)?,
                created_at: Timestamp::from_unix_nanos(r.try_get("created_at")?),
            })
        })
        .transpose()
    }

    async fn payout(&self, statement_id: &str) -> Result<Option<PayoutRow>> {
        read_payout(&self.pool, statement_id).await
    }

    async fn payout_of_run(&self, builder_id: &str, run_id: &str) -> Result<Option<String>> {
        read_payout_of_run(&self.pool, builder_id, run_id).await
    }

    async fn builder_payouts(
        &self,
        builder_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<PayoutSummary>> {
        read_builder_payouts(&self.pool, builder_id, after, limit).await
    }

    async fn artist_payouts(
        &self,
        artist_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(PayoutSummary, PayoutLine)>> {
        read_artist_payouts(&self.pool, artist_id, after, limit).await
    }

    async fn counts(&self) -> Result<Counts> {
        let r = sqlx::query(COUNTS_SQL).fetch_one(&self.pool).await?;
        Ok(Counts {
            documents: r.try_get("documents")?,
            artists: r.try_get("artists")?,
            keys: r.try_get("keys")?,
            revoked_keys: r.try_get("revoked_keys")?,
            statement_works: r.try_get("statement_works")?,
            builders: r.try_get("builders")?,
            log_entries: r.try_get("log_entries")?,
            checkpoints: r.try_get("checkpoints")?,
            payout_statements: r.try_get("payout_statements")?,
            payout_lines: r.try_get("payout_lines")?,
        })
    }

    async fn document_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sql::NEXT_SEQ)
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt("negative seq".into()))
    }

    async fn documents_from(&self, start: u64, limit: u32) -> Result<Vec<StoredDocument>> {
        let rows = sqlx::query(sql::SELECT_DOCUMENTS_FROM)
            .bind(i64::try_from(start).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(doc_from_row).collect()
    }

    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>> {
        let row = sqlx::query(sql::LATEST_CHECKPOINT)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(checkpoint_of_row).transpose()
    }

    async fn checkpoint_of_size(&self, size: u64) -> Result<Option<CheckpointRecord>> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        let row = sqlx::query(sql::CHECKPOINT_OF_SIZE)
            .bind(size)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(checkpoint_of_row).transpose()
    }

    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        let mut conn = self.pool.acquire().await?;
        read_hashes(&mut conn, indexes).await
    }

    async fn leaf_index(&self, leaf: &Hash) -> Result<Option<u64>> {
        let candidates: Vec<(i64, Vec<u8>)> = sqlx::query_as(sql::SELECT_LEAF_CANDIDATES)
            .bind(super::leaf_prefix(leaf))
            .fetch_all(&self.pool)
            .await?;
        Ok(super::match_leaf(leaf, candidates))
    }

    async fn derived_digest(&self) -> Result<super::DerivedDigest> {
        use super::DerivedDigest;
        super::derived_digest_of!(&self.pool)
    }
}

async fn read_hashes(conn: &mut sqlx::SqliteConnection, indexes: &[u64]) -> Result<Vec<Hash>> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "select idx, hashes from log_leaves where idx in (select value from json_each($1))",
    )
    .bind(serde_json::Value::from(owner_rows(indexes)).to_string())
    .fetch_all(&mut *conn)
    .await?;
    pick_hashes(indexes, rows)
}

/// Rows per multi-row INSERT: 8 columns x 1000 rows stays under SQLite's
/// 32,766 bound parameters, and one statement per thousand rows keeps the
/// round trips to sqlx's SQLite worker thread few.
const ROWS_PER_INSERT: usize = 1000;

/// A `statement_works` row: hash, seq, artist number, key number, issued_at, received_at.
type WorkRow<'a> = (&'a [u8], i64, i64, i64, i64, i64);

/// An open SQLite write transaction and the next seq it will give.
struct SqliteAppend {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    next: i64,
    /// The receipt time of the last entry, committed or appended here.
    last: Timestamp,
}

#[async_trait]
impl AppendTx for SqliteAppend {
    async fn append(&mut self, batch: &[Append]) -> Result<Vec<i64>> {
        super::writer::check_order(&mut self.last, self.next, batch)?;
        let seqs = append_in_tx(&mut self.tx, self.next, batch).await?;
        self.next += seqs.len() as i64;
        Ok(seqs)
    }

    async fn log_size(&mut self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sql::LOG_SIZE)
            .fetch_one(&mut *self.tx)
            .await?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt("negative log size".into()))
    }

    async fn log_hashes(&mut self, indexes: &[u64]) -> Result<Vec<Hash>> {
        read_hashes(&mut self.tx, indexes).await
    }

    async fn append_log(
        &mut self,
        start: u64,
        hashes: &[Hash],
        leaves: &[(Hash, u64)],
    ) -> Result<()> {
        let rows = super::leaf_rows(start, hashes, leaves)?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "insert into log_leaves (idx, prefix, hashes) ",
            );
            q.push_values(chunk, |mut b, (idx, prefix, hashes)| {
                b.push_bind(*idx).push_bind(*prefix).push_bind(*hashes);
            });
            q.build()
                .execute(&mut *self.tx)
                .await
                .map_err(map_constraint)?;
        }
        Ok(())
    }

    async fn add_checkpoint(&mut self, cp: &CheckpointRecord) -> Result<()> {
        sqlx::query(sql::INSERT_CHECKPOINT)
            .bind(i64::try_from(cp.size).map_err(|_| StoreError::Corrupt("log size".into()))?)
            .bind(cp.root.as_slice())
            .bind(&cp.note)
            .bind(cp.signed_at.unix_nanos())
            .execute(&mut *self.tx)
            .await
            .map_err(map_constraint)?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.map_err(map_constraint)
    }
}

async fn append_in_tx(
    conn: &mut sqlx::SqliteConnection,
    next: i64,
    batch: &[Append],
) -> Result<Vec<i64>> {
    let n =
        i64::try_from(batch.len()).map_err(|_| StoreError::Corrupt("batch too large".into()))?;
    let seqs: Vec<i64> = (next..next + n).collect();
    let rows: Vec<(i64, &Append)> = seqs.iter().copied().zip(batch).collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "insert into documents (seq, id, kind, artist_id, payload_type, payload, signatures, received_at) ",
        );
        q.push_values(chunk, |mut b, (seq, item)| {
            let d = &item.doc;
            b.push_bind(*seq)
                .push_bind(d.id.as_str())
                .push_bind(d.kind.as_str())
                .push_bind(d.artist_id.as_str())
                .push_bind(d.payload_type.as_str())
                .push_bind(d.payload.as_slice())
                .push_bind(super::signatures_column(&d.signatures))
                .push_bind(d.received_at.unix_nanos());
        });
        q.build()
            .execute(&mut *conn)
            .await
            .map_err(map_constraint)?;
    }
    // Statement works in bulk; other effects one by one, in order.
    let mut numbers = Numbers::default();
    let mut works: Vec<WorkRow<'_>> = Vec::new();
    for (seq, item) in &rows {
        for effect in &item.effects {
            match effect {
                Effect::Statement {
                    key,
                    issued_at,
                    works: hashes,
                } => {
                    let artist_no = numbers.artist(conn, &item.doc.artist_id).await?;
                    let key_no = numbers.key(conn, &key.to_string()).await?;
                    for h in hashes {
                        works.push((
                            h.as_bytes().as_slice(),
                            *seq,
                            artist_no,
                            key_no,
                            issued_at.unix_nanos(),
                            item.doc.received_at.unix_nanos(),
                        ));
                    }
                }
                other => apply_effect(conn, *seq, &item.doc, other).await?,
            }
        }
    }
    for chunk in works.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "insert into statement_works (work_hash, seq, artist_no, key_no, issued_at, received_at) ",
        );
        q.push_values(
            chunk,
            |mut b, (hash, seq, artist, key, issued, received)| {
                b.push_bind(*hash)
                    .push_bind(*seq)
                    .push_bind(*artist)
                    .push_bind(*key)
                    .push_bind(*issued)
                    .push_bind(*received);
            },
        );
        q.build()
            .execute(&mut *conn)
            .await
            .map_err(map_constraint)?;
    }
    Ok(seqs)
}

async fn apply_effect(
    conn: &mut sqlx::SqliteConnection,
    seq: i64,
    d: &Document,
    effect: &Effect,
) -> Result<()> {
    let at = d.received_at.unix_nanos();
    match effect {
        Effect::ArtistCreated { display_name, key } => {
            sqlx::query(sql::INSERT_ARTIST)
                .bind(&d.artist_id)
                .bind(display_name)
                .bind(at)
                .bind(seq)
                .execute(&mut *conn)
                .await
                .map_err(map_constraint)?;
            insert_key(conn, seq, &d.artist_id, key, at).await
        }
        Effect::KeyAdded { key } => insert_key(conn, seq, &d.artist_id, key, at).await,
        Effect::KeyRevoked { key, effective_at } => {
            let done = sqlx::query(sql::REVOKE_KEY)
                .bind(effective_at.unix_nanos())
                .bind(seq)
                .bind(key.to_string())
                .bind(&d.artist_id)
                .execute(&mut *conn)
                .await?;
            if done.rows_affected() == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict("artist_keys_revoked_once".into()))
            }
        }
        Effect::Statement { .. } => Err(StoreError::Corrupt(
            "statement effects are inserted in bulk".into(),
        )),
        Effect::Payout(row) => {
            insert_payout!(&mut *conn, seq, row);
            Ok(())
        }
    }
}

async fn insert_key(
    conn: &mut sqlx::SqliteConnection,
    seq: i64,
    artist_id: &str,
    key: &PublicKey,
    at: i64,
) -> Result<()> {
    sqlx::query(sql::INSERT_KEY)
        .bind(key.to_string())
        .bind(artist_id)
        .bind(at)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(map_constraint)?;
    Ok(())
}

/// The compact numbers of artists and keys, looked up once per append.
#[derive(Default)]
struct Numbers {
    artists: std::collections::HashMap<String, i64>,
    keys: std::collections::HashMap<String, i64>,
}

impl Numbers {
    async fn artist(&mut self, conn: &mut sqlx::SqliteConnection, artist_id: &str) -> Result<i64> {
        if let Some(n) = self.artists.get(artist_id) {
            return Ok(*n);
        }
        let n: i64 = sqlx::query_scalar(sql::SELECT_ARTIST_NO)
            .bind(artist_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::Conflict("statement_works_artist_fkey".into()))?;
        self.artists.insert(artist_id.to_owned(), n);
        Ok(n)
    }

    async fn key(&mut self, conn: &mut sqlx::SqliteConnection, key_id: &str) -> Result<i64> {
        if let Some(n) = self.keys.get(key_id) {
            return Ok(*n);
        }
        let n: i64 = sqlx::query_scalar(sql::SELECT_KEY_NO)
            .bind(key_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::Conflict("statement_works_key_fkey".into()))?;
        self.keys.insert(key_id.to_owned(), n);
        Ok(n)
    }
}

fn checkpoint_of_row(r: &sqlx::sqlite::SqliteRow) -> Result<CheckpointRecord> {
    checkpoint_from_parts(
        r.try_get("size")?,
        r.try_get("root")?,
        r.try_get("note")?,
        r.try_get("signed_at")?,
    )
}
