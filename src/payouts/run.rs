//! Reporting a training run: the payout statement computed from the consent
//! index in the view the report pins, signed, stored and logged.

use std::collections::HashMap;
use std::sync::Arc;

use super::statement::{sign_record, sign_statement};
use crate::crypto::{Envelope, PayloadType};
use crate::domain::payout::PayoutRecord;
use crate::domain::{ContentHash, Timestamp};
use crate::registry::{Registry, RegistryError, Rejection, RejectionKind, Result};
use crate::store::{Append, Document, DocumentKind, Effect, StoreError};

/// A training run as a builder reports it (`spec/payouts.md` §6).
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub purpose: crate::domain::Category,
    pub pool: crate::domain::Money,
    /// When the builder checked its data; required without a receipt.
    pub checked_at: Option<Timestamp>,
    pub works: Vec<ContentHash>,
    /// The check receipt the run's data was checked with.
    pub receipt: Option<Envelope>,
}

/// A reported run: its stored summary, the signed statement and the log
/// receipt of its payout record.
#[derive(Debug, Clone)]
pub struct ReportedRun {
    pub summary: crate::domain::payout::PayoutSummary,
    pub envelope: Envelope,
    pub statement: crate::domain::payout::PayoutStatement,
    pub log_receipt: Option<String>,
}

impl Registry {
    /// Computes, signs and logs the payout statement of a training run
    /// (`spec/payouts.md` §6): consent is read from the consent index in
    /// the view the report pins (its check receipt's, or the current log as
    /// of `checked_at`); the statement and its payout record are stored, and
    /// the record appended to the log, in one transaction.
    ///
    /// # Errors
    /// Rejections for a malformed report, a receipt that does not match it,
    /// or a run id the builder used before.
    pub async fn report_run(
        self: &Arc<Self>,
        builder_id: &str,
        run: RunReport,
    ) -> Result<ReportedRun> {
        let invalid = |detail: String| Rejection::new(RejectionKind::InvalidRun, detail);
        if !crate::domain::payout::valid_run_id(&run.run_id) {
            return Err(invalid(format!(
                "`run_id` is 1 to {} characters of A-Z a-z 0-9 . _ : - and starts with a letter or digit",
                crate::domain::payout::MAX_RUN_ID_CHARS
            ))
            .into());
        }
        crate::domain::terms::validate_money(&run.pool, true)
            .map_err(|e| invalid(format!("`pool`: {e}")))?;
        if run.works.is_empty() {
            return Err(Rejection::new(
                RejectionKind::EmptyBatch,
                "`works` lists at least one hash",
            )
            .into());
        }
        if run.works.len() > crate::domain::payout::MAX_RUN_WORKS {
            return Err(Rejection::new(
                RejectionKind::TooManyItems,
                format!(
                    "a run report lists at most {} works, got {}",
                    crate::domain::payout::MAX_RUN_WORKS,
                    run.works.len()
                ),
            )
            .into());
        }
        let mut seen = HashMap::with_capacity(run.works.len());
        for (i, w) in run.works.iter().enumerate() {
            if let Some(first) = seen.insert(*w, i) {
                return Err(invalid(format!("works[{i}] ({w}) repeats works[{first}]")).into());
            }
        }
        drop(seen);
        let now = Timestamp::now();
        let (view, checked_at, receipt_id) = match &run.receipt {
            Some(env) => self.receipt_view(builder_id, &run, env)?,
            None => {
                let checked_at = run.checked_at.ok_or_else(|| {
                    invalid("`checked_at` is required without a check receipt".into())
                })?;
                if checked_at > now {
                    return Err(
                        invalid(format!("`checked_at` {checked_at} is in the future")).into(),
                    );
                }
                let (view, _) = self.check_view(Some(checked_at))?;
                (
                    crate::domain::payout::StatementView {
                        size: view.size,
                        as_of: view.as_of,
                    },
                    checked_at,
                    None,
                )
            }
        };

        let mut last = self.writer.lock().await;
        if self
            .store
            .payout_of_run(builder_id, &run.run_id)
            .await?
            .is_some()
        {
            return Err(Rejection::new(
                RejectionKind::RunExists,
                format!(
                    "run `{}` was reported before; statements are never rewritten",
                    run.run_id
                ),
            )
            .into());
        }
        let received_at = Self::next_receipt_time(&mut last);
        let this = Arc::clone(self);
        let (origin, builder) = (self.log.origin().to_owned(), builder_id.to_owned());
        let statement = tokio::task::spawn_blocking(move || {
            this.with_index(|st| {
                if let Some(b) = &st.broken {
                    return Err(RegistryError::Internal(format!("consent index: {b}")));
                }
                crate::payouts::compute_statement(
                    &st.index,
                    &origin,
                    &builder,
                    &run.run_id,
                    run.purpose,
                    checked_at,
                    view,
                    receipt_id,
                    run.pool,
                    &run.works,
                    received_at,
                )
                .map_err(|e| RegistryError::Internal(e.to_string()))
            })
        })
        .await
        .map_err(|e| RegistryError::Internal(e.to_string()))??;
        let key = self.log.signing_key();
        let internal = |e: serde_json::Error| RegistryError::Internal(e.to_string());
        let signed = sign_statement(&statement, key).map_err(internal)?;
        let record = PayoutRecord {
            version: crate::domain::payout::STATEMENT_VERSION,
            statement: signed.id.clone(),
            builder: builder_id.to_owned(),
            run_id: statement.run_id.clone(),
            issued_at: received_at,
        };
        let record = sign_record(&record, key).map_err(internal)?;
        let append = Append {
            doc: Document {
                id: record.id,
                kind: DocumentKind::Payout,
                artist_id: builder_id.to_owned(),
                payload_type: PayloadType::PayoutRecord.as_str().to_owned(),
                payload: record.payload,
                signatures: crate::registry::entry_signatures(
                    &record
                        .envelope
                        .verify(PayloadType::PayoutRecord)
                        .map_err(|e| RegistryError::Internal(e.to_string()))?,
                ),
                received_at,
            },
            effects: vec![Effect::Payout(Box::new(crate::store::PayoutRow {
                summary: statement.summary(&signed.id, 0),
                payload: signed.payload,
                signatures: serde_json::to_string(&signed.envelope.signatures).map_err(internal)?,
                lines: statement.lines(),
            }))],
        };
        let (seq, log_receipt) = match self.append_one(&append, crate::index::Parsed::Payout).await
        {
            Err(RegistryError::Store(StoreError::Conflict(c)))
                if c == "payout_statements_run_key" =>
            {
                return Err(Rejection::new(
                    RejectionKind::RunExists,
                    format!("run `{}` was reported before", statement.run_id),
                )
                .into())
            }
            other => other?,
        };
        drop(last);
        Ok(ReportedRun {
            summary: statement.summary(&signed.id, seq),
            envelope: signed.envelope,
            statement,
            log_receipt,
        })
    }

    /// The view, check date and receipt id of a report that comes with a
    /// check receipt: the receipt must be this registry's, for this builder
    /// and purpose, over exactly the reported works in their order.
    fn receipt_view(
        &self,
        builder_id: &str,
        run: &RunReport,
        env: &Envelope,
    ) -> Result<(
        crate::domain::payout::StatementView,
        Timestamp,
        Option<String>,
    )> {
        let mismatch = |detail: String| Rejection::new(RejectionKind::ReceiptMismatch, detail);
        let receipt = crate::check::CheckReceipt::verify(env, self.log.verifier())
            .map_err(|e| mismatch(format!("the check receipt is not valid: {e}")))?;
        if receipt.builder != builder_id {
            return Err(mismatch(format!(
                "the check receipt was issued to {}, not to you",
                receipt.builder
            ))
            .into());
        }
        if receipt.purpose != run.purpose {
            return Err(mismatch(format!(
                "the check receipt is for {}, the run for {}",
                receipt.purpose.as_str(),
                run.purpose.as_str()
            ))
            .into());
        }
        if receipt.matching.is_some() {
            return Err(mismatch(
                "the check receipt is of a near-matching check (version 2): a payout counts works by their hashes, so it takes the receipt of a check with `match` `exact` (`consentry check --match exact`)"
                    .into(),
            )
            .into());
        }
        if !receipt.covers(&run.works) {
            return Err(mismatch(format!(
                "`works` ({} hashes) is not the hash list the receipt covers ({} hashes), in its order",
                run.works.len(),
                receipt.hashes.count
            ))
            .into());
        }
        let checked_at = receipt.as_of.unwrap_or(receipt.issued_at);
        if run.checked_at.is_some_and(|c| c != checked_at) {
            return Err(mismatch(format!(
                "`checked_at` differs from the receipt's date {checked_at}; leave it out"
            ))
            .into());
        }
        let payload = env
            .verify(PayloadType::CheckReceipt)
            .map_err(|e| mismatch(e.to_string()))?
            .payload;
        Ok((
            crate::domain::payout::StatementView {
                size: receipt.checkpoint.size,
                as_of: receipt.as_of,
            },
            checked_at,
            Some(crate::domain::ids::document_id(&payload)),
        ))
    }
}
