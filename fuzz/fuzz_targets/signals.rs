#![no_main]
//! The XMP signal reader (IPTC `plus:DataMining`, TDMRep) on any bytes: no
//! panic, and a file's findings and notes stay within their bounds. The
//! C2PA reader is the `c2pa` crate's, behind a panic guard.

use consentry::signals::{read_xmp, MAX_FINDINGS, MAX_NOTES, MAX_TEXT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = read_xmp(data);
    assert!(s.findings.len() <= MAX_FINDINGS + 1);
    assert!(s.notes.len() <= MAX_NOTES);
    for f in &s.findings {
        assert!(f.value.chars().count() <= MAX_TEXT + 1);
    }
    for n in &s.notes {
        assert!(n.chars().count() <= MAX_TEXT + 1);
    }
});
