//! Near-duplicate search over 64-bit image codes: multi-index hashing
//! (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
//! Multi-Index Hashing", CVPR 2012).
//!
//! Each code is cut into four 16-bit chunks, and each chunk indexes the code
//! in its own table of 65,536 buckets. Two codes within distance `r` agree
//! to within `⌊r/4⌋` bits on at least one chunk; more precisely (the
//! paper's Proposition 2), writing `r = 4q + a`, one of the first `a + 1`
//! chunks is within `q` bits or one of the others within `q − 1`. A search
//! probes exactly those neighbourhoods and checks the full distance of
//! every code it finds there, so it returns every code within `r` and no
//! other: it is exact, not approximate.
//!
//! Buckets hold the codes themselves beside their entry numbers, so a probe
//! scans contiguous memory. Chosen over a BK- or VP-tree because its cost
//! does not grow with the depth of a tree, inserts are O(1) (the index grows
//! with every logged statement), and its cost at a radius is predictable:
//! `Σ C(16, ≤ radius_i)` bucket scans of about `n / 65,536` codes each.

/// Chunks per code.
const CHUNKS: usize = 4;
/// Bits per chunk.
const CHUNK_BITS: u32 = 16;

#[derive(Debug, Default, Clone)]
struct Bucket {
    codes: Vec<u64>,
    entries: Vec<u32>,
}

/// The codes, each with the entry number the caller gave it.
#[derive(Debug, Clone)]
pub struct NearIndex {
    tables: Vec<Vec<Bucket>>,
    len: usize,
}

impl Default for NearIndex {
    fn default() -> Self {
        Self::new()
    }
}

fn chunk(code: u64, i: usize) -> usize {
    ((code >> (CHUNK_BITS as usize * (CHUNKS - 1 - i))) & 0xffff) as usize
}

impl NearIndex {
    #[must_use]
    pub fn new() -> Self {
        Self {
            tables: (0..CHUNKS)
                .map(|_| vec![Bucket::default(); 1 << CHUNK_BITS])
                .collect(),
            len: 0,
        }
    }

    /// How many codes it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `code` as entry `entry`.
    pub fn insert(&mut self, code: u64, entry: u32) {
        for (i, table) in self.tables.iter_mut().enumerate() {
            let b = &mut table[chunk(code, i)];
            b.codes.push(code);
            b.entries.push(entry);
        }
        self.len += 1;
    }

    /// Calls `found(entry, distance)` for every code within `radius` bits
    /// of `query`, each once.
    pub fn search(&self, query: u64, radius: u32, mut found: impl FnMut(u32, u32)) {
        let q = radius / CHUNKS as u32;
        let a = (radius % CHUNKS as u32) as usize;
        for i in 0..CHUNKS {
            let chunk_radius = if i <= a {
                q
            } else if q == 0 {
                continue;
            } else {
                q - 1
            };
            let key = chunk(query, i);
            let table = &self.tables[i];
            for_each_within(key, chunk_radius, |probe| {
                let b = &table[probe];
                for (k, &code) in b.codes.iter().enumerate() {
                    let d = (code ^ query).count_ones();
                    // Report a code from the first chunk that can find it,
                    // so that each is reported once.
                    if d <= radius && first_finder(code, query, q, a) == i {
                        found(b.entries[k], d);
                    }
                }
            });
        }
    }

    /// Bytes held.
    #[must_use]
    pub fn memory(&self) -> usize {
        self.tables
            .iter()
            .flatten()
            .map(|b| {
                b.codes.capacity() * 8 + b.entries.capacity() * 4 + std::mem::size_of::<Bucket>()
            })
            .sum()
    }
}

/// The first chunk whose probe set holds `code` when searching for `query`.
fn first_finder(code: u64, query: u64, q: u32, a: usize) -> usize {
    for i in 0..CHUNKS {
        let d = ((chunk(code, i) ^ chunk(query, i)) as u64).count_ones();
        let limit = if i <= a { Some(q) } else { q.checked_sub(1) };
        if limit.is_some_and(|l| d <= l) {
            return i;
        }
    }
    CHUNKS
}

/// Calls `f` with every 16-bit value within `radius` bits of `key`.
fn for_each_within(key: usize, radius: u32, mut f: impl FnMut(usize)) {
    f(key);
    if radius >= 1 {
        for i in 0..CHUNK_BITS {
            let k1 = key ^ (1 << i);
            f(k1);
            if radius >= 2 {
                for j in (i + 1)..CHUNK_BITS {
                    let k2 = k1 ^ (1 << j);
                    f(k2);
                    if radius >= 3 {
                        for l in (j + 1)..CHUNK_BITS {
                            f(k2 ^ (1 << l));
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
        }
        for radius in 0..=12 {
            for t in 0..50 {
                let query = if t % 2 == 0 {
                    base[t % 200] ^ (1 << (t % 64))
                } else {
                    next()
                };
                let mut got = Vec::new();
                index.search(query, radius, |e, d| got.push((e, d)));
                got.sort_unstable();
                assert_eq!(got, brute(&codes, query, radius), "radius {radius}");
            }
        }
    }
}
