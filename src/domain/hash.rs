//! Content identity: BLAKE3-256 of a work's exact bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The BLAKE3-256 digest of a work's bytes, written `blake3:<64 lowercase hex>`.
///
/// Parsing also accepts the ISCC `datahash` multihash form: `1e20` followed
/// by the same 32 bytes in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

/// Why a string is not a content hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("a content hash is `blake3:` followed by 64 lowercase hex digits (or the ISCC datahash form `1e20` + 64 hex digits)")]
    Format,
    #[error("a content hash must have exactly 64 hex digits, got {0}")]
    Length(usize),
    #[error("a content hash must use lowercase hex digits only")]
    Digits,
}

impl ContentHash {
    pub const PREFIX: &'static str = "blake3:";
    /// The ISCC datahash multihash prefix: BLAKE3 (0x1e), 32 bytes (0x20).
    pub const ISCC_PREFIX: &'static str = "1e20";

    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Hashes `data` with unkeyed BLAKE3.
    #[must_use]
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The ISCC `datahash` form: `1e20` + 64 lowercase hex digits.
    #[must_use]
    pub fn to_iscc_datahash(&self) -> String {
        format!("{}{}", Self::ISCC_PREFIX, hex::encode(self.0))
    }

    /// Parses from a slice of exactly 32 bytes.
    ///
    /// # Errors
    /// When the slice is not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashParseError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HashParseError::Length(bytes.len() * 2))
    }
}

fn parse_hex32(hex_digits: &str) -> Result<[u8; 32], HashParseError> {
    if hex_digits.len() != 64 {
        return Err(HashParseError::Length(hex_digits.len()));
    }
    if !hex_digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(HashParseError::Digits);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut out).map_err(|_| HashParseError::Digits)?;
    Ok(out)
}

impl FromStr for ContentHash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix(Self::PREFIX) {
            return parse_hex32(rest).map(Self);
        }
        if let Some(rest) = s.strip_prefix(Self::ISCC_PREFIX) {
            if rest.len() == 64 {
                return parse_hex32(rest).map(Self);
            }
        }
        Err(HashParseError::Format)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, hex::encode(self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_forms() {
        let h = ContentHash::of(b"hello");
        let text = h.to_string();
        assert!(text.starts_with("blake3:"));
        assert_eq!(text.parse::<ContentHash>(), Ok(h));
        assert_eq!(h.to_iscc_datahash().parse::<ContentHash>(), Ok(h));
    }

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(
            "blake3:abc".parse::<ContentHash>(),
            Err(HashParseError::Length(3))
        );
        let upper = format!("blake3:{}", "A".repeat(64));
        assert_eq!(upper.parse::<ContentHash>(), Err(HashParseError::Digits));
        assert_eq!(
            "sha256:00".parse::<ContentHash>(),
            Err(HashParseError::Format)
        );
    }
}
