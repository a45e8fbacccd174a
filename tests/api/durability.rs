//! An acknowledged statement survives `kill -9` of the server right after
//! the response, with its log entry (the log audits cleanly and only grows
//! across the kills); the registry key survives restarts.

use serde_json::json;

use crate::helpers::*;
use consentry::cli::client::Client;
use consentry::crypto::SecretKey;

crate::both_backends_raw!(
    acknowledged_statements_survive_kill_9,
    sigterm_shuts_down_gracefully
);

async fn acknowledged_statements_survive_kill_9(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, _location) = server_database(backend, dir.path()).await;
    let key = SecretKey::generate();
    let mut acked: Vec<(String, consentry::domain::ContentHash)> = Vec::new();
    let mut registry_key: Option<String> = None;

    for round in 0..4 {
        let mut server = Server::start(dir.path(), &url).await;
        match &registry_key {
            None => registry_key = Some(server.public_key.clone()),
            Some(k) => assert_eq!(
                &server.public_key, k,
                "registry key must persist across restarts"
            ),
        }
        // The log, as the restarted server serves it, audits cleanly and
        // extends what the previous round audited.
        let state = dir.path().join("audit-state.json");
        let state = state.to_str().expect("utf-8");
        let audit = server
            .cli(&["audit", &server.base, "--quiet", "--state", state])
            .await;
        assert!(
            audit.status.success(),
            "audit after kill -9 (round {round}): {}",
            String::from_utf8_lossy(&audit.stderr)
        );
        let mut client = Client::new(&server.base).expect("client");
        if round == 0 {
            let (status, _) = client
                .post("/v1/artists", &json!(artist_envelope(&key, "Ana")))
                .await
                .expect("register");
            assert_eq!(status, 201);
        }
        // Everything acknowledged before this round is still there.
        for (id, hash) in &acked {
            let doc = client
                .get_optional(&format!("/v1/documents/{id}"))
                .await
                .expect("get")
                .expect("acknowledged document lost");
            assert_eq!(doc["kind"], "statement");
            let w = client
                .get_optional(&format!("/v1/works/{hash}"))
                .await
                .expect("get")
                .expect("work lost");
            assert_eq!(w["consent"]["train-ai"], "disallowed");
        }
        client.login(&key).await.expect("login");
        // A few statements, then SIGKILL immediately after the last 2xx.
        for n in 0..(3 + round) {
            let w = work(n as u64);
            let body = client
                .submit_statements(&[statement(&key, &[w], json!("opt-out"), ago(60))])
                .await
                .expect("submit");
            let id = body["accepted"][0]["id"].as_str().expect("id").to_owned();
            acked.push((id, w));
        }
        server.kill9();
    }
    let admin = SecretKey::generate();
    let server = Server::start_with(
        dir.path(),
        &url,
        &["--admin-key", &admin.public_key().to_string()],
    )
    .await;
    let client = Client::new(&server.base).expect("client");
    // The consent index is rebuilt from the database at start: a bulk check
    // sees every acknowledged statement, at the checkpoint of size 19.
    let (_, builder) = builder_client(&server.base, &admin).await;
    let hashes: Vec<String> = acked.iter().map(|(_, h)| h.to_string()).collect();
    let (_, checked) = builder
        .post(
            "/v1/check",
            &json!({ "purpose": "train-ai", "hashes": hashes, "mode": "compact" }),
        )
        .await
        .expect("check");
    assert_eq!(checked["statuses"], "d".repeat(acked.len()));
    assert_eq!(checked["checkpoint"]["size"], 19);
    for (id, _) in &acked {
        assert!(
            client
                .get_optional(&format!("/v1/documents/{id}"))
                .await
                .expect("get")
                .is_some(),
            "lost {id}"
        );
    }
    assert_eq!(acked.len(), 3 + 4 + 5 + 6);
    let state = dir.path().join("audit-state.json");
    let audit = server
        .cli(&[
            "audit",
            &server.base,
            "--quiet",
            "--state",
            state.to_str().expect("utf-8"),
        ])
        .await;
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    assert!(
        String::from_utf8_lossy(&audit.stdout).contains("verified up to size 19"),
        "every acknowledged document is in the log"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("registry.key"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the registry key is private");
    }
}

async fn sigterm_shuts_down_gracefully(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, _location) = server_database(backend, dir.path()).await;
    let mut server = Server::start(dir.path(), &url).await;
    let client = Client::new(&server.base).expect("client");
    let key = SecretKey::generate();
    let (status, _) = client
        .post("/v1/artists", &json!(artist_envelope(&key, "Ana")))
        .await
        .expect("register");
    assert_eq!(status, 201);
    // A large batch (the most statements a request may carry) is in flight
    // when SIGTERM arrives: it is finished and acknowledged, then the server
    // stops.
    let mut writer = Client::new(&server.base).expect("client");
    writer.login(&key).await.expect("login");
    let envs: Vec<_> = (0..10_000)
        .map(|n| statement(&key, &[work(n)], json!("opt-out"), ago(60)))
        .collect();
    let last_id = consentry::registry::document_id(
        &consentry::crypto::dsse::decode_base64(&envs[envs.len() - 1].payload).expect("payload"),
    );
    let in_flight = tokio::spawn(async move { writer.submit_statements(&envs).await });
    // Long enough for the client to have serialised and sent the batch (a
    // request not yet sent when SIGTERM closes idle connections is not in flight).
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(
        !in_flight.is_finished(),
        "the batch should still be in flight when SIGTERM is sent"
    );
    let pid = server.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let acked = in_flight
        .await
        .expect("task")
        .expect("the in-flight batch is answered, not cut off");
    assert_eq!(acked["accepted"].as_array().map(Vec::len), Some(10_000));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let exit = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not stop on SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    // What it acknowledged is there after a restart.
    let server = Server::start(dir.path(), &url).await;
    let client = Client::new(&server.base).expect("client");
    assert!(
        client
            .get_optional(&format!("/v1/documents/{last_id}"))
            .await
            .expect("get")
            .is_some(),
        "the batch acknowledged during shutdown is stored"
    );
}
