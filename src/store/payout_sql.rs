//! The payout tables' SQL, the same on both backends, as macros each
//! backend expands over its own pool and row types.

use super::{Result, StoreError};

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
pub(crate) fn signed(n: u64) -> Result<i64> {
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
