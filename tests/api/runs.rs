//! Training-run reports and payout statements through the router, on both
//! backends: the statement is computed from consent at the check date,
//! signed, stored and logged; disallowed and unknown works are flagged;
//! artists, builders and anyone read what they may; bad reports are
//! refused and change nothing.

use consentry::crypto::Envelope;
use consentry::domain::{ContentHash, Timestamp};
use serde_json::{json, Value};

use crate::check::builder;
use crate::helpers::*;

crate::both_backends!(
    a_run_is_computed_signed_stored_and_logged,
    consent_is_read_at_the_check_date_or_the_receipt,
    bad_reports_are_refused_and_change_nothing,
);

fn terms_statement(
    key: &consentry::crypto::SecretKey,
    works: &[ContentHash],
    consent: Value,
    terms: Value,
) -> Envelope {
    let mut p = statement_payload(key, works, consent, ago(60));
    p["terms"] = terms;
    sign_statement(key, &p)
}

fn received(r: &Resp) -> Timestamp {
    r.body["accepted"][0]["received_at"]
        .as_str()
        .expect("received_at")
        .parse()
        .expect("timestamp")
}

async fn report(app: &TestApp, token: &str, body: &Value) -> Resp {
    app.post("/v1/runs", body, Some(token)).await
}

fn hashes(works: &[ContentHash]) -> Vec<String> {
    works.iter().map(ToString::to_string).collect()
}

async fn a_run_is_computed_signed_stored_and_logged(app: TestApp) {
    let ana = app.artist("Ana").await;
    let ben = app.artist("Ben").await;
    let chloe = app.artist("Chloé").await;
    let w: Vec<ContentHash> = (1..=6).map(work).collect();
    let share = json!([{ "kind": "revenue-share" }]);
    app.submit(
        &ana.token,
        &[terms_statement(
            &ana.key,
            &[w[0], w[1], w[5]],
            json!("opt-in"),
            share.clone(),
        )],
    )
    .await
    .assert_status(201);
    app.submit(
        &ben.token,
        &[terms_statement(
            &ben.key,
            &[w[2], w[5]],
            json!("opt-in"),
            json!([
                { "kind": "revenue-share" },
                { "kind": "attribution", "credit": "Ben B." },
                { "kind": "flat-fee", "amount": { "amount_minor": 500, "currency": "EUR" } }
            ]),
        )],
    )
    .await
    .assert_status(201);
    app.submit(
        &chloe.token,
        &[statement(&chloe.key, &[w[3]], json!("opt-out"), ago(60))],
    )
    .await
    .assert_status(201);
    // w[4] is unknown; w[5] is claimed by Ana and Ben: disputed.
    let lab = builder(&app).await;
    let before = app.counts().await;
    let r = report(
        &app,
        &lab,
        &json!({
            "run_id": "run-2026-11",
            "purpose": "train-genai",
            "pool": { "amount_minor": 100_000, "currency": "EUR" },
            "checked_at": Timestamp::now(),
            "works": hashes(&w),
        }),
    )
    .await;
    r.assert_status(201);
    let b = &r.body;
    assert_eq!(b["flags"]["disallowed_works"], 1, "{b}");
    assert_eq!(b["flags"]["unknown_works"], 1);
    assert_eq!(b["flags"]["disputed_works"], 1);
    assert_eq!(b["works"], 6);
    assert_eq!(b["excluded"], 2);
    let p = &b["statement"]["payout"];
    let excluded: Vec<(String, String)> = p["excluded"]
        .as_array()
        .expect("excluded")
        .iter()
        .map(|e| {
            (
                e["hash"].as_str().expect("hash").to_owned(),
                e["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect();
    assert!(
        excluded.contains(&(w[3].to_string(), "disallowed".into())),
        "{excluded:?}"
    );
    assert!(
        excluded.contains(&(w[4].to_string(), "unknown".into())),
        "{excluded:?}"
    );
    // Four shares of 25,000: Ana two, Ben one, one held for the dispute.
    let line = |id: &str| {
        p["artists"]
            .as_array()
            .expect("artists")
            .iter()
            .find(|a| a["artist_id"] == id)
            .cloned()
            .expect("artist line")
    };
    assert_eq!(line(&ana.id)["revenue_share"], 50_000);
    assert_eq!(line(&ben.id)["revenue_share"], 25_000);
    assert_eq!(line(&ben.id)["flat_fees"]["EUR"], 500);
    assert_eq!(p["held"][0]["hash"], w[5].to_string());
    assert_eq!(p["held"][0]["revenue_share"], 25_000);
    assert_eq!(p["held"][0]["flat_fees"]["EUR"], 500);
    assert_eq!(p["totals"]["pool_allocated"], 100_000);
    assert_eq!(p["totals"]["flat_fees"]["EUR"], 1000);
    assert_eq!(p["credits"][0]["credit"], "Ben B.");
    assert!(p["artists"]
        .as_array()
        .expect("artists")
        .iter()
        .all(|a| a["artist_id"] != chloe.id.as_str()));

    // Signed by the registry; the id is the payload's SHA-256; the
    // statement is the one the index recomputes.
    let env: Envelope = serde_json::from_value(b["envelope"].clone()).expect("envelope");
    let (stmt, id) =
        consentry::payouts::verify_statement(&env, app.state.registry.log().verifier())
            .expect("verifies");
    assert_eq!(id, b["statement_id"].as_str().expect("id"));
    assert_eq!(serde_json::to_value(&stmt).expect("json"), b["statement"]);
    let recomputed = app
        .state
        .registry
        .with_index(|st| consentry::payouts::recompute(&stmt, &st.index))
        .expect("recompute");
    assert_eq!(recomputed, stmt.payout);

    // One log entry, one statement, one line per artist paid or held.
    let after = app.counts().await;
    assert_eq!(after.documents, before.documents + 1);
    assert_eq!(after.payout_statements, before.payout_statements + 1);
    assert_eq!(after.payout_lines, 2);
    let index = b["log_index"].as_i64().expect("log index");
    let entries = app
        .get(&format!("/v1/log/entries?start={index}&limit=1"))
        .await;
    entries.assert_status(200);
    assert_eq!(
        entries.body["entries"][0]["kind"], "payout",
        "{}",
        entries.text
    );
    app.assert_log_verifies().await;

    // Anyone reads the statement by id.
    let g = app.get(&format!("/v1/payouts/{id}")).await;
    g.assert_status(200);
    assert_eq!(g.body["statement"], b["statement"]);
    assert_eq!(g.body["envelope"], b["envelope"]);
    assert_eq!(g.body["log_index"], index);
    app.get(&format!("/v1/payouts/{}", "0".repeat(64)))
        .await
        .assert_problem(404, "not-found");
    app.get("/v1/payouts/nope")
        .await
        .assert_problem(400, "invalid-parameter");

    // The builder lists its runs; artists their lines, and only theirs.
    let runs = app.send(get_with_token("/v1/runs", &lab)).await;
    runs.assert_status(200);
    assert_eq!(runs.body["items"][0]["statement_id"], id.as_str());
    assert_eq!(runs.body["items"][0]["run_id"], "run-2026-11");
    let lines = |a: &Artist| {
        app.send(get_with_token(
            &format!("/v1/artists/{}/payouts", a.id),
            &a.token,
        ))
    };
    let ana_lines = lines(&ana).await;
    ana_lines.assert_status(200);
    let l = &ana_lines.body["items"][0];
    assert_eq!(l["statement_id"], id.as_str());
    assert_eq!(l["line"]["works"], 2);
    assert_eq!(l["line"]["held_works"], 1);
    assert_eq!(l["line"]["revenue_share"], 50_000);
    let ben_lines = lines(&ben).await;
    assert_eq!(ben_lines.body["items"][0]["line"]["flat_fees"]["EUR"], 500);
    assert_eq!(lines(&chloe).await.body["items"], json!([]));
    app.send(get_with_token(
        &format!("/v1/artists/{}/payouts", ben.id),
        &ana.token,
    ))
    .await
    .assert_problem(403, "forbidden");
    app.send(get_with_token(
        &format!("/v1/artists/{}/payouts", ana.id),
        &lab,
    ))
    .await
    .assert_problem(403, "forbidden");
    app.get(&format!("/v1/artists/{}/payouts", ana.id))
        .await
        .assert_problem(401, "unauthorized");
    app.send(get_with_token("/v1/runs", &ana.token))
        .await
        .assert_problem(403, "forbidden");

    // A run id is reported once: statements are never rewritten.
    let again = report(
        &app,
        &lab,
        &json!({
            "run_id": "run-2026-11",
            "purpose": "train-genai",
            "pool": { "amount_minor": 1, "currency": "EUR" },
            "checked_at": Timestamp::now(),
            "works": hashes(&w[..1]),
        }),
    )
    .await;
    again.assert_problem(409, "run-exists");
    assert_eq!(app.counts().await, after);

    // Paging: a second run, one per page.
    report(
        &app,
        &lab,
        &json!({
            "run_id": "run-2026-12",
            "purpose": "train-genai",
            "pool": { "amount_minor": 10, "currency": "EUR" },
            "checked_at": Timestamp::now(),
            "works": hashes(&w[..2]),
        }),
    )
    .await
    .assert_status(201);
    let first = app.send(get_with_token("/v1/runs?limit=1", &lab)).await;
    assert_eq!(first.body["items"][0]["run_id"], "run-2026-11");
    let next = first.body["next_after"].as_i64().expect("next_after");
    let second = app
        .send(get_with_token(
            &format!("/v1/runs?limit=1&after={next}"),
            &lab,
        ))
        .await;
    assert_eq!(second.body["items"][0]["run_id"], "run-2026-12");
    app.send(get_with_token("/v1/runs?limit=0", &lab))
        .await
        .assert_problem(400, "invalid-parameter");
    app.assert_log_verifies().await;
}

async fn consent_is_read_at_the_check_date_or_the_receipt(app: TestApp) {
    let ana = app.artist("Ana").await;
    let w = work(1);
    let allowed = app
        .submit(
            &ana.token,
            &[terms_statement(
                &ana.key,
                &[w],
                json!("opt-in"),
                json!([{ "kind": "revenue-share" }]),
            )],
        )
        .await;
    allowed.assert_status(201);
    let t1 = received(&allowed);
    let lab = builder(&app).await;
    // The builder checks while the work is allowed, and keeps the receipt.
    let check = app
        .post(
            "/v1/check",
            &json!({ "purpose": "train-ai", "hashes": [w.to_string()] }),
            Some(&lab),
        )
        .await;
    check.assert_status(200);
    let receipt = check.body["receipt"].clone();
    let out = app
        .submit(
            &ana.token,
            &[statement(&ana.key, &[w], json!("opt-out"), ago(1))],
        )
        .await;
    out.assert_status(201);
    let t2 = received(&out);

    let run = |id: &str, checked_at: Option<Timestamp>, receipt: Option<&Value>| {
        let mut body = json!({
            "run_id": id,
            "purpose": "train-ai",
            "pool": { "amount_minor": 900, "currency": "USD" },
            "works": [w.to_string()],
        });
        if let Some(t) = checked_at {
            body["checked_at"] = json!(t);
        }
        if let Some(r) = receipt {
            body["receipt"] = r.clone();
        }
        body
    };
    // Checked between the opt-in and the opt-out: paid.
    let mid = Timestamp::from_unix_nanos(t2.unix_nanos() - 1);
    let r = report(&app, &lab, &run("mid", Some(mid), None)).await;
    r.assert_status(201);
    assert_eq!(
        r.body["statement"]["payout"]["artists"][0]["revenue_share"],
        900
    );
    assert_eq!(r.body["statement"]["view"]["as_of"], json!(mid));
    assert!(t1 <= mid);
    // Checked after the opt-out: excluded, flagged.
    let r = report(&app, &lab, &run("late", Some(t2), None)).await;
    r.assert_status(201);
    assert_eq!(r.body["flags"]["disallowed_works"], 1);
    assert_eq!(
        r.body["statement"]["payout"]["excluded"][0]["status"],
        "disallowed"
    );
    assert_eq!(
        r.body["statement"]["payout"]["totals"]["pool_unallocated"],
        900
    );
    // With the receipt: consent at the receipt's checkpoint, its date.
    let r = report(&app, &lab, &run("receipt", None, Some(&receipt))).await;
    r.assert_status(201);
    let s = &r.body["statement"];
    assert_eq!(s["payout"]["artists"][0]["revenue_share"], 900, "{s}");
    assert_eq!(s["view"]["size"], check.body["checkpoint"]["size"]);
    assert!(s["view"].get("as_of").is_none());
    assert!(s["receipt"].as_str().is_some_and(|h| h.len() == 64));

    // Receipts that do not match the report are refused.
    let other_lab = builder(&app).await;
    let before = app.counts().await;
    let other = work(2);
    let mut body = run("other-works", None, Some(&receipt));
    body["works"] = json!([other.to_string()]);
    report(&app, &lab, &body)
        .await
        .assert_problem(422, "receipt-mismatch");
    let mut body = run("other-purpose", None, Some(&receipt));
    body["purpose"] = json!("search");
    report(&app, &lab, &body)
        .await
        .assert_problem(422, "receipt-mismatch");
    report(&app, &lab, &run("other-date", Some(t2), Some(&receipt)))
        .await
        .assert_problem(422, "receipt-mismatch");
    let mut forged = receipt.clone();
    forged["signatures"][0]["sig"] = json!(B64_ZERO_SIG);
    report(&app, &lab, &run("forged", None, Some(&forged)))
        .await
        .assert_problem(422, "receipt-mismatch");
    report(&app, &other_lab, &run("not-mine", None, Some(&receipt)))
        .await
        .assert_problem(422, "receipt-mismatch");
    assert_eq!(app.counts().await, before);
    app.assert_log_verifies().await;
}

/// 64 zero bytes, base64.
const B64_ZERO_SIG: &str =
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

async fn bad_reports_are_refused_and_change_nothing(app: TestApp) {
    let ana = app.artist("Ana").await;
    let lab = builder(&app).await;
    let w = work(1);
    let good = json!({
        "run_id": "r1",
        "purpose": "train-ai",
        "pool": { "amount_minor": 100, "currency": "EUR" },
        "checked_at": Timestamp::now(),
        "works": [w.to_string()],
    });
    let with = |member: &str, v: Value| {
        let mut b = good.clone();
        b[member] = v;
        b
    };
    let before = app.counts().await;
    app.post("/v1/runs", &good, None)
        .await
        .assert_problem(401, "unauthorized");
    report(&app, &ana.token, &good)
        .await
        .assert_problem(403, "forbidden");
    app.post_raw("/v1/runs", b"{}".to_vec(), Some("text/plain"), Some(&lab))
        .await
        .assert_problem(415, "unsupported-media-type");
    app.post_raw(
        "/v1/runs",
        b"{not json".to_vec(),
        Some("application/json"),
        Some(&lab),
    )
    .await
    .assert_problem(400, "malformed-json");
    for (member, value, status, slug) in [
        ("purpose", json!("paint"), 400, "unknown-purpose"),
        ("checked_at", json!("yesterday"), 400, "invalid-parameter"),
        (
            "checked_at",
            json!(Timestamp::now().plus_secs(3600)),
            422,
            "invalid-run",
        ),
        ("checked_at", Value::Null, 422, "invalid-run"),
        ("run_id", json!(""), 422, "invalid-run"),
        ("run_id", json!("has space"), 422, "invalid-run"),
        ("run_id", json!("x".repeat(129)), 422, "invalid-run"),
        (
            "pool",
            json!({ "amount_minor": 100, "currency": "XXX" }),
            422,
            "invalid-run",
        ),
        (
            "pool",
            json!({ "amount_minor": 1_000_000_000_000_000_000u64, "currency": "EUR" }),
            422,
            "invalid-run",
        ),
        (
            "pool",
            json!({ "amount_minor": -1, "currency": "EUR" }),
            400,
            "malformed-json",
        ),
        (
            "pool",
            json!({ "amount": 1, "currency": "EUR" }),
            400,
            "malformed-json",
        ),
        ("works", json!([]), 400, "empty-batch"),
        (
            "works",
            json!([w.to_string(), "blake3:zz"]),
            400,
            "invalid-hash",
        ),
        (
            "works",
            json!([w.to_string(), w.to_string()]),
            422,
            "invalid-run",
        ),
        (
            "receipt",
            json!({ "payloadType": "x", "payload": "", "signatures": [] }),
            422,
            "receipt-mismatch",
        ),
        ("extra", json!(1), 400, "malformed-json"),
    ] {
        let r = report(&app, &lab, &with(member, value.clone())).await;
        assert_eq!(r.status.as_u16(), status, "{member} = {value}: {}", r.text);
        r.assert_problem(status, slug);
    }
    let bad = report(
        &app,
        &lab,
        &with("works", json!([w.to_string(), "blake3:zz"])),
    )
    .await;
    assert_eq!(bad.body["errors"][0]["index"], 1);
    let dup = report(
        &app,
        &lab,
        &with("works", json!([w.to_string(), w.to_string()])),
    )
    .await;
    assert!(
        dup.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("works[1]")),
        "{}",
        dup.text
    );
    assert_eq!(app.counts().await, before, "refused reports change nothing");
    report(&app, &lab, &good).await.assert_status(201);
}
