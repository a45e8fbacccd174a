//! The registry as the only writer of its database, and stored data
//! checked against the log: a second writer is refused (store handles and
//! `consentry serve` processes), an append cannot commit entries out of
//! acceptance order, a database edited behind the registry's back is
//! refused at start (naming what differs), and entries altered while it
//! runs are not served.

use std::sync::Arc;
use std::time::Duration;

use consentry::crypto::SecretKey;
use consentry::domain::Timestamp;
use consentry::log::note::{sign, Checkpoint};
use consentry::registry::Registry;
use consentry::store::{self, Append, Document, DocumentKind, Store};
use consentry::transparency::TransparencyLog;

use crate::audit::{alter_entry_5, bytes_literal, drop_guards, populate};
use crate::helpers::*;
use serde_json::json;

/// Opens the store at `location` again, as a second process would.
async fn open_again(location: &Location) -> Result<Arc<dyn Store>, String> {
    match location {
        Location::Sqlite { url, .. } => store::open(url).await.map_err(|e| e.to_string()),
        Location::Postgres { schema } => {
            store::postgres::PgStore::open_in_schema(&postgres_url(), schema)
                .await
                .map(|s| Arc::new(s) as Arc<dyn Store>)
                .map_err(|e| e.to_string())
        }
    }
}

async fn a_second_writer_is_refused_and_told_who_holds_the_database(backend: Backend) {
    let (first, location) = open_store(backend).await;
    let started = std::time::Instant::now();
    let e = open_again(&location)
        .await
        .err()
        .expect("a second writer must be refused");
    assert!(
        e.contains("already in use by another registry process"),
        "{e}"
    );
    assert!(
        e.contains(&std::process::id().to_string()),
        "the message names the holder's pid: {e}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // Once the holder is gone, the database is free.
    drop(first);
    let second = open_again(&location)
        .await
        .expect("free once the first is gone");
    assert_eq!(second.counts().await.expect("counts").documents, 0);
}

async fn a_second_serve_process_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, _location) = server_database(backend, dir.path()).await;
    let first = Server::start(dir.path(), &url).await;
    let other = tempfile::tempdir().expect("tmp");
    let out = Bin::new(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .arg("--key-file")
        .arg(other.path().join("registry.key"))
        .run()
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second writer started: {err}");
    assert!(
        err.contains("already in use by another registry process"),
        "{err}"
    );
    assert!(
        err.contains(&first.child.id().to_string()),
        "the message names the first process: {err}"
    );
    // The first one still serves.
    let client = consentry::cli::client::Client::new(&first.base).expect("client");
    let info = client
        .get_json("/v1/log")
        .await
        .expect("the first still serves");
    assert_eq!(info["checkpoint"]["size"], 0);
    // And once it is gone, another process takes over.
    drop(first);
    let again = Server::start(dir.path(), &url).await;
    let client = consentry::cli::client::Client::new(&again.base).expect("client");
    client.get_json("/v1/log").await.expect("serves");
}

fn append_at(nanos: i64, n: u8) -> Append {
    Append {
        doc: Document {
            id: hex::encode([n; 32]),
            kind: DocumentKind::Artist,
            artist_id: hex::encode([n; 32]),
            payload_type: "application/vnd.consentry.artist+json".into(),
            payload: vec![b'{', b'}'],
            signatures: Vec::new(),
            received_at: Timestamp::from_unix_nanos(nanos),
        },
        effects: Vec::new(),
    }
}

/// Two appends whose receipt times were taken before the write lock, the
/// later one committed first (what two writers racing would do): the
/// earlier one is refused inside the lock, and nothing of it is stored.
async fn a_forced_race_cannot_commit_out_of_order(backend: Backend) {
    let (store, _location) = open_store(backend).await;
    let now = Timestamp::now().unix_nanos();
    let (early, late) = (append_at(now, 1), append_at(now + 1_000, 2));
    let mut tx = store.begin_append().await.expect("begin");
    tx.append(std::slice::from_ref(&late)).await.expect("late");
    tx.commit().await.expect("commit");
    let mut tx = store.begin_append().await.expect("begin");
    let e = tx
        .append(std::slice::from_ref(&early))
        .await
        .expect_err("an earlier receipt time after a later one");
    assert!(e.to_string().contains("out of acceptance order"), "{e}");
    assert!(e.to_string().contains("entry 1"), "{e}");
    drop(tx);
    // Within one batch too.
    let mut tx = store.begin_append().await.expect("begin");
    let same = [append_at(now + 2_000, 3), append_at(now + 2_000, 4)];
    assert!(tx.append(&same).await.is_err());
    drop(tx);
    assert_eq!(store.document_count().await.expect("count"), 1);
}

/// The registry starts again on `location`, as `consentry serve` would.
async fn restart(location: &Location, key: &SecretKey) -> Result<Registry, String> {
    let store = open_again(location).await?;
    let log = TransparencyLog::new("consentry.test/log", key.clone()).expect("log");
    Registry::new(store, log).await.map_err(|e| e.to_string())
}

/// A populated registry, stopped, its database tampered with by `sql`
/// (guards lifted), started again: returns why it refused.
async fn tamper_and_restart(backend: Backend, sql: impl Fn(&TestApp) -> Vec<String>) -> String {
    let app = TestApp::spawn(backend).await;
    populate(&app).await;
    drop_guards(&app).await;
    let statements = sql(&app);
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    app.raw_sql(&statements).await;
    let TestApp {
        router,
        state,
        registry_key,
        _location: location,
        ..
    } = app;
    drop(router);
    drop(state);
    let e = restart(&location, &registry_key)
        .await
        .err()
        .expect("the registry must refuse to start on a tampered database");
    assert!(
        e.contains("stored data does not match the transparency log"),
        "{e}"
    );
    assert!(e.contains("Restore the database from a backup"), "{e}");
    e
}

async fn an_untouched_database_starts_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    populate(&app).await;
    let TestApp {
        router,
        state,
        registry_key,
        _location: location,
        ..
    } = app;
    drop(router);
    drop(state);
    let registry = restart(&location, &registry_key).await.expect("restarts");
    assert_eq!(
        registry.store().counts().await.expect("counts").documents,
        21
    );
}

async fn an_altered_document_is_refused_at_start(backend: Backend) {
    let e = tamper_and_restart(backend, |app| vec![alter_entry_5(app).into()]).await;
    assert!(e.contains("entry 5"), "{e}");
}

async fn a_missing_tree_row_is_refused_at_start(backend: Backend) {
    let e = tamper_and_restart(backend, |_| {
        vec!["delete from log_leaves where idx = 7".into()]
    })
    .await;
    assert!(e.contains("stored tree"), "{e}");
}

async fn a_forged_checkpoint_is_refused_at_start(backend: Backend) {
    let e = tamper_and_restart(backend, |app| {
        let log = app.state.registry.log();
        let forged = sign(
            &Checkpoint {
                origin: log.origin().to_owned(),
                size: 21,
                root: [7; 32],
            }
            .to_text(),
            log.origin(),
            &SecretKey::generate(),
        )
        .expect("sign");
        vec![format!(
            "update checkpoints set note = '{forged}' where size = 21"
        )]
    })
    .await;
    assert!(e.contains("not signed by this log's key"), "{e}");
}

async fn a_checkpoint_over_another_root_is_refused_at_start(backend: Backend) {
    // Same signed note, but the stored root column disagrees with it.
    let e = tamper_and_restart(backend, |app| {
        vec![format!(
            "update checkpoints set root = {} where size = 21",
            bytes_literal(app, &[7; 32])
        )]
    })
    .await;
    assert!(e.contains("latest checkpoint"), "{e}");
}

async fn deleted_derived_rows_are_refused_at_start(backend: Backend) {
    // A logged opt-out hidden from `/v1/works`.
    let e = tamper_and_restart(backend, |_| {
        vec!["delete from statement_works where seq = 6".into()]
    })
    .await;
    assert!(e.contains("table statement_works"), "{e}");
    assert!(
        e.contains("holds 16 rows where the logged documents give 17"),
        "{e}"
    );
}

async fn an_unrevoked_key_is_refused_at_start(backend: Backend) {
    let e = tamper_and_restart(backend, |_| {
        vec!["update artist_keys set revoked_at = null, revoked_seq = null".into()]
    })
    .await;
    assert!(e.contains("table artist_keys"), "{e}");
    assert!(e.contains("altered"), "{e}");
}

async fn a_renamed_artist_is_refused_at_start(backend: Backend) {
    let e = tamper_and_restart(backend, |_| {
        vec!["update artists set display_name = 'Mallory' where display_name = 'Ben'".into()]
    })
    .await;
    assert!(e.contains("table artists"), "{e}");
}

async fn a_document_outside_the_log_is_refused_at_start(backend: Backend) {
    // A copy of an entry at a new seq: stored, but never logged or signed.
    let e = tamper_and_restart(backend, |_| {
        vec!["insert into documents (seq, id, kind, artist_id, payload_type, payload, signatures, received_at)
              select 21, 'x' || id, kind, artist_id, payload_type, payload, signatures, received_at + 1
              from documents where seq = 20"
            .into()]
    })
    .await;
    assert!(e.contains("after the latest signed checkpoint"), "{e}");
}

/// Entries altered while the registry runs are not served: the entries
/// page, the receipt, the entry bundle and the document answer 500, and
/// untouched entries are still served.
async fn an_entry_altered_while_serving_is_not_served(app: TestApp) {
    populate(&app).await;
    let before = app.get("/v1/log/entries?start=0&limit=21").await;
    before.assert_status(200);
    let id = before.body["entries"][5]["document_id"]
        .as_str()
        .expect("id")
        .to_owned();
    drop_guards(&app).await;
    app.raw_sql(&[alter_entry_5(&app)]).await;
    for path in [
        "/v1/log/entries?start=0&limit=21".to_owned(),
        "/v1/log/receipts/5".to_owned(),
        "/log/tile/entries/000.p/21".to_owned(),
        format!("/v1/documents/{id}"),
    ] {
        let r = app.get(&path).await;
        r.assert_problem(500, "internal");
    }
    app.get("/v1/log/entries?start=6&limit=10")
        .await
        .assert_status(200);
    app.get("/v1/log/receipts/6").await.assert_status(200);
}

crate::both_backends_raw!(
    a_second_writer_is_refused_and_told_who_holds_the_database,
    a_second_serve_process_is_refused,
    a_forced_race_cannot_commit_out_of_order,
    an_untouched_database_starts_again,
    an_altered_document_is_refused_at_start,
    a_missing_tree_row_is_refused_at_start,
    a_forged_checkpoint_is_refused_at_start,
    a_checkpoint_over_another_root_is_refused_at_start,
    deleted_derived_rows_are_refused_at_start,
    an_unrevoked_key_is_refused_at_start,
    a_renamed_artist_is_refused_at_start,
    a_document_outside_the_log_is_refused_at_start,
);

mod serving {
    use super::*;
    crate::both_backends!(an_entry_altered_while_serving_is_not_served);
}

/// While the start-up check runs, the registry answers every request with
/// 503 `starting` (and its progress), then serves. The check is held back
/// by a lock on `payout_lines`, a table the check reads (it counts every
/// table) and opening the store does not (PostgreSQL: SQLite has no table
/// locks, and the answer does not depend on the backend).
#[tokio::test]
async fn a_starting_registry_answers_503_starting_until_its_check_is_done() {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, location) = server_database(Backend::Postgres, dir.path()).await;
    {
        let server = Server::start(dir.path(), &url).await;
        let client = consentry::cli::client::Client::new(&server.base).expect("client");
        let (status, _) = client
            .post(
                "/v1/artists",
                &serde_json::json!(artist_envelope(&SecretKey::generate(), "Ana")),
            )
            .await
            .expect("register");
        assert_eq!(status, 201);
    }
    let raw = RawDb::open(location.as_ref().expect("postgres schema")).await;
    let lock = raw.lock_table("payout_lines").await;
    let starting = Server::start_until_checking(dir.path(), &url).await;
    let http = reqwest::Client::new();
    let key = SecretKey::generate();
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/v1/log"),
        ("POST", "/v1/artists"),
    ] {
        let request = match method {
            "GET" => http.get(format!("{}{path}", starting.base())),
            _ => http
                .post(format!("{}{path}", starting.base()))
                .json(&serde_json::json!(artist_envelope(&key, "Bo"))),
        };
        let response = request.send().await.expect("answered while starting");
        assert_eq!(response.status(), 503, "{method} {path}");
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let body: serde_json::Value = response.json().await.expect("problem");
        assert_eq!(body["type"], "urn:consentry:problem:starting", "{body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("stored documents checked against the log")),
            "{body}"
        );
    }
    lock.rollback().await.expect("release the lock");
    let server = starting.until_listening().await;
    let client = consentry::cli::client::Client::new(&server.base).expect("client");
    let health = client.get_json("/healthz").await.expect("serves");
    assert_eq!(health["status"], "ok");
    // Nothing was written while it was starting.
    let log = client.get_json("/v1/log").await.expect("log");
    assert_eq!(log["checkpoint"]["size"], 1, "{log}");
}

/// A replica (`Registry::open_replica` over a read-only store on the same
/// database) follows the primary's new checkpoints, and refuses to move to
/// one that is not the log's: a forged checkpoint, then a new document
/// whose bytes are not the logged entry's. Its index and checkpoint stay
/// where they were, and it follows again once the database is right.
async fn a_replica_follows_only_the_log(app: TestApp) {
    populate(&app).await;
    let cat = app.artist("Cat").await;
    let url = match &app._location {
        Location::Sqlite { url, .. } => url.clone(),
        Location::Postgres { schema } => postgres_schema_url(schema),
    };
    let replica = Registry::open_replica(
        store::open_read_only(&url).await.expect("read-only store"),
        TransparencyLog::new("consentry.test/log", app.registry_key.clone()).expect("log"),
        &consentry::registry::StartupProgress::default(),
        None,
    )
    .await
    .expect("replica");
    let at = |r: &Registry| r.check_view(None).expect("view").0.size;
    assert_eq!(at(&replica), 22);
    // A writer's store refuses nothing here; the replica's refuses writes.
    let ro = store::open_read_only(&url).await.expect("read-only store");
    assert!(
        ro.begin_append().await.is_err() || {
            let mut tx = ro.begin_append().await.expect("tx");
            tx.append(&[append_at(Timestamp::now().unix_nanos(), 1)])
                .await
                .is_err()
        }
    );

    let new_works: Vec<_> = (0..4).map(work).collect(); // random hashes
    let next = |n: usize| statement(&cat.key, &[new_works[n]], json!("opt-out"), ago(5));
    app.submit(&cat.token, &[next(1)]).await.assert_status(201);
    let f = replica.follow().await.expect("follow");
    assert_eq!((f.from, f.to), (22, 23));
    assert_eq!(at(&replica), 23);
    let view = consentry::index::View {
        size: 23,
        as_of: None,
    };
    let primary_sees = app
        .state
        .registry
        .with_index(|s| s.index.answer(&new_works[1], view).registered);
    let replica_sees = replica.with_index(|s| {
        (
            s.index.size(),
            s.index.answer(&new_works[1], view).registered,
        )
    });
    assert!(primary_sees, "primary");
    assert_eq!(replica_sees, (23, true), "the replica sees the new work");

    // A forged checkpoint: refused, nothing moves.
    app.submit(&cat.token, &[next(2)]).await.assert_status(201);
    drop_guards(&app).await;
    let log = app.state.registry.log();
    let good = app
        .state
        .registry
        .store()
        .latest_checkpoint()
        .await
        .expect("checkpoint")
        .expect("some")
        .note;
    let forged = sign(
        &Checkpoint {
            origin: log.origin().to_owned(),
            size: 24,
            root: [7; 32],
        }
        .to_text(),
        log.origin(),
        &SecretKey::generate(),
    )
    .expect("sign");
    app.raw_sql(&[&format!(
        "update checkpoints set note = '{forged}' where size = 24"
    )])
    .await;
    let e = replica.follow().await.expect_err("forged").to_string();
    assert!(e.contains("replica") && e.contains("size 24"), "{e}");
    assert_eq!(at(&replica), 23, "the replica stays where it was");
    // Put right: it follows.
    app.raw_sql(&[&format!(
        "update checkpoints set note = '{good}' where size = 24"
    )])
    .await;
    assert_eq!(replica.follow().await.expect("follow").to, 24);

    // A new document altered after it was logged: its leaf is not the tree's.
    app.submit(&cat.token, &[next(3)]).await.assert_status(201);
    app.raw_sql(&["update documents set received_at = received_at + 1 where seq = 24"])
        .await;
    let e = replica.follow().await.expect_err("altered").to_string();
    assert!(e.contains("do not give the root"), "{e}");
    // ... and with its stored leaf rewritten to match: still not the root
    // the checkpoint signs.
    let altered = app
        .store()
        .documents_from(24, 1)
        .await
        .expect("document")
        .remove(0);
    let leaf = consentry::log::merkle::leaf_hash(&altered.doc.log_entry().expect("entry"));
    let set_leaf = if app.store().backend() == "sqlite" {
        format!(
            "update log_leaves set hashes = X'{}' || substr(hashes, 33) where idx = 24",
            hex::encode(leaf)
        )
    } else {
        format!(
            "update log_leaves set hashes = overlay(hashes placing decode('{}', 'hex') from 1 for 32) where idx = 24",
            hex::encode(leaf)
        )
    };
    app.raw_sql(&[&set_leaf]).await;
    let e = replica.follow().await.expect_err("altered").to_string();
    assert!(e.contains("do not give the root"), "{e}");
    assert_eq!(at(&replica), 24);
}

mod replica_follow {
    use super::*;
    crate::both_backends!(a_replica_follows_only_the_log);
}
