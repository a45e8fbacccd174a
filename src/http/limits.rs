//! Limits that protect the server from one client: a token bucket per
//! authenticated subject (artist, builder or admin), and a cap on check
//! streams open at once, per builder and in all. Refusals are 429 with
//! `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::StatusCode;

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
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            rate_per_sec: 200.0,
            burst: 400.0,
            streams_per_builder: 4,
            streams_total: 32,
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
#[derive(Debug, Default)]
pub struct Limits {
    pub config: LimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
    streams: Mutex<HashMap<String, usize>>,
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
        }
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
}
