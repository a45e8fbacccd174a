//! Accepting statements: each envelope verified on its own (in parallel,
//! ahead of the writer), then checked against the registry's state (keys,
//! duplicates, the stale rule) and appended, a batch all or nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rayon::prelude::*;

use super::append::Indexed;
use super::documents::{entry_signatures, AcceptStatus, Accepted};
use super::errors::{RegistryError, Rejection, RejectionKind, Result};
use super::Registry;
use crate::crypto::{Envelope, KeyError, PayloadType, PublicKey, VerifiedEnvelope};
use crate::domain::acceptance::{counts, is_stale, statement_signer, SignerRefusal};
use crate::domain::documents::ValidStatement;
use crate::domain::ids::document_digest;
use crate::domain::keys::active_at;
use crate::domain::{ContentHash, Statement, Timestamp};
use crate::index::Parsed;
use crate::store::{Append, AppendTx, Document, DocumentKind, Effect, StoredDocument};
use crate::transparency::Growth;

/// Statements per request, at most.
pub const MAX_STATEMENTS_PER_REQUEST: usize = 10_000;
/// Works per request (summed over its statements), at most.
pub const MAX_WORKS_PER_REQUEST: usize = 100_000;
/// Rejections listed in one error response, at most.
const MAX_LISTED_REJECTIONS: usize = 100;

struct CheckedStatement {
    verified: VerifiedEnvelope,
    valid: ValidStatement,
    key: PublicKey,
    id: String,
    /// What the consent index takes once the statement is appended.
    record: std::result::Result<Parsed, String>,
}

/// Verifies one statement envelope and parses its payload (no state needed),
/// decoding keys with `parse_key` (which must behave like `PublicKey::from_str`).
fn check_statement_with(
    env: &Envelope,
    parse_key: &(dyn Fn(&str) -> Result<PublicKey, KeyError> + Sync),
) -> Result<CheckedStatement, Rejection> {
    if env.signatures.len() != 1 {
        return Err(Rejection::new(
            RejectionKind::MalformedEnvelope,
            "a statement carries exactly one signature",
        ));
    }
    let verified = env.verify_with(PayloadType::Statement, parse_key)?;
    let valid = Statement::parse(&verified.payload)?;
    let key = verified.signers[0].0;
    if valid.statement.key != key.to_string() {
        return Err(Rejection::new(
            RejectionKind::KeyMismatch,
            "the payload's `key` is not the key that signed the envelope",
        ));
    }
    let digest = document_digest(&verified.payload);
    let record = Parsed::statement(digest, &valid);
    Ok(CheckedStatement {
        verified,
        valid,
        key,
        id: hex::encode(digest),
        record,
    })
}

/// Checks a statement envelope as the registry does before looking at its
/// state: payload type, one strictly verified signature by a canonical,
/// non-weak key, a payload that parses, and a payload `key` equal to the signer.
/// Returns the statement's id.
///
/// # Errors
/// The rejection the registry would send.
pub fn verify_statement(env: &Envelope) -> Result<String, Rejection> {
    check_statement_with(env, &|keyid: &str| keyid.parse()).map(|c| c.id)
}

/// Statements verified per pipeline step of a batch.
const PIPELINE_CHUNK: usize = 1000;

/// Decodes each distinct signing key of a batch once (batches are usually
/// signed by one or two keys; at most 1,024 are cached).
fn decode_signing_keys(envelopes: &[Envelope]) -> HashMap<String, Result<PublicKey, KeyError>> {
    let mut keys: HashMap<String, Result<PublicKey, KeyError>> = HashMap::new();
    for s in envelopes.iter().flat_map(|e| &e.signatures) {
        if keys.len() < 1024 && !keys.contains_key(s.keyid.as_str()) {
            keys.insert(s.keyid.clone(), s.keyid.parse());
        }
    }
    keys
}

/// What happens to one statement of a batch.
enum Outcome {
    /// Newly appended; `seq` is known once its chunk is written.
    Created {
        id: String,
        seq: Option<i64>,
        received_at: Timestamp,
    },
    /// Already stored before this request.
    Stored(Accepted),
    /// The same as an earlier statement of this batch (by outcome index).
    SameAs(usize),
}

/// The state of a batch as its chunks are checked and written.
#[derive(Default)]
struct BatchPlan {
    keys: HashMap<PublicKey, Result<(), Rejection>>,
    latest: HashMap<ContentHash, Timestamp>,
    first_of: HashMap<String, usize>,
    outcomes: Vec<Outcome>,
    rejections: Vec<Rejection>,
    works: usize,
}

impl BatchPlan {
    /// Gives the seqs of a written chunk to its created statements, in order.
    fn record_seqs(&mut self, seqs: &[i64]) {
        let mut seqs = seqs.iter();
        for o in &mut self.outcomes {
            if let Outcome::Created {
                seq: seq @ None, ..
            } = o
            {
                *seq = seqs.next().copied();
            }
        }
    }

    fn into_outcomes(self, artist_id: &str) -> Vec<Accepted> {
        let mut out: Vec<Accepted> = Vec::with_capacity(self.outcomes.len());
        for o in self.outcomes {
            let a = match o {
                Outcome::Created {
                    id,
                    seq,
                    received_at,
                } => Accepted {
                    id,
                    seq: seq.unwrap_or(-1),
                    kind: DocumentKind::Statement.as_str(),
                    artist_id: artist_id.to_owned(),
                    received_at,
                    status: AcceptStatus::Created,
                    receipt: None,
                },
                Outcome::Stored(a) => a,
                Outcome::SameAs(i) => Accepted {
                    status: AcceptStatus::Duplicate,
                    ..out[i].clone()
                },
            };
            out.push(a);
        }
        out
    }
}

/// [`verify_statement`] for a whole batch, on all cores, decoding each
/// signing key once: the check the registry runs on a batch before looking
/// at its state. Returns each statement's id or rejection, in order.
#[must_use]
pub fn verify_statements(envelopes: &[Envelope]) -> Vec<Result<String, Rejection>> {
    let keys = decode_signing_keys(envelopes);
    let parse_key = |keyid: &str| keys.get(keyid).cloned().unwrap_or_else(|| keyid.parse());
    envelopes
        .par_iter()
        .with_min_len(64)
        .map(|e| check_statement_with(e, &parse_key).map(|c| c.id))
        .collect()
}

impl Registry {
    /// Accepts a batch of statements by one artist, all or nothing.
    ///
    /// Signatures are verified in parallel before any state is read. A
    /// statement identical to a stored one is reported as a duplicate; one
    /// that is not newer than the artist's latest statement about any of its
    /// works is refused as stale.
    ///
    /// # Errors
    /// Every refused statement, with its index, when any is refused.
    pub async fn submit_statements(
        &self,
        artist_id: &str,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<Accepted>> {
        if envelopes.is_empty() {
            return Err(Rejection::new(
                RejectionKind::EmptyBatch,
                "a request carries at least one statement",
            )
            .into());
        }
        if envelopes.len() > MAX_STATEMENTS_PER_REQUEST {
            return Err(Rejection::new(
                RejectionKind::TooManyItems,
                format!(
                    "a request carries at most {MAX_STATEMENTS_PER_REQUEST} statements, got {}",
                    envelopes.len()
                ),
            )
            .into());
        }
        let n = envelopes.len();
        let envelopes = Arc::new(envelopes);
        let keys = Arc::new(decode_signing_keys(&envelopes));
        let chunks: Vec<std::ops::Range<usize>> = (0..n)
            .step_by(PIPELINE_CHUNK)
            .map(|start| start..(start + PIPELINE_CHUNK).min(n))
            .collect();
        // Verification of chunk k+1 runs on the blocking pool while chunk k
        // is checked against the registry's state and written: the signature
        // checks, the database and its I/O overlap, and one transaction
        // still makes the batch all or nothing.
        let verify = |range: std::ops::Range<usize>| {
            let (envelopes, keys) = (Arc::clone(&envelopes), Arc::clone(&keys));
            tokio::task::spawn_blocking(move || {
                let parse_key =
                    |keyid: &str| keys.get(keyid).cloned().unwrap_or_else(|| keyid.parse());
                envelopes[range]
                    .par_iter()
                    .with_min_len(64)
                    .map(|e| check_statement_with(e, &parse_key))
                    .collect::<Vec<_>>()
            })
        };
        let mut pending = Some(verify(chunks[0].clone()));

        let mut last = self.writer.lock().await;
        let now = Timestamp::now();
        let revoked: HashMap<String, Option<Timestamp>> = match self.store.artist(artist_id).await?
        {
            Some(a) => a
                .keys
                .into_iter()
                .map(|k| (k.key.to_string(), k.revoked_at))
                .collect(),
            None => HashMap::new(),
        };
        let mut plan = BatchPlan::default();
        let mut tx: Option<(Box<dyn AppendTx>, Option<Growth>)> = None;
        let mut created: Vec<i64> = Vec::new();
        let mut indexed: Vec<Indexed> = Vec::new();
        for (k, range) in chunks.iter().enumerate() {
            let Some(task) = pending.take() else { break };
            let checked = task
                .await
                .map_err(|e| RegistryError::Internal(e.to_string()))?;
            if let Some(next) = chunks.get(k + 1) {
                pending = Some(verify(next.clone()));
            }
            let mut statements = Vec::with_capacity(checked.len());
            for (i, c) in range.clone().zip(checked) {
                match c {
                    Ok(s) => statements.push((i, s)),
                    Err(r) => plan.rejections.push(r.at(i)),
                }
            }
            if !plan.rejections.is_empty() {
                // Keep verifying, to report every bad envelope, but write nothing more.
                continue;
            }
            let (appends, records) = self
                .plan_chunk(artist_id, now, &revoked, &mut last, &mut plan, statements)
                .await?;
            if plan.rejections.is_empty() && !appends.is_empty() {
                let (tx, growth) = match &mut tx {
                    Some(open) => open,
                    None => {
                        let mut new = self.store.begin_append().await?;
                        let growth = self.begin_log(new.as_mut()).await?;
                        tx.insert((new, growth))
                    }
                };
                let seqs = tx.append(&appends).await?;
                self.grow_log(tx.as_mut(), growth.as_mut(), &seqs, &appends)
                    .await?;
                plan.record_seqs(&seqs);
                indexed.extend(
                    seqs.iter()
                        .zip(&appends)
                        .zip(records)
                        .map(|((seq, a), record)| {
                            (
                                u64::try_from(*seq).unwrap_or(u64::MAX),
                                a.doc.received_at,
                                record,
                            )
                        }),
                );
                created.extend_from_slice(&seqs);
            }
        }
        if !plan.rejections.is_empty() {
            drop(tx); // rolls back
            plan.rejections.truncate(MAX_LISTED_REJECTIONS);
            return Err(RegistryError::Rejected(plan.rejections));
        }
        let mut receipts = Vec::new();
        if let Some((mut tx, growth)) = tx {
            let checkpoint;
            (receipts, checkpoint) = self
                .seal_log(tx.as_mut(), growth.as_ref(), &created)
                .await?;
            tx.commit().await?;
            self.update_index(indexed, checkpoint);
        }
        drop(last);
        let mut outcomes = plan.into_outcomes(artist_id);
        let mut receipts = receipts.into_iter();
        for a in outcomes
            .iter_mut()
            .filter(|a| a.status == AcceptStatus::Created)
        {
            a.receipt = receipts.next();
        }
        Ok(outcomes)
    }

    /// Checks one verified chunk of a batch against the registry's state
    /// (keys, duplicates, the stale rule) and returns what to append. Adds
    /// rejections to `plan` instead of failing.
    async fn plan_chunk(
        &self,
        artist_id: &str,
        now: Timestamp,
        revoked: &HashMap<String, Option<Timestamp>>,
        last: &mut Timestamp,
        plan: &mut BatchPlan,
        statements: Vec<(usize, CheckedStatement)>,
    ) -> Result<(Vec<Append>, Vec<std::result::Result<Parsed, String>>)> {
        // Keys: known, the caller's, active now.
        for (_, s) in &statements {
            if plan.keys.contains_key(&s.key) {
                continue;
            }
            let record = self.store.key(&s.key).await?;
            let holder = record.as_ref().map(|r| (r.artist_id.as_str(), r.span()));
            let verdict = statement_signer(holder, Some(artist_id), now).map_err(|e| match e {
                SignerRefusal::Unknown => Rejection::new(
                    RejectionKind::UnknownKey,
                    format!("{} is not registered", s.key),
                ),
                SignerRefusal::OtherArtist => Rejection::new(
                    RejectionKind::Forbidden,
                    format!("{} belongs to another artist than the caller", s.key),
                ),
                SignerRefusal::Revoked => {
                    Rejection::new(RejectionKind::RevokedKey, format!("{} is revoked", s.key))
                }
            });
            plan.keys.insert(s.key, verdict);
        }
        let ids: Vec<String> = statements.iter().map(|(_, s)| s.id.clone()).collect();
        let existing: HashMap<String, StoredDocument> = self
            .store
            .documents_by_id(&ids)
            .await?
            .into_iter()
            .map(|d| (d.doc.id.clone(), d))
            .collect();
        let works: Vec<ContentHash> = statements
            .iter()
            .filter(|(_, s)| !existing.contains_key(&s.id))
            .flat_map(|(_, s)| s.valid.statement.works.iter().map(|w| w.hash))
            .filter(|w| !plan.latest.contains_key(w))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // The artist's latest statement per work, among those that still
        // count: one whose key was revoked at or before its receipt does not.
        for c in self.store.artist_claims(artist_id, &works).await? {
            if counts(revoked.get(&c.key).copied().flatten(), c.received_at) {
                let slot = plan.latest.entry(c.work).or_insert(c.issued_at);
                *slot = (*slot).max(c.issued_at);
            }
        }

        let mut appends = Vec::new();
        let mut records = Vec::new();
        for (i, s) in statements {
            plan.works += s.valid.statement.works.len();
            if plan.works > MAX_WORKS_PER_REQUEST {
                plan.rejections.push(Rejection::new(
                    RejectionKind::TooManyItems,
                    format!("a request names at most {MAX_WORKS_PER_REQUEST} works"),
                ));
                return Ok((Vec::new(), Vec::new()));
            }
            // A statement already in history is a duplicate whatever has
            // happened to its key since: resubmitting it changes nothing.
            if let Some(stored) = existing.get(&s.id).filter(|d| d.doc.artist_id == artist_id) {
                plan.outcomes.push(Outcome::Stored(Accepted::from_stored(
                    stored,
                    AcceptStatus::Duplicate,
                )));
                continue;
            }
            if let Some(&first) = plan.first_of.get(&s.id) {
                plan.outcomes.push(Outcome::SameAs(first));
                continue;
            }
            if let Some(Err(r)) = plan.keys.get(&s.key) {
                plan.rejections.push(r.clone().at(i));
                continue;
            }
            if let Err(r) = Self::check_not_future(s.valid.statement.issued_at, now) {
                plan.rejections.push(r.at(i));
                continue;
            }
            let issued = s.valid.statement.issued_at;
            if let Some(w) = s
                .valid
                .statement
                .works
                .iter()
                .find(|w| is_stale(issued, plan.latest.get(&w.hash).copied()))
            {
                plan.rejections.push(
                    Rejection::new(
                        RejectionKind::StaleStatement,
                        format!(
                            "the artist already has a statement about {} issued at or after {issued}; a replacement must be issued later",
                            w.hash
                        ),
                    )
                    .at(i),
                );
                continue;
            }
            for w in &s.valid.statement.works {
                plan.latest.insert(w.hash, issued);
            }
            let received_at = Self::next_receipt_time(last);
            // The key must still be active at the receipt time the log
            // records (a scheduled revocation may fall between `now` and it).
            if !active_at(
                revoked.get(&s.key.to_string()).copied().flatten(),
                received_at,
            ) {
                plan.rejections.push(
                    Rejection::new(RejectionKind::RevokedKey, format!("{} is revoked", s.key))
                        .at(i),
                );
                continue;
            }
            plan.first_of.insert(s.id.clone(), plan.outcomes.len());
            plan.outcomes.push(Outcome::Created {
                id: s.id.clone(),
                seq: None,
                received_at,
            });
            records.push(s.record);
            appends.push(Append {
                doc: Document {
                    id: s.id,
                    kind: DocumentKind::Statement,
                    artist_id: artist_id.to_owned(),
                    payload_type: PayloadType::Statement.as_str().to_owned(),
                    signatures: entry_signatures(&s.verified),
                    payload: s.verified.payload,
                    received_at,
                },
                effects: vec![Effect::Statement {
                    key: s.key,
                    issued_at: issued,
                    works: s.valid.statement.works.iter().map(|w| w.hash).collect(),
                }],
            });
        }
        Ok((appends, records))
    }
}
