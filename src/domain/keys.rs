//! Key authority (`spec/statement.md` §9.3, §10 item 1): when a key is
//! active, what a key event may do, and what it changes.
//!
//! The registry decides a key event with [`decide_key_event`] against the
//! keys it stores, the auditor with the same function against the keys it
//! replayed from the log, and the consent index applies an accepted event's
//! [`key_changes`]; none of them has a rule of its own. Keys are generic
//! (`K`): the registry decides over decoded keys, the auditor over the key
//! ids the log's entries carry.

use std::fmt::Display;

use super::{KeyAction, Timestamp};

/// Whether a key with revocation time `revoked_at` is active at `t`: it has
/// none, or `t` is before it. The one definition of "active".
#[must_use]
pub fn active_at(revoked_at: Option<Timestamp>, t: Timestamp) -> bool {
    revoked_at.is_none_or(|r| t < r)
}

/// When a key of an artist was added and, if it was, revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpan {
    pub added_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl KeySpan {
    /// [`active_at`] for this key.
    #[must_use]
    pub fn active_at(&self, t: Timestamp) -> bool {
        active_at(self.revoked_at, t)
    }
}

/// What an accepted key event changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange<K> {
    /// `K` becomes a key of the artist, added at the event's receipt time.
    Added(K),
    /// `key`'s revocation time becomes `effective_at` (the earlier of it and
    /// an existing one: a revocation is only ever brought forward).
    Revoked { key: K, effective_at: Timestamp },
}

/// Why a key event is refused (§9.3 steps 6–9), each with the problem type
/// the registry answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// Step 6 (`forbidden`).
    #[error("{0} is not an active key of this artist")]
    SignerNotActive(String),
    /// Step 7, `add`/`rotate` (`bad-signature`).
    #[error("the new key must sign the event (proof of possession)")]
    NoProofOfPossession,
    /// Step 8 (`key-in-use`).
    #[error("key {0} is already registered")]
    KeyInUse(String),
    /// Step 9 `rotate`, step 7 `revoke` (`unknown-key`).
    #[error("{0} is not a key of this artist")]
    NotTheArtists(String),
    /// Step 9 `rotate` (`revoked-key`).
    #[error("{0} is not an active key of this artist")]
    ReplacedNotActive(String),
    /// Step 9 `add` (`bad-signature`).
    #[error("an existing active key must sign the event")]
    NoAuthoriser,
    /// Step 9 `rotate` (`bad-signature`).
    #[error("the replaced key must sign a rotation")]
    ReplacedDidNotSign,
    /// Step 8 `revoke` (`invalid-payload`).
    #[error("effective_at {effective} precedes the key's registration at {added}")]
    BeforeAdded {
        effective: Timestamp,
        added: Timestamp,
    },
    /// Step 9 `revoke` (`already-revoked`).
    #[error("{key} is already revoked from {at}")]
    AlreadyRevoked { key: String, at: Timestamp },
}

/// A key event as the rules see it: its payload's keys decoded as `K`,
/// who signed it, and the facts the caller looked up.
#[derive(Debug, Clone)]
pub struct KeyEventFacts<'a, K> {
    pub action: KeyAction,
    /// The key added (`add`, `rotate`) or revoked (`revoke`).
    pub key: K,
    pub replaces: Option<K>,
    pub effective_at: Option<Timestamp>,
    pub signers: &'a [K],
    /// The event's receipt time: `now` of §9.3.
    pub now: Timestamp,
    /// Whether `key` is held by anyone: any artist (active or revoked), a
    /// builder, or the registry's admin key. Only `add`/`rotate` ask.
    pub key_in_use: bool,
}

/// Decides a key event of an artist that exists (§9.3 steps 6–9):
/// `artist_key` gives the span of a key of *this* artist (`None` for a key
/// that is not theirs). Returns what the event changes.
///
/// # Errors
/// The first rule the event breaks, in the order of §9.3.
pub fn decide_key_event<K: PartialEq + Clone + Display>(
    ev: &KeyEventFacts<'_, K>,
    artist_key: impl Fn(&K) -> Option<KeySpan>,
) -> Result<Vec<KeyChange<K>>, KeyRefusal> {
    let active = |k: &K| artist_key(k).is_some_and(|s| s.active_at(ev.now));
    let signed = |k: &K| ev.signers.contains(k);
    let adding = matches!(ev.action, KeyAction::Add | KeyAction::Rotate);
    if let Some(s) = ev
        .signers
        .iter()
        .find(|s| !(active(s) || (adding && **s == ev.key)))
    {
        return Err(KeyRefusal::SignerNotActive(s.to_string()));
    }
    match ev.action {
        KeyAction::Add | KeyAction::Rotate => {
            if !signed(&ev.key) {
                return Err(KeyRefusal::NoProofOfPossession);
            }
            if ev.key_in_use {
                return Err(KeyRefusal::KeyInUse(ev.key.to_string()));
            }
            match &ev.replaces {
                Some(old) => {
                    if artist_key(old).is_none() {
                        return Err(KeyRefusal::NotTheArtists(old.to_string()));
                    }
                    if !active(old) {
                        return Err(KeyRefusal::ReplacedNotActive(old.to_string()));
                    }
                    if !signed(old) {
                        return Err(KeyRefusal::ReplacedDidNotSign);
                    }
                }
                None => {
                    if !ev.signers.iter().any(|s| *s != ev.key) {
                        return Err(KeyRefusal::NoAuthoriser);
                    }
                }
            }
        }
        KeyAction::Revoke => {
            let span =
                artist_key(&ev.key).ok_or_else(|| KeyRefusal::NotTheArtists(ev.key.to_string()))?;
            let effective = ev.effective_at.unwrap_or(ev.now);
            if effective < span.added_at {
                return Err(KeyRefusal::BeforeAdded {
                    effective,
                    added: span.added_at,
                });
            }
            // A revocation may be brought forward, never pushed back.
            if let Some(at) = span.revoked_at.filter(|r| *r <= effective) {
                return Err(KeyRefusal::AlreadyRevoked {
                    key: ev.key.to_string(),
                    at,
                });
            }
        }
    }
    Ok(key_changes(
        ev.action,
        &ev.key,
        ev.replaces.as_ref(),
        ev.effective_at,
        ev.now,
    ))
}

/// What an accepted key event received at `received_at` changes: `add`
/// adds `key`; `rotate` adds `key` and revokes `replaces` from the receipt
/// time; `revoke` revokes `key` from `effective_at`, or else from the
/// receipt time.
#[must_use]
pub fn key_changes<K: Clone>(
    action: KeyAction,
    key: &K,
    replaces: Option<&K>,
    effective_at: Option<Timestamp>,
    received_at: Timestamp,
) -> Vec<KeyChange<K>> {
    match action {
        KeyAction::Add | KeyAction::Rotate => {
            let mut changes = vec![KeyChange::Added(key.clone())];
            if let Some(old) = replaces {
                changes.push(KeyChange::Revoked {
                    key: old.clone(),
                    effective_at: received_at,
                });
            }
            changes
        }
        KeyAction::Revoke => vec![KeyChange::Revoked {
            key: key.clone(),
            effective_at: effective_at.unwrap_or(received_at),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix_nanos(s * 1_000_000_000)
    }

    fn facts<'a>(
        action: KeyAction,
        key: &'static str,
        replaces: Option<&'static str>,
        signers: &'a [&'static str],
    ) -> KeyEventFacts<'a, &'static str> {
        KeyEventFacts {
            action,
            key,
            replaces,
            effective_at: None,
            signers,
            now: t(100),
            key_in_use: false,
        }
    }

    /// Key `a` active since 10; `b` revoked at 50; `c` revocation scheduled at 200.
    fn book(k: &&'static str) -> Option<KeySpan> {
        match *k {
            "a" => Some(KeySpan {
                added_at: t(10),
                revoked_at: None,
            }),
            "b" => Some(KeySpan {
                added_at: t(10),
                revoked_at: Some(t(50)),
            }),
            "c" => Some(KeySpan {
                added_at: t(10),
                revoked_at: Some(t(200)),
            }),
            _ => None,
        }
    }

    #[test]
    fn active_means_before_the_revocation_time() {
        assert!(active_at(None, t(5)));
        assert!(active_at(Some(t(6)), t(5)));
        assert!(!active_at(Some(t(5)), t(5)));
    }

    #[test]
    fn add_needs_the_new_key_and_an_active_one() {
        let ok = decide_key_event(&facts(KeyAction::Add, "n", None, &["n", "a"]), book);
        assert_eq!(ok, Ok(vec![KeyChange::Added("n")]));
        let alone = decide_key_event(&facts(KeyAction::Add, "n", None, &["n"]), book);
        assert_eq!(alone, Err(KeyRefusal::NoAuthoriser));
        let revoked = decide_key_event(&facts(KeyAction::Add, "n", None, &["n", "b"]), book);
        assert_eq!(revoked, Err(KeyRefusal::SignerNotActive("b".into())));
        let unproven = decide_key_event(&facts(KeyAction::Add, "n", None, &["a"]), book);
        assert_eq!(unproven, Err(KeyRefusal::NoProofOfPossession));
        let mut used = facts(KeyAction::Add, "n", None, &["n", "a"]);
        used.key_in_use = true;
        assert_eq!(
            decide_key_event(&used, book),
            Err(KeyRefusal::KeyInUse("n".into()))
        );
    }

    #[test]
    fn rotate_revokes_the_replaced_key_at_receipt() {
        let ok = decide_key_event(&facts(KeyAction::Rotate, "n", Some("c"), &["n", "c"]), book);
        assert_eq!(
            ok,
            Ok(vec![
                KeyChange::Added("n"),
                KeyChange::Revoked {
                    key: "c",
                    effective_at: t(100)
                }
            ])
        );
        let other = decide_key_event(&facts(KeyAction::Rotate, "n", Some("x"), &["n", "a"]), book);
        assert_eq!(other, Err(KeyRefusal::NotTheArtists("x".into())));
        let unsigned =
            decide_key_event(&facts(KeyAction::Rotate, "n", Some("c"), &["n", "a"]), book);
        assert_eq!(unsigned, Err(KeyRefusal::ReplacedDidNotSign));
    }

    #[test]
    fn revocations_come_forward_never_back() {
        let mut ev = facts(KeyAction::Revoke, "c", None, &["a"]);
        assert_eq!(
            decide_key_event(&ev, book),
            Ok(vec![KeyChange::Revoked {
                key: "c",
                effective_at: t(100)
            }])
        );
        ev.effective_at = Some(t(300));
        assert!(matches!(
            decide_key_event(&ev, book),
            Err(KeyRefusal::AlreadyRevoked { .. })
        ));
        ev.effective_at = Some(t(5));
        assert!(matches!(
            decide_key_event(&ev, book),
            Err(KeyRefusal::BeforeAdded { .. })
        ));
        let again = facts(KeyAction::Revoke, "b", None, &["a"]);
        assert!(matches!(
            decide_key_event(&again, book),
            Err(KeyRefusal::AlreadyRevoked { .. })
        ));
    }
}
