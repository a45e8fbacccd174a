//! API authentication: a key holder signs a one-time server challenge and
//! gets a short-lived JWT (EdDSA, signed by the registry key).
//!
//! Validation is pinned to EdDSA and requires `exp`, `iat`, `aud`, `iss` and
//! `sub`; tokens live 15 minutes. A token is refused when its lifetime
//! (`exp - iat`) is longer than that, or its `iat` is in the future; `exp`
//! and `iat` are checked with [`LEEWAY_SECS`] of leeway for clock skew.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::{pae, PayloadType, PublicKey, SecretKey};
use crate::domain::Timestamp;

/// Token lifetime.
pub const TOKEN_TTL_SECS: i64 = 15 * 60;
/// Clock-skew leeway on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 30;
/// Challenge lifetime.
pub const CHALLENGE_TTL_SECS: i64 = 5 * 60;
/// Outstanding challenges kept, at most (older ones are dropped first).
const MAX_PENDING_CHALLENGES: usize = 100_000;
/// The `aud` of every token.
pub const AUDIENCE: &str = "consentry-api";

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Artist,
    Builder,
    Admin,
}

/// The claims inside a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The artist id, builder id, or `admin`.
    pub sub: String,
    pub role: Role,
    /// The key that answered the challenge.
    pub key: String,
    pub iat: i64,
    pub exp: i64,
}

/// Authentication failures. Messages are safe to return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown or expired challenge")]
    Challenge,
    #[error("the challenge signature does not verify")]
    Signature,
    #[error("invalid token: {0}")]
    Token(String),
    #[error("token signing failed")]
    Signing,
}

struct Pending {
    key: PublicKey,
    expires: Timestamp,
}

/// Issues challenges and tokens, and validates tokens.
pub struct Auth {
    issuer: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Auth {
    /// # Errors
    /// When the registry key cannot be encoded for JWT signing.
    pub fn new(registry_key: &SecretKey, issuer: &str) -> anyhow::Result<Self> {
        let der = registry_key.to_pkcs8_der()?;
        let encoding = EncodingKey::from_ed_der(&der);
        let decoding = DecodingKey::from_ed_der(&registry_key.public_key().to_bytes());
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        validation.leeway = LEEWAY_SECS.unsigned_abs();
        Ok(Self {
            issuer: issuer.to_owned(),
            encoding,
            decoding,
            validation,
            pending: Mutex::new(HashMap::new()),
        })
    }

    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A fresh one-time challenge for `key`, valid [`CHALLENGE_TTL_SECS`].
    pub fn challenge(&self, key: PublicKey) -> (String, Timestamp) {
        let mut nonce = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(nonce);
        let now = Timestamp::now();
        let expires = now.plus_secs(CHALLENGE_TTL_SECS);
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pending.len() >= MAX_PENDING_CHALLENGES {
            pending.retain(|_, p| p.expires > now);
            if pending.len() >= MAX_PENDING_CHALLENGES {
                // Still full of live challenges: drop the oldest tenth.
                let mut by_age: Vec<(String, Timestamp)> = pending
                    .iter()
                    .map(|(c, p)| (c.clone(), p.expires))
                    .collect();
                by_age.sort_by_key(|(_, e)| *e);
                for (c, _) in by_age.into_iter().take(MAX_PENDING_CHALLENGES / 10) {
                    pending.remove(&c);
                }
            }
        }
        pending.insert(challenge.clone(), Pending { key, expires });
        (challenge, expires)
    }

    /// Consumes `challenge` if `signature` is `key`'s signature over
    /// `PAE("application/vnd.consentry.auth-challenge.v1", challenge)`.
    ///
    /// # Errors
    /// When the challenge is unknown, expired or issued for another key, or
    /// the signature does not verify (the challenge is consumed either way).
    pub fn redeem(
        &self,
        key: &PublicKey,
        challenge: &str,
        signature: &[u8; 64],
    ) -> Result<(), AuthError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(challenge)
            .ok_or(AuthError::Challenge)?;
        if pending.key != *key || pending.expires <= Timestamp::now() {
            return Err(AuthError::Challenge);
        }
        let message = pae(PayloadType::AuthChallenge.as_str(), challenge.as_bytes());
        if key.verify_strict(&message, signature) {
            Ok(())
        } else {
            Err(AuthError::Signature)
        }
    }

    /// Signs a token for `sub` in `role`, proven with `key`.
    ///
    /// # Errors
    /// If signing fails.
    pub fn issue(
        &self,
        role: Role,
        sub: &str,
        key: &PublicKey,
    ) -> Result<(String, Timestamp), AuthError> {
        let now = Timestamp::now();
        let exp = now.plus_secs(TOKEN_TTL_SECS);
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: sub.to_owned(),
            role,
            key: key.to_string(),
            iat: now.unix_secs(),
            exp: exp.unix_secs(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding)
            .map_err(|_| AuthError::Signing)?;
        Ok((token, exp))
    }

    /// Validates a token: EdDSA only, our issuer and audience, not expired,
    /// not issued in the future, and living no longer than [`TOKEN_TTL_SECS`].
    ///
    /// # Errors
    /// With the reason the token is refused.
    pub fn validate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Token(e.to_string()))?;
        if claims.exp.saturating_sub(claims.iat) > TOKEN_TTL_SECS {
            return Err(AuthError::Token(format!(
                "lifetime longer than the {TOKEN_TTL_SECS} s this registry issues"
            )));
        }
        if claims.iat > Timestamp::now().unix_secs().saturating_add(LEEWAY_SECS) {
            return Err(AuthError::Token("issued in the future".into()));
        }
        Ok(claims)
    }
}
