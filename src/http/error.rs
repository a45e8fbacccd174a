//! RFC 9457 problem responses. Every 4xx and 5xx the API sends goes through
//! [`ApiError`]; internal details are logged, never sent.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::AuthError;
use crate::registry::{RegistryError, Rejection, RejectionKind};

/// The prefix of every problem `type`; the rest is the stable slug.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:consentry:problem:";

/// One item of a batch that was refused.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
}

/// An error response: status, stable slug, human detail.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub detail: String,
    pub errors: Vec<ProblemItem>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[ProblemItem]>::is_empty")]
    errors: &'a [ProblemItem],
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            slug,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, slug, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 503 `busy`: the registry is holding as much as it may; retry later.
    pub fn busy(detail: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail);
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 503 `starting`: the registry is checking its stored data against
    /// the log (`checked` of `total` documents) and serves nothing yet.
    pub fn starting(checked: u64, total: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            format!(
                "the registry is starting: {checked} of {total} stored documents checked against the log"
            ),
        );
        e.retry_after = Some(5);
        e
    }

    /// 503 `storage-full`: the database has no room to write; the registry
    /// answers again as soon as space is freed.
    pub fn storage_full() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage-full",
            "the registry's storage is full; nothing was stored, retry later",
        );
        e.retry_after = Some(60);
        e
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the registry failed to handle the request",
        )
    }
}

fn rejection_status(kind: RejectionKind) -> (StatusCode, &'static str) {
    use RejectionKind as K;
    match kind {
        K::MalformedEnvelope => (StatusCode::BAD_REQUEST, "malformed-envelope"),
        K::BadBase64 => (StatusCode::BAD_REQUEST, "bad-base64"),
        K::WrongPayloadType => (StatusCode::UNPROCESSABLE_ENTITY, "wrong-payload-type"),
        K::InvalidKey => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-key"),
        K::BadSignature => (StatusCode::UNPROCESSABLE_ENTITY, "bad-signature"),
        K::InvalidPayload => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-payload"),
        K::KeyMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "key-mismatch"),
        K::UnknownKey => (StatusCode::UNPROCESSABLE_ENTITY, "unknown-key"),
        K::RevokedKey => (StatusCode::UNPROCESSABLE_ENTITY, "revoked-key"),
        K::IssuedInFuture => (StatusCode::UNPROCESSABLE_ENTITY, "issued-in-future"),
        K::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        K::StaleStatement => (StatusCode::CONFLICT, "stale-statement"),
        K::KeyInUse => (StatusCode::CONFLICT, "key-in-use"),
        K::AlreadyRevoked => (StatusCode::CONFLICT, "already-revoked"),
        K::UnknownArtist => (StatusCode::NOT_FOUND, "not-found"),
        K::TooManyItems => (StatusCode::PAYLOAD_TOO_LARGE, "too-many-items"),
        K::EmptyBatch => (StatusCode::BAD_REQUEST, "empty-batch"),
        K::InvalidRun => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-run"),
        K::ReceiptMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "receipt-mismatch"),
        K::RunExists => (StatusCode::CONFLICT, "run-exists"),
    }
}

impl From<Vec<Rejection>> for ApiError {
    fn from(rejections: Vec<Rejection>) -> Self {
        let Some(first) = rejections.first() else {
            return ApiError::internal();
        };
        let (status, slug) = rejection_status(first.kind);
        let detail = match (first.index, rejections.len()) {
            (Some(i), 1) => format!("item {i}: {}", first.detail),
            (Some(i), n) => format!("{n} items refused; first, item {i}: {}", first.detail),
            (None, _) => first.detail.clone(),
        };
        let errors = if first.index.is_some() {
            rejections
                .iter()
                .map(|r| ProblemItem {
                    index: r.index,
                    kind: format!("{PROBLEM_TYPE_PREFIX}{}", rejection_status(r.kind).1),
                    detail: r.detail.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        ApiError {
            status,
            slug,
            detail,
            errors,
            retry_after: None,
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Rejected(r) => r.into(),
            e @ RegistryError::NotHeld { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "checkpoint-not-held",
                format!("{e}: retry shortly, or ask at the size this node reports"),
            ),
            RegistryError::NotFound(detail) => ApiError::not_found(detail),
            other if other.is_storage_full() => {
                tracing::error!(error = %other, "storage is full");
                ApiError::storage_full()
            }
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Signing => {
                tracing::error!("token signing failed");
                ApiError::internal()
            }
            other => ApiError::unauthorized(other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as application/json",
            ),
            JsonRejection::BytesRejection(b) => b.into(),
            other => ApiError::bad_request("malformed-json", other.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        if let Some(b) = super::limits::budget_exhausted_in(&r) {
            return if b.larger_than_budget {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    "the request body is larger than the registry holds in memory for requests",
                )
            } else {
                ApiError::busy(
                    "the registry is holding as many request bodies as it has memory for; retry shortly",
                    super::limits::BUSY_RETRY_AFTER_SECS,
                )
            };
        }
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the request body is larger than this endpoint accepts",
            )
        } else {
            ApiError::bad_request("malformed-body", r.body_text())
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid-parameter", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid-parameter", r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = Problem {
            kind: format!("{PROBLEM_TYPE_PREFIX}{}", self.slug),
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
