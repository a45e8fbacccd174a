//! `consentry vectors --log-out`: writes `spec/vectors/log.json`, a small
//! real log (registrations, key additions, a rotation, a revocation and
//! statements, and a payout record) with its leaf hashes, every root, inclusion and consistency
//! proofs and signed checkpoints. Deterministic: fixed seeds and times.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::crypto::{pae, PayloadType, SecretKey};
use crate::domain::{ContentHash, Timestamp};
use crate::log::entry::{encode, EntryKind, EntrySignature};
use crate::log::merkle::{
    consistency_proof, consistency_proof_indexes, inclusion_proof, inclusion_proof_indexes,
    leaf_hash,
};
use crate::log::note::{sign, Checkpoint};
use crate::log::tree::Appender;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// The origin of the vector log.
pub const VECTOR_ORIGIN: &str = "vectors.consentry.example/log";
/// Receipt time of entry 0; entry i is received i minutes later.
const START: i64 = 1_772_366_400_000_000_000; // 2026-03-01T12:00:00Z

fn key_id(k: &SecretKey) -> String {
    k.public_key().to_string()
}

/// Receipt time of entry `i`, plus `secs` nanoseconds.
pub(super) fn time(i: usize, secs: i64) -> Timestamp {
    Timestamp::from_unix_nanos(START + i64::try_from(i).unwrap_or(0) * 60_000_000_000 + secs)
}

struct Builder {
    entries: Vec<Vec<u8>>,
}

/// A payload's bytes with its members in key order (the vectors were
/// written so, whatever order the JSON map keeps).
fn canonical_bytes(payload: &Value) -> Vec<u8> {
    serde_json::to_vec(&crate::domain::canonical::sorted(payload.clone())).unwrap_or_default()
}

impl Builder {
    fn push(&mut self, kind: EntryKind, ptype: PayloadType, payload: &Value, keys: &[&SecretKey]) {
        let payload = canonical_bytes(payload);
        let message = pae(ptype.as_str(), &payload);
        let sigs: Vec<EntrySignature> = keys
            .iter()
            .map(|k| EntrySignature {
                key: k.public_key().to_bytes(),
                sig: k.sign(&message),
            })
            .collect();
        let at = time(self.entries.len(), 0).unix_nanos();
        let entry = encode(
            kind,
            u64::try_from(at).unwrap_or(0),
            ptype.as_str(),
            &sigs,
            &payload,
        )
        .unwrap_or_default();
        self.entries.push(entry);
    }

    fn artist(&mut self, key: &SecretKey, name: &str) -> String {
        let p = json!({
            "version": 1,
            "key": key_id(key),
            "display_name": name,
            "issued_at": time(self.entries.len(), -30),
        });
        let id = hex::encode(Sha256::digest(canonical_bytes(&p)));
        self.push(EntryKind::Artist, PayloadType::Artist, &p, &[key]);
        id
    }

    fn statement(&mut self, key: &SecretKey, works: &[u32], consent: Value) {
        self.statement_with_terms(key, works, consent, None);
    }

    fn statement_with_terms(
        &mut self,
        key: &SecretKey,
        works: &[u32],
        consent: Value,
        terms: Option<Value>,
    ) {
        let works: Vec<Value> = works
            .iter()
            .map(|&n| json!({ "hash": vector_work(n).to_string() }))
            .collect();
        let p = json!({
            "version": 1,
            "key": key_id(key),
            "works": works,
            "consent": consent,
            "issued_at": time(self.entries.len(), -30),
        });
        let mut p = p;
        if let Some(t) = terms {
            p["terms"] = t;
        }
        self.push(EntryKind::Statement, PayloadType::Statement, &p, &[key]);
    }

    /// A one-work statement whose work carries ISCC Image-Codes (64-bit
    /// bodies given as integers).
    fn statement_with_codes(&mut self, key: &SecretKey, work: u32, codes: &[u64], consent: Value) {
        let fingerprints: Vec<Value> = codes
            .iter()
            .map(|c| {
                let code = crate::domain::fingerprint::ImageCode::from_body(&c.to_be_bytes())
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                json!({ "algorithm": crate::domain::fingerprint::ISCC_IMAGE, "value": code })
            })
            .collect();
        let p = json!({
            "version": 1,
            "key": key_id(key),
            "works": [{ "hash": vector_work(work).to_string(), "media_type": "image/png", "fingerprints": fingerprints }],
            "consent": consent,
            "issued_at": time(self.entries.len(), -30),
        });
        self.push(EntryKind::Statement, PayloadType::Statement, &p, &[key]);
    }

    fn key_event(
        &mut self,
        artist: &str,
        action: &str,
        key: &SecretKey,
        extra: Value,
        signers: &[&SecretKey],
    ) {
        let mut p = json!({
            "version": 1,
            "artist": artist,
            "action": action,
            "key": key_id(key),
            "issued_at": time(self.entries.len(), -30),
        });
        if let (Some(obj), Some(more)) = (p.as_object_mut(), extra.as_object()) {
            obj.extend(more.clone());
        }
        self.push(EntryKind::KeyEvent, PayloadType::KeyEvent, &p, signers);
    }
}

/// Ana's image code in the vector log (work 20).
pub const VECTOR_CODE_A: u64 = 0xd3a5_96c3_5a69_3c96;
/// Chloé's image code (work 21): 8 bits from [`VECTOR_CODE_A`].
pub const VECTOR_CODE_B: u64 = VECTOR_CODE_A ^ 0x0000_0000_00ff_0000;
/// Ben's featureless code (work 22): 7 bits set.
pub const VECTOR_CODE_FLAT: u64 = 0x0000_0000_0000_007f;

/// The work of the vector log numbered `n`.
fn vector_work(n: u32) -> ContentHash {
    ContentHash::of(format!("vector work {n}").as_bytes())
}

/// The entries of the vector log, in order.
///
/// # Errors
/// Never for the fixed inputs; an error means the log or payout code is broken.
pub fn entries() -> anyhow::Result<Vec<Vec<u8>>> {
    Ok(build()?.0)
}

/// The entries, and the payout statements their payout records name (with
/// the record's log index).
fn build() -> anyhow::Result<(Vec<Vec<u8>>, Vec<Value>)> {
    let key = |n: u8| SecretKey::from_seed(&[n; 32]);
    let (a1, a2, b1, b2, c1) = (key(0x41), key(0x42), key(0x51), key(0x52), key(0x61));
    let mut b = Builder {
        entries: Vec::new(),
    };
    let ana = b.artist(&a1, "Ana Example");
    let ben = b.artist(&b1, "Ben Example");
    b.statement(&a1, &[1], json!("opt-out"));
    b.statement(
        &a1,
        &[2, 3],
        json!({ "train-ai": "disallowed", "search": "allowed" }),
    );
    b.statement(&a1, &[4], json!("opt-in"));
    b.statement(&b1, &[5], json!("opt-out"));
    b.statement(&a1, &[1], json!({ "train-genai": "disallowed" }));
    b.key_event(&ana, "add", &a2, json!({}), &[&a1, &a2]);
    b.statement(&a2, &[6], json!("opt-out"));
    b.statement(&a2, &[7, 8, 9], json!({ "tdm": "disallowed" }));
    b.statement(&b1, &[10], json!("opt-in"));
    b.key_event(
        &ben,
        "rotate",
        &b2,
        json!({ "replaces": key_id(&b1) }),
        &[&b1, &b2],
    );
    b.statement(&b2, &[5], json!("opt-in"));
    // Ana's first key was stolen: revoked, backdated to entry 6's time.
    b.key_event(
        &ana,
        "revoke",
        &a1,
        json!({ "effective_at": time(6, 0) }),
        &[&a2],
    );
    b.statement(&a2, &[1], json!("opt-out"));
    b.statement(&b2, &[11], json!({ "ai-use": "allowed" }));
    b.artist(&c1, "Chloé <Example>");
    b.statement(&c1, &[1], json!({ "train-ai": "allowed" }));
    b.statement(&c1, &[12], json!("opt-out"));
    b.statement_with_terms(
        &c1,
        &[13, 14],
        json!("opt-in"),
        Some(json!([
            { "kind": "revenue-share", "minimum": { "amount_minor": 10_000, "currency": "EUR" } },
            { "kind": "attribution", "credit": "Chloé Example" }
        ])),
    );
    let statements = vec![b.payout("vector-run-1", &[1, 4, 5, 10, 12, 13, 14, 99])?];
    // Image-Codes for near matching (spec/receipt.md §4.3): Ana's work 20
    // (opt-out) with two codes, Chloé's work 21 (opt-in) 8 bits from Ana's
    // first code, Ben's work 22 with a featureless code (never matched).
    b.statement_with_codes(
        &a2,
        20,
        &[VECTOR_CODE_A, VECTOR_CODE_A ^ 0x0f0f_0000_0000_0000],
        json!("opt-out"),
    );
    b.statement_with_codes(&c1, 21, &[VECTOR_CODE_B], json!("opt-in"));
    b.statement_with_codes(&b2, 22, &[VECTOR_CODE_FLAT], json!("opt-out"));
    Ok((b.entries, statements))
}

impl Builder {
    /// A payout statement for a run of `works` (train-genai, EUR 1,000.00,
    /// checked at the last entry's receipt time) over the log so far, and
    /// its payout record, signed by the registry key. Returns the statement
    /// envelope and the record's log index.
    fn payout(&mut self, run_id: &str, works: &[u32]) -> anyhow::Result<Value> {
        let mut index = crate::index::ConsentIndex::new();
        for (i, e) in self.entries.iter().enumerate() {
            index.apply_entry(i as u64, e)?;
        }
        let at = self.entries.len();
        let works: Vec<ContentHash> = works.iter().map(|&n| vector_work(n)).collect();
        let builder = format!("b_{}", "00".repeat(16));
        let statement = crate::payouts::compute_statement(
            &index,
            VECTOR_ORIGIN,
            &builder,
            run_id,
            crate::domain::Category::TrainGenai,
            time(at - 1, 0),
            crate::domain::payout::StatementView {
                size: at as u64,
                as_of: None,
            },
            None,
            crate::domain::Money {
                amount_minor: 100_000,
                currency: "EUR".into(),
            },
            &works,
            time(at, 0),
        )?;
        let key = registry_key();
        let crate::payouts::Signed { envelope, id, .. } =
            crate::payouts::sign_statement(&statement, &key)?;
        let record = json!({
            "version": crate::domain::payout::STATEMENT_VERSION,
            "statement": id,
            "builder": builder,
            "run_id": run_id,
            "issued_at": time(at, 0),
        });
        self.push(
            EntryKind::Payout,
            PayloadType::PayoutRecord,
            &record,
            &[&key],
        );
        Ok(json!({ "log_index": at, "statement_id": id, "envelope": envelope }))
    }
}

/// The registry key of the vector log.
#[must_use]
pub fn registry_key() -> SecretKey {
    SecretKey::from_seed(&[0x77; 32])
}

fn hexes(hs: &[[u8; 32]]) -> Vec<String> {
    hs.iter().map(hex::encode).collect()
}

/// Builds the whole vector document.
///
/// # Errors
/// Never for the fixed inputs; an error means the log code is broken.
pub fn log_vectors() -> anyhow::Result<Value> {
    let (entries, payout_statements) = build()?;
    let n = entries.len() as u64;
    let mut tree = Appender::new(0, &[])?;
    let mut roots = Vec::new();
    let mut leaves = Vec::new();
    for e in &entries {
        let l = leaf_hash(e);
        leaves.push(l);
        tree.push(l)?;
        roots.push(tree.root()?);
    }
    let (_, stored) = tree.take_new();
    let read = |idx: &[u64]| -> Vec<[u8; 32]> {
        idx.iter()
            .map(|i| stored[usize::try_from(*i).unwrap_or(usize::MAX)])
            .collect()
    };
    let mut inclusion = Vec::new();
    for (index, size) in (0..n).map(|i| (i, n)).chain([
        (0, 1),
        (3, 4),
        (4, 5),
        (6, 7),
        (7, 8),
        (8, 9),
        (12, 13),
        (16, 17),
    ]) {
        let path = inclusion_proof(size, index, &read(&inclusion_proof_indexes(size, index)?))?;
        inclusion.push(json!({ "index": index, "tree_size": size, "path_hex": hexes(&path) }));
    }
    let mut consistency = Vec::new();
    for (old, new) in [
        (1, n),
        (2, 3),
        (3, 8),
        (4, 8),
        (7, n),
        (8, n),
        (8, 17),
        (13, n),
        (16, 17),
        (17, n),
        (n - 1, n),
    ] {
        let path = consistency_proof(old, new, &read(&consistency_proof_indexes(old, new)?))?;
        consistency.push(json!({ "old_size": old, "new_size": new, "path_hex": hexes(&path) }));
    }
    let key = registry_key();
    let verifier = crate::log::note::NoteVerifier::new(VECTOR_ORIGIN, key.public_key())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut checkpoints = Vec::new();
    for size in [0, 1, 8, 17, n] {
        let root = if size == 0 {
            crate::log::merkle::EMPTY_ROOT
        } else {
            roots[usize::try_from(size - 1)?]
        };
        let text = Checkpoint {
            origin: VECTOR_ORIGIN.to_owned(),
            size,
            root,
        }
        .to_text();
        let note = sign(&text, VECTOR_ORIGIN, &key).map_err(|e| anyhow::anyhow!("{e}"))?;
        checkpoints.push(json!({ "note": note, "verifier_key": verifier.to_text() }));
    }
    Ok(json!({
        "description": "A small real Consentry log (spec/log.md): entries, leaf hashes, the root of every size, inclusion and consistency proofs, signed checkpoints.",
        "generated_by": "cargo run --release -- vectors --log-out spec/vectors/log.json",
        "origin": VECTOR_ORIGIN,
        "verifier_key": verifier.to_text(),
        "entries_b64": entries.iter().map(|e| B64.encode(e)).collect::<Vec<_>>(),
        "leaf_hashes_hex": hexes(&leaves),
        "roots_hex": hexes(&roots),
        "inclusion_proofs": inclusion,
        "consistency_proofs": consistency,
        "checkpoints": checkpoints,
        "payout_statements": payout_statements,
    }))
}

/// Writes the vector file.
///
/// # Errors
/// When the file cannot be written.
pub fn write(out: &Path) -> anyhow::Result<()> {
    let doc = log_vectors()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        out,
        serde_json::to_string_pretty(&crate::domain::canonical::sorted(doc.clone()))? + "\n",
    )?;
    println!(
        "wrote a log of {} entries to {}",
        doc["entries_b64"].as_array().map_or(0, Vec::len),
        out.display()
    );
    Ok(())
}
