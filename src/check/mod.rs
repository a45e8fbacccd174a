//! Bulk consent checks (`spec/receipt.md`): answers for lists of work
//! hashes, as of any instant, against a named checkpoint of the log, with a
//! registry-signed receipt that binds the question and the answers.
//!
//! Transport-free: the HTTP handlers feed it parsed hashes and write what
//! it renders; `consentry verify-receipt` recomputes answers with the same
//! [`crate::index::ConsentIndex`] built from the log's entries.

pub mod items;
pub mod receipt;

use std::fmt::Write as _;

use crate::domain::{Category, ContentHash};
use crate::index::{Answer, ConsentIndex, Status, View};
pub use items::{answer_item, Item, ItemAnswer, MatchKind, Matching, MATCHING};
pub use receipt::{AnswerDigests, CheckReceipt, MatchCounts, StatusCounts};

/// Hashes one JSON check request may carry, at most.
pub const MAX_CHECK_HASHES: usize = 100_000;

/// How much of each answer a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every field: status, all categories, claimants with terms, statements.
    Full,
    /// The status only (one letter per hash in JSON responses).
    Compact,
}

impl Mode {
    /// # Errors
    /// On anything but `full` and `compact`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Mode::Full),
            "compact" => Ok(Mode::Compact),
            other => Err(format!(
                "unknown mode `{other}`: use \"full\" or \"compact\""
            )),
        }
    }
}

/// Parses a purpose: one of the registry's categories.
///
/// # Errors
/// A message naming the categories.
pub fn parse_purpose(s: &str) -> Result<Category, String> {
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown purpose `{}`: use one of {}",
                s.chars().take(64).collect::<String>(),
                Category::ALL.map(Category::as_str).join(", ")
            )
        })
}

/// The ids (raw SHA-256) of an answer's current statements, ascending: the
/// order the answer digest uses.
#[must_use]
pub fn statement_ids(index: &ConsentIndex, answer: &Answer) -> Vec<[u8; 32]> {
    let mut ids: Vec<[u8; 32]> = answer
        .current
        .iter()
        .map(|&n| index.statement(n).id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Appends `"blake3:<hex>"`, quoted, without allocating.
fn push_hash(out: &mut String, hash: &ContentHash) {
    push_hex(out, ContentHash::PREFIX, hash.as_bytes());
}

/// Appends `"<prefix><hex>"`, quoted.
fn push_hex(out: &mut String, prefix: &str, bytes: &[u8; 32]) {
    let mut buf = [0u8; 64];
    out.push('"');
    out.push_str(prefix);
    if hex::encode_to_slice(bytes, &mut buf).is_ok() {
        out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
    }
    out.push('"');
}

fn push_consent(out: &mut String, set: &crate::domain::ConsentSet) {
    out.push('{');
    for (i, c) in Category::ALL.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "\"{}\":\"{}\"",
            c.as_str(),
            Status::of(set, c).as_str()
        );
    }
    out.push('}');
}

/// Renders one answer as the JSON object of full responses and streams.
/// `ids` are the answer's [`statement_ids`]; `line` (1-based) is set for
/// streamed answers.
pub fn render_full(
    out: &mut String,
    index: &ConsentIndex,
    hash: &ContentHash,
    answer: &Answer,
    ids: &[[u8; 32]],
    purpose: Category,
    line: Option<u64>,
) {
    render_answer(out, index, Some(hash), answer, ids, purpose, line, None);
}

/// Renders the answer to a near-matching check's item: as
/// [`render_full`], with `hash` null for an item without one, and the
/// `match` and `matched` members.
#[allow(clippy::too_many_arguments)]
pub fn render_item(
    out: &mut String,
    index: &ConsentIndex,
    item: &Item,
    answer: &ItemAnswer,
    ids: &[[u8; 32]],
    purpose: Category,
    line: Option<u64>,
) {
    render_answer(
        out,
        index,
        item.hash.as_ref(),
        &answer.answer,
        ids,
        purpose,
        line,
        Some(answer),
    );
}

#[allow(clippy::too_many_arguments)]
fn render_answer(
    out: &mut String,
    index: &ConsentIndex,
    hash: Option<&ContentHash>,
    answer: &Answer,
    ids: &[[u8; 32]],
    purpose: Category,
    line: Option<u64>,
    matched: Option<&ItemAnswer>,
) {
    out.push('{');
    if let Some(l) = line {
        let _ = write!(out, "\"line\":{l},");
    }
    out.push_str("\"hash\":");
    match hash {
        Some(h) => push_hash(out, h),
        None => out.push_str("null"),
    }
    let status = answer.status(purpose);
    let _ = write!(out, ",\"status\":\"{}\"", status.as_str());
    if let Some(m) = matched {
        items::render_match(out, m);
    }
    if !answer.registered {
        out.push_str(",\"registered\":false}");
        return;
    }
    let _ = write!(
        out,
        ",\"registered\":true,\"disputed\":{},\"consent\":",
        answer.disputed()
    );
    push_consent(out, &answer.effective);
    out.push_str(",\"statements\":[");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_hex(out, "", id);
    }
    out.push_str("],\"decided_by\":[");
    let mut first = true;
    for &n in &answer.current {
        let s = index.statement(n);
        if status != Status::Unknown && Status::of(&s.consent, purpose) == status {
            if !first {
                out.push(',');
            }
            first = false;
            push_hex(out, "", &s.id);
        }
    }
    out.push_str("],\"claimants\":[");
    for (i, &n) in answer.current.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&index.statement(n).claimant_json);
    }
    out.push_str("]}");
}

/// Renders one answer as a compact stream line (`{"line","hash","status"}`).
pub fn render_compact_line(out: &mut String, hash: &ContentHash, status: Status, line: u64) {
    let _ = write!(out, "{{\"line\":{line},\"hash\":");
    push_hash(out, hash);
    let _ = write!(out, ",\"status\":\"{}\"}}", status.as_str());
}

/// Renders a near-matching check's compact stream line
/// (`{"line","hash","status","match"}`).
pub fn render_compact_item(
    out: &mut String,
    item: &Item,
    answer: &ItemAnswer,
    status: Status,
    line: u64,
) {
    let _ = write!(out, "{{\"line\":{line},\"hash\":");
    match &item.hash {
        Some(h) => push_hash(out, h),
        None => out.push_str("null"),
    }
    let _ = write!(out, ",\"status\":\"{}\"", status.as_str());
    match answer.kind.as_str() {
        Some(k) => {
            let _ = write!(out, ",\"match\":\"{k}\"}}");
        }
        None => out.push_str(",\"match\":null}"),
    }
}

/// Answers near-matching `items` in `view`, feeding `digests`; calls
/// `each` with every item, its answer, its statement ids and its status,
/// in order.
pub fn answer_items<'i>(
    index: &ConsentIndex,
    view: View,
    purpose: Category,
    items: impl IntoIterator<Item = &'i Item>,
    digests: &mut AnswerDigests,
    mut each: impl FnMut(&Item, &ItemAnswer, &[[u8; 32]], Status),
) {
    for item in items {
        let answer = answer_item(index, view, item);
        let status = answer.answer.status(purpose);
        let ids = statement_ids(index, &answer.answer);
        digests.add_item(item, answer.kind, &answer.works, status, &ids);
        each(item, &answer, &ids, status);
    }
}

/// Answers `hashes` in `view`, feeding `digests`; calls `each` with every
/// hash, its answer, its statement ids and its status, in order.
pub fn answer_all<'h>(
    index: &ConsentIndex,
    view: View,
    purpose: Category,
    hashes: impl IntoIterator<Item = &'h ContentHash>,
    digests: &mut AnswerDigests,
    mut each: impl FnMut(&ContentHash, &Answer, &[[u8; 32]], Status),
) {
    for hash in hashes {
        let answer = index.answer(hash, view);
        let status = answer.status(purpose);
        let ids = statement_ids(index, &answer);
        digests.add(hash, status, &ids);
        each(hash, &answer, &ids, status);
    }
}
