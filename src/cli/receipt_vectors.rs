//! `consentry vectors --receipts-out`: writes `spec/vectors/receipts.json`,
//! checks against the log of `spec/vectors/log.json` with their answers,
//! digests and signed receipts (`spec/receipt.md` §6). Deterministic.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use super::log_vectors::{entries, registry_key, VECTOR_CODE_A, VECTOR_CODE_FLAT, VECTOR_ORIGIN};
use crate::check::receipt::ReceiptCheckpoint;
use crate::check::{answer_item, Item, MATCHING};
use crate::check::{statement_ids, AnswerDigests, CheckReceipt};
use crate::domain::fingerprint::ImageCode;
use crate::domain::{Category, ContentHash, Timestamp};
use crate::index::{ConsentIndex, View};
use crate::log::merkle::leaf_hash;
use crate::log::note::{sign, Checkpoint, NoteVerifier};
use crate::log::tree::Appender;

/// Receipt time of the vector log's entry `i`.
fn entry_time(i: usize) -> Timestamp {
    super::log_vectors::time(i, 0)
}

fn work(n: u32) -> ContentHash {
    ContentHash::of(format!("vector work {n}").as_bytes())
}

/// One question of the vectors.
struct Question {
    description: &'static str,
    purpose: Category,
    as_of: Option<Timestamp>,
    tree_size: u64,
    works: Vec<u32>,
}

fn questions() -> Vec<Question> {
    let all: Vec<u32> = (1..=12).chain([99, 1]).collect();
    vec![
        Question {
            description: "the whole log, train-ai: supersession (work 1: Ana's opt-out of entry 14 is current), a dispute (work 1, with Chloé), Ben's statements before his rotation still counting (works 5 and 10), an unregistered work (99) and a repeated hash",
            purpose: Category::TrainAi,
            as_of: None,
            tree_size: 19,
            works: all.clone(),
        },
        Question {
            description: "as of 1 ns before Ana's backdated revocation (entry 13) was received, train-genai: the revocation does not count yet, so her statement of entry 6 is current for work 1 and Ben's opt-in of entry 12 already counts for work 5",
            purpose: Category::TrainGenai,
            as_of: Some(Timestamp::from_unix_nanos(entry_time(13).unix_nanos() - 1)),
            tree_size: 19,
            works: all.clone(),
        },
        Question {
            description: "an earlier checkpoint (size 10), search",
            purpose: Category::Search,
            as_of: None,
            tree_size: 10,
            works: all.clone(),
        },
        Question {
            description: "as of exactly the receipt time of Ana's backdated revocation (entry 13), search: an entry received exactly at as_of is in the view, so the revocation counts; it voids her statement of entry 6, which was received exactly at its effective time, and her opt-out of entry 2 is current again for work 1 (disallowed, not unknown)",
            purpose: Category::Search,
            as_of: Some(entry_time(13)),
            tree_size: 19,
            works: vec![1, 2, 5, 6, 10, 11],
        },
        Question {
            description: "as of before any statement was received, tdm: every answer unknown",
            purpose: Category::Tdm,
            as_of: Some(Timestamp::from_unix_nanos(entry_time(2).unix_nanos() - 1)),
            tree_size: 19,
            works: vec![1, 2, 99],
        },
    ]
}

/// One near-matching question: items of an optional work and image codes.
struct NearQuestion {
    description: &'static str,
    purpose: Category,
    as_of: Option<Timestamp>,
    tree_size: u64,
    items: Vec<(Option<u32>, Vec<u64>)>,
}

fn near_questions() -> Vec<NearQuestion> {
    let a = VECTOR_CODE_A;
    let items = vec![
        (Some(20), vec![]),
        (None, vec![a ^ 0b11]),
        (Some(98), vec![a ^ 0x0000_0000_000f_0000]),
        (None, vec![a ^ 0xffff_ffff_0000_0000]),
        (None, vec![VECTOR_CODE_FLAT ^ 1, VECTOR_CODE_FLAT]),
        (Some(1), vec![a]),
        (Some(99), vec![]),
    ];
    vec![
        NearQuestion {
            description: "near matching (match near), the whole log, train-ai: work 20 by hash (exact); a code 2 bits from Ana's (near, her opt-out); an unregistered hash with a code 4 bits from both Ana's and Chloé's codes (near both: a dispute, disallowed wins, both statements); a far code (no match); codes near Ben's featureless code (never matched); a registered hash with a code (the hash decides: exact); an unregistered hash without codes",
            purpose: Category::TrainAi,
            as_of: None,
            tree_size: 24,
            items: items.clone(),
        },
        NearQuestion {
            description: "near matching as of 1 ns before Chloé's coded statement (entry 22) was received, search: only Ana's codes count",
            purpose: Category::Search,
            as_of: Some(Timestamp::from_unix_nanos(entry_time(22).unix_nanos() - 1)),
            tree_size: 24,
            items,
        },
    ]
}

fn code(body: u64) -> anyhow::Result<ImageCode> {
    ImageCode::from_body(&body.to_be_bytes()).ok_or_else(|| anyhow::anyhow!("not a code body"))
}

/// What signs the vectors' receipts: the log's key, its verifier and the
/// root of every tree size.
struct Signer {
    key: crate::crypto::SecretKey,
    verifier: NoteVerifier,
    roots: Vec<[u8; 32]>,
}

impl Signer {
    /// The signed receipt of a question answered into `digests`: the
    /// checkpoint note of `tree_size`, a fixed `issued_at`, verified back.
    fn receipt(
        &self,
        purpose: Category,
        as_of: Option<Timestamp>,
        tree_size: u64,
        digests: &AnswerDigests,
        matching: Option<crate::check::Matching>,
    ) -> anyhow::Result<crate::crypto::Envelope> {
        let root = self.roots[usize::try_from(tree_size)? - 1];
        let text = Checkpoint {
            origin: VECTOR_ORIGIN.to_owned(),
            size: tree_size,
            root,
        }
        .to_text();
        let note = sign(&text, VECTOR_ORIGIN, &self.key)?;
        let mut receipt = CheckReceipt::new(
            VECTOR_ORIGIN,
            "b_00112233445566778899aabbccddeeff",
            purpose,
            as_of,
            ReceiptCheckpoint {
                size: tree_size,
                root: base64::engine::general_purpose::STANDARD.encode(root),
                note,
            },
            digests,
            matching,
        );
        receipt.issued_at = Timestamp::from_unix_nanos(1_772_452_800_000_000_000); // 2026-03-02T12:00:00Z
        let envelope = receipt.sign(&self.key)?;
        CheckReceipt::verify(&envelope, &self.verifier).map_err(anyhow::Error::msg)?;
        Ok(envelope)
    }
}

/// Builds the vector document.
///
/// # Errors
/// Never for the fixed inputs; an error means the check code is broken.
pub fn receipt_vectors() -> anyhow::Result<Value> {
    let entries = entries()?;
    let key = registry_key();
    let verifier = NoteVerifier::new(VECTOR_ORIGIN, key.public_key())?;
    let mut index = ConsentIndex::new();
    let mut tree = Appender::new(0, &[])?;
    let mut roots = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        index.apply_entry(i as u64, e)?;
        tree.push(leaf_hash(e))?;
        roots.push(tree.root()?);
    }
    let signer = Signer {
        key,
        verifier,
        roots,
    };
    let mut checks = Vec::new();
    for q in questions() {
        let view = View {
            size: q.tree_size,
            as_of: q.as_of,
        };
        let mut digests = AnswerDigests::new();
        let mut answers = Vec::new();
        let hashes: Vec<ContentHash> = q.works.iter().map(|&n| work(n)).collect();
        for h in &hashes {
            let a = index.answer(h, view);
            let ids = statement_ids(&index, &a);
            let status = a.status(q.purpose);
            digests.add(h, status, &ids);
            answers.push(json!({
                "hash": h,
                "status": status.as_str(),
                "statements": ids.iter().map(hex::encode).collect::<Vec<_>>(),
            }));
        }
        let (hd, ad) = digests.finish();
        let envelope = signer.receipt(q.purpose, q.as_of, q.tree_size, &digests, None)?;
        checks.push(json!({
            "description": q.description,
            "purpose": q.purpose,
            "as_of": q.as_of,
            "tree_size": q.tree_size,
            "hashes": hashes,
            "answers": answers,
            "hashes_blake3": hd,
            "answers_blake3": ad,
            "receipt": envelope,
        }));
    }
    for q in near_questions() {
        let view = View {
            size: q.tree_size,
            as_of: q.as_of,
        };
        let mut digests = AnswerDigests::new();
        let mut answers = Vec::new();
        let mut items_json = Vec::new();
        for (w, codes) in &q.items {
            let item = Item {
                hash: w.map(work),
                codes: codes
                    .iter()
                    .map(|&c| code(c))
                    .collect::<anyhow::Result<_>>()?,
            };
            let a = answer_item(&index, view, &item);
            let ids = statement_ids(&index, &a.answer);
            let status = a.answer.status(q.purpose);
            digests.add_item(&item, a.kind, &a.works, status, &ids);
            let mut it = json!({});
            if let Some(h) = &item.hash {
                it["hash"] = json!(h);
            }
            if !item.codes.is_empty() {
                it["fingerprints"] = item
                    .codes
                    .iter()
                    .map(|c| json!({"algorithm": MATCHING.algorithm, "value": c.to_string()}))
                    .collect();
            }
            items_json.push(it);
            answers.push(json!({
                "hash": item.hash,
                "match": a.kind.as_str(),
                "matched": a.works.iter().map(|(h, d)| json!({"hash": h, "distance": d})).collect::<Vec<_>>(),
                "status": status.as_str(),
                "statements": ids.iter().map(hex::encode).collect::<Vec<_>>(),
            }));
        }
        let (hd, ad) = digests.finish();
        let envelope = signer.receipt(q.purpose, q.as_of, q.tree_size, &digests, Some(MATCHING))?;
        checks.push(json!({
            "description": q.description,
            "purpose": q.purpose,
            "as_of": q.as_of,
            "tree_size": q.tree_size,
            "match": "near",
            "items": items_json,
            "answers": answers,
            "hashes_blake3": hd,
            "answers_blake3": ad,
            "receipt": envelope,
        }));
    }
    Ok(json!({
        "description": "Check receipts against the log of spec/vectors/log.json (spec/receipt.md): questions, expected answers, digests and signed receipts.",
        "generated_by": "cargo run --release -- vectors",
        "origin": VECTOR_ORIGIN,
        "verifier_key": signer.verifier.to_text(),
        "checks": checks,
    }))
}

/// Writes the vector file.
///
/// # Errors
/// When the file cannot be written.
pub fn write(out: &Path) -> anyhow::Result<()> {
    let doc = receipt_vectors()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        out,
        serde_json::to_string_pretty(&crate::domain::canonical::sorted(doc.clone()))? + "\n",
    )?;
    println!(
        "wrote {} checks to {}",
        doc["checks"].as_array().map_or(0, Vec::len),
        out.display()
    );
    Ok(())
}
