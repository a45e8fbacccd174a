//! The works of the consent index: each registered work's 16-byte keyed
//! digest in a dense vector, the statements about it, and a hash table to
//! find it.
//!
//! A work is found by `BLAKE3-keyed(k, hash)[..16]`, `k` 32 random bytes
//! drawn when the index is made and never stored or shown. Half the bytes
//! of the hash itself, and no less safe: works are chosen by artists, but
//! without `k` nobody can choose two hashes with one digest, and among
//! honest ones two share a digest with probability below n²/2¹²⁹ (10⁻¹⁹
//! for ten billion works). The digest is uniform, so its first 8 bytes
//! are the table's hash and the table cannot be flooded with collisions.
//! The full hash stays in the store (and, for works with image codes, in
//! the near-duplicate search, which reports it).

use hashbrown::HashTable;

use crate::domain::ContentHash;

/// Marks a head that points into the link chain rather than at a statement.
pub(super) const LINKED: u32 = 1 << 31;
/// The end of a link chain.
const NIL: u32 = u32::MAX;

/// A work's key in the index.
pub(super) type Digest = [u8; 16];

/// Works and the statements about each.
pub(super) struct Works {
    secret: [u8; 32],
    pub(super) digests: Vec<Digest>,
    pub(super) heads: Vec<u32>,
    pub(super) links: Vec<(u32, u32)>,
    pub(super) table: HashTable<u32>,
}

/// The table's hash of a digest: its first 8 bytes (already uniform).
fn spread(d: &Digest) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

impl Works {
    pub(super) fn new() -> Self {
        let mut secret = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
        Self {
            secret,
            digests: Vec::new(),
            heads: Vec::new(),
            links: Vec::new(),
            table: HashTable::new(),
        }
    }

    /// The work's key: the first 16 bytes of its keyed BLAKE3 hash.
    pub(super) fn digest(&self, hash: &[u8; 32]) -> Digest {
        let full = blake3::keyed_hash(&self.secret, hash);
        let mut d = [0u8; 16];
        d.copy_from_slice(&full.as_bytes()[..16]);
        d
    }

    /// The digests of `works`, in order; on all cores for a long list.
    pub(super) fn digests_of(&self, works: &[ContentHash]) -> Vec<Digest> {
        use rayon::prelude::*;
        if works.len() < 128 {
            return works.iter().map(|w| self.digest(w.as_bytes())).collect();
        }
        works
            .par_iter()
            .with_min_len(64)
            .map(|w| self.digest(w.as_bytes()))
            .collect()
    }

    pub(super) fn find(&self, hash: &[u8; 32]) -> Option<u32> {
        self.find_digest(&self.digest(hash))
    }

    pub(super) fn find_digest(&self, d: &Digest) -> Option<u32> {
        self.table
            .find(spread(d), |&w| self.digests[w as usize] == *d)
            .copied()
    }

    pub(super) fn len(&self) -> usize {
        self.digests.len()
    }

    /// Grows by a quarter rather than doubling: the vectors are most of the
    /// index's memory.
    pub(super) fn reserve(&mut self, additional: usize) {
        let free = self.digests.capacity() - self.digests.len();
        if free < additional {
            let more = additional.max(self.digests.len() / 4);
            self.digests.reserve_exact(more);
            self.heads.reserve_exact(more);
        }
    }

    /// Makes room for `additional` more works in the vectors and the table.
    pub(super) fn reserve_all(&mut self, additional: usize) {
        self.reserve(additional);
        let digests = &self.digests;
        self.table
            .reserve(additional, |&x| spread(&digests[x as usize]));
    }

    /// Adds `statement` to the work with digest `d`, which
    /// [`Works::find_digest`] found at `found` (or not); returns the
    /// work's number.
    pub(super) fn add(&mut self, d: Digest, found: Option<u32>, statement: u32) -> u32 {
        match found {
            None => {
                let w = u32::try_from(self.digests.len()).unwrap_or(u32::MAX);
                self.reserve(1);
                self.digests.push(d);
                self.heads.push(statement);
                let digests = &self.digests;
                self.table
                    .insert_unique(spread(&d), w, |&x| spread(&digests[x as usize]));
                w
            }
            Some(w) => {
                let head = &mut self.heads[w as usize];
                let next = if *head & LINKED == 0 {
                    self.links.push((*head, NIL));
                    u32::try_from(self.links.len() - 1).unwrap_or(NIL)
                } else {
                    *head & !LINKED
                };
                self.links.push((statement, next));
                *head = LINKED | u32::try_from(self.links.len() - 1).unwrap_or(NIL);
                w
            }
        }
    }

    /// The statements about work `w`, newest first.
    pub(super) fn statements(&self, w: u32) -> impl Iterator<Item = u32> + '_ {
        let head = self.heads[w as usize];
        let (first, mut link) = if head & LINKED == 0 {
            (Some(head), NIL)
        } else {
            (None, head & !LINKED)
        };
        first.into_iter().chain(std::iter::from_fn(move || {
            if link == NIL {
                return None;
            }
            let (s, next) = self.links[link as usize];
            link = next;
            Some(s)
        }))
    }

    pub(super) fn memory(&self) -> usize {
        // The table holds 7/8 of its buckets; each bucket is a 4-byte slot
        // and a control byte.
        let buckets = (self.table.capacity() * 8 / 7).next_power_of_two();
        self.digests.capacity() * 16
            + self.heads.capacity() * 4
            + self.links.capacity() * 8
            + buckets * 5
    }
}
