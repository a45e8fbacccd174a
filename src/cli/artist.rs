//! `consentry artist …` and `consentry status`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::Client;
use super::RegistryArgs;
use crate::crypto::{Envelope, PayloadType, SecretKey};
use crate::domain::{Category, ContentHash, Timestamp};

#[derive(Debug, Subcommand)]
pub enum ArtistCommand {
    /// Register as an artist: your public key and display name, signed by the key.
    Create {
        /// Your key file (from `consentry keygen`).
        #[arg(long, default_value = "consentry-artist.key")]
        key: PathBuf,
        /// The name shown with your statements.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Show an artist's keys and works.
    Show {
        artist_id: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

pub async fn run(cmd: ArtistCommand) -> anyhow::Result<()> {
    match cmd {
        ArtistCommand::Create {
            key,
            name,
            registry,
        } => {
            let key = SecretKey::load(&key)?;
            let mut client = Client::new(&registry.registry)?;
            // A key the registry already knows logs in: nothing to register.
            if let Ok(id) = client.login(&key).await {
                return already_registered(&client, &id, &name).await;
            }
            let payload = serde_json::to_vec(&json!({
                "version": 1,
                "key": key.public_key().to_string(),
                "display_name": name,
                "issued_at": Timestamp::now(),
            }))?;
            let env = Envelope::sign(PayloadType::Artist, &payload, &[&key]);
            let (status, body) = client.post("/v1/artists", &env).await?;
            let id = body["artist_id"].as_str().unwrap_or_default();
            if status == 201 {
                println!("registered artist {id}");
                Ok(())
            } else {
                already_registered(&client, id, &name).await
            }
        }
        ArtistCommand::Show {
            artist_id,
            registry,
        } => {
            let client = Client::new(&registry.registry)?;
            let body = client
                .get_optional(&format!("/v1/artists/{artist_id}"))
                .await?
                .with_context(|| format!("no artist {artist_id}"))?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
    }
}

/// `artist create` with a key that is already registered: nothing is
/// recorded; says so, and whether the name asked for differs from the one
/// on record (a display name is fixed at registration).
async fn already_registered(client: &Client, id: &str, name: &str) -> anyhow::Result<()> {
    let on_record = client
        .get_optional(&format!("/v1/artists/{id}"))
        .await?
        .and_then(|a| a["display_name"].as_str().map(str::to_owned));
    match on_record {
        Some(current) if current != name => println!(
            "already registered: artist {id} as \"{current}\"; the name was not changed to \"{name}\": \
             a display name is set once, when the artist is registered, and the registry has no way to change it"
        ),
        _ => println!("already registered: artist {id}"),
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A content hash (`blake3:<hex>` or ISCC `1e20<hex>`) or a file to hash.
    pub target: String,
    /// Print the registry's full JSON answer.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let hash = match args.target.parse::<ContentHash>() {
        Ok(h) => h,
        Err(_) => {
            let path = PathBuf::from(&args.target);
            if !path.is_file() {
                anyhow::bail!(
                    "{} is neither a content hash nor a readable file",
                    args.target
                );
            }
            super::register::hash_file(&path)?
        }
    };
    let client = Client::new(&args.registry.registry)?;
    let Some(body) = client.get_optional(&format!("/v1/works/{hash}")).await? else {
        if args.json {
            println!("{}", json!({ "hash": hash, "registered": false }));
        } else {
            println!("{hash}\n  not registered: consent unknown for every use");
        }
        return Ok(());
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    println!("{hash}");
    if body["disputed"].as_bool() == Some(true) {
        println!(
            "  DISPUTED: several artists claim this work; the most restrictive answer applies"
        );
    }
    for category in Category::ALL {
        let value = body["consent"][category.as_str()].as_str().unwrap_or("?");
        println!("  {:<12} {value}", category.as_str());
    }
    for c in body["claimants"].as_array().into_iter().flatten() {
        let terms: Vec<String> = c["terms"]
            .as_array()
            .into_iter()
            .flatten()
            .map(describe_term)
            .collect();
        println!(
            "  claimed by {} ({}), statement {} issued {}{}",
            c["display_name"].as_str().unwrap_or("?"),
            c["artist_id"].as_str().unwrap_or("?"),
            c["statement_id"].as_str().unwrap_or("?"),
            c["issued_at"].as_str().unwrap_or("?"),
            if terms.is_empty() {
                String::new()
            } else {
                format!("; terms: {}", terms.join(", "))
            }
        );
    }
    let history = body["history"].as_array().map_or(0, Vec::len);
    println!(
        "  {} in history",
        super::count(history as u64, "statement", "statements")
    );
    Ok(())
}

fn describe_term(t: &Value) -> String {
    let money = |m: &Value| {
        format!(
            "{} {}",
            m["amount_minor"],
            m["currency"].as_str().unwrap_or("?")
        )
    };
    match t["kind"].as_str() {
        Some("attribution") => format!("attribution \"{}\"", t["credit"].as_str().unwrap_or("")),
        Some("flat-fee") => format!("flat fee {} (minor units)", money(&t["amount"])),
        Some("revenue-share") if t.get("minimum").is_some() => {
            format!(
                "revenue share, minimum {} (minor units)",
                money(&t["minimum"])
            )
        }
        Some(k) => k.to_owned(),
        None => "?".to_owned(),
    }
}
