//! Bulk check benchmark (issue: bulk consent check). Prints figures;
//! asserts nothing. See docs/performance.md.
//!
//! Part `check`: a registry of 1,000,000 and 10,000,000 registered works
//! (500-work statements by 100 artists, mixed consent), written straight
//! into the store and loaded the way the server starts. Then 4 concurrent
//! clients over loopback send `POST /v1/check` bodies of 10,000 hashes, 10%
//! of them registered, for a fixed time: full answers, compact answers and
//! `as_of` answers. The floor, driven the same way in the same run, is an
//! axum handler that parses the same bodies and looks the hashes up in an
//! in-memory `HashMap`, answering one status letter per hash.
//!
//! Part `runs`: on the same registry, training-run reports
//! (`POST /v1/runs`) of 10,000, 100,000 and 1,000,000 registered works,
//! each timed against a full-JSON `POST /v1/check` of the same hashes (the
//! baseline, up to its 100,000-hash limit), one request at a time.
//!
//! Part `hash`: 10,000 files of 200 KiB hashed by `consentry check`'s
//! hasher (whole-file BLAKE3, parallel over files) and by `b3sum` (one file
//! at a time), page cache warm for both.
//!
//! Part `signals` (not run by default): what reading in-file consent
//! signals (C2PA, XMP) costs `consentry check`'s local phase: 10,000 JPEGs
//! of 512 x 384 without metadata, hashed and fingerprinted (the default
//! near matching) and hashed alone (`--match exact`), each with and without
//! signals, alternating, best of 3; then 10,000 JPEGs with an IPTC XMP
//! packet and 1,000 with a signed C2PA manifest (certificate made with the
//! `openssl` command), with signals.
//!
//! Part `replica` (not run by default): on the same registry, a read-only
//! replica (`serve --read-only`) opened on the same database beside the
//! primary: how fast it loads its index (works/s, from SQLite and from
//! PostgreSQL), then compact checks driven at the primary and at the
//! replica in turn (primary, replica, primary, replica), the replica's rate
//! against the primary's.
//!
//! Part `shards` (not run by default): on the same registry, one unsharded
//! replica and three shards (`serve --read-only --shard i/3`), all over the
//! same database: each shard's index (works, bytes, load time) against the
//! unsharded one's, then compact checks of the same hash lists sent whole
//! to the one node, and split by shard to the three at once (one request
//! each, at one named checkpoint) and merged, in turn: the merged rate
//! against the one node's. All four run on this machine's cores, so the
//! merged rate measures the cost of splitting, not the gain of more
//! machines.
//!
//! Environment: `BENCH_PARTS` (check,runs,hash; add signals, replica, shards), `BENCH_BACKENDS`
//! (sqlite,postgres), `BENCH_SIZES` (1000000,10000000), `BENCH_SECS`
//! (seconds per measurement, 10), `BENCH_CLIENTS` (4), `BENCH_FILES`
//! (10000), `CONSENTRY_TEST_POSTGRES_URL`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use consentry::crypto::{pae, PayloadType, SecretKey};
use consentry::domain::consent::{ConsentDeclaration, PerCategory, Shorthand};
use consentry::domain::documents::FORMAT_VERSION;
use consentry::domain::{ArtistRegistration, ContentHash, Preference, Statement, Timestamp, Work};
use consentry::store::{Append, Document, DocumentKind, Effect, Store};

const HASHES_PER_REQUEST: usize = 10_000;
const WORKS_PER_STATEMENT: usize = 500;
const ARTISTS: usize = 100;
/// Distinct request bodies per mode, sent round-robin.
const BODIES: usize = 8;

fn env_str(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn postgres_url() -> String {
    env_str(
        "CONSENTRY_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

/// Registered work number `n`.
fn work(n: u64) -> ContentHash {
    ContentHash::of(format!("bench work {n}").as_bytes())
}

fn unregistered(n: u64) -> ContentHash {
    ContentHash::of(format!("unregistered {n}").as_bytes())
}

fn consent(i: usize) -> ConsentDeclaration {
    match i % 10 {
        0..=4 => ConsentDeclaration::Shorthand(Shorthand::OptOut),
        5 | 6 => ConsentDeclaration::Shorthand(Shorthand::OptIn),
        7 | 8 => ConsentDeclaration::PerCategory(PerCategory {
            train_ai: Some(Preference::Disallowed),
            search: Some(Preference::Allowed),
            ..Default::default()
        }),
        _ => ConsentDeclaration::PerCategory(PerCategory {
            tdm: Some(Preference::Disallowed),
            ..Default::default()
        }),
    }
}

fn signed_doc(
    kind: DocumentKind,
    ptype: PayloadType,
    artist_id: &str,
    payload: Vec<u8>,
    key: &SecretKey,
    received_at: Timestamp,
) -> Document {
    let sig = key.sign(&pae(ptype.as_str(), &payload));
    let id = hex::encode(Sha256::digest(&payload));
    Document {
        id: id.clone(),
        kind,
        artist_id: if artist_id.is_empty() {
            id
        } else {
            artist_id.to_owned()
        },
        payload_type: ptype.as_str().to_owned(),
        signatures: vec![consentry::log::entry::EntrySignature {
            key: key.public_key().to_bytes(),
            sig,
        }],
        payload,
        received_at,
    }
}

/// Writes `works` registered works straight into the store (the registry's
/// checks are not what is measured here); returns the receipt time in the
/// middle of the history, for `as_of` questions.
async fn populate(store: &Arc<dyn Store>, works: usize) -> anyhow::Result<Timestamp> {
    let t = Instant::now();
    let keys: Vec<SecretKey> = (0..ARTISTS)
        .map(|i| SecretKey::from_seed(&[u8::try_from(i % 250).unwrap_or(0) + 1; 32]))
        .collect();
    let start = Timestamp::now().plus_secs(-400 * 24 * 3600).unix_nanos();
    let statements_total = (works / WORKS_PER_STATEMENT).max(1) as i64;
    // Spread over the 400 days (for the statistics part), never closer than 1 ms.
    let step = (400 * 86_400_000_000_000 / (statements_total + ARTISTS as i64)).max(1_000_000);
    let mut clock: i64 = 0;
    let mut next_time = || {
        clock += step;
        Timestamp::from_unix_nanos(start + clock)
    };
    let mut artist_ids = Vec::new();
    let mut appends = Vec::new();
    for k in &keys {
        let payload = serde_json::to_vec(&ArtistRegistration {
            version: FORMAT_VERSION,
            key: k.public_key().to_string(),
            display_name: "Bench Artist".into(),
            issued_at: Timestamp::from_unix_nanos(start),
        })?;
        let doc = signed_doc(
            DocumentKind::Artist,
            PayloadType::Artist,
            "",
            payload,
            k,
            next_time(),
        );
        artist_ids.push(doc.id.clone());
        appends.push(Append {
            doc,
            effects: vec![Effect::ArtistCreated {
                display_name: "Bench Artist".into(),
                key: k.public_key(),
            }],
        });
    }
    store.append(&appends).await?;
    let statements = works / WORKS_PER_STATEMENT;
    let times: Vec<Timestamp> = (0..statements).map(|_| next_time()).collect();
    let middle = times[statements / 2];
    const CHUNK: usize = 200;
    for chunk_start in (0..statements).step_by(CHUNK) {
        let range = chunk_start..(chunk_start + CHUNK).min(statements);
        let appends: Vec<Append> = range
            .into_par_iter()
            .map(|s| {
                let a = s % ARTISTS;
                let key = &keys[a];
                let hashes: Vec<ContentHash> = (0..WORKS_PER_STATEMENT)
                    .map(|w| work((s * WORKS_PER_STATEMENT + w) as u64))
                    .collect();
                let statement = Statement {
                    version: FORMAT_VERSION,
                    key: key.public_key().to_string(),
                    works: hashes
                        .iter()
                        .map(|h| Work {
                            hash: *h,
                            media_type: None,
                            title: None,
                            published_at: None,
                            fingerprints: Vec::new(),
                        })
                        .collect(),
                    consent: consent(s),
                    terms: Vec::new(),
                    issued_at: Timestamp::from_unix_nanos(times[s].unix_nanos() - 1_000),
                };
                let payload = serde_json::to_vec(&statement).unwrap_or_default();
                Append {
                    doc: signed_doc(
                        DocumentKind::Statement,
                        PayloadType::Statement,
                        &artist_ids[a],
                        payload,
                        key,
                        times[s],
                    ),
                    effects: vec![Effect::Statement {
                        key: key.public_key(),
                        issued_at: statement.issued_at,
                        works: hashes,
                    }],
                }
            })
            .collect();
        store.append(&appends).await?;
    }
    println!(
        "populated {works} works in {statements} statements by {ARTISTS} artists in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(middle)
}

async fn fresh_store(backend: &str) -> anyhow::Result<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = if backend == "sqlite" {
        consentry::store::open(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .await?
    } else {
        let schema = format!("bench_check_{}", std::process::id());
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

async fn drop_schema(backend: &str) {
    if backend != "sqlite" {
        if let Ok(pool) = sqlx::PgPool::connect(&postgres_url()).await {
            let schema = format!("bench_check_{}", std::process::id());
            let _ = sqlx::query(&format!("drop schema if exists \"{schema}\" cascade"))
                .execute(&pool)
                .await;
        }
    }
}

/// Hash lists: 10,000 hashes each, every tenth one registered.
fn hash_lists(works: usize) -> Vec<Vec<ContentHash>> {
    (0..BODIES)
        .map(|b| {
            (0..HASHES_PER_REQUEST)
                .map(|i| {
                    let n = (b * HASHES_PER_REQUEST + i) as u64;
                    if i % 10 == 0 {
                        // Spread over the whole registry.
                        work(n.wrapping_mul(2_654_435_761) % works as u64)
                    } else {
                        unregistered(n)
                    }
                })
                .collect()
        })
        .collect()
}

/// A check request's body for `hashes`, with the members of `extra`.
fn body_of(hashes: &[ContentHash], extra: &serde_json::Value) -> Bytes {
    let mut body = json!({ "purpose": "train-ai", "hashes": hashes });
    if let (Some(o), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// Request bodies of [`hash_lists`].
fn bodies(works: usize, extra: serde_json::Value) -> Vec<Bytes> {
    hash_lists(works)
        .iter()
        .map(|hashes| body_of(hashes, &extra))
        .collect()
}

struct Load {
    hashes_per_sec: f64,
    requests: usize,
    errors: usize,
    p50: Duration,
    p99: Duration,
    response_bytes: usize,
}

/// `clients` tasks post `bodies` round-robin to `url` for `secs` seconds
/// (after one second of warm-up), each reading the whole response.
async fn drive(
    url: &str,
    token: Option<&str>,
    bodies: &[Bytes],
    clients: usize,
    secs: u64,
) -> Load {
    let bodies = Arc::new(bodies.to_vec());
    let run = |measure: Duration| {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (url, token, bodies) = (
                url.to_owned(),
                token.map(str::to_owned),
                Arc::clone(&bodies),
            );
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut lat = Vec::new();
                let (mut errors, mut bytes) = (0, 0);
                let deadline = Instant::now() + measure;
                let mut i = c;
                while Instant::now() < deadline {
                    let mut req = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(bodies[i % bodies.len()].clone());
                    if let Some(t) = &token {
                        req = req.bearer_auth(t);
                    }
                    let t = Instant::now();
                    match req.send().await {
                        Ok(r) if r.status().is_success() => match r.bytes().await {
                            Ok(b) => {
                                bytes = b.len();
                                lat.push(t.elapsed());
                            }
                            Err(_) => errors += 1,
                        },
                        _ => errors += 1,
                    }
                    i += clients;
                }
                (lat, errors, bytes)
            }));
        }
        tasks
    };
    for t in run(Duration::from_secs(1)) {
        let _ = t.await;
    }
    let started = Instant::now();
    let mut lat = Vec::new();
    let (mut errors, mut bytes) = (0, 0);
    for t in run(Duration::from_secs(secs)) {
        if let Ok((l, e, b)) = t.await {
            lat.extend(l);
            errors += e;
            bytes = bytes.max(b);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Load {
        hashes_per_sec: (lat.len() * HASHES_PER_REQUEST) as f64 / elapsed,
        requests: lat.len(),
        errors,
        p50: pct(0.5),
        p99: pct(0.99),
        response_bytes: bytes,
    }
}

#[derive(Deserialize)]
struct FloorBody<'a> {
    #[serde(borrow)]
    #[allow(dead_code)]
    purpose: Cow<'a, str>,
    #[serde(borrow)]
    hashes: Vec<Cow<'a, str>>,
}

/// The floor: parse the same body, look each hash up, one letter per hash.
async fn floor(State(map): State<Arc<HashMap<[u8; 32], u8>>>, body: Bytes) -> String {
    let Ok(req) = serde_json::from_slice::<FloorBody<'_>>(&body) else {
        return String::new();
    };
    let mut out = String::with_capacity(req.hashes.len() + 16);
    out.push_str("{\"statuses\":\"");
    for h in &req.hashes {
        let status = h
            .parse::<ContentHash>()
            .ok()
            .and_then(|h| map.get(h.as_bytes()).copied())
            .unwrap_or(b'u');
        out.push(char::from(status));
    }
    out.push_str("\"}");
    out
}

fn report(name: &str, l: &Load, floor: f64) {
    println!(
        "  {name:<28} {:>12.0} hashes/s  {:>5.2}x floor  p50 {:>6.1} ms  p99 {:>6.1} ms  ({} requests, {} errors, {} KiB per response)",
        l.hashes_per_sec,
        l.hashes_per_sec / floor,
        l.p50.as_secs_f64() * 1e3,
        l.p99.as_secs_f64() * 1e3,
        l.requests,
        l.errors,
        l.response_bytes / 1024
    );
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

async fn bench_check(backend: &str, works: usize) -> anyhow::Result<()> {
    println!("\n== check: {backend}, {works} registered works ==");
    let secs = env_usize("BENCH_SECS", 10) as u64;
    let clients = env_usize("BENCH_CLIENTS", 4);
    let (store, dir) = fresh_store(backend).await?;
    let middle = populate(&store, works).await?;

    let rss0 = rss_bytes();
    let t = Instant::now();
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
    let startup = t.elapsed();
    let fp = state.registry.with_index(|s| s.index.footprint());
    println!(
        "startup (log backfill + index load): {:.1} s; index: {} works, {} statements; works part {} bytes ({:.1} B/work), statements/keys/artists {} bytes ({:.1} B/work); process RSS grew {} MiB",
        startup.as_secs_f64(),
        fp.works,
        fp.statements,
        fp.work_bytes,
        fp.work_bytes as f64 / fp.works.max(1) as f64,
        fp.statement_bytes,
        fp.statement_bytes as f64 / fp.works.max(1) as f64,
        rss_bytes().saturating_sub(rss0) / (1024 * 1024)
    );

    let builder = SecretKey::generate();
    let record = state
        .registry
        .create_builder("Bench Lab", builder.public_key())
        .await?;
    let (token, _) = state.auth.issue(
        consentry::auth::Role::Builder,
        &record.builder_id,
        &builder.public_key(),
    )?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = consentry::http::router(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    // The floor: the same bodies against a HashMap of the same works.
    let map: HashMap<[u8; 32], u8> = (0..works as u64)
        .into_par_iter()
        .map(|n| (*work(n).as_bytes(), b'd'))
        .collect();
    let floor_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let floor_url = format!("http://{}/floor", floor_listener.local_addr()?);
    let floor_router = axum::Router::new()
        .route("/floor", axum::routing::post(floor))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(Arc::new(map));
    let floor_server = tokio::spawn(async move {
        let _ = axum::serve(floor_listener, floor_router).await;
    });

    let parts = env_str("BENCH_PARTS", "check,runs,hash");
    if parts.contains("runs") {
        bench_runs(&base, &token, works).await?;
    }
    if parts.contains("replica") {
        bench_replica(
            backend,
            &dir,
            &registry_key,
            &token,
            &base,
            works,
            clients,
            secs,
        )
        .await?;
    }
    if parts.contains("shards") {
        bench_shards(backend, &dir, &registry_key, &token, works, clients, secs).await?;
    }
    if !parts.contains("check") {
        server.abort();
        floor_server.abort();
        drop(state);
        drop_schema(backend).await;
        return Ok(());
    }
    let url = format!("{base}/v1/check");
    let full = bodies(works, json!({}));
    let compact = bodies(works, json!({ "mode": "compact" }));
    let as_of = bodies(
        works,
        json!({ "mode": "compact", "as_of": middle.to_string() }),
    );
    let as_of_full = bodies(works, json!({ "as_of": middle.to_string() }));
    println!(
        "{clients} clients, {HASHES_PER_REQUEST} hashes per request (10% registered), {secs} s each; request body {} KiB",
        full[0].len() / 1024
    );
    let f = drive(&floor_url, None, &compact, clients, secs).await;
    report("floor (HashMap, compact)", &f, f.hashes_per_sec);
    let c = drive(&url, Some(&token), &compact, clients, secs).await;
    report("check, compact", &c, f.hashes_per_sec);
    let j = drive(&url, Some(&token), &full, clients, secs).await;
    report("check, full JSON", &j, f.hashes_per_sec);
    let a = drive(&url, Some(&token), &as_of, clients, secs).await;
    report("check as_of, compact", &a, f.hashes_per_sec);
    let af = drive(&url, Some(&token), &as_of_full, clients, secs).await;
    report("check as_of, full JSON", &af, f.hashes_per_sec);
    let f2 = drive(&floor_url, None, &compact, clients, secs).await;
    report("floor again (drift check)", &f2, f.hashes_per_sec);

    // Statistics (GET /v1/stats/uploads): weekly, over the 400 days.
    let today = time::OffsetDateTime::now_utc().date();
    let q = |cap: u32| {
        format!(
            "{base}/v1/stats/uploads?basis=registered&bucket=week&cap={cap}&from={}&to={today}&cutoff={}",
            today - time::Duration::days(401),
            today - time::Duration::days(200)
        )
    };
    let http = reqwest::Client::new();
    let mut misses = Vec::new();
    for cap in 0..10u32 {
        let t = Instant::now();
        let r = http.get(q(cap)).send().await?;
        assert!(r.status().is_success(), "stats: {}", r.status());
        r.bytes().await?;
        misses.push(t.elapsed());
    }
    let mut hits = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        http.get(q(1)).send().await?.bytes().await?;
        hits.push(t.elapsed());
    }
    misses.sort();
    hits.sort();
    println!(
        "stats, weekly over 400 days, {works} works: computed (10 queries) median {:.1} ms, max {:.1} ms; cached (50) median {:.2} ms, max {:.2} ms",
        misses[misses.len() / 2].as_secs_f64() * 1e3,
        misses[misses.len() - 1].as_secs_f64() * 1e3,
        hits[hits.len() / 2].as_secs_f64() * 1e3,
        hits[hits.len() - 1].as_secs_f64() * 1e3
    );

    server.abort();
    floor_server.abort();
    drop(state);
    drop_schema(backend).await;
    Ok(())
}

/// A replica beside the primary: its index load, and its check rate
/// against the primary's, alternating.
#[allow(clippy::too_many_arguments)]
async fn bench_replica(
    backend: &str,
    dir: &tempfile::TempDir,
    registry_key: &SecretKey,
    token: &str,
    primary_base: &str,
    works: usize,
    clients: usize,
    secs: u64,
) -> anyhow::Result<()> {
    let (replica_base, server, _) =
        serve_replica(backend, dir, registry_key, Some(primary_base), None).await?;
    let compact = bodies(works, json!({ "mode": "compact" }));
    let primary_url = format!("{primary_base}/v1/check");
    let replica_url = format!("{replica_base}/v1/check");
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..2 {
        for (i, url) in [&primary_url, &replica_url].into_iter().enumerate() {
            let l = drive(url, Some(token), &compact, clients, secs).await;
            println!(
                "round {}: {} compact checks: {:.0} hashes/s",
                round + 1,
                if i == 0 { "primary" } else { "replica" },
                l.hashes_per_sec
            );
            rates[i].push(l.hashes_per_sec);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "replica / primary check rate ({backend}, {works} works): {:.3}",
        mean(&rates[1]) / mean(&rates[0])
    );
    server.abort();
    Ok(())
}

/// The primary's database, as a replica reaches it.
fn replica_url(backend: &str, dir: &tempfile::TempDir) -> String {
    if backend == "sqlite" {
        format!("sqlite://{}", dir.path().join("bench.db").display())
    } else {
        let schema = format!("bench_check_{}", std::process::id());
        format!("{}?options=-c%20search_path%3D{schema}", postgres_url())
    }
}

/// Opens a read-only replica (of `shard`, if given) over the primary's
/// database, reports its index load, and serves it; returns its base URL,
/// its server task and its index footprint.
async fn serve_replica(
    backend: &str,
    dir: &tempfile::TempDir,
    registry_key: &SecretKey,
    primary_base: Option<&str>,
    shard: Option<consentry::index::Shard>,
) -> anyhow::Result<(
    String,
    tokio::task::JoinHandle<()>,
    consentry::index::Footprint,
)> {
    let store = consentry::store::open_read_only(&replica_url(backend, dir)).await?;
    let t = Instant::now();
    let replica = consentry::server::replica_app_state(
        store,
        registry_key,
        None,
        "bench",
        "bench/log",
        consentry::http::limits::LimitConfig::no_rate_limit(),
        consentry::http::ReadOnly {
            primary: primary_base.map(str::to_owned),
            shard,
        },
    )
    .await?;
    let load = t.elapsed().as_secs_f64();
    let (documents, fp) = replica
        .registry
        .with_index(|s| (s.index.size(), s.index.footprint()));
    println!(
        "{} start ({backend}): index of {} works ({documents} documents; works part {:.1} MiB, {:.1} B/work) loaded and checked against the log in {load:.2} s: {:.0} works/s",
        shard.map_or_else(|| "replica".to_owned(), |s| format!("shard {s}")),
        fp.works,
        fp.work_bytes as f64 / (1024.0 * 1024.0),
        fp.work_bytes as f64 / fp.works.max(1) as f64,
        fp.works as f64 / load
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = consentry::http::router(replica);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((base, server, fp))
}

/// The bytes the registry's database takes: the SQLite files, or every
/// table and index of the PostgreSQL schema.
async fn database_bytes(backend: &str, dir: &tempfile::TempDir) -> anyhow::Result<u64> {
    if backend == "sqlite" {
        let mut total = 0;
        for name in ["bench.db", "bench.db-wal"] {
            total += std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
        }
        return Ok(total);
    }
    let pool = sqlx::PgPool::connect(&replica_url(backend, dir)).await?;
    let bytes: Option<i64> = sqlx::query_scalar(
        "select sum(pg_total_relation_size(c.oid))::bigint from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = current_schema() and c.relkind in ('r', 'm')",
    )
    .fetch_one(&pool)
    .await?;
    Ok(u64::try_from(bytes.unwrap_or(0)).unwrap_or(0))
}

/// `clients` tasks send request sets round-robin for `secs` seconds (after
/// one second of warm-up): each set is one body per URL, sent at once, and
/// done when every answer is read. Returns hashes answered per second.
async fn drive_sets(
    urls: &[String],
    token: &str,
    sets: &[Vec<Bytes>],
    clients: usize,
    secs: u64,
) -> (f64, usize) {
    let sets = Arc::new(sets.to_vec());
    let urls = Arc::new(urls.to_vec());
    let run = |measure: Duration| {
        (0..clients)
            .map(|c| {
                let (urls, sets, token) = (Arc::clone(&urls), Arc::clone(&sets), token.to_owned());
                tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    let (mut done, mut errors) = (0usize, 0usize);
                    let deadline = Instant::now() + measure;
                    let mut i = c;
                    while Instant::now() < deadline {
                        let set = &sets[i % sets.len()];
                        let sent = urls.iter().zip(set).map(|(url, body)| {
                            let req = http
                                .post(url)
                                .header("content-type", "application/json")
                                .bearer_auth(&token)
                                .body(body.clone());
                            async move {
                                match req.send().await {
                                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                                    _ => false,
                                }
                            }
                        });
                        if futures_util::future::join_all(sent)
                            .await
                            .iter()
                            .all(|ok| *ok)
                        {
                            done += 1;
                        } else {
                            errors += 1;
                        }
                        i += clients;
                    }
                    (done, errors)
                })
            })
            .collect::<Vec<_>>()
    };
    for t in run(Duration::from_secs(1)) {
        let _ = t.await;
    }
    let started = Instant::now();
    let (mut done, mut errors) = (0, 0);
    for t in run(Duration::from_secs(secs)) {
        if let Ok((d, e)) = t.await {
            done += d;
            errors += e;
        }
    }
    (
        (done * HASHES_PER_REQUEST) as f64 / started.elapsed().as_secs_f64(),
        errors,
    )
}

/// One unsharded replica and three shards over the same database: index
/// sizes and load times, then the same checks sent whole to the one and
/// split to the three, alternating.
async fn bench_shards(
    backend: &str,
    dir: &tempfile::TempDir,
    registry_key: &SecretKey,
    token: &str,
    works: usize,
    clients: usize,
    secs: u64,
) -> anyhow::Result<()> {
    use consentry::index::Shard;
    // What finding a work costs before the table: the keyed BLAKE3 digest
    // the index keys works by, against the SipHash it used to hash them.
    let sample: Vec<[u8; 32]> = (0..1_000_000u64).map(|i| *work(i).as_bytes()).collect();
    let secret = [7u8; 32];
    let t = Instant::now();
    let mut acc = 0u8;
    for h in &sample {
        acc ^= blake3::keyed_hash(&secret, h).as_bytes()[0];
    }
    let digest_ns = t.elapsed().as_secs_f64() * 1e9 / sample.len() as f64;
    let state = std::hash::RandomState::new();
    let t = Instant::now();
    for h in &sample {
        acc ^= std::hash::BuildHasher::hash_one(&state, h) as u8;
    }
    let sip_ns = t.elapsed().as_secs_f64() * 1e9 / sample.len() as f64;
    println!(
        "per work: keyed BLAKE3 digest {digest_ns:.0} ns, SipHash-1-3 {sip_ns:.0} ns (checksum {acc})"
    );
    let (one, one_server, one_fp) = serve_replica(backend, dir, registry_key, None, None).await?;
    let mut shard_urls = Vec::new();
    let mut servers = vec![one_server];
    let mut shard_bytes = 0;
    for i in 0..3 {
        let shard = Shard::new(i, 3).map_err(anyhow::Error::msg)?;
        let (base, server, fp) =
            serve_replica(backend, dir, registry_key, None, Some(shard)).await?;
        shard_urls.push(format!("{base}/v1/check"));
        servers.push(server);
        shard_bytes = shard_bytes.max(fp.work_bytes);
    }
    println!(
        "largest shard's works part / unsharded: {:.3} ({} of {} bytes)",
        shard_bytes as f64 / one_fp.work_bytes.max(1) as f64,
        shard_bytes,
        one_fp.work_bytes
    );
    let size = reqwest::get(format!("{one}/healthz"))
        .await?
        .json::<serde_json::Value>()
        .await?["checkpoint"]["size"]
        .as_u64()
        .unwrap_or(0);
    let db = database_bytes(backend, dir).await?;
    println!(
        "database ({backend}): {:.1} MiB for {size} log entries and {works} works: {:.0} B/entry, {:.1} B/work",
        db as f64 / (1024.0 * 1024.0),
        db as f64 / size.max(1) as f64,
        db as f64 / works.max(1) as f64
    );
    let extra = json!({ "mode": "compact", "checkpoint": size });
    let lists = hash_lists(works);
    let whole: Vec<Vec<Bytes>> = lists.iter().map(|l| vec![body_of(l, &extra)]).collect();
    let split: Vec<Vec<Bytes>> = lists
        .iter()
        .map(|l| {
            (0..3)
                .map(|i| {
                    let mine: Vec<ContentHash> =
                        l.iter().filter(|h| Shard::of(h, 3) == i).copied().collect();
                    body_of(&mine, &extra)
                })
                .collect()
        })
        .collect();
    let one_url = vec![format!("{one}/v1/check")];
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..2 {
        for (i, (urls, sets)) in [(&one_url, &whole), (&shard_urls, &split)]
            .into_iter()
            .enumerate()
        {
            let (rate, errors) = drive_sets(urls, token, sets, clients, secs).await;
            anyhow::ensure!(errors == 0, "{errors} failed checks");
            println!(
                "round {}: {}: {rate:.0} hashes/s",
                round + 1,
                if i == 0 {
                    "one node, whole lists"
                } else {
                    "three shards, lists split and merged"
                }
            );
            rates[i].push(rate);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "three shards / one node check rate ({backend}, {works} works, all on this machine): {:.3}",
        mean(&rates[1]) / mean(&rates[0])
    );
    for s in servers {
        s.abort();
    }
    Ok(())
}

/// Run reports of registered works against full checks of the same hashes.
async fn bench_runs(base: &str, token: &str, works: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut run_no = 0;
    for n in [10_000usize, 100_000, 1_000_000] {
        if n > works {
            continue;
        }
        // n distinct registered works spread over the registry.
        let stride = (works / n).max(1) as u64;
        let hashes: Vec<String> = (0..n as u64)
            .map(|i| work(i * stride).to_string())
            .collect();
        let mut check_ms = Vec::new();
        let mut run_ms = Vec::new();
        let mut run_bytes = 0;
        for _ in 0..3 {
            if n <= HASHES_PER_REQUEST * 10 {
                let body = json!({ "purpose": "train-ai", "hashes": hashes });
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/v1/check"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "check: {}", r.status());
                r.bytes().await?;
                check_ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            run_no += 1;
            let body = json!({
                "run_id": format!("bench-{run_no}"),
                "purpose": "train-ai",
                "pool": { "amount_minor": 100_000_000, "currency": "EUR" },
                "checked_at": Timestamp::now(),
                "works": hashes,
            });
            let t = Instant::now();
            let r = http
                .post(format!("{base}/v1/runs"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status().as_u16() == 201, "run: {}", r.status());
            run_bytes = r.bytes().await?.len();
            run_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let run = median(run_ms);
        if check_ms.is_empty() {
            println!(
                "run report, {n} works: median {run:.0} ms ({:.0} works/s); response {} MiB; no check baseline (over its 100,000-hash limit)",
                n as f64 / (run / 1e3),
                run_bytes / (1024 * 1024)
            );
        } else {
            let check = median(check_ms);
            println!(
                "run report, {n} works: median {run:.0} ms ({:.0} works/s); full check of the same hashes {check:.0} ms; ratio {:.2}x; response {} KiB",
                n as f64 / (run / 1e3),
                run / check,
                run_bytes / 1024
            );
        }
    }
    Ok(())
}

fn bench_hash() -> anyhow::Result<()> {
    let files = env_usize("BENCH_FILES", 10_000);
    println!("\n== local hashing: {files} files of 200 KiB ==");
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("data");
    std::fs::create_dir_all(&root)?;
    (0..files).into_par_iter().try_for_each(|i| {
        let mut data = vec![0u8; 200 * 1024];
        let mut x = (i as u64).wrapping_mul(6_364_136_223_846_793_005) | 1;
        for chunk in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(root.join(format!("{i:05}.bin")), data)
    })?;
    let source = consentry::cli::dataset::detect(std::slice::from_ref(&root))?;
    // Warm the page cache, then time each twice and keep the better run.
    let _ = consentry::cli::dataset::hash_all(&source, None)?;
    let mut ours = f64::MAX;
    for _ in 0..2 {
        let t = Instant::now();
        let items = consentry::cli::dataset::hash_all(&source, None)?;
        ours = ours.min(t.elapsed().as_secs_f64());
        assert_eq!(items.len(), files);
    }
    let mut names: Vec<String> = std::fs::read_dir(&root)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let b3 = std::process::Command::new("b3sum")
        .arg("--version")
        .output();
    let Ok(version) = b3 else {
        println!("  consentry check hasher: {:.0} files/s; b3sum not found (apt-get install b3sum) — no baseline", files as f64 / ours);
        return Ok(());
    };
    let mut theirs = f64::MAX;
    for _ in 0..2 {
        let t = Instant::now();
        let out = std::process::Command::new("b3sum")
            .current_dir(&root)
            .args(&names)
            .output()?;
        theirs = theirs.min(t.elapsed().as_secs_f64());
        assert!(out.status.success());
    }
    println!(
        "  consentry check hasher: {:.0} files/s ({:.0} MiB/s); {}: {:.0} files/s ({:.0} MiB/s); ratio {:.2}x",
        files as f64 / ours,
        files as f64 * 0.1953125 / ours,
        String::from_utf8_lossy(&version.stdout).trim(),
        files as f64 / theirs,
        files as f64 * 0.1953125 / theirs,
        theirs / ours
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let parts = env_str("BENCH_PARTS", "check,runs,hash");
    println!(
        "machine: {} cores; {}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c
                .lines()
                .find(|l| l.starts_with("model name"))
                .map(str::to_owned))
            .unwrap_or_default()
    );
    if ["check", "runs", "replica", "shards"]
        .iter()
        .any(|p| parts.contains(p))
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        for backend in env_str("BENCH_BACKENDS", "sqlite,postgres").split(',') {
            for size in env_str("BENCH_SIZES", "1000000,10000000").split(',') {
                let works: usize = size.trim().parse()?;
                rt.block_on(bench_check(backend.trim(), works))?;
            }
        }
    }
    if parts.contains("hash") {
        bench_hash()?;
    }
    if parts.contains("signals") {
        bench_signals()?;
    }
    Ok(())
}

/// A 512 x 384 picture that differs with `i`, as JPEG quality 85.
fn bench_jpeg(i: usize) -> Vec<u8> {
    let s = i as f32;
    let img = image::RgbImage::from_fn(512, 384, |x, y| {
        let v = ((x as f32 * (0.02 + (s % 17.0) * 0.003)).sin()
            + (y as f32 * (0.03 + (s % 13.0) * 0.002)).cos())
            * 60.0
            + 128.0;
        image::Rgb([v as u8, ((x + y + i as u32) % 256) as u8, (255.0 - v) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .expect("encode");
    out
}

fn write_folder(
    root: &std::path::Path,
    n: usize,
    f: impl Fn(usize) -> Vec<u8> + Sync,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(root)?;
    (0..n)
        .into_par_iter()
        .try_for_each(|i| std::fs::write(root.join(format!("{i:05}.jpg")), f(i)))?;
    Ok(())
}

/// Seconds to read `root` as `check` does with `reading`, best of `runs`.
fn time_reading(
    root: &std::path::Path,
    reading: consentry::cli::dataset::Reading,
    runs: usize,
) -> anyhow::Result<(f64, usize)> {
    let source = consentry::cli::dataset::detect(&[root.to_path_buf()])?;
    let mut best = f64::MAX;
    let mut with = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let items = consentry::cli::dataset::hash_all_with(&source, None, reading)?;
        best = best.min(t.elapsed().as_secs_f64());
        with = items
            .iter()
            .filter(|i| i.signals.as_ref().is_some_and(|s| !s.findings.is_empty()))
            .count();
    }
    Ok((best, with))
}

fn bench_signals() -> anyhow::Result<()> {
    use consentry::cli::dataset::Reading;
    let files = env_usize("BENCH_FILES", 10_000);
    println!("\n== in-file signals: {files} JPEGs of 512 x 384 ==");
    let dir = tempfile::tempdir()?;
    let plain = dir.path().join("plain");
    write_folder(&plain, files, bench_jpeg)?;
    let xmp = dir.path().join("xmp");
    write_folder(&xmp, files, |i| {
        let jpeg = bench_jpeg(i);
        let packet = "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?><x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" xmlns:plus=\"http://ns.useplus.org/ldf/xmp/1.0/\" plus:DataMining=\"http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED\"/></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>";
        let mut payload = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
        payload.extend_from_slice(packet.as_bytes());
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xff, 0xe1]);
        out.extend_from_slice(
            &u16::try_from(payload.len() + 2)
                .expect("short")
                .to_be_bytes(),
        );
        out.extend_from_slice(&payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    })?;
    // Page cache warm for every folder.
    for root in [&plain, &xmp] {
        time_reading(root, Reading::default(), 1)?;
    }
    for fingerprints in [true, false] {
        let mut without = f64::MAX;
        let mut with = f64::MAX;
        for _ in 0..3 {
            without = without.min(
                time_reading(
                    &plain,
                    Reading {
                        fingerprints,
                        signals: false,
                    },
                    1,
                )?
                .0,
            );
            with = with.min(
                time_reading(
                    &plain,
                    Reading {
                        fingerprints,
                        signals: true,
                    },
                    1,
                )?
                .0,
            );
        }
        let (meta, found) = time_reading(
            &xmp,
            Reading {
                fingerprints,
                signals: true,
            },
            3,
        )?;
        println!(
            "  {}: no metadata: {:.0} files/s without signals, {:.0} with (cost {:.1} %); every file with an XMP packet: {:.0} files/s with signals ({:.1} % below no signals; {found} refusals found)",
            if fingerprints { "hash + fingerprint (near, the default)" } else { "hash only (--match exact)" },
            files as f64 / without,
            files as f64 / with,
            (with / without - 1.0) * 100.0,
            files as f64 / meta,
            (1.0 - without / meta) * 100.0,
        );
    }
    // C2PA: 1,000 files signed with a test certificate.
    let n = files.min(1_000);
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs)?;
    let openssl = |args: &[&str]| -> anyhow::Result<()> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&certs)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    std::fs::write(
        certs.join("c.cnf"),
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
    )?;
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", "ca.key"])?;
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", "leaf.key"])?;
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=Bench CA",
        "-days",
        "2",
        "-config",
        "c.cnf",
        "-extensions",
        "ca",
        "-out",
        "ca.pem",
    ])?;
    openssl(&[
        "req",
        "-new",
        "-key",
        "leaf.key",
        "-subj",
        "/CN=Bench",
        "-out",
        "leaf.csr",
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-days",
        "2",
        "-extfile",
        "c.cnf",
        "-extensions",
        "leaf",
        "-set_serial",
        "1",
        "-out",
        "leaf.pem",
    ])?;
    let chain = [
        std::fs::read(certs.join("leaf.pem"))?,
        std::fs::read(certs.join("ca.pem"))?,
    ]
    .concat();
    let key = std::fs::read(certs.join("leaf.key"))?;
    let c2pa_dir = dir.path().join("c2pa");
    let data = json!({"entries": {"cawg.ai_training": {"use": "notAllowed"}}});
    let t = Instant::now();
    write_folder(&c2pa_dir, n, |i| {
        let signer = c2pa::create_signer::from_keys(&chain, &key, c2pa::SigningAlg::Ed25519, None)
            .expect("signer");
        let mut builder = c2pa::Builder::from_context(c2pa::Context::new());
        builder.set_intent(c2pa::BuilderIntent::Edit);
        builder
            .add_assertion("cawg.training-mining", &data)
            .expect("assertion");
        let mut dest = std::io::Cursor::new(Vec::new());
        builder
            .sign(
                signer.as_ref(),
                "image/jpeg",
                &mut std::io::Cursor::new(bench_jpeg(i)),
                &mut dest,
            )
            .expect("sign");
        dest.into_inner()
    })?;
    let signing = t.elapsed().as_secs_f64();
    let plain_n = dir.path().join("plain-n");
    write_folder(&plain_n, n, bench_jpeg)?;
    time_reading(&c2pa_dir, Reading::default(), 1)?;
    let (without, _) = time_reading(
        &plain_n,
        Reading {
            fingerprints: true,
            signals: false,
        },
        3,
    )?;
    let (with, found) = time_reading(
        &c2pa_dir,
        Reading {
            fingerprints: true,
            signals: true,
        },
        3,
    )?;
    println!(
        "  {n} files each with a signed C2PA manifest (signed at {:.0} files/s): {:.0} files/s with signals (hash + fingerprint), against {:.0} files/s for the same pictures without metadata and signals; about {:.2} ms of one core per manifest; {found} refusals found",
        n as f64 / signing,
        n as f64 / with,
        n as f64 / without,
        (with - without) * 1e3 / n as f64
            * std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64,
    );
    Ok(())
}
