//! Payout statements with keys and the consent index: computing a run's
//! statement from the index in a view, recomputing one to check it,
//! signing, and verifying a signed statement offline. The formats and the
//! arithmetic are [`crate::domain::payout`]'s.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::crypto::{Envelope, PayloadType, PublicKey, SecretKey};
use crate::domain::payout::{
    compute, ClaimantTerms, Payout, PayoutError, PayoutRecord, PayoutStatement, RunInput,
    StatementView, UsedWork, WorkStatus, WorksDigest, STATEMENT_VERSION,
};
use crate::domain::{Category, ContentHash, Money, Term, Timestamp};
use crate::index::{ConsentIndex, Status, View};
use crate::log::note::NoteVerifier;

/// A payload signed by the registry key: the envelope, the payload bytes it
/// signs and their id (hex SHA-256).
#[derive(Debug, Clone)]
pub struct Signed {
    pub envelope: Envelope,
    pub payload: Vec<u8>,
    pub id: String,
}

impl Signed {
    pub(crate) fn new(
        ptype: PayloadType,
        value: &impl Serialize,
        key: &SecretKey,
    ) -> serde_json::Result<Self> {
        let payload = serde_json::to_vec(value)?;
        Ok(Self {
            envelope: Envelope::sign(ptype, &payload, &[key]),
            id: crate::domain::ids::document_id(&payload),
            payload,
        })
    }
}

/// Signs a payout statement with the registry key; the id is the statement id.
///
/// # Errors
/// Only if the statement cannot be serialised.
pub fn sign_statement(statement: &PayoutStatement, key: &SecretKey) -> serde_json::Result<Signed> {
    Signed::new(PayloadType::PayoutStatement, statement, key)
}

/// Signs a payout record with the registry key.
///
/// # Errors
/// Only if the record cannot be serialised.
pub fn sign_record(record: &PayoutRecord, key: &SecretKey) -> serde_json::Result<Signed> {
    Signed::new(PayloadType::PayoutRecord, record, key)
}

/// Verifies a statement envelope offline: one signature by the log's
/// key (strict Ed25519 over the PAE) and a payload that
/// [`PayoutStatement::parse`] takes for this log. Returns the statement
/// and its id.
///
/// # Errors
/// What is wrong, in words.
pub fn verify_statement(
    envelope: &Envelope,
    log: &NoteVerifier,
) -> Result<(PayoutStatement, String), String> {
    let key: PublicKey = log.key;
    if envelope.signatures.len() != 1 {
        return Err("a payout statement carries exactly one signature".into());
    }
    let verified = envelope
        .verify(PayloadType::PayoutStatement)
        .map_err(|e| format!("statement signature: {e}"))?;
    if !verified.signed_by(&key) {
        return Err(format!(
            "the statement is not signed by the log's key {key}"
        ));
    }
    let id = crate::domain::ids::document_id(&verified.payload);
    Ok((PayoutStatement::parse(&verified.payload, &log.name)?, id))
}

/// Each used work's status and claimants, read from the index in `view`.
#[must_use]
pub fn used_works(
    index: &ConsentIndex,
    view: View,
    purpose: Category,
    works: &[ContentHash],
) -> Vec<UsedWork> {
    #[derive(Deserialize)]
    struct Claimant {
        terms: Vec<Term>,
    }
    let mut claimants: HashMap<u32, ClaimantTerms> = HashMap::new();
    works
        .iter()
        .map(|hash| {
            let answer = index.answer(hash, view);
            let status = match answer.status(purpose) {
                Status::Allowed => WorkStatus::Allowed,
                Status::Disallowed => WorkStatus::Disallowed,
                Status::Unknown => WorkStatus::Unknown,
            };
            let claimants = answer
                .current
                .iter()
                .map(|&no| {
                    claimants
                        .entry(no)
                        .or_insert_with(|| {
                            let s = index.statement(no);
                            // The index renders this JSON itself from the
                            // statement's parsed terms, so they read back.
                            let terms = serde_json::from_str::<Claimant>(&s.claimant_json)
                                .map(|c| c.terms)
                                .unwrap_or_default();
                            ClaimantTerms {
                                artist_id: index.statement_artist(no).to_owned(),
                                allows: Status::of(&s.consent, purpose) == Status::Allowed,
                                terms,
                            }
                        })
                        .clone()
                })
                .collect();
            UsedWork {
                hash: *hash,
                status,
                claimants,
            }
        })
        .collect()
}

/// Computes the statement of a run from the index.
///
/// # Errors
/// When a work is listed twice.
#[allow(clippy::too_many_arguments)]
pub fn compute_statement(
    index: &ConsentIndex,
    log: &str,
    builder: &str,
    run_id: &str,
    purpose: Category,
    checked_at: Timestamp,
    view: StatementView,
    receipt: Option<String>,
    pool: Money,
    works: &[ContentHash],
    issued_at: Timestamp,
) -> Result<PayoutStatement, PayoutError> {
    let input = RunInput {
        pool,
        works: used_works(index, view_of(view), purpose, works),
    };
    Ok(PayoutStatement {
        version: STATEMENT_VERSION,
        log: log.to_owned(),
        builder: builder.to_owned(),
        run_id: run_id.to_owned(),
        purpose,
        checked_at,
        view,
        receipt,
        works: WorksDigest::of(works),
        issued_at,
        payout: compute(&input)?,
    })
}

/// The payout recomputed from `index` in the statement's view, for the
/// works it lists.
///
/// # Errors
/// When a work is listed twice.
pub fn recompute(statement: &PayoutStatement, index: &ConsentIndex) -> Result<Payout, PayoutError> {
    let input = RunInput {
        pool: statement.payout.pool.clone(),
        works: used_works(
            index,
            view_of(statement.view),
            statement.purpose,
            &statement.listed_works(),
        ),
    };
    compute(&input)
}

/// The index's view of a statement's.
#[must_use]
pub fn view_of(v: StatementView) -> View {
    View {
        size: v.size,
        as_of: v.as_of,
    }
}
