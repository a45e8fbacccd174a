//! Per-token rate limits and the cap on open check streams, through the
//! router: 429 with a problem body and `Retry-After`, per token, and
//! nothing stored by a refused request.

use axum::body::Body;
use axum::http::{header, Request};
use consentry::http::limits::LimitConfig;
use serde_json::json;
use tower::ServiceExt;

use crate::check::builder;
use crate::helpers::*;

#[tokio::test]
async fn tokens_over_their_rate_get_429_with_retry_after() {
    let app = TestApp::spawn_with_limits(
        Backend::Sqlite,
        LimitConfig {
            rate_per_sec: 0.01,
            burst: 3.0,
            ..LimitConfig::default()
        },
    )
    .await;
    let ana = app.artist("Ana").await;
    let ben = app.artist("Ben").await;
    let before = app.counts().await;
    // The burst, then refusals that change nothing.
    for i in 0..3 {
        app.submit(
            &ana.token,
            &[statement(&ana.key, &[work(i)], json!("opt-out"), ago(10))],
        )
        .await
        .assert_status(201);
    }
    let counts = app.counts().await;
    assert_eq!(counts.documents, before.documents + 3);
    let refused = app
        .submit(
            &ana.token,
            &[statement(&ana.key, &[work(9)], json!("opt-out"), ago(10))],
        )
        .await;
    refused.assert_problem(429, "rate-limited");
    assert_eq!(
        app.counts().await,
        counts,
        "a refused request stores nothing"
    );
    let raw = app
        .router
        .clone()
        .oneshot(
            Request::get(format!("/v1/artists/{}/payouts", ana.id))
                .header(header::AUTHORIZATION, format!("Bearer {}", ana.token))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("router");
    assert_eq!(raw.status().as_u16(), 429);
    let retry: u64 = raw.headers()[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=100).contains(&retry), "Retry-After {retry}");
    // Another token has its own bucket; public endpoints are not charged.
    app.submit(
        &ben.token,
        &[statement(&ben.key, &[work(20)], json!("opt-out"), ago(10))],
    )
    .await
    .assert_status(201);
    app.get(&format!("/v1/artists/{}", ana.id))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn check_streams_are_capped_per_builder() {
    let app = TestApp::spawn_with_limits(
        Backend::Sqlite,
        LimitConfig {
            streams_per_builder: 1,
            ..LimitConfig::default()
        },
    )
    .await;
    let lab = builder(&app).await;
    let other = builder(&app).await;
    let server = app.serve_http().await;
    let http = reqwest::Client::new();
    // A stream whose body never ends holds its place...
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let open = http
        .post(format!("{server}/v1/check/stream?purpose=train-ai"))
        .bearer_auth(&lab)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send();
    let held = tokio::spawn(open);
    tx.send(Ok(format!("\"{}\"\n", work(1)).into_bytes()))
        .await
        .expect("send");
    // ...until it ends: the same builder is refused meanwhile, another is not.
    let mut refused = None;
    for _ in 0..100 {
        let r = http
            .post(format!("{server}/v1/check/stream?purpose=train-ai"))
            .bearer_auth(&lab)
            .header("content-type", "application/x-ndjson")
            .body(format!("\"{}\"\n", work(2)))
            .send()
            .await
            .expect("second stream");
        if r.status().as_u16() == 429 {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a second stream of the same builder is refused");
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.expect("problem");
    assert_eq!(body["type"], "urn:consentry:problem:rate-limited");
    let r = http
        .post(format!("{server}/v1/check/stream?purpose=train-ai"))
        .bearer_auth(&other)
        .header("content-type", "application/x-ndjson")
        .body(format!("\"{}\"\n", work(3)))
        .send()
        .await
        .expect("other builder");
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.expect("answers");
    drop(tx);
    let first = held.await.expect("task").expect("first stream");
    assert_eq!(first.status().as_u16(), 200);
    first.text().await.expect("answers");
    // Its place is free again.
    let mut ok = false;
    for _ in 0..100 {
        let r = http
            .post(format!("{server}/v1/check/stream?purpose=train-ai"))
            .bearer_auth(&lab)
            .header("content-type", "application/x-ndjson")
            .body(format!("\"{}\"\n", work(4)))
            .send()
            .await
            .expect("third stream");
        if r.status().as_u16() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ok, "the place is freed when the stream ends");
}
