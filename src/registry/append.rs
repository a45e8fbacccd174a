//! The append path: one transaction stores documents, grows the log's
//! tree and signs its checkpoint; then the consent index takes the
//! committed documents, under the writer lock, in log order. Receipt times
//! are taken here, under the same lock.

use super::errors::Result;
use super::Registry;
use crate::domain::CheckpointRecord;
use crate::domain::Timestamp;
use crate::index::Parsed;
use crate::store::{Append, AppendTx, Document};
use crate::transparency::Growth;

/// A document parsed for the consent index, with its place in the log.
pub(super) type Indexed = (u64, Timestamp, Result<Parsed, String>);

impl Registry {
    /// Stores one document and its log entry in one transaction, then
    /// gives the consent index `record`, the document as it was verified;
    /// returns its seq and receipt.
    pub(crate) async fn append_one(
        &self,
        append: &Append,
        record: Parsed,
    ) -> Result<(i64, Option<String>)> {
        let mut tx = self.store.begin_append().await?;
        let mut growth = self.begin_log(tx.as_mut()).await?;
        let seqs = tx.append(std::slice::from_ref(append)).await?;
        self.grow_log(
            tx.as_mut(),
            growth.as_mut(),
            &seqs,
            std::slice::from_ref(append),
        )
        .await?;
        let (mut receipts, checkpoint) = self.seal_log(tx.as_mut(), growth.as_ref(), &seqs).await?;
        tx.commit().await?;
        let seq = u64::try_from(seqs[0]).unwrap_or(u64::MAX);
        self.update_index(vec![(seq, append.doc.received_at, Ok(record))], checkpoint);
        Ok((seqs[0], receipts.pop()))
    }

    pub(super) async fn begin_log(&self, tx: &mut dyn AppendTx) -> Result<Option<Growth>> {
        if !self.log_enabled {
            return Ok(None);
        }
        Ok(Some(self.log.begin(tx).await?))
    }

    pub(super) async fn grow_log(
        &self,
        tx: &mut dyn AppendTx,
        growth: Option<&mut Growth>,
        seqs: &[i64],
        appends: &[Append],
    ) -> Result<()> {
        if let Some(g) = growth {
            let docs: Vec<&Document> = appends.iter().map(|a| &a.doc).collect();
            self.log.grow(tx, g, seqs, &docs).await?;
        }
        Ok(())
    }

    /// Signs the checkpoint; returns the receipts of `seqs`, in order, and
    /// the checkpoint.
    pub(super) async fn seal_log(
        &self,
        tx: &mut dyn AppendTx,
        growth: Option<&Growth>,
        seqs: &[i64],
    ) -> Result<(Vec<String>, Option<CheckpointRecord>)> {
        let Some(g) = growth else {
            return Ok((Vec::new(), None));
        };
        let indexes: Vec<u64> = seqs.iter().filter_map(|s| u64::try_from(*s).ok()).collect();
        let sealed = self.log.seal(tx, g, &indexes).await?;
        Ok((
            sealed.receipts.into_iter().map(|(_, r)| r).collect(),
            Some(sealed.checkpoint),
        ))
    }

    pub(crate) fn next_receipt_time(last: &mut Timestamp) -> Timestamp {
        let now = Timestamp::now();
        let t = if now > *last {
            now
        } else {
            Timestamp::from_unix_nanos(last.unix_nanos() + 1)
        };
        *last = t;
        t
    }
}
