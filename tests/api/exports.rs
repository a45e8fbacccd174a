//! `GET /v1/works/{hash}/exports` and the `Content-Usage` header on both
//! backends: a work's effective consent in the aipref, IPTC, TDMRep and
//! CAWG vocabularies, read back by our own readers into the same
//! categories (as far as each vocabulary can hold them); the spec's
//! vectors (`spec/vectors/signals.json`) hold the same mapping.

use consentry::domain::signals::{
    cawg_entry_category, cawg_use, content_usage, iptc_data_mining, tdmrep_reservation,
};
use consentry::domain::{Category, ConsentSet};
use serde_json::{json, Value};

use crate::helpers::*;

crate::both_backends!(exports_say_what_the_registry_says);

/// The consent the registry answers, as a set.
fn set_of(consent: &Value) -> ConsentSet {
    ConsentSet::from_signal(Category::ALL.into_iter().filter_map(|c| {
        match consent[c.as_str()].as_str() {
            Some("allowed") => Some((c, consentry::domain::Preference::Allowed)),
            Some("disallowed") => Some((c, consentry::domain::Preference::Disallowed)),
            _ => None,
        }
    }))
}

async fn exports_say_what_the_registry_says(app: TestApp) {
    let ana = app.artist("Ana").await;
    let ben = app.artist("Ben").await;
    let (out, partial, open, disputed) = (work(1), work(2), work(3), work(4));
    let envs = [
        statement(&ana.key, &[out], json!("opt-out"), ago(60)),
        statement(
            &ana.key,
            &[partial],
            json!({"train-genai": "disallowed", "search": "allowed", "tdm": "allowed"}),
            ago(60),
        ),
        statement(&ana.key, &[open, disputed], json!("opt-in"), ago(60)),
    ];
    app.submit(&ana.token, &envs).await.assert_status(201);
    app.submit(
        &ben.token,
        &[statement(
            &ben.key,
            &[disputed],
            json!({"train-ai": "disallowed"}),
            ago(30),
        )],
    )
    .await
    .assert_status(201);

    let cases = [
        (
            out,
            "train-ai=n, train-genai=n, ai-use=n, search=n",
            "DMI-PROHIBITED",
            Some(1),
        ),
        (
            partial,
            "train-genai=n, search=y",
            "DMI-PROHIBITED-GENAIMLTRAINING",
            Some(1),
        ),
        (
            open,
            "train-ai=y, train-genai=y, ai-use=y, search=y",
            "DMI-ALLOWED",
            Some(0),
        ),
        (
            disputed,
            "train-ai=n, train-genai=n, ai-use=y, search=y",
            "DMI-PROHIBITED-AIMLTRAINING",
            Some(1),
        ),
    ];
    for (hash, usage, iptc, reservation) in cases {
        let r = app.get(&format!("/v1/works/{hash}/exports")).await;
        r.assert_status(200);
        let b = &r.body;
        assert_eq!(b["hash"], json!(hash.to_string()));
        assert_eq!(b["content_usage"], json!(usage), "{hash}");
        assert_eq!(
            r.headers.get("content-usage").and_then(|v| v.to_str().ok()),
            Some(usage)
        );
        assert_eq!(
            b["iptc_data_mining"],
            json!(format!("http://ns.useplus.org/ldf/vocab/{iptc}"))
        );
        assert_eq!(b["tdmrep"]["tdm-reservation"].as_u64(), reservation);
        assert_eq!(b["cawg_assertion"]["label"], "cawg.training-mining");
        assert_eq!(b["disputed"], json!(hash == disputed));

        // The work's own answer carries the same header and consent.
        let w = app.work(&hash).await;
        w.assert_status(200);
        assert_eq!(
            w.headers.get("content-usage").and_then(|v| v.to_str().ok()),
            Some(usage)
        );
        assert_eq!(w.body["consent"], b["consent"]);

        // Read back with our readers: each export's categories are the
        // registry's (search has no CAWG entry, tdm no aipref key; IPTC and
        // TDMRep hold less, and never allow what the registry does not).
        let registry = set_of(&b["consent"]);
        let read = content_usage(usage).expect("aipref");
        for c in [
            Category::TrainAi,
            Category::TrainGenai,
            Category::AiUse,
            Category::Search,
        ] {
            assert_eq!(read.get(c), registry.get(c), "{hash} {c:?}");
        }
        let entries = b["cawg_assertion"]["data"]["entries"]
            .as_object()
            .expect("entries");
        let cawg = ConsentSet::from_signal(entries.iter().map(|(k, v)| {
            (
                cawg_entry_category(k).expect("our key"),
                cawg_use(v["use"].as_str().expect("use")).expect("our value"),
            )
        }));
        for c in [
            Category::TrainAi,
            Category::TrainGenai,
            Category::AiUse,
            Category::Tdm,
        ] {
            assert_eq!(cawg.get(c), registry.get(c), "{hash} {c:?}");
        }
        for read in [
            iptc_data_mining(b["iptc_data_mining"].as_str().expect("iptc")).expect("iptc"),
            tdmrep_reservation(&reservation.expect("set").to_string()).expect("tdmrep"),
        ] {
            for c in Category::ALL {
                if read.get(c) == Some(consentry::domain::Preference::Allowed) {
                    assert_eq!(registry.get(c), read.get(c), "{hash} {c:?}");
                }
            }
        }
    }

    // Unknown works and bad hashes: problems, and no header.
    let r = app.get(&format!("/v1/works/{}/exports", work(9))).await;
    r.assert_problem(404, "not-found");
    assert!(r.headers.get("content-usage").is_none());
    app.get("/v1/works/blake3:00/exports")
        .await
        .assert_problem(400, "invalid-hash");
}
