//! The transparency log: its identity, checkpoints, entries, proofs,
//! receipts, and the static C2SP `tlog-tiles` layout under `/log/`.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery};
use super::{AppState, Routes};
use crate::domain::CheckpointRecord;
use crate::log::merkle::leaf_hash;
use crate::log::tiles::TileRef;
use crate::log::Hash;
use crate::registry::RegistryError;
use crate::transparency::TransparencyError;

/// Entries per page of `GET /v1/log/entries`, at most.
pub const MAX_ENTRIES_PER_PAGE: u32 = 1000;
/// Entries per page when `limit` is not given.
const DEFAULT_ENTRIES_PER_PAGE: u32 = 100;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/log", log_info)
        .get("/.well-known/consentry-log", log_info)
        .get("/v1/log/checkpoint", checkpoint)
        .get("/v1/log/entries", entries)
        .get("/v1/log/proof/inclusion", inclusion)
        .get("/v1/log/proof/consistency", consistency)
        .get("/v1/log/receipts/{index}", receipt)
        .get("/log/checkpoint", checkpoint)
        .get("/log/tile/{*path}", tile)
}

fn log_error(e: TransparencyError) -> ApiError {
    RegistryError::from(e).into()
}

const TEXT: &str = "text/plain; charset=utf-8";
const NO_CACHE: &str = "no-cache, max-age=0";

/// A 200 with this content type and cache policy.
fn respond(content_type: &'static str, cache: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

async fn latest(state: &AppState) -> ApiResult<CheckpointRecord> {
    state
        .registry
        .log_reader()
        .latest()
        .await
        .map_err(log_error)
}

fn checkpoint_json(cp: &CheckpointRecord) -> Value {
    json!({
        "size": cp.size,
        "root_hash": hex::encode(cp.root),
        "signed_at": cp.signed_at,
        "note": cp.note,
    })
}

#[tracing::instrument(skip_all)]
async fn log_info(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let cp = latest(&state).await?;
    let log = state.registry.log();
    Ok(Json(json!({
        "origin": log.origin(),
        "verifier_key": log.verifier().to_text(),
        "public_key": state.registry_key.to_string(),
        "hash": "SHA-256 (RFC 9162: leaf 0x00, node 0x01)",
        "entry_format": "spec/log.md",
        "tiles": "/log/",
        "checkpoint": checkpoint_json(&cp),
    })))
}

#[tracing::instrument(skip_all)]
async fn checkpoint(State(state): State<AppState>) -> ApiResult<Response> {
    let cp = latest(&state).await?;
    Ok(respond(TEXT, NO_CACHE, cp.note))
}

/// The largest log index or size the API takes: the store keeps positions
/// as signed 64-bit integers (openapi.yaml's `maximum`).
const MAX_POSITION: u64 = i64::MAX as u64;

/// Refuses a log index or size larger than any log can hold.
fn position(value: Option<u64>, name: &str) -> ApiResult<Option<u64>> {
    match value {
        Some(v) if v > MAX_POSITION => Err(ApiError::bad_request(
            "invalid-parameter",
            format!("`{name}` is at most {MAX_POSITION}"),
        )),
        other => Ok(other),
    }
}

/// A tree size or entry the log has not reached: 404, as for tiles.
fn beyond_log(what: String, latest: u64) -> ApiError {
    ApiError::not_found(format!(
        "{what}: the log has {latest} entries (latest checkpoint)"
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesQuery {
    start: Option<u64>,
    limit: Option<u32>,
}

#[tracing::instrument(skip_all)]
async fn entries(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<EntriesQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(DEFAULT_ENTRIES_PER_PAGE);
    if limit == 0 || limit > MAX_ENTRIES_PER_PAGE {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            format!("limit is 1 to {MAX_ENTRIES_PER_PAGE}"),
        ));
    }
    let start = position(q.start, "start")?.unwrap_or(0);
    let cp = latest(&state).await?;
    let available = cp.size.saturating_sub(start).min(u64::from(limit));
    let docs = if available == 0 {
        Vec::new()
    } else {
        state
            .registry
            .log_reader()
            .entries(start, u32::try_from(available).unwrap_or(limit))
            .await
            .map_err(log_error)?
    };
    let mut out = Vec::with_capacity(docs.len());
    for (d, entry) in docs {
        out.push(json!({
            "index": d.seq,
            "kind": d.doc.kind.as_str(),
            "document_id": d.doc.id,
            "received_at": d.doc.received_at,
            "leaf_hash": hex::encode(leaf_hash(&entry)),
            "entry": STANDARD.encode(&entry),
        }));
    }
    let end = start + out.len() as u64;
    Ok(Json(json!({
        "tree_size": cp.size,
        "start": start,
        "entries": out,
        "next": (end < cp.size).then_some(end),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    index: Option<u64>,
    leaf_hash: Option<String>,
    tree_size: Option<u64>,
}

fn parse_hash_hex(text: &str) -> ApiResult<Hash> {
    let mut out = [0u8; 32];
    if text.len() != 64 || hex::decode_to_slice(text, &mut out).is_err() {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            "leaf_hash is 64 hex digits (SHA-256(0x00 || entry))",
        ));
    }
    Ok(out)
}

fn check_size(size: u64, latest: u64, name: &str) -> ApiResult<()> {
    if size > latest {
        return Err(beyond_log(format!("no tree of {name} {size} yet"), latest));
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
async fn inclusion(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> ApiResult<Json<Value>> {
    let given_size = position(q.tree_size, "tree_size")?;
    let given_index = position(q.index, "index")?;
    let cp = latest(&state).await?;
    let size = given_size.unwrap_or(cp.size);
    check_size(size, cp.size, "tree_size")?;
    let reader = state.registry.log_reader();
    let index = match (given_index, q.leaf_hash.as_deref()) {
        (Some(i), None) => i,
        (None, Some(h)) => {
            let leaf = parse_hash_hex(h)?;
            reader
                .leaf_index(&leaf)
                .await
                .map_err(log_error)?
                .ok_or_else(|| ApiError::not_found(format!("no entry has leaf hash {h}")))?
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid-parameter",
                "give exactly one of index and leaf_hash",
            ))
        }
    };
    if index >= cp.size {
        return Err(beyond_log(format!("no entry {index} yet"), cp.size));
    }
    if index >= size {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            format!("entry {index} is not in a tree of {size} entries"),
        ));
    }
    let p = reader.inclusion(index, size).await.map_err(log_error)?;
    Ok(Json(json!({
        "index": p.index,
        "tree_size": p.tree_size,
        "leaf_hash": hex::encode(p.leaf_hash),
        "root_hash": hex::encode(p.root),
        "path": p.path.iter().map(hex::encode).collect::<Vec<_>>(),
        "checkpoint": (size == cp.size).then(|| checkpoint_json(&cp)),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old_size: u64,
    new_size: Option<u64>,
}

#[tracing::instrument(skip_all)]
async fn consistency(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<Json<Value>> {
    position(Some(q.old_size), "old_size")?;
    let given_new = position(q.new_size, "new_size")?;
    let cp = latest(&state).await?;
    let new = given_new.unwrap_or(cp.size);
    if q.old_size > 0 {
        check_size(q.old_size, cp.size, "old_size")?;
    }
    check_size(new, cp.size, "new_size")?;
    if q.old_size == 0 || q.old_size > new {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            format!("old_size is 1 to new_size ({new})"),
        ));
    }
    let log = state.registry.log_reader();
    let path = log.consistency(q.old_size, new).await.map_err(log_error)?;
    let old_root = log.root(q.old_size).await.map_err(log_error)?;
    let new_root = log.root(new).await.map_err(log_error)?;
    Ok(Json(json!({
        "old_size": q.old_size,
        "new_size": new,
        "old_root_hash": hex::encode(old_root),
        "new_root_hash": hex::encode(new_root),
        "path": path.iter().map(hex::encode).collect::<Vec<_>>(),
    })))
}

#[tracing::instrument(skip_all)]
async fn receipt(
    State(state): State<AppState>,
    ApiPath(index): ApiPath<u64>,
) -> ApiResult<Response> {
    position(Some(index), "index")?;
    let body = state
        .registry
        .log_reader()
        .receipt(index)
        .await
        .map_err(log_error)?
        .ok_or_else(|| ApiError::not_found(format!("no log entry {index}")))?;
    Ok(respond(TEXT, NO_CACHE, body))
}

#[tracing::instrument(skip_all)]
async fn tile(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Response> {
    let tile =
        TileRef::parse(&path).map_err(|e| ApiError::not_found(format!("no tile {path}: {e}")))?;
    let log = state.registry.log_reader();
    let body = if tile.level.is_some() {
        log.hash_tile(tile).await
    } else {
        log.entry_bundle(tile).await
    }
    .map_err(log_error)?
    .ok_or_else(|| ApiError::not_found(format!("tile {path} is not in the log yet")))?;
    Ok(respond(
        "application/octet-stream",
        "public, max-age=31536000, immutable",
        body,
    ))
}
