//! Near matching through the binary, on both backends: `consentry
//! register` signs ISCC Image-Codes of real images; `consentry check` and
//! `filter` fingerprint a dataset of resized, re-encoded copies and find
//! them as `near` matches with the artist's consent, report the match and
//! its distance, and keep a version 2 receipt that verifies with the report
//! (offline and against the log); `--match exact` finds nothing; damaged
//! and fake images get a per-item error.

use std::path::Path;

use consentry::crypto::SecretKey;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::Value;

use crate::helpers::*;

crate::both_backends_raw!(check_finds_resized_copies_of_registered_images);

/// An artwork-like image: shapes and gradients that differ with `seed`.
fn artwork(seed: u32, w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let s = seed as f32;
        let cx = 0.3 + 0.4 * ((s * 1.7).sin() * 0.5 + 0.5);
        let cy = 0.3 + 0.4 * ((s * 2.3).cos() * 0.5 + 0.5);
        let r = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
        let band = ((fx * (3.0 + s) + fy * (2.0 + s * 0.5)).sin() * 0.5 + 0.5) * 255.0;
        let disc = if r < 0.2 + 0.05 * (s % 3.0) {
            230.0
        } else {
            30.0
        };
        let stripe = if ((x / (7 + seed % 5)) + (y / (11 + seed % 3))).is_multiple_of(2) {
            200.0
        } else {
            60.0
        };
        Rgb([
            (band * 0.6 + disc * 0.4) as u8,
            (stripe * 0.5 + fy * 120.0) as u8,
            (disc * 0.5 + fx * 100.0) as u8,
        ])
    })
}

fn save(img: &RgbImage, path: &Path, format: ImageFormat) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    img.save_with_format(path, format).expect("save");
}

/// A copy as a dataset holds it: shorter side 256, JPEG quality 75.
fn dataset_copy(src: &RgbImage, path: &Path) {
    let (w, h) = src.dimensions();
    let scale = 256.0 / w.min(h) as f32;
    let small = image::imageops::resize(
        src,
        (w as f32 * scale).round() as u32,
        (h as f32 * scale).round() as u32,
        image::imageops::FilterType::Triangle,
    );
    let file = std::fs::File::create(path).expect("copy");
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 75);
    enc.encode_image(&small).expect("encode");
}

async fn check_finds_resized_copies_of_registered_images(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (url, _location) = server_database(backend, d).await;
    let admin = SecretKey::generate();
    admin
        .write_new_file(&d.join("admin.key"))
        .expect("admin key");
    let server =
        Server::start_with(d, &url, &["--admin-key", &admin.public_key().to_string()]).await;

    // Ana registers two works (opt-out) and one (opt-in); a fourth image
    // and a text file are not registered.
    let works: Vec<RgbImage> = (1..=4).map(|s| artwork(s * 7, 640, 480)).collect();
    for (i, w) in works.iter().enumerate() {
        save(w, &d.join(format!("works/w{i}.png")), ImageFormat::Png);
    }
    ok(&server.cli(&["keygen", "--out", "ana.key"]).await);
    ok(&server
        .cli(&["artist", "create", "--key", "ana.key", "--name", "Ana"])
        .await);
    let out = ok(&server
        .cli(&[
            "register",
            "works/w0.png",
            "works/w1.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-out",
        ])
        .await);
    assert!(out.contains("2 images fingerprinted"), "{out}");
    ok(&server
        .cli(&[
            "register",
            "works/w2.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-in",
        ])
        .await);
    let lab = server.create_lab().await;
    let _ = lab;

    // The dataset: resized JPEG copies of all four, a damaged JPEG, a fake
    // PNG and a text file.
    for (i, w) in works.iter().enumerate() {
        std::fs::create_dir_all(d.join("data")).expect("mkdir");
        dataset_copy(w, &d.join(format!("data/c{i}.jpg")));
    }
    let damaged = std::fs::read(d.join("data/c0.jpg")).expect("read");
    std::fs::write(d.join("data/damaged.jpg"), &damaged[..damaged.len() / 3]).expect("write");
    std::fs::write(d.join("data/fake.png"), b"not an image at all").expect("write");
    std::fs::write(d.join("data/notes.txt"), b"text").expect("write");

    let out = ok(&server
        .cli(&[
            "check",
            "data",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--report",
            "report.jsonl",
            "--receipt",
            "near.receipt.json",
        ])
        .await);
    assert!(
        out.contains("matched 0 exactly and 3 as near copies"),
        "{out}"
    );
    let report: Vec<Value> = std::fs::read_to_string(d.join("report.jsonl"))
        .expect("report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let row = |label: &str| -> &Value { report.iter().find(|r| r["label"] == label).expect("row") };
    for (label, status) in [
        ("c0.jpg", "disallowed"),
        ("c1.jpg", "disallowed"),
        ("c2.jpg", "allowed"),
    ] {
        let r = row(label);
        assert_eq!(r["match"], "near", "{r}");
        assert_eq!(r["status"], status, "{r}");
        assert!(r["distance"].as_u64().is_some_and(|d| d <= 6), "{r}");
        assert!(
            r["matched_hash"]
                .as_str()
                .is_some_and(|h| h.starts_with("blake3:")),
            "{r}"
        );
    }
    assert_eq!(row("c3.jpg")["match"], Value::Null);
    assert_eq!(row("c3.jpg")["status"], "unknown");
    assert!(
        row("damaged.jpg")["error"]
            .as_str()
            .is_some_and(|e| e.contains("decode")),
        "{}",
        row("damaged.jpg")
    );
    assert!(
        row("fake.png")["error"]
            .as_str()
            .is_some_and(|e| e.contains("not an image")),
        "{}",
        row("fake.png")
    );
    assert_eq!(row("notes.txt")["error"], Value::Null);
    // The receipt is a version 2 receipt the registry's key signed.
    let receipt: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("near.receipt.json")).expect("r"))
            .expect("json");
    let vkey = consentry::cli::client::Client::new(&server.base)
        .expect("client")
        .get_json("/v1/log")
        .await
        .expect("log")["verifier_key"]
        .as_str()
        .expect("verifier key")
        .to_owned();
    assert!(receipt["payload"].is_string());
    let verify = |receipt: &str, more: &[&str]| {
        let mut args = vec!["verify-receipt", receipt, "--verifier-key", &vkey];
        args.extend_from_slice(more);
        server.cli(&args)
    };
    // The report lists each item's codes and matched works, so the receipt
    // verifies with it offline and every answer is recomputed from the log.
    let out = ok(&verify(
        "near.receipt.json",
        &["--answers", "report.jsonl", "--log", &server.base],
    )
    .await);
    for expected in [
        "ok: receipt signed by",
        "7 items for train-ai",
        "near matching: iscc-image-v0 within 6 of 64 bits",
        "ok: the items list matches the receipt (7 items)",
        "ok: the answers match the receipt",
        "ok: every answer recomputed from the log matches the receipt",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
    // A report with one distance changed, or one code dropped, does not.
    let text = std::fs::read_to_string(d.join("report.jsonl")).expect("report");
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let near_row = lines
        .iter()
        .position(|r| r["match"] == "near")
        .expect("a near row");
    let mut altered = lines.clone();
    let d0 = altered[near_row]["matched"][0]["distance"]
        .as_u64()
        .expect("distance");
    altered[near_row]["matched"][0]["distance"] = (d0 + 2).into();
    let write = |name: &str, rows: &[Value]| {
        let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(d.join(name), body).expect("write");
    };
    write("altered.jsonl", &altered);
    let err = fails(&verify("near.receipt.json", &["--answers", "altered.jsonl"]).await);
    assert!(err.contains("an answer was altered"), "{err}");
    lines[near_row]["fingerprints"] = Value::Array(Vec::new());
    write("dropped.jsonl", &lines);
    let err = fails(&verify("near.receipt.json", &["--answers", "dropped.jsonl"]).await);
    assert!(err.contains("is not the one the receipt covers"), "{err}");
    // The items as a request sends them and the answers as the API returns
    // them (without codes) verify together; the answers alone cannot.
    let items: Vec<Value> = lines
        .iter()
        .zip(text.lines())
        .map(|(r, original)| {
            let original: Value = serde_json::from_str(original).expect("json");
            let codes: Vec<Value> = original["fingerprints"]
                .as_array()
                .expect("fingerprints")
                .iter()
                .map(|c| serde_json::json!({"algorithm": "iscc-image-v0", "value": c}))
                .collect();
            serde_json::json!({"hash": r["hash"], "fingerprints": codes})
        })
        .collect();
    let answers: Vec<Value> = text
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).expect("json");
            serde_json::json!({
                "hash": r["hash"], "status": r["status"], "statements": r["statements"],
                "match": r["match"], "matched": r["matched"],
            })
        })
        .collect();
    write("items.ndjson", &items);
    write("answers.ndjson", &answers);
    let out = ok(&verify(
        "near.receipt.json",
        &["--hashes", "items.ndjson", "--answers", "answers.ndjson"],
    )
    .await);
    assert!(out.contains("ok: the answers match the receipt"), "{out}");
    let err = fails(&verify("near.receipt.json", &["--answers", "answers.ndjson"]).await);
    assert!(
        err.contains("give --hashes with the items as sent"),
        "{err}"
    );
    // The CSV report verifies too.
    ok(&server
        .cli(&[
            "check",
            "data",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--report",
            "report.csv",
            "--receipt",
            "csv.receipt.json",
        ])
        .await);
    let out = ok(&verify("csv.receipt.json", &["--answers", "report.csv"]).await);
    assert!(out.contains("ok: the answers match the receipt"), "{out}");
    // A payout report takes receipts of checks by hash only, and says so.
    let err = fails(
        &server
            .cli(&[
                "payout",
                "report",
                "data",
                "--run-id",
                "near-run",
                "--purpose",
                "train-ai",
                "--pool-minor",
                "1000",
                "--currency",
                "EUR",
                "--receipt",
                "near.receipt.json",
                "--key",
                "lab.key",
            ])
            .await,
    );
    assert!(err.contains("near-matching check"), "{err}");

    // --match exact: the copies are unknown.
    let out = ok(&server
        .cli(&[
            "check",
            "data",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--match",
            "exact",
            "--receipt",
            "exact.receipt.json",
            "--unknown",
            "allow",
        ])
        .await);
    assert!(out.contains("0 allowed, 0 disallowed, 7 unknown"), "{out}");

    // filter keeps the allowed near copy only (unknown dropped for train-ai).
    let out = ok(&server
        .cli(&[
            "filter",
            "data",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--out",
            "kept.csv",
            "--receipt",
            "filter.receipt.json",
        ])
        .await);
    assert!(out.contains("kept 1 of 7 works"), "{out}");
    let kept = std::fs::read_to_string(d.join("kept.csv")).expect("kept");
    assert!(
        kept.contains("c2.jpg") && !kept.contains("c0.jpg"),
        "{kept}"
    );
}
