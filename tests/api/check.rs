//! Bulk checks: the JSON, compact and streaming modes agree, on both
//! backends; `as_of` answers follow fixed timelines across supersession,
//! disputes and key revocations; receipts verify and bind the answers; bad
//! input is refused and changes nothing; checks interleaved with writes
//! never answer from another state than their receipt's checkpoint.

use std::sync::{Arc, Mutex};

use consentry::check::{AnswerDigests, CheckReceipt};
use consentry::crypto::{Envelope, SecretKey};
use consentry::domain::{ContentHash, Timestamp};
use consentry::index::Status;
use serde_json::{json, Value};

use crate::helpers::*;

crate::both_backends!(
    modes_agree_and_receipts_bind_answers,
    as_of_follows_supersession_disputes_and_revocations,
    bad_input_is_refused_and_changes_nothing,
    stream_reports_bad_lines_by_number,
    checks_interleaved_with_writes_match_their_checkpoint,
);

/// A builder with a token.
pub async fn builder(app: &TestApp) -> String {
    let admin = app.login(&app.admin).await;
    let key = SecretKey::generate();
    app.post(
        "/v1/builders",
        &json!({ "name": "Dataset Lab", "key": key.public_key().to_string() }),
        Some(&admin),
    )
    .await
    .assert_status(201);
    app.login(&key).await
}

async fn check(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post("/v1/check", &body, Some(token)).await
}

async fn stream(app: &TestApp, token: &str, query: &str, body: Vec<u8>, ct: &str) -> Resp {
    app.post_raw(
        &format!("/v1/check/stream?{query}"),
        body,
        Some(ct),
        Some(token),
    )
    .await
}

fn lines(r: &Resp) -> Vec<Value> {
    r.text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Verifies a receipt envelope with the app's log key.
fn verify_receipt(app: &TestApp, receipt: &Value) -> CheckReceipt {
    let env: Envelope = serde_json::from_value(receipt.clone()).expect("envelope");
    CheckReceipt::verify(&env, app.state.registry.log().verifier()).expect("receipt verifies")
}

/// The answers digest recomputed from full results.
fn digest_of(results: &[Value]) -> (String, String) {
    let mut d = AnswerDigests::new();
    for r in results {
        let hash: ContentHash = r["hash"].as_str().expect("hash").parse().expect("hash");
        let status = Status::parse(r["status"].as_str().expect("status")).expect("status");
        let mut ids: Vec<[u8; 32]> = r["statements"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let mut id = [0u8; 32];
                        hex::decode_to_slice(s.as_str().expect("id"), &mut id).expect("hex");
                        id
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        d.add(&hash, status, &ids);
    }
    d.finish()
}

fn received(r: &Resp) -> Timestamp {
    let v = if r.body["accepted"].is_array() {
        &r.body["accepted"][0]["received_at"]
    } else {
        &r.body["document"]["received_at"]
    };
    v.as_str().expect("received_at").parse().expect("timestamp")
}

fn at(t: Timestamp, delta_ns: i64) -> String {
    Timestamp::from_unix_nanos(t.unix_nanos() + delta_ns).to_string()
}

async fn modes_agree_and_receipts_bind_answers(app: TestApp) {
    let a = app.artist("Ada").await;
    let b = app.artist("Bo").await;
    let works: Vec<ContentHash> = (0..5).map(work).collect();
    let unknown = work(99);
    app.submit(
        &a.token,
        &[
            statement(&a.key, &works[0..2], json!("opt-out"), ago(60)),
            statement(
                &a.key,
                &works[2..4],
                json!({"train-ai": "allowed", "search": "allowed"}),
                ago(60),
            ),
        ],
    )
    .await
    .assert_status(201);
    // A dispute: Bo opts work 3 out.
    app.submit(
        &b.token,
        &[statement(&b.key, &works[3..4], json!("opt-out"), ago(30))],
    )
    .await
    .assert_status(201);
    // Work 4 allows search only: train-ai is unknown for it.
    app.submit(
        &a.token,
        &[statement(
            &a.key,
            &works[4..5],
            json!({"search": "allowed"}),
            ago(60),
        )],
    )
    .await
    .assert_status(201);
    let token = builder(&app).await;
    let mut asked: Vec<ContentHash> = works.clone();
    asked.push(unknown);
    asked.push(works[0]); // asked twice: answered twice, in order
    let hashes: Vec<String> = asked.iter().map(ToString::to_string).collect();

    let full = check(
        &app,
        &token,
        json!({"purpose": "train-ai", "hashes": hashes}),
    )
    .await;
    full.assert_status(200);
    let results = full.body["results"].as_array().expect("results").clone();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        [
            "disallowed",
            "disallowed",
            "allowed",
            "disallowed",
            "unknown",
            "unknown",
            "disallowed"
        ]
    );
    assert_eq!(results[3]["disputed"], true);
    assert_eq!(results[3]["claimants"].as_array().map(Vec::len), Some(2));
    assert_eq!(results[3]["decided_by"].as_array().map(Vec::len), Some(1));
    assert_eq!(results[2]["consent"]["search"], "allowed");
    assert_eq!(results[2]["consent"]["ai-use"], "unknown");
    assert_eq!(results[4]["registered"], true);
    assert_eq!(results[5]["registered"], false);
    assert_eq!(results[0]["claimants"][0]["display_name"], "Ada");
    assert_eq!(results[0]["claimants"][0]["artist_id"], a.id);
    assert_eq!(
        full.body["counts"],
        json!({"allowed": 1, "disallowed": 4, "unknown": 2})
    );

    // The receipt verifies, names the checkpoint and binds hashes and answers.
    let receipt = verify_receipt(&app, &full.body["receipt"]);
    let latest = app.get("/v1/log/checkpoint").await;
    assert!(latest.text.starts_with(&format!(
        "consentry.test/log\n{}\n",
        receipt.checkpoint.size
    )));
    assert_eq!(full.body["checkpoint"]["size"], receipt.checkpoint.size);
    assert_eq!(receipt.hashes.count, 7);
    assert_eq!(receipt.purpose.as_str(), "train-ai");
    assert!(receipt.builder.starts_with("b_"));
    let (hd, ad) = digest_of(&results);
    assert_eq!(receipt.hashes.blake3, hd);
    assert_eq!(receipt.answers.blake3, ad);
    assert_eq!(receipt.counts.disallowed, 4);

    // Compact mode: the same statuses, one letter each, the same digests.
    let compact = check(
        &app,
        &token,
        json!({"purpose": "train-ai", "hashes": hashes, "mode": "compact"}),
    )
    .await;
    compact.assert_status(200);
    assert_eq!(compact.body["statuses"], "ddaduud");
    assert!(compact.body.get("results").is_none());
    let r2 = verify_receipt(&app, &compact.body["receipt"]);
    assert_eq!(
        (r2.hashes.blake3.as_str(), r2.answers.blake3.as_str()),
        (hd.as_str(), ad.as_str())
    );

    // Streaming, NDJSON with both line shapes: the same answers and digests.
    let mut body = String::new();
    for (i, h) in hashes.iter().enumerate() {
        if i % 2 == 0 {
            body.push_str(&format!("\"{h}\"\n"));
        } else {
            body.push_str(&format!("{{\"hash\":\"{h}\",\"path\":\"x/{i}.jpg\"}}\n"));
        }
    }
    let s = stream(
        &app,
        &token,
        "purpose=train-ai",
        body.into_bytes(),
        "application/x-ndjson",
    )
    .await;
    s.assert_status(200);
    assert_eq!(s.content_type, "application/x-ndjson");
    let out = lines(&s);
    assert_eq!(out.len(), hashes.len() + 1);
    for (i, (line, r)) in out.iter().zip(&results).enumerate() {
        assert_eq!(line["line"], i + 1);
        let mut without_line = line.clone();
        without_line.as_object_mut().expect("object").remove("line");
        assert_eq!(
            &without_line,
            r,
            "stream line {} differs from the JSON answer",
            i + 1
        );
    }
    let done = out.last().expect("final line");
    assert_eq!(done["done"], true);
    assert_eq!(done["errors"], 0);
    let r3 = verify_receipt(&app, &done["receipt"]);
    assert_eq!(
        (r3.hashes.blake3.as_str(), r3.answers.blake3.as_str()),
        (hd.as_str(), ad.as_str())
    );

    // Streaming compact, raw 32-byte hashes: the same statuses.
    let raw: Vec<u8> = asked.iter().flat_map(|h| *h.as_bytes()).collect();
    let s = stream(
        &app,
        &token,
        "purpose=train-ai&mode=compact",
        raw,
        "application/octet-stream",
    )
    .await;
    s.assert_status(200);
    let out = lines(&s);
    let letters: String = out[..asked.len()]
        .iter()
        .map(|l| &l["status"].as_str().expect("status")[..1])
        .collect();
    assert_eq!(letters, "ddaduud");
    assert_eq!(out[2]["hash"], hashes[2]);
    let r4 = verify_receipt(&app, &out[asked.len()]["receipt"]);
    assert_eq!(r4.answers.blake3, ad);

    // Another purpose gives other answers: search is allowed for works 2-4
    // except where Bo's opt-out disallows it.
    let search = check(
        &app,
        &token,
        json!({"purpose": "search", "hashes": hashes, "mode": "compact"}),
    )
    .await;
    assert_eq!(search.body["statuses"], "ddadaud");
}

async fn as_of_follows_supersession_disputes_and_revocations(app: TestApp) {
    let a = app.artist("Ada").await;
    let b = app.artist("Bo").await;
    let w = work(1);
    let token = builder(&app).await;
    let ask = |as_of: Option<String>| {
        let mut body = json!({"purpose": "train-ai", "hashes": [w.to_string()]});
        if let Some(t) = as_of {
            body["as_of"] = json!(t);
        }
        body
    };
    // t1: Ada opts the work out.
    let r1 = app
        .submit(
            &a.token,
            &[statement(&a.key, &[w], json!("opt-out"), ago(100))],
        )
        .await;
    r1.assert_status(201);
    let t1 = received(&r1);
    // t2: Ada changes her mind and allows training.
    let r2 = app
        .submit(
            &a.token,
            &[statement(
                &a.key,
                &[w],
                json!({"train-ai": "allowed"}),
                ago(50),
            )],
        )
        .await;
    r2.assert_status(201);
    let t2 = received(&r2);
    // t3: Bo claims the same work and opts out: a dispute.
    let r3 = app
        .submit(
            &b.token,
            &[statement(&b.key, &[w], json!("opt-out"), ago(10))],
        )
        .await;
    r3.assert_status(201);
    let t3 = received(&r3);
    // t4: Bo's key is revoked from before his statement: it stops counting.
    let bo_registered: Timestamp = app.get(&format!("/v1/artists/{}", b.id)).await.body
        ["registered_at"]
        .as_str()
        .expect("registered_at")
        .parse()
        .expect("timestamp");
    let revoke = key_event(
        &b.id,
        "revoke",
        &b.key.public_key().to_string(),
        json!({ "effective_at": at(bo_registered, 1) }),
        &[&b.key],
    );
    let r4 = app
        .post(
            &format!("/v1/artists/{}/keys", b.id),
            &json!(revoke),
            Some(&b.token),
        )
        .await;
    r4.assert_status(201);
    let t4 = received(&r4);

    let expect = [
        (Some(at(t1, -1)), "unknown", false, false),
        (Some(at(t1, 0)), "disallowed", true, false),
        (Some(at(t2, -1)), "disallowed", true, false),
        (Some(at(t2, 0)), "allowed", true, false),
        (Some(at(t3, 0)), "disallowed", true, true),
        (Some(at(t4, -1)), "disallowed", true, true),
        (Some(at(t4, 0)), "allowed", true, false),
        (None, "allowed", true, false),
    ];
    for (as_of, status, registered, disputed) in expect {
        let r = check(&app, &token, ask(as_of.clone())).await;
        r.assert_status(200);
        let res = &r.body["results"][0];
        assert_eq!(res["status"], status, "as of {as_of:?}: {}", r.text);
        assert_eq!(res["registered"], registered, "as of {as_of:?}");
        if registered {
            assert_eq!(res["disputed"], disputed, "as of {as_of:?}");
        }
        assert_eq!(r.body["as_of"], as_of.map_or(Value::Null, Value::from));
        let receipt = verify_receipt(&app, &r.body["receipt"]);
        assert_eq!(
            receipt.as_of.map(|t| t.to_string()),
            r.body["as_of"].as_str().map(str::to_owned)
        );
    }
    // The deciding statement is Ada's latest before t3 and after t4.
    let r = check(&app, &token, ask(Some(at(t2, 5)))).await;
    let ada_latest = r2.body["accepted"][0]["id"].as_str().expect("id");
    assert_eq!(r.body["results"][0]["decided_by"], json!([ada_latest]));
    // The same answers stream.
    let body = format!("\"{w}\"\n");
    let s = stream(
        &app,
        &token,
        &format!("purpose=train-ai&as_of={}", at(t3, 0)),
        body.into_bytes(),
        "application/x-ndjson",
    )
    .await;
    assert_eq!(lines(&s)[0]["status"], "disallowed");
}

async fn bad_input_is_refused_and_changes_nothing(app: TestApp) {
    let a = app.artist("Ada").await;
    let token = builder(&app).await;
    let before = app.counts().await;
    let good = work(1).to_string();
    // Invalid hashes: named by index.
    let r = check(
        &app,
        &token,
        json!({"purpose": "train-ai", "hashes": [good, "blake3:XYZ", "sha256:00", good]}),
    )
    .await;
    r.assert_problem(400, "invalid-hash");
    assert_eq!(r.body["errors"][0]["index"], 1);
    assert_eq!(r.body["errors"][1]["index"], 2);
    assert!(r.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("hashes[1]")));
    // Unknown purpose, bad as_of, bad mode, empty list, unknown member.
    check(
        &app,
        &token,
        json!({"purpose": "train-everything", "hashes": [good]}),
    )
    .await
    .assert_problem(400, "unknown-purpose");
    check(
        &app,
        &token,
        json!({"purpose": "train-ai", "hashes": [good], "as_of": "yesterday"}),
    )
    .await
    .assert_problem(400, "invalid-as-of");
    check(
        &app,
        &token,
        json!({"purpose": "train-ai", "hashes": [good], "mode": "tiny"}),
    )
    .await
    .assert_problem(400, "invalid-parameter");
    check(&app, &token, json!({"purpose": "train-ai", "hashes": []}))
        .await
        .assert_problem(400, "empty-batch");
    check(
        &app,
        &token,
        json!({"purpose": "train-ai", "hashes": [good], "extra": 1}),
    )
    .await
    .assert_problem(400, "malformed-json");
    app.post_raw(
        "/v1/check",
        "{\"purpose\":",
        Some("application/json"),
        Some(&token),
    )
    .await
    .assert_problem(400, "malformed-json");
    app.post_raw("/v1/check", "x", Some("text/plain"), Some(&token))
        .await
        .assert_problem(415, "unsupported-media-type");
    // Too many items.
    let many: Vec<String> = (0..100_001u64)
        .map(|i| ContentHash::of(&i.to_be_bytes()).to_string())
        .collect();
    check(&app, &token, json!({"purpose": "train-ai", "hashes": many}))
        .await
        .assert_problem(413, "too-many-items");
    // Who may check: builders only.
    check(
        &app,
        &a.token,
        json!({"purpose": "train-ai", "hashes": [good]}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        "/v1/check",
        &json!({"purpose": "train-ai", "hashes": [good]}),
        None,
    )
    .await
    .assert_problem(401, "unauthorized");
    // Streams: bad parameters and media types are refused before any answer.
    stream(
        &app,
        &token,
        "purpose=nope",
        b"\"x\"\n".to_vec(),
        "application/x-ndjson",
    )
    .await
    .assert_problem(400, "unknown-purpose");
    stream(
        &app,
        &token,
        "purpose=search&as_of=2024-13-01T00:00:00Z",
        vec![],
        "application/x-ndjson",
    )
    .await
    .assert_problem(400, "invalid-as-of");
    stream(&app, &token, "purpose=search", vec![], "text/csv")
        .await
        .assert_problem(415, "unsupported-media-type");
    stream(
        &app,
        &a.token,
        "purpose=search",
        vec![],
        "application/x-ndjson",
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(
        app.counts().await,
        before,
        "a refused check changed something"
    );
}

async fn stream_reports_bad_lines_by_number(app: TestApp) {
    let a = app.artist("Ada").await;
    let w = work(1);
    app.submit(
        &a.token,
        &[statement(&a.key, &[w], json!("opt-out"), ago(5))],
    )
    .await
    .assert_status(201);
    let token = builder(&app).await;
    let long = "x".repeat(5000);
    let body = format!(
        "\"{w}\"\n{{\"hash\": 12}}\n\n\"blake3:00\"\nnot json\n\"{long}\"\n{{\"hash\":\"{w}\"}}\n\"{w}\""
    );
    let s = stream(
        &app,
        &token,
        "purpose=tdm",
        body.into_bytes(),
        "application/x-ndjson",
    )
    .await;
    s.assert_status(200);
    let out = lines(&s);
    // Lines 1, 7 and 8 (no final newline) are answered; 2, 4, 5, 6 are
    // errors naming their line; the blank line 3 is skipped.
    let summary: Vec<(u64, &str)> = out[..out.len() - 1]
        .iter()
        .map(|l| {
            let kind = if l.get("error").is_some() {
                "error"
            } else {
                l["status"].as_str().unwrap_or("?")
            };
            (l["line"].as_u64().expect("line"), kind)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "disallowed"),
            (2, "error"),
            (4, "error"),
            (5, "error"),
            (6, "error"),
            (7, "disallowed"),
            (8, "disallowed")
        ]
    );
    assert!(out[1]["error"]["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("line 2:")));
    assert_eq!(
        out[1]["error"]["type"],
        "urn:consentry:problem:invalid-line"
    );
    assert!(out[4]["error"]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("longer than")));
    let done = out.last().expect("done");
    assert_eq!(done["errors"], 4);
    assert_eq!(done["count"], 3);
    let receipt = verify_receipt(&app, &done["receipt"]);
    assert_eq!(receipt.hashes.count, 3);
    // Binary input with a partial record: the record is named.
    let mut raw = w.as_bytes().to_vec();
    raw.extend_from_slice(&[1, 2, 3]);
    let s = stream(&app, &token, "purpose=tdm", raw, "application/octet-stream").await;
    let out = lines(&s);
    assert_eq!(out[0]["status"], "disallowed");
    assert_eq!(out[1]["line"], 2);
    assert!(out[1]["error"]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("partial record")));
}

async fn checks_interleaved_with_writes_match_their_checkpoint(app: TestApp) {
    let app = Arc::new(app);
    let a = app.artist("Ada").await;
    let token = builder(&app).await;
    // Every work the writer will register, asked about from the start.
    let rounds: Vec<Vec<ContentHash>> = (0..40u64)
        .map(|r| (0..3).map(|i| work(r * 10 + i)).collect())
        .collect();
    let all: Vec<ContentHash> = rounds.iter().flatten().copied().collect();
    // (work, log index of its statement), recorded after each commit.
    let written: Arc<Mutex<Vec<(ContentHash, u64)>>> = Arc::default();
    let writer = {
        let (app, written) = (Arc::clone(&app), Arc::clone(&written));
        let (key, token) = (a.key.clone(), a.token.clone());
        tokio::spawn(async move {
            for works in rounds {
                let envs: Vec<Envelope> = works
                    .iter()
                    .map(|w| statement(&key, std::slice::from_ref(w), json!("opt-out"), ago(5)))
                    .collect();
                let r = app.submit(&token, &envs).await;
                r.assert_status(201);
                let mut list = written.lock().expect("lock");
                for (w, acc) in works
                    .iter()
                    .zip(r.body["accepted"].as_array().expect("accepted"))
                {
                    list.push((*w, acc["seq"].as_u64().expect("seq")));
                }
            }
        })
    };
    let hashes: Vec<String> = all.iter().map(ToString::to_string).collect();
    let mut seen: Vec<(u64, Vec<u8>)> = Vec::new();
    while !writer.is_finished() || seen.len() < 3 {
        let r = check(
            &app,
            &token,
            json!({"purpose": "train-ai", "hashes": hashes, "mode": "compact"}),
        )
        .await;
        r.assert_status(200);
        let receipt = verify_receipt(&app, &r.body["receipt"]);
        let statuses = r.body["statuses"]
            .as_str()
            .expect("statuses")
            .as_bytes()
            .to_vec();
        seen.push((receipt.checkpoint.size, statuses));
        // Paced under the per-token rate limit (200 requests/s), however
        // slow the writer is on a loaded machine.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    writer.await.expect("writer");
    let seqs: std::collections::HashMap<ContentHash, u64> =
        written.lock().expect("lock").iter().copied().collect();
    // Every answer is exactly the state of its receipt's checkpoint: what
    // the log held at that size is registered, nothing later is.
    let mut sizes = std::collections::BTreeSet::new();
    for (size, statuses) in &seen {
        sizes.insert(*size);
        for (w, s) in all.iter().zip(statuses) {
            let expected = if seqs[w] < *size { b'd' } else { b'u' };
            assert_eq!(
                *s, expected,
                "work {w} (entry {}) at checkpoint {size}",
                seqs[w]
            );
        }
    }
    assert!(
        sizes.len() > 1,
        "the checks all saw one checkpoint: {sizes:?}"
    );
    let r = check(
        &app,
        &token,
        json!({"purpose": "train-ai", "hashes": hashes, "mode": "compact"}),
    )
    .await;
    assert_eq!(r.body["statuses"], "d".repeat(all.len()));
}

#[test]
fn receipt_vectors_match_the_implementation() {
    use base64::Engine;
    let read = |name: &str| -> Value {
        let path = format!("{}/spec/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file")).expect("json")
    };
    let doc = read("receipts.json");
    assert_eq!(
        doc,
        consentry::cli::receipt_vectors::receipt_vectors().expect("generator"),
        "spec/vectors/receipts.json is stale: run `cargo run --release -- vectors`"
    );
    let log = read("log.json");
    let verifier = consentry::log::note::NoteVerifier::parse(
        doc["verifier_key"].as_str().expect("verifier key"),
    )
    .expect("verifier");
    assert_eq!(doc["verifier_key"], log["verifier_key"]);
    let entries: Vec<Vec<u8>> = log["entries_b64"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            base64::engine::general_purpose::STANDARD
                .decode(e.as_str().expect("b64"))
                .expect("b64")
        })
        .collect();
    let mut index = consentry::index::ConsentIndex::new();
    for (i, e) in entries.iter().enumerate() {
        index.apply_entry(i as u64, e).expect("entry applies");
    }
    let checks = doc["checks"].as_array().expect("checks");
    assert!(checks.len() >= 4);
    let mut statuses = std::collections::BTreeSet::new();
    for c in checks {
        let env: Envelope = serde_json::from_value(c["receipt"].clone()).expect("envelope");
        let receipt = CheckReceipt::verify(&env, &verifier).expect("receipt verifies");
        assert_eq!(receipt.checkpoint.size, c["tree_size"]);
        assert_eq!(receipt.answers.blake3, c["answers_blake3"]);
        assert_eq!(receipt.hashes.blake3, c["hashes_blake3"]);
        let view = consentry::index::View {
            size: receipt.checkpoint.size,
            as_of: receipt.as_of,
        };
        let answers = c["answers"].as_array().expect("answers");
        if c["match"] == "near" {
            // Near matching (spec/receipt.md §4.3): each item answered
            // again by the registry's engine, its digests recomputed.
            assert_eq!(receipt.version, 2);
            let mut d = AnswerDigests::new();
            let items = c["items"].as_array().expect("items");
            assert_eq!(items.len(), answers.len());
            for (it, a) in items.iter().zip(answers) {
                let item = consentry::check::Item {
                    hash: it["hash"].as_str().map(|h| h.parse().expect("hash")),
                    codes: it["fingerprints"]
                        .as_array()
                        .map(|f| {
                            f.iter()
                                .map(|x| {
                                    consentry::domain::fingerprint::ImageCode::parse(
                                        x["value"].as_str().expect("value"),
                                    )
                                    .expect("code")
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                let got = consentry::check::answer_item(&index, view, &item);
                let ids = consentry::check::statement_ids(&index, &got.answer);
                let status = got.answer.status(receipt.purpose);
                assert_eq!(status.as_str(), a["status"]);
                assert_eq!(json!(got.kind.as_str()), a["match"]);
                assert_eq!(
                    json!(ids.iter().map(hex::encode).collect::<Vec<_>>()),
                    a["statements"]
                );
                d.add_item(&item, got.kind, &got.works, status, &ids);
            }
            let (h, ans) = d.finish();
            assert_eq!(
                (h, ans),
                (
                    receipt.hashes.blake3.clone(),
                    receipt.answers.blake3.clone()
                )
            );
            continue;
        }
        for a in answers {
            let hash: ContentHash = a["hash"].as_str().expect("hash").parse().expect("hash");
            let got = index.answer(&hash, view);
            let ids: Vec<String> = consentry::check::statement_ids(&index, &got)
                .iter()
                .map(hex::encode)
                .collect();
            assert_eq!(got.status(receipt.purpose).as_str(), a["status"]);
            assert_eq!(json!(ids), a["statements"]);
            statuses.insert((a["status"].as_str().map(str::to_owned), ids.len()));
        }
        assert_eq!(
            digest_of(answers),
            (
                receipt.hashes.blake3.clone(),
                receipt.answers.blake3.clone()
            )
        );
        // A receipt with one bit of its signature flipped does not verify.
        let mut forged = env.clone();
        let mut sig = base64::engine::general_purpose::STANDARD
            .decode(&forged.signatures[0].sig)
            .expect("sig");
        sig[7] ^= 1;
        forged.signatures[0].sig = base64::engine::general_purpose::STANDARD.encode(sig);
        assert!(CheckReceipt::verify(&forged, &verifier).is_err());
    }
    // The vectors cover every status, disputes (two statements) and unregistered works.
    for s in ["allowed", "disallowed", "unknown"] {
        assert!(
            statuses.iter().any(|(st, _)| st.as_deref() == Some(s)),
            "no {s} answer"
        );
    }
    assert!(statuses.iter().any(|(_, n)| *n == 2));
    assert!(statuses.iter().any(|(_, n)| *n == 0));
}
