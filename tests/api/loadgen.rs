//! A load generator for a running registry: mixed traffic at a fixed rate
//! (open loop: requests start on schedule whatever the answers' latency),
//! per-kind latency percentiles and status counts. Used by the load test
//! (`tests/api/load.rs`, short, in CI) and `cargo bench --bench load`
//! (long, figures for docs/performance.md).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consentry::cli::client::Client;
use consentry::crypto::{Envelope, PayloadType, SecretKey};
use consentry::domain::{ContentHash, Timestamp};
use serde_json::json;

/// What one kind of request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `GET /healthz`: the floor, driven in the same loop.
    Health,
    /// `POST /v1/statements`: 10 single-work statements.
    Register,
    /// `GET /v1/works/{hash}`.
    Lookup,
    /// `POST /v1/check`, 10,000 hashes, compact.
    Check,
    /// `GET /v1/log/proof/inclusion?index=…`.
    Proof,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Health => "healthz (floor)",
            Kind::Register => "register 10 statements",
            Kind::Lookup => "work lookup",
            Kind::Check => "check 10,000 hashes",
            Kind::Proof => "inclusion proof",
        }
    }
}

/// The mix, out of 20 requests.
const MIX: [(Kind, u32); 5] = [
    (Kind::Health, 2),
    (Kind::Register, 4),
    (Kind::Lookup, 8),
    (Kind::Check, 2),
    (Kind::Proof, 4),
];

/// Results per kind.
#[derive(Debug, Default, Clone)]
pub struct KindReport {
    pub latencies: Vec<Duration>,
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer.
    pub transport_errors: u64,
}

impl KindReport {
    pub fn percentile(&self, p: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i.min(v.len() - 1)]
    }

    pub fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum()
    }
}

/// A whole run.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub kinds: BTreeMap<Kind, KindReport>,
    pub elapsed: Duration,
    pub sent: u64,
}

impl Report {
    pub fn server_errors(&self) -> u64 {
        self.kinds.values().map(KindReport::server_errors).sum()
    }

    pub fn transport_errors(&self) -> u64 {
        self.kinds.values().map(|k| k.transport_errors).sum()
    }

    /// One line per kind, with its p50 and p99 against the floor's.
    pub fn print(&self) {
        let floor = self.kinds.get(&Kind::Health).cloned().unwrap_or_default();
        let (f50, f99) = (floor.percentile(0.5), floor.percentile(0.99));
        println!(
            "{} requests in {:.1} s ({:.0} req/s); server errors {}, transport errors {}",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.server_errors(),
            self.transport_errors()
        );
        for (kind, r) in &self.kinds {
            let (p50, p99) = (r.percentile(0.5), r.percentile(0.99));
            println!(
                "  {:<24} n={:<6} p50 {:>8.2} ms ({:>6.1}x floor)  p99 {:>8.2} ms ({:>6.1}x floor)  statuses {:?}",
                kind.name(),
                r.latencies.len(),
                p50.as_secs_f64() * 1e3,
                p50.as_secs_f64() / f50.as_secs_f64().max(1e-9),
                p99.as_secs_f64() * 1e3,
                p99.as_secs_f64() / f99.as_secs_f64().max(1e-9),
                r.statuses
            );
        }
    }
}

/// Tokens and data a run needs.
pub struct Setup {
    /// Artist keys with their tokens.
    pub artists: Vec<(SecretKey, String)>,
    pub builder_token: String,
    /// Registered works to look up and check.
    pub works: Vec<ContentHash>,
}

fn artist_envelope(key: &SecretKey, name: &str) -> Envelope {
    let payload = json!({
        "version": 1,
        "key": key.public_key().to_string(),
        "display_name": name,
        "issued_at": Timestamp::now(),
    });
    Envelope::sign(
        PayloadType::Artist,
        &serde_json::to_vec(&consentry::domain::canonical::sorted(payload.clone()))
            .unwrap_or_default(),
        &[key],
    )
}

fn statement(key: &SecretKey, work: ContentHash) -> Envelope {
    let payload = json!({
        "version": 1,
        "key": key.public_key().to_string(),
        "works": [{ "hash": work }],
        "consent": "opt-out",
        "issued_at": Timestamp::now().plus_secs(-60),
    });
    Envelope::sign(
        PayloadType::Statement,
        &serde_json::to_vec(&consentry::domain::canonical::sorted(payload.clone()))
            .unwrap_or_default(),
        &[key],
    )
}

fn work(artist: usize, n: u64) -> ContentHash {
    ContentHash::of(format!("load work {artist} {n} {:?}", Instant::now()).as_bytes())
}

/// Registers `artists` artists with `works_each` works each and a builder
/// (through the admin key), and logs them in.
///
/// # Errors
/// When the registry refuses the setup.
pub async fn setup(
    base: &str,
    admin: &SecretKey,
    artists: usize,
    works_each: usize,
) -> anyhow::Result<Setup> {
    let mut out = Vec::new();
    let mut works = Vec::new();
    for i in 0..artists {
        let key = SecretKey::generate();
        let mut c = Client::new(base)?;
        c.post("/v1/artists", &artist_envelope(&key, &format!("Load {i}")))
            .await?;
        c.login(&key).await?;
        let mut n = 0;
        while n < works_each {
            let chunk = (works_each - n).min(5_000);
            let batch: Vec<ContentHash> = (0..chunk).map(|j| work(i, (n + j) as u64)).collect();
            let envs: Vec<Envelope> = batch.iter().map(|w| statement(&key, *w)).collect();
            c.submit_statements(&envs).await?;
            works.extend(batch);
            n += chunk;
        }
        let token = c.token().unwrap_or_default().to_owned();
        out.push((key, token));
    }
    let mut a = Client::new(base)?;
    a.login(admin).await?;
    let lab = SecretKey::generate();
    a.post(
        "/v1/builders",
        &json!({ "name": "Load Lab", "key": lab.public_key().to_string() }),
    )
    .await?;
    let mut b = Client::new(base)?;
    b.login(&lab).await?;
    Ok(Setup {
        artists: out,
        builder_token: b.token().unwrap_or_default().to_owned(),
        works,
    })
}

/// Sends the mix at `rate` requests per second for `secs` seconds.
pub async fn run(base: &str, setup: &Setup, rate: u32, secs: u64) -> Report {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default();
    let report = Arc::new(Mutex::new(Report::default()));
    let schedule: Vec<Kind> = MIX
        .iter()
        .flat_map(|(k, n)| std::iter::repeat_n(*k, *n as usize))
        .collect();
    let check_body = Arc::new(
        serde_json::to_vec(&json!({
            "purpose": "train-ai",
            "mode": "compact",
            "hashes": (0..10_000).map(|i| setup.works[i % setup.works.len()].to_string()).collect::<Vec<_>>(),
        }))
        .unwrap_or_default(),
    );
    let log_size = setup.works.len() as u64;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = u64::from(rate) * secs;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        ticker.tick().await;
        let kind = schedule[(i as usize) % schedule.len()];
        let http = http.clone();
        let report = Arc::clone(&report);
        let base = base.to_owned();
        let n = i as usize;
        let req = match kind {
            Kind::Health => http.get(format!("{base}/healthz")),
            Kind::Lookup => http.get(format!(
                "{base}/v1/works/{}",
                setup.works[(n * 7919) % setup.works.len()]
            )),
            Kind::Proof => http.get(format!(
                "{base}/v1/log/proof/inclusion?index={}",
                (n as u64 * 104_729) % log_size.max(1)
            )),
            Kind::Check => http
                .post(format!("{base}/v1/check"))
                .bearer_auth(&setup.builder_token)
                .header("content-type", "application/json")
                .body(check_body.as_ref().clone()),
            Kind::Register => {
                let (key, token) = &setup.artists[n % setup.artists.len()];
                let envs: Vec<Envelope> = (0..10).map(|j| statement(key, work(n, j))).collect();
                http.post(format!("{base}/v1/statements"))
                    .bearer_auth(token)
                    .json(&json!({ "statements": envs }))
            }
        };
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let result = match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    Some(status)
                }
                Err(_) => None,
            };
            let elapsed = t.elapsed();
            let mut rep = report
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let k = rep.kinds.entry(kind).or_default();
            match result {
                Some(status) => {
                    k.latencies.push(elapsed);
                    *k.statuses.entry(status).or_default() += 1;
                }
                None => k.transport_errors += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut rep = report
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    rep.elapsed = started.elapsed();
    rep.sent = total;
    rep
}
