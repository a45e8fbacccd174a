//! `consentry payout report` and `payout verify` through the binary, against
//! a real server on both backends: a run reported with a check receipt and
//! one with a check date; statements verified offline, online and by id
//! (also after a restart); an altered amount, a statement computed for
//! another date, a forged signature and an unlogged statement detected.

use std::path::Path;

use base64::Engine;
use consentry::crypto::{Envelope, PayloadType, SecretKey};
use consentry::domain::Timestamp;
use serde_json::Value;

use crate::helpers::*;

crate::both_backends_raw!(report_and_verify_payouts);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn fails(out: &std::process::Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    stderr
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

/// The statement payload of a saved report response.
fn payload_of(saved: &Value) -> Value {
    let bytes = B64
        .decode(saved["envelope"]["payload"].as_str().expect("payload"))
        .expect("base64");
    serde_json::from_slice(&bytes).expect("statement")
}

/// A statement signed with `key` (the registry's own, for forgeries the
/// signature cannot catch).
fn write_signed(path: &Path, statement: &Value, key: &SecretKey) {
    let env = Envelope::sign(
        PayloadType::PayoutStatement,
        &serde_json::to_vec(statement).expect("json"),
        &[key],
    );
    std::fs::write(path, serde_json::to_vec(&env).expect("json")).expect("write");
}

async fn report_and_verify_payouts(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (url, _location) = server_database(backend, d).await;
    let admin = SecretKey::generate();
    admin
        .write_new_file(&d.join("admin.key"))
        .expect("admin key");
    let admin_arg = admin.public_key().to_string();
    let mut server = Server::start_with(d, &url, &["--admin-key", &admin_arg]).await;
    std::fs::create_dir_all(d.join("data")).expect("mkdir");
    for (name, bytes) in [
        ("a.png", b"aaa"),
        ("b.png", b"bbb"),
        ("c.png", b"ccc"),
        ("d.png", b"ddd"),
    ] {
        std::fs::write(d.join("data").join(name), bytes).expect("write");
    }
    // Ana asks a revenue share for a and b; Ben a share with a 300.00 EUR
    // minimum and a 5.00 EUR flat fee for c; d is unknown.
    for (who, name) in [("ana", "Ana"), ("ben", "Ben")] {
        ok(&server
            .cli(&["keygen", "--out", &format!("{who}.key")])
            .await);
        ok(&server
            .cli(&[
                "artist",
                "create",
                "--key",
                &format!("{who}.key"),
                "--name",
                name,
            ])
            .await);
    }
    ok(&server
        .cli(&[
            "register",
            "data/a.png",
            "data/b.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-in",
            "--revenue-share",
        ])
        .await);
    ok(&server
        .cli(&[
            "register",
            "data/c.png",
            "--key",
            "ben.key",
            "--consent",
            "opt-in",
            "--revenue-share",
            "30000:EUR",
            "--flat-fee",
            "500:EUR",
        ])
        .await);
    server.create_lab().await;
    // The lab checks its data and keeps the receipt; then Ana opts b out.
    ok(&server
        .cli(&[
            "check",
            "data",
            "--purpose",
            "train-genai",
            "--key",
            "lab.key",
            "--match",
            "exact",
            "--receipt",
            "check.json",
            "--quiet",
        ])
        .await);
    let before_opt_out = Timestamp::now();
    ok(&server
        .cli(&[
            "register",
            "data/b.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-out",
        ])
        .await);

    // Run 1, with the receipt: consent as checked, b still allowed.
    let out = server
        .cli(&[
            "payout",
            "report",
            "data",
            "--run-id",
            "r1",
            "--purpose",
            "train-genai",
            "--pool-minor",
            "100000",
            "--currency",
            "EUR",
            "--receipt",
            "check.json",
            "--key",
            "lab.key",
            "--out",
            "r1.json",
            "--quiet",
        ])
        .await;
    let stdout = ok(&out);
    assert!(stdout.contains("4 works"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0 works were disallowed and 1 unknown for train-genai"),
        "{stderr}"
    );
    let r1 = read_json(&d.join("r1.json"));
    let p1 = &r1["statement"]["payout"];
    // Three shares of 100,000 with Ben's minimum of 30,000 below a third:
    // 33,334 / 33,333 / 33,333 (the extra unit to the first share in order).
    assert_eq!(p1["totals"]["pool_allocated"], 100_000, "{p1}");
    assert_eq!(p1["excluded"][0]["status"], "unknown");
    assert_eq!(p1["totals"]["flat_fees"]["EUR"], 500);

    // Run 2, checked now: b is disallowed, flagged, and Ben's minimum binds.
    let out = server
        .cli(&[
            "payout",
            "report",
            "data",
            "--run-id",
            "r2",
            "--purpose",
            "train-genai",
            "--pool-minor",
            "50000",
            "--currency",
            "EUR",
            "--checked-at",
            &Timestamp::now().to_string(),
            "--key",
            "lab.key",
            "--out",
            "r2.json",
            "--quiet",
        ])
        .await;
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("1 work was disallowed and 1 unknown for train-genai"));
    let r2 = read_json(&d.join("r2.json"));
    assert_eq!(r2["flags"]["disallowed_works"], 1);

    // Verify: offline, online, and by id.
    let vkey = consentry::cli::client::Client::new(&server.base)
        .expect("client")
        .get_json("/v1/log")
        .await
        .expect("log")["verifier_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let out = ok(&server
        .cli(&["payout", "verify", "r1.json", "--verifier-key", &vkey])
        .await);
    assert!(out.contains("ok: statement"), "{out}");
    for file in ["r1.json", "r2.json"] {
        let out = ok(&server
            .cli(&[
                "payout",
                "verify",
                file,
                "--verifier-key",
                &vkey,
                "--log",
                &server.base,
            ])
            .await);
        assert!(
            out.contains("ok: the log records the statement at entry"),
            "{out}"
        );
        assert!(
            out.contains("ok: the payout recomputed from the log matches the statement"),
            "{out}"
        );
    }
    // After a restart (the consent index is rebuilt from a log holding
    // payout records), by id.
    server.kill9();
    let server = Server::start_with(d, &url, &["--admin-key", &admin_arg]).await;
    let id = r1["statement_id"].as_str().expect("id");
    let out = ok(&server
        .cli(&[
            "payout",
            "verify",
            id,
            "--verifier-key",
            &vkey,
            "--log",
            &server.base,
        ])
        .await);
    assert!(out.contains("matches the statement"), "{out}");

    let registry = SecretKey::load(&d.join("registry.key")).expect("registry key");
    // An altered amount, re-signed with the registry's key so that only the
    // log can tell: one unit moved from one artist to the other.
    let mut altered = payload_of(&r1);
    let artists = altered["payout"]["artists"]
        .as_array_mut()
        .expect("artists");
    let first = artists[0]["revenue_share"].as_u64().expect("share");
    let second = artists[1]["revenue_share"].as_u64().expect("share");
    artists[0]["revenue_share"] = Value::from(first + 1);
    artists[1]["revenue_share"] = Value::from(second - 1);
    write_signed(&d.join("altered.json"), &altered, &registry);
    let err = fails(
        &server
            .cli(&[
                "payout",
                "verify",
                "altered.json",
                "--verifier-key",
                &vkey,
                "--log",
                &server.base,
            ])
            .await,
        "the statement differs from the payout the log gives",
    );
    assert!(err.contains("revenue share"), "{err}");
    assert!(err.contains("is not in the log"), "{err}");
    // Altered but not re-signed: the signature fails, offline already.
    let mut env = r1["envelope"].clone();
    env["payload"] = Value::from(B64.encode(serde_json::to_vec(&altered).expect("json")));
    std::fs::write(d.join("unsigned.json"), env.to_string()).expect("write");
    fails(
        &server
            .cli(&["payout", "verify", "unsigned.json", "--verifier-key", &vkey])
            .await,
        "the statement is not valid",
    );
    // The wrong date: run 2's payout (b disallowed) presented as computed
    // before Ana's opt-out.
    let mut wrong_date = payload_of(&r2);
    wrong_date["checked_at"] = Value::from(before_opt_out.to_string());
    wrong_date["view"]["as_of"] = Value::from(before_opt_out.to_string());
    write_signed(&d.join("wrong-date.json"), &wrong_date, &registry);
    let err = fails(
        &server
            .cli(&[
                "payout",
                "verify",
                "wrong-date.json",
                "--verifier-key",
                &vkey,
                "--log",
                &server.base,
            ])
            .await,
        "the statement differs from the payout the log gives",
    );
    assert!(err.contains("excluded works differ"), "{err}");
    // A statement the log never recorded, otherwise right.
    let mut unlogged = payload_of(&r1);
    unlogged["run_id"] = Value::from("r9");
    write_signed(&d.join("unlogged.json"), &unlogged, &registry);
    let err = fails(
        &server
            .cli(&[
                "payout",
                "verify",
                "unlogged.json",
                "--verifier-key",
                &vkey,
                "--log",
                &server.base,
            ])
            .await,
        "is not in the log",
    );
    assert!(!err.contains("differs"), "{err}");
    // Another key's signature.
    write_signed(
        &d.join("foreign.json"),
        &payload_of(&r1),
        &SecretKey::generate(),
    );
    fails(
        &server
            .cli(&["payout", "verify", "foreign.json", "--verifier-key", &vkey])
            .await,
        "not signed by the log's key",
    );
}
