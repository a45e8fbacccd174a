//! Problem answers for conditions outside a handler's own checks, through the
//! router: bodies in a charset other than UTF-8 (415), and a full disk (503
//! `storage-full`, and writes succeed again once space is freed) on SQLite (a
//! real full filesystem) and PostgreSQL (the server's `53100 disk_full`).

use std::io::Write;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn bodies_in_a_charset_other_than_utf8_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = consentry::crypto::SecretKey::generate();
    let envelope = serde_json::to_string(&artist_envelope(&key, "Ana")).expect("json");
    let utf16: Vec<u8> = envelope.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for ct in [
        "application/json; charset=utf-16",
        "application/json;charset=\"UTF-16LE\"",
        "application/json; charset=iso-8859-1",
    ] {
        app.post_raw("/v1/artists", utf16.clone(), Some(ct), None)
            .await
            .assert_problem(415, "unsupported-media-type");
    }
    let lab = crate::check::builder(&app).await;
    app.post_raw(
        "/v1/check/stream?purpose=train-ai",
        format!("\"{}\"\n", work(1)),
        Some("application/x-ndjson; charset=latin1"),
        Some(&lab),
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    assert_eq!(app.counts().await.artists, 0);
    // UTF-8, named in any spelling, is read.
    app.post_raw(
        "/v1/artists",
        envelope.clone().into_bytes(),
        Some("application/json; charset=\"UTF-8\""),
        None,
    )
    .await
    .assert_status(201);
}

/// A tmpfs of a few MiB, unmounted on drop.
struct TinyFs {
    dir: tempfile::TempDir,
}

impl TinyFs {
    fn mount(mib: u32) -> Option<TinyFs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyFs { dir })
    }

    /// Writes a file until the filesystem has no room left.
    fn fill(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 16 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Statements for `n` works, one envelope each.
fn statements(a: &Artist, from: u64, n: u64) -> Vec<consentry::crypto::Envelope> {
    (from..from + n)
        .map(|i| statement(&a.key, &[work(i)], json!("opt-out"), ago(10)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_answers_503_storage_full_and_recovers() {
    let Some(fs) = TinyFs::mount(4) else {
        // Mounting needs root (as in CI); elsewhere there is no full disk to make.
        eprintln!("skipped: mounting a small tmpfs is not permitted here");
        return;
    };
    let url = format!("sqlite://{}", fs.dir.path().join("registry.db").display());
    let store = consentry::store::open(&url).await.expect("open");
    let scratch = tempfile::tempdir().expect("tempdir");
    let location = Location::Sqlite {
        _dir: scratch,
        url: url.clone(),
    };
    let app = TestApp::with_store(
        store,
        location,
        consentry::http::limits::LimitConfig::default(),
    )
    .await;
    let ana = app.artist("Ana").await;
    app.submit(&ana.token, &statements(&ana, 0, 5))
        .await
        .assert_status(201);
    let filler = fs.fill();
    let mut refused = None;
    for round in 0..20 {
        let r = app
            .submit(&ana.token, &statements(&ana, 1000 + round * 200, 200))
            .await;
        if r.status.as_u16() != 201 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("a full disk refused nothing");
    refused.assert_problem(503, "storage-full");
    // Reads go on while the disk is full.
    app.get("/v1/log").await.assert_status(200);
    std::fs::remove_file(filler).expect("free space");
    app.submit(&ana.token, &statements(&ana, 100_000, 5))
        .await
        .assert_status(201);
    app.assert_log_verifies().await;
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_disk_full_answers_503_storage_full_and_recovers() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let ana = app.artist("Ana").await;
    app.submit(&ana.token, &statements(&ana, 0, 2))
        .await
        .assert_status(201);
    // What PostgreSQL raises when it cannot extend a file.
    app.raw_sql(&[
        "create function consentry_test_disk_full() returns trigger language plpgsql as $$ \
         begin raise exception 'could not extend file: No space left on device' using errcode = '53100'; end $$",
        "create trigger consentry_test_disk_full before insert on documents \
         for each row execute function consentry_test_disk_full()",
    ])
    .await;
    let before = app.counts().await;
    app.submit(&ana.token, &statements(&ana, 10, 3))
        .await
        .assert_problem(503, "storage-full");
    assert_eq!(app.counts().await, before, "nothing stored");
    app.raw_sql(&["drop trigger consentry_test_disk_full on documents"])
        .await;
    app.submit(&ana.token, &statements(&ana, 10, 3))
        .await
        .assert_status(201);
    app.assert_log_verifies().await;
}
