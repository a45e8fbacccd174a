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
use super::check::matched_works;
use super::client::Client;
use crate::audit::Auditor;
use crate::check::items::parse_codes;
use crate::check::{answer_item, statement_ids, AnswerDigests, CheckReceipt, Item, MatchKind};
use crate::crypto::Envelope;
use crate::domain::fingerprint::ImageCode;
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
    /// What was checked, in order: hashes one per line, a check's request
    /// (`hashes` or `items`, as JSON or NDJSON items with `fingerprints`),
    /// or a check's report or answers (CSV with a `hash` column, JSONL,
    /// JSON response). A near-matching (version 2) receipt covers each
    /// item's hash and image codes: give the request or a `consentry
    /// check --report`, which list them.
    #[arg(long)]
    pub hashes: Option<PathBuf>,
    /// The answers received (JSONL or a JSON response with `hash`,
    /// `status`, `statements` and, for near matching, `match` and
    /// `matched`, or a `consentry check --report` CSV or JSONL). Implies
    /// `--hashes` from the same file when that is not given.
    #[arg(long)]
    pub answers: Option<PathBuf>,
    /// Also verify online against the log at this base URL: consistency
    /// with its latest checkpoint, the entries up to the receipt's size, and
    /// (with hashes) every answer recomputed from them.
    #[arg(long, value_name = "URL")]
    pub log: Option<String>,
}

/// An answer as given: how it matched (version 2 receipts), its status
/// and its current statement ids (ascending).
#[derive(Debug, Clone)]
struct Given {
    kind: MatchKind,
    works: Vec<(ContentHash, u32)>,
    status: Status,
    ids: Vec<[u8; 32]>,
}

/// One line of an item list or answers file: the hash, the image codes
/// when the line lists them, and the answer when given.
#[derive(Debug, Clone)]
struct Row {
    hash: Option<ContentHash>,
    codes: Option<Vec<ImageCode>>,
    answer: Option<Given>,
}

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

fn match_kind(text: Option<&str>) -> anyhow::Result<MatchKind> {
    match text {
        None | Some("") => Ok(MatchKind::None),
        Some(name) => MatchKind::from_name(name)
            .with_context(|| format!("`match` is exact, near or empty, not `{name}`")),
    }
}

/// An item's fingerprints: `ISCC:…` strings (a report) or
/// `{"algorithm", "value"}` objects (a check request).
fn codes_of(v: &Value) -> anyhow::Result<Vec<ImageCode>> {
    let list = v.as_array().context("`fingerprints` is a list")?;
    if list.iter().all(Value::is_string) {
        return list
            .iter()
            .map(|c| ImageCode::parse(c.as_str().unwrap_or_default()).map_err(anyhow::Error::msg))
            .collect();
    }
    let pairs = list
        .iter()
        .map(|f| Some((f.get("algorithm")?.as_str()?, f.get("value")?.as_str()?)))
        .collect::<Option<Vec<_>>>()
        .context("a fingerprint is an `ISCC:…` string or an object with `algorithm` and `value`")?;
    parse_codes(pairs).map_err(anyhow::Error::msg)
}

fn row_of(v: &Value) -> anyhow::Result<Option<Row>> {
    let present = |k: &str| v.get(k).is_some_and(|x| !x.is_null());
    // A stream's closing or error line; a report row's `error` is about
    // its fingerprint and comes with a status.
    if present("done") || present("receipt") || (present("error") && !present("status")) {
        return Ok(None);
    }
    if let Value::String(s) = v {
        return Ok(Some(Row {
            hash: Some(s.parse()?),
            codes: None,
            answer: None,
        }));
    }
    let hash: Option<ContentHash> = match v.get("hash") {
        None | Some(Value::Null) => None,
        Some(h) => Some(h.as_str().context("`hash` is not a string")?.parse()?),
    };
    let codes = match v.get("fingerprints") {
        None | Some(Value::Null) => None,
        Some(f) => Some(codes_of(f)?),
    };
    if hash.is_none() && codes.as_ref().is_none_or(Vec::is_empty) {
        bail!("no `hash` and no `fingerprints`");
    }
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
            Some(Given {
                kind: match_kind(v.get("match").and_then(Value::as_str))?,
                works: matched_works(&v["matched"])?,
                status,
                ids: parse_ids(ids)?,
            })
        }
        None => None,
    };
    Ok(Some(Row {
        hash,
        codes,
        answer,
    }))
}

/// Reads a CSV report (`consentry check --report x.csv`).
fn csv_rows(text: &str, name: &str) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let col = |n: &str| headers.iter().position(|h| h.trim() == n);
    let hash_col = col("hash").context("no hash column")?;
    let (status_col, statements_col) = (col("status"), col("statements"));
    let (match_col, matched_col, codes_col) = (col("match"), col("matched"), col("fingerprints"));
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let at = || format!("{name}: row {}", i + 2);
        let rec = rec.with_context(at)?;
        let field = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or_default();
        let hash_text = field(Some(hash_col));
        let hash = (!hash_text.is_empty())
            .then(|| hash_text.parse::<ContentHash>())
            .transpose()
            .with_context(at)?;
        let codes = codes_col
            .map(|_| {
                field(codes_col)
                    .split(';')
                    .filter(|c| !c.is_empty())
                    .map(|c| ImageCode::parse(c).map_err(anyhow::Error::msg))
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .transpose()
            .with_context(at)?;
        let answer = match (status_col.and_then(|c| rec.get(c)), statements_col) {
            (Some(s), Some(_)) => {
                let ids = field(statements_col)
                    .split(';')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                let matched = field(matched_col);
                let works = if matched.is_empty() {
                    Vec::new()
                } else {
                    matched_works(&serde_json::from_str(matched).with_context(at)?)
                        .with_context(at)?
                };
                Some(Given {
                    kind: match_kind(Some(field(match_col))).with_context(at)?,
                    works,
                    status: Status::parse(s)
                        .map_err(anyhow::Error::msg)
                        .with_context(at)?,
                    ids: parse_ids(ids).with_context(at)?,
                })
            }
            _ => None,
        };
        rows.push(Row {
            hash,
            codes,
            answer,
        });
    }
    Ok(rows)
}

/// Reads an item list or answers file in any of the forms the CLI and API
/// write: a JSON response (`results`) or request (`hashes` or `items`), a
/// CSV report, NDJSON answers or items, or one bare hash per line.
fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        for member in ["results", "items", "hashes"] {
            if let Some(list) = v.get(member).and_then(Value::as_array) {
                let mut rows = Vec::new();
                for (i, r) in list.iter().enumerate() {
                    if let Some(row) =
                        row_of(r).with_context(|| format!("{name}: {member}[{i}]"))?
                    {
                        rows.push(row);
                    }
                }
                return Ok(rows);
            }
        }
    }
    let first = text.lines().next().unwrap_or_default();
    if first.split(',').any(|c| c.trim() == "hash") {
        return csv_rows(&text, &name);
    }
    // NDJSON (answers or items), or one bare hash per line.
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
            Some(Row {
                hash: Some(
                    line.parse::<ContentHash>()
                        .with_context(|| format!("{name}: line {}", i + 1))?,
                ),
                codes: None,
                answer: None,
            })
        };
        rows.extend(row);
    }
    Ok(rows)
}

/// The items a list names, for a receipt of `version`: hashes alone for
/// version 1; for version 2, each line's hash and codes.
fn items_of(rows: &[Row], near: bool, name: &Path) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let codes = row.codes.clone().unwrap_or_default();
        if !near && (row.hash.is_none() || !codes.is_empty()) {
            bail!(
                "{}: item {} carries fingerprints or no hash, but this receipt (version 1) is of a check by hash",
                name.display(),
                i + 1
            );
        }
        items.push(Item {
            hash: row.hash,
            codes,
        });
    }
    Ok(items)
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

/// Adds one answer to the digests, as the receipt's version records it.
fn add_answer(d: &mut AnswerDigests, near: bool, item: &Item, given: &Given) {
    match (near, &item.hash) {
        (false, Some(h)) => d.add(h, given.status, &given.ids),
        _ => d.add_item(item, given.kind, &given.works, given.status, &given.ids),
    }
}

/// Whether the digests' answers and counts are the receipt's.
fn answers_match(d: &AnswerDigests, receipt: &CheckReceipt) -> bool {
    d.finish().1 == receipt.answers.blake3
        && d.counts == receipt.counts
        && receipt.matched.is_none_or(|m| m == d.matched)
}

fn describe(given: &Given) -> String {
    let works = given
        .works
        .iter()
        .map(|(h, d)| format!("{h} at {d}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}{} with statements [{}]",
        given.status.as_str(),
        given
            .kind
            .as_str()
            .map(|k| format!(" ({k} match: {works})"))
            .unwrap_or_default(),
        given
            .ids
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub async fn verify_receipt(args: VerifyReceiptArgs) -> anyhow::Result<()> {
    let verifier = NoteVerifier::parse(&args.verifier_key)
        .map_err(|e| anyhow::anyhow!("verifier key: {e}"))?;
    let envelope = read_receipt(&args.receipt)?;
    let receipt = CheckReceipt::verify(&envelope, &verifier)
        .map_err(|e| anyhow::anyhow!("the receipt is not valid: {e}"))?;
    let near = receipt.matching.is_some();
    let what = if near { "items" } else { "hashes" };
    println!(
        "ok: receipt signed by {} for builder {}: {} {what} for {}{}, at checkpoint {} (root {}){}",
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
        receipt
            .matching
            .as_ref()
            .map(|m| format!(
                "; near matching: {} within {} of {} bits",
                m.algorithm, m.max_distance, m.bits
            ))
            .unwrap_or_default(),
    );

    let answers = args.answers.as_deref().map(read_rows).transpose()?;
    let items: Option<Vec<Item>> = match (&args.hashes, &args.answers, &answers) {
        (Some(p), _, _) => Some(items_of(&read_rows(p)?, near, p)?),
        (None, Some(p), Some(rows)) => Some(items_of(rows, near, p)?),
        _ => None,
    };
    if let Some(items) = &items {
        if !receipt.covers_items(items) {
            let hint = if near
                && args.hashes.is_none()
                && answers
                    .as_ref()
                    .is_some_and(|r| r.iter().all(|r| r.codes.is_none()))
            {
                "; the answers list no item fingerprints: give --hashes with the items as sent (the check's request, or a `consentry check --report`)"
            } else {
                ""
            };
            bail!(
                "the {what} list ({} {what}) is not the one the receipt covers ({} {what}, digest {}){hint}",
                items.len(),
                receipt.hashes.count,
                receipt.hashes.blake3
            );
        }
        println!(
            "ok: the {what} list matches the receipt ({} {what})",
            items.len()
        );
    }
    let given: Option<Vec<Given>> = match (&answers, &items) {
        (Some(rows), Some(items)) => {
            if rows.len() != items.len() {
                bail!("{} answers for {} {what}", rows.len(), items.len());
            }
            let mut out = Vec::with_capacity(rows.len());
            let mut d = AnswerDigests::new();
            for (i, (row, item)) in rows.iter().zip(items).enumerate() {
                let g = row
                    .answer
                    .clone()
                    .with_context(|| format!("answer {} has no status and statements", i + 1))?;
                if row.hash != item.hash {
                    bail!("answer {} is not about item {} of the list", i + 1, i + 1);
                }
                add_answer(&mut d, near, item, &g);
                out.push(g);
            }
            if !answers_match(&d, &receipt) {
                bail!("the answers are not the ones the receipt signs (answers digest or counts differ): an answer was altered");
            }
            println!("ok: the answers match the receipt");
            Some(out)
        }
        _ => None,
    };

    let Some(url) = &args.log else {
        if items.is_none() {
            println!("(offline: give --hashes/--answers to check the digests, --log to check against the log)");
        }
        return Ok(());
    };
    verify_online(url, &verifier, &receipt, items.as_deref(), given.as_deref()).await
}

async fn verify_online(
    url: &str,
    verifier: &NoteVerifier,
    receipt: &CheckReceipt,
    items: Option<&[Item]>,
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
    let Some(items) = items else {
        println!("(give --hashes to recompute the answers from the log)");
        return Ok(());
    };
    let view = View {
        size,
        as_of: receipt.as_of,
    };
    let near = receipt.matching.is_some();
    let mut d = AnswerDigests::new();
    for (i, item) in items.iter().enumerate() {
        let a = answer_item(&index, view, item);
        let log = Given {
            kind: a.kind,
            status: a.answer.status(receipt.purpose),
            ids: statement_ids(&index, &a.answer),
            works: a.works,
        };
        if let Some(g) = given.and_then(|g| g.get(i)) {
            let same = g.status == log.status
                && g.ids == log.ids
                && (!near || (g.kind == log.kind && g.works == log.works));
            if !same {
                bail!(
                    "answer {} ({}) differs from the log: the log says {}, the answers say {}",
                    i + 1,
                    item.hash
                        .map_or_else(|| "no hash".to_owned(), |h| h.to_string()),
                    describe(&log),
                    describe(g)
                );
            }
        }
        add_answer(&mut d, near, item, &log);
    }
    if !answers_match(&d, receipt) {
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
