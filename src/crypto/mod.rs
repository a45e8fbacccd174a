//! Keys and signatures: Ed25519 public keys that the registry accepts, secret
//! keys kept out of logs, and DSSE envelopes verified strictly. Transport-free.

pub mod dsse;
pub mod keys;

pub use dsse::{pae, Envelope, EnvelopeError, EnvelopeSignature, PayloadType, VerifiedEnvelope};
pub use keys::{KeyError, PublicKey, SecretKey};
