#![no_main]
//! DSSE envelopes as the API receives them, and every signed payload kind.

use consentry::crypto::{Envelope, PayloadType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = serde_json::from_slice::<Envelope>(data) {
        for t in PayloadType::ALL {
            if let Ok(v) = env.verify(t) {
                let _ = consentry::domain::Statement::parse(&v.payload);
            }
        }
    }
    // Payloads as bytes, whatever signed them.
    let _ = consentry::domain::Statement::parse(data);
    let _ = consentry::domain::ArtistRegistration::parse(data);
    let _ = consentry::domain::KeyEvent::parse(data);
    let _ = consentry::domain::payout::PayoutRecord::parse(data);
    let _ = serde_json::from_slice::<consentry::domain::payout::PayoutStatement>(data);
    let _ = serde_json::from_slice::<consentry::check::CheckReceipt>(data);
});
