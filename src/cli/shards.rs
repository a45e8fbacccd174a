//! `consentry check --shard-url`: one check split across the shards of a
//! registry (`serve --read-only --shard i/n`), answered by every shard at
//! one checkpoint and merged back into the input's order
//! (`docs/scaling.md`, "Sharded checks").
//!
//! The shards are asked for the checkpoint each serves; the check is asked
//! at the smallest of them, which every shard holds (a node answers at any
//! checkpoint up to its own). Each shard signs a receipt for the hashes it
//! answered, and every receipt names that one checkpoint.

use anyhow::{bail, Context};
use serde_json::Value;

use super::client::{Client, Refused, SignInAs};
use crate::crypto::SecretKey;
use crate::domain::ContentHash;
use crate::index::Shard;
use crate::log::note::NoteVerifier;

/// How long a shard is waited for when it has not reached the checkpoint
/// asked (`checkpoint-not-held`), and the pause between attempts.
const NOT_HELD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);
const NOT_HELD_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// One shard node.
pub(super) struct Node {
    pub shard: Shard,
    pub url: String,
    client: Client,
}

/// The shards of one registry, one node per shard.
pub(super) struct Shards {
    pub nodes: Vec<Node>,
    pub verifier: NoteVerifier,
}

/// What one shard answered: the input positions it was asked about, its
/// answer lines in that order, and its closing line (with the receipt).
pub(super) struct ShardAnswer {
    pub shard: Shard,
    pub positions: Vec<usize>,
    pub lines: Vec<Value>,
    pub done: Value,
}

impl Shards {
    /// Asks each URL which shard it holds, and checks that they are the
    /// shards of one registry: the same log verifier key, the same shard
    /// count, each shard once.
    pub async fn discover(urls: &[String]) -> anyhow::Result<Self> {
        let mut nodes: Vec<Node> = Vec::with_capacity(urls.len());
        let mut verifier_text: Option<String> = None;
        for url in urls {
            let client = Client::new(url)?;
            let health = client.get_json("/healthz").await?;
            let shard = shard_of(&health)
                .with_context(|| format!("{url} is not a shard (serve --read-only --shard i/n)"))?;
            let log = client.get_json("/v1/log").await?;
            let text = log["verifier_key"]
                .as_str()
                .with_context(|| format!("{url} publishes no verifier key"))?
                .to_owned();
            match &verifier_text {
                None => verifier_text = Some(text),
                Some(first) if *first != text => bail!(
                    "{url} signs its log with {text}, not {first} as {}: these are not shards of one registry",
                    nodes.first().map_or("", |n| n.url.as_str())
                ),
                Some(_) => {}
            }
            if let Some(other) = nodes.iter().find(|n| n.shard.count() != shard.count()) {
                bail!(
                    "{url} holds shard {shard} but {} holds shard {}: the shards disagree on how many there are",
                    other.url,
                    other.shard
                );
            }
            if let Some(other) = nodes.iter().find(|n| n.shard == shard) {
                bail!("{url} and {} both hold shard {shard}", other.url);
            }
            nodes.push(Node {
                shard,
                url: url.clone(),
                client,
            });
        }
        let Some(first) = nodes.first() else {
            bail!("no shard URLs given");
        };
        let count = first.shard.count();
        if nodes.len() != count as usize {
            let missing: Vec<String> = (0..count)
                .filter(|i| !nodes.iter().any(|n| n.shard.index() == *i))
                .map(|i| format!("{i}/{count}"))
                .collect();
            bail!(
                "the registry is split into {count} shards; no URL given holds {}",
                missing.join(", ")
            );
        }
        nodes.sort_by_key(|n| n.shard.index());
        let text = verifier_text.unwrap_or_default();
        let verifier =
            NoteVerifier::parse(&text).map_err(|e| anyhow::anyhow!("verifier key {text}: {e}"))?;
        Ok(Self { nodes, verifier })
    }

    /// Signs in to every shard.
    pub async fn sign_in(&mut self, key: &SecretKey) -> anyhow::Result<()> {
        for node in &mut self.nodes {
            node.client
                .sign_in(key, SignInAs::Builder)
                .await
                .with_context(|| format!("signing in to shard {} at {}", node.shard, node.url))?;
        }
        Ok(())
    }

    /// The checkpoint every shard holds: the smallest any serves.
    pub async fn common_size(&self) -> anyhow::Result<u64> {
        let mut size = u64::MAX;
        for node in &self.nodes {
            let health = node.client.get_json("/healthz").await?;
            let s = health["checkpoint"]["size"]
                .as_u64()
                .with_context(|| format!("{} reports no checkpoint", node.url))?;
            size = size.min(s);
        }
        if size == 0 {
            bail!("the registry's log is empty: there is nothing to check against");
        }
        Ok(size)
    }

    /// Checks `hashes` at the checkpoint of `size` entries (`query` is the
    /// rest of the stream query): each shard its own, all at once.
    pub async fn check(
        &self,
        query: &str,
        size: u64,
        hashes: &[ContentHash],
    ) -> anyhow::Result<Vec<ShardAnswer>> {
        let count = self.nodes.len() as u32;
        let mut positions: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (i, h) in hashes.iter().enumerate() {
            positions[Shard::of(h, count) as usize].push(i);
        }
        let query = format!("{query}&checkpoint={size}");
        let asked = self
            .nodes
            .iter()
            .zip(positions)
            .filter(|(_, positions)| !positions.is_empty())
            .map(|(node, positions)| {
                let query = query.clone();
                async move {
                    let sent: Vec<ContentHash> = positions.iter().map(|&i| hashes[i]).collect();
                    let mut lines = Vec::with_capacity(sent.len());
                    // A node behind the URL may not have reached the size
                    // yet (several nodes serving one shard behind a load
                    // balancer): it refuses before answering, so ask again.
                    let mut waited = std::time::Duration::ZERO;
                    let done = loop {
                        let asked = node
                            .client
                            .check_stream(&query, sent.clone(), |line| {
                                lines.push(line);
                                Ok(())
                            })
                            .await;
                        match asked {
                            Err(e)
                                if waited < NOT_HELD_PATIENCE
                                    && e.downcast_ref::<Refused>()
                                        .is_some_and(|r| r.slug == "checkpoint-not-held") =>
                            {
                                lines.clear();
                                tokio::time::sleep(NOT_HELD_PAUSE).await;
                                waited += NOT_HELD_PAUSE;
                            }
                            other => {
                                break other.with_context(|| {
                                    format!("shard {} at {}", node.shard, node.url)
                                })?
                            }
                        }
                    };
                    Ok::<_, anyhow::Error>(ShardAnswer {
                        shard: node.shard,
                        positions,
                        lines,
                        done,
                    })
                }
            });
        futures_util::future::try_join_all(asked).await
    }
}

/// The shard a node's `/healthz` says it holds.
fn shard_of(health: &Value) -> Option<Shard> {
    let s = &health["shard"];
    let index = u32::try_from(s["index"].as_u64()?).ok()?;
    let count = u32::try_from(s["count"].as_u64()?).ok()?;
    Shard::new(index, count).ok()
}
