//! No secret reaches the server's log: the real binary, logging at `debug`,
//! serves logins, token-authenticated writes, checks and a run report; its
//! log must hold no token (nor any of its parts), no challenge signature,
//! no private key.

use base64::Engine;
use consentry::cli::client::Client;
use consentry::crypto::{pae, PayloadType, SecretKey};
use serde_json::json;

use crate::helpers::*;

crate::both_backends_raw!(secrets_never_reach_the_log);

async fn secrets_never_reach_the_log(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (url, _location) = server_database(backend, d).await;
    let admin = SecretKey::generate();
    let log = d.join("server.log");
    let server = Server::start_logging(
        d,
        &url,
        &["--admin-key", &admin.public_key().to_string()],
        Some(&log),
    )
    .await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut secrets: Vec<String> = Vec::new();

    // An artist logs in by hand, so the challenge signature is known.
    let ana = SecretKey::generate();
    let client = Client::new(&server.base).expect("client");
    let (status, _) = client
        .post("/v1/artists", &json!(artist_envelope(&ana, "Ana")))
        .await
        .expect("register");
    assert_eq!(status, 201);
    let public = ana.public_key().to_string();
    let (_, ch) = client
        .post("/v1/auth/challenge", &json!({ "key": public }))
        .await
        .expect("challenge");
    let challenge = ch["challenge"].as_str().expect("challenge").to_owned();
    let sig = b64.encode(ana.sign(&pae(
        PayloadType::AuthChallenge.as_str(),
        challenge.as_bytes(),
    )));
    let (_, tok) = client
        .post(
            "/v1/auth/token",
            &json!({ "key": public, "challenge": challenge, "signature": sig }),
        )
        .await
        .expect("token");
    let token = tok["token"].as_str().expect("token").to_owned();
    secrets.push(sig);
    secrets.push(token.clone());
    secrets.extend(token.split('.').filter(|p| p.len() > 16).map(str::to_owned));

    // Token-authenticated traffic: statements, a refused request, a check, a run.
    let mut ana_client = Client::new(&server.base).expect("client");
    ana_client.login(&ana).await.expect("login");
    ana_client
        .submit_statements(&[statement(&ana, &[work(1)], json!("opt-in"), ago(10))])
        .await
        .expect("submit");
    let forged = format!("{token}x");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/statements", server.base))
        .bearer_auth(&forged)
        .json(&json!({ "statements": [] }))
        .send()
        .await
        .expect("forged");
    assert_eq!(r.status().as_u16(), 401);
    let (lab, lab_client) = builder_client(&server.base, &admin).await;
    lab_client
        .post(
            "/v1/check",
            &json!({ "purpose": "train-ai", "hashes": [work(1).to_string()] }),
        )
        .await
        .expect("check");
    lab_client
        .post(
            "/v1/runs",
            &json!({
                "run_id": "r1", "purpose": "train-ai",
                "pool": { "amount_minor": 100, "currency": "EUR" },
                "checked_at": consentry::domain::Timestamp::now(),
                "works": [work(1).to_string()],
            }),
        )
        .await
        .expect("run");

    // Private keys, in the form they are stored and as raw PEM lines.
    let pem = std::fs::read_to_string(d.join("registry.key")).expect("key file");
    secrets.extend(
        pem.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_owned),
    );
    for key in [&ana, &admin, &lab] {
        let pem = key.to_pkcs8_pem().expect("pem");
        secrets.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----") && l.len() > 16)
                .map(str::to_owned),
        );
    }
    drop(server);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.lines().count() > 10,
        "the server logged at debug: {} lines",
        text.lines().count()
    );
    assert!(text.contains("run reported"), "requests were logged");
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret ({}…) is in the server log",
            &s[..12]
        );
    }
}
