//! DSSE envelopes (in-toto / Sigstore Dead Simple Signing Envelope, v1).
//!
//! The signature covers `PAE(payloadType, payload)`:
//! `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`, lengths in
//! ASCII decimal bytes. Signatures are checked on the exact payload bytes
//! before the payload is parsed.

use std::fmt;
use std::str::FromStr;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::keys::{KeyError, PublicKey, SecretKey};

/// Signatures per envelope, at most (key events carry two).
pub const MAX_SIGNATURES: usize = 2;

/// The payload types the registry signs or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadType {
    Statement,
    Artist,
    KeyEvent,
    AuthChallenge,
    CheckReceipt,
    PayoutStatement,
    PayoutRecord,
}

impl PayloadType {
    pub const ALL: [PayloadType; 7] = [
        PayloadType::Statement,
        PayloadType::Artist,
        PayloadType::KeyEvent,
        PayloadType::AuthChallenge,
        PayloadType::CheckReceipt,
        PayloadType::PayoutStatement,
        PayloadType::PayoutRecord,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PayloadType::Statement => "application/vnd.consentry.statement.v1+json",
            PayloadType::Artist => "application/vnd.consentry.artist.v1+json",
            PayloadType::KeyEvent => "application/vnd.consentry.key-event.v1+json",
            PayloadType::AuthChallenge => "application/vnd.consentry.auth-challenge.v1",
            PayloadType::CheckReceipt => "application/vnd.consentry.check-receipt.v1+json",
            PayloadType::PayoutStatement => "application/vnd.consentry.payout-statement.v1+json",
            PayloadType::PayoutRecord => "application/vnd.consentry.payout-record.v1+json",
        }
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayloadType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PayloadType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

/// The Pre-Authentication Encoding that is signed.
#[must_use]
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// The signing key, `ed25519:<64 hex>`.
    pub keyid: String,
    /// Base64 of the 64-byte Ed25519 signature.
    pub sig: String,
}

/// A DSSE envelope as it travels in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the payload bytes.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("payloadType `{found}` is not accepted here (expected `{expected}`)")]
    PayloadType {
        expected: &'static str,
        found: String,
    },
    #[error("{field} is not valid base64")]
    Base64 { field: &'static str },
    #[error("an envelope carries 1 to {MAX_SIGNATURES} signatures, got {0}")]
    SignatureCount(usize),
    #[error("signature {index} is not 64 bytes")]
    SignatureLength { index: usize },
    #[error("key {keyid} signs the envelope twice")]
    DuplicateKey { keyid: String },
    #[error("signature key `{keyid}`: {source}")]
    Key { keyid: String, source: KeyError },
    #[error("the signature by {keyid} does not verify")]
    BadSignature { keyid: String },
}

/// An envelope whose every signature verified under `verify_strict`.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    pub payload_type: PayloadType,
    pub payload: Vec<u8>,
    pub signers: Vec<(PublicKey, [u8; 64])>,
}

impl VerifiedEnvelope {
    /// Whether `key` is among the signers.
    #[must_use]
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        self.signers.iter().any(|(k, _)| k == key)
    }

    /// The signatures as they appear in an envelope (standard base64).
    #[must_use]
    pub fn signatures(&self) -> Vec<EnvelopeSignature> {
        self.signers
            .iter()
            .map(|(k, s)| EnvelopeSignature {
                keyid: k.to_string(),
                sig: base64::engine::general_purpose::STANDARD.encode(s),
            })
            .collect()
    }
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_ANY_PAD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Decodes standard or URL-safe base64, padded or not, as DSSE asks of verifiers.
///
/// # Errors
/// When the text is neither.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD_ANY_PAD
        .decode(text)
        .or_else(|_| URL_SAFE_ANY_PAD.decode(text))
}

impl Envelope {
    /// Signs `payload` as `payload_type` with each key in `keys`.
    #[must_use]
    pub fn sign(payload_type: PayloadType, payload: &[u8], keys: &[&SecretKey]) -> Envelope {
        let message = pae(payload_type.as_str(), payload);
        let std = base64::engine::general_purpose::STANDARD;
        Envelope {
            payload_type: payload_type.as_str().to_owned(),
            payload: std.encode(payload),
            signatures: keys
                .iter()
                .map(|k| EnvelopeSignature {
                    keyid: k.public_key().to_string(),
                    sig: std.encode(k.sign(&message)),
                })
                .collect(),
        }
    }

    /// Checks the payload type, decodes, and verifies every signature with
    /// `verify_strict` over the PAE of the exact payload bytes.
    ///
    /// # Errors
    /// On the wrong payload type, bad base64, a signature count outside
    /// 1..=[`MAX_SIGNATURES`], a key that is malformed, weak or
    /// non-canonical, a key used twice, or any signature that fails.
    pub fn verify(&self, expected: PayloadType) -> Result<VerifiedEnvelope, EnvelopeError> {
        self.verify_with(expected, &|keyid: &str| keyid.parse())
    }

    /// [`Envelope::verify`] with a caller-supplied key parser, so a batch
    /// signed by one key decodes that key once rather than per envelope.
    /// `parse_key` must behave exactly like `PublicKey::from_str`.
    ///
    /// # Errors
    /// As [`Envelope::verify`].
    pub fn verify_with(
        &self,
        expected: PayloadType,
        parse_key: &(dyn Fn(&str) -> Result<PublicKey, KeyError> + Sync),
    ) -> Result<VerifiedEnvelope, EnvelopeError> {
        if self.payload_type != expected.as_str() {
            return Err(EnvelopeError::PayloadType {
                expected: expected.as_str(),
                found: self.payload_type.chars().take(200).collect(),
            });
        }
        if self.signatures.is_empty() || self.signatures.len() > MAX_SIGNATURES {
            return Err(EnvelopeError::SignatureCount(self.signatures.len()));
        }
        let payload =
            decode_base64(&self.payload).map_err(|_| EnvelopeError::Base64 { field: "payload" })?;
        let message = pae(expected.as_str(), &payload);
        let mut signers: Vec<(PublicKey, [u8; 64])> = Vec::with_capacity(self.signatures.len());
        for (index, s) in self.signatures.iter().enumerate() {
            let keyid: String = s.keyid.chars().take(80).collect();
            let key: PublicKey = parse_key(&s.keyid).map_err(|source| EnvelopeError::Key {
                keyid: keyid.clone(),
                source,
            })?;
            if signers.iter().any(|(k, _)| *k == key) {
                return Err(EnvelopeError::DuplicateKey { keyid });
            }
            let sig_bytes =
                decode_base64(&s.sig).map_err(|_| EnvelopeError::Base64 { field: "signature" })?;
            let sig: [u8; 64] = sig_bytes
                .try_into()
                .map_err(|_| EnvelopeError::SignatureLength { index })?;
            if !key.verify_strict(&message, &sig) {
                return Err(EnvelopeError::BadSignature { keyid });
            }
            signers.push((key, sig));
        }
        Ok(VerifiedEnvelope {
            payload_type: expected,
            payload,
            signers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_dsse_spec_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let sk = SecretKey::from_seed(&[1u8; 32]);
        let env = Envelope::sign(PayloadType::Statement, b"{}", &[&sk]);
        let ok = env.verify(PayloadType::Statement).expect("verifies");
        assert!(ok.signed_by(&sk.public_key()));
        assert!(matches!(
            env.verify(PayloadType::Artist),
            Err(EnvelopeError::PayloadType { .. })
        ));
        let mut bad = env.clone();
        bad.payload = base64::engine::general_purpose::STANDARD.encode(b"{ }");
        assert!(matches!(
            bad.verify(PayloadType::Statement),
            Err(EnvelopeError::BadSignature { .. })
        ));
    }
}
