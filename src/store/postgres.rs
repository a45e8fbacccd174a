//! The production backend: PostgreSQL. Batches are written with `UNNEST`
//! arrays (one round trip per table), and a transaction-level advisory lock
//! serialises writers, even from several processes.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

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

/// The advisory lock key that serialises writers ("consentr" in ASCII).
const WRITER_LOCK: i64 = 0x636f_6e73_656e_7472;

pub struct PgStore {
    pool: PgPool,
    /// The connection that holds this process's claim on the schema
    /// ([`super::writer`]); closing it releases the claim. None for a
    /// read-only store, which claims nothing.
    _lease: Option<tokio::sync::Mutex<sqlx::PgConnection>>,
}

impl PgStore {
    /// Connects to `url` and migrates the database.
    ///
    /// # Errors
    /// On connection or migration failure.
    pub async fn open(url: &str) -> Result<Self> {
        Self::connect(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with every table in `schema` (created if missing): used by
    /// tests to give each test its own namespace in one database.
    ///
    /// # Errors
    /// On connection or migration failure.
    pub async fn open_in_schema(url: &str, schema: &str) -> Result<Self> {
        let base = PgConnectOptions::from_str(url)?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone())
            .await?;
        sqlx::query(&format!("create schema if not exists \"{schema}\""))
            .execute(&admin)
            .await?;
        admin.close().await;
        Self::connect(base.options([("search_path", schema)])).await
    }

    async fn connect(options: PgConnectOptions) -> Result<Self> {
        let options = options.application_name(&format!("consentry {}", std::process::id()));
        let lease = claim_schema(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        // Fresh statistics for the planner; autovacuum keeps them fresh later.
        sqlx::query(
            "analyze documents, statement_works, artists, artist_keys, builders, log_leaves, checkpoints",
        )
            .execute(&pool)
            .await?;
        Ok(Self {
            pool,
            _lease: Some(tokio::sync::Mutex::new(lease)),
        })
    }

    /// Connects to `url` to read only: a replica's view of a hot standby
    /// (or of a primary another process writes). Claims nothing, migrates
    /// nothing, and every transaction is read-only; the schema must be
    /// exactly the one this binary's migrations build.
    ///
    /// # Errors
    /// On connection failure, or a schema of other migrations.
    pub async fn open_read_only(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?
            .application_name(&format!("consentry replica {}", std::process::id()))
            .options([("default_transaction_read_only", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        super::same_migrations(
            sqlx::query_scalar(super::APPLIED_MIGRATIONS)
                .fetch_all(&pool)
                .await,
            &sqlx::migrate!("migrations/postgres"),
        )?;
        Ok(Self { pool, _lease: None })
    }
}

/// Takes the session-level advisory lock that makes this process the
/// schema's only writer, on a connection of its own that is kept open;
/// waits up to [`super::writer::CLAIM_WAIT`] for a holder going away.
async fn claim_schema(options: &PgConnectOptions) -> Result<sqlx::PgConnection> {
    use super::writer::{held_by, pg_lease_key, CLAIM_RETRY, CLAIM_WAIT, PG_LEASE_CLASS};
    use sqlx::ConnectOptions;
    let mut conn = options.connect().await?;
    // NULL when no schema of the search path exists yet (the migrations
    // then fail on their own); the claim is still taken, on the empty name.
    let schema: Option<String> = sqlx::query_scalar("select current_schema()")
        .fetch_one(&mut conn)
        .await?;
    let schema = schema.unwrap_or_default();
    let key = pg_lease_key(&schema);
    let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
    loop {
        let claimed: bool = sqlx::query_scalar("select pg_try_advisory_lock($1, $2)")
            .bind(PG_LEASE_CLASS)
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        if claimed {
            return Ok(conn);
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(CLAIM_RETRY).await;
    }
    // The two-key form shows its keys as classid and objid (oids: unsigned).
    /// pid, application name, client address, connected since.
    type Holder = (i32, Option<String>, Option<String>, Option<String>);
    let holder: Option<Holder> = sqlx::query_as(
        "select a.pid, a.application_name, host(a.client_addr),
                to_char(a.backend_start at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
         from pg_locks l join pg_stat_activity a on a.pid = l.pid
         where l.locktype = 'advisory' and l.granted and l.objsubid = 2
           and l.classid::bigint = ($1::bigint & 4294967295)
           and l.objid::bigint = ($2::bigint & 4294967295)
         limit 1",
    )
    .bind(i64::from(PG_LEASE_CLASS))
    .bind(i64::from(key))
    .fetch_optional(&mut conn)
    .await?;
    let who = match holder {
        Some((pid, app, addr, since)) => format!(
            "{}, server backend pid {pid}, client {}, connected since {}",
            app.filter(|a| !a.is_empty())
                .unwrap_or_else(|| "an unnamed client".into()),
            addr.unwrap_or_else(|| "on the local socket".into()),
            since.unwrap_or_else(|| "an unknown time".into()),
        ),
        None => "a session that has since gone".into(),
    };
    Err(held_by(&format!("schema \"{schema}\""), &who))
}

fn doc_from_row(row: &PgRow) -> Result<StoredDocument> {
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

fn key_from_row(row: &PgRow) -> Result<KeyRecord> {
    Ok(KeyRecord {
        key: parse_key(row.try_get("key_id")?)?,
        artist_id: row.try_get("artist_id")?,
        added_at: Timestamp::from_unix_nanos(row.try_get("added_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_unix_nanos),
    })
}

payout_reader_fns!(PgPool);

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn begin_append(&self) -> Result<Box<dyn AppendTx>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(WRITER_LOCK)
            .execute(&mut *tx)
            .await?;
        let last: Option<(i64, i64)> = sqlx::query_as(sql::LAST_DOCUMENT)
            .fetch_optional(&mut *tx)
            .await?;
        Ok(Box::new(PgAppend {
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
             from documents where id = any($1) order by seq",
        )
        .bind(ids)
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
        let hashes: Vec<Vec<u8>> = works.iter().map(|w| w.as_bytes().to_vec()).collect();
        let rows = sqlx::query(
            "select w.work_hash, (select k.key_id from artist_keys k where k.key_no = w.key_no) as key_id,
                    w.issued_at, w.received_at
             from statement_works w
             where w.work_hash = any($1)
               and w.artist_no = (select artist_no from artists where artist_id = $2)",
        )
        .bind(hashes)
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
        // Two steps, so the plan is index lookups whatever the table
        // statistics say: the seqs of the work's statements, then those rows.
        let seqs: Vec<i64> =
            sqlx::query_scalar("select seq from statement_works where work_hash = $1")
                .bind(work.as_bytes().as_slice())
                .fetch_all(&self.pool)
                .await?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "select d.seq, d.id, d.kind, d.artist_id, d.payload_type, d.payload, d.signatures, d.received_at,
                    a.display_name, k.key_id, w.issued_at, k.revoked_at
             from statement_works w
             join documents d on d.seq = w.seq
             join artists a on a.artist_no = w.artist_no
             join artist_keys k on k.key_no = w.key_no
             where d.seq = any($2) and w.work_hash = $1 order by w.seq",
        )
        .bind(work.as_bytes().as_slice())
        .bind(&seqs)
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

async fn read_hashes(conn: &mut sqlx::PgConnection, indexes: &[u64]) -> Result<Vec<Hash>> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("select idx, hashes from log_leaves where idx = any($1)")
            .bind(owner_rows(indexes))
            .fetch_all(&mut *conn)
            .await?;
    pick_hashes(indexes, rows)
}

/// An open PostgreSQL write transaction (holding the writer lock) and the
/// next seq it will give.
struct PgAppend {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    next: i64,
    /// The receipt time of the last entry, committed or appended here.
    last: Timestamp,
}

#[async_trait]
impl AppendTx for PgAppend {
    async fn append(&mut self, batch: &[Append]) -> Result<Vec<i64>> {
        super::writer::check_order(&mut self.last, self.next, batch)?;
        let seqs = append_rows(&mut self.tx, self.next, batch).await?;
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
        sqlx::query(
            "insert into log_leaves (idx, prefix, hashes)
             select * from unnest($1::bigint[], $2::bigint[], $3::bytea[])",
        )
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.to_vec()).collect::<Vec<_>>())
        .execute(&mut *self.tx)
        .await
        .map_err(map_constraint)?;
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

async fn append_rows(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    next: i64,
    batch: &[Append],
) -> Result<Vec<i64>> {
    let n =
        i64::try_from(batch.len()).map_err(|_| StoreError::Corrupt("batch too large".into()))?;
    let seqs: Vec<i64> = (next..next + n).collect();
    sqlx::query(
        "insert into documents (seq, id, kind, artist_id, payload_type, payload, signatures, received_at)
         select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::bigint[])",
    )
    .bind(&seqs)
    .bind(batch.iter().map(|a| a.doc.id.clone()).collect::<Vec<_>>())
    .bind(batch.iter().map(|a| a.doc.kind.as_str().to_owned()).collect::<Vec<_>>())
    .bind(batch.iter().map(|a| a.doc.artist_id.clone()).collect::<Vec<_>>())
    .bind(batch.iter().map(|a| a.doc.payload_type.clone()).collect::<Vec<_>>())
    .bind(batch.iter().map(|a| a.doc.payload.clone()).collect::<Vec<_>>())
    .bind(
        batch
            .iter()
            .map(|a| super::signatures_column(&a.doc.signatures))
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|a| a.doc.received_at.unix_nanos()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await
    .map_err(map_constraint)?;

    let mut work_hashes: Vec<Vec<u8>> = Vec::new();
    let mut work_seqs: Vec<i64> = Vec::new();
    let mut work_artists: Vec<i64> = Vec::new();
    let mut work_keys: Vec<i64> = Vec::new();
    let mut numbers: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let mut work_issued: Vec<i64> = Vec::new();
    let mut work_received: Vec<i64> = Vec::new();
    for (item, &seq) in batch.iter().zip(&seqs) {
        let d = &item.doc;
        let at = d.received_at.unix_nanos();
        for effect in &item.effects {
            match effect {
                Effect::ArtistCreated { display_name, key } => {
                    sqlx::query(sql::INSERT_ARTIST)
                        .bind(&d.artist_id)
                        .bind(display_name)
                        .bind(at)
                        .bind(seq)
                        .execute(&mut **tx)
                        .await
                        .map_err(map_constraint)?;
                    insert_key(tx, seq, &d.artist_id, key, at).await?;
                }
                Effect::KeyAdded { key } => insert_key(tx, seq, &d.artist_id, key, at).await?,
                Effect::KeyRevoked { key, effective_at } => {
                    let done = sqlx::query(sql::REVOKE_KEY)
                        .bind(effective_at.unix_nanos())
                        .bind(seq)
                        .bind(key.to_string())
                        .bind(&d.artist_id)
                        .execute(&mut **tx)
                        .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Conflict("artist_keys_revoked_once".into()));
                    }
                }
                Effect::Payout(row) => insert_payout!(&mut **tx, seq, row),
                Effect::Statement {
                    key,
                    issued_at,
                    works,
                } => {
                    let artist_no =
                        number(tx, &mut numbers, NumberOf::Artist, &d.artist_id).await?;
                    let key_no = number(tx, &mut numbers, NumberOf::Key, &key.to_string()).await?;
                    for work in works {
                        work_hashes.push(work.as_bytes().to_vec());
                        work_seqs.push(seq);
                        work_artists.push(artist_no);
                        work_keys.push(key_no);
                        work_issued.push(issued_at.unix_nanos());
                        work_received.push(at);
                    }
                }
            }
        }
    }
    if !work_hashes.is_empty() {
        sqlx::query(
            "insert into statement_works (work_hash, seq, artist_no, key_no, issued_at, received_at)
             select * from unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])",
        )
        .bind(work_hashes)
        .bind(work_seqs)
        .bind(work_artists)
        .bind(work_keys)
        .bind(work_issued)
        .bind(work_received)
        .execute(&mut **tx)
        .await
        .map_err(map_constraint)?;
    }
    Ok(seqs)
}

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
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
        .execute(&mut **tx)
        .await
        .map_err(map_constraint)?;
    Ok(())
}

#[derive(Clone, Copy)]
enum NumberOf {
    Artist,
    Key,
}

/// The compact number of an artist or key, looked up once per append.
async fn number(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    cache: &mut std::collections::HashMap<String, i64>,
    of: NumberOf,
    id: &str,
) -> Result<i64> {
    let cache_key = match of {
        NumberOf::Artist => format!("a:{id}"),
        NumberOf::Key => format!("k:{id}"),
    };
    if let Some(n) = cache.get(&cache_key) {
        return Ok(*n);
    }
    let (sql, missing) = match of {
        NumberOf::Artist => (sql::SELECT_ARTIST_NO, "statement_works_artist_fkey"),
        NumberOf::Key => (sql::SELECT_KEY_NO, "statement_works_key_fkey"),
    };
    let n: i64 = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Conflict(missing.into()))?;
    cache.insert(cache_key, n);
    Ok(n)
}

fn checkpoint_of_row(r: &sqlx::postgres::PgRow) -> Result<CheckpointRecord> {
    checkpoint_from_parts(
        r.try_get("size")?,
        r.try_get("root")?,
        r.try_get("note")?,
        r.try_get("signed_at")?,
    )
}
