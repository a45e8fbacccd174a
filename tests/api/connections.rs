//! Connection limits of `consentry serve`, through the real binary on real
//! sockets: the header-read timeout (also the keep-alive idle limit), the
//! idle timeout, the bound on open connections, a bounded graceful shutdown,
//! problem+json bodies on the answers hyper writes below the router; and,
//! through the router, the minimum rate of a check stream's body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request};
use consentry::http::limits::LimitConfig;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::helpers::*;

crate::both_backends_raw!(trickling_check_streams_are_ended_and_free_their_slot);

/// A server on a fresh SQLite file with extra `serve` flags.
fn server(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let s = Server::start_blocking(dir.path(), &url, extra);
    (dir, s)
}

fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://")).expect("connect")
}

/// Reads until the server closes the connection or `limit` passes; returns
/// what was read and whether the connection was closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, false)
            }
            Err(_) => return (out, true),
        }
    }
}

/// Sends `request` on a new connection and reads the answer: status, head
/// (lowercase) and body.
fn exchange(s: &Server, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut c = connect(s);
    c.write_all(request).expect("write");
    let (bytes, closed) = read_until_closed(&mut c, Duration::from_secs(10));
    assert!(closed, "the server keeps the connection open");
    parse_answer(&bytes)
}

fn parse_answer(bytes: &[u8]) -> (u16, String, Vec<u8>) {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head, bytes[split + 4..].to_vec())
}

/// `GET /healthz` on a new connection: its status, or None when refused or cut.
fn healthz(s: &Server) -> Option<u16> {
    let mut c = TcpStream::connect(s.base.trim_start_matches("http://")).ok()?;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let (bytes, _) = read_until_closed(&mut c, Duration::from_secs(2));
    std::str::from_utf8(&bytes)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

#[track_caller]
fn assert_problem_answer(answer: &(u16, String, Vec<u8>), status: u16, slug: &str) {
    let (got, head, body) = answer;
    assert_eq!(*got, status, "head: {head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "head: {head}"
    );
    let body: serde_json::Value = serde_json::from_slice(body).expect("problem body");
    assert_eq!(body["type"], format!("urn:consentry:problem:{slug}"));
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[test]
fn half_sent_headers_and_idle_keep_alive_connections_are_closed_at_the_header_timeout() {
    let (_dir, s) = server(&["--header-timeout", "1s", "--idle-timeout", "60s"]);
    // A request header that never ends.
    let mut slow = connect(&s);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let start = Instant::now();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(8));
    assert!(closed, "a half-sent header holds its connection");
    assert!(start.elapsed() < Duration::from_secs(5));
    // A keep-alive connection that answered one request and then waits.
    let mut idle = connect(&s);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let start = Instant::now();
    let (bytes, closed) = read_until_closed(&mut idle, Duration::from_secs(8));
    assert!(bytes.starts_with(b"HTTP/1.1 200"), "answered first");
    assert!(closed, "an idle keep-alive connection stays open");
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn silent_connections_are_closed_at_the_idle_timeout() {
    let (_dir, s) = server(&["--header-timeout", "60s", "--idle-timeout", "1s"]);
    let mut silent = connect(&s);
    let start = Instant::now();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(8));
    assert!(closed, "a connection that sends nothing stays open");
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert!(start.elapsed() < Duration::from_secs(5));
    // A connection that keeps talking is not idle.
    let mut busy = connect(&s);
    for _ in 0..4 {
        busy.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut buf = [0u8; 4096];
        busy.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let n = busy.read(&mut buf).expect("answer");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(600));
    }
}

#[test]
fn connections_beyond_the_bound_get_503_and_healthz_answers_again() {
    let (_dir, s) = server(&[
        "--max-connections",
        "8",
        "--header-timeout",
        "1s",
        "--idle-timeout",
        "60s",
    ]);
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, std::iter::Iterator::count)
    };
    let before = fds(s.child.id());
    // Eight slow-header connections fill the bound...
    let mut held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut c = connect(&s);
            c.write_all(b"GET /healthz HTTP/1.1\r\n").expect("write");
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // ...so the next connection is told why it is closed.
    let mut extra = connect(&s);
    let (bytes, closed) = read_until_closed(&mut extra, Duration::from_secs(3));
    assert!(closed);
    let answer = parse_answer(&bytes);
    assert_problem_answer(&answer, 503, "busy");
    assert!(answer.1.contains("retry-after: 1"));
    // Hundreds more slow clients do not take descriptors from the process.
    for _ in 0..200 {
        if let Ok(mut c) = TcpStream::connect(s.base.trim_start_matches("http://")) {
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\n");
            held.push(c);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    if cfg!(target_os = "linux") {
        let during = fds(s.child.id());
        assert!(
            during <= before + 8 + 4,
            "{during} descriptors open with 208 clients (before: {before})"
        );
    }
    // Once the header timeout closes the slow ones, /healthz answers.
    let start = Instant::now();
    loop {
        if healthz(&s) == Some(200) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "/healthz does not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(held);
}

#[test]
fn sigterm_ends_within_the_shutdown_timeout_even_with_half_sent_headers() {
    let (_dir, mut s) = server(&[
        "--shutdown-timeout",
        "1s",
        "--header-timeout",
        "60s",
        "--idle-timeout",
        "60s",
    ]);
    let mut half = connect(&s);
    half.write_all(b"POST /v1/artists HTTP/1.1\r\nHost: x\r\nContent-")
        .expect("write");
    let mut idle = connect(&s);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    let term = std::process::Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let start = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "still running {:?} after SIGTERM",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Closed, not left hanging.
    let (_, closed) = read_until_closed(&mut half, Duration::from_secs(2));
    assert!(closed);
}

#[test]
fn answers_written_below_the_router_are_problem_json() {
    let (_dir, s) = server(&[]);
    // 414: a request target longer than the registry reads.
    let long = format!(
        "GET /v1/works/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    assert_problem_answer(&exchange(&s, long.as_bytes()), 414, "uri-too-long");
    // 431: more header fields than the registry reads.
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-Field-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    assert_problem_answer(&exchange(&s, many.as_bytes()), 431, "headers-too-large");
    // 400: not HTTP at all.
    assert_problem_answer(
        &exchange(&s, b"THIS IS NOT HTTP\r\n\r\n"),
        400,
        "malformed-request",
    );
    assert_problem_answer(
        &exchange(&s, b"GET /healthz HTTP/1.1\r\nBad Header Name: x\r\n\r\n"),
        400,
        "malformed-request",
    );
    // The router's own answers are untouched.
    let (status, head, body) = exchange(
        &s,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{head}");
    assert!(!body.is_empty());
}

/// A check stream whose body trickles in below the minimum rate is ended
/// with a `too-slow` error line, and its slot is free again.
async fn trickling_check_streams_are_ended_and_free_their_slot(backend: Backend) {
    let app = TestApp::spawn_with_limits(
        backend,
        LimitConfig {
            streams_per_builder: 1,
            stream_min_rate: 1000,
            stream_window: Duration::from_millis(500),
            ..LimitConfig::default()
        },
    )
    .await;
    let lab = crate::check::builder(&app).await;
    let stream_request = |body: Body| {
        Request::post("/v1/check/stream?purpose=train-ai")
            .header(header::AUTHORIZATION, format!("Bearer {lab}"))
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .expect("request")
    };
    // One line every 300 ms: about 240 bytes a second.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let trickle = tokio::spawn(async move {
        for i in 0..40 {
            if tx
                .send(Ok(format!("\"{}\"\n", work(i)).into_bytes()))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let resp = app
        .router
        .clone()
        .oneshot(stream_request(body))
        .await
        .expect("router");
    assert_eq!(resp.status().as_u16(), 200);
    let text = tokio::time::timeout(Duration::from_secs(8), resp.into_body().collect())
        .await
        .expect("the trickling stream is never ended")
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&text);
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("json line");
    assert_eq!(
        last["error"]["type"], "urn:consentry:problem:too-slow",
        "{text}"
    );
    trickle.abort();
    // Its slot is free: a prompt stream of the same builder runs to the end.
    let mut lines = String::new();
    for i in 0..50 {
        lines.push_str(&format!("\"{}\"\n", work(i)));
    }
    let resp = app
        .router
        .clone()
        .oneshot(stream_request(Body::from(lines)))
        .await
        .expect("router");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&text);
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("json line");
    assert_eq!(last["done"], true, "{text}");
}
