//! `consentry check`, `filter` and `verify-receipt` through the binary,
//! against a real server: a folder, a CSV manifest and webdataset shards;
//! reports, exit codes, filtered outputs; receipts verified offline and
//! online, and refused when forged, altered or from a forked log.

use std::io::Read;
use std::path::Path;

use consentry::crypto::SecretKey;
use consentry::domain::ContentHash;
use serde_json::Value;

use crate::helpers::*;

crate::both_backends_raw!(check_filter_and_verify_receipt);

fn fails(out: &std::process::Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, bytes).expect("write");
}

/// A sample's members: extension and bytes.
type Sample<'a> = (&'a str, &'a [(&'a str, &'a [u8])]);

/// A webdataset shard: each sample's members, in order.
fn shard(path: &Path, samples: &[Sample<'_>]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("shard"));
    for (key, members) in samples {
        for (ext, data) in *members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, format!("{key}.{ext}"), *data)
                .expect("append");
        }
    }
    b.finish().expect("finish");
}

fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(std::fs::File::open(path).expect("open"));
    a.entries()
        .expect("entries")
        .map(|e| {
            let mut e = e.expect("entry");
            let name = e.path().expect("path").display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("read");
            (name, data)
        })
        .collect()
}

async fn check_filter_and_verify_receipt(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (url, _location) = server_database(backend, d).await;
    let admin = SecretKey::generate();
    admin
        .write_new_file(&d.join("admin.key"))
        .expect("admin key");
    let server =
        Server::start_with(d, &url, &["--admin-key", &admin.public_key().to_string()]).await;

    // Ana registers a, b (opt-out) and c (opt-in with a credit line); d is unknown.
    for (name, bytes) in [
        ("a.png", b"aaa"),
        ("b.png", b"bbb"),
        ("c.png", b"ccc"),
        ("d.png", b"ddd"),
    ] {
        write(d, &format!("data/{name}"), bytes);
    }
    ok(&server.cli(&["keygen", "--out", "ana.key"]).await);
    ok(&server
        .cli(&["artist", "create", "--key", "ana.key", "--name", "Ana"])
        .await);
    ok(&server
        .cli(&[
            "register",
            "data/a.png",
            "data/b.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-out",
        ])
        .await);
    ok(&server
        .cli(&[
            "register",
            "data/c.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-in",
            "--attribution",
            "Ana Example",
        ])
        .await);
    let lab = server.create_lab().await;

    // check a folder: a report and a receipt.
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
            "check.receipt.json",
        ])
        .await);
    assert!(
        out.contains("4 works for train-ai: 1 allowed, 2 disallowed, 1 unknown (unknown: dropped)"),
        "{out}"
    );
    let report: Vec<Value> = std::fs::read_to_string(d.join("report.jsonl"))
        .expect("report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let by_label: Vec<(&str, &str)> = report
        .iter()
        .map(|r| {
            (
                r["label"].as_str().expect("label"),
                r["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        by_label,
        [
            ("a.png", "disallowed"),
            ("b.png", "disallowed"),
            ("c.png", "allowed"),
            ("d.png", "unknown")
        ]
    );
    assert_eq!(report[2]["hash"], ContentHash::of(b"ccc").to_string());
    assert_eq!(report[2]["terms"][0]["terms"][0]["kind"], "attribution");
    assert_eq!(report[2]["terms"][0]["terms"][0]["credit"], "Ana Example");
    assert_eq!(report[2]["statements"].as_array().map(Vec::len), Some(1));

    // --fail-on: exit code 3 when a listed status occurs, 0 otherwise.
    fails(
        &server
            .cli(&[
                "check",
                "data",
                "--purpose",
                "train-ai",
                "--key",
                "lab.key",
                "--fail-on",
                "disallowed",
                "--receipt",
                "x.json",
            ])
            .await,
        3,
        "2 works are disallowed",
    );
    write(d, "some/c.png", b"ccc");
    write(d, "some/d.png", b"ddd");
    ok(&server
        .cli(&[
            "check",
            "some",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--fail-on",
            "disallowed",
            "--receipt",
            "x.json",
        ])
        .await
        .clone());
    // A bad purpose is refused before anything is hashed or sent.
    fails(
        &server
            .cli(&[
                "check",
                "data",
                "--purpose",
                "everything",
                "--key",
                "lab.key",
            ])
            .await,
        1,
        "unknown purpose",
    );

    // filter a folder into a manifest: unknown works are dropped by default
    // for training, kept with --unknown allow.
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
            "f.json",
        ])
        .await);
    assert!(out.contains("kept 1 of 4 works (3 dropped)"), "{out}");
    let kept = std::fs::read_to_string(d.join("kept.csv")).expect("kept");
    assert_eq!(kept.lines().count(), 2, "{kept}");
    assert!(kept.contains("c.png") && !kept.contains("d.png"), "{kept}");
    ok(&server
        .cli(&[
            "filter",
            "data",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--out",
            "kept2.csv",
            "--unknown",
            "allow",
            "--receipt",
            "f.json",
        ])
        .await);
    let kept = std::fs::read_to_string(d.join("kept2.csv")).expect("kept");
    assert!(
        kept.contains("c.png") && kept.contains("d.png") && !kept.contains("a.png"),
        "{kept}"
    );

    // A CSV manifest keeps its rows verbatim.
    write(
        d,
        "manifest.csv",
        b"id,path,caption\n1,data/a.png,\"a, red\"\n2,data/c.png,a blue\n3,data/d.png,green\n",
    );
    ok(&server
        .cli(&[
            "filter",
            "manifest.csv",
            "--purpose",
            "search",
            "--key",
            "lab.key",
            "--out",
            "manifest.kept.csv",
            "--receipt",
            "f.json",
        ])
        .await);
    assert_eq!(
        std::fs::read_to_string(d.join("manifest.kept.csv")).expect("kept"),
        "id,path,caption\n2,data/c.png,a blue\n3,data/d.png,green\n"
    );

    // Webdataset shards: only allowed samples, all their members, in order.
    std::fs::create_dir_all(d.join("shards")).expect("mkdir");
    shard(
        &d.join("shards/00000.tar"),
        &[
            ("000", &[("png", b"aaa"), ("txt", b"caption a")]),
            (
                "001",
                &[("png", b"ccc"), ("txt", b"caption c"), ("json", b"{}")],
            ),
            ("002", &[("png", b"ddd"), ("txt", b"caption d")]),
        ],
    );
    let out = ok(&server
        .cli(&[
            "filter",
            "shards/00000.tar",
            "--purpose",
            "train-genai",
            "--key",
            "lab.key",
            "--out",
            "clean",
            "--receipt",
            "f.json",
        ])
        .await);
    assert!(out.contains("kept 1 of 3 works"), "{out}");
    let names: Vec<(String, Vec<u8>)> = members(&d.join("clean/00000.tar"));
    assert_eq!(
        names,
        [
            ("001.png".to_owned(), b"ccc".to_vec()),
            ("001.txt".to_owned(), b"caption c".to_vec()),
            ("001.json".to_owned(), b"{}".to_vec())
        ]
    );

    // verify-receipt: offline, with the answers, and online against the log.
    let vkey = consentry::cli::client::Client::new(&server.base)
        .expect("client")
        .get_json("/v1/log")
        .await
        .expect("log")["verifier_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let out = ok(&server
        .cli(&[
            "verify-receipt",
            "check.receipt.json",
            "--verifier-key",
            &vkey,
        ])
        .await);
    assert!(out.contains("ok: receipt signed by"), "{out}");
    let out = ok(&server
        .cli(&[
            "verify-receipt",
            "check.receipt.json",
            "--verifier-key",
            &vkey,
            "--answers",
            "report.jsonl",
            "--log",
            &server.base,
        ])
        .await);
    assert!(out.contains("ok: the answers match the receipt"), "{out}");
    assert!(out.contains("ok: every answer recomputed from the log matches the receipt (1 allowed, 2 disallowed, 1 unknown)"), "{out}");

    // An altered answer: the report says a.png is allowed.
    let altered = std::fs::read_to_string(d.join("report.jsonl"))
        .expect("report")
        .replacen("\"status\":\"disallowed\"", "\"status\":\"allowed\"", 1);
    write(d, "altered.jsonl", altered.as_bytes());
    fails(
        &server
            .cli(&[
                "verify-receipt",
                "check.receipt.json",
                "--verifier-key",
                &vkey,
                "--answers",
                "altered.jsonl",
            ])
            .await,
        1,
        "an answer was altered",
    );
    // A wrong hash list.
    write(
        d,
        "hashes.txt",
        format!("{}\n", ContentHash::of(b"aaa")).as_bytes(),
    );
    fails(
        &server
            .cli(&[
                "verify-receipt",
                "check.receipt.json",
                "--verifier-key",
                &vkey,
                "--hashes",
                "hashes.txt",
            ])
            .await,
        1,
        "is not the one the receipt covers",
    );
    // A forged signature.
    let mut env: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("check.receipt.json")).expect("receipt"),
    )
    .expect("json");
    let sig = env["signatures"][0]["sig"]
        .as_str()
        .expect("sig")
        .to_owned();
    let flipped = match sig.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", sig.get(1..).expect("sig")),
    };
    env["signatures"][0]["sig"] = Value::from(flipped);
    write(d, "forged.json", env.to_string().as_bytes());
    fails(
        &server
            .cli(&["verify-receipt", "forged.json", "--verifier-key", &vkey])
            .await,
        1,
        "the receipt is not valid",
    );

    // A fork: the same registry key and origin on another database, with
    // other history. Its receipts verify offline, but not against the log.
    let fork_dir = tempfile::tempdir().expect("tmp");
    let f = fork_dir.path();
    std::fs::copy(d.join("registry.key"), f.join("registry.key")).expect("copy key");
    std::fs::copy(d.join("lab.key"), f.join("lab.key")).expect("copy key");
    std::fs::copy(d.join("admin.key"), f.join("admin.key")).expect("copy key");
    let fork = Server::start_with(
        f,
        &format!("sqlite://{}", f.join("fork.db").display()),
        &["--admin-key", &admin.public_key().to_string()],
    )
    .await;
    ok(&fork
        .cli(&[
            "builder",
            "create",
            "--admin-key",
            "admin.key",
            "--name",
            "Lab",
            "--key",
            &lab,
        ])
        .await);
    for i in 0..2 {
        let k = format!("m{i}.key");
        ok(&fork.cli(&["keygen", "--out", &k]).await);
        ok(&fork
            .cli(&["artist", "create", "--key", &k, "--name", "Mallory"])
            .await);
    }
    write(f, "data/a.png", b"aaa");
    ok(&fork
        .cli(&[
            "check",
            "data",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--receipt",
            "fork.receipt.json",
            "--report",
            "fork.jsonl",
        ])
        .await);
    std::fs::copy(f.join("fork.receipt.json"), d.join("fork.receipt.json")).expect("copy");
    std::fs::copy(f.join("fork.jsonl"), d.join("fork.jsonl")).expect("copy");
    ok(&server
        .cli(&[
            "verify-receipt",
            "fork.receipt.json",
            "--verifier-key",
            &vkey,
            "--answers",
            "fork.jsonl",
        ])
        .await);
    fails(
        &server
            .cli(&[
                "verify-receipt",
                "fork.receipt.json",
                "--verifier-key",
                &vkey,
                "--answers",
                "fork.jsonl",
                "--log",
                &server.base,
            ])
            .await,
        1,
        "is not in the log",
    );
}
