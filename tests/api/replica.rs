//! A read-only replica (`serve --read-only`) on a real PostgreSQL hot
//! standby: the test starts a PostgreSQL cluster of its own, a streaming
//! standby of it made with `pg_basebackup` on another port, the registry
//! on the first and a replica on the second. Reads on the replica match the
//! primary's after writes, checks there give receipts that verify against
//! the primary's log, writes are refused and pointed at the primary; with
//! the standby's replay paused the replica keeps answering at the
//! checkpoint it holds, and catches up when replay resumes; a restarted
//! replica serves the same. The same replica on SQLite reads the primary's
//! file beside it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use consentry::cli::client::Client;
use consentry::crypto::SecretKey;
use serde_json::Value;

use crate::helpers::*;

/// The newest PostgreSQL server binaries on this machine.
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries (/usr/lib/postgresql): the replica test runs a cluster of its own")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("pg_ctl").exists() && d.join("pg_basebackup").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("pg_ctl and pg_basebackup")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL program, to run as user `postgres` when we are root (the
/// server refuses to run as root).
fn pg_command(program: &str) -> Command {
    let bin = pg_bin().join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

/// Runs a PostgreSQL program ([`pg_command`]); it must succeed.
fn pg(program: &str, args: &[&str]) {
    let out = pg_command(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A primary cluster and its streaming standby, stopped and removed on drop.
struct Standby {
    _base: tempfile::TempDir,
    primary_dir: PathBuf,
    standby_dir: PathBuf,
    primary_port: u16,
    standby_port: u16,
}

impl Standby {
    fn start() -> Standby {
        let base = tempfile::tempdir().expect("tmp");
        // The clusters belong to `postgres`, which must reach them.
        let mut perms = std::fs::metadata(base.path()).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
        std::fs::set_permissions(base.path(), perms).expect("chmod");
        let primary_dir = base.path().join("primary");
        let standby_dir = base.path().join("standby");
        let (primary_port, standby_port) = (free_port(), free_port());
        // Built first, so that a failure below still stops what started.
        let standby = Standby {
            _base: base,
            primary_dir: primary_dir.clone(),
            standby_dir: standby_dir.clone(),
            primary_port,
            standby_port,
        };
        let p = primary_dir.to_str().expect("path");
        pg(
            "initdb",
            &[
                "-D",
                p,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "--no-instructions",
            ],
        );
        let conf = |dir: &Path, port: u16| {
            format!(
                "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n",
                dir.display()
            )
        };
        append(
            &primary_dir.join("postgresql.conf"),
            &conf(&primary_dir, primary_port),
        );
        pg(
            "pg_ctl",
            &["-D", p, "-l", &format!("{p}/server.log"), "-w", "start"],
        );
        let s = standby_dir.to_str().expect("path");
        pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                s,
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        append(
            &standby_dir.join("postgresql.conf"),
            &conf(&standby_dir, standby_port),
        );
        pg(
            "pg_ctl",
            &["-D", s, "-l", &format!("{s}/server.log"), "-w", "start"],
        );
        standby
    }

    fn primary_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.primary_port
        )
    }

    fn standby_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.standby_port
        )
    }

    /// Runs SQL on the standby.
    fn standby_sql(&self, sql: &str) {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.standby_port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-Atc", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("conf")
        .write_all(text.as_bytes())
        .expect("write");
}

impl Drop for Standby {
    fn drop(&mut self) {
        for dir in [&self.standby_dir, &self.primary_dir] {
            let d = dir.to_str().unwrap_or_default();
            let _ = pg_command("pg_ctl")
                .args(["-D", d, "-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

pub(crate) async fn log_size(base: &str) -> u64 {
    Client::new(base)
        .expect("client")
        .get_json("/v1/log")
        .await
        .expect("log")["checkpoint"]["size"]
        .as_u64()
        .expect("size")
}

/// Waits until the replica answers at the primary's checkpoint.
pub(crate) async fn level(primary: &Server, replica: &Server) -> u64 {
    let want = log_size(&primary.base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if log_size(&replica.base).await == want {
            return want;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not reach size {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What both must answer alike: the log, every work, the artist.
async fn reads(base: &str, hashes: &[String], artist: &str) -> Vec<Value> {
    let c = Client::new(base).expect("client");
    let mut out = vec![c.get_json("/v1/log").await.expect("log")];
    for h in hashes {
        out.push(c.get_json(&format!("/v1/works/{h}")).await.expect("work"));
    }
    out.push(
        c.get_json(&format!("/v1/artists/{artist}"))
            .await
            .expect("artist"),
    );
    out
}

fn report_statuses(dir: &Path, name: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join(name))
        .expect("report")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (
                v["label"].as_str().expect("label").to_owned(),
                v["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

async fn check_and_verify(server: &Server, primary: &Server, report: &str) -> String {
    let receipt = format!("{report}.receipt.json");
    let out = ok(&server
        .cli(&[
            "check",
            "data",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--report",
            report,
            "--receipt",
            &receipt,
        ])
        .await);
    let vkey = primary.verifier_key().await;
    // Verified against the primary's log, whoever answered.
    ok(&server
        .cli(&[
            "verify-receipt",
            &receipt,
            "--verifier-key",
            &vkey,
            "--answers",
            report,
            "--log",
            &primary.base,
        ])
        .await);
    out
}

/// Checks on `replica` until they answer at checkpoint `size` (the
/// database may be level before the replica has followed it); returns the
/// last check's output.
async fn checks_at(replica: &Server, primary: &Server, size: u64, report: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = check_and_verify(replica, primary, report).await;
        if out.contains(&format!("checkpoint {size} of")) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "checks did not reach size {size}: {out}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn register(server: &Server, file: &str, consent: &str) -> std::process::Output {
    server
        .cli(&["register", file, "--key", "ana.key", "--consent", consent])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_on_a_postgres_standby_follows_the_primary() {
    let cluster = tokio::task::spawn_blocking(Standby::start)
        .await
        .expect("cluster");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let admin = SecretKey::generate();
    admin
        .write_new_file(&d.join("admin.key"))
        .expect("admin key");
    let admin_arg = admin.public_key().to_string();
    let primary = Server::start_with(d, &cluster.primary_url(), &["--admin-key", &admin_arg]).await;
    let replica_args = |primary: &Server| {
        vec![
            "--read-only".to_owned(),
            "--primary".to_owned(),
            primary.base.clone(),
            "--follow-every".to_owned(),
            "50ms".to_owned(),
        ]
    };
    let args = replica_args(&primary);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut replica = Server::start_with(d, &cluster.standby_url(), &args).await;
    assert_eq!(replica.public_key, primary.public_key, "one registry key");

    std::fs::create_dir_all(d.join("data")).expect("mkdir");
    for (name, bytes) in [
        ("a.png", "aaa"),
        ("b.png", "bbb"),
        ("c.png", "ccc"),
        ("d.png", "ddd"),
    ] {
        std::fs::write(d.join("data").join(name), bytes).expect("write");
    }
    ok(&primary.cli(&["keygen", "--out", "ana.key"]).await);
    let ana = ok(&primary
        .cli(&["artist", "create", "--key", "ana.key", "--name", "Ana"])
        .await);
    let artist = ana
        .lines()
        .find_map(|l| l.strip_prefix("registered artist "))
        .unwrap_or_else(|| panic!("artist id in {ana}"))
        .trim()
        .to_owned();
    ok(&register(&primary, "data/a.png", "opt-out").await);
    ok(&register(&primary, "data/b.png", "opt-out").await);
    ok(&register(&primary, "data/c.png", "opt-in").await);
    primary.create_lab().await;
    let hashes: Vec<String> = ["aaa", "bbb", "ccc"]
        .iter()
        .map(|b| consentry::domain::ContentHash::of(b.as_bytes()).to_string())
        .collect();

    // Level: every read alike, and checks alike with receipts that verify.
    let size = level(&primary, &replica).await;
    assert_eq!(
        reads(&replica.base, &hashes, &artist).await,
        reads(&primary.base, &hashes, &artist).await
    );
    let on_primary = check_and_verify(&primary, &primary, "p.jsonl").await;
    let on_replica = checks_at(&replica, &primary, size, "r.jsonl").await;
    assert_eq!(
        on_primary.replace("p.jsonl", "report"),
        on_replica.replace("r.jsonl", "report")
    );
    assert_eq!(report_statuses(d, "p.jsonl"), report_statuses(d, "r.jsonl"));
    assert_eq!(
        report_statuses(d, "r.jsonl"),
        [
            ("a.png".to_owned(), "disallowed".to_owned()),
            ("b.png".to_owned(), "disallowed".to_owned()),
            ("c.png".to_owned(), "allowed".to_owned()),
            ("d.png".to_owned(), "unknown".to_owned())
        ]
    );

    // Writes are refused, and pointed at the primary.
    let out = register(&replica, "data/d.png", "opt-out").await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("read-only replica") && err.contains(&primary.base),
        "{err}"
    );
    assert_eq!(log_size(&primary.base).await, size, "nothing was written");

    // Replay paused: the standby lags; the replica answers at the
    // checkpoint it holds, and its receipts still verify.
    cluster.standby_sql("select pg_wal_replay_pause()");
    ok(&register(&primary, "data/d.png", "opt-out").await);
    assert_eq!(log_size(&primary.base).await, size + 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        log_size(&replica.base).await,
        size,
        "the replica holds its checkpoint"
    );
    check_and_verify(&replica, &primary, "lag.jsonl").await;
    assert_eq!(
        report_statuses(d, "lag.jsonl")[3].1,
        "unknown",
        "d is not there yet"
    );
    cluster.standby_sql("select pg_wal_replay_resume()");
    let size = level(&primary, &replica).await;
    checks_at(&replica, &primary, size, "after.jsonl").await;
    assert_eq!(report_statuses(d, "after.jsonl")[3].1, "disallowed");

    // A restarted replica serves the same.
    replica.kill9();
    let args = replica_args(&primary);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    replica = Server::start_with(d, &cluster.standby_url(), &args).await;
    let size = level(&primary, &replica).await;
    checks_at(&replica, &primary, size, "restarted.jsonl").await;
    let mut all = hashes.clone();
    all.push(consentry::domain::ContentHash::of(b"ddd").to_string());
    assert_eq!(
        reads(&replica.base, &all, &artist).await,
        reads(&primary.base, &all, &artist).await
    );

    // Three shards on the standby answer a check as the replica does.
    let mut shards = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let mut args = args.clone();
        args.extend(["--shard", &shard]);
        let s = Server::start_with(d, &cluster.standby_url(), &args).await;
        level(&primary, &s).await;
        shards.push(s);
    }
    for s in &shards {
        crate::shards::serving(s, size).await;
    }
    crate::shards::serving(&replica, size).await;
    let (_, rows) =
        crate::shards::split_check_matches_one(d, &replica, &shards, &primary, size, "standby")
            .await;
    assert_eq!(rows.len(), 4);
}

crate::both_backends_raw!(a_replica_refuses_writes_and_follows);

/// On either backend, a replica beside the primary's database (the SQLite
/// file itself; a second connection to the PostgreSQL schema) follows it
/// and refuses writes.
async fn a_replica_refuses_writes_and_follows(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (url, _location) = server_database(backend, d).await;
    let primary = Server::start(d, &url).await;
    let replica = Server::start_with(d, &url, &["--read-only", "--follow-every", "50ms"]).await;
    std::fs::create_dir_all(d.join("data")).expect("mkdir");
    std::fs::write(d.join("data/a.png"), "aaa").expect("write");
    ok(&primary.cli(&["keygen", "--out", "ana.key"]).await);
    ok(&primary
        .cli(&["artist", "create", "--key", "ana.key", "--name", "Ana"])
        .await);
    ok(&register(&primary, "data/a.png", "opt-out").await);
    level(&primary, &replica).await;
    let h = consentry::domain::ContentHash::of(b"aaa").to_string();
    let c = Client::new(&replica.base).expect("client");
    let work = c.get_json(&format!("/v1/works/{h}")).await.expect("work");
    assert_eq!(
        work,
        Client::new(&primary.base)
            .expect("client")
            .get_json(&format!("/v1/works/{h}"))
            .await
            .expect("work")
    );
    let err = Client::new(&replica.base)
        .expect("client")
        .post("/v1/statements", &serde_json::json!([]))
        .await
        .expect_err("refused");
    assert!(
        format!("{err:#}").contains("read-only replica; send writes to the primary"),
        "{err:#}"
    );
}
