//! Artists and their keys.

use serde_json::json;

use crate::helpers::*;
use consentry::crypto::{Envelope, PayloadType, SecretKey};
use consentry::domain::Timestamp;

crate::both_backends!(
    register_artist_and_read_back,
    bad_registrations_change_nothing,
    works_are_paged,
    add_rotate_revoke_keys,
    revocation_with_past_effective_time,
    key_events_need_the_right_signatures,
    revocations_can_be_brought_forward_not_back,
    stolen_key_statements_do_not_block_corrections,
    admin_key_is_reserved,
);

async fn register_artist_and_read_back(app: TestApp) {
    let key = SecretKey::generate();
    let env = artist_envelope(&key, "Ana Example");
    let r = app.post("/v1/artists", &json!(env), None).await;
    r.assert_status(201);
    let id = r.body["artist_id"].as_str().expect("id").to_owned();
    assert_eq!(r.body["document"]["kind"], "artist");
    assert_eq!(r.body["document"]["status"], "created");
    // Idempotent.
    let again = app.post("/v1/artists", &json!(env), None).await;
    again.assert_status(200);
    assert_eq!(again.body["artist_id"], id.as_str());
    assert_eq!(again.body["document"]["status"], "duplicate");

    let a = app.get(&format!("/v1/artists/{id}")).await;
    a.assert_status(200);
    assert_eq!(a.body["display_name"], "Ana Example");
    assert_eq!(a.body["keys"][0]["key"], key.public_key().to_string());
    assert_eq!(a.body["keys"][0]["status"], "active");
    assert_eq!(a.body["documents"][0]["kind"], "artist");
    assert_eq!(a.body["works"]["items"], json!([]));
    app.get(&format!("/v1/artists/{}", "0".repeat(64)))
        .await
        .assert_problem(404, "not-found");
    app.get("/v1/artists/nope")
        .await
        .assert_problem(400, "invalid-parameter");
    app.assert_log_verifies().await;
}

async fn bad_registrations_change_nothing(app: TestApp) {
    let taken = SecretKey::generate();
    app.register_artist(&taken, "Ana").await;
    let before = app.counts().await;
    let key = SecretKey::generate();
    let good = artist_envelope(&key, "Bo");

    app.post_raw("/v1/artists", "{not json", Some("application/json"), None)
        .await
        .assert_problem(400, "malformed-json");
    app.post_raw(
        "/v1/artists",
        serde_json::to_vec(&good).expect("json"),
        None,
        None,
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    let mut bad = good.clone();
    bad.payload = "***".into();
    app.post("/v1/artists", &json!(bad), None)
        .await
        .assert_problem(400, "bad-base64");
    let mut bad = good.clone();
    let mut sig = B64.decode(&bad.signatures[0].sig).expect("b64");
    sig[10] ^= 4;
    bad.signatures[0].sig = B64.encode(sig);
    app.post("/v1/artists", &json!(bad), None)
        .await
        .assert_problem(422, "bad-signature");
    // Signed as a statement, presented as a registration.
    let payload = B64.decode(&good.payload).expect("b64");
    let as_statement = Envelope::sign(PayloadType::Statement, &payload, &[&key]);
    app.post("/v1/artists", &json!(as_statement), None)
        .await
        .assert_problem(422, "wrong-payload-type");
    // The payload names another key than the signer.
    let p = json!({ "version": 1, "key": taken.public_key().to_string(), "display_name": "Mallory", "issued_at": Timestamp::now() });
    let env = Envelope::sign(
        PayloadType::Artist,
        &serde_json::to_vec(&p).expect("json"),
        &[&key],
    );
    app.post("/v1/artists", &json!(env), None)
        .await
        .assert_problem(422, "key-mismatch");
    // A key already registered.
    app.post(
        "/v1/artists",
        &json!(artist_envelope(&taken, "Ana again")),
        None,
    )
    .await
    .assert_problem(409, "key-in-use");
    // Empty display name; unknown field; wrong version.
    for p in [
        json!({ "version": 1, "key": key.public_key().to_string(), "display_name": " ", "issued_at": Timestamp::now() }),
        json!({ "version": 1, "key": key.public_key().to_string(), "display_name": "Bo", "issued_at": Timestamp::now(), "admin": true }),
        json!({ "version": 2, "key": key.public_key().to_string(), "display_name": "Bo", "issued_at": Timestamp::now() }),
    ] {
        let env = Envelope::sign(
            PayloadType::Artist,
            &serde_json::to_vec(&p).expect("json"),
            &[&key],
        );
        app.post("/v1/artists", &json!(env), None)
            .await
            .assert_problem(422, "invalid-payload");
    }
    // Two signatures on a registration.
    let env = Envelope::sign(PayloadType::Artist, &payload, &[&key, &taken]);
    app.post("/v1/artists", &json!(env), None)
        .await
        .assert_problem(400, "malformed-envelope");
    assert_eq!(app.counts().await, before);
    app.assert_log_verifies().await;
}

async fn works_are_paged(app: TestApp) {
    let a = app.artist("Ana").await;
    let mut works: Vec<_> = (0..25).map(work).collect();
    let envs: Vec<_> = works
        .iter()
        .map(|w| statement(&a.key, &[*w], json!("opt-out"), ago(10)))
        .collect();
    app.submit(&a.token, &envs).await.assert_status(201);
    works.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(h) => format!("/v1/artists/{}?limit=10&after={h}", a.id),
            None => format!("/v1/artists/{}?limit=10", a.id),
        };
        let r = app.get(&path).await;
        r.assert_status(200);
        for item in r.body["works"]["items"].as_array().expect("items") {
            seen.push(item.as_str().expect("hash").to_owned());
        }
        match r.body["works"]["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        works.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    app.get(&format!("/v1/artists/{}?limit=0", a.id))
        .await
        .assert_problem(400, "invalid-parameter");
    app.get(&format!("/v1/artists/{}?limit=abc", a.id))
        .await
        .assert_problem(400, "invalid-parameter");
    app.get(&format!("/v1/artists/{}?after=blake3:00", a.id))
        .await
        .assert_problem(400, "invalid-hash");
    app.assert_log_verifies().await;
}

async fn add_rotate_revoke_keys(app: TestApp) {
    let a = app.artist("Ana").await;
    let w = work(1);
    app.submit(
        &a.token,
        &[statement(&a.key, &[w], json!("opt-out"), ago(60))],
    )
    .await
    .assert_status(201);

    // Add a second key: signed by the existing key and the new one.
    let k2 = SecretKey::generate();
    let add = key_event(
        &a.id,
        "add",
        &k2.public_key().to_string(),
        json!({}),
        &[&a.key, &k2],
    );
    let r = app
        .post(
            &format!("/v1/artists/{}/keys", a.id),
            &json!(add),
            Some(&a.token),
        )
        .await;
    r.assert_status(201);
    app.post(
        &format!("/v1/artists/{}/keys", a.id),
        &json!(add),
        Some(&a.token),
    )
    .await
    .assert_status(200);
    let t2 = app.login(&k2).await;
    app.submit(&t2, &[statement(&k2, &[work(2)], json!("opt-in"), ago(50))])
        .await
        .assert_status(201);

    // Rotate the first key to a third; the first is revoked from now.
    let k3 = SecretKey::generate();
    let rot = key_event(
        &a.id,
        "rotate",
        &k3.public_key().to_string(),
        json!({ "replaces": a.key.public_key().to_string() }),
        &[&a.key, &k3],
    );
    app.post(
        &format!("/v1/artists/{}/keys", a.id),
        &json!(rot),
        Some(&a.token),
    )
    .await
    .assert_status(201);
    let view = app.get(&format!("/v1/artists/{}", a.id)).await;
    let statuses: Vec<_> = view.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["status"].as_str().expect("s").to_owned())
        .collect();
    assert_eq!(statuses, ["revoked", "active", "active"]);
    assert_eq!(view.body["documents"].as_array().map(Vec::len), Some(3));

    // The old key can no longer sign statements; its earlier statement still stands.
    let before = app.counts().await;
    let t3 = app.login(&k3).await;
    app.submit(
        &t3,
        &[statement(&a.key, &[work(3)], json!("opt-out"), ago(5))],
    )
    .await
    .assert_problem(422, "revoked-key");
    assert_eq!(app.counts().await, before);
    let v = app.work(&w).await;
    assert_eq!(v.body["consent"]["train-ai"], "disallowed", "{}", v.text);
    assert_eq!(v.body["history"][0]["status"], "current");
    // Its token is refused from now on; the challenge flow refuses it too.
    app.submit(
        &a.token,
        &[statement(&k3, &[work(4)], json!("opt-out"), ago(5))],
    )
    .await
    .assert_problem(401, "unauthorized");
    app.post(
        "/v1/auth/challenge",
        &json!({ "key": a.key.public_key().to_string() }),
        None,
    )
    .await
    .assert_problem(422, "unknown-key");
    // The new key supersedes the old key's statement.
    app.submit(&t3, &[statement(&k3, &[w], json!("opt-in"), ago(4))])
        .await
        .assert_status(201);
    assert_eq!(app.work(&w).await.body["consent"]["train-ai"], "allowed");

    // Revoke k2 explicitly; revoking twice is a conflict.
    let rev = key_event(
        &a.id,
        "revoke",
        &k2.public_key().to_string(),
        json!({}),
        &[&k3],
    );
    app.post(
        &format!("/v1/artists/{}/keys", a.id),
        &json!(rev),
        Some(&t3),
    )
    .await
    .assert_status(201);
    let rev2 = key_event(
        &a.id,
        "revoke",
        &k2.public_key().to_string(),
        json!({ "effective_at": Timestamp::now().plus_secs(60) }),
        &[&k3],
    );
    app.post(
        &format!("/v1/artists/{}/keys", a.id),
        &json!(rev2),
        Some(&t3),
    )
    .await
    .assert_problem(409, "already-revoked");
    app.assert_log_verifies().await;
}

async fn revocation_with_past_effective_time(app: TestApp) {
    let a = app.artist("Ana").await;
    let w = work(1);
    app.submit(
        &a.token,
        &[statement(&a.key, &[w], json!("opt-out"), ago(60))],
    )
    .await
    .assert_status(201);
    let cutoff = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // A statement received after the cutoff, e.g. by a thief holding the key.
    app.submit(
        &a.token,
        &[statement(&a.key, &[w], json!("opt-in"), ago(30))],
    )
    .await
    .assert_status(201);
    assert_eq!(app.work(&w).await.body["consent"]["train-ai"], "allowed");
    // The artist adds a fresh key and revokes the stolen one from the cutoff.
    let k2 = SecretKey::generate();
    let t2 = app.add_key(&a, &k2).await;
    let rev = key_event(
        &a.id,
        "revoke",
        &a.key.public_key().to_string(),
        json!({ "effective_at": cutoff }),
        &[&k2],
    );
    app.post(
        &format!("/v1/artists/{}/keys", a.id),
        &json!(rev),
        Some(&t2),
    )
    .await
    .assert_status(201);
    let v = app.work(&w).await;
    assert_eq!(
        v.body["consent"]["train-ai"], "disallowed",
        "the earlier statement applies again"
    );
    assert_eq!(v.body["history"][0]["status"], "current");
    assert_eq!(v.body["history"][1]["status"], "key-revoked");
    assert_eq!(
        v.body["history"].as_array().map(Vec::len),
        Some(2),
        "history is kept"
    );
    app.assert_log_verifies().await;
}

async fn key_events_need_the_right_signatures(app: TestApp) {
    let a = app.artist("Ana").await;
    let b = app.artist("Bo").await;
    let before = app.counts().await;
    let k2 = SecretKey::generate();
    let path = format!("/v1/artists/{}/keys", a.id);
    // The new key alone (no existing key) cannot add itself.
    let only_new = key_event(
        &a.id,
        "add",
        &k2.public_key().to_string(),
        json!({}),
        &[&k2],
    );
    app.post(&path, &json!(only_new), Some(&a.token))
        .await
        .assert_problem(422, "bad-signature");
    // Without the new key's signature: no proof of possession.
    let no_pop = key_event(
        &a.id,
        "add",
        &k2.public_key().to_string(),
        json!({}),
        &[&a.key],
    );
    app.post(&path, &json!(no_pop), Some(&a.token))
        .await
        .assert_problem(422, "bad-signature");
    // Bo's key cannot authorise changes to Ana's keys, with or without Bo's token.
    let foreign = key_event(
        &a.id,
        "add",
        &k2.public_key().to_string(),
        json!({}),
        &[&b.key, &k2],
    );
    app.post(&path, &json!(foreign), Some(&a.token))
        .await
        .assert_problem(403, "forbidden");
    let good = key_event(
        &a.id,
        "add",
        &k2.public_key().to_string(),
        json!({}),
        &[&a.key, &k2],
    );
    app.post(&path, &json!(good), Some(&b.token))
        .await
        .assert_problem(403, "forbidden");
    app.post(&path, &json!(good), None)
        .await
        .assert_problem(401, "unauthorized");
    // Adding a key someone else holds.
    let steal = key_event(
        &a.id,
        "add",
        &b.key.public_key().to_string(),
        json!({}),
        &[&a.key, &b.key],
    );
    app.post(&path, &json!(steal), Some(&a.token))
        .await
        .assert_problem(409, "key-in-use");
    // An event naming another artist than the URL.
    let other = key_event(
        &b.id,
        "add",
        &k2.public_key().to_string(),
        json!({}),
        &[&a.key, &k2],
    );
    app.post(&path, &json!(other), Some(&a.token))
        .await
        .assert_problem(403, "forbidden");
    // Field misuse.
    let bad = key_event(
        &a.id,
        "add",
        &k2.public_key().to_string(),
        json!({ "replaces": a.key.public_key().to_string() }),
        &[&a.key, &k2],
    );
    app.post(&path, &json!(bad), Some(&a.token))
        .await
        .assert_problem(422, "invalid-payload");
    let bad = key_event(&a.id, "add", "ed25519:zz", json!({}), &[&a.key]);
    app.post(&path, &json!(bad), Some(&a.token))
        .await
        .assert_problem(422, "invalid-key");
    assert_eq!(app.counts().await, before);
    app.assert_log_verifies().await;
}

async fn revocations_can_be_brought_forward_not_back(app: TestApp) {
    let a = app.artist("Ana").await;
    let path = format!("/v1/artists/{}/keys", a.id);
    let k2 = SecretKey::generate();
    let add = key_event(
        &a.id,
        "add",
        &k2.public_key().to_string(),
        json!({}),
        &[&a.key, &k2],
    );
    app.post(&path, &json!(add), Some(&a.token))
        .await
        .assert_status(201);
    // Before the key existed: refused.
    let early = key_event(
        &a.id,
        "revoke",
        &k2.public_key().to_string(),
        json!({ "effective_at": ago(3600) }),
        &[&a.key],
    );
    app.post(&path, &json!(early), Some(&a.token))
        .await
        .assert_problem(422, "invalid-payload");
    // A planned retirement in a day.
    let planned = key_event(
        &a.id,
        "revoke",
        &k2.public_key().to_string(),
        json!({ "effective_at": Timestamp::now().plus_secs(86_400) }),
        &[&a.key],
    );
    app.post(&path, &json!(planned), Some(&a.token))
        .await
        .assert_status(201);
    let keys = app.get(&format!("/v1/artists/{}", a.id)).await.body["keys"].clone();
    assert_eq!(keys[1]["status"], "active", "still active until its date");
    // Pushing it back is refused.
    let later = key_event(
        &a.id,
        "revoke",
        &k2.public_key().to_string(),
        json!({ "effective_at": Timestamp::now().plus_secs(2 * 86_400) }),
        &[&a.key],
    );
    app.post(&path, &json!(later), Some(&a.token))
        .await
        .assert_problem(409, "already-revoked");
    // Rotating it now brings the revocation forward.
    let k3 = SecretKey::generate();
    let rot = key_event(
        &a.id,
        "rotate",
        &k3.public_key().to_string(),
        json!({ "replaces": k2.public_key().to_string() }),
        &[&k2, &k3],
    );
    app.post(&path, &json!(rot), Some(&a.token))
        .await
        .assert_status(201);
    let keys = app.get(&format!("/v1/artists/{}", a.id)).await.body["keys"].clone();
    assert_eq!(keys[1]["status"], "revoked");
    assert_eq!(keys[2]["status"], "active");
    app.assert_log_verifies().await;
}

async fn stolen_key_statements_do_not_block_corrections(app: TestApp) {
    let a = app.artist("Ana").await;
    let w = work(1);
    let cutoff = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // A thief with Ana's key opts her work in, issued a few minutes ahead.
    app.submit(
        &a.token,
        &[statement(
            &a.key,
            &[w],
            json!("opt-in"),
            Timestamp::now().plus_secs(240),
        )],
    )
    .await
    .assert_status(201);
    let k2 = SecretKey::generate();
    let t2 = app.add_key(&a, &k2).await;
    let rev = key_event(
        &a.id,
        "revoke",
        &a.key.public_key().to_string(),
        json!({ "effective_at": cutoff }),
        &[&k2],
    );
    app.post(
        &format!("/v1/artists/{}/keys", a.id),
        &json!(rev),
        Some(&t2),
    )
    .await
    .assert_status(201);
    assert_eq!(app.work(&w).await.status.as_u16(), 200);
    // Ana's correction, issued now (before the thief's issued_at), is accepted.
    app.submit(
        &t2,
        &[statement(&k2, &[w], json!("opt-out"), Timestamp::now())],
    )
    .await
    .assert_status(201);
    let v = app.work(&w).await;
    assert_eq!(v.body["consent"]["train-ai"], "disallowed");
    assert_eq!(v.body["history"][0]["status"], "key-revoked");
    assert_eq!(v.body["history"][1]["status"], "current");
    app.assert_log_verifies().await;
}

async fn admin_key_is_reserved(app: TestApp) {
    let before = app.counts().await;
    app.post(
        "/v1/artists",
        &json!(artist_envelope(&app.admin, "Admin")),
        None,
    )
    .await
    .assert_problem(409, "key-in-use");
    let a = app.artist("Ana").await;
    let add = key_event(
        &a.id,
        "add",
        &app.admin.public_key().to_string(),
        json!({}),
        &[&a.key, &app.admin],
    );
    app.post(
        &format!("/v1/artists/{}/keys", a.id),
        &json!(add),
        Some(&a.token),
    )
    .await
    .assert_problem(409, "key-in-use");
    let mut after = app.counts().await;
    after.documents -= 1;
    after.artists -= 1;
    after.keys -= 1;
    after.log_entries -= 1;
    after.checkpoints -= 1;
    assert_eq!(after, before);
    app.assert_log_verifies().await;
}
