//! `consentry check` and `consentry filter`: hash a dataset locally (a
//! folder, a manifest or webdataset shards), check every hash in one
//! stream against the registry, keep the signed receipt, write a report,
//! and (filter) write the allowed subset.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget};
use serde_json::Value;

use super::client::{Client, SignInAs};
use super::count;
use super::dataset::{self, Item, ReportRow, Source};
use super::progress;
use super::shards::Shards;
use super::RegistryArgs;
use crate::check::Item as CheckItem;
use crate::check::{parse_purpose, AnswerDigests, CheckReceipt, MatchKind, StatusCounts};
use crate::crypto::{Envelope, SecretKey};
use crate::domain::signals::{self, DecidedBy};
use crate::domain::{Category, ContentHash, Preference, Timestamp};
use crate::index::{Shard, Status};
use crate::log::note::NoteVerifier;
use crate::signals::FileSignals;

/// What to do with works the registry knows nothing about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnknownPolicy {
    Allow,
    Deny,
}

/// Statuses that make the command exit with code 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Disallowed,
    Unknown,
}

/// How works are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatchMode {
    /// By the hash of the bytes only.
    Exact,
    /// By hash, and images also by their ISCC Image-Code: resized and
    /// re-encoded copies of registered works are found.
    Near,
}

/// Which consent signals decide what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignalsPolicy {
    /// The registry's answer and the signals inside the files (C2PA
    /// training-mining assertions, IPTC `plus:DataMining`, TDMRep in XMP):
    /// a refusal by either refuses.
    All,
    /// The registry's answer alone: files are not read for signals.
    RegistryOnly,
}

/// The exit code when `--fail-on` matched.
pub const EXIT_FAIL_ON: u8 = 3;

/// An error that carries the process exit code (and was already reported).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitWith {
    pub code: u8,
    pub message: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A folder (every file, recursively), a manifest (`.csv` or `.jsonl`
    /// with a `path` or `hash` column) or webdataset `.tar` shards.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The use to check: train-ai, train-genai, ai-use, search or tdm.
    #[arg(long)]
    pub purpose: String,
    /// Check consent as it was at this instant (RFC 3339, UTC), e.g. the day the data was crawled.
    #[arg(long)]
    pub as_of: Option<Timestamp>,
    /// The builder's key file (registered by the registry's admin).
    #[arg(long, default_value = "consentry-builder.key")]
    pub key: PathBuf,
    /// Write a report: `.csv` or `.jsonl` (label, path, hash, status (the
    /// registry's signed answer), disputed, claimants, statements, terms,
    /// match, distance, matched_hash, error, fingerprints, matched, combined
    /// (with the in-file signals), decided_by, signals, signal_notes).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Where to keep the registry-signed receipt of the check (a file there
    /// is replaced). Default: a new file in the working directory named
    /// after the time of the check, `consentry-check-<YYYYMMDDTHHMMSSZ>.receipt.json`
    /// (`-2`, `-3`, … added if taken), so no receipt is ever overwritten.
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// Works the registry does not know: keep (`allow`) or drop (`deny`).
    /// Default: deny for train-ai and train-genai, allow otherwise.
    #[arg(long, value_enum)]
    pub unknown: Option<UnknownPolicy>,
    /// Exit with code 3 when any work has this status, in-file signals
    /// included (repeatable).
    #[arg(long, value_enum)]
    pub fail_on: Vec<FailOn>,
    /// `near` (default): images are also fingerprinted (ISCC Image-Code)
    /// and matched with registered works' codes, so resized and
    /// re-encoded copies are found (a version 2 receipt); `exact`: by the
    /// hash of the bytes alone (a version 1 receipt, the one `payout
    /// report --receipt` takes).
    #[arg(long = "match", value_enum, default_value = "near")]
    pub matching: MatchMode,
    /// `all` (default): the consent signals inside each file (C2PA,
    /// IPTC and TDMRep in XMP) are read too, and a file that refuses the
    /// purpose is `disallowed` even where the registry allows it or does
    /// not know it (the report's `combined` and `decided_by`; the receipt
    /// stays the registry's alone). `registry-only`: the registry's
    /// answer alone.
    #[arg(long, value_enum, default_value = "all")]
    pub signals: SignalsPolicy,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Check against a sharded registry instead of --registry: the URL of
    /// each shard node (`serve --read-only --shard i/n`), repeated once per
    /// shard. The hashes are split by shard, every shard answers at one
    /// checkpoint (the smallest any of them serves) and the answers are
    /// merged in input order; each shard's receipt is kept, named as
    /// --receipt with `.shard-I-of-N` before `.receipt.json`. With
    /// `--match exact` only: near matching needs every work's image codes.
    #[arg(long = "shard-url", value_name = "URL")]
    pub shard_urls: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct FilterArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    /// The allowed subset: a manifest file (for a folder or manifest input;
    /// `.csv` or `.jsonl`) or a directory of new shards (for shard input).
    #[arg(long)]
    pub out: PathBuf,
}

/// One checked work.
struct Answer {
    /// The registry's answer (what the receipt signs).
    status: Status,
    /// With the in-file signals (`--signals all`): what decides.
    combined: Status,
    row: ReportRow,
}

/// The dataset progress bar (count, rate, ETA), labelled, hidden with `--quiet`.
fn bar(len: Option<u64>, what: &'static str, quiet: bool) -> ProgressBar {
    let pb = progress::progress_bar(len);
    pb.set_message(what);
    if quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// One parsed answer line: the item's hash (if any), its answer, its
/// statement ids and, for near-matching checks, how it matched.
struct Parsed {
    hash: Option<ContentHash>,
    answer: Answer,
    ids: Vec<[u8; 32]>,
    kind: MatchKind,
    works: Vec<(ContentHash, u32)>,
}

/// An answer's matched works, `[{"hash": …, "distance": …}, …]`, as the
/// check endpoints and the report write them.
pub(super) fn matched_works(v: &Value) -> anyhow::Result<Vec<(ContentHash, u32)>> {
    let mut works = Vec::new();
    for m in v.as_array().into_iter().flatten() {
        let h: ContentHash = m["hash"]
            .as_str()
            .context("a matched work without a hash")?
            .parse()
            .context("a matched work's hash")?;
        let d = m["distance"]
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .context("a matched work without a distance")?;
        works.push((h, d));
    }
    Ok(works)
}

fn parse_answer(line: &Value) -> anyhow::Result<Parsed> {
    let hash: Option<ContentHash> = match &line["hash"] {
        Value::Null => None,
        h => Some(
            h.as_str()
                .context("an answer's hash is not a string")?
                .parse()
                .context("an answer's hash")?,
        ),
    };
    let status =
        Status::parse(line["status"].as_str().unwrap_or_default()).map_err(anyhow::Error::msg)?;
    let statements = ids(&line["statements"]);
    let mut raw = Vec::with_capacity(statements.len());
    for s in &statements {
        let mut id = [0u8; 32];
        hex::decode_to_slice(s, &mut id).context("a statement id")?;
        raw.push(id);
    }
    let kind = line["match"]
        .as_str()
        .and_then(MatchKind::from_name)
        .unwrap_or(MatchKind::None);
    let works = matched_works(&line["matched"])?;
    let claimants = line["claimants"].as_array().cloned().unwrap_or_default();
    let terms: Vec<Value> = claimants
        .iter()
        .filter(|c| c["terms"].as_array().is_some_and(|t| !t.is_empty()))
        .map(|c| serde_json::json!({ "artist_id": c["artist_id"], "terms": c["terms"] }))
        .collect();
    let row = ReportRow {
        status: status.as_str().to_owned(),
        terms: Value::Array(terms),
        claimants: claimants
            .iter()
            .filter_map(|c| c["artist_id"].as_str().map(str::to_owned))
            .collect(),
        statements,
        disputed: line["disputed"].as_bool().unwrap_or(false),
        matched: kind.as_str().unwrap_or_default().to_owned(),
        matched_works: works.clone(),
        combined: status.as_str().to_owned(),
        decided_by: String::new(),
    };
    Ok(Parsed {
        hash,
        answer: Answer {
            status,
            combined: status,
            row,
        },
        ids: raw,
        kind,
        works,
    })
}

/// A finished check of a dataset.
struct Checked {
    source: Source,
    items: Vec<Item>,
    answers: Vec<Answer>,
    keep: Vec<bool>,
}

async fn run_check(args: &CheckArgs) -> anyhow::Result<Checked> {
    let purpose: Category = parse_purpose(&args.purpose).map_err(anyhow::Error::msg)?;
    let unknown = args.unknown.unwrap_or(match purpose {
        Category::TrainAi | Category::TrainGenai => UnknownPolicy::Deny,
        _ => UnknownPolicy::Allow,
    });
    let key = SecretKey::load(&args.key)?;
    let source = dataset::detect(&args.inputs)?;
    let near = args.matching == MatchMode::Near;
    if near && !args.shard_urls.is_empty() {
        bail!("a check across shards (--shard-url) matches exact hashes only: near matching needs every work's image codes, which no one shard holds; add --match exact, or check against an unsharded node with --registry");
    }
    // Sign in before hashing: a registry that is down, or a key that is not
    // a dataset builder's, is reported at once.
    let mut target = if args.shard_urls.is_empty() {
        let client = Client::new(&args.registry.registry)?;
        let published = client.get_json("/v1/log").await?;
        let verifier_text = published["verifier_key"]
            .as_str()
            .context("the registry publishes no verifier key")?
            .to_owned();
        let verifier = NoteVerifier::parse(&verifier_text)
            .map_err(|e| anyhow::anyhow!("verifier key {verifier_text}: {e}"))?;
        Target::Single(client, verifier)
    } else {
        Target::Sharded(Shards::discover(&args.shard_urls).await?)
    };
    target.sign_in(&key).await?;
    eprintln!("hashing {source}");
    let started = std::time::Instant::now();
    let reading = dataset::Reading {
        fingerprints: near,
        signals: args.signals == SignalsPolicy::All,
    };
    let pb = bar(
        dataset::count(&source),
        if near {
            "hashing and fingerprinting"
        } else {
            "hashing"
        },
        args.quiet,
    );
    let (source, items) = tokio::task::spawn_blocking(move || {
        let items = dataset::hash_all_with(&source, Some(&pb), reading);
        pb.finish_and_clear();
        items.map(|i| (source, i))
    })
    .await
    .context("hashing task")??;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "hashed {} in {secs:.1} s ({})",
        count(items.len() as u64, "item", "items"),
        progress::format_rate(items.len() as f64 / secs.max(1e-9))
    );
    if items.is_empty() {
        bail!("nothing to check: the input holds no files");
    }
    // A token lasts minutes; hashing a large dataset may take longer.
    target.sign_in(&key).await?;
    let mut query = format!("purpose={}", purpose.as_str());
    if let Some(t) = args.as_of {
        query.push_str(&format!("&as_of={t}"));
    }
    let pb = bar(Some(items.len() as u64), "checked", args.quiet);
    let (mut answers, receipts) = match &target {
        Target::Single(client, verifier) => {
            check_one(client, verifier, &query, &items, near, &pb).await?
        }
        Target::Sharded(shards) => check_shards(shards, &query, &items, &pb).await?,
    };
    pb.finish_and_clear();
    let receipt = &receipts.first().context("the registry sent no receipt")?.2;
    let stamp = file_stamp(Timestamp::now());
    let mut receipt_paths = Vec::with_capacity(receipts.len());
    for (shard, envelope, _) in &receipts {
        let suffix = shard.map_or_else(String::new, |s| {
            format!(".shard-{}-of-{}", s.index(), s.count())
        });
        receipt_paths.push(write_receipt(
            args.receipt.as_deref(),
            &stamp,
            &suffix,
            envelope,
        )?);
    }
    let by_file = combine_signals(purpose, &items, &mut answers);
    if let Some(report) = &args.report {
        let rows: Vec<ReportRow> = answers.iter().map(|a| a.row.clone()).collect();
        dataset::write_report(&items, &rows, report)?;
        eprintln!("report written to {}", report.display());
    }
    let keep: Vec<bool> = answers
        .iter()
        .map(|a| {
            a.combined == Status::Allowed
                || (a.combined == Status::Unknown && unknown == UnknownPolicy::Allow)
        })
        .collect();
    let c = receipts
        .iter()
        .fold(StatusCounts::default(), |mut c, (_, _, r)| {
            c.allowed += r.counts.allowed;
            c.disallowed += r.counts.disallowed;
            c.unknown += r.counts.unknown;
            c
        });
    let works = count(items.len() as u64, "work", "works");
    println!(
        "{} for {}{}: {} allowed, {} disallowed, {} unknown (unknown: {}); checkpoint {} of {}",
        works,
        purpose.as_str(),
        args.as_of
            .map(|t| format!(" as of {t}"))
            .unwrap_or_default(),
        c.allowed,
        c.disallowed,
        c.unknown,
        match unknown {
            UnknownPolicy::Allow => "kept",
            UnknownPolicy::Deny => "dropped",
        },
        receipt.checkpoint.size,
        receipt.log,
    );
    if args.signals == SignalsPolicy::All {
        let with = items
            .iter()
            .filter(|i| i.signals.as_ref().is_some_and(|s| !s.findings.is_empty()))
            .count();
        let noted = items
            .iter()
            .filter(|i| i.signals.as_ref().is_some_and(|s| !s.notes.is_empty()))
            .count();
        let tally = |s: Status| answers.iter().filter(|a| a.combined == s).count();
        println!(
            "in-file signals: {} carry consent signals{}; {} refused by their files ({} the registry allows, {} it does not know, {} it refuses too); with them: {} allowed, {} disallowed, {} unknown",
            count(with as u64, "work", "works"),
            if noted > 0 {
                format!(" ({noted} with unreadable metadata: see the report's `signal_notes`)")
            } else {
                String::new()
            },
            by_file.refused,
            by_file.over_allowed,
            by_file.over_unknown,
            by_file.refused - by_file.over_allowed - by_file.over_unknown,
            tally(Status::Allowed),
            tally(Status::Disallowed),
            tally(Status::Unknown),
        );
    }
    if let Some(m) = &receipt.matched {
        let coded = items.iter().filter(|i| !i.codes.is_empty()).count();
        let failed = items
            .iter()
            .filter(|i| i.fingerprint_error.is_some())
            .count();
        println!(
            "matched {} exactly and {} as near copies ({} fingerprinted{}); near means an image code within {} of {} bits",
            m.exact,
            m.near,
            count(coded as u64, "image", "images"),
            if failed > 0 {
                format!(", {} could not be (see the report's `error` column)", failed)
            } else {
                String::new()
            },
            receipt.matching.as_ref().map_or(0, |x| x.max_distance),
            receipt.matching.as_ref().map_or(0, |x| x.bits),
        );
    }
    let paths: Vec<String> = receipt_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    match &target {
        Target::Single(_, verifier) => println!(
            "receipt signed by {} kept in {}",
            verifier.name,
            paths.join(", ")
        ),
        Target::Sharded(shards) => println!(
            "{} shards answered at checkpoint {}; their receipts, signed by {}, kept in {}",
            receipts.len(),
            receipt.checkpoint.size,
            shards.verifier.name,
            paths.join(", ")
        ),
    }
    Ok(Checked {
        source,
        items,
        answers,
        keep,
    })
}

/// What the in-file signals changed.
#[derive(Default)]
struct ByFile {
    /// Works a file refuses.
    refused: usize,
    /// … of which the registry allows.
    over_allowed: usize,
    /// … of which the registry does not know.
    over_unknown: usize,
}

/// Sets each answer's combined status from the registry's answer and the
/// signals read from its file ([`signals::decide`]), and the report's
/// `combined` and `decided_by`.
fn combine_signals(purpose: Category, items: &[Item], answers: &mut [Answer]) -> ByFile {
    let mut by = ByFile::default();
    for (item, answer) in items.iter().zip(answers.iter_mut()) {
        let registry = match answer.status {
            Status::Allowed => Some(Preference::Allowed),
            Status::Disallowed => Some(Preference::Disallowed),
            Status::Unknown => None,
        };
        let consents = item
            .signals
            .as_ref()
            .map(FileSignals::consents)
            .unwrap_or_default();
        let (combined, decided_by) = signals::decide(purpose, registry, &consents);
        answer.combined = match combined {
            Some(Preference::Allowed) => Status::Allowed,
            Some(Preference::Disallowed) => Status::Disallowed,
            None => Status::Unknown,
        };
        if matches!(decided_by, DecidedBy::File | DecidedBy::Both) {
            by.refused += 1;
            match answer.status {
                Status::Allowed => by.over_allowed += 1,
                Status::Unknown => by.over_unknown += 1,
                Status::Disallowed => {}
            }
        }
        answer.row.combined = answer.combined.as_str().to_owned();
        answer.row.decided_by = decided_by.as_str().to_owned();
    }
    by
}

/// Writes the receipt to `asked`, or to a new file named after the time
/// `stamp` (never replacing one); returns where it went. A non-empty
/// `suffix` (a shard's) goes before `.receipt.json`.
fn write_receipt(
    asked: Option<&std::path::Path>,
    stamp: &str,
    suffix: &str,
    envelope: &Envelope,
) -> anyhow::Result<PathBuf> {
    let text = serde_json::to_string_pretty(envelope)? + "\n";
    if let Some(path) = asked {
        let path = with_suffix(path, suffix);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        return Ok(path);
    }
    for n in 1u32.. {
        let path = PathBuf::from(if n == 1 {
            format!("consentry-check-{stamp}{suffix}.receipt.json")
        } else {
            format!("consentry-check-{stamp}-{n}{suffix}.receipt.json")
        });
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                use std::io::Write;
                file.write_all(text.as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    bail!("no free receipt file name")
}

/// `t` as a file name's stamp: `YYYYMMDDTHHMMSSZ`.
fn file_stamp(t: Timestamp) -> String {
    let stamp: String = t
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .take_while(|c| *c != '.')
        .collect();
    if stamp.ends_with('Z') {
        stamp
    } else {
        format!("{stamp}Z")
    }
}

/// `path` with `suffix` before its `.receipt.json` (else before its
/// extension): `run.receipt.json` → `run.shard-0-of-3.receipt.json`.
fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    if suffix.is_empty() {
        return path.to_path_buf();
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let named = if let Some(stem) = name.strip_suffix(".receipt.json") {
        format!("{stem}{suffix}.receipt.json")
    } else if let Some((stem, ext)) = name.rsplit_once('.').filter(|(s, _)| !s.is_empty()) {
        format!("{stem}{suffix}.{ext}")
    } else {
        format!("{name}{suffix}")
    };
    path.with_file_name(named)
}

/// Where a check goes: one registry node, or the shards of one.
enum Target {
    Single(Client, NoteVerifier),
    Sharded(Shards),
}

impl Target {
    async fn sign_in(&mut self, key: &SecretKey) -> anyhow::Result<()> {
        match self {
            Target::Single(client, _) => client.sign_in(key, SignInAs::Builder).await.map(drop),
            Target::Sharded(shards) => shards.sign_in(key).await,
        }
    }
}

/// Receipts kept from a check: the shard that signed each (none for an
/// unsharded node), the envelope, and what it says.
type Receipts = Vec<(Option<Shard>, Envelope, CheckReceipt)>;

/// The receipt in a check's closing line, verified with `verifier` and
/// matched against the answers that fed `digests`.
fn verified_receipt(
    done: &Value,
    verifier: &NoteVerifier,
    digests: AnswerDigests,
) -> anyhow::Result<(Envelope, CheckReceipt)> {
    let envelope: Envelope =
        serde_json::from_value(done["receipt"].clone()).context("the check's receipt")?;
    let receipt = CheckReceipt::verify(&envelope, verifier)
        .map_err(|e| anyhow::anyhow!("the registry's receipt does not verify: {e}"))?;
    let (hd, ad) = digests.finish();
    if receipt.hashes.blake3 != hd || receipt.answers.blake3 != ad {
        bail!("the registry's receipt does not match the answers it sent");
    }
    Ok((envelope, receipt))
}

/// Checks `items` against one node in one stream.
async fn check_one(
    client: &Client,
    verifier: &NoteVerifier,
    query: &str,
    items: &[Item],
    near: bool,
    pb: &ProgressBar,
) -> anyhow::Result<(Vec<Answer>, Receipts)> {
    let mut answers = Vec::with_capacity(items.len());
    let mut digests = AnswerDigests::new();
    let mut on_line = |line: Value| {
        let p = parse_answer(&line)?;
        let expected = items
            .get(answers.len())
            .context("the registry answered more items than were asked")?;
        if p.hash != Some(expected.hash) {
            bail!(
                "answer {} is for {}, not {}",
                answers.len() + 1,
                p.hash
                    .map_or_else(|| "no hash".to_owned(), |h| h.to_string()),
                expected.hash
            );
        }
        if near {
            let item = CheckItem {
                hash: Some(expected.hash),
                codes: expected.codes.clone(),
            };
            digests.add_item(&item, p.kind, &p.works, p.answer.status, &p.ids);
        } else {
            digests.add(&expected.hash, p.answer.status, &p.ids);
        }
        answers.push(p.answer);
        pb.inc(1);
        Ok(())
    };
    let done = if near {
        let sent: Vec<(ContentHash, Vec<crate::domain::fingerprint::ImageCode>)> =
            items.iter().map(|i| (i.hash, i.codes.clone())).collect();
        client.check_items_stream(query, sent, &mut on_line).await?
    } else {
        let hashes: Vec<ContentHash> = items.iter().map(|i| i.hash).collect();
        client.check_stream(query, hashes, &mut on_line).await?
    };
    if answers.len() != items.len() {
        bail!(
            "the registry answered {} of {} hashes",
            answers.len(),
            items.len()
        );
    }
    // The receipt must be the registry's and bind exactly these answers.
    let (envelope, receipt) = verified_receipt(&done, verifier, digests)?;
    Ok((answers, vec![(None, envelope, receipt)]))
}

/// Checks `items` across `shards`: each shard its own hashes, all at the
/// checkpoint every shard holds; each shard's receipt must verify, bind
/// its answers and name that one checkpoint.
async fn check_shards(
    shards: &Shards,
    query: &str,
    items: &[Item],
    pb: &ProgressBar,
) -> anyhow::Result<(Vec<Answer>, Receipts)> {
    let size = shards.common_size().await?;
    let hashes: Vec<ContentHash> = items.iter().map(|i| i.hash).collect();
    let answered = shards.check(query, size, &hashes).await?;
    let mut merged: Vec<Option<Answer>> = (0..items.len()).map(|_| None).collect();
    let mut receipts: Receipts = Vec::with_capacity(answered.len());
    for sa in answered {
        if sa.lines.len() != sa.positions.len() {
            bail!(
                "shard {} answered {} of {} hashes",
                sa.shard,
                sa.lines.len(),
                sa.positions.len()
            );
        }
        let mut digests = AnswerDigests::new();
        for (&at, line) in sa.positions.iter().zip(&sa.lines) {
            let p = parse_answer(line)?;
            let expected = items[at].hash;
            if p.hash != Some(expected) {
                bail!(
                    "shard {} answered for {:?}, not {expected}",
                    sa.shard,
                    p.hash
                );
            }
            digests.add(&expected, p.answer.status, &p.ids);
            merged[at] = Some(p.answer);
            pb.inc(1);
        }
        let (envelope, receipt) = verified_receipt(&sa.done, &shards.verifier, digests)
            .with_context(|| format!("shard {}", sa.shard))?;
        let cp = &receipt.checkpoint;
        if cp.size != size {
            bail!(
                "shard {} answered at checkpoint {}, not {size} as asked",
                sa.shard,
                cp.size
            );
        }
        if let Some((_, _, first)) = receipts.first() {
            if first.checkpoint.root != cp.root || first.checkpoint.note != cp.note {
                bail!(
                    "shard {} signed a different checkpoint of size {size}: the shards are not of one log",
                    sa.shard
                );
            }
        }
        receipts.push((Some(sa.shard), envelope, receipt));
    }
    let answers = merged
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .context("a hash no shard answered")?;
    Ok((answers, receipts))
}

/// `--fail-on`: an exit code 3 error when a listed status occurred.
fn fail_on(args: &CheckArgs, answers: &[Answer]) -> anyhow::Result<()> {
    for f in &args.fail_on {
        let status = match f {
            FailOn::Disallowed => Status::Disallowed,
            FailOn::Unknown => Status::Unknown,
        };
        let n = answers.iter().filter(|a| a.combined == status).count();
        if n > 0 {
            return Err(ExitWith {
                code: EXIT_FAIL_ON,
                message: format!(
                    "{} {} (--fail-on)",
                    count(n as u64, "work is", "works are"),
                    status.as_str()
                ),
            }
            .into());
        }
    }
    Ok(())
}

pub async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let checked = run_check(&args).await?;
    fail_on(&args, &checked.answers)
}

pub async fn filter(args: FilterArgs) -> anyhow::Result<()> {
    let checked = run_check(&args.check).await?;
    let out = args.out.clone();
    let Checked {
        source,
        items,
        answers,
        keep,
    } = checked;
    let summary =
        tokio::task::spawn_blocking(move || dataset::write_filtered(&source, &items, &keep, &out))
            .await
            .context("filter task")??;
    println!(
        "kept {} of {} ({} dropped) in {} ({} written)",
        summary.kept,
        count((summary.kept + summary.dropped) as u64, "work", "works"),
        summary.dropped,
        args.out.display(),
        count(summary.files_written as u64, "file", "files")
    );
    fail_on(&args.check, &answers)
}
