//! Consent signals written inside files: C2PA manifests with the CAWG (or
//! C2PA 1.x) training-and-data-mining assertion, and XMP packets with IPTC
//! `plus:DataMining` or TDMRep `tdm:reservation`. [`read`] finds them in a
//! work's bytes; [`crate::domain::signals`] says what each value means.
//!
//! Reading never fails: a file whose metadata is damaged, too large or in a
//! form we do not read gets a note saying so, and its other signals still
//! count. These are the reader's own observations: nothing here is signed
//! by the registry, and a C2PA signature says who signed a manifest, not who
//! owns the work.

mod c2pa;
mod xmp;

pub use c2pa::media_type;

use serde::Serialize;

use crate::domain::ConsentSet;

/// An XMP packet larger than this is not read (a note says so).
pub const MAX_XMP_BYTES: usize = 1 << 20;
/// Findings listed per file; beyond it, one more finding carries the
/// combined consent of the rest, so no refusal is lost.
pub const MAX_FINDINGS: usize = 32;
/// Notes kept per file.
pub const MAX_NOTES: usize = 8;
/// Characters of a value, name or note kept in a finding or note.
pub const MAX_TEXT: usize = 256;

/// `text` cut to [`MAX_TEXT`] characters (an ellipsis says so).
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// One signal found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `c2pa` (a manifest's assertion) or `xmp` (a packet's property).
    pub source: &'static str,
    /// What stated it: `cawg.training-mining/cawg.ai_training`,
    /// `plus:DataMining`, `tdm:reservation`.
    pub property: String,
    /// The value as written.
    pub value: String,
    /// What the value means in our categories.
    #[serde(serialize_with = "consent_json")]
    pub consent: ConsentSet,
    /// C2PA only: `valid` (the manifest's signature and bindings check out;
    /// the signer is not checked against any trust list) or `invalid: <the
    /// C2PA failure codes>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// C2PA only: the signing certificate's subject common name and issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

fn consent_json<S: serde::Serializer>(set: &ConsentSet, s: S) -> Result<S::Ok, S::Error> {
    let mut map = serde_json::Map::new();
    for c in crate::domain::Category::ALL {
        if let Some(p) = set.get(c) {
            map.insert(
                c.as_str().to_owned(),
                serde_json::to_value(p).unwrap_or_default(),
            );
        }
    }
    map.serialize(s)
}

/// Everything found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSignals {
    pub findings: Vec<Finding>,
    /// Why some metadata could not be read (per file, for the report).
    pub notes: Vec<String>,
}

impl FileSignals {
    /// Adds a finding: texts clipped, a repeat of a listed one dropped, and
    /// past [`MAX_FINDINGS`] folded into one finding whose consent combines
    /// the rest (so a file cannot bury a refusal under many signals).
    pub(crate) fn add(&mut self, mut f: Finding) {
        f.property = clip(&f.property);
        f.value = clip(&f.value);
        f.signature = f.signature.as_deref().map(clip);
        f.signer = f.signer.as_deref().map(clip);
        if self.findings.iter().any(|g| {
            g.source == f.source
                && g.property == f.property
                && g.value == f.value
                && g.signature == f.signature
        }) {
            return;
        }
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(f);
            return;
        }
        match self.findings.get_mut(MAX_FINDINGS) {
            Some(rest) => {
                rest.consent = ConsentSet::combine([&rest.consent, &f.consent]);
                let n = rest.value.parse::<u64>().unwrap_or(1) + 1;
                rest.value = n.to_string();
            }
            None => self.findings.push(Finding {
                source: f.source,
                property: format!("more than {MAX_FINDINGS} signals: the rest combined"),
                value: "1".to_owned(),
                consent: f.consent,
                signature: None,
                signer: None,
            }),
        }
    }

    /// Adds a note, clipped; repeats and notes past [`MAX_NOTES`] dropped.
    pub(crate) fn note(&mut self, note: impl AsRef<str>) {
        let note = clip(note.as_ref());
        if self.notes.len() < MAX_NOTES && !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The consent sets of every finding.
    #[must_use]
    pub fn consents(&self) -> Vec<ConsentSet> {
        self.findings.iter().map(|f| f.consent).collect()
    }
}

/// The XMP signals alone in a file's bytes (what the fuzzer drives; the
/// C2PA reader is the `c2pa` crate's).
#[must_use]
pub fn read_xmp(bytes: &[u8]) -> FileSignals {
    let mut out = FileSignals::default();
    xmp::read(bytes, &mut out);
    out
}

/// The consent signals in a file's bytes: C2PA manifests embedded in a
/// JPEG, PNG, WebP, GIF or TIFF (with `sidecar`, the bytes of a `.c2pa`
/// manifest store beside the file), and XMP packets. Cheap when there is
/// nothing: a byte search decides whether a parser runs at all.
#[must_use]
pub fn read(bytes: &[u8], sidecar: Option<&[u8]>) -> FileSignals {
    let mut out = FileSignals::default();
    c2pa::read(bytes, sidecar, &mut out);
    xmp::read(bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Preference};

    #[test]
    fn findings_past_the_cap_keep_their_refusals() {
        let mut s = FileSignals::default();
        for i in 0..40 {
            let p = if i == 39 {
                Preference::Disallowed
            } else {
                Preference::Allowed
            };
            s.add(Finding {
                source: "xmp",
                property: format!("p{i}"),
                value: "v".repeat(1000),
                consent: ConsentSet::from_signal([(Category::Tdm, p)]),
                signature: None,
                signer: None,
            });
        }
        assert_eq!(s.findings.len(), MAX_FINDINGS + 1);
        assert_eq!(s.findings[MAX_FINDINGS].value, "8", "the 8 past the cap");
        assert!(s.findings[0].value.ends_with('…'));
        assert_eq!(
            ConsentSet::combine(&s.consents()).get(Category::Tdm),
            Some(Preference::Disallowed)
        );
        for i in 0..20 {
            s.note(format!("note {}", i % 10));
        }
        assert_eq!(s.notes.len(), MAX_NOTES);
    }
}
