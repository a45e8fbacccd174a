//! The payloads of the three kinds of signed documents the registry accepts:
//! consent statements, artist registrations and key events. `spec/statement.md`
//! is the normative description; this module is its executable form.
//!
//! Parsing is strict: unknown fields, duplicate fields and wrong types are
//! errors, so one payload has exactly one meaning.

use serde::{Deserialize, Serialize};

use super::canonical::parse_canonical;
use super::consent::{ConsentDeclaration, ConsentSet};
use super::fingerprint::{ImageCode, ISCC_IMAGE};
use super::terms::{validate_terms, Term};
use super::{ContentHash, InvalidPayload, Timestamp};

/// The payload version every document currently carries.
pub const FORMAT_VERSION: u32 = 1;
/// Works per statement, at most.
pub const MAX_WORKS_PER_STATEMENT: usize = 500;
/// Bytes in a payload, at most: every document becomes one log entry, and a
/// C2SP `tlog-tiles` entry bundle holds entries of at most 65,535 bytes.
pub const MAX_PAYLOAD_BYTES: usize = 60_000;
/// Characters in a title or display name, at most.
pub const MAX_TEXT_CHARS: usize = 512;
/// Fingerprints per work, at most.
pub const MAX_FINGERPRINTS: usize = 8;

/// A perceptual or similarity fingerprint of a work. Those of algorithm
/// [`ISCC_IMAGE`] must be canonical ISCC Image-Codes and are matched
/// (`docs/matching.md`); others are stored and returned verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    pub algorithm: String,
    pub value: String,
}

/// One work a statement is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Work {
    pub hash: ContentHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When the work was first published, as declared by the artist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprints: Vec<Fingerprint>,
}

/// A consent statement: who says what about which works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub version: u32,
    /// The signing key, `ed25519:<64 hex>`; it must sign the envelope.
    pub key: String,
    pub works: Vec<Work>,
    pub consent: ConsentDeclaration,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<Term>,
    pub issued_at: Timestamp,
}

/// A statement that passed every check, with its consent expanded.
#[derive(Debug, Clone)]
pub struct ValidStatement {
    pub statement: Statement,
    pub consent: ConsentSet,
}

impl Statement {
    /// Parses and checks a statement payload.
    ///
    /// # Errors
    /// On malformed JSON, unknown or duplicate fields, an unsupported version,
    /// no works or too many, a work listed twice, contradictory consent,
    /// terms that are invalid or attached to a statement that allows nothing,
    /// or over-long text.
    pub fn parse(payload: &[u8]) -> Result<ValidStatement, InvalidPayload> {
        let statement: Statement = parse_canonical(payload)?;
        check_version(statement.version)?;
        if statement.works.is_empty() {
            return Err(InvalidPayload::new(
                "a statement must name at least one work",
            ));
        }
        if statement.works.len() > MAX_WORKS_PER_STATEMENT {
            return Err(InvalidPayload::new(format!(
                "a statement names at most {MAX_WORKS_PER_STATEMENT} works"
            )));
        }
        let mut hashes: Vec<&ContentHash> = statement.works.iter().map(|w| &w.hash).collect();
        hashes.sort_unstable();
        if let Some(dup) = hashes.windows(2).find(|w| w[0] == w[1]) {
            return Err(InvalidPayload::new(format!(
                "work {} is listed twice",
                dup[0]
            )));
        }
        for work in &statement.works {
            check_text("title", work.title.as_deref())?;
            if let Some(mt) = &work.media_type {
                check_media_type(mt)?;
            }
            if work.fingerprints.len() > MAX_FINGERPRINTS {
                return Err(InvalidPayload::new(format!(
                    "a work carries at most {MAX_FINGERPRINTS} fingerprints"
                )));
            }
            for fp in &work.fingerprints {
                if fp.algorithm.is_empty()
                    || fp.algorithm.len() > 64
                    || fp.value.is_empty()
                    || fp.value.len() > 1024
                {
                    return Err(InvalidPayload::new(
                        "a fingerprint needs an algorithm (1-64 bytes) and a value (1-1024 bytes)",
                    ));
                }
                if fp.algorithm == ISCC_IMAGE {
                    ImageCode::parse(&fp.value).map_err(|e| {
                        InvalidPayload::new(format!(
                            "work {}: fingerprint {ISCC_IMAGE}: {e}",
                            work.hash
                        ))
                    })?;
                }
            }
        }
        let consent = ConsentSet::from_declaration(&statement.consent)?;
        validate_terms(&statement.terms)?;
        if !statement.terms.is_empty() && !consent.allows_anything() {
            return Err(InvalidPayload::new(
                "terms apply to allowed uses, and this statement allows none",
            ));
        }
        Ok(ValidStatement { statement, consent })
    }
}

/// Registration of a new artist; signed by the artist's first key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtistRegistration {
    pub version: u32,
    pub key: String,
    pub display_name: String,
    pub issued_at: Timestamp,
}

impl ArtistRegistration {
    /// Parses and checks an artist registration payload.
    ///
    /// # Errors
    /// On malformed JSON, unknown fields, an unsupported version or an empty
    /// or over-long display name.
    pub fn parse(payload: &[u8]) -> Result<Self, InvalidPayload> {
        let reg: ArtistRegistration = parse_canonical(payload)?;
        check_version(reg.version)?;
        if reg.display_name.trim().is_empty() {
            return Err(InvalidPayload::new("display_name must not be empty"));
        }
        check_text("display_name", Some(&reg.display_name))?;
        Ok(reg)
    }
}

/// What a key event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAction {
    /// Add `key`; signed by an active key of the artist and by `key`.
    Add,
    /// Replace `replaces` with `key`; signed by both. `replaces` is revoked
    /// from the event's receipt time.
    Rotate,
    /// Revoke `key` from `effective_at` (default: receipt time); signed by
    /// any active key of the artist.
    Revoke,
}

/// A change to an artist's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEvent {
    pub version: u32,
    pub artist: String,
    pub action: KeyAction,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_at: Option<Timestamp>,
    pub issued_at: Timestamp,
}

impl KeyEvent {
    /// Parses and checks a key event payload.
    ///
    /// # Errors
    /// On malformed JSON, unknown fields, an unsupported version, or fields
    /// that do not fit the action (`replaces` only with `rotate`,
    /// `effective_at` only with `revoke`).
    pub fn parse(payload: &[u8]) -> Result<Self, InvalidPayload> {
        let ev: KeyEvent = parse_canonical(payload)?;
        check_version(ev.version)?;
        match ev.action {
            KeyAction::Rotate if ev.replaces.is_none() => {
                return Err(InvalidPayload::new(
                    "a rotate event names the key it `replaces`",
                ))
            }
            KeyAction::Add | KeyAction::Revoke if ev.replaces.is_some() => {
                return Err(InvalidPayload::new(
                    "`replaces` belongs to rotate events only",
                ))
            }
            KeyAction::Add | KeyAction::Rotate if ev.effective_at.is_some() => {
                return Err(InvalidPayload::new(
                    "`effective_at` belongs to revoke events only",
                ))
            }
            _ => {}
        }
        if ev.replaces.as_deref() == Some(ev.key.as_str()) {
            return Err(InvalidPayload::new("a key cannot replace itself"));
        }
        Ok(ev)
    }
}

fn check_version(version: u32) -> Result<(), InvalidPayload> {
    if version == FORMAT_VERSION {
        Ok(())
    } else {
        Err(InvalidPayload::new(format!(
            "payload version {version} is not supported (this registry reads version {FORMAT_VERSION})"
        )))
    }
}

/// Free text: at most [`MAX_TEXT_CHARS`] characters and no U+0000 (which
/// PostgreSQL text cannot hold, so both backends refuse it alike).
pub(crate) fn check_text(field: &str, text: Option<&str>) -> Result<(), InvalidPayload> {
    match text {
        Some(t) if t.chars().count() > MAX_TEXT_CHARS => Err(InvalidPayload::new(format!(
            "{field} is longer than {MAX_TEXT_CHARS} characters"
        ))),
        Some(t) if t.contains('\0') => Err(InvalidPayload::new(format!("{field} contains U+0000"))),
        _ => Ok(()),
    }
}

fn check_media_type(mt: &str) -> Result<(), InvalidPayload> {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match mt.split_once('/') {
        Some((t, sub)) if token(t) && token(sub) => Ok(()),
        _ => Err(InvalidPayload::new(format!(
            "`{mt}` is not a media type like image/png"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(extra: &str) -> String {
        format!(
            r#"{{"version":1,"key":"ed25519:00","works":[{{"hash":"blake3:{}"}}],"consent":"opt-out","issued_at":"2026-01-01T00:00:00Z"{extra}}}"#,
            "ab".repeat(32)
        )
    }

    #[test]
    fn parses_minimal_statement() {
        let s = Statement::parse(payload("").as_bytes()).expect("valid");
        assert_eq!(s.statement.works.len(), 1);
    }

    #[test]
    fn rejects_unknown_and_duplicate_fields() {
        assert!(Statement::parse(payload(r#","colour":"red""#).as_bytes()).is_err());
        assert!(Statement::parse(payload(r#","version":1"#).as_bytes()).is_err());
        assert!(Statement::parse(payload(r#","terms":[{"kind":"free"}]"#).as_bytes()).is_err());
    }

    #[test]
    fn rejects_non_canonical_spellings() {
        let hash = format!("blake3:{}", "ab".repeat(32));
        for bad in [
            format!(r#"[1,"ed25519:00",[["{hash}"]],"opt-out",[],"2026-01-01T00:00:00Z"]"#),
            format!(
                r#"{{"version":1,"key":"k","works":[{{"hash":"{hash}"}}],"consent":{{"opt-out":null}},"issued_at":"2026-01-01T00:00:00Z"}}"#
            ),
            format!(
                r#"{{"version":1,"key":"k","works":[{{"hash":"{hash}","title":null}}],"consent":"opt-out","issued_at":"2026-01-01T00:00:00Z"}}"#
            ),
            format!(
                r#"{{"version":1,"key":"k","works":[{{"hash":"{hash}"}}],"consent":"opt-out","terms":[],"issued_at":"2026-01-01T00:00:00Z"}}"#
            ),
            format!(
                r#"{{"version":1,"key":"k","works":[{{"hash":"{hash}"}}],"consent":"opt-out","issued_at":"2026-01-01 00:00:00Z"}}"#
            ),
            format!(
                r#"{{"version":1,"key":"k","works":[{{"hash":"1e20{}"}}],"consent":"opt-out","issued_at":"2026-01-01T00:00:00Z"}}"#,
                "ab".repeat(32)
            ),
        ] {
            assert!(Statement::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let ok = format!(
            r#"{{"issued_at":"2026-01-01T00:00:00.5Z","consent":"opt-out","works":[{{"hash":"{hash}"}}],"key":"k","version":1}}"#
        );
        assert!(Statement::parse(ok.as_bytes()).is_ok(), "key order is free");
    }
}
