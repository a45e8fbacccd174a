//! Bulk consent checks for dataset builders: `POST /v1/check` (JSON, up to
//! 100,000 hashes) and `POST /v1/check/stream` (NDJSON or raw 32-byte hashes
//! in, NDJSON out, any length, constant memory). Both end with a signed
//! receipt (`spec/receipt.md`).

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::Write as _;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::error::{ApiError, ApiResult, ProblemItem, PROBLEM_TYPE_PREFIX};
use super::extract::{media_type, ApiQuery, AuthUser};
use super::{AppState, Routes};
use crate::auth::Role;
use crate::check::items::parse_codes;
use crate::check::receipt::ReceiptCheckpoint;
use crate::check::{
    answer_all, answer_items, parse_purpose, render_compact_item, render_compact_line, render_full,
    render_item, AnswerDigests, CheckReceipt, Item, Mode, MATCHING, MAX_CHECK_HASHES,
};
use crate::domain::CheckpointRecord;
use crate::domain::{Category, ContentHash, Timestamp};
use crate::index::{Shard, Status, View};

/// `POST /v1/check` bodies, at most (100,000 ISCC-form hashes take 7.2 MB).
pub const CHECK_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// A streamed line, at most.
pub const MAX_STREAM_LINE: usize = 4096;
/// Streamed items answered per step (one read lock, one output chunk).
const STREAM_STEP: usize = 4096;
/// Output chunks buffered ahead of a slow reader before input stops being read.
const STREAM_BUFFER: usize = 4;
/// Invalid hashes listed in one error response, at most.
const MAX_LISTED: usize = 100;

mod stream;
#[doc(hidden)]
pub use stream::split_stream;

pub fn routes() -> Routes {
    Routes::new()
        .post_limited("/v1/check", check, CHECK_BODY_LIMIT)
        .post("/v1/check/stream", stream::stream)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody<'a> {
    #[serde(borrow)]
    purpose: Cow<'a, str>,
    #[serde(default, borrow)]
    hashes: Option<Vec<Cow<'a, str>>>,
    #[serde(default, borrow)]
    items: Option<Vec<ItemBody<'a>>>,
    #[serde(default, borrow)]
    as_of: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    mode: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "match")]
    matching: Option<Cow<'a, str>>,
    #[serde(default)]
    checkpoint: Option<u64>,
}

/// One item of a check: a hash, image codes, or both.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody<'a> {
    #[serde(default, borrow)]
    hash: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    fingerprints: Vec<FingerprintBody<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintBody<'a> {
    #[serde(borrow)]
    algorithm: Cow<'a, str>,
    #[serde(borrow)]
    value: Cow<'a, str>,
}

/// A stream line's object: a `hash`, `fingerprints`, or both, and any
/// other members (a manifest row's `path`, say), which are ignored.
#[derive(Deserialize)]
struct LineBody<'a> {
    #[serde(default, borrow)]
    hash: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    fingerprints: Vec<FingerprintBody<'a>>,
}

impl ItemBody<'_> {
    fn parse(&self) -> Result<Item, String> {
        item_of(self.hash.as_deref(), &self.fingerprints)
    }
}

fn item_of(hash: Option<&str>, fingerprints: &[FingerprintBody<'_>]) -> Result<Item, String> {
    let hash = hash
        .map(|h| h.parse::<ContentHash>().map_err(|e| format!("hash: {e}")))
        .transpose()?;
    let codes = parse_codes(
        fingerprints
            .iter()
            .map(|f| (f.algorithm.as_ref(), f.value.as_ref())),
    )?;
    if hash.is_none() && codes.is_empty() {
        return Err("an item carries a hash, fingerprints, or both".into());
    }
    Ok(Item { hash, codes })
}

/// Whether a check matches near copies (`match`: `exact` or `near`).
fn near_of(text: Option<&str>, default: bool) -> ApiResult<bool> {
    match text {
        None => Ok(default),
        Some("exact") => Ok(false),
        Some("near") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "invalid-parameter",
            format!(
                "unknown match `{}`: use \"exact\" or \"near\"",
                other.chars().take(64).collect::<String>()
            ),
        )),
    }
}

fn purpose_of(text: &str) -> ApiResult<Category> {
    parse_purpose(text).map_err(|e| ApiError::bad_request("unknown-purpose", e))
}

fn as_of_of(text: Option<&str>) -> ApiResult<Option<Timestamp>> {
    text.map(|t| {
        t.parse::<Timestamp>()
            .map_err(|e| ApiError::bad_request("invalid-as-of", format!("`as_of`: {e}")))
    })
    .transpose()
}

fn mode_of(text: Option<&str>) -> ApiResult<Mode> {
    text.map_or(Ok(Mode::Full), |m| {
        Mode::parse(m).map_err(|e| ApiError::bad_request("invalid-parameter", e))
    })
}

/// On a shard (`serve --shard`), refuses near matching: it needs every
/// registered work's image codes, which no one shard holds.
fn near_on_shard(state: &AppState, near: bool) -> ApiResult<()> {
    match state.registry.with_index(|st| st.index.shard()) {
        Some(shard) if near => Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "outside-shard",
            format!(
                "this node holds shard {shard} of the works: near matching needs every work's image codes; ask an unsharded node, or check with \"match\": \"exact\""
            ),
        )),
        _ => Ok(()),
    }
}

/// Why this node cannot answer for `hash`: it is a shard that does not
/// hold it.
fn outside_shard(shard: Option<Shard>, hash: &ContentHash) -> Option<String> {
    let shard = shard.filter(|s| !s.holds(hash))?;
    Some(format!(
        "{hash} is in shard {}/{}, not in shard {shard} that this node holds",
        Shard::of(hash, shard.count()),
        shard.count()
    ))
}

/// On a shard, refuses a request naming works outside it: 421
/// `outside-shard`, listing them (the first 100) by their index in
/// `member` (`hashes` or `items`).
fn all_in_shard(state: &AppState, hashes: &[ContentHash], member: &str) -> ApiResult<()> {
    let Some(shard) = state.registry.with_index(|st| st.index.shard()) else {
        return Ok(());
    };
    let mut outside: Vec<ProblemItem> = hashes
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            outside_shard(Some(shard), h).map(|detail| ProblemItem {
                index: Some(i),
                kind: format!("{PROBLEM_TYPE_PREFIX}outside-shard"),
                detail,
            })
        })
        .collect();
    let Some(first) = outside.first() else {
        return Ok(());
    };
    let mut err = ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "outside-shard",
        format!(
            "{} of the {} asked are outside shard {shard}, which this node holds; first, {member}[{}]: {}",
            outside.len(),
            member,
            first.index.unwrap_or_default(),
            first.detail
        ),
    );
    outside.truncate(MAX_LISTED);
    err.errors = outside;
    Err(err)
}

/// The checkpoint part of a receipt.
fn receipt_checkpoint(cp: &CheckpointRecord) -> ReceiptCheckpoint {
    ReceiptCheckpoint {
        size: cp.size,
        root: base64_root(cp),
        note: cp.note.clone(),
    }
}

fn base64_root(cp: &CheckpointRecord) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(cp.root)
}

/// Signs the receipt of a finished check; returns it as JSON text.
fn signed_receipt(
    state: &AppState,
    user: &AuthUser,
    purpose: Category,
    as_of: Option<Timestamp>,
    cp: &CheckpointRecord,
    digests: &AnswerDigests,
    near: bool,
) -> ApiResult<String> {
    let receipt = CheckReceipt::new(
        state.registry.log().origin(),
        &user.subject,
        purpose,
        as_of,
        receipt_checkpoint(cp),
        digests,
        near.then_some(MATCHING),
    );
    let envelope = state.registry.sign_receipt(&receipt)?;
    serde_json::to_string(&envelope).map_err(|_| ApiError::internal())
}

/// The members every check answer starts with.
fn preamble(out: &mut String, purpose: Category, as_of: Option<Timestamp>, cp: &CheckpointRecord) {
    let _ = write!(
        out,
        "\"purpose\":\"{}\",\"as_of\":{},\"checkpoint\":{{\"size\":{},\"root\":\"{}\"}}",
        purpose.as_str(),
        as_of.map_or_else(|| "null".to_owned(), |t| format!("\"{t}\"")),
        cp.size,
        base64_root(cp),
    );
}

fn counts_json(d: &AnswerDigests) -> String {
    json!(d.counts).to_string()
}

fn json_response(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[tracing::instrument(skip_all, fields(builder = %user.subject))]
async fn check(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    user.require(Role::Builder)?;
    if media_type(&headers).as_deref() != Some("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as application/json (or NDJSON to /v1/check/stream)",
        ));
    }
    let body = body?;
    let req: CheckBody<'_> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("malformed-json", e.to_string()))?;
    let purpose = purpose_of(&req.purpose)?;
    let as_of = as_of_of(req.as_of.as_deref())?;
    let mode = mode_of(req.mode.as_deref())?;
    let at_size = req.checkpoint;
    let member = if req.hashes.is_some() {
        "hashes"
    } else {
        "items"
    };
    let near = near_of(req.matching.as_deref(), req.items.is_some())?;
    let count = match (&req.hashes, &req.items) {
        (Some(h), None) => h.len(),
        (None, Some(i)) => i.len(),
        _ => {
            return Err(ApiError::bad_request(
                "malformed-json",
                "send either `hashes` or `items`",
            ))
        }
    };
    if count == 0 {
        return Err(ApiError::bad_request(
            "empty-batch",
            "`hashes` (or `items`) lists at least one item",
        ));
    }
    if count > MAX_CHECK_HASHES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-items",
            format!(
                "a request checks at most {MAX_CHECK_HASHES} items, got {count}; use /v1/check/stream for more"
            ),
        ));
    }
    // Hash lists stay hash lists (the bulk path); items, and hashes checked
    // with near matching, become items.
    // Without near matching, items are hashes (the bulk path); with it,
    // hashes are items.
    let asked = match (&req.hashes, &req.items) {
        (Some(texts), _) if near => Asked::Items(
            parse_hash_list(texts, "hashes")?
                .into_iter()
                .map(Item::from)
                .collect(),
        ),
        (Some(texts), _) => Asked::Hashes(parse_hash_list(texts, "hashes")?),
        (None, Some(bodies)) if near => Asked::Items(parse_items(bodies, true)?),
        (None, Some(bodies)) => Asked::Hashes(
            parse_items(bodies, false)?
                .into_iter()
                .filter_map(|i| i.hash)
                .collect(),
        ),
        (None, None) => Asked::Hashes(Vec::new()),
    };
    drop(body);
    near_on_shard(&state, near)?;
    if let Asked::Hashes(hashes) = &asked {
        all_in_shard(&state, hashes, member)?;
    }
    let (view, cp) = state.registry.check_view_at(as_of, at_size).await?;
    let task_state = state.clone();
    let (results, digests) = tokio::task::spawn_blocking(move || match asked {
        Asked::Hashes(hashes) => answer_json(&task_state, view, purpose, mode, &hashes),
        Asked::Items(items) => answer_items_json(&task_state, view, purpose, mode, &items),
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let receipt = signed_receipt(&state, &user, purpose, as_of, &cp, &digests, near)?;
    let mut out = String::with_capacity(results.len() + receipt.len() + 256);
    out.push('{');
    preamble(&mut out, purpose, as_of, &cp);
    if near {
        let _ = write!(
            out,
            ",\"matching\":{},\"matched\":{}",
            json!(MATCHING),
            json!(digests.matched)
        );
    }
    let _ = write!(out, ",\"counts\":{}", counts_json(&digests));
    out.push_str(&results);
    let _ = write!(out, ",\"receipt\":{receipt}}}");
    Ok(json_response(out))
}

/// What a check asks about, as answered.
enum Asked {
    Hashes(Vec<ContentHash>),
    Items(Vec<Item>),
}

/// Parses a request's items; a 400 `invalid-item` lists the invalid ones
/// (the first 100) by index. Without near matching, every item needs a
/// hash and carries no fingerprints.
fn parse_items(bodies: &[ItemBody<'_>], near: bool) -> ApiResult<Vec<Item>> {
    let mut items = Vec::with_capacity(bodies.len());
    let mut invalid = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let parsed = body.parse().and_then(|item| {
            if !near && !item.is_hash_only() {
                Err("with \"match\": \"exact\", an item is a hash without fingerprints".into())
            } else {
                Ok(item)
            }
        });
        match parsed {
            Ok(item) => items.push(item),
            Err(detail) => invalid.push(ProblemItem {
                index: Some(i),
                kind: format!("{PROBLEM_TYPE_PREFIX}invalid-item"),
                detail,
            }),
        }
    }
    if !invalid.is_empty() {
        return Err(invalid_list("invalid-item", "items", "items", invalid));
    }
    Ok(items)
}

/// Answers a near-matching JSON request: `results` or `statuses` (and
/// `matches`, one letter per item: `e`, `n` or `-`), and the digests.
fn answer_items_json(
    state: &AppState,
    view: View,
    purpose: Category,
    mode: Mode,
    items: &[Item],
) -> (String, AnswerDigests) {
    let mut digests = AnswerDigests::new();
    let mut out = String::new();
    state.registry.with_index(|st| match mode {
        Mode::Compact => {
            let mut statuses = String::with_capacity(items.len());
            let mut matches = String::with_capacity(items.len());
            answer_items(
                &st.index,
                view,
                purpose,
                items,
                &mut digests,
                |_, a, _, s| {
                    statuses.push(char::from(s.code()));
                    matches.push(char::from(a.kind.code()));
                },
            );
            let _ = write!(
                out,
                ",\"statuses\":\"{statuses}\",\"matches\":\"{matches}\""
            );
        }
        Mode::Full => {
            out.reserve(items.len() * 128);
            out.push_str(",\"results\":[");
            let mut first = true;
            answer_items(
                &st.index,
                view,
                purpose,
                items,
                &mut digests,
                |item, a, ids, _| {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    render_item(&mut out, &st.index, item, a, ids, purpose, None);
                },
            );
            out.push(']');
        }
    });
    (out, digests)
}

/// Parses a request's list of hashes; a 400 `invalid-hash` lists the
/// invalid ones (the first 100) by index.
pub(super) fn parse_hash_list(texts: &[Cow<'_, str>], member: &str) -> ApiResult<Vec<ContentHash>> {
    let mut hashes = Vec::with_capacity(texts.len());
    let mut invalid = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match text.parse::<ContentHash>() {
            Ok(h) => hashes.push(h),
            Err(e) => invalid.push(ProblemItem {
                index: Some(i),
                kind: format!("{PROBLEM_TYPE_PREFIX}invalid-hash"),
                detail: e.to_string(),
            }),
        }
    }
    if !invalid.is_empty() {
        return Err(invalid_list("invalid-hash", "hashes", member, invalid));
    }
    Ok(hashes)
}

/// A 400 `slug` naming the first invalid element of `member` and listing
/// the first 100 by index.
fn invalid_list(
    slug: &'static str,
    what: &str,
    member: &str,
    mut invalid: Vec<ProblemItem>,
) -> ApiError {
    let (index, detail) = invalid
        .first()
        .map(|f| (f.index.unwrap_or_default(), f.detail.clone()))
        .unwrap_or_default();
    let mut err = ApiError::bad_request(
        slug,
        format!(
            "{} invalid {what}; first, {member}[{index}]: {detail}",
            invalid.len()
        ),
    );
    invalid.truncate(MAX_LISTED);
    err.errors = invalid;
    err
}

/// Answers a whole JSON request: the `results` (full) or `statuses`
/// (compact) member, with a leading comma, and the digests.
fn answer_json(
    state: &AppState,
    view: View,
    purpose: Category,
    mode: Mode,
    hashes: &[ContentHash],
) -> (String, AnswerDigests) {
    let mut digests = AnswerDigests::new();
    let mut out = String::new();
    state.registry.with_index(|st| match mode {
        Mode::Compact => {
            out.reserve(hashes.len() + 16);
            out.push_str(",\"statuses\":\"");
            answer_all(
                &st.index,
                view,
                purpose,
                hashes,
                &mut digests,
                |_, _, _, s| {
                    out.push(char::from(s.code()));
                },
            );
            out.push('"');
        }
        Mode::Full => {
            out.reserve(hashes.len() * 96);
            out.push_str(",\"results\":[");
            let mut first = true;
            answer_all(
                &st.index,
                view,
                purpose,
                hashes,
                &mut digests,
                |h, a, ids, _| {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    render_full(&mut out, &st.index, h, a, ids, purpose, None);
                },
            );
            out.push(']');
        }
    });
    (out, digests)
}
