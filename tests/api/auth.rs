//! Challenge/token flow and JWT validation.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::*;
use consentry::crypto::{pae, PayloadType, SecretKey};
use consentry::domain::Timestamp;

crate::both_backends!(
    challenge_flow,
    forged_tokens_are_refused,
    tokens_living_longer_than_issued_are_refused,
    builders_are_registered_by_admin
);

async fn challenge_flow(app: TestApp) {
    let a = app.artist("Ana").await;
    let public = a.key.public_key().to_string();
    // Unknown and malformed keys get no challenge.
    let stranger = SecretKey::generate();
    app.post(
        "/v1/auth/challenge",
        &json!({ "key": stranger.public_key().to_string() }),
        None,
    )
    .await
    .assert_problem(422, "unknown-key");
    app.post(
        "/v1/auth/challenge",
        &json!({ "key": "ed25519:1234" }),
        None,
    )
    .await
    .assert_problem(422, "invalid-key");
    app.post("/v1/auth/challenge", &json!({ "nope": 1 }), None)
        .await
        .assert_problem(400, "malformed-json");

    let ch = app
        .post("/v1/auth/challenge", &json!({ "key": public }), None)
        .await;
    let challenge = ch.body["challenge"].as_str().expect("challenge").to_owned();
    assert_eq!(ch.body["payload_type"], PayloadType::AuthChallenge.as_str());
    // A signature by another key, or over other bytes, fails, and burns the challenge.
    let wrong = stranger.sign(&pae(
        PayloadType::AuthChallenge.as_str(),
        challenge.as_bytes(),
    ));
    app.post(
        "/v1/auth/token",
        &json!({ "key": public, "challenge": challenge, "signature": B64.encode(wrong) }),
        None,
    )
    .await
    .assert_problem(401, "unauthorized");
    let good = a.key.sign(&pae(
        PayloadType::AuthChallenge.as_str(),
        challenge.as_bytes(),
    ));
    app.post(
        "/v1/auth/token",
        &json!({ "key": public, "challenge": challenge, "signature": B64.encode(good) }),
        None,
    )
    .await
    .assert_problem(401, "unauthorized");
    // A fresh challenge works once.
    let ch = app
        .post("/v1/auth/challenge", &json!({ "key": public }), None)
        .await;
    let challenge = ch.body["challenge"].as_str().expect("challenge").to_owned();
    // Raw signature over the challenge without PAE is refused (domain separation).
    let raw = a.key.sign(challenge.as_bytes());
    app.post(
        "/v1/auth/token",
        &json!({ "key": public, "challenge": challenge, "signature": B64.encode(raw) }),
        None,
    )
    .await
    .assert_problem(401, "unauthorized");
    let ch = app
        .post("/v1/auth/challenge", &json!({ "key": public }), None)
        .await;
    let challenge = ch.body["challenge"].as_str().expect("challenge").to_owned();
    let sig = B64.encode(a.key.sign(&pae(
        PayloadType::AuthChallenge.as_str(),
        challenge.as_bytes(),
    )));
    let t = app
        .post(
            "/v1/auth/token",
            &json!({ "key": public, "challenge": challenge, "signature": sig }),
            None,
        )
        .await;
    t.assert_status(200);
    assert_eq!(t.body["role"], "artist");
    assert_eq!(t.body["subject"], a.id.as_str());
    assert_eq!(t.body["token_type"], "Bearer");
    app.post(
        "/v1/auth/token",
        &json!({ "key": public, "challenge": challenge, "signature": sig }),
        None,
    )
    .await
    .assert_problem(401, "unauthorized");
    app.post(
        "/v1/auth/token",
        &json!({ "key": public, "challenge": "x", "signature": "???" }),
        None,
    )
    .await
    .assert_problem(400, "bad-base64");
    // The token's header pins EdDSA.
    let token = t.body["token"].as_str().expect("token");
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["alg"], "EdDSA");
}

fn claims(app: &TestApp, sub: &str, key: &SecretKey, role: &str) -> Value {
    let now = Timestamp::now().unix_secs();
    json!({
        "iss": app.state.auth.issuer(), "aud": "consentry-api", "sub": sub, "role": role,
        "key": key.public_key().to_string(), "iat": now, "exp": now + 600,
    })
}

fn sign_with(registry: &SecretKey, claims: &Value) -> String {
    let der = registry.to_pkcs8_der().expect("der");
    jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        claims,
        &EncodingKey::from_ed_der(&der),
    )
    .expect("sign")
}

/// Tokens signed with the registry's own key but living longer than the
/// registry issues (or issued in the future) are refused.
async fn tokens_living_longer_than_issued_are_refused(app: TestApp) {
    let a = app.artist("Ana").await;
    let now = Timestamp::now().unix_secs();
    let ttl = consentry::auth::TOKEN_TTL_SECS;
    let with_times = |iat: i64, exp: i64| {
        let mut c = claims(&app, &a.id, &a.key, "artist");
        c["iat"] = json!(iat);
        c["exp"] = json!(exp);
        sign_with(&app.registry_key, &c)
    };
    let before = app.counts().await;
    for (iat, exp) in [
        (now, 253_402_300_799),   // year 9999
        (now, now + ttl + 1),     // one second longer than issued
        (now + 3600, now + 3700), // issued an hour from now
    ] {
        let r = app
            .submit(
                &with_times(iat, exp),
                &[statement(&a.key, &[work(1)], json!("opt-out"), ago(10))],
            )
            .await;
        r.assert_problem(401, "unauthorized");
    }
    assert_eq!(app.counts().await, before);
    // Exactly the lifetime the registry issues, and a few seconds of clock skew, pass.
    app.submit(
        &with_times(now + 10, now + 10 + ttl),
        &[statement(&a.key, &[work(1)], json!("opt-out"), ago(10))],
    )
    .await
    .assert_status(201);
}

async fn forged_tokens_are_refused(app: TestApp) {
    let a = app.artist("Ana").await;
    let b = app.artist("Bo").await;
    let env = statement(&a.key, &[work(1)], json!("opt-out"), ago(10));
    let before = app.counts().await;
    let try_token = |t: String| {
        let env = env.clone();
        let app = &app;
        async move {
            app.submit(&t, &[env])
                .await
                .assert_problem(401, "unauthorized")
        }
    };
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(v).expect("json"))
    };
    let good = claims(&app, &a.id, &a.key, "artist");
    // Control: a correctly signed token works.
    let ok = sign_with(&app.registry_key, &good);
    // alg: none.
    try_token(format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&good)
    ))
    .await;
    // HS256 keyed with the registry's public key.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(&app.registry_key.public_key().to_bytes()),
    )
    .expect("hs256");
    try_token(hs).await;
    // Signed by another Ed25519 key.
    try_token(sign_with(&SecretKey::generate(), &good)).await;
    // Expired, wrong audience, wrong issuer, missing exp.
    let mut c = good.clone();
    c["exp"] = json!(Timestamp::now().unix_secs() - 3600);
    try_token(sign_with(&app.registry_key, &c)).await;
    let mut c = good.clone();
    c["aud"] = json!("someone-else");
    try_token(sign_with(&app.registry_key, &c)).await;
    let mut c = good.clone();
    c["iss"] = json!("evil");
    try_token(sign_with(&app.registry_key, &c)).await;
    let mut c = good.clone();
    c.as_object_mut().expect("obj").remove("exp");
    try_token(sign_with(&app.registry_key, &c)).await;
    // Claims that do not match the key's holder.
    let mut c = good.clone();
    c["sub"] = json!(b.id);
    try_token(sign_with(&app.registry_key, &c)).await;
    let mut c = good.clone();
    c["role"] = json!("admin");
    let admin_claim = sign_with(&app.registry_key, &c);
    app.post(
        "/v1/builders",
        &json!({ "name": "x", "key": SecretKey::generate().public_key().to_string() }),
        Some(&admin_claim),
    )
    .await
    .assert_problem(401, "unauthorized");
    // Tampered payload of a good token.
    let parts: Vec<&str> = ok.split('.').collect();
    let mut c = good.clone();
    c["sub"] = json!(b.id);
    try_token(format!("{}.{}.{}", parts[0], b64(&c), parts[2])).await;
    assert_eq!(app.counts().await, before);
    app.submit(&ok, &[env]).await.assert_status(201);
}

async fn builders_are_registered_by_admin(app: TestApp) {
    let a = app.artist("Ana").await;
    let builder = SecretKey::generate();
    let body = json!({ "name": "Open Dataset Lab", "key": builder.public_key().to_string() });
    let before = app.counts().await;
    app.post("/v1/builders", &body, None)
        .await
        .assert_problem(401, "unauthorized");
    app.post("/v1/builders", &body, Some(&a.token))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.counts().await, before);
    let admin = app.login(&app.admin).await;
    let r = app.post("/v1/builders", &body, Some(&admin)).await;
    r.assert_status(201);
    assert!(r.body["builder_id"]
        .as_str()
        .is_some_and(|s| s.starts_with("b_")));
    app.post("/v1/builders", &body, Some(&admin))
        .await
        .assert_problem(409, "key-in-use");
    app.post(
        "/v1/builders",
        &json!({ "name": "x", "key": a.key.public_key().to_string() }),
        Some(&admin),
    )
    .await
    .assert_problem(409, "key-in-use");
    app.post(
        "/v1/builders",
        &json!({ "name": "", "key": SecretKey::generate().public_key().to_string() }),
        Some(&admin),
    )
    .await
    .assert_problem(422, "invalid-payload");
    // The builder logs in with its key.
    let ch = app
        .post(
            "/v1/auth/challenge",
            &json!({ "key": builder.public_key().to_string() }),
            None,
        )
        .await;
    ch.assert_status(200);
    let t = app.login(&builder).await;
    assert!(!t.is_empty());
    // An artist key cannot be registered as an artist twice, nor a builder key as an artist.
    app.post(
        "/v1/artists",
        &json!(artist_envelope(&builder, "Lab")),
        None,
    )
    .await
    .assert_problem(409, "key-in-use");
}
