//! Registering and changing consent; reading works.

use serde_json::json;

use crate::helpers::*;
use consentry::domain::Timestamp;

crate::both_backends!(
    opt_out_is_recorded_and_readable,
    later_statement_supersedes_and_history_is_kept,
    identical_resubmission_is_idempotent,
    replayed_older_statement_is_refused,
    competing_claim_marks_dispute_most_restrictive_wins,
    batch_of_ten_thousand_is_accepted,
    multi_work_statement_with_terms,
    bad_statements_are_refused_and_change_nothing,
    one_bad_item_refuses_the_whole_batch,
    late_failure_in_a_large_batch_rolls_back_everything,
    statement_auth_is_enforced,
    work_lookup_errors,
    oversized_and_too_many,
);

async fn opt_out_is_recorded_and_readable(app: TestApp) {
    let a = app.artist("Ana").await;
    let w = work(1);
    let r = app
        .submit(
            &a.token,
            &[statement(&a.key, &[w], json!("opt-out"), ago(10))],
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["created"], 1);
    let accepted = &r.body["accepted"][0];
    assert_eq!(accepted["status"], "created");
    assert_eq!(accepted["artist_id"], a.id);
    let id = accepted["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 64);
    let received: Timestamp = accepted["received_at"]
        .as_str()
        .expect("time")
        .parse()
        .expect("rfc3339");
    assert!(received <= Timestamp::now());

    let v = app.work(&w).await;
    v.assert_status(200);
    for c in ["train-ai", "train-genai", "ai-use", "search", "tdm"] {
        assert_eq!(v.body["consent"][c], "disallowed", "{c}");
    }
    assert_eq!(v.body["disputed"], false);
    assert_eq!(v.body["claimants"][0]["artist_id"], a.id);
    assert_eq!(v.body["claimants"][0]["display_name"], "Ana");
    assert_eq!(v.body["history"][0]["statement_id"], id.as_str());
    assert_eq!(v.body["history"][0]["status"], "current");
    assert_eq!(v.body["iscc_datahash"], w.to_iscc_datahash());
    // The stored envelope verifies as the original did.
    let env: consentry::crypto::Envelope =
        serde_json::from_value(v.body["history"][0]["envelope"].clone()).expect("envelope");
    assert_eq!(
        consentry::registry::verify_statement(&env).expect("verifies"),
        id
    );
    // The ISCC datahash form finds the same work.
    let v2 = app
        .get(&format!("/v1/works/{}", w.to_iscc_datahash()))
        .await;
    assert_eq!(v2.body["hash"], w.to_string());
    // And the document endpoint returns it.
    let d = app.get(&format!("/v1/documents/{id}")).await;
    d.assert_status(200);
    assert_eq!(d.body["kind"], "statement");
    app.assert_log_verifies().await;
}

async fn later_statement_supersedes_and_history_is_kept(app: TestApp) {
    let a = app.artist("Ana").await;
    let w = work(1);
    app.submit(
        &a.token,
        &[statement(&a.key, &[w], json!("opt-out"), ago(20))],
    )
    .await
    .assert_status(201);
    app.submit(
        &a.token,
        &[statement(
            &a.key,
            &[w],
            json!({ "search": "allowed", "train-ai": "disallowed" }),
            ago(10),
        )],
    )
    .await
    .assert_status(201);
    let v = app.work(&w).await;
    assert_eq!(v.body["consent"]["search"], "allowed");
    assert_eq!(v.body["consent"]["train-ai"], "disallowed");
    assert_eq!(
        v.body["consent"]["train-genai"], "disallowed",
        "nesting: train-genai follows train-ai"
    );
    assert_eq!(v.body["consent"]["tdm"], "unknown");
    let history = v.body["history"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["status"], "superseded");
    assert_eq!(history[0]["superseded"], true);
    assert_eq!(history[1]["status"], "current");
    assert_eq!(v.body["claimants"].as_array().map(Vec::len), Some(1));
    app.assert_log_verifies().await;
}

async fn identical_resubmission_is_idempotent(app: TestApp) {
    let a = app.artist("Ana").await;
    let env = statement(&a.key, &[work(1)], json!("opt-out"), ago(10));
    let first = app.submit(&a.token, std::slice::from_ref(&env)).await;
    first.assert_status(201);
    let before = app.counts().await;
    let again = app.submit(&a.token, &[env.clone(), env]).await;
    again.assert_status(200);
    assert_eq!(again.body["created"], 0);
    assert_eq!(again.body["duplicates"], 2);
    assert_eq!(
        again.body["accepted"][0]["id"],
        first.body["accepted"][0]["id"]
    );
    assert_eq!(
        again.body["accepted"][0]["received_at"],
        first.body["accepted"][0]["received_at"]
    );
    assert_eq!(again.body["accepted"][0]["status"], "duplicate");
    assert_eq!(app.counts().await, before);
    app.assert_log_verifies().await;
}

async fn replayed_older_statement_is_refused(app: TestApp) {
    let a = app.artist("Ana").await;
    let w = work(1);
    let old = statement(&a.key, &[w], json!("opt-in"), ago(100));
    let new = statement(&a.key, &[w], json!("opt-out"), ago(10));
    app.submit(&a.token, std::slice::from_ref(&old))
        .await
        .assert_status(201);
    app.submit(&a.token, &[new]).await.assert_status(201);
    let before = app.counts().await;
    // The exact old statement is a duplicate, not a replay: it is already in history.
    app.submit(&a.token, &[old]).await.assert_status(200);
    // A different statement issued before the current one is a replay.
    let stale = statement(&a.key, &[w], json!("opt-in"), ago(50));
    let r = app.submit(&a.token, &[stale]).await;
    r.assert_problem(409, "stale-statement");
    assert_eq!(r.body["errors"][0]["index"], 0);
    assert_eq!(app.counts().await, before);
    assert_eq!(app.work(&w).await.body["consent"]["train-ai"], "disallowed");
    app.assert_log_verifies().await;
}

async fn competing_claim_marks_dispute_most_restrictive_wins(app: TestApp) {
    let a = app.artist("Ana").await;
    let b = app.artist("Bo").await;
    let w = work(1);
    app.submit(
        &a.token,
        &[statement(&a.key, &[w], json!("opt-in"), ago(10))],
    )
    .await
    .assert_status(201);
    let v = app.work(&w).await;
    assert_eq!(v.body["disputed"], false);
    assert_eq!(v.body["consent"]["train-ai"], "allowed");
    app.submit(
        &b.token,
        &[statement(
            &b.key,
            &[w],
            json!({ "train-ai": "disallowed", "search": "allowed" }),
            ago(5),
        )],
    )
    .await
    .assert_status(201);
    let v = app.work(&w).await;
    assert_eq!(v.body["disputed"], true);
    assert_eq!(v.body["claimants"].as_array().map(Vec::len), Some(2));
    assert_eq!(v.body["consent"]["train-ai"], "disallowed");
    assert_eq!(v.body["consent"]["train-genai"], "disallowed");
    assert_eq!(v.body["consent"]["search"], "allowed");
    assert_eq!(v.body["consent"]["ai-use"], "allowed");
    app.assert_log_verifies().await;
}

async fn batch_of_ten_thousand_is_accepted(app: TestApp) {
    let a = app.artist("Ana").await;
    let t = ago(10);
    let works: Vec<_> = (0..10_000).map(work).collect();
    let envs: Vec<_> = works
        .iter()
        .map(|w| statement(&a.key, &[*w], json!("opt-out"), t))
        .collect();
    let r = app.submit(&a.token, &envs).await;
    r.assert_status(201);
    assert_eq!(r.body["created"], 10_000);
    let seqs: Vec<i64> = r.body["accepted"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| x["seq"].as_i64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|p| p[1] == p[0] + 1),
        "consecutive acceptance order"
    );
    let counts = app.counts().await;
    assert_eq!(counts.statement_works, 10_000);
    assert_eq!(
        app.work(&works[9_999]).await.body["consent"]["tdm"],
        "disallowed"
    );
    // One statement may also cover many works.
    let many: Vec<_> = (0..500).map(|n| work(n + 20_000)).collect();
    let r = app
        .submit(&a.token, &[statement(&a.key, &many, json!("opt-out"), t)])
        .await;
    r.assert_status(201);
    assert_eq!(app.counts().await.statement_works, 10_500);
    app.assert_log_verifies().await;
}

async fn multi_work_statement_with_terms(app: TestApp) {
    let a = app.artist("Ana").await;
    let ws = [work(1), work(2), work(3)];
    let mut p = statement_payload(
        &a.key,
        &ws,
        json!({ "train-ai": "allowed", "train-genai": "disallowed" }),
        ago(10),
    );
    p["terms"] = json!([
        { "kind": "attribution", "credit": "Ana <script>alert(1)</script> 'quoted'" },
        { "kind": "revenue-share", "minimum": { "amount_minor": 250, "currency": "EUR" } }
    ]);
    p["works"][0]["title"] = json!("Robert'); DROP TABLE documents;--");
    p["works"][0]["published_at"] = json!("2021-05-01T00:00:00Z");
    app.submit(&a.token, &[sign_statement(&a.key, &p)])
        .await
        .assert_status(201);
    for w in &ws {
        let v = app.work(w).await;
        assert_eq!(v.body["consent"]["train-ai"], "allowed");
        assert_eq!(v.body["consent"]["train-genai"], "disallowed");
        assert_eq!(
            v.body["claimants"][0]["terms"][1]["minimum"]["amount_minor"],
            250
        );
    }
    let v = app.work(&ws[0]).await;
    assert_eq!(
        v.body["claimants"][0]["terms"][0]["credit"],
        "Ana <script>alert(1)</script> 'quoted'"
    );
    assert_eq!(
        v.body["history"][0]["work"]["title"],
        "Robert'); DROP TABLE documents;--"
    );
    assert_eq!(
        v.body["history"][0]["work"]["published_at"],
        "2021-05-01T00:00:00Z"
    );
    app.assert_log_verifies().await;
}

async fn bad_statements_are_refused_and_change_nothing(app: TestApp) {
    let a = app.artist("Ana").await;
    app.submit(
        &a.token,
        &[statement(&a.key, &[work(0)], json!("opt-out"), ago(10))],
    )
    .await
    .assert_status(201);
    let before = app.counts().await;
    let good = statement(&a.key, &[work(1)], json!("opt-out"), ago(10));

    // Malformed JSON.
    app.post_raw(
        "/v1/statements",
        "{\"statements\": [",
        Some("application/json"),
        Some(&a.token),
    )
    .await
    .assert_problem(400, "malformed-json");
    // Not JSON at all, wrong content type.
    app.post_raw(
        "/v1/statements",
        "hello",
        Some("text/plain"),
        Some(&a.token),
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    // Bad base64 in the payload.
    let mut bad = good.clone();
    bad.payload = "%%%not base64%%%".into();
    app.submit(&a.token, &[bad])
        .await
        .assert_problem(400, "bad-base64");
    // Bad base64 in the signature.
    let mut bad = good.clone();
    bad.signatures[0].sig = "!!".into();
    app.submit(&a.token, &[bad])
        .await
        .assert_problem(400, "bad-base64");
    // Flipped signature bit.
    let mut bad = good.clone();
    let mut sig = B64.decode(&bad.signatures[0].sig).expect("b64");
    sig[3] ^= 0x80;
    bad.signatures[0].sig = B64.encode(sig);
    app.submit(&a.token, &[bad])
        .await
        .assert_problem(422, "bad-signature");
    // Payload altered after signing.
    let mut bad = good.clone();
    let payload = String::from_utf8(B64.decode(&bad.payload).expect("b64"))
        .expect("utf8")
        .replace("opt-out", "opt-in");
    bad.payload = B64.encode(payload);
    app.submit(&a.token, &[bad])
        .await
        .assert_problem(422, "bad-signature");
    // Wrong payload type.
    let mut bad = good.clone();
    bad.payload_type = "application/json".into();
    app.submit(&a.token, &[bad])
        .await
        .assert_problem(422, "wrong-payload-type");
    // Wrong hash length, properly signed.
    let mut p = statement_payload(&a.key, &[work(2)], json!("opt-out"), ago(10));
    p["works"][0]["hash"] = json!("blake3:abcd");
    app.submit(&a.token, &[sign_statement(&a.key, &p)])
        .await
        .assert_problem(422, "invalid-payload");
    // Unknown signing key (signed by a key nobody registered).
    let stranger = consentry::crypto::SecretKey::generate();
    app.submit(
        &a.token,
        &[statement(&stranger, &[work(3)], json!("opt-out"), ago(10))],
    )
    .await
    .assert_problem(422, "unknown-key");
    // A weak key as signer.
    let mut bad = good.clone();
    bad.signatures[0].keyid = format!("ed25519:01{}", "00".repeat(31));
    app.submit(&a.token, &[bad])
        .await
        .assert_problem(422, "invalid-key");
    // Statement issued in the future.
    app.submit(
        &a.token,
        &[statement(
            &a.key,
            &[work(4)],
            json!("opt-out"),
            Timestamp::now().plus_secs(3600),
        )],
    )
    .await
    .assert_problem(422, "issued-in-future");
    // Unknown fields in the envelope.
    let mut raw = serde_json::to_value(&good).expect("json");
    raw["extra"] = json!(1);
    app.post(
        "/v1/statements",
        &json!({ "statements": [raw] }),
        Some(&a.token),
    )
    .await
    .assert_problem(400, "malformed-json");
    // Good signature, payload not in canonical form (a record as an array; null for an omitted field).
    let p = json!([
        1,
        a.key.public_key().to_string(),
        [[work(5).to_string()]],
        "opt-out",
        [],
        ago(10)
    ]);
    app.submit(&a.token, &[sign_statement(&a.key, &p)])
        .await
        .assert_problem(422, "invalid-payload");
    let mut p = statement_payload(&a.key, &[work(6)], json!("opt-out"), ago(10));
    p["works"][0]["title"] = json!(null);
    app.submit(&a.token, &[sign_statement(&a.key, &p)])
        .await
        .assert_problem(422, "invalid-payload");
    // Two signatures on a statement.
    let two = consentry::crypto::Envelope::sign(
        consentry::crypto::PayloadType::Statement,
        &B64.decode(&good.payload).expect("b64"),
        &[&a.key, &stranger],
    );
    app.submit(&a.token, &[two])
        .await
        .assert_problem(400, "malformed-envelope");
    // Empty batch.
    app.post(
        "/v1/statements",
        &json!({ "statements": [] }),
        Some(&a.token),
    )
    .await
    .assert_problem(400, "empty-batch");

    assert_eq!(app.counts().await, before, "nothing stored");
    app.assert_log_verifies().await;
}

async fn one_bad_item_refuses_the_whole_batch(app: TestApp) {
    let a = app.artist("Ana").await;
    let before = app.counts().await;
    let mut envs: Vec<_> = (0..5)
        .map(|n| statement(&a.key, &[work(n)], json!("opt-out"), ago(10)))
        .collect();
    let mut sig = B64.decode(&envs[3].signatures[0].sig).expect("b64");
    sig[0] ^= 1;
    envs[3].signatures[0].sig = B64.encode(sig);
    let r = app.submit(&a.token, &envs).await;
    r.assert_problem(422, "bad-signature");
    assert_eq!(r.body["errors"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["errors"][0]["index"], 3);
    assert_eq!(
        r.body["errors"][0]["type"],
        "urn:consentry:problem:bad-signature"
    );
    assert_eq!(app.counts().await, before);
    app.assert_log_verifies().await;
}

async fn statement_auth_is_enforced(app: TestApp) {
    let a = app.artist("Ana").await;
    let b = app.artist("Bo").await;
    let before = app.counts().await;
    let env = statement(&a.key, &[work(1)], json!("opt-out"), ago(10));
    app.post(
        "/v1/statements",
        &json!({ "statements": [env.clone()] }),
        None,
    )
    .await
    .assert_problem(401, "unauthorized");
    app.post(
        "/v1/statements",
        &json!({ "statements": [env.clone()] }),
        Some("not-a-jwt"),
    )
    .await
    .assert_problem(401, "unauthorized");
    // Bo cannot submit Ana's statements, even correctly signed by Ana.
    app.submit(&b.token, &[env])
        .await
        .assert_problem(403, "forbidden");
    // A builder cannot register statements.
    let builder = consentry::crypto::SecretKey::generate();
    let admin_token = app.login(&app.admin).await;
    app.post(
        "/v1/builders",
        &json!({ "name": "Lab", "key": builder.public_key().to_string() }),
        Some(&admin_token),
    )
    .await
    .assert_status(201);
    let builder_token = app.login(&builder).await;
    let env = statement(&a.key, &[work(2)], json!("opt-out"), ago(10));
    app.submit(&builder_token, &[env])
        .await
        .assert_problem(403, "forbidden");
    let mut after = app.counts().await;
    after.builders -= 1;
    assert_eq!(after, before);
    app.assert_log_verifies().await;
}

async fn work_lookup_errors(app: TestApp) {
    app.get("/v1/works/blake3:1234")
        .await
        .assert_problem(400, "invalid-hash");
    app.get(&format!("/v1/works/sha256:{}", "ab".repeat(32)))
        .await
        .assert_problem(400, "invalid-hash");
    app.get(&format!("/v1/works/blake3:{}", "AB".repeat(32)))
        .await
        .assert_problem(400, "invalid-hash");
    app.get(&format!("/v1/works/{}", work(1)))
        .await
        .assert_problem(404, "not-found");
    app.get("/v1/documents/xyz")
        .await
        .assert_problem(400, "invalid-parameter");
    app.get(&format!("/v1/documents/{}", "0".repeat(64)))
        .await
        .assert_problem(404, "not-found");
    app.get("/v1/nothing-here")
        .await
        .assert_problem(404, "not-found");
    app.post("/v1/works/blake3:00", &json!({}), None)
        .await
        .assert_problem(405, "method-not-allowed");
}

async fn oversized_and_too_many(app: TestApp) {
    let a = app.artist("Ana").await;
    let before = app.counts().await;
    let t = ago(10);
    let envs: Vec<_> = (0..10_001)
        .map(|n| statement(&a.key, &[work(n)], json!("opt-out"), t))
        .collect();
    app.submit(&a.token, &envs)
        .await
        .assert_problem(413, "too-many-items");
    // More than 10,000 works in one statement.
    let many: Vec<_> = (0..10_001).map(work).collect();
    app.submit(&a.token, &[statement(&a.key, &many, json!("opt-out"), t)])
        .await
        .assert_problem(422, "invalid-payload");
    // A body over the limit.
    let huge = format!("{{\"statements\": [\"{}\"]}}", "a".repeat(33 * 1024 * 1024));
    app.post_raw(
        "/v1/statements",
        huge,
        Some("application/json"),
        Some(&a.token),
    )
    .await
    .assert_problem(413, "payload-too-large");
    // Small endpoints have small limits.
    let big_name = format!("{{\"key\": \"{}\"}}", "a".repeat(100 * 1024));
    app.post_raw(
        "/v1/auth/challenge",
        big_name,
        Some("application/json"),
        None,
    )
    .await
    .assert_problem(413, "payload-too-large");
    assert_eq!(app.counts().await, before);
    app.assert_log_verifies().await;
}

async fn late_failure_in_a_large_batch_rolls_back_everything(app: TestApp) {
    // Large batches are checked and written in chunks inside one
    // transaction: a failure in a late chunk must undo the earlier ones.
    let a = app.artist("Ana").await;
    let taken = work(99_999);
    app.submit(
        &a.token,
        &[statement(&a.key, &[taken], json!("opt-out"), ago(5))],
    )
    .await
    .assert_status(201);
    let before = app.counts().await;
    let t = ago(10);
    let mut envs: Vec<_> = (0..2_500)
        .map(|n| statement(&a.key, &[work(n)], json!("opt-out"), t))
        .collect();
    envs[2_100] = statement(&a.key, &[taken], json!("opt-in"), ago(60));
    let r = app.submit(&a.token, &envs).await;
    r.assert_problem(409, "stale-statement");
    assert_eq!(r.body["errors"][0]["index"], 2_100);
    assert_eq!(app.counts().await, before);
    assert_eq!(app.work(&envs_work(&envs, 0)).await.status.as_u16(), 404);

    let mut sig = B64.decode(&envs[2_400].signatures[0].sig).expect("b64");
    sig[5] ^= 1;
    envs[2_100] = statement(&a.key, &[work(5_000)], json!("opt-out"), t);
    envs[2_400].signatures[0].sig = B64.encode(sig);
    app.submit(&a.token, &envs)
        .await
        .assert_problem(422, "bad-signature");
    assert_eq!(app.counts().await, before);

    // The same statement twice, in different chunks: one record, same answer.
    envs[2_400] = envs[10].clone();
    let r = app.submit(&a.token, &envs).await;
    r.assert_status(201);
    assert_eq!(r.body["created"], 2_499);
    assert_eq!(r.body["accepted"][2_400]["status"], "duplicate");
    assert_eq!(
        r.body["accepted"][2_400]["seq"],
        r.body["accepted"][10]["seq"]
    );
    let seqs: Vec<i64> = r.body["accepted"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| x["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.iter().all(|s| *s > 0));
    assert_eq!(app.counts().await.documents, before.documents + 2_499);
    app.assert_log_verifies().await;
}

fn envs_work(envs: &[consentry::crypto::Envelope], i: usize) -> consentry::domain::ContentHash {
    let payload: serde_json::Value =
        serde_json::from_slice(&B64.decode(&envs[i].payload).expect("b64")).expect("json");
    payload["works"][0]["hash"]
        .as_str()
        .expect("hash")
        .parse()
        .expect("hash")
}
