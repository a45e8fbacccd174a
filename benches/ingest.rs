//! Registry core benchmark: ingest rate over HTTP against bare
//! `verify_strict` on all cores, and single-work GET latency with a large
//! registry. Prints figures; asserts nothing. See docs/performance.md.
//!
//! `cargo bench --bench ingest` runs both backends. Environment:
//! `BENCH_BACKENDS` (sqlite,postgres), `BENCH_BATCHES` (ingest batches of
//! 10,000, default 5), `BENCH_WORKS` (registry size for GET, default
//! 1,000,000), `BENCH_GETS` (GET requests, default 20,000),
//! `CONSENTRY_TEST_POSTGRES_URL`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::{json, Value};

use consentry::cli::client::Client;
use consentry::crypto::{pae, Envelope, PayloadType, SecretKey};
use consentry::domain::consent::{ConsentDeclaration, Shorthand};
use consentry::domain::documents::FORMAT_VERSION;
use consentry::domain::{ContentHash, Statement, Timestamp, Work};

const BATCH: usize = 10_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Signs a statement the way the CLI does: the payload is the compact
/// serialisation of the typed statement.
fn statement(key: &SecretKey, works: &[ContentHash], issued_at: Timestamp) -> Envelope {
    let statement = Statement {
        version: FORMAT_VERSION,
        key: key.public_key().to_string(),
        works: works
            .iter()
            .map(|h| Work {
                hash: *h,
                media_type: None,
                title: None,
                published_at: None,
                fingerprints: Vec::new(),
            })
            .collect(),
        consent: ConsentDeclaration::Shorthand(Shorthand::OptOut),
        terms: Vec::new(),
        issued_at,
    };
    Envelope::sign(
        PayloadType::Statement,
        &serde_json::to_vec(&statement).unwrap_or_default(),
        &[key],
    )
}

fn work(seed: u64, n: u64) -> ContentHash {
    ContentHash::of(&[seed.to_le_bytes(), n.to_le_bytes()].concat())
}

/// Bare verification of the same signatures on all cores: the baseline.
fn baseline_verify_rate(envs: &[Envelope]) -> f64 {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let prepared: Vec<(
        ed25519_dalek::VerifyingKey,
        Vec<u8>,
        ed25519_dalek::Signature,
    )> = envs
        .iter()
        .map(|e| {
            let key: [u8; 32] = hex::decode(&e.signatures[0].keyid[8..])
                .unwrap_or_default()
                .try_into()
                .unwrap_or([0; 32]);
            let payload = b64.decode(&e.payload).unwrap_or_default();
            let sig = ed25519_dalek::Signature::from_slice(
                &b64.decode(&e.signatures[0].sig).unwrap_or_default(),
            )
            .unwrap_or(ed25519_dalek::Signature::from_bytes(&[0; 64]));
            (
                ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap_or_else(|_| unreachable!()),
                pae(PayloadType::Statement.as_str(), &payload),
                sig,
            )
        })
        .collect();
    let start = Instant::now();
    let ok = prepared
        .par_iter()
        .filter(|(k, m, s)| k.verify_strict(m, s).is_ok())
        .count();
    let elapsed = start.elapsed();
    assert_eq!(ok, prepared.len());
    prepared.len() as f64 / elapsed.as_secs_f64()
}

struct Running {
    base: String,
    state: consentry::http::AppState,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

async fn start(backend: &str) -> anyhow::Result<Running> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn consentry::store::Store> = match backend {
        "sqlite" => {
            consentry::store::open(&format!(
                "sqlite://{}",
                dir.path().join("bench.db").display()
            ))
            .await?
        }
        _ => {
            let url = std::env::var("CONSENTRY_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("bench_{}", std::process::id());
            let pool = sqlx::PgPool::connect(&url).await?;
            sqlx::query(&format!("drop schema if exists \"{schema}\" cascade"))
                .execute(&pool)
                .await?;
            pool.close().await;
            Arc::new(consentry::store::postgres::PgStore::open_in_schema(&url, &schema).await?)
        }
    };
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = consentry::http::router(state.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Running {
        base,
        state,
        _dir: dir,
        task,
    })
}

async fn artist(base: &str, key: &SecretKey) -> anyhow::Result<Client> {
    let mut client = Client::new(base)?;
    let payload = json!({ "version": 1, "key": key.public_key().to_string(), "display_name": "Bench", "issued_at": Timestamp::now() });
    client
        .post(
            "/v1/artists",
            &Envelope::sign(PayloadType::Artist, &serde_json::to_vec(&payload)?, &[key]),
        )
        .await?;
    client.login(key).await?;
    Ok(client)
}

/// CPU seconds used so far by this process, and by every `postgres` process
/// (the database server), from /proc; zeros where /proc is missing.
fn cpu_seconds() -> (f64, f64) {
    fn ticks(stat: &str) -> Option<f64> {
        let after = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
    }
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .unwrap_or(0.0);
    let mut db = 0.0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let path = entry.path();
            if std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == "postgres") {
                db += std::fs::read_to_string(path.join("stat"))
                    .ok()
                    .and_then(|s| ticks(&s))
                    .unwrap_or(0.0);
            }
        }
    }
    (own, db)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn bench_backend(backend: &str) -> anyhow::Result<()> {
    println!("\n== backend: {backend} ==");
    let sequential = env_usize("BENCH_BATCHES", 4);
    let clients = env_usize("BENCH_CLIENTS", 4);
    let key = SecretKey::generate();
    let issued = Timestamp::now().plus_secs(-60);
    // Batches for: the sequential run, the concurrent run, the in-process breakdown.
    let total_batches = sequential + clients + 1;
    let all: Vec<Vec<Envelope>> = (0..total_batches)
        .map(|b| {
            (0..BATCH)
                .into_par_iter()
                .map(|n| statement(&key, &[work(b as u64, n as u64)], issued))
                .collect()
        })
        .collect();
    let flat: Vec<Envelope> = all.iter().flatten().cloned().collect();
    let baseline = baseline_verify_rate(&flat);
    drop(flat);

    let server = start(backend).await?;
    let client = Arc::new(artist(&server.base, &key).await?);

    // One client, batches one after another.
    let (cpu0, db0) = cpu_seconds();
    let t = Instant::now();
    for batch in &all[..sequential] {
        let r = client.submit_statements(batch).await?;
        assert_eq!(r["created"].as_u64(), Some(BATCH as u64));
    }
    let seq_elapsed = t.elapsed();
    let (cpu1, db1) = cpu_seconds();
    let seq_rate = (sequential * BATCH) as f64 / seq_elapsed.as_secs_f64();

    // Several clients at once: checking one batch overlaps writing another.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for batch in &all[sequential..sequential + clients] {
        let (client, batch) = (Arc::clone(&client), batch.clone());
        tasks.push(tokio::spawn(async move {
            client.submit_statements(&batch).await
        }));
    }
    for task in tasks {
        let r = task.await??;
        assert_eq!(r["created"].as_u64(), Some(BATCH as u64));
    }
    let conc_rate = (clients * BATCH) as f64 / t.elapsed().as_secs_f64();

    // Where the time of one batch goes, measured in-process on a fresh batch.
    let last = &all[total_batches - 1];
    let body = serde_json::to_vec(&json!({ "statements": last }))?;
    let t = Instant::now();
    let parsed: Value = serde_json::from_slice(&body)?;
    let parse = t.elapsed();
    drop(parsed);
    let t = Instant::now();
    let verified = consentry::registry::verify_statements(last)
        .iter()
        .filter(|r| r.is_ok())
        .count();
    let check = t.elapsed();
    assert_eq!(verified, BATCH);
    let registry_artist = server.state.registry.key_holder(&key.public_key()).await?;
    let Some(consentry::registry::KeyHolder::Artist(record)) = registry_artist else {
        anyhow::bail!("artist missing")
    };
    // The registry's two state reads, timed alone on the same batch.
    let ids: Vec<String> = last
        .iter()
        .filter_map(|e| consentry::registry::verify_statement(e).ok())
        .collect();
    let works: Vec<ContentHash> = (0..BATCH as u64)
        .map(|n| work(total_batches as u64 - 1, n))
        .collect();
    let t = Instant::now();
    server.state.registry.store().documents_by_id(&ids).await?;
    server
        .state
        .registry
        .store()
        .artist_claims(&record.artist_id, &works)
        .await?;
    let reads = t.elapsed();
    let t = Instant::now();
    server
        .state
        .registry
        .submit_statements(&record.artist_id, last.clone())
        .await?;
    let in_process = t.elapsed();
    let per_batch_seq = seq_elapsed / sequential as u32;
    // The consent index's share of a write: parsing the batch's payloads
    // for the index (in parallel, as the write path does) and applying them.
    let index_cost = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let payloads: Vec<Vec<u8>> = last
            .iter()
            .map(|e| b64.decode(&e.payload).unwrap_or_default())
            .collect();
        let mut index = consentry::index::ConsentIndex::new();
        let reg = serde_json::to_vec(
            &json!({ "version": 1, "key": key.public_key().to_string(), "display_name": "Bench", "issued_at": Timestamp::now() }),
        )?;
        index.apply(
            0,
            consentry::log::entry::EntryKind::Artist,
            Timestamp::now(),
            &reg,
        )?;
        let t = Instant::now();
        let parsed: Vec<_> = payloads
            .par_iter()
            .map(|p| consentry::index::parse(consentry::log::entry::EntryKind::Statement, p))
            .collect();
        for (i, p) in parsed.into_iter().enumerate() {
            let p = p.map_err(anyhow::Error::msg)?;
            index.apply_parsed(i as u64 + 1, Timestamp::now(), p)?;
        }
        t.elapsed()
    };

    println!("bare verify_strict, all cores:            {baseline:>8.0} signatures/s  (baseline)");
    println!(
        "ingest over HTTP, 1 client, batches of {BATCH}: {seq_rate:>8.0} statements/s  ratio {:.2}",
        seq_rate / baseline
    );
    println!("ingest over HTTP, {clients} concurrent clients:       {conc_rate:>8.0} statements/s  ratio {:.2}", conc_rate / baseline);
    println!(
        "  one batch, 1 client: {:.0} ms = HTTP + request/response JSON {:.0} ms + registry {:.0} ms \
         (of which checks on all cores {:.0} ms, state reads {:.0} ms, insert + commit {:.0} ms); body parse alone {:.0} ms",
        per_batch_seq.as_secs_f64() * 1e3,
        per_batch_seq.saturating_sub(in_process).as_secs_f64() * 1e3,
        in_process.as_secs_f64() * 1e3,
        check.as_secs_f64() * 1e3,
        reads.as_secs_f64() * 1e3,
        in_process.saturating_sub(check + reads).as_secs_f64() * 1e3,
        parse.as_secs_f64() * 1e3,
    );
    println!(
        "  consent index upkeep for one batch (parse on all cores + apply): {:.0} ms ({:.1} % of the in-process registry time)",
        index_cost.as_secs_f64() * 1e3,
        index_cost.as_secs_f64() / in_process.as_secs_f64() * 100.0
    );
    println!(
        "  CPU per batch, 1 client: this process (client + server) {:.0} ms, database server processes {:.0} ms; \
         bare verification of a batch is {:.0} ms",
        (cpu1 - cpu0) * 1e3 / sequential as f64,
        (db1 - db0) * 1e3 / sequential as f64,
        BATCH as f64 / baseline * 2.0 * 1e3,
    );
    let batches = total_batches;

    // Grow the registry to BENCH_WORKS works with multi-work statements, then time GETs.
    let target = env_usize("BENCH_WORKS", 1_000_000);
    let mut registered = batches * BATCH;
    let t = Instant::now();
    let mut seed = 1_000u64;
    while registered < target {
        let per_request = (target - registered).min(100_000);
        let works: Vec<ContentHash> = (0..per_request as u64).map(|n| work(seed, n)).collect();
        let envs: Vec<Envelope> = works
            .par_chunks(consentry::domain::documents::MAX_WORKS_PER_STATEMENT)
            .map(|c| statement(&key, c, issued))
            .collect();
        client.submit_statements(&envs).await?;
        registered += per_request;
        seed += 1;
    }
    println!(
        "registry grown to {registered} works in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let gets = env_usize("BENCH_GETS", 20_000);
    let http = reqwest::Client::new();
    // Warm-up.
    for n in 0..200u64 {
        http.get(format!("{}/v1/works/{}", server.base, work(0, n)))
            .send()
            .await?
            .bytes()
            .await?;
    }
    let mut lat = Vec::with_capacity(gets);
    for n in 0..gets as u64 {
        let b = n % batches as u64;
        let w = work(b, (n * 7919) % BATCH as u64);
        let t = Instant::now();
        let r = http
            .get(format!("{}/v1/works/{w}", server.base))
            .send()
            .await?;
        let status = r.status();
        r.bytes().await?;
        lat.push(t.elapsed());
        assert!(status.is_success());
    }
    lat.sort();
    println!(
        "GET /v1/works/{{hash}} with {registered} works, {gets} sequential requests: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    server.task.abort();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("BENCH_PROFILE_CHECKS").is_some() {
        // A loop of statement checks alone, for profilers.
        let key = SecretKey::generate();
        let batch: Vec<Envelope> = (0..BATCH as u64)
            .map(|n| statement(&key, &[work(0, n)], Timestamp::now()))
            .collect();
        for _ in 0..10 {
            let ok = batch
                .iter()
                .filter(|e| consentry::registry::verify_statement(e).is_ok())
                .count();
            assert_eq!(ok, BATCH);
        }
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "consentry ingest benchmark; {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for backend in backends.split(',') {
        rt.block_on(bench_backend(backend.trim()))?;
    }
    Ok(())
}
