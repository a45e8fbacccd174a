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
use crate::index::{Status, View};

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

pub fn routes() -> Routes {
    Routes::new()
        .post_limited("/v1/check", check, CHECK_BODY_LIMIT)
        .post("/v1/check/stream", stream)
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
    let (hashes, items): (Vec<ContentHash>, Vec<Item>) = match (&req.hashes, &req.items) {
        (Some(texts), _) if !near => (parse_hash_list(texts, "hashes")?, Vec::new()),
        (Some(texts), _) => (
            Vec::new(),
            parse_hash_list(texts, "hashes")?
                .into_iter()
                .map(|h| Item {
                    hash: Some(h),
                    codes: Vec::new(),
                })
                .collect(),
        ),
        (None, Some(bodies)) => (Vec::new(), parse_items(bodies, near)?),
        (None, None) => (Vec::new(), Vec::new()),
    };
    drop(body);
    let (view, cp) = state.registry.check_view(as_of)?;
    let task_state = state.clone();
    let (results, digests) = tokio::task::spawn_blocking(move || {
        if near {
            answer_items_json(&task_state, view, purpose, mode, &items)
        } else if items.is_empty() {
            answer_json(&task_state, view, purpose, mode, &hashes)
        } else {
            let hashes: Vec<ContentHash> = items.iter().filter_map(|i| i.hash).collect();
            answer_json(&task_state, view, purpose, mode, &hashes)
        }
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

/// Parses a request's items; a 400 `invalid-item` lists the invalid ones
/// (the first 100) by index. Without near matching, every item needs a
/// hash and carries no fingerprints.
fn parse_items(bodies: &[ItemBody<'_>], near: bool) -> ApiResult<Vec<Item>> {
    let mut items = Vec::with_capacity(bodies.len());
    let mut invalid = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let parsed = body.parse().and_then(|item| {
            if !near && (item.hash.is_none() || !item.codes.is_empty()) {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamParams {
    purpose: String,
    as_of: Option<String>,
    mode: Option<String>,
    #[serde(rename = "match")]
    matching: Option<String>,
}

/// How a stream's items are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// One JSON value per line: a hash string or an object with `hash`.
    Ndjson,
    /// Raw 32-byte BLAKE3 hashes back to back.
    Binary,
}

#[tracing::instrument(skip_all, fields(builder = %user.subject))]
async fn stream(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
    body: Body,
) -> ApiResult<Response> {
    user.require(Role::Builder)?;
    let framing = match media_type(&headers).as_deref() {
        Some("application/x-ndjson" | "application/jsonl") => Framing::Ndjson,
        Some("application/octet-stream") => Framing::Binary,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send application/x-ndjson (one hash per line) or application/octet-stream (32-byte hashes)",
            ))
        }
    };
    let purpose = purpose_of(&params.purpose)?;
    let as_of = as_of_of(params.as_of.as_deref())?;
    let mode = mode_of(params.mode.as_deref())?;
    let near = near_of(params.matching.as_deref(), false)?;
    if near && framing == Framing::Binary {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            "near matching needs NDJSON items (raw 32-byte records carry no fingerprints)",
        ));
    }
    let slot = state.limits.open_stream(&user.subject)?;
    let (view, cp) = state.registry.check_view(as_of)?;
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    let run = StreamRun {
        _slot: slot,
        state,
        user,
        purpose,
        as_of,
        mode,
        near,
        view,
        cp,
        framing,
        tx,
    };
    tokio::spawn(run.run(body));
    let out = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(out),
    )
        .into_response())
}

/// One line of a stream: its line (or record) number and the item, or why
/// the line is not one.
type Line = (u64, Result<Item, String>);

/// Parses one NDJSON line: a JSON string (a hash), or an object with a
/// `hash` string, `fingerprints`, or both.
fn parse_line(line: &[u8]) -> Result<Item, String> {
    match line.first() {
        Some(b'"') => {
            let text: Cow<'_, str> =
                serde_json::from_slice(line).map_err(|e| format!("malformed JSON: {e}"))?;
            Ok(Item {
                hash: Some(text.parse::<ContentHash>().map_err(|e| e.to_string())?),
                codes: Vec::new(),
            })
        }
        Some(b'{') => {
            let body = serde_json::from_slice::<LineBody<'_>>(line)
                .map_err(|e| format!("malformed JSON object: {e}"))?;
            item_of(body.hash.as_deref(), &body.fingerprints)
        }
        _ => Err(
            "a line is a JSON string (\"blake3:…\") or an object with `hash` and/or `fingerprints`"
                .into(),
        ),
    }
}

/// Splits a byte stream into items, keeping at most one partial line.
struct Splitter {
    framing: Framing,
    partial: Vec<u8>,
    /// The current line is over-long: drop bytes until its end.
    skipping: bool,
    line: u64,
}

impl Splitter {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            partial: Vec::new(),
            skipping: false,
            line: 0,
        }
    }

    fn feed(&mut self, mut data: &[u8], items: &mut Vec<Line>) {
        if self.framing == Framing::Binary {
            while !data.is_empty() {
                let take = (32 - self.partial.len()).min(data.len());
                self.partial.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.partial.len() == 32 {
                    self.line += 1;
                    items.push((
                        self.line,
                        ContentHash::from_slice(&self.partial)
                            .map(|h| Item {
                                hash: Some(h),
                                codes: Vec::new(),
                            })
                            .map_err(|e| e.to_string()),
                    ));
                    self.partial.clear();
                }
            }
            return;
        }
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            let (head, rest) = data.split_at(pos);
            data = &rest[1..];
            self.line += 1;
            if self.skipping {
                self.skipping = false;
                items.push((
                    self.line,
                    Err(format!("line longer than {MAX_STREAM_LINE} bytes")),
                ));
                continue;
            }
            if self.partial.is_empty() {
                Self::push_line(self.line, head, items);
            } else {
                self.partial.extend_from_slice(head);
                let line = std::mem::take(&mut self.partial);
                Self::push_line(self.line, &line, items);
            }
        }
        if !self.skipping {
            self.partial.extend_from_slice(data);
            if self.partial.len() > MAX_STREAM_LINE {
                self.partial.clear();
                self.skipping = true;
            }
        }
    }

    fn push_line(no: u64, line: &[u8], items: &mut Vec<Line>) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        if line.len() > MAX_STREAM_LINE {
            items.push((no, Err(format!("line longer than {MAX_STREAM_LINE} bytes"))));
            return;
        }
        items.push((no, parse_line(line)));
    }

    /// The end of input: a last line without a newline, or a partial record.
    fn finish(&mut self, items: &mut Vec<Line>) {
        let rest = std::mem::take(&mut self.partial);
        if self.framing == Framing::Binary {
            if !rest.is_empty() {
                items.push((
                    self.line + 1,
                    Err(format!(
                        "the input ends with a partial record of {} bytes (records are 32 bytes)",
                        rest.len()
                    )),
                ));
            }
            return;
        }
        if self.skipping {
            items.push((
                self.line + 1,
                Err(format!("line longer than {MAX_STREAM_LINE} bytes")),
            ));
        } else if !rest.is_empty() {
            Self::push_line(self.line + 1, &rest, items);
        }
    }
}

/// Splits a check stream's body, delivered in `chunks`, into numbered items
/// exactly as `POST /v1/check/stream` reads it (NDJSON, or 32-byte records
/// when `binary`); for fuzzing.
#[doc(hidden)]
#[must_use]
pub fn split_stream(binary: bool, chunks: &[&[u8]]) -> Vec<(u64, Result<Item, String>)> {
    let mut s = Splitter::new(if binary {
        Framing::Binary
    } else {
        Framing::Ndjson
    });
    let mut items = Vec::new();
    for c in chunks {
        s.feed(c, &mut items);
    }
    s.finish(&mut items);
    items
}

/// The minimum rate at which a stream's body must arrive: at least
/// `min_rate` bytes per second on average over each window, so that a client
/// trickling lines cannot hold a stream slot for ever.
struct Pace {
    min_bytes: u64,
    window: std::time::Duration,
    window_end: tokio::time::Instant,
    seen: u64,
}

impl Pace {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    fn new(config: &super::limits::LimitConfig) -> Self {
        let min_bytes =
            (config.stream_min_rate as f64 * config.stream_window.as_secs_f64()).ceil() as u64;
        Self {
            min_bytes,
            window: config.stream_window,
            window_end: tokio::time::Instant::now() + config.stream_window,
            seen: 0,
        }
    }

    /// The next chunk of `input`, or why the stream is too slow to go on.
    async fn next<S>(&mut self, input: &mut S) -> Result<Option<S::Item>, String>
    where
        S: futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin,
    {
        if self.min_bytes == 0 {
            return Ok(input.next().await);
        }
        loop {
            match tokio::time::timeout_at(self.window_end, input.next()).await {
                Ok(chunk) => {
                    if let Some(Ok(data)) = &chunk {
                        self.seen = self.seen.saturating_add(data.len() as u64);
                    }
                    if tokio::time::Instant::now() >= self.window_end {
                        self.end_window()?;
                    }
                    return Ok(chunk);
                }
                Err(_) => self.end_window()?,
            }
        }
    }

    fn end_window(&mut self) -> Result<(), String> {
        if self.seen < self.min_bytes {
            return Err(format!(
                "the body arrived at fewer than {} bytes in {} s; the stream is closed",
                self.min_bytes,
                self.window.as_secs_f64()
            ));
        }
        self.seen = 0;
        self.window_end = tokio::time::Instant::now() + self.window;
        Ok(())
    }
}

/// A streamed check in progress.
struct StreamRun {
    /// This stream's place among the open ones, freed when it ends.
    _slot: super::limits::StreamSlot,
    state: AppState,
    user: AuthUser,
    purpose: Category,
    as_of: Option<Timestamp>,
    mode: Mode,
    near: bool,
    view: View,
    cp: CheckpointRecord,
    framing: Framing,
    tx: mpsc::Sender<Bytes>,
}

impl StreamRun {
    async fn run(self, body: Body) {
        let mut digests = AnswerDigests::new();
        let mut errors: u64 = 0;
        let mut splitter = Splitter::new(self.framing);
        let mut items: Vec<Line> = Vec::with_capacity(STREAM_STEP);
        let mut input = body.into_data_stream();
        let mut pace = Pace::new(&self.state.limits.config);
        loop {
            let chunk = match pace.next(&mut input).await {
                Ok(chunk) => chunk,
                Err(detail) => {
                    let line = json!({"error": {
                        "type": format!("{PROBLEM_TYPE_PREFIX}too-slow"),
                        "detail": detail,
                    }});
                    let _ = self.tx.send(Bytes::from(format!("{line}\n"))).await;
                    return;
                }
            };
            let done = chunk.is_none();
            match chunk {
                Some(Ok(data)) => splitter.feed(&data, &mut items),
                Some(Err(e)) => {
                    let line = json!({"error": {
                        "type": format!("{PROBLEM_TYPE_PREFIX}malformed-body"),
                        "detail": format!("reading the request failed: {e}"),
                    }});
                    let _ = self.tx.send(Bytes::from(format!("{line}\n"))).await;
                    return;
                }
                None => splitter.finish(&mut items),
            }
            if items.len() >= STREAM_STEP || (done && !items.is_empty()) {
                let out = self.answer(&items, &mut digests, &mut errors);
                items.clear();
                if self.tx.send(Bytes::from(out)).await.is_err() {
                    return; // the client went away
                }
            }
            if done {
                break;
            }
        }
        let out = match signed_receipt(
            &self.state,
            &self.user,
            self.purpose,
            self.as_of,
            &self.cp,
            &digests,
            self.near,
        ) {
            Ok(receipt) => {
                let mut out = String::from("{\"done\":true,");
                preamble(&mut out, self.purpose, self.as_of, &self.cp);
                if self.near {
                    let _ = write!(
                        out,
                        ",\"matching\":{},\"matched\":{}",
                        json!(MATCHING),
                        json!(digests.matched)
                    );
                }
                let _ = writeln!(
                    out,
                    ",\"count\":{},\"counts\":{},\"errors\":{errors},\"receipt\":{receipt}}}",
                    digests.count,
                    counts_json(&digests)
                );
                out
            }
            Err(_) => format!(
                "{}\n",
                json!({"error": {"type": format!("{PROBLEM_TYPE_PREFIX}internal"), "detail": "the receipt could not be signed"}})
            ),
        };
        let _ = self.tx.send(Bytes::from(out)).await;
    }

    /// Answers one step of items as NDJSON lines.
    fn answer(&self, items: &[Line], digests: &mut AnswerDigests, errors: &mut u64) -> String {
        let mut out = String::with_capacity(items.len() * 80);
        self.state.registry.with_index(|st| {
            for (line, item) in items {
                let item = item.as_ref().map_err(Clone::clone).and_then(|item| {
                    if !self.near && (item.hash.is_none() || !item.codes.is_empty()) {
                        Err("fingerprints are matched with match=near only".to_owned())
                    } else {
                        Ok(item)
                    }
                });
                match item {
                    Ok(item) if self.near => {
                        answer_items(
                            &st.index,
                            self.view,
                            self.purpose,
                            std::iter::once(item),
                            digests,
                            |i, a, ids, s: Status| match self.mode {
                                Mode::Full => render_item(
                                    &mut out,
                                    &st.index,
                                    i,
                                    a,
                                    ids,
                                    self.purpose,
                                    Some(*line),
                                ),
                                Mode::Compact => render_compact_item(&mut out, i, a, s, *line),
                            },
                        );
                    }
                    Ok(Item {
                        hash: Some(hash), ..
                    }) => {
                        answer_all(
                            &st.index,
                            self.view,
                            self.purpose,
                            std::iter::once(hash),
                            digests,
                            |h, a, ids, s: Status| match self.mode {
                                Mode::Full => {
                                    render_full(
                                        &mut out,
                                        &st.index,
                                        h,
                                        a,
                                        ids,
                                        self.purpose,
                                        Some(*line),
                                    );
                                }
                                Mode::Compact => render_compact_line(&mut out, h, s, *line),
                            },
                        );
                    }
                    Ok(Item { hash: None, .. }) => {}
                    Err(e) => {
                        *errors += 1;
                        let _ = write!(
                            out,
                            "{}",
                            json!({"line": line, "error": {
                                "type": format!("{PROBLEM_TYPE_PREFIX}invalid-line"),
                                "detail": format!("line {line}: {e}"),
                            }})
                        );
                    }
                }
                out.push('\n');
            }
        });
        out
    }
}
