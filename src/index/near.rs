//! Near-duplicate search over 64-bit image codes: multi-index hashing
//! (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
//! Multi-Index Hashing", CVPR 2012).
//!
//! Each code is cut into four chunks (of 17, 17, 17 and 13 bits), and each
//! chunk indexes the code in its own table. Two codes within distance `r`
//! agree closely on at least one chunk: writing `r = 4q + a`, one of the
//! first `a + 1` chunks is within `q` bits or one of the others within
//! `q − 1` (the paper's Proposition 2: the chunks' radii plus one sum to
//! `r + 1`, whatever their sizes). A search probes exactly those
//! neighbourhoods and checks the full distance of every code it finds
//! there, so it returns every code within `r` and no other: it is exact,
//! not approximate. At the registry's radius of 6 the three 17-bit chunks
//! are probed within 1 bit and the 13-bit one exactly: 55 buckets, about
//! 5,300 codes at ten million, fewer than with four 16-bit chunks (52
//! buckets, about 8,000 codes).
//!
//! A bucket of chunk `i` holds, for each of its codes, the 32 bits after
//! chunk `i` (a filter) and the code's slot. A probe scans the filters,
//! contiguous 4-byte words: a code within `r` of the query has its filter
//! within `r` minus the probe's own distance, which only about three in ten
//! thousand unrelated codes pass. Only those are looked up in full.
//!
//! What bounds a search at millions of codes is memory, not arithmetic:
//! each bucket is a random place in hundreds of megabytes. So most codes
//! are *packed*: each table is one array of filters sorted by bucket, with
//! the buckets' starts beside it, and a search first looks up where all
//! its buckets are and touches every cache line of them, so that the
//! memory system fetches them together, then scans them. Codes inserted
//! since the last packing sit in growable buckets, scanned the same way;
//! they are packed when they outnumber an eighth of the packed ones (or on
//! [`NearIndex::pack`]), so inserting stays amortised O(1).
//!
//! Chosen over a BK- or VP-tree because its cost does not grow with the
//! depth of a tree and its cost at a radius is predictable: a sum over the
//! chunks of `C(bits, ≤ radius)` bucket scans of `n / 2^bits` filters.

/// Chunks per code.
const CHUNKS: usize = 4;
/// Bits of each chunk, from the code's most significant bit.
const CHUNK_BITS: [u32; CHUNKS] = [17, 17, 17, 13];

/// Where chunk `i` ends, in bits from the code's most significant bit.
const fn chunk_end(i: usize) -> u32 {
    let mut end = 0;
    let mut j = 0;
    while j <= i {
        end += CHUNK_BITS[j];
        j += 1;
    }
    end
}

/// Buckets of chunk `i`'s table.
const fn buckets(i: usize) -> usize {
    1 << CHUNK_BITS[i]
}
/// Unpacked codes never trigger a packing below this many.
const MIN_UNPACKED: usize = 1 << 16;

/// A growable bucket of unpacked codes.
#[derive(Debug, Default, Clone)]
struct Bucket {
    /// The 32 bits after this table's chunk, per code.
    filters: Vec<u32>,
    /// Where each code is in [`NearIndex::codes`].
    slots: Vec<u32>,
}

/// One chunk's table over the packed codes: bucket `k` is
/// `filters[starts[k]..starts[k + 1]]`, and the same range of `slots`.
#[derive(Debug, Clone, Default)]
struct Packed {
    starts: Vec<u32>,
    filters: Vec<u32>,
    slots: Vec<u32>,
}

impl Packed {
    /// Chunk `i`'s table over `codes` (all of them fit in `u32` slots).
    fn build(codes: &[u64], i: usize) -> Self {
        let mut starts = vec![0u32; buckets(i) + 1];
        for &c in codes {
            starts[chunk(c, i) + 1] += 1;
        }
        for k in 0..buckets(i) {
            starts[k + 1] += starts[k];
        }
        let mut next = starts.clone();
        let mut filters = vec![0u32; codes.len()];
        let mut slots = vec![0u32; codes.len()];
        for (slot, &c) in codes.iter().enumerate() {
            let k = chunk(c, i);
            let at = next[k] as usize;
            next[k] += 1;
            filters[at] = filter(c, i);
            #[allow(clippy::cast_possible_truncation)] // inserts stop at u32::MAX
            let slot = slot as u32;
            slots[at] = slot;
        }
        Self {
            starts,
            filters,
            slots,
        }
    }

    /// Where bucket `k` is in `filters` and `slots`.
    fn bucket(&self, k: usize) -> std::ops::Range<usize> {
        match (self.starts.get(k), self.starts.get(k + 1)) {
            (Some(&s), Some(&e)) => s as usize..e as usize,
            _ => 0..0,
        }
    }
}

/// The codes, each with the entry number the caller gave it.
#[derive(Debug, Clone, Default)]
pub struct NearIndex {
    /// Tables over `codes[..packed_len]`.
    packed: [Packed; CHUNKS],
    packed_len: usize,
    /// Tables over `codes[packed_len..]` (empty until the first such code).
    unpacked: Vec<Vec<Bucket>>,
    /// Whether inserts pack when the unpacked codes grow (see the module
    /// documentation); off during a bulk load, which packs once at its end.
    deferred: bool,
    codes: Vec<u64>,
    entries: Vec<u32>,
}

fn chunk(code: u64, i: usize) -> usize {
    #[allow(clippy::cast_possible_truncation)] // at most 17 bits
    let k = ((code >> (64 - chunk_end(i))) & ((1 << CHUNK_BITS[i]) - 1)) as usize;
    k
}

/// The 32 bits of `code` after chunk `i` (cyclically).
fn filter(code: u64, i: usize) -> u32 {
    #[allow(clippy::cast_possible_truncation)] // the top 32 bits
    let f = (code.rotate_left(chunk_end(i)) >> 32) as u32;
    f
}

/// The radius chunk `i` is probed at, for `radius = 4q + a`: `q` for the
/// first `a + 1` chunks, `q − 1` for the others (none when `q` is 0).
fn chunk_radius(i: usize, q: u32, a: usize) -> Option<u32> {
    if i <= a {
        Some(q)
    } else {
        q.checked_sub(1)
    }
}

/// Calls `hit(k)` for every `k` with `filters[k]` within `limit` bits of
/// `want`. Blocks of eight are tested as a whole first: a hit is rare, so
/// a block is almost always passed over at once (measured faster than a
/// test per filter).
#[inline]
fn scan(filters: &[u32], want: u32, limit: u32, mut hit: impl FnMut(usize)) {
    let blocks = filters.chunks_exact(8);
    let tail = blocks.remainder();
    for (b, block) in blocks.enumerate() {
        let any = block
            .iter()
            .fold(false, |any, &f| any | ((f ^ want).count_ones() <= limit));
        if any {
            for (j, &f) in block.iter().enumerate() {
                if (f ^ want).count_ones() <= limit {
                    hit(b * 8 + j);
                }
            }
        }
    }
    let base = filters.len() - tail.len();
    for (j, &f) in tail.iter().enumerate() {
        if (f ^ want).count_ones() <= limit {
            hit(base + j);
        }
    }
}

impl NearIndex {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many codes it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Adds `code` as entry `entry`. Holds at most `u32::MAX` codes; more
    /// are ignored.
    pub fn insert(&mut self, code: u64, entry: u32) {
        let Ok(slot) = u32::try_from(self.codes.len()) else {
            return;
        };
        if self.unpacked.is_empty() {
            self.unpacked = (0..CHUNKS)
                .map(|i| vec![Bucket::default(); buckets(i)])
                .collect();
        }
        for (i, table) in self.unpacked.iter_mut().enumerate() {
            let b = &mut table[chunk(code, i)];
            b.filters.push(filter(code, i));
            b.slots.push(slot);
        }
        self.codes.push(code);
        self.entries.push(entry);
        let unpacked = self.codes.len() - self.packed_len;
        if !self.deferred && unpacked > MIN_UNPACKED.max(self.packed_len / 8) {
            self.pack();
        }
    }

    /// Stops inserts from packing until the next [`NearIndex::pack`]: for a
    /// bulk load, which then packs once.
    pub fn defer_packing(&mut self) {
        self.deferred = true;
    }

    /// Packs every code (see the module documentation), and lets inserts
    /// pack again.
    pub fn pack(&mut self) {
        self.deferred = false;
        if self.packed_len == self.codes.len() {
            return;
        }
        let codes = &self.codes;
        self.packed = std::thread::scope(|s| {
            let tables: Vec<_> = (0..CHUNKS)
                .map(|i| s.spawn(move || Packed::build(codes, i)))
                .collect();
            let mut out: [Packed; CHUNKS] = Default::default();
            for (o, t) in out.iter_mut().zip(tables) {
                *o = t.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            }
            out
        });
        self.packed_len = self.codes.len();
        self.unpacked = Vec::new();
    }

    /// Calls `found(entry, distance)` for every code within `radius` bits
    /// of `query`, each once.
    pub fn search(&self, query: u64, radius: u32, mut found: impl FnMut(u32, u32)) {
        let q = radius / CHUNKS as u32;
        let a = (radius % CHUNKS as u32) as usize;
        let mut check = |i: usize, slot: u32| {
            let slot = slot as usize;
            let code = self.codes[slot];
            let d = (code ^ query).count_ones();
            // Report a code from the first chunk that can find it, so that
            // each is reported once.
            if d <= radius && first_finder(code, query, q, a) == i {
                found(self.entries[slot], d);
            }
        };
        // The packed buckets: where they are, then a touch of each (the
        // loads are independent, so they overlap), then the scans.
        let mut spans: Vec<(usize, std::ops::Range<usize>, u32)> = Vec::with_capacity(64);
        for (i, t) in self.packed.iter().enumerate() {
            let Some(r) = chunk_radius(i, q, a) else {
                continue;
            };
            for_each_within(chunk(query, i), CHUNK_BITS[i], r, |k, d| {
                let span = t.bucket(k);
                if !span.is_empty() {
                    spans.push((i, span, radius - d));
                }
            });
        }
        let mut touched = 0u32;
        for (i, span, _) in &spans {
            for f in self.packed[*i].filters[span.clone()].iter().step_by(16) {
                touched ^= f;
            }
        }
        std::hint::black_box(touched);
        for (i, span, limit) in spans {
            let t = &self.packed[i];
            let slots = &t.slots[span.clone()];
            scan(&t.filters[span], filter(query, i), limit, |j| {
                check(i, slots[j]);
            });
        }
        // The unpacked ones.
        for (i, table) in self.unpacked.iter().enumerate() {
            let Some(r) = chunk_radius(i, q, a) else {
                continue;
            };
            let want = filter(query, i);
            for_each_within(chunk(query, i), CHUNK_BITS[i], r, |k, d| {
                let b = &table[k];
                scan(&b.filters, want, radius - d, |j| check(i, b.slots[j]));
            });
        }
    }

    /// Bytes held.
    #[must_use]
    pub fn memory(&self) -> usize {
        let packed: usize = self
            .packed
            .iter()
            .map(|p| (p.starts.capacity() + p.filters.capacity() + p.slots.capacity()) * 4)
            .sum();
        let unpacked: usize = self
            .unpacked
            .iter()
            .flatten()
            .map(|b| {
                (b.filters.capacity() + b.slots.capacity()) * 4 + std::mem::size_of::<Bucket>()
            })
            .sum();
        packed + unpacked + self.codes.capacity() * 8 + self.entries.capacity() * 4
    }
}

/// The first chunk whose probe set holds `code` when searching for `query`.
fn first_finder(code: u64, query: u64, q: u32, a: usize) -> usize {
    for i in 0..CHUNKS {
        let d = ((chunk(code, i) ^ chunk(query, i)) as u64).count_ones();
        if chunk_radius(i, q, a).is_some_and(|l| d <= l) {
            return i;
        }
    }
    CHUNKS
}

/// Calls `f(k, d)` with every `bits`-bit value `k` within `radius` bits of
/// `key`, `d` bits from it.
fn for_each_within(key: usize, bits: u32, radius: u32, mut f: impl FnMut(usize, u32)) {
    f(key, 0);
    if radius >= 1 {
        for i in 0..bits {
            let k1 = key ^ (1 << i);
            f(k1, 1);
            if radius >= 2 {
                for j in (i + 1)..bits {
                    let k2 = k1 ^ (1 << j);
                    f(k2, 2);
                    if radius >= 3 {
                        for l in (j + 1)..bits {
                            f(k2 ^ (1 << l), 3);
                        }
                    }
                }
            }
        }
    }
    // Radii over 3 per chunk (over 15 in all) are not supported: the
    // registry's threshold is far below.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(codes: &[u64], query: u64, radius: u32) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = codes
            .iter()
            .enumerate()
            .filter_map(|(i, &c)| {
                let d = (c ^ query).count_ones();
                (d <= radius).then_some((i as u32, d))
            })
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn finds_exactly_what_a_linear_scan_finds() {
        // xorshift: deterministic, no dependency.
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut index = NearIndex::new();
        index.defer_packing();
        let mut codes = Vec::new();
        let base: Vec<u64> = (0..200).map(|_| next()).collect();
        for i in 0..5_000u32 {
            // Clusters of near codes around a few bases, and noise.
            let b = base[(next() % 200) as usize];
            let mut c = b;
            for _ in 0..(next() % 12) {
                c ^= 1 << (next() % 64);
            }
            if i % 3 == 0 {
                c = next();
            }
            codes.push(c);
            index.insert(c, i);
            // Part packed, part not: both are searched.
            if i == 3_000 {
                index.pack();
                index.defer_packing();
            }
        }
        assert_eq!(index.len(), codes.len());
        let queries: Vec<u64> = (0..50)
            .map(|t| {
                if t % 2 == 0 {
                    base[t % 200] ^ (1 << (t % 64))
                } else {
                    next()
                }
            })
            .collect();
        let agrees = |index: &NearIndex| {
            for radius in 0..=12 {
                for &query in &queries {
                    let mut got = Vec::new();
                    index.search(query, radius, |e, d| got.push((e, d)));
                    got.sort_unstable();
                    assert_eq!(got, brute(&codes, query, radius), "radius {radius}");
                }
            }
        };
        agrees(&index);
        index.pack();
        agrees(&index);
    }

    #[test]
    fn inserts_pack_as_the_index_grows() {
        let mut index = NearIndex::new();
        let n = u32::try_from(MIN_UNPACKED).unwrap_or(u32::MAX) + 10;
        for e in 0..n {
            index.insert(u64::from(e).wrapping_mul(0x9e37_79b9_7f4a_7c15), e);
        }
        assert_eq!(index.packed_len, MIN_UNPACKED + 1);
        assert_eq!(index.len(), n as usize);
        let code = 5u64.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut got = Vec::new();
        index.search(code ^ 0b101, 2, |e, d| got.push((e, d)));
        assert_eq!(got, vec![(5, 2)]);
        let last = u64::from(n - 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        got.clear();
        index.search(last, 0, |e, d| got.push((e, d)));
        assert_eq!(got, vec![(n - 1, 0)]);
    }
}
