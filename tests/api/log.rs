//! The transparency log through the API: receipts on every write,
//! checkpoints, entries, proofs, tiles, the upgrade of a database written
//! before the log, and the spec's vectors.

use consentry::audit::Auditor;
use consentry::crypto::SecretKey;
use consentry::log::entry;
use consentry::log::merkle::{leaf_hash, verify_consistency, verify_inclusion, EMPTY_ROOT};
use consentry::log::note::{open, Checkpoint, NoteVerifier};
use consentry::log::proof::TlogProof;
use consentry::log::tiles::split_bundle;
use consentry::log::tree::Appender;
use consentry::log::Hash;
use consentry::registry::Registry;
use consentry::transparency::TransparencyLog;
use serde_json::{json, Value};

use crate::helpers::*;

fn hex32(v: &Value) -> Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().expect("hex string"), &mut out).expect("32 hex bytes");
    out
}

fn hex_path(v: &Value) -> Vec<Hash> {
    v.as_array().expect("path").iter().map(hex32).collect()
}

fn verifier(app: &TestApp) -> NoteVerifier {
    app.state.registry.log().verifier().clone()
}

/// The latest checkpoint as served, verified with the log's key.
async fn checkpoint(app: &TestApp) -> Checkpoint {
    let r = app.get("/log/checkpoint").await;
    r.assert_status(200);
    assert_eq!(r.content_type, "text/plain; charset=utf-8");
    let text = open(&r.text, &[verifier(app)]).expect("signed by the log key");
    Checkpoint::parse(text).expect("checkpoint")
}

/// Checks a receipt from a write response: it verifies offline and its entry
/// is the stored document's.
async fn assert_receipt(app: &TestApp, accepted: &Value) {
    let text = accepted["receipt"].as_str().expect("receipt");
    let proof = TlogProof::parse(text).expect("tlog-proof");
    let log = app.state.registry.log();
    let cp = proof
        .verify(log.origin(), log.verifier(), None)
        .expect("receipt verifies");
    assert_eq!(proof.index, accepted["seq"].as_u64().expect("seq"));
    assert!(proof.index < cp.size);
    let id = accepted["id"].as_str().expect("id").to_owned();
    let stored = app.store().documents_by_id(&[id]).await.expect("documents");
    assert_eq!(
        proof.extra.as_deref(),
        Some(stored[0].doc.log_entry().expect("entry").as_slice())
    );
}

async fn every_write_is_logged_with_a_receipt(app: TestApp) {
    let info = app.get("/v1/log").await;
    info.assert_status(200);
    assert_eq!(info.body["origin"], "consentry.test/log");
    assert_eq!(info.body["verifier_key"], verifier(&app).to_text());
    assert_eq!(info.body["checkpoint"]["size"], 0);
    assert_eq!(
        info.body["checkpoint"]["root_hash"],
        hex::encode(EMPTY_ROOT)
    );
    assert_eq!(app.get("/.well-known/consentry-log").await.body, info.body);
    let registry = app.get("/v1/registry").await;
    assert_eq!(
        registry.body["log"]["verifier_key"],
        verifier(&app).to_text()
    );

    let key = SecretKey::generate();
    let r = app
        .post("/v1/artists", &json!(artist_envelope(&key, "Ana")), None)
        .await;
    r.assert_status(201);
    assert_receipt(&app, &r.body["document"]).await;
    app.assert_log_verifies().await;
    let a = Artist {
        id: r.body["artist_id"].as_str().expect("id").to_owned(),
        token: app.login(&key).await,
        key,
    };

    let new = SecretKey::generate();
    let add = key_event(
        &a.id,
        "add",
        &new.public_key().to_string(),
        json!({}),
        &[&a.key, &new],
    );
    let r = app
        .post(
            &format!("/v1/artists/{}/keys", a.id),
            &json!(add),
            Some(&a.token),
        )
        .await;
    r.assert_status(201);
    assert_receipt(&app, &r.body["document"]).await;
    app.assert_log_verifies().await;

    let works: Vec<_> = (0..5).map(work).collect();
    let envs: Vec<_> = works
        .iter()
        .zip(0i64..)
        .map(|(w, n)| statement(&a.key, &[*w], json!("opt-out"), ago(60 - n)))
        .collect();
    let r = app.submit(&a.token, &envs).await;
    r.assert_status(201);
    for acc in r.body["accepted"].as_array().expect("accepted") {
        assert_receipt(&app, acc).await;
    }
    app.assert_log_verifies().await;
    let cp = checkpoint(&app).await;
    assert_eq!(cp.size, 7);
    let counts = app.counts().await;
    assert_eq!(counts.log_entries, 7);
    assert_eq!(
        counts.checkpoints, 4,
        "one checkpoint per write, plus size 0"
    );

    // Resubmitting changes nothing and carries no new receipt.
    let r = app.submit(&a.token, &envs[..2]).await;
    r.assert_status(200);
    assert!(r.body["accepted"][0].get("receipt").is_none());
    assert_eq!(app.counts().await, counts);
    // A refused batch writes no entry and no checkpoint either.
    let stale = statement(&a.key, &[works[0]], json!("opt-in"), ago(3600));
    app.submit(&a.token, &[stale])
        .await
        .assert_problem(409, "stale-statement");
    assert_eq!(app.counts().await, counts);
    // The receipts endpoint serves one for any entry, against the latest checkpoint.
    let r = app.get("/v1/log/receipts/3").await;
    r.assert_status(200);
    let proof = TlogProof::parse(&r.text).expect("receipt");
    let log = app.state.registry.log();
    assert_eq!(
        proof
            .verify(log.origin(), log.verifier(), None)
            .expect("verifies")
            .size,
        7
    );
}

/// Root of the first `n` leaves, computed here.
fn root_of(leaves: &[Hash], n: usize) -> Hash {
    let mut t = Appender::new(0, &[]).expect("empty");
    for l in &leaves[..n] {
        t.push(*l).expect("push");
    }
    t.root().expect("root")
}

async fn entries_proofs_and_tiles(app: TestApp) {
    let a = app.artist("Ana").await;
    // Several writes of different sizes: 1 + 10 + 1 + 290 entries.
    for (first, count) in [(0u64, 10u64), (10, 1), (11, 290)] {
        let envs: Vec<_> = (first..first + count)
            .map(|n| statement(&a.key, &[work(n)], json!("opt-out"), ago(10)))
            .collect();
        app.submit(&a.token, &envs).await.assert_status(201);
    }
    let cp = checkpoint(&app).await;
    assert_eq!(cp.size, 302);

    // Entries, page by page.
    let mut entries = Vec::new();
    let mut start = Some(0u64);
    while let Some(s) = start {
        let page = app
            .get(&format!("/v1/log/entries?start={s}&limit=128"))
            .await;
        page.assert_status(200);
        assert_eq!(page.body["tree_size"], 302);
        for e in page.body["entries"].as_array().expect("entries") {
            assert_eq!(e["index"].as_u64(), Some(entries.len() as u64));
            let bytes = B64
                .decode(e["entry"].as_str().expect("entry"))
                .expect("b64");
            assert_eq!(hex32(&e["leaf_hash"]), leaf_hash(&bytes));
            let decoded = entry::decode(&bytes).expect("decodes");
            assert_eq!(decoded.kind.as_str(), e["kind"].as_str().expect("kind"));
            entries.push(bytes);
        }
        start = page.body["next"].as_u64();
    }
    assert_eq!(entries.len(), 302);
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    assert_eq!(root_of(&leaves, 302), cp.root);

    // Inclusion proofs, by index and by leaf hash, at the latest and older sizes.
    for (index, size) in [
        (0u64, 302u64),
        (1, 302),
        (150, 302),
        (301, 302),
        (0, 1),
        (5, 11),
        (10, 12),
        (255, 256),
    ] {
        let r = app
            .get(&format!(
                "/v1/log/proof/inclusion?index={index}&tree_size={size}"
            ))
            .await;
        r.assert_status(200);
        let root = root_of(&leaves, size as usize);
        assert_eq!(hex32(&r.body["root_hash"]), root);
        let path = hex_path(&r.body["path"]);
        verify_inclusion(index, size, &leaves[index as usize], &path, &root)
            .unwrap_or_else(|_| panic!("inclusion of {index} in {size}"));
        assert_eq!(r.body["checkpoint"].is_null(), size != 302);
        let by_hash = app
            .get(&format!(
                "/v1/log/proof/inclusion?leaf_hash={}&tree_size={size}",
                hex::encode(leaves[index as usize])
            ))
            .await;
        by_hash.assert_status(200);
        assert_eq!(by_hash.body["index"], index);
        assert_eq!(by_hash.body["path"], r.body["path"]);
    }
    // Consistency proofs between sizes.
    for (old, new) in [
        (1u64, 302u64),
        (11, 12),
        (12, 302),
        (256, 302),
        (300, 301),
        (7, 7),
    ] {
        let r = app
            .get(&format!(
                "/v1/log/proof/consistency?old_size={old}&new_size={new}"
            ))
            .await;
        r.assert_status(200);
        let (old_root, new_root) = (
            root_of(&leaves, old as usize),
            root_of(&leaves, new as usize),
        );
        assert_eq!(hex32(&r.body["old_root_hash"]), old_root);
        assert_eq!(hex32(&r.body["new_root_hash"]), new_root);
        verify_consistency(old, new, &old_root, &new_root, &hex_path(&r.body["path"]))
            .unwrap_or_else(|_| panic!("consistency {old} -> {new}"));
    }

    // tlog-tiles: level-0 tiles hold leaf hashes; level 1 holds roots of 256 leaves.
    let full = app.get_bytes("/log/tile/0/000").await;
    assert_eq!(full, Some(leaves[..256].concat()));
    let partial = app.get_bytes("/log/tile/0/001.p/46").await;
    assert_eq!(partial, Some(leaves[256..302].concat()));
    assert_eq!(app.get_bytes("/log/tile/0/001.p/47").await, None);
    assert_eq!(app.get_bytes("/log/tile/0/001").await, None);
    assert_eq!(
        app.get_bytes("/log/tile/1/000.p/1").await,
        Some(root_of(&leaves, 256).to_vec())
    );
    let bundle = app
        .get_bytes("/log/tile/entries/000")
        .await
        .expect("bundle");
    let split = split_bundle(&bundle).expect("bundle parses");
    assert_eq!(split.len(), 256);
    assert!(split.iter().zip(&entries).all(|(a, b)| a == b));
    let tail = app
        .get_bytes("/log/tile/entries/001.p/46")
        .await
        .expect("bundle");
    assert_eq!(split_bundle(&tail).expect("parses").len(), 46);
    for bad in [
        "/log/tile/0/1",
        "/log/tile/9/000",
        "/log/tile/0/000.p/0",
        "/log/tile/x/000",
    ] {
        app.get(bad).await.assert_problem(404, "not-found");
    }
    // Both checkpoint paths serve the same note.
    assert_eq!(
        app.get("/v1/log/checkpoint").await.text,
        app.get("/log/checkpoint").await.text
    );
    app.assert_log_verifies().await;
}

async fn bad_log_queries_are_refused(app: TestApp) {
    let a = app.artist("Ana").await;
    app.submit(
        &a.token,
        &[statement(&a.key, &[work(1)], json!("opt-out"), ago(5))],
    )
    .await
    .assert_status(201);
    let before = app.counts().await;
    for (path, status, slug) in [
        ("/v1/log/entries?limit=0", 400, "invalid-parameter"),
        ("/v1/log/entries?limit=1001", 400, "invalid-parameter"),
        ("/v1/log/entries?start=-1", 400, "invalid-parameter"),
        ("/v1/log/entries?offset=3", 400, "invalid-parameter"),
        ("/v1/log/proof/inclusion", 400, "invalid-parameter"),
        (
            "/v1/log/proof/inclusion?index=0&leaf_hash=00",
            400,
            "invalid-parameter",
        ),
        // Sizes and entries the log has not reached depend on its state: 404.
        ("/v1/log/proof/inclusion?index=2", 404, "not-found"),
        (
            "/v1/log/proof/inclusion?index=0&tree_size=3",
            404,
            "not-found",
        ),
        (
            "/v1/log/proof/inclusion?index=1&tree_size=1",
            400,
            "invalid-parameter",
        ),
        (
            "/v1/log/proof/inclusion?leaf_hash=zz",
            400,
            "invalid-parameter",
        ),
        ("/v1/log/proof/consistency", 400, "invalid-parameter"),
        (
            "/v1/log/proof/consistency?old_size=0",
            400,
            "invalid-parameter",
        ),
        (
            "/v1/log/proof/consistency?old_size=2&new_size=1",
            400,
            "invalid-parameter",
        ),
        (
            "/v1/log/proof/consistency?old_size=1&new_size=9",
            404,
            "not-found",
        ),
        ("/v1/log/proof/consistency?old_size=9", 404, "not-found"),
        // Above what any log can hold (the store's signed 64-bit positions).
        (
            "/v1/log/entries?start=9223372036854775808",
            400,
            "invalid-parameter",
        ),
        (
            "/v1/log/receipts/9223372036854775808",
            400,
            "invalid-parameter",
        ),
        (
            "/v1/log/proof/inclusion?index=9223372036854775808",
            400,
            "invalid-parameter",
        ),
        ("/v1/log/receipts/abc", 400, "invalid-parameter"),
        ("/v1/log/receipts/2", 404, "not-found"),
    ] {
        app.get(path).await.assert_problem(status, slug);
    }
    let unknown = format!("/v1/log/proof/inclusion?leaf_hash={}", "ab".repeat(32));
    app.get(&unknown).await.assert_problem(404, "not-found");
    // An entries page past the end is empty, not an error.
    let r = app.get("/v1/log/entries?start=50").await;
    r.assert_status(200);
    assert_eq!(r.body["entries"], json!([]));
    assert_eq!(r.body["next"], Value::Null);
    assert_eq!(app.counts().await, before);
}

async fn a_payload_too_large_for_the_log_is_refused(app: TestApp) {
    let a = app.artist("Ana").await;
    let works: Vec<_> = (0..400).map(work).collect();
    let mut p = statement_payload(&a.key, &works, json!("opt-out"), ago(5));
    for w in p["works"].as_array_mut().expect("works") {
        w["title"] = json!("t".repeat(200));
    }
    let before = app.counts().await;
    let r = app.submit(&a.token, &[sign_statement(&a.key, &p)]).await;
    r.assert_problem(422, "invalid-payload");
    assert!(r.text.contains("60000 bytes"), "{}", r.text);
    assert_eq!(app.counts().await, before);
}

/// A database written before the log existed gets every document appended
/// (in seq order) and a checkpoint when the registry starts.
async fn a_database_without_log_is_brought_up_to_date(backend: Backend) {
    let (store, _location) = open_store(backend).await;
    let key = SecretKey::generate();
    let log = || TransparencyLog::new("upgrade.test/log", key.clone()).expect("log");
    let old = Registry::new(store.clone(), log())
        .await
        .expect("registry")
        .without_log_for_benchmarks();
    let artist = SecretKey::generate();
    let id = old
        .register_artist(&artist_envelope(&artist, "Ana"))
        .await
        .expect("registered")
        .artist_id;
    let envs: Vec<_> = (0..1500)
        .map(|n| statement(&artist, &[work(n)], json!("opt-out"), ago(5)))
        .collect();
    old.submit_statements(&id, envs).await.expect("stored");
    drop(old);
    assert_eq!(store.counts().await.expect("counts").log_entries, 0);

    let new = Registry::new(store.clone(), log())
        .await
        .expect("caught up");
    let cp = new
        .log()
        .reader(store.as_ref())
        .latest()
        .await
        .expect("checkpoint");
    assert_eq!(cp.size, 1501);
    let docs = store.documents_from(0, 5000).await.expect("docs");
    let entries: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| d.doc.log_entry().expect("entry"))
        .collect();
    let mut auditor = Auditor::new(new.log().origin(), new.log().verifier().clone());
    let opened = auditor.open_checkpoint(&cp.note).expect("signed");
    auditor.replay(0, &entries).expect("replays");
    auditor.finish(&opened).expect("root");
    // Starting again changes nothing.
    let counts = store.counts().await.expect("counts");
    drop(Registry::new(store.clone(), log()).await.expect("again"));
    assert_eq!(store.counts().await.expect("counts"), counts);
}

#[test]
fn spec_vectors_match_the_implementation() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/vectors/log.json"
    ))
    .expect("spec/vectors/log.json");
    let doc: Value = serde_json::from_str(&text).expect("json");
    // The file is exactly what the documented generator writes.
    assert_eq!(
        doc,
        consentry::cli::log_vectors::log_vectors().expect("generator"),
        "spec/vectors/log.json is stale: run `cargo run --release -- vectors`"
    );
    let entries: Vec<Vec<u8>> = doc["entries_b64"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| B64.decode(e.as_str().expect("b64")).expect("b64"))
        .collect();
    assert!(entries.len() >= 17);
    let kinds: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| entry::decode(e).expect("entry").kind.as_str())
        .collect();
    assert_eq!(kinds.len(), 4, "every kind of entry");
    let leaves: Vec<Hash> = doc["leaf_hashes_hex"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(hex32)
        .collect();
    assert_eq!(
        leaves,
        entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>()
    );
    let roots: Vec<Hash> = doc["roots_hex"]
        .as_array()
        .expect("roots")
        .iter()
        .map(hex32)
        .collect();
    for (k, root) in roots.iter().enumerate() {
        assert_eq!(*root, root_of(&leaves, k + 1));
    }
    for p in doc["inclusion_proofs"].as_array().expect("inclusion") {
        let (i, n) = (
            p["index"].as_u64().expect("i"),
            p["tree_size"].as_u64().expect("n"),
        );
        let mut path = hex_path(&p["path_hex"]);
        let root = roots[n as usize - 1];
        verify_inclusion(i, n, &leaves[i as usize], &path, &root).expect("inclusion");
        if let Some(h) = path.first_mut() {
            h[0] ^= 1;
            assert!(verify_inclusion(i, n, &leaves[i as usize], &path, &root).is_err());
        }
    }
    for p in doc["consistency_proofs"].as_array().expect("consistency") {
        let (m, n) = (
            p["old_size"].as_u64().expect("m"),
            p["new_size"].as_u64().expect("n"),
        );
        let path = hex_path(&p["path_hex"]);
        verify_consistency(m, n, &roots[m as usize - 1], &roots[n as usize - 1], &path)
            .expect("consistency");
        assert!(
            verify_consistency(m, n, &roots[n as usize - 1], &roots[n as usize - 1], &path)
                .is_err()
                || m == n
        );
    }
    let vkey = NoteVerifier::parse(doc["verifier_key"].as_str().expect("vkey")).expect("vkey");
    for c in doc["checkpoints"].as_array().expect("checkpoints") {
        let cp = Checkpoint::parse(
            open(
                c["note"].as_str().expect("note"),
                std::slice::from_ref(&vkey),
            )
            .expect("signed"),
        )
        .expect("checkpoint");
        let expected = if cp.size == 0 {
            EMPTY_ROOT
        } else {
            roots[cp.size as usize - 1]
        };
        assert_eq!(cp.root, expected);
    }
    // The log obeys the audit rules.
    let mut auditor = Auditor::new(doc["origin"].as_str().expect("origin"), vkey.clone());
    auditor
        .replay(0, &entries)
        .expect("the vector log replays cleanly");
    // Its payout statements are signed by the log's key, named by their
    // records, and recomputed from the entries before them.
    let statements = doc["payout_statements"]
        .as_array()
        .expect("payout statements");
    assert!(!statements.is_empty());
    for s in statements {
        let env: consentry::crypto::Envelope =
            serde_json::from_value(s["envelope"].clone()).expect("envelope");
        let (statement, id) =
            consentry::payouts::verify_statement(&env, &vkey).expect("statement verifies");
        assert_eq!(s["statement_id"], id.as_str());
        let at = s["log_index"].as_u64().expect("log index");
        let record = entry::decode(&entries[at as usize]).expect("record");
        assert_eq!(record.kind, entry::EntryKind::Payout);
        let r =
            consentry::domain::payout::PayoutRecord::parse(&record.payload).expect("record parses");
        assert_eq!(r.statement, id);
        assert!(statement.view.size <= at);
        let mut index = consentry::index::ConsentIndex::new();
        for (i, e) in entries.iter().enumerate() {
            index.apply_entry(i as u64, e).expect("index");
        }
        assert_eq!(
            consentry::payouts::recompute(&statement, &index).expect("recompute"),
            statement.payout
        );
        assert!(
            statement.payout.totals.pool_allocated > 0,
            "the vector pays someone"
        );
    }
}

#[test]
fn c2sp_signed_note_example_verifies() {
    // The example in c2sp.org/signed-note (C2SP/C2SP signed-note.md).
    let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let v = NoteVerifier::parse(vkey).expect("vkey parses");
    assert_eq!(v.to_text(), vkey);
    assert_eq!(
        open(note, std::slice::from_ref(&v)),
        Ok("This is an example message.\n")
    );
    let altered = note.replace("example message", "Example message");
    assert!(open(&altered, &[v]).is_err());
}

crate::both_backends!(
    every_write_is_logged_with_a_receipt,
    entries_proofs_and_tiles,
    bad_log_queries_are_refused,
    a_payload_too_large_for_the_log_is_refused,
);

mod upgrade {
    crate::both_backends_raw!(a_database_without_log_is_brought_up_to_date);
    use super::a_database_without_log_is_brought_up_to_date;
}

/// Our tree code against Cloudflare's `tlog_tiles` (a port of Go's
/// `golang.org/x/mod/sumdb/tlog`): the same stored hashes, roots, and proofs
/// each side accepts from the other.
#[test]
fn tree_code_agrees_with_tlog_tiles() {
    use consentry::log::merkle::{
        consistency_proof, consistency_proof_indexes, inclusion_proof, inclusion_proof_indexes,
    };
    struct Stored(Vec<Hash>);
    impl tlog_tiles::HashReader for Stored {
        fn read_hashes(
            &self,
            indexes: &[u64],
        ) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::tlog::Error> {
            Ok(indexes
                .iter()
                .map(|i| tlog_tiles::Hash(self.0[usize::try_from(*i).expect("small")]))
                .collect())
        }
    }
    let n = 300u64;
    let mut ours = Appender::new(0, &[]).expect("empty");
    let mut theirs = Stored(Vec::new());
    let mut roots = Vec::new();
    for i in 0..n {
        let data = format!("record {i}");
        let leaf = leaf_hash(data.as_bytes());
        assert_eq!(tlog_tiles::record_hash(data.as_bytes()).0, leaf);
        let expected = tlog_tiles::stored_hashes(i, data.as_bytes(), &theirs).expect("theirs");
        ours.push(leaf).expect("push");
        let (_, mine) = ours.take_new();
        assert_eq!(
            mine,
            expected.iter().map(|h| h.0).collect::<Vec<_>>(),
            "record {i}"
        );
        theirs.0.extend(mine);
        let root = tlog_tiles::tree_hash(i + 1, &theirs).expect("root").0;
        assert_eq!(ours.root().expect("root"), root);
        roots.push(root);
    }
    let read = |idx: Vec<u64>| -> Vec<Hash> {
        idx.iter()
            .map(|i| theirs.0[usize::try_from(*i).expect("small")])
            .collect()
    };
    for t in (1..=n).filter(|t| *t <= 70 || t % 17 == 0 || *t == n) {
        let th = tlog_tiles::Hash(roots[t as usize - 1]);
        for k in 0..t {
            let mine = inclusion_proof(
                t,
                k,
                &read(inclusion_proof_indexes(t, k).expect("in range")),
            )
            .expect("proof");
            let theirs_proof = tlog_tiles::prove_record(t, k, &theirs).expect("their proof");
            assert_eq!(mine, theirs_proof.iter().map(|h| h.0).collect::<Vec<_>>());
            let leaf = tlog_tiles::Hash(
                theirs.0[usize::try_from(consentry::log::merkle::stored_hash_index(0, k))
                    .expect("small")],
            );
            tlog_tiles::check_record(&theirs_proof, t, th, k, leaf).expect("they accept");
        }
        for m in 1..t {
            let mine =
                consistency_proof(m, t, &read(consistency_proof_indexes(m, t).expect("range")))
                    .expect("proof");
            let theirs_proof = tlog_tiles::prove_tree(t, m, &theirs).expect("their proof");
            assert_eq!(mine, theirs_proof.iter().map(|h| h.0).collect::<Vec<_>>());
            let mh = tlog_tiles::Hash(roots[m as usize - 1]);
            tlog_tiles::check_tree(&theirs_proof, t, th, m, mh).expect("they accept");
            verify_consistency(m, t, &mh.0, &th.0, &mine).expect("we accept");
        }
    }
}
