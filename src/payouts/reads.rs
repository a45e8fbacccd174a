//! Reading payouts: a builder's runs, one stored statement, an artist's
//! lines.

use crate::domain::payout::{PayoutLine, PayoutSummary};
use crate::registry::{Registry, Result};
use crate::store::PayoutRow;

impl Registry {
    /// A builder's payout statements in log order, after record seq
    /// `after`, at most `limit`.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn builder_runs(
        &self,
        builder_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<PayoutSummary>> {
        Ok(self.store.builder_payouts(builder_id, after, limit).await?)
    }

    /// A stored payout statement by id.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn payout_statement(&self, statement_id: &str) -> Result<Option<PayoutRow>> {
        Ok(self.store.payout(statement_id).await?)
    }

    /// An artist's payout lines in log order, after record seq `after`, at
    /// most `limit`.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn artist_payout_lines(
        &self,
        artist_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(PayoutSummary, PayoutLine)>> {
        Ok(self.store.artist_payouts(artist_id, after, limit).await?)
    }
}
