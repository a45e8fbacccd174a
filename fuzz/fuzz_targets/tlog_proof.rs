#![no_main]
//! C2SP tlog-proof receipts and log entries, as `verify-proof` and auditors
//! read them.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = consentry::log::proof::TlogProof::parse(text);
        let _ = consentry::log::tiles::TileRef::parse(text);
    }
    if let Ok(e) = consentry::log::entry::decode(data) {
        // A decoded entry encodes back to the same bytes.
        let again = consentry::log::entry::encode(
            e.kind,
            e.received_at,
            &e.payload_type,
            &e.signatures,
            &e.payload,
        )
        .expect("a decoded entry encodes");
        assert_eq!(again, data);
    }
});
