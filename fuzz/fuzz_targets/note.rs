#![no_main]
//! Signed notes, checkpoints and verifier keys (C2SP signed-note,
//! tlog-checkpoint), as fetched from a log.

use consentry::log::note::{open, Checkpoint, NoteVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = NoteVerifier::parse(text);
    let key = consentry::crypto::SecretKey::from_seed(&[7; 32]).public_key();
    if let Ok(v) = NoteVerifier::new("fuzz.example/log", key) {
        if let Ok(body) = open(text, std::slice::from_ref(&v)) {
            let _ = Checkpoint::parse(body);
        }
    }
    if let Ok(cp) = Checkpoint::parse(text) {
        // What parses prints back to itself.
        assert_eq!(Checkpoint::parse(&cp.to_text()).ok(), Some(cp));
    }
});
