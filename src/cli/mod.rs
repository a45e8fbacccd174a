//! The `consentry` command line: the server and an artist's client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::crypto::PublicKey;

mod artist;
mod audit;
pub mod check;
pub mod client;
pub mod dataset;
mod export;
mod fingerprint;
mod keys;
pub mod log_vectors;
mod payout;
pub mod payout_vectors;
pub mod progress;
mod receipt;
pub mod receipt_vectors;
mod register;
mod shards;
mod stats;
mod vectors;

/// Consentry: an open registry of artist-signed AI-training consent.
#[derive(Debug, Parser)]
#[command(name = "consentry", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Create an Ed25519 key pair in a new file (mode 0600); prints the public key only.
    Keygen {
        /// Where to write the private key (PKCS#8 PEM). Never overwritten.
        #[arg(long, short, default_value = "consentry-artist.key")]
        out: PathBuf,
    },
    /// Artist account commands.
    #[command(subcommand)]
    Artist(artist::ArtistCommand),
    /// Add, rotate or revoke your keys.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Dataset builder accounts (admin).
    #[command(subcommand)]
    Builder(keys::BuilderCommand),
    /// Hash files locally and register signed consent statements for them.
    Register(register::RegisterArgs),
    /// Show the effective consent of a work, by hash or by file.
    Status(artist::StatusArgs),
    /// Verify a registry's whole transparency log: checkpoint signature,
    /// every document's signatures, key rules, Merkle root, and (with
    /// --state) consistency with the last audit. Exit code 0 only if all holds.
    Audit(audit::AuditArgs),
    /// Verify a receipt (C2SP tlog-proof) offline: checkpoint signature,
    /// inclusion of the entry, and the entry's own signatures.
    VerifyProof(audit::VerifyProofArgs),
    /// Hash a dataset (folder, manifest or webdataset shards) and check every
    /// work's consent for a purpose in one stream; keep the signed receipt,
    /// write a report. Exit code 3 with --fail-on when a listed status occurs.
    Check(check::CheckArgs),
    /// `check`, then write the allowed subset: a manifest, or new webdataset
    /// shards holding only allowed samples (all their members).
    Filter(check::FilterArgs),
    /// Print the ISCC Image-Code of image files (what `check` sends for
    /// near matching; `--views`: every code `register` signs).
    Fingerprint(fingerprint::FingerprintArgs),
    /// Upload-trend statistics (spec/stats.md) from any upload history: a CSV
    /// of artist,timestamp rows or gallery-dl metadata; JSON, CSV, SVG chart.
    Stats(stats::StatsArgs),
    /// A work's consent in other vocabularies (aipref Content-Usage, CAWG,
    /// IPTC, TDMRep), and a site's tdmrep.json and robots.txt block.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Sign the registry's answer for a work into the image itself: a C2PA
    /// manifest holding the CAWG training-and-data-mining assertion.
    Embed(export::EmbedArgs),
    /// Verify a check receipt: signature and checkpoint offline, the hash
    /// list and answers against its digests, and with --log the answers
    /// recomputed from the log itself.
    VerifyReceipt(receipt::VerifyReceiptArgs),
    /// Payouts of training runs: report a run (builders) and verify a
    /// payout statement against the log (anyone).
    #[command(subcommand)]
    Payout(payout::PayoutCommand),
    /// Regenerate spec/vectors/statements.json, log.json, receipts.json and payouts.json (deterministic).
    #[command(hide = true)]
    Vectors {
        #[arg(long, default_value = "spec/vectors/statements.json")]
        out: PathBuf,
        #[arg(long, default_value = "spec/vectors/log.json")]
        log_out: PathBuf,
        #[arg(long, default_value = "spec/vectors/receipts.json")]
        receipts_out: PathBuf,
        #[arg(long, default_value = "spec/vectors/payouts.json")]
        payouts_out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CONSENTRY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "CONSENTRY_DATABASE_URL",
        default_value = "sqlite://consentry.db"
    )]
    pub database_url: String,
    /// The registry's Ed25519 signing key (PKCS#8 PEM); created with mode 0600 on first start.
    #[arg(
        long,
        env = "CONSENTRY_KEY_FILE",
        default_value = "consentry-registry.key"
    )]
    pub key_file: PathBuf,
    /// Public key (`ed25519:<hex>`) whose holder may log in as admin and register builders.
    #[arg(long, env = "CONSENTRY_ADMIN_KEY")]
    pub admin_key: Option<PublicKey>,
    /// The `iss` of tokens this registry signs.
    #[arg(long, env = "CONSENTRY_ISSUER", default_value = "consentry")]
    pub issuer: String,
    /// The transparency log's origin (first checkpoint line and signing key
    /// name): a schema-less URL naming this log, e.g. `registry.example.org/log`.
    #[arg(
        long,
        env = "CONSENTRY_LOG_ORIGIN",
        default_value = "consentry.local/log"
    )]
    pub log_origin: String,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    pub log_json: bool,
    /// Authenticated requests per second per token, sustained (0: no limit);
    /// beyond it, 429 with Retry-After.
    #[arg(long, env = "CONSENTRY_RATE_LIMIT", default_value_t = 200.0)]
    pub rate_limit: f64,
    /// Requests a token may make at once before the rate limit applies.
    #[arg(long, env = "CONSENTRY_RATE_BURST", default_value_t = 400.0)]
    pub rate_burst: f64,
    /// Check streams open at once per builder.
    #[arg(long, env = "CONSENTRY_STREAMS_PER_BUILDER", default_value_t = 4)]
    pub streams_per_builder: usize,
    /// Check streams open at once in all.
    #[arg(long, env = "CONSENTRY_STREAMS_TOTAL", default_value_t = 32)]
    pub streams_total: usize,
    /// Bytes per second a check stream's body must average over each
    /// --stream-window, or the stream is ended with a `too-slow` error line (0: no minimum).
    #[arg(long, env = "CONSENTRY_STREAM_MIN_RATE", default_value_t = 1024)]
    pub stream_min_rate: u64,
    /// The window over which --stream-min-rate is measured.
    #[arg(long, env = "CONSENTRY_STREAM_WINDOW", default_value = "10s", value_parser = parse_duration)]
    pub stream_window: Duration,
    /// Time a request's header may take to arrive, counted from when the
    /// connection is ready for it; also how long an idle keep-alive connection stays open.
    #[arg(long, env = "CONSENTRY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Time a connection may stay silent (no byte either way) while none of
    /// its requests is being handled; then it is closed.
    #[arg(long, env = "CONSENTRY_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Connections open at once; beyond, a new connection gets 503 `busy` and
    /// is closed. Keep it well below the process's file-descriptor limit.
    #[arg(long, env = "CONSENTRY_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
    /// Time in-flight requests get to finish after SIGTERM or SIGINT; then
    /// the remaining connections are closed and the process exits.
    #[arg(long, env = "CONSENTRY_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// MiB of memory that request bodies in flight may hold, across all
    /// requests; a body that cannot get it is answered 503 `busy` with Retry-After.
    #[arg(long, env = "CONSENTRY_BODY_MEMORY_MIB", default_value_t = 256)]
    pub body_memory_mib: usize,
    /// Serve as a read-only replica of the database at --database-url (a
    /// PostgreSQL hot standby, or a SQLite file the primary writes): every
    /// read, checks and receipts included; writes are refused (421
    /// `read-only`) and pointed at --primary. Needs the primary's
    /// --key-file and --log-origin.
    #[arg(long, env = "CONSENTRY_READ_ONLY")]
    pub read_only: bool,
    /// The primary's base URL, named to clients whose writes a replica
    /// refuses.
    #[arg(long, env = "CONSENTRY_PRIMARY", requires = "read_only")]
    pub primary: Option<String>,
    /// How often a replica looks for new checkpoints in its database.
    #[arg(long, env = "CONSENTRY_FOLLOW_EVERY", default_value = "250ms", value_parser = parse_duration)]
    pub follow_every: Duration,
    /// Hold and check only shard I of N of the works (`I/N`, e.g. `0/3`:
    /// the hashes whose first 8 bytes, big-endian, times N, divided by
    /// 2^64, give I). A replica only; `consentry check --shard-url`
    /// splits a check across the shards (docs/scaling.md).
    #[arg(long, env = "CONSENTRY_SHARD", requires = "read_only", value_parser = parse_shard)]
    pub shard: Option<crate::index::Shard>,
}

fn parse_shard(s: &str) -> Result<crate::index::Shard, String> {
    s.parse()
}

/// A duration: a number with `ms`, `s`, `m` or `h` (plain numbers are seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 10s, 500ms or 2m"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown unit `{other}`; use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{text}`: {e}"))
}

/// Options shared by commands that talk to a registry.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// The registry's base URL.
    #[arg(long, env = "CONSENTRY_URL", default_value = "http://127.0.0.1:8080")]
    pub registry: String,
}

/// `n` and the noun in the right number: "1 work", "2 works", "0 works".
#[must_use]
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs the command line.
///
/// # Errors
/// Whatever the chosen command reports; `main` prints it and exits 1.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_json);
            crate::server::run(crate::server::ServerConfig {
                listen: args.listen,
                database_url: args.database_url,
                key_file: args.key_file,
                admin_key: args.admin_key,
                issuer: args.issuer,
                log_origin: args.log_origin,
                limits: crate::http::limits::LimitConfig {
                    rate_per_sec: args.rate_limit,
                    burst: args.rate_burst.max(1.0),
                    streams_per_builder: args.streams_per_builder,
                    streams_total: args.streams_total,
                    stream_min_rate: args.stream_min_rate,
                    stream_window: args.stream_window,
                    body_memory: args.body_memory_mib.saturating_mul(1024 * 1024),
                },
                connections: crate::server::ConnConfig {
                    header_timeout: args.header_timeout,
                    idle_timeout: args.idle_timeout,
                    max_connections: args.max_connections.max(1),
                    shutdown_timeout: args.shutdown_timeout,
                },
                replica: args.read_only.then(|| crate::server::Replica {
                    primary: args.primary,
                    follow_every: args.follow_every.max(Duration::from_millis(10)),
                    shard: args.shard,
                }),
            })
            .await
        }
        Command::Keygen { out } => {
            let key = crate::crypto::SecretKey::generate();
            key.write_new_file(&out)?;
            println!("{}", key.public_key());
            eprintln!(
                "private key written to {} (mode 0600); keep it safe",
                out.display()
            );
            Ok(())
        }
        Command::Artist(cmd) => artist::run(cmd).await,
        Command::Key(cmd) => keys::run_key(cmd).await,
        Command::Builder(cmd) => keys::run_builder(cmd).await,
        Command::Register(args) => register::run(args).await,
        Command::Status(args) => artist::status(args).await,
        Command::Audit(args) => audit::audit(args).await,
        Command::VerifyProof(args) => audit::verify_proof(&args),
        Command::Check(args) => check::check(args).await,
        Command::Filter(args) => check::filter(args).await,
        Command::Export(cmd) => export::run(cmd).await,
        Command::Embed(args) => export::embed(args).await,
        Command::VerifyReceipt(args) => receipt::verify_receipt(args).await,
        Command::Payout(cmd) => payout::run(cmd).await,
        Command::Stats(args) => stats::run(&args),
        Command::Fingerprint(args) => fingerprint::run(&args),
        Command::Vectors {
            out,
            log_out,
            receipts_out,
            payouts_out,
        } => {
            vectors::write(&out)?;
            log_vectors::write(&log_out)?;
            receipt_vectors::write(&receipts_out)?;
            payout_vectors::write(&payouts_out)
        }
    }
}
