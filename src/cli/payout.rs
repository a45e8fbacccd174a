//! `consentry payout report` (a builder reports a training run and keeps
//! the signed statement) and `consentry payout verify` (anyone checks a
//! statement: its signature, that the log holds its record, and that the
//! payout recomputed from the log at the statement's view is the one
//! stated; `spec/payouts.md` §8).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::audit::feed_entries;
use super::client::{Client, SignInAs};
use super::count;
use super::dataset;
use super::progress;
use super::RegistryArgs;
use crate::audit::Auditor;
use crate::check::parse_purpose;
use crate::crypto::{Envelope, SecretKey};
use crate::domain::payout::{differences, PayoutRecord};
use crate::domain::{ContentHash, Timestamp};
use crate::index::ConsentIndex;
use crate::log::entry::{self, EntryKind};
use crate::log::note::NoteVerifier;

#[derive(Debug, Subcommand)]
pub enum PayoutCommand {
    /// Report a training run; the registry computes, signs and logs its
    /// payout statement.
    Report(ReportArgs),
    /// Verify a payout statement, offline or against the log.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The works the run used: a folder, a manifest (`.csv`/`.jsonl` with a
    /// `path` or `hash` column) or webdataset `.tar` shards.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The run's id, unique for the builder (A-Z a-z 0-9 . _ : -).
    #[arg(long)]
    pub run_id: String,
    /// The use: train-ai, train-genai, ai-use, search or tdm.
    #[arg(long)]
    pub purpose: String,
    /// The royalty pool in minor units (cents for EUR or USD).
    #[arg(long)]
    pub pool_minor: u64,
    /// The pool's ISO 4217 currency.
    #[arg(long)]
    pub currency: String,
    /// When the data was checked (RFC 3339). Required without `--receipt`.
    #[arg(long)]
    pub checked_at: Option<Timestamp>,
    /// The receipt of the check of exactly these works (`consentry check
    /// --receipt`): consent is read at its checkpoint and date.
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// The builder's key file.
    #[arg(long, default_value = "consentry-builder.key")]
    pub key: PathBuf,
    /// Where to keep the signed statement.
    #[arg(long, default_value = "consentry-payout.json")]
    pub out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The statement: a file (`consentry payout report --out`, a `GET
    /// /v1/payouts/{id}` response, or a bare DSSE envelope), or a statement
    /// id to fetch from `--log`.
    pub statement: String,
    /// The log's verifier key (`origin+hex8+base64`, from `GET /v1/log`).
    #[arg(long)]
    pub verifier_key: String,
    /// Verify against the log at this base URL: the log holds the
    /// statement's record, its entries audit, and the payout recomputed
    /// from them is the one stated.
    #[arg(long, value_name = "URL")]
    pub log: Option<String>,
}

pub async fn run(cmd: PayoutCommand) -> anyhow::Result<()> {
    match cmd {
        PayoutCommand::Report(args) => report(args).await,
        PayoutCommand::Verify(args) => verify(args).await,
    }
}

async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let purpose = parse_purpose(&args.purpose).map_err(anyhow::Error::msg)?;
    let key = SecretKey::load(&args.key)?;
    let receipt: Option<Envelope> = args
        .receipt
        .as_ref()
        .map(|p| -> anyhow::Result<Envelope> {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a receipt envelope", p.display()))
        })
        .transpose()?;
    if receipt.is_none() && args.checked_at.is_none() {
        bail!("give --checked-at (when the data was checked) or --receipt");
    }
    let source = dataset::detect(&args.inputs)?;
    // Sign in before hashing (fail fast when the registry or the key is wrong).
    let mut client = Client::new(&args.registry.registry)?;
    client.sign_in(&key, SignInAs::Builder).await?;
    let pb = progress::progress_bar(dataset::count(&source));
    if args.quiet {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let items = tokio::task::spawn_blocking(move || {
        let items = dataset::hash_all(&source, Some(&pb));
        pb.finish_and_clear();
        items
    })
    .await
    .context("hashing task")??;
    let mut works: Vec<ContentHash> = items.iter().map(|i| i.hash).collect();
    if receipt.is_none() {
        // The same bytes twice are one work.
        let mut seen = std::collections::HashSet::with_capacity(works.len());
        works.retain(|w| seen.insert(*w));
    }
    if works.is_empty() {
        bail!("the input holds no works");
    }
    let mut body = json!({
        "run_id": args.run_id,
        "purpose": purpose.as_str(),
        "pool": { "amount_minor": args.pool_minor, "currency": args.currency },
        "works": works,
    });
    if let Some(t) = args.checked_at {
        body["checked_at"] = json!(t);
    }
    if let Some(r) = receipt {
        body["receipt"] = serde_json::to_value(r)?;
    }
    // A token lasts minutes; hashing a large dataset may take longer.
    client.sign_in(&key, SignInAs::Builder).await?;
    let (_, resp) = client.post("/v1/runs", &body).await?;
    std::fs::write(&args.out, serde_json::to_string_pretty(&resp)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    let flags = &resp["flags"];
    let totals = &resp["statement"]["payout"]["totals"];
    println!(
        "statement {} (log index {}): {} works; pool {} {} allocated {}, shortfall {}; flat fees {}",
        resp["statement_id"].as_str().unwrap_or_default(),
        resp["log_index"],
        resp["works"],
        args.pool_minor,
        args.currency,
        totals["pool_allocated"],
        totals["shortfall"],
        totals["flat_fees"],
    );
    let disallowed = flags["disallowed_works"].as_u64().unwrap_or(0);
    let unknown = flags["unknown_works"].as_u64().unwrap_or(0);
    if disallowed + unknown > 0 {
        eprintln!(
            "warning: at the check date, {} disallowed and {unknown} unknown for {}: they should not have been used (listed as excluded in {}):",
            count(disallowed, "work was", "works were"),
            purpose.as_str(),
            args.out.display()
        );
        let excluded = resp["statement"]["payout"]["excluded"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        const SHOWN: usize = 20;
        for e in excluded.iter().take(SHOWN) {
            let hash = e["hash"].as_str().unwrap_or("?");
            let names: Vec<&str> = items
                .iter()
                .filter(|i| i.hash.to_string() == hash)
                .map(|i| i.label.as_str())
                .collect();
            eprintln!(
                "  {} ({}): {}",
                if names.is_empty() {
                    hash.to_owned()
                } else {
                    names.join(", ")
                },
                e["status"].as_str().unwrap_or("?"),
                hash
            );
        }
        if excluded.len() > SHOWN {
            eprintln!("  … and {} more", excluded.len() - SHOWN);
        }
    }
    println!("kept in {}", args.out.display());
    Ok(())
}

/// Finds the statement envelope in a file or fetches it by id.
async fn load_statement(args: &VerifyArgs) -> anyhow::Result<Envelope> {
    let is_id = args.statement.len() == 64
        && args
            .statement
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let value: Value = if is_id && !std::path::Path::new(&args.statement).exists() {
        let url = args
            .log
            .as_deref()
            .context("give --log to fetch a statement by id")?;
        Client::new(url)?
            .get_optional(&format!("/v1/payouts/{}", args.statement))
            .await?
            .with_context(|| format!("the registry has no statement {}", args.statement))?
    } else {
        let text = std::fs::read_to_string(&args.statement)
            .with_context(|| format!("reading {}", args.statement))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.statement))?
    };
    let env = if value.get("payloadType").is_some() {
        value
    } else {
        value
            .get("envelope")
            .cloned()
            .context("no statement envelope (`envelope`) in the file")?
    };
    serde_json::from_value(env).context("the statement envelope is malformed")
}

async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let verifier = NoteVerifier::parse(&args.verifier_key)
        .map_err(|e| anyhow::anyhow!("verifier key: {e}"))?;
    let envelope = load_statement(&args).await?;
    let (statement, id) = crate::payouts::verify_statement(&envelope, &verifier)
        .map_err(|e| anyhow::anyhow!("the statement is not valid: {e}"))?;
    let p = &statement.payout;
    println!(
        "ok: statement {id} signed by {} for run `{}` of builder {}: {} works for {}, checked at {}, pool {} {}",
        verifier.name,
        statement.run_id,
        statement.builder,
        statement.works.count,
        statement.purpose.as_str(),
        statement.checked_at,
        p.pool.amount_minor,
        p.pool.currency,
    );
    let Some(url) = &args.log else {
        println!("(offline: give --log to check the statement against the log)");
        return Ok(());
    };
    let client = Client::new(url)?;
    let note = String::from_utf8(
        client
            .get_bytes("/log/checkpoint")
            .await?
            .context("the log serves no checkpoint")?,
    )
    .context("the checkpoint is not UTF-8")?;
    let mut auditor = Auditor::new(&verifier.name, verifier.clone());
    let latest = auditor.open_checkpoint(&note)?;
    if statement.view.size > latest.size {
        bail!(
            "the statement's view (size {}) is beyond the log's latest checkpoint (size {})",
            statement.view.size,
            latest.size
        );
    }
    let mut index = ConsentIndex::new();
    let mut record_at: Option<u64> = None;
    feed_entries(&client, 0, latest.size, |start, run| {
        auditor.replay(start, run)?;
        for (i, bytes) in run.iter().enumerate() {
            let at = start + i as u64;
            index.apply_entry(at, bytes)?;
            let e = entry::decode(bytes)?;
            if e.kind == EntryKind::Payout {
                let r = PayoutRecord::parse(&e.payload).map_err(anyhow::Error::msg)?;
                if r.statement == id {
                    if r.builder != statement.builder || r.run_id != statement.run_id {
                        bail!("entry {at}: the log records statement {id} for another run");
                    }
                    record_at = Some(at);
                }
            }
        }
        Ok(())
    })
    .await?;
    auditor.finish(&latest)?;
    println!(
        "ok: the log's {} entries verify (signatures, key rules) and hash to its checkpoint",
        latest.size
    );
    // Every problem is reported, not only the first.
    let mut problems = Vec::new();
    match record_at {
        None => problems.push(format!(
            "statement {id} is not in the log: no payout record names it"
        )),
        Some(at) if statement.view.size > at => problems.push(format!(
            "the statement reads the log up to size {}, after its own record (entry {at})",
            statement.view.size
        )),
        Some(at) => println!("ok: the log records the statement at entry {at}"),
    }
    let recomputed = crate::payouts::recompute(&statement, &index)
        .map_err(|e| anyhow::anyhow!("recomputing: {e}"))?;
    let diffs = differences(&statement.payout, &recomputed);
    if !diffs.is_empty() {
        problems.push(format!(
            "the statement differs from the payout the log gives at size {}{}:\n    {}",
            statement.view.size,
            statement
                .view
                .as_of
                .map(|t| format!(" as of {t}"))
                .unwrap_or_default(),
            diffs.join("\n    ")
        ));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n  "));
    }
    let t = &recomputed.totals;
    println!(
        "ok: the payout recomputed from the log matches the statement: artists counted {}, works held {}, works excluded {}; {} of {} {} allocated, shortfall {}",
        recomputed.artists.len(),
        recomputed.held.len(),
        recomputed.excluded.len(),
        t.pool_allocated,
        recomputed.pool.amount_minor,
        recomputed.pool.currency,
        t.shortfall,
    );
    Ok(())
}
