//! The accept loop of `consentry serve`, and what it does to every
//! connection: a header-read timeout (which is also the keep-alive idle
//! limit), an idle timeout while no byte moves and no request is being
//! handled, a bound on the connections open at once, problem+json bodies on
//! the 400, 414 and 431 answers hyper writes itself, and a graceful shutdown
//! that ends by a deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::http::error::PROBLEM_TYPE_PREFIX;

/// Connection limits, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnConfig {
    /// Time a request's header may take to arrive, counted from when the
    /// connection is ready for it (so also the keep-alive idle limit); 0: none.
    pub header_timeout: Duration,
    /// Time a connection may stay silent (no byte read or written) while no
    /// request on it is being handled; 0: none.
    pub idle_timeout: Duration,
    /// Connections open at once; beyond, new ones get 503 and are closed.
    pub max_connections: usize,
    /// Time in-flight requests get to finish after SIGTERM or SIGINT.
    pub shutdown_timeout: Duration,
}

impl Default for ConnConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish for at most `config.shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ConnConfig,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout((!config.header_timeout.is_zero()).then_some(config.header_timeout));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: as many open as allowed");
            refuse(&tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(ConnIo::new(tcp, Arc::clone(&activity)));
        let app = app.clone();
        let requests = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let handling = Handling::begin(Arc::clone(&requests));
            let app = app.clone();
            async move {
                let response = app.oneshot(req.map(Body::new)).await;
                drop(handling);
                response
            }
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        let idle = config.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                () = activity.silent_for(idle) => {
                    tracing::debug!(%peer, "idle connection closed");
                }
            }
        });
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "no longer accepting connections; finishing in-flight requests"
    );
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(config.shutdown_timeout) => {
            tracing::warn!(
                after = ?config.shutdown_timeout,
                "shutdown deadline passed; closing the remaining connections"
            );
        }
    }
}

/// A short problem+json answer, as raw HTTP/1.1 with `Connection: close`.
fn raw_problem(status_line: &str, slug: &str, detail: &str, extra_headers: &str) -> Vec<u8> {
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let title = status_line.splitn(3, ' ').nth(2).unwrap_or("Error");
    let body = serde_json::json!({
        "type": format!("{PROBLEM_TYPE_PREFIX}{slug}"),
        "title": title,
        "status": status,
        "detail": detail,
    })
    .to_string();
    format!(
        "{status_line}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Best effort: tells a connection beyond the bound why it is closed.
fn refuse(tcp: &TcpStream) {
    let answer = raw_problem(
        "HTTP/1.1 503 Service Unavailable",
        "busy",
        "the registry has as many connections open as it serves; retry shortly",
        "retry-after: 1\r\n",
    );
    let _ = tcp.try_write(&answer);
}

/// When a connection last moved a byte, and how many requests on it are
/// being handled.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    handling: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            handling: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once the connection has been silent for `limit` with no
    /// request being handled.
    async fn silent_for(&self, limit: Duration) {
        if limit.is_zero() {
            return std::future::pending().await;
        }
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if self.handling.load(Ordering::Relaxed) == 0 && Instant::now() >= deadline {
                return;
            }
            let wake = deadline.max(Instant::now() + Duration::from_millis(100));
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

/// A request being handled on a connection; counts as activity.
struct Handling(Arc<Activity>);

impl Handling {
    fn begin(activity: Arc<Activity>) -> Self {
        activity.handling.fetch_add(1, Ordering::Relaxed);
        activity.touch();
        Self(activity)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handling.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that records activity and gives hyper's own bodiless error
/// answers a problem+json body.
struct ConnIo {
    tcp: TcpStream,
    activity: Arc<Activity>,
    /// A replacement being written: its bytes, how many are written, and the
    /// length of the write it replaces.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl ConnIo {
    fn new(tcp: TcpStream, activity: Arc<Activity>) -> Self {
        Self {
            tcp,
            activity,
            replacing: None,
        }
    }
}

/// The problem+json version of an answer hyper wrote without the router: a
/// bare 400, 414 or 431 head with `content-length: 0` and nothing after it.
fn problem_for_bare_error(buf: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(buf).ok()?;
    let head = head.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    use axum::http::StatusCode;
    let (status, slug, detail) = match status_line.get(..13)? {
        "HTTP/1.1 400 " | "HTTP/1.0 400 " => (
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "the request is not valid HTTP/1.1",
        ),
        "HTTP/1.1 414 " | "HTTP/1.0 414 " => (
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            "the request target is longer than the registry reads",
        ),
        "HTTP/1.1 431 " | "HTTP/1.0 431 " => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "the request headers are larger than the registry reads",
        ),
        _ => return None,
    };
    if status_line.get(9..12) != Some(status.as_str()) {
        return None;
    }
    let mut extra = String::new();
    let mut empty = false;
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            empty = v.trim() == "0";
        } else if !lower.starts_with("connection:") && !lower.starts_with("content-type:") {
            extra.push_str(line);
            extra.push_str("\r\n");
        }
    }
    empty.then(|| raw_problem(status_line, slug, detail, &extra))
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = ready!(Pin::new(&mut self.tcp).poll_read(cx, buf));
        if buf.filled().len() > before {
            self.activity.touch();
        }
        Poll::Ready(r)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            if let Some(answer) = problem_for_bare_error(buf) {
                self.replacing = Some((answer, 0, buf.len()));
            }
        }
        let this = &mut *self;
        if let Some((answer, written, replaced)) = &mut this.replacing {
            while *written < answer.len() {
                match ready!(Pin::new(&mut this.tcp).poll_write(cx, &answer[*written..])) {
                    Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Ok(n) => *written += n,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            let replaced = *replaced;
            this.replacing = None;
            this.activity.touch();
            return Poll::Ready(Ok(replaced));
        }
        let r = ready!(Pin::new(&mut this.tcp).poll_write(cx, buf));
        if matches!(r, Ok(n) if n > 0) {
            this.activity.touch();
        }
        Poll::Ready(r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_error_heads_get_a_problem_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 16:00:00 GMT\r\n\r\n";
        let out =
            String::from_utf8(problem_for_bare_error(head).expect("replaced")).expect("utf-8");
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(out.contains("content-type: application/problem+json\r\n"));
        assert!(out.contains("date: Sat"));
        assert!(out.contains("urn:consentry:problem:headers-too-large"));
        let (h, body) = out.split_once("\r\n\r\n").expect("head");
        assert!(h.contains(&format!("content-length: {}", body.len())));
    }

    #[test]
    fn answers_with_bodies_are_left_alone() {
        assert!(
            problem_for_bare_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}")
                .is_none()
        );
        assert!(
            problem_for_bare_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 7\r\n\r\n")
                .is_none()
        );
        assert!(problem_for_bare_error(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
