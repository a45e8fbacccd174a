//! Ed25519 keys. A [`PublicKey`] can only hold a canonical, non-weak key; a
//! [`SecretKey`] zeroizes on drop and never prints its bytes.
//!
//! Key files are PKCS#8 PEM as RFC 8410 writes them (`spec/keys.md`): the
//! writer ([`SecretKey::to_pkcs8_pem`]) emits version 1 (`OneAsymmetricKey`
//! version 0, no public key), which OpenSSL and Python `cryptography` read;
//! the reader ([`SecretKey::from_pkcs8_pem`]) also takes version 2 (with the
//! public key, checked against the private one), which earlier releases wrote.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a key id is `ed25519:` followed by 64 lowercase hex digits")]
    Format,
    #[error("the public key is not a valid Ed25519 point")]
    Invalid,
    #[error("the public key has small order (a weak key that verifies forged signatures)")]
    Weak,
    #[error("the public key is not canonically encoded")]
    NonCanonical,
}

/// An Ed25519 public key accepted by the registry: a valid point, canonically
/// encoded, not of small order. Written `ed25519:<64 lowercase hex>`; that
/// string is also the key's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub const PREFIX: &'static str = "ed25519:";

    /// Checks raw key bytes against the registration rule.
    ///
    /// # Errors
    /// When the bytes are not a point, are a non-canonical encoding, or the
    /// point has small order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let vk = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::Invalid)?;
        if vk.to_edwards().compress().to_bytes() != *bytes {
            return Err(KeyError::NonCanonical);
        }
        if vk.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(Self(vk))
    }

    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies `signature` over `message` with `verify_strict`.
    #[must_use]
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }

    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_digits = s.strip_prefix(Self::PREFIX).ok_or(KeyError::Format)?;
        if hex_digits.len() != 64
            || !hex_digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(KeyError::Format);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut bytes).map_err(|_| KeyError::Format)?;
        Self::from_bytes(&bytes)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signing key. Zeroized on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new random key from the operating system's generator.
    #[must_use]
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// A key from a 32-byte seed (tests and vectors only need this).
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The public half.
    ///
    /// # Panics
    /// Never for keys made by this type: a key derived from a clamped scalar
    /// is never weak and always canonical.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    #[must_use]
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The private key alone, as RFC 8410 writes it in PKCS#8 version 1
    /// (`OneAsymmetricKey` version 0 without `publicKey`). Zeroized on drop.
    fn pkcs8_v1(&self) -> KeypairBytes {
        KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        }
    }

    /// The key as PKCS#8 v1 PEM, `-----BEGIN PRIVATE KEY-----` (what
    /// `openssl pkey` and Python `cryptography` read; `spec/keys.md`).
    ///
    /// # Errors
    /// If encoding fails (it does not for valid keys).
    pub fn to_pkcs8_pem(&self) -> Result<zeroize::Zeroizing<String>, KeyError> {
        self.pkcs8_v1()
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|_| KeyError::Invalid)
    }

    /// The key as PKCS#8 v1 DER (what `jsonwebtoken` wants for EdDSA signing).
    ///
    /// # Errors
    /// If encoding fails (it does not for valid keys).
    pub fn to_pkcs8_der(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
        self.pkcs8_v1()
            .to_pkcs8_der()
            .map(|doc| zeroize::Zeroizing::new(doc.as_bytes().to_vec()))
            .map_err(|_| KeyError::Invalid)
    }

    /// Reads a PKCS#8 PEM key: version 1 (the private key alone) or version
    /// 2 (with the public key, which must match the private one).
    ///
    /// # Errors
    /// When the text is not an Ed25519 PKCS#8 PEM private key, or a version
    /// 2 key's public key does not belong to its private key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(Self)
            .map_err(|_| KeyError::Invalid)
    }

    /// Loads a key file written by [`SecretKey::write_new_file`].
    ///
    /// # Errors
    /// When the file cannot be read or holds no Ed25519 PKCS#8 PEM key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?,
        );
        Self::from_pkcs8_pem(&text)
            .map_err(|_| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 PEM key", path.display()))
    }

    /// Writes the key as PKCS#8 PEM to a new file with mode 0600. Refuses to
    /// overwrite an existing file.
    ///
    /// # Errors
    /// When the file exists or cannot be written.
    pub fn write_new_file(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let pem = self.to_pkcs8_pem()?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create key file {}: {e}", path.display()))?;
        file.write_all(pem.as_bytes())?;
        file.sync_all()?;
        Ok(())
    }

    /// Loads the key at `path`, or creates one there if no file exists.
    /// Returns the key and whether it was created.
    ///
    /// # Errors
    /// When an existing file is unreadable or a new one cannot be written.
    pub fn load_or_create(path: &Path) -> anyhow::Result<(Self, bool)> {
        if path.exists() {
            Ok((Self::load(path)?, false))
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let key = Self::generate();
            key.write_new_file(path)?;
            Ok((key, true))
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_weak_and_noncanonical_keys() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::Weak));
        let mut noncanonical = identity;
        noncanonical[31] = 0x80; // x = 0 with the sign bit set
        assert!(matches!(
            PublicKey::from_bytes(&noncanonical),
            Err(KeyError::NonCanonical | KeyError::Invalid)
        ));
    }

    #[test]
    fn key_id_round_trips_and_debug_hides_secret() {
        let sk = SecretKey::from_seed(&[7u8; 32]);
        let pk = sk.public_key();
        assert_eq!(pk.to_string().parse::<PublicKey>(), Ok(pk));
        let debug = format!("{sk:?}");
        assert!(!debug.contains(&hex::encode([7u8; 32])));
        let pem = sk.to_pkcs8_pem().expect("pem");
        assert_eq!(
            SecretKey::from_pkcs8_pem(&pem).expect("parse").public_key(),
            pk
        );
    }

    /// The seed-7 key in PKCS#8 v1, byte for byte as `spec/keys.md` shows it.
    const SEED7_V1: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n\
        -----END PRIVATE KEY-----\n";

    #[test]
    fn writes_pkcs8_v1_and_reads_v1_and_v2() {
        let sk = SecretKey::from_seed(&[7u8; 32]);
        let pem = sk.to_pkcs8_pem().expect("pem");
        assert_eq!(pem.as_str(), SEED7_V1);
        let der = sk.to_pkcs8_der().expect("der");
        assert_eq!(
            &der[..16],
            &hex::decode("302e020100300506032b657004220420").expect("hex")[..]
        );
        // Version 2, with the matching public key, as earlier releases wrote it.
        let v2 =
            sk.0.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .expect("v2");
        assert!(v2.contains("BEGIN PRIVATE KEY"));
        assert_ne!(v2.as_str(), SEED7_V1);
        assert_eq!(
            SecretKey::from_pkcs8_pem(&v2)
                .expect("v2 reads")
                .public_key(),
            sk.public_key()
        );
        // Version 2 whose public key belongs to another key is refused.
        let other = SecretKey::from_seed(&[8u8; 32]);
        let forged = KeypairBytes {
            secret_key: sk.0.to_bytes(),
            public_key: Some(ed25519_dalek::pkcs8::PublicKeyBytes(
                other.public_key().to_bytes(),
            )),
        }
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .expect("forged");
        assert_eq!(
            SecretKey::from_pkcs8_pem(&forged).err(),
            Some(KeyError::Invalid)
        );
    }
}
