//! `consentry register`: hash files locally, sign one statement per file,
//! submit them in batches.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::Value;

use super::RegistryArgs;
use crate::client::Client;
use crate::crypto::{Envelope, PayloadType, SecretKey};
use crate::domain::consent::{ConsentDeclaration, PerCategory, Shorthand};
use crate::domain::documents::FORMAT_VERSION;
use crate::domain::terms::validate_terms;
use crate::domain::{ConsentSet, ContentHash, Money, Preference, Statement, Term, Timestamp, Work};
use crate::registry::MAX_STATEMENTS_PER_REQUEST;

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Files or folders (walked recursively) to register.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Your key file (from `consentry keygen`).
    #[arg(long, default_value = "consentry-artist.key")]
    pub key: PathBuf,
    /// `opt-out`, `opt-in`, or per category: `train-ai=disallowed,search=allowed`.
    #[arg(long, default_value = "opt-out")]
    pub consent: String,
    /// Require this credit line for allowed uses.
    #[arg(long)]
    pub attribution: Option<String>,
    /// Ask a flat fee per training run: `AMOUNT_MINOR:CURRENCY`, e.g. `5000:EUR`.
    #[arg(long)]
    pub flat_fee: Option<String>,
    /// Ask a share of the run's royalty pool; optional minimum `AMOUNT_MINOR:CURRENCY`.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub revenue_share: Option<String>,
    /// Allowed uses are free of charge.
    #[arg(long)]
    pub free: bool,
    /// Statements per request (at most 10,000).
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Keep each new statement's receipt (C2SP tlog-proof, checkable offline
    /// with `consentry verify-proof`) as `DIR/<statement id>.tlog-proof`.
    #[arg(long, value_name = "DIR")]
    pub receipts: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Writes the receipt of each statement a batch answer created; returns how many.
fn save_receipts(dir: &Path, body: &Value) -> anyhow::Result<u64> {
    let mut kept = 0;
    for a in body["accepted"].as_array().into_iter().flatten() {
        let (Some(id), Some(receipt)) = (a["id"].as_str(), a["receipt"].as_str()) else {
            continue;
        };
        // Ids are 64 hex digits (checked: they become file names).
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            anyhow::bail!("the registry sent a malformed statement id");
        }
        let path = dir.join(format!("{id}.tlog-proof"));
        std::fs::write(&path, receipt)
            .with_context(|| format!("cannot write {}", path.display()))?;
        kept += 1;
    }
    Ok(kept)
}

/// BLAKE3 of a file's exact bytes.
///
/// # Errors
/// When the file cannot be read.
pub fn hash_file(path: &Path) -> anyhow::Result<ContentHash> {
    let mut hasher = blake3::Hasher::new();
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    hasher
        .update_reader(file)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(ContentHash::from_bytes(*hasher.finalize().as_bytes()))
}

fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.sort();
            stack.extend(entries.into_iter().rev());
        } else if meta.is_file() {
            out.push(p);
        }
    }
    Ok(out)
}

/// Parses `--consent`.
///
/// # Errors
/// On an unknown category or value.
pub fn parse_consent(text: &str) -> anyhow::Result<ConsentDeclaration> {
    match text {
        "opt-out" => return Ok(ConsentDeclaration::Shorthand(Shorthand::OptOut)),
        "opt-in" => return Ok(ConsentDeclaration::Shorthand(Shorthand::OptIn)),
        _ => {}
    }
    let mut p = PerCategory::default();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (cat, val) = part
            .split_once('=')
            .with_context(|| format!("`{part}`: expected CATEGORY=allowed|disallowed"))?;
        let val = match val.trim() {
            "allowed" | "y" | "yes" => Preference::Allowed,
            "disallowed" | "n" | "no" => Preference::Disallowed,
            other => bail!("`{other}`: expected allowed or disallowed"),
        };
        let slot = match cat.trim() {
            "train-ai" => &mut p.train_ai,
            "train-genai" => &mut p.train_genai,
            "ai-use" => &mut p.ai_use,
            "search" => &mut p.search,
            "tdm" => &mut p.tdm,
            other => {
                bail!("unknown category `{other}` (train-ai, train-genai, ai-use, search, tdm)")
            }
        };
        *slot = Some(val);
    }
    let decl = ConsentDeclaration::PerCategory(p);
    ConsentSet::from_declaration(&decl)?;
    Ok(decl)
}

fn parse_money(text: &str) -> anyhow::Result<Money> {
    let (amount, currency) = text
        .split_once(':')
        .context("money is AMOUNT_MINOR:CURRENCY, e.g. 5000:EUR")?;
    Ok(Money {
        amount_minor: amount
            .trim()
            .parse()
            .with_context(|| format!("`{amount}` is not a whole number of minor units"))?,
        currency: currency.trim().to_owned(),
    })
}

fn parse_terms(args: &RegisterArgs) -> anyhow::Result<Vec<Term>> {
    let mut terms = Vec::new();
    if args.free {
        terms.push(Term::Free {});
    }
    if let Some(credit) = &args.attribution {
        terms.push(Term::Attribution {
            credit: credit.clone(),
        });
    }
    if let Some(fee) = &args.flat_fee {
        terms.push(Term::FlatFee {
            amount: parse_money(fee)?,
        });
    }
    if let Some(min) = &args.revenue_share {
        let minimum = if min.is_empty() {
            None
        } else {
            Some(parse_money(min)?)
        };
        terms.push(Term::RevenueShare { minimum });
    }
    validate_terms(&terms)?;
    Ok(terms)
}

fn media_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "tif" | "tiff" => "image/tiff",
        "svg" => "image/svg+xml",
        "avif" => "image/avif",
        "psd" => "image/vnd.adobe.photoshop",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/markdown",
        _ => return None,
    })
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

pub async fn run(args: RegisterArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 || args.batch_size > MAX_STATEMENTS_PER_REQUEST {
        bail!("--batch-size must be 1 to {MAX_STATEMENTS_PER_REQUEST}");
    }
    let consent = parse_consent(&args.consent)?;
    let consent_set = ConsentSet::from_declaration(&consent)?;
    let terms = parse_terms(&args)?;
    if !terms.is_empty() && !consent_set.allows_anything() {
        bail!(
            "terms apply to allowed uses, and --consent {} allows none",
            args.consent
        );
    }
    let key = SecretKey::load(&args.key)?;
    let files = collect_files(&args.paths)?;
    if files.is_empty() {
        bail!("no files found under the given paths");
    }

    let pb = bar(files.len(), "hashing");
    let hashed: Vec<(PathBuf, ContentHash)> = files
        .par_iter()
        .map(|f| {
            let h = hash_file(f);
            pb.inc(1);
            h.map(|h| (f.clone(), h))
        })
        .collect::<anyhow::Result<_>>()?;
    pb.finish();
    // One statement per distinct work.
    let mut unique = hashed.clone();
    unique.sort_by_key(|(_, h)| *h);
    unique.dedup_by_key(|(_, h)| *h);

    let issued_at = Timestamp::now();
    let public = key.public_key().to_string();
    let envelopes: Vec<Envelope> = unique
        .par_iter()
        .map(|(path, hash)| {
            let statement = Statement {
                version: FORMAT_VERSION,
                key: public.clone(),
                works: vec![Work {
                    hash: *hash,
                    media_type: media_type(path).map(str::to_owned),
                    title: None,
                    published_at: None,
                    fingerprints: Vec::new(),
                }],
                consent: consent.clone(),
                terms: terms.clone(),
                issued_at,
            };
            let bytes = serde_json::to_vec(&statement).unwrap_or_default();
            Envelope::sign(PayloadType::Statement, &bytes, &[&key])
        })
        .collect();

    let mut client = Client::new(&args.registry.registry)?;
    let artist_id = client
        .login(&key)
        .await
        .context("logging in with your key (did you run `consentry artist create`?)")?;
    if let Some(dir) = &args.receipts {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let pb = bar(envelopes.len(), "submitting");
    let (mut created, mut duplicates, mut kept) = (0u64, 0u64, 0u64);
    for chunk in envelopes.chunks(args.batch_size) {
        let body: Value = client.submit_statements(chunk).await?;
        created += body["created"].as_u64().unwrap_or(0);
        duplicates += body["duplicates"].as_u64().unwrap_or(0);
        if let Some(dir) = &args.receipts {
            kept += save_receipts(dir, &body)?;
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish();
    if let Some(dir) = &args.receipts {
        println!("{kept} receipt(s) saved in {}", dir.display());
    }
    println!(
        "artist {artist_id}: {} file(s), {} distinct work(s); {created} statement(s) recorded, {duplicates} already recorded",
        hashed.len(),
        unique.len()
    );
    Ok(())
}
