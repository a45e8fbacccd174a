//! Perceptual fingerprints the registry understands: the ISCC Image-Code
//! (ISO 24138:2024, Content-Code of SubType Image, version 0), and the
//! distance between two of them.
//!
//! A statement's work may carry fingerprints of any algorithm; those of
//! [`ISCC_IMAGE`] are checked here (a malformed one makes the statement
//! invalid) and take part in near-duplicate matching (`docs/matching.md`).
//! Others are stored and returned verbatim.

use std::fmt;

/// The algorithm name of ISCC Image-Codes in statements and checks.
pub const ISCC_IMAGE: &str = "iscc-image-v0";

/// Bits of the code that matching compares: the first 64 bits of the body,
/// which are the whole of the default 64-bit code and the lowest DCT
/// frequencies of longer ones (ISO 24138 5.4.5.2).
pub const MATCH_BITS: u32 = 64;

/// ISCC MainType CONTENT, SubType IMAGE, Version 0.
const MAIN_CONTENT: u8 = 2;
const SUB_IMAGE: u8 = 1;
const VERSION_0: u8 = 0;

/// An ISCC Image-Code of 64 to 256 bits (a multiple of 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageCode {
    bits: u16,
    body: [u8; 32],
}

impl ImageCode {
    /// Parses the canonical text of an Image-Code: `ISCC:` and the
    /// upper-case base32 (RFC 4648, no padding) of the header and body, as
    /// the ISCC reference implementation prints it.
    ///
    /// # Errors
    /// A message saying what is wrong, safe to show to a client.
    pub fn parse(text: &str) -> Result<Self, String> {
        let shown: String = text.chars().take(80).collect();
        let Some(rest) = text.strip_prefix("ISCC:") else {
            return Err(format!(
                "`{shown}` is not an ISCC Image-Code: write it as ISCC: followed by its base32 code"
            ));
        };
        if rest.len() > 60
            || !rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        {
            return Err(format!(
                "`{shown}` is not an ISCC Image-Code: the code after ISCC: is upper-case base32 (A-Z, 2-7), at most 55 characters"
            ));
        }
        let (main, sub, version, _, body) = iscc_lib::iscc_decode(rest)
            .map_err(|e| format!("`{shown}` is not an ISCC code: {e}"))?;
        if (main, sub, version) != (MAIN_CONTENT, SUB_IMAGE, VERSION_0) {
            return Err(format!(
                "`{shown}` is an ISCC code but not an Image-Code v0 (Content-Code, SubType Image)"
            ));
        }
        let bits = body.len() * 8;
        if !(64..=256).contains(&bits) || !bits.is_multiple_of(32) {
            return Err(format!(
                "`{shown}` has {bits} bits; an Image-Code here has 64 to 256 bits, a multiple of 32"
            ));
        }
        let code = Self::from_body(&body).ok_or_else(|| format!("`{shown}`: bad length"))?;
        if code.to_string() != text {
            return Err(format!(
                "`{shown}` is not in canonical form (expected `{code}`)"
            ));
        }
        Ok(code)
    }

    /// The code whose body (the hash digest, without header) is `body`:
    /// 8 to 32 bytes, a multiple of 4.
    #[must_use]
    pub fn from_body(body: &[u8]) -> Option<Self> {
        if !(8..=32).contains(&body.len()) || !body.len().is_multiple_of(4) {
            return None;
        }
        let mut b = [0u8; 32];
        b[..body.len()].copy_from_slice(body);
        Some(Self {
            bits: u16::try_from(body.len() * 8).ok()?,
            body: b,
        })
    }

    /// Its length in bits.
    #[must_use]
    pub fn bits(&self) -> u32 {
        u32::from(self.bits)
    }

    /// The body, without header.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body[..usize::from(self.bits / 8)]
    }

    /// The first [`MATCH_BITS`] bits, big-endian: what the index keeps.
    #[must_use]
    pub fn prefix(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.body[..8]);
        u64::from_be_bytes(b)
    }

    /// Featureless codes (uniform colours, one-axis gradients, plain
    /// stripes) are nearly the same for unrelated images, so they never
    /// match: a code is featureless when a 64-bit word of its body has
    /// fewer than 8 bits set (`iscc-sdk`'s `is_featureless_image_code`).
    #[must_use]
    pub fn is_featureless(&self) -> bool {
        self.body()
            .chunks_exact(8)
            .any(|w| w.iter().map(|b| b.count_ones()).sum::<u32>() < 8)
    }
}

impl fmt::Display for ImageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = iscc_lib::encode_component(
            MAIN_CONTENT,
            SUB_IMAGE,
            VERSION_0,
            self.bits(),
            self.body(),
        )
        .map_err(|_| fmt::Error)?;
        write!(f, "ISCC:{unit}")
    }
}

/// The Hamming distance of two [`ImageCode::prefix`]es.
#[must_use]
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_codes_of_each_length() {
        for bits in [64usize, 96, 128, 192, 256] {
            let body: Vec<u8> = (0..bits / 8).map(|i| (i * 37 + 11) as u8).collect();
            let code = ImageCode::from_body(&body).expect("length");
            let text = code.to_string();
            assert!(text.starts_with("ISCC:EE"), "{text}");
            assert_eq!(ImageCode::parse(&text), Ok(code));
            assert_eq!(code.bits() as usize, bits);
        }
    }

    #[test]
    fn the_reference_code_of_a_known_image() {
        // iscc-core's test vector for a 32x32 ramp at 64 bits.
        let code = ImageCode::parse("ISCC:EEA4GQZQTY6J5DTH").expect("valid");
        assert_eq!(code.bits(), 64);
        assert_eq!(code.to_string(), "ISCC:EEA4GQZQTY6J5DTH");
    }

    #[test]
    fn refuses_what_is_not_a_canonical_image_code() {
        for bad in [
            "",
            "EEA4GQZQTY6J5DTH",
            "iscc:EEA4GQZQTY6J5DTH",
            "ISCC:eea4gqzqty6j5dth",
            "ISCC:EEA4GQZQTY6J5DT",
            "ISCC:EEA4GQZQTY6J5DTH=",
            "ISCC:EEA4-GQZQTY6J5DTH",
            // a Text-Code, not an Image-Code
            "ISCC:EAASKDNZNYGUUF5A",
            // a 32-bit Image-Code
            "ISCC:EEAHGQZQTY",
        ] {
            assert!(ImageCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn distance_and_featureless() {
        assert_eq!(distance(0, u64::MAX), 64);
        assert_eq!(distance(0b1011, 0b0001), 2);
        let flat = ImageCode::from_body(&[0x80, 0, 0, 0, 0, 0, 0, 1]).expect("len");
        assert!(flat.is_featureless());
        let busy = ImageCode::from_body(&[0x5a; 8]).expect("len");
        assert!(!busy.is_featureless());
    }
}
