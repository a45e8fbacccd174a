//! The payout statement and its log record (`spec/payouts.md` §6–§9): the
//! payloads the registry signs, what each says of itself, the artists'
//! lines stored for listing, and how two payouts differ. Signing and
//! computing from the consent index are [`crate::payouts`]'; the
//! arithmetic is [`super::compute`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::compute::Payout;
use crate::domain::ids::{is_builder_id, is_hex64};
use crate::domain::{Category, ContentHash, Timestamp};

/// Works one run report may list, at most.
pub const MAX_RUN_WORKS: usize = 1_000_000;
/// A run id's length, at most, in characters.
pub const MAX_RUN_ID_CHARS: usize = 128;
/// The statement format version this module writes and reads.
pub const STATEMENT_VERSION: u32 = 1;

/// Whether `id` is a run id: 1–128 of `A–Z a–z 0–9 . _ : -`, starting with
/// a letter or digit.
#[must_use]
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_RUN_ID_CHARS
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The log view a statement was computed in (`spec/receipt.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementView {
    /// The log's first `size` entries.
    pub size: u64,
    /// Revocations and statements received after this instant are ignored;
    /// absent: the state at `size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Timestamp>,
}

/// The used works, as a count and a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorksDigest {
    pub count: u64,
    /// Lowercase hex BLAKE3 of the works' 32-byte hashes, ascending.
    pub blake3: String,
}

impl WorksDigest {
    /// The digest of `works`, in any order (they are sorted first).
    #[must_use]
    pub fn of(works: &[ContentHash]) -> Self {
        let mut sorted: Vec<&ContentHash> = works.iter().collect();
        sorted.sort_unstable();
        let mut h = blake3::Hasher::new();
        for w in &sorted {
            h.update(w.as_bytes());
        }
        Self {
            count: works.len() as u64,
            blake3: h.finalize().to_hex().to_string(),
        }
    }
}

/// A payout statement: the payload the registry signs
/// (`application/vnd.consentry.payout-statement.v1+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutStatement {
    pub version: u32,
    /// The log's origin.
    pub log: String,
    pub builder: String,
    pub run_id: String,
    pub purpose: Category,
    /// The date the builder checked its data.
    pub checked_at: Timestamp,
    /// Where consent was read: the log's first `size` entries as of `as_of`.
    pub view: StatementView,
    /// Hex SHA-256 of the payload of the check receipt the report came
    /// with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    pub works: WorksDigest,
    pub issued_at: Timestamp,
    pub payout: Payout,
}

/// The log record of a payout statement
/// (`application/vnd.consentry.payout-record.v1+json`): the log commits to
/// the statement through it, whatever the statement's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutRecord {
    pub version: u32,
    /// The statement id: hex SHA-256 of the statement's payload.
    pub statement: String,
    pub builder: String,
    pub run_id: String,
    pub issued_at: Timestamp,
}

impl PayoutRecord {
    /// Parses and checks a record payload.
    ///
    /// # Errors
    /// What is wrong, in words.
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        let r: Self = serde_json::from_slice(payload).map_err(|e| format!("payout record: {e}"))?;
        if r.version != STATEMENT_VERSION {
            return Err(format!("unsupported payout record version {}", r.version));
        }
        if !is_hex64(&r.statement) {
            return Err("payout record: `statement` is 64 lowercase hex digits".into());
        }
        if !is_builder_id(&r.builder) || !valid_run_id(&r.run_id) {
            return Err("payout record: malformed `builder` or `run_id`".into());
        }
        Ok(r)
    }
}

impl PayoutStatement {
    /// Parses a statement payload of the log named `log` and checks what
    /// it says of itself: its version, its log, well-formed builder and run
    /// ids, and works that are the ones its digest names, each listed once.
    ///
    /// # Errors
    /// What is wrong, in words.
    pub fn parse(payload: &[u8], log: &str) -> Result<Self, String> {
        let s: Self =
            serde_json::from_slice(payload).map_err(|e| format!("statement payload: {e}"))?;
        if s.version != STATEMENT_VERSION {
            return Err(format!("unsupported statement version {}", s.version));
        }
        if s.log != log {
            return Err(format!(
                "the statement names log `{}`, the key is for `{log}`",
                s.log
            ));
        }
        if !is_builder_id(&s.builder) || !valid_run_id(&s.run_id) {
            return Err("statement payload: malformed `builder` or `run_id`".into());
        }
        let listed = s.listed_works();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("work {} is listed twice", w[0]));
        }
        if WorksDigest::of(&listed) != s.works {
            return Err(format!(
                "the statement lists {} works whose digest is not its `works` ({} works, {})",
                listed.len(),
                s.works.count,
                s.works.blake3
            ));
        }
        Ok(s)
    }

    /// Every used work the payout lists: artists' works, held and excluded.
    #[must_use]
    pub fn listed_works(&self) -> Vec<ContentHash> {
        let p = &self.payout;
        p.artists
            .iter()
            .flat_map(|a| a.works.iter().copied())
            .chain(p.held.iter().map(|h| h.hash))
            .chain(p.excluded.iter().map(|e| e.hash))
            .collect()
    }

    /// The stored summary of this statement, whose id is `statement_id` and
    /// whose record is at log index `record_seq`.
    #[must_use]
    pub fn summary(&self, statement_id: &str, record_seq: i64) -> PayoutSummary {
        PayoutSummary {
            statement_id: statement_id.to_owned(),
            record_seq,
            builder_id: self.builder.clone(),
            run_id: self.run_id.clone(),
            purpose: self.purpose.as_str().to_owned(),
            checked_at: self.checked_at,
            currency: self.payout.pool.currency.clone(),
            pool_minor: self.payout.pool.amount_minor,
            works: self.works.count,
            excluded: self.payout.excluded.len() as u64,
            issued_at: self.issued_at,
        }
    }

    /// What each artist is owed or has held, for the artists' listing.
    #[must_use]
    pub fn lines(&self) -> Vec<PayoutLine> {
        let mut lines: BTreeMap<&str, PayoutLine> = BTreeMap::new();
        for a in &self.payout.artists {
            let l = lines
                .entry(&a.artist_id)
                .or_insert_with(|| PayoutLine::new(&a.artist_id));
            l.works = a.works.len() as u64;
            l.revenue_share = a.revenue_share;
            l.shortfall = a.shortfall;
            l.flat_fees.clone_from(&a.flat_fees);
        }
        for h in &self.payout.held {
            for c in &h.claimants {
                lines
                    .entry(c)
                    .or_insert_with(|| PayoutLine::new(c))
                    .held_works += 1;
            }
        }
        lines.into_values().collect()
    }
}

/// A payout statement as stored (`payout_statements`), without its
/// payload and lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutSummary {
    pub statement_id: String,
    /// The log index of its payout record (0 until stored).
    pub record_seq: i64,
    pub builder_id: String,
    pub run_id: String,
    pub purpose: String,
    pub checked_at: Timestamp,
    pub currency: String,
    pub pool_minor: u64,
    pub works: u64,
    pub excluded: u64,
    pub issued_at: Timestamp,
}

/// One artist's line of one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutLine {
    pub artist_id: String,
    /// Works counted for the artist.
    pub works: u64,
    /// Disputed works the artist claims, held.
    pub held_works: u64,
    /// In the pool's currency.
    pub revenue_share: u64,
    pub shortfall: u64,
    pub flat_fees: BTreeMap<String, u64>,
}

impl PayoutLine {
    fn new(artist_id: &str) -> Self {
        Self {
            artist_id: artist_id.to_owned(),
            works: 0,
            held_works: 0,
            revenue_share: 0,
            shortfall: 0,
            flat_fees: BTreeMap::new(),
        }
    }
}

/// How a stated payout differs from a recomputed one, in words; empty when
/// they are equal.
#[must_use]
pub fn differences(stated: &Payout, log: &Payout) -> Vec<String> {
    let mut out = Vec::new();
    if stated.pool != log.pool {
        out.push("the pool differs".to_owned());
    }
    let by_artist = |p: &Payout| -> BTreeMap<String, super::compute::ArtistLine> {
        p.artists
            .iter()
            .map(|a| (a.artist_id.clone(), a.clone()))
            .collect()
    };
    let (s, l) = (by_artist(stated), by_artist(log));
    for id in s
        .keys()
        .chain(l.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (s.get(id), l.get(id)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                if a.works != b.works {
                    out.push(format!(
                        "artist {id}: the statement counts {} works, the log {}",
                        a.works.len(),
                        b.works.len()
                    ));
                }
                if a.revenue_share != b.revenue_share || a.shortfall != b.shortfall {
                    out.push(format!(
                        "artist {id}: the statement says revenue share {} (shortfall {}), the log {} (shortfall {})",
                        a.revenue_share, a.shortfall, b.revenue_share, b.shortfall
                    ));
                }
                if a.flat_fees != b.flat_fees {
                    out.push(format!(
                        "artist {id}: the statement says flat fees {:?}, the log {:?}",
                        a.flat_fees, b.flat_fees
                    ));
                }
            }
            (Some(_), None) => out.push(format!(
                "artist {id} is paid in the statement, not by the log"
            )),
            (None, _) => out.push(format!(
                "artist {id} is owed by the log, missing from the statement"
            )),
        }
    }
    if stated.held != log.held {
        out.push(format!(
            "held (disputed) works differ: the statement holds {}, the log {}",
            stated.held.len(),
            log.held.len()
        ));
    }
    if stated.excluded != log.excluded {
        let fmt = |p: &Payout| {
            p.excluded
                .iter()
                .map(|e| format!("{} {:?}", e.hash, e.status).to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push(format!(
            "excluded works differ: the statement [{}], the log [{}]",
            fmt(stated),
            fmt(log)
        ));
    }
    if stated.credits != log.credits {
        out.push("credits differ".to_owned());
    }
    if stated.minimums_ignored != log.minimums_ignored {
        out.push("ignored minimums differ".to_owned());
    }
    if stated.totals != log.totals {
        out.push(format!(
            "totals differ: the statement {:?}, the log {:?}",
            stated.totals, log.totals
        ));
    }
    out
}
