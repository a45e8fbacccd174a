//! Offline receipts in C2SP `tlog-proof` form:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the entry bytes>          (optional)
//! index <n>
//! <base64 hash>                               (inclusion path, leaf's sibling first)
//!
//! <signed checkpoint note, verbatim>
//! ```
//!
//! Consentry puts the entry itself in `extra`, so a receipt proves, with
//! nothing else, that this exact document is in the log at `index`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::merkle::{leaf_hash, verify_inclusion, Hash};
use super::note::{open, Checkpoint, NoteError, NoteVerifier};

/// The first line of a receipt.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Inclusion path hashes in a receipt, at most (a 64-bit tree needs 64).
const MAX_PATH: usize = 64;

/// A parsed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub path: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("malformed receipt: {0}")]
    Malformed(&'static str),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
    #[error("the checkpoint is for log `{found}`, not `{expected}`")]
    Origin { expected: String, found: String },
    #[error("the receipt carries no entry and none was given")]
    NoEntry,
    #[error(
        "entry {index} is not in the checkpointed tree of size {size} (inclusion proof fails)"
    )]
    NotIncluded { index: u64, size: u64 },
}

/// A receipt's text from its parts, written into one buffer (the registry
/// writes thousands per batch without building a [`TlogProof`] for each).
#[must_use]
pub fn format_tlog_proof(
    extra: Option<&[u8]>,
    index: u64,
    path: &[Hash],
    checkpoint: &str,
) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(
        64 + extra.map_or(0, |e| e.len() * 4 / 3 + 8) + path.len() * 45 + checkpoint.len(),
    );
    out.push_str(TLOG_PROOF_HEADER);
    out.push('\n');
    if let Some(extra) = extra {
        out.push_str("extra ");
        STANDARD.encode_string(extra, &mut out);
        out.push('\n');
    }
    let _ = writeln!(out, "index {index}");
    for h in path {
        STANDARD.encode_string(h, &mut out);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint);
    out
}

impl TlogProof {
    /// The receipt's text.
    #[must_use]
    pub fn to_text(&self) -> String {
        format_tlog_proof(
            self.extra.as_deref(),
            self.index,
            &self.path,
            &self.checkpoint,
        )
    }

    /// Parses a receipt. The checkpoint is kept verbatim, not yet verified.
    ///
    /// # Errors
    /// When a line is missing or malformed.
    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let rest = text
            .strip_prefix(TLOG_PROOF_HEADER)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or(ProofError::Malformed(
                "the first line is c2sp.org/tlog-proof@v1",
            ))?;
        let (head, checkpoint) = rest
            .split_once("\n\n")
            .ok_or(ProofError::Malformed("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let mut line = lines.next();
        let mut extra = None;
        if let Some(b64) = line.and_then(|l| l.strip_prefix("extra ")) {
            extra = Some(
                STANDARD
                    .decode(b64)
                    .map_err(|_| ProofError::Malformed("extra is not base64"))?,
            );
            line = lines.next();
        }
        let index_text = line
            .and_then(|l| l.strip_prefix("index "))
            .ok_or(ProofError::Malformed("no index line"))?;
        if index_text.is_empty()
            || !index_text.bytes().all(|b| b.is_ascii_digit())
            || (index_text.len() > 1 && index_text.starts_with('0'))
        {
            return Err(ProofError::Malformed(
                "the index is a decimal number without leading zeros",
            ));
        }
        let index = index_text
            .parse()
            .map_err(|_| ProofError::Malformed("index out of range"))?;
        let mut path = Vec::new();
        for l in lines {
            if path.len() == MAX_PATH {
                return Err(ProofError::Malformed("too many proof lines"));
            }
            let bytes = STANDARD
                .decode(l)
                .map_err(|_| ProofError::Malformed("a proof line is not base64"))?;
            path.push(
                bytes
                    .try_into()
                    .map_err(|_| ProofError::Malformed("a proof hash is not 32 bytes"))?,
            );
        }
        Ok(Self {
            extra,
            index,
            path,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verifies the receipt: the checkpoint is signed by `verifier` for
    /// `origin`, and `entry` (or, when `None`, the entry in `extra`) is
    /// included at `index` in the checkpointed tree. Returns the checkpoint.
    ///
    /// # Errors
    /// What failed, first failure only.
    pub fn verify(
        &self,
        origin: &str,
        verifier: &NoteVerifier,
        entry: Option<&[u8]>,
    ) -> Result<Checkpoint, ProofError> {
        let text = open(&self.checkpoint, std::slice::from_ref(verifier))?;
        let cp = Checkpoint::parse(text)?;
        if cp.origin != origin {
            return Err(ProofError::Origin {
                expected: origin.to_owned(),
                found: cp.origin,
            });
        }
        let entry = entry.or(self.extra.as_deref()).ok_or(ProofError::NoEntry)?;
        verify_inclusion(self.index, cp.size, &leaf_hash(entry), &self.path, &cp.root).map_err(
            |_| ProofError::NotIncluded {
                index: self.index,
                size: cp.size,
            },
        )?;
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let proof = TlogProof {
            extra: Some(b"entry bytes".to_vec()),
            index: 42,
            path: vec![[1; 32], [2; 32]],
            checkpoint: "origin\n43\nAAAA\n\n\u{2014} origin abc=\n".into(),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra ZW50cnkgYnl0ZXM=\nindex 42\n"));
        assert_eq!(TlogProof::parse(&text), Ok(proof.clone()));
        let bare = TlogProof {
            extra: None,
            ..proof
        };
        assert_eq!(TlogProof::parse(&bare.to_text()), Ok(bare));
    }
}
