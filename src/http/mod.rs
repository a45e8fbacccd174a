//! The REST API. One module per resource; [`router`] assembles them and
//! records every (method, path) so tests can compare it with `openapi.yaml`.

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::{self, MethodRouter};
use axum::BoxError;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::auth::Auth;
use crate::crypto::PublicKey;
use crate::registry::Registry;

pub mod artists;
pub mod auth;
pub mod check;
pub mod error;
pub mod extract;
pub mod limits;
pub mod log;
pub mod meta;
pub mod payouts;
pub mod statements;
pub mod stats;
pub mod web;
pub mod works;

pub use error::{ApiError, ApiResult};

/// Request bodies of ordinary endpoints, at most.
pub const SMALL_BODY_LIMIT: usize = 64 * 1024;
/// The statements endpoint's body, at most (10,000 single-work statements
/// take about 7 MiB; 100,000 works in multi-work statements about 12 MiB).
pub const STATEMENTS_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Time a request may take before the server answers 503 (`timeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub auth: Arc<Auth>,
    /// The key whose holder may obtain an admin token.
    pub admin_key: Option<PublicKey>,
    /// The registry's own public key.
    pub registry_key: PublicKey,
    /// Recent statistics answers, valid while the log does not grow.
    pub stats_cache: Arc<stats::StatsCache>,
    /// Per-token request rates and open check streams.
    pub limits: Arc<limits::Limits>,
    /// Set on a read-only replica: writes are refused.
    pub read_only: Option<Arc<ReadOnly>>,
}

/// A read-only replica's answer to writers.
#[derive(Debug, Clone)]
pub struct ReadOnly {
    /// The primary's base URL, when known.
    pub primary: Option<String>,
    /// The shard of the works this node holds (`serve --shard`), if any.
    pub shard: Option<crate::index::Shard>,
}

/// The reads a shard refuses: their answers need every registered work.
const WHOLE_INDEX_READS: [&str; 3] = ["/v1/stats/uploads", "/v1/stats/uploads.svg", "/v1/near"];

/// The POST endpoints a replica serves: they only read.
const READ_ONLY_POSTS: [&str; 4] = [
    "/v1/check",
    "/v1/check/stream",
    "/v1/auth/challenge",
    "/v1/auth/token",
];

/// On a replica, refuses every request that could write: 421 `read-only`,
/// naming the primary; on a shard, also the reads that need every work
/// (421 `outside-shard`).
async fn refuse_writes(
    axum::extract::State(read_only): axum::extract::State<Option<Arc<ReadOnly>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    if let Some(ro) = read_only {
        let m = request.method();
        let reads = m == Method::GET
            || m == Method::HEAD
            || (m == Method::POST && READ_ONLY_POSTS.contains(&request.uri().path()));
        if !reads {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "read-only",
                match &ro.primary {
                    Some(p) => format!(
                        "this registry is a read-only replica; send writes to the primary at {p}"
                    ),
                    None => "this registry is a read-only replica; send writes to the primary"
                        .to_owned(),
                },
            )
            .into_response();
        }
        if let Some(shard) = ro.shard {
            if WHOLE_INDEX_READS.contains(&request.uri().path()) {
                return ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    "outside-shard",
                    format!(
                        "this node holds shard {shard} of the works; statistics and near lookups need every work: ask an unsharded node{}",
                        ro.primary.as_ref().map(|p| format!(" (the primary is {p})")).unwrap_or_default()
                    ),
                )
                .into_response();
            }
        }
    }
    next.run(request).await
}

/// A router that remembers which routes it has.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        route: MethodRouter<AppState>,
    ) -> Self {
        self.table.push((method, path));
        self.router = self.router.route(path, route);
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("get", path, routing::get(handler))
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("post", path, routing::post(handler))
    }

    /// Adds a POST route with its own body limit.
    pub fn post_limited<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
        limit: usize,
    ) -> Self {
        self.add(
            "post",
            path,
            routing::post(handler).layer(DefaultBodyLimit::max(limit)),
        )
    }

    fn merge(mut self, other: Routes) -> Self {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }
}

fn all_routes() -> Routes {
    Routes::new()
        .merge(meta::routes())
        .merge(auth::routes())
        .merge(artists::routes())
        .merge(statements::routes())
        .merge(works::routes())
        .merge(check::routes())
        .merge(payouts::routes())
        .merge(stats::routes())
        .merge(log::routes())
}

/// Every (lowercase method, path template) the API serves.
#[must_use]
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    all_routes().table
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /openapi.yaml")
}

async fn timed_out(err: BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long and was abandoned",
        )
    } else {
        tracing::error!(error = %err, "middleware failed");
        ApiError::internal()
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not take that method",
    )
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    all_routes()
        .router
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT))
        .layer(axum::middleware::from_fn(extract::refuse_foreign_charset))
        .layer(axum::middleware::from_fn_with_state(
            state.read_only.clone(),
            refuse_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(state.limits.bodies()),
            limits::charge_body,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timed_out))
                .timeout(REQUEST_TIMEOUT),
        )
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
