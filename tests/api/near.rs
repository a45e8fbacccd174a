//! Near-duplicate matching through the router, on both backends: image
//! codes signed into statements are validated and indexed; check items
//! with fingerprints are answered `near` with the matched work's consent,
//! as of any instant, with disputes between near works combined by the
//! most-restrictive rule; receipts of near answers are version 2 and bind
//! the items and the matches; hash-only checks are answered as before.

use consentry::check::{answer_item, statement_ids, AnswerDigests, CheckReceipt, Item, MATCHING};
use consentry::crypto::{Envelope, SecretKey};
use consentry::domain::fingerprint::ImageCode;
use consentry::domain::{ContentHash, Timestamp};
use consentry::index::View;
use serde_json::{json, Value};

use crate::check::builder;
use crate::helpers::*;

crate::both_backends!(
    near_copies_answer_with_the_registered_works_consent,
    near_matches_follow_as_of_disputes_and_revocations,
    bad_fingerprints_are_refused_and_change_nothing,
    streams_match_near_items_line_by_line,
    anyone_looks_up_the_works_near_an_image,
);

/// A valid, feature-rich 64-bit code derived from `n`.
fn code(n: u64) -> u64 {
    // Alternate bytes keep every code far from featureless.
    let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555_5555_5555_5555;
    x | 0x0101_0101_0101_0101
}

fn text(code: u64) -> String {
    ImageCode::from_body(&code.to_be_bytes())
        .expect("8 bytes")
        .to_string()
}

fn flip(code: u64, bits: u32) -> u64 {
    (0..bits).fold(code, |c, i| c ^ (1 << (i * 7 % 64)))
}

/// A statement whose works carry the given image codes.
fn statement_with_codes(
    key: &SecretKey,
    works: &[(ContentHash, Vec<u64>)],
    consent: Value,
    issued_at: Timestamp,
) -> Envelope {
    let payload = json!({
        "version": 1,
        "key": key.public_key().to_string(),
        "works": works.iter().map(|(h, codes)| {
            let mut w = json!({ "hash": h });
            if !codes.is_empty() {
                w["fingerprints"] = codes
                    .iter()
                    .map(|&c| json!({"algorithm": "iscc-image-v0", "value": text(c)}))
                    .collect();
            }
            w
        }).collect::<Vec<_>>(),
        "consent": consent,
        "issued_at": issued_at,
    });
    sign_statement(key, &payload)
}

fn fp(code: u64) -> Value {
    json!([{ "algorithm": "iscc-image-v0", "value": text(code) }])
}

fn receipt_of(app: &TestApp, body: &Value) -> CheckReceipt {
    let env: Envelope = serde_json::from_value(body["receipt"].clone()).expect("envelope");
    CheckReceipt::verify(&env, app.state.registry.log().verifier()).expect("receipt verifies")
}

async fn near_copies_answer_with_the_registered_works_consent(app: TestApp) {
    let a = app.artist("Ada").await;
    let (w1, w2) = (work(1), work(2));
    app.submit(
        &a.token,
        &[
            statement_with_codes(
                &a.key,
                &[(w1, vec![code(1), code(11)])],
                json!("opt-out"),
                ago(60),
            ),
            statement_with_codes(&a.key, &[(w2, vec![code(2)])], json!("opt-in"), ago(60)),
        ],
    )
    .await
    .assert_status(201);
    let token = builder(&app).await;
    let (w77, w78, w79) = (work(77), work(78), work(79));
    let items = json!([
        { "hash": w1 },
        { "fingerprints": fp(flip(code(1), 3)) },
        { "hash": w77, "fingerprints": fp(flip(code(2), MATCHING.max_distance)) },
        { "hash": w78, "fingerprints": fp(flip(code(2), MATCHING.max_distance + 2)) },
        { "fingerprints": fp(code(99)) },
        { "hash": w79 },
    ]);
    let r = app
        .post(
            "/v1/check",
            &json!({"purpose": "train-ai", "items": items}),
            Some(&token),
        )
        .await;
    r.assert_status(200);
    let res = r.body["results"].as_array().expect("results");
    assert_eq!(res.len(), 6);
    assert_eq!(res[0]["match"], "exact");
    assert_eq!(res[0]["status"], "disallowed");
    assert_eq!(
        res[0]["matched"],
        json!([{"hash": w1.to_string(), "distance": 0}])
    );
    assert_eq!(res[1]["match"], "near");
    assert_eq!(res[1]["hash"], Value::Null);
    assert_eq!(res[1]["status"], "disallowed");
    assert_eq!(
        res[1]["matched"],
        json!([{"hash": w1.to_string(), "distance": 3}])
    );
    assert_eq!(res[1]["claimants"][0]["display_name"], "Ada");
    assert_eq!(res[2]["match"], "near");
    assert_eq!(res[2]["status"], "allowed");
    assert_eq!(res[2]["hash"], w77.to_string());
    assert_eq!(res[3]["match"], Value::Null, "two bits past the threshold");
    assert_eq!(res[3]["status"], "unknown");
    assert_eq!(res[3]["registered"], false);
    assert_eq!(res[4]["match"], Value::Null);
    assert_eq!(res[5]["match"], Value::Null);
    assert_eq!(r.body["matched"], json!({"exact": 1, "near": 2}));
    assert_eq!(r.body["matching"]["max_distance"], MATCHING.max_distance);
    let receipt = receipt_of(&app, &r.body);
    assert_eq!(receipt.version, 2);
    assert_eq!(receipt.matching, Some(MATCHING));
    assert_eq!(receipt.counts.disallowed, 2);
    assert_eq!(receipt.counts.allowed, 1);
    assert_eq!(receipt.hashes.count, 6);

    // The receipt binds the items and the answers: recompute both digests
    // from the log's own entries.
    let mut index = consentry::index::ConsentIndex::new();
    for (i, e) in app.log_entries().await.iter().enumerate() {
        index.apply_entry(i as u64, e).expect("entry applies");
    }
    let view = View {
        size: receipt.checkpoint.size,
        as_of: None,
    };
    let mut d = AnswerDigests::new();
    for it in items.as_array().expect("items") {
        let item = Item {
            hash: it["hash"].as_str().map(|h| h.parse().expect("hash")),
            codes: it["fingerprints"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .map(|c| ImageCode::parse(c["value"].as_str().expect("v")).expect("code"))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let a = answer_item(&index, view, &item);
        let status = a.answer.status(consentry::domain::Category::TrainAi);
        d.add_item(
            &item,
            a.kind,
            &a.works,
            status,
            &statement_ids(&index, &a.answer),
        );
    }
    let (h, ans) = d.finish();
    assert_eq!(h, receipt.hashes.blake3);
    assert_eq!(ans, receipt.answers.blake3);

    // Compact mode: statuses and match letters, the same receipt digests.
    let r = app
        .post(
            "/v1/check",
            &json!({"purpose": "train-ai", "items": items, "mode": "compact"}),
            Some(&token),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["statuses"], "ddauuu");
    assert_eq!(r.body["matches"], "enn---");
    assert_eq!(
        receipt_of(&app, &r.body).answers.blake3,
        receipt.answers.blake3
    );

    // Hash-only checks are answered as before: version 1, no match members.
    let r = app
        .post(
            "/v1/check",
            &json!({"purpose": "train-ai", "hashes": [w1, w79]}),
            Some(&token),
        )
        .await;
    r.assert_status(200);
    assert!(r.body["results"][0].get("match").is_none());
    assert!(r.body.get("matching").is_none());
    assert_eq!(receipt_of(&app, &r.body).version, 1);
    // `match: near` with hashes: a version 2 receipt, exact answers.
    let r = app
        .post(
            "/v1/check",
            &json!({"purpose": "train-ai", "hashes": [w1], "match": "near"}),
            Some(&token),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["results"][0]["match"], "exact");
    assert_eq!(receipt_of(&app, &r.body).version, 2);
    // The rule is published.
    let info = app.get("/v1/registry").await;
    assert_eq!(info.body["matching"]["algorithm"], "iscc-image-v0");
    assert_eq!(info.body["matching"]["max_distance"], MATCHING.max_distance);
    app.assert_log_verifies().await;
}

async fn near_matches_follow_as_of_disputes_and_revocations(app: TestApp) {
    let a = app.artist("Ada").await;
    let b = app.artist("Bo").await;
    let query = code(5);
    let (w1, w2) = (work(1), work(2));
    // Ada's work is 1 bit from the query and allows training; Bo's, 2 bits
    // away, registered later, does not.
    let r = app
        .submit(
            &a.token,
            &[statement_with_codes(
                &a.key,
                &[(w1, vec![flip(query, 1)])],
                json!("opt-in"),
                ago(120),
            )],
        )
        .await;
    r.assert_status(201);
    let first = r.body["accepted"][0]["received_at"]
        .as_str()
        .expect("t")
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.submit(
        &b.token,
        &[statement_with_codes(
            &b.key,
            &[(w2, vec![flip(query, 2)])],
            json!("opt-out"),
            ago(60),
        )],
    )
    .await
    .assert_status(201);
    let token = builder(&app).await;
    let ask = |as_of: Option<&str>| {
        let mut body = json!({"purpose": "train-ai", "items": [{"fingerprints": fp(query)}]});
        if let Some(t) = as_of {
            body["as_of"] = json!(t);
        }
        body
    };
    let r = app.post("/v1/check", &ask(None), Some(&token)).await;
    r.assert_status(200);
    let res = &r.body["results"][0];
    assert_eq!(res["match"], "near");
    assert_eq!(
        res["status"], "disallowed",
        "the most restrictive near work decides"
    );
    assert_eq!(res["disputed"], true);
    assert_eq!(
        res["matched"],
        json!([{"hash": w1.to_string(), "distance": 1}, {"hash": w2.to_string(), "distance": 2}])
    );
    assert_eq!(res["statements"].as_array().map(Vec::len), Some(2));
    // As of Ada's statement, Bo's work was not registered.
    let r = app
        .post("/v1/check", &ask(Some(&first)), Some(&token))
        .await;
    r.assert_status(200);
    let res = &r.body["results"][0];
    assert_eq!(res["status"], "allowed");
    assert_eq!(res["matched"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        receipt_of(&app, &r.body).as_of.map(|t| t.to_string()),
        Some(first.clone())
    );
    // Before anything: no match.
    let r = app
        .post(
            "/v1/check",
            &ask(Some("2000-01-01T00:00:00Z")),
            Some(&token),
        )
        .await;
    assert_eq!(r.body["results"][0]["match"], Value::Null);
    // Bo's key is revoked back before his statement: his code no longer
    // counts, and Ada's consent answers.
    let bo_registered =
        app.get(&format!("/v1/artists/{}", b.id)).await.body["registered_at"].clone();
    let event = key_event(
        &b.id,
        "revoke",
        &b.key.public_key().to_string(),
        json!({ "effective_at": bo_registered }),
        &[&b.key],
    );
    let r = app
        .post(
            &format!("/v1/artists/{}/keys", b.id),
            &json!(event),
            Some(&b.token),
        )
        .await;
    r.assert_status(201);
    let r = app.post("/v1/check", &ask(None), Some(&token)).await;
    let res = &r.body["results"][0];
    assert_eq!(res["status"], "allowed");
    assert_eq!(
        res["matched"],
        json!([{"hash": w1.to_string(), "distance": 1}])
    );
    app.assert_log_verifies().await;
}

async fn bad_fingerprints_are_refused_and_change_nothing(app: TestApp) {
    let a = app.artist("Ada").await;
    let w1 = work(1);
    let before = app.counts().await;
    for bad in [
        "EEA4GQZQTY6J5DTH",
        "ISCC:EEA4GQZQTY6J5DT",
        "ISCC:EAASKDNZNYGUUF5A",
        "ISCC:eea4gqzqty6j5dth",
    ] {
        let payload = json!({
            "version": 1,
            "key": a.key.public_key().to_string(),
            "works": [{"hash": w1, "fingerprints": [{"algorithm": "iscc-image-v0", "value": bad}]}],
            "consent": "opt-out",
            "issued_at": ago(10),
        });
        let r = app
            .submit(&a.token, &[sign_statement(&a.key, &payload)])
            .await;
        assert!(r.status == 422 || r.status == 400, "{bad}: {}", r.text);
        assert!(
            r.text.contains(&w1.to_string()),
            "the error names the work: {}",
            r.text
        );
    }
    assert_eq!(app.counts().await, before);
    // Unknown algorithms are still stored verbatim.
    let payload = json!({
        "version": 1,
        "key": a.key.public_key().to_string(),
        "works": [{"hash": work(1), "fingerprints": [{"algorithm": "pdq", "value": "anything"}]}],
        "consent": "opt-out",
        "issued_at": ago(10),
    });
    app.submit(&a.token, &[sign_statement(&a.key, &payload)])
        .await
        .assert_status(201);

    let token = builder(&app).await;
    let many: Vec<Value> = (0..9)
        .map(|i| json!({"algorithm": "iscc-image-v0", "value": text(code(i))}))
        .collect();
    for (item, why) in [
        (
            json!({"fingerprints": [{"algorithm": "iscc-image-v0", "value": "ISCC:EEA4"}]}),
            "ISCC",
        ),
        (
            json!({"fingerprints": [{"algorithm": "pdq", "value": "00"}]}),
            "unknown algorithm",
        ),
        (json!({"fingerprints": many}), "at most 8"),
        (json!({}), "hash, fingerprints, or both"),
        (json!({"hash": "blake3:00"}), "hash"),
    ] {
        let r = app
            .post(
                "/v1/check",
                &json!({"purpose": "search", "items": [{"hash": work(1)}, item]}),
                Some(&token),
            )
            .await;
        r.assert_problem(400, "invalid-item");
        assert_eq!(r.body["errors"][0]["index"], 1, "{}", r.text);
        assert!(r.text.contains(why), "{why}: {}", r.text);
    }
    let r = app
        .post(
            "/v1/check",
            &json!({"purpose": "search", "match": "exact", "items": [{"hash": work(1), "fingerprints": fp(code(1))}]}),
            Some(&token),
        )
        .await;
    r.assert_problem(400, "invalid-item");
    let r = app
        .post(
            "/v1/check",
            &json!({"purpose": "search", "hashes": [work(1)], "items": [{"hash": work(1)}]}),
            Some(&token),
        )
        .await;
    r.assert_problem(400, "malformed-json");
    let r = app
        .post(
            "/v1/check",
            &json!({"purpose": "search", "hashes": [work(1)], "match": "fuzzy"}),
            Some(&token),
        )
        .await;
    r.assert_problem(400, "invalid-parameter");
    app.assert_log_verifies().await;
}

async fn streams_match_near_items_line_by_line(app: TestApp) {
    let a = app.artist("Ada").await;
    let w1 = work(1);
    app.submit(
        &a.token,
        &[statement_with_codes(
            &a.key,
            &[(w1, vec![code(1)])],
            json!("opt-out"),
            ago(60),
        )],
    )
    .await
    .assert_status(201);
    let token = builder(&app).await;
    let body = format!(
        "{}\n\n{}\n{}\n\"{}\"\n",
        json!({"fingerprints": fp(flip(code(1), 2))}),
        json!({"fingerprints": [{"algorithm": "iscc-image-v0", "value": "nope"}]}),
        json!({"hash": work(5), "fingerprints": fp(code(40))}),
        w1,
    );
    let r = app
        .post_raw(
            "/v1/check/stream?purpose=train-ai&match=near",
            body.clone().into_bytes(),
            Some("application/x-ndjson"),
            Some(&token),
        )
        .await;
    r.assert_status(200);
    let lines: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 5, "{}", r.text);
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["match"], "near");
    assert_eq!(lines[0]["status"], "disallowed");
    assert_eq!(lines[1]["line"], 3);
    assert!(lines[1]["error"]["detail"]
        .as_str()
        .expect("detail")
        .contains("ISCC"));
    assert_eq!(lines[2]["match"], Value::Null);
    assert_eq!(lines[3]["match"], "exact");
    let done = &lines[4];
    assert_eq!(done["done"], true);
    assert_eq!(done["count"], 3);
    assert_eq!(done["errors"], 1);
    assert_eq!(done["matched"], json!({"exact": 1, "near": 1}));
    assert_eq!(receipt_of(&app, done).version, 2);
    // Without match=near, fingerprint lines are errors and the receipt is version 1.
    let r = app
        .post_raw(
            "/v1/check/stream?purpose=train-ai",
            body.into_bytes(),
            Some("application/x-ndjson"),
            Some(&token),
        )
        .await;
    let lines: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(lines[0]["error"]["detail"]
        .as_str()
        .expect("d")
        .contains("match=near"));
    assert_eq!(receipt_of(&app, lines.last().expect("done")).version, 1);
    // Raw records cannot carry fingerprints.
    let r = app
        .post_raw(
            "/v1/check/stream?purpose=train-ai&match=near",
            vec![0u8; 32],
            Some("application/octet-stream"),
            Some(&token),
        )
        .await;
    r.assert_problem(400, "invalid-parameter");
}

/// `GET /v1/near`: without a token, the works a near-matching check would
/// match, nearest first; bad codes are 400 and change nothing.
async fn anyone_looks_up_the_works_near_an_image(app: TestApp) {
    let a = app.artist("Ada").await;
    let (w1, w2) = (work(1), work(2));
    app.submit(
        &a.token,
        &[statement_with_codes(
            &a.key,
            &[(w1, vec![code(1), code(11)]), (w2, vec![flip(code(1), 4)])],
            json!("opt-out"),
            ago(60),
        )],
    )
    .await
    .assert_status(201);
    let near = |codes: &[u64]| {
        let q: Vec<String> = codes.iter().map(|&c| text(c)).collect();
        format!("/v1/near?codes={}", q.join(","))
    };
    let r = app.get(&near(&[flip(code(1), 1)])).await;
    r.assert_status(200);
    assert_eq!(
        r.body["matched"],
        json!([
            {"hash": w1.to_string(), "distance": 1},
            // flip() flips bits 0, 7, 14, 21: the query shares bit 0.
            {"hash": w2.to_string(), "distance": 3},
        ])
    );
    assert_eq!(r.body["matching"], json!(MATCHING));
    assert!(r.body["checkpoint"]["size"]
        .as_u64()
        .is_some_and(|s| s >= 2));
    // The nearest of several codes counts; a far code matches nothing.
    let r = app.get(&near(&[code(99), code(11)])).await;
    r.assert_status(200);
    assert_eq!(
        r.body["matched"],
        json!([{"hash": w1.to_string(), "distance": 0}])
    );
    let r = app.get(&near(&[code(99)])).await;
    r.assert_status(200);
    assert_eq!(r.body["matched"], json!([]));
    // What the check answers for the same item.
    let token = builder(&app).await;
    let r = app
        .post(
            "/v1/check",
            &json!({"purpose": "train-ai", "items": [{"fingerprints": fp(flip(code(1), 1))}]}),
            Some(&token),
        )
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body["results"][0]["matched"].as_array().map(Vec::len),
        Some(2)
    );

    let before = app.counts().await;
    let nine: Vec<u64> = (0..9).map(code).collect();
    for bad in [
        "/v1/near".to_owned(),
        "/v1/near?codes=".to_owned(),
        "/v1/near?codes=ISCC:EEA4GQZQTY6J5DT".to_owned(),
        "/v1/near?codes=ISCC:EAASKDNZNYGUUF5A".to_owned(),
        format!(
            "/v1/near?codes={}&as_of=2026-01-01T00:00:00Z",
            text(code(1))
        ),
        near(&nine),
    ] {
        app.get(&bad).await.assert_problem(400, "invalid-parameter");
    }
    assert_eq!(app.counts().await, before);
}
