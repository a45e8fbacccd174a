//! Load benchmark: the release server binary on loopback under the mixed
//! traffic of `tests/api/loadgen.rs` (registrations of 10 statements,
//! work lookups, 10,000-hash checks, inclusion proofs, and `GET /healthz` as
//! the floor in the same loop) at fixed rates, on each backend. Prints
//! throughput, p50/p99 per kind (and as a ratio to the floor's) and status
//! counts; asserts nothing. See docs/performance.md.
//!
//! Environment: `BENCH_BACKENDS` (sqlite,postgres), `BENCH_RATES`
//! (100,300: requests per second), `BENCH_SECS` (30),
//! `CONSENTRY_TEST_POSTGRES_URL`.

use std::io::BufRead;

use consentry::crypto::SecretKey;

#[path = "../tests/api/loadgen.rs"]
mod loadgen;

fn env_str(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn postgres_url() -> String {
    env_str(
        "CONSENTRY_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(
    dir: &std::path::Path,
    database_url: &str,
    admin: &SecretKey,
) -> anyhow::Result<(Server, String)> {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .arg("--key-file")
        .arg(dir.join("registry.key"))
        .args(["--admin-key", &admin.public_key().to_string()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let server = Server(child);
    for line in std::io::BufReader::new(stdout).lines() {
        if let Some(addr) = line?.strip_prefix("listening on ") {
            return Ok((server, addr.to_owned()));
        }
    }
    anyhow::bail!("the server exited before listening")
}

async fn bench(backend: &str, rates: &[u32], secs: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let schema = format!("bench_load_{}", std::process::id());
    let url = if backend == "sqlite" {
        format!("sqlite://{}", dir.path().join("load.db").display())
    } else {
        let pool = sqlx::PgPool::connect(&postgres_url()).await?;
        sqlx::query(&format!("drop schema if exists \"{schema}\" cascade"))
            .execute(&pool)
            .await?;
        sqlx::query(&format!("create schema \"{schema}\""))
            .execute(&pool)
            .await?;
        pool.close().await;
        format!("{}?options=-c%20search_path%3D{schema}", postgres_url())
    };
    let admin = SecretKey::generate();
    let (server, base) = start(dir.path(), &url, &admin)?;
    let setup = loadgen::setup(&base, &admin, 8, 12_500).await?;
    println!(
        "\n== load: {backend}, release binary, {} registered works, {} artist tokens ==",
        setup.works.len(),
        setup.artists.len()
    );
    for &rate in rates {
        println!("-- {rate} requests/s for {secs} s");
        loadgen::run(&base, &setup, rate, secs).await.print();
    }
    drop(server);
    if backend != "sqlite" {
        let pool = sqlx::PgPool::connect(&postgres_url()).await?;
        sqlx::query(&format!("drop schema if exists \"{schema}\" cascade"))
            .execute(&pool)
            .await?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    let secs: u64 = env_str("BENCH_SECS", "30").parse()?;
    let rates: Vec<u32> = env_str("BENCH_RATES", "100,300")
        .split(',')
        .map(|r| r.trim().parse())
        .collect::<Result<_, _>>()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for backend in env_str("BENCH_BACKENDS", "sqlite,postgres").split(',') {
        rt.block_on(bench(backend.trim(), &rates, secs))?;
    }
    Ok(())
}
