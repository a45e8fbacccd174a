//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 keys, and
//! transparency-log checkpoints (`c2sp.org/tlog-checkpoint`) as their text.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one line per
//! signature: `— <key name> <base64(key id || signature)>`. The key id is the
//! first four bytes of `SHA-256(name || 0x0A || 0x01 || public key)`; the
//! signature is Ed25519 over the text (with its final newline). Signatures
//! are verified with `verify_strict`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::merkle::Hash;
use crate::crypto::{PublicKey, SecretKey};

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// A signature line starts with an em dash and a space.
const DASH: &str = "\u{2014} ";
/// Signatures per note, at most.
const MAX_SIGNATURES: usize = 100;

/// Why a note, key or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed verifier key: {0}")]
    BadKey(&'static str),
    #[error("a signature by a known key does not verify")]
    BadSignature,
    #[error("no signature by a known key")]
    Unverified,
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
}

/// The 4-byte id of an Ed25519 note key.
#[must_use]
pub fn key_id(name: &str, key: &PublicKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519])
        .chain_update(key.to_bytes())
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// A key that verifies notes: a name and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub key: PublicKey,
    pub id: [u8; 4],
}

impl NoteVerifier {
    /// # Errors
    /// When the name is empty or contains white space or `+`.
    pub fn new(name: &str, key: PublicKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(
                "a key name is non-empty, without spaces or '+'",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &key),
            key,
        })
    }

    /// The verifier key text: `<name>+<hex key id>+<base64(0x01 || public key)>`.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(&self.key.to_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(raw)
        )
    }

    /// Parses a verifier key text.
    ///
    /// # Errors
    /// When the text is not `name+hex8+base64`, the key is not an accepted
    /// Ed25519 key, or the id does not match the name and key.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("expected name+keyid+key"));
        };
        let raw = STANDARD
            .decode(key_b64)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        let (Some(&ED25519), Ok(bytes)) =
            (raw.first(), <[u8; 32]>::try_from(&raw[1.min(raw.len())..]))
        else {
            return Err(NoteError::BadKey(
                "only Ed25519 keys (type 0x01, 32 bytes) are supported",
            ));
        };
        let key = PublicKey::from_bytes(&bytes)
            .map_err(|_| NoteError::BadKey("not an accepted Ed25519 key"))?;
        let verifier = Self::new(name, key)?;
        if id_hex.len() != 8 || hex::encode(verifier.id) != id_hex {
            return Err(NoteError::BadKey("key id does not match the name and key"));
        }
        Ok(verifier)
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text must end with a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("the text has control characters"));
    }
    Ok(())
}

/// Signs `text` (which must end in a newline) as `name` with `key`.
///
/// # Errors
/// When the text or name is not acceptable in a note.
pub fn sign(text: &str, name: &str, key: &SecretKey) -> Result<String, NoteError> {
    check_text(text)?;
    let verifier = NoteVerifier::new(name, key.public_key())?;
    let mut blob = verifier.id.to_vec();
    blob.extend_from_slice(&key.sign(text.as_bytes()));
    Ok(format!("{text}\n{DASH}{name} {}\n", STANDARD.encode(blob)))
}

/// Opens a signed note: returns its text if a signature by one of
/// `verifiers` verifies. Signatures by unknown keys are ignored; a signature
/// by a known key that fails rejects the note.
///
/// # Errors
/// When the note is malformed, a known key's signature fails, or no known
/// key signed.
pub fn open<'a>(note: &'a str, verifiers: &[NoteVerifier]) -> Result<&'a str, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    check_text(text)?;
    if !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the signature block must end with a newline",
        ));
    }
    let mut verified = false;
    for (count, line) in sigs.lines().enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(NoteError::Malformed("too many signatures"));
        }
        let rest = line.strip_prefix(DASH).ok_or(NoteError::Malformed(
            "a signature line starts with an em dash",
        ))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line is '— name signature'",
        ))?;
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        if blob.len() < 5 || !valid_name(name) {
            return Err(NoteError::Malformed("bad signature line"));
        }
        let Some(v) = verifiers
            .iter()
            .find(|v| v.name == name && v.id[..] == blob[..4])
        else {
            continue;
        };
        let sig: [u8; 64] = blob[4..].try_into().map_err(|_| NoteError::BadSignature)?;
        if !v.key.verify_strict(text.as_bytes(), &sig) {
            return Err(NoteError::BadSignature);
        }
        verified = true;
    }
    if verified {
        Ok(text)
    } else {
        Err(NoteError::Unverified)
    }
}

/// A checkpoint: the log's origin, its size and its root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, decimal size, base64 root, one per line.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a checkpoint's text (extension lines after the root are ignored).
    ///
    /// # Errors
    /// When a line is missing or malformed.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let mut lines = text.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::Checkpoint("no origin line"))?;
        let size_text = lines.next().ok_or(NoteError::Checkpoint("no size line"))?;
        if size_text.is_empty()
            || (size_text.len() > 1 && size_text.starts_with('0'))
            || !size_text.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(NoteError::Checkpoint(
                "the size is a decimal number without leading zeros",
            ));
        }
        let size = size_text
            .parse()
            .map_err(|_| NoteError::Checkpoint("size out of range"))?;
        let root_text = lines.next().ok_or(NoteError::Checkpoint("no root line"))?;
        let root: Hash = STANDARD
            .decode(root_text)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::Checkpoint("the root is base64 of 32 bytes"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_sumdb_note_vector() {
        // The example in golang.org/x/mod/sumdb/note's documentation.
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let v = NoteVerifier::parse(vkey).expect("vkey");
        assert_eq!(v.to_text(), vkey);
        let text = open(note, &[v]).expect("verifies");
        assert!(text.starts_with("If you think"));
        let tampered = note.replace("answer", "Answer");
        assert_eq!(
            open(&tampered, &[NoteVerifier::parse(vkey).expect("vkey")]),
            Err(NoteError::BadSignature)
        );
    }

    #[test]
    fn checkpoint_round_trip_and_rules() {
        let key = SecretKey::from_seed(&[9; 32]);
        let origin = "registry.example/consent-log";
        let v = NoteVerifier::new(origin, key.public_key()).expect("verifier");
        let cp = Checkpoint {
            origin: origin.into(),
            size: 37,
            root: [7; 32],
        };
        let note = sign(&cp.to_text(), origin, &key).expect("sign");
        let text = open(&note, std::slice::from_ref(&v)).expect("open");
        assert_eq!(Checkpoint::parse(text), Ok(cp));
        assert_eq!(NoteVerifier::parse(&v.to_text()), Ok(v.clone()));
        // Unknown signers are ignored, but someone known must sign.
        let other =
            NoteVerifier::new("other", SecretKey::from_seed(&[8; 32]).public_key()).expect("v");
        assert_eq!(open(&note, &[other]), Err(NoteError::Unverified));
        // A second, unknown signature does not hurt.
        let cosigned = format!("{note}\u{2014} witness {}\n", STANDARD.encode([1u8; 68]));
        assert!(open(&cosigned, std::slice::from_ref(&v)).is_ok());
        for bad in [
            "registry\n012\nAAAA\n",
            "registry\n\n",
            "\n1\n",
            "registry\n1\nnot base64\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
        assert!(sign("no newline", origin, &key).is_err());
        assert!(NoteVerifier::new("bad name", key.public_key()).is_err());
    }
}
