#![no_main]
//! The line readers: check streams (NDJSON and 32-byte records, split
//! anywhere), dataset manifests (CSV, JSON Lines) and upload CSVs.

use consentry::cli::dataset::{parse_manifest_bytes, ManifestFormat};
use consentry::http::check::split_stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cut, body) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c), rest),
        None => return,
    };
    for binary in [false, true] {
        let whole = split_stream(binary, &[body]);
        // However the body is cut into chunks, the items are the same.
        let at = cut.min(body.len());
        let (a, b) = body.split_at(at);
        assert_eq!(split_stream(binary, &[a, b]), whole);
        let bytes: Vec<&[u8]> = body.chunks(cut.max(1)).collect();
        assert_eq!(split_stream(binary, &bytes), whole);
    }
    let _ = parse_manifest_bytes(body, ManifestFormat::Csv);
    let _ = parse_manifest_bytes(body, ManifestFormat::Jsonl);
    let _ = consentry::stats::input::read_csv_from(body, "fuzz.csv");
});
