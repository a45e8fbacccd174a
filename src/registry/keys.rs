//! Artists and their keys: registration, key events (add, rotate, revoke),
//! builders, and who holds a key.

use super::documents::{entry_signatures, AcceptStatus, Accepted};
use super::errors::{Rejection, RejectionKind, Result};
use super::Registry;
use crate::crypto::{Envelope, PayloadType, PublicKey};
use crate::domain::ids::{artist_id, document_id};
use crate::domain::keys::{decide_key_event, KeyChange, KeyEventFacts};
use crate::domain::{ArtistRegistration, KeyAction, KeyEvent, Timestamp};
use crate::index::Parsed;
use crate::store::{Append, BuilderRecord, Document, DocumentKind, Effect, KeyRecord, StoreError};

/// Who a key belongs to, for authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHolder {
    Artist(KeyRecord),
    Builder(BuilderRecord),
}

impl Registry {
    /// The answer for a document already stored under `id` (a duplicate),
    /// if one is.
    async fn stored_duplicate(&self, id: &str) -> Result<Option<Accepted>> {
        Ok(self
            .store
            .documents_by_id(&[id.to_owned()])
            .await?
            .first()
            .map(|existing| Accepted::from_stored(existing, AcceptStatus::Duplicate)))
    }

    async fn key_or_builder_in_use(&self, key: &PublicKey) -> Result<bool> {
        Ok(self.reserved == Some(*key)
            || self.store.key(key).await?.is_some()
            || self.store.builder_by_key(key).await?.is_some())
    }

    /// Registers an artist from a self-signed registration.
    ///
    /// # Errors
    /// Rejections for a bad envelope or payload, a payload key that did not
    /// sign, a future `issued_at`, or a key already held by someone.
    pub async fn register_artist(&self, env: &Envelope) -> Result<Accepted> {
        if env.signatures.len() != 1 {
            return Err(Rejection::new(
                RejectionKind::MalformedEnvelope,
                "a registration carries exactly one signature",
            )
            .into());
        }
        let verified = env.verify(PayloadType::Artist).map_err(Rejection::from)?;
        let reg = ArtistRegistration::parse(&verified.payload).map_err(Rejection::from)?;
        let key = verified.signers[0].0;
        if reg.key != key.to_string() {
            return Err(Rejection::new(
                RejectionKind::KeyMismatch,
                "the payload's `key` is not the key that signed",
            )
            .into());
        }
        let id = document_id(&verified.payload);
        let mut last = self.writer.lock().await;
        if let Some(stored) = self.stored_duplicate(&id).await? {
            return Ok(stored);
        }
        Self::check_not_future(reg.issued_at, Timestamp::now())?;
        if self.key_or_builder_in_use(&key).await? {
            return Err(Rejection::new(
                RejectionKind::KeyInUse,
                format!("key {key} is already registered"),
            )
            .into());
        }
        let received_at = Self::next_receipt_time(&mut last);
        let doc = Document {
            id: id.clone(),
            kind: DocumentKind::Artist,
            artist_id: artist_id(&verified.payload),
            payload_type: PayloadType::Artist.as_str().to_owned(),
            signatures: entry_signatures(&verified),
            payload: verified.payload,
            received_at,
        };
        let record = Parsed::Artist {
            id: artist_id(&doc.payload),
            display_name: reg.display_name.clone(),
            key: key.to_bytes(),
        };
        let effects = vec![Effect::ArtistCreated {
            display_name: reg.display_name,
            key,
        }];
        let append = Append { doc, effects };
        let (seq, receipt) = self.append_one(&append, record).await?;
        Ok(Accepted {
            id: append.doc.id,
            seq,
            kind: DocumentKind::Artist.as_str(),
            artist_id: append.doc.artist_id,
            received_at,
            status: AcceptStatus::Created,
            receipt,
        })
    }

    /// Applies a key event (add, rotate, revoke) to `artist_id`'s keys.
    ///
    /// # Errors
    /// Rejections for a bad envelope or payload, an event about another
    /// artist, missing or foreign signatures, keys in use or already revoked.
    pub async fn key_event(&self, artist_id: &str, env: &Envelope) -> Result<Accepted> {
        let verified = env.verify(PayloadType::KeyEvent).map_err(Rejection::from)?;
        let ev = KeyEvent::parse(&verified.payload).map_err(Rejection::from)?;
        if ev.artist != artist_id {
            return Err(Rejection::new(
                RejectionKind::Forbidden,
                "the event's `artist` is not the artist in the URL",
            )
            .into());
        }
        let subject: PublicKey = ev
            .key
            .parse()
            .map_err(|e| Rejection::new(RejectionKind::InvalidKey, format!("`key`: {e}")))?;
        let replaces: Option<PublicKey> = ev
            .replaces
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| Rejection::new(RejectionKind::InvalidKey, format!("`replaces`: {e}")))?;
        let id = document_id(&verified.payload);

        let mut last = self.writer.lock().await;
        if let Some(stored) = self.stored_duplicate(&id).await? {
            return Ok(stored);
        }
        // The event's receipt time is `now`: every rule below is decided
        // at the instant the log records (so an auditor can re-decide it).
        let now = Self::next_receipt_time(&mut last);
        Self::check_not_future(ev.issued_at, now)?;
        let artist = self.store.artist(artist_id).await?.ok_or_else(|| {
            Rejection::new(
                RejectionKind::UnknownArtist,
                format!("no artist {artist_id}"),
            )
        })?;
        let adding = matches!(ev.action, KeyAction::Add | KeyAction::Rotate);
        let key_in_use = adding && self.key_or_builder_in_use(&subject).await?;
        let signers: Vec<PublicKey> = verified.signers.iter().map(|(k, _)| *k).collect();
        let facts = KeyEventFacts {
            action: ev.action,
            key: subject,
            replaces,
            effective_at: ev.effective_at,
            signers: &signers,
            now,
            key_in_use,
        };
        let changes = decide_key_event(&facts, |k| {
            artist
                .keys
                .iter()
                .find(|r| r.key == *k)
                .map(KeyRecord::span)
        })
        .map_err(Rejection::from)?;
        let received_at = now;
        let effects = changes
            .into_iter()
            .map(|c| match c {
                KeyChange::Added(key) => Effect::KeyAdded { key },
                KeyChange::Revoked { key, effective_at } => {
                    Effect::KeyRevoked { key, effective_at }
                }
            })
            .collect();
        let doc = Document {
            id,
            kind: DocumentKind::KeyEvent,
            artist_id: artist_id.to_owned(),
            payload_type: PayloadType::KeyEvent.as_str().to_owned(),
            signatures: entry_signatures(&verified),
            payload: verified.payload,
            received_at,
        };
        let append = Append { doc, effects };
        let (seq, receipt) = self.append_one(&append, Parsed::KeyEvent(ev)).await?;
        Ok(Accepted {
            id: append.doc.id,
            seq,
            kind: DocumentKind::KeyEvent.as_str(),
            artist_id: append.doc.artist_id,
            received_at,
            status: AcceptStatus::Created,
            receipt,
        })
    }

    /// Who holds `key`, if anyone.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn key_holder(&self, key: &PublicKey) -> Result<Option<KeyHolder>> {
        if let Some(k) = self.store.key(key).await? {
            return Ok(Some(KeyHolder::Artist(k)));
        }
        Ok(self
            .store
            .builder_by_key(key)
            .await?
            .map(KeyHolder::Builder))
    }

    /// Registers a dataset builder (admin only; the caller checks the role).
    ///
    /// # Errors
    /// A rejection when the key is already held, or storage failure.
    pub async fn create_builder(&self, name: &str, key: PublicKey) -> Result<BuilderRecord> {
        let _guard = self.writer.lock().await;
        if self.key_or_builder_in_use(&key).await? {
            return Err(Rejection::new(
                RejectionKind::KeyInUse,
                format!("key {key} is already registered"),
            )
            .into());
        }
        let mut id = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        let record = BuilderRecord {
            builder_id: crate::domain::ids::builder_id(id),
            name: name.to_owned(),
            key,
            created_at: Timestamp::now(),
        };
        match self.store.create_builder(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::Conflict(_)) => Err(Rejection::new(
                RejectionKind::KeyInUse,
                format!("key {key} is already registered"),
            )
            .into()),
            Err(e) => Err(e.into()),
        }
    }
}
