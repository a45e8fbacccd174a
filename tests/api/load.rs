//! Load: the real server binary on each backend under mixed traffic
//! (registrations, lookups, 10,000-hash checks, proofs) at a fixed rate for
//! a bounded time, with its default limits. No 5xx and no dropped
//! connection are allowed; 429s from the per-token limits are counted, not
//! failures. `CONSENTRY_LOAD_SECS` and `CONSENTRY_LOAD_RATE` set the run
//! (default 5 s at 60 requests/s, the CI setting); figures for
//! docs/performance.md come from `cargo bench --bench load`.

use consentry::crypto::SecretKey;

use crate::helpers::*;
use crate::loadgen;

crate::both_backends_raw!(mixed_traffic_gets_no_server_errors);

async fn mixed_traffic_gets_no_server_errors(backend: Backend) {
    let secs: u64 = std::env::var("CONSENTRY_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let rate: u32 = std::env::var("CONSENTRY_LOAD_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().expect("tmp");
    let (url, _location) = server_database(backend, dir.path()).await;
    let admin = SecretKey::generate();
    let server = Server::start_with(
        dir.path(),
        &url,
        &["--admin-key", &admin.public_key().to_string()],
    )
    .await;
    let setup = loadgen::setup(&server.base, &admin, 4, 2_500)
        .await
        .expect("setup");
    let report = loadgen::run(&server.base, &setup, rate, secs).await;
    report.print();
    assert_eq!(report.server_errors(), 0, "5xx under load");
    assert_eq!(
        report.transport_errors(),
        0,
        "connections dropped under load"
    );
    let answered: usize = report.kinds.values().map(|k| k.latencies.len()).sum();
    assert_eq!(answered as u64, report.sent, "every request was answered");
    server
        .cli(&["audit", &server.base, "--quiet"])
        .await
        .status
        .success()
        .then_some(())
        .expect("the log audits after the load");
}
