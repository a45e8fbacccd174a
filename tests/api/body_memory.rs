//! The shared budget of request-body memory, through the router: a body that
//! cannot get budget is answered 503 `busy` with `Retry-After` (declared by
//! `Content-Length` or streamed without one), a body larger than the whole
//! budget 413, and the budget is given back when a response is ready.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request};
use consentry::http::limits::LimitConfig;

use crate::helpers::*;

crate::both_backends_raw!(bodies_in_flight_share_one_memory_budget);

const BUDGET: usize = 1024 * 1024;

fn run_request(token: &str, length: Option<usize>, body: Body) -> Request<Body> {
    let mut req = Request::post("/v1/runs")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(n) = length {
        req = req.header(header::CONTENT_LENGTH, n);
    }
    req.body(body).expect("request")
}

fn retry_after(
    app: &TestApp,
    req: Request<Body>,
) -> impl std::future::Future<Output = Option<u64>> + '_ {
    use tower::ServiceExt;
    async move {
        let resp = app.router.clone().oneshot(req).await.expect("router");
        resp.headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }
}

async fn bodies_in_flight_share_one_memory_budget(backend: Backend) {
    let app = TestApp::spawn_with_limits(
        backend,
        LimitConfig {
            body_memory: BUDGET,
            ..LimitConfig::default()
        },
    )
    .await;
    let lab = crate::check::builder(&app).await;
    let budget = std::sync::Arc::clone(app.state.limits.bodies());
    assert_eq!(budget.available_bytes(), BUDGET);

    // A slow client declares 800 KiB and sends the first kilobyte.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let slow_body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    tx.send(Ok(vec![b' '; 1024])).await.expect("send");
    let router = app.router.clone();
    let slow_req = run_request(&lab, Some(800 * 1024), slow_body);
    let slow = tokio::spawn(async move {
        use tower::ServiceExt;
        router.oneshot(slow_req).await.expect("router").status()
    });
    for _ in 0..200 {
        if budget.available_bytes() < BUDGET {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(budget.available_bytes(), BUDGET - 800 * 1024);

    // Another 800 KiB body cannot get budget now: 503 busy, Retry-After.
    let big = vec![b' '; 800 * 1024];
    let r = app
        .send(run_request(&lab, Some(big.len()), Body::from(big.clone())))
        .await;
    r.assert_problem(503, "busy");
    assert!(retry_after(
        &app,
        run_request(&lab, Some(big.len()), Body::from(big.clone()))
    )
    .await
    .is_some_and(|s| s >= 1));
    // Nor can one streamed without a length, once its chunks pass what is left.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..16).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    app.send(run_request(
        &lab,
        None,
        Body::from_stream(futures_util::stream::iter(chunks)),
    ))
    .await
    .assert_problem(503, "busy");
    // A body larger than the whole budget can never fit: 413.
    let huge = vec![b' '; BUDGET + 1];
    app.send(run_request(&lab, Some(huge.len()), Body::from(huge)))
        .await
        .assert_problem(413, "payload-too-large");
    // The slow body's further chunks take nothing more than it declared.
    tx.send(Ok(vec![b' '; 64 * 1024])).await.expect("send");
    tx.send(Ok(vec![b' '; 64 * 1024])).await.expect("send");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(budget.available_bytes(), BUDGET - 800 * 1024);
    // Small bodies still fit beside the slow one.
    app.post_raw(
        "/v1/runs",
        b"{}".to_vec(),
        Some("application/json"),
        Some(&lab),
    )
    .await
    .assert_problem(400, "malformed-json");
    assert_eq!(budget.available_bytes(), BUDGET - 800 * 1024);

    // The slow client gives up; its budget comes back and the big body fits.
    drop(tx);
    let status = slow.await.expect("slow request");
    assert_ne!(status.as_u16(), 503);
    assert_eq!(budget.available_bytes(), BUDGET);
    let r = app
        .send(run_request(&lab, Some(big.len()), Body::from(big)))
        .await;
    r.assert_problem(400, "malformed-json");
    assert_eq!(budget.available_bytes(), BUDGET);
}
