//! `consentry key …` (an artist's keys) and `consentry builder create` (admin).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use super::client::Client;
use super::RegistryArgs;
use crate::crypto::{Envelope, PayloadType, PublicKey, SecretKey};
use crate::domain::documents::FORMAT_VERSION;
use crate::domain::{KeyAction, KeyEvent, Timestamp};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a key to your artist account (signed by a current key and by the new one).
    Add {
        /// A current, active key file.
        #[arg(long, default_value = "consentry-artist.key")]
        key: PathBuf,
        /// The new key file (from `consentry keygen`).
        #[arg(long)]
        new: PathBuf,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Replace a key with a new one: the old key is revoked from now.
    Rotate {
        /// The key to replace.
        #[arg(long, default_value = "consentry-artist.key")]
        key: PathBuf,
        /// The new key file (from `consentry keygen`).
        #[arg(long)]
        new: PathBuf,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Revoke one of your keys, from now or from a given time (e.g. when it was stolen).
    Revoke {
        /// An active key file of yours that signs the revocation.
        #[arg(long, default_value = "consentry-artist.key")]
        key: PathBuf,
        /// The key to revoke, `ed25519:<hex>`.
        #[arg(long)]
        revoke: PublicKey,
        /// From when statements by the revoked key stop counting (RFC 3339, UTC).
        #[arg(long)]
        effective_at: Option<Timestamp>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Register a dataset builder's public key (needs the admin key).
    Create {
        /// The admin key file (its public key is the server's `--admin-key`).
        #[arg(long)]
        admin_key: PathBuf,
        /// The builder's name.
        #[arg(long)]
        name: String,
        /// The builder's public key, `ed25519:<hex>`.
        #[arg(long)]
        key: PublicKey,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

async fn submit_key_event(
    registry: &RegistryArgs,
    login_key: &SecretKey,
    signers: &[&SecretKey],
    action: KeyAction,
    subject: PublicKey,
    replaces: Option<PublicKey>,
    effective_at: Option<Timestamp>,
) -> anyhow::Result<()> {
    let mut client = Client::new(&registry.registry)?;
    let artist = client
        .login(login_key)
        .await
        .context("logging in with --key")?;
    let event = KeyEvent {
        version: FORMAT_VERSION,
        artist: artist.clone(),
        action,
        key: subject.to_string(),
        replaces: replaces.map(|k| k.to_string()),
        effective_at,
        issued_at: Timestamp::now(),
    };
    let env = Envelope::sign(PayloadType::KeyEvent, &serde_json::to_vec(&event)?, signers);
    let (status, _) = client
        .post(&format!("/v1/artists/{artist}/keys"), &env)
        .await?;
    let verb = match action {
        KeyAction::Add => "added",
        KeyAction::Rotate => "rotated in",
        KeyAction::Revoke => "revoked",
    };
    if status == 201 {
        println!("{verb} {subject} for artist {artist}");
    } else {
        println!("already recorded: {subject} {verb} for artist {artist}");
    }
    Ok(())
}

pub async fn run_key(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Add { key, new, registry } => {
            let (key, new) = (SecretKey::load(&key)?, SecretKey::load(&new)?);
            submit_key_event(
                &registry,
                &key,
                &[&key, &new],
                KeyAction::Add,
                new.public_key(),
                None,
                None,
            )
            .await
        }
        KeyCommand::Rotate { key, new, registry } => {
            let (old, new) = (SecretKey::load(&key)?, SecretKey::load(&new)?);
            let replaces = Some(old.public_key());
            submit_key_event(
                &registry,
                &old,
                &[&old, &new],
                KeyAction::Rotate,
                new.public_key(),
                replaces,
                None,
            )
            .await
        }
        KeyCommand::Revoke {
            key,
            revoke,
            effective_at,
            registry,
        } => {
            let key = SecretKey::load(&key)?;
            submit_key_event(
                &registry,
                &key,
                &[&key],
                KeyAction::Revoke,
                revoke,
                None,
                effective_at,
            )
            .await
        }
    }
}

pub async fn run_builder(cmd: BuilderCommand) -> anyhow::Result<()> {
    match cmd {
        BuilderCommand::Create {
            admin_key,
            name,
            key,
            registry,
        } => {
            let admin = SecretKey::load(&admin_key)?;
            let mut client = Client::new(&registry.registry)?;
            client
                .login(&admin)
                .await
                .context("logging in with the admin key")?;
            let (_, body) = client
                .post("/v1/builders", &json!({ "name": name, "key": key }))
                .await?;
            println!(
                "registered builder {}",
                body["builder_id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
    }
}
