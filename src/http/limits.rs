//! Limits that protect the server from one client: a token bucket per
//! authenticated subject (artist, builder or admin), and a cap on check
//! streams open at once, per builder and in all (refusals are 429 with
//! `Retry-After`); a minimum rate at which a check stream's body must arrive;
//! and a budget of memory that request bodies in flight may hold across all
//! requests ([`BodyBudget`]; refusals are 503 `busy` with `Retry-After`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// Subjects whose buckets are kept before full, idle ones are dropped.
const MAX_TRACKED: usize = 100_000;

/// The limits, as configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitConfig {
    /// Authenticated requests per second per subject, sustained; 0: no limit.
    pub rate_per_sec: f64,
    /// Requests a subject may make at once before the rate applies.
    pub burst: f64,
    /// Check streams open at once, per builder.
    pub streams_per_builder: usize,
    /// Check streams open at once, in all.
    pub streams_total: usize,
    /// Bytes per second a check stream's body must average over each
    /// [`stream_window`](Self::stream_window); 0: no minimum.
    pub stream_min_rate: u64,
    /// The window over which [`stream_min_rate`](Self::stream_min_rate) is measured.
    pub stream_window: Duration,
    /// Bytes that request bodies in flight may hold, across all requests.
    pub body_memory: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            rate_per_sec: 200.0,
            burst: 400.0,
            streams_per_builder: 4,
            streams_total: 32,
            stream_min_rate: 1024,
            stream_window: Duration::from_secs(10),
            body_memory: 256 * 1024 * 1024,
        }
    }
}

impl LimitConfig {
    /// No per-token rate limit (benchmarks measure the engine, not the limits).
    #[must_use]
    pub fn no_rate_limit() -> Self {
        Self {
            rate_per_sec: 0.0,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The server's limits and what they are counting.
#[derive(Debug)]
pub struct Limits {
    pub config: LimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
    streams: Mutex<HashMap<String, usize>>,
    bodies: Arc<BodyBudget>,
}

/// An open check stream; closing it (dropping) frees its place.
#[derive(Debug)]
pub struct StreamSlot {
    limits: Arc<Limits>,
    subject: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self
            .limits
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = streams.get_mut(&self.subject) {
            *n -= 1;
            if *n == 0 {
                streams.remove(&self.subject);
            }
        }
    }
}

fn too_many(detail: String, retry_after: u64) -> ApiError {
    let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail);
    e.retry_after = Some(retry_after.max(1));
    e
}

impl Limits {
    #[must_use]
    pub fn new(config: LimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::default(),
            streams: Mutex::default(),
            bodies: Arc::new(BodyBudget::new(config.body_memory)),
        }
    }

    /// The shared budget of request-body memory.
    #[must_use]
    pub fn bodies(&self) -> &Arc<BodyBudget> {
        &self.bodies
    }

    /// Charges one request to `subject`.
    ///
    /// # Errors
    /// 429 `rate-limited` with the seconds until a request fits.
    pub fn charge(&self, subject: &str) -> Result<(), ApiError> {
        let c = self.config;
        if c.rate_per_sec <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(subject) {
            // Idle subjects' buckets are full again: forgetting them changes nothing.
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.last).as_secs_f64() * c.rate_per_sec < c.burst
            });
        }
        let b = buckets.entry(subject.to_owned()).or_insert(Bucket {
            tokens: c.burst,
            last: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.last).as_secs_f64() * c.rate_per_sec).min(c.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let wait = ((1.0 - b.tokens) / c.rate_per_sec).ceil() as u64;
            Err(too_many(
                format!(
                    "more than {} requests per second with this token; retry later",
                    c.rate_per_sec
                ),
                wait,
            ))
        }
    }

    /// Opens a check stream for `subject`.
    ///
    /// # Errors
    /// 429 `rate-limited` when the builder or the server has as many open
    /// as allowed.
    pub fn open_stream(self: &Arc<Self>, subject: &str) -> Result<StreamSlot, ApiError> {
        let c = self.config;
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let total: usize = streams.values().sum();
        let mine = streams.get(subject).copied().unwrap_or(0);
        if mine >= c.streams_per_builder {
            return Err(too_many(
                format!(
                    "{mine} check streams are open with this token, the most allowed; retry when one ends"
                ),
                1,
            ));
        }
        if total >= c.streams_total {
            return Err(too_many(
                "the registry has as many check streams open as it serves; retry shortly".into(),
                1,
            ));
        }
        *streams.entry(subject.to_owned()).or_insert(0) += 1;
        Ok(StreamSlot {
            limits: Arc::clone(self),
            subject: subject.to_owned(),
        })
    }
}

/// Budget units are KiB, so that a semaphore can count them.
const BUDGET_UNIT: usize = 1024;

/// The memory that request bodies being read or held may take, across all
/// requests. A body takes its declared `Content-Length` from the budget when
/// the handler starts reading it (after authentication), or, without one,
/// each chunk as it arrives; it gives it back when its response is ready.
/// A body that cannot get budget at once fails with [`BodyBudgetExhausted`],
/// which the API answers 503 `busy` with `Retry-After`.
#[derive(Debug)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    total_units: usize,
}

/// A request body could not get memory from the [`BodyBudget`].
#[derive(Debug, thiserror::Error)]
#[error("the registry is holding as many request bodies as it has memory for")]
pub struct BodyBudgetExhausted {
    /// True when the body is larger than the whole budget (retrying cannot help).
    pub larger_than_budget: bool,
}

/// Seconds a client refused for want of body memory is asked to wait.
pub const BUSY_RETRY_AFTER_SECS: u64 = 2;

impl BodyBudget {
    #[must_use]
    pub fn new(bytes: usize) -> Self {
        let total_units = bytes.div_ceil(BUDGET_UNIT).min(Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
        }
    }

    /// Bytes of the budget not taken now.
    #[must_use]
    pub fn available_bytes(&self) -> usize {
        self.units.available_permits() * BUDGET_UNIT
    }

    fn take(&self, bytes: usize) -> Result<Option<OwnedSemaphorePermit>, BodyBudgetExhausted> {
        let units = bytes.div_ceil(BUDGET_UNIT);
        if units == 0 {
            return Ok(None);
        }
        if units > self.total_units {
            return Err(BodyBudgetExhausted {
                larger_than_budget: true,
            });
        }
        let units32 = u32::try_from(units).map_err(|_| BodyBudgetExhausted {
            larger_than_budget: true,
        })?;
        Arc::clone(&self.units)
            .try_acquire_many_owned(units32)
            .map(Some)
            .map_err(|_| BodyBudgetExhausted {
                larger_than_budget: false,
            })
    }

    /// `body`, charged to the budget as it is read; what it took is kept in
    /// `held` (given back when `held` is dropped).
    fn charge(
        self: &Arc<Self>,
        body: Body,
        declared: Option<usize>,
        held: Arc<Mutex<Vec<OwnedSemaphorePermit>>>,
    ) -> Body {
        let budget = Arc::clone(self);
        let mut seen = 0usize;
        let mut charged = 0usize;
        let mut failed = false;
        let stream = body.into_data_stream().map(move |chunk| {
            if failed {
                return Err(axum::Error::new(BodyBudgetExhausted {
                    larger_than_budget: false,
                }));
            }
            let chunk: Bytes = chunk?;
            seen = seen.saturating_add(chunk.len());
            let want = declared.map_or(seen, |d| d.max(seen));
            // Charge whole KiB units, so that small chunks are not refused one by one.
            let need = want.div_ceil(BUDGET_UNIT) * BUDGET_UNIT;
            if need > charged {
                match budget.take(need - charged) {
                    Ok(permit) => {
                        if let Some(p) = permit {
                            held.lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(p);
                        }
                        charged = need;
                    }
                    Err(e) => {
                        failed = true;
                        return Err(axum::Error::new(e));
                    }
                }
            }
            Ok(chunk)
        });
        Body::from_stream(stream)
    }
}

/// Routes whose bodies are read piece by piece and never held whole.
fn streams_its_body(path: &str) -> bool {
    path == "/v1/check/stream"
}

/// Middleware: charges every request body (except streamed ones) to the
/// [`BodyBudget`] and gives the budget back when the response is ready.
pub async fn charge_body(
    State(budget): State<Arc<BodyBudget>>,
    request: Request,
    next: Next,
) -> Response {
    if streams_its_body(request.uri().path()) {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared == Some(0) {
        return next.run(request).await;
    }
    let held = Arc::new(Mutex::new(Vec::new()));
    let (parts, body) = request.into_parts();
    let body = budget.charge(body, declared, Arc::clone(&held));
    let response = next.run(Request::from_parts(parts, body)).await;
    drop(held);
    response
}

/// The error in `e`'s source chain that says the body budget was spent.
#[must_use]
pub fn budget_exhausted_in<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a BodyBudgetExhausted> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = at {
        if let Some(b) = err.downcast_ref::<BodyBudgetExhausted>() {
            return Some(b);
        }
        at = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_the_rate() {
        let l = Limits::new(LimitConfig {
            rate_per_sec: 1000.0,
            burst: 3.0,
            ..LimitConfig::default()
        });
        for _ in 0..3 {
            assert!(l.charge("a").is_ok());
        }
        let e = l.charge("a").expect_err("burst spent");
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after, Some(1));
        assert!(l.charge("b").is_ok(), "buckets are per subject");
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(l.charge("a").is_ok(), "refilled");
    }

    #[test]
    fn streams_are_capped_per_subject_and_in_all() {
        let l = Arc::new(Limits::new(LimitConfig {
            streams_per_builder: 2,
            streams_total: 3,
            ..LimitConfig::default()
        }));
        let a1 = l.open_stream("a").expect("a1");
        let _a2 = l.open_stream("a").expect("a2");
        assert!(l.open_stream("a").is_err());
        let _b1 = l.open_stream("b").expect("b1");
        assert!(l.open_stream("c").is_err(), "3 open in all");
        drop(a1);
        assert!(l.open_stream("c").is_ok());
    }

    #[test]
    fn the_body_budget_is_shared_and_given_back() {
        let b = BodyBudget::new(10 * 1024);
        let first = b.take(6 * 1024).expect("fits");
        let e = b.take(6 * 1024).expect_err("only 4 KiB left");
        assert!(!e.larger_than_budget);
        assert!(
            b.take(11 * 1024)
                .expect_err("never fits")
                .larger_than_budget
        );
        drop(first);
        assert!(b.take(6 * 1024).is_ok());
        assert_eq!(b.available_bytes(), 10 * 1024);
    }
}
