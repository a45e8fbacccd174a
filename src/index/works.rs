//! The works of the consent index: each registered work's hash in a dense
//! vector, the statements about it, and a flood-resistant hash table to
//! find it.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::domain::ContentHash;

/// Marks a head that points into the link chain rather than at a statement.
pub(super) const LINKED: u32 = 1 << 31;
/// The end of a link chain.
const NIL: u32 = u32::MAX;

/// Works and the statements about each.
pub(super) struct Works {
    pub(super) hasher: RandomState,
    pub(super) hashes: Vec<[u8; 32]>,
    pub(super) heads: Vec<u32>,
    pub(super) links: Vec<(u32, u32)>,
    pub(super) table: HashTable<u32>,
}

impl Works {
    pub(super) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            hashes: Vec::new(),
            heads: Vec::new(),
            links: Vec::new(),
            table: HashTable::new(),
        }
    }

    pub(super) fn find(&self, hash: &[u8; 32]) -> Option<u32> {
        let h = self.hasher.hash_one(hash);
        self.table
            .find(h, |&w| self.hashes[w as usize] == *hash)
            .copied()
    }

    /// Grows by a quarter rather than doubling: the vectors are most of the
    /// index's memory.
    pub(super) fn reserve(&mut self, additional: usize) {
        let free = self.hashes.capacity() - self.hashes.len();
        if free < additional {
            let more = additional.max(self.hashes.len() / 4);
            self.hashes.reserve_exact(more);
            self.heads.reserve_exact(more);
        }
    }

    /// Adds `statement` to the work `hash`, which [`Works::find`] found at
    /// `found` (or not).
    pub(super) fn add(&mut self, hash: &ContentHash, found: Option<u32>, statement: u32) {
        let bytes = hash.as_bytes();
        match found {
            None => {
                let w = u32::try_from(self.hashes.len()).unwrap_or(u32::MAX);
                self.reserve(1);
                self.hashes.push(*bytes);
                self.heads.push(statement);
                let (hasher, hashes) = (&self.hasher, &self.hashes);
                self.table.insert_unique(hasher.hash_one(bytes), w, |&x| {
                    hasher.hash_one(hashes[x as usize])
                });
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
        self.hashes.capacity() * 32
            + self.heads.capacity() * 4
            + self.links.capacity() * 8
            + buckets * 5
    }
}
