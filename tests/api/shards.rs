//! A registry split into three shards (`serve --read-only --shard i/3`),
//! each a real server over the primary's database: `consentry check
//! --shard-url` gets the answers a single node gives, and receipts that all
//! name one checkpoint and verify with `consentry verify-receipt`. Shards
//! answer at a named checkpoint, and refuse what they cannot answer.

use std::path::Path;

use consentry::cli::client::{Client, Refused, SignInAs};
use consentry::crypto::SecretKey;
use consentry::domain::ContentHash;
use consentry::index::Shard;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::replica::{level, log_size, register};

crate::both_backends_raw!(three_shards_answer_a_check_as_one_node);

fn write(path: &Path, bytes: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn hash_of(row: &Value) -> ContentHash {
    row["hash"].as_str().expect("hash").parse().expect("a hash")
}

/// Content whose hash is in shard `i` of 3.
fn content_in_shard(i: u32, tag: &str) -> String {
    (0..)
        .map(|n| format!("{tag}-{n}"))
        .find(|c| Shard::of(&ContentHash::of(c.as_bytes()), 3) == i)
        .expect("some content")
}

fn receipt_payload(path: &Path) -> Value {
    let env: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("receipt")).expect("json");
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().expect("payload"))
        .expect("base64");
    serde_json::from_slice(&payload).expect("payload json")
}

/// Waits until `server` answers checks at checkpoint `size` (its index
/// follows the database a moment after `/v1/log` shows it).
pub(crate) async fn serving(server: &Server, size: u64) {
    let c = Client::new(&server.base).expect("client");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let health = c.get_json("/healthz").await.expect("health");
        if health["checkpoint"]["size"] == json!(size) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} does not answer at {size}: {health}",
            server.base
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn refused(result: anyhow::Result<(u16, Value)>) -> (u16, String, String) {
    let err = result.expect_err("refused");
    let r = err.downcast_ref::<Refused>().expect("a problem answer");
    (r.status, r.slug.clone(), r.detail.clone())
}

/// Checks `data/` (exact matching, for train-ai, with `lab.key`) on
/// `whole` and across `shards` (URLs given in reverse order: the client
/// asks each node which shard it holds), both at checkpoint `size`:
/// asserts identical report rows and counts, and that each shard's receipt
/// names the one node's checkpoint, covers exactly that shard's hashes and
/// verifies against `primary`'s log with `consentry verify-receipt`.
/// Returns the one node's output and report rows.
pub(crate) async fn split_check_matches_one(
    d: &Path,
    whole: &Server,
    shards: &[Server],
    primary: &Server,
    size: u64,
    tag: &str,
) -> (String, Vec<Value>) {
    let check = |extra: Vec<String>, report: String| {
        let mut args: Vec<String> = [
            "check",
            "data",
            "--purpose",
            "train-ai",
            "--match",
            "exact",
            "--key",
            "lab.key",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend([
            "--report".to_owned(),
            format!("{report}.jsonl"),
            "--receipt".to_owned(),
            format!("{report}.receipt.json"),
        ]);
        args.extend(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        whole.cli(&args)
    };
    let one = ok(&check(Vec::new(), format!("{tag}-one")).await);
    let urls: Vec<String> = shards
        .iter()
        .rev()
        .flat_map(|s| ["--shard-url".to_owned(), s.base.clone()])
        .collect();
    let split = ok(&check(urls, format!("{tag}-split")).await);
    let one_rows = rows(&d.join(format!("{tag}-one.jsonl")));
    assert_eq!(
        rows(&d.join(format!("{tag}-split.jsonl"))),
        one_rows,
        "identical answers"
    );
    let summary = |out: &str| {
        out.lines()
            .find(|l| l.contains(" for train-ai"))
            .unwrap_or_else(|| panic!("a summary in {out}"))
            .to_owned()
    };
    assert_eq!(summary(&split), summary(&one));
    assert!(one.contains(&format!("checkpoint {size} of")), "{one}");
    assert!(
        split.contains(&format!("shards answered at checkpoint {size}")),
        "{split}"
    );
    let whole_receipt = receipt_payload(&d.join(format!("{tag}-one.receipt.json")));
    let vkey = primary.verifier_key().await;
    let n = u32::try_from(shards.len()).expect("a few shards");
    let mut counted = 0;
    for i in 0..n {
        let name = format!("{tag}-split.shard-{i}-of-{n}.receipt.json");
        let mine: Vec<&Value> = one_rows
            .iter()
            .filter(|r| Shard::of(&hash_of(r), n) == i)
            .collect();
        if mine.is_empty() {
            assert!(
                !d.join(&name).exists(),
                "a shard asked nothing signs nothing"
            );
            continue;
        }
        let payload = receipt_payload(&d.join(&name));
        assert_eq!(payload["checkpoint"], whole_receipt["checkpoint"], "{name}");
        assert_eq!(payload["hashes"]["count"], json!(mine.len()), "{name}");
        counted += mine.len();
        let answers = format!("{tag}-shard-{i}.jsonl");
        std::fs::write(
            d.join(&answers),
            mine.iter().map(|r| format!("{r}\n")).collect::<String>(),
        )
        .expect("write");
        ok(&whole
            .cli(&[
                "verify-receipt",
                &name,
                "--verifier-key",
                &vkey,
                "--answers",
                &answers,
                "--log",
                &primary.base,
            ])
            .await);
    }
    assert_eq!(counted, one_rows.len());
    (one, one_rows)
}

async fn three_shards_answer_a_check_as_one_node(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (url, _location) = server_database(backend, d).await;
    let primary = Server::start_with_admin(d, &url, &[]).await;
    let replica = ["--read-only", "--follow-every", "50ms"];
    let whole = Server::start_with(d, &url, &replica).await;
    let mut shards = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let mut args = replica.to_vec();
        args.extend(["--shard", &shard]);
        shards.push(Server::start_with(d, &url, &args).await);
    }

    // Ana opts 15 works out and 15 in; Bo claims 3 of her opt-in works
    // (disputes); 10 works nobody registered.
    for i in 0..15 {
        write(&d.join(format!("data/out/{i}.png")), &format!("out-{i}"));
        write(&d.join(format!("data/in/{i}.png")), &format!("in-{i}"));
    }
    for i in 0..3 {
        write(&d.join(format!("bo/{i}.png")), &format!("in-{i}"));
    }
    for i in 0..10 {
        write(&d.join(format!("data/new/{i}.png")), &format!("new-{i}"));
    }
    ok(&primary.cli(&["keygen", "--out", "ana.key"]).await);
    ok(&primary.cli(&["keygen", "--out", "bo.key"]).await);
    ok(&primary
        .cli(&["artist", "create", "--key", "ana.key", "--name", "Ana"])
        .await);
    ok(&primary
        .cli(&["artist", "create", "--key", "bo.key", "--name", "Bo"])
        .await);
    ok(&register(&primary, "data/out", "opt-out").await);
    ok(&register(&primary, "data/in", "opt-in").await);
    ok(&primary
        .cli(&["register", "bo", "--key", "bo.key", "--consent", "opt-out"])
        .await);
    let lab = primary.create_lab().await;
    let size = level(&primary, &whole).await;
    serving(&whole, size).await;
    for s in &shards {
        assert_eq!(level(&primary, s).await, size);
        serving(s, size).await;
    }

    // The same check on one node and across the three shards.
    let (one, one_rows) = split_check_matches_one(d, &whole, &shards, &primary, size, "a").await;
    assert_eq!(one_rows.len(), 40);
    // Bo's opt-out of three of Ana's opt-in works wins for those.
    assert!(
        one.contains("12 allowed, 18 disallowed, 10 unknown"),
        "{one}"
    );
    let disputed = one_rows.iter().filter(|r| r["disputed"] == true).count();
    assert_eq!(disputed, 3);

    // Shards answer at a named checkpoint: a later opt-out in shard 0 is
    // unknown at the old size and disallowed at the new one.
    let late = content_in_shard(0, "late");
    write(&d.join("late/a.png"), &late);
    ok(&register(&primary, "late", "opt-out").await);
    let now = level(&primary, &shards[0]).await;
    assert!(now > size);
    serving(&shards[0], now).await;
    let key = SecretKey::load(&d.join("lab.key")).expect("lab key");
    let mut c0 = Client::new(&shards[0].base).expect("client");
    c0.sign_in(&key, SignInAs::Builder).await.expect("sign in");
    let late_hash = ContentHash::of(late.as_bytes()).to_string();
    for (at, status) in [
        (Some(size), "unknown"),
        (Some(now), "disallowed"),
        (None, "disallowed"),
    ] {
        let mut body = json!({"purpose": "train-ai", "hashes": [late_hash]});
        if let Some(at) = at {
            body["checkpoint"] = json!(at);
        }
        let (code, v) = c0.post("/v1/check", &body).await.expect("check");
        assert_eq!(code, 200);
        assert_eq!(v["results"][0]["status"], status, "at {at:?}");
        assert_eq!(v["checkpoint"]["size"], json!(at.unwrap_or(now)));
    }
    let (status, slug, detail) = refused(
        c0.post(
            "/v1/check",
            &json!({"purpose": "train-ai", "hashes": [late_hash], "checkpoint": now + 1000}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, slug.as_str()),
        (409, "checkpoint-not-held"),
        "{detail}"
    );

    // A shard refuses what it does not hold, naming the shard that does.
    let elsewhere = ContentHash::of(content_in_shard(2, "x").as_bytes()).to_string();
    let (status, slug, detail) = refused(
        c0.post(
            "/v1/check",
            &json!({"purpose": "train-ai", "hashes": [late_hash, elsewhere]}),
        )
        .await,
    )
    .await;
    assert_eq!((status, slug.as_str()), (421, "outside-shard"));
    assert!(
        detail.contains("hashes[1]") && detail.contains("in shard 2/3"),
        "{detail}"
    );
    let (status, slug, _) = refused(
        c0.post(
            "/v1/check",
            &json!({"purpose": "train-ai", "hashes": [late_hash], "match": "near"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, slug.as_str()), (421, "outside-shard"));
    for path in ["/v1/stats/uploads", "/v1/near?codes=ISCC:EEA4GQZQTY6J5DTH"] {
        let resp = reqwest::get(format!("{}{path}", shards[0].base))
            .await
            .expect("get");
        assert_eq!(resp.status().as_u16(), 421, "{path}");
    }
    let health = c0.get_json("/healthz").await.expect("health");
    assert_eq!(health["shard"], json!({"index": 0, "count": 3}));
    assert_eq!(health["role"], "replica");
    assert_eq!(log_size(&shards[0].base).await, now);

    // The client refuses a set of shards that is not a whole registry, and
    // near matching across shards.
    let out = whole
        .cli(&[
            "check",
            "data",
            "--purpose",
            "train-ai",
            "--match",
            "exact",
            "--key",
            "lab.key",
            "--shard-url",
            &shards[0].base,
            "--shard-url",
            &shards[1].base,
        ])
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no URL given holds 2/3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = whole
        .cli(&[
            "check",
            "data",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--shard-url",
            &shards[0].base,
        ])
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exact hashes only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(lab);
}
