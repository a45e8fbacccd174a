//! `consentry export` and `consentry embed`: the registry's answer for a
//! work in other vocabularies (aipref `Content-Usage`, TDMRep, IPTC, the
//! CAWG assertion), a site's `tdmrep.json` and `robots.txt` block, and the
//! CAWG assertion signed into the file itself as a C2PA manifest.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::client::Client;
use super::dataset::{self, Source};
use super::RegistryArgs;
use crate::domain::signals::CAWG_LABEL;
use crate::domain::ContentHash;

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// One work's consent in another vocabulary (by hash or by file).
    Work(WorkArgs),
    /// A site's TDMRep `tdmrep.json` and aipref `robots.txt` block: every
    /// file under a folder that is a registered work, at its path on the
    /// site.
    Site(SiteArgs),
}

/// The vocabularies `export work` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Every form, as the registry's JSON.
    Json,
    /// The aipref `Content-Usage` value (`train-ai=n, search=y`).
    ContentUsage,
    /// The CAWG `cawg.training-mining` assertion (c2patool's manifest
    /// definition form: `{"label": …, "data": …}`).
    Cawg,
    /// The IPTC `plus:DataMining` value (a PLUS vocabulary URI).
    Iptc,
    /// The TDMRep `tdm-reservation` (`0` or `1`).
    Tdmrep,
}

#[derive(Debug, Args)]
pub struct WorkArgs {
    /// A content hash (`blake3:…`) or a file to hash.
    pub target: String,
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct SiteArgs {
    /// The folder the site is served from (every file under it is looked up).
    pub folder: PathBuf,
    /// The URL path the folder is served at.
    #[arg(long, default_value = "/")]
    pub base: String,
    /// Where to write `tdmrep.json` and `robots-content-usage.txt`.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// The image to embed the registry's answer in (JPEG, PNG, WebP, GIF or TIFF).
    pub file: PathBuf,
    /// Where to write the signed copy (never the input itself); with
    /// `--sidecar`, the manifest store (`<name>.c2pa` beside the image is
    /// where `check` looks for it).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the manifest store to `--out` instead of into a copy of the
    /// image: the image's bytes, and so its registered hash, stay as they are.
    #[arg(long)]
    pub sidecar: bool,
    /// The signer's X.509 certificate chain (PEM, the signing certificate
    /// first). C2PA signatures need one; the registry does not issue them.
    #[arg(long)]
    pub cert: PathBuf,
    /// The certificate's private key (PKCS#8 PEM; an Ed25519 key, such as a
    /// `consentry keygen` file, or ES256/ES384/PS256 with `--alg`).
    #[arg(long)]
    pub key: PathBuf,
    /// The signature algorithm of the key.
    #[arg(long, value_enum, default_value = "ed25519")]
    pub alg: Alg,
    /// The work whose answer to embed, when not the file's own hash (e.g. the
    /// registered original of a re-encoded copy).
    #[arg(long)]
    pub work: Option<ContentHash>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Alg {
    Ed25519,
    Es256,
    Es384,
    Ps256,
}

fn hash_of(target: &str) -> anyhow::Result<ContentHash> {
    if let Ok(h) = target.parse::<ContentHash>() {
        return Ok(h);
    }
    let path = Path::new(target);
    if !path.is_file() {
        bail!("{target} is neither a content hash nor a readable file");
    }
    super::register::hash_file(path)
}

/// The registry's exports of `hash`, `None` when no statement names it.
async fn exports(client: &Client, hash: &ContentHash) -> anyhow::Result<Option<Value>> {
    client
        .get_optional(&format!("/v1/works/{hash}/exports"))
        .await
}

pub async fn run(cmd: ExportCommand) -> anyhow::Result<()> {
    match cmd {
        ExportCommand::Work(args) => work(args).await,
        ExportCommand::Site(args) => site(args).await,
    }
}

async fn work(args: WorkArgs) -> anyhow::Result<()> {
    let hash = hash_of(&args.target)?;
    let client = Client::new(&args.registry.registry)?;
    let Some(e) = exports(&client, &hash).await? else {
        bail!("{hash} is not registered: the registry has no answer to export");
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&e)?,
        Format::Cawg => serde_json::to_string_pretty(&e["cawg_assertion"])?,
        Format::ContentUsage => e["content_usage"]
            .as_str()
            .context("the work's consent names no category aipref has")?
            .to_owned(),
        Format::Iptc => e["iptc_data_mining"]
            .as_str()
            .context("no IPTC value")?
            .to_owned(),
        Format::Tdmrep => e["tdmrep"]["tdm-reservation"]
            .as_u64()
            .context("the work's consent says nothing TDMRep can express")?
            .to_string(),
    };
    println!("{text}");
    Ok(())
}

/// The URL path of `label` under `base`, each byte outside RFC 3986's
/// unreserved set (and `/`) percent-encoded, so a name holding a space,
/// `*`, `$` or `#` is itself and not a pattern.
fn site_path(base: &str, label: &str) -> String {
    let base = base.trim_end_matches('/');
    let mut out = String::with_capacity(base.len() + label.len() + 1);
    for b in base
        .bytes()
        .chain(std::iter::once(b'/'))
        .chain(label.bytes())
    {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn site(args: SiteArgs) -> anyhow::Result<()> {
    if !args.base.starts_with('/') {
        bail!("--base is a URL path starting with /, not {:?}", args.base);
    }
    let source = dataset::detect(std::slice::from_ref(&args.folder))?;
    if !matches!(source, Source::Folder(_)) {
        bail!("{} is not a folder", args.folder.display());
    }
    let items = tokio::task::spawn_blocking(move || dataset::hash_all(&source, None))
        .await
        .context("hashing task")??;
    let client = Client::new(&args.registry.registry)?;
    let registry = args.registry.registry.trim_end_matches('/').to_owned();
    let mut tdmrep = Vec::new();
    let mut robots = vec![
        "# aipref Content-Usage rules from the Consentry registry".to_owned(),
        format!("# {registry}"),
        "User-Agent: *".to_owned(),
    ];
    let mut found = 0usize;
    for item in &items {
        let Some(e) = exports(&client, &item.hash).await? else {
            continue;
        };
        found += 1;
        // `$` ends the pattern: robots.txt and TDMRep locations match by
        // prefix, and `/a.jpg` must not also cover `/a.jpg_original`.
        let location = format!("{}$", site_path(&args.base, &item.label));
        if let Some(r) = e["tdmrep"]["tdm-reservation"].as_u64() {
            let mut entry = json!({ "location": location, "tdm-reservation": r });
            if r == 1 {
                entry["tdm-policy"] = json!(format!("{registry}/v1/works/{}", item.hash));
            }
            tdmrep.push(entry);
        }
        if let Some(usage) = e["content_usage"].as_str() {
            robots.push(format!("Content-Usage: {location} {usage}"));
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let tdm_path = args.out.join("tdmrep.json");
    std::fs::write(&tdm_path, serde_json::to_string_pretty(&tdmrep)? + "\n")
        .with_context(|| format!("writing {}", tdm_path.display()))?;
    let robots_path = args.out.join("robots-content-usage.txt");
    std::fs::write(&robots_path, robots.join("\n") + "\n")
        .with_context(|| format!("writing {}", robots_path.display()))?;
    println!(
        "{found} of {} files are registered works: {} (serve at /.well-known/tdmrep.json) and {} (add to robots.txt)",
        items.len(),
        tdm_path.display(),
        robots_path.display()
    );
    Ok(())
}

pub async fn embed(args: EmbedArgs) -> anyhow::Result<()> {
    if args.out == args.file
        || std::fs::canonicalize(&args.out).ok() == std::fs::canonicalize(&args.file).ok()
            && args.out.exists()
    {
        bail!("--out must name a new file, not the input");
    }
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let hash = args.work.unwrap_or_else(|| ContentHash::of(&bytes));
    let client = Client::new(&args.registry.registry)?;
    let Some(e) = exports(&client, &hash).await? else {
        bail!("{hash} is not registered: there is no answer to embed (register it first, or name the registered work with --work)");
    };
    let data = e["cawg_assertion"]["data"].clone();
    if data["entries"]
        .as_object()
        .is_none_or(serde_json::Map::is_empty)
    {
        bail!("{hash}: its consent names no use a CAWG assertion can hold");
    }
    let cert =
        std::fs::read(&args.cert).with_context(|| format!("reading {}", args.cert.display()))?;
    let key =
        std::fs::read(&args.key).with_context(|| format!("reading {}", args.key.display()))?;
    let alg = match args.alg {
        Alg::Ed25519 => c2pa::SigningAlg::Ed25519,
        Alg::Es256 => c2pa::SigningAlg::Es256,
        Alg::Es384 => c2pa::SigningAlg::Es384,
        Alg::Ps256 => c2pa::SigningAlg::Ps256,
    };
    let sidecar = args.sidecar;
    let (manifest, signed) =
        tokio::task::spawn_blocking(move || sign(&bytes, &data, &cert, &key, alg, sidecar))
            .await
            .context("signing task")??;
    if sidecar {
        dataset::write_file_atomically(&args.out, &manifest)?;
        println!(
            "{} written: a C2PA manifest store holding {CAWG_LABEL} for {hash}, bound to {} as it is",
            args.out.display(),
            args.file.display()
        );
        return Ok(());
    }
    dataset::write_file_atomically(&args.out, &signed)?;
    println!(
        "{} written with a C2PA manifest holding {CAWG_LABEL} for {hash}\nits bytes are new: {} (register it too, so that exact checks find it; near checks match it already)",
        args.out.display(),
        ContentHash::of(&signed)
    );
    Ok(())
}

/// A C2PA manifest store holding the `cawg.training-mining` assertion
/// `data`, signed with `cert` / `key` and bound to `bytes`, and `bytes`
/// with it embedded (unless `sidecar`: then `bytes` unchanged).
fn sign(
    bytes: &[u8],
    data: &Value,
    cert: &[u8],
    key: &[u8],
    alg: c2pa::SigningAlg,
    sidecar: bool,
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let Some(format) = crate::signals::media_type(bytes) else {
        bail!("not a JPEG, PNG, WebP, GIF or TIFF file: C2PA cannot be embedded here");
    };
    let signer = c2pa::create_signer::from_keys(cert, key, alg, None)
        .map_err(|e| anyhow::anyhow!("the certificate or key: {e}"))?;
    let context = c2pa::Context::new()
        .with_settings(r#"{"verify": {"remote_manifest_fetch": false, "ocsp_fetch": false}}"#)
        .map_err(|e| anyhow::anyhow!("C2PA settings: {e}"))?;
    let mut builder = c2pa::Builder::from_context(context);
    builder.set_intent(c2pa::BuilderIntent::Edit);
    builder.set_no_embed(sidecar);
    builder
        .add_assertion(CAWG_LABEL, data)
        .map_err(|e| anyhow::anyhow!("the assertion: {e}"))?;
    let mut source = Cursor::new(bytes);
    let mut dest = Cursor::new(Vec::with_capacity(bytes.len() + 64 * 1024));
    let manifest = builder
        .sign(signer.as_ref(), format, &mut source, &mut dest)
        .map_err(|e| anyhow::anyhow!("signing the C2PA manifest: {e}"))?;
    Ok((manifest, dest.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::site_path;

    #[test]
    fn site_paths_are_themselves_not_patterns() {
        assert_eq!(site_path("/", "a/b.jpg"), "/a/b.jpg");
        assert_eq!(
            site_path("/art/", "my photo*$#é.jpg"),
            "/art/my%20photo%2A%24%23%C3%A9.jpg"
        );
    }
}
