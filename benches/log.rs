//! Transparency-log benchmark. Prints figures; asserts nothing beyond the
//! correctness of what it measures. See docs/performance.md.
//!
//! `cargo bench --bench log` runs three parts (`BENCH_PARTS`, default
//! `append,proofs,audit`) on both backends (`BENCH_BACKENDS`):
//!
//! - append: batches of 10,000 single-work statements accepted by the
//!   registry in-process, with the log and (in the same run, alternating)
//!   without it (`BENCH_BATCHES`, default 6 each);
//! - proofs: inclusion and consistency proofs in a log of `BENCH_LOG_SIZE`
//!   (10,000,000) entries whose tree hashes are stored in the database,
//!   against a primary-key lookup of one stored hash as the baseline;
//! - audit: the auditor's engine replaying `BENCH_AUDIT_ENTRIES` (1,000,000)
//!   signed entries, against bare `ed25519_dalek::verify_batch` of the same
//!   signatures on the same cores;
//! - audit-http: the `consentry audit` binary against a registry (SQLite,
//!   in this process) of `BENCH_AUDIT_HTTP_ENTRIES` (1,000,000) entries over
//!   loopback, against the same baseline;
//! - startup: the registry's start on a log of `BENCH_STARTUP_ENTRIES`
//!   (10,000,000) entries (tree rebuilt and compared with the stored one,
//!   latest checkpoint checked, derived tables compared, consent index
//!   loaded), against reading every stored document once (the floor of any
//!   start that looks at the data), measured before and after it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::RngCore;
use rayon::prelude::*;

use consentry::audit::Auditor;
use consentry::crypto::{pae, Envelope, PayloadType, SecretKey};
use consentry::domain::consent::{ConsentDeclaration, Shorthand};
use consentry::domain::documents::FORMAT_VERSION;
use consentry::domain::{
    ArtistRegistration, CheckpointRecord, ContentHash, Statement, Timestamp, Work,
};
use consentry::log::entry::{encode, EntryKind, EntrySignature};
use consentry::log::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use consentry::log::tree::Appender;
use consentry::registry::Registry;
use consentry::store::Store;
use consentry::transparency::TransparencyLog;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn postgres_url() -> String {
    std::env::var("CONSENTRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh store; the guard keeps a SQLite file's directory alive.
async fn fresh_store(
    backend: &str,
    name: &str,
) -> anyhow::Result<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = if backend == "sqlite" {
        consentry::store::open(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .await?
    } else {
        let schema = format!("bench_{name}_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&postgres_url()).await?;
        sqlx::query(&format!("drop schema if exists \"{schema}\" cascade"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Arc::new(
            consentry::store::postgres::PgStore::open_in_schema(&postgres_url(), &schema).await?,
        )
    };
    Ok((store, dir))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn statement(key: &SecretKey, work: ContentHash, issued_at: Timestamp) -> Vec<u8> {
    let s = Statement {
        version: FORMAT_VERSION,
        key: key.public_key().to_string(),
        works: vec![Work {
            hash: work,
            media_type: None,
            title: None,
            published_at: None,
            fingerprints: Vec::new(),
        }],
        consent: ConsentDeclaration::Shorthand(Shorthand::OptOut),
        terms: Vec::new(),
        issued_at,
    };
    serde_json::to_vec(&s).unwrap_or_default()
}

fn registration(key: &SecretKey, issued_at: Timestamp) -> Vec<u8> {
    serde_json::to_vec(&ArtistRegistration {
        version: FORMAT_VERSION,
        key: key.public_key().to_string(),
        display_name: "Bench Artist".into(),
        issued_at,
    })
    .unwrap_or_default()
}

fn random_work() -> ContentHash {
    let mut b = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut b);
    ContentHash::of(&b)
}

async fn bench_append(backend: &str) -> anyhow::Result<()> {
    let batches = env_usize("BENCH_BATCHES", 6);
    let key = SecretKey::generate();
    let registry_key = SecretKey::generate();
    let mut regs = Vec::new();
    let mut guards = Vec::new();
    for (name, with_log) in [("logged", true), ("unlogged", false)] {
        let (store, dir) = fresh_store(backend, name).await?;
        guards.push(dir);
        let log = TransparencyLog::new("bench/log", registry_key.clone())?;
        let mut reg = Registry::new(store, log).await?;
        if !with_log {
            reg = reg.without_log_for_benchmarks();
        }
        let env = Envelope::sign(
            PayloadType::Artist,
            &registration(&key, Timestamp::now().plus_secs(-60)),
            &[&key],
        );
        let id = reg.register_artist(&env).await?.artist_id;
        regs.push((reg, id));
    }
    let issued = Timestamp::now().plus_secs(-30);
    let sign_batch = || -> Vec<Envelope> {
        (0..10_000)
            .into_par_iter()
            .map(|_| {
                Envelope::sign(
                    PayloadType::Statement,
                    &statement(&key, random_work(), issued),
                    &[&key],
                )
            })
            .collect()
    };
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..=batches {
        // Alternate which registry goes first, so drift hits both alike.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (reg, id) = &regs[i];
            let envs = sign_batch();
            let start = Instant::now();
            let accepted = reg.submit_statements(id, envs).await?;
            let took = start.elapsed();
            assert_eq!(accepted.len(), 10_000);
            assert_eq!(accepted[0].receipt.is_some(), i == 0);
            if round > 0 {
                // Round 0 warms both databases up.
                times[i].push(took);
            }
        }
    }
    let mut ratios: Vec<f64> = times[0]
        .iter()
        .zip(&times[1])
        .map(|(l, u)| l.as_secs_f64() / u.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let total = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64();
    let (sum_logged, sum_unlogged) = (total(&times[0]), total(&times[1]));
    let logged = median(&mut times[0]);
    let unlogged = median(&mut times[1]);
    println!(
        "append {backend}: batch of 10,000 statements, {batches} rounds: median with log {:.1} ms, without {:.1} ms; log adds {:+.1} % (median of per-round ratios), {:+.1} % (totals)",
        logged.as_secs_f64() * 1e3,
        unlogged.as_secs_f64() * 1e3,
        (ratios[ratios.len() / 2] - 1.0) * 100.0,
        (sum_logged / sum_unlogged - 1.0) * 100.0
    );
    Ok(())
}

async fn bench_proofs(backend: &str) -> anyhow::Result<()> {
    let size = env_usize("BENCH_LOG_SIZE", 10_000_000) as u64;
    let samples = env_usize("BENCH_PROOFS", 2_000);
    let (store, _dir) = fresh_store(backend, "proofs").await?;
    let started = Instant::now();
    // The tree of `size` leaves, computed here and stored as the registry
    // stores it (one row per leaf, then one checkpoint), 200,000 leaves per
    // transaction.
    let mut tree = Appender::new(0, &[])?;
    let chunk = 200_000u64;
    let mut done = 0u64;
    while done < size {
        let n = chunk.min(size - done);
        let leaves: Vec<([u8; 32], u64)> = (done..done + n)
            .into_par_iter()
            .map(|i| (leaf_hash(&i.to_be_bytes()), i))
            .collect();
        for (l, _) in &leaves {
            tree.push(*l)?;
        }
        let (start, hashes) = tree.take_new();
        let mut tx = store.begin_append().await?;
        tx.append_log(start, &hashes, &leaves).await?;
        tx.commit().await?;
        done += n;
    }
    let root = tree.root()?;
    let mut tx = store.begin_append().await?;
    tx.add_checkpoint(&CheckpointRecord {
        size,
        root,
        note: String::new(),
        signed_at: Timestamp::now(),
    })
    .await?;
    tx.commit().await?;
    drop(tree);
    println!(
        "proofs {backend}: stored the tree of {size} entries in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let log = TransparencyLog::new("bench/log", SecretKey::generate())?;
    let mut rng = rand_core::OsRng;
    let mut pick = |below: u64| rng.next_u64() % below;
    // Baseline: one stored hash by primary key, through the same store API.
    let mut base = Vec::with_capacity(samples);
    for _ in 0..samples {
        let idx = pick(size);
        let t = Instant::now();
        store.log_hashes(&[idx]).await?;
        base.push(t.elapsed());
    }
    let mut inclusion = Vec::with_capacity(samples);
    for k in 0..samples {
        let index = pick(size);
        let t = Instant::now();
        let p = log.reader(store.as_ref()).inclusion(index, size).await?;
        inclusion.push(t.elapsed());
        if k % 100 == 0 {
            let leaf = leaf_hash(&index.to_be_bytes());
            assert_eq!(p.leaf_hash, leaf);
            verify_inclusion(index, size, &leaf, &p.path, &root)?;
        }
    }
    let mut consistency = Vec::with_capacity(samples);
    for k in 0..samples {
        let old = 1 + pick(size - 1);
        let t = Instant::now();
        let path = log.reader(store.as_ref()).consistency(old, size).await?;
        consistency.push(t.elapsed());
        if k % 100 == 0 {
            let old_root = log.reader(store.as_ref()).root(old).await?;
            verify_consistency(old, size, &old_root, &root, &path)?;
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (b, i, c) = (
        median(&mut base),
        median(&mut inclusion),
        median(&mut consistency),
    );
    println!(
        "proofs {backend}: {size} entries, medians of {samples}: one stored hash by key {:.3} ms; inclusion proof {:.3} ms ({:.1} x); consistency proof {:.3} ms ({:.1} x); p99 inclusion {:.3} ms, consistency {:.3} ms",
        ms(b),
        ms(i),
        ms(i) / ms(b),
        ms(c),
        ms(c) / ms(b),
        ms(inclusion[samples * 99 / 100]),
        ms(consistency[samples * 99 / 100]),
    );
    Ok(())
}

/// A log of `n` entries: 100 artists' registrations, then statements by
/// them in turn, with strictly increasing receipt times.
/// A signature ready for bare verification: key, message, signature.
type Prepared = (
    ed25519_dalek::VerifyingKey,
    Vec<u8>,
    ed25519_dalek::Signature,
);

fn audit_log(n: usize) -> (Vec<Vec<u8>>, Vec<Prepared>) {
    let artists: Vec<SecretKey> = (0..100).map(|_| SecretKey::generate()).collect();
    let t0 = Timestamp::now().plus_secs(-86_400).unix_nanos();
    let issued = Timestamp::now().plus_secs(-90_000);
    let make = |i: usize| -> (Vec<u8>, Prepared) {
        let key = &artists[i % artists.len()];
        let (kind, ptype, payload) = if i < artists.len() {
            (
                EntryKind::Artist,
                PayloadType::Artist,
                registration(key, issued),
            )
        } else {
            (
                EntryKind::Statement,
                PayloadType::Statement,
                statement(key, random_work(), issued),
            )
        };
        let message = pae(ptype.as_str(), &payload);
        let sig = key.sign(&message);
        let at = u64::try_from(t0).unwrap_or(0) + i as u64 * 1000;
        let entry = encode(
            kind,
            at,
            ptype.as_str(),
            &[EntrySignature {
                key: key.public_key().to_bytes(),
                sig,
            }],
            &payload,
        )
        .unwrap_or_default();
        (
            entry,
            (
                *key.public_key().verifying_key(),
                message,
                ed25519_dalek::Signature::from_bytes(&sig),
            ),
        )
    };
    (0..n).into_par_iter().map(make).unzip()
}

fn bench_audit() -> anyhow::Result<()> {
    let n = env_usize("BENCH_AUDIT_ENTRIES", 1_000_000);
    let started = Instant::now();
    let (entries, prepared) = audit_log(n);
    println!(
        "audit: signed {n} entries in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // Baseline: bare batch verification, batches of 256 on both cores.
    let bare = bare_batch_rate(&prepared);
    drop(prepared);
    // The auditor's engine, in runs of 8,000 as `consentry audit` feeds it.
    let key = SecretKey::generate();
    let verifier = consentry::log::note::NoteVerifier::new("bench/log", key.public_key())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut auditor = Auditor::new("bench/log", verifier);
    let t = Instant::now();
    for (k, page) in entries.chunks(8000).enumerate() {
        auditor
            .replay((k * 8000) as u64, page)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let audit = t.elapsed();
    let rate = n as f64 / audit.as_secs_f64();
    println!(
        "audit: {n} entries; bare verify_batch {bare:.0} signatures/s; auditor replay {rate:.0} entries/s = {:.2} x the bare rate",
        rate / bare
    );
    Ok(())
}

/// `consentry audit` end to end: a registry (in this process, SQLite) holding
/// `BENCH_AUDIT_HTTP_ENTRIES` statements, audited by the binary over
/// loopback; both share the machine's cores.
async fn bench_audit_http() -> anyhow::Result<()> {
    let n = env_usize("BENCH_AUDIT_HTTP_ENTRIES", 1_000_000);
    let (store, _dir) = fresh_store("sqlite", "audit").await?;
    let registry_key = SecretKey::generate();
    let state = consentry::server::app_state(
        store,
        &registry_key,
        None,
        "bench",
        "bench/log",
        consentry::http::limits::LimitConfig::no_rate_limit(),
    )
    .await?;
    let artists: Vec<(SecretKey, String)> = {
        let mut v = Vec::new();
        for _ in 0..10 {
            let key = SecretKey::generate();
            let env = Envelope::sign(
                PayloadType::Artist,
                &registration(&key, Timestamp::now().plus_secs(-60)),
                &[&key],
            );
            let id = state.registry.register_artist(&env).await?.artist_id;
            v.push((key, id));
        }
        v
    };
    let started = Instant::now();
    let issued = Timestamp::now().plus_secs(-30);
    let mut prepared = Vec::with_capacity(n);
    let mut done = artists.len();
    let mut k = 0;
    while done < n {
        let (key, id) = &artists[k % artists.len()];
        k += 1;
        let count = 10_000.min(n - done);
        let envs: Vec<Envelope> = (0..count)
            .into_par_iter()
            .map(|_| {
                Envelope::sign(
                    PayloadType::Statement,
                    &statement(key, random_work(), issued),
                    &[key],
                )
            })
            .collect();
        for e in &envs {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let payload = b64.decode(&e.payload)?;
            let sig: [u8; 64] = b64
                .decode(&e.signatures[0].sig)?
                .try_into()
                .map_err(|_| anyhow::anyhow!("sig"))?;
            prepared.push((
                *key.public_key().verifying_key(),
                pae(PayloadType::Statement.as_str(), &payload),
                ed25519_dalek::Signature::from_bytes(&sig),
            ));
        }
        state.registry.submit_statements(id, envs).await?;
        done += count;
    }
    println!(
        "audit over HTTP: registered {n} entries in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let bare = bare_batch_rate(&prepared);
    drop(prepared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = consentry::http::router(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    // What serving costs: every entry bundle fetched once, nothing verified.
    let client = consentry::cli::client::Client::new(&base)?;
    let t = Instant::now();
    let mut fetched = 0usize;
    for tile in 0..(n as u64).div_ceil(256) {
        let width = (n as u64 - tile * 256).min(256);
        let path = consentry::log::tiles::TileRef {
            level: None,
            index: tile,
            width,
        }
        .path();
        let bundle = client
            .get_bytes(&format!("/log/tile/{path}"))
            .await?
            .ok_or_else(|| anyhow::anyhow!("bundle {path} missing"))?;
        fetched += bundle.len();
    }
    println!(
        "audit over HTTP: fetching every entry bundle alone takes {:.1} s ({} MB)",
        t.elapsed().as_secs_f64(),
        fetched / 1_000_000
    );
    let t = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
            .args(["audit", &base, "--quiet"])
            .output()
    })
    .await??;
    let took = t.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "audit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "audit over HTTP: {n} entries; bare verify_batch {bare:.0} signatures/s; `consentry audit` {rate:.0} entries/s = {:.2} x the bare rate ({:.1} s; server and auditor share the cores)",
        rate / bare,
        took.as_secs_f64()
    );
    Ok(())
}

/// Bare batch verification, batches of 256 on all cores; signatures/s.
fn bare_batch_rate(prepared: &[Prepared]) -> f64 {
    let t = Instant::now();
    let ok = prepared.par_chunks(256).all(|c| {
        let msgs: Vec<&[u8]> = c.iter().map(|(_, m, _)| m.as_slice()).collect();
        let sigs: Vec<_> = c.iter().map(|(_, _, s)| *s).collect();
        let keys: Vec<_> = c.iter().map(|(k, _, _)| *k).collect();
        ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
    });
    assert!(ok, "the baseline's signatures verify");
    prepared.len() as f64 / t.elapsed().as_secs_f64()
}

/// The registry's start on a large log. The log is written straight into
/// the store as the registry writes it (documents, derived rows, tree
/// hashes, one signed checkpoint per transaction of 50,000 entries); every
/// statement carries the signature of the first one, since a start does not
/// verify signatures (the audit does).
async fn bench_startup(backend: &str) -> anyhow::Result<()> {
    use consentry::store::{Append, Document, DocumentKind, Effect};
    let n = env_usize("BENCH_STARTUP_ENTRIES", 10_000_000) as u64;
    let (store, _dir) = fresh_store(backend, "startup").await?;
    let registry_key = SecretKey::generate();
    let log = || TransparencyLog::new("bench/log", registry_key.clone());
    let key = SecretKey::generate();
    let artist_id = {
        let reg = Registry::new(store.clone(), log()?).await?;
        let env = Envelope::sign(
            PayloadType::Artist,
            &registration(&key, Timestamp::now().plus_secs(-60)),
            &[&key],
        );
        reg.register_artist(&env).await?.artist_id
    };
    let writer = log()?;
    let issued = Timestamp::now().plus_secs(-30);
    let signatures = consentry::store::parse_signatures_column(
        "bench",
        &serde_json::to_string(
            &Envelope::sign(
                PayloadType::Statement,
                &statement(&key, random_work(), issued),
                &[&key],
            )
            .signatures,
        )?,
    )?;
    let written = Instant::now();
    let mut done = store.document_count().await?;
    let mut last = Timestamp::now();
    while done < n {
        let count = 50_000.min(n - done);
        let appends: Vec<Append> = (0..count)
            .into_par_iter()
            .map(|i| {
                let work = random_work();
                let payload = statement(&key, work, issued);
                Append {
                    doc: Document {
                        id: consentry::registry::document_id(&payload),
                        kind: DocumentKind::Statement,
                        artist_id: artist_id.clone(),
                        payload_type: PayloadType::Statement.as_str().to_owned(),
                        payload,
                        signatures: signatures.clone(),
                        received_at: Timestamp::from_unix_nanos(
                            last.unix_nanos() + 1 + i64::try_from(i).unwrap_or(0),
                        ),
                    },
                    effects: vec![Effect::Statement {
                        key: key.public_key(),
                        issued_at: issued,
                        works: vec![work],
                    }],
                }
            })
            .collect();
        last = appends.last().map_or(last, |a| a.doc.received_at);
        let mut tx = store.begin_append().await?;
        let mut growth = writer.begin(tx.as_mut()).await?;
        let seqs = tx.append(&appends).await?;
        let docs: Vec<&Document> = appends.iter().map(|a| &a.doc).collect();
        writer.grow(tx.as_mut(), &mut growth, &seqs, &docs).await?;
        writer.seal(tx.as_mut(), &growth, &[]).await?;
        tx.commit().await?;
        done += count;
    }
    println!(
        "startup {backend}: wrote {n} entries in {:.0} s",
        written.elapsed().as_secs_f64()
    );
    let floor = || async {
        let t = Instant::now();
        let mut at = 0u64;
        let mut bytes = 0usize;
        loop {
            let page = store.documents_from(at, 512).await?;
            if page.is_empty() {
                break;
            }
            at += page.len() as u64;
            bytes += page.iter().map(|d| d.doc.payload.len()).sum::<usize>();
        }
        assert_eq!(at, n);
        anyhow::Ok((t.elapsed(), bytes))
    };
    let (before, bytes) = floor().await?;
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let rss_before = rss();
    let t = Instant::now();
    let reg = Registry::new(store.clone(), log()?).await?;
    let start = t.elapsed();
    let rss_after = rss();
    drop(reg);
    let (after, _) = floor().await?;
    let floor_secs = (before.as_secs_f64() + after.as_secs_f64()) / 2.0;
    println!(
        "startup {backend}: {n} entries ({} MiB of payloads): checked start {:.1} s; floor (read every document) {:.1} s before, {:.1} s after; ratio {:.2} x the floor; RSS grew {} MiB",
        bytes >> 20,
        start.as_secs_f64(),
        before.as_secs_f64(),
        after.as_secs_f64(),
        start.as_secs_f64() / floor_secs,
        rss_after.saturating_sub(rss_before) >> 10
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let parts =
        std::env::var("BENCH_PARTS").unwrap_or_else(|_| "append,proofs,audit,audit-http".into());
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "machine: {} cores; {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::env::consts::ARCH
    );
    for part in parts.split(',') {
        match part {
            "audit" => bench_audit()?,
            "audit-http" => rt.block_on(bench_audit_http())?,
            "startup" => {
                for backend in backends.split(',') {
                    rt.block_on(bench_startup(backend))?;
                }
            }
            "append" | "proofs" => {
                for backend in backends.split(',') {
                    if part == "append" {
                        rt.block_on(bench_append(backend))?;
                    } else {
                        rt.block_on(bench_proofs(backend))?;
                    }
                }
            }
            other => anyhow::bail!("unknown part {other}"),
        }
    }
    Ok(())
}
