//! The README walked as a newcomer would, through the binary: key files that
//! standard tools read, registering a folder twice, terms carried over or
//! replaced out loud, signing in before hashing, clear messages, a busy
//! port, one path convention, receipts never overwritten, named payout flags.

use std::path::Path;
use std::process::{Command, Output};

use consentry::crypto::SecretKey;
use serde_json::Value;

use crate::helpers::*;

crate::both_backends_raw!(
    register_twice_skips_unchanged_works,
    new_terms_replace_old_ones_out_loud_or_are_kept,
    sign_in_comes_first_and_says_what_is_wrong,
    artist_create_says_the_name_was_not_changed,
    paths_are_relative_to_the_file_written_and_receipts_are_never_overwritten,
    payout_warning_names_the_flagged_files,
);

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn fails_with(out: &Output, needle: &str) -> String {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "expected a failure; stdout: {}",
        stdout(out)
    );
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    err
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, bytes).expect("write");
}

/// The binary in `dir`, against `url`, without a server of the test's.
fn cli_at(dir: &Path, url: &str, args: &[&str]) -> Bin {
    Bin::new(args).env("CONSENTRY_URL", url).current_dir(dir)
}

/// Whether the key tools must be there (CI) or may be missing (a laptop).
fn tool_missing(what: &str) -> bool {
    assert!(
        std::env::var_os("CONSENTRY_REQUIRE_KEY_TOOLS").is_none(),
        "{what} is required (CONSENTRY_REQUIRE_KEY_TOOLS is set)"
    );
    eprintln!("skipped: {what} is not installed");
    true
}

/// A server with an admin key, Ana registered (`ana.key`) and a builder (`lab.key`).
async fn server_with_ana_and_lab(backend: Backend, d: &Path) -> (Server, Option<Location>) {
    let (url, location) = server_database(backend, d).await;
    let admin = SecretKey::generate();
    admin
        .write_new_file(&d.join("admin.key"))
        .expect("admin key");
    let server =
        Server::start_with(d, &url, &["--admin-key", &admin.public_key().to_string()]).await;
    ok(&server.cli(&["keygen", "--out", "ana.key"]).await);
    ok(&server
        .cli(&["artist", "create", "--key", "ana.key", "--name", "Ana"])
        .await);
    server.create_lab().await;
    (server, location)
}

// ---------------------------------------------------------------------------
// Key files (spec/keys.md)

/// The base64 body of a PEM file, decoded.
fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}

#[test]
fn keygen_writes_pkcs8_v1_that_openssl_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let out = cli_at(d, "http://127.0.0.1:9", &["keygen", "--out", "ana.key"]).run_blocking();
    let public = ok(&out).trim().to_owned();
    let pem = std::fs::read_to_string(d.join("ana.key")).expect("key");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    let der = pem_der(&pem);
    assert_eq!(der.len(), 48, "PKCS#8 v1 without the public key");
    assert_eq!(hex::encode(&der[..16]), "302e020100300506032b657004220420");

    let Ok(openssl) = Command::new("openssl")
        .args(["pkey", "-in", "ana.key", "-pubout", "-outform", "DER"])
        .current_dir(d)
        .output()
    else {
        tool_missing("openssl");
        return;
    };
    assert!(
        openssl.status.success(),
        "openssl pkey: {}",
        stderr(&openssl)
    );
    let spki = openssl.stdout;
    assert_eq!(spki.len(), 44, "an Ed25519 SubjectPublicKeyInfo");
    assert_eq!(format!("ed25519:{}", hex::encode(&spki[12..])), public);
    // And OpenSSL's own text form reads back as the same private key.
    let text = Command::new("openssl")
        .args(["pkey", "-in", "ana.key", "-text", "-noout"])
        .current_dir(d)
        .output()
        .expect("openssl");
    assert!(
        stdout(&text).contains("ED25519 Private-Key"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn python_cryptography_reads_keygen_output() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let public = ok(&cli_at(d, "http://127.0.0.1:9", &["keygen", "--out", "k.key"]).run_blocking())
        .trim()
        .to_owned();
    let has_cryptography = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cryptography {
        tool_missing("python3 with cryptography");
        return;
    }
    let script = "import sys\n\
        from cryptography.hazmat.primitives.serialization import load_pem_private_key\n\
        k = load_pem_private_key(open(sys.argv[1], 'rb').read(), password=None)\n\
        print('ed25519:' + k.public_key().public_bytes_raw().hex())\n";
    let out = Command::new("python3")
        .args(["-c", script, "k.key"])
        .current_dir(d)
        .output()
        .expect("python3");
    assert!(out.status.success(), "python: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), public);
}

#[test]
fn serve_on_a_busy_port_creates_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let db = format!("sqlite://{}", d.join("registry.db").display());
    let out = Bin::new([
        "serve",
        "--listen",
        &addr,
        "--database-url",
        &db,
        "--key-file",
    ])
    .arg(d.join("registry.key"))
    .env("RUST_LOG", "warn")
    .run_blocking();
    fails_with(&out, &format!("cannot listen on {addr}"));
    assert!(!d.join("registry.key").exists(), "no key file on failure");
    assert!(!d.join("registry.db").exists(), "no database on failure");
    drop(busy);
}

#[test]
fn consent_spellings_are_documented() {
    let dir = tempfile::tempdir().expect("tmp");
    let help =
        ok(&cli_at(dir.path(), "http://127.0.0.1:9", &["register", "--help"]).run_blocking());
    for spelling in ["allowed", "disallowed", "yes", "no", "train-ai", "tdm"] {
        assert!(help.contains(spelling), "`{spelling}` in: {help}");
    }
}

#[test]
fn progress_rates_are_rounded() {
    use consentry::cli::progress::format_rate;
    assert_eq!(format_rate(12_345.678_9), "12346/s");
    assert_eq!(format_rate(12.345_6), "12/s");
    assert_eq!(format_rate(2.345_6), "2.3/s");
    assert_eq!(format_rate(0.0), "0/s");
    assert_eq!(format_rate(f64::INFINITY), "0/s");
}

// ---------------------------------------------------------------------------
// Registering

async fn register_twice_skips_unchanged_works(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (server, _location) = server_with_ana_and_lab(backend, d).await;
    write(d, "portfolio/harbour.png", b"harbour at dusk");
    write(d, "portfolio/forest.jpg", b"forest study");
    let register = |extra: &[&str]| {
        let mut args = vec![
            "register",
            "portfolio",
            "--key",
            "ana.key",
            "--consent",
            "train-ai=no,search=yes",
            "--attribution",
            "Ana",
        ];
        args.extend_from_slice(extra);
        server.cli(&args)
    };
    let out = ok(&register(&[]).await);
    assert!(
        out.contains(
            "2 files, 2 distinct works; 2 statements recorded, 0 already recorded, 0 unchanged"
        ),
        "{out}"
    );
    // `no` and `yes` are the documented spellings of disallowed and allowed.
    let status = ok(&server
        .cli(&["status", "portfolio/harbour.png", "--json"])
        .await);
    let v: Value = serde_json::from_str(&status).expect("json");
    assert_eq!(v["consent"]["train-ai"], "disallowed");
    assert_eq!(v["consent"]["search"], "allowed");

    // The same folder again: nothing new in the history or the log.
    async fn size(server: &Server) -> Option<usize> {
        let out = ok(&server
            .cli(&["status", "portfolio/harbour.png", "--json"])
            .await);
        let v: Value = serde_json::from_str(&out).expect("json");
        v["history"].as_array().map(Vec::len)
    }
    let out = ok(&register(&[]).await);
    assert!(out.contains("0 statements recorded"), "{out}");
    assert!(out.contains("2 unchanged"), "{out}");
    assert!(out.contains("--force"), "{out}");
    assert_eq!(size(&server).await, Some(1));
    // One work changed on disk is new; the other stays unchanged.
    write(d, "portfolio/new.png", b"a new piece");
    let out = ok(&register(&[]).await);
    assert!(out.contains("1 statement recorded"), "{out}");
    assert!(out.contains("2 unchanged"), "{out}");
    // --force records them all again.
    let out = ok(&register(&["--force"]).await);
    assert!(out.contains("3 statements recorded"), "{out}");
    assert!(out.contains(", 0 unchanged"), "{out}");
    assert_eq!(size(&server).await, Some(2));

    // A spelling outside the documented ones is refused and lists them.
    fails_with(
        &server
            .cli(&[
                "register",
                "portfolio",
                "--key",
                "ana.key",
                "--consent",
                "train-ai=nope",
            ])
            .await,
        "expected allowed or disallowed (or yes/y, no/n)",
    );
}

async fn new_terms_replace_old_ones_out_loud_or_are_kept(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (server, _location) = server_with_ana_and_lab(backend, d).await;
    write(d, "portfolio/harbour.png", b"harbour at dusk");
    write(d, "portfolio/forest.jpg", b"forest study");
    ok(&server
        .cli(&[
            "register",
            "portfolio",
            "--key",
            "ana.key",
            "--consent",
            "train-ai=disallowed,search=allowed",
            "--attribution",
            "Ana Example",
        ])
        .await);
    // --keep-terms: search only, still credited.
    let out = ok(&server
        .cli(&[
            "register",
            "portfolio/forest.jpg",
            "--key",
            "ana.key",
            "--consent",
            "search=allowed",
            "--keep-terms",
        ])
        .await);
    assert!(out.contains("1 statement recorded"), "{out}");
    assert!(out.contains("1 work kept its current terms"), "{out}");
    assert!(!out.contains("terms replaced"), "{out}");
    let status = ok(&server.cli(&["status", "portfolio/forest.jpg"]).await);
    assert!(status.contains("attribution \"Ana Example\""), "{status}");
    assert!(status.contains("  2 statements in history"), "{status}");
    let one = ok(&server.cli(&["status", "portfolio/harbour.png"]).await);
    assert!(one.contains("  1 statement in history"), "{one}");
    // The same again is unchanged (the kept terms are the current ones).
    let out = ok(&server
        .cli(&[
            "register",
            "portfolio/forest.jpg",
            "--key",
            "ana.key",
            "--consent",
            "search=allowed",
            "--keep-terms",
        ])
        .await);
    assert!(out.contains("1 unchanged"), "{out}");

    // The README's step 5: opting out drops the credit line, and says so.
    let out = ok(&server
        .cli(&[
            "register",
            "portfolio/harbour.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-out",
        ])
        .await);
    assert!(out.contains("1 statement recorded"), "{out}");
    assert!(
        out.contains("terms replaced: a new statement replaces the terms of the one before it; now none for 1 work"),
        "{out}"
    );
    assert!(
        out.contains("harbour.png: was attribution \"Ana Example\""),
        "{out}"
    );
    assert!(out.contains("--keep-terms"), "{out}");
}

// ---------------------------------------------------------------------------
// Signing in

async fn sign_in_comes_first_and_says_what_is_wrong(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (server, _location) = server_with_ana_and_lab(backend, d).await;
    write(d, "data/a.png", b"aaa");

    // The registry is down: said so, nothing hashed, no advice to register.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    for args in [
        &["check", "data", "--purpose", "train-ai", "--key", "lab.key"][..],
        &[
            "filter",
            "data",
            "--purpose",
            "search",
            "--key",
            "lab.key",
            "--out",
            "k.csv",
        ][..],
        &["register", "data", "--key", "ana.key"][..],
    ] {
        let err = fails_with(
            &cli_at(d, &closed, args).run().await,
            "cannot reach the registry at",
        );
        assert!(err.contains("--registry (or CONSENTRY_URL)"), "{err}");
        assert!(!err.contains("hashing") && !err.contains("hashed"), "{err}");
        assert!(!err.contains("artist create"), "{err}");
    }

    // An artist's key for check and filter: named as such, before hashing.
    for args in [
        &["check", "data", "--purpose", "train-ai", "--key", "ana.key"][..],
        &[
            "filter",
            "data",
            "--purpose",
            "search",
            "--key",
            "ana.key",
            "--out",
            "k.csv",
        ][..],
    ] {
        let err = fails_with(
            &server.cli(args).await,
            "is an artist's key, and this command needs a dataset builder's key",
        );
        assert!(!err.contains("hashed"), "{err}");
    }
    // A builder's key for register.
    fails_with(
        &server.cli(&["register", "data", "--key", "lab.key"]).await,
        "is a dataset builder's key, and this command needs an artist's key",
    );
    // The registry's own message names the roles ("an artist's").
    let lab = SecretKey::load(&d.join("lab.key")).expect("lab key");
    let mut client = consentry::cli::client::Client::new(&server.base).expect("client");
    client.login(&lab).await.expect("login");
    let err = client
        .post("/v1/statements", &serde_json::json!({ "statements": [] }))
        .await
        .expect_err("a builder cannot submit statements");
    let refused = err
        .downcast_ref::<consentry::cli::client::Refused>()
        .expect("a problem answer");
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.detail,
        "this endpoint needs an artist's token; the key that signed in is a dataset builder's"
    );

    // An unknown key: the advice to register; a revoked key: revoked.
    ok(&server.cli(&["keygen", "--out", "bo.key"]).await);
    fails_with(
        &server.cli(&["register", "data", "--key", "bo.key"]).await,
        "no one holds this key",
    );
    fails_with(
        &server.cli(&["register", "data", "--key", "bo.key"]).await,
        "consentry artist create",
    );
    ok(&server.cli(&["keygen", "--out", "ana-2.key"]).await);
    ok(&server
        .cli(&["key", "rotate", "--key", "ana.key", "--new", "ana-2.key"])
        .await);
    let err = fails_with(
        &server.cli(&["register", "data", "--key", "ana.key"]).await,
        "is revoked",
    );
    assert!(!err.contains("artist create"), "{err}");
    // A version 2 key file (with the public key, as earlier releases wrote
    // it) is still read.
    let v2 = {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let sk = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let pem = sk
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .expect("pem");
        assert_eq!(pem_der(&pem).len(), 83, "a v2 key file");
        std::fs::write(d.join("v2.key"), pem.as_bytes()).expect("write");
        format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes()))
    };
    let out = ok(&server
        .cli(&["artist", "create", "--key", "v2.key", "--name", "Vee"])
        .await);
    assert!(out.starts_with("registered artist "), "{out}");
    let out = ok(&server.cli(&["register", "data", "--key", "v2.key"]).await);
    assert!(out.contains("1 statement recorded"), "{out}");
    let status = ok(&server.cli(&["status", "data/a.png", "--json"]).await);
    assert!(status.contains(&v2), "{status}");
}

async fn artist_create_says_the_name_was_not_changed(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (server, _location) = server_with_ana_and_lab(backend, d).await;
    let out = ok(&server
        .cli(&["artist", "create", "--key", "ana.key", "--name", "Ana"])
        .await);
    assert!(out.starts_with("already registered: artist "), "{out}");
    assert!(!out.contains("not changed"), "{out}");
    let out = ok(&server
        .cli(&[
            "artist",
            "create",
            "--key",
            "ana.key",
            "--name",
            "Ana Renamed",
        ])
        .await);
    assert!(out.contains("as \"Ana\""), "{out}");
    assert!(
        out.contains("the name was not changed to \"Ana Renamed\""),
        "{out}"
    );
    assert!(out.contains("no way to change it"), "{out}");
}

// ---------------------------------------------------------------------------
// Checking

async fn paths_are_relative_to_the_file_written_and_receipts_are_never_overwritten(
    backend: Backend,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (server, _location) = server_with_ana_and_lab(backend, d).await;
    write(d, "data/a.png", b"aaa");
    write(d, "data/sub/c.png", b"ccc");
    ok(&server
        .cli(&[
            "register",
            "data/sub/c.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-in",
        ])
        .await);
    std::fs::create_dir_all(d.join("out")).expect("mkdir");

    // One work: "1 work", not "1 works"; no receipt named: a new file.
    let one = ok(&server
        .cli(&[
            "check",
            "data/sub",
            "--purpose",
            "search",
            "--key",
            "lab.key",
        ])
        .await);
    assert!(one.starts_with("1 work for search: 1 allowed"), "{one}");
    let receipts = |d: &Path| {
        let mut r: Vec<String> = std::fs::read_dir(d)
            .expect("dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("consentry-check-") && n.ends_with(".receipt.json"))
            .collect();
        r.sort();
        r
    };
    assert_eq!(receipts(d).len(), 1, "{one}");
    assert!(one.contains(&receipts(d)[0]), "{one}");

    // Report and filtered manifest in out/: their paths are relative to out/.
    let out = ok(&server
        .cli(&[
            "filter",
            "data",
            "--purpose",
            "search",
            "--key",
            "lab.key",
            "--unknown",
            "allow",
            "--report",
            "out/report.csv",
            "--out",
            "out/kept.csv",
        ])
        .await);
    assert!(out.contains("2 works for search"), "{out}");
    assert!(
        out.contains("kept 2 of 2 works (0 dropped) in out/kept.csv (1 file written)"),
        "{out}"
    );
    let kept = std::fs::read_to_string(d.join("out/kept.csv")).expect("kept");
    assert!(
        kept.contains("../data/a.png,") && kept.contains("../data/sub/c.png,"),
        "{kept}"
    );
    let report = std::fs::read_to_string(d.join("out/report.csv")).expect("report");
    assert!(report.contains("a.png,../data/a.png,"), "{report}");
    assert!(report.contains("sub/c.png,../data/sub/c.png,"), "{report}");
    // Two checks without --receipt: two receipts, none overwritten.
    assert_eq!(receipts(d).len(), 2);

    // The filtered manifest reads back as a manifest input.
    let again = ok(&server
        .cli(&[
            "check",
            "out/kept.csv",
            "--purpose",
            "search",
            "--key",
            "lab.key",
            "--report",
            "report.jsonl",
        ])
        .await);
    assert!(
        again.contains("2 works for search: 1 allowed, 0 disallowed, 1 unknown"),
        "{again}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(d.join("report.jsonl"))
        .expect("report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines[0]["path"], "data/a.png", "{lines:?}");
    assert_eq!(receipts(d).len(), 3);

    // A filtered manifest elsewhere would break its rows' relative paths.
    std::fs::create_dir_all(d.join("elsewhere")).expect("mkdir");
    fails_with(
        &server
            .cli(&[
                "filter",
                "out/kept.csv",
                "--purpose",
                "search",
                "--key",
                "lab.key",
                "--out",
                "elsewhere/kept.csv",
            ])
            .await,
        "write it in that folder",
    );
}

async fn payout_warning_names_the_flagged_files(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (server, _location) = server_with_ana_and_lab(backend, d).await;
    write(d, "data/harbour.png", b"harbour");
    write(d, "data/forest.jpg", b"forest");
    write(d, "data/stranger.png", b"nobody's");
    ok(&server
        .cli(&[
            "register",
            "data/harbour.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-out",
        ])
        .await);
    ok(&server
        .cli(&[
            "register",
            "data/forest.jpg",
            "--key",
            "ana.key",
            "--consent",
            "opt-in",
        ])
        .await);
    let out = server
        .cli(&[
            "payout",
            "report",
            "data",
            "--run-id",
            "run-1",
            "--purpose",
            "search",
            "--pool-minor",
            "1000",
            "--currency",
            "EUR",
            "--checked-at",
            &consentry::domain::Timestamp::now().to_string(),
            "--key",
            "lab.key",
            "--out",
            "run-1.payout.json",
            "--quiet",
        ])
        .await;
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("1 work was disallowed and 1 unknown for search"),
        "{err}"
    );
    assert!(err.contains("  harbour.png (disallowed): blake3:"), "{err}");
    assert!(err.contains("  stranger.png (unknown): blake3:"), "{err}");
    assert!(!err.contains("forest.jpg"), "{err}");
}
