//! Log documents parsed for the index: the expensive part of taking an
//! entry, which can run in parallel ahead of
//! [`super::ConsentIndex::apply_parsed`].

use crate::domain::documents::ValidStatement;
use crate::domain::fingerprint::{ImageCode, ISCC_IMAGE};
use crate::domain::{ArtistRegistration, ConsentSet, ContentHash, KeyEvent, Statement, Timestamp};
use crate::log::entry::EntryKind;

/// A document parsed for the index (the expensive part, which can run in
/// parallel ahead of [`ConsentIndex::apply_parsed`]).
#[derive(Debug, Clone)]
pub enum Parsed {
    Artist {
        id: String,
        display_name: String,
        key: [u8; 32],
    },
    KeyEvent(KeyEvent),
    Statement {
        id: [u8; 32],
        key: [u8; 32],
        issued_at: Timestamp,
        consent: ConsentSet,
        works: Vec<ContentHash>,
        /// Each work's declared `published_at`, aligned with `works`.
        published: Vec<Option<Timestamp>>,
        /// The ISCC Image-Codes the statement gives, as (position of the
        /// work in `works`, the code's first 64 bits); featureless codes
        /// are left out.
        codes: Vec<(u32, u64)>,
        terms: serde_json::Value,
    },
    /// A payout record: no effect on consent.
    Payout,
}

pub(crate) fn key_bytes(text: &str) -> Result<[u8; 32], String> {
    let hex_part = text
        .strip_prefix("ed25519:")
        .ok_or_else(|| format!("key `{text}` is not ed25519:<hex>"))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| format!("key `{text}` is not 64 hex"))?;
    Ok(out)
}

/// Parses one document's payload for the index (at start-up, and where a
/// log is replayed from its entries).
///
/// # Errors
/// When the payload does not parse as its kind.
pub fn parse(kind: EntryKind, payload: &[u8]) -> Result<Parsed, String> {
    match kind {
        EntryKind::Artist => {
            let reg = ArtistRegistration::parse(payload).map_err(|e| e.to_string())?;
            Parsed::artist(crate::domain::ids::artist_id(payload), reg)
        }
        EntryKind::KeyEvent => Ok(Parsed::KeyEvent(
            KeyEvent::parse(payload).map_err(|e| e.to_string())?,
        )),
        EntryKind::Statement => {
            let valid = Statement::parse(payload).map_err(|e| e.to_string())?;
            Parsed::statement(crate::domain::ids::document_digest(payload), &valid)
        }
        EntryKind::Payout => Ok(Parsed::Payout),
    }
}

impl Parsed {
    /// The index record of the registration of artist `id`.
    ///
    /// # Errors
    /// When its key is not `ed25519:<hex>`.
    pub fn artist(id: String, reg: ArtistRegistration) -> Result<Self, String> {
        Ok(Parsed::Artist {
            id,
            key: key_bytes(&reg.key)?,
            display_name: reg.display_name,
        })
    }

    /// The index record of the statement whose id is `id` (the bytes of
    /// its document id): built from the statement the registry verified,
    /// without parsing its payload again.
    ///
    /// # Errors
    /// When its key is not `ed25519:<hex>`.
    pub fn statement(id: [u8; 32], valid: &ValidStatement) -> Result<Self, String> {
        let s = &valid.statement;
        Ok(Parsed::Statement {
            id,
            key: key_bytes(&s.key)?,
            issued_at: s.issued_at,
            consent: valid.consent,
            works: s.works.iter().map(|w| w.hash).collect(),
            published: s.works.iter().map(|w| w.published_at).collect(),
            codes: image_codes(s),
            terms: serde_json::to_value(&s.terms).map_err(|e| e.to_string())?,
        })
    }
}

/// The matchable image codes of a statement's works.
fn image_codes(s: &Statement) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    for (i, w) in s.works.iter().enumerate() {
        for fp in &w.fingerprints {
            if fp.algorithm != ISCC_IMAGE {
                continue;
            }
            // Statement::parse checked every code of this algorithm.
            if let Ok(code) = ImageCode::parse(&fp.value) {
                if !code.is_featureless() {
                    out.push((u32::try_from(i).unwrap_or(u32::MAX), code.prefix()));
                }
            }
        }
    }
    out
}
