#![no_main]
//! Content hashes and timestamps as text (API paths, queries, manifests).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(h) = text.parse::<consentry::domain::ContentHash>() {
            // What parses prints back to a form that parses to the same hash.
            assert_eq!(
                h.to_string().parse::<consentry::domain::ContentHash>().ok(),
                Some(h)
            );
        }
        let _ = text.parse::<consentry::domain::Timestamp>();
    }
});
