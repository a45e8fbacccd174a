//! Order-independent digests of the derived tables, for the start-up
//! check that they hold exactly the rows the logged documents give.

use crate::domain::{ContentHash, Timestamp};

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
