//! `consentry vectors`: writes `spec/vectors/statements.json`, the
//! known-answer tests for statement verification. Deterministic: fixed seeds,
//! fixed timestamps, so the file only changes when the format does.

use std::path::Path;

use base64::Engine;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::Scalar;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha512};

use crate::crypto::{pae, PayloadType, SecretKey};
use crate::domain::ContentHash;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const ISSUED: &str = "2026-03-01T12:00:00Z";

fn statement_type() -> &'static str {
    PayloadType::Statement.as_str()
}

fn work(n: u8) -> String {
    ContentHash::of(format!("example work {n}").as_bytes()).to_string()
}

fn payload_for(key_hex: &str, body: &Value) -> Vec<u8> {
    let mut p = body.clone();
    p["version"] = json!(1);
    p["key"] = json!(format!("ed25519:{key_hex}"));
    if p.get("issued_at").is_none() {
        p["issued_at"] = json!(ISSUED);
    }
    serde_json::to_vec(&crate::domain::canonical::sorted(p)).unwrap_or_default()
}

fn vector(
    description: &str,
    key_hex: &str,
    payload_type: &str,
    payload: &[u8],
    sig: &[u8],
    reason: Option<&str>,
) -> Value {
    json!({
        "description": description,
        "public_key_hex": key_hex,
        "payload_type": payload_type,
        "payload_b64": B64.encode(payload),
        "signature_b64": B64.encode(sig),
        "valid": reason.is_none(),
        "reason": reason.unwrap_or(""),
    })
}

/// Builds every vector.
#[must_use]
pub fn vectors() -> Vec<Value> {
    let artist = SecretKey::from_seed(&[0x11; 32]);
    let other = SecretKey::from_seed(&[0x22; 32]);
    let ak = hex::encode(artist.public_key().to_bytes());
    let ok = hex::encode(other.public_key().to_bytes());
    let signed =
        |key: &SecretKey, ptype: &str, payload: &[u8]| key.sign(&pae(ptype, payload)).to_vec();
    let mut out = Vec::new();

    let good = |desc: &str, body: Value| {
        let p = payload_for(&ak, &body);
        vector(
            desc,
            &ak,
            statement_type(),
            &p,
            &signed(&artist, statement_type(), &p),
            None,
        )
    };
    out.push(good(
        "good opt-out of every use for one work",
        json!({ "works": [{ "hash": work(1) }], "consent": "opt-out" }),
    ));
    out.push(good(
        "good opt-in with terms: attribution and a revenue share with a minimum",
        json!({
            "works": [{ "hash": work(2), "media_type": "image/png", "title": "Harbour at dusk" }],
            "consent": "opt-in",
            "terms": [
                { "kind": "attribution", "credit": "Ana Example (CC BY)" },
                { "kind": "revenue-share", "minimum": { "amount_minor": 500, "currency": "EUR" } }
            ]
        }),
    ));
    out.push(good(
        "good multi-work statement, per-category consent, flat fee",
        json!({
            "works": [{ "hash": work(3) }, { "hash": work(4), "published_at": "2021-06-30T00:00:00Z" }, { "hash": work(5) }],
            "consent": { "train-ai": "allowed", "train-genai": "disallowed", "search": "allowed" },
            "terms": [{ "kind": "flat-fee", "amount": { "amount_minor": 25000, "currency": "USD" } }]
        }),
    ));
    out.push(good(
        "good statement with a perceptual fingerprint (stored, not interpreted)",
        json!({
            "works": [{ "hash": work(6), "fingerprints": [{ "algorithm": "iscc-content-image", "value": "EEA4GQZQTY6J5DTH" }] }],
            "consent": { "tdm": "disallowed" }
        }),
    ));
    {
        let p = payload_for(
            &ak,
            &json!({ "works": [{ "hash": work(7) }], "consent": "opt-out" }),
        );
        let sig = signed(&artist, statement_type(), &p);
        let mut v = vector("good statement whose signature is URL-safe base64 without padding (DSSE verifiers accept both alphabets)", &ak, statement_type(), &p, &sig, None);
        v["signature_b64"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig));
        out.push(v);
    }

    // Invalid: signature problems.
    let base = payload_for(
        &ak,
        &json!({ "works": [{ "hash": work(8) }], "consent": "opt-out" }),
    );
    let mut flipped = signed(&artist, statement_type(), &base);
    flipped[40] ^= 0x01;
    out.push(vector(
        "one bit of the signature flipped",
        &ak,
        statement_type(),
        &base,
        &flipped,
        Some("the signature does not verify (bad-signature)"),
    ));
    let altered = String::from_utf8_lossy(&base)
        .replace("opt-out", "opt-in ")
        .into_bytes();
    out.push(vector(
        "payload altered after signing (opt-out changed to opt-in)",
        &ak,
        statement_type(),
        &altered,
        &signed(&artist, statement_type(), &base),
        Some("the signature covers the original payload bytes (bad-signature)"),
    ));
    let wrong_type = "application/json";
    out.push(vector(
        "correctly signed, but under another payload type",
        &ak,
        wrong_type,
        &base,
        &signed(&artist, wrong_type, &base),
        Some(
            "payloadType must be application/vnd.consentry.statement.v1+json (wrong-payload-type)",
        ),
    ));
    let as_artist_doc = PayloadType::Artist.as_str();
    out.push(vector(
        "statement bytes signed as an artist registration, presented as a statement",
        &ak,
        statement_type(),
        &base,
        &signed(&artist, as_artist_doc, &base),
        Some("the PAE binds the payload type, so the signature does not verify (bad-signature)"),
    ));

    // Invalid: keys.
    {
        // The identity point: a small-order ("weak") key. With R = [s]B and
        // S = s, plain verification accepts any message.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let kh = hex::encode(weak);
        let p = payload_for(
            &kh,
            &json!({ "works": [{ "hash": work(9) }], "consent": "opt-in" }),
        );
        let s = Scalar::from_bytes_mod_order([7u8; 32]);
        let r = (ED25519_BASEPOINT_POINT * s).compress();
        let mut sig = r.to_bytes().to_vec();
        sig.extend_from_slice(s.as_bytes());
        debug_assert!(forged_passes_plain_verify(
            &weak,
            &pae(statement_type(), &p),
            &sig
        ));
        out.push(vector(
            "weak (small-order) public key: the identity point; this signature passes plain RFC 8032 verification for any message",
            &kh,
            statement_type(),
            &p,
            &sig,
            Some("public keys of small order are refused (invalid-key)"),
        ));
        // y = p + 1: a non-canonical encoding of the identity point.
        let mut nc = [0xffu8; 32];
        nc[0] = 0xee;
        nc[31] = 0x7f;
        let kh = hex::encode(nc);
        let p = payload_for(
            &kh,
            &json!({ "works": [{ "hash": work(10) }], "consent": "opt-in" }),
        );
        out.push(vector(
            "non-canonical public key encoding (y = p + 1)",
            &kh,
            statement_type(),
            &p,
            &sig,
            Some("public keys must be canonical encodings of points not of small order (invalid-key)"),
        ));
    }
    {
        // Valid under `verify`, refused by `verify_strict`: R is the identity
        // (small order) and S = k·a, so [S]B = R + [k]A holds.
        let sk = SigningKey::from_bytes(&[0x33; 32]);
        let kh = hex::encode(sk.verifying_key().to_bytes());
        let p = payload_for(
            &kh,
            &json!({ "works": [{ "hash": work(11) }], "consent": "opt-out" }),
        );
        let msg = pae(statement_type(), &p);
        let mut r = [0u8; 32];
        r[0] = 1;
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r)
                .chain_update(sk.verifying_key().to_bytes())
                .chain_update(&msg),
        );
        let s = k * sk.to_scalar();
        let mut sig = r.to_vec();
        sig.extend_from_slice(s.as_bytes());
        debug_assert!(sk
            .verifying_key()
            .verify_strict(&msg, &Signature::from_slice(&sig).expect("64 bytes"))
            .is_err());
        debug_assert!(forged_passes_plain_verify(
            &sk.verifying_key().to_bytes(),
            &msg,
            &sig
        ));
        out.push(vector(
            "signature valid under plain verify but not verify_strict: R is the identity point (small order)",
            &kh,
            statement_type(),
            &p,
            &sig,
            Some("signatures whose R has small order are refused, as verify_strict does (bad-signature)"),
        ));
    }

    // Invalid: payloads with good signatures.
    let signed_bad = |desc: &str, payload: Vec<u8>, reason: &str| {
        vector(
            desc,
            &ak,
            statement_type(),
            &payload,
            &signed(&artist, statement_type(), &payload),
            Some(reason),
        )
    };
    out.push(signed_bad(
        "malformed payload (not JSON) with a good signature",
        b"train-ai=n".to_vec(),
        "the payload must be a JSON statement (invalid-payload)",
    ));
    out.push(signed_bad(
        "payload with an unknown field",
        payload_for(
            &ak,
            &json!({ "works": [{ "hash": work(12) }], "consent": "opt-out", "royalties": 5 }),
        ),
        "unknown fields are refused (invalid-payload)",
    ));
    out.push(signed_bad(
        "payload whose key is not the signing key",
        payload_for(
            &ok,
            &json!({ "works": [{ "hash": work(13) }], "consent": "opt-out" }),
        ),
        "the payload's key must be the key that signed (key-mismatch)",
    ));
    out.push(signed_bad(
        "contradictory consent: train-genai allowed while train-ai disallowed",
        payload_for(&ak, &json!({ "works": [{ "hash": work(14) }], "consent": { "train-ai": "disallowed", "train-genai": "allowed" } })),
        "disallowing train-ai disallows train-genai (invalid-payload)",
    ));
    out.push(signed_bad(
        "terms on a statement that allows nothing",
        payload_for(&ak, &json!({ "works": [{ "hash": work(15) }], "consent": "opt-out", "terms": [{ "kind": "free" }] })),
        "terms apply to allowed uses (invalid-payload)",
    ));
    out.push(signed_bad(
        "unknown currency",
        payload_for(&ak, &json!({ "works": [{ "hash": work(16) }], "consent": "opt-in", "terms": [{ "kind": "flat-fee", "amount": { "amount_minor": 100, "currency": "XYZ" } }] })),
        "currencies are ISO 4217 codes (invalid-payload)",
    ));
    out.push(signed_bad(
        "work hash with uppercase hex",
        payload_for(&ak, &json!({ "works": [{ "hash": format!("blake3:{}", "AB".repeat(32)) }], "consent": "opt-out" })),
        "hashes are blake3: followed by 64 lowercase hex digits (invalid-payload)",
    ));
    out.push(signed_bad(
        "issued_at with a non-UTC offset",
        payload_for(&ak, &json!({ "works": [{ "hash": work(17) }], "consent": "opt-out", "issued_at": "2026-03-01T13:00:00+01:00" })),
        "timestamps are RFC 3339 in UTC with a Z (invalid-payload)",
    ));
    let _ = &other;
    out
}

fn forged_passes_plain_verify(key: &[u8; 32], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(key) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    ed25519_dalek::Verifier::verify(&vk, msg, &sig).is_ok()
}

/// Writes the vectors file.
///
/// # Errors
/// When the file cannot be written.
pub fn write(out: &Path) -> anyhow::Result<()> {
    let doc = json!({
        "description": "Known-answer tests for Consentry statement verification (spec/statement.md). `valid` says whether the registry accepts the envelope built from these fields as a statement, before any registry state is consulted.",
        "generated_by": "cargo run --release -- vectors --out spec/vectors/statements.json",
        "vectors": vectors(),
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        out,
        serde_json::to_string_pretty(&crate::domain::canonical::sorted(doc.clone()))? + "\n",
    )?;
    println!(
        "wrote {} vectors to {}",
        doc["vectors"].as_array().map_or(0, Vec::len),
        out.display()
    );
    Ok(())
}
