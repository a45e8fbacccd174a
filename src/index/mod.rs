//! The consent index: every statement, key and artist the log holds, kept
//! in memory in a form that answers "what is the effective consent of this
//! work, as the log of size N said it at instant T?" without a database
//! round trip.
//!
//! It is fed documents in log order ([`ConsentIndex::apply`]), by the
//! registry after each commit and by `consentry verify-receipt` from the
//! log's own entries, so both compute answers with this one engine.
//! Checks ([`crate::check`]), statistics and payouts all read it.
//!
//! Layout, per registered work: a 16-byte keyed digest of its hash in a
//! dense vector (see [`works`]: the process's secret key makes digests
//! collision-free in practice even for hashes chosen by an adversary), a
//! 4-byte head in a parallel vector, and a 4-byte slot (plus a control
//! byte) in a hash table on the digest: 25 to 31 bytes per work, against
//! 41 to 47 for the hash itself. A work named by one
//! statement stores that statement's number in its head; a work named by
//! several keeps a chain of 8-byte links, newest first. Statements, keys and
//! artists live in their own vectors (a statement names up to 500 works).

use std::collections::HashMap;

use crate::domain::claims::{resolve, Claim};
use crate::domain::keys::{key_changes, KeyChange};
use crate::domain::{Category, ConsentSet, ContentHash, Preference, Timestamp};
use crate::log::entry::EntryKind;

pub mod near;
mod parse;
pub mod shard;
mod works;
use near::NearIndex;
pub(crate) use parse::key_bytes;
pub use parse::{parse, Parsed};
pub use shard::Shard;
use works::{Works, LINKED};

/// A document the index cannot take: the log and the index disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log entry {index}: {reason}")]
pub struct IndexError {
    pub index: u64,
    pub reason: String,
}

/// Which state of the log an answer describes: the first `size` entries,
/// and of those only what was received at or before `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub size: u64,
    pub as_of: Option<Timestamp>,
}

impl View {
    fn sees(&self, seq: u64, received_at: Timestamp) -> bool {
        seq < self.size && self.as_of.is_none_or(|t| received_at <= t)
    }
}

/// The outcome of a check for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Allowed,
    Disallowed,
    Unknown,
}

impl Status {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Allowed => "allowed",
            Status::Disallowed => "disallowed",
            Status::Unknown => "unknown",
        }
    }

    /// The one-letter code of the compact response (`a`, `d`, `u`).
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Status::Allowed => b'a',
            Status::Disallowed => b'd',
            Status::Unknown => b'u',
        }
    }

    /// # Errors
    /// On anything but the three names.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "allowed" => Ok(Status::Allowed),
            "disallowed" => Ok(Status::Disallowed),
            "unknown" => Ok(Status::Unknown),
            other => Err(format!("unknown status `{other}`")),
        }
    }

    /// The status of `category` in `set`.
    #[must_use]
    pub fn of(set: &ConsentSet, category: Category) -> Self {
        match set.get(category) {
            Some(Preference::Allowed) => Status::Allowed,
            Some(Preference::Disallowed) => Status::Disallowed,
            None => Status::Unknown,
        }
    }
}

/// One statement as the index keeps it.
#[derive(Debug, Clone)]
pub struct StatementEntry {
    /// Its log index.
    pub seq: u64,
    pub received_at: Timestamp,
    pub issued_at: Timestamp,
    /// SHA-256 of the payload: the statement id.
    pub id: [u8; 32],
    pub consent: ConsentSet,
    artist: u32,
    key: u32,
    /// Works this statement names that its artist had never named before
    /// (new registrations, for upload statistics).
    pub new_works: u32,
    /// The claimant object of API answers, rendered once:
    /// `{"artist_id","display_name","statement_id","issued_at","received_at","consent","terms"}`.
    pub claimant_json: Box<str>,
}

#[derive(Debug, Clone)]
struct ArtistEntry {
    id: String,
    display_name: String,
}

#[derive(Debug, Clone, Copy)]
struct Revocation {
    seq: u64,
    received_at: Timestamp,
    effective_at: Timestamp,
}

#[derive(Debug, Clone)]
struct KeyEntry {
    artist: u32,
    /// The entry that added the key, and its receipt time.
    added_seq: u64,
    added_at: Timestamp,
    /// Every revocation of the key, in log order (a later one may bring the
    /// effective time forward).
    revocations: Vec<Revocation>,
}

/// What the index answers for one work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Whether the view holds any statement about the work.
    pub registered: bool,
    pub effective: ConsentSet,
    /// The current statements (one per claimant), by statement number, in log order.
    pub current: Vec<u32>,
}

impl Answer {
    #[must_use]
    pub fn status(&self, purpose: Category) -> Status {
        Status::of(&self.effective, purpose)
    }

    #[must_use]
    pub fn disputed(&self) -> bool {
        self.current.len() > 1
    }
}

/// One registered work an image code is near.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearWork {
    /// The work's number in the index.
    pub work: u32,
    pub hash: ContentHash,
    /// Bits in which the nearest of its codes differs from the query's.
    pub distance: u32,
}

/// The in-memory consent index.
pub struct ConsentIndex {
    size: u64,
    artists: Vec<ArtistEntry>,
    artist_nos: HashMap<String, u32>,
    keys: Vec<KeyEntry>,
    key_nos: HashMap<[u8; 32], u32>,
    statements: Vec<StatementEntry>,
    works: Works,
    /// Works newly named by an artist with a declared `published_at`, per
    /// (artist, day of publication): the `published` basis of statistics.
    published: HashMap<(u32, i64), u64>,
    /// Image codes of registered works, for near-duplicate search; entry
    /// `e` of the search is `near_owners[e]`: (work number, the statement
    /// that gave the code).
    near: NearIndex,
    near_owners: Vec<NearOwner>,
    /// Set on a shard: only works in its range are kept (statements, keys
    /// and artists are all kept).
    shard: Option<Shard>,
}

/// Whose image code an entry of the near-duplicate search is: the work
/// (its number, and its hash, which the index keeps only here), and the
/// statement that gave the code.
#[derive(Debug, Clone, Copy)]
struct NearOwner {
    work: u32,
    statement: u32,
    hash: [u8; 32],
}

/// Nanoseconds in a day.
const DAY_NANOS: i64 = 86_400_000_000_000;

/// Which instant of a registration counts as its upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadBasis {
    /// The registry's receipt time of the first statement naming the work.
    Registered,
    /// The artist-declared `published_at` (works without one are left out).
    Published,
}

impl Default for ConsentIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ConsentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentIndex")
            .field("size", &self.size)
            .field("works", &self.works.len())
            .field("statements", &self.statements.len())
            .finish_non_exhaustive()
    }
}

/// Memory the index holds, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Footprint {
    pub works: usize,
    pub statements: usize,
    /// Bytes held per work (hashes, heads, links, table slots).
    pub work_bytes: usize,
    /// Bytes held for statements, keys and artists.
    pub statement_bytes: usize,
}

impl ConsentIndex {
    #[must_use]
    pub fn new() -> Self {
        Self {
            size: 0,
            artists: Vec::new(),
            artist_nos: HashMap::new(),
            keys: Vec::new(),
            key_nos: HashMap::new(),
            statements: Vec::new(),
            works: Works::new(),
            published: HashMap::new(),
            near: NearIndex::new(),
            near_owners: Vec::new(),
            shard: None,
        }
    }

    /// An index that keeps only the works `shard` holds. Its answers for
    /// those works are the whole index's; it answers no other work, and
    /// its upload statistics and near matches cover its works alone.
    #[must_use]
    pub fn for_shard(shard: Option<Shard>) -> Self {
        Self {
            shard,
            ..Self::new()
        }
    }

    /// The shard this index holds, if it holds one.
    #[must_use]
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// How many log entries the index has taken.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes room for `works` more works.
    pub fn reserve_works(&mut self, works: usize) {
        self.works.reserve_all(works);
    }

    /// Takes log entry `seq` (which must be the next one): parses and applies it.
    ///
    /// # Errors
    /// When the entry is out of order, does not parse, or refers to an
    /// artist or key the index does not know.
    pub fn apply(
        &mut self,
        seq: u64,
        kind: EntryKind,
        received_at: Timestamp,
        payload: &[u8],
    ) -> Result<(), IndexError> {
        let parsed = parse(kind, payload).map_err(|reason| IndexError { index: seq, reason })?;
        self.apply_parsed(seq, received_at, parsed)
    }

    /// Takes log entry `index` as the log serves it (`spec/log.md` §2).
    ///
    /// # Errors
    /// As [`ConsentIndex::apply`], or when the entry does not decode.
    pub fn apply_entry(&mut self, index: u64, bytes: &[u8]) -> Result<(), IndexError> {
        let e = crate::log::entry::decode(bytes).map_err(|err| IndexError {
            index,
            reason: err.to_string(),
        })?;
        let received_at =
            Timestamp::from_unix_nanos(i64::try_from(e.received_at).unwrap_or(i64::MAX));
        self.apply(index, e.kind, received_at, &e.payload)
    }

    /// Applies a document parsed by [`parse`].
    ///
    /// # Errors
    /// As [`ConsentIndex::apply`].
    pub fn apply_parsed(
        &mut self,
        seq: u64,
        received_at: Timestamp,
        parsed: Parsed,
    ) -> Result<(), IndexError> {
        let fail = |reason: String| IndexError { index: seq, reason };
        if seq != self.size {
            return Err(fail(format!("expected entry {} next", self.size)));
        }
        match parsed {
            Parsed::Artist {
                id,
                display_name,
                key,
            } => {
                let no = u32::try_from(self.artists.len()).map_err(|e| fail(e.to_string()))?;
                self.artist_nos.insert(id.clone(), no);
                self.artists.push(ArtistEntry { id, display_name });
                self.add_key(key, no, seq, received_at).map_err(fail)?;
            }
            Parsed::KeyEvent(ev) => {
                let artist = *self
                    .artist_nos
                    .get(&ev.artist)
                    .ok_or_else(|| fail(format!("unknown artist {}", ev.artist)))?;
                let key = key_bytes(&ev.key).map_err(fail)?;
                let replaces = ev
                    .replaces
                    .as_deref()
                    .map(key_bytes)
                    .transpose()
                    .map_err(fail)?;
                for change in key_changes(
                    ev.action,
                    &key,
                    replaces.as_ref(),
                    ev.effective_at,
                    received_at,
                ) {
                    match change {
                        KeyChange::Added(key) => {
                            self.add_key(key, artist, seq, received_at).map_err(fail)?;
                        }
                        KeyChange::Revoked { key, effective_at } => {
                            self.revoke(key, seq, received_at, effective_at)
                                .map_err(fail)?;
                        }
                    }
                }
            }
            Parsed::Statement {
                id,
                key,
                issued_at,
                consent,
                works,
                published,
                codes,
                terms,
            } => {
                let key_no = *self
                    .key_nos
                    .get(&key)
                    .ok_or_else(|| fail("statement signed by an unknown key".into()))?;
                let artist = self.keys[key_no as usize].artist;
                let a = &self.artists[artist as usize];
                let claimant = serde_json::json!({
                    "artist_id": a.id,
                    "display_name": a.display_name,
                    "statement_id": hex::encode(id),
                    "issued_at": issued_at,
                    "received_at": received_at,
                    "consent": consent.to_json(),
                    "terms": terms,
                });
                let no = u32::try_from(self.statements.len())
                    .ok()
                    .filter(|n| n & LINKED == 0)
                    .ok_or_else(|| fail("too many statements for the index".into()))?;
                // Index the works, counting those this artist names for
                // the first time.
                let mut new_works = 0u32;
                let mut work_nos =
                    Vec::with_capacity(if codes.is_empty() { 0 } else { works.len() });
                self.works.reserve(works.len());
                let digests = self.works.digests_of(&works);
                for ((w, p), digest) in works.iter().zip(&published).zip(digests) {
                    if self.shard.is_some_and(|sh| !sh.holds(w)) {
                        if !codes.is_empty() {
                            // Its codes (matched by position) are not kept.
                            work_nos.push(u32::MAX);
                        }
                        continue;
                    }
                    let found = self.works.find_digest(&digest);
                    let seen = found.is_some_and(|wi| {
                        self.works
                            .statements(wi)
                            .any(|s| self.statements[s as usize].artist == artist)
                    });
                    if !seen {
                        new_works += 1;
                        if let Some(p) = p {
                            let day = p.unix_nanos().div_euclid(DAY_NANOS) * DAY_NANOS;
                            *self.published.entry((artist, day)).or_default() += 1;
                        }
                    }
                    let work = self.works.add(digest, found, no);
                    if !codes.is_empty() {
                        work_nos.push(work);
                    }
                }
                for (at, code) in codes {
                    let Some(&work) = work_nos.get(at as usize).filter(|&&w| w != u32::MAX) else {
                        continue;
                    };
                    let entry = u32::try_from(self.near_owners.len())
                        .map_err(|_| fail("too many image codes for the index".into()))?;
                    self.near_owners.push(NearOwner {
                        work,
                        statement: no,
                        hash: *works[at as usize].as_bytes(),
                    });
                    self.near.insert(code, entry);
                }
                self.statements.push(StatementEntry {
                    seq,
                    received_at,
                    issued_at,
                    id,
                    consent,
                    artist,
                    key: key_no,
                    new_works,
                    claimant_json: claimant.to_string().into_boxed_str(),
                });
            }
            Parsed::Payout => {}
        }
        self.size += 1;
        Ok(())
    }

    fn add_key(
        &mut self,
        key: [u8; 32],
        artist: u32,
        added_seq: u64,
        added_at: Timestamp,
    ) -> Result<(), String> {
        let no = u32::try_from(self.keys.len()).map_err(|e| e.to_string())?;
        if self.key_nos.insert(key, no).is_some() {
            return Err("key registered twice".into());
        }
        self.keys.push(KeyEntry {
            artist,
            added_seq,
            added_at,
            revocations: Vec::new(),
        });
        Ok(())
    }

    /// Every key the log gave, as the `artist_keys` table must hold it:
    /// `(key, artist id, added seq, added at, revoked at)`, where the
    /// revocation time is the earliest any revocation made effective.
    pub fn key_rows(
        &self,
    ) -> impl Iterator<Item = ([u8; 32], &str, u64, Timestamp, Option<Timestamp>)> + '_ {
        self.key_nos.iter().map(|(key, no)| {
            let k = &self.keys[*no as usize];
            (
                *key,
                self.artists[k.artist as usize].id.as_str(),
                k.added_seq,
                k.added_at,
                k.revocations.iter().map(|r| r.effective_at).min(),
            )
        })
    }

    fn revoke(
        &mut self,
        key: [u8; 32],
        seq: u64,
        received_at: Timestamp,
        effective_at: Timestamp,
    ) -> Result<(), String> {
        let no = self
            .key_nos
            .get(&key)
            .ok_or_else(|| "revocation of an unknown key".to_owned())?;
        self.keys[*no as usize].revocations.push(Revocation {
            seq,
            received_at,
            effective_at,
        });
        Ok(())
    }

    /// When `key` stops counting, as far as `view` knows.
    fn revoked_at(&self, key: u32, view: View) -> Option<Timestamp> {
        self.keys[key as usize]
            .revocations
            .iter()
            .filter(|r| view.sees(r.seq, r.received_at))
            .map(|r| r.effective_at)
            .min()
    }

    /// The effective consent of `hash` in `view`.
    #[must_use]
    pub fn answer(&self, hash: &ContentHash, view: View) -> Answer {
        let unknown = Answer {
            registered: false,
            effective: ConsentSet::default(),
            current: Vec::new(),
        };
        let Some(w) = self.works.find(hash.as_bytes()) else {
            return unknown;
        };
        let mut statements = self.works.statements(w);
        let first = statements.next();
        if let (Some(only), None) = (first, statements.next()) {
            // The common case: one statement names the work.
            let s = &self.statements[only as usize];
            if !view.sees(s.seq, s.received_at) {
                return unknown;
            }
            let valid = self
                .revoked_at(s.key, view)
                .is_none_or(|r| s.received_at < r);
            return Answer {
                registered: true,
                effective: if valid {
                    s.consent
                } else {
                    ConsentSet::default()
                },
                current: if valid { vec![only] } else { Vec::new() },
            };
        }
        // Several statements: the same resolution as the work's history.
        let mut nos: Vec<u32> = self
            .works
            .statements(w)
            .filter(|&n| {
                let s = &self.statements[n as usize];
                view.sees(s.seq, s.received_at)
            })
            .collect();
        if nos.is_empty() {
            return unknown;
        }
        nos.sort_unstable();
        let claims: Vec<Claim<'_>> = nos
            .iter()
            .map(|&n| {
                let s = &self.statements[n as usize];
                Claim {
                    artist_id: &self.artists[s.artist as usize].id,
                    issued_at: s.issued_at,
                    seq: i64::try_from(s.seq).unwrap_or(i64::MAX),
                    received_at: s.received_at,
                    key_revoked_at: self.revoked_at(s.key, view),
                    consent: s.consent,
                }
            })
            .collect();
        let resolution = resolve(&claims);
        Answer {
            registered: true,
            effective: resolution.effective,
            current: resolution.current.iter().map(|&i| nos[i]).collect(),
        }
    }

    /// The registered works with an image code within `radius` bits of
    /// `code` (its first 64 bits), as `view` sees them: a code counts when
    /// the statement that gave it is in the view and counts there (its key
    /// not revoked at its receipt). Nearest first, ties by work number;
    /// each work once, with its nearest code's distance.
    #[must_use]
    pub fn near(&self, code: u64, radius: u32, view: View) -> Vec<NearWork> {
        let mut out: Vec<NearWork> = Vec::new();
        self.near.search(code, radius, |entry, distance| {
            let Some(&NearOwner {
                work,
                statement: no,
                hash,
            }) = self.near_owners.get(entry as usize)
            else {
                return;
            };
            let s = &self.statements[no as usize];
            let counts = view.sees(s.seq, s.received_at)
                && self
                    .revoked_at(s.key, view)
                    .is_none_or(|r| s.received_at < r);
            if !counts {
                return;
            }
            match out.iter_mut().find(|n| n.work == work) {
                Some(n) => n.distance = n.distance.min(distance),
                None => out.push(NearWork {
                    work,
                    hash: ContentHash::from_bytes(hash),
                    distance,
                }),
            }
        });
        out.sort_unstable_by_key(|n| (n.distance, n.work));
        out
    }

    /// Stops the near-duplicate search from packing its codes as they are
    /// added, until [`ConsentIndex::pack_near`]: for a bulk load.
    pub fn defer_near_packing(&mut self) {
        self.near.defer_packing();
    }

    /// Packs the near-duplicate search's codes (see [`near`]): after a bulk
    /// load.
    pub fn pack_near(&mut self) {
        self.near.pack();
    }

    /// How many image codes the index holds, and their bytes.
    #[must_use]
    pub fn near_footprint(&self) -> (usize, usize) {
        (
            self.near.len(),
            self.near.memory() + self.near_owners.capacity() * std::mem::size_of::<NearOwner>(),
        )
    }

    /// Upload events for statistics: (artist number, instant, uploads). For
    /// `Registered`, one per statement that newly names works, at its
    /// receipt time; for `Published`, one per (artist, day of declared
    /// publication). Works an artist names again are not counted again.
    #[must_use]
    pub fn upload_events(&self, basis: UploadBasis) -> Vec<(u32, Timestamp, u64)> {
        match basis {
            UploadBasis::Registered => self
                .statements
                .iter()
                .filter(|s| s.new_works > 0)
                .map(|s| (s.artist, s.received_at, u64::from(s.new_works)))
                .collect(),
            UploadBasis::Published => self
                .published
                .iter()
                .map(|(&(a, day), &n)| (a, Timestamp::from_unix_nanos(day), n))
                .collect(),
        }
    }

    /// A statement by number (from [`Answer::current`]).
    #[must_use]
    pub fn statement(&self, no: u32) -> &StatementEntry {
        &self.statements[no as usize]
    }

    /// The id of the artist who made statement `no`.
    #[must_use]
    pub fn statement_artist(&self, no: u32) -> &str {
        &self.artists[self.statements[no as usize].artist as usize].id
    }

    /// Memory held, by part.
    #[must_use]
    pub fn footprint(&self) -> Footprint {
        let statement_bytes = self.statements.capacity() * std::mem::size_of::<StatementEntry>()
            + self
                .statements
                .iter()
                .map(|s| s.claimant_json.len())
                .sum::<usize>()
            + self.keys.capacity() * (std::mem::size_of::<KeyEntry>() + 32 + 4)
            + self
                .artists
                .iter()
                .map(|a| a.id.len() * 2 + a.display_name.len() + 64)
                .sum::<usize>();
        Footprint {
            works: self.works.len(),
            statements: self.statements.len(),
            work_bytes: self.works.memory(),
            statement_bytes,
        }
    }
}
