//! Crash safety: the real server binary on each backend takes concurrent
//! statement batches from several artists and is killed with SIGKILL at a
//! random moment, round after round. After every restart: each batch that
//! got a 2xx is there, with its log entries; each batch still in flight is
//! there whole or not at all; the log audits and extends the previous
//! round's (checkpoints only grow).
//!
//! `CONSENTRY_CRASH_ROUNDS` sets the number of kills (default 3, the CI
//! setting; the long run in docs/threat-model.md uses 50).

use std::sync::{Arc, Mutex};

use base64::Engine;
use consentry::cli::client::Client;
use consentry::crypto::SecretKey;
use consentry::registry::document_id;
use serde_json::json;

use crate::helpers::*;

crate::both_backends_raw!(concurrent_writes_survive_random_sigkill);

/// Writers running at once, one artist each.
const WRITERS: usize = 4;
/// Statements per batch (all or nothing).
const BATCH: usize = 5;

/// A batch as a writer saw it: the ids of its statements and whether the
/// registry acknowledged it.
struct Sent {
    ids: Vec<String>,
    acked: bool,
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    u64::from_le_bytes(b) % n
}

async fn concurrent_writes_survive_random_sigkill(backend: Backend) {
    let rounds: usize = std::env::var("CONSENTRY_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("tmp");
    let (url, _location) = server_database(backend, dir.path()).await;
    let keys: Vec<SecretKey> = (0..WRITERS).map(|_| SecretKey::generate()).collect();
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::new()));
    let state = dir.path().join("audit-state.json");
    let state = state.to_str().expect("utf-8").to_owned();
    let mut last_size = 0u64;
    let mut next_work = 0u64;

    for round in 0..=rounds {
        let mut server = Server::start(dir.path(), &url).await;
        // Everything acknowledged is there; every batch is whole or absent.
        let client = Client::new(&server.base).expect("client");
        let batches: Vec<(Vec<String>, bool)> = sent
            .lock()
            .expect("lock")
            .iter()
            .map(|s| (s.ids.clone(), s.acked))
            .collect();
        let (mut acked, mut in_flight_kept, mut in_flight_lost) = (0, 0, 0);
        for (ids, was_acked) in &batches {
            let mut present = 0;
            for id in ids {
                if client
                    .get_optional(&format!("/v1/documents/{id}"))
                    .await
                    .expect("get")
                    .is_some()
                {
                    present += 1;
                }
            }
            if *was_acked {
                assert_eq!(
                    present,
                    ids.len(),
                    "round {round}: an acknowledged batch lost statements"
                );
                acked += 1;
            } else {
                assert!(
                    present == 0 || present == ids.len(),
                    "round {round}: a batch in flight at the kill is half there ({present} of {})",
                    ids.len()
                );
                if present == 0 {
                    in_flight_lost += 1;
                } else {
                    in_flight_kept += 1;
                }
            }
        }
        // The log audits and extends the last round's audited log.
        let audit = server
            .cli(&["audit", &server.base, "--quiet", "--state", &state])
            .await;
        assert!(
            audit.status.success(),
            "audit after kill -9 (round {round}): {}",
            String::from_utf8_lossy(&audit.stderr)
        );
        let size = client.get_json("/v1/log").await.expect("log")["checkpoint"]["size"]
            .as_u64()
            .expect("size");
        assert!(
            size >= last_size,
            "the checkpoint shrank: {last_size} -> {size}"
        );
        last_size = size;
        eprintln!(
            "crash round {round}: log size {size}; batches acknowledged {acked}, in flight kept {in_flight_kept}, in flight lost {in_flight_lost}"
        );
        if round == rounds {
            break;
        }

        // Register the artists once, then write concurrently until the kill.
        let mut tokens = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let mut c = Client::new(&server.base).expect("client");
            if round == 0 {
                let (status, _) = c
                    .post(
                        "/v1/artists",
                        &json!(artist_envelope(key, &format!("Writer {i}"))),
                    )
                    .await
                    .expect("register");
                assert_eq!(status, 201);
            }
            c.login(key).await.expect("login");
            tokens.push(c);
        }
        let mut tasks = Vec::new();
        for (c, key) in tokens.into_iter().zip(keys.iter().cloned()) {
            let sent = Arc::clone(&sent);
            let first = next_work;
            next_work += 1_000_000;
            tasks.push(tokio::spawn(async move {
                let mut n = first;
                loop {
                    let envs: Vec<_> = (0..BATCH)
                        .map(|_| {
                            n += 1;
                            statement(&key, &[work(n)], json!("opt-out"), ago(60))
                        })
                        .collect();
                    let ids: Vec<String> = envs
                        .iter()
                        .map(|e| {
                            document_id(
                                &base64::engine::general_purpose::STANDARD
                                    .decode(&e.payload)
                                    .expect("payload"),
                            )
                        })
                        .collect();
                    let at = {
                        let mut s = sent.lock().expect("lock");
                        s.push(Sent { ids, acked: false });
                        s.len() - 1
                    };
                    match c.submit_statements(&envs).await {
                        Ok(_) => sent.lock().expect("lock")[at].acked = true,
                        Err(_) => return,
                    }
                }
            }));
        }
        let delay = 50 + random_below(400);
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        server.kill9();
        for t in tasks {
            t.await.expect("writer");
        }
    }
    let total = sent
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| s.acked)
        .count();
    assert!(
        total > 0,
        "no batch was acknowledged: the test measured nothing"
    );
}
