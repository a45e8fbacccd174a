//! spec/vectors/statements.json: the registry accepts exactly the valid vectors.

use consentry::crypto::{Envelope, EnvelopeSignature};
use serde_json::Value;

use crate::bin::Bin;

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/vectors/statements.json"
    ))
    .expect("vectors file");
    let doc: Value = serde_json::from_str(&text).expect("json");
    doc["vectors"].as_array().expect("vectors").clone()
}

#[test]
fn registry_accepts_exactly_the_valid_vectors() {
    let vs = vectors();
    assert!(vs.len() >= 10);
    for v in &vs {
        let env = Envelope {
            payload_type: v["payload_type"].as_str().expect("type").to_owned(),
            payload: v["payload_b64"].as_str().expect("payload").to_owned(),
            signatures: vec![EnvelopeSignature {
                keyid: format!("ed25519:{}", v["public_key_hex"].as_str().expect("key")),
                sig: v["signature_b64"].as_str().expect("sig").to_owned(),
            }],
        };
        let verdict = consentry::registry::verify_statement(&env);
        assert_eq!(
            verdict.is_ok(),
            v["valid"].as_bool().expect("valid"),
            "{}: {verdict:?}",
            v["description"]
        );
    }
}

#[test]
fn vectors_cover_the_required_cases() {
    let vs = vectors();
    let has = |needle: &str| {
        vs.iter().any(|v| {
            v["description"]
                .as_str()
                .is_some_and(|d| d.contains(needle))
        })
    };
    for needle in [
        "opt-out",
        "opt-in with terms",
        "multi-work",
        "bit of the signature flipped",
        "another payload type",
        "altered after signing",
        "weak",
        "not verify_strict",
        "malformed payload",
    ] {
        assert!(has(needle), "no vector for {needle}");
    }
    assert!(vs.iter().any(|v| v["valid"] == true) && vs.iter().any(|v| v["valid"] == false));
}

#[test]
fn vectors_file_is_what_the_generator_writes() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("statements.json");
    consentry_vectors(&out);
    let fresh = std::fs::read_to_string(&out).expect("written");
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/vectors/statements.json"
    ))
    .expect("file");
    assert_eq!(fresh, committed, "regenerate with `cargo run -- vectors`");
}

fn consentry_vectors(out: &std::path::Path) {
    let status = Bin::new(["vectors", "--out"]).arg(out).run_blocking();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn strict_only_vector_passes_plain_verification() {
    // Shows the vector really exercises the verify / verify_strict difference.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let v = vectors()
        .into_iter()
        .find(|v| {
            v["description"]
                .as_str()
                .is_some_and(|d| d.contains("not verify_strict"))
        })
        .expect("vector");
    let key: [u8; 32] = hex::decode(v["public_key_hex"].as_str().expect("k"))
        .expect("hex")
        .try_into()
        .expect("32");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key).expect("point");
    let payload = b64
        .decode(v["payload_b64"].as_str().expect("p"))
        .expect("b64");
    let sig = ed25519_dalek::Signature::from_slice(
        &b64.decode(v["signature_b64"].as_str().expect("s"))
            .expect("b64"),
    )
    .expect("sig");
    let msg = consentry::crypto::pae(v["payload_type"].as_str().expect("t"), &payload);
    assert!(ed25519_dalek::Verifier::verify(&vk, &msg, &sig).is_ok());
    assert!(vk.verify_strict(&msg, &sig).is_err());
}
