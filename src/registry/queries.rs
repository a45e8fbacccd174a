//! Reading: a work with its resolved history, an artist with keys and
//! works, a stored document (checked against the log before it is served).

use super::documents::stored_envelope;
use super::errors::Result;
use super::Registry;
use crate::crypto::Envelope;
use crate::domain::claims::{resolve, Claim};
use crate::domain::{ConsentSet, ContentHash, Statement, Timestamp};
use crate::store::{ArtistRecord, StoreError, StoredDocument};

/// A statement about one work, resolved for reading.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub statement_id: String,
    pub seq: i64,
    pub artist_id: String,
    pub display_name: String,
    pub key: String,
    pub issued_at: Timestamp,
    pub received_at: Timestamp,
    pub statement: Statement,
    pub consent: ConsentSet,
    pub envelope: Envelope,
    pub superseded: bool,
    pub key_revoked: bool,
    pub current: bool,
}

/// Everything known about one work.
#[derive(Debug, Clone)]
pub struct WorkView {
    pub hash: ContentHash,
    pub effective: ConsentSet,
    pub disputed: bool,
    pub history: Vec<HistoryEntry>,
}

/// An artist, their keys, key history and a page of their works.
#[derive(Debug, Clone)]
pub struct ArtistView {
    pub artist: ArtistRecord,
    pub documents: Vec<StoredDocument>,
    pub works: Vec<ContentHash>,
    pub next_after: Option<ContentHash>,
}

impl Registry {
    /// Everything known about a work, or `None` if no statement names it.
    ///
    /// # Errors
    /// On storage failure or a stored payload that no longer parses.
    pub async fn work(&self, hash: &ContentHash) -> Result<Option<WorkView>> {
        let rows = self.store.work_history(hash).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut parsed = Vec::with_capacity(rows.len());
        for row in &rows {
            let valid = Statement::parse(&row.doc.payload)
                .map_err(|e| StoreError::Corrupt(format!("statement {}: {e}", row.doc.id)))?;
            parsed.push(valid);
        }
        let claims: Vec<Claim<'_>> = rows
            .iter()
            .zip(&parsed)
            .map(|(r, p)| Claim {
                artist_id: &r.doc.artist_id,
                issued_at: r.issued_at,
                seq: r.seq,
                received_at: r.doc.received_at,
                key_revoked_at: r.key_revoked_at,
                consent: p.consent,
            })
            .collect();
        let resolution = resolve(&claims);
        let mut history = Vec::with_capacity(rows.len());
        for (i, (row, p)) in rows.iter().zip(parsed).enumerate() {
            let key_revoked = !claims[i].valid();
            let current = resolution.current.contains(&i);
            history.push(HistoryEntry {
                statement_id: row.doc.id.clone(),
                seq: row.seq,
                artist_id: row.doc.artist_id.clone(),
                display_name: row.display_name.clone(),
                key: row.key.clone(),
                issued_at: row.issued_at,
                received_at: row.doc.received_at,
                statement: p.statement,
                consent: p.consent,
                envelope: stored_envelope(&row.doc)?,
                superseded: !current && !key_revoked,
                key_revoked,
                current,
            });
        }
        Ok(Some(WorkView {
            hash: *hash,
            effective: resolution.effective,
            disputed: resolution.disputed,
            history,
        }))
    }

    /// An artist with keys, key history and a page of works.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn artist(
        &self,
        artist_id: &str,
        after: Option<ContentHash>,
        limit: u32,
    ) -> Result<Option<ArtistView>> {
        let Some(artist) = self.store.artist(artist_id).await? else {
            return Ok(None);
        };
        let documents = self.store.artist_key_history(artist_id).await?;
        let mut works = self
            .store
            .artist_works(artist_id, after, limit.saturating_add(1))
            .await?;
        let next_after = if works.len() > limit as usize {
            works.truncate(limit as usize);
            works.last().copied()
        } else {
            None
        };
        Ok(Some(ArtistView {
            artist,
            documents,
            works,
            next_after,
        }))
    }

    /// A stored document by id.
    ///
    /// # Errors
    /// On storage failure.
    /// The document is checked against the log's tree first: what is
    /// served is what the log holds.
    pub async fn document(&self, id: &str) -> Result<Option<StoredDocument>> {
        let Some(doc) = self
            .store
            .documents_by_id(&[id.to_owned()])
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        if self.log_enabled {
            self.log_reader()
                .checked_entries(std::slice::from_ref(&doc))
                .await?;
        }
        Ok(Some(doc))
    }
}
