//! `consentry register`: hash files locally, sign one statement per file,
//! submit them in batches.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde_json::Value;

use super::client::{Client, SignInAs};
use super::RegistryArgs;
use crate::crypto::{Envelope, PayloadType, SecretKey};
use crate::domain::consent::{ConsentDeclaration, PerCategory, Shorthand};
use crate::domain::documents::{Fingerprint, FORMAT_VERSION};
use crate::domain::fingerprint::ISCC_IMAGE;
use crate::domain::terms::validate_terms;
use crate::domain::{ConsentSet, ContentHash, Money, Preference, Statement, Term, Timestamp, Work};
use crate::fingerprint::{self, ViewKind};
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
    /// Categories: train-ai, train-genai, ai-use, search, tdm. Values:
    /// `allowed` (also `yes`, `y`) or `disallowed` (also `no`, `n`).
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
    /// A new statement replaces all terms of the one before it. With this
    /// flag, each work keeps its current terms (from your current statement
    /// about it) unless terms are given on this command line.
    #[arg(long)]
    pub keep_terms: bool,
    /// Record a new statement even for works whose current statement by you
    /// already says the same consent and terms (skipped otherwise).
    #[arg(long)]
    pub force: bool,
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

/// BLAKE3 of a file's bytes and, for an image, the ISCC Image-Codes
/// `consentry register` signs (a file that is not a decodable image has
/// none; an image that fails to decode is reported and has none).
fn hash_and_fingerprint(path: &Path) -> anyhow::Result<(ContentHash, Vec<Fingerprint>)> {
    let is_image = fingerprint::named_as_image(&path.to_string_lossy());
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .len();
    if !is_image || len > fingerprint::MAX_FILE_BYTES {
        return Ok((hash_file(path)?, Vec::new()));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let hash = ContentHash::of(&bytes);
    match fingerprint::registered_codes(&bytes) {
        Ok(codes) => Ok((
            hash,
            codes
                .iter()
                .map(|c| Fingerprint {
                    algorithm: ISCC_IMAGE.to_owned(),
                    value: c.to_string(),
                })
                .collect(),
        )),
        Err(fingerprint::Error::NotAnImage) => Ok((hash, Vec::new())),
        Err(e) => {
            eprintln!("{}: no fingerprint: {e}", path.display());
            Ok((hash, Vec::new()))
        }
    }
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
            other => bail!("`{other}`: expected allowed or disallowed (or yes/y, no/n)"),
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
    pb.set_style(super::progress::progress_style(
        "{msg:>10} [{bar:30}] {pos}/{len} ({rate}, eta {eta})",
    ));
    pb.set_message(what.to_owned());
    pb
}

/// Your current statement about a work, as the registry answers it.
#[derive(Debug, Clone, Default)]
struct Current {
    /// Effective consent per category (`GET /v1/works/{hash}` claimant form).
    consent: Option<Value>,
    terms: Vec<Term>,
}

/// Your current statement about each work (none for works you never
/// claimed), `GET /v1/works/{hash}` for each, a few at a time.
async fn current_statements(
    client: &Client,
    artist_id: &str,
    works: &[ContentHash],
) -> anyhow::Result<Vec<Current>> {
    const IN_FLIGHT: usize = 16;
    let mut out = vec![Current::default(); works.len()];
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < works.len() || !tasks.is_empty() {
        while next < works.len() && tasks.len() < IN_FLIGHT {
            let (client, hash, i) = (client.clone(), works[next], next);
            tasks
                .spawn(async move { (i, client.get_optional(&format!("/v1/works/{hash}")).await) });
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, body) = joined.context("reading current statements")?;
        let Some(body) = body? else { continue };
        let mine = body["claimants"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["artist_id"].as_str() == Some(artist_id));
        if let Some(c) = mine {
            out[i] = Current {
                consent: Some(c["consent"].clone()),
                terms: serde_json::from_value(c["terms"].clone()).unwrap_or_default(),
            };
        }
    }
    Ok(out)
}

/// "1 work", "2 works".
fn count(n: usize, one: &str, many: &str) -> String {
    super::count(n as u64, one, many)
}

fn describe_terms(terms: &[Term]) -> String {
    if terms.is_empty() {
        return "none".to_owned();
    }
    terms
        .iter()
        .map(|t| match t {
            Term::Free {} => "free".to_owned(),
            Term::Attribution { credit } => format!("attribution \"{credit}\""),
            Term::FlatFee { amount } => {
                format!("flat fee {} {}", amount.amount_minor, amount.currency)
            }
            Term::RevenueShare { minimum: Some(m) } => {
                format!("revenue share, minimum {} {}", m.amount_minor, m.currency)
            }
            Term::RevenueShare { minimum: None } => "revenue share".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(args: RegisterArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 || args.batch_size > MAX_STATEMENTS_PER_REQUEST {
        bail!("--batch-size must be 1 to {MAX_STATEMENTS_PER_REQUEST}");
    }
    let consent = parse_consent(&args.consent)?;
    let consent_set = ConsentSet::from_declaration(&consent)?;
    let consent_json = consent_set.to_json();
    let terms = parse_terms(&args)?;
    if !terms.is_empty() && !consent_set.allows_anything() {
        bail!(
            "terms apply to allowed uses, and --consent {} allows none",
            args.consent
        );
    }
    let key = SecretKey::load(&args.key)?;
    // Sign in first: a registry that is down or a key it does not know is
    // reported before any file is read.
    let mut client = Client::new(&args.registry.registry)?;
    let artist_id = client.sign_in(&key, SignInAs::Artist).await?;
    let files = collect_files(&args.paths)?;
    if files.is_empty() {
        bail!("no files found under the given paths");
    }

    let pb = bar(files.len(), "hashing");
    // Images are fingerprinted from the same read: the ISCC Image-Code of
    // the whole image and of the views a dataset's crop keeps
    // (`docs/matching.md`), signed into the statement.
    let hashed: Vec<(PathBuf, ContentHash, Vec<Fingerprint>)> = files
        .par_iter()
        .map(|f| {
            let h = hash_and_fingerprint(f);
            pb.inc(1);
            h.map(|(h, fps)| (f.clone(), h, fps))
        })
        .collect::<anyhow::Result<_>>()?;
    pb.finish();
    let fingerprinted = hashed.iter().filter(|(_, _, f)| !f.is_empty()).count();
    if fingerprinted > 0 {
        println!(
            "{} fingerprinted (ISCC Image-Code, {} each at most)",
            count(fingerprinted, "image", "images"),
            ViewKind::REGISTERED.len()
        );
    }
    let codes: std::collections::HashMap<ContentHash, Vec<Fingerprint>> =
        hashed.iter().map(|(_, h, f)| (*h, f.clone())).collect();
    let hashed: Vec<(PathBuf, ContentHash)> = hashed.into_iter().map(|(p, h, _)| (p, h)).collect();
    // One statement per distinct work.
    let mut unique = hashed.clone();
    unique.sort_by_key(|(_, h)| *h);
    unique.dedup_by_key(|(_, h)| *h);

    let hashes: Vec<ContentHash> = unique.iter().map(|(_, h)| *h).collect();
    let current = current_statements(&client, &artist_id, &hashes).await?;
    // Per work: the terms of the new statement, or `None` when it would
    // say what the current one says (skipped unless --force).
    let (mut unchanged, mut replaced, mut kept_terms) = (0usize, Vec::new(), 0usize);
    let mut to_sign: Vec<(&PathBuf, ContentHash, Vec<Term>)> = Vec::new();
    for ((path, hash), cur) in unique.iter().zip(&current) {
        let carry = args.keep_terms && terms.is_empty() && !cur.terms.is_empty();
        let new_terms = if carry && consent_set.allows_anything() {
            kept_terms += 1;
            cur.terms.clone()
        } else {
            terms.clone()
        };
        if !args.force && cur.consent.as_ref() == Some(&consent_json) && cur.terms == new_terms {
            unchanged += 1;
            continue;
        }
        if !cur.terms.is_empty() && cur.terms != new_terms {
            replaced.push((path, cur.terms.clone()));
        }
        to_sign.push((path, *hash, new_terms));
    }

    let issued_at = Timestamp::now();
    let public = key.public_key().to_string();
    let envelopes: Vec<Envelope> = to_sign
        .par_iter()
        .map(|(path, hash, terms)| {
            let statement = Statement {
                version: FORMAT_VERSION,
                key: public.clone(),
                works: vec![Work {
                    hash: *hash,
                    media_type: media_type(path).map(str::to_owned),
                    title: None,
                    published_at: None,
                    fingerprints: codes.get(hash).cloned().unwrap_or_default(),
                }],
                consent: consent.clone(),
                terms: terms.clone(),
                issued_at,
            };
            let bytes = serde_json::to_vec(&statement).unwrap_or_default();
            Envelope::sign(PayloadType::Statement, &bytes, &[&key])
        })
        .collect();

    if let Some(dir) = &args.receipts {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (mut created, mut duplicates, mut kept) = (0u64, 0u64, 0u64);
    if !envelopes.is_empty() {
        let pb = bar(envelopes.len(), "submitting");
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
    }
    if let Some(dir) = &args.receipts {
        println!(
            "{} saved in {}",
            count(kept as usize, "receipt", "receipts"),
            dir.display()
        );
    }
    println!(
        "artist {artist_id}: {}, {}; {} recorded, {} already recorded, {} unchanged",
        count(hashed.len(), "file", "files"),
        count(unique.len(), "distinct work", "distinct works"),
        count(created as usize, "statement", "statements"),
        duplicates,
        unchanged,
    );
    if unchanged > 0 {
        println!(
            "{} unchanged: your current statement already says this consent and these terms (--force records {} again)",
            count(unchanged, "work", "works"),
            if unchanged == 1 { "it" } else { "them" }
        );
    }
    if kept_terms > 0 {
        println!(
            "{} kept {} current terms (--keep-terms)",
            count(kept_terms, "work", "works"),
            if kept_terms == 1 { "its" } else { "their" }
        );
    }
    if !replaced.is_empty() {
        println!(
            "terms replaced: a new statement replaces the terms of the one before it; now {} for {}:",
            describe_terms(&terms),
            count(replaced.len(), "work", "works")
        );
        for (path, old) in replaced.iter().take(10) {
            println!("  {}: was {}", path.display(), describe_terms(old));
        }
        if replaced.len() > 10 {
            println!("  … and {} more", replaced.len() - 10);
        }
        if !args.keep_terms {
            println!("(--keep-terms carries each work's current terms over)");
        }
    }
    Ok(())
}
