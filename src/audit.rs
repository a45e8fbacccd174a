//! The auditor's engine (`spec/log.md` §7): replays log entries in order,
//! verifies every signature, re-decides the key rules the registry applied
//! (registrations, additions, rotations, revocations, statements signed by
//! active keys only), and recomputes the Merkle root. Transport-free: the
//! `consentry audit` command feeds it entries fetched over HTTP, and its
//! state can be saved and resumed.

use std::collections::{BTreeMap, HashMap};

use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::crypto::{pae, PayloadType, PublicKey};
use crate::domain::acceptance::{statement_signer, SignerRefusal};
use crate::domain::ids::artist_id;
use crate::domain::keys::{decide_key_event, KeyChange, KeyEventFacts, KeySpan};
use crate::domain::{ArtistRegistration, KeyEvent, Timestamp};
use crate::log::entry::{self, Entry, EntryKind};
use crate::log::merkle::{leaf_hash, verify_consistency};
use crate::log::note::{open, Checkpoint, NoteVerifier};
use crate::log::tree::Appender;
use crate::log::Hash;

/// Signatures verified per batch (and per parallel task).
const BATCH: usize = 256;

/// Why an audit failed: the entry concerned, when there is one, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", entry.map(|i| format!("entry {i}: ")).unwrap_or_default())]
pub struct AuditFailure {
    pub entry: Option<u64>,
    pub reason: String,
}

impl AuditFailure {
    fn at(entry: u64, reason: impl Into<String>) -> Self {
        Self {
            entry: Some(entry),
            reason: reason.into(),
        }
    }

    fn log(reason: impl Into<String>) -> Self {
        Self {
            entry: None,
            reason: reason.into(),
        }
    }
}

/// A key as the log's history defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    pub artist: String,
    pub added_at: u64,
    pub revoked_at: Option<u64>,
}

impl KeyState {
    /// When the key was added and revoked, as the domain's rules take it.
    fn span(&self) -> KeySpan {
        KeySpan {
            added_at: instant(self.added_at),
            revoked_at: self.revoked_at.map(instant),
        }
    }
}

/// A receipt time of the log (unix nanoseconds) as an instant.
fn instant(nanos: u64) -> Timestamp {
    Timestamp::from_unix_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}

/// What an auditor remembers between runs (saved as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditState {
    pub origin: String,
    pub verifier_key: String,
    /// The last checkpoint verified, verbatim, and its size and root.
    pub checkpoint: String,
    pub size: u64,
    pub root_hex: String,
    /// The tree's frontier at `size` ([`Appender::frontier_indexes`]).
    pub frontier_hex: Vec<String>,
    /// Receipt time of entry `size - 1`, unix nanoseconds.
    pub last_received_at: u64,
    /// Every key registered so far, by `ed25519:<hex>`.
    pub keys: BTreeMap<String, KeyState>,
    /// Every artist id registered so far.
    pub artists: Vec<String>,
}

/// Counts of what an audit saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AuditCounts {
    pub entries: u64,
    pub signatures: u64,
    pub artists: u64,
    pub key_events: u64,
    pub statements: u64,
    pub payouts: u64,
}

/// An entry, its leaf hash and, for a statement, its payload's `key`.
type Parsed = (Entry, Hash, Option<String>);

/// One entry, decoded and checked on its own (in parallel).
struct Decoded {
    entry: Entry,
    leaf: Hash,
    /// For statements: the payload's `key` member.
    statement_key: Option<String>,
    keys: Vec<Result<VerifyingKey, String>>,
}

#[derive(Deserialize)]
struct StatementKey {
    key: String,
}

/// Replays a log.
pub struct Auditor {
    origin: String,
    verifier: NoteVerifier,
    appender: Appender,
    last_received_at: u64,
    keys: HashMap<String, KeyState>,
    artists: std::collections::HashSet<String>,
    /// Leaf hashes of the entries replayed in this run, from `first_index`.
    pub first_index: u64,
    pub leaves: Vec<Hash>,
    pub counts: AuditCounts,
    key_cache: HashMap<[u8; 32], Result<VerifyingKey, String>>,
}

fn key_text(key: &[u8; 32]) -> String {
    format!("ed25519:{}", hex::encode(key))
}

impl Auditor {
    /// An auditor of an empty log.
    #[must_use]
    pub fn new(origin: &str, verifier: NoteVerifier) -> Self {
        Self {
            origin: origin.to_owned(),
            verifier,
            appender: Appender::new(0, &[])
                .unwrap_or_else(|_| unreachable!("empty frontier"))
                .frontier_only(),
            last_received_at: 0,
            keys: HashMap::new(),
            artists: std::collections::HashSet::new(),
            first_index: 0,
            leaves: Vec::new(),
            counts: AuditCounts::default(),
            key_cache: HashMap::new(),
        }
    }

    /// Resumes from a saved state.
    ///
    /// # Errors
    /// When the state is malformed.
    pub fn resume(state: &AuditState) -> Result<Self, AuditFailure> {
        let bad = |what: &str| AuditFailure::log(format!("saved state: {what}"));
        let verifier = NoteVerifier::parse(&state.verifier_key).map_err(|_| bad("verifier key"))?;
        let frontier = state
            .frontier_hex
            .iter()
            .map(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).map(|()| out)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("frontier"))?;
        let appender = Appender::new(state.size, &frontier)
            .map_err(|_| bad("frontier"))?
            .frontier_only();
        if hex::encode(appender.root().map_err(|_| bad("frontier"))?) != state.root_hex {
            return Err(bad("the frontier does not hash to the saved root"));
        }
        let mut a = Self::new(&state.origin, verifier);
        a.appender = appender;
        a.first_index = state.size;
        a.last_received_at = state.last_received_at;
        a.keys = state.keys.clone().into_iter().collect();
        a.artists = state.artists.iter().cloned().collect();
        Ok(a)
    }

    /// The state to save after a successful audit up to `checkpoint`.
    #[must_use]
    pub fn state(&self, checkpoint_note: &str) -> AuditState {
        let size = self.appender.size();
        let frontier = self
            .appender
            .lookup(&Appender::frontier_indexes(size))
            .unwrap_or_default();
        let mut artists: Vec<String> = self.artists.iter().cloned().collect();
        artists.sort();
        AuditState {
            origin: self.origin.clone(),
            verifier_key: self.verifier.to_text(),
            checkpoint: checkpoint_note.to_owned(),
            size,
            root_hex: hex::encode(self.appender.root().unwrap_or_default()),
            frontier_hex: frontier.iter().map(hex::encode).collect(),
            last_received_at: self.last_received_at,
            keys: self.keys.clone().into_iter().collect(),
            artists,
        }
    }

    /// Entries replayed so far (the next index expected).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.appender.size()
    }

    /// Opens a signed checkpoint with the log's key and checks its origin.
    ///
    /// # Errors
    /// When the note is not signed by the log's key or is for another log.
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, AuditFailure> {
        let text = open(note, std::slice::from_ref(&self.verifier)).map_err(|e| {
            AuditFailure::log(format!(
                "checkpoint: {e} (expected a signature by {})",
                self.verifier.to_text()
            ))
        })?;
        let cp =
            Checkpoint::parse(text).map_err(|e| AuditFailure::log(format!("checkpoint: {e}")))?;
        if cp.origin != self.origin {
            return Err(AuditFailure::log(format!(
                "checkpoint is for log `{}`, not `{}`",
                cp.origin, self.origin
            )));
        }
        Ok(cp)
    }

    /// Checks that `new` extends the tree this auditor has replayed so far
    /// (its size and root), with a consistency proof from the log.
    ///
    /// # Errors
    /// When the log shrank or the proof fails: the log rewrote history.
    pub fn check_consistency(&self, new: &Checkpoint, proof: &[Hash]) -> Result<(), AuditFailure> {
        let old = self.appender.size();
        if new.size < old {
            return Err(AuditFailure::log(format!(
                "the log shrank: checkpoint size {} is below the {old} entries audited before",
                new.size
            )));
        }
        let old_root = self
            .appender
            .root()
            .map_err(|e| AuditFailure::log(e.to_string()))?;
        verify_consistency(old, new.size, &old_root, &new.root, proof).map_err(|_| {
            AuditFailure::log(format!(
                "checkpoint of size {} is not consistent with the tree of size {old} audited before: history was rewritten",
                new.size
            ))
        })
    }

    fn decode_key(&mut self, key: &[u8; 32]) -> Result<VerifyingKey, String> {
        self.key_cache
            .entry(*key)
            .or_insert_with(|| {
                PublicKey::from_bytes(key)
                    .map(|k| *k.verifying_key())
                    .map_err(|e| format!("{}: {e}", key_text(key)))
            })
            .clone()
    }

    /// Replays entries `first, first + 1, ...` (in order, following what
    /// was replayed before).
    ///
    /// # Errors
    /// The first entry that fails, with what is wrong.
    pub fn replay(&mut self, first: u64, entries: &[Vec<u8>]) -> Result<(), AuditFailure> {
        if first != self.appender.size() {
            return Err(AuditFailure::at(
                self.appender.size(),
                format!("entry is missing (the log went on at entry {first})"),
            ));
        }
        // Decode and hash in parallel.
        let decoded: Vec<Result<Parsed, AuditFailure>> = entries
            .par_iter()
            .enumerate()
            .with_min_len(64)
            .map(|(i, bytes)| {
                let index = first + i as u64;
                let e =
                    entry::decode(bytes).map_err(|err| AuditFailure::at(index, err.to_string()))?;
                let statement_key = if e.kind == EntryKind::Statement {
                    let k: StatementKey = serde_json::from_slice(&e.payload).map_err(|err| {
                        AuditFailure::at(index, format!("statement payload: {err}"))
                    })?;
                    Some(k.key)
                } else {
                    None
                };
                Ok((e, leaf_hash(bytes), statement_key))
            })
            .collect();
        let mut items = Vec::with_capacity(decoded.len());
        for d in decoded {
            let (entry, leaf, statement_key) = d?;
            let keys = entry
                .signatures
                .iter()
                .map(|s| self.decode_key(&s.key))
                .collect();
            items.push(Decoded {
                entry,
                leaf,
                statement_key,
                keys,
            });
        }
        // Signatures on the thread pool while the rules and the tree are
        // replayed in order; the earliest failure of either is reported.
        let (signatures, rules) = rayon::join(
            || verify_signatures(first, &items),
            || self.apply_all(first, &items),
        );
        let failure = match (signatures, rules) {
            (Ok(count), Ok(())) => {
                self.counts.signatures += count;
                self.counts.entries += items.len() as u64;
                return Ok(());
            }
            (Err(a), Err(b)) => {
                if b.entry < a.entry {
                    b
                } else {
                    a
                }
            }
            (Err(f), Ok(())) | (Ok(_), Err(f)) => f,
        };
        Err(failure)
    }

    fn apply_all(&mut self, first: u64, items: &[Decoded]) -> Result<(), AuditFailure> {
        for (i, item) in items.iter().enumerate() {
            let index = first + i as u64;
            self.apply(index, item)?;
            self.appender
                .push(item.leaf)
                .map_err(|e| AuditFailure::at(index, e.to_string()))?;
            self.leaves.push(item.leaf);
        }
        Ok(())
    }
}

/// Verifies every signature of `items`: batches in parallel, then, for a
/// batch that fails, each signature strictly to name the bad one. Returns
/// the number of signatures.
fn verify_signatures(first: u64, items: &[Decoded]) -> Result<u64, AuditFailure> {
    {
        struct Job<'a> {
            index: u64,
            message: Vec<u8>,
            sig: Signature,
            key: &'a Result<VerifyingKey, String>,
        }
        let mut jobs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            for (s, key) in item.entry.signatures.iter().zip(&item.keys) {
                jobs.push(Job {
                    index: first + i as u64,
                    message: pae(&item.entry.payload_type, &item.entry.payload),
                    sig: Signature::from_bytes(&s.sig),
                    key,
                });
            }
        }
        let count = jobs.len() as u64;
        let failures: Vec<AuditFailure> = jobs
            .par_chunks(BATCH)
            .filter_map(|chunk| {
                let mut keys = Vec::with_capacity(chunk.len());
                for j in chunk {
                    match j.key {
                        Ok(k) => keys.push(*k),
                        Err(e) => {
                            return Some(AuditFailure::at(j.index, format!("signing key {e}")))
                        }
                    }
                }
                let messages: Vec<&[u8]> = chunk.iter().map(|j| j.message.as_slice()).collect();
                let sigs: Vec<Signature> = chunk.iter().map(|j| j.sig).collect();
                if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
                    return None;
                }
                chunk.iter().zip(&keys).find_map(|(j, k)| {
                    k.verify_strict(&j.message, &j.sig).err().map(|_| {
                        AuditFailure::at(
                            j.index,
                            format!(
                                "the signature by {} does not verify",
                                key_text(k.as_bytes())
                            ),
                        )
                    })
                })
            })
            .collect();
        match failures.into_iter().min_by_key(|f| f.entry) {
            Some(f) => Err(f),
            None => Ok(count),
        }
    }
}

impl Auditor {
    /// Re-decides the registry's acceptance rules for one entry and applies
    /// its effect on the key state.
    fn apply(&mut self, index: u64, item: &Decoded) -> Result<(), AuditFailure> {
        let e = &item.entry;
        let fail = |reason: String| AuditFailure::at(index, reason);
        let now = e.received_at;
        if index > 0 && now <= self.last_received_at {
            return Err(fail(format!(
                "received at {} ns, not after the previous entry ({} ns): entries are out of acceptance order",
                now, self.last_received_at
            )));
        }
        self.last_received_at = now;
        let expected_type = match e.kind {
            EntryKind::Artist => PayloadType::Artist,
            EntryKind::KeyEvent => PayloadType::KeyEvent,
            EntryKind::Statement => PayloadType::Statement,
            EntryKind::Payout => PayloadType::PayoutRecord,
        };
        if e.payload_type != expected_type.as_str() {
            return Err(fail(format!(
                "a {} entry has payload type {}",
                e.kind.as_str(),
                e.payload_type
            )));
        }
        let signers: Vec<String> = e.signatures.iter().map(|s| key_text(&s.key)).collect();
        match e.kind {
            EntryKind::Artist => {
                self.counts.artists += 1;
                let reg = ArtistRegistration::parse(&e.payload)
                    .map_err(|err| fail(format!("registration payload: {err}")))?;
                if signers.len() != 1 || reg.key != signers[0] {
                    return Err(fail(
                        "a registration is signed by exactly its own key".into(),
                    ));
                }
                if self.keys.contains_key(&reg.key) {
                    return Err(fail(format!("key {} was registered before", reg.key)));
                }
                let artist = artist_id(&e.payload);
                if !self.artists.insert(artist.clone()) {
                    return Err(fail(format!("artist {artist} was registered before")));
                }
                self.keys.insert(
                    reg.key,
                    KeyState {
                        artist,
                        added_at: now,
                        revoked_at: None,
                    },
                );
            }
            EntryKind::KeyEvent => {
                self.counts.key_events += 1;
                let ev = KeyEvent::parse(&e.payload)
                    .map_err(|err| fail(format!("key event payload: {err}")))?;
                self.apply_key_event(&ev, &signers, now).map_err(fail)?;
            }
            EntryKind::Statement => {
                self.counts.statements += 1;
                if signers.len() != 1 || item.statement_key.as_deref() != Some(signers[0].as_str())
                {
                    return Err(fail(
                        "a statement is signed by exactly the key its payload names".into(),
                    ));
                }
                let holder = self
                    .keys
                    .get(&signers[0])
                    .map(|k| (k.artist.as_str(), k.span()));
                match statement_signer(holder, None, instant(now)) {
                    Ok(()) => {}
                    Err(SignerRefusal::Unknown | SignerRefusal::OtherArtist) => {
                        return Err(fail(format!(
                            "statement signed by unregistered key {}",
                            signers[0]
                        )))
                    }
                    Err(SignerRefusal::Revoked) => {
                        return Err(fail(format!(
                            "statement signed by {} after its revocation: the registry did not honour the revocation",
                            signers[0]
                        )))
                    }
                }
            }
            EntryKind::Payout => {
                self.counts.payouts += 1;
                let registry = self.verifier.key.to_string();
                if signers.len() != 1 || signers[0] != registry {
                    return Err(fail(format!(
                        "a payout record is signed by exactly the log's key {registry}"
                    )));
                }
                crate::domain::payout::PayoutRecord::parse(&e.payload).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Re-decides a key event with the registry's own rule
    /// ([`decide_key_event`]) over the keys replayed so far, and applies
    /// what it changes.
    fn apply_key_event(
        &mut self,
        ev: &KeyEvent,
        signers: &[String],
        now: u64,
    ) -> Result<(), String> {
        if !self.artists.contains(&ev.artist) {
            return Err(format!("key event for unknown artist {}", ev.artist));
        }
        let facts = KeyEventFacts {
            action: ev.action,
            key: ev.key.clone(),
            replaces: ev.replaces.clone(),
            effective_at: ev.effective_at,
            signers,
            now: instant(now),
            key_in_use: self.keys.contains_key(&ev.key),
        };
        let changes = decide_key_event(&facts, |k| {
            self.keys
                .get(k)
                .filter(|s| s.artist == ev.artist)
                .map(KeyState::span)
        })
        .map_err(|e| {
            format!(
                "a key event the registry's rules refuse ({e}): the registry did not honour them"
            )
        })?;
        for change in changes {
            match change {
                KeyChange::Added(key) => {
                    self.keys.insert(
                        key,
                        KeyState {
                            artist: ev.artist.clone(),
                            added_at: now,
                            revoked_at: None,
                        },
                    );
                }
                KeyChange::Revoked { key, effective_at } => {
                    let effective = u64::try_from(effective_at.unix_nanos())
                        .map_err(|_| "effective_at before 1970".to_owned())?;
                    if let Some(s) = self.keys.get_mut(&key) {
                        s.revoked_at = Some(s.revoked_at.map_or(effective, |r| r.min(effective)));
                    }
                }
            }
        }
        Ok(())
    }

    /// Compares the replayed tree with a verified checkpoint.
    ///
    /// # Errors
    /// When sizes or roots differ.
    pub fn finish(&self, cp: &Checkpoint) -> Result<(), AuditFailure> {
        let size = self.appender.size();
        if size != cp.size {
            return Err(AuditFailure::log(format!(
                "the log served {size} entries but its checkpoint has {}: entries are missing",
                cp.size
            )));
        }
        let root = self
            .appender
            .root()
            .map_err(|e| AuditFailure::log(e.to_string()))?;
        if root != cp.root {
            return Err(AuditFailure::log(format!(
                "the root of the {size} entries served ({}) is not the checkpoint's root ({}): an entry was altered, dropped or reordered",
                hex::encode(root),
                hex::encode(cp.root)
            )));
        }
        Ok(())
    }
}
