//! `consentry audit` (replay and verify a registry's whole log, resumably)
//! and `consentry verify-proof` (check one receipt offline).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget};
use serde_json::Value;

use super::client::Client;
use crate::audit::{AuditFailure, AuditState, Auditor};
use crate::crypto::{pae, PublicKey};
use crate::log::entry;
use crate::log::note::NoteVerifier;
use crate::log::proof::TlogProof;
use crate::log::tiles::{split_bundle, TileRef, TILE_WIDTH};
use crate::log::Hash;

/// Entries per request while auditing.
const PAGE: u64 = 1000;
/// Entries replayed at a time.
const REPLAY: usize = 8192;
/// Entry bundles requested ahead.
const IN_FLIGHT: usize = 4;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The registry's base URL.
    #[arg(env = "CONSENTRY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The log's verifier key (`origin+hex8+base64`), which must sign its
    /// checkpoints. Default: the one in --state, else the one the registry
    /// publishes (trusted on first use and printed).
    #[arg(long)]
    pub verifier_key: Option<String>,
    /// A file that keeps what was audited: the next run checks that the log
    /// only grew (consistency proof) and replays only the new entries.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// With --state: entries audited before that this run fetches again
    /// and proves against the new checkpoint (a random sample each run,
    /// so in-place edits of old entries are caught over successive runs).
    #[arg(long, default_value_t = DEFAULT_RECHECK, value_name = "N")]
    pub recheck: u64,
    /// With --state: replay the whole log again from entry 0 (after
    /// checking that it only grew), not only the new entries.
    #[arg(long)]
    pub full: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Old entries re-checked per incremental audit, by default.
pub const DEFAULT_RECHECK: u64 = 256;

#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    /// A receipt in C2SP tlog-proof form (`-` for standard input).
    pub receipt: PathBuf,
    /// The log's verifier key (`origin+hex8+base64`, from `GET /v1/log`).
    #[arg(long)]
    pub verifier_key: String,
    /// The log's origin; default: the verifier key's name.
    #[arg(long)]
    pub origin: Option<String>,
}

fn load_state(path: &Path) -> anyhow::Result<Option<AuditState>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("{} is not an audit state file", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn save_state(path: &Path, state: &AuditState) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub(super) fn hex_hashes(v: &Value) -> anyhow::Result<Vec<Hash>> {
    v.as_array()
        .context("expected a list of hashes")?
        .iter()
        .map(|h| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h.as_str().unwrap_or_default(), &mut out)
                .map(|()| out)
                .context("a proof hash is not 64 hex digits")
        })
        .collect()
}

/// One page of entries: its first index and the entries' bytes.
type Page = (u64, Vec<Vec<u8>>);

/// Fetches entries `from..to` page by page, checking that indexes are
/// contiguous; a gap is reported as the missing entry.
async fn fetch_page(
    client: &Client,
    start: u64,
    to: u64,
) -> anyhow::Result<Result<Page, AuditFailure>> {
    let limit = PAGE.min(to - start);
    let page = client
        .get_json(&format!("/v1/log/entries?start={start}&limit={limit}"))
        .await?;
    let list = page["entries"].as_array().context("entries page")?;
    let mut entries = Vec::with_capacity(list.len());
    for (expected, e) in (start..).zip(list) {
        let index = e["index"].as_u64().context("entry index")?;
        if index != expected {
            return Ok(Err(AuditFailure {
                entry: Some(expected),
                reason: format!(
                    "entry is missing: the log goes from entry {} to entry {index}",
                    expected.saturating_sub(1)
                ),
            }));
        }
        if index >= to {
            break;
        }
        let bytes = STANDARD
            .decode(e["entry"].as_str().unwrap_or_default())
            .with_context(|| format!("entry {index} is not base64"))?;
        entries.push(bytes);
    }
    if entries.is_empty() {
        return Ok(Err(AuditFailure {
            entry: Some(start),
            reason: format!("entry is missing: the log serves nothing from entry {start} on"),
        }));
    }
    Ok(Ok((start, entries)))
}

/// Fetches entry bundle `tile` of a log of `size` entries, from entry
/// `from` on. When the registry cannot serve it whole, the JSON entries of
/// the same range say which entry is missing.
async fn fetch_bundle(
    client: &Client,
    tile: u64,
    from: u64,
    size: u64,
) -> anyhow::Result<Result<Page, AuditFailure>> {
    let first = tile * TILE_WIDTH;
    let width = (size - first).min(TILE_WIDTH);
    let path = TileRef {
        level: None,
        index: tile,
        width,
    }
    .path();
    let fetched = client.get_bytes(&format!("/log/tile/{path}")).await;
    if let Ok(Some(bundle)) = &fetched {
        if let Ok(entries) = split_bundle(bundle) {
            if entries.len() as u64 == width {
                let skip = usize::try_from(from - first)?;
                let entries = entries[skip..].iter().map(|e| e.to_vec()).collect();
                return Ok(Ok((from, entries)));
            }
        }
    }
    // Not served whole: find out why from the entries themselves.
    let to = first + width;
    let mut start = from;
    while start < to {
        match fetch_page(client, start, to).await? {
            Ok((s, entries)) => start = s + entries.len() as u64,
            Err(f) => return Ok(Err(f)),
        }
    }
    Ok(Err(AuditFailure {
        entry: Some(first),
        reason: format!(
            "the log does not serve entry bundle {path} whole ({})",
            match fetched {
                Ok(Some(_)) => "malformed bundle".to_owned(),
                Ok(None) => "not found".to_owned(),
                Err(e) => e.to_string(),
            }
        ),
    }))
}

/// After a root mismatch: the first replayed entry whose hash differs from
/// the leaf hash in the log's level-0 tiles (what the tree was built from).
async fn locate_difference(client: &Client, auditor: &Auditor, size: u64) -> Option<u64> {
    let first = auditor.first_index;
    let mut tile = first / TILE_WIDTH;
    while tile * TILE_WIDTH < size {
        let width = (size - tile * TILE_WIDTH).min(TILE_WIDTH);
        let path = TileRef {
            level: Some(0),
            index: tile,
            width,
        }
        .path();
        let bytes = client
            .get_bytes(&format!("/log/tile/{path}"))
            .await
            .ok()??;
        for (i, h) in bytes.chunks(32).enumerate() {
            let index = tile * TILE_WIDTH + i as u64;
            if index < first {
                continue;
            }
            let ours = auditor.leaves.get(usize::try_from(index - first).ok()?)?;
            if ours.as_slice() != h {
                return Some(index);
            }
        }
        tile += 1;
    }
    None
}

/// Fetches entries `from..to` as entry bundles (C2SP tlog-tiles), several
/// in flight, and hands them to `each` in order, in runs of about
/// [`REPLAY`] entries (larger runs keep both cores busy verifying).
///
/// # Errors
/// The first entry the log does not serve (as an [`AuditFailure`]), or
/// whatever `each` returns.
pub(super) async fn feed_entries(
    client: &Client,
    from: u64,
    to: u64,
    mut each: impl FnMut(u64, &[Vec<u8>]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut queue = std::collections::VecDeque::new();
    let mut tile = from / TILE_WIDTH;
    let mut spawn_next = |queue: &mut std::collections::VecDeque<_>| {
        if tile * TILE_WIDTH >= to {
            return;
        }
        let (c, t, start) = (client.clone(), tile, from.max(tile * TILE_WIDTH));
        queue.push_back(tokio::spawn(
            async move { fetch_bundle(&c, t, start, to).await },
        ));
        tile += 1;
    };
    for _ in 0..IN_FLIGHT {
        spawn_next(&mut queue);
    }
    let mut run: Vec<Vec<u8>> = Vec::new();
    let mut run_start = from;
    while let Some(task) = queue.pop_front() {
        let (start, entries) = task
            .await
            .context("fetch task")??
            .map_err(anyhow::Error::from)?;
        spawn_next(&mut queue);
        if run.is_empty() {
            run_start = start;
        }
        run.extend(entries);
        if run.len() >= REPLAY || queue.is_empty() {
            tokio::task::block_in_place(|| each(run_start, &run))?;
            run.clear();
        }
    }
    Ok(())
}

pub async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.url)?;
    let info = client.get_json("/v1/log").await?;
    let published = info["verifier_key"]
        .as_str()
        .context("the registry publishes no verifier key")?
        .to_owned();
    let state = match &args.state {
        Some(p) => load_state(p)?,
        None => None,
    };
    let pinned = args
        .verifier_key
        .clone()
        .or_else(|| state.as_ref().map(|s| s.verifier_key.clone()));
    let verifier_text = match &pinned {
        Some(k) => {
            if *k != published {
                eprintln!("warning: the registry now publishes verifier key {published}, not the pinned {k}");
            }
            k.clone()
        }
        None => {
            eprintln!("trusting the verifier key the registry publishes: {published}");
            published.clone()
        }
    };
    let verifier = NoteVerifier::parse(&verifier_text)
        .map_err(|e| anyhow::anyhow!("verifier key {verifier_text}: {e}"))?;
    let mut auditor = match &state {
        Some(s) => {
            if s.verifier_key != verifier_text {
                bail!(
                    "the state file was made for verifier key {}",
                    s.verifier_key
                );
            }
            Auditor::resume(s)?
        }
        None => Auditor::new(&verifier.name.clone(), verifier),
    };
    let note = String::from_utf8(
        client
            .get_bytes("/log/checkpoint")
            .await?
            .context("the registry serves no checkpoint")?,
    )
    .context("the checkpoint is not UTF-8")?;
    let cp = auditor.open_checkpoint(&note)?;
    let before = auditor.size();
    if before > 0 {
        let proof = if cp.size > before {
            let p = client
                .get_json(&format!(
                    "/v1/log/proof/consistency?old_size={before}&new_size={}",
                    cp.size
                ))
                .await?;
            hex_hashes(&p["path"])?
        } else {
            Vec::new()
        };
        auditor.check_consistency(&cp, &proof)?;
    }
    let rechecked = if before > 0 && !args.full {
        recheck_old_entries(&client, &cp, before, args.recheck).await?
    } else {
        0
    };
    let before = if args.full {
        // The growth is proven; now everything again, from entry 0.
        let verifier = NoteVerifier::parse(&verifier_text)
            .map_err(|e| anyhow::anyhow!("verifier key {verifier_text}: {e}"))?;
        auditor = Auditor::new(&cp.origin, verifier);
        auditor.open_checkpoint(&note)?;
        0
    } else {
        before
    };
    let pb = ProgressBar::new(cp.size - before);
    if args.quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(super::progress::progress_style(
        "{msg:>8} [{bar:30}] {pos}/{len} ({rate}, eta {eta})",
    ));
    pb.set_message("entries");
    let started = std::time::Instant::now();
    let fed = feed_entries(&client, before, cp.size, |start, run| {
        let result = auditor.replay(start, run);
        pb.inc(run.len() as u64);
        result.map_err(anyhow::Error::from)
    })
    .await;
    if let Err(e) = fed {
        pb.abandon();
        return Err(e);
    }
    pb.finish_and_clear();
    if let Err(f) = auditor.finish(&cp) {
        if let Some(index) = locate_difference(&client, &auditor, cp.size).await {
            bail!(
                "{f}\nentry {index} is the first whose hash differs from the leaf the log's tree holds (tile 0): it was altered, dropped or moved"
            );
        }
        return Err(f.into());
    }
    let secs = started.elapsed().as_secs_f64();
    let c = auditor.counts;
    println!(
        "ok: log {} verified up to size {} (root {})",
        cp.origin,
        cp.size,
        hex::encode(cp.root)
    );
    println!(
        "replayed {} entries ({} artist registrations, {} key events, {} statements), {} signatures, in {secs:.1} s",
        c.entries, c.artists, c.key_events, c.statements, c.signatures
    );
    if before > 0 {
        println!("consistent with the {before} entries audited before");
        println!(
            "re-checked {rechecked} of them against this checkpoint (sampled at random; --full replays all)"
        );
    } else if args.full && state.is_some() {
        println!("replayed in full; consistent with the entries audited before");
    }
    if let Some(p) = &args.state {
        save_state(p, &auditor.state(&note))?;
        println!("state saved to {}", p.display());
    }
    Ok(())
}

/// Fetches `count` entries chosen at random among the first `before` (all
/// of them when there are fewer) and proves each against `cp`: its bytes
/// must hash to a leaf with a valid inclusion proof to `cp`'s root. The
/// earlier audit replayed those same leaves (the consistency proof ties
/// the old tree to `cp`), so an entry served now with other bytes, or not
/// served, was altered after it was audited. Returns how many were checked.
///
/// # Errors
/// The first entry that fails, with its index.
async fn recheck_old_entries(
    client: &Client,
    cp: &crate::log::note::Checkpoint,
    before: u64,
    count: u64,
) -> anyhow::Result<u64> {
    use rand_core::RngCore;
    let indexes: Vec<u64> = if count >= before {
        (0..before).collect()
    } else {
        let mut picked = std::collections::BTreeSet::new();
        while (picked.len() as u64) < count {
            picked.insert(rand_core::OsRng.next_u64() % before);
        }
        picked.into_iter().collect()
    };
    for &index in &indexes {
        let page = client
            .get_json(&format!("/v1/log/entries?start={index}&limit=1"))
            .await
            .with_context(|| {
                format!("entry {index} (audited before): the registry does not serve it")
            })?;
        let entry = page["entries"][0]["entry"]
            .as_str()
            .and_then(|e| STANDARD.decode(e).ok())
            .with_context(|| format!("entry {index} (audited before) is not served"))?;
        let proof = client
            .get_json(&format!(
                "/v1/log/proof/inclusion?index={index}&tree_size={}",
                cp.size
            ))
            .await
            .with_context(|| format!("entry {index} (audited before): no inclusion proof"))?;
        let path = hex_hashes(&proof["path"])?;
        let leaf = crate::log::merkle::leaf_hash(&entry);
        if crate::log::merkle::verify_inclusion(index, cp.size, &leaf, &path, &cp.root).is_err() {
            bail!(
                "entry {index}, audited before, is now served with other bytes: \
                 they are not the leaf the log's tree holds (it was altered after it was audited)"
            );
        }
    }
    Ok(indexes.len() as u64)
}

pub fn verify_proof(args: &VerifyProofArgs) -> anyhow::Result<()> {
    let text = if args.receipt.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(&args.receipt)
            .with_context(|| format!("reading {}", args.receipt.display()))?
    };
    let verifier = NoteVerifier::parse(&args.verifier_key)
        .map_err(|e| anyhow::anyhow!("verifier key: {e}"))?;
    let origin = args.origin.clone().unwrap_or_else(|| verifier.name.clone());
    let proof = TlogProof::parse(&text)?;
    let cp = proof.verify(&origin, &verifier, None)?;
    let bytes = proof.extra.as_deref().unwrap_or_default();
    let e = entry::decode(bytes).context("the receipt's entry")?;
    for s in &e.signatures {
        let key = PublicKey::from_bytes(&s.key)
            .map_err(|err| anyhow::anyhow!("the entry's signing key: {err}"))?;
        if !key.verify_strict(&pae(&e.payload_type, &e.payload), &s.sig) {
            bail!("the signature by {key} on the entry does not verify");
        }
    }
    let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&e.payload));
    println!(
        "ok: {} {id} is entry {} of log {origin}, included in the checkpoint of size {} (root {}); {} signature(s) verified",
        e.kind.as_str(),
        proof.index,
        cp.size,
        hex::encode(cp.root),
        e.signatures.len()
    );
    Ok(())
}
