//! Check items that may carry image codes, and how each is matched: by its
//! hash (`exact`), by a registered work's image code within the registry's
//! threshold (`near`), or not at all (`docs/matching.md`,
//! `spec/receipt.md` §4.3).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Serialize;

use crate::domain::fingerprint::{ImageCode, ISCC_IMAGE, MATCH_BITS};
use crate::domain::{ConsentSet, ContentHash};
use crate::index::{Answer, ConsentIndex, View};

/// Image codes one check item may carry, at most.
pub const MAX_ITEM_CODES: usize = 8;
/// Near works one answer reports, at most (the nearest).
pub const MAX_NEAR_WORKS: usize = 16;

/// The registry's matching rule: published at `GET /v1/matching` and
/// recorded in every receipt of a near-matching check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matching {
    pub algorithm: Cow<'static, str>,
    /// Bits of each code compared (the first ones).
    pub bits: u32,
    /// Two codes are near when they differ in at most this many of them.
    pub max_distance: u32,
}

/// The rule this registry applies (the threshold is calibrated in
/// `docs/matching.md`).
pub const MATCHING: Matching = Matching {
    algorithm: Cow::Borrowed(ISCC_IMAGE),
    bits: MATCH_BITS,
    max_distance: 6,
};

/// One thing a builder asks about: the hash of a file's bytes, its image
/// codes, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    pub hash: Option<ContentHash>,
    pub codes: Vec<ImageCode>,
}

/// How an item was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// Its hash names a registered work.
    Exact,
    /// One of its codes is near a registered work's code.
    Near,
    /// Neither.
    None,
}

impl MatchKind {
    /// The byte of the answer record (`spec/receipt.md` §4.3).
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            MatchKind::Exact => b'e',
            MatchKind::Near => b'n',
            MatchKind::None => b'-',
        }
    }

    /// The kind [`MatchKind::as_str`] names: `exact` or `near`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "exact" => Some(MatchKind::Exact),
            "near" => Some(MatchKind::Near),
            _ => None,
        }
    }

    #[must_use]
    pub const fn as_str(self) -> Option<&'static str> {
        match self {
            MatchKind::Exact => Some("exact"),
            MatchKind::Near => Some("near"),
            MatchKind::None => None,
        }
    }
}

/// The answer to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemAnswer {
    pub kind: MatchKind,
    /// The works that answered, with the distance of their nearest code
    /// (0 for an exact match): nearest first, ties by hash.
    pub works: Vec<(ContentHash, u32)>,
    /// The consent: the work's for an exact match; for near matches, the
    /// works' effective consents combined (any disallowed wins, else any
    /// allowed) and all their current statements.
    pub answer: Answer,
}

/// Answers one item in `view`: by its hash when that is registered, else
/// by its codes.
#[must_use]
pub fn answer_item(index: &ConsentIndex, view: View, item: &Item) -> ItemAnswer {
    if let Some(hash) = &item.hash {
        let answer = index.answer(hash, view);
        if answer.registered {
            return ItemAnswer {
                kind: MatchKind::Exact,
                works: vec![(*hash, 0)],
                answer,
            };
        }
    }
    let mut found: Vec<(u32, ContentHash, u32)> = Vec::new();
    for code in item.codes.iter().filter(|c| !c.is_featureless()) {
        for n in index.near(code.prefix(), MATCHING.max_distance, view) {
            match found.iter_mut().find(|(w, _, _)| *w == n.work) {
                Some(f) => f.2 = f.2.min(n.distance),
                None => found.push((n.work, n.hash, n.distance)),
            }
        }
    }
    let mut works: Vec<(ContentHash, u32)> = found.iter().map(|&(_, h, d)| (h, d)).collect();
    works.sort_unstable_by(|a, b| (a.1, a.0.as_bytes()).cmp(&(b.1, b.0.as_bytes())));
    works.truncate(MAX_NEAR_WORKS);
    if works.is_empty() {
        return ItemAnswer {
            kind: MatchKind::None,
            works,
            answer: Answer {
                registered: false,
                effective: ConsentSet::default(),
                current: Vec::new(),
            },
        };
    }
    let answers: Vec<Answer> = works.iter().map(|(h, _)| index.answer(h, view)).collect();
    let effective = ConsentSet::combine(answers.iter().map(|a| &a.effective));
    let mut current: Vec<u32> = answers
        .iter()
        .flat_map(|a| a.current.iter().copied())
        .collect();
    current.sort_unstable();
    current.dedup();
    ItemAnswer {
        kind: MatchKind::Near,
        works,
        answer: Answer {
            registered: true,
            effective,
            current,
        },
    }
}

impl From<ContentHash> for Item {
    /// An item asked by its hash alone.
    fn from(hash: ContentHash) -> Self {
        Self {
            hash: Some(hash),
            codes: Vec::new(),
        }
    }
}

impl Item {
    /// Whether a check by hash alone (`match` `exact`) can take the item:
    /// a hash, and no fingerprints.
    #[must_use]
    pub fn is_hash_only(&self) -> bool {
        self.hash.is_some() && self.codes.is_empty()
    }
}

/// Parses one item's fingerprints: those of [`ISCC_IMAGE`] become codes.
///
/// # Errors
/// A message naming the fingerprint: an unknown algorithm, a malformed
/// code, or more than [`MAX_ITEM_CODES`].
pub fn parse_codes<'a>(
    fingerprints: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<ImageCode>, String> {
    let mut codes = Vec::new();
    for (i, (algorithm, value)) in fingerprints.into_iter().enumerate() {
        if i >= MAX_ITEM_CODES {
            return Err(format!(
                "an item carries at most {MAX_ITEM_CODES} fingerprints"
            ));
        }
        if algorithm != ISCC_IMAGE {
            return Err(format!(
                "fingerprints[{i}]: unknown algorithm `{}`; checks match {ISCC_IMAGE}",
                algorithm.chars().take(64).collect::<String>()
            ));
        }
        codes.push(ImageCode::parse(value).map_err(|e| format!("fingerprints[{i}]: {e}"))?);
    }
    Ok(codes)
}

/// Appends the `"match"` member and, for matches, `"matched"` (the works
/// with their distances) to an answer object being rendered.
pub fn render_match(out: &mut String, a: &ItemAnswer) {
    match a.kind.as_str() {
        None => out.push_str(",\"match\":null"),
        Some(kind) => {
            let _ = write!(out, ",\"match\":\"{kind}\",\"matched\":[");
            for (i, (hash, d)) in a.works.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{{\"hash\":\"{hash}\",\"distance\":{d}}}");
            }
            out.push(']');
        }
    }
}
