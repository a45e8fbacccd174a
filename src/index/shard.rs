//! Shards of the consent index: a check node can hold only the works whose
//! hash falls in one of `n` equal ranges, so `n` nodes hold a registry `n`
//! times larger than one node's memory (`docs/scaling.md`).
//!
//! Shard `i` of `n` holds the works `h` with `⌊p · n / 2⁶⁴⌋ = i`, where `p`
//! is the first 8 bytes of `h` read as a big-endian integer: `n` ranges of
//! the hash space, contiguous, in order, of equal width to within one.

use std::fmt;
use std::str::FromStr;

use crate::domain::ContentHash;

/// Shards a registry may be split into, at most.
pub const MAX_SHARDS: u32 = 4096;

/// One shard of `count`: `index` is 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// Unless `index < count <= MAX_SHARDS`.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "a registry is split into 1 to {MAX_SHARDS} shards, not {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard {index} of {count}: shards are numbered from 0 to {}",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    #[must_use]
    pub const fn index(self) -> u32 {
        self.index
    }

    #[must_use]
    pub const fn count(self) -> u32 {
        self.count
    }

    /// The shard of `count` that holds `hash`.
    #[must_use]
    pub fn of(hash: &ContentHash, count: u32) -> u32 {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&hash.as_bytes()[..8]);
        let p = u128::from(u64::from_be_bytes(prefix));
        // p < 2^64, so the quotient is below count.
        u32::try_from((p * u128::from(count)) >> 64).unwrap_or(count - 1)
    }

    /// Whether this shard holds `hash`.
    #[must_use]
    pub fn holds(self, hash: &ContentHash) -> bool {
        Self::of(hash, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `i/n`, e.g. `0/3`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: write a shard as i/n, e.g. 0/3"))?;
        let number = |t: &str| {
            t.parse::<u32>()
                .map_err(|_| format!("`{s}`: write a shard as i/n, e.g. 0/3"))
        };
        Self::new(number(i)?, number(n)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_with_prefix(p: u64) -> ContentHash {
        let mut b = [0xabu8; 32];
        b[..8].copy_from_slice(&p.to_be_bytes());
        ContentHash::from_bytes(b)
    }

    #[test]
    fn ranges_are_contiguous_and_cover_the_hash_space() {
        for n in [1u32, 2, 3, 7, 4096] {
            assert_eq!(Shard::of(&hash_with_prefix(0), n), 0);
            assert_eq!(Shard::of(&hash_with_prefix(u64::MAX), n), n - 1);
            // The first hash of each range, and the last of the one before.
            for i in 1..n.min(64) {
                let start = u64::try_from((u128::from(i) << 64).div_ceil(u128::from(n)))
                    .expect("below 2^64");
                assert_eq!(Shard::of(&hash_with_prefix(start), n), i, "{i}/{n}");
                assert_eq!(Shard::of(&hash_with_prefix(start - 1), n), i - 1, "{i}/{n}");
            }
        }
        let third = Shard::new(1, 3).expect("a shard");
        assert!(third.holds(&hash_with_prefix(u64::MAX / 2)));
        assert!(!third.holds(&hash_with_prefix(u64::MAX)));
    }

    #[test]
    fn parses_and_refuses() {
        let two = Shard::new(2, 3).expect("a shard");
        assert_eq!("2/3".parse::<Shard>(), Ok(two));
        assert_eq!(two.to_string(), "2/3");
        for bad in ["3/3", "0/0", "1", "a/3", "1/4097", "-1/3", "1/3/4", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
