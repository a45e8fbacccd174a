//! In-file consent signals through the binary, on both backends. A folder
//! mixes registered works, unregistered images that carry a C2PA manifest
//! (made by `consentry embed` with a certificate OpenSSL issued for the
//! artist's own key) saying "notAllowed", images with IPTC
//! `plus:DataMining` in XMP, conflicting signals, a tampered manifest and
//! damaged or huge metadata. `consentry check --purpose train-genai`
//! reports each with its source, `filter` keeps only what every signal
//! allows, `--signals registry-only` ignores the files, and the embedded
//! assertion reads back through the `c2pa` library itself with the meaning
//! the registry gave it.

use std::path::Path;
use std::process::Command;

use consentry::crypto::SecretKey;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::Value;

use crate::helpers::*;

crate::both_backends_raw!(check_reads_every_signal_in_the_files);

fn artwork(seed: u32) -> RgbImage {
    RgbImage::from_fn(320, 240, |x, y| {
        let s = seed as f32;
        let v = ((x as f32 * (0.03 + s * 0.004)).sin() + (y as f32 * (0.05 + s * 0.003)).cos())
            * 60.0
            + 128.0;
        let disc = if (x as i32 - (40 + seed as i32 * 13) % 280).pow(2)
            + (y as i32 - (30 + seed as i32 * 7) % 200).pow(2)
            < 1600
        {
            90.0
        } else {
            0.0
        };
        Rgb([
            (v + disc).min(255.0) as u8,
            ((x * (seed + 3)) % 256) as u8,
            (255.0 - v) as u8,
        ])
    })
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(img)
        .expect("encode");
    out
}

fn xmp(body: &str) -> String {
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
         <x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
         <rdf:Description rdf:about=\"\" xmlns:plus=\"http://ns.useplus.org/ldf/xmp/1.0/\" xmlns:tdm=\"http://www.w3.org/ns/tdmrep/\" {body}/>\
         </rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
    )
}

/// A JPEG with an XMP packet in an APP1 segment after SOI, as Photoshop
/// and ExifTool write it.
fn with_xmp(jpeg: &[u8], packet: &str) -> Vec<u8> {
    let mut payload = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    payload.extend_from_slice(packet.as_bytes());
    let len = u16::try_from(payload.len() + 2).expect("an APP1 segment");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG with an `iTXt` chunk `XML:com.adobe.xmp` holding `packet`.
fn png_with_xmp(img: &RgbImage, packet: &str) -> Vec<u8> {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .expect("png");
    let mut data = b"XML:com.adobe.xmp\0\0\0\0\0".to_vec();
    data.extend_from_slice(packet.as_bytes());
    let mut chunk = u32::try_from(data.len())
        .expect("size")
        .to_be_bytes()
        .to_vec();
    let mut typed = b"iTXt".to_vec();
    typed.extend_from_slice(&data);
    chunk.extend_from_slice(&typed);
    chunk.extend_from_slice(&crc32(&typed).to_be_bytes());
    // After the IHDR chunk (8-byte signature + 25 bytes).
    let mut out = png[..33].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[33..]);
    out
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate chain for `key` (an Ed25519 PKCS#8 file) issued by a
/// test CA, with the profile C2PA requires of a signer: `chain.pem`.
fn c2pa_certificate(dir: &Path, key: &str) {
    std::fs::write(
        dir.join("c2pa.cnf"),
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
         [leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
    )
    .expect("cnf");
    openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", "ca.key"]);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=Test Artists CA/O=Consentry tests",
            "-days",
            "30",
            "-config",
            "c2pa.cnf",
            "-extensions",
            "ca",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            key,
            "-subj",
            "/CN=Ana/O=Ana's studio",
            "-out",
            "ana.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "ana.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-days",
            "30",
            "-extfile",
            "c2pa.cnf",
            "-extensions",
            "leaf",
            "-set_serial",
            "7",
            "-out",
            "ana.pem",
        ],
    );
    let chain = [
        std::fs::read_to_string(dir.join("ana.pem")).expect("leaf"),
        std::fs::read_to_string(dir.join("ca.pem")).expect("ca"),
    ]
    .concat();
    std::fs::write(dir.join("chain.pem"), chain).expect("chain");
}

fn report(path: &Path) -> std::collections::BTreeMap<String, Value> {
    std::fs::read_to_string(path)
        .expect("report")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json line");
            (v["label"].as_str().expect("label").to_owned(), v)
        })
        .collect()
}

async fn check_reads_every_signal_in_the_files(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (url, _location) = server_database(backend, d).await;
    let admin = SecretKey::generate();
    admin
        .write_new_file(&d.join("admin.key"))
        .expect("admin key");
    let server =
        Server::start_with(d, &url, &["--admin-key", &admin.public_key().to_string()]).await;
    server.create_lab().await;

    // Ana registers three works: w0 opt-in, w1 opt-out, w2 opt-in.
    std::fs::create_dir_all(d.join("works")).expect("mkdir");
    std::fs::create_dir_all(d.join("data")).expect("mkdir");
    for i in 0..3u32 {
        artwork(i * 11 + 1)
            .save_with_format(d.join(format!("works/w{i}.png")), ImageFormat::Png)
            .expect("save");
    }
    ok(&server.cli(&["keygen", "--out", "ana.key"]).await);
    ok(&server
        .cli(&["artist", "create", "--key", "ana.key", "--name", "Ana"])
        .await);
    for (file, consent) in [("w0", "opt-in"), ("w1", "opt-out"), ("w2", "opt-in")] {
        ok(&server
            .cli(&[
                "register",
                &format!("works/{file}.png"),
                "--key",
                "ana.key",
                "--consent",
                consent,
            ])
            .await);
    }
    let hash_of = |p: &str| {
        consentry::domain::ContentHash::of(&std::fs::read(d.join(p)).expect("read")).to_string()
    };
    let (w0, w1) = (hash_of("works/w0.png"), hash_of("works/w1.png"));

    // Ana's own key, certified by a CA, signs C2PA manifests.
    c2pa_certificate(d, "ana.key");
    let put =
        |name: &str, bytes: &[u8]| std::fs::write(d.join("data").join(name), bytes).expect("write");
    std::fs::copy(d.join("works/w0.png"), d.join("data/a-registered-in.png")).expect("copy");
    std::fs::copy(d.join("works/w1.png"), d.join("data/b-registered-out.png")).expect("copy");
    put("plain-c.jpg", &jpeg(&artwork(30)));
    put("plain-g.jpg", &jpeg(&artwork(60)));
    let embed = |input: &'static str, out: &'static str, work: String| {
        server.cli(&[
            "embed",
            input,
            "--out",
            out,
            "--cert",
            "chain.pem",
            "--key",
            "ana.key",
            "--work",
            &work,
        ])
    };
    // An unregistered image signed "notAllowed" (w1's answer), one signed
    // "allowed" (w0's), and the first one tampered with after signing.
    let out = ok(&embed(
        "data/plain-c.jpg",
        "data/c-c2pa-not-allowed.jpg",
        w1.clone(),
    )
    .await);
    assert!(
        out.contains("with a C2PA manifest holding cawg.training-mining"),
        "{out}"
    );
    ok(&embed("data/plain-g.jpg", "data/g-c2pa-allowed.jpg", w0.clone()).await);
    std::fs::remove_file(d.join("data/plain-c.jpg")).expect("rm");
    std::fs::remove_file(d.join("data/plain-g.jpg")).expect("rm");
    let mut tampered = std::fs::read(d.join("data/c-c2pa-not-allowed.jpg")).expect("read");
    let at = tampered.len() - 40;
    tampered[at] ^= 0x55;
    put("h-c2pa-tampered.jpg", &tampered);
    // A sidecar manifest store beside an unregistered image whose bytes
    // stay as they are.
    let sidecar_image = jpeg(&artwork(100));
    put("s-sidecar.jpg", &sidecar_image);
    let out = ok(&server
        .cli(&[
            "embed",
            "data/s-sidecar.jpg",
            "--sidecar",
            "--out",
            "data/s-sidecar.c2pa",
            "--cert",
            "chain.pem",
            "--key",
            "ana.key",
            "--work",
            &w1,
        ])
        .await);
    assert!(out.contains("data/s-sidecar.c2pa written"), "{out}");
    assert_eq!(
        std::fs::read(d.join("data/s-sidecar.jpg")).expect("read"),
        sidecar_image
    );
    // IPTC in XMP, on an unregistered image and on a near copy of w2.
    let dmi = |v: &str| {
        xmp(&format!(
            "plus:DataMining=\"http://ns.useplus.org/ldf/vocab/{v}\""
        ))
    };
    put(
        "d-iptc-prohibited.jpg",
        &with_xmp(&jpeg(&artwork(40)), &dmi("DMI-PROHIBITED-GENAIMLTRAINING")),
    );
    put(
        "e-near-w2-iptc.jpg",
        &with_xmp(&jpeg(&artwork(23)), &dmi("DMI-PROHIBITED")),
    );
    put("f-plain.jpg", &jpeg(&artwork(50)));
    put(
        "i-broken-xmp.jpg",
        &with_xmp(
            &jpeg(&artwork(70)),
            "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF>",
        ),
    );
    put(
        "j-huge-xmp.png",
        &png_with_xmp(
            &artwork(80),
            &xmp(&format!(
                "plus:DataMining=\"DMI-PROHIBITED\" x=\"{}\"",
                "y".repeat(2 << 20)
            )),
        ),
    );
    put("k-conflict.jpg", &with_xmp(&jpeg(&artwork(90)), &xmp("plus:DataMining=\"DMI-ALLOWED\" tdm:reservation=\"1\" tdm:policy=\"https://ana.example/policy.json\"")));

    let check = |extra: &'static [&'static str]| {
        let mut args = vec![
            "check",
            "data",
            "--purpose",
            "train-genai",
            "--key",
            "lab.key",
            "--report",
            "r.jsonl",
            "--receipt",
            "r.receipt.json",
        ];
        args.extend_from_slice(extra);
        server.cli(&args)
    };
    let out = ok(&check(&[]).await);
    assert!(
        out.contains("12 works for train-genai: 2 allowed, 1 disallowed, 9 unknown"),
        "the receipt's counts are the registry's: {out}"
    );
    assert!(
        out.contains("in-file signals: 7 works carry consent signals (2 with unreadable metadata"),
        "{out}"
    );
    assert!(
        out.contains("6 refused by their files (1 the registry allows, 5 it does not know, 0 it refuses too); with them: 1 allowed, 7 disallowed, 4 unknown"),
        "{out}"
    );
    let r = report(&d.join("r.jsonl"));
    let row = |label: &str| r.get(label).unwrap_or_else(|| panic!("{label} in {r:?}"));
    let expect = [
        ("a-registered-in.png", "allowed", "allowed", "registry"),
        (
            "b-registered-out.png",
            "disallowed",
            "disallowed",
            "registry",
        ),
        ("c-c2pa-not-allowed.jpg", "unknown", "disallowed", "file"),
        ("d-iptc-prohibited.jpg", "unknown", "disallowed", "file"),
        ("e-near-w2-iptc.jpg", "allowed", "disallowed", "file"),
        ("f-plain.jpg", "unknown", "unknown", "none"),
        ("g-c2pa-allowed.jpg", "unknown", "unknown", "none"),
        ("h-c2pa-tampered.jpg", "unknown", "disallowed", "file"),
        ("i-broken-xmp.jpg", "unknown", "unknown", "none"),
        ("j-huge-xmp.png", "unknown", "unknown", "none"),
        ("k-conflict.jpg", "unknown", "disallowed", "file"),
        ("s-sidecar.jpg", "unknown", "disallowed", "file"),
    ];
    for (label, status, combined, by) in expect {
        let v = row(label);
        assert_eq!(
            (
                v["status"].as_str(),
                v["combined"].as_str(),
                v["decided_by"].as_str()
            ),
            (Some(status), Some(combined), Some(by)),
            "{label}: {v}"
        );
    }
    assert_eq!(row("e-near-w2-iptc.jpg")["match"], "near");

    // The sources, values and signatures, as found.
    let c = &row("c-c2pa-not-allowed.jpg")["signals"];
    let genai = c
        .as_array()
        .expect("signals")
        .iter()
        .find(|f| f["property"] == "cawg.training-mining/cawg.ai_generative_training")
        .unwrap_or_else(|| panic!("{c}"));
    assert_eq!(genai["source"], "c2pa");
    assert_eq!(genai["value"], "notAllowed");
    assert_eq!(genai["signature"], "valid");
    assert!(
        genai["signer"].as_str().expect("signer").starts_with("Ana"),
        "{genai}"
    );
    assert_eq!(
        c.as_array().map(Vec::len),
        Some(4),
        "four CAWG entries: {c}"
    );
    let h = &row("h-c2pa-tampered.jpg")["signals"][0];
    assert!(
        h["signature"]
            .as_str()
            .expect("signature")
            .starts_with("invalid: "),
        "{h}"
    );
    let g = &row("g-c2pa-allowed.jpg")["signals"][0];
    assert_eq!(g["value"], "allowed");
    let d_ = &row("d-iptc-prohibited.jpg")["signals"][0];
    assert_eq!(
        (d_["source"].as_str(), d_["property"].as_str()),
        (Some("xmp"), Some("plus:DataMining"))
    );
    assert!(d_.get("signature").is_none(), "XMP is unsigned: {d_}");
    let k = row("k-conflict.jpg")["signals"]
        .as_array()
        .expect("k")
        .clone();
    assert_eq!(k.len(), 2, "{k:?}");
    assert_eq!(
        k[1]["value"],
        "1 (tdm:policy https://ana.example/policy.json)"
    );
    for (label, note) in [
        ("i-broken-xmp.jpg", "not closed"),
        ("j-huge-xmp.png", "larger than 1024 KiB"),
    ] {
        let notes = &row(label)["signal_notes"];
        assert!(
            notes[0].as_str().expect("note").contains(note),
            "{label}: {notes}"
        );
    }
    assert_eq!(row("f-plain.jpg")["signals"], serde_json::json!([]));

    // The receipt stays the registry's: it verifies with this report.
    let vkey = consentry::cli::client::Client::new(&server.base)
        .expect("client")
        .get_json("/v1/log")
        .await
        .expect("log")["verifier_key"]
        .as_str()
        .expect("verifier key")
        .to_owned();
    let out = ok(&server
        .cli(&[
            "verify-receipt",
            "r.receipt.json",
            "--verifier-key",
            &vkey,
            "--answers",
            "r.jsonl",
            "--log",
            &server.base,
        ])
        .await);
    assert!(out.contains("ok: the answers match the receipt"), "{out}");
    assert!(!r.contains_key("s-sidecar.c2pa"), "a sidecar is not a work");
    assert_eq!(row("s-sidecar.jpg")["signals"][0]["signature"], "valid");

    // filter keeps what every signal allows; unknowns by the policy.
    let out = ok(&server
        .cli(&[
            "filter",
            "data",
            "--purpose",
            "train-genai",
            "--key",
            "lab.key",
            "--out",
            "kept.csv",
            "--receipt",
            "f.receipt.json",
            "--unknown",
            "allow",
        ])
        .await);
    assert!(out.contains("kept 5 of 12 works"), "{out}");
    let kept = std::fs::read_to_string(d.join("kept.csv")).expect("kept");
    for label in [
        "a-registered-in.png",
        "f-plain.jpg",
        "g-c2pa-allowed.jpg",
        "i-broken-xmp.jpg",
        "j-huge-xmp.png",
    ] {
        assert!(kept.contains(label), "{label} kept: {kept}");
    }
    for label in [
        "b-registered-out",
        "c-c2pa",
        "d-iptc",
        "e-near",
        "h-c2pa",
        "k-conflict",
    ] {
        assert!(!kept.contains(label), "{label} dropped: {kept}");
    }

    // --signals registry-only: the files are not read.
    ok(&check(&["--signals", "registry-only"]).await);
    let r = report(&d.join("r.jsonl"));
    assert_eq!(r["c-c2pa-not-allowed.jpg"]["combined"], "unknown");
    assert_eq!(r["e-near-w2-iptc.jpg"]["combined"], "allowed");
    assert_eq!(r["c-c2pa-not-allowed.jpg"]["signals"], Value::Null);

    // --fail-on counts what decided, the files included.
    let out = fails(&check(&["--fail-on", "disallowed"]).await);
    assert!(out.contains("7 works are disallowed"), "{out}");

    // The c2pa library itself reads the embedded assertion as the
    // registry's export of w1 says it.
    let reader = c2pa::Reader::from_context(c2pa::Context::new())
        .with_stream(
            "image/jpeg",
            std::io::Cursor::new(
                std::fs::read(d.join("data/c-c2pa-not-allowed.jpg")).expect("read"),
            ),
        )
        .expect("a manifest");
    let manifest = reader.active_manifest().expect("active manifest");
    let assertion: Value = manifest
        .find_assertion("cawg.training-mining")
        .expect("the CAWG assertion");
    let exported: Value = serde_json::from_str(&ok(&server
        .cli(&["export", "work", &w1, "--format", "cawg"])
        .await))
    .expect("export json");
    assert_eq!(assertion, exported["data"]);
    assert_eq!(
        assertion["entries"]["cawg.ai_training"]["use"], "notAllowed",
        "{assertion}"
    );

    // export site: tdmrep.json and the robots.txt block for the folder.
    let out = ok(&server
        .cli(&["export", "site", "works", "--base", "/art", "--out", "site"])
        .await);
    assert!(out.contains("3 of 3 files are registered works"), "{out}");
    let tdm: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("site/tdmrep.json")).expect("tdmrep"))
            .expect("json");
    assert_eq!(tdm[0]["location"], "/art/w0.png$");
    assert_eq!(tdm[0]["tdm-reservation"], 0);
    assert_eq!(tdm[1]["tdm-reservation"], 1);
    assert_eq!(
        tdm[1]["tdm-policy"],
        format!("{}/v1/works/{w1}", server.base.trim_end_matches('/'))
    );
    let robots = std::fs::read_to_string(d.join("site/robots-content-usage.txt")).expect("robots");
    assert!(
        robots
            .contains("Content-Usage: /art/w1.png$ train-ai=n, train-genai=n, ai-use=n, search=n"),
        "{robots}"
    );

    // A PNG signed the same way, and a JPEG whose C2PA segment is junk.
    std::fs::create_dir_all(d.join("more")).expect("mkdir");
    ok(&embed("works/w2.png", "more/w2-signed.png", w1.clone()).await);
    let mut junk = jpeg(&artwork(110));
    let mut app11 = vec![0xff, 0xeb, 0x00, 0x20];
    app11.extend_from_slice(
        b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x18jumbc2pa\x00\x11\x00\x10\x80\x00",
    );
    app11.truncate(0x22);
    junk.splice(2..2, app11);
    std::fs::write(d.join("more/junk-c2pa.jpg"), &junk).expect("write");
    // A sidecar saying "allowed" beside a file whose own manifest refuses:
    // both are read, and the refusal stands.
    std::fs::copy(
        d.join("data/c-c2pa-not-allowed.jpg"),
        d.join("more/both.jpg"),
    )
    .expect("copy");
    ok(&server
        .cli(&[
            "embed",
            "more/both.jpg",
            "--sidecar",
            "--out",
            "more/both.c2pa",
            "--cert",
            "chain.pem",
            "--key",
            "ana.key",
            "--work",
            &w0,
        ])
        .await);
    let out = ok(&server
        .cli(&[
            "check",
            "more",
            "--purpose",
            "train-ai",
            "--key",
            "lab.key",
            "--report",
            "more.jsonl",
            "--receipt",
            "more.receipt.json",
        ])
        .await);
    assert!(out.contains("3 works for train-ai"), "{out}");
    let more = report(&d.join("more.jsonl"));
    let png = &more["w2-signed.png"];
    assert_eq!(
        (
            png["status"].as_str(),
            png["combined"].as_str(),
            png["decided_by"].as_str()
        ),
        (Some("allowed"), Some("disallowed"), Some("file")),
        "a near copy of w2 (opt-in) signed notAllowed: {png}"
    );
    assert_eq!(png["signals"][0]["signature"], "valid", "{png}");
    let both = &more["both.jpg"];
    assert_eq!(both["combined"], "disallowed", "{both}");
    let sources: std::collections::BTreeSet<&str> = both["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .filter_map(|f| f["source"].as_str())
        .collect();
    assert_eq!(sources, ["c2pa", "c2pa-sidecar"].into(), "{both}");
    let junk = &more["junk-c2pa.jpg"];
    assert_eq!(junk["signals"], serde_json::json!([]), "{junk}");
    assert!(
        junk["signal_notes"][0]
            .as_str()
            .expect("a note")
            .contains("C2PA"),
        "{junk}"
    );

    // Embedding refuses what it cannot do.
    let e = fails(&embed("works/w0.png", "works/w0.png", w0.clone()).await);
    assert!(e.contains("--out must name a new file"), "{e}");
    let e = fails(
        &server
            .cli(&[
                "embed",
                "data/f-plain.jpg",
                "--out",
                "x.jpg",
                "--cert",
                "chain.pem",
                "--key",
                "ana.key",
            ])
            .await,
    );
    assert!(e.contains("is not registered"), "{e}");
    std::fs::write(d.join("notes.txt"), "text").expect("write");
    let e = fails(&embed("notes.txt", "n2.txt", w1.clone()).await);
    assert!(e.contains("not a JPEG, PNG"), "{e}");
    let e = fails(
        &server
            .cli(&[
                "embed",
                "works/w1.png",
                "--out",
                "x.png",
                "--cert",
                "ca.key",
                "--key",
                "ana.key",
            ])
            .await,
    );
    assert!(e.contains("the certificate is invalid"), "{e}");
}
