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

use serde::Serialize;

use crate::domain::ConsentSet;

/// An XMP packet larger than this is not read (a note says so).
pub const MAX_XMP_BYTES: usize = 1 << 20;

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
    /// The consent sets of every finding.
    #[must_use]
    pub fn consents(&self) -> Vec<ConsentSet> {
        self.findings.iter().map(|f| f.consent).collect()
    }
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
