//! `consentry audit` and `consentry verify-proof` through the binary, against
//! a clean log and against databases tampered with behind the registry's
//! back: each tampering must fail the audit with a message naming it.

use consentry::crypto::SecretKey;
use consentry::log::note::{sign, Checkpoint};
use serde_json::json;

use crate::helpers::*;

/// Runs the binary; returns (success, stdout, stderr).
async fn consentry(args: Vec<String>) -> (bool, String, String) {
    let out = Bin::new(args).run().await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn audit(base: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["audit".to_owned(), base.to_owned(), "--quiet".to_owned()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    consentry(args).await
}

/// A log with two artists, an added key and a revocation: 2 registrations,
/// 12 statements by Ana, a key addition, 3 statements by Ben, a revocation,
/// 2 statements with Ana's second key (21 entries). Statements at seqs 2..=13
/// are Ana's plain opt-outs.
pub(crate) async fn populate(app: &TestApp) -> (Artist, SecretKey) {
    let a = app.artist("Ana").await;
    let b = app.artist("Ben").await;
    let envs: Vec<_> = (0..12)
        .map(|n| statement(&a.key, &[work(n)], json!("opt-out"), ago(100)))
        .collect();
    app.submit(&a.token, &envs).await.assert_status(201);
    let second = SecretKey::generate();
    let token2 = app.add_key(&a, &second).await;
    let envs: Vec<_> = (0..3)
        .map(|n| statement(&b.key, &[work(n)], json!("opt-in"), ago(50)))
        .collect();
    app.submit(&b.token, &envs).await.assert_status(201);
    let revoke = key_event(
        &a.id,
        "revoke",
        &a.key.public_key().to_string(),
        json!({}),
        &[&second],
    );
    app.post(
        &format!("/v1/artists/{}/keys", a.id),
        &json!(revoke),
        Some(&token2),
    )
    .await
    .assert_status(201);
    let envs: Vec<_> = (0..2)
        .map(|n| statement(&second, &[work(n)], json!("opt-out"), ago(10)))
        .collect();
    app.submit(&token2, &envs).await.assert_status(201);
    assert_eq!(app.counts().await.log_entries, 21);
    (a, second)
}

/// Lifts the append-only guards the tampering needs to get past.
pub(crate) async fn drop_guards(app: &TestApp) {
    if app.store().backend() == "sqlite" {
        let drops: Vec<String> = [
            "documents_no_update",
            "documents_no_delete",
            "statement_works_no_update",
            "statement_works_no_delete",
            "checkpoints_no_update",
            "checkpoints_no_delete",
            "log_leaves_no_update",
            "log_leaves_no_delete",
        ]
        .iter()
        .map(|t| format!("drop trigger if exists {t}"))
        .collect();
        let drops: Vec<&str> = drops.iter().map(String::as_str).collect();
        app.raw_sql(&drops).await;
    } else {
        app.raw_sql(&[
            "drop trigger documents_append_only on documents",
            "drop trigger statement_works_append_only on statement_works",
            "drop trigger checkpoints_append_only on checkpoints",
            "drop trigger log_leaves_append_only on log_leaves",
        ])
        .await;
    }
}

/// A registry that serves whatever its database holds, as a dishonest
/// operator's would (an honest one checks every entry it serves against
/// its tree): what the auditor must catch on its own.
async fn dishonest(app: &TestApp) {
    drop_guards(app).await;
    app.state.registry.log().serve_unchecked();
}

/// SQL that turns `{"consent":"opt-out"` into `{"consent":"opt_out"` in
/// entry 5 (one of Ana's statements): still JSON, no longer what she signed.
pub(crate) fn alter_entry_5(app: &TestApp) -> &'static str {
    if app.store().backend() == "sqlite" {
        "update documents set payload = cast(substr(payload, 1, 14) || '_' || substr(payload, 16) as blob) where seq = 5"
    } else {
        "update documents set payload = overlay(payload placing '\\x5f'::bytea from 15 for 1) where seq = 5"
    }
}

pub(crate) fn bytes_literal(app: &TestApp, bytes: &[u8]) -> String {
    if app.store().backend() == "sqlite" {
        format!("X'{}'", hex::encode(bytes))
    } else {
        format!("decode('{}', 'hex')", hex::encode(bytes))
    }
}

#[track_caller]
fn assert_fails_with(result: &(bool, String, String), needles: &[&str]) {
    let (ok, out, err) = result;
    assert!(!ok, "audit passed on a tampered log: {out}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in the audit's message: {err}");
    }
}

async fn a_clean_log_passes_and_later_audits_check_growth(app: TestApp) {
    populate(&app).await;
    let base = app.serve_http().await;
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("audit.json");
    let state_arg = state.to_str().expect("utf-8").to_owned();
    let (ok, out, err) = audit(&base, &["--state", &state_arg]).await;
    assert!(ok, "{err}");
    assert!(out.contains("verified up to size 21"), "{out}");
    assert!(
        out.contains("2 artist registrations, 2 key events, 17 statements"),
        "{out}"
    );
    // New entries: the next audit proves consistency and replays only them.
    let b = app.artist("Chloé").await;
    let r = app
        .submit(
            &b.token,
            &[statement(&b.key, &[work(99)], json!("opt-out"), ago(1))],
        )
        .await;
    r.assert_status(201);
    let (ok, out, err) = audit(&base, &["--state", &state_arg]).await;
    assert!(ok, "{err}");
    assert!(out.contains("verified up to size 23"), "{out}");
    assert!(out.contains("replayed 2 entries"), "{out}");
    assert!(
        out.contains("consistent with the 21 entries audited before"),
        "{out}"
    );

    // A receipt verifies offline; an altered one does not.
    let receipt = r.body["accepted"][0]["receipt"].as_str().expect("receipt");
    let path = dir.path().join("statement.tlog-proof");
    std::fs::write(&path, receipt).expect("write");
    let vkey = app.state.registry.log().verifier().to_text();
    let file = path.to_str().expect("utf-8").to_owned();
    let (ok, out, err) = consentry(vec![
        "verify-proof".into(),
        file.clone(),
        "--verifier-key".into(),
        vkey.clone(),
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("is entry 22 of log consentry.test/log"),
        "{out}"
    );
    std::fs::write(&path, receipt.replace("index 22", "index 21")).expect("write");
    let (ok, _, err) = consentry(vec![
        "verify-proof".into(),
        file,
        "--verifier-key".into(),
        vkey,
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("inclusion proof fails"), "{err}");
}

async fn an_altered_byte_fails_the_audit(app: TestApp) {
    populate(&app).await;
    let base = app.serve_http().await;
    dishonest(&app).await;
    app.raw_sql(&[alter_entry_5(&app)]).await;
    let result = audit(&base, &[]).await;
    assert_fails_with(&result, &["entry 5:", "signature by", "does not verify"]);
}

async fn a_dropped_entry_fails_the_audit(app: TestApp) {
    populate(&app).await;
    let base = app.serve_http().await;
    dishonest(&app).await;
    app.raw_sql(&[
        "delete from statement_works where seq = 7",
        "delete from documents where seq = 7",
    ])
    .await;
    let result = audit(&base, &[]).await;
    assert_fails_with(&result, &["entry 7:", "missing"]);
}

async fn reordered_entries_fail_the_audit(app: TestApp) {
    populate(&app).await;
    let base = app.serve_http().await;
    dishonest(&app).await;
    let take = |from: u32, col: &str| format!("(select {col} from swap_tmp where seq = {from})");
    let set = |to: u32, from: u32| {
        format!(
            "update documents set id = {}, payload = {}, signatures = {}, received_at = {} where seq = {to}",
            take(from, "id"),
            take(from, "payload"),
            take(from, "signatures"),
            take(from, "received_at")
        )
    };
    app.raw_sql(&[
        "create table swap_tmp as select seq, id, payload, signatures, received_at from documents where seq in (8, 9)",
        "update documents set id = 'x' || id where seq in (8, 9)",
        &set(8, 9),
        &set(9, 8),
    ])
    .await;
    let result = audit(&base, &[]).await;
    assert_fails_with(&result, &["entry 9:", "out of acceptance order"]);
}

async fn a_swapped_checkpoint_key_fails_the_audit(app: TestApp) {
    populate(&app).await;
    let base = app.serve_http().await;
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("audit.json");
    let state_arg = state.to_str().expect("utf-8").to_owned();
    assert!(audit(&base, &["--state", &state_arg]).await.0);
    // Someone with the database but not the registry key re-signs the latest checkpoint.
    dishonest(&app).await;
    let log = app.state.registry.log();
    let cp = log
        .reader(app.store().as_ref())
        .latest()
        .await
        .expect("checkpoint");
    let forged = sign(
        &Checkpoint {
            origin: log.origin().to_owned(),
            size: cp.size,
            root: cp.root,
        }
        .to_text(),
        log.origin(),
        &SecretKey::generate(),
    )
    .expect("sign");
    app.raw_sql(&[&format!(
        "update checkpoints set note = '{forged}' where size = {}",
        cp.size
    )])
    .await;
    let result = audit(&base, &["--state", &state_arg]).await;
    assert_fails_with(
        &result,
        &[
            "checkpoint",
            "expected a signature by",
            &log.verifier().to_text(),
        ],
    );
    // Pinning the key on the command line catches it too.
    let vkey = log.verifier().to_text();
    let result = audit(&base, &["--verifier-key", &vkey]).await;
    assert_fails_with(&result, &["checkpoint", "no signature by a known key"]);
}

async fn a_rewritten_entry_fails_the_audit(app: TestApp) {
    // The operator rewrites one of Ana's statements with a valid signature
    // (say, with a copy of her key): signatures and key rules still hold,
    // but the entries no longer hash to the signed root.
    let (a, _) = populate(&app).await;
    let base = app.serve_http().await;
    dishonest(&app).await;
    let forged = statement(&a.key, &[work(1)], json!("opt-in"), ago(100));
    let payload = B64.decode(&forged.payload).expect("b64");
    let sigs = serde_json::to_string(&forged.signatures).expect("json");
    app.raw_sql(&[&format!(
        "update documents set payload = {}, signatures = '{sigs}', id = '{}' where seq = 4",
        bytes_literal(&app, &payload),
        consentry::registry::document_id(&payload)
    )])
    .await;
    let result = audit(&base, &[]).await;
    assert_fails_with(
        &result,
        &[
            "is not the checkpoint's root",
            "entry 4 is the first whose hash differs",
        ],
    );
}

/// An entry edited in place after it was audited: the next incremental
/// audit fetches old entries again and proves them against the new
/// checkpoint (all of them here: fewer than the default sample), and
/// `--full` replays everything; a zero sample would not see it.
async fn an_old_entry_altered_after_its_audit_is_caught_by_the_next(app: TestApp) {
    populate(&app).await;
    let base = app.serve_http().await;
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("audit.json");
    let state_arg = state.to_str().expect("utf-8").to_owned();
    let (ok, out, err) = audit(&base, &["--state", &state_arg]).await;
    assert!(ok, "{err}");
    assert!(out.contains("verified up to size 21"), "{out}");
    dishonest(&app).await;
    app.raw_sql(&[alter_entry_5(&app)]).await;
    let copy = dir.path().join("copy.json");
    std::fs::copy(&state, &copy).expect("copy state");
    let copy_arg = copy.to_str().expect("utf-8").to_owned();
    let (ok, out, _) = audit(&base, &["--state", &copy_arg, "--recheck", "0"]).await;
    assert!(ok, "a zero sample re-checks nothing: {out}");
    assert!(out.contains("re-checked 0 of them"), "{out}");
    let result = audit(&base, &["--state", &state_arg]).await;
    assert_fails_with(&result, &["entry 5, audited before", "other bytes"]);
    let result = audit(&base, &["--state", &state_arg, "--full"]).await;
    assert_fails_with(&result, &["entry 5:"]);
}

/// An honest registry does not serve an entry altered behind its back:
/// the incremental audit names the entry it could not fetch again.
async fn an_honest_registry_refuses_to_serve_an_altered_old_entry(app: TestApp) {
    populate(&app).await;
    let base = app.serve_http().await;
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("audit.json");
    let state_arg = state.to_str().expect("utf-8").to_owned();
    assert!(audit(&base, &["--state", &state_arg]).await.0);
    drop_guards(&app).await;
    app.raw_sql(&[alter_entry_5(&app)]).await;
    let result = audit(&base, &["--state", &state_arg]).await;
    assert_fails_with(&result, &["entry 5 (audited before)", "does not serve it"]);
}

crate::both_backends!(
    an_old_entry_altered_after_its_audit_is_caught_by_the_next,
    an_honest_registry_refuses_to_serve_an_altered_old_entry,
    a_clean_log_passes_and_later_audits_check_growth,
    an_altered_byte_fails_the_audit,
    a_dropped_entry_fails_the_audit,
    reordered_entries_fail_the_audit,
    a_swapped_checkpoint_key_fails_the_audit,
    a_rewritten_entry_fails_the_audit,
);
