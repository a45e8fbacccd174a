//! C2PA manifests: the active manifest's CAWG `cawg.training-mining` (or
//! C2PA 1.x `c2pa.training-mining`) assertion, with the manifest's
//! validation state, read with the `c2pa` crate (the C2PA reference SDK).
//! No network: remote manifests and OCSP are not fetched, and no trust
//! list is configured, so a good signature reads as `valid`, never
//! `trusted`.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use c2pa::{Context, Reader, ValidationState};
use memchr::memmem;

use super::{FileSignals, Finding};
use crate::domain::signals::{cawg_entry_category, cawg_use, C2PA_LEGACY_LABEL, CAWG_LABEL};
use crate::domain::ConsentSet;

/// The reader's settings: nothing fetched from the network.
const SETTINGS: &str = r#"{"verify": {"remote_manifest_fetch": false, "ocsp_fetch": false}}"#;

/// The container a file's first bytes say it is, as a media type, among
/// those that embed C2PA manifests and that we check.
pub fn media_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xff, 0xd8, 0xff, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => Some("image/png"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => Some("image/tiff"),
        _ => None,
    }
}

pub(super) fn read(bytes: &[u8], sidecar: Option<&[u8]>, out: &mut FileSignals) {
    // Every embedded manifest store is a JUMBF box labelled `c2pa`.
    let embedded = memmem::find(bytes, b"c2pa").is_some();
    if !embedded && sidecar.is_none() {
        return;
    }
    let Some(format) = media_type(bytes) else {
        if sidecar.is_some() {
            out.note(
                "a .c2pa manifest beside a file that is not a JPEG, PNG, WebP, GIF or TIFF: not read",
            );
        }
        return;
    };
    // The embedded store and a sidecar are read apart: a sidecar must not
    // hide what the file itself carries.
    if embedded {
        read_store(bytes, None, format, out);
    }
    if let Some(store) = sidecar {
        read_store(bytes, Some(store), format, out);
    }
}

/// Reads one manifest store: the one embedded in `bytes`, or `sidecar`
/// (bound to `bytes`).
fn read_store(bytes: &[u8], sidecar: Option<&[u8]>, format: &str, out: &mut FileSignals) {
    let read = catch_unwind(AssertUnwindSafe(|| -> c2pa::Result<Reader> {
        let reader = Reader::from_context(Context::new().with_settings(SETTINGS)?);
        match sidecar {
            Some(store) => reader.with_manifest_data_and_stream(store, format, Cursor::new(bytes)),
            None => reader.with_stream(format, Cursor::new(bytes)),
        }
    }));
    let source = if sidecar.is_some() {
        "c2pa-sidecar"
    } else {
        "c2pa"
    };
    match read {
        Ok(Ok(reader)) => findings(&reader, source, out),
        // `c2pa` by chance in other bytes is no manifest; a JUMBF box that
        // the reader could not take as a manifest store is worth a note.
        Ok(Err(c2pa::Error::JumbfNotFound | c2pa::Error::ProvenanceMissing)) => {
            if sidecar.is_some() || memmem::find(bytes, b"jumb").is_some() {
                out.note(format!(
                    "{} names C2PA but holds no manifest store the C2PA reader accepts",
                    if sidecar.is_some() {
                        "the .c2pa sidecar"
                    } else {
                        "a JUMBF box"
                    }
                ));
            }
        }
        Ok(Err(e)) => out.note(format!(
            "{} could not be read: {e}",
            if sidecar.is_some() {
                "the .c2pa sidecar"
            } else {
                "a C2PA manifest"
            }
        )),
        Err(_) => out.note("the C2PA reader failed on this file: its manifest was not read"),
    }
}

fn findings(reader: &Reader, source: &'static str, out: &mut FileSignals) {
    let Some(manifest) = reader.active_manifest() else {
        return;
    };
    let signature = match reader.validation_state() {
        ValidationState::Trusted => "trusted".to_owned(),
        ValidationState::Valid => "valid".to_owned(),
        ValidationState::Invalid => {
            let codes: Vec<String> = reader
                .validation_results()
                .and_then(|r| r.active_manifest())
                .map(|s| s.failure.iter().map(|v| v.code().to_owned()).collect())
                .unwrap_or_default();
            if codes.is_empty() {
                "invalid".to_owned()
            } else {
                format!("invalid: {}", codes.join(", "))
            }
        }
    };
    let signer = manifest.signature_info().map(|s| {
        let name = s.common_name.as_deref().unwrap_or("(no common name)");
        match &s.issuer {
            Some(issuer) => format!("{name}, issued by {issuer}"),
            None => name.to_owned(),
        }
    });
    for assertion in manifest.assertions() {
        let label = assertion.label();
        if label != CAWG_LABEL && label != C2PA_LEGACY_LABEL {
            continue;
        }
        let entries = match assertion.value() {
            Ok(v) => v.get("entries").and_then(|e| e.as_object()).cloned(),
            Err(_) => None,
        };
        let Some(entries) = entries else {
            out.note(format!("a {label} assertion without entries"));
            continue;
        };
        for (key, entry) in &entries {
            let Some(category) = cawg_entry_category(key) else {
                continue;
            };
            let written = entry
                .get("use")
                .and_then(|u| u.as_str())
                .unwrap_or_default();
            let preference = match cawg_use(written) {
                Ok(p) => p,
                Err(e) => {
                    out.note(format!("{label} {key}: {e}"));
                    continue;
                }
            };
            let value = match entry.get("constraint_info").and_then(|c| c.as_str()) {
                Some(info) => format!("{written} ({info})"),
                None => written.to_owned(),
            };
            out.add(Finding {
                source,
                property: format!("{label}/{key}"),
                value,
                consent: ConsentSet::from_signal([(category, preference)]),
                signature: Some(signature.clone()),
                signer: signer.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG whose APP11 segment starts a JUMBF box labelled `c2pa` and
    /// holds nothing else.
    fn junk_jpeg(whole: bool) -> Vec<u8> {
        let mut bytes = vec![0xff, 0xd8];
        let mut app11 = vec![0xff, 0xeb, 0x00, 0x20];
        app11.extend_from_slice(
            b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x18jumbc2pa\x00\x11\x00\x10\x80\x00",
        );
        app11.resize(0x22, 0);
        bytes.extend_from_slice(&app11);
        if whole {
            // A comment, then the end: a JPEG without a frame.
            bytes.extend_from_slice(&[0xff, 0xfe, 0x00, 0x04, b'h', b'i']);
        }
        bytes.extend_from_slice(&[0xff, 0xd9]);
        bytes
    }

    #[test]
    fn junk_that_names_c2pa_is_a_note_and_chance_bytes_are_nothing() {
        for whole in [false, true] {
            let mut out = FileSignals::default();
            read(&junk_jpeg(whole), None, &mut out);
            assert!(out.findings.is_empty());
            assert_eq!(out.notes.len(), 1, "{out:?}");
            assert!(out.notes[0].contains("C2PA"), "{out:?}");
        }
        // `c2pa` in a comment, no JUMBF box: no manifest, no note.
        let bytes = [
            0xff, 0xd8, 0xff, 0xfe, 0x00, 0x06, b'c', b'2', b'p', b'a', 0xff, 0xd9,
        ];
        let mut out = FileSignals::default();
        read(&bytes, None, &mut out);
        assert_eq!(out, FileSignals::default());
        // A sidecar beside a file that cannot carry one.
        let mut out = FileSignals::default();
        read(b"plain text", Some(b"junk"), &mut out);
        assert!(out.notes[0].contains("not a JPEG, PNG"), "{out:?}");
    }
}
