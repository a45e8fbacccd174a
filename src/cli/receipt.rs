//! `consentry verify-receipt`: checks a check receipt offline (signature,
//! checkpoint note, digests of the hash list and answers) and, with
//! `--log`, online: the log still holds the receipt's checkpoint, and the
//! answers recomputed from the log's entries are the ones signed
//! (`spec/receipt.md` §5).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

use super::audit::{feed_entries, hex_hashes};
use super::client::Client;
use crate::audit::Auditor;
use crate::check::{statement_ids, AnswerDigests, CheckReceipt};
use crate::crypto::Envelope;
use crate::domain::ContentHash;
use crate::index::{ConsentIndex, Status, View};
use crate::log::merkle::verify_consistency;
use crate::log::note::{Checkpoint, NoteVerifier};

#[derive(Debug, Args)]
pub struct VerifyReceiptArgs {
    /// The receipt: a DSSE envelope as `consentry check` keeps it, a
    /// `POST /v1/check` response, or a check stream's output.
    pub receipt: PathBuf,
    /// The log's verifier key (`origin+hex8+base64`, from `GET /v1/log`).
    #[arg(long)]
    pub verifier_key: String,
    /// The hashes that were checked, in order: one per line, or a check's
    /// report or answers (CSV with a `hash` column, JSONL, JSON response).
    #[arg(long)]
    pub hashes: Option<PathBuf>,
    /// The answers received (JSONL or a JSON response with `hash`, `status`
    /// and `statements`, or a `consentry check --report` CSV). Implies
    /// `--hashes` from the same file when that is not given.
    #[arg(long)]
    pub answers: Option<PathBuf>,
    /// Also verify online against the log at this base URL: consistency
    /// with its latest checkpoint, the entries up to the receipt's size, and
    /// (with hashes) every answer recomputed from them.
    #[arg(long, value_name = "URL")]
    pub log: Option<String>,
}

/// An answer: status and current statement ids (ascending).
type Given = (ContentHash, Status, Vec<[u8; 32]>);
/// One line of a hash list or answers file: the hash, and the answer when given.
type Row = (ContentHash, Option<(Status, Vec<[u8; 32]>)>);

fn parse_ids(list: impl IntoIterator<Item = String>) -> anyhow::Result<Vec<[u8; 32]>> {
    let mut ids = Vec::new();
    for s in list {
        let mut id = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut id)
            .with_context(|| format!("statement id `{s}` is not 64 hex digits"))?;
        ids.push(id);
    }
    ids.sort_unstable();
    Ok(ids)
}

fn row_of(v: &Value) -> anyhow::Result<Option<Row>> {
    let present = |k: &str| v.get(k).is_some_and(|x| !x.is_null());
    if present("done") || present("error") || present("receipt") {
        return Ok(None);
    }
    let text = match v {
        Value::String(s) => s.as_str(),
        _ => v["hash"].as_str().context("no `hash`")?,
    };
    let hash: ContentHash = text.parse()?;
    let answer = match v.get("status").and_then(Value::as_str) {
        Some(s) => {
            let status = Status::parse(s).map_err(anyhow::Error::msg)?;
            let ids = v["statements"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            Some((status, parse_ids(ids)?))
        }
        None => None,
    };
    Ok(Some((hash, answer)))
}

/// Reads a hash list or answers file in any of the forms the CLI and API write.
fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display();
    // A whole JSON response.
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        if let Some(results) = v.get("results").and_then(Value::as_array) {
            let mut rows = Vec::new();
            for (i, r) in results.iter().enumerate() {
                if let Some(row) = row_of(r).with_context(|| format!("{name}: results[{i}]"))? {
                    rows.push(row);
                }
            }
            return Ok(rows);
        }
    }
    let first = text.lines().next().unwrap_or_default();
    // A CSV report (`consentry check --report x.csv`).
    if first.split(',').any(|c| c.trim() == "hash") {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers()?.clone();
        let col = |n: &str| headers.iter().position(|h| h.trim() == n);
        let hash_col = col("hash").context("no hash column")?;
        let (status_col, statements_col) = (col("status"), col("statements"));
        let mut rows = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let rec = rec.with_context(|| format!("{name}: row {}", i + 2))?;
            let hash: ContentHash = rec
                .get(hash_col)
                .unwrap_or_default()
                .parse()
                .with_context(|| format!("{name}: row {}", i + 2))?;
            let answer = match (status_col.and_then(|c| rec.get(c)), statements_col) {
                (Some(s), Some(c)) => {
                    let ids = rec
                        .get(c)
                        .unwrap_or_default()
                        .split(';')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned);
                    Some((
                        Status::parse(s).map_err(anyhow::Error::msg)?,
                        parse_ids(ids)?,
                    ))
                }
                _ => None,
            };
            rows.push((hash, answer));
        }
        return Ok(rows);
    }
    // NDJSON (answers or hashes), or one bare hash per line.
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let row = if line.starts_with('{') || line.starts_with('"') {
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("{name}: line {} is not JSON", i + 1))?;
            row_of(&v).with_context(|| format!("{name}: line {}", i + 1))?
        } else {
            Some((
                line.parse::<ContentHash>()
                    .with_context(|| format!("{name}: line {}", i + 1))?,
                None,
            ))
        };
        rows.extend(row);
    }
    Ok(rows)
}

/// Finds the receipt envelope in a file the CLI or API wrote.
fn read_receipt(path: &Path) -> anyhow::Result<Envelope> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let pick = |v: &Value| -> Option<Envelope> {
        let env = if v.get("payloadType").is_some() {
            v
        } else {
            v.get("receipt")?
        };
        serde_json::from_value(env.clone()).ok()
    };
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        if let Some(env) = pick(&v) {
            return Ok(env);
        }
    }
    for line in text.lines().rev() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            if let Some(env) = pick(&v) {
                return Ok(env);
            }
        }
    }
    bail!("{} holds no check receipt", path.display())
}

fn digests_of(rows: &[Given]) -> AnswerDigests {
    let mut d = AnswerDigests::new();
    for (h, s, ids) in rows {
        d.add(h, *s, ids);
    }
    d
}

pub async fn verify_receipt(args: VerifyReceiptArgs) -> anyhow::Result<()> {
    let verifier = NoteVerifier::parse(&args.verifier_key)
        .map_err(|e| anyhow::anyhow!("verifier key: {e}"))?;
    let envelope = read_receipt(&args.receipt)?;
    let receipt = CheckReceipt::verify(&envelope, &verifier)
        .map_err(|e| anyhow::anyhow!("the receipt is not valid: {e}"))?;
    println!(
        "ok: receipt signed by {} for builder {}: {} hashes for {}{}, at checkpoint {} (root {})",
        verifier.name,
        receipt.builder,
        receipt.hashes.count,
        receipt.purpose.as_str(),
        receipt
            .as_of
            .map(|t| format!(" as of {t}"))
            .unwrap_or_default(),
        receipt.checkpoint.size,
        receipt.checkpoint.root,
    );

    if receipt.matching.is_some() && (args.answers.is_some() || args.hashes.is_some()) {
        bail!(
            "this is a near-matching (version 2) receipt: its signature and checkpoint verify, but --hashes and --answers recompute version 1 digests only; recompute its item and answer digests per spec/receipt.md §4.3"
        );
    }
    let answers = args.answers.as_deref().map(read_rows).transpose()?;
    let hashes: Option<Vec<ContentHash>> = match (&args.hashes, &answers) {
        (Some(p), _) => Some(read_rows(p)?.into_iter().map(|(h, _)| h).collect()),
        (None, Some(rows)) => Some(rows.iter().map(|(h, _)| *h).collect()),
        (None, None) => None,
    };
    if let Some(hashes) = &hashes {
        if !receipt.covers(hashes) {
            bail!(
                "the hash list ({} hashes) is not the one the receipt covers ({} hashes, digest {})",
                hashes.len(),
                receipt.hashes.count,
                receipt.hashes.blake3
            );
        }
        println!(
            "ok: the hash list matches the receipt ({} hashes)",
            hashes.len()
        );
    }
    let given: Option<Vec<Given>> = match &answers {
        Some(rows) => {
            let mut out = Vec::with_capacity(rows.len());
            for (i, (h, a)) in rows.iter().enumerate() {
                let (s, ids) = a.clone().with_context(|| {
                    format!("answer {} ({h}) has no status and statements", i + 1)
                })?;
                out.push((*h, s, ids));
            }
            let d = digests_of(&out);
            if d.finish().1 != receipt.answers.blake3 || d.counts != receipt.counts {
                bail!("the answers are not the ones the receipt signs (answers digest or counts differ): an answer was altered");
            }
            println!("ok: the answers match the receipt");
            Some(out)
        }
        None => None,
    };

    let Some(url) = &args.log else {
        if hashes.is_none() {
            println!("(offline: give --hashes/--answers to check the digests, --log to check against the log)");
        }
        return Ok(());
    };
    verify_online(
        url,
        &verifier,
        &receipt,
        hashes.as_deref(),
        given.as_deref(),
    )
    .await
}

async fn verify_online(
    url: &str,
    verifier: &NoteVerifier,
    receipt: &CheckReceipt,
    hashes: Option<&[ContentHash]>,
    given: Option<&[Given]>,
) -> anyhow::Result<()> {
    let client = Client::new(url)?;
    let origin = verifier.name.clone();
    let mut auditor = Auditor::new(&origin, verifier.clone());
    let note = String::from_utf8(
        client
            .get_bytes("/log/checkpoint")
            .await?
            .context("the log serves no checkpoint")?,
    )
    .context("the checkpoint is not UTF-8")?;
    let latest = auditor.open_checkpoint(&note)?;
    let size = receipt.checkpoint.size;
    let root = receipt.root().map_err(anyhow::Error::msg)?;
    if size > latest.size {
        bail!(
            "the receipt's checkpoint (size {size}) is beyond the log's latest (size {}): the log never published it",
            latest.size
        );
    }
    let proof = if size < latest.size && size > 0 {
        let p = client
            .get_json(&format!(
                "/v1/log/proof/consistency?old_size={size}&new_size={}",
                latest.size
            ))
            .await?;
        hex_hashes(&p["path"])?
    } else {
        Vec::new()
    };
    if size > 0 && verify_consistency(size, latest.size, &root, &latest.root, &proof).is_err() {
        bail!(
            "the receipt's checkpoint (size {size}, root {}) is not in the log: no consistency with its checkpoint of size {}",
            receipt.checkpoint.root,
            latest.size
        );
    }
    println!(
        "ok: the log's checkpoint of size {} is consistent with the receipt's",
        latest.size
    );
    let mut index = ConsentIndex::new();
    feed_entries(&client, 0, size, |start, run| {
        auditor.replay(start, run)?;
        for (i, e) in run.iter().enumerate() {
            index.apply_entry(start + i as u64, e)?;
        }
        Ok(())
    })
    .await?;
    auditor.finish(&Checkpoint {
        origin: origin.clone(),
        size,
        root,
    })?;
    println!("ok: entries 0..{size} verify (signatures, key rules) and hash to the receipt's root");
    let Some(hashes) = hashes else {
        println!("(give --hashes to recompute the answers from the log)");
        return Ok(());
    };
    let view = View {
        size,
        as_of: receipt.as_of,
    };
    let mut d = AnswerDigests::new();
    for (i, h) in hashes.iter().enumerate() {
        let a = index.answer(h, view);
        let status = a.status(receipt.purpose);
        let ids = statement_ids(&index, &a);
        if let Some((gh, gs, gids)) = given.and_then(|g| g.get(i)) {
            if gh != h || *gs != status || *gids != ids {
                bail!(
                    "answer {} ({h}) differs from the log: the log says {} with statements [{}], the answers say {} with [{}]",
                    i + 1,
                    status.as_str(),
                    ids.iter().map(hex::encode).collect::<Vec<_>>().join(", "),
                    gs.as_str(),
                    gids.iter().map(hex::encode).collect::<Vec<_>>().join(", ")
                );
            }
        }
        d.add(h, status, &ids);
    }
    if d.finish().1 != receipt.answers.blake3 || d.counts != receipt.counts {
        bail!(
            "the receipt's answers are not what the log says at size {size}: the registry answered wrongly (recomputed counts: {} allowed, {} disallowed, {} unknown)",
            d.counts.allowed,
            d.counts.disallowed,
            d.counts.unknown
        );
    }
    println!(
        "ok: every answer recomputed from the log matches the receipt ({} allowed, {} disallowed, {} unknown)",
        d.counts.allowed, d.counts.disallowed, d.counts.unknown
    );
    Ok(())
}
