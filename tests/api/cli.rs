//! The CLI through the binary, against a real server.

use crate::helpers::*;

crate::both_backends_raw!(artist_walkthrough);

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn artist_walkthrough(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, _location) = server_database(backend, dir.path()).await;
    let server = Server::start(dir.path(), &url);

    // keygen: a 0600 PEM file, only the public key printed, never overwritten.
    let public = ok(&server.cli(&["keygen", "--out", "ana.key"]));
    assert!(public.trim().starts_with("ed25519:") && public.trim().len() == 8 + 64);
    let pem = std::fs::read_to_string(dir.path().join("ana.key")).expect("key file");
    assert!(pem.contains("BEGIN PRIVATE KEY"));
    assert!(!public.contains("PRIVATE"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ana.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = server.cli(&["keygen", "--out", "ana.key"]);
    assert!(!again.status.success(), "keygen must not overwrite a key");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ana.key")).expect("key"),
        pem
    );

    // artist create.
    let out = ok(&server.cli(&[
        "artist",
        "create",
        "--key",
        "ana.key",
        "--name",
        "Ana Example",
    ]));
    assert!(out.starts_with("registered artist "), "{out}");
    let out = ok(&server.cli(&[
        "artist",
        "create",
        "--key",
        "ana.key",
        "--name",
        "Ana Example",
    ]));
    assert!(out.starts_with("already registered"), "{out}");

    // register a folder of works.
    let works = dir.path().join("portfolio");
    std::fs::create_dir_all(works.join("2024")).expect("mkdir");
    std::fs::write(works.join("harbour.png"), b"png bytes of harbour").expect("write");
    std::fs::write(works.join("2024/forest.jpg"), b"jpeg bytes of forest").expect("write");
    std::fs::write(works.join("2024/copy.jpg"), b"jpeg bytes of forest").expect("write");
    let out = ok(&server.cli(&[
        "register",
        "portfolio",
        "--key",
        "ana.key",
        "--consent",
        "train-ai=disallowed,search=allowed",
        "--attribution",
        "Ana Example",
    ]));
    assert!(
        out.contains("3 file(s), 2 distinct work(s); 2 statement(s) recorded"),
        "{out}"
    );

    // status by file and by hash.
    let out = ok(&server.cli(&["status", "portfolio/harbour.png"]));
    assert!(out.contains("train-ai     disallowed"), "{out}");
    assert!(out.contains("train-genai  disallowed"), "{out}");
    assert!(out.contains("search       allowed"), "{out}");
    assert!(out.contains("claimed by Ana Example"), "{out}");
    assert!(out.contains("attribution \"Ana Example\""), "{out}");
    let hash = consentry::domain::ContentHash::of(b"jpeg bytes of forest").to_string();
    let out = ok(&server.cli(&["status", &hash, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["consent"]["search"], "allowed");
    let unknown = consentry::domain::ContentHash::of(b"never registered").to_string();
    let out = ok(&server.cli(&["status", &unknown]));
    assert!(out.contains("not registered"), "{out}");

    // Changing one's mind: opt out of everything.
    let out = ok(&server.cli(&[
        "register",
        "portfolio/harbour.png",
        "--key",
        "ana.key",
        "--consent",
        "opt-out",
    ]));
    assert!(out.contains("1 statement(s) recorded"), "{out}");
    let out = ok(&server.cli(&["status", "portfolio/harbour.png", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["consent"]["search"], "disallowed");
    assert_eq!(v["history"].as_array().map(Vec::len), Some(2));

    // Errors are clear and exit non-zero.
    let bad = server.cli(&[
        "register",
        "portfolio",
        "--key",
        "ana.key",
        "--consent",
        "train-ai=maybe",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected allowed or disallowed"));
    let bad = server.cli(&[
        "register",
        "portfolio",
        "--key",
        "ana.key",
        "--consent",
        "opt-out",
        "--free",
    ]);
    assert!(!bad.status.success());
    let stranger = server.cli(&["keygen", "--out", "bo.key"]);
    ok(&stranger);
    let bad = server.cli(&["register", "portfolio", "--key", "bo.key"]);
    assert!(
        !bad.status.success(),
        "an unregistered key cannot register works"
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown-key"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
