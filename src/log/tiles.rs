//! C2SP `tlog-tiles` paths: `tile/<L>/<N>[.p/<W>]` for hash tiles and
//! `tile/entries/<N>[.p/<W>]` for entry bundles, with tile height 8 (256
//! hashes or entries per full tile). `N` is written in groups of three
//! digits, all but the last prefixed by `x` (1234067 is `x001/x234/067`).

use super::merkle::stored_hash_index;

/// Hashes or entries in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels per tile level.
pub const TILE_HEIGHT: u32 = 8;
/// Tile levels that can exist for a 64-bit tree size.
pub const MAX_TILE_LEVEL: u8 = 7;

/// One tile or entry bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRef {
    /// `None` for an entry bundle, else the tile level.
    pub level: Option<u8>,
    /// The tile index at its level.
    pub index: u64,
    /// 1 to 256: the number of hashes or entries (256 for a full tile).
    pub width: u64,
}

impl TileRef {
    /// Parses the part of a tile path after `tile/`.
    ///
    /// # Errors
    /// A short description of what is wrong.
    pub fn parse(path: &str) -> Result<Self, &'static str> {
        let (kind, rest) = path.split_once('/').ok_or("a tile path is <L>/<N>")?;
        let level = if kind == "entries" {
            None
        } else {
            if kind.is_empty() || kind.len() > 2 || !kind.bytes().all(|b| b.is_ascii_digit()) {
                return Err("the tile level is a decimal number");
            }
            if kind.len() > 1 && kind.starts_with('0') {
                return Err("the tile level has no leading zeros");
            }
            let l: u8 = kind.parse().map_err(|_| "bad tile level")?;
            if l > MAX_TILE_LEVEL {
                return Err("no tile exists at that level");
            }
            Some(l)
        };
        let (number, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                if w.is_empty() || w.len() > 3 || !w.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("a partial tile width is a decimal number");
                }
                if w.starts_with('0') {
                    return Err("a partial tile width has no leading zeros");
                }
                let w: u64 = w.parse().map_err(|_| "bad partial tile width")?;
                if w == 0 || w >= TILE_WIDTH {
                    return Err("a partial tile width is 1 to 255");
                }
                (n, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let groups: Vec<&str> = number.split('/').collect();
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x')
                    .ok_or("all but the last group of a tile index start with x")?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("a tile index is written in groups of three digits");
            }
            let d: u64 = digits.parse().map_err(|_| "bad tile index")?;
            index = index
                .checked_mul(1000)
                .and_then(|v| v.checked_add(d))
                .ok_or("tile index out of range")?;
        }
        if groups.len() > 1 && groups[0] == "x000" {
            return Err("a tile index has no leading zero groups");
        }
        Ok(TileRef {
            level,
            index,
            width,
        })
    }

    /// The path after `tile/`.
    #[must_use]
    pub fn path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(format!("{:03}", n % 1000));
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        groups.reverse();
        let last = groups.len() - 1;
        let number: Vec<String> = groups
            .into_iter()
            .enumerate()
            .map(|(i, g)| if i < last { format!("x{g}") } else { g })
            .collect();
        let level = self
            .level
            .map_or_else(|| "entries".to_owned(), |l| l.to_string());
        let mut out = format!("{level}/{}", number.join("/"));
        if self.width < TILE_WIDTH {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// The first leaf (entry bundle) or the first node at tree level
    /// `8 * level` (hash tile) that the tile holds, and how many.
    #[must_use]
    pub fn span(&self) -> (u64, u64) {
        (self.index.saturating_mul(TILE_WIDTH), self.width)
    }

    /// Whether a tree of `size` leaves has every hash or entry of this tile.
    #[must_use]
    pub fn available_in(&self, size: u64) -> bool {
        let level = u32::from(self.level.unwrap_or(0));
        let nodes = size.checked_shr(TILE_HEIGHT * level).unwrap_or(0);
        let (start, count) = self.span();
        start
            .checked_add(count)
            .is_some_and(|end| end <= nodes && self.index < u64::MAX / TILE_WIDTH)
    }

    /// For a hash tile, the stored-hash indexes of its hashes, in order.
    #[must_use]
    pub fn stored_indexes(&self) -> Vec<u64> {
        let tree_level = TILE_HEIGHT * u32::from(self.level.unwrap_or(0));
        let (start, count) = self.span();
        (start..start + count)
            .map(|n| stored_hash_index(tree_level, n))
            .collect()
    }
}

/// An entry bundle: each entry prefixed by its length as a big-endian u16.
///
/// # Errors
/// When an entry is longer than 65,535 bytes.
pub fn entry_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, usize> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| e.len())?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries.
///
/// # Errors
/// When the bundle is truncated.
pub fn split_bundle(mut bundle: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut out = Vec::new();
    while !bundle.is_empty() {
        if bundle.len() < 2 {
            return Err("truncated entry length");
        }
        let len = usize::from(u16::from_be_bytes([bundle[0], bundle[1]]));
        if bundle.len() < 2 + len {
            return Err("truncated entry");
        }
        out.push(&bundle[2..2 + len]);
        bundle = &bundle[2 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for (path, level, index, width) in [
            ("0/000", Some(0), 0, 256),
            ("0/x001/x234/067", Some(0), 1_234_067, 256),
            ("1/005.p/17", Some(1), 5, 17),
            ("entries/x001/000.p/255", None, 1000, 255),
            ("entries/999", None, 999, 256),
        ] {
            let t = TileRef::parse(path).expect(path);
            assert_eq!(
                t,
                TileRef {
                    level,
                    index,
                    width
                }
            );
            assert_eq!(t.path(), path);
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        for path in [
            "",
            "0",
            "0/",
            "0/1",
            "0/0000",
            "00/000",
            "8/000",
            "0/x000/001",
            "0/001/002",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/012",
            "a/000",
            "0/x01/000",
            "entries/",
        ] {
            assert!(TileRef::parse(path).is_err(), "{path}");
        }
    }

    #[test]
    fn availability_follows_the_tree_size() {
        let full = TileRef::parse("0/000").expect("ok");
        assert!(!full.available_in(255));
        assert!(full.available_in(256));
        let partial = TileRef::parse("0/001.p/3").expect("ok");
        assert!(partial.available_in(259));
        assert!(!partial.available_in(258));
        let level1 = TileRef::parse("1/000.p/1").expect("ok");
        assert!(!level1.available_in(255));
        assert!(level1.available_in(256));
    }

    #[test]
    fn bundles_round_trip() {
        let entries: Vec<&[u8]> = vec![b"a", b"", b"xyz"];
        let bundle = entry_bundle(entries.iter().copied()).expect("fits");
        assert_eq!(bundle, b"\x00\x01a\x00\x00\x00\x03xyz");
        assert_eq!(split_bundle(&bundle).expect("ok"), entries);
        assert!(split_bundle(&bundle[..bundle.len() - 1]).is_err());
    }
}
