//! The CLI through the binary, against a real server.

use crate::helpers::*;

crate::both_backends_raw!(artist_walkthrough, key_and_builder_commands);

async fn artist_walkthrough(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, _location) = server_database(backend, dir.path()).await;
    let server = Server::start(dir.path(), &url).await;

    // keygen: a 0600 PEM file, only the public key printed, never overwritten.
    let public = ok(&server.cli(&["keygen", "--out", "ana.key"]).await);
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
    let again = server.cli(&["keygen", "--out", "ana.key"]).await;
    assert!(!again.status.success(), "keygen must not overwrite a key");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ana.key")).expect("key"),
        pem
    );

    // artist create.
    let out = ok(&server
        .cli(&[
            "artist",
            "create",
            "--key",
            "ana.key",
            "--name",
            "Ana Example",
        ])
        .await);
    assert!(out.starts_with("registered artist "), "{out}");
    let out = ok(&server
        .cli(&[
            "artist",
            "create",
            "--key",
            "ana.key",
            "--name",
            "Ana Example",
        ])
        .await);
    assert!(out.starts_with("already registered"), "{out}");

    // register a folder of works.
    let works = dir.path().join("portfolio");
    std::fs::create_dir_all(works.join("2024")).expect("mkdir");
    std::fs::write(works.join("harbour.png"), b"png bytes of harbour").expect("write");
    std::fs::write(works.join("2024/forest.jpg"), b"jpeg bytes of forest").expect("write");
    std::fs::write(works.join("2024/copy.jpg"), b"jpeg bytes of forest").expect("write");
    let out = ok(&server
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
    assert!(
        out.contains("3 files, 2 distinct works; 2 statements recorded"),
        "{out}"
    );

    // status by file and by hash.
    let out = ok(&server.cli(&["status", "portfolio/harbour.png"]).await);
    assert!(out.contains("train-ai     disallowed"), "{out}");
    assert!(out.contains("train-genai  disallowed"), "{out}");
    assert!(out.contains("search       allowed"), "{out}");
    assert!(out.contains("claimed by Ana Example"), "{out}");
    assert!(out.contains("attribution \"Ana Example\""), "{out}");
    let hash = consentry::domain::ContentHash::of(b"jpeg bytes of forest").to_string();
    let out = ok(&server.cli(&["status", &hash, "--json"]).await);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["consent"]["search"], "allowed");
    let unknown = consentry::domain::ContentHash::of(b"never registered").to_string();
    let out = ok(&server.cli(&["status", &unknown]).await);
    assert!(out.contains("not registered"), "{out}");

    // Changing one's mind: opt out of everything, keeping the receipt.
    let out = ok(&server
        .cli(&[
            "register",
            "portfolio/harbour.png",
            "--key",
            "ana.key",
            "--consent",
            "opt-out",
            "--receipts",
            "receipts",
        ])
        .await);
    assert!(out.contains("1 statement recorded"), "{out}");
    assert!(out.contains("1 receipt saved in receipts"), "{out}");
    let receipts: Vec<_> = std::fs::read_dir(dir.path().join("receipts"))
        .expect("receipts dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(receipts.len(), 1);
    let vkey = consentry::cli::client::Client::new(&server.base)
        .expect("client")
        .get_json("/v1/log")
        .await
        .expect("log")["verifier_key"]
        .as_str()
        .expect("vkey")
        .to_owned();
    let receipt = receipts[0].to_str().expect("utf-8");
    let out = ok(&server
        .cli(&["verify-proof", receipt, "--verifier-key", &vkey])
        .await);
    assert!(out.starts_with("ok: statement"), "{out}");
    let out = ok(&server
        .cli(&["status", "portfolio/harbour.png", "--json"])
        .await);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["consent"]["search"], "disallowed");
    assert_eq!(v["history"].as_array().map(Vec::len), Some(2));

    // Errors are clear and exit non-zero.
    let bad = server
        .cli(&[
            "register",
            "portfolio",
            "--key",
            "ana.key",
            "--consent",
            "train-ai=maybe",
        ])
        .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected allowed or disallowed"));
    let bad = server
        .cli(&[
            "register",
            "portfolio",
            "--key",
            "ana.key",
            "--consent",
            "opt-out",
            "--free",
        ])
        .await;
    assert!(!bad.status.success());
    let stranger = server.cli(&["keygen", "--out", "bo.key"]).await;
    ok(&stranger);
    let bad = server
        .cli(&["register", "portfolio", "--key", "bo.key"])
        .await;
    assert!(
        !bad.status.success(),
        "an unregistered key cannot register works"
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("consentry artist create"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

async fn key_and_builder_commands(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, _location) = server_database(backend, dir.path()).await;
    let admin = consentry::crypto::SecretKey::generate();
    admin
        .write_new_file(&dir.path().join("admin.key"))
        .expect("admin key");
    let admin_public = admin.public_key().to_string();
    let server = Server::start_with(dir.path(), &url, &["--admin-key", &admin_public]).await;

    ok(&server.cli(&["keygen", "--out", "a1.key"]).await);
    let a2 = ok(&server.cli(&["keygen", "--out", "a2.key"]).await)
        .trim()
        .to_owned();
    let a3 = ok(&server.cli(&["keygen", "--out", "a3.key"]).await)
        .trim()
        .to_owned();
    let a1 = ok(&server
        .cli(&["artist", "create", "--key", "a1.key", "--name", "Ana"])
        .await);
    let artist_id = a1.trim().rsplit(' ').next().expect("id").to_owned();

    let out = ok(&server
        .cli(&["key", "add", "--key", "a1.key", "--new", "a2.key"])
        .await);
    assert!(
        out.starts_with(&format!("added {a2} for artist {artist_id}")),
        "{out}"
    );
    let out = ok(&server
        .cli(&["key", "rotate", "--key", "a1.key", "--new", "a3.key"])
        .await);
    assert!(out.starts_with(&format!("rotated in {a3}")), "{out}");
    // a1 is revoked now: it can no longer log in.
    let bad = server
        .cli(&["key", "add", "--key", "a1.key", "--new", "a2.key"])
        .await;
    assert!(!bad.status.success());
    let out = ok(&server
        .cli(&["key", "revoke", "--key", "a3.key", "--revoke", &a2])
        .await);
    assert!(out.starts_with(&format!("revoked {a2}")), "{out}");
    let again = server
        .cli(&["key", "revoke", "--key", "a3.key", "--revoke", &a2])
        .await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already-revoked"));

    let client = consentry::cli::client::Client::new(&server.base).expect("client");
    let artist = client
        .get_optional(&format!("/v1/artists/{artist_id}"))
        .await
        .expect("get")
        .expect("artist");
    let statuses: Vec<&str> = artist["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["status"].as_str().expect("s"))
        .collect();
    assert_eq!(statuses, ["revoked", "revoked", "active"]);

    // artist show prints the same record as the API.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&server.cli(&["artist", "show", &artist_id]).await))
            .expect("json");
    assert_eq!(shown["keys"], artist["keys"]);
    assert_eq!(shown["display_name"], "Ana");
    let missing = server.cli(&["artist", "show", &"0".repeat(64)]).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no artist"));

    // Builders: only the admin key can register them.
    let b = ok(&server.cli(&["keygen", "--out", "lab.key"]).await)
        .trim()
        .to_owned();
    let out = ok(&server
        .cli(&[
            "builder",
            "create",
            "--admin-key",
            "admin.key",
            "--name",
            "Open Lab",
            "--key",
            &b,
        ])
        .await);
    assert!(out.starts_with("registered builder b_"), "{out}");
    let bad = server
        .cli(&[
            "builder",
            "create",
            "--admin-key",
            "a3.key",
            "--name",
            "Lab",
            "--key",
            &a2,
        ])
        .await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
